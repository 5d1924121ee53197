"""Notebooks (`:nb`): who runs what, is it up, and the keys to stop, start, create or delete one."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding

from prophecis_tui.domain import Notebook, NotebookState
from prophecis_tui.explain import Explainer
from prophecis_tui.sanitize import clean_line
from widgets.resource_table import Column, cell_text

from .resources import ResourceScreen, gpu_column, namespace_column, when_column

STATE_TEXT = {NotebookState.RUNNING: ("Ready", "green"), NotebookState.STARTING: ("Waiting", "yellow"),
              NotebookState.STOPPING: ("Stopping", "magenta"), NotebookState.STOPPED: ("Stopped", "dim"),
              NotebookState.FAILING: ("Error", "bold red")}


def status_cell(nb: Notebook) -> Text:
    label, style = STATE_TEXT[nb.state]
    t = cell_text(label, style)
    if nb.reason:
        t.append(f" {nb.reason.split(':')[0]}", "dim" if nb.state != NotebookState.FAILING else "red")
    return t


def short_image(image: str) -> str:
    """The platform's own images by their tag (jupyterlab-1.4.0-py38-gpu), others by name:tag."""
    name = image.rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if name.startswith("prophecis:") else name


LINKIS_SHOWN = 5  # the notebook user's newest Linkis tasks in the detail


def linkis_text(state: Any, user: str) -> Text | None:
    """The newest Linkis tasks the notebook's user ran or submitted (its LinkisMagic cells, its IDE jobs), with
    the command that lists them all; None when there are none (or no Linkis in this session)."""
    if not user:
        return None
    tasks = [x for x in state.linkis_tasks() if x.user == user or x.submit_user == user]
    if not tasks:
        return None
    from .linkis import task_line
    t = Text()
    t.append("linkis ", "bold")
    for i, task in enumerate(tasks[:LINKIS_SHOWN]):
        if i:
            t.append(" · ", "dim")
        t.append_text(task_line(task))
    more = len(tasks) - LINKIS_SHOWN
    t.append(f"{f'  +{more} more' if more > 0 else ''}  :linkis user:{clean_line(user, 40)}", "dim")
    return t


class NotebooksScreen(ResourceScreen):
    TITLE_TEXT = "Notebooks"
    NAME = "notebooks"
    RESOURCE = "notebooks"
    KIND = "Notebook"
    ACTION_KEYS = {"stop": "notebook.stop", "start": "notebook.start", "delete": "notebook.delete"}
    DEFAULT_CSS = """
    NotebooksScreen.-linkis #detail { max-height: 6; }
    """
    BINDINGS = [
        Binding("s", "stop", "Stop", id="notebooks.stop"),
        Binding("t", "start", "Start", id="notebooks.start"),
        Binding("ctrl+d", "delete", "Delete", id="notebooks.delete"),
        Binding("c", "create", "Create", id="notebooks.create"),
        Binding("u", "copy_url", "Copy URL", id="notebooks.copy_url"),
        Binding("l", "logs", "Logs", id="notebooks.logs"),
    ]

    def loaded_kinds(self) -> tuple[str, ...]:
        return ("notebooks",)

    def columns(self) -> list[Column]:
        return [
            namespace_column(),
            Column("name", "NAME", 20, lambda n: cell_text(n.name, "bold" if n.state == NotebookState.FAILING else ""),
                   flex=True, max_width=34),
            Column("owner", "OWNER", 10, lambda n: cell_text(n.user)),
            Column("status", "STATUS", 18, status_cell,
                   sort=lambda n: list(STATE_TEXT).index(n.state) if n.state in STATE_TEXT else 9),
            Column("image", "IMAGE", 26, lambda n: cell_text(short_image(n.image)), narrow=False),
            Column("cpu", "CPU", 4, lambda n: cell_text(n.cpu), justify="right", narrow=False),
            Column("memory", "MEM", 5, lambda n: cell_text(n.memory), justify="right", narrow=False),
            gpu_column(),
            Column("workspace", "WORKSPACE", 26, lambda n: cell_text(n.workspace), narrow=False, keep_end=True),
            when_column(),
            Column("why", "WHY / URL", 24, lambda n: self._why_or_url(n), flex=True, narrow=False),
        ]

    def _why_or_url(self, n: Notebook) -> Text:
        why = self.why(n)
        if why:
            return cell_text(why, "yellow")
        return cell_text(self.url(n), "dim" if n.state != NotebookState.RUNNING else "cyan")

    def objects(self) -> list[Any]:
        return self.state.notebooks(self.scope)

    def prepare(self, rows: list[Any]) -> Any:
        return Explainer.from_state(self.state)

    def why(self, obj: Notebook) -> str:
        if self.context is None or obj.state not in (NotebookState.STARTING, NotebookState.FAILING):
            return ""
        return self.context.notebook(obj)

    def url(self, nb: Notebook) -> str:
        base = (getattr(self.app, "notebook_url_base", "") or "").rstrip("/")
        return f"{base}{nb.url}/" if base else f"{nb.url}/"

    def detail(self, n: Notebook) -> Text:
        t = Text()
        t.append(f"{n.namespace}/{n.name}", "bold")
        t.append(f"  owner {n.user or '?'}  {n.image}  cpu {n.cpu or '-'} mem {n.memory or '-'} gpu {n.gpus}", "dim")
        t.append("\n")
        t.append(f"workspace {n.workspace or '-'}", "dim")
        if n.mounts:
            t.append("  mounts " + ", ".join(n.mounts), "dim")
        t.append(f"  url {self.url(n)}", "cyan")
        why = self.why(n) or n.reason
        if why:
            t.append("\nwhy: ", "bold yellow")
            t.append_text(cell_text(why, "yellow", 400))
        linkis = linkis_text(self.state, n.user)
        self.set_class(linkis is not None, "-linkis")  # two more lines for them (the others keep their height)
        if linkis is not None:
            t.append("\n")
            t.append_text(linkis)
        return t

    # ------------------------------------------------------------------ actions
    def action_id_for(self, method: str, obj: Any) -> str | None:
        if method == "stop" and obj.state in (NotebookState.STOPPED, NotebookState.STOPPING):
            return None
        if method == "start" and obj.state not in (NotebookState.STOPPED, NotebookState.STOPPING):
            return None
        return super().action_id_for(method, obj)

    def action_stop(self) -> None:
        from .resources import now
        self.run_action("stop", {"at": now().strftime("%Y-%m-%dT%H:%M:%SZ")})

    def action_start(self) -> None:
        self.run_action("start")

    def action_delete(self) -> None:
        self.run_action("delete")

    def action_copy_url(self) -> None:
        nb = self.current()
        if nb is None:
            return
        url = self.url(nb)
        self.app.copy_to_clipboard(url)  # OSC 52: reaches the local clipboard through SSH and tmux
        self.notify(f"copied {url}", title="Notebook URL")

    def action_logs(self) -> None:
        nb = self.current()
        if nb is not None:  # its pod (a stopped notebook has none: the log screen says so, with the events)
            self.app.show_logs("Notebook", nb.namespace, nb.name)  # type: ignore[attr-defined]

    def open(self, nb: Any) -> None:
        """enter: the notebook's pod, with its events and logs."""
        if nb is not None:
            from .pods import PodsScreen
            self.app.push_screen(PodsScreen(self.state, nb.namespace, owner=("notebook", nb.name),
                                            title=f"Pods of notebook {nb.name}"))

    def action_create(self) -> None:
        if self.app.read_only:  # type: ignore[attr-defined]
            self.notify("read-only mode: actions are off", severity="warning")
            return
        from .notebook_form import NotebookForm
        self.app.push_screen(NotebookForm(self.state, self.scope))

"""Create a notebook: namespace, name, image, CPU, memory, GPUs (against the free quota), workspace."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from prophecis_tui.actions import Target
from prophecis_tui.forms import free_gpus, validate_notebook
from prophecis_tui.quantity import format_gpus
from prophecis_tui.state import State

DEFAULT_IMAGES = ["wedatasphere/prophecis:jupyterlab-1.4.0-py38-cpu"]


class NotebookForm(ModalScreen[None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="nbform.cancel"),
                Binding("ctrl+s", "create", "Create", id="nbform.create")]
    DEFAULT_CSS = """
    NotebookForm { align: center middle; }
    NotebookForm > Vertical { width: 96%; max-width: 100; height: auto; max-height: 95%; padding: 0 1;
                               border: thick $primary; background: $surface; }
    NotebookForm Grid { grid-size: 2; grid-columns: 12 1fr; grid-rows: 3; height: auto; }
    NotebookForm Label { padding: 1 0 0 0; }
    NotebookForm #quota { height: auto; padding: 0 1; }
    NotebookForm #errors { height: auto; color: $error; padding: 0 1; }
    NotebookForm Horizontal { height: auto; align-horizontal: right; }
    """

    class Allowed(Message):
        def __init__(self, namespaces: list[str]) -> None:
            super().__init__()
            self.namespaces = namespaces

    def __init__(self, state: State, namespace: str | None) -> None:
        super().__init__()
        self.state = state
        self.namespace = namespace
        self.allowed: list[str] | None = None

    def compose(self) -> ComposeResult:
        app = self.app
        images = list(getattr(app, "notebook_images", None) or DEFAULT_IMAGES)
        user = app.session.identity.user  # type: ignore[attr-defined]
        workspace = (getattr(app, "notebook_workspace", "") or "/data/bdap-ss/mlss-data/{user}").format(user=user)
        with Vertical():
            yield Label(Text("Create a notebook", "bold"))
            with Grid():
                yield Label("namespace")
                yield Select([], id="namespace", prompt="checking where you may create…", allow_blank=True)
                yield Label("name")
                yield Input(placeholder="lowercase letters, digits and '-'", id="name")
                yield Label("image")
                yield Select([(i, i) for i in images], id="image", value=images[0], allow_blank=False)
                yield Label("CPU")
                yield Input("2", id="cpu")
                yield Label("memory")
                yield Input("4Gi", id="memory")
                yield Label("GPUs")
                yield Input("0", id="gpus")
                yield Label("workspace")
                yield Input(workspace, id="workspace")
            yield Static("", id="quota")
            yield Static("", id="errors")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Create (ctrl+s)", id="create", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        names = [n.name for n in self.state.namespaces() if not n.terminating]
        self._check_namespaces(names)

    @work(thread=True, exclusive=True, group="nbform", exit_on_error=False)
    def _check_namespaces(self, names: list[str]) -> None:
        actions = self.app.session.actions  # type: ignore[attr-defined]
        self.post_message(self.Allowed(actions.namespaces_allowed("notebook.create", names)))

    @on(Allowed)
    def _allowed(self, msg: Allowed) -> None:
        self.allowed = msg.namespaces
        select = self.query_one("#namespace", Select)
        select.set_options([(n, n) for n in msg.namespaces])
        if not msg.namespaces:
            self.query_one("#errors", Static).update("you may not create notebooks in any namespace you can see")
            return
        select.value = self.namespace if self.namespace in msg.namespaces else msg.namespaces[0]
        self._show_quota()

    def _form(self) -> dict:
        ns = self.query_one("#namespace", Select).value
        return {"namespace": ns if isinstance(ns, str) else "", "name": self.query_one("#name", Input).value.strip(),
                "image": self.query_one("#image", Select).value, "cpu": self.query_one("#cpu", Input).value.strip(),
                "memory": self.query_one("#memory", Input).value.strip(),
                "gpus": self.query_one("#gpus", Input).value.strip(),
                "workspace": self.query_one("#workspace", Input).value.strip()}

    @on(Select.Changed, "#namespace")
    @on(Input.Changed, "#gpus")
    def _show_quota(self) -> None:
        ns = self._form()["namespace"]
        quota = self.state.quotas().get(ns)
        free = free_gpus(quota)
        line = Text()
        if not ns:
            pass
        elif quota is None or quota.gpu_hard is None:
            line.append(f"{ns}: no GPU quota set", "dim")
        else:
            line.append(f"{ns} GPU quota: {format_gpus(quota.gpu_used)}/{format_gpus(quota.gpu_hard)} used, ", "dim")
            line.append(f"{format_gpus(free)} free", "bold green" if free else "bold red")
        self.query_one("#quota", Static).update(line)

    def _errors(self) -> list[str]:
        form = self._form()
        quota = self.state.quotas().get(form["namespace"])
        existing = {n.name for n in self.state.notebooks(form["namespace"])} if form["namespace"] else set()
        images = list(getattr(self.app, "notebook_images", None) or DEFAULT_IMAGES)
        return validate_notebook(form, namespaces_allowed=self.allowed or [], images=images, quota=quota,
                                 existing_names=existing)

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_create()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_create()

    def action_create(self) -> None:
        errors = self._errors()
        if errors:
            self.query_one("#errors", Static).update("\n".join(errors))
            return
        form = self._form()
        form["gpus"] = int(form["gpus"] or 0)
        self.app.perform("notebook.create", Target("Notebook", form["namespace"], form["name"]),  # type: ignore[attr-defined]
                         form)
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

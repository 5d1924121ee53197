"""One Linkis task (`enter` on :linkis): what it runs, how far it is, its log and its results.

The header: task, state, engine and run type, progress, who and through what (creator), the queue, when it was
submitted and how long it ran, errCode and errDesc. Three panes (TabbedContent; `1` `2` `3`):

- Code: the progress per stage (``task.stages``), the parameters (variables and startup) and the code with
  syntax highlighting (rich Syntax, the lexer from the run type), sanitised;
- Log: the live log in the log view, fed by the core's ``TaskFollow`` into a ``LogBuffer`` (levels from
  Linkis's 4-slot log); `v` cycles the level shown: all, info and above, warnings and errors, errors;
- Result: the result set as a table (paged with `[` `]`, sorted by the cursor's column with `o`, again to
  reverse; column types under the names; NULL dim) or its text; `x` the next result set when there are several;
  `S` saves it as CSV or JSON to a file (a small form; through ``linkis.save_result``).

`ctrl+k` kills a running task (the registry confirms and asks a reason), `R` re-submits it (the form
pre-filled). The screen never calls a backend: the follow and the result reader are the core's, over the
session's ``LinkisSync`` (``follow_factory`` / ``result_loader`` replace them in tests).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Select, Static, TabbedContent, TabPane

from prophecis_tui.actions import Target
from prophecis_tui.domain import BackendError, LinkisResultSet, LinkisState, LinkisTask
from prophecis_tui.logs import ERROR, INFO, WARN, LogBuffer, LogView
from prophecis_tui.sanitize import clean, clean_line
from widgets.key_bar import KeyBar
from widgets.log_view import LogLines
from widgets.result_table import ResultTable

from .resources import age, duration, now, update_if_changed

MAX_SCREEN_ROWS = 100_000  # a result set's rows held for the table (a bigger one: its first rows; S saves all)
POLL_SECONDS = 0.2
BUFFER_LINES = 100_000
LEXER = {"sql": "sql", "hql": "sql", "psql": "sql", "tsql": "sql", "jdbc": "sql", "py": "python",
         "python": "python", "pyspark": "python", "scala": "scala", "shell": "bash", "sh": "bash", "r": "r"}
LEVELS = (("all", 0), ("info", INFO), ("warn", WARN), ("error", ERROR))
TABS = ("code", "log", "result")


def code_renderable(task: LinkisTask) -> Any:
    code = clean(task.code or "", keep_newlines=True).rstrip("\n")
    if not code:
        return Text("(no code)", "dim")
    lexer = LEXER.get((task.run_type or "").casefold(), "text")
    return Syntax(code, lexer, line_numbers=True, word_wrap=False, theme="ansi_dark", background_color="default")


def header_text(task: LinkisTask, follow_status: str = "") -> Text:
    from .linkis import error_text, progress_bar, state_text
    t = Text()
    t.append(f"Linkis task {task.task_id}", "bold")
    t.append("  ")
    t.append_text(state_text(task.state))
    t.append(f"  {clean_line(task.engine or '?', 40)}", "bold")
    if task.run_type:
        t.append(f" {clean_line(task.run_type, 12)}")
    t.append("  ")
    t.append_text(progress_bar(task))
    t.append("\n")
    t.append(f"user {clean_line(task.user or '?', 40)}", "")
    if task.submit_user and task.submit_user != task.user:
        t.append(f" (submitted by {clean_line(task.submit_user, 40)})", "dim")
    t.append(f"  creator {clean_line(task.creator or '?', 40)}")
    if task.queue:
        t.append(f"  queue {clean_line(task.queue, 40)}")
    if task.created is not None:
        t.append(f"  submitted {task.created.astimezone().strftime('%Y-%m-%d %H:%M:%S')} ({age(task.created)} ago)",
                 "dim")
    d = task.duration(now())
    if d is not None:
        t.append(f"  {'ran' if task.done else 'running'} {duration(d)}", "dim")
    if follow_status:
        t.append(f"  {clean_line(follow_status, 120)}", "yellow" if follow_status.startswith("failing") else "dim")
    err = error_text(task, 0)
    if err or task.err_code is not None:
        t.append("\n")
        t.append("error ", "bold red")
        t.append(err, "red")
    return t


def params_text(task: LinkisTask) -> Text:
    t = Text()
    t.append("variables ", "bold")
    if task.variables:
        t.append("  ".join(f"{clean_line(k, 60)}={clean_line(v, 120)}" for k, v in task.variables.items()))
    else:
        t.append("none", "dim")
    t.append("\nstartup   ", "bold")
    if task.startup:
        t.append("  ".join(f"{clean_line(k, 80)}={clean_line(v, 120)}" for k, v in task.startup.items()))
    else:
        t.append("none", "dim")
    for label, value in (("exec id", task.exec_id), ("log", task.log_path), ("results", task.result_location),
                         ("gateway", task.gateway)):
        if value:
            t.append(f"\n{label:<10}", "bold")
            t.append(clean_line(value, 300), "dim")
    return t


def stages_text(task: LinkisTask, width: int = 20) -> Text:
    t = Text()
    t.append("stages", "bold")
    if not task.stages:
        t.append("  none reported" + ("" if task.done else " yet"), "dim")
        return t
    name_w = max(len(clean_line(s.id, 30)) for s in task.stages)
    for s in task.stages:
        done = s.succeed / s.total if s.total else 0.0
        full = round(done * width)
        t.append(f"\n  {clean_line(s.id, 30):<{name_w}} ")
        t.append("█" * full, "red" if s.failed else "green" if full == width else "cyan")
        t.append("░" * (width - full), "dim")
        t.append(f" {s.succeed}/{s.total}")
        if s.running:
            t.append(f"  {s.running} running", "cyan")
        if s.failed:
            t.append(f"  {s.failed} failed", "bold red")
    return t


class LinkisTaskScreen(Screen):
    """A task's detail: header, then the Code, Log and Result panes."""

    DATA_KINDS = frozenset({"linkis"})
    BINDINGS = [
        Binding("1", "pane('code')", "Code", id="linkis_task.code"),
        Binding("2", "pane('log')", "Log", id="linkis_task.log"),
        Binding("3", "pane('result')", "Result", id="linkis_task.result"),
        Binding("v", "level", "Level", id="linkis_task.level"),
        Binding("o", "sort", "Sort", id="linkis_task.sort"),
        Binding("left_square_bracket", "page(-1)", "Prev page", id="linkis_task.prev_page", key_display="["),
        Binding("right_square_bracket", "page(1)", "Next page", id="linkis_task.next_page", key_display="]"),
        Binding("x", "next_result", "Next result", id="linkis_task.next_result"),
        Binding("S", "save", "Save", id="linkis_task.save"),
        Binding("ctrl+k", "kill", "Kill", id="linkis_task.kill", key_display="^k"),
        Binding("R", "resubmit", "Re-submit", id="linkis_task.resubmit"),
        Binding("escape", "back", "Back", id="linkis_task.back", show=False),
    ]
    DEFAULT_CSS = """
    LinkisTaskScreen #task-header { height: auto; max-height: 4; padding: 0 1; background: $panel; }
    LinkisTaskScreen TabbedContent { height: 1fr; }
    LinkisTaskScreen TabPane { padding: 0; }
    LinkisTaskScreen #code-pane { height: 1fr; }
    LinkisTaskScreen #stages, LinkisTaskScreen #params { height: auto; padding: 0 1; }
    LinkisTaskScreen #code-text { height: auto; padding: 0 1; margin-top: 1; }
    LinkisTaskScreen #log-status, LinkisTaskScreen #result-status { height: 1; padding: 0 1; }
    LinkisTaskScreen LogLines { height: 1fr; }
    LinkisTaskScreen #result-text { height: 1fr; padding: 0 1; display: none; }
    LinkisTaskScreen.-text-result #result-text { display: block; }
    LinkisTaskScreen.-text-result ResultTable { display: none; }
    """

    class ResultLoaded(Message):
        def __init__(self, path: str, result: LinkisResultSet | None, error: str = "") -> None:
            super().__init__()
            self.path, self.result, self.error = path, result, error

    def __init__(self, state: Any, task: LinkisTask, *, tab: str = "",
                 follow_factory: Callable[..., Any] | None = None,
                 result_loader: Callable[[str], LinkisResultSet] | None = None) -> None:
        super().__init__(name="linkis-task")
        self.state = state
        self.ltask = task
        self.task_id = task.task_id
        self.tab = tab if tab in TABS else ("result" if task.state == LinkisState.SUCCEED else
                                            "log" if not task.done else "code")
        self.follow_factory = follow_factory
        self.result_loader = result_loader
        self.buffer = LogBuffer(BUFFER_LINES)
        self.view = LogView(self.buffer)
        self.lines = LogLines(self.view, id="log-lines")
        self.lines.empty_text = "no log lines yet"
        self.level = 0  # index in LEVELS
        self.follow: Any = None
        self.result_paths: list[str] = []
        self.results: dict[str, LinkisResultSet | str] = {}  # path -> the result set, or why it could not be read
        self.result_index = 0
        self._asked: set[str] = set()
        self._shown: tuple = ()
        self._seen = -1
        self._ready = False

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield from self.app.compose_header()  # type: ignore[attr-defined]
        yield Static(id="task-header")
        with TabbedContent(initial=self.tab, id="panes"):
            with TabPane("Code", id="code"):
                with VerticalScroll(id="code-pane"):
                    yield Static(id="stages")
                    yield Static(id="params")
                    yield Static(id="code-text")
            with TabPane("Log", id="log"):
                yield Static(id="log-status")
                yield self.lines
            with TabPane("Result", id="result"):
                yield Static(id="result-status")
                yield ResultTable(id="result-table")
                with VerticalScroll(id="result-text"):
                    yield Static(id="result-body")
        yield from self.app.compose_bars()  # type: ignore[attr-defined]
        yield KeyBar()

    def on_mount(self) -> None:
        self._start_follow()
        self.call_after_refresh(self._first_show)  # the panes' own children are mounted after the screen's

    def _first_show(self) -> None:
        try:
            self.query_one("#stages", Static)
        except NoMatches:
            self.call_after_refresh(self._first_show)
            return
        self._ready = True
        self._show_task(force=True)
        self._show_log_status()
        self._show_result()
        self.set_interval(POLL_SECONDS, self._poll)
        self.focus_main()
        self.app.update_header()  # type: ignore[attr-defined]

    def on_unmount(self) -> None:
        follow, self.follow = self.follow, None
        if follow is not None:  # its last read may wait on the network: never on the UI thread
            threading.Thread(target=follow.stop, name="linkis-follow-stop", daemon=True).start()

    def focus_main(self) -> None:
        pane = self.query_one(TabbedContent).active
        if pane == "log":
            self.lines.focus()
        elif pane == "result":
            self.query_one(ResultTable).focus()
        else:
            self.query_one("#code-pane").focus()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    # ------------------------------------------------------------------ the follow
    def sync(self) -> Any:
        return getattr(self.app.session, "linkis", None)  # type: ignore[attr-defined]

    def _start_follow(self) -> None:
        factory = self.follow_factory
        if factory is None:
            sync = self.sync()
            if sync is None:
                self.lines.empty_text = "no Linkis gateway in this session: no log to read"
                return
            from prophecis_tui.linkis_tasks import TaskFollow

            def factory(task: LinkisTask, buffer: LogBuffer, state: Any) -> Any:
                return TaskFollow(sync, task, buffer, state)
        self.follow = factory(self.ltask, self.buffer, self.state)

    def refresh_data(self) -> None:
        if self._ready:
            self._show_task()

    def _poll(self) -> None:
        self._show_task()
        if self.buffer.version != self._seen:
            self._seen = self.buffer.version
            gained = self.view.refresh()
            self.lines.update(gained)
        self._show_log_status()
        follow = self.follow
        if follow is not None and follow.result_paths and follow.result_paths != self.result_paths:
            self.result_paths = list(follow.result_paths)
            self._show_result()
        if self.result_paths and self.query_one(TabbedContent).active == "result":
            self._want_result()

    def _current_task(self) -> LinkisTask:
        fresh = self.state.linkis_task(self.task_id)
        if fresh is None and self.follow is not None:
            fresh = getattr(self.follow, "task", None)
        if fresh is not None:
            self.ltask = fresh
        return self.ltask

    def _show_task(self, force: bool = False) -> None:
        task = self._current_task()
        status = str(getattr(self.follow, "status", "") or "")
        if status in ("following", "ended", "starting"):
            status = ""
        key = (task, status, age(task.created) if task.created else "", int(task.duration(now()) or 0))
        if key == self._shown and not force:
            return
        changed_task = not self._shown or self._shown[0] != task
        self._shown = key
        update_if_changed(self.query_one("#task-header", Static), header_text(task, status))
        if changed_task or force:
            self.query_one("#stages", Static).update(stages_text(task))
            self.query_one("#params", Static).update(params_text(task))
            if force or not self._shown or getattr(self, "_code_shown", None) != (task.code, task.run_type):
                self._code_shown = (task.code, task.run_type)
                self.query_one("#code-text", Static).update(code_renderable(task))
            self.refresh_bindings()

    def _show_log_status(self) -> None:
        t = Text(no_wrap=True, end="")
        name = LEVELS[self.level][0]
        t.append(f"{len(self.view):,} lines", "bold")
        if len(self.view) != len(self.buffer):
            t.append(f" of {len(self.buffer):,}", "dim")
        t.append("  level ", "dim")
        t.append(name if name == "all" else f"{name} and above" if name != "error" else "errors", "bold yellow"
                 if self.level else "")
        follow = self.follow
        if follow is None:
            t.append("  not followed (no gateway)", "dim")
        else:
            status = str(getattr(follow, "status", ""))
            if status.startswith("failing"):
                t.append(f"  {clean_line(status, 120)}", "yellow")
            elif getattr(follow, "done", False):
                t.append("  the whole log", "dim")
            else:
                t.append("  following…", "cyan")
        update_if_changed(self.query_one("#log-status", Static), t, layout=False)

    # ------------------------------------------------------------------ results
    def _want_result(self) -> None:
        if not self.result_paths:
            return
        path = self.result_paths[self.result_index]
        if path in self.results or path in self._asked:
            return
        self._asked.add(path)
        self._show_result()
        self._load_result(path)

    @work(thread=True, group="linkis-result", exit_on_error=False)
    def _load_result(self, path: str) -> None:
        try:
            loader = self.result_loader
            if loader is None:
                from prophecis_tui.linkis_tasks import fetch_result
                sync = self.sync()
                if sync is None:
                    raise BackendError("no Linkis gateway in this session")
                rs = fetch_result(sync, path, max_rows=MAX_SCREEN_ROWS)
            else:
                rs = loader(path)
        except BackendError as err:
            self.post_message(self.ResultLoaded(path, None, err.message))
            return
        except Exception as err:  # a bug in a reader: one line, not a crash
            self.post_message(self.ResultLoaded(path, None, f"{type(err).__name__}: {err}"))
            return
        self.post_message(self.ResultLoaded(path, rs))

    @on(ResultLoaded)
    def _result_loaded(self, msg: ResultLoaded) -> None:
        self.results[msg.path] = msg.result if msg.result is not None else msg.error
        if self.result_paths and self.result_paths[self.result_index] == msg.path:
            self._show_result(fill=True)

    def current_result(self) -> LinkisResultSet | None:
        if not self.result_paths:
            return None
        got = self.results.get(self.result_paths[self.result_index])
        return got if isinstance(got, LinkisResultSet) else None

    def _show_result(self, fill: bool = False) -> None:
        t = Text(no_wrap=True, end="", overflow="ellipsis")
        task = self.ltask
        table = self.query_one(ResultTable)
        if not self.result_paths:
            if task.state == LinkisState.SUCCEED or (task.done and self.follow is not None
                                                      and not getattr(self.follow, "done", True)):
                t.append("reading the result files…" if self.follow is not None else "no result files", "dim")
            elif task.done:
                t.append(f"no result: the task {task.state.value.lower()}", "dim")
            else:
                t.append("the result comes when the task has succeeded", "dim")
            update_if_changed(self.query_one("#result-status", Static), t, layout=False)
            return
        path = self.result_paths[self.result_index]
        if len(self.result_paths) > 1:
            t.append(f"result {self.result_index + 1}/{len(self.result_paths)}  ", "bold")
        got = self.results.get(path)
        name = clean_line(path.rsplit("/", 1)[-1], 60)
        if got is None:
            t.append(f"{name}: reading…", "dim")
        elif isinstance(got, str):
            t.append(f"{name}: cannot read it: {clean_line(got, 200)}", "red")
        else:
            if fill:
                if got.type == 2 and got.columns:
                    self.remove_class("-text-result")
                    table.show(got)
                else:
                    self.add_class("-text-result")
                    self.query_one("#result-body", Static).update(
                        Text(clean(got.text, keep_newlines=True) or "(empty)"))
            if got.type == 2 and got.columns:
                t.append(f"{name}  {len(got.columns)} columns  ", "dim")
                t.append_text(table.status())
            else:
                t.append(f"{name}  text, {got.text.count(chr(10)) + (1 if got.text else 0):,} lines", "dim")
        update_if_changed(self.query_one("#result-status", Static), t, layout=False)

    # ------------------------------------------------------------------ keys
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        pane = self._active()
        if action in ("sort", "page", "next_result", "save"):
            if pane != "result":
                return False
            if action == "next_result":
                return len(self.result_paths) > 1
            return None if self.current_result() is None else True
        if action == "level":
            return pane == "log"
        if action in ("kill", "resubmit"):
            if self.app.read_only:  # type: ignore[attr-defined]
                return False
            if action == "kill":
                return not self.ltask.done
        return True

    def _active(self) -> str:
        try:
            return self.query_one(TabbedContent).active
        except Exception:
            return self.tab

    def on_key(self, event: Any) -> None:
        """kill and re-submit in read-only mode: hidden, and refused with the reason if pressed."""
        for binding in self._bindings.key_to_bindings.get(event.key, []):
            if binding.action in ("kill", "resubmit") and self.app.read_only:  # type: ignore[attr-defined]
                self.notify("read-only mode: actions are off", severity="warning")
                event.stop()
            elif binding.action == "kill" and self.ltask.done:
                self.notify(f"task {self.task_id} is {self.ltask.state.value}: nothing to kill", severity="warning")
                event.stop()

    def action_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        self.call_after_refresh(self.focus_main)
        if pane == "result":
            self._want_result()

    def action_level(self) -> None:
        self.level = (self.level + 1) % len(LEVELS)
        self.view.set_level(LEVELS[self.level][1])
        self.lines.set_view(self.view)
        self._show_log_status()

    def action_sort(self) -> None:
        self.query_one(ResultTable).sort_current()
        self._show_result()

    @on(ResultTable.Sorted)
    def _sorted(self) -> None:  # a big result sorted in a thread: now shown
        self._show_result()

    def action_page(self, step: int) -> None:
        if not self.query_one(ResultTable).page(step):
            self.notify("no more pages that way", severity="warning", timeout=2)
        self._show_result()

    def action_next_result(self) -> None:
        if len(self.result_paths) > 1:
            self.result_index = (self.result_index + 1) % len(self.result_paths)
            self._want_result()
            self._show_result(fill=True)

    def action_back(self) -> None:
        self.app.action_back()  # type: ignore[attr-defined]

    def action_kill(self) -> None:
        t = self._current_task()
        if t.done:
            return
        app = self.app
        if getattr(app.session, "linkis", None) is None:  # type: ignore[attr-defined]
            from .linkis import NO_GATEWAY
            self.notify(NO_GATEWAY, severity="warning")
            return

        def done(result: Any) -> None:
            poller = getattr(app.session, "linkis_poller", None)  # type: ignore[attr-defined]
            if poller is not None:
                poller.refresh()
        app.perform("linkis.kill", Target("LinkisTask", "", str(t.task_id)), {"exec_id": t.exec_id},  # type: ignore[attr-defined]
                    on_done=done)

    def action_resubmit(self) -> None:
        from .linkis import open_submit_form
        open_submit_form(self.app, self.state, self._current_task())

    def action_save(self) -> None:
        rs = self.current_result()
        if rs is None:
            self.notify("no result to save yet", severity="warning")
            return
        path = self.result_paths[self.result_index]
        task_id = self.task_id
        index = self.result_index
        app = self.app

        def chosen(answer: tuple[str, str, bool] | None) -> None:
            if answer is None:
                return
            fmt, out, overwrite = answer
            app.perform("linkis.save_result", Target("LinkisTask", "", str(task_id)),  # type: ignore[attr-defined]
                        {"task_id": task_id, "path": path, "out": out, "format": fmt, "overwrite": overwrite})
        app.push_screen(SaveResultForm(task_id, index, rs), chosen)


# ------------------------------------------------------------------------------------------ save a result
def default_out(task_id: int, index: int, fmt: str) -> str:
    from prophecis_tui.config import data_dir
    suffix = f"-{index + 1}" if index else ""
    return str(data_dir() / "linkis" / f"task-{task_id}-result{suffix}.{fmt}")


class SaveResultForm(ModalScreen[tuple[str, str, bool] | None]):
    """Format (CSV or JSON) and the file to write; dismisses with (format, path, overwrite). A file that exists
    is overwritten only when asked again (ctrl+s a second time)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="linkis_save.cancel"),
                Binding("ctrl+s", "save", "Save", id="linkis_save.save")]
    DEFAULT_CSS = """
    SaveResultForm { align: center middle; }
    SaveResultForm > Vertical { width: 90%; max-width: 100; height: auto; padding: 1 2; border: thick $primary;
                                background: $surface; }
    SaveResultForm .field { height: 1; margin-bottom: 1; }
    SaveResultForm .field Label { width: 8; }
    SaveResultForm .field Select, SaveResultForm .field Input { width: 1fr; }
    SaveResultForm #errors { height: auto; color: $error; }
    SaveResultForm #buttons { height: 1; align-horizontal: right; }
    SaveResultForm #buttons Button { margin-left: 2; }
    """

    def __init__(self, task_id: int, index: int, rs: LinkisResultSet) -> None:
        super().__init__()
        self.task_id, self.index, self.rs = task_id, index, rs
        self.fmt = "csv"
        self._overwrite: str = ""  # the existing file a second ctrl+s overwrites

    def compose(self) -> ComposeResult:
        with Vertical():
            what = (f"{len(self.rs.rows):,} rows, {len(self.rs.columns)} columns" if self.rs.type == 2
                    else "a text result (written as is)")
            yield Static(Text.assemble(("Save the result of task ", "bold"), (str(self.task_id), "bold yellow"),
                                       (f"  {what}", "dim")))
            with Horizontal(classes="field"):
                yield Label("format")
                yield Select([("CSV (a header row)", "csv"), ("JSON (a list of objects)", "json")], value="csv",
                             allow_blank=False, compact=True, id="format")
            with Horizontal(classes="field"):
                yield Label("file")
                yield Input(default_out(self.task_id, self.index, "csv"), compact=True, id="out")
            yield Static("", id="errors")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#out", Input).focus()

    @on(Select.Changed, "#format")
    def _format(self, event: Select.Changed) -> None:
        new = str(event.value)
        box = self.query_one("#out", Input)
        if box.value.endswith(f".{self.fmt}"):
            box.value = box.value[: -len(self.fmt)] + new
        self.fmt = new

    def action_save(self) -> None:
        out = self.query_one("#out", Input).value.strip()
        if not out:
            self.query_one("#errors", Static).update("a file name is required")
            return
        p = Path(out).expanduser()
        if p.is_dir():
            self.query_one("#errors", Static).update(Text(f"{clean_line(out, 200)} is a folder: give a file name"))
            return
        if p.exists() and self._overwrite != str(p):
            self._overwrite = str(p)
            self.query_one("#errors", Static).update(Text(f"{clean_line(str(p), 200)} exists: ctrl+s again "
                                                          "overwrites it"))
            return
        self.dismiss((self.fmt, str(p), p.exists()))

    @on(Input.Submitted)
    def _entered(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

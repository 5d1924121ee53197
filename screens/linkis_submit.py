"""Submit a job to Linkis (`s` on :linkis; `R` re-submits a task, the form pre-filled from it).

Fields: the engine with its version (the ``[linkis] engines`` list), the run type (defaulting from the engine:
spark -> sql, hive -> hql, python -> python, shell -> shell), the creator (``[linkis] creator``, IDE by default),
variables (``k=v``, comma or newline separated), the YARN queue, and the code in a code editor (Textual's
TextArea; syntax highlighting when the tree-sitter extra, ``textual[syntax]``, is installed: without it the
editor works, uncoloured).

The form dismisses with the action's params (``engine``, ``run_type``, ``creator``, ``code``, ``variables``,
``queue``, ``startup``); the list screen sends them through the action registry (``linkis.submit``, or
``linkis.resubmit`` when a re-submit is sent unchanged).
"""

from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from prophecis_tui.actions import Target
from prophecis_tui.domain import LinkisTask
from prophecis_tui.sanitize import clean, clean_line

DEFAULT_ENGINES = ["spark-2.4.3", "spark3-3.4.4", "hive-2.3.3", "python-python2", "shell-1"]
RUN_TYPES = ["sql", "hql", "scala", "py", "python", "shell"]
ENGINE_RUN_TYPE = {"spark": "sql", "spark3": "sql", "hive": "hql", "python": "python", "shell": "shell",
                   "pipeline": "pipeline", "jdbc": "jdbc", "presto": "psql", "trino": "tsql"}
LANGUAGE = {"sql": "sql", "hql": "sql", "psql": "sql", "tsql": "sql", "jdbc": "sql", "py": "python",
            "python": "python", "pyspark": "python", "shell": "bash", "sh": "bash", "scala": "java"}
QUEUE_KEY = "wds.linkis.rm.yarnqueue"


def engine_kind(engine: str) -> str:
    """``spark-2.4.3`` -> ``spark``; ``python-python2`` -> ``python``."""
    return (engine or "").split("-", 1)[0].casefold()


def run_types_for(engine: str) -> list[str]:
    """The run types the engine takes (the core's list; every one the console knows for another engine)."""
    try:
        from prophecis_tui.linkis_tasks import run_types
        known = list(run_types(engine))
    except Exception:  # the core without it
        known = []
    return known or list(RUN_TYPES)


def default_run_type(engine: str) -> str:
    default = ENGINE_RUN_TYPE.get(engine_kind(engine), "sql")
    known = run_types_for(engine)
    return default if default in known else known[0]


def engines_list(settings: Any) -> list[str]:
    engines = list(getattr(settings, "engines", None) or [])
    if engines:
        return [str(e) for e in engines]
    try:
        from prophecis_tui.linkis_tasks import engines_default
        return list(engines_default())
    except Exception:  # the core without it: the platform's usual engines
        return list(DEFAULT_ENGINES)


def parse_variables(text: str) -> tuple[dict[str, str], list[str]]:
    """``k=v, k2=v2`` (commas or newlines) -> ({k: v}, problems). Spaces around names and values go."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for part in (text or "").replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not name:
            problems.append(f"variable {clean_line(part, 40)!r}: write it as name=value")
            continue
        out[name] = value.strip()
    return out, problems


def variables_text(variables: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in variables.items())


def language_for(run_type: str) -> str | None:
    return LANGUAGE.get((run_type or "").casefold())


def unchanged(old: LinkisTask, params: dict) -> bool:
    """Would these params run ``old`` again as it was (a plain re-submit)?"""
    return (params.get("code") == old.code and params.get("engine") == old.engine
            and params.get("run_type") == old.run_type and params.get("creator") == old.creator
            and dict(params.get("variables") or {}) == dict(old.variables)
            and (params.get("queue") or "") == old.queue)


class LinkisSubmitForm(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="linkis_submit.cancel"),
                Binding("ctrl+s", "submit", "Submit", id="linkis_submit.submit")]
    DEFAULT_CSS = """
    LinkisSubmitForm { align: center middle; }
    LinkisSubmitForm > Vertical { width: 96%; max-width: 140; height: 96%; max-height: 40; padding: 0 1;
                                  border: thick $primary; background: $surface; }
    LinkisSubmitForm #title { height: 1; }
    LinkisSubmitForm .field { height: 1; margin-bottom: 1; }
    LinkisSubmitForm .field Label { width: 10; }
    LinkisSubmitForm .field Select { width: 1fr; margin-right: 2; }
    LinkisSubmitForm .field Input { width: 1fr; margin-right: 2; }
    LinkisSubmitForm #code { height: 1fr; min-height: 4; }
    LinkisSubmitForm #errors { height: auto; color: $error; }
    LinkisSubmitForm #buttons { height: 1; align-horizontal: right; }
    LinkisSubmitForm #buttons Button { margin-left: 2; }
    """

    def __init__(self, old: LinkisTask | None = None, *, settings: Any = None,
                 validate: Callable[[Target, dict], str] | None = None) -> None:
        super().__init__()
        self.old = old
        self.settings = settings
        self.validate = validate  # the registry's check of the params (linkis.submit's): refused inline
        engines = engines_list(settings)
        if old is not None and old.engine and old.engine not in engines:
            engines.insert(0, old.engine)
        self.engines = engines
        self.engine = old.engine if old is not None and old.engine else engines[0]
        self.run_type = old.run_type if old is not None and old.run_type else default_run_type(self.engine)
        self.run_types = run_types_for(self.engine)
        if self.run_type not in self.run_types:
            self.run_types.append(self.run_type)
        self.creator = (old.creator if old is not None and old.creator
                        else str(getattr(settings, "creator", "") or "IDE"))
        self.queue = old.queue if old is not None else str(getattr(settings, "queue", "") or "")
        self.variables = variables_text(old.variables) if old is not None else ""
        self.code = old.code if old is not None else ""
        self.highlighting = True  # False when the tree-sitter extra is missing (the editor is uncoloured)

    def compose(self) -> ComposeResult:
        with Vertical():
            title = Text(no_wrap=True, overflow="ellipsis")
            if self.old is not None:
                title.append("Re-submit ", "bold")
                title.append(f"task {self.old.task_id}", "bold yellow")
                title.append("  (unchanged: the same job again; edited: a new submit)", "dim")
            else:
                title.append("Submit a job to Linkis", "bold")
            yield Static(title, id="title")
            with Horizontal(classes="field"):
                yield Label("engine")
                yield Select([(e, e) for e in self.engines], value=self.engine, allow_blank=False, compact=True,
                             id="engine")
                yield Label("run type")
                yield Select([(r, r) for r in self.run_types], value=self.run_type, allow_blank=False,
                             compact=True, id="run-type")
            with Horizontal(classes="field"):
                yield Label("creator")
                yield Input(self.creator, compact=True, id="creator")
                yield Label("queue")
                yield Input(self.queue, placeholder="YARN queue (optional)", compact=True, id="queue")
            with Horizontal(classes="field"):
                yield Label("variables")
                yield Input(self.variables, placeholder="name=value, name2=value2 (optional)", compact=True,
                            id="variables")
            yield self._editor()
            yield Static("", id="errors")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Submit (ctrl+s)", id="submit", variant="primary", compact=True)

    def _editor(self) -> TextArea:
        language = language_for(self.run_type)
        try:
            area = TextArea.code_editor(clean(self.code, keep_newlines=True), language=language, id="code",
                                        soft_wrap=False)
        except Exception:  # a language this Textual does not know
            area = TextArea.code_editor(clean(self.code, keep_newlines=True), id="code", soft_wrap=False)
        self.highlighting = language is not None and _tree_sitter()
        area.border_title = f"code ({self.run_type}{'' if self.highlighting else ', no highlighting'})"
        return area

    def on_mount(self) -> None:
        self.query_one("#code", TextArea).focus()

    # ------------------------------------------------------------------ what the form says
    @on(Select.Changed, "#engine")
    def _engine_changed(self, event: Select.Changed) -> None:
        engine = str(event.value)
        if engine == self.engine:
            return
        self.engine = engine
        run_type = default_run_type(engine)
        select = self.query_one("#run-type", Select)
        self.run_types = run_types_for(engine)
        select.set_options([(r, r) for r in self.run_types])
        select.value = run_type

    @on(Select.Changed, "#run-type")
    def _run_type_changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        self.run_type = str(event.value)
        area = self.query_one("#code", TextArea)
        language = language_for(self.run_type)
        try:
            area.language = language
        except Exception:
            area.language = None
        self.highlighting = language is not None and _tree_sitter()
        area.border_title = f"code ({self.run_type}{'' if self.highlighting else ', no highlighting'})"

    def params(self) -> dict:
        variables, _ = parse_variables(self.query_one("#variables", Input).value)
        queue = self.query_one("#queue", Input).value.strip()
        startup = dict(self.old.startup) if self.old is not None else {}
        startup.pop(QUEUE_KEY, None)
        if queue:
            startup[QUEUE_KEY] = queue
        return {"engine": str(self.query_one("#engine", Select).value),
                "run_type": str(self.query_one("#run-type", Select).value),
                "creator": self.query_one("#creator", Input).value.strip(),
                "code": self.query_one("#code", TextArea).text,
                "variables": variables, "queue": queue, "startup": startup}

    def problems(self) -> list[str]:
        out = []
        p = self.params()
        if not p["code"].strip():
            out.append("the code is empty")
        if not p["creator"]:
            out.append("a creator is required (IDE, or your application's name)")
        _, bad = parse_variables(self.query_one("#variables", Input).value)
        out += bad
        if not out and self.validate is not None:
            why = self.validate(Target("LinkisTask", "", "new"), p)
            if why:
                out.append(why)
        return out

    # ------------------------------------------------------------------ keys
    def action_submit(self) -> None:
        problems = self.problems()
        if problems:
            self.query_one("#errors", Static).update(Text("; ".join(problems)))
            return
        self.dismiss(self.params())

    @on(Input.Submitted)
    def _entered(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _tree_sitter() -> bool:
    try:
        import tree_sitter  # noqa: F401
    except ImportError:
        return False
    return True

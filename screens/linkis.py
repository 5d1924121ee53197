"""Linkis tasks (`:linkis`, `:lk`): the user's jobs on the big-data platform, history and running, newest first.

Rows come from the state (``state.linkis_tasks()``, fed by the core's LinkisPoller: health key ``linkis``); the
screen filters and sorts them in a worker like every list. Columns: taskID, engine, creator, user, state
(coloured), a progress bar, submitted (age), duration, error (errCode and the first line of errDesc).

`/` filters with terms ``state:running engine:spark creator:IDE user:hadoop`` and free text (every word must
appear); `enter` opens the task's detail (code, parameters, stages, the live log, results); `s` submits a new
job (a form), `ctrl+k` kills the task under the cursor (the registry asks to confirm and for a reason), `R`
re-submits it (the form pre-filled), `l` opens its log. Read-only: the action keys are hidden and refused
with the reason. Without a gateway the screen says how to configure one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import Static

from prophecis_tui.actions import Permission, Target
from prophecis_tui.domain import Health, LinkisState, LinkisTask
from prophecis_tui.sanitize import clean_line
from widgets.resource_table import Column, cell_text

from .resources import NOT_APPLICABLE, ResourceScreen, age, duration, now, update_if_changed

HEALTH_KEY = "linkis"
NO_GATEWAY = ("no Linkis gateway configured: set [linkis] url, user and token_file (or password_file) in the "
              "config file (per context: [contexts.NAME.linkis])")
STATE_STYLE = {LinkisState.RUNNING: "bold cyan", LinkisState.SUCCEED: "green", LinkisState.FAILED: "bold red",
               LinkisState.CANCELLED: "magenta", LinkisState.TIMEOUT: "bold red", LinkisState.INITED: "yellow",
               LinkisState.SCHEDULED: "yellow", LinkisState.WAIT_FOR_RETRY: "yellow", LinkisState.UNKNOWN: "dim"}
STATE_ORDER = (LinkisState.RUNNING, LinkisState.SCHEDULED, LinkisState.WAIT_FOR_RETRY, LinkisState.INITED,
               LinkisState.FAILED, LinkisState.TIMEOUT, LinkisState.CANCELLED, LinkisState.SUCCEED,
               LinkisState.UNKNOWN)
QUEUED = frozenset({LinkisState.INITED, LinkisState.SCHEDULED, LinkisState.WAIT_FOR_RETRY})
DONE = frozenset(s for s in LinkisState if s.done)
STATE_WORDS: dict[str, frozenset[LinkisState]] = {
    **{s.value.casefold(): frozenset({s}) for s in LinkisState},
    "succeeded": frozenset({LinkisState.SUCCEED}), "success": frozenset({LinkisState.SUCCEED}),
    "ok": frozenset({LinkisState.SUCCEED}), "fail": frozenset({LinkisState.FAILED}),
    "killed": frozenset({LinkisState.CANCELLED}), "canceled": frozenset({LinkisState.CANCELLED}),
    "queued": QUEUED, "waiting": QUEUED, "done": DONE, "finished": DONE,
    "active": frozenset(set(LinkisState) - DONE - {LinkisState.UNKNOWN}),
    "open": frozenset(set(LinkisState) - DONE - {LinkisState.UNKNOWN}),
    "bad": frozenset({LinkisState.FAILED, LinkisState.TIMEOUT}),
}
PREFIXES = {"state": "state", "st": "state", "s": "state", "engine": "engine", "eng": "engine", "e": "engine",
            "creator": "creator", "cr": "creator", "c": "creator", "user": "user", "u": "user", "by": "user"}
_TOKEN = re.compile(r'(\w+:)?"([^"]*)"|(\S+)')
BAR_WIDTH = 8


# ------------------------------------------------------------------------------------------ the `/` filter
@dataclass(frozen=True)
class TaskFilter:
    states: frozenset[LinkisState] = frozenset()
    engines: tuple[str, ...] = ()
    creators: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.states or self.engines or self.creators or self.users or self.words)


def parse_task_filter(text: str) -> TaskFilter:
    """``state:running engine:spark creator:IDE user:hadoop some words`` as a :class:`TaskFilter`.

    Prefixes (with aliases): ``state:``/``st:`` (a Linkis state: inited, scheduled, running, succeed, failed,
    cancelled, timeout, waitforretry; also ``queued``, ``active``, ``done``, ``bad``), ``engine:``/``eng:``
    (part of the engine and version: spark, spark-2.4.3, hive), ``creator:``/``cr:`` (part of the creator: IDE,
    LinkisMagic), ``user:``/``u:`` (part of the executing or submitting user). Several values: commas
    (``state:failed,timeout``) or the prefix again (either may match). Anything else is free text: every word
    must appear in the task's id, engine, creator, users, state, run type, code or error. A value that cannot be
    read is left out and named in ``problems``."""
    states: set[LinkisState] = set()
    lists: dict[str, list[str]] = {"engine": [], "creator": [], "user": []}
    words: list[str] = []
    problems: list[str] = []
    for m in _TOKEN.finditer(text or ""):
        if m.group(3) is not None:
            prefix, colon, value = m.group(3).partition(":")
            quoted = False
        else:
            prefix, colon, value, quoted = (m.group(1) or "").rstrip(":"), ":" if m.group(1) else "", m.group(2), True
        kind = PREFIXES.get(prefix.casefold()) if colon else None
        if kind is None:
            word = (m.group(0).strip('"') if quoted else m.group(0)).casefold().strip()
            if word:
                words.append(word)
            continue
        if not value.strip():
            problems.append(f"{prefix}: needs a value")
            continue
        for v in ([value] if quoted else value.split(",")):
            v = v.strip().casefold()
            if not v:
                continue
            if kind == "state":
                if v in STATE_WORDS:
                    states.update(STATE_WORDS[v])
                else:
                    problems.append(f"state:{v}: not a state (running, queued, succeed, failed, cancelled, "
                                    "timeout, active, done)")
            else:
                lists[kind].append(v)
    return TaskFilter(frozenset(states), tuple(dict.fromkeys(lists["engine"])),
                      tuple(dict.fromkeys(lists["creator"])), tuple(dict.fromkeys(lists["user"])),
                      tuple(words), tuple(problems))


def task_haystack(t: LinkisTask) -> str:
    return " ".join((str(t.task_id), t.exec_id, t.engine, t.creator, t.user, t.submit_user, t.state.value,
                     t.run_type, t.code[:2000], t.err_desc[:500], "" if t.err_code is None else str(t.err_code),
                     t.queue)).casefold()


def task_matches(t: LinkisTask, f: TaskFilter) -> bool:
    if f.states and t.state not in f.states:
        return False
    if f.engines and not any(e in t.engine.casefold() for e in f.engines):
        return False
    if f.creators and not any(c in t.creator.casefold() for c in f.creators):
        return False
    if f.users and not any(u in t.user.casefold() or u in t.submit_user.casefold() for u in f.users):
        return False
    if f.words:
        hay = task_haystack(t)
        return all(w in hay for w in f.words)
    return True


# ------------------------------------------------------------------------------------------ cells
class TaskRow:
    """One task as the resource table wants a row (a uid, a name, a namespace)."""

    __slots__ = ("uid", "name", "namespace", "state", "task")

    def __init__(self, task: LinkisTask) -> None:
        self.task = task
        self.uid = str(task.task_id)
        self.name = str(task.task_id)
        self.namespace = ""
        self.state = task.state.value


def state_text(state: LinkisState) -> Text:
    return Text(state.value, STATE_STYLE.get(state, ""), no_wrap=True, end="")


def progress_bar(t: LinkisTask, width: int = BAR_WIDTH) -> Text:
    """``█████▌   68%``: eighths of a cell; a finished job shows its end (full when it succeeded)."""
    p = 1.0 if t.state == LinkisState.SUCCEED else max(0.0, min(1.0, t.progress or 0.0))
    if t.done and t.state != LinkisState.SUCCEED and p >= 1.0:
        # the job history says "1.0" for every finished job: for one that failed, timed out or was killed that
        # is not how far it got, and a full bar would read as done
        return Text(" " * width + "    –", "dim", no_wrap=True, end="")
    eighths = round(p * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part and full < width else "")
    style = {LinkisState.SUCCEED: "green", LinkisState.RUNNING: "cyan"}.get(t.state, "dim")
    if t.state in (LinkisState.FAILED, LinkisState.TIMEOUT):
        style = "red"
    out = Text(no_wrap=True, end="")
    out.append(bar.ljust(width), style)
    out.append(f"{int(p * 100):>4}%", "bold" if t.state == LinkisState.RUNNING else "dim")
    return out


def error_text(t: LinkisTask, limit: int = 200) -> str:
    first = next((line.strip() for line in (t.err_desc or "").splitlines() if line.strip()), "")
    code = "" if t.err_code is None else str(t.err_code)
    return clean_line(" ".join(p for p in (code, first) if p), limit)


def _created(r: TaskRow) -> float:
    c = r.task.created
    return -(c.timestamp()) if c else 0.0


def task_line(t: LinkisTask) -> Text:
    """``#123 Running spark-2.4.3 3m``: a task in a line (the notebook detail lists them so)."""
    out = Text(no_wrap=True, end="")
    out.append(f"#{t.task_id} ", "bold")
    out.append_text(state_text(t.state))
    out.append(f" {clean_line(t.engine or '?', 30)}", "")
    if t.created is not None:
        out.append(f" {age(t.created)}", "dim")
    return out


# ------------------------------------------------------------------------------------------ the screen
class LinkisScreen(ResourceScreen):
    TITLE_TEXT = "Linkis tasks"
    NAME = "linkis"
    KIND = "LinkisTask"
    DATA_KINDS = frozenset({"linkis", "health"})
    ACTION_KEYS = {"kill": "linkis.kill", "resubmit": "linkis.resubmit", "submit": "linkis.submit"}
    BINDINGS = [
        Binding("d", "describe", "Detail", id="object.describe", show=False),
        Binding("y", "yaml", "YAML", id="object.yaml", show=False),
        Binding("e", "events", "Events", id="object.events", show=False),
        Binding("o", "sort", "Sort", id="object.sort", show=False),
        Binding("s", "submit", "Submit", id="linkis.submit"),
        Binding("ctrl+k", "kill", "Kill", id="linkis.kill", key_display="^k"),
        Binding("R", "resubmit", "Re-submit", id="linkis.resubmit"),
        Binding("l", "logs", "Log", id="linkis.log"),
        Binding("r", "reload", "Reload", id="linkis.reload", show=False),
    ]

    def __init__(self, state: Any, namespace: str | None = None) -> None:
        super().__init__(state, None)  # Linkis has no namespaces: the console's scope does not apply

    # ------------------------------------------------------------------ what is listed
    def columns(self) -> list[Column]:
        return [
            Column("task", "TASK", 7, lambda r: Text(str(r.task.task_id), "bold", no_wrap=True, end=""),
                   sort=lambda r: -r.task.task_id, justify="right", unique=True),
            Column("engine", "ENGINE", 14, lambda r: cell_text(r.task.engine)),
            Column("creator", "CREATOR", 11, lambda r: cell_text(r.task.creator), narrow=False),  # 80 columns:
            #                                                    room for the error code and its first words
            Column("user", "USER", 10, lambda r: cell_text(r.task.user or r.task.submit_user)),
            Column("state", "STATE", 9, lambda r: state_text(r.task.state),
                   sort=lambda r: STATE_ORDER.index(r.task.state) if r.task.state in STATE_ORDER else 99),
            Column("progress", "PROGRESS", BAR_WIDTH + 5, lambda r: progress_bar(r.task),
                   sort=lambda r: -(r.task.progress or 0.0)),
            Column("submitted", "AGE", 4, lambda r: age(r.task.created), sort=_created),
            Column("duration", "DURATION", 8, lambda r: duration(r.task.duration(now())), justify="right",
                   sort=lambda r: -(r.task.duration(now()) or 0.0), narrow=False),
            Column("queue", "QUEUE", 10, lambda r: cell_text(r.task.queue), narrow=False),
            Column("error", "ERROR", 16, lambda r: cell_text(error_text(r.task), "red"), flex=True),
        ]

    def objects(self) -> list[Any]:
        return [TaskRow(t) for t in self.state.linkis_tasks()]

    def loaded_kinds(self) -> tuple[str, ...]:
        return ()

    def completed(self) -> bool:
        return False

    def sync(self) -> Any:
        return getattr(self.app.session, "linkis", None)  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def _compute(self, scope: str | None, text: str, sort: str | None, reverse: bool) -> None:
        started = time.perf_counter()
        layout = self.rows_layout
        rows = self.objects()
        total = len(rows)
        f = parse_task_filter(text)
        if f:
            rows = [r for r in rows if task_matches(r.task, f)]
        column = next((c for c in self.table.all_columns if c.key == sort), None)
        rows.sort(key=lambda r: -r.task.task_id)  # newest first; ties of another column keep that order
        if column is not None and column.key != "task":
            from widgets.resource_table import sort_key
            rows.sort(key=sort_key(column), reverse=reverse)
        elif reverse:
            rows.reverse()
        counts: dict[LinkisState, int] = {}
        for r in rows:
            counts[r.task.state] = counts.get(r.task.state, 0) + 1
        index = {r.uid: i for i, r in enumerate(rows)}
        self._cost = time.perf_counter() - started
        self.post_message(self.Rows(rows, total, (counts, f.problems), True, index, layout))

    # ------------------------------------------------------------------ summary and detail
    def _summary(self) -> None:
        rows = self.table.rows
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(self.TITLE_TEXT, "bold")
        shown = f"{len(rows)}" if len(rows) == self.total else f"{len(rows)} of {self.total}"
        line.append(f"  {shown}", "bold")
        if self.filter_text:
            line.append(f"  filter: {clean_line(self.filter_text, 40)}", "yellow")
        if self.table.sort_column and self.table.sort_column != "task":
            label = next((c.label for c in self.table.all_columns if c.key == self.table.sort_column), "")
            line.append(f"  sorted by {label}{' ↓' if self.table.sort_reverse else ''}", "dim")
        extra = self.summary_extra()
        if extra:
            line.append("  ")
            line.append_text(extra)
        update_if_changed(self.query_one("#summary", Static), line, layout=False)

    def summary_extra(self) -> Text | None:
        t = Text(no_wrap=True, end="")
        counts, problems = self.context if isinstance(self.context, tuple) else ({}, ())
        for state, word in ((LinkisState.RUNNING, "running"), (LinkisState.FAILED, "failed")):
            n = counts.get(state, 0)
            if n:
                t.append(f"{n} {word}  ", STATE_STYLE[state])
        queued = sum(counts.get(s, 0) for s in QUEUED)
        if queued:
            t.append(f"{queued} queued  ", "yellow")
        health = self.health_line()
        if health is not None:
            t.append_text(health)
            t.append("  ")
        if problems:
            t.append("; ".join(problems), "red")
        return t if t.plain else None

    def on_mount(self) -> None:
        super().on_mount()
        self._health_shown: Any = None
        self.set_interval(1.0, self._health_tick)  # the app refreshes screens on data, not on health alone

    def _health_tick(self) -> None:
        line = self.health_line()
        plain = line.plain if line is not None else ""
        if plain != self._health_shown:
            self._health_shown = plain
            self._summary()

    def health_line(self) -> Text | None:
        """What is wrong with the source, when something is: no gateway, stale since T, failing."""
        if self.sync() is None:
            return Text("no Linkis gateway", "bold yellow")
        h = self.state.health().get(HEALTH_KEY)
        if h is None or h.state in (Health.LIVE, Health.CONNECTING):
            return None
        t = Text(no_wrap=True, end="")
        if h.state == Health.STALE and h.since is not None:
            t.append(f"Linkis stale since {h.since.astimezone().strftime('%H:%M')}", "bold yellow")
        else:
            t.append(f"Linkis {h.state.value}", "bold red")
        if h.reason:
            t.append(f": {clean_line(h.reason, 120)}", "dim")
        return t

    def _detail(self) -> None:
        if self.sync() is None and not self.table.rows:
            note = getattr(self.app.session, "linkis_note", "") or NO_GATEWAY  # type: ignore[attr-defined]
            t = Text(clean_line(note, 300), "yellow")
            if note != NO_GATEWAY:
                t.append("\n" + NO_GATEWAY, "dim")
            update_if_changed(self.query_one("#detail", Static), t)
            return
        super()._detail()

    def detail(self, r: TaskRow) -> Text:
        t = r.task
        out = Text()
        out.append(f"task {t.task_id}", "bold")
        out.append("  ")
        out.append_text(state_text(t.state))
        out.append(f"  {clean_line(t.engine, 40)} {clean_line(t.run_type, 12)}  by {clean_line(t.user or '?', 40)}"
                   f" via {clean_line(t.creator or '?', 40)}", "dim")
        if t.queue:
            out.append(f"  queue {clean_line(t.queue, 40)}", "dim")
        if t.exec_id:
            out.append(f"  exec {clean_line(t.exec_id, 60)}", "dim")
        code = next((line.strip() for line in t.code.splitlines() if line.strip()), "")
        if code:
            out.append("\n")
            out.append(clean_line(code, 300), "cyan")
        err = error_text(t, 400)
        if err:
            out.append("\nerror ", "bold red")
            out.append(err, "red")
        return out

    # ------------------------------------------------------------------ keys
    def current_task(self) -> LinkisTask | None:
        r = self.current()
        return r.task if isinstance(r, TaskRow) else None

    def target(self, obj: Any) -> Target:
        return Target("LinkisTask", "", obj.uid if isinstance(obj, TaskRow) else "new")

    def action_id_for(self, method: str, obj: Any) -> str | None:
        if method == "kill" and (not isinstance(obj, TaskRow) or obj.task.done):
            return None
        return super().action_id_for(method, obj)

    def _permission(self, method: str) -> Permission | None:
        if method == "submit":  # not about the row under the cursor
            aid = self.ACTION_KEYS["submit"]
            return self.perms.get((aid, ""))
        return super()._permission(method)

    def _check_permissions(self) -> None:
        actions = getattr(self.app.session, "actions", None)  # type: ignore[attr-defined]
        if actions is None or self.app.read_only:  # type: ignore[attr-defined]
            return
        wanted = [(aid, "") for aid in self.ACTION_KEYS.values() if (aid, "") not in self.perms
                  and (aid, "") not in self._asked]
        if wanted:
            self._asked.update(wanted)
            self._ask_permissions(wanted, Target("LinkisTask", "", ""))

    @work(thread=True, group="permissions", exit_on_error=False)
    def _ask_permissions(self, wanted: list[tuple[str, str]], target: Target) -> None:
        actions = self.app.session.actions  # type: ignore[attr-defined]
        out: dict[tuple[str, str], Permission] = {}
        for aid, ns in wanted:  # available: an action this session lacks (no gateway) is greyed with why
            out[(aid, ns)] = actions.available(aid, target)
        self.post_message(self.Permissions(out))

    def _refused(self, method: str) -> bool:
        """Read-only, no gateway, not allowed: say why and do nothing (the key bar hides or greys the key)."""
        if self.app.read_only:  # type: ignore[attr-defined]
            self.notify("read-only mode: actions are off", severity="warning")
            return True
        if self.sync() is None:
            self.notify(NO_GATEWAY, severity="warning")
            return True
        perm = self._permission(method)
        if perm is not None and perm is not NOT_APPLICABLE and not perm.allowed:
            self.notify(f"{method}: {perm.reason}", severity="warning")
            return True
        return False

    def action_open_detail(self) -> None:
        self.open(self.current())

    def open(self, obj: Any) -> None:
        if isinstance(obj, TaskRow):
            self.open_task(obj.task)

    def open_task(self, task: LinkisTask, tab: str = "") -> None:
        from .linkis_task import LinkisTaskScreen
        self.app.push_screen(LinkisTaskScreen(self.state, task, tab=tab))

    def action_describe(self) -> None:
        self.action_open_detail()

    def action_yaml(self) -> None:
        t = self.current_task()
        if t is None:
            return
        import yaml

        from .modals import TextView
        self.app.push_screen(TextView(f"YAML  Linkis task {t.task_id}",
                                      yaml.safe_dump(t.model_dump(mode="json"), sort_keys=False, allow_unicode=True)))

    def action_events(self) -> None:
        self.notify("Linkis tasks have no Kubernetes events: enter shows the task's log", severity="warning")

    def action_logs(self) -> None:
        t = self.current_task()
        if t is not None:
            self.open_task(t, tab="log")

    def action_reload(self) -> None:
        poller = getattr(self.app.session, "linkis_poller", None)  # type: ignore[attr-defined]
        if poller is not None:
            poller.refresh()
        self.recompute()

    def action_submit(self) -> None:
        if not self._refused("submit"):
            open_submit_form(self.app, self.state, None)

    def action_resubmit(self) -> None:
        t = self.current_task()
        if t is not None and not self._refused("resubmit"):
            open_submit_form(self.app, self.state, t)

    def action_kill(self) -> None:
        t = self.current_task()
        if t is None or self._refused("kill"):
            return
        if t.done:
            self.notify(f"task {t.task_id} is {t.state.value}: nothing to kill", severity="warning")
            return
        self.app.perform("linkis.kill", Target("LinkisTask", "", str(t.task_id)),  # type: ignore[attr-defined]
                         {"exec_id": t.exec_id}, on_done=lambda r: self.action_reload())


def submitted_task(task_id: int, exec_id: str, params: dict, user: str) -> LinkisTask:
    """What the console knows of a task it just submitted, until the poller or the follow brings Linkis's own."""
    startup = dict(params.get("startup") or {})
    if params.get("queue"):
        startup.setdefault("wds.linkis.rm.yarnqueue", str(params["queue"]))
    return LinkisTask(task_id=task_id, exec_id=exec_id, user=user, submit_user=user,
                      engine=str(params.get("engine") or ""), creator=str(params.get("creator") or ""),
                      run_type=str(params.get("run_type") or ""), code=str(params.get("code") or ""),
                      state=LinkisState.INITED, created=now(), variables=dict(params.get("variables") or {}),
                      startup=startup)


def open_submit_form(app: Any, state: Any, old: LinkisTask | None) -> None:
    """The submit form (pre-filled from ``old`` for a re-submit); what it gives goes through the registry:
    ``linkis.resubmit`` when a re-submit is sent unchanged, else ``linkis.submit``. Once Linkis has taken it, the
    new task is selected on :linkis and its detail opens."""
    if app.read_only:
        app.notify("read-only mode: actions are off", severity="warning")
        return
    from .linkis_submit import LinkisSubmitForm, unchanged

    def chosen(params: dict | None) -> None:
        if params is None:
            return
        if old is not None and unchanged(old, params):
            app.perform("linkis.resubmit", Target("LinkisTask", "", str(old.task_id)), {"task": old},
                        on_done=lambda r: after_submit(app, state, r, params))
        else:
            app.perform("linkis.submit", Target("LinkisTask", "", "new"), params,
                        on_done=lambda r: after_submit(app, state, r, params))
    actions = getattr(app.session, "actions", None)
    try:
        validate = actions.spec("linkis.submit").validate if actions is not None else None
    except KeyError:
        validate = None
    app.push_screen(LinkisSubmitForm(old, settings=getattr(app, "linkis_settings", None), validate=validate), chosen)


def after_submit(app: Any, state: Any, result: Any, params: dict) -> None:
    """A submit's answer: the poller asked for the new task, the task selected on :linkis, its detail opened."""
    if not getattr(result, "ok", False):
        return
    details = getattr(result, "details", {}) or {}
    try:
        task_id = int(details.get("task_id"))
    except (TypeError, ValueError):
        return
    task = state.linkis_task(task_id) or submitted_task(task_id, str(details.get("exec_id") or ""), params,
                                                         app.session.identity.user)
    poller = getattr(app.session, "linkis_poller", None)
    if poller is not None:
        poller.refresh()
    from .linkis_task import LinkisTaskScreen
    if isinstance(app.screen, LinkisTaskScreen):
        app.pop_screen()
    screen = app.screen
    if isinstance(screen, LinkisScreen):
        screen.filter_text = ""
        screen.recompute()
        app.select_when_listed(screen, lambda r: getattr(r, "uid", "") == str(task_id), f"Linkis task {task_id}")
    app.push_screen(LinkisTaskScreen(state, task))

"""Linkis in the core (no Textual): the tasks poller, following one task, and result sets.

- :class:`LinkisPoller`: every ``interval`` seconds the job history of the last ``days`` (paged, at most
  ``MAX_TASKS``), and for each task that has not ended its live status and progress from the entrance, into
  ``state.set_linkis_tasks``. Health key ``linkis``. A failing gateway keeps the last tasks (stale, or failing
  when it never answered): they are never blanked.
- :class:`TaskFollow`: one task followed in a thread: status and progress every ``interval`` while it runs,
  its log read incrementally (``fromLine``) into a :class:`prophecis_tui.logs.LogBuffer` with the level from
  Linkis's 4-slot log, then the rest of the log and the result paths.
- :func:`fetch_result`, :func:`write_result`, :func:`save_result`: a result set, every page of it, written as
  CSV or JSON.

Everything here talks to Linkis through ``backends.linkis.LinkisSync`` (blocking calls, one event-loop thread of
its own), passed in as ``sync``; any object with the same blocking methods does (tests use fakes).

Text from Linkis (code, log lines, results, messages) is kept raw here, except the log lines that go into the
LogBuffer: a LogLine's text is sanitised on the way in, as every log source does (``prophecis_tui.logs``).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, TextIO

from .config import DEFAULT_LINKIS_ENGINES
from .domain import (BackendError, Conflict, Forbidden, Health, Invalid, LinkisLog, LinkisResultSet, LinkisState,
                     LinkisTask, NotFound)
from .feeds import _RefreshingPoller
from .logs import ERROR, INFO, WARN, LogBuffer, LogLine
from .sanitize import clean
from .state import State

__all__ = ["DEFAULT_ENGINES", "NUMERIC_TYPES", "RUN_TYPES", "LinkisPoller", "TaskFollow", "engine_kind",
           "engines_default", "fetch_result", "log_lines", "run_types", "save_result", "write_result"]

log = logging.getLogger(__name__)

#: The submit form's engines (``<engine>-<version>``) when ``[linkis] engines`` names none: Linkis's own defaults
#: (LabelCommonConfig) and shell.
DEFAULT_ENGINES = DEFAULT_LINKIS_ENGINES
#: The run types each engine kind takes (the first is the form's default).
RUN_TYPES: dict[str, tuple[str, ...]] = {
    "spark": ("sql", "scala", "py", "python"),
    "spark3": ("sql", "scala", "py", "python"),
    "hive": ("hql", "sql"),
    "python": ("python", "py"),
    "shell": ("shell", "sh"),
    "jdbc": ("jdbc", "sql"),
}


def engines_default() -> list[str]:
    """The engines the submit form offers when the config names none."""
    return list(DEFAULT_ENGINES)


def engine_kind(engine: str) -> str:
    """``spark-2.4.3`` -> ``spark``; ``python-python2`` -> ``python``; ``spark`` -> ``spark``."""
    return engine.split("-", 1)[0].strip().lower()


def run_types(engine: str) -> tuple[str, ...]:
    """The run types an engine takes (empty for an engine kind the console does not know)."""
    return RUN_TYPES.get(engine_kind(engine), ())


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------------------------------ the poller
class LinkisPoller(_RefreshingPoller):
    """The user's Linkis tasks (every user's with ``admin_view``, when Linkis lets the user see them), every
    ``interval`` seconds, in its own daemon thread, into ``state.set_linkis_tasks``.

    A round: ``sync.tasks`` from ``now - days`` to now, page after page (``PAGE_SIZE``), at most ``MAX_TASKS``
    (the newest); then for the tasks that have not ended and have an execID (at most ``MAX_LIVE``, the newest)
    their status and progress from the entrance, so that a running task's progress moves between two history
    reads. A task that has left the entrance (NotFound) keeps its history row. ``admin_view`` asks for everyone's
    jobs (``isAdminView``: Linkis gives them to a job-history admin and ignores it for others); a gateway that
    refuses it (Forbidden) at the first read is asked for the user's own from then on. Self-rescheduling (``interval``
    from the start of the last round, never two at once); :meth:`refresh` polls now (after a submit or a kill).

    Health (key ``linkis``): live after a good round; a failing history read keeps the last tasks and marks the
    source stale (failing when it never answered), with the error as the reason. The poller does not close
    ``sync``: the session shares it with the action registry and the task followers."""

    KEY = "linkis"
    PAGE_SIZE = 100
    MAX_TASKS = 500
    MAX_LIVE = 50
    CLOCK_SLACK = 86400.0  # how far ahead of ours the gateway's clock may be (the history window's end)

    def __init__(self, state: State, sync: Any, *, interval: float = 5.0, days: float = 7, admin_view: bool = True,
                 clock: Callable[[], datetime] = _now) -> None:
        super().__init__(state, clock, "linkis-poller", interval)
        self.sync, self.days, self.admin_view = sync, days, admin_view
        self._admin_answered = False  # a history read has been answered (admin_view is known to be accepted)
        self.had_data = False
        self.round_seconds = 0.0

    # ---------------------------------------------------------------- one round
    def _tasks_page(self, start: datetime, end: datetime, page: int) -> tuple[list[LinkisTask], int]:
        return self.sync.tasks(start=start, end=end, page=page, page_size=self.PAGE_SIZE, admin_view=self.admin_view)

    def history(self) -> list[LinkisTask]:
        """The job history of the last ``days``, newest first, at most MAX_TASKS (raises BackendError)."""
        now = self.clock()
        start = now - timedelta(days=self.days)
        # the window's end is the gateway's dates, not ours: a gateway whose clock is ahead of this machine's
        # stamps a task just submitted after our "now", and an end at our now would hide it until the clocks met
        end = now + timedelta(seconds=self.CLOCK_SLACK)
        out: dict[int, LinkisTask] = {}
        page = 1
        while len(out) < self.MAX_TASKS:
            try:
                tasks, total = self._tasks_page(start, end, page)
            except Forbidden:
                if not (self.admin_view and not self._admin_answered and page == 1):
                    raise
                # not a job-history admin, and this Linkis says so instead of ignoring isAdminView: the user's own
                log.info("linkis: the admin view of the job history is refused; reading the user's own tasks")
                self.admin_view = False
                continue
            self._admin_answered = True
            for t in tasks:
                out.setdefault(t.task_id, t)  # a task that moved to the next page meanwhile: once
            if not tasks or len(tasks) < self.PAGE_SIZE or page * self.PAGE_SIZE >= total:
                break
            page += 1
        return sorted(out.values(), key=lambda t: -t.task_id)[: self.MAX_TASKS]

    def live(self, task: LinkisTask) -> LinkisTask:
        """``task`` with its status and progress from the entrance (as it was when the entrance has no word)."""
        try:
            st = self.sync.status(task.exec_id, task.task_id)
            update: dict[str, Any] = {"state": st}
            if not st.done:
                progress, stages = self.sync.progress(task.exec_id, task.task_id)
                update.update(progress=max(task.progress, float(progress)), stages=tuple(stages))
            elif st == LinkisState.SUCCEED:
                update["progress"] = 1.0
            return task.model_copy(update=update)
        except NotFound:
            return task
        except BackendError as err:
            log.debug("linkis: live status of task %s: %s", task.task_id, err.message)
            return task

    def poll(self) -> None:
        """One round (the thread's loop calls it; tests may call it directly)."""
        started = time.perf_counter()
        try:
            tasks = self.history()
            running = [t for t in tasks if not t.done and t.exec_id][: self.MAX_LIVE]
            if running and not self._stop.is_set():
                fresh = {t.task_id: self.live(t) for t in running}
                tasks = [fresh.get(t.task_id, t) for t in tasks]
        except BackendError as err:
            self._health(Health.STALE if self.had_data else Health.FAILING, err.message)
            return
        except Exception as err:  # a parser bug must not end the polling silently, nor blank the tasks
            log.exception("linkis poll failed")
            self._health(Health.STALE if self.had_data else Health.FAILING, f"internal error: {type(err).__name__}")
            return
        # a task submitted while this round read the history (the submit action put it in the state) is newer
        # than anything the history gave: kept, not dropped for a round
        newest = max((t.task_id for t in tasks), default=0)
        tasks = tasks + [t for t in self.state.linkis_tasks() if t.task_id > newest]
        self.state.set_linkis_tasks(tasks)
        self.had_data = True
        self.state.heard(self.KEY)
        self.round_seconds = time.perf_counter() - started
        self._health(Health.LIVE, "" if len(tasks) < self.MAX_TASKS else
                     f"the newest {self.MAX_TASKS} tasks of the last {self.days:g} days")


# ------------------------------------------------------------------------------------------ one task's log
def log_lines(read: LinkisLog, source: str = "", skip: int = 0) -> list[LogLine]:
    """The LogLines of one read (``read.all`` in order, from its ``skip``-th on), each with the level of the
    slot it is in: a line of the ERROR slice is ERROR, of the WARN slice WARN, else INFO. Text sanitised."""
    errors = Counter(read.error)
    warns = Counter(read.warn)
    out: list[LogLine] = []
    for i, raw in enumerate(read.all):
        if errors[raw] > 0:
            errors[raw] -= 1
            level = ERROR
        elif warns[raw] > 0:
            warns[raw] -= 1
            level = WARN
        else:
            level = INFO
        if i >= skip:
            out.append(LogLine(clean(raw.rstrip("\r")), source=source, level=level))
    return out


class TaskFollow:
    """Follows one Linkis task in a daemon thread (started at once) until it ends or :meth:`stop`.

    While it runs: its status and progress every ``interval`` seconds (``state.update_linkis_task`` with them,
    when a state is given) and its log read on from the last ``fromLine`` into ``buffer`` (each line once).
    When it has ended: the rest of the log (from the entrance, or the whole finished log through ``task_log``
    minus the lines already read, once the entrance no longer holds it), the task as the job history has it
    (error code and description, result location) and then its result files (``result_paths``). A task that had
    ended before (or has no execID) gets its whole log through ``task_log``.

    ``status``: "starting", "following", "ended", "stopped", or "failing: <why>" (a read failed; it tries again
    every ``interval`` while the task runs)."""

    LOG_PAGE = 500  # lines per log read
    MAX_READS = 20  # log reads in one tick (a job that wrote 10,000 lines at once: the rest next tick)

    def __init__(self, sync: Any, task: LinkisTask, buffer: LogBuffer, state: State | None = None, *,
                 interval: float = 1.0, result_wait: float = 10.0, source: str | None = None,
                 start: bool = True) -> None:
        self.sync, self.task, self.buffer, self.state = sync, task, buffer, state
        self.interval, self.result_wait = interval, result_wait
        self.source = f"task {task.task_id}" if source is None else source
        self.status = "starting"
        self.result_paths: list[str] = []
        self.error: BackendError | None = None
        self.lines = 0  # log lines read so far (the next fromLine)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"linkis-follow-{task.task_id}", daemon=True)
        if start:
            self._thread.start()

    def start(self) -> None:
        self._thread.start()

    @property
    def done(self) -> bool:
        """The follow has finished (the task ended and its log and results were read, or it was stopped)."""
        return self._done.is_set()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # ---------------------------------------------------------------- the thread
    def _publish(self, task: LinkisTask) -> None:
        self.task = task
        if self.state is not None:
            self.state.update_linkis_task(task)

    def _fail(self, err: BackendError) -> None:
        self.error = err
        self.status = f"failing: {err.message}"

    def _run(self) -> None:
        try:
            if not self.task.done and self.task.exec_id:
                self.status = "following"
                self._follow()
            if not self._stop.is_set():
                self._finish()
        except BackendError as err:
            self._fail(err)
        except Exception as err:  # a bug: one line for the screen, the trace in the log
            log.exception("linkis: following task %s failed", self.task.task_id)
            self.status = f"failing: internal error: {type(err).__name__}"
        finally:
            if self._stop.is_set() and self.status in ("starting", "following"):
                self.status = "stopped"
            self._done.set()

    def _follow(self) -> None:
        """Until the task has ended (or left the entrance, or the follow is stopped)."""
        t = self.task
        while not self._stop.is_set():
            try:
                st = self.sync.status(t.exec_id, t.task_id)
                update: dict[str, Any] = {"state": st}
                if not st.done:
                    progress, stages = self.sync.progress(t.exec_id, t.task_id)
                    update.update(progress=float(progress), stages=tuple(stages))
                elif st == LinkisState.SUCCEED:
                    update["progress"] = 1.0
                self._publish(self.task.model_copy(update=update))
                if st.done:  # the rest of the log: _finish
                    return
                if not self._read_log():
                    return
                self.status = "following"
            except NotFound:  # left the entrance: it has ended; the history has the rest
                return
            except BackendError as err:
                self._fail(err)
                if self._ended_in_history():
                    return
            self._stop.wait(self.interval)

    def _ended_in_history(self) -> bool:
        """After a failed entrance read: has the job history the task as ended? (then no more following)"""
        try:
            return self.sync.task(self.task.task_id).done
        except BackendError:
            return False

    def _read_log(self) -> bool:
        """Read on from the last line; False when the entrance no longer holds the log (NotFound)."""
        t = self.task
        for _ in range(self.MAX_READS):
            try:
                read = self.sync.log(t.exec_id, self.lines, self.LOG_PAGE)
            except NotFound:
                return False
            n = len(read.all)
            first = read.from_line - n  # where these lines start, as the entrance says
            skip = max(0, self.lines - first) if read.from_line > 0 else 0  # an overlap: lines already read
            if n > skip:
                self.buffer.extend(log_lines(read, self.source, skip))
                self.lines += n - skip
            if n < self.LOG_PAGE or self._stop.is_set():
                break
        return True

    def _finish(self) -> None:
        t = self.task
        from_entrance = bool(t.exec_id) and self.status != "starting"  # followed: read on; else the whole log
        if from_entrance:
            try:
                from_entrance = self._read_log()
            except BackendError as err:
                log.debug("linkis: the rest of task %s's log from the entrance: %s", t.task_id, err.message)
                from_entrance = False
        try:
            final = self.sync.task(t.task_id)
        except NotFound:
            final = None
        if final is not None:
            self._publish(_merge(t, final))
        if not from_entrance:
            whole = self.sync.task_log(self.task)
            if len(whole.all) > self.lines:
                self.buffer.extend(log_lines(whole, self.source, self.lines))
                self.lines = len(whole.all)
        if self.task.state == LinkisState.SUCCEED:
            self.result_paths = list(self.sync.result_paths(self.task, wait=self.result_wait))
        elif self.task.result_location:  # a failed job may have written some: no waiting for more
            try:
                self.result_paths = list(self.sync.result_paths(self.task, wait=0))
            except BackendError:
                self.result_paths = []
        self.status = "ended"


def _merge(old: LinkisTask, fresh: LinkisTask) -> LinkisTask:
    """The job history's row of a task, with what only the entrance (or the submit) told: the execID, the engine's
    version when the history names only the engine, the last progress stages."""
    update: dict[str, Any] = {}
    if not fresh.exec_id and old.exec_id:
        update["exec_id"] = old.exec_id
    if old.engine and (not fresh.engine or (old.engine.startswith(fresh.engine) and len(old.engine) > len(fresh.engine))):
        update["engine"] = old.engine
    if not fresh.stages and old.stages:
        update["stages"] = old.stages
    if fresh.state == LinkisState.SUCCEED:
        update["progress"] = 1.0
    elif fresh.progress < old.progress:
        update["progress"] = old.progress
    for key in ("code", "run_type", "creator", "gateway"):
        if not getattr(fresh, key) and getattr(old, key):
            update[key] = getattr(old, key)
    return fresh.model_copy(update=update) if update else fresh


# ------------------------------------------------------------------------------------------ results
#: Linkis dataTypes whose values are numbers in JSON.
NUMERIC_TYPES = frozenset({"int", "integer", "long", "bigint", "short", "smallint", "tinyint", "double", "float",
                           "decimal", "real", "number", "numeric"})
_NULLS = frozenset({"NULL", "null", ""})
_DECIMAL_TYPE = re.compile(r"^\s*(decimal|numeric)\s*\(.*\)\s*$", re.IGNORECASE)


def _numeric(type_: str) -> bool:
    t = type_.strip().lower()
    return t in NUMERIC_TYPES or bool(_DECIMAL_TYPE.match(t))


def fetch_result(sync: Any, path: str, page_size: int = 5000, max_rows: int | None = None) -> LinkisResultSet:
    """The result file at ``path``, every page of it (at most ``max_rows`` rows of a table), as one result set.
    Raises BackendError."""
    first = sync.result(path, page=1, page_size=page_size)
    rows: list[tuple] = list(first.rows)
    texts: list[str] = [first.text] if first.text else []
    pages = max(1, first.total_pages)
    page = 1
    truncated = False
    while page < pages:
        if max_rows is not None and len(rows) >= max_rows:
            truncated = True
            break
        page += 1
        part = sync.result(path, page=page, page_size=page_size)
        if not part.rows and not part.text:
            break
        rows.extend(part.rows)
        if part.text:
            texts.append(part.text)
        pages = max(pages, part.total_pages)
    if max_rows is not None and len(rows) > max_rows:
        rows, truncated = rows[:max_rows], True
    total = first.total_lines or (len(rows) if first.type == 2 else 0)
    return first.model_copy(update={"rows": tuple(rows), "text": "\n".join(texts), "page": 1,
                                    "total_pages": page if truncated else pages, "total_lines": total})


def _json_number(value: str) -> str | None:
    """The JSON text of a number cell (``None`` when it is not a finite number)."""
    try:
        d = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite():
        return None
    if d == d.to_integral_value() and "." not in value and "e" not in value.lower():
        return str(int(d))
    text = str(d)
    if text.startswith("."):
        text = "0" + text
    return text.replace("E", "e")


def _json_cell(value: Any, numeric: bool) -> str:
    if value is None:
        return "null"
    if not isinstance(value, str):
        value = str(value)
    if numeric:
        if value.strip() in _NULLS:
            return "null"
        number = _json_number(value)
        if number is not None:
            return number
    elif value == "NULL":
        return "null"
    return json.dumps(value, ensure_ascii=False)


def write_result(rs: LinkisResultSet, out: TextIO, fmt: str) -> int:
    """Write a result set to ``out``: ``csv`` (a header row of the column names, then the rows; NULL as an empty
    field) or ``json`` (a list of objects keyed by column, numbers of numeric columns as JSON numbers, NULL as
    null). A text result (type 1, or anything not a table) is written as is in csv, as one JSON string in json
    (a .json file stays JSON). Returns the number of rows (lines of a text result) written."""
    fmt = fmt.lower().strip()
    if fmt not in ("csv", "json"):
        raise ValueError(f"format {fmt!r}: csv or json")
    if rs.type != 2 or not rs.columns:
        text = rs.text
        if fmt == "json":
            out.write(json.dumps(text, ensure_ascii=False) + "\n")
            return text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        out.write(text)
        if text and not text.endswith("\n"):
            out.write("\n")
        return text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    names = [c.name for c in rs.columns]
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(names)
        for row in rs.rows:
            w.writerow(["" if v is None or v == "NULL" else v for v in row])
        return len(rs.rows)
    keys = [json.dumps(n, ensure_ascii=False) for n in names]
    numeric = [_numeric(c.type) for c in rs.columns]
    out.write("[")
    for i, row in enumerate(rs.rows):
        cells = (f"{k}: {_json_cell(row[j] if j < len(row) else None, numeric[j])}" for j, k in enumerate(keys))
        out.write(("\n" if i == 0 else ",\n") + "{" + ", ".join(cells) + "}")
    out.write("\n]\n" if rs.rows else "]\n")
    return len(rs.rows)


def save_result(rs: LinkisResultSet, path: str | os.PathLike, fmt: str, *, overwrite: bool = False) -> int:
    """Write ``rs`` to the file ``path`` (``~`` expanded; parent folders created, owner-only; the file mode
    0600). An existing file is refused (Conflict) unless ``overwrite``. Returns the rows written; raises Conflict
    or Invalid (one line) when the file cannot be written."""
    p = Path(path).expanduser()
    if p.exists() and not overwrite:
        raise Conflict(f"{p} exists: choose another file or overwrite it", status=409)
    if p.exists() and p.is_dir():
        raise Invalid(f"{p} is a folder: give a file name", status=400)
    try:
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        fd = os.open(p, flags, 0o600)
    except FileExistsError:
        raise Conflict(f"{p} exists: choose another file or overwrite it", status=409) from None
    except OSError as err:
        raise Invalid(f"cannot write {p}: {err.strerror or err}", status=400) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            os.fchmod(f.fileno(), 0o600)  # an existing file overwritten: owner-only too
            return write_result(rs, f, fmt)
    except OSError as err:
        raise Invalid(f"cannot write {p}: {err.strerror or err}", status=400) from None

"""The Linkis core (prophecis_tui.linkis_tasks): the tasks poller (rounds, paging, a failing gateway keeps the tasks),
following one task (levels from the 4-slot log, each line once, a task that left the entrance or had ended), and
result sets written as CSV and JSON (NULL, numbers, CJK) to owner-only files.

Against a small in-memory gateway with LinkisSync's blocking methods (``FakeLinkis``); the same code against the
simulated gateway over loopback is in tests/backends (when the simulator has its Linkis)."""

from __future__ import annotations

import io
import json
import stat
import threading
from datetime import datetime, timedelta, timezone

import pytest

from prophecis_tui.domain import (Health, LinkisColumn, LinkisError, LinkisLog, LinkisResultSet, LinkisStage,
                                  LinkisState, LinkisTask, NotFound, Unavailable)
from prophecis_tui.linkis_tasks import (LinkisPoller, TaskFollow, engines_default, fetch_result, log_lines,
                                        run_types, save_result, write_result)
from prophecis_tui.logs import ERROR, INFO, WARN, LogBuffer
from prophecis_tui.sanitize import clean
from prophecis_tui.state import State
from tests.conftest import wait_until

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
S = LinkisState


class Job:
    """One job of the fake gateway: its state, progress, log lines (level, text) written so far."""

    def __init__(self, task: LinkisTask, lines=(), *, results=None) -> None:
        self.task = task
        self.lines: list[tuple[str, str]] = list(lines)
        self.in_entrance = bool(task.exec_id)
        self.results = results or {}
        self.script: list = []  # what each status call does first: callables run in order


class FakeLinkis:
    """LinkisSync's blocking methods over in-memory jobs. ``fail`` set: every call raises it."""

    name = "gw.example:9001"
    user = "mlss-admin"
    read_only = False

    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.fail: Exception | None = None
        self.calls: list[tuple] = []
        self.submitted: list = []
        self.killed: list = []
        self.overlap = 0  # a log read answers this many lines already sent again (a gateway that repeats)
        self.lock = threading.Lock()

    def add(self, task: LinkisTask, lines=(), **kw) -> Job:
        job = self.jobs[task.task_id] = Job(task, lines, **kw)
        return job

    def _call(self, *what) -> None:
        with self.lock:
            self.calls.append(what)
        if self.fail is not None:
            raise self.fail

    def called(self, name: str) -> list[tuple]:
        with self.lock:
            return [c for c in self.calls if c[0] == name]

    def _by_exec(self, exec_id: str) -> Job:
        for job in self.jobs.values():
            if job.task.exec_id == exec_id and job.in_entrance:
                return job
        raise NotFound(f"Linkis {self.name}: the job {exec_id} is not in the entrance")

    # the protocol
    def tasks(self, *, start=None, end=None, page=1, page_size=50, admin_view=False, **kw):
        self._call("tasks", page, page_size, admin_view, start, end)
        rows = sorted((j.task for j in self.jobs.values()), key=lambda t: -t.task_id)
        return rows[(page - 1) * page_size: page * page_size], len(rows)

    def status(self, exec_id, task_id=None):
        self._call("status", exec_id)
        job = self._by_exec(exec_id)
        while job.script:
            job.script.pop(0)(job)
            break
        return job.task.state

    def progress(self, exec_id, task_id=None):
        self._call("progress", exec_id)
        job = self._by_exec(exec_id)
        return job.task.progress, list(job.task.stages)

    def log(self, exec_id, from_line=0, size=100):
        self._call("log", exec_id, from_line)
        job = self._by_exec(exec_id)
        start = max(0, from_line - self.overlap)
        part = job.lines[start: start + size]
        return _log_of(part, start + len(part))

    def task(self, task_id):
        self._call("task", task_id)
        job = self.jobs.get(task_id)
        if job is None:
            raise NotFound(f"no task {task_id}")
        return job.task.model_copy(update={"exec_id": "", "engine": job.task.engine.split("-")[0]})

    def task_log(self, task):
        self._call("task_log", task.task_id)
        job = self.jobs[task.task_id]
        return _log_of(job.lines, len(job.lines))

    def result_paths(self, task, *, wait=10.0):
        self._call("result_paths", task.task_id, wait)
        return sorted(self.jobs[task.task_id].results)

    def result(self, path, *, page=1, page_size=5000):
        self._call("result", path, page, page_size)
        for job in self.jobs.values():
            if path in job.results:
                return _page(job.results[path], page, page_size)
        raise NotFound(path)

    def submit(self, job):
        self._call("submit", job)
        if self.read_only:
            raise AssertionError("a read-only gateway was asked to submit")
        self.submitted.append(job)
        return 1000 + len(self.submitted), f"exec_id018017linkis-cg-entrance10.0.0.5:9104IDE_x_{len(self.submitted)}"

    def kill(self, exec_id, task_id=None):
        self._call("kill", exec_id, task_id)
        self.killed.append((exec_id, task_id))
        return "Successfully killed the job(成功kill了job)"


def _log_of(lines, from_line: int) -> LinkisLog:
    return LinkisLog(error=tuple(t for lv, t in lines if lv == "ERROR"), warn=tuple(t for lv, t in lines if lv == "WARN"),
                     info=tuple(t for lv, t in lines if lv == "INFO"), all=tuple(t for _, t in lines),
                     from_line=from_line)


def _page(rs: LinkisResultSet, page: int, size: int) -> LinkisResultSet:
    if rs.type != 2:
        lines = rs.text.split("\n")
        pages = max(1, -(-len(lines) // size))
        return rs.model_copy(update={"text": "\n".join(lines[(page - 1) * size: page * size]), "page": page,
                                     "total_pages": pages, "total_lines": len(lines)})
    pages = max(1, -(-len(rs.rows) // size))
    return rs.model_copy(update={"rows": rs.rows[(page - 1) * size: page * size], "page": page, "total_pages": pages,
                                 "total_lines": len(rs.rows)})


def task(n: int, state=S.SUCCEED, *, exec_id: str | None = None, progress=0.0, **kw) -> LinkisTask:
    if exec_id is None:
        exec_id = f"exec_id018017linkis-cg-entrance10.0.0.5:9104IDE_lihua_spark_{n}" if not state.done else ""
    return LinkisTask(task_id=n, exec_id=exec_id, user="lihua", engine="spark-2.4.3", creator="IDE", run_type="sql",
                      code=f"select {n}", state=state, progress=progress, created=NOW - timedelta(minutes=n), **kw)


def levels(buf: LogBuffer) -> list[tuple[int, str]]:
    return [(line.level, line.text) for line in buf.range(buf.first_seq, buf.total)]


# ------------------------------------------------------------------------------------------ the poller
def test_a_round_shows_history_newest_first_and_running_tasks_progress_from_the_entrance():
    gw = FakeLinkis()
    gw.add(task(1))
    gw.add(task(2, S.FAILED, err_code=21304, err_desc="Table or view not found: dw.sales_2099"))
    running = gw.add(task(3, S.RUNNING, progress=0.1))
    # the entrance knows more than the history row: 42 % and a stage
    running.script.append(lambda j: setattr(j, "task", j.task.model_copy(update={
        "progress": 0.42, "stages": (LinkisStage(id="jobId-1", succeed=4, running=1, total=6),)})))
    st = State()
    p = LinkisPoller(st, gw, days=7, clock=lambda: NOW)
    p.poll()
    assert [t.task_id for t in st.linkis_tasks()] == [3, 2, 1]
    t3 = st.linkis_task(3)
    assert t3.state == S.RUNNING and t3.progress == pytest.approx(0.42) and t3.stages[0].total == 6
    assert st.linkis_task(2).err_code == 21304
    assert st.source_health("linkis").state == Health.LIVE
    # the window asked: the last 7 days, everyone's jobs (admin view); done tasks are not asked about
    (_, page, _, admin, start, end), = gw.called("tasks")
    assert (page, admin, start) == (1, True, NOW - timedelta(days=7))
    assert end >= NOW + timedelta(hours=1)  # a gateway whose clock is ahead: its newest tasks still in the window
    assert [c[1] for c in gw.called("status")] == [running.task.exec_id]


def test_the_history_is_read_page_by_page_up_to_a_bound(monkeypatch):
    gw = FakeLinkis()
    for n in range(1, 251):
        gw.add(task(n))
    st = State()
    p = LinkisPoller(st, gw, admin_view=False, clock=lambda: NOW)
    p.poll()
    assert len(st.linkis_tasks()) == 250 and [c[1] for c in gw.called("tasks")] == [1, 2, 3]
    assert all(c[3] is False for c in gw.called("tasks"))
    monkeypatch.setattr(LinkisPoller, "MAX_TASKS", 120)
    gw.calls.clear()
    p.poll()
    assert [t.task_id for t in st.linkis_tasks()][:2] == [250, 249] and len(st.linkis_tasks()) == 120
    assert [c[1] for c in gw.called("tasks")] == [1, 2]  # no third page read for nothing
    assert "the newest 120 tasks" in st.source_health("linkis").reason


def test_a_failing_gateway_keeps_the_tasks_and_says_stale_then_live_again():
    gw = FakeLinkis()
    gw.add(task(1))
    gw.add(task(2, S.RUNNING))
    st = State()
    p = LinkisPoller(st, gw, clock=lambda: NOW)
    p.poll()
    gw.fail = Unavailable("Linkis gw.example:9001: cannot connect (connection refused)")
    p.poll()
    assert [t.task_id for t in st.linkis_tasks()] == [2, 1]  # never blanked
    h = st.source_health("linkis")
    assert h.state == Health.STALE and "connection refused" in h.reason and h.since == NOW
    gw.fail = None
    p.poll()
    assert st.source_health("linkis").state == Health.LIVE


def test_a_gateway_that_never_answered_is_failing_with_linkis_own_words():
    gw = FakeLinkis()
    gw.fail = LinkisError("Linkis gw.example:9001: error code(错误码): 11011, no permission", err_code=11011)
    st = State()
    LinkisPoller(st, gw, clock=lambda: NOW).poll()
    h = st.source_health("linkis")
    assert h.state == Health.FAILING and "11011" in h.reason and st.linkis_tasks() == []


def test_a_gateway_that_refuses_the_admin_view_is_asked_for_the_users_own_tasks():
    from prophecis_tui.domain import Forbidden

    class NoAdmin(FakeLinkis):
        def tasks(self, *, admin_view=False, **kw):
            if admin_view:
                self._call("tasks-refused")
                raise Forbidden("Linkis gw.example:9001: lihua is not a job history admin")
            return super().tasks(admin_view=admin_view, **kw)
    gw = NoAdmin()
    gw.add(task(1))
    st = State()
    p = LinkisPoller(st, gw, clock=lambda: NOW)
    p.poll()
    p.poll()
    assert [t.task_id for t in st.linkis_tasks()] == [1] and st.source_health("linkis").state == Health.LIVE
    assert len(gw.called("tasks-refused")) == 1  # asked once, not every round


def test_a_task_that_left_the_entrance_keeps_its_history_row():
    gw = FakeLinkis()
    job = gw.add(task(5, S.RUNNING, progress=0.3))
    job.in_entrance = False  # the entrance answers NotFound
    st = State()
    LinkisPoller(st, gw, clock=lambda: NOW).poll()
    assert st.linkis_task(5).state == S.RUNNING and st.linkis_task(5).progress == pytest.approx(0.3)
    assert st.source_health("linkis").state == Health.LIVE


def test_the_thread_polls_again_on_refresh_and_stops():
    gw = FakeLinkis()
    gw.add(task(1))
    st = State()
    p = LinkisPoller(st, gw, interval=3600.0, clock=lambda: NOW)
    p.start()
    try:
        wait_until(lambda: p.polls >= 1, what="the first round")
        gw.add(task(2))
        p.refresh()  # after a submit: the new task shows without waiting an hour
        wait_until(lambda: st.linkis_task(2) is not None, what="the round after refresh")
    finally:
        p.stop()
        p.join(5)
    assert not p._thread.is_alive()


# ------------------------------------------------------------------------------------------ following one task
LINES = [("INFO", "2026-11-29 10:00:00.001 INFO Job with jobId : 3 and execID : x submitted"),
         ("WARN", "2026-11-29 10:00:01.002 WARN spark.executor.instances is not set, the default 2 is used"),
         ("INFO", "2026-11-29 10:00:02.003 INFO Your job is Running now"),
         ("ERROR", "2026-11-29 10:00:03.004 ERROR Stage 1 failed: \x1b[31mboom\x1b[0m"),
         ("INFO", "2026-11-29 10:00:04.005 INFO 您的任务已完成")]


def test_log_lines_take_their_level_from_the_slot_and_are_sanitised():
    read = LinkisLog(error=(LINES[3][1],), warn=(LINES[1][1],), info=(LINES[0][1], LINES[2][1], LINES[4][1]),
                     all=tuple(t for _, t in LINES), from_line=5)
    got = log_lines(read, "task 3")
    assert [line.level for line in got] == [INFO, WARN, INFO, ERROR, INFO]
    assert "\x1b" not in got[3].text and "boom" in got[3].text and got[4].text.endswith("您的任务已完成")
    assert [line.text for line in log_lines(read, skip=3)] == [got[3].text, got[4].text]


def test_following_a_running_task_reads_each_line_once_then_the_results():
    gw = FakeLinkis()
    job = gw.add(task(3, S.RUNNING), LINES[:2], results={"hdfs:///tmp/linkis/3/_0.dolphin": LinkisResultSet(
        path="hdfs:///tmp/linkis/3/_0.dolphin", columns=(LinkisColumn(name="n", type="long"),), rows=(("1",),))})

    def more(n, progress, state=S.RUNNING):
        def step(j):
            j.lines.extend(LINES[len(j.lines): n])
            j.task = j.task.model_copy(update={"progress": progress, "state": state})
        return step
    job.script += [more(2, 0.2), more(3, 0.5), more(4, 0.8), more(5, 1.0, S.SUCCEED)]
    st = State()
    buf = LogBuffer(1000)
    f = TaskFollow(gw, job.task, buf, st, interval=0.01)
    assert f.join(10), f.status
    assert f.status == "ended" and f.error is None
    assert levels(buf) == [(INFO, LINES[0][1]), (WARN, LINES[1][1]), (INFO, LINES[2][1]),
                           (ERROR, "2026-11-29 10:00:03.004 ERROR Stage 1 failed: \\x1b[31mboom\\x1b[0m"),
                           (INFO, LINES[4][1])]
    # the state shows the end: succeeded, 100 %, the execID and engine version the history row lacks
    t = st.linkis_task(3)
    assert t.state == S.SUCCEED and t.progress == 1.0 and t.exec_id == job.task.exec_id and t.engine == "spark-2.4.3"
    assert f.result_paths == ["hdfs:///tmp/linkis/3/_0.dolphin"]
    froms = [c[2] for c in gw.called("log")]
    assert froms == sorted(froms) and froms[0] == 0  # read on from where it was, never from the start again
    assert gw.called("task_log") == []


def test_a_gateway_that_repeats_lines_does_not_duplicate_them():
    gw = FakeLinkis()
    gw.overlap = 1  # every read starts one line early (and says so with its fromLine)
    job = gw.add(task(4, S.RUNNING), LINES[:3])
    job.script += [lambda j: None, lambda j: j.lines.extend(LINES[3:]),
                   lambda j: setattr(j, "task", j.task.model_copy(update={"state": S.FAILED}))]
    buf = LogBuffer(100)
    f = TaskFollow(gw, job.task, buf, interval=0.01)
    assert f.join(10) and f.status == "ended"
    assert [text for _, text in levels(buf)] == [clean(t) for _, t in LINES]


def test_a_task_that_leaves_the_entrance_gets_the_rest_from_its_log_file_without_duplicates():
    gw = FakeLinkis()
    job = gw.add(task(6, S.RUNNING), LINES[:2])

    def gone(j):
        j.lines.extend(LINES[2:])
        j.in_entrance = False
        j.task = j.task.model_copy(update={"state": S.TIMEOUT})
    job.script += [lambda j: None, gone]
    buf = LogBuffer(100)
    st = State()
    f = TaskFollow(gw, job.task, buf, st, interval=0.01)
    assert f.join(10) and f.status == "ended"
    assert [text for _, text in levels(buf)] == [clean(t) for _, t in LINES]
    assert levels(buf)[3][0] == ERROR
    assert gw.called("task_log") and st.linkis_task(6).state == S.TIMEOUT
    assert f.result_paths == []  # a job that did not succeed has none to wait for


def test_a_finished_task_gets_its_whole_log_and_results_at_once():
    gw = FakeLinkis()
    done = task(7, S.SUCCEED, exec_id="exec_old")
    gw.add(done, LINES, results={"hdfs:///r/_1.dolphin": None, "hdfs:///r/_0.dolphin": None})
    buf = LogBuffer(100)
    f = TaskFollow(gw, done, buf, interval=0.01)
    assert f.join(10) and f.status == "ended"
    assert len(levels(buf)) == 5 and gw.called("log") == [] and gw.called("status") == []
    assert f.result_paths == ["hdfs:///r/_0.dolphin", "hdfs:///r/_1.dolphin"]


def test_a_failing_read_says_so_and_the_follow_goes_on_until_stopped():
    gw = FakeLinkis()
    job = gw.add(task(8, S.RUNNING), LINES[:1])
    gw.fail = Unavailable("Linkis gw.example:9001: 502 Bad Gateway")
    buf = LogBuffer(100)
    f = TaskFollow(gw, job.task, buf, interval=0.01)
    wait_until(lambda: f.status.startswith("failing"), what="failing")
    assert "502 Bad Gateway" in f.status and not f.done
    gw.fail = None
    wait_until(lambda: f.status == "following", what="following again")
    assert len(buf) == 1
    f.stop()
    assert f.join(5) and f.status == "stopped"


# ------------------------------------------------------------------------------------------ results
TABLE = LinkisResultSet(
    path="hdfs:///tmp/linkis/mlss-admin/20261129/IDE/9/_0.dolphin",
    columns=(LinkisColumn(name="城市", type="string"), LinkisColumn(name="orders", type="long"),
             LinkisColumn(name="amount", type="decimal(20,4)"), LinkisColumn(name="ratio", type="double"),
             LinkisColumn(name="note", type="string")),
    rows=(("北京", "1024", "12345678901234567.1234", "0.25", 'say "hi", then go'),
          ("上海", None, "NULL", "1e-3", None),
          ("深圳", "7", "-0.5000", "NaN", "NULL")))


def test_fetch_result_reads_every_page_and_stops_at_max_rows():
    gw = FakeLinkis()
    rows = tuple((str(i), f"名字{i}") for i in range(12))
    rs = LinkisResultSet(path="hdfs:///r/_0.dolphin", columns=(LinkisColumn(name="i", type="int"),
                                                               LinkisColumn(name="name")), rows=rows)
    gw.add(task(9), results={rs.path: rs})
    got = fetch_result(gw, rs.path, page_size=5)
    assert got.rows == rows and got.total_lines == 12 and [c[2] for c in gw.called("result")] == [1, 2, 3]
    gw.calls.clear()
    cut = fetch_result(gw, rs.path, page_size=5, max_rows=7)
    assert cut.rows == rows[:7] and [c[2] for c in gw.called("result")] == [1, 2]
    text = LinkisResultSet(path="hdfs:///r/_1.dolphin", type=1, text="line 1\n第二行\nline 3")
    gw.add(task(10), results={text.path: text})
    assert fetch_result(gw, text.path, page_size=2).text == "line 1\n第二行\nline 3"


def test_csv_has_a_header_and_empty_fields_for_null():
    out = io.StringIO()
    assert write_result(TABLE, out, "csv") == 3
    assert out.getvalue().splitlines() == [
        "城市,orders,amount,ratio,note",
        '北京,1024,12345678901234567.1234,0.25,"say ""hi"", then go"',
        "上海,,,1e-3,",
        "深圳,7,-0.5000,NaN,"]


def test_json_is_a_list_of_objects_with_numbers_and_nulls():
    out = io.StringIO()
    write_result(TABLE, out, "json")
    # numbers as JSON numbers, exactly as Linkis wrote them (a decimal keeps its digits: no float on the way)
    doc = json.loads(out.getvalue(), parse_float=lambda s: "float:" + s, parse_int=lambda s: "int:" + s)
    assert doc == [
        {"城市": "北京", "orders": "int:1024", "amount": "float:12345678901234567.1234", "ratio": "float:0.25",
         "note": 'say "hi", then go'},
        {"城市": "上海", "orders": None, "amount": None, "ratio": "float:0.001", "note": None},
        {"城市": "深圳", "orders": "int:7", "amount": "float:-0.5000", "ratio": "NaN", "note": None}]
    assert "北京" in out.getvalue()  # CJK as is, not \\u escapes
    # NaN is no JSON number: it stays text (json.loads would take a bare NaN; a strict parser would not)
    assert '"ratio": "NaN"' in out.getvalue()
    empty = io.StringIO()
    write_result(TABLE.model_copy(update={"rows": ()}), empty, "json")
    assert json.loads(empty.getvalue()) == []


def test_a_text_result_is_written_as_is_in_csv_and_as_a_json_string_in_json():
    text = LinkisResultSet(path="x", type=1, text="Hello from the shell engine\n第二行")
    out = io.StringIO()
    write_result(text, out, "csv")
    assert out.getvalue() == "Hello from the shell engine\n第二行\n"
    out = io.StringIO()
    write_result(text, out, "json")  # a saved .json file is JSON: it was the raw text
    assert json.loads(out.getvalue()) == "Hello from the shell engine\n第二行"
    with pytest.raises(ValueError, match="csv or json"):
        write_result(text, io.StringIO(), "xlsx")


def test_save_result_makes_an_owner_only_file_and_will_not_overwrite_unasked(tmp_path):
    from prophecis_tui.domain import Conflict
    path = tmp_path / "exports" / "q3" / "sales.csv"
    assert save_result(TABLE, path, "csv") == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text(encoding="utf-8").startswith("城市,")
    with pytest.raises(Conflict, match="exists"):
        save_result(TABLE, path, "json")
    assert path.read_text(encoding="utf-8").startswith("城市,")  # untouched
    path.chmod(0o644)
    save_result(TABLE, path, "json", overwrite=True)
    assert json.loads(path.read_text(encoding="utf-8"))[0]["城市"] == "北京"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_form_defaults():
    assert engines_default()[0] == "spark-2.4.3" and "hive-2.3.3" in engines_default()
    assert run_types("spark-2.4.3")[0] == "sql" and run_types("hive-2.3.3")[0] == "hql" and run_types("x-1") == ()


# ------------------------------------------------------------------------------------------ the simulated gateway
# The same code against the simulator's Linkis over loopback (https, its CA, its token), its clock moved by hand.
class Sim:
    def __init__(self, thread, folder) -> None:
        self.thread, self.folder = thread, folder
        self.url = thread.url + "/linkis"
        self.token = (folder / "linkis-token").read_text().strip()
        self._open: list = []

    def sync(self, user: str = "mlss-admin", *, read_only: bool = False):
        from backends.linkis import Linkis, LinkisSync
        s = LinkisSync(Linkis(self.url, user=user, token=self.token, ca_file=str(self.folder / "ca.crt"),
                              read_only=read_only))
        self._open.append(s)
        return s

    def faults(self, **kw) -> None:
        self.thread.call(self.thread.sim.faults.update, kw)

    def drive(self, cond, *, step: float = 2.0, limit: float = 600.0, what: str = "condition") -> None:
        """Move the simulated clock on ``step`` seconds at a time until ``cond()`` holds (the followers and pollers
        run in their own threads: each step waits a little for them)."""
        from tests.conftest import poll
        moved = 0.0
        while not poll(cond, 0.1, 0.01):
            if moved >= limit:
                raise AssertionError(f"{what} not met within {limit} simulated seconds")
            self.thread.advance(step)
            moved += step

    def close(self) -> None:
        for s in self._open:
            s.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from prophecis_tui.simulator.testing import SimThread
    from tests.conftest import START
    folder = tmp_path_factory.mktemp("linkis-sim")
    with SimThread(scale="tiny", seed=7, speed=0.0, start_time=START) as t:
        t.write_config(folder)
        s = Sim(t, folder)
        try:
            yield s
        finally:
            s.close()


def test_the_poller_on_the_simulated_gateway_keeps_its_tasks_through_a_failure(sim):
    st = State()
    p = LinkisPoller(st, sim.sync(), days=7)
    p.poll()
    tasks = st.linkis_tasks()
    assert tasks and st.source_health("linkis").state == Health.LIVE
    assert len({t.user for t in tasks}) > 1  # the admin's view: everyone's jobs, the notebooks' LinkisMagic ones too
    assert "LinkisMagic" in {t.creator for t in tasks}
    assert any(t.state == S.RUNNING and t.progress > 0 for t in tasks)
    try:
        sim.faults(linkis_error=1.0)
        p.poll()
        h = st.source_health("linkis")
        assert h.state == Health.STALE and h.reason and [t.task_id for t in st.linkis_tasks()] == [t.task_id for t in tasks]
    finally:
        sim.faults(linkis_error=0.0)
    p.poll()
    assert st.source_health("linkis").state == Health.LIVE


def test_a_spark_sql_query_followed_to_its_result_on_the_simulated_gateway(sim):
    from prophecis_tui.domain import LinkisSubmit
    gw = sim.sync()
    task_id, exec_id = gw.submit(LinkisSubmit(
        code="select city, count(1) as orders from dw.orders group by city limit 7", run_type="sql",
        engine="spark-2.4.3", startup={"wds.linkis.rm.yarnqueue": "root.ml"}))
    st = State()
    buf = LogBuffer(10_000)
    f = TaskFollow(gw, LinkisTask(task_id=task_id, exec_id=exec_id, engine="spark-2.4.3", state=S.INITED), buf, st,
                   interval=0.02)
    sim.drive(lambda: st.linkis_task(task_id) is not None and st.linkis_task(task_id).state == S.RUNNING,
              what="running")
    sim.drive(lambda: f.done, what="the follow's end")
    assert f.status == "ended", f.status
    t = st.linkis_task(task_id)
    assert t.state == S.SUCCEED and t.progress == 1.0 and t.exec_id == exec_id and t.result_location
    # every line of the job's log once, in order, with the level of its slot
    whole = gw.task_log(t)
    assert [(x.level, x.text) for x in log_lines(whole)] == levels(buf)
    assert {lv for lv, _ in levels(buf)} >= {INFO}
    assert f.result_paths and f.result_paths[0].endswith("_0.dolphin")
    rs = fetch_result(gw, f.result_paths[0], page_size=3)
    assert len(rs.rows) == 7 and rs.columns
    out = io.StringIO()
    write_result(rs, out, "json")
    doc = json.loads(out.getvalue())
    assert len(doc) == 7 and set(doc[0]) == {c.name for c in rs.columns}


def test_a_failing_query_ends_failed_with_its_error_lines(sim):
    from prophecis_tui.domain import LinkisSubmit
    gw = sim.sync("lihua")
    task_id, exec_id = gw.submit(LinkisSubmit(code="select * from dw.missing_orders", run_type="sql",
                                              engine="spark-2.4.3"))
    st = State()
    buf = LogBuffer(10_000)
    f = TaskFollow(gw, LinkisTask(task_id=task_id, exec_id=exec_id, state=S.INITED), buf, st, interval=0.02)
    sim.drive(lambda: f.done, what="the follow's end")
    t = st.linkis_task(task_id)
    assert f.status == "ended" and t.state == S.FAILED and t.err_code == 40002 and "missing_orders" in t.err_desc
    assert any(lv == ERROR for lv, _ in levels(buf)) and f.result_paths == []


def test_a_finished_task_from_the_history_shows_its_whole_log(sim):
    gw = sim.sync()
    tasks, _ = gw.tasks(page=1, page_size=100, admin_view=True)
    old = next(t for t in tasks if t.state == S.FAILED)
    buf = LogBuffer(10_000)
    f = TaskFollow(gw, old, buf, interval=0.02)
    assert f.join(20) and f.status == "ended"
    assert len(buf) == len(gw.task_log(old).all) > 0 and any(lv == ERROR for lv, _ in levels(buf))


def test_a_task_submitted_during_a_round_is_not_dropped_by_it():
    """The submit action puts the new task in the state at once; a round whose history read began before the
    submit does not know it yet and must not make it vanish from :linkis until the next round."""
    gw = FakeLinkis()
    gw.add(task(1))
    gw.add(task(2))
    st = State()
    p = LinkisPoller(st, gw, days=7, clock=lambda: NOW)
    p.poll()
    st.update_linkis_task(task(3, S.INITED))  # what linkis.submit does with the gateway's answer
    p.poll()  # this history has not caught up with the submit
    assert [t.task_id for t in st.linkis_tasks()] == [3, 2, 1]
    gw.add(task(3, S.RUNNING))  # the next round's history has it: the history's row wins
    p.poll()
    assert st.linkis_task(3).state == S.RUNNING


def test_a_gateway_whose_clock_is_ahead_still_shows_the_task_just_submitted(sim):
    """The history window's end is not our 'now': a gateway ten minutes ahead of this machine stamps a new task
    after it, and the poller must still list it (found by the bench: 300 submitted jobs, 58 listed)."""
    from prophecis_tui.domain import LinkisSubmit
    gw = sim.sync()
    st = State()
    ours = sim.thread.call(sim.thread.sim.clock.now) - 600  # this machine's clock: the gateway's minus 10 minutes
    p = LinkisPoller(st, gw, days=7, clock=lambda: datetime.fromtimestamp(ours, timezone.utc))
    task_id, _ = gw.submit(LinkisSubmit(code="select 1 as n", run_type="sql", engine="spark-2.4.3"))
    p.poll()
    assert st.linkis_task(task_id) is not None

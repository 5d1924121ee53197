"""The Linkis screens (`:linkis`, a task's detail, the submit form) and the notebook detail's Linkis tasks.

Screen tests drive the real console (the simulated cluster, the real action registry and audit log) with a
Linkis gateway stand-in (``FakeLinkis``: the LinkisSync methods the core calls, jobs that queue, run with stages,
write INFO/WARN/ERROR logs and end Succeed with a typed result set, or run until killed), wired as the session's
``linkis`` with the registry's Linkis actions (``prophecis_tui.linkis_actions``). The filter and the result
table's sorting are also checked as functions.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st
from textual.widgets import Input, Select, TabbedContent, TextArea

from prophecis_tui.domain import (LinkisColumn, LinkisLog, LinkisResultSet, LinkisStage, LinkisState,
                                  LinkisSubmit, LinkisTask, NotFound)
from screens.linkis import LinkisScreen, parse_task_filter, progress_bar, task_matches
from screens.linkis_submit import LinkisSubmitForm, default_run_type, parse_variables
from screens.linkis_task import LinkisTaskScreen, SaveResultForm
from screens.modals import ConfirmAction
from screens.notebooks import NotebooksScreen
from tests.conftest import START
from widgets.key_bar import KeyBar
from widgets.result_table import ResultTable, sorted_rows

from .test_console import settle

START_DT = datetime.fromtimestamp(START, timezone.utc)
COLUMNS = (LinkisColumn(name="city", type="string"), LinkisColumn(name="orders", type="int"),
           LinkisColumn(name="amount", type="double"))
ROWS = (("深圳", "12", "1024.5"), ("Beijing", "3", None), ("上海", "101", "7.25"), ("Hangzhou", None, "99"))


def task(task_id: int, state: LinkisState = LinkisState.SUCCEED, *, minutes: float = 10, **kw) -> LinkisTask:
    kw.setdefault("engine", "spark-2.4.3")
    kw.setdefault("creator", "IDE")
    kw.setdefault("user", "mlss-admin")
    kw.setdefault("submit_user", kw["user"])
    kw.setdefault("run_type", "sql")
    kw.setdefault("code", f"select * from dw.orders where id = {task_id}")
    created = START_DT - timedelta(minutes=minutes)
    kw.setdefault("updated", created + timedelta(seconds=83) if state.done else None)
    return LinkisTask(task_id=task_id, exec_id=f"exec_id018030linkis-cg-entrance:9104IDE_mlss_{task_id}",
                      state=state, created=created, progress=1.0 if state == LinkisState.SUCCEED else 0.4, **kw)


def crafted_tasks() -> list[LinkisTask]:
    return [
        task(101, minutes=300, engine="hive-2.3.3", run_type="hql", code="select count(*) from ods.users"),
        task(102, LinkisState.FAILED, minutes=200, err_code=13005, err_desc="Spark app exits with code 1\nat ...",
             creator="LinkisMagic", user="heping"),
        task(103, LinkisState.RUNNING, minutes=3, user="heping", creator="LinkisMagic",
             stages=(LinkisStage(id="stage-3", succeed=5, running=2, total=10),)),
        task(104, LinkisState.SCHEDULED, minutes=1, engine="python-python2", run_type="python",
             code="print('hi')", startup={"wds.linkis.rm.yarnqueue": "root.ml"}),
        task(105, LinkisState.CANCELLED, minutes=50, engine="shell-1", run_type="shell", code="sleep 3600"),
        task(106, LinkisState.TIMEOUT, minutes=40, err_code=13011, err_desc="job timed out after 3600 s",
             user="\x1b[31mevil\x1b]0;pwned\x07"),
    ]


# ------------------------------------------------------------------------------------------ a gateway stand-in
class FakeLinkis:
    """The blocking LinkisSync methods the core uses, over jobs kept in memory. A job runs ``steps`` status
    polls (progress and a stage move, a log line each, one WARN), then succeeds with ``ROWS``; code with
    ``sleep`` runs until killed; code with ``fail`` fails with errCode 13005."""

    def __init__(self, user: str = "mlss-admin", steps: int = 3) -> None:
        self.user, self.name, self.steps = user, "fake-gateway:9001", steps
        self.jobs: dict[int, dict] = {}
        self.next_id = 900
        self.kills: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def submit(self, job: LinkisSubmit) -> tuple[int, str]:
        with self.lock:
            self.next_id += 1
            tid = self.next_id
            self.jobs[tid] = {"job": job, "polls": 0, "state": LinkisState.RUNNING, "log": [],
                              "exec": f"exec_{tid}"}
            return tid, f"exec_{tid}"

    def _job(self, task_id: int) -> dict:
        if task_id not in self.jobs:
            raise NotFound(f"no task {task_id}")
        return self.jobs[task_id]

    def status(self, exec_id: str, task_id: int) -> LinkisState:
        with self.lock:
            j = self._job(task_id)
            if j["state"] == LinkisState.RUNNING:
                j["polls"] += 1
                n = j["polls"]
                j["log"].append(f"2026-01-05 10:00:0{n % 10}.000 INFO  stage {n}: running tasks")
                if n == 2:
                    j["log"].append("2026-01-05 10:00:02.500 WARN  executor lost, retrying")
                code = j["job"].code
                if "sleep" not in code and n >= self.steps:
                    if "fail" in code:
                        j["state"] = LinkisState.FAILED
                        j["log"].append("2026-01-05 10:00:09.000 ERROR Table or view not found: nope")
                    else:
                        j["state"] = LinkisState.SUCCEED
            return j["state"]

    def progress(self, exec_id: str, task_id: int) -> tuple[float, list[LinkisStage]]:
        with self.lock:
            j = self._job(task_id)
            n = min(j["polls"], self.steps)
            return n / (self.steps + 1), [LinkisStage(id="stage-0", succeed=n, running=1, total=self.steps + 1)]

    def log(self, exec_id: str, from_line: int, size: int) -> LinkisLog:
        with self.lock:
            j = self._job(int(exec_id.rsplit("_", 1)[1]))
            lines = tuple(j["log"][from_line:from_line + size])
        return LinkisLog(all=lines, info=tuple(x for x in lines if " INFO " in x),
                         warn=tuple(x for x in lines if " WARN " in x), error=tuple(x for x in lines if " ERROR " in x),
                         from_line=from_line + len(lines))

    def kill(self, exec_id: str, task_id: int) -> str:
        with self.lock:
            self.kills.append((exec_id, task_id))
            self._job(task_id)["state"] = LinkisState.CANCELLED
        return "killed"

    def task(self, task_id: int) -> LinkisTask:
        with self.lock:
            j = self._job(task_id)
            job, state = j["job"], j["state"]
            return LinkisTask(task_id=task_id, exec_id=j["exec"], user=self.user, submit_user=self.user,
                              engine=job.engine.split("-")[0], creator=job.creator, run_type=job.run_type,
                              code=job.code, state=state, created=START_DT, updated=START_DT + timedelta(seconds=7),
                              err_code=13005 if state == LinkisState.FAILED else None,
                              err_desc="Table or view not found: nope" if state == LinkisState.FAILED else "",
                              result_location=f"hdfs:///tmp/linkis/{task_id}" if state == LinkisState.SUCCEED else "",
                              variables=dict(job.variables), startup=dict(job.startup))

    def task_log(self, t: LinkisTask) -> LinkisLog:
        return self.log(f"exec_{t.task_id}", 0, 10_000)

    def result_paths(self, t: LinkisTask, wait: float = 0) -> list[str]:
        return [f"hdfs:///tmp/linkis/{t.task_id}/_0.dolphin"] if t.result_location else []

    def result(self, path: str, page: int = 1, page_size: int = 5000) -> LinkisResultSet:
        return LinkisResultSet(path=path, type=2, columns=COLUMNS, rows=ROWS, total_lines=len(ROWS))


def wire(console, *, read_only: bool = False, fake: FakeLinkis | None = None, tasks: list | None = None):
    """A console app whose session has the fake gateway as its ``linkis`` and the Linkis actions registered."""
    from prophecis_tui.linkis_actions import linkis_actions
    app = console.app(read_only_contexts=("sim-admin",) if read_only else ())
    s = app.session
    fake = fake or FakeLinkis()
    s.linkis = fake
    s.linkis_poller = None
    s.linkis_note = ""
    s.actions.backends["linkis"] = fake
    for spec in linkis_actions(gateway="https://127.0.0.1:9001/linkis", state=s.state):
        s.actions.register(spec)
    s.state.set_linkis_tasks(crafted_tasks() if tasks is None else tasks)
    return app, fake


def screen_rows(app) -> list[str]:
    return app.screen.table.row_texts()


def summary(app) -> str:
    return str(app.screen.query_one("#summary").render())


def audit_rows(console, action: str) -> list:
    return [r for r in console.audit.records() if r.action == action]


async def open_linkis(app, pilot, rows: int = 6) -> None:
    await settle(pilot, lambda: app.screen is not None and len(app.screen_stack) >= 2)
    app.run_command("lk")
    await settle(pilot, lambda: isinstance(app.screen, LinkisScreen) and app.screen.table.row_count == rows)


# ------------------------------------------------------------------------------------------ functions
def test_filter_terms_and_free_text():
    tasks = crafted_tasks()

    def ids(text: str) -> list[int]:
        f = parse_task_filter(text)
        return [t.task_id for t in tasks if task_matches(t, f)]

    assert ids("") == [101, 102, 103, 104, 105, 106]
    assert ids("state:running") == [103]
    assert ids("state:failed,timeout") == [102, 106]
    assert ids("state:queued") == [104]
    assert ids("state:done engine:spark") == [102, 106]
    assert ids("engine:hive") == [101]
    assert ids("creator:linkismagic") == [102, 103]
    assert ids("user:heping state:running") == [103]
    assert ids("ods.users") == [101]
    assert ids("13005") == [102]
    assert ids("root.ml") == [104]
    assert ids('"Spark app exits"') == [102]
    assert parse_task_filter("state:bogus").problems and ids("state:bogus") == [101, 102, 103, 104, 105, 106]


def test_a_finished_task_that_did_not_succeed_shows_no_full_bar():
    """The job history says progress "1.0" for every finished job; a killed or failed one did not get to 100%."""
    for state in (LinkisState.CANCELLED, LinkisState.FAILED, LinkisState.TIMEOUT):
        bar = progress_bar(LinkisTask(task_id=1, state=state, progress=1.0)).plain
        assert "100%" not in bar and "█" not in bar and bar.rstrip().endswith("–")
    assert progress_bar(LinkisTask(task_id=1, state=LinkisState.FAILED, progress=0.4)).plain.endswith(" 40%")
    assert progress_bar(LinkisTask(task_id=1, state=LinkisState.SUCCEED, progress=0.0)).plain.endswith("100%")


@given(st.lists(st.one_of(st.integers(-10**30, 10**30).map(str),
                          st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
                          st.sampled_from(["NULL", "n/a", "", "-", "--5", "²", "1e3", "-0.0"])), max_size=40))
@settings(max_examples=200, deadline=None)
def test_numeric_sort_keys_order_numbers_by_value_then_the_rest(values):
    """Integers exactly, decimals by value (float keys), texts that are not numbers after them, NULLs last."""
    from decimal import Decimal
    from widgets.result_table import sort_value
    rows = [(v,) for v in values]
    got = [r[0] for r in sorted_rows(rows, 0, True, False)]
    nums = [v for v in got if sort_value(v, True)[0] == 0]
    assert nums == sorted(nums, key=Decimal)  # exact for integers; these floats have at most 9 digits
    kinds = [sort_value(v, True)[0] for v in got]
    assert kinds == sorted(kinds)  # numbers, then the rest, then NULL


def test_result_rows_sort_typed_with_nulls_last():
    assert [r[0] for r in sorted_rows(ROWS, 1, True, False)] == ["Beijing", "深圳", "上海", "Hangzhou"]
    assert [r[0] for r in sorted_rows(ROWS, 1, True, True)] == ["上海", "深圳", "Beijing", "Hangzhou"]
    assert [r[0] for r in sorted_rows(ROWS, 2, True, False)] == ["上海", "Hangzhou", "深圳", "Beijing"]


def test_form_helpers():
    assert parse_variables("a=1, b = two\nc=") == ({"a": "1", "b": "two", "c": ""}, [])
    assert parse_variables("oops")[1]
    assert [default_run_type(e) for e in ("spark-2.4.3", "hive-2.3.3", "python-python2", "shell-1")] == \
        ["sql", "hql", "python", "shell"]


# ------------------------------------------------------------------------------------------ the list
async def test_list_shows_tasks_newest_first_filters_and_counts(console):
    app, _ = wire(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_linkis(app, pilot)
        rows = screen_rows(app)
        assert [r.split()[0] for r in rows] == ["106", "105", "104", "103", "102", "101"]
        failed = next(r for r in rows if r.split()[0] == "102")
        assert "LinkisMagic" in failed and "Failed" in failed and "13005 Spark app exits with code 1" in failed
        running = next(r for r in rows if r.split()[0] == "103")
        assert "Running" in running and "40%" in running and "3m" in running
        assert "100%" in next(r for r in rows if r.split()[0] == "101")
        assert "1 running" in summary(app) and "1 failed" in summary(app) and "1 queued" in summary(app)
        evil = next(r for r in rows if r.split()[0] == "106")
        assert "\x1b" not in evil and "\x07" not in evil  # untrusted text sanitised
        await pilot.press("slash")
        await pilot.press(*"state:failed,timeout")
        await settle(pilot, lambda: app.screen.table.row_count == 2)
        assert [r.split()[0] for r in screen_rows(app)] == ["106", "102"]
        assert "2 of 6" in summary(app)
        app.screen.set_filter("engine:hive")
        await settle(pilot, lambda: [r.split()[0] for r in screen_rows(app)] == ["101"])
        app.screen.set_filter("state:nope")
        await settle(pilot, lambda: "not a state" in summary(app))


async def test_no_gateway_says_how_to_configure_one(console):
    app = console.app()
    app.session.linkis_note = "no Linkis gateway configured ([linkis] url)"
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, lambda: len(app.screen_stack) >= 2)
        app.run_command("linkis")
        await settle(pilot, lambda: isinstance(app.screen, LinkisScreen) and app.screen.loaded)
        await settle(pilot, lambda: "[linkis] url" in str(app.screen.query_one("#detail").render()))
        assert "no Linkis gateway" in summary(app)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, LinkisSubmitForm)


async def test_stale_health_is_shown(console):
    from prophecis_tui.domain import Health, SourceHealth
    app, _ = wire(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_linkis(app, pilot)
        app.session.state.set_health("linkis", SourceHealth(source="linkis", state=Health.STALE, since=START_DT,
                                                            reason="gateway answered 502"))
        await settle(pilot, lambda: "Linkis stale since" in summary(app) and "502" in summary(app))


# ------------------------------------------------------------------------------------------ submit, follow, result
async def test_submit_spark_sql_follow_it_to_succeed_and_see_its_result_table(console, tmp_path):
    app, fake = wire(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_linkis(app, pilot)
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, LinkisSubmitForm))
        form = app.screen
        assert form.query_one("#engine", Select).value == "spark-2.4.3"
        assert form.query_one("#run-type", Select).value == "sql"
        assert form.query_one("#creator", Input).value == "IDE"
        await pilot.press(*"select city, orders from dw.orders")
        form.query_one("#variables", Input).value = "dt=20260105"
        form.query_one("#queue", Input).value = "root.ml"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, LinkisTaskScreen), tries=500)
        detail = app.screen
        job = fake.jobs[detail.task_id]["job"]
        assert (job.engine, job.run_type, job.creator, job.code) == ("spark-2.4.3", "sql", "IDE",
                                                                      "select city, orders from dw.orders")
        assert job.variables == {"dt": "20260105"} and job.startup == {"wds.linkis.rm.yarnqueue": "root.ml"}
        # followed until it succeeds: the state's task, the log with its levels, the result
        await settle(pilot, lambda: app.session.state.linkis_task(detail.task_id) is not None
                     and app.session.state.linkis_task(detail.task_id).state == LinkisState.SUCCEED, tries=500)
        await settle(pilot, lambda: "Succeed" in str(detail.query_one("#task-header").render()))
        await pilot.press("2")
        await settle(pilot, lambda: detail.query_one(TabbedContent).active == "log"
                     and len(detail.view) >= 4, tries=300)
        assert any("executor lost" in t for t in detail.lines.visible_text())
        await pilot.press("v", "v")  # warnings and above
        await settle(pilot, lambda: len(detail.view) == 1)
        assert "warn and above" in str(detail.query_one("#log-status").render())
        await pilot.press("3")
        table = detail.query_one(ResultTable)
        await settle(pilot, lambda: table.row_count == 4, tries=300)
        assert table.page_texts()[0] == ["深圳", "12", "1024.5"]
        assert table.page_texts()[1][2] == "NULL"
        status = str(detail.query_one("#result-status").render())
        assert "3 columns" in status and "rows 1-4 of 4" in status
        # sort by the cursor's column (orders: numeric), again: reversed, NULL last both ways
        table.move_cursor(column=1)
        await pilot.press("o")
        assert [r[0] for r in table.page_texts()] == ["Beijing", "深圳", "上海", "Hangzhou"]
        await pilot.press("o")
        assert [r[0] for r in table.page_texts()] == ["上海", "深圳", "Beijing", "Hangzhou"]
        assert "sorted by orders ↓" in str(detail.query_one("#result-status").render())
        # save it as JSON through linkis.save_result
        out = tmp_path / "orders.json"
        await pilot.press("S")
        await settle(pilot, lambda: isinstance(app.screen, SaveResultForm))
        app.screen.query_one("#format", Select).value = "json"
        app.screen.query_one("#out", Input).value = str(out)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: out.exists() and out.stat().st_size > 0, tries=300)
        assert '"city": "深圳"' in out.read_text() and oct(out.stat().st_mode)[-3:] == "600"
        await settle(pilot, lambda: [r.outcome for r in audit_rows(console, "linkis.save_result")] == ["started", "ok"])
        submits = audit_rows(console, "linkis.submit")
        assert [r.outcome for r in submits] == ["started", "ok"]
        # back on the list the new task is there, selected
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, LinkisScreen)
                     and app.screen.table.current is not None
                     and app.screen.table.current.task.task_id == detail.task_id, tries=300)


async def test_form_refuses_what_the_registry_would(console):
    app, fake = wire(console)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_linkis(app, pilot)
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, LinkisSubmitForm))
        await pilot.press("ctrl+s")
        assert "the code is empty" in str(app.screen.query_one("#errors").render())
        await pilot.press(*"select 1")
        app.screen.query_one("#creator", Input).value = "bad creator!"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, LinkisSubmitForm) and "creator" in str(app.screen.query_one("#errors").render())
        app.screen.query_one("#engine", Select).value = "hive-2.3.3"
        await settle(pilot, lambda: app.screen.query_one("#run-type", Select).value == "hql")
        await pilot.press("escape")  # the code editor lets go of the focus (typed code is not lost to one key)
        await pilot.pause()
        assert isinstance(app.screen, LinkisSubmitForm)
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, LinkisScreen))
        assert not fake.jobs


async def test_resubmit_prefills_the_form_and_sends_the_same_job(console):
    app, fake = wire(console)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_linkis(app, pilot)
        app.screen.table.select_uid("104")
        await pilot.press("R")
        await settle(pilot, lambda: isinstance(app.screen, LinkisSubmitForm))
        form = app.screen
        assert form.query_one("#engine", Select).value == "python-python2"
        assert form.query_one("#code", TextArea).text == "print('hi')"
        assert form.query_one("#queue", Input).value == "root.ml"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))  # the registry confirms a re-submit
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, LinkisTaskScreen), tries=300)
        (job,) = [j["job"] for j in fake.jobs.values()]
        assert (job.engine, job.code, job.startup) == ("python-python2", "print('hi')",
                                                      {"wds.linkis.rm.yarnqueue": "root.ml"})
        assert [r.outcome for r in audit_rows(console, "linkis.resubmit")] == ["started", "ok"]


# ------------------------------------------------------------------------------------------ kill, read-only
async def test_kill_a_long_task_confirm_and_reason_then_cancelled_and_audited(console):
    fake = FakeLinkis()
    app, _ = wire(console, fake=fake, tasks=[])
    tid, exec_id = fake.submit(LinkisSubmit(code="sleep 3600", run_type="shell", engine="shell-1"))
    long = LinkisTask(task_id=tid, exec_id=exec_id, user="mlss-admin", engine="shell-1", creator="IDE",
                      run_type="shell", code="sleep 3600", state=LinkisState.RUNNING, created=START_DT)
    app.session.state.set_linkis_tasks([long])
    async with app.run_test(size=(120, 40)) as pilot:
        await open_linkis(app, pilot, rows=1)
        assert "Kill" in app.screen.query_one(KeyBar).plain
        await pilot.press("ctrl+k")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        assert f"/entrance/{exec_id}/kill?taskID={tid}" in app.screen.call
        assert app.screen.target == f"LinkisTask {tid}"  # not "LinkisTask//N"
        reason = app.screen.query_one("#reason", Input)
        assert "audit trail" in reason.placeholder and "events" not in reason.placeholder  # no Kubernetes Event
        assert not fake.kills  # nothing sent while asking
        await pilot.press("enter")  # no reason: refused by the dialog
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction) and not fake.kills
        await pilot.press(*"runaway job", "enter")
        await settle(pilot, lambda: fake.kills == [(exec_id, tid)], tries=300)
        await settle(pilot, lambda: [r.outcome for r in audit_rows(console, "linkis.kill")] == ["started", "ok"])
        assert audit_rows(console, "linkis.kill")[0].reason == "runaway job"
        app.screen.open_task(long)  # the detail's follow sees it end Cancelled
        await settle(pilot, lambda: app.session.state.linkis_task(tid).state == LinkisState.CANCELLED, tries=300)
        await settle(pilot, lambda: "Cancelled" in str(app.screen.query_one("#task-header").render()))
        assert "Kill" not in app.screen.query_one(KeyBar).plain


async def test_read_only_hides_and_refuses_submit_kill_resubmit(console):
    app, fake = wire(console, read_only=True)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_linkis(app, pilot)
        app.screen.table.select_uid("103")  # running: a kill would be offered
        await pilot.pause()
        keys = app.screen.query_one(KeyBar).plain
        assert "Submit" not in keys and "Kill" not in keys and "Re-submit" not in keys
        for key in ("s", "ctrl+k", "R"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, LinkisScreen)
        assert not fake.jobs and not fake.kills
        # the registry refuses too (the second lock), with an audit row
        from prophecis_tui.actions import Target
        from prophecis_tui.domain import ReadOnly
        try:
            app.session.actions.run("linkis.kill", Target("LinkisTask", "", "103"), params={"exec_id": "x"},
                                    reason="r", confirmed=True)
        except ReadOnly:
            pass
        else:
            raise AssertionError("read-only registry ran a kill")
        assert [r.outcome for r in audit_rows(console, "linkis.kill")] == ["refused"]


# ------------------------------------------------------------------------------------------ the notebook detail
async def test_notebook_detail_shows_its_users_linkis_tasks(console):
    app, _ = wire(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: len(app.screen_stack) >= 2)
        nb = sorted(app.session.state.notebooks(), key=lambda n: (n.namespace, n.name))[0]
        mine = [task(200 + i, LinkisState.SUCCEED if i % 2 else LinkisState.RUNNING, minutes=60 - i,
                     user=nb.user, creator="LinkisMagic") for i in range(7)]
        app.session.state.set_linkis_tasks(crafted_tasks() + mine)
        app.run_command("nb")
        await settle(pilot, lambda: isinstance(app.screen, NotebooksScreen) and app.screen.loaded
                     and app.screen.table.row_count > 0)
        app.screen.table.select_uid(nb.uid)
        await settle(pilot, lambda: f":linkis user:{nb.user}" in str(app.screen.query_one("#detail").render()))
        text = str(app.screen.query_one("#detail").render())
        assert "#206" in text and "#202" in text and "#201" not in text and "+2 more" in text


# ------------------------------------------------------------------------------------------ the simulated gateway
def moving(console, cond, step: float = 1.0):
    """``cond`` checked after moving the simulator's clock ``step`` seconds (its jobs are a function of time)."""
    def check() -> bool:
        console.thread.advance(step)
        return cond()
    return check


async def test_sim_submit_spark_sql_reaches_succeed_with_its_result_table(console):
    console.linkis = True
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: len(app.screen_stack) >= 2)
        app.run_command("linkis")
        await settle(pilot, lambda: isinstance(app.screen, LinkisScreen) and app.screen.table.row_count > 0)
        assert "LinkisMagic" in "\n".join(screen_rows(app))  # the notebook users' jobs in the seeded history
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, LinkisSubmitForm))
        await pilot.press(*"select city, amount from dw.orders limit 5")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, LinkisTaskScreen), tries=500)
        detail = app.screen
        state = app.session.state
        await settle(pilot, moving(console, lambda: state.linkis_task(detail.task_id) is not None
                                   and state.linkis_task(detail.task_id).state == LinkisState.SUCCEED), tries=500)
        await pilot.press("3")
        table = detail.query_one(ResultTable)
        await settle(pilot, moving(console, lambda: table.row_count == 5), tries=500)
        assert [str(c.label).split("\n")[0] for c in table.columns.values()] == ["city", "amount"]
        assert "double" in str(list(table.columns.values())[1].label)
        await pilot.press("2")
        await settle(pilot, lambda: len(detail.view) > 0)
        assert [r.outcome for r in audit_rows(console, "linkis.submit")] == ["started", "ok"]


async def test_sim_kill_a_long_job_confirm_reason_cancelled_audited(console):
    from prophecis_tui.actions import Target
    console.linkis = True
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: len(app.screen_stack) >= 2)
        r = app.session.actions.run("linkis.submit", Target("LinkisTask", "", "new"),
                                    params={"engine": "shell-1", "run_type": "shell", "creator": "IDE",
                                            "code": "echo start; sleep 3600"})
        tid = r.details["task_id"]
        app.run_command("lk")
        await settle(pilot, lambda: isinstance(app.screen, LinkisScreen) and app.screen.table.select_uid(str(tid)))
        state = app.session.state

        def is_(st: LinkisState) -> bool:  # a poll that began before the submit may leave it out for a round
            t = state.linkis_task(tid)
            return t is not None and t.state == st
        await settle(pilot, moving(console, lambda: is_(LinkisState.RUNNING)), tries=300)
        app.screen.table.select_uid(str(tid))
        await pilot.press("ctrl+k")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        assert "/kill?taskID=" in app.screen.call
        await pilot.press(*"runaway", "enter")
        await settle(pilot, moving(console, lambda: is_(LinkisState.CANCELLED)), tries=300)
        rows = audit_rows(console, "linkis.kill")
        assert [x.outcome for x in rows] == ["started", "ok"] and rows[0].reason == "runaway"
        await settle(pilot, lambda: "Cancelled" in next(x for x in screen_rows(app) if x.split()[0] == str(tid)))


async def test_sim_viewer_is_refused_by_the_gateway_with_its_error(console):
    console.linkis = True
    app = console.app("sim-viewer")
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: len(app.screen_stack) >= 2)
        app.run_command("linkis")
        await settle(pilot, lambda: isinstance(app.screen, LinkisScreen))
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, LinkisSubmitForm))
        await pilot.press(*"select 1")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: [x.outcome for x in audit_rows(console, "linkis.submit")] == ["started", "error"],
                     tries=300)
        assert "permission" in audit_rows(console, "linkis.submit")[1].message
        await settle(pilot, lambda: any("permission" in str(n.message) for n in app._notifications))
        assert isinstance(app.screen, LinkisScreen)


async def test_a_result_bigger_than_the_screen_holds_says_so():
    """The table holds the first MAX_SCREEN_ROWS rows of a huge result; its line says how many of how many, and
    that saving takes them all."""
    from textual.app import App

    class One(App):
        def compose(self):
            yield ResultTable(id="t")

    rs = LinkisResultSet(path="hdfs:///r/_0.dolphin", type=2, columns=(LinkisColumn(name="id", type="int"),),
                         rows=tuple((str(i),) for i in range(300)), total_lines=2_345_678)
    app = One()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ResultTable)
        table.show(rs)
        await pilot.pause()
        line = table.status().plain
        assert "rows 1-100 of 300" in line and "the first 300 of 2,345,678 rows" in line and "S saves" in line
        table.show(rs.model_copy(update={"total_lines": 300}))
        assert "first" not in table.status().plain


async def test_a_result_is_drawn_with_whole_cells_even_when_the_screen_updates_before_the_table_settles():
    """A screen update between the rows going in and the table's idle pass used to keep its lines as drawn then,
    each column as narrow as its header: every date cut to "2026" until the cursor moved (seen in loaded runs of
    the Linkis snapshot). Here that update is forced, then the table left to settle; a wider page then a
    narrower one (paging) each draw whole cells."""
    from textual.app import App

    class One(App):
        def compose(self):
            yield ResultTable(id="t")

    rs = LinkisResultSet(path="p", type=2, columns=(LinkisColumn(name="dt", type="date"),
                                                    LinkisColumn(name="cnt", type="bigint")),
                         rows=tuple((f"2026-11-{d % 28 + 1:02d}", str(1000 * d)) for d in range(150)), total_lines=150)
    app = One()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ResultTable)
        table.show(rs)
        table.render_line(2)  # drawn before the idle pass
        for _ in range(5):
            await pilot.pause(0.02)
        assert table.render_line(2).text.split()[:2] == ["2026-11-01", "0"]
        assert table.page(1)
        table.render_line(2)
        for _ in range(5):
            await pilot.pause(0.02)
        assert table.render_line(2).text.split()[:2] == ["2026-11-17", "100000"]


async def test_a_big_result_is_sorted_off_the_ui_thread_and_shown_when_done():
    """Over SORT_IN_THREAD rows the sort runs in a thread: the status says sorting…, the keys keep working, and
    the sorted first page shows when it is done; a result shown meanwhile is not overwritten by the old sort."""
    from textual.app import App
    from widgets.result_table import SORT_IN_THREAD

    class One(App):
        def compose(self):
            yield ResultTable(id="t")

    n = SORT_IN_THREAD + 5_000
    rs = LinkisResultSet(path="p", type=2, columns=(LinkisColumn(name="id", type="int"),
                                                    LinkisColumn(name="score", type="double")),
                         rows=tuple((str(i), f"{(i * 7919) % n / 10:.1f}") for i in range(n)), total_lines=n)
    app = One()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ResultTable)
        table.show(rs)
        await pilot.pause()
        table.move_cursor(column=1)
        table.sort_current()
        assert table.sorting and "sorting…" in table.status().plain  # not done on the UI thread
        await settle(pilot, lambda: not table.sorting, tries=500)
        assert table.page_texts()[0][1] == "0.0" and "sorted by score ↑" in table.status().plain
        table.sort_current()  # reversed, and a new result shown before it is done: the old sort is dropped
        small = rs.model_copy(update={"rows": rs.rows[:3], "total_lines": 3})
        table.show(small)
        await app.workers.wait_for_complete()  # the dropped sort has finished
        await pilot.pause()
        assert [r[0] for r in table.page_texts()] == ["0", "1", "2"] and not table.sorting

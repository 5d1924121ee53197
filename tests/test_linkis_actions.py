"""The Linkis actions (prophecis_tui.linkis_actions) through the one action registry: submit (checked before
anything is sent, the outcome line, the poller refreshed, the audit without the code or a secret), kill (the exact
call confirmed, a reason), re-submit, save a result; read-only refuses what changes the platform (audited, nothing
sent) and allows saving a result; Linkis's own refusal (the viewer) is one line with its error code."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from backends.base import Identity
from prophecis_tui.actions import Actions, NeedsConfirmation, NeedsReason, Target
from prophecis_tui.domain import (Forbidden, Invalid, LinkisColumn, LinkisError, LinkisResultSet, LinkisState,
                                  LinkisSubmit, ReadOnly)
from prophecis_tui.linkis_actions import linkis_actions, parse_variables
from prophecis_tui.state import State
from prophecis_tui.store import AuditLog
from tests.test_linkis_tasks import FakeLinkis, task

GATEWAY = "https://127.0.0.1:8443/linkis"
EXEC = "exec_id018017linkis-cg-entrance10.0.0.5:9104IDE_lihua_spark_3"
SQL = "select city, count(1) as n\nfrom dw.orders -- password=hunter2 in a comment stays out of the audit\ngroup by city"
FORM = {"engine": "spark-2.4.3", "run_type": "sql", "creator": "IDE", "code": SQL, "queue": "root.ml",
        "variables": {"dt": "20261129", "db_password": "s3cret!"}, "startup": {"spark.executor.instances": "2"}}
NEW = Target("LinkisTask", "", "new")


class Rig:
    def __init__(self, tmp, *, read_only: bool = False, linkis: bool = True) -> None:
        self.gw = FakeLinkis()
        self.gw.read_only = read_only
        self.audit = AuditLog(tmp / "data" / "audit.db")
        self.refreshed = 0
        self.state = State()
        self.actions = Actions(None, self.audit, Identity(context="sim-admin", cluster="sim", user="mlss-admin"),
                               read_only=read_only, backends={"linkis": self.gw} if linkis else {})
        for spec in linkis_actions(gateway=GATEWAY, refresh=self.refresh, state=self.state):
            self.actions.register(spec)

    def refresh(self) -> None:
        self.refreshed += 1

    def rows(self, action: str | None = None) -> list:
        return [r for r in self.audit.records() if action is None or r.action == action]

    def close(self) -> None:
        self.actions.close()
        self.audit.close()


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


@pytest.fixture
def ro(tmp_path):
    r = Rig(tmp_path, read_only=True)
    yield r
    r.close()


# ------------------------------------------------------------------------------------------ submit
def test_submit_sends_the_form_and_says_which_task(rig):
    res = rig.actions.run("linkis.submit", NEW, params=FORM)
    assert res.ok and res.message == "task 1001 submitted (spark-2.4.3, sql)"
    job, = rig.gw.submitted
    assert job == LinkisSubmit(code=SQL, run_type="sql", engine="spark-2.4.3", creator="IDE",
                               variables={"dt": "20261129", "db_password": "s3cret!"},
                               startup={"spark.executor.instances": "2", "wds.linkis.rm.yarnqueue": "root.ml"})
    assert res.details["task_id"] == 1001 and res.details["exec_id"].startswith("exec_id")
    assert rig.refreshed == 1  # the poller reads again: the task shows in the list at once
    t = rig.state.linkis_task(1001)
    assert t.state == LinkisState.INITED and t.engine == "spark-2.4.3" and t.queue == "root.ml"


def test_the_audit_keeps_a_summary_of_the_code_and_no_secret(rig):
    rig.actions.run("linkis.submit", NEW, params=FORM)
    before, after = rig.rows("linkis.submit")
    assert (before.phase, after.phase, after.outcome) == ("before", "after", "ok")
    p = after.params
    assert p["code_first_line"] == "select city, count(1) as n" and p["code_chars"] == len(SQL)
    assert p["code_sha256"] == hashlib.sha256(SQL.encode()).hexdigest()
    assert p["variables"] == {"dt": "20261129", "db_password": "****"}
    assert (p["engine"], p["run_type"], p["creator"], p["queue"]) == ("spark-2.4.3", "sql", "IDE", "root.ml")
    raw = b"".join(f.read_bytes() for f in rig.audit.path.parent.iterdir() if f.is_file())  # the db, its WAL
    assert b"s3cret!" not in raw and b"hunter2" not in raw and b"group by city" not in raw


def test_the_confirmation_shows_the_exact_call(rig):
    call = rig.actions.describe("linkis.submit", NEW, FORM)
    assert call.startswith(f"POST {GATEWAY}/api/rest_j/v1/entrance/submit engineType=spark-2.4.3 runType=sql "
                           "creator=IDE queue=root.ml")
    exec_call = rig.actions.describe("linkis.kill", Target("LinkisTask", "", "3"), {"exec_id": EXEC})
    assert exec_call == (f"GET {GATEWAY}/api/rest_j/v1/entrance/"
                         "exec_id018017linkis-cg-entrance10.0.0.5%3A9104IDE_lihua_spark_3/kill?taskID=3")


@pytest.mark.parametrize("change, says", [
    ({"engine": ""}, "choose an engine"),
    ({"engine": "spark"}, "write it as <engine>-<version>"),
    ({"run_type": "hql"}, "spark runs sql, scala, py, python, not hql"),
    ({"run_type": ""}, "choose a run type for spark-2.4.3 (sql, scala, py, python)"),
    ({"code": "  \n "}, "the code is empty"),
    ({"variables": {"1dt": "x"}}, "variable name '1dt'"),
    ({"variables": "dt=20261129\nno equals sign"}, "variable 2 ('no equals sign') is not name=value"),
    ({"queue": "root..ml"}, "a YARN queue such as root.ml"),
    ({"queue": "root.ml; rm -rf /"}, "a YARN queue such as root.ml"),
    ({"creator": "I D E"}, "creator 'I D E'"),
    ({"startup": {"spark executor": "2"}}, "is not a configuration key"),
])
def test_a_bad_form_is_refused_before_anything_is_sent(rig, change, says):
    with pytest.raises(Invalid) as err:
        rig.actions.run("linkis.submit", NEW, params={**FORM, **change})
    assert says in err.value.message
    assert rig.gw.submitted == [] and rig.refreshed == 0
    refused, = rig.rows()
    assert refused.outcome == "refused" and says in refused.message


def test_variables_as_lines_or_pairs():
    assert parse_variables("dt=20261129\ncity = 北京") == {"dt": "20261129", "city": "北京"}
    assert parse_variables(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    assert parse_variables("a=1, b=2") == {"a": "1", "b": "2"} and parse_variables(None) == {}


def test_linkis_own_refusal_is_one_line_with_its_code(rig):
    rig.gw.fail = LinkisError("Linkis 127.0.0.1:8443: error code(错误码): 11011, opsview has no permission to submit",
                              err_code=11011, linkis_status=1)
    res = rig.actions.run("linkis.submit", NEW, params=FORM)
    assert not res.ok and "11011" in res.message and "no permission" in res.message
    assert rig.rows()[-1].outcome == "error" and rig.refreshed == 0


def test_without_a_gateway_the_actions_say_so(tmp_path):
    r = Rig(tmp_path, linkis=False)
    try:
        assert r.actions.permission("linkis.submit", NEW).reason == "no linkis configured"
        with pytest.raises(Forbidden, match="no linkis configured"):
            r.actions.run("linkis.submit", NEW, params=FORM)
    finally:
        r.close()


# ------------------------------------------------------------------------------------------ kill
def test_kill_is_confirmed_needs_a_reason_and_sends_the_exec_id(rig):
    t = Target("LinkisTask", "", "3")
    with pytest.raises(NeedsConfirmation) as asked:
        rig.actions.run("linkis.kill", t, params={"exec_id": EXEC})
    assert asked.value.needs_reason and "entrance/exec_id018017linkis-cg-entrance10.0.0.5%3A9104" in asked.value.call
    with pytest.raises(NeedsReason):
        rig.actions.run("linkis.kill", t, params={"exec_id": EXEC}, confirmed=True)
    assert rig.gw.killed == []
    res = rig.actions.run("linkis.kill", t, params={"exec_id": EXEC}, confirmed=True,
                          reason="runaway join, OPS-4711")
    assert res.ok and res.message == "task 3: kill sent (Successfully killed the job(成功kill了job))"
    assert rig.gw.killed == [(EXEC, 3)] and rig.refreshed == 1
    after = rig.rows("linkis.kill")[-1]
    assert after.reason == "runaway join, OPS-4711" and after.target == "LinkisTask//3"


def test_kill_without_an_exec_id_is_refused(rig):
    with pytest.raises(Invalid, match="has no execID"):
        rig.actions.run("linkis.kill", Target("LinkisTask", "", "3"), params={"exec_id": ""}, confirmed=True,
                        reason="x")
    assert rig.gw.calls == []


# ------------------------------------------------------------------------------------------ resubmit
def test_resubmit_runs_the_old_code_again_with_the_engine_version(rig):
    old = task(7, variables={"dt": "20261128"}, startup={"wds.linkis.rm.yarnqueue": "root.ml"})
    rig.gw.add(old)
    t = Target("LinkisTask", "", "7")
    with pytest.raises(NeedsConfirmation):
        rig.actions.run("linkis.resubmit", t)
    # from the history (which names the engine without its version: the form's spark version is used)
    res = rig.actions.run("linkis.resubmit", t, confirmed=True)
    assert res.ok and res.message == "task 1001 submitted (spark-2.4.3, sql): task 7 again"
    job, = rig.gw.submitted
    assert (job.code, job.engine, job.variables, job.startup) == ("select 7", "spark-2.4.3", {"dt": "20261128"},
                                                                  {"wds.linkis.rm.yarnqueue": "root.ml"})
    # the screen's own copy of the task: no history read; the confirmation names the call
    rig.gw.calls.clear()
    call = rig.actions.describe("linkis.resubmit", t, {"task": old})
    assert call.startswith(f"POST {GATEWAY}/api/rest_j/v1/entrance/submit engineType=spark-2.4.3 runType=sql")
    assert rig.actions.run("linkis.resubmit", t, params={"task": old}, confirmed=True).ok
    assert [c[0] for c in rig.gw.calls] == ["submit"]
    assert rig.rows("linkis.resubmit")[-1].params["code_first_line"] == "select 7"


# ------------------------------------------------------------------------------------------ read-only
def test_read_only_refuses_submit_kill_and_resubmit_with_an_audit_row(ro):
    for action, target, params in (("linkis.submit", NEW, FORM),
                                   ("linkis.kill", Target("LinkisTask", "", "3"), {"exec_id": EXEC}),
                                   ("linkis.resubmit", Target("LinkisTask", "", "3"), {})):
        assert ro.actions.permission(action, target).reason == "read-only mode"
        with pytest.raises(ReadOnly):
            ro.actions.run(action, target, params=params, confirmed=True, reason="x")
    assert ro.gw.calls == []
    assert [(r.action, r.outcome) for r in ro.rows()] == [("linkis.submit", "refused"), ("linkis.kill", "refused"),
                                                          ("linkis.resubmit", "refused")]
    assert not any(b"s3cret!" in f.read_bytes() for f in ro.audit.path.parent.iterdir() if f.is_file())


def test_saving_a_result_is_allowed_read_only_and_audited(ro, tmp_path):
    rs = LinkisResultSet(path="hdfs:///tmp/linkis/lihua/9/_0.dolphin",
                         columns=(LinkisColumn(name="城市"), LinkisColumn(name="n", type="long")),
                         rows=(("北京", "3"), ("上海", None)))
    ro.gw.add(task(9), results={rs.path: rs})
    out = tmp_path / "exports" / "orders.json"
    t = Target("LinkisTask", "", "9")
    params = {"task_id": 9, "path": rs.path, "out": str(out), "format": "json"}
    assert ro.actions.permission("linkis.save_result", t).allowed
    res = ro.actions.run("linkis.save_result", t, params=params)
    assert res.ok and res.message == f"task 9: 2 rows saved to {out} (json)"
    assert json.loads(out.read_text(encoding="utf-8")) == [{"城市": "北京", "n": 3}, {"城市": "上海", "n": None}]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # a second save to the same file is refused, not overwritten; asked to overwrite, it is
    again = ro.actions.run("linkis.save_result", t, params={**params, "format": "csv"})
    assert not again.ok and "exists" in again.message and out.read_text(encoding="utf-8").startswith("[")
    assert ro.actions.run("linkis.save_result", t, params={**params, "format": "csv", "overwrite": True}).ok
    assert out.read_text(encoding="utf-8").splitlines() == ["城市,n", "北京,3", "上海,"]
    rows = ro.rows("linkis.save_result")
    assert [(r.phase, r.outcome) for r in rows] == [("before", "started"), ("after", "ok"), ("before", "started"),
                                                    ("after", "error"), ("before", "started"), ("after", "ok")]
    assert rows[0].params == {"task_id": "9", "path": rs.path, "out": str(out), "format": "json", "overwrite": False}


def test_saving_checks_its_format_and_file(rig):
    t = Target("LinkisTask", "", "9")
    with pytest.raises(Invalid, match="csv or json"):
        rig.actions.run("linkis.save_result", t, params={"path": "hdfs:///r/_0.dolphin", "out": "x", "format": "xlsx"})
    with pytest.raises(Invalid, match="no file name"):
        rig.actions.run("linkis.save_result", t, params={"path": "hdfs:///r/_0.dolphin", "out": " ", "format": "csv"})
    assert rig.gw.calls == []


# ------------------------------------------------------------------------------------------ the simulated gateway
from tests.test_linkis_tasks import sim  # noqa: F401  (the module's simulated gateway)


def registry(tmp, gw, *, read_only: bool = False, user: str = "mlss-admin") -> Actions:
    actions = Actions(None, AuditLog(tmp / "audit.db"), Identity(context="sim-admin", cluster="sim", user=user),
                      read_only=read_only, backends={"linkis": gw})
    for spec in linkis_actions(gateway="https://gw/linkis"):
        actions.register(spec)
    return actions


def test_submit_then_kill_a_long_job_on_the_simulated_gateway(sim, tmp_path):  # noqa: F811
    gw = sim.sync()
    actions = registry(tmp_path, gw)
    try:
        res = actions.run("linkis.submit", NEW, params={"engine": "spark-2.4.3", "run_type": "sql",
                                                       "code": "insert overwrite table dw.t select * from long_running"})
        assert res.ok, res.message
        task_id, exec_id = res.details["task_id"], res.details["exec_id"]
        sim.drive(lambda: gw.status(exec_id, task_id) == LinkisState.RUNNING, what="running")
        res = actions.run("linkis.kill", Target("LinkisTask", "", str(task_id)), params={"exec_id": exec_id},
                          confirmed=True, reason="runaway, OPS-4711")
        assert res.ok and res.message.startswith(f"task {task_id}: kill sent")
        sim.drive(lambda: gw.task(task_id).state == LinkisState.CANCELLED, what="cancelled")
    finally:
        actions.close()
        actions.audit.close()


def test_the_viewer_is_refused_by_linkis_with_its_error_code(sim, tmp_path):  # noqa: F811
    actions = registry(tmp_path, sim.sync("opsview"), user="opsview")
    try:
        res = actions.run("linkis.submit", NEW, params={"engine": "shell-1", "run_type": "shell", "code": "echo hi"})
        assert not res.ok and "13001" in res.message and "permission" in res.message.lower()
        assert actions.audit.records()[-1].outcome == "error"
    finally:
        actions.close()
        actions.audit.close()


def test_read_only_saves_a_result_and_refuses_a_submit_before_any_request(sim, tmp_path):  # noqa: F811
    gw = sim.sync(read_only=True)
    actions = registry(tmp_path, gw, read_only=True)
    try:
        with pytest.raises(ReadOnly):
            actions.run("linkis.submit", NEW, params={"engine": "shell-1", "run_type": "shell", "code": "echo hi"})
        with pytest.raises(ReadOnly):  # the second lock: the gateway client built read-only
            gw.submit(LinkisSubmit(code="echo hi", run_type="shell", engine="shell-1"))
        tasks, _ = gw.tasks(page=1, page_size=100, admin_view=True)
        done = next(t for t in tasks if t.state == LinkisState.SUCCEED and t.result_location)
        path = gw.result_paths(done, wait=0)[0]
        out = tmp_path / "out" / "result.csv"
        res = actions.run("linkis.save_result", Target("LinkisTask", "", str(done.task_id)),
                          params={"task_id": done.task_id, "path": path, "out": str(out), "format": "csv"})
        assert res.ok, res.message
        assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_text(encoding="utf-8").strip()
    finally:
        actions.close()
        actions.audit.close()

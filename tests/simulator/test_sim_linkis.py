"""The simulated Linkis gateway (under <server>/linkis): the contract of Linkis's code as a client meets it over
loopback TLS with raw httpx (never the project's client): both auth modes, the envelope and its HTTP codes, submit
(1.x and 0.x) through status, progress, incremental log and results for every engine, outcomes chosen by the code,
kill, job history, the filesystem API's permissions and "not written yet" answers, the faults, the viewer's refusals
and what --write-config tells the console."""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
import tomllib
from typing import Callable
from urllib.parse import quote

import httpx
import pytest

from prophecis_tui.simulator.linkis import ENTRANCE_KEEP, RESULT_DELAY, SESSION_TIMEOUT
from prophecis_tui.simulator.testing import SimThread
from tests.conftest import START

V1 = "/linkis/api/rest_j/v1"
EXEC_ID = re.compile(r"^exec_id018017linkis-cg-entrance\d+\.\d+\.\d+\.\d+:\d{4}(\w+)_([\w-]+)_(\w+)_(\d+)$")
NOT_LOGGED_IN = "You are not logged in, please login first(您尚未登录，请先登录)!"


class Gw:
    """A running simulator, its written config, and raw HTTP helpers for its Linkis gateway."""

    def __init__(self, t: SimThread, directory) -> None:
        self.t = t
        self.dir = directory
        t.write_config(directory)
        self.token = (directory / "linkis-token").read_text().strip()
        self.passwords = json.loads((directory / "linkis-passwords.json").read_text())
        self.ctx = ssl.create_default_context(cadata=t.sim.tls.ca_pem.decode())

    def client(self, user: str | None = None) -> httpx.Client:
        """A client with token headers for ``user`` (none: no credentials)."""
        headers = {"Token-Code": self.token, "Token-User": user} if user else {}
        return httpx.Client(base_url=self.t.url + V1, verify=self.ctx, timeout=30.0, headers=headers)

    def advance(self, seconds: float) -> None:
        self.t.advance(seconds)

    def until(self, cond: Callable[[], object], step: float = 1.0, limit: float = 600.0, what: str = "") -> object:
        """Move the simulated clock on in steps until ``cond()`` is truthy; its value."""
        spent = 0.0
        while True:
            got = cond()
            if got:
                return got
            assert spent < limit, f"{what or 'condition'} not within {limit} simulated seconds"
            self.advance(step)
            spent += step

    def faults(self, **settings) -> dict:
        r = httpx.post(self.t.url + "/sim/admin/faults", json=settings, verify=self.ctx,
                       headers={"Authorization": f"Bearer {self.t.token('admin')}"})
        assert r.status_code == 200, r.text
        return r.json()["faults"]


@pytest.fixture
def gw(tmp_path):
    with SimThread(scale="tiny", seed=7, speed=0.0, start_time=START) as t:
        yield Gw(t, tmp_path)


def submit(c: httpx.Client, code: str, engine: str = "spark-2.4.3", run_type: str = "sql", creator: str = "IDE",
           **extra) -> dict:
    user = c.headers.get("Token-User", "")
    body = {"executionContent": {"code": code, "runType": run_type},
            "params": {"variable": extra.pop("variables", {}),
                       "configuration": {"startup": extra.pop("startup", {}), "runtime": {}}},
            "labels": {"engineType": engine, "userCreator": f"{user}-{creator}", **extra.pop("labels", {})},
            **extra}
    r = c.post("/entrance/submit", json=body)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == 0 and d["method"] == "/api/entrance/submit"
    assert isinstance(d["data"]["taskID"], int) and EXEC_ID.match(d["data"]["execID"]), d
    return d["data"]


def job(c: httpx.Client, exec_id: str, what: str, **params) -> httpx.Response:
    return c.get(f"/entrance/{quote(exec_id, safe='')}/{what}", params=params)


def state(c: httpx.Client, exec_id: str) -> str:
    r = job(c, exec_id, "status")
    assert r.status_code == 200, r.text
    return r.json()["data"]["status"]


def task(c: httpx.Client, task_id: int) -> dict:
    r = c.get(f"/jobhistory/{task_id}/get")
    assert r.status_code == 200, r.text
    return r.json()["data"]["task"]


def assert_error(r: httpx.Response, http: int, code: int | None, *words: str) -> dict:
    assert r.status_code == http, r.text
    d = r.json()
    assert d["status"] == {401: -1, 400: 1, 412: 2, 403: 3}[http], d
    for w in words:
        assert w in d["message"], d
    if code is not None:
        assert d["message"].startswith(f"error code(错误码): {code}, error message(错误信息): "), d
        em = d["data"]["errorMsg"]
        assert em["errCode"] == code and set(em) == {"level", "errCode", "desc", "ip", "port", "serviceKind"}
        assert em["desc"] in d["message"]
    return d


def read_log(c: httpx.Client, exec_id: str, from_line: int, size: int = 100) -> tuple[list[str], int]:
    r = job(c, exec_id, "log", fromLine=from_line, size=size)
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert isinstance(d["log"], list) and len(d["log"]) == 4
    return d["log"], d["fromLine"]


def result_files(gw: Gw, c: httpx.Client, location: str) -> list[dict]:
    r = c.get("/filesystem/getDirFileTrees", params={"path": location})
    assert r.status_code == 200, r.text
    tree = r.json()["data"]["dirFileTrees"]
    return tree["children"] if tree else []


def open_file(c: httpx.Client, path: str, **params) -> dict:
    """openFile, retrying once on the 'not fully written' answer, as LinkisMagic does."""
    r = c.get("/filesystem/openFile", params={"path": path, **params})
    if r.status_code == 400 and "not fully written" in r.json()["message"]:
        r = c.get("/filesystem/openFile", params={"path": path, **params})
    assert r.status_code == 200, r.text
    return r.json()["data"]


# ------------------------------------------------------------------------------------------------ config and auth
def test_write_config_names_the_gateway_its_token_and_the_contexts_users(gw):
    cfg = tomllib.loads((gw.dir / "config.toml").read_text())
    assert cfg["linkis"] == {"url": gw.t.url + "/linkis", "user": "mlss-admin",
                             "token_file": str(gw.dir / "linkis-token"), "ca_file": str(gw.dir / "ca.crt")}
    assert cfg["contexts"]["sim-group-admin"]["linkis"] == {"user": "lihua"}
    assert cfg["contexts"]["sim-viewer"]["linkis"] == {"user": "opsview"}
    for name in ("linkis-token", "linkis-passwords.json"):
        assert stat.S_IMODE(os.stat(gw.dir / name).st_mode) == 0o600
    assert re.fullmatch(r"PROPHECIS-[0-9a-f]{24}", gw.token)
    assert {"mlss-admin", "lihua", "opsview"} <= set(gw.passwords)
    with gw.client("lihua") as c:
        r = c.get("/user/userInfo")
    assert r.status_code == 200 and r.json()["data"]["userName"] == "lihua"


def test_without_credentials_or_with_a_wrong_token_the_gateway_answers_401_status_minus_1(gw):
    with gw.client() as c:
        r = c.get("/jobhistory/list")
        d = assert_error(r, 401, None, NOT_LOGGED_IN)
        assert d["method"] == "/api/jobhistory/list"  # without rest_j/v1
        r = c.get("/jobhistory/list", headers={"Token-Code": "PROPHECIS-wrong", "Token-User": "lihua"})
        d = assert_error(r, 401, None, "Token Authentication Failed")
        assert "PROPHECIS-wrong" not in d["message"]  # the token is not echoed
        r = c.get("/jobhistory/list", headers={"Token-Code": gw.token, "Token-User": "nobody"})
        assert_error(r, 401, None, "Illegal TokenUser")
        assert gw.token not in r.text


def test_password_login_sets_the_session_cookie_heartbeat_logout(gw):
    with gw.client() as c:
        assert_error(c.post("/user/login", json={"userName": "lihua", "password": "nope"}), 400, None, "Login failed")
        assert_error(c.post("/user/login", json={"userName": "", "password": "x"}), 400, None, "Username can not")
        r = c.post("/user/login", json={"userName": "lihua", "password": gw.passwords["lihua"]})
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["status"] == 0 and d["data"]["userName"] == "lihua" and d["data"]["isAdmin"] is False
        assert d["data"]["sessionTimeOut"] == 7200000
        assert c.cookies.get("linkis_user_session_ticket_id_v1")
        again = c.post("/user/login", json={"userName": "lihua", "password": gw.passwords["lihua"]}).json()
        assert again["status"] == 0 and "already logged in" in again["message"]
        assert c.post("/user/heartbeat").json()["status"] == 0
        assert c.get("/user/userInfo").json()["data"]["userName"] == "lihua"
        assert c.get("/jobhistory/list").status_code == 200
        assert c.post("/user/logout").json()["status"] == 0
        c.cookies.clear()
        assert_error(c.get("/jobhistory/list"), 401, None, NOT_LOGGED_IN)


def test_an_idle_session_expires(gw):
    with gw.client() as c:
        c.post("/user/login", json={"userName": "mlss-admin", "password": gw.passwords["mlss-admin"]})
        assert c.get("/user/userInfo").json()["data"]["isAdmin"] is True
        gw.advance(SESSION_TIMEOUT - 60)
        assert c.post("/user/heartbeat").status_code == 200  # the heartbeat keeps it alive
        gw.advance(SESSION_TIMEOUT - 60)
        assert c.get("/user/userInfo").status_code == 200
        gw.advance(SESSION_TIMEOUT + 1)
        assert_error(c.get("/user/userInfo"), 401, None, NOT_LOGGED_IN)


def test_session_expiry_fault_forgets_sessions_and_refuses_the_next_request(gw):
    with gw.client() as c, gw.client("lihua") as tok:
        c.post("/user/login", json={"userName": "lihua", "password": gw.passwords["lihua"]})
        assert c.get("/user/userInfo").status_code == 200
        assert gw.faults(linkis_session_expiry=1)["linkis_session_expiry"] == 1
        assert_error(c.get("/user/userInfo"), 401, None, NOT_LOGGED_IN)
        assert_error(c.get("/user/userInfo"), 401, None, NOT_LOGGED_IN)  # the old cookie is forgotten
        r = c.post("/user/login", json={"userName": "lihua", "password": gw.passwords["lihua"]})
        assert r.json()["status"] == 0 and "already" not in r.json()["message"]  # a fresh login, not "already"
        assert c.get("/user/userInfo").status_code == 200
        gw.faults(linkis_session_expiry=1)
        assert_error(tok.get("/user/userInfo"), 401, None, NOT_LOGGED_IN)  # token calls too, once
        assert tok.get("/user/userInfo").status_code == 200


def test_error_fault_answers_5xx_and_latency_and_bad_settings_are_checked(gw):
    gw.faults(linkis_error=1.0)
    with gw.client("lihua") as c:
        codes = {c.get("/jobhistory/list").status_code for _ in range(12)}
    assert codes <= {500, 503} and codes
    gw.faults(linkis_error=0)
    with gw.client("lihua") as c:
        assert c.get("/jobhistory/list").status_code == 200
    r = httpx.post(gw.t.url + "/sim/admin/faults", json={"linkis_error": 1.5}, verify=gw.ctx,
                   headers={"Authorization": f"Bearer {gw.t.token('admin')}"})
    assert r.status_code == 400 and "linkis_error" in r.text


# ------------------------------------------------------------------------------------------------ submit validation
def test_submit_validation_errors_carry_linkis_error_codes(gw):
    with gw.client("lihua") as c:
        r = c.post("/entrance/submit", json={"executionContent": {"runType": "sql"},
                                            "labels": {"engineType": "spark-2.4.3"}})
        assert_error(r, 400, 20007, "Only code")
        r = c.post("/entrance/submit", json={"executionContent": {"code": "select 1", "runType": "sql"}, "labels": {}})
        assert_error(r, 400, 20001, "labels is null")
        r = c.post("/entrance/submit", json={"executionContent": {"code": "select 1", "runType": "sql"},
                                            "labels": {"userCreator": "lihua-IDE"}})
        assert_error(r, 400, 20001, "labels is null")
        r = c.post("/entrance/submit", json={"executionContent": {"code": "select 1", "runType": "sql"},
                                            "labels": {"engineType": "flink-1.12.2"}})
        assert_error(r, 400, 20002, "not supported")
        r = c.post("/entrance/submit", json={"executionContent": {"code": "select 1", "runType": "sql"},
                                            "labels": {"engineType": "shell-1"}})
        assert_error(r, 400, 20003, "runType sql")
        r = c.post("/entrance/submit", json={"executionContent": {"code": "select 1", "runType": "sql"},
                                            "labels": {"engineType": "spark-2.4.3"}, "executeUser": "wangwei"})
        assert_error(r, 400, 20009, "Illegal proxy user")
        assert c.get("/entrance/submit").json()["status"] == 1  # submit is POST only
    with gw.client("opsview") as c:
        r = c.post("/entrance/submit", json={"executionContent": {"code": "select 1", "runType": "sql"},
                                            "labels": {"engineType": "spark-2.4.3", "userCreator": "opsview-IDE"}})
        d = assert_error(r, 400, 13001, "no permission")
        assert d["data"]["errorMsg"]["serviceKind"] == "linkis-cg-entrance"
        assert c.get("/jobhistory/list").status_code == 200  # the viewer may still read


# ------------------------------------------------------------------------------------------------ the job's life
ENGINE_CASES = [
    ("spark-2.4.3", "sql", "select id, cust_name, amount, dt from dm.cust limit 25", "2", True),
    ("spark3-3.4.4", "sql", "select count(1) as c from dm.cust", "2", True),
    ("hive-2.3.3", "hql", "select dept, count(*) as cnt from ods.jobs group by dept limit 12", "2", True),
    ("python-python3", "python", "x = 21 * 2\nprint('answer ready')\nprint(x)", "1", False),
    ("shell-1", "shell", "echo 'hello from shell'\necho done", "1", False),
]


@pytest.mark.parametrize("engine,run_type,code,rtype,stages", ENGINE_CASES, ids=[c[0] for c in ENGINE_CASES])
def test_each_engine_runs_through_to_its_results(gw, engine, run_type, code, rtype, stages):
    with gw.client("lihua") as c:
        sub = submit(c, code, engine, run_type)
        eid, tid = sub["execID"], sub["taskID"]
        assert EXEC_ID.match(eid).group(1, 2) == ("IDE", "lihua")
        assert state(c, eid) == "Inited"
        r = job(c, eid, "progress")  # not produced yet: status 1 until the job runs
        assert_error(r, 400, None, "Can not get the corresponding progress information")
        seen = [state(c, eid)]
        lines: list[str] = []
        pos = 0
        progresses: list[float] = []
        stage_counts: list[int] = []
        while seen[-1] not in ("Succeed", "Failed", "Cancelled", "Timeout"):
            gw.advance(0.5)
            st = state(c, eid)
            if st != seen[-1]:
                seen.append(st)
            if st == "Running":
                p = job(c, eid, "progress").json()["data"]
                progresses.append(p["progress"])
                stage_counts.extend(s["succeedTasks"] for s in p["progressInfo"])
                assert all(s["succeedTasks"] + s["runningTasks"] <= s["totalTasks"] for s in p["progressInfo"])
            slots, nxt = read_log(c, eid, pos)
            assert nxt == pos + len(slots[3].splitlines())
            lines.extend(slots[3].splitlines())
            pos = nxt
            assert len(seen) < 10
        assert seen == ["Inited", "Scheduled", "Running", "Succeed"]
        assert progresses == sorted(progresses) and 0 <= progresses[0] < 1 and progresses[-1] < 1
        assert bool(stage_counts) == stages and (not stages or max(stage_counts) > 0)
        gw.advance(1)
        slots, nxt = read_log(c, eid, pos)
        lines.extend(slots[3].splitlines())
        # read incrementally, the log is the whole log: no line twice, none missing
        full, total = read_log(c, eid, 0, size=-1)
        assert lines == full[3].splitlines() and total == len(lines)
        assert len(set(lines)) == len(lines)
        assert "Your job is accepted" in lines[0] and "executed with status succeed" in full[2]
        assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (INFO|WARN|ERROR) ", ln) for ln in lines)
        assert full[0] == "" and full[1]  # no ERROR lines; some WARN
        done = job(c, eid, "progress").json()["data"]
        assert done["progress"] == 1.0
        assert job(c, eid, "progress", taskID=tid).json()["data"]["progress"] == "1.0"  # the taskID path: a string
        vo = task(c, tid)
        assert vo["status"] == "Succeed" and vo["taskID"] == tid and vo["execId"] == eid
        assert isinstance(vo["createdTime"], int) and vo["updatedTime"] >= vo["createdTime"] > 10 ** 12
        assert vo["engineType"] == engine.split("-")[0] and vo["requestApplicationName"] == "IDE"
        assert vo["errCode"] is None and vo["resultLocation"].startswith("hdfs:///tmp/linkis/lihua/")
        loc = vo["resultLocation"]
        assert result_files(gw, c, loc) == []  # dirFileTrees null: still being written
        assert c.get("/filesystem/getDirFileTrees", params={"path": loc}).json()["data"]["dirFileTrees"] is None
        gw.advance(RESULT_DELAY)
        files = result_files(gw, c, loc)
        assert [f["name"] for f in files] == ["_0.dolphin"] and files[0]["isLeaf"] is True
        first = c.get("/filesystem/openFile", params={"path": files[0]["path"]})  # just written: not yet
        assert_error(first, 400, 80032, "not fully written")
        data = open_file(c, files[0]["path"])
        assert data["type"] == rtype
        if rtype == "2":
            names = [m["columnName"] for m in data["metadata"]]
            assert names and all({"columnName", "comment", "dataType"} == set(m) for m in data["metadata"])
            assert all(len(row) == len(names) and all(isinstance(v, str) for v in row) for row in data["fileContent"])
            assert data["totalLine"] == len(data["fileContent"])
        else:
            text = [row[0] for row in data["fileContent"]]
            assert text == (["answer ready", "x = " + text[1].split(" = ")[1]] if engine.startswith("python")
                            else ["hello from shell", "done"])


def test_a_select_gives_a_typed_table_with_limit_paging_cjk_and_null(gw):
    with gw.client("lihua") as c:
        sub = submit(c, "select id, cust_name, city, amount, score, dt from dm.cust limit 2500")
        gw.until(lambda: state(c, sub["execID"]) == "Succeed", what="success")
        gw.advance(RESULT_DELAY + 20)  # long written: no "not fully written" answer
        path = result_files(gw, c, task(c, sub["taskID"])["resultLocation"])[0]["path"]
        p1 = open_file(c, path, page=1, pageSize=1000)
        p3 = open_file(c, path, page=3, pageSize=1000)
        assert p1["totalLine"] == 2500 and p1["totalPage"] == 3
        assert len(p1["fileContent"]) == 1000 and len(p3["fileContent"]) == 500
        types = {m["columnName"]: m["dataType"] for m in p1["metadata"]}
        assert types == {"id": "int", "cust_name": "string", "city": "string", "amount": "double", "score": "double",
                         "dt": "date"}
        rows = p1["fileContent"]
        assert rows[2][1] == "NULL" and any(re.search(r"[\u4e00-\u9fff]", r[1] or "") for r in rows)
        assert all(re.fullmatch(r"\d+", r[0]) and re.fullmatch(r"-?\d+\.\d+", r[3]) for r in rows)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", r[5]) for r in rows)
        assert open_file(c, path, page=1, pageSize=5, nullValue="")["fileContent"][2][1] == ""
        # two statements, two result sets; a non-query statement writes none
        sub = submit(c, "insert into dm.t select 1; select count(1) as c from dm.t; show tables")
        gw.until(lambda: state(c, sub["execID"]) == "Succeed", what="success")
        gw.advance(RESULT_DELAY)
        files = result_files(gw, c, task(c, sub["taskID"])["resultLocation"])
        assert [f["name"] for f in files] == ["_0.dolphin", "_1.dolphin"]
        agg = open_file(c, files[0]["path"])
        assert agg["metadata"] == [{"columnName": "c", "comment": "NULL", "dataType": "bigint"}]
        assert len(agg["fileContent"]) == 1


# ------------------------------------------------------------------------------------------------ outcomes
@pytest.mark.parametrize("engine,run_type,code,final,err_code,desc,in_log", [
    ("spark-2.4.3", "sql", "select * from dm.missing_table", "Failed", 40002, "Table or view not found",
     "AnalysisException"),
    ("hive-2.3.3", "hql", "select * from ods.not_exist_t", "Failed", 40000, "Table not found", "SemanticException"),
    ("spark-2.4.3", "sql", "select fail_me from dm.t", "Failed", 40001, "Job aborted due to stage failure",
     "SparkException"),
    ("python-python3", "python", "import os\nraise ValueError('x')", "Failed", 60003, "ValueError: x",
     "Traceback (most recent call last):"),
    ("shell-1", "shell", "echo start\nfail", "Failed", 60002, "exited with code 1", "command not found"),
    ("spark-2.4.3", "sql", "-- timeout\nselect * from dm.t", "Timeout", 21304, "timeout", "Job running timeout"),
], ids=["spark-table", "hive-table", "spark-fail", "python-raise", "shell-fail", "timeout"])
def test_the_code_decides_failures_with_error_codes_and_error_log(gw, engine, run_type, code, final, err_code, desc,
                                                                  in_log):
    with gw.client("lihua") as c:
        sub = submit(c, code, engine, run_type)
        gw.until(lambda: state(c, sub["execID"]) not in ("Inited", "Scheduled", "Running"), what="the end")
        assert state(c, sub["execID"]) == final
        vo = task(c, sub["taskID"])
        assert vo["status"] == final and vo["errCode"] == err_code and desc in vo["errDesc"]
        assert vo["resultLocation"] is None
        slots, _ = read_log(c, sub["execID"], 0, size=-1)
        assert in_log in slots[0] and f"Task is {final}" in slots[0]  # the ERROR slot
        assert in_log in slots[3]


def test_sleep_and_job_running_timeout_label_set_the_running_time(gw):
    with gw.client("lihua") as c:
        slow = submit(c, "import time\ntime.sleep(120)\nprint('ok')", "python-python3", "python")
        capped = submit(c, "select 1; -- sleep 300", labels={"jobRunningTimeout": "60"})
        gw.advance(100)
        assert state(c, slow["execID"]) == "Running" and state(c, capped["execID"]) == "Timeout"
        gw.until(lambda: state(c, slow["execID"]) == "Succeed", what="the sleep's end")
        assert 120 <= (task(c, slow["taskID"])["requestSpendTime"]) / 1000 <= 125


def test_a_busy_queue_keeps_jobs_scheduled_longer(gw):
    with gw.client("lihua") as c:
        first = submit(c, "select 1")
        gw.advance(4)
        quick = state(c, first["execID"])
        many = [submit(c, f"select {i}") for i in range(8)]
        gw.advance(4)
        states = [state(c, s["execID"]) for s in many]
    assert quick == "Running"
    assert states.count("Scheduled") >= 4  # queued behind the others


# ------------------------------------------------------------------------------------------------ kill
def test_kill_by_the_owner_or_the_admin_only_and_not_twice(gw):
    with gw.client("mlss-admin") as admin, gw.client("lihua") as lihua, gw.client("opsview") as viewer:
        a = submit(admin, "-- long_running backfill\nselect * from dw.t")
        b = submit(lihua, "select long_running_flag, x from dw.t")  # a long-running job of lihua's
        gw.until(lambda: state(admin, a["execID"]) == state(lihua, b["execID"]) == "Running", what="running")
        r = job(lihua, a["execID"], "kill")
        assert r.json()["status"] == 1 and "no permission" in r.json()["message"]
        r = job(viewer, b["execID"], "kill")
        assert_error(r, 400, 13001, "no permission")
        assert c_post_kill_refused(lihua, b["execID"])
        r = job(lihua, b["execID"], "kill")
        assert r.status_code == 200 and r.json()["status"] == 0 and "Successfully killed" in r.json()["message"]
        assert state(lihua, b["execID"]) == "Cancelled"
        r = job(admin, a["execID"], "kill", taskID=a["taskID"])
        assert r.json()["status"] == 0
        assert state(admin, a["execID"]) == "Cancelled" and task(admin, a["taskID"])["status"] == "Cancelled"
        assert_error(job(lihua, b["execID"], "kill"), 400, None, "already completed")
        gw.advance(1)
        slots, _ = read_log(lihua, b["execID"], 0, size=-1)
        assert "killed by user lihua" in slots[1]


def c_post_kill_refused(c: httpx.Client, exec_id: str) -> bool:
    """Kill is GET in Linkis's code: a POST is refused and kills nothing."""
    r = c.post(f"/entrance/{quote(exec_id, safe='')}/kill")
    return r.json()["status"] == 1 and state(c, exec_id) == "Running"


def test_force_kill_by_task_id_when_the_exec_id_is_not_in_memory(gw):
    with gw.client("lihua") as c:
        s = submit(c, "select 1 -- long_running")
        wrong = s["execID"].replace("10.107.12.34:9104", "10.107.12.35:9104")
        r = job(c, wrong, "kill", taskID=s["taskID"])
        assert r.json()["status"] == 0 and "Forced Kill" in r.json()["message"]
        assert task(c, s["taskID"])["status"] == "Cancelled"
        assert job(c, wrong, "kill").json()["status"] == 1  # nothing to find, no taskID


# ------------------------------------------------------------------------------------------------ after the entrance
def test_a_finished_job_leaves_the_entrance_then_history_and_open_log_answer(gw):
    with gw.client("lihua") as c:
        s = submit(c, "select * from dm.missing_x")
        gw.until(lambda: state(c, s["execID"]) == "Failed", what="failure")
        gw.advance(ENTRANCE_KEEP + 1)
        assert_error(job(c, s["execID"], "log"), 400, None, "The job you just executed has ended")
        assert_error(job(c, s["execID"], "status"), 400, None, "job is empty")
        assert job(c, s["execID"], "status", taskID=s["taskID"]).json()["data"]["status"] == "Failed"
        assert job(c, s["execID"], "progress", taskID=s["taskID"]).json()["data"]["progress"] == "1.0"
        vo = task(c, s["taskID"])
        r = c.get("/filesystem/openLog", params={"path": vo["logPath"]})
        assert r.status_code == 200, r.text
        log = r.json()["data"]["log"]
        assert len(log) == 4 and "Table or view not found" in log[0] and log[0] in log[3] or \
            all(ln in log[3] for ln in log[0].splitlines())
        only = c.get("/filesystem/openLog", params={"path": vo["logPath"], "logLevel": "error"}).json()["data"]["log"]
        assert only[0] == log[0] and only[2] == ""


def test_distinct_level_false_gives_one_string(gw):
    with gw.client("lihua") as c:
        s = submit(c, "select 1")
        gw.advance(3)
        r = job(c, s["execID"], "log", fromLine=0, size=50, distinctLevel="false")
        d = r.json()["data"]
        assert isinstance(d["log"], str) and "Your job is accepted" in d["log"] and d["fromLine"] > 0


# ------------------------------------------------------------------------------------------------ history
def test_history_is_seeded_per_user_and_the_admin_sees_everyone(gw):
    with gw.client("mlss-admin") as admin, gw.client("lihua") as lihua:
        mine = lihua.get("/jobhistory/list", params={"pageSize": 100}).json()["data"]
        assert mine["totalPage"] == len(mine["tasks"]) > 0  # totalPage is the total count
        assert {t["executeUser"] for t in mine["tasks"]} == {"lihua"}
        every = admin.get("/jobhistory/list", params={"isAdminView": "true", "pageSize": 100}).json()["data"]
        assert every["totalPage"] >= 36
        creators = {t["requestApplicationName"] for t in every["tasks"]}
        assert {"IDE", "LinkisMagic"} <= creators
        users = {t["executeUser"] for t in every["tasks"]}
        assert users - {"mlss-admin", "lihua"}  # the notebook users' LinkisMagic jobs
        assert {t["status"] for t in every["tasks"]} >= {"Succeed", "Failed", "Running"}
        created = [t["createdTime"] for t in every["tasks"]]
        assert created == sorted(created, reverse=True)
        now_ms = int(START * 1000)
        assert all(now_ms - 3 * 86400_000 - 1 <= c <= now_ms for c in created)
        # filters: creator, engine, status, dates, pages
        magic = admin.get("/jobhistory/list", params={"isAdminView": "true", "creator": "LinkisMagic",
                                                      "pageSize": 100}).json()["data"]["tasks"]
        assert magic and {t["requestApplicationName"] for t in magic} == {"LinkisMagic"}
        hive = admin.get("/jobhistory/list", params={"isAdminView": "true", "executeApplicationName": "hive",
                                                     "pageSize": 100}).json()["data"]["tasks"]
        assert {t["engineType"] for t in hive} <= {"hive"}
        day = admin.get("/jobhistory/list", params={"isAdminView": "true", "startDate": now_ms - 86400_000,
                                                    "endDate": now_ms, "pageSize": 100}).json()["data"]
        assert all(t["createdTime"] >= now_ms - 86400_000 for t in day["tasks"]) and day["totalPage"] < \
            every["totalPage"]
        p2 = admin.get("/jobhistory/list", params={"isAdminView": "true", "pageNow": 2, "pageSize": 5}).json()["data"]
        assert [t["taskID"] for t in p2["tasks"]] == [t["taskID"] for t in every["tasks"][5:10]]
        # without isAdminView even the admin sees only its own
        own = admin.get("/jobhistory/list", params={"pageSize": 100}).json()["data"]["tasks"]
        assert {t["executeUser"] for t in own} <= {"mlss-admin"}
        undone = admin.get("/jobhistory/listundonetasks", params={"isAdminView": "true"}).json()["data"]["tasks"]
        assert len(undone) == 2 and {t["status"] for t in undone} == {"Running"}
        # a running seeded job is a live one: status, log and kill by its execID
        run = next(t for t in undone if t["executeUser"] == "mlss-admin")
        assert state(admin, run["execId"]) == "Running"
        assert read_log(admin, run["execId"], 0)[1] > 0
        other = next(t for t in every["tasks"] if t["executeUser"] not in ("lihua",))
        r = lihua.get(f"/jobhistory/{other['taskID']}/get")
        assert r.json()["status"] == 1  # not hers


def test_the_history_is_deterministic_under_the_seed(tmp_path):
    def tasks(d) -> list[tuple]:
        with SimThread(scale="tiny", seed=7, speed=0.0, start_time=START) as t:
            g = Gw(t, d)
            with g.client("mlss-admin") as c:
                got = c.get("/jobhistory/list", params={"isAdminView": "true", "pageSize": 100}).json()["data"]
        return [(x["taskID"], x["executeUser"], x["status"], x["executionCode"], x["createdTime"])
                for x in got["tasks"]]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert tasks(tmp_path / "a") == tasks(tmp_path / "b")


def test_paths_are_the_users_own_unless_admin(gw):
    with gw.client("mlss-admin") as admin, gw.client("lihua") as lihua:
        s = submit(admin, "select 1 as n")
        gw.until(lambda: state(admin, s["execID"]) == "Succeed", what="success")
        gw.advance(RESULT_DELAY + 20)
        vo = task(admin, s["taskID"])
        assert_error(lihua.get("/filesystem/getDirFileTrees", params={"path": vo["resultLocation"]}), 400, 80010,
                     "no permission")
        assert_error(lihua.get("/filesystem/openLog", params={"path": vo["logPath"]}), 400, 80010)
        mine = submit(lihua, "select 2 as n")
        gw.until(lambda: state(lihua, mine["execID"]) == "Succeed", what="success")
        gw.advance(RESULT_DELAY + 20)
        path = result_files(gw, lihua, task(lihua, mine["taskID"])["resultLocation"])[0]["path"]
        assert open_file(admin, path)["fileContent"] == [["2"]]  # the admin reads anyone's results


# ------------------------------------------------------------------------------------------------ 0.x execute
def test_legacy_execute_runs_a_job(gw):
    with gw.client("lihua") as c:
        r = c.post("/entrance/execute", json={
            "executeApplicationName": "hive", "requestApplicationName": "IDE", "executionCode": "show tables",
            "runType": "hql", "params": {"variable": {"dt": "20261128"}, "configuration": {"startup": {}}},
            "source": {"scriptPath": "file:///tmp/lihua/q.hql"}})
        assert r.status_code == 200, r.text
        d = r.json()["data"]
        assert EXEC_ID.match(d["execID"]) and isinstance(d["taskID"], int)
        gw.until(lambda: state(c, d["execID"]) == "Succeed", what="success")
        vo = task(c, d["taskID"])
        assert vo["engineType"] == "hive" and "engineType:hive-2.3.3" in vo["labels"]
        assert json.loads(vo["paramsJson"])["variable"] == {"dt": "20261128"}
        assert_error(c.post("/entrance/execute", json={"executeApplicationName": "hive"}), 400, 20007)
        assert_error(c.post("/entrance/execute", json={"executeApplicationName": "flink", "executionCode": "x"}),
                     400, 20002)


def test_the_log_read_across_a_kill_has_no_line_twice_and_none_missing(gw):
    with gw.client("lihua") as c:
        s = submit(c, "select cust_id, sum(amount) as amount from dw.t group by cust_id -- long_running")
        got: list[str] = []
        pos = 0
        for _ in range(40):  # into the run: stage and heartbeat lines written over time
            gw.advance(30)
            slots, pos2 = read_log(c, s["execID"], pos)
            got.extend(slots[3].splitlines())
            pos = pos2
        p = job(c, s["execID"], "progressWithResource").json()["data"]
        assert 0 < p["progress"] < 1 and p["yarnMetrics"]["yarnResource"][0]["jobStatus"] == "RUNNING"
        assert job(c, s["execID"], "kill").json()["status"] == 0
        slots, pos = read_log(c, s["execID"], pos)
        got.extend(slots[3].splitlines())
        full, total = read_log(c, s["execID"], 0, size=-1)
        assert got == full[3].splitlines() and total == pos
        assert any("killed by user lihua" in ln for ln in got[-4:])
        done = job(c, s["execID"], "progress").json()["data"]
        assert done["progress"] == 1.0
        assert all(st["runningTasks"] == 0 for st in done["progressInfo"])


def test_a_job_killed_while_queued_is_cancelled_and_never_runs(gw):
    with gw.client("lihua") as c:
        s = submit(c, "select 1")
        assert state(c, s["execID"]) == "Inited"
        assert job(c, s["execID"], "kill").json()["status"] == 0
        gw.advance(60)
        assert state(c, s["execID"]) == "Cancelled"
        vo = task(c, s["taskID"])
        assert vo["status"] == "Cancelled" and vo["resultLocation"] is None and vo["engineStartTime"] is None
        slots, _ = read_log(c, s["execID"], 0, size=-1)
        assert "Running now" not in slots[3] and "killed by user lihua" in slots[1]


def test_jobs_follow_the_running_clock_at_its_speed(tmp_path):
    from tests.conftest import wait_until
    with SimThread(scale="tiny", seed=7, speed=50.0, start_time=START) as t:
        g = Gw(t, tmp_path)
        with g.client("lihua") as c:
            s = submit(c, "select 1 as n; -- sleep 100")  # 100 simulated seconds: about 2 real ones
            wait_until(lambda: state(c, s["execID"]) == "Succeed", timeout=30, what="the job's end")


def test_the_gateway_keeps_a_bounded_number_of_jobs(gw):
    from prophecis_tui.simulator.linkis import MAX_JOBS
    lg = gw.t.sim.api.linkis

    def many() -> int:
        for i in range(MAX_JOBS + 50):
            lg.create(user="lihua", submit_user="lihua", creator="IDE", engine="shell", version="1", run_type="shell",
                      code=f"echo {i}")
        return len(lg.jobs)
    assert gw.t.call(many) > MAX_JOBS  # unfinished jobs are all kept
    gw.advance(3600)
    with gw.client("lihua") as c:
        submit(c, "select 1")
    assert gw.t.call(lambda: (len(lg.jobs), len(lg.by_exec), len(lg.by_location))) == (MAX_JOBS,) * 3

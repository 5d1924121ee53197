"""The console's Linkis client (backends.linkis).

- Without a server (httpx's MockTransport): what goes on the wire (the 1.x submit body and the 0.x execute one,
  the execID URL-encoded in every path, kill a GET, the token headers, the login and its cookie), the answers
  Linkis's code gives (progress "1.0" and "not produced yet", the 4-slot log and a single string, epoch-ms history
  rows, result trees null then written, "not fully written"), one re-login for many callers, read-only, and how
  each failure reads (never a secret).
- Against the simulator's Linkis gateway over loopback (https, its CA; the config ``--write-config`` writes):
  see the second half.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backends.base import LinkisBackend
from backends.linkis import SESSION_COOKIE, Linkis, LinkisSync
from prophecis_tui.domain import (Forbidden, Invalid, LinkisError, LinkisState, LinkisSubmit, NotFound, ReadOnly,
                                  Timeout, Unauthorized, Unavailable)
from prophecis_tui.simulator.testing import SimThread
from tests.conftest import START, wait_until

TOKEN = "PROPHECIS-0a1b2c3d4e5f6789"
PASSWORD = "pw-Secr3t-lihua"
EXEC = "exec_id018017linkis-cg-entrance10.0.0.5:9104IDE_lihua_spark_0"
GW = "http://gw.example:9001"


def ok(data=None, message="OK") -> httpx.Response:
    return httpx.Response(200, json={"method": "/api/x", "status": 0, "message": message, "data": data or {}})


def err(status: int, message: str, http: int = 400, code: int | None = None) -> httpx.Response:
    data = {"errorMsg": {"level": 2, "errCode": code, "desc": message}} if code is not None else {}
    return httpx.Response(http, json={"method": "/api/x", "status": status, "message": message, "data": data})


class Gateway:
    """A MockTransport answering ``routes[(method, path after /api/rest_j/v1)]`` (a Response or a callable of the
    request); it keeps every request. Password logins set the session cookie."""

    def __init__(self, routes: dict | None = None) -> None:
        self.routes = routes or {}
        self.requests: list[httpx.Request] = []
        self.logins = 0
        self.session = ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.raw_path.decode().split("?", 1)[0].removeprefix("/api/rest_j/v1")
        if (request.method, path) == ("POST", "/user/login") and ("POST", path) not in self.routes:
            self.logins += 1
            self.session = f"ticket-{self.logins}"
            return httpx.Response(200, json={"status": 0, "message": "login successful(登录成功)！",
                                             "data": {"userName": "lihua"}},
                                  headers={"Set-Cookie": f"{SESSION_COOKIE}={self.session}; Path=/"})
        answer = self.routes.get((request.method, path))
        if answer is None:
            return httpx.Response(404, text="<html>no route</html>")
        return answer(request) if callable(answer) else answer

    def client(self, **kw) -> Linkis:
        kw.setdefault("user", "lihua")
        if "password" not in kw:
            kw.setdefault("token", TOKEN)
        return Linkis(kw.pop("url", GW), transport=httpx.MockTransport(self), **kw)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.raw_path.decode().removeprefix('/api/rest_j/v1')}" for r in self.requests]


def run(coro):
    return asyncio.run(coro)


async def using(client: Linkis, fn):
    try:
        return await fn(client)
    finally:
        await client.aclose()


JOB = LinkisSubmit(code="select count(1) from ods.txn where dt='${dt}'", run_type="sql", engine="spark-2.4.3",
                   creator="IDE", variables={"dt": "20261129"}, startup={"wds.linkis.rm.yarnqueue": "root.ml",
                                                                      "spark.executor.instances": "2"},
                   script_path="file:///home/lihua/q.sql")


# ------------------------------------------------------------------------------------------ what goes on the wire
def test_submit_sends_the_1x_body_with_the_token_headers():
    gw = Gateway({("POST", "/entrance/submit"): ok({"execID": EXEC, "taskID": 1946923})})
    linkis = gw.client()
    backend: LinkisBackend = linkis
    assert (backend.name, backend.user, backend.read_only) == ("gw.example:9001", "lihua", False)
    assert run(using(linkis, lambda c: c.submit(JOB))) == (1946923, EXEC)
    [req] = gw.requests
    assert req.headers["Token-Code"] == TOKEN and req.headers["Token-User"] == "lihua"
    assert json.loads(req.content) == {
        "executionContent": {"code": JOB.code, "runType": "sql"},
        "params": {"variable": {"dt": "20261129"},
                   "configuration": {"startup": {"wds.linkis.rm.yarnqueue": "root.ml", "spark.executor.instances": "2"},
                                     "runtime": {}, "special": {}}},
        "labels": {"engineType": "spark-2.4.3", "userCreator": "lihua-IDE"},
        "source": {"scriptPath": "file:///home/lihua/q.sql"}}


def test_legacy_mode_uses_the_0x_execute_call():
    gw = Gateway({("POST", "/entrance/execute"): ok({"execID": "030418IDEhivegw:9104IDE_lihua_21", "taskID": "21"})})
    job = JOB.model_copy(update={"engine": "hive-2.3.3", "run_type": "hql", "creator": "LinkisMagic"})
    assert run(using(gw.client(legacy=True), lambda c: c.submit(job))) == (21, "030418IDEhivegw:9104IDE_lihua_21")
    body = json.loads(gw.requests[0].content)
    assert body["executeApplicationName"] == "hive" and body["requestApplicationName"] == "LinkisMagic"
    assert body["executionCode"] == JOB.code and body["runType"] == "hql"
    assert body["params"]["variable"] == {"dt": "20261129"} and "executionContent" not in body


def test_the_exec_id_is_url_encoded_in_every_job_path_and_kill_is_a_get():
    gw = Gateway({
        ("GET", f"/entrance/{EXEC.replace(':', '%3A')}/status"): ok({"status": "Running", "execID": EXEC}),
        ("GET", f"/entrance/{EXEC.replace(':', '%3A')}/progress"): ok({"progress": 0.42, "progressInfo": [
            {"id": "jobId-1(linkis-spark-mix-code-1946923)", "succeedTasks": 4, "failedTasks": 0, "runningTasks": 1,
             "totalTasks": 6}]}),
        ("GET", f"/entrance/{EXEC.replace(':', '%3A')}/log"): ok({"log": ["", "", "a INFO x\n", "a INFO x\n"],
                                                                   "fromLine": 1}),
        ("GET", f"/entrance/{EXEC.replace(':', '%3A')}/kill"): ok({"execID": EXEC},
                                                                   "Successfully killed the job(成功kill了job)"),
    })

    async def calls(c: Linkis):
        return (await c.status(EXEC, 7), await c.progress(EXEC), await c.log(EXEC, 0, 50), await c.kill(EXEC, 7))
    state, (frac, stages), log, said = run(using(gw.client(), calls))
    assert state is LinkisState.RUNNING and frac == 0.42
    assert [(s.id, s.succeed, s.running, s.total) for s in stages] == [
        ("jobId-1(linkis-spark-mix-code-1946923)", 4, 1, 6)]
    assert log.all == ("a INFO x",) and log.from_line == 1
    assert said == "Successfully killed the job(成功kill了job)"
    assert [r.method for r in gw.requests] == ["GET"] * 4
    assert parse_qs(urlsplit(str(gw.requests[0].url)).query) == {"taskID": ["7"]}
    assert parse_qs(urlsplit(str(gw.requests[2].url)).query) == {"fromLine": ["0"], "size": ["50"]}
    assert all("%3A9104" in r.url.raw_path.decode() for r in gw.requests)


def test_progress_as_linkis_gives_it():
    answers = iter([ok({"progress": "1.0"}), err(1, "Can not get the corresponding progress information(无法获取进度)"),
                    ok({"progress": None}), ok({"progress": 7})])
    gw = Gateway({("GET", "/entrance/e/progress"): lambda req: next(answers)})

    async def four(c: Linkis):
        return [(await c.progress("e"))[0] for _ in range(4)]
    assert run(using(gw.client(), four)) == [1.0, 0.0, 0.0, 1.0]


def test_a_status_word_linkis_does_not_have_is_unknown():
    gw = Gateway({("GET", "/entrance/e/status"): ok({"status": "FAILED"})})
    assert run(using(gw.client(), lambda c: c.status("e"))) is LinkisState.UNKNOWN


def test_the_log_4_slots_and_a_single_string():
    slots = ["2026-11-29 10:00:03 ERROR boom\n", "2026-11-29 10:00:02 WARN slow\n",
             "2026-11-29 10:00:01 INFO start\n2026-11-29 10:00:04 INFO end\n",
             "2026-11-29 10:00:01 INFO start\n2026-11-29 10:00:02 WARN slow\n2026-11-29 10:00:03 ERROR boom\n"
             "2026-11-29 10:00:04 INFO end\n"]
    answers = iter([ok({"log": slots, "fromLine": 4}),
                    ok({"log": "2026-11-29 10:00:05 INFO more\n2026-11-29 10:00:06 ERROR again", "fromLine": 6}),
                    ok({"log": ["", "", "", ""], "fromLine": 6})])
    gw = Gateway({("GET", "/entrance/e/log"): lambda req: next(answers)})

    async def follow(c: Linkis):
        a = await c.log("e", 0)
        b = await c.log("e", a.from_line)
        return a, b, await c.log("e", b.from_line)
    a, b, c = run(using(gw.client(), follow))
    assert a.error == ("2026-11-29 10:00:03 ERROR boom",) and a.warn == ("2026-11-29 10:00:02 WARN slow",)
    assert len(a.info) == 2 and len(a.all) == 4 and a.from_line == 4
    assert b.all == ("2026-11-29 10:00:05 INFO more", "2026-11-29 10:00:06 ERROR again") and b.from_line == 6
    assert b.error == ("2026-11-29 10:00:06 ERROR again",) and b.info == ("2026-11-29 10:00:05 INFO more",)
    assert c.all == () and c.from_line == 6
    assert [parse_qs(urlsplit(str(r.url)).query)["fromLine"] for r in gw.requests] == [["0"], ["4"], ["6"]]


def test_a_log_after_the_job_left_the_entrance_is_not_found_and_the_task_log_reads_the_file():
    row = {"taskID": 9, "execId": "e", "status": "Succeed", "logPath": "hdfs:///logs/9.log"}
    gw = Gateway({
        ("GET", "/entrance/e/log"): err(1, "The job you just executed has ended. This interface no longer provides "
                                           "a query(您刚刚执行的job已经结束)", code=10000),
        ("GET", "/jobhistory/9/get"): ok({"task": row}),
        ("GET", "/filesystem/openLog"): ok({"log": ["", "", "x INFO one\nx INFO two\n", "x INFO one\nx INFO two\n"]}),
    })

    async def go(c: Linkis):
        with pytest.raises(NotFound) as gone:
            await c.log("e", 12)
        task = await c.task(9)
        return gone.value, await c.task_log(task)
    gone, log = run(using(gw.client(), go))
    assert gone.err_code == 10000 and "has ended" in str(gone)
    assert log.all == ("x INFO one", "x INFO two") and log.from_line == 2
    assert parse_qs(urlsplit(str(gw.requests[-1].url)).query) == {"path": ["hdfs:///logs/9.log"]}


HISTORY_ROW = {
    "taskID": 1946923, "instance": "10.0.0.5:9104", "execId": EXEC, "umUser": "lihua", "executeUser": "lihua",
    "executionCode": "select 1", "progress": "1.0", "logPath": "hdfs:///tmp/linkis/log/1946923.log",
    "resultLocation": "hdfs:///tmp/linkis/lihua/1946923", "status": "Failed", "createdTime": 1796032800000,
    "updatedTime": 1796032861500, "engineType": "spark", "errCode": 21304,
    "errDesc": "Task is Failed,errorMsg: Table or view not found: ods.txn", "requestApplicationName": "IDE",
    "runType": "sql", "costTime": 61500, "labels": ["engineType:spark-2.4.3", "userCreator:lihua-IDE"],
    "paramsJson": json.dumps({"variable": {"dt": "20261129"},
                              "configuration": {"startup": {"wds.linkis.rm.yarnqueue": "root.ml"}}})}


def test_job_history_rows_read_as_the_console_shows_them():
    gw = Gateway({("GET", "/jobhistory/list"): ok({"tasks": [
        dict(HISTORY_ROW, taskID=5, status="Running", progress=0.3, labels=None, engineType="hive"),
        HISTORY_ROW, {"taskID": "not a number"}, "junk"], "totalPage": 112})})
    start = datetime(2026, 11, 22, tzinfo=timezone.utc)
    tasks, total = run(using(gw.client(), lambda c: c.tasks(start=start, status="Failed", creator="IDE",
                                                            page=2, page_size=20, admin_view=True)))
    assert total == 112 and [t.task_id for t in tasks] == [1946923, 5]  # newest first; unreadable rows skipped
    t = tasks[0]
    assert (t.state, t.engine, t.creator, t.user, t.run_type, t.err_code) == (
        LinkisState.FAILED, "spark-2.4.3", "IDE", "lihua", "sql", 21304)
    assert t.created == datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    assert t.duration(datetime.now(timezone.utc)) == 61.5 and t.cost_ms == 61500 and t.progress == 1.0
    assert t.variables == {"dt": "20261129"} and t.queue == "root.ml" and t.gateway == "gw.example:9001"
    assert (tasks[1].engine, tasks[1].progress, tasks[1].state) == ("hive", 0.3, LinkisState.RUNNING)
    q = parse_qs(urlsplit(str(gw.requests[0].url)).query)
    assert q == {"pageNow": ["2"], "pageSize": ["20"], "startDate": [str(int(start.timestamp() * 1000))],
                 "status": ["Failed"], "creator": ["IDE"], "isAdminView": ["true"]}


def test_a_task_that_is_not_there():
    gw = Gateway({("GET", "/jobhistory/77/get"): ok({"task": None})})
    with pytest.raises(NotFound, match="no task 77"):
        run(using(gw.client(), lambda c: c.task(77)))


def test_result_paths_wait_while_the_tree_is_null_and_come_in_order():
    trees = iter([ok({"dirFileTrees": None}), ok({"dirFileTrees": None}), ok({"dirFileTrees": {
        "name": "1946923", "path": "hdfs:///r/1946923", "isLeaf": False, "children": [
            {"name": f"_{i}.dolphin", "path": f"hdfs:///r/1946923/_{i}.dolphin", "isLeaf": True}
            for i in (10, 2, 0, 1)]}})])
    gw = Gateway({("GET", "/filesystem/getDirFileTrees"): lambda req: next(trees)})
    task = run(_task())
    paths = run(using(gw.client(), lambda c: c.result_paths(task, wait=30)))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["_0.dolphin", "_1.dolphin", "_2.dolphin", "_10.dolphin"]
    assert len(gw.requests) == 3


def test_result_paths_give_up_after_wait():
    gw = Gateway({("GET", "/filesystem/getDirFileTrees"): ok({"dirFileTrees": None})})
    task = run(_task())
    assert run(using(gw.client(), lambda c: c.result_paths(task, wait=0.3))) == []
    assert len(gw.requests) >= 2


async def _task():
    from backends.linkis import parse_task
    return parse_task(HISTORY_ROW)


def test_a_table_result_page_and_a_text_one():
    answers = iter([
        err(1, "The result set file is not fully written yet(结果集文件尚未写完)"),
        ok({"metadata": [{"columnName": "dt", "comment": "NULL", "dataType": "string"},
                         {"columnName": "n", "comment": "rows", "dataType": "long"}],
            "fileContent": [["20261129", "28"], ["20261130", None]], "type": "2", "totalLine": 2, "page": 1,
            "totalPage": 0}),
        ok({"metadata": "NULL", "fileContent": [["hello"], ["world"]], "type": "1", "totalLine": 2, "page": 1,
            "totalPage": 1}),
    ])
    gw = Gateway({("GET", "/filesystem/openFile"): lambda req: next(answers)})

    async def two(c: Linkis):
        return await c.result("hdfs:///r/_0.dolphin", page_size=100), await c.result("hdfs:///r/_1.dolphin")
    table, text = run(using(gw.client(), two))
    assert [(c.name, c.type, c.comment) for c in table.columns] == [("dt", "string", "NULL"), ("n", "long", "rows")]
    assert table.rows == (("20261129", "28"), ("20261130", None)) and table.type == 2
    assert (table.total_lines, table.page, table.total_pages) == (2, 1, 1)
    assert (text.type, text.text, text.columns) == (1, "hello\nworld", ())
    q = parse_qs(urlsplit(str(gw.requests[0].url)).query)
    assert q == {"path": ["hdfs:///r/_0.dolphin"], "page": ["1"], "pageSize": ["100"]}
    assert len(gw.requests) == 3  # the "not fully written" one asked again


def test_a_result_linkis_refuses_is_not_asked_again():
    gw = Gateway({("GET", "/filesystem/openFile"): err(1, "User x has no permission to access the path(用户没有权限访问该路径)",
                                                        code=80010)})
    with pytest.raises(Forbidden) as got:
        run(using(gw.client(), lambda c: c.result("hdfs:///r/other/_0.dolphin")))
    assert got.value.err_code == 80010 and len(gw.requests) == 1


# ------------------------------------------------------------------------------------------ sessions
def test_password_login_before_the_first_call_keeps_the_cookie():
    seen = []

    def status(req):
        seen.append(req.headers.get("Cookie", ""))
        return ok({"status": "Succeed"})
    gw = Gateway({("GET", "/entrance/e/status"): status})
    linkis = gw.client(password=PASSWORD)

    async def two(c: Linkis):
        return await c.status("e"), await c.status("e")
    assert run(using(linkis, two)) == (LinkisState.SUCCEED, LinkisState.SUCCEED)
    assert gw.paths()[0] == "POST /user/login" and gw.logins == 1
    assert json.loads(gw.requests[0].content) == {"userName": "lihua", "password": PASSWORD}
    assert seen == [f"{SESSION_COOKIE}=ticket-1"] * 2
    assert "Token-Code" not in gw.requests[1].headers


def test_an_expired_session_is_logged_in_again_once_and_the_call_asked_again():
    expired = {"on": True}

    def status(req):
        if expired["on"] or req.headers.get("Cookie") != f"{SESSION_COOKIE}={gw.session}":
            expired["on"] = False
            return err(-1, "You are not logged in, please login first(您尚未登录，请先登录)!", http=401)
        return ok({"status": "Running"})
    gw = Gateway({("GET", "/entrance/e/status"): status})
    assert run(using(gw.client(password=PASSWORD), lambda c: c.status("e"))) is LinkisState.RUNNING
    assert gw.paths() == ["POST /user/login", "GET /entrance/e/status", "POST /user/login", "GET /entrance/e/status"]


def test_a_session_that_stays_expired_is_unauthorized_after_one_retry():
    gw = Gateway({("GET", "/entrance/e/status"): err(-1, "You are not logged in", http=401)})
    with pytest.raises(Unauthorized):
        run(using(gw.client(password=PASSWORD), lambda c: c.status("e")))
    assert gw.logins == 2 and len(gw.requests) == 4


def test_many_callers_meeting_an_expiry_log_in_once():
    def status(req):
        if req.headers.get("Cookie") != f"{SESSION_COOKIE}={gw.session}" or gw.session == "ticket-1":
            return err(-1, "You are not logged in", http=401)
        return ok({"status": "Running"})
    gw = Gateway({("GET", "/entrance/e/status"): status})

    async def many(c: Linkis):
        await c.login()
        return await asyncio.gather(*(c.status("e") for _ in range(8)))
    assert run(using(gw.client(password=PASSWORD), many)) == [LinkisState.RUNNING] * 8
    assert gw.logins == 2  # the first, and one re-login for the eight


def test_token_mode_does_not_log_in_and_a_401_is_unauthorized():
    gw = Gateway({("GET", "/entrance/e/status"): err(
        -1, f"Token Authentication Failed, token: {TOKEN}, tokenUser: lihua, reason: illegal token", http=401)})
    with pytest.raises(Unauthorized) as got:
        run(using(gw.client(), lambda c: c.status("e")))
    assert gw.logins == 0 and len(gw.requests) == 1
    assert TOKEN not in str(got.value) and "gw.example:9001" in str(got.value) and "lihua" in str(got.value)


def test_a_refused_login_is_unauthorized_without_the_password():
    gw = Gateway({("POST", "/user/login"): err(1, f"Password {PASSWORD} is wrong(密码错误)", code=11002)})
    with pytest.raises(Unauthorized) as got:
        run(using(gw.client(password=PASSWORD), lambda c: c.status("e")))
    assert PASSWORD not in str(got.value) and "login as lihua refused" in str(got.value)
    assert got.value.err_code == 11002


def test_read_only_refuses_submit_and_kill_before_any_request():
    gw = Gateway()
    linkis = gw.client(read_only=True)

    async def both(c: Linkis):
        for call in (lambda: c.submit(JOB), lambda: c.kill(EXEC, 7)):
            with pytest.raises(ReadOnly):
                await call()
    run(using(linkis, both))
    assert gw.requests == []


def test_secrets_never_in_a_repr():
    for kw in ({"token": TOKEN}, {"password": PASSWORD}):
        linkis = Gateway().client(**kw)
        sync = LinkisSync(linkis)
        try:
            for text in (repr(linkis), str(linkis), repr(sync), str(sync)):
                assert TOKEN not in text and PASSWORD not in text
        finally:
            sync.close()


def test_construction_needs_a_url_a_user_and_a_credential():
    with pytest.raises(ValueError):
        Linkis("gw:9001", user="x", token="t")
    with pytest.raises(ValueError):
        Linkis(GW, user="", token="t")
    with pytest.raises(ValueError, match="neither a token nor a password"):
        Linkis(GW, user="x")
    assert Linkis(GW + "/api/rest_j/v1/", user="x", token="t").base == GW + "/api/rest_j/v1"


# ------------------------------------------------------------------------------------------ failures
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_gateway_not_there_is_unavailable_naming_it():
    port = _closed_port()
    linkis = Linkis(f"http://127.0.0.1:{port}/linkis", user="lihua", token=TOKEN, timeout=2)
    with pytest.raises(Unavailable) as got:
        run(using(linkis, lambda c: c.status(EXEC)))
    text = str(got.value)
    assert f"127.0.0.1:{port}/linkis" in text and "cannot connect" in text and TOKEN not in text


def test_no_answer_in_time_is_a_timeout():
    def slow(req):
        raise httpx.ReadTimeout("timed out", request=req)
    gw = Gateway({("GET", "/jobhistory/1/get"): slow})
    with pytest.raises(Timeout, match=r"gw\.example:9001.*no answer in 3 s"):
        run(using(gw.client(timeout=3), lambda c: c.task(1)))


@pytest.mark.parametrize("answer, cls", [
    (httpx.Response(502, text="<html>Bad Gateway</html>"), Unavailable),
    (httpx.Response(302, headers={"Location": "https://sso.example/login?ticket=abc"}), Unavailable),
    (err(3, "auth failed(认证失败)", http=403), Forbidden),
    (err(2, "validation failed: code is empty", http=412), Invalid),
    (err(1, "error code(错误码): 20001, error message(错误信息): labels is null", code=20001), LinkisError),
])
def test_failures_are_typed_one_line_errors(answer, cls):
    gw = Gateway({("POST", "/entrance/submit"): answer})
    with pytest.raises(cls) as got:
        run(using(gw.client(), lambda c: c.submit(JOB)))
    text = str(got.value)
    assert text.startswith("Linkis gw.example:9001 POST /entrance/submit") and "\n" not in text
    assert "ticket=abc" not in text and TOKEN not in text
    if cls is LinkisError:
        assert got.value.err_code == 20001 and got.value.linkis_status == 1


# ------------------------------------------------------------------------------------------ LinkisSync
def test_linkis_sync_from_several_threads():
    def status(req):
        return ok({"status": "Running" if req.url.path.endswith("/a/status") else "Succeed"})
    gw = Gateway({("GET", "/entrance/a/status"): status, ("GET", "/entrance/b/status"): status})
    sync = LinkisSync(gw.client(password=PASSWORD))
    results: dict[str, list] = {"a": [], "b": []}

    def worker(x: str) -> None:
        for _ in range(20):
            results[x].append(sync.status(x))
    threads = [threading.Thread(target=worker, args=(x,)) for x in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    sync.close()
    assert results == {"a": [LinkisState.RUNNING] * 20, "b": [LinkisState.SUCCEED] * 20}
    assert gw.logins == 1  # one lazy login for both threads
    assert not sync._thread.is_alive()
    with pytest.raises(Unavailable, match="closed"):
        sync.status("a")
    sync.close()  # twice is fine


def test_closing_linkis_sync_ends_a_call_still_waiting():
    gw = Gateway({("GET", "/filesystem/getDirFileTrees"): ok({"dirFileTrees": None})})
    sync = LinkisSync(gw.client())
    task = run(_task())
    out: list = []

    def wait_for_results() -> None:
        try:
            out.append(sync.result_paths(task, wait=120))
        except Exception as e:  # noqa: BLE001 (what the caller gets is the point)
            out.append(e)
    t = threading.Thread(target=wait_for_results)
    t.start()
    wait_until(lambda: len(gw.requests) >= 2, what="result_paths asking again")
    sync.close()
    t.join(10)
    assert not t.is_alive() and isinstance(out[0], Unavailable) and "closed" in str(out[0])
    assert not sync._thread.is_alive()


def test_linkis_sync_refuses_in_read_only_before_the_loop():
    gw = Gateway()
    sync = LinkisSync(gw.client(read_only=True))
    try:
        with pytest.raises(ReadOnly):
            sync.submit(JOB)
        with pytest.raises(ReadOnly):
            sync.kill(EXEC)
        assert sync.read_only and gw.requests == []
    finally:
        sync.close()


# ================================================================================= the simulator's gateway
# A module's simulator (frozen clock: jobs move when a test advances it), the files its --write-config writes
# (DIR/linkis-token, DIR/linkis-passwords.json, DIR/ca.crt) and its gateway URL <server>/linkis.


class Sim:
    def __init__(self, thread: SimThread, directory: Path) -> None:
        self.thread = thread
        self.url = thread.url + "/linkis"
        self.ca = str(directory / "ca.crt")
        self.token = (directory / "linkis-token").read_text().strip()
        self.passwords = json.loads((directory / "linkis-passwords.json").read_text())
        self.open: list[LinkisSync] = []

    def sync(self, user: str = "mlss-admin", auth: str = "token", **kw) -> LinkisSync:
        secret = {"token": self.token} if auth == "token" else {"password": self.passwords[user]}
        s = LinkisSync(Linkis(self.url, user=user, ca_file=self.ca, timeout=10, **secret, **kw))
        self.open.append(s)
        return s

    def advance(self, seconds: float) -> None:
        self.thread.advance(seconds)

    def faults(self, **kw) -> None:
        self.thread.call(self.thread.sim.faults.update, kw)

    def jobs(self) -> int:
        return self.thread.call(lambda: len(self.thread.sim.api.linkis.jobs))

    def until(self, cond: Callable[[], object], step: float = 1.0, limit: float = 600.0) -> None:
        """Move simulated time on in ``step``s until ``cond()`` holds (at most ``limit`` simulated seconds)."""
        moved = 0.0
        while not cond():
            assert moved < limit, f"not within {limit} simulated seconds"
            self.advance(step)
            moved += step


@pytest.fixture(scope="module")
def sim_thread(tmp_path_factory) -> Iterator[tuple[SimThread, Path]]:
    d = tmp_path_factory.mktemp("linkis-sim")
    with SimThread(scale="tiny", seed=7, speed=0.0, start_time=START) as t:
        t.write_config(d)
        yield t, d


@pytest.fixture
def sim(sim_thread) -> Iterator[Sim]:
    s = Sim(*sim_thread)
    yield s
    s.faults(linkis_session_expiry=0, linkis_error=0.0, linkis_latency_ms=0.0)
    for c in s.open:
        c.close()


def _run_to_end(sim: Sim, c: LinkisSync, job: LinkisSubmit) -> tuple[int, str, LinkisState]:
    tid, eid = c.submit(job)
    states = []
    sim.until(lambda: states.append(c.status(eid, tid)) or states[-1].done)
    return tid, eid, states[-1]


def test_the_files_write_config_writes_are_owner_only(sim_thread):
    _, d = sim_thread
    for name in ("linkis-token", "linkis-passwords.json"):
        assert (d / name).stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("auth", ["token", "password"])
def test_both_auth_modes_submit_and_read_history(sim, auth):
    c = sim.sync("lihua", auth)
    c.heartbeat()
    tid, eid = c.submit(LinkisSubmit(code="select 1 as one", run_type="sql", engine="spark-2.4.3"))
    assert tid > 0 and eid.startswith("exec_id018") and ":" in eid
    task = c.task(tid)
    assert (task.task_id, task.user, task.creator, task.engine, task.code) == (tid, "lihua", "IDE", "spark-2.4.3",
                                                                                  "select 1 as one")
    assert task.created is not None and task.created.tzinfo is not None
    tasks, total = c.tasks(page_size=200)
    assert tid in [t.task_id for t in tasks] and all(t.user == "lihua" for t in tasks) and total >= 1


def test_a_wrong_password_or_token_is_unauthorized_without_the_secret(sim):
    bad = LinkisSync(Linkis(sim.url, user="lihua", password="not-the-password", ca_file=sim.ca))
    bad_token = LinkisSync(Linkis(sim.url, user="lihua", token=sim.token + "x", ca_file=sim.ca))
    sim.open += [bad, bad_token]
    with pytest.raises(Unauthorized, match="login as lihua refused") as got:
        bad.tasks()
    assert "not-the-password" not in str(got.value)
    with pytest.raises(Unauthorized) as got:
        bad_token.tasks()
    assert sim.token not in str(got.value) and "Token Authentication Failed" in str(got.value)


ENGINE_JOBS = [
    ("spark-2.4.3", "sql", "select dt, count(1) as cnt from ods.txn group by dt", 2),
    ("hive-2.3.3", "hql", "select dept, count(*) as cnt from ods.mlss_jobs group by dept", 2),
    ("python-python2", "python", "print('hello from python')\nprint(6 * 7)", 1),
    ("shell-1", "shell", "echo 'hdfs quota ok'", 1),
]


@pytest.mark.parametrize("engine, run_type, code, kind", ENGINE_JOBS, ids=[e[0] for e in ENGINE_JOBS])
def test_submit_through_to_results_for_each_engine(sim, engine, run_type, code, kind):
    c = sim.sync("lihua", "password")
    tid, eid, state = _run_to_end(sim, c, LinkisSubmit(code=code, run_type=run_type, engine=engine,
                                                       startup={"wds.linkis.rm.yarnqueue": "root.ml"}))
    assert state is LinkisState.SUCCEED
    frac, _ = c.progress(eid, tid)
    assert frac == 1.0
    sim.advance(5)  # past the few seconds its result directory is being written
    task = c.task(tid)
    assert task.state is LinkisState.SUCCEED and task.engine == engine and task.queue == "root.ml"
    assert task.result_location and task.log_path and task.err_code is None
    paths = c.result_paths(task, wait=5)
    assert paths and paths[0].endswith("/_0.dolphin")
    rs = c.result(paths[0])  # its first ask is "not fully written": asked again
    assert rs.type == kind
    if kind == 2:
        assert [col.name for col in rs.columns][-1] == "cnt" and rs.rows and rs.total_lines == len(rs.rows)
    else:
        assert "hello from python" in rs.text or "hdfs quota ok" in rs.text


def test_results_not_yet_written_then_written_and_paged(sim):
    c = sim.sync()
    tid, _, state = _run_to_end(sim, c, LinkisSubmit(code="select id, amount from dw_txn.card_txn limit 250",
                                                     run_type="sql", engine="spark-2.4.3"))
    assert state is LinkisState.SUCCEED
    task = c.task(tid)
    assert c.result_paths(task, wait=0.3) == []  # null for two simulated seconds after success: asked, given up
    sim.advance(3)
    written = c.result_paths(task, wait=5)
    assert [p.rsplit("/", 1)[1] for p in written] == ["_0.dolphin"]
    first = c.result(written[0], page=1, page_size=100)  # "not fully written" at first: asked again
    third = c.result(written[0], page=3, page_size=100)
    assert (first.total_lines, first.total_pages, len(first.rows)) == (250, 3, 100)
    assert (third.page, len(third.rows)) == (3, 50) and third.columns == first.columns
    assert [(col.name, col.type) for col in first.columns][0][0] == "id"


def test_incremental_logs_without_duplicates(sim):
    c = sim.sync("lihua", "password")
    tid, eid = c.submit(LinkisSubmit(code="select dt, count(1) as cnt from ods.txn group by dt -- sleep 30",
                                     run_type="sql", engine="spark-2.4.3"))
    got: list[str] = []
    levels: dict[str, int] = {"error": 0, "warn": 0, "info": 0}
    at = 0
    reads = 0
    while True:
        log = c.log(eid, at, 7)  # small pages: several reads per step
        assert log.from_line == at + len(log.all)
        got += log.all
        for k in levels:
            levels[k] += len(getattr(log, k))
        at = log.from_line
        reads += 1
        if not log.all:
            if c.status(eid, tid).done:
                break
            sim.advance(2)
    assert reads > 5 and len(got) == len(set(got)) > 10  # every line once
    full = c.task_log(c.task(tid))
    assert list(full.all) == got  # the file the history points at holds the same lines
    assert levels["info"] > 0 and levels["error"] == 0
    sim.advance(700)  # the entrance forgets it
    with pytest.raises(NotFound, match="has ended"):
        c.log(eid, at)


def test_kill_a_long_job(sim):
    c = sim.sync("lihua", "password")
    tid, eid = c.submit(LinkisSubmit(code="-- long_running\nselect cust_id, sum(amount) from dw_txn.card_txn "
                                          "group by cust_id", run_type="sql", engine="spark-2.4.3"))
    sim.until(lambda: c.status(eid, tid) is LinkisState.RUNNING)
    sim.advance(30)
    frac, stages = c.progress(eid, tid)
    assert 0.0 <= frac < 1.0 and stages and all(s.total > 0 for s in stages)
    said = c.kill(eid, tid)
    assert "kill" in said.lower()
    assert c.status(eid, tid) is LinkisState.CANCELLED and c.task(tid).state is LinkisState.CANCELLED
    with pytest.raises(LinkisError, match="already completed"):
        c.kill(eid, tid)


def test_progress_before_it_is_produced_is_zero(sim):
    c = sim.sync()
    tid, eid = c.submit(LinkisSubmit(code="select 1", run_type="sql", engine="spark-2.4.3"))
    assert c.status(eid, tid) is LinkisState.INITED
    assert c.progress(eid, tid) == (0.0, [])


def test_failures_carry_linkis_error_codes(sim):
    c = sim.sync("lihua", "password")
    tid, _, state = _run_to_end(sim, c, LinkisSubmit(code="select * from dm.missing_table", run_type="sql",
                                                     engine="spark-2.4.3"))
    failed = c.task(tid)
    assert state is LinkisState.FAILED and failed.err_code == 40002 and "not found" in failed.err_desc.lower()
    assert c.result_paths(failed, wait=0) == []
    with pytest.raises(LinkisError) as got:
        c.submit(LinkisSubmit(code="select 1", run_type="sql", engine="spark-9.9.9"))
    assert got.value.err_code == 20002 and "spark-9.9.9" in str(got.value) and "\n" not in str(got.value)
    with pytest.raises(LinkisError) as got:
        c.submit(LinkisSubmit(code="ls", run_type="shell", engine="hive-2.3.3"))
    assert got.value.err_code == 20003
    with pytest.raises(NotFound):
        c.task(99)


def test_re_login_after_an_injected_session_expiry(sim):
    c = sim.sync("lihua", "password")
    c.tasks(page_size=1)  # logged in
    sim.faults(linkis_session_expiry=1)  # the gateway forgets every session and answers the next request 401
    tasks, _ = c.tasks(page_size=5)  # logged in again, asked again
    assert tasks
    sim.faults(linkis_session_expiry=2)  # the retry meets the expiry too: one re-login only, then the error
    with pytest.raises(Unauthorized, match="not logged in"):
        c.tasks(page_size=5)
    assert c.tasks(page_size=5)[0]  # and the next call logs in again


def test_token_mode_meets_the_expiry_as_unauthorized(sim):
    c = sim.sync()
    sim.faults(linkis_session_expiry=1)
    with pytest.raises(Unauthorized):
        c.tasks(page_size=1)
    assert c.tasks(page_size=1)[0]


def test_a_failing_gateway_is_unavailable_or_a_linkis_error(sim):
    c = sim.sync()
    sim.faults(linkis_error=1.0)
    seen = set()
    for _ in range(12):
        with pytest.raises((Unavailable, LinkisError)) as got:
            c.tasks(page_size=1)
        e = got.value
        seen.add(type(e))
        assert sim.url.split("//", 1)[1].split("/")[0] in str(e) and sim.token not in str(e)
        if isinstance(e, LinkisError):
            assert e.err_code == 11011 and e.status == 500
        else:
            assert "503" in str(e)
    assert seen == {Unavailable, LinkisError}


def test_legacy_execute_mode(sim):
    c = sim.sync("lihua", "password", legacy=True)
    tid, eid, state = _run_to_end(sim, c, LinkisSubmit(code="select dept, count(*) as cnt from ods.t group by dept",
                                                       run_type="hql", engine="hive-2.3.3", creator="LinkisMagic"))
    assert state is LinkisState.SUCCEED
    task = c.task(tid)
    assert (task.engine, task.creator, task.run_type) == ("hive-2.3.3", "LinkisMagic", "hql")
    sim.advance(5)
    [path] = c.result_paths(task, wait=5)
    assert c.result(path).columns[-1].name == "cnt"


def test_read_only_refuses_before_any_request(sim):
    c = sim.sync(read_only=True)
    before = sim.jobs()
    with pytest.raises(ReadOnly):
        c.submit(LinkisSubmit(code="select 1", run_type="sql", engine="spark-2.4.3"))
    tasks, _ = c.tasks(admin_view=True, status="Running")
    running = next(t for t in tasks if not t.done)
    with pytest.raises(ReadOnly):
        c.kill(running.exec_id, running.task_id)
    assert sim.jobs() == before and c.task(running.task_id).state is LinkisState.RUNNING


def test_the_viewer_is_refused_by_the_gateway(sim):
    viewer = sim.sync("opsview")
    with pytest.raises(Forbidden) as got:
        viewer.submit(LinkisSubmit(code="select 1", run_type="sql", engine="spark-2.4.3"))
    assert got.value.err_code == 13001 and "no permission" in str(got.value)
    admin = sim.sync()
    tid, eid = admin.submit(LinkisSubmit(code="-- long_running\nselect 1", run_type="sql", engine="spark-2.4.3"))
    with pytest.raises(Forbidden) as got:
        viewer.kill(eid, tid)
    assert got.value.err_code == 13001
    assert admin.kill(eid, tid)


def test_admin_view_sees_everyones_jobs_and_the_notebooks_linkismagic_ones(sim):
    admin = sim.sync()
    everyone, total = admin.tasks(admin_view=True, page_size=500)
    assert total == len(everyone) and len({t.user for t in everyone}) > 2
    magic = [t for t in everyone if t.creator == "LinkisMagic"]
    assert magic and all(t.engine.count("-") >= 1 for t in magic)  # the version from the labels
    assert [t.task_id for t in everyone] == sorted((t.task_id for t in everyone), reverse=True)
    only_failed, _ = admin.tasks(admin_view=True, status="Failed", page_size=500)
    assert only_failed and all(t.state is LinkisState.FAILED and t.err_code for t in only_failed)
    mine, _ = sim.sync("lihua").tasks(page_size=500)
    assert {t.user for t in mine} <= {"lihua"}


def test_linkis_sync_from_two_threads_on_the_simulator(sim):
    c = sim.sync("lihua", "password")
    out: dict[str, object] = {}

    def worker(name: str, engine: str, run_type: str, code: str) -> None:
        try:
            out[name] = c.submit(LinkisSubmit(code=code, run_type=run_type, engine=engine))
        except Exception as e:  # noqa: BLE001 (shown by the assertion)
            out[name] = e
    threads = [threading.Thread(target=worker, args=("py", "python-python2", "python", "print(1)")),
               threading.Thread(target=worker, args=("sh", "shell-1", "shell", "echo 2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    (tid1, eid1), (tid2, eid2) = out["py"], out["sh"]
    states: dict[int, LinkisState] = {}

    def follow(tid: int, eid: str) -> None:
        states[tid] = c.status(eid, tid)
    sim.until(lambda: [t.start() or t.join(30) for t in (
        threading.Thread(target=follow, args=(tid1, eid1)), threading.Thread(target=follow, args=(tid2, eid2)))]
        and states[tid1].done and states[tid2].done)
    assert states == {tid1: LinkisState.SUCCEED, tid2: LinkisState.SUCCEED}

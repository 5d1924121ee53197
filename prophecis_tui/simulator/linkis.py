"""A simulated Apache Linkis gateway (1.x, with the 0.x ``execute`` call) on the simulator's API port.

Served under ``/linkis`` (gateway URL ``<server>/linkis``, API ``<server>/linkis/api/rest_j/v1/...``) with the
contract of Linkis's *code* (not its docs), quirks included:

- every answer is a ``Message`` ``{"method": "/api/<path>", "status": N, "message": ..., "data": {...}}`` (``method``
  without ``rest_j/v1``) and the HTTP code follows ``status``: 0->200, 1->400, 2->412, 3->403, 4->206, -1->401;
  errors carry ``data.errorMsg {level, errCode, desc, ip, port, serviceKind}`` and the bilingual message
  ``"error code(错误码): N, error message(错误信息): ..."``;
- auth: ``POST user/login`` (JSON ``userName``/``password``) sets the cookie ``linkis_user_session_ticket_id_v1``
  (a valid cookie on a second login: "already logged in"); ``user/heartbeat``, ``user/logout``, ``user/userInfo``,
  ``user/token-login``; or the headers (or cookies) ``Token-Code``/``Token-User`` on every call. Neither: HTTP 401,
  status -1 "You are not logged in...". Sessions idle out after ``SESSION_TIMEOUT`` simulated seconds;
- ``POST entrance/submit`` (1.x) and ``POST entrance/execute`` (0.x), ``GET entrance/{execID}/status[?taskID]``,
  ``/progress`` (``progressWithResource`` too), ``/log?fromLine&size[&distinctLevel]``, ``/kill`` (GET), with the
  execID in the real format (``exec_id`` + 3-digit lengths + ``linkis-cg-entrance`` + ``ip:port`` +
  ``<creator>_<user>_<engine>_<n>``), URL-encoded by the client because of the ``:``;
- ``jobhistory/list``, ``jobhistory/{taskID}/get``, ``jobhistory/listundonetasks`` (QueryTaskVO, epoch-ms dates,
  numeric taskID, ``totalPage`` = the total count);
- ``filesystem/getDirFileTrees``, ``filesystem/openFile`` (paged), ``filesystem/openLog``.

Users: ``mlss-admin`` (the Linkis admin: job-history admin, ``isAdminView``, may kill anyone's job and read anyone's
paths), ``lihua``, ``opsview`` (the viewer: submit and kill answer status 1, errCode 13001 "no permission") and every
user of the simulated world's tenants (the notebook users, whose LinkisMagic jobs are in the history). One token,
``PROPHECIS-<hex from the seed>`` (``Gateway.token``), is legal for every user; each user's password is seeded
(``Gateway.passwords``). ``sim --write-config DIR`` writes them to ``DIR/linkis-token`` and
``DIR/linkis-passwords.json`` (owner-only).

Engines (``labels.engineType``): ``spark-2.4.3``, ``spark-3.4.4``/``spark3-3.4.4``, ``hive-2.3.3``,
``python-python2``/``python-python3``, ``shell-1``; run types: spark sql/scala/py/python/pyspark, hive
sql/hql, python py/python, shell sh/shell.

A job goes Inited (0.5 s) -> Scheduled (a 2-4 s queue, plus 4 s for each other unfinished job beyond three) ->
Running (progress and per-stage task counts rising, log lines written over time) -> its end, all on the simulator's
clock (no timers: the state is a function of the time). Its outcome is a function of its code (case-insensitive):

    code contains ``missing_``/``not_exist``  Failed, table not found: spark 40002 "Table or view not found: ...",
        in a table name (sql/hql)        hive 40000 "SemanticException [Error 10001]: ... Table not found ..."
    a word starting with ``fail``         Failed after ~60% of the run: spark 40001 "SparkException: Job aborted due to
        (``fail``, ``failed``, ``fail_x``)   stage failure ...", hive 40000 "... return code 2 from MapRedTask",
        or python ``raise``               python 60003 a traceback (desc its last line: ``raise ValueError('x')`` gives
                                          "ValueError: x", else "Exception: fail"), shell 60002 "exited with code 1"
    the word ``timeout``                  Timeout after 20 s of running, errCode 21304
    ``sleep N`` / ``sleep(N)``            runs N simulated seconds (python ``time.sleep(30)``, shell ``sleep 30``,
                                          sql ``-- sleep 30``)
    ``long_running`` / ``long-running``   runs 4 hours (a job to kill)
    label ``jobRunningTimeout`` (s)       Timeout when the run would last longer
    anything else                         Succeed after a few seconds (spark ~8, hive ~12, python ~3, shell ~2)

A succeeded job has a ``resultLocation`` (``hdfs:///tmp/linkis/<user>/linkis/<yyyymmdd_HHMMSS>/<creator>/<taskID>``):
``getDirFileTrees`` answers ``dirFileTrees: null`` for ``RESULT_DELAY`` seconds after success (still being written),
then its children ``_0.dolphin``, ``_1.dolphin``... one per result: each SQL ``select``/``show``/``desc`` (other
statements write none), the print/echo output of python/shell code. ``openFile`` answers the first ask of a result
written less than ``NOT_WRITTEN_WINDOW`` seconds ago with HTTP 400 "not fully written", then pages
(``page``, ``pageSize``): tables are ``type "2"`` with ``metadata [{columnName, comment, dataType}]`` and
``fileContent`` rows of strings (``NULL`` for a null, or the ``nullValue`` asked; a CJK string in every table;
``limit N`` gives N rows; otherwise 20-3000 rows from the code's hash; aggregates without ``group by`` and
selects without ``from`` one row, literals (``select 1 as n``) their value; column types from the names: ``id``/
``*_id``/``cnt`` int, ``count(...)`` bigint, ``amount``/``score``/``rate``/``sum(...)`` double, ``dt``/``*_date``
date, ``*_time`` timestamp, else string; ``*`` is id, cust_name, city, amount, score, dt),
text is ``type "1"`` with ``metadata "NULL"`` and ``fileContent`` ``[[line], ...]``. Paths are the user's own
(error 80010) unless the admin asks.

Faults (the simulator's faults API): ``linkis_session_expiry: N`` forgets every session and answers the next N
authenticated requests 401 status -1; ``linkis_error: rate`` answers that share of requests 500 (JSON, status 1)
or 503 (plain text, as a gateway with no upstream); ``linkis_latency_ms`` delays every request. The Kubernetes API's
faults do not reach the gateway.

Bounded: at most ``MAX_JOBS`` jobs are kept (the oldest finished ones are forgotten), logs and result rows are
computed when asked (a small cache of logs). Nothing here imports the console (DESIGN section 2)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import re
import secrets
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

PREFIX = "/linkis"
API = PREFIX + "/api/rest_j/v1"
COOKIE = "linkis_user_session_ticket_id_v1"
SESSION_TIMEOUT = 7200.0  # wds.linkis.server.web.session.timeout (2 h), simulated seconds
ADMINS = frozenset({"mlss-admin"})
VIEWERS = frozenset({"opsview"})
BASE_USERS = ("mlss-admin", "lihua", "opsview")
ENTRANCE_APP = "linkis-cg-entrance"
ENTRANCE_IP, ENTRANCE_PORT = "10.107.12.34", 9104
ENTRANCE_INSTANCE = f"{ENTRANCE_IP}:{ENTRANCE_PORT}"
GATEWAY_IP, GATEWAY_PORT = "10.107.12.30", 9001
PUBLIC_IP, PUBLIC_PORT = "10.107.12.36", 9105
ENTRANCE_KEEP = 600.0  # a finished job stays in the entrance's memory this long (execID paths work), then history only
RESULT_DELAY = 2.0  # after success, the result directory does not exist yet for this long
NOT_WRITTEN_WINDOW = 15.0  # the first openFile of a result this fresh answers "not fully written"
MAX_JOBS = 2000
MAX_ROWS = 20000
TZ = timezone(timedelta(hours=8))  # the platform's logs are in China Standard Time

# engine -> versions it has, run types it takes, default run type
ENGINES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "spark": (("2.4.3", "3.4.4"), ("sql", "scala", "py", "python", "pyspark"), "sql"),
    "spark3": (("3.4.4",), ("sql", "scala", "py", "python", "pyspark"), "sql"),
    "hive": (("2.3.3",), ("sql", "hql"), "hql"),
    "python": (("python2", "python3"), ("py", "python"), "python"),
    "shell": (("1",), ("sh", "shell"), "shell"),
}
DEFAULT_VERSION = {"spark": "2.4.3", "spark3": "3.4.4", "hive": "2.3.3", "python": "python2", "shell": "1"}
BASE_SECONDS = {"spark": 8.0, "spark3": 7.0, "hive": 12.0, "python": 3.0, "shell": 2.0}
DONE = frozenset({"Succeed", "Failed", "Cancelled", "Timeout"})
STATUS_HTTP = {0: 200, 1: 400, 2: 412, 3: 403, 4: 206, -1: 401}

# error codes this gateway answers (documented in the module docstring and the report)
E_LABELS = 20001  # labels empty / no engineType
E_ENGINE = 20002  # unknown engine type or version
E_RUNTYPE = 20003  # run type the engine does not take
E_CODE = 20007  # no code
E_PROXY = 20009  # executeUser another user, not an admin
E_VIEWER = 13001  # the viewer submits or kills
E_SPARK_TABLE, E_SPARK, E_HIVE, E_PYTHON, E_SHELL, E_TIMEOUT = 40002, 40001, 40000, 60003, 60002, 21304
E_PATH, E_NO_FILE, E_NOT_WRITTEN = 80010, 80003, 80032

NOT_LOGGED_IN = "You are not logged in, please login first(您尚未登录，请先登录)!"
_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def _ms(ts: float) -> int:
    return int(round(ts * 1000))


def _stamp(ts: float) -> str:
    d = datetime.fromtimestamp(ts, TZ)
    return d.strftime("%Y-%m-%d %H:%M:%S.") + f"{d.microsecond // 1000:03d}"


def _h(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def exec_id(creator: str, user: str, engine: str, n: int, instance: str = ENTRANCE_INSTANCE) -> str:
    """The execID as ZuulEntranceUtils writes it."""
    return f"exec_id{len(ENTRANCE_APP):03d}{len(instance):03d}{ENTRANCE_APP}{instance}{creator}_{user}_{engine}_{n}"


# ---------------------------------------------------------------------------------------------- answers
def message(method: str, status: int, text: str, data: dict | None = None,
            cookies: dict[str, str | None] | None = None) -> web.Response:
    body = {"method": method, "status": status, "message": text, "data": data if data is not None else {}}
    resp = web.Response(body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                        status=STATUS_HTTP.get(status, 400), content_type="application/json", charset="utf-8")
    for k, v in (cookies or {}).items():
        if v is None:
            resp.del_cookie(k, path="/")
        else:
            resp.set_cookie(k, v, path="/", httponly=True, secure=True)
    return resp


def ok(method: str, data: dict | None = None, text: str = "OK", **kw: Any) -> web.Response:
    return message(method, 0, text, data, **kw)


def error(method: str, code: int | None, desc: str, *, status: int = 1,
          service: str = ENTRANCE_APP, ip: str = ENTRANCE_IP, port: int = ENTRANCE_PORT) -> web.Response:
    """An exception as ``catchMsg`` answers it (``code`` None: a plain ``Message.error``, no errorMsg)."""
    if code is None:
        return message(method, status, desc)
    text = f"error code(错误码): {code}, error message(错误信息): {desc}"
    return message(method, status, text, {"errorMsg": {"level": 2, "errCode": code, "desc": desc, "ip": ip,
                                                      "port": port, "serviceKind": service}})


def not_logged_in(method: str, text: str = NOT_LOGGED_IN) -> web.Response:
    return message(method, -1, text, None)


class Reject(Exception):
    def __init__(self, resp: web.Response) -> None:
        self.resp = resp


# ---------------------------------------------------------------------------------------------- code analysis
def statements(code: str) -> list[str]:
    out = []
    for part in code.split(";"):
        lines = [ln.split("--", 1)[0] for ln in part.splitlines()]
        s = " ".join(" ".join(lines).split())
        if s:
            out.append(s)
    return out


_TABLE = re.compile(r"\b(?:from|join|into|table)\s+([\w.]+)", re.I)
_SLEEP = re.compile(r"\bsleep\s*\(?\s*(\d+(?:\.\d+)?)", re.I)
_LIMIT = re.compile(r"\blimit\s+(\d+)\s*$", re.I)


def _missing_table(code: str) -> str | None:
    for m in _TABLE.finditer(code):
        t = m.group(1)
        if "missing_" in t.lower() or "not_exist" in t.lower():
            return t
    return None


class Plan:
    """What a job will do: how long it runs and how it ends."""

    def __init__(self, final: str, run: float, err_code: int | None = None, err_desc: str = "",
                 error_lines: tuple[str, ...] = ()) -> None:
        self.final, self.run, self.err_code, self.err_desc, self.error_lines = (final, run, err_code, err_desc,
                                                                                error_lines)


def plan(engine: str, run_type: str, code: str, labels: dict) -> Plan:
    low = code.lower()
    words = set(_WORD.findall(low))
    base = BASE_SECONDS[engine] + (_h("dur", code) % 400) / 100.0 + 1.5 * max(0, len(statements(code)) - 1)
    m = _SLEEP.search(code)
    if m:
        base = max(1.0, float(m.group(1))) + 1.0
    if "long_running" in low or "long-running" in low:
        base = 4 * 3600.0
    sqlish = run_type in ("sql", "hql")
    if sqlish and engine in ("spark", "spark3", "hive"):
        t = _missing_table(code)
        if t:
            if engine == "hive":
                short = t.split(".")[-1]
                desc = (f"Error while compiling statement: FAILED: SemanticException [Error 10001]: Line 1:14 "
                        f"Table not found '{short}'")
                return Plan("Failed", min(base, 3.0), E_HIVE, desc, (desc,))
            desc = f"Table or view not found: {t}; line 1 pos 14"
            return Plan("Failed", min(base, 4.0), E_SPARK_TABLE, desc,
                        (f"org.apache.spark.sql.AnalysisException: {desc};",
                         "\tat org.apache.spark.sql.catalyst.analysis.package$AnalysisErrorAt.failAnalysis(package.scala:42)",
                         "\tat org.apache.spark.sql.catalyst.analysis.CheckAnalysis$class.checkAnalysis(CheckAnalysis.scala:88)"))
    failing = any(w.startswith("fail") for w in words) or (engine == "python" and "raise" in words)
    if failing:
        run = max(1.0, base * 0.6)
        if engine in ("spark", "spark3"):
            desc = ("org.apache.spark.SparkException: Job aborted due to stage failure: Task 3 in stage 1.0 failed 4 "
                    "times, most recent failure: Lost task 3.3 in stage 1.0 (TID 17, executor 2): "
                    "java.lang.RuntimeException: fail")
            return Plan("Failed", run, E_SPARK, desc, (desc, "\tat org.apache.spark.scheduler.DAGScheduler."
                                                       "failJobAndIndependentStages(DAGScheduler.scala:1889)"))
        if engine == "hive":
            desc = ("Error while processing statement: FAILED: Execution Error, return code 2 from "
                    "org.apache.hadoop.hive.ql.exec.mr.MapRedTask")
            return Plan("Failed", run, E_HIVE, desc, ("Task failed!", "Task ID:", "  Stage-1", desc))
        if engine == "python":
            line = next((i + 1 for i, ln in enumerate(code.splitlines()) if "fail" in ln.lower() or "raise" in ln),
                        1)
            rm = re.search(r"""raise\s+(\w+)\s*(?:\(\s*(?:(["'])(.*?)\2|([^)]*))\s*\))?""", code)
            if rm:
                last = f"{rm.group(1)}: {rm.group(3) if rm.group(2) else (rm.group(4) or '').strip()}".rstrip(": ")
            else:
                last = "Exception: fail"
            tb = ("Traceback (most recent call last):", f'  File "<stdin>", line {line}, in <module>', last)
            return Plan("Failed", run, E_PYTHON, last, tb)
        desc = "shell command exited with code 1: fail"
        return Plan("Failed", run, E_SHELL, desc, ("sh: line 1: fail: command not found", desc))
    if "timeout" in words:
        return Plan("Timeout", 20.0, E_TIMEOUT, "Job running timeout(任务运行超时), the job ran more than 20 s",
                    ("Job running timeout(任务运行超时)",))
    limit = labels.get("jobRunningTimeout")
    try:
        limit_s = float(limit) if limit not in (None, "") else None
    except (TypeError, ValueError):
        limit_s = None
    if limit_s is not None and limit_s > 0 and base > limit_s:
        desc = f"Job running timeout(任务运行超时), the job ran more than {limit_s:g} s"
        return Plan("Timeout", limit_s, E_TIMEOUT, desc, (desc,))
    return Plan("Succeed", base)


# ---------------------------------------------------------------------------------------------- results
STRINGS = ("张伟", "王芳", "李娜", "北京", "上海", "深圳", "杭州", "acct-001", "acct-207", "retail", "corporate",
           "信用卡", "消费贷", "VIP客户", "new", "closed")
STAR = (("id", "int"), ("cust_name", "string"), ("city", "string"), ("amount", "double"), ("score", "double"),
        ("dt", "date"))


def _split_items(text: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _col_type(name: str, expr: str) -> str:
    e, n = expr.lower(), name.lower()
    if e.startswith("count("):
        return "bigint"
    if e.startswith(("sum(", "avg(", "stddev(")):
        return "double"
    if n in ("id", "cnt", "num", "count", "age", "qty", "n") or n.endswith(("_id", "_cnt", "_num", "_count")):
        return "int"
    if n in ("dt", "date", "day") or n.endswith(("_dt", "_date", "_day")):
        return "date"
    if n in ("ts", "time") or n.endswith(("_ts", "_time")):
        return "timestamp"
    if any(k in n for k in ("amount", "amt", "score", "rate", "price", "ratio", "prob", "auc", "balance", "avg")):
        return "double"
    if re.fullmatch(r"\d+", e):
        return "int"
    return "string"


_M64 = (1 << 64) - 1


class _Cells:
    """A cheap deterministic generator (splitmix64) for a row's cells: thousands of rows a page, on the loop."""

    __slots__ = ("x",)

    def __init__(self, seed: int) -> None:
        self.x = seed & _M64

    def _next(self) -> int:
        self.x = (self.x + 0x9E3779B97F4A7C15) & _M64
        z = self.x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)

    def random(self) -> float:
        return (self._next() >> 11) / float(1 << 53)

    def randint(self, a: int, b: int) -> int:
        return a + self._next() % (b - a + 1)

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def choice(self, seq: Any) -> Any:
        return seq[self._next() % len(seq)]


class Table:
    def __init__(self, columns: list[tuple[str, str]], rows: int, key: str, base_day: float,
                 consts: list[str | None] | None = None) -> None:
        self.columns, self.rows, self.key, self.base_day = columns, rows, key, base_day
        self.consts = consts or [None] * len(columns)  # a literal's value (select 1, 'x')
        self._seed = _h(key)
        self._days: dict[int, str] = {}
        self._plan = self._kinds()

    def _kinds(self) -> list[tuple[str, Any]]:
        """Per column what a cell is: a literal, a row id, a random pick of some kind, a date..."""
        first_string = next((k for k, (_, t) in enumerate(self.columns) if t == "string" and self.consts[k] is None),
                            None)
        out: list[tuple[str, Any]] = []
        for k, (name, t) in enumerate(self.columns):
            low = name.lower()
            if self.consts[k] is not None:
                out.append(("const", self.consts[k]))
            elif t == "string":
                out.append(("first" if k == first_string else "string", None))
            elif t == "int":
                out.append(("rowid" if low == "id" or low.endswith("_id") else "int", None))
            elif t in ("bigint", "date", "timestamp"):
                out.append((t, None))
            elif t == "double":
                out.append(("unit" if any(w in low for w in ("score", "prob", "rate")) else "money", None))
            else:
                out.append(("other", None))
        return out

    def row(self, i: int) -> list[str | None]:
        rng = _Cells(self._seed ^ (i * 0x9E3779B97F4A7C15 & _M64))
        out: list[str | None] = []
        for kind, const in self._plan:
            if kind == "const":
                out.append(const)
            elif kind == "first":  # a CJK string in every table, and a NULL
                out.append("张伟" if i == 0 else None if i == 2 else rng.choice(STRINGS))
            elif kind == "string":
                out.append(rng.choice(STRINGS))
            elif kind == "rowid":
                out.append(str(100000 + i))
            elif kind == "int":
                out.append(str(rng.randint(0, 5000)))
            elif kind == "bigint":
                out.append(str(rng.randint(1, 3_000_000)))
            elif kind == "unit":
                out.append(f"{rng.random():.4f}")
            elif kind == "money":
                out.append(f"{rng.uniform(0, 100000):.2f}")
            elif kind == "date":
                day = self._days.get(i % 90)
                if day is None:
                    day = self._days[i % 90] = datetime.fromtimestamp(self.base_day - 86400 * (i % 90),
                                                                      TZ).strftime("%Y-%m-%d")
                out.append(day)
            elif kind == "timestamp":
                out.append(_stamp(self.base_day - 3600 * (i % 2000))[:19])
            else:
                out.append("true" if rng.random() < 0.5 else "false")
        return out

    def metadata(self) -> list[dict]:
        return [{"columnName": n, "comment": "NULL", "dataType": t} for n, t in self.columns]


def sql_result(stmt: str, key: str, base_day: float) -> Table | None:
    """The table a statement gives, or None when it writes no result set."""
    s = stmt.strip().rstrip(";")
    low = s.lower()
    if low.startswith("show tables") or low.startswith("show databases"):
        if low.startswith("show databases"):
            return Table([("databaseName", "string")], 6, key, base_day)
        return Table([("database", "string"), ("tableName", "string"), ("isTemporary", "boolean")], 12, key, base_day)
    if low.startswith(("desc ", "describe ")):
        return Table([("col_name", "string"), ("data_type", "string"), ("comment", "string")], 6, key, base_day)
    if not (low.startswith("select") or low.startswith("with")):
        return None
    m = re.search(r"\bselect\s+(?:distinct\s+)?(.*?)(?:\s+from\s+|$)", s, re.I | re.S)
    items = _split_items(m.group(1)) if m else ["*"]
    cols: list[tuple[str, str]] = []
    consts: list[str | None] = []
    aggregate_only = True
    for k, item in enumerate(items):
        if item == "*" or item.endswith(".*"):
            cols.extend(STAR)
            consts.extend([None] * len(STAR))
            aggregate_only = False
            continue
        am = re.match(r"^(.*?)\s+(?:as\s+)?`?([\w\u4e00-\u9fff]+)`?$", item, re.I | re.S)
        if am and not am.group(1).rstrip().endswith((",", "(")) and "(" not in item[len(am.group(1)):]:
            expr, name = am.group(1).strip(), am.group(2)
        else:
            expr = item
            name = item.split(".")[-1] if re.fullmatch(r"[\w.]+", item) else f"_c{k}"
        lit = re.fullmatch(r"-?\d+(\.\d+)?|'([^']*)'", expr.strip())
        if lit:
            consts.append(lit.group(2) if lit.group(2) is not None else expr.strip())
            cols.append((name, "string" if lit.group(2) is not None else ("double" if lit.group(1) else "int")))
        else:
            consts.append(None)
            cols.append((name, _col_type(name, expr)))
        if not re.match(r"^(count|sum|avg|min|max|stddev)\s*\(", expr, re.I):
            aggregate_only = False
    if not cols:
        cols, consts = list(STAR), [None] * len(STAR)
    lm = _LIMIT.search(s)
    if (aggregate_only and not re.search(r"\bgroup\s+by\b", low)) or not re.search(r"\bfrom\b", low):
        rows = 1
    elif lm:
        rows = min(int(lm.group(1)), MAX_ROWS)
    else:
        rows = 20 + _h("rows", key) % 2981
    return Table(cols, rows, key, base_day, consts)


_PRINT = re.compile(r"""\bprint\s*\(\s*(?:(["'])(.*?)\1|([^)]*))\s*\)""")
_ECHO = re.compile(r"""^\s*echo\s+(?:(["'])(.*?)\1|(.*))$""")


def text_output(engine: str, code: str, key: str) -> list[str]:
    out: list[str] = []
    if engine == "shell":
        for ln in code.splitlines():
            m = _ECHO.match(ln)
            if m:
                out.append(m.group(2) if m.group(1) else (m.group(3) or "").strip())
        return out
    rng = random.Random(key)
    for m in _PRINT.finditer(code):
        if m.group(1):
            out.append(m.group(2))
        else:
            out.append(f"{(m.group(3) or '').strip()} = {rng.uniform(0, 1000):.4f}")
    return out


# ---------------------------------------------------------------------------------------------- jobs
class Job:
    def __init__(self, **kw: Any) -> None:
        self.task_id: int = kw["task_id"]
        self.exec_id: str = kw["exec_id"]
        self.user: str = kw["user"]  # executeUser
        self.submit_user: str = kw["submit_user"]  # umUser
        self.creator: str = kw["creator"]
        self.engine: str = kw["engine"]
        self.version: str = kw["version"]
        self.run_type: str = kw["run_type"]
        self.code: str = kw["code"]
        self.variables: dict = kw.get("variables") or {}
        self.startup: dict = kw.get("startup") or {}
        self.runtime: dict = kw.get("runtime") or {}
        self.source: dict = kw.get("source") or {}
        self.labels: dict = kw.get("labels") or {}
        self.created: float = kw["created"]
        self.sched_at: float = kw["sched_at"]
        self.run_at: float = kw["run_at"]
        p: Plan = kw["plan"]
        self.end_at: float = self.run_at + p.run
        self.planned_end = self.end_at
        self.final = p.final
        self.err_code, self.err_desc, self.error_lines = p.err_code, p.err_desc, p.error_lines
        self.history_only: bool = kw.get("history_only", False)  # seeded: never in this entrance's memory
        self.killed_by: str | None = None
        self.legacy: bool = kw.get("legacy", False)
        self.ec_port = 20000 + _h("ec", self.task_id) % 9000
        day = datetime.fromtimestamp(self.created, TZ)
        self.log_path = (f"hdfs:///appcom/logs/linkis/log/{day:%Y-%m-%d}/{self.creator}/{self.user}/"
                         f"{self.task_id}.log")
        self.result_location = (f"hdfs:///tmp/linkis/{self.user}/linkis/{day:%Y%m%d_%H%M%S}/{self.creator}/"
                                f"{self.task_id}")
        self._results: list | None = None
        self.asked: set[int] = set()  # result indexes asked once (the "not fully written" answer)

    # -- timeline
    def state(self, now: float) -> str:
        if now >= self.end_at:
            return self.final
        if now < self.sched_at:
            return "Inited"
        if now < self.run_at:
            return "Scheduled"
        if now < self.end_at:
            return "Running"
        return self.final

    def done(self, now: float) -> bool:
        return now >= self.end_at

    def in_entrance(self, now: float) -> bool:
        return not self.history_only and now < self.end_at + ENTRANCE_KEEP

    @property
    def engine_type(self) -> str:
        return f"{self.engine}-{self.version}"

    @property
    def short_id(self) -> str:
        return self.exec_id[self.exec_id.index(ENTRANCE_INSTANCE) + len(ENTRANCE_INSTANCE):] \
            if ENTRANCE_INSTANCE in self.exec_id else self.exec_id

    def stage_plan(self) -> list[int]:
        """Total tasks of each stage (spark and hive jobs; the others report none)."""
        if self.engine not in ("spark", "spark3", "hive"):
            return []
        n = 1 + _h("stages", self.task_id, self.code) % 3
        return [(1, 4, 8, 24, 50, 200)[_h("tasks", self.task_id, i) % 6] for i in range(n)]

    def progress(self, now: float) -> tuple[float, list[dict]]:
        totals = self.stage_plan()
        st = self.state(now)
        if st in ("Inited", "Scheduled"):
            return 0.0, []
        run = max(self.planned_end - self.run_at, 1e-6)
        if self.run_at >= self.end_at:  # killed before it ran
            return (1.0 if self.done(now) else 0.0), []
        frac = max(0.0, min(1.0, (min(now, self.end_at) - self.run_at) / run))
        infos = []
        n = len(totals)
        for i, total in enumerate(totals):
            lo, hi = i / n, (i + 1) / n
            if frac >= hi:
                succ, fail, running = total, 0, 0
            elif frac > lo:
                part = (frac - lo) / (hi - lo)
                succ = min(total - 1, int(part * total))
                if self.done(now):  # ended inside this stage (failed, timed out, killed)
                    fail = (total - succ) if self.final == "Failed" else 0
                    running = 0
                else:
                    fail, running = 0, min(total - succ, 4)
            else:
                break
            infos.append({"id": f"jobId-{i + 1}(linkis-{self.task_id}_{i + 1})", "succeedTasks": succ,
                          "failedTasks": fail, "runningTasks": running, "totalTasks": total})
        if self.done(now):
            return 1.0, infos
        return round(min(frac, 0.99), 4), infos

    # -- results
    def results(self) -> list:
        """[(name, Table | list[str])] once the job has succeeded."""
        if self._results is None:
            out: list = []
            base_day = self.created
            if self.run_type in ("sql", "hql") or (self.engine == "hive"):
                for k, stmt in enumerate(statements(self.code)):
                    t = sql_result(stmt, f"{self.task_id}:{k}:{stmt}", base_day)
                    if t is not None:
                        out.append(t)
            else:
                lines = text_output(self.engine, self.code, f"{self.task_id}")
                if lines:
                    out.append(lines)
            self._results = out
        return self._results

    # -- log
    def log_lines(self, now_end: float) -> list[tuple[float, str, str]]:
        """Every line the job writes, (time, level, text), in time order (cut at the end for killed jobs)."""
        L: list[tuple[float, str, str]] = []
        # the body follows the planned run; a kill cuts it (lines already read never move)
        t0, ts, tr, te = self.created, self.sched_at, self.run_at, self.planned_end

        def add(t: float, level: str, text: str) -> None:
            L.append((t, level, text))
        add(t0, "INFO", f"Your job is accepted,  jobID is {self.exec_id} and taskID is {self.task_id} in "
                        f"ServiceInstance({ENTRANCE_APP}, {ENTRANCE_INSTANCE}). Please wait it to be scheduled")
        if self.variables:
            add(t0 + 0.01, "INFO", "Variable replacement: " + ", ".join(f"{k}={v}" for k, v in self.variables.items()))
        add(ts, "INFO", "job is scheduled.")
        add(ts + 0.01, "INFO", "Your job is Scheduled. Please wait it to run.")
        add(tr - 0.3 if tr - 0.3 > ts else ts + 0.02, "INFO",
            "You have submitted a new job, script code (after variable substitution) is")
        star = "************************************SCRIPT CODE************************************"
        add(tr - 0.29 if tr - 0.29 > ts else ts + 0.03, "INFO", star)
        for k, ln in enumerate(self.code.splitlines()[:40]):
            add(max(ts + 0.03, tr - 0.28) + k * 1e-4, "INFO", ln)
        add(max(ts + 0.04, tr - 0.2), "INFO", star)
        add(max(ts + 0.05, tr - 0.1), "INFO", "Your job is being scheduled by orchestrator.")
        ec = f"ServiceInstance(linkis-cg-engineconn, 10.107.20.{10 + self.task_id % 200}:{self.ec_port})"
        queue = self.startup.get("wds.linkis.rm.yarnqueue", "default")
        add(tr, "INFO", f"Request LinkisManager:EngineAskAsyncResponse(id=astJob_{self.task_id % 97}_1, "
                        f"{ENTRANCE_INSTANCE}) succeed to create new ec : {ec}")
        add(tr + 0.01, "INFO", f"Task submit to ec: {ec} get engineConnExecId is: 1")
        add(tr + 0.02, "INFO", f"Your job is Running now. Please wait it to complete. (queue: {queue})")
        run = max(te - tr, 0.1)
        if self.engine in ("spark", "spark3"):
            add(tr + 0.05, "WARN", "org.apache.spark.util.Utils: Service 'SparkUI' could not bind on port 4040. "
                                   "Attempting port 4041.")
            totals = self.stage_plan()
            for i, total in enumerate(totals):
                a = tr + 0.1 + (run - 0.1) * i / len(totals)
                add(a + 0.01, "INFO", f"org.apache.spark.scheduler.DAGScheduler: Submitting {total} missing tasks from "
                                      f"ResultStage {i + 1} (MapPartitionsRDD[{3 * i + 2}] at sql at "
                                      f"SparkSqlExecutor.scala:65) (first 15 tasks are for partitions Vector(0, 1))")
                add(a + 0.02, "INFO", f"org.apache.spark.scheduler.TaskSchedulerImpl: Adding task set {i + 1}.0 with "
                                      f"{total} tasks")
                if total >= 50 and i == 0:
                    add(a + 0.03, "WARN", f"org.apache.spark.scheduler.TaskSetManager: Stage {i + 1} contains a task "
                                          f"of very large size (412 KB). The maximum recommended task size is 100 KB.")
                b = tr + run * (i + 1) / len(totals)
                add(b - 0.01, "INFO", f"org.apache.spark.scheduler.DAGScheduler: ResultStage {i + 1} (sql at "
                                      f"SparkSqlExecutor.scala:65) finished in {run / len(totals):.3f} s")
        elif self.engine == "hive":
            add(tr + 0.05, "INFO", f"Compiling command(queryId=hive_{self.task_id}_{self.ec_port}): "
                                   + (statements(self.code) or [""])[0][:120])
            add(tr + 0.06, "INFO", "Total jobs = 1")
            add(tr + 0.07, "INFO", "Launching Job 1 out of 1")
            add(tr + 0.08, "WARN", "Hadoop command-line option parsing not performed. Implement the Tool interface "
                                   "and execute your application with ToolRunner to remedy this.")
            add(tr + 0.09, "INFO", "Starting task [Stage-1:MAPRED] in serial mode")
            for pct in (0, 25, 50, 75, 100):
                add(tr + run * pct / 100 * 0.98 + 0.1, "INFO", f"Stage-1 map = {pct}%,  reduce = "
                                                               f"{max(0, pct - 25)}%")
        elif self.engine == "python":
            add(tr + 0.05, "INFO", f"PythonSession: {self.version} process started, pid "
                                   f"{4000 + self.task_id % 5000}")
            add(tr + 0.06, "WARN", "py4j.java_gateway: Callback Server Starting on 127.0.0.1")
        else:
            add(tr + 0.05, "INFO", "ShellEngineConnExecutor: Exec command with bash -c")
            add(tr + 0.06, "WARN", "ShellEngineConnExecutor: bash: no job control in this shell")
        step = max(10.0, run / 40.0)  # heartbeat lines of a long job, bounded in number
        t = tr + step
        while t < te - 0.5:
            add(t, "INFO", f"Job with execId-{self.short_id} and subJobId : {self.task_id} from orchestrator is "
                           f"running, progress {100 * (t - tr) / run:.1f}%")
            t += step
        if self.killed_by is not None:
            te = self.end_at
            L[:] = [x for x in sorted(L, key=lambda x: x[0]) if x[0] <= te]
            L.append((te, "WARN", f"Job {self.short_id} is killed by user {self.killed_by}(任务被用户kill)"))
            L.append((te + 0.01, "INFO", f"Job {self.task_id} Cancelled"))
        elif self.final == "Succeed":
            if self.engine == "hive":
                add(te - 0.05, "INFO", "MapReduce Jobs Launched:")
                add(te - 0.04, "INFO", "OK")
            n = len(self.results())
            add(te, "INFO", f"Congratulations! Your job : {self.short_id} executed with status succeed and "
                            f"{n} results.")
        else:
            for k, ln in enumerate(self.error_lines):
                add(te - 0.02 + k * 1e-4, "ERROR", ln)
            add(te, "ERROR", f"Task is {self.final},errorMsg: {self.err_desc}")
        add(te + 0.01, "INFO", f"Task creation time(任务创建时间): {_stamp(t0)[:19]}, Task scheduling time(任务调度时间): "
                               f"{_stamp(ts)[:19]}, Task start time(任务开始时间): {_stamp(tr)[:19]}, "
                               f"Mission end time(任务结束时间): {_stamp(te)[:19]}")
        add(te + 0.02, "INFO", f"Your mission(您的任务) {self.task_id} The total time spent is(总耗时时间为): "
                               f"{te - t0:.1f} s")
        L.sort(key=lambda x: x[0])
        return L


def four_slots(lines: list[tuple[float, str, str]]) -> list[str]:
    fmt = [(lvl, f"{_stamp(t)} {lvl} {text}") for t, lvl, text in lines]
    err = "".join(f"{s}\n" for lvl, s in fmt if lvl == "ERROR")
    warn = "".join(f"{s}\n" for lvl, s in fmt if lvl == "WARN")
    info = "".join(f"{s}\n" for lvl, s in fmt if lvl == "INFO")
    return [err, warn, info, "".join(f"{s}\n" for _, s in fmt)]


# ---------------------------------------------------------------------------------------------- the gateway
class Gateway:
    """The Linkis gateway of a built simulation (``sim.world``, ``sim.engine``, ``sim.faults``, ``sim.seed``)."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.engine = sim.engine
        self.seed = sim.seed
        tenant_users = sorted({u for t in sim.world.tenants for u in t.users} - set(BASE_USERS))
        self.users: list[str] = list(BASE_USERS) + tenant_users
        self.token = "PROPHECIS-" + hashlib.sha256(f"linkis-token:{self.seed}".encode()).hexdigest()[:24]
        self.passwords = {u: hashlib.sha256(f"linkis-password:{self.seed}:{u}".encode()).hexdigest()[:16]
                          for u in self.users}
        self.sessions: dict[str, list] = {}  # ticket -> [user, last seen]
        self.jobs: OrderedDict[int, Job] = OrderedDict()
        self.by_exec: dict[str, Job] = {}
        self.by_location: dict[str, Job] = {}
        self.by_log: dict[str, Job] = {}
        self._next_task = 1_946_000 + self.seed % 1000 * 7
        self._seq: dict[str, int] = {}
        self._logs: OrderedDict[tuple, list] = OrderedDict()
        self._seed_history()

    # ------------------------------------------------------------------ jobs
    def now(self) -> float:
        return self.engine.now()

    def _new_task_id(self) -> int:
        self._next_task += 1
        return self._next_task

    def _exec_id(self, creator: str, user: str, engine: str) -> str:
        key = f"{creator}_{user}_{engine}"
        n = self._seq.get(key, 0)
        self._seq[key] = n + 1
        return exec_id(creator, user, engine, n)

    def _active(self, now: float) -> int:
        return sum(1 for j in reversed(self.jobs.values()) if not j.done(now) and j.created <= now)

    def create(self, *, user: str, submit_user: str, creator: str, engine: str, version: str, run_type: str,
               code: str, variables: dict | None = None, startup: dict | None = None, runtime: dict | None = None,
               source: dict | None = None, labels: dict | None = None, created: float | None = None,
               history_only: bool = False, legacy: bool = False) -> Job:
        now = self.now() if created is None else created
        task_id = self._new_task_id()
        busy = 0 if history_only else max(0, self._active(now) - 3)
        sched = now + 0.5
        run_at = sched + 2.0 + (_h("queue", task_id) % 200) / 100.0 + min(60.0, 4.0 * busy)
        labels = dict(labels or {})
        p = plan(engine, run_type, code, labels)
        job = Job(task_id=task_id, exec_id=self._exec_id(creator, user, engine), user=user, submit_user=submit_user,
                  creator=creator, engine=engine, version=version, run_type=run_type, code=code, variables=variables,
                  startup=startup, runtime=runtime, source=source, labels=labels, created=now, sched_at=sched,
                  run_at=run_at, plan=p, history_only=history_only, legacy=legacy)
        self.jobs[task_id] = job
        self.by_exec[job.exec_id] = job
        self.by_location[job.result_location] = job
        self.by_log[job.log_path] = job
        self._bound()
        return job

    def _bound(self) -> None:
        if len(self.jobs) <= MAX_JOBS:
            return
        now = self.now()
        for tid in list(self.jobs):
            if len(self.jobs) <= MAX_JOBS:
                break
            j = self.jobs[tid]
            if j.done(now):
                del self.jobs[tid]
                self.by_exec.pop(j.exec_id, None)
                self.by_location.pop(j.result_location, None)
                self.by_log.pop(j.log_path, None)

    def kill(self, job: Job, by: str) -> None:
        now = self.now()
        job.end_at = max(now, job.created)  # sched_at/run_at stay: the log's lines before the kill do not move
        job.final = "Cancelled"
        job.err_code, job.err_desc, job.error_lines = None, f"Job is killed by user {by}(任务被用户kill)", ()
        job.killed_by = by

    def lines(self, job: Job) -> list[tuple[float, str, str]]:
        key = (job.task_id, job.end_at, job.final)
        got = self._logs.get(key)
        if got is None:
            got = job.log_lines(job.end_at)
            self._logs[key] = got
            while len(self._logs) > 64:
                self._logs.popitem(last=False)
        else:
            self._logs.move_to_end(key)
        return got

    def visible_lines(self, job: Job, now: float) -> list[tuple[float, str, str]]:
        lines = self.lines(job)
        lo, hi = 0, len(lines)
        while lo < hi:
            mid = (lo + hi) // 2
            if lines[mid][0] <= now:
                lo = mid + 1
            else:
                hi = mid
        return lines[:lo]

    def _seed_history(self) -> None:
        """A few dozen finished jobs over the past three days, and two long ones running now."""
        from .resources import BY_KEY
        rng = random.Random(f"linkis:{self.seed}")
        now = self.now()
        nb_users = sorted({(o["metadata"].get("labels") or {}).get("prophecis-UserId", "")
                           for o in self.engine.store.objects(BY_KEY["kubeflow.org/notebooks"], None)} - {""})
        nb_users = nb_users or [u for u in self.users if u not in BASE_USERS][:4]
        magic = [
            ("spark", "2.4.3", "py", "df = spark.sql('select * from dm_risk.loan_apply where dt = \"2026-11-27\"')\n"
                                     "print(df.count())"),
            ("spark", "2.4.3", "sql", "select dt, count(1) as cnt, avg(score) as avg_score from dm_risk.credit_score "
                                      "group by dt order by dt limit 30"),
            ("python", "python3", "python", "import pandas as pd\nprint('features ready')\nprint(len(range(1000)))"),
            ("spark", "2.4.3", "sql", "select user_id, amount, txn_time from dw_txn.card_txn limit 500"),
            ("spark", "2.4.3", "sql", "select * from dm_risk.missing_feature_table limit 10"),
            ("python", "python3", "python", "import time\nraise ValueError('bad feature')"),
        ]
        ide = [
            ("hive", "2.3.3", "hql", "select dept, count(*) as cnt from ods.mlss_jobs group by dept"),
            ("spark", "2.4.3", "sql", "select id, cust_name, city, amount, dt from dm_credit.cust_profile limit 200"),
            ("spark3", "3.4.4", "sql", "show tables"),
            ("shell", "1", "shell", "echo 'hdfs quota ok'\nhdfs dfs -du -h /user/mlss | head"),
            ("hive", "2.3.3", "hql", "insert overwrite table dm.daily_report select * from ods.daily_raw; "
                                     "select count(1) as c from dm.daily_report"),
            ("spark", "2.4.3", "sql", "select * from dw.big_join_fail_case"),
            ("hive", "2.3.3", "hql", "-- timeout\nselect * from ods.huge_log_table"),
        ]
        specs = []
        for i in range(36):
            if i % 3 == 0:
                user, creator, (eng, ver, rt, code) = rng.choice(["mlss-admin", "lihua"]), "IDE", rng.choice(ide)
            else:
                user, creator, (eng, ver, rt, code) = rng.choice(nb_users), "LinkisMagic", rng.choice(magic)
            specs.append((now - 3 * 86400 + rng.random() * (3 * 86400 - 900), user, creator, eng, ver, rt, code))
        specs.sort()
        for created, user, creator, eng, ver, rt, code in specs:
            j = self.create(user=user, submit_user=user, creator=creator, engine=eng, version=ver, run_type=rt,
                            code=code, created=created, history_only=True,
                            startup={"wds.linkis.rm.yarnqueue": "root.mlss"},
                            labels={"engineType": f"{eng}-{ver}", "userCreator": f"{user}-{creator}",
                                    "codeType": rt})
            if rng.random() < 0.08 and j.final == "Succeed":  # someone killed it
                j.end_at = j.run_at + 0.5 * (j.end_at - j.run_at)
                j.final, j.err_desc, j.killed_by = "Cancelled", f"Job is killed by user {user}(任务被用户kill)", user
        for user, creator, eng, ver, rt, code in (
                ("mlss-admin", "IDE", "spark", "2.4.3", "sql",
                 "-- long_running: the nightly feature backfill\nselect cust_id, sum(amount) as amount "
                 "from dw_txn.card_txn group by cust_id"),
                (nb_users[0], "LinkisMagic", "python", "python3", "python",
                 "# long-running training data export\nimport time\nprint('exporting')")):
            self.create(user=user, submit_user=user, creator=creator, engine=eng, version=ver, run_type=rt,
                        code=code, created=now - 1200 - rng.random() * 600,
                        labels={"engineType": f"{eng}-{ver}", "userCreator": f"{user}-{creator}", "codeType": rt})

    # ------------------------------------------------------------------ serving
    async def handle(self, request: web.Request, path: str) -> web.StreamResponse:
        f = self.sim.faults
        delay = max(0.0, f.linkis_latency_ms) / 1000.0 if f.linkis_latency_ms else 0.0
        if delay:
            await asyncio.sleep(delay)
        rel = path[len(API):].strip("/") if path.startswith(API + "/") or path == API else None
        method = "/api/" + (rel or path[len(PREFIX):].strip("/"))
        if f.linkis_error and f._rng.random() < f.linkis_error:
            if f._rng.random() < 0.5:
                return web.Response(status=503, text="Service Unavailable", content_type="text/plain")
            return web.Response(status=500, content_type="application/json", body=json.dumps(
                {"method": method, "status": 1, "message": "error code(错误码): 11011, error message(错误信息): "
                 "injected fault, the gateway could not reach the service(网关无法连接服务)", "data": {}},
                ensure_ascii=False).encode())
        if rel is None:
            return message(method, 1, f"{path} is not a Linkis REST path (use {API}/...)", {})
        parts = rel.split("/")
        try:
            if parts[0] == "user" and len(parts) == 2 and parts[1] in ("login", "publicKey"):
                return await (self._login(request, method) if parts[1] == "login" else self._public_key(method))
            if parts[0] == "user" and len(parts) == 2 and parts[1] == "token-login":
                user = self._auth(request, method)
                return self._session_for(method, user, "login successful(登录成功)！")
            user = self._auth(request, method)
            return await self._route(request, method, parts, user)
        except Reject as r:
            return r.resp

    # ------------------------------------------------------------------ auth
    def _auth(self, request: web.Request, method: str) -> str:
        f = self.sim.faults
        if f.linkis_session_expiry > 0:
            f.linkis_session_expiry -= 1
            self.sessions.clear()
            raise Reject(not_logged_in(method))
        code = request.headers.get("Token-Code") or request.cookies.get("Token-Code")
        tuser = request.headers.get("Token-User") or request.cookies.get("Token-User")
        if code or tuser:
            if not secrets.compare_digest((code or "").encode(), self.token.encode()):
                raise Reject(not_logged_in(method, f"Token Authentication Failed, token: {_mask(code)}, tokenUser: "
                                                   f"{tuser}, reason: Invalid Token(无效的token)"))
            if tuser not in self.users:
                raise Reject(not_logged_in(method, f"Token Authentication Failed, token: {_mask(code)}, tokenUser: "
                                                   f"{tuser}, reason: Illegal TokenUser for Token(未授权的token用户)"))
            return tuser
        ticket = request.cookies.get(COOKIE)
        if ticket:
            s = self.sessions.get(ticket)
            now = self.now()
            if s is not None and now - s[1] <= SESSION_TIMEOUT:
                s[1] = now
                return s[0]
            self.sessions.pop(ticket, None)
        raise Reject(not_logged_in(method))

    async def _public_key(self, method: str) -> web.Response:
        return ok(method, {"enableLoginEncrypt": False, "publicKey": ""}, "success")

    async def _login(self, request: web.Request, method: str) -> web.Response:
        if request.method != "POST":
            return message(method, 1, "Request method 'GET' not supported(只支持POST)")
        ticket = request.cookies.get(COOKIE)
        s = self.sessions.get(ticket) if ticket else None
        if s is not None and self.now() - s[1] <= SESSION_TIMEOUT:
            return ok(method, {"userName": s[0], "isAdmin": s[0] in ADMINS},
                      f"{s[0]} already logged in, please log out before signing in(已经登录，请先退出再进行登录)！")
        body = await _json_body(request)
        body = body if isinstance(body, dict) else {}
        name = body.get("userName", request.query.get("userName"))
        pw = body.get("password", request.query.get("password"))
        if not isinstance(name, str) or not name.strip():
            return message(method, 1, "Username can not be empty(用户名不能为空)！")
        if not isinstance(pw, str) or not pw:
            return message(method, 1, "Password can not be blank(密码不能为空)！")
        name = name.strip()
        good = self.passwords.get(name)
        if good is None or not secrets.compare_digest(pw.encode(), good.encode()):
            return message(method, 1, "Login failed, wrong username or password(登录失败，用户名或密码错误)！")
        return self._session_for(method, name, "login successful(登录成功)！")

    def _session_for(self, method: str, user: str, text: str) -> web.Response:
        ticket = secrets.token_hex(16)
        self.sessions[ticket] = [user, self.now()]
        if len(self.sessions) > 1000:  # bounded: the oldest sessions go
            for k in list(self.sessions)[: len(self.sessions) - 1000]:
                del self.sessions[k]
        return ok(method, {"userName": user, "isAdmin": user in ADMINS, "sessionTimeOut": int(SESSION_TIMEOUT * 1000),
                           "enableWatermark": False}, text, cookies={COOKIE: ticket})

    # ------------------------------------------------------------------ routing
    async def _route(self, request: web.Request, method: str, parts: list[str], user: str) -> web.Response:
        q = request.query
        m = request.method
        head = parts[0]
        if head == "user" and len(parts) == 2:
            what = parts[1]
            if what == "heartbeat":
                return ok(method, {}, "Maintain heartbeat success(维系心跳成功)！")
            if what == "logout":
                ticket = request.cookies.get(COOKIE)
                if ticket:
                    self.sessions.pop(ticket, None)
                return ok(method, {}, "Logout successful(退出登录成功)！", cookies={COOKIE: None})
            if what == "userInfo":
                return ok(method, {"userName": user, "isAdmin": user in ADMINS}, "success")
        if head == "entrance":
            if len(parts) == 2 and parts[1] in ("submit", "execute"):
                if m != "POST":
                    return _not_allowed(method, m)
                return await self._submit(request, method, user, legacy=parts[1] == "execute")
            if len(parts) == 3 and parts[2] in ("status", "progress", "progressWithResource", "log", "kill"):
                if m != "GET":
                    return _not_allowed(method, m)
                return self._per_job(method, parts[1], parts[2], user, q)
        if head == "jobhistory":
            if m != "GET":
                return _not_allowed(method, m)
            if len(parts) == 2 and parts[1] in ("list", "listundonetasks"):
                return self._history(method, user, q, undone=parts[1] == "listundonetasks")
            if len(parts) == 3 and parts[2] == "get":
                return self._history_get(method, parts[1], user)
        if head == "filesystem" and len(parts) == 2 and parts[1] in ("getDirFileTrees", "openFile", "openLog"):
            if m != "GET":
                return _not_allowed(method, m)
            return getattr(self, "_fs_" + parts[1])(method, user, q)
        return web.Response(status=404, content_type="application/json", body=json.dumps(
            {"method": method, "status": 1, "message": f"404 Not Found: no Linkis API {method}", "data": {}}).encode())

    # ------------------------------------------------------------------ submit
    async def _submit(self, request: web.Request, method: str, user: str, legacy: bool) -> web.Response:
        if user in VIEWERS:
            return error(method, E_VIEWER, f"User {user} has no permission to submit jobs(用户{user}没有提交任务的权限): "
                                           f"no permission")
        body = await _json_body(request)
        if not isinstance(body, dict):
            return error(method, 20000, "the request body must be a JSON object(请求体必须是JSON对象)")
        params = body.get("params") if isinstance(body.get("params"), dict) else {}
        variables = params.get("variable") if isinstance(params.get("variable"), dict) else {}
        conf = params.get("configuration") if isinstance(params.get("configuration"), dict) else {}
        startup = conf.get("startup") if isinstance(conf.get("startup"), dict) else {}
        runtime = conf.get("runtime") if isinstance(conf.get("runtime"), dict) else {}
        source = body.get("source") if isinstance(body.get("source"), dict) else {}
        labels = body.get("labels") if isinstance(body.get("labels"), dict) else {}
        if legacy:
            code = body.get("executionCode")
            run_type = body.get("runType")
            eng = body.get("executeApplicationName")
            creator = body.get("requestApplicationName") or "IDE"
            if not isinstance(code, str) or not code.strip():
                return error(method, E_CODE, "Only code with runtype supported !(仅支持带有运行类型的代码！): "
                                             "executionCode is empty")
            if not isinstance(eng, str) or not eng:
                return error(method, E_LABELS, "executeApplicationName can not be empty(执行引擎不能为空)")
            et = labels.get("engineType") if isinstance(labels.get("engineType"), str) else None
            engine, version = (et.rsplit("-", 1) if et and "-" in et else (eng, DEFAULT_VERSION.get(eng, "")))
        else:
            content = body.get("executionContent") if isinstance(body.get("executionContent"), dict) else {}
            code = content.get("code")
            run_type = content.get("runType")
            if not isinstance(code, str) or not code.strip():
                return error(method, E_CODE, "Only code with runtype supported !(仅支持带有运行类型的代码！)")
            if not labels or not isinstance(labels.get("engineType"), str) or not labels.get("engineType"):
                return error(method, E_LABELS, "labels is null.(labels 为空)")
            et = labels["engineType"]
            if "-" not in et:
                return error(method, E_ENGINE, f"engineType {et} must be <engine>-<version>(engineType格式错误)")
            engine, version = et.split("-", 1)
            uc = labels.get("userCreator")
            creator = "IDE"
            if isinstance(uc, str) and uc:
                if "-" not in uc.strip("-"):
                    return error(method, E_LABELS, f"userCreator {uc} must be <user>-<creator>(userCreator格式错误)")
                creator = uc.rsplit("-", 1)[1]
        if engine not in ENGINES or version not in ENGINES[engine][0]:
            known = ", ".join(f"{e}-{v}" for e, (vs, _, _) in ENGINES.items() for v in vs)
            return error(method, E_ENGINE, f"Engine type {engine}-{version} is not supported(不支持的引擎类型), "
                                           f"supported: {known}")
        if not isinstance(run_type, str) or not run_type:
            run_type = ENGINES[engine][2]
        if run_type not in ENGINES[engine][1]:
            return error(method, E_RUNTYPE, f"runType {run_type} is not supported by engine {engine}"
                                            f"(引擎{engine}不支持该运行类型), use one of {', '.join(ENGINES[engine][1])}")
        execute_user = body.get("executeUser") or user
        if execute_user != user and user not in ADMINS:
            return error(method, E_PROXY, f"Illegal proxy user {execute_user}(非法的代理用户): only an admin may "
                                          f"submit for another user")
        if execute_user not in self.users:
            return error(method, E_PROXY, f"Illegal proxy user {execute_user}(非法的代理用户)")
        labels = {str(k): v for k, v in labels.items()}
        labels.setdefault("engineType", f"{engine}-{version}")
        labels["userCreator"] = f"{execute_user}-{creator}"
        labels["codeType"] = run_type
        job = self.create(user=execute_user, submit_user=user, creator=str(creator), engine=engine, version=version,
                          run_type=run_type, code=code, variables={str(k): str(v) for k, v in variables.items()},
                          startup={str(k): str(v) for k, v in startup.items()}, runtime=runtime,
                          source={**source, "requestIP": request.remote or "127.0.0.1"}, labels=labels, legacy=legacy)
        return ok(method, {"execID": job.exec_id, "taskID": job.task_id}, "OK")

    # ------------------------------------------------------------------ per job
    def _per_job(self, method: str, eid: str, what: str, user: str, q) -> web.Response:
        now = self.now()
        job = self.by_exec.get(eid)
        in_mem = job is not None and job.in_entrance(now)
        tid = _qint(q.get("taskID"))
        if tid is _BAD:
            return error(method, 20000, f"taskID {q.get('taskID')} is not a number(taskID 不是数字)")
        by_tid = self.jobs.get(tid) if isinstance(tid, int) else None
        if what == "kill" and user in VIEWERS:
            return error(method, E_VIEWER, f"User {user} has no permission to kill jobs(用户{user}没有kill任务的权限): "
                                           f"no permission")
        if in_mem and not self._may(user, job):
            if what == "kill":
                return message(method, 1, "You have no permission to kill this job(您没有权限kill该job)")
            return message(method, 1, f"You have no permission to access this job(您没有权限访问该job): {eid}")
        if what == "status":
            if in_mem:
                return ok(method, {"status": job.state(now), "execID": eid})
            if by_tid is not None and self._may(user, by_tid):
                return ok(method, {"status": by_tid.state(now), "execID": eid})
            return message(method, 1, "ID The corresponding job is empty and cannot obtain the corresponding task "
                                      "status.(ID 对应的job为空，不能获取相应的任务状态)")
        if what in ("progress", "progressWithResource"):
            target = job if in_mem else (by_tid if by_tid is not None and self._may(user, by_tid) else None)
            if target is None:
                return message(method, 1, "ID The corresponding job is empty and cannot obtain the corresponding "
                                          "task status.(ID 对应的job为空，不能获取相应的任务状态)")
            if target.done(now) and (tid is not None or not in_mem):
                data: dict = {"progress": "1.0", "execID": eid, "progressInfo": []}
            else:
                st = target.state(now)
                if st in ("Inited", "Scheduled"):
                    return message(method, 1, "Can not get the corresponding progress information, it may be that "
                                              "the corresponding progress information has not been generated"
                                              "(不能获取相应的进度信息,可能是相应的进度信息还未生成)")
                prog, infos = target.progress(now)
                data = {"progress": prog, "execID": eid, "progressInfo": infos}
            if what == "progressWithResource":
                data["yarnMetrics"] = self._yarn(target, now)
            return ok(method, data)
        if what == "log":
            if not in_mem:
                return message(method, 1, "The job you just executed has ended. This interface no longer provides a "
                                          "query. It is recommended that you download the log file for viewing."
                                          "(您刚刚执行的job已经结束，本接口不再提供查询，建议您下载日志文件进行查看)")
            frm = _qint(q.get("fromLine"))
            size = _qint(q.get("size"))
            if frm is _BAD or size is _BAD:
                return error(method, 20000, "fromLine and size must be numbers(fromLine 和 size 必须是数字)")
            frm = max(0, frm or 0)
            size = 100 if size is None else (10000 if size < 0 else size)
            lines = self.visible_lines(job, now)[frm:frm + size]
            nxt = frm + len(lines)
            slots = four_slots(lines)
            distinct = q.get("distinctLevel", "true").lower() != "false"
            return ok(method, {"log": slots if distinct else slots[3], "execID": eid, "fromLine": nxt})
        # kill
        if in_mem:
            if job.done(now):
                return message(method, 1, "The job already completed. Do not support kill.(任务已经结束，不支持kill)")
            self.kill(job, user)
            return ok(method, {"execID": eid}, "Successfully killed the job(成功kill了job)")
        if by_tid is not None:
            if not self._may(user, by_tid):
                return message(method, 1, "You have no permission to kill this job(您没有权限kill该job)")
            if by_tid.done(now):
                return message(method, 1, "The job already completed. Do not support kill.(任务已经结束，不支持kill)")
            self.kill(by_tid, user)
            return ok(method, {"execID": eid}, "Forced Kill task (强制杀死任务)")
        return message(method, 1, f"Can not find the job {eid} in the entrance, and no taskID was given to kill it "
                                  f"by force(找不到该job)")

    @staticmethod
    def _may(user: str, job: Job) -> bool:
        return user in ADMINS or user == job.user or user == job.submit_user

    def _yarn(self, job: Job, now: float) -> dict:
        running = job.state(now) == "Running"
        return {"yarnResource": [{"queueMemory": 8 * 1024 ** 3 if running else 0, "queueCores": 4 if running else 0,
                                  "queueInstances": 2 if running else 0,
                                  "jobStatus": "RUNNING" if running else "COMPLETED",
                                  "applicationId": f"application_1732000000000_{job.task_id % 100000:05d}",
                                  "queue": job.startup.get("wds.linkis.rm.yarnqueue", "root.default")}]
                if job.engine in ("spark", "spark3", "hive") else [],
                "memoryPercent": 0.12 if running else 0.0, "corePercent": 0.08 if running else 0.0,
                "memoryRGB": "green", "coreRGB": "green"}

    # ------------------------------------------------------------------ job history
    def vo(self, job: Job, now: float) -> dict:
        st = job.state(now)
        done = job.done(now)
        prog, _ = job.progress(now)
        end = job.end_at if done else now
        ec = f"10.107.20.{10 + job.task_id % 200}:{job.ec_port}"
        started = now >= job.run_at and job.run_at < job.end_at  # a job killed in the queue never started
        return {
            "taskID": job.task_id, "instance": ENTRANCE_INSTANCE, "execId": job.exec_id, "umUser": job.submit_user,
            "executeUser": job.user, "engineInstance": ec if started else None,
            "executionCode": job.code, "progress": "1.0" if done else str(prog),
            "logPath": job.log_path, "resultLocation": job.result_location if st == "Succeed" else None,
            "status": st, "createdTime": _ms(job.created), "updatedTime": _ms(min(now, job.end_at)),
            "engineType": job.engine, "errCode": job.err_code if done else None,
            "errDesc": job.err_desc if done and job.final != "Succeed" else None,
            "executeApplicationName": job.engine, "requestApplicationName": job.creator, "runType": job.run_type,
            "paramsJson": json.dumps({"configuration": {"startup": job.startup, "runtime": job.runtime},
                                      "variable": job.variables}, ensure_ascii=False),
            "costTime": _ms(end - job.created), "strongerExecId": job.short_id,
            "sourceJson": json.dumps(job.source, ensure_ascii=False), "sourceTailor": job.code[:50],
            "engineStartTime": _ms(job.run_at) if started else None,
            "labels": [f"{k}:{v}" for k, v in job.labels.items()], "canRetry": False, "observeInfo": "",
            "isReuse": False, "requestStartTime": _ms(job.run_at) if started else None,
            "requestEndTime": _ms(job.end_at) if done else None,
            "requestSpendTime": _ms(job.end_at - job.run_at) if done and started else None,
            "metrics": {"submitTime": _ms(job.created), "scheduleTime": _ms(job.sched_at)},
            "engineLogPath": f"/appcom/logs/linkis/engineconn/{job.user}/{job.task_id}/logs" if started else None, "ecmInstance": "10.107.20.5:9102", "ticketId": None, "subJobs": None,
        }

    def _history(self, method: str, user: str, q, undone: bool) -> web.Response:
        now = self.now()
        nums = {k: _qint(q.get(k)) for k in ("startDate", "endDate", "pageNow", "pageSize", "taskID")}
        for k, v in nums.items():
            if v is _BAD:
                return error(method, 20000, f"{k} {q.get(k)} is not a number({k} 不是数字)",
                             service="linkis-ps-jobhistory")
        admin_view = q.get("isAdminView", "false").lower() == "true" and user in ADMINS
        proxy = q.get("proxyUser") or None
        start = nums["startDate"]
        end = nums["endDate"]
        statuses = {s for s in (q.get("status") or "").split(",") if s}
        if undone and not statuses:
            statuses = {"Inited", "WaitForRetry", "Scheduled", "Running"}
        engine = q.get("executeApplicationName") or q.get("engineType") or None
        creator = q.get("creator") or None
        page = max(1, nums["pageNow"] or 1)
        size = max(1, min(nums["pageSize"] or 20, 500))
        out = []
        for job in reversed(self.jobs.values()):
            if job.created > now:
                continue
            if admin_view:
                if proxy and job.user != proxy:
                    continue
            elif job.user != user and job.submit_user != user:
                continue
            if nums["taskID"] is not None and job.task_id != nums["taskID"]:
                continue
            if start is not None and _ms(job.created) < start:
                continue
            if end is not None and _ms(job.created) > end:
                continue
            if statuses and job.state(now) not in statuses:
                continue
            if engine and job.engine != engine:
                continue
            if creator and job.creator != creator:
                continue
            out.append(job)
        out.sort(key=lambda j: (j.created, j.task_id), reverse=True)
        rows = [self.vo(j, now) for j in out[(page - 1) * size: page * size]]
        return ok(method, {"tasks": rows, "totalPage": len(out)})

    def _history_get(self, method: str, tid: str, user: str) -> web.Response:
        n = _qint(tid)
        job = self.jobs.get(n) if isinstance(n, int) else None
        if job is None or job.created > self.now():
            return error(method, 20000, f"Can not find the job of taskID {tid}(找不到taskID为{tid}的任务)",
                         service="linkis-ps-jobhistory")
        if not self._may(user, job):
            return message(method, 1, f"You have no permission to view the job {tid}(您没有权限查看该任务)")
        return ok(method, {"task": self.vo(job, self.now())})

    # ------------------------------------------------------------------ filesystem
    def _path_ok(self, method: str, user: str, path: str) -> web.Response | None:
        if user in ADMINS or f"/{user}/" in path:
            return None
        return error(method, E_PATH, f"User {user} has no permission to access the path {path}(用户没有权限访问该路径)",
                     service="linkis-ps-publicservice", ip=PUBLIC_IP, port=PUBLIC_PORT)

    def _fs_getDirFileTrees(self, method: str, user: str, q) -> web.Response:
        path = (q.get("path") or "").rstrip("/")
        if not path:
            return error(method, E_NO_FILE, "path is empty(路径为空)", service="linkis-ps-publicservice",
                         ip=PUBLIC_IP, port=PUBLIC_PORT)
        denied = self._path_ok(method, user, path)
        if denied:
            return denied
        now = self.now()
        job = self.by_location.get(path)
        if job is None or job.state(now) != "Succeed" or now < job.end_at + RESULT_DELAY:
            return ok(method, {"dirFileTrees": None})
        parent = path.rsplit("/", 1)[0]
        kids = []
        for i, r in enumerate(job.results()):
            size = (r.rows * 24 * max(1, len(r.columns))) if isinstance(r, Table) else sum(len(x) + 1 for x in r)
            kids.append({"name": f"_{i}.dolphin", "path": f"{path}/_{i}.dolphin", "properties":
                         {"size": str(size), "modifytime": str(_ms(job.end_at + RESULT_DELAY / 2))},
                         "children": None, "isLeaf": True, "parentPath": path})
        return ok(method, {"dirFileTrees": {"name": str(job.task_id), "path": path, "properties": None,
                                            "children": kids, "isLeaf": False, "parentPath": parent}})

    def _fs_openFile(self, method: str, user: str, q) -> web.Response:
        path = q.get("path") or ""
        denied = self._path_ok(method, user, path) if path else None
        if denied:
            return denied
        loc, _, name = path.rpartition("/")
        m = re.fullmatch(r"_(\d+)\.dolphin", name)
        job = self.by_location.get(loc)
        now = self.now()
        svc = {"service": "linkis-ps-publicservice", "ip": PUBLIC_IP, "port": PUBLIC_PORT}
        if not m or job is None or job.state(now) != "Succeed" or now < job.end_at + RESULT_DELAY \
                or int(m.group(1)) >= len(job.results()):
            return error(method, E_NO_FILE, f"The file {path} does not exist(文件不存在)", **svc)
        idx = int(m.group(1))
        if idx not in job.asked and now < job.end_at + NOT_WRITTEN_WINDOW:
            job.asked.add(idx)
            return error(method, E_NOT_WRITTEN, "The result set file is not fully written, please try again later"
                                                "(结果集文件尚未写完，请稍后重试)", **svc)
        job.asked.add(idx)
        page, size = _qint(q.get("page")), _qint(q.get("pageSize"))
        if page is _BAD or size is _BAD:
            return error(method, 20000, "page and pageSize must be numbers(page 和 pageSize 必须是数字)", **svc)
        page = max(1, page or 1)
        size = max(1, size or 5000)
        r = job.results()[idx]
        null = q.get("nullValue")
        if isinstance(r, Table):
            lo, hi = (page - 1) * size, min(r.rows, page * size)
            rows = [[(null if null is not None else "NULL") if v is None else v for v in r.row(i)]
                    for i in range(lo, hi)]
            return ok(method, {"metadata": r.metadata(), "fileContent": rows, "type": "2", "totalLine": r.rows,
                               "page": page, "totalPage": math.ceil(r.rows / size)})
        lo, hi = (page - 1) * size, min(len(r), page * size)
        return ok(method, {"metadata": "NULL", "fileContent": [[x] for x in r[lo:hi]], "type": "1",
                           "totalLine": len(r), "page": page, "totalPage": math.ceil(len(r) / size)})

    def _fs_openLog(self, method: str, user: str, q) -> web.Response:
        path = q.get("path") or ""
        denied = self._path_ok(method, user, path) if path else None
        if denied:
            return denied
        job = self.by_log.get(path)
        now = self.now()
        if job is None or job.created > now:
            return error(method, E_NO_FILE, f"The file {path} does not exist(文件不存在)",
                         service="linkis-ps-publicservice", ip=PUBLIC_IP, port=PUBLIC_PORT)
        slots = four_slots(self.visible_lines(job, now))
        level = (q.get("logLevel") or "all").lower()
        if level != "all":
            want = {s.strip() for s in level.split(",")}
            slots = [s if lvl in want else "" for s, lvl in zip(slots[:3], ("error", "warn", "info"))] + [slots[3]]
        return ok(method, {"log": slots})


_BAD = object()


def _qint(v: str | None) -> Any:
    if v in (None, ""):
        return None
    try:
        return int(v)
    except ValueError:
        return _BAD


def _mask(token: str | None) -> str:
    return "***" if token else "null"


def _not_allowed(method: str, m: str) -> web.Response:
    return message(method, 1, f"Request method '{m}' not supported(不支持的请求方法)")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def write_files(gateway: Gateway, directory: Any) -> tuple[Any, Any]:
    """DIR/linkis-token and DIR/linkis-passwords.json, owner-only; their paths."""
    import os
    import stat
    from pathlib import Path
    d = Path(directory)
    out = []
    for name, text in (("linkis-token", gateway.token + "\n"),
                       ("linkis-passwords.json", json.dumps(gateway.passwords, indent=2) + "\n")):
        p = d / name
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(p, stat.S_IRUSR | stat.S_IWUSR)
        out.append(p)
    return out[0], out[1]



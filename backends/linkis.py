"""A Linkis gateway through its REST API (httpx, async): jobs submitted, followed, killed; job history; logs and
result sets. The contract is the one Linkis's code has (``shared/reference/prophecis-and-linkis.md`` part 2), not
its documentation's: kill is a GET, taskID a number, dates epoch milliseconds, the log a 4-slot array, progress
possibly the string ``"1.0"``, and an error answer is HTTP 400 with a JSON body to read.

``Linkis(url, user=..., token=... | password=...)`` is one gateway (``backends.base.LinkisBackend``); ``url`` is
the gateway's root (``https://gw:9001``, the simulator's ``https://127.0.0.1:PORT/linkis``), the API is
``url + "/api/rest_j/v1"``.

- Authentication: with a ``token``, the headers ``Token-Code``/``Token-User`` on every request (stateless; a 401
  is :class:`Unauthorized` at once). With a ``password``, ``POST /user/login`` before the first call, the
  session cookie ``linkis_user_session_ticket_id_v1`` kept in the client's jar; an expired session (HTTP 401 or
  status -1) is logged in again ONCE and the call asked again; several callers meeting the expiry at the same
  moment log in once between them.
- ``submit``: Linkis 1.x ``/entrance/submit`` (executionContent, params.variable/configuration, labels
  engineType/userCreator, source); ``legacy=True`` for 0.x gateways: ``/entrance/execute``. ``submit`` and
  ``kill`` are refused with :class:`ReadOnly` before any request when built ``read_only=True``.
- ``status``/``progress``/``log``/``kill`` address the job by its execID, URL-encoded in the path (it holds a
  ``:``); a log asked after the job left the entrance is :class:`NotFound` (read ``task_log`` then).
- ``tasks``/``task``: job history; ``task_log``: a finished job's log file; ``result_paths``/``result``: its
  result sets.

Every answer goes through :func:`parse_envelope`, the one place that reads Linkis's ``{status, message, data}``:
status 0 is success whatever the HTTP code, the others typed errors carrying Linkis's errCode. Errors are one line
naming the gateway (host:port and path) and the call, never a token, a password, a cookie or a query string.

``LinkisSync(linkis)`` runs those coroutines on one event-loop thread of its own and offers the same methods as
blocking calls, for the core's threads (poller, actions) and any number of them at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import re
import ssl
import threading
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterable, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from prophecis_tui.domain import (BackendError, Forbidden, Invalid, LinkisColumn, LinkisError, LinkisLog,
                                  LinkisResultSet, LinkisStage, LinkisState, LinkisSubmit, LinkisTask, NotFound,
                                  ReadOnly, Timeout, Unauthorized, Unavailable)
from prophecis_tui.sanitize import clean_line

from .endpoint import where as endpoint

SOURCE = "linkis"
API = "/api/rest_j/v1"
SESSION_COOKIE = "linkis_user_session_ticket_id_v1"
T = TypeVar("T")

# how long result_paths waits between two getDirFileTrees that found nothing yet; result's retries on "not fully
# written" (seconds before each new try)
RESULT_DIR_PAUSE = 0.25
RESULT_RETRIES = (0.2, 0.4, 0.8, 1.6)


# ------------------------------------------------------------------------------------------ the envelope
_ERR_CODE = re.compile(r"(?:error\s*code|errcode|错误码)\s*(?:\(\s*错误码\s*\))?\s*[:：=]\s*(-?\d{1,10})", re.I)
# Linkis's words for "that job / task / file is not (or no longer) there"
_GONE = re.compile(
    r"(job|task|execid|exec_id|file|任务|文件)[^.;,]{0,80}?"
    r"(is\s+empty|not\s+exist|does\s+not\s+exist|doesn't\s+exist|not\s+found|has\s+(already\s+)?ended|no\s+longer"
    r"|不存在)"
    r"|(no\s+such|cannot\s+find|can\s*not\s+find|could\s+not\s+find)\s+(the\s+)?(job|task)"
    r"|(corresponding\s+job\s+is\s+empty)|(get\s+job\s+by\s+id\s+error)",
    re.I)
# ... and for "you may not" (the viewer's submit, a kill of someone else's job, another user's result path)
_DENIED = re.compile(r"no\s+permission|not\s+permitted|permission\s+denied|没有权限|无权限", re.I)


def _int(v: Any) -> int | None:
    """A JSON number or numeric string as an int (True/False, fractions, NaN and the rest: None)."""
    if type(v) is int:
        return v
    if type(v) is float:
        return int(v) if math.isfinite(v) and v.is_integer() else None
    if type(v) is str:
        s = v.strip()
        if s[:1] in ("+", "-"):
            sign, s = s[0], s[1:]
        else:
            sign = ""
        if s.isdigit() and s.isascii() and len(s) <= 19:
            return int(sign + s)
    return None


def _redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (and a ``token: X`` echo, which Linkis's token errors carry) blotted out."""
    for s in secrets:
        if s and s in text:
            text = text.replace(s, "***")
    return re.sub(r"((?:token|Token-Code|password|passwd)\s*[:=]\s*)[^\s,;)]+", r"\1***", text)


def parse_envelope(http_status: int, body: bytes, *, where: str = "Linkis", secrets: Iterable[str] = ()) -> dict:
    """A Linkis answer (``{"method", "status", "message", "data"}``) -> its ``data`` (a dict, ``{}`` when null),
    or the typed error it says; never any other exception, whatever the bytes.

    status 0: success whatever the HTTP code; -1 :class:`Unauthorized`; 2 :class:`Invalid`; 3 :class:`Forbidden`;
    1, 4 and any other :class:`LinkisError` (:class:`Forbidden` when the message says "no permission",
    :class:`NotFound` when it says the job, task or file is not there). Each carries ``err_code``
    (``data.errorMsg.errCode``, else the ``error code(错误码): N`` of the message) and ``linkis_status``.
    A body that is not JSON or not an envelope: :class:`Unavailable` on HTTP 5xx,
    :class:`Unauthorized`/:class:`Forbidden` on 401/403, else :class:`Invalid`. Messages are one line starting with
    ``where``, Linkis's words kept (bilingual), ``secrets`` blotted out."""
    secrets = tuple(s for s in secrets if s)
    try:
        code = int(http_status)
    except (TypeError, ValueError):
        code = 0
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError):
        doc = None
        shape = "not JSON"
    else:
        shape = f"a JSON {type(doc).__name__}"
    status = _int(doc.get("status")) if isinstance(doc, dict) else None
    if status is None:  # not an envelope
        if isinstance(doc, dict):
            shape = "a JSON object without a Linkis status"
        size = len(body) if isinstance(body, (bytes, bytearray, str)) else 0
        what = f"{where} answered HTTP {code} with {shape} ({size} bytes), not a Linkis envelope"
        if code >= 500:
            raise Unavailable(f"{where} answered HTTP {code} ({shape}, {size} bytes)", source=SOURCE, status=code)
        if code == 401:
            raise Unauthorized(f"{where} answered HTTP 401 Unauthorized ({shape})", source=SOURCE, status=code)
        if code == 403:
            raise Forbidden(f"{where} answered HTTP 403 Forbidden ({shape})", source=SOURCE, status=code)
        if code == 404:
            what += ": is the URL the Linkis gateway's?"
        raise Invalid(what, source=SOURCE, status=code)
    data = doc.get("data")
    if status == 0:
        if data is None:
            return {}
        if isinstance(data, dict):
            return data
        raise Invalid(f"{where}: the answer's data is a JSON {type(data).__name__}, not an object", source=SOURCE,
                      status=code)
    # an error: Linkis's message, its errCode
    message = doc.get("message")
    if isinstance(message, (int, float)) and not isinstance(message, bool):
        message = str(message)
    message = message if isinstance(message, str) else ""
    err_code = None
    desc = ""
    if isinstance(data, dict):
        em = data.get("errorMsg")
        if isinstance(em, dict):
            err_code = _int(em.get("errCode"))
            if isinstance(em.get("desc"), str):
                desc = em["desc"]
        if err_code is None:
            err_code = _int(data.get("errCode"))
    if err_code is None:
        m = _ERR_CODE.search(message) or _ERR_CODE.search(desc)
        if m:
            err_code = _int(m.group(1))
    said = clean_line(_redact((message or desc).strip(), secrets), 400) or f"status {status} without a message"
    if err_code is not None and str(err_code) not in said:
        said += f" (errCode {err_code})"
    text = f"{where}: {said}"
    err: BackendError
    if status == -1:
        err = Unauthorized(text, source=SOURCE, status=code)
    elif status == 2:
        err = Invalid(text, source=SOURCE, status=code)
    elif status == 3 or _DENIED.search(message) or _DENIED.search(desc):
        err = Forbidden(text, source=SOURCE, status=code)
    elif _GONE.search(message) or _GONE.search(desc):
        err = NotFound(text, source=SOURCE, status=code)
    else:
        err = LinkisError(text, source=SOURCE, status=code, err_code=err_code, linkis_status=status)
    err.err_code = err_code
    err.linkis_status = status  # type: ignore[attr-defined]
    raise err


# ------------------------------------------------------------------------------------------ parsing
def _str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def _strings(v: Any) -> dict[str, str]:
    if not isinstance(v, dict):
        return {}
    return {str(k): _str(x) for k, x in v.items() if x is not None}


def _time(v: Any) -> datetime | None:
    """Epoch milliseconds (a number, as Linkis's Jackson writes dates; a numeric string) or an ISO text -> an aware
    datetime (UTC); anything else None."""
    if isinstance(v, bool) or v is None:
        return None
    ms: float | None = None
    if isinstance(v, (int, float)):
        ms = float(v)
    elif isinstance(v, str):
        s = v.strip()
        try:
            ms = float(s)
        except ValueError:
            try:
                t = datetime.fromisoformat(s)
            except ValueError:
                return None
            return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    if ms is None or not math.isfinite(ms) or ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000.0, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _fraction(v: Any) -> float:
    """A progress: a float 0..1, the string "1.0", a percentage string "42%"; anything else 0."""
    if isinstance(v, bool):
        return 0.0
    if isinstance(v, str):
        s = v.strip()
        pct = s.endswith("%")
        try:
            f = float(s.rstrip("%"))
        except ValueError:
            return 0.0
        if pct:
            f /= 100.0
    elif isinstance(v, (int, float)):
        f = float(v)
    else:
        return 0.0
    if not math.isfinite(f):
        return 0.0
    return min(1.0, max(0.0, f))


def _state(v: Any) -> LinkisState:
    try:
        return LinkisState(v) if isinstance(v, str) else LinkisState.UNKNOWN
    except ValueError:
        return LinkisState.UNKNOWN


def _stages(info: Any) -> tuple[LinkisStage, ...]:
    if not isinstance(info, list):
        return ()
    out = []
    for p in info:
        if not isinstance(p, dict):
            continue
        out.append(LinkisStage(id=_str(p.get("id")), succeed=_int(p.get("succeedTasks")) or 0,
                               failed=_int(p.get("failedTasks")) or 0, running=_int(p.get("runningTasks")) or 0,
                               total=_int(p.get("totalTasks")) or 0))
    return tuple(out)


def _lines(v: Any) -> list[str]:
    """One log slot: a string of lines (Linkis's), or a list of strings (tolerated)."""
    if isinstance(v, str):
        if not v:
            return []
        lines = v.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return [line[:-1] if line.endswith("\r") else line for line in lines]
    if isinstance(v, list):
        out: list[str] = []
        for x in v:
            out.extend(_lines(x) if isinstance(x, str) else [_str(x)])
        return out
    return []


_LEVEL = re.compile(r"\b(ERROR|WARN|WARNING|INFO)\b")


def parse_log(log: Any, from_line: int) -> LinkisLog:
    """``data.log`` (the 4-slot array ERROR, WARN, INFO, ALL; or a single string when the gateway sends one)."""
    if isinstance(log, list) and len(log) >= 4 and all(x is None or isinstance(x, (str, list)) for x in log[:4]):
        error, warn, info, every = (_lines(x) for x in log[:4])
    else:
        every = _lines(log)
        error, warn, info = [], [], []
        for line in every:
            m = _LEVEL.search(line[:200])
            level = m.group(1) if m else ""
            (error if level == "ERROR" else warn if level.startswith("WARN") else info).append(line)
    return LinkisLog(error=tuple(error), warn=tuple(warn), info=tuple(info), all=tuple(every), from_line=from_line)


def _engine(t: dict) -> tuple[str, str]:
    """(engine with its version when the labels say it, creator) of a job-history row."""
    engine = _str(t.get("engineType"))
    creator = _str(t.get("requestApplicationName"))
    labels = t.get("labels")
    found: dict[str, str] = {}
    if isinstance(labels, dict):
        found = _strings(labels)
    elif isinstance(labels, list):
        for lab in labels:
            if isinstance(lab, str) and ":" in lab:
                k, _, v = lab.partition(":")
                found[k.strip()] = v.strip()
            elif isinstance(lab, dict):
                k = lab.get("labelKey") or lab.get("key")
                v = lab.get("stringValue") or lab.get("value")
                if isinstance(k, str):
                    found[k] = _str(v)
    labelled = found.get("engineType", "")
    if labelled and (not engine or labelled.startswith(engine)):
        engine = labelled
    if not creator and "-" in found.get("userCreator", ""):
        creator = found["userCreator"].rsplit("-", 1)[1]
    return engine, creator


def parse_task(t: Any, gateway: str = "") -> LinkisTask | None:
    """One job-history row (QueryTaskVO) -> a LinkisTask; None when it has no numeric taskID."""
    if not isinstance(t, dict):
        return None
    task_id = _int(t.get("taskID"))
    if task_id is None:
        task_id = _int(t.get("taskId"))
        if task_id is None:
            return None
    params = t.get("paramsJson")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except (ValueError, RecursionError):
            params = None
    if not isinstance(params, dict):
        params = {}
    conf = params.get("configuration")
    startup = _strings(conf.get("startup")) if isinstance(conf, dict) else {}
    engine, creator = _engine(t)
    cost = _int(t.get("costTime"))
    return LinkisTask(
        task_id=task_id, exec_id=_str(t.get("execId") or t.get("strongerExecId") or t.get("execID")),
        user=_str(t.get("executeUser") or t.get("umUser")), submit_user=_str(t.get("umUser") or t.get("submitUser")),
        engine=engine, creator=creator, run_type=_str(t.get("runType")), code=_str(t.get("executionCode")),
        state=_state(t.get("status")), progress=_fraction(t.get("progress")), created=_time(t.get("createdTime")),
        updated=_time(t.get("updatedTime")), cost_ms=cost, err_code=_int(t.get("errCode")),
        err_desc=_str(t.get("errDesc")), log_path=_str(t.get("logPath")),
        result_location=_str(t.get("resultLocation")), variables=_strings(params.get("variable")), startup=startup,
        gateway=gateway)


def _result_order(name: str) -> tuple[int, str]:
    m = re.search(r"_(\d+)(?:\.\w+)?$", name)
    return (int(m.group(1)) if m else 1 << 30, name)


def parse_result(path: str, data: dict) -> LinkisResultSet:
    """An openFile answer -> one page of a result set: type 2 columns and rows, anything else text."""
    kind = _int(data.get("type")) or 2
    content = data.get("fileContent")
    total = _int(data.get("totalLine")) or 0
    page = _int(data.get("page")) or 1
    pages = max(1, _int(data.get("totalPage")) or 0)
    if kind == 2 and isinstance(data.get("metadata"), list):
        cols = []
        for c in data["metadata"]:
            if isinstance(c, dict):
                cols.append(LinkisColumn(name=_str(c.get("columnName") or c.get("name")),
                                         type=_str(c.get("dataType") or c.get("type")), comment=_str(c.get("comment"))))
            else:
                cols.append(LinkisColumn(name=_str(c)))
        rows = []
        for r in content if isinstance(content, list) else ():
            if isinstance(r, list):
                rows.append(tuple(None if x is None else _str(x) for x in r))
            elif isinstance(r, dict):  # a row keyed by column (some gateways)
                rows.append(tuple(None if r.get(c.name) is None else _str(r.get(c.name)) for c in cols))
            else:
                rows.append((None if r is None else _str(r),))
        return LinkisResultSet(path=path, type=2, columns=tuple(cols), rows=tuple(rows), total_lines=total or len(rows),
                               page=page, total_pages=pages)
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "\n".join("\t".join(_str(x) for x in r) if isinstance(r, list) else _str(r) for r in content)
    else:
        text = ""
    return LinkisResultSet(path=path, type=kind if kind != 2 else 1, text=text,
                           total_lines=total or (text.count("\n") + 1 if text else 0), page=page, total_pages=pages)


# ------------------------------------------------------------------------------------------ the client
class Linkis:
    """One Linkis gateway (``backends.base.LinkisBackend``), async. Build it anywhere; use it on one event loop
    (``LinkisSync`` gives it its own)."""

    def __init__(self, url: str, *, user: str, token: str | None = None, password: str | None = None,
                 legacy: bool = False, read_only: bool = False, ca_file: str | None = None, verify: bool = True,
                 timeout: float = 10.0, name: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        """``token``/``password``: plain strings from the config's SecretStr (token wins when both are given);
        never logged, never in an error or a repr. ``legacy``: a 0.x gateway (``/entrance/execute``).
        ``ca_file``: the CA of a gateway with a private CA (the simulator's ``ca.crt``); ``verify=False`` trusts any
        certificate. ``transport``: httpx's, instead of the network (tests)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL for a Linkis gateway: {endpoint(url) or 'empty'}")
        if not user:
            raise ValueError("a Linkis user is needed (the login name, or the token's Token-User)")
        if not token and not password:
            raise ValueError(f"neither a token nor a password for Linkis user {clean_line(user, 40)!r}")
        base = url.rstrip("/")
        if base.endswith(API):
            base = base[: -len(API)]
        self.url = base
        self.base = base + API
        self.where = endpoint(base)
        host = parts.hostname if ":" not in (parts.hostname or "") else f"[{parts.hostname}]"
        self.name = name or (f"{host}:{parts.port}" if parts.port else host)
        self.user = user
        self.legacy = legacy
        self.read_only = read_only
        self.timeout = timeout
        self.auth = "token" if token else "password"
        self.__token = token or ""
        self.__password = "" if token else (password or "")
        self._secrets = tuple(s for s in (self.__token, self.__password) if s)
        self._gen = 0  # logins made (password mode); a caller that met an expiry compares it to log in once
        self._login_lock: asyncio.Lock | None = None
        tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file and verify else verify
        headers = {"Accept": "application/json", "User-Agent": "prophecis-tui"}
        if token:
            headers.update({"Token-Code": token, "Token-User": user})
        self._http = httpx.AsyncClient(verify=tls, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                       follow_redirects=False, trust_env=False, headers=headers, transport=transport)

    def __repr__(self) -> str:
        return (f"Linkis({self.name!r}, user={self.user!r}, auth={self.auth!r}"
                f"{', legacy' if self.legacy else ''}{', read-only' if self.read_only else ''})")

    # ------------------------------------------------------------------------------------------ transport
    def _label(self, method: str, path: str) -> str:
        return f"Linkis {self.where} {method} {clean_line(path, 160)}"

    async def _send(self, method: str, path: str, shown: str, params: dict | None, body: Any) -> tuple[int, bytes]:
        content = None
        headers = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json"}
        label = self._label(method, shown)
        try:
            resp = await self._http.request(method, self.base + path, params=params, content=content, headers=headers)
        except httpx.ConnectTimeout:
            raise Unavailable(f"{label}: cannot connect (no answer in {min(self.timeout, 5.0):g} s)",
                              source=SOURCE) from None
        except httpx.TimeoutException:
            raise Timeout(f"{label}: no answer in {self.timeout:g} s", source=SOURCE) from None
        except httpx.HTTPError as err:
            why = clean_line(str(err).splitlines()[0] if str(err) else type(err).__name__, 120)
            raise Unavailable(f"{label}: cannot connect ({_redact(why, self._secrets)})", source=SOURCE) from None
        if 300 <= resp.status_code < 400:
            to = endpoint(resp.headers.get("Location", "")) or "elsewhere"
            raise Unavailable(f"{label}: HTTP {resp.status_code}, a redirect to {to} (a login page?): point the URL "
                              "at the Linkis gateway itself", source=SOURCE, status=resp.status_code)
        return resp.status_code, resp.content

    async def _call(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
                    shown: str | None = None) -> dict:
        """One API call's data; in password mode logged in first, and once again on an expired session."""
        return (await self._exchange(method, path, params=params, body=body, shown=shown))[0]

    async def _exchange(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
                        shown: str | None = None) -> tuple[dict, str]:
        """(data, Linkis's message in one line) of one API call (see ``_call``)."""
        shown = shown or path
        where = self._label(method, shown)
        if self.auth == "password" and self._gen == 0:
            await self._ensure_login(0)
        gen = self._gen
        code, content = await self._send(method, path, shown, params, body)
        try:
            return parse_envelope(code, content, where=where, secrets=self._secrets), self._said(content)
        except Unauthorized as err:
            if self.auth == "token":
                raise Unauthorized(f"{err.message} (token authentication as {clean_line(self.user, 40)})",
                                   source=SOURCE, status=err.status) from None
        await self._ensure_login(gen, again=True)  # the session expired: log in once, ask once more
        code, content = await self._send(method, path, shown, params, body)
        return parse_envelope(code, content, where=where, secrets=self._secrets), self._said(content)

    def _said(self, content: bytes) -> str:
        try:
            msg = json.loads(content).get("message")
        except (ValueError, AttributeError, RecursionError, UnicodeDecodeError):
            return ""
        return clean_line(_redact(msg, self._secrets), 200) if isinstance(msg, str) else ""

    async def _ensure_login(self, gen: int, again: bool = False) -> None:
        """Log in unless another caller has since the session this caller used (``gen``)."""
        if self._login_lock is None:
            self._login_lock = asyncio.Lock()
        async with self._login_lock:
            if self._gen != gen:
                return
            if again:
                self._http.cookies.clear()  # the gateway forgot it; a stale cookie makes "already logged in"
            await self._login()

    async def _login(self) -> None:
        where = self._label("POST", "/user/login")
        code, content = await self._send("POST", "/user/login", "/user/login", None,
                                         {"userName": self.user, "password": self.__password})
        try:
            parse_envelope(code, content, where=where, secrets=self._secrets)
        except (LinkisError, Invalid, Forbidden, Unauthorized) as err:
            refused = Unauthorized(f"{where}: login as {clean_line(self.user, 40)} refused: "
                                   f"{err.message.removeprefix(where + ': ')}", source=SOURCE, status=err.status)
            refused.err_code = err.err_code
            raise refused from None
        self._gen += 1

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnly(f"read-only: not {what} on Linkis {self.where}", source=SOURCE)

    @staticmethod
    def _job(exec_id: str) -> str:
        if not exec_id:
            raise NotFound("no execID for this job (it has left the entrance): use the job history", source=SOURCE)
        return "/entrance/" + quote(exec_id, safe="")

    # ------------------------------------------------------------------------------------------ session
    async def login(self) -> None:
        """Password mode: log in now (the cookie kept). Token mode: nothing to do (the headers go on each call)."""
        if self.auth == "password":
            await self._ensure_login(self._gen)

    async def heartbeat(self) -> None:
        await self._call("POST", "/user/heartbeat", body={})

    # ------------------------------------------------------------------------------------------ jobs
    async def submit(self, job: LinkisSubmit) -> tuple[int, str]:
        """(taskID, execID) of a new job: ``/entrance/submit`` (1.x), or ``/entrance/execute`` (``legacy``)."""
        self._writable(f"submitting a {clean_line(job.engine, 30)} job")
        params = {"variable": dict(job.variables),
                  "configuration": {"startup": dict(job.startup), "runtime": {}, "special": {}}}
        source = {"scriptPath": job.script_path} if job.script_path else {}
        if self.legacy:
            path = "/entrance/execute"
            body: dict = {"executeApplicationName": job.engine.split("-", 1)[0], "requestApplicationName": job.creator,
                          "executionCode": job.code, "runType": job.run_type, "params": params, "source": source}
        else:
            path = "/entrance/submit"
            body = {"executionContent": {"code": job.code, "runType": job.run_type}, "params": params,
                    "labels": {"engineType": job.engine, "userCreator": f"{self.user}-{job.creator}"},
                    "source": source}
        data = await self._call("POST", path, body=body)
        task_id, exec_id = _int(data.get("taskID")), data.get("execID")
        if task_id is None or not isinstance(exec_id, str) or not exec_id:
            raise Invalid(f"{self._label('POST', path)}: the answer has no taskID/execID", source=SOURCE)
        return task_id, exec_id

    async def status(self, exec_id: str, task_id: int | None = None) -> LinkisState:
        data = await self._call("GET", self._job(exec_id) + "/status", params=_tid(task_id),
                                shown=f"/entrance/{exec_id}/status")
        return _state(data.get("status"))

    async def progress(self, exec_id: str, task_id: int | None = None) -> tuple[float, list[LinkisStage]]:
        """(0..1, stages); (0.0, []) while Linkis has produced none ("Can not get the corresponding progress")."""
        try:
            data = await self._call("GET", self._job(exec_id) + "/progress", params=_tid(task_id),
                                    shown=f"/entrance/{exec_id}/progress")
        except LinkisError as err:
            if "progress" in err.message.lower() or "进度" in err.message:
                return 0.0, []
            raise
        return _fraction(data.get("progress")), list(_stages(data.get("progressInfo")))

    async def log(self, exec_id: str, from_line: int = 0, size: int = 100) -> LinkisLog:
        """The log lines since ``from_line`` (``.from_line``: where to ask from next). NotFound once the job has
        left the entrance: its whole log is then ``task_log``."""
        data = await self._call("GET", self._job(exec_id) + "/log", params={"fromLine": from_line, "size": size},
                                shown=f"/entrance/{exec_id}/log")
        nxt = _int(data.get("fromLine"))
        out = parse_log(data.get("log"), from_line)
        if nxt is None or nxt < from_line:
            nxt = from_line + len(out.all)
        return out.model_copy(update={"from_line": nxt})

    async def kill(self, exec_id: str, task_id: int | None = None) -> str:
        """GET /entrance/{execID}/kill (a GET in Linkis's code); Linkis's message."""
        self._writable(f"killing job {clean_line(exec_id or str(task_id), 60)}")
        data, said = await self._exchange("GET", self._job(exec_id) + "/kill", params=_tid(task_id),
                                          shown=f"/entrance/{exec_id}/kill")
        return said or "killed"

    # ------------------------------------------------------------------------------------------ history
    async def tasks(self, *, start: datetime | None = None, end: datetime | None = None, status: str = "",
                    creator: str = "", engine: str = "", page: int = 1, page_size: int = 50,
                    admin_view: bool = False, proxy_user: str = "") -> tuple[list[LinkisTask], int]:
        """GET /jobhistory/list: (tasks newest first, the total count). ``admin_view``: everyone's jobs (a
        job-history admin's view; Linkis refuses or ignores it for others)."""
        params: dict[str, Any] = {"pageNow": page, "pageSize": page_size}
        if start is not None:
            params["startDate"] = _ms(start)
        if end is not None:
            params["endDate"] = _ms(end)
        if status:
            params["status"] = status
        if creator:
            params["creator"] = creator
        if engine:
            params["executeApplicationName"] = engine.split("-", 1)[0]
        if admin_view:
            params["isAdminView"] = "true"
        if proxy_user:
            params["proxyUser"] = proxy_user
        data = await self._call("GET", "/jobhistory/list", params=params)
        rows = data.get("tasks")
        tasks = [t for t in map(lambda r: parse_task(r, self.name), rows if isinstance(rows, list) else [])
                 if t is not None]
        if engine and "-" in engine:
            tasks = [t for t in tasks if t.engine == engine or "-" not in t.engine]
        tasks.sort(key=lambda t: t.task_id, reverse=True)
        total = _int(data.get("totalPage"))
        return tasks, total if total is not None else len(tasks)

    async def task(self, task_id: int) -> LinkisTask:
        data = await self._call("GET", f"/jobhistory/{int(task_id)}/get")
        task = parse_task(data.get("task"), self.name)
        if task is None:
            raise NotFound(f"{self._label('GET', f'/jobhistory/{int(task_id)}/get')}: no task {int(task_id)}",
                           source=SOURCE)
        return task

    async def task_log(self, task: LinkisTask) -> LinkisLog:
        """A finished job's whole log: ``openLog?path=<logPath>`` (the path read from the history when the task
        given has none)."""
        path = task.log_path or (await self.task(task.task_id)).log_path
        if not path:
            raise NotFound(f"Linkis {self.where}: task {task.task_id} has no log file (yet)", source=SOURCE)
        data = await self._call("GET", "/filesystem/openLog", params={"path": path}, shown="/filesystem/openLog")
        out = parse_log(data.get("log"), 0)
        return out.model_copy(update={"from_line": len(out.all)})

    async def result_paths(self, task: LinkisTask, *, wait: float = 10.0) -> list[str]:
        """The result files under the task's resultLocation, in order (_0, _1, ..., _10); getDirFileTrees asked
        again while it answers null (being written), up to ``wait`` seconds; [] when there are none."""
        location = task.result_location
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            if not location:
                location = (await self.task(task.task_id)).result_location
            if location:
                data = await self._call("GET", "/filesystem/getDirFileTrees", params={"path": location},
                                        shown="/filesystem/getDirFileTrees")
                tree = data.get("dirFileTrees")
                if isinstance(tree, dict):
                    children = tree.get("children")
                    files = []
                    for c in children if isinstance(children, list) else ():
                        if not isinstance(c, dict) or c.get("isLeaf") is False or not isinstance(c.get("path"), str):
                            continue
                        files.append((_result_order(_str(c.get("name")) or c["path"].rsplit("/", 1)[-1]), c["path"]))
                    return [p for _, p in sorted(files)]
            if time.monotonic() >= deadline:
                return []
            await asyncio.sleep(min(RESULT_DIR_PAUSE, max(0.0, deadline - time.monotonic())))

    async def result(self, path: str, *, page: int = 1, page_size: int = 5000) -> LinkisResultSet:
        """One page of a result file (openFile); asked again a few times while Linkis says it is not fully
        written."""
        params = {"path": path, "page": page, "pageSize": page_size}
        for pause in (*RESULT_RETRIES, None):
            try:
                data = await self._call("GET", "/filesystem/openFile", params=params, shown="/filesystem/openFile")
            except LinkisError as err:
                if pause is None or not _being_written(err.message):
                    raise
                await asyncio.sleep(pause)
                continue
            return parse_result(path, data)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._http.aclose()


def _being_written(message: str) -> bool:
    m = message.lower()
    return "written" in m or "writing" in m or "写入" in m or "not complete" in m


def _tid(task_id: int | None) -> dict | None:
    return {"taskID": int(task_id)} if task_id is not None else None


def _ms(t: datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000)


# ------------------------------------------------------------------------------------------ blocking
class LinkisSync:
    """A :class:`Linkis` for threads: its coroutines run on one event-loop thread of this object's own; each
    method blocks its caller until the answer (or the typed error) is in. Any number of threads may call at once
    (they share the session, and an expiry is logged in once). ``close()`` closes the client and ends the
    thread; a call after it (or cut short by it) is :class:`Unavailable`."""

    def __init__(self, linkis: Linkis) -> None:
        self.linkis = linkis
        self._loop = asyncio.new_event_loop()
        self._closed = False
        # re-entrant: a Ctrl-C landing just after `with` took it must not leave the kill that follows waiting for ever
        self._lock = threading.RLock()
        self._thread = threading.Thread(target=self._run, name=f"linkis-{linkis.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def __repr__(self) -> str:
        return f"LinkisSync({self.linkis!r})"

    @property
    def name(self) -> str:
        return self.linkis.name

    @property
    def user(self) -> str:
        return self.linkis.user

    @property
    def read_only(self) -> bool:
        return self.linkis.read_only

    @property
    def legacy(self) -> bool:
        return self.linkis.legacy

    def _do(self, fn: Callable[[], Awaitable[T]]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("LinkisSync called from its own loop thread: await the Linkis instead")
        with self._lock:
            if self._closed:
                raise Unavailable(f"Linkis {self.linkis.where}: the client is closed", source=SOURCE)
            fut = asyncio.run_coroutine_threadsafe(fn(), self._loop)  # type: ignore[arg-type]
        try:
            return fut.result()
        except (asyncio.CancelledError, concurrent.futures.CancelledError):
            raise Unavailable(f"Linkis {self.linkis.where}: the client was closed during the call",
                              source=SOURCE) from None

    def login(self) -> None:
        return self._do(self.linkis.login)

    def heartbeat(self) -> None:
        return self._do(self.linkis.heartbeat)

    def submit(self, job: LinkisSubmit) -> tuple[int, str]:
        self.linkis._writable(f"submitting a {clean_line(job.engine, 30)} job")
        return self._do(lambda: self.linkis.submit(job))

    def status(self, exec_id: str, task_id: int | None = None) -> LinkisState:
        return self._do(lambda: self.linkis.status(exec_id, task_id))

    def progress(self, exec_id: str, task_id: int | None = None) -> tuple[float, list[LinkisStage]]:
        return self._do(lambda: self.linkis.progress(exec_id, task_id))

    def log(self, exec_id: str, from_line: int = 0, size: int = 100) -> LinkisLog:
        return self._do(lambda: self.linkis.log(exec_id, from_line, size))

    def kill(self, exec_id: str, task_id: int | None = None) -> str:
        self.linkis._writable(f"killing job {clean_line(exec_id or str(task_id), 60)}")
        return self._do(lambda: self.linkis.kill(exec_id, task_id))

    def tasks(self, *, start: datetime | None = None, end: datetime | None = None, status: str = "",
              creator: str = "", engine: str = "", page: int = 1, page_size: int = 50, admin_view: bool = False,
              proxy_user: str = "") -> tuple[list[LinkisTask], int]:
        return self._do(lambda: self.linkis.tasks(start=start, end=end, status=status, creator=creator, engine=engine,
                                                  page=page, page_size=page_size, admin_view=admin_view,
                                                  proxy_user=proxy_user))

    def task(self, task_id: int) -> LinkisTask:
        return self._do(lambda: self.linkis.task(task_id))

    def task_log(self, task: LinkisTask) -> LinkisLog:
        return self._do(lambda: self.linkis.task_log(task))

    def result_paths(self, task: LinkisTask, *, wait: float = 10.0) -> list[str]:
        return self._do(lambda: self.linkis.result_paths(task, wait=wait))

    def result(self, path: str, *, page: int = 1, page_size: int = 5000) -> LinkisResultSet:
        return self._do(lambda: self.linkis.result(path, page=page, page_size=page_size))

    def close(self) -> None:
        """Close the client, cancel what is still running, end the thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not self._loop.is_closed() and self._thread.is_alive():
            async def shut() -> None:
                me = asyncio.current_task()
                for t in asyncio.all_tasks():
                    if t is not me:
                        t.cancel()
                try:
                    await self.linkis.aclose()
                except Exception:  # closing must not fail the caller
                    pass
            try:
                asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=10)
            except Exception:
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> "LinkisSync":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

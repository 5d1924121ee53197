"""Alertmanager through its v2 API (httpx): the alerts it holds, its silences, and silences made and expired.

``Alertmanager(url)`` is one Alertmanager (``backends.base.AlertmanagerBackend``). ``url`` is where its web
server answers, with any route prefix it has (``https://sim:8443/alertmanager`` for the simulator's): the API is
``url + "/api/v2"``. Alertmanager has no authentication of its own; ``headers`` covers a proxy in front of it
(a dict, or a callable that makes them for each request: a token renewed when due).

- ``alerts()``: ``GET /api/v2/alerts`` (active, silenced, inhibited and unprocessed) as domain Alerts: key
  ``am:<fingerprint>`` (two Alertmanagers of one HA cluster give the same key, the core merges them), severity
  from the ``severity`` label, state SILENCED when a silence mutes it, INHIBITED when an inhibition rule does,
  else FIRING. Summary, description and runbook come from the annotations. The target fields stay empty: the
  alerts engine reads them from the labels. Alertmanagers before 0.28 have no ``mutedBy``; nothing here needs it.
- ``silences()``: every silence it holds (active, pending and expired).
- ``create_silence(...)`` / ``expire_silence(id)``: refused with :class:`ReadOnly` before any request when built
  ``read_only=True`` (the second lock, DESIGN section 3: the action registry refuses first).
- ``status()``: its version and cluster state.

Failures are the typed errors of :mod:`prophecis_tui.domain`, one line each, naming the Alertmanager by host[:port]
and path (never a query string, a user or a header): :class:`Unavailable` (cannot connect, no answer in time, HTTP
5xx, a redirect), :class:`Invalid` (HTTP 400/422 with Alertmanager's own message, e.g. ``Failed to create
silence: end time can't be in the past``; an answer that is not the JSON expected), :class:`NotFound` (no such
silence: a 404, or the 500 ``silence not found`` that Alertmanager 0.25 answers), :class:`Unauthorized`,
:class:`Forbidden` (a proxy's 401/403).

Parsing is plain ``json`` and a small loop per alert; the Alerts are built without pydantic's validation (the
types are the model's, made here), so 5,000 alerts parse in a few tens of milliseconds. Timestamps repeat
(Prometheus stamps every alert of an evaluation alike): each distinct one is parsed once per answer.

``AlertmanagerSet(members)`` is several of them for the action registry: ``create_silence(..., on=None)`` makes
the silence on every member (or those named) and returns ``{name: silence id}``; ``expire_silence(id, on)``
expires it where it lives. Note that the members of one HA cluster share silences by gossip: a silence made on
each of them is there twice; pass ``on=[one name]`` for those.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import quote, urlsplit

import httpx

from prophecis_tui.domain import (Alert, AlertState, BackendError, Forbidden, Invalid, NotFound, ReadOnly, Silence,
                                  SilenceMatcher, Unauthorized, Unavailable, severity_of)
from prophecis_tui.sanitize import clean_line

from .endpoint import json_client, where as endpoint

from .k8s_parse import parse_time

SOURCE = "alertmanager"
Headers = Mapping[str, str] | Callable[[], Mapping[str, str]]




# ------------------------------------------------------------------------------------------ parsing
_ALERT_FIELDS = set(Alert.model_fields)  # shared by every Alert built here, as pydantic's own construct does
_SILENCE_DEFAULTS = {name: f.default for name, f in Silence.model_fields.items()}
_SILENCE_FIELDS = set(_SILENCE_DEFAULTS)


def _construct(cls: type, defaults: dict, fields_set: set, values: dict) -> Any:
    """A domain model from values of the model's own types, without validation (pydantic's ``model_construct``
    is slower than validating: this is the domain's ``gpu_sample`` trick)."""
    obj = cls.__new__(cls)
    data = dict(defaults)
    data.update(values)
    object.__setattr__(obj, "__dict__", data)
    object.__setattr__(obj, "__pydantic_fields_set__", fields_set)
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


class _Times:
    """RFC 3339 stamps -> aware datetimes, each distinct text parsed once (an answer repeats them)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, datetime | None] = {}

    def __call__(self, text: Any) -> datetime | None:
        if type(text) is not str:
            return None
        try:
            return self._seen[text]
        except KeyError:
            pass
        try:
            t: datetime | None = datetime.fromisoformat(text)  # Python 3.11: Z, any fraction, offsets
            if t is not None and t.tzinfo is None:
                t = t.replace(tzinfo=timezone.utc)
        except ValueError:
            t = parse_time(text)
        if len(self._seen) < 4096:
            self._seen[text] = t
        return t


def _strings(obj: Any) -> dict[str, str]:
    """A label or annotation map: a JSON object of strings (anything else in it made a string, or dropped)."""
    if type(obj) is not dict:
        return {}
    for v in obj.values():
        if type(v) is not str:
            return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items() if v is not None}
    return obj


def _ids(v: Any) -> tuple[str, ...]:
    if not v or type(v) is not list:
        return ()
    return tuple(x for x in v if type(x) is str)


def parse_alerts(items: Any, origin: str, times: _Times | None = None) -> tuple[list[Alert], int]:
    """gettableAlerts (a decoded ``GET /api/v2/alerts`` answer) -> (Alerts, how many records were unreadable:
    not an object, or without a fingerprint)."""
    times = times or _Times()
    origins = (origin,)
    out: list[Alert] = []
    append = out.append
    bad = 0
    firing, silenced, inhibited = AlertState.FIRING, AlertState.SILENCED, AlertState.INHIBITED
    severities: dict[str, str] = {}
    new, setattr_ = Alert.__new__, object.__setattr__
    for a in items:
        if type(a) is not dict:
            bad += 1
            continue
        fp = a.get("fingerprint")
        if not fp or type(fp) is not str:
            bad += 1
            continue
        labels = _strings(a.get("labels"))
        ann = _strings(a.get("annotations"))
        status = a.get("status")
        if type(status) is dict:
            silenced_by = _ids(status.get("silencedBy"))
            inhibited_by = _ids(status.get("inhibitedBy"))
        else:
            silenced_by = inhibited_by = ()
        # "suppressed" says muted; silencedBy/inhibitedBy say by what. Muted by a time interval only (mutedBy,
        # 0.28+) still reads as firing: it is, and no silence or rule of anyone's explains it.
        state = silenced if silenced_by else inhibited if inhibited_by else firing
        receivers = a.get("receivers")
        if type(receivers) is list:
            rec = tuple([r["name"] for r in receivers if type(r) is dict and type(r.get("name")) is str])
        else:
            rec = ()
        runbook = ann.get("runbook_url") or ann.get("runbook") or ann.get("runbookURL") or "" if ann else ""
        sev = labels.get("severity", "")
        severity = severities.get(sev)
        if severity is None:
            severity = severities[sev] = severity_of(sev)
        gen = a.get("generatorURL")
        obj = new(Alert)
        # every field, in the model's order (a test holds this to Alert.model_fields)
        setattr_(obj, "__dict__", {
            "key": "am:" + fp, "source": SOURCE, "name": labels.get("alertname", ""), "severity": severity,
            "state": state, "summary": ann.get("summary") or ann.get("message") or "",
            "description": ann.get("description", ""), "runbook": runbook, "labels": labels, "annotations": ann,
            "namespace": "", "target_kind": "", "target_name": "", "node": "",
            "starts": times(a.get("startsAt")), "ends": times(a.get("endsAt")), "updated": times(a.get("updatedAt")),
            "fingerprint": fp, "generator_url": gen if type(gen) is str else "", "origins": origins,
            "silenced_by": silenced_by, "inhibited_by": inhibited_by, "receivers": rec, "count": 1, "systems": (),
            "ack_by": "", "ack_note": "", "ack_at": None, "related": ()})
        setattr_(obj, "__pydantic_fields_set__", _ALERT_FIELDS)
        setattr_(obj, "__pydantic_extra__", None)
        setattr_(obj, "__pydantic_private__", None)
        append(obj)
    return out, bad


def _matcher(m: Any) -> SilenceMatcher | None:
    if type(m) is not dict or type(m.get("name")) is not str:
        return None
    value = m.get("value")
    return _construct(SilenceMatcher, _MATCHER_DEFAULTS, _MATCHER_FIELDS, {
        "name": m["name"], "value": value if type(value) is str else "", "is_regex": m.get("isRegex") is True,
        "is_equal": m.get("isEqual") is not False})  # before 0.22 there was no isEqual: every matcher was "="


_MATCHER_DEFAULTS = {name: f.default for name, f in SilenceMatcher.model_fields.items()}
_MATCHER_FIELDS = set(_MATCHER_DEFAULTS)


def parse_silences(items: Any, origin: str, times: _Times | None = None) -> tuple[list[Silence], int]:
    """gettableSilences -> (Silences, how many records were unreadable: not an object, or without an id)."""
    times = times or _Times()
    out: list[Silence] = []
    bad = 0
    for s in items:
        if type(s) is not dict or not s.get("id") or type(s["id"]) is not str:
            bad += 1
            continue
        status = s.get("status")
        state = status.get("state") if type(status) is dict else None
        matchers = s.get("matchers")
        ms = tuple(m for m in map(_matcher, matchers) if m is not None) if type(matchers) is list else ()
        created_by, comment = s.get("createdBy"), s.get("comment")
        out.append(_construct(Silence, _SILENCE_DEFAULTS, _SILENCE_FIELDS, {
            "id": s["id"], "matchers": ms, "starts": times(s.get("startsAt")), "ends": times(s.get("endsAt")),
            "created_by": created_by if type(created_by) is str else "",
            "comment": comment if type(comment) is str else "",
            "state": state if type(state) is str and state else "active", "updated": times(s.get("updatedAt")),
            "origin": origin}))
    return out, bad


def format_time(t: datetime) -> str:
    """An instant as Alertmanager writes one: UTC, milliseconds, ``Z`` (a naive datetime is taken as UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _message(content: bytes) -> str:
    """What an error answer says: Alertmanager's JSON string (``"Failed to create silence: ..."``), go-swagger's
    ``{"code": 602, "message": "..."}``, or short plain text; one line."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        text = content[:400].decode("utf-8", "replace").strip()
        return clean_line(text, 200) if text and "<" not in text[:1] else ""
    if isinstance(body, str):
        return clean_line(body.strip(), 200)
    if isinstance(body, dict):
        for key in ("message", "error", "msg"):
            if isinstance(body.get(key), str) and body[key].strip():
                return clean_line(body[key].strip(), 200)
    return ""


# ------------------------------------------------------------------------------------------ one Alertmanager
class Alertmanager:
    """One Alertmanager (``backends.base.AlertmanagerBackend``). Blocking: call it from a worker thread."""

    def __init__(self, url: str, *, name: str = "", ca_file: str | None = None, read_only: bool = False,
                 timeout: float = 5.0, headers: Headers | None = None, verify: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        """``name``: how the console names it (default: host:port and path); ``ca_file``: the CA of an https
        Alertmanager with a private CA (the simulator's ``ca.crt``); ``verify=False`` trusts any certificate;
        ``headers``: sent with each request (a dict, or a callable making them each time); ``transport``: httpx's,
        instead of the network (tests)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL for an Alertmanager: {endpoint(url) or 'empty'}")
        self.url = url.rstrip("/")
        self.base = self.url + "/api/v2"
        self.where = endpoint(url)
        self.name = name or self.where
        self.read_only = read_only
        self.timeout = timeout
        self.skipped = 0  # records of the last alerts()/silences() answer that could not be read
        self._label = self.where if self.name == self.where else f"{self.name} ({self.where})"
        self._fresh = headers if callable(headers) else None
        static = {} if callable(headers) or headers is None else dict(headers)
        self._http = json_client(ca_file=ca_file, verify=verify, timeout=timeout, headers=static, transport=transport)

    def __repr__(self) -> str:
        return f"Alertmanager({self.name!r}, {self.where!r}{', read-only' if self.read_only else ''})"

    # ------------------------------------------------------------------------------------------ transport
    def _request(self, method: str, path: str, *, params: Any = None, body: Any = None,
                 what: str = "") -> httpx.Response:
        label = self._label
        headers = None
        if self._fresh is not None:
            try:
                headers = dict(self._fresh())
            except BackendError as err:  # its message is one redacted line
                raise type(err)(f"Alertmanager {label}: {err.message}", source=SOURCE, status=err.status) from None
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            resp = self._http.request(method, self.base + path, params=params, content=content, headers=headers)
        except httpx.TimeoutException:
            raise Unavailable(f"Alertmanager {label}: no answer in {self.timeout:g} s", source=SOURCE) from None
        except httpx.HTTPError as err:
            why = clean_line(str(err).splitlines()[0] if str(err) else type(err).__name__, 120)
            raise Unavailable(f"Alertmanager {label}: cannot connect ({why})", source=SOURCE) from None
        code = resp.status_code
        if code < 300:
            return resp
        says = _message(resp.content)
        said = f": {says}" if says else ""
        if code == 404 or (code == 500 and what.startswith("silence") and "not found" in says.lower()):
            # 0.25 answers an unknown silence id with 500 "silence not found"; later versions with 404
            if what:
                raise NotFound(f"Alertmanager {label}: no {what}", source=SOURCE, status=code)
            raise NotFound(f"Alertmanager {label} answered 404 for {method} /api/v2{path}: is this an "
                           "Alertmanager (v2 API) at this URL and route prefix?", source=SOURCE, status=code)
        if code in (400, 422):
            raise Invalid(f"Alertmanager {label}{said or ' answered HTTP ' + str(code)}", source=SOURCE, status=code)
        if code == 401:
            raise Unauthorized(f"Alertmanager {label} answered 401 Unauthorized (a proxy in front of it wants "
                               "credentials)", source=SOURCE, status=code)
        if code == 403:
            raise Forbidden(f"Alertmanager {label} answered 403 Forbidden{said}", source=SOURCE, status=code)
        if 300 <= code < 400:
            to = endpoint(resp.headers.get("Location", "")) or "elsewhere"
            raise Unavailable(f"Alertmanager {label} answered HTTP {code}, a redirect to {to} (a login page?): "
                              "point the URL at Alertmanager itself", source=SOURCE, status=code)
        if code < 500:
            raise Invalid(f"Alertmanager {label} answered HTTP {code}{said}", source=SOURCE, status=code)
        raise Unavailable(f"Alertmanager {label} answered HTTP {code}{said}", source=SOURCE, status=code)

    def _json(self, resp: httpx.Response, what: str) -> Any:
        try:
            return json.loads(resp.content)
        except (ValueError, UnicodeDecodeError):
            kind = clean_line(resp.headers.get("Content-Type", "no content type").split(";")[0], 40)
            raise Invalid(f"Alertmanager {self._label}: the {what} answer is not JSON ({kind}, "
                          f"{len(resp.content)} bytes)", source=SOURCE, status=resp.status_code) from None

    def _list(self, path: str, params: Any, what: str) -> list:
        body = self._json(self._request("GET", path, params=params), what)
        if not isinstance(body, list):
            raise Invalid(f"Alertmanager {self._label}: the {what} answer is a JSON {type(body).__name__}, "
                          "not a list", source=SOURCE)
        return body

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnly(f"read-only: not {what} on Alertmanager {self._label}", source=SOURCE)

    # ------------------------------------------------------------------------------------------ reads
    def alerts(self) -> list[Alert]:
        items = self._list("/alerts", {"active": "true", "silenced": "true", "inhibited": "true",
                                       "unprocessed": "true"}, "alerts")
        alerts, self.skipped = parse_alerts(items, self.name)
        return alerts

    def silences(self) -> list[Silence]:
        silences, self.skipped = parse_silences(self._list("/silences", None, "silences"), self.name)
        return silences

    def status(self) -> dict:
        """``{name, version, cluster ("ready" | "settling" | "disabled"), peers, uptime}``."""
        body = self._json(self._request("GET", "/status"), "status")
        if not isinstance(body, dict):
            raise Invalid(f"Alertmanager {self._label}: the status answer is not a JSON object", source=SOURCE)
        version = body.get("versionInfo") if isinstance(body.get("versionInfo"), dict) else {}
        cluster = body.get("cluster") if isinstance(body.get("cluster"), dict) else {}
        peers = cluster.get("peers")
        return {"name": self.name, "version": str(version.get("version") or ""),
                "cluster": str(cluster.get("status") or ""), "peers": len(peers) if isinstance(peers, list) else 0,
                "uptime": parse_time(body.get("uptime"))}

    # ------------------------------------------------------------------------------------------ writes
    def create_silence(self, matchers: Iterable[SilenceMatcher], starts: datetime, ends: datetime, created_by: str,
                       comment: str) -> str:
        """POST /api/v2/silences; the new silence's id. Alertmanager checks it (Invalid with its message: an end
        in the past, a start after the end, no matcher, a regex it cannot compile)."""
        self._writable("creating a silence")
        body = {"matchers": [{"name": m.name, "value": m.value, "isRegex": bool(m.is_regex),
                              "isEqual": bool(m.is_equal)} for m in matchers],
                "startsAt": format_time(starts), "endsAt": format_time(ends), "createdBy": created_by,
                "comment": comment}
        got = self._json(self._request("POST", "/silences", body=body), "silence")
        sid = got.get("silenceID") if isinstance(got, dict) else None
        if not isinstance(sid, str) or not sid:
            raise Invalid(f"Alertmanager {self._label}: the silence answer has no silenceID", source=SOURCE)
        return sid

    def expire_silence(self, silence_id: str) -> None:
        """DELETE /api/v2/silence/{id}: the silence ends now (it stays listed, expired). Expiring one that has
        expired already is not an error (Alertmanager says nothing); an unknown id is NotFound."""
        self._writable(f"expiring silence {clean_line(silence_id, 40)}")
        if not silence_id:
            raise NotFound(f"Alertmanager {self._label}: no silence without an id", source=SOURCE)
        self._request("DELETE", "/silence/" + quote(silence_id, safe=""),
                      what=f"silence {clean_line(silence_id, 40)}")

    def close(self) -> None:
        self._http.close()


# ------------------------------------------------------------------------------------------ several
class AlertmanagerSet:
    """The Alertmanagers of a session, for the action registry (``Actions.backends["alertmanager"]``). The
    alerts poller reads each member itself (one failing keeps the others' alerts)."""

    def __init__(self, members: Iterable[Alertmanager]) -> None:
        self.members: list[Alertmanager] = list(members)
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"two Alertmanagers are named {dup!r}: give each its own name")

    def __iter__(self) -> Iterator[Alertmanager]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"AlertmanagerSet({[m.name for m in self.members]!r})"

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def read_only(self) -> bool:
        return any(m.read_only for m in self.members)

    def by_name(self, name: str) -> Alertmanager:
        for m in self.members:
            if m.name == name:
                return m
        known = ", ".join(self.names) or "none configured"
        raise NotFound(f"no Alertmanager named {clean_line(name, 60)!r} (known: {known})", source=SOURCE)

    def _chosen(self, on: str | Iterable[str] | None) -> list[Alertmanager]:
        if on is None:
            chosen = list(self.members)
        else:
            names = [on] if isinstance(on, str) else list(dict.fromkeys(on))
            chosen = [self.by_name(n) for n in names]
        if not chosen:
            raise NotFound("no Alertmanager to do it on" + ("" if self.members else ": none configured"),
                           source=SOURCE)
        for m in chosen:  # every one refuses before any request is sent
            m._writable("changing silences")
        return chosen

    def create_silence(self, matchers: Iterable[SilenceMatcher], starts: datetime, ends: datetime, created_by: str,
                       comment: str, on: str | Iterable[str] | None = None) -> dict[str, str]:
        """The silence on each chosen member (``on``: names; None: all), ``{name: silence id}``. When one fails
        after others made it, its error is raised (same type), its message saying where it was made, and the
        ids made are on the error as ``done``."""
        matchers = list(matchers)
        done: dict[str, str] = {}
        for m in self._chosen(on):
            try:
                done[m.name] = m.create_silence(matchers, starts, ends, created_by, comment)
            except BackendError as err:
                if not done:
                    raise
                made = ", ".join(f"{n} ({sid})" for n, sid in done.items())
                partial = type(err)(f"{err.message}; the silence was made on {made}", source=SOURCE,
                                    status=err.status)
                partial.done = done  # type: ignore[attr-defined]
                raise partial from None
        return done

    def expire_silence(self, silence_id: str, on: str | Iterable[str]) -> None:
        """Expire the silence on the member(s) that hold it (a Silence's ``origin``)."""
        for m in self._chosen(on):
            m.expire_silence(silence_id)

    def close(self) -> None:
        for m in self.members:
            m.close()

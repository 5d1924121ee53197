"""Business systems from a CMDB's REST API (httpx): a JSON list, the CMDB's field names mapped onto ours.

``RestCmdb(url, fields).fetch()`` GETs the endpoint and returns the business systems it lists, each built by the
core's :func:`prophecis_tui.cmdb.from_record` with ``fields`` (ours -> theirs, the ``[cmdb] fields`` table). The
answer is the list itself, or an object holding it under ``list_key`` (``"data"``, or a dotted path such as
``"data.list"`` for ``{"code": 0, "data": {"list": [...]}}``).

One bad record does not blank the CMDB: a record that cannot be mapped (no id, a tier that is not a number, not
an object at all) or repeats an id already read is skipped; ``skipped`` and ``skip_reason`` (the first one, with
the record's position and id) tell after each fetch, and the poller shows them in the source's health. An answer
whose every record is bad raises :class:`Invalid`: that is a wrong mapping, not a CMDB with no systems.

Failures are the typed errors of :mod:`prophecis_tui.domain`, one line each, naming the endpoint by host and path
(never a query string, never the token): :class:`Unavailable` (cannot connect, HTTP 5xx/404/3xx),
:class:`Timeout`, :class:`Unauthorized` (401), :class:`Forbidden` (403), :class:`Invalid` (not JSON, no list
where it should be, every record bad). Blocking: the core polls ``fetch()`` from a worker thread.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from prophecis_tui.cmdb import FIELDS, CmdbError, from_record, parse_file
from prophecis_tui.domain import (BusinessSystem, Forbidden, Invalid, Timeout, Unauthorized, Unavailable)
from prophecis_tui.sanitize import clean_line

from .endpoint import json_client, where as endpoint

@runtime_checkable
class CmdbSource(Protocol):
    """What the CMDB poller reads: every business system, blocking; typed errors from prophecis_tui.domain."""

    name: str
    source: str  # the store's name for its systems: rest:<host>, file:<name>
    skipped: int  # records of the last fetch that were not read
    skip_reason: str  # the first of them, and why

    def fetch(self) -> list[BusinessSystem]: ...

    def close(self) -> None: ...


class _Bearer(httpx.Auth):
    """``Authorization: Bearer`` on each request; the token is never in a repr, a log or a message."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "_Bearer()"




def _keys(obj: dict) -> str:
    names = [clean_line(str(k), 30) for k in list(obj)[:8]]
    return ", ".join(names) + (", ..." if len(obj) > 8 else "") if names else "none"


class RestCmdb:
    name = "cmdb"

    def __init__(self, url: str, fields: Mapping[str, str] | None = None, *, list_key: str | None = None,
                 token: str | None = None, headers: Mapping[str, str] | None = None, timeout: float = 10.0,
                 verify: bool = True, ca_file: str | None = None) -> None:
        """``fields``: our field name -> the CMDB's (unlisted fields keep our name); ``token``: sent as a bearer
        token; ``headers``: more headers for every request (an API key header a CMDB wants); ``ca_file``: the CA
        of an https CMDB with a private CA; ``verify=False`` trusts any certificate."""
        unknown = sorted(set(fields or {}) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown business-system field {unknown[0]!r} in the mapping (ours: {', '.join(FIELDS)})")
        self.url = url
        self.where = endpoint(url)
        self.fields = dict(fields or {})
        self.list_key = list_key or None
        self.timeout = timeout
        # the store's source for what it says, and each system's `source`: rest:<host[:port]>
        self.source = f"rest:{clean_line(urlsplit(url).netloc.rpartition('@')[2], 120)}"
        self.skipped = 0
        self.skip_reason = ""
        self._http = json_client(ca_file=ca_file, verify=verify, timeout=timeout, headers=dict(headers or {}),
                                 auth=_Bearer(token) if token else None)
        self._token_sent = bool(token)

    def __repr__(self) -> str:
        return f"RestCmdb({self.where!r})"

    # ------------------------------------------------------------------------------------------------ reading
    def _get(self) -> Any:
        where = self.where
        try:
            resp = self._http.get(self.url)
        except httpx.TimeoutException:
            raise Timeout(f"CMDB {where}: no answer in {self.timeout:g} s", source=self.name) from None
        except httpx.HTTPError as err:
            why = clean_line(str(err).splitlines()[0] if str(err) else type(err).__name__, 120)
            raise Unavailable(f"CMDB {where}: cannot connect ({why})", source=self.name) from None
        code = resp.status_code
        if code == 401:
            hint = ("the token was refused" if self._token_sent
                    else "it wants a token: set cmdb.token_env")
            raise Unauthorized(f"CMDB {where} answered 401 Unauthorized: {hint}", source=self.name, status=code)
        if code == 403:
            raise Forbidden(f"CMDB {where} answered 403 Forbidden: the token may not read business systems",
                            source=self.name, status=code)
        if 300 <= code < 400:
            to = endpoint(resp.headers.get("Location", "")) or "elsewhere"
            raise Unavailable(f"CMDB {where} answered HTTP {code}, a redirect to {to} (a login page?): point "
                              "cmdb.url at the API itself", source=self.name, status=code)
        if code != 200:
            raise Unavailable(f"CMDB {where} answered HTTP {code}{self._says(resp)}", source=self.name, status=code)
        try:
            return json.loads(resp.content)
        except (ValueError, UnicodeDecodeError):
            kind = clean_line(resp.headers.get("Content-Type", "no content type").split(";")[0], 40)
            raise Invalid(f"CMDB {where}: the answer is not JSON ({kind}, {len(resp.content)} bytes)",
                          source=self.name, status=code) from None

    @staticmethod
    def _says(resp: httpx.Response) -> str:
        """What an error answer says about itself, briefly: a JSON ``msg``/``message``/``error``, else nothing."""
        try:
            body = json.loads(resp.content)
        except (ValueError, UnicodeDecodeError):
            return ""
        if isinstance(body, dict):
            for key in ("msg", "message", "error"):
                if isinstance(body.get(key), str) and body[key].strip():
                    return f" ({clean_line(body[key], 80)})"
        return ""

    def _items(self, body: Any) -> list:
        where = self.where
        if self.list_key is None:
            if isinstance(body, list):
                return body
            if isinstance(body, dict):
                raise Invalid(f"CMDB {where}: the answer is a JSON object, not a list: set cmdb.list_key to the key "
                              f"that holds the list (its keys: {_keys(body)})", source=self.name)
            raise Invalid(f"CMDB {where}: the answer is a JSON {type(body).__name__}, not a list", source=self.name)
        node, path = body, []
        for part in self.list_key.split("."):
            path.append(part)
            if not isinstance(node, dict) or part not in node:
                has = f" (it has: {_keys(node)})" if isinstance(node, dict) else ""
                raise Invalid(f"CMDB {where}: no {'.'.join(path)!r} in the answer{has}; check cmdb.list_key",
                              source=self.name)
            node = node[part]
        if not isinstance(node, list):
            raise Invalid(f"CMDB {where}: {self.list_key!r} holds a JSON {type(node).__name__ if node is not None else 'null'}, "
                          "not a list", source=self.name)
        return node

    def _label(self, i: int, rec: Any) -> str:
        """``record 3`` or ``record 3 (sys_code=BS1003)``: where a bad record is."""
        key = self.fields.get("id", "id")
        if isinstance(rec, dict) and isinstance(rec.get(key), (str, int)) and not isinstance(rec.get(key), bool):
            return f"record {i} ({clean_line(key, 30)}={clean_line(str(rec[key]), 40)})"
        return f"record {i}"

    def fetch(self) -> list[BusinessSystem]:
        items = self._items(self._get())
        systems: list[BusinessSystem] = []
        seen: set[str] = set()
        skipped, first = 0, ""
        for i, rec in enumerate(items, 1):
            try:
                if not isinstance(rec, dict):
                    raise ValueError(f"a JSON {type(rec).__name__}, not an object")
                system = from_record(rec, self.fields, self.source)
                if system.id in seen:
                    raise ValueError(f"the id {clean_line(system.id, 40)!r} again (the first one is kept)")
            except (CmdbError, ValueError, TypeError) as err:
                skipped += 1
                if not first:
                    first = f"{self._label(i, rec)}: {clean_line(str(err) or type(err).__name__, 160)}"
                continue
            seen.add(system.id)
            systems.append(system)
        if items and not systems:
            raise Invalid(f"CMDB {self.where}: none of the {len(items)} records could be read (check cmdb.fields); "
                          f"{first}", source=self.name)
        self.skipped, self.skip_reason = skipped, first
        return systems

    def close(self) -> None:
        self._http.close()


class FileCmdb:
    """``[cmdb] source = "file"``: the file read whole at each poll, as ``prophecis-tui cmdb import FILE`` reads it
    (CSV, TSV, JSON or YAML; all or nothing), as the store's source ``file:<file name>`` (an ``import:`` is
    someone's deliberate correction and wins over it): editing the file is enough, the console takes the new
    version at its next poll. A file with any problem raises :class:`CmdbError` (an :class:`Invalid`) naming
    the row and field, and the last good version stays."""

    name = "cmdb"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.where = clean_line(str(self.path), 120)
        self.source = f"file:{self.path.name}"
        self.skipped = 0
        self.skip_reason = ""

    def __repr__(self) -> str:
        return f"FileCmdb({self.where!r})"

    def fetch(self) -> list[BusinessSystem]:
        try:
            return parse_file(self.path, source=self.source)
        except CmdbError as err:
            raise CmdbError([f"{self.where}: {p}" for p in err.problems], source=self.name) from None

    def close(self) -> None:
        pass

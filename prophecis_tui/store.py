"""The console's own data in SQLite (sqlite-utils, WAL): the audit trail of every action, the
specs of stopped model deployments, the CMDB's business systems (their own file, ``cmdb.db``)
and the alert timeline (``alerts.db``).

Every action writes a row before it calls the backend and one after, so a crash in between still
leaves a trace. Rows are never updated or deleted by the console. The file is owner-only.

A stopped SeldonDeployment is deleted after its spec is saved here (as Prophecis's Model Factory
does), so that starting it again restores it. A secret never reaches the file: values of
secret-looking env variables (and name/value parameters) are replaced by ``****`` and the row
says which were masked, so a restore can warn that they are lost.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import sqlite_utils

from .cmdb import TIER_MAX, TIER_MIN, CmdbError
from .domain import Alert, AlertState, BusinessSystem

SECRET_WORDS = ("token", "password", "secret", "passwd", "key", "credential")
MASK = "****"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def secret_name(name: str) -> bool:
    """Does a key or variable name look like it holds a secret (LINKIS_TOKEN, db_password, AWS_SECRET_ACCESS_KEY)?"""
    low = name.lower()
    return any(w in low for w in SECRET_WORDS)


def mask(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as they may be written down: values of secret-looking keys replaced."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if secret_name(k):
            out[k] = MASK
        elif isinstance(v, dict):
            out[k] = mask(v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: str
    action_id: str  # one id for the before and after rows of one action
    phase: str  # before | after | refused
    user: str
    context: str
    cluster: str
    namespace: str
    action: str
    target: str
    params: dict[str, Any]
    reason: str
    outcome: str  # started | ok | error | refused
    message: str


def _open(path: Path) -> sqlite_utils.Database:
    """The console's SQLite file: created owner-only (0600), WAL, every commit synced.

    One connection per object, usable from the worker thread that runs an action
    (``check_same_thread=False``; the objects serialise their writes with a lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)
    db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False, timeout=10.0))
    db.conn.execute("PRAGMA journal_mode=WAL")
    db.conn.execute("PRAGMA synchronous=FULL")  # a row survives a crash right after it
    return db


class AuditLog:
    def __init__(self, path: str | os.PathLike, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._db = _open(self.path)
        if "audit" not in self._db.table_names():
            self._db["audit"].create({
                "id": int, "at": str, "action_id": str, "phase": str, "user": str, "context": str, "cluster": str,
                "namespace": str, "action": str, "target": str, "params": str, "reason": str, "outcome": str,
                "message": str}, pk="id")
            self._db["audit"].create_index(["at"])

    def write(self, *, action_id: str, phase: str, user: str, context: str, cluster: str, namespace: str,
              action: str, target: str, params: dict[str, Any], reason: str, outcome: str, message: str = "") -> int:
        row = {"at": self.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "action_id": action_id, "phase": phase,
               "user": user, "context": context, "cluster": cluster, "namespace": namespace, "action": action,
               "target": target, "params": json.dumps(mask(params), sort_keys=True, default=str), "reason": reason,
               "outcome": outcome, "message": message[:2000]}
        with self._lock, self._db.conn:
            return self._db["audit"].insert(row).last_pk

    def records(self, since: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        where, args = ("at >= ?", [since]) if since else (None, [])
        with self._lock:
            rows: Iterable[dict] = list(self._db["audit"].rows_where(where, args, order_by="id", limit=limit))
        return [AuditRecord(**{**r, "params": json.loads(r["params"] or "{}")}) for r in rows]

    def close(self) -> None:
        self._db.close()


# ------------------------------------------------------------------------------------------ saved specs
@dataclass(frozen=True)
class SavedSpec:
    id: int
    at: str
    context: str
    namespace: str
    kind: str
    name: str
    body: dict[str, Any]  # as saved: secret values replaced by ****
    saved_by: str
    masked: tuple[str, ...]  # where a value was masked: "spec.predictors[0]...containers[0].env[DB_PASSWORD]"
    restored_at: str = ""  # set when a start created the object from it: it is no longer "stopped"
    restored_by: str = ""


def mask_secrets(body: Any) -> tuple[Any, list[str]]:
    """A copy of an object with the values of secret-looking ``{"name": ..., "value": ...}`` entries
    (container env, Seldon graph parameters) replaced by ``****``; and where each one was.

    ``valueFrom`` references (secretKeyRef) are kept: they name a Secret, they are not one.
    """
    out = copy.deepcopy(body)
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{where}.{k}" if where else str(k))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if (isinstance(item, dict) and isinstance(item.get("name"), str) and "value" in item
                        and secret_name(item["name"]) and item["value"] not in (None, "", MASK)):
                    item["value"] = MASK
                    found.append(f"{where}[{item['name']}]")
                else:
                    walk(item, f"{where}[{i}]")

    walk(out, "")
    return out, found


class SavedSpecs:
    """Specs saved before a stop (delete), restored by a start. Same SQLite file as the audit log.

    Rows are added, never deleted: ``latest`` is the newest save of an object, older ones stay as
    history. A start marks the row it restored (``mark_restored``), so that an object started and
    later deleted for good is not offered as "stopped" again.
    """

    def __init__(self, path: str | os.PathLike, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._db = _open(self.path)
        with self._lock, self._db.conn:
            if "saved_specs" not in self._db.table_names():
                self._db["saved_specs"].create({
                    "id": int, "at": str, "context": str, "namespace": str, "kind": str, "name": str, "body": str,
                    "saved_by": str, "masked": str, "restored_at": str, "restored_by": str}, pk="id")
                self._db["saved_specs"].create_index(["context", "namespace", "kind", "name"])

    def save(self, context: str, namespace: str, kind: str, name: str, body: dict, saved_by: str,
             at: datetime | None = None) -> SavedSpec:
        """Write the spec with its secrets masked; the row says which values were."""
        clean, masked = mask_secrets(body)
        row = {"at": (at or self.clock()).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "context": context,
               "namespace": namespace, "kind": kind, "name": name,
               "body": json.dumps(clean, sort_keys=True, separators=(",", ":")), "saved_by": saved_by,
               "masked": json.dumps(masked), "restored_at": "", "restored_by": ""}
        with self._lock, self._db.conn:
            pk = self._db["saved_specs"].insert(row).last_pk
        return self._record({**row, "id": pk})

    @staticmethod
    def _record(row: dict) -> SavedSpec:
        return SavedSpec(id=row["id"], at=row["at"], context=row["context"], namespace=row["namespace"],
                         kind=row["kind"], name=row["name"], body=json.loads(row["body"]), saved_by=row["saved_by"],
                         masked=tuple(json.loads(row["masked"] or "[]")), restored_at=row.get("restored_at") or "",
                         restored_by=row.get("restored_by") or "")

    def latest_record(self, context: str, namespace: str, kind: str, name: str, *,
                      pending: bool = False) -> SavedSpec | None:
        """The newest save of an object; with ``pending``, only if no start has restored it yet."""
        with self._lock:
            rows = list(self._db["saved_specs"].rows_where(
                "context = ? and namespace = ? and kind = ? and name = ?", [context, namespace, kind, name],
                order_by="id desc", limit=1))
        if not rows or (pending and rows[0].get("restored_at")):
            return None
        return self._record(rows[0])

    def mark_restored(self, id: int, by: str, at: datetime | None = None) -> None:
        """A start created the object from this save."""
        when = (at or self.clock()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._lock, self._db.conn:
            self._db["saved_specs"].update(id, {"restored_at": when, "restored_by": by})

    def pending(self, context: str, namespace: str | None = None) -> list[SavedSpec]:
        """The objects whose newest save was not restored: the stopped ones, newest first."""
        out, seen = [], set()
        for rec in self.list(context):
            key = (rec.namespace, rec.kind, rec.name)
            if key in seen:
                continue
            seen.add(key)
            if not rec.restored_at and (namespace is None or rec.namespace == namespace):
                out.append(rec)
        return out

    def latest(self, context: str, namespace: str, kind: str, name: str) -> dict | None:
        """The newest saved body of an object (secrets as ****), None if it was never saved."""
        rec = self.latest_record(context, namespace, kind, name)
        return rec.body if rec is not None else None

    def list(self, context: str) -> list[SavedSpec]:
        """Every save in a context, newest first (for a "stopped deployments" view)."""
        with self._lock:
            rows = list(self._db["saved_specs"].rows_where("context = ?", [context], order_by="id desc"))
        return [self._record(r) for r in rows]

    def close(self) -> None:
        self._db.close()


# ------------------------------------------------------------------------------------------ CMDB
CMDB_FILE = "cmdb.db"  # in the XDG data dir, beside audit.db: a cache of CMDB sources, safe to delete


@dataclass(frozen=True)
class CmdbSource:
    source: str  # "import:cmdb.csv", "rest:cmdb.example"
    count: int  # records it holds (some may be shadowed by another source)
    updated_at: datetime  # its last successful replace, changed or not


_CMDB_LISTS = ("namespaces", "segments", "labels", "deployments", "nodes")
_CMDB_COLUMNS = ("source", "id", "name", "tier", "department", "owner", "oncall", *_CMDB_LISTS)


def _cmdb_rank(source: str, updated_at: str) -> tuple:
    """Precedence of a source's record over another source's with the same id: the smallest wins (an import,
    then the most recently updated source, then by name)."""
    newest_first = -datetime.fromisoformat(updated_at).timestamp() if updated_at else 0.0
    return (0 if source.startswith("import") else 1, newest_first, source)


class CmdbStore:
    """The CMDB's business systems, by source: each source (a file import, the REST feed) owns its records
    and replaces them all at once (:meth:`replace_source`, one transaction: all or nothing).

    Ids are unique within a source (a duplicate is refused). The same id from two sources is kept in both,
    and readers see one, chosen by precedence: an import (``import:...``, someone's deliberate correction)
    wins over any other source (``rest:...``, the config's file); among equals the most recently updated
    source wins, then the source name. :meth:`definitions` shows every copy of an id, winner first.

    ``version`` grows with every change (a replace whose records differ from what the source had, a removal)
    made by any process on this file, so a poller can tell the UI to rebuild its matcher; an identical
    refresh only moves ``updated_at``. Thread-safe: one connection, a lock around every use."""

    def __init__(self, path: str | os.PathLike, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._db = _open(self.path)
        lists = ", ".join(f"{c} TEXT NOT NULL DEFAULT '[]'" for c in _CMDB_LISTS)
        with self._lock, self._db.conn as conn:
            conn.execute(f"""CREATE TABLE IF NOT EXISTS cmdb_systems (
                source TEXT NOT NULL CHECK (source <> ''), id TEXT NOT NULL CHECK (id <> ''),
                name TEXT NOT NULL CHECK (name <> ''),
                tier INTEGER CHECK (tier IS NULL OR tier BETWEEN {TIER_MIN} AND {TIER_MAX}),
                department TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '',
                oncall TEXT NOT NULL DEFAULT '', {lists}, PRIMARY KEY (source, id))""")
            conn.execute("CREATE INDEX IF NOT EXISTS cmdb_systems_id ON cmdb_systems (id)")
            conn.execute("CREATE TABLE IF NOT EXISTS cmdb_sources (source TEXT PRIMARY KEY, updated_at TEXT NOT NULL,"
                         " count INTEGER NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS cmdb_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            conn.execute("INSERT OR IGNORE INTO cmdb_meta (key, value) VALUES ('version', 0)")

    @staticmethod
    def _row(source: str, s: BusinessSystem) -> tuple:
        return (source, s.id, s.name, s.tier, s.department, s.owner, s.oncall,
                *(json.dumps(list(getattr(s, c)), ensure_ascii=False) for c in _CMDB_LISTS))

    def replace_source(self, source: str, systems: Iterable[BusinessSystem]) -> int:
        """Make ``systems`` every record of ``source`` (each stored with that source), in one transaction;
        the count. Raises :class:`~prophecis_tui.cmdb.CmdbError` for a duplicate id (or a record the table
        refuses: empty id or name, tier out of range), leaving everything as it was."""
        if not source:
            raise CmdbError("a CMDB source needs a name")
        rows = [self._row(source, s) for s in systems]
        seen: set[str] = set()
        dups = sorted({r[1] for r in rows if r[1] in seen or seen.add(r[1])})
        if dups:
            shown = ", ".join(f'"{d}"' for d in dups[:5]) + (f" and {len(dups) - 5} more" if len(dups) > 5 else "")
            raise CmdbError(f"{source}: duplicate id {shown}", source=source)
        at = self.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cols = ", ".join(_CMDB_COLUMNS)
        marks = ", ".join("?" * len(_CMDB_COLUMNS))
        with self._lock:
            conn = self._db.conn
            conn.execute("BEGIN IMMEDIATE")  # the writer lock before reading what the source had
            try:
                old = conn.execute(f"SELECT {cols} FROM cmdb_systems WHERE source = ?", [source]).fetchall()
                changed = sorted(old, key=lambda r: r[1]) != sorted(rows, key=lambda r: r[1])
                conn.execute("DELETE FROM cmdb_systems WHERE source = ?", [source])
                conn.executemany(f"INSERT INTO cmdb_systems ({cols}) VALUES ({marks})", rows)
                conn.execute("INSERT INTO cmdb_sources (source, updated_at, count) VALUES (?, ?, ?) ON CONFLICT "
                             "(source) DO UPDATE SET updated_at = excluded.updated_at, count = excluded.count",
                             [source, at, len(rows)])
                if changed:
                    conn.execute("UPDATE cmdb_meta SET value = value + 1 WHERE key = 'version'")
                conn.commit()
            except sqlite3.IntegrityError as err:
                conn.rollback()
                raise CmdbError(f"{source}: a record the CMDB table refuses ({err})", source=source) from None
            except BaseException:
                conn.rollback()
                raise
        return len(rows)

    def remove_source(self, source: str) -> int:
        """Forget every record of a source (and the source); how many there were."""
        with self._lock, self._db.conn as conn:
            n = conn.execute("DELETE FROM cmdb_systems WHERE source = ?", [source]).rowcount
            gone = conn.execute("DELETE FROM cmdb_sources WHERE source = ?", [source]).rowcount
            if n or gone:
                conn.execute("UPDATE cmdb_meta SET value = value + 1 WHERE key = 'version'")
        return n

    def _query(self, where: str = "", args: Iterable[Any] = ()) -> list[tuple[tuple, BusinessSystem]]:
        cols = ", ".join(f"s.{c}" for c in _CMDB_COLUMNS)
        with self._lock:
            rows = self._db.conn.execute(
                f"SELECT {cols}, coalesce(src.updated_at, '') FROM cmdb_systems s "
                f"LEFT JOIN cmdb_sources src ON src.source = s.source {where}", list(args)).fetchall()
        out = []
        for r in rows:
            values = dict(zip(_CMDB_COLUMNS, r))
            for c in _CMDB_LISTS:
                values[c] = tuple(json.loads(values[c] or "[]"))
            values["department"], values["owner"], values["oncall"] = (
                values["department"] or "", values["owner"] or "", values["oncall"] or "")
            out.append((_cmdb_rank(r[0], r[-1]), BusinessSystem.model_construct(**values)))
        return out

    @staticmethod
    def _winners(ranked: list[tuple[tuple, BusinessSystem]]) -> dict[str, list[BusinessSystem]]:
        by_id: dict[str, list[tuple[tuple, BusinessSystem]]] = {}
        for rank, s in ranked:
            by_id.setdefault(s.id, []).append((rank, s))
        return {k: [s for _, s in sorted(v, key=lambda x: x[0])] for k, v in by_id.items()}

    def systems(self) -> list[BusinessSystem]:
        """Every business system, one per id (the winning source's), by tier (1 first, none last), then id."""
        found = [copies[0] for copies in self._winners(self._query()).values()]
        return sorted(found, key=lambda s: (s.tier if s.tier is not None else TIER_MAX + 1, s.id))

    def get(self, id: str) -> BusinessSystem | None:
        """The business system with this id (the winning source's), None if no source has it."""
        copies = self.definitions(id)
        return copies[0] if copies else None

    def definitions(self, id: str) -> list[BusinessSystem]:
        """Every source's record of this id, the one readers see first."""
        return self._winners(self._query("WHERE s.id = ?", [id])).get(id, [])

    def sources(self) -> list[CmdbSource]:
        with self._lock:
            rows = self._db.conn.execute("SELECT source, count, updated_at FROM cmdb_sources ORDER BY source").fetchall()
        return [CmdbSource(r[0], r[1], datetime.fromisoformat(r[2])) for r in rows]

    def updated_at(self, source: str) -> datetime | None:
        """When ``source`` was last replaced (changed or not); None if never."""
        with self._lock:
            row = self._db.conn.execute("SELECT updated_at FROM cmdb_sources WHERE source = ?", [source]).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    @property
    def version(self) -> int:
        """Grows with every change to the records, by any process using this file."""
        with self._lock:
            row = self._db.conn.execute("SELECT value FROM cmdb_meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._db.close()


# ------------------------------------------------------------------------------------------ alert timeline
ALERTS_FILE = "alerts.db"  # in the XDG data dir, beside audit.db: every alert's fired/acked/silenced/resolved moments
_AT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: What the timeline records: the moments of an alert's life.
TIMELINE_EVENTS = ("fired", "refired", "silenced", "unsilenced", "inhibited", "uninhibited", "acked", "unacked",
                   "resolved")


def _at(d: datetime) -> str:
    return d.astimezone(timezone.utc).strftime(_AT)


def _from_at(text: str) -> datetime:
    return datetime.strptime(text, _AT).replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class TimelineEntry:
    """One moment of an alert's life, as the timeline keeps it (a copy of what the alert was then: the alert
    itself is gone once it resolved)."""

    id: int
    at: datetime
    event: str  # one of TIMELINE_EVENTS
    key: str
    name: str
    severity: str
    namespace: str
    target: str
    systems: tuple[tuple[str, str, int | None], ...]  # (id, name, tier) of each business system
    state: str  # the alert's state after this moment (firing, acked, silenced, inhibited, resolved)
    by: str = ""  # who acked, or created the silence
    note: str = ""  # the ack's note, or the silence's comment
    source: str = ""  # alertmanager, events, platform
    summary: str = ""

    def as_json(self) -> dict:
        return {"id": self.id, "at": _at(self.at), "event": self.event, "key": self.key, "name": self.name,
                "severity": self.severity, "namespace": self.namespace, "target": self.target,
                "systems": [{"id": i, "name": n, "tier": t} for i, n, t in self.systems], "state": self.state,
                "by": self.by, "note": self.note, "source": self.source, "summary": self.summary}


@dataclass(frozen=True)
class Ack:
    """A local acknowledgement: who took an alert in hand, with what note, when. It lasts until the alert resolves."""

    key: str
    by: str
    note: str
    at: datetime


@dataclass(frozen=True)
class KnownAlert:
    """The timeline's last known state of an alert (what a restart compares the next poll with)."""

    key: str
    state: str
    name: str
    severity: str
    namespace: str
    target: str
    systems: tuple[tuple[str, str, int | None], ...]
    source: str
    summary: str
    since: datetime  # when it entered this state


def _phase(state: AlertState | str) -> str:
    """An alert state as the timeline follows it: acked is firing (the ack is its own moment)."""
    v = state.value if isinstance(state, AlertState) else str(state)
    return "firing" if v in ("firing", "acked") else v


def _transition(before: str | None, after: str) -> str | None:
    if before == after:
        return None
    if after == "resolved":
        return "resolved" if before is not None else None  # first seen resolved: nothing happened that we saw
    if before is None:
        return "fired"
    if before == "resolved":
        return "refired"
    if after == "firing":
        return "unsilenced" if before == "silenced" else "uninhibited"
    return after  # silenced, inhibited


def _systems_json(alert: Alert) -> str:
    return json.dumps([[s.id, s.name, s.tier] for s in alert.systems], ensure_ascii=False)


def _sources_of(row: Mapping[str, Any]) -> list[str]:
    """Which sources must have answered for an alert missing from a poll to count as resolved: each of its
    Alertmanagers, ``events``, or ``platform:<rule>``."""
    if row["source"] == "alertmanager":
        origins = json.loads(row["origins"] or "[]")
        return [f"alertmanager:{o}" for o in origins] or ["alertmanager"]
    if row["source"] == "platform":
        return [f"platform:{row['name']}"]
    return [row["source"]]


class AlertTimeline:
    """Every alert's fired / silenced / acked / resolved moments (``alert_timeline``), the last known state of
    each alert (``alert_last``, so a restarted console does not re-fire everything) and the local acks
    (``alert_acks``), in ``alerts.db``. Every change is committed before the call returns. Thread-safe (one
    connection, a lock); several processes may share the file (each ``observe`` compares with the last state
    inside its own write transaction)."""

    def __init__(self, path: str | os.PathLike, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._db = _open(self.path)
        with self._lock, self._db.conn as conn:
            conn.execute("""CREATE TABLE IF NOT EXISTS alert_timeline (
                id INTEGER PRIMARY KEY, at TEXT NOT NULL, event TEXT NOT NULL, key TEXT NOT NULL,
                name TEXT NOT NULL DEFAULT '', severity TEXT NOT NULL DEFAULT '', namespace TEXT NOT NULL DEFAULT '',
                target TEXT NOT NULL DEFAULT '', systems TEXT NOT NULL DEFAULT '[]', state TEXT NOT NULL DEFAULT '',
                by TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',
                summary TEXT NOT NULL DEFAULT '')""")
            conn.execute("CREATE INDEX IF NOT EXISTS alert_timeline_at ON alert_timeline (at)")
            conn.execute("CREATE INDEX IF NOT EXISTS alert_timeline_key ON alert_timeline (key, at)")
            conn.execute("""CREATE TABLE IF NOT EXISTS alert_last (
                key TEXT PRIMARY KEY, state TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
                severity TEXT NOT NULL DEFAULT '', namespace TEXT NOT NULL DEFAULT '', target TEXT NOT NULL DEFAULT '',
                systems TEXT NOT NULL DEFAULT '[]', source TEXT NOT NULL DEFAULT '', origins TEXT NOT NULL DEFAULT '[]',
                summary TEXT NOT NULL DEFAULT '', since TEXT NOT NULL)""")
            conn.execute("""CREATE TABLE IF NOT EXISTS alert_acks (
                key TEXT PRIMARY KEY, by TEXT NOT NULL, note TEXT NOT NULL, at TEXT NOT NULL)""")

    # ---------------------------------------------------------------- writing
    _ENTRY = ("at", "event", "key", "name", "severity", "namespace", "target", "systems", "state", "by", "note",
              "source", "summary")
    _LAST = ("key", "state", "name", "severity", "namespace", "target", "systems", "source", "origins", "summary",
             "since")

    def observe(self, alerts: Iterable[Alert], answered: Iterable[str] | None = None, *,
                silences: Mapping[str, Any] | None = None, now: datetime | None = None) -> list[TimelineEntry]:
        """Record how each alert moved since the last known state (kept in the file): ``fired`` (new),
        ``refired`` (again after it resolved), ``silenced``/``unsilenced``, ``inhibited``/``uninhibited``,
        ``resolved`` (state RESOLVED, or missing from this poll). The new entries, oldest first.

        ``answered``: the sources this poll heard from (``alertmanager:<name>``, ``events``, ``platform:<rule>``;
        None: all of them). An alert missing from the poll resolves only when every source that reported it
        answered: a source that failed this time resolves nothing. ``silences``: id -> the silence
        (``domain.Silence``), so that a ``silenced`` entry says who silenced it and why. A resolved alert's ack
        ends. Written (committed) before returning."""
        at = now or self.clock()
        when = _at(at)
        heard = None if answered is None else set(answered)
        current = {a.key: a for a in alerts}
        memo: dict[int, str] = {}  # the tagger shares one tuple per set of systems: each written out once

        def systems_of(a: Alert) -> str:
            text = memo.get(id(a.systems))
            if text is None:
                text = memo[id(a.systems)] = _systems_json(a)
            return text
        entries: list[tuple] = []
        last_rows: list[tuple] = []
        with self._lock:
            conn = self._db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                cols = ", ".join(self._LAST)
                known = {r[0]: dict(zip(self._LAST, r)) for r in conn.execute(f"SELECT {cols} FROM alert_last")}
                gone: list[str] = []
                for key, a in current.items():
                    row = known.get(key)
                    before = row["state"] if row is not None else None
                    after = _phase(a.state)
                    event = _transition(before, after)
                    systems = systems_of(a)
                    if event is None:
                        if row is not None and after != "resolved" and (
                                row["severity"] != a.severity or row["systems"] != systems
                                or row["summary"] != a.summary or row["target"] != a.target):
                            last_rows.append((key, after, a.name, a.severity, a.namespace, a.target, systems,
                                              a.source, json.dumps(list(a.origins)), a.summary, row["since"]))
                        continue
                    by = note = ""
                    if event == "silenced" and silences:
                        s = next((silences[i] for i in a.silenced_by if i in silences), None)
                        if s is not None:
                            by, note = s.created_by, s.comment
                    # an alert seen for the first time fired when its source says it started (a console started
                    # at 15:03 does not make a pod that has waited since 14:09 "fired 15:03"); every other moment
                    # is when this console saw it
                    moment = when
                    if event == "fired" and a.starts is not None and a.starts < at:
                        moment = _at(a.starts)
                    entries.append((moment, event, key, a.name, a.severity, a.namespace, a.target, systems, after, by,
                                    note, a.source, a.summary))
                    last_rows.append((key, after, a.name, a.severity, a.namespace, a.target, systems, a.source,
                                      json.dumps(list(a.origins)), a.summary, when))
                    if event == "resolved":
                        gone.append(key)
                for key, row in known.items():
                    if key in current or row["state"] == "resolved":
                        continue
                    if heard is not None and not all(s in heard for s in _sources_of(row)):
                        continue
                    entries.append((when, "resolved", key, row["name"], row["severity"], row["namespace"],
                                    row["target"], row["systems"], "resolved", "", "", row["source"], row["summary"]))
                    last_rows.append((*(row[c] for c in self._LAST[:1]), "resolved",
                                      *(row[c] for c in self._LAST[2:10]), when))
                    gone.append(key)
                ids = []
                for e in entries:
                    cur = conn.execute(f"INSERT INTO alert_timeline ({', '.join(self._ENTRY)}) VALUES "
                                       f"({', '.join('?' * len(self._ENTRY))})", e)
                    ids.append(cur.lastrowid)
                conn.executemany(f"INSERT OR REPLACE INTO alert_last ({cols}) VALUES ({', '.join('?' * len(self._LAST))})",
                                 last_rows)
                if gone:
                    conn.executemany("DELETE FROM alert_acks WHERE key = ?", [(k,) for k in gone])
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return [self._entry((i, *e)) for i, e in zip(ids, entries)]

    def ack(self, key: str, by: str, note: str, alert: Alert | None = None, *, at: datetime | None = None) -> TimelineEntry:
        """Acknowledge an alert (it lasts until the alert resolves); the ``acked`` entry. ``alert``: the alert as
        shown (else the last known state names it)."""
        when = _at(at or self.clock())
        with self._lock:
            conn = self._db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT OR REPLACE INTO alert_acks (key, by, note, at) VALUES (?, ?, ?, ?)",
                             (key, by, note, when))
                entry = self._moment(conn, when, "acked", key, by, note, alert)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return entry

    def unack(self, key: str, by: str = "", note: str = "", alert: Alert | None = None, *,
              at: datetime | None = None) -> TimelineEntry | None:
        """Take an acknowledgement back; the ``unacked`` entry, None when the alert was not acked."""
        when = _at(at or self.clock())
        with self._lock:
            conn = self._db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("DELETE FROM alert_acks WHERE key = ?", (key,)).rowcount == 0:
                    conn.rollback()
                    return None
                entry = self._moment(conn, when, "unacked", key, by, note, alert)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return entry

    def _moment(self, conn: sqlite3.Connection, when: str, event: str, key: str, by: str, note: str,
                alert: Alert | None) -> TimelineEntry:
        if alert is not None:
            values = (alert.name, alert.severity, alert.namespace, alert.target, _systems_json(alert),
                      "acked" if event == "acked" else _phase(alert.state), alert.source, alert.summary)
        else:
            row = conn.execute("SELECT name, severity, namespace, target, systems, state, source, summary FROM "
                               "alert_last WHERE key = ?", (key,)).fetchone()
            values = tuple(row) if row is not None else ("", "", "", "", "[]", "", "", "")
            if event == "acked":
                values = (*values[:5], "acked", *values[6:])
        name, severity, namespace, target, systems, state, source, summary = values
        e = (when, event, key, name, severity, namespace, target, systems, state, by, note, source, summary)
        cur = conn.execute(f"INSERT INTO alert_timeline ({', '.join(self._ENTRY)}) VALUES "
                           f"({', '.join('?' * len(self._ENTRY))})", e)
        return self._entry((cur.lastrowid, *e))

    def prune(self, days: float, *, now: datetime | None = None) -> int:
        """Forget timeline entries older than ``days`` (and resolved alerts' last states as old); how many
        entries went."""
        cutoff = _at((now or self.clock()) - timedelta(days=days))
        with self._lock, self._db.conn as conn:
            n = conn.execute("DELETE FROM alert_timeline WHERE at < ?", (cutoff,)).rowcount
            conn.execute("DELETE FROM alert_last WHERE state = 'resolved' AND since < ?", (cutoff,))
        return n

    # ---------------------------------------------------------------- reading
    @staticmethod
    def _entry(r: tuple) -> TimelineEntry:
        (id_, at, event, key, name, severity, namespace, target, systems, state, by, note, source, summary) = r
        return TimelineEntry(id_, _from_at(at), event, key, name, severity, namespace, target,
                             tuple((s[0], s[1], s[2]) for s in json.loads(systems or "[]")), state, by, note, source,
                             summary)

    def history(self, since: datetime | None = None, until: datetime | None = None, *,
                key: str | None = None) -> list[TimelineEntry]:
        """The entries from ``since`` (all: None) up to ``until`` (excluded; None: now and on), oldest first;
        ``key``: of one alert."""
        where, args = [], []
        if since is not None:
            where.append("at >= ?")
            args.append(_at(since))
        if until is not None:
            where.append("at < ?")
            args.append(_at(until))
        if key is not None:
            where.append("key = ?")
            args.append(key)
        sql = f"SELECT id, {', '.join(self._ENTRY)} FROM alert_timeline"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.conn.execute(sql + " ORDER BY at, id", args).fetchall()
        return [self._entry(r) for r in rows]

    def acks(self) -> dict[str, Ack]:
        """Every alert acknowledged and not resolved since, by key."""
        with self._lock:
            rows = self._db.conn.execute("SELECT key, by, note, at FROM alert_acks").fetchall()
        return {k: Ack(k, by, note, _from_at(at)) for k, by, note, at in rows}

    def known(self, states: Iterable[str] | None = None) -> list[KnownAlert]:
        """The last known state of every alert (``states``: only those, e.g. ``("firing", "silenced")``), the
        most recent change first."""
        with self._lock:
            rows = self._db.conn.execute(
                "SELECT key, state, name, severity, namespace, target, systems, source, summary, since FROM "
                "alert_last ORDER BY since DESC, key").fetchall()
        wanted = None if states is None else set(states)
        return [KnownAlert(r[0], r[1], r[2], r[3], r[4], r[5], tuple((s[0], s[1], s[2]) for s in json.loads(r[6])),
                           r[7], r[8], _from_at(r[9]))
                for r in rows if wanted is None or r[1] in wanted]

    def close(self) -> None:
        self._db.close()


def new_action_id() -> str:
    return uuid.uuid4().hex[:16]

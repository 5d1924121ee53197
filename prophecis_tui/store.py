"""The console's own data in SQLite (sqlite-utils, WAL): the audit trail of every action, and the
specs of stopped model deployments.

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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlite_utils

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


def new_action_id() -> str:
    return uuid.uuid4().hex[:16]

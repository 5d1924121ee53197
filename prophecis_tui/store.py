"""The console's own data in SQLite (sqlite-utils, WAL): for now the audit trail of every action.

Every action writes a row before it calls the backend and one after, so a crash in between still
leaves a trace. Rows are never updated or deleted by the console. The file is owner-only.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlite_utils

SECRET_WORDS = ("token", "password", "secret", "passwd", "key")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def mask(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as they may be written down: values of secret-looking keys replaced."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if any(w in k.lower() for w in SECRET_WORDS):
            out[k] = "****"
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


class AuditLog:
    def __init__(self, path: str | os.PathLike, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        self._db = sqlite_utils.Database(str(self.path), recreate=False)
        self._db.conn.execute("PRAGMA journal_mode=WAL")
        self._db.conn.execute("PRAGMA synchronous=FULL")  # an audit row survives a crash right after it
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
        rows: Iterable[dict] = self._db["audit"].rows_where(where, args, order_by="id", limit=limit)
        return [AuditRecord(**{**r, "params": json.loads(r["params"] or "{}")}) for r in rows]

    def close(self) -> None:
        self._db.close()


def new_action_id() -> str:
    return uuid.uuid4().hex[:16]

"""The audit trail (`:audit`): every action taken with this console, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text

from prophecis_tui.store import AuditLog, AuditRecord
from widgets.resource_table import Column, cell_text

from .resources import ResourceScreen

OUTCOME_STYLE = {"ok": "green", "error": "bold red", "refused": "yellow", "started": "dim"}


@dataclass(frozen=True)
class AuditRow:
    """One action: its before and after rows joined (a lone before row means it never finished)."""

    uid: str
    at: str
    user: str
    context: str
    namespace: str
    name: str  # the action
    target: str
    reason: str
    outcome: str
    message: str
    params: dict

    @property
    def state(self) -> str:
        return self.outcome


def join(records: list[AuditRecord]) -> list[AuditRow]:
    by_id: dict[str, list[AuditRecord]] = {}
    for r in records:
        by_id.setdefault(r.action_id or str(r.id), []).append(r)
    out = []
    for aid, rows in by_id.items():
        first, last = rows[0], rows[-1]
        outcome = last.outcome if len(rows) > 1 or last.phase == "refused" else "unfinished"
        out.append(AuditRow(aid, first.at, first.user, first.context, first.namespace, first.action, first.target,
                            first.reason, outcome, last.message, first.params))
    return out


class AuditScreen(ResourceScreen):
    TITLE_TEXT = "Audit trail"
    NAME = "audit"
    DEFAULT_SORT = "at"
    BINDINGS = []

    def __init__(self, audit: AuditLog | None) -> None:
        self.audit = audit
        self.rows_loaded = False
        super().__init__(state=None)  # type: ignore[arg-type]

    def columns(self) -> list[Column]:
        return [
            Column("at", "WHEN (UTC)", 19, lambda r: r.at[:19].replace("T", " "), sort=lambda r: _neg(r.at)),
            Column("user", "USER", 12, lambda r: cell_text(r.user)),
            Column("context", "CONTEXT", 12, lambda r: cell_text(r.context), narrow=False),
            Column("action", "ACTION", 18, lambda r: cell_text(r.name)),
            Column("target", "TARGET", 30, lambda r: cell_text(r.target), flex=True),
            Column("outcome", "OUTCOME", 10, lambda r: cell_text(r.outcome, OUTCOME_STYLE.get(r.outcome, "bold red"))),
            Column("reason", "REASON", 20, lambda r: cell_text(r.reason), narrow=False),
            Column("message", "RESULT", 30, lambda r: cell_text(r.message), flex=True, narrow=False),
        ]

    def objects(self) -> list[Any]:
        if self.audit is None:
            return []
        rows = join(self.audit.records())
        self.rows_loaded = True
        if self.scope:
            rows = [r for r in rows if r.namespace == self.scope]
        return rows

    def loaded_kinds(self) -> tuple[str, ...]:
        return ()

    def search_text(self, r: AuditRow) -> str:
        return f"{r.user} {r.target} {r.outcome} {r.reason} {r.message} {r.name}"

    def detail(self, r: AuditRow) -> Text:
        t = Text()
        t.append(f"{r.at}  {r.user}@{r.context}  {r.name} {r.target}", "bold")
        t.append(f"  {r.outcome}", OUTCOME_STYLE.get(r.outcome, "bold red"))
        if r.params:
            t.append("\nparams " + " ".join(f"{k}={v}" for k, v in r.params.items()), "dim")
        if r.reason:
            t.append(f"\nreason: {r.reason}")
        if r.message:
            t.append("\n")
            t.append_text(cell_text(r.message, "dim", 300))
        return t

    def open(self, obj: Any) -> None:
        pass

    def action_describe(self) -> None:
        pass

    def action_yaml(self) -> None:
        pass

    def action_events(self) -> None:
        pass

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(2.0, self._reload)

    def refresh_data(self) -> None:
        """Cluster churn does not change the audit trail: it reloads on its own timer and on return."""
        if not self.rows_loaded:
            self._reload()

    def _reload(self) -> None:
        self.recompute()

    def on_screen_resume(self) -> None:
        self._reload()


def _neg(text: str) -> tuple:
    return tuple(-ord(c) for c in text)

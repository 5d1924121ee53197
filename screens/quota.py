"""GPU quota (`:quota`): per tenant namespace, GPUs used against base and max, highest pressure first.

The rows are :class:`prophecis_tui.quota.NamespacePressure`, computed from the live state in the
screen's worker (never on the UI thread). Base is the hard ``requests.nvidia.com/gpu`` of the
namespace's ``mlss-default-rq``; max is read from the configured annotation (``[quota]
max_annotation``), else from its hard ``limits.nvidia.com/gpu``; used is ``status.used``, checked
against the GPUs the namespace's unfinished pods request (a mismatch is marked). The detail line
lists the work the namespace cannot start, with the reason.

`E` edits a quota's base and max through the action registry (permission, confirmation with the
exact PATCH, a reason, audit rows, an Event); the edit is refused here first, with
:func:`prophecis_tui.quota.validate_quota_edit`, before anything is sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding

from prophecis_tui.actions import Target
from prophecis_tui.quantity import format_cores, format_memory
from prophecis_tui.quota import (DEFAULT_MAX_ANNOTATION, QUOTA_NAME, NamespacePressure, NodeCapacity,
                                 namespace_capacity, pressures, validate_quota_edit)
from widgets.resource_table import Column, cell_text

from .resources import ResourceScreen

BAR = 10
MORE_BLOCKED_SHORT = 2  # blocked items listed in the detail line on a short terminal
MORE_BLOCKED = 5


@dataclass(frozen=True)
class QuotaRow:
    """One namespace as the table needs it: a uid, a name (its quota's) and a namespace."""

    p: NamespacePressure

    @property
    def uid(self) -> str:
        return f"quota/{self.p.namespace}"

    @property
    def name(self) -> str:
        return QUOTA_NAME if self.p.has_quota else ""

    @property
    def namespace(self) -> str:
        return self.p.namespace


def _n(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def pressure_style(p: NamespacePressure) -> str:
    if p.over_max or (p.pressure is not None and p.pressure >= 1.0):
        return "bold red"
    if p.near_max:
        return "red"
    if p.bursting:
        return "yellow"
    return "green" if p.used else "dim"


def gpu_cell(p: NamespacePressure, width: int = BAR) -> Text:
    """`5/4/6 ███████░·· `: used/base/max, then a bar over the max (the base when there is no max):
    green up to the base, yellow above it (bursting), red near or over the max; the room between
    base and max is dotted."""
    t = Text(no_wrap=True, end="")
    style = pressure_style(p)
    t.append(f"{_n(p.used)}/{_n(p.gpu_base)}/{_n(p.gpu_max)}".rjust(9), style if p.used else "dim")
    scale = p.limit
    if width <= 0 or scale is None:
        return t
    t.append(" ")
    if scale <= 0:
        t.append(("█" if p.used else "·") * width, "bold red" if p.used else "dim")
        return t
    filled = min(width, round(p.used / scale * width))
    if p.used and not filled:
        filled = 1
    base_at = width if p.gpu_base is None else min(width, round(p.gpu_base / scale * width))
    for i in range(width):
        if i < filled:
            t.append("█", "bold red" if (p.near_max or p.over_max) else ("yellow" if i >= base_at else "green"))
        else:
            t.append("░" if i < base_at else "·", "grey42" if i < base_at else "dim")
    t.append("!" if p.over_max or p.used > scale else " ", "bold red")
    return t


def pressure_cell(p: NamespacePressure) -> Text:
    v = p.pressure
    if v is None:
        return Text("-", "dim", end="")
    return Text("∞" if math.isinf(v) else f"{v * 100:.0f}%", pressure_style(p), end="")


def _pressure_sort(r: QuotaRow) -> tuple:
    v = r.p.pressure
    return (v is None, -(v if v is not None else 0.0), -r.p.used, r.p.namespace)


def used_hard(used: float, hard: float | None, fmt) -> Text:
    if hard is None and not used:
        return Text("-", "dim", end="")
    share = used / hard if hard else 0.0
    style = "bold red" if hard is not None and used > hard else ("yellow" if share >= 0.9 else "")
    return Text(f"{fmt(used)}/{'-' if hard is None else fmt(hard)}", style, no_wrap=True, end="")


def _cores(v: float) -> str:
    return format_cores(v, places=1)


def _mem(v: float) -> str:
    return format_memory(v, places=0)


def pods_cell(p: NamespacePressure) -> Text:
    """The GPUs the unfinished pods request (what status.used should say); ≠ marks a mismatch."""
    if not p.pods_known:
        return Text("…", "dim", end="")
    if p.mismatch:
        return Text(f"≠{p.counted_gpus}", "bold yellow", end="")
    return Text(str(p.counted_gpus), "" if p.counted_gpus else "dim", end="")


def blocked_cell(p: NamespacePressure) -> Text:
    n = len(p.blocked)
    return Text(str(n), "bold yellow" if n else "dim", end="")


def why_cell(p: NamespacePressure) -> Text:
    if not p.blocked:
        return Text("")
    b = p.blocked[0]
    more = f" (+{len(p.blocked) - 1})" if len(p.blocked) > 1 else ""
    return cell_text(f"{b.kind}/{b.name}: {b.reason}{more}", "yellow", 300)


class QuotaScreen(ResourceScreen):
    TITLE_TEXT = "GPU quota"
    NAME = "quota"
    RESOURCE = "resourcequotas"  # d, y and e show the namespace's mlss-default-rq
    KIND = "ResourceQuota"
    DEFAULT_SORT = "pressure"
    ACTION_KEYS = {"edit_quota": "quota.edit"}
    BINDINGS = [Binding("E", "edit_quota", "Edit quota", id="quota.edit")]
    DEFAULT_CSS = """
    QuotaScreen #detail { max-height: 10; }
    """

    def loaded_kinds(self) -> tuple[str, ...]:
        return ("quotas", "pods")

    @property
    def max_annotation(self) -> str:
        return getattr(self.app, "quota_max_annotation", "") or DEFAULT_MAX_ANNOTATION

    def columns(self) -> list[Column]:
        return [
            Column("namespace", "NAMESPACE", 20, lambda r: cell_text(r.p.namespace, "" if r.p.has_quota else "dim")),
            Column("gpu", "GPU used/base/max", 21, lambda r: gpu_cell(r.p), sort=lambda r: -r.p.used),
            Column("pressure", "PRESS", 5, lambda r: pressure_cell(r.p), sort=_pressure_sort, justify="right"),
            Column("source", "MAX FROM", 10, lambda r: cell_text(r.p.max_source or "-", "" if r.p.max_source else "dim"),
                   narrow=False),
            Column("pods", "PODS", 4, lambda r: pods_cell(r.p), sort=lambda r: (not r.p.mismatch, -r.p.counted_gpus),
                   justify="right"),
            Column("blocked", "BLKD", 4, lambda r: blocked_cell(r.p), sort=lambda r: -len(r.p.blocked),
                   justify="right"),
            Column("cpu", "CPU used/hard", 13, lambda r: used_hard(r.p.cpu_used, r.p.cpu_hard, _cores),
                   sort=lambda r: -r.p.cpu_used, narrow=False),
            Column("memory", "MEM used/hard", 15, lambda r: used_hard(r.p.memory_used, r.p.memory_hard, _mem),
                   sort=lambda r: -r.p.memory_used, narrow=False),
            Column("why", "BLOCKED WORK", 30, lambda r: why_cell(r.p), flex=True, narrow=False),
        ]

    # ------------------------------------------------------------------ data (worker side)
    def objects(self) -> list[Any]:
        rows = pressures(self.state, max_annotation=self.max_annotation)
        if self.scope:
            rows = [r for r in rows if r.namespace == self.scope]
        return [QuotaRow(r) for r in rows]

    def prepare(self, rows: list[Any]) -> Any:
        """The GPU capacity of the nodes each namespace's selector matches (the detail and the edit check)."""
        return {"capacity": {r.namespace: namespace_capacity(self.state, r.namespace) for r in rows}}

    def search_text(self, r: QuotaRow) -> str:
        """`/` matches the words bursting, near-max, over-max, mismatch, blocked, no-quota and the blocked work."""
        p = r.p
        words = [p.max_source]
        words += [w for w, on in (("bursting", p.bursting), ("near-max", p.near_max), ("over-max", p.over_max),
                                  ("mismatch", p.mismatch), ("blocked", bool(p.blocked)),
                                  ("no-quota", not p.has_quota)) if on]
        words += [f"{b.kind} {b.name}" for b in p.blocked]
        return " ".join(words)

    def capacity(self, namespace: str) -> NodeCapacity:
        cap = ((self.context or {}).get("capacity") or {}).get(namespace)
        return cap if cap is not None else namespace_capacity(self.state, namespace)

    # ------------------------------------------------------------------ what it says
    def summary_extra(self) -> Text | None:
        rows = [r.p for r in self.table.rows]
        if not rows:
            return None
        t = Text()
        bursting = sum(1 for p in rows if p.bursting)
        near = sum(1 for p in rows if p.near_max)
        mismatch = sum(1 for p in rows if p.mismatch)
        blocked = sum(len(p.blocked) for p in rows)
        t.append(f"bursting {bursting}  ", "yellow" if bursting else "dim")
        t.append(f"near max {near}  ", "red" if near else "dim")
        t.append(f"mismatch {mismatch}  ", "bold yellow" if mismatch else "dim")
        t.append(f"blocked {blocked}", "bold yellow" if blocked else "dim")
        t.append(f"  max from {self.max_annotation}", "dim")
        return t

    def detail(self, r: QuotaRow) -> Text:
        p = r.p
        t = Text()
        if not p.has_quota:
            t.append(p.namespace, "bold")
            t.append(f"  no ResourceQuota {QUOTA_NAME}: nothing limits its GPUs", "dim")
            t.append(f"\npods request {p.counted_gpus} GPU ({p.pod_gpus} on nodes, {p.pending_gpus} pending)", "dim")
        else:
            t.append(f"{p.namespace}/{QUOTA_NAME}", "bold")
            if p.over_max:
                t.append("  over its max", "bold red")
            elif p.near_max:
                t.append("  near its max", "red")
            if p.bursting:
                t.append("  bursting above its base", "yellow")
            src = {"annotation": f"annotation {self.max_annotation}", "limits": "limits.nvidia.com/gpu"}.get(
                p.max_source, "no max: pressure is against the base")
            t.append(f"  base {_n(p.gpu_base)}  max {_n(p.gpu_max)} ({src})", "dim")
            if self.state.quota_from_metrics(p.namespace):
                t.append("  from kube-state-metrics (Prometheus): the quota is not listed for you here", "cyan")
            t.append("\n")
            if p.gpu_used is None:
                t.append("the quota does not count GPUs; ", "dim")
            else:
                t.append(f"status.used {_n(p.gpu_used)} GPU; ", "" if not p.mismatch else "bold yellow")
            t.append(f"pods request {p.counted_gpus} ({p.pod_gpus} on nodes, {p.pending_gpus} pending)",
                     "dim" if not p.mismatch else "bold yellow")
            if p.mismatch:
                t.append("  MISMATCH: the quota controller lags, or not every pod is visible", "bold yellow")
            t.append(f"  CPU {used_hard(p.cpu_used, p.cpu_hard, _cores).plain}"
                     f"  memory {used_hard(p.memory_used, p.memory_hard, _mem).plain}", "dim")
            cap = self.capacity(p.namespace)
            if cap.gpus is not None:
                t.append(f"\nnodes ({cap.selector}): {cap.gpus} GPU on {len(cap.nodes)} node"
                         f"{'' if len(cap.nodes) == 1 else 's'}", "dim")
        if p.note:
            t.append(f"\n{p.note}", "yellow")
        if p.blocked:
            limit = MORE_BLOCKED_SHORT if self.size.height < 30 else MORE_BLOCKED
            for b in p.blocked[:limit]:
                t.append("\nblocked ", "bold yellow")
                t.append(f"by {b.cause}: ", "yellow")
                t.append_text(cell_text(f"{b.kind}/{b.name}", "bold"))
                t.append(": ")
                t.append_text(cell_text(b.reason, "yellow", 300))
            if len(p.blocked) > limit:
                t.append(f"\n… {len(p.blocked) - limit} more (:pods, :jobs, :nb show them)", "dim")
        return t

    # ------------------------------------------------------------------ drill-down
    def _quota_row(self) -> QuotaRow | None:
        r = self.current()
        if r is not None and not r.p.has_quota:
            self.notify(f"{r.namespace} has no quota {QUOTA_NAME}", severity="warning")
            return None
        return r

    def action_describe(self) -> None:
        if self._quota_row() is not None:
            super().action_describe()

    def action_yaml(self) -> None:
        if self._quota_row() is not None:
            super().action_yaml()

    def open(self, r: Any) -> None:
        """enter: the namespace's pods (pending ones say why)."""
        from .pods import PodsScreen
        self.app.push_screen(PodsScreen(self.state, r.namespace, title=f"Pods in {r.namespace}"))

    # ------------------------------------------------------------------ edit quota
    def target(self, obj: Any) -> Target:
        return Target(self.KIND, obj.namespace, QUOTA_NAME)

    def action_id_for(self, method: str, obj: Any) -> str | None:
        if not obj.p.has_quota:
            return None  # no quota to patch
        return super().action_id_for(method, obj)

    def action_edit_quota(self) -> None:
        r = self._quota_row()
        if r is None:
            return
        p = r.p
        cap = self.capacity(p.namespace)
        key = self.max_annotation
        from .modals import AskValue

        def check_base(value: str) -> str:
            return validate_quota_edit(value, None, cap)

        def base_chosen(base: str | None) -> None:
            if base is None:
                return

            def check_max(value: str) -> str:
                return validate_quota_edit(base, value.strip() or None, cap)

            def max_chosen(mx: str | None) -> None:
                if mx is None:
                    return
                # the last word before anything is sent: the same check as the dialogs'
                why = validate_quota_edit(base, mx or None, cap)
                if why:
                    self.notify(f"Edit quota: {why}", severity="error")
                    return
                params = {"base": int(base), "max": int(mx) if mx else None, "max_annotation": key,
                          "node_gpus": cap.gpus, "selector": cap.selector,
                          "old_base": p.gpu_base, "old_max": p.gpu_max}
                self.run_action("edit_quota", params, obj=r, on_done=lambda res: self.recompute())

            now = "none" if p.gpu_max is None else f"{p.gpu_max:g}" + (" from limits.nvidia.com/gpu"
                                                                        if p.max_source == "limits" else "")
            self.app.push_screen(AskValue(
                f"Edit quota {p.namespace}/{QUOTA_NAME}",
                f"GPU max, written to the annotation {key} (now {now}; at least the base {base}; "
                "empty: no max):", "" if p.gpu_max is None else f"{p.gpu_max:g}", check_max), max_chosen)

        nodes = (f"the namespace's nodes ({cap.selector}) have {cap.gpus} GPU" if cap.gpus is not None
                 else cap.reason)
        self.app.push_screen(AskValue(
            f"Edit quota {p.namespace}/{QUOTA_NAME}",
            f"GPU base, hard requests.nvidia.com/gpu (now {_n(p.gpu_base)}, used {_n(p.used)}); {nodes}:",
            "" if p.gpu_base is None else f"{p.gpu_base:g}", check_base), base_chosen)

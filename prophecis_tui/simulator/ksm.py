"""A simulated kube-state-metrics: the ResourceQuota series (``kube_resourcequota``) of every quota the cluster holds.

Like kube-state-metrics it reads the objects as the API serves them, not the engine's counters: for each
ResourceQuota, one ``kube_resourcequota{namespace,resourcequota,resource,type}`` series per key of
``status.hard`` (``type="hard"``) and of ``status.used`` (``type="used"``), with the raw key as ``resource``
(``requests.nvidia.com/gpu``, ``limits.nvidia.com/gpu``, ``requests.cpu``, ``requests.memory``, ...) and the
quantity as kube-state-metrics writes it: ``MilliValue() / 1000``, so CPU in cores (``92.5``), memory in
bytes, GPUs as a count. A quota with an empty status has no series. ``kube_resourcequota_created`` gives the
creation time in Unix seconds.

Sample values are written as kube-state-metrics writes them (Go's ``strconv.FormatFloat(v, 'g', -1, 64)``:
the shortest digits, exponent form from 1e+06 up and below 1e-04), so a client reading ``6.8719476736e+10``
is tested too. The formatting is the simulator's own (the console reads the text with its own reader).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from . import quantity
from .clock import parse_rfc3339
from .engine import QUOTAS, Engine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAMILIES = (
    ("kube_resourcequota", "[STABLE] Information about resource quota."),
    ("kube_resourcequota_created", "[STABLE] Unix creation timestamp"),
)


def go_float(v: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)``: what kube-state-metrics (and client_golang) write for a value."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    t = Decimal(repr(abs(v))).normalize().as_tuple()  # repr: the shortest digits that read back the same
    digits = "".join(map(str, t.digits))
    dp = len(digits) + int(t.exponent)  # where the decimal point falls in ``digits``
    exp = dp - 1
    if exp < -4 or exp >= 6:  # %e, with as many digits as needed
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return f"{sign}{digits}{'0' * (dp - len(digits))}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(q: Any) -> float | None:
    """A quantity as kube-state-metrics gives it: ``float64(q.MilliValue()) / 1000``; None if unreadable."""
    try:
        return quantity.milli(q) / 1000.0
    except (TypeError, ValueError):
        return None


class KubeStateMetrics:
    """Renders kube-state-metrics' /metrics text (the ResourceQuota families) from the cluster's objects."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def render(self) -> str:
        quotas = sorted(self.engine.store.objects(QUOTAS),
                        key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"].get("name", "")))
        values: list[str] = []
        created: list[str] = []
        for q in quotas:
            md = q.get("metadata") or {}
            who = f'namespace="{_esc(md.get("namespace", ""))}",resourcequota="{_esc(md.get("name", ""))}"'
            status = q.get("status") or {}
            for kind in ("hard", "used"):
                for res, qty in sorted((status.get(kind) or {}).items()):
                    v = _value(qty)
                    if v is not None:
                        values.append(f'kube_resourcequota{{{who},resource="{_esc(res)}",type="{kind}"}} {go_float(v)}')
            ts = md.get("creationTimestamp")
            if ts:
                try:
                    created.append(f"kube_resourcequota_created{{{who}}} {go_float(float(int(parse_rfc3339(ts))))}")
                except ValueError:
                    pass
        out: list[str] = []
        for (name, help_), series in zip(FAMILIES, (values, created)):
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} gauge")
            out.extend(series)
        out.append("")
        return "\n".join(out)

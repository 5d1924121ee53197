"""How each tenant stands against its GPU quota, and whether a quota edit may go ahead.

Pure functions over the live state's domain objects (no Textual, no I/O); the quota screen and
the overview render what they return, the "edit quota" action checks with them first.

Prophecis gives a tenant (a namespace) one ResourceQuota, ``mlss-default-rq``:

- base: its hard ``requests.nvidia.com/gpu``, what the tenant is guaranteed;
- max: how far it may burst. Kubernetes has no such field; it is read from an annotation on
  the quota (``DEFAULT_MAX_ANNOTATION`` unless configured), else from a hard
  ``limits.nvidia.com/gpu`` (accepted by the apiserver, never counted in ``status.used``),
  else there is none;
- used: ``status.used`` of ``requests.nvidia.com/gpu``, checked against the pods: the quota
  counts every pod that has not finished, scheduled or not, so a disagreement means the
  quota controller lags or the console does not see every pod.

Pressure is used / max, or used / base when there is no max. The pending work a tenant cannot
start is listed with the explainer's own words (:mod:`prophecis_tui.explain`): workloads whose
pods the quota refuses, and pods no node can take.

The edit check refuses what Prophecis's control centre refuses: a negative count, a base above
the max, and a base above the GPUs of the nodes the namespace's node selector matches (only
nodes labelled ``hardware-type=NVIDIAGPU`` count, their allocatable GPUs summed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from prophecis_tui.domain import Namespace, Node, Pod, Quota
from prophecis_tui.explain import Explainer
from prophecis_tui.quantity import try_parse
from prophecis_tui.sanitize import clean_line

__all__ = ["DEFAULT_MAX_ANNOTATION", "GPU_NODE_LABEL", "NEAR_MAX", "QUOTA_NAME", "Blocked", "GpuMax",
           "NamespacePressure", "NodeCapacity", "gpu_max", "namespace_capacity", "nearest_limits",
           "node_gpu_capacity", "node_selector_of", "pressures", "selector_text", "validate_quota_edit"]

QUOTA_NAME = "mlss-default-rq"
#: Where the tenant's maximum GPU count is written on its quota, unless the config names another key.
#: (Prophecis's documents name none: Kubernetes has no field for it.)
DEFAULT_MAX_ANNOTATION = "prophecis.webank.com/gpu-max"
#: Only nodes with this label count towards a namespace's GPU capacity (as the control centre counts).
GPU_NODE_LABEL = ("hardware-type", "NVIDIAGPU")
NEAR_MAX = Fraction(9, 10)  # "near max": at least 90% of it
LIMIT = 200


# ------------------------------------------------------------------------------------------ the max
@dataclass(frozen=True)
class GpuMax:
    """A tenant's maximum GPU count and where it was read (``annotation``, ``limits`` or ``""``: none).
    ``note`` says why an annotation that is there was not used."""

    value: float | None
    source: str = ""
    note: str = ""


def gpu_max(quota: Quota | None, max_annotation: str = DEFAULT_MAX_ANNOTATION) -> GpuMax:
    """The max of a quota: its ``max_annotation``, else its hard ``limits.nvidia.com/gpu``, else none."""
    if quota is None:
        return GpuMax(None)
    note = ""
    text = quota.annotations.get(max_annotation) if max_annotation else None
    if text is not None:
        q = try_parse(text.strip())
        if q is not None and q.value >= 0 and q.value.denominator == 1:
            return GpuMax(float(q.value), "annotation")
        note = clean_line(f"annotation {max_annotation}={text!r} is not a GPU count", LIMIT)
    if quota.gpu_limit is not None:
        return GpuMax(quota.gpu_limit, "limits", note)
    return GpuMax(None, "", note)


# ------------------------------------------------------------------------------------------ rows
@dataclass(frozen=True)
class Blocked:
    """Work a tenant cannot start, and why in one line (the explainer's words).

    ``cause`` is ``quota`` (the quota refuses the workload's pods: they do not exist) or
    ``capacity`` (a pod exists, no node takes it)."""

    kind: str  # Pod, Notebook, TFJob, PyTorchJob, XGBoostJob, Job, SeldonDeployment
    name: str
    cause: str
    reason: str
    gpus: int = 0


@dataclass(frozen=True)
class NamespacePressure:
    """One row of the quota screen. GPU counts are whole numbers kept as floats (as the quota reads
    them); CPU in cores, memory in bytes; a hard value of None means no limit."""

    namespace: str
    has_quota: bool
    gpu_used: float | None  # status.used requests.nvidia.com/gpu; None when the quota does not count GPUs
    gpu_base: float | None  # hard requests.nvidia.com/gpu
    gpu_max: float | None
    max_source: str  # annotation | limits | "" (see GpuMax)
    pod_gpus: int  # requested by the scheduled, unfinished pods (held on nodes)
    pending_gpus: int  # requested by the unscheduled, unfinished pods (the quota counts them too)
    cpu_used: float = 0.0
    cpu_hard: float | None = None
    memory_used: float = 0.0
    memory_hard: float | None = None
    blocked: tuple[Blocked, ...] = ()
    pods_known: bool = True  # False before the pods are listed: no mismatch is claimed then
    note: str = ""  # e.g. an unreadable max annotation

    @property
    def used(self) -> float:
        """GPUs in use against the quota: status.used, else (not counted by the quota) the pods'."""
        return self.gpu_used if self.gpu_used is not None else float(self.pod_gpus + self.pending_gpus)

    @property
    def counted_gpus(self) -> int:
        """What status.used should say: every unfinished pod's GPUs, scheduled or not."""
        return self.pod_gpus + self.pending_gpus

    @property
    def mismatch(self) -> bool:
        """status.used disagrees with the pods (only when both are known)."""
        return self.pods_known and self.gpu_used is not None and self.gpu_used != self.counted_gpus

    @property
    def limit(self) -> float | None:
        """What pressure is measured against: the max, else the base."""
        return self.gpu_max if self.gpu_max is not None else self.gpu_base

    @property
    def pressure(self) -> float | None:
        """used / max (used / base without a max); None without either. A limit of 0 with GPUs in use
        is infinite pressure."""
        limit = self.limit
        if limit is None:
            return None
        if limit <= 0:
            return math.inf if self.used > 0 else 0.0
        return self.used / limit

    @property
    def bursting(self) -> bool:
        """Above the base (borrowing towards the max)."""
        return self.gpu_base is not None and self.used > self.gpu_base

    @property
    def near_max(self) -> bool:
        """At 90% of the max or more (over it included; a max of 0 only once something is used)."""
        if self.gpu_max is None:
            return False
        if self.gpu_max <= 0:
            return self.used > 0
        return Fraction(self.used) >= NEAR_MAX * Fraction(self.gpu_max)

    @property
    def over_max(self) -> bool:
        return self.gpu_max is not None and self.used > self.gpu_max

    @property
    def blocked_by_quota(self) -> tuple[Blocked, ...]:
        return tuple(b for b in self.blocked if b.cause == "quota")

    @property
    def blocked_by_capacity(self) -> tuple[Blocked, ...]:
        return tuple(b for b in self.blocked if b.cause == "capacity")


def _is_quota_line(line: str) -> bool:
    """Whether an explainer line blames the quota: a parsed FailedCreate refusal ("quota Q: needs ...")
    or the explainer's own reckoning ("needs 4 GPU, namespace quota has 2 free ...")."""
    return line.startswith("quota ") or ", namespace quota has " in line


def _unfinished(p: Pod) -> bool:
    return p.phase not in ("Succeeded", "Failed")


def _blocked(state: Any, ex: Explainer) -> dict[str, list[Blocked]]:
    out: dict[str, list[Blocked]] = {}
    for p in state.pods():
        if p.phase != "Pending" or p.node or p.deleting:
            continue
        line = ex.pod(p)
        if line:
            out.setdefault(p.namespace, []).append(Blocked("Pod", p.name, "capacity", line, p.gpus))
    workloads: list[tuple[Any, str, Any]] = []
    workloads += [(nb, "Notebook", ex.notebook) for nb in state.notebooks()]
    workloads += [(j, j.kind or "TrainingJob", ex.job) for j in state.training_jobs()]
    workloads += [(d, "SeldonDeployment", ex.deployment) for d in state.deployments()]
    for obj, kind, why in workloads:
        line = why(obj)
        if line and _is_quota_line(line):
            out.setdefault(obj.namespace, []).append(Blocked(kind, obj.name, "quota", line, obj.gpus))
    for rows in out.values():
        rows.sort(key=lambda b: (b.cause != "quota", b.kind, b.name))
    return out


def _sort_key(r: NamespacePressure) -> tuple:
    p = r.pressure
    return (p is None, -(p if p is not None else 0.0), -r.used, r.namespace)


def pressures(state: Any, *, max_annotation: str = DEFAULT_MAX_ANNOTATION,
              with_blocked: bool = True) -> list[NamespacePressure]:
    """One row per namespace with a quota (and per namespace without one that holds GPUs or has work
    blocked), highest pressure first; those without a GPU limit last, then by GPUs used and name.

    ``state``: the live :class:`~prophecis_tui.state.State` (or anything with ``pods()``,
    ``quotas()``, ``nodes()``, ``events()``, ``namespaces()``, ``notebooks()``,
    ``training_jobs()``, ``deployments()``). O(objects); run it off the UI thread at scale.
    ``with_blocked=False`` skips the blocked work (the explainer's pass over every pending object):
    the rows then have no ``blocked``, and a namespace without a quota shows only when it holds GPUs."""
    quotas: Mapping[str, Quota] = state.quotas()
    pods = state.pods()
    held: dict[str, int] = {}
    pending: dict[str, int] = {}
    for p in pods:
        if not _unfinished(p) or p.gpus <= 0:
            continue
        if p.node:
            held[p.namespace] = held.get(p.namespace, 0) + p.gpus
        else:
            pending[p.namespace] = pending.get(p.namespace, 0) + p.gpus
    blocked = _blocked(state, Explainer.from_state(state)) if with_blocked else {}
    has_data = getattr(state, "has_data", None)
    pods_known = bool(has_data("pods")) if callable(has_data) else True
    terminating = {n.name for n in state.namespaces() if n.terminating}
    names = set(quotas) | ({*held, *pending, *blocked} - terminating)
    rows = []
    for ns in names:
        q = quotas.get(ns)
        mx = gpu_max(q, max_annotation)
        counts_gpus = q is not None and q.gpu_base is not None
        rows.append(NamespacePressure(
            namespace=ns, has_quota=q is not None,
            gpu_used=q.gpu_used if counts_gpus else None, gpu_base=q.gpu_base if q else None,
            gpu_max=mx.value, max_source=mx.source,
            pod_gpus=held.get(ns, 0), pending_gpus=pending.get(ns, 0),
            cpu_used=q.cpu_used if q else 0.0, cpu_hard=q.cpu_hard if q else None,
            memory_used=q.memory_used if q else 0.0, memory_hard=q.memory_hard if q else None,
            blocked=tuple(blocked.get(ns, ())), pods_known=pods_known, note=mx.note))
    rows.sort(key=_sort_key)
    return rows


def nearest_limits(rows: Iterable[NamespacePressure], n: int) -> list[NamespacePressure]:
    """The ``n`` namespaces nearest to (or over) their GPU limit, highest pressure first (the order of
    :func:`pressures`): those with a limit and GPUs in use; an idle or unlimited tenant is under no pressure."""
    return sorted((r for r in rows if r.pressure is not None and r.used > 0), key=_sort_key)[:max(n, 0)]


# ------------------------------------------------------------------------------------------ capacity
@dataclass(frozen=True)
class NodeCapacity:
    """The GPUs of the nodes a namespace is bound to. ``gpus`` is None when that cannot be told, and
    ``reason`` then says why (a sentence for the edit refusal)."""

    gpus: int | None
    nodes: tuple[str, ...] = ()
    selector: str = ""  # the node selector, as written in the annotation
    reason: str = ""


def node_selector_of(namespace: Namespace) -> dict[str, str]:
    """The namespace's node selector (its annotation); else its department and app as the lb-* labels."""
    if namespace.node_selector:
        return dict(namespace.node_selector)
    out = {}
    if namespace.department:
        out["lb-department"] = namespace.department
    if namespace.app:
        out["lb-app"] = namespace.app
    return out


def selector_text(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items())


def _labels(n: Node) -> dict[str, str]:
    """A node's labels; department/app/GPU model fill in where a hand-built node has no labels for them."""
    labels = dict(n.labels)
    for key, value in (("lb-department", n.department), ("lb-app", n.app)):
        if value:
            labels.setdefault(key, value)
    return labels


def node_gpu_capacity(nodes: Iterable[Node], selector: Mapping[str, str], *,
                      gpu_node_label: tuple[str, str] | None = GPU_NODE_LABEL) -> tuple[int, tuple[str, ...]]:
    """(allocatable GPUs summed, node names) over the nodes whose labels match every ``selector`` pair and
    carry ``gpu_node_label`` (None: any node with GPUs). Ready or not, cordoned or not: the control
    centre sums them all, and a quota outlives a node's bad day."""
    total, names = 0, []
    for n in nodes:
        labels = _labels(n)
        if gpu_node_label is not None and labels.get(gpu_node_label[0]) != gpu_node_label[1]:
            continue
        if all(labels.get(k) == v for k, v in selector.items()):
            total += max(n.gpu_allocatable, 0)
            names.append(n.name)
    return total, tuple(sorted(names))


def namespace_capacity(state: Any, namespace: str, *,
                       gpu_node_label: tuple[str, str] | None = GPU_NODE_LABEL) -> NodeCapacity:
    """The GPU capacity of the nodes ``namespace``'s node selector matches, from the state's nodes."""
    ns = next((n for n in state.namespaces() if n.name == namespace), None)
    if ns is None:
        return NodeCapacity(None, reason=clean_line(f"Namespace {namespace} is not known, so its nodes "
                                                    "cannot be told.", LIMIT))
    selector = node_selector_of(ns)
    if not selector:
        return NodeCapacity(None, reason=clean_line(f"Namespace {namespace} is not bound to any nodes (it has "
                                                    "no node selector): bind it to nodes first.", LIMIT))
    text = selector_text(selector)
    has_data = getattr(state, "has_data", None)
    if callable(has_data) and not has_data("nodes"):
        return NodeCapacity(None, selector=text, reason="The nodes are not listed (yet), so the GPU capacity "
                                                        "of the namespace's nodes cannot be checked.")
    gpus, names = node_gpu_capacity(state.nodes(), selector, gpu_node_label=gpu_node_label)
    return NodeCapacity(gpus, names, text)


# ------------------------------------------------------------------------------------------ the edit check
def _count(value: Any) -> Fraction | None:
    if isinstance(value, bool):
        return None
    q = try_parse(value.strip() if isinstance(value, str) else value)
    return None if q is None else q.value


def _n(v: Fraction) -> str:
    """A count as people write it: 8, -1, 1.5."""
    return str(v.numerator) if v.denominator == 1 else f"{float(v):g}"


def validate_quota_edit(base: Any, max: Any, node_gpu_capacity: int | NodeCapacity | None) -> str:
    """"" when a tenant's GPU base and max may be set so, else the sentence that refuses it.

    ``base``, ``max``: GPU counts (numbers or quantity text); ``max`` None: no maximum.
    ``node_gpu_capacity``: the GPUs of the nodes the namespace's node selector matches
    (:func:`namespace_capacity`); None, or a NodeCapacity without a count, refuses: the base
    cannot be checked."""
    b = _count(base)
    if b is None:
        return clean_line(f"The GPU base {base!r} is not a number.", LIMIT)
    m = None
    if max is not None and max != "":
        m = _count(max)
        if m is None:
            return clean_line(f"The GPU maximum {max!r} is not a number.", LIMIT)
    if b < 0:
        return f"The GPU base cannot be negative ({_n(b)})."
    if m is not None and m < 0:
        return f"The GPU maximum cannot be negative ({_n(m)})."
    if b.denominator != 1:
        return f"GPUs are whole devices: the base {_n(b)} is not a whole number."
    if m is not None and m.denominator != 1:
        return f"GPUs are whole devices: the maximum {_n(m)} is not a whole number."
    if m is not None and b > m:
        return f"The GPU base ({_n(b)}) cannot be above the maximum ({_n(m)})."
    cap = node_gpu_capacity
    if isinstance(cap, NodeCapacity):
        if cap.gpus is None:
            return cap.reason or "The GPU capacity of the namespace's nodes is not known, so the base cannot be checked."
        if b > cap.gpus:
            where = f" ({cap.selector}, {len(cap.nodes)} node{'' if len(cap.nodes) == 1 else 's'})" if cap.selector else ""
            return clean_line(f"The GPU base ({_n(b)}) is above the {cap.gpus} GPU{'' if cap.gpus == 1 else 's'} of the "
                              f"nodes the namespace's node selector matches{where}.", LIMIT)
        return ""
    if cap is None:
        return "The GPU capacity of the namespace's nodes is not known, so the base cannot be checked."
    if b > cap:
        return (f"The GPU base ({_n(b)}) is above the {cap} GPU{'' if cap == 1 else 's'} of the nodes the "
                "namespace's node selector matches.")
    return ""

"""Idle GPUs: allocated to a pod, yet under a utilisation threshold for a whole window.

Pure functions (no Textual, no I/O). The GPU screen's "idle GPUs" board is built on them: it
passes, per GPU, who holds it (:class:`Holder`, from the metrics sample's pod joined to the
state's Pod) and the GPU's utilisation history as ``(unix time, util %)`` points, and gets back
the GPUs that have been idle for at least the window, longest idle first.

What counts:

- a point is *below* when its utilisation is strictly under the threshold (5% by default: a GPU
  at exactly 5% is not idle); points without a number (None, NaN) are missing data;
- the current idle run is the longest stretch of below points that reaches the newest point,
  with no gap between neighbours longer than ``max_gap`` (by default ``gap_factor`` = 3 times
  the history's usual sample interval). A gap is not idle time: the run starts again after it;
- "idle since" is the first point of that run, clipped to when the holder got the GPU (the
  history of a GPU spans the pods that held it before);
- the GPU is idle when the run lasts at least the window up to ``now``. It is *active* when a
  point at or over the threshold falls within the window (or is the newest), and *unknown*
  ("not known yet") when the history is too short, broken by a gap, or stale (nothing newer
  than ``max_gap`` before ``now``): too little to call it idle.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from prophecis_tui.domain import GpuSample, Pod

__all__ = ["DEFAULT_GAP_FACTOR", "DEFAULT_THRESHOLD", "DEFAULT_WINDOW", "Assessment", "Holder", "IdleGpu",
           "Idleness", "assess", "holder_of", "holders_from_samples", "idle_from_runs", "idle_gpus", "sample_interval",
           "workload_of"]

DEFAULT_THRESHOLD = 5.0  # % utilisation
DEFAULT_WINDOW = 30 * 60.0  # seconds
DEFAULT_GAP_FACTOR = 3.0  # a gap over this many usual sample intervals breaks a run

Point = tuple[float, float | None]


class Idleness(StrEnum):
    IDLE = "idle"
    ACTIVE = "active"
    UNKNOWN = "unknown"  # not known yet: too little, broken or stale history


@dataclass(frozen=True)
class Assessment:
    """What one GPU's history says. ``since``: the start of the current below-threshold run (None when
    the newest point is not below or there is none); ``idle_for``: ``now - since`` (0 without a run);
    ``reason``: for ``unknown``, why in a few words."""

    state: Idleness
    since: float | None = None
    idle_for: float = 0.0
    last: float | None = None  # time of the newest point
    last_util: float | None = None
    peak_util: float | None = None  # the highest utilisation within the run
    reason: str = ""


# ------------------------------------------------------------------------------------------ holders
def workload_of(pod: Pod, notebooks: Collection[tuple[str, str]] | None = None) -> tuple[str, str]:
    """(kind, name) of the workload a pod serves, as people call it: ("notebook", n) (its ``notebook-name``
    label, or a StatefulSet owner that is one of ``notebooks``, (namespace, name) pairs; any StatefulSet when
    they are not known), (the job's kind, j) for a training job or batch Job ("PyTorchJob", "Job"; "training
    job" when the owner is not known), ("deployment", d) for a Seldon model server, else its owner's kind and
    name, else ("pod", its own name). The one naming rule of the GPU screen and the idle board."""
    notebook = pod.labels.get("notebook-name") or (
        pod.owner_name if pod.owner_kind == "StatefulSet" and (
            notebooks is None or (pod.namespace, pod.owner_name) in notebooks) else "")
    if notebook:
        return "notebook", notebook
    if pod.job_name:
        return pod.owner_kind or "training job", pod.job_name
    seldon = pod.labels.get("seldon-deployment-id")
    if seldon:
        return "deployment", seldon
    if pod.owner_kind and pod.owner_name:
        return pod.owner_kind, pod.owner_name
    return "pod", pod.name


@dataclass(frozen=True)
class Holder:
    """The pod a GPU is allocated to, and what it belongs to. ``since``: unix time it got the GPU
    (the pod's start, else its creation), None when not known."""

    namespace: str
    pod: str
    pod_uid: str = ""
    owner_kind: str = ""
    owner_name: str = ""
    workload_kind: str = "pod"
    workload: str = ""
    since: float | None = None


def holder_of(pod: Pod, notebooks: Collection[tuple[str, str]] | None = None) -> Holder:
    kind, name = workload_of(pod, notebooks)
    start = pod.started or pod.created
    return Holder(namespace=pod.namespace, pod=pod.name, pod_uid=pod.uid, owner_kind=pod.owner_kind,
                  owner_name=pod.owner_name, workload_kind=kind, workload=name,
                  since=start.timestamp() if start is not None else None)


def holders_from_samples(samples: Iterable[GpuSample], pods: Iterable[Pod],
                         notebooks: Collection[tuple[str, str]] | None = None) -> dict[str, Holder]:
    """Who holds each GPU (by ``GpuSample.key``, "node/index"): the sample's pod (by uid, else namespace
    and name) joined to the state's pods. A GPU whose sample names no pod is not held and left out; a
    pod the state does not know yet is named as the sample names it. ``notebooks``: as ``workload_of`` takes them."""
    by_uid: dict[str, Pod] = {}
    by_name: dict[tuple[str, str], Pod] = {}
    for p in pods:
        by_uid[p.uid] = p
        by_name[(p.namespace, p.name)] = p
    out: dict[str, Holder] = {}
    for s in samples:
        pod = (by_uid.get(s.pod_uid) if s.pod_uid else None) or by_name.get((s.namespace, s.pod))
        if pod is not None:
            out[s.key] = holder_of(pod, notebooks)
        elif s.pod:
            out[s.key] = Holder(namespace=s.namespace, pod=s.pod, pod_uid=s.pod_uid, workload=s.pod)
    return out


# ------------------------------------------------------------------------------------------ one history
def _clean(points: Iterable[Point]) -> list[tuple[float, float]]:
    out = []
    for t, u in points:
        if t is None or u is None:
            continue
        t, u = float(t), float(u)
        if math.isfinite(t) and math.isfinite(u):
            out.append((t, u))
    out.sort(key=lambda p: p[0])
    return out


def sample_interval(times: Sequence[float]) -> float | None:
    """The usual step between points (the median of the positive steps); None with fewer than two."""
    steps = [b - a for a, b in pairwise(times) if b > a]
    return statistics.median(steps) if steps else None


def assess(points: Iterable[Point], now: float, *, threshold: float = DEFAULT_THRESHOLD,
           window: float = DEFAULT_WINDOW, max_gap: float | None = None, gap_factor: float = DEFAULT_GAP_FACTOR,
           not_before: float | None = None) -> Assessment:
    """Is this GPU idle? ``points``: (unix time, util %) in any order; ``now``: unix time;
    ``max_gap``: the longest step that still joins two points (None: ``gap_factor`` x the usual
    interval); ``not_before``: when the current holder got the GPU (earlier points are not its)."""
    pts = _clean(points)
    if not_before is not None:
        pts = [p for p in pts if p[0] >= not_before]
    if not pts:
        return Assessment(Idleness.UNKNOWN, reason="no history")
    last_t, last_u = pts[-1]
    if max_gap is None:
        step = sample_interval([t for t, _ in pts])
        if step is None:
            return Assessment(Idleness.UNKNOWN, last=last_t, last_util=last_u, reason="too little history")
        max_gap = gap_factor * step
    if now - last_t > max_gap:
        return Assessment(Idleness.UNKNOWN, last=last_t, last_util=last_u, reason="no recent samples")
    if last_u >= threshold:
        return Assessment(Idleness.ACTIVE, last=last_t, last_util=last_u)
    # walk back from the newest point while the points stay below and joined
    i = len(pts) - 1
    broken_by = "start"  # what ended the run: the history's start, a gap, a busy point
    while i > 0:
        prev_t, prev_u = pts[i - 1]
        if pts[i][0] - prev_t > max_gap:
            broken_by = "gap"
            break
        if prev_u >= threshold:
            broken_by = "busy"
            break
        i -= 1
    since = pts[i][0]
    peak = max(u for _, u in pts[i:])
    idle_for = max(now - since, 0.0)
    base = {"since": since, "idle_for": idle_for, "last": last_t, "last_util": last_u, "peak_util": peak}
    if idle_for >= window:
        return Assessment(Idleness.IDLE, **base)
    if broken_by == "busy":
        return Assessment(Idleness.ACTIVE, **base)
    if broken_by == "gap":
        return Assessment(Idleness.UNKNOWN, reason="a gap in the history", **base)
    if not_before is not None and since - not_before <= max_gap:
        return Assessment(Idleness.UNKNOWN, reason="held for less than the window", **base)
    return Assessment(Idleness.UNKNOWN, reason="too little history", **base)


# ------------------------------------------------------------------------------------------ the board
@dataclass(frozen=True)
class IdleGpu:
    """One row of the "idle GPUs" board."""

    key: str  # node/index, as GpuSample.key
    holder: Holder
    since: float  # unix time: the start of the current below-threshold run
    idle_for: float  # seconds, up to now
    last_util: float | None = None
    peak_util: float | None = None

    @property
    def node(self) -> str:
        return self.key.rpartition("/")[0]

    @property
    def gpu(self) -> str:
        """The GPU's index on its node, as written in the key."""
        return self.key.rpartition("/")[2]

    @property
    def namespace(self) -> str:
        return self.holder.namespace

    @property
    def pod(self) -> str:
        return self.holder.pod

    @property
    def workload(self) -> str:
        return self.holder.workload

    @property
    def workload_kind(self) -> str:
        return self.holder.workload_kind

    @property
    def is_notebook(self) -> bool:
        """The board offers the notebook stop action on these rows."""
        return self.holder.workload_kind == "notebook"


def idle_gpus(holders: Mapping[str, Holder], histories: Mapping[str, Iterable[Point]], now: float, *,
              threshold: float = DEFAULT_THRESHOLD, window: float = DEFAULT_WINDOW,
              max_gap: float | None = None, gap_factor: float = DEFAULT_GAP_FACTOR) -> list[IdleGpu]:
    """The held GPUs idle for at least ``window`` seconds up to ``now``, longest idle first (then by key).

    ``holders``: GPU key -> who holds it (GPUs not held are never idle here: nobody wastes them);
    ``histories``: GPU key -> its (unix time, util %) points. Parameters as :func:`assess`."""
    out = []
    for key, holder in holders.items():
        a = assess(histories.get(key, ()), now, threshold=threshold, window=window, max_gap=max_gap,
                   gap_factor=gap_factor, not_before=holder.since)
        if a.state is Idleness.IDLE and a.since is not None:
            out.append(IdleGpu(key, holder, a.since, a.idle_for, a.last_util, a.peak_util))
    out.sort(key=lambda g: (g.since, g.key))
    return out


def idle_from_runs(holders: Mapping[str, Holder], runs: Mapping[str, tuple[float, float, float | None, float | None]],
                   now: float, *, window: float = DEFAULT_WINDOW, max_age: float | None = None) -> list[IdleGpu]:
    """The idle board from runs kept poll after poll (``backends.gpu_history.IdleRuns.runs()``: GPU key -> (run
    start, last poll, last util, peak util)) instead of whole histories: the same rows as :func:`idle_gpus`, for a
    cost of one look per GPU. A run older than its holder's start is clipped to it; ``max_age``: a run whose last
    poll is older than this is stale (the source went quiet) and left out."""
    out = []
    for key, holder in holders.items():
        run = runs.get(key)
        if run is None:
            continue
        since, last, last_util, peak = run
        if max_age is not None and now - last > max_age:
            continue
        if holder.since is not None and since < holder.since:
            since = holder.since
        if now - since >= window:
            out.append(IdleGpu(key, holder, since, now - since, last_util, peak))
    out.sort(key=lambda g: (g.since, g.key))
    return out

"""Why is it pending? One short line for a pending pod, notebook, training job or model deployment.

Pure functions over domain objects. What explains what:

- A workload whose pods are missing: the latest FailedCreate/FailedCreatePod event on its owner
  (quota refusals are parsed: "quota mlss-default-rq: needs 1 GPU, 16/16 used"), else the
  namespace's GPU quota ("needs 4 GPU, namespace quota has 2 free (14/16 used)").
- A pod that exists has passed quota admission, so quota never explains a pending pod. For one
  that is not scheduled: node capacity, from the nodes' allocatable GPUs minus the GPUs held by
  the pods on them ("no node with 8 free GPUs (largest free: 6 on gpu-node-17)"); then the
  latest FailedScheduling message (or the pod's PodScheduled message) in plain words ("12 nodes
  lack free GPUs, 8 don't match the node selector"); then why its container waits.
- Nodes count when they are in the namespace's pool: Prophecis pins a namespace's pods to the
  nodes labelled with its department and app (the namespace's node-selector annotation, as
  ``Namespace.department``/``app``; else the ``ns-<department>-<app>`` naming rule). Without a
  known pool, capacity over all nodes is used only when the scheduler did not say that some
  nodes do not match the pod's selector (it would point at other tenants' nodes).

``Explainer`` indexes one refresh's pods, nodes, quotas and events once (O(n)); its per-object
answers then touch only that object's pods and events. Every line is sanitised.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from prophecis_tui.domain import (Event, JobState, ModelDeployment, Namespace, Node, Notebook, NotebookState, Pod,
                                  Quota, TrainingJob)
from prophecis_tui.quantity import format_gpus, format_memory, format_plain, try_parse
from prophecis_tui.sanitize import clean_line

__all__ = ["Capacity", "Explainer", "capacity", "explain_deployment", "explain_job", "explain_notebook",
           "held_gpus", "summarise_failed_create", "summarise_scheduling", "why_not_created", "why_pending"]

LIMIT = 200  # characters of one explanation
FAILED_CREATE = frozenset({"FailedCreate", "FailedCreatePod"})
BENIGN_WAITING = ("ContainerCreating", "PodInitializing")
SELECTOR_ALL = "no node matches the namespace's node selector"


# ------------------------------------------------------------------------------------------ events
def _when(e: Event) -> float:
    t = e.last or e.first
    return t.timestamp() if t is not None else 0.0


def _latest(events: Iterable[Event], reasons: Iterable[str]) -> Event | None:
    wanted = frozenset(reasons)
    found = [e for e in events if e.reason in wanted]
    return max(found, key=_when) if found else None


def _num(x: float) -> str:
    return format_gpus(x)


# ------------------------------------------------------------------------------------------ FailedCreate
_QUOTA = re.compile(r"exceeded quota: ([^,\s]+), requested: (\S+), used: (\S+), limited: (\S+?)\.?$")
_FORBIDDEN = re.compile(r'pods? "[^"]*" is forbidden: (.*)', re.S)
_CREATE_PREFIX = re.compile(r"^(?:Error creating: |create Pod \S+ in StatefulSet \S+ failed error: )")


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _resource(key: str) -> tuple[int, str]:
    """(sort order, word) of a quota resource key."""
    base = key.split(".", 1)[1] if key.startswith(("requests.", "limits.")) else key
    if base.endswith("gpu"):
        return 0, "GPU"
    return {"cpu": (1, "CPU"), "memory": (2, "memory"), "pods": (3, "pod")}.get(base, (4, base))


def summarise_failed_create(message: str) -> str:
    """A FailedCreate message in a few words: a quota refusal becomes "quota Q: needs 1 GPU, 16/16 used"."""
    m = _QUOTA.search(message.strip())
    if m:
        requested, used, limited = (_pairs(g) for g in m.groups()[1:])
        parts = []
        keys = sorted(requested, key=lambda k: (_resource(k)[0], k))
        over = [k for k in keys if _exceeds(requested[k], used.get(k), limited.get(k))]
        for key in over or keys:  # the resources that do not fit; all of them if that cannot be told
            unit = _resource(key)[1]
            parts.append(f"needs {_qty(key, requested[key])} {unit}, "
                         f"{_qty(key, used.get(key, '?'))}/{_qty(key, limited.get(key, '?'))} used")
        # requests.cpu and limits.cpu over together read the same: say it once
        return clean_line(f"quota {m.group(1)}: " + "; ".join(dict.fromkeys(parts)), LIMIT)
    text = _CREATE_PREFIX.sub("", message.strip())
    f = _FORBIDDEN.search(text)
    if f:
        return clean_line(f"pod creation forbidden: {f.group(1)}", LIMIT)
    return clean_line(f"cannot create pods: {text}", LIMIT)


def _exceeds(req: str, used: str | None, limit: str | None) -> bool:
    """Exactly (100m + 200m does not exceed 300m)."""
    r, u, lim = try_parse(req), try_parse(used), try_parse(limit)
    return r is not None and u is not None and lim is not None and r + u > lim


def _qty(key: str, value: str) -> str:
    """92700m CPU -> 92.7; 96Gi stays, 1536Mi -> 1.5Gi; anything unreadable as written."""
    q = try_parse(value)
    if q is None:
        return value
    if "memory" in key:
        return format_memory(q, places=2)
    return format_plain(q)


def why_not_created(owner_kind: str, owner_name: str, events: Iterable[Event]) -> str:
    """Why the owner (StatefulSet, TFJob, Job, ReplicaSet, ...) cannot create its pods, from its latest
    FailedCreate/FailedCreatePod event; "" when it has none. Pass the namespace's events."""
    mine = (e for e in events if e.object_kind == owner_kind and e.object_name == owner_name)
    e = _latest(mine, FAILED_CREATE)
    return summarise_failed_create(e.message) if e else ""


def _quota_line(quota: Quota | None, need: float) -> str:
    if quota is None or quota.gpu_hard is None or need <= 0:
        return ""
    free = max(quota.gpu_hard - quota.gpu_used, 0.0)
    if free >= need:
        return ""
    return (f"needs {_num(need)} GPU, namespace quota has {_num(free)} free "
            f"({_num(quota.gpu_used)}/{_num(quota.gpu_hard)} used)")


# ------------------------------------------------------------------------------------------ FailedScheduling
_AVAILABLE = re.compile(r"(\d+)/(\d+) nodes are available:?\s*")
_COUNTED = re.compile(r"^(\d+)\s+(.+)$", re.S)
_SELECTOR = re.compile(r"node affinity/selector|didn't match node selector|didn't match pod's node affinity", re.I)
# (the scheduler's words, what they mean for several nodes, for one)
_PHRASES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"insufficient \S*gpu", re.I), "lack free GPUs", "lacks free GPUs"),
    (re.compile(r"insufficient cpu", re.I), "lack CPU", "lacks CPU"),
    (re.compile(r"insufficient memory", re.I), "lack memory", "lacks memory"),
    (re.compile(r"volume node affinity", re.I), "have a volume zone conflict", "has a volume zone conflict"),
    (_SELECTOR, "don't match the node selector", "doesn't match the node selector"),
    (re.compile(r"anti-affinity", re.I), "would break pod anti-affinity", "would break pod anti-affinity"),
    (re.compile(r"pod affinity", re.I), "don't satisfy pod affinity", "doesn't satisfy pod affinity"),
    (re.compile(r"unschedulable", re.I), "are cordoned", "is cordoned"),
    (re.compile(r"not-ready|not ready|unreachable", re.I), "are not ready", "is not ready"),
    (re.compile(r"taint", re.I), "have a taint the pod doesn't tolerate", "has a taint the pod doesn't tolerate"),
    (re.compile(r"too many pods", re.I), "are at their pod limit", "is at its pod limit"),
    (re.compile(r"free ports", re.I), "lack the host port", "lacks the host port"),
)


def _phrase(n: int, what: str) -> tuple[int, str]:
    """(order, words) for "n <scheduler's reason>"; the selector mismatch goes last."""
    for i, (pattern, many, one) in enumerate(_PHRASES):
        if pattern.search(what):
            return (99 if pattern is _SELECTOR else i), (one if n == 1 else many)
    insufficient = re.match(r"insufficient (\S+)", what, re.I)
    if insufficient:
        return 50, ("lacks " if n == 1 else "lack ") + insufficient.group(1)
    return 60, re.sub(r"^node\(s\)\s+", "", what)


def summarise_scheduling(message: str) -> str:
    """A FailedScheduling message in plain words: "0/20 nodes are available: 12 Insufficient nvidia.com/gpu,
    8 node(s) didn't match Pod's node affinity/selector." -> "12 nodes lack free GPUs, 8 don't match the
    node selector"; when no node matches the selector: "no node matches the namespace's node selector"."""
    m = _AVAILABLE.search(message)
    if not m:
        return clean_line(message.strip(), LIMIT)
    total = int(m.group(2))
    rest = re.split(r"\s*preemption:", message[m.end():], maxsplit=1)[0].strip().rstrip(".")
    items: list[tuple[int, int, str]] = []  # (order, count, words)
    for part in re.split(r",\s*(?=\d+\s)", rest):
        c = _COUNTED.match(part.strip())
        if not c:
            if part.strip():
                items.append((70, -1, part.strip()))
            continue
        n = int(c.group(1))
        order, words = _phrase(n, c.group(2))
        if order == 99 and n >= total:
            return SELECTOR_ALL
        items.append((order, n, words))
    if not items:
        return clean_line(message.strip(), LIMIT)
    items.sort(key=lambda t: t[0])
    out = []
    for _, n, words in items:
        if n < 0:
            out.append(words)
        elif not out:
            out.append(f"{n} {'node' if n == 1 else 'nodes'} {words}")
        else:
            out.append(f"{n} {words}")
    return clean_line(", ".join(out), LIMIT)


# ------------------------------------------------------------------------------------------ node capacity
@dataclass(frozen=True)
class Capacity:
    """The GPU nodes a pod may go to: (name, free, allocatable) of the ready, schedulable ones, and how many
    GPU nodes are not ready or cordoned."""

    usable: tuple[tuple[str, int, int], ...]
    down: int
    pooled: bool  # restricted to the namespace's nodes


def held_gpus(pods: Iterable[Pod]) -> dict[str, int]:
    """GPUs allocated per node: the pods that are scheduled and not finished."""
    held: dict[str, int] = defaultdict(int)
    for p in pods:
        if p.holds_gpus:
            held[p.node] += p.gpus
    return held


def capacity(nodes: Iterable[Node], held: dict[str, int], pooled: bool = False) -> Capacity:
    """The GPU nodes among ``nodes`` with their free GPUs (allocatable minus ``held``), most free first."""
    usable, down = [], 0
    for n in nodes:
        if n.gpu_allocatable <= 0:
            continue
        if not n.ready or n.unschedulable:
            down += 1
            continue
        usable.append((n.name, max(n.gpu_allocatable - held.get(n.name, 0), 0), n.gpu_allocatable))
    usable.sort(key=lambda t: (-t[1], t[0]))
    return Capacity(tuple(usable), down, pooled)


def _gpus(n: int, word: str = "") -> str:
    return f"{n} {word + ' ' if word else ''}GPU{'' if n == 1 else 's'}"


def _gpu_line(need: int, cap: Capacity) -> str:
    """Why no node can take ``need`` GPUs now; "" when one can."""
    if need <= 0:
        return ""
    where = " for this namespace" if cap.pooled else ""
    if not cap.usable:
        if cap.down:
            return f"needs {need} GPU, every GPU node{where} is not ready or cordoned ({cap.down})"
        return f"needs {need} GPU, no GPU node{where}"
    biggest = min(cap.usable, key=lambda t: (-t[2], t[0]))
    if need > biggest[2]:
        return f"needs {need} GPU, more than any node has (largest: {_gpus(biggest[2])} on {biggest[0]})"
    name, free, _ = cap.usable[0]
    if free >= need:
        return ""
    if free == 0 and len(cap.usable) == 1:
        line = f"no node with {_gpus(need, 'free')} ({name}, the only GPU node{where}, is full)"
    elif free == 0:
        line = f"no node with {_gpus(need, 'free')} (all {len(cap.usable)} GPU nodes{where} are full)"
    else:
        line = f"no node with {_gpus(need, 'free')} (largest free: {free} on {name})"
    if cap.down:
        line += f"; {cap.down} GPU node{'' if cap.down == 1 else 's'} not ready or cordoned"
    return line


# ------------------------------------------------------------------------------------------ one pod
def _waiting_line(waiting: str) -> str:
    if not waiting or waiting.startswith(BENIGN_WAITING):
        return ""
    return waiting


def _why_pod(pod: Pod, events: Iterable[Event], cap: Capacity) -> str:
    if pod.phase != "Pending" or pod.deleting:
        return ""
    if pod.node:  # scheduled: only its containers can hold it back
        return clean_line(_waiting_line(pod.waiting), LIMIT)
    sched = _latest(events, ("FailedScheduling",))
    message = sched.message if sched is not None else pod.unschedulable
    line = ""
    if cap.pooled or not _SELECTOR.search(message):
        line = _gpu_line(pod.gpus, cap)
    if not line and message:
        line = summarise_scheduling(message)
    return clean_line(line or _waiting_line(pod.waiting), LIMIT)


def _pod_events(pod: Pod, events: Iterable[Event]) -> list[Event]:
    return [e for e in events if e.object_kind == "Pod" and e.object_name == pod.name
            and e.namespace in ("", pod.namespace) and e.object_uid in ("", pod.uid)]


def why_pending(pod: Pod, *, events: list[Event], quota: Quota | None, nodes: list[Node],
                pods_on_nodes: list[Pod]) -> str:
    """Why a Pending pod does not run, in one line; "" when it is not pending (or nothing is known).

    ``events`` may be the namespace's (the pod's own are picked); ``nodes`` and ``pods_on_nodes``
    give the free GPUs. ``quota`` is accepted for symmetry with the workload explainers but never
    used: a pod that exists has passed quota admission (see ``why_not_created``).
    """
    del quota
    pool, pooled = _pool(pod.namespace, nodes, {})
    return _why_pod(pod, _pod_events(pod, events), capacity(pool, held_gpus(pods_on_nodes), pooled))


def _pool(namespace: str, nodes: Sequence[Node], selectors: dict[str, tuple[str, str]]) -> tuple[list[Node], bool]:
    """The nodes a namespace's pods may use, and whether that pool is known (else: all nodes)."""
    sel = selectors.get(namespace)
    if sel is None:
        sel = next(((n.department, n.app) for n in nodes
                    if n.department and n.app and namespace == f"ns-{n.department}-{n.app}"), None)
    if sel is None or not any(sel):
        return list(nodes), False
    dept, app = sel
    return [n for n in nodes if (not dept or n.department == dept) and (not app or n.app == app)], True


# ------------------------------------------------------------------------------------------ the index
class Explainer:
    """One refresh's pods, nodes, quotas and events, indexed once; then "why" per pod or workload.

    Build it in a worker thread (O(number of objects)); its answers touch only the object's own pods
    and events. ``namespaces`` (optional) gives each namespace's node pool.
    """

    def __init__(self, pods: Iterable[Pod], nodes: Iterable[Node], quotas: Iterable[Quota],
                 events: Iterable[Event], namespaces: Iterable[Namespace] = ()) -> None:
        self.nodes = list(nodes)
        self._node = {n.name: n for n in self.nodes}
        self.quotas = {q.namespace: q for q in quotas}
        self._selectors = {n.name: (n.department, n.app) for n in namespaces if n.department or n.app}
        self._conventional = {f"ns-{n.department}-{n.app}": (n.department, n.app)
                              for n in self.nodes if n.department and n.app}
        pods = list(pods)
        self._held = held_gpus(pods)
        self._capacity: dict[str, Capacity] = {}
        self._by_job: dict[tuple[str, str], list[Pod]] = defaultdict(list)
        self._by_notebook: dict[tuple[str, str], list[Pod]] = defaultdict(list)
        self._by_seldon: dict[tuple[str, str], list[Pod]] = defaultdict(list)
        for p in pods:
            self._index_pod(p)
        self._events: dict[tuple[str, str, str], list[Event]] = defaultdict(list)
        self._rs_failed: dict[str, list[Event]] = defaultdict(list)
        for e in events:
            self._events[(e.namespace, e.object_kind, e.object_name)].append(e)
            if e.object_kind == "ReplicaSet" and e.reason in FAILED_CREATE:
                self._rs_failed[e.namespace].append(e)

    @classmethod
    def from_state(cls, state: Any, pods: Iterable[Pod] | None = None) -> "Explainer":
        """An Explainer over the live state (anything with pods(), nodes(), quotas(), events(), namespaces()).

        ``pods``: only these are indexed by owner (e.g. a table's rows); the free GPUs always count every pod.
        """
        every = state.pods()
        quotas = state.quotas()
        ex = cls(every if pods is None else pods, state.nodes(), quotas.values() if isinstance(quotas, dict) else quotas,
                 state.events(), state.namespaces())
        if pods is not None:
            ex._held = held_gpus(every)
        return ex

    def _index_pod(self, p: Pod) -> None:
        if p.job_name:
            self._by_job[(p.namespace, p.job_name)].append(p)
        notebook = p.labels.get("notebook-name") or (p.owner_name if p.owner_kind == "StatefulSet" else "")
        if notebook:
            self._by_notebook[(p.namespace, notebook)].append(p)
        seldon = p.labels.get("seldon-deployment-id")
        if seldon:
            self._by_seldon[(p.namespace, seldon)].append(p)

    # ---------------------------------------------------------------- lookups
    def events_for(self, namespace: str, kind: str, name: str, uid: str = "") -> list[Event]:
        """The events about one object, oldest first (those of an earlier object of the same name left out)."""
        found = self._events.get((namespace, kind, name), [])
        if uid:
            found = [e for e in found if e.object_uid in ("", uid)]
        return sorted(found, key=_when)

    def pods_of_notebook(self, nb: Notebook) -> list[Pod]:
        return list(self._by_notebook.get((nb.namespace, nb.name), []))

    def pods_of_job(self, job: TrainingJob) -> list[Pod]:
        return list(self._by_job.get((job.namespace, job.name), []))

    def pods_of_deployment(self, dep: ModelDeployment) -> list[Pod]:
        return list(self._by_seldon.get((dep.namespace, dep.name), []))

    def free_gpus(self, node: str) -> int:
        n = self._node.get(node)
        return max(n.gpu_allocatable - self._held.get(node, 0), 0) if n else 0

    def capacity(self, namespace: str) -> Capacity:
        cap = self._capacity.get(namespace)
        if cap is None:
            selectors = {namespace: self._selectors.get(namespace) or self._conventional.get(namespace) or ("", "")}
            pool, pooled = _pool(namespace, self.nodes, selectors)
            cap = self._capacity[namespace] = capacity(pool, self._held, pooled)
        return cap

    # ---------------------------------------------------------------- answers
    def pod(self, pod: Pod) -> str:
        """Why this pod is Pending ("" when it is not)."""
        if pod.phase != "Pending":
            return ""
        events = self.events_for(pod.namespace, "Pod", pod.name, pod.uid)
        return _why_pod(pod, events, self.capacity(pod.namespace))

    def notebook(self, nb: Notebook, pods: Sequence[Pod] | None = None) -> str:
        if nb.state in (NotebookState.STOPPED, NotebookState.STOPPING, NotebookState.RUNNING):
            return ""
        pods = self.pods_of_notebook(nb) if pods is None else list(pods)
        owners = self.events_for(nb.namespace, "StatefulSet", nb.name) + \
            self.events_for(nb.namespace, "Notebook", nb.name, nb.uid)
        return self._workload(nb.namespace, owners, pods, 1, nb.gpus)

    def job(self, job: TrainingJob, pods: Sequence[Pod] | None = None) -> str:
        if job.state in (JobState.SUCCEEDED, JobState.FAILED):
            return ""
        pods = self.pods_of_job(job) if pods is None else list(pods)
        owners = self.events_for(job.namespace, job.kind, job.name, job.uid)
        placed = sum(p.gpus for p in pods if not p.deleting)
        return self._workload(job.namespace, owners, pods, job.replicas, max(job.gpus - placed, 0))

    def deployment(self, dep: ModelDeployment, pods: Sequence[Pod] | None = None) -> str:
        if dep.ready >= dep.replicas or dep.state == "stopped":  # stopped: deleted by the console, spec kept
            return ""
        pods = self.pods_of_deployment(dep) if pods is None else list(pods)
        prefixes = tuple(f"{dep.name}-{p.name}-" for p in dep.predictors) or (f"{dep.name}-",)
        owners = [e for e in self._rs_failed.get(dep.namespace, []) if e.object_name.startswith(prefixes)]
        owners += self.events_for(dep.namespace, "SeldonDeployment", dep.name, dep.uid)
        live = sum(1 for p in pods if not p.deleting)
        per_replica = dep.gpus // dep.replicas if dep.replicas else 0
        return self._workload(dep.namespace, owners, pods, dep.replicas, per_replica * max(dep.replicas - live, 0))

    def _workload(self, namespace: str, owner_events: list[Event], pods: list[Pod], expected: int,
                  missing_gpus: int) -> str:
        live = [p for p in pods if not p.deleting]
        if len(live) < expected:
            e = _latest(owner_events, FAILED_CREATE)
            line = summarise_failed_create(e.message) if e else _quota_line(self.quotas.get(namespace), missing_gpus)
            if line:
                return clean_line(line, LIMIT)
        pending = sorted((p for p in live if p.phase == "Pending"), key=lambda p: (_created(p), p.name))
        for p in pending:
            line = self.pod(p)
            if line:
                return line
        return ""


def _created(p: Pod) -> float:
    return p.created.timestamp() if p.created is not None else 0.0


# ------------------------------------------------------------------------------------------ one-off helpers
def _one_off(all_pods: Iterable[Pod], nodes: Iterable[Node], quota: Quota | None, events: Iterable[Event]) -> Explainer:
    return Explainer(all_pods, nodes, [quota] if quota is not None else [], events)


def explain_notebook(nb: Notebook, pods: Sequence[Pod] | None, events: Iterable[Event], quota: Quota | None,
                     nodes: Iterable[Node], all_pods: Iterable[Pod]) -> str:
    """Why a notebook is not running yet ("" when it runs, is stopped or nothing is known).
    ``pods``: the notebook's pods (None: found among ``all_pods``); ``all_pods`` give the free GPUs."""
    return _one_off(all_pods, nodes, quota, events).notebook(nb, pods)


def explain_job(job: TrainingJob, pods: Sequence[Pod] | None, events: Iterable[Event], quota: Quota | None,
                nodes: Iterable[Node], all_pods: Iterable[Pod]) -> str:
    """Why a training job's replicas are not all running ("" when finished or nothing is known)."""
    return _one_off(all_pods, nodes, quota, events).job(job, pods)


def explain_deployment(dep: ModelDeployment, pods: Sequence[Pod] | None, events: Iterable[Event],
                       quota: Quota | None, nodes: Iterable[Node], all_pods: Iterable[Pod]) -> str:
    """Why a model deployment has fewer ready replicas than desired, when a pod is pending or refused."""
    return _one_off(all_pods, nodes, quota, events).deployment(dep, pods)

"""The kubelet, scheduler, quota admission, events and garbage collector of the simulated cluster.

Everything here runs on the simulator's event loop, on simulated time: a heap of timers that
``run_due`` fires in time order. While a timer runs, ``now()`` is the timer's own due time, so a
minute of simulated life advanced in one call still stamps every event at the right second.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from . import quantity
from .clock import SimClock, rfc3339, rfc3339_micro
from .errors import ApiError
from .logs import ContainerLog
from .resources import BY_KEY
from .store import Store

PODS = BY_KEY["/pods"]
NODES = BY_KEY["/nodes"]
EVENTS = BY_KEY["/events"]
QUOTAS = BY_KEY["/resourcequotas"]
SERVICES = BY_KEY["/services"]
CONFIGMAPS = BY_KEY["/configmaps"]
NAMESPACES = BY_KEY["/namespaces"]
GPU = "nvidia.com/gpu"
QUOTA_NAME = "mlss-default-rq"
EVENT_TTL = 3600.0
QUOTA_TRACKED = frozenset({"requests.cpu", "limits.cpu", "cpu", "requests.memory", "limits.memory", "memory",
                           f"requests.{GPU}", "pods"})  # what quota's pod evaluator counts in status.used
UNSCHEDULABLE_RETRY = 300.0  # kube-scheduler's podMaxInUnschedulablePodsDuration: retried at least this often


def stable_hex(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


@dataclass
class ContainerRT:
    name: str
    image: str
    profile: str
    rate: float = 0.5
    fate: str = "run"  # run | pullfail | crash (at every start) | flaky (once, then runs)
    failure: str | None = None  # what a crash looks like in the log
    crash_after: float = 20.0
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    restarts: int = 0
    pulls: int = 0  # image pull attempts (a `pullfail` container retries with back-off)
    last: dict | None = None
    ready: bool = False
    container_id: str = ""
    log: ContainerLog | None = None
    prev_log: ContainerLog | None = None


@dataclass
class PodRT:
    ns: str
    name: str
    uid: str
    requests: dict[str, float]
    restart_policy: str
    containers: list[ContainerRT]
    context: dict[str, str] = field(default_factory=dict)
    init_containers: list[ContainerRT] = field(default_factory=list)  # run in order, each to completion, first
    owner: tuple[str, str, str] | None = None  # (resource key, namespace, name) of the controlling object
    node: str | None = None
    gpu_ids: list[int] = field(default_factory=list)
    ip: str = ""
    created_at: float = 0.0
    scheduled_at: float | None = None
    start_time: float | None = None
    ready_at: float | None = None
    phase: str = "Pending"
    deleting: bool = False
    held: bool = False  # holds node resources
    counted: bool = True  # counts against quota
    unsched_msg: str = ""
    last_sched_event: float = -1e18
    sched_retry: bool = False  # a periodic retry of this unschedulable pod is queued
    sched_epoch: int = -1  # the candidate nodes' epochs at the last failed attempt
    ready_delay: float = 1.0
    pull_delay: float = 3.0
    gen: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.ns, self.name)

    def container(self, name: str) -> "ContainerRT | None":
        """A container by name, init containers included."""
        return next((c for c in self.containers if c.name == name), None) or \
            next((c for c in self.init_containers if c.name == name), None)


@dataclass
class NodeRT:
    name: str
    labels: dict[str, str]
    cpu: float
    memory: float
    gpus: int
    ip: str
    used_cpu: float = 0.0
    used_memory: float = 0.0
    free_gpus: list[int] = field(default_factory=list)
    pods: set = field(default_factory=set)
    gpu_pods: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # index -> (ns, pod, container)
    epoch: int = 0  # bumped whenever resources are freed here


@dataclass
class QuotaRT:
    hard: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable, tuple]] = []
        self._seq = itertools.count()

    def at(self, when: float, fn: Callable, *args: Any) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), fn, args))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float):
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)
        return None

    def __len__(self) -> int:
        return len(self._heap)


class Engine:
    """Simulated time, pods on nodes, quota, events and garbage collection."""

    def __init__(self, clock: SimClock, seed: int = 0) -> None:
        self.clock = clock
        self.seed = seed
        self.rng = random.Random(f"engine:{seed}")
        self.timers = Timers()
        self._virtual: float | None = None
        self.store = Store(self.now, seed)
        self.nodes: dict[str, NodeRT] = {}
        self._node_index: dict[tuple[str, str], set[str]] = {}
        self._cand_cache: dict[tuple, list[NodeRT]] = {}
        self.pods: dict[tuple[str, str], PodRT] = {}
        self.pending: dict[tuple[str, str], PodRT] = {}
        self.quotas: dict[str, QuotaRT] = {}
        self.ns_selectors: dict[str, dict[str, str]] = {}
        self._event_keys: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._event_seq = itertools.count(1)
        self._event_last: dict[tuple[str, str], float] = {}
        self._event_key_of: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._ip_seq = itertools.count(10)
        self._dirty_quotas: set[str] = set()
        self._sched_pass_due = False
        self.pod_hooks: dict[str, Callable[[PodRT], None]] = {}
        self.children: dict[str, set[tuple[str, str, str]]] = {}
        self.store.add_listener(self._on_store_change)
        self._sweeping = False

    def start_sweeper(self, at: float) -> None:
        if not self._sweeping:
            self._sweeping = True
            self.timers.at(at, self._sweep_events)

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        return self._virtual if self._virtual is not None else self.clock.now()

    def after(self, delay: float, fn: Callable, *args: Any) -> None:
        self.timers.at(self.now() + max(0.0, delay), fn, *args)

    def soon(self, fn: Callable, *args: Any) -> None:
        self.timers.at(self.now(), fn, *args)

    def run_due(self, until: float | None = None, limit: int = 1_000_000) -> int:
        """Fire every timer due by ``until`` (the clock's now by default), in time order."""
        until = self.clock.now() if until is None else until
        n = 0
        while n < limit:
            item = self.timers.pop_due(until)
            if item is None:
                break
            when, _, fn, args = item
            self._virtual = max(when, self._virtual or when)
            try:
                fn(*args)
            finally:
                n += 1
        self._virtual = None
        return n

    def advance(self, seconds: float) -> int:
        self.clock.advance(seconds)
        return self.run_due()

    # ------------------------------------------------------------------ store hooks and GC
    def _on_store_change(self, rt, etype: str, old: dict | None, new: dict | None) -> None:
        obj = new if new is not None else old
        if obj is None:
            return
        md = obj.get("metadata", {})
        if etype == "ADDED":
            for ref in md.get("ownerReferences") or ():
                uid = ref.get("uid")
                if uid:
                    self.children.setdefault(uid, set()).add((rt.key, md.get("namespace", ""), md["name"]))
        elif etype == "DELETED":
            uid = md.get("uid")
            kids = self.children.pop(uid, None) if uid else None
            if kids:
                self.soon(self._collect, sorted(kids))
            if rt is PODS:
                self._forget_pod(md.get("namespace", ""), md["name"])

    def _collect(self, kids: list[tuple[str, str, str]]) -> None:
        for key, ns, name in kids:
            rt = BY_KEY[key]
            if self.store.get(rt, ns, name) is None:
                continue
            if rt is PODS:
                self.delete_pod(ns, name)
            else:
                self.store.delete(rt, ns, name)

    # ------------------------------------------------------------------ nodes
    def add_node(self, node: dict) -> None:
        status = node["status"]["allocatable"]
        md = node["metadata"]
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        n = NodeRT(md["name"], dict(md.get("labels", {})), quantity.parse(status["cpu"]),
                   quantity.parse(status["memory"]), int(quantity.parse(status.get(GPU, "0"))), ip)
        n.free_gpus = list(range(n.gpus))
        self.nodes[n.name] = n
        self._cand_cache.clear()
        for p in self.pending.values():
            p.sched_epoch = -1
        for kv in n.labels.items():
            self._node_index.setdefault(kv, set()).add(n.name)
        self.store.create(NODES, node)

    def _candidates(self, selector: dict[str, str]) -> list[NodeRT]:
        key = tuple(sorted(selector.items()))
        found = self._cand_cache.get(key)
        if found is None:
            found = self._cand_cache[key] = self._match_nodes(selector)
        return found

    def _match_nodes(self, selector: dict[str, str]) -> list[NodeRT]:
        names: set[str] | None = None
        for kv in selector.items():
            s = self._node_index.get(kv, set())
            names = set(s) if names is None else names & s
            if not names:
                return []
        if names is None:
            return list(self.nodes.values())
        return [self.nodes[n] for n in sorted(names)]

    # ------------------------------------------------------------------ quota
    def set_quota(self, ns: str, hard: dict[str, str]) -> None:
        q = self.quotas.setdefault(ns, QuotaRT())
        q.hard = {k: quantity.parse(v) for k, v in hard.items()}
        self._dirty_quotas.add(ns)
        self.soon(self._flush_quotas)

    def _quota_delta(self, p: PodRT) -> dict[str, float]:
        cpu, mem = p.requests.get("cpu", 0.0), p.requests.get("memory", 0.0)
        # bare `cpu`/`memory` mean requests; extended resources are tracked only as `requests.<name>`
        return {"requests.cpu": cpu, "limits.cpu": cpu, "cpu": cpu, "requests.memory": mem, "limits.memory": mem,
                "memory": mem, f"requests.{GPU}": p.requests.get(GPU, 0.0), "pods": 1.0}

    def admit(self, p: PodRT) -> None:
        """Quota admission: raise the apiserver's 403 when the pod would exceed the namespace quota."""
        q = self.quotas.get(p.ns)
        if q is None or not q.hard:
            return
        delta = self._quota_delta(p)
        over = [k for k, limit in q.hard.items() if delta.get(k, 0) and q.used.get(k, 0) + delta[k] > limit]
        if over:
            over.sort()
            req = ",".join(f"{k}={quantity.fmt(k, delta[k])}" for k in over)
            used = ",".join(f"{k}={quantity.fmt(k, q.used.get(k, 0))}" for k in over)
            lim = ",".join(f"{k}={quantity.fmt(k, q.hard[k])}" for k in over)
            raise ApiError(403, f'pods "{p.name}" is forbidden: exceeded quota: {QUOTA_NAME}, requested: {req}, '
                                f"used: {used}, limited: {lim}", "Forbidden",
                           {"name": p.name, "kind": "pods"})

    def _count(self, p: PodRT, sign: int) -> None:
        q = self.quotas.setdefault(p.ns, QuotaRT())
        for k, v in self._quota_delta(p).items():
            q.used[k] = max(0.0, q.used.get(k, 0.0) + sign * v)
        self._dirty_quotas.add(p.ns)
        self.soon(self._flush_quotas)

    def _flush_quotas(self) -> None:
        dirty, self._dirty_quotas = self._dirty_quotas, set()
        for ns in sorted(dirty):
            q = self.quotas.get(ns)
            if q is None or self.store.get(QUOTAS, ns, QUOTA_NAME) is None:
                continue
            hard = {k: quantity.fmt(k, v) for k, v in q.hard.items()}
            # a key the evaluator does not track (`limits.nvidia.com/gpu`, bare `nvidia.com/gpu`) is accepted
            # into hard but never shows up in used (NVIDIA/k8s-device-plugin#211)
            used = {k: quantity.fmt(k, q.used.get(k, 0.0)) for k in q.hard if k in QUOTA_TRACKED}

            self.store.set_status(QUOTAS, ns, QUOTA_NAME, {"hard": hard, "used": used} if hard else {})

    # ------------------------------------------------------------------ events
    def event(self, involved: dict, etype: str, reason: str, message: str, component: str,
              host: str | None = None, modern: bool = False) -> None:
        """Record an event; the same (object, reason, message) again raises its count."""
        ns = involved.get("namespace") or "default"
        key = (involved.get("uid", involved.get("name", "")), reason, message)
        now = self.now()
        found = self._event_keys.get(key)
        if found and self.store.get(EVENTS, *found) is not None:
            def bump(o: dict) -> None:
                if modern:
                    series = o.get("series") or {"count": 1}
                    o["series"] = {"count": series.get("count", 1) + 1, "lastObservedTime": rfc3339_micro(now)}
                else:
                    o["count"] = o.get("count", 1) + 1
                    o["lastTimestamp"] = rfc3339(now)
            self.store.update(EVENTS, found[0], found[1], bump)
            self._event_last[found] = now
            return
        name = f"{involved.get('name', 'unknown')}.{(int(now * 1e9) + next(self._event_seq)):x}"[:253]
        # an event's uid comes from its name, not from the store's uid stream: recording one more or one less
        # event must not change the uids, hence the planned fates, of every workload created after it
        u = stable_hex(f"event:{ns}/{name}", 32)
        ev: dict[str, Any] = {"metadata": {"name": name, "namespace": ns,
                                           "uid": f"{u[:8]}-{u[8:12]}-4{u[13:16]}-{u[16:20]}-{u[20:]}"},
                              "involvedObject": dict(involved),
                              "reason": reason, "message": message, "type": etype}
        if modern:
            ev.update({"source": {}, "firstTimestamp": None, "lastTimestamp": None,
                       "eventTime": rfc3339_micro(now), "reportingComponent": component,
                       "reportingInstance": f"{component}-sim", "action": "Scheduling" if component ==
                       "default-scheduler" else reason})
        else:
            src = {"component": component}
            if host:
                src["host"] = host
            ev.update({"source": src, "firstTimestamp": rfc3339(now), "lastTimestamp": rfc3339(now), "count": 1,
                       "eventTime": None, "reportingComponent": component, "reportingInstance": host or ""})
        self.store.create(EVENTS, ev, now=now)
        self._event_keys[key] = (ns, name)
        self._event_key_of[(ns, name)] = key
        self._event_last[(ns, name)] = now

    def _sweep_events(self) -> None:
        """Events live an hour after they were last seen, as with the apiserver's default --event-ttl."""
        cutoff = self.now() - EVENT_TTL
        old = [k for k, t in self._event_last.items() if t < cutoff]
        for k in old:
            del self._event_last[k]
            ek = self._event_key_of.pop(k, None)
            if ek is not None and self._event_keys.get(ek) == k:
                del self._event_keys[ek]
            if self.store.get(EVENTS, *k) is not None:
                self.store.delete(EVENTS, *k)
        self.after(120.0, self._sweep_events)

    # ------------------------------------------------------------------ pods
    def pod_ref(self, p: PodRT) -> dict:
        return {"kind": "Pod", "namespace": p.ns, "name": p.name, "uid": p.uid, "apiVersion": "v1"}

    def create_pod(self, pod: dict, rt: PodRT, *, check_quota: bool = True) -> dict:
        """Admit and store a pod, then queue it for scheduling. Raises ApiError like the apiserver."""
        md = pod["metadata"]
        if self.store.get(PODS, md["namespace"], md["name"]) is not None:
            from .errors import already_exists
            raise already_exists(PODS, md["name"])
        sel = self.ns_selectors.get(md["namespace"])
        if sel:
            pod["spec"]["nodeSelector"] = {**sel, **(pod["spec"].get("nodeSelector") or {})}
        if check_quota:
            self.admit(rt)
        if not md.get("uid"):
            md["uid"] = self.store.new_uid()
        rt.uid = md["uid"]
        rt.created_at = self.now()
        pod["status"] = {"phase": "Pending", "qosClass": "Guaranteed"}
        self.store.create(PODS, pod)
        self.pods[rt.key] = rt
        self._count(rt, +1)
        self.pending[rt.key] = rt
        self._want_schedule()
        return pod

    def pod_rt(self, ns: str, name: str) -> PodRT | None:
        return self.pods.get((ns, name))

    def _want_schedule(self) -> None:
        if not self._sched_pass_due:
            self._sched_pass_due = True
            self.soon(self._schedule_pass)

    def _schedule_pass(self) -> None:
        self._sched_pass_due = False
        for key, p in list(self.pending.items()):
            if p.deleting or key not in self.pods:
                self.pending.pop(key, None)
                continue
            pod = self.store.get(PODS, p.ns, p.name)
            if pod is None:
                self.pending.pop(key, None)
                continue
            self._try_schedule(p, pod)

    def _try_schedule(self, p: PodRT, pod: dict) -> None:
        sel = pod["spec"].get("nodeSelector") or {}
        cands = self._candidates(sel)
        epoch = sum(n.epoch for n in cands)
        if epoch == p.sched_epoch:
            return  # nothing was freed on its nodes since it last failed: it would fail the same way
        need_cpu, need_mem, need_gpu = p.requests.get("cpu", 0), p.requests.get("memory", 0), int(p.requests.get(GPU, 0))
        best: NodeRT | None = None
        short: dict[str, int] = {}
        for n in cands:
            reasons = []
            if n.used_cpu + need_cpu > n.cpu + 1e-9:
                reasons.append("Insufficient cpu")
            if n.used_memory + need_mem > n.memory:
                reasons.append("Insufficient memory")
            if need_gpu > len(n.free_gpus):
                reasons.append(f"Insufficient {GPU}")
            if reasons:
                for r in reasons:
                    short[r] = short.get(r, 0) + 1
                continue
            # GPU pods pack onto the fullest node that fits; CPU pods onto the least loaded.
            if best is None:
                best = n
            elif need_gpu and len(n.free_gpus) < len(best.free_gpus):
                best = n
            elif not need_gpu and n.used_cpu < best.used_cpu:
                best = n
        if best is None:
            total = len(self.nodes)
            mismatch = total - len(cands)
            if mismatch:
                short["node(s) didn't match Pod's node affinity/selector"] = mismatch
            parts = ", ".join(f"{v} {k}" for k, v in sorted(short.items(), key=lambda kv: kv[0]))
            msg = f"0/{total} nodes are available: {parts}." if parts else f"0/{total} nodes are available."
            now = self.now()
            p.sched_epoch = epoch
            if msg != p.unsched_msg or now - p.last_sched_event >= 60.0:
                changed = msg != p.unsched_msg
                p.unsched_msg, p.last_sched_event = msg, now
                self.event(self.pod_ref(p), "Warning", "FailedScheduling", msg, "default-scheduler", modern=True)
                if changed:
                    self._write_pod(p)
            if not p.sched_retry:
                p.sched_retry = True
                self.after(UNSCHEDULABLE_RETRY, self._retry_unschedulable, p, p.gen)
            return
        self._bind(p, best)

    def _retry_unschedulable(self, p: PodRT, gen: int) -> None:
        p.sched_retry = False
        if p.gen == gen and not p.deleting and p.key in self.pending:
            p.sched_epoch = -1
            self._want_schedule()

    def _bind(self, p: PodRT, n: NodeRT) -> None:
        p.node = n.name
        p.scheduled_at = self.now()
        p.unsched_msg = ""
        need_gpu = int(p.requests.get(GPU, 0))
        p.gpu_ids = sorted(n.free_gpus[:need_gpu])
        del n.free_gpus[:need_gpu]
        for i in p.gpu_ids:
            n.gpu_pods[i] = (p.ns, p.name, p.containers[0].name)
        n.used_cpu += p.requests.get("cpu", 0)
        n.used_memory += p.requests.get("memory", 0)
        n.pods.add(p.key)
        p.held = True
        i = next(self._ip_seq)
        p.ip = f"10.{100 + (i >> 16) % 100}.{(i >> 8) % 256}.{i % 256}"
        self.pending.pop(p.key, None)
        self.store.update(PODS, p.ns, p.name, lambda o: o.__setitem__("spec", {**o["spec"], "nodeName": n.name}))
        self.event(self.pod_ref(p), "Normal", "Scheduled",
                   f"Successfully assigned {p.ns}/{p.name} to {n.name}", "default-scheduler", modern=True)
        self._write_pod(p)
        gen = p.gen
        self.after(p.pull_delay, self._start_pod, p, gen)

    def _release(self, p: PodRT) -> None:
        if p.held and p.node in self.nodes:
            n = self.nodes[p.node]
            n.used_cpu = max(0.0, n.used_cpu - p.requests.get("cpu", 0))
            n.used_memory = max(0.0, n.used_memory - p.requests.get("memory", 0))
            for i in p.gpu_ids:
                n.gpu_pods.pop(i, None)
            n.free_gpus = sorted(set(n.free_gpus) | set(p.gpu_ids))
            n.pods.discard(p.key)
            n.epoch += 1
            p.held = False
            self._want_schedule()
        if p.counted:
            p.counted = False
            self._count(p, -1)

    def _start_pod(self, p: PodRT, gen: int) -> None:
        if p.gen != gen or p.deleting or p.key not in self.pods:
            return
        init = next((c for c in p.init_containers if c.state != "terminated"), None)
        if init is not None:  # the init containers first, one at a time; the others wait (PodInitializing)
            for c in p.containers:
                c.reason = "PodInitializing"
            self._run_container(p, init, first=True)
            p.start_time = p.start_time or self.now()
            self._write_pod(p)
            self.after(init.crash_after, self._init_done, p, gen, init.name)
            return
        for c in p.containers:
            if c.fate == "pullfail":
                self._pull_fails(p, c)
                self.after(15.0, self._image_backoff, p, gen, c.name)
                continue
            self._run_container(p, c, first=True)
        p.start_time = p.start_time or self.now()
        self._settle_phase(p)
        self._write_pod(p)
        if any(c.state == "running" for c in p.containers):
            self.after(p.ready_delay, self._mark_ready, p, gen)

    def _init_done(self, p: PodRT, gen: int, cname: str) -> None:
        """An init container exits 0 (Completed); the next one starts, or the pod's containers."""
        if p.gen != gen or p.deleting or p.key not in self.pods:
            return
        c = next(c for c in p.init_containers if c.name == cname)
        if c.state != "running":
            return
        now = self.now()
        c.state, c.reason, c.exit_code, c.finished_at, c.ready = "terminated", "Completed", 0, now, False
        if c.log is not None:
            c.log = dataclasses.replace(c.log, ended_at=now)
        self._start_pod(p, gen)

    def _pull_fails(self, p: PodRT, c: ContainerRT) -> None:
        ref = {**self.pod_ref(p), "fieldPath": f"spec.containers{{{c.name}}}"}
        c.pulls += 1
        self.event(ref, "Normal", "Pulling", f'Pulling image "{c.image}"', "kubelet", p.node)
        c.state, c.reason = "waiting", "ErrImagePull"
        c.message = (f'failed to pull and unpack image "{c.image}": failed to resolve reference '
                     f'"{c.image}": {c.image}: not found')
        self.event(ref, "Warning", "Failed", f'Failed to pull image "{c.image}": {c.message}', "kubelet", p.node)
        self.event(ref, "Warning", "Failed", "Error: ErrImagePull", "kubelet", p.node)

    def _image_backoff(self, p: PodRT, gen: int, cname: str) -> None:
        if p.gen != gen or p.deleting or p.key not in self.pods:
            return
        c = next(c for c in p.containers if c.name == cname)
        c.reason, c.message = "ImagePullBackOff", f'Back-off pulling image "{c.image}"'
        ref = {**self.pod_ref(p), "fieldPath": f"spec.containers{{{c.name}}}"}
        self.event(ref, "Normal", "BackOff", c.message, "kubelet", p.node)
        self.event(ref, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", p.node)
        self._write_pod(p)
        # the kubelet pulls again after a back-off that doubles from 10 s up to 5 minutes
        self.after(min(10.0 * 2 ** (c.pulls - 1), 300.0), self._image_retry, p, gen, cname)

    def _image_retry(self, p: PodRT, gen: int, cname: str) -> None:
        if p.gen != gen or p.deleting or p.key not in self.pods:
            return
        c = next(c for c in p.containers if c.name == cname)
        self._pull_fails(p, c)
        self._write_pod(p)
        self.after(5.0, self._image_backoff, p, gen, cname)

    def _run_container(self, p: PodRT, c: ContainerRT, first: bool) -> None:
        now = self.now()
        field_path = "spec.initContainers" if c in p.init_containers else "spec.containers"
        ref = {**self.pod_ref(p), "fieldPath": f"{field_path}{{{c.name}}}"}
        if first:
            self.event(ref, "Normal", "Pulled", f'Container image "{c.image}" already present on machine',
                       "kubelet", p.node)
        self.event(ref, "Normal", "Created", f"Created container {c.name}", "kubelet", p.node)
        self.event(ref, "Normal", "Started", f"Started container {c.name}", "kubelet", p.node)
        c.state, c.reason, c.message = "running", "", ""
        c.started_at = now
        c.container_id = "containerd://" + stable_hex(f"{p.uid}:{c.name}:{c.restarts}", 64)
        seed = int(stable_hex(f"{self.seed}:{p.uid}:{c.name}:{c.restarts}", 12), 16)
        if c.log is not None:
            c.prev_log = c.log
        c.log = ContainerLog(c.profile, seed, now, c.rate, None, None, dict(p.context, container=c.name))
        if c.fate == "crash" or (c.fate == "flaky" and c.restarts == 0):
            self.after(c.crash_after, self._crash, p, p.gen, c.name, c.restarts)

    def _crash(self, p: PodRT, gen: int, cname: str, restarts: int) -> None:
        if p.gen != gen or p.deleting or p.key not in self.pods:
            return
        c = next(c for c in p.containers if c.name == cname)
        if c.state == "running" and c.restarts == restarts:
            self.terminate_container(p, c, 1, "Error", c.failure or "Error")

    def _mark_ready(self, p: PodRT, gen: int) -> None:
        if p.gen != gen or p.deleting or p.key not in self.pods:
            return
        changed = False
        for c in p.containers:
            # a `crash` container dies while starting up: it never passes its readiness probe
            if c.state == "running" and not c.ready and c.fate != "crash":
                c.ready, changed = True, True
        if changed:
            p.ready_at = self.now()
            self._write_pod(p)

    def terminate_container(self, p: PodRT, c: ContainerRT, exit_code: int, reason: str,
                            failure: str | None = None, restart: bool | None = None) -> None:
        """A container's process ended. The restart policy decides what follows."""
        now = self.now()
        if c.state != "running":
            c.state, c.reason = "terminated", reason
            c.exit_code, c.finished_at = exit_code, now
        else:
            c.state, c.reason, c.exit_code, c.finished_at, c.ready = "terminated", reason, exit_code, now, False
            if c.log is not None:
                c.log = dataclasses.replace(c.log, ended_at=now, failure=failure)
        if restart is None:
            restart = p.restart_policy == "Always" or (p.restart_policy == "OnFailure" and exit_code != 0)
        if restart and not p.deleting:
            c.last = self._terminated_wire(c)
            c.prev_log = c.log  # `logs --previous` reads lastState's container, already during the back-off
            c.restarts += 1
            backoff = min(10.0 * 2 ** (c.restarts - 1), 300.0)
            c.state, c.reason = "waiting", "CrashLoopBackOff"
            c.message = f"back-off {int(backoff)}s restarting failed container={c.name} pod={p.name}_{p.ns}({p.uid})"
            self.event({**self.pod_ref(p), "fieldPath": f"spec.containers{{{c.name}}}"}, "Warning", "BackOff",
                       f"Back-off restarting failed container {c.name} in pod {p.name}_{p.ns}({p.uid})",
                       "kubelet", p.node)
            self.after(backoff, self._restart, p, p.gen, c.name, c.restarts)
        self._settle_phase(p)
        self._write_pod(p)

    def _restart(self, p: PodRT, gen: int, cname: str, restarts: int) -> None:
        if p.gen != gen or p.deleting or p.key not in self.pods:
            return
        c = next(c for c in p.containers if c.name == cname)
        if c.restarts != restarts or c.state != "waiting":
            return
        self._run_container(p, c, first=False)
        self._settle_phase(p)
        self._write_pod(p)
        self.after(p.ready_delay, self._mark_ready, p, gen)

    def _settle_phase(self, p: PodRT) -> None:
        if all(c.state == "terminated" for c in p.containers):
            p.phase = "Succeeded" if all(c.exit_code == 0 for c in p.containers) else "Failed"
            self._release(p)
        elif any(c.state == "running" or c.restarts for c in p.containers):
            p.phase = "Running"

    def delete_pod(self, ns: str, name: str, grace: int | None = None) -> dict:
        """Graceful deletion: the pod gets a deletionTimestamp, its containers stop, then it is gone."""
        pod = self.store.get(PODS, ns, name)
        if pod is None:
            from .errors import not_found
            raise not_found(PODS, name)
        p = self.pods.get((ns, name))
        if grace is None:
            grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        if p is None or grace == 0 or p.node is None or p.phase in ("Succeeded", "Failed"):
            if p is not None:
                p.deleting = True
                p.gen += 1
            return self.store.delete(PODS, ns, name)
        if p.deleting:
            return pod
        p.deleting = True
        p.gen += 1
        now = self.now()

        def mark(o: dict) -> None:
            o["metadata"]["deletionTimestamp"] = rfc3339(now + grace)
            o["metadata"]["deletionGracePeriodSeconds"] = grace
        new = self.store.update(PODS, ns, name, mark)
        for c in p.containers:
            if c.state == "running":
                self.event({**self.pod_ref(p), "fieldPath": f"spec.containers{{{c.name}}}"}, "Normal", "Killing",
                           f"Stopping container {c.name}", "kubelet", p.node)
        shutdown = min(float(grace), 1.0 + self.rng.random() * 3.0)
        self.after(shutdown, self._finish_delete, p)
        return new or pod

    def _finish_delete(self, p: PodRT) -> None:
        if p.key not in self.pods:
            return
        for c in p.init_containers + p.containers:
            if c.state == "running":
                c.state, c.reason, c.exit_code, c.finished_at, c.ready = "terminated", "Completed", 0, self.now(), False
                if c.log is not None:
                    c.log = dataclasses.replace(c.log, ended_at=self.now())
        if self.store.get(PODS, p.ns, p.name) is not None:
            self.store.delete(PODS, p.ns, p.name)

    def _forget_pod(self, ns: str, name: str) -> None:
        p = self.pods.pop((ns, name), None)
        if p is None:
            return
        p.deleting = True
        p.gen += 1
        self.pending.pop(p.key, None)
        self._release(p)
        hook = self.pod_hooks.get(p.owner[0]) if p.owner else None
        if hook:
            self.soon(hook, p)

    # ------------------------------------------------------------------ pod status
    def _write_pod(self, p: PodRT) -> None:
        if p.key not in self.pods or self.store.get(PODS, p.ns, p.name) is None:
            return
        status = self.render_status(p)
        self.store.set_status(PODS, p.ns, p.name, status)
        hook = self.pod_hooks.get(p.owner[0]) if p.owner else None
        if hook:
            hook(p)

    def _terminated_wire(self, c: ContainerRT) -> dict:
        t = {"exitCode": c.exit_code, "reason": c.reason, "containerID": c.container_id}
        if c.started_at is not None:
            t["startedAt"] = rfc3339(c.started_at)
        if c.finished_at is not None:
            t["finishedAt"] = rfc3339(c.finished_at)
        return {"terminated": t}

    def render_status(self, p: PodRT) -> dict:
        def cond(ctype: str, ok: bool, since: float | None, reason: str | None = None, msg: str | None = None):
            c = {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": rfc3339(since if since is not None else p.created_at)}
            if reason:
                c["reason"] = reason
            if msg:
                c["message"] = msg
            return c

        st: dict[str, Any] = {"phase": p.phase, "qosClass": "Guaranteed"}
        if p.node is None:
            st["conditions"] = [cond("PodScheduled", False, p.created_at, "Unschedulable", p.unsched_msg or None)]
            return st
        ready = all(c.ready for c in p.containers)
        done = p.phase in ("Succeeded", "Failed")
        unready = [c.name for c in p.containers if not c.ready]
        not_ready_msg = f"containers with unready status: [{' '.join(unready)}]" if unready else None
        reason = "PodCompleted" if done else ("ContainersNotReady" if unready else None)
        since_ready = p.ready_at if ready else max((c.finished_at or 0) for c in p.containers) or p.scheduled_at
        st["conditions"] = [
            cond("PodReadyToStartContainers", not done or p.phase == "Failed", p.scheduled_at),
            cond("Initialized", True, p.scheduled_at, "PodCompleted" if done else None),
            cond("Ready", ready, since_ready, reason, None if done else not_ready_msg),
            cond("ContainersReady", ready, since_ready, reason, None if done else not_ready_msg),
            cond("PodScheduled", True, p.scheduled_at),
        ]
        node = self.nodes.get(p.node)
        if node:
            st["hostIP"] = node.ip
            st["hostIPs"] = [{"ip": node.ip}]
        if p.ip and p.start_time is not None:
            st["podIP"] = p.ip
            st["podIPs"] = [{"ip": p.ip}]
        if p.start_time is not None:
            st["startTime"] = rfc3339(p.start_time)
        if p.init_containers:
            st["initContainerStatuses"] = [self._container_status(c, p) for c in p.init_containers]
            waiting = [c.name for c in p.init_containers if c.state != "terminated"]
            if waiting:
                st["conditions"][1] = cond("Initialized", False, p.scheduled_at, "ContainersNotInitialized",
                                           f"containers with incomplete status: [{' '.join(waiting)}]")
        st["containerStatuses"] = [self._container_status(c, p) for c in p.containers]
        return st

    def _container_status(self, c: ContainerRT, p: PodRT) -> dict:
        if c.state == "running":
            state = {"running": {"startedAt": rfc3339(c.started_at or p.start_time or 0)}}
        elif c.state == "terminated":
            state = self._terminated_wire(c)
        else:
            w: dict[str, Any] = {"reason": c.reason}
            if c.message:
                w["message"] = c.message
            state = {"waiting": w}
        cs: dict[str, Any] = {"name": c.name, "state": state, "lastState": c.last or {}, "ready": c.ready,
                              "restartCount": c.restarts, "image": c.image,
                              "imageID": "" if not c.container_id else
                              f"{c.image.split(':')[0]}@sha256:{stable_hex(c.image, 64)}",
                              "started": c.state == "running"}
        if c.container_id:
            cs["containerID"] = c.container_id
        return cs

    # ------------------------------------------------------------------ logs
    def container_log(self, ns: str, name: str, container: str, previous: bool) -> ContainerLog | None:
        p = self.pods.get((ns, name))
        if p is None:
            return None
        c = p.container(container)
        if c is None:
            return None
        return c.prev_log if previous else c.log

    def set_log_rate(self, ns: str, name: str, container: str, rate: float) -> ContainerRT:
        """From now on the container writes ``rate`` lines a second (and so does any restart of it); what it
        has written keeps its timestamps. Raises KeyError for an unknown pod or container."""
        p = self.pods.get((ns, name))
        c = p.container(container) if p is not None else None
        if c is None:
            raise KeyError(container if p is not None else name)
        c.rate = rate
        if c.log is not None and c.log.ended_at is None:
            c.log = dataclasses.replace(c.log, rate_changes=c.log.rate_changes + ((self.now(), rate),))
        return c

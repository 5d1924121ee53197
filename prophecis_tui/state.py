"""The live state: objects by resource and uid, fed by the feeds' threads, read by the UI.

Writers are feed threads; readers are the UI (and the headless `status` command). One lock
guards everything; reads return copies. ``version`` grows with every change, so a reader can
tell cheaply whether anything moved since it last looked; ``changed_kinds()`` says what.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from .domain import (Alert, BusinessSystem, LinkisTask, DeploymentState, Event, GpuSample, Health, JobState, ModelDeployment,
                     Namespace, NamespaceSummary, Node, Notebook, NotebookState, Pod, Quota, Silence, SourceHealth,
                     TrainingJob)

KINDS = ("namespaces", "nodes", "pods", "notebooks", "trainingjobs", "deployments", "quotas")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class State:
    def __init__(self, clock: Callable[[], datetime] = _now) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._by_resource: dict[str, dict[str, Any]] = {}
        self._kind_of: dict[str, str] = {}
        self._health: dict[str, SourceHealth] = {}
        self._dirty: set[str] = set()
        self.version = 0
        self._kind_versions: dict[str, int] = {}  # kind -> the version of its last change
        self._summary_cache: tuple[int, list[NamespaceSummary], int] | None = None  # version, rows, GPUs held
        self._partial: set[str] = set()  # resources known only per namespace (no cluster-wide list)
        self._listing: set[str] = set()  # resources whose first list is still arriving, page by page
        self._gpus: list[GpuSample] = []  # the metrics source's last look at every GPU
        self._metric_quotas: dict[str, Quota] = {}  # kube-state-metrics' quotas, by namespace
        self.gpu_source = ""  # which source that was ("dcgm", "prometheus", "nvml")
        self._systems: tuple[BusinessSystem, ...] = ()  # the CMDB's business systems, as the store holds them
        self._alerts: tuple[Alert, ...] = ()  # every source's alerts, merged, tagged, acks applied (the alerts poller)
        self._silences: tuple[Silence, ...] = ()
        self._linkis: dict[int, LinkisTask] = {}  # the Linkis poller's tasks by taskID (history and running)
        self._new_alerts: list[Alert] = []  # fired since the UI last took them: what it rings the bell for
        self._heard: dict[str, datetime] = {}  # source -> when it last delivered good data (the wall's freshness)

    # ------------------------------------------------------------------ writing (feed threads)
    def add_page(self, resource: str, kind: str, items: Iterable[Any]) -> None:
        """One page of a first list, shown before the list completes; ``replace`` ends the listing.

        Until then ``has_data`` stays False for the kind: screens say "listing", not a final count."""
        with self._lock:
            self._kind_of[resource] = kind
            table = self._by_resource.setdefault(resource, {})
            self._listing.add(resource)
            for obj in items:
                table[obj.uid] = obj
            self._changed(kind)

    def replace(self, resource: str, kind: str, items: Iterable[Any], namespace: str | None = None) -> None:
        """A fresh list of ``resource`` (in ``namespace``, or everywhere): it replaces what was known."""
        if namespace is None:  # built outside the lock: readers (the UI thread among them) never wait for it
            fresh = {obj.uid: obj for obj in items}
            with self._lock:
                self._kind_of[resource] = kind
                self._by_resource[resource] = fresh
                self._partial.discard(resource)
                self._listing.discard(resource)
                self._changed(kind)
            return
        with self._lock:
            self._kind_of[resource] = kind
            self._listing.discard(resource)
            table = self._by_resource.setdefault(resource, {})
            self._partial.add(resource)
            for uid in [u for u, o in table.items() if getattr(o, "namespace", None) == namespace]:
                del table[uid]
            for obj in items:
                table[obj.uid] = obj
            self._changed(kind)

    def apply(self, resource: str, kind: str, event: str, obj: Any) -> None:
        with self._lock:
            self._kind_of[resource] = kind
            table = self._by_resource.setdefault(resource, {})
            if event == "DELETED":
                table.pop(obj.uid, None)
            else:
                table[obj.uid] = obj
            self._changed(kind)

    def _changed(self, kind: str) -> None:
        self.version += 1
        self._kind_versions[kind] = self.version
        self._dirty.add(kind)

    def kind_version(self, kind: str) -> int:
        """Grows when ``kind`` changes (0: never): a reader caches what it derives from a kind until then."""
        return self._kind_versions.get(kind, 0)

    def set_gpus(self, samples: Iterable[GpuSample], source: str) -> None:
        """A metrics source's new look at every GPU: it replaces the last one."""
        fresh = list(samples)
        with self._lock:
            self._gpus, self.gpu_source = fresh, source
            self._changed("gpus")

    def gpus(self) -> list[GpuSample]:
        with self._lock:
            return list(self._gpus)

    def set_business_systems(self, systems: Iterable[BusinessSystem]) -> None:
        """Every CMDB business system (the store's, published by the CMDB poller): they replace the last ones.
        ``kind_version("cmdb")`` grows only when they changed."""
        fresh = tuple(systems)
        with self._lock:
            if fresh != self._systems:
                self._systems = fresh
                self._changed("cmdb")

    def business_systems(self) -> list[BusinessSystem]:
        with self._lock:
            return list(self._systems)

    def set_alerts(self, alerts: Iterable[Alert], new: Iterable[Alert] = ()) -> None:
        """The alerts poller's merged, tagged alerts: they replace the last ones. ``new``: those that fired since
        the last call (the UI takes them with ``take_new_alerts`` to notify). ``kind_version("alerts")`` grows
        only when the alerts changed."""
        fresh = tuple(alerts)
        with self._lock:
            self._new_alerts.extend(new)
            if fresh != self._alerts:
                self._alerts = fresh
                self._changed("alerts")

    def alerts(self) -> list[Alert]:
        with self._lock:
            return list(self._alerts)

    def take_new_alerts(self) -> list[Alert]:
        """The alerts that fired since the last call (and forget them)."""
        with self._lock:
            out, self._new_alerts = self._new_alerts, []
            return out

    def set_silences(self, silences: Iterable[Silence]) -> None:
        fresh = tuple(silences)
        with self._lock:
            if fresh != self._silences:
                self._silences = fresh
                self._changed("silences")

    def silences(self) -> list[Silence]:
        with self._lock:
            return list(self._silences)

    def set_linkis_tasks(self, tasks: Iterable[LinkisTask]) -> None:
        """The Linkis poller's view of the user's tasks (history and running): they replace the last ones.
        ``kind_version("linkis")`` grows only when they changed."""
        fresh = {t.task_id: t for t in tasks}
        with self._lock:
            if fresh != self._linkis:
                self._linkis = fresh
                self._changed("linkis")

    def update_linkis_task(self, task: LinkisTask) -> None:
        """One task brought up to date (a detail screen's follow, a submit's answer)."""
        with self._lock:
            if self._linkis.get(task.task_id) != task:
                self._linkis = {**self._linkis, task.task_id: task}
                self._changed("linkis")

    def linkis_tasks(self) -> list[LinkisTask]:
        """Newest first (by taskID)."""
        with self._lock:
            return sorted(self._linkis.values(), key=lambda t: -t.task_id)

    def linkis_task(self, task_id: int) -> LinkisTask | None:
        with self._lock:
            return self._linkis.get(task_id)

    def set_health(self, key: str, health: SourceHealth) -> None:
        with self._lock:
            old = self._health.get(key)
            if old is not None and old.state == health.state and old.reason == health.reason:
                return
            self._health[key] = health
            self._changed("health")

    def heard(self, key: str, when: datetime | None = None) -> None:
        """``key`` (a source: "kubernetes", "metrics", "alerts", "cmdb", "linkis") delivered good data now (or at
        ``when``): a poll round that answered, a watch event or bookmark, a list. Not a change of the data: no
        version moves (the wall reads it on its own clock)."""
        at = when or self._clock()
        with self._lock:
            old = self._heard.get(key)
            if old is None or at > old:
                self._heard[key] = at

    def heard_at(self, key: str) -> datetime | None:
        """When ``key`` last delivered good data; None: never (since this state was made)."""
        with self._lock:
            return self._heard.get(key)

    def now(self) -> datetime:
        """The state's clock (what ``heard`` stamps with)."""
        return self._clock()

    def forget_health(self, key: str) -> None:
        with self._lock:
            if self._health.pop(key, None) is not None:
                self._changed("health")

    # ------------------------------------------------------------------ reading
    def changed_kinds(self) -> set[str]:
        """What changed since the last call (and forget it)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            return dirty

    def _objects(self, kind: str) -> list[Any]:
        with self._lock:
            out: list[Any] = []
            for res, table in self._by_resource.items():
                if self._kind_of.get(res) == kind:
                    out.extend(table.values())
            return out

    def _in(self, kind: str, namespace: str | None) -> list[Any]:
        objs = self._objects(kind)
        if namespace is None:
            return objs
        return [o for o in objs if o.namespace == namespace]

    def namespaces(self) -> list[Namespace]:
        return sorted(self._objects("namespaces"), key=lambda n: n.name)

    def nodes(self) -> list[Node]:
        return sorted(self._objects("nodes"), key=lambda n: n.name)

    def pods(self, namespace: str | None = None) -> list[Pod]:
        return self._in("pods", namespace)

    def notebooks(self, namespace: str | None = None) -> list[Notebook]:
        return self._in("notebooks", namespace)

    def training_jobs(self, namespace: str | None = None) -> list[TrainingJob]:
        return self._in("trainingjobs", namespace)

    def deployments(self, namespace: str | None = None) -> list[ModelDeployment]:
        return self._in("deployments", namespace)

    def events(self, namespace: str | None = None) -> list[Event]:
        return self._in("events", namespace)

    def quotas(self) -> dict[str, Quota]:
        """Each namespace's quota: the ResourceQuota the cluster lists, else the one kube-state-metrics reports
        through Prometheus (a user who may not list quotas still sees them)."""
        listed = {q.namespace: q for q in self._objects("quotas")}
        with self._lock:
            if not self._metric_quotas:
                return listed
            return {**self._metric_quotas, **listed}

    def set_metric_quotas(self, quotas: dict[str, Quota]) -> None:
        """The quotas a metrics source (kube-state-metrics through Prometheus) reports: they replace its last."""
        with self._lock:
            if quotas != self._metric_quotas:
                self._metric_quotas = dict(quotas)
                self._changed("quotas")

    def quota_from_metrics(self, namespace: str) -> bool:
        """Does ``quotas()[namespace]`` come from the metrics source (no listed ResourceQuota there)?"""
        with self._lock:
            if namespace not in self._metric_quotas:
                return False
        return not any(q.namespace == namespace for q in self._objects("quotas"))

    def count(self, kind: str) -> int:
        return len(self._objects(kind))

    def has_data(self, kind: str) -> bool:
        """True once a list of this kind has completed (pages still arriving do not count)."""
        with self._lock:
            return any(self._kind_of.get(r) == kind and r not in self._listing for r in self._by_resource)

    # ------------------------------------------------------------------ health
    def health(self) -> dict[str, SourceHealth]:
        with self._lock:
            return dict(self._health)

    def source_health(self, source: str) -> SourceHealth:
        """One source's health from its parts (keys ``source`` or ``source/...``): the worst wins."""
        with self._lock:
            parts = [h for k, h in self._health.items() if k == source or k.startswith(source + "/")]
        if not parts:
            return SourceHealth(source=source, state=Health.CONNECTING)
        order = {Health.FAILING: 0, Health.STALE: 1, Health.CONNECTING: 2, Health.LIVE: 3}
        worst = min(parts, key=lambda h: (order[h.state], h.since or _now()))
        return SourceHealth(source=source, state=worst.state, since=worst.since, reason=worst.reason)

    # ------------------------------------------------------------------ the overview
    def summaries(self) -> list[NamespaceSummary]:
        """One row per tenant namespace, trouble first. Cached until the state changes."""
        with self._lock:
            version = self.version
            if self._summary_cache is not None and self._summary_cache[0] == version:
                return self._summary_cache[1]
            names = [n.name for n in self._objects("namespaces") if not n.terminating]
            notebooks = self._objects("notebooks")
            jobs = self._objects("trainingjobs")
            deps = self._objects("deployments")
            pods = self._objects("pods")
            quotas = self.quotas()
        nb: dict[str, Counter] = {}
        for o in notebooks:
            nb.setdefault(o.namespace, Counter())[o.state] += 1
        jb: dict[str, Counter] = {}
        for o in jobs:
            jb.setdefault(o.namespace, Counter())[o.state] += 1
        dp: dict[str, Counter] = {}
        for o in deps:
            dp.setdefault(o.namespace, Counter())[o.state] += 1
        gpus: Counter = Counter()
        pending: Counter = Counter()
        for p in pods:
            if p.holds_gpus:
                gpus[p.namespace] += p.gpus
            elif p.phase == "Pending" and not p.node and not p.deleting:
                pending[p.namespace] += 1
        seen = set(names) | set(nb) | set(jb) | set(dp)
        rows = []
        for ns in seen:
            if ns not in nb and ns not in jb and ns not in dp and ns not in quotas:
                continue  # system namespaces: nothing of the platform there
            q = quotas.get(ns)
            rows.append(NamespaceSummary.model_construct(
                namespace=ns,
                notebooks={s: nb.get(ns, Counter()).get(s, 0) for s in NotebookState},
                jobs={s: jb.get(ns, Counter()).get(s, 0) for s in JobState},
                deployments={s: dp.get(ns, Counter()).get(s, 0) for s in DeploymentState},
                gpu_used=gpus.get(ns, 0), gpu_quota=q.gpu_hard if q else None,
                pending_pods=pending.get(ns, 0)))
        rows.sort(key=lambda r: (-r.trouble, r.namespace))
        with self._lock:
            self._summary_cache = (version, rows, sum(gpus.values()))
        return rows

    def sees_whole_cluster(self, kind: str) -> bool:
        """False when this kind is only known in some namespaces (a user without cluster-wide rights)."""
        with self._lock:
            return not any(self._kind_of.get(r) == kind for r in self._partial)

    def cluster_gpus(self) -> tuple[int, int]:
        """(GPUs allocated to running pods, GPUs allocatable on ready nodes)."""
        self.summaries()  # counts the pods' GPUs once per state version
        cache = self._summary_cache
        used = cache[2] if cache is not None else 0
        cap = sum(n.gpu_allocatable for n in self._objects("nodes") if n.ready)
        return used, cap

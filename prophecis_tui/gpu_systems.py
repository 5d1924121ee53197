"""Which CMDB business systems each GPU serves, and which workload holds it: what the GPU screen's views and
charts read about the holders of 2,000 GPUs every second, cached so that a poll costs dict lookups.

A GPU serves the systems of the pod that holds it (its namespace, its labels, its model deployment, as
``prophecis_tui.cmdb`` matches them) and the systems that own its node by a node rule. A free GPU on nobody's
node serves none. The answers are cached per pod and per node, and worked out again only when the CMDB
changes (``State.kind_version("cmdb")``), so the metrics poller can ask for 2,000 GPUs every second.
"""

from __future__ import annotations

import threading
from typing import Iterable

from .cmdb import Match, Matcher
from .domain import BusinessSystem, GpuGroup, GpuSample, Pod
from .idle import workload_of

_CAP = 100_000  # cached pods before the cache starts again (pods come and go)
_BY_NAMESPACE = ("namespace", "segment")


class PodLookup:
    """A pod of the state by namespace and name, through an index made again only when a name is missed and the
    pods changed since (a new pod), never on every call: the state's pods are 10,000 on a large cluster."""

    def __init__(self, state) -> None:
        self.state = state
        self._index: dict[tuple[str, str], Pod] | None = None
        self._version = -1

    def get(self, namespace: str, name: str) -> Pod | None:
        index = self._index
        if index is None or ((namespace, name) not in index and self.state.kind_version("pods") != self._version):
            self._version = self.state.kind_version("pods")
            index = self._index = {(p.namespace, p.name): p for p in self.state.pods()}
        return index.get((namespace, name))


class Workloads:
    """"kind name" of the workload a GPU's pod serves (``idle.workload_of``: "notebook lab", "PyTorchJob mnist"),
    cached per pod until the notebooks change; a pod the state does not know yet is named by itself."""

    def __init__(self, state) -> None:
        self.state = state
        self.pods = PodLookup(state)
        self._cache: dict[tuple[str, str], str] = {}
        self._version = -1
        self._notebooks: set[tuple[str, str]] = set()

    def of(self, namespace: str, pod: str) -> str:
        version = self.state.kind_version("notebooks")
        if version != self._version:
            self._version = version
            self._notebooks = {(n.namespace, n.name) for n in self.state.notebooks()}
            self._cache = {}
        hit = self._cache.get((namespace, pod))
        if hit is None:
            p = self.pods.get(namespace, pod)
            if p is None:
                return f"pod {pod}"  # not cached: the pod may reach the state at the next poll
            kind, name = workload_of(p, self._notebooks)
            hit = f"{kind} {name}"
            if len(self._cache) > _CAP:
                self._cache.clear()
            self._cache[(namespace, pod)] = hit
        return hit


class GpuSystems:
    """The business systems of GPUs, from the state's CMDB and pods. Thread-safe: the poller asks every poll,
    a screen's worker asks for its rows."""

    def __init__(self, state) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._version = -1
        self._nodes_version = -1
        self._addresses: dict[str, tuple[str, ...]] = {}  # node -> its IPs (a CMDB may list a node by IP)
        self._matcher = Matcher(())
        self._by_id: dict[str, BusinessSystem] = {}
        self._pods: dict[tuple[str, str], tuple[Match, ...]] = {}
        self._nodes: dict[str, tuple[Match, ...]] = {}
        self._pod_lookup = PodLookup(state)

    def _current(self) -> Matcher:
        nodes = self.state.kind_version("nodes")
        if nodes != self._nodes_version:  # a node's IPs, which a CMDB may list it by: re-matched only when they change
            with self._lock:
                addresses = {n.name: n.addresses for n in self.state.nodes() if n.addresses}
                if addresses != self._addresses:
                    self._addresses, self._nodes = addresses, {}
                self._nodes_version = nodes
        version = self.state.kind_version("cmdb")
        if version != self._version:
            with self._lock:
                if version != self._version:
                    systems = self.state.business_systems()
                    self._matcher = Matcher(systems)
                    self._by_id = {s.id: s for s in systems}
                    self._pods, self._nodes = {}, {}
                    self._version = version
        return self._matcher

    @property
    def known(self) -> bool:
        """Whether there is a CMDB at all (else every GPU is untagged, and the view says how to get one)."""
        self._current()
        return bool(self._by_id)

    def system(self, id: str) -> BusinessSystem | None:
        self._current()
        return self._by_id.get(id)

    def matches(self, g: GpuSample) -> tuple[Match, ...]:
        """Every system the GPU serves and the rule that says so, the strongest first."""
        matcher = self._current()
        node = self._nodes.get(g.node)
        if node is None:
            node = self._nodes[g.node] = tuple(matcher.match(
                node=g.node, node_addresses=self._addresses.get(g.node, ()))) if g.node else ()
        if not (g.pod and g.namespace):
            return node
        key = (g.namespace, g.pod)
        held = self._pods.get(key)
        if held is None:
            pod = self._pod_lookup.get(g.namespace, g.pod)
            labels = dict(pod.labels) if pod is not None else {}
            held = tuple(matcher.match(namespace=g.namespace, labels=labels,
                                       deployment=labels.get("seldon-deployment-id")))
            if len(self._pods) > _CAP:
                self._pods.clear()
            self._pods[key] = held
        if not node:
            return held
        ids = {m.system.id for m in held}
        return held + tuple(m for m in node if m.system.id not in ids)

    def of(self, g: GpuSample) -> tuple[str, ...]:
        """The ids of the systems the GPU serves."""
        return tuple(m.system.id for m in self.matches(g))

    def members(self, id: str, gpus: Iterable[GpuSample]) -> GpuGroup:
        """The namespaces, pods and nodes through which system ``id`` holds some of ``gpus`` (the GPUs now): what
        a Prometheus query of its history selects. The history is of the GPUs it holds now."""
        namespaces: set[str] = set()
        pods: set[tuple[str, str]] = set()
        nodes: set[str] = set()
        for g in gpus:
            for m in self.matches(g):
                if m.system.id != id:
                    continue
                if m.kind in _BY_NAMESPACE:
                    namespaces.add(g.namespace)
                elif m.kind == "node":
                    nodes.add(g.node)
                else:
                    pods.add((g.namespace, g.pod))
                break
        pods = {p for p in pods if p[0] not in namespaces}
        return GpuGroup(namespaces=tuple(sorted(namespaces)), pods=tuple(sorted(pods)), nodes=tuple(sorted(nodes)))

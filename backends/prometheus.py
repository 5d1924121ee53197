"""GPU numbers from Prometheus (prometheus-api-client): the DCGM exporter's series and their history, and
kube-state-metrics' quota series.

One instant query fetches every field of every GPU (a ``__name__`` regex) together with the ``up`` series of
the targets that export them: a target's own ``namespace``/``pod`` labels (a ServiceMonitor puts them on every
series; with honorLabels: false the exporter's pod labels become ``exported_*``) name the exporter, not a
workload, so a GPU whose only pod labels are its target's is free. History is a range query of one GPU's
utilisation and memory fill, whichever spelling of the node label its exporter used.

``quotas()`` reads ``kube_resourcequota`` (kube-state-metrics: the quota's status.hard and status.used, CPU in
cores, memory in bytes, GPUs as a count) into the same :class:`~prophecis_tui.domain.Quota` the Kubernetes
backend gives, keyed by namespace; ``{}`` when no kube-state-metrics is scraped. Only Prometheus can do this,
so it is a Protocol of its own (``backends.base.QuotaMetrics``), not a method every metrics backend must fake:
callers ask ``isinstance(source, QuotaMetrics)``.

The client's default retries back off for about 6 s on a 503; this one retries once, briefly: a console
would rather show "stale" than wait. Every failure becomes Unavailable with one line, never an exception of
the client.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime, timezone
from typing import Any, Callable

from prophecis_tui.domain import BackendError, GpuGroup, GpuSample, Quota, Unavailable

from .gpu_labels import FIELDS, gpu_entry, identify, target_pods
from .k8s_parse import _QUOTA_KEYS

_FIELDS_RE = "|".join(FIELDS)
_GPUS = f'{{__name__=~"{_FIELDS_RE}"}}'
# every field of every GPU, and the `up` of each target that exports them (its own labels, nothing else)
CURRENT_QUERY = f"{_GPUS} or (up and on(job, instance) group by (job, instance) ({_GPUS}))"
QUOTA_NAME = "mlss-default-rq"  # the one quota per namespace the Kubernetes backend lists too


def _value(v: Any) -> float | None:
    try:
        f = float(v[1])
    except (TypeError, ValueError, IndexError):
        return None
    return None if math.isnan(f) else f


def _hard_used(hard: dict[str, float], used: dict[str, float], keys: tuple[str, ...]) -> tuple[float | None, float]:
    """The first key the quota limits, from hard and used alike (backends.k8s_parse reads a quota the same way)."""
    for k in keys:
        if k in hard:
            return hard[k], used.get(k, 0.0)
    for k in keys:
        if k in used:
            return None, used[k]
    return None, 0.0


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"')


def _alternatives(values) -> str:
    """A PromQL regex (RE2, anchored by Prometheus) matching exactly these values, quoted for a label matcher."""
    return _quote("|".join(re.escape(v) for v in sorted(values)))


class _HeaderAuth:
    """requests' auth hook: headers made afresh for each request (never kept, so never in a repr)."""

    def __init__(self, make: Callable[[], dict[str, str]]) -> None:
        self._make = make

    def __call__(self, request: Any) -> Any:
        try:
            request.headers.update(self._make())
        except BackendError as err:  # its message is one redacted line
            raise _CredentialsError(err.message) from None
        return request

    def __repr__(self) -> str:
        return "_HeaderAuth()"


class _CredentialsError(Exception):
    """The credentials for a request could not be had (a one-line message without secrets)."""


class PrometheusMetrics:
    name = "prometheus"

    def __init__(self, url: str, *, timeout: float = 5.0,
                 headers: dict[str, str] | Callable[[], dict[str, str]] | None = None, verify: bool = True,
                 ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``headers``: sent with each query, or a callable that makes them for each query (an API server's
        Authorization, renewed when due); ``cert_file``/``key_file``: a client certificate. With them a Prometheus
        is queried through the Kubernetes API server's service proxy (``url`` the proxy URL of its Service, see
        ``Kubernetes.api_access()``)."""
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry
        self.url = url.rstrip("/")
        self.clock = clock
        self._timeout = timeout
        fresh = headers if callable(headers) else None
        self._prom = PrometheusConnect(url=self.url, headers=None if fresh else headers, disable_ssl=not verify,
                                       timeout=timeout, auth=_HeaderAuth(fresh) if fresh else None,
                                       retry=Retry(total=1, backoff_factor=0.1, status_forcelist=[502, 503, 504]))
        if ca_file and verify:
            self._prom._session.verify = ca_file
        if cert_file:
            self._prom._session.cert = (cert_file, key_file) if key_file else cert_file

    def _query(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as err:  # requests' errors, RetryError, PrometheusApiClientException: one line each
            text = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise Unavailable(f"Prometheus {self.url}: {text}", source=self.name) from None

    def current(self) -> list[GpuSample]:
        rows = self._query(lambda: self._prom.custom_query(CURRENT_QUERY))
        at = datetime.fromtimestamp(self.clock(), timezone.utc)
        gpus: dict[tuple[str, int], dict] = {}
        all_labels = [{k: str(v) for k, v in (r.get("metric") or {}).items()} for r in rows or []]
        seen = frozenset(target_pods(all_labels))
        own: dict[tuple[str, str], set[tuple[str, str]]] = {}  # (job, instance) -> the target's (namespace, pod)
        for labels in all_labels:
            if labels.get("__name__") == "up" and (labels.get("namespace") or labels.get("pod")):
                own.setdefault((labels.get("job", ""), labels.get("instance", "")), set()).add(
                    (labels.get("namespace", ""), labels.get("pod", "")))
        targets = {k: seen | v for k, v in own.items()}
        for r, labels in zip(rows or [], all_labels):
            attr = FIELDS.get(labels.get("__name__", ""))
            ident = identify(labels, labels.get("instance", "").rsplit(":", 1)[0],
                             targets.get((labels.get("job", ""), labels.get("instance", "")), seen)) if attr else None
            if ident is None:
                continue
            gpu_entry(gpus, ident, at=at)[attr] = _value(r.get("value"))
        return sorted((GpuSample.model_construct(**g) for g in gpus.values()), key=lambda x: (x.node, x.gpu))

    def _selector(self, name: str, key: str) -> str:
        node, _, gpu = key.rpartition("/")
        return " or ".join(f'{name}{{gpu="{_quote(gpu)}",{lab}="{_quote(node)}"}}' for lab in ("Hostname", "hostname"))

    def history(self, key: str, seconds: float) -> list[tuple[float, float | None, float | None]]:
        return self._range("max", lambda name: self._selector(name, key), seconds)

    def _range(self, agg: str, selector: Callable[[str], str],
               seconds: float) -> list[tuple[float, float | None, float | None]]:
        """(unix time, utilisation %, memory %) over the last ``seconds``: two range queries, ``agg`` over the
        series ``selector(metric name)`` picks."""
        end = datetime.fromtimestamp(self.clock(), timezone.utc)
        start = datetime.fromtimestamp(self.clock() - seconds, timezone.utc)
        step = f"{max(1, int(seconds // 300))}s"  # at most ~300 points: a chart is narrower than that
        util = self._query(lambda: self._prom.custom_query_range(
            f"{agg}({selector('DCGM_FI_DEV_GPU_UTIL')})", start, end, step))
        used, free = (selector(n) for n in ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"))
        mem = self._query(lambda: self._prom.custom_query_range(
            f"{agg}(100 * ({used}) / (({used}) + ({free})))", start, end, step))
        points: dict[float, list[float | None]] = {}
        for series, i in ((util, 0), (mem, 1)):
            for r in series or []:
                for v in r.get("values") or []:
                    points.setdefault(float(v[0]), [None, None])[i] = _value(v)
        return [(t, u, m) for t, (u, m) in sorted(points.items())]

    def _group(self, name: str, key: str) -> str:
        """A node's GPUs (``node:<name>``, either spelling of the label) or a namespace's held GPUs
        (``ns:<name>``: the pod's namespace, ``exported_namespace`` where Prometheus renamed it)."""
        kind, _, value = key.partition(":")
        v = _quote(value)
        if kind == "node":
            return f'{name}{{Hostname="{v}"}} or {name}{{hostname="{v}"}}'
        return f'{name}{{exported_namespace="{v}"}} or {name}{{namespace="{v}",exported_namespace=""}}'

    def _members(self, name: str, members: GpuGroup) -> str:
        """The GPUs of a group named by its members (a business system's): held in its namespaces, held by its
        pods, or on its nodes; ``or`` keeps a GPU once when it is in several."""
        parts = []
        if members.namespaces:
            ns = _alternatives(members.namespaces)
            parts += [f'{name}{{exported_namespace=~"{ns}"}}', f'{name}{{namespace=~"{ns}",exported_namespace=""}}']
        by_ns: dict[str, list[str]] = {}
        for ns, pod in members.pods:
            by_ns.setdefault(ns, []).append(pod)
        for ns, pods in sorted(by_ns.items()):
            v, p = _quote(ns), _alternatives(pods)
            parts += [f'{name}{{exported_namespace="{v}",exported_pod=~"{p}"}}',
                      f'{name}{{namespace="{v}",pod=~"{p}",exported_namespace=""}}']
        if members.nodes:
            nodes = _alternatives(members.nodes)
            parts += [f'{name}{{Hostname=~"{nodes}"}}', f'{name}{{hostname=~"{nodes}"}}']
        return " or ".join(parts)

    def group_history(self, key: str, seconds: float,
                      members: GpuGroup | None = None) -> list[tuple[float, float | None, float | None]]:
        """(unix time, mean utilisation %, mean memory %) of a node's or a namespace's GPUs, or of a group the
        caller names by its ``members`` (``sys:<id>``, a business system's GPUs now): Prometheus' own history
        (older than the console)."""
        if members is not None:
            if not members:
                return []
            return self._range("avg", lambda name: self._members(name, members), seconds)
        return self._range("avg", lambda name: self._group(name, key), seconds)

    def quotas(self, name: str = QUOTA_NAME) -> dict[str, Quota]:
        """Each namespace's quota ``name`` from kube-state-metrics' ``kube_resourcequota``, as the Kubernetes
        backend would parse it (the first GPU/CPU/memory key the quota limits, ``requests.`` before ``limits.``;
        ``gpu_base``/``gpu_limit`` the hard ``requests.``/``limits.nvidia.com/gpu``). No uid and no
        annotations: kube-state-metrics exports neither here. A quota with an empty status has no series, so
        it is absent; ``{}`` when no kube-state-metrics is scraped. Several kube-state-metrics (replicas, or
        two jobs) give the same numbers once; with honorLabels: false the quota's namespace is
        ``exported_namespace``."""
        query = (f'max by (namespace, exported_namespace, resourcequota, resource, type) '
                 f'(kube_resourcequota{{resourcequota="{_quote(name)}"}})')
        rows = self._query(lambda: self._prom.custom_query(query))
        found: dict[str, dict[str, dict[str, float]]] = {}
        for r in rows or []:
            labels = r.get("metric") or {}
            ns = str(labels.get("exported_namespace") or labels.get("namespace") or "")
            kind, res, v = labels.get("type"), labels.get("resource"), _value(r.get("value"))
            if ns and kind in ("hard", "used") and res and v is not None:
                found.setdefault(ns, {"hard": {}, "used": {}})[kind][str(res)] = v
        out: dict[str, Quota] = {}
        for ns, q in sorted(found.items()):
            hard, used = q["hard"], q["used"]
            (gpu_hard, gpu_used), (cpu_hard, cpu_used), (mem_hard, mem_used) = (
                _hard_used(hard, used, _QUOTA_KEYS[k]) for k in ("gpu", "cpu", "memory"))
            out[ns] = Quota.model_construct(
                uid="", namespace=ns, name=name, gpu_hard=gpu_hard, gpu_used=gpu_used, cpu_hard=cpu_hard,
                cpu_used=cpu_used, memory_hard=mem_hard, memory_used=mem_used,
                gpu_base=hard.get(_QUOTA_KEYS["gpu"][0]), gpu_limit=hard.get(_QUOTA_KEYS["gpu"][1]), annotations={})
        return out

    def close(self) -> None:
        session = getattr(self._prom, "_session", None)
        if session is not None:
            session.close()

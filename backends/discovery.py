"""Finding a context's GPU metrics in the cluster when ``[metrics]`` names no source ('auto').

The console runs on a jump host: in-cluster Services are out of its network's reach, but the API server is not.
So everything here goes through the Kubernetes API with the kubeconfig's own credentials (``backends.kubernetes``):
Services are listed, and a candidate is tried through the API server's service proxy
(``/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/...``, verb ``get`` on ``services/proxy``), in this order:

1. a Prometheus Service (labels ``app.kubernetes.io/name=prometheus``, ``app=prometheus``,
   ``app=kube-prometheus-stack-prometheus``, ``operated-prometheus=true``, or the well-known names
   ``prometheus-k8s``, ``prometheus-operated``, ``prometheus-server``, ``kube-prometheus-stack-prometheus``; port
   9090 or one named web/http/http-web) that has DCGM series: ``count(DCGM_FI_DEV_GPU_UTIL)`` answers > 0. A
   Prometheus without them (no dcgm-exporter scraped) is skipped;
2. a dcgm-exporter Service (``app=nvidia-dcgm-exporter`` as the GPU operator labels it,
   ``app.kubernetes.io/name=dcgm-exporter``, or the names ``nvidia-dcgm-exporter``/``dcgm-exporter``; port 9400 or
   one named metrics/gpu-metrics) whose ``/metrics`` holds DCGM series.

Where to look: three label-selector lists across all namespaces; a user who may not list Services cluster-wide
(or a cluster-wide look that found only one kind) lists the usual namespaces one by one (``USUAL_NAMESPACES``).
A Forbidden or unreachable API is no error: nothing is detected, and ``Detection.looked`` says what was looked
for and what was seen, in one line without secrets. Every request has a short timeout and the whole detection a
budget (``detect(budget=...)``): a slow cluster costs a few seconds at most, then the console goes on without.

A dcgm-exporter Service usually fronts a DaemonSet (one exporter pod per GPU node): through the Service the API
server picks one pod per request, so each scrape would see one node's GPUs. Prometheus, which scrapes every pod, is
preferred for that reason too. A dcgm-exporter Service found is therefore read pod by pod (``ExporterPods``): its
v1 Endpoints (``get`` on ``endpoints``) name the ready pods (``targetRef``) and their nodes, each scraped through
the pods proxy (``/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/metrics``, ``get`` on ``pods/proxy``), the list
read again every minute. Endpoints rather than EndpointSlices: one GET of one object by the Service's name, served
by every Kubernetes version (1.33 deprecates it but still serves it; EndpointSlices would be a labelled list of
possibly several slices to merge, for no more information here), and a Prometheus' or Grafana's role that may read
the exporter usually grants it. Where the Endpoints cannot be read or the pods proxy is forbidden, the Service
itself is read, and ``note`` says that each scrape sees one node.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from prophecis_tui.domain import BackendError, Forbidden, NotFound, Timeout, Unauthorized, Unavailable

USUAL_NAMESPACES = ("monitoring", "prometheus", "gpu-operator", "nvidia-gpu-operator", "kube-system")
PROMETHEUS_NAMES = ("prometheus-k8s", "prometheus-operated", "prometheus-server", "kube-prometheus-stack-prometheus")
PROMETHEUS_APPS = ("prometheus", "kube-prometheus-stack-prometheus")
PROMETHEUS_PORT_NAMES = ("web", "http", "http-web")
EXPORTER_NAMES = ("nvidia-dcgm-exporter", "dcgm-exporter")
EXPORTER_PORT_NAMES = ("gpu-metrics", "metrics")
# the cluster-wide lists: every label above, in three queries
SELECTORS = ("app.kubernetes.io/name in (prometheus,dcgm-exporter)",
             "app in (prometheus,kube-prometheus-stack-prometheus,nvidia-dcgm-exporter)",
             "operated-prometheus=true")
DCGM_QUERY = "count(DCGM_FI_DEV_GPU_UTIL)"
METRICS_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # what Prometheus asks an exporter for
MAX_TRIES = 6  # candidates tried per kind: enough for a cluster with a few Prometheus, bounded for the budget


@dataclass(frozen=True)
class Found:
    """A Service that serves GPU metrics, reached through the API server's proxy."""

    kind: str  # "prometheus" or "dcgm"
    namespace: str
    service: str
    port: int | str
    scheme: str = ""  # "https" for a port that speaks TLS

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.service}:{self.port}"


@dataclass
class Detection:
    found: Found | None
    looked: str  # one line: what was looked for, where, and what was seen (for the "no source" note)
    seconds: float = 0.0
    tried: list[str] = field(default_factory=list)  # "ns/name:port: what it answered", in order


@dataclass(frozen=True)
class _Candidate:
    kind: str
    namespace: str
    service: str
    port: int | str
    scheme: str
    rank: tuple


def _labels(svc: dict) -> dict:
    md = svc.get("metadata") if isinstance(svc.get("metadata"), dict) else {}
    labels = md.get("labels")
    return labels if isinstance(labels, dict) else {}


def _ports(svc: dict) -> list[dict]:
    spec = svc.get("spec") if isinstance(svc.get("spec"), dict) else {}
    ports = spec.get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def _pick_port(svc: dict, number: int, names: tuple[str, ...]) -> tuple[int | str, str] | None:
    """(port, scheme) of the Service's port that speaks the metrics: the well-known number first, then a
    well-known name; ``https`` when the port's name says TLS."""
    ports = _ports(svc)
    best = next((p for p in ports if p.get("port") == number), None) or next(
        (p for n in names for p in ports if str(p.get("name", "")).lower() == n), None)
    if best is None or not isinstance(best.get("port"), int):
        return None
    name = str(best.get("name", "")).lower()
    return best["port"], "https" if name.startswith("https") or name.endswith("-tls") else ""


def candidates(services: list[dict], namespace_order: tuple[str, ...] = USUAL_NAMESPACES) -> list[_Candidate]:
    """The Prometheus and dcgm-exporter Services among ``services`` (raw API objects), each with the port to reach:
    Prometheus first, then exporters; within a kind the well-known names first (in their order), then by
    namespace (the usual ones first, in their order) and name."""
    out: dict[tuple[str, str, str], _Candidate] = {}
    for svc in services:
        md = svc.get("metadata") if isinstance(svc.get("metadata"), dict) else {}
        ns, name = str(md.get("namespace") or ""), str(md.get("name") or "")
        if not ns or not name:
            continue
        labels = _labels(svc)
        ns_rank = namespace_order.index(ns) if ns in namespace_order else len(namespace_order)
        component = str(labels.get("component") or labels.get("app.kubernetes.io/component") or "")
        prom = (labels.get("app.kubernetes.io/name") == "prometheus" or labels.get("app") in PROMETHEUS_APPS
                or labels.get("operated-prometheus") == "true" or name in PROMETHEUS_NAMES)
        if prom and component not in ("", "server", "prometheus"):  # the old chart's alertmanager, node-exporter
            prom = name in PROMETHEUS_NAMES
        exporter = (labels.get("app") == "nvidia-dcgm-exporter" or labels.get("app.kubernetes.io/name") == "dcgm-exporter"
                    or name in EXPORTER_NAMES)
        for kind, ok, number, names, known in (("prometheus", prom, 9090, PROMETHEUS_PORT_NAMES, PROMETHEUS_NAMES),
                                               ("dcgm", exporter, 9400, EXPORTER_PORT_NAMES, EXPORTER_NAMES)):
            if not ok:
                continue
            picked = _pick_port(svc, number, names)
            if picked is None:
                continue
            port, scheme = picked
            name_rank = known.index(name) if name in known else len(known)
            out[(kind, ns, name)] = _Candidate(kind, ns, name, port, scheme, (name_rank, ns_rank, ns, name))
    return sorted(out.values(), key=lambda c: (c.kind != "prometheus", c.rank))


class _Budget:
    def __init__(self, seconds: float, request_timeout: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.request_timeout = request_timeout

    def timeout(self) -> tuple[float, float] | None:
        """(connect, read) for the next request, or None when the budget is spent."""
        left = self.deadline - time.monotonic()
        if left < 0.05:
            return None
        t = min(self.request_timeout, left)
        return (min(t, 2.0), t)


def _transport(err: BackendError) -> bool:
    """A failure of the API itself (unreachable, too slow), not an answer about one request."""
    return isinstance(err, Timeout) or (isinstance(err, Unavailable) and err.status is None) \
        or isinstance(err, Unauthorized)


def _why(err: BackendError) -> str:
    if isinstance(err, Forbidden):
        return "forbidden"
    if isinstance(err, Unauthorized):
        return "credentials rejected"
    if isinstance(err, Timeout):
        return "no answer in time"
    return err.message


def detect(k8s: Any, *, budget: float = 4.0, request_timeout: float = 2.0,
           namespaces: tuple[str, ...] = USUAL_NAMESPACES) -> Detection:
    """Look for GPU metrics in ``k8s``'s cluster (a ``backends.kubernetes.Kubernetes``), within ``budget`` seconds.
    Never raises a backend error: what could not be read is in ``looked``."""
    t0 = time.monotonic()
    b = _Budget(budget, request_timeout)
    seen: list[str] = []  # what the note tells
    tried: list[str] = []
    services: list[dict] = []
    scope = "all namespaces"
    stopped = ""  # why the look ended early

    def done(found: Found | None) -> Detection:
        what = "a Prometheus with DCGM series and a dcgm-exporter Service"
        looked = f"looked in the cluster ({scope}) for {what}: " + ("; ".join(seen[:4]) or "none found")
        if stopped:
            looked += f"; {stopped}"
        return Detection(found, looked, time.monotonic() - t0, tried)

    # -------------------------------------------------------------- where the Services are
    cluster_wide = True
    for selector in SELECTORS:
        timeout = b.timeout()
        if timeout is None:
            stopped = f"gave up after {budget:g} s"
            return done(None)
        try:
            services += k8s.services(None, selector, timeout=timeout)
        except BackendError as err:
            if _transport(err):
                scope = "the API did not answer"
                stopped = _why(err)
                return done(None)
            cluster_wide = False  # Forbidden, most often: a user of some namespaces
            break
    found_kinds = {c.kind for c in candidates(services)} if cluster_wide else set()
    if not cluster_wide or found_kinds != {"prometheus", "dcgm"}:
        listed = []
        for ns in namespaces:
            timeout = b.timeout()
            if timeout is None:
                stopped = f"gave up after {budget:g} s"
                break
            try:
                services += k8s.services(ns, timeout=timeout)
                listed.append(ns)
            except NotFound:
                continue
            except BackendError as err:
                if _transport(err):
                    stopped = _why(err)
                    break
                continue  # may not read this namespace: the next one
        if not cluster_wide:
            scope = ("namespaces " + ", ".join(listed)) if listed else \
                "may not list Services cluster-wide nor in " + ", ".join(namespaces)

    # -------------------------------------------------------------- which answers, in order
    cands = candidates(services, namespaces)
    for kind in ("prometheus", "dcgm"):
        for c in [c for c in cands if c.kind == kind][:MAX_TRIES]:
            timeout = b.timeout()
            if timeout is None:
                stopped = f"gave up after {budget:g} s"
                return done(None)
            where = f"{c.namespace}/{c.service}:{c.port}"
            try:
                if kind == "prometheus":
                    status, text = k8s.proxy_get(c.namespace, c.service, c.port, "api/v1/query",
                                                 [("query", DCGM_QUERY)], scheme=c.scheme, timeout=timeout)
                    verdict = _prometheus_verdict(status, text)
                else:
                    status, text = k8s.proxy_get(c.namespace, c.service, c.port, "metrics", scheme=c.scheme,
                                                 timeout=timeout, accept=METRICS_ACCEPT)
                    verdict = _exporter_verdict(status, text)
            except BackendError as err:
                verdict = _why(err)
                if _transport(err):  # the API itself failed: the next candidate would fare no better
                    tried.append(f"{where}: {verdict}")
                    seen.append(f"{where}: {verdict}")
                    return done(None)
            tried.append(f"{where}: {verdict}")
            if verdict == "ok":
                return done(Found(kind, c.namespace, c.service, c.port, c.scheme))
            seen.append(f"{where}: {verdict}")
    return done(None)


def _prometheus_verdict(status: int, text: str) -> str:
    if status != 200:
        return f"HTTP {status}" + (f" ({text[:120]})" if text and len(text) < 300 and "\n" not in text.strip() else "")
    try:
        doc = json.loads(text)
        result = doc["data"]["result"]
        count = float(result[0]["value"][1]) if result else 0.0
    except (ValueError, KeyError, IndexError, TypeError):
        return "not a Prometheus answer"
    return "ok" if count > 0 else "no DCGM series"


def _exporter_verdict(status: int, text: str) -> str:
    if status != 200:
        return f"HTTP {status}" + (f" ({text[:120]})" if text and len(text) < 300 and "\n" not in text.strip() else "")
    return "ok" if "\nDCGM_FI_DEV_" in "\n" + text else "no DCGM series"


def source_for(found: Found, access: Any, *, timeout: float = 5.0, refresh: float = 60.0) -> Any:
    """The metrics backend that reads ``found`` through the API server's proxy with ``access``
    (``Kubernetes.api_access()``): PrometheusMetrics, or ExporterPods (every pod behind a dcgm-exporter Service),
    each sending the context's credentials. Blocking (an exporter Service's Endpoints are read here first)."""
    tls = {"ca_file": access.ca_file, "cert_file": access.cert_file, "key_file": access.key_file,
           "verify": access.verify}
    if found.kind == "prometheus":
        from .prometheus import PrometheusMetrics
        url = access.service_url(found.namespace, found.service, found.port, "", found.scheme).rstrip("/")
        return PrometheusMetrics(url, headers=access.headers, timeout=timeout, **tls)
    return ExporterPods(found, access, timeout=timeout, refresh=refresh)


def exporter_pods(endpoints: dict, port: int | str) -> tuple[list[tuple[str, str, str]], int | None]:
    """The ready pods of a v1 Endpoints object, as (namespace, name, node), sorted, and the pod port to reach them
    on: the one whose number is ``port``, else one named like an exporter's, else the only one."""
    pods: set[tuple[str, str, str]] = set()
    target: int | None = None
    subsets = endpoints.get("subsets") if isinstance(endpoints.get("subsets"), list) else []
    for sub in subsets:
        if not isinstance(sub, dict):
            continue
        ports = [p for p in sub.get("ports") or [] if isinstance(p, dict) and isinstance(p.get("port"), int)]
        chosen = next((p for p in ports if p["port"] == port), None) or next(
            (p for n in EXPORTER_PORT_NAMES for p in ports if p.get("name") == n), None) or (
            ports[0] if len(ports) == 1 else None)
        if chosen is None:
            continue
        target = target or chosen["port"]
        for a in sub.get("addresses") or []:  # ready ones only: notReadyAddresses are not scraped
            ref = a.get("targetRef") if isinstance(a, dict) else None
            if isinstance(ref, dict) and ref.get("kind", "Pod") == "Pod" and ref.get("name"):
                pods.add((str(ref.get("namespace") or endpoints.get("metadata", {}).get("namespace", "")),
                          str(ref["name"]), str(a.get("nodeName") or "")))
    return sorted(pods), target


class ExporterPods:
    """GPU numbers from every pod behind a dcgm-exporter Service (a DaemonSet's: one pod per GPU node), each read
    through the API server's pods proxy, with one DcgmScrape (one history) for all of them.

    The pods come from the Service's v1 Endpoints, read at construction and again in ``current()`` once
    ``refresh`` seconds have passed (on the poller's thread, never the UI's): a pod that went away is no longer
    scraped, a new one is. Where the Endpoints cannot be read, name no ready pod, or the pods proxy answers 403,
    the Service URL is scraped instead (one node per scrape, whichever pod the API server picks) and ``note`` says
    so in one line; the next refresh tries the pods again."""

    name = "dcgm"

    def __init__(self, found: Found, access: Any, *, timeout: float = 5.0, refresh: float = 60.0,
                 clock: Any = time.monotonic) -> None:
        from .dcgm import DcgmScrape
        self.found = found
        self._access = access
        self._timeout = timeout
        self.refresh = refresh
        self._clock = clock
        self.service_url = access.service_url(found.namespace, found.service, found.port, "metrics", found.scheme)
        self.note = ""
        self.pods: list[tuple[str, str, str]] = []  # (namespace, pod, node) scraped now; [] on the Service
        self._scrape = DcgmScrape(self.service_url, headers=access.headers, timeout=timeout,
                                  ca_file=access.ca_file, cert_file=access.cert_file, key_file=access.key_file,
                                  verify=access.verify)
        self._due = 0.0
        self._refresh()

    @property
    def urls(self) -> list[str]:
        return self._scrape.urls

    def _fall_back(self, why: str) -> None:
        self.pods = []
        self._scrape.set_urls([self.service_url])
        self.note = (f"dcgm-exporter {self.found.namespace}/{self.found.service}: {why}; reading the Service, "
                     f"which answers for one node per scrape")

    def _refresh(self) -> None:
        """Which exporter pods to scrape, from the Service's Endpoints now."""
        self._due = self._clock() + self.refresh
        f = self.found
        try:
            doc = self._access.endpoints(f.namespace, f.service, timeout=(min(2.0, self._timeout), self._timeout))
        except BackendError as err:
            self._fall_back(f"cannot read its Endpoints ({_why(err)})")
            return
        pods, port = exporter_pods(doc, f.port)
        if not pods or port is None:
            self._fall_back("its Endpoints name no ready pod")
            return
        urls = {self._access.pod_url(ns, pod, port, "metrics", f.scheme): (ns, pod, node) for ns, pod, node in pods}
        self.pods = pods
        self.note = ""
        self._scrape.set_urls(list(urls), {u: node for u, (_, _, node) in urls.items() if node})

    def current(self) -> list:
        if self._clock() >= self._due:
            self._refresh()
        try:
            return self._scrape.current()
        except Unavailable as err:
            if not self.pods or err.status != 403:
                raise
        self._fall_back("the pods proxy is forbidden (get pods/proxy)")  # RBAC: may read the Service, not the pods
        return self._scrape.current()

    def history(self, key: str, seconds: float) -> list:
        return self._scrape.history(key, seconds)

    def close(self) -> None:
        self._scrape.close()

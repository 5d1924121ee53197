"""The Prometheus metrics backend against a real Prometheus (Debian's package) scraping the simulated platform.

A module fixture starts Prometheus on a free loopback port (data in a temp dir, 1 s scrapes) against a frozen
`tiny` cluster of this module's own (its GPU numbers do not move; the quota test edits a quota), over HTTPS
verified with the simulator's CA (``ca.crt`` beside the kubeconfig it writes):
- ``dcgm-exporter``: one target per GPU node (``/dcgm/<node>/metrics``), labelled with the exporter's own
  namespace/pod as a ServiceMonitor with honorLabels: false does, so the workloads' pod labels arrive as
  ``exported_namespace``/``exported_pod``;
- ``kube-state-metrics`` (``/ksm/metrics``) twice: with honor_labels as kube-prometheus scrapes it, and with
  the target's own namespace, so the quotas' namespace arrives as ``exported_namespace`` too;
- two hand-written exporters for what the simulator does not write: the lowercase ``hostname`` of newer
  dcgm-exporters, and a node whose GPUs are all free (no series of its target has ``exported_`` labels).

The backend must give what a direct scrape of the same simulated exporter gives (backends.dcgm), and the
quotas the Kubernetes backend lists. Where Prometheus is not installed the tests skip, except in CI (CI=true),
where they fail.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Iterator

import pytest

from backends.base import QuotaMetrics
from backends.dcgm import DcgmScrape
from backends.kubernetes import Kubernetes
from backends.prometheus import PrometheusMetrics
from prophecis_tui.domain import GpuGroup, Health, Quota, Unavailable
from prophecis_tui.feeds import MetricsPoller
from prophecis_tui.state import State
from tests.conftest import CONTEXTS, Cluster, _cluster, wait_until

from .real_services import EXPORTER_NS
from .real_services import dcgm_job as _dcgm_job
from .real_services import sim_endpoint as _sim
from .real_services import start_prometheus as _start
from .test_dcgm_scrape import Exporter

NS = "ns-risk-scorecard"
# newer dcgm-exporters write `hostname`; this GPU's pod labels become exported_* behind its target
LOWERCASE = '''DCGM_FI_DEV_GPU_UTIL{gpu="3",UUID="GPU-ccc",hostname="gpu-head",container="notebook",namespace="ns-b",pod="nb-0"} 40
DCGM_FI_DEV_FB_USED{gpu="3",UUID="GPU-ccc",hostname="gpu-head",container="notebook",namespace="ns-b",pod="nb-0"} 3000
DCGM_FI_DEV_FB_FREE{gpu="3",UUID="GPU-ccc",hostname="gpu-head",container="notebook",namespace="ns-b",pod="nb-0"} 12000
'''
# a node where no pod holds a GPU: its series carry only the target's own namespace/pod
ALL_FREE = '''DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-fff",modelName="Tesla T4",Hostname="gpu-idle"} 0
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-fff",Hostname="gpu-idle"} 2
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-fff",Hostname="gpu-idle"} 14848
'''
HANDWRITTEN_NODES = {"gpu-head", "gpu-idle"}


def _direct(cluster: Cluster) -> DcgmScrape:
    return DcgmScrape(cluster.sim.url + "/dcgm/metrics", ca_file=_sim(cluster)[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A frozen `tiny` cluster for this module alone: its quotas may be edited here."""
    yield from _cluster(tmp_path_factory.mktemp("prom-sim"), "tiny")


@pytest.fixture(scope="module")
def handwritten() -> Iterator[dict[str, Exporter]]:
    made = {"lowercase": Exporter(), "all-free": Exporter()}
    made["lowercase"].text, made["all-free"].text = LOWERCASE, ALL_FREE
    yield made
    for e in made.values():
        e.close()


@pytest.fixture(scope="module")
def prometheus(cluster, handwritten, tmp_path_factory) -> Iterator[str]:
    host, ca = _sim(cluster)
    ksm = {"scheme": "https", "metrics_path": "/ksm/metrics", "tls_config": {"ca_file": ca}}
    prom = _start(tmp_path_factory.mktemp("prometheus"), [
        _dcgm_job(cluster),
        {"job_name": "dcgm-handwritten", "static_configs": [
            {"targets": [e.url.split("//", 1)[1].split("/", 1)[0]],
             "labels": {"namespace": EXPORTER_NS, "pod": f"dcgm-exporter-{name}"}} for name, e in handwritten.items()]},
        {"job_name": "kube-state-metrics", "honor_labels": True, **ksm, "static_configs": [{"targets": [host]}]},
        {"job_name": "kube-state-metrics-renamed", **ksm, "static_configs": [
            {"targets": [host], "labels": {"namespace": "kube-system", "pod": "kube-state-metrics-0"}}]},
    ])
    try:
        yield prom.url
    finally:
        prom.stop()


def _simulated(src: PrometheusMetrics) -> dict:
    return {g.key: g for g in src.current() if g.node not in HANDWRITTEN_NODES}


# ------------------------------------------------------------------------------------------ GPUs
def test_prometheus_gives_the_numbers_the_simulated_exporter_gives(prometheus, cluster):
    direct = {g.key: g for g in _direct(cluster).current()}
    assert len(direct) == 16
    src = PrometheusMetrics(prometheus)
    wait_until(lambda: _simulated(src).keys() == direct.keys(), timeout=30, what="every simulated GPU scraped")
    got = _simulated(src)
    for key, d in direct.items():
        g = got[key]
        assert (g.util, g.fb_used_mib, g.fb_free_mib, g.temp_c, g.power_w, g.uuid, g.model) == (
            d.util, d.fb_used_mib, d.fb_free_mib, d.temp_c, d.power_w, d.uuid, d.model), key
        assert (g.namespace, g.pod, g.container) == (d.namespace, d.pod, d.container), key  # from exported_*
    held = [g for g in got.values() if g.pod]
    assert held and len(held) < len(got)  # some GPUs held, some free: both ways are checked
    assert all(g.namespace.startswith("ns-") for g in held)
    assert not any(g.pod.startswith("dcgm-exporter") for g in src.current())  # never the exporter's own pod
    series = src._prom.custom_query('count(DCGM_FI_DEV_GPU_UTIL{exported_pod!="", job="dcgm-exporter"})')
    assert float(series[0]["value"][1]) == len(held)  # the pod labels did come renamed


def test_label_variants_the_simulator_does_not_write(prometheus):
    src = PrometheusMetrics(prometheus)
    wait_until(lambda: HANDWRITTEN_NODES <= {g.node for g in src.current()}, timeout=30, what="hand-written scraped")
    got = {g.key: g for g in src.current()}
    head, idle = got["gpu-head/3"], got["gpu-idle/0"]
    assert (head.util, head.fb_used_mib, head.namespace, head.pod, head.container) == (
        40.0, 3000.0, "ns-b", "nb-0", "notebook")  # lowercase hostname, exported_ pod labels
    # no series of this target carries exported_ labels: only its `up` says these labels are the exporter's
    assert (idle.util, idle.model, idle.namespace, idle.pod, idle.container) == (0.0, "Tesla T4", "", "", "")


def test_history_has_points(prometheus, cluster):
    direct = {g.key: g for g in _direct(cluster).current()}
    busy = max((g for g in direct.values() if g.pod), key=lambda g: g.util or 0)
    src = PrometheusMetrics(prometheus)
    wait_until(lambda: len(src.history(busy.key, 60)) >= 3, timeout=30, what="three seconds of history")
    points = src.history(busy.key, 60)
    assert all(u == busy.util and m == pytest.approx(busy.mem_pct) for _, u, m in points[-2:])
    assert points == sorted(points) and busy.util and busy.util > 50
    wait_until(lambda: len(src.history("gpu-head/3", 60)) >= 2, timeout=30, what="history by lowercase hostname")
    assert all(u == 40.0 and m == pytest.approx(20.0) for _, u, m in src.history("gpu-head/3", 60))
    assert src.history("no-such-node/0", 60) == []


def test_a_nodes_and_a_namespaces_history_are_the_means_of_their_gpus(prometheus, cluster):
    """The chart of a node or a namespace on :gpu: Prometheus' own history of the mean over their GPUs."""
    direct = list(_direct(cluster).current())
    node = max({g.node for g in direct}, key=lambda n: sum(1 for g in direct if g.node == n))
    ns = max({g.namespace for g in direct if g.pod}, key=lambda n: sum(1 for g in direct if g.namespace == n))
    src = PrometheusMetrics(prometheus)
    for key, members in ((f"node:{node}", [g for g in direct if g.node == node]),
                         (f"ns:{ns}", [g for g in direct if g.pod and g.namespace == ns])):
        wait_until(lambda: len(src.group_history(key, 60)) >= 2, timeout=30, what=f"history of {key}")
        _, util, mem = src.group_history(key, 60)[-1]
        assert util == pytest.approx(sum(g.util for g in members) / len(members)), key
        assert mem == pytest.approx(sum(g.mem_pct for g in members) / len(members)), key
    assert src.group_history("node:gpu-head", 60)[-1][1] == 40.0  # the lowercase hostname spelling
    assert src.group_history("ns:no-such-namespace", 60) == []


def test_a_business_systems_history_is_the_mean_of_the_gpus_its_members_select(prometheus, cluster):
    """A business system's chart (sys:<id>): the mean over the GPUs its namespaces, pods and nodes hold now, each
    GPU once even when two members select it; the label spellings of both exporter forms."""
    direct = list(_direct(cluster).current())
    held = sorted((g for g in direct if g.pod), key=lambda g: g.key)
    ns = held[0].namespace
    other = next(g for g in held if g.namespace != ns)
    node = next(n for n in sorted({g.node for g in direct}) if n != other.node)
    members = GpuGroup(namespaces=(ns,), pods=((other.namespace, other.pod),), nodes=(node, "gpu-head"))
    src = PrometheusMetrics(prometheus)
    wait_until(lambda: "gpu-head/3" in {g.key for g in src.current()}, timeout=30, what="hand-written scraped")
    chosen = [g for g in src.current() if g.pod and g.namespace == ns or (g.namespace, g.pod) == (
        other.namespace, other.pod) or g.node in (node, "gpu-head")]
    assert {g.node for g in chosen} >= {node, "gpu-head", other.node}
    wait_until(lambda: len(src.group_history("sys:X", 60, members=members)) >= 2, timeout=30, what="system history")
    _, util, mem = src.group_history("sys:X", 60, members=members)[-1]
    assert util == pytest.approx(sum(g.util for g in chosen) / len(chosen))
    assert mem is not None
    assert src.group_history("sys:X", 60, members=GpuGroup()) == []  # holds no GPU now: nothing to ask
    only_pod = GpuGroup(pods=((other.namespace, other.pod),))
    wait_until(lambda: src.group_history("sys:Y", 60, members=only_pod), timeout=30, what="one pod's history")
    pod_gpus = [g for g in direct if (g.namespace, g.pod) == (other.namespace, other.pod)]
    assert src.group_history("sys:Y", 60, members=only_pod)[-1][1] == pytest.approx(
        sum(g.util for g in pod_gpus) / len(pod_gpus))


def test_the_poller_brings_kube_state_metrics_quotas_to_a_user_who_may_not_list_them(prometheus, cluster):
    """The console's state has no ResourceQuota list here (as for a user who may not list them): the poller's
    kube-state-metrics quotas fill in, and the :quota screen says where they came from."""
    src = PrometheusMetrics(prometheus)
    wait_until(lambda: src.quotas(), timeout=30, what="kube_resourcequota scraped")
    state = State()
    poller = MetricsPoller(src, state, interval=0.2)
    poller.start()
    try:
        wait_until(lambda: state.quotas().keys() == src.quotas().keys(), timeout=10, what="quotas in the state")
        assert all(state.quota_from_metrics(ns) for ns in state.quotas())
    finally:
        poller.stop()
        poller.join(5)


def test_the_poller_asks_prometheus_for_a_business_systems_history_through_its_members(prometheus, cluster):
    """The :gpu chart of a business system on Prometheus: the poller names the system's members (its namespace,
    from the CMDB in the state, as the GPUs show it now) and Prometheus answers with its own history of them."""
    from prophecis_tui.domain import BusinessSystem
    src = PrometheusMetrics(prometheus)
    wait_until(lambda: any(g.pod for g in src.current()), timeout=30, what="held GPUs scraped")
    ns = next(g.namespace for g in src.current() if g.pod and g.namespace.startswith("ns-"))
    state = State()
    poller = MetricsPoller(src, state, interval=0.2)
    poller.start()
    try:
        wait_until(lambda: state.gpus(), timeout=10, what="GPUs in the state")
        assert poller.history("sys:S1", 60) == []  # no CMDB: no members, nothing asked
        state.set_business_systems([BusinessSystem(id="S1", name="测试系统", namespaces=(ns,))])
        wait_until(lambda: len(poller.history("sys:S1", 60)) >= 2, timeout=30, what="the system's history")
        held = [g for g in state.gpus() if g.pod and g.namespace == ns]
        assert poller.history("sys:S1", 60)[-1][1] == pytest.approx(sum(g.util for g in held) / len(held))
    finally:
        poller.stop()
        poller.join(5)


# ------------------------------------------------------------------------------------------ quotas
def _fields(q: Quota) -> tuple:
    return (q.namespace, q.name, q.gpu_hard, q.gpu_used, q.gpu_base, q.gpu_limit, q.cpu_hard, q.cpu_used,
            q.memory_hard, q.memory_used)


def test_quotas_are_the_ones_the_kubernetes_backend_lists(prometheus, cluster):
    k8s = Kubernetes.from_kubeconfig(str(cluster.kubeconfig), CONTEXTS["admin"])
    src = PrometheusMetrics(prometheus)
    assert isinstance(src, QuotaMetrics)
    try:
        def listed() -> dict:
            return {q.namespace: _fields(q) for q in k8s.list("resourcequotas").items}

        def through_prometheus() -> dict:
            return {ns: _fields(q) for ns, q in src.quotas().items()}
        want = listed()
        assert len(want) == 2 and want[NS][3] == 3.0  # two tenants; 3 GPUs in use in this one
        wait_until(lambda: through_prometheus() == want, timeout=30, what="kube_resourcequota scraped")
        assert all(ns == q.namespace and q.uid == "" for ns, q in src.quotas().items())
        renamed = src._prom.custom_query('count(kube_resourcequota{exported_namespace!=""})')
        assert renamed and float(renamed[0]["value"][1]) > 0  # both spellings of the namespace were there to read

        # an edit reaches Prometheus: a maximum in limits.nvidia.com/gpu, CPU in millicores, memory in Gi
        cluster.core().patch_namespaced_resource_quota("mlss-default-rq", NS, {"spec": {"hard": {
            "limits.nvidia.com/gpu": "12", "requests.cpu": "95500m", "requests.memory": "700Gi"}}})
        wait_until(lambda: listed()[NS][5] == 12.0, timeout=10, what="the edit in the API")
        want = listed()
        wait_until(lambda: through_prometheus() == want, timeout=30, what="the edit through Prometheus")
        q = src.quotas()[NS]
        assert (q.gpu_base, q.gpu_limit, q.cpu_hard, q.memory_hard) == (8.0, 12.0, 95.5, 700 * 2 ** 30)
    finally:
        k8s.close()
        src.close()


# ------------------------------------------------------------------------------------------ failures
def test_an_outage_keeps_the_last_numbers_stale_and_without_kube_state_metrics_no_quotas(cluster, tmp_path):
    """A Prometheus of its own (only the GPU exporters), stopped under a running poller."""
    prom = _start(tmp_path / "prometheus", [_dcgm_job(cluster)])
    state = State()
    poller = MetricsPoller(PrometheusMetrics(prom.url, timeout=1.0), state, interval=0.2)

    def health():
        return state.source_health("metrics")
    try:
        poller.start()
        wait_until(lambda: len(state.gpus()) == 16 and health().state == Health.LIVE, timeout=30, what="live")
        assert state.gpu_source == "prometheus"
        assert PrometheusMetrics(prom.url).quotas() == {}  # no kube_resourcequota series: none, not an error
        prom.stop()
        wait_until(lambda: health().state == Health.STALE, timeout=10, what="stale")
        assert health().reason.startswith(f"Prometheus {prom.url}") and len(state.gpus()) == 16
    finally:
        poller.stop()
        poller.join(5)
        prom.stop()


def test_a_prometheus_that_never_answered_is_failing():
    state = State()
    poller = MetricsPoller(PrometheusMetrics("http://127.0.0.1:9", timeout=1.0), state, interval=0.2)
    try:
        poller.start()
        wait_until(lambda: state.source_health("metrics").state == Health.FAILING, timeout=10, what="failing")
        assert state.gpus() == [] and "Prometheus http://127.0.0.1:9" in state.source_health("metrics").reason
    finally:
        poller.stop()
        poller.join(5)


def test_an_unreachable_or_erroring_prometheus_is_unavailable():
    t = time.monotonic()
    down = PrometheusMetrics("http://127.0.0.1:9", timeout=2)
    for call in (down.current, down.quotas, lambda: down.history("n/0", 60)):
        with pytest.raises(Unavailable, match="Prometheus http://127.0.0.1:9"):
            call()
    overloaded = Exporter()  # any HTTP server answering 503 stands for an overloaded Prometheus
    overloaded.status = 503
    try:
        busy = PrometheusMetrics(overloaded.url.rsplit("/", 1)[0], timeout=2)
        for call in (busy.current, busy.quotas):
            with pytest.raises(Unavailable, match="Prometheus") as err:
                call()
            assert "\n" not in err.value.message
    finally:
        overloaded.close()
    assert time.monotonic() - t < 15  # not the client's default 6 s backoff per call


# ------------------------------------------------------------------------------------------ found in the cluster
# 'auto' looks for GPU metrics through the API server (backends.discovery): the simulated kube-prometheus Service
# monitoring/prometheus-k8s forwards to a real Prometheus here (the simulator's test-only admin call), reached
# through the service proxy with the kubeconfig's credentials, as from a jump host.
PROM_SERVICE = ("monitoring", "prometheus-k8s")
PROM_PROXY = "/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy"


def _upstream(cluster: Cluster, url: str | None) -> None:
    """``POST /sim/admin/upstream``: the Prometheus behind monitoring/prometheus-k8s (None: none)."""
    import ssl
    ctx = ssl.create_default_context(cafile=_sim(cluster)[1])
    req = urllib.request.Request(cluster.sim.url + "/sim/admin/upstream", method="POST", data=json.dumps(
        {"namespace": PROM_SERVICE[0], "service": PROM_SERVICE[1], "url": url}).encode(),
        headers={"Authorization": f"Bearer {cluster.thread.token('admin')}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        assert resp.status == 200


def _numbers(gpus) -> dict:
    return {g.key: (g.util, g.fb_used_mib, g.fb_free_mib, g.temp_c, g.power_w, g.uuid, g.model, g.namespace, g.pod,
                    g.container) for g in gpus if g.node not in HANDWRITTEN_NODES}


def test_auto_finds_the_prometheus_with_dcgm_series_and_reads_it_through_the_proxy(prometheus, cluster):
    from backends.discovery import detect, source_for
    from prophecis_tui.cli import metrics_backend
    from prophecis_tui.config import MetricsSettings
    direct = _numbers(_direct(cluster).current())
    straight = PrometheusMetrics(prometheus)
    wait_until(lambda: _numbers(straight.current()) == direct, timeout=30, what="every simulated GPU scraped")
    _upstream(cluster, prometheus)
    k = Kubernetes.from_kubeconfig(str(cluster.kubeconfig), CONTEXTS["viewer"], read_only=True)
    try:
        det = detect(k)
        assert det.found is not None and (det.found.kind, det.found.namespace, det.found.service, det.found.port) == (
            "prometheus", *PROM_SERVICE, 9090)
        assert det.tried == ["monitoring/prometheus-k8s:9090: ok"]  # first: the exporter Service is not tried
        src = source_for(det.found, k.api_access())
        assert src.name == "prometheus" and src.url == cluster.sim.url + PROM_PROXY
        assert _numbers(src.current()) == direct  # through the proxy: the numbers the exporter gives
        busy = max((key for key, v in direct.items() if v[8]), key=lambda key: direct[key][0] or 0)
        wait_until(lambda: len(src.history(busy, 60)) >= 2, timeout=30, what="history through the proxy")
        assert src.history(busy, 60)[-1][1] == direct[busy][0]
        wait_until(lambda: straight.quotas(), timeout=30, what="kube_resourcequota scraped")
        assert src.quotas() == straight.quotas()
        src.close()
        cli, note = metrics_backend(MetricsSettings(), None, k)  # the console's 'auto'
        assert (cli.name, cli.url, note) == ("prometheus", cluster.sim.url + PROM_PROXY, "")
        cli.close()
        # a token the API server rejects: a one-line error without it
        wrong = PrometheusMetrics(cluster.sim.url + PROM_PROXY, ca_file=_sim(cluster)[1],
                                  headers=lambda: {"Authorization": "Bearer not-a-valid-token-4242"})
        with pytest.raises(Unavailable, match="401") as err:
            wrong.current()
        assert "not-a-valid-token-4242" not in err.value.message and "\n" not in err.value.message
        assert not any(i.token in err.value.message for i in cluster.sim.identities)
    finally:
        k.close()
        straight.close()
        _upstream(cluster, None)


def test_a_prometheus_without_dcgm_series_is_skipped_for_the_exporter(cluster, tmp_path):
    """A Prometheus that scrapes other things (kube-state-metrics only): `count(DCGM_FI_DEV_GPU_UTIL)` is empty,
    so the GPU operator's exporter Service is taken."""
    from backends.discovery import detect
    host, ca = _sim(cluster)
    prom = _start(tmp_path / "prometheus", [{"job_name": "kube-state-metrics", "honor_labels": True, "scheme": "https",
                                              "metrics_path": "/ksm/metrics", "tls_config": {"ca_file": ca},
                                              "static_configs": [{"targets": [host]}]}])
    k = Kubernetes.from_kubeconfig(str(cluster.kubeconfig), CONTEXTS["admin"])
    try:
        other = PrometheusMetrics(prom.url)
        wait_until(lambda: other.quotas(), timeout=30, what="kube-state-metrics scraped")  # it answers, with series
        _upstream(cluster, prom.url)
        det = detect(k)
        assert det.found is not None and (det.found.kind, det.found.service) == ("dcgm", "nvidia-dcgm-exporter")
        assert det.tried == ["monitoring/prometheus-k8s:9090: no DCGM series",
                             "gpu-operator/nvidia-dcgm-exporter:9400: ok"]
    finally:
        k.close()
        _upstream(cluster, None)
        prom.stop()

"""GPU metrics found in the cluster when ``[metrics]`` names none (backends.discovery), against the simulator.

Everything goes through the API server with the kubeconfig's credentials, as from a jump host: the Services are
listed, and the GPU operator's ``gpu-operator/nvidia-dcgm-exporter`` is read through the service proxy. The
simulated ``monitoring/prometheus-k8s`` has no Prometheus behind it here (503, no endpoints): it is tried first
and skipped. A real Prometheus behind it is tested in test_prometheus.py.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

from backends.dcgm import DcgmScrape
from backends.discovery import USUAL_NAMESPACES, ExporterPods, candidates, detect, source_for
from backends.kubernetes import Kubernetes
from prophecis_tui.cli import metrics_backend
from prophecis_tui.config import MetricsSettings
from prophecis_tui.domain import Forbidden, Unavailable
from tests.conftest import CONTEXTS, Cluster

from .fake_nvml import FakeNvml, Gpu
from .test_kubernetes import assert_no_token, kubeconfig_doc, write_yaml

EXPORTER = ("gpu-operator", "nvidia-dcgm-exporter")
PROXY_PATH = "/api/v1/namespaces/gpu-operator/services/nvidia-dcgm-exporter:9400/proxy/metrics"
POD_PATH = "/api/v1/namespaces/gpu-operator/pods/{pod}:9400/proxy/metrics"


def _fields(g) -> tuple:
    return (g.key, g.util, g.fb_used_mib, g.fb_free_mib, g.temp_c, g.power_w, g.uuid, g.model, g.namespace, g.pod,
            g.container)


def _direct(c: Cluster) -> DcgmScrape:
    return DcgmScrape(c.sim.url + "/dcgm/metrics", ca_file=str(c.kubeconfig.parent / "ca.crt"))


def _all_gpus(c: Cluster) -> int:
    return c.call(lambda: sum(n.gpus for n in c.sim.engine.nodes.values()))


def _exporter_pods(c: Cluster) -> list[tuple[str, str]]:
    """(pod, node) of the GPU operator's exporter pods, sorted by pod name."""
    pods = c.core().list_namespaced_pod(EXPORTER[0], label_selector="app=nvidia-dcgm-exporter").items
    return sorted((p.metadata.name, p.spec.node_name) for p in pods)


def _pod_urls(c: Cluster) -> list[str]:
    return [c.sim.url + POD_PATH.format(pod=pod) for pod, _ in _exporter_pods(c)]


def _nodes(gpus) -> set[str]:
    return {g.node for g in gpus}


# ------------------------------------------------------------------------------------------ what is found
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_the_gpu_operators_exporter_is_found_and_each_pod_read_through_the_proxy(small, small_backend, role):
    """The Prometheus Service answers 503 (nothing behind it): tried first, skipped; then the exporter Service.
    Its Endpoints name one pod per GPU node, each read through the pods proxy: every GPU of every node has the
    numbers the exporter gives directly."""
    k = small_backend(role, read_only=True)  # read-only contexts may read through the proxy
    det = detect(k)
    assert det.found is not None and (det.found.kind, det.found.namespace, det.found.service, det.found.port) == (
        "dcgm", *EXPORTER, 9400)
    assert det.tried == ['monitoring/prometheus-k8s:9090: HTTP 503 (no endpoints available for service '
                         '"prometheus-k8s")', "gpu-operator/nvidia-dcgm-exporter:9400: ok"]
    assert "all namespaces" in det.looked
    src = source_for(det.found, k.api_access())
    try:
        pods = _exporter_pods(small)
        assert len(pods) == len({n for _, n in pods}) >= 2  # one per GPU node
        assert src.name == "dcgm" and sorted(src.urls) == _pod_urls(small) and src.note == ""
        assert sorted((pod, node) for _, pod, node in src.pods) == pods
        through = {g.key: _fields(g) for g in src.current()}
        direct = {g.key: _fields(g) for g in _direct(small).current()}
        assert len(through) == _all_gpus(small) and through == direct  # every node, not one
        assert {k.split("/")[0] for k in through} == {n for _, n in pods}
        assert any(g[9] for g in through.values()) and any(not g[9] for g in through.values())  # held and free
        assert src.history(next(iter(through)), 60)  # the scrape keeps its own history, as a direct one does
    finally:
        src.close()


def test_a_service_only_scrape_sees_one_node_per_request(small, small_backend):
    """What reading the exporter Service alone would show: through the Service the API server picks one exporter
    pod per request, so one node's GPUs per scrape, another node the next time."""
    k = small_backend("viewer", read_only=True)
    scrape = DcgmScrape(small.sim.url + PROXY_PATH, headers=k.api_access().headers,
                        ca_file=str(small.kubeconfig.parent / "ca.crt"))
    try:
        seen = [_nodes(scrape.current()) for _ in range(2)]
    finally:
        scrape.close()
    assert all(len(nodes) == 1 for nodes in seen) and seen[0] != seen[1]
    per_node = _all_gpus(small) // len(_exporter_pods(small))
    src = source_for(detect(k).found, k.api_access())
    try:
        assert len(src.current()) == _all_gpus(small) > per_node  # the pods, each read: the whole cluster
    finally:
        src.close()


def test_a_user_who_may_not_list_services_cluster_wide_finds_it_in_the_usual_namespaces(small, small_backend):
    """The group admin lists Services only in its tenants' namespaces and, through the GPU dashboards' binding,
    in monitoring and gpu-operator."""
    k = small_backend("group-admin")
    with pytest.raises(Forbidden):
        k.services(None, "app=nvidia-dcgm-exporter")
    det = detect(k)
    assert det.found is not None and (det.found.namespace, det.found.service) == EXPORTER
    assert "namespaces monitoring, gpu-operator" in det.looked  # the others it may not read: skipped
    src = source_for(det.found, k.api_access())
    try:
        assert sorted(src.urls) == _pod_urls(small) and src.note == ""  # endpoints and pods/proxy: its binding
        assert len(src.current()) == _all_gpus(small)
    finally:
        src.close()


def test_cli_auto_finds_the_exporter_without_the_demos_shortcut(small, small_backend):
    """`metrics_backend` for 'auto' with the context's connection and no demo directory: the exporter through
    the API server's proxy, and no note."""
    k = small_backend("viewer", read_only=True)
    src, note = metrics_backend(MetricsSettings(), None, k)
    try:
        assert note == "" and src.name == "dcgm" and sorted(src.urls) == _pod_urls(small)
        assert len(src.current()) == _all_gpus(small)
    finally:
        src.close()


def test_configured_sources_are_not_replaced_by_what_the_cluster_has(small_backend):
    k = small_backend("admin")
    src, note = metrics_backend(MetricsSettings(source="dcgm", dcgm_url="http://dcgm:9400/metrics"), None, k)
    assert src.urls == ["http://dcgm:9400/metrics"] and note == ""
    src, note = metrics_backend(MetricsSettings(source="none"), None, k)
    assert src is None and "metrics.source = \"none\"" in note


# ------------------------------------------------------------------------------------------ nothing found
def _delete_exporter_service(c: Cluster) -> None:
    resp = c.core().delete_namespaced_service(EXPORTER[1], EXPORTER[0], _preload_content=False)
    assert resp.status == 200


def test_without_a_gpu_service_auto_falls_back_to_nvml_then_to_none_with_the_note(tiny, tiny_backend, monkeypatch):
    _delete_exporter_service(tiny)
    k = tiny_backend("admin")
    det = detect(k)
    assert det.found is None
    assert det.tried == ['monitoring/prometheus-k8s:9090: HTTP 503 (no endpoints available for service '
                         '"prometheus-k8s")']
    # a machine with a GPU: NVML (a stand-in module with nvidia-ml-py's names)
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([Gpu(util=42)]))
    src, note = metrics_backend(MetricsSettings(), None, k)
    assert (src.name, note) == ("nvml", "") and src.current()[0].util == 42.0
    src.close()
    # none: the note says what was looked for, what was seen, and how to configure a source
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([], init_error=9))
    src, note = metrics_backend(MetricsSettings(), None, k)
    assert src is None
    assert note.startswith("no GPU metrics source: looked in the cluster (all namespaces) for a Prometheus with "
                           "DCGM series and a dcgm-exporter Service: monitoring/prometheus-k8s:9090: HTTP 503")
    assert "no local GPU: Driver Not Loaded" in note and "prometheus_url" in note and "dcgm_url" in note
    assert "\n" not in note
    assert_no_token(tiny, note)


def test_a_user_who_may_read_no_monitoring_namespace_is_told_so(tiny, tiny_backend):
    ident = tiny.sim.identity("group-admin")
    tiny.call(lambda: ident.rules.__setitem__(slice(None), [
        r for r in ident.rules if not (r.namespaces and "gpu-operator" in r.namespaces)]))
    det = detect(tiny_backend("group-admin"))
    assert det.found is None and det.tried == []
    assert det.looked == ("looked in the cluster (may not list Services cluster-wide nor in "
                          + ", ".join(USUAL_NAMESPACES) + ") for a Prometheus with DCGM series and a dcgm-exporter "
                          "Service: none found")


def test_a_user_who_may_list_but_not_proxy_gets_forbidden_in_the_note(tiny, tiny_backend):
    ident = tiny.sim.identity("group-admin")
    tiny.call(lambda: ident.rules.__setitem__(slice(None), [
        r for r in ident.rules if not (r.namespaces and "gpu-operator" in r.namespaces
                                       and "services/proxy" in r.resources)]))
    det = detect(tiny_backend("group-admin"))
    assert det.found is None
    assert det.tried == ["monitoring/prometheus-k8s:9090: forbidden", "gpu-operator/nvidia-dcgm-exporter:9400: forbidden"]


def _take_away(c: Cluster, resource: str) -> None:
    """The group admin's monitoring binding without ``resource`` in gpu-operator."""
    ident = c.sim.identity("group-admin")

    def drop():
        rules = []
        for r in ident.rules:
            if r.namespaces and "gpu-operator" in r.namespaces and resource in r.resources:
                r = dataclasses.replace(r, resources=r.resources - {resource})
            if r.resources:
                rules.append(r)
        ident.rules[:] = rules
    c.call(drop)


def test_a_user_who_may_not_get_pods_proxy_falls_back_to_the_service_with_the_note(tiny, tiny_backend):
    _take_away(tiny, "pods/proxy")
    k = tiny_backend("group-admin")
    src = source_for(detect(k).found, k.api_access())
    try:
        assert sorted(src.urls) == _pod_urls(tiny)  # the Endpoints may be read: the pods are tried
        gpus = src.current()  # 403 from every pod: the Service instead
        assert src.urls == [tiny.sim.url + PROXY_PATH] and src.pods == []
        assert src.note == ("dcgm-exporter gpu-operator/nvidia-dcgm-exporter: the pods proxy is forbidden "
                            "(get pods/proxy); reading the Service, which answers for one node per scrape")
        assert len(_nodes(gpus)) == 1 and len(_nodes(src.current())) == 1
        assert_no_token(tiny, src.note)
    finally:
        src.close()


def test_a_user_who_may_not_read_the_endpoints_reads_the_service_with_the_note(tiny, tiny_backend):
    _take_away(tiny, "endpoints")
    k = tiny_backend("group-admin")
    src = source_for(detect(k).found, k.api_access())
    try:
        assert src.urls == [tiny.sim.url + PROXY_PATH]
        assert src.note.startswith("dcgm-exporter gpu-operator/nvidia-dcgm-exporter: cannot read its Endpoints "
                                   "(forbidden); reading the Service") and "\n" not in src.note
        assert len(_nodes(src.current())) == 1
    finally:
        src.close()


def test_an_exporter_pod_that_goes_away_is_dropped_at_the_next_endpoints_refresh(tiny, tiny_backend):
    k = tiny_backend("viewer", read_only=True)
    now = [0.0]
    src = ExporterPods(detect(k).found, k.api_access(), refresh=60.0, clock=lambda: now[0])
    try:
        pods = _exporter_pods(tiny)
        assert len(src.current()) == _all_gpus(tiny)
        gone, gone_node = pods[0]
        resp = tiny.core().delete_namespaced_pod(gone, EXPORTER[0], grace_period_seconds=0, _preload_content=False)
        assert resp.status == 200
        # before the refresh: its URL fails (404), the other pods still answer
        left = src.current()
        assert _nodes(left) == {n for _, n in pods[1:]} and len(src.urls) == len(pods)
        now[0] = 61.0  # the next refresh: the Endpoints no longer name it
        direct = {g.key: _fields(g) for g in _direct(tiny).current() if g.node != gone_node}
        assert {g.key: _fields(g) for g in src.current()} == direct
        assert sorted(src.urls) == _pod_urls(tiny) and len(src.urls) == len(pods) - 1 and src.note == ""
    finally:
        src.close()


def test_pod_urls_on_one_api_host_keep_their_nodes_apart(tmp_path):
    """Exporters run with --no-hostname: their series carry no node, the same label texts on every node. Each
    pod URL's node (from the Endpoints) names its GPUs and keys its caches; without it the API server's host
    would, and two nodes' GPU 0 would be one."""
    import http.server
    import threading
    line = 'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-{n}",modelName="NVIDIA A100"} {v}\n'
    texts = {"/a/metrics": line.replace("{n}", "a").replace("{v}", "11"),
             "/b/metrics": line.replace("{n}", "b").replace("{v}", "22")}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = texts[self.path].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    a, b = base + "/a/metrics", base + "/b/metrics"
    try:
        scrape = DcgmScrape([a, b], nodes={a: "gpu-a", b: "gpu-b"})
        for _ in range(2):  # the second time from the caches
            assert {(g.key, g.util, g.uuid) for g in scrape.current()} == {("gpu-a/0", 11.0, "GPU-a"),
                                                                          ("gpu-b/0", 22.0, "GPU-b")}
        scrape.set_urls([b], {b: "gpu-b"})  # pod a went away: its cache with it
        assert [(g.key, g.util) for g in scrape.current()] == [("gpu-b/0", 22.0)]
        assert set(scrape._series) == {"gpu-b"}
        scrape.close()
        one = DcgmScrape([a, b])  # without the nodes: both on host 127.0.0.1, one GPU
        assert [g.key for g in one.current()] == ["127.0.0.1/0"]
        one.close()
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_or_failing_api_is_not_an_error(tiny, tiny_backend, tmp_path):
    tiny.call(lambda: tiny.sim.faults.update({"error_rate": 1.0}))  # every API answer a 5xx
    try:
        det = detect(tiny_backend("admin"))
    finally:
        tiny.call(lambda: tiny.sim.faults.update({"error_rate": 0.0}))
    assert det.found is None and "for a Prometheus with DCGM series" in det.looked
    doc = kubeconfig_doc(tiny)
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    k = Kubernetes.from_kubeconfig(str(write_yaml(tmp_path / "kc", doc)), CONTEXTS["admin"])
    try:
        det = detect(k, budget=3.0)
        assert det.found is None
        assert det.looked.startswith("looked in the cluster (the API did not answer)")
        assert_no_token(tiny, det.looked)
    finally:
        k.close()


def test_detection_stays_within_its_budget_on_a_slow_api(tiny, tiny_backend):
    tiny.call(lambda: tiny.sim.faults.update({"latency_ms": 400}))
    try:
        det = detect(tiny_backend("group-admin"), budget=1.0, request_timeout=2.0)
    finally:
        tiny.call(lambda: tiny.sim.faults.update({"latency_ms": 0}))
    assert det.found is None and det.looked.endswith("; gave up after 1 s")  # not all five namespaces asked


# ------------------------------------------------------------------------------------------ credentials
def test_rejected_credentials_leave_no_secret_in_texts(tiny, tiny_backend, tmp_path):
    doc = kubeconfig_doc(tiny)
    for u in doc["users"]:
        u["user"]["token"] = "sim-admin-not-the-right-one-0123456789"
    k = Kubernetes.from_kubeconfig(str(write_yaml(tmp_path / "kc", doc)), CONTEXTS["admin"])
    try:
        det = detect(k)
        assert det.found is None and "credentials rejected" in det.looked
        scrape = DcgmScrape(tiny.sim.url + PROXY_PATH, headers=k.api_access().headers,
                            ca_file=str(tiny.kubeconfig.parent / "ca.crt"))
        with pytest.raises(Unavailable) as err:
            scrape.current()
        assert err.value.message == ("service gpu-operator/nvidia-dcgm-exporter through "
                                     f"{tiny.sim.url.split('//')[1]} answered HTTP 401")
        for text in (det.looked, err.value.message, repr(k.api_access()), *det.tried):
            assert "not-the-right-one" not in text
            assert_no_token(tiny, text)
    finally:
        k.close()
    good = tiny_backend("admin").api_access()
    assert "Bearer" not in repr(good) and tiny.sim.identity("admin").token not in repr(good)
    assert good.headers() == {"Authorization": f"Bearer {tiny.sim.identity('admin').token}"}


PLUGIN = """import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
(d / "runs").write_text(str(int((d / "runs").read_text() or 0) + 1) if (d / "runs").exists() else "1")
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {
    "token": (d / "token").read_text().strip(), "expirationTimestamp": "2000-01-01T00:00:00Z"}}))
"""


def test_an_exec_plugins_token_is_asked_for_afresh_when_it_expired(tiny, tmp_path):
    """A token from an exec plugin that has expired is renewed before a scrape through the proxy: the header is
    never kept by the scrape."""
    (tmp_path / "plugin.py").write_text(PLUGIN)
    (tmp_path / "token").write_text(tiny.sim.identity("viewer").token)
    doc = kubeconfig_doc(tiny)
    user = next(u for u in doc["users"] if u["name"].startswith("sim-viewer"))
    user["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                             "args": [str(tmp_path / "plugin.py"), str(tmp_path)], "interactiveMode": "Never"}}
    k = Kubernetes.from_kubeconfig(str(write_yaml(tmp_path / "kc", doc)), CONTEXTS["viewer"], read_only=True)
    try:
        det = detect(k)
        assert det.found is not None and det.found.service == EXPORTER[1]
        src = source_for(det.found, k.api_access())
        runs = int((tmp_path / "runs").read_text())
        assert len(src.current()) == _all_gpus(tiny)
        assert int((tmp_path / "runs").read_text()) > runs  # the plugin ran again for this scrape
        (tmp_path / "token").write_text("revoked-token-value")
        with pytest.raises(Unavailable, match="answered HTTP 401"):
            src.current()
        (tmp_path / "token").write_text(tiny.sim.identity("viewer").token)
        assert len(src.current()) == _all_gpus(tiny)
        src.close()
    finally:
        k.close()


# ------------------------------------------------------------------------------------------ the matching
def _svc(ns: str, name: str, labels: dict, ports: list[dict]) -> dict:
    return {"metadata": {"namespace": ns, "name": name, "labels": labels}, "spec": {"ports": ports}}


def test_candidates_by_label_name_and_port():
    services = [
        _svc("monitoring", "prometheus-operated", {"operated-prometheus": "true"}, [{"name": "web", "port": 9090}]),
        _svc("monitoring", "prometheus-k8s", {"app.kubernetes.io/name": "prometheus"},
             [{"name": "web", "port": 9090}, {"name": "reloader-web", "port": 8080}]),
        _svc("obs", "prom", {"app": "prometheus", "component": "server"}, [{"name": "http", "port": 80}]),
        _svc("obs", "prom-alertmanager", {"app": "prometheus", "component": "alertmanager"},
             [{"name": "http", "port": 80}]),  # the old chart's alertmanager: not a Prometheus
        _svc("kube-system", "grafana", {"app": "grafana"}, [{"name": "http", "port": 3000}]),
        _svc("gpu-operator", "nvidia-dcgm-exporter", {"app": "nvidia-dcgm-exporter"},
             [{"name": "gpu-metrics", "port": 9400}]),
        _svc("kube-system", "dcgm", {"app.kubernetes.io/name": "dcgm-exporter"}, [{"name": "metrics", "port": 9500}]),
        _svc("kube-system", "dcgm-tls", {"app.kubernetes.io/name": "dcgm-exporter"}, [{"name": "https", "port": 443}]),
    ]
    got = [(c.kind, c.namespace, c.service, c.port, c.scheme) for c in candidates(services)]
    assert got == [
        ("prometheus", "monitoring", "prometheus-k8s", 9090, ""),  # the well-known names, in their order
        ("prometheus", "monitoring", "prometheus-operated", 9090, ""),
        ("prometheus", "obs", "prom", 80, ""),  # a port named http, in a namespace not among the usual
        ("dcgm", "gpu-operator", "nvidia-dcgm-exporter", 9400, ""),
        ("dcgm", "kube-system", "dcgm", 9500, ""),  # a port named metrics
    ]  # no port of dcgm-tls is the exporter's


def test_the_simulators_services_are_what_a_gpu_operator_cluster_has(small):
    svc = small.core("viewer").read_namespaced_service(EXPORTER[1], EXPORTER[0])
    assert svc.metadata.labels == {"app": "nvidia-dcgm-exporter"}
    assert [(p.name, p.port) for p in svc.spec.ports] == [("gpu-metrics", 9400)]
    raw = json.loads(small.core().list_service_for_all_namespaces(
        label_selector="app.kubernetes.io/name in (prometheus,dcgm-exporter)", _preload_content=False).data)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in raw["items"]] == [
        ("monitoring", "prometheus-k8s")]


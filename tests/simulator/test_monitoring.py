"""The GPU monitoring Services of the simulated cluster, through the API server's service proxy:
``gpu-operator/nvidia-dcgm-exporter`` (the GPU operator's exporter Service in front of its DaemonSet's pods, one
per GPU node: each request through the Service reaches one pod, one node's text; each pod through the pods proxy;
the Service's Endpoints list them) and
``monitoring/prometheus-k8s`` (no Prometheus behind it unless a test sets one with ``POST /sim/admin/upstream``)."""

from __future__ import annotations

import json
import re
from typing import Iterator

import pytest
from kubernetes import client

from tests.backends.test_dcgm_scrape import Exporter
from tests.conftest import Cluster

from .test_predict import call

GPU_NS = "gpu-operator"
EXPORTER = "/api/v1/namespaces/gpu-operator/services/nvidia-dcgm-exporter:9400/proxy/metrics"
POD_PROXY = "/api/v1/namespaces/gpu-operator/pods/{pod}:9400/proxy/metrics"
PROM = "/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy"


def _dcgm_text(c: Cluster, node: str | None = None) -> str:
    return c.call(lambda: c.sim.api.dcgm.render(node))


def _gpu_nodes(c: Cluster) -> list[str]:
    return c.call(lambda: sorted(n.name for n in c.sim.engine.nodes.values() if n.gpus))


def _hostnames(text: str) -> set[str]:
    return set(re.findall(r'Hostname="([^"]+)"', text))


def _exporter_pods(c: Cluster, role: str = "admin") -> list:
    return c.core(role).list_namespaced_pod(GPU_NS, label_selector="app=nvidia-dcgm-exporter").items


def test_the_exporter_daemonset_has_one_running_pod_per_gpu_node(small):
    pods = _exporter_pods(small)
    assert sorted(p.spec.node_name for p in pods) == _gpu_nodes(small) and len(pods) >= 2
    for p in pods:
        assert p.metadata.name.startswith("nvidia-dcgm-exporter-") and p.status.phase == "Running"
        assert p.status.pod_ip and all(cs.ready for cs in p.status.container_statuses)
        assert p.metadata.owner_references[0].kind == "DaemonSet"
        assert [(cp.name, cp.container_port) for cp in p.spec.containers[0].ports] == [("metrics", 9400)]


def test_the_exporter_services_endpoints_list_its_ready_pods(small):
    ep = small.core("viewer").read_namespaced_endpoints("nvidia-dcgm-exporter", GPU_NS)
    pods = {p.metadata.name: p for p in _exporter_pods(small)}
    (subset,) = ep.subsets
    assert sorted(a.target_ref.name for a in subset.addresses) == sorted(pods)
    for a in subset.addresses:
        p = pods[a.target_ref.name]
        assert (a.target_ref.kind, a.target_ref.namespace, a.target_ref.uid) == ("Pod", GPU_NS, p.metadata.uid)
        assert (a.ip, a.node_name) == (p.status.pod_ip, p.spec.node_name)
    assert [(q.name, q.port) for q in subset.ports] == [("gpu-metrics", 9400)]
    assert not subset.not_ready_addresses
    # Prometheus' Service has no pods: Endpoints without subsets; a Service that is not there: 404
    assert not small.core().read_namespaced_endpoints("prometheus-k8s", "monitoring").subsets
    assert call(small, "GET", f"/api/v1/namespaces/{GPU_NS}/endpoints/nope")[0] == 404
    listed = small.core().list_namespaced_endpoints(GPU_NS).items
    assert [e.metadata.name for e in listed] == ["nvidia-dcgm-exporter"]
    assert call(small, "DELETE", f"/api/v1/namespaces/{GPU_NS}/endpoints/nvidia-dcgm-exporter")[0] == 405


@pytest.mark.parametrize("role", ["admin", "viewer", "group-admin"])
def test_each_exporter_pod_answers_its_nodes_text_through_the_pods_proxy(small, role):
    for p in _exporter_pods(small):
        code, data, headers = call(small, "GET", POD_PROXY.format(pod=p.metadata.name), role=role)
        assert code == 200 and data.decode() == _dcgm_text(small, p.spec.node_name)
        assert _hostnames(data.decode()) == {p.spec.node_name}
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_the_pods_proxy_refusals(small):
    pod = _exporter_pods(small)[0].metadata.name
    assert call(small, "GET", POD_PROXY.format(pod=pod).replace(":9400", ":9401"))[0] == 503  # nothing listens
    assert call(small, "GET", POD_PROXY.format(pod=pod).replace("/metrics", "/healthz"))[0] == 404
    assert call(small, "GET", POD_PROXY.format(pod="nvidia-dcgm-exporter-none"))[0] == 404
    code, data, _ = call(small, "POST", POD_PROXY.format(pod=pod), role="viewer")
    assert code == 403 and json.loads(data)["reason"] == "Forbidden"
    other = small.core().list_namespaced_pod("kube-system", label_selector="app.kubernetes.io/name=dcgm-exporter")
    assert call(small, "GET", f"/api/v1/namespaces/kube-system/pods/{other.items[0].metadata.name}:9400/proxy/metrics",
                role="group-admin")[0] == 403  # the group admin's monitoring binding is for gpu-operator only


@pytest.mark.parametrize("role", ["admin", "viewer", "group-admin"])
def test_the_exporter_service_answers_one_nodes_text_per_request_as_a_daemonsets_service(small, role):
    """Through the Service the apiserver picks one ready pod per request: one node's GPUs, a different node
    the next time; only every pod in turn covers the cluster."""
    nodes = _gpu_nodes(small)
    seen = []
    for _ in range(len(nodes)):
        code, data, headers = call(small, "GET", EXPORTER, role=role)
        assert code == 200 and "DCGM_FI_DEV_GPU_UTIL{" in data.decode()
        (node,) = _hostnames(data.decode())
        assert data.decode() == _dcgm_text(small, node)
        seen.append(node)
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert sorted(seen) == nodes  # round robin: each node once per turn, never all in one answer
    # the port by its name, as the apiserver takes it
    assert call(small, "GET", EXPORTER.replace(":9400", ":gpu-metrics"), role=role)[0] == 200


def test_the_exporter_services_refusals(small):
    assert call(small, "GET", EXPORTER.replace("/metrics", "/healthz"))[:2] == (404, b"404 page not found\n")
    assert call(small, "POST", EXPORTER)[0] == 405  # the admin may create through the proxy: the exporter refuses
    code, data, _ = call(small, "POST", EXPORTER, role="viewer")  # a viewer may only get
    assert code == 403 and json.loads(data)["reason"] == "Forbidden"
    code, data, _ = call(small, "GET", EXPORTER.replace(":9400", ":9401"))
    assert code == 503 and json.loads(data)["message"] == 'no service port 9401 found for service "nvidia-dcgm-exporter"'
    code, data, _ = call(small, "GET", EXPORTER.replace(":9400", ":metrics"))
    assert code == 503 and json.loads(data)["message"] == 'no endpoints available for service "nvidia-dcgm-exporter"'
    assert call(small, "GET", EXPORTER.replace("nvidia-dcgm", "https:nvidia-dcgm"))[0] == 503  # no TLS there
    api = small.api("viewer")
    resp = api.rest_client.pool_manager.request("GET", api.configuration.host + EXPORTER, preload_content=True)
    assert resp.status == 401  # no credentials


def test_rbac_for_the_proxy_says_what_the_proxy_does(small):
    """A group admin may get (not create) through the proxy in gpu-operator, as a SelfSubjectAccessReview says."""
    auth = client.AuthorizationV1Api(small.api("group-admin"))

    def allowed(verb: str, ns: str, resource: str = "services", sub: str = "proxy") -> bool:
        return auth.create_self_subject_access_review({"spec": {"resourceAttributes": {
            "namespace": ns, "verb": verb, "resource": resource, "subresource": sub}}}).status.allowed
    assert allowed("get", "gpu-operator") and allowed("get", "monitoring") and allowed("list", "monitoring", sub="")
    assert not allowed("create", "gpu-operator") and not allowed("get", "kube-system")
    # each exporter pod through the pods proxy, found through the Service's Endpoints
    assert allowed("get", "gpu-operator", "pods") and allowed("get", "gpu-operator", "endpoints", "")
    assert not allowed("create", "gpu-operator", "pods") and not allowed("get", "kube-system", "pods")
    assert not allowed("list", "gpu-operator", "pods", "")  # the pods themselves: not theirs to list
    assert call(small, "POST", EXPORTER, role="group-admin")[0] == 403
    core = small.core("group-admin")
    assert [s.metadata.name for s in core.list_namespaced_service("gpu-operator").items] == ["nvidia-dcgm-exporter"]


def test_prometheus_k8s_has_no_endpoints_without_an_upstream(small):
    code, data, _ = call(small, "GET", PROM + "/api/v1/query?query=up", role="viewer")
    assert code == 503 and json.loads(data)["message"] == 'no endpoints available for service "prometheus-k8s"'


@pytest.fixture
def upstream() -> Iterator[Exporter]:
    """A loopback 'Prometheus' that records what reaches it."""
    u = Exporter('{"status":"success","data":{"resultType":"vector","result":[]}}', content_type="application/json")
    yield u
    u.close()


def _set(c: Cluster, url, role: str = "admin", **extra) -> tuple[int, dict]:
    code, data, _ = call(c, "POST", "/sim/admin/upstream",
                         {"namespace": "monitoring", "service": "prometheus-k8s", "url": url, **extra}, role=role)
    return code, json.loads(data)


def test_an_upstream_behind_prometheus_k8s_gets_the_requests_without_the_callers_credentials(tiny, upstream):
    assert _set(tiny, upstream.base) == (200, {"upstreams": {"monitoring/prometheus-k8s": upstream.base}})
    code, data, headers = call(tiny, "GET", PROM + "/api/v1/query?query=count%28DCGM_FI_DEV_GPU_UTIL%29",
                               role="viewer")
    assert code == 200 and json.loads(data)["status"] == "success"
    assert headers["Content-Type"] == "application/json"
    path, sent = upstream.seen[-1]
    assert path == "/api/v1/query?query=count%28DCGM_FI_DEV_GPU_UTIL%29"
    assert not any(k.lower() == "authorization" for k in sent)
    assert all(tiny.thread.token(r) not in json.dumps(sent) for r in ("admin", "viewer"))
    assert call(tiny, "GET", PROM.replace(":9090", ":web") + "/-/ready", role="viewer")[0] == 200
    # taken away: no endpoints again
    assert _set(tiny, None)[0] == 200
    assert call(tiny, "GET", PROM + "/api/v1/query?query=up", role="viewer")[0] == 503
    upstream.close()  # a Prometheus that went away: the apiserver's failed dial
    assert _set(tiny, upstream.base)[0] == 200
    code, data, _ = call(tiny, "GET", PROM + "/api/v1/query?query=up")
    assert code == 503 and json.loads(data)["message"].startswith("error trying to reach service: ")


def test_the_upstream_admin_call_checks_who_and_what(tiny):
    assert _set(tiny, "http://127.0.0.1:9", role="viewer")[0] == 403
    assert _set(tiny, "ftp://somewhere")[0] == 400
    assert _set(tiny, "http://127.0.0.1:9", colour="red")[0] == 400
    code, data, _ = call(tiny, "POST", "/sim/admin/upstream",
                         {"namespace": "monitoring", "service": "nope", "url": "http://127.0.0.1:9"})
    assert code == 404

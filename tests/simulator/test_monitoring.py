"""The GPU monitoring Services of the simulated cluster, through the API server's service proxy:
``gpu-operator/nvidia-dcgm-exporter`` (the GPU operator's exporter, the simulator's exporter text behind it) and
``monitoring/prometheus-k8s`` (no Prometheus behind it unless a test sets one with ``POST /sim/admin/upstream``)."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Iterator

import pytest
from kubernetes import client

from tests.conftest import Cluster

from .test_predict import call

EXPORTER = "/api/v1/namespaces/gpu-operator/services/nvidia-dcgm-exporter:9400/proxy/metrics"
PROM = "/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy"


def _dcgm_text(c: Cluster) -> str:
    return c.call(lambda: c.sim.api.dcgm.render(None))


@pytest.mark.parametrize("role", ["admin", "viewer", "group-admin"])
def test_the_exporter_service_answers_the_exporters_text_to_whoever_may_get_the_proxy(small, role):
    code, data, headers = call(small, "GET", EXPORTER, role=role)
    assert code == 200 and data.decode() == _dcgm_text(small) and "DCGM_FI_DEV_GPU_UTIL{" in data.decode()
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
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
    assert call(small, "POST", EXPORTER, role="group-admin")[0] == 403
    core = small.core("group-admin")
    assert [s.metadata.name for s in core.list_namespaced_service("gpu-operator").items] == ["nvidia-dcgm-exporter"]


def test_prometheus_k8s_has_no_endpoints_without_an_upstream(small):
    code, data, _ = call(small, "GET", PROM + "/api/v1/query?query=up", role="viewer")
    assert code == 503 and json.loads(data)["message"] == 'no endpoints available for service "prometheus-k8s"'


class _Upstream:
    """A loopback HTTP server that records what reaches it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict]] = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.seen.append((self.path, dict(self.headers)))
                body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    u = _Upstream()
    yield u
    u.close()


def _set(c: Cluster, url, role: str = "admin", **extra) -> tuple[int, dict]:
    code, data, _ = call(c, "POST", "/sim/admin/upstream",
                         {"namespace": "monitoring", "service": "prometheus-k8s", "url": url, **extra}, role=role)
    return code, json.loads(data)


def test_an_upstream_behind_prometheus_k8s_gets_the_requests_without_the_callers_credentials(tiny, upstream):
    assert _set(tiny, upstream.url) == (200, {"upstreams": {"monitoring/prometheus-k8s": upstream.url}})
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
    assert _set(tiny, upstream.url)[0] == 200
    code, data, _ = call(tiny, "GET", PROM + "/api/v1/query?query=up")
    assert code == 503 and json.loads(data)["message"].startswith("error trying to reach service: ")


def test_the_upstream_admin_call_checks_who_and_what(tiny):
    assert _set(tiny, "http://127.0.0.1:9", role="viewer")[0] == 403
    assert _set(tiny, "ftp://somewhere")[0] == 400
    assert _set(tiny, "http://127.0.0.1:9", colour="red")[0] == 400
    code, data, _ = call(tiny, "POST", "/sim/admin/upstream",
                         {"namespace": "monitoring", "service": "nope", "url": "http://127.0.0.1:9"})
    assert code == 404

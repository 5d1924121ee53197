"""Predictions through the API server's service proxy (``.../services/{id}/proxy/...``), over HTTPS.

One module-wide `tiny` cluster holds a ready SeldonDeployment per protocol (predictions change
nothing); the test that scales a deployment down uses a fresh `tiny` of its own.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from prophecis_tui.simulator.testing import SimThread
from prophecis_tui.simulator.world import sdep_body
from tests.conftest import START, Cluster

SDEP = ("machinelearning.seldon.io", "v1", "seldondeployments")
NS = "ns-risk-scorecard"  # a group admin's namespace in the tiny world
PLAN_ANN = "sim.prophecis.io/plan"
PRED = "api/v1.0/predictions"
ROWS = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]}}
KUBECTL = shutil.which("kubectl")


# ----------------------------------------------------------------------------- helpers
def create_sdep(c: Cluster, name: str, protocol: str = "seldon", plan: str = "succeed", replicas: int = 1,
                impl: str | None = "SKLEARN_SERVER") -> None:
    import random
    body = sdep_body(NS, name, "lihua", "iris", random.Random(1))
    body["metadata"].setdefault("annotations", {})[PLAN_ANN] = plan
    body["spec"]["protocol"] = protocol
    del body["spec"]["predictors"][1:]  # no canary here
    body["spec"]["replicas"] = replicas
    pred = body["spec"]["predictors"][0]
    pred["traffic"] = 100
    pred["graph"] = {"name": "classifier", "type": "MODEL", "modelUri": "s3://mlss-mf/iris/1", "children": [],
                     **({"implementation": impl} if impl else {})}
    pred["componentSpecs"] = [{"spec": {"containers": [{"name": "classifier", "resources": {
        "requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}}]}}]
    c.custom().create_namespaced_custom_object(*SDEP[:2], NS, SDEP[2], body)


def state(c: Cluster, name: str) -> str:
    return (c.custom().get_namespaced_custom_object(*SDEP[:2], NS, SDEP[2], name).get("status") or {}).get("state")


def call(c: Cluster, method: str, path: str, body: Any = None, *, role: str = "admin") -> tuple[int, bytes, Any]:
    """One request with the client's TLS set-up and the role's token; ``body``: JSON-able, or raw bytes."""
    api = c.api(role)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    resp = api.rest_client.pool_manager.request(
        method, api.configuration.host + path, body=data, preload_content=True,
        headers={"Authorization": f"Bearer {c.thread.token(role)}", "Content-Type": "application/json",
                 "Accept": "application/json"})
    return resp.status, resp.data, resp.headers


def proxy(c: Cluster, svc: str, path: str, body: Any = None, *, ns: str = NS, role: str = "admin",
          method: str = "POST") -> tuple[int, Any]:
    """POST (by default) through the service proxy; the answer's JSON if it is JSON, else its text."""
    code, data, _ = call(c, method, f"/api/v1/namespaces/{ns}/services/{svc}/proxy/{path}", body, role=role)
    try:
        return code, json.loads(data)
    except ValueError:
        return code, data.decode()


def status(code: int, doc: Any, want: int, reason: str) -> str:
    """Assert an apiserver Status error; its message."""
    assert code == want, doc
    assert doc["kind"] == "Status" and doc["status"] == "Failure" and doc["code"] == want and doc["reason"] == reason
    return doc["message"]


def is_probabilities(rows: list[list[float]], n: int) -> None:
    assert len(rows) == n
    for row in rows:
        assert len(row) == 2 and all(0.0 <= p <= 1.0 for p in row)
        assert math.isclose(sum(row), 1.0, abs_tol=1e-9)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Iterator[Cluster]:
    """A tiny cluster with ready deployments iris-seldon, iris-v2, iris-kfs, iris-tf and a crash-looping iris-crash."""
    with SimThread(scale="tiny", seed=7, speed=0.0, start_time=START) as t:
        c = Cluster(t, t.write_config(tmp_path_factory.mktemp("predict")))
        try:
            for name, protocol, impl in (("iris-seldon", "seldon", "SKLEARN_SERVER"),
                                         ("iris-v2", "v2", "SKLEARN_SERVER"),
                                         ("iris-kfs", "kfserving", "SKLEARN_SERVER"),
                                         ("iris-tf", "tensorflow", "TENSORFLOW_SERVER")):
                create_sdep(c, name, protocol, impl=impl)
            create_sdep(c, "iris-crash", plan="crash")
            c.advance(20)
            for name in ("iris-seldon", "iris-v2", "iris-kfs", "iris-tf"):
                assert state(c, name) == "Available", name
            assert state(c, "iris-crash") == "Creating"
            yield c
        finally:
            c.close()


# ----------------------------------------------------------------------------- seldon protocol
def test_seldon_ndarray_prediction(models):
    code, doc = proxy(models, "iris-seldon-default:8000", PRED, ROWS)
    assert code == 200, doc
    assert doc["data"]["names"] == ["t:0", "t:1"]
    is_probabilities(doc["data"]["ndarray"], 3)
    assert doc["meta"] == {"requestPath": {"classifier": "seldonio/sklearnserver:1.18.1"}}
    # deterministic: the same rows give the same answer, other rows another one
    assert proxy(models, "iris-seldon-default:8000", PRED, ROWS)[1] == doc
    again = proxy(models, "iris-seldon-default:8000", PRED, {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}})[1]
    assert again["data"]["ndarray"] == doc["data"]["ndarray"][:1]
    assert len({tuple(r) for r in doc["data"]["ndarray"]}) == 3


def test_seldon_tensor_and_names(models):
    body = {"data": {"names": ["a", "b", "c"], "tensor": {"shape": [2, 3], "values": [1, 2, 3, 4, 5, 6]}}}
    code, doc = proxy(models, "iris-seldon-default:8000", PRED, body)
    assert code == 200, doc
    t = doc["data"]["tensor"]
    assert doc["data"]["names"] == ["t:0", "t:1"] and t["shape"] == [2, 2] and len(t["values"]) == 4
    is_probabilities([t["values"][:2], t["values"][2:]], 2)
    nd = proxy(models, "iris-seldon-default:8000", PRED, {"data": {"ndarray": [[1, 2, 3], [4, 5, 6]]}})[1]
    assert nd["data"]["ndarray"] == [t["values"][:2], t["values"][2:]]  # one model, whatever the encoding
    assert proxy(models, "iris-seldon-default:8000", "api/v0.1/predictions", body)[1] == doc


@pytest.mark.parametrize("body, info", [
    (b'{"data": {"ndarray": [[1, 2', "Failed to decode JSON object"),
    (b"", "empty json"),
    ({"rows": [[1, 2]]}, "Can't find data in json"),
    ({"data": {"names": ["a"]}}, "Can't find ndarray or tensor"),
    ({"data": {"ndarray": []}}, "non-empty"),
    ({"data": {"ndarray": [1, 2, 3]}}, "Expected 2D array"),
    ({"data": {"tensor": {"shape": [2, 3], "values": [1, 2]}}}, "values"),
    ({"data": {"tensor": {"shape": "2x3", "values": [1]}}}, "shape"),
])
def test_seldon_bad_data_is_400(models, body, info):
    code, doc = proxy(models, "iris-seldon-default:8000", PRED, body)
    assert code == 400, doc
    st = doc["status"]
    assert st["code"] == -1 and st["reason"] == "MICROSERVICE_BAD_DATA" and st["status"] == "FAILURE"
    assert info in st["info"]


def test_seldon_executor_routes(models):
    code, text = proxy(models, "iris-seldon-default:8000", "v2/models/classifier/infer", {"inputs": []})
    assert (code, text) == (404, "404 page not found\n")
    code, text = proxy(models, "iris-seldon-default:8000", PRED, method="GET")
    assert (code, text) == (405, "")


# ----------------------------------------------------------------------------- v2 / kfserving
V2_BODY = {"id": "req-1", "inputs": [{"name": "predict", "shape": [2, 4], "datatype": "FP32",
                                      "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]}


@pytest.mark.parametrize("sdep", ["iris-v2", "iris-kfs"])
def test_v2_infer(models, sdep):
    code, doc = proxy(models, f"{sdep}-default:8000", "v2/models/classifier/infer", V2_BODY)
    assert code == 200, doc
    assert doc["model_name"] == "classifier" and doc["id"] == "req-1"
    (out,) = doc["outputs"]
    assert out["name"] == "predict" and out["shape"] == [2, 2] and out["datatype"] == "FP64"
    is_probabilities([out["data"][:2], out["data"][2:]], 2)
    nested = {"inputs": [{**V2_BODY["inputs"][0], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}]}
    doc2 = proxy(models, f"{sdep}-default:8000", "v2/models/classifier/infer", nested)[1]
    assert doc2["outputs"][0]["data"] == out["data"] and doc2["id"]  # an id is made when none is sent


@pytest.mark.parametrize("body", [
    b"not json",
    {"inputs": []},
    {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}]},
    {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FLOAT", "data": [1]}]},
    {"inputs": [{"name": "x", "shape": [1, 1], "data": [1]}]},
])
def test_v2_bad_body_is_400(models, body):
    code, doc = proxy(models, "iris-v2-default:8000", "v2/models/classifier/infer", body)
    assert code == 400 and isinstance(doc["error"], str) and doc["error"], doc


def test_v2_routes(models):
    code, doc = proxy(models, "iris-v2-default:8000", "v2/models/nope/infer", V2_BODY)
    assert code == 404 and "nope" in doc["error"]
    assert proxy(models, "iris-v2-default:8000", PRED, ROWS) == (404, "404 page not found\n")
    code, doc = proxy(models, "iris-v2-default:8000", "v2/models/classifier", method="GET")
    assert code == 200 and doc["name"] == "classifier"
    assert proxy(models, "iris-v2-default:8000", "v2/health/ready", method="GET")[0] == 200


# ----------------------------------------------------------------------------- tensorflow
def test_tensorflow_predict(models):
    body = {"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    code, doc = proxy(models, "iris-tf-default:8000", "v1/models/classifier:predict", body)
    assert code == 200, doc
    is_probabilities(doc["predictions"], 2)
    code, cols = proxy(models, "iris-tf-default:8000", "v1/models/classifier:predict", {"inputs": body["instances"]})
    assert code == 200 and cols["outputs"] == doc["predictions"]
    code, st = proxy(models, "iris-tf-default:8000", "v1/models/classifier", method="GET")
    assert code == 200 and st["model_version_status"][0]["state"] == "AVAILABLE"


@pytest.mark.parametrize("body, error", [
    (b"{", "JSON Parse error"),
    ({"rows": [[1]]}, "Missing 'inputs' or 'instances' key"),
    ({"instances": []}, "non-empty"),
    ({"instances": [[1, 2], [1]]}, "same shape"),
])
def test_tensorflow_bad_body_is_400(models, body, error):
    code, doc = proxy(models, "iris-tf-default:8000", "v1/models/classifier:predict", body)
    assert code == 400 and error in doc["error"], doc


def test_tensorflow_routes(models):
    code, doc = proxy(models, "iris-tf-default:8000", "v1/models/other:predict", {"instances": [[1]]})
    assert code == 404 and doc == {"error": "Servable not found for request: Latest(other)"}
    assert proxy(models, "iris-tf-default:8000", PRED, ROWS) == (404, "404 page not found\n")


# ----------------------------------------------------------------------------- the apiserver's answers
def test_no_ready_pod_is_503(models):
    msg = status(*proxy(models, "iris-crash-default:8000", PRED, ROWS), 503, "ServiceUnavailable")
    assert msg == 'no endpoints available for service "iris-crash-default"'


def test_scaled_to_zero_is_503_then_answers_again(tiny):
    create_sdep(tiny, "iris", replicas=1)
    tiny.advance(20)
    assert proxy(tiny, "iris-default:8000", PRED, ROWS)[0] == 200
    tiny.custom().patch_namespaced_custom_object(*SDEP[:2], NS, SDEP[2], "iris", {"spec": {"replicas": 0}})
    msg = status(*proxy(tiny, "iris-default:8000", PRED, ROWS), 503, "ServiceUnavailable")
    assert msg == 'no endpoints available for service "iris-default"'  # a terminating pod is no endpoint
    tiny.custom().patch_namespaced_custom_object(*SDEP[:2], NS, SDEP[2], "iris", {"spec": {"replicas": 1}})
    assert status(*proxy(tiny, "iris-default:8000", PRED, ROWS), 503, "ServiceUnavailable")  # not ready yet
    tiny.advance(20)
    assert proxy(tiny, "iris-default:8000", PRED, ROWS)[0] == 200


def test_unknown_service_and_namespace_are_404(models):
    msg = status(*proxy(models, "nope:8000", PRED, ROWS), 404, "NotFound")
    assert msg == 'services "nope" not found'
    assert status(*proxy(models, "iris-seldon-default:8000", PRED, ROWS, ns="ns-nowhere"), 404, "NotFound")


def test_viewer_may_not_post(models):
    msg = status(*proxy(models, "iris-seldon-default:8000", PRED, ROWS, role="viewer"), 403, "Forbidden")
    assert msg == ('services "iris-seldon-default:8000" is forbidden: User "opsview" cannot create resource '
                   f'"services/proxy" in API group "" in the namespace "{NS}"')


def test_group_admin_as_rbac_says(models):
    """The proxy answers what a SelfSubjectAccessReview for create services/proxy says, in and out of the
    group admin's namespaces."""
    assert NS in models.sim.identity("group-admin").namespaces
    other = "default"
    for ns in (NS, other):
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {
            "resourceAttributes": {"namespace": ns, "verb": "create", "resource": "services",
                                   "subresource": "proxy"}}}
        code, data, _ = call(models, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review,
                             role="group-admin")
        allowed = json.loads(data)["status"]["allowed"]
        code, doc = proxy(models, "iris-seldon-default:8000", PRED, ROWS, ns=ns, role="group-admin")
        if allowed:
            assert code != 403, doc
        else:
            status(code, doc, 403, "Forbidden")
    assert not json.loads(call(models, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {
            "namespace": other, "verb": "create", "resource": "services", "subresource": "proxy"}}},
        role="group-admin")[1])["status"]["allowed"]


# ----------------------------------------------------------------------------- the forms of the service id
def test_scheme_name_port_forms(models):
    ok = proxy(models, "iris-seldon-default:8000", PRED, ROWS)
    assert ok[0] == 200
    assert proxy(models, "http:iris-seldon-default:8000", PRED, ROWS) == ok
    assert proxy(models, "iris-seldon-default:http", PRED, ROWS) == ok  # the port by its name
    assert proxy(models, "http:iris-seldon-default:http", PRED, ROWS) == ok
    # no port: the service's unnamed port, which a Seldon service (ports "http", "grpc") has not
    msg = status(*proxy(models, "iris-seldon-default", PRED, ROWS), 503, "ServiceUnavailable")
    assert msg == 'no endpoints available for service "iris-seldon-default"'
    msg = status(*proxy(models, "iris-seldon-default:9999", PRED, ROWS), 503, "ServiceUnavailable")
    assert msg == 'no service port 9999 found for service "iris-seldon-default"'
    msg = status(*proxy(models, "https:iris-seldon-default:8000", PRED, ROWS), 503, "ServiceUnavailable")
    assert msg.startswith("error trying to reach service: tls:")
    msg = status(*proxy(models, "iris-seldon-default:5001", PRED, ROWS), 503, "ServiceUnavailable")
    assert msg.startswith("error trying to reach service:")
    for bad in ("a:b:c:d", "ftp:iris-seldon-default:8000", ":8000"):
        assert status(*proxy(models, bad, PRED, ROWS), 400, "BadRequest") == f'invalid service request "{bad}"'


def test_bare_name_reaches_a_service_with_one_unnamed_port(models):
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "iris-plain", "labels": {"seldon-deployment-id": "iris-seldon"}},
           "spec": {"selector": {"seldon-app": "iris-seldon-default"}, "ports": [{"port": 8000, "targetPort": 8000}]}}
    models.core().create_namespaced_service(NS, svc)
    try:
        ok = proxy(models, "iris-seldon-default:8000", PRED, ROWS)
        assert proxy(models, "iris-plain", PRED, ROWS) == ok
        assert proxy(models, "iris-plain:8000", PRED, ROWS) == ok
    finally:
        call(models, "DELETE", f"/api/v1/namespaces/{NS}/services/iris-plain")


def test_other_services(models):
    """A Jupyter server answers its own 404 page; a service whose pods serve nothing refuses the connection."""
    pods = {p.metadata.name: p for p in models.core().list_namespaced_pod(NS).items}

    def ready(sel: dict) -> bool:
        return any(all((p.metadata.labels or {}).get(k) == v for k, v in sel.items())
                   and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
                   for p in pods.values())
    svcs = models.core().list_namespaced_service(NS).items
    nb = next(s for s in svcs if (s.metadata.owner_references or [{}])[0].kind == "Notebook" and ready(s.spec.selector))
    code, text = proxy(models, f"{nb.metadata.name}:{nb.spec.ports[0].port}", PRED, ROWS)
    assert code == 404 and "404: Not Found" in text
    models.core().create_namespaced_service(NS, {"metadata": {"name": "plain"}, "spec": {
        "selector": {"seldon-app": "iris-seldon-default"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    try:
        msg = status(*proxy(models, "plain:80", PRED, ROWS), 503, "ServiceUnavailable")
        assert msg.startswith("error trying to reach service: dial tcp 10.") and msg.endswith(
            ":8080: connect: connection refused")
    finally:
        call(models, "DELETE", f"/api/v1/namespaces/{NS}/services/plain")


def test_the_official_client_reaches_the_model(models):
    """``connect_post_namespaced_service_proxy_with_path``: the generated client's own proxy call."""
    from kubernetes import client
    api = client.CoreV1Api(models.api())
    # the generated method sends no body; the executor answers the empty request as bad data
    with pytest.raises(client.ApiException) as info:
        api.connect_post_namespaced_service_proxy_with_path("iris-seldon-default:8000", NS, PRED)
    assert info.value.status == 400 and "MICROSERVICE_BAD_DATA" in info.value.body


# ----------------------------------------------------------------------------- kubectl
@pytest.mark.kubectl
def test_kubectl_create_raw_prediction(models, tmp_path):
    if KUBECTL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is not on PATH, and CI=true: the kubectl tests must run in CI", pytrace=False)
        pytest.skip("kubectl is not on PATH")
    body = tmp_path / "body.json"
    body.write_text(json.dumps(ROWS))
    cmd = [KUBECTL, "--kubeconfig", str(models.kubeconfig), "--context", "sim-admin", "--cache-dir",
           str(tmp_path / "cache"), "--request-timeout=15s", "create", "--raw",
           f"/api/v1/namespaces/{NS}/services/iris-seldon-default:8000/proxy/{PRED}", "-f", str(body)]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=20, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == proxy(models, "iris-seldon-default:8000", PRED, ROWS)[1]
    cmd[cmd.index("sim-admin")] = "sim-viewer"
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=20, env=env)
    assert proc.returncode != 0 and "forbidden" in proc.stderr

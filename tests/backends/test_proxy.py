"""``Kubernetes.proxy_post``: a test prediction through the API server's service proxy, against the simulator.

The shared `small` cluster answers predictions (they change nothing); the cases that need a
deployment of their own use a fresh `tiny`.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import yaml

from backends.kubernetes import Kubernetes
from prophecis_tui.domain import Forbidden, ReadOnly, Unavailable
from prophecis_tui.simulator.world import sdep_body

NS = "ns-risk-scorecard"  # a group admin's namespace, in every scale
SDEP = ("machinelearning.seldon.io", "v1", "seldondeployments")
PRED = "api/v1.0/predictions"
BODY = {"data": {"ndarray": [[1, 2, 3]]}}


def available(c) -> tuple[str, str]:
    """(predictor service, graph name) of an Available SeldonDeployment in NS."""
    items = c.custom().list_namespaced_custom_object(*SDEP[:2], NS, SDEP[2])["items"]
    sdep = next(o for o in items if (o.get("status") or {}).get("state") == "Available")
    pred = sdep["spec"]["predictors"][0]
    return f"{sdep['metadata']['name']}-{pred['name']}", pred["graph"]["name"]


def available_service(c) -> str:
    return available(c)[0]


def test_proxy_post_prediction(small, small_backend) -> None:
    svc, graph = available(small)
    code, text = small_backend("admin").proxy_post(NS, svc, 8000, PRED, BODY)
    assert code == 200, text
    doc = json.loads(text)
    (row,) = doc["data"]["ndarray"]
    assert doc["data"]["names"] == ["t:0", "t:1"] and math.isclose(sum(row), 1.0, abs_tol=1e-9)
    assert list(doc["meta"]["requestPath"]) == [graph]
    # the leading slash of the path is optional, and the answer is the same for the same rows
    assert small_backend("admin").proxy_post(NS, svc, 8000, "/" + PRED, BODY) == (200, text)


def test_proxy_post_model_errors_are_returned(small, small_backend) -> None:
    k = small_backend("admin")
    svc = available_service(small)
    code, _ = k.proxy_post(NS, svc, 8000, PRED, {"rows": [[1, 2, 3]]})
    assert code == 400  # the model server's own error shape is no Status: the backend passes the code on
    code, text = k.proxy_post(NS, svc, 8000, "v2/models/classifier/infer", {"inputs": []})
    assert code == 404 and "404 page not found" in text
    code, text = k.proxy_post(NS, "no-such-svc", 8000, PRED, BODY)
    assert code == 404 and 'services "no-such-svc" not found' in text


def test_proxy_post_no_endpoints_is_503(tiny, tiny_backend) -> None:
    body = sdep_body(NS, "iris", "lihua", "iris", random.Random(1))
    body["spec"]["predictors"][0]["replicas"] = 0
    tiny.custom().create_namespaced_custom_object(*SDEP[:2], NS, SDEP[2], body)
    tiny.advance(1)
    code, text = tiny_backend("admin").proxy_post(NS, "iris-default", 8000, PRED, BODY)
    assert code == 503
    assert 'no endpoints available for service "iris-default"' in text


def test_proxy_post_forbidden_raises(small, small_backend) -> None:
    with pytest.raises(Forbidden) as err:
        small_backend("viewer").proxy_post(NS, available_service(small), 8000, PRED, BODY)
    assert "services/proxy" in str(err.value)


def test_read_only_refuses_before_any_request(small, tmp_path) -> None:
    """The server in this kubeconfig cannot be reached: a ReadOnly (not Unavailable) proves nothing was sent."""
    cfg = yaml.safe_load(Path(small.kubeconfig).read_text())
    for cl in cfg["clusters"]:
        cl["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump(cfg))
    with Kubernetes.from_kubeconfig(str(dead), "sim-admin", read_only=True) as k, pytest.raises(ReadOnly):
        k.proxy_post(NS, "any-svc", 8000, PRED, BODY)
    with Kubernetes.from_kubeconfig(str(dead), "sim-admin") as k, pytest.raises(Unavailable):
        k.proxy_post(NS, "any-svc", 8000, PRED, BODY)


def test_read_only_against_the_simulator(small, small_backend) -> None:
    with pytest.raises(ReadOnly):
        small_backend("admin", read_only=True).proxy_post(NS, available_service(small), 8000, PRED, BODY)

"""Injected faults, seen through the official client: latency, error codes, 410, dropped watches, downtime;
and the admin endpoint that switches them (/sim/admin/...).

Every test uses a fresh `tiny` cluster. Tokens are never put into assertion messages.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from typing import Any, Callable

import httpx
from tests.conftest import poll
import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

NS = "ns-risk-scorecard"


# ----------------------------------------------------------------------------------- helpers
def admin_client(cluster) -> httpx.Client:
    ctx = ssl.create_default_context(cadata=cluster.sim.tls.ca_pem.decode())
    return httpx.Client(base_url=cluster.sim.url, verify=ctx, timeout=10.0)


def admin(cluster, what: str, body: Any = None, *, role: str | None = "admin", raw: bytes | None = None,
          method: str = "POST") -> httpx.Response:
    headers = {"Authorization": f"Bearer {cluster.sim.identity(role).token}"} if role else {}
    with admin_client(cluster) as c:
        if method == "GET":
            return c.get(f"/sim/admin/{what}", headers=headers)
        content = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        return c.post(f"/sim/admin/{what}", headers={**headers, "Content-Type": "application/json"},
                      content=content)


def set_faults(cluster, **faults: Any) -> dict:
    r = admin(cluster, "faults", faults)
    assert r.status_code == 200, f"admin faults answered {r.status_code}"
    return r.json()



def watchers(cluster) -> int:
    return cluster.call(lambda: sum(1 for _ in cluster.sim.engine.store.watchers()))


def no_retry_core(cluster) -> client.CoreV1Api:
    """An official client that does not retry: urllib3's default Retry(3) honours Retry-After on 429/503,
    which would hide the error behind seconds of waiting."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), context="sim-admin", client_configuration=cfg)
    cfg.retries = urllib3.Retry(total=0, respect_retry_after_header=False, raise_on_status=False)
    api = client.ApiClient(cfg)
    cluster._clients[f"no-retry-{id(api)}"] = api  # closed with the cluster
    return client.CoreV1Api(api)


def pod_names(cluster, **kw) -> list[str]:
    return sorted(p.metadata.name for p in cluster.core().list_namespaced_pod(NS, **kw).items)


# ----------------------------------------------------------------------------------- latency and errors
def test_latency_is_added_to_a_request(tiny):
    core = tiny.core()
    core.list_namespaced_pod(NS)  # connection set up before measuring
    set_faults(tiny, latency_ms=400)
    t0 = time.monotonic()
    core.list_namespaced_pod(NS)
    took = time.monotonic() - t0
    assert took >= 0.4, f"a request with 400 ms latency took {took:.3f}s"
    assert set_faults(tiny, latency_ms=0)["faults"]["latency_ms"] == 0
    core.list_namespaced_pod(NS)


def test_latency_does_not_apply_to_the_admin_endpoint(tiny):
    set_faults(tiny, latency_ms=3000, error_rate=1.0)
    t0 = time.monotonic()
    r = admin(tiny, "state", method="GET")
    assert r.status_code == 200
    assert time.monotonic() - t0 < 2.0
    assert r.json()["faults"]["latency_ms"] == 3000


@pytest.mark.parametrize("code,reason", [(429, "TooManyRequests"), (503, "ServiceUnavailable")])
def test_error_rate_one_gives_retry_after(tiny, code, reason):
    set_faults(tiny, error_rate=1.0, error_codes=[code], retry_after=3)
    core = no_retry_core(tiny)
    t0 = time.monotonic()
    with pytest.raises(ApiException) as ei:
        core.list_namespaced_pod(NS)
    assert time.monotonic() - t0 < 2
    e = ei.value
    assert e.status == code
    assert e.headers.get("Retry-After") == "3"
    body = json.loads(e.body)
    assert body["kind"] == "Status" and body["code"] == code and body["reason"] == reason
    assert body["details"]["retryAfterSeconds"] == 3
    # custom resources fail the same way
    with pytest.raises(ApiException) as ei:
        client.CustomObjectsApi(core.api_client).list_namespaced_custom_object("kubeflow.org", "v1", NS, "notebooks")
    assert ei.value.status == code
    set_faults(tiny, error_rate=0.0)
    assert pod_names(tiny)


def test_default_client_honours_retry_after(tiny):
    """The official client's urllib3 retries 429 after waiting Retry-After, then gives up with the 429."""
    set_faults(tiny, error_rate=1.0, error_codes=[429], retry_after=1)
    t0 = time.monotonic()
    with pytest.raises(ApiException) as ei:
        tiny.core().read_namespace(NS)
    assert ei.value.status == 429
    assert time.monotonic() - t0 >= 1.0


def test_error_500_has_no_retry_after(tiny):
    set_faults(tiny, error_rate=1.0, error_codes=[500])
    with pytest.raises(ApiException) as ei:
        no_retry_core(tiny).read_namespace(NS)
    assert ei.value.status == 500
    assert "Retry-After" not in ei.value.headers
    assert json.loads(ei.value.body)["reason"] == "InternalError"


def test_error_rate_leaves_health_endpoints_alone(tiny):
    set_faults(tiny, error_rate=1.0, error_codes=[503])
    with admin_client(tiny) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/version").status_code == 200


def test_error_rate_is_a_share(tiny):
    set_faults(tiny, error_rate=0.5, error_codes=[503])
    outcomes = []
    core = no_retry_core(tiny)
    for _ in range(40):
        try:
            core.read_namespace(NS)
            outcomes.append(True)
        except ApiException as e:
            assert e.status == 503
            outcomes.append(False)
    assert 5 <= outcomes.count(False) <= 35


# ----------------------------------------------------------------------------------- watches
def test_expire_watches_gives_410(tiny):
    set_faults(tiny, expire_watches=1)
    rv = tiny.core().list_namespaced_pod(NS).metadata.resource_version
    w = watch.Watch()
    with pytest.raises(ApiException) as ei:
        for _ in w.stream(tiny.core().list_namespaced_pod, NS, resource_version=rv, timeout_seconds=5):
            pass
    assert ei.value.status == 410
    assert tiny.sim.faults.expire_watches == 0
    # only the next N watches: the one after that works
    events = list(watch.Watch().stream(tiny.core().list_namespaced_pod, NS, timeout_seconds=1))
    assert events and all(e["type"] == "ADDED" for e in events)


def test_expire_watches_counts_down(tiny):
    set_faults(tiny, expire_watches=2)
    core = tiny.core()
    for _ in range(2):
        with pytest.raises(ApiException) as ei:
            list(watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=2))
        assert ei.value.status == 410
    assert list(watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=1))


def _watch_in_thread(fn: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as err:  # handed to the test
            errors.append(err)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


def test_drop_watches_ends_an_open_stream(tiny):
    core = tiny.core()
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    seen: list[str] = []
    ended = threading.Event()

    def consume() -> None:
        for ev in watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=rv,
                                       timeout_seconds=60):
            seen.append(ev["type"])
        ended.set()
    t, errors = _watch_in_thread(consume)
    assert poll(lambda: watchers(tiny) == 1), "the watch never registered"
    state = set_faults(tiny, drop_watches=True)
    assert "drop_watches" not in state["faults"]  # a one-shot action, not a setting
    assert ended.wait(5), "the watch stream stayed open after drop_watches"
    t.join(5)
    assert not errors
    assert watchers(tiny) == 0


def test_watch_without_timeout_reconnects_after_drop_and_sees_later_change(tiny):
    core = tiny.core()
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    w = watch.Watch()
    events: list[tuple[str, str]] = []
    got = threading.Event()

    def consume() -> None:
        for ev in w.stream(core.list_namespaced_config_map, NS, resource_version=rv):
            events.append((ev["type"], ev["object"].metadata.name))
            if ev["object"].metadata.name == "after-the-drop":
                got.set()
                w.stop()
    t, errors = _watch_in_thread(consume)
    try:
        assert poll(lambda: watchers(tiny) == 1), "the watch never registered"
        before = tiny.call(lambda: tiny.sim.engine.store.rv)
        core.create_namespaced_config_map(NS, {"metadata": {"name": "before-the-drop"}, "data": {"a": "1"}})
        assert poll(lambda: ("ADDED", "before-the-drop") in events)
        assert tiny.call(lambda: tiny.sim.engine.store.rv) > before
        set_faults(tiny, drop_watches=True)
        # The stream was cut (no watcher left) and the client comes back by itself, from its last RV.
        assert poll(lambda: watchers(tiny) == 1, timeout=5), "the client did not reconnect"
        core.create_namespaced_config_map(NS, {"metadata": {"name": "after-the-drop"}, "data": {"a": "2"}})
        assert got.wait(5), f"the change after the drop was not seen; events: {events}"
        t.join(5)
    finally:
        w.stop()
    assert not errors, errors
    assert not t.is_alive()
    # resumed from its resourceVersion: no replay of the namespace's existing config maps
    assert events == [("ADDED", "before-the-drop"), ("ADDED", "after-the-drop")]


def test_drop_watch_every_closes_streams(tiny):
    set_faults(tiny, drop_watch_every=0.5)
    core = tiny.core()
    t0 = time.monotonic()
    list(watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=30))
    assert time.monotonic() - t0 < 5


# ----------------------------------------------------------------------------------- the API going down
def test_down_seconds_refuses_connections_then_comes_back(tiny):
    core = tiny.core()
    before = pod_names(tiny)
    nbs = tiny.custom().list_namespaced_custom_object("kubeflow.org", "v1", NS, "notebooks")["items"]
    set_faults(tiny, down_seconds=2)
    t0 = time.monotonic()

    def refused() -> bool:
        try:
            core.list_namespaced_pod(NS, _request_timeout=2)
        except urllib3.exceptions.MaxRetryError as err:
            assert isinstance(err.reason, (urllib3.exceptions.NewConnectionError, ConnectionError)), err.reason
            return True
        return False
    assert poll(refused, timeout=1.5), "the API still answered while it should be down"
    assert tiny.sim.down_until is not None

    def answers() -> bool:
        try:
            core.list_namespaced_pod(NS, _request_timeout=2)
            return True
        except urllib3.exceptions.MaxRetryError:
            return False
    assert poll(answers, timeout=6, pause=0.1), "the API did not come back"
    assert time.monotonic() - t0 >= 1.5
    assert tiny.sim.down_until is None
    assert pod_names(tiny) == before
    after = tiny.custom().list_namespaced_custom_object("kubeflow.org", "v1", NS, "notebooks")["items"]
    assert [o["metadata"]["uid"] for o in after] == [o["metadata"]["uid"] for o in nbs]


def test_go_down_cuts_open_watches(tiny):
    core = tiny.core()
    ended = threading.Event()

    def consume() -> None:
        try:
            for _ in watch.Watch().stream(core.list_namespaced_pod, NS, timeout_seconds=60):
                pass
        finally:
            ended.set()
    t, errors = _watch_in_thread(consume)
    assert poll(lambda: watchers(tiny) == 1)
    tiny.thread.run(lambda: tiny.sim.go_down(1))
    assert ended.wait(5), "an open watch survived the API going down"
    t.join(5)
    assert poll(lambda: tiny.sim.down_until is None, timeout=5)
    assert pod_names(tiny)


# ----------------------------------------------------------------------------------- the admin endpoint
def test_admin_state(tiny):
    r = admin(tiny, "state", method="GET")
    assert r.status_code == 200
    st = r.json()
    assert st["scale"] == "tiny"
    assert st["counts"]["pods"] == len(tiny.core().list_pod_for_all_namespaces().items)
    assert set(st["faults"]) >= {"latency_ms", "jitter_ms", "error_rate", "error_codes", "retry_after",
                                 "expire_watches", "drop_watch_every"}


@pytest.mark.parametrize("role,code,reason", [(None, 401, "Unauthorized"), ("viewer", 403, "Forbidden"),
                                              ("group-admin", 403, "Forbidden")])
def test_admin_endpoint_refuses_non_admins(tiny, role, code, reason):
    for what, method in (("state", "GET"), ("faults", "POST"), ("clock", "POST"), ("compact", "POST")):
        r = admin(tiny, what, {"error_rate": 1.0} if what == "faults" else {}, role=role, method=method)
        assert r.status_code == code, f"{what} as {role}: {r.status_code}"
        body = r.json()
        assert body["kind"] == "Status" and body["reason"] == reason and body["code"] == code
    assert tiny.sim.faults.error_rate == 0.0


def test_admin_wrong_token_is_unauthorized(tiny):
    with admin_client(tiny) as c:
        r = c.get("/sim/admin/state", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


@pytest.mark.parametrize("body", [
    {"error_rate": 2},
    {"error_rate": -0.1},
    {"latency_ms": -1},
    {"latency_ms": "slow"},
    {"latency_ms": None},
    {"latency_ms": True},
    {"expire_watches": 1.5},
    {"error_codes": "503"},
    {"error_codes": [200]},
    {"error_codes": ["x"]},
    {"no_such_fault": 1},
    {"_rng": 1},
    {"down_seconds": "soon"},
    {"down_seconds": -1},
    {"drop_watches": "yes"},
    {"latency_ms": 100, "error_rate": 5},  # one bad value: nothing at all changes
])
def test_bad_fault_values_are_rejected(tiny, body):
    before = tiny.sim.faults.to_dict()
    r = admin(tiny, "faults", body)
    assert r.status_code == 400, r.text
    st = r.json()
    assert st["kind"] == "Status" and st["reason"] == "BadRequest"
    assert tiny.sim.faults.to_dict() == before
    assert tiny.sim.down_until is None
    assert pod_names(tiny)  # still serving, no fault switched on


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b"NaN"])
def test_bad_admin_bodies_are_rejected(tiny, raw):
    for what in ("faults", "clock"):
        r = admin(tiny, what, raw=raw)
        assert r.status_code == 400, f"{what} {raw!r}: {r.status_code}"


@pytest.mark.parametrize("body", [{"speed": "fast"}, {"speed": -1}, {"advance": -5}, {"advance": "x"},
                                  {"rewind": 3}])
def test_bad_clock_values_are_rejected(tiny, body):
    now = tiny.sim.clock.now()
    r = admin(tiny, "clock", body)
    assert r.status_code == 400
    assert tiny.sim.clock.now() == now and tiny.sim.clock.speed == 0.0


def test_admin_clock_advance(tiny):
    now = tiny.sim.clock.now()
    r = admin(tiny, "clock", {"advance": 60})
    assert r.status_code == 200
    assert r.json()["clock"]["now"] == pytest.approx(now + 60)


def test_admin_unknown_endpoint_and_method(tiny):
    assert admin(tiny, "nothing-here", {}).status_code == 404
    assert admin(tiny, "faults", method="GET").status_code == 405


def test_admin_compact_then_old_watch_is_expired(tiny):
    core = tiny.core()
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c1"}})
    assert admin(tiny, "compact").status_code == 200
    with pytest.raises(ApiException) as ei:
        list(watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=2))
    assert ei.value.status == 410


def test_faults_via_kubeconfig_token_are_not_leaked(tiny):
    """The admin answer never echoes a token."""
    r = admin(tiny, "faults", {"latency_ms": 1})
    text = r.text
    leaked = [ident.role for ident in tiny.sim.identities if ident.token in text]  # roles only, never tokens
    assert leaked == []

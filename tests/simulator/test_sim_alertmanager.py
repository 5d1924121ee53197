"""The simulated Alertmanager (API v2 under <server>/alertmanager): the wire shapes a client reads, filters, silences
(create, pending, update, expire), inhibition, alerts that follow the simulated clock and world, posted alerts, the
alertmanager_error fault, the silence RBAC the console asks about, and what --write-config tells the console.
Spoken to over loopback TLS with httpx, as any client would."""

from __future__ import annotations

import random
import re
import ssl
from datetime import datetime, timezone

import httpx
import pytest
from kubernetes import client as k8s

from prophecis_tui.simulator.alertmanager import fingerprint
from prophecis_tui.simulator.controllers import DURATION_ANN, PLAN_ANN
from prophecis_tui.simulator.world import sdep_body, training_body

AM = "/alertmanager/api/v2"
REQUIRED = {"labels", "annotations", "receivers", "fingerprint", "startsAt", "updatedAt", "endsAt", "status"}
MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def client(cluster) -> httpx.Client:
    ctx = ssl.create_default_context(cadata=cluster.sim.tls.ca_pem.decode())
    return httpx.Client(base_url=cluster.sim.url + AM, verify=ctx, timeout=30.0)


def get_alerts(c: httpx.Client, *filters: str, **params) -> list[dict]:
    r = c.get("/alerts", params=[("filter", f) for f in filters] + list(params.items()))
    assert r.status_code == 200, r.text
    return r.json()


def named(alerts: list[dict], name: str) -> list[dict]:
    return [a for a in alerts if a["labels"]["alertname"] == name]


def sim_now(cluster) -> float:
    return cluster.call(cluster.sim.engine.now)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def silence(cluster, matchers: list[dict], *, starts: float = 0.0, hours: float = 2.0, **extra) -> dict:
    now = sim_now(cluster)
    return {"matchers": matchers, "startsAt": iso(now + starts), "endsAt": iso(now + starts + hours * 3600),
            "createdBy": "lihua", "comment": "OPS-1234 maintenance", **extra}


def eq(name: str, value: str, regex: bool = False, equal: bool = True) -> dict:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": equal}


def advance_until(cluster, c: httpx.Client, cond, step: float = 15.0, limit: float = 1800.0) -> list[dict]:
    """Move the simulated clock on in steps until the alerts satisfy ``cond``; the alerts then."""
    spent = 0.0
    while True:
        alerts = get_alerts(c)
        if cond(alerts):
            return alerts
        assert spent < limit, f"not within {limit}s of simulated time"
        cluster.advance(step)
        spent += step


# ------------------------------------------------------------------------------------------ shapes
def test_alerts_have_the_v2_shape_sorted_by_fingerprint(tiny):
    with client(tiny) as c:
        alerts = get_alerts(c)
    assert len(alerts) >= 3
    assert [a["fingerprint"] for a in alerts] == sorted(a["fingerprint"] for a in alerts)
    for a in alerts:
        assert REQUIRED <= set(a), a
        assert re.fullmatch(r"[0-9a-f]{16}", a["fingerprint"]) and a["fingerprint"] == fingerprint(a["labels"])
        assert all(MS.match(a[k]) for k in ("startsAt", "updatedAt", "endsAt")), a
        assert a["startsAt"] <= a["updatedAt"] < a["endsAt"]
        assert set(a["status"]) == {"state", "silencedBy", "inhibitedBy", "mutedBy"}
        assert a["status"]["state"] in ("active", "suppressed")
        assert len(a["receivers"]) == 1 and a["receivers"][0]["name"] in ("null", "pager", "prophecis-ops")
        assert a["labels"]["severity"] in ("critical", "warning", "none")
        assert a["annotations"]["runbook_url"] == \
            "https://runbooks.example.internal/prophecis/" + a["labels"]["alertname"]
        assert a["annotations"]["summary"] and a["annotations"]["description"]
        assert a["generatorURL"].startswith("http://prometheus-k8s.monitoring.svc:9090/graph?g0.expr=")
    # the cluster-level heartbeat (no namespace: no business system owns it) goes nowhere
    (dog,) = named(alerts, "Watchdog")
    assert "namespace" not in dog["labels"] and dog["receivers"] == [{"name": "null"}]
    assert all(a["receivers"] == [{"name": "pager"}] for a in alerts if a["labels"]["severity"] == "critical")


def test_the_same_world_gives_the_same_alerts(tiny):
    with client(tiny) as c:
        first, again = get_alerts(c), get_alerts(c)
    assert first == again


def test_gpu_alerts_carry_the_exporters_labels_and_the_holding_pod(tiny):
    with client(tiny) as c:
        gpu = named(get_alerts(c), "GPUHighTemperature")
    assert gpu, "a few GPUs of every world run hot"
    for a in gpu:
        lb = a["labels"]
        assert {"Hostname", "gpu", "UUID", "modelName", "node"} <= set(lb)
        assert lb["node"] == lb["Hostname"] and lb["UUID"].startswith("GPU-")
        assert re.search(r"is (\d+)C$", a["annotations"]["summary"])
        assert int(re.search(r"is (\d+)C$", a["annotations"]["summary"]).group(1)) >= 85
    held = [a for a in gpu if "pod" in a["labels"]]
    for a in held:
        pod = tiny.core().read_namespaced_pod(a["labels"]["pod"], a["labels"]["namespace"])
        assert pod.spec.node_name == a["labels"]["Hostname"]
    # the temperature is the one the simulated dcgm-exporter reports for that GPU at the same simulated time
    with client(tiny) as c:
        metrics = c.get(tiny.sim.url + "/dcgm/metrics").text
    for a in gpu:
        line = next(x for x in metrics.splitlines()
                    if x.startswith("DCGM_FI_DEV_GPU_TEMP{") and f'UUID="{a["labels"]["UUID"]}"' in x)
        assert a["annotations"]["summary"].endswith(f" is {line.rsplit(' ', 1)[1]}C")


# ------------------------------------------------------------------------------------------ filters
def test_filters_match_as_alertmanager_does(tiny):
    with client(tiny) as c:
        everything = get_alerts(c)
        names = {a["labels"]["alertname"] for a in everything}
        assert {a["labels"]["alertname"] for a in get_alerts(c, 'alertname="Watchdog"')} == {"Watchdog"}
        assert len(get_alerts(c, 'alertname!="Watchdog"')) == len(everything) - 1
        gpu = get_alerts(c, 'alertname=~"GPU.*"')
        assert gpu and all(a["labels"]["alertname"].startswith("GPU") for a in gpu)
        assert not [a for a in get_alerts(c, 'alertname!~"GPU.*|Watchdog"')
                    if a["labels"]["alertname"].startswith("GPU") or a["labels"]["alertname"] == "Watchdog"]
        assert get_alerts(c, 'alertname=~"GPU"') == []  # regexes are anchored
        # several filters all apply; a missing label is the empty string
        both = get_alerts(c, 'alertname=~".+"', 'namespace=""')
        assert {a["labels"]["alertname"] for a in both} >= {"Watchdog"}
        assert all("namespace" not in a["labels"] for a in both)
        assert get_alerts(c, "alertname=Watchdog") == get_alerts(c, 'alertname="Watchdog"')  # unquoted too
        assert [a["labels"]["alertname"] for a in get_alerts(c, receiver="nu.*")] == ["Watchdog"]
        assert get_alerts(c, receiver="nu") == []
        assert len(names) >= 3
        for bad in ("alertname", 'alertname=="x"', 'alertname=~"("'):
            r = c.get("/alerts", params={"filter": bad})
            assert r.status_code == 400 and isinstance(r.json(), str) and r.json(), bad
        r = c.get("/alerts", params={"active": "maybe"})
        assert r.status_code == 400 and isinstance(r.json(), str)


# ------------------------------------------------------------------------------------------ silences
def test_a_silence_suppresses_its_alerts_until_expired(tiny):
    with client(tiny) as c:
        target = named(get_alerts(c), "GPUHighTemperature")[0]
        host = target["labels"]["Hostname"]
        r = c.post("/silences", json=silence(tiny, [eq("alertname", "GPUHighTemperature"), eq("Hostname", host)]))
        assert r.status_code == 200, r.text
        sid = r.json()["silenceID"]
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", sid)
        after = {a["fingerprint"]: a for a in get_alerts(c)}
        hit = after[target["fingerprint"]]
        assert hit["status"]["state"] == "suppressed" and hit["status"]["silencedBy"] == [sid]
        others = [a for a in after.values() if a["labels"].get("Hostname") != host]
        assert all(sid not in a["status"]["silencedBy"] for a in others)
        # silenced=false hides it, as the console's "hide silenced" does
        assert target["fingerprint"] not in {a["fingerprint"] for a in get_alerts(c, silenced="false")}
        (listed,) = c.get("/silences").json()
        assert listed["id"] == sid and listed["status"]["state"] == "active" and listed["createdBy"] == "lihua"
        assert listed["matchers"][1] == {"name": "Hostname", "value": host, "isRegex": False, "isEqual": True}
        assert all(MS.match(listed[k]) for k in ("startsAt", "endsAt", "updatedAt"))

        assert c.delete(f"/silence/{sid}").status_code == 200
        expired = c.get(f"/silence/{sid}").json()
        assert expired["status"]["state"] == "expired" and expired["endsAt"] == iso(sim_now(tiny))
        back = {a["fingerprint"]: a for a in get_alerts(c)}[target["fingerprint"]]
        assert back["status"]["silencedBy"] == []
        assert back["status"]["state"] == ("suppressed" if back["status"]["inhibitedBy"] else "active")
        # expiring it again: Alertmanager's 500 with its words
        again = c.delete(f"/silence/{sid}")
        assert again.status_code == 500 and again.json() == f"silence {sid} already expired"


def test_a_pending_silence_waits_for_its_start(tiny):
    with client(tiny) as c:
        sid = c.post("/silences", json=silence(tiny, [eq("alertname", "Watchdog")], starts=600)).json()["silenceID"]
        assert c.get(f"/silence/{sid}").json()["status"]["state"] == "pending"
        assert named(get_alerts(c), "Watchdog")[0]["status"]["silencedBy"] == []
        tiny.advance(601)
        assert c.get(f"/silence/{sid}").json()["status"]["state"] == "active"
        assert named(get_alerts(c), "Watchdog")[0]["status"]["silencedBy"] == [sid]
        # expiring a pending silence ends it before it began
        sid2 = c.post("/silences", json=silence(tiny, [eq("alertname", "Watchdog")], starts=600)).json()["silenceID"]
        assert c.delete(f"/silence/{sid2}").status_code == 200
        gone = c.get(f"/silence/{sid2}").json()
        assert gone["status"]["state"] == "expired" and gone["startsAt"] == gone["endsAt"]


def test_silences_are_listed_active_pending_expired_and_filtered(tiny):
    with client(tiny) as c:
        short = c.post("/silences", json=silence(tiny, [eq("alertname", "Watchdog")], hours=1)).json()["silenceID"]
        long_ = c.post("/silences", json=silence(tiny, [eq("namespace", "ns-.*", regex=True)], hours=5)).json()[
            "silenceID"]
        later = c.post("/silences", json=silence(tiny, [eq("alertname", "Watchdog")], starts=60)).json()["silenceID"]
        old = c.post("/silences", json=silence(tiny, [eq("alertname", "KubeNodeNotReady")])).json()["silenceID"]
        c.delete(f"/silence/{old}")
        assert [s["id"] for s in c.get("/silences").json()] == [short, long_, later, old]
        found = c.get("/silences", params={"filter": 'alertname="Watchdog"'}).json()
        assert [s["id"] for s in found] == [short, later]
        assert [s["id"] for s in c.get("/silences", params={"filter": 'namespace=~"ns-.*"'}).json()] == [long_]
        assert c.get("/silences", params={"filter": "nope"}).status_code == 400


def test_updating_a_silence_keeps_its_id_unless_history_would_change(tiny):
    with client(tiny) as c:
        body = silence(tiny, [eq("alertname", "Watchdog")])
        sid = c.post("/silences", json=body).json()["silenceID"]
        longer = {**body, "id": sid, "endsAt": iso(sim_now(tiny) + 4 * 3600), "comment": "OPS-1234 extended"}
        assert c.post("/silences", json=longer).json() == {"silenceID": sid}
        s = c.get(f"/silence/{sid}").json()
        assert s["comment"] == "OPS-1234 extended" and s["endsAt"] == longer["endsAt"]
        other = {**longer, "matchers": [eq("alertname", "Watchdog"), eq("severity", "none")]}
        new_id = c.post("/silences", json=other).json()["silenceID"]
        assert new_id != sid
        assert c.get(f"/silence/{sid}").json()["status"]["state"] == "expired"
        assert c.get(f"/silence/{new_id}").json()["status"]["state"] == "active"
        unknown = c.post("/silences", json={**body, "id": "00000000-0000-4000-8000-000000000000"})
        assert unknown.status_code == 404 and unknown.json() == "silence not found"


@pytest.mark.parametrize("change, words", [
    ({"endsAt": "2020-01-01T00:00:00Z", "startsAt": "2019-12-31T00:00:00Z"},
     "Failed to create silence: end time can't be in the past"),
    ({"swap": True}, "Failed to create silence: start time must be before end time"),
    ({"matchers": []}, "invalid silence: at least one matcher required"),
    ({"matchers": [eq("", "x")]}, 'invalid silence: invalid label matcher 0: invalid label name ""'),
    ({"matchers": [eq("alertname", "Watchdog"), eq("namespace", "(", regex=True)]},
     'invalid silence: invalid label matcher 1: invalid regular expression "("'),
    ({"matchers": [eq("namespace", ".*", regex=True)]},
     "invalid silence: at least one matcher must not match all strings"),
    ({"createdBy": None}, "createdBy in body is required"),
    ({"matchers": [{"name": "alertname", "value": "x"}]}, "matchers.0.isRegex in body is required"),
])
def test_a_bad_silence_is_refused_with_a_json_string(tiny, change, words):
    body = silence(tiny, [eq("alertname", "Watchdog")])
    if change.pop("swap", False):
        body["startsAt"], body["endsAt"] = body["endsAt"], body["startsAt"]
    body.update(change)
    with client(tiny) as c:
        r = c.post("/silences", json=body)
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
        assert isinstance(r.json(), str) and r.json().startswith(words)
        assert c.get("/silences").json() == []
        for raw in (b"not json", b"[]"):
            bad = c.post("/silences", content=raw, headers={"Content-Type": "application/json"})
            assert bad.status_code == 400 and isinstance(bad.json(), str)


def test_one_silence_is_read_on_the_singular_path_only(tiny):
    with client(tiny) as c:
        sid = c.post("/silences", json=silence(tiny, [eq("alertname", "Watchdog")])).json()["silenceID"]
        assert c.get(f"/silence/{sid}").json()["id"] == sid
        plural = c.get(f"/silences/{sid}")
        assert plural.status_code == 404 and plural.json()["code"] == 404
        assert c.delete(f"/silences/{sid}").status_code == 404
        unknown = "00000000-0000-4000-8000-000000000000"
        assert c.get(f"/silence/{unknown}").status_code == 404
        assert c.delete(f"/silence/{unknown}").status_code == 404
        assert c.put(f"/silence/{sid}").status_code == 405
        assert c.get(f"/silence/{sid}").json()["status"]["state"] == "active"  # none of that touched it


# ------------------------------------------------------------------------------------------ inhibition
def test_a_node_not_ready_inhibits_the_warnings_on_that_node(tiny):
    with client(tiny) as c:
        before = get_alerts(c)
        warned = [a for a in before if a["labels"]["severity"] == "warning" and a["labels"].get("node")
                  and not a["status"]["inhibitedBy"]]
        assert warned
        node = warned[0]["labels"]["node"]
        assert not named(before, "KubeNodeNotReady")
        now = datetime.fromtimestamp(sim_now(tiny), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        lost = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.", "lastTransitionTime": now, "lastHeartbeatTime": now}
        tiny.core().patch_node_status(node, {"status": {"conditions": [lost]}})
        after = get_alerts(c)
        (down,) = named(after, "KubeNodeNotReady")
        assert down["labels"]["node"] == node and down["labels"]["severity"] == "critical"
        assert down["startsAt"] == now.replace("Z", ".000Z") and down["status"]["state"] == "active"
        on_node = [a for a in after if a["labels"].get("node") == node and a["labels"]["severity"] == "warning"]
        assert {a["fingerprint"] for a in on_node} >= {a["fingerprint"] for a in warned if a["labels"]["node"] == node}
        for a in on_node:
            assert down["fingerprint"] in a["status"]["inhibitedBy"] and a["status"]["state"] == "suppressed"
        elsewhere = [a for a in after if a["labels"].get("node") not in (None, node)]
        assert all(down["fingerprint"] not in a["status"]["inhibitedBy"] for a in elsewhere)
        assert not {a["fingerprint"] for a in on_node} & {a["fingerprint"] for a in get_alerts(c, inhibited="false")}
        # the node back: its alert resolves and the warnings are no longer inhibited by it
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                 "lastTransitionTime": now, "lastHeartbeatTime": now}
        tiny.core().patch_node_status(node, {"status": {"conditions": [ready]}})
        healed = get_alerts(c)
        assert not named(healed, "KubeNodeNotReady")
        assert all(down["fingerprint"] not in a["status"]["inhibitedBy"] for a in healed)


def test_a_critical_gpu_temperature_inhibits_that_gpus_warning_only(tiny):
    gpu = {"Hostname": "gpua100-0001", "gpu": "3", "UUID": "GPU-0f0f0f0f-0000-0000-0000-000000000003"}
    with client(tiny) as c:
        r = c.post("/alerts", json=[
            {"labels": {"alertname": "GPUHighTemperature", "severity": "critical", **gpu}},
            {"labels": {"alertname": "GPUHighTemperature", "severity": "warning", **gpu}},
            {"labels": {"alertname": "GPUHighTemperature", "severity": "warning", **gpu, "gpu": "4"}},
        ])
        assert r.status_code == 200
        posted = {(a["labels"]["severity"], a["labels"]["gpu"]): a for a in named(get_alerts(c), "GPUHighTemperature")
                  if a["labels"]["Hostname"] == "gpua100-0001" and "prometheus" not in a["labels"]}
        hot, warn, other = posted[("critical", "3")], posted[("warning", "3")], posted[("warning", "4")]
        assert warn["status"] == {"state": "suppressed", "inhibitedBy": [hot["fingerprint"]], "silencedBy": [],
                                  "mutedBy": []}
        assert other["status"]["inhibitedBy"] == [] and hot["status"]["inhibitedBy"] == []
        assert hot["receivers"] == [{"name": "pager"}] and warn["receivers"] == [{"name": "prophecis-ops"}]


@pytest.mark.parametrize("temps, fired_at", [
    ([80] * 40, None),
    ([86] * 40, 300.0),  # firing once the condition held for 5 minutes (the window's start + for)
    ([80] * 30 + [91] * 10, None),  # 4.5 minutes above: still pending
    ([80] * 28 + [91] * 12, 28 * 30.0 + 300.0),
    ([80] * 10 + [91] * 22 + [88] * 8, 10 * 30.0 + 300.0),  # below for 3.5 minutes: keep_firing_for holds it
    ([80] * 10 + [91] * 20 + [88] * 10, None),  # below for 5 minutes: resolved
])
def test_gpu_rules_follow_prometheus_for_and_keep_firing_for(temps, fired_at):
    from prophecis_tui.simulator.alertmanager import _fired
    times = [30.0 * k for k in range(len(temps))]
    assert _fired(times, temps, lambda v: v > 90 if fired_at != 300.0 else v >= 85, 300.0,
                  300.0 if fired_at != 300.0 else 0.0) == fired_at


# ------------------------------------------------------------------------------------------ the world, over time
def test_a_failed_training_job_fires_and_deleting_it_resolves(tiny):
    ns = tiny.sim.world.tenants[0].name
    _, body = training_body("single", ns, "oom-train", "lihua", "fraud-xgb", random.Random(1))
    body["metadata"].setdefault("annotations", {}).update({PLAN_ANN: "OOMKilled", DURATION_ANN: "60"})
    c0 = body["spec"]["template"]["spec"]["containers"][0]
    c0["resources"] = {part: {"cpu": "100m", "memory": "256Mi"} for part in ("requests", "limits")}
    with client(tiny) as c:
        assert not [a for a in named(get_alerts(c), "TrainingJobFailed") if a["labels"]["job_name"] == "oom-train"]
        tiny.batch().create_namespaced_job(ns, body)
        alerts = advance_until(tiny, c, lambda al: [a for a in named(al, "TrainingJobFailed")
                                                    if a["labels"]["job_name"] == "oom-train"])
        (a,) = [a for a in named(alerts, "TrainingJobFailed") if a["labels"]["job_name"] == "oom-train"]
        assert a["labels"].items() >= {"severity": "critical", "namespace": ns, "job_kind": "Job",
                                       "reason": "OOMKilled", "model": "fraud-xgb"}.items()
        assert "OOMKilled" in a["annotations"]["description"] and a["receivers"] == [{"name": "pager"}]
        job = tiny.batch().read_namespaced_job("oom-train", ns)
        failed = next(x for x in job.status.conditions if x.type == "Failed")
        assert a["startsAt"] == failed.last_transition_time.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        started, fp = a["startsAt"], a["fingerprint"]
        tiny.advance(120)  # still failed: the same alert, its start kept, its end pushed on
        again = {x["fingerprint"]: x for x in get_alerts(c)}[fp]
        assert again["startsAt"] == started and again["endsAt"] > a["endsAt"]
        tiny.batch().delete_namespaced_job("oom-train", ns, propagation_policy="Background")
        assert fp not in {x["fingerprint"] for x in get_alerts(c)}


def test_a_crashing_model_server_fires_crash_loop_then_unavailable(tiny):
    ns = tiny.sim.world.tenants[1].name
    body = sdep_body(ns, "txn-gnn-svc-beef", "lihua", "txn-gnn", random.Random(3))
    body["metadata"].setdefault("annotations", {})[PLAN_ANN] = "crash"
    body["spec"]["replicas"] = 1
    body["spec"]["predictors"] = body["spec"]["predictors"][:1]
    for comp in body["spec"]["predictors"][0]["componentSpecs"]:
        for cont in comp["spec"]["containers"]:
            cont["resources"] = {part: {"cpu": "100m", "memory": "256Mi"} for part in ("requests", "limits")}
    with client(tiny) as c:
        tiny.custom().create_namespaced_custom_object("machinelearning.seldon.io", "v1", ns, "seldondeployments", body)

        def mine(al, name):
            return [a for a in named(al, name) if a["labels"].get("seldon_deployment_id") == "txn-gnn-svc-beef"]
        alerts = advance_until(tiny, c, lambda al: mine(al, "SeldonDeploymentUnavailable")
                               and mine(al, "KubePodCrashLooping"))
        (down,) = mine(alerts, "SeldonDeploymentUnavailable")
        assert down["labels"].items() >= {"severity": "critical", "namespace": ns, "model": "txn-gnn"}.items()
        loop = mine(alerts, "KubePodCrashLooping")[0]
        assert loop["labels"]["severity"] == "warning" and loop["labels"]["pod"].startswith("txn-gnn-svc-beef")
        tiny.custom().delete_namespaced_custom_object("machinelearning.seldon.io", "v1", ns, "seldondeployments",
                                                      "txn-gnn-svc-beef")
        advance_until(tiny, c, lambda al: not mine(al, "SeldonDeploymentUnavailable")
                      and not mine(al, "KubePodCrashLooping"), step=5.0, limit=120.0)


def test_a_gpu_quota_nearly_used_up_fires_and_freeing_it_resolves(tiny):
    from prophecis_tui.simulator.engine import QUOTA_NAME, QUOTAS
    ns = tiny.sim.world.tenants[0].name
    store = tiny.sim.engine.store

    def quota_status(used: str) -> None:  # what the apiserver's quota controller writes
        hard = {"requests.nvidia.com/gpu": "16", "requests.cpu": "94"}
        store.set_status(QUOTAS, ns, QUOTA_NAME, {"hard": hard, "used": {"requests.nvidia.com/gpu": used,
                                                                          "requests.cpu": "1"}})

    def mine(al):
        return [a for a in named(al, "GPUQuotaNearlyExhausted") if a["labels"]["namespace"] == ns]
    with client(tiny) as c:
        tiny.call(quota_status, "14")  # 87.5 %
        assert not mine(get_alerts(c))
        tiny.call(quota_status, "15")  # 93.75 %
        (a,) = mine(get_alerts(c))
        assert a["labels"].items() >= {"severity": "warning", "resource": "requests.nvidia.com/gpu",
                                       "resourcequota": QUOTA_NAME}.items()
        assert "15/16" in a["annotations"]["description"]
        tiny.call(quota_status, "4")
        assert not mine(get_alerts(c))


def test_alerts_are_grouped_by_alertname_and_namespace_one_receiver_each(tiny):
    with client(tiny) as c:
        alerts = get_alerts(c)
        r = c.get("/alerts/groups")
    assert r.status_code == 200
    groups = r.json()
    assert sum(len(g["alerts"]) for g in groups) == len(alerts)
    seen = set()
    for g in groups:
        assert set(g["labels"]) <= {"alertname", "namespace"} and "alertname" in g["labels"]
        key = (tuple(sorted(g["labels"].items())), g["receiver"]["name"])
        assert key not in seen
        seen.add(key)
        for a in g["alerts"]:
            assert all(a["labels"].get(k) == v for k, v in g["labels"].items())
            assert a["receivers"] == [g["receiver"]]
            assert "namespace" in g["labels"] or "namespace" not in a["labels"]


# ------------------------------------------------------------------------------------------ posted alerts
def test_posted_alerts_are_kept_until_their_end(tiny):
    now = sim_now(tiny)
    with client(tiny) as c:
        r = c.post("/alerts", json=[
            {"labels": {"alertname": "ScriptCheck", "namespace": "ns-unknown-thing", "severity": "warning",
                        "empty": ""}, "annotations": {"summary": "from a script"}},
            {"labels": {"alertname": "ScriptCheck", "severity": "critical"}, "startsAt": iso(now - 60),
             "endsAt": iso(now + 3600), "generatorURL": "http://example.internal/x"},
        ])
        assert r.status_code == 200 and r.content == b""
        posted = {a["labels"]["severity"]: a for a in named(get_alerts(c), "ScriptCheck")}
        assert posted["warning"]["labels"] == {"alertname": "ScriptCheck", "namespace": "ns-unknown-thing",
                                               "severity": "warning"}  # empty labels dropped
        assert posted["warning"]["startsAt"] == iso(now) and posted["warning"]["endsAt"] == iso(now + 300)
        assert posted["critical"]["startsAt"] == iso(now - 60) and posted["critical"]["receivers"] == [
            {"name": "pager"}]
        # posted again while firing: one alert, its start kept
        c.post("/alerts", json=[{"labels": {"alertname": "ScriptCheck", "namespace": "ns-unknown-thing",
                                            "severity": "warning"}}])
        tiny.advance(200)
        c.post("/alerts", json=[{"labels": {"alertname": "ScriptCheck", "namespace": "ns-unknown-thing",
                                            "severity": "warning"}}])
        again = [a for a in named(get_alerts(c), "ScriptCheck") if a["labels"]["severity"] == "warning"]
        assert len(again) == 1 and again[0]["startsAt"] == iso(now) and again[0]["endsAt"] == iso(now + 500)
        tiny.advance(301)  # not re-posted: resolved, no longer listed
        assert [a["labels"]["severity"] for a in named(get_alerts(c), "ScriptCheck")] == ["critical"]
        resolved = c.post("/alerts", json=[{"labels": {"alertname": "ScriptCheck", "severity": "critical"},
                                            "startsAt": iso(now - 60), "endsAt": iso(now)}])
        assert resolved.status_code == 200 and not named(get_alerts(c), "ScriptCheck")


def test_bad_posted_alerts_get_a_json_string_and_the_good_ones_are_kept(tiny):
    now = sim_now(tiny)
    with client(tiny) as c:
        r = c.post("/alerts", json=[{"labels": {}}, {"labels": {"1bad": "x"}},
                                    {"labels": {"alertname": "Backwards"}, "startsAt": iso(now), "endsAt": iso(now - 5)},
                                    {"labels": {"alertname": "Fine"}}])
        assert r.status_code == 400 and isinstance(r.json(), str)
        assert "at least one label pair required" in r.json() and "start time must be before end time" in r.json()
        assert named(get_alerts(c), "Fine") and not named(get_alerts(c), "Backwards")
        for raw in (b"{}", b"nope"):
            bad = c.post("/alerts", content=raw, headers={"Content-Type": "application/json"})
            assert bad.status_code == 400 and isinstance(bad.json(), str)


# ------------------------------------------------------------------------------------------ the rest of the API
def test_status_and_receivers(tiny):
    with client(tiny) as c:
        st = c.get("/status").json()
        assert st["cluster"]["status"] == "disabled" and st["versionInfo"]["version"] == "0.27.0-sim"
        assert "inhibit_rules:" in st["config"]["original"] and "group_by: [alertname, namespace]" in \
            st["config"]["original"]
        assert MS.match(st["uptime"])
        assert sorted(r["name"] for r in c.get("/receivers").json()) == ["null", "pager", "prophecis-ops"]
        assert c.get("/nothing").status_code == 404
        assert c.delete("/alerts").status_code == 405
        base = tiny.sim.url + "/alertmanager"
        assert c.get(base + "/-/healthy").text == "OK"
        v1 = c.get(base + "/api/v1/alerts")
        assert v1.status_code == 410 and "v2" in v1.json()["error"]


def test_no_credentials_are_needed_and_nothing_counts_as_a_cluster_write(tiny):
    with client(tiny) as c:
        c.post("/silences", json=silence(tiny, [eq("alertname", "Watchdog")]))
        c.post("/alerts", json=[{"labels": {"alertname": "X"}}])
    assert not [w for w in tiny.sim.api.writes if w[1].startswith("/alertmanager")]


def test_the_alertmanager_error_fault_fails_it_and_zero_recovers(tiny):
    admin = {"Authorization": f"Bearer {tiny.sim.identity('admin').token}"}
    with client(tiny) as c:
        r = c.post(tiny.sim.url + "/sim/admin/faults", headers=admin, json={"alertmanager_error": 503})
        assert r.status_code == 200 and r.json()["faults"]["alertmanager_error"] == 503
        for method, path in (("GET", "/alerts"), ("GET", "/silences"), ("POST", "/silences"), ("GET", "/status")):
            failed = c.request(method, path, json={} if method == "POST" else None)
            assert failed.status_code == 503 and failed.json() == "injected fault"
        assert c.get(tiny.sim.url + "/api/v1/namespaces", headers=admin).status_code == 200  # the API is fine
        assert c.post(tiny.sim.url + "/sim/admin/faults", headers=admin, json={"alertmanager_error": 0}).status_code \
            == 200
        assert c.get("/alerts").status_code == 200
        for value in (200, 600, -1, "x", True):
            assert c.post(tiny.sim.url + "/sim/admin/faults", headers=admin,
                          json={"alertmanager_error": value}).status_code == 400
        assert tiny.sim.faults.alertmanager_error == 0


def test_api_faults_do_not_reach_the_alertmanager(tiny):
    tiny.call(tiny.sim.faults.update, {"error_rate": 1.0, "error_codes": [503]})
    with client(tiny) as c:
        assert c.get("/alerts").status_code == 200


# ------------------------------------------------------------------------------------------ what the console asks
@pytest.mark.parametrize("role, namespace, verb, allowed", [
    ("admin", None, "create", True),
    ("admin", "ns-credit-approval", "delete", True),
    ("group-admin", "own", "create", True),
    ("group-admin", "own", "delete", True),
    ("group-admin", "other", "create", False),
    ("group-admin", None, "create", False),  # a cluster-scope alert (no namespace): not theirs to silence
    ("viewer", "own", "create", False),
    ("viewer", None, "delete", False),
])
def test_who_may_silence(tiny, role, namespace, verb, allowed):
    own = tiny.sim.identity("group-admin").namespaces
    assert own and "ns-credit-approval" not in own
    ns = {"own": own[0], "other": "ns-credit-approval"}.get(namespace, namespace)
    review = k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(
        resource_attributes=k8s.V1ResourceAttributes(verb=verb, group="monitoring.coreos.com", resource="silences",
                                                     namespace=ns)))
    out = k8s.AuthorizationV1Api(tiny.api(role)).create_self_subject_access_review(review)
    assert out.status.allowed is allowed


def test_write_config_points_the_console_at_the_alertmanager(tiny):
    from prophecis_tui.config import load_settings
    d = tiny.kubeconfig.parent
    text = (d / "config.toml").read_text()
    url = tiny.sim.url + "/alertmanager"
    assert f'alertmanagers = ["{url}"]' in text
    s = load_settings(d / "config.toml", env={"HOME": str(d)})
    # with the CA that signed the simulator's certificate: the console (not only the demo) reaches it over TLS
    assert [str(u).rstrip("/") for u in s.alerts.alertmanagers] == [url]
    assert s.alerts.ca_file is not None and s.alerts.ca_file.read_bytes() == (d / "ca.crt").read_bytes()
    ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
    with httpx.Client(verify=ctx, timeout=30.0) as c:
        assert c.get(url + "/api/v2/status").json()["versionInfo"]["version"] == "0.27.0-sim"


# ------------------------------------------------------------------------------------------ cost
def test_alerts_are_assembled_at_most_once_per_simulated_second_and_only_changes_are_reevaluated(tiny):
    am = tiny.sim.api.alertmanager
    with client(tiny) as c:
        get_alerts(c)
        built, seen = am.computed, am.world.evaluated
        for _ in range(3):
            get_alerts(c)
            c.get("/alerts/groups")
        assert am.computed == built and am.world.evaluated == seen  # frozen clock, nothing changed
        waiting = next(a for a in get_alerts(c) if a["labels"]["alertname"] in ("KubeContainerWaiting",
                                                                                 "KubePodCrashLooping"))
        ns, pod = waiting["labels"]["namespace"], waiting["labels"]["pod"]
        tiny.core().delete_namespaced_pod(pod, ns, grace_period_seconds=0)
        after = get_alerts(c)
        assert am.computed == built + 1
        assert waiting["fingerprint"] not in {a["fingerprint"] for a in after}
        assert 0 < am.world.evaluated - seen < 20  # the pod and what its deletion touched, not the world

"""The simulated bank's CMDB (GET /cmdb/api/v1/business-systems): deterministic per seed, every kind of
ownership, each pointing at something the world has; served over loopback TLS without credentials (a token,
when sent, must be one of the simulator's); the cmdb_error fault makes it fail and recover."""

from __future__ import annotations

import fnmatch
import json
import ssl
from types import SimpleNamespace

import httpx
import pytest

from prophecis_tui.cmdb import FIELDS as CONSOLE_FIELDS
from prophecis_tui.simulator.cmdb import APP_NAMES, FIELDS, PATH, Cmdb
from prophecis_tui.simulator.sim import Simulation
from prophecis_tui.simulator.world import DEPARTMENTS, MODELS, SCALES, tenants
from tests.conftest import START

OWNERSHIP = ("k8s_namespaces", "ns_segments", "k8s_labels", "seldon_deployments", "hosts")


def records(scale: str = "tiny", seed: int = 7) -> list[dict]:
    sim = Simulation(scale, seed, speed=0.0, start_time=START, activity=False)
    return json.loads(sim.api.cmdb.body())["data"]


def client(cluster) -> httpx.Client:
    ctx = ssl.create_default_context(cadata=cluster.sim.tls.ca_pem.decode())
    return httpx.Client(base_url=cluster.sim.url, verify=ctx, timeout=10.0)


def test_the_same_seed_gives_the_same_cmdb_and_another_seed_other_people():
    a, b, other = records(seed=7), records(seed=7), records(seed=8)
    assert a == b
    assert [r["sys_code"] for r in other] == [r["sys_code"] for r in a]  # the systems are the world's
    assert [(r["sys_owner"], r["duty_contact"]) for r in other] != [(r["sys_owner"], r["duty_contact"]) for r in a]


def test_records_use_the_cmdbs_own_field_names_not_the_consoles():
    rec = records()[0]
    assert set(FIELDS.values()) <= set(rec)
    assert set(FIELDS) == set(CONSOLE_FIELDS)  # the mapping --write-config writes covers every field of ours
    assert not {"id", "name", "tier", "namespaces", "segments", "nodes"} & set(rec)  # the mapping matters
    assert rec["sys_code"] == "BS1001" and rec["sys_name"] == "信用评分卡" and rec["dept_name"] == "风险管理部"
    assert isinstance(rec["level"], int) and 1 <= rec["level"] <= 4
    assert rec["duty_contact"].startswith(rec["sys_owner"] + " / 1")


def test_one_system_per_application_group_and_every_kind_of_ownership():
    sim = Simulation("small", 7, speed=0.0, start_time=START, activity=False)
    recs = json.loads(sim.api.cmdb.body())["data"]
    ts = sim.world.tenants
    ids = [r["sys_code"] for r in recs]
    assert len(ids) == len(set(ids)) and len({r["sys_name"] for r in recs}) == len(recs)
    per_app = [r for r in recs if r["sys_code"].startswith("BS1")]
    assert [r["sys_alias"] for r in per_app] == [f"{t.department}-{t.app}" for t in ts]
    assert per_app[0]["k8s_namespaces"] == [ts[0].name] and per_app[1]["ns_segments"] == [
        f"{ts[1].department}-{ts[1].app}"]
    # every kind is there, and each names what the world has
    namespaces = {t.name for t in ts} | {"prophecis"}
    nodes = {n.name for n in sim.engine.nodes.values()} | {n.ip for n in sim.engine.nodes.values()}
    kinds = {k: [v for r in recs for v in r[k]] for k in OWNERSHIP}
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    assert set(kinds["k8s_namespaces"]) <= namespaces
    assert {s for s in kinds["ns_segments"] if "-" not in s} == {t.department for t in ts}  # department-wide
    assert all(any(t.name == f"ns-{s}" or t.name.startswith(f"ns-{s}-") for t in ts) for s in kinds["ns_segments"])
    models = {m for ms in MODELS.values() for m in ms}
    assert all(k == "model" and v in models for k, v in (lbl.split("=") for lbl in kinds["k8s_labels"]))
    assert all(any(fnmatch.fnmatch(f"{m}-svc-1a2b", p) for m in models) for p in kinds["seldon_deployments"])
    assert set(kinds["hosts"]) <= nodes
    assert any(h[0].isdigit() for h in kinds["hosts"]) and any(h[0].isalpha() for h in kinds["hosts"])  # IP, name


def test_the_tiny_world_has_every_kind_too():
    recs = records("tiny")
    assert all(any(r[k] for r in recs) for k in OWNERSHIP)


def test_names_stay_distinct_at_the_largest_scale():
    ts = tenants(SCALES["xlarge"], 42)
    world = SimpleNamespace(tenants=ts)
    engine = SimpleNamespace(nodes={}, clock=SimpleNamespace(now=lambda: START))
    recs = Cmdb(world, engine, 42).records()
    assert len(recs) == len(ts) + 3 * len(DEPARTMENTS) + 1  # and the platform (no GPU pool without nodes)
    assert len({r["sys_name"] for r in recs}) == len(recs)
    assert "信用评分卡(二期)" in {r["sys_name"] for r in recs}
    assert all(app in APP_NAMES[d] for d, apps in DEPARTMENTS.items() for app in apps)


# ------------------------------------------------------------------------------------------ served
def test_served_without_credentials_as_utf8_json(tiny):
    with client(tiny) as c:
        r = c.get(PATH)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
    assert "反欺诈交易评分".encode() in r.content  # not \\u-escaped
    body = r.json()
    assert (body["code"], body["msg"], body["total"]) == (0, "success", len(body["data"]))
    assert body["data"] == records("tiny")


def test_a_token_if_sent_must_be_one_of_the_simulators(tiny):
    with client(tiny) as c:
        ok = c.get(PATH, headers={"Authorization": f"Bearer {tiny.sim.identity('viewer').token}"})
        bad = c.get(PATH, headers={"Authorization": "Bearer not-a-token"})
        basic = c.get(PATH, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert ok.status_code == 200
    assert bad.status_code == 401 and bad.json() == {"code": 401, "msg": "invalid token", "data": None}
    assert basic.status_code == 401


def test_only_get_on_the_one_path(tiny):
    with client(tiny) as c:
        assert c.post(PATH, content=b"{}").status_code == 405
        assert c.get("/cmdb/api/v1/nothing").status_code == 404
    assert not [w for w in tiny.sim.api.writes if w[1].startswith("/cmdb/")]  # not a change to the cluster


def test_the_cmdb_error_fault_fails_it_and_zero_recovers(tiny):
    admin = {"Authorization": f"Bearer {tiny.sim.identity('admin').token}"}
    with client(tiny) as c:
        r = c.post("/sim/admin/faults", headers=admin, json={"cmdb_error": 500})
        assert r.status_code == 200 and r.json()["faults"]["cmdb_error"] == 500
        failed = c.get(PATH)
        assert failed.status_code == 500 and failed.json()["msg"] == "injected fault"
        assert c.get("/api/v1/namespaces", headers=admin).status_code == 200  # the API is not affected
        assert c.post("/sim/admin/faults", headers=admin, json={"cmdb_error": 0}).status_code == 200
        assert c.get(PATH).status_code == 200


@pytest.mark.parametrize("value", [200, 302, 600, -1, "x", True])
def test_a_cmdb_error_that_is_not_an_error_code_is_refused(tiny, value):
    admin = {"Authorization": f"Bearer {tiny.sim.identity('admin').token}"}
    with client(tiny) as c:
        r = c.post("/sim/admin/faults", headers=admin, json={"cmdb_error": value})
    assert r.status_code == 400 and tiny.sim.faults.cmdb_error == 0


def test_api_faults_do_not_reach_the_cmdb(tiny):
    tiny.call(tiny.sim.faults.update, {"error_rate": 1.0, "error_codes": [503]})
    with client(tiny) as c:
        assert c.get(PATH).status_code == 200

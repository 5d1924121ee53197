"""Quota arithmetic: pressure per tenant, the max's sources, used vs pods, blocked work, the edit check."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from prophecis_tui.domain import (
    Event,
    JobState,
    Namespace,
    Node,
    Notebook,
    NotebookState,
    Pod,
    Quota,
    TrainingJob,
)
from prophecis_tui.quota import (
    DEFAULT_MAX_ANNOTATION,
    NamespacePressure,
    NodeCapacity,
    gpu_max,
    namespace_capacity,
    nearest_limits,
    node_gpu_capacity,
    node_selector_of,
    pressures,
    validate_quota_edit,
)
from prophecis_tui.state import State

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
QUOTA_MSG = ('pods "nb-0" is forbidden: exceeded quota: mlss-default-rq, requested: requests.nvidia.com/gpu=1, '
             'used: requests.nvidia.com/gpu=4, limited: requests.nvidia.com/gpu=4')
GPU_LABELS = {"hardware-type": "NVIDIAGPU", "lb-bus-type": "gpu"}


def quota(ns: str, base: float | None = None, used: float = 0.0, *, limit: float | None = None,
          annotations: dict[str, str] | None = None, **kw) -> Quota:
    hard = base if base is not None else limit
    return Quota(uid=f"q-{ns}", namespace=ns, name="mlss-default-rq", gpu_hard=hard,
                 gpu_used=used if base is not None else 0.0, gpu_base=base, gpu_limit=limit,
                 annotations=annotations or {}, **kw)


def pod(name: str, ns: str, gpus: int, *, node: str = "", phase: str = "Running", **kw) -> Pod:
    return Pod(uid=f"uid-{ns}-{name}", namespace=ns, name=name, phase=phase, status=phase, node=node, gpus=gpus,
               created=T0, **kw)


def node(name: str, gpus: int, dept: str, app: str, **labels: str) -> Node:
    extra = {k.replace("_", "-"): v for k, v in labels.items()}
    return Node(name=name, uid=name, ready=True, gpu_capacity=gpus, gpu_allocatable=gpus, department=dept, app=app,
                labels={**GPU_LABELS, "lb-department": dept, "lb-app": app, **extra})


def namespace(name: str, selector: dict[str, str] | None = None, **kw) -> Namespace:
    sel = selector or {}
    return Namespace(name=name, uid=name, department=sel.get("lb-department", ""), app=sel.get("lb-app", ""),
                     node_selector=sel, **kw)


def sel(dept: str, app: str) -> dict[str, str]:
    return {"lb-department": dept, "lb-app": app}


def state(*, quotas=(), pods=(), nodes=(), namespaces=(), notebooks=(), jobs=(), events=(), list_pods=True) -> State:
    s = State()
    s.replace("namespaces", "namespaces", list(namespaces))
    s.replace("nodes", "nodes", list(nodes))
    s.replace("resourcequotas", "quotas", list(quotas))
    if list_pods:
        s.replace("pods", "pods", list(pods))
    s.replace("notebooks", "notebooks", list(notebooks))
    s.replace("pytorchjobs", "trainingjobs", list(jobs))
    s.replace("seldondeployments", "deployments", [])
    s.replace("events", "events", list(events))
    return s


def rows(s: State, **kw) -> dict[str, NamespacePressure]:
    return {r.namespace: r for r in pressures(s, **kw)}


# ------------------------------------------------------------------------------------------ the max
def test_max_comes_from_the_annotation_then_limits_then_nowhere():
    both = quota("a", 8, limit=16, annotations={DEFAULT_MAX_ANNOTATION: "12"})
    assert (gpu_max(both).value, gpu_max(both).source) == (12.0, "annotation")
    assert (gpu_max(both, "other/key").value, gpu_max(both, "other/key").source) == (16.0, "limits")
    assert (gpu_max(quota("b", 8)).value, gpu_max(quota("b", 8)).source) == (None, "")
    assert gpu_max(None).value is None
    # a configured key is read instead of the default
    custom = quota("c", 4, annotations={"example.com/max-gpus": " 6 ", DEFAULT_MAX_ANNOTATION: "9"})
    assert gpu_max(custom, "example.com/max-gpus").value == 6.0


@pytest.mark.parametrize("text", ["lots", "-2", "1.5", ""])
def test_an_unreadable_max_annotation_is_noted_and_limits_are_used(text):
    m = gpu_max(quota("a", 4, limit=8, annotations={DEFAULT_MAX_ANNOTATION: text}))
    assert (m.value, m.source) == (8.0, "limits")
    assert DEFAULT_MAX_ANNOTATION in m.note and "not a GPU count" in m.note
    assert gpu_max(quota("a", 4, annotations={DEFAULT_MAX_ANNOTATION: text})).value is None


# ------------------------------------------------------------------------------------------ pressure
def test_rows_are_sorted_by_pressure_and_flag_bursting_and_near_max():
    s = state(quotas=[
        quota("ns-max", 8, 11, annotations={DEFAULT_MAX_ANNOTATION: "12"}),  # 11/12, above base 8
        quota("ns-lim", 4, 2, limit=8),  # 2/8
        quota("ns-base", 4, 3),  # 3/4, no max
        quota("ns-full", 4, 4, limit=4),  # 4/4
        quota("ns-none"),  # counts no GPUs
        quota("ns-idle", 2, 0, limit=6),  # 0/6
    ], pods=[pod("p", "ns-max", 11, node="g1"), pod("p", "ns-lim", 2, node="g2"), pod("p", "ns-base", 3, node="g3"),
             pod("p", "ns-full", 4, node="g4")])
    got = pressures(s)
    assert [r.namespace for r in got] == ["ns-full", "ns-max", "ns-base", "ns-lim", "ns-idle", "ns-none"]
    r = {x.namespace: x for x in got}
    assert r["ns-max"].pressure == pytest.approx(11 / 12)
    assert (r["ns-max"].gpu_base, r["ns-max"].gpu_max, r["ns-max"].max_source) == (8.0, 12.0, "annotation")
    assert r["ns-max"].bursting and r["ns-max"].near_max and not r["ns-max"].over_max
    assert r["ns-base"].pressure == 0.75 and r["ns-base"].gpu_max is None and not r["ns-base"].bursting
    assert not r["ns-base"].near_max  # no max: nothing to be near
    assert r["ns-lim"].pressure == 0.25 and r["ns-lim"].max_source == "limits" and not r["ns-lim"].near_max
    assert r["ns-full"].near_max and not r["ns-full"].bursting  # used == base is not bursting
    assert r["ns-none"].pressure is None and r["ns-none"].gpu_used is None and r["ns-none"].limit is None


def test_near_max_starts_at_exactly_ninety_percent():
    s = state(quotas=[quota("at", 5, 9, annotations={DEFAULT_MAX_ANNOTATION: "10"}),
                      quota("under", 5, 8, annotations={DEFAULT_MAX_ANNOTATION: "10"}),
                      quota("over", 5, 11, annotations={DEFAULT_MAX_ANNOTATION: "10"})],
              list_pods=False)
    r = rows(s)
    assert r["at"].near_max and not r["under"].near_max
    assert r["over"].near_max and r["over"].over_max and r["over"].pressure == pytest.approx(1.1)


def test_a_zero_limit_is_infinite_pressure_only_when_something_is_used():
    r = rows(state(quotas=[quota("zero-used", 0, 1), quota("zero-idle", 0, 0)], list_pods=False))
    assert r["zero-used"].pressure == math.inf and r["zero-used"].bursting
    assert r["zero-idle"].pressure == 0.0 and not r["zero-idle"].bursting
    assert [x.namespace for x in pressures(state(quotas=[quota("zero-used", 0, 1), quota("half", 2, 1)],
                                                 list_pods=False))] == ["zero-used", "half"]


def test_cpu_and_memory_come_from_the_quota():
    q = quota("a", 4, 1, cpu_hard=16.0, cpu_used=2.5, memory_hard=64 * 2.0 ** 30, memory_used=2.0 ** 30)
    r = rows(state(quotas=[q], list_pods=False))["a"]
    assert (r.cpu_used, r.cpu_hard, r.memory_used, r.memory_hard) == (2.5, 16.0, 2.0 ** 30, 64 * 2.0 ** 30)


# ------------------------------------------------------------------------------------------ used vs pods
def test_used_is_checked_against_every_unfinished_pod():
    s = state(quotas=[quota("ok", 8, 5), quota("lag", 8, 5), quota("gone", 8, 0)], pods=[
        pod("a", "ok", 2, node="g1"), pod("b", "ok", 1, node="g1", phase="Pending"),  # scheduled, starting
        pod("c", "ok", 2, phase="Pending"),  # not scheduled: the quota counts it all the same
        pod("d", "ok", 4, node="g1", phase="Succeeded"), pod("e", "ok", 4, node="g1", phase="Failed"),
        pod("f", "ok", 0, node="g1"),
        pod("a", "lag", 3, node="g1"),  # status.used says 5
        pod("a", "gone", 1, node="g1")])
    r = rows(s)
    assert (r["ok"].pod_gpus, r["ok"].pending_gpus, r["ok"].counted_gpus, r["ok"].mismatch) == (3, 2, 5, False)
    assert (r["lag"].pod_gpus, r["lag"].gpu_used, r["lag"].mismatch) == (3, 5.0, True)
    assert r["gone"].mismatch and r["gone"].counted_gpus == 1


def test_no_mismatch_is_claimed_before_the_pods_are_listed():
    r = rows(state(quotas=[quota("a", 8, 5)], list_pods=False))["a"]
    assert not r.pods_known and not r.mismatch and r.used == 5.0


def test_a_quota_that_does_not_count_gpus_is_measured_by_the_pods():
    s = state(quotas=[quota("lim", limit=4)], pods=[pod("a", "lim", 3, node="g1")])
    r = rows(s)["lim"]
    assert r.gpu_used is None and r.used == 3.0 and not r.mismatch
    assert (r.gpu_base, r.gpu_max, r.pressure) == (None, 4.0, 0.75)


def test_namespaces_without_a_quota_show_only_when_they_hold_gpus_or_are_blocked():
    s = state(namespaces=[namespace("free"), namespace("quiet"), namespace("leaving", terminating=True)],
              pods=[pod("a", "free", 2, node="g1"), pod("b", "quiet", 0, node="g1"), pod("c", "leaving", 1, node="g1")])
    r = rows(s)
    assert set(r) == {"free"}
    assert not r["free"].has_quota and r["free"].pressure is None and r["free"].used == 2.0


# ------------------------------------------------------------------------------------------ blocked work
def test_blocked_work_is_listed_with_the_explainers_reasons():
    ns = "ns-risk-b"
    s = state(
        namespaces=[namespace(ns, sel("risk", "b"))],
        nodes=[node("g-b1", 4, "risk", "b"), node("g-x", 8, "risk", "other")],
        quotas=[quota(ns, 4, 3)],
        pods=[pod("big-0", ns, 8, phase="Pending", job_name="big", owner_kind="PyTorchJob", owner_name="big"),  # no node has 8
              pod("img-0", ns, 1, node="g-b1", phase="Pending", waiting="ImagePullBackOff: nope"),  # scheduled
              pod("run-0", ns, 2, node="g-b1"), pod("gone-0", ns, 1, phase="Pending", deleting=True)],
        notebooks=[Notebook(uid="nb", namespace=ns, name="nb", state=NotebookState.STARTING, gpus=1),
                   Notebook(uid="ok", namespace=ns, name="ok", state=NotebookState.RUNNING, gpus=1)],
        jobs=[TrainingJob(uid="j", namespace=ns, name="wide", kind="PyTorchJob", state=JobState.PENDING,
                          replicas=2, gpus=4),
              TrainingJob(uid="big", namespace=ns, name="big", kind="PyTorchJob", state=JobState.PENDING,
                          replicas=1, gpus=8)],
        events=[Event(uid="e1", namespace=ns, name="e1", type="Warning", reason="FailedCreate", message=QUOTA_MSG,
                      object_kind="StatefulSet", object_name="nb", last=T0)])
    r = rows(s)[ns]
    got = [(b.kind, b.name, b.cause, b.reason, b.gpus) for b in r.blocked]
    assert got == [
        ("Notebook", "nb", "quota", "quota mlss-default-rq: needs 1 GPU, 4/4 used", 1),
        ("PyTorchJob", "wide", "quota", "needs 4 GPU, namespace quota has 1 free (3/4 used)", 4),
        ("Pod", "big-0", "capacity", "needs 8 GPU, more than any node has (largest: 4 GPUs on g-b1)", 8),
    ]
    assert [b.name for b in r.blocked_by_quota] == ["nb", "wide"]
    assert [b.name for b in r.blocked_by_capacity] == ["big-0"]


def test_a_pending_pod_blocked_by_the_scheduler_gets_its_message_in_plain_words():
    ns = "ns-a-b"
    msg = "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector."
    s = state(namespaces=[namespace(ns, sel("a", "b"))], nodes=[node("g1", 8, "a", "b")],
              quotas=[quota(ns, 8, 0)], pods=[pod("cpu-0", ns, 0, phase="Pending")],
              events=[Event(uid="e", namespace=ns, name="e", type="Warning", reason="FailedScheduling", message=msg,
                            object_kind="Pod", object_name="cpu-0", object_uid=f"uid-{ns}-cpu-0", last=T0)])
    (b,) = rows(s)[ns].blocked
    assert (b.kind, b.cause, b.reason) == ("Pod", "capacity", "2 nodes lack CPU, 1 doesn't match the node selector")


# ------------------------------------------------------------------------------------------ capacity
NODES = [
    node("a1", 8, "risk", "scorecard", lb_gpu_model="V100"),
    node("a2", 4, "risk", "scorecard", lb_gpu_model="A100"),
    node("b1", 8, "risk", "fraud", lb_gpu_model="V100"),
    Node(name="cpu1", uid="cpu1", ready=True, gpu_allocatable=2, department="risk", app="scorecard",
         labels={"lb-department": "risk", "lb-app": "scorecard"}),  # GPUs, but not labelled a GPU node
    Node(name="down", uid="down", ready=False, unschedulable=True, gpu_allocatable=8,
         labels={**GPU_LABELS, "lb-department": "risk", "lb-app": "scorecard"}),
]


def test_capacity_sums_the_gpu_nodes_the_selector_matches():
    assert node_gpu_capacity(NODES, sel("risk", "scorecard")) == (20, ("a1", "a2", "down"))
    assert node_gpu_capacity(NODES, {**sel("risk", "scorecard"), "lb-gpu-model": "V100"}) == (8, ("a1",))
    assert node_gpu_capacity(NODES, sel("risk", "fraud")) == (8, ("b1",))
    assert node_gpu_capacity(NODES, sel("ops", "x")) == (0, ())
    assert node_gpu_capacity(NODES, sel("risk", "scorecard"), gpu_node_label=None)[0] == 22


def test_capacity_of_a_namespace_from_the_state():
    s = state(namespaces=[namespace("ns-risk-scorecard", sel("risk", "scorecard")), namespace("ns-loose"),
                          Namespace(name="ns-old", uid="o", department="risk", app="fraud")], nodes=NODES)
    cap = namespace_capacity(s, "ns-risk-scorecard")
    assert (cap.gpus, cap.nodes, cap.selector) == (20, ("a1", "a2", "down"), "lb-department=risk,lb-app=scorecard")
    assert namespace_capacity(s, "ns-old").gpus == 8  # department and app without the annotation's text
    loose = namespace_capacity(s, "ns-loose")
    assert loose.gpus is None and "no node selector" in loose.reason
    assert "not known" in namespace_capacity(s, "ns-nope").reason
    assert node_selector_of(namespace("x", sel("a", "b"))) == {"lb-department": "a", "lb-app": "b"}


def test_capacity_is_not_claimed_before_the_nodes_are_listed():
    s = State()
    s.replace("namespaces", "namespaces", [namespace("ns-a-b", sel("a", "b"))])
    cap = namespace_capacity(s, "ns-a-b")
    assert cap.gpus is None and "not listed" in cap.reason


# ------------------------------------------------------------------------------------------ the edit check
CAP = NodeCapacity(16, ("a1", "a2"), "lb-department=risk,lb-app=scorecard")


def test_a_sound_edit_passes():
    assert validate_quota_edit(8, 12, 16) == ""
    assert validate_quota_edit(16, None, CAP) == ""
    assert validate_quota_edit("8", "16", CAP) == ""
    assert validate_quota_edit(0, 0, 0) == ""
    assert validate_quota_edit(4, 40, CAP) == ""  # the max may reach beyond the nodes: only the base is pinned


@pytest.mark.parametrize("base,max_,cap,sentence", [
    (-1, 4, 16, "The GPU base cannot be negative (-1)."),
    (2, -3, 16, "The GPU maximum cannot be negative (-3)."),
    (1.5, 4, 16, "GPUs are whole devices: the base 1.5 is not a whole number."),
    (2, "2500m", 16, "GPUs are whole devices: the maximum 2.5 is not a whole number."),
    (10, 8, 16, "The GPU base (10) cannot be above the maximum (8)."),
    (20, None, 16, "The GPU base (20) is above the 16 GPUs of the nodes the namespace's node selector matches."),
    (2, None, 1, "The GPU base (2) is above the 1 GPU of the nodes the namespace's node selector matches."),
    (1, None, 0, "The GPU base (1) is above the 0 GPUs of the nodes the namespace's node selector matches."),
    (20, 24, CAP, ("The GPU base (20) is above the 16 GPUs of the nodes the namespace's node selector matches "
                   "(lb-department=risk,lb-app=scorecard, 2 nodes).")),
    (4, 8, None, "The GPU capacity of the namespace's nodes is not known, so the base cannot be checked."),
    (4, 8, NodeCapacity(None, reason=("Namespace x is not bound to any nodes (it has no node selector): bind it "
                                      "to nodes first.")),
     "Namespace x is not bound to any nodes (it has no node selector): bind it to nodes first."),
    ("many", 8, 16, "The GPU base 'many' is not a number."),
    (4, "lots", 16, "The GPU maximum 'lots' is not a number."),
    (True, 8, 16, "The GPU base True is not a number."),
])
def test_every_refusal_has_its_sentence(base, max_, cap, sentence):
    assert validate_quota_edit(base, max_, cap) == sentence


def test_refusals_come_in_order_negative_first():
    assert validate_quota_edit(-5, -9, 0) == "The GPU base cannot be negative (-5)."
    assert validate_quota_edit(9, 8, 0) == "The GPU base (9) cannot be above the maximum (8)."


# ------------------------------------------------------------------------------------------ the overview's few
def test_nearest_limits_are_the_tenants_using_gpus_highest_pressure_first():
    s = state(quotas=[
        quota("ns-half", 8, 4), quota("ns-over", 4, 6, limit=5), quota("ns-idle", 8, 0),
        quota("ns-none"), quota("ns-near", 8, 9, annotations={DEFAULT_MAX_ANNOTATION: "10"}),
        quota("ns-zero", 0, 1)],
        pods=[pod("p", "ns-free", 2, node="g1")])  # no quota: no limit to be near
    rows = pressures(s)
    got = nearest_limits(rows, 3)
    assert [r.namespace for r in got] == ["ns-zero", "ns-over", "ns-near"]  # ∞, 6/5, 9/10
    assert [r.namespace for r in nearest_limits(rows, 10)] == ["ns-zero", "ns-over", "ns-near", "ns-half"]
    assert nearest_limits(list(reversed(rows)), 2) == got[:2]  # in pressure order whatever the input's
    assert nearest_limits(rows, 0) == []


def test_pressures_without_blocked_work_skip_the_explainer_only():
    ns = "ns-a-b"
    s = state(namespaces=[namespace(ns, sel("a", "b"))], nodes=[node("g-b1", 4, "a", "b")], quotas=[quota(ns, 4, 3)],
              pods=[pod("big-0", ns, 8, phase="Pending"), pod("run-0", ns, 3, node="g-b1")])
    full, lean = rows(s), rows(s, with_blocked=False)
    assert full[ns].blocked and not lean[ns].blocked
    assert (lean[ns].used, lean[ns].pressure, lean[ns].pod_gpus, lean[ns].pending_gpus) == \
        (full[ns].used, full[ns].pressure, full[ns].pod_gpus, full[ns].pending_gpus)

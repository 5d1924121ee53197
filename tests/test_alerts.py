"""The alerts engine (prophecis_tui.alerts): what an on-call person sees from labels, events and the live state,
merged, tagged with business systems, filtered and grouped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from prophecis_tui.alerts import (AlertEngine, Tagger, apply_acks, correlate, enrich, event_alerts, firing_counts, group, merge,
                                  node_namespaces, parse_filter, rule_key, top_by_system)
from prophecis_tui.domain import (Alert, AlertState, BusinessSystem, DeploymentState, Event, JobState,
                                  ModelDeployment, Node, Pod, Quota, SystemTag, TrainingJob)
from prophecis_tui.idle import Holder, IdleGpu
from prophecis_tui.state import State

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


def am(fp: str = "a1", origin: str = "am1", state: AlertState = AlertState.FIRING, **kw) -> Alert:
    labels = kw.pop("labels", {"alertname": "GPUHighTemperature"})
    return Alert(key=f"am:{fp}", source="alertmanager", name=labels.get("alertname", "X"), labels=labels,
                 origins=(origin,), state=state, fingerprint=fp, **kw)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# ------------------------------------------------------------------------------------------ enrich
@pytest.mark.parametrize("labels, expect", [
    ({"namespace": "ns-risk-pd", "pod": "train-worker-0"}, ("ns-risk-pd", "Pod", "train-worker-0", "")),
    ({"exported_namespace": "ns-a-b", "exported_pod": "p"}, ("ns-a-b", "Pod", "p", "")),
    ({"namespace": "ns-a-b", "job_name": "mnist", "job_kind": "PyTorchJob"}, ("ns-a-b", "PyTorchJob", "mnist", "")),
    ({"namespace": "ns-a-b", "job_name": "etl"}, ("ns-a-b", "Job", "etl", "")),
    ({"namespace": "ns-a-b", "job_name": "t", "job_kind": "tfjob"}, ("ns-a-b", "TFJob", "t", "")),
    ({"namespace": "ns-a-b", "notebook": "lab"}, ("ns-a-b", "Notebook", "lab", "")),
    ({"namespace": "ns-a-b", "seldon_deployment_id": "fraud"}, ("ns-a-b", "SeldonDeployment", "fraud", "")),
    ({"namespace": "ns-a-b", "deployment": "fraud"}, ("ns-a-b", "SeldonDeployment", "fraud", "")),
    ({"Hostname": "gpu-node-7", "gpu": "3"}, ("", "Node", "gpu-node-7", "gpu-node-7")),
    ({"node": "gpu-node-7"}, ("", "Node", "gpu-node-7", "gpu-node-7")),
    ({"instance": "10.0.0.5:9100"}, ("", "Node", "10.0.0.5", "10.0.0.5")),
    ({"instance": "[fd00::5]:9100"}, ("", "Node", "fd00::5", "fd00::5")),
    ({"namespace": "ns-a-b"}, ("ns-a-b", "Namespace", "ns-a-b", "")),
    # dcgm-exporter on a GPU held by a pod: the pod is the target, the node kept beside it
    ({"Hostname": "gpu-1", "namespace": "ns-a-b", "pod": "p"}, ("ns-a-b", "Pod", "p", "gpu-1")),
    # on a pod's alert `instance` is the exporter that scraped it, not the pod's node
    ({"namespace": "ns-a-b", "pod": "p", "instance": "10.1.2.3:8080"}, ("ns-a-b", "Pod", "p", "")),
    ({}, ("", "", "", "")),
])
def test_enrich_reads_the_target_from_the_labels(labels, expect):
    a = enrich(am(labels=labels))
    assert (a.namespace, a.target_kind, a.target_name, a.node) == expect


def test_enrich_keeps_what_the_source_set_and_returns_the_same_object_when_nothing_changes():
    a = am(labels={"namespace": "other", "pod": "p"}, namespace="ns-a-b", target_kind="Notebook", target_name="lab",
           node="n1")
    assert enrich(a) is a
    b = enrich(am(labels={"namespace": "ns-x-y", "pod": "p"}, target_kind="Notebook", target_name="lab"))
    assert (b.namespace, b.target_kind, b.target_name) == ("ns-x-y", "Notebook", "lab")
    assert b.target == "Notebook ns-x-y/lab"


# ------------------------------------------------------------------------------------------ events
def ev(reason: str, obj: str = "p1", kind: str = "Pod", ns: str = "ns-a-b", *, count: int = 1,
       first: datetime | None = None, last: datetime | None = None, message: str = "", type: str = "Warning",
       uid: str = "") -> Event:
    return Event(uid=uid or f"{reason}-{obj}-{count}-{message}", namespace=ns, name=f"{obj}.{reason}", type=type,
                 reason=reason, message=message or f"{reason} on {obj}", object_kind=kind, object_name=obj,
                 count=count, first=first or NOW - minutes(5), last=last or NOW - minutes(1), source="kubelet")


def test_warning_events_are_aggregated_per_object_and_reason():
    events = [
        ev("BackOff", count=4, first=NOW - minutes(30), last=NOW - minutes(10), message="Back-off restarting (old)"),
        ev("BackOff", count=3, first=NOW - minutes(20), last=NOW - minutes(2), message="Back-off restarting (new)"),
        ev("FailedScheduling", "p2", count=1),
        ev("Scheduled", "p1", type="Normal"),
        ev("OOMKilling", "gpu-node-3", kind="Node", ns="", count=2),
    ]
    got = {a.key: a for a in event_alerts(events, NOW)}
    assert set(got) == {"ev:ns-a-b/Pod/p1/BackOff", "ev:ns-a-b/Pod/p2/FailedScheduling",
                        "ev:/Node/gpu-node-3/OOMKilling"}  # the Normal event is no alert
    b = got["ev:ns-a-b/Pod/p1/BackOff"]
    assert (b.count, b.starts, b.updated) == (7, NOW - minutes(30), NOW - minutes(2))
    assert b.summary == "Back-off restarting (new)"  # the latest message
    assert (b.severity, b.state, b.source, b.name) == ("warning", AlertState.FIRING, "events", "BackOff")
    assert (b.target_kind, b.target_name, b.namespace, b.labels["pod"]) == ("Pod", "p1", "ns-a-b", "p1")
    assert "7 times" in b.description
    oom = got["ev:/Node/gpu-node-3/OOMKilling"]
    assert (oom.severity, oom.node, oom.target) == ("critical", "gpu-node-3", "Node gpu-node-3")
    assert got["ev:ns-a-b/Pod/p2/FailedScheduling"].severity == "warning"


# ------------------------------------------------------------------------------------------ correlation
def test_one_condition_of_one_target_from_three_sources_is_one_alert_the_alertmanagers():
    crash_am = enrich(am("c1", labels={"alertname": "KubePodCrashLooping", "namespace": "ns-a-b", "pod": "p1",
                                      "severity": "warning"}, severity="warning"))
    crash_ev, pull_ev, sched_ev = event_alerts([
        ev("BackOff", count=21, message="Back-off restarting failed container lab in pod p1"),
        ev("BackOff", "p2", message="Back-off pulling image \"registry/x:1\""),
        ev("FailedScheduling", "p1", message="0/8 nodes are available")], NOW)
    crash_rule = AlertEngine().platform(state_with(pods=[crashing("p1", labels={"notebook-name": "p1"})]), NOW)
    pull_am = enrich(am("w2", labels={"alertname": "KubeContainerWaiting", "namespace": "ns-a-b", "pod": "p2",
                                     "severity": "warning"}, severity="warning"))
    other_ns = enrich(am("c3", labels={"alertname": "KubePodCrashLooping", "namespace": "ns-c-d", "pod": "p1"}))
    alerts = [crash_ev, crash_am, pull_ev, sched_ev, pull_am, other_ns] + crash_rule
    shown, folded = correlate(alerts)
    keys_shown = [a.key for a in shown]
    # the crash loop of ns-a-b/p1: the Alertmanager's, with the others listed; FailedScheduling is another condition
    assert keys_shown == ["am:c1", "am:w2", sched_ev.key, "am:c3"]
    one = shown[0]
    assert one.related == ("platform: NotebookCrashLooping", "events: BackOff ×21")  # the platform's before the events
    assert folded[crash_ev.key] == "am:c1" and folded[pull_ev.key] == "am:w2"
    assert shown[1].related == (f"events: {pull_ev.name}",)
    # a condition with no Alertmanager alert: the platform rule's, with the event folded into it
    shown, folded = correlate([crash_ev] + crash_rule)
    assert [a.source for a in shown] == ["platform"] and folded == {crash_ev.key: crash_rule[0].key}


def test_a_live_alert_outranks_a_resolved_one_and_the_worst_severity_wins():
    gone = enrich(am("d1", state=AlertState.RESOLVED, labels={"alertname": "SeldonDeploymentUnavailable",
                                                               "namespace": "ns-a-b", "seldon_deployment_id": "fraud"}))
    rule = enrich(Alert(key="rule:DeploymentUnavailable/ns-a-b/SeldonDeployment/fraud", source="platform",
                        name="DeploymentUnavailable", severity="critical", namespace="ns-a-b",
                        target_kind="SeldonDeployment", target_name="fraud"))
    (one,), folded = correlate([gone, rule])
    assert one.key == rule.key and one.state == AlertState.FIRING and folded == {"am:d1": rule.key}
    assert one.related == ("alertmanager: SeldonDeploymentUnavailable (resolved)",)
    warn_am = enrich(am("d2", severity="warning", labels={"alertname": "SeldonDeploymentUnavailable",
                                                           "namespace": "ns-a-b", "seldon_deployment_id": "fraud"}))
    (one,), _ = correlate([rule, warn_am])
    assert (one.key, one.severity) == ("am:d2", "critical")  # the Alertmanager's, as bad as the worst of them


def test_an_event_alert_resolves_once_its_last_occurrence_is_older_than_the_window():
    events = [ev("Unhealthy", last=NOW - minutes(16), first=NOW - minutes(40))]
    (a,) = event_alerts(events, NOW, window=15 * 60)
    assert a.state == AlertState.RESOLVED and a.ends == NOW - minutes(1)
    (a,) = event_alerts(events, NOW - minutes(2), window=15 * 60)
    assert a.state == AlertState.FIRING and a.ends is None


def test_event_alerts_carry_the_objects_labels_for_tagging():
    (a,) = event_alerts([ev("BackOff")], NOW, labels=lambda ns, kind, name: {"model": "fraud-xgb"})
    assert a.labels["model"] == "fraud-xgb" and a.labels["alertname"] == "BackOff"


# ------------------------------------------------------------------------------------------ platform rules
def state_with(**kinds) -> State:
    st = State()
    names = {"nodes": "nodes", "pods": "pods", "notebooks": "notebooks", "jobs": "trainingjobs",
             "deployments": "deployments", "quotas": "quotas"}
    for k, items in kinds.items():
        st.replace(names[k], names[k], items)
    return st


def keys(alerts) -> set[str]:
    return {a.key for a in alerts}


def test_a_failed_training_job_is_critical_and_ages_out_after_a_day():
    jobs = [TrainingJob(uid="j1", namespace="ns-risk-pd", name="pd-train", kind="PyTorchJob", state=JobState.FAILED,
                        reason="OOMKilled: worker-1 exit 137", user="lihua", finished=NOW - minutes(5)),
            TrainingJob(uid="j2", namespace="ns-risk-pd", name="old", kind="TFJob", state=JobState.FAILED,
                        finished=NOW - timedelta(hours=25)),
            TrainingJob(uid="j3", namespace="ns-risk-pd", name="fine", kind="TFJob", state=JobState.RUNNING)]
    (a,) = AlertEngine().platform(state_with(jobs=jobs), NOW)
    assert a.key == rule_key("TrainingJobFailed", "ns-risk-pd", "PyTorchJob", "pd-train")
    assert (a.severity, a.target, a.starts) == ("critical", "PyTorchJob ns-risk-pd/pd-train", NOW - minutes(5))
    assert a.summary == "PyTorchJob ns-risk-pd/pd-train failed: OOMKilled: worker-1 exit 137"
    assert a.labels["job_name"] == "pd-train" and a.labels["job_kind"] == "PyTorchJob"


def crashing(name: str, ns: str = "ns-a-b", **kw) -> Pod:
    base = dict(uid=name, namespace=ns, name=name, phase="Running", status="CrashLoopBackOff", restarts=6,
                containers=1, ready=0, node="gpu-1", waiting="CrashLoopBackOff: back-off 5m0s restarting",
                last_exit="Error, exit 1", started=NOW - timedelta(hours=1))
    base.update(kw)
    return Pod(**base)


def test_crash_looping_notebook_and_model_pods_alert_but_not_other_pods():
    pods = [crashing("lab-0", labels={"notebook-name": "lab"}),
            crashing("fraud-default-0-abc", labels={"seldon-deployment-id": "fraud", "model": "fraud-xgb"}),
            crashing("train-worker-0", job_name="train", owner_kind="PyTorchJob"),  # a job's pod: TrainingJobFailed
            crashing("restarting-0", labels={"notebook-name": "nb2"}, status="Running", waiting="", restarts=3,
                     ready=0),  # restarted often and not ready
            crashing("healthy-0", labels={"notebook-name": "nb3"}, status="Running", waiting="", restarts=9,
                     ready=1)]  # restarted long ago, fine now
    got = {a.key: a for a in AlertEngine().platform(state_with(pods=pods), NOW)}
    assert set(got) == {rule_key("NotebookCrashLooping", "ns-a-b", "Pod", "lab-0"),
                        rule_key("ModelServerCrashLooping", "ns-a-b", "Pod", "fraud-default-0-abc"),
                        rule_key("NotebookCrashLooping", "ns-a-b", "Pod", "restarting-0")}
    nb = got[rule_key("NotebookCrashLooping", "ns-a-b", "Pod", "lab-0")]
    assert nb.severity == "warning" and nb.labels["notebook"] == "lab" and nb.node == "gpu-1"
    assert nb.summary == ("Notebook lab in ns-a-b is crash-looping: pod lab-0, 6 restarts; "
                          "CrashLoopBackOff: back-off 5m0s restarting; last exit Error, exit 1")
    model = got[rule_key("ModelServerCrashLooping", "ns-a-b", "Pod", "fraud-default-0-abc")]
    assert model.labels["seldon_deployment_id"] == "fraud" and model.labels["model"] == "fraud-xgb"
    assert model.summary.startswith("Model deployment fraud in ns-a-b is crash-looping")


def test_the_crashloop_threshold_is_the_configured_restart_count():
    pods = [crashing("lab-0", labels={"notebook-name": "lab"}, status="Running", waiting="", restarts=4)]
    assert AlertEngine(_T(crashloop_restarts=5)).platform(state_with(pods=pods), NOW) == []
    assert len(AlertEngine(_T(crashloop_restarts=4)).platform(state_with(pods=pods), NOW)) == 1


@dataclass
class _T:
    """Settings as config.AlertsSettings has them (only some)."""

    deployment_unavailable_minutes: float | None = None
    gpu_idle_minutes: float | None = None
    quota_percent: float | None = None
    crashloop_restarts: int | None = None
    node_notready_minutes: float | None = None


def failed_deployment(**kw) -> ModelDeployment:
    base = dict(uid="d1", namespace="ns-fraud-online", name="fraud-xgb", state=DeploymentState.FAILED, replicas=2,
                ready=0, reason="ImagePullBackOff", created=NOW - timedelta(days=2))
    base.update(kw)
    return ModelDeployment(**base)


def test_a_deployment_unavailable_alerts_after_n_minutes_counted_by_the_engine():
    eng = AlertEngine(_T(deployment_unavailable_minutes=10))
    ok = state_with(deployments=[failed_deployment(state=DeploymentState.AVAILABLE, ready=2)])
    assert eng.platform(ok, NOW) == []  # the first look: all is well
    bad = state_with(deployments=[failed_deployment()])
    assert eng.platform(bad, NOW + minutes(1)) == []  # failing since the engine saw it: 0 minutes
    assert eng.platform(bad, NOW + minutes(10)) == []  # 9 minutes
    (a,) = eng.platform(bad, NOW + minutes(11))
    assert (a.severity, a.starts, a.target) == ("critical", NOW + minutes(1), "SeldonDeployment ns-fraud-online/fraud-xgb")
    assert a.summary == ("Model deployment ns-fraud-online/fraud-xgb has 0 of 2 replicas ready, for more than "
                         "10 minutes (failed: ImagePullBackOff)")
    # it recovers: forgotten; a new failure counts from scratch
    assert eng.platform(ok, NOW + minutes(12)) == []
    assert eng.platform(bad, NOW + minutes(13)) == []
    assert len(eng.platform(bad, NOW + minutes(23))) == 1


def test_at_the_first_look_a_condition_already_there_counts_from_the_objects_creation():
    eng = AlertEngine()
    (a,) = eng.platform(state_with(deployments=[failed_deployment()]), NOW)
    assert a.starts == NOW - timedelta(days=2)


def test_a_deployment_still_creating_counts_from_its_creation():
    eng = AlertEngine(_T(deployment_unavailable_minutes=10))
    eng.platform(state_with(), NOW)  # the first look is over
    young = state_with(deployments=[failed_deployment(state=DeploymentState.CREATING, created=NOW - minutes(4))])
    assert eng.platform(young, NOW) == []
    (a,) = eng.platform(young, NOW + minutes(7))
    assert a.starts == NOW - minutes(4) and "(creating: ImagePullBackOff)" in a.summary


def test_a_stopped_deployment_is_no_alert():
    assert AlertEngine().platform(state_with(deployments=[failed_deployment(state=DeploymentState.STOPPED)]),
                                  NOW) == []


def idle_gpu(node: str, gpu: int, ns: str, pod: str, kind: str, workload: str, idle_min: float) -> IdleGpu:
    since = (NOW - minutes(idle_min)).timestamp()
    return IdleGpu(f"{node}/{gpu}", Holder(ns, pod, workload_kind=kind, workload=workload), since,
                   idle_min * 60.0)


def test_idle_allocated_gpus_alert_per_workload_info_then_warning():
    idle = [idle_gpu("gpu-1", 0, "ns-a-b", "lab-0", "notebook", "lab", 35),
            idle_gpu("gpu-1", 1, "ns-a-b", "lab-0", "notebook", "lab", 31),
            idle_gpu("gpu-2", 0, "ns-a-b", "train-worker-0", "PyTorchJob", "train", 70),
            idle_gpu("gpu-3", 0, "ns-a-b", "brief-0", "pod", "brief-0", 10)]  # not long enough
    got = {a.key: a for a in AlertEngine(_T(gpu_idle_minutes=30)).platform(state_with(), NOW, idle)}
    assert set(got) == {rule_key("GpuIdleAllocated", "ns-a-b", "Notebook", "lab"),
                        rule_key("GpuIdleAllocated", "ns-a-b", "PyTorchJob", "train")}
    nb = got[rule_key("GpuIdleAllocated", "ns-a-b", "Notebook", "lab")]
    assert nb.severity == "info" and nb.starts == NOW - minutes(35) and nb.node == "gpu-1"
    assert nb.summary == "Notebook ns-a-b/lab holds 2 GPUs it has left idle for more than 30 minutes"
    job = got[rule_key("GpuIdleAllocated", "ns-a-b", "PyTorchJob", "train")]
    assert job.severity == "warning" and "more than 60 minutes" in job.summary
    assert job.labels["job_name"] == "train"
    assert AlertEngine().platform(state_with(), NOW, None) == []  # no metrics source: no idle rule


def quota(ns: str, used: float, base: float, mx: float | None = None) -> Quota:
    ann = {"prophecis.webank.com/gpu-max": str(int(mx))} if mx is not None else {}
    return Quota(uid=ns, namespace=ns, name="mlss-default-rq", gpu_hard=base, gpu_used=used, gpu_base=base,
                 annotations=ann)


def test_gpu_quota_high_is_a_warning_at_the_percentage_and_critical_at_the_limit():
    quotas = [quota("ns-a-b", 9, 8, 10), quota("ns-c-d", 10, 8, 10), quota("ns-e-f", 8, 8),
              quota("ns-g-h", 5, 8, 10), quota("ns-i-j", 0, 0)]
    got = {a.namespace: a for a in AlertEngine(_T(quota_percent=90)).platform(state_with(quotas=quotas), NOW)}
    assert set(got) == {"ns-a-b", "ns-c-d", "ns-e-f"}
    assert got["ns-a-b"].severity == "warning"
    assert got["ns-a-b"].summary == "Namespace ns-a-b uses 9 of its 10 GPU maximum (90%)"
    assert got["ns-c-d"].severity == "critical" and got["ns-c-d"].summary.endswith(
        "(100%): nothing more that needs a GPU can start there")
    assert got["ns-e-f"].severity == "critical" and "8 of its 8 GPU quota" in got["ns-e-f"].summary
    assert got["ns-a-b"].target == "Namespace ns-a-b"


def test_a_node_not_ready_alerts_after_n_minutes_and_says_what_ran_there():
    eng = AlertEngine(_T(node_notready_minutes=2))
    nodes = [Node(name="gpu-1", uid="n1", ready=True, created=NOW - timedelta(days=9))]
    pods = [Pod(uid="p1", namespace="ns-a-b", name="p1", phase="Running", status="Running", node="gpu-1", gpus=4),
            Pod(uid="p2", namespace="ns-c-d", name="p2", phase="Running", status="Running", node="gpu-1", gpus=2),
            Pod(uid="p3", namespace="ns-c-d", name="p3", phase="Succeeded", status="Completed", node="gpu-1")]
    assert eng.platform(state_with(nodes=nodes, pods=pods), NOW) == []
    down = state_with(nodes=[nodes[0].model_copy(update={"ready": False})], pods=pods)
    assert eng.platform(down, NOW + minutes(1)) == []
    (a,) = eng.platform(down, NOW + minutes(3.5))
    assert a.key == "rule:NodeNotReady//Node/gpu-1" and a.severity == "critical" and a.node == "gpu-1"
    assert a.summary == ("Node gpu-1 has been NotReady for more than 2 minutes; 2 pods of 2 namespaces ran there "
                         "(6 GPUs)")


# ------------------------------------------------------------------------------------------ merge
def test_two_alertmanagers_reporting_one_alert_give_one_alert_with_both_origins():
    a1 = am(origin="am1", starts=NOW - minutes(10), updated=NOW - minutes(1), summary="old text")
    a2 = am(origin="am2", starts=NOW - minutes(9), updated=NOW, summary="new text")
    other = am("b2", origin="am1")
    (m, o) = merge([a1, other], [a2])
    assert m.origins == ("am1", "am2") and o.key == "am:b2"
    assert (m.starts, m.updated, m.summary, m.state) == (NOW - minutes(10), NOW, "new text", AlertState.FIRING)


def test_a_silence_on_one_of_two_alertmanagers_mutes_nothing():
    firing = am(origin="am1")
    silenced = am(origin="am2", state=AlertState.SILENCED, silenced_by=("s-1",))
    (m,) = merge([firing], [silenced])
    assert m.state == AlertState.FIRING and m.silenced_by == ("s-1",)
    (m,) = merge([silenced], [am(origin="am1", state=AlertState.SILENCED, silenced_by=("s-1",))])
    assert m.state == AlertState.SILENCED and m.origins == ("am2", "am1") and m.silenced_by == ("s-1",)
    (m,) = merge([am(origin="am1", state=AlertState.INHIBITED)], [silenced])
    assert m.state == AlertState.SILENCED  # muted either way: the silence says more
    (m,) = merge([am(state=AlertState.RESOLVED)], [am(origin="am2", state=AlertState.INHIBITED)])
    assert m.state == AlertState.INHIBITED  # resolved only when every copy is


# ------------------------------------------------------------------------------------------ tagging
SYSTEMS = [
    BusinessSystem(id="BS1001", name="反欺诈交易评分", tier=1, owner="lihua", oncall="lihua / 138", segments=("antifraud-txn",)),
    BusinessSystem(id="BS1002", name="信用评分卡", tier=2, namespaces=("ns-risk-scorecard",)),
    BusinessSystem(id="BS2001", name="模型服务", tier=2, deployments=("fraud-xgb*",)),
    BusinessSystem(id="BS3001", name="预警模型", tier=3, labels=("model=ews-*",)),
    BusinessSystem(id="POOL", name="GPU资源池", nodes=("gpu-pool-1",)),
]


def tagged(alert: Alert, nn=None) -> list[tuple[str, str, str]]:
    return [(t.name, t.kind, t.rule) for t in Tagger(SYSTEMS).tags(enrich(alert), nn)]


def test_alerts_are_tagged_by_namespace_segment_label_deployment_and_node():
    assert tagged(am(labels={"namespace": "ns-antifraud-txn", "pod": "p"})) == [
        ("反欺诈交易评分", "segment", "segment antifraud-txn")]
    assert tagged(am(labels={"namespace": "ns-risk-scorecard"})) == [
        ("信用评分卡", "namespace", "namespace ns-risk-scorecard")]
    assert tagged(am(labels={"namespace": "ns-x-y", "seldon_deployment_id": "fraud-xgb-v3"})) == [
        ("模型服务", "deployment", "deployment fraud-xgb*")]
    assert tagged(am(labels={"namespace": "ns-x-y", "pod": "p", "model": "ews-lstm"})) == [
        ("预警模型", "label", "label model=ews-*")]
    assert tagged(am(labels={"Hostname": "gpu-pool-1"})) == [("GPU资源池", "node", "node gpu-pool-1")]
    t = Tagger(SYSTEMS).tags(enrich(am(labels={"namespace": "ns-antifraud-txn"})))[0]
    assert (t.id, t.tier, t.owner, t.oncall) == ("BS1001", 1, "lihua", "lihua / 138")


def test_a_node_level_alert_maps_to_every_system_with_pods_on_that_node():
    pods = [Pod(uid="1", namespace="ns-antifraud-txn", name="a", phase="Running", status="Running", node="gpu-9"),
            Pod(uid="2", namespace="ns-risk-scorecard", name="b", phase="Running", status="Running", node="gpu-9"),
            Pod(uid="3", namespace="ns-risk-scorecard", name="c", phase="Succeeded", status="Completed", node="gpu-8"),
            Pod(uid="4", namespace="ns-nobody-here", name="d", phase="Running", status="Running", node="gpu-9")]
    nn = node_namespaces(pods)
    assert nn == {"gpu-9": {"ns-antifraud-txn", "ns-risk-scorecard", "ns-nobody-here"}}
    got = tagged(am(labels={"alertname": "KubeNodeNotReady", "node": "gpu-9"}), nn)
    assert got == [("反欺诈交易评分", "node-pods", "node gpu-9 runs pods of ns-antifraud-txn"),
                   ("信用评分卡", "node-pods", "node gpu-9 runs pods of ns-risk-scorecard")]
    assert tagged(am(labels={"node": "gpu-8"}), nn) == []  # only a finished pod was there


def test_untagged_alerts_are_kept_and_the_tagger_follows_the_cmdb():
    tagger = Tagger(SYSTEMS[:1], version=3)
    alerts = [enrich(am("a", labels={"namespace": "ns-antifraud-txn"})), enrich(am("b", labels={"namespace": "ns-z-z"}))]
    out = tagger.tag(alerts)
    assert [len(a.systems) for a in out] == [1, 0] and out[1] is alerts[1]
    assert not tagger.update(SYSTEMS, version=3)  # the same CMDB version: nothing rebuilt
    assert tagger.update([*SYSTEMS, BusinessSystem(id="Z", name="Z系统", namespaces=("ns-z-*",))], version=4)
    assert [s.id for s in tagger.tag(alerts)[1].systems] == ["Z"]


# ------------------------------------------------------------------------------------------ acks
@dataclass
class Ack:
    by: str
    note: str
    at: datetime


def test_an_ack_makes_a_firing_alert_acked_and_is_shown_on_a_silenced_one():
    alerts = [am("a"), am("b", state=AlertState.SILENCED), am("c")]
    acks = {"am:a": Ack("alice", "OPS-12 looking", NOW), "am:b": Ack("bob", "known", NOW)}
    a, b, c = apply_acks(alerts, acks)
    assert (a.state, a.ack_by, a.ack_note, a.ack_at) == (AlertState.ACKED, "alice", "OPS-12 looking", NOW)
    assert (b.state, b.ack_by) == (AlertState.SILENCED, "bob")
    assert c is alerts[2]
    (back,) = apply_acks([a], {})  # the ack was taken back
    assert back.state == AlertState.FIRING and not back.ack_by


# ------------------------------------------------------------------------------------------ filters
def tag(id: str, name: str, tier: int | None = None) -> SystemTag:
    return SystemTag(id=id, name=name, tier=tier)


FRAUD, CARD, MISC = tag("BS1001", "反欺诈交易评分", 1), tag("BS1002", "信用评分卡", 2), tag("X9", "杂项")


def test_parse_filter_reads_prefixes_values_and_free_text():
    f = parse_filter('sev:critical sys:反欺诈 ns:ns-risk state:firing some "two words" SEV:warn,info st:muted')
    assert f.severities == {"critical", "warning", "info"}
    assert f.systems == ("反欺诈",) and f.namespaces == ("ns-risk",)
    assert f.states == {AlertState.FIRING, AlertState.SILENCED, AlertState.INHIBITED}
    assert f.words == ("some", "two words") and f.problems == ()
    assert str(f) == 'sev:critical,warning,info sys:反欺诈 ns:ns-risk state:firing,silenced,inhibited some "two words"'
    bad = parse_filter("sev:loud state:asleep gpu")
    assert bad.severities == set() and bad.words == ("gpu",)
    assert bad.problems == ("sev:loud: not a severity (critical, warning, info)",
                            "state:asleep: not a state (firing, acked, silenced, inhibited, resolved, active, muted, "
                            "open)")
    assert not parse_filter("  ") and parse_filter("x")


def test_a_filter_matches_severity_system_namespace_state_and_text():
    alerts = [
        am("1", severity="critical", namespace="ns-antifraud-txn", systems=(FRAUD,), summary="GPU 3 at 93C",
           labels={"alertname": "GPUHighTemperature", "Hostname": "gpu-node-7"}),
        am("2", severity="warning", namespace="ns-risk-scorecard", systems=(CARD, FRAUD), state=AlertState.SILENCED,
           labels={"alertname": "KubePodCrashLooping", "pod": "scorer-0"}),
        am("3", severity="info", namespace="ns-ops-misc", labels={"alertname": "Watchdog"}),
    ]

    def ids(text: str) -> list[str]:
        return [a.fingerprint for a in parse_filter(text).apply(alerts)]

    assert ids("") == ["1", "2", "3"]
    assert ids("sev:critical") == ["1"] and ids("sev:crit,warn") == ["1", "2"]
    assert ids("sys:反欺诈") == ["1", "2"] and ids("sys:bs1002") == ["2"] and ids("sys:untagged") == ["3"]
    assert ids("ns:risk") == ["2"] and ids("ns:ns-*-txn") == ["1"]
    assert ids("state:silenced") == ["2"] and ids("state:active") == ["1", "3"]
    assert ids("93c") == ["1"] and ids("gpu-node-7") == ["1"] and ids("pod=scorer-0") == ["2"]
    assert ids("信用评分卡 crash") == ["2"] and ids("sev:critical crash") == []


# ------------------------------------------------------------------------------------------ grouping
def test_groups_go_tier_first_untagged_last_and_alerts_most_pressing_first():
    pool = tag("POOL", "GPU资源池")  # no tier
    alerts = [
        am("u", severity="critical"),  # untagged
        am("p", severity="critical", systems=(pool,)),
        am("c-info", severity="info", systems=(CARD,)),
        am("f-warn-old", severity="warning", systems=(FRAUD,), starts=NOW - minutes(50)),
        am("f-warn-new", severity="warning", systems=(FRAUD,), starts=NOW - minutes(5)),
        am("f-crit-silenced", severity="critical", systems=(FRAUD,), state=AlertState.SILENCED),
        am("f-crit", severity="critical", systems=(FRAUD, CARD), starts=NOW - minutes(1)),
    ]
    groups = group(alerts)
    assert [g.title for g in groups] == ["反欺诈交易评分", "信用评分卡", "GPU资源池", "untagged"]
    assert [a.fingerprint for a in groups[0].alerts] == ["f-crit", "f-crit-silenced", "f-warn-new", "f-warn-old"]
    assert [a.fingerprint for a in groups[1].alerts] == ["f-crit", "c-info"]  # an alert of two systems: in both
    assert groups[0].counts == {"critical": 1, "warning": 2, "info": 0}  # the silenced one is not firing
    assert groups[0].worst.fingerprint == "f-crit" and groups[0].key == "BS1001" and groups[-1].key == ""
    assert groups[0].tier == 1 and groups[2].tier is None


def test_among_systems_of_one_tier_the_worse_one_comes_first():
    a, b = tag("A", "甲", 2), tag("B", "乙", 2)
    groups = group([am("1", severity="warning", systems=(a,)), am("2", severity="critical", systems=(b,))])
    assert [g.key for g in groups] == ["B", "A"]


def test_firing_counts_count_only_what_nobody_has_taken_in_hand():
    alerts = [am("1", severity="critical"), am("2", severity="critical", state=AlertState.ACKED),
              am("3", severity="warning", state=AlertState.SILENCED), am("4", severity="warning"),
              am("5", severity="info", state=AlertState.RESOLVED), am("6", severity="page")]
    assert firing_counts(alerts) == {"critical": 1, "warning": 1, "info": 1}
    assert firing_counts([]) == {"critical": 0, "warning": 0, "info": 0}


def test_top_by_system_shows_the_burning_alerts_of_the_first_systems():
    alerts = [am("1", severity="warning", systems=(CARD,)),
              am("2", severity="critical", systems=(FRAUD,), state=AlertState.ACKED),
              am("3", severity="critical", systems=(MISC,), state=AlertState.SILENCED),
              am("4", severity="critical", systems=(MISC,), state=AlertState.RESOLVED),
              am("5", severity="info")]
    top = top_by_system(alerts, 2)
    assert [(g.title, g.worst.fingerprint) for g in top] == [("反欺诈交易评分", "2"), ("信用评分卡", "1")]
    assert [g.title for g in top_by_system(alerts, 10)] == ["反欺诈交易评分", "信用评分卡", "untagged"]


def test_alerts_the_engine_copies_stay_ordinary_models():
    """The engine copies alerts without validation: the copies must still behave (model_copy, equality)."""
    a = enrich(am(labels={"namespace": "ns-a-b", "pod": "p"}))
    b = a.model_copy(update={"state": AlertState.RESOLVED})
    assert b.state == AlertState.RESOLVED and a.state == AlertState.FIRING and a.target == b.target
    assert a == enrich(am(labels={"namespace": "ns-a-b", "pod": "p"}))


def test_a_scraped_gpu_series_is_about_the_workload_or_the_node_never_the_exporters_pod():
    from prophecis_tui.alert_actions import silence_matchers_for
    exporter = {"namespace": "gpu-operator", "pod": "dcgm-exporter-gpua100-0001", "Hostname": "gpua100-0001",
                "gpu": "3", "UUID": "GPU-1"}
    # a ServiceMonitor scrape without honor_labels: the workload's labels are exported_*
    held = enrich(am("h1", labels={"alertname": "GpuHeld", **exporter, "exported_namespace": "ns-risk-scorecard",
                                   "exported_pod": "lr-worker-0"}))
    assert (held.namespace, held.target) == ("ns-risk-scorecard", "Pod ns-risk-scorecard/lr-worker-0")
    assert [str(m) for m in silence_matchers_for(held)] == [
        'alertname="GpuHeld"', 'exported_namespace="ns-risk-scorecard"', 'exported_pod="lr-worker-0"']
    # a free GPU: namespace/pod can only be the exporter's; the alert is about the node's GPU
    free = enrich(am("f1", labels={"alertname": "GpuTemperature", **exporter}))
    assert (free.namespace, free.target, free.node) == ("", "Node gpua100-0001", "gpua100-0001")
    assert [str(m) for m in silence_matchers_for(free)] == [
        'alertname="GpuTemperature"', 'Hostname="gpua100-0001"', 'gpu="3"']
    # a direct scrape (honor_labels): namespace/pod are the workload's
    direct = enrich(am("d1", labels={"alertname": "GpuHeld", "namespace": "ns-a-b", "pod": "lab-0",
                                     "Hostname": "gpua100-0001", "gpu": "3"}))
    assert direct.target == "Pod ns-a-b/lab-0"

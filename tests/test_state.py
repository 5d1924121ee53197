"""The state store: replace/apply by uid, per-namespace scoping, summaries, health."""

from __future__ import annotations

from datetime import datetime, timezone

from prophecis_tui.domain import (DeploymentState, Health, JobState, ModelDeployment, Namespace, Node, Notebook,
                                  NotebookState, Pod, Quota, SourceHealth, TrainingJob)
from prophecis_tui.state import State

T = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


def pod(uid: str, ns: str, *, gpus: int = 0, node: str = "n1", phase: str = "Running") -> Pod:
    return Pod(uid=uid, namespace=ns, name=uid, phase=phase, status=phase, gpus=gpus, node=node)


def test_replace_drops_what_the_new_list_lacks_and_apply_updates_by_uid():
    s = State()
    s.replace("pods", "pods", [pod("a", "x"), pod("b", "x")])
    s.apply("pods", "pods", "MODIFIED", pod("a", "x", phase="Succeeded"))
    s.apply("pods", "pods", "ADDED", pod("c", "y"))
    s.apply("pods", "pods", "DELETED", pod("b", "x"))
    assert sorted((p.uid, p.phase) for p in s.pods()) == [("a", "Succeeded"), ("c", "Running")]
    s.replace("pods", "pods", [pod("d", "x")])
    assert [p.uid for p in s.pods()] == ["d"]


def test_replace_in_one_namespace_keeps_the_others():
    s = State()
    s.replace("pods", "pods", [pod("a", "x")], namespace="x")
    s.replace("pods", "pods", [pod("b", "y")], namespace="y")
    s.replace("pods", "pods", [pod("c", "x")], namespace="x")
    assert sorted(p.uid for p in s.pods()) == ["b", "c"]
    assert [p.uid for p in s.pods("y")] == ["b"]


def test_pages_of_a_first_list_show_at_once_but_the_kind_is_loaded_only_when_the_list_completes():
    s = State()
    s.add_page("pods", "pods", [pod("a", "x"), pod("b", "x")])
    assert s.count("pods") == 2 and not s.has_data("pods")
    assert "pods" in s.changed_kinds()
    s.add_page("pods", "pods", [pod("c", "y")])
    assert s.count("pods") == 3 and not s.has_data("pods")
    s.replace("pods", "pods", [pod("a", "x"), pod("c", "y")])  # the complete list wins: b went meanwhile
    assert sorted(p.uid for p in s.pods()) == ["a", "c"] and s.has_data("pods")


def test_version_and_changed_kinds_tell_a_reader_what_moved():
    s = State()
    v0 = s.version
    s.replace("tfjobs", "trainingjobs", [])
    s.replace("jobs", "trainingjobs", [])
    assert s.version > v0
    assert s.changed_kinds() == {"trainingjobs"}
    assert s.changed_kinds() == set()


def test_each_kind_has_its_own_version_for_caches():
    s = State()
    assert s.kind_version("pods") == 0
    s.replace("pods", "pods", [pod("a", "x")])
    pods_v = s.kind_version("pods")
    s.replace("notebooks", "notebooks", [])
    s.set_gpus([], "dcgm")
    assert s.kind_version("pods") == pods_v  # other kinds moved, the pods did not
    assert s.kind_version("gpus") > s.kind_version("notebooks") > pods_v > 0
    s.apply("pods", "pods", "ADDED", pod("b", "x"))
    assert s.kind_version("pods") == s.version


def test_gpu_samples_built_fast_equal_validated_ones():
    from prophecis_tui.domain import GpuSample, gpu_fields, gpu_sample
    values = dict(node="n1", gpu=3, uuid="GPU-1", model="A100", util=55.0, fb_used_mib=10.0, fb_free_mib=30.0,
                  temp_c=60.0, power_w=200.0, namespace="ns", pod="p", container="c", pod_uid="u", at=T)
    checked = GpuSample(**values)
    assert gpu_sample(dict(values)) == checked and gpu_sample(gpu_fields(**values), complete=True) == checked
    assert repr(gpu_sample(dict(values))) == repr(checked) and gpu_sample(dict(values)).mem_pct == 25.0
    partial = gpu_sample({"node": "n2", "gpu": 0, "util": 1.0})
    assert partial == GpuSample(node="n2", gpu=0, util=1.0) and partial.pod == "" and partial.key == "n2/0"
    assert partial.model_copy(update={"util": 7.0}).util == 7.0 and partial.util == 1.0


def test_training_jobs_from_several_resources_form_one_kind():
    s = State()
    j = lambda uid, kind: TrainingJob(uid=uid, namespace="x", name=uid, kind=kind, state=JobState.RUNNING)  # noqa: E731
    s.replace("tfjobs", "trainingjobs", [j("t", "TFJob")])
    s.replace("jobs", "trainingjobs", [j("b", "Job")])
    s.replace("tfjobs", "trainingjobs", [])
    assert [x.uid for x in s.training_jobs()] == ["b"]


def test_summaries_count_by_state_and_put_trouble_first():
    s = State()
    s.replace("namespaces", "namespaces", [Namespace(name=n, uid=n) for n in ("ns-a", "ns-b", "kube-system")])
    s.replace("notebooks", "notebooks", [
        Notebook(uid="n1", namespace="ns-a", name="n1", state=NotebookState.RUNNING),
        Notebook(uid="n2", namespace="ns-b", name="n2", state=NotebookState.FAILING, reason="ImagePullBackOff")])
    s.replace("pytorchjobs", "trainingjobs", [
        TrainingJob(uid="j1", namespace="ns-a", name="j1", kind="PyTorchJob", state=JobState.SUCCEEDED)])
    s.replace("seldondeployments", "deployments", [
        ModelDeployment(uid="d1", namespace="ns-a", name="d1", state=DeploymentState.AVAILABLE)])
    s.replace("resourcequotas", "quotas", [Quota(uid="q", namespace="ns-a", gpu_hard=8, gpu_used=3)])
    s.replace("pods", "pods", [pod("p1", "ns-a", gpus=2), pod("p2", "ns-a", gpus=1),
                               pod("p3", "ns-a", gpus=4, phase="Succeeded"),
                               pod("p4", "ns-b", gpus=1, node="", phase="Pending")])
    rows = s.summaries()
    assert [r.namespace for r in rows] == ["ns-b", "ns-a"]  # a failing notebook outranks, system ns left out
    a = next(r for r in rows if r.namespace == "ns-a")
    assert a.notebooks[NotebookState.RUNNING] == 1 and a.jobs[JobState.SUCCEEDED] == 1
    assert a.deployments[DeploymentState.AVAILABLE] == 1
    assert (a.gpu_used, a.gpu_quota) == (3, 8)  # finished pods hold no GPUs
    b = next(r for r in rows if r.namespace == "ns-b")
    assert b.pending_pods == 1 and b.gpu_quota is None
    assert s.summaries() is rows  # cached until something changes


def test_cluster_gpus_counts_ready_nodes_and_running_pods():
    s = State()
    s.replace("nodes", "nodes", [Node(name="a", uid="a", ready=True, gpu_allocatable=8),
                                 Node(name="b", uid="b", ready=False, gpu_allocatable=8)])
    s.replace("pods", "pods", [pod("p", "x", gpus=3)])
    assert s.cluster_gpus() == (3, 8)


def test_source_health_is_the_worst_of_its_parts():
    s = State()
    assert s.source_health("kubernetes").state == Health.CONNECTING
    s.set_health("kubernetes/pods", SourceHealth(source="kubernetes/pods", state=Health.LIVE, since=T))
    s.set_health("kubernetes/nodes", SourceHealth(source="kubernetes/nodes", state=Health.STALE, since=T,
                                                  reason="cannot reach"))
    h = s.source_health("kubernetes")
    assert (h.state, h.reason, h.since) == (Health.STALE, "cannot reach", T)
    s.set_health("kubernetes/nodes", SourceHealth(source="kubernetes/nodes", state=Health.LIVE, since=T))
    assert s.source_health("kubernetes").state == Health.LIVE


def test_quotas_from_kube_state_metrics_fill_in_where_none_is_listed():
    s = State()
    listed = Quota(uid="q1", namespace="x", name="mlss-default-rq", gpu_hard=8, gpu_used=2)
    s.replace("resourcequotas", "quotas", [listed])
    v = s.version
    s.set_metric_quotas({"x": Quota(uid="", namespace="x", name="mlss-default-rq", gpu_hard=99, gpu_used=0),
                         "y": Quota(uid="", namespace="y", name="mlss-default-rq", gpu_hard=4, gpu_used=1)})
    assert s.version > v and "quotas" in s.changed_kinds()
    got = s.quotas()
    assert got["x"] == listed and got["y"].gpu_hard == 4  # the cluster's own list wins; the other fills in
    assert not s.quota_from_metrics("x") and s.quota_from_metrics("y") and not s.quota_from_metrics("z")
    v = s.version
    s.set_metric_quotas(dict(s._metric_quotas))  # the same numbers again: nothing changed, nothing redrawn
    assert s.version == v

"""The workload controllers of the simulated cluster, seen through the official Python client.

Every test drives simulated time with ``advance`` (the clock is frozen otherwise) and checks what a
client reads back: Notebooks, training jobs, batch Jobs, SeldonDeployments, their pods, events, quota
and logs. Fates are pinned with the ``sim.prophecis.io/plan`` and ``.../duration`` annotations.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter

import pytest
from kubernetes.client.rest import ApiException

from prophecis_tui.simulator.clock import parse_rfc3339
from prophecis_tui.simulator.controllers import DURATION_ANN, PLAN_ANN
from prophecis_tui.simulator.objects import STOP_ANN
from prophecis_tui.simulator.world import notebook_body, sdep_body, training_body

GPU = "nvidia.com/gpu"
NB = ("kubeflow.org", "v1", "notebooks")
KINDS = {"pytorch": ("kubeflow.org", "v1", "pytorchjobs"), "tensorflow": ("kubeflow.org", "v1", "tfjobs"),
         "xgboost": ("kubeflow.org", "v1", "xgboostjobs")}
SDEP = ("machinelearning.seldon.io", "v1", "seldondeployments")
FREE_GPUS = 8  # one 8-GPU node per tiny tenant


# ---------------------------------------------------------------------------------------------- helpers
def roomy_ns(c) -> str:
    """A tenant namespace emptied of workloads, whose nodes' GPUs are all free and whose GPU quota equals them.

    The generated world changes with the world builder; clearing one namespace keeps these tests about the
    controllers, not about what the warm-up happened to leave running.
    """
    tenants = c.call(lambda: [t.name for t in c.sim.world.tenants])
    ns = tenants[-1]
    custom = c.custom()
    for g, v, plural in (NB, SDEP, *KINDS.values()):
        for o in custom.list_namespaced_custom_object(g, v, ns, plural)["items"]:
            custom.delete_namespaced_custom_object(g, v, ns, plural, o["metadata"]["name"])
    for j in c.batch().list_namespaced_job(ns).items:
        c.batch().delete_namespaced_job(j.metadata.name, ns, propagation_policy="Background")
    c.advance(1)
    for p in c.core().list_namespaced_pod(ns).items:
        if p.metadata.deletion_timestamp is None:
            c.core().delete_namespaced_pod(p.metadata.name, ns)
    c.advance(40)
    assert c.core().list_namespaced_pod(ns).items == []

    def free():
        e = c.sim.engine
        nodes = e._candidates(e.ns_selectors[ns])
        return sum(len(n.free_gpus) for n in nodes), sum(n.gpus for n in nodes)
    have, total = c.call(free)
    assert have == total == FREE_GPUS, f"{ns}: {have} of {total} GPUs free"
    set_gpu_quota(c, ns, FREE_GPUS)
    assert quota_used_gpu(c, ns) == 0
    return ns


def set_gpu_quota(c, ns: str, gpus: int) -> None:
    c.core().patch_namespaced_resource_quota("mlss-default-rq", ns,
                                             {"spec": {"hard": {"requests.nvidia.com/gpu": str(gpus)}}})


def annotate(body: dict, plan: str | None = None, duration: float | None = None) -> dict:
    ann = body["metadata"].setdefault("annotations", {})
    if plan is not None:
        ann[PLAN_ANN] = plan
    if duration is not None:
        ann[DURATION_ANN] = str(duration)
    return body


def make_notebook(c, ns: str, name: str, *, gpu: int = 0, plan: str = "succeed", image: str | None = None) -> dict:
    body = annotate(notebook_body(ns, name, "lihua", gpu=gpu, cpu=2, mem_gi=8, image=image), plan)
    return c.custom().create_namespaced_custom_object(*NB[:2], ns, NB[2], body)


def get_nb(c, ns: str, name: str) -> dict:
    return c.custom().get_namespaced_custom_object(*NB[:2], ns, NB[2], name)


def make_training(c, kind: str, ns: str, name: str, *, plan: str, duration: float = 60.0, workers: int | None = None,
                  gpus: int | None = None, restart: str | None = None, backoff: int | None = None,
                  seed: int = 1) -> dict:
    _, body = training_body(kind, ns, name, "lihua", "fraud-xgb", random.Random(seed), max_gpus=8)
    annotate(body, plan, duration)
    specs = next((v for k, v in body["spec"].items() if k.endswith("ReplicaSpecs")), None)
    if specs is not None:
        for rtype, rs in specs.items():
            if workers is not None and rtype == "Worker":
                rs["replicas"] = workers
            if kind == "tensorflow" and rtype == "PS":
                rs["replicas"] = 1
            for cont in rs["template"]["spec"]["containers"]:
                if gpus is not None:
                    res = cont["resources"]
                    for part in ("requests", "limits"):
                        if gpus:
                            res[part][GPU] = str(gpus)
                        else:
                            res[part].pop(GPU, None)
            if restart is not None:
                rs["restartPolicy"] = restart
                rs["template"]["spec"]["restartPolicy"] = restart
        if backoff is not None:
            body["spec"]["runPolicy"]["backoffLimit"] = backoff
    if kind == "single":
        return c.batch().create_namespaced_job(ns, body).to_dict()
    g, v, plural = KINDS[kind]
    return c.custom().create_namespaced_custom_object(g, v, ns, plural, body)


def get_job(c, kind: str, ns: str, name: str) -> dict:
    g, v, plural = KINDS[kind]
    return c.custom().get_namespaced_custom_object(g, v, ns, plural, name)


def conds(obj: dict) -> dict[str, dict]:
    return {x["type"]: x for x in (obj.get("status") or {}).get("conditions") or []}


def pods_of(c, ns: str, selector: str) -> dict:
    return {p.metadata.name: p for p in c.core().list_namespaced_pod(ns, label_selector=selector).items}


def pod_or_none(c, ns: str, name: str):
    try:
        return c.core().read_namespaced_pod(name, ns)
    except ApiException as err:
        assert err.status == 404
        return None


def events_for(c, ns: str, name: str, kind: str | None = None) -> list:
    sel = f"involvedObject.name={name}" + (f",involvedObject.kind={kind}" if kind else "")
    return c.core().list_namespaced_event(ns, field_selector=sel).items


def reasons(evs) -> list[str]:
    return [e.reason for e in evs]


def quota_used_gpu(c, ns: str) -> int:
    q = c.core().read_namespaced_resource_quota("mlss-default-rq", ns)
    return int(q.status.used["requests.nvidia.com/gpu"])


def log_of(c, ns: str, pod: str, **kw) -> str:
    return c.core().read_namespaced_pod_log(pod, ns, **kw)


def advance_until(c, pred, step: float = 1.0, limit: float = 600.0) -> float:
    """Move time on in ``step`` seconds until ``pred()`` holds; returns the simulated seconds it took."""
    t = 0.0
    while not pred():
        assert t < limit, f"condition not reached within {limit} simulated seconds"
        c.advance(step)
        t += step
    return t


def gpu_pod(ns: str, name: str, gpus: int) -> dict:
    res = {"cpu": "1", "memory": "1Gi", GPU: str(gpus)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "resources":
                                     {"requests": dict(res), "limits": dict(res)}}]}}


# ---------------------------------------------------------------------------------------------- notebooks
def test_notebook_lifecycle_pod_status_and_mirror(tiny):
    ns = roomy_ns(tiny)
    make_notebook(tiny, ns, "nb-life")
    core = tiny.core()
    pod = core.read_namespaced_pod("nb-life-0", ns)
    assert pod.status.phase == "Pending"
    assert pod.spec.node_name  # bound at once, the image is being pulled
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    labels = pod.metadata.labels
    assert labels["statefulset"] == "nb-life" and labels["notebook-name"] == "nb-life"
    assert labels["prophecis-UserId"] == "lihua" and labels["app"] == "nb-life"  # the Notebook's own labels
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("StatefulSet", "nb-life", True)
    nb = get_nb(tiny, ns, "nb-life")
    assert nb["status"]["readyReplicas"] == 0
    assert nb["status"]["containerState"] == {"waiting": {"reason": "ContainerCreating"}}

    tiny.advance(4)  # image pulled, container started, not yet ready
    pod = core.read_namespaced_pod("nb-life-0", ns)
    assert pod.status.phase == "Running"
    cs = pod.status.container_statuses[0]
    assert cs.state.running is not None and cs.ready is False
    assert get_nb(tiny, ns, "nb-life")["status"]["readyReplicas"] == 0

    tiny.advance(5)
    pod = core.read_namespaced_pod("nb-life-0", ns)
    assert pod.status.container_statuses[0].ready is True
    pconds = {x.type: x.status for x in pod.status.conditions}
    assert pconds["Ready"] == "True" and pconds["ContainersReady"] == "True" and pconds["PodScheduled"] == "True"
    st = get_nb(tiny, ns, "nb-life")["status"]
    assert st["readyReplicas"] == 1
    assert set(st["containerState"]) == {"running"}
    assert parse_rfc3339(st["containerState"]["running"]["startedAt"]) == \
        pod.status.container_statuses[0].state.running.started_at.timestamp()
    # conditions are a copy of the pod's
    assert {x["type"]: x["status"] for x in st["conditions"]} == pconds
    svc = core.read_namespaced_service("nb-life", ns)
    assert svc.spec.ports[0].port == 80 and svc.spec.ports[0].target_port == 8888
    assert svc.spec.ports[0].name == "http-nb-life" and svc.spec.selector == {"statefulset": "nb-life"}


def test_notebook_stop_start_and_delete(tiny):
    ns = roomy_ns(tiny)
    make_notebook(tiny, ns, "nb-ss")
    tiny.advance(10)
    core = tiny.core()
    first_uid = core.read_namespaced_pod("nb-ss-0", ns).metadata.uid
    assert get_nb(tiny, ns, "nb-ss")["status"]["readyReplicas"] == 1

    tiny.custom().patch_namespaced_custom_object(*NB[:2], ns, NB[2], "nb-ss", {
        "metadata": {"annotations": {STOP_ANN: "2026-11-29T10:00:10Z"}}})
    pod = core.read_namespaced_pod("nb-ss-0", ns)
    assert pod.metadata.deletion_timestamp is not None
    assert pod.metadata.deletion_grace_period_seconds == 30
    assert get_nb(tiny, ns, "nb-ss")["status"]["readyReplicas"] == 0
    assert "Killing" in reasons(events_for(tiny, ns, "nb-ss-0", "Pod"))
    tiny.advance(5)
    assert pod_or_none(tiny, ns, "nb-ss-0") is None
    tiny.advance(60)
    assert pod_or_none(tiny, ns, "nb-ss-0") is None  # stopped stays stopped
    st = get_nb(tiny, ns, "nb-ss")["status"]
    assert st["readyReplicas"] == 0 and st["containerState"] == {} and st["conditions"] == []

    tiny.custom().patch_namespaced_custom_object(*NB[:2], ns, NB[2], "nb-ss", {
        "metadata": {"annotations": {STOP_ANN: None}}})
    pod = core.read_namespaced_pod("nb-ss-0", ns)
    assert pod.metadata.uid != first_uid and pod.metadata.deletion_timestamp is None
    tiny.advance(10)
    assert get_nb(tiny, ns, "nb-ss")["status"]["readyReplicas"] == 1

    tiny.custom().delete_namespaced_custom_object(*NB[:2], ns, NB[2], "nb-ss")
    tiny.advance(5)
    assert pod_or_none(tiny, ns, "nb-ss-0") is None
    with pytest.raises(ApiException) as err:
        core.read_namespaced_service("nb-ss", ns)
    assert err.value.status == 404
    tiny.advance(60)
    assert pod_or_none(tiny, ns, "nb-ss-0") is None  # nothing re-creates it


def test_notebook_deleted_pod_is_recreated(tiny):
    ns = roomy_ns(tiny)
    make_notebook(tiny, ns, "nb-re")
    tiny.advance(10)
    old = tiny.core().read_namespaced_pod("nb-re-0", ns).metadata.uid
    tiny.core().delete_namespaced_pod("nb-re-0", ns)
    tiny.advance(5)
    pod = tiny.core().read_namespaced_pod("nb-re-0", ns)
    assert pod.metadata.uid != old
    tiny.advance(10)
    assert get_nb(tiny, ns, "nb-re")["status"]["readyReplicas"] == 1


def test_notebook_pullfail_waits_with_backoff_events(tiny):
    ns = roomy_ns(tiny)
    make_notebook(tiny, ns, "nb-pull", plan="pullfail", image="wedatasphere/prophecis:no-such-tag")
    tiny.advance(5)
    pod = tiny.core().read_namespaced_pod("nb-pull-0", ns)
    assert pod.status.phase == "Pending"
    w = pod.status.container_statuses[0].state.waiting
    assert w.reason == "ErrImagePull" and "no-such-tag" in w.message
    st = get_nb(tiny, ns, "nb-pull")["status"]
    assert st["containerState"]["waiting"]["reason"] == "ErrImagePull" and st["readyReplicas"] == 0
    evs = events_for(tiny, ns, "nb-pull-0", "Pod")
    failed = [e for e in evs if e.reason == "Failed"]
    assert failed and failed[0].type == "Warning" and "Failed to pull image" in failed[0].message
    assert failed[0].involved_object.field_path == "spec.containers{notebook-container}"

    tiny.advance(20)
    pod = tiny.core().read_namespaced_pod("nb-pull-0", ns)
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    assert get_nb(tiny, ns, "nb-pull")["status"]["containerState"]["waiting"]["reason"] == "ImagePullBackOff"
    assert "BackOff" in reasons(events_for(tiny, ns, "nb-pull-0", "Pod"))
    with pytest.raises(ApiException) as err:
        log_of(tiny, ns, "nb-pull-0")
    assert err.value.status == 400 and "waiting to start" in err.value.body

    # the kubelet keeps pulling with back-off: the same events again, with growing counts
    tiny.advance(600)
    evs = events_for(tiny, ns, "nb-pull-0", "Pod")
    count = {(e.reason, e.message): e.count for e in evs}
    assert count[("Pulling", 'Pulling image "wedatasphere/prophecis:no-such-tag"')] >= 4
    assert count[("Failed", "Error: ErrImagePull")] >= 4 and count[("Failed", "Error: ImagePullBackOff")] >= 4
    assert count[("BackOff", 'Back-off pulling image "wedatasphere/prophecis:no-such-tag"')] >= 4
    pod = tiny.core().read_namespaced_pod("nb-pull-0", ns)
    assert pod.status.phase == "Pending" and pod.status.container_statuses[0].restart_count == 0


def test_notebook_crash_loops_with_growing_restart_count(tiny):
    ns = roomy_ns(tiny)
    make_notebook(tiny, ns, "nb-crash", plan="crash")
    tiny.advance(9)  # pulled at +4 s, crashes 4 s later
    cs = tiny.core().read_namespaced_pod("nb-crash-0", ns).status.container_statuses[0]
    assert cs.state.waiting.reason == "CrashLoopBackOff"
    assert cs.restart_count == 1
    assert cs.last_state.terminated.exit_code == 1 and cs.last_state.terminated.reason == "Error"
    assert get_nb(tiny, ns, "nb-crash")["status"]["containerState"]["waiting"]["reason"] == "CrashLoopBackOff"
    prev = log_of(tiny, ns, "nb-crash-0", previous=True)
    assert "Error" in prev or "ImportError" in prev or "ModuleNotFoundError" in prev

    for _ in range(60):  # it dies while starting: never Ready, not even between two crashes
        tiny.advance(1)
        assert get_nb(tiny, ns, "nb-crash")["status"]["readyReplicas"] == 0
        assert tiny.core().read_namespaced_pod("nb-crash-0", ns).status.container_statuses[0].ready is False
    counts = [cs.restart_count]
    for _ in range(3):
        tiny.advance(100)
        counts.append(tiny.core().read_namespaced_pod("nb-crash-0", ns).status.container_statuses[0].restart_count)
    assert counts == sorted(counts) and counts[-1] >= 4
    backoff = [e for e in events_for(tiny, ns, "nb-crash-0", "Pod") if e.reason == "BackOff"]
    assert len(backoff) == 1 and backoff[0].count >= 3 and backoff[0].type == "Warning"
    assert backoff[0].last_timestamp > backoff[0].first_timestamp
    assert get_nb(tiny, ns, "nb-crash")["status"]["readyReplicas"] == 0


# ---------------------------------------------------------------------------------------------- training jobs
def test_pytorchjob_succeeds(tiny):
    ns = roomy_ns(tiny)
    make_training(tiny, "pytorch", ns, "pt-ok", plan="succeed", duration=120, workers=2, gpus=1)
    job = get_job(tiny, "pytorch", ns, "pt-ok")
    cs = conds(job)
    assert list(cs) == ["Created"] and cs["Created"]["status"] == "True"
    assert cs["Created"]["reason"] == "PyTorchJobCreated" and cs["Created"]["message"] == "PyTorchJob pt-ok is created."
    sel = "training.kubeflow.org/job-name=pt-ok"
    pods = pods_of(tiny, ns, sel)
    assert sorted(pods) == ["pt-ok-master-0", "pt-ok-worker-0", "pt-ok-worker-1"]
    master = pods["pt-ok-master-0"].metadata.labels
    assert master["training.kubeflow.org/replica-type"] == "master"
    assert master["training.kubeflow.org/job-role"] == "master"
    assert master["training.kubeflow.org/operator-name"] == "pytorchjob-controller"
    assert pods["pt-ok-worker-1"].metadata.labels["training.kubeflow.org/replica-index"] == "1"
    assert "training.kubeflow.org/job-role" not in pods["pt-ok-worker-1"].metadata.labels
    assert pods["pt-ok-worker-0"].spec.containers[0].ports[0].container_port == 23456
    assert tiny.core().read_namespaced_service("pt-ok-worker-0", ns).spec.cluster_ip == "None"

    advance_until(tiny, lambda: "Running" in conds(get_job(tiny, "pytorch", ns, "pt-ok")))
    job = get_job(tiny, "pytorch", ns, "pt-ok")
    run = conds(job)["Running"]
    assert run["status"] == "True" and run["reason"] == "PyTorchJobRunning"
    assert run["message"] == f"PyTorchJob {ns}/pt-ok is running."
    assert job["status"]["startTime"]
    rs = job["status"]["replicaStatuses"]
    assert rs["Master"]["active"] == 1 and rs["Worker"]["active"] == 2
    assert rs["Worker"]["selector"] == ("training.kubeflow.org/job-name=pt-ok,training.kubeflow.org/operator-name="
                                        "pytorchjob-controller,training.kubeflow.org/replica-type=worker")
    assert "completionTime" not in job["status"]
    tiny.advance(60)
    mid = log_of(tiny, ns, "pt-ok-master-0")
    assert mid.count("\n") > 5 and "Training completed" not in mid

    tiny.advance(70)
    job = get_job(tiny, "pytorch", ns, "pt-ok")
    cs = conds(job)
    assert [x["type"] for x in job["status"]["conditions"]] == ["Created", "Running", "Succeeded"]
    assert cs["Running"]["status"] == "False" and cs["Succeeded"]["status"] == "True"
    assert cs["Succeeded"]["reason"] == "PyTorchJobSucceeded"
    assert cs["Succeeded"]["message"] == f"PyTorchJob {ns}/pt-ok successfully completed."
    assert parse_rfc3339(job["status"]["completionTime"]) >= parse_rfc3339(job["status"]["startTime"]) + 120
    rs = job["status"]["replicaStatuses"]
    assert rs["Master"] .get("succeeded") == 1 and rs["Worker"].get("succeeded") == 2
    assert "active" not in rs["Worker"] and "failed" not in rs["Worker"]
    for p in pods_of(tiny, ns, sel).values():
        assert p.status.phase == "Succeeded"
        t = p.status.container_statuses[0].state.terminated
        assert t.exit_code == 0 and t.reason == "Completed"
    log = log_of(tiny, ns, "pt-ok-master-0")
    assert log.startswith(mid.split("\n")[0])  # the same log, now closed
    assert "Training completed" in log and log.index("Training completed") > len(mid) // 2
    ev = [e for e in events_for(tiny, ns, "pt-ok", "PyTorchJob") if e.reason == "PyTorchJobSucceeded"]
    assert ev and ev[0].involved_object.kind == "PyTorchJob" and ev[0].involved_object.uid == job["metadata"]["uid"]
    tiny.advance(600)
    assert [x["type"] for x in get_job(tiny, "pytorch", ns, "pt-ok")["status"]["conditions"]] == \
        ["Created", "Running", "Succeeded"]


def test_tfjob_oomkilled_fails(tiny):
    ns = roomy_ns(tiny)
    make_training(tiny, "tensorflow", ns, "tf-oom", plan="OOMKilled", duration=60, workers=2, gpus=1)
    assert get_job(tiny, "tensorflow", ns, "tf-oom")["spec"]["tfReplicaSpecs"]["Worker"]["restartPolicy"] == "Never"
    advance_until(tiny, lambda: "Failed" in conds(get_job(tiny, "tensorflow", ns, "tf-oom")), limit=300)
    job = get_job(tiny, "tensorflow", ns, "tf-oom")
    cs = conds(job)
    assert cs["Failed"]["status"] == "True" and cs["Failed"]["reason"] == "TFJobFailed"
    assert cs["Failed"]["message"] == f"TFJob {ns}/tf-oom has failed because 1 Worker replica(s) failed."
    assert cs["Running"]["status"] == "False" and "Succeeded" not in cs
    assert "completionTime" not in job["status"]
    pods = pods_of(tiny, ns, "training.kubeflow.org/job-name=tf-oom")
    oom = [p for p in pods.values() if p.status.container_statuses[0].state.terminated is not None
           and p.status.container_statuses[0].state.terminated.reason == "OOMKilled"]
    assert len(oom) == 1
    victim = oom[0]
    assert victim.metadata.labels["training.kubeflow.org/replica-type"] == "worker"
    assert victim.status.phase == "Failed"
    assert victim.status.container_statuses[0].state.terminated.exit_code == 137
    assert victim.status.container_statuses[0].restart_count == 0
    assert job["status"]["replicaStatuses"]["Worker"]["failed"] == 1
    tiny.advance(10)
    # cleanPodPolicy Running: the other replicas are gone, the failed one is kept for its logs
    left = pods_of(tiny, ns, "training.kubeflow.org/job-name=tf-oom")
    assert list(left) == [victim.metadata.name]
    assert log_of(tiny, ns, victim.metadata.name)
    assert conds(get_job(tiny, "tensorflow", ns, "tf-oom"))["Failed"]["status"] == "True"
    ev = [e for e in events_for(tiny, ns, "tf-oom", "TFJob") if e.reason == "TFJobFailed"]
    assert ev and ev[0].type == "Warning"


@pytest.mark.parametrize("kind,plan,needle", [
    ("pytorch", "NCCLTimeout", "Watchdog caught collective operation timeout"),
    ("pytorch", "CudaOOM", "CUDA out of memory"),
    ("tensorflow", "CudaOOM", "ResourceExhausted"),
])
def test_training_failure_logs(tiny, kind, plan, needle):
    ns = roomy_ns(tiny)
    make_training(tiny, kind, ns, "fail-log", plan=plan, duration=60, workers=1, gpus=1, restart="Never")
    advance_until(tiny, lambda: "Failed" in conds(get_job(tiny, kind, ns, "fail-log")), limit=300)
    pods = pods_of(tiny, ns, "training.kubeflow.org/job-name=fail-log")
    failed = [n for n, p in pods.items() if p.status.phase == "Failed"]
    assert failed
    for n in failed:
        t = pods[n].status.container_statuses[0].state.terminated
        assert t.exit_code == 1 and t.reason == "Error"
    logs = {n: log_of(tiny, ns, n) for n in failed}
    assert any(needle in text for text in logs.values()), logs
    if plan == "NCCLTimeout":  # every rank hangs on the collective
        assert all(needle in text for text in logs.values())


def test_pytorch_onfailure_restarts_then_fails_at_backoff_limit(tiny):
    ns = roomy_ns(tiny)
    make_training(tiny, "pytorch", ns, "pt-retry", plan="Error", duration=30, workers=1, gpus=1, backoff=2)
    sel = "training.kubeflow.org/job-name=pt-retry"
    advance_until(tiny, lambda: "Restarting" in conds(get_job(tiny, "pytorch", ns, "pt-retry")), limit=300)
    job = get_job(tiny, "pytorch", ns, "pt-retry")
    cs = conds(job)
    assert "Running" not in cs  # Restarting replaces Running
    assert cs["Restarting"]["status"] == "True" and cs["Restarting"]["reason"] == "PyTorchJobRestarting"
    assert cs["Restarting"]["message"].startswith("PyTorchJob pt-retry is restarting because 1 ")
    ev = [e for e in events_for(tiny, ns, "pt-retry", "PyTorchJob") if e.reason == "PyTorchJobRestarting"]
    assert ev and ev[0].type == "Warning" and ev[0].message == cs["Restarting"]["message"]
    restarted = [p for p in pods_of(tiny, ns, sel).values() if p.status.container_statuses[0].restart_count == 1]
    assert len(restarted) == 1
    rp = restarted[0]
    assert rp.status.phase == "Running"  # OnFailure: the kubelet restarts in place, the pod is not Failed
    assert rp.status.container_statuses[0].last_state.terminated.exit_code == 1
    assert "Traceback" in log_of(tiny, ns, rp.metadata.name, previous=True)

    advance_until(tiny, lambda: "Failed" in conds(get_job(tiny, "pytorch", ns, "pt-retry")), limit=1200)
    job = get_job(tiny, "pytorch", ns, "pt-retry")
    cs = conds(job)
    assert cs["Failed"]["status"] == "True" and cs["Failed"]["reason"] == "PyTorchJobFailed"
    assert "backoff limit" in cs["Failed"]["message"]
    assert "Restarting" not in cs or cs["Restarting"]["status"] == "False"
    total = sum(cs_.restart_count for p in pods_of(tiny, ns, sel).values()
                for cs_ in p.status.container_statuses)
    assert total == 2  # backoffLimit 2: two restarts, the failure after them ends the job
    assert "Succeeded" not in cs


def test_pytorchjob_pullfail_stays_created(tiny):
    ns = roomy_ns(tiny)
    make_training(tiny, "pytorch", ns, "pt-pull", plan="pullfail", duration=60, workers=1, gpus=1)
    tiny.advance(20)
    pods = pods_of(tiny, ns, "training.kubeflow.org/job-name=pt-pull")
    assert len(pods) == 2
    assert {p.status.container_statuses[0].state.waiting.reason for p in pods.values()} <= \
        {"ErrImagePull", "ImagePullBackOff"}
    tiny.advance(60)
    pods = pods_of(tiny, ns, "training.kubeflow.org/job-name=pt-pull")
    assert all(p.status.phase == "Pending" for p in pods.values())
    assert "ImagePullBackOff" in {p.status.container_statuses[0].state.waiting.reason for p in pods.values()}
    job = get_job(tiny, "pytorch", ns, "pt-pull")
    assert list(conds(job)) == ["Created"]
    # Pending pods are neither active, succeeded nor failed (zero counts are omitted)
    assert set(job["status"]["replicaStatuses"]["Worker"]) == {"labelSelector", "selector"}
    tiny.advance(3600)
    assert list(conds(get_job(tiny, "pytorch", ns, "pt-pull"))) == ["Created"]


def test_xgboostjob_succeeds(tiny):
    ns = roomy_ns(tiny)
    make_training(tiny, "xgboost", ns, "xgb-ok", plan="succeed", duration=90, workers=2)
    pods = pods_of(tiny, ns, "training.kubeflow.org/job-name=xgb-ok")
    assert sorted(pods) == ["xgb-ok-master-0", "xgb-ok-worker-0", "xgb-ok-worker-1"]
    assert pods["xgb-ok-master-0"].metadata.labels["training.kubeflow.org/operator-name"] == "xgboostjob-controller"
    assert pods["xgb-ok-master-0"].spec.containers[0].name == "xgboost"
    advance_until(tiny, lambda: "Succeeded" in conds(get_job(tiny, "xgboost", ns, "xgb-ok")), limit=300)
    job = get_job(tiny, "xgboost", ns, "xgb-ok")
    assert conds(job)["Succeeded"]["reason"] == "XGBoostJobSucceeded"
    assert job["status"]["replicaStatuses"]["Worker"]["succeeded"] == 2
    assert "Training completed" in log_of(tiny, ns, "xgb-ok-master-0")


# ---------------------------------------------------------------------------------------------- batch Job
def _job_pod(c, ns: str, job: str):
    pods = list(pods_of(c, ns, f"job-name={job}").values())
    assert len(pods) == 1
    return pods[0]


def test_single_job_completes(tiny):
    ns = roomy_ns(tiny)
    job = make_training(tiny, "single", ns, "training-0a1b2c3d4e", plan="succeed", duration=100)
    uid = job["metadata"]["uid"]
    p = _job_pod(tiny, ns, "training-0a1b2c3d4e")
    name = p.metadata.name
    assert name.startswith("training-0a1b2c3d4e-") and len(name) == len("training-0a1b2c3d4e-") + 5
    assert p.metadata.generate_name == "training-0a1b2c3d4e-"
    assert p.metadata.labels["controller-uid"] == uid and p.metadata.labels["batch.kubernetes.io/controller-uid"] == uid
    assert p.metadata.labels["service"] == "dlaas-learner"
    assert (p.metadata.owner_references[0].kind, p.metadata.owner_references[0].uid) == ("Job", uid)
    assert p.spec.restart_policy == "Never"
    assert tiny.batch().list_namespaced_job(ns, label_selector="jobType=single,envir=prophecis").items
    tiny.advance(30)
    st = tiny.batch().read_namespaced_job("training-0a1b2c3d4e", ns).status
    assert st.active == 1 and st.ready == 1 and st.start_time is not None and not st.conditions
    tiny.advance(100)
    st = tiny.batch().read_namespaced_job("training-0a1b2c3d4e", ns).status
    assert st.succeeded == 1 and not st.active and st.completion_time is not None
    complete = {x.type: x for x in st.conditions}["Complete"]
    assert complete.status == "True"
    p = tiny.core().read_namespaced_pod(name, ns)
    assert p.status.phase == "Succeeded" and p.status.container_statuses[0].state.terminated.exit_code == 0
    assert "Training completed" in log_of(tiny, ns, name)
    assert "Completed" in reasons(events_for(tiny, ns, "training-0a1b2c3d4e", "Job"))
    assert "SuccessfulCreate" in reasons(events_for(tiny, ns, "training-0a1b2c3d4e", "Job"))


def test_single_job_fails_backoff_limit_exceeded(tiny):
    ns = roomy_ns(tiny)
    make_training(tiny, "single", ns, "training-ffee001122", plan="OOMKilled", duration=40)
    advance_until(tiny, lambda: tiny.batch().read_namespaced_job("training-ffee001122", ns).status.conditions,
                  step=5, limit=300)
    st = tiny.batch().read_namespaced_job("training-ffee001122", ns).status
    failed = {x.type: x for x in st.conditions}["Failed"]
    assert failed.status == "True" and failed.reason == "BackoffLimitExceeded"
    assert st.failed == 1 and not st.succeeded and st.completion_time is None
    p = _job_pod(tiny, ns, "training-ffee001122")
    t = p.status.container_statuses[0].state.terminated
    assert p.status.phase == "Failed" and (t.exit_code, t.reason) == (137, "OOMKilled")
    ev = [e for e in events_for(tiny, ns, "training-ffee001122", "Job") if e.reason == "BackoffLimitExceeded"]
    assert ev and ev[0].type == "Warning"
    tiny.advance(600)  # backoffLimit 0: no second pod
    _job_pod(tiny, ns, "training-ffee001122")


# ---------------------------------------------------------------------------------------------- Seldon
def _sdep_body(ns: str, name: str, replicas: int, plan: str = "succeed") -> dict:
    body = annotate(sdep_body(ns, name, "lihua", "fraud-xgb", random.Random(3)), plan)
    body["spec"]["replicas"] = replicas
    del body["spec"]["predictors"][1:]
    body["spec"]["predictors"][0]["traffic"] = 100
    body["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
    return body


def _sdep(c, ns: str, name: str, plan: str, replicas: int) -> dict:
    return c.custom().create_namespaced_custom_object(*SDEP[:2], ns, SDEP[2], _sdep_body(ns, name, replicas, plan))


def _get_sdep(c, ns: str, name: str) -> dict:
    return c.custom().get_namespaced_custom_object(*SDEP[:2], ns, SDEP[2], name)


def _live(c, ns: str, name: str) -> list:
    return [p for p in pods_of(c, ns, f"seldon-deployment-id={name}").values()
            if p.metadata.deletion_timestamp is None]


def test_seldon_predictors_each_get_their_deployment_and_the_most_specific_count_wins(tiny):
    """A canary beside the main predictor: its own pods, Deployment status entry and Service; spec.replicas
    (what the scale subresource sets) moves the main predictor only, the canary keeps its own count."""
    ns = roomy_ns(tiny)
    body = _sdep_body(ns, "fraud-canary", 3)
    canary = copy.deepcopy(body["spec"]["predictors"][0])
    canary.update(name="canary", traffic=10, replicas=1)
    body["spec"]["predictors"][0]["traffic"] = 90
    body["spec"]["predictors"].append(canary)
    tiny.custom().create_namespaced_custom_object(*SDEP[:2], ns, SDEP[2], body)
    tiny.advance(15)
    by_pred = Counter(p.metadata.labels["version"] for p in _live(tiny, ns, "fraud-canary"))
    assert by_pred == {"default": 3, "canary": 1}
    st = _get_sdep(tiny, ns, "fraud-canary")["status"]
    assert st["state"] == "Available" and st["replicas"] == 4
    assert sorted((k.split("-0-")[0], v["availableReplicas"]) for k, v in st["deploymentStatus"].items()) == [
        ("fraud-canary-canary", 1), ("fraud-canary-default", 3)]
    assert set(st["serviceStatus"]) == {"fraud-canary-default", "fraud-canary-canary"}
    assert tiny.core().read_namespaced_service("fraud-canary-canary", ns).spec.ports[0].port == 8000
    scale = tiny.custom().get_namespaced_custom_object_scale(*SDEP[:2], ns, SDEP[2], "fraud-canary")
    assert scale["spec"]["replicas"] == 3
    tiny.custom().patch_namespaced_custom_object_scale(*SDEP[:2], ns, SDEP[2], "fraud-canary",
                                                       {"spec": {"replicas": 5}})
    tiny.advance(15)
    assert Counter(p.metadata.labels["version"] for p in _live(tiny, ns, "fraud-canary")) == {"default": 5,
                                                                                            "canary": 1}
    body = _get_sdep(tiny, ns, "fraud-canary")
    body["spec"]["predictors"] = body["spec"]["predictors"][:1]  # the canary promoted away
    tiny.custom().replace_namespaced_custom_object(*SDEP[:2], ns, SDEP[2], "fraud-canary", body)
    tiny.advance(40)
    assert Counter(p.metadata.labels["version"] for p in _live(tiny, ns, "fraud-canary")) == {"default": 5}
    assert set(_get_sdep(tiny, ns, "fraud-canary")["status"]["serviceStatus"]) == {"fraud-canary-default"}


def test_seldon_becomes_available_and_scales(tiny):
    ns = roomy_ns(tiny)
    _sdep(tiny, ns, "fraud-svc", "succeed", 2)
    st = _get_sdep(tiny, ns, "fraud-svc")["status"]
    assert st["state"] == "Creating"
    assert len(_live(tiny, ns, "fraud-svc")) == 2
    tiny.advance(15)
    st = _get_sdep(tiny, ns, "fraud-svc")["status"]
    assert st["state"] == "Available" and st["replicas"] == 2
    assert st["address"]["url"] == f"http://fraud-svc-default.{ns}.svc.cluster.local:8000/api/v1.0/predictions"
    assert {x["type"]: x["status"] for x in st["conditions"]}["Ready"] == "True"
    dep = next(iter(st["deploymentStatus"].values()))
    assert dep["replicas"] == 2 and dep["availableReplicas"] == 2
    assert tiny.core().read_namespaced_service("fraud-svc-default", ns).spec.ports[0].port == 8000
    p = _live(tiny, ns, "fraud-svc")[0]
    assert {c.name for c in p.spec.containers} >= {"seldon-container-engine"}
    assert p.metadata.owner_references[0].kind == "ReplicaSet"

    tiny.custom().patch_namespaced_custom_object(*SDEP[:2], ns, SDEP[2], "fraud-svc", {"spec": {"replicas": 4}})
    assert len(_live(tiny, ns, "fraud-svc")) == 4
    assert _get_sdep(tiny, ns, "fraud-svc")["status"]["state"] == "Creating"
    tiny.advance(15)
    st = _get_sdep(tiny, ns, "fraud-svc")["status"]
    assert st["state"] == "Available" and st["replicas"] == 4

    tiny.custom().patch_namespaced_custom_object(*SDEP[:2], ns, SDEP[2], "fraud-svc", {"spec": {"replicas": 1}})
    assert len(_live(tiny, ns, "fraud-svc")) == 1
    tiny.advance(40)
    assert len(pods_of(tiny, ns, "seldon-deployment-id=fraud-svc")) == 1
    st = _get_sdep(tiny, ns, "fraud-svc")["status"]
    assert st["state"] == "Available" and st["replicas"] == 1

    tiny.custom().delete_namespaced_custom_object(*SDEP[:2], ns, SDEP[2], "fraud-svc")
    tiny.advance(30)
    assert pods_of(tiny, ns, "seldon-deployment-id=fraud-svc") == {}
    with pytest.raises(ApiException):
        tiny.core().read_namespaced_service("fraud-svc-default", ns)


def test_seldon_crash_fails_after_progress_deadline(tiny):
    ns = roomy_ns(tiny)
    _sdep(tiny, ns, "bad-svc", "crash", 1)
    tiny.advance(300)
    assert _get_sdep(tiny, ns, "bad-svc")["status"]["state"] == "Creating"
    p = _live(tiny, ns, "bad-svc")[0]
    model = next(cs for cs in p.status.container_statuses if cs.name != "seldon-container-engine")
    assert model.restart_count >= 2 and model.ready is False
    tiny.advance(301)
    st = _get_sdep(tiny, ns, "bad-svc")["status"]
    assert st["state"] == "Failed"
    assert st["description"] == "Deployment is no longer progressing and not available."
    assert st["replicas"] == 0
    assert "DeploymentFailed" in reasons(events_for(tiny, ns, "bad-svc", "SeldonDeployment"))
    tiny.advance(600)
    assert _get_sdep(tiny, ns, "bad-svc")["status"]["state"] == "Failed"


# ---------------------------------------------------------------------------------------------- GPU scheduling
def test_gpu_shortage_pending_then_scheduled(tiny):
    ns = roomy_ns(tiny)
    set_gpu_quota(tiny, ns, 16)  # let the scheduler, not the quota, be what stops the pod
    core = tiny.core()
    core.create_namespaced_pod(ns, gpu_pod(ns, "blocker", 6))
    tiny.advance(10)
    assert core.read_namespaced_pod("blocker", ns).status.phase == "Running"
    core.create_namespaced_pod(ns, gpu_pod(ns, "big", 4))
    tiny.advance(30)
    pod = core.read_namespaced_pod("big", ns)
    assert pod.status.phase == "Pending" and pod.spec.node_name is None
    sched = {x.type: x for x in pod.status.conditions}["PodScheduled"]
    assert sched.status == "False" and sched.reason == "Unschedulable"
    total = len(core.list_node().items)
    evs = [e for e in events_for(tiny, ns, "big", "Pod") if e.reason == "FailedScheduling"]
    assert len(evs) == 1
    ev = evs[0]
    assert ev.type == "Warning"
    assert ev.message.startswith(f"0/{total} nodes are available:")
    assert "1 Insufficient nvidia.com/gpu" in ev.message
    assert f"{total - 1} node(s) didn't match Pod's node affinity/selector" in ev.message
    assert sched.message == ev.message
    assert ev.involved_object.uid == pod.metadata.uid and ev.involved_object.kind == "Pod"
    # modern (events.k8s.io) event read through core/v1
    assert ev.event_time is not None and ev.first_timestamp is None and ev.last_timestamp is None
    assert ev.reporting_component == "default-scheduler" and ev.action == "Scheduling"
    assert ev.series is None
    first_time = ev.event_time

    tiny.advance(300)  # the scheduler retries unschedulable pods at least every five minutes
    evs = [e for e in events_for(tiny, ns, "big", "Pod") if e.reason == "FailedScheduling"]
    assert len(evs) == 1  # the same event, now a series
    assert evs[0].series.count == 2 and evs[0].series.last_observed_time > first_time
    assert evs[0].event_time == first_time and evs[0].first_timestamp is None

    core.delete_namespaced_pod("blocker", ns)
    tiny.advance(10)
    pod = core.read_namespaced_pod("big", ns)
    assert pod.spec.node_name and pod.status.phase == "Running"
    scheduled = [e for e in events_for(tiny, ns, "big", "Pod") if e.reason == "Scheduled"]
    assert scheduled and scheduled[0].message == f"Successfully assigned {ns}/big to {pod.spec.node_name}"
    assert scheduled[0].event_time is not None and scheduled[0].first_timestamp is None


def test_gpu_job_larger_than_any_node_stays_pending(tiny):
    ns = roomy_ns(tiny)
    set_gpu_quota(tiny, ns, 64)
    make_training(tiny, "pytorch", ns, "pt-huge", plan="succeed", duration=60, workers=1, gpus=9)
    tiny.advance(120)
    pods = pods_of(tiny, ns, "training.kubeflow.org/job-name=pt-huge")
    assert len(pods) == 2 and all(p.status.phase == "Pending" for p in pods.values())
    for name in pods:
        ev = [e for e in events_for(tiny, ns, name, "Pod") if e.reason == "FailedScheduling"]
        assert ev and "Insufficient nvidia.com/gpu" in ev[0].message
    assert list(conds(get_job(tiny, "pytorch", ns, "pt-huge"))) == ["Created"]


# ---------------------------------------------------------------------------------------------- quota
def test_quota_used_follows_live_pods(tiny):
    ns = roomy_ns(tiny)
    base = quota_used_gpu(tiny, ns)
    make_training(tiny, "pytorch", ns, "pt-q", plan="succeed", duration=60, workers=1, gpus=2)
    assert quota_used_gpu(tiny, ns) == base + 4
    q = tiny.core().read_namespaced_resource_quota("mlss-default-rq", ns)
    assert set(q.status.used) == set(q.status.hard) == set(q.spec.hard)
    assert all(isinstance(v, str) for v in q.status.used.values())
    tiny.core().create_namespaced_pod(ns, gpu_pod(ns, "one-gpu", 1))
    assert quota_used_gpu(tiny, ns) == base + 5
    advance_until(tiny, lambda: "Succeeded" in conds(get_job(tiny, "pytorch", ns, "pt-q")), limit=300)
    assert quota_used_gpu(tiny, ns) == base + 1  # finished pods no longer count
    tiny.core().delete_namespaced_pod("one-gpu", ns)
    tiny.advance(10)
    assert quota_used_gpu(tiny, ns) == base


def test_notebook_over_quota_gets_failed_create(tiny):
    ns = roomy_ns(tiny)
    hard = int(tiny.core().read_namespaced_resource_quota("mlss-default-rq", ns).status.hard[
        "requests.nvidia.com/gpu"])
    used = quota_used_gpu(tiny, ns)
    make_notebook(tiny, ns, "nb-greedy", gpu=hard - used + 1)
    tiny.advance(5)
    assert pod_or_none(tiny, ns, "nb-greedy-0") is None
    evs = [e for e in events_for(tiny, ns, "nb-greedy", "StatefulSet") if e.reason == "FailedCreate"]
    assert len(evs) == 1
    ev = evs[0]
    assert ev.type == "Warning" and ev.source.component == "statefulset-controller"
    assert "exceeded quota: mlss-default-rq" in ev.message
    assert f"requested: requests.nvidia.com/gpu={hard - used + 1}" in ev.message
    assert f"limited: requests.nvidia.com/gpu={hard}" in ev.message
    nb = get_nb(tiny, ns, "nb-greedy")
    assert nb["status"]["readyReplicas"] == 0
    tiny.advance(120)  # the StatefulSet keeps trying: same event, higher count
    assert pod_or_none(tiny, ns, "nb-greedy-0") is None
    ev = [e for e in events_for(tiny, ns, "nb-greedy", "StatefulSet") if e.reason == "FailedCreate"][0]
    assert ev.count >= 3 and ev.last_timestamp > ev.first_timestamp
    # once the quota is raised, the next retry creates the pod
    set_gpu_quota(tiny, ns, 64)
    tiny.advance(40)
    assert pod_or_none(tiny, ns, "nb-greedy-0") is not None


def test_pod_over_quota_is_forbidden(tiny):
    ns = roomy_ns(tiny)
    core = tiny.core()
    core.create_namespaced_pod(ns, gpu_pod(ns, "six", 6))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(ns, gpu_pod(ns, "three", 3))
    assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["reason"] == "Forbidden"
    assert body["message"] == ('pods "three" is forbidden: exceeded quota: mlss-default-rq, requested: '
                               'requests.nvidia.com/gpu=3, used: requests.nvidia.com/gpu=6, '
                               'limited: requests.nvidia.com/gpu=8')
    assert pod_or_none(tiny, ns, "three") is None
    assert quota_used_gpu(tiny, ns) == 6


def test_training_job_over_quota_gets_failed_create_pod(tiny):
    ns = roomy_ns(tiny)
    set_gpu_quota(tiny, ns, 3)
    make_training(tiny, "pytorch", ns, "pt-big", plan="succeed", duration=60, workers=3, gpus=1)  # 4 GPUs > 3
    pods = pods_of(tiny, ns, "training.kubeflow.org/job-name=pt-big")
    assert sorted(pods) == ["pt-big-master-0", "pt-big-worker-0", "pt-big-worker-1"]
    evs = [e for e in events_for(tiny, ns, "pt-big", "PyTorchJob") if e.reason == "FailedCreatePod"]
    assert len(evs) == 1 and evs[0].type == "Warning"
    assert evs[0].message.startswith('Error creating: pods "pt-big-worker-2" is forbidden: exceeded quota')
    tiny.advance(120)
    assert list(conds(get_job(tiny, "pytorch", ns, "pt-big"))) == ["Created"]  # never all running
    assert [e.count for e in events_for(tiny, ns, "pt-big", "PyTorchJob") if e.reason == "FailedCreatePod"][0] >= 2
    set_gpu_quota(tiny, ns, 8)
    advance_until(tiny, lambda: "pt-big-worker-2" in pods_of(tiny, ns, "training.kubeflow.org/job-name=pt-big"),
                  step=10, limit=900)
    advance_until(tiny, lambda: "Running" in conds(get_job(tiny, "pytorch", ns, "pt-big")), limit=60)


# ---------------------------------------------------------------------------------------------- events
def test_kubelet_events_are_core_events(tiny):
    ns = roomy_ns(tiny)
    make_notebook(tiny, ns, "nb-ev")
    tiny.advance(10)
    pod = tiny.core().read_namespaced_pod("nb-ev-0", ns)
    evs = {e.reason: e for e in events_for(tiny, ns, "nb-ev-0", "Pod")}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= set(evs)
    for r in ("Pulled", "Created", "Started"):
        e = evs[r]
        assert e.type == "Normal" and e.count == 1
        assert e.first_timestamp is not None and e.last_timestamp == e.first_timestamp
        assert e.event_time is None
        assert e.source.component == "kubelet" and e.source.host == pod.spec.node_name
        assert e.involved_object.uid == pod.metadata.uid
        assert e.involved_object.field_path == "spec.containers{notebook-container}"
    assert evs["Scheduled"].first_timestamp is None and evs["Scheduled"].event_time is not None
    assert evs["Pulled"].first_timestamp >= evs["Scheduled"].event_time.replace(microsecond=0)
    sts = {e.reason: e for e in events_for(tiny, ns, "nb-ev", "StatefulSet")}
    assert sts["SuccessfulCreate"].involved_object.kind == "StatefulSet"
    by_reason = tiny.core().list_namespaced_event(ns, field_selector="reason=Started,type=Normal").items
    assert "nb-ev-0" in {e.involved_object.name for e in by_reason}


# ---------------------------------------------------------------------------------------------- determinism
DIGEST = r"""
import hashlib, json, sys
from prophecis_tui.simulator.sim import Simulation
from prophecis_tui.simulator.resources import RESOURCES
sim = Simulation(sys.argv[1], int(sys.argv[2]), start_time=float(sys.argv[3]), speed=0, activity=False)
sim.engine.advance(float(sys.argv[4]))
e = sim.engine
out = {"objects": {r.key: sorted(f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
                                 for o in e.store.objects(r)) for r in RESOURCES},
       "phases": {f"{ns}/{n}": p.phase for (ns, n), p in sorted(e.pods.items())},
       "logs": {f"{ns}/{n}/{c.name}": [t for _, t in c.log.lines(0, c.log.count_at(e.now()))]
                for (ns, n), p in sorted(e.pods.items()) for c in p.containers if c.log is not None}}
print(hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest())
"""


def _snapshot(sim) -> dict:
    from prophecis_tui.simulator.resources import RESOURCES
    e = sim.engine
    objs = {r.key: sorted((o["metadata"].get("namespace", ""), o["metadata"]["name"], o["metadata"].get("uid", ""))
                          for o in e.store.objects(r)) for r in RESOURCES}
    return {"objects": objs,
            "phases": {k: (p.phase, p.node, tuple(p.gpu_ids)) for k, p in sorted(e.pods.items())},
            "status": {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o.get("status")
                       for r in RESOURCES if r.group in ("kubeflow.org", "machinelearning.seldon.io")
                       for o in e.store.objects(r)}}


def test_same_seed_same_world_and_logs():
    from prophecis_tui.simulator.sim import Simulation
    start = parse_rfc3339("2026-11-29T10:00:00Z")
    a = Simulation("tiny", 5, start_time=start, speed=0, activity=False)
    b = Simulation("tiny", 5, start_time=start, speed=0, activity=False)
    other = Simulation("tiny", 6, start_time=start, speed=0, activity=False)
    for s in (a, b, other):
        s.engine.advance(900)
    sa, sb = _snapshot(a), _snapshot(b)
    assert sa["objects"] == sb["objects"]
    assert sa["phases"] == sb["phases"]
    assert sa["status"] == sb["status"]
    assert sa["objects"] != _snapshot(other)["objects"]  # the seed does matter
    assert any(p.phase == "Running" for p in a.engine.pods.values())
    checked = 0
    for key, p in a.engine.pods.items():
        q = b.engine.pods[key]
        for c, d in zip(p.containers, q.containers):
            if c.log is None:
                continue
            n = c.log.count_at(a.engine.now())
            assert n == d.log.count_at(b.engine.now())
            assert c.log.lines(0, n) == d.log.lines(0, n)
            checked += n > 0
    assert checked > 10


def test_same_seed_same_world_across_processes():
    """Nothing may depend on Python's per-process string hashing (set order) or the wall clock."""
    import os
    import subprocess
    import sys
    start = str(parse_rfc3339("2026-11-29T10:00:00Z"))
    digests = set()
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run([sys.executable, "-c", DIGEST, "tiny", "5", start, "600"], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_notebook_started_again_while_its_pod_terminates(tiny):
    ns = roomy_ns(tiny)
    make_notebook(tiny, ns, "nb-quick")
    tiny.advance(10)
    old = tiny.core().read_namespaced_pod("nb-quick-0", ns).metadata.uid
    custom = tiny.custom()
    custom.patch_namespaced_custom_object(*NB[:2], ns, NB[2], "nb-quick",
                                          {"metadata": {"annotations": {STOP_ANN: "2026-11-29T10:00:10Z"}}})
    custom.patch_namespaced_custom_object(*NB[:2], ns, NB[2], "nb-quick",
                                          {"metadata": {"annotations": {STOP_ANN: None}}})
    assert tiny.core().read_namespaced_pod("nb-quick-0", ns).metadata.uid == old  # still terminating
    tiny.advance(5)
    pod = tiny.core().read_namespaced_pod("nb-quick-0", ns)
    assert pod.metadata.uid != old and pod.metadata.deletion_timestamp is None
    tiny.advance(10)
    assert get_nb(tiny, ns, "nb-quick")["status"]["readyReplicas"] == 1


def test_quota_untracked_gpu_keys_never_show_in_used(tiny):
    ns = roomy_ns(tiny)
    tiny.core().patch_namespaced_resource_quota("mlss-default-rq", ns, {"spec": {"hard": {
        "limits.nvidia.com/gpu": "4", "nvidia.com/gpu": "4", "pods": "50"}}})
    tiny.core().create_namespaced_pod(ns, gpu_pod(ns, "g2", 2))
    q = tiny.core().read_namespaced_resource_quota("mlss-default-rq", ns)
    assert q.status.hard["limits.nvidia.com/gpu"] == "4" and q.status.hard["nvidia.com/gpu"] == "4"
    assert "limits.nvidia.com/gpu" not in q.status.used and "nvidia.com/gpu" not in q.status.used
    assert q.status.used["requests.nvidia.com/gpu"] == "2" and q.status.used["pods"] == "1"
    assert q.status.used["requests.cpu"] == "1" and q.status.used["limits.memory"] == "1Gi"
    tiny.core().create_namespaced_pod(ns, gpu_pod(ns, "g3", 3))  # only requests.nvidia.com/gpu is enforced
    assert quota_used_gpu(tiny, ns) == 5


@pytest.mark.parametrize("policy", ["Running", "None", "All"])
def test_tfjob_success_and_clean_pod_policy(tiny, policy):
    ns = roomy_ns(tiny)
    _, body = training_body("tensorflow", ns, "tf-ok", "lihua", "fraud-xgb", random.Random(1), max_gpus=8)
    annotate(body, "succeed", 60)
    body["spec"]["tfReplicaSpecs"]["PS"]["replicas"] = 1
    body["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] = 2
    body["spec"]["runPolicy"]["cleanPodPolicy"] = policy
    tiny.custom().create_namespaced_custom_object(*KINDS["tensorflow"][:2], ns, KINDS["tensorflow"][2], body)
    sel = "training.kubeflow.org/job-name=tf-ok"
    assert sorted(pods_of(tiny, ns, sel)) == ["tf-ok-chief-0", "tf-ok-ps-0", "tf-ok-worker-0", "tf-ok-worker-1"]
    advance_until(tiny, lambda: "Succeeded" in conds(get_job(tiny, "tensorflow", ns, "tf-ok")), limit=300)
    job = get_job(tiny, "tensorflow", ns, "tf-ok")
    assert conds(job)["Succeeded"]["message"] == f"TFJob {ns}/tf-ok successfully completed."
    rs = job["status"]["replicaStatuses"]
    # whatever was still active when the job succeeded (the parameter server) is counted as succeeded
    assert (rs["Chief"].get("succeeded"), rs["PS"].get("succeeded"), rs["Worker"].get("succeeded")) == (1, 1, 2)
    assert not any(r.get("active") for r in rs.values())
    tiny.advance(10)
    left = {n: p.status.phase for n, p in pods_of(tiny, ns, sel).items()}
    if policy == "None":
        assert left == {"tf-ok-chief-0": "Succeeded", "tf-ok-ps-0": "Running", "tf-ok-worker-0": "Succeeded",
                        "tf-ok-worker-1": "Succeeded"}
    elif policy == "Running":
        assert left == {"tf-ok-chief-0": "Succeeded", "tf-ok-worker-0": "Succeeded", "tf-ok-worker-1": "Succeeded"}
    else:
        assert left == {}


def test_platform_controllers_restarted_once(tiny):
    core = tiny.core()
    pods = {p.metadata.labels["app"]: p for p in core.list_namespaced_pod("prophecis").items
            if "app" in (p.metadata.labels or {})}
    for app, needle in (("notebook-controller", "leader election lost"), ("di-jobmonitor", "panic: runtime error")):
        p = pods[app]
        cs = p.status.container_statuses[0]
        assert cs.restart_count == 1 and cs.state.running is not None and cs.ready
        assert (cs.last_state.terminated.exit_code, cs.last_state.terminated.reason) == (1, "Error")
        prev = log_of(tiny, "prophecis", p.metadata.name, previous=True)
        assert needle in prev
        assert needle not in log_of(tiny, "prophecis", p.metadata.name)
    assert all(p.status.container_statuses[0].restart_count == 0 for app, p in pods.items()
               if app not in ("notebook-controller", "di-jobmonitor"))
    tiny.advance(7200)  # and it stays at one restart
    assert core.read_namespaced_pod(pods["di-jobmonitor"].metadata.name, "prophecis") \
        .status.container_statuses[0].restart_count == 1

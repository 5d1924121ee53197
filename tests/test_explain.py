"""The "why is it pending" explainer: hand-built cases per message, then the simulated cluster end to end."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from backends.kubernetes import Kubernetes
from prophecis_tui.domain import (DeploymentState, Event, JobState, ModelDeployment, Namespace, Node, Notebook,
                                  NotebookState, Pod, Predictor, Quota, TrainingJob)
from prophecis_tui.explain import (SELECTOR_ALL, Explainer, explain_deployment, explain_job, explain_notebook,
                                   summarise_failed_create, summarise_scheduling, why_not_created, why_pending)
from prophecis_tui.simulator.world import NOTEBOOKS, notebook_body, training_body
from tests.conftest import CONTEXTS

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
NS = "ns-risk-scorecard"
QUOTA_MSG = ('pods "x" is forbidden: exceeded quota: mlss-default-rq, requested: requests.nvidia.com/gpu=1, '
             'used: requests.nvidia.com/gpu=16, limited: requests.nvidia.com/gpu=16')


def pod(name: str, phase: str = "Pending", node: str = "", gpus: int = 0, ns: str = NS, **kw) -> Pod:
    return Pod(uid=f"uid-{name}", namespace=ns, name=name, phase=phase, status=phase, node=node, gpus=gpus,
               created=kw.pop("created", T0), **kw)


def node(name: str, gpus: int = 8, dept: str = "risk", app: str = "scorecard", **kw) -> Node:
    return Node(name=name, uid=f"uid-{name}", ready=kw.pop("ready", True), gpu_capacity=gpus, gpu_allocatable=gpus,
                department=dept, app=app, **kw)


def event(kind: str, name: str, reason: str, message: str, minutes: float = 0, ns: str = NS, uid: str = "") -> Event:
    return Event(uid=f"ev-{name}-{reason}-{minutes}", namespace=ns, name=f"{name}.{minutes}", type="Warning",
                 reason=reason, message=message, object_kind=kind, object_name=name, object_uid=uid,
                 last=T0 + timedelta(minutes=minutes))


def quota(hard: float | None, used: float, ns: str = NS) -> Quota:
    return Quota(uid=f"q-{ns}", namespace=ns, gpu_hard=hard, gpu_used=used)


def running(name: str, node_name: str, gpus: int) -> Pod:
    return pod(name, "Running", node_name, gpus)


# ------------------------------------------------------------------------------------------ FailedCreate
def test_a_quota_refusal_in_kubernetes_words_becomes_one_short_line():
    assert summarise_failed_create(QUOTA_MSG) == "quota mlss-default-rq: needs 1 GPU, 16/16 used"


def test_a_refusal_on_several_resources_names_each_gpu_first():
    msg = ('pods "w-0" is forbidden: exceeded quota: mlss-default-rq, requested: requests.cpu=8,'
           'requests.nvidia.com/gpu=2, used: requests.cpu=90,requests.nvidia.com/gpu=15, '
           'limited: requests.cpu=94,requests.nvidia.com/gpu=16')
    assert summarise_failed_create(msg) == \
        "quota mlss-default-rq: needs 2 GPU, 15/16 used; needs 8 CPU, 90/94 used"


def test_the_statefulset_and_operator_wrappings_are_read_too():
    sts = f"create Pod nb-0 in StatefulSet nb failed error: {QUOTA_MSG}"
    assert summarise_failed_create(sts) == "quota mlss-default-rq: needs 1 GPU, 16/16 used"
    assert summarise_failed_create(f"Error creating: {QUOTA_MSG}") == "quota mlss-default-rq: needs 1 GPU, 16/16 used"
    other = 'Error creating: pods "j-0" is forbidden: error looking up service account ns/learner: not found'
    assert summarise_failed_create(other) == \
        "pod creation forbidden: error looking up service account ns/learner: not found"
    assert summarise_failed_create("admission webhook denied") == "cannot create pods: admission webhook denied"


def test_why_not_created_reads_the_owners_latest_failed_create():
    events = [event("TFJob", "j", "FailedCreatePod", "Error creating: " + QUOTA_MSG.replace("=16", "=15"), 1),
              event("TFJob", "j", "FailedCreatePod", "Error creating: " + QUOTA_MSG, 5),
              event("TFJob", "other", "FailedCreatePod", "Error creating: nope", 9),
              event("TFJob", "j", "SuccessfulCreatePod", "Created pod: j-ps-0", 10)]
    assert why_not_created("TFJob", "j", events) == "quota mlss-default-rq: needs 1 GPU, 16/16 used"
    assert why_not_created("PyTorchJob", "j", events) == ""
    assert why_not_created("TFJob", "quiet", events) == ""


# ------------------------------------------------------------------------------------------ FailedScheduling
@pytest.mark.parametrize("message, line", [
    ("0/20 nodes are available: 12 Insufficient nvidia.com/gpu, 8 node(s) didn't match Pod's node affinity/selector.",
     "12 nodes lack free GPUs, 8 don't match the node selector"),
    ("0/20 nodes are available: 20 node(s) didn't match Pod's node affinity/selector. preemption: 0/20 nodes are "
     "available: 20 Preemption is not helpful for scheduling.", SELECTOR_ALL),
    ("0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) had untolerated taint "
     "{node.kubernetes.io/unschedulable: }. preemption: 0/3 nodes are available: 3 No preemption victims found.",
     "1 node lacks CPU, 1 lacks memory, 1 is cordoned"),
    ("0/4 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu-task}, 2 node(s) were unschedulable.",
     "2 nodes are cordoned, 2 have a taint the pod doesn't tolerate"),
    ("0/2 nodes are available: 2 Insufficient example.com/fpga.", "2 nodes lack example.com/fpga"),
    ("0/5 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
     "pod has unbound immediate PersistentVolumeClaims"),
    ("something the scheduler never said\x1b[2J", "something the scheduler never said\\x1b[2J"),
])
def test_scheduler_messages_in_plain_words(message, line):
    assert summarise_scheduling(message) == line


# ------------------------------------------------------------------------------------------ one pod
NODES = [node("gpu-node-03"), node("gpu-node-17"), node("gpu-node-21")]
ON_NODES = [running("a", "gpu-node-03", 8), running("b", "gpu-node-17", 2), running("c", "gpu-node-21", 4),
            running("d", "gpu-node-21", 2), pod("done", "Succeeded", "gpu-node-17", 4)]


def test_no_node_has_enough_free_gpus():
    p = pod("big-0", gpus=8)
    assert why_pending(p, events=[], quota=None, nodes=NODES, pods_on_nodes=ON_NODES) == \
        "no node with 8 free GPUs (largest free: 6 on gpu-node-17)"


def test_every_gpu_node_full_and_the_down_ones_mentioned():
    nodes = [node("n1"), node("n2"), node("n3", ready=False), node("n4", unschedulable=True)]
    full = [running("a", "n1", 8), running("b", "n2", 8)]
    assert why_pending(pod("p", gpus=1), events=[], quota=None, nodes=nodes, pods_on_nodes=full) == \
        "no node with 1 free GPU (all 2 GPU nodes for this namespace are full); 2 GPU nodes not ready or cordoned"
    assert why_pending(pod("p", gpus=1), events=[], quota=None, nodes=nodes[2:], pods_on_nodes=[]) == \
        "needs 1 GPU, every GPU node for this namespace is not ready or cordoned (2)"


def test_more_gpus_than_any_node_has():
    assert why_pending(pod("huge", gpus=16), events=[], quota=None, nodes=NODES, pods_on_nodes=[]) == \
        "needs 16 GPU, more than any node has (largest: 8 GPUs on gpu-node-03)"


def test_quota_never_explains_a_pod_that_exists():
    full = quota(16, 16)
    p = pod("big-0", gpus=8)
    assert why_pending(p, events=[], quota=full, nodes=NODES, pods_on_nodes=ON_NODES).startswith("no node with 8")


def test_when_gpus_are_free_the_schedulers_words_explain():
    ev = event("Pod", "cpu-0", "FailedScheduling",
               "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No victims.")
    assert why_pending(pod("cpu-0", gpus=1), events=[ev], quota=None, nodes=NODES, pods_on_nodes=ON_NODES) == \
        "3 nodes lack CPU"
    assert why_pending(pod("cpu-0", unschedulable="0/3 nodes are available: 1 Insufficient memory."), events=[],
                       quota=None, nodes=NODES, pods_on_nodes=[]) == "1 node lacks memory"


def test_without_a_known_pool_other_tenants_nodes_are_not_blamed():
    msg = "0/5 nodes are available: 1 Insufficient nvidia.com/gpu, 4 node(s) didn't match Pod's node affinity/selector."
    p = pod("x-0", gpus=4, ns="team-a")  # no ns-<department>-<app> name: the pool is unknown
    ev = event("Pod", "x-0", "FailedScheduling", msg, ns="team-a")
    assert why_pending(p, events=[ev], quota=None, nodes=NODES, pods_on_nodes=[]) == \
        "1 node lacks free GPUs, 4 don't match the node selector"


def test_the_namespaces_pool_is_used_when_known():
    nodes = NODES + [node("other-01", dept="credit", app="sme")]  # empty, but another tenant's
    assert why_pending(pod("big-0", gpus=8), events=[], quota=None, nodes=nodes, pods_on_nodes=ON_NODES) == \
        "no node with 8 free GPUs (largest free: 6 on gpu-node-17)"


def test_only_pending_pods_get_a_line_and_scheduled_ones_say_why_they_wait():
    kw = dict(events=[], quota=None, nodes=NODES, pods_on_nodes=ON_NODES)
    assert why_pending(running("r", "gpu-node-03", 8), **kw) == ""
    assert why_pending(pod("img", node="gpu-node-21", waiting='ImagePullBackOff: Back-off pulling image "x:1"'),
                       **kw) == 'ImagePullBackOff: Back-off pulling image "x:1"'
    assert why_pending(pod("new", node="gpu-node-21", waiting="ContainerCreating"), **kw) == ""
    assert why_pending(pod("fresh"), **kw) == ""  # no GPUs asked, nothing said yet


def test_events_of_an_earlier_pod_with_the_same_name_are_ignored():
    old = event("Pod", "nb-0", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", uid="uid-old")
    assert why_pending(pod("nb-0"), events=[old], quota=None, nodes=NODES, pods_on_nodes=[]) == ""


# ------------------------------------------------------------------------------------------ workloads
def notebook(name: str = "nb", gpus: int = 4, state: NotebookState = NotebookState.STARTING) -> Notebook:
    return Notebook(uid=f"uid-{name}", namespace=NS, name=name, state=state, gpus=gpus)


def test_a_notebook_without_its_pod_is_explained_by_the_statefulsets_refusal_or_the_quota():
    sts = event("StatefulSet", "nb", "FailedCreate", f"create Pod nb-0 in StatefulSet nb failed error: {QUOTA_MSG}")
    ex = Explainer([], NODES, [quota(16, 14)], [sts])
    assert ex.notebook(notebook()) == "quota mlss-default-rq: needs 1 GPU, 16/16 used"
    ex = Explainer([], NODES, [quota(16, 14)], [])
    assert ex.notebook(notebook()) == "needs 4 GPU, namespace quota has 2 free (14/16 used)"
    assert ex.notebook(notebook(state=NotebookState.STOPPED)) == ""
    assert explain_notebook(notebook(), None, [], quota(16, 14), NODES, []) == \
        "needs 4 GPU, namespace quota has 2 free (14/16 used)"


def test_a_notebook_whose_pod_waits_for_gpus():
    nb_pod = pod("nb-0", gpus=8, labels={"notebook-name": "nb"}, owner_kind="StatefulSet", owner_name="nb")
    ex = Explainer(ON_NODES + [nb_pod], NODES, [quota(16, 16)], [])
    assert ex.pods_of_notebook(notebook(gpus=8)) == [nb_pod]
    assert ex.notebook(notebook(gpus=8)) == "no node with 8 free GPUs (largest free: 6 on gpu-node-17)"


def job(name: str = "j", replicas: int = 3, gpus: int = 3, state: JobState = JobState.PENDING) -> TrainingJob:
    return TrainingJob(uid=f"uid-{name}", namespace=NS, name=name, kind="TFJob", state=state, replicas=replicas,
                       gpus=gpus, replica_specs={"Worker": replicas})


def test_a_job_with_missing_replicas_and_one_pending():
    w0 = pod("j-worker-0", gpus=1, job_name="j", replica_type="worker", replica_index="0")
    refused = event("TFJob", "j", "FailedCreatePod", "Error creating: " + QUOTA_MSG, uid="uid-j")
    ex = Explainer([w0, *ON_NODES], [node("n1", gpus=8)], [quota(16, 16)], [refused])
    assert ex.job(job()) == "quota mlss-default-rq: needs 1 GPU, 16/16 used"
    # all replicas there: the pending one speaks
    pods = [w0, pod("j-worker-1", "Running", "n1", 1, job_name="j"), pod("j-worker-2", "Running", "n1", 1, job_name="j")]
    full = [running("hog", "n1", 6)]
    assert explain_job(job(), None, [refused], quota(16, 16), [node("n1")], pods + full) == \
        "no node with 1 free GPU (n1, the only GPU node for this namespace, is full)"
    assert Explainer(pods, [], [], [refused]).job(job(state=JobState.FAILED)) == ""


def test_a_deployment_reads_its_replicasets_refusals_not_a_neighbours():
    dep = ModelDeployment(uid="uid-m", namespace=NS, name="m", state=DeploymentState.CREATING, replicas=2, ready=0,
                          gpus=2, predictors=(Predictor(name="default", replicas=2),))
    mine = event("ReplicaSet", "m-default-0-classifier-5d8f", "FailedCreate", "Error creating: " + QUOTA_MSG)
    theirs = event("ReplicaSet", "m-x-default-0-classifier-77aa", "FailedCreate", "Error creating: no", 3)
    assert explain_deployment(dep, None, [mine, theirs], None, [], []) == "quota mlss-default-rq: needs 1 GPU, 16/16 used"
    assert explain_deployment(dep, None, [theirs], quota(4, 3), [], []) == \
        "needs 2 GPU, namespace quota has 1 free (3/4 used)"
    ok = dep.model_copy(update={"ready": 2})
    assert explain_deployment(ok, None, [mine], None, [], []) == ""


def test_the_explainer_uses_the_namespaces_node_selector():
    namespaces = [Namespace(name="team-a", uid="ns1", department="risk", app="scorecard")]
    theirs = node("credit-01", dept="credit", app="sme")
    p = pod("x-0", gpus=8, ns="team-a")
    ex = Explainer([p, *ON_NODES], NODES + [theirs], [], [], namespaces)
    assert ex.pod(p) == "no node with 8 free GPUs (largest free: 6 on gpu-node-17)"
    lost = Namespace(name="team-b", uid="ns2", department="nowhere", app="none")
    q = pod("y-0", gpus=1, ns="team-b")
    assert Explainer([q], NODES, [], [], [lost]).pod(q) == "needs 1 GPU, no GPU node for this namespace"
    assert ex.free_gpus("gpu-node-17") == 6 and ex.free_gpus("missing") == 0


def test_lines_are_sanitised():
    ev = event("Pod", "evil-0", "FailedScheduling", "0/1 nodes are available: 1 \x1b]52;c;ZXZpbA==\x07.",
               uid="uid-evil-0")
    line = Explainer([pod("evil-0")], [], [], [ev]).pod(pod("evil-0"))
    assert "\x1b" not in line and "\\x1b]52" in line


def test_the_index_is_built_once_for_many_objects():
    rng = random.Random(3)
    nodes = [node(f"gpu-{i:03d}") for i in range(250)]
    pods = [pod(f"p{i}", "Running", f"gpu-{rng.randrange(250):03d}", rng.choice([0, 1]), job_name=f"j{i // 10}")
            for i in range(10_000)]
    ex = Explainer(pods, nodes, [], [event("Pod", f"p{i}", "Scheduled", "ok") for i in range(10_000)])
    assert len(ex.pods_of_job(job("j7"))) == 10
    assert ex.job(job("j7", replicas=10)) == ""


# ------------------------------------------------------------------------------------------ the simulated cluster
def test_against_the_simulated_cluster(tiny, tmp_path: Path):
    """Quota exhausted -> the refusal, parsed; a pod asking more GPUs than any node has free -> the node line.
    Objects come through the Kubernetes backend, as the console gets them."""
    sim, engine = tiny.sim, tiny.sim.engine
    starved, roomy = sim.world.tenants[0].name, sim.world.tenants[1].name
    gpu = "requests.nvidia.com/gpu"

    def setup() -> tuple[int, str, int]:
        used = int(engine.quotas[starved].used.get(gpu, 0))
        engine.set_quota(starved, {gpu: str(used)})
        engine.store.create(NOTEBOOKS, notebook_body(starved, "starved-nb", "lihua", gpu=1, cpu=2, mem_gi=8))
        rt, body = training_body("tensorflow", starved, "starved-tf", "lihua", "pd-gbdt", random.Random(1))
        engine.store.create(rt, body)
        engine.set_quota(roomy, {gpu: "64"})
        pool = [n for n in engine.nodes.values() if n.gpus and n.labels.get("lb-department") == roomy.split("-")[1]]
        best = max(pool, key=lambda n: (len(n.free_gpus), n.name))
        return used, best.name, len(best.free_gpus)

    used, best_node, free = tiny.call(setup)
    assert free < 8, "the roomy tenant's node should be partly used in this seeded world"
    tiny.call(lambda: engine.store.create(NOTEBOOKS, notebook_body(roomy, "big-nb", "lihua", gpu=free + 1, cpu=2,
                                                                   mem_gi=8)))
    tiny.advance(5)

    k = Kubernetes.from_kubeconfig(str(tiny.kubeconfig), CONTEXTS["admin"])
    try:
        items = {r: k.list(r).items for r in ("pods", "nodes", "resourcequotas", "events", "namespaces", "notebooks",
                                               "tfjobs")}
    finally:
        k.close()
    ex = Explainer(items["pods"], items["nodes"], items["resourcequotas"], items["events"], items["namespaces"])
    nbs = {nb.name: nb for nb in items["notebooks"]}
    refusal = f"quota mlss-default-rq: needs 1 GPU, {used}/{used} used"
    assert ex.notebook(nbs["starved-nb"]) == refusal
    tf = next(j for j in items["tfjobs"] if j.name == "starved-tf")
    assert ex.job(tf) == refusal
    assert ex.notebook(nbs["big-nb"]) == f"no node with {free + 1} free GPUs (largest free: {free} on {best_node})"
    big_pod = next(p for p in items["pods"] if p.name == "big-nb-0")
    assert why_pending(big_pod, events=items["events"], quota=None, nodes=items["nodes"],
                       pods_on_nodes=items["pods"]) == ex.pod(big_pod)
    running = [nb for nb in items["notebooks"] if nb.state == NotebookState.RUNNING]
    assert running and all(ex.notebook(nb) == "" for nb in running)


def test_from_state_reads_the_live_state_and_counts_every_pods_gpus():
    from prophecis_tui.state import State

    state = State()
    big = pod("big-0", gpus=8)
    state.replace("pods", "pods", [*ON_NODES, big])
    state.replace("nodes", "nodes", NODES)
    state.replace("resourcequotas", "quotas", [quota(16, 16)])
    state.replace("events", "events", [])
    state.replace("namespaces", "namespaces", [Namespace(name=NS, uid="n", department="risk", app="scorecard")])
    assert Explainer.from_state(state).pod(big) == "no node with 8 free GPUs (largest free: 6 on gpu-node-17)"
    only_rows = Explainer.from_state(state, [big])  # indexes the rows, still counts the GPUs of every pod
    assert only_rows.pod(big) == "no node with 8 free GPUs (largest free: 6 on gpu-node-17)"
    assert only_rows.free_gpus("gpu-node-03") == 0


def test_a_stopped_deployment_needs_no_explanation():
    dep = ModelDeployment(uid="u", namespace=NS, name="m", state=DeploymentState.CREATING, replicas=2, ready=0)
    stopped = dep.model_copy(update={"state": "stopped"})
    assert explain_deployment(stopped, None, [], quota(4, 4), [], []) == ""
    assert explain_deployment(dep, [], [], quota(4, 4), [], []) == ""  # no GPUs asked: quota is not the reason


def test_a_refusal_over_requests_and_limits_of_one_resource_says_it_once():
    from prophecis_tui.explain import summarise_failed_create
    msg = ('Error creating: pods "x" is forbidden: exceeded quota: mlss-default-rq, requested: '
           'limits.cpu=4,requests.cpu=4, used: limits.cpu=93200m,requests.cpu=93200m, limited: limits.cpu=94,requests.cpu=94')
    assert summarise_failed_create(msg) == "quota mlss-default-rq: needs 4 CPU, 93.2/94 used"

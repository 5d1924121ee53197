"""describe and YAML of raw objects (secrets masked, text sanitised), a failed job's first failing replica,
and the last error line of a log."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
import yaml

from backends.kubernetes import Kubernetes
from prophecis_tui.domain import Event, JobState, Pod, TrainingJob
from prophecis_tui.inspect import describe, job_failure, last_error_line, mask, related_events, to_yaml
from prophecis_tui.simulator.logs import ContainerLog, failure_signature
from prophecis_tui.simulator.testing import SimThread
from prophecis_tui.simulator.world import NOTEBOOKS, notebook_body
from tests.conftest import CONTEXTS, START

NOW = datetime.fromtimestamp(START, timezone.utc) + timedelta(seconds=10)
KINDS = ("notebooks", "tfjobs", "xgboostjobs", "jobs", "seldondeployments")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Iterator[dict]:
    """Raw objects of every kind as ``Kubernetes.get`` returns them, from a tiny simulated cluster, plus a
    notebook whose pod waits for GPUs, and the cluster's events."""
    with SimThread(scale="tiny", seed=7, speed=0.0, start_time=START) as t:
        ns = t.sim.world.tenants[0].name

        def big() -> None:
            t.sim.engine.set_quota(ns, {"requests.nvidia.com/gpu": "64"})
            t.sim.engine.store.create(NOTEBOOKS, notebook_body(ns, "big-nb", "lihua", gpu=8, cpu=2, mem_gi=8))
        t.call(big)
        t.advance(10)
        k = Kubernetes.from_kubeconfig(str(t.write_config(tmp_path_factory.mktemp("kube"))), CONTEXTS["admin"])
        try:
            out = {}
            for resource in KINDS:
                first = sorted(k.list(resource).items, key=lambda o: o.name)[0]
                out[resource] = k.get(resource, first.namespace, first.name)
            out["big-nb"] = k.get("notebooks", ns, "big-nb")
            out["big-pod"] = k.get("pods", ns, "big-nb-0")
            running = next(p for p in k.list("pods").items if p.phase == "Running" and p.job_name)
            out["pod"] = k.get("pods", running.namespace, running.name)
            out["events"] = k.list("events").items
        finally:
            k.close()
        yield out


# ------------------------------------------------------------------------------------------ YAML
def test_yaml_masks_the_notebooks_tokens_and_keeps_the_rest(raw):
    nb = raw["notebooks"]
    env = {e["name"]: e["value"] for e in nb["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GUARDIAN_TOKEN"].startswith("gt-")
    text = to_yaml(nb)
    assert env["GUARDIAN_TOKEN"] not in text
    back = yaml.safe_load(text)
    shown = {e["name"]: e["value"] for e in back["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert shown["GUARDIAN_TOKEN"] == "****" and shown["Linkis_Token"] == "****"
    assert shown["NB_PREFIX"] == env["NB_PREFIX"] and shown["NB_USER"] == env["NB_USER"]
    assert back["metadata"]["name"] == nb["metadata"]["name"]
    assert list(back) == list(nb)  # the object's own key order
    assert nb["spec"]["template"]["spec"]["containers"][0]["env"] != \
        back["spec"]["template"]["spec"]["containers"][0]["env"]  # the input is not changed


def test_yaml_drops_managed_fields_and_the_last_applied_copy_and_cuts_long_annotations(raw):
    nb = copy.deepcopy(raw["notebooks"])
    nb["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]
    nb["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(raw["notebooks"]),
        "notes": "x" * 500, "owner": "risk-team"}
    text = to_yaml(nb)
    back = yaml.safe_load(text)
    assert "managedFields" not in back["metadata"]
    assert "gt-" not in text and "last-applied" not in text
    assert back["metadata"]["annotations"]["owner"] == "risk-team"
    assert back["metadata"]["annotations"]["notes"] == "x" * 200 + "… (500 characters)"


def test_yaml_sanitises_every_string_and_keeps_multiline_text_readable():
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "cm", "labels": {"team": "risk\x1b[31m", "\x9bkey": "v"}},
           "data": {"start.sh": "#!/bin/bash\nexec \"$@\"\x07\n", "note": "safe\rEVIL"}}
    text = to_yaml(obj)
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text and "\r" not in text
    back = yaml.safe_load(text)
    assert back["metadata"]["labels"] == {"team": "risk\\x1b[31m", "\\x9bkey": "v"}
    assert back["data"]["note"] == "safe\\x0dEVIL"
    assert "start.sh: |" in text and back["data"]["start.sh"] == "#!/bin/bash\nexec \"$@\"\\x07\n"


def test_masking_rules_cover_secrets_not_references():
    obj = {"kind": "Pod", "spec": {"containers": [{
        "args": ["--password=hunter2", "--api-key", "abc123", "--epochs", "3", "--data=s3://x"],
        "command": ["sh", "-c", "curl -H token=xyz https://h/?access_key=AKIA1 && run"],
        "env": [{"name": "DB_PASSWD", "value": "pw"}, {"name": "EPOCHS", "value": "3"},
                {"name": "AWS_SECRET", "valueFrom": {"secretKeyRef": {"name": "aws", "key": "secret"}}}]}],
        "volumes": [{"name": "s", "secret": {"secretName": "aws-creds"}}],
        "tolerations": [{"key": "dedicated", "value": "gpu-task"}]},
        "graph": {"envSecretRefName": "seldon-init-container-secret", "parameters": [
            {"name": "api_token", "value": "t0k", "type": "STRING"}]},
        "config": {"password": "p", "token": "", "replicas": 2}}
    m = mask(obj)
    c = m["spec"]["containers"][0]
    assert c["args"] == ["--password=****", "--api-key", "****", "--epochs", "3", "--data=s3://x"]
    assert c["command"][2] == "curl -H token=**** https://h/?access_key=**** && run"
    assert c["env"][0]["value"] == "****" and c["env"][1]["value"] == "3"
    assert c["env"][2]["valueFrom"] == {"secretKeyRef": {"name": "aws", "key": "secret"}}
    assert m["spec"]["volumes"][0]["secret"]["secretName"] == "aws-creds"
    assert m["spec"]["tolerations"] == [{"key": "dedicated", "value": "gpu-task"}]
    assert m["graph"]["envSecretRefName"] == "seldon-init-container-secret"
    assert m["graph"]["parameters"][0]["value"] == "****"
    assert m["config"] == {"password": "****", "token": "", "replicas": 2}
    secret = mask({"kind": "Secret", "data": {"token": "Z3Q=", "ca.crt": "LS0t"}, "type": "Opaque"})
    assert secret["data"] == {"token": "****", "ca.crt": "****"}


# ------------------------------------------------------------------------------------------ describe
def test_describe_a_notebook(raw):
    nb = raw["notebooks"]
    text = describe(nb, [], now=NOW)
    ctr = nb["spec"]["template"]["spec"]["containers"][0]
    for fact in (f"Name:         {nb['metadata']['name']}", f"Image:        {ctr['image']}",
                 f"URL:          /notebook/{nb['metadata']['namespace']}/{nb['metadata']['name']}",
                 "Workspace:    /data/bdap-ss/mlss-data/", "-> /workspace", "Resources:    cpu ", "Conditions:",
                 "Labels:       prophecis-UserId=", "Events:       <none>"):
        assert fact in text, fact
    assert "gt-" not in text and "\x1b" not in text


def test_describe_a_pending_notebook_says_why_and_shows_its_events(raw):
    events = related_events(raw["big-nb"], raw["events"])
    assert events and all(e.object_name in ("big-nb", "big-nb-0") for e in events)
    text = describe(raw["big-nb"], events, why="no node with 8 free GPUs (largest free: 5 on gpua100-0001)", now=NOW)
    assert "Why pending:  no node with 8 free GPUs (largest free: 5 on gpua100-0001)" in text
    assert "State:        Starting" in text and "GPU 8" in text
    assert "Warning FailedScheduling (x1, " in text and "Normal SuccessfulCreate (x1, " in text


def test_describe_training_jobs(raw):
    tf = describe(raw["tfjobs"], [], now=NOW)
    specs = raw["tfjobs"]["spec"]["tfReplicaSpecs"]
    assert "Replicas:" in tf and "Run policy:   cleanPodPolicy Running, backoffLimit 0" in tf
    for rtype, rs in specs.items():
        image = rs["template"]["spec"]["containers"][0]["image"]
        row = next(line for line in tf.splitlines() if line.strip().startswith(rtype))
        assert image in row and f"{rs['replicas']}" in row and "restart Never" in row
    assert "State:        " in tf and "Started:      " in tf
    xgb = describe(raw["xgboostjobs"], [], now=NOW)
    assert "  Master " in xgb and "  Worker " in xgb and "XGBoostJob (kubeflow.org/v1)" in xgb
    job = describe(raw["jobs"], [], now=NOW)
    assert "Job (batch/v1)" in job and "  Job " in job and "backoffLimit 0" in job and "jobType=single" in job


def test_describe_a_finished_job_with_its_conditions_and_times():
    obj = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "p", "namespace": "ns"},
           "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": {"containers": [
               {"name": "pytorch", "image": "img:1", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]}}}}},
           "status": {"startTime": "2026-11-29T08:00:00Z", "completionTime": "2026-11-29T09:30:00Z",
                      "replicaStatuses": {"Master": {"failed": 1}},
                      "conditions": [{"type": "Created", "status": "True", "reason": "PyTorchJobCreated"},
                                     {"type": "Failed", "status": "True", "reason": "PyTorchJobFailed",
                                      "message": "PyTorchJob ns/p has failed because 1 Master replica(s) failed."}]}}
    text = describe(obj, [], now=datetime(2026, 11, 29, 10, tzinfo=timezone.utc))
    assert "State:        Failed (PyTorchJobFailed: PyTorchJob ns/p has failed because 1 Master replica(s) failed.)" \
        in text
    assert "Master    1  img:1  GPU 2  failed 1" in text
    assert "Completed:    2026-11-29 09:30:00 (30m ago) (took 90m)" in text


def test_describe_a_model_deployment(raw):
    sd = raw["seldondeployments"]
    text = describe(sd, [], now=NOW)
    pred = sd["spec"]["predictors"][0]
    for fact in (f"Address:      {sd['status']['address']['url']}", f"replicas {sd['spec']['replicas']}, traffic",
                 pred["graph"]["modelUri"], "Deployments:", "available", "DeploymentsReady", "Protocol:     seldon"):
        assert fact in text, fact


def test_describe_a_canary_says_whose_count_it_keeps(raw):
    import copy
    sd = copy.deepcopy(raw["seldondeployments"])
    canary = copy.deepcopy(sd["spec"]["predictors"][0])
    canary.update(name="canary", replicas=1, traffic=10)
    sd["spec"]["predictors"].append(canary)
    text = describe(sd, [], now=NOW)
    assert f"default  replicas {sd['spec']['replicas']}, traffic" in text
    assert "canary  replicas 1 (its own), traffic 10%" in text


def test_describe_pods(raw):
    text = describe(raw["pod"], [], now=NOW)
    spec = raw["pod"]["spec"]
    assert f"Node:         {spec['nodeName']}" in text and "Phase:        Running" in text
    assert f"  {spec['containers'][0]['name']}  {spec['containers'][0]['image']}" in text
    assert "    State:       running since" in text and "    Ready:       " in text and "    Requests:    cpu" in text
    pending = describe(raw["big-pod"], related_events(raw["big-pod"], raw["events"]), now=NOW)
    assert "Node:         <not scheduled>" in pending and "Phase:        Pending" in pending
    assert "PodScheduled" in pending and "Unschedulable: 0/5 nodes are available" in pending


def test_describe_container_states_with_exit_codes_and_restarts():
    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "w-3", "namespace": "ns"},
           "spec": {"nodeName": "n1", "containers": [{"name": "pytorch", "image": "img"}]},
           "status": {"phase": "Running", "containerStatuses": [{
               "name": "pytorch", "ready": False, "restartCount": 4,
               "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
               "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                            "finishedAt": "2026-11-29T09:58:00Z"}}}]}}
    text = describe(obj, [], now=datetime(2026, 11, 29, 10, tzinfo=timezone.utc))
    assert "    State:       waiting: CrashLoopBackOff: back-off 2m40s" in text
    assert "    Last state:  terminated: OOMKilled, exit 137, finished 2026-11-29 09:58:00 (2m ago)" in text
    assert "    Ready:       false, restarts 4" in text


def test_describe_other_kinds_and_hostile_text():
    obj = {"kind": "Service", "apiVersion": "v1",
           "metadata": {"name": "svc\x1b[2J", "namespace": "ns", "labels": {"app": "x\u202egnp"},
                        "ownerReferences": [{"kind": "Notebook", "name": "nb"}]},
           "status": {"phase": "Active", "conditions": [{"type": "Ready", "status": "False", "reason": "Nope",
                                                         "message": "bell\x07"}]}}
    events = [Event(uid=str(i), namespace="ns", name=f"e{i}", type="Warning" if i % 2 else "Normal",
                    reason=f"R{i}", message=f"m{i}\x1b]52;c;ZXZpbA==\x07", count=i + 1,
                    last=NOW - timedelta(minutes=30 - i)) for i in range(12)]
    text = describe(obj, list(reversed(events)), now=NOW)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "Name:         svc\\x1b[2J" in text and "Labels:       app=x\\u202egnp" in text
    assert "Owner:        Notebook/nb" in text and "Phase:        Active" in text
    assert "Ready  False  Nope: bell\\x07" in text
    lines = text.splitlines()
    start = lines.index("Events (last 10 of 12):")
    shown = lines[start + 1:start + 11]
    assert shown[0].startswith("  Normal R2 (x3, 28m) m2\\x1b]52")
    assert shown[-1] == "  Warning R11 (x12, 19m) m11\\x1b]52;c;ZXZpbA==\\x07"


def test_related_events_pick_the_object_and_what_it_owns():
    def ev(kind: str, name: str, uid: str = "", ns: str = "ns") -> Event:
        return Event(uid=f"{kind}{name}{uid}", namespace=ns, name=name, object_kind=kind, object_name=name,
                     object_uid=uid, last=NOW)
    events = [ev("TFJob", "j", "u1"), ev("TFJob", "j", "old"), ev("Pod", "j-worker-0"), ev("Pod", "jx-worker-0"),
              ev("Pod", "j-worker-1", ns="other"), ev("Notebook", "j")]
    job = {"kind": "TFJob", "metadata": {"name": "j", "namespace": "ns", "uid": "u1"}}
    assert [(e.object_kind, e.object_name, e.object_uid) for e in related_events(job, events)] == [
        ("TFJob", "j", "u1"), ("Pod", "j-worker-0", "")]


# ------------------------------------------------------------------------------------------ failed jobs
T0 = datetime(2026, 11, 29, 9, tzinfo=timezone.utc)


def replica(rtype: str, i: int, phase: str = "Failed", **kw) -> Pod:
    return Pod(uid=f"{rtype}{i}", namespace="ns", name=f"j-{rtype}-{i}", phase=phase, status=phase, job_name="j",
               replica_type=rtype, replica_index=str(i), started=kw.pop("started", T0), **kw)


JOB = TrainingJob(uid="u", namespace="ns", name="j", kind="PyTorchJob", state=JobState.FAILED, replicas=5)


def test_the_oom_killed_replica_is_blamed_not_those_that_timed_out_after_it():
    pods = [replica("master", 0, last_exit="Error, exit 1", exit_code=1),
            replica("worker", 0, last_exit="Error, exit 1", exit_code=1),
            replica("worker", 3, last_exit="OOMKilled, exit 137", exit_code=137, started=T0 + timedelta(seconds=5)),
            replica("worker", 1, "Running")]
    assert job_failure(JOB, pods) == ("worker-3", "OOMKilled, exit 137")


def test_a_replica_that_cannot_start_comes_first_and_ties_go_to_the_earliest_start():
    pull = replica("worker", 2, "Pending", waiting='ImagePullBackOff: Back-off pulling image "img:9"')
    crash = replica("worker", 0, "Running", waiting="CrashLoopBackOff: back-off", last_exit="Error, exit 1",
                    exit_code=1, restarts=3)
    assert job_failure(JOB, [crash, pull]) == ("worker-2", 'ImagePullBackOff: Back-off pulling image "img:9"')
    assert job_failure(JOB, [crash]) == ("worker-0", "Error, exit 1 (CrashLoopBackOff, 3 restarts)")
    early = replica("worker", 5, last_exit="Error, exit 1", exit_code=1, started=T0 - timedelta(minutes=1))
    late = replica("worker", 1, last_exit="Error, exit 2", exit_code=2)
    assert job_failure(JOB, [late, early]) == ("worker-5", "Error, exit 1")
    chief = replica("master", 0, last_exit="Error, exit 1", exit_code=1)
    assert job_failure(JOB, [late.model_copy(update={"last_exit": "Error, exit 1"}), chief])[0] == "master-0"


def test_no_failure_no_answer_and_other_jobs_pods_are_ignored():
    ok = [replica("worker", 0, "Succeeded", exit_code=0), replica("ps", 0, "Running")]
    assert job_failure(JOB, ok) is None
    other = replica("worker", 0, last_exit="OOMKilled, exit 137", exit_code=137).model_copy(update={"job_name": "k"})
    assert job_failure(JOB, ok + [other]) is None
    bare = Pod(uid="x", namespace="ns", name="training-0a-xyz12", phase="Failed", status="Error", job_name="j",
               last_exit="Error, exit 1", exit_code=1)
    assert job_failure(JOB, [bare]) == ("training-0a-xyz12", "Error, exit 1")


# ------------------------------------------------------------------------------------------ last error line
PY_TRACEBACK = """\
2026-11-29 09:58:01,002 - train - INFO - epoch 3 step 1200 loss=0.41
Traceback (most recent call last):
  File "/workspace/train.py", line 312, in <module>
    main()
  File "/workspace/train.py", line 280, in main
    raise ValueError("Input X contains NaN")
ValueError: Input X contains NaN
"""

CUDA_OOM = """\
[rank3]: Traceback (most recent call last):
  File "/workspace/train.py", line 219, in fit
    loss.backward()
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.25 GiB
E1129 09:58:03.123000 140 torch/distributed/elastic/multiprocessing/api.py:833] failed (exitcode: 1) local_rank: 0
Traceback (most recent call last):
  File "/opt/conda/bin/torchrun", line 8, in <module>
    sys.exit(main())
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
/workspace/train.py FAILED
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  exitcode  : 1 (pid: 140)
"""

NCCL = """\
[E ProcessGroupNCCL.cpp:616] [Rank 3] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=19600, \
OpType=ALLREDUCE, Timeout(ms)=1800000) ran for 1800671 milliseconds before timing out.
[E ProcessGroupNCCL.cpp:636] [Rank 3] To avoid data inconsistency, we are taking the entire process down.
terminate called after throwing an instance of 'std::runtime_error'
"""

JAVA = """\
24/11/29 09:58:01 INFO SparkContext: Running Spark version 3.2.1
Exception in thread "main" org.apache.spark.SparkException: Job aborted due to stage failure
\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2454)
\tat org.apache.spark.scheduler.DAGScheduler.$anonfun$abortStage$2(DAGScheduler.scala:2403)
Caused by: java.lang.OutOfMemoryError: Java heap space
\tat java.util.Arrays.copyOf(Arrays.java:3236)
\t... 12 more
24/11/29 09:58:02 INFO ShutdownHookManager: Shutdown hook called
"""


@pytest.mark.parametrize("log, line", [
    (PY_TRACEBACK, "ValueError: Input X contains NaN"),
    (CUDA_OOM, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity "
               "of 79.25 GiB"),
    (NCCL, "[E ProcessGroupNCCL.cpp:616] [Rank 3] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=19600, "
           "OpType=ALLREDUCE, Timeout(ms)=1800000) ran for 1800671 milliseconds before timing out."),
    (JAVA, "Caused by: java.lang.OutOfMemoryError: Java heap space"),
    ("step 10\nstep 11\n/etc/learner/start.sh: line 12:   345 Killed                  python train.py\n",
     "/etc/learner/start.sh: line 12:   345 Killed                  python train.py"),
    ("loading\nKilled\n", "Killed"),
    ("2026-11-29 09:58 ERROR could not reach hdfs\n2026-11-29 09:59 INFO retrying\n",
     "2026-11-29 09:58 ERROR could not reach hdfs"),
    ("all good\nfinished in 3h\n", ""),
    ("", ""),
])
def test_last_error_line(log, line):
    assert last_error_line(log) == line


def test_last_error_line_is_sanitised_and_short():
    line = last_error_line("RuntimeError: \x1b]52;c;ZXZpbA==\x07 " + "x" * 500 + "\n")
    assert line.startswith("RuntimeError: \\x1b]52;c;ZXZpbA==\\x07 ") and len(line) == 200 and line.endswith("…")


@pytest.mark.parametrize("profile", ["pytorch", "tensorflow", "xgboost", "single", "seldon", "jupyter"])
@pytest.mark.parametrize("failure", ["CudaOOM", "NCCLTimeout", "ImportError"])
def test_the_simulators_failures_are_found(profile, failure):
    log = ContainerLog(profile, 5, 0.0, 1.0, 100.0, failure, {})
    text = "\n".join(s for _, s in log.lines(0, log.count_at(100.0)))
    assert failure_signature(profile, failure) in last_error_line(text) or \
        (failure == "CudaOOM" and profile == "xgboost" and "Memory allocation error" in last_error_line(text))

"""Training operators: Kubeflow v1 TFJob / PyTorchJob / XGBoostJob, and the batch Job of single jobs."""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field

from .clock import rfc3339
from .controllers import Plan, plan_for, pod_runtime, user_of
from .engine import PODS, SERVICES, Engine, PodRT
from .errors import ApiError
from .objects import condition, owner_ref, pod, service
from .resources import BY_KEY

JOBS = BY_KEY["batch/jobs"]


@dataclass(frozen=True)
class Operator:
    kind: str
    specs_key: str
    container: str
    port: int
    port_name: str
    operator: str
    profile: str
    default_restart: str


OPERATORS = {
    BY_KEY["kubeflow.org/tfjobs"].key: Operator("TFJob", "tfReplicaSpecs", "tensorflow", 2222, "tfjob-port",
                                                "tfjob-controller", "tensorflow", "Never"),
    BY_KEY["kubeflow.org/pytorchjobs"].key: Operator("PyTorchJob", "pytorchReplicaSpecs", "pytorch", 23456,
                                                     "pytorchjob-port", "pytorchjob-controller", "pytorch",
                                                     "OnFailure"),
    BY_KEY["kubeflow.org/xgboostjobs"].key: Operator("XGBoostJob", "xgbReplicaSpecs", "xgboost", 9999,
                                                     "xgboostjob-port", "xgboostjob-controller", "xgboost", "Never"),
}
FAIL_WEIGHTS = {"succeed": 70, "OOMKilled": 7, "NCCLTimeout": 6, "CudaOOM": 7, "Error": 5, "pullfail": 5}
FAIL_EXIT = {"OOMKilled": (137, "OOMKilled"), "NCCLTimeout": (1, "Error"), "CudaOOM": (1, "Error"),
             "Error": (1, "Error")}


@dataclass
class JobRT:
    key: str
    ns: str
    name: str
    uid: str
    plan: Plan
    pods: list[tuple[str, int, str]] = field(default_factory=list)  # (replica type, index, pod name)
    running_since: float | None = None
    end_gen: int = 0
    ending: bool = False
    finished: bool = False
    restarts_seen: int = 0
    attempts: int = 0
    missing: bool = False
    retry_delay: float = 0.0


class TrainingController:
    """One controller for the three Kubeflow kinds (one operator binary, as in training-operator v1.9)."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.store = engine.store
        self.jobs: dict[tuple[str, str, str], JobRT] = {}
        engine.store.add_listener(self._on_change)
        for key in OPERATORS:
            engine.pod_hooks[key] = self._on_pod

    def _on_change(self, rt, etype: str, old: dict | None, new: dict | None) -> None:
        if rt.key not in OPERATORS:
            return
        md = (new or old)["metadata"]
        k = (rt.key, md["namespace"], md["name"])
        if etype == "ADDED":
            self.e.soon(self._start, k)
        elif etype == "DELETED":
            self.jobs.pop(k, None)

    def _start(self, k: tuple[str, str, str]) -> None:
        key, ns, name = k
        rt = BY_KEY[key]
        obj = self.store.get(rt, ns, name)
        if obj is None or k in self.jobs:
            return
        op = OPERATORS[key]
        plan = plan_for(self.e, rt, obj, FAIL_WEIGHTS, (600, 2 * 3600), rate=(0.3, 3.0))
        if op.kind == "XGBoostJob" and plan.outcome in ("NCCLTimeout", "CudaOOM"):
            plan.outcome = "Error"
        job = JobRT(key, ns, name, obj["metadata"]["uid"], plan)
        self.jobs[k] = job
        now = self.e.now()
        self._set_condition(job, "Created", True, f"{op.kind}Created", f"{op.kind} {name} is created.", now)
        specs = obj["spec"].get(op.specs_key) or {}
        for rtype in sorted(specs, key=lambda t: ("Chief", "Master", "PS", "Worker", "Evaluator").index(t)
                            if t in ("Chief", "Master", "PS", "Worker", "Evaluator") else 9):
            for i in range(int(specs[rtype].get("replicas", 1))):
                job.pods.append((rtype, i, f"{name}-{rtype.lower()}-{i}"))
        self._create_missing(job)

    def _create_missing(self, job: JobRT) -> None:
        rt = BY_KEY[job.key]
        obj = self.store.get(rt, job.ns, job.name)
        if obj is None or job.finished:
            return
        op = OPERATORS[job.key]
        specs = obj["spec"].get(op.specs_key) or {}
        owner = owner_ref(rt.api_version(), op.kind, job.name, job.uid)
        world = len(job.pods)
        failed_once = False
        for rank, (rtype, i, pname) in enumerate(job.pods):
            if self.store.get(PODS, job.ns, pname) is not None:
                continue
            rspec = specs[rtype]
            tmpl = json.loads(json.dumps(rspec.get("template") or {}))
            spec = tmpl.get("spec") or {}
            restart = rspec.get("restartPolicy", op.default_restart)
            if restart == "ExitCode":
                restart = "Never"
            base = {"restartPolicy": restart, "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler", "hostname": pname, "subdomain": job.name,
                    "serviceAccountName": spec.get("serviceAccountName", "default")}
            spec = {**base, **spec, "restartPolicy": restart}
            for c in spec.get("containers", []):
                c.setdefault("imagePullPolicy", "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                if c["name"] == op.container and not c.get("ports"):
                    c["ports"] = [{"containerPort": op.port, "name": op.port_name, "protocol": "TCP"}]
            labels = {**((tmpl.get("metadata") or {}).get("labels") or {}),
                      "training.kubeflow.org/job-name": job.name,
                      "training.kubeflow.org/operator-name": op.operator,
                      "training.kubeflow.org/replica-type": rtype.lower(),
                      "training.kubeflow.org/replica-index": str(i)}
            if rtype in ("Chief", "Master"):
                labels["training.kubeflow.org/job-role"] = "master"
            body = pod(job.ns, pname, labels, spec, owner=owner,
                       annotations=(tmpl.get("metadata") or {}).get("annotations"))
            fate = "pullfail" if job.plan.outcome == "pullfail" else "run"
            prt = pod_runtime(body, op.profile, (job.key, job.ns, job.name),
                              {"job": job.name, "replica_type": rtype, "replica_index": str(i),
                               "rank": str(rank), "world_size": str(world), "user": user_of(obj),
                               "model": (obj["metadata"].get("labels") or {}).get("model", job.name)},
                              rate=job.plan.rate, fate=fate, pull_delay=5.0 + 10.0 * random.Random(pname).random())
            try:
                self.e.create_pod(body, prt)
                self.e.event(_ref(rt, op, job), "Normal", "SuccessfulCreatePod",
                             f"Created pod: {pname}", op.operator)
            except ApiError as err:
                self.e.event(_ref(rt, op, job), "Warning", "FailedCreatePod",
                             f"Error creating: {err.message}", op.operator)
                failed_once = True
                break  # the operator requeues the job; the next replicas would fail the same way
            if self.store.get(SERVICES, job.ns, pname) is None and rtype != "Evaluator":
                self.store.create(SERVICES, service(
                    job.ns, pname, {k: v for k, v in labels.items() if k != "training.kubeflow.org/job-role"},
                    [{"name": op.port_name, "port": op.port, "protocol": "TCP", "targetPort": op.port}],
                    self.e.now(), labels=labels, owner=owner, headless=True))
        if failed_once and not job.missing:
            job.missing = True
            job.retry_delay = min(600.0, job.retry_delay * 2) if job.retry_delay else 30.0
            self.e.after(job.retry_delay, self._retry_missing, job)
        elif not failed_once:
            job.retry_delay = 0.0

    def _retry_missing(self, job: JobRT) -> None:
        job.missing = False
        self._create_missing(job)

    def _on_pod(self, p: PodRT) -> None:
        key, ns, name = p.owner
        job = self.jobs.get((key, ns, name))
        if job is None or job.finished:
            return
        rt = BY_KEY[key]
        op = OPERATORS[key]
        now = self.e.now()
        if p.key not in self.e.pods and not job.ending:
            # A replica pod was deleted under a live job: the operator creates it again.
            job.running_since = None
            job.end_gen += 1
            self.e.soon(self._create_missing, job)
        pods = [self.e.pod_rt(ns, pn) for _, _, pn in job.pods]
        restarts = sum(c.restarts for q in pods if q for c in q.containers)
        if restarts > job.restarts_seen:
            job.restarts_seen = restarts
            job.running_since = None
            job.end_gen += 1
            failed = {}
            for rtype, _, pn in job.pods:
                q = self.e.pod_rt(ns, pn)
                if q and any(c.state != "running" for c in q.containers):
                    failed[rtype] = failed.get(rtype, 0) + 1
            what = ", ".join(f"{v} {k}" for k, v in failed.items()) or "1 Worker"
            msg = f"{op.kind} {name} is restarting because {what} replica(s) failed."
            self._set_condition(job, "Restarting", True, f"{op.kind}Restarting", msg, now)
            self.e.event(_ref(rt, op, job), "Warning", f"{op.kind}Restarting", msg, op.operator)
        if (job.running_since is None and not job.ending and pods and all(q is not None for q in pods)
                and all(all(c.state == "running" for c in q.containers) for q in pods)):
            job.running_since = now
            self._set_condition(job, "Running", True, f"{op.kind}Running", f"{op.kind} {ns}/{name} is running.", now)
            gen = job.end_gen
            self.e.after(job.plan.duration, self._end, job, gen)
        self._write_replicas(job, rt, op)

    def _end(self, job: JobRT, gen: int) -> None:
        if job.end_gen != gen or job.finished or (job.key, job.ns, job.name) not in self.jobs:
            return
        outcome = job.plan.outcome
        pods = [(rtype, i, self.e.pod_rt(job.ns, pn)) for rtype, i, pn in job.pods]
        if outcome == "succeed":
            job.ending = True
            for rtype, _, q in pods:
                if q is None or rtype == "PS":  # parameter servers never exit on their own
                    continue
                for c in q.containers:
                    if c.state == "running":
                        self.e.terminate_container(q, c, 0, "Completed", None, restart=False)
            self._finish(job, True)
            self._clean_pods(job)
            return
        code, reason = FAIL_EXIT.get(outcome, (1, "Error"))
        workers = [t for t in pods if t[0] in ("Worker", "Master") and t[2] is not None] or \
                  [t for t in pods if t[2] is not None]
        if not workers:
            return
        rng = random.Random(f"{job.uid}:{job.attempts}")
        victims = workers if outcome == "NCCLTimeout" else [rng.choice(workers)]
        job.attempts += 1
        obj = self.store.get(BY_KEY[job.key], job.ns, job.name) or {}
        backoff = int(((obj.get("spec") or {}).get("runPolicy") or {}).get("backoffLimit", 3))
        exhausted = False
        for _, _, q in victims:
            restarts = q.restart_policy in ("OnFailure", "Always")
            retry = restarts and job.attempts <= backoff
            for c in q.containers:
                if c.state == "running":
                    self.e.terminate_container(q, c, code, reason, outcome, restart=retry)
            if not retry:
                job.ending = True
                exhausted = exhausted or restarts
        if job.ending:
            why = "it has reached the specified backoff limit" if exhausted else None
            self._finish(job, False, victims[0][0], len(victims), why)
            self._clean_pods(job)
        elif not job.plan.pinned and rng.random() < 0.5:
            job.plan = Plan("succeed", job.plan.duration, job.plan.rate)

    def _clean_pods(self, job: JobRT) -> None:
        """runPolicy.cleanPodPolicy once the job is finished: Running deletes the pods still running, All every
        pod, None (training-operator v1.9's default) none."""
        obj = self.store.get(BY_KEY[job.key], job.ns, job.name) or {}
        policy = ((obj.get("spec") or {}).get("runPolicy") or {}).get("cleanPodPolicy") or "None"
        if policy not in ("Running", "All"):
            return
        for _, _, pn in job.pods:
            q = self.e.pod_rt(job.ns, pn)
            if q is None or q.deleting:
                continue
            if policy == "All" or q.phase in ("Pending", "Running"):
                self.e.delete_pod(q.ns, q.name)

    def _finish(self, job: JobRT, ok: bool, rtype: str = "Worker", n: int = 1, why: str | None = None) -> None:
        op = OPERATORS[job.key]
        now = self.e.now()
        job.finished = True
        if why:  # the common job controller's words once the restarts reach runPolicy.backoffLimit
            failed_msg = f"Job {job.name} has failed because {why}"
        else:  # the kind's own status update when a replica with restartPolicy Never/ExitCode fails
            failed_msg = f"{op.kind} {job.ns}/{job.name} has failed because {n} {rtype} replica(s) failed."

        self._set_condition(job, "Running", False, f"{op.kind}Running", f"{op.kind} {job.ns}/{job.name} is running.",
                            now, keep_time=True)
        if ok:
            self._set_condition(job, "Succeeded", True, f"{op.kind}Succeeded",
                                f"{op.kind} {job.ns}/{job.name} successfully completed.", now)
        else:
            self._set_condition(job, "Failed", True, f"{op.kind}Failed", failed_msg, now)
        rt = BY_KEY[job.key]

        def fin(o: dict) -> None:
            st = dict(o.get("status") or {})
            if ok:
                st["completionTime"] = rfc3339(now)
            st["lastReconcileTime"] = rfc3339(now)
            o["status"] = st
        self.store.update(rt, job.ns, job.name, fin)
        self.e.event(_ref(rt, op, job), "Normal" if ok else "Warning",
                     f"{op.kind}Succeeded" if ok else f"{op.kind}Failed",
                     f"{op.kind} {job.ns}/{job.name} successfully completed." if ok else failed_msg, op.operator)
        # the last count: a finished job's replicaStatuses are not recomputed, except that on success the
        # operator moves whatever is still active (parameter servers) to succeeded
        self._write_replicas(job, rt, op, fold_active=ok)

    def _set_condition(self, job: JobRT, ctype: str, status: bool, reason: str, message: str, now: float,
                       keep_time: bool = False) -> None:
        rt = BY_KEY[job.key]

        def fn(o: dict) -> None:
            st = dict(o.get("status") or {})
            o["status"] = st
            conds = [dict(c) for c in st.get("conditions") or []]
            st["conditions"] = conds
            if ctype in ("Running", "Restarting"):
                other = "Restarting" if ctype == "Running" else "Running"
                conds[:] = [c for c in conds if c["type"] != other]
            for c in conds:
                if c["type"] == ctype:
                    if c["status"] != ("True" if status else "False"):
                        c["status"] = "True" if status else "False"
                        c["lastTransitionTime"] = rfc3339(now)
                    c["reason"], c["message"], c["lastUpdateTime"] = reason, message, rfc3339(now)
                    break
            else:
                conds.append(condition(ctype, status, reason, message, now))
            if ctype == "Running" and status and "startTime" not in st:
                st["startTime"] = rfc3339(now)
            st.setdefault("replicaStatuses", {})
        self.store.update(rt, job.ns, job.name, fn)

    def _write_replicas(self, job: JobRT, rt, op: Operator, fold_active: bool = False) -> None:
        obj = self.store.get(rt, job.ns, job.name)
        if obj is None:
            return
        counts: dict[str, dict] = {}
        for rtype, _, pn in job.pods:
            entry = counts.setdefault(rtype, {})
            q = self.e.pod_rt(job.ns, pn)
            pod_obj = self.store.get(PODS, job.ns, pn)
            phase = q.phase if q else ((pod_obj or {}).get("status") or {}).get("phase")
            # as training-operator's UpdateJobReplicaStatuses: a Pending pod is in no bucket
            bucket = {"Running": "active", "Succeeded": "succeeded", "Failed": "failed"}.get(phase or "", None)
            if q is not None and q.deleting:
                bucket = None
            if bucket == "active" and fold_active:
                bucket = "succeeded"
            if bucket:
                entry[bucket] = entry.get(bucket, 0) + 1
            sel = (f"training.kubeflow.org/job-name={job.name},training.kubeflow.org/operator-name={op.operator},"
                   f"training.kubeflow.org/replica-type={rtype.lower()}")
            entry["labelSelector"] = {"matchLabels": {"training.kubeflow.org/job-name": job.name,
                                                      "training.kubeflow.org/operator-name": op.operator,
                                                      "training.kubeflow.org/replica-type": rtype.lower()}}
            entry["selector"] = sel
        self.store.update(rt, job.ns, job.name,
                          lambda o: o.__setitem__("status", {**(o.get("status") or {}), "replicaStatuses": counts}))


def _ref(rt, op: Operator, job: JobRT) -> dict:
    return {"kind": op.kind, "namespace": job.ns, "name": job.name, "uid": job.uid, "apiVersion": rt.api_version()}


# ---------------------------------------------------------------------------------------------------- batch Job
@dataclass
class BatchRT:
    ns: str
    name: str
    uid: str
    plan: Plan
    pod: str = ""
    finished: bool = False
    end_gen: int = 0
    started: bool = False


class BatchJobController:
    """batch/v1 Job as the Prophecis learner uses it: one pod, backoffLimit 0."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.store = engine.store
        self.jobs: dict[tuple[str, str], BatchRT] = {}
        engine.store.add_listener(self._on_change)
        engine.pod_hooks[JOBS.key] = self._on_pod

    def _on_change(self, rt, etype: str, old: dict | None, new: dict | None) -> None:
        if rt is not JOBS:
            return
        md = (new or old)["metadata"]
        if etype == "ADDED":
            self.e.soon(self._start, md["namespace"], md["name"])
        elif etype == "DELETED":
            self.jobs.pop((md["namespace"], md["name"]), None)

    def _start(self, ns: str, name: str) -> None:
        obj = self.store.get(JOBS, ns, name)
        if obj is None or (ns, name) in self.jobs:
            return
        plan = plan_for(self.e, JOBS, obj, {k: v for k, v in FAIL_WEIGHTS.items() if k != "NCCLTimeout"},
                        (300, 3 * 3600), rate=(0.3, 2.0))
        job = BatchRT(ns, name, obj["metadata"]["uid"], plan)
        self.jobs[(ns, name)] = job
        suffix = "".join(random.Random(job.uid).choice(string.ascii_lowercase + string.digits) for _ in range(5))
        job.pod = f"{name}-{suffix}"
        tmpl = json.loads(json.dumps(obj["spec"]["template"]))
        spec = tmpl.get("spec") or {}
        spec.setdefault("restartPolicy", "Never")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        labels = {**((tmpl.get("metadata") or {}).get("labels") or {}), "controller-uid": job.uid, "job-name": name,
                  "batch.kubernetes.io/controller-uid": job.uid, "batch.kubernetes.io/job-name": name}
        body = pod(ns, job.pod, labels, spec, owner=owner_ref("batch/v1", "Job", name, job.uid),
                   generate_name=f"{name}-")
        fate = "pullfail" if plan.outcome == "pullfail" else "run"
        prt = pod_runtime(body, "single", (JOBS.key, ns, name),
                          {"job": name, "training_id": (obj["metadata"].get("labels") or {}).get("training_id", name),
                           "user": user_of(obj), "replica_type": "Learner", "replica_index": "0", "rank": "0",
                           "world_size": "1"}, rate=plan.rate, fate=fate)
        ref = {"kind": "Job", "namespace": ns, "name": name, "uid": job.uid, "apiVersion": "batch/v1"}
        try:
            self.e.create_pod(body, prt)
            self.e.event(ref, "Normal", "SuccessfulCreate", f"Created pod: {job.pod}", "job-controller")
        except ApiError as err:
            self.e.event(ref, "Warning", "FailedCreate", f"Error creating: {err.message}", "job-controller")
            del self.jobs[(ns, name)]
            self.e.after(60.0, self._start, ns, name)
            return
        self._write(job)

    def _on_pod(self, p: PodRT) -> None:
        job = self.jobs.get((p.owner[1], p.owner[2]))
        if job is None or job.finished:
            return
        if not job.started and p.containers and all(c.state == "running" for c in p.containers):
            job.started = True
            self.e.after(job.plan.duration, self._end, job, job.end_gen)
        if p.phase in ("Succeeded", "Failed"):
            self._finish(job, p.phase == "Succeeded")
        else:
            self._write(job)

    def _end(self, job: BatchRT, gen: int) -> None:
        if job.finished or gen != job.end_gen:
            return
        p = self.e.pod_rt(job.ns, job.pod)
        if p is None:
            return
        ok = job.plan.outcome == "succeed"
        code, reason = (0, "Completed") if ok else FAIL_EXIT.get(job.plan.outcome, (1, "Error"))
        for c in p.containers:
            if c.state == "running":
                self.e.terminate_container(p, c, code, reason, None if ok else job.plan.outcome, restart=False)

    def _finish(self, job: BatchRT, ok: bool) -> None:
        job.finished = True
        now = self.e.now()
        t = rfc3339(now)
        ref = {"kind": "Job", "namespace": job.ns, "name": job.name, "uid": job.uid, "apiVersion": "batch/v1"}

        def fn(o: dict) -> None:
            st = dict(o.get("status") or {})
            o["status"] = st
            st["active"] = 0
            st.pop("active", None)
            st["ready"] = 0
            st["uncountedTerminatedPods"] = {}
            if ok:
                st["succeeded"] = 1
                st["completionTime"] = t
                st["conditions"] = [{"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                                     "message": "Reached expected number of succeeded pods",
                                     "lastProbeTime": t, "lastTransitionTime": t},
                                    {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                                     "message": "Reached expected number of succeeded pods",
                                     "lastProbeTime": t, "lastTransitionTime": t}]
            else:
                st["failed"] = 1
                st["conditions"] = [{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit",
                                     "lastProbeTime": t, "lastTransitionTime": t},
                                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit",
                                     "lastProbeTime": t, "lastTransitionTime": t}]
        self.store.update(JOBS, job.ns, job.name, fn)
        if ok:
            self.e.event(ref, "Normal", "Completed", "Job completed", "job-controller")
        else:
            self.e.event(ref, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                         "job-controller")

    def _write(self, job: BatchRT) -> None:
        p = self.e.pod_rt(job.ns, job.pod)
        active = 1 if p is not None and p.phase in ("Pending", "Running") and not p.deleting else 0
        ready = 1 if p is not None and p.containers and all(c.ready for c in p.containers) else 0
        start = p.created_at if p is not None else self.e.now()

        def fn(o: dict) -> None:
            st = dict(o.get("status") or {})
            o["status"] = st
            if active:
                st["active"] = active
            else:
                st.pop("active", None)
            st["ready"] = ready
            st.setdefault("startTime", rfc3339(start))
            st.setdefault("uncountedTerminatedPods", {})
        self.store.update(JOBS, job.ns, job.name, fn)

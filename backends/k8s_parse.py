"""Raw Kubernetes JSON (dicts from ``json.loads``) -> the console's domain objects.

Pure functions, no I/O, no client models: a list of 10,000 pods is parsed here in a fraction of
the time the official client's model deserialisation takes. Every parser takes whatever the
wire gave (missing fields, nulls, wrong types) and degrades instead of raising: a field that
cannot be read takes its default. Objects are built with ``model_construct`` (no validation),
so every value handed over here already has the type the model declares.

Nothing here is shared with the simulator: it reads the wire from the documented shapes only.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Callable

from prophecis_tui import quantity
from prophecis_tui.domain import (DeploymentState, Event, JobState, ModelDeployment, Namespace, Node, Notebook,
                                  NotebookState, Pod, Predictor, Quota, TrainingJob)

GPU = "nvidia.com/gpu"
NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector"
STOP_ANNOTATION = "kubeflow-resource-stopped"
USER_LABEL = "MLSS-USER"
NOTEBOOK_USER_LABEL = "prophecis-UserId"

# Waiting reasons of a container that will not get better by itself (the kubelet's own words).
FAILING_WAITING_REASONS = frozenset({
    "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "ImageInspectError",
    "RegistryUnavailable", "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError",
    "RunContainerError", "PreStartHookError", "PostStartHookError", "ContainerCannotRun", "StartError",
})


# ------------------------------------------------------------------------------------------ tolerant readers
def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _s(v: Any) -> str:
    """A string field; numbers are written out, anything else (None, bool, dict, list) is ''."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and math.isfinite(v):
        return repr(v)
    return ""


def _i(v: Any) -> int:
    """A count: ints, integral floats and numeric strings; anything else is 0."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) else 0
    if isinstance(v, str):
        q = parse_quantity(v)
        return int(q) if q is not None else 0
    return 0


def _opt_int(v: Any) -> int | None:
    """An int that may be absent (None); numbers only."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v):
        return int(v)
    return None


def _true(v: Any) -> bool:
    """A condition status: "True" (any case) or a JSON true."""
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


def parse_time(v: Any) -> datetime | None:
    """RFC 3339 (``2024-05-01T10:00:00Z``, fractions up to nanoseconds, offsets) -> an aware datetime."""
    if not isinstance(v, str) or "T" not in v or len(v) > 64:
        return None
    text = v.strip()
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if m is not None and m.group(2) and len(m.group(2)) > 7:  # Python reads at most microseconds
        text = m.group(1) + m.group(2)[:7] + m.group(3)
    try:
        t = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------ quantities
def parse_quantity(v: Any) -> float | None:
    """A Kubernetes quantity (``500m``, ``32Gi``, ``1.5``, ``2e3``, ``1E``) as a float; None if unreadable.

    Read exactly by :mod:`prophecis_tui.quantity`, then made a float; text over 64 characters and
    values beyond a float's range (``1e400``) are unreadable too."""
    if isinstance(v, str) and len(v) > 64:
        return None
    q = quantity.try_parse(v)
    if q is None:
        return None
    try:
        out = float(q)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def _gpus(resources: Any) -> int:
    """GPUs of one container: its limit (where the device plugin reads it), else its request."""
    r = _d(resources)
    for key in ("limits", "requests"):
        v = _d(r.get(key)).get(GPU)
        if v is not None:
            q = parse_quantity(v)
            return int(q) if q is not None and q > 0 else 0
    return 0


def _containers(pod_spec: Any) -> list[dict]:
    return [c for c in _l(_d(pod_spec).get("containers")) if isinstance(c, dict)]


def _pod_spec_gpus(pod_spec: Any) -> int:
    return sum(_gpus(c.get("resources")) for c in _containers(pod_spec))


def _meta(obj: Any) -> dict:
    return _d(_d(obj).get("metadata"))


def _labels(md: dict) -> dict:
    return _d(md.get("labels"))


def _annotations(md: dict) -> dict:
    return _d(md.get("annotations"))


# ------------------------------------------------------------------------------------------ namespaces, nodes
def parse_node_selector(text: Any) -> dict[str, str]:
    """``lb-department=risk,lb-app=scorecard`` -> a dict (what the namespace pins its pods to)."""
    out: dict[str, str] = {}
    for part in _s(text).split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_namespace(obj: Any) -> Namespace:
    obj = _d(obj)
    md = _meta(obj)
    ann = _annotations(md)
    sel = parse_node_selector(ann.get(NODE_SELECTOR_ANNOTATION))
    phase = _s(_d(obj.get("status")).get("phase"))
    return Namespace.model_construct(
        name=_s(md.get("name")), uid=_s(md.get("uid")),
        department=sel.get("lb-department", ""), app=sel.get("lb-app", ""),
        gpu_model=_s(ann.get("lb-gpu-model")),
        created=parse_time(md.get("creationTimestamp")),
        terminating=phase == "Terminating" or md.get("deletionTimestamp") is not None,
        node_selector=sel,
    )


def parse_node(obj: Any) -> Node:
    obj = _d(obj)
    md = _meta(obj)
    labels = _labels(md)
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    ready = any(isinstance(c, dict) and c.get("type") == "Ready" and _true(c.get("status"))
                for c in _l(status.get("conditions")))
    return Node.model_construct(
        name=_s(md.get("name")), uid=_s(md.get("uid")), ready=ready,
        unschedulable=spec.get("unschedulable") is True,
        gpu_model=_s(labels.get("lb-gpu-model")) or _s(labels.get("nvidia.com/gpu.product")),
        gpu_capacity=_i(_d(status.get("capacity")).get(GPU)),
        gpu_allocatable=_i(_d(status.get("allocatable")).get(GPU)),
        department=_s(labels.get("lb-department")), app=_s(labels.get("lb-app")),
        created=parse_time(md.get("creationTimestamp")),
        labels=_str_map(labels),
        addresses=tuple(dict.fromkeys(a for a in (_s(_d(x).get("address")) for x in _l(status.get("addresses")))
                                      if a and a != _s(md.get("name")))),
    )


# ------------------------------------------------------------------------------------------ pods
def _restartable_init(container: Any) -> bool:
    return _d(container).get("restartPolicy") == "Always"


def pod_status_text(obj: Any) -> tuple[str, int, int, int]:
    """(STATUS, ready, total, restarts) as ``kubectl get pods`` computes them (printPod, k8s 1.28+)."""
    obj = _d(obj)
    md, spec, status = _meta(obj), _d(obj.get("spec")), _d(obj.get("status"))
    phase = _s(status.get("phase"))
    reason = _s(status.get("reason")) or phase
    conditions = [c for c in _l(status.get("conditions")) if isinstance(c, dict)]
    for c in conditions:
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {_s(c.get("name")): c for c in _l(spec.get("initContainers")) if isinstance(c, dict)}
    total = len(_containers(spec)) + sum(1 for c in init_specs.values() if _restartable_init(c))
    ready = restarts = sidecar_restarts = 0

    initializing = False
    init_statuses = [c for c in _l(status.get("initContainerStatuses")) if isinstance(c, dict)]
    for i, cs in enumerate(init_statuses):
        state = _d(cs.get("state"))
        term, waiting = state.get("terminated"), state.get("waiting")
        restarts += _i(cs.get("restartCount"))
        sidecar = _restartable_init(init_specs.get(_s(cs.get("name"))))
        if sidecar:
            sidecar_restarts += _i(cs.get("restartCount"))
        if isinstance(term, dict) and _i(term.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        if isinstance(term, dict):
            t_reason = _s(term.get("reason"))
            if t_reason:
                reason = "Init:" + t_reason
            elif _i(term.get("signal")):
                reason = f"Init:Signal:{_i(term.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_i(term.get('exitCode'))}"
        elif isinstance(waiting, dict) and _s(waiting.get("reason")) and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + _s(waiting.get("reason"))
        else:
            reason = f"Init:{i}/{len(_l(spec.get('initContainers')))}"
        initializing = True
        break

    initialized = any(c.get("type") == "Initialized" and _true(c.get("status")) for c in conditions)
    if not initializing or initialized:
        restarts = sidecar_restarts
        has_running = False
        statuses = [c for c in _l(status.get("containerStatuses")) if isinstance(c, dict)]
        for cs in reversed(statuses):
            restarts += _i(cs.get("restartCount"))
            state = _d(cs.get("state"))
            waiting, term = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, dict) and _s(waiting.get("reason")):
                reason = _s(waiting.get("reason"))
            elif isinstance(term, dict) and _s(term.get("reason")):
                reason = _s(term.get("reason"))
            elif isinstance(term, dict):
                sig = _i(term.get("signal"))
                reason = f"Signal:{sig}" if sig else f"ExitCode:{_i(term.get('exitCode'))}"
            elif cs.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and _true(c.get("status")) for c in conditions)
            reason = "Running" if pod_ready else "NotReady"

    if md.get("deletionTimestamp") is not None:
        if _s(status.get("reason")) == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, total, restarts


def _owner(md: dict) -> tuple[str, str]:
    refs = [r for r in _l(md.get("ownerReferences")) if isinstance(r, dict)]
    ref = next((r for r in refs if r.get("controller") is True), refs[0] if refs else {})
    return _s(ref.get("kind")), _s(ref.get("name"))


def _str_map(v: Any) -> dict[str, str]:
    return {k: _s(x) for k, x in _d(v).items() if isinstance(k, str)}


def _requests(ctrs: list[dict], key: str) -> str:
    values = [_s(_d(_d(c.get("resources")).get("requests")).get(key)) or _s(_resource(c.get("resources"), key))
              for c in ctrs]
    values = [v for v in values if v]
    if len(values) <= 1:
        return values[0] if values else ""
    total = sum(parse_quantity(v) or 0.0 for v in values)
    return f"{total:g}" if key == "cpu" else f"{total / 2 ** 30:.3g}Gi"


def _container_trouble(status: dict) -> tuple[str, str, int | None]:
    """(waiting reason: message, last exit "reason, exit N", exit code) of the pod's containers."""
    waiting = last = ""
    code: int | None = None
    for cs in [c for c in _l(status.get("initContainerStatuses")) + _l(status.get("containerStatuses"))
               if isinstance(c, dict)]:
        state = _d(cs.get("state"))
        w = state.get("waiting")
        if isinstance(w, dict) and _s(w.get("reason")) and _s(w.get("reason")) != "PodInitializing" and not waiting:
            waiting = _message(_s(w.get("reason")), _s(w.get("message")))
        for term in (state.get("terminated"), _d(cs.get("lastState")).get("terminated")):
            if isinstance(term, dict) and not last:
                exit_code = _opt_int(term.get("exitCode"))
                if exit_code == 0 and _s(term.get("reason")) in ("", "Completed"):
                    continue
                code = exit_code
                last = ", ".join(x for x in (_s(term.get("reason")),
                                             f"exit {exit_code}" if exit_code is not None else "") if x)
    return waiting, last, code


def parse_pod(obj: Any) -> Pod:
    obj = _d(obj)
    md, spec, status = _meta(obj), _d(obj.get("spec")), _d(obj.get("status"))
    text, ready, total, restarts = pod_status_text(obj)
    kind, owner = _owner(md)
    labels = _str_map(md.get("labels"))
    ctrs = _containers(spec)
    waiting, last, code = _container_trouble(status)
    unschedulable = ""
    for c in _l(status.get("conditions")):
        if isinstance(c, dict) and c.get("type") == "PodScheduled" and not _true(c.get("status")):
            unschedulable = _s(c.get("message")) or _s(c.get("reason"))
    rtype = labels.get("training.kubeflow.org/replica-type") or labels.get("replica-type", "")
    rindex = labels.get("training.kubeflow.org/replica-index") or labels.get("replica-index", "")
    job = (labels.get("training.kubeflow.org/job-name") or labels.get("job-name")
           or (owner if kind in ("TFJob", "PyTorchJob", "XGBoostJob", "Job") else ""))
    if not rtype and labels.get("seldon-deployment-id"):
        rtype, job = labels.get("predictor_name", "") or labels.get("version", ""), ""
    return Pod.model_construct(
        uid=_s(md.get("uid")), namespace=_s(md.get("namespace")), name=_s(md.get("name")),
        phase=_s(status.get("phase")), status=text, ready=ready, containers=total, restarts=restarts,
        node=_s(spec.get("nodeName")), gpus=_pod_spec_gpus(spec), owner_kind=kind, owner_name=owner,
        created=parse_time(md.get("creationTimestamp")), deleting=md.get("deletionTimestamp") is not None,
        labels=labels, cpu=_requests(ctrs, "cpu"), memory=_requests(ctrs, "memory"),
        container_names=tuple(_s(c.get("name")) for c in ctrs),
        init_container_names=tuple(_s(c.get("name")) for c in _l(spec.get("initContainers")) if isinstance(c, dict)),
        started=parse_time(status.get("startTime")), waiting=waiting, last_exit=last, exit_code=code,
        unschedulable=unschedulable, replica_type=rtype.lower() if rtype else "", replica_index=rindex,
        job_name=job,
    )


# ------------------------------------------------------------------------------------------ notebooks
def _notebook_container(name: str, pod_spec: Any) -> dict:
    """The container named like the notebook (Kubeflow's rule), else the first (Prophecis names it
    `notebook-container`)."""
    ctrs = _containers(pod_spec)
    return next((c for c in ctrs if c.get("name") == name), ctrs[0] if ctrs else {})


def _resource(resources: Any, key: str) -> Any:
    r = _d(resources)
    v = _d(r.get("limits")).get(key)
    return v if v is not None else _d(r.get("requests")).get(key)


def _message(reason: str, message: str) -> str:
    return f"{reason}: {message}" if reason and message else reason or message


def notebook_state(obj: Any) -> tuple[NotebookState, str]:
    """The state and its reason, by the Kubeflow Jupyter web app's rules (wire-protocols 2.1)."""
    obj = _d(obj)
    md, status = _meta(obj), _d(obj.get("status"))
    ready = _i(status.get("readyReplicas"))
    if STOP_ANNOTATION in _annotations(md):
        return (NotebookState.STOPPED, "") if ready == 0 else (NotebookState.STOPPING, "")
    if md.get("deletionTimestamp") is not None:
        return NotebookState.STOPPING, "deleting"
    if ready >= 1:
        return NotebookState.RUNNING, ""
    cstate = _d(status.get("containerState"))
    waiting, term = cstate.get("waiting"), cstate.get("terminated")
    if isinstance(waiting, dict):
        reason, message = _s(waiting.get("reason")), _s(waiting.get("message"))
        if reason in FAILING_WAITING_REASONS:
            return NotebookState.FAILING, _message(reason, message)
        return NotebookState.STARTING, _message(reason, message)
    if isinstance(term, dict):
        reason = _s(term.get("reason")) or f"exit code {_i(term.get('exitCode'))}"
        return NotebookState.FAILING, _message(reason, _s(term.get("message")))
    # Not running yet, no container state: the pod's conditions say why (e.g. unschedulable)
    for c in _l(status.get("conditions")):
        if isinstance(c, dict) and not _true(c.get("status")) and (c.get("message") or c.get("reason")):
            return NotebookState.STARTING, _message(_s(c.get("reason")), _s(c.get("message")))
    return NotebookState.STARTING, ""


def _notebook_user(md: dict) -> str:
    labels, ann = _labels(md), _annotations(md)
    for v in (labels.get(NOTEBOOK_USER_LABEL), ann.get(NOTEBOOK_USER_LABEL), labels.get(USER_LABEL),
              ann.get("notebooks.kubeflow.org/creator"), labels.get("user")):
        if _s(v):
            return _s(v)
    return ""


SYSTEM_MOUNTS = ("/dev/shm", "/etc/config", "/var/run/secrets")


def _notebook_mounts(ctr: dict, pod_spec: dict) -> tuple[str, tuple[str, ...]]:
    """(workspace host path, data mounts "source -> mountPath") of a notebook's container."""
    volumes = {_s(v.get("name")): v for v in _l(pod_spec.get("volumes")) if isinstance(v, dict)}
    workspace, mounts = "", []
    for m in _l(ctr.get("volumeMounts")):
        if not isinstance(m, dict):
            continue
        path = _s(m.get("mountPath"))
        if not path or path.startswith(SYSTEM_MOUNTS):
            continue
        vol = volumes.get(_s(m.get("name")), {})
        source = (_s(_d(vol.get("hostPath")).get("path")) or _s(_d(vol.get("persistentVolumeClaim")).get("claimName"))
                  or _s(_d(vol.get("nfs")).get("path")) or _s(m.get("name")))
        if path in ("/workspace", "/home/jovyan") and not workspace:
            workspace = source
        else:
            mounts.append(f"{source} -> {path}" + (" (ro)" if m.get("readOnly") is True else ""))
    return workspace, tuple(mounts)


def _notebook_url(ctr: dict, namespace: str, name: str) -> str:
    for e in _l(ctr.get("env")):
        if isinstance(e, dict) and e.get("name") == "NB_PREFIX" and _s(e.get("value")):
            return _s(e.get("value"))
    return f"/notebook/{namespace}/{name}"


def parse_notebook(obj: Any) -> Notebook:
    obj = _d(obj)
    md = _meta(obj)
    name, namespace = _s(md.get("name")), _s(md.get("namespace"))
    pod_spec = _d(_d(_d(obj.get("spec")).get("template")).get("spec"))
    ctr = _notebook_container(name, pod_spec)
    res = ctr.get("resources")
    state, reason = notebook_state(obj)
    workspace, mounts = _notebook_mounts(ctr, pod_spec)
    return Notebook.model_construct(
        uid=_s(md.get("uid")), namespace=namespace, name=name, state=state, reason=reason,
        user=_notebook_user(md), image=_s(ctr.get("image")), gpus=_gpus(res),
        cpu=_s(_resource(res, "cpu")), memory=_s(_resource(res, "memory")),
        created=parse_time(md.get("creationTimestamp")), api_version=_s(obj.get("apiVersion")),
        url=_notebook_url(ctr, namespace, name), workspace=workspace, mounts=mounts,
        labels=_str_map(md.get("labels")),
    )


# ------------------------------------------------------------------------------------------ training jobs
_KUBEFLOW_STATES = {"Failed": JobState.FAILED, "Succeeded": JobState.SUCCEEDED, "Restarting": JobState.RESTARTING,
                    "Running": JobState.RUNNING, "Created": JobState.PENDING, "Suspended": JobState.PENDING}


def kubeflow_job_state(status: Any) -> tuple[JobState, str, datetime | None]:
    """(state, reason, ended-at) from a training-operator job's conditions.

    A terminal condition (Failed, then Succeeded) that is True wins; otherwise the last True
    condition among Restarting / Running / Suspended / Created; nothing -> PENDING.
    """
    conds = [c for c in _l(_d(status).get("conditions"))
             if isinstance(c, dict) and _true(c.get("status")) and _s(c.get("type")) in _KUBEFLOW_STATES]
    for terminal in ("Failed", "Succeeded"):
        for c in reversed(conds):
            if c.get("type") == terminal:
                when = parse_time(c.get("lastTransitionTime")) or parse_time(c.get("lastUpdateTime"))
                return _KUBEFLOW_STATES[terminal], _s(c.get("message")), when
    if conds:
        c = conds[-1]
        return _KUBEFLOW_STATES[c["type"]], _s(c.get("message")), None
    return JobState.PENDING, "", None


def _replica_specs(spec: dict) -> list[tuple[str, dict]]:
    """(replica type, spec) of every `<x>ReplicaSpecs` map of a training-operator job (tfReplicaSpecs,
    pytorchReplicaSpecs, xgbReplicaSpecs, ...)."""
    out: list[tuple[str, dict]] = []
    for key, value in spec.items():
        if isinstance(key, str) and key.endswith("ReplicaSpecs"):
            out.extend((str(k), v) for k, v in _d(value).items() if isinstance(v, dict))
    return out


def parse_training_job(obj: Any, kind: str = "") -> TrainingJob:
    """A TFJob, PyTorchJob or XGBoostJob (kubeflow.org/v1)."""
    obj = _d(obj)
    md, spec, status = _meta(obj), _d(obj.get("spec")), _d(obj.get("status"))
    state, reason, ended_at = kubeflow_job_state(status)
    replicas = gpus = 0
    specs: dict[str, int] = {}
    image = ""
    for rtype, rs in _replica_specs(spec):
        n = _opt_int(rs.get("replicas"))
        n = 1 if n is None else max(n, 0)  # the operator defaults replicas to 1
        replicas += n
        specs[rtype] = specs.get(rtype, 0) + n
        pod_spec = _d(_d(rs.get("template")).get("spec"))
        gpus += n * _pod_spec_gpus(pod_spec)
        image = image or next((_s(c.get("image")) for c in _containers(pod_spec)), "")
    rstatus = {k: {f: _i(_d(v).get(f)) for f in ("active", "succeeded", "failed")}
               for k, v in _d(status.get("replicaStatuses")).items() if isinstance(k, str)}
    return TrainingJob.model_construct(
        uid=_s(md.get("uid")), namespace=_s(md.get("namespace")), name=_s(md.get("name")),
        kind=kind or _s(obj.get("kind")), state=state, reason=reason, user=_s(_labels(md).get(USER_LABEL)),
        replicas=replicas, gpus=gpus, created=parse_time(md.get("creationTimestamp")),
        started=parse_time(status.get("startTime")),
        finished=parse_time(status.get("completionTime")) or ended_at,
        replica_specs=specs, replica_status=rstatus, image=image, labels=_str_map(md.get("labels")),
    )


def parse_batch_job(obj: Any) -> TrainingJob:
    """A batch/v1 Job (Prophecis single-node training, label jobType=single) as a TrainingJob.

    Complete (or SuccessCriteriaMet) -> SUCCEEDED, Failed (or FailureTarget) -> FAILED, Suspended
    -> PENDING; active pods -> RUNNING, unless the Job reports ``ready: 0`` (its pod is still
    pending or starting) -> PENDING; nothing active yet -> PENDING.
    """
    obj = _d(obj)
    md, spec, status = _meta(obj), _d(obj.get("spec")), _d(obj.get("status"))
    conds = {(_s(c.get("type"))): c for c in _l(status.get("conditions"))
             if isinstance(c, dict) and _true(c.get("status"))}
    finished = parse_time(status.get("completionTime"))
    reason = ""
    if "Failed" in conds or "FailureTarget" in conds:
        c = conds.get("Failed") or conds["FailureTarget"]
        state, reason = JobState.FAILED, _message(_s(c.get("reason")), _s(c.get("message")))
        finished = finished or parse_time(c.get("lastTransitionTime"))
    elif "Complete" in conds or "SuccessCriteriaMet" in conds:
        state = JobState.SUCCEEDED
    elif "Suspended" in conds:
        state, reason = JobState.PENDING, _s(conds["Suspended"].get("message")) or "suspended"
    elif _i(status.get("active")) > 0:
        ready = _opt_int(status.get("ready"))
        state = JobState.PENDING if ready == 0 else JobState.RUNNING
    else:
        state = JobState.PENDING
    parallelism = _opt_int(spec.get("parallelism"))
    replicas = 1 if parallelism is None else max(parallelism, 0)
    pod_spec = _d(_d(spec.get("template")).get("spec"))
    return TrainingJob.model_construct(
        uid=_s(md.get("uid")), namespace=_s(md.get("namespace")), name=_s(md.get("name")), kind="Job",
        state=state, reason=reason, user=_s(_labels(md).get(USER_LABEL)), replicas=replicas,
        gpus=replicas * _pod_spec_gpus(pod_spec), created=parse_time(md.get("creationTimestamp")),
        started=parse_time(status.get("startTime")), finished=finished,
        replica_specs={"Worker": replicas},
        replica_status={"Worker": {f: _i(status.get(f)) for f in ("active", "succeeded", "failed")}},
        image=next((_s(c.get("image")) for c in _containers(pod_spec)), ""), labels=_str_map(md.get("labels")),
    )


# ------------------------------------------------------------------------------------------ model deployments
_SELDON_STATES = {"Available": DeploymentState.AVAILABLE, "Creating": DeploymentState.CREATING,
                  "Failed": DeploymentState.FAILED}


def parse_seldon_deployment(obj: Any) -> ModelDeployment:
    """A machinelearning.seldon.io/v1 SeldonDeployment.

    A predictor's replicas: its first component's, else its own, else spec.replicas, else 1 (the most
    specific wins, as the operator decides); the deployment's: all predictors together. Ready: per
    predictor, its Deployment's availableReplicas (the operator names it <sdep>-<predictor>-<i>-...);
    in all, the sum over the Deployments, else status.replicas.
    """
    obj = _d(obj)
    md, spec, status = _meta(obj), _d(obj.get("spec")), _d(obj.get("status"))
    predictors = [p for p in _l(spec.get("predictors")) if isinstance(p, dict)]
    top = _opt_int(spec.get("replicas"))
    deps = {_s(k): d for k, d in _d(status.get("deploymentStatus")).items() if isinstance(d, dict)}
    name = _s(md.get("name"))
    services = [_s(_d(v).get("svcName")) for v in _d(status.get("serviceStatus")).values()]
    preds, gpus, unmatched = [], 0, dict(deps)
    for p in predictors:
        graph = _d(p.get("graph"))
        pname = _s(p.get("name")) or "default"
        comps = [c for c in _l(p.get("componentSpecs")) if isinstance(c, dict)]
        own = _opt_int(comps[0].get("replicas")) if comps else None
        own = own if own is not None else _opt_int(p.get("replicas"))
        reps = max(own if own is not None else top if top is not None else 1, 0)
        for i, comp in enumerate(comps):
            c_reps = _opt_int(comp.get("replicas"))
            gpus += max(c_reps if c_reps is not None else reps, 0) * _pod_spec_gpus(comp.get("spec"))
        prefix = f"{name}-{pname}-"
        mine = [k for k in unmatched if k.startswith(prefix)]
        ready = sum(_i(unmatched.pop(k).get("availableReplicas")) for k in mine) if mine else None
        svc = next((x for x in services if x == f"{name}-{pname}"), f"{name}-{pname}")
        preds.append(Predictor.model_construct(
            name=pname, replicas=reps, ready=ready, pinned=own is not None,
            traffic=_i(p.get("traffic")) if p.get("traffic") is not None else (100 if len(predictors) == 1 else 0),
            implementation=_s(graph.get("implementation")) or "custom",
            model_uri=_s(graph.get("modelUri")), service=svc))
    missing = [i for i, p in enumerate(preds) if p.ready is None]
    if len(missing) == 1 and len(unmatched) == 1:  # a Deployment name hashed past 63 characters
        only = preds[missing[0]]
        preds[missing[0]] = only.model_copy(update={"ready": _i(next(iter(unmatched.values())).get(
            "availableReplicas"))})
    ready = sum(_i(d.get("availableReplicas")) for d in deps.values()) if deps else _i(status.get("replicas"))
    replicas = sum(p.replicas for p in preds) if preds else max(top if top is not None else 1, 0)
    scale = top if top is not None else preds[0].replicas if preds else 1
    return ModelDeployment.model_construct(
        uid=_s(md.get("uid")), namespace=_s(md.get("namespace")), name=name,
        state=_SELDON_STATES.get(_s(status.get("state")), DeploymentState.CREATING),
        reason=_s(status.get("description")), user=_s(_labels(md).get(USER_LABEL)),
        replicas=replicas, ready=max(ready, 0), scale_replicas=max(scale, 0), gpus=gpus,
        created=parse_time(md.get("creationTimestamp")), predictors=tuple(preds),
        endpoint=_s(_d(status.get("address")).get("url")), protocol=_s(spec.get("protocol")) or "seldon",
        labels=_str_map(md.get("labels")),
    )


def parse_event(obj: Any) -> Event:
    """A core/v1 (or events.k8s.io-shaped) Event; the times fall back as kubectl's do."""
    obj = _d(obj)
    md, inv = _meta(obj), _d(obj.get("involvedObject")) or _d(obj.get("regarding"))
    first = parse_time(obj.get("firstTimestamp")) or parse_time(obj.get("eventTime")) or parse_time(
        md.get("creationTimestamp"))
    last = parse_time(obj.get("lastTimestamp")) or parse_time(_d(obj.get("series")).get("lastObservedTime")) or first
    count = _opt_int(obj.get("count")) or _opt_int(_d(obj.get("series")).get("count")) or 1
    src = _d(obj.get("source"))
    return Event.model_construct(
        uid=_s(md.get("uid")), namespace=_s(md.get("namespace")), name=_s(md.get("name")),
        type=_s(obj.get("type")) or "Normal", reason=_s(obj.get("reason")),
        message=_s(obj.get("message")) or _s(obj.get("note")), object_kind=_s(inv.get("kind")),
        object_name=_s(inv.get("name")), object_uid=_s(inv.get("uid")), count=max(count, 1), first=first, last=last,
        source=_s(src.get("component")) or _s(obj.get("reportingComponent")) or _s(obj.get("reportingController")),
    )


# ------------------------------------------------------------------------------------------ quota
_QUOTA_KEYS = {
    "gpu": ("requests." + GPU, "limits." + GPU),
    "cpu": ("requests.cpu", "limits.cpu", "cpu"),
    "memory": ("requests.memory", "limits.memory", "memory"),
}


def _hard_used(hard: dict, used: dict, keys: tuple[str, ...]) -> tuple[float | None, float]:
    """The first key the quota limits, read from hard and used alike (so both speak of the same thing)."""
    for k in keys:
        if k in hard:
            return parse_quantity(hard[k]), parse_quantity(used.get(k)) or 0.0
    for k in keys:
        if k in used:
            return None, parse_quantity(used[k]) or 0.0
    return None, 0.0


LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def parse_quota(obj: Any) -> Quota:
    """A namespace's ResourceQuota (mlss-default-rq): GPUs, CPU cores and memory bytes, hard and used.

    Also the hard ``requests.nvidia.com/gpu`` (the tenant's base) and ``limits.nvidia.com/gpu``
    (where a maximum may be written) each on its own, and the annotations (where a maximum may be
    written too), kubectl's copy of the whole object left out."""
    obj = _d(obj)
    md, status = _meta(obj), _d(obj.get("status"))
    hard = _d(status.get("hard")) or _d(_d(obj.get("spec")).get("hard"))
    used = _d(status.get("used"))
    gpu_hard, gpu_used = _hard_used(hard, used, _QUOTA_KEYS["gpu"])
    cpu_hard, cpu_used = _hard_used(hard, used, _QUOTA_KEYS["cpu"])
    mem_hard, mem_used = _hard_used(hard, used, _QUOTA_KEYS["memory"])
    annotations = _str_map(_annotations(md))
    annotations.pop(LAST_APPLIED_ANNOTATION, None)
    return Quota.model_construct(
        uid=_s(md.get("uid")), namespace=_s(md.get("namespace")), name=_s(md.get("name")),
        gpu_hard=gpu_hard, gpu_used=gpu_used, cpu_hard=cpu_hard, cpu_used=cpu_used,
        memory_hard=mem_hard, memory_used=mem_used,
        gpu_base=parse_quantity(hard.get("requests." + GPU)), gpu_limit=parse_quantity(hard.get("limits." + GPU)),
        annotations=annotations,
    )


def training_parser(kind: str) -> Callable[[Any], TrainingJob]:
    def parse(obj: Any) -> TrainingJob:
        return parse_training_job(obj, kind)
    parse.__name__ = f"parse_{kind.lower()}"
    return parse

"""Readable text of one object for the `d` (describe) and `y` (YAML) views, and a failed job's cause.

Input is the raw JSON dict ``Kubernetes.get`` returns plus domain Events. Output is plain text (no
markup; the UI styles it) in which every string from the cluster went through ``sanitize`` and
secrets are masked:

- env-style entries (``{"name": ..., "value": ...}``: container env, Seldon parameters) whose
  name looks secret (token, password, secret, key, credential, private, auth) show "****";
- string fields named like a secret (``password: x``, not ``secretName``/``envSecretRefName``),
  ``key=value``/``--flag value`` arguments with such names, and a Secret's data are masked;
- ``metadata.managedFields`` and the last-applied-configuration annotation (a full copy of the
  object, secrets included) are dropped; other long annotations are cut.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable

import yaml

from prophecis_tui.domain import Event, Pod, TrainingJob
from prophecis_tui.sanitize import clean, clean_line

__all__ = ["describe", "job_failure", "last_error_line", "mask", "related_events", "to_yaml"]

MASK = "****"
ANNOTATION_LIMIT = 200
EVENTS_SHOWN = 10
DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
SECRET_ENV = re.compile(r"token|passw|secret|key|credential|private|auth", re.I)
SECRET_FIELD = re.compile(r"token|passw|secret(?!.*(?:ref|name)$)|credential|api.?key|private.?key|access.?key",
                          re.I)
SECRET_ASSIGN = re.compile(r"((?:^|[\s?&;,'\"])-{0,2}[\w.-]*(?:token|passw|secret|credential|api.?key|access.?key|"
                           r"private.?key)[\w.-]*\s*[=:]\s*)([^\s'\",;&]+)", re.I)
SECRET_FLAG = re.compile(r"^-{1,2}[\w.-]*(?:token|passw|secret|credential|api.?key|access.?key|private.?key)[\w.-]*$",
                         re.I)
SYSTEM_MOUNTS = ("/dev/shm", "/etc/config", "/var/run/secrets")
GPU = "nvidia.com/gpu"


# ------------------------------------------------------------------------------------------ masking
def _mask_text(text: str) -> str:
    return SECRET_ASSIGN.sub(lambda m: m.group(1) + MASK, text) if SECRET_ASSIGN.search(text) else text


def _mask_list(items: list) -> list:
    out, secret_next = [], False
    for item in items:
        if secret_next and isinstance(item, str):
            out.append(MASK)
        else:
            out.append(mask(item))
        secret_next = isinstance(item, str) and bool(SECRET_FLAG.match(item))
    return out


def _mask_dict(d: dict, secret_data: bool) -> dict:
    envish = isinstance(d.get("name"), str) and "value" in d
    out = {}
    for k, v in d.items():
        if envish and k == "value" and isinstance(v, str) and v and SECRET_ENV.search(d["name"]):
            out[k] = MASK
        elif secret_data and k in ("data", "stringData") and isinstance(v, dict):
            out[k] = {dk: MASK for dk in v}
        elif isinstance(v, str) and v and isinstance(k, str) and SECRET_FIELD.search(k):
            out[k] = MASK
        else:
            out[k] = mask(v)
    return out


def mask(value: Any) -> Any:
    """A copy of a raw JSON value with the secrets replaced by "****" (see the module's rules)."""
    if isinstance(value, dict):
        return _mask_dict(value, value.get("kind") == "Secret")
    if isinstance(value, list):
        return _mask_list(value)
    if isinstance(value, str):
        return _mask_text(value)
    return value


def _annotations(ann: Any) -> dict:
    out = {}
    for k, v in (ann or {}).items():
        if k in DROPPED_ANNOTATIONS:
            continue
        v = v if isinstance(v, str) else str(v)
        out[k] = v if len(v) <= ANNOTATION_LIMIT else f"{v[:ANNOTATION_LIMIT]}… ({len(v)} characters)"
    return out


def _tidy(obj: dict) -> dict:
    """Masked copy without managedFields and noisy annotations."""
    obj = mask(obj)
    md = obj.get("metadata")
    if isinstance(md, dict):
        md.pop("managedFields", None)
        if isinstance(md.get("annotations"), dict):
            md["annotations"] = _annotations(md["annotations"])
    return obj


def _sanitised(value: Any) -> Any:
    if isinstance(value, dict):
        return {clean(str(k)): _sanitised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitised(v) for v in value]
    if isinstance(value, str):
        return clean(value, keep_newlines="\n" in value)
    return value


# ------------------------------------------------------------------------------------------ YAML
class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _str)


def to_yaml(obj: dict) -> str:
    """The object as YAML (its own key order), secrets masked, strings sanitised."""
    text = yaml.dump(_sanitised(_tidy(obj)), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=1_000_000)
    return clean(text, keep_newlines=True)


# ------------------------------------------------------------------------------------------ small readers
def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _s(v: Any) -> str:
    return clean(v) if isinstance(v, str) else ("" if v is None else clean(str(v)))


def _time(v: Any) -> datetime | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _age(seconds: float) -> str:
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _when(v: Any, now: datetime) -> str:
    t = v if isinstance(v, datetime) else _time(v)
    if t is None:
        return ""
    return f"{t.strftime('%Y-%m-%d %H:%M:%S')} ({_age((now - t).total_seconds())} ago)"


def _resources(res: Any) -> str:
    """"cpu 4, memory 16Gi, GPU 1" from the requests (limits when no requests), limits noted when different."""
    req, lim = _d(_d(res).get("requests")), _d(_d(res).get("limits"))

    def fmt(r: dict) -> str:
        parts = [f"{'GPU' if k == GPU else _s(k)} {_s(v)}" for k, v in r.items()]
        return ", ".join(parts)
    if not req:
        return fmt(lim)
    return fmt(req) + (f" (limits: {fmt(lim)})" if lim and lim != req else "")


class _Text:
    """Lines of "Label:  value", indented blocks and tables."""

    WIDTH = 14

    def __init__(self) -> None:
        self.lines: list[str] = []

    def field(self, label: str, value: Any, indent: int = 0) -> None:
        if value in (None, "", [], {}):
            return
        self.lines.append(f"{' ' * indent}{(label + ':'):<{self.WIDTH}}{value}")

    def block(self, label: str, rows: Iterable[str], empty: str = "") -> None:
        rows = [r for r in rows if r]
        if rows:
            self.lines.append(f"{label}:")
            self.lines.extend(f"  {r}" for r in rows)
        elif empty:
            self.field(label, empty)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# ------------------------------------------------------------------------------------------ describe
def describe(obj: dict, events: list[Event], *, why: str = "", now: datetime | None = None) -> str:
    """A short, task-focused `kubectl describe` of a Notebook, TFJob/PyTorchJob/XGBoostJob/Job,
    SeldonDeployment or Pod (other kinds: metadata and conditions), then its recent events.

    ``events`` are shown as given (last 10, newest last); ``related_events`` picks an object's own.
    ``why``: the "why is it pending" line, shown near the top. ``now``: for ages (default: the clock).
    """
    now = now or datetime.now(timezone.utc)
    obj = _tidy(obj)
    t = _Text()
    _header(t, obj, now, why)
    kind = obj.get("kind")
    body = {"Notebook": _notebook, "TFJob": _kubeflow_job, "PyTorchJob": _kubeflow_job, "XGBoostJob": _kubeflow_job,
            "MPIJob": _kubeflow_job, "Job": _batch_job, "SeldonDeployment": _seldon, "Pod": _pod}.get(kind)
    if body is not None:
        body(t, obj, now)
    else:
        _generic(t, obj)
    _conditions(t, _d(obj.get("status")).get("conditions"), now)
    _events(t, events, now)
    return clean(t.text(), keep_newlines=True)  # every piece is clean already: this only guarantees it


def _header(t: _Text, obj: dict, now: datetime, why: str) -> None:
    md = _d(obj.get("metadata"))
    t.field("Name", _s(md.get("name")))
    t.field("Namespace", _s(md.get("namespace")))
    t.field("Kind", f"{_s(obj.get('kind'))} ({_s(obj.get('apiVersion'))})" if obj.get("apiVersion") else
            _s(obj.get("kind")))
    t.field("Created", _when(md.get("creationTimestamp"), now))
    if md.get("deletionTimestamp"):
        t.field("Deleting", _when(md.get("deletionTimestamp"), now) or "yes")
    owners = [f"{_s(r.get('kind'))}/{_s(r.get('name'))}" for r in _l(md.get("ownerReferences")) if isinstance(r, dict)]
    t.field("Owner", ", ".join(owners))
    if why:
        t.field("Why pending", clean_line(why, 300))
    labels = [f"{_s(k)}={_s(v)}" for k, v in _d(md.get("labels")).items()]
    t.field("Labels", labels[0] if labels else "<none>")
    t.lines.extend(" " * _Text.WIDTH + x for x in labels[1:])
    ann = [f"{_s(k)}={clean_line(str(v), 120)}" for k, v in _d(md.get("annotations")).items()]
    t.field("Annotations", ann[0] if ann else "")
    t.lines.extend(" " * _Text.WIDTH + x for x in ann[1:])


def _conditions(t: _Text, conditions: Any, now: datetime) -> None:
    conds = [c for c in _l(conditions) if isinstance(c, dict)]
    width = max((len(_s(c.get("type"))) for c in conds), default=0) + 2
    rows = []
    for c in conds:
        text = ": ".join(x for x in (_s(c.get("reason")), _s(c.get("message"))) if x)
        since = _time(c.get("lastTransitionTime"))
        age = f"({_age((now - since).total_seconds())})" if since else ""
        rows.append(f"{_s(c.get('type')):<{width}}{_s(c.get('status')):<7}" + " ".join(x for x in (text, age) if x))
    t.block("Conditions", rows)


def _events(t: _Text, events: list[Event], now: datetime) -> None:
    def key(e: Event) -> float:
        when = e.last or e.first
        return when.timestamp() if when else 0.0
    recent = sorted(events, key=key)[-EVENTS_SHOWN:]
    rows = []
    for e in recent:
        when = e.last or e.first
        age = _age((now - when).total_seconds()) if when else "?"
        rows.append(f"{_s(e.type)} {_s(e.reason)} (x{e.count}, {age}) {clean_line(e.message, 400)}")
    label = f"Events (last {len(recent)} of {len(events)})" if len(events) > len(recent) else "Events"
    t.block(label, rows, empty="<none>")


def _container_state(state: Any, now: datetime) -> str:
    state = _d(state)
    if "running" in state:
        return f"running since {_when(_d(state['running']).get('startedAt'), now)}".rstrip()
    if "waiting" in state:
        w = _d(state["waiting"])
        return "waiting: " + ": ".join(x for x in (_s(w.get("reason")), _s(w.get("message"))) if x)
    if "terminated" in state:
        x = _d(state["terminated"])
        parts = [_s(x.get("reason")) or "terminated", f"exit {_s(x.get('exitCode'))}"]
        if x.get("signal"):
            parts.append(f"signal {_s(x.get('signal'))}")
        if x.get("message"):
            parts.append(clean_line(str(x.get("message")), 200))
        finished = _when(x.get("finishedAt"), now)
        return "terminated: " + ", ".join(parts) + (f", finished {finished}" if finished else "")
    return ""


def _mounts(ctr: dict, pod_spec: dict) -> list[str]:
    volumes = {v.get("name"): v for v in _l(pod_spec.get("volumes")) if isinstance(v, dict)}
    out = []
    for m in _l(ctr.get("volumeMounts")):
        if not isinstance(m, dict) or str(m.get("mountPath", "")).startswith(SYSTEM_MOUNTS):
            continue
        vol = _d(volumes.get(m.get("name")))
        source = (_d(vol.get("hostPath")).get("path") or _d(vol.get("persistentVolumeClaim")).get("claimName")
                  or _d(vol.get("nfs")).get("path") or m.get("name"))
        out.append(f"{_s(source)} -> {_s(m.get('mountPath'))}" + (" (ro)" if m.get("readOnly") is True else ""))
    return out


def _env(ctr: dict, name: str) -> str:
    return next((_s(e.get("value")) for e in _l(ctr.get("env")) if isinstance(e, dict) and e.get("name") == name), "")


# ---------------------------------------------------------------- per kind
def _notebook_state(obj: dict, now: datetime) -> str:
    md, st = _d(obj.get("metadata")), _d(obj.get("status"))
    ready = st.get("readyReplicas") or 0
    if "kubeflow-resource-stopped" in _d(md.get("annotations")):
        return "Stopped" if not ready else "Stopping"
    if ready:
        return "Running"
    cstate = _d(st.get("containerState"))
    if cstate.get("waiting") or cstate.get("terminated"):
        text = _container_state(cstate, now).split(", finished")[0]
        return text[:1].upper() + text[1:]
    return "Starting"


def _notebook(t: _Text, obj: dict, now: datetime) -> None:
    md = _d(obj.get("metadata"))
    spec = _d(_d(_d(obj.get("spec")).get("template")).get("spec"))
    ctrs = [c for c in _l(spec.get("containers")) if isinstance(c, dict)]
    ctr = next((c for c in ctrs if c.get("name") == md.get("name")), ctrs[0] if ctrs else {})
    t.field("State", _notebook_state(obj, now))
    t.field("User", _s(_d(md.get("labels")).get("prophecis-UserId") or _d(md.get("labels")).get("MLSS-USER")))
    t.field("Image", _s(ctr.get("image")))
    t.field("Resources", _resources(ctr.get("resources")))
    mounts = _mounts(ctr, spec)
    t.field("Workspace", next((m for m in mounts if m.endswith(("-> /workspace", "-> /home/jovyan"))), ""))
    t.block("Mounts", [m for m in mounts if not m.endswith(("-> /workspace", "-> /home/jovyan"))])
    t.field("URL", _env(ctr, "NB_PREFIX") or f"/notebook/{_s(md.get('namespace'))}/{_s(md.get('name'))}")
    t.field("Container", _container_state(_d(obj.get("status")).get("containerState"), now))


def _replica_row(rtype: str, rs: dict, status: dict) -> str:
    tmpl = _d(_d(rs.get("template")).get("spec"))
    ctr = next((c for c in _l(tmpl.get("containers")) if isinstance(c, dict)), {})
    counts = ", ".join(f"{k} {v}" for k, v in _d(status.get(rtype)).items()
                       if k in ("active", "succeeded", "failed") and v)
    replicas = rs.get("replicas", 1)
    restart = rs.get("restartPolicy") or tmpl.get("restartPolicy")
    parts = [f"{_s(rtype):<8}{_s(replicas):>3}", _s(ctr.get("image")), _resources(ctr.get("resources")),
             f"restart {_s(restart)}" if restart else "", counts]
    return "  ".join(p for p in parts if p)


def _job_times(t: _Text, st: dict, now: datetime) -> None:
    start, done = _time(st.get("startTime")), _time(st.get("completionTime"))
    t.field("Started", _when(start, now))
    if done:
        took = f" (took {_age((done - start).total_seconds())})" if start else ""
        t.field("Completed", _when(done, now) + took)


def _job_state(st: dict) -> str:
    true = [c for c in _l(st.get("conditions")) if isinstance(c, dict) and c.get("status") == "True"]
    if not true:
        return "Pending"
    c = true[-1]
    detail = ": ".join(x for x in (_s(c.get("reason")), _s(c.get("message"))) if x)
    return f"{_s(c.get('type'))}" + (f" ({detail})" if detail else "")


def _kubeflow_job(t: _Text, obj: dict, now: datetime) -> None:
    md, spec, st = _d(obj.get("metadata")), _d(obj.get("spec")), _d(obj.get("status"))
    t.field("State", _job_state(st))
    t.field("User", _s(_d(md.get("labels")).get("MLSS-USER")))
    specs = [(k, v) for key, value in spec.items() if str(key).endswith("ReplicaSpecs")
             for k, v in _d(value).items() if isinstance(v, dict)]
    t.block("Replicas", [_replica_row(k, v, _d(st.get("replicaStatuses"))) for k, v in specs])
    policy = _d(spec.get("runPolicy"))
    t.field("Run policy", ", ".join(f"{_s(k)} {_s(v)}" for k, v in policy.items() if not isinstance(v, (dict, list))))
    _job_times(t, st, now)


def _batch_job(t: _Text, obj: dict, now: datetime) -> None:
    md, spec, st = _d(obj.get("metadata")), _d(obj.get("spec")), _d(obj.get("status"))
    t.field("State", _job_state(st) if st.get("conditions") else ("Running" if st.get("active") else "Pending"))
    t.field("User", _s(_d(md.get("labels")).get("MLSS-USER")))
    counts = {k: st.get(k) for k in ("active", "succeeded", "failed") if st.get(k)}
    rs = {"replicas": spec.get("parallelism", 1), "template": spec.get("template")}
    t.block("Replicas", [_replica_row("Job", rs, {"Job": counts})])
    t.field("Run policy", ", ".join(f"{k} {_s(spec[k])}" for k in ("completions", "parallelism", "backoffLimit",
                                                                      "activeDeadlineSeconds") if k in spec))
    _job_times(t, st, now)


def _predictor_rows(p: dict, spec_replicas: Any) -> list[str]:
    """One predictor: its replicas as the operator counts them (the component's, the predictor's own, the
    spec's, else 1), its traffic, implementation, model and containers."""
    graph = _d(p.get("graph"))
    comps = [c for c in _l(p.get("componentSpecs")) if isinstance(c, dict)]
    own = next((x for x in ((comps[0].get("replicas") if comps else None), p.get("replicas")) if x is not None), None)
    count = f"{_s(own)} (its own)" if own is not None else _s(spec_replicas if spec_replicas is not None else 1)
    rows = [f"{_s(p.get('name')) or 'default'}  replicas {count}, traffic {_s(p.get('traffic', 100))}%"]
    impl = _s(graph.get("implementation")) or _s(graph.get("type"))
    rows.append("  " + ", ".join(x for x in (impl, f"model {_s(graph.get('modelUri'))}" if graph.get("modelUri") else "")
                                 if x))
    for comp in _l(p.get("componentSpecs")):
        for c in _l(_d(_d(comp).get("spec")).get("containers")):
            if isinstance(c, dict):
                parts = (f"container {_s(c.get('name'))}", _s(c.get("image")), _resources(c.get("resources")))
                rows.append("  " + "  ".join(x for x in parts if x))
    return [r for r in rows if r.strip()]


def _seldon(t: _Text, obj: dict, now: datetime) -> None:
    md, spec, st = _d(obj.get("metadata")), _d(obj.get("spec")), _d(obj.get("status"))
    state = _s(st.get("state")) or "Creating"
    t.field("State", state + (f" ({_s(st.get('description'))})" if st.get("description") else ""))
    t.field("User", _s(_d(md.get("labels")).get("MLSS-USER")))
    t.field("Protocol", _s(spec.get("protocol")) or "seldon")
    t.field("Address", _s(_d(st.get("address")).get("url")))
    t.block("Predictors", [r for p in _l(spec.get("predictors")) if isinstance(p, dict)
                           for r in _predictor_rows(p, spec.get("replicas"))])
    rows = []
    for name, d in _d(st.get("deploymentStatus")).items():
        d = _d(d)
        extra = ": ".join(x for x in (_s(d.get("status")), _s(d.get("description"))) if x)
        rows.append(f"{_s(name)}  replicas {_s(d.get('replicas', 0))}, available {_s(d.get('availableReplicas', 0))}"
                    + (f"  ({extra})" if extra else ""))
    t.block("Deployments", rows)


def _pod(t: _Text, obj: dict, now: datetime) -> None:
    spec, st = _d(obj.get("spec")), _d(obj.get("status"))
    node = _s(spec.get("nodeName"))
    t.field("Node", node + (f" ({_s(st.get('hostIP'))})" if node and st.get("hostIP") else "") or "<not scheduled>")
    t.field("Phase", _s(st.get("phase")) + (f" ({_s(st.get('reason'))})" if st.get("reason") else ""))
    t.field("Pod IP", _s(st.get("podIP")))
    t.field("Started", _when(st.get("startTime"), now))
    t.field("QoS", _s(st.get("qosClass")))
    statuses = {c.get("name"): c for c in _l(st.get("initContainerStatuses")) + _l(st.get("containerStatuses"))
                if isinstance(c, dict)}
    for label, key in (("Init containers", "initContainers"), ("Containers", "containers")):
        rows = []
        for c in _l(spec.get(key)):
            if isinstance(c, dict):
                rows.extend(_container_rows(c, _d(statuses.get(c.get("name"))), now))
        t.block(label, rows)


def _container_rows(c: dict, cs: dict, now: datetime) -> list[str]:
    rows = [f"{_s(c.get('name'))}  {_s(c.get('image'))}"]
    rows.append(f"  State:       {_container_state(cs.get('state'), now) or 'unknown'}")
    last = _container_state(cs.get("lastState"), now)
    if last:
        rows.append(f"  Last state:  {last}")
    if cs:
        rows.append(f"  Ready:       {str(cs.get('ready') is True).lower()}, restarts {_s(cs.get('restartCount', 0))}")
    res = _resources(c.get("resources"))
    if res:
        rows.append(f"  Requests:    {res}")
    return rows


def _generic(t: _Text, obj: dict) -> None:
    st = _d(obj.get("status"))
    for key in ("phase", "state"):
        if isinstance(st.get(key), str):
            t.field(key.capitalize(), _s(st[key]))


def related_events(obj: dict, events: Iterable[Event]) -> list[Event]:
    """The events about an object and the objects it owns by name: a Notebook's StatefulSet and pod
    `<name>-0`, a job's or deployment's pods and ReplicaSets (`<name>-...`). Oldest first."""
    md = _d(obj.get("metadata"))
    kind, name, ns, uid = obj.get("kind", ""), md.get("name", ""), md.get("namespace", ""), md.get("uid", "")
    children = {"Notebook": lambda e: (e.object_kind, e.object_name) in (("StatefulSet", name), ("Pod", f"{name}-0"))}
    prefix = f"{name}-"

    def owned(e: Event) -> bool:
        if kind in children:
            return children[kind](e)
        if kind in ("TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "Job", "SeldonDeployment"):
            return e.object_kind in ("Pod", "ReplicaSet") and e.object_name.startswith(prefix)
        return False

    def mine(e: Event) -> bool:
        if e.namespace and ns and e.namespace != ns:
            return False
        if e.object_kind == kind and e.object_name == name:
            return not uid or e.object_uid in ("", uid)
        return owned(e)
    found = [e for e in events if mine(e)]
    return sorted(found, key=lambda e: (e.last or e.first).timestamp() if (e.last or e.first) else 0.0)


# ------------------------------------------------------------------------------------------ failed jobs
PULL_OR_CONFIG = frozenset({"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
                            "ImageInspectError", "RegistryUnavailable", "CreateContainerConfigError",
                            "CreateContainerError", "RunContainerError", "StartError", "ContainerCannotRun"})
_REPLICA_ORDER = {"chief": 0, "master": 1, "launcher": 2, "ps": 3, "worker": 4, "evaluator": 5}


def _failure(p: Pod) -> tuple[int, str] | None:
    """(rank, cause) of a failing pod; a lower rank usually failed first: a replica that cannot start,
    then one killed (OOMKilled, exit 137, a signal), then crash loops, then other non-zero exits."""
    reason = p.waiting.split(":", 1)[0].strip()
    if reason in PULL_OR_CONFIG:
        return 0, p.waiting
    if "OOMKilled" in p.last_exit or p.exit_code in (137, 134, 139):
        return 1, p.last_exit or f"exit {p.exit_code}"
    if reason == "CrashLoopBackOff":
        return 2, f"{p.last_exit or 'crashing'} (CrashLoopBackOff, {p.restarts} restarts)"
    if p.exit_code not in (None, 0) or p.last_exit:
        return 3, p.last_exit or f"exit {p.exit_code}"
    if p.phase == "Failed":
        return 4, p.status or "Failed"
    return None


def _started(p: Pod) -> float:
    t = p.started or p.created
    return t.timestamp() if t else 0.0


def job_failure(job: TrainingJob, pods: list[Pod]) -> tuple[str, str] | None:
    """The first failing replica of a job and its cause, e.g. ("worker-3", "OOMKilled, exit 137"); None when
    no pod of the job failed. The domain has no termination times: the kind of failure ranks first (see
    ``_failure``), then the earliest start, then chief/master before workers and the lowest index."""
    found = []
    for p in pods:
        if p.namespace != job.namespace or (p.job_name and p.job_name != job.name):
            continue
        f = _failure(p)
        if f:
            idx = int(p.replica_index) if p.replica_index.isdigit() else 0
            found.append(((f[0], _started(p), _REPLICA_ORDER.get(p.replica_type, 9), idx, p.name), p, f[1]))
    if not found:
        return None
    _, p, cause = min(found, key=lambda x: x[0])
    return clean_line(p.replica, 100), clean_line(cause, 200)


# ------------------------------------------------------------------------------------------ log errors
_IDENT = r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*"
_STRONG = re.compile(
    rf"^{_IDENT}(?:Error|Exception|Exit|Interrupt|Failure)\b"  # a Python/Java exception line
    r"|^Caused by: |^Exception in thread |^panic: |^fatal error: |^Killed\b|\d+ Killed\s"
    r"|CUDA out of memory|OutOfMemoryError|out of memory|NCCL (?:error|failure|timeout|WARN)|Watchdog caught"
    r"|Segmentation fault|core dumped", re.I)
_WEAK = re.compile(r"\b(?:ERROR|FATAL|CRITICAL|SEVERE|PANIC)\b|^[EF]\d{4} |^\[[EF] |\w(?:Error|Exception)\b|\berror:",
                   re.M)
_WRAPPERS = re.compile(r"ChildFailedError|^SystemExit: 0")
SCAN_LINES = 5000


def last_error_line(log_text: str) -> str:
    """The last line of a log that states an error, sanitised, at most 200 characters; "" when none.

    Lines naming a cause (an exception line ending a traceback, "Caused by:", CUDA OOM, NCCL errors,
    `Killed`, panics) win over lines that only carry ERROR/FATAL; indented lines (stack frames, code)
    and launcher wrappers (torchrun's ChildFailedError) are skipped."""
    weak = ""
    for raw in reversed(log_text.splitlines()[-SCAN_LINES:]):
        if not raw.strip() or raw[0] in " \t" or _WRAPPERS.search(raw):
            continue
        line = raw.strip()
        if _STRONG.search(line):
            return clean_line(line, 200)
        if not weak and _WEAK.search(line):
            weak = line
    return clean_line(weak, 200) if weak else ""

"""A simulated Prometheus Alertmanager (API v2 subset) whose alerts follow the simulated platform.

Served on the simulator's API port under ``/alertmanager`` (so its v2 base is ``<server>/alertmanager/api/v2/``),
without credentials, like a real Alertmanager behind the cluster's TLS:

    GET    alerts            active/silenced/inhibited/unprocessed booleans, repeatable ``filter``, ``receiver`` regex
    POST   alerts            postable alerts (startsAt defaults to now, endsAt to now + resolve_timeout 5m)
    GET    alerts/groups     grouped by alertname + namespace, one receiver per group
    GET    silences          with ``filter``; sorted active, pending, expired as Alertmanager sorts them
    POST   silences          create, or update with ``id`` (in place when history allows, else expire + new id)
    GET    silence/{id}      (singular) one silence; 404 when unknown
    DELETE silence/{id}      expire it (endsAt = now); 404 when unknown, 500 when already expired
    GET    status, receivers
    GET    /alertmanager/-/healthy, /-/ready

The alerts are what a kube-prometheus Prometheus would post, computed from the world on the simulator's clock:

    GPUHighTemperature           warning at DCGM_FI_DEV_GPU_TEMP >= 85 and critical above 90 (for 5m; the critical
                                 keeps firing 5m), the dcgm-exporter labels of the GPU and of the pod holding it
    KubePodCrashLooping          warning: a container restarted 3+ times and is in CrashLoopBackOff (or crashed in the
                                 last 5 minutes)
    KubeContainerWaiting         warning: a container that cannot start (ImagePullBackOff, ...) for 10 minutes
    TrainingJobFailed            critical when it died of OOMKilled or an NCCL timeout, else warning
    SeldonDeploymentUnavailable  critical, a Failed SeldonDeployment
    GPUQuotaNearlyExhausted      warning, GPU quota used/hard >= 0.9
    KubeNodeNotReady             critical, a node whose Ready condition is not True
    Watchdog                     always firing, no namespace (the "is the pipeline alive" alert, untagged)

Two inhibition rules: a critical KubeNodeNotReady mutes the warnings with the same ``node`` label, and a critical
GPUHighTemperature mutes the warning of the same GPU. Silences are active, pending or expired by the simulator's clock.

Cost: the object-driven alerts are kept per object and re-evaluated only for objects that changed (a store
listener marks them); the GPU alerts are evaluated once per Prometheus evaluation interval (30 s of simulated time)
over the hot GPUs only (no other GPU reaches 85 C); the answer is cached per simulated second and per change.

The fault ``alertmanager_error`` (``POST /sim/admin/faults {"alertmanager_error": 503}``) makes every path answer that
status; API faults (latency, error_rate) do not reach it. Nothing here imports the console (DESIGN section 2)."""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Iterable
from urllib.parse import quote

from aiohttp import web

from .clock import parse_rfc3339
from .engine import GPU, NODES, PODS, QUOTAS
from .quantity import parse as parse_quantity
from .resources import BY_KEY

PREFIX = "/alertmanager"
VERSION = "0.27.0-sim"
EVAL = 30.0  # Prometheus' evaluation_interval (kube-prometheus)
RESEND = 60.0  # --rules.alert.resend-delay
ALERT_TTL = 4 * max(EVAL, RESEND)  # the endsAt Prometheus sends: a firing alert not re-sent resolves after this
RESOLVE_TIMEOUT = 300.0  # global.resolve_timeout: endsAt of a posted alert that has none
RETENTION = 120 * 3600.0  # --data.retention: expired silences are kept this long
RUNBOOK = "https://runbooks.example.internal/prophecis/"
PROMETHEUS = "http://prometheus-k8s.monitoring.svc:9090"
EXTERNAL_LABELS = {"prometheus": "monitoring/k8s"}
TEMP_WARN, TEMP_CRIT = 85, 90
CRASHLOOP_RESTARTS = 3
WAITING_BAD = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                         "CreateContainerError"})
WAITING_FOR = 600.0
QUOTA_RATIO = 0.9
FAIL_CRITICAL = frozenset({"OOMKilled", "NCCLTimeout"})

TFJOBS = BY_KEY["kubeflow.org/tfjobs"]
PYTORCHJOBS = BY_KEY["kubeflow.org/pytorchjobs"]
XGBOOSTJOBS = BY_KEY["kubeflow.org/xgboostjobs"]
JOBS = BY_KEY["batch/jobs"]
SDEPS = BY_KEY["machinelearning.seldon.io/seldondeployments"]
JOB_KINDS = {TFJOBS.key: "TFJob", PYTORCHJOBS.key: "PyTorchJob", XGBOOSTJOBS.key: "XGBoostJob", JOBS.key: "Job"}
WATCHED = frozenset({PODS.key, NODES.key, QUOTAS.key, SDEPS.key, *JOB_KINDS})

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_FILTER = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.S)
_DCGM_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


# ---------------------------------------------------------------------------------------------- wire helpers
@lru_cache(maxsize=65536)
def _iso_seconds(secs: int) -> str:
    return datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def ts_ms(ts: float) -> str:
    """A time as Alertmanager writes it: milliseconds and a Z (``2024-05-01T10:00:00.000Z``)."""
    msec = int(round(ts * 1000))
    secs, milli = divmod(msec, 1000)
    return f"{_iso_seconds(secs)}.{milli:03d}Z"


_M64 = 0xFFFFFFFFFFFFFFFF
_FNV_OFFSET, _FNV_PRIME = 14695981039346656037, 1099511628211


@lru_cache(maxsize=65536)
def _fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    h, prime, mask = _FNV_OFFSET, _FNV_PRIME, _M64
    for b in b"".join(n.encode() + b"\xff" + v.encode() + b"\xff" for n, v in items):
        h = ((h ^ b) * prime) & mask
    return f"{h:016x}"


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus' label-set fingerprint (FNV-1a 64 over the sorted names and values, 0xff between), 16 hex."""
    return _fingerprint(tuple(sorted(labels.items())))


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _reply(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json", headers=headers)


def _error(status: int, message: str) -> web.Response:
    """Alertmanager's handler errors: the body is a JSON string."""
    return _reply(message, status)


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


# ---------------------------------------------------------------------------------------------- matchers
@dataclass(frozen=True)
class Matcher:
    """A label matcher: ``name="v"``, ``name!="v"``, ``name=~"re"``, ``name!~"re"`` (regexes anchored)."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True
    _re: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, value: str, is_regex: bool = False, is_equal: bool = True) -> "Matcher":
        rx = re.compile(f"^(?:{value})$", re.S) if is_regex else None  # re.error when it does not compile
        return cls(name, value, is_regex, is_equal, rx)

    def matches(self, value: str) -> bool:
        hit = bool(self._re.match(value)) if self._re is not None else value == self.value
        return hit if self.is_equal else not hit

    def wire(self) -> dict:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}

    def __str__(self) -> str:
        op = {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}[
            (self.is_equal, self.is_regex)]
        return f"{self.name}{op}{json.dumps(self.value, ensure_ascii=False)}"


def parse_matcher(text: str) -> Matcher:
    """One ``filter`` value, as Alertmanager's classic parser reads it; BadRequest with its words."""
    m = _FILTER.match(text)
    if not m:
        raise BadRequest(f"bad matcher format: {text}")
    name, op, raw = m.groups()
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    out: list[str] = []
    escaped = closed = False
    for i, ch in enumerate(raw):
        if escaped:
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(ch, "\\" + ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            if not quoted or i != len(raw) - 1:
                raise BadRequest(f"matcher value contains unescaped double quote: {text}")
            closed = True
        else:
            out.append(ch)
    if quoted and not closed:
        raise BadRequest(f"matcher value contains unescaped double quote: {text}")
    value = "".join(out)
    try:
        return Matcher.make(name, value, op in ("=~", "!~"), op in ("=", "=~"))
    except re.error as err:
        raise BadRequest(f"error parsing regexp: {err}: `{value}`") from None


def matches_all(matchers: Iterable[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def _flag(query, name: str, default: bool = True) -> bool:
    v = query.get(name)
    if v is None or v == "":
        return default
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise BadRequest(f"{name} in query must be of type boolean: {v!r}".replace("'", '"'))


# ---------------------------------------------------------------------------------------------- configuration
def _m(text: str) -> Matcher:
    return parse_matcher(text)


#: the routing tree's children (first match wins, continue: false); the root's receiver takes the rest
ROUTES = (([_m('alertname="Watchdog"')], "null"), ([_m('severity="critical"')], "pager"))
DEFAULT_RECEIVER = "prophecis-ops"
RECEIVERS = ("null", "pager", DEFAULT_RECEIVER)
GROUP_BY = ("alertname", "namespace")
#: (source matchers, target matchers, equal labels)
INHIBIT_RULES = (
    ([_m('alertname="KubeNodeNotReady"'), _m('severity="critical"')], [_m('severity="warning"')], ("node",)),
    ([_m('alertname="GPUHighTemperature"'), _m('severity="critical"')],
     [_m('alertname="GPUHighTemperature"'), _m('severity="warning"')], ("Hostname", "gpu")),
)


def receiver_of(labels: dict[str, str]) -> str:
    for matchers, receiver in ROUTES:
        if matches_all(matchers, labels):
            return receiver
    return DEFAULT_RECEIVER


def config_yaml() -> str:
    """The configuration this Alertmanager would have been started with (``status.config.original``)."""
    def ms(ms_: list[Matcher]) -> str:
        return "[" + ", ".join(json.dumps(str(m)) for m in ms_) + "]"
    lines = ["global:", "  resolve_timeout: 5m", "route:", f"  receiver: {DEFAULT_RECEIVER}",
             f"  group_by: [{', '.join(GROUP_BY)}]", "  group_wait: 30s", "  group_interval: 5m",
             "  repeat_interval: 4h", "  routes:"]
    for matchers, receiver in ROUTES:
        lines += [f"  - receiver: {json.dumps(receiver)}", f"    matchers: {ms(matchers)}"]
    lines.append("inhibit_rules:")
    for source, target, equal in INHIBIT_RULES:
        lines += [f"- source_matchers: {ms(source)}", f"  target_matchers: {ms(target)}",
                  f"  equal: [{', '.join(equal)}]"]
    lines += ["receivers:", '- name: "null"',
              "- name: pager", "  webhook_configs:", "  - url: http://oncall-bridge.monitoring.svc:8080/pager",
              "    send_resolved: true",
              f"- name: {DEFAULT_RECEIVER}", "  webhook_configs:",
              "  - url: http://wecom-bridge.monitoring.svc:8080/prophecis-ops", "    send_resolved: true",
              "templates: []", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- alerts of the world
@dataclass
class Candidate:
    """An alert a rule fires for one object (labels without the external ones)."""

    labels: dict[str, str]
    annotations: dict[str, str]
    since: float  # when it fires (or began firing), as well as the object tells: the startsAt at first sight;
    #               a time to come means not yet (a rule's `for`)
    expr: str
    until: float | None = None  # it stops holding then, without the object changing


@lru_cache(maxsize=256)
def generator_url(expr: str) -> str:
    """The Prometheus graph link a rule's alerts carry (generatorURL)."""
    return f"{PROMETHEUS}/graph?g0.expr={quote(expr, safe='')}&g0.tab=1"


def _annotations(alertname: str, summary: str, description: str) -> dict[str, str]:
    return {"summary": summary, "description": description, "runbook_url": RUNBOOK + alertname}


def _since(text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        return parse_rfc3339(text)
    except ValueError:
        return default


def _condition(obj: dict, ctype: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype:
            return c
    return None


EXPR = {
    "KubePodCrashLooping": 'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff",'
                           'job="kube-state-metrics"}[5m]) >= 1',
    "KubeContainerWaiting": 'sum by (namespace, pod, container) (kube_pod_container_status_waiting_reason{'
                            'job="kube-state-metrics",reason!~"ContainerCreating|PodInitializing|CrashLoopBackOff"})'
                            ' > 0',
    "TrainingJobFailed": 'max by (namespace, job_name, job_kind) (prophecis_training_job_status{phase="Failed"}) == 1',
    "SeldonDeploymentUnavailable": 'kube_customresource_seldondeployment_state{state="Failed"} == 1',
    "GPUQuotaNearlyExhausted": 'kube_resourcequota{type="used",resource="requests.nvidia.com/gpu"} / ignoring(type) '
                               'kube_resourcequota{type="hard",resource="requests.nvidia.com/gpu"} >= 0.9',
    "KubeNodeNotReady": 'kube_node_status_condition{job="kube-state-metrics",condition="Ready",status="true"} == 0',
    "Watchdog": "vector(1)",
}


class WorldAlerts:
    """The alert rules over the simulated world: per-object candidates kept up to date through a store listener,
    the GPU temperature rules evaluated once per evaluation interval."""

    def __init__(self, sim: Any, dcgm: Any) -> None:
        self.sim = sim
        self.engine = sim.engine
        self.store = sim.engine.store
        self.dcgm = dcgm
        self.version = 0  # bumped whenever the set of candidates changes
        self._cands: dict[tuple[str, str, str], list[Candidate]] = {}
        self._dirty: set[tuple[str, str, str]] = set()
        self._full = True
        self.store.add_listener(self._on_change)
        self._gpu_tick: float | None = None
        self._gpu_cands: list[Candidate] = []
        self._hot_key: int | None = None
        self._hot: list[tuple[str, int, Any, dict[str, str]]] = []  # node, index, dcgm GPU, its labels
        self._temps: dict[tuple[str, int], dict[float, int]] = {}
        self.evaluated = 0  # objects evaluated (tests and the bench: the work stays proportional to changes)

    # --------------------------------------------------------------- objects
    def _on_change(self, rt, etype: str, old: dict | None, new: dict | None) -> None:
        if rt.key in WATCHED:
            md = (new if new is not None else old or {}).get("metadata") or {}
            self._dirty.add((rt.key, md.get("namespace", ""), md.get("name", "")))

    def refresh(self) -> None:
        if self._full:
            self._full = False
            self._dirty.clear()
            keys = [(key, ns, name) for key in WATCHED for ns, name in self.store.sorted_keys(BY_KEY[key])]
        else:
            keys, self._dirty = self._dirty, set()
        changed = False
        for k in keys:
            obj = self.store.get(BY_KEY[k[0]], k[1], k[2])
            found = self._evaluate(k[0], obj) if obj is not None else []
            self.evaluated += 1
            if found:
                if self._cands.get(k) != found:
                    self._cands[k] = found
                    changed = True
            elif self._cands.pop(k, None) is not None:
                changed = True
        if changed:
            self.version += 1

    def candidates(self) -> Iterable[Candidate]:
        for cs in self._cands.values():
            yield from cs

    def _evaluate(self, key: str, obj: dict) -> list[Candidate]:
        if key == PODS.key:
            return self._pod(obj)
        if key in JOB_KINDS:
            return self._job(key, obj)
        if key == SDEPS.key:
            return self._sdep(obj)
        if key == NODES.key:
            return self._node(obj)
        if key == QUOTAS.key:
            return self._quota(obj)
        return []

    def _model_of(self, ns: str, pod: str) -> tuple[dict[str, str], str]:
        """Labels from the workload that owns a pod (its ``model``), and the owner's kind of alert context."""
        p = self.engine.pods.get((ns, pod))
        out: dict[str, str] = {}
        if p is None or not p.owner:
            return out, ""
        key, ons, oname = p.owner
        owner = self.store.get(BY_KEY[key], ons, oname) if key in BY_KEY else None
        model = ((owner or {}).get("metadata", {}).get("labels") or {}).get("model")
        if model:
            out["model"] = model
        return out, key

    def _pod(self, obj: dict) -> list[Candidate]:
        md, st = obj["metadata"], obj.get("status") or {}
        if md.get("deletionTimestamp") or st.get("phase") in ("Succeeded", "Failed"):
            return []
        out = []
        now = self.engine.now()
        for cs in st.get("containerStatuses") or ():
            restarts = cs.get("restartCount") or 0
            waiting = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            if waiting in WAITING_BAD:
                out.append(self._waiting(obj, cs, waiting))
                continue
            if restarts < CRASHLOOP_RESTARTS:
                continue
            last = (cs.get("lastState") or {}).get("terminated") or {}
            finished = _since(last.get("finishedAt"), now)
            until = None
            if waiting != "CrashLoopBackOff":
                until = finished + 300.0  # max_over_time(...[5m]): it holds five minutes after the last back-off
                if until <= now:
                    continue
            ns, pod, cname = md.get("namespace", ""), md["name"], cs.get("name", "")
            labels = {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": ns, "pod": pod,
                      "container": cname}
            node = (obj.get("spec") or {}).get("nodeName")
            if node:
                labels["node"] = node
            labels.update(self._model_of(ns, pod)[0])
            sdep = (md.get("labels") or {}).get("seldon-deployment-id")
            if sdep:
                labels["seldon_deployment_id"] = sdep
            why = last.get("reason") or "Error"
            code = last.get("exitCode")
            out.append(Candidate(labels, _annotations(
                "KubePodCrashLooping", f"Pod {ns}/{pod} ({cname}) is crash looping",
                f"容器 {cname} 已重启 {restarts} 次, 最近一次退出原因 {why}"
                + (f" (exit {code})" if code is not None else "") + f"; Pod {ns}/{pod} 处于 CrashLoopBackOff。"),
                finished, EXPR["KubePodCrashLooping"], until))
        return out

    def _waiting(self, obj: dict, cs: dict, reason: str) -> Candidate:
        """KubeContainerWaiting: a container that cannot start (its image, its config) for WAITING_FOR."""
        md = obj["metadata"]
        ns, pod, cname = md.get("namespace", ""), md["name"], cs.get("name", "")
        labels = {"alertname": "KubeContainerWaiting", "severity": "warning", "namespace": ns, "pod": pod,
                  "container": cname}
        node = (obj.get("spec") or {}).get("nodeName")
        if node:
            labels["node"] = node
        labels.update(self._model_of(ns, pod)[0])
        scheduled = _condition(obj, "PodScheduled") or {}
        since = _since(scheduled.get("lastTransitionTime"), _since(md.get("creationTimestamp"), self.engine.now()))
        image = next((c.get("image", "") for c in (obj.get("spec") or {}).get("containers") or ()
                      if c.get("name") == cname), "")
        return Candidate(labels, _annotations(
            "KubeContainerWaiting", f"Container {cname} of pod {ns}/{pod} has been waiting for over 10 minutes",
            f"Pod {ns}/{pod} 的容器 {cname} 已等待启动超过 10 分钟 (原因 {reason}); 镜像 {image}。"),
            since + WAITING_FOR, EXPR["KubeContainerWaiting"])

    def _job(self, key: str, obj: dict) -> list[Candidate]:
        failed = _condition(obj, "Failed")
        if not failed or failed.get("status") != "True":
            return []
        md = obj["metadata"]
        ns, name, kind = md.get("namespace", ""), md["name"], JOB_KINDS[key]
        if key == JOBS.key:
            rt = self.sim.batch.jobs.get((ns, name))
        else:
            rt = self.sim.training.jobs.get((key, ns, name))
        reason = rt.plan.outcome if rt is not None and rt.plan.outcome != "succeed" else \
            (failed.get("reason") or "Failed")
        labels = {"alertname": "TrainingJobFailed", "severity": "critical" if reason in FAIL_CRITICAL else "warning",
                  "namespace": ns, "job_name": name, "job_kind": kind, "reason": reason}
        model = (md.get("labels") or {}).get("model")
        if model:
            labels["model"] = model
        words = {"OOMKilled": "内存不足被杀 (OOMKilled, exit 137)", "NCCLTimeout": "NCCL 通信超时 (NCCL timeout)",
                 "CudaOOM": "显存不足 (CUDA out of memory)", "Error": "进程异常退出 (Error)"}.get(reason, reason)
        return [Candidate(labels, _annotations(
            "TrainingJobFailed", f"{kind} {ns}/{name} failed: {reason}",
            f"训练任务 {ns}/{name} ({kind}) 失败: {words}。{failed.get('message') or ''}".strip()),
            _since(failed.get("lastTransitionTime"), self.engine.now()), EXPR["TrainingJobFailed"])]

    def _sdep(self, obj: dict) -> list[Candidate]:
        st = obj.get("status") or {}
        if st.get("state") != "Failed":
            return []
        md = obj["metadata"]
        ns, name = md.get("namespace", ""), md["name"]
        labels = {"alertname": "SeldonDeploymentUnavailable", "severity": "critical", "namespace": ns,
                  "seldon_deployment_id": name}
        model = (md.get("labels") or {}).get("model")
        if model:
            labels["model"] = model
        ready = _condition(obj, "Ready") or {}
        return [Candidate(labels, _annotations(
            "SeldonDeploymentUnavailable", f"SeldonDeployment {ns}/{name} is unavailable",
            f"模型服务 {ns}/{name} 不可用: {st.get('description') or 'Failed'} (可用副本 {st.get('replicas', 0)})。"),
            _since(ready.get("lastTransitionTime"), self.engine.now()), EXPR["SeldonDeploymentUnavailable"])]

    def _node(self, obj: dict) -> list[Candidate]:
        ready = _condition(obj, "Ready")
        if ready is not None and ready.get("status") == "True":
            return []
        name = obj["metadata"]["name"]
        status = (ready or {}).get("status", "Unknown")
        return [Candidate({"alertname": "KubeNodeNotReady", "severity": "critical", "node": name},
                          _annotations("KubeNodeNotReady", f"Node {name} is not ready",
                                       f"节点 {name} 状态 Ready={status}: {(ready or {}).get('message') or '无心跳'}。"
                                       " 其上的 Pod 与 GPU 告警被抑制。"),
                          _since((ready or {}).get("lastTransitionTime"), self.engine.now()),
                          EXPR["KubeNodeNotReady"])]

    def _quota(self, obj: dict) -> list[Candidate]:
        st = obj.get("status") or {}
        res = f"requests.{GPU}"
        hard = (st.get("hard") or {}).get(res)
        if hard is None:
            return []
        try:
            h, u = parse_quantity(hard), parse_quantity((st.get("used") or {}).get(res, "0"))
        except ValueError:
            return []
        if h <= 0 or u / h < QUOTA_RATIO:
            return []
        md = obj["metadata"]
        ns = md.get("namespace", "")
        pct = int(round(100 * u / h))
        return [Candidate({"alertname": "GPUQuotaNearlyExhausted", "severity": "warning", "namespace": ns,
                           "resource": res, "resourcequota": md["name"]},
                          _annotations("GPUQuotaNearlyExhausted", f"Namespace {ns} uses {pct}% of its GPU quota",
                                       f"命名空间 {ns} 的 GPU 配额已用 {u:g}/{h:g} ({pct}%), 新的训练任务可能无法调度。"),
                          self.engine.now(), EXPR["GPUQuotaNearlyExhausted"])]

    # --------------------------------------------------------------- GPUs
    def gpu_candidates(self, now: float) -> list[Candidate]:
        tick = math.floor(now / EVAL) * EVAL
        if tick != self._gpu_tick:
            self._gpu_tick = tick
            self._gpu_cands = self._evaluate_gpus(tick)
        return self._gpu_cands

    def _hot_gpus(self) -> list[tuple[str, int, Any, dict[str, str]]]:
        d = self.dcgm
        d._choose_hot()  # only these reach TEMP_WARN: the others stay under 84 C whatever they do
        if self._hot_key != d._hot_for:
            self._hot_key = d._hot_for
            self._hot = []
            for n in sorted((n for n in self.engine.nodes.values() if n.gpus), key=lambda n: n.name):
                for i, g in enumerate(d._node_gpus(n)):
                    if g.hot:
                        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\")
                                  for k, v in _DCGM_LABEL.findall(g.labels) if k != "DCGM_FI_DRIVER_VERSION"}
                        self._hot.append((n.name, i, g, labels))
            self._temps = {}
        return self._hot

    def _temp(self, node: str, i: int, g: Any, t: float) -> int:
        n = self.engine.nodes.get(node)
        who = n.gpu_pods.get(i) if n is not None else None
        p = self.engine.pods.get((who[0], who[1])) if who else None
        if p is None:
            return int(round(self.dcgm._sample(g, None, 0, "", t)[3]))
        pa = self.dcgm._pod(p.ns, p.name, who[2], p.uid)
        return int(round(self.dcgm._sample(g, p, pa.h, who[2], t)[3]))

    def _evaluate_gpus(self, tick: float) -> list[Candidate]:
        out: list[Candidate] = []
        rules = (("warning", lambda v: v >= TEMP_WARN, 300.0, 0.0, f"DCGM_FI_DEV_GPU_TEMP >= {TEMP_WARN}"),
                 ("critical", lambda v: v > TEMP_CRIT, 300.0, 300.0, f"DCGM_FI_DEV_GPU_TEMP > {TEMP_CRIT}"))
        window = int((300.0 + 300.0) / EVAL) + 20  # every evaluation a rule's for + keep_firing_for can look at
        for node, i, g, glabels in self._hot_gpus():
            series = self._temps.setdefault((node, i), {})
            times = [tick - k * EVAL for k in range(window - 1, -1, -1)]
            for t in times:
                if t not in series:
                    series[t] = self._temp(node, i, g, t)
            for t in [t for t in series if t < times[0]]:
                del series[t]
            temps = [series[t] for t in times]
            now_temp = temps[-1]
            n = self.engine.nodes.get(node)
            who = n.gpu_pods.get(i) if n is not None else None
            p = self.engine.pods.get((who[0], who[1])) if who else None
            for severity, cond, for_s, keep_s, expr in rules:
                fired = _fired(times, temps, cond, for_s, keep_s)
                if fired is None:
                    continue
                labels = {"alertname": "GPUHighTemperature", "severity": severity, **glabels, "node": node}
                holder = ""
                if p is not None:
                    labels.update({"container": who[2], "namespace": p.ns, "pod": p.name})
                    labels.update(self._model_of(p.ns, p.name)[0])
                    holder = f", 由 Pod {p.ns}/{p.name} 使用"
                out.append(Candidate(labels, _annotations(
                    "GPUHighTemperature", f"GPU {i} on {node} is {now_temp}C",
                    f"{node} 上的 GPU {i} ({glabels.get('modelName', '')}) 温度 {now_temp}°C, "
                    f"{'超过' if severity == 'critical' else '达到'} {TEMP_CRIT if severity == 'critical' else TEMP_WARN}"
                    f"°C 已持续 5 分钟以上{holder}。请检查机柜散热与风扇。"), fired, expr))
        return out


def _fired(times: list[float], values: list[int], cond: Callable[[int], bool], for_s: float,
           keep_s: float) -> float | None:
    """Prometheus' alerting-rule state over a run of evaluations (oldest first): when the alert firing at the
    last evaluation started firing, or None when it is not firing then."""
    active_at = fired_at = last_true = None
    for t, v in zip(times, values, strict=True):
        if cond(v):
            last_true = t
            if active_at is None:
                active_at = t
            if fired_at is None and t - active_at >= for_s:
                fired_at = t
        elif fired_at is not None and keep_s and last_true is not None and t - last_true < keep_s:
            continue
        else:
            active_at = fired_at = None
    return fired_at


# ---------------------------------------------------------------------------------------------- silences
@dataclass
class Silence:
    id: str
    matchers: list[Matcher]
    starts: float
    ends: float
    updated: float
    created_by: str
    comment: str

    def state(self, now: float) -> str:
        if now < self.starts:
            return "pending"
        if now >= self.ends:  # (Alertmanager: after; at the very instant it was expired, expired here too)
            return "expired"
        return "active"

    def wire(self, now: float) -> dict:
        return {"id": self.id, "status": {"state": self.state(now)}, "updatedAt": ts_ms(self.updated),
                "matchers": [m.wire() for m in self.matchers], "startsAt": ts_ms(self.starts),
                "endsAt": ts_ms(self.ends), "createdBy": self.created_by, "comment": self.comment}


def _sort_silences(sils: list[Silence], now: float) -> list[Silence]:
    """Alertmanager's order: active (next to end first), pending (next to start first), expired (latest first)."""
    rank = {"active": 0, "pending": 1, "expired": 2}

    def key(s: Silence) -> tuple:
        st = s.state(now)
        return (rank[st], s.ends if st == "active" else s.starts if st == "pending" else -s.ends, s.id)
    return sorted(sils, key=key)


# ---------------------------------------------------------------------------------------------- the server
@dataclass
class Posted:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts: float
    ends: float
    updated: float
    generator_url: str


class Alertmanager:
    """The simulated Alertmanager of ``sim`` (``.engine``, ``.faults``, ``.training``, ``.batch``, ``.seed``)."""

    def __init__(self, sim: Any, dcgm: Any) -> None:
        self.sim = sim
        self.engine = sim.engine
        self.world = WorldAlerts(sim, dcgm)
        self.started = self.engine.now()
        self._rng = random.Random(f"alertmanager:{sim.seed}")
        self.silences: dict[str, Silence] = {}
        self.posted: dict[str, Posted] = {}
        self._changes = 0  # silences and posted alerts
        self._starts: dict[str, float] = {}  # fingerprint -> startsAt, kept while the alert keeps firing
        self._cache_key: tuple | None = None
        self._cache: list[dict] = []
        self._encoded: bytes | None = None  # the unfiltered answer, encoded once per assembled list
        self.computed = 0  # how many times the alert list was assembled
        self.world.refresh()  # the one full scan, while the simulator is built; then only what changes

    # --------------------------------------------------------------- the alert list
    def alerts(self) -> list[dict]:
        """Every current alert as gettableAlert (sorted by fingerprint), cached per simulated second and change."""
        now = self.engine.now()
        self.world.refresh()
        key = (int(now), self.world.version, self._changes, math.floor(now / EVAL))
        if key == self._cache_key:
            return self._cache
        self._cache_key, self._cache, self._encoded = key, self._assemble(now), None
        self.computed += 1
        return self._cache

    def _assemble(self, now: float) -> list[dict]:
        tick = math.floor(now / EVAL) * EVAL
        found: dict[str, dict] = {}
        starts: dict[str, float] = {}

        def add(labels: dict[str, str], annotations: dict[str, str], since: float, ends: float, updated: float,
                url: str, keep_start: bool) -> None:
            fp = fingerprint(labels)
            start = self._starts.get(fp, min(since, now)) if keep_start else since
            starts[fp] = start
            found[fp] = {"labels": labels, "annotations": annotations, "startsAt": start, "endsAt": ends,
                         "updatedAt": max(updated, start), "generatorURL": url, "fingerprint": fp}

        cands = list(self.world.candidates()) + self.world.gpu_candidates(now)
        cands.append(Candidate({"alertname": "Watchdog", "severity": "none"}, _annotations(
            "Watchdog", "An alert that should always be firing to certify that Alertmanager is working properly.",
            "告警链路心跳: 此告警应始终处于触发状态; 若它消失, 说明 Prometheus 到 Alertmanager 的告警链路中断。"),
            self.started - 3600.0, EXPR["Watchdog"]))
        for c in cands:
            if (c.until is not None and now >= c.until) or c.since > now:
                continue
            add({**c.labels, **EXTERNAL_LABELS}, c.annotations, c.since, tick + ALERT_TTL, tick,
                generator_url(c.expr), True)
        for fp, a in list(self.posted.items()):
            if a.ends < now - 3600.0:
                del self.posted[fp]  # resolved an hour ago: gone (Alertmanager's GC)
                continue
            if a.ends <= now:
                continue
            add(a.labels, a.annotations, a.starts, a.ends, a.updated, a.generator_url, False)
        self._starts = starts
        active = [s for s in self.silences.values() if s.state(now) == "active"]
        for s in [s for s in self.silences.values() if s.ends < now - RETENTION]:
            del self.silences[s.id]
        inhibited: dict[str, list[str]] = {}
        for source, target, equal in INHIBIT_RULES:
            by_key: dict[tuple, list[str]] = {}
            for fp, a in found.items():
                if matches_all(source, a["labels"]):
                    by_key.setdefault(tuple(a["labels"].get(n, "") for n in equal), []).append(fp)
            if not by_key:
                continue
            for fp, a in found.items():
                if matches_all(target, a["labels"]):
                    srcs = [s for s in by_key.get(tuple(a["labels"].get(n, "") for n in equal), ()) if s != fp]
                    if srcs:
                        inhibited.setdefault(fp, []).extend(srcs)
        out = []
        for fp in sorted(found):
            a = found[fp]
            silenced = sorted(s.id for s in active if matches_all(s.matchers, a["labels"]))
            inh = sorted(set(inhibited.get(fp, ())))
            out.append({"annotations": a["annotations"], "endsAt": ts_ms(a["endsAt"]), "fingerprint": fp,
                        "receivers": [{"name": receiver_of(a["labels"])}], "startsAt": ts_ms(a["startsAt"]),
                        "status": {"inhibitedBy": inh, "silencedBy": silenced, "mutedBy": [],
                                   "state": "suppressed" if silenced or inh else "active"},
                        "updatedAt": ts_ms(a["updatedAt"]), "generatorURL": a["generatorURL"],
                        "labels": a["labels"]})
        return out

    def _select(self, query, *, muted_param: bool = False) -> list[dict]:
        active, silenced = _flag(query, "active"), _flag(query, "silenced")
        inhibited, unprocessed = _flag(query, "inhibited"), _flag(query, "unprocessed")
        muted = _flag(query, "muted") if muted_param else True
        matchers = [parse_matcher(f) for f in query.getall("filter", [])]
        receiver = query.get("receiver")
        rx = None
        if receiver:
            try:
                rx = re.compile(f"^(?:{receiver})$")
            except re.error as err:
                raise BadRequest(f"failed to parse receiver param: {err}") from None
        out = []
        for a in self.alerts():
            st = a["status"]
            if not active and st["state"] == "active":
                continue
            if not unprocessed and st["state"] == "unprocessed":
                continue
            if not silenced and st["silencedBy"]:
                continue
            if not inhibited and st["inhibitedBy"]:
                continue
            if not muted and (st["silencedBy"] or st["inhibitedBy"] or st["mutedBy"]):
                continue
            if rx is not None and not any(rx.match(r["name"]) for r in a["receivers"]):
                continue
            if not matches_all(matchers, a["labels"]):
                continue
            out.append(a)
        return out

    def groups(self, query) -> list[dict]:
        grouped: dict[tuple, dict] = {}
        for a in self._select(query, muted_param=True):
            labels = {n: a["labels"][n] for n in GROUP_BY if a["labels"].get(n)}
            receiver = a["receivers"][0]["name"]
            g = grouped.setdefault((tuple(sorted(labels.items())), receiver),
                                   {"alerts": [], "labels": labels, "receiver": {"name": receiver}})
            g["alerts"].append(a)
        return [grouped[k] for k in sorted(grouped)]

    # --------------------------------------------------------------- posting alerts
    def post_alerts(self, body: Any) -> list[str]:
        """Store the valid alerts of a POST; the validation errors of the others (as Alertmanager words them)."""
        if not isinstance(body, list):
            raise BadRequest('parsing alerts body from "" failed, because json: cannot unmarshal '
                             f'{_json_kind(body)} into Go value of type models.PostableAlerts')
        now = self.engine.now()
        errors: list[str] = []
        for item in body:
            try:
                a = self._postable(item, now)
            except BadRequest as err:
                errors.append(err.message)
                continue
            fp = fingerprint(a.labels)
            prev = self.posted.get(fp)
            if prev is not None and prev.ends >= a.starts and prev.starts <= a.starts:
                a.starts = prev.starts  # the same alert still firing: Alertmanager merges, keeping its start
            self.posted[fp] = a
            self._changes += 1
        return errors

    def _postable(self, item: Any, now: float) -> Posted:
        if not isinstance(item, dict):
            raise BadRequest("alert must be an object")
        labels, annotations = item.get("labels"), item.get("annotations") or {}
        if not isinstance(labels, dict):
            raise BadRequest("labels in body is required")
        if not isinstance(annotations, dict):
            raise BadRequest("annotations in body must be of type object")
        for what, d in (("label", labels), ("annotation", annotations)):
            for k, v in d.items():
                if not isinstance(v, str):
                    raise BadRequest(f"invalid {what} value for {k!r}: must be a string".replace("'", '"'))
        labels = {k: v for k, v in labels.items() if v != ""}  # Alertmanager drops empty labels
        starts = self._time(item.get("startsAt"), "startsAt")
        ends = self._time(item.get("endsAt"), "endsAt")
        url = item.get("generatorURL") or ""
        if not isinstance(url, str):
            raise BadRequest("generatorURL in body must be of type uri")
        if starts is None:
            starts = ends if ends is not None else now
        if ends is None:
            ends = now + RESOLVE_TIMEOUT
        if ends < starts:
            raise BadRequest("start time must be before end time")
        for k in labels:
            if not LABEL_NAME.match(k):
                raise BadRequest(f'invalid label set: invalid name "{k}"')
        if not labels:
            raise BadRequest("at least one label pair required")
        for k in annotations:
            if not LABEL_NAME.match(k):
                raise BadRequest(f'invalid annotations: invalid name "{k}"')
        return Posted(dict(labels), dict(annotations), starts, ends, now, url)

    @staticmethod
    def _time(v: Any, what: str) -> float | None:
        if v is None or v == "" or v == "0001-01-01T00:00:00.000Z":
            return None
        if not isinstance(v, str):
            raise BadRequest(f"{what} in body must be of type date-time: {json.dumps(v)}")
        try:
            return parse_rfc3339(v)
        except ValueError:
            raise BadRequest(f'{what} in body must be of type date-time: "{v}"') from None

    # --------------------------------------------------------------- silences
    def list_silences(self, query) -> list[dict]:
        now = self.engine.now()
        matchers = [parse_matcher(f) for f in query.getall("filter", [])]
        out = []
        for s in _sort_silences(list(self.silences.values()), now):
            patterns = {m.name: m.value for m in s.matchers}
            if all(m.name in patterns and m.matches(patterns[m.name]) for m in matchers):
                out.append(s.wire(now))
        return out

    def post_silence(self, body: Any) -> str:
        """Create or update a silence as Alertmanager's postSilencesHandler and Silences.Set do; its id."""
        now = self.engine.now()
        if not isinstance(body, dict):
            raise BadRequest('parsing silence body from "" failed, because json: cannot unmarshal '
                             f"{_json_kind(body)} into Go value of type models.PostableSilence")
        for k in ("matchers", "startsAt", "endsAt", "createdBy", "comment"):
            if k not in body or body[k] is None:
                raise BadRequest(f"{k} in body is required")
        if not isinstance(body["createdBy"], str) or not isinstance(body["comment"], str):
            raise BadRequest("createdBy and comment in body must be of type string")
        raw = body["matchers"]
        if not isinstance(raw, list):
            raise BadRequest("matchers in body must be of type array")
        for i, m in enumerate(raw):
            if not isinstance(m, dict):
                raise BadRequest(f"matchers.{i} in body must be of type object")
            for k, typ in (("name", str), ("value", str), ("isRegex", bool)):
                if k not in m or m[k] is None:
                    raise BadRequest(f"matchers.{i}.{k} in body is required")
                if not isinstance(m[k], typ):
                    raise BadRequest(f"matchers.{i}.{k} in body must be of type {'boolean' if typ is bool else 'string'}")
            if "isEqual" in m and m["isEqual"] is not None and not isinstance(m["isEqual"], bool):
                raise BadRequest(f"matchers.{i}.isEqual in body must be of type boolean")
        starts, ends = self._time(body["startsAt"], "startsAt"), self._time(body["endsAt"], "endsAt")
        if starts is None or ends is None:
            raise BadRequest(f"{'startsAt' if starts is None else 'endsAt'} in body is required")
        sid = body.get("id") or ""
        if not isinstance(sid, str):
            raise BadRequest("id in body must be of type string")
        if starts >= ends:
            raise BadRequest("Failed to create silence: start time must be before end time")
        if ends < now:
            raise BadRequest("Failed to create silence: end time can't be in the past")
        if not raw:
            raise BadRequest("invalid silence: at least one matcher required")
        matchers: list[Matcher] = []
        for i, m in enumerate(raw):
            name, value, is_regex = m["name"], m["value"], m["isRegex"]
            is_equal = m.get("isEqual") if m.get("isEqual") is not None else True
            if not LABEL_NAME.match(name):
                raise BadRequest(f'invalid silence: invalid label matcher {i}: invalid label name {json.dumps(name)}')
            try:
                matchers.append(Matcher.make(name, value, is_regex, is_equal))
            except re.error as err:
                raise BadRequest(f"invalid silence: invalid label matcher {i}: invalid regular expression "
                                 f"{json.dumps(value)}: {err}") from None
        if all(m.matches("") for m in matchers):
            raise BadRequest("invalid silence: at least one matcher must not match all strings")
        created_by, comment = body["createdBy"], body["comment"]
        if sid:
            prev = self.silences.get(sid)
            if prev is None:
                raise BadRequest("silence not found", 404)
            if _can_update(prev, matchers, starts, ends, now):
                prev.matchers, prev.starts, prev.ends = matchers, starts, ends
                prev.created_by, prev.comment, prev.updated = created_by, comment, now
                self._changes += 1
                return prev.id
            if prev.state(now) != "expired":
                self._expire(prev, now)
        new = Silence(str(uuid.UUID(int=self._rng.getrandbits(128), version=4)), matchers, max(starts, now), ends,
                      now, created_by, comment)
        self.silences[new.id] = new
        self._changes += 1
        return new.id

    def _expire(self, s: Silence, now: float) -> None:
        if s.state(now) == "pending":
            s.starts = now
        s.ends, s.updated = now, now
        self._changes += 1

    def expire_silence(self, sid: str) -> web.Response:
        now = self.engine.now()
        s = self.silences.get(sid)
        if s is None:
            return web.Response(status=404)
        if s.state(now) == "expired":
            return _error(500, f"silence {sid} already expired")
        self._expire(s, now)
        return web.Response(status=200)

    # --------------------------------------------------------------- HTTP
    async def handle(self, request: web.Request, path: str) -> web.Response:
        code = self.sim.faults.alertmanager_error
        if code:
            return _error(code, "injected fault")
        sub = path[len(PREFIX):] or "/"
        m = request.method
        if sub in ("/-/healthy", "/-/ready"):
            return web.Response(text="OK", content_type="text/plain")
        if sub.startswith("/api/v1/"):
            return _reply({"status": "deprecated", "error": "The Alertmanager v1 API was deprecated in version 0.16.0 "
                           "and is removed as of version 0.27.0 - please use the equivalent route in the v2 API"}, 410)
        if not sub.startswith("/api/v2/"):
            return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
        route = sub[len("/api/v2/"):]
        allowed = {"alerts": ("GET", "POST"), "alerts/groups": ("GET",), "silences": ("GET", "POST"),
                   "status": ("GET",), "receivers": ("GET",)}
        sid = None
        if route.startswith("silence/") and route.count("/") == 1 and len(route) > len("silence/"):
            sid, route = route[len("silence/"):], "silence"
            allowed["silence"] = ("GET", "DELETE")
        if route not in allowed:
            return _reply({"code": 404, "message": f"path /api/v2/{sub[len('/api/v2/'):]} was not found"}, 404)
        if m not in allowed[route]:
            return _reply({"code": 405, "message": f"method {m} is not allowed, but [{','.join(allowed[route])}] are"},
                          405, {"Allow": ", ".join(allowed[route])})
        try:
            if route == "alerts" and m == "GET":
                if not request.query:  # what a console polls: encoded once per change
                    alerts = self.alerts()
                    if self._encoded is None:
                        self._encoded = _encode(alerts)
                    return web.Response(body=self._encoded, content_type="application/json")
                return _reply(self._select(request.query))
            if route == "alerts":
                errors = self.post_alerts(await self._body(request, "alerts"))
                return _error(400, "; ".join(errors)) if errors else web.Response(status=200)
            if route == "alerts/groups":
                return _reply(self.groups(request.query))
            if route == "silences" and m == "GET":
                return _reply(self.list_silences(request.query))
            if route == "silences":
                return _reply({"silenceID": self.post_silence(await self._body(request, "silence"))})
            if route == "silence":
                if m == "DELETE":
                    return self.expire_silence(sid or "")
                s = self.silences.get(sid or "")
                return _reply(s.wire(self.engine.now())) if s is not None else web.Response(status=404)
            if route == "status":
                return _reply(self.status())
            return _reply([{"name": r} for r in RECEIVERS])
        except BadRequest as err:
            return _error(err.status, err.message)

    @staticmethod
    async def _body(request: web.Request, what: str) -> Any:
        raw = await request.read()
        try:
            return json.loads(raw)
        except ValueError as err:
            raise BadRequest(f'parsing {what} body from "" failed, because {err}') from None

    def status(self) -> dict:
        return {"cluster": {"name": "", "peers": [], "status": "disabled"},
                "config": {"original": config_yaml()},
                "uptime": ts_ms(self.started),
                "versionInfo": {"branch": "HEAD", "buildDate": "20240228-11:51:20", "buildUser": "root@prophecis-sim",
                                "goVersion": "go1.21.7", "revision": "sim", "version": VERSION}}


def _can_update(prev: Silence, matchers: list[Matcher], starts: float, ends: float, now: float) -> bool:
    """Alertmanager's canUpdate: a change that does not rewrite history keeps the silence's id."""
    if [m.wire() for m in prev.matchers] != [m.wire() for m in matchers]:
        return False
    st = prev.state(now)
    if st == "active":
        return starts == prev.starts and ends >= now
    if st == "pending":
        return starts >= now
    return False


def _json_kind(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "bool", type(None): "null"}.get(type(v), "number")

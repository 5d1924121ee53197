"""The alerts engine: every source's alerts made into one list a person on call can read.

Pure functions and small classes over domain objects (no Textual, no I/O); the alerts poller
(``prophecis_tui.feeds.AlertsPoller``) runs them every few seconds, the alerts screen and the
overview render what they return. Built for 2,000 alerts and 10,000 pods a round.

Sources (each builds :class:`~prophecis_tui.domain.Alert` objects; keys as domain.Alert says):

- Alertmanager (``backends.alertmanager``): ``am:<fingerprint>``;
- Kubernetes Warning events, aggregated per object and reason (:func:`event_alerts`):
  ``ev:<namespace>/<kind>/<name>/<reason>``;
- platform rules over the live state (:class:`AlertEngine`, :func:`platform_alerts`):
  ``rule:<rule>/<namespace>/<kind>/<name>`` (the namespace is empty for a node).

Then, in this order: :func:`merge` (one alert per key: two Alertmanagers of an HA pair report the
same alert), :func:`enrich` (namespace, target and node read from the labels), :class:`Tagger`
(the CMDB's business systems), :func:`apply_acks` (local acknowledgements). Readers use
:func:`parse_filter` / :class:`AlertFilter`, :func:`group` (by business system, tier first),
:func:`firing_counts` (the header) and :func:`top_by_system` (the overview).

Platform rules (thresholds from ``[alerts]``, see :class:`Thresholds`):

================================  =========  =====================================================
rule                              severity   fires when
================================  =========  =====================================================
TrainingJobFailed                 critical   a training job (TFJob, PyTorchJob, XGBoostJob, Job) is
                                             Failed; it ages out FAILED_JOB_HOURS after it failed
NotebookCrashLooping              warning    a notebook's pod is in CrashLoopBackOff, or has
ModelServerCrashLooping                      restarted ``crashloop_restarts`` times and is not ready
                                             (a model deployment's pod for the second)
DeploymentUnavailable             critical   a model deployment (not stopped) has had fewer ready
                                             replicas than asked for ``deployment_unavailable_minutes``
GpuIdleAllocated                  info       a workload has held GPUs under the idle threshold for
                                  warning    ``gpu_idle_minutes`` (warning after twice that)
GpuQuotaHigh                      warning    a namespace uses ``quota_percent`` % of its GPU quota
                                  critical   (its max, else its base); critical at 100 % or more
NodeNotReady                      critical   a node has been NotReady ``node_notready_minutes``
================================  =========  =====================================================

"For N minutes" needs to know since when a condition holds. A deployment still creating counts
from its creation; otherwise the engine remembers when it first saw the condition. At the
engine's first look (the console just started) a condition already there counts from the
object's creation (its start, for a pod), the only time the console can know: a restart of the
console does not hold an alert back for N minutes.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .cmdb import Matcher
from .domain import (ALERT_STATE_RANK, SEVERITIES, Alert, AlertState, DeploymentState, Event, JobState, Pod,
                     SystemTag)
from .idle import workload_of
from .quota import DEFAULT_MAX_ANNOTATION, pressures

__all__ = [
    "CRITICAL_EVENT_REASONS", "EVENT_WINDOW", "FAILED_JOB_HOURS", "RULES", "AlertEngine", "AlertFilter",
    "AlertGroup", "CONDITIONS", "Thresholds", "Tagger", "apply_acks", "condition", "condition_of", "correlate", "node_addresses", "workload_keys", "enrich", "event_alerts", "firing_counts", "group", "merge",
    "parse_filter", "platform_alerts", "rule_key", "top_by_system",
]

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
#: How long after its last occurrence a Warning event's alert counts as resolved (seconds).
EVENT_WINDOW = 15 * 60.0
#: Warning event reasons that are critical; every other Warning reason (BackOff, FailedScheduling,
#: Unhealthy, FailedCreate, ...) is a warning. The kernel or kubelet killed or evicted something, or a
#: volume the workload needs cannot be mounted: the workload is down, not merely slow.
CRITICAL_EVENT_REASONS = frozenset({"OOMKilling", "SystemOOM", "OOMKilled", "Evicted", "FailedMount",
                                    "FailedAttachVolume", "NodeNotReady"})
#: A failed training job alerts for this long after it failed, then ages out (it stays Failed for ever).
FAILED_JOB_HOURS = 24.0
RULES = ("TrainingJobFailed", "NotebookCrashLooping", "ModelServerCrashLooping", "DeploymentUnavailable",
         "GpuIdleAllocated", "GpuQuotaHigh", "NodeNotReady")
#: The state kinds each rule reads: a rule whose kinds were never listed is not evaluated (its alerts are
#: neither raised nor resolved); the poller passes this on as which sources answered.
RULE_KINDS = {"TrainingJobFailed": ("trainingjobs",), "NotebookCrashLooping": ("pods", "notebooks"),
              "ModelServerCrashLooping": ("pods",), "DeploymentUnavailable": ("deployments",),
              "GpuIdleAllocated": ("pods",), "GpuQuotaHigh": ("quotas",), "NodeNotReady": ("nodes",)}


def _ts(d: datetime | None) -> float:
    return d.timestamp() if d is not None else 0.0


_FIELDS = set(Alert.model_fields)  # shared, as domain.gpu_sample does: pydantic copies it before changing it


def _with(a: Alert, update: Mapping[str, Any]) -> Alert:
    """A copy of an alert with some fields replaced, without validation (the values have the declared types):
    what ``model_copy(update=...)`` does, several times faster (a round copies thousands)."""
    obj = Alert.__new__(Alert)
    object.__setattr__(obj, "__dict__", {**a.__dict__, **update})
    object.__setattr__(obj, "__pydantic_fields_set__", _FIELDS)
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


# ------------------------------------------------------------------------------------------ enrich
JOB_KINDS = {"tfjob": "TFJob", "pytorchjob": "PyTorchJob", "xgboostjob": "XGBoostJob", "job": "Job",
             "mpijob": "MPIJob", "paddlejob": "PaddleJob"}


def _job_kind(value: str) -> str:
    return JOB_KINDS.get((value or "").replace("_", "").replace("-", "").lower(), value or "Job")


def _host(instance: str) -> str:
    """The host part of an ``instance`` label: ``10.0.0.5:9100`` -> ``10.0.0.5``, ``[::1]:9100`` -> ``::1``."""
    if instance.startswith("["):
        return instance[1:].partition("]")[0]
    if instance.count(":") == 1:
        return instance.partition(":")[0]
    return instance


_GPU_SERIES = ("UUID", "Hostname", "modelName", "gpu")


def workload_keys(labels: Mapping[str, str]) -> tuple[str, str]:
    """Which labels name the workload an alert is about: ``("namespace", "pod")``, or ``("exported_namespace",
    "exported_pod")`` when Prometheus' scrape renamed them (a ServiceMonitor scrape of dcgm-exporter without
    honor_labels: ``namespace``/``pod`` are then the exporter's own), or ``("", "")`` when ``namespace``/``pod``
    can only be the exporter's (a GPU series whose pod is a dcgm-exporter: a free GPU, held by no workload)."""
    get = labels.get
    if get("exported_namespace") or get("exported_pod"):
        return "exported_namespace", "exported_pod"
    pod = get("pod") or ""
    if "dcgm-exporter" in pod and any(k in labels for k in _GPU_SERIES):
        return "", ""
    return "namespace", "pod"


def enrich(alert: Alert) -> Alert:
    """The alert with ``namespace``, ``target_kind``/``target_name`` and ``node`` read from its labels where the
    source left them empty (what is already set stays):

    - namespace: ``namespace``, else ``exported_namespace`` (a metric re-labelled by Prometheus' scrape);
    - target, the narrowest first: ``pod``/``exported_pod`` -> Pod; ``job_name`` (kind from ``job_kind``,
      default Job) -> TFJob/PyTorchJob/XGBoostJob/Job; ``notebook`` -> Notebook; ``seldon_deployment_id`` or
      ``deployment`` -> SeldonDeployment; a node -> Node; a namespace alone -> Namespace;
    - node: ``node``, ``Hostname`` (dcgm-exporter), ``hostname``, and ``instance`` (its host part) only for an
      alert with no narrower target: on a pod's alert ``instance`` is the exporter that scraped it.
    Returns the same object when nothing changes."""
    if alert.target_kind and alert.namespace and alert.node:
        return alert
    labels = alert.labels
    get = labels.get
    ns_key, pod_key = workload_keys(labels)
    namespace = alert.namespace or (get(ns_key) if ns_key else "") or ""
    node = alert.node or get("node") or get("Hostname") or get("hostname") or ""
    kind, name = alert.target_kind, alert.target_name
    if not kind:
        if pod_key and (pod := get(pod_key)):
            kind, name = "Pod", pod
        elif (job := get("job_name")):
            kind, name = _job_kind(get("job_kind", "")), job
        elif (nb := get("notebook")):
            kind, name = "Notebook", nb
        elif (dep := get("seldon_deployment_id") or get("deployment")):
            kind, name = "SeldonDeployment", dep
        else:
            if not node and not namespace and get("instance"):
                node = _host(get("instance", ""))
            if node:
                kind, name = "Node", node
            elif namespace:
                kind, name = "Namespace", namespace
    if (namespace, kind, name, node) == (alert.namespace, alert.target_kind, alert.target_name, alert.node):
        return alert
    return _with(alert, {"namespace": namespace, "target_kind": kind, "target_name": name, "node": node})


# ------------------------------------------------------------------------------------------ events
_KIND_LABEL = {"Pod": "pod", "Node": "node", "Notebook": "notebook", "SeldonDeployment": "seldon_deployment_id",
               "TFJob": "job_name", "PyTorchJob": "job_name", "XGBoostJob": "job_name", "Job": "job_name"}


def event_alerts(events: Iterable[Event], now: datetime, window: float = EVENT_WINDOW, *,
                 labels: Callable[[str, str, str], Mapping[str, str] | None] | None = None) -> list[Alert]:
    """Kubernetes Warning events as alerts, one per (namespace, object kind, object name, reason): count = the
    sum of the events' counts, starts = the first occurrence, updated = the last, summary = the latest
    message; severity critical for :data:`CRITICAL_EVENT_REASONS`, else warning. Resolved (``ends`` = the last
    occurrence + ``window``) when the last occurrence is older than ``window`` seconds.

    ``labels(namespace, kind, name)``: the object's own labels when the caller knows them (the state's pods),
    so that the CMDB's label rules tag the alert as they tag the object."""
    groups: dict[tuple[str, str, str, str], list[Event]] = {}
    for e in events:
        if e.type != "Warning":
            continue
        groups.setdefault((e.namespace, e.object_kind, e.object_name, e.reason), []).append(e)
    out = []
    for (ns, kind, name, reason), evs in groups.items():
        first = min((e.first or e.last for e in evs if e.first or e.last), default=None)
        latest = max(evs, key=lambda e: _ts(e.last or e.first))
        last = latest.last or latest.first or now
        count = sum(max(e.count, 1) for e in evs)
        resolved = (now - last).total_seconds() > window
        lab: dict[str, str] = {}
        if labels is not None:
            lab.update(labels(ns, kind, name) or {})
        lab.update({"alertname": reason, "reason": reason})
        if ns:
            lab["namespace"] = ns
        if kind in _KIND_LABEL and name:
            lab[_KIND_LABEL[kind]] = name
        if kind in ("TFJob", "PyTorchJob", "XGBoostJob", "Job"):
            lab["job_kind"] = kind
        where = f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
        times = f"{count} times" if count > 1 else "once"
        out.append(Alert.model_construct(
            key=f"ev:{ns}/{kind}/{name}/{reason}", source="events", name=reason,
            severity="critical" if reason in CRITICAL_EVENT_REASONS else "warning",
            state=AlertState.RESOLVED if resolved else AlertState.FIRING,
            summary=latest.message, description=f"{reason} on {where}, {times} (Kubernetes Warning events"
                                                 f"{', from ' + latest.source if latest.source else ''})",
            runbook="", labels=lab, annotations={}, namespace=ns, target_kind=kind, target_name=name,
            node=name if kind == "Node" else "", starts=first or last,
            ends=last + timedelta(seconds=window) if resolved else None, updated=last, fingerprint="",
            generator_url="", origins=(), silenced_by=(), inhibited_by=(), receivers=(), count=count, systems=(),
            ack_by="", ack_note="", ack_at=None))
    return out


# ------------------------------------------------------------------------------------------ platform rules
@dataclass(frozen=True)
class Thresholds:
    """The platform rules' thresholds (``[alerts]`` in the config has the same names)."""

    deployment_unavailable_minutes: float = 10.0
    gpu_idle_minutes: float = 30.0
    quota_percent: float = 90.0
    crashloop_restarts: int = 3
    node_notready_minutes: float = 2.0
    quota_max_annotation: str = DEFAULT_MAX_ANNOTATION

    @classmethod
    def of(cls, settings: Any) -> Thresholds:
        """From anything with these attributes (``config.AlertsSettings``); missing ones keep their default."""
        if settings is None or isinstance(settings, Thresholds):
            return settings or cls()
        values = {f: getattr(settings, f) for f in cls.__dataclass_fields__ if getattr(settings, f, None) is not None}
        return cls(**values)


def rule_key(rule: str, namespace: str, kind: str, name: str) -> str:
    return f"rule:{rule}/{namespace}/{kind}/{name}"


def _minutes(value: float) -> str:
    v = f"{value:g}"
    return f"{v} minute" if v == "1" else f"{v} minutes"


def _rule_alert(rule: str, severity: str, *, namespace: str, kind: str, name: str, summary: str, since: datetime,
                description: str = "", node: str = "", labels: Mapping[str, str] | None = None,
                extra: Mapping[str, str] | None = None) -> Alert:
    lab = dict(labels or {})
    lab.update(extra or {})
    lab.update({"alertname": rule, "severity": severity})
    if namespace:
        lab["namespace"] = namespace
    return Alert.model_construct(
        key=rule_key(rule, namespace, kind, name), source="platform", name=rule, severity=severity,
        state=AlertState.FIRING, summary=summary, description=description, runbook="", labels=lab, annotations={},
        namespace=namespace, target_kind=kind, target_name=name, node=node, starts=since, ends=None, updated=since,
        fingerprint="", generator_url="", origins=(), silenced_by=(), inhibited_by=(), receivers=(), count=1,
        systems=(), ack_by="", ack_note="", ack_at=None)


class AlertEngine:
    """The platform rules, with the memory "for N minutes" needs: since when each condition has held (by alert
    key), forgotten as soon as the condition goes. One per session; ``platform`` is called each round, from one
    thread."""

    def __init__(self, thresholds: Any = None) -> None:
        self.thresholds = Thresholds.of(thresholds)
        self._since: dict[str, datetime] = {}
        self._looked = False

    def _held(self, key: str, now: datetime, first_look: datetime | None, seen: set[str]) -> datetime:
        seen.add(key)
        since = self._since.get(key)
        if since is None:
            since = (first_look or now) if not self._looked else now
            self._since[key] = since
        return since

    def platform(self, state: Any, now: datetime, idle: Iterable[Any] | None = None,
                 rules: Iterable[str] | None = None) -> list[Alert]:
        """Every platform rule's alerts from the live state (``State`` or anything with its readers).
        ``idle``: the idle-GPU board's rows (``prophecis_tui.idle.IdleGpu``: ``since`` in unix seconds, ``holder``),
        None when no metrics source; ``rules``: only these (default all)."""
        wanted = set(RULES if rules is None else rules)
        seen: set[str] = set()
        out: list[Alert] = []
        if "TrainingJobFailed" in wanted:
            out += self._failed_jobs(state, now)
        pods = state.pods() if wanted & {"NotebookCrashLooping", "ModelServerCrashLooping", "NodeNotReady"} else []
        if wanted & {"NotebookCrashLooping", "ModelServerCrashLooping"}:
            out += self._crashlooping(state, pods, now, seen, wanted)
        if "DeploymentUnavailable" in wanted:
            out += self._unavailable(state, now, seen)
        if "GpuIdleAllocated" in wanted and idle is not None:
            out += self._idle(idle, now)
        if "GpuQuotaHigh" in wanted:
            out += self._quota(state, now, seen)
        if "NodeNotReady" in wanted:
            out += self._not_ready(state, pods, now, seen)
        for key in [k for k in self._since if k not in seen]:
            del self._since[key]
        self._looked = True
        return out

    # ---------------------------------------------------------------- the rules
    def _failed_jobs(self, state: Any, now: datetime) -> list[Alert]:
        out = []
        horizon = now - timedelta(hours=FAILED_JOB_HOURS)
        for j in state.training_jobs():
            if j.state != JobState.FAILED:
                continue
            at = j.finished or j.started or j.created or now
            if at < horizon:
                continue
            why = f": {j.reason}" if j.reason else ""
            who = f" (submitted by {j.user})" if j.user else ""
            out.append(_rule_alert(
                "TrainingJobFailed", "critical", namespace=j.namespace, kind=j.kind or "Job", name=j.name,
                summary=f"{j.kind or 'Training job'} {j.namespace}/{j.name} failed{why}",
                description=f"The training job ended in Failed{who}. Its logs (l) show the last error.",
                since=at, labels=j.labels, extra={"job_name": j.name, "job_kind": j.kind or "Job"}))
        return out

    def _crashlooping(self, state: Any, pods: list[Pod], now: datetime, seen: set[str],
                      wanted: set[str]) -> list[Alert]:
        limit = self.thresholds.crashloop_restarts
        notebooks: set[tuple[str, str]] | None = None
        out = []
        for p in pods:
            if p.deleting:
                continue
            backoff = p.status == "CrashLoopBackOff" or "CrashLoopBackOff" in p.waiting
            if not backoff and not (p.restarts >= limit and p.ready < p.containers and p.phase == "Running"):
                continue
            if notebooks is None:
                notebooks = {(n.namespace, n.name) for n in state.notebooks()}
            kind, workload = workload_of(p, notebooks)
            if kind == "notebook":
                rule, what, extra = "NotebookCrashLooping", f"Notebook {workload}", {"notebook": workload}
            elif kind == "deployment":
                rule, what, extra = "ModelServerCrashLooping", f"Model deployment {workload}", {
                    "seldon_deployment_id": workload}
            else:
                continue
            if rule not in wanted:
                continue
            key = rule_key(rule, p.namespace, "Pod", p.name)
            since = self._held(key, now, p.started or p.created, seen)
            how = [f"{p.restarts} restart{'s' if p.restarts != 1 else ''}"]
            if p.waiting:
                how.append(p.waiting)
            elif backoff:
                how.append("CrashLoopBackOff")
            if p.last_exit:
                how.append(f"last exit {p.last_exit}")
            out.append(_rule_alert(
                rule, "warning", namespace=p.namespace, kind="Pod", name=p.name, node=p.node,
                summary=f"{what} in {p.namespace} is crash-looping: pod {p.name}, {'; '.join(how)}",
                description="Its container keeps exiting and the kubelet keeps restarting it. "
                            "The previous container's log (l, then p) says why.",
                since=since, labels=p.labels, extra={"pod": p.name, **extra}))
        return out

    def _unavailable(self, state: Any, now: datetime, seen: set[str]) -> list[Alert]:
        minutes = self.thresholds.deployment_unavailable_minutes
        out = []
        for d in state.deployments():
            if d.state == DeploymentState.STOPPED:
                continue
            asked = d.replicas if d.replicas > 0 else 1
            if d.state == DeploymentState.AVAILABLE and d.ready >= asked:
                continue
            key = rule_key("DeploymentUnavailable", d.namespace, "SeldonDeployment", d.name)
            if d.state == DeploymentState.CREATING and d.created is not None:
                seen.add(key)
                since = self._since.setdefault(key, d.created)
            else:
                since = self._held(key, now, d.created, seen)
            if (now - since).total_seconds() < minutes * 60.0:
                continue
            why = f" ({d.state.value}: {d.reason})" if d.reason else f" ({d.state.value})"
            out.append(_rule_alert(
                "DeploymentUnavailable", "critical", namespace=d.namespace, kind="SeldonDeployment", name=d.name,
                summary=f"Model deployment {d.namespace}/{d.name} has {d.ready} of {asked} replicas ready, "
                        f"for more than {_minutes(minutes)}{why}",
                description="Requests to the model fail or queue while it is not Available.",
                since=since, labels=d.labels, extra={"seldon_deployment_id": d.name}))
        return out

    def _idle(self, idle: Iterable[Any], now: datetime) -> list[Alert]:
        minutes = self.thresholds.gpu_idle_minutes
        by: dict[tuple[str, str, str], list[Any]] = {}
        for g in idle:
            if g.idle_for < minutes * 60.0:  # as the board measured it (its clock is the metrics source's)
                continue
            h = g.holder
            by.setdefault((h.namespace, h.workload_kind, h.workload or h.pod), []).append(g)
        out = []
        for (ns, wkind, workload), gpus in by.items():
            since = min(g.since for g in gpus)
            idle_for = max(g.idle_for for g in gpus)
            kind = {"notebook": "Notebook", "deployment": "SeldonDeployment", "pod": "Pod",
                    "training job": "Job"}.get(wkind, wkind)
            pods = sorted({g.holder.pod for g in gpus})
            nodes = sorted({g.node for g in gpus})
            long = idle_for >= 2 * minutes * 60.0
            n = len(gpus)
            extra = {"pod": pods[0]} if len(pods) == 1 else {}
            extra.update({"Notebook": {"notebook": workload}, "SeldonDeployment": {"seldon_deployment_id": workload},
                          "Pod": {"pod": workload}}.get(kind, {"job_name": workload, "job_kind": kind}))
            if len(nodes) == 1:
                extra["node"] = nodes[0]
            what = {"Notebook": "Notebook", "SeldonDeployment": "Model deployment", "Pod": "Pod"}.get(kind, kind)
            out.append(_rule_alert(
                "GpuIdleAllocated", "warning" if long else "info", namespace=ns, kind=kind, name=workload,
                node=nodes[0] if len(nodes) == 1 else "",
                summary=f"{what} {ns}/{workload} holds {n} GPU{'s' if n != 1 else ''} it has left idle for more "
                        f"than {_minutes(minutes * (2 if long else 1))}",
                description=f"Allocated GPUs under the idle threshold on {', '.join(nodes)}; others may be "
                            "waiting for them (stop the notebook, or scale the workload down).",
                since=datetime.fromtimestamp(since, timezone.utc), extra=extra))
        return out

    def _quota(self, state: Any, now: datetime, seen: set[str]) -> list[Alert]:
        t = self.thresholds
        out = []
        for r in pressures(state, max_annotation=t.quota_max_annotation, with_blocked=False):
            p = r.pressure
            if p is None or p * 100.0 < t.quota_percent or r.used <= 0:
                continue
            key = rule_key("GpuQuotaHigh", r.namespace, "Namespace", r.namespace)
            since = self._held(key, now, now, seen)
            full = p >= 1.0
            limit = r.limit or 0.0
            which = "maximum" if r.gpu_max is not None else "quota"
            pct = "over 999" if p == float("inf") else f"{p * 100.0:.0f}"
            tail = ": nothing more that needs a GPU can start there" if full else ""
            out.append(_rule_alert(
                "GpuQuotaHigh", "critical" if full else "warning", namespace=r.namespace, kind="Namespace",
                name=r.namespace,
                summary=f"Namespace {r.namespace} uses {r.used:g} of its {limit:g} GPU {which} ({pct}%){tail}",
                description=f"GPU quota: base {r.gpu_base if r.gpu_base is not None else 'none'}, max "
                            f"{r.gpu_max if r.gpu_max is not None else 'none'}; alert at {t.quota_percent:g}%.",
                since=since))
        return out

    def _not_ready(self, state: Any, pods: list[Pod], now: datetime, seen: set[str]) -> list[Alert]:
        minutes = self.thresholds.node_notready_minutes
        out = []
        down = [n for n in state.nodes() if not n.ready]
        if not down:
            return out
        on: dict[str, list[Pod]] = {n.name: [] for n in down}
        for p in pods:
            if p.node in on and p.phase not in ("Succeeded", "Failed"):
                on[p.node].append(p)
        for n in down:
            key = rule_key("NodeNotReady", "", "Node", n.name)
            since = self._held(key, now, n.created, seen)
            if (now - since).total_seconds() < minutes * 60.0:
                continue
            there = on[n.name]
            gpus = sum(p.gpus for p in there)
            namespaces = sorted({p.namespace for p in there})
            load = (f"; {len(there)} pod{'s' if len(there) != 1 else ''} of {len(namespaces)} namespace"
                    f"{'s' if len(namespaces) != 1 else ''} ran there ({gpus} GPUs)" if there else "")
            out.append(_rule_alert(
                "NodeNotReady", "critical", namespace="", kind="Node", name=n.name, node=n.name,
                summary=f"Node {n.name} has been NotReady for more than {_minutes(minutes)}{load}",
                description="The kubelet stopped reporting: its pods are unreachable and will be evicted.",
                since=since, labels={}, extra={"node": n.name}))
        return out


def platform_alerts(state: Any, settings: Any = None, now: datetime | None = None, idle: Iterable[Any] | None = None,
                    *, engine: AlertEngine | None = None) -> list[Alert]:
    """The platform rules' alerts, once (an :class:`AlertEngine` keeps the "for N minutes" memory between
    rounds: pass one, or this call has none and every condition counts from the objects' creation)."""
    eng = engine or AlertEngine(settings)
    return eng.platform(state, now or datetime.now(timezone.utc), idle)


# ------------------------------------------------------------------------------------------ merge
def _union(*parts: Iterable[str]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for p in parts:
        for x in p:
            out[x] = None
    return tuple(out)


def _merge_copies(copies: list[Alert]) -> Alert:
    base = copies[0]
    state = AlertState.RESOLVED
    rank = ALERT_STATE_RANK[state]
    starts = updated = ends = None
    count = 0
    for a in copies:
        if a.updated is not None and (updated is None or a.updated > updated):
            updated, base = a.updated, a
        if a.state != AlertState.RESOLVED and ALERT_STATE_RANK[a.state] < rank:
            state, rank = a.state, ALERT_STATE_RANK[a.state]
        if a.starts is not None and (starts is None or a.starts < starts):
            starts = a.starts
        if a.ends is not None and (ends is None or a.ends > ends):
            ends = a.ends
        count = max(count, a.count)
    return _with(base, {
        "state": state, "starts": starts, "updated": updated, "ends": ends,
        "origins": _union(*(a.origins for a in copies)),
        "silenced_by": _union(*(a.silenced_by for a in copies)),
        "inhibited_by": _union(*(a.inhibited_by for a in copies)),
        "receivers": _union(*(a.receivers for a in copies)),
        "count": count})


def merge(*lists: Iterable[Alert]) -> list[Alert]:
    """One alert per key, in the order first seen. Copies of one key (two Alertmanagers of an HA pair) become one:
    origins, silences, inhibitions and receivers united; the most pressing state any copy has (FIRING over
    SILENCED: a silence on one of two Alertmanagers mutes nothing, silenced only when every copy is; RESOLVED
    only when every copy is); the earliest start, the latest update; labels and texts of the latest updated."""
    out: dict[str, Alert] = {}
    dup: dict[str, list[Alert]] = {}
    for lst in lists:
        for a in lst:
            had = out.get(a.key)
            if had is None:
                out[a.key] = a
            else:
                dup.setdefault(a.key, [had]).append(a)
    for key, copies in dup.items():
        out[key] = _merge_copies(copies)
    return list(out.values())


# ------------------------------------------------------------------------------------------ correlation
#: Alert names that speak of one condition, whichever source raised them: an Alertmanager rule, the console's
#: platform rule, the kubelet's Warning events. Alerts of one condition on one target are one alert on screen.
CONDITIONS = {
    "KubePodCrashLooping": "crashloop", "NotebookCrashLooping": "crashloop", "ModelServerCrashLooping": "crashloop",
    "KubeContainerWaiting": "waiting", "ErrImagePull": "waiting", "ImagePullBackOff": "waiting",
    "InspectFailed": "waiting",
    "TrainingJobFailed": "job-failed",
    "SeldonDeploymentUnavailable": "unavailable", "DeploymentUnavailable": "unavailable",
    "GPUQuotaNearlyExhausted": "quota", "GpuQuotaHigh": "quota", "KubeQuotaAlmostFull": "quota",
    "KubeNodeNotReady": "not-ready", "NodeNotReady": "not-ready",
}
_SOURCE_RANK = {"alertmanager": 0, "platform": 1, "events": 2}


def condition(a: Alert) -> str:
    """The condition an alert speaks of ("" when none is known)."""
    return condition_of(a.source, a.name, a.summary)


def condition_of(source: str, name: str, summary: str = "") -> str:
    """The condition an alert of ``source`` named ``name`` speaks of (the timeline's entries have these three).
    The kubelet's ``BackOff`` and ``Failed`` events say which by their message: restarting a container (a crash
    loop) or pulling an image (waiting)."""
    if source == "events" and name in ("BackOff", "Failed"):
        text = summary.lower()
        if "image" in text or "pull" in text:
            return "waiting"
        return "crashloop" if name == "BackOff" and "restart" in text else ""
    return CONDITIONS.get(name, "")


def _related(a: Alert) -> str:
    times = f" ×{a.count}" if a.count > 1 else ""
    return f"{a.source}: {a.name}{times}" + (f" ({a.state.value})" if a.state == AlertState.RESOLVED else "")


def correlate(alerts: Iterable[Alert]) -> tuple[list[Alert], dict[str, str]]:
    """One alert per condition and target: the alerts of different sources that speak of the same condition
    (:data:`CONDITIONS`, :func:`condition`) on the same target (namespace, kind, name) are folded into one, the
    most telling: a live one before a resolved one, then the Alertmanager's (it is what silences act on), then the
    platform rule's, then the events'. It keeps its own state (silencing it silences the condition), takes the
    worst severity of the group and lists the others in ``related``. Alerts with no known condition or no target
    pass as they are, in their order.

    Returns the alerts to show and, for each folded one, the key it was folded into."""
    out: list[Alert | None] = []
    at: dict[tuple[str, str, str, str], int] = {}
    groups: dict[int, list[Alert]] = {}
    for a in alerts:
        cond = condition(a) if a.target_kind else ""
        if not cond:
            out.append(a)
            continue
        k = (cond, a.namespace, a.target_kind, a.target_name)
        i = at.get(k)
        if i is None:
            at[k] = len(out)
            out.append(a)
        else:
            groups.setdefault(i, [out[i]]).append(a)
    folded: dict[str, str] = {}
    for i, members in groups.items():
        members.sort(key=lambda a: (a.state == AlertState.RESOLVED, _SOURCE_RANK.get(a.source, 3),
                                    SEVERITY_RANK.get(a.severity, 2)))
        head, rest = members[0], members[1:]
        worst = min((m for m in members if m.state != AlertState.RESOLVED), default=head,
                    key=lambda m: SEVERITY_RANK.get(m.severity, 2))
        out[i] = _with(head, {"severity": worst.severity if SEVERITY_RANK.get(worst.severity, 2)
                              < SEVERITY_RANK.get(head.severity, 2) else head.severity,
                              "related": head.related + tuple(_related(m) for m in rest)})
        for m in rest:
            folded[m.key] = head.key
    return [a for a in out if a is not None], folded


# ------------------------------------------------------------------------------------------ tagging
class Tagger:
    """Tags alerts with the business systems they belong to (:class:`~prophecis_tui.domain.SystemTag`: the
    system and the CMDB rule that matched), through :class:`prophecis_tui.cmdb.Matcher`.

    What is matched: the alert's namespace, its labels, its model deployment (a SeldonDeployment target, else
    the ``seldon_deployment_id`` label) and its node. A node-level alert (a node, no namespace) maps to every
    system with pods on that node: pass ``node_namespaces`` (node -> namespaces with pods there, from the
    state's pods). An alert nothing matches keeps ``systems=()`` ("untagged"): it is never dropped.

    Answers are cached by what matching reads (namespace, the labels the CMDB has rules for, deployment, node and
    for a node-level alert the namespaces on that node). :meth:`update` with the CMDB's systems rebuilds the
    matcher when they changed (the poller passes ``state.kind_version("cmdb")``)."""

    def __init__(self, systems: Iterable[Any] = (), version: int | None = None) -> None:
        self.version: int | None = None
        self._set(tuple(systems), version)

    def _set(self, systems: tuple, version: int | None) -> None:
        self.matcher = Matcher(systems)
        self.version = version
        self._cache: dict[tuple, tuple[SystemTag, ...]] = {}
        m = self.matcher
        self._label_keys = frozenset(m._labels)
        self._all_labels = bool(m._labels_wild.exact or m._labels_wild.patterns)
        self.systems = systems

    def update(self, systems: Iterable[Any], version: int | None = None) -> bool:
        """New CMDB systems (``version``: the state's kind version; unchanged -> nothing done). True if rebuilt."""
        if version is not None and version == self.version:
            return False
        fresh = tuple(systems)
        if version is None and fresh == self.systems:
            return False
        self._set(fresh, version)
        return True

    def tags(self, alert: Alert, node_namespaces: Mapping[str, Iterable[str]] | None = None,
             node_addresses: Mapping[str, tuple[str, ...]] | None = None) -> tuple[SystemTag, ...]:
        if not self.systems:
            return ()
        labels = alert.labels
        if self._all_labels:
            rel = tuple(sorted(labels.items()))
        else:
            keys = self._label_keys
            rel = tuple(sorted((k, v) for k, v in labels.items() if k in keys)) if keys else ()
        deployment = alert.target_name if alert.target_kind == "SeldonDeployment" else labels.get(
            "seldon_deployment_id", "")
        node = alert.node
        on_node: tuple[str, ...] = ()
        if node and not alert.namespace and node_namespaces is not None:
            on_node = tuple(sorted(set(node_namespaces.get(node, ()))))
        addresses = node_addresses.get(node, ()) if node and node_addresses else ()
        key = (alert.namespace, rel, deployment, node, on_node, addresses)
        hit = self._cache.get(key)
        if hit is None:
            matches = self.matcher.match(namespace=alert.namespace or None, labels=dict(rel) if rel else None,
                                         deployment=deployment or None, node=node or None,
                                         node_namespaces=on_node or None, node_addresses=addresses)
            hit = tuple(SystemTag.model_construct(id=m.system.id, name=m.system.name, tier=m.system.tier, kind=m.kind,
                                                  rule=m.rule, owner=m.system.owner, oncall=m.system.oncall)
                        for m in matches)
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def tag(self, alerts: Iterable[Alert], node_namespaces: Mapping[str, Iterable[str]] | None = None,
            node_addresses: Mapping[str, tuple[str, ...]] | None = None) -> list[Alert]:
        """The alerts with ``systems`` set (an alert whose tags did not change is the same object).
        ``node_namespaces``: node -> namespaces with pods on it (for node-level alerts); ``node_addresses``: node ->
        its IPs (a CMDB may list a node by IP)."""
        out = []
        for a in alerts:
            t = self.tags(a, node_namespaces, node_addresses)
            out.append(a if t == a.systems else _with(a, {"systems": t}))
        return out


def node_addresses(nodes: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """node -> its addresses (``domain.Node.addresses``), for the nodes that have any."""
    return {n.name: n.addresses for n in nodes if n.addresses}


def node_namespaces(pods: Iterable[Pod]) -> dict[str, set[str]]:
    """node -> the namespaces with unfinished pods on it (what a node-level alert is tagged through)."""
    out: dict[str, set[str]] = {}
    for p in pods:
        if p.node and p.phase not in ("Succeeded", "Failed"):
            out.setdefault(p.node, set()).add(p.namespace)
    return out


# ------------------------------------------------------------------------------------------ acks
def apply_acks(alerts: Iterable[Alert], acks: Mapping[str, Any]) -> list[Alert]:
    """Local acknowledgements (key -> anything with ``by``, ``note``, ``at``: ``store.Ack``) applied: the ack's
    who, note and when set on the alert, and a FIRING alert becomes ACKED (a silenced, inhibited or resolved one
    keeps its state: the ack is shown beside it). An ack lasts until the alert resolves (the timeline drops it
    then)."""
    out = []
    for a in alerts:
        ack = acks.get(a.key) if acks else None
        if ack is None:
            out.append(a if not a.ack_by else _with(a, {
                "ack_by": "", "ack_note": "", "ack_at": None,
                "state": AlertState.FIRING if a.state == AlertState.ACKED else a.state}))
            continue
        state = AlertState.ACKED if a.state in (AlertState.FIRING, AlertState.ACKED) else a.state
        out.append(_with(a, {"state": state, "ack_by": ack.by, "ack_note": ack.note, "ack_at": ack.at}))
    return out


# ------------------------------------------------------------------------------------------ filter
_SEV_WORDS = {"critical": "critical", "crit": "critical", "c": "critical", "warning": "warning", "warn": "warning",
              "w": "warning", "info": "info", "i": "info"}
_STATE_WORDS = {s.value: (s,) for s in AlertState}
_STATE_WORDS.update({"fire": (AlertState.FIRING,), "ack": (AlertState.ACKED,), "silence": (AlertState.SILENCED,),
                     "inhibit": (AlertState.INHIBITED,), "resolve": (AlertState.RESOLVED,),
                     "active": (AlertState.FIRING, AlertState.ACKED),
                     "muted": (AlertState.SILENCED, AlertState.INHIBITED),
                     "open": (AlertState.FIRING, AlertState.ACKED, AlertState.SILENCED, AlertState.INHIBITED)})
_PREFIXES = {"sev": "sev", "severity": "sev", "sys": "sys", "system": "sys", "ns": "ns", "namespace": "ns",
             "state": "state", "st": "state"}
UNTAGGED_WORDS = ("untagged", "-", "none")


@dataclass(frozen=True)
class AlertFilter:
    """What the alerts screen shows. Every part given must match (AND); values within a part are alternatives
    (OR). Matching is case-insensitive.

    - ``severities``: any of these; ``states``: any of these;
    - ``systems``: a business system whose id or name contains one of these (``untagged``: no system);
    - ``namespaces``: a namespace containing one of these (a pattern with ``*``/``?``: matching it);
    - ``words``: each word appears in the alert's name, summary, target, namespace, node, labels
      (``key=value``), or its systems' names and ids.
    ``problems``: what :func:`parse_filter` could not read (shown beside the filter; the rest still applies)."""

    severities: frozenset[str] = frozenset()
    states: frozenset[AlertState] = frozenset()
    systems: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.severities or self.states or self.systems or self.namespaces or self.words)

    def __str__(self) -> str:
        parts = []
        if self.severities:
            parts.append("sev:" + ",".join(s for s in SEVERITIES if s in self.severities))
        if self.systems:
            parts.append("sys:" + ",".join(self.systems))
        if self.namespaces:
            parts.append("ns:" + ",".join(self.namespaces))
        if self.states:
            parts.append("state:" + ",".join(s.value for s in AlertState if s in self.states))
        parts += [f'"{w}"' if " " in w else w for w in self.words]
        return " ".join(parts)

    def matches(self, a: Alert) -> bool:
        if self.severities and a.severity not in self.severities:
            return False
        if self.states and a.state not in self.states:
            return False
        if self.namespaces:
            ns = a.namespace.casefold()
            if not any((fnmatch.fnmatchcase(ns, p) if ("*" in p or "?" in p) else p in ns) for p in self.namespaces):
                return False
        if self.systems:
            ok = False
            for want in self.systems:
                if want in UNTAGGED_WORDS:
                    ok = not a.systems
                else:
                    ok = any(want in s.id.casefold() or want in s.name.casefold() for s in a.systems)
                if ok:
                    break
            if not ok:
                return False
        if self.words:
            hay = _haystack(a)
            return all(w in hay for w in self.words)
        return True

    def apply(self, alerts: Iterable[Alert]) -> list[Alert]:
        return [a for a in alerts if self.matches(a)] if self else list(alerts)


def _haystack(a: Alert) -> str:
    parts = [a.name, a.summary, a.target, a.namespace, a.node, a.state.value, a.severity]
    parts += [f"{k}={v}" for k, v in a.labels.items()]
    for s in a.systems:
        parts += (s.name, s.id)
    return "\n".join(parts).casefold()


_TOKEN = re.compile(r'(\S+?:)?"([^"]*)"?|(\S+)')


def parse_filter(text: str) -> AlertFilter:
    """``sev:critical sys:反欺诈 ns:ns-risk state:firing some text`` as an :class:`AlertFilter`.

    Prefixes (with aliases): ``sev:``/``severity:`` (critical, warning, info; ``crit``, ``warn``), ``sys:``/
    ``system:`` (a business system's id or name, or part of it; ``untagged``), ``ns:``/``namespace:`` (part of a
    namespace, or a pattern with ``*``), ``state:``/``st:`` (firing, acked, silenced, inhibited, resolved; also
    ``active`` = firing or acked, ``muted`` = silenced or inhibited, ``open`` = not resolved). Several values of
    one prefix: commas (``sev:critical,warning``) or the prefix repeated. Anything else is free text (each word
    must appear; ``"two words"`` in quotes as one). A value that cannot be read is left out and named in
    ``problems``."""
    sev: set[str] = set()
    states: set[AlertState] = set()
    systems: list[str] = []
    namespaces: list[str] = []
    words: list[str] = []
    problems: list[str] = []
    for m in _TOKEN.finditer(text or ""):
        if m.group(3) is not None:
            token = m.group(3)
            prefix, colon, value = token.partition(":")
            quoted = False
        else:
            prefix, colon, value, quoted = (m.group(1) or "").rstrip(":"), ":" if m.group(1) else "", m.group(2), True
        kind = _PREFIXES.get(prefix.casefold()) if colon else None
        if kind is None:
            word = (m.group(0).strip('"') if quoted else m.group(0)).casefold().strip()
            if word:
                words.append(word)
            continue
        values = [value] if quoted else [v for v in value.split(",")]
        for v in (x.strip().casefold() for x in values):
            if not v:
                continue
            if kind == "sev":
                if v in _SEV_WORDS:
                    sev.add(_SEV_WORDS[v])
                else:
                    problems.append(f"sev:{v}: not a severity (critical, warning, info)")
            elif kind == "state":
                if v in _STATE_WORDS:
                    states.update(_STATE_WORDS[v])
                else:
                    problems.append(f"state:{v}: not a state (firing, acked, silenced, inhibited, resolved, "
                                    "active, muted, open)")
            elif kind == "sys":
                systems.append(v)
            else:
                namespaces.append(v)
        if not value.strip() and kind:
            problems.append(f"{prefix}: needs a value")
    return AlertFilter(frozenset(sev), frozenset(states), tuple(dict.fromkeys(systems)),
                       tuple(dict.fromkeys(namespaces)), tuple(words), tuple(problems))


# ------------------------------------------------------------------------------------------ grouping
@dataclass(frozen=True)
class AlertGroup:
    """The alerts of one business system (``system`` None: the untagged ones), most pressing first."""

    system: SystemTag | None
    alerts: tuple[Alert, ...]
    counts: dict[str, int] = field(default_factory=dict)  # FIRING alerts by severity (firing_counts)

    @property
    def key(self) -> str:
        """The system's id, or "" for the untagged group: stable across rounds (keep a cursor on it)."""
        return self.system.id if self.system is not None else ""

    @property
    def title(self) -> str:
        return self.system.name if self.system is not None else "untagged"

    @property
    def tier(self) -> int | None:
        return self.system.tier if self.system is not None else None

    @property
    def worst(self) -> Alert | None:
        return self.alerts[0] if self.alerts else None

    @property
    def active(self) -> int:
        """Alerts firing or acknowledged (still burning)."""
        return sum(1 for a in self.alerts if a.state in (AlertState.FIRING, AlertState.ACKED))


def alert_order(a: Alert) -> tuple:
    """Most pressing first: severity, then state (firing, acked, silenced, inhibited, resolved), then the newest."""
    return (SEVERITY_RANK.get(a.severity, 3), ALERT_STATE_RANK.get(a.state, 9), -_ts(a.starts), a.key)


def _group_order(g: AlertGroup) -> tuple:
    if g.system is None:
        return (2, 0, (), "", "")
    tier = g.system.tier
    return (0 if tier is not None else 1, tier or 0, alert_order(g.alerts[0])[:2] if g.alerts else (9, 9),
            g.system.name, g.system.id)


def group(alerts: Iterable[Alert]) -> list[AlertGroup]:
    """Alerts by business system: tier 1 first, then tier 2 and on, then systems without a tier, the untagged
    last; among systems of one tier, the one with the most pressing alert first, then by name. An alert of two
    systems is in both groups. Within a group: :func:`alert_order`."""
    by: dict[str, tuple[SystemTag | None, list[Alert]]] = {}
    for a in alerts:
        if not a.systems:
            by.setdefault("", (None, []))[1].append(a)
            continue
        for s in a.systems:
            slot = by.get(s.id)
            if slot is None:
                slot = by[s.id] = (s, [])
            slot[1].append(a)
    order: dict[int, tuple] = {}

    def key(a: Alert) -> tuple:
        k = order.get(id(a))
        if k is None:
            k = order[id(a)] = alert_order(a)
        return k

    groups = []
    for system, items in by.values():
        items.sort(key=key)
        groups.append(AlertGroup(system, tuple(items), firing_counts(items)))
    groups.sort(key=_group_order)
    return groups


def firing_counts(alerts: Iterable[Alert]) -> dict[str, int]:
    """How many alerts are FIRING, by severity (every severity present, 0 when none). Acknowledged, silenced,
    inhibited and resolved alerts are not counted: the header counts what nobody has taken in hand yet."""
    out = dict.fromkeys(SEVERITIES, 0)
    for a in alerts:
        if a.state == AlertState.FIRING:
            sev = a.severity if a.severity in out else "info"
            out[sev] += 1
    return out


def top_by_system(alerts: Iterable[Alert], n: int = 5) -> list[AlertGroup]:
    """For the overview: the first ``n`` groups of :func:`group` over the alerts still burning (FIRING or ACKED),
    each with its alerts most pressing first (``worst`` is the one to show)."""
    burning = [a for a in alerts if a.state in (AlertState.FIRING, AlertState.ACKED)]
    return group(burning)[:max(n, 0)]

"""The one action registry: every change to the cluster goes through ``Actions.run``.

In order (DESIGN section 3): refuse in read-only mode; check permission (SelfSubjectAccessReview,
cached by the backend); demand confirmation for dangerous actions and a reason for destructive
ones; write the audit row; call the backend; write the outcome row; write a Kubernetes Event on
the object. The backend refuses mutating calls in read-only mode on its own too: two independent
locks.

A perform returns one line (``str``), ``(message, details)``, or an :class:`Outcome` (which may
say the action did not succeed, e.g. a test prediction answered 500, or put the Event on another
object, e.g. the copy a re-run created). A spec with ``takes_context`` gets a fourth argument,
an :class:`ActionContext` (who, the saved-spec store, the clock, the served API version).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from backends.base import Identity
from backends.k8s_parse import kubeflow_job_state, parse_batch_job, parse_seldon_deployment

from .domain import (BackendError, Conflict, DeploymentState, Forbidden, Invalid, JobState, ModelDeployment, NotFound,
                     ReadOnly)
from .forms import notebook_body, notebook_form_problems, predict_path, sample_payload
from .store import MASK, AuditLog, SavedSpecs, new_action_id, secret_name


@dataclass(frozen=True)
class Target:
    kind: str  # Notebook, TFJob, Pod, SeldonDeployment, ...
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ActionContext:
    """What a perform with ``takes_context`` gets besides the backend, the target and the params."""

    identity: Identity
    saved: SavedSpecs | None
    clock: Callable[[], datetime]
    api_version: str  # the group/version the cluster serves for the spec's resource
    action_id: str = ""


@dataclass
class Outcome:
    """What a perform may return instead of one line."""

    message: str
    details: dict = field(default_factory=dict)
    ok: bool = True  # False: it ran, but did not do what was asked (recorded as an error, no Event)
    event_on: Target | None = None  # the object the Event goes on, when not the target (a re-run's copy)
    event_note: str = ""  # added to the Event's message


@dataclass(frozen=True)
class ActionSpec:
    id: str  # e.g. notebook.stop
    title: str
    verb: str  # for the permission check
    group: str
    resource: str
    perform: Callable[..., Any]  # (backend, target, params[, ctx]) -> str | (str, dict) | Outcome | Result
    describe: Callable[..., str]  # (target, params[, api_version]) -> the exact API call; Actions.describe
    #                               passes the served version to a `served` spec (whose describe defaults it)
    dangerous: bool = False  # asks for confirmation
    destructive: bool = False  # also asks for a reason
    api_version: str = "v1"  # of the target, for the Kubernetes Event written after success
    served: str = ""  # a backend resource ("notebooks"): its served version replaces api_version, and
    #                   describe gets it as a third argument
    takes_context: bool = False  # perform gets an ActionContext as a fourth argument
    audit_params: Callable[[dict], dict] | None = None  # the params as written to the audit row
    precheck: Callable[[ActionContext, Target], str] | None = None  # cheap, local: why it cannot run now ("")
    validate: Callable[[Target, dict], str] | None = None  # local: why these params are refused (""); checked
    #                                                        before the confirmation, nothing is sent when it refuses
    backend: str = ""  # "" the Kubernetes backend; else the name of one in Actions.backends ("alertmanager",
    #                    "timeline"): perform gets that one. The permission check still asks Kubernetes (RBAC)
    event: bool = True  # write a Kubernetes Event on the target after success (False: the target is no object)
    read_only_ok: bool = False  # changes nothing on the platform (a Linkis result saved to a local file): allowed
    #                             in read-only mode, audited all the same

    @property
    def event_reason(self) -> str:
        return "ProphecisTUI" + "".join(w[:1].upper() + w[1:] for w in self.title.split())


class NeedsConfirmation(Exception):
    def __init__(self, call: str, *, title: str = "", needs_reason: bool = False) -> None:
        super().__init__(f"confirm: {call}")
        self.call = call
        self.title = title
        self.needs_reason = needs_reason  # destructive: the same prompt may ask for the reason


class NeedsReason(Exception):
    pass


@dataclass
class Permission:
    allowed: bool
    reason: str = ""


@dataclass
class Result:
    ok: bool
    message: str
    action_id: str = ""
    details: dict = field(default_factory=dict)


def refreshing(refresh: Callable[[], Any] | None) -> Callable[[Outcome], Outcome]:
    """``done(outcome)`` for an action whose effect a poller shows: asks the poller for a round now (its
    ``refresh``), so the change is on screen at once; a failing refresh is let be (the next round shows it)."""
    def done(out: Outcome) -> Outcome:
        if refresh is not None:
            try:
                refresh()
            except Exception:  # the next poll shows it anyway
                pass
        return out
    return done


def _outcome(raw: Any) -> Outcome:
    if isinstance(raw, Outcome):
        return raw
    if isinstance(raw, Result):
        return Outcome(raw.message, dict(raw.details), raw.ok)
    if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[1], dict):
        return Outcome(str(raw[0]), raw[1])
    return Outcome(str(raw))


class Actions:
    def __init__(self, backend: Any, audit: AuditLog, identity: Identity, *, read_only: bool,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 saved: SavedSpecs | None = None, backends: dict[str, Any] | None = None) -> None:
        self.clock = clock
        self.backend = backend
        self.backends: dict[str, Any] = dict(backends or {})  # the other backends specs name (ActionSpec.backend)
        self.audit = audit
        self.identity = identity
        self.read_only = read_only
        # where deployment.stop keeps the spec that deployment.start restores: by default the audit log's file
        self._owns_saved = saved is None and getattr(audit, "path", None) is not None
        self.saved = SavedSpecs(audit.path, clock=audit.clock) if self._owns_saved else saved
        self._specs: dict[str, ActionSpec] = {}
        self._running = 0
        self._idle = threading.Condition()

    def wait_idle(self, timeout: float) -> bool:
        """Until no action is running (each has written its audit record); False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def close(self) -> None:
        """Close what the registry opened itself (the saved-spec store beside the audit log)."""
        if self._owns_saved and self.saved is not None:
            self.saved.close()

    def register(self, spec: ActionSpec) -> None:
        if spec.id in self._specs:
            raise ValueError(f"action {spec.id} is registered twice")
        self._specs[spec.id] = spec

    def spec(self, action: str) -> ActionSpec:
        return self._specs[action]

    def ids(self) -> list[str]:
        return sorted(self._specs)

    def permission(self, action: str, target: Target) -> Permission:
        """May the user do this? For greying out actions with the reason, not hiding them."""
        spec = self._specs[action]
        if self.read_only and not spec.read_only_ok:
            return Permission(False, "read-only mode")
        if spec.backend and spec.backend not in self.backends:
            return Permission(False, f"no {spec.backend} configured")
        if not spec.verb:  # a local action (an acknowledgement in the console's own store): no RBAC to ask
            return Permission(True)
        try:
            if not self.backend.can_i(spec.verb, spec.group, spec.resource, target.namespace):
                return Permission(False, f"{self.identity.user} may not {spec.verb} {spec.resource} "
                                         f"in {target.namespace}")
        except BackendError as err:
            return Permission(False, f"cannot check permission: {err.message}")
        return Permission(True)

    def available(self, action: str, target: Target) -> Permission:
        """Can it run now? ``permission`` plus the spec's own cheap, local check (e.g. a start needs a
        saved spec). For greying out with the reason; an unknown action is simply not available."""
        spec = self._specs.get(action)
        if spec is None:
            return Permission(False, f"no action {action!r}")
        allowed = self.permission(action, target)
        if not allowed.allowed or spec.precheck is None:
            return allowed
        why = spec.precheck(self._context(spec), target)
        return Permission(False, why) if why else allowed

    def namespaces_allowed(self, action: str, namespaces: list[str]) -> list[str]:
        """Those of ``namespaces`` where the action is permitted (e.g. where a notebook may be created)."""
        return [ns for ns in namespaces if self.permission(action, Target("", ns, "")).allowed]

    def api_version(self, action: str) -> str:
        """The group/version the action's call and Event use: what the cluster serves, when the spec says."""
        spec = self._specs[action]
        if not spec.served:
            return spec.api_version
        try:
            return self.backend.api_version(spec.served) or spec.api_version
        except BackendError:
            return spec.api_version

    def describe(self, action: str, target: Target, params: dict | None = None) -> str:
        """The exact API call the action makes, as the confirmation shows it."""
        spec = self._specs[action]
        params = dict(params or {})
        if spec.served:
            return spec.describe(target, params, self.api_version(action))
        return spec.describe(target, params)

    def _context(self, spec: ActionSpec, action_id: str = "") -> ActionContext:
        return ActionContext(self.identity, self.saved, self.clock, self.api_version(spec.id), action_id)

    def _record(self, action_id: str, phase: str, spec: ActionSpec, target: Target, params: dict, reason: str,
                outcome: str, message: str = "") -> None:
        self.audit.write(action_id=action_id, phase=phase, user=self.identity.user, context=self.identity.context,
                         cluster=self.identity.cluster, namespace=target.namespace, action=spec.id,
                         target=str(target), params=params, reason=reason, outcome=outcome, message=message)

    def run(self, action: str, target: Target, *, params: dict | None = None, reason: str = "",
            confirmed: bool = False) -> Result:
        """Do it, or raise ReadOnly / Forbidden / NeedsConfirmation / NeedsReason before anything is called."""
        with self._idle:
            self._running += 1
        try:
            return self._run(action, target, params=params, reason=reason, confirmed=confirmed)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _run(self, action: str, target: Target, *, params: dict | None, reason: str, confirmed: bool) -> Result:
        spec = self._specs[action]
        params = dict(params or {})
        written = spec.audit_params(params) if spec.audit_params is not None else params
        action_id = new_action_id()
        if self.read_only and not spec.read_only_ok:
            self._record(action_id, "refused", spec, target, written, reason, "refused", "read-only mode")
            raise ReadOnly(f"read-only mode: {spec.title.lower()} refused")
        allowed = self.permission(action, target)
        if not allowed.allowed:
            self._record(action_id, "refused", spec, target, written, reason, "refused", allowed.reason)
            raise Forbidden(allowed.reason)
        if spec.validate is not None:
            why = spec.validate(target, params)
            if why:
                self._record(action_id, "refused", spec, target, written, reason, "refused", why)
                raise Invalid(why, status=422)
        if spec.dangerous and not confirmed:
            raise NeedsConfirmation(self.describe(action, target, params), title=spec.title,
                                    needs_reason=spec.destructive)
        if spec.destructive and not reason.strip():
            raise NeedsReason(f"{spec.title} needs a reason")
        self._record(action_id, "before", spec, target, written, reason, "started")
        try:
            ctx = self._context(spec, action_id)
            backend = self.backends[spec.backend] if spec.backend else self.backend
            if spec.takes_context:
                out = _outcome(spec.perform(backend, target, params, ctx))
            else:
                out = _outcome(spec.perform(backend, target, params))
        except BackendError as err:
            self._record(action_id, "after", spec, target, written, reason, "error", err.message)
            return Result(False, err.message, action_id)
        except Exception as err:  # an unexpected failure is recorded too, then surfaces
            self._record(action_id, "after", spec, target, written, reason, "error", f"{type(err).__name__}: {err}")
            raise
        if not out.ok:
            self._record(action_id, "after", spec, target, written, reason, "error", out.message)
            return Result(False, out.message, action_id, out.details)
        note = (self._tell_the_cluster(spec, out.event_on or target, reason, ctx.api_version, out.event_note)
                if spec.event else "")
        self._record(action_id, "after", spec, target, written, reason, "ok", out.message + note)
        return Result(True, out.message, action_id, out.details)

    def _tell_the_cluster(self, spec: ActionSpec, target: Target, reason: str, api_version: str = "",
                          note: str = "") -> str:
        """An Event on the target with the user and the reason; a failure to write it does not undo the action."""
        text = (f"{spec.title} by {self.identity.user} with prophecis-tui" + (f" ({note})" if note else "")
                + (f": {reason}" if reason else ""))
        try:
            self.backend.record_event(target.kind, api_version or spec.api_version, target.namespace, target.name,
                                      spec.event_reason, text, self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"))
        except BackendError as err:
            return f" (event not written: {err.message})"
        return ""


# ------------------------------------------------------------------------------------------ the actions
STOP_ANNOTATION = "kubeflow-resource-stopped"
JOB_RESOURCES = {"TFJob": ("kubeflow.org", "tfjobs"), "PyTorchJob": ("kubeflow.org", "pytorchjobs"),
                 "XGBoostJob": ("kubeflow.org", "xgboostjobs"), "Job": ("batch", "jobs")}
SELDON = "machinelearning.seldon.io"
SELDON_VERSION = f"{SELDON}/v1"
RERUN_LABEL = "prophecis-tui/rerun-of"
RERUN_TRIES = 5
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: What the API server sets on a batch Job and its pod template; a copy that keeps them is rejected.
JOB_GENERATED_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
                        "batch.kubernetes.io/job-name")
PREDICT_PORT = 8000
RESPONSE_LIMIT = 64 * 1024


def _nb_path(api_version: str, ns: str, name: str = "") -> str:
    return f"/apis/{api_version}/namespaces/{ns}/notebooks" + (f"/{name}" if name else "")


# ---------------------------------------------------------------- notebooks
def _stop_notebook(backend: Any, t: Target, p: dict) -> str:
    backend.patch("notebooks", t.namespace, t.name,
                  {"metadata": {"annotations": {STOP_ANNOTATION: p["at"]}}}, what="stop")
    return f"notebook {t.namespace}/{t.name} is stopping"


def _start_notebook(backend: Any, t: Target, p: dict) -> str:
    backend.patch("notebooks", t.namespace, t.name, {"metadata": {"annotations": {STOP_ANNOTATION: None}}},
                  what="start")
    return f"notebook {t.namespace}/{t.name} is starting"


def _delete_notebook(backend: Any, t: Target, p: dict) -> str:
    backend.delete("notebooks", t.namespace, t.name, propagation="Background")
    return f"notebook {t.namespace}/{t.name} deleted with its pod (the workspace on the node is kept)"


def _notebook_form(t: Target, p: dict) -> dict:
    return {**p, "namespace": t.namespace, "name": t.name}


def _create_notebook(backend: Any, t: Target, p: dict, ctx: ActionContext) -> Outcome:
    form = _notebook_form(t, p)
    problems = notebook_form_problems(form)
    if problems:
        raise Invalid("; ".join(problems))
    body = notebook_body(form, ctx.identity.user, ctx.api_version)
    backend.create("notebooks", t.namespace, body)
    gpus = int(form.get("gpus") or 0)
    what = f"{form['image']}, {form['cpu']} CPU, {form['memory']}" + (f", {gpus} GPU" if gpus else "")
    return Outcome(f"notebook {t.namespace}/{t.name} created ({what}); it starts in a moment",
                   {"url": f"/notebook/{t.namespace}/{t.name}", "api_version": ctx.api_version})


def _describe_create_notebook(t: Target, p: dict, api_version: str = "kubeflow.org/v1") -> str:
    gpus = p.get("gpus") or 0
    return (f"POST {_nb_path(api_version, t.namespace)} (Notebook {t.name}: image {p.get('image', '?')}, "
            f"cpu {p.get('cpu', '?')}, memory {p.get('memory', '?')}, {gpus} GPU, "
            f"workspace hostPath {p.get('workspace', '?')})")


# ---------------------------------------------------------------- training jobs
def rerun_name(name: str, taken: set[str] | frozenset[str] = frozenset(), start: int = 1) -> tuple[str, int]:
    """``<name>-rerun-<N>`` with the smallest N >= start that is not taken, cut to a valid DNS label
    (at most 63). A re-run of a re-run counts on: ``x-rerun-1`` -> ``x-rerun-2``."""
    base = re.sub(r"-rerun-\d+$", "", name) or name
    n = max(1, start)
    while True:
        suffix = f"-rerun-{n}"
        candidate = base[:63 - len(suffix)].rstrip("-.") + suffix
        if candidate not in taken and candidate != name:
            return candidate, n
        n += 1


def job_failed(kind: str, obj: dict) -> tuple[bool, str]:
    """(failed?, the state as a word) from the job's conditions."""
    if kind == "Job":
        state = parse_batch_job(obj).state
    else:
        state = kubeflow_job_state(obj.get("status"))[0]
    return state is JobState.FAILED, state.value


def rerun_body(kind: str, old: dict, new_name: str) -> dict:
    """A copy of a job to create under a new name: its spec and its own labels and annotations, nothing
    the server or the controller set (status, uid, resourceVersion, a batch Job's selector and
    controller-uid / job-name labels), labelled ``prophecis-tui/rerun-of=<old name>``."""
    md = old.get("metadata") or {}
    old_name = md.get("name", "")
    spec = copy.deepcopy(old.get("spec") or {})
    labels = dict(md.get("labels") or {})
    annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k != LAST_APPLIED}
    templates: list[dict] = []
    if kind == "Job":
        spec.pop("selector", None)
        spec.pop("manualSelector", None)
        templates.append(spec.get("template") or {})
    else:
        for key, value in spec.items():
            if key.endswith("ReplicaSpecs") and isinstance(value, dict):
                templates += [rs.get("template") or {} for rs in value.values() if isinstance(rs, dict)]
    label_maps = [labels] + [t["metadata"]["labels"] for t in templates
                             if isinstance(t.get("metadata"), dict) and isinstance(t["metadata"].get("labels"), dict)]
    for lm in label_maps:
        if kind == "Job":
            for k in JOB_GENERATED_LABELS:
                lm.pop(k, None)
        if lm.get("training_id") == old_name:  # Prophecis names the training after the job
            lm["training_id"] = new_name
    labels[RERUN_LABEL] = old_name
    meta: dict[str, Any] = {"name": new_name, "namespace": md.get("namespace", ""), "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": old.get("apiVersion"), "kind": old.get("kind") or kind, "metadata": meta, "spec": spec}


def _rerun_job(backend: Any, t: Target, p: dict) -> Outcome:
    plural = JOB_RESOURCES[t.kind][1]
    old = backend.get(plural, t.namespace, t.name)
    failed, state = job_failed(t.kind, old)
    if not failed and not p.get("force"):
        raise Invalid(f"{t.kind} {t.namespace}/{t.name} is {state}, not failed: only a failed job is re-run "
                      "(force=True to copy it anyway)", status=422)
    explicit = (p.get("new_name") or "").strip()
    taken = set(p.get("existing_names") or ()) | {t.name}
    if explicit:
        names = [explicit]
    else:
        names, n = [], 1
        for _ in range(RERUN_TRIES):
            name, n = rerun_name(t.name, taken, n)
            names.append(name)
            n += 1
    for name in names:
        try:
            backend.create(plural, t.namespace, rerun_body(t.kind, old, name))
        except Conflict:
            if explicit:
                raise Conflict(f"{t.kind} {t.namespace}/{name} exists already: choose another name",
                               status=409) from None
            continue
        return Outcome(f"{t.kind} {t.namespace}/{name} created as a re-run of {t.name}",
                       {"name": name, "rerun_of": t.name, "tried": names[:names.index(name) + 1]},
                       event_on=Target(t.kind, t.namespace, name), event_note=f"re-run of {t.name}")
    raise Conflict(f"no free name for the re-run of {t.kind} {t.namespace}/{t.name}: {', '.join(names)} are all "
                   "taken; give new_name", status=409)


def _describe_rerun(t: Target, p: dict) -> str:
    group, plural = JOB_RESOURCES[t.kind]
    base = "/api/v1" if not group else f"/apis/{group}/v1"
    new = (p.get("new_name") or "").strip() or rerun_name(t.name, set(p.get("existing_names") or ()))[0]
    return (f"GET {base}/namespaces/{t.namespace}/{plural}/{t.name}, then POST {base}/namespaces/{t.namespace}/"
            f"{plural} (a copy named {new}, labelled {RERUN_LABEL}={t.name})")


def _rerun_audit(p: dict) -> dict:
    return {k: v for k, v in p.items() if k != "existing_names"}


def _kill_job(backend: Any, t: Target, p: dict) -> str:
    backend.delete(JOB_RESOURCES[t.kind][1], t.namespace, t.name, propagation="Background")
    return f"{t.kind} {t.namespace}/{t.name} deleted with its pods"


def _job_path(t: Target) -> str:
    group, plural = JOB_RESOURCES[t.kind]
    return f"/apis/{group}/v1/namespaces/{t.namespace}/{plural}/{t.name}"


# ---------------------------------------------------------------- model deployments
def _scale(backend: Any, t: Target, p: dict) -> str:
    backend.scale("seldondeployments", t.namespace, t.name, int(p["replicas"]))
    return f"{t.namespace}/{t.name} scaled to {int(p['replicas'])} replicas"


def _sdep_path(t: Target, name: bool = True) -> str:
    return f"/apis/{SELDON_VERSION}/namespaces/{t.namespace}/seldondeployments" + (f"/{t.name}" if name else "")


def restorable(obj: dict) -> dict:
    """What a stop keeps of a SeldonDeployment to create it again: apiVersion, kind, name, namespace,
    labels, annotations (without kubectl's last-applied copy, which may hold secrets) and spec."""
    md = obj.get("metadata") or {}
    meta: dict[str, Any] = {"name": md.get("name"), "namespace": md.get("namespace")}
    if md.get("labels"):
        meta["labels"] = dict(md["labels"])
    annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": obj.get("apiVersion") or SELDON_VERSION, "kind": obj.get("kind") or "SeldonDeployment",
            "metadata": meta, "spec": copy.deepcopy(obj.get("spec") or {})}


def _masked_names(masked: tuple[str, ...] | list[str]) -> str:
    names = [m.rsplit("[", 1)[-1].rstrip("]") for m in masked]
    return ", ".join(dict.fromkeys(names))


def _drop_masked(body: Any) -> Any:
    """The saved body without the entries whose secret value was not saved: restoring '****' as a
    password would be worse than restoring nothing."""
    if isinstance(body, dict):
        return {k: _drop_masked(v) for k, v in body.items()}
    if isinstance(body, list):
        return [_drop_masked(x) for x in body
                if not (isinstance(x, dict) and isinstance(x.get("name"), str) and x.get("value") == MASK
                        and secret_name(x["name"]))]
    return body


def _stop_deployment(backend: Any, t: Target, p: dict, ctx: ActionContext) -> Outcome:
    if ctx.saved is None:
        raise Invalid("stopping keeps the spec in the console's data store, and none is open: nothing done")
    obj = backend.get("seldondeployments", t.namespace, t.name)
    rec = ctx.saved.save(ctx.identity.context, t.namespace, "SeldonDeployment", t.name, restorable(obj),
                         ctx.identity.user, ctx.clock())
    backend.delete("seldondeployments", t.namespace, t.name, propagation="Background")
    message = f"SeldonDeployment {t.namespace}/{t.name} stopped: spec saved, its pods are going"
    if rec.masked:
        message += (f"; {len(rec.masked)} secret value(s) not saved ({_masked_names(rec.masked)}): "
                    "a start will lack them")
    return Outcome(message, {"saved_id": rec.id, "saved_at": rec.at, "masked": list(rec.masked)})


def _start_deployment(backend: Any, t: Target, p: dict, ctx: ActionContext) -> Outcome:
    why = _start_precheck(ctx, t)
    if why:
        raise NotFound(why, status=404)
    assert ctx.saved is not None
    rec = ctx.saved.latest_record(ctx.identity.context, t.namespace, "SeldonDeployment", t.name, pending=True)
    assert rec is not None
    body = _drop_masked(rec.body)
    body.setdefault("metadata", {}).update(name=t.name, namespace=t.namespace)
    try:
        backend.create("seldondeployments", t.namespace, body)
    except Conflict:
        raise Conflict(f"SeldonDeployment {t.namespace}/{t.name} exists already (running, or started again "
                       "meanwhile): nothing restored", status=409) from None
    ctx.saved.mark_restored(rec.id, ctx.identity.user, ctx.clock())
    message = f"SeldonDeployment {t.namespace}/{t.name} started from the spec saved {rec.at} by {rec.saved_by}"
    warnings = []
    if rec.masked:
        warnings.append(f"{len(rec.masked)} secret value(s) were not saved and are missing now "
                        f"({_masked_names(rec.masked)}): set them again")
        message += "; WARNING: " + warnings[0]
    return Outcome(message, {"saved_id": rec.id, "saved_at": rec.at, "saved_by": rec.saved_by,
                             "masked": list(rec.masked), "warnings": warnings})


def _start_precheck(ctx: ActionContext, t: Target) -> str:
    if ctx.saved is None:
        return "no data store open: nothing saved to start from"
    if ctx.saved.latest_record(ctx.identity.context, t.namespace, "SeldonDeployment", t.name, pending=True) is None:
        return f"no saved spec for {t.namespace}/{t.name}: only a deployment stopped with the console can be started"
    return ""


def stopped_deployments(actions: Actions, state: Any = None, namespace: str | None = None) -> list[ModelDeployment]:
    """The SeldonDeployments stopped with the console in this context (spec saved, not started since),
    as rows for the deployments screen: state STOPPED, the reason says when and by whom. Those that
    ``state`` (the live State, optional) holds again are left out."""
    if actions.saved is None:
        return []
    live: set[tuple[str, str]] = set()
    if state is not None and hasattr(state, "deployments"):
        live = {(d.namespace, d.name) for d in state.deployments(namespace)}
    out = []
    for rec in actions.saved.pending(actions.identity.context, namespace):
        if rec.kind != "SeldonDeployment" or (rec.namespace, rec.name) in live:
            continue
        d = parse_seldon_deployment(rec.body)
        out.append(d.model_copy(update={
            "uid": f"saved-{rec.id}", "namespace": rec.namespace, "name": rec.name, "state": DeploymentState.STOPPED, "ready": 0,
            "reason": f"stopped {rec.at[:16].replace('T', ' ')} by {rec.saved_by}"
                      + (f"; {len(rec.masked)} secret value(s) not saved" if rec.masked else "")}))
    return out


def _delete_deployment(backend: Any, t: Target, p: dict) -> str:
    backend.delete("seldondeployments", t.namespace, t.name, propagation="Background")
    return f"SeldonDeployment {t.namespace}/{t.name} deleted (no spec kept: it cannot be started again)"


def _payload(p: dict) -> Any:
    payload = p.get("payload")
    if isinstance(payload, (str, bytes)):
        try:
            return json.loads(payload)
        except ValueError as err:
            raise Invalid(f"the payload is not JSON: {err}", status=400) from None
    return payload


def _predict_target(backend: Any, t: Target, p: dict) -> tuple[str, str, str, Any]:
    """(predictor, service, path, payload), reading the deployment only for what the params leave out."""
    predictor, service, path = p.get("predictor") or "", p.get("service") or "", p.get("path") or ""
    payload = _payload(p)
    if not (predictor and path and payload is not None):
        obj = backend.get("seldondeployments", t.namespace, t.name)
        spec = obj.get("spec") or {}
        preds = [x for x in spec.get("predictors") or [] if isinstance(x, dict)]
        chosen = next((x for x in preds if x.get("name") == predictor), preds[0] if preds and not predictor else None)
        if chosen is None:
            raise NotFound(f"SeldonDeployment {t.namespace}/{t.name} has no predictor {predictor!r}", status=404)
        predictor = predictor or chosen.get("name") or "default"
        graph = chosen.get("graph") or {}
        protocol = spec.get("protocol") or "seldon"
        path = path or predict_path(protocol, graph.get("name") or "model")
        if payload is None:
            payload = sample_payload(graph.get("implementation") or "", protocol)
    return predictor, service or f"{t.name}-{predictor}", path.lstrip("/"), payload


def _predict(backend: Any, t: Target, p: dict) -> Outcome:
    predictor, service, path, payload = _predict_target(backend, t, p)
    port = int(p.get("port") or PREDICT_PORT)
    started = time.perf_counter()
    status, text = backend.proxy_post(t.namespace, service, port, path, payload)
    latency_ms = round((time.perf_counter() - started) * 1000.0, 1)
    raw = text.encode("utf-8", "replace")
    truncated = len(raw) > RESPONSE_LIMIT
    response = raw[:RESPONSE_LIMIT].decode("utf-8", "ignore") if truncated else text
    details = {"status": status, "latency_ms": latency_ms, "response": response, "truncated": truncated,
               "predictor": predictor, "service": service, "port": port, "path": path}
    return Outcome(f"HTTP {status} in {latency_ms:.0f} ms from {service}:{port}/{path}", details,
                   ok=200 <= status < 300)


def _describe_predict(t: Target, p: dict) -> str:
    service = p.get("service") or f"{t.name}-{p.get('predictor') or 'default'}"
    port = int(p.get("port") or PREDICT_PORT)
    path = (p.get("path") or "<the protocol's path>").lstrip("/")
    return (f"POST /api/v1/namespaces/{t.namespace}/services/{service}:{port}/proxy/{path} "
            f"({_payload_size(p)} bytes of JSON)")


def _payload_size(p: dict) -> int:
    payload = p.get("payload")
    if payload is None:
        return 0
    if isinstance(payload, (str, bytes)):
        return len(payload)
    return len(json.dumps(payload, separators=(",", ":"), default=str))


def _predict_audit(p: dict) -> dict:
    return {"predictor": p.get("predictor") or "", "service": p.get("service") or "", "path": p.get("path") or "",
            "port": int(p.get("port") or PREDICT_PORT), "payload_bytes": _payload_size(p)}


# ---------------------------------------------------------------- quota
GPU_BASE_KEY = "requests.nvidia.com/gpu"


def _whole(value: Any) -> int | None:
    """A GPU count given as a whole number (int, or its text); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def quota_patch(p: dict) -> dict:
    """The merge patch of an edit: the base as the hard requests.nvidia.com/gpu, the max as the
    annotation (null removes it: no max)."""
    mx = p.get("max")
    return {"metadata": {"annotations": {p["max_annotation"]: None if mx in (None, "") else str(_whole(mx))}},
            "spec": {"hard": {GPU_BASE_KEY: str(_whole(p["base"]))}}}


def _validate_quota(t: Target, p: dict) -> str:
    """The registry's own check of an edit's params (the screen checks first, with the node capacity
    from the live state: prophecis_tui.quota.validate_quota_edit)."""
    base, mx = _whole(p.get("base")), p.get("max")
    if base is None or base < 0:
        return f"the GPU base must be a whole number of 0 or more, not {p.get('base')!r}"
    if mx not in (None, ""):
        m = _whole(mx)
        if m is None or m < 0:
            return f"the GPU maximum must be a whole number of 0 or more, not {mx!r}"
        if base > m:
            return f"the GPU base ({base}) cannot be above the maximum ({m})"
    cap = p.get("node_gpus")
    if cap is None:
        return "the GPU capacity of the namespace's nodes is not known, so the base cannot be checked"
    if base > int(cap):
        return f"the GPU base ({base}) is above the {int(cap)} GPUs of the nodes the namespace's node selector matches"
    if not p.get("max_annotation"):
        return "no annotation key for the GPU maximum ([quota] max_annotation)"
    return ""


def _quota_path(t: Target) -> str:
    return f"/api/v1/namespaces/{t.namespace}/resourcequotas/{t.name}"


def _edit_quota(backend: Any, t: Target, p: dict) -> Outcome:
    backend.patch("resourcequotas", t.namespace, t.name, quota_patch(p), what="edit quota")
    mx = p.get("max")
    new = f"base {_whole(p['base'])}, max {'none' if mx in (None, '') else _whole(mx)}"
    old = ""
    if "old_base" in p or "old_max" in p:
        def n(v: Any) -> str:
            return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
        old = f" (was base {n(p.get('old_base'))}, max {n(p.get('old_max'))})"
    return Outcome(f"quota {t.namespace}/{t.name}: GPU {new}{old}", {"patch": quota_patch(p)})


def _describe_quota_edit(t: Target, p: dict) -> str:
    body = json.dumps(quota_patch(p), separators=(",", ":"))
    return f"PATCH {_quota_path(t)} (merge) {body}"


def builtin_actions() -> list[ActionSpec]:
    kf = "kubeflow.org"
    v1 = f"{kf}/v1"  # a describe of a `served` spec gets the served version; called with two arguments: v1
    return [
        # notebooks: the path follows the version the cluster serves (v1, or Prophecis's v1alpha1)
        ActionSpec("notebook.stop", "Stop notebook", "patch", kf, "notebooks", _stop_notebook,
                   lambda t, p, v=v1: f"PATCH {_nb_path(v, t.namespace, t.name)} (merge) "
                                      f'{{"metadata":{{"annotations":{{"{STOP_ANNOTATION}":"{p.get("at", "")}"}}}}}}',
                   dangerous=True, api_version=v1, served="notebooks"),
        ActionSpec("notebook.start", "Start notebook", "patch", kf, "notebooks", _start_notebook,
                   lambda t, p, v=v1: f"PATCH {_nb_path(v, t.namespace, t.name)} (merge) "
                                      f'{{"metadata":{{"annotations":{{"{STOP_ANNOTATION}":null}}}}}}',
                   api_version=v1, served="notebooks"),
        ActionSpec("notebook.delete", "Delete notebook", "delete", kf, "notebooks", _delete_notebook,
                   lambda t, p, v=v1: f"DELETE {_nb_path(v, t.namespace, t.name)}?propagationPolicy=Background",
                   dangerous=True, destructive=True, api_version=v1, served="notebooks"),
        ActionSpec("notebook.create", "Create notebook", "create", kf, "notebooks", _create_notebook,
                   _describe_create_notebook, api_version=v1, served="notebooks", takes_context=True),
        # training jobs
        *[ActionSpec(f"job.kill.{kind}", f"Kill {kind}", "delete", group, plural, _kill_job,
                     lambda t, p: f"DELETE {_job_path(t)}?propagationPolicy=Background",
                     dangerous=True, destructive=True, api_version=f"{group}/v1")
          for kind, (group, plural) in JOB_RESOURCES.items()],
        # a re-run takes GPUs from the namespace's quota and is one key away in the list: confirmed
        *[ActionSpec(f"job.rerun.{kind}", f"Rerun {kind}", "create", group, plural, _rerun_job, _describe_rerun,
                     dangerous=True, api_version=f"{group}/v1", audit_params=_rerun_audit)
          for kind, (group, plural) in JOB_RESOURCES.items()],
        # model deployments
        ActionSpec("deployment.scale", "Scale deployment", "patch", SELDON, "seldondeployments/scale", _scale,
                   lambda t, p: (f"PATCH {_sdep_path(t)}/scale (merge) "
                                 f'{{"spec":{{"replicas":{p.get("replicas")}}}}}'),
                   dangerous=True, api_version=SELDON_VERSION),
        ActionSpec("deployment.stop", "Stop deployment", "delete", SELDON, "seldondeployments", _stop_deployment,
                   lambda t, p: (f"GET {_sdep_path(t)} (the spec is saved in the console's store), then "
                                 f"DELETE {_sdep_path(t)}?propagationPolicy=Background"),
                   dangerous=True, destructive=True, api_version=SELDON_VERSION, takes_context=True),
        ActionSpec("deployment.start", "Start deployment", "create", SELDON, "seldondeployments", _start_deployment,
                   lambda t, p: f"POST {_sdep_path(t, name=False)} (SeldonDeployment {t.name} from its saved spec)",
                   api_version=SELDON_VERSION, takes_context=True, precheck=_start_precheck),
        ActionSpec("deployment.delete", "Delete deployment", "delete", SELDON, "seldondeployments",
                   _delete_deployment,
                   lambda t, p: f"DELETE {_sdep_path(t)}?propagationPolicy=Background (no spec is kept)",
                   dangerous=True, destructive=True, api_version=SELDON_VERSION),
        ActionSpec("deployment.predict", "Test prediction", "create", "", "services/proxy", _predict,
                   _describe_predict, api_version=SELDON_VERSION, audit_params=_predict_audit),
        # quota: an admin's change of a tenant's GPU base and max; confirmed, with a reason
        ActionSpec("quota.edit", "Edit quota", "patch", "", "resourcequotas", _edit_quota, _describe_quota_edit,
                   dangerous=True, destructive=True, api_version="v1", validate=_validate_quota),
    ]

"""The one action registry: every change to the cluster goes through ``Actions.run``.

In order (DESIGN section 3): refuse in read-only mode; check permission (SelfSubjectAccessReview,
cached by the backend); demand confirmation for dangerous actions and a reason for destructive
ones; write the audit row; call the backend; write the outcome row. The backend refuses mutating
calls in read-only mode on its own too: two independent locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from backends.base import Identity

from .domain import BackendError, Forbidden, ReadOnly
from .store import AuditLog, new_action_id


@dataclass(frozen=True)
class Target:
    kind: str  # Notebook, TFJob, Pod, SeldonDeployment, ...
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ActionSpec:
    id: str  # e.g. notebook.stop
    title: str
    verb: str  # for the permission check
    group: str
    resource: str
    perform: Callable[[Any, Target, dict], str]  # (backend, target, params) -> what happened, one line
    describe: Callable[[Target, dict], str]  # the exact API call, shown before a dangerous action
    dangerous: bool = False  # asks for confirmation
    destructive: bool = False  # also asks for a reason
    api_version: str = "v1"  # of the target, for the Kubernetes Event written after success

    @property
    def event_reason(self) -> str:
        return "ProphecisTUI" + "".join(w.capitalize() for w in self.title.split())


class NeedsConfirmation(Exception):
    def __init__(self, call: str) -> None:
        super().__init__(f"confirm: {call}")
        self.call = call


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


class Actions:
    def __init__(self, backend: Any, audit: AuditLog, identity: Identity, *, read_only: bool,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.clock = clock
        self.backend = backend
        self.audit = audit
        self.identity = identity
        self.read_only = read_only
        self._specs: dict[str, ActionSpec] = {}

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
        if self.read_only:
            return Permission(False, "read-only mode")
        try:
            if not self.backend.can_i(spec.verb, spec.group, spec.resource, target.namespace):
                return Permission(False, f"{self.identity.user} may not {spec.verb} {spec.resource} "
                                         f"in {target.namespace}")
        except BackendError as err:
            return Permission(False, f"cannot check permission: {err.message}")
        return Permission(True)

    def _record(self, action_id: str, phase: str, spec: ActionSpec, target: Target, params: dict, reason: str,
                outcome: str, message: str = "") -> None:
        self.audit.write(action_id=action_id, phase=phase, user=self.identity.user, context=self.identity.context,
                         cluster=self.identity.cluster, namespace=target.namespace, action=spec.id,
                         target=str(target), params=params, reason=reason, outcome=outcome, message=message)

    def run(self, action: str, target: Target, *, params: dict | None = None, reason: str = "",
            confirmed: bool = False) -> Result:
        """Do it, or raise ReadOnly / Forbidden / NeedsConfirmation / NeedsReason before anything is called."""
        spec = self._specs[action]
        params = dict(params or {})
        action_id = new_action_id()
        if self.read_only:
            self._record(action_id, "refused", spec, target, params, reason, "refused", "read-only mode")
            raise ReadOnly(f"read-only mode: {spec.title.lower()} refused")
        allowed = self.permission(action, target)
        if not allowed.allowed:
            self._record(action_id, "refused", spec, target, params, reason, "refused", allowed.reason)
            raise Forbidden(allowed.reason)
        if spec.dangerous and not confirmed:
            raise NeedsConfirmation(spec.describe(target, params))
        if spec.destructive and not reason.strip():
            raise NeedsReason(f"{spec.title} needs a reason")
        self._record(action_id, "before", spec, target, params, reason, "started")
        try:
            message = spec.perform(self.backend, target, params)
        except BackendError as err:
            self._record(action_id, "after", spec, target, params, reason, "error", err.message)
            return Result(False, err.message, action_id)
        except Exception as err:  # an unexpected failure is recorded too, then surfaces
            self._record(action_id, "after", spec, target, params, reason, "error", f"{type(err).__name__}: {err}")
            raise
        note = self._tell_the_cluster(spec, target, reason)
        self._record(action_id, "after", spec, target, params, reason, "ok", message + note)
        return Result(True, message, action_id)

    def _tell_the_cluster(self, spec: ActionSpec, target: Target, reason: str) -> str:
        """An Event on the target with the user and the reason; a failure to write it does not undo the action."""
        text = f"{spec.title} by {self.identity.user} with prophecis-tui" + (f": {reason}" if reason else "")
        try:
            self.backend.record_event(target.kind, spec.api_version, target.namespace, target.name,
                                      spec.event_reason, text, self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"))
        except BackendError as err:
            return f" (event not written: {err.message})"
        return ""


# ------------------------------------------------------------------------------------------ the actions
STOP_ANNOTATION = "kubeflow-resource-stopped"
JOB_RESOURCES = {"TFJob": ("kubeflow.org", "tfjobs"), "PyTorchJob": ("kubeflow.org", "pytorchjobs"),
                 "XGBoostJob": ("kubeflow.org", "xgboostjobs"), "Job": ("batch", "jobs")}


def _stop_notebook(backend: Any, t: Target, p: dict) -> str:
    backend.patch("notebooks", t.namespace, t.name,
                  {"metadata": {"annotations": {STOP_ANNOTATION: p["at"]}}}, what="stop")
    return f"notebook {t.namespace}/{t.name} is stopping"


def _start_notebook(backend: Any, t: Target, p: dict) -> str:
    backend.patch("notebooks", t.namespace, t.name, {"metadata": {"annotations": {STOP_ANNOTATION: None}}},
                  what="start")
    return f"notebook {t.namespace}/{t.name} is starting"


def _kill_job(backend: Any, t: Target, p: dict) -> str:
    backend.delete(JOB_RESOURCES[t.kind][1], t.namespace, t.name, propagation="Background")
    return f"{t.kind} {t.namespace}/{t.name} deleted with its pods"


def _scale(backend: Any, t: Target, p: dict) -> str:
    backend.scale("seldondeployments", t.namespace, t.name, int(p["replicas"]))
    return f"{t.namespace}/{t.name} scaled to {int(p['replicas'])} replicas"


def builtin_actions() -> list[ActionSpec]:
    nb = "/apis/kubeflow.org/v1/namespaces/{ns}/notebooks/{name}"
    return [
        ActionSpec("notebook.stop", "Stop notebook", "patch", "kubeflow.org", "notebooks", _stop_notebook,
                   lambda t, p: f"PATCH {nb.format(ns=t.namespace, name=t.name)} (merge) "
                                f'{{"metadata":{{"annotations":{{"{STOP_ANNOTATION}":"{p.get("at", "")}"}}}}}}',
                   dangerous=True, api_version="kubeflow.org/v1"),
        ActionSpec("notebook.start", "Start notebook", "patch", "kubeflow.org", "notebooks", _start_notebook,
                   lambda t, p: f"PATCH {nb.format(ns=t.namespace, name=t.name)} (merge) "
                                f'{{"metadata":{{"annotations":{{"{STOP_ANNOTATION}":null}}}}}}',
                   api_version="kubeflow.org/v1"),
        *[ActionSpec(f"job.kill.{kind}", f"Kill {kind}", "delete", group, plural, _kill_job,
                     lambda t, p, group=group, plural=plural: (
                         f"DELETE /apis/{group}/v1/namespaces/{t.namespace}/{plural}/{t.name}"
                         "?propagationPolicy=Background"),
                     dangerous=True, destructive=True, api_version=f"{group}/v1")
          for kind, (group, plural) in JOB_RESOURCES.items()],
        ActionSpec("deployment.scale", "Scale deployment", "patch", "machinelearning.seldon.io",
                   "seldondeployments/scale", _scale,
                   lambda t, p: (f"PATCH /apis/machinelearning.seldon.io/v1/namespaces/{t.namespace}/"
                                 f"seldondeployments/{t.name}/scale (merge) "
                                 f'{{"spec":{{"replicas":{p.get("replicas")}}}}}'),
                   dangerous=True, api_version="machinelearning.seldon.io/v1"),
    ]

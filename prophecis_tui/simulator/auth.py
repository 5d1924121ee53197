"""Who is calling (bearer tokens) and what they may do (RBAC-like rules)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    namespaces: frozenset[str] | None = None  # None: every namespace and the cluster scope

    def allows(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        if "*" not in self.verbs and verb not in self.verbs:
            return False
        if "*" not in self.groups and group not in self.groups:
            return False
        if "*" not in self.resources and resource not in self.resources:
            base, _, sub = resource.partition("/")
            if not (sub and f"*/{sub}" in self.resources):
                return False
        if self.namespaces is not None and (namespace is None or namespace not in self.namespaces):
            return False
        return True

    def to_wire(self) -> dict:
        return {"verbs": sorted(self.verbs), "apiGroups": sorted(self.groups), "resources": sorted(self.resources)}


def rule(verbs, groups, resources, namespaces=None) -> Rule:
    return Rule(frozenset(verbs), frozenset(groups), frozenset(resources),
                None if namespaces is None else frozenset(namespaces))


@dataclass
class Identity:
    role: str  # admin | group-admin | viewer
    user: str
    token: str
    groups: tuple[str, ...]
    rules: list[Rule] = field(default_factory=list)
    namespaces: tuple[str, ...] = ()  # where a group admin may act

    def can(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        if group == "authorization.k8s.io" and resource in ("selfsubjectaccessreviews", "selfsubjectrulesreviews"):
            return verb == "create"  # every authenticated user may ask about itself
        return any(r.allows(verb, group, resource, namespace) for r in self.rules)

    def rules_for(self, namespace: str) -> list[dict]:
        out = [{"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}]
        for r in self.rules:
            if r.namespaces is None or namespace in r.namespaces:
                out.append(r.to_wire())
        return out


READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete")
ALL_GROUPS = ("", "batch", "kubeflow.org", "machinelearning.seldon.io")
WORKLOADS = {
    "kubeflow.org": ("notebooks", "tfjobs", "pytorchjobs", "xgboostjobs"),
    "batch": ("jobs",),
    "machinelearning.seldon.io": ("seldondeployments", "seldondeployments/scale"),
}


GPU_MONITORING_NS = ("monitoring", "gpu-operator")  # where a group admin may read the GPU monitoring Services


def token_for(seed: int, role: str) -> str:
    digest = hashlib.sha256(f"prophecis-sim:{seed}:{role}".encode()).hexdigest()[:24]
    return f"sim-{role}-{digest}"


def make_identities(seed: int, ga_namespaces: list[str]) -> list[Identity]:
    admin = Identity("admin", "mlss-admin", token_for(seed, "admin"), ("system:masters", "system:authenticated"),
                     [rule(["*"], ["*"], ["*"])])
    ga_rules = [
        rule(READ, [""], ["namespaces", "nodes"]),
        rule(READ, ["*"], ["*"], ga_namespaces),
        rule(["get"], [""], ["pods/log"], ga_namespaces),
        rule(["create", "get"], [""], ["services/proxy"], ga_namespaces),  # test predictions to their models
        # the GPU dashboards' RoleBinding in the monitoring namespaces: find the Services, read them through the
        # proxy; and, as a Prometheus' role has it, their Endpoints and each exporter pod through the pods proxy
        # (an exporter Service of a DaemonSet answers for one node per request)
        rule(["get", "list"], [""], ["services", "endpoints"], GPU_MONITORING_NS),
        rule(["get"], [""], ["services/proxy"], GPU_MONITORING_NS),
        rule(["get"], [""], ["pods/proxy"], GPU_MONITORING_NS),
    ]
    for group, plurals in WORKLOADS.items():
        ga_rules.append(rule(WRITE, [group], plurals, ga_namespaces))
    # silencing their own namespaces' alerts (what a console asks before it posts a silence to the Alertmanager)
    ga_rules.append(rule(["create", "delete"], ["monitoring.coreos.com"], ["silences"], ga_namespaces))
    ga = Identity("group-admin", "lihua", token_for(seed, "group-admin"),
                  ("gp-risk-ml", "system:authenticated"), ga_rules, tuple(ga_namespaces))
    viewer = Identity("viewer", "opsview", token_for(seed, "viewer"), ("gp-ops-wall", "system:authenticated"),
                      [rule(READ, ["*"], ["*"]), rule(["get"], [""], ["pods/log"])])
    return [admin, ga, viewer]

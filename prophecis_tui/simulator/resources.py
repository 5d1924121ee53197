"""The resource types the simulated API server knows, and what discovery says of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")
COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    versions: tuple[str, ...]  # the first is the preferred and storage version
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: dict[str, str] = field(default_factory=dict)  # name -> kind ("status": same kind)
    categories: tuple[str, ...] = ()
    fields: tuple[str, ...] = COMMON_FIELDS
    builtin: bool = True  # built-in kinds take strategic merge; custom resources answer 415

    @cached_property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"

    @cached_property
    def qualified(self) -> str:
        """`pods` or `notebooks.kubeflow.org`, as it appears in Status messages."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str | None = None) -> str:
        v = version or self.versions[0]
        return v if not self.group else f"{self.group}/{v}"


_pod_fields = COMMON_FIELDS + (
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
    "status.phase", "status.podIP", "status.nominatedNodeName",
)
_event_fields = COMMON_FIELDS + (
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type",
)
_KF = "kubeflow.org"
_STATUS = {"status": ""}

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", ("v1",), "namespaces", "Namespace", False, "namespace", ("ns",),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
                 subresources={"status": ""}, fields=COMMON_FIELDS + ("status.phase",)),
    ResourceType("", ("v1",), "nodes", "Node", False, "node", ("no",), subresources=dict(_STATUS),
                 fields=COMMON_FIELDS + ("spec.unschedulable",)),
    ResourceType("", ("v1",), "pods", "Pod", True, "pod", ("po",),
                 subresources={"status": "", "log": "Pod"}, categories=("all",), fields=_pod_fields),
    ResourceType("", ("v1",), "events", "Event", True, "event", ("ev",), fields=_event_fields),
    ResourceType("", ("v1",), "resourcequotas", "ResourceQuota", True, "resourcequota", ("quota",),
                 subresources=dict(_STATUS)),
    ResourceType("", ("v1",), "services", "Service", True, "service", ("svc",),
                 subresources=dict(_STATUS), categories=("all",)),
    ResourceType("", ("v1",), "configmaps", "ConfigMap", True, "configmap", ("cm",)),
    # made on read from the Services' pods (predict.ServiceProxy.endpoints_of): get and list only
    ResourceType("", ("v1",), "endpoints", "Endpoints", True, "endpoints", ("ep",), verbs=("get", "list")),
    ResourceType("batch", ("v1",), "jobs", "Job", True, "job", (), subresources=dict(_STATUS),
                 categories=("all",), fields=COMMON_FIELDS + ("status.successful",)),
    ResourceType(_KF, ("v1", "v1beta1", "v1alpha1"), "notebooks", "Notebook", True, "notebook", ("nb",),
                 subresources=dict(_STATUS), builtin=False),
    ResourceType(_KF, ("v1",), "tfjobs", "TFJob", True, "tfjob", (), subresources=dict(_STATUS),
                 categories=("kubeflow",), builtin=False),
    ResourceType(_KF, ("v1",), "pytorchjobs", "PyTorchJob", True, "pytorchjob", (),
                 subresources=dict(_STATUS), categories=("kubeflow",), builtin=False),
    ResourceType(_KF, ("v1",), "xgboostjobs", "XGBoostJob", True, "xgboostjob", (),
                 subresources=dict(_STATUS), categories=("kubeflow",), builtin=False),
    ResourceType("machinelearning.seldon.io", ("v1",), "seldondeployments", "SeldonDeployment", True,
                 "seldondeployment", ("sdep",), subresources={"status": "", "scale": "Scale"},
                 builtin=False),
    ResourceType("authorization.k8s.io", ("v1",), "selfsubjectaccessreviews",
                 "SelfSubjectAccessReview", False, "", (), verbs=("create",)),
    ResourceType("authorization.k8s.io", ("v1",), "selfsubjectrulesreviews",
                 "SelfSubjectRulesReview", False, "", (), verbs=("create",)),
    # `kubectl auth whoami`: who the server says the caller is (GA in 1.28)
    ResourceType("authentication.k8s.io", ("v1",), "selfsubjectreviews",
                 "SelfSubjectReview", False, "", (), verbs=("create",)),
)

REVIEW_GROUPS = ("authorization.k8s.io", "authentication.k8s.io")  # POST-only reviews, nothing stored

BY_KEY: dict[str, ResourceType] = {r.key: r for r in RESOURCES}


def find(group: str, version: str, plural: str) -> ResourceType | None:
    r = BY_KEY.get(f"{group}/{plural}")
    if r is None or version not in r.versions:
        return None
    return r


def groups() -> dict[str, list[str]]:
    """Group name -> served versions, preferred first, in a stable order."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if not r.group:
            continue
        vs = out.setdefault(r.group, [])
        for v in r.versions:
            if v not in vs:
                vs.append(v)
    return out


def resource_list(group: str, version: str) -> dict | None:
    """The APIResourceList of one group/version, as `kubectl api-resources` reads it."""
    items = []
    for r in RESOURCES:
        if r.group != group or version not in r.versions:
            continue
        entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        if r.group and r.builtin is False:
            entry["storageVersionHash"] = ""
        items.append(entry)
        for sub, kind in r.subresources.items():
            verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
            sub_entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                         "kind": kind or r.kind, "verbs": verbs}
            if sub == "scale":
                sub_entry["group"] = "autoscaling"
                sub_entry["version"] = "v1"
            items.append(sub_entry)
    if not items:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": version if not group else f"{group}/{version}", "resources": items}

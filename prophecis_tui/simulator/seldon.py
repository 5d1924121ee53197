"""Seldon Core v1 operator: a SeldonDeployment becomes model-server pods and a service."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from .clock import rfc3339
from .controllers import plan_for, pod_runtime, user_of
from .engine import SERVICES, Engine, PodRT, stable_hex
from .errors import ApiError
from .objects import container, owner_ref, pod, pod_spec, service
from .resources import BY_KEY

SDEPS = BY_KEY["machinelearning.seldon.io/seldondeployments"]
PREPACKAGED = {
    "SKLEARN_SERVER": "seldonio/sklearnserver:1.18.1",
    "XGBOOST_SERVER": "seldonio/xgboostserver:1.18.1",
    "TENSORFLOW_SERVER": "seldonio/tfserving-proxy:1.18.1",
    "MLFLOW_SERVER": "seldonio/mlflowserver:1.18.1",
}
EXECUTOR_IMAGE = "seldonio/seldon-core-executor:1.18.1"
PROGRESS_DEADLINE = 600.0


def predictors_of(obj: dict) -> list[dict]:
    return [p for p in (obj.get("spec") or {}).get("predictors") or [] if isinstance(p, dict)] or [{"name": "default"}]


def predictor_replicas(obj: dict, pred: dict) -> int:
    """The most specific count wins, as in Seldon Core: the component's, the predictor's, the spec's, else 1."""
    comp = (pred.get("componentSpecs") or [{}])[0] or {}
    for value in (comp.get("replicas"), pred.get("replicas"), (obj.get("spec") or {}).get("replicas")):
        if value is not None:
            return int(value)
    return 1


def deployment_name(sdep: str, pred: dict) -> str:
    """The operator's Deployment for a predictor: <sdep>-<predictor>-0-<containers>, hashed past 63 chars."""
    comp = ((pred.get("componentSpecs") or [{}])[0] or {}).get("spec") or {}
    names = [c.get("name", "") for c in comp.get("containers") or []] or [(pred.get("graph") or {}).get("name",
                                                                                                       "classifier")]
    dep = f"{sdep}-{pred.get('name', 'default')}-0-{'-'.join(names)}"
    return dep if len(dep) <= 63 else "seldon-" + stable_hex(dep, 32)


def desired_replicas(obj: dict) -> int:
    """What the scale subresource reads (its specReplicasPath is .spec.replicas): the spec's count, else
    the first predictor's."""
    spec = obj.get("spec") or {}
    if spec.get("replicas") is not None:
        return int(spec["replicas"])
    return predictor_replicas(obj, predictors_of(obj)[0])


@dataclass
class SdepRT:
    ns: str
    name: str
    uid: str
    outcome: str
    rate: float
    pods: dict[str, list[str]] = field(default_factory=dict)  # predictor name -> its pods
    seq: int = 0
    deadline_gen: int = 0
    since: float = 0.0


class SeldonController:
    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.store = engine.store
        self.deps: dict[tuple[str, str], SdepRT] = {}
        engine.store.add_listener(self._on_change)
        engine.pod_hooks[SDEPS.key] = self._on_pod

    def _on_change(self, rt, etype: str, old: dict | None, new: dict | None) -> None:
        if rt is not SDEPS:
            return
        md = (new or old)["metadata"]
        k = (md["namespace"], md["name"])
        if etype == "DELETED":
            self.e.soon(self._cleanup, k, self.deps.pop(k, None))
        elif old is None or (old.get("spec") != (new or {}).get("spec")):
            self.e.soon(self.reconcile, *k)

    def reconcile(self, ns: str, name: str) -> None:
        obj = self.store.get(SDEPS, ns, name)
        if obj is None:
            return
        d = self.deps.get((ns, name))
        now = self.e.now()
        if d is None:
            plan = plan_for(self.e, SDEPS, obj, {"succeed": 88, "pullfail": 6, "crash": 6}, (3600, 3600),
                            rate=(0.5, 5.0))
            d = SdepRT(ns, name, obj["metadata"]["uid"], plan.outcome, plan.rate)
            self.deps[(ns, name)] = d
        d.since = now
        d.deadline_gen += 1
        self.e.after(PROGRESS_DEADLINE, self._deadline, d, d.deadline_gen)
        owner = owner_ref(SDEPS.api_version(), "SeldonDeployment", name, d.uid)
        preds = predictors_of(obj)
        for i, pred in enumerate(preds):
            pname = pred.get("name", "default")
            svc = f"{name}-{pname}"
            if self.store.get(SERVICES, ns, svc) is None:
                ip = f"10.97.{int(stable_hex(d.uid, 4), 16) % 250}.{(int(stable_hex(d.uid + 's', 4), 16) + i) % 250 + 2}"
                self.store.create(SERVICES, service(
                    ns, svc, {"seldon-app": svc},
                    [{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": 8000},
                     {"name": "grpc", "port": 5001, "protocol": "TCP", "targetPort": 5001}], now,
                    labels={"seldon-app": svc, "seldon-deployment-id": name}, owner=owner, cluster_ip=ip))
            mine = d.pods.setdefault(pname, [])
            live = [pn for pn in mine if (q := self.e.pod_rt(ns, pn)) is not None and not q.deleting]
            want = predictor_replicas(obj, pred)
            while len(live) > want:
                victim = live.pop()
                self.e.delete_pod(ns, victim)
            while len(live) < want:
                pn = self._create_pod(obj, d, pred)
                if pn is None:
                    break
                live.append(pn)
        names = {p.get("name", "default") for p in preds}
        for pname in [p for p in d.pods if p not in names]:  # a predictor removed from the spec
            for pn in d.pods.pop(pname):
                if (q := self.e.pod_rt(ns, pn)) is not None and not q.deleting:
                    self.e.delete_pod(ns, pn)
            if self.store.get(SERVICES, ns, f"{name}-{pname}") is not None:
                self.store.delete(SERVICES, ns, f"{name}-{pname}")
        for pname in d.pods:
            d.pods[pname] = [pn for pn in d.pods[pname] if self.e.pod_rt(ns, pn) is not None]
        self._write_status(d)

    def _create_pod(self, obj: dict, d: SdepRT, pred: dict) -> str | None:
        graph = pred.get("graph") or {}
        comp = ((pred.get("componentSpecs") or [{}])[0].get("spec") or {})
        model = graph.get("name", "classifier")
        cspecs = [dict(c) for c in comp.get("containers") or []]
        impl = graph.get("implementation")
        image = PREPACKAGED.get(impl or "")
        if not cspecs:
            cspecs = [container(model, image or "seldonio/mock_classifier:1.18.1", cpu="1", memory="2Gi")]
        for c in cspecs:
            if not c.get("image"):
                c["image"] = image or "seldonio/mock_classifier:1.18.1"
            c.setdefault("imagePullPolicy", "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
        dep = deployment_name(d.name, pred)
        rs_hash = stable_hex(f"{dep}:{obj['metadata'].get('generation', 1)}", 10)
        d.seq += 1
        rnd = random.Random(f"{d.uid}:{d.seq}")
        suffix = "".join(rnd.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        pname = f"{dep}-{rs_hash}-{suffix}"
        executor = container("seldon-container-engine", EXECUTOR_IMAGE, cpu="100m", memory="512Mi",
                             ports=[{"containerPort": 8000, "name": "http", "protocol": "TCP"},
                                    {"containerPort": 5001, "name": "grpc", "protocol": "TCP"}])
        spec = pod_spec(cspecs + [executor], grace=20)
        labels = {"seldon-deployment-id": d.name, "seldon-app": f"{d.name}-{pred.get('name', 'default')}",
                  "app": dep, "version": pred.get("name", "default"), "fluentd": "true",
                  "app.kubernetes.io/managed-by": "seldon-core", "pod-template-hash": rs_hash,
                  "MLSS-USER": user_of(obj)}
        body = pod(d.ns, pname, labels, spec, owner=owner_ref("apps/v1", "ReplicaSet", f"{dep}-{rs_hash}",
                                                               stable_hex(f"rs:{dep}:{rs_hash}", 32)),
                   annotations={"prometheus.io/path": "/prometheus", "prometheus.io/scrape": "true"},
                   generate_name=f"{dep}-{rs_hash}-")
        fate = {"pullfail": "pullfail", "crash": "crash"}.get(d.outcome, "run")
        prt = pod_runtime(body, "seldon", (SDEPS.key, d.ns, d.name),
                          {"model": model, "deployment": d.name, "user": user_of(obj)}, rate=d.rate, fate=fate,
                          failure="ImportError", crash_after=8.0, ready_delay=5.0)
        for c in prt.containers:
            if c.name == "seldon-container-engine":
                c.fate, c.profile = "run", "platform"
        rs_ref = {"kind": "ReplicaSet", "namespace": d.ns, "name": f"{dep}-{rs_hash}",
                  "uid": stable_hex(f"rs:{dep}:{rs_hash}", 32), "apiVersion": "apps/v1"}
        try:
            self.e.create_pod(body, prt)
        except ApiError as err:
            self.e.event(rs_ref, "Warning", "FailedCreate", f"Error creating: {err.message}", "replicaset-controller")
            self.e.after(60.0, self.reconcile, d.ns, d.name)
            return None
        self.e.event(rs_ref, "Normal", "SuccessfulCreate", f"Created pod: {pname}", "replicaset-controller")
        d.pods.setdefault(pred.get("name", "default"), []).append(pname)
        return pname

    def _on_pod(self, p: PodRT) -> None:
        d = self.deps.get((p.owner[1], p.owner[2]))
        if d is None:
            return
        if p.key not in self.e.pods:
            for pname in d.pods:
                d.pods[pname] = [pn for pn in d.pods[pname] if pn != p.name]
            self.e.soon(self.reconcile, d.ns, d.name)
            return
        self._write_status(d)

    def _deadline(self, d: SdepRT, gen: int) -> None:
        if gen != d.deadline_gen:
            return
        self._write_status(d, deadline_passed=True)

    def _write_status(self, d: SdepRT, deadline_passed: bool = False) -> None:
        obj = self.store.get(SDEPS, d.ns, d.name)
        if obj is None:
            return
        now = self.e.now()
        old = obj.get("status") or {}
        preds = predictors_of(obj)
        per: list[tuple[dict, list[PodRT], int]] = []  # predictor, its pods, how many are ready
        for pred in preds:
            pods = [q for pn in d.pods.get(pred.get("name", "default"), [])
                    if (q := self.e.pod_rt(d.ns, pn)) is not None and not q.deleting]
            per.append((pred, pods, sum(1 for q in pods if q.containers and all(c.ready for c in q.containers))))
        ready = sum(r for _, _, r in per)
        all_ready = all(r >= predictor_replicas(obj, pred) for pred, _, r in per)
        first = preds[0]
        pname = first.get("name", "default")
        graph = first.get("graph") or {}
        if all_ready:
            state, desc = "Available", ""
        elif old.get("state") == "Failed" or deadline_passed:
            state, desc = "Failed", "Deployment is no longer progressing and not available."
        else:
            state, desc = "Creating", ""
        t = rfc3339(now)
        ok = state == "Available"
        protocol = (obj.get("spec") or {}).get("protocol", "seldon")
        path = {"v2": f"/v2/models/{graph.get('name', 'model')}/infer",
                "kfserving": f"/v2/models/{graph.get('name', 'model')}/infer",
                "tensorflow": f"/v1/models/{graph.get('name', 'model')}:predict"}.get(protocol, "/api/v1.0/predictions")
        svc = f"{d.name}-{pname}"
        deployments = {}
        for pred, pods, r in per:
            dep_name = pods[0].name.rsplit("-", 2)[0] if pods else deployment_name(d.name, pred)
            deployments[dep_name] = {"name": dep_name, "replicas": len(pods), "availableReplicas": r,
                                     **({"status": state, "description": desc} if desc else {})}
        services = {f"{d.name}-{p.get('name', 'default')}": {
            "svcName": f"{d.name}-{p.get('name', 'default')}",
            "httpEndpoint": f"{d.name}-{p.get('name', 'default')}.{d.ns}:8000",
            "grpcEndpoint": f"{d.name}-{p.get('name', 'default')}.{d.ns}:5001"} for p in preds}

        def c(ctype: str, good: bool, reason: str) -> dict:
            prev = next((x for x in old.get("conditions", []) if x["type"] == ctype), None)
            status = "True" if good else "False"
            when = prev["lastTransitionTime"] if prev and prev["status"] == status else t
            return {"type": ctype, "status": status, "reason": reason, "lastTransitionTime": when}

        status = {
            "state": state, "replicas": ready, "observedGeneration": obj["metadata"].get("generation", 1),
            "selector": f"seldon-deployment-id={d.name}",
            "address": {"url": f"http://{svc}.{d.ns}.svc.cluster.local:8000{path}"},
            "deploymentStatus": deployments,
            "serviceStatus": services,
            "conditions": [
                c("DeploymentsReady", ok, "Deployments are ready" if ok else "Deployments not ready"),
                c("PdbsReady", True, "All pdbs are reconciled"),
                c("HpasReady", True, "No HPAs defined"),
                c("ServicesReady", True, "All services created"),
                c("Ready", ok, "" if ok else "Deployments not ready"),
            ],
        }
        if desc:
            status["description"] = desc
        if state != old.get("state") and state in ("Available", "Failed"):
            self.e.event({"kind": "SeldonDeployment", "namespace": d.ns, "name": d.name, "uid": d.uid,
                          "apiVersion": SDEPS.api_version()}, "Normal" if ok else "Warning",
                         "Updated" if ok else "DeploymentFailed",
                         f"Updated SeldonDeployment {d.name}" if ok else desc, "seldon-controller-manager")
        self.store.set_status(SDEPS, d.ns, d.name, status)

    def _cleanup(self, k: tuple[str, str], d: SdepRT | None) -> None:
        ns, name = k
        names = ([pn for pods in d.pods.values() for pn in pods] if d is not None
                 else [q.name for q in self.e.pods.values() if q.owner == (SDEPS.key, ns, name)])
        for pn in list(names):
            q = self.e.pod_rt(ns, pn)
            if q is not None and not q.deleting:
                self.e.delete_pod(ns, pn)
        for svc in list(self.store.objects(SERVICES, ns)):
            if (svc["metadata"].get("labels") or {}).get("seldon-deployment-id") == name:
                self.store.delete(SERVICES, ns, svc["metadata"]["name"])

"""The Kubeflow notebook controller (the Prophecis fork): a Notebook becomes pod `<name>-0`."""

from __future__ import annotations

import json

from .clock import rfc3339
from .controllers import pod_runtime, plan_for
from .engine import CONFIGMAPS, PODS, SERVICES, Engine, PodRT, stable_hex
from .errors import ApiError
from .objects import STOP_ANN, owner_ref, pod, service
from .resources import BY_KEY

NOTEBOOKS = BY_KEY["kubeflow.org/notebooks"]


class NotebookController:
    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.store = engine.store
        engine.store.add_listener(self._on_change)
        engine.pod_hooks[NOTEBOOKS.key] = self._on_pod
        self._retry: set[tuple[str, str]] = set()

    def _on_change(self, rt, etype: str, old: dict | None, new: dict | None) -> None:
        if rt is not NOTEBOOKS:
            return
        obj = new or old
        md = obj["metadata"]
        if etype == "DELETED":
            self.e.soon(self._cleanup, md["namespace"], md["name"])
        elif old is None or _spec_or_ann(old) != _spec_or_ann(new):
            self.e.soon(self.reconcile, md["namespace"], md["name"])

    def _sts_uid(self, nb: dict) -> str:
        u = stable_hex(f"sts:{nb['metadata']['uid']}", 32)
        return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"

    def reconcile(self, ns: str, name: str) -> None:
        nb = self.store.get(NOTEBOOKS, ns, name)
        if nb is None:
            return
        stopped = STOP_ANN in (nb["metadata"].get("annotations") or {})
        pod_name = f"{name}-0"
        existing = self.e.pod_rt(ns, pod_name)
        if self.store.get(SERVICES, ns, name) is None:
            uid = nb["metadata"]["uid"]
            self.store.create(SERVICES, service(
                ns, name, {"statefulset": name},
                [{"name": f"http-{name}", "port": 80, "protocol": "TCP", "targetPort": 8888}], self.e.now(),
                owner=owner_ref(NOTEBOOKS.api_version(), "Notebook", name, uid),
                cluster_ip=f"10.96.{int(stable_hex(uid, 4), 16) % 250}.{int(stable_hex(uid + 's', 4), 16) % 250 + 2}"))
        if stopped:
            if existing is not None and not existing.deleting:
                self.e.delete_pod(ns, pod_name)
            self._write_status(ns, name)
            return
        if existing is None and self.store.get(PODS, ns, pod_name) is None:
            self._create_pod(nb)
        self._write_status(ns, name)

    def _create_pod(self, nb: dict) -> None:
        md = nb["metadata"]
        ns, name = md["namespace"], md["name"]
        plan = plan_for(self.e, NOTEBOOKS, nb, {"succeed": 92, "pullfail": 4, "crash": 4}, (3600, 3600),
                        rate=(0.05, 0.3))
        spec = json.loads(json.dumps(nb["spec"]["template"]["spec"]))
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec["hostname"] = f"{name}-0"
        spec["subdomain"] = name
        for c in spec["containers"]:
            c.setdefault("imagePullPolicy", "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
        labels = {**(md.get("labels") or {}), "statefulset": name, "notebook-name": name,
                  "controller-revision-hash": f"{name}-{stable_hex(name, 10)}",
                  "statefulset.kubernetes.io/pod-name": f"{name}-0", "apps.kubernetes.io/pod-index": "0"}
        body = pod(ns, f"{name}-0", labels, spec,
                   owner=owner_ref("apps/v1", "StatefulSet", name, self._sts_uid(nb)))
        fate = "run" if plan.outcome == "succeed" else plan.outcome
        user = (md.get("labels") or {}).get("prophecis-UserId", "jovyan")
        rt = pod_runtime(body, "jupyter", (NOTEBOOKS.key, ns, name),
                         {"notebook": name, "user": user}, rate=plan.rate, fate=fate,
                         failure="ImportError", crash_after=4.0, ready_delay=3.0, pull_delay=4.0)
        try:
            self.e.create_pod(body, rt)
        except ApiError as err:
            sts = {"kind": "StatefulSet", "namespace": ns, "name": name, "uid": self._sts_uid(nb),
                   "apiVersion": "apps/v1"}
            self.e.event(sts, "Warning", "FailedCreate",
                         f"create Pod {name}-0 in StatefulSet {name} failed error: {err.message}",
                         "statefulset-controller")
            if (ns, name) not in self._retry:
                self._retry.add((ns, name))
                self.e.after(30.0, self._retry_create, ns, name)
            return
        self.e.event(
            {"kind": "StatefulSet", "namespace": ns, "name": name, "uid": self._sts_uid(nb), "apiVersion": "apps/v1"},
            "Normal", "SuccessfulCreate", f"create Pod {name}-0 in StatefulSet {name} successful",
            "statefulset-controller")

    def _retry_create(self, ns: str, name: str) -> None:
        self._retry.discard((ns, name))
        self.reconcile(ns, name)

    def _on_pod(self, p: PodRT) -> None:
        _, ns, name = p.owner
        if p.deleting and p.key not in self.e.pods:
            # The pod is gone: a running notebook gets a new one, like a StatefulSet.
            self.e.soon(self.reconcile, ns, name)
        self._write_status(ns, name)

    def _write_status(self, ns: str, name: str) -> None:
        nb = self.store.get(NOTEBOOKS, ns, name)
        if nb is None:
            return
        p = self.e.pod_rt(ns, f"{name}-0")
        status: dict = {"conditions": [], "readyReplicas": 0, "containerState": {}}
        if p is not None:
            pod_obj = self.store.get(PODS, ns, p.name)
            pst = (pod_obj or {}).get("status", {})
            status["conditions"] = [
                {k: c[k] for k in ("type", "status", "reason", "message", "lastProbeTime", "lastTransitionTime")
                 if c.get(k) is not None} for c in pst.get("conditions", [])]
            cs = pst.get("containerStatuses") or []
            if cs:
                status["containerState"] = cs[0]["state"]
            status["readyReplicas"] = 1 if p.containers and all(c.ready for c in p.containers) and not p.deleting else 0
        self.store.set_status(NOTEBOOKS, ns, name, status)

    def _cleanup(self, ns: str, name: str) -> None:
        if self.e.pod_rt(ns, f"{name}-0") is not None or self.store.get(PODS, ns, f"{name}-0") is not None:
            try:
                self.e.delete_pod(ns, f"{name}-0")
            except ApiError:
                pass
        for rt, n in ((SERVICES, name), (CONFIGMAPS, f"{name}-yarn-resource-setting")):
            if self.store.get(rt, ns, n) is not None:
                self.store.delete(rt, ns, n)


def _spec_or_ann(obj: dict | None) -> tuple:
    if obj is None:
        return ()
    return (obj.get("spec"), (obj["metadata"].get("annotations") or {}).get(STOP_ANN))


def stop_annotation(now: float) -> dict:
    return {STOP_ANN: rfc3339(now)}

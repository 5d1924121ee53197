"""The simulated bank's ML platform: tenants, nodes, quotas and workloads, deterministic per seed.

``build`` creates the cluster as it was some hours ago and lets the controllers live those hours
in fast-forward, so that what the console sees at the start has a history: finished and failed
jobs, restarts, pods pending for GPUs, stopped notebooks, events of the last hour.
"""

from __future__ import annotations

import copy
import hashlib
import random
from dataclasses import dataclass

from .engine import CONFIGMAPS, NAMESPACES, PODS, QUOTAS, SERVICES, Engine
from .objects import (GPU_PRODUCTS, PLATFORM_NS, STOP_ANN, configmap, container, meta, namespace, node, pod,
                      pod_spec, quota, service, system_namespace)
from .resources import BY_KEY
from .clock import rfc3339

NOTEBOOKS = BY_KEY["kubeflow.org/notebooks"]
TFJOBS = BY_KEY["kubeflow.org/tfjobs"]
PYTORCHJOBS = BY_KEY["kubeflow.org/pytorchjobs"]
XGBOOSTJOBS = BY_KEY["kubeflow.org/xgboostjobs"]
JOBS = BY_KEY["batch/jobs"]
SDEPS = BY_KEY["machinelearning.seldon.io/seldondeployments"]
GPU_OPERATOR_NS, DCGM_SERVICE = "gpu-operator", "nvidia-dcgm-exporter"  # the GPU operator's exporter Service
MONITORING_NS, PROMETHEUS_SERVICE = "monitoring", "prometheus-k8s"  # kube-prometheus' Prometheus Service

DEPARTMENTS = {
    "risk": ["scorecard", "limit", "earlywarn", "stress", "pd", "lgd", "collateral", "rating", "ifrs", "kyc"],
    "antifraud": ["txn", "device", "graph", "appfraud", "moneylaund", "account", "card", "phish", "mule", "voice"],
    "credit": ["approval", "collect", "pricing", "micro", "sme", "mortgage", "autoloan", "overdraft", "bnpl", "limitmgr"],
    "marketing": ["reco", "churn", "uplift", "nba", "lookalike", "campaign", "ltv", "coupon", "push", "segment"],
    "wealth": ["advisor", "fund", "portfolio", "insure", "robo", "risktol", "nav", "fx", "deposit", "pension"],
    "ops": ["aiops", "capacity", "logmine", "ticket", "chatbot", "ocr", "asr", "nlp", "forecast", "anomaly"],
}
USERS = ["wangwei", "lihua", "zhangmin", "liuyang", "chenjing", "yangfan", "zhaolei", "huangli", "zhoujie", "wuqiang",
         "xuming", "sunhao", "maling", "zhuyi", "hulin", "guoxin", "heping", "linfeng", "luoyu", "gaoyan", "liangbo",
         "songwen", "zhengkai", "xieting", "hanxue", "tangjun", "fengrui", "dongmei", "caoyu", "pengfei"]
MODELS = {
    "risk": ["scorecard-lr", "pd-gbdt", "lgd-xgb", "ews-lstm", "limit-dnn"],
    "antifraud": ["txn-gnn", "device-fp", "fraud-xgb", "graph-sage", "aml-transformer"],
    "credit": ["approval-gbdt", "collect-rl", "pricing-dnn", "sme-lgbm", "mortgage-lr"],
    "marketing": ["reco-dssm", "churn-xgb", "uplift-tlearner", "ltv-dnn", "nba-bandit"],
    "wealth": ["advisor-bert", "fund-lstm", "risktol-lr", "fx-tcn", "nav-prophet"],
    "ops": ["aiops-iforest", "logbert", "ocr-crnn", "asr-conformer", "forecast-tft"],
}


@dataclass(frozen=True)
class Scale:
    namespaces: int
    gpu_nodes: int
    notebooks: int
    jobs: int
    sdeps: int
    warmup: float = 3 * 3600.0
    activity: float = 60.0  # seconds between new training jobs once live


SCALES = {
    "tiny": Scale(2, 2, 4, 4, 2, warmup=1800.0, activity=0.0),
    "small": Scale(6, 8, 40, 30, 10, activity=45.0),
    "large": Scale(60, 250, 2000, 1000, 500, warmup=8 * 3600.0, activity=6.0),
    "xlarge": Scale(300, 1250, 10000, 5000, 2500, warmup=8 * 3600.0, activity=1.5),
}


@dataclass
class Tenant:
    name: str
    department: str
    app: str
    gpu_model: str
    users: list[str]
    gpus: int = 0


def tenants(scale: Scale, seed: int) -> list[Tenant]:
    rng = random.Random(f"tenants:{seed}")
    depts = list(DEPARTMENTS)
    out: list[Tenant] = []
    for i in range(scale.namespaces):
        dept = depts[i % len(depts)]
        k = i // len(depts)
        apps = DEPARTMENTS[dept]
        app = apps[k % len(apps)] + (str(k // len(apps) + 1) if k >= len(apps) else "")
        users = rng.sample(USERS, rng.randint(3, 7))
        if dept in ("risk", "antifraud") and "lihua" not in users:
            users[0] = "lihua"
        out.append(Tenant(f"ns-{dept}-{app}", dept, app, rng.choice(["A100", "A100", "V100", "T4", "A10"]), users))
    return out


# -------------------------------------------------------------------------------------------- workload bodies
def notebook_body(ns: str, name: str, user: str, *, gpu: int, cpu: int, mem_gi: int, image: str | None = None) -> dict:
    image = image or f"wedatasphere/prophecis:jupyterlab-1.4.0-py38-{'gpu' if gpu else 'cpu'}"
    env = {"NB_USER": user, "NB_UID": "1000", "NB_GID": "100", "CREATE_USER": user, "PROXY_USER": user,
           "NB_PREFIX": f"/notebook/{ns}/{name}", "Driver_Host": "0.0.0.0", "Spark_Driver_Port": "40001",
           "Spark_Driver_BlockManager_Port": "40002", "Linkis_Token": "MLSS",
           "GUARDIAN_TOKEN": "gt-" + hashlib.sha256(f"guardian:{ns}/{name}".encode()).hexdigest()[:20],
           "workdir": f"/data/bdap-ss/mlss-data/{user}", "datadir": f"/data/bdap-ss/mlss-data/{user}/data"}
    c = container("notebook-container", image, cpu=str(cpu), memory=f"{mem_gi}Gi", gpu=gpu,
                  command=["/etc/config/start-sh"], env=env, working_dir="/home/jovyan",
                  ports=[{"containerPort": 8888, "name": "notebook-port", "protocol": "TCP"}],
                  mounts=[{"name": "dshm", "mountPath": "/dev/shm"},
                          {"name": "workdir", "mountPath": "/workspace"},
                          {"name": "notebook-entrypoint-files", "mountPath": "/etc/config"}])
    spec = pod_spec([c], service_account="jupyter-notebook", fs_group=100, volumes=[
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
        {"name": "workdir", "hostPath": {"path": f"/data/bdap-ss/mlss-data/{user}", "type": ""}},
        {"name": "notebook-entrypoint-files", "configMap": {"name": "notebook-entrypoint-files", "defaultMode": 511}}])
    labels = {"prophecis-UserId": user, "prophecis-ProxyUserId": user,
              "prophecis-WorkdDir": f"data_bdap-ss_mlss-data_{user}", "app": name}
    return {"apiVersion": "kubeflow.org/v1", "kind": "Notebook", "metadata": meta(name, ns, labels=labels),
            "spec": {"template": {"spec": spec}}}


def _train_container(name: str, image: str, cmd: list[str], gpu: int, cpu: int, mem_gi: int, user: str) -> dict:
    return container(name, image, cpu=str(cpu), memory=f"{mem_gi}Gi", gpu=gpu, command=cmd,
                     env={"MLSS_USER": user, "TZ": "Asia/Shanghai"},
                     mounts=[{"name": "job-logs", "mountPath": "/logs"}, {"name": "dshm", "mountPath": "/dev/shm"}])


def _template(c: dict, labels: dict, restart: str) -> dict:
    spec = pod_spec([c], restart_policy=restart, volumes=[
        {"name": "job-logs", "hostPath": {"path": "/mlss/di/jobs/prophecis", "type": ""}},
        {"name": "dshm", "emptyDir": {"medium": "Memory"}}],
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu-task", "effect": "NoSchedule"}])
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def training_body(kind: str, ns: str, name: str, user: str, model: str, rng: random.Random,
                  max_gpus: int = 16) -> tuple:
    labels = {"MLSS-USER": user, "training_id": name, "model": model}
    tl = {"MLSS-USER": user, "training_id": name}
    if kind == "pytorch":
        img = "wedatasphere/prophecis:pytorch-2.1.2-cuda12.1-py310"
        g = min(rng.choice([1, 1, 1, 1, 2]), max(1, max_gpus // 2))
        cmd = ["torchrun", "--nproc_per_node", str(g), "/workspace/train.py", "--model", model]
        specs = {"Master": {"replicas": 1, "restartPolicy": "OnFailure",
                            "template": _template(_train_container("pytorch", img, cmd, g, 8, 48, user), tl, "OnFailure")},
                 "Worker": {"replicas": rng.randint(min(2, max_gpus // g - 1), max(1, min(14, max_gpus // g - 1))),
                            "restartPolicy": "OnFailure",
                            "template": _template(_train_container("pytorch", img, cmd, g, 8, 48, user), tl, "OnFailure")}}
        return PYTORCHJOBS, {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                             "metadata": meta(name, ns, labels=labels),
                             "spec": {"pytorchReplicaSpecs": specs, "runPolicy": {"cleanPodPolicy": "Running",
                                                                                  "backoffLimit": 3}}}
    if kind == "tensorflow":
        img = "wedatasphere/prophecis:tf-2.6.2-gpu-py38"
        cmd = ["python", "/workspace/train.py", "--model", model]
        specs = {"Chief": {"replicas": 1, "restartPolicy": "Never",
                           "template": _template(_train_container("tensorflow", img, cmd, 1, 8, 32, user), tl, "Never")},
                 "PS": {"replicas": rng.randint(1, 3), "restartPolicy": "Never",
                        "template": _template(_train_container("tensorflow", img, cmd, 0, 4, 16, user), tl, "Never")},
                 "Worker": {"replicas": rng.randint(1, max(1, min(10, max_gpus - 1))), "restartPolicy": "Never",
                            "template": _template(_train_container("tensorflow", img, cmd, 1, 8, 32, user), tl, "Never")}}
        return TFJOBS, {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": meta(name, ns, labels=labels),
                        "spec": {"tfReplicaSpecs": specs, "runPolicy": {"cleanPodPolicy": "Running",
                                                                        "backoffLimit": 0}}}
    if kind == "xgboost":
        img = "wedatasphere/prophecis:xgboost-1.7.6-py38"
        cmd = ["python", "/workspace/xgb_train.py", "--model", model]
        specs = {"Master": {"replicas": 1, "restartPolicy": "Never",
                            "template": _template(_train_container("xgboost", img, cmd, 0, 4, 16, user), tl, "Never")},
                 "Worker": {"replicas": rng.randint(3, 14), "restartPolicy": "Never",
                            "template": _template(_train_container("xgboost", img, cmd, 0, 4, 16, user), tl, "Never")}}
        return XGBOOSTJOBS, {"apiVersion": "kubeflow.org/v1", "kind": "XGBoostJob",
                             "metadata": meta(name, ns, labels=labels),
                             "spec": {"xgbReplicaSpecs": specs, "runPolicy": {"cleanPodPolicy": "Running"}}}
    img = "wedatasphere/prophecis:mlpipeline-py38-" + rng.choice(["gpu", "cpu"])
    g = 1 if img.endswith("gpu") else 0
    c = _train_container("learner", img, ["bash", "/etc/learner/start.sh"], g, 4, 16, user)
    tmpl = _template(c, {**tl, "service": "dlaas-learner"}, "Never")
    return JOBS, {"apiVersion": "batch/v1", "kind": "Job",
                  "metadata": meta(name, ns, labels={"jobType": "single", "training_id": name, "envir": "prophecis",
                                                     "MLSS-USER": user, "model": model}),
                  "spec": {"backoffLimit": 0, "completions": 1, "parallelism": 1, "template": tmpl}}


def sdep_body(ns: str, name: str, user: str, model: str, rng: random.Random) -> dict:
    impl = rng.choice(["SKLEARN_SERVER", "XGBOOST_SERVER", "TENSORFLOW_SERVER", "CUSTOM"])
    gpu = 1 if impl == "TENSORFLOW_SERVER" and rng.random() < 0.4 else 0
    graph_name = "custom-predictor" if impl == "CUSTOM" else "classifier"
    c = {"name": graph_name, "resources": {"requests": {"cpu": "2", "memory": "4Gi", **({"nvidia.com/gpu": "1"} if gpu else {})},
                                           "limits": {"cpu": "2", "memory": "4Gi", **({"nvidia.com/gpu": "1"} if gpu else {})}}}
    if impl == "CUSTOM":
        c["image"] = f"mlss-mf/{model}:v{rng.randint(1, 9)}"
    graph = {"name": graph_name, "type": "MODEL", "envSecretRefName": "seldon-init-container-secret",
             "modelUri": f"s3://mlss-mf/{ns}/{model}/{rng.randint(1, 12)}", "endpoint": {"type": "REST"}, "children": []}
    if impl != "CUSTOM":
        graph["implementation"] = impl
    replicas = rng.choice([1, 2, 2, 3, 3, 4, 6])
    main = {"name": "default", "traffic": 100, "graph": graph, "componentSpecs": [{"spec": {"containers": [c]}}],
            "labels": {"version": "default"}}
    predictors = [main]
    if replicas >= 2 and not gpu and random.Random(f"canary:{ns}/{name}").random() < 0.2:
        # a canary: the next model version on 10% of the traffic, one of the replicas (the same pods in all)
        replicas -= 1
        uri, version = graph["modelUri"].rsplit("/", 1)
        canary = copy.deepcopy(main)
        canary.update(name="canary", traffic=10, replicas=1, labels={"version": "canary"})
        canary["graph"]["modelUri"] = f"{uri}/{int(version) + 1}"
        main["traffic"] = 90
        predictors.append(canary)
    # the count is the spec's (what `kubectl scale` sets); a canary keeps its own, as Seldon Core allows
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": meta(name, ns, labels={"MLSS-USER": user, "model": model}),
            "spec": {"name": name, "protocol": "seldon", "replicas": replicas, "predictors": predictors}}


# -------------------------------------------------------------------------------------------- the build
class World:
    def __init__(self, engine: Engine, scale: Scale, seed: int) -> None:
        self.e = engine
        self.scale = scale
        self.seed = seed
        self.rng = random.Random(f"world:{seed}")
        self.tenants = tenants(scale, seed)
        self._seq = 0

    def build(self) -> None:
        e = self.e
        now = e.clock.now()
        t0 = now - self.scale.warmup
        e.store.building = True
        e._virtual = t0
        e.start_sweeper(t0 + 120.0)
        created = t0 - 86400 * 180
        for ns in ("default", "kube-system", "monitoring", PLATFORM_NS):
            e.store.create(NAMESPACES, system_namespace(ns, created), now=created)
        self._nodes(created)
        for t in self.tenants:
            e.ns_selectors[t.name] = {"lb-department": t.department, "lb-app": t.app}
            e.store.create(NAMESPACES, namespace(t.name, t.department, t.app, t.gpu_model, created), now=created)
            hard: dict[str, str] = {}
            if self.rng.random() > 0.03 or self.scale.namespaces <= 6:
                g = max(1, int(t.gpus * self.rng.choice([0.875, 1.0, 1.0])))
                cpu = 94 * (t.gpus // 8 or 1)
                hard = {"requests.cpu": str(cpu), "limits.cpu": str(cpu), "requests.memory": f"{760 * (t.gpus // 8 or 1)}Gi",
                        "limits.memory": f"{760 * (t.gpus // 8 or 1)}Gi", "requests.nvidia.com/gpu": str(g)}
            e.store.create(QUOTAS, quota(t.name, hard, created), now=created)
            e.set_quota(t.name, hard)
            for cm in ("learner-entrypoint-files", "learner-config", "di-config", "notebook-entrypoint-files",
                       "yarn-resource-setting"):
                e.store.create(CONFIGMAPS, configmap(t.name, cm, {"start-sh": "#!/bin/bash\nexec \"$@\"\n"}
                                                     if cm.endswith("files") else {"config.json": "{}"}, created),
                               now=created)
        self._platform_pods()
        e._virtual = None
        w = self.scale.warmup
        for i in range(self.scale.notebooks):
            t = self.tenants[i % len(self.tenants)]
            at = t0 + self.rng.random() * 0.3 * w
            e.timers.at(at, self.create_notebook, t, self.rng.random() < 0.2)
        for i in range(self.scale.sdeps):
            t = self.tenants[self.rng.randrange(len(self.tenants))]
            e.timers.at(t0 + self.rng.random() * 0.3 * w, self.create_sdep, t)
        for i in range(self.scale.jobs):
            t = self.tenants[self.rng.randrange(len(self.tenants))]
            e.timers.at(t0 + 60 + self.rng.random() * (w - 120), self.create_job, t)
        e.run_due(e.clock.now())
        e._flush_quotas()
        self._monitoring(created)
        e.store.end_build()
        if self.scale.activity:
            e.after(self.scale.activity, self._activity)

    def _nodes(self, created: float) -> None:
        per = max(1, self.scale.gpu_nodes // len(self.tenants))
        extra = self.scale.gpu_nodes - per * len(self.tenants)
        idx = 0
        for i, t in enumerate(self.tenants):
            n = per + (1 if i < extra else 0)
            for _ in range(n):
                idx += 1
                name = f"gpu{t.gpu_model.lower()}-{idx:04d}"
                ip = f"10.107.{idx // 250}.{idx % 250 + 1}"
                self.e.add_node(node(name, ip, department=t.department, app=t.app, gpu_model=t.gpu_model, gpus=8,
                                     cpu=96, memory_gi=768, created=created))
                t.gpus += 8
        for j in range(3):
            name = f"mlss-platform-{j + 1:02d}"
            self.e.add_node(node(name, f"10.106.0.{j + 11}", department="platform", app="prophecis", gpu_model=None,
                                 gpus=0, cpu=64, memory_gi=256, created=created))

    def _platform_pods(self) -> None:
        from .controllers import pod_runtime
        comps = [("controlcenter-go", "wedatasphere/prophecis:cc-go-v1.4.0"),
                 ("aide", "wedatasphere/prophecis:aide-v1.4.0"),
                 ("di-restapi", "wedatasphere/prophecis:di-restapi-v1.4.0"),
                 ("di-trainer", "wedatasphere/prophecis:di-trainer-v1.4.0"),
                 ("di-lcm", "wedatasphere/prophecis:di-lcm-v1.4.0"),
                 ("di-jobmonitor", "wedatasphere/prophecis:di-jobmonitor-v1.4.0"),
                 ("mf-server", "wedatasphere/prophecis:mf-v1.4.0"),
                 ("notebook-controller", "wedatasphere/prophecis:notebook-controller-v1.4.0"),
                 ("cc-apigateway", "wedatasphere/prophecis:cc-gateway-caddy-v1.4.0"),
                 ("bdap-ui", "wedatasphere/prophecis:ui-v1.4.0")]
        for comp, image in comps:
            h = format(abs(self.rng.getrandbits(40)), "010x")
            name = f"{comp}-{h[:9]}-{h[5:10]}"
            spec = pod_spec([container(comp, image, cpu="1", memory="2Gi")])
            spec["nodeSelector"] = {"lb-department": "platform"}
            body = pod(PLATFORM_NS, name, {"app": comp, "pod-template-hash": h[:9]}, spec)
            # as on any long-lived cluster, some controllers have restarted once: the notebook controller lost
            # its leader election, the job monitor panicked; both have run fine since
            flaky = {"notebook-controller": "NCCLTimeout", "di-jobmonitor": "Error"}.get(comp)
            self.e.create_pod(body, pod_runtime(body, "platform", None, {"component": comp}, rate=0.2,
                                                fate="flaky" if flaky else "run", failure=flaky,
                                                crash_after=self.scale.warmup * (0.3 if flaky == "Error" else 0.5)))
        daemonsets = [("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.28.15", False),
                      ("kube-system", "calico-node", "docker.io/calico/node:v3.26.4", False),
                      ("kube-system", "nvidia-device-plugin-daemonset", "nvcr.io/nvidia/k8s-device-plugin:v0.14.5", True),
                      ("kube-system", "dcgm-exporter", "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04", True),
                      ("monitoring", "node-exporter", "quay.io/prometheus/node-exporter:v1.7.0", False),
                      (PLATFORM_NS, "fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:2.2.2", False)]
        alnum = "bcdfghjklmnpqrstvwxz2456789"
        for n in list(self.e.nodes.values()):
            for ns, ds, image, gpu_only in daemonsets:
                if gpu_only and not n.gpus:
                    continue
                name = f"{ds}-{''.join(self.rng.choice(alnum) for _ in range(5))}"
                ports = [{"containerPort": 9400, "name": "metrics", "protocol": "TCP"}] if ds == "dcgm-exporter" else None
                spec = pod_spec([container(ds, image, cpu="100m", memory="128Mi", ports=ports)],
                                tolerations=[{"operator": "Exists"}])
                spec["nodeSelector"] = {"kubernetes.io/hostname": n.name}
                ds_uid = hashlib.sha256(f"ds:{ns}/{ds}".encode()).hexdigest()
                ds_uid = f"{ds_uid[:8]}-{ds_uid[8:12]}-{ds_uid[12:16]}-{ds_uid[16:20]}-{ds_uid[20:32]}"
                body = pod(ns, name, {"app.kubernetes.io/name": ds, "controller-revision-hash": "6d4f8b7c9",
                                      "pod-template-generation": "1"}, spec,
                           owner={"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds, "uid": ds_uid,
                                  "controller": True, "blockOwnerDeletion": True})
                self.e.create_pod(body, pod_runtime(body, "platform", None, {"component": ds}, rate=0.05))

    def _monitoring(self, created: float) -> None:
        """What a GPU-operator and kube-prometheus cluster has for GPU monitoring, as Services (made last, with
        uids of their own, so that the rest of the world is the same object for object):
        - ``gpu-operator/nvidia-dcgm-exporter`` (the GPU operator's Service, port 9400 ``gpu-metrics``) and its
          DaemonSet's pods, one ``nvidia-dcgm-exporter-<suffix>`` per GPU node (``_exporter_pods``): each answers its
          node's exporter text, and a request through the Service reaches one of them (``predict.ServiceProxy``);
        - ``monitoring/prometheus-k8s`` (kube-prometheus, port 9090 ``web``): no Prometheus runs behind it (no
          endpoints, 503) unless a test points it at a real one (``POST /sim/admin/upstream``)."""
        e = self.e

        def uid(what: str) -> str:
            h = hashlib.sha256(f"monitoring:{what}".encode()).hexdigest()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        ns = system_namespace(GPU_OPERATOR_NS, created)
        ns["metadata"]["uid"] = uid(GPU_OPERATOR_NS)
        e.store.create(NAMESPACES, ns, now=created)
        for svc in (
            service(GPU_OPERATOR_NS, DCGM_SERVICE, {"app": DCGM_SERVICE},
                    [{"name": "gpu-metrics", "port": 9400, "protocol": "TCP", "targetPort": 9400}], created,
                    labels={"app": DCGM_SERVICE}, cluster_ip="10.96.240.94"),
            service(MONITORING_NS, PROMETHEUS_SERVICE, {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"},
                    [{"name": "web", "port": 9090, "protocol": "TCP", "targetPort": "web"},
                     {"name": "reloader-web", "port": 8080, "protocol": "TCP", "targetPort": "reloader-web"}], created,
                    labels={"app.kubernetes.io/component": "prometheus", "app.kubernetes.io/instance": "k8s",
                            "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/part-of": "kube-prometheus"},
                    cluster_ip="10.96.240.90"),
        ):
            svc["metadata"]["uid"] = uid(f"{svc['metadata']['namespace']}/{svc['metadata']['name']}")
            e.store.create(SERVICES, svc, now=created)
        self._exporter_pods(e.now() - self.scale.warmup, uid)

    def _exporter_pods(self, created: float, uid) -> None:
        """The GPU operator's dcgm-exporter DaemonSet: one Running, Ready pod per GPU node, started when the other
        DaemonSets' pods were (``created``: the start of the warm-up). Made straight into the engine, not through the scheduler: no events, no draw on the world's
        random numbers or pod IPs, and no requests (the operator sets none), so the rest of the world and what the
        console counts for the tenants are unchanged."""
        from .controllers import pod_runtime
        from .logs import ContainerLog
        e = self.e
        ds_uid = uid(f"ds:{GPU_OPERATOR_NS}/{DCGM_SERVICE}")
        alnum = "bcdfghjklmnpqrstvwxz2456789"
        image = "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04"
        for i, n in enumerate(sorted((n for n in e.nodes.values() if n.gpus), key=lambda n: n.name)):
            h = hashlib.sha256(f"dcgm-exporter-pod:{n.name}".encode()).digest()
            name = f"{DCGM_SERVICE}-{''.join(alnum[b % len(alnum)] for b in h[:5])}"
            spec = pod_spec([container("nvidia-dcgm-exporter", image, cpu="0", memory="0",
                                       ports=[{"containerPort": 9400, "name": "metrics", "protocol": "TCP"}])],
                            tolerations=[{"operator": "Exists"}], service_account="nvidia-dcgm-exporter")
            spec["containers"][0]["resources"] = {}  # the operator sets none: BestEffort, nothing counted
            spec["nodeName"] = n.name
            body = pod(GPU_OPERATOR_NS, name, {"app": DCGM_SERVICE, "controller-revision-hash": "7b9c5d6f84",
                                               "pod-template-generation": "1"}, spec,
                       owner={"apiVersion": "apps/v1", "kind": "DaemonSet", "name": DCGM_SERVICE, "uid": ds_uid,
                              "controller": True, "blockOwnerDeletion": True})
            body["metadata"]["uid"] = uid(f"{GPU_OPERATOR_NS}/{name}")
            body["metadata"]["creationTimestamp"] = rfc3339(created)
            p = pod_runtime(body, "platform", None, {"component": DCGM_SERVICE}, rate=0.05)
            p.uid, p.created_at, p.counted = body["metadata"]["uid"], created, False
            p.node, p.scheduled_at, p.start_time, p.ready_at = n.name, created + 1, created + 2, created + 5
            p.ip, p.phase = f"10.233.{i // 250}.{i % 250 + 2}", "Running"
            for c in p.containers:
                c.state, c.reason, c.ready, c.started_at = "running", "", True, created + 3
                c.container_id = "containerd://" + hashlib.sha256(f"{p.uid}:{c.name}:0".encode()).hexdigest()
                c.log = ContainerLog(c.profile, int(c.container_id[-12:], 16), created + 3, c.rate, None, None,
                                     dict(p.context, container=c.name))
            body["status"] = e.render_status(p)
            e.store.create(PODS, body, now=created)
            e.pods[p.key] = p

    def _name(self, base: str) -> str:
        self._seq += 1
        return f"{base}-{self.rng.getrandbits(16):04x}"

    def create_notebook(self, t: Tenant, stop_later: bool = False) -> None:
        user = self.rng.choice(t.users)
        purpose = self.rng.choice(["eda", "feature", "tuning", "train", "debug", "report", "sql", "viz"])
        gpu = 1 if self.rng.random() < 0.2 else 0
        name = self._name(f"{user}-{purpose}")
        body = notebook_body(t.name, name, user, gpu=gpu, cpu=self.rng.choice([2, 4, 4, 8]),
                             mem_gi=self.rng.choice([8, 16, 16, 32]))
        self.e.store.create(NOTEBOOKS, body)
        if stop_later:
            self.e.after(600 + self.rng.random() * 3600, self.toggle_notebook, t.name, name)

    def toggle_notebook(self, ns: str, name: str) -> None:
        nb = self.e.store.get(NOTEBOOKS, ns, name)
        if nb is None:
            return
        stopped = STOP_ANN in (nb["metadata"].get("annotations") or {})
        now = self.e.now()

        def fn(o: dict) -> None:
            ann = o["metadata"].setdefault("annotations", {})
            if stopped:
                ann.pop(STOP_ANN, None)
            else:
                ann[STOP_ANN] = rfc3339(now)
        self.e.store.mutate(NOTEBOOKS, ns, name, fn)

    def create_job(self, t: Tenant) -> None:
        kind = self.rng.choices(["pytorch", "tensorflow", "xgboost", "single"], [35, 25, 20, 20])[0]
        model = self.rng.choice(MODELS[t.department])
        user = self.rng.choice(t.users)
        name = f"training-{self.rng.getrandbits(40):010x}" if kind == "single" else self._name(f"{model}-{user}")
        rt, body = training_body(kind, t.name, name, user, model, self.rng, max_gpus=max(2, min(16, t.gpus // 2)))
        self.e.store.create(rt, body)

    def create_sdep(self, t: Tenant) -> None:
        model = self.rng.choice(MODELS[t.department])
        name = self._name(model + "-svc")
        self.e.store.create(SDEPS, sdep_body(t.name, name, self.rng.choice(t.users), model, self.rng))

    def _activity(self) -> None:
        """Keep the platform alive: new jobs, notebooks stopping and starting, old finished jobs cleaned."""
        t = self.tenants[self.rng.randrange(len(self.tenants))]
        self.create_job(t)
        if self.rng.random() < 0.3:
            nbs = list(self.e.store.objects(NOTEBOOKS, t.name))
            if nbs:
                nb = self.rng.choice(nbs)
                self.toggle_notebook(t.name, nb["metadata"]["name"])
        if self.rng.random() < 0.2:
            self._reap(t.name)
        self.e.after(self.scale.activity * (0.5 + self.rng.random()), self._activity)

    def _reap(self, ns: str) -> None:
        cutoff = rfc3339(self.e.now() - self.scale.warmup)
        give_up = rfc3339(self.e.now() - 2 * self.scale.warmup)
        for rt in (TFJOBS, PYTORCHJOBS, XGBOOSTJOBS, JOBS):
            for obj in list(self.e.store.objects(rt, ns)):
                st = obj.get("status") or {}
                done = any(c.get("type") in ("Succeeded", "Failed", "Complete") and c.get("status") == "True"
                           for c in st.get("conditions") or [])
                created = obj["metadata"]["creationTimestamp"]
                # a job that never started (its workers refused by a full quota, or some of them only: no gang
                # scheduling, so busy hours can leave every queued job half-created) is given up by its user after
                # twice that long; without it a busy world only grew (600 queued jobs after 66 simulated hours)
                if (done and created < cutoff) or (not started(st) and created < give_up):
                    self.e.store.delete(rt, ns, obj["metadata"]["name"])


def started(status: dict) -> bool:
    """Has a job (training or batch) ever run: a Running, finished or active condition, or a start time?"""
    if status.get("startTime") or status.get("active") or status.get("succeeded") or status.get("failed"):
        return True
    return any(c.get("type") in ("Running", "Succeeded", "Failed", "Complete", "Restarting")
               and c.get("status") == "True" for c in status.get("conditions") or [])


GPU_MODELS = tuple(GPU_PRODUCTS)

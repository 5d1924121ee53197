"""Builders of wire objects with the shapes the real components write (see wire-protocols.md)."""

from __future__ import annotations

import hashlib
from typing import Any

from .clock import rfc3339

PLATFORM_NS = "prophecis"
NODE_SELECTOR_ANN = "scheduler.alpha.kubernetes.io/node-selector"
STOP_ANN = "kubeflow-resource-stopped"
GPU = "nvidia.com/gpu"

GPU_PRODUCTS = {
    "A100": ("NVIDIA-A100-SXM4-80GB", 81920),
    "V100": ("Tesla-V100-SXM2-32GB", 32768),
    "T4": ("Tesla-T4", 15360),
    "A10": ("NVIDIA-A10", 23028),
}


def meta(name: str, namespace: str | None = None, labels: dict | None = None,
         annotations: dict | None = None, owner: dict | None = None, created: float | None = None) -> dict:
    md: dict[str, Any] = {"name": name}
    if namespace is not None:
        md["namespace"] = namespace
    if labels:
        md["labels"] = dict(labels)
    if annotations:
        md["annotations"] = dict(annotations)
    if owner:
        md["ownerReferences"] = [owner]
    if created is not None:
        md["creationTimestamp"] = rfc3339(created)
    return md


def owner_ref(api_version: str, kind: str, name: str, uid: str) -> dict:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
            "controller": True, "blockOwnerDeletion": True}


def namespace(name: str, department: str, app: str, gpu_model: str, created: float) -> dict:
    return {"metadata": meta(name, labels={"kubernetes.io/metadata.name": name}, annotations={
        NODE_SELECTOR_ANN: f"lb-department={department},lb-app={app}",
        "MLSS-PlatformNamespace": PLATFORM_NS,
        "lb-gpu-model": gpu_model,
    }, created=created), "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def system_namespace(name: str, created: float) -> dict:
    return {"metadata": meta(name, labels={"kubernetes.io/metadata.name": name}, created=created),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def node(name: str, ip: str, *, department: str, app: str, gpu_model: str | None, gpus: int,
         cpu: int, memory_gi: int, created: float, kubelet: str = "v1.28.15") -> dict:
    labels = {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
        "lb-department": department, "lb-app": app,
    }
    capacity = {"cpu": str(cpu), "memory": f"{memory_gi}Gi", "pods": "110", "ephemeral-storage": "1870Gi",
                "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
    allocatable = {"cpu": str(cpu - 2), "memory": f"{memory_gi - 8}Gi", "pods": "110",
                   "ephemeral-storage": "1720Gi", "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
    if gpu_model:
        product, mem_mib = GPU_PRODUCTS[gpu_model]
        labels.update({"hardware-type": "NVIDIAGPU", "lb-bus-type": "gpu", "lb-gpu-model": gpu_model,
                       "nvidia.com/gpu.product": product, "nvidia.com/gpu.count": str(gpus),
                       "nvidia.com/gpu.memory": str(mem_mib)})
        capacity[GPU] = allocatable[GPU] = str(gpus)
    else:
        labels["mlss-node-role"] = "platform"
    t = rfc3339(created)
    conds = [
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
         "message": "kubelet has sufficient memory available"},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
         "message": "kubelet has no disk pressure"},
        {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
         "message": "kubelet has sufficient PID available"},
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"},
    ]
    for c in conds:
        c["lastHeartbeatTime"] = t
        c["lastTransitionTime"] = t
    return {
        "metadata": meta(name, labels=labels, annotations={"node.alpha.kubernetes.io/ttl": "0"}, created=created),
        "spec": {"podCIDR": f"10.244.{int(ip.split('.')[-1]) % 256}.0/24"},
        "status": {
            "capacity": capacity, "allocatable": allocatable, "conditions": conds,
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": hashlib.md5(name.encode()).hexdigest(), "systemUUID": name.upper(),
                         "bootID": f"boot-{name}", "kernelVersion": "5.4.0-216-generic",
                         "osImage": "Ubuntu 20.04.6 LTS", "containerRuntimeVersion": "containerd://1.7.27",
                         "kubeletVersion": kubelet, "kubeProxyVersion": kubelet, "operatingSystem": "linux",
                         "architecture": "amd64"},
        },
    }


def quota(namespace_: str, hard: dict[str, str], created: float) -> dict:
    return {"metadata": meta("mlss-default-rq", namespace_, created=created), "spec": {"hard": dict(hard)},
            "status": {"hard": dict(hard), "used": {k: "0" for k in hard}} if hard else {}}


def configmap(namespace_: str, name: str, data: dict[str, str], created: float, owner: dict | None = None) -> dict:
    return {"metadata": meta(name, namespace_, owner=owner, created=created), "data": dict(data)}


def service(namespace_: str, name: str, selector: dict[str, str], ports: list[dict], created: float,
            labels: dict | None = None, owner: dict | None = None, headless: bool = False,
            cluster_ip: str = "", svc_type: str = "ClusterIP") -> dict:
    spec: dict[str, Any] = {"selector": dict(selector), "ports": ports, "type": svc_type,
                            "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}
    if headless:
        spec["clusterIP"] = "None"
        spec["clusterIPs"] = ["None"]
    elif cluster_ip:
        spec["clusterIP"] = cluster_ip
        spec["clusterIPs"] = [cluster_ip]
    return {"metadata": meta(name, namespace_, labels=labels, owner=owner, created=created), "spec": spec,
            "status": {"loadBalancer": {}}}


def resources(cpu: str, memory: str, gpu: int = 0) -> dict:
    r = {"cpu": cpu, "memory": memory}
    if gpu:
        r[GPU] = str(gpu)
    return {"requests": dict(r), "limits": dict(r)}


def container(name: str, image: str, *, cpu: str, memory: str, gpu: int = 0, command: list[str] | None = None,
              args: list[str] | None = None, env: dict[str, str] | None = None, ports: list[dict] | None = None,
              mounts: list[dict] | None = None, working_dir: str | None = None) -> dict:
    c: dict[str, Any] = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                         "resources": resources(cpu, memory, gpu),
                         "terminationMessagePath": "/dev/termination-log",
                         "terminationMessagePolicy": "File"}
    if command:
        c["command"] = command
    if args:
        c["args"] = args
    envs = [{"name": k, "value": v} for k, v in (env or {}).items()]
    if not gpu:
        envs.append({"name": "NVIDIA_VISIBLE_DEVICES", "value": ""})
    if envs:
        c["env"] = envs
    if ports:
        c["ports"] = ports
    c["volumeMounts"] = list(mounts or []) + [{
        "name": "kube-api-access", "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
    if working_dir:
        c["workingDir"] = working_dir
    return c


def pod_spec(containers: list[dict], *, restart_policy: str = "Always", service_account: str = "default",
             volumes: list[dict] | None = None, grace: int = 30, hostname: str | None = None,
             subdomain: str | None = None, fs_group: int | None = None, tolerations: list[dict] | None = None) -> dict:
    spec: dict[str, Any] = {
        "containers": containers, "restartPolicy": restart_policy, "terminationGracePeriodSeconds": grace,
        "dnsPolicy": "ClusterFirst", "serviceAccountName": service_account, "serviceAccount": service_account,
        "schedulerName": "default-scheduler", "securityContext": {"fsGroup": fs_group} if fs_group else {},
        "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
        "tolerations": list(tolerations or []) + [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}],
        "volumes": list(volumes or []) + [{"name": "kube-api-access", "projected": {
            "defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
    }
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    return spec


def pod(namespace_: str, name: str, labels: dict[str, str], spec: dict, *, owner: dict | None = None,
        annotations: dict | None = None, generate_name: str | None = None) -> dict:
    md = meta(name, namespace_, labels=labels, annotations=annotations, owner=owner)
    if generate_name:
        md["generateName"] = generate_name
    return {"metadata": md, "spec": spec}


def condition(ctype: str, status: bool, reason: str, message: str, at: float) -> dict:
    t = rfc3339(at)
    return {"type": ctype, "status": "True" if status else "False", "reason": reason, "message": message,
            "lastUpdateTime": t, "lastTransitionTime": t}

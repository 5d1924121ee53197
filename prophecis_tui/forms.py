"""Forms behind the write actions, without Textual: check what a user typed, build what is sent.

- :func:`validate_notebook` checks the "new notebook" form and returns the problems as lines a
  person can act on ("needs 2 GPU, ns-risk-scorecard quota has 1 free (15/16 used)").
- :func:`notebook_body` builds the Notebook object the way Prophecis's MLLabis does (container
  ``notebook-container``, ``NB_PREFIX``, the user's workspace as a hostPath, ``/dev/shm``, the
  ``notebook-entrypoint-files`` ConfigMap, the ``prophecis-*`` labels).
- :func:`sample_payload` and :func:`predict_path` give a test prediction its starting point per
  Seldon implementation and protocol.

Same layer as ``actions`` (DESIGN section 2): it may read quantities with ``backends.k8s_parse``.
"""

from __future__ import annotations

import re
from typing import Any

from backends.k8s_parse import parse_quantity

from .domain import Quota
from .quantity import Quantity, format_cores, format_memory, parse

__all__ = [
    "NOTEBOOK_NAME_MAX",
    "check_name",
    "format_quantity",
    "free_gpus",
    "notebook_body",
    "notebook_form_problems",
    "predict_path",
    "sample_payload",
    "validate_notebook",
]

GPU = "nvidia.com/gpu"
DNS_LABEL_MAX = 63
#: The notebook controller runs a StatefulSet named after the notebook; its pods carry the label
#: controller-revision-hash=<name>-<10-character hash>, and a label value has at most 63
#: characters, so a longer name gives a notebook whose pod is never created (kubernetes#64023).
NOTEBOOK_NAME_MAX = 52
MIN_MEMORY = 64 * 2 ** 20  # below this a number without a unit was almost certainly meant as Gi
CONTAINER = "notebook-container"
ENTRYPOINT_CONFIGMAP = "notebook-entrypoint-files"
SERVICE_ACCOUNT = "jupyter-notebook"

_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# ------------------------------------------------------------------------------------------ names
def check_name(name: Any, what: str = "name", *, max_len: int = DNS_LABEL_MAX, letter_first: bool = False,
               why_max: str = "") -> list[str]:
    """Problems with a DNS-1123 label (lower-case letters, digits, '-'; starts and ends with a letter or
    digit; at most 63), each saying exactly what is wrong. Empty list: the name is fine."""
    if not isinstance(name, str) or not name.strip():
        return [f"{what} is required"]
    if name != name.strip():
        return [f"{what} {_show(name)} has spaces around it"]
    out: list[str] = []
    if len(name) > max_len:
        out.append(f"{what} is {len(name)} characters long; at most {max_len}" + (f" ({why_max})" if why_max else ""))
    upper = sorted({c for c in name if c.isupper()})
    if upper:
        hint = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:max_len].strip("-")
        out.append(f"{what} must be lowercase: {_show(name)} has {', '.join(map(repr, upper))}"
                   + (f" (try {_show(hint)})" if hint else ""))
    bad = sorted({c for c in name if not (c.isascii() and (c.islower() or c.isdigit() or c == "-"))
                  and not c.isupper()})
    if bad:
        out.append(f"{what} may contain only a-z, 0-9 and '-': {_show(name)} has "
                   + ", ".join(_show(c) for c in bad))
    first, last = name[0], name[-1]
    if letter_first and not (first.isascii() and first.isalpha()):
        out.append(f"{what} must start with a letter (its Service is named after it), not {_show(first)}")
    elif not (first.isascii() and first.isalnum()):
        out.append(f"{what} must start with a letter or digit, not {_show(first)}")
    if not (last.isascii() and last.isalnum()):
        out.append(f"{what} must end with a letter or digit, not {_show(last)}")
    return out


def _show(text: str) -> str:
    """A value quoted for a message, control characters neutralised and long values cut."""
    text = _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), text)
    return repr(text if len(text) <= 70 else text[:67] + "...")


# ------------------------------------------------------------------------------------------ quantities
def format_quantity(value: float | Quantity, memory: bool = False) -> str:
    """1.5 -> '1.5'; 8589934592 -> '8Gi' (memory): how a person would write it back
    (:func:`prophecis_tui.quantity.format_cores` at 3 decimals, ``format_memory`` at 1)."""
    return format_memory(value, places=1) if memory else format_cores(value, places=3)


def _quantity(form: dict, key: str, what: str, *, memory: bool = False) -> tuple[float | None, list[str]]:
    raw = form.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, [f"{what} is required"]
    if isinstance(raw, bool):
        return None, [f"{what} {raw!r} is not a quantity"]
    text = raw.strip() if isinstance(raw, str) else raw
    q = parse_quantity(text)
    if q is None:
        example = "8Gi or 512Mi" if memory else "4, 0.5 or 500m"
        return None, [f"{what} {_show(str(raw))} is not a Kubernetes quantity (e.g. {example})"]
    if q <= 0:
        return None, [f"{what} must be more than 0"]
    if memory and q < MIN_MEMORY:
        return None, [f"{what} {_show(str(raw))} is only {format_quantity(q, True)} bytes; give a unit, e.g. "
                      f"{_show(str(raw).strip() + 'Gi')}"]
    if not memory and q < 0.001:
        return None, [f"{what} {_show(str(raw))} is below the smallest unit, 1m"]
    return q, []


def _gpus(form: dict) -> tuple[int | None, list[str]]:
    raw = form.get("gpus", 0)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return 0, []
    if isinstance(raw, bool):
        return None, [f"gpus {raw!r} is not a whole number"]
    if isinstance(raw, float):
        if not raw.is_integer():
            return None, [f"gpus must be a whole number, not {raw:g}"]
        raw = int(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            return None, [f"gpus must be a whole number, not {_show(raw)}"]
        raw = int(text)
    if not isinstance(raw, int):
        return None, [f"gpus must be a whole number, not {_show(str(raw))}"]
    if raw < 0:
        return None, [f"gpus must be 0 or more, not {raw}"]
    return raw, []


def free_gpus(quota: Quota | None) -> float | None:
    """GPUs the namespace quota still allows (never negative); None when there is no quota or it sets no GPU limit."""
    if quota is None or quota.gpu_hard is None:
        return None
    return max(0.0, quota.gpu_hard - quota.gpu_used)


def _free(hard: float | None, used: float) -> Quantity | None:
    """What the quota still allows, exactly (hard "0.3" minus used "0.1" leaves 200m, not 0.19999...)."""
    return None if hard is None else max(Quantity(0), parse(hard) - parse(used))


def _quota_problems(ns: str, quota: Quota, gpus: int | None, cpu: float | None, memory: float | None) -> list[str]:
    out = []
    free = free_gpus(quota)
    if gpus and free is not None and gpus > free:
        out.append(f"needs {gpus} GPU, {ns} quota has {format_quantity(free)} free "
                   f"({format_quantity(quota.gpu_used)}/{format_quantity(quota.gpu_hard or 0)} used)")
    free_cpu = _free(quota.cpu_hard, quota.cpu_used)
    if cpu is not None and free_cpu is not None and parse(cpu) > free_cpu:
        out.append(f"needs {format_quantity(cpu)} CPU, {ns} quota has {format_quantity(free_cpu)} free "
                   f"({format_quantity(quota.cpu_used)}/{format_quantity(quota.cpu_hard or 0)} used)")
    free_mem = _free(quota.memory_hard, quota.memory_used)
    if memory is not None and free_mem is not None and parse(memory) > free_mem:
        out.append(f"needs {format_quantity(memory, True)} memory, {ns} quota has "
                   f"{format_quantity(free_mem, True)} free ({format_quantity(quota.memory_used, True)}/"
                   f"{format_quantity(quota.memory_hard or 0, True)} used)")
    return out


# ------------------------------------------------------------------------------------------ the notebook form
def _workspace_problems(form: dict) -> list[str]:
    ws = form.get("workspace")
    if not isinstance(ws, str) or not ws.strip():
        return ["workspace is required (a path on the nodes, e.g. /data/bdap-ss/mlss-data/<user>)"]
    if ws != ws.strip() or any(c.isspace() for c in ws) or _CONTROL.search(ws):
        return [f"workspace {_show(ws)} must not contain spaces or control characters"]
    if not ws.startswith("/"):
        return [f"workspace {_show(ws)} must be an absolute path (starting with '/')"]
    if any(part in (".", "..") for part in ws.split("/")):
        return [f"workspace {_show(ws)} must not contain '.' or '..' parts"]
    if ws.rstrip("/") == "":
        return ["workspace cannot be '/': mount the user's own folder"]
    return []


def notebook_form_problems(form: dict) -> list[str]:
    """The checks that need nothing but the form: name, image given, CPU, memory, GPUs, workspace.

    The action runs these again before it sends anything (a form may be filled by a script)."""
    out = check_name(form.get("name"), "name", max_len=NOTEBOOK_NAME_MAX, letter_first=True,
                     why_max="the notebook's pod is labelled with the name plus an 11-character revision hash, "
                             "and a label holds 63")
    image = form.get("image")
    if not isinstance(image, str) or not image.strip():
        out.append("image is required")
    elif any(c.isspace() for c in image) or _CONTROL.search(image):
        out.append(f"image {_show(image)} must not contain spaces")
    out += _quantity(form, "cpu", "cpu")[1]
    out += _quantity(form, "memory", "memory", memory=True)[1]
    out += _gpus(form)[1]
    out += _workspace_problems(form)
    return out


def validate_notebook(form: dict, *, namespaces_allowed: list[str], images: list[str], quota: Quota | None,
                      existing_names: set[str]) -> list[str]:
    """Every problem with a "new notebook" form, one line each; an empty list means it may be sent.

    ``form``: namespace, name, image, cpu, memory, gpus, workspace (strings as typed, or numbers).
    ``namespaces_allowed``: where the user may create notebooks (the SSAR answer per namespace).
    ``images``: the configured images (``[notebooks] images``). ``quota``: the namespace's
    mlss-default-rq (None: unknown or none). ``existing_names``: notebooks already in the namespace.
    """
    out: list[str] = []
    ns = form.get("namespace")
    if not isinstance(ns, str) or not ns.strip():
        out.append("namespace is required")
    elif ns not in namespaces_allowed:
        if namespaces_allowed:
            shown = ", ".join(sorted(namespaces_allowed)[:6]) + (" ..." if len(namespaces_allowed) > 6 else "")
            out.append(f"you may not create notebooks in {_show(ns)} (you may in: {shown})")
        else:
            out.append(f"you may not create notebooks in {_show(ns)}, nor in any other namespace")
    problems = notebook_form_problems(form)
    out += problems
    name = form.get("name")
    if isinstance(name, str) and name in existing_names:
        out.append(f"a notebook named {_show(name)} exists already in {ns}")
    image = form.get("image")
    if isinstance(image, str) and image.strip() and images and image not in images:
        out.append(f"image {_show(image)} is not one of the configured images ([notebooks] images): "
                   + ", ".join(images[:4]) + (" ..." if len(images) > 4 else ""))
    if quota is not None and isinstance(ns, str):
        gpus = _gpus(form)[0]
        cpu = _quantity(form, "cpu", "cpu")[0]
        memory = _quantity(form, "memory", "memory", memory=True)[0]
        out += _quota_problems(ns, quota, gpus, cpu, memory)
    return out


def _label_value(text: str) -> str:
    """A string made into a valid label value (at most 63, alphanumeric at both ends)."""
    v = _LABEL_VALUE_BAD.sub("_", text)[:DNS_LABEL_MAX]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", v)


def notebook_body(form: dict, user: str, api_version: str) -> dict:
    """The Notebook to create, shaped as Prophecis's MLLabis creates it.

    ``api_version``: what the cluster serves (``kubeflow.org/v1`` or ``kubeflow.org/v1alpha1``; the
    Notebook's spec is the same in both). No token goes in: the platform injects its own.
    """
    ns, name = str(form["namespace"]), str(form["name"])
    workspace = str(form["workspace"]).rstrip("/") or "/"
    gpus = _gpus(form)[0] or 0
    cpu, memory = str(form["cpu"]).strip(), str(form["memory"]).strip()
    limits: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        limits[GPU] = str(gpus)
    env = [{"name": k, "value": v} for k, v in (
        ("NB_USER", user), ("NB_UID", "1000"), ("NB_GID", "100"), ("CREATE_USER", user), ("PROXY_USER", user),
        ("NB_PREFIX", f"/notebook/{ns}/{name}"), ("Driver_Host", "0.0.0.0"), ("Spark_Driver_Port", "40001"),
        ("Spark_Driver_BlockManager_Port", "40002"), ("workdir", workspace), ("datadir", f"{workspace}/data"))]
    if not gpus:
        env.append({"name": "NVIDIA_VISIBLE_DEVICES", "value": ""})  # a CPU notebook on a GPU node sees none
    container = {
        "name": CONTAINER, "image": str(form["image"]).strip(), "imagePullPolicy": "IfNotPresent",
        "command": ["/etc/config/start-sh"], "workingDir": "/home/jovyan", "env": env,
        "resources": {"requests": dict(limits), "limits": dict(limits)},
        "ports": [{"containerPort": 8888, "name": "notebook-port", "protocol": "TCP"}],
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"},
                         {"name": "workdir", "mountPath": "/workspace"},
                         {"name": ENTRYPOINT_CONFIGMAP, "mountPath": "/etc/config"}],
    }
    volumes = [{"name": "dshm", "emptyDir": {"medium": "Memory"}},
               {"name": "workdir", "hostPath": {"path": workspace, "type": ""}},
               {"name": ENTRYPOINT_CONFIGMAP, "configMap": {"name": ENTRYPOINT_CONFIGMAP, "defaultMode": 0o777}}]
    labels = {"prophecis-UserId": _label_value(user), "prophecis-ProxyUserId": _label_value(user),
              "prophecis-WorkdDir": _label_value(workspace.strip("/").replace("/", "_")), "app": name}
    return {"apiVersion": api_version, "kind": "Notebook",
            "metadata": {"name": name, "namespace": ns, "labels": {k: v for k, v in labels.items() if v}},
            "spec": {"template": {"spec": {"serviceAccountName": SERVICE_ACCOUNT, "securityContext": {"fsGroup": 100},
                                           "containers": [container], "volumes": volumes}}}}


# ------------------------------------------------------------------------------------------ test predictions
_IRIS = [[5.1, 3.5, 1.4, 0.2]]
_IRIS_NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
_TABULAR = [[0.42, 1.0, 37.0, 2.0, 0.13, 5400.0, 0.0, 1.0]]
_TABULAR_NAMES = ["utilization", "dependents", "age", "open_loans", "debt_ratio", "monthly_income",
                  "late_90d", "real_estate_loans"]


def predict_path(protocol: str, graph_name: str) -> str:
    """The REST path a Seldon Core v1 executor answers predictions on, per protocol."""
    p = (protocol or "seldon").lower()
    if p in ("v2", "kfserving"):
        return f"v2/models/{graph_name}/infer"
    if p == "tensorflow":
        return f"v1/models/{graph_name}:predict"
    return "api/v1.0/predictions"


def sample_payload(implementation: str, protocol: str = "seldon") -> dict:
    """A realistic request body to start a test prediction from, per Seldon implementation and protocol.

    Implementations: SKLEARN_SERVER, XGBOOST_SERVER, TENSORFLOW_SERVER, MLFLOW_SERVER,
    TRITON_SERVER; anything else (a custom image, graph type MODEL) gets the generic Seldon message.
    """
    impl = (implementation or "").upper()
    p = (protocol or "seldon").lower()
    if impl == "TRITON_SERVER":  # Triton speaks the v2 protocol only
        return {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": _IRIS[0]}]}
    if p in ("v2", "kfserving"):  # MLServer
        if impl == "MLFLOW_SERVER":  # a pandas frame: one input per column
            return {"inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [v]}
                               for n, v in zip(_IRIS_NAMES, _IRIS[0])], "parameters": {"content_type": "pd"}}
        data = _TABULAR if impl == "XGBOOST_SERVER" else _IRIS
        return {"inputs": [{"name": "predict", "shape": [1, len(data[0])], "datatype": "FP32", "data": data}]}
    if p == "tensorflow":  # TensorFlow Serving's REST API
        return {"instances": _IRIS}
    if impl == "SKLEARN_SERVER":
        return {"data": {"ndarray": _IRIS}}
    if impl == "XGBOOST_SERVER":
        return {"data": {"names": _TABULAR_NAMES, "ndarray": _TABULAR}}
    if impl == "TENSORFLOW_SERVER":  # the TF Serving proxy turns it into {"instances": ...}
        return {"data": {"ndarray": _IRIS}}
    if impl == "MLFLOW_SERVER":
        return {"data": {"names": _IRIS_NAMES, "ndarray": _IRIS}}
    return {"data": {"names": _TABULAR_NAMES, "ndarray": _TABULAR}, "meta": {"tags": {"source": "prophecis-tui"}}}

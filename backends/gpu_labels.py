"""Which GPU and which pod a DCGM series is about, whatever the label spelling.

dcgm-exporter writes ``Hostname`` (``hostname`` on newer builds, none with --no-hostname), ``gpu``,
``UUID`` (``uuid`` with --use-old-namespace), ``modelName``, and, when a pod holds the GPU,
``namespace``/``pod``/``container`` (``pod_namespace``/``pod_name``/``container_name`` in the old namespace).
Scraped by Prometheus with ``honorLabels: false`` the pod labels become ``exported_namespace``,
``exported_pod``, ``exported_container`` (the plain ones then name the exporter's own pod): the
``exported_`` form wins when present.
"""

from __future__ import annotations

from typing import NamedTuple


class GpuIdentity(NamedTuple):
    node: str
    gpu: int
    uuid: str
    model: str
    namespace: str
    pod: str
    container: str


def _first(labels: dict[str, str], *names: str) -> str:
    for n in names:
        v = labels.get(n)
        if v:
            return v
    return ""


def identify(labels: dict[str, str], default_node: str = "") -> GpuIdentity | None:
    """None when the series is not about one GPU (no ``gpu`` index)."""
    try:
        gpu = int(labels.get("gpu", ""))
    except ValueError:
        return None
    node = _first(labels, "Hostname", "hostname", "kubernetes_node", "node") or default_node
    exported = "exported_pod" in labels or "exported_namespace" in labels
    if exported:
        ns, pod, ctr = (labels.get("exported_namespace", ""), labels.get("exported_pod", ""),
                        labels.get("exported_container", ""))
    else:
        ns = _first(labels, "namespace", "pod_namespace")
        pod = _first(labels, "pod", "pod_name")
        ctr = _first(labels, "container", "container_name")
    return GpuIdentity(node, gpu, _first(labels, "UUID", "uuid"), labels.get("modelName", ""), ns, pod, ctr)


FIELDS = {  # DCGM field -> GpuSample attribute
    "DCGM_FI_DEV_GPU_UTIL": "util",
    "DCGM_FI_DEV_FB_USED": "fb_used_mib",
    "DCGM_FI_DEV_FB_FREE": "fb_free_mib",
    "DCGM_FI_DEV_GPU_TEMP": "temp_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
}

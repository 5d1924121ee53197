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


def identify(labels: dict[str, str], default_node: str = "",
             target_pods: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset()) -> GpuIdentity | None:
    """None when the series is not about one GPU (no ``gpu`` index).

    ``target_pods``: (namespace, pod) pairs that are the scrape target's own labels (seen beside
    ``exported_`` ones). A series that carries only those has no workload: its GPU is free."""
    try:
        gpu = int(labels.get("gpu", ""))
    except ValueError:
        return None
    node = _first(labels, "Hostname", "hostname", "kubernetes_node", "node") or default_node
    # The workload's pod: renamed by Prometheus (exported_), else the old exporters' own spelling (pod_namespace,
    # pod_name: only the exporter writes those, so they beat a scrape target's namespace/pod), else the plain one.
    ns = _first(labels, "exported_namespace", "pod_namespace", "namespace")
    pod = _first(labels, "exported_pod", "pod_name", "pod")
    ctr = _first(labels, "exported_container", "container_name", "container")
    if "exported_pod" not in labels and "pod_name" not in labels and (ns, pod) in target_pods:
        ns = pod = ctr = ""
    return GpuIdentity(node, gpu, _first(labels, "UUID", "uuid"), labels.get("modelName", ""), ns, pod, ctr)


def target_pods(series_labels: list[dict[str, str]]) -> set[tuple[str, str]]:
    """The (namespace, pod) of the scrape targets themselves: the plain labels of series that also carry
    ``exported_`` ones (Prometheus renamed the exporter's labels because the target's own won)."""
    return {(lab.get("namespace", ""), lab.get("pod", "")) for lab in series_labels
            if "exported_pod" in lab or "exported_namespace" in lab}


def gpu_entry(gpus: dict[tuple[str, int], dict], ident: GpuIdentity, **extra: object) -> dict:
    """The GpuSample fields gathered so far for ``ident``'s GPU; labels missing from one series (not every
    field carries modelName or the pod) are taken from whichever series has them."""
    g = gpus.get((ident.node, ident.gpu))
    if g is None:
        g = gpus[(ident.node, ident.gpu)] = {"node": ident.node, "gpu": ident.gpu, "pod_uid": "",
                                             **dict.fromkeys(FIELDS.values()), **extra}
    for attr in ("uuid", "model", "namespace", "pod", "container"):
        if not g.get(attr):
            g[attr] = getattr(ident, attr)
    return g


FIELDS = {  # DCGM field -> GpuSample attribute
    "DCGM_FI_DEV_GPU_UTIL": "util",
    "DCGM_FI_DEV_FB_USED": "fb_used_mib",
    "DCGM_FI_DEV_FB_FREE": "fb_free_mib",
    "DCGM_FI_DEV_GPU_TEMP": "temp_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
}

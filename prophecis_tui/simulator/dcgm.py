"""A simulated NVIDIA dcgm-exporter: Prometheus text (format 0.0.4) for every GPU of the simulated nodes.

The numbers follow the pods the engine placed on each GPU (``NodeRT.gpu_pods``: index -> (namespace, pod,
container)): a running training replica keeps its GPU busy, a model server moderately so, a notebook
mostly idles with an occasional burst, a free GPU sits at 0 % with almost nothing in its framebuffer.
Temperature and power follow utilisation; a few GPUs (about 2 %, chosen from the seed) run hot.

Every value is a function of the seed, the GPU, the pod on it and the simulated time only, so the same
seed at the same simulated second scrapes the same text, and time moving on moves the numbers gently.
Label order is dcgm-exporter's: gpu, UUID, pci_bus_id, device, modelName, Hostname, the label-type
counter DCGM_FI_DRIVER_VERSION, then the pod attributes when the GPU is attached to a pod.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterable

from .engine import Engine, NodeRT, PodRT

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DRIVER_VERSION = "550.54.15"

#: lb-gpu-model -> (dcgm modelName, framebuffer total MiB, reserved MiB, idle W, max W)
MODELS = {
    "A100": ("NVIDIA A100-SXM4-80GB", 81920, 565, 58.0, 400.0),
    "V100": ("Tesla V100-SXM2-32GB", 32768, 303, 41.0, 300.0),
    "T4": ("Tesla T4", 15360, 250, 14.0, 70.0),
    "A10": ("NVIDIA A10", 23028, 295, 21.0, 150.0),
}
DEFAULT_MODEL = "A100"

#: (metric, help) in the order they are written; every one is a gauge
METRICS = (
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
)
HOT_SHARE = 0.02
TRAINING = frozenset({"tensorflow", "pytorch", "xgboost", "single"})
_BUSES = ("07", "0F", "47", "4E", "87", "90", "B7", "BD")
_M64 = 0xFFFFFFFFFFFFFFFF
_TAU = 2.0 * math.pi


def _h64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit integer from any integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _frac(h: int, shift: int = 0) -> float:
    """A number in [0, 1) from 16 bits of ``h``."""
    return ((h >> shift) & 0xFFFF) / 65536.0


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass
class _Gpu:
    """What does not change about one GPU: its labels and its personality."""

    labels: str  # gpu="0",UUID=...,DCGM_FI_DRIVER_VERSION="..." (no braces, no pod attributes)
    h: int
    total: int
    reserved: int
    idle_w: float
    max_w: float
    hot: bool = False


@dataclass
class _Pod:
    labels: str  # ,container="...",namespace="...",pod="...",pod_uid="..."
    h: int


class DcgmExporter:
    """Renders the exporter's /metrics text from the engine's current state, on the engine's clock."""

    def __init__(self, engine: Engine, seed: int | None = None) -> None:
        self.engine = engine
        self.seed = engine.seed if seed is None else seed
        self._gpus: dict[str, list[_Gpu]] = {}
        self._pods: dict[tuple[str, str, str, str], _Pod] = {}
        self._hot_for: int = -1  # number of GPU nodes the hot set was chosen for

    # ------------------------------------------------------------------ static facts
    def _node_gpus(self, n: NodeRT) -> list[_Gpu]:
        found = self._gpus.get(n.name)
        if found is not None and len(found) == n.gpus:
            return found
        model = n.labels.get("lb-gpu-model", DEFAULT_MODEL)
        name, total, reserved, idle_w, max_w = MODELS.get(model, MODELS[DEFAULT_MODEL])
        host = _esc(n.name)
        out = []
        for i in range(n.gpus):
            u = hashlib.sha256(f"gpu-uuid:{n.name}:{i}".encode()).hexdigest()
            uuid = f"GPU-{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}"
            bus = _BUSES[i] if i < len(_BUSES) else format(0xC0 + i, "02X")
            labels = (f'gpu="{i}",UUID="{uuid}",pci_bus_id="00000000:{bus}:00.0",device="nvidia{i}",'
                      f'modelName="{_esc(name)}",Hostname="{host}",DCGM_FI_DRIVER_VERSION="{DRIVER_VERSION}"')
            out.append(_Gpu(labels, _h64(f"gpu:{self.seed}:{n.name}:{i}"), total, reserved, idle_w, max_w))
        self._gpus[n.name] = out
        self._hot_for = -1
        return out

    def _choose_hot(self) -> None:
        """About HOT_SHARE of all GPUs (at least two) run hot: those whose hash is smallest."""
        nodes = [n for n in self.engine.nodes.values() if n.gpus]
        if self._hot_for == len(nodes):
            return
        gpus = [g for n in nodes for g in self._node_gpus(n)]
        for g in gpus:
            g.hot = False
        k = min(len(gpus), max(2, round(len(gpus) * HOT_SHARE)))
        for g in sorted(gpus, key=lambda g: _mix(g.h ^ 0x5EED))[:k]:
            g.hot = True
        self._hot_for = len(nodes)

    def _pod(self, ns: str, name: str, container: str, uid: str) -> _Pod:
        key = (ns, name, container, uid)
        found = self._pods.get(key)
        if found is None:
            if len(self._pods) > 50_000:  # pods come and go: forget the long-gone ones now and then
                self._pods.clear()
            found = self._pods[key] = _Pod(
                f',container="{_esc(container)}",namespace="{_esc(ns)}",pod="{_esc(name)}",pod_uid="{_esc(uid)}"',
                _h64(f"pod:{self.seed}:{uid or ns + '/' + name}"))
        return found

    # ------------------------------------------------------------------ dynamics
    def _sample(self, g: _Gpu, p: PodRT | None, ph: int, cname: str, t: float) -> tuple[float, float, int, float]:
        """(util %, mem copy util %, FB used MiB, temperature °C) of one GPU at simulated time ``t``."""
        gh = g.h
        usable = g.total - g.reserved
        # gentle per-GPU wander: a slow wave (6-20 min) and a faster ripple (40-100 s)
        slow = math.sin(t * _TAU / (360.0 + 840.0 * _frac(gh, 0)) + _TAU * _frac(gh, 16))
        fast = math.sin(t * _TAU / (40.0 + 60.0 * _frac(gh, 32)) + _TAU * _frac(gh, 48))
        c = None
        if p is not None:
            for cc in p.containers:
                if cc.name == cname:
                    c = cc
                    break
            if c is None and p.containers:
                c = p.containers[0]
        if c is None or c.state != "running":
            # free, or the pod's process is not (yet, or any more) running: nothing but the driver's context
            util = 0.0
            copy = 0.0
            used = 1 + (gh >> 20) % 3
        else:
            profile = c.profile
            ramp = min(1.0, max(0.0, (t - (c.started_at or t)) / 90.0))  # loading data, building the graph
            if profile in TRAINING:
                base = 80.0 + 12.0 * _frac(ph, 0)  # this job's own pace, 80-92 %
                util = base + 4.0 * slow + 2.5 * fast
                # a checkpoint or evaluation every few minutes: a short dip
                period = 240.0 + 360.0 * _frac(ph, 16)
                if (t + period * _frac(ph, 32)) % period < 12.0:
                    util -= 25.0
                util = 30.0 + (util - 30.0) * ramp if ramp < 1.0 else util
                util = min(100.0, max(70.0 if ramp >= 1.0 else 0.0, util))
                copy = util * (0.35 + 0.25 * _frac(ph, 48))
                used = int(usable * (0.55 + 0.4 * _frac(ph, 8)) * (0.3 + 0.7 * ramp) + 40 * fast)
            elif profile == "seldon":
                base = 15.0 + 25.0 * _frac(ph, 0)  # requests come and go: 10-50 %
                util = min(50.0, max(10.0, base + 8.0 * slow + 4.0 * fast))
                copy = util * 0.5
                used = int(usable * (0.12 + 0.3 * _frac(ph, 8)) + 8 * fast)
            elif profile == "jupyter":
                bucket = int(t // 120.0)  # a notebook sometimes runs a cell that uses the GPU for a while
                burst = _mix(ph ^ (bucket * 0x9E3779B1))
                if burst % 100 < 4:
                    util = 35.0 + 55.0 * _frac(burst, 8) + 3.0 * fast
                else:
                    util = max(0.0, 1.5 + 1.5 * slow + 1.0 * fast) if _frac(ph, 0) < 0.6 else 0.0
                util = min(100.0, util)
                copy = util * 0.4
                held = 0.03 + (0.45 * _frac(ph, 24) if _frac(ph, 8) < 0.5 else 0.0)  # a kernel holding tensors
                used = int(usable * held * ramp) + 300
            else:  # a GPU pod nobody manages: some steady work
                util = min(100.0, max(0.0, 40.0 + 30.0 * _frac(ph, 0) + 6.0 * slow + 3.0 * fast))
                copy = util * 0.3
                used = int(usable * (0.2 + 0.5 * _frac(ph, 8)))
        used = max(0, min(usable, used))
        if g.hot:  # poor airflow in this slot: hot whatever it does
            temp = 85.0 + 6.0 * util / 100.0 + 0.6 * slow + 0.3 * fast
            temp = min(92.0, max(85.0, temp))
        else:
            temp = 29.0 + 6.0 * _frac(gh, 8) + 0.44 * util + 1.2 * slow
            temp = min(83.0, max(25.0, temp))
        return util, copy, used, temp

    # ------------------------------------------------------------------ rendering
    def node_names(self) -> list[str]:
        return [n.name for n in self.engine.nodes.values() if n.gpus]

    def has_node(self, name: str) -> bool:
        n = self.engine.nodes.get(name)
        return n is not None and n.gpus > 0

    def render(self, node: str | None = None) -> str:
        """The /metrics text of every GPU node, or of one (empty series when it has no GPU)."""
        nodes: Iterable[NodeRT]
        if node is None:
            nodes = [n for n in self.engine.nodes.values() if n.gpus]
        else:
            n = self.engine.nodes.get(node)
            nodes = [n] if n is not None and n.gpus else []
        self._choose_hot()
        t = self.engine.now()
        pods = self.engine.pods
        temps: list[str] = []
        powers: list[str] = []
        utils: list[str] = []
        copies: list[str] = []
        frees: list[str] = []
        useds: list[str] = []
        for n in nodes:
            gpu_pods = n.gpu_pods
            for i, g in enumerate(self._node_gpus(n)):
                who = gpu_pods.get(i)
                p = None
                if who is not None:
                    p = pods.get((who[0], who[1]))
                if p is None:
                    labels = "{" + g.labels + "}"
                    util, copy, used, temp = self._sample(g, None, 0, "", t)
                else:
                    pa = self._pod(p.ns, p.name, who[2], p.uid)
                    labels = "{" + g.labels + pa.labels + "}"
                    util, copy, used, temp = self._sample(g, p, pa.h, who[2], t)
                power = g.idle_w + (g.max_w - g.idle_w) * (0.92 * util / 100.0) ** 1.15 + \
                    (temp - 40.0) * 0.08 + 1.5 * math.sin(t / 7.0 + i)
                temps.append(f"DCGM_FI_DEV_GPU_TEMP{labels} {int(round(temp))}")
                powers.append(f"DCGM_FI_DEV_POWER_USAGE{labels} {max(g.idle_w * 0.8, power):.3f}")
                utils.append(f"DCGM_FI_DEV_GPU_UTIL{labels} {int(round(util))}")
                copies.append(f"DCGM_FI_DEV_MEM_COPY_UTIL{labels} {int(round(copy))}")
                frees.append(f"DCGM_FI_DEV_FB_FREE{labels} {g.total - g.reserved - used}")
                useds.append(f"DCGM_FI_DEV_FB_USED{labels} {used}")
        out: list[str] = []
        for (metric, help_), series in zip(METRICS, (temps, powers, utils, copies, frees, useds)):
            out.append(f"# HELP {metric} {help_}")
            out.append(f"# TYPE {metric} gauge")
            out.extend(series)
        out.append("")
        return "\n".join(out)

"""Local GPUs through NVML (``pynvml``, from nvidia-ml-py), for a console running on a GPU node.

Each GPU's utilisation, memory, temperature and power, and which pod holds it: NVML gives the host pids
of the processes on a GPU; ``/proc/<pid>/cgroup`` names their pod by uid (the kubelet's cgroup path, with
the systemd or the cgroupfs driver, cgroup v1 or v2), so the owner survives containers, where a monitor
that shows pids alone loses it. The state turns the uid into namespace/pod.

No NVIDIA library or driver: ``current()`` raises Unavailable("no local GPU: ..."), cleanly.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from prophecis_tui.domain import GpuSample, Unavailable

from .gpu_history import History, Point

# kubepods-burstable-pod1a2b3c4d_5e6f_....slice (systemd) or /kubepods/besteffort/pod1a2b3c4d-5e6f-.../ (cgroupfs)
_POD = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
MIB = 1024 * 1024


def pod_uid_of(pid: int, proc_root: str | Path = "/proc") -> str:
    """The uid of the Kubernetes pod whose container runs ``pid``, or "" (not in a pod, or gone)."""
    try:
        text = (Path(proc_root) / str(pid) / "cgroup").read_text()
    except OSError:
        return ""
    m = _POD.search(text)
    return m.group(1).replace("_", "-") if m else ""


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


class NvmlLocal:
    name = "nvml"

    def __init__(self, nvml: Any = None, *, proc_root: str | Path = "/proc", node: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._nvml = nvml
        self.proc_root = proc_root
        self.node = node or socket.gethostname()
        self.clock = clock
        self._ready = False
        self._lock = threading.Lock()
        self._hist: dict[str, History] = {}

    def _module(self) -> Any:
        if self._nvml is None:
            try:
                import pynvml  # from nvidia-ml-py
            except ImportError as err:
                raise Unavailable(f"no local GPU: NVML bindings not installed ({err})", source=self.name) from None
            self._nvml = pynvml
        return self._nvml

    def _init(self) -> Any:
        nv = self._module()
        with self._lock:
            if not self._ready:
                try:
                    nv.nvmlInit()
                except nv.NVMLError as err:
                    raise Unavailable(f"no local GPU: {_text(err)}", source=self.name) from None
                self._ready = True
        return nv

    def current(self) -> list[GpuSample]:
        nv = self._init()
        now = self.clock()
        at = datetime.fromtimestamp(now, timezone.utc)
        out = []
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError as err:
            raise Unavailable(f"NVML: {_text(err)}", source=self.name) from None
        for i in range(count):
            try:
                h = nv.nvmlDeviceGetHandleByIndex(i)
            except nv.NVMLError as err:  # a lost GPU must not hide the others
                out.append(GpuSample.model_construct(node=self.node, gpu=i, model=f"lost: {_text(err)}", at=at))
                continue
            values: dict[str, Any] = {"node": self.node, "gpu": i, "at": at}
            for attr, call in (("uuid", lambda: _text(nv.nvmlDeviceGetUUID(h))),
                               ("model", lambda: _text(nv.nvmlDeviceGetName(h))),
                               ("util", lambda: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
                               ("temp_c", lambda: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))),
                               ("power_w", lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000.0)):
                try:
                    values[attr] = call()
                except nv.NVMLError:  # not supported on this GPU: left empty
                    pass
            try:
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                values["fb_used_mib"], values["fb_free_mib"] = mem.used / MIB, mem.free / MIB
            except nv.NVMLError:
                pass
            try:
                procs = nv.nvmlDeviceGetComputeRunningProcesses(h)
            except nv.NVMLError:
                procs = []
            for p in procs:
                uid = pod_uid_of(p.pid, self.proc_root)
                if uid:
                    values["pod_uid"] = uid
                    break
            sample = GpuSample.model_construct(**{**{f: None for f in ("util", "fb_used_mib", "fb_free_mib",
                                                                        "temp_c", "power_w")},
                                                  "uuid": "", "model": "", "namespace": "", "pod": "", "container": "",
                                                  "pod_uid": "", **values})
            out.append(sample)
            self._hist.setdefault(sample.key, History()).add(now, sample.util, sample.mem_pct)
        return out

    def history(self, key: str, seconds: float) -> list[Point]:
        h = self._hist.get(key)
        return h.window(self.clock(), seconds) if h is not None else []

    def close(self) -> None:
        with self._lock:
            if self._ready and self._nvml is not None:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:  # shutting down anyway
                    pass
                self._ready = False

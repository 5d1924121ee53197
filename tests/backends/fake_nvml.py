"""A stand-in for nvidia-ml-py's ``pynvml`` with the same function names, for tests on machines without GPUs.

(Not named pynvml*: the deprecated ``pynvml`` package warns on any module whose name starts with it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
_TEXT = {1: "Uninitialized", 3: "Not Supported", 9: "Driver Not Loaded", 12: "NVML Shared Library Not Found"}


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _TEXT.get(self.value, f"error {self.value}")


@dataclass
class Gpu:
    name: str = "NVIDIA A100-SXM4-80GB"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    util: int = 0
    used: int = 0  # bytes
    total: int = 80 * 1024 ** 3
    temp: int = 40
    power_mw: int = 60000
    pids: list[int] = field(default_factory=list)
    no_power: bool = False  # nvmlDeviceGetPowerUsage not supported


class FakeNvml:
    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU

    def __init__(self, gpus: list[Gpu], init_error: int | None = None, name_as_bytes: bool = False) -> None:
        self.gpus, self.init_error, self.name_as_bytes = gpus, init_error, name_as_bytes
        self.inits = self.shutdowns = 0
        self._up = False

    def _need(self) -> None:
        if not self._up:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)

    def nvmlInit(self) -> None:  # noqa: N802 (the real names)
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.inits += 1
        self._up = True

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shutdowns += 1
        self._up = False

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._need()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> Gpu:  # noqa: N802
        self._need()
        return self.gpus[i]

    def nvmlDeviceGetName(self, h: Gpu):  # noqa: N802
        return h.name.encode() if self.name_as_bytes else h.name

    def nvmlDeviceGetUUID(self, h: Gpu) -> str:  # noqa: N802
        return h.uuid

    def nvmlDeviceGetUtilizationRates(self, h: Gpu):  # noqa: N802
        return SimpleNamespace(gpu=h.util, memory=0)

    def nvmlDeviceGetMemoryInfo(self, h: Gpu):  # noqa: N802
        return SimpleNamespace(total=h.total, used=h.used, free=h.total - h.used)

    def nvmlDeviceGetTemperature(self, h: Gpu, sensor: int) -> int:  # noqa: N802
        assert sensor == NVML_TEMPERATURE_GPU
        return h.temp

    def nvmlDeviceGetPowerUsage(self, h: Gpu) -> int:  # noqa: N802
        if h.no_power:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return h.power_mw

    def nvmlDeviceGetComputeRunningProcesses(self, h: Gpu):  # noqa: N802
        return [SimpleNamespace(pid=p, usedGpuMemory=None) for p in h.pids]

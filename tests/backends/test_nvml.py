"""Local NVML: the numbers, the owner of each GPU through /proc/<pid>/cgroup, and no driver at all."""

from __future__ import annotations

import pytest

from backends.nvml import NvmlLocal, pod_uid_of
from prophecis_tui.domain import Unavailable

from .fake_nvml import NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_LIBRARY_NOT_FOUND, FakeNvml, Gpu

UID = "8c2b9a8e-1f7e-4f4e-9d3a-0a1b2c3d4e5f"
CGROUPS = {
    101: f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}.slice/"
         "cri-containerd-0123abcd.scope\n",  # cgroup v2, systemd driver
    102: f"12:devices:/kubepods/besteffort/pod{UID}/0123abcd\n11:memory:/kubepods/besteffort/pod{UID}/0123abcd\n",
    103: "0::/user.slice/user-0.slice/session-1.scope\n",  # not in a pod
}


@pytest.fixture
def proc(tmp_path):
    for pid, text in CGROUPS.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cgroup").write_text(text)
    return tmp_path


def test_a_process_maps_to_its_pod_with_either_cgroup_driver(proc):
    assert pod_uid_of(101, proc) == UID
    assert pod_uid_of(102, proc) == UID
    assert pod_uid_of(103, proc) == ""
    assert pod_uid_of(999, proc) == ""  # gone meanwhile


def test_local_gpus_with_their_numbers_and_owner(proc):
    fake = FakeNvml([Gpu(util=93, used=60 * 1024 ** 3, temp=81, power_mw=312500, pids=[103, 101]),
                     Gpu(uuid="GPU-1", util=0, no_power=True)], name_as_bytes=True)
    src = NvmlLocal(fake, proc_root=proc, node="gpu-node-7", clock=lambda: 100.0)
    busy, idle = src.current()
    assert (busy.node, busy.gpu, busy.model, busy.util, busy.temp_c, busy.power_w) == (
        "gpu-node-7", 0, "NVIDIA A100-SXM4-80GB", 93.0, 81.0, 312.5)
    assert busy.fb_used_mib == 60 * 1024 and busy.mem_pct == pytest.approx(75.0)
    assert busy.pod_uid == UID  # the host pid's cgroup names the pod; the session process did not
    assert (idle.uuid, idle.power_w, idle.pod_uid) == ("GPU-1", None, "")  # power not supported: empty, not an error
    assert src.history("gpu-node-7/0", 60) == [(100.0, 93.0, pytest.approx(75.0))]
    src.close()
    assert (fake.inits, fake.shutdowns) == (1, 1)


@pytest.mark.parametrize("code, text", [(NVML_ERROR_LIBRARY_NOT_FOUND, "NVML Shared Library Not Found"),
                                        (NVML_ERROR_DRIVER_NOT_LOADED, "Driver Not Loaded")])
def test_no_driver_is_no_local_gpu_not_a_traceback(code, text):
    with pytest.raises(Unavailable, match=f"no local GPU: {text}"):
        NvmlLocal(FakeNvml([], init_error=code)).current()


def test_the_real_bindings_on_a_machine_without_a_driver_say_no_local_gpu():
    """Here (CI, no NVIDIA driver) the real nvidia-ml-py fails at nvmlInit: one clean line."""
    pytest.importorskip("pynvml")
    src = NvmlLocal()
    try:
        gpus = src.current()
    except Unavailable as err:
        assert err.message.startswith("no local GPU")
    else:  # a machine with a driver: the same code reads real GPUs
        assert all(g.node and g.uuid.startswith("GPU-") for g in gpus)
    finally:
        src.close()

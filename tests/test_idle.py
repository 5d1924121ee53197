"""Idle-GPU detection on crafted histories: the threshold, the window, bursts, gaps, short histories."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from prophecis_tui.domain import GpuSample, Pod
from prophecis_tui.idle import (
    Holder,
    Idleness,
    assess,
    holder_of,
    holders_from_samples,
    idle_gpus,
    sample_interval,
    workload_of,
)

NOW = 1_800_000_000.0
MIN = 60.0
STEP = 15.0  # seconds between samples


def history(minutes: float, util: float | list[float] = 0.0, *, end: float = NOW, step: float = STEP):
    """Points every ``step`` seconds over the last ``minutes`` up to ``end``; ``util`` one value or a function
    of the point's age in minutes."""
    n = int(minutes * MIN / step)
    pts = []
    for k in range(n, -1, -1):
        t = end - k * step
        u = util((end - t) / MIN) if callable(util) else util
        pts.append((t, u))
    return pts


def state_of(points, **kw):
    return assess(points, NOW, **kw).state


# ------------------------------------------------------------------------------------------ one GPU
def test_quiet_for_the_whole_window_is_idle_since_the_start_of_the_run():
    a = assess(history(45, 1.0), NOW)
    assert a.state is Idleness.IDLE
    assert a.since == NOW - 45 * MIN and a.idle_for == 45 * MIN
    assert a.last_util == 1.0 and a.peak_util == 1.0


def test_exactly_at_the_threshold_is_not_idle():
    assert state_of(history(45, 5.0)) is Idleness.ACTIVE
    assert state_of(history(45, 4.999)) is Idleness.IDLE
    assert state_of(history(45, 5.0), threshold=5.5) is Idleness.IDLE


def test_exactly_the_window_is_enough():
    assert state_of(history(30, 0.0)) is Idleness.IDLE  # quiet from its first point, 30 min ago
    assert state_of(history(29.75, 0.0)) is Idleness.UNKNOWN  # one sample short
    pts = [(NOW - 40 * MIN, 90.0)] + history(30, 0.0)
    a = assess(pts, NOW, max_gap=20 * MIN)
    assert a.state is Idleness.IDLE and a.idle_for == 30 * MIN
    a = assess(pts, NOW - 1, max_gap=20 * MIN)  # one second earlier: not yet
    assert a.state is Idleness.ACTIVE


def test_a_burst_resets_the_run():
    pts = history(60, lambda age: 80.0 if 19.9 < age < 20.6 else 0.5)
    a = assess(pts, NOW)
    assert a.state is Idleness.ACTIVE  # quiet for 19.75 min only: used within the window
    assert a.since == pytest.approx(NOW - 19.75 * MIN)
    assert assess(pts, NOW, window=15 * MIN).state is Idleness.IDLE
    busy_now = history(60, lambda age: 50.0 if age < 0.1 else 0.0)
    assert assess(busy_now, NOW).state is Idleness.ACTIVE and assess(busy_now, NOW).since is None


def test_a_gap_is_not_idle_time():
    before = history(40, 0.0, end=NOW - 25 * MIN)  # quiet, then nothing for 15 minutes
    after = history(10, 0.0)
    a = assess(before + after, NOW)
    assert a.state is Idleness.UNKNOWN and a.reason == "a gap in the history"
    assert a.since == NOW - 10 * MIN
    # two missed samples (a step of 3 intervals) still join one run; three missed break it
    gap = NOW - 20 * MIN
    two = [p for p in history(45, 0.0) if not gap < p[0] < gap + 3 * STEP]
    assert state_of(two) is Idleness.IDLE
    three = [p for p in history(45, 0.0) if not gap < p[0] < gap + 4 * STEP]
    assert assess(three, NOW).state is Idleness.UNKNOWN and assess(three, NOW).since == gap + 4 * STEP
    # the caller may say how long a gap may be
    assert assess(before + after, NOW, max_gap=20 * MIN).state is Idleness.IDLE


def test_missing_values_are_gaps_not_zeros():
    pts = [(t, None if NOW - 30 * MIN < t < NOW - 10 * MIN else 0.0) for t, _ in history(45)]
    assert state_of(pts) is Idleness.UNKNOWN
    nan = [(t, float("nan") if NOW - 30 * MIN < t < NOW - 10 * MIN else 0.0) for t, _ in history(45)]
    assert state_of(nan) is Idleness.UNKNOWN


def test_too_little_history_is_not_known_yet():
    assert assess([], NOW).state is Idleness.UNKNOWN
    one = assess([(NOW - 5, 0.0)], NOW)
    assert one.state is Idleness.UNKNOWN and one.reason == "too little history"
    short = assess(history(10, 0.0), NOW)
    assert short.state is Idleness.UNKNOWN and short.since == NOW - 10 * MIN and short.reason == "too little history"


def test_a_stale_history_is_not_known():
    a = assess(history(60, 0.0, end=NOW - 5 * MIN), NOW)
    assert a.state is Idleness.UNKNOWN and a.reason == "no recent samples"


def test_the_order_of_points_does_not_matter():
    pts = history(45, 0.0)
    assert assess(list(reversed(pts)), NOW) == assess(pts, NOW)


def test_history_before_the_holder_got_the_gpu_is_not_its():
    pts = history(60, 0.0)
    a = assess(pts, NOW, not_before=NOW - 10 * MIN)
    assert a.state is Idleness.UNKNOWN and a.reason == "held for less than the window"
    assert assess(pts, NOW, not_before=NOW - 40 * MIN).since == NOW - 40 * MIN


def test_sample_interval_is_the_usual_step():
    assert sample_interval([0, 15, 30, 45, 600, 615]) == 15
    assert sample_interval([5]) is None and sample_interval([5, 5]) is None


# ------------------------------------------------------------------------------------------ holders
def test_the_workload_of_a_pod():
    nb = Pod(uid="1", namespace="n", name="lab-0", phase="Running", status="Running", owner_kind="StatefulSet",
             owner_name="lab", labels={"notebook-name": "lab"})
    job = Pod(uid="2", namespace="n", name="mnist-worker-0", phase="Running", status="Running",
              owner_kind="PyTorchJob", owner_name="mnist", job_name="mnist")
    dep = Pod(uid="3", namespace="n", name="fraud-default-0-m-abc", phase="Running", status="Running",
              owner_kind="ReplicaSet", owner_name="fraud-default-0-m-7d9", labels={"seldon-deployment-id": "fraud"})
    rs = Pod(uid="4", namespace="n", name="x-1", phase="Running", status="Running", owner_kind="ReplicaSet",
             owner_name="x")
    bare = Pod(uid="5", namespace="n", name="bare", phase="Running", status="Running")
    assert [workload_of(p) for p in (nb, job, dep, rs, bare)] == [
        ("notebook", "lab"), ("PyTorchJob", "mnist"), ("deployment", "fraud"), ("ReplicaSet", "x"), ("pod", "bare")]
    sts = rs.model_copy(update={"owner_kind": "StatefulSet", "owner_name": "db"})  # not every StatefulSet is a notebook
    assert workload_of(sts) == ("notebook", "db") and workload_of(sts, notebooks={("n", "lab")}) == ("StatefulSet", "db")
    assert workload_of(sts, notebooks={("n", "db")}) == ("notebook", "db")
    started = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
    h = holder_of(nb.model_copy(update={"started": started}))
    assert (h.namespace, h.pod, h.owner_kind, h.owner_name, h.workload_kind, h.workload, h.since) == \
        ("n", "lab-0", "StatefulSet", "lab", "notebook", "lab", started.timestamp())


def test_holders_from_samples_join_by_uid_then_name():
    pods = [Pod(uid="u1", namespace="n", name="lab-0", phase="Running", status="Running",
                labels={"notebook-name": "lab"}),
            Pod(uid="u2", namespace="n", name="w-0", phase="Running", status="Running", job_name="w")]
    samples = [GpuSample(node="g1", gpu=0, pod_uid="u1"),  # NVML knows only the uid
               GpuSample(node="g1", gpu=1, namespace="n", pod="w-0"),
               GpuSample(node="g1", gpu=2, namespace="n", pod="new-0"),  # not in the state yet
               GpuSample(node="g1", gpu=3)]  # not held
    h = holders_from_samples(samples, pods)
    assert set(h) == {"g1/0", "g1/1", "g1/2"}
    assert (h["g1/0"].workload_kind, h["g1/0"].workload) == ("notebook", "lab")
    assert (h["g1/1"].workload_kind, h["g1/1"].workload) == ("training job", "w")
    assert (h["g1/2"].pod, h["g1/2"].workload_kind) == ("new-0", "pod")


# ------------------------------------------------------------------------------------------ the board
def test_idle_gpus_of_several_lists_the_idle_ones_longest_first():
    holders = {k: Holder(namespace="n", pod=f"p-{k}", workload_kind=w, workload=f"w-{k}")
               for k, w in (("g1/0", "notebook"), ("g1/1", "training job"), ("g2/0", "notebook"),
                            ("g2/1", "notebook"), ("g2/2", "deployment"), ("g3/0", "notebook"))}
    histories = {
        "g1/0": history(40, 0.0),  # idle 40 min
        "g1/1": history(90, 95.0),  # busy
        "g2/0": history(120, 2.0),  # idle 2 h
        "g2/1": history(10, 0.0),  # not known yet
        "g2/2": history(60, lambda age: 60.0 if age > 35 else 0.0),  # idle since 35 min ago
        "g9/9": history(120, 0.0),  # idle but held by nobody: not listed
        # g3/0: no history at all
    }
    got = idle_gpus(holders, histories, NOW)
    assert [g.key for g in got] == ["g2/0", "g1/0", "g2/2"]
    assert [g.idle_for / MIN for g in got] == [120, 40, 35]
    first = got[0]
    assert (first.node, first.gpu, first.namespace, first.pod, first.workload) == ("g2", "0", "n", "p-g2/0", "w-g2/0")
    assert first.is_notebook and not got[2].is_notebook
    assert first.since == NOW - 120 * MIN
    assert [g.key for g in idle_gpus(holders, histories, NOW, window=5 * MIN)] == ["g2/0", "g1/0", "g2/2", "g2/1"]
    assert [g.key for g in idle_gpus(holders, histories, NOW, threshold=1.0)] == ["g1/0", "g2/2"]


def test_a_gpu_held_by_a_new_pod_is_not_idle_on_its_predecessors_history():
    holders = {"g1/0": Holder(namespace="n", pod="fresh", since=NOW - 5 * MIN)}
    assert idle_gpus(holders, {"g1/0": history(120, 0.0)}, NOW) == []

"""What the console keeps poll after poll for the GPU screen (backends/gpu_history.py): the mean utilisation of
each node and namespace, and since when each GPU has stayed idle; checked against the whole-history rule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from backends.gpu_history import GroupHistory, IdleRuns
from prophecis_tui.domain import GpuSample
from prophecis_tui.idle import Holder, Idleness, assess, idle_from_runs


def gpu(node: str, i: int, util: float | None, *, pod: str = "", ns: str = "", used: float = 10.0,
        free: float = 30.0) -> GpuSample:
    return GpuSample(node=node, gpu=i, util=util, fb_used_mib=used, fb_free_mib=free, namespace=ns, pod=pod)


def test_nodes_and_namespaces_get_the_mean_of_their_gpus():
    h = GroupHistory()
    h.add(100.0, [gpu("n1", 0, 90.0, pod="a", ns="x", used=30, free=10), gpu("n1", 1, 10.0),
                  gpu("n2", 0, 50.0, pod="b", ns="x"), gpu("n2", 1, None, pod="c", ns="y")])
    assert h.window("node:n1", 100.0, 60) == [(100.0, 50.0, 50.0)]  # (90+10)/2, (75+25)/2
    assert h.window("ns:x", 100.0, 60) == [(100.0, 70.0, 50.0)]  # a free GPU belongs to no namespace
    assert h.window("ns:y", 100.0, 60) == [(100.0, None, 25.0)]  # no utilisation number: none, not zero
    assert h.window("ns:", 100.0, 60) == [] and h.window("node:n9", 100.0, 60) == []
    assert sorted(h.keys()) == ["node:n1", "node:n2", "ns:x", "ns:y"]


def test_a_sparkline_is_one_mean_per_step_over_the_last_minutes():
    h = GroupHistory(spark_step=15.0, spark_seconds=600.0)
    for t in range(0, 900):  # 15 minutes of 1 s polls, utilisation = the minute
        h.add(float(t), [gpu("n1", 0, float(t // 60))])
    spark = h.spark("node:n1")
    assert 40 <= len(spark) <= 42  # 10 minutes of 15 s buckets, and the newest poll
    assert spark[-1] == 14.0 and spark[0] >= 4.0  # older than 10 minutes is gone
    assert spark == sorted(spark)
    assert h.spark("node:nope") == []


def test_groups_gone_for_longer_than_the_history_are_forgotten():
    h = GroupHistory(coarse_seconds=100.0)
    h.add(0.0, [gpu("n1", 0, 1.0)])
    h.add(500.0, [gpu("n2", 0, 1.0)])
    assert h.keys() == ["node:n2"]


def test_a_run_restarts_when_the_gpu_is_busy_changes_hands_or_the_polls_stop():
    r = IdleRuns(threshold=5.0, max_gap=10.0)
    for t in range(0, 10):
        r.add(float(t), [gpu("n", 0, 1.0, pod="p", ns="x")])
    assert r.runs()["n/0"][0] == 0.0 and r.watching_since == 0.0
    r.add(10.0, [gpu("n", 0, 5.0, pod="p", ns="x")])  # exactly the threshold: not idle
    assert "n/0" not in r.runs()
    r.add(11.0, [gpu("n", 0, 0.0, pod="p", ns="x")])
    r.add(12.0, [gpu("n", 0, 0.0, pod="q", ns="x")])  # another pod got it
    assert r.runs()["n/0"][0] == 12.0
    r.add(13.0, [gpu("n", 0, 0.0, pod="q", ns="x")])
    r.add(40.0, [gpu("n", 0, 0.0, pod="q", ns="x")])  # 27 s without a poll: not idle time
    assert r.runs()["n/0"][:2] == (40.0, 40.0)
    r.add(41.0, [gpu("n", 0, None, pod="q", ns="x")])  # no number: not known to be idle
    assert "n/0" not in r.runs()


@st.composite
def polls(draw):
    """One GPU polled about every second: utilisation, sometimes a gap, sometimes another holder."""
    t, out = 0.0, []
    for _ in range(draw(st.integers(3, 60))):
        t += draw(st.sampled_from([1.0] * 12 + [40.0]))
        util = draw(st.sampled_from([0.0, 1.0, 4.9, 5.0, 30.0, 99.0]))
        pod = draw(st.sampled_from(["p"] * 15 + ["q"]))
        out.append((t, util, pod))
    return out


@settings(max_examples=300, deadline=None)
@given(polls())
def test_the_runs_agree_with_the_whole_history_rule(points):
    r = IdleRuns(threshold=5.0, max_gap=20.0)
    for t, util, pod in points:
        r.add(t, [gpu("n", 0, util, pod=pod, ns="x")])
    now, _, holder = points[-1]
    held_from = now
    for t, _, pod in reversed(points):  # the current holder's first poll
        if pod != holder:
            break
        held_from = t
    a = assess([(t, u) for t, u, _ in points], now, threshold=5.0, window=0.0, max_gap=20.0, not_before=held_from)
    run = r.runs().get("n/0")
    if a.state is Idleness.IDLE:
        assert run is not None and run[0] == a.since
    else:
        assert run is None


def test_the_board_takes_the_runs_that_last_the_window():
    holders = {"n/0": Holder("x", "nb-0", workload_kind="notebook", workload="nb", since=50.0),
               "n/1": Holder("x", "job-w0", workload_kind="training job", workload="job"),
               "n/2": Holder("y", "old", since=0.0)}
    runs = {"n/0": (10.0, 2000.0, 1.0, 3.0), "n/1": (1900.0, 2000.0, 0.0, 0.0), "n/2": (0.0, 100.0, 0.0, 0.0),
            "n/3": (0.0, 2000.0, 0.0, 0.0)}
    board = idle_from_runs(holders, runs, 2000.0, window=1800.0, max_age=30.0)
    assert [(g.key, g.since, g.idle_for, g.peak_util, g.is_notebook) for g in board] == [
        ("n/0", 50.0, 1950.0, 3.0, True)]  # clipped to the pod's start; n/1 too short, n/2 stale, n/3 not held

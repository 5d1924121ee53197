"""Tests for the lazy, deterministic container logs of the simulator."""

from __future__ import annotations

import hashlib
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prophecis_tui.simulator.logs import (
    FAILURES,
    PROFILES,
    ContainerLog,
    failure_signature,
    format_timestamp,
)

T0 = 1_795_946_400.0  # 2026-11-29T10:00:00Z
TRAINING = ("pytorch", "tensorflow", "single", "xgboost")
PYTHON_PROFILES = ("pytorch", "tensorflow", "single", "xgboost", "jupyter", "seldon")

# The training loss printed on a step line ('loss=0.41', 'loss: 0.41'; not
# 'val_loss', not xgboost's 'eval-logloss').
LOSS_RE = re.compile(r"(?<![\w-])(?:train-log)?loss[=:]\s*([0-9]+\.[0-9]+)")


def closing_lines(log: ContainerLog) -> list[str]:
    """Text of the lines written after the last body line, at the end."""
    assert log.ended_at is not None
    before = log.count_at(math.nextafter(log.ended_at, -math.inf))
    total = log.count_at(log.ended_at)
    return [text for _, text in log.lines(before, total)]


def losses(log: ContainerLog, start: int, stop: int) -> list[float]:
    out = []
    for _, text in log.lines(start, stop):
        m = LOSS_RE.search(text)
        if m:
            out.append(float(m.group(1)))
    return out


# --------------------------------------------------------------------- basics


def test_format_timestamp_is_rfc3339_nano_utc() -> None:
    assert format_timestamp(T0) == "2026-11-29T10:00:00.000000000Z"
    assert format_timestamp(T0 + 0.25) == "2026-11-29T10:00:00.250000000Z"
    assert format_timestamp(T0 + 0.123456).startswith("2026-11-29T10:00:00.12345")
    assert format_timestamp(0.0) == "1970-01-01T00:00:00.000000000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", format_timestamp(T0 + 0.9999999999))
    assert format_timestamp(T0 + 0.9999999999) == "2026-11-29T10:00:01.000000000Z"


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        ContainerLog("cobol", 1, T0)
    with pytest.raises(ValueError):
        ContainerLog("pytorch", 1, T0, failure="Segfault", ended_at=T0 + 1)
    with pytest.raises(ValueError):
        ContainerLog("pytorch", 1, T0, rate=0)
    with pytest.raises(ValueError):
        ContainerLog("pytorch", 1, T0, ended_at=T0 - 1)


def test_is_hashable_and_comparable_with_a_dict_context() -> None:
    a = ContainerLog("pytorch", 1, T0, context={"pod": "p-0"})
    b = ContainerLog("pytorch", 1, T0, context={"pod": "p-0"})
    assert a == b
    assert hash(a) == hash(b)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_same_parameters_give_same_lines(profile: str) -> None:
    ctx = {"pod": "x-0", "namespace": "ns-risk-dev", "user": "wangwei"}
    a = ContainerLog(profile, 1234, T0, rate=3.0, context=ctx)
    b = ContainerLog(profile, 1234, T0, rate=3.0, context=dict(ctx))
    assert a.lines(0, 500) == b.lines(0, 500)
    # line() and lines() agree, and random access matches sequential access.
    assert [a.line(i) for i in (499, 3, 250, 0)] == [b.lines(0, 500)[i] for i in (499, 3, 250, 0)]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_different_seed_gives_different_text(profile: str) -> None:
    a = ContainerLog(profile, 1, T0)
    b = ContainerLog(profile, 2, T0)
    ta = [t for _, t in a.lines(0, 300)]
    tb = [t for _, t in b.lines(0, 300)]
    assert ta != tb
    assert sum(x != y for x, y in zip(ta, tb)) > 100


_DIGEST_SCRIPT = """
import hashlib, sys
from prophecis_tui.simulator.logs import ContainerLog
log = ContainerLog("pytorch", 99, 1795946400.0, rate=3.0, ended_at=1795947000.0, failure="NCCLTimeout",
                   context={"job": "anti-fraud-abcde", "world_size": "2"})
text = repr(log.lines(0, log.count_at(1795947000.0)))
sys.stdout.write(hashlib.sha256(text.encode()).hexdigest())
"""


def test_stable_across_processes() -> None:
    """The mixer is not Python's salted hash(): other processes agree."""
    log = ContainerLog("pytorch", 99, T0, rate=3.0, ended_at=T0 + 600, failure="NCCLTimeout",
                       context={"job": "anti-fraud-abcde", "world_size": "2"})
    here = hashlib.sha256(repr(log.lines(0, log.count_at(T0 + 600))).encode()).hexdigest()
    root = Path(__file__).resolve().parents[2]
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        out = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], env=env, capture_output=True,
                             text=True, check=True, timeout=60)
        assert out.stdout == here
    assert "anti-fraud" in log.line(0)[1]


# ------------------------------------------------------------------- count_at


def test_count_at_grows_with_rate_and_stops_after_end() -> None:
    log = ContainerLog("pytorch", 7, T0, rate=2.0, ended_at=T0 + 1000)
    assert log.count_at(T0 - 0.001) == 0
    assert log.count_at(T0 - 1e6) == 0
    mid = log.count_at(T0 + 500)
    assert 950 <= mid <= 1050
    before_end = log.count_at(math.nextafter(T0 + 1000, 0.0))
    at_end = log.count_at(T0 + 1000)
    assert 1950 <= before_end <= 2050
    assert at_end > before_end  # the closing lines
    assert log.count_at(T0 + 5000) == at_end == log.count_at(T0 + 1e7)
    with pytest.raises(IndexError):
        log.line(at_end)
    assert log.lines(at_end - 3, at_end + 100) == [log.line(i) for i in range(at_end - 3, at_end)]


@pytest.mark.parametrize("rate", [0.2, 1.0, 200.0])
def test_count_at_follows_rate_for_a_running_container(rate: float) -> None:
    log = ContainerLog("jupyter", 3, T0, rate=rate)
    elapsed = 3600.0
    n = log.count_at(T0 + elapsed)
    # ~rate * elapsed body lines, plus a start-up burst of up to ~25 header lines.
    assert rate * elapsed - 2 <= n <= rate * elapsed + 30 + 0.01 * rate * elapsed
    assert log.count_at(T0 + 2 * elapsed) > n


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=-(2**70), max_value=2**70),
    rate=st.floats(min_value=0.05, max_value=500.0),
    profile=st.sampled_from(sorted(PROFILES)),
    failure=st.sampled_from([None, *sorted(FAILURES)]),
    duration=st.floats(min_value=0.0, max_value=3000.0),
    probes=st.lists(st.floats(min_value=-10.0, max_value=4000.0), min_size=2, max_size=12),
)
def test_count_at_is_monotonic_and_matches_timestamps(
    seed: int, rate: float, profile: str, failure: str | None, duration: float, probes: list[float]
) -> None:
    log = ContainerLog(profile, seed, T0, rate=rate, ended_at=T0 + duration, failure=failure)
    counts = [log.count_at(T0 + p) for p in sorted(probes)]
    assert counts == sorted(counts)
    for p in probes:
        now = T0 + p
        n = log.count_at(now)
        if n:
            assert log.line(n - 1)[0] <= now


# ----------------------------------------------------------------- timestamps


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**64),
    rate=st.floats(min_value=0.05, max_value=1000.0),
    profile=st.sampled_from(sorted(PROFILES)),
    failure=st.sampled_from([None, *sorted(FAILURES)]),
    duration=st.floats(min_value=0.0, max_value=600.0),
)
def test_timestamps_monotonic_and_within_lifetime(
    seed: int, rate: float, profile: str, failure: str | None, duration: float
) -> None:
    end = T0 + duration
    log = ContainerLog(profile, seed, T0, rate=rate, ended_at=end, failure=failure)
    total = log.count_at(end)
    lines = log.lines(0, min(total, 4000)) + log.lines(max(0, total - 200), total)
    stamps = [ts for ts, _ in log.lines(0, min(total, 4000))]
    assert stamps == sorted(stamps)
    tail = [ts for ts, _ in log.lines(max(0, total - 200), total)]
    assert tail == sorted(tail)
    for ts, _ in lines:
        assert T0 <= ts <= end


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**64),
    rate=st.floats(min_value=0.05, max_value=1000.0),
    profile=st.sampled_from(sorted(PROFILES)),
    ended=st.booleans(),
    failure=st.sampled_from([None, *sorted(FAILURES)]),
    offset=st.floats(min_value=-5.0, max_value=700.0),
)
def test_index_at_is_consistent_with_line_timestamps(
    seed: int, rate: float, profile: str, ended: bool, failure: str | None, offset: float
) -> None:
    log = ContainerLog(profile, seed, T0, rate=rate, ended_at=T0 + 600 if ended else None,
                       failure=failure if ended else None)
    t = T0 + offset
    i = log.index_at(t)
    if i > 0:
        assert log.line(i - 1)[0] < t
    if not ended or i < log.count_at(T0 + 600):
        assert log.line(i)[0] >= t
    else:
        assert i == log.count_at(T0 + 600)


def test_index_at_edges() -> None:
    log = ContainerLog("seldon", 5, T0, rate=10.0, ended_at=T0 + 60, failure="Error")
    total = log.count_at(T0 + 60)
    assert log.index_at(T0 - 100) == 0
    assert log.index_at(float("-inf")) == 0
    assert log.index_at(T0 + 1e6) == total
    assert log.index_at(float("inf")) == total
    with pytest.raises(ValueError):
        log.index_at(float("nan"))
    # Exactly at a line's own timestamp, that line is the answer.
    ts = log.line(123)[0]
    assert log.line(log.index_at(ts))[0] == ts


# -------------------------------------------------------------------- closing


@pytest.mark.parametrize("profile", PYTHON_PROFILES)
@pytest.mark.parametrize("failure", ["NCCLTimeout", "CudaOOM", "Error", "ImportError"])
def test_failure_closing_lines_carry_the_signature(profile: str, failure: str) -> None:
    ctx = {"replica_type": "Worker", "replica_index": "2", "world_size": "4"}
    log = ContainerLog(profile, 11, T0, rate=5.0, ended_at=T0 + 300, failure=failure, context=ctx)
    text = "\n".join(closing_lines(log))
    assert "Traceback (most recent call last):" in text
    signature = failure_signature(profile, failure)
    assert signature is not None and signature in text


@pytest.mark.parametrize("profile", ["pytorch", "single", "jupyter", "seldon"])
def test_default_signatures_are_the_pytorch_ones(profile: str) -> None:
    for failure, expected in [("NCCLTimeout", "Watchdog caught collective operation timeout"),
                              ("CudaOOM", "CUDA out of memory"),
                              ("ImportError", "No module named")]:
        log = ContainerLog(profile, 3, T0, rate=1.0, ended_at=T0 + 120, failure=failure)
        assert expected in "\n".join(closing_lines(log))


def test_nccl_timeout_names_the_rank_and_ends_in_dist_backend_error() -> None:
    ctx = {"replica_type": "Worker", "replica_index": "2", "world_size": "4"}
    log = ContainerLog("pytorch", 8, T0, rate=1.0, ended_at=T0 + 900, failure="NCCLTimeout", context=ctx)
    lines = closing_lines(log)
    assert "[Rank 3] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=" in lines[0]
    assert "OpType=ALLREDUCE" in lines[0] and "Timeout(ms)=1800000" in lines[0]
    assert lines[-1].startswith("torch.distributed.DistBackendError: ")


def test_tensorflow_failures_are_tensorflow_style() -> None:
    oom = ContainerLog("tensorflow", 4, T0, rate=1.0, ended_at=T0 + 300, failure="CudaOOM")
    assert "ResourceExhaustedError: OOM when allocating tensor with shape[" in "\n".join(closing_lines(oom))
    nccl = ContainerLog("tensorflow", 4, T0, rate=1.0, ended_at=T0 + 300, failure="NCCLTimeout")
    assert "DeadlineExceededError" in closing_lines(nccl)[-1]


def test_cuda_oom_message() -> None:
    log = ContainerLog("pytorch", 9, T0, rate=1.0, ended_at=T0 + 300, failure="CudaOOM")
    last = closing_lines(log)[-1]
    assert last.startswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate ")
    assert "GPU 0 has a total capacity of 79.25 GiB of which " in last


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("seed", range(8))
def test_oom_killed_just_stops(profile: str, seed: int) -> None:
    log = ContainerLog(profile, seed, T0, rate=2.0, ended_at=T0 + 200, failure="OOMKilled")
    closing = closing_lines(log)
    assert len(closing) <= 1
    everything = "\n".join(t for _, t in log.lines(0, log.count_at(T0 + 200)))
    assert "Traceback" not in everything
    assert failure_signature(profile, "OOMKilled") is None


def test_oom_killed_sometimes_truncates_the_last_line() -> None:
    truncated = 0
    for seed in range(40):
        log = ContainerLog("pytorch", seed, T0, rate=1.0, ended_at=T0 + 100, failure="OOMKilled")
        closing = closing_lines(log)
        if closing:
            truncated += 1
            assert "throughput" not in closing[0] or not closing[0].endswith("samples/s")
    assert 0 < truncated < 40


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_import_error_fails_right_at_start(profile: str) -> None:
    log = ContainerLog(profile, 21, T0, rate=50.0, ended_at=T0 + 30, failure="ImportError")
    total = log.count_at(T0 + 30)
    closing = closing_lines(log)
    assert total - len(closing) <= 2  # the body is at most a couple of lines
    signature = failure_signature(profile, "ImportError")
    assert signature is not None and signature in "\n".join(closing)
    # While still running it never gets further either.
    running = ContainerLog(profile, 21, T0, rate=50.0, failure="ImportError")
    assert running.count_at(T0 + 1000) <= 2
    with pytest.raises(IndexError):
        running.line(2)


@pytest.mark.parametrize("profile", TRAINING)
def test_clean_exit_of_training_saves_the_model(profile: str) -> None:
    log = ContainerLog(profile, 5, T0, rate=2.0, ended_at=T0 + 600, context={"namespace": "ns-risk-dev"})
    text = "\n".join(closing_lines(log))
    assert "Training completed" in text
    assert "s3://mlss-models/ns-risk-dev/" in text
    assert "Traceback" not in text


def test_clean_exit_of_services() -> None:
    jup = ContainerLog("jupyter", 5, T0, rate=2.0, ended_at=T0 + 600)
    assert any("Shutting down" in t for t in closing_lines(jup))
    sel = ContainerLog("seldon", 5, T0, rate=2.0, ended_at=T0 + 600)
    assert any("Shutting down: Master" in t for t in closing_lines(sel))
    plat = ContainerLog("platform", 5, T0, rate=2.0, ended_at=T0 + 600)
    assert any("All workers finished" in t for t in closing_lines(plat))


def test_platform_failures_are_go_style() -> None:
    log = ContainerLog("platform", 2, T0, rate=1.0, ended_at=T0 + 60, failure="Error")
    assert closing_lines(log)[0].startswith("panic: runtime error")


def test_closing_lines_stamped_at_or_just_before_the_end() -> None:
    end = T0 + 400
    log = ContainerLog("pytorch", 1, T0, rate=3.0, ended_at=end, failure="NCCLTimeout")
    n_before = log.count_at(math.nextafter(end, 0.0))
    total = log.count_at(end)
    stamps = [ts for ts, _ in log.lines(n_before, total)]
    assert stamps[-1] == end
    assert all(end - 1.0 <= ts <= end for ts in stamps)
    assert log.line(n_before - 1)[0] <= stamps[0]


# ---------------------------------------------------------------- text shapes


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_no_line_contains_a_newline(profile: str) -> None:
    for failure in [None, *sorted(FAILURES)]:
        log = ContainerLog(profile, 77, T0, rate=10.0, ended_at=T0 + 400, failure=failure)
        for _, text in log.lines(0, log.count_at(T0 + 400)):
            assert "\n" not in text


@pytest.mark.parametrize("profile", TRAINING)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_terminal_noise_appears_for_the_sanitiser(profile: str, seed: int) -> None:
    log = ContainerLog(profile, seed, T0, rate=10.0)
    texts = [t for _, t in log.lines(0, 5000)]
    noisy = [t for t in texts if "\x1b[" in t or "\r" in t]
    assert noisy
    assert len(noisy) < 200  # rare, not everywhere


def test_both_kinds_of_noise_exist() -> None:
    texts = [t for _, t in ContainerLog("pytorch", 0, T0, rate=10.0).lines(0, 20000)]
    assert any("\x1b[" in t for t in texts)
    assert any("\r" in t for t in texts)


def test_no_unmasked_secrets() -> None:
    for profile in sorted(PROFILES):
        for _, text in ContainerLog(profile, 4, T0, rate=5.0).lines(0, 3000):
            for m in re.finditer(r"(?:token|secret_key|password)[=\"]+([^\s&\"]*)", text):
                assert set(m.group(1)) <= {"*"}, text


def test_pytorch_lines_mention_rank_and_world_size() -> None:
    ctx = {"replica_type": "Worker", "replica_index": "0", "world_size": "3", "job": "credit-scoring-x1"}
    texts = [t for _, t in ContainerLog("pytorch", 6, T0, context=ctx).lines(0, 60)]
    assert any("WORLD_SIZE=3 RANK=1" in t for t in texts)
    assert any("[rank1]" in t and "loss=" in t for t in texts)


def test_logging_lines_use_their_own_timestamp() -> None:
    log = ContainerLog("pytorch", 6, T0 + 0.5, rate=1.0)
    for ts, text in log.lines(20, 40):
        if text[:4].isdigit():
            tm = time.gmtime(ts)
            assert text.startswith(time.strftime("%Y-%m-%d %H:%M:%S", tm))


def test_jupyter_lines_look_like_jupyter_server() -> None:
    ctx = {"namespace": "ns-credit-dev", "notebook": "hduser01-nb", "pod": "hduser01-nb-0"}
    texts = [t for _, t in ContainerLog("jupyter", 1, T0, context=ctx).lines(0, 400)]
    assert any("http://hduser01-nb-0:8888/notebook/ns-credit-dev/hduser01-nb/lab" in t for t in texts)
    assert any(re.match(r"\[I \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ServerApp\] 200 GET /notebook/", t)
               for t in texts)
    assert any(t.startswith("[W ") for t in texts)


def test_seldon_access_logs_and_errors() -> None:
    texts = [t for _, t in ContainerLog("seldon", 1, T0, rate=20.0).lines(0, 4000)]
    assert sum('"POST /api/v1.0/predictions HTTP/1.1" 200' in t for t in texts) > 3000
    errors = [i for i, t in enumerate(texts) if " - ERROR:  " in t]
    assert errors
    for i in errors:
        assert '"POST /api/v1.0/predictions HTTP/1.1" 500' in texts[i + 1]


def test_platform_lines_are_klog() -> None:
    texts = [t for _, t in ContainerLog("platform", 1, T0).lines(0, 300)]
    assert all(re.match(r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6}       1 \S+\.go:\d+\] ", t) for t in texts)


def test_xgboost_rounds_are_consecutive() -> None:
    texts = [t for _, t in ContainerLog("xgboost", 1, T0).lines(0, 700)]
    rounds = [int(m.group(1)) for t in texts if (m := re.match(r"\[(\d+)\]\ttrain-logloss:", t))]
    assert rounds == list(range(len(rounds)))
    assert len(rounds) > 600


# ------------------------------------------------------------------- training


@pytest.mark.parametrize("profile", TRAINING)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_loss_trends_downward(profile: str, seed: int) -> None:
    log = ContainerLog(profile, seed, T0, rate=1.0)
    early = losses(log, 0, 400)[:50]
    late = losses(log, 2000, 2051)
    assert len(early) == 50 and len(late) >= 30
    assert sum(early) / len(early) > sum(late) / len(late)


# ---------------------------------------------------------------- performance


def test_ten_thousand_lines_of_a_chatty_container_are_fast() -> None:
    log = ContainerLog("pytorch", 12, T0, rate=200.0, context={"world_size": "8"})
    start = time.perf_counter()
    out = log.lines(0, 10_000)
    elapsed = time.perf_counter() - start
    assert len(out) == 10_000
    assert elapsed < 1.0


def test_far_lines_cost_the_same_as_near_ones() -> None:
    log = ContainerLog("platform", 12, T0, rate=200.0)
    start = time.perf_counter()
    far = log.lines(10**9, 10**9 + 1000)
    assert time.perf_counter() - start < 1.0
    assert len(far) == 1000
    assert log.index_at(far[500][0]) <= 10**9 + 500

"""LogFollow (prophecis_tui.log_feed): container logs into a LogBuffer through the Kubernetes backend against the
simulated cluster over loopback, and its merge and resume rules against scripted sources.

The simulated clock is frozen: logs grow only when a test moves it on. Each test has a fresh ``tiny`` cluster.
"""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

import prophecis_tui.log_feed as lf
from backends.kubernetes import Kubernetes
from prophecis_tui.domain import Unavailable
from prophecis_tui.log_feed import LogFollow, LogTarget, stamp_ns
from prophecis_tui.logs import LogBuffer, LogLine, parse_lines
from tests.backends.conftest import BackendFactory, _factory
from tests.conftest import poll
from tests.simulator.test_api import create_running_pod, notebook_body, pod_body, raw, tenant

KF = "kubeflow.org"


@pytest.fixture
def tiny_backend(tiny) -> Iterator[BackendFactory]:
    """``tiny_backend(role)`` -> a Kubernetes backend on the test's cluster (closed after the test)."""
    yield from _factory(tiny)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch) -> None:
    """Waiting containers are asked again every 0.1 s here (2 s in the console)."""
    monkeypatch.setattr(lf, "WAIT_RETRY", 0.1)


# ----------------------------------------------------------------------------------- helpers
class Counting:
    """A LogSource around the backend that remembers how each log was opened."""

    def __init__(self, inner: Kubernetes) -> None:
        self.inner = inner
        self.opens: list[dict] = []
        self.streams: list = []
        self._lock = threading.Lock()

    def open_log(self, namespace: str, pod: str, container: str, **kw):
        with self._lock:
            self.opens.append({"pod": pod, "container": container, **kw})
        stream = self.inner.open_log(namespace, pod, container, **kw)
        with self._lock:
            self.streams.append(stream)
        return stream


def plain(k: Kubernetes, t: LogTarget, **kw) -> list[LogLine]:
    """A non-follow read of the target, parsed as the feed parses."""
    return parse_lines([ln for b in k.open_log(t.namespace, t.pod, t.container, follow=False, **kw) for ln in b],
                       source=t.source, timestamps=True)


def everything(buf: LogBuffer) -> list[LogLine]:
    return buf.range(buf.first_seq, buf.total)


def pairs(lines: list[LogLine]) -> list[tuple[str, str, str]]:
    return [(ln.source, ln.stamp, ln.text) for ln in lines]


def settle(follow: LogFollow, buf: LogBuffer, quiet: float = 0.6, limit: float = 15.0) -> None:
    """Wait until the buffer has not changed for ``quiet`` seconds (the feed has caught up)."""
    deadline = time.monotonic() + limit
    last, since = buf.version, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if buf.version != last:
            last, since = buf.version, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError("the log feed did not settle")


def status_is(follow: LogFollow, target: LogTarget, want: str, limit: float = 10.0) -> None:
    assert poll(lambda: follow.status()[target].startswith(want), limit), \
        f"status {follow.status()[target]!r}, not {want!r}"


@pytest.fixture
def feed():
    """``feed(source, targets, buffer, **kw)`` starts a LogFollow that is stopped after the test."""
    made: list[LogFollow] = []

    def make(*args, **kw) -> LogFollow:
        f = LogFollow(*args, **kw)
        made.append(f)
        f.start()
        return f
    yield make
    for f in made:
        f.stop()
    for f in made:
        assert f.join(5), "a log feed thread did not end"


def running_target(tiny, ns: str, name: str = "talker") -> LogTarget:
    p = create_running_pod(tiny, ns, name)
    return LogTarget(ns, name, p.spec.containers[0].name)


def chatty(tiny, t: LogTarget, rate: float) -> None:
    status, _, _ = raw(tiny, "POST", "/sim/admin/chatty",
                       body={"namespace": t.namespace, "pod": t.pod, "container": t.container, "rate": rate})
    assert status == 200


# ----------------------------------------------------------------------------------- one container
def test_follow_takes_new_lines_as_the_clock_moves(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    t = running_target(tiny, ns)
    tiny.advance(30)
    k = tiny_backend()
    buf = LogBuffer(10_000)
    f = feed(k, [t], buf, tail_lines=5)
    status_is(f, t, "streaming")
    assert poll(lambda: len(buf) == 5, 10)
    for _ in range(4):
        tiny.advance(15)
        time.sleep(0.2)
    settle(f, buf)
    got = everything(buf)
    assert len(got) > 5
    ref = plain(k, t)
    assert pairs(got) == pairs(ref[len(ref) - len(got):]), "the follow differs from a plain read"
    assert [ln.seq for ln in got] == list(range(len(got)))
    assert f.status() == {t: "streaming"}
    assert f.version >= 1


def test_tail_lines_and_since_seconds_without_follow(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    t = running_target(tiny, ns)
    tiny.advance(600)
    k = tiny_backend()
    buf = LogBuffer(1000)
    f = feed(k, [t], buf, follow=False, tail_lines=7)
    status_is(f, t, "ended")
    settle(f, buf, quiet=0.2)
    assert pairs(everything(buf)) == pairs(plain(k, t)[-7:])
    buf2 = LogBuffer(1000)
    f2 = feed(k, [t], buf2, follow=False, since_seconds=120)
    status_is(f2, t, "ended")
    settle(f2, buf2, quiet=0.2)
    ref = plain(k, t, since_seconds=120)
    assert 0 < len(ref) < len(plain(k, t)) and pairs(everything(buf2)) == pairs(ref)


def test_a_small_buffer_keeps_the_newest_lines_and_counts_the_dropped(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    t = running_target(tiny, ns)
    tiny.advance(600)
    k = tiny_backend()
    buf = LogBuffer(50)
    f = feed(k, [t], buf, follow=False)
    status_is(f, t, "ended")
    settle(f, buf, quiet=0.2)
    ref = plain(k, t)
    assert len(buf) == 50 and buf.dropped == len(ref) - 50
    assert pairs(everything(buf)) == pairs(ref[-50:])


# ----------------------------------------------------------------------------------- replicas merged
def test_replicas_of_a_training_job_merge_in_timestamp_order(tiny, tiny_backend, feed) -> None:
    k = tiny_backend()
    pods = [p for p in k.list("pods").items if p.replica_type and p.owner_kind == "TFJob" and p.phase == "Running"]
    job = pods[0].job_name
    pods = [p for p in pods if p.job_name == job]
    assert len(pods) >= 3
    targets = [LogTarget(p.namespace, p.name, p.container_names[0], source=p.replica) for p in pods]
    assert {t.source for t in targets} >= {"chief-0", "worker-0", "ps-0"}
    buf = LogBuffer(100_000)
    # a generous hold-back: this machine may be busy, and the order must hold for the assertion
    f = feed(k, targets, buf, tail_lines=30, hold_back=0.5)
    for _ in range(6):
        tiny.advance(10)
        time.sleep(0.15)
    settle(f, buf)
    got = everything(buf)
    assert set(f.status().values()) == {"streaming"}
    stamps = [stamp_ns(ln.stamp) for ln in got]
    assert stamps == sorted(stamps), "lines of the replicas are not in timestamp order"
    assert set(buf.sources()) == {t.source for t in targets}
    for t in targets:  # each replica's lines are its own log, whole, labelled with the replica
        mine = [ln for ln in got if ln.source == t.source]
        ref = plain(k, t)
        assert pairs(mine) == pairs(ref[len(ref) - len(mine):]) and len(mine) > 30


def test_a_quiet_replica_holds_the_others_back_only_briefly(feed) -> None:
    """Scripted: one replica talks, the other says nothing; lines still arrive, within the hold-back."""
    talk = Script([[(1.0, "a1"), (2.0, "a2")], 0.05, [(3.0, "a3")]], end=False)
    quiet = Script([], end=False)
    src = ScriptedSource({"a": talk, "b": quiet})
    buf = LogBuffer(100)
    t0 = time.monotonic()
    f = feed(src, [LogTarget("ns", "a", "c", "A"), LogTarget("ns", "b", "c", "B")], buf, hold_back=0.2)
    assert poll(lambda: len(buf) == 3, 5)
    assert time.monotonic() - t0 < lf.MAX_HOLD + 1.0
    assert [ln.text for ln in everything(buf)] == ["a1", "a2", "a3"]
    f.stop()


def test_lines_that_come_late_from_one_replica_are_put_in_their_place(feed) -> None:
    a = Script([[(1.0, "a1"), (3.0, "a3")], 0.3, [(5.0, "a5")]], end=False)
    b = Script([0.05, [(2.0, "b2"), (4.0, "b4")], 0.3, [(6.0, "b6")]], end=False)
    buf = LogBuffer(100)
    f = feed(ScriptedSource({"a": a, "b": b}), [LogTarget("ns", "a", "c", "A"), LogTarget("ns", "b", "c", "B")],
             buf, hold_back=0.2)
    assert poll(lambda: len(buf) == 6, 5)
    assert [ln.text for ln in everything(buf)] == ["a1", "b2", "a3", "b4", "a5", "b6"]
    f.stop()


# ----------------------------------------------------------------------------------- resume
def test_resume_after_injected_drops_has_no_duplicates_and_no_gaps(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    t = running_target(tiny, ns)
    tiny.advance(5)
    chatty(tiny, t, 400)  # many lines share each second: a resume from a whole second repeats hundreds
    tiny.advance(3)
    k = tiny_backend()
    src = Counting(k)
    buf = LogBuffer(100_000)
    tiny.call(lambda: tiny.sim.faults.update({"drop_log_every": 0.25}))  # each follow is cut after 0.25 s
    try:
        f = feed(src, [t], buf, tail_lines=10, backoff=(0.05, 0.2))
        for _ in range(8):
            tiny.advance(0.5)
            time.sleep(0.3)
    finally:
        tiny.call(lambda: tiny.sim.faults.update({"drop_log_every": 0}))
    tiny.call(tiny.sim.api.drop_log_streams)
    tiny.advance(0.5)
    settle(f, buf, quiet=1.0)
    resumed = [o for o in src.opens if o.get("since_time")]
    assert len(resumed) >= 3, f"only {len(resumed)} resumes"
    got = everything(buf)
    ref = plain(k, t)
    start = next(i for i, ln in enumerate(ref) if ln.stamp == got[0].stamp and ln.text == got[0].text)
    assert pairs(got) == pairs(ref[start:start + len(got)]), "lines were lost or taken twice"
    assert len(got) == len(ref) - start, "the feed did not catch up"
    assert len(got) > 1000
    sent = sum(s.lines for s in src.streams)
    assert sent > len(got) + 100, "the resumes repeated no lines: the check of what was taken was not exercised"
    assert f.status() == {t: "streaming"}


def test_a_broken_stream_is_resumed_and_says_so(feed) -> None:
    first = Script([[(1.0, "x"), (1.0, "y")], [(2.0, "z")]], broken=True)
    again = Script([[(1.0, "x"), (1.0, "y"), (2.0, "z"), (2.0, "z2"), (3.0, "w")]], end=False)
    src = ScriptedSource({"p": [first, again]})
    buf = LogBuffer(100)
    t = LogTarget("ns", "p", "c")
    seen: list[str] = []
    f = feed(src, [t], buf, backoff=(0.05, 0.1))
    watch_status(f, t, seen, until=lambda: len(buf) == 5)
    assert [ln.text for ln in everything(buf)] == ["x", "y", "z", "z2", "w"]
    assert "reconnecting: the log stream broke" in seen
    assert src.calls[1]["since_time"] == stamp(2.0)


def test_same_stamp_lines_are_matched_one_for_one_on_resume() -> None:
    r = lf._Resume()
    taken = mk([(1.0, "a"), (2.0, "dup"), (2.0, "dup"), (2.0, "other")])
    r.note(taken)
    assert r.stamp == stamp(2.0) and r.resume() == stamp(2.0)
    again = mk([(1.0, "a"), (2.0, "dup"), (2.0, "dup"), (2.0, "dup"), (2.0, "other"), (2.0, "new")])
    got = r.drop_seen(again)
    assert [ln.text for ln in got] == ["dup", "new"]  # the third "dup" was never taken
    assert r.checking  # not past the stamp yet: the next batch is checked too
    got = r.drop_seen(mk([(2.0, "other"), (3.0, "later"), (2.0, "odd but after")]))
    assert [ln.text for ln in got] == ["other", "later", "odd but after"]
    assert not r.checking


# ----------------------------------------------------------------------------------- states
def test_waiting_for_a_container_to_start_then_streaming(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    body = pod_body("with-init", containers=[{"name": "main", "image": "busybox:1.36"}])
    body["spec"]["initContainers"] = [{"name": "fetch-model", "image": "busybox:1.36"}]
    body["metadata"]["annotations"] = {"sim.prophecis.io/init-seconds": "15"}
    tiny.core().create_namespaced_pod(ns, body)
    tiny.advance(5)  # scheduled, image pulled, the init container running
    k = tiny_backend()
    main, init = LogTarget(ns, "with-init", "main"), LogTarget(ns, "with-init", "fetch-model", init=True)
    buf, ibuf = LogBuffer(1000), LogBuffer(1000)
    f = feed(k, [main], buf)
    fi = feed(k, [init], ibuf)
    status_is(f, main, "waiting: PodInitializing")
    status_is(fi, init, "streaming")
    assert poll(lambda: len(ibuf) > 0, 5)
    for _ in range(10):
        tiny.advance(3)
        if poll(lambda: f.status()[main] == "streaming" and len(buf) > 0, 1.0):
            break
    status_is(f, main, "streaming")
    assert poll(lambda: len(buf) > 0, 5)
    # the init container finished: its follow ended, and a look again found nothing new
    status_is(fi, init, "ended")
    settle(fi, ibuf, quiet=0.2)
    assert pairs(everything(ibuf)) == pairs(plain(k, init))


def test_previous_container(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    body = notebook_body("crashy")
    body["metadata"]["annotations"] = {"sim.prophecis.io/plan": "crash"}
    tiny.custom().create_namespaced_custom_object(KF, "v1", ns, "notebooks", body)
    for _ in range(60):
        tiny.advance(2)
        p = tiny.call(lambda: tiny.sim.engine.pod_rt(ns, "crashy-0"))
        if p is not None and p.containers[0].restarts:
            break
    k = tiny_backend()
    t = LogTarget(ns, "crashy-0", "notebook-container")
    buf = LogBuffer(10_000)
    f = feed(k, [t], buf, previous=True)
    status_is(f, t, "ended")
    settle(f, buf, quiet=0.2)
    assert pairs(everything(buf)) == pairs(plain(k, t, previous=True)) and len(buf) > 0
    # a pod that never restarted has none
    other = running_target(tiny, ns)
    f2 = feed(k, [other], LogBuffer(10), previous=True)
    status_is(f2, other, "failed: previous terminated container")
    assert f2.status()[other] == (f'failed: previous terminated container "{other.container}" in pod '
                                  f'"{other.pod}" not found')


def test_failures_end_the_target(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    k = tiny_backend()
    gone = LogTarget(ns, "no-such-pod", "main")
    f = feed(k, [gone], LogBuffer(10))
    status_is(f, gone, "failed: ")
    assert f.status()[gone] == 'failed: pods "no-such-pod" not found'
    mine = set(tiny.sim.identity("group-admin").namespaces)
    their = next(p for p in tiny.core().list_pod_for_all_namespaces().items
                 if p.metadata.namespace not in mine and p.spec.node_name)
    t = LogTarget(their.metadata.namespace, their.metadata.name, their.spec.containers[0].name)
    f2 = feed(tiny_backend("group-admin"), [t], LogBuffer(10))
    status_is(f2, t, "failed: ")
    assert "forbidden" in f2.status()[t].lower()


def test_a_pod_not_scheduled_is_waiting_for_its_log(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    body = pod_body("nowhere")
    body["spec"]["nodeSelector"] = {"no-such-node-label": "x"}
    tiny.core().create_namespaced_pod(ns, body)
    tiny.advance(2)
    t = LogTarget(ns, "nowhere", "main")
    f = feed(tiny_backend(), [t], LogBuffer(10))
    status_is(f, t, "waiting: no log yet")


def test_a_pod_deleted_while_followed_fails_with_the_api_message(tiny, tiny_backend, feed) -> None:
    ns = tenant(tiny)
    t = running_target(tiny, ns, "short-lived")
    tiny.advance(5)
    buf = LogBuffer(100)
    f = feed(tiny_backend(), [t], buf)
    status_is(f, t, "streaming")
    tiny.core().delete_namespaced_pod("short-lived", ns, grace_period_seconds=0)
    status_is(f, t, "failed: ")
    assert f.status()[t] == 'failed: pods "short-lived" not found'


def test_unavailable_is_retried_with_backoff(feed) -> None:
    ok = Script([[(1.0, "hello")]], end=False)
    src = ScriptedSource({"p": [Unavailable("the Kubernetes API at x is unavailable (503)"),
                                Unavailable("the Kubernetes API at x is unavailable (503)"), ok]})
    t = LogTarget("ns", "p", "c")
    buf = LogBuffer(10)
    seen: list[str] = []
    t0 = time.monotonic()
    f = feed(src, [t], buf, backoff=(0.05, 1.0))
    watch_status(f, t, seen, until=lambda: len(buf) == 1)
    assert [s for s in seen if s.startswith("reconnecting")] == ["reconnecting: the Kubernetes API at x is "
                                                                 "unavailable (503)"]
    assert seen[-1] == "streaming"
    assert time.monotonic() - t0 >= 0.05 + 0.1 - 0.02  # 0.05 s, then twice that


def test_stop_closes_streams_and_threads_end_promptly(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    t = running_target(tiny, ns)
    k = tiny_backend()
    f = LogFollow(k, [t], LogBuffer(10), tail_lines=0)
    f.start()
    status_is(f, t, "streaming")
    t0 = time.monotonic()
    f.stop()
    assert f.join(2.0) and time.monotonic() - t0 < 2.0
    with pytest.raises(RuntimeError):
        f.start()


# ----------------------------------------------------------------------------------- scripted sources
def stamp(sec: float) -> str:
    whole = int(sec)
    return f"2026-11-29T10:00:{whole:02d}.{int(round((sec - whole) * 1e9)):09d}Z"


def mk(items: list[tuple[float, str]]) -> list[LogLine]:
    return parse_lines([f"{stamp(s)} {text}" for s, text in items])


class Script:
    """A scripted LogStream: batches of (second, text) and pauses (seconds); then it ends, breaks, or stays
    open (``end=False``) until closed."""

    def __init__(self, steps: list, end: bool = True, broken: bool = False) -> None:
        self.steps, self.end, self.broken_at_end = steps, end, broken
        self.broken = False
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[list[str]]:
        for step in self.steps:
            if self._closed.is_set():
                return
            if isinstance(step, (int, float)):
                self._closed.wait(step)
                continue
            yield [f"{stamp(s)} {text}" for s, text in step]
        if self.broken_at_end:
            self.broken = True
            return
        if not self.end:
            self._closed.wait(30)

    def close(self) -> None:
        self._closed.set()


class ScriptedSource:
    """A LogSource whose pods answer with scripts (or raise), one per open in turn (the last one repeats)."""

    def __init__(self, scripts: dict) -> None:
        self.scripts = {k: (v if isinstance(v, list) else [v]) for k, v in scripts.items()}
        self.calls: list[dict] = []

    def open_log(self, namespace: str, pod: str, container: str, **kw):
        self.calls.append(kw)
        queue = self.scripts[pod]
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item


def watch_status(f: LogFollow, t: LogTarget, seen: list[str], until, limit: float = 5.0) -> None:
    """Record each status the target passes through until ``until()`` holds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        s = f.status()[t]
        if not seen or seen[-1] != s:
            seen.append(s)
        if until():
            return
        time.sleep(0.005)
    raise AssertionError(f"not reached; statuses seen: {seen}")


class Body:
    """An in-memory HTTP body for HttpLogStream, given in 64 KiB reads as fast as they are taken."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, amt: int, decode_content: bool = True):
        for i in range(0, len(self.data), amt):
            yield self.data[i:i + amt]

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def test_replicas_read_as_fast_as_the_cpu_allows_still_merge_in_order(feed) -> None:
    """Four targets whose whole logs are there at once: their reader threads take turns at the CPU, so one
    may fall far behind another; the merge waits for the busy ones (a fixed hold-back did not), and one far
    ahead pauses until the merge takes its lines (without that, a reader starved for MAX_HOLD lost its place)."""
    from backends.log_stream import HttpLogStream

    n = 100_000  # with 25,000 a reader rarely falls 2 s behind; with 100,000 it usually did before the fix
    bodies = {}
    for i in range(4):
        rows = []
        for j in range(n):
            ns = 1_795_946_400 * 10**9 + j * 2_000_000 + i * 500_000
            sec, frac = divmod(ns, 10**9)
            rows.append(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(sec))}.{frac:09d}Z replica {i} line {j}\n")
        bodies[f"r{i}"] = "".join(rows).encode()

    class Source:
        def open_log(self, namespace, pod, container, **kw):
            return HttpLogStream(Body(bodies[pod]))

    buf = LogBuffer(4 * n)
    targets = [LogTarget("ns", p, "c", source=p) for p in bodies]
    f = feed(Source(), targets, buf, follow=False)
    assert poll(lambda: buf.total == 4 * n, 60)
    got = everything(buf)
    stamps = [stamp_ns(ln.stamp) for ln in got]
    assert stamps == sorted(stamps)
    assert set(f.status().values()) == {"ended"}


def test_a_starved_replicas_backlog_is_waited_for_but_not_the_live_tail() -> None:
    """The merge's rule on its own (no threads; the hold clock given): replica b's reader is busy but behind (a
    thread starved of the CPU). Lines of a written before the follow began (the tail asked for) wait for it past
    MAX_HOLD, so the backlog comes out in order; a live line of a (stamped after the start) goes after MAX_HOLD."""
    t = [0.0]
    targets = [LogTarget("ns", "a", "c", "A"), LogTarget("ns", "b", "c", "B")]
    f = LogFollow(ScriptedSource({}), targets, LogBuffer(100), clock=lambda: t[0])
    f._backlog_before = 1_000.0  # the wall clock when this follow began (start() sets it)
    a, b = (f._states[x] for x in targets)
    for st in (a, b):
        st.status, st.waiting_since, st.fresh = "streaming", None, False  # both busy reading
    b.last_key = 100.0  # b has got to 100 s in its backlog
    backlog = [LogLine("a backlog", ts=500.0)]
    a.pending, a.held, a.last_key = [(0.0, backlog, [500.0])], 1, 500.0
    t[0] = lf.MAX_HOLD * 5
    with f._lock:
        out, _ = f._take(t[0])
    assert out == []  # waits for b: b may still have lines between 100 s and 500 s
    live = [LogLine("a live", ts=2_000.0)]
    a.pending.append((0.0, live, [2_000.0]))
    a.held += 1
    with f._lock:
        out, _ = f._take(t[0])
    assert [ln.text for ln in out] == ["a backlog", "a live"]  # the live line waited MAX_HOLD: it goes, and all before


def test_a_target_is_ended_only_once_its_last_lines_are_in_the_buffer() -> None:
    """The log screen writes how a container ended (OOMKilled, an exit code) after its log when the follow says
    "ended". A replica that ended while its lines were still held for the merge (another replica connecting) was
    said to be ended first, and the note came before its log, at line 1 (seen once in a loaded CI run)."""
    targets = [LogTarget("ns", "a", "c", "A"), LogTarget("ns", "b", "c", "B")]
    f = LogFollow(ScriptedSource({}), targets, LogBuffer(100), clock=lambda: 0.0)
    a, b = (f._states[x] for x in targets)
    a.status = "ended"  # a's whole log was read; b is still connecting (STARTING): a's lines wait for it
    a.pending, a.held, a.last_key = [(0.0, [LogLine("a1", ts=1.0)], [1.0])], 1, 1.0
    with f._lock:
        out, _ = f._take(0.0)
    assert out == [] and f.status()[targets[0]] == "streaming"
    b.status, b.waiting_since = "streaming", -10.0  # b is open and quiet: a's lines go
    with f._lock:
        out, _ = f._take(0.0)
    assert [ln.text for ln in out] == ["a1"]
    f._adding = True  # the merger took them and is adding them to the buffer
    assert f.status()[targets[0]] == "streaming"
    f._adding = False
    assert f.status() == {targets[0]: "ended", targets[1]: "streaming"}

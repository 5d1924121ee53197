"""Container logs as streams (``Kubernetes.open_log``, ``backends.log_stream``) against the simulated cluster over
loopback, and the line splitting on its own.

The simulated clock is frozen: a follow stream gets new lines only when a test moves the clock on. Reads that
change nothing use a fresh ``tiny`` cluster too, since several tests start pods, make one chatty or drop streams.
"""

from __future__ import annotations

import json
import math
import threading
import time

import pytest

from backends.base import LogSource, LogStream
from backends.kubernetes import Kubernetes
from backends.log_stream import HttpLogStream
from prophecis_tui.domain import Forbidden, Invalid, NotFound
from prophecis_tui.simulator.clock import parse_rfc3339
from tests.conftest import poll
from tests.simulator.test_api import (create_running_pod, ga_namespaces, log_lines, notebook_body, pod_body, raw,
                                      tenant)

KF = "kubeflow.org"
STAMP = 30  # len("2026-11-29T10:00:00.123456789Z")


# ----------------------------------------------------------------------------------- helpers
class Reader:
    """Iterates a log stream in a thread, keeping its batches."""

    def __init__(self, stream: LogStream) -> None:
        self.stream = stream
        self.batches: list[list[str]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for batch in self.stream:
                self.batches.append(batch)
        finally:
            self.done.set()

    @property
    def lines(self) -> list[str]:
        return [ln for b in self.batches for ln in b]

    def close(self) -> float:
        """Close from this thread; how long the reader took to end."""
        t0 = time.monotonic()
        self.stream.close()
        self.thread.join(5)
        return time.monotonic() - t0


def stamp_of(line: str) -> float:
    return parse_rfc3339(line.split(" ", 1)[0])


def official(c, ns: str, pod: str, **kw) -> list[str]:
    """The same read through the official client (its own request building), as lines."""
    return log_lines(c.core().read_namespaced_pod_log(pod, ns, **kw))


def running(c, ns: str) -> tuple[str, str]:
    p = create_running_pod(c, ns, "talker")
    return p.metadata.name, p.spec.containers[0].name


# ----------------------------------------------------------------------------------- reads
def test_kubernetes_is_a_log_source(tiny_backend) -> None:
    k: LogSource = tiny_backend()
    assert callable(k.open_log)


def test_a_read_without_follow_is_the_whole_answer_in_batches(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    tiny.advance(60)
    k = tiny_backend()
    stream = k.open_log(ns, pod, ctr, follow=False, timestamps=True)
    got = [ln for batch in stream for ln in batch]
    assert got == official(tiny, ns, pod, timestamps=True)
    assert len(got) >= 10 and all(len(ln.split(" ", 1)[0]) == STAMP for ln in got)
    assert isinstance(stream, HttpLogStream) and not stream.broken and stream.lines == len(got)
    plain = [ln for batch in k.open_log(ns, pod, ctr, follow=False, timestamps=False) for ln in batch]
    assert plain == [ln.split(" ", 1)[1] for ln in got]


def test_tail_lines_and_since_seconds(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    tiny.advance(300)
    k = tiny_backend()
    whole = [ln for b in k.open_log(ns, pod, ctr, follow=False) for ln in b]
    tail = [ln for b in k.open_log(ns, pod, ctr, follow=False, tail_lines=5) for ln in b]
    assert tail == whole[-5:]
    assert [ln for b in k.open_log(ns, pod, ctr, follow=False, tail_lines=0) for ln in b] == []
    recent = [ln for b in k.open_log(ns, pod, ctr, follow=False, since_seconds=60) for ln in b]
    now = tiny.sim.engine.now()
    assert 0 < len(recent) < len(whole)
    assert recent == [ln for ln in whole if stamp_of(ln) >= now - 60 - 1e-6]
    assert recent == official(tiny, ns, pod, since_seconds=60, timestamps=True)
    both = [ln for b in k.open_log(ns, pod, ctr, follow=False, since_seconds=60, tail_lines=2) for ln in b]
    assert both == recent[-2:]


def test_since_time_is_whole_seconds_as_the_api_server_passes_it_on(tiny, tiny_backend) -> None:
    """The API server hands sinceTime to the kubelet in whole seconds: a read from a line's stamp starts at the
    beginning of that second (the feed drops what it has already taken)."""
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    tiny.advance(120)
    k = tiny_backend()
    whole = [ln for b in k.open_log(ns, pod, ctr, follow=False) for ln in b]
    mark = whole[len(whole) // 2].split(" ", 1)[0]
    since = [ln for b in k.open_log(ns, pod, ctr, follow=False, since_time=mark) for ln in b]
    second = math.floor(parse_rfc3339(mark))
    assert since == [ln for ln in whole if stamp_of(ln) >= second]
    assert whole[len(whole) // 2] in since
    with pytest.raises(ValueError):
        k.open_log(ns, pod, ctr, since_seconds=5, since_time=mark)


def test_follow_gets_new_lines_as_the_clock_moves(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    k = tiny_backend()
    r = Reader(k.open_log(ns, pod, ctr, follow=True, tail_lines=2))
    try:
        assert poll(lambda: len(r.lines) >= 2, 10), "the tail did not come"
        first = r.lines[:2]
        for _ in range(10):
            tiny.advance(20)
            if poll(lambda: len(r.lines) > 2, 1.0):
                break
        got = r.lines
        assert got[:2] == first and len(got) > 2, "no new lines after the clock moved"
        stamps = [ln.split(" ", 1)[0] for ln in got]
        assert stamps == sorted(stamps)
        assert stamp_of(got[-1]) <= tiny.sim.engine.now()
        assert not r.done.is_set(), "a follow ended while the pod runs"
        # what came matches a plain read of the same window
        whole = [ln for b in k.open_log(ns, pod, ctr, follow=False) for ln in b]
        assert got == whole[whole.index(got[0]):][: len(got)]
    finally:
        took = r.close()
    assert took < 2.0
    assert r.done.is_set() and not r.stream.broken


def test_close_from_another_thread_ends_a_quiet_follow_promptly(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    k = tiny_backend()
    r = Reader(k.open_log(ns, pod, ctr, follow=True, tail_lines=0))  # nothing to say: blocked in a read
    time.sleep(0.3)
    assert not r.done.is_set()
    assert r.close() < 1.0
    assert r.done.is_set() and r.lines == []
    with pytest.raises(RuntimeError):  # a stream is iterated once
        list(r.stream)


def test_backend_close_ends_open_log_streams(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    k = tiny_backend()
    r = Reader(k.open_log(ns, pod, ctr, follow=True, tail_lines=0))
    time.sleep(0.2)
    t0 = time.monotonic()
    k.close()
    assert r.done.wait(2.0) and time.monotonic() - t0 < 2.0


def test_a_follow_of_a_container_that_finishes_ends(tiny, tiny_backend) -> None:
    """The init container's follow ends when it completes (the kubelet ends a follow when its container ends)."""
    ns = tenant(tiny)
    body = pod_body("with-init", containers=[{"name": "main", "image": "busybox:1.36"}])
    body["spec"]["initContainers"] = [{"name": "fetch-model", "image": "busybox:1.36"}]
    body["metadata"]["annotations"] = {"sim.prophecis.io/init-seconds": "20"}
    tiny.core().create_namespaced_pod(ns, body)
    k = tiny_backend()
    for _ in range(10):
        if tiny.call(lambda: tiny.sim.engine.pod_rt(ns, "with-init").init_containers[0].state) == "running":
            break
        tiny.advance(1)
    tiny.advance(3)  # it has written its first lines
    with pytest.raises(Invalid) as err:
        k.open_log(ns, "with-init", "main")
    assert err.value.message == 'container "main" in pod "with-init" is waiting to start: PodInitializing'
    r = Reader(k.open_log(ns, "with-init", "fetch-model", follow=True))
    try:
        assert poll(lambda: len(r.lines) > 0, 10)
        for _ in range(10):
            tiny.advance(5)
            if r.done.wait(0.5):
                break
        assert r.done.is_set(), "the follow of a completed init container did not end"
        assert not r.stream.broken
    finally:
        r.close()
    # the pod's status names it; its log stays readable; the main container runs now
    pod = next(p for p in k.list("pods", ns).items if p.name == "with-init")
    assert pod.init_container_names == ("fetch-model",)
    init_log = [ln for b in k.open_log(ns, "with-init", "fetch-model", follow=False) for ln in b]
    assert init_log == r.lines
    assert [ln for b in k.open_log(ns, "with-init", "main", follow=False) for ln in b]
    raw = tiny.core().read_namespaced_pod(name="with-init", namespace=ns)
    assert raw.status.init_container_statuses[0].state.terminated.reason == "Completed"


# ----------------------------------------------------------------------------------- previous and errors
def test_previous_container_of_a_restarted_pod(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    body = notebook_body("crashy")
    body["metadata"]["annotations"] = {"sim.prophecis.io/plan": "crash"}
    tiny.custom().create_namespaced_custom_object(KF, "v1", ns, "notebooks", body)
    k = tiny_backend()
    ctr = "notebook-container"
    for _ in range(60):
        tiny.advance(2)
        p = tiny.call(lambda: tiny.sim.engine.pod_rt(ns, "crashy-0"))
        if p is not None and p.containers[0].restarts:
            break
    prev = [ln for b in k.open_log(ns, "crashy-0", ctr, previous=True) for ln in b]
    assert prev and prev == official(tiny, ns, "crashy-0", previous=True, timestamps=True)
    # previous is never followed: the read ends at once, even with follow asked
    assert [ln for b in k.open_log(ns, "crashy-0", ctr, previous=True, follow=True) for ln in b] == prev


def test_errors_are_one_line_domain_errors(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    k = tiny_backend()
    with pytest.raises(Invalid) as err:
        k.open_log(ns, pod, ctr, previous=True)
    assert err.value.message == f'previous terminated container "{ctr}" in pod "{pod}" not found'
    with pytest.raises(NotFound) as nf:
        k.open_log(ns, "no-such-pod", "main")
    assert nf.value.message == 'pods "no-such-pod" not found'
    with pytest.raises(Invalid) as bad:
        k.open_log(ns, pod, "no-such-container")
    assert "no-such-container" in bad.value.message
    # a container that has not started: the kubelet's reason
    tiny.core().create_namespaced_pod(ns, pod_body("slow-start"))
    tiny.advance(0.5)
    with pytest.raises(Invalid) as waiting:
        k.open_log(ns, "slow-start", "main")
    assert waiting.value.message == 'container "main" in pod "slow-start" is waiting to start: ContainerCreating'
    # a group admin outside its namespaces
    mine = set(ga_namespaces(tiny))
    their = next(p for p in tiny.core().list_pod_for_all_namespaces().items
                 if p.metadata.namespace not in mine and p.spec.node_name)
    with pytest.raises(Forbidden) as fb:
        tiny_backend("group-admin").open_log(their.metadata.namespace, their.metadata.name,
                                             their.spec.containers[0].name)
    assert "\n" not in fb.value.message and "pods/log" in fb.value.message
    for e in (err, nf, bad, waiting, fb):
        assert "\n" not in str(e.value)
        for i in tiny.sim.identities:
            assert i.token not in str(e.value)


# ----------------------------------------------------------------------------------- simulator hooks
def test_an_injected_drop_breaks_the_stream(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    k = tiny_backend()
    r = Reader(k.open_log(ns, pod, ctr, follow=True, tail_lines=3))
    try:
        assert poll(lambda: len(r.lines) >= 3, 10)
        tiny.call(tiny.sim.api.drop_log_streams)
        assert r.done.wait(3.0), "the dropped stream did not end"
        assert r.stream.broken
    finally:
        r.close()
    tiny.call(lambda: tiny.sim.faults.update({"drop_log_every": 0.5}))
    r = Reader(k.open_log(ns, pod, ctr, follow=True, tail_lines=1))
    try:
        assert r.done.wait(3.0) and r.stream.broken
    finally:
        r.close()
        tiny.call(lambda: tiny.sim.faults.update({"drop_log_every": 0}))


def test_a_chatty_pod_carries_thousands_of_lines_a_second(tiny, tiny_backend) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    tiny.advance(10)
    k = tiny_backend()
    before = [ln for b in k.open_log(ns, pod, ctr, follow=False) for ln in b]
    status, body, _ = raw(tiny, "POST", "/sim/admin/chatty",
                          body={"namespace": ns, "pod": pod, "container": ctr, "rate": 20000})
    assert status == 200 and json.loads(body)["rate"] == 20000
    r = Reader(k.open_log(ns, pod, ctr, follow=True, tail_lines=0))
    try:
        time.sleep(0.3)
        tiny.advance(3)
        assert poll(lambda: len(r.lines) >= 20000, 20), f"{len(r.lines)} lines"
        assert len(r.batches) < len(r.lines) / 100, "lines come in batches, not one by one"
    finally:
        r.close()
    # what was written before the switch is unchanged
    after = [ln for b in k.open_log(ns, pod, ctr, follow=False) for ln in b]
    assert after[: len(before)] == before
    stamps = [ln.split(" ", 1)[0] for ln in after]
    assert stamps == sorted(stamps)


# ----------------------------------------------------------------------------------- the line splitting
class FakeResponse:
    """An urllib3 response's streaming side: the given chunks, then the end (or a break)."""

    def __init__(self, chunks: list[bytes], error: Exception | None = None) -> None:
        self.chunks, self.error = chunks, error
        self.closed = self.released = False

    def stream(self, amt: int, decode_content: bool = True):
        yield from self.chunks
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.released = True

    def shutdown(self) -> None:
        pass


def test_lines_are_whole_across_chunks_and_utf8_is_decoded_at_line_ends() -> None:
    text = "第一行 ünïcode\nsecond\r\nthird line\n".encode()
    cut = text.index("ü".encode()) + 1  # inside a two-byte character
    chunks = [text[:3], text[3:cut], text[cut:cut + 2], text[cut + 2:]]
    resp = FakeResponse(chunks)
    s = HttpLogStream(resp)
    batches = list(s)
    assert [ln for b in batches for ln in b] == ["第一行 ünïcode", "second\r", "third line"]
    assert resp.closed and resp.released and not s.broken and s.lines == 3 and s.bytes == len(text)


def test_invalid_utf8_is_replaced_and_a_last_line_without_newline_is_kept() -> None:
    s = HttpLogStream(FakeResponse([b"ok\nbad \xff\xfe byte\nno newline at the e", b"nd"]))
    assert [ln for b in s for ln in b] == ["ok", "bad \ufffd\ufffd byte", "no newline at the end"]


def test_a_broken_stream_ends_without_its_partial_line() -> None:
    s = HttpLogStream(FakeResponse([b"one\ntwo\nthr"], error=ConnectionResetError("reset")))
    assert [ln for b in s for ln in b] == ["one", "two"]
    assert s.broken


def test_an_endless_line_is_delivered_in_pieces() -> None:
    s = HttpLogStream(FakeResponse([b"x" * 700, b"x" * 700, b"y\n"]), max_line=1000)
    got = [ln for b in s for ln in b]
    assert got == ["x" * 1000, "x" * 400 + "y"]


def test_a_chunk_gives_one_batch() -> None:
    body = b"".join(b"line %d\n" % i for i in range(5000))
    s = HttpLogStream(FakeResponse([body[:40000], body[40000:]]))
    batches = list(s)
    assert len(batches) == 2 and sum(map(len, batches)) == 5000


def test_closed_before_iteration_yields_nothing() -> None:
    resp = FakeResponse([b"a\n"])
    s = HttpLogStream(resp)
    s.close()
    assert list(s) == [] and resp.closed


def test_since_seconds_zero_is_asked_as_one() -> None:
    _, q = Kubernetes._log_request("ns", "p", "c", since_seconds=0, tail_lines=-3, timestamps=True, follow=True)
    assert dict(q) == {"container": "c", "follow": "true", "sinceSeconds": "1", "tailLines": "0",
                       "timestamps": "true"}


def test_chatty_and_drop_logs_admin_hooks_check_what_they_are_given(tiny) -> None:
    ns = tenant(tiny)
    pod, ctr = running(tiny, ns)
    for body, code in (({"namespace": ns, "pod": pod, "rate": 0}, 400),
                       ({"namespace": ns, "pod": pod, "rate": "fast"}, 400),
                       ({"namespace": ns, "pod": pod, "rate": 10, "colour": "red"}, 400),
                       ({"namespace": ns, "pod": pod, "container": "nope", "rate": 10}, 400),
                       ({"namespace": ns, "pod": "no-such-pod", "rate": 10}, 404),
                       ({"namespace": ns, "pod": pod, "rate": 10}, 200)):
        status, _, _ = raw(tiny, "POST", "/sim/admin/chatty", body=body)
        assert status == code, body
    status, _, _ = raw(tiny, "POST", "/sim/admin/chatty", role="viewer", body={"namespace": ns, "pod": pod, "rate": 5})
    assert status == 403
    status, _, _ = raw(tiny, "POST", "/sim/admin/faults", body={"drop_logs": "yes"})
    assert status == 400
    status, body, _ = raw(tiny, "POST", "/sim/admin/faults", body={"drop_logs": True, "drop_log_every": 2.5})
    assert status == 200 and json.loads(body)["faults"]["drop_log_every"] == 2.5


def test_a_rate_change_keeps_what_was_written() -> None:
    import dataclasses

    from prophecis_tui.simulator.logs import ContainerLog
    t0 = 1_795_946_400.0
    for profile in ("pytorch", "tensorflow", "jupyter", "platform", "seldon", "single", "xgboost"):
        log = ContainerLog(profile, 99, t0, 0.5)
        at = t0 + 123.4
        n = log.count_at(at)
        fast = dataclasses.replace(log, rate_changes=((at, 5000.0),))
        assert fast.count_at(at) == n and fast.lines(0, n) == log.lines(0, n)
        m = fast.count_at(at + 4)
        assert m - n > 5000
        lines = fast.lines(0, m)
        assert all(a[0] <= b[0] for a, b in zip(lines, lines[1:]))
        for t in (t0 + 60, at, at + 2.5, at + 3.999):
            i = fast.index_at(t)
            assert lines[i][0] >= t and (i == 0 or lines[i - 1][0] < t)
        slow = dataclasses.replace(fast, rate_changes=fast.rate_changes + ((at + 4, 1.0),))
        assert slow.lines(0, m) == lines and slow.count_at(at + 4) == m
        ended = dataclasses.replace(slow, ended_at=at + 10)
        assert ended.count_at(at + 20) >= m
    with pytest.raises(ValueError):
        ContainerLog("pytorch", 1, t0, 1.0, rate_changes=((t0 + 5, 2.0), (t0 + 1, 3.0)))


def test_kubectl_reads_an_init_container_log(tiny) -> None:
    import shutil
    import subprocess
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    ns = tenant(tiny)
    body = pod_body("with-init", containers=[{"name": "main", "image": "busybox:1.36"}])
    body["spec"]["initContainers"] = [{"name": "fetch-model", "image": "busybox:1.36"}]
    tiny.core().create_namespaced_pod(ns, body)
    tiny.advance(10)
    base = [kubectl, "--kubeconfig", str(tiny.kubeconfig), "-n", ns]
    out = subprocess.run(base + ["logs", "with-init", "-c", "fetch-model", "--timestamps"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert log_lines(out.stdout) == official(tiny, ns, "with-init", container="fetch-model", timestamps=True)
    assert log_lines(out.stdout)
    got = subprocess.run(base + ["get", "pod", "with-init", "-o", "jsonpath={.status.initContainerStatuses[0].state}"],
                         capture_output=True, text=True, timeout=60)
    assert "terminated" in got.stdout and "Completed" in got.stdout

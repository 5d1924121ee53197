"""Container logs into a LogBuffer: one reader thread per target, a merger that keeps several targets in
timestamp order, resume from the last line after a break, and a status per target for the screen.

    follow = LogFollow(kube, [LogTarget(ns, pod, "pytorch", source="worker-0"), ...], buffer)
    follow.start()            # returns at once; threads read, the merger extends ``buffer`` in batches
    follow.status()           # {target: "streaming" | "ended" | "waiting: ..." | "reconnecting: ..." | "failed: ..."}
    follow.stop()             # closes every stream; the threads end soon after

The screen polls ``buffer.version`` and ``follow.version`` on a timer; nothing here calls into Textual, and no
lock is held while a thread waits on the network.

Reading (a thread per target):
- The API is always asked for timestamps: merging and resuming need them; showing them is the view's choice.
- A container that has not started (the API's Invalid "... is waiting to start: <reason>") is
  "waiting: <reason>", asked again every WAIT_RETRY seconds until it starts, then streamed.
- Forbidden, NotFound, Unauthorized and any other Invalid (no previous container, a wrong name) are
  "failed: <the API's message>"; the thread ends.
- Unavailable, Timeout and other failures are "reconnecting: <message>", retried after a back-off that doubles
  from ``backoff[0]`` to ``backoff[1]`` and starts again once lines flow.
- Resume: a follow stream that breaks, or ends while the container may still run, is opened again with
  ``since_time`` = the stamp of the last line taken. The API server passes sinceTime to the kubelet in whole
  seconds, so the answer starts at that second: lines stamped before the last stamp are dropped, and of those
  stamped exactly the last stamp, the ones already taken (same text; several lines can share a stamp) are
  dropped, once each. The first line past the last stamp ends the check. No line is lost (the answer starts
  no later than the last stamp) and none is taken twice.
- When a follow stream ends cleanly it is opened again at once; if that one ends again within QUICK_END seconds
  with nothing new, the container has finished: "ended" (no endless reconnecting to a finished pod). A stream
  that broke (reset, read timeout) is always resumed. A follow that has never seen a line and keeps ending
  empty (the API's answer for a pod not scheduled yet) is "waiting: no log yet", asked again every
  WAIT_RETRY seconds.
- ``previous=True``: one read of the previous container, never followed. ``follow=False``: one read (resumed
  only if it broke mid-way), then "ended".

Merging (one merger thread):
- A single target's lines go to the buffer as they come, in batches (one ``extend`` per tick, at most
  every TICK seconds).
- Several targets: each target's lines are in time order already. A line is released once every *active*
  replica has delivered a line stamped at or after it (nothing older can still come from it). Active: its
  reader is busy with a batch, or has waited less than HOLD_BACK seconds for the next one (a replica that
  is catching up, however far behind, is waited for; a thread starved of the CPU in the middle of a batch
  too), or it is connecting, or it has just been opened (again, after a break) and its first batch has
  not come (its backlog since the break is merged into place). A quiet replica (its reader has waited
  HOLD_BACK for the network) is not waited for, so it delays the others by at most HOLD_BACK. And when
  following, a live line (stamped after the follow began) that has waited MAX_HOLD seconds goes anyway, with
  every older held line of the others (a replica whose node clock is behind, or starved of CPU, cannot stall
  the live tail for longer); the backlog (the tail asked for, stamped before the follow began) and a one-shot
  read (``follow=False``) have no such limit and come out in order however the readers share the CPU. A replica
  whose stream has not opened (or not delivered its first batch) MAX_HOLD after the start is not waited for
  either: its backlog lands after the others' lines already added (each replica's own lines stay in order; the
  buffer is append-only, so a late backlog is not merged into place). The released runs are merged by timestamp (a stable sort of a few
  sorted runs) and added in one ``extend``. A replica far ahead of the others (AHEAD lines held) pauses
  its reading until the merge takes them: when the readers compete for the CPU (a big tail of every
  replica), the ones behind get it, and what is held stays bounded.
"""

from __future__ import annotations

import bisect
import calendar
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from backends.base import LogSource, LogStream
from prophecis_tui.domain import BackendError, Forbidden, Invalid, NotFound, Unauthorized
from prophecis_tui.logs import LogBuffer, LogLine, parse_lines
from prophecis_tui.sanitize import clean

WAIT_RETRY = 2.0  # seconds between asks while a container waits to start
QUICK_END = 2.0  # a follow stream that ends this soon with nothing new: the container has finished
HOLD_BACK = 0.2  # a replica whose reader has waited this long for the network is quiet: not waited for
MAX_HOLD = 2.0  # no line waits longer than this for the other replicas
AHEAD = 50_000  # a replica with this many lines held for the merge waits before reading more
TICK = 0.03  # the merger adds to the buffer at most this often (lines in between go in one batch)
WAITING = "is waiting to start"
STARTING = "waiting: not started"  # a target's status before its first open has answered


@dataclass(frozen=True)
class LogTarget:
    namespace: str
    pod: str
    container: str
    source: str = ""  # the label its lines carry ("worker-3"); "" for a single stream
    init: bool = False  # an init container


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9})\d*)?(Z|[+-]\d\d:\d\d)$", re.ASCII)


@lru_cache(maxsize=4096)
def _second(day_time: str, zone: str) -> int | None:
    try:
        secs = calendar.timegm(time.strptime(day_time, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        secs -= offset if zone[0] == "+" else -offset
    return secs


def stamp_ns(stamp: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 stamp (the API's ``timestamps=true`` prefix), None if it is not
    one. Exact: a float loses the nanoseconds that tell apart lines written microseconds apart."""
    m = _STAMP.match(stamp)
    if m is None:
        return None
    secs = _second(m.group(1), m.group(3))
    if secs is None:
        return None
    return secs * 1_000_000_000 + int((m.group(2) or "").ljust(9, "0"))


class _Resume:
    """Where a target's log was left (the last stamp taken, and the texts taken at that stamp), and the check
    of a resumed read against it."""

    __slots__ = ("stamp", "ns", "at_stamp", "taken", "_left", "checking")

    def __init__(self) -> None:
        self.stamp = ""
        self.ns: int | None = None
        self.at_stamp: Counter = Counter()
        self.taken = 0  # lines taken from this target so far
        self._left: Counter = Counter()
        self.checking = False  # a resumed read is being checked against the last stamp

    def note(self, lines: list[LogLine]) -> None:
        """Remember the end of a batch just taken (its lines in time order)."""
        self.taken += len(lines)
        i = len(lines) - 1
        while i >= 0 and not lines[i].stamp:
            i -= 1
        if i < 0:
            return
        last = lines[i].stamp
        texts = []
        while i >= 0 and lines[i].stamp == last:
            texts.append(lines[i].text)
            i -= 1
        if last == self.stamp:
            self.at_stamp.update(texts)
        else:
            self.stamp, self.ns, self.at_stamp = last, stamp_ns(last), Counter(texts)

    def resume(self) -> str | None:
        """Start checking a read resumed from the last stamp; the stamp to ask from (None: nothing to resume)."""
        if not self.stamp or self.ns is None:
            self.checking = False
            return None
        self.checking = True
        self._left = Counter(self.at_stamp)
        return self.stamp

    def drop_seen(self, lines: list[LogLine]) -> list[LogLine]:
        """The lines of a resumed read that were not taken before. Lines stamped before the last stamp are
        dropped; at the last stamp, each text taken before is dropped once; the first line past it ends the
        check (it and all after it are new)."""
        if not self.checking:
            return lines
        last, left = self.ns, self._left
        assert last is not None
        near = last / 1e9  # a float second holds a stamp to about 0.25 µs: compare exactly only near the mark
        out: list[LogLine] = []
        for i, ln in enumerate(lines):
            ts = ln.ts
            if ts is None or ts < near - 1e-5:
                continue  # older (a line without a stamp cannot be placed: it belongs to what was read)
            ns = last + 1 if ts > near + 1e-5 else stamp_ns(ln.stamp)
            if ns is None or ns < last:
                continue
            if ns == last:
                if left[ln.text] > 0:
                    left[ln.text] -= 1
                else:
                    out.append(ln)
                continue
            self.checking = False
            out.extend(lines[i:])
            break
        return out


class _State:
    """One target's reader: its status, where its log was left, its open stream, its lines not merged yet."""

    __slots__ = ("target", "status", "resume", "stream", "thread", "pending", "held", "last_key", "after_end",
                 "waiting_since", "opened_at", "fresh")

    def __init__(self, target: LogTarget) -> None:
        self.target = target
        self.status = STARTING
        self.resume = _Resume()
        self.stream: LogStream | None = None
        self.thread: threading.Thread | None = None
        self.pending: list[tuple[float, list[LogLine], list[float]]] = []  # (arrival, lines, sort keys)
        self.held = 0  # lines in pending
        self.last_key = float("-inf")  # the timestamp of the last line offered (for the merge)
        self.after_end = False  # this read was opened again after a follow stream ended cleanly
        self.waiting_since: float | None = None  # since when its reader waits for the stream (None: busy)
        self.opened_at = float("-inf")  # when its current stream was opened
        self.fresh = False  # its current stream has given no lines yet


def _keys(lines: list[LogLine], last: float) -> list[float]:
    """Sort keys of a batch: each line's time, a line without one taking the time of the line before it."""
    out = []
    for ln in lines:
        ts = ln.ts
        if ts is not None:
            last = ts
        out.append(last)
    return out


def _waiting_reason(message: str) -> str:
    """'ContainerCreating' of 'container "x" in pod "y" is waiting to start: ContainerCreating'."""
    _, _, reason = message.partition(WAITING)
    return reason.lstrip(": ").strip() or "unknown reason"


class LogFollow:
    """The logs of ``targets`` into ``buffer``; see the module text. ``start()`` once, ``stop()`` when done."""

    def __init__(self, source: LogSource, targets: list[LogTarget], buffer: LogBuffer, *,
                 follow: bool = True, previous: bool = False, since_seconds: int | None = None,
                 tail_lines: int | None = None, backoff: tuple[float, float] = (0.5, 10.0),
                 hold_back: float = HOLD_BACK, clock: Callable[[], float] = time.monotonic) -> None:
        if not targets:
            raise ValueError("no log targets")
        self._source = source
        self.targets = list(dict.fromkeys(targets))
        self.buffer = buffer
        self.previous = previous
        self.follow = follow and not previous
        self.since_seconds = since_seconds
        self.tail_lines = tail_lines
        self.backoff = (max(0.01, backoff[0]), max(backoff[0], backoff[1]))
        self.hold_back = max(0.0, hold_back)
        self._clock = clock
        self.version = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._states = {t: _State(t) for t in self.targets}
        self._merger: threading.Thread | None = None
        self._adding = False  # the merger is adding lines it took to the buffer (no target "ended" meanwhile)
        self._started = False
        self._t0 = 0.0
        # lines stamped before this (the wall clock when the follow starts) are the backlog: the tail asked for,
        # whole; MAX_HOLD does not push them out of order (a starved reader of the backlog is waited for)
        self._backlog_before = float("-inf")

    # ---------------------------------------------------------------- the screen's side
    def start(self) -> None:
        """A reader thread per target, and the merger; returns at once."""
        with self._lock:
            if self._started:
                raise RuntimeError("a LogFollow starts once")
            self._started = True
        self._t0 = self._clock()
        if self.follow:
            self._backlog_before = time.time()
        self._merger = threading.Thread(target=self._merge_loop, name="log-merge", daemon=True)
        self._merger.start()
        for st in self._states.values():
            st.thread = threading.Thread(target=self._reader, args=(st,), daemon=True,
                                         name=f"log-{st.target.pod}/{st.target.container}")
            st.thread.start()

    def stop(self) -> None:
        """Close every stream and end the threads (soon; this does not wait for them)."""
        self._stop.set()
        with self._lock:
            streams = [st.stream for st in self._states.values() if st.stream is not None]
            self._wake.notify_all()
        for s in streams:
            try:
                s.close()
            except Exception:
                pass

    def join(self, timeout: float = 5.0) -> bool:
        """Wait (bounded) for the threads to end after ``stop()``; True when all have."""
        deadline = self._clock() + timeout
        threads = [st.thread for st in self._states.values()] + [self._merger]
        for th in threads:
            if th is not None:
                th.join(max(0.0, deadline - self._clock()))
        return not any(th is not None and th.is_alive() for th in threads)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def status(self) -> dict[LogTarget, str]:
        """Each target's status. "ended" once its last line is in the buffer: until the merge has added its held
        lines it says "streaming" (the screen's note of how a container ended goes after its log, not in it)."""
        with self._lock:
            adding = self._adding
            return {t: "streaming" if st.status == "ended" and (st.pending or adding) else st.status
                    for t, st in self._states.items()}

    def _set(self, st: _State, status: str) -> None:
        status = clean(status)  # the API's messages name things from the cluster: shown as text, never as escapes
        with self._lock:
            if st.status != status:
                st.status = status
                self.version += 1
                self._wake.notify_all()  # a replica that stops streaming no longer holds the merge back

    # ---------------------------------------------------------------- a reader per target
    def _reader(self, st: _State) -> None:
        try:
            self._read(st)
        except Exception as err:  # a bug must show as the target's state, not vanish with its thread
            self._set(st, f"failed: {type(err).__name__}: {' '.join(str(err).split())[:200]}")

    def _open(self, st: _State) -> LogStream:
        t = st.target
        since_time = st.resume.resume() if st.resume.taken else None
        if since_time:
            return self._source.open_log(t.namespace, t.pod, t.container, follow=self.follow,
                                         previous=self.previous, since_time=since_time, timestamps=True)
        return self._source.open_log(t.namespace, t.pod, t.container, follow=self.follow, previous=self.previous,
                                     since_seconds=self.since_seconds, tail_lines=self.tail_lines,
                                     timestamps=True)

    def _read(self, st: _State) -> None:
        lo, hi = self.backoff
        delay = lo
        stop = self._stop
        while not stop.is_set():
            try:
                stream = self._open(st)
            except Invalid as err:
                msg = err.message
                if WAITING in msg and not self.previous:
                    self._set(st, f"waiting: {_waiting_reason(msg)}")
                    stop.wait(WAIT_RETRY)
                    continue
                self._set(st, f"failed: {msg}")
                return
            except (Forbidden, NotFound, Unauthorized) as err:
                self._set(st, f"failed: {err.message}")
                return
            except BackendError as err:
                self._set(st, f"reconnecting: {err.message}")
                stop.wait(delay)
                delay = min(hi, delay * 2)
                continue
            with self._lock:
                st.stream = stream
                st.opened_at, st.fresh = self._clock(), True
            if stop.is_set():
                stream.close()
                return
            self._set(st, "streaming")
            opened = self._clock()
            new = self._drain(st, stream)
            with self._lock:
                st.stream = None
            if stop.is_set():
                return
            if new:
                delay = lo
            broken = bool(getattr(stream, "broken", False))
            if broken:  # cut mid-way: resume from the last line, whatever the mode
                self._set(st, "reconnecting: the log stream broke")
                stop.wait(delay if not new else lo / 5)
                if not new:
                    delay = min(hi, delay * 2)
                continue
            if not self.follow:
                self._set(st, "ended")
                return
            # a follow stream that ended: the container finished, or the server ended it (a timeout, a restart)
            quick = not new and self._clock() - opened < QUICK_END
            if quick and st.resume.taken == 0:  # never a line: the API's empty answer for a pod not scheduled
                self._set(st, "waiting: no log yet")
                stop.wait(WAIT_RETRY)
                continue
            if quick and st.after_end:
                self._set(st, "ended")
                return
            st.after_end = True  # open it once more: a running container goes on, a finished one ends at once

    def _drain(self, st: _State, stream: LogStream) -> int:
        """Take a stream's batches until it ends; how many new lines it gave."""
        t = st.target
        resume = st.resume
        new = 0
        stop = self._stop
        batches = iter(stream)
        while True:
            st.waiting_since = self._clock()  # (one attribute store: read by the merger without the lock)
            try:
                raws = next(batches)
            except StopIteration:
                break  # still "waiting": an ended stream holds nothing back
            st.waiting_since = None
            if stop.is_set():
                break
            lines = parse_lines(raws, source=t.source, timestamps=True)
            if resume.checking:
                lines = resume.drop_seen(lines)
            if not lines:
                continue
            resume.note(lines)
            new += len(lines)
            self._offer(st, lines)
        return new

    def _offer(self, st: _State, lines: list[LogLine]) -> None:
        several = len(self._states) > 1
        keys = _keys(lines, st.last_key) if several else []
        with self._lock:
            now = self._clock()
            st.pending.append((now, lines, keys))
            st.held += len(lines)
            st.fresh = False
            if keys:
                st.last_key = keys[-1]
            self._wake.notify_all()
            while several and st.held >= AHEAD and not self._stop.is_set():
                self._wake.wait(0.05)  # far ahead of the others: let them catch up (the lock is let go meanwhile)

    # ---------------------------------------------------------------- the merger
    def _merge_loop(self) -> None:
        stop = self._stop
        while not stop.is_set():
            with self._lock:
                out, wait_for = self._take(self._clock())
                if not out:
                    self._wake.wait(0.5 if wait_for is None else max(0.005, wait_for))
                    continue
                self._adding = True
            try:
                self.buffer.extend(out)  # outside the lock: the buffer has its own
            finally:
                with self._lock:
                    self._adding = False
                    if any(st.status == "ended" for st in self._states.values()):
                        self.version += 1  # a target's "ended" shows now that its last lines are in
            stop.wait(TICK)  # what comes in meanwhile goes in the next batch

    def _take(self, now: float) -> tuple[list[LogLine], float | None]:
        """Under the lock: the lines that may go to the buffer now, in order, and how long until held lines
        are due (None: none held)."""
        states = [st for st in self._states.values() if st.pending]
        if not states:
            return [], None
        if len(self._states) == 1:
            st = states[0]
            batches, st.pending, st.held = st.pending, [], 0
            if len(batches) == 1:
                return batches[0][1], None
            return [ln for _, lines, _ in batches for ln in lines], None
        # released: what every active replica has passed (see the module text)
        marks: list[float] = []  # where each active replica has got to
        wake: list[float] = []  # when one stops being active
        for st in self._states.values():
            if st.status == STARTING and now - self._t0 < MAX_HOLD:
                marks.append(float("-inf"))
                wake.append(self._t0 + MAX_HOLD)
            elif st.status != "streaming":
                continue
            elif st.fresh and now - st.opened_at < MAX_HOLD:
                marks.append(st.last_key)
                wake.append(st.opened_at + MAX_HOLD)
            else:
                since = st.waiting_since
                if since is None:  # busy with a batch (or starved of the CPU while at it): waited for
                    marks.append(st.last_key)
                elif now - since < self.hold_back:
                    marks.append(st.last_key)
                    wake.append(since + self.hold_back)
        mark = min(marks) if marks else float("inf")
        # a batch held too long goes now, and with it every line of the others stamped no later than its last;
        # not in a one-shot read (follow=False): the logs are all there, so a busy reader is waited for however
        # long the CPU starves it and the whole read comes out in order (a quiet one is still let go after
        # hold_back)
        due = now - MAX_HOLD if self.follow else float("-inf")
        for st in states:
            for arrival, _, keys in st.pending:
                if arrival > due:
                    break
                if keys[-1] < self._backlog_before:
                    continue  # the backlog (written before the follow began) is merged in order, however slow
                mark = max(mark, keys[-1])
        runs: list[tuple[list[LogLine], list[float]]] = []
        held = False
        for st in states:
            keep = 0
            for arrival, lines, keys in st.pending:
                if keys[-1] <= mark:
                    runs.append((lines, keys))
                    st.held -= len(lines)
                    keep += 1
                    continue
                cut = bisect.bisect_right(keys, mark)
                if cut:
                    runs.append((lines[:cut], keys[:cut]))
                    st.held -= cut
                    st.pending[keep] = (arrival, lines[cut:], keys[cut:])
                if self.follow:
                    wake.append(arrival + MAX_HOLD)
                held = True
                break
            del st.pending[:keep]
        if held and not wake:  # a one-shot read held for busy readers: look again when one may have gone quiet
            wake.append(now + max(0.005, self.hold_back))
        wait_for = max(0.0, min(wake) - now) if held and wake else None
        if not runs:
            return [], wait_for
        self._wake.notify_all()  # a replica waiting for the merge to take its lines may read on
        if len(runs) == 1:
            return runs[0][0], wait_for
        lines = [ln for run, _ in runs for ln in run]
        keys = [k for _, ks in runs for k in ks]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        return [lines[i] for i in order], wait_for


__all__ = ["LogFollow", "LogTarget", "stamp_ns", "QUICK_END", "WAIT_RETRY", "HOLD_BACK", "MAX_HOLD", "STARTING"]

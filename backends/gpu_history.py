"""A GPU's utilisation and memory history, kept by the sources that have no Prometheus behind them."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Iterable

Point = tuple[float, float | None, float | None]  # unix time, utilisation %, memory %


class History:
    """One GPU's (time, utilisation %, memory %): every sample for ``fine_seconds``, then one averaged point per
    ``coarse_step`` for ``coarse_seconds``."""

    def __init__(self, fine_seconds: float = 900.0, coarse_step: float = 60.0, coarse_seconds: float = 86400.0) -> None:
        self.fine: deque[Point] = deque()
        self.coarse: deque[Point] = deque()
        self.fine_seconds, self.coarse_step, self.coarse_seconds = fine_seconds, coarse_step, coarse_seconds
        self._bucket: tuple[float, float, float, int, int] | None = None  # start, util sum, mem sum, n util, n mem

    def add(self, t: float, util: float | None, mem: float | None) -> None:
        self.fine.append((t, util, mem))
        while self.fine and self.fine[0][0] < t - self.fine_seconds:
            self.fine.popleft()
        start = t - t % self.coarse_step
        b = self._bucket
        if b is not None and b[0] != start:
            self.coarse.append((b[0], b[1] / b[3] if b[3] else None, b[2] / b[4] if b[4] else None))
            while self.coarse and self.coarse[0][0] < t - self.coarse_seconds:
                self.coarse.popleft()
            b = None
        if b is None:
            b = (start, 0.0, 0.0, 0, 0)
        self._bucket = (start, b[1] + (util or 0.0), b[2] + (mem or 0.0), b[3] + (util is not None),
                        b[4] + (mem is not None))

    def window(self, now: float, seconds: float) -> list[Point]:
        since = now - seconds
        if seconds <= self.fine_seconds:
            return [p for p in self.fine if p[0] >= since]
        first_fine = self.fine[0][0] if self.fine else now
        older = [p for p in self.coarse if since <= p[0] < first_fine]
        return older + list(self.fine)


def _accumulate(acc: dict[str, list], key: str, util: float | None, mem: float | None) -> None:
    a = acc.get(key)
    if a is None:
        a = acc[key] = [0.0, 0, 0.0, 0]  # util sum, util n, mem sum, mem n
    if util is not None:
        a[0] += util
        a[1] += 1
    if mem is not None:
        a[2] += mem
        a[3] += 1


class GroupHistory:
    """The mean utilisation and memory fill of groups of GPUs, poll after poll: each node (``node:<name>``),
    each namespace's held GPUs (``ns:<namespace>``) and each business system's GPUs (``sys:<id>``). Every
    source gets it, kept by the console from the samples it polls: the history a chart of a group shows when
    the source keeps none of its own (a DCGM exporter, NVML), and the recent trend behind each node's
    sparkline (one point per ``spark_step``).

    Thread-safe: the poller adds, the screens' workers read."""

    def __init__(self, fine_seconds: float = 900.0, coarse_step: float = 60.0, coarse_seconds: float = 86400.0,
                 spark_step: float = 15.0, spark_seconds: float = 600.0) -> None:
        self._lock = threading.Lock()
        self._hist: dict[str, History] = {}
        self._spark: dict[str, History] = {}
        self._seen: dict[str, float] = {}
        self._args = (fine_seconds, coarse_step, coarse_seconds)
        self._spark_args = (0.0, spark_step, spark_seconds)
        self.keep = coarse_seconds

    def add(self, now: float, samples, systems_of: Callable[[Any], Iterable[str]] | None = None) -> None:
        """One poll's samples. ``systems_of(sample)``: the ids of the business systems a GPU serves, for the
        groups ``sys:<id>`` (the core works them out from the CMDB; none without one)."""
        nodes: dict[str, list] = {}  # name -> [util sum, util n, mem sum, mem n]
        spaces: dict[str, list] = {}
        systems: dict[str, list] = {}
        for g in samples:
            util, mem = g.util, g.mem_pct
            _accumulate(nodes, g.node, util, mem)
            if g.pod and g.namespace:
                _accumulate(spaces, g.namespace, util, mem)
            if systems_of is not None:
                for sid in systems_of(g):
                    _accumulate(systems, sid, util, mem)
        acc = {f"node:{k}": v for k, v in nodes.items()}
        acc.update((f"ns:{k}", v) for k, v in spaces.items())
        acc.update((f"sys:{k}", v) for k, v in systems.items())
        with self._lock:
            for key, (us, un, ms, mn) in acc.items():
                u = us / un if un else None
                m = ms / mn if mn else None
                h = self._hist.get(key)
                if h is None:
                    h = self._hist[key] = History(*self._args)
                    self._spark[key] = History(*self._spark_args)
                h.add(now, u, m)
                self._spark[key].add(now, u, m)
                self._seen[key] = now
            for key in [k for k, t in self._seen.items() if now - t > self.keep]:  # groups long gone
                del self._hist[key], self._spark[key], self._seen[key]

    def window(self, key: str, now: float, seconds: float) -> list[Point]:
        with self._lock:
            h = self._hist.get(key)
            return h.window(now, seconds) if h is not None else []

    def spark(self, key: str) -> list[float | None]:
        """Utilisation, one mean per ``spark_step`` over the last ``spark_seconds``, the newest last."""
        with self._lock:
            h = self._spark.get(key)
            if h is None:
                return []
            return [p[1] for p in h.coarse] + ([h.fine[-1][1]] if h.fine else [])

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._hist)


class IdleRuns:
    """Since when each GPU's holder has kept it under ``threshold`` % utilisation, poll after poll.

    The incremental form of ``prophecis_tui.idle.assess`` over a history, for every GPU at once and at the cost
    of one comparison per GPU and poll: a run starts at the first poll under the threshold, and starts again when
    the GPU changes hands, when a poll reaches the threshold, or after more than ``max_gap`` seconds without a
    poll of it (a gap is not idle time; the poller sets it from its interval). The idle board takes the runs that
    last the window. ``watching_since``: the first poll; before it nothing is known, so no run is older."""

    def __init__(self, threshold: float = 5.0, max_gap: float = 10.0) -> None:
        self.threshold, self.max_gap = threshold, max_gap
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[tuple[str, str, str], float | None, float, float | None, float | None]] = {}
        self.watching_since: float | None = None

    def add(self, now: float, samples) -> None:
        with self._lock:
            if self.watching_since is None:
                self.watching_since = now
            gap = self.max_gap
            runs = self._runs
            threshold = self.threshold
            for g in samples:
                key = g.key
                holder = (g.namespace, g.pod, g.pod_uid)
                util = g.util
                below = util is not None and util < threshold
                prev = runs.get(key)
                if not below or prev is None or prev[0] != holder or prev[1] is None or now - prev[2] > gap:
                    runs[key] = (holder, now if below else None, now, util, util if below else None)
                else:
                    peak = prev[4] if prev[4] is not None and prev[4] >= util else util
                    runs[key] = (holder, prev[1], now, util, peak)
            for key in [k for k, r in runs.items() if now - r[2] > max(gap, 3600.0)]:  # GPUs long gone
                del runs[key]

    def runs(self) -> dict[str, tuple[float, float, float | None, float | None]]:
        """GPU key -> (run start, last poll, last utilisation, peak utilisation in the run), for the GPUs under the
        threshold now."""
        with self._lock:
            return {k: (r[1], r[2], r[3], r[4]) for k, r in self._runs.items() if r[1] is not None}

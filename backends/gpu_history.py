"""A GPU's utilisation and memory history, kept by the sources that have no Prometheus behind them."""

from __future__ import annotations

from collections import deque

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

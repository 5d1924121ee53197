"""The simulator's clock: real time scaled by a speed factor, which tests can freeze or advance."""

from __future__ import annotations

import time
from functools import lru_cache
from datetime import datetime, timezone


class SimClock:
    """Simulated wall-clock time in epoch seconds.

    ``now()`` moves with real time multiplied by ``speed``. ``freeze()`` stops it, ``advance()``
    jumps it forward. Controllers read time only from here, so a test that freezes the clock
    sees no change it did not ask for.
    """

    def __init__(self, start: float | None = None, speed: float = 1.0) -> None:
        self._base_sim = time.time() if start is None else float(start)
        self._base_real = time.monotonic()
        self._speed = float(speed)

    def now(self) -> float:
        return self._base_sim + (time.monotonic() - self._base_real) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._base_sim = self.now()
        self._base_real = time.monotonic()
        self._speed = float(speed)

    def freeze(self) -> None:
        self.set_speed(0.0)

    @property
    def frozen(self) -> bool:
        return self._speed == 0.0

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock does not go backwards")
        self._base_sim += seconds

    def set(self, when: float) -> None:
        """Move the clock to ``when`` (never backwards)."""
        now = self.now()
        if when > now:
            self._base_sim += when - now


def rfc3339(ts: float) -> str:
    """Second-precision RFC 3339 with a Z, the way the apiserver writes metav1.Time."""
    return _rfc3339_seconds(int(ts))


@lru_cache(maxsize=65536)
def _rfc3339_seconds(secs: int) -> str:
    return datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(ts: float) -> str:
    """metav1.MicroTime: microseconds and a Z."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> float:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python < 3.11 could not take nanoseconds; trim to microseconds to be safe.
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[i:]}"
    return datetime.fromisoformat(text).timestamp()

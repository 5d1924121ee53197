"""Freshness: how long each source has been silent, in refreshes it missed (the wall's amber, red and dead man).

A source is *fresh* while it delivers good data on time (``State.heard``), *stale* once it has missed two of its
refreshes (silent for more than twice its expected interval) and *dead* once it has missed five. The last values
stay on screen either way; the wall marks them. A source dead for longer than the dead man's threshold raises the
wall's full-width banner. No Textual here: the wall's widgets and the app read it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping

FRESH, STALE, DEAD = "fresh", "stale", "dead"
STALE_AFTER = 2  # missed refreshes
DEAD_AFTER = 5
KUBERNETES_SECONDS = 60.0  # the watch's rhythm: a bookmark or an event about once a minute, a relist after a drop
DEFAULT_SECONDS = 60.0  # a source not named in ``expected``

Reader = Callable[[str], tuple[str, "datetime | None"]]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Freshness:
    """``expected``: source key -> seconds between two good deliveries (its refresh interval). ``started``: when
    the wall began to wait; a source never heard from counts from then (default: when this was made)."""

    def __init__(self, expected: Mapping[str, float], started: datetime | None = None) -> None:
        self.expected: dict[str, float] = {}
        for key, seconds in expected.items():
            self.expect(key, seconds)
        self.started = started or _now()

    def expect(self, key: str, seconds: float) -> None:
        """Expect ``key`` every ``seconds`` from now on (a source found late); none when not positive."""
        if seconds and seconds > 0:
            self.expected[key] = float(seconds)

    @property
    def keys(self) -> list[str]:
        return list(self.expected)

    def interval(self, key: str) -> float:
        return self.expected.get(key, DEFAULT_SECONDS)

    def level(self, key: str, last: datetime | None, now: datetime) -> tuple[str, int]:
        """(fresh | stale | dead, how many refreshes were missed) for ``key`` last heard at ``last`` (None:
        never, counted from ``started``)."""
        since = last or self.started
        every = self.interval(key)
        silent = (now - since).total_seconds()
        missed = max(0, int(silent // every))
        if silent > DEAD_AFTER * every:
            return DEAD, missed
        if silent > STALE_AFTER * every:
            return STALE, missed
        return FRESH, missed

    def reader(self, heard_at: Callable[[str], datetime | None], clock: Callable[[], datetime]) -> Reader:
        """``freshness(key) -> (level, last heard)`` for the wall's panels, from ``heard_at`` (``State.heard_at``)
        on ``clock`` (the state's). A source not expected (this session has none) is always fresh."""
        def freshness(key: str) -> tuple[str, datetime | None]:
            last = heard_at(key)
            if key not in self.expected:
                return FRESH, last
            return self.level(key, last, clock())[0], last
        return freshness

    def dead(self, heard_at: Callable[[str], datetime | None], now: datetime, deadman_seconds: float,
             keys: Iterable[str] | None = None) -> list[tuple[str, datetime | None]]:
        """The sources (of ``keys``, default every expected one) dead and silent for longer than
        ``deadman_seconds``: (key, last heard or None), in ``expected``'s order."""
        out = []
        for key in (self.keys if keys is None else keys):
            last = heard_at(key)
            silent = (now - (last or self.started)).total_seconds()
            if self.level(key, last, now)[0] == DEAD and silent > deadman_seconds:
                out.append((key, last))
        return out


def banner_text(dead: list[tuple[str, datetime | None]], now: datetime,
                local: Callable[[datetime], datetime] = lambda t: t.astimezone()) -> str | None:
    """The dead man's banner for these silent sources (None: nothing to say): which source, since when, for how
    long; the wall keeps showing what it last had."""
    if not dead:
        return None
    parts = []
    for key, last in dead:
        if last is None:
            parts.append(f"{key}: never heard from")
            continue
        parts.append(f"{key}: no data since {local(last):%H:%M} ({_ago((now - last).total_seconds())})")
    return "NO DATA: " + "; ".join(parts) + " (the figures shown are the last received)"


def _ago(seconds: float) -> str:
    s = int(max(0, seconds))
    if s < 120:
        return f"{s} s"
    if s < 2 * 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} days"

"""How a screen follows the live state without starving the UI: one recompute at a time, paced by its cost.

A screen computes its rows in a thread worker. Under churn the state changes many times a second; a
10,000-row list recomputed at that rate would keep the GIL from the UI thread. So a state change waits
until GAP_FACTOR times the last run's cost has passed (at most MAX_GAP; LISTING_GAP while a first list
arrives page by page), a run never starts while another one is going (one more run follows it instead),
and what the user asked for (a filter, a sort, another scope, coming back to the screen) runs at once.
"""

from __future__ import annotations

import time
from typing import Any

GAP_FACTOR = 4.0  # idle time left to the UI between recomputes, in multiples of the last one's cost
MAX_GAP = 2.0  # seconds: the longest a state change waits to show
LISTING_GAP = 0.5  # seconds between updates while a first list arrives (each one redraws the screen)


class PacedRefresh:
    """Mixed into a Screen. The screen defines ``start_compute()`` (starts its thread worker, in group
    ``COMPUTE_GROUP``, which sets ``self._cost`` to its duration), ``listing()`` (its data is still
    arriving) and ``completed()`` (a list it waits for has just completed: show at once)."""

    COMPUTE_GROUP = "rows"
    min_gap = 0.0  # seconds a state change waits after a run at least, whatever its cost (the wall: its refresh)

    def init_refresh(self) -> None:
        self._computing = False
        self._again: str | None = None  # "urgent" or "later": one more run after the current one
        self._cost = 0.0  # seconds the last run took
        self._next_run = 0.0  # monotonic time before which a state change waits
        self._timer: Any = None

    # ------------------------------------------------------------------ what the screen says
    def start_compute(self) -> None:
        raise NotImplementedError

    def listing(self) -> bool:
        return False

    def completed(self) -> bool:
        return False

    # ------------------------------------------------------------------ the pacing
    def refresh_data(self) -> None:
        """The state changed: recompute when the pace allows."""
        wait = self._next_run - time.monotonic()
        if wait > 0 and not self.completed():
            if self._timer is None:
                self._timer = self.set_timer(wait, self._timer_fired)  # type: ignore[attr-defined]
            return
        self._run(urgent=False)

    def recompute(self) -> None:
        """Recompute now: the user asked for something."""
        self._run(urgent=True)

    def _timer_fired(self) -> None:
        self._timer = None
        self._run(urgent=False)

    def _run(self, urgent: bool) -> None:
        if self._computing:
            self._again = self._again or ("urgent" if urgent else "later")
            return
        self._computing, self._again = True, None
        self.start_compute()

    def on_worker_state_changed(self, event: Any) -> None:
        if event.worker.group != self.COMPUTE_GROUP or not event.worker.is_finished:
            return
        self._computing = False
        gap = max(self.min_gap, min(MAX_GAP, GAP_FACTOR * self._cost))
        if self.listing():
            gap = max(gap, LISTING_GAP)
        self._next_run = time.monotonic() + gap
        again, self._again = self._again, None
        if again == "urgent":
            self.recompute()
        elif again == "later":
            self.refresh_data()

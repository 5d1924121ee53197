"""The simulator's watch history is bounded by time while watches stay open (issue 9 point 4, the wall's soak).

A long-running watch (kept alive by bookmarks, as the console's are) never asks for ``changes_since``, which was the
only place the history was cut to its ``history_seconds``; so a busy simulator kept every change (the old and the new
state of each object) until 250,000 of them: the soak's process grew by hundreds of MiB over 30 simulated hours.
"""

from __future__ import annotations

import pytest

from prophecis_tui.simulator.errors import ApiError
from prophecis_tui.simulator.resources import BY_KEY
from prophecis_tui.simulator.store import Store

CM = BY_KEY["/configmaps"]


def churn(store: Store, clock: list[float], seconds: float, every: float = 1.0) -> None:
    """One configmap created, changed and deleted each ``every`` simulated seconds, for ``seconds``."""
    for i in range(int(seconds / every)):
        clock[0] += every
        name = f"cm-{clock[0]:.0f}"
        store.create(CM, {"metadata": {"name": name, "namespace": "ns"}, "data": {"k": "v"}})
        store.mutate(CM, "ns", name, lambda o: o["data"].update(k="w"))
        store.delete(CM, "ns", name)


def test_history_is_cut_to_its_seconds_without_any_watch_starting() -> None:
    clock = [1_000_000.0]
    store = Store(lambda: clock[0], history_seconds=150.0)
    store.end_build()
    churn(store, clock, 3600.0)  # an hour of churn, three changes a second, no watch ever (re)started
    held = len(store._history)
    assert held <= 3 * 2 * 150 + 3, held  # at most twice its 150 s of changes, not the hour's 10,800
    oldest = store._history[0].at
    assert clock[0] - oldest <= 2 * 150.0


def test_recent_history_still_serves_a_watch_and_older_is_gone() -> None:
    clock = [1_000_000.0]
    store = Store(lambda: clock[0], history_seconds=150.0)
    store.end_build()
    churn(store, clock, 600.0)
    rv_recent = store.rv - 30  # ten simulated seconds ago
    assert len(store.changes_since(CM, rv_recent)) == 30
    with pytest.raises(ApiError) as err:
        store.changes_since(CM, store.rv - 3 * 400)  # 400 s ago: compacted, the client must relist
    assert err.value.code == 410

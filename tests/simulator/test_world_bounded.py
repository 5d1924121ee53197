"""A busy simulated platform left running for days stays the size of a platform (issue 9 point 4, the wall's soak).

Its jobs queue behind a full quota; with no gang scheduling, busy hours leave every queued training job with only
some of its workers created, none of them ever starting: before, such jobs were kept forever (600 of them after 66
simulated hours, the console's state and the wall's memory growing with them). Now their users give them up.
"""

from __future__ import annotations

from dataclasses import replace

from prophecis_tui.simulator.testing import SimThread
from prophecis_tui.simulator.world import JOBS, PYTORCHJOBS, TFJOBS, XGBOOSTJOBS
from tests.conftest import START


def test_a_busy_world_keeps_a_bounded_number_of_jobs_over_two_simulated_days() -> None:
    with SimThread(scale="small", seed=7, speed=0.0, start_time=START, activity=True) as t:
        def busy() -> None:  # a new job every 5 simulated minutes, as the wall's soak has it
            t.sim.world.scale = replace(t.sim.world.scale, activity=300.0)
        t.call(busy)

        def jobs() -> int:
            store = t.sim.engine.store
            return sum(store.count(rt) for rt in (TFJOBS, PYTORCHJOBS, XGBOOSTJOBS, JOBS))
        counts = []
        for _ in range(150):  # 50 simulated hours
            t.advance(1200.0)
            counts.append(t.call(jobs))
    # about 12 new jobs an hour: the finished ones reaped after 3 h, the never-started given up after 6 h
    assert max(counts[-50:]) <= 150, counts[-50:]
    assert max(counts[-50:]) <= 2 * max(counts[:50]), (counts[:50], counts[-50:])

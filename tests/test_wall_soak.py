"""Soak: the wall left running through more than a simulated day of a busy platform, its API server restarting and
its watches expiring along the way (issue 9 point 4).

The wall as ``prophecis-tui wall`` builds it (a read-only session without a single action, ``ProphecisApp(wall=True)``,
every source a panel shows: Kubernetes, the simulated dcgm-exporter, the Alertmanager, the CMDB) on a `small`
simulator in a process of its own (so that this process's memory is the wall's), its activity on and its clock
moved on thousands of times faster than real time. Outages are injected between stretches of that run: the API
server down for a few seconds (every source with it: the exporter and the Alertmanager listen on its port), and
watch expiries (the next watches answered 410 Gone, the history compacted, every stream cut). What an operator would
notice is asserted: the process's memory does not climb (past the warm-up third, the last third's RSS within a small
margin of the middle third's) and the state holds no more objects than the cluster has; after each outage every
panel shows figures worked out after it ended, none is left stale or dead and the dead man's banner is gone; the app
never stopped or crashed; nothing was written to the platform and no action ran.

Found with it: the simulator kept every change of its watch history and every job that never started (both fixed,
tests/simulator/test_store_history.py and test_world_bounded.py); the wall's own RSS rises in the first simulated
hours as the busy world grows (~825 to ~1,400 objects) and its caches fill, then stays flat (108 -> 134 -> 136 MiB
at the start, the middle and the end of 30 simulated hours; the test now runs 26.7).
"""

from __future__ import annotations

import asyncio
import gc
import os
from dataclasses import replace
from datetime import datetime, timezone

from prophecis_tui.freshness import FRESH, Freshness
from prophecis_tui.simulator.testing import SimProcess
from prophecis_tui.store import AuditLog
from tests.conftest import START
from tests.ui.conftest import Console
from tests.ui.test_console import settle
from tests.ui.test_wall_lockdown import audited, wall_app, wall_session

STEP = 1200.0  # simulated seconds the clock is moved on at each beat of the run (a beat: about a quarter second)
DAY = 86400.0
# seconds between two new jobs (about; notebooks toggled and old jobs reaped with them): the `small` world's own 45 s
# at thousands of simulated seconds a second is more than the simulator keeps up with on 2 shared CPUs; one every
# 5 simulated minutes keeps the world at ~1,000 objects, churning
ACTIVITY = 300.0
OUTAGES = ("down", "expire", "down", "expire")  # injected in turn between stretches of the run
STRETCH = 4.0  # seconds of the run (beats of a quarter second) between two outages (and before the first, after the last):
# 5 stretches of 16 beats of STEP, 26.7 simulated hours
DOWN_SECONDS = 7.0  # the API server refuses connections this long: Kubernetes dead (5 s silent) and past the dead
# man's 1 s for 2 s of it, so the banner, checked each second, rises
# each source's rhythm as the test has it (a quiet watch's bookmarks every 0.1 s, the pollers every 0.2 s), with room
# for a loaded machine (four test workers on two CPUs): stale after 2 of these, dead after 5
EXPECTED = {"kubernetes": 1.0, "metrics": 0.5, "alerts": 0.5}
RSS_MARGIN_KIB = 8 * 1024  # the last third's RSS may exceed the middle third's by this much at most


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- run in the simulator's process (SimProcess.call)
def busy(thread, bookmark_interval: float, activity: float) -> None:
    """A quiet watch speaks every ``bookmark_interval`` s; a new job every ``activity`` simulated seconds."""
    sim = thread.sim

    def set_up() -> None:
        sim.api.bookmark_interval = bookmark_interval
        sim.world.scale = replace(sim.world.scale, activity=activity)
    thread.call(set_up)


def cluster_size(thread) -> int:
    return sum(thread.call(thread.sim.state)["counts"].values())


def go_down(thread, seconds: float) -> None:
    thread.run(lambda: thread.sim.go_down(seconds))


def is_up(thread) -> bool:
    return thread.sim.down_until is None


def expire_watches(thread) -> None:
    """The history compacted, the next watches answered 410 Gone, every stream cut."""
    sim = thread.sim

    def expire() -> None:
        sim.engine.store.compact(None)
        sim.faults.update({"expire_watches": 5})
        sim.engine.store.close_watchers()
    thread.call(expire)


def writes(thread) -> tuple[list, list]:
    """Every write request the simulator was sent: to the cluster, and to its other services (logins aside)."""
    api = thread.sim.api
    return thread.call(lambda: (list(api.writes), [w for w in api.service_writes if "/login" not in w[1]]))


def state_size(state) -> int:
    """Every object the console's state holds: the mirrored resources, GPUs, alerts, Linkis tasks, health."""
    with state._lock:
        return (sum(len(t) for t in state._by_resource.values()) + len(state._gpus) + len(state._alerts)
                + len(state._silences) + len(state._linkis) + len(state._health) + len(state._heard)
                + len(state._new_alerts))


async def test_the_wall_runs_a_simulated_day_of_restarts_and_expiries_without_growing_or_sticking(tmp_path):
    # the simulator in a process of its own: this process's memory is the wall's (and pytest's) alone
    with SimProcess(scale="small", seed=7, start_time=START, activity=True) as proc:
        console = Console(proc, proc.write_config(tmp_path), AuditLog(tmp_path / "data" / "audit.db"))
        try:
            await soak(console, proc)
        finally:
            console.close()


async def soak(console: Console, proc: SimProcess) -> None:
    console.metrics, console.alerts, console.cmdb = {}, True, True
    proc.call(busy, 0.1, 1e9)  # no new job until the wall is up
    session = wall_session(console)
    state = session.state
    app = wall_app(console, session, wall_deadman=1.0, wall_refresh=1.0)
    # the CMDB's 60 s poll would not come round in this run: not expected
    app.freshness = Freshness(EXPECTED, started=state.now())
    writes_before = proc.call(writes)
    samples: list[int] = []  # RSS KiB, at each beat
    sizes: list[tuple[int, int]] = []  # (the state's objects, the cluster's objects)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: type(app.screen).__name__ == "WallScreen")
        wall = app.screen
        panels = wall.panels()
        assert len(panels) == 6 and len(wall.pages) == 1  # 200x50: every panel on view

        def all_fresh() -> bool:
            return all(p.data_at is not None and p.level == FRESH for p in panels) and not wall.banner

        await settle(pilot, all_fresh, tries=3000)
        proc.call(busy, 0.1, ACTIVITY)
        sim_start = proc.sim.clock.now()
        loop = asyncio.get_running_loop()

        async def run_for(seconds: float) -> None:
            """Let the wall run on the busy simulator, its clock moved on ``STEP`` at each beat (in big steps, not
            at a speed: the simulator's loop never falls behind its own clock), the memory sampled as it goes."""
            for _ in range(int(seconds * 4)):
                await loop.run_in_executor(None, proc.advance, STEP)
                await pilot.pause(0.25)
                assert app.is_running and app._exception is None
                gc.collect()
                samples.append(rss_kib())
                sizes.append((state_size(state), proc.call(cluster_size)))

        await run_for(STRETCH)
        for n, outage in enumerate(OUTAGES):
            if outage == "down":  # the API server restarts: refused connections, every stream cut
                proc.call(go_down, DOWN_SECONDS)
                await settle(pilot, lambda: "kubernetes: no data since" in (wall.banner or ""), tries=1000)
                assert any(p.level != FRESH for p in panels)
                assert "metrics" in wall.banner and "alerts" in wall.banner
                await settle(pilot, lambda: proc.call(is_up), tries=1000)
            else:  # the watches expire: the history compacted, the next watches 410 Gone, every stream cut
                lists = [f.lists for f in session.feeds.feeds]
                proc.call(expire_watches)
                await settle(pilot, lambda: sum(f.lists for f in session.feeds.feeds) > sum(lists), tries=1000)
            ended = datetime.now(timezone.utc)  # the outage is over: the platform answers again
            recovered: set[str] = set()

            def none_stuck() -> bool:
                """Each panel seen showing figures worked out after the outage, fresh, 'updated' (not all at the
                same moment: on a loaded machine a source may be a refresh late now and then)."""
                recovered.update(p.NAME for p in panels if p.data_at is not None and p.data_at > ended
                                 and p.level == FRESH and str(p.border_subtitle).startswith("updated"))
                return len(recovered) == len(panels)
            try:
                await settle(pilot, none_stuck, tries=3000)
            except AssertionError:
                raise AssertionError(f"stuck after {outage} {n}: " + "; ".join(
                    f"{p.NAME} {p.level} {p.data_at} {p.border_subtitle!r}" for p in panels
                    if p.NAME not in recovered) + f" (ended {ended}, banner {wall.banner!r})") from None
            try:
                await settle(pilot, lambda: not wall.banner and not wall.query_one("#wall-banner").display, tries=1000)
            except AssertionError:
                raise AssertionError(f"the banner stayed after {outage} {n}: {wall.banner!r}") from None
            await run_for(STRETCH)
        simulated = proc.sim.clock.now() - sim_start
        assert app.is_running and app._exception is None
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running and app.return_code in (0, None)
    assert simulated >= DAY, f"only {simulated / 3600:.1f} simulated hours"

    # the state's objects bounded: never far past what the cluster itself holds (plus its GPUs and alerts)
    for held, cluster in sizes:
        assert held <= 2 * cluster + 2000, (held, cluster)
    # read-only all along: nothing reached the platform, no action ran
    assert proc.call(writes) == writes_before == ([], [])
    assert audited(console) == 0
    # memory flat: past the first third (warm-up: caches, the allocator's arenas, the world settling), the last
    # third's peak RSS within a small margin of the middle third's
    third = len(samples) // 3
    middle, last = max(samples[third:2 * third]), max(samples[2 * third:])
    print(f"soak: {simulated / 3600:.1f} simulated hours, {len(samples)} samples, RSS {samples[0] / 1024:.1f} MiB at "
          f"start, middle third {middle / 1024:.1f}, last third {last / 1024:.1f} MiB; state objects "
          f"{min(s for s, _ in sizes)}..{max(s for s, _ in sizes)}, cluster {min(c for _, c in sizes)}.."
          f"{max(c for _, c in sizes)}")
    assert last - middle <= RSS_MARGIN_KIB, f"RSS grew {middle / 1024:.1f} -> {last / 1024:.1f} MiB"

"""SVG snapshots of the wall at 80x24 (the first of its pages), 200x50 and 320x90 (every panel on one page), on
the seeded simulator with a frozen clock (times in UTC), GPU metrics, alerts tagged by the simulator's CMDB."""

from __future__ import annotations


import pytest

from screens.wall import WallScreen

from .test_console import settle, table


@pytest.mark.parametrize("size", [(80, 24), (200, 50), (320, 90)], ids=["80x24", "200x50", "320x90"])
def test_wall(console, snap_compare, utc, size):
    console.metrics, console.alerts, console.cmdb = {}, True, True
    app = console.app()
    state = app.session.state

    async def ready(pilot):
        await settle(pilot, lambda: table(app).row_count >= 6)
        await settle(pilot, lambda: all(state.has_data(k) for k in ("pods", "nodes", "quotas", "events",
                                                                      "trainingjobs", "notebooks", "deployments"))
                     and any(a.systems for a in state.alerts()), tries=500)
        screen = WallScreen(state)
        app.push_screen(screen)
        await settle(pilot, lambda: screen.is_current and screen.computes >= 1)
        n = screen.computes
        screen.recompute()  # every list in: the figures once more
        await settle(pilot, lambda: screen.computes > n)
        # no "new critical alert" toast (its words depend on whether the CMDB's tags were in when it showed): the
        # first polls' news taken and their toast gone; none follows on the frozen clock
        state.take_new_alerts()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)

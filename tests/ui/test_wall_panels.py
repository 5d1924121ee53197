"""The wall's panels and layout against the simulated platform: the figures a room reads, the pages, the clock,
stale and dead sources, the dead man's banner. Time is the screen's own clock hook (no sleeps)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prophecis_tui.alerts import firing_counts, top_by_system
from prophecis_tui.domain import NotebookState
from prophecis_tui.explain import Explainer
from screens.wall import DEFAULT_ROTATE, WallScreen, tile
from widgets.wall_panels import PANEL_NAMES, HeadlinePanel, WallPanel

from .test_console import settle, table

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self, t: datetime = T0) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


class Heard:
    """A freshness reader as the app's: each source's last good delivery, judged on the clock (stale after two
    missed refreshes, dead after five)."""

    def __init__(self, clock: FakeClock, every: dict[str, float]) -> None:
        self.clock, self.every = clock, every
        self.last: dict[str, datetime] = {k: clock() for k in every}

    def __call__(self, key: str):
        if key not in self.every:
            return "fresh", None
        silent = (self.clock() - self.last[key]).total_seconds()
        level = "dead" if silent > 5 * self.every[key] else "stale" if silent > 2 * self.every[key] else "fresh"
        return level, self.last[key]


def body(panel: WallPanel) -> str:
    """What a list panel says, as text."""
    return str(panel.query_one(".wall-body").render())


def on_view(screen: WallScreen) -> set[str]:
    """The panels a person in the room sees: shown and inside the screen."""
    return {p.NAME for p in screen.panels() if p.display and p.region.area > 0
            and screen.region.contains_region(p.region)}


async def open_wall(app, pilot, **kw) -> WallScreen:
    await settle(pilot, lambda: table(app).row_count >= 6)
    screen = WallScreen(app.session.state, **kw)
    app.push_screen(screen)
    state = app.session.state
    await settle(pilot, lambda: screen.is_current and screen.computes >= 1
                 and all(state.has_data(k) for k in ("pods", "nodes", "quotas", "events", "trainingjobs")))
    n = screen.computes
    screen.recompute()  # every list in: the figures once more
    await settle(pilot, lambda: screen.computes > n)
    return screen


async def test_headline_shows_the_simulators_figures(console):
    """The big numbers are the state's: GPUs in use / total, notebooks running, firing alerts by severity."""
    console.metrics, console.alerts, console.cmdb = {}, True, True
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        state = app.session.state
        await settle(pilot, lambda: any(a.systems for a in state.alerts()), tries=500)
        screen = await open_wall(app, pilot)
        used, total = state.cluster_gpus()
        figures = screen.panel("headline").figures()
        assert used and total and figures["gpus"] == f"{used}/{total}"
        assert figures["notebooks"] == str(sum(1 for n in state.notebooks() if n.state == NotebookState.RUNNING))
        firing = firing_counts(state.alerts())
        assert figures["alerts"] == f"{firing['critical']}/{firing['warning']}"
        # the alerts panel: tier first, the worst alert of the first system named
        groups = top_by_system(state.alerts(), 20)
        lines = body(screen.panel("alerts")).splitlines()
        assert groups[0].tier == 1 and lines[1].startswith("T1 ") and groups[0].title in lines[1]
        assert groups[0].worst.name in lines[1]
        # the heat map: every GPU of the metrics source
        heat = screen.panel("heatmap")
        assert f"of {len(state.gpus())}" in str(heat.query_one("#heat-summary").render())
        assert heat.border_subtitle == "updated 10:00"  # the app's clock: the frozen simulator's


async def test_workloads_say_why_and_quota_is_highest_pressure_first(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot)
        state = app.session.state
        text = body(screen.panel("workloads"))
        ex = Explainer.from_state(state)
        pending = [j for j in state.training_jobs() if j.state.value == "pending" and ex.job(j)]
        assert pending, "the small world has a job waiting for its quota"
        lines = text.splitlines()
        at = next(i for i, x in enumerate(lines) if f"{pending[0].namespace}/{pending[0].name}" in x)
        assert lines[at].startswith("pending") and lines[at + 1].strip() == f"↳ {ex.job(pending[0])}"
        assert text.splitlines()[0].startswith("failing ")
        quota = body(screen.panel("quota")).splitlines()
        from prophecis_tui.quota import nearest_limits, pressures
        top = nearest_limits(pressures(state, with_blocked=False), 3)
        assert [q.split()[0] for q in quota[1:4]] == [p.namespace for p in top]


@pytest.mark.parametrize("size,pages", [((80, 24), 3), ((120, 40), 1), ((200, 50), 1), ((320, 90), 1)])
def test_tiling(size, pages):
    cols, rows, per_page = tile(size[0], size[1] - 1, len(PANEL_NAMES))
    assert -(-len(PANEL_NAMES) // per_page) == pages
    assert cols * 60 <= size[0] and rows * 11 <= size[1] - 1 or per_page == 1


async def test_small_screen_pages_and_keys_large_screen_shows_all(console):
    """80x24: two panels a page, space/right/pagedown and left/pageup turn; at 320x90 every panel at once."""
    app = console.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_wall(app, pilot)
        assert len(screen.pages) == 3 and on_view(screen) == {"headline", "heatmap"}
        assert "page 1/3" in str(screen.query_one("#wall-page").render())
        await pilot.press("space")
        assert on_view(screen) == {"quota", "workloads"}
        await pilot.press("right", "pagedown")
        assert on_view(screen) == {"headline", "heatmap"}  # round again
        await pilot.press("left")
        assert on_view(screen) == {"alerts", "events"}
        await pilot.press("pageup")
        assert on_view(screen) == {"quota", "workloads"}
        await pilot.resize_terminal(320, 90)
        await pilot.pause()
        assert len(screen.pages) == 1 and on_view(screen) == set(PANEL_NAMES)
        assert str(screen.query_one("#wall-page").render()) == ""


async def test_pages_turn_on_the_clock(console):
    """--rotate 30: a page every 30 s of the screen's clock; 0: DEFAULT_ROTATE, and only when pages are needed."""
    clock = FakeClock()
    app = console.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_wall(app, pilot, clock=clock, rotate=30)
        screen.turn(0)  # the page's time starts now
        clock.advance(29)
        screen.tick()
        assert screen.page == 0
        clock.advance(1)
        screen.tick()
        await pilot.pause()
        assert screen.page == 1 and on_view(screen) == {"quota", "workloads"}
        await pilot.press("space")  # a key turns too, and the next page gets its full time
        assert screen.page == 2
        clock.advance(29)
        screen.tick()
        assert screen.page == 2
        clock.advance(1)
        screen.tick()
        assert screen.page == 0
        screen.rotate = 0
        clock.advance(DEFAULT_ROTATE)
        screen.tick()
        assert screen.page == 1
        await pilot.resize_terminal(320, 90)  # everything fits: nothing to turn
        await pilot.pause()
        clock.advance(3600)
        screen.tick()
        await pilot.pause()
        assert screen.page == 0 and on_view(screen) == set(PANEL_NAMES)


async def test_clock_ticks(console):
    clock = FakeClock()
    app = console.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_wall(app, pilot, clock=clock)
        screen.tick()
        assert screen.clock_text == "10:00:00" or screen.clock_text == f"{T0.astimezone():%H:%M:%S}"
        before = screen.clock_text
        clock.advance(1)
        screen.tick()
        assert screen.clock_text != before
        clock.advance(59)
        screen.tick()
        assert screen.clock_text == f"{clock().astimezone():%H:%M:%S}"


async def test_stale_source_turns_amber_then_red_keeping_its_figures(console):
    """The metrics source falls silent: after two missed refreshes its panel is marked stale (amber), after five
    it says "no data since HH:MM" (red); its last figures stay. The kubernetes panels stay fresh."""
    console.metrics = {}
    clock = FakeClock()
    heard = Heard(clock, {"kubernetes": 60, "metrics": 10})
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot, clock=clock, freshness=heard)
        heat, quota = screen.panel("heatmap"), screen.panel("quota")
        shown = heat.query_one("#heat-map").plain
        screen.tick()
        assert heat.level == "fresh" and not heat.has_class("-stale") and heat.border_subtitle.startswith("updated")
        clock.advance(21)
        heard.last["kubernetes"] = clock()
        screen.tick()
        assert heat.level == "stale" and heat.has_class("-stale")
        assert heat.border_subtitle == f"STALE · updated {heard.last['metrics'].astimezone():%H:%M:%S}"
        assert quota.level == "fresh" and not quota.has_class("-stale")
        clock.advance(30)
        heard.last["kubernetes"] = clock()
        screen.tick()
        assert heat.level == "dead" and heat.has_class("-dead") and not heat.has_class("-stale")
        assert f"NO DATA SINCE {heard.last['metrics'].astimezone():%H:%M}" in heat.border_subtitle
        assert heat.query_one("#heat-map").plain == shown  # the last values kept
        assert quota.level == "fresh"
        # the headline reads kubernetes (and the alerts when there are any): fresh
        assert screen.panel("headline").level == "fresh"
        heard.last["metrics"] = clock()  # back
        screen.tick()
        assert heat.level == "fresh" and not heat.has_class("-dead")


async def test_banner(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot)
        banner = screen.query_one("#wall-banner")
        assert not banner.display or banner.region.area == 0
        screen.set_banner("NO DATA: metrics: no data since 10:02 (5 min)")
        await pilot.pause()
        assert banner.region.width == 200 and "no data since 10:02" in str(banner.render())
        assert on_view(screen) == set(PANEL_NAMES)  # the panels make room
        screen.set_banner(None)
        await pilot.pause()
        assert banner.region.area == 0


async def test_no_sources_configured_is_said_not_marked(console):
    """Without a metrics or alerts source the panels say so and are never stale for them."""
    clock = FakeClock()
    heard = Heard(clock, {"kubernetes": 60, "metrics": 10, "alerts": 10})
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot, clock=clock, freshness=heard)
        clock.advance(120)
        heard.last["kubernetes"] = clock()
        screen.tick()
        heat, alerts, head = screen.panel("heatmap"), screen.panel("alerts"), screen.panel("headline")
        assert "no GPU metrics source" in str(heat.query_one("#heat-summary").render())
        assert body(alerts).startswith("no alerts source")
        assert head.figures()["alerts"] == "-"
        assert heat.level == alerts.level == head.level == "fresh"


async def test_panels_subset_and_refresh_pace(console):
    """``panels`` picks and orders them; state changes recompute at most once a second."""
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot, panels=["alerts", "headline"])
        assert [p.NAME for p in screen.panels()] == ["alerts", "headline"]
        assert isinstance(screen.panel("headline"), HeadlinePanel)
        n = screen.computes
        for _ in range(20):
            screen.refresh_data()
        assert screen.computes == n and screen._timer is not None  # waits for the second to pass
        await settle(pilot, lambda: screen.computes >= n + 1)
        assert screen.computes <= n + 2
        with pytest.raises(ValueError):
            WallScreen(app.session.state, panels=["nope"])


async def test_figures_that_did_not_change_are_not_drawn_again(console):
    """A wall left alone recomputes every second the state changes, but a panel whose figures are the same as
    those on view is not drawn again (a wall repainting its six panels every second cost 11 % of a core and
    97 KiB/s to the terminal); a panel whose figures changed is."""
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot)
        draws: dict[str, int] = {}
        for p in screen.panels():
            def counted(p=p, draw=p.draw) -> None:
                draws[p.NAME] = draws.get(p.NAME, 0) + 1
                draw()
            p.draw = counted
        subtitles = {p.NAME: p.border_subtitle for p in screen.panels()}
        for _ in range(3):  # the frozen simulator: the same figures each time
            n = screen.computes
            screen.recompute()
            await settle(pilot, lambda: screen.computes > n)
        assert draws == {}
        assert {p.NAME: p.border_subtitle for p in screen.panels()} == subtitles  # to the minute: unchanged
        console.thread.advance(3600)  # an hour on: jobs finish, events come
        await settle(pilot, lambda: draws.get("events", 0) >= 1 and draws.get("workloads", 0) >= 1, tries=500)


async def test_a_panel_whose_figures_fail_keeps_its_last_marked_and_recovers(console, monkeypatch):
    """A panel's compute raising (a bug, odd data) must not leave old figures under a fresh 'updated': they stay,
    marked amber FIGURES FAILED with the error's type; the other panels go on; the next good figures clear it."""
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot)
        quota, events = screen.panel("quota"), screen.panel("events")
        shown = body(quota)
        broken = {"on": True}
        compute = type(quota).compute.__func__

        def flaky(cls, state, ctx):
            if broken["on"]:
                raise KeyError("odd quota")
            return compute(cls, state, ctx)
        monkeypatch.setattr(type(quota), "compute", classmethod(flaky))
        n = screen.computes
        screen.recompute()
        await settle(pilot, lambda: screen.computes > n)
        assert quota.level == "stale" and quota.has_class("-stale")
        assert quota.border_subtitle.startswith("FIGURES FAILED (KeyError) · updated ")
        assert body(quota) == shown and events.level == "fresh"  # the last figures kept; the others go on
        broken["on"] = False
        n = screen.computes
        screen.recompute()
        await settle(pilot, lambda: screen.computes > n)
        assert quota.level == "fresh" and not quota.has_class("-stale") and quota.border_subtitle.startswith("updated")


async def test_a_quiet_cluster_still_slides_the_last_hour(console, monkeypatch):
    """Nothing changes for a while (no state change to recompute on): the figures are worked out again at least
    every SLIDE_EVERY seconds all the same, so 'failed in the last hour' drops a failure an hour old."""
    from screens import wall as wall_module
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot)
        monkeypatch.setattr(wall_module, "SLIDE_EVERY", 0.0)
        n = screen.computes
        screen.tick()
        await settle(pilot, lambda: screen.computes > n)
        monkeypatch.setattr(wall_module, "SLIDE_EVERY", 3600.0)
        n = screen.computes
        screen.tick()
        await pilot.pause(0.2)
        assert screen.computes == n  # not each second


async def test_a_source_never_heard_says_no_data_not_since_when(console):
    clock = FakeClock()
    heard = Heard(clock, {"kubernetes": 60, "metrics": 10})
    console.metrics = {}
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_wall(app, pilot, clock=clock, freshness=lambda key: ("dead", None) if key == "metrics"
                                 else heard(key))
        screen.tick()
        heat = screen.panel("heatmap")
        assert heat.level == "dead" and heat.border_subtitle == " NO DATA "


def test_tiles_are_as_big_as_the_space_affords():
    from widgets.gpu_heatmap import tile_rows, tile_size
    assert tile_size(8, 8, 300, 40) == (8, 4)  # a big wall: 8x4 tiles
    assert tile_size(8, 8, 120, 20) == (4, 2)  # lower: one node a row at 8 or 6 wide would not fit its lines
    assert tile_size(250, 8, 300, 40) == (2, 1)  # 250 nodes: a line each row, two columns a GPU
    assert tile_size(250, 8, 200, 40) == (1, 1)  # narrower: a cell a GPU, as the GPU screen draws them
    # a tile's memory fill is a bar from its base: half of 2 lines is the bottom line full
    assert tile_rows("▄", 3, 2) == ["   ", "███"]
    assert tile_rows("█", 2, 2) == ["██", "██"]
    assert tile_rows("·", 2, 2) == ["  ", "  "]  # no memory used: an empty tile on its grey ground
    assert tile_rows("?", 3, 2) == ["   ", " ? "]  # memory not known
    assert tile_rows("▄", 3, 1) == ["▄▄▄"]


async def test_the_wall_heat_map_fills_its_panel_with_big_tiles(console):
    console.metrics = {}
    app = console.app()
    async with app.run_test(size=(320, 90)) as pilot:
        screen = await open_wall(app, pilot)
        heat = screen.panel("heatmap").query_one("#heat-map")
        await settle(pilot, lambda: "gpua100" in heat.plain)
        nodes = {g.node for g in app.session.state.gpus()}
        lines = heat.plain.splitlines()
        assert all(any(n in line for line in lines) for n in nodes)  # every node named
        assert len(lines) >= 3 * len(nodes) // 2  # tiles several lines tall, not a line a node
        assert heat.region.height <= screen.panel("heatmap").content_size.height  # and within its panel


async def test_a_wall_made_smaller_starts_on_its_first_page_for_a_whole_turn(console):
    """A big wall (one page) that had been up for an hour, shrunk to 80x24: page 1 of 3, and it stays a full turn
    (it used to turn to page 2 on the next tick: the hour on view counted as the page's time)."""
    clock = FakeClock()
    app = console.app()
    async with app.run_test(size=(320, 90)) as pilot:
        screen = await open_wall(app, pilot, clock=clock, rotate=30)
        clock.advance(3600)
        screen.tick()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        screen.tick()
        await pilot.pause()
        assert len(screen.pages) == 3 and screen.page == 0 and on_view(screen) == {"headline", "heatmap"}
        assert "page 1/3" in str(screen.query_one("#wall-page").render())
        clock.advance(29)
        screen.tick()
        assert screen.page == 0
        clock.advance(1)
        screen.tick()
        assert screen.page == 1

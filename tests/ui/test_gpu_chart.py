"""The GPU history chart (widgets/gpu_chart.py) in a tiny app: what it says, its range, at most one draw a
second, nothing drawn while it is not on view, and SVG snapshots at 80x24 and 200x50."""

from __future__ import annotations

import math
import time
from datetime import timezone

import pytest
from textual.app import App, ComposeResult
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from widgets.gpu_chart import RANGES, GpuChart

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
UTC = timezone.utc


def wave(seconds: int, step: float, end: float = NOW, period: float = 600.0, hole: tuple[float, float] | None = None):
    """(time, util, mem) every ``step`` seconds over ``seconds`` up to ``end``; none inside ``hole``."""
    out = []
    n = int(seconds / step)
    for i in range(n):
        t = end - (n - 1 - i) * step
        if hole and hole[0] <= t < hole[1]:
            continue
        out.append((t, 55 + 35 * math.sin(2 * math.pi * t / period), 30 + 8 * math.cos(2 * math.pi * t / period / 3)))
    return out


def flat(seconds: int, step: float, util: float, mem: float, end: float = NOW, hole=None):
    return [(t, util, mem) for t, _, _ in wave(seconds, step, end, hole=hole)]


class ChartApp(App):
    CSS = "GpuChart { height: 1fr; }"

    def __init__(self, *charts: GpuChart) -> None:
        super().__init__()
        self.charts = charts or (GpuChart("gpua100-0003 GPU 2", tz=UTC),)
        self.ranges: list[int] = []

    def compose(self) -> ComposeResult:
        yield from self.charts

    def on_gpu_chart_range_changed(self, message: GpuChart.RangeChanged) -> None:
        self.ranges.append(message.seconds)


async def until(pilot, cond, timeout: float = 5.0) -> None:
    """Let the app run until ``cond()`` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        if cond():
            return
    raise AssertionError("the chart did not reach the expected state")


def title(chart: GpuChart) -> str:
    """The top border's text as drawn (the public getter gives markup, which does not round-trip)."""
    return chart._border_title.plain if chart._border_title is not None else ""


def subtitle(chart: GpuChart) -> str:
    return chart._border_subtitle.plain if chart._border_subtitle is not None else ""


def chart_of(app: App) -> GpuChart:
    return app.screen.query_one(GpuChart)


async def test_title_values_and_range_label_and_changing_the_range():
    app = ChartApp()
    async with app.run_test(size=(200, 30)) as pilot:
        chart = chart_of(app)
        chart.show("gpua100-0003 GPU 2", flat(3600, 60, 73.0, 41.0), NOW)
        await until(pilot, lambda: chart.points)
        await pilot.pause()
        assert title(chart) == "gpua100-0003 GPU 2"
        assert "util 73%" in subtitle(chart) and "mem 41%" in subtitle(chart)
        assert subtitle(chart).endswith("15 min [1 h] 6 h 24 h")
        assert "13:20" in chart.plain and "14:10" in chart.plain  # ticks every 10 minutes across the hour
        chart.set_range(21600)
        await until(pilot, lambda: app.ranges == [21600])
        await pilot.pause()
        assert subtitle(chart).endswith("15 min 1 h [6 h] 24 h")
        assert "09:00" in chart.plain and "13:20" not in chart.plain  # hourly ticks over six hours
        assert chart.cycle_range() == 86400 and chart.cycle_range() == 900 and chart.cycle_range(-1) == 86400
        await until(pilot, lambda: app.ranges == [21600, 86400, 900, 86400])
        assert "[24 h]" in subtitle(chart)
        chart.set_range(86400)  # the same range again: nothing changes, nothing posted
        await pilot.pause()
        assert app.ranges == [21600, 86400, 900, 86400]


async def test_narrow_chart_has_short_labels_and_fewer_ticks():
    app = ChartApp()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = chart_of(app)
        chart.show("gpua100-0003 GPU 2", flat(900, 1, 50.0, 20.0), NOW)
        await until(pilot, lambda: chart.points)
        await pilot.pause()
        assert "15m [1h] 6h 24h" in subtitle(chart)
        chart.set_range(900)
        await pilot.pause()
        bottom = chart.plain.splitlines()[-1].split()
        assert bottom == ["14:00", "14:05", "14:10"]
        assert all(len(line) <= 78 for line in chart.plain.splitlines())


async def test_many_updates_within_a_second_make_one_draw_with_the_last_data():
    app = ChartApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = chart_of(app)
        await until(pilot, lambda: chart.draws >= 1)  # the first, empty, draw on mount
        first = chart.draws
        for i in range(50):
            chart.show(f"gpu {i}", flat(900, 1, float(i), 10.0), NOW)
        await until(pilot, lambda: chart.draws > first)
        taken = chart._last_take  # when the chart took that data in (monotonic)
        assert chart.draws == first + 1 and title(chart) == "gpu 49" and "util 49%" in subtitle(chart)
        for i in range(50, 80):
            chart.show(f"gpu {i}", flat(900, 1, float(i), 10.0), NOW)
        await pilot.pause()
        if time.monotonic() - taken < GpuChart.MIN_INTERVAL * 0.8:  # (a very slow machine may get past it)
            assert chart.draws == first + 1, "drawn again within a second of the previous data"
        await until(pilot, lambda: chart.draws > first + 1)
        assert chart._last_take - taken >= GpuChart.MIN_INTERVAL
        assert chart.draws == first + 2 and title(chart) == "gpu 79" and "util 79%" in subtitle(chart)
        await pilot.pause(0.1)
        assert chart.draws == first + 2  # nothing new, nothing drawn


async def test_nothing_is_drawn_while_hidden_and_once_when_shown_again():
    app = ChartApp()
    app.charts[0].MIN_INTERVAL = 0.2  # this test is about hiding, not about the pace
    async with app.run_test(size=(120, 20)) as pilot:
        chart = chart_of(app)
        chart.show("gpu a", flat(900, 1, 20.0, 10.0), NOW)
        await until(pilot, lambda: title(chart) == "gpu a" and chart.draws >= 1)
        await pilot.pause()
        drawn = chart.draws
        chart.display = False
        await pilot.pause()
        for i in range(5):
            chart.show(f"gpu hidden {i}", flat(900, 1, 90.0, 10.0), NOW)
            await pilot.pause(0.1)
        await until(pilot, lambda: chart._timer is None)  # its timer has run, and found it hidden
        await pilot.pause(0.3)
        assert chart.draws == drawn and title(chart) == "gpu a"
        chart.display = True
        await until(pilot, lambda: chart.draws > drawn)
        await pilot.pause(0.3)
        assert chart.draws == drawn + 1
        assert title(chart) == "gpu hidden 4" and "util 90%" in subtitle(chart)


async def test_a_chart_in_a_hidden_container_waits_without_looking_again_at_each_screen_update():
    """Data for a chart whose container is hidden (a pane not on view) waits for it to be shown; the chart does
    not look again at every screen update meanwhile (it does so only while it is shown but not laid out yet)."""
    from textual.containers import Container

    class Boxed(App):
        def compose(self) -> ComposeResult:
            with Container(id="box"):
                yield GpuChart("gpu", tz=UTC)
            yield Static("tick", id="tick")

    app = Boxed()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(GpuChart)
        ticks = []
        tick = chart._tick
        chart._tick = lambda: (ticks.append(1), tick())[1]  # counted
        app.query_one("#box").display = False
        await pilot.pause()
        drawn = chart.draws  # (its empty frame, drawn at mount)
        chart.show("gpu hidden", flat(600, 1, 10.0, 10.0), NOW)
        for i in range(20):  # screen updates, as a clock or the other panes make them
            app.query_one("#tick", Static).update(f"tick {i}")
            await pilot.pause(0.02)
        assert len(ticks) <= 2 and chart.draws == drawn
        app.query_one("#box").display = True
        await until(pilot, lambda: chart.draws == drawn + 1)
        assert title(chart) == "gpu hidden"


async def test_nothing_is_drawn_while_another_screen_is_on_view():
    app = ChartApp()
    app.charts[0].MIN_INTERVAL = 0.2
    async with app.run_test(size=(120, 20)) as pilot:
        chart = chart_of(app)
        chart.show("gpu a", flat(900, 1, 20.0, 10.0), NOW)
        await until(pilot, lambda: title(chart) == "gpu a" and chart.draws >= 1)
        await pilot.pause()
        drawn = chart.draws
        other = Screen()
        await app.push_screen(other)
        await until(pilot, lambda: app.screen is other)
        for i in range(5):
            chart.show(f"gpu away {i}", flat(900, 1, 90.0, 10.0), NOW)
            await pilot.pause(0.1)
        await until(pilot, lambda: chart._timer is None)
        await pilot.pause(0.3)
        assert chart.draws == drawn and chart.title == "gpu a"
        app.pop_screen()
        await until(pilot, lambda: chart.draws > drawn)
        await pilot.pause(0.3)
        assert chart.draws == drawn + 1 and title(chart) == "gpu away 4" and "util 90%" in subtitle(chart)


async def test_under_a_modal_the_chart_is_still_seen_and_still_drawn():
    app = ChartApp()
    app.charts[0].MIN_INTERVAL = 0.2
    async with app.run_test(size=(120, 20)) as pilot:
        chart = chart_of(app)
        chart.show("gpu a", flat(900, 1, 20.0, 10.0), NOW)
        await until(pilot, lambda: title(chart) == "gpu a")
        await app.push_screen(ModalScreen())
        chart.show("gpu b", flat(900, 1, 70.0, 10.0), NOW)
        await until(pilot, lambda: title(chart) == "gpu b" and "util 70%" in subtitle(chart))


async def test_lines_take_the_theme_colours():
    app = ChartApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = chart_of(app)
        chart.show("gpu", flat(900, 1, 50.0, 20.0), NOW)
        await until(pilot, lambda: chart.points)
        await pilot.pause()

        def colours() -> set[str]:
            return {seg.style.color.triplet.hex for strip in chart._strips for seg in strip
                    if seg.text.strip("⠀ ") and seg.style and seg.style.color and seg.style.color.triplet
                    and any("⠁" <= ch <= "⣿" for ch in seg.text)}

        assert colours() == {app.theme_variables["primary"].lower(), app.theme_variables["accent"].lower()}
        drawn = chart.draws
        app.theme = "textual-light"
        await until(pilot, lambda: chart.draws > drawn)
        assert colours() == {app.theme_variables["primary"].lower(), app.theme_variables["accent"].lower()}


async def test_empty_history_says_so_inside_the_chart():
    app = ChartApp()
    async with app.run_test(size=(100, 20)) as pilot:
        chart = chart_of(app)
        chart.show("node gpua100-0009 (8 GPUs)", [], NOW)
        await until(pilot, lambda: chart.title.startswith("node"))
        await pilot.pause()
        assert "no history yet" in chart.plain
        assert "100┤" in chart.plain and "14:10" in chart.plain  # the axes and the time still show
        assert "util -" in subtitle(chart)
        chart.set_range(900)
        chart.show("node gpua100-0009 (8 GPUs)", flat(600, 60, 50.0, 50.0, end=NOW - 3 * 3600), NOW)
        await until(pilot, lambda: "no samples" in chart.plain)
        assert "no samples in the last 15 min" in chart.plain


async def test_a_hole_in_the_data_is_drawn_as_a_hole():
    app = ChartApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = chart_of(app)
        chart.show("gpu", flat(3600, 1, 50.0, 0.0, hole=(NOW - 2400, NOW - 1200)), NOW)  # 20 min without data
        await until(pilot, lambda: chart.points)
        await pilot.pause()
        rows = chart.plain.splitlines()
        row = max(rows[:-2], key=lambda r: sum(ch not in " │┤" for ch in r[4:]))  # the row the line is on
        cells = row[4:]
        drawn = [i for i, ch in enumerate(cells) if ch != " "]
        assert drawn and cells[0] != " " and cells[-1] != " "
        missing = [i for i in range(drawn[0], drawn[-1]) if cells[i] == " "]
        # 20 of 60 minutes over ~113 columns: about a third of them empty, in one stretch
        assert 30 <= len(missing) <= 45 and missing == list(range(missing[0], missing[-1] + 1))


async def test_a_single_point_is_a_dot_you_can_see():
    app = ChartApp()
    async with app.run_test(size=(100, 20)) as pilot:
        chart = chart_of(app)
        chart.show("gpu", [(NOW - 300, 60.0, None)], NOW)
        await until(pilot, lambda: chart.points)
        await pilot.pause()
        assert chart.plain.count("•") == 1 and "mem -" in subtitle(chart) and "util 60%" in subtitle(chart)


async def test_names_from_the_cluster_cannot_drive_the_terminal_or_inject_markup():
    app = ChartApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = chart_of(app)
        chart.show("namespace ns-\x1b[2Jevil [b]x[/b]\u202e (2 GPUs)\n", flat(600, 1, 10.0, 10.0), NOW)
        await until(pilot, lambda: chart.points)
        await pilot.pause()
        assert title(chart) == "namespace ns-\\x1b[2Jevil [b]x[/b]\\u202e (2 GPUs)"
        assert "\x1b" not in title(chart)


async def test_a_day_of_minutes_and_fifteen_minutes_of_seconds_make_one_line_across_the_day():
    """(How long a draw takes is measured outside the tests, as DESIGN section 7 says.)"""
    app = ChartApp()
    async with app.run_test(size=(202, 17)) as pilot:
        chart = chart_of(app)
        pts = [p for p in wave(86400, 60) if p[0] < NOW - 900] + wave(900, 1)
        chart.set_range(86400)
        chart.show("namespace ns-risk-pd (12 GPUs)", pts, NOW)
        await until(pilot, lambda: chart.points)
        await pilot.pause()
        assert chart.size.width == 200 and chart.draws >= 1
        rows = chart.plain.splitlines()
        assert rows[-1].split()[:3] == ["16:00", "18:00", "20:00"]  # two-hourly ticks across the day
        plotted = {i for row in rows[:-2] for i, ch in enumerate(row[4:]) if "⠁" <= ch <= "⣿"}
        assert len(plotted) >= 190  # every column of the day has the line: no hole where none is


# ---------------------------------------------------------------------------------------------- snapshots


class SnapApp(App):
    """Fixed data and a fixed `now` (UTC ticks): the same SVG on every run."""

    CSS = "#gpu { height: 1fr; } #day { height: 1fr; } #empty { height: 8; }"

    def __init__(self, wide: bool) -> None:
        super().__init__()
        self.wide = wide

    def compose(self) -> ComposeResult:
        yield Static(" GPU history: fixed data, now = 2026-09-21 14:13:20 UTC")
        yield GpuChart(id="gpu", tz=UTC)
        if self.wide:
            yield GpuChart(id="day", range_seconds=86400, tz=UTC)
        yield GpuChart(id="empty", range_seconds=900, tz=UTC)

    def on_mount(self) -> None:
        # minute averages, then 15 min of 1 s samples with 6 minutes missing
        hour = [p for p in wave(3600, 60) if p[0] < NOW - 900] + wave(900, 1, hole=(NOW - 780, NOW - 420))
        self.query_one("#gpu", GpuChart).show("gpua100-0003 GPU 2", hour, NOW)
        if self.wide:  # a day of minutes: three hours missing, one lone sample in the middle of them
            day = wave(86400, 60, period=14400, hole=(NOW - 9 * 3600, NOW - 6 * 3600)) + [(NOW - 7.5 * 3600, 95.0, 60.0)]
            self.query_one("#day", GpuChart).show("namespace ns-risk-pd (12 GPUs)", sorted(day), NOW)
        self.query_one("#empty", GpuChart).show("node gpua100-0009 (8 GPUs)", [], NOW)


def _drawn(app: SnapApp):
    async def ready(pilot) -> None:
        charts = list(app.query(GpuChart))
        await until(pilot, lambda: all(c.title and c.draws and c._pending is None for c in charts))
        await pilot.pause()
    return ready


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_chart_snapshot(snap_compare, size):
    app = SnapApp(wide=size[0] > 100)
    assert snap_compare(app, terminal_size=size, run_before=_drawn(app))


def test_ranges_are_the_four_the_issue_names():
    assert [r.seconds for r in RANGES] == [15 * 60, 3600, 6 * 3600, 24 * 3600]

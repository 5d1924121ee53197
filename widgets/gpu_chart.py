"""A history chart of one GPU, node, namespace or business system: utilisation and memory % over time.

A plotext plot (textual-plotext's per-widget ``Plot`` figure, no global plotext state) inside a rounded
border: the title says what is plotted, the subtitle gives the latest values and the time range
(15 min / 1 h / 6 h / 24 h), which the screen chooses.

What it costs: ``show()`` only stores the data. The chart is drawn at most once every ``MIN_INTERVAL``
seconds, the last data winning, and never while it is not on view: when hidden (``display`` off, or its
screen not on view) new data waits and is drawn once when the chart comes back; scrolled out of its
container, Textual does not paint it, so nothing is built either.
Points are cut to the chart's width first (one mean per column), so 24 h of minute points or 15 min of 1 s
points cost what a few hundred do; plotext's character matrix goes straight into strips (Line API), with no
ANSI string built and parsed again. Renders plain tuples; it never calls a backend.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime, tzinfo
from itertools import pairwise
from typing import NamedTuple

from rich.color import Color as RichColor
from rich.errors import StyleSyntaxError
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ScreenStackError
from textual.color import Color
from textual.dom import NoScreen
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual_plotext.plot import Plot

from prophecis_tui.sanitize import clean_line
from widgets.gpu_heatmap import util_style

Point = tuple[float, float | None, float | None]
"""(unix time, utilisation %, memory %): the shape of backends.gpu_history.Point; None is a missing value."""

Line = list[tuple[float, float]]
"""One unbroken run of (time, value) to draw as a line."""


class Range(NamedTuple):
    seconds: int
    short: str  # narrow charts
    long: str


RANGES: tuple[Range, ...] = (Range(900, "15m", "15 min"), Range(3600, "1h", "1 h"), Range(21600, "6h", "6 h"),
                             Range(86400, "24h", "24 h"))
"""The time ranges the chart offers, shortest first."""

GAP_FACTOR = 3.0  # a step this many times the usual one is a gap in the data
MIN_INTERVAL = 1.0  # seconds between two draws caused by new data
NARROW = 120  # below this many columns: short range labels
_TICK_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400)
_Y_LABEL_COLS = 5  # "100" plus the axis and a space: what plotext keeps left of the canvas


def range_label(seconds: float, narrow: bool = False) -> str:
    for r in RANGES:
        if r.seconds == seconds:
            return r.short if narrow else r.long
    minutes = seconds / 60
    return f"{minutes:g}m" if minutes < 60 else f"{minutes / 60:g}h"


# ---------------------------------------------------------------------------------------------- pure functions


def gap_starts(times: Sequence[float], factor: float = GAP_FACTOR, min_gap: float = 0.0) -> list[int]:
    """The indexes i where a new run starts: ``times[i] - times[i-1]`` is more than ``factor`` times the usual
    step around it (the median of up to three steps either side) and more than ``min_gap``.

    The usual step is local, so minute-averaged points followed by 1 s points (what a 1 h window of the
    direct scrape holds) are one run, while a 5-minute hole in 1 s data or a 3-hour hole in minute data is a
    gap. With fewer than two steps there is nothing to compare with: no gaps. ``times`` must be sorted."""
    n = len(times)
    if n < 3:
        return []
    steps = [times[i] - times[i - 1] for i in range(1, n)]  # steps[k] is the step into times[k + 1]
    positive = [s for s in steps if s > 0]
    if not positive:
        return []
    floor = max(factor * min(positive), min_gap)
    out: list[int] = []
    last = len(steps) - 1
    for k, s in enumerate(steps):
        if s <= floor:  # cheap test first: only the few long steps get a local median
            continue
        near = [x for x in steps[max(0, k - 3):k] + steps[k + 1:min(last, k + 3) + 1] if x > 0]
        if not near:
            continue
        near.sort()
        usual = near[len(near) // 2]
        if s > factor * usual:
            out.append(k + 1)
    return out


def _runs(tv: list[tuple[float, float]], start: float, width: float, columns: int, factor: float) -> list[Line]:
    """Split one series at its gaps, then keep one (mean time, mean value) per column in each run."""
    if not tv:
        return []
    cuts = gap_starts([t for t, _ in tv], factor, min_gap=2 * width)
    lines: list[Line] = []
    bounds = [0, *cuts, len(tv)]
    top = columns - 1
    for a, b in pairwise(bounds):
        line: Line = []
        col = -1
        st = sv = 0.0
        n = 0
        for t, v in tv[a:b]:
            c = int((t - start) / width)
            c = top if c > top else (0 if c < 0 else c)
            if c != col:
                if n:
                    line.append((st / n, sv / n))
                col, st, sv, n = c, 0.0, 0.0, 0
            st += t
            sv += v
            n += 1
        if n:
            line.append((st / n, sv / n))
        lines.append(line)
    return lines


def downsample(points: Sequence[Point], start: float, end: float, columns: int,
               factor: float = GAP_FACTOR) -> tuple[list[Line], list[Line]]:
    """(utilisation runs, memory runs) of the points within [start, end], at most one point per column.

    Each column (``(end - start) / columns`` seconds) keeps the mean time and the mean value of the samples
    that fall in it; None values are left out of the means (a column with only None has no point). Each
    series is split where its samples stop for longer than ``factor`` times their usual step (and two
    columns), so a hole in the data shows as a hole, not as a straight line across it."""
    if columns < 1 or end <= start or not points:
        return [], []
    pts = list(points)
    if any(pts[i][0] < pts[i - 1][0] for i in range(1, len(pts))):
        pts.sort(key=lambda p: p[0])
    times = [p[0] for p in pts]
    pts = pts[bisect_left(times, start):bisect_right(times, end)]
    width = (end - start) / columns
    util = [(p[0], float(p[1])) for p in pts if p[1] is not None]
    mem = [(p[0], float(p[2])) for p in pts if p[2] is not None]
    return _runs(util, start, width, columns, factor), _runs(mem, start, width, columns, factor)


def time_ticks(start: float, end: float, columns: int, tz: tzinfo | None = None) -> tuple[list[float], list[str]]:
    """Clock-aligned ticks (HH:MM) across [start, end] with room for each label: about one per 14 columns, so
    a wide 15-minute chart gets one every 2 minutes and a narrow 24-hour one every 6 hours."""
    if end <= start:
        return [], []
    room = max(2, columns // 14)
    span = end - start
    step = next((s for s in _TICK_STEPS if span / s <= room), _TICK_STEPS[-1])
    offset = datetime.fromtimestamp(start, tz).astimezone(tz).utcoffset()
    shift = offset.total_seconds() if offset is not None else 0.0
    first = -(-(start + shift) // step) * step - shift  # the first multiple of step (local time) >= start
    ticks: list[float] = []
    t = first
    while t <= end:
        ticks.append(t)
        t += step
    labels = [datetime.fromtimestamp(t, tz).strftime("%H:%M") for t in ticks]
    return ticks, labels


def latest(points: Sequence[Point], index: int, start: float = float("-inf"),
           end: float = float("inf")) -> float | None:
    """The last value that is not None of series ``index`` (1 utilisation, 2 memory) within [start, end]
    (``points`` sorted by time: it reads from the end and stops at ``start``)."""
    for p in reversed(points):
        if p[0] > end:
            continue
        if p[0] < start:
            break
        if p[index] is not None:
            return p[index]
    return None


# ---------------------------------------------------------------------------------------------- the widget


def _rich(rgb: tuple[int, int, int]) -> str:
    return f"rgb({rgb[0]},{rgb[1]},{rgb[2]})"


class GpuChart(Widget):
    """Utilisation and memory % of whatever the screen selects, over one of ``RANGES``.

    ``show(title, points, now)`` gives it data (cheap; drawn at most once a second, only on view);
    ``set_range(seconds)`` / ``cycle_range(step)`` change the window (drawn at once, and ``RangeChanged``
    is posted so the screen can fetch the points for the new window). ``draws`` counts the plotext builds
    and ``last_draw_ms`` times the latest one; ``plain`` is the chart as text."""

    DEFAULT_CSS = """
    GpuChart { height: 14; min-height: 7; border: round $primary 60%; background: $surface;
               border-title-color: $text; border-subtitle-color: $text; padding: 0; }
    """

    MIN_INTERVAL = MIN_INTERVAL

    class RangeChanged(Message):
        """The chart's time range changed: fetch ``seconds`` of history for it."""

        def __init__(self, chart: GpuChart, seconds: int) -> None:
            super().__init__()
            self.chart = chart
            self.seconds = seconds

        @property
        def control(self) -> GpuChart:
            return self.chart

    def __init__(self, title: str = "", *, range_seconds: int = 3600, tz: tzinfo | None = None,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.tz = tz  # None: local time
        self.range_seconds = range_seconds
        self.title = clean_line(title, 120).strip()
        self.points: Sequence[Point] = ()
        self.now: float | None = None
        self.draws = 0
        self.last_draw_ms = 0.0
        self._plot = Plot()
        self._pending: tuple[str, Sequence[Point], float | None] | None = None
        self._version = 0  # bumped when data is taken into the chart
        self._timer: Timer | None = None
        self._last_take = float("-inf")  # monotonic time new data was last taken in (and drawn)
        self._key: tuple | None = None
        self._strips: list[Strip] = []
        self._styles: dict[tuple, Style] = {}

    # ------------------------------------------------------------------ what the screen calls

    def show(self, title: str, points: Sequence[Point], now: float | None = None) -> None:
        """New data (the chart keeps a reference: pass a list the caller no longer changes). Drawn within
        ``MIN_INTERVAL`` of the previous data, the latest call winning, once the chart is on view.
        ``now`` is the right edge of the window (default: the last point's time)."""
        self._pending = (title, points, now)
        self._schedule()

    def set_range(self, seconds: int) -> None:
        """Show the last ``seconds`` (one of ``RANGES``, though any positive number works): drawn at once."""
        seconds = int(seconds)
        if seconds <= 0 or seconds == self.range_seconds:
            return
        self.range_seconds = seconds
        self._take_pending()
        self._update_titles()
        self.refresh()
        self.post_message(self.RangeChanged(self, seconds))

    def cycle_range(self, step: int = 1) -> int:
        """The next (or previous, with -1) range of ``RANGES``, wrapping; returns the new range."""
        choices = [r.seconds for r in RANGES]
        i = choices.index(self.range_seconds) if self.range_seconds in choices else 0
        self.set_range(choices[(i + step) % len(choices)])
        return self.range_seconds

    @property
    def range_text(self) -> str:
        return range_label(self.range_seconds, narrow=self._narrow)

    @property
    def plain(self) -> str:
        """The chart as last drawn, without colours (for tests and screen readers)."""
        return "\n".join(strip.text for strip in self._strips)

    # ------------------------------------------------------------------ when to draw

    @property
    def on_view(self) -> bool:
        """Shown in the last screen update, and its screen is on view: the top one, or seen through the
        translucent ones above it (a modal). Not ``Screen.is_current``: that is also true of the screen just
        under an opaque one."""
        if not self.display or not self.visible or not self.is_mounted:
            return False
        try:
            screen = self.screen
            stack = self.app.screen_stack
        except (NoScreen, ScreenStackError):  # being removed, or the app closing
            return False
        if screen not in stack:
            return False
        if any(above.styles.background.a >= 1 for above in stack[stack.index(screen) + 1:]):
            return False
        return self.is_on_screen

    def _on_top_screen(self) -> bool:
        try:
            return self.screen is self.app.screen
        except (NoScreen, ScreenStackError):
            return False

    def _schedule(self) -> None:
        if self._timer is not None or self._pending is None:
            return
        delay = max(0.001, self._last_take + self.MIN_INTERVAL - time.monotonic())  # a Timer cannot take 0
        self._timer = self.set_timer(delay, self._tick, name="gpu-chart-redraw")

    def _tick(self) -> None:
        self._timer = None
        if self._pending is None:
            return
        if not self.on_view:
            # It waits: on_show or its screen coming back schedules it again. On the top screen and shown, it is
            # only not laid out yet (or scrolled out of sight): it looks again after the next screen update
            # rather than count on a Show event that came before the data.
            if self.visible and self.is_mounted and self._on_top_screen() \
                    and all(w.display for w in self.ancestors_with_self if isinstance(w, Widget)):
                self.call_after_refresh(self._schedule)
            return
        self._take_pending()
        self._update_titles()
        self.refresh()

    def _take_pending(self) -> None:
        if self._pending is None:
            return
        title, points, now = self._pending
        self._pending = None
        self.title = clean_line(title, 120).strip()
        self.points = points
        self.now = now
        self._version += 1
        self._last_take = time.monotonic()

    def on_mount(self) -> None:
        self.app.screen_change_signal.subscribe(self, self._screen_changed)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._update_titles())  # the swatches
        self._update_titles()

    def _screen_changed(self, _screen: object) -> None:
        self.call_after_refresh(self._schedule)  # after the layout, when is_on_screen is known

    def on_show(self) -> None:
        self._schedule()

    def on_resize(self) -> None:
        self._update_titles()

    # ------------------------------------------------------------------ drawing

    @property
    def _narrow(self) -> bool:
        return self.outer_size.width < NARROW

    def _window(self) -> tuple[float, float]:
        end = self.now
        if end is None:
            end = self.points[-1][0] if self.points else time.time()
        return end - self.range_seconds, end

    def _colours(self) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
        """(utilisation line, memory line, axes and labels) from the app's theme."""
        v = self.app.theme_variables
        return (Color.parse(v.get("primary", "#0178D4")).rgb, Color.parse(v.get("accent", "#ffa62b")).rgb,
                Color.parse(v.get("foreground-muted", v.get("foreground", "#e0e0e0"))).rgb)

    def _update_titles(self) -> None:
        if not self.is_mounted:
            return
        util_rgb, mem_rgb, _ = self._colours()
        start, end = self._window()
        u, m = latest(self.points, 1, start, end), latest(self.points, 2, start, end)
        self.border_title = Text(self.title or "GPU history", "bold")
        sub = Text()
        sub.append("━ ", _rich(util_rgb))
        sub.append("util ")
        sub.append("-" if u is None else f"{u:.0f}%", util_style(u))
        sub.append("  ━ ", _rich(mem_rgb))
        sub.append("mem ")
        sub.append("-" if m is None else f"{m:.0f}%")
        sub.append("  ")
        choices = [r.seconds for r in RANGES]
        if self.range_seconds not in choices:
            choices.append(self.range_seconds)
        for i, seconds in enumerate(choices):
            if i:
                sub.append(" ")
            label = range_label(seconds, narrow=self._narrow)
            if seconds == self.range_seconds:
                sub.append(f"[{label}]", "bold reverse")
            else:
                sub.append(label, "dim")
        self.border_subtitle = sub

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        key = (self._version, width, height, self.range_seconds, self.app.theme, self.tz)
        if key != self._key:
            self._key = key
            t0 = time.perf_counter()
            self._strips = self._build(width, height)
            self.last_draw_ms = (time.perf_counter() - t0) * 1000
            self.draws += 1
        strip = self._strips[y] if y < len(self._strips) else Strip.blank(width)
        return strip.apply_style(self.rich_style)  # the widget's colours under the chart's

    def _style(self, fg: object, style: object, bg: object) -> Style:
        """A plotext cell's colours ((r, g, b), a 256-colour number, or "default": none) as a cached Style."""
        key = (fg, style, bg)
        st = self._styles.get(key)
        if st is None:
            def colour(c: object) -> RichColor | None:
                if isinstance(c, tuple):
                    return RichColor.from_rgb(*c)
                return RichColor.from_ansi(c) if isinstance(c, int) else None
            st = Style(color=colour(fg), bgcolor=colour(bg))
            if isinstance(style, str) and style != "default":
                try:
                    st += Style.parse(style)
                except StyleSyntaxError:
                    pass
            self._styles[key] = st
        return st

    def _build(self, width: int, height: int) -> list[Strip]:
        if width < 12 or height < 4:
            return [Strip([Segment("chart too small", Style(dim=True))]).crop_extend(0, width, None)]
        start, end = self._window()
        columns = max(1, width - _Y_LABEL_COLS)
        util, mem = downsample(self.points, start, end, columns)
        util_rgb, mem_rgb, axes_rgb = self._colours()
        plt = self._plot
        plt.clear_figure()
        plt.theme("clear")  # no canvas colour: the widget's background shows through
        plt.ticks_color(axes_rgb)
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext #5)
        plt.xaxes(True, False)
        plt.yaxes(True, False)
        plt.xlim(start, end)
        plt.ylim(0, 100)
        ys = [0, 25, 50, 75, 100] if height >= 10 else [0, 50, 100]
        plt.yticks(ys, [str(y) for y in ys])
        ticks, labels = time_ticks(start, end, columns, self.tz)
        plt.xticks(ticks, labels)
        for lines, rgb in ((mem, mem_rgb), (util, util_rgb)):  # utilisation last: on top where they cross
            for line in lines:
                xs = [p[0] for p in line]
                vs = [p[1] for p in line]
                if len(line) == 1:  # a lone sample: a dot you can see, not one braille pixel
                    plt.scatter(xs, vs, marker="•", color=rgb)
                else:
                    plt.plot(xs, vs, marker="braille", color=rgb)
        if not util and not mem:
            message = "no history yet" if not self.points else \
                f"no samples in the last {range_label(self.range_seconds)}"
            plt.text(message, (start + end) / 2, 50, alignment="center", color=axes_rgb)
        plt._set_sizes()
        plt._build_matrix()
        m = plt.monitor.matrix
        strips: list[Strip] = []
        for row in range(m.rows - 1, -1, -1):  # plotext's row 0 is the bottom one
            markers, fgs, bgs, sts = m.marker[row], m.fullground[row], m.background[row], m.style[row]
            segs: list[Segment] = []
            run_start = 0
            for col in range(1, m.cols + 1):
                if col == m.cols or fgs[col] != fgs[run_start] or bgs[col] != bgs[run_start] \
                        or sts[col] != sts[run_start]:
                    segs.append(Segment("".join(markers[run_start:col]),
                                        self._style(fgs[run_start], sts[run_start], bgs[run_start])))
                    run_start = col
            strips.append(Strip(segs, m.cols).crop_extend(0, width, None))
        return strips

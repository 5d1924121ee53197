"""The wall: the platform on a wall screen, unattended, read from across the room.

The panels (``widgets.wall_panels``) are tiled to the terminal: on a large one (200x50 and up) all of them on one
page; on a small one fewer, larger panels a page (two at 80x24), and the pages turn by themselves every
``rotate`` seconds (``DEFAULT_ROTATE`` when 0: they turn only because they do not fit) or with the paging keys. A
clock in the top right corner shows the screen itself is alive; a full-width banner under it says when a source
has been silent past the dead man's threshold (``set_banner``, driven by the app). The panels' figures are worked
out in a thread worker from the state (never a backend), at most once a second; their freshness is read again
every second on the screen's own clock (``clock``, which tests drive).
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime
from typing import Any, Callable, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from widgets.wall_panels import (PANEL_NAMES, PANELS, Failed, Reader, WallContext, WallPanel, always_fresh,
                                 hhmmss)

from .refresh import PacedRefresh
from .resources import now as console_now

DEFAULT_ROTATE = 15.0  # seconds a page shows when the panels do not fit one page and no --rotate was given
log = logging.getLogger(__name__)
SLIDE_EVERY = 60.0  # seconds: the figures are worked out again at least this often (the "last hour" counts slide)
MIN_GAP = 1.0  # seconds between two recomputes of the panels at least (``refresh``: [ui] wall_refresh_seconds)
MIN_W, MIN_H = 60, 11  # the smallest panel worth reading from afar (columns, lines with its border)
MAX_COLUMNS = 3
DATA_KINDS = frozenset({"namespaces", "nodes", "pods", "notebooks", "trainingjobs", "deployments", "quotas",
                        "events", "gpus", "alerts", "cmdb"})


def tile(width: int, height: int, n: int) -> tuple[int, int, int]:
    """(columns, rows, panels per page) for ``n`` panels on a ``width`` x ``height`` screen (the top line
    excluded): as many panels as fit at their smallest readable size, at most ``MAX_COLUMNS`` across; when all
    fit, the grid that holds them with the fewest empty cells."""
    if n <= 0:
        return 1, 1, 1
    cols = max(1, min(MAX_COLUMNS, width // MIN_W, n))
    rows = max(1, height // MIN_H)
    per_page = min(n, cols * rows)
    if per_page >= n:  # one page: fill it
        return cols, math.ceil(n / cols), n
    return cols, math.ceil(per_page / cols), per_page


def pages_of(names: list[str], per_page: int) -> list[list[str]]:
    return [names[i:i + per_page] for i in range(0, len(names), per_page)] or [[]]


class WallScreen(PacedRefresh, Screen):
    """Every panel of ``panels`` (names of ``widgets.wall_panels.PANELS``; default all) over the state."""

    NAME = "wall"
    BINDINGS = [
        Binding("space,right,pagedown", "next_page", "Next page", id="wall.next_page", key_display="space"),
        Binding("left,pageup", "previous_page", "Previous page", id="wall.previous_page", key_display="←"),
    ]
    DATA_KINDS = DATA_KINDS
    DEFAULT_CSS = """
    WallScreen { layout: vertical; }
    WallScreen > #wall-top { height: 1; background: $panel; }
    WallScreen #wall-title { width: 1fr; padding: 0 1; text-style: bold; text-wrap: nowrap; text-overflow: ellipsis; }
    WallScreen #wall-page { width: auto; padding: 0 1; color: $text-muted; }
    WallScreen #wall-clock { width: auto; padding: 0 1; text-style: bold; color: $text; background: $primary 40%; }
    WallScreen > #wall-banner { display: none; height: auto; padding: 0 1; background: $error; color: $text;
                                text-style: bold; }
    WallScreen > #wall-banner.-on { display: block; }
    WallScreen > #wall-grid { layout: grid; grid-size: 1; height: 1fr; }
    WallScreen WallPanel.-off { display: none; }
    """

    class Figures(Message):
        def __init__(self, data: dict[str, Any], at: datetime) -> None:
            super().__init__()
            self.data, self.at = data, at

    def __init__(self, state: Any, *, freshness: Reader | None = None, clock: Callable[[], datetime] | None = None,
                 rotate: float = 0.0, refresh: float = MIN_GAP, panels: Iterable[str] | None = None, title: str = "",
                 max_annotation: str | None = None, has_metrics: bool | None = None,
                 has_alerts: bool | None = None, metrics_note: str | None = None) -> None:
        super().__init__(name="wall")
        self.state = state
        self.freshness: Reader = freshness or always_fresh
        self.clock: Callable[[], datetime] = clock or console_now
        self.rotate = max(0.0, float(rotate or 0.0))
        self.min_gap = max(MIN_GAP, float(refresh or MIN_GAP))  # state changes recompute at most this often
        names = list(panels) if panels is not None else list(PANEL_NAMES)
        unknown = [n for n in names if n not in PANELS]
        if unknown:
            raise ValueError(f"unknown wall panel(s): {', '.join(unknown)} (known: {', '.join(PANEL_NAMES)})")
        self.names = list(dict.fromkeys(names)) or list(PANEL_NAMES)
        self.title_text = title
        self._max_annotation, self._has_metrics, self._has_alerts = max_annotation, has_metrics, has_alerts
        self._metrics_note = metrics_note
        self.page = 0
        self.pages: list[list[str]] = [self.names]
        self.grid_shape = (1, 1)
        self.page_since: datetime | None = None  # when the page on view came up (the wall's clock)
        self.banner: str | None = None
        self.computes = 0  # how many times the figures were worked out (tests, bench)
        self.init_refresh()  # paced (screens/refresh.py): one run at a time, at most every min_gap seconds
        self._last_run = 0.0  # monotonic time of the last recompute's start
        self._panels: list[WallPanel] = []
        self._failures: dict[str, str] = {}  # panel -> the error its figures last failed with (the worker's)

    # ------------------------------------------------------------------ building
    def compose(self) -> ComposeResult:
        with Horizontal(id="wall-top"):
            yield Static(id="wall-title")
            yield Static(id="wall-page")
            yield Static(id="wall-clock")
        yield Static(id="wall-banner")
        self._panels = [PANELS[name](self.state, self._read) for name in self.names]
        with Container(id="wall-grid"):
            yield from self._panels

    def panel(self, name: str) -> WallPanel:
        return self.query_one(f"#panel-{name}", WallPanel)

    def panels(self) -> list[WallPanel]:
        return list(self._panels)  # built once (a query each second cost more than the clock)

    def on_mount(self) -> None:
        self.page_since = self.clock()
        self._show_title()
        self._layout()
        self.tick()
        self.set_interval(1.0, self.tick)
        self.recompute()

    def on_resize(self) -> None:
        self._layout()

    def on_screen_resume(self) -> None:
        self.recompute()

    # ------------------------------------------------------------------ the session's sources
    def _session(self) -> Any:
        return getattr(self.app, "session", None)

    def context(self) -> WallContext:
        session = self._session()
        has_metrics = self._has_metrics if self._has_metrics is not None else \
            getattr(session, "metrics", None) is not None
        has_alerts = self._has_alerts if self._has_alerts is not None else \
            getattr(session, "alerts", None) is not None
        note = self._metrics_note if self._metrics_note is not None else getattr(session, "metrics_note", "") or ""
        annotation = self._max_annotation if self._max_annotation is not None else \
            getattr(self.app, "quota_max_annotation", "") or ""
        return WallContext(now=self.clock(), max_annotation=annotation, has_metrics=has_metrics,
                           has_alerts=has_alerts, metrics_note=note)

    def _read(self, key: str) -> tuple[str, datetime | None]:
        """The panels' freshness reader: the one given (a source this session lacks is never stale)."""
        return self.freshness(key)

    def _show_title(self) -> None:
        title = self.title_text
        if not title:
            ident = getattr(self._session(), "identity", None)
            ctx = getattr(ident, "context", "") or ""
            title = "prophecis-tui wall" + (f" · {ctx}" if ctx else "") + " · read-only"
        self.query_one("#wall-title", Static).update(Text(title, no_wrap=True, overflow="ellipsis"))

    # ------------------------------------------------------------------ layout and pages
    def _layout(self) -> None:
        """Tile the panels to the screen: the pages and the grid of each."""
        width, height = self.size.width, self.size.height
        if not width or not height:
            return
        top = 1 + (self.query_one("#wall-banner").outer_size.height if self.banner else 0)
        cols, rows, per_page = tile(width, max(1, height - top), len(self.names))
        pages = pages_of(self.names, per_page)
        if pages != self.pages or (cols, rows) != self.grid_shape:
            current = self.pages[self.page] if self.page < len(self.pages) else []
            self.pages, self.grid_shape = pages, (cols, rows)
            # the panel first on view stays on view, for a whole turn (a wall that had one page kept the time it
            # came up as its page's: the first tick after a resize to several pages turned at once to page 2)
            self.page = next((i for i, p in enumerate(pages) if current and current[0] in p), 0)
            self.page_since = self.clock()
        self._show_page()

    def _show_page(self) -> None:
        self.page %= max(1, len(self.pages))
        names = self.pages[self.page]
        on_view = set(names)
        for p in self.panels():
            p.set_class(p.NAME not in on_view, "-off")
            p.styles.column_span = 1
        cols, _ = self.grid_shape
        # the headline first on a page: a band across the page, as tall as its figures need; the others share
        # the rest, and a cell left over goes to the heat map (or the last panel)
        rest = list(names)
        heights: list[str] = []
        if names and names[0] == "headline" and (cols > 1 or len(names) > 1):
            head = self.panel("headline")
            head.styles.column_span = cols
            heights.append(str(head.wanted_height(self.size.width)))
            rest = names[1:]
        rows = math.ceil(len(rest) / cols) if rest else 0
        spare = cols * rows - len(rest)
        if spare and rest:
            wide = "heatmap" if "heatmap" in rest else rest[-1]
            self.panel(wide).styles.column_span = 1 + spare
        heights += ["1fr"] * rows
        grid = self.query_one("#wall-grid")
        grid.styles.grid_size_columns = cols
        grid.styles.grid_size_rows = max(1, len(heights))
        grid.styles.grid_rows = " ".join(heights) or "1fr"
        total = len(self.pages)
        self.query_one("#wall-page", Static).update(f"page {self.page + 1}/{total}" if total > 1 else "")

    def turn(self, step: int = 1) -> None:
        """Another page (wrapping round); its time on view starts now."""
        if len(self.pages) > 1:
            self.page = (self.page + step) % len(self.pages)
            self._show_page()
        self.page_since = self.clock()

    def action_next_page(self) -> None:
        self.turn(1)

    def action_previous_page(self) -> None:
        self.turn(-1)

    def visible_panels(self) -> list[str]:
        """The names of the panels on view."""
        return list(self.pages[self.page])

    @property
    def rotate_every(self) -> float:
        return self.rotate or DEFAULT_ROTATE

    # ------------------------------------------------------------------ every second
    def tick(self) -> None:
        """The clock, the pages' rotation and every panel's freshness, on the screen's clock."""
        now = self.clock()
        self.query_one("#wall-clock", Static).update(hhmmss(now), layout=False)  # the same width: no reflow
        if len(self.pages) > 1 and self.page_since is not None \
                and (now - self.page_since).total_seconds() >= self.rotate_every:
            self.turn(1)
        for p in self.panels():
            p.mark(now)
        if time.monotonic() - self._last_run >= SLIDE_EVERY:  # a quiet cluster: "failed in the last hour" moves on
            self.refresh_data()

    @property
    def clock_text(self) -> str:
        return str(self.query_one("#wall-clock", Static).render())

    # ------------------------------------------------------------------ the dead man's banner
    def set_banner(self, text: str | None) -> None:
        """A full-width banner under the clock line (None: none): a source silent past the dead man's threshold."""
        if text == self.banner:
            return
        self.banner = text
        banner = self.query_one("#wall-banner", Static)
        if text:
            banner.update(Text(text, no_wrap=False))
        banner.set_class(bool(text), "-on")
        self.call_after_refresh(self._layout)

    # ------------------------------------------------------------------ figures (paced: screens/refresh.py)
    COMPUTE_GROUP = "wall"

    def start_compute(self) -> None:
        self._last_run = time.monotonic()
        self._compute(self.context())

    @work(thread=True, exclusive=True, group="wall", exit_on_error=False)
    def _compute(self, ctx: WallContext) -> None:
        started = time.monotonic()
        data: dict[str, Any] = {}
        for name in self.names:
            try:
                data[name] = PANELS[name].compute(self.state, ctx)
            except Exception as err:  # one panel's trouble must not blank the others: it keeps its last figures,
                # marked (an unattended screen must not show old figures as fresh), and the log says why, once
                reason = type(err).__name__
                if self._failures.get(name) != reason:
                    log.exception("the wall's %s panel could not work out its figures", name)
                data[name] = Failed(reason)
                self._failures[name] = reason
            else:
                self._failures.pop(name, None)
        self._cost = time.monotonic() - started
        self.post_message(self.Figures(data, ctx.now))

    @on(Figures)
    def _figures(self, msg: Figures) -> None:
        self.computes += 1
        with self.app.batch_update():
            for p in self.panels():
                if p.NAME in msg.data:
                    p.show(msg.data[p.NAME], msg.at)
                    p.mark(msg.at)


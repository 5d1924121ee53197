"""The log view: a Line API widget that draws only the lines on screen, from the core's LogView.

A chatty pod writes tens of thousands of lines a second; the buffer (prophecis_tui.logs.LogBuffer) takes
them in off the UI thread, and this widget draws, at each refresh, only the rows that fit on screen:
no widget per line, no re-render of the buffer. A drawn line is cached (by its seq and the options) until
the options change, so following a busy log costs the new lines only.

Scrolling is by log line: ``scroll_y`` is the index of the line at the top. Without wrapping (and with
JSON shown raw or as key=value) a line is one row. Wrapped, or JSON pretty-printed, a line takes several
rows: the rows of the lines in the visible window are worked out when drawn (a line -> rows map for the
window only), and the last page is found by walking back from the end over as many lines as fill it.

What the text says is the cluster's, already sanitised by the core (prophecis_tui.sanitize): it is never
read as markup; styles are laid over it as spans.
"""

from __future__ import annotations

import re
import time
import zlib
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollTo, ScrollUp
from textual.strip import Strip

from prophecis_tui.logs import DEBUG, ERROR, WARN, LogLine, LogView, render_json, signature

# replica colours: readable on dark and light themes, told apart from the level colours (red, yellow)
SOURCE_PALETTE = ("cyan", "magenta", "green", "blue", "bright_cyan", "bright_magenta", "bright_green",
                  "bright_blue", "dark_orange", "orchid", "spring_green3", "deep_sky_blue1")
JSON_MODES = ("raw", "pretty", "kv")
CACHE_LINES = 4_000  # drawn lines kept; a screen shows ~50, a wall screen ~200


def source_colour(source: str) -> str:
    """The same colour for a replica in every run and process (crc32, not Python's salted hash)."""
    return SOURCE_PALETTE[zlib.crc32(source.encode("utf-8", "replace")) % len(SOURCE_PALETTE)]


def short_time(line: LogLine) -> str:
    """The line's time of day as its stamp says it, HH:MM:SS.mmm (the API stamps in UTC); '' when none."""
    stamp = line.stamp
    if len(stamp) < 19 or stamp[10] != "T":
        if line.ts is None:
            return ""
        return time.strftime("%H:%M:%S", time.gmtime(int(line.ts))) + ".000"
    frac = stamp[20:23] if stamp[19:20] == "." else ""
    frac = "".join(c for c in frac if c.isdigit())
    return f"{stamp[11:19]}.{frac.ljust(3, '0')}"


STAMP_WIDTH = 12  # HH:MM:SS.mmm


class LogLines(ScrollView, can_focus=True):
    """The lines of a LogView, following the end (``follow``) or held where the reader is."""

    COMPONENT_CLASSES = {"log-lines--stamp", "log-lines--match", "log-lines--current", "log-lines--error",
                         "log-lines--warning", "log-lines--debug", "log-lines--signature", "log-lines--empty"}
    DEFAULT_CSS = """
    LogLines { height: 1fr; scrollbar-gutter: stable; }
    LogLines > .log-lines--stamp { color: $text-muted; }
    LogLines > .log-lines--match { background: $warning 50%; color: $text; text-style: bold; }
    LogLines > .log-lines--current { background: $accent 45%; }
    LogLines > .log-lines--error { color: $error; }
    LogLines > .log-lines--warning { color: $warning; }
    LogLines > .log-lines--debug { color: $text-muted; }
    LogLines > .log-lines--signature { color: $error; text-style: bold; }
    LogLines > .log-lines--empty { color: $text-muted; }
    """
    BINDINGS = [  # arrows only: the log screen's letters (j JSON, l, h, b...) are its own
        Binding("up", "scroll_up", "Up", show=False, id="loglines.up"),
        Binding("down", "scroll_down", "Down", show=False, id="loglines.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="loglines.pageup"),
        Binding("pagedown", "page_down", "Page down", show=False, id="loglines.pagedown"),
        Binding("home", "scroll_home", "Top", show=False, id="loglines.home"),
        Binding("end", "scroll_end", "Bottom", show=False, id="loglines.end"),
        Binding("left", "scroll_left", "Left", show=False, id="loglines.left"),
        Binding("right", "scroll_right", "Right", show=False, id="loglines.right"),
    ]

    class FollowChanged(Message):
        """Following turned on or off (the reader scrolled away from the end, or came back with G/f)."""

        def __init__(self, follow: bool) -> None:
            super().__init__()
            self.follow = follow

    def __init__(self, view: LogView | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: LogView | None = view
        self.wrap = False
        self.timestamps = False
        self.json_mode = "raw"
        self.show_source = False
        self.source_width = 0  # the prefix is padded to the longest source name: columns line up
        self.pattern: re.Pattern[str] | None = None  # search matches highlighted
        self.current_seq: int | None = None  # the line the reader jumped to (a match, an error): marked
        self.follow = True
        self.new_lines = 0  # lines that arrived while not following
        self.empty_text = "no lines yet"
        self._anchor_seq: int | None = None  # while not following: the line at the top, kept there
        self._rows: dict[tuple, list[Strip]] = {}  # (seq, width, options) -> the line's drawn rows
        self._window: tuple[tuple, list[Strip]] | None = None
        self._last_top = 0  # the top line of the last page (what scroll_y may reach)
        self._max_width = 0  # the widest line drawn so far (horizontal scrolling without wrap)
        self._programmatic = False
        self._geometry = (0, 0)  # (width, height) the scroll range was worked out for
        self._relayout = False
        self._styles: dict[str, Style] | None = None
        self._source_styles: dict[str, Style] = {}
        self._options = self._options_key()

    # ------------------------------------------------------------------ what the screen sets
    def set_view(self, view: LogView | None) -> None:
        """Another view (a new follow, a new buffer): from its end, following."""
        self.view = view
        self.new_lines = 0
        self.current_seq = None
        self._anchor_seq = None
        self._max_width = 0
        self._rows.clear()
        self._set_follow(True)
        self.update()

    def set_options(self, **options: Any) -> None:
        """wrap, timestamps, json_mode, show_source, source_width, pattern, current_seq."""
        for name, value in options.items():
            if not hasattr(self, name):
                raise AttributeError(name)
            setattr(self, name, value)
        key = self._options_key()
        if key != self._options:
            self._options = key
            self._rows.clear()
            self._max_width = 0
        self._window = None
        self.update()

    def _options_key(self) -> tuple:
        return (self.wrap, self.timestamps, self.json_mode, self.show_source, self.source_width,
                self.pattern.pattern if self.pattern else None, self.pattern.flags if self.pattern else 0)

    @property
    def prefix_width(self) -> int:
        """Columns before a line's text: its time and replica when shown."""
        return (STAMP_WIDTH + 1 if self.timestamps else 0) + (self.source_width + 1 if self.show_source else 0)

    @property
    def multi_row(self) -> bool:
        """A line may take more than one row."""
        return self.wrap or self.json_mode == "pretty"

    @property
    def top(self) -> int:
        """The index (in the view) of the line at the top of the screen."""
        return int(self.scroll_offset.y)

    def update(self, gained: int = 0) -> None:
        """The view changed (``gained`` new lines at its end): the end again when following, else the same
        line at the top (lines dropped from the front of the ring shift the indexes) and the count of new
        lines grows."""
        n = len(self.view) if self.view is not None else 0
        if not self.follow:
            self.new_lines += gained
        self._window = None
        self._geometry = (self._width, self._height)
        self._last_top = self._find_last_top(n)
        height = max(self._height, 1)
        width = self._width if self.multi_row else max(self._max_width, self._width)
        self._programmatic = True
        try:
            self.virtual_size = Size(width, self._last_top + height)
            if self.follow:
                self.scroll_to(y=self._last_top, animate=False, immediate=True, force=True)
            elif self._anchor_seq is not None and self.view is not None:
                index = self.view.index_of_seq(self._anchor_seq)
                self.scroll_to(y=min(index if index is not None else 0, self._last_top), animate=False, force=True,
                               immediate=True)
        finally:
            self._programmatic = False
        self.refresh()
        self.call_after_refresh(self._sync_scrollbars)

    def _sync_scrollbars(self) -> None:
        """The scrollbars as the scroll range and place are now. Textual moves a scrollbar's thumb only when
        the position changes while the bar is shown; a scroll made before the bar appeared (the first lines
        came) would leave its thumb where it was."""
        if self.show_vertical_scrollbar:
            bar = self.vertical_scrollbar
            bar.window_virtual_size = self.virtual_size.height
            bar.window_size = self.scrollable_content_region.height
            bar.position = self.scroll_offset.y
        if self.show_horizontal_scrollbar:
            bar = self.horizontal_scrollbar
            bar.window_virtual_size = self.virtual_size.width
            bar.window_size = self.scrollable_content_region.width
            bar.position = self.scroll_offset.x

    # ------------------------------------------------------------------ moving
    def _set_follow(self, follow: bool) -> None:
        if follow != self.follow:
            self.follow = follow
            if follow:
                self.new_lines = 0
                self._anchor_seq = None
            else:
                self._remember_top()
            self.post_message(self.FollowChanged(follow))

    def set_follow(self, follow: bool) -> None:
        """Follow the end (and go there), or hold the lines where they are."""
        self._set_follow(follow)
        if follow:
            self.update()

    def _remember_top(self) -> None:
        if self.view is not None and len(self.view):
            self._anchor_seq = self.view.line(min(self.top, len(self.view) - 1)).seq

    def go_to(self, index: int, *, centre: bool = True, column: int | None = None) -> None:
        """Hold the view with line ``index`` in sight (a third down the screen when ``centre``); unwrapped, with
        its text's ``column`` in sight too (a search match far right on a long line)."""
        self._set_follow(False)
        if column is not None and not self.wrap:
            x = self.prefix_width + column
            left, width = int(self.scroll_offset.x), self._width
            if not left <= x < left + width - 10:
                self._max_width = max(self._max_width, x + width)  # the range reaches it before it is drawn
                self.virtual_size = Size(max(self._max_width, width), self.virtual_size.height)
                self.scroll_to(x=max(0, x - width // 3) if x >= width - 10 else 0, animate=False, immediate=True,
                               force=True)
        top = index
        if centre and self.view is not None:  # a third of the screen above it, in rows (lines may wrap)
            above, want = 0, self._height // 3
            while top > 0 and above < want:
                above += len(self._line_rows(self.view.line(top - 1))) if self.multi_row else 1
                if above > want:
                    break
                top -= 1
        self._programmatic = True
        try:
            self.scroll_to(y=min(top, self._last_top), animate=False, immediate=True, force=True)
        finally:
            self._programmatic = False
        self._remember_top()
        self._window = None
        self.refresh()

    def go_top(self) -> None:
        self.go_to(0, centre=False)

    def go_bottom(self) -> None:
        self.set_follow(True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._window = None
        if not self._programmatic and not self.follow:
            self._remember_top()

    # what the reader does to scroll up holds the lines (a layout that moves the scroll position does not)
    def _hold(self) -> None:
        if self.follow and self._last_top > 0:
            self._set_follow(False)

    def action_scroll_up(self) -> None:
        self._hold()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._hold()
        super().action_page_up()

    # (Textual calls the handlers of every class in the MRO: the Widget's still scrolls after these)
    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if not (event.ctrl or event.shift):
            self._hold()

    def _on_scroll_to(self, message: ScrollTo) -> None:  # the scrollbar dragged
        if message.y is not None and round(message.y) < self._last_top:
            self._hold()

    def _on_scroll_up(self, event: ScrollUp) -> None:  # a click on the scrollbar above its thumb
        self._hold()

    def action_scroll_end(self) -> None:
        self.set_follow(True)

    def action_scroll_home(self) -> None:
        self.go_top()

    def on_resize(self) -> None:
        self._window = None
        self.update()

    # ------------------------------------------------------------------ geometry
    @property
    def _width(self) -> int:
        return max(self.scrollable_content_region.width or self.size.width, 1)

    @property
    def _height(self) -> int:
        return max(self.scrollable_content_region.height or self.size.height, 1)

    def _find_last_top(self, n: int) -> int:
        """The top line of the last page: a line per row, or, when lines take several rows, as many of the
        last lines as fill the screen (drawn now: they are the ones the screen will show anyway)."""
        height = self._height
        if not self.multi_row or self.view is None or n == 0:
            return max(n - height, 0)
        rows, i = 0, n
        for line in reversed(self.view.lines(max(n - height, 0), n)):
            rows += len(self._line_rows(line))
            if rows > height:
                break
            i -= 1
        return i

    # ------------------------------------------------------------------ drawing
    def _do_relayout(self) -> None:
        self._relayout = False
        self.update()

    def render_line(self, y: int) -> Strip:
        rows = self._window_rows()
        if y < len(rows):
            return rows[y]
        return Strip.blank(self._width, self.rich_style)

    def _window_rows(self) -> list[Strip]:
        """The rows on screen, worked out once per change (render_line asks for them one by one)."""
        view = self.view
        n = len(view) if view is not None else 0
        width, height, top = self._width, self._height, self.top
        key = (top, width, height, n, int(self.scroll_offset.x), self.current_seq, self._options)
        if self._window is not None and self._window[0] == key:
            return self._window[1]
        rows: list[Strip] = []
        if view is None or n == 0:
            rows = [self._plain_row(Text(self.empty_text), self.get_component_rich_style("log-lines--empty"))]
        elif self.multi_row and top >= self._last_top and top > 0:
            # the last page, anchored at the bottom: the end of the log shows whole, the line above it may
            # be cut at the top
            for line in reversed(view.lines(max(n - height, 0), n)):
                rows[:0] = self._line_rows(line, width)
                if len(rows) >= height:
                    break
            rows = rows[-height:]
        else:
            for line in view.lines(top, min(top + height, n)):
                rows.extend(self._line_rows(line, width))
                if len(rows) >= height:
                    break
            rows = rows[:height]
        x = 0 if self.wrap else int(self.scroll_offset.x)
        base = self._style_cache()["base"]
        rows = [r.crop_extend(x, x + width, base) for r in rows]
        self._window = (key, rows)
        if (self._geometry != (width, height) or not self.multi_row and self._max_width > self.virtual_size.width) \
                and not self._relayout:
            # a scrollbar came or went (wider lines were drawn): the last page and the scroll range again
            self._relayout = True
            self.call_after_refresh(self._do_relayout)
        return rows

    def _plain_row(self, text: Text, style: Style) -> Strip:
        base = self.rich_style + style
        segs = [Segment(s.text, base + s.style if s.style else base) for s in text.render(self.app.console)
                if s.text != "\n"]
        return Strip(segs).crop_extend(0, self._width, self.rich_style)

    def _line_rows(self, line: LogLine, screen_width: int = 0) -> list[Strip]:
        """One log line as the rows it takes, cached until the options or the width change. Wrapped rows
        hang under the text, after the time and the replica."""
        current = line.seq == self.current_seq
        screen_width = screen_width or self._width
        width = screen_width if self.multi_row else 0
        key = (line.seq, width, current)
        hit = self._rows.get(key)
        if hit is not None:
            return hit
        if len(self._rows) > CACHE_LINES:
            self._rows.clear()
        prefix, bodies = self.line_texts(line)
        styles = self._style_cache()
        base = styles["current"] if current else styles["base"]
        console = self.app.console
        indent = prefix.cell_len
        room = max(screen_width - indent, 10)
        out: list[Strip] = []
        for i, body in enumerate(bodies):
            parts = body.wrap(console, room) if self.wrap else [body]
            for j, part in enumerate(parts):
                row = prefix.copy() if i == 0 and j == 0 else Text(" " * indent, end="")
                row.append_text(part)
                row.no_wrap, row.end = True, ""
                segs = [Segment(s.text, base + s.style if s.style else base) for s in row.render(console)
                        if s.text != "\n"]
                strip = Strip(segs)
                self._max_width = max(self._max_width, strip.cell_length)
                if current:  # the mark spans the row
                    strip = strip.extend_cell_length(max(screen_width, self._max_width) + 1, base)
                out.append(strip)
        out = out or [Strip.blank(screen_width, base)]
        self._rows[key] = out
        return out

    def line_texts(self, line: LogLine) -> tuple[Text, list[Text]]:
        """A log line as styled text: the prefix (time, replica) and the body, coloured by its level with
        the search matches highlighted; a JSON line pretty-printed (several bodies) or as key=value."""
        styles = self._style_cache()
        prefix = Text(no_wrap=True, end="")
        if self.timestamps:
            prefix.append((short_time(line) or "").ljust(STAMP_WIDTH) + " ", styles["stamp"])
        if self.show_source:
            prefix.append(line.source.ljust(self.source_width) + " ", self._source_style(line.source))
        body_style = self._level_style(line, styles)
        texts: list[str] | None = None
        if self.json_mode != "raw":
            texts = render_json(line.text, self.json_mode)
        if not texts:
            texts = [line.text]
        match_style = styles["match"]
        bodies = []
        for body in texts:
            t = Text(body, body_style, end="")
            if self.pattern is not None:
                for m in self.pattern.finditer(body):
                    if m.end() > m.start():
                        t.stylize(match_style, m.start(), m.end())
            bodies.append(t)
        return prefix, bodies

    def _level_style(self, line: LogLine, styles: dict[str, Style]) -> Style | str:
        """Errors red (bold when the line has an error signature: a traceback, CUDA OOM, NCCL...), warnings
        yellow, debug dim."""
        level = line.level
        if level >= ERROR:
            return styles["signature"] if signature(line.text) is not None else styles["error"]
        if level == WARN:
            return styles["warning"]
        if level == DEBUG:
            return styles["debug"]
        return ""

    def _style_cache(self) -> dict[str, Style]:
        """The widget's styles, worked out once (rich_style walks the CSS: a quarter of a millisecond a call);
        forgotten when the theme or the styles change."""
        styles = self._styles
        if styles is None:
            base = self.rich_style
            part = lambda name: self.get_component_rich_style(f"log-lines--{name}", partial=True)  # noqa: E731
            styles = {name: part(name) for name in ("stamp", "match", "error", "warning", "debug", "signature")}
            styles["base"] = base
            styles["current"] = base + self.get_component_rich_style("log-lines--current")
            self._styles = styles
            self._source_styles = {}
        return styles

    def _source_style(self, source: str) -> Style | str:
        if not source:
            return ""
        got = self._source_styles.get(source)
        if got is None:
            got = self._source_styles[source] = Style.parse(f"bold {source_colour(source)}")
        return got

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._rows.clear()
        self._window = None

    # ------------------------------------------------------------------ tests and the bench
    def visible_text(self) -> list[str]:
        """The rows on screen as plain text, trailing spaces cut."""
        return ["".join(s.text for s in row).rstrip() for row in self._window_rows()]

"""A table of cluster objects that stays fast at 10,000 rows: it renders only the lines on screen.

Textual's DataTable measures every cell it is given on the UI thread (about 1.7 s for 10k rows,
see the style guide section 7). This widget takes an already sorted and filtered list of domain
objects (built in a worker) and turns an object into cells only when its line is drawn, caching
the result per object until the object changes. Rows are keyed by uid: when a new list arrives
the cursor stays on the same object, wherever it moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from prophecis_tui.sanitize import clean_line

Cell = Text | str


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # columns; the last column with flex=True takes what is left
    cell: Callable[[Any], Cell]
    sort: Callable[[Any], Any] | None = None  # None: sorts by the cell's plain text
    flex: bool = False
    narrow: bool = True  # shown below 110 columns too
    justify: str = "left"
    keep_end: bool = False  # paths: cut the start ("…mlss-data/heping"), not the end
    max_width: int = 0  # a flex column stops growing here (0: no limit); the others share the rest
    unique: bool = False  # its sort key tells every row apart: no tie-breaking sort first


def cell_text(value: Any, style: str = "", limit: int = 200) -> Text:
    """A cell from untrusted text: sanitised, one line, styled."""
    return Text(clean_line("" if value is None else str(value), limit), style, no_wrap=True, end="")


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def sort_key(column: Column) -> Callable[[Any], Any]:
    if column.sort is not None:
        return column.sort
    return lambda obj: _plain(column.cell(obj)).lower()


class ResourceTable(ScrollView, can_focus=True):
    """Rows of objects (anything with a ``uid``), a header, a cursor; sorting is the screen's job."""

    COMPONENT_CLASSES = {"resource-table--header", "resource-table--cursor", "resource-table--dim"}
    DEFAULT_CSS = """
    ResourceTable { height: 1fr; scrollbar-gutter: stable; }
    ResourceTable > .resource-table--header { text-style: bold; background: $panel; }
    ResourceTable > .resource-table--cursor { background: $accent 40%; }
    ResourceTable:focus > .resource-table--cursor { background: $accent 70%; }
    ResourceTable > .resource-table--dim { color: $text-muted; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.pagedown"),
        Binding("home,g", "edge(0)", "First", show=False, id="table.first"),
        Binding("end,G", "edge(1)", "Last", show=False, id="table.last"),
        Binding("enter", "select", "Open", show=False, id="table.select"),
    ]

    class CursorMoved(Message):
        def __init__(self, table: "ResourceTable", obj: Any) -> None:
            super().__init__()
            self.table, self.obj = table, obj

    class Selected(Message):
        def __init__(self, table: "ResourceTable", obj: Any) -> None:
            super().__init__()
            self.table, self.obj = table, obj

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.all_columns = list(columns)
        self.rows: list[Any] = []
        self._index: dict[str, int] = {}
        self.cursor = 0
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._seg_cache: dict[str, list[Segment]] = {}  # uid -> its drawn row, until the next list or layout
        self._cells: dict[tuple, list[Segment]] = {}  # (column, width, the cell's text and styles) -> drawn
        self._widths: list[tuple[Column, int]] = []
        self._layout_width = -1
        self.hidden: set[str] = set()  # columns the screen leaves out (the namespace when scoped to one)

    def hide(self, keys: set[str]) -> None:
        if keys != self.hidden:
            self.hidden = set(keys)
            self._layout_width = -1
            self._seg_cache.clear()
            self.refresh()

    # ------------------------------------------------------------------ data
    @property
    def columns(self) -> list[Column]:
        wide = self.size.width >= 110 or not self.size.width
        return [c for c in self.all_columns if (wide or c.narrow) and c.key not in self.hidden]

    def set_rows(self, rows: list[Any], index: dict[str, int] | None = None) -> None:
        """A new sorted list; the cursor follows its object (by uid), else keeps its place.

        ``index`` (uid -> row) may come built from the worker that sorted the rows."""
        keep = self.current_uid
        self.rows = rows
        self._index = index if index is not None else {r.uid: i for i, r in enumerate(rows)}
        self._seg_cache.clear()  # cells may read the screen's context (why pending, failures): it changed too
        if keep is not None and keep in self._index:
            self.cursor = self._index[keep]
        else:
            self.cursor = min(self.cursor, max(len(rows) - 1, 0))
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self._scroll_to_cursor()
        self.refresh()
        if self.current_uid != keep:
            self.post_message(self.CursorMoved(self, self.current))

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def current(self) -> Any:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def current_uid(self) -> str | None:
        obj = self.current
        return obj.uid if obj is not None else None

    def select_uid(self, uid: str) -> bool:
        i = self._index.get(uid)
        if i is None:
            return False
        self._move(i)
        return True

    def row_texts(self) -> list[str]:
        """Every row as plain text (tests and the bench read the table this way)."""
        return ["".join(seg.text for seg in self._row_segments(r)) for r in self.rows]

    # ------------------------------------------------------------------ layout and drawing
    def _layout(self) -> list[tuple[Column, int]]:
        width = self.scrollable_content_region.width or self.size.width
        if width == self._layout_width and self._widths:
            return self._widths
        cols = self.columns
        fixed = sum(c.width + 1 for c in cols if not c.flex)
        flex = [c for c in cols if c.flex]
        left = max(width - fixed, 0)
        share: dict[str, int] = {}
        while flex:  # capped columns take their cap, the rest is shared by the others
            each = left // len(flex) - 1
            capped = [c for c in flex if c.max_width and c.max_width < each]
            if not capped:
                share.update({c.key: max(c.width, each) for c in flex})
                break
            for c in capped:
                share[c.key] = c.max_width
                left -= c.max_width + 1
                flex.remove(c)
        out = [(c, share.get(c.key, c.width)) for c in cols]
        self._widths, self._layout_width = out, width
        self._seg_cache.clear()
        return out

    @staticmethod
    def _cell_text(col: Column, w: int, cell: Cell) -> Text:
        """One cell, padded and cut to its width. A Text comes from cell_text(), already clean; a str is cleaned
        here."""
        text = cell.copy() if isinstance(cell, Text) else Text(clean_line(str(cell), w + 1))
        if col.justify == "right" and text.cell_len < w:
            text.pad_left(w - text.cell_len)
        if col.keep_end and text.cell_len > w > 1:
            text = Text("…", "dim") + text[len(text) - (w - 1):]
        text.truncate(w, overflow="ellipsis", pad=True)
        return text

    def _header_text(self) -> Text:
        line = Text(no_wrap=True, end="")
        for i, (col, w) in enumerate(self._layout()):
            if i:
                line.append(" ")
            label = col.label
            if col.key == self.sort_column:
                label += "↓" if self.sort_reverse else "↑"
            line.append(Text(label[:w].ljust(w)))
        return line

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        if y == 0:
            style = self.get_component_rich_style("resource-table--header")
            return self._strip(self._header_text(), width, style)
        index = self.scroll_offset.y + y - 1
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, self.rich_style)
        style = self.rich_style
        if index == self.cursor:
            style = style + self.get_component_rich_style("resource-table--cursor")
        segments = [Segment(s.text, style + s.style if s.style else style)
                    for s in self._row_segments(self.rows[index])]
        return Strip(segments).crop_extend(0, width, style)

    def _row_segments(self, obj: Any) -> list[Segment]:
        """A row as segments, each cell's taken from a cache of drawn cells: on a screen refreshed every second
        most cells (names, nodes, models, and the same numbers) are drawn already, only the cells whose text
        changed are drawn again (a GPU row: ~40 us instead of ~300)."""
        widths = self._layout()
        hit = self._seg_cache.get(obj.uid)
        if hit is not None:
            return hit
        cells = self._cells
        if len(cells) > 20_000:  # names come and go
            cells.clear()
        space = Segment(" ")
        out: list[Segment] = []
        for i, (col, w) in enumerate(widths):
            if i:
                out.append(space)
            cell = col.cell(obj)
            key = (col.key, w, cell) if isinstance(cell, str) else (
                col.key, w, cell.plain, str(cell.style), tuple((sp.start, sp.end, str(sp.style)) for sp in cell.spans))
            drawn = cells.get(key)
            if drawn is None:
                holder = Text(no_wrap=True, end="")
                holder.append_text(self._cell_text(col, w, cell))  # the cell's own style becomes a span: render() keeps it
                drawn = cells[key] = [seg for seg in holder.render(self.app.console) if seg.text != "\n"]
            out.extend(drawn)
        self._seg_cache[obj.uid] = out
        return out

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        segments = [Segment(s.text, style + s.style if s.style else style, s.control)
                    for s in text.render(self.app.console) if s.text != "\n"]
        return Strip(segments).crop_extend(0, width, style)

    def on_resize(self) -> None:
        self._layout_width = -1
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)
        self._scroll_to_cursor()

    # ------------------------------------------------------------------ the cursor
    @property
    def _page(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def _scroll_to_cursor(self) -> None:
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self._page:
            self.scroll_to(y=self.cursor - self._page + 1, animate=False, immediate=True)

    def _move(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(len(self.rows) - 1, index))
        if index != self.cursor:
            self.cursor = index
            self.post_message(self.CursorMoved(self, self.current))
        self._scroll_to_cursor()
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor + step)

    def action_page(self, step: int) -> None:
        self._move(self.cursor + step * self._page)

    def action_edge(self, end: int) -> None:
        self._move(len(self.rows) - 1 if end else 0)

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.Selected(self, self.current))

    def on_click(self, event) -> None:
        row = self.scroll_offset.y + event.y - 1
        if event.y >= 1 and 0 <= row < len(self.rows):
            if row == self.cursor and event.chain >= 2:
                self.action_select()
            self._move(row)

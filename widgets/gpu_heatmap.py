"""A node x GPU heat map: one cell per GPU, coloured by utilisation, its glyph showing memory fill; given lines to
fill (the wall), each GPU a tile as big as fits, its memory fill a bar.

Nodes are laid out in as many columns as the width allows, so 250 nodes x 8 GPUs fit a wall screen.
Renders domain GpuSample objects only; it never calls a backend.
"""

from __future__ import annotations

from bisect import bisect_right

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from prophecis_tui.domain import GpuSample
from prophecis_tui.sanitize import clean_line

FILL = " ▁▂▃▄▅▆▇█"
RAMP = ((5, "grey42"), (30, "dodger_blue2"), (60, "green3"), (85, "yellow3"), (101, "red1"))
HOT_C = 85.0


_LIMITS = [limit for limit, _ in RAMP]
_COLOURS = [colour for _, colour in RAMP] + [RAMP[-1][1]]


def util_style(util: float | None) -> str:
    """The colour of a utilisation: the first RAMP step whose limit it is under."""
    if util is None:
        return "grey23"
    return _COLOURS[bisect_right(_LIMITS, util)]


_CELL_STYLES = {(colour, hot): f"bold {colour} on dark_red" if hot else f"{colour} on grey11"
                for colour in {c for _, c in RAMP} | {"grey23"} for hot in (False, True)}
_GLYPHS = [g if g != " " else "·" for g in FILL]


def cell(g: GpuSample) -> tuple[str, str]:
    """(glyph, style) of a GPU's cell: the glyph fills with its memory, the colour follows its utilisation, a hot
    GPU gets a red ground. 2,000 a second: the strings are made once."""
    used, free = g.fb_used_mib, g.fb_free_mib  # GpuSample.mem_pct, without the property
    if used is None or free is None or used + free <= 0:
        glyph = "?"
    else:
        glyph = _GLYPHS[min(len(FILL) - 1, int(used / (used + free) * (len(FILL) - 1) + 0.5))]
    temp = g.temp_c
    return glyph, _CELL_STYLES[(util_style(g.util), temp is not None and temp >= HOT_C)]


def cells(gpus: list[GpuSample]) -> list[tuple[str, int, tuple[str, str]]]:
    """What the map shows of these GPUs: (node, index, (glyph, style)) each, in node and index order. Pure, so a
    screen works it out in its worker beside the rows and hands the map the result (``show_cells``). A node's name
    is the exporter's label (any text): sanitised, as every cluster text is before the terminal."""
    names: dict[str, str] = {}
    out = []
    for g in gpus:
        name = names.get(g.node)
        if name is None:
            name = names[g.node] = clean_line(g.node, 64)
        out.append((name, g.gpu, cell(g)))
    return sorted(out)


# (columns, lines) of one GPU's tile, biggest first: what a wall from across a room can afford (a character is about
# twice as tall as it is wide: a tile 2n wide and n tall is about square)
TILE_SIZES = ((8, 4), (6, 3), (4, 2), (3, 2), (2, 1), (1, 1))
LABEL = 14  # columns of a node's name


def tile_size(nodes: int, per_node: int, width: int, lines: int) -> tuple[int, int]:
    """The biggest tile (columns, lines) with which ``nodes`` nodes of ``per_node`` GPUs fit ``width`` x
    ``lines`` (a tall tile's node rows one blank line apart); (1, 1) when none does."""
    for cw, ch in TILE_SIZES:
        block = LABEL + 1 + per_node * (cw + (cw > 1)) + 2
        columns = width // block
        if columns < 1:
            continue
        rows = -(-nodes // columns)
        if rows * ch + (rows - 1) * (ch > 1) <= lines:
            return cw, ch
    return 1, 1


def tile_rows(glyph: str, cw: int, ch: int) -> list[str]:
    """A GPU's tile, top line first: its memory fill as a bar of ``ch`` lines (eighths of a line), ``cw`` wide."""
    if ch == 1:
        return [glyph * cw]
    if glyph not in _GLYPHS:  # "?": memory not known
        return [" " * cw] * (ch - 1) + [glyph.center(cw)]
    level = _GLYPHS.index(glyph)  # 0..8 (eighths of the whole)
    filled = round(level / 8 * ch * 8)
    return [FILL[max(0, min(8, filled - 8 * (ch - 1 - r)))] * cw for r in range(ch)]


def legend() -> Text:
    t = Text("util ", "dim")
    for (limit, colour), lo in zip(RAMP, (0, 5, 30, 60, 85)):
        t.append("█", colour)
        t.append(f"{lo}+ " if lo else "<5 ", "dim")
    t.append(" glyph = memory fill ", "dim")
    t.append("▁▄█", "green3 on grey11")
    t.append("  hot ≥85°C ", "dim")
    t.append("█", "bold green3 on dark_red")
    return t


class GpuHeatmap(Widget):
    """Line API: the map is kept as segments per line and drawn a line at a time; 2,000 GPUs redrawn each
    second cost a few milliseconds (a Text of 2,000 styled cells re-parsed by Static cost ~300 ms/s)."""

    DEFAULT_CSS = "GpuHeatmap { height: auto; max-height: 16; padding: 0 1; }"

    def __init__(self, *, id: str | None = None, lines: int | None = None) -> None:
        super().__init__(id=id)
        self.lines = lines  # the lines it may fill: tiles as big as fit (a wall); None: a cell a GPU, a line a row
        self._lines: list[list[Segment]] = []
        self._note: Text | None = None
        self._styles: dict[str, Style] = {}
        self._cells: list = []  # what the lines show: (node, index, (glyph, style)) per GPU
        self._segments: dict[tuple[str, str], Segment] = {}  # a few dozen: glyphs x colours
        self._width = 0

    def _style(self, spec: str) -> Style:
        st = self._styles.get(spec)
        if st is None:
            st = self._styles[spec] = Style.parse(spec)
        return st

    def show(self, gpus: list[GpuSample]) -> None:
        self.show_cells(cells(gpus))

    def show_cells(self, cells: list[tuple[str, int, tuple[str, str]]]) -> None:
        """Draw what ``cells()`` made; nothing happens when no cell changed since the last time."""
        width = max((self.size.width or 120) - 2, 40)
        if self._note is None and self._lines and cells == self._cells and (width, self.lines) == self._width:
            return  # no cell changed colour or glyph (most seconds, for most GPUs): nothing to draw
        self._note, self._cells, self._width = None, cells, (width, self.lines)
        by_node: dict[str, list[tuple[str, str]]] = {}
        for node, _, glyph_style in cells:
            by_node.setdefault(node, []).append(glyph_style)
        lines: list[list[Segment]] = []
        if by_node:
            label = LABEL
            per_node = max(len(v) for v in by_node.values())
            cw, ch = tile_size(len(by_node), per_node, width, self.lines) if self.lines else (1, 1)
            gap = " " if cw > 1 else ""
            block = per_node * (cw + len(gap)) + 2
            columns = max(1, width // (label + 1 + block))
            dim = self._style("dim")
            segment = self._segment
            nodes = list(by_node)
            for start in range(0, len(nodes), columns):
                if ch > 1 and start:
                    lines.append([])  # tall tiles: a blank line between two rows of nodes
                row: list[list[Segment]] = [[] for _ in range(ch)]
                for name in nodes[start:start + columns]:
                    short = name if len(name) <= label else "…" + name[-(label - 1):]
                    for r in range(ch):  # the name on the bottom line, by the tiles' base
                        row[r].append(Segment(f"{short:>{label}} " if r == ch - 1 else " " * (label + 1), dim))
                    for glyph, spec in by_node[name]:
                        for r, text in enumerate(tile_rows(glyph, cw, ch) if ch > 1 or cw > 1 else [glyph]):
                            row[r].append(segment(text, spec))
                            if gap:
                                row[r].append(Segment(gap))
                    pad = Segment(" " * (block - len(by_node[name]) * (cw + len(gap))))
                    for r in range(ch):
                        row[r].append(pad)
                lines.extend(row)
        self._lines = lines
        self._height(max(1, len(lines)))

    def _segment(self, glyph: str, spec: str) -> Segment:
        seg = self._segments.get((glyph, spec))
        if seg is None:
            seg = self._segments[(glyph, spec)] = Segment(glyph, self._style(spec))
        return seg

    def _height(self, lines: int) -> None:
        """A new layout only when the map's height changes: a layout redraws the whole screen, and the map
        changes every second."""
        if self.styles.height is None or self.styles.height.value != lines:
            self.styles.height = lines
            self.refresh(layout=True)
        else:
            self.refresh()

    def note(self, text: Text) -> None:
        self._note, self._lines, self._cells = text, [], []
        self._height(2)

    @property
    def plain(self) -> str:
        """What the map says, as text (for tests and screen readers)."""
        if self._note is not None:
            return self._note.plain
        if not self._lines:
            return "no GPUs reported"
        return "\n".join("".join(seg.text for seg in line) for line in self._lines)

    def render_line(self, y: int) -> Strip:
        return self._line(y).apply_style(self.rich_style)  # the widget's colours under the cells'

    def _line(self, y: int) -> Strip:
        width = self.size.width
        if self._note is not None:
            lines = self._note.wrap(self.app.console, max(width, 10))
            if y < len(lines):
                return Strip(lines[y].render(self.app.console)).crop_extend(0, width, None)
            return Strip.blank(width)
        if not self._lines:
            return Strip([Segment("no GPUs reported", self._style("dim"))]).crop_extend(0, width, None) if y == 0 \
                else Strip.blank(width)
        if y >= len(self._lines):
            return Strip.blank(width)
        return Strip(self._lines[y]).crop_extend(0, width, None)

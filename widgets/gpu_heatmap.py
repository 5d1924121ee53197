"""A node x GPU heat map: one cell per GPU, coloured by utilisation, its glyph showing memory fill.

Nodes are laid out in as many columns as the width allows, so 250 nodes x 8 GPUs fit a wall screen.
Renders domain GpuSample objects only; it never calls a backend.
"""

from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.widgets import Static

from prophecis_tui.domain import GpuSample

FILL = " ▁▂▃▄▅▆▇█"
RAMP = ((5, "grey42"), (30, "dodger_blue2"), (60, "green3"), (85, "yellow3"), (101, "red1"))
HOT_C = 85.0


def util_style(util: float | None) -> str:
    if util is None:
        return "grey23"
    for limit, colour in RAMP:
        if util < limit:
            return colour
    return RAMP[-1][1]


def cell(g: GpuSample) -> tuple[str, str]:
    mem = g.mem_pct
    glyph = FILL[min(len(FILL) - 1, int((mem or 0) / 100 * (len(FILL) - 1) + 0.5))] if mem is not None else "?"
    style = f"{util_style(g.util)} on grey11"
    if g.temp_c is not None and g.temp_c >= HOT_C:
        style = f"bold {util_style(g.util)} on dark_red"
    return glyph if glyph != " " else "·", style


def heatmap_text(gpus: Iterable[GpuSample], width: int, label: int = 14) -> Text:
    by_node: dict[str, list[GpuSample]] = {}
    for g in gpus:
        by_node.setdefault(g.node, []).append(g)
    if not by_node:
        return Text("no GPUs reported", "dim")
    per_node = max(len(v) for v in by_node.values())
    block = label + 1 + per_node + 2
    columns = max(1, width // block)
    out = Text(no_wrap=True, overflow="crop")
    nodes = sorted(by_node)
    for row_start in range(0, len(nodes), columns):
        if row_start:
            out.append("\n")
        for name in nodes[row_start:row_start + columns]:
            short = name if len(name) <= label else "…" + name[-(label - 1):]
            out.append(f"{short:>{label}} ", "dim")
            for g in sorted(by_node[name], key=lambda x: x.gpu):
                glyph, style = cell(g)
                out.append(glyph, style)
            out.append(" " * (per_node - len(by_node[name]) + 2))
    return out


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


class GpuHeatmap(Static):
    DEFAULT_CSS = "GpuHeatmap { height: auto; max-height: 16; overflow-y: auto; padding: 0 1; }"

    def show(self, gpus: list[GpuSample]) -> None:
        self.update(heatmap_text(gpus, max(self.size.width - 2, 40)))

"""Column widths a DataTable is given rather than left to work out (the overview's and the Linkis result's).

Left to size its columns (auto width), a DataTable cuts a cell that grows in place (``update_cell``) to the width
the column had, and widens columns only on an idle pass after the rows go in; its line caches are not keyed on
the widths, so a screen update that came before that pass keeps its narrow lines (dates cut to "2026") until
something else redraws them. Setting each width from the cells before they go in avoids both.
"""

from __future__ import annotations

from typing import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def fit_columns(table: DataTable, rows: Sequence[Sequence[Text]]) -> bool:
    """Each column of ``table`` as wide as its widest cell in ``rows`` or its label's widest line, set before the
    cells go in; whether a width changed (the table is then redrawn)."""
    changed = False
    for i, col in enumerate(table.ordered_columns):
        label = max((cell_len(line) for line in col.label.plain.split("\n")), default=0)
        width = max([label] + [row[i].cell_len for row in rows if i < len(row)])
        if col.auto_width or col.width != width:
            col.width, col.auto_width = width, False
            changed = True
    if changed:
        table.refresh()
    return changed

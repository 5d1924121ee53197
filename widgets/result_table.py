"""A Linkis result set as a table: paged, sorted by a column, the column types in the header, NULL dim.

The whole result set (``LinkisResultSet``: every page Linkis served, read by the core's ``fetch_result`` in a
worker) is held here; the table shows one page of it (``PAGE_ROWS`` rows: a DataTable takes ~0.2 ms a cell on
the UI thread). Sorting reads the column's type (numbers as numbers, NULL last either way) and shows page 1 of
the sorted rows. Cells are untrusted text: one line each, sanitised. Chinese text is aligned by its width in
cells (DataTable measures cells so).
"""

from __future__ import annotations

from typing import Any, Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from prophecis_tui.domain import LinkisResultSet
from prophecis_tui.sanitize import clean_line
from widgets.table_fit import fit_columns

SORT_IN_THREAD = 20_000  # rows: a bigger result is sorted off the UI thread
PAGE_ROWS = 100  # more than a screen; a DataTable fills 100 rows of 6 columns in ~60 ms (200: ~130)
CELL_LIMIT = 120  # characters of a cell shown (the saved file has them all)
NUMERIC = ("int", "tinyint", "smallint", "bigint", "long", "short", "float", "double", "decimal", "number",
           "real", "numeric")
NULLS = (None, "NULL", "null")


def is_numeric(type_name: str) -> bool:
    t = (type_name or "").casefold()
    return any(t.startswith(n) for n in NUMERIC)


def sort_value(value: str | None, numeric: bool) -> tuple:
    """A key that sorts NULLs last, numbers by value (a number that does not parse after those that do)."""
    if value in NULLS:
        return (2, 0, "")
    if numeric:
        text = str(value).strip()
        if (text[1:] if text[:1] == "-" else text).isdecimal():  # (no exception raised and caught per decimal)
            return (0, int(text), "")  # exact, and the common case (ids, counts)
        try:  # a float key sorts 100,000 rows in a third of a Decimal's time; it may tie two decimals that
            number = float(text)  # differ past the 15th digit, and only for the order shown
        except ValueError:
            return (1, 0, text)
        if number != number:  # NaN: with the texts that are not numbers
            return (1, 0, text)
        return (0, number, "")
    return (0, 0, str(value).casefold())


def sorted_rows(rows: Sequence[Sequence[str | None]], column: int, numeric: bool, reverse: bool) -> list:
    """Rows sorted by one column; NULLs stay last when reversed too."""
    present = [r for r in rows if (r[column] if column < len(r) else None) not in NULLS]
    nulls = [r for r in rows if (r[column] if column < len(r) else None) in NULLS]
    present.sort(key=lambda r: sort_value(r[column], numeric), reverse=reverse)
    return present + nulls


class ResultTable(DataTable):
    """One result set: ``show(rs)``; ``page(step)``, ``sort_current()`` (the cursor's column; again: reversed)."""

    DEFAULT_CSS = """
    ResultTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, header_height=2, cursor_type="cell", zebra_stripes=True)
        self.result: LinkisResultSet | None = None
        self.rows_all: list[tuple[str | None, ...]] = []
        self.page_index = 0
        self.sort_column: int | None = None
        self.sort_reverse = False
        self.sorting = False  # a big result's sort is running in a thread
        self._sort_token = 0  # which sort (or show) is the latest: an older sort's rows are dropped

    # ------------------------------------------------------------------ data
    def show(self, rs: LinkisResultSet) -> None:
        self._sort_token += 1  # a sort of the result shown before is not shown over this one
        self.sorting = False
        self.result = rs
        self.rows_all = [tuple(r) for r in rs.rows]
        self.page_index = 0
        self.sort_column, self.sort_reverse = None, False
        self.clear(columns=True)
        for i, col in enumerate(rs.columns):
            label = Text(no_wrap=True, end="")
            label.append(clean_line(col.name, 60), "bold")
            label.append("\n")
            label.append(clean_line(col.type or "?", 30), "dim italic")
            self.add_column(label, key=str(i))
        self._fill()

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.rows_all) // PAGE_ROWS))

    def page(self, step: int) -> bool:
        """Another page; False when there is none that way."""
        new = self.page_index + step
        if not 0 <= new < self.pages or self.result is None:
            return False
        self.page_index = new
        self._fill()
        return True

    class Sorted(Message):
        """A sort done in a thread has been shown (the screen refreshes its status line)."""

    def sort_by(self, column: int, reverse: bool | None = None) -> None:
        """Sort every row by ``column`` and show page 1: at once for a small result; a big one (over
        SORT_IN_THREAD rows, ~0.3 s for 100,000 on the UI thread) is sorted in a thread, the status saying
        "sorting…" meanwhile, and a Sorted message posted when it shows."""
        if self.result is None or not 0 <= column < len(self.result.columns):
            return
        if reverse is None:
            reverse = (not self.sort_reverse) if self.sort_column == column else False
        self.sort_column, self.sort_reverse = column, reverse
        numeric = is_numeric(self.result.columns[column].type)
        self._sort_token += 1
        rows = self.result.rows
        if len(rows) <= SORT_IN_THREAD:
            self._sorted(sorted_rows(rows, column, numeric, reverse), self._sort_token)
            return
        self.sorting = True
        token = self._sort_token

        def work() -> None:
            out = sorted_rows(rows, column, numeric, reverse)
            self.app.call_from_thread(self._sorted, out, token, True)
        self.run_worker(work, thread=True, group="result-sort", exit_on_error=False)

    def _sorted(self, rows: list, token: int, post: bool = False) -> None:
        if token != self._sort_token:  # a newer sort, or another result shown meanwhile
            return
        self.sorting = False
        self.rows_all = rows
        self.page_index = 0
        self._fill()
        if post:
            self.post_message(self.Sorted())

    def sort_current(self) -> None:
        self.sort_by(self.cursor_coordinate.column)

    def _fill(self) -> None:
        rs = self.result
        if rs is None:
            return
        numeric = [is_numeric(c.type) for c in rs.columns]
        n = len(rs.columns)
        start = self.page_index * PAGE_ROWS
        column = self.cursor_coordinate.column  # clear() puts the cursor back on the first cell
        self.clear(columns=False)
        rows = []
        for r in self.rows_all[start:start + PAGE_ROWS]:
            cells = []
            for i in range(n):
                v = r[i] if i < len(r) else None
                cells.append(cell(v, numeric[i]))
            rows.append(cells)
        # each column as wide as the page's widest cell (or its header), set before the rows go in (table_fit)
        fit_columns(self, rows)
        for i, col in enumerate(self.ordered_columns[:n]):
            if numeric[i]:  # numbers right-aligned: padded to that width
                for row in rows:
                    row[i].pad_left(col.width - row[i].cell_len)
        self.add_rows(rows)
        if rows:
            self.move_cursor(row=0, column=min(column, max(n - 1, 0)), animate=False)

    # ------------------------------------------------------------------ what it says
    def status(self) -> Text:
        """``rows 1-100 of 1,234 · page 1/13 · sorted by amount ↓``."""
        t = Text(no_wrap=True, end="")
        total = len(self.rows_all)
        if not total:
            t.append("no rows", "dim")
            return t
        start = self.page_index * PAGE_ROWS
        t.append(f"rows {start + 1:,}-{min(start + PAGE_ROWS, total):,} of {total:,}", "bold")
        t.append(f" · page {self.page_index + 1}/{self.pages}", "dim")
        if self.sorting:
            t.append(" · sorting…", "yellow")
        if self.result is not None and self.result.total_lines > total:  # the screen holds the first rows only
            t.append(f" · the first {total:,} of {self.result.total_lines:,} rows (S saves every row)", "yellow")
        if self.sort_column is not None and self.result is not None:
            name = clean_line(self.result.columns[self.sort_column].name, 40)
            t.append(f" · sorted by {name}{' ↓' if self.sort_reverse else ' ↑'}", "dim")
        return t

    def page_texts(self) -> list[list[str]]:
        """The page's cells as plain text (tests)."""
        return [[(c.plain if isinstance(c, Text) else str(c)).strip() for c in self.get_row_at(i)]
                for i in range(self.row_count)]


def cell(value: Any, numeric: bool) -> Text:
    if value in NULLS:
        return Text("NULL", "dim italic", no_wrap=True, end="")
    return Text(clean_line(str(value), CELL_LIMIT), no_wrap=True, end="", justify="right" if numeric else "left")

"""SVG snapshots of the Linkis screens on the simulated gateway (seeded history, frozen clock, times in UTC):
:linkis and a succeeded SQL task's detail on its Result pane, at 80x24 and 200x50."""

from __future__ import annotations


import pytest
from rich.cells import cell_len

from prophecis_tui.domain import LinkisState
from screens.linkis import LinkisScreen
from screens.linkis_task import LinkisTaskScreen
from widgets.result_table import ResultTable

from .test_console import settle, table

SIZES = [(80, 24), (200, 50)]


async def _list(app, pilot) -> None:
    await settle(pilot, lambda: table(app).row_count >= 6)
    app.run_command("linkis")
    await settle(pilot, lambda: isinstance(app.screen, LinkisScreen) and app.screen.table.row_count > 5)
    await pilot.press("home")
    await settle(pilot, lambda: app.screen.table.cursor == 0)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "200x50"])
def test_linkis_list(console, snap_compare, utc, size):
    """The seeded job history newest first: IDE and the notebook users' LinkisMagic jobs, every state coloured,
    progress bars, errCode and errDesc of the failed ones; counts in the title."""
    console.linkis = True
    app = console.app()

    async def ready(pilot):
        await _list(app, pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


def _widths_fit(t: ResultTable) -> bool:
    """Every column is as wide as the widest cell on the page, and the first row is drawn so (its first cell
    whole on one of the table's first lines, under the headers: under load the widths were wide before the lines
    were drawn again)."""
    rows = t.page_texts()
    if not rows or not all(col.content_width >= max(cell_len(r[i]) for r in rows)
                           for i, col in enumerate(t.ordered_columns)):
        return False
    return any(rows[0][0] in t.render_line(y).text for y in range(min(t.size.height, 4)))


def _result_state(app) -> str:
    """What the Result pane shows (a wait that ran out says it: once, in a loaded run, it never got there)."""
    screen = app.screen
    if not isinstance(screen, LinkisTaskScreen):
        return f"the screen is {type(screen).__name__}"
    t = screen.query_one(ResultTable)
    rows = t.page_texts()
    widths = [(col.content_width, max((cell_len(r[i]) for r in rows), default=0))
              for i, col in enumerate(t.ordered_columns)]
    lines = [t.render_line(y).text for y in range(min(t.size.height, 4))]
    return (f"status {str(screen.query_one('#result-status').render())!r}, {t.row_count} rows, "
            f"column widths (drawn, widest cell) {widths}, first lines {lines!r}, first row {rows[:1]!r}")


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "200x50"])
def test_linkis_task_result(console, snap_compare, utc, size):
    """The newest succeeded SQL task of the history on its Result pane: the header, the typed column headers
    (CJK values aligned, NULL dim), the page status."""
    console.linkis = True
    app = console.app()

    async def ready(pilot):
        await _list(app, pilot)
        tasks = [t for t in app.session.state.linkis_tasks()
                 if t.state == LinkisState.SUCCEED and t.run_type in ("sql", "hql") and t.result_location]
        app.screen.open_task(tasks[0], tab="result")
        await settle(pilot, lambda: isinstance(app.screen, LinkisTaskScreen)
                     and app.screen.query_one(ResultTable).row_count > 0
                     and "columns" in str(app.screen.query_one("#result-status").render()), tries=500,
                     why=lambda: _result_state(app))
        # the table widens its columns to their cells on an idle pass after the rows went in: under CI's load
        # the picture was once taken before it, with every date cut to its year
        await settle(pilot, lambda: _widths_fit(app.screen.query_one(ResultTable)), tries=500,
                     why=lambda: _result_state(app))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)

"""SVG snapshots of the overview (deterministic: frozen, seeded simulator; no animations)."""

from __future__ import annotations

import pytest

from .test_console import settle, table


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_overview(console, snap_compare, size):
    app = console.app()

    async def ready(pilot):
        await settle(pilot, lambda: table(app).row_count >= 6 and "Cluster GPUs" in str(
            app.screen.query_one("#cluster").render()))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)

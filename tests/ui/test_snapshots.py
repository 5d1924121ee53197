"""SVG snapshots of the overview (deterministic: frozen, seeded simulator; no animations)."""

from __future__ import annotations

import pytest

from .test_console import settle, table


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_overview(console, snap_compare, size):
    """Namespaces under the cluster's GPUs: totals from the simulated dcgm-exporter (frozen clock: the same
    numbers each run), the hottest GPUs and the quota pressure; side by side at 200x50, stacked at 80x24."""
    console.metrics = {}
    app = console.app()

    def shown(selector: str) -> str:
        return str(app.screen.query_one(selector).render())

    async def ready(pilot):
        await settle(pilot, lambda: table(app).row_count >= 6 and "Cluster GPUs" in shown("#cluster")
                     and "from dcgm" in shown("#gpu-totals") and "/" in shown("#gpu-quota"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


SCREENS = {"nb": "Notebooks", "jobs": "Training jobs", "deploy": "Model deployments", "pods": "Pods",
           "events": "Events"}


def _screen_ready(app, command: str):
    from widgets.resource_table import ResourceTable

    async def ready(pilot):
        await settle(pilot, lambda: table(app).row_count >= 6)
        app.run_command(command)
        await settle(pilot, lambda: getattr(app.screen, "TITLE_TEXT", "") == SCREENS[command]
                     and app.screen.loaded and app.screen.query_one(ResourceTable).row_count > 0
                     and (app.screen.context is not None or command == "events"))
        await pilot.pause()
    return ready


@pytest.mark.parametrize("command", list(SCREENS))
def test_workload_screen(console, snap_compare, command):
    app = console.app()
    assert snap_compare(app, terminal_size=(200, 50), run_before=_screen_ready(app, command))


def test_notebooks_80x24(console, snap_compare):
    app = console.app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_screen_ready(app, "nb"))


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_gpu_screen(console, snap_compare, size):
    """The GPUs of the small world from its simulated dcgm-exporter (frozen clock: the same numbers each run)."""
    console.metrics = {}
    app = console.app()

    async def ready(pilot):
        await settle(pilot, lambda: table(app).row_count >= 6)
        app.run_command("gpu")
        await settle(pilot, lambda: getattr(app.screen, "NAME", "") == "gpu" and app.screen.table.row_count >= 64
                     and app.screen.context is not None and "from dcgm" in str(app.screen.query_one("#summary").render()))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


def test_gpu_top_consumers(console, snap_compare):
    """:gpu's namespaces view (v v): the top consumers of the small world's GPUs, most GPUs first."""
    console.metrics = {}
    app = console.app()

    async def ready(pilot):
        await settle(pilot, lambda: table(app).row_count >= 6)
        app.run_command("gpu")
        await settle(pilot, lambda: getattr(app.screen, "NAME", "") == "gpu" and app.screen.table.row_count >= 64)
        await pilot.press("v", "v")
        await settle(pilot, lambda: app.screen.view == "namespaces" and app.screen.table.row_count >= 5
                     and "from dcgm" in str(app.screen.query_one("#summary").render()))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(200, 50), run_before=ready)


def test_gpu_business_systems(console, snap_compare):
    """:gpu's business-system view (v v v) with the simulator's CMDB: Chinese names aligned in their columns, tier
    first, the top one's rule and on-call line. 80x24, where the sparkline column (its length follows the wall
    clock) is left out."""
    console.metrics, console.cmdb = {}, True
    app = console.app()

    async def ready(pilot):
        await settle(pilot, lambda: table(app).row_count >= 6)
        app.run_command("gpu")
        await settle(pilot, lambda: getattr(app.screen, "NAME", "") == "gpu" and app.screen.table.row_count >= 64)
        await pilot.press("v", "v", "v")
        await settle(pilot, lambda: app.screen.view == "systems" and app.screen.table.row_count >= 5
                     and "from dcgm" in str(app.screen.query_one("#summary").render()))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_quota_screen(console, snap_compare, size):
    """GPU quota per namespace of the small world, highest pressure first, the top one's detail line; one
    tenant bursts above its base towards a max from the annotation, another has its max in limits."""
    from prophecis_tui.simulator.engine import QUOTAS

    def edit(ns: str, hard: dict, annotations: dict | None = None) -> None:
        def change(q: dict) -> None:
            q["spec"]["hard"].update(hard)
            if annotations:
                q["metadata"].setdefault("annotations", {}).update(annotations)
        store = console.sim.engine.store
        store.mutate(QUOTAS, ns, "mlss-default-rq", change)
        console.sim.engine.set_quota(ns, store.get(QUOTAS, ns, "mlss-default-rq")["spec"]["hard"])

    console.thread.call(edit, "ns-risk-scorecard", {"requests.nvidia.com/gpu": "12"},
                        {"prophecis.webank.com/gpu-max": "14"})
    console.thread.call(edit, "ns-antifraud-txn", {"limits.nvidia.com/gpu": "24"})
    app = console.app()

    async def ready(pilot):
        await settle(pilot, lambda: table(app).row_count >= 6)
        app.run_command("quota")
        await settle(pilot, lambda: getattr(app.screen, "NAME", "") == "quota" and app.screen.loaded
                     and app.screen.table.row_count >= 6 and app.screen.context is not None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)

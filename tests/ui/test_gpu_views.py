"""`:gpu`'s views (nodes with sparklines, top consumers by namespace and by pod, the idle board with the notebook
stop action) and its history chart, against the simulator's dcgm-exporter."""

from __future__ import annotations

from screens.gpu import GpuScreen
from screens.gpu_rows import IdleRow, NamespaceRow, NodeRow, PodRow, SystemRow
from widgets.gpu_chart import GpuChart

from .test_console import settle


async def _gpu(console, pilot, app) -> GpuScreen:
    app.run_command("gpu")
    await settle(pilot, lambda: isinstance(app.screen, GpuScreen) and app.screen.table.row_count)
    return app.screen


async def test_nodes_namespaces_and_pods_add_up_to_the_gpus(console):
    console.metrics = {}
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await _gpu(console, pilot, app)
        gpus = app.session.state.gpus()
        await pilot.press("v")
        await settle(pilot, lambda: screen.view == "nodes" and screen.table.row_count)
        nodes = screen.table.rows
        assert all(isinstance(r, NodeRow) for r in nodes)
        assert sum(r.gpus for r in nodes) == len(gpus) and sum(r.held for r in nodes) == sum(1 for g in gpus if g.pod)
        assert [r.node for r in nodes] == sorted({g.node for g in gpus})
        assert "LAST 10 MIN" in screen.table._header_text().plain
        await pilot.press("v")
        await settle(pilot, lambda: screen.view == "namespaces" and screen.table.row_count)
        spaces = screen.table.rows
        assert all(isinstance(r, NamespaceRow) for r in spaces)
        assert {r.namespace: r.gpus for r in spaces} == {ns: sum(1 for g in gpus if g.pod and g.namespace == ns)
                                                         for ns in {g.namespace for g in gpus if g.pod}}
        assert [r.gpus for r in spaces] == sorted((r.gpus for r in spaces), reverse=True)  # top consumers first
        await pilot.press("v")  # business systems: none without a CMDB, and the screen says how to get one
        await settle(pilot, lambda: screen.view == "systems" and "No CMDB" in str(screen.query_one("#summary").render()))
        assert screen.table.row_count == 0 and "cmdb import" in str(screen.query_one("#summary").render())
        await pilot.press("v")
        await settle(pilot, lambda: screen.view == "pods" and screen.table.row_count)
        pods = screen.table.rows
        assert all(isinstance(r, PodRow) for r in pods) and sum(r.gpus for r in pods) == sum(1 for g in gpus if g.pod)
        assert [r.gpus for r in pods] == sorted((r.gpus for r in pods), reverse=True)
        await pilot.press("V", "V", "V")
        await settle(pilot, lambda: screen.view == "nodes" and screen.table.row_count)


async def test_business_systems_group_the_gpus_their_pods_and_nodes_hold_and_chart_them(console):
    """With the simulator's CMDB: a row per business system holding GPUs (tier first), each GPU counted in every
    system it serves, the held GPUs no system claims as "untagged"; enter shows the system's GPUs and h its
    history, which the poller keeps from the first poll with the CMDB."""
    console.metrics, console.cmdb = {}, True
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await _gpu(console, pilot, app)
        systems = app.session.metrics.systems
        gpus = app.session.state.gpus()
        await pilot.press("v", "v", "v")
        await settle(pilot, lambda: screen.view == "systems" and screen.table.row_count)
        rows = screen.table.rows
        assert all(isinstance(r, SystemRow) for r in rows)
        expected: dict[str, int] = {}
        for g in gpus:
            for sid in systems.of(g) or (("",) if g.pod else ()):
                expected[sid] = expected.get(sid, 0) + 1
        assert {r.id: r.gpus for r in rows} == expected
        tiers = [r.tier or 99 for r in rows if r.id]
        assert tiers == sorted(tiers) and tiers[0] == 1  # the most critical first
        assert any(r.title and not r.title.isascii() for r in rows)  # the CMDB's Chinese names, as written
        first = rows[0]
        assert first.title in screen.table.row_texts()[0] and first.rule in str(screen.query_one("#detail").render())
        await pilot.press("h")
        chart = screen.query_one(GpuChart)
        await settle(pilot, lambda: chart.title.startswith(first.title) and chart.points)
        assert f"T{first.tier}" in chart.title
        await pilot.press("h", "enter")  # its GPUs: the GPU view filtered to the system
        await settle(pilot, lambda: screen.view == "gpus" and screen.table.row_count == first.gpus)
        assert all(first.id in systems.of(r.g) for r in screen.table.rows)
        assert first.title in str(screen.query_one("#detail").render())  # "serves <system> (T1) by <rule>"


async def test_the_idle_board_lists_held_gpus_under_the_threshold_and_stops_a_notebook(console):
    from prophecis_tui.simulator.notebooks import NOTEBOOKS
    from screens.modals import ConfirmAction

    from .test_workloads import writes

    console.metrics = {"idle_minutes": 0.03}  # a 2-second window: the board fills while the test runs
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await _gpu(console, pilot, app)
        await pilot.press("V")  # from the first view back to the last: the idle board
        await settle(pilot, lambda: screen.view == "idle" and any(r.g.is_notebook for r in screen.table.rows))
        rows = screen.table.rows
        assert all(isinstance(r, IdleRow) for r in rows)
        poller = app.session.metrics
        gpus = {g.key: g for g in app.session.state.gpus()}
        for r in rows:  # held, under 5% now, for the whole window
            assert gpus[r.g.key].pod == r.g.pod and (gpus[r.g.key].util or 0) < poller.idle.threshold
            assert r.g.idle_for >= poller.idle_window
        assert [r.g.since for r in rows] == sorted(r.g.since for r in rows)  # idle longest first
        assert "idle board: under 5% for" in str(screen.query_one("#summary").render())
        nb = next(r for r in rows if r.g.is_notebook)
        screen.table.select_uid(nb.uid)
        await pilot.pause()
        before = len(writes(console))
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        assert f"notebooks/{nb.g.workload}" in app.screen.call and len(writes(console)) == before
        await pilot.press("enter")
        annotations = lambda: console.thread.call(  # noqa: E731
            lambda: console.sim.engine.store.get(NOTEBOOKS, nb.g.namespace, nb.g.workload)["metadata"].get(
                "annotations") or {})
        await settle(pilot, lambda: "kubeflow-resource-stopped" in annotations())
        await settle(pilot, lambda: any(r.action == "notebook.stop" and r.phase == "after" and r.outcome == "ok"
                                        for r in console.audit.records()))
        row = next(r for r in console.audit.records() if r.action == "notebook.stop" and r.phase == "before")
        assert row.target == f"Notebook/{nb.g.namespace}/{nb.g.workload}"


async def test_the_idle_board_offers_no_stop_to_a_read_only_user(console):
    from .test_workloads import writes

    console.metrics = {"idle_minutes": 0.03}
    app = console.app("sim-viewer")
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await _gpu(console, pilot, app)
        await pilot.press("V")
        await settle(pilot, lambda: screen.view == "idle" and any(r.g.is_notebook for r in screen.table.rows))
        nb = next(r for r in screen.table.rows if r.g.is_notebook)
        screen.table.select_uid(nb.uid)
        await pilot.pause()
        before = len(writes(console))
        await pilot.press("s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, GpuScreen) and len(writes(console)) == before  # nothing asked, nothing sent
        assert screen.check_action("stop", ()) is not True  # greyed: the viewer may not patch notebooks
        assert not any(r.action == "notebook.stop" for r in console.audit.records())


async def test_the_history_chart_follows_the_selection_and_its_range(console):
    console.metrics = {}
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await _gpu(console, pilot, app)
        chart = screen.query_one(GpuChart)
        assert not chart.display
        await pilot.press("h")
        g = screen.table.current.g
        await settle(pilot, lambda: chart.display and chart.draws and f"{g.node} GPU {g.gpu}" in chart.title)
        assert chart.range_seconds == 900
        await settle(pilot, lambda: len(chart.points) >= 2)  # the poller's history of that GPU
        await pilot.press("t")
        await settle(pilot, lambda: chart.range_seconds == 3600 and screen._chart_key[1] == 3600)
        assert chart.range_text == "1 h"
        await pilot.press("v")  # a node's chart: the mean of its GPUs, kept by the poller
        await settle(pilot, lambda: screen.view == "nodes" and screen.table.row_count)
        node = screen.table.current
        await settle(pilot, lambda: f"node {node.node}" in chart.title and len(chart.points) >= 1)
        await pilot.press("h")
        await settle(pilot, lambda: not chart.display)


async def test_rows_worked_out_for_the_view_before_a_switch_are_dropped(console):
    """v pressed while the last view's rows are still being worked out: those rows (NodeRows) must not reach
    the next view's columns (a crash before: 'NodeRow' object has no attribute 'pods')."""
    console.metrics = {}
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await _gpu(console, pilot, app)
        await pilot.press("v")
        await settle(pilot, lambda: screen.view == "nodes" and screen.table.row_count)
        stale = list(screen.table.rows)
        await pilot.press("v")
        screen.post_message(screen.Rows(stale, len(stale), screen.context, True, {r.uid: i for i, r in
                                                                                 enumerate(stale)},
                                        screen.rows_layout - 1))
        for key in "vVvVv":  # and a burst of switches for good measure
            await pilot.press(key)
        await settle(pilot, lambda: screen.view == "systems" and screen.shown)
        await pilot.press("V")
        await settle(pilot, lambda: screen.view == "namespaces" and screen.table.row_count)
        assert all(isinstance(r, NamespaceRow) for r in screen.table.rows)
        assert screen.table.row_texts()

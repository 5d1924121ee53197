"""`:gpu` against the simulator's dcgm-exporter: every GPU, who holds it, the heat map; and no source at all."""

from __future__ import annotations

from screens.gpu import GpuScreen
from widgets.gpu_heatmap import GpuHeatmap
from widgets.resource_table import ResourceTable

from .test_console import settle


async def test_every_gpu_with_its_numbers_and_holder(console):
    console.metrics = {}  # nothing configured: the demo's exporter ('auto')
    app = console.app()
    nodes = console.thread.call(lambda: {n.name: n.gpus for n in console.sim.engine.nodes.values() if n.gpus})
    async with app.run_test(size=(200, 50)) as pilot:
        app.run_command("gpu")
        await settle(pilot, lambda: isinstance(app.screen, GpuScreen) and app.screen.table.row_count)
        t = app.screen.query_one(ResourceTable)
        assert t.row_count == sum(nodes.values())
        held = [r.g for r in t.rows if r.g.pod]
        pods = {(p.namespace, p.name): p for p in app.session.state.pods()}
        assert held and all(pods[(g.namespace, g.pod)].node == g.node for g in held)
        texts = t.row_texts()
        nb = next(i for i, r in enumerate(t.rows) if texts[i].find("notebook ") >= 0)
        assert t.rows[nb].g.pod in texts[nb]  # a notebook's GPU names the notebook, not its StatefulSet
        heat = app.screen.query_one(GpuHeatmap).plain
        assert all(node in heat for node in nodes)
        summary = str(app.screen.query_one("#summary").render())
        assert "from dcgm" in summary and "hot" in summary
        header = str(app.screen.query_one("StatusHeader").render())
        assert "metrics live" in header
        await pilot.press("slash", *"free", "enter")  # the filter works on GPUs too: the free ones
        await settle(pilot, lambda: t.row_count and all(not r.g.pod for r in t.rows))
        await pilot.press("d")  # a free GPU has no pod to describe: it says so
        await settle(pilot, lambda: any("no pod holds this GPU" in str(n.message) for n in app._notifications))
        await pilot.press("slash", "ctrl+u", *"held", "enter")
        await settle(pilot, lambda: t.row_count and all(r.g.pod for r in t.rows))
        await pilot.press("d")  # describe the pod that holds it
        from screens.modals import TextView
        await settle(pilot, lambda: isinstance(app.screen, TextView))
        assert t.current.g.pod in app.screen.text


async def test_no_metrics_source_says_how_to_configure_one(console):
    console.metrics = {"source": "none"}
    app = console.app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.run_command("gpu")
        await settle(pilot, lambda: isinstance(app.screen, GpuScreen) and app.screen.loaded)
        heat = app.screen.query_one(GpuHeatmap).plain
        assert "GPU metrics are off" in heat and "prometheus_url" in heat and "dcgm_url" in heat
        assert app.screen.table.row_count == 0


async def test_the_gpu_screen_redraws_on_metrics_polls_not_on_every_pod_change(console):
    """A cluster's pods change several times a second; the GPU screen's rows are GPUs, redrawn once per poll (the
    owners read from the pods follow with it). Each redraw of 2,000 GPUs costs CPU: it must not happen for nothing."""
    console.metrics = {}
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        app.run_command("gpu")
        screen = None
        await settle(pilot, lambda: isinstance(app.screen, GpuScreen) and app.screen.table.row_count)
        screen = app.screen
        app.session.metrics.stop()  # no polls from here: the test makes the changes
        await settle(pilot, lambda: not app.session.metrics._thread.is_alive())
        state = app.session.state
        app._tick()
        await pilot.pause()
        drawn = screen.shown
        some = state.pods()[0]
        state.apply("pods", "pods", "MODIFIED", some.model_copy(update={"restarts": some.restarts + 1}))
        app._tick()
        await pilot.pause(0.3)
        assert screen.shown == drawn
        gpus = state.gpus()
        state.set_gpus([g.model_copy(update={"util": 99.0}) if i == 0 else g for i, g in enumerate(gpus)], "dcgm")
        app._tick()
        await settle(pilot, lambda: screen.shown > drawn)
        assert any(r.g.util == 99.0 for r in screen.table.rows)


def test_a_node_name_from_an_exporter_label_is_sanitised_on_the_heat_map():
    """The map's node names come from the exporter's Hostname label: escape sequences and control characters do
    not reach the terminal."""
    from prophecis_tui.domain import GpuSample
    from widgets.gpu_heatmap import cells
    hostile = GpuSample(node="gpu-1\x1b]0;pwned\x07\x1b[2J\nx", gpu=0, util=50.0, fb_used_mib=1.0, fb_free_mib=1.0)
    ((name, index, _),) = cells([hostile])
    assert index == 0 and name.startswith("gpu-1")
    assert not any(ord(c) < 32 or c == "\x7f" for c in name), repr(name)

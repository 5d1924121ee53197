"""'auto' on a cluster, without the demo's shortcut: the console finds the GPU operator's dcgm-exporter Service
in the cluster and reads each of its exporter pods through the API server's pods proxy (backends.discovery), as
from a jump host."""

from __future__ import annotations

from datetime import datetime, timezone

from prophecis_tui.app import ProphecisApp
from prophecis_tui.cli import metrics_backend
from prophecis_tui.config import MetricsSettings
from prophecis_tui.feeds import MetricsPoller
from screens.gpu import GpuScreen
from widgets.resource_table import ResourceTable

from .conftest import wait_until
from .test_console import settle

POD_PROXY = "/api/v1/namespaces/gpu-operator/pods/{pod}:9400/proxy/metrics"


async def test_auto_reads_the_exporter_found_through_the_proxy(console):
    console.metrics = None  # the session is built here, as cli.connect builds it, with no demo directory
    s = console.session("sim-viewer", read_only=True)
    source, s.metrics_note = metrics_backend(MetricsSettings(), None, s.backend)
    exporters = console.thread.call(lambda: sorted((name, p.node) for (ns, name), p in console.sim.engine.pods.items()
                                                   if ns == "gpu-operator"))
    assert (source.name, s.metrics_note, source.note) == ("dcgm", "", "")
    # one URL per exporter pod (one per GPU node), not the Service, which answers for one node per request
    assert sorted(source.urls) == sorted(console.sim.url + POD_PROXY.format(pod=pod) for pod, _ in exporters)
    s.metrics = MetricsPoller(source, s.state, interval=0.2)
    s.metrics.start()
    wait_until(lambda: s.state.gpus(), what="GPU numbers through the proxy")
    gpus = console.thread.call(lambda: sum(n.gpus for n in console.sim.engine.nodes.values()))
    clock = console.sim.clock
    app = ProphecisApp(s, contexts=["sim-admin", "sim-group-admin", "sim-viewer"], read_only=True,
                       clock=lambda: datetime.fromtimestamp(clock.now(), timezone.utc))
    async with app.run_test(size=(200, 50)) as pilot:
        app.run_command("gpu")
        await settle(pilot, lambda: isinstance(app.screen, GpuScreen) and app.screen.table.row_count == gpus)
        assert app.screen.query_one(ResourceTable).row_count == gpus
        assert {r.g.node for r in app.screen.table.rows} == {node for _, node in exporters}  # every node
        assert any(r.g.pod for r in app.screen.table.rows)  # who holds them, from the exporter's pod labels
        assert "from dcgm" in str(app.screen.query_one("#summary").render())
        header = str(app.screen.query_one("StatusHeader").render())
        assert "metrics live" in header


async def test_a_service_read_instead_of_its_pods_says_so_on_the_gpu_screen(console):
    """A user who may not get pods/proxy: the exporter Service is read instead, one node per poll; the GPU screen's
    summary says so, in the user's words, rather than showing a random node's GPUs as if they were all."""
    import dataclasses

    ident = console.sim.identity("group-admin")

    def drop() -> None:
        ident.rules[:] = [dataclasses.replace(r, resources=r.resources - {"pods/proxy"})
                          if r.namespaces and "gpu-operator" in r.namespaces else r for r in ident.rules]
    console.thread.call(drop)
    console.metrics = None
    s = console.session("sim-group-admin")
    source, s.metrics_note = metrics_backend(MetricsSettings(), None, s.backend)
    s.metrics = MetricsPoller(source, s.state, interval=0.2)
    s.metrics.start()
    wait_until(lambda: s.state.gpus() and source.note, what="the Service read instead of the pods")
    clock = console.sim.clock
    app = ProphecisApp(s, contexts=["sim-admin", "sim-group-admin", "sim-viewer"],
                       clock=lambda: datetime.fromtimestamp(clock.now(), timezone.utc))
    async with app.run_test(size=(200, 50)) as pilot:
        app.run_command("gpu")
        await settle(pilot, lambda: isinstance(app.screen, GpuScreen) and app.screen.table.row_count)
        await settle(pilot, lambda: "one node per scrape" in str(app.screen.query_one("#summary").render()))
        assert "pods proxy is forbidden" in str(app.screen.query_one("#summary").render())

"""Which GPU metrics source a context gets from its [metrics] settings (the CLI's choice)."""

from __future__ import annotations

from prophecis_tui.cli import metrics_backend
from prophecis_tui.config import MetricsSettings


def test_each_configured_source_and_none():
    src, note = metrics_backend(MetricsSettings(source="prometheus", prometheus_url="http://prom:9090"))
    assert (src.name, note) == ("prometheus", "")
    src, _ = metrics_backend(MetricsSettings(source="dcgm", dcgm_url="http://dcgm:9400/metrics"))
    assert src.name == "dcgm" and src.urls == ["http://dcgm:9400/metrics"]
    assert metrics_backend(MetricsSettings(source="nvml"))[0].name == "nvml"
    src, note = metrics_backend(MetricsSettings(source="none"))
    assert src is None and "metrics.source = \"none\"" in note and "prometheus_url" in note


def test_auto_without_a_local_gpu_says_how_to_configure_one():
    """This machine (like CI) has no NVIDIA driver: no source, and a note that says what to set."""
    src, note = metrics_backend(MetricsSettings())
    if src is not None:  # a machine with a driver reads its own GPUs
        assert src.name == "nvml"
        return
    assert note.startswith("no GPU metrics source: no local GPU")
    assert "dcgm_url" in note and "prometheus_url" in note


def test_the_demo_reads_its_simulated_exporter(small, tmp_path):
    d = tmp_path / "demo"
    small.thread.write_config(d)
    src, note = metrics_backend(MetricsSettings(), str(d))
    assert src.name == "dcgm" and note == ""
    assert len(src.current()) == small.call(lambda: sum(n.gpus for n in small.sim.engine.nodes.values()))

"""The Prometheus metrics backend against a real Prometheus (Debian's package), scraping an exporter at 1 s.

The target is declared with its own ``namespace``/``pod`` labels, as a ServiceMonitor with honorLabels: false
does, so the exporter's pod labels arrive as ``exported_namespace``/``exported_pod``: the backend must read
those. Where Prometheus is not installed the tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from typing import Iterator

import pytest

from backends.dcgm import DcgmScrape
from backends.prometheus import PrometheusMetrics
from prophecis_tui.domain import Unavailable
from tests.conftest import wait_until

from .test_dcgm_scrape import MODERN, Exporter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    e = Exporter()
    yield e
    e.close()


@pytest.fixture(scope="module")
def prometheus(exporter, tmp_path_factory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is not installed: `make test` installs Debian's package")
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus; `make test` does it as root)")
    d = tmp_path_factory.mktemp("prometheus")
    target = exporter.url.split("//", 1)[1].split("/", 1)[0]
    (d / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: dcgm
    static_configs:
      - targets: ["{target}"]
        labels: {{namespace: gpu-operator, pod: dcgm-exporter-x}}
""")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([binary, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready() -> bool:
        try:
            return urllib.request.urlopen(f"{url}/-/ready", timeout=1).status == 200
        except OSError:
            return False
    try:
        wait_until(ready, timeout=30, what="prometheus ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_prometheus_gives_the_numbers_the_exporter_gives(prometheus, exporter):
    exporter.text = MODERN
    direct = {g.key: g for g in DcgmScrape(exporter.url).current()}
    src = PrometheusMetrics(prometheus)
    wait_until(lambda: len(src.current()) == len(direct), timeout=30, what="the first scrapes")
    for g in src.current():
        d = direct[g.key]
        assert (g.util, g.fb_used_mib, g.fb_free_mib, g.temp_c, g.power_w, g.uuid, g.model) == (
            d.util, d.fb_used_mib, d.fb_free_mib, d.temp_c, d.power_w, d.uuid, d.model)
        assert (g.namespace, g.pod, g.container) == (d.namespace, d.pod, d.container)  # from exported_*
    busy, free = (next(g for g in src.current() if g.key == k) for k in ("gpu-1/0", "gpu-1/1"))
    assert (busy.namespace, busy.pod, busy.container) == ("ns-a", "mnist-worker-0", "trainer")
    assert (free.namespace, free.pod) == ("", "")  # not the exporter's own pod, which Prometheus put there


def test_history_has_points(prometheus, exporter):
    exporter.text = MODERN
    src = PrometheusMetrics(prometheus)
    wait_until(lambda: len(src.history("gpu-1/0", 60)) >= 3, timeout=30, what="three seconds of history")
    points = src.history("gpu-1/0", 60)
    assert all(u == 87.0 and m == pytest.approx(75.0) for _, u, m in points[-2:])
    assert src.history("no-such-node/0", 60) == []


def test_an_unreachable_or_erroring_prometheus_is_unavailable(exporter):
    t = time.monotonic()
    with pytest.raises(Unavailable, match="Prometheus http://127.0.0.1:9"):
        PrometheusMetrics("http://127.0.0.1:9", timeout=2).current()
    exporter.status = 503  # any HTTP server answering 503 stands for an overloaded Prometheus
    try:
        with pytest.raises(Unavailable, match="Prometheus"):
            PrometheusMetrics(exporter.url.rsplit("/", 1)[0], timeout=2).current()
    finally:
        exporter.status = 200
    assert time.monotonic() - t < 10  # not the client's default 6 s backoff per call

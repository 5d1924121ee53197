"""Real Prometheus and Alertmanager for the tests (DESIGN section 5): Debian's `prometheus` and
`prometheus-alertmanager`, started on free loopback ports with their data in a temp dir, and stopped after.

Where a binary is missing its tests skip, except under CI=true, where they fail (`make test` installs both as
root on Debian).

- ``start_prometheus(dir, scrape_configs, rule_groups=..., alertmanagers=...)``: 1 s scrapes and evaluations.
- ``start_alertmanager(dir, config)``: no clustering (``--cluster.listen-address=``), ``AM_CONFIG`` by default.
- ``dcgm_job(cluster)``: a scrape job for every GPU node of the simulated DCGM exporter, over HTTPS verified
  with the simulator's CA, labelled as a kube-prometheus ServiceMonitor does (the target's namespace/pod are the
  exporter's, so the workload's arrive as ``exported_namespace``/``exported_pod``).

Module fixtures for an alerting pipeline (import them into a test module: ``from tests.backends.real_services
import alert_cluster, alertmanager_service, alerting_prometheus``):
- ``alert_cluster``: a frozen `tiny` simulated cluster of the module's own;
- ``alertmanager_service``: a real Alertmanager (``Service``; ``.url``) with ``AM_CONFIG``;
- ``alerting_prometheus``: a real Prometheus scraping ``alert_cluster``'s DCGM exporter, evaluating ``GPU_RULES``
  every second and sending to ``alertmanager_service``. Every simulated GPU fires ``GpuTemperature`` (warning);
  each GPU a pod holds fires ``GpuHeld`` too (severity ``page``: critical), which inhibits that GPU's
  ``GpuTemperature`` (``AM_CONFIG``'s inhibit rule, equal Hostname and gpu).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Cluster, _cluster, wait_until

EXPORTER_NS = "gpu-operator"

# Alert rules on the DCGM exporter's series, as a GPU team writes them (annotations with templates)
GPU_RULES = [{"name": "gpu", "interval": "1s", "rules": [
    {"alert": "GpuTemperature", "expr": "DCGM_FI_DEV_GPU_TEMP > 0", "for": "0s",
     "labels": {"severity": "warning"},
     "annotations": {"summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is at {{ $value }}C",
                     "description": "The DCGM exporter reads {{ $value }}C.",
                     "runbook_url": "https://runbooks.example/gpu-temperature"}},
    {"alert": "GpuHeld", "expr": 'DCGM_FI_DEV_GPU_UTIL{exported_pod!=""} >= 0', "for": "0s",
     "labels": {"severity": "page"},
     "annotations": {"summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is held by "
                                "{{ $labels.exported_namespace }}/{{ $labels.exported_pod }}",
                     "runbook": "https://runbooks.example/gpu-held"}},
]}]

# group_wait etc. do not matter to GET /api/v2/alerts (an alert shows as soon as it is received)
AM_CONFIG = {
    "route": {"receiver": "null", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s",
              "repeat_interval": "1h"},
    "receivers": [{"name": "null"}],
    "inhibit_rules": [{"source_matchers": ['alertname="GpuHeld"'], "target_matchers": ['alertname="GpuTemperature"'],
                       "equal": ["Hostname", "gpu"]}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str, package: str) -> str:
    """The service's binary, else skip (fail under CI=true)."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed: `make test` installs Debian's {package}")
        pytest.skip(f"{name} is not installed (Debian: apt-get install {package}; `make test` does it as root)")
    return path


@dataclass
class Service:
    """A started server: ``url`` (http://127.0.0.1:port), its process, its folder (config, data, log)."""

    url: str
    proc: subprocess.Popen
    dir: Path
    name: str = "service"

    def log(self) -> str:
        try:
            return (self.dir / f"{self.name}.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


Prometheus = Service  # what tests/backends/test_prometheus.py calls it


def _spawn(name: str, argv: list[str], d: Path, port: int, ready: str) -> Service:
    """Start ``argv`` (its output in ``d/<name>.log``) and wait until ``ready`` answers 200."""
    url = f"http://127.0.0.1:{port}"
    with open(d / f"{name}.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    svc = Service(url, proc, d, name)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited: {svc.log()}")
        try:
            return urllib.request.urlopen(url + ready, timeout=1).status == 200
        except OSError:
            return False
    try:
        wait_until(up, timeout=30, what=f"{name} ready")
    except BaseException:
        svc.stop()
        raise
    return svc


def start_prometheus(d: Path, scrape_configs: list[dict], *, rule_groups: list[dict] | None = None,
                     alertmanagers: list[str] = ()) -> Service:
    """Prometheus with ``scrape_configs`` every second, ``rule_groups`` evaluated every second, alerts sent to
    ``alertmanagers`` (their URLs); data and log in ``d``; ready to answer."""
    exe = binary("prometheus", "prometheus")
    d.mkdir(parents=True, exist_ok=True)
    config: dict = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": scrape_configs}
    if rule_groups:
        (d / "rules.yml").write_text(json.dumps({"groups": rule_groups}, indent=1))  # JSON is YAML: no quoting
        config["rule_files"] = [str(d / "rules.yml")]
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"api_version": "v2", "static_configs": [
            {"targets": [u.split("//", 1)[-1].rstrip("/") for u in alertmanagers]}]}]}
    (d / "prometheus.yml").write_text(json.dumps(config, indent=1))
    port = free_port()
    return _spawn("prometheus", [exe, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], d, port, "/-/ready")


def start_alertmanager(d: Path, config: dict | None = None) -> Service:
    """Alertmanager alone (no cluster), ``config`` (default ``AM_CONFIG``), data and log in ``d``; ready."""
    exe = binary("prometheus-alertmanager", "prometheus-alertmanager")
    d.mkdir(parents=True, exist_ok=True)
    (d / "alertmanager.yml").write_text(json.dumps(AM_CONFIG if config is None else config, indent=1))
    port = free_port()
    return _spawn("alertmanager", [exe, f"--config.file={d / 'alertmanager.yml'}", f"--storage.path={d / 'data'}",
                                   f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                                   "--log.level=warn"], d, port, "/-/ready")


def sim_endpoint(cluster: Cluster) -> tuple[str, str]:
    """The simulator's host:port and the CA file that verifies it (``ca.crt`` beside the kubeconfig)."""
    ca = cluster.kubeconfig.parent / "ca.crt"
    assert ca.exists()
    return cluster.sim.url.split("//", 1)[1], str(ca)


def dcgm_job(cluster: Cluster) -> dict:
    host, ca = sim_endpoint(cluster)
    nodes = cluster.call(lambda: sorted(n.name for n in cluster.sim.engine.nodes.values() if n.gpus))
    return {"job_name": "dcgm-exporter", "scheme": "https", "tls_config": {"ca_file": ca}, "static_configs": [
        {"targets": [host], "labels": {"namespace": EXPORTER_NS, "pod": f"dcgm-exporter-{n}",
                                       "__metrics_path__": f"/dcgm/{n}/metrics"}} for n in nodes]}


# ------------------------------------------------------------------------------------------ module fixtures
@pytest.fixture(scope="module")
def alert_cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A frozen `tiny` cluster for the module: its GPU numbers (and so the alerts) do not move."""
    yield from _cluster(tmp_path_factory.mktemp("alert-sim"), "tiny")


@pytest.fixture(scope="module")
def alertmanager_service(tmp_path_factory) -> Iterator[Service]:
    am = start_alertmanager(tmp_path_factory.mktemp("alertmanager"))
    try:
        yield am
    finally:
        am.stop()


@pytest.fixture(scope="module")
def alerting_prometheus(alert_cluster, alertmanager_service, tmp_path_factory) -> Iterator[Service]:
    prom = start_prometheus(tmp_path_factory.mktemp("prometheus-rules"), [dcgm_job(alert_cluster)],
                            rule_groups=GPU_RULES, alertmanagers=[alertmanager_service.url])
    try:
        yield prom
    finally:
        prom.stop()

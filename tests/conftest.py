"""Shared test set-up: SVG snapshots in the top-level snapshots/ folder; the simulated cluster fixtures
(`small`, shared and frozen; `tiny`, fresh per test) that the simulator, backend and feed tests use."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import pytest_textual_snapshot as pts
from kubernetes import client, config

from prophecis_tui.simulator.clock import parse_rfc3339
from prophecis_tui.simulator.testing import SimThread

TESTS = Path(__file__).resolve().parent
SNAPSHOTS = TESTS.parent / "snapshots"

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


class TopLevelSVG(pts.SVGImageExtension):
    """snapshots/<test path without .py>/<test name>.svg, reviewed like code."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        rel = Path(test_location.filepath).resolve().relative_to(TESTS).with_suffix("")
        return str(SNAPSHOTS / rel)


pts.SVGImageExtension = TopLevelSVG


def poll(cond: Callable[[], object], timeout: float = 10.0, pause: float = 0.02) -> bool:
    """Wait (bounded) for a condition another thread makes true; True if it held in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(pause)
    return bool(cond())


def wait_until(cond: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    if not poll(cond, timeout):
        raise AssertionError(f"{what} not met within {timeout}s")


START = parse_rfc3339("2026-11-29T10:00:00Z")
CONTEXTS = {"admin": "sim-admin", "group-admin": "sim-group-admin", "viewer": "sim-viewer"}


class Cluster:
    """A running simulator plus its kubeconfig; ``api(role)`` gives an official-client ApiClient."""

    def __init__(self, thread: SimThread, kubeconfig: Path) -> None:
        self.thread = thread
        self.sim = thread.sim
        self.kubeconfig = kubeconfig
        self._clients: dict[str, client.ApiClient] = {}

    def api(self, role: str = "admin") -> client.ApiClient:
        if role not in self._clients:
            self._clients[role] = config.new_client_from_config(config_file=str(self.kubeconfig),
                                                                context=CONTEXTS[role])
        return self._clients[role]

    def core(self, role: str = "admin") -> client.CoreV1Api:
        return client.CoreV1Api(self.api(role))

    def custom(self, role: str = "admin") -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api(role))

    def batch(self, role: str = "admin") -> client.BatchV1Api:
        return client.BatchV1Api(self.api(role))

    def advance(self, seconds: float) -> None:
        self.thread.advance(seconds)

    def call(self, fn, *args):
        return self.thread.call(fn, *args)

    def close(self) -> None:
        for c in self._clients.values():
            c.close()


def _cluster(tmp: Path, scale: str) -> Iterator[Cluster]:
    with SimThread(scale=scale, seed=7, speed=0.0, start_time=START) as t:
        path = t.write_config(tmp)
        c = Cluster(t, path)
        try:
            yield c
        finally:
            c.close()


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Iterator[Cluster]:
    """A shared, frozen `small` cluster. Tests that use it must not change it."""
    yield from _cluster(tmp_path_factory.mktemp("small"), "small")


@pytest.fixture
def tiny(tmp_path) -> Iterator[Cluster]:
    """A fresh, frozen `tiny` cluster per test: change it as you like."""
    yield from _cluster(tmp_path, "tiny")


# The longest files are handed out first. xdist's --dist loadfile gives the workers whole files, by default the
# files with the most tests first, which sent the wall's soak (one test, one to two minutes of a busy simulated
# day) out last, beside the UI tests, running on after everything else had finished. The Makefile turns that order
# off (--no-loadscope-reorder) and this hook makes it: the files named here, then the others by their number of
# tests, as xdist would.
FIRST = ("test_wall_soak.py", "test_world_bounded.py")


def pytest_collection_modifyitems(items: list) -> None:
    rank = {name: i for i, name in enumerate(FIRST)}
    per_file: dict = {}
    for item in items:
        per_file[item.path] = per_file.get(item.path, 0) + 1
    items.sort(key=lambda item: (rank.get(item.path.name, len(FIRST)), -per_file[item.path]))  # stable

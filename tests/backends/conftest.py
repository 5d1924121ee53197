"""Fixtures for the backend adapters: the simulated cluster on loopback, and backends built from
the kubeconfig it writes (the same path a user's kubeconfig takes)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from backends.kubernetes import Kubernetes
from prophecis_tui.simulator.testing import SimThread
from tests.simulator.conftest import CONTEXTS, START, Cluster


def _cluster(tmp: Path, scale: str) -> Iterator[Cluster]:
    with SimThread(scale=scale, seed=7, speed=0.0, start_time=START) as t:
        c = Cluster(t, t.write_config(tmp))
        try:
            yield c
        finally:
            c.close()


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Iterator[Cluster]:
    """A shared, frozen `small` cluster. Tests that use it must not change it."""
    yield from _cluster(tmp_path_factory.mktemp("backend-small"), "small")


@pytest.fixture
def tiny(tmp_path) -> Iterator[Cluster]:
    """A fresh, frozen `tiny` cluster per test: change it as you like."""
    yield from _cluster(tmp_path, "tiny")


BackendFactory = Callable[..., Kubernetes]


def _factory(cluster: Cluster) -> Iterator[BackendFactory]:
    made: list[Kubernetes] = []

    def make(role: str = "admin", **kw) -> Kubernetes:
        k = Kubernetes.from_kubeconfig(str(cluster.kubeconfig), CONTEXTS[role], **kw)
        made.append(k)
        return k
    yield make
    for k in made:
        k.close()


@pytest.fixture
def small_backend(small) -> Iterator[BackendFactory]:
    """``small_backend(role)`` -> a Kubernetes backend on the shared small cluster (closed after the test)."""
    yield from _factory(small)


@pytest.fixture
def tiny_backend(tiny) -> Iterator[BackendFactory]:
    yield from _factory(tiny)

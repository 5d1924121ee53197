"""Fixtures for the backend adapters: backends built from the kubeconfig the simulated cluster
(`small`/`tiny` in tests/conftest.py) writes, the same path a user's kubeconfig takes."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from backends.kubernetes import Kubernetes
from tests.conftest import CONTEXTS, Cluster


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

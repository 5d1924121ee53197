"""The page worker (backends/page_worker.py): list pages parsed in a child process, against the simulator.

What a user would notice if it went wrong: a list with missing, duplicated or different objects; a console
that dies or hangs when the child dies; a child left running after the console exits."""

from __future__ import annotations

import math
import os
import signal
import time

import pytest

import backends.kubernetes as kmod
from backends.page_worker import PageError, PageWorker, WorkerGone


def _ready(worker: PageWorker, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not worker.ready:
        assert worker.usable, "the page worker gave up while starting"
        assert time.monotonic() < deadline, "the page worker did not start"
        time.sleep(0.02)


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie until reaped: reap it if it is ours
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.02)
    return False


def _pages(k, resource: str, size: int) -> list[bytes]:
    """The raw pages of a list, as the backend fetches them."""
    kind, version = k._kind(resource)
    path = k._path(kind, version, None)
    pages, cont = [], ""
    while True:
        raw = k._read(k._request("GET", path, [("limit", str(size))] + ([("continue", cont)] if cont else [])))
        pages.append(raw)
        cont = (k._decode(raw, path).get("metadata") or {}).get("continue") or ""
        if not cont:
            return pages


def test_a_page_parsed_in_the_child_equals_the_page_parsed_here(small_backend) -> None:
    k = small_backend(page_worker=False)
    worker = PageWorker()
    try:
        worker.start()
        _ready(worker)
        for resource in ("pods", "nodes", "notebooks", "tfjobs", "seldondeployments", "events"):
            kind, _ = k._kind(resource)
            for raw in _pages(k, resource, 50):
                job = worker.submit(resource, raw)
                doc = k._decode(raw, "/")
                md = doc["metadata"]
                assert job.meta() == (md.get("resourceVersion", ""), md.get("continue", ""))
                assert job.items() == [kind.parse(o) for o in doc["items"]], resource
    finally:
        worker.close()


def test_a_long_list_goes_through_the_child_and_loses_nothing(small_backend, monkeypatch) -> None:
    monkeypatch.setattr(kmod, "PAGE_SIZE", 20)
    here = small_backend(page_worker=False).list("pods").items
    k = small_backend()
    assert k._worker.pid is None
    k._worker.start()
    _ready(k._worker)
    pages: list[int] = []
    got = k.list("pods", on_page=lambda items: pages.append(len(items)))
    assert got.items == here  # the same objects, in the same order
    assert pages == [20] * (len(here) // 20) + ([len(here) % 20] if len(here) % 20 else [])
    assert k._worker.ready


def test_one_page_never_starts_the_child(small_backend) -> None:
    k = small_backend()
    assert len(k.list("pods").items) < kmod.PAGE_SIZE  # small: one page
    assert k._worker.pid is None


def test_a_second_page_starts_the_child_and_closing_the_backend_ends_it(small_backend, monkeypatch) -> None:
    monkeypatch.setattr(kmod, "PAGE_SIZE", 100)
    k = small_backend()
    k.list("pods")
    pid = k._worker.pid
    assert pid is not None
    _ready(k._worker)
    k.close()
    assert _gone(pid)


def test_the_child_dying_mid_list_costs_nothing_but_time(small_backend, monkeypatch) -> None:
    monkeypatch.setattr(kmod, "PAGE_SIZE", 10)
    here = small_backend(page_worker=False).list("pods").items
    k = small_backend()
    k._worker.start()
    _ready(k._worker)
    pid = k._worker.pid
    seen = 0

    def page(items) -> None:
        nonlocal seen
        seen += 1
        if seen == 3:
            os.kill(pid, signal.SIGKILL)

    got = k.list("pods", on_page=page)
    assert got.items == here
    assert seen == math.ceil(len(here) / 10)
    assert not k._worker.usable  # and it stays off: the next list parses here
    assert k.list("pods").items == here


def test_the_child_ignores_ctrl_c(small_backend, monkeypatch) -> None:
    """Ctrl-C in the terminal goes to the whole foreground process group; the console decides what it means."""
    worker = PageWorker()
    try:
        worker.start()
        _ready(worker)
        os.kill(worker.pid, signal.SIGINT)
        job = worker.submit("namespaces", b'{"metadata": {"resourceVersion": "7"}, "items": []}')
        assert job.meta() == ("7", "")
        assert job.items() == []
    finally:
        worker.close()


@pytest.mark.parametrize("raw", [b"<html>proxy error</html>", b"[1, 2]", b"\xff\xfe"])
def test_a_page_that_is_not_a_json_object_is_an_error_not_a_crash(raw: bytes) -> None:
    worker = PageWorker()
    try:
        worker.start()
        _ready(worker)
        job = worker.submit("pods", raw)
        with pytest.raises(PageError) as err:
            job.meta()
        assert err.value.kind == "not-json"
        # and the child still answers
        ok = worker.submit("namespaces", b'{"metadata": {}, "items": [{"metadata": {"name": "a", "uid": "u1"}}]}')
        assert [n.name for n in ok.items()] == ["a"]
    finally:
        worker.close()


def test_a_closed_worker_refuses_new_pages() -> None:
    worker = PageWorker()
    worker.close()
    with pytest.raises(WorkerGone):
        worker.submit("pods", b"{}")

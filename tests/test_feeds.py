"""The live data path against a simulated cluster with injected faults: the state keeps up and recovers."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest

from backends.kubernetes import Kubernetes
from tests.conftest import START, wait_until
from prophecis_tui.domain import Health
from prophecis_tui.feeds import Feeds, ListGate
from prophecis_tui.simulator.engine import PODS
from prophecis_tui.simulator.notebooks import NOTEBOOKS
from prophecis_tui.simulator.testing import SimThread
from prophecis_tui.simulator.world import notebook_body
from prophecis_tui.state import State




class Live:
    def __init__(self, thread: SimThread, kubeconfig) -> None:
        self.thread, self.sim = thread, thread.sim
        self.backend = Kubernetes.from_kubeconfig(str(kubeconfig), "sim-admin")
        self.state = State()
        self.feeds = Feeds(self.backend, self.state, backoff=(0.1, 0.5))

    def start(self) -> "Live":
        self.feeds.start()
        wait_until(lambda: self.feeds.planned.is_set() and all(f.live for f in self.feeds.feeds), what="feeds live")
        return self

    def sim_pods(self) -> set[str]:
        return self.thread.call(lambda: {p["metadata"]["uid"] for p in self.sim.engine.store.objects(PODS)})

    def state_pods(self) -> set[str]:
        return {p.uid for p in self.state.pods()}

    def matches(self) -> bool:
        return self.state_pods() == self.sim_pods()

    def health(self) -> Health:
        return self.state.source_health("kubernetes").state

    def new_notebook(self, name: str) -> None:
        ns = self.sim.world.tenants[0].name
        body = notebook_body(ns, name, "wangwei", gpu=0, cpu=1, mem_gi=2)
        self.thread.call(self.sim.engine.store.create, NOTEBOOKS, body)
        self.thread.advance(30)  # the controller creates the pod and it starts


@pytest.fixture
def live(tmp_path) -> Iterator[Live]:
    with SimThread(scale="tiny", seed=3, speed=0.0, start_time=START) as t:
        lv = Live(t, t.write_config(tmp_path))
        try:
            yield lv.start()
        finally:
            lv.feeds.stop()
            lv.backend.close()


def test_the_state_follows_the_cluster(live):
    assert live.matches() and live.health() == Health.LIVE
    live.new_notebook("fresh-eda")
    wait_until(lambda: any(n.name == "fresh-eda" for n in live.state.notebooks()) and live.matches(),
               what="new notebook and its pod")


def test_dropped_watch_streams_are_resumed_without_losing_changes(live):
    lists = sum(f.lists for f in live.feeds.feeds)
    live.thread.call(live.sim.engine.store.close_watchers)
    live.new_notebook("after-drop")
    wait_until(lambda: any(n.name == "after-drop" for n in live.state.notebooks()) and live.matches(),
               what="change seen after the drop")
    assert sum(f.lists for f in live.feeds.feeds) == lists  # resumed from the resourceVersion, no relist
    assert live.health() == Health.LIVE


def test_410_expired_makes_the_feeds_list_again(live):
    lists = sum(f.lists for f in live.feeds.feeds)
    live.thread.call(live.sim.faults.update, {"expire_watches": len(live.feeds.feeds)})
    live.thread.call(live.sim.engine.store.close_watchers)  # each resumed watch is answered ERROR 410
    live.new_notebook("after-410")
    wait_until(lambda: sum(f.lists for f in live.feeds.feeds) > lists, what="a relist")
    wait_until(lambda: any(n.name == "after-410" for n in live.state.notebooks()) and live.matches(),
               what="the state matching the simulator")


def test_api_down_marks_stale_keeps_data_and_recovers_to_the_same_data(live):
    before = live.state.count("pods")
    live.thread.run(lambda: live.sim.go_down(2.0))
    wait_until(lambda: live.health() == Health.STALE, what="stale")
    assert live.state.count("pods") == before  # nothing blanked
    stale = live.state.source_health("kubernetes")
    assert stale.since is not None and "cannot reach" in stale.reason
    live.thread.advance(120)  # the world moves on while the console cannot see it
    wait_until(lambda: live.health() == Health.LIVE, timeout=40, what="live again")
    wait_until(live.matches, what="the state matching the simulator after the outage")


def test_a_first_list_fills_the_state_page_by_page(tmp_path, monkeypatch):
    """10,000 pods: the first screenful is there with the first page, not after the last."""
    import backends.kubernetes as kmod
    monkeypatch.setattr(kmod, "PAGE_SIZE", 5)
    seen: list[tuple[int, bool]] = []  # (pods in the state, pods loaded?) at each page

    class Watching(State):
        def add_page(self, resource, kind, items):
            super().add_page(resource, kind, items)
            if resource == "pods":
                seen.append((self.count("pods"), self.has_data("pods")))

    with SimThread(scale="tiny", seed=3, speed=0.0, start_time=START) as t:
        lv = Live(t, t.write_config(tmp_path))
        lv.state = Watching()
        lv.feeds = Feeds(lv.backend, lv.state, backoff=(0.1, 0.5))
        try:
            lv.start()
            total = len(lv.sim_pods())
            assert [n for n, _ in seen] == list(range(5, total, 5)) + [total]
            assert not any(loaded for _, loaded in seen)  # "listing" until the list is complete
            assert lv.state.has_data("pods") and lv.matches()
        finally:
            lv.feeds.stop()
            lv.backend.close()


def test_the_gate_lists_what_the_screen_needs_first_and_alone():
    """The preferred kind jumps the queue, and while it lists no other first list starts (one may still be
    finishing from before)."""
    gate = ListGate(2)
    stop = threading.Event()
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    gate.prefer({"pods"})
    hold = threading.Event()

    def first_list(i: int, kind: str) -> None:
        with gate.turn(i, kind, stop):
            with lock:
                events.append(("start", kind))
            hold.wait(5)
            with lock:
                events.append(("end", kind))

    busy = [threading.Thread(target=first_list, args=(0, "namespaces")),
            threading.Thread(target=first_list, args=(1, "nodes"))]
    for t in busy:
        t.start()
    wait_until(lambda: len(events) == 2, what="two lists admitted")
    waiting = [threading.Thread(target=first_list, args=(i, kind))
               for i, kind in ((2, "notebooks"), (3, "trainingjobs"), (4, "pods"))]
    for t in waiting:
        t.start()
    wait_until(lambda: len(gate._waiting) == 3, what="three waiting")
    hold.set()
    for t in busy + waiting:
        t.join(5)
    starts = [k for e, k in events if e == "start"]
    assert set(starts[:2]) == {"namespaces", "nodes"} and starts[2] == "pods"  # pods jumped the queue
    assert set(starts[3:]) == {"notebooks", "trainingjobs"}
    during = events[events.index(("start", "pods")):events.index(("end", "pods"))]
    assert not [k for e, k in during if e == "start" and k != "pods"]  # and nothing started beside it


def test_feeds_stopped_while_the_planner_adds_one_stop_without_an_error(live):
    """stop() can come while the planner lists a new feed (a quick quit, a context switch): a feed listed is
    started, and joining one that never started is no error (it raised 'cannot join thread before it is
    started' under a loaded CI)."""
    from prophecis_tui.feeds import ResourceFeed
    never = ResourceFeed(live.backend, live.state, live.feeds.feeds[0].resource, None)
    never.join(0.1)  # not started: nothing to wait for
    with live.feeds._lock:
        live.feeds.feeds.append(never)
    live.feeds.stop(timeout=1.0)  # joins every feed listed, the never-started one too: no error
    assert live.feeds._stop.is_set() and never._thread.ident is None


def test_a_feed_stopped_while_waiting_for_its_turn_ends():
    gate = ListGate(0)  # no slot will ever free
    stop = threading.Event()
    done = threading.Event()

    def wait_turn() -> None:
        with gate.turn(0, "pods", stop):
            pass
        done.set()

    t = threading.Thread(target=wait_turn)
    t.start()
    stop.set()
    t.join(2)
    assert not t.is_alive()


def test_the_metrics_poller_keeps_the_last_numbers_through_an_outage():
    from backends.dcgm import DcgmScrape
    from prophecis_tui.feeds import MetricsPoller
    from tests.backends.test_dcgm_scrape import MODERN, Exporter

    exporter = Exporter()
    state = State()
    poller = MetricsPoller(DcgmScrape(exporter.url, timeout=1.0), state, interval=0.05)
    health = lambda: state.source_health("metrics")  # noqa: E731
    try:
        poller.start()
        wait_until(lambda: len(state.gpus()) == 2 and health().state == Health.LIVE, what="GPUs in the state")
        assert state.gpu_source == "dcgm" and "gpus" in state.changed_kinds()
        exporter.status = 503
        wait_until(lambda: health().state == Health.STALE, what="stale")
        assert "HTTP 503" in health().reason and len(state.gpus()) == 2  # the last numbers stay
        exporter.status, exporter.text = 200, MODERN.replace("} 87", "} 12")
        wait_until(lambda: health().state == Health.LIVE and state.gpus()[0].util == 12, what="live again")
    finally:
        poller.stop()
        poller.join(2)
        exporter.close()


def test_a_source_that_never_answers_is_failing_not_stale():
    from backends.dcgm import DcgmScrape
    from prophecis_tui.feeds import MetricsPoller

    state = State()
    poller = MetricsPoller(DcgmScrape("http://127.0.0.1:9/metrics", timeout=0.5), state, interval=0.05)
    try:
        poller.start()
        wait_until(lambda: state.source_health("metrics").state == Health.FAILING, what="failing")
        assert state.gpus() == [] and "cannot scrape" in state.source_health("metrics").reason
    finally:
        poller.stop()
        poller.join(2)


def test_the_metrics_poller_keeps_each_business_systems_history_once_there_is_a_cmdb():
    """The chart of a business system on :gpu, from a source that keeps no history of groups: the poller's own
    mean of the GPUs the system's pods hold, from the first poll after the CMDB reached the state."""
    from backends.dcgm import DcgmScrape
    from prophecis_tui.domain import BusinessSystem
    from prophecis_tui.feeds import MetricsPoller
    from tests.backends.test_dcgm_scrape import MODERN, Exporter

    exporter = Exporter()
    exporter.text = MODERN
    state = State()
    poller = MetricsPoller(DcgmScrape(exporter.url, timeout=1.0), state, interval=0.05)
    try:
        poller.start()
        wait_until(lambda: len(state.gpus()) == 2, what="GPUs in the state")
        assert poller.history("sys:MNIST", 60) == []  # no CMDB yet
        state.set_business_systems([BusinessSystem(id="MNIST", name="手写识别", namespaces=("ns-a",)),
                                    BusinessSystem(id="POOL", name="GPU 池", nodes=("gpu-1",))])
        wait_until(lambda: len(poller.history("sys:MNIST", 60)) >= 2, what="the system's history")
        assert {u for _, u, _ in poller.history("sys:MNIST", 60)} == {87.0}  # its one held GPU
        assert poller.history("sys:MNIST", 60)[-1][2] == 75.0  # 60000 of 80000 MiB
        wait_until(lambda: poller.history("sys:POOL", 60), what="the pool's history")
        assert poller.history("sys:POOL", 60)[-1][1] == 43.5  # both GPUs of its node, the free one too
    finally:
        poller.stop()
        poller.join(2)
        exporter.close()

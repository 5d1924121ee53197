"""Freshness: stale after two missed refreshes, dead after five, per source; the feeds say when each source last
delivered good data (``State.heard``), and the dead man's banner names the sources silent past its threshold."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from backends.kubernetes import Kubernetes
from prophecis_tui.domain import BackendError, GpuSample
from prophecis_tui.feeds import AlertsPoller, CmdbPoller, Feeds, MetricsPoller
from prophecis_tui.freshness import DEAD, FRESH, STALE, Freshness, banner_text
from prophecis_tui.simulator.notebooks import NOTEBOOKS
from prophecis_tui.simulator.world import notebook_body
from prophecis_tui.state import State
from tests.conftest import wait_until

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ------------------------------------------------------------------------------------------ levels
@pytest.mark.parametrize("silent,level,missed", [
    (0, FRESH, 0), (10, FRESH, 1), (20, FRESH, 2), (20.5, STALE, 2), (49, STALE, 4), (50, STALE, 5),
    (50.5, DEAD, 5), (3600, DEAD, 360)])
def test_stale_after_two_missed_refreshes_dead_after_five(silent, level, missed):
    f = Freshness({"metrics": 10}, started=T0)
    assert f.level("metrics", T0, at(silent)) == (level, missed)


def test_each_source_is_judged_by_its_own_interval():
    f = Freshness({"kubernetes": 60, "metrics": 2, "alerts": 30, "cmdb": 300, "linkis": 15}, started=T0)
    now = at(100)
    levels = {k: f.level(k, T0, now)[0] for k in f.keys}
    assert levels == {"kubernetes": FRESH, "metrics": DEAD, "alerts": STALE, "cmdb": FRESH, "linkis": DEAD}


def test_a_source_never_heard_from_counts_from_the_start():
    f = Freshness({"alerts": 10}, started=T0)
    assert f.level("alerts", None, at(5))[0] == FRESH
    assert f.level("alerts", None, at(25))[0] == STALE
    assert f.level("alerts", None, at(60))[0] == DEAD


def test_the_reader_gives_the_level_and_the_last_time_from_the_state():
    now = {"t": at(0)}
    st = State(clock=lambda: now["t"])
    f = Freshness({"metrics": 1, "cmdb": 100}, started=T0)
    read = f.reader(st.heard_at, st.now)
    st.heard("metrics")
    assert read("metrics") == (FRESH, T0)
    now["t"] = at(3)
    assert read("metrics") == (STALE, T0)
    now["t"] = at(6)
    assert read("metrics") == (DEAD, T0) and read("cmdb") == (FRESH, None)
    assert read("linkis") == (FRESH, None)  # a source this session lacks is never stale


def test_the_dead_man_names_only_sources_dead_past_its_threshold():
    st = State(clock=lambda: T0)
    f = Freshness({"kubernetes": 60, "metrics": 1}, started=T0)
    st.heard("kubernetes", T0)
    st.heard("metrics", T0)
    assert f.dead(st.heard_at, at(6), 200) == []  # metrics dead, but not silent past the threshold yet
    assert f.dead(st.heard_at, at(201), 200) == [("metrics", T0)]  # kubernetes: silent, but not dead (5 x 60 s)
    assert [k for k, _ in f.dead(st.heard_at, at(301), 200)] == ["kubernetes", "metrics"]
    text = banner_text(f.dead(st.heard_at, at(400), 300), at(400), local=lambda t: t)
    assert text is not None and "kubernetes: no data since 10:00 (6 min)" in text and "metrics" in text
    assert banner_text([], at(400)) is None


def test_heard_keeps_the_latest_time():
    st = State(clock=lambda: at(10))
    assert st.heard_at("cmdb") is None
    st.heard("cmdb")
    st.heard("cmdb", at(5))  # an older report (a slow thread) does not move it back
    assert st.heard_at("cmdb") == at(10)
    v = st.version
    st.heard("cmdb", at(20))
    assert st.heard_at("cmdb") == at(20) and st.version == v  # not a change of the data


# ------------------------------------------------------------------------------------------ the feeds report it
def test_watch_events_and_lists_move_kubernetes_heard_at(tiny):
    backend = Kubernetes.from_kubeconfig(str(tiny.kubeconfig), "sim-admin")
    st = State()
    feeds = Feeds(backend, st, backoff=(0.1, 0.5))
    try:
        feeds.start()
        wait_until(lambda: feeds.planned.is_set() and all(f.live for f in feeds.feeds), what="feeds live")
        listed = st.heard_at("kubernetes")
        assert listed is not None and st.heard_at("kubernetes/notebooks") is not None
        wait_until(lambda: st.heard_at("kubernetes") > listed + timedelta(seconds=1), what="time passes")
        before = st.heard_at("kubernetes/notebooks")
        ns = tiny.sim.world.tenants[0].name
        tiny.thread.call(tiny.sim.engine.store.create, NOTEBOOKS, notebook_body(ns, "nb-heard", "wangwei", gpu=0,
                                                                                 cpu=1, mem_gi=2))
        wait_until(lambda: any(n.name == "nb-heard" for n in st.notebooks()), what="the watch event")
        wait_until(lambda: st.heard_at("kubernetes/notebooks") > before, what="heard on the event")
    finally:
        feeds.stop()
        backend.close()


def test_bookmarks_alone_keep_kubernetes_fresh(tiny):
    tiny.sim.api.bookmark_interval = 0.2  # a quiet cluster: only bookmarks come
    backend = Kubernetes.from_kubeconfig(str(tiny.kubeconfig), "sim-admin")
    st = State()
    feeds = Feeds(backend, st, backoff=(0.1, 0.5))
    try:
        feeds.start()
        wait_until(lambda: feeds.planned.is_set() and all(f.live for f in feeds.feeds), what="feeds live")
        quotas = st.heard_at("kubernetes/resourcequotas")
        assert quotas is not None
        v = st.kind_version("quotas")
        wait_until(lambda: st.heard_at("kubernetes/resourcequotas") > quotas, what="a bookmark heard")
        assert st.kind_version("quotas") == v  # nothing changed: only the bookmark spoke
    finally:
        feeds.stop()
        backend.close()


class FlakyMetrics:
    name = "fake"

    def __init__(self) -> None:
        self.fail = False

    def current(self):
        if self.fail:
            raise BackendError("scrape failed")
        return [GpuSample(node="n1", gpu=0, uuid="GPU-1", model="A100", util=50.0)]

    def history(self, key, seconds):
        return []

    def close(self) -> None:
        pass


def test_metrics_polls_move_heard_at_and_a_failing_source_does_not():
    st = State()
    src = FlakyMetrics()
    poller = MetricsPoller(src, st, interval=0.05)
    try:
        poller.start()
        wait_until(lambda: st.heard_at("metrics") is not None, what="the first poll heard")
        src.fail = True
        polls = poller.polls
        wait_until(lambda: poller.polls >= polls + 2, what="failed polls")
        frozen = st.heard_at("metrics")
        wait_until(lambda: poller.polls >= polls + 4, what="more failed polls")
        assert st.heard_at("metrics") == frozen
        src.fail = False
        wait_until(lambda: st.heard_at("metrics") > frozen, what="heard again")
    finally:
        poller.stop()
        poller.join(2)


class FlakyAlertmanager:
    name = "am"

    def __init__(self) -> None:
        self.fail = False

    def alerts(self):
        if self.fail:
            raise BackendError("am: connection refused")
        return []

    def silences(self):
        return []

    def close(self) -> None:
        pass


def test_an_alerts_round_is_heard_only_when_every_alertmanager_answered():
    st = State()
    am = FlakyAlertmanager()
    poller = AlertsPoller(st, None, alertmanagers=[am], interval=60)
    poller.poll()
    first = st.heard_at("alerts")
    assert first is not None
    am.fail = True
    poller.poll()
    assert st.heard_at("alerts") == first and st.source_health("alertmanager").state.value != "live"
    am.fail = False
    poller.poll()
    assert st.heard_at("alerts") >= first and poller.failing == 0


class FlakyCmdb:
    source = "file:test"
    where = "test"

    def __init__(self) -> None:
        self.fail = False

    def fetch(self):
        from prophecis_tui.domain import BusinessSystem
        if self.fail:
            raise BackendError("cmdb down")
        return [BusinessSystem(id="BS1", name="Loans", tier=1)]

    def close(self) -> None:
        pass


def test_a_cmdb_read_is_heard_and_a_failed_one_is_not(tmp_path):
    from prophecis_tui.store import CmdbStore
    st = State()
    client = FlakyCmdb()
    poller = CmdbPoller(client, CmdbStore(tmp_path / "cmdb.db"), st, interval=0.05, retry=(0.05, 0.05),
                        store_every=0.05)
    try:
        poller.start()
        wait_until(lambda: st.heard_at("cmdb") is not None, what="the first read heard")
        client.fail = True
        polls = poller.polls
        wait_until(lambda: poller.polls >= polls + 2, what="failed reads")
        frozen = st.heard_at("cmdb")
        wait_until(lambda: poller.polls >= polls + 4, what="more failed reads")
        assert st.heard_at("cmdb") == frozen
    finally:
        poller.stop()
        poller.join(2)


def test_a_linkis_round_is_heard():
    from prophecis_tui.linkis_tasks import LinkisPoller
    from tests.test_linkis_tasks import FakeLinkis
    st = State()
    gw = FakeLinkis()
    p = LinkisPoller(st, gw)
    p.poll()
    first = st.heard_at("linkis")
    assert first is not None
    gw.fail = BackendError("gateway down")
    p.poll()
    assert st.heard_at("linkis") == first

"""The CMDB poller (feeds.CmdbPoller) and its wiring (app.cmdb_poller): the simulator's CMDB into the store and
the state, the last good CMDB kept through failures and restarts, health live/stale/failing, imports from
another process picked up; the simulator's written config used as is (and by the demo)."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from backends.cmdb import RestCmdb
from prophecis_tui.app import cmdb_poller
from prophecis_tui.config import load_settings
from prophecis_tui.domain import BusinessSystem, Health
from prophecis_tui.feeds import CmdbPoller
from prophecis_tui.simulator.cmdb import FIELDS, PATH
from prophecis_tui.state import State
from prophecis_tui.store import CmdbStore
from tests.backends.test_dcgm_scrape import Exporter
from tests.conftest import wait_until


@pytest.fixture
def store(tmp_path) -> Iterator[CmdbStore]:
    s = CmdbStore(tmp_path / "data" / "cmdb.db")
    yield s
    s.close()


def sim_client(tiny, tmp_path, **kw) -> RestCmdb:
    tiny.thread.write_config(tmp_path / "sim")
    return RestCmdb(tiny.sim.url + PATH, FIELDS, list_key="data", ca_file=str(tmp_path / "sim" / "ca.crt"), **kw)


def run(poller: CmdbPoller) -> CmdbPoller:
    poller.start()
    return poller


def halt(poller: CmdbPoller) -> None:
    poller.stop()
    poller.join(5)
    assert not poller._thread.is_alive()


def health(state: State) -> Health:
    return state.source_health(CmdbPoller.KEY).state


# ------------------------------------------------------------------------------------------ the poller
def test_the_poller_fills_the_store_and_the_state_and_keeps_them_through_a_failure(tiny, tmp_path, store):
    state = State()
    client = sim_client(tiny, tmp_path)
    p = run(CmdbPoller(client, store, state, interval=0.2, retry=(0.05, 0.2)))
    try:
        wait_until(lambda: health(state) == Health.LIVE, what="live")
        got = state.business_systems()
        assert len(got) == 10 and {s.source for s in got} == {client.source}
        assert got[0].tier == 1 and "反欺诈交易评分" in {s.name for s in got}  # the store's order: tier first
        assert store.updated_at(client.source) is not None and "cmdb" in state.changed_kinds()
        version = state.kind_version("cmdb")
        tiny.call(tiny.sim.faults.update, {"cmdb_error": 500})
        wait_until(lambda: health(state) == Health.STALE, what="stale")
        assert "answered HTTP 500" in state.source_health("cmdb").reason
        assert state.business_systems() == got and state.kind_version("cmdb") == version  # kept, unchanged
        tiny.call(tiny.sim.faults.update, {"cmdb_error": 0})
        wait_until(lambda: health(state) == Health.LIVE, what="live again")
        assert state.business_systems() == got
        assert p.polls >= 3
    finally:
        halt(p)


def test_a_source_that_never_answered_is_failing_and_the_state_stays_empty(store):
    state = State()
    p = run(CmdbPoller(RestCmdb("http://127.0.0.1:9/cmdb", timeout=0.5), store, state, interval=5.0,
                       retry=(0.05, 0.1)))
    try:
        wait_until(lambda: health(state) == Health.FAILING, what="failing")
        assert "cannot connect" in state.source_health("cmdb").reason and state.business_systems() == []
    finally:
        halt(p)


def test_the_last_good_cmdb_is_shown_at_once_after_a_restart_and_stays_while_failing(tiny, tmp_path, store):
    first = State()
    p = run(CmdbPoller(sim_client(tiny, tmp_path), store, first, interval=60.0))
    wait_until(lambda: health(first) == Health.LIVE, what="first run live")
    halt(p)
    tiny.call(tiny.sim.faults.update, {"cmdb_error": 503})
    again = State()
    p = CmdbPoller(sim_client(tiny, tmp_path), CmdbStore(store.path), again, interval=60.0, retry=(0.05, 0.1))
    p._publish(force=True)  # what start() does first, before the first read
    assert again.business_systems() == first.business_systems() and len(again.business_systems()) == 10
    run(p)
    try:
        wait_until(lambda: health(again) == Health.STALE, what="stale: the store had this source's systems")
        assert again.business_systems() == first.business_systems()
    finally:
        halt(p)


def test_an_empty_answer_does_not_replace_a_cmdb_that_had_systems(store):
    server = Exporter(json.dumps([{"sys_code": "A1", "sys_name": "信用评分卡"}]), content_type="application/json")
    state = State()
    p = run(CmdbPoller(RestCmdb(server.base + "/cmdb", FIELDS), store, state, interval=0.1))
    try:
        wait_until(lambda: [s.id for s in state.business_systems()] == ["A1"], what="A1")
        server.text = "[]"
        wait_until(lambda: health(state) == Health.STALE, what="stale")
        assert "answered no business systems; keeping the last ones" in state.source_health("cmdb").reason
        assert [s.id for s in state.business_systems()] == ["A1"] and [s.id for s in store.systems()] == ["A1"]
    finally:
        halt(p)
        server.close()


def test_skipped_records_are_live_with_the_count_and_the_first_reason(store):
    server = Exporter(json.dumps([{"sys_code": "A1", "sys_name": "x"}, {"sys_code": "A2", "level": 9}]),
                      content_type="application/json")
    state = State()
    p = run(CmdbPoller(RestCmdb(server.base + "/cmdb", FIELDS), store, state, interval=30.0))
    try:
        wait_until(lambda: health(state) == Health.LIVE, what="live")
        assert state.source_health("cmdb").reason.startswith("1 record skipped: record 2 (sys_code=A2): ")
        assert [s.id for s in state.business_systems()] == ["A1"]
    finally:
        halt(p)
        server.close()


def test_an_import_by_another_process_reaches_the_state_between_reads(store):
    state = State()
    p = run(CmdbPoller(None, store, state, store_every=0.05))  # no source: the store only
    try:
        other = CmdbStore(store.path)  # as `prophecis-tui cmdb import` would open it
        other.replace_source("import:x.csv", [BusinessSystem(id="X1", name="导入的系统", namespaces=("ns-a",))])
        wait_until(lambda: [s.id for s in state.business_systems()] == ["X1"], what="the import in the state")
        assert CmdbPoller.KEY not in state.health()  # no source, no health
        other.close()
    finally:
        halt(p)


# ------------------------------------------------------------------------------------------ wiring
def test_the_written_config_gives_the_demo_its_business_systems(tiny, tmp_path, store):
    """`--demo`: the user's [cmdb] is unset (source none), so the simulator's written config.toml is used."""
    tiny.thread.write_config(tmp_path / "demo")
    text = (tmp_path / "demo" / "config.toml").read_text()
    assert f'[cmdb]\nsource = "url"\nurl = "{tiny.sim.url}{PATH}"\nlist_key = "data"' in text
    assert '[cmdb.fields]\nid = "sys_code"\nname = "sys_name"' in text
    state = State()
    none = load_settings(env={"HOME": str(tmp_path)}).for_context(None).cmdb
    assert none.source == "none"
    p = cmdb_poller(none, state, store, demo_dir=str(tmp_path / "demo"))
    try:
        wait_until(lambda: health(state) == Health.LIVE, what="live")
        assert len(state.business_systems()) == len(tiny.sim.api.cmdb.records())
        assert p.source == f"rest:127.0.0.1:{tiny.sim.port}" and p.interval == 60.0
    finally:
        halt(p)


def test_the_written_config_loads_and_reads_the_cmdb(tiny, tmp_path, store):
    tiny.thread.write_config(tmp_path)
    c = load_settings(tmp_path / "config.toml", env={"HOME": str(tmp_path)}).for_context("sim-viewer").cmdb
    assert (c.source, c.list_key, c.fields, c.refresh_seconds) == ("url", "data", FIELDS, 60.0)
    state = State()
    p = cmdb_poller(c, state, store)
    try:
        wait_until(lambda: len(state.business_systems()) == 10, what="the systems")
    finally:
        halt(p)


def test_without_a_source_the_store_alone_is_published(tmp_path, store):
    store.replace_source("import:a.csv", [BusinessSystem(id="A", name="甲")])
    state = State()
    c = load_settings(env={"HOME": str(tmp_path)}).for_context(None).cmdb
    p = cmdb_poller(c, state, store)
    try:
        wait_until(lambda: [s.id for s in state.business_systems()] == ["A"], what="the store's systems")
        assert p.client is None and CmdbPoller.KEY not in state.health()
    finally:
        halt(p)


def test_a_token_env_that_is_not_set_fails_the_source_not_the_start(tmp_path, store):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[cmdb]\nurl = "https://cmdb.example/api"\ntoken_env = "CMDB_TOKEN"\n')
    c = load_settings(cfg, env={"HOME": str(tmp_path)}).for_context(None).cmdb
    store.replace_source("import:a.csv", [BusinessSystem(id="A", name="甲")])
    state = State()
    p = cmdb_poller(c, state, store, env={})
    try:
        h = state.source_health("cmdb")
        assert h.state == Health.FAILING
        assert h.reason == "cmdb.token_env names CMDB_TOKEN, which is not set in the environment"
        wait_until(lambda: [s.id for s in state.business_systems()] == ["A"], what="the store's systems")
    finally:
        halt(p)


def test_the_token_from_token_env_is_sent(tmp_path, store):
    server = Exporter(json.dumps([{"id": "A", "name": "甲"}]), content_type="application/json")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[cmdb]\nurl = "{server.base}/cmdb"\ntoken_env = "CMDB_TOKEN"\n')
    c = load_settings(cfg, env={"HOME": str(tmp_path)}).for_context(None).cmdb
    state = State()
    p = cmdb_poller(c, state, store, env={"CMDB_TOKEN": "tok-123"})
    try:
        wait_until(lambda: [s.id for s in state.business_systems()] == ["A"], what="A")
        assert server.seen[0][1]["Authorization"] == "Bearer tok-123"
    finally:
        halt(p)
        server.close()


def test_the_file_source_is_read_into_the_store(tmp_path, store):
    f = tmp_path / "systems.yaml"
    f.write_text("- id: RC1\n  name: 信用评分卡\n  segments: risk\n", encoding="utf-8")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[cmdb]\npath = "{f}"\n')
    c = load_settings(cfg, env={"HOME": str(tmp_path)}).for_context(None).cmdb
    assert c.source == "file"
    state = State()
    p = cmdb_poller(c, state, store)
    try:
        wait_until(lambda: health(state) == Health.LIVE, what="live")
        assert [(s.id, s.segments, s.source) for s in state.business_systems()] == [
            ("RC1", ("risk",), "file:systems.yaml")]
    finally:
        halt(p)

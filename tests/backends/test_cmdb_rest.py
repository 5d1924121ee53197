"""backends.cmdb: the REST CMDB read over loopback (the simulator's CMDB through the config its --write-config
writes, and a plain HTTP server for answers the simulator does not give), fields mapped onto ours; every
failure a typed one-line error without the token; one bad record skipped, not the whole CMDB. And the file
source."""

from __future__ import annotations

import json
import socket
from typing import Iterator

import pytest

from backends.cmdb import CmdbSource, FileCmdb, RestCmdb
from prophecis_tui.cmdb import CmdbError
from prophecis_tui.config import load_settings
from prophecis_tui.domain import Forbidden, Invalid, Timeout, Unauthorized, Unavailable
from prophecis_tui.simulator.cmdb import FIELDS, PATH
from tests.backends.test_dcgm_scrape import Exporter

SECRET = "s3cr3t-cmdb-token-value"


@pytest.fixture
def cmdb(tiny, tmp_path) -> Iterator[RestCmdb]:
    """A client built from the [cmdb] section the simulator's --write-config wrote (its URL, CA and fields)."""
    tiny.thread.write_config(tmp_path)
    c = load_settings(tmp_path / "config.toml", env={"HOME": str(tmp_path)}).for_context("sim-admin").cmdb
    client = RestCmdb(c.url, c.fields, list_key=c.list_key, ca_file=str(c.ca_file))
    yield client
    client.close()


@pytest.fixture
def server() -> Iterator[Exporter]:
    e = Exporter("[]", content_type="application/json")
    yield e
    e.close()


def rest(server: Exporter, **kw) -> RestCmdb:
    return RestCmdb(server.base + "/api/systems", kw.pop("fields", FIELDS), timeout=kw.pop("timeout", 2.0), **kw)


def rec(code: str, name: str = "系统", **more) -> dict:
    return {"sys_code": code, "sys_name": name, **more}


# ----------------------------------------------------------------------------------- the simulator's
def test_the_simulators_cmdb_mapped_onto_our_fields(cmdb, tiny):
    systems = cmdb.fetch()
    raw = tiny.sim.api.cmdb.records()
    assert [s.id for s in systems] == [r["sys_code"] for r in raw]
    first = systems[0]
    assert (first.name, first.tier, first.department, first.owner) == ("信用评分卡", raw[0]["level"], "风险管理部",
                                                                     "lihua")
    assert first.oncall == raw[0]["duty_contact"] and first.namespaces == ("ns-risk-scorecard",)
    by_id = {s.id: s for s in systems}
    assert by_id["BS1002"].segments == ("antifraud-txn",) and by_id["BS2001"].segments == ("risk",)
    assert by_id["BS3002"].deployments == ("txn-gnn-svc-*", "fraud-xgb-svc-*")
    assert by_id["BS4002"].labels == ("model=aml-transformer",)
    assert by_id["BS9002"].nodes == tuple(raw[-1]["hosts"])
    assert {s.source for s in systems} == {f"rest:127.0.0.1:{tiny.sim.port}"} == {cmdb.source}
    assert (cmdb.skipped, cmdb.skip_reason) == (0, "")
    assert isinstance(cmdb, CmdbSource)


def test_the_simulators_token_is_accepted_and_a_wrong_one_is_unauthorized(cmdb, tiny, tmp_path):
    ca = str(tmp_path / "ca.crt")
    good = RestCmdb(cmdb.url, FIELDS, list_key="data", ca_file=ca, token=tiny.sim.identity("viewer").token)
    bad = RestCmdb(cmdb.url, FIELDS, list_key="data", ca_file=ca, token=SECRET)
    try:
        assert len(good.fetch()) == len(tiny.sim.api.cmdb.records())
        with pytest.raises(Unauthorized) as e:
            bad.fetch()
    finally:
        good.close()
        bad.close()
    assert e.value.message == f"CMDB {bad.where} answered 401 Unauthorized: the token was refused"
    assert e.value.status == 401 and SECRET not in repr(bad) and SECRET not in str(vars(bad))


def test_without_list_key_the_envelope_is_named_with_its_keys(cmdb):
    cmdb.list_key = None
    with pytest.raises(Invalid) as e:
        cmdb.fetch()
    assert "the answer is a JSON object, not a list: set cmdb.list_key" in e.value.message
    assert "(its keys: code, msg, total, data)" in e.value.message


def test_a_wrong_list_key_says_what_the_answer_has(cmdb):
    cmdb.list_key = "data.list"
    with pytest.raises(Invalid, match=r"'data' holds|no 'data.list'"):
        cmdb.fetch()
    cmdb.list_key = "items"
    with pytest.raises(Invalid) as e:
        cmdb.fetch()
    assert e.value.message.endswith("no 'items' in the answer (it has: code, msg, total, data); check cmdb.list_key")


def test_without_the_mapping_no_record_is_read_and_nothing_is_returned(cmdb):
    cmdb.fields = {}
    with pytest.raises(Invalid) as e:
        cmdb.fetch()
    assert "none of the 10 records could be read (check cmdb.fields); record 1: id: required" in e.value.message


def test_an_injected_500_is_unavailable_and_it_recovers(cmdb, tiny):
    tiny.call(tiny.sim.faults.update, {"cmdb_error": 500})
    with pytest.raises(Unavailable) as e:
        cmdb.fetch()
    assert e.value.message == f"CMDB 127.0.0.1:{tiny.sim.port}{PATH} answered HTTP 500 (injected fault)"
    assert e.value.status == 500
    tiny.call(tiny.sim.faults.update, {"cmdb_error": 503})
    with pytest.raises(Unavailable, match="HTTP 503"):
        cmdb.fetch()
    tiny.call(tiny.sim.faults.update, {"cmdb_error": 0})
    assert len(cmdb.fetch()) == 10


def test_the_wrong_ca_is_a_connection_error(tiny):
    c = RestCmdb(tiny.sim.url + PATH, FIELDS, list_key="data", timeout=3.0)  # the system's CAs only
    try:
        with pytest.raises(Unavailable, match="cannot connect .*CERTIFICATE_VERIFY_FAILED"):
            c.fetch()
    finally:
        c.close()


# ----------------------------------------------------------------------------------- other answers
def test_unreachable_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    c = RestCmdb(f"http://127.0.0.1:{port}/cmdb?token={SECRET}", timeout=1.0)
    with pytest.raises(Unavailable) as e:
        c.fetch()
    assert e.value.message.startswith(f"CMDB 127.0.0.1:{port}/cmdb: cannot connect (")
    assert SECRET not in e.value.message and "\n" not in e.value.message


def test_a_server_that_never_answers_is_a_timeout():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)  # accepts (the kernel does), never answers
    try:
        c = RestCmdb(f"http://127.0.0.1:{s.getsockname()[1]}/cmdb", timeout=0.3)
        with pytest.raises(Timeout) as e:
            c.fetch()
        assert e.value.message == f"CMDB 127.0.0.1:{s.getsockname()[1]}/cmdb: no answer in 0.3 s"
    finally:
        s.close()


def test_a_bare_list_and_a_nested_one(server):
    server.text = json.dumps([rec("A1", "反欺诈交易评分", level="T1"), rec("A2", hosts="10.0.0.1|gpu-1")])
    got = rest(server).fetch()
    assert [(s.id, s.tier, s.nodes) for s in got] == [("A1", 1, ()), ("A2", None, ("10.0.0.1", "gpu-1"))]
    server.text = json.dumps({"code": 0, "data": {"list": [rec("A1")], "total": 1}})
    assert [s.id for s in rest(server, list_key="data.list").fetch()] == ["A1"]


def test_bad_records_are_skipped_and_counted_the_first_named(server):
    server.text = json.dumps([rec("A1"), rec("A2", level="high"), "junk", rec("A1", "again"), rec("A3")])
    c = rest(server)
    got = c.fetch()
    assert [s.id for s in got] == ["A1", "A3"]
    assert c.skipped == 3
    assert c.skip_reason == 'record 2 (sys_code=A2): tier: must be a whole number 1-5, got "high"'
    server.text = json.dumps([rec("A1")])
    c.fetch()
    assert (c.skipped, c.skip_reason) == (0, "")


def test_a_record_that_repeats_an_id_is_named(server):
    server.text = json.dumps([rec("A1"), rec("A1", "second")])
    c = rest(server)
    assert [s.name for s in c.fetch()] == ["系统"]
    assert c.skip_reason == "record 2 (sys_code=A1): the id 'A1' again (the first one is kept)"


def test_not_json_says_what_came_instead(server):
    server.text, server.content_type = "<html><body>SSO login</body></html>", "text/html; charset=utf-8"
    with pytest.raises(Invalid) as e:
        rest(server).fetch()
    assert e.value.message == f"CMDB {server.base[7:]}/api/systems: the answer is not JSON (text/html, 35 bytes)"


@pytest.mark.parametrize("status, error, words", [
    (401, Unauthorized, "answered 401 Unauthorized: it wants a token: set cmdb.token_env"),
    (403, Forbidden, "answered 403 Forbidden"),
    (404, Unavailable, "answered HTTP 404"),
    (302, Unavailable, "answered HTTP 302, a redirect to elsewhere (a login page?)"),
    (502, Unavailable, "answered HTTP 502"),
])
def test_http_errors_are_typed(server, status, error, words):
    server.status = status
    server.text = '{"msg": "upstream\\u001b[31m down"}' if status == 502 else "{}"
    with pytest.raises(error) as e:
        rest(server).fetch()
    assert words in e.value.message and e.value.status == status and "\x1b" not in e.value.message
    if status == 502:
        assert e.value.message.endswith("(upstream\\x1b[31m down)")  # the server's words, made harmless


def test_the_token_is_sent_as_bearer_and_never_shown(server):
    server.text = json.dumps([rec("A1")])
    c = rest(server, token=SECRET, headers={"X-Api-Client": "prophecis-tui"})
    c.fetch()
    path, headers = server.seen[-1]
    assert path == "/api/systems" and headers["Authorization"] == f"Bearer {SECRET}"
    assert headers["X-Api-Client"] == "prophecis-tui" and headers["Accept"] == "application/json"
    server.status = 500
    with pytest.raises(Unavailable) as e:
        c.fetch()
    assert SECRET not in e.value.message and SECRET not in repr(c) and SECRET not in repr(c._http.auth)


def test_an_unknown_field_in_the_mapping_is_refused_at_once():
    with pytest.raises(ValueError, match="unknown business-system field 'owners'"):
        RestCmdb("http://127.0.0.1:9/x", {"owners": "sys_owner"})


# ----------------------------------------------------------------------------------- the file source
def test_the_file_source_reads_as_an_import_does(tmp_path):
    f = tmp_path / "systems.csv"
    f.write_text("id,name,tier,namespaces\nRC1,信用评分卡,1,ns-risk-*\n", encoding="utf-8")
    c = FileCmdb(f)
    [s] = c.fetch()
    assert (s.id, s.name, s.tier, s.namespaces, s.source) == ("RC1", "信用评分卡", 1, ("ns-risk-*",),
                                                              "file:systems.csv")
    assert c.source == "file:systems.csv" and isinstance(c, CmdbSource)
    f.write_text("id,name,tier\nRC1,x,high\n", encoding="utf-8")
    with pytest.raises(CmdbError) as e:
        c.fetch()
    assert str(e.value).startswith(f"{f}: row 1 (line 2") and "tier" in str(e.value)
    assert isinstance(e.value, Invalid)

"""The console's Alertmanager client (backends.alertmanager).

- Against a real Alertmanager (Debian's 0.25) fed by a real Prometheus whose rules fire on the simulated DCGM
  exporter's series (tests/backends/real_services.py: one of each per module): the alerts with their labels,
  inhibition, a silence made, seen, muting its alert, expired; Alertmanager's own refusals; read-only.
- Against the simulator's Alertmanager (https, its CA): the same calls.
- Without a server (httpx's MockTransport): the answers of other versions (0.28's mutedBy, records with keys
  missing), and how every kind of failure reads.
"""

from __future__ import annotations

import json
import socket
import ssl
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.alertmanager import Alertmanager, AlertmanagerSet, parse_alerts
from backends.base import AlertmanagerBackend
from backends.dcgm import DcgmScrape
from prophecis_tui.domain import (Alert, AlertState, Forbidden, Invalid, NotFound, ReadOnly, SilenceMatcher,
                                  Unauthorized, Unavailable)
from tests.conftest import wait_until

from .real_services import (alert_cluster, alerting_prometheus, alertmanager_service,  # noqa: F401 (fixtures)
                            free_port, sim_endpoint)
from .test_dcgm_scrape import Exporter


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _m(name: str, value: str, regex: bool = False, equal: bool = True) -> SilenceMatcher:
    return SilenceMatcher(name=name, value=value, is_regex=regex, is_equal=equal)


# ------------------------------------------------------------------------------------------ without a server
class Recorder:
    """An httpx transport answering ``answer(request)`` and keeping every request it got."""

    def __init__(self, answer=None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda req: httpx.Response(200, json=[]))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def client(self, url: str = "http://am.example:9093", **kw) -> Alertmanager:
        return Alertmanager(url, transport=httpx.MockTransport(self), **kw)


ALERT_025 = {  # what Alertmanager 0.25 answers (no mutedBy)
    "annotations": {"summary": "GPU 3 on gpu-07 is at 91C", "description": "Hot for 5 minutes.",
                    "runbook_url": "https://runbooks/gpu"},
    "endsAt": "2026-11-29T14:34:01.169Z", "fingerprint": "8d7fe741965adac9", "receivers": [{"name": "gpu-team"}],
    "startsAt": "2026-11-29T14:29:01.169Z", "updatedAt": "2026-11-29T14:29:01.170Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=DCGM_FI_DEV_GPU_TEMP+%3E+85",
    "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
    "labels": {"alertname": "GPUHighTemp", "severity": "page", "namespace": "ns-risk-scorecard", "pod": "train-0",
               "Hostname": "gpu-07", "gpu": "3"}}


def test_an_alert_reads_as_the_console_shows_it():
    rec = Recorder(lambda req: httpx.Response(200, json=[ALERT_025]))
    am = rec.client(name="prod")
    [a] = am.alerts()
    backend: AlertmanagerBackend = am  # what the poller and the action registry are given
    assert backend.name == "prod" and all(callable(getattr(am, f)) for f in (
        "alerts", "silences", "create_silence", "expire_silence", "close"))
    assert (a.key, a.source, a.name, a.severity, a.state) == ("am:8d7fe741965adac9", "alertmanager", "GPUHighTemp",
                                                              "critical", AlertState.FIRING)
    assert (a.summary, a.description, a.runbook) == ("GPU 3 on gpu-07 is at 91C", "Hot for 5 minutes.",
                                                     "https://runbooks/gpu")
    assert a.labels == ALERT_025["labels"] and a.annotations == ALERT_025["annotations"]
    assert a.starts == datetime(2026, 11, 29, 14, 29, 1, 169000, tzinfo=timezone.utc)
    assert a.ends == datetime(2026, 11, 29, 14, 34, 1, 169000, tzinfo=timezone.utc)
    assert a.updated == datetime(2026, 11, 29, 14, 29, 1, 170000, tzinfo=timezone.utc)
    assert (a.fingerprint, a.origins, a.receivers, a.silenced_by, a.inhibited_by) == (
        "8d7fe741965adac9", ("prod",), ("gpu-team",), (), ())
    assert a.generator_url.startswith("http://prometheus:9090/graph")
    # the engine fills these from the labels, not the client
    assert (a.namespace, a.target_kind, a.target_name, a.node, a.systems) == ("", "", "", "", ())
    # built without validation, it is still the model: equal to a validated one, copied, dumped
    assert a == Alert.model_validate(a.model_dump())
    assert a.model_copy(update={"namespace": "ns-risk-scorecard"}).target == "ns-risk-scorecard"
    [req] = rec.requests
    assert (req.method, req.url.path) == ("GET", "/api/v2/alerts")
    assert dict(req.url.params) == {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}


def test_states_from_every_version_and_records_with_keys_missing():
    def alert(fp, status=None, **extra):
        return {"fingerprint": fp, "labels": {"alertname": fp}, **({"status": status} if status else {}), **extra}
    answer = [
        alert("silenced", {"state": "suppressed", "silencedBy": ["s1", "s2"], "inhibitedBy": ["x"], "mutedBy": []}),
        alert("inhibited", {"state": "suppressed", "silencedBy": [], "inhibitedBy": ["fp-source"], "mutedBy": []}),
        alert("unprocessed", {"state": "unprocessed", "silencedBy": [], "inhibitedBy": []}),
        # 0.28+: muted by a time interval only: it fires, and nothing the console can show explains a mute
        alert("time-muted", {"state": "suppressed", "silencedBy": [], "inhibitedBy": [], "mutedBy": ["nights"]}),
        alert("bare"),  # nothing but what identifies it
        alert("odd", {"state": "active", "silencedBy": None}, labels={"alertname": "odd", "severity": "warn", "n": 3},
              annotations={"runbook": "https://rb/odd", "message": "old-style annotation"}, receivers=[{}, "x"],
              startsAt="not a time", endsAt="2026-11-29T14:29:01.123456789+02:00"),
        {"labels": {"alertname": "no fingerprint"}}, "not an object",
    ]
    am = Recorder(lambda req: httpx.Response(200, json=answer)).client()
    got = {a.fingerprint: a for a in am.alerts()}
    assert am.skipped == 2  # the last two: never a crash, never a blank list
    assert {k: a.state for k, a in got.items()} == {
        "silenced": AlertState.SILENCED, "inhibited": AlertState.INHIBITED, "unprocessed": AlertState.FIRING,
        "time-muted": AlertState.FIRING, "bare": AlertState.FIRING, "odd": AlertState.FIRING}
    assert got["silenced"].silenced_by == ("s1", "s2") and got["inhibited"].inhibited_by == ("fp-source",)
    bare = got["bare"]
    assert (bare.severity, bare.summary, bare.starts, bare.receivers, bare.annotations) == ("info", "", None, (), {})
    odd = got["odd"]
    assert odd.labels == {"alertname": "odd", "severity": "warn", "n": "3"} and odd.severity == "warning"
    assert (odd.summary, odd.runbook, odd.starts) == ("old-style annotation", "https://rb/odd", None)
    assert odd.ends == datetime(2026, 11, 29, 12, 29, 1, 123456, tzinfo=timezone.utc)


def test_the_alert_built_without_validation_has_every_field_of_the_model():
    [a], _ = parse_alerts([ALERT_025], "am")
    assert list(a.__dict__) == list(Alert.model_fields)  # a field added to Alert must be added to the parser


@settings(max_examples=150, deadline=None)
@given(st.lists(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                             lambda c: st.lists(c, max_size=3) | st.dictionaries(
                                 st.sampled_from(["fingerprint", "labels", "annotations", "status", "silencedBy",
                                                  "inhibitedBy", "receivers", "name", "startsAt", "severity",
                                                  "alertname", "summary"]), c, max_size=5), max_leaves=12),
                max_size=5))
def test_any_json_reads_as_alerts_or_skipped_records_never_an_exception(items):
    alerts, bad = parse_alerts(items, "am")
    assert len(alerts) + bad == len(items)
    for a in alerts:
        assert a.key.startswith("am:") and a.state in AlertState
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in a.labels.items())
        Alert.model_validate(a.model_dump())  # what it holds has the model's types


def test_a_path_prefix_and_silences_of_an_older_version():
    answer = [{"id": "6f5b", "status": {"state": "expired"}, "updatedAt": "2026-11-29T10:00:00Z",
               "matchers": [{"name": "alertname", "value": "GPUHighTemp", "isRegex": False},  # before 0.22
                            {"name": "namespace", "value": "ns-.*", "isRegex": True, "isEqual": False}],
               "startsAt": "2026-11-29T09:00:00.000Z", "endsAt": "2026-11-29T10:00:00.000Z",
               "createdBy": "alice", "comment": "INC123 maintenance"}, {"no": "id"}]
    rec = Recorder(lambda req: httpx.Response(200, json=answer))
    [s] = rec.client("https://sim.example:8443/alertmanager/").silences()
    assert rec.requests[0].url == "https://sim.example:8443/alertmanager/api/v2/silences"
    assert (s.id, s.state, s.created_by, s.comment, s.origin) == ("6f5b", "expired", "alice", "INC123 maintenance",
                                                                  "sim.example:8443/alertmanager")
    assert [str(m) for m in s.matchers] == ['alertname="GPUHighTemp"', 'namespace!~"ns-.*"']
    assert s.ends == datetime(2026, 11, 29, 10, tzinfo=timezone.utc)


def test_a_silence_is_posted_as_alertmanager_expects_it():
    rec = Recorder(lambda req: httpx.Response(200, json={"silenceID": "0b1c"}))
    am = rec.client()
    starts = datetime(2026, 11, 29, 18, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    sid = am.create_silence([_m("alertname", "GPUHighTemp"), _m("gpu", "[0-3]", regex=True, equal=False)],
                            starts, starts + timedelta(hours=2), "alice", "INC123: swapping the fan")
    assert sid == "0b1c"
    [req] = rec.requests
    assert (req.method, req.url.path, req.headers["content-type"]) == ("POST", "/api/v2/silences", "application/json")
    assert json.loads(req.content) == {
        "matchers": [{"name": "alertname", "value": "GPUHighTemp", "isRegex": False, "isEqual": True},
                     {"name": "gpu", "value": "[0-3]", "isRegex": True, "isEqual": False}],
        "startsAt": "2026-11-29T10:30:00.123Z", "endsAt": "2026-11-29T12:30:00.123Z", "createdBy": "alice",
        "comment": "INC123: swapping the fan"}
    am.expire_silence("0b1c/../x")
    assert (rec.requests[1].method, rec.requests[1].url.raw_path) == ("DELETE", b"/api/v2/silence/0b1c%2F..%2Fx")


def _answer(code, body=b"", **headers):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda req: httpx.Response(code, content=content, headers=headers)


WRITE, READ = "create a silence", "read the alerts"


@pytest.mark.parametrize("call, answer, error, text", [
    (WRITE, _answer(400, "Failed to create silence: end time can't be in the past"), Invalid,
     "prod (am.example:9093): Failed to create silence: end time can't be in the past"),
    (WRITE, _answer(422, {"code": 612, "message": "matchers in body should have at least 1 items"}), Invalid,
     ": matchers in body should have at least 1 items"),
    (WRITE, _answer(401), Unauthorized, "401"),
    (WRITE, _answer(403, b"forbidden by policy"), Forbidden, "403 Forbidden: forbidden by policy"),
    (READ, _answer(302, Location="https://sso.example/login?token=s3cret"), Unavailable,
     "a redirect to sso.example/login"),
    (READ, _answer(503, b"upstream connect error"), Unavailable, "HTTP 503: upstream connect error"),
    (READ, _answer(200, b"<html>login</html>", **{"content-type": "text/html"}), Invalid,
     "not JSON (text/html, 18 bytes)"),
    (READ, _answer(200, {"data": []}), Invalid, "a JSON dict, not a list"),
])
def test_every_failure_is_one_typed_line_naming_the_alertmanager(call, answer, error, text):
    am = Recorder(answer).client("http://bob:pa55@am.example:9093/?token=s3cret", name="prod")
    with pytest.raises(error) as err:
        if call == READ:
            am.alerts()
        else:
            am.create_silence([_m("a", "b")], _now(), _now() + timedelta(hours=1), "alice", "INC1")
    msg = err.value.message
    assert msg.startswith("Alertmanager prod (am.example:9093)") and text in msg, msg
    assert "\n" not in msg and "pa55" not in msg and "s3cret" not in msg and "bob" not in msg
    assert err.value.source == "alertmanager"


def test_an_unknown_silence_is_not_found_in_either_way_alertmanager_says_it():
    for answer in (_answer(404, {"code": 404, "message": "silence not found"}), _answer(500, "silence not found")):
        with pytest.raises(NotFound, match="no silence 6f5b"):
            Recorder(answer).client().expire_silence("6f5b")
    with pytest.raises(Unavailable, match="HTTP 500: disk full"):  # any other 500 is the Alertmanager's trouble
        Recorder(_answer(500, "disk full")).client().expire_silence("6f5b")
    with pytest.raises(NotFound, match="is this an Alertmanager"):  # the wrong URL: no v2 API there
        Recorder(_answer(404, b"404 page not found")).client().alerts()


def test_read_only_refuses_before_any_request():
    rec = Recorder()
    am = rec.client(read_only=True)
    with pytest.raises(ReadOnly, match="read-only: not creating a silence on Alertmanager am.example:9093"):
        am.create_silence([_m("a", "b")], _now(), _now() + timedelta(hours=1), "alice", "INC1")
    with pytest.raises(ReadOnly, match="expiring silence 6f5b"):
        am.expire_silence("6f5b")
    pair = AlertmanagerSet([rec.client(name="a"), am])
    with pytest.raises(ReadOnly):  # one member read-only: nothing is sent to the other either
        pair.create_silence([_m("a", "b")], _now(), _now() + timedelta(hours=1), "alice", "INC1")
    assert rec.requests == []
    am.alerts()  # reading is allowed
    assert len(rec.requests) == 1


def test_headers_made_for_each_request_and_never_in_a_message():
    tokens = iter(["t-1", "t-2"])
    rec = Recorder(_answer(503))
    am = rec.client(headers=lambda: {"Authorization": f"Bearer {next(tokens)}"})
    for _ in range(2):
        with pytest.raises(Unavailable) as err:
            am.alerts()
        assert "Bearer" not in err.value.message
    assert [r.headers["authorization"] for r in rec.requests] == ["Bearer t-1", "Bearer t-2"]


def test_a_set_makes_the_silence_on_each_member_and_says_where_it_failed():
    made = []

    def member(name, fail=False):
        def answer(req):
            if fail:
                return httpx.Response(503)
            made.append(name)
            return httpx.Response(200, json={"silenceID": f"id-{name}"})
        return Recorder(answer).client(f"http://{name}:9093", name=name)
    ok = AlertmanagerSet([member("am-a"), member("am-b")])
    args = ([_m("alertname", "X")], _now(), _now() + timedelta(hours=1), "alice", "INC1")
    assert ok.create_silence(*args) == {"am-a": "id-am-a", "am-b": "id-am-b"}
    assert ok.create_silence(*args, on=["am-b"]) == {"am-b": "id-am-b"}
    assert ok.by_name("am-a").name == "am-a" and ok.names == ["am-a", "am-b"]
    with pytest.raises(NotFound, match="no Alertmanager named 'am-c' \\(known: am-a, am-b\\)"):
        ok.create_silence(*args, on=["am-c"])
    half = AlertmanagerSet([member("am-a"), member("am-down", fail=True)])
    with pytest.raises(Unavailable, match=r"^Alertmanager am-down \(am-down:9093\) answered HTTP 503; "
                       r"the silence was made on am-a \(id-am-a\)$") as e:
        half.create_silence(*args)
    assert e.value.done == {"am-a": "id-am-a"}
    assert made == ["am-a", "am-b", "am-b", "am-a"]  # every call that succeeded, none for the unknown name
    with pytest.raises(ValueError, match="two Alertmanagers are named 'am-a'"):
        AlertmanagerSet([member("am-a"), member("am-a")])


# ------------------------------------------------------------------------------------------ a real Alertmanager
def _gpus(cluster) -> dict[tuple[str, str], object]:
    """(Hostname, gpu index) -> the GPU as a direct scrape of the simulated exporter reads it."""
    direct = DcgmScrape(cluster.sim.url + "/dcgm/metrics", ca_file=sim_endpoint(cluster)[1]).current()
    return {(g.node, str(g.gpu)): g for g in direct}


def _by(alerts: list[Alert], name: str) -> dict[tuple[str, str], Alert]:
    return {(a.labels.get("Hostname", ""), a.labels.get("gpu", "")): a for a in alerts if a.name == name}


@pytest.fixture(scope="module")
def real_am(alerting_prometheus, alertmanager_service, alert_cluster):
    """The client on the real Alertmanager, once every simulated GPU's alerts have reached it."""
    am = Alertmanager(alertmanager_service.url, name="real")
    gpus = _gpus(alert_cluster)
    held = {k for k, g in gpus.items() if g.pod}

    def arrived() -> bool:
        alerts = am.alerts()
        return _by(alerts, "GpuTemperature").keys() == gpus.keys() and _by(alerts, "GpuHeld").keys() == held
    wait_until(arrived, timeout=60, what="the rules' alerts in Alertmanager")
    yield am
    am.close()


def test_alerts_from_prometheus_rules_on_the_dcgm_exporter(real_am, alert_cluster):
    gpus = _gpus(alert_cluster)
    held = {k: g for k, g in gpus.items() if g.pod}
    assert held and len(held) < len(gpus)  # some GPUs are held and some free: both ways are checked
    alerts = real_am.alerts()
    temps, holds = _by(alerts, "GpuTemperature"), _by(alerts, "GpuHeld")
    for (node, index), g in gpus.items():
        a = temps[node, index]
        assert (a.source, a.severity, a.origins, a.key) == ("alertmanager", "warning", ("real",), "am:" + a.fingerprint)
        assert len(a.fingerprint) == 16
        assert a.summary == f"GPU {index} on {node} is at {g.temp_c:g}C"
        assert a.runbook == "https://runbooks.example/gpu-temperature"
        assert a.labels["UUID"] == g.uuid and a.labels["namespace"] == "gpu-operator"  # the target's own labels
        assert a.starts is not None and a.ends > a.starts and a.updated is not None
        assert "/graph?g0.expr=" in a.generator_url
        # a held GPU's temperature alert is inhibited by its GpuHeld (the inhibit rule: equal Hostname and gpu)
        if (node, index) in held:
            assert a.state == AlertState.INHIBITED and a.inhibited_by == (holds[node, index].fingerprint,), a
        else:
            assert a.state == AlertState.FIRING and a.inhibited_by == () and a.silenced_by == ()
    for key, g in held.items():  # the workload's labels as the exporter gave them (renamed behind the target's)
        a = holds[key]
        assert (a.severity, a.state, a.runbook) == ("critical", AlertState.FIRING, "https://runbooks.example/gpu-held")
        assert (a.labels["exported_namespace"], a.labels["exported_pod"], a.labels["container"]) == (
            g.namespace, g.pod, g.container)
        assert a.summary == f"GPU {key[1]} on {key[0]} is held by {g.namespace}/{g.pod}"


def test_a_silence_mutes_its_alert_until_it_is_expired(real_am, alert_cluster):
    gpus = _gpus(alert_cluster)
    node, index = next(k for k, g in sorted(gpus.items()) if not g.pod)  # a free GPU: firing, not inhibited
    key = _by(real_am.alerts(), "GpuTemperature")[node, index].key
    start = _now()
    matchers = [_m("alertname", "GpuTemperature"), _m("Hostname", node), _m("gpu", f"{index}|99", regex=True)]
    sid = real_am.create_silence(matchers, start, start + timedelta(hours=2), "alice", "INC4242 fan swap")

    def state() -> Alert:
        return next(a for a in real_am.alerts() if a.key == key)
    try:
        silence = next(s for s in real_am.silences() if s.id == sid)
        assert (silence.state, silence.created_by, silence.comment, silence.origin) == (
            "active", "alice", "INC4242 fan swap", "real")
        assert [str(m) for m in silence.matchers] == [
            'alertname="GpuTemperature"', f'Hostname="{node}"', f'gpu=~"{index}|99"']
        assert abs((silence.ends - start - timedelta(hours=2)).total_seconds()) < 1
        wait_until(lambda: state().state == AlertState.SILENCED, timeout=10, what="the alert silenced")
        assert state().silenced_by == (sid,)
        others = [a for a in _by(real_am.alerts(), "GpuTemperature").values() if a.key != key]
        assert others and not any(a.state == AlertState.SILENCED for a in others)  # only what it matches
    finally:
        real_am.expire_silence(sid)
    assert next(s for s in real_am.silences() if s.id == sid).state == "expired"
    wait_until(lambda: state().state == AlertState.FIRING and state().silenced_by == (), timeout=10,
               what="the alert firing again")
    real_am.expire_silence(sid)  # expiring it again is no error


def test_alertmanagers_own_refusals_carry_its_message(real_am):
    now = _now()
    with pytest.raises(Invalid, match="Failed to create silence: end time can't be in the past") as err:
        real_am.create_silence([_m("alertname", "GpuTemperature")], now - timedelta(hours=2),
                               now - timedelta(hours=1), "alice", "INC1")
    assert err.value.status == 400 and err.value.message.startswith(f"Alertmanager real ({real_am.where})")
    with pytest.raises(Invalid, match="matchers in body should have at least 1 items"):
        real_am.create_silence([], now, now + timedelta(hours=1), "alice", "INC1")
    with pytest.raises(Invalid, match="Failed to create silence"):  # an end before its start
        real_am.create_silence([_m("alertname", "X")], now + timedelta(hours=2), now + timedelta(hours=1), "a", "c")
    with pytest.raises(NotFound, match="no silence 00000000-0000-0000-0000-000000000000"):
        real_am.expire_silence("00000000-0000-0000-0000-000000000000")
    with pytest.raises(Invalid, match="silenceID in path must be of type uuid"):
        real_am.expire_silence("not-a-uuid")
    status = real_am.status()
    assert (status["name"], status["version"], status["cluster"], status["peers"]) == ("real", "0.25.0", "disabled", 0)


def test_read_only_and_a_set_on_the_real_alertmanager(real_am, alertmanager_service):
    before = {s.id for s in real_am.silences()}
    now = _now()
    args = ([_m("alertname", "GpuHeld")], now, now + timedelta(hours=1), "alice", "INC7")
    locked = Alertmanager(alertmanager_service.url, name="locked", read_only=True)
    with pytest.raises(ReadOnly):
        locked.create_silence(*args)
    assert locked.alerts()  # reading still works
    assert {s.id for s in real_am.silences()} == before  # nothing reached Alertmanager
    locked.close()
    # a set of the real one and one that is down: made where it could be, the failure says so
    down = Alertmanager(f"http://127.0.0.1:{free_port()}", name="down", timeout=2)
    pair = AlertmanagerSet([real_am, down])
    with pytest.raises(Unavailable, match="Alertmanager down .*cannot connect.*the silence was made on real") as err:
        pair.create_silence(*args)
    sid = err.value.done["real"]
    assert next(s for s in real_am.silences() if s.id == sid).state == "active"
    pair.expire_silence(sid, on="real")
    assert next(s for s in real_am.silences() if s.id == sid).state == "expired"


def test_an_unreachable_or_silent_alertmanager_is_unavailable():
    with pytest.raises(Unavailable, match=r"^Alertmanager 127.0.0.1:\d+: cannot connect \(.*refused") as err:
        Alertmanager(f"http://127.0.0.1:{free_port()}").alerts()
    assert "\n" not in err.value.message
    with socket.socket() as quiet:  # the kernel accepts the connection; nobody ever answers
        quiet.bind(("127.0.0.1", 0))
        quiet.listen(8)
        am = Alertmanager(f"http://127.0.0.1:{quiet.getsockname()[1]}", name="quiet", timeout=0.5)
        with pytest.raises(Unavailable, match=r"^Alertmanager quiet \(127.0.0.1:\d+\): no answer in 0.5 s$"):
            am.silences()
    overloaded = Exporter("overloaded", "text/plain")
    overloaded.status = 503
    try:
        with pytest.raises(Unavailable, match="answered HTTP 503: overloaded") as err:
            Alertmanager(overloaded.base).alerts()
        assert err.value.status == 503
    finally:
        overloaded.close()


# ------------------------------------------------------------------------------------------ the simulator's
# The simulator serves an Alertmanager v2 under /alertmanager on its API port (https, its CA), on its own clock:
# a silence starts and ends in simulated time.
def _sim_now(cluster) -> datetime:
    return datetime.fromtimestamp(cluster.call(cluster.sim.clock.now), timezone.utc)


@pytest.fixture(scope="module")
def sim_am(alert_cluster):
    am = Alertmanager(alert_cluster.sim.url + "/alertmanager", name="sim", ca_file=sim_endpoint(alert_cluster)[1])
    yield am
    am.close()


def test_the_simulators_alertmanager_reads_as_its_wire_says(sim_am, alert_cluster):
    ca = sim_endpoint(alert_cluster)[1]
    with httpx.Client(verify=ssl.create_default_context(cafile=ca)) as raw:
        wire = raw.get(alert_cluster.sim.url + "/alertmanager/api/v2/alerts").json()
    alerts = sim_am.alerts()
    assert wire and [a.fingerprint for a in alerts] == [w["fingerprint"] for w in wire] and sim_am.skipped == 0
    for a, w in zip(alerts, wire):
        assert (a.key, a.name, a.labels, a.annotations, a.origins) == (
            "am:" + w["fingerprint"], w["labels"]["alertname"], w["labels"], w["annotations"], ("sim",))
        assert a.severity == {"critical": "critical", "warning": "warning"}.get(w["labels"].get("severity"), "info")
        assert a.summary == w["annotations"].get("summary", "") and a.runbook == w["annotations"].get("runbook_url", "")
        assert a.state == (AlertState.SILENCED if w["status"]["silencedBy"] else AlertState.INHIBITED
                           if w["status"]["inhibitedBy"] else AlertState.FIRING)
        assert a.starts is not None and a.updated is not None
    status = sim_am.status()
    assert (status["version"], status["cluster"]) == ("0.27.0-sim", "disabled")


def test_a_silence_on_the_simulators_alertmanager(sim_am, alert_cluster):
    target = next(a for a in sim_am.alerts() if a.state == AlertState.FIRING)
    now = _sim_now(alert_cluster)
    matchers = [_m(k, v) for k, v in sorted(target.labels.items())]
    sid = sim_am.create_silence(matchers, now, now + timedelta(hours=2), "alice", "INC77 checking")

    def state() -> Alert:
        return next(a for a in sim_am.alerts() if a.key == target.key)
    try:
        silence = next(s for s in sim_am.silences() if s.id == sid)
        assert (silence.state, silence.created_by, silence.comment, silence.origin) == (
            "active", "alice", "INC77 checking", "sim")
        assert sorted(str(m) for m in silence.matchers) == sorted(str(m) for m in matchers)
        assert state().state == AlertState.SILENCED and state().silenced_by == (sid,)
    finally:
        sim_am.expire_silence(sid)
    assert next(s for s in sim_am.silences() if s.id == sid).state == "expired"
    assert state().state == AlertState.FIRING and state().silenced_by == ()
    with pytest.raises(Invalid, match="end time can't be in the past"):
        sim_am.create_silence(matchers, now - timedelta(hours=2), now - timedelta(hours=1), "alice", "INC77")
    with pytest.raises(NotFound, match="no silence 00000000-0000-0000-0000-000000000000"):
        sim_am.expire_silence("00000000-0000-0000-0000-000000000000")
    locked = Alertmanager(sim_am.url, name="sim", ca_file=sim_endpoint(alert_cluster)[1], read_only=True)
    with pytest.raises(ReadOnly):
        locked.create_silence(matchers, now, now + timedelta(hours=1), "alice", "INC77")
    locked.close()


def test_the_simulators_alertmanager_failing(sim_am, alert_cluster):
    alert_cluster.call(alert_cluster.sim.faults.update, {"alertmanager_error": 503})
    try:
        with pytest.raises(Unavailable, match=r"^Alertmanager sim \(127.0.0.1:\d+/alertmanager\) answered HTTP 503"):
            sim_am.alerts()
    finally:
        alert_cluster.call(alert_cluster.sim.faults.update, {"alertmanager_error": 0})
    assert sim_am.alerts()
    wrong_ca = Alertmanager(sim_am.url, name="sim")  # the simulator's certificate, not trusted without its CA
    with pytest.raises(Unavailable, match="cannot connect .*CERTIFICATE_VERIFY_FAILED"):
        wrong_ca.alerts()
    wrong_ca.close()

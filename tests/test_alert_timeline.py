"""The alert timeline (store.AlertTimeline): every alert's fired / silenced / acked / resolved moments in SQLite,
kept across restarts, never resolving what a failed source did not report, browsable and pruned."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

from prophecis_tui.domain import Alert, AlertState, Silence, SilenceMatcher, SystemTag
from prophecis_tui.store import ALERTS_FILE, AlertTimeline

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
FRAUD = SystemTag(id="BS1001", name="反欺诈交易评分", tier=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: float) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timeline(tmp_path, clock):
    t = AlertTimeline(tmp_path / "data" / ALERTS_FILE, clock=clock)
    yield t
    t.close()


def alert(key: str = "am:f1", state: AlertState = AlertState.FIRING, *, origins=("am1",), source="alertmanager",
          name="GPUHighTemperature", **kw) -> Alert:
    kw.setdefault("severity", "critical")
    kw.setdefault("namespace", "ns-antifraud-txn")
    kw.setdefault("target_kind", "Pod")
    kw.setdefault("target_name", "scorer-0")
    kw.setdefault("systems", (FRAUD,))
    kw.setdefault("summary", "GPU 3 at 93C")
    return Alert(key=key, source=source, name=name, state=state, origins=origins, **kw)


def events(entries) -> list[tuple[str, str]]:
    return [(e.event, e.key) for e in entries]


def test_the_file_is_owner_only(timeline):
    assert stat.S_IMODE(os.stat(timeline.path).st_mode) == 0o600


def test_transitions_are_recorded_against_the_last_known_state(timeline, clock):
    a = alert()
    (fired,) = timeline.observe([a])
    assert (fired.event, fired.key, fired.state, fired.at) == ("fired", "am:f1", "firing", T0)
    assert (fired.name, fired.severity, fired.namespace, fired.target) == (
        "GPUHighTemperature", "critical", "ns-antifraud-txn", "Pod ns-antifraud-txn/scorer-0")
    assert fired.systems == (("BS1001", "反欺诈交易评分", 1),) and fired.summary == "GPU 3 at 93C"
    assert timeline.observe([a]) == []  # nothing moved
    clock.tick(1)
    silence = Silence(id="s-1", matchers=(SilenceMatcher(name="alertname", value="GPUHighTemperature"),),
                      created_by="alice", comment="OPS-1234 cooling fixed tonight")
    (s,) = timeline.observe([alert(state=AlertState.SILENCED, silenced_by=("s-1",))], silences={"s-1": silence})
    assert (s.event, s.state, s.by, s.note) == ("silenced", "silenced", "alice", "OPS-1234 cooling fixed tonight")
    clock.tick(1)
    assert events(timeline.observe([a])) == [("unsilenced", "am:f1")]
    assert events(timeline.observe([alert(state=AlertState.INHIBITED)])) == [("inhibited", "am:f1")]
    assert events(timeline.observe([a])) == [("uninhibited", "am:f1")]
    assert timeline.observe([alert(state=AlertState.ACKED)]) == []  # acked is firing; the ack is its own moment
    clock.tick(1)
    assert events(timeline.observe([alert(state=AlertState.RESOLVED)])) == [("resolved", "am:f1")]
    assert timeline.observe([]) == []  # resolved already
    clock.tick(1)
    (again,) = timeline.observe([a])
    assert (again.event, again.state) == ("refired", "firing")
    assert [e.event for e in timeline.history()] == ["fired", "silenced", "unsilenced", "inhibited", "uninhibited",
                                                      "resolved", "refired"]


def test_an_alert_missing_from_a_poll_resolves_only_when_its_source_answered(timeline):
    timeline.observe([alert("am:a", origins=("am1",)), alert("am:b", origins=("am1", "am2")),
                      alert("ev:ns/Pod/p/BackOff", source="events", name="BackOff", origins=()),
                      alert("rule:NodeNotReady//Node/gpu-1", source="platform", name="NodeNotReady", origins=()),
                      alert("rule:GpuQuotaHigh/ns/Namespace/ns", source="platform", name="GpuQuotaHigh", origins=())])
    # am2 failed this poll; the events and the node rule did not answer (their kinds were never listed)
    got = timeline.observe([], answered={"alertmanager:am1", "platform:GpuQuotaHigh"})
    assert events(got) == [("resolved", "am:a"), ("resolved", "rule:GpuQuotaHigh/ns/Namespace/ns")]
    got = timeline.observe([], answered={"alertmanager:am1", "alertmanager:am2", "events"})
    assert events(got) == [("resolved", "am:b"), ("resolved", "ev:ns/Pod/p/BackOff")]
    assert events(timeline.observe([])) == [("resolved", "rule:NodeNotReady//Node/gpu-1")]  # None: all answered


def test_a_restart_does_not_re_fire_what_was_firing(tmp_path, clock):
    path = tmp_path / ALERTS_FILE
    first = AlertTimeline(path, clock=clock)
    first.observe([alert("am:a"), alert("am:b")])
    first.close()
    clock.tick(5)
    second = AlertTimeline(path, clock=clock)
    try:
        got = second.observe([alert("am:a"), alert("am:c")])
        assert events(got) == [("fired", "am:c"), ("resolved", "am:b")]
        assert [k.key for k in second.known(["firing"])] == ["am:c", "am:a"]  # the latest change first
    finally:
        second.close()


def test_an_ack_lasts_until_the_alert_resolves(timeline, clock):
    a = alert()
    timeline.observe([a])
    clock.tick(2)
    e = timeline.ack("am:f1", "alice", "OPS-77 on it", a)
    assert (e.event, e.by, e.note, e.state, e.at, e.name) == ("acked", "alice", "OPS-77 on it", "acked",
                                                               clock.now, "GPUHighTemperature")
    ack = timeline.acks()["am:f1"]
    assert (ack.by, ack.note, ack.at) == ("alice", "OPS-77 on it", clock.now)
    timeline.observe([alert(state=AlertState.ACKED)])
    assert "am:f1" in timeline.acks()  # still firing: still acked
    timeline.observe([])
    assert timeline.acks() == {}  # resolved: the ack ended with it
    timeline.observe([a])
    assert timeline.acks() == {}  # a refire is not acked


def test_an_ack_without_the_alert_names_it_from_the_last_known_state_and_can_be_taken_back(timeline):
    timeline.observe([alert()])
    e = timeline.ack("am:f1", "bob", "INC0042 checking")
    assert (e.name, e.namespace, e.systems) == ("GPUHighTemperature", "ns-antifraud-txn", (("BS1001", "反欺诈交易评分", 1),))
    back = timeline.unack("am:f1", "bob")
    assert back is not None and back.event == "unacked" and timeline.acks() == {}
    assert timeline.unack("am:f1", "bob") is None


def test_history_is_a_window_of_time(timeline, clock):
    timeline.observe([alert("am:a")])
    clock.tick(60)
    timeline.observe([alert("am:a"), alert("am:b")])
    clock.tick(60)
    timeline.observe([alert("am:b")])
    assert events(timeline.history()) == [("fired", "am:a"), ("fired", "am:b"), ("resolved", "am:a")]
    assert events(timeline.history(T0 + timedelta(minutes=30))) == [("fired", "am:b"), ("resolved", "am:a")]
    assert events(timeline.history(T0, T0 + timedelta(minutes=60))) == [("fired", "am:a")]  # until excluded
    assert events(timeline.history(key="am:a")) == [("fired", "am:a"), ("resolved", "am:a")]


def test_prune_forgets_old_entries_and_old_resolved_alerts(timeline, clock):
    timeline.observe([alert("am:old")])
    timeline.observe([])
    clock.tick(60 * 24 * 20)
    timeline.observe([alert("am:new")])
    assert timeline.prune(14) == 2
    assert events(timeline.history()) == [("fired", "am:new")]
    assert [k.key for k in timeline.known()] == ["am:new"]


def test_observe_writes_before_it_returns(tmp_path, clock):
    path = tmp_path / ALERTS_FILE
    writer = AlertTimeline(path, clock=clock)
    reader = AlertTimeline(path, clock=clock)  # another process reading the file (alerts history)
    try:
        writer.observe([alert()])
        writer.ack("am:f1", "alice", "OPS-1 ok")
        assert [e.event for e in reader.history()] == ["fired", "acked"]
    finally:
        writer.close()
        reader.close()

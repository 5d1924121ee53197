"""The alerts poller (feeds.AlertsPoller) and its wiring (app.alerts_poller): the simulator's Alertmanager, the
state's events and the platform rules into the state, tagged, acked, recorded in the timeline; a failing source
keeps its alerts and resolves nothing; an alert gone shows resolved for a while."""

from __future__ import annotations

import json
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from backends.alertmanager import Alertmanager
from backends.cmdb import RestCmdb
from prophecis_tui.app import alerts_poller
from prophecis_tui.config import AlertsSettings
from prophecis_tui.domain import AlertState, Event, Health, JobState, Node, SilenceMatcher, TrainingJob
from prophecis_tui.feeds import AlertsPoller
from prophecis_tui.simulator.cmdb import FIELDS, PATH
from prophecis_tui.state import State
from prophecis_tui.store import AlertTimeline
from tests.conftest import wait_until

AM_PATH = "/alertmanager"


class Sim:
    """The tiny simulated platform, its CA and clock, and what a test builds on it."""

    def __init__(self, cluster, folder: Path) -> None:
        self.cluster = cluster
        self.folder = folder
        cluster.thread.write_config(folder)
        self.ca = str(folder / "ca.crt")
        self.url = cluster.sim.url + AM_PATH
        self.closing: list = []

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.cluster.sim.clock.now(), timezone.utc)

    def am(self, name: str = "", url: str | None = None) -> Alertmanager:
        am = Alertmanager(url or self.url, name=name, ca_file=self.ca, timeout=2.0)
        self.closing.append(am)
        return am

    def systems(self):
        client = RestCmdb(self.cluster.sim.url + PATH, FIELDS, list_key="data", ca_file=self.ca)
        try:
            return client.fetch()
        finally:
            client.close()

    def timeline(self) -> AlertTimeline:
        t = AlertTimeline(self.folder / "alerts.db", clock=self.now)
        self.closing.append(t)
        return t

    def poller(self, state: State, timeline=None, *, ams=None, **kw) -> AlertsPoller:
        kw.setdefault("interval", 60.0)
        return AlertsPoller(state, timeline, alertmanagers=ams if ams is not None else [self.am()], clock=self.now,
                            **kw)

    def fault(self, status: int) -> None:
        self.cluster.call(self.cluster.sim.faults.update, {"alertmanager_error": status})

    def post_alert(self, labels: dict, minutes: float, **annotations) -> None:
        now = self.now()
        body = [{"labels": labels, "annotations": annotations, "startsAt": now.isoformat(),
                 "endsAt": (now + timedelta(minutes=minutes)).isoformat()}]
        r = httpx.post(self.url + "/api/v2/alerts", json=body, verify=ssl.create_default_context(cafile=self.ca),
                       timeout=5)
        assert r.status_code == 200, r.text

    def close(self) -> None:
        for x in self.closing:
            x.close()


@pytest.fixture
def sim(tiny, tmp_path) -> Iterator[Sim]:
    s = Sim(tiny, tmp_path / "sim")
    yield s
    s.close()


def by_name(state: State) -> dict[str, list]:
    out: dict[str, list] = {}
    for a in state.alerts():
        out.setdefault(a.name, []).append(a)
    return out


# ------------------------------------------------------------------------------------------ Alertmanager
def test_alertmanager_alerts_reach_the_state_with_their_targets_and_business_systems(sim):
    state = State()
    state.set_business_systems(sim.systems())
    timeline = sim.timeline()
    p = sim.poller(state, timeline)
    p.poll()
    got = by_name(state)
    (crash,) = got["KubePodCrashLooping"]
    assert crash.target == "Pod ns-risk-scorecard/zhangmin-debug-4e77-0" and crash.node == "gpua100-0001"
    assert [(s.name, s.tier, s.kind) for s in crash.systems] == [
        ("信用评分卡", 2, "namespace"), ("风险管理部机器学习租户", 3, "segment"), ("GPU训练资源池", 2, "node")]
    hot = {a.node: a for a in got["GPUHighTemperature"]}
    assert hot["gpua100-0001"].target == "Node gpua100-0001"
    assert [s.name for s in hot["gpua100-0001"].systems] == ["GPU训练资源池"]
    assert hot["gpuv100-0002"].systems == ()  # no system owns that node (and no pods known on it): untagged, kept
    (watchdog,) = got["Watchdog"]
    assert watchdog.severity == "info" and watchdog.systems == () and watchdog.origins == (p.alertmanagers[0].name,)
    assert state.source_health("alertmanager").state == Health.LIVE
    assert {e.event for e in timeline.history()} == {"fired"} and len(timeline.history()) == 4
    assert {a.name for a in state.take_new_alerts()} == {"KubePodCrashLooping", "GPUHighTemperature", "Watchdog"}
    p.poll()
    assert state.take_new_alerts() == [] and len(timeline.history()) == 4  # nothing moved


def test_a_silence_shows_the_alert_silenced_and_the_timeline_says_who_and_why(sim):
    state, timeline = State(), sim.timeline()
    p = sim.poller(state, timeline)
    p.poll()
    am = p.alertmanagers[0]
    now = sim.now()
    sid = am.create_silence([SilenceMatcher(name="alertname", value="Watchdog")], now, now + timedelta(hours=2),
                            "alice", "OPS-4711 pipeline check muted during the upgrade")
    p.poll()
    (w,) = by_name(state)["Watchdog"]
    assert w.state == AlertState.SILENCED and w.silenced_by == (sid,)
    assert [(s.id, s.created_by, s.origin) for s in state.silences()] == [(sid, "alice", am.name)]
    last = timeline.history()[-1]
    assert (last.event, last.name, last.by, last.note) == ("silenced", "Watchdog", "alice",
                                                           "OPS-4711 pipeline check muted during the upgrade")
    am.expire_silence(sid)
    p.poll()
    assert by_name(state)["Watchdog"][0].state == AlertState.FIRING
    assert timeline.history()[-1].event == "unsilenced"
    assert state.take_new_alerts() and not state.take_new_alerts()  # unsilenced is no new alert to ring for


def test_a_failing_alertmanager_keeps_its_alerts_and_resolves_nothing(sim):
    state, timeline = State(), sim.timeline()
    p = sim.poller(state, timeline)
    p.poll()
    before = {a.key for a in state.alerts()}
    sim.fault(503)
    p.poll()
    h = state.source_health("alertmanager")
    assert h.state == Health.STALE and "503" in h.reason and p.alertmanagers[0].name in h.reason
    assert {a.key for a in state.alerts() if a.state == AlertState.FIRING} == before
    assert [e.event for e in timeline.history()] == ["fired"] * 4
    assert state.source_health("alerts").state != Health.FAILING
    sim.fault(0)
    p.poll()
    assert state.source_health("alertmanager").state == Health.LIVE


def test_an_alertmanager_that_never_answered_is_failing(sim):
    state = State()
    p = sim.poller(state, ams=[sim.am("down", "http://127.0.0.1:9/alertmanager")])
    p.poll()
    h = state.source_health("alertmanager")
    assert h.state == Health.FAILING and h.reason.startswith("Alertmanager down")


def test_an_ha_pair_shows_each_alert_once_and_one_member_down_loses_nothing(sim):
    state, timeline = State(), sim.timeline()
    pair = [sim.am("am-0"), sim.am("am-1")]
    p = sim.poller(state, timeline, ams=pair)
    p.poll()
    alerts = state.alerts()
    assert len(alerts) == 4 and all(a.origins == ("am-0", "am-1") for a in alerts)
    p.alertmanagers[1] = sim.am("am-1", "http://127.0.0.1:9/alertmanager")  # its host is gone
    p.poll()
    assert len(state.alerts()) == 4 and all(a.state == AlertState.FIRING for a in state.alerts())
    h = state.source_health("alertmanager")
    assert h.state == Health.STALE and "am-1" in h.reason and "(1 of 2 answering)" in h.reason
    assert "resolved" not in {e.event for e in timeline.history()}


def test_an_alert_gone_shows_resolved_for_a_while_then_leaves(sim):
    state, timeline = State(), sim.timeline()
    p = sim.poller(state, timeline, resolved_minutes=5)
    sim.post_alert({"alertname": "ModelLatencyHigh", "severity": "critical", "namespace": "ns-antifraud-txn",
                    "seldon_deployment_id": "fraud-xgb-svc-1"}, minutes=1, summary="p99 latency 2.3 s")
    p.poll()
    (a,) = by_name(state)["ModelLatencyHigh"]
    assert a.state == AlertState.FIRING and a.target == "SeldonDeployment ns-antifraud-txn/fraud-xgb-svc-1"
    assert a.summary == "p99 latency 2.3 s"
    sim.cluster.advance(120)  # its endsAt passes: the Alertmanager no longer lists it
    p.poll()
    (gone,) = by_name(state)["ModelLatencyHigh"]
    assert gone.state == AlertState.RESOLVED and gone.ends == sim.now()
    assert [e.event for e in timeline.history(key=a.key)] == ["fired", "resolved"]
    sim.cluster.advance(4 * 60)
    p.poll()
    assert "ModelLatencyHigh" in by_name(state)  # 4 minutes after: still shown
    sim.cluster.advance(2 * 60)
    p.poll()
    assert "ModelLatencyHigh" not in by_name(state)
    assert [e.event for e in timeline.history(key=a.key)] == ["fired", "resolved"]


# ------------------------------------------------------------------------------------------ events and rules
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


def test_events_and_platform_rules_come_from_the_state_and_resolve_when_their_condition_goes(tmp_path):
    state = State()
    clock = {"now": NOW}
    timeline = AlertTimeline(tmp_path / "alerts.db", clock=lambda: clock["now"])
    try:
        for kind in ("pods", "notebooks", "deployments", "quotas", "nodes"):
            state.replace(kind, kind, [])
        state.replace("events", "events", [Event(
            uid="e1", namespace="ns-a-b", name="p.1", type="Warning", reason="FailedScheduling",
            message="0/8 nodes are available: 8 Insufficient nvidia.com/gpu.", object_kind="Pod", object_name="p",
            count=3, first=NOW - timedelta(minutes=3), last=NOW - timedelta(minutes=1))])
        job = TrainingJob(uid="j", namespace="ns-a-b", name="mnist", kind="PyTorchJob", state=JobState.FAILED,
                          reason="NCCL timeout", finished=NOW - timedelta(minutes=2))
        state.replace("pytorchjobs", "trainingjobs", [job])
        p = AlertsPoller(state, timeline, clock=lambda: clock["now"])
        p.poll()
        got = {a.name: a for a in state.alerts()}
        assert set(got) == {"FailedScheduling", "TrainingJobFailed"}
        assert got["FailedScheduling"].count == 3 and got["FailedScheduling"].source == "events"
        assert got["TrainingJobFailed"].summary == "PyTorchJob ns-a-b/mnist failed: NCCL timeout"
        assert state.source_health("alerts").state == Health.LIVE
        assert state.health().get("alertmanager") is None  # none configured: no such source
        state.replace("pytorchjobs", "trainingjobs", [])  # deleted
        clock["now"] += timedelta(minutes=1)
        p.poll()
        got = {a.name: a for a in state.alerts()}
        assert got["TrainingJobFailed"].state == AlertState.RESOLVED
        assert got["FailedScheduling"].state == AlertState.FIRING
        assert [e.event for e in timeline.history()] == ["fired", "fired", "resolved"]
    finally:
        timeline.close()


def test_a_kind_never_listed_resolves_none_of_its_rules_alerts(tmp_path):
    """A console restarted before the nodes are listed (or a user who may not list them) must not resolve the
    NodeNotReady alert the timeline knows is firing."""
    timeline = AlertTimeline(tmp_path / "alerts.db", clock=lambda: NOW)
    try:
        state = State()
        state.replace("nodes", "nodes", [Node(name="gpu-1", uid="n", ready=False, created=NOW - timedelta(days=1))])
        AlertsPoller(state, timeline, clock=lambda: NOW).poll()
        assert [(e.event, e.name) for e in timeline.history()] == [("fired", "NodeNotReady")]
        AlertsPoller(State(), timeline, clock=lambda: NOW).poll()  # a restart: nothing listed yet
        assert [e.event for e in timeline.history()] == ["fired"]
    finally:
        timeline.close()


def test_acks_from_the_timeline_are_applied(sim):
    state, timeline = State(), sim.timeline()
    p = sim.poller(state, timeline)
    p.poll()
    (w,) = by_name(state)["Watchdog"]
    timeline.ack(w.key, "bob", "INC0042 known, pipeline fine", w)
    p.poll()
    (acked,) = by_name(state)["Watchdog"]
    assert (acked.state, acked.ack_by, acked.ack_note) == (AlertState.ACKED, "bob", "INC0042 known, pipeline fine")


# ------------------------------------------------------------------------------------------ the thread, the wiring
def test_the_builder_reads_the_demo_config_and_refresh_polls_at_once(sim):
    state, timeline = State(), sim.timeline()
    p = alerts_poller(AlertsSettings(refresh_seconds=60), state, timeline, demo_dir=str(sim.folder), clock=sim.now)
    try:
        assert p.alertmanager_set is not None and p.alertmanager_set.names == [sim.url.split("//")[1]]
        wait_until(lambda: p.polls >= 1 and state.alerts(), what="the first round")
        assert state.source_health("alerts").state == Health.LIVE
        p.refresh()
        wait_until(lambda: p.polls >= 2, timeout=5, what="a round at once after refresh()")
    finally:
        p.stop()
        p.join(5)
    assert not p._thread.is_alive()


def test_the_builder_without_alertmanagers_still_polls_events_and_rules():
    state = State()
    p = alerts_poller(AlertsSettings(refresh_seconds=60), state, None)
    try:
        assert p.alertmanager_set is None and p.alertmanagers == []
        wait_until(lambda: p.polls >= 1, what="the first round")
    finally:
        p.stop()
        p.join(5)
    assert alerts_poller(None, state, None) is None


def test_the_written_config_names_the_simulators_alertmanager(sim):
    text = (sim.folder / "config.toml").read_text()
    assert f"alertmanagers = [{json.dumps(sim.url)}]" in text


def test_the_written_config_alone_reaches_the_simulators_alertmanager_over_tls(sim):
    """`prophecis-tui --config DIR/config.toml` (not --demo): the [alerts] section names the Alertmanager and the
    CA that signed the simulator's certificate; with the URL alone, every round failed on the certificate and the
    wall showed its alerts dead."""
    from prophecis_tui.config import load_settings
    settings = load_settings(sim.folder / "config.toml", env={"HOME": str(sim.folder)}).for_context("sim-admin")
    state = State()
    p = alerts_poller(settings.alerts, state, sim.timeline(), clock=sim.now)  # no demo_dir
    try:
        wait_until(lambda: p.polls >= 2, what="two rounds")
        assert state.source_health("alerts").state == Health.LIVE, state.source_health("alerts")
        assert "Watchdog" in by_name(state)  # the Alertmanager's own alert: it was read
    finally:
        p.stop()
        p.join(5)

"""The alert actions (prophecis_tui.alert_actions) through the action registry: a silence on the simulator's
Alertmanager (its checks, the exact call confirmed, read-only and RBAC refusals audited with nothing sent),
expiring it, and a local acknowledgement in the timeline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from backends.alertmanager import Alertmanager, AlertmanagerSet
from backends.kubernetes import Kubernetes
from prophecis_tui.actions import Actions, NeedsConfirmation, Target
from prophecis_tui.alert_actions import alert_actions, parse_duration, silence_matchers_for
from prophecis_tui.config import AlertsSettings
from prophecis_tui.domain import Alert, Forbidden, Invalid, ReadOnly, SilenceMatcher
from prophecis_tui.store import AlertTimeline, AuditLog
from tests.conftest import CONTEXTS

NS = "ns-risk-scorecard"  # the group admin's own namespace
OTHER_NS = "prophecis"  # the platform's own: not the group admin's
GOOD = {"matchers": [{"name": "alertname", "value": "Watchdog", "is_regex": False, "is_equal": True}],
        "duration": "2h", "comment": "OPS-4711 muted during the pipeline upgrade"}


def specs(**kw):
    return {s.id: s for s in alert_actions(AlertsSettings(**kw))}


# ------------------------------------------------------------------------------------------ checks (no server)
@pytest.mark.parametrize("change, says", [
    ({"matchers": []}, "a silence needs at least one matcher"),
    ({"matchers": "alertname=x"}, "matchers must be a list"),
    ({"matchers": [{"name": "", "value": "x"}]}, 'matcher ="x": a matcher needs a label name'),
    ({"matchers": [{"name": "pod", "value": "scorer-(", "is_regex": True}]}, "the regular expression does not compile"),
    ({"matchers": [{"name": "alertname", "value": ".*", "is_regex": True},
                   {"name": "severity", "value": "info", "is_equal": False}]}, "at least one equality matcher"),
    ({"duration": "30s"}, "a silence lasts at least 1 minute (30s asked)"),
    ({"duration": "31d"}, "a silence lasts at most 30 days (31d asked)"),
    ({"duration": "two hours"}, "is not a duration: write 30m, 2h, 1d or 1h30m"),
    ({"comment": ""}, "a silence needs a comment with a ticket reference such as OPS-1234, INC0012345 or #123"),
    ({"comment": "muting it, it is noisy"},
     "the comment needs a ticket reference such as OPS-1234, INC0012345 or #123: none found in 'muting it, it is noisy'"),
])
def test_a_silence_is_refused_before_anything_is_sent(change, says):
    why = specs()["silence.create"].validate(Target("Alert", NS, "Watchdog"), {**GOOD, **change})
    assert says in why


def test_the_ticket_reference_follows_the_config():
    s = specs(ticket_pattern=r"CHG\d{6}")["silence.create"]
    assert "a ticket reference (text matching CHG\\d{6})" in s.validate(Target("Alert", NS, "x"), GOOD)
    assert s.validate(Target("Alert", NS, "x"), {**GOOD, "comment": "per CHG004711"}) == ""
    for comment in ("INC0012345 page storm", "see #123", "RISK-77 maintenance"):
        assert specs()["silence.create"].validate(Target("Alert", NS, "x"), {**GOOD, "comment": comment}) == ""


def test_durations_and_the_prefilled_matchers():
    assert parse_duration("1h30m") == timedelta(minutes=90) and parse_duration("1d") == timedelta(days=1)
    assert parse_duration("2 h") == timedelta(hours=2) and parse_duration("2x") is None and parse_duration("") is None
    a = Alert(key="am:1", source="alertmanager", name="KubePodCrashLooping",
              labels={"alertname": "KubePodCrashLooping", "namespace": NS, "pod": "scorer-0", "node": "gpu-1",
                      "container": "main"})
    assert [str(m) for m in silence_matchers_for(a)] == ['alertname="KubePodCrashLooping"', f'namespace="{NS}"',
                                                         'pod="scorer-0"']
    node = Alert(key="am:2", source="alertmanager", name="KubeNodeNotReady",
                 labels={"alertname": "KubeNodeNotReady", "node": "gpu-1"})
    assert [str(m) for m in silence_matchers_for(node)] == ['alertname="KubeNodeNotReady"', 'node="gpu-1"']


def test_an_ack_needs_a_note():
    assert specs()["alert.ack"].validate(Target("Alert", NS, "am:1"), {"note": "  "}) == (
        "an acknowledgement needs a note (what you are doing about it)")


# ------------------------------------------------------------------------------------------ against the simulator
class Rig:
    def __init__(self, cluster, tmp) -> None:
        self.cluster = cluster
        folder = tmp / "sim"
        cluster.thread.write_config(folder)
        self.kubeconfig = str(folder / "kubeconfig")
        self.ca = str(folder / "ca.crt")
        self.audit = AuditLog(tmp / "data" / "audit.db")
        self.timeline = AlertTimeline(tmp / "data" / "alerts.db")
        self.closing: list = [self.audit, self.timeline]
        self.am = self._am()  # what the test reads the Alertmanager with
        self.refreshed = 0

    def _am(self, read_only: bool = False) -> Alertmanager:
        am = Alertmanager(self.cluster.sim.url + "/alertmanager", ca_file=self.ca, read_only=read_only)
        self.closing.append(am)
        return am

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.cluster.sim.clock.now(), timezone.utc)

    def actions(self, role: str = "admin", *, read_only: bool = False, alertmanager: bool = True) -> Actions:
        backend = Kubernetes.from_kubeconfig(self.kubeconfig, CONTEXTS[role], read_only=read_only)
        self.closing.append(backend)
        identity = backend.identity()
        ams = AlertmanagerSet([self._am(read_only)]) if alertmanager else None
        backends = {"timeline": self.timeline, **({"alertmanager": ams} if ams else {})}
        acts = Actions(backend, self.audit, identity, read_only=read_only, clock=self.now, backends=backends)

        def refresh() -> None:
            self.refreshed += 1
        for spec in alert_actions(AlertsSettings(), alertmanagers=ams, identity=identity, refresh=refresh,
                                  clock=self.now):
            acts.register(spec)
        return acts

    def records(self, action: str):
        return [r for r in self.audit.records() if r.action == action]

    def close(self) -> None:
        for x in self.closing:
            x.close()


@pytest.fixture
def rig(tiny, tmp_path) -> Iterator[Rig]:
    r = Rig(tiny, tmp_path)
    yield r
    r.close()


def test_a_silence_is_confirmed_with_the_exact_call_then_made_and_audited(rig):
    acts = rig.actions("admin")
    target = Target("Alert", "", "Watchdog")
    with pytest.raises(NeedsConfirmation) as ask:
        acts.run("silence.create", target, params=GOOD)
    now = rig.now()
    user = acts.identity.user
    assert ask.value.call == (
        f"POST {rig.cluster.sim.url}/alertmanager/api/v2/silences "
        '{"matchers":[{"name":"alertname","value":"Watchdog","isRegex":false,"isEqual":true}],'
        f'"startsAt":"{now:%Y-%m-%dT%H:%M:%S}.000Z","endsAt":"{now + timedelta(hours=2):%Y-%m-%dT%H:%M:%S}.000Z",'
        f'"createdBy":"{user}","comment":"OPS-4711 muted during the pipeline upgrade"}}')
    assert rig.am.silences() == []  # nothing sent before the confirmation
    res = acts.run("silence.create", target, params=GOOD, confirmed=True)
    assert res.ok, res.message
    (s,) = rig.am.silences()
    assert (s.created_by, s.comment, s.state) == (user, "OPS-4711 muted during the pipeline upgrade", "active")
    assert [str(m) for m in s.matchers] == ['alertname="Watchdog"'] and s.ends == now + timedelta(hours=2)
    assert s.id in res.message and res.details["silence_ids"] == {rig.am.name: s.id}
    assert rig.refreshed == 1
    before, after = rig.records("silence.create")
    assert (before.phase, after.phase, after.outcome) == ("before", "after", "ok")
    assert after.params == {"matchers": ['alertname="Watchdog"'], "duration": "2h",
                            "comment": "OPS-4711 muted during the pipeline upgrade", "alertmanagers": "all"}
    assert s.id in after.message and after.target == "Alert//Watchdog"
    # expire it
    with pytest.raises(NeedsConfirmation) as ask:
        acts.run("silence.expire", Target("Silence", "", s.id), params={"silence_id": s.id,
                                                                        "alertmanager": rig.am.name})
    assert ask.value.call == f"DELETE {rig.cluster.sim.url}/alertmanager/api/v2/silence/{s.id}"
    res = acts.run("silence.expire", Target("Silence", "", s.id),
                   params={"silence_id": s.id, "alertmanager": rig.am.name}, confirmed=True)
    assert res.ok and rig.am.silences()[0].state == "expired" and rig.refreshed == 2
    assert rig.records("silence.expire")[-1].outcome == "ok"


def test_a_refused_silence_is_audited_and_never_reaches_the_alertmanager(rig):
    acts = rig.actions("admin")
    with pytest.raises(Invalid) as err:
        acts.run("silence.create", Target("Alert", NS, "KubePodCrashLooping"),
                 params={**GOOD, "comment": "noisy"}, confirmed=True)
    assert "ticket reference" in str(err.value)
    (r,) = rig.records("silence.create")
    assert r.outcome == "refused" and "ticket reference" in r.message and r.params["comment"] == "noisy"
    assert rig.am.silences() == []


def test_read_only_refuses_silences_and_acks(rig):
    acts = rig.actions("admin", read_only=True)
    with pytest.raises(ReadOnly):
        acts.run("silence.create", Target("Alert", NS, "Watchdog"), params=GOOD, confirmed=True)
    with pytest.raises(ReadOnly):
        acts.run("alert.ack", Target("Alert", NS, "am:1"), params={"note": "OPS-1 looking"})
    assert [r.outcome for r in rig.audit.records()] == ["refused", "refused"]
    assert rig.am.silences() == [] and rig.timeline.acks() == {}
    # the second lock: the Alertmanager client built read-only refuses on its own
    ro = AlertmanagerSet([rig._am(read_only=True)])
    with pytest.raises(ReadOnly):
        ro.create_silence([SilenceMatcher(name="alertname", value="Watchdog")], rig.now(),
                          rig.now() + timedelta(hours=1), "x", "OPS-1")


def test_the_viewer_may_not_silence_and_the_group_admin_only_in_its_namespaces(rig):
    viewer = rig.actions("viewer")
    assert not viewer.permission("silence.create", Target("Alert", NS, "x")).allowed
    with pytest.raises(Forbidden) as err:
        viewer.run("silence.create", Target("Alert", NS, "KubePodCrashLooping"), params=GOOD, confirmed=True)
    assert "may not create silences in " + NS in str(err.value)
    assert rig.records("silence.create")[-1].outcome == "refused"
    ga = rig.actions("group-admin")
    assert ga.permission("silence.create", Target("Alert", NS, "x")).allowed
    assert ga.permission("silence.expire", Target("Silence", NS, "x")).allowed
    assert not ga.permission("silence.create", Target("Alert", OTHER_NS, "x")).allowed
    assert not ga.permission("silence.create", Target("Alert", "", "Watchdog")).allowed  # cluster scope
    assert rig.am.silences() == []
    # an ack is local: the viewer may take an alert in hand (no RBAC to ask)
    assert viewer.permission("alert.ack", Target("Alert", NS, "am:1")).allowed


def test_without_an_alertmanager_the_silence_actions_say_so(rig):
    acts = rig.actions("admin", alertmanager=False)
    p = acts.permission("silence.create", Target("Alert", NS, "x"))
    assert not p.allowed and p.reason == "no alertmanager configured"
    assert acts.permission("alert.ack", Target("Alert", NS, "am:1")).allowed


def test_an_ack_goes_to_the_timeline_with_who_and_the_note(rig):
    acts = rig.actions("group-admin")
    alert = Alert(key="am:abc", source="alertmanager", name="KubePodCrashLooping", namespace=NS,
                  target_kind="Pod", target_name="scorer-0")
    with pytest.raises(Invalid):
        acts.run("alert.ack", Target("Alert", NS, alert.key), params={"note": ""})
    res = acts.run("alert.ack", Target("Alert", NS, alert.key), params={"note": "OPS-12 restarting it", "alert": alert})
    assert res.ok and res.message == f"KubePodCrashLooping acknowledged by {acts.identity.user}: OPS-12 restarting it"
    ack = rig.timeline.acks()[alert.key]
    assert (ack.by, ack.note) == (acts.identity.user, "OPS-12 restarting it")
    (entry,) = rig.timeline.history()
    assert (entry.event, entry.target, entry.by) == ("acked", f"Pod {NS}/scorer-0", acts.identity.user)
    refused, before, after = rig.records("alert.ack")
    assert refused.outcome == "refused" and after.outcome == "ok"
    assert after.params == {"note": "OPS-12 restarting it"}  # the alert object itself is not written down
    assert rig.refreshed == 1

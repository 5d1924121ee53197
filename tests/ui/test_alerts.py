"""The alerts screen (`:alerts`), its actions, the header's firing counts and the new-alert notification.

Screen tests put crafted alerts into the state (deterministic: the small world's own objects, tagged by the
simulator's CMDB through the engine's Tagger); the end-to-end tests run the alerts poller against the
simulator's Alertmanager (`console.alerts = True`) and check what reached it and the audit trail.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from rich.cells import cell_len
from textual.widgets import Checkbox, Input

from prophecis_tui import alerts as engine
from prophecis_tui.actions import Target
from prophecis_tui.app import alert_notice, osc9
from prophecis_tui.domain import Alert, AlertState, JobState, Silence, SilenceMatcher
from prophecis_tui.sanitize import clean_line
from screens.alerts import AlertRow, AlertsScreen, AlertTable, GroupRow, NodePodsScreen
from screens.deployments import DeploymentsScreen
from screens.jobs import JobsScreen
from screens.logs import LogScreen
from screens.modals import AskValue, ConfirmAction
from screens.pods import PodsScreen, owned_by
from screens.silence_form import SilenceForm
from tests.conftest import START
from widgets.key_bar import KeyBar

from .test_console import header, settle

START_DT = datetime.fromtimestamp(START, timezone.utc)


def _at(minutes_ago: float) -> datetime:
    return START_DT - timedelta(minutes=minutes_ago)


def am(name: str, severity: str, labels: dict[str, str], *, summary: str = "", minutes: float = 10,
       state: AlertState = AlertState.FIRING, fp: str = "", **kw) -> Alert:
    """An Alertmanager alert as the client builds it (the engine then reads its target from the labels)."""
    fp = fp or hashlib.sha256(repr((name, sorted(labels.items()))).encode()).hexdigest()[:16]
    kw.setdefault("annotations", {"summary": summary} if summary else {})
    kw.setdefault("description", kw["annotations"].get("description", ""))  # as the client reads them
    kw.setdefault("runbook", kw["annotations"].get("runbook_url", ""))
    return Alert(key=f"am:{fp}", source="alertmanager", name=name, severity=severity, state=state,
                 summary=summary, labels={"alertname": name, "severity": severity, **labels},
                 starts=_at(minutes), fingerprint=fp, origins=("sim",), receivers=("oncall",), **kw)


def crafted_alerts(state) -> list[Alert]:
    """A spread of alerts on the small world's own objects: every severity and state, every kind of target,
    tagged with the simulator's CMDB systems (Chinese names, tiers 1-4), a node-level one, an untagged one."""
    pods = sorted(state.pods(), key=lambda p: (p.namespace, p.name))
    deps = sorted(state.deployments(), key=lambda d: (d.namespace, d.name))
    jobs = sorted(state.training_jobs(), key=lambda j: (j.namespace, j.name))
    nbs = sorted(state.notebooks(), key=lambda n: (n.namespace, n.name))
    gpu_node = sorted((n for n in state.nodes() if n.gpu_capacity), key=lambda n: n.name)[0]
    dep = next(d for d in deps if d.namespace.startswith("ns-antifraud")) if any(
        d.namespace.startswith("ns-antifraud") for d in deps) else deps[0]
    nb_pod = next(p for p in pods if any(owned_by(p, "notebook", n.name) for n in nbs if n.namespace == p.namespace))
    nb = next(n for n in nbs if n.namespace == nb_pod.namespace and owned_by(nb_pod, "notebook", n.name))
    failed = next((j for j in jobs if j.state == JobState.FAILED), jobs[0])
    pod = next(p for p in pods if p.namespace.startswith("ns-risk"))
    out = [
        am("SeldonDeploymentUnavailable", "critical",
           {"namespace": dep.namespace, "seldon_deployment_id": dep.name},
           summary=f"model {dep.name} has no ready replica", minutes=25,
           annotations={"summary": f"model {dep.name} has no ready replica",
                        "description": "the predictor's pods fail their readiness probe",
                        "runbook_url": "https://wiki.example/runbooks/seldon-unavailable"}),
        am("KubePodCrashLooping", "warning", {"namespace": nb_pod.namespace, "pod": nb_pod.name, "container": "main"},
           summary=f"pod {nb_pod.name} restarts (5 in 10 min)", minutes=42),
        Alert(key=f"rule:TrainingJobFailed/{failed.namespace}/{failed.kind}/{failed.name}", source="platform",
              name="TrainingJobFailed", severity="critical", summary=f"{failed.kind} {failed.name} failed",
              namespace=failed.namespace, target_kind=failed.kind, target_name=failed.name, starts=_at(95)),
        am("GPUHighTemperature", "warning", {"Hostname": gpu_node.name, "gpu": "3", "modelName": gpu_node.gpu_model},
           summary=f"GPU 3 on {gpu_node.name} at 87°C", minutes=7),
        am("KubePodNotReady", "warning", {"namespace": pod.namespace, "pod": pod.name},
           summary=f"pod {pod.name} not ready for 15 minutes", minutes=16, state=AlertState.SILENCED,
           silenced_by=("5f0c7a52-6a54-4c43-9d8e-2f6a3c1b9e01",)),
        am("CPUThrottlingHigh", "info", {"namespace": pod.namespace, "pod": pod.name, "container": "main"},
           summary="38% throttling", minutes=180, state=AlertState.ACKED, ack_by="lihua",
           ack_note="INC20261129 looking into the limits", ack_at=_at(30)),
        am("KubeJobFailed", "warning", {"namespace": "kube-system", "job_name": "etcd-backup"},
           summary="a cluster job failed", minutes=300),
        am("GPUMemoryPressure", "warning", {"namespace": nb.namespace, "notebook": nb.name},
           summary="GPU memory above 95%", minutes=60, state=AlertState.RESOLVED, ends=_at(5)),
    ]
    alerts = [engine.enrich(a) for a in out]
    tagger = engine.Tagger(state.business_systems())
    return tagger.tag(alerts, engine.node_namespaces(state.pods()))


def crafted_silences() -> list[Silence]:
    return [Silence(id="5f0c7a52-6a54-4c43-9d8e-2f6a3c1b9e01",
                    matchers=(SilenceMatcher(name="alertname", value="KubePodNotReady"),),
                    starts=_at(16), ends=_at(-104), created_by="wangfang", comment="OPS-17 node drain in progress",
                    origin="sim")]


# ------------------------------------------------------------------------------------------ helpers
class StubPoller:
    """Stands in for the alerts poller where a test puts crafted alerts in the state itself: the header counts
    and the overview's panel show (they do when a session has a poller)."""

    refreshed = 0

    def refresh(self) -> None:
        self.refreshed += 1

    def stop(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass


def with_crafted(console, *, poller: bool = True, **kw):
    """A console on the small world with the simulator's CMDB, the crafted alerts and silences in its state."""
    console.cmdb = True
    app = console.app(**kw)
    state = app.session.state
    state.set_alerts(crafted_alerts(state))
    state.set_silences(crafted_silences())
    if poller:
        app.session.alerts = StubPoller()
    return app


async def open_alerts(pilot, app, command: str = "alerts") -> AlertTable:
    app.run_command(command)
    await settle(pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.table.row_count > 0
                 and app.screen.context is not None)
    return app.screen.table


def rows(app) -> list:
    return list(app.screen.table.rows)


def alert_rows(app) -> list[AlertRow]:
    return [r for r in rows(app) if isinstance(r, AlertRow)]


def detail(app) -> str:
    return str(app.screen.query_one("#detail").render())


def summary(app) -> str:
    return str(app.screen.query_one("#summary").render())


async def cursor_to(pilot, app, pred) -> AlertRow:
    r = next(r for r in alert_rows(app) if pred(r.alert))
    app.screen.table.select_uid(r.uid)
    await pilot.pause()
    return r


# ------------------------------------------------------------------------------------------ the list
async def test_alerts_are_grouped_by_business_system_tier_first_untagged_last(console):
    app = with_crafted(console)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await open_alerts(pilot, app)
        groups = [r for r in rows(app) if isinstance(r, GroupRow)]
        tiers = [g.system.tier for g in groups if g.system is not None]
        assert tiers == sorted(tiers) and tiers[0] == 1
        assert groups[-1].system is None and rows(app)[-1].system is None  # untagged last, with its alerts
        # every alert is shown, an alert of several systems under each of them; none dropped
        shown = {r.alert.key for r in alert_rows(app)}
        assert shown == {a.key for a in app.session.state.alerts()}
        node_alert = next(a for a in app.session.state.alerts() if a.target_kind == "Node")
        assert len(node_alert.systems) >= 2  # a node-level alert: every system with pods on the node
        assert sum(r.alert.key == node_alert.key for r in alert_rows(app)) == len(node_alert.systems)
        # within a group: the most severe first
        order = {"critical": 0, "warning": 1, "info": 2}
        for g in groups:
            members = [r.alert for r in alert_rows(app) if r.group == g.uid]
            assert [order[a.severity] for a in members] == sorted(order[a.severity] for a in members)
        # the header rows' parts line up across groups whatever the names' widths (Chinese: two cells each)
        texts = table.row_texts()
        heads = [texts[i] for i, r in enumerate(rows(app)) if isinstance(r, GroupRow) and r.system is not None]
        assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in heads)
        tier_at = {cell_len(t[:t.index(f"T{g.system.tier}")]) for t, g in
                   zip(heads, [g for g in groups if g.system is not None])}
        assert len(tier_at) == 1
        alerts_at = {cell_len(t[:t.index(" alert")]) for t in heads}
        assert len(alerts_at) == 1
        # and the alerts' columns: each row's alert name and state start at the same cell
        lines = [(texts[i], r.alert) for i, r in enumerate(rows(app)) if isinstance(r, AlertRow)]
        assert len({cell_len(t[:t.index(a.name[:10])]) for t, a in lines}) == 1
        assert len({cell_len(t[:t.rindex(a.state.value)]) for t, a in lines}) == 1
        # the first list puts the cursor on the first alert, not on its header; the severity shows in colour
        assert isinstance(table.current, AlertRow) and table.current.alert.severity == "critical"
        assert "▲ 2 crit 3 warn" in summary(app)


async def test_filter_by_keys_and_by_the_slash_syntax(console):
    app = with_crafted(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        everything = {r.alert.key for r in alert_rows(app)}
        await pilot.press("f")  # severity: critical only
        await settle(pilot, lambda: alert_rows(app) and all(r.alert.severity == "critical" for r in alert_rows(app)))
        assert "sev critical" in summary(app)
        await pilot.press("f")  # warning and above
        await settle(pilot, lambda: {r.alert.severity for r in alert_rows(app)} == {"critical", "warning"})
        await pilot.press("f")  # all again
        await settle(pilot, lambda: {r.alert.key for r in alert_rows(app)} == everything)
        await pilot.press("t", "t")  # state: open, then firing
        await settle(pilot, lambda: {r.alert.state for r in alert_rows(app)} == {AlertState.FIRING})
        assert "state firing" in summary(app)
        await pilot.press("t", "t", "t", "t")  # acked, muted, resolved, all
        await settle(pilot, lambda: {r.alert.key for r in alert_rows(app)} == everything)
        # `/`: the engine's syntax, through the app's filter bar
        await pilot.press("slash", *"sys:反欺诈 sev:critical", "enter")
        await settle(pilot, lambda: app.screen.filter_text == "sys:反欺诈 sev:critical" and alert_rows(app)
                     and all(r.alert.severity == "critical" and any("反欺诈" in s.name for s in r.alert.systems)
                             for r in alert_rows(app)))
        assert "filter: sys:反欺诈 sev:critical" in summary(app)
        app.screen.set_filter("state:silenced")
        await settle(pilot, lambda: {r.alert.name for r in alert_rows(app)} == {"KubePodNotReady"})
        app.screen.set_filter("etcd-backup")  # free text: the target
        await settle(pilot, lambda: {r.alert.name for r in alert_rows(app)} == {"KubeJobFailed"})
        app.screen.set_filter("sev:bogus")
        await settle(pilot, lambda: "not a severity" in summary(app))
        app.screen.set_filter("nothing-has-this")
        await settle(pilot, lambda: not rows(app))
        assert "no alerts match" in detail(app)


async def test_the_detail_shows_text_silence_ack_the_cmdb_rule_and_the_affected_workloads(console):
    app = with_crafted(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        r = await cursor_to(pilot, app, lambda a: a.name == "SeldonDeploymentUnavailable")
        text = detail(app)
        a = r.alert
        assert "has no ready replica" in text and "readiness probe" in text
        assert "runbook https://wiki.example/runbooks/seldon-unavailable" in text
        assert "source alertmanager (sim)" in text
        for s in a.systems:  # each system: its Chinese name, tier, the CMDB rule that matched, owner and on-call
            assert s.name in text and s.rule in text and s.oncall in text
        dep = next(d for d in app.session.state.deployments(a.namespace) if d.name == a.target_name)
        assert f"SeldonDeployment {a.namespace}/{dep.name}" in text
        pods = [p for p in app.session.state.pods(a.namespace) if owned_by(p, "deployment", dep.name)]
        assert pods and all(f"pod {p.name}" in text for p in pods[:3])
        assert "seldon_deployment_id=" in text  # the labels
        await cursor_to(pilot, app, lambda a: a.state == AlertState.SILENCED)
        text = detail(app)
        assert "silenced silence 5f0c7a52 by wangfang" in text and "OPS-17 node drain in progress" in text
        await cursor_to(pilot, app, lambda a: a.state == AlertState.ACKED)
        assert "acked by lihua" in detail(app) and "INC20261129 looking into the limits" in detail(app)
        await cursor_to(pilot, app, lambda a: not a.systems)
        assert "untagged: no CMDB business system claims it" in detail(app)
        # a system's header row: who answers for it
        head = next(g for g in rows(app) if isinstance(g, GroupRow) and g.system is not None)
        app.screen.table.select_uid(head.uid)
        await pilot.pause()
        assert head.system.name in detail(app) and head.system.oncall in detail(app)


async def test_untrusted_alert_text_is_sanitised_on_screen(console):
    app = with_crafted(console)
    evil = am("Evil\x1b[31m", "critical", {"namespace": "ns-x", "pod": "p\x1b]0;pwned\x07"},
              summary="line\x1b[2Jclear\u202eevil", annotations={"summary": "x\x07", "note": "\x9b31m"})
    app.session.state.set_alerts([engine.enrich(evil)])
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        texts = "\n".join(app.screen.table.row_texts()) + detail(app)
        assert "\x1b" not in texts and "\x07" not in texts and "\x9b" not in texts and "\u202e" not in texts
        assert "\\x1b[31m" in texts and "\\u202e" in texts


async def test_enter_jumps_to_the_target_with_it_selected_and_l_opens_its_logs(console):
    app = with_crafted(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        cases = [("SeldonDeploymentUnavailable", DeploymentsScreen), ("TrainingJobFailed", JobsScreen),
                 ("KubePodCrashLooping", PodsScreen)]
        for name, kind in cases:
            r = await cursor_to(pilot, app, lambda a, name=name: a.name == name)
            a = r.alert

            def there(kind=kind, a=a) -> bool:
                return (isinstance(app.screen, kind) and app.screen.table.current is not None
                        and app.screen.table.current.name == a.target_name)
            await pilot.press("enter")
            await settle(pilot, there)
            assert app.screen.table.current.namespace == a.namespace and app.screen.filter_text == a.target_name
            await pilot.press("escape")  # back to the alerts, where the cursor was
            await settle(pilot, lambda: isinstance(app.screen, AlertsScreen))
            assert app.screen.table.current.alert.key == a.key
        # a node with no GPU numbers (no metrics source here): the pods on that node
        r = await cursor_to(pilot, app, lambda a: a.target_kind == "Node")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, NodePodsScreen) and app.screen.table.row_count > 0)
        assert {p.node for p in app.screen.table.rows} == {r.alert.target_name}
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, AlertsScreen))
        # l: the logs of the pod, job or deployment
        r = await cursor_to(pilot, app, lambda a: a.name == "KubePodCrashLooping")
        await pilot.press("l")
        await settle(pilot, lambda: isinstance(app.screen, LogScreen))
        assert (app.screen.subject.kind, app.screen.subject.namespace, app.screen.subject.name) == (
            "Pod", r.alert.namespace, r.alert.target_name)
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, AlertsScreen))
        await cursor_to(pilot, app, lambda a: a.target_kind == "Node")
        await pilot.press("l")
        await settle(pilot, lambda: any("no pod, job or deployment" in str(n.message) for n in app._notifications))
        assert isinstance(app.screen, AlertsScreen)


async def test_enter_on_a_system_folds_its_alerts(console):
    app = with_crafted(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        head = next(g for g in rows(app) if isinstance(g, GroupRow))
        n = len(rows(app))
        app.screen.table.select_uid(head.uid)
        await pilot.press("enter")
        await settle(pilot, lambda: len(rows(app)) == n - head.alerts)
        assert app.screen.table.current.uid == head.uid and "▸" in app.screen.table.row_texts()[0]
        await pilot.press("enter")
        await settle(pilot, lambda: len(rows(app)) == n)


async def test_the_cursor_stays_on_its_alert_when_the_alerts_change(console):
    app = with_crafted(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        r = await cursor_to(pilot, app, lambda a: a.name == "KubeJobFailed")
        state = app.session.state
        extra = engine.enrich(am("KubeNodeNotReady", "critical", {"node": "gpua100-0001"}, minutes=1))
        state.set_alerts(state.alerts() + [extra])
        await settle(pilot, lambda: any(x.alert.key == extra.key for x in alert_rows(app)))
        assert app.screen.table.current.uid == r.uid


# ------------------------------------------------------------------------------------------ header and notification
async def test_the_header_counts_firing_alerts_by_severity_only_with_an_alerts_source(console):
    app = with_crafted(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: "▲ 2 crit 3 warn" in header(app).render().plain)
        await open_alerts(pilot, app)  # on every screen
        assert "▲ 2 crit 3 warn" in header(app).render().plain
        state = app.session.state
        state.set_alerts([a for a in state.alerts() if a.severity != "critical"])
        await settle(pilot, lambda: "▲ 3 warn" in header(app).render().plain)
        state.set_alerts([])
        await settle(pilot, lambda: "▲ 0 firing" in header(app).render().plain)
    plain = with_crafted(console, poller=False)
    async with plain.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: "kubernetes" in header(plain).render().plain)
        assert "▲" not in header(plain).render().plain


async def test_a_new_critical_alert_rings_the_bell_and_sends_a_sanitised_osc9(console):
    app = with_crafted(console, alerts_settings=SimpleNamespace(bell=True, osc9=True, silence_hours=2))
    async with app.run_test(size=(120, 40)) as pilot:
        written: list[str] = []
        bells: list[int] = []
        app._driver.write = written.append  # what reaches the terminal
        app.bell = lambda: bells.append(1)
        toasts: list[str] = []  # what notify() was asked (a toast may have timed out by the time it is looked at)
        notify = app.notify
        app.notify = lambda message, *a, **kw: (toasts.append(str(message)), notify(message, *a, **kw))[1]
        state = app.session.state
        warn = engine.enrich(am("KubeQuotaAlmostFull", "warning", {"namespace": "ns-risk-scorecard"}))
        state.set_alerts(state.alerts() + [warn], new=[warn])
        await pilot.pause(0.3)
        assert not bells and not [w for w in written if "\x1b]9;" in w]  # a warning: no bell
        crit = engine.enrich(am("GPUFellOff\x1b]0;owned\x07Bus", "critical",
                                {"namespace": "ns-risk-scorecard", "pod": "scorer-0"},
                                summary="XID 79\nthe GPU fell off the bus" + "!" * 300))
        state.set_alerts(state.alerts() + [crit], new=[crit])
        await settle(pilot, lambda: bells and [w for w in written if w.startswith("\x1b]9;")], tries=500)
        osc = next(w for w in written if w.startswith("\x1b]9;"))
        body = osc[len("\x1b]9;"):-1]
        assert osc.endswith("\x07") and len(body) <= 200
        assert not any(ord(ch) < 32 or 0x7f <= ord(ch) <= 0x9f for ch in body)  # no control character in the text
        assert body.startswith("CRITICAL GPUFellOff\\x1b]0;owned\\x07Bus on Pod ns-risk-scorecard/scorer-0")
        assert body == clean_line(alert_notice([crit]), 200)
        assert osc == "\x1b]9;" + body + "\x07" and bells == [1]
        assert any("GPUFellOff" in t for t in toasts)


async def test_bell_and_osc9_stay_quiet_when_the_settings_say_so(console):
    app = with_crafted(console)  # as tests build the app: no [alerts] settings, both off
    async with app.run_test(size=(120, 40)) as pilot:
        written: list[str] = []
        bells: list[int] = []
        app._driver.write = written.append
        app.bell = lambda: bells.append(1)
        crit = engine.enrich(am("NodeDown", "critical", {"node": "gpua100-0001"}))
        app.session.state.set_alerts([crit], new=[crit])
        await settle(pilot, lambda: any("NodeDown" in str(n.message) for n in app._notifications))
        assert not bells and not [w for w in written if "\x1b]9;" in w]


def test_osc9_text_is_one_short_clean_line():
    assert osc9("CRITICAL x") == "\x1b]9;CRITICAL x\x07"
    seq = osc9("a\x07b\x1b\\c\nd\x9c" + "é" * 500)
    assert seq.count("\x07") == 1 and seq.count("\x1b") == 1 and "\x9c" not in seq and "\n" not in seq
    assert len(seq) == len("\x1b]9;") + 200 + 1
    assert osc9("3;4 alerts").startswith("\x1b]9; 3;4")  # not ConEmu's progress form


# ------------------------------------------------------------------------------------------ actions, end to end
def sim_silences(console) -> dict:
    """The simulated Alertmanager's silences: id -> (state now, createdBy, comment, matchers)."""
    def read() -> dict:
        am_ = console.sim.api.alertmanager
        now = console.sim.engine.now()
        return {s.id: (s.state(now), s.created_by, s.comment, [(m.wire()["name"], m.wire()["value"]) for m in s.matchers])
                for s in am_.silences.values()}
    return console.thread.call(read)


def live(console, **kw):
    """A console whose alerts come from the poller: the simulator's Alertmanager, events, platform rules."""
    console.cmdb, console.alerts = True, True
    return console.app(**kw)


def firing_pod_alert(app) -> Alert:
    return next(a for a in sorted(app.session.state.alerts(), key=lambda a: a.key)
                if a.source == "alertmanager" and a.state == AlertState.FIRING and a.target_kind == "Pod")


def audit_rows(console, action: str) -> list:
    return [r for r in console.audit.records() if r.action == action]


async def test_silence_an_alert_from_the_form_through_the_confirmation_to_alertmanager(console):
    app = live(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        a = firing_pod_alert(app)
        await cursor_to(pilot, app, lambda x: x.key == a.key)
        screen = app.screen
        await settle(pilot, lambda: ("silence.create", a.namespace) in screen.perms)
        assert screen.check_action("silence", ()) is True
        before = sim_silences(console)
        await pilot.press("S")
        await settle(pilot, lambda: isinstance(app.screen, SilenceForm))
        form = app.screen
        # pre-filled from the alert's labels, each shown for review; the author is who the cluster says
        assert [(m.name, m.value) for m in form.matchers()] == [
            ("alertname", a.name), ("namespace", a.namespace), ("pod", a.target_name)]
        assert "mlss-admin" in str(form.query_one("#author").render())
        assert "matches 1 alert now" in str(form.query_one("#review").render())
        assert form.query_one("#duration", Input).value == "2h"  # [alerts] silence_hours
        # a comment without a ticket reference: the registry's own refusal, inline; nothing sent
        await pilot.press(*"restarting it", "enter")
        await settle(pilot, lambda: "ticket reference" in str(form.query_one("#errors").render()))
        assert isinstance(app.screen, SilenceForm) and sim_silences(console) == before
        # the pod matcher turned off: the silence covers the alert on every pod of the namespace
        form.query_one("#on-2", Checkbox).value = False
        await settle(pilot, lambda: len(form.matchers()) == 2)
        form.query_one("#comment", Input).value = ""
        form.query_one("#comment", Input).focus()
        await pilot.press(*"OPS-42 crash loop after the image rollout", "enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        call = app.screen.call
        assert "POST https://" in call and "/alertmanager/api/v2/silences" in call
        assert f'"name":"alertname","value":"{a.name}"' in call and '"createdBy":"mlss-admin"' in call
        assert '"name":"pod"' not in call
        assert sim_silences(console) == before  # nothing sent while asking
        await pilot.press("enter")
        await settle(pilot, lambda: len(sim_silences(console)) == len(before) + 1, tries=500)
        (sid, (state, by, comment, matchers)), = [(k, v) for k, v in sim_silences(console).items() if k not in before]
        assert (state, by, comment) == ("active", "mlss-admin", "OPS-42 crash loop after the image rollout")
        assert sorted(matchers) == sorted([("alertname", a.name), ("namespace", a.namespace)])
        # the alert turns silenced on screen, the silence in its detail
        await settle(pilot, lambda: any(r.alert.key == a.key and r.alert.state == AlertState.SILENCED
                                        for r in alert_rows(app)), tries=500)
        await cursor_to(pilot, app, lambda x: x.key == a.key)
        await settle(pilot, lambda: f"silence {sid[:8]} by mlss-admin" in detail(app))
        rows_ = audit_rows(console, "silence.create")
        assert [(r.phase, r.outcome) for r in rows_] == [("before", "started"), ("after", "ok")]
        assert rows_[0].user == "mlss-admin" and "OPS-42" in str(rows_[0].params) and sid in rows_[1].message


async def test_expire_the_silence_that_mutes_an_alert(console):
    app = live(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        a = firing_pod_alert(app)
        app.perform("silence.create", Target("Alert", a.namespace, a.name),
                    {"matchers": [{"name": "alertname", "value": a.name, "is_regex": False, "is_equal": True},
                                  {"name": "pod", "value": a.target_name, "is_regex": False, "is_equal": True}],
                     "duration": "1h", "comment": "INC123 maintenance"}, confirmed=True)
        await settle(pilot, lambda: any(r.alert.key == a.key and r.alert.silenced_by for r in alert_rows(app)),
                     tries=500)
        r = await cursor_to(pilot, app, lambda x: x.key == a.key)
        sid = r.alert.silenced_by[0]
        await settle(pilot, lambda: ("silence.expire", a.namespace) in app.screen.perms)
        await pilot.press("E")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmAction))
        assert "DELETE https://" in app.screen.call and f"/alertmanager/api/v2/silence/{sid}" in app.screen.call
        assert sim_silences(console)[sid][0] == "active"
        await pilot.press("enter")
        await settle(pilot, lambda: sim_silences(console)[sid][0] == "expired", tries=500)
        await settle(pilot, lambda: any(x.alert.key == a.key and x.alert.state == AlertState.FIRING
                                        for x in alert_rows(app)), tries=500)
        rows_ = audit_rows(console, "silence.expire")
        assert [(x.phase, x.outcome) for x in rows_] == [("before", "started"), ("after", "ok")]
        assert rows_[0].target == f"Silence/{a.namespace}/{sid}"
        # a firing alert has no silence to expire: E says so, nothing sent
        await cursor_to(pilot, app, lambda x: x.key == a.key)
        await pilot.press("E")
        await settle(pilot, lambda: any("Expire: not for" in str(n.message) for n in app._notifications))
        assert not isinstance(app.screen, ConfirmAction)


async def test_acknowledge_an_alert_with_a_note(console):
    app = live(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        a = firing_pod_alert(app)
        await cursor_to(pilot, app, lambda x: x.key == a.key)
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(app.screen, AskValue))
        await pilot.press("enter")  # no note: refused in the dialog
        await settle(pilot, lambda: "note is required" in str(app.screen.query_one("#error").render()))
        await pilot.press(*"on it, restarting the pod (OPS-7)", "enter")
        await settle(pilot, lambda: not isinstance(app.screen, AskValue))
        await settle(pilot, lambda: any(r.alert.key == a.key and r.alert.state == AlertState.ACKED
                                        for r in alert_rows(app)), tries=500)
        acked = next(r.alert for r in alert_rows(app) if r.alert.key == a.key)
        assert acked.ack_by == "mlss-admin" and acked.ack_note == "on it, restarting the pod (OPS-7)"
        await cursor_to(pilot, app, lambda x: x.key == a.key)
        assert "acked by mlss-admin" in detail(app) and "on it, restarting the pod (OPS-7)" in detail(app)
        rows_ = audit_rows(console, "alert.ack")
        assert [(r.phase, r.outcome) for r in rows_] == [("before", "started"), ("after", "ok")]
        assert rows_[0].target == f"Alert/{a.namespace}/{a.key}" and "OPS-7" in str(rows_[0].params)
        # the header counts what nobody has taken in hand: one firing warning fewer
        assert app.session.state.alerts() and f"{firing(app)} warn" in header(app).render().plain


def firing(app) -> int:
    return engine.firing_counts(app.session.state.alerts())["warning"]


async def test_read_only_refuses_silence_expire_and_ack_and_nothing_reaches_alertmanager(console):
    app = live(console, read_only_contexts=("sim-admin",))
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        a = firing_pod_alert(app)
        await cursor_to(pilot, app, lambda x: x.key == a.key)
        before = sim_silences(console)
        assert app.screen.check_action("silence", ()) is False  # hidden in read-only
        await pilot.press("S", "a", "E")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, (SilenceForm, AskValue, ConfirmAction))
        assert any("read-only" in str(n.message) for n in app._notifications)
        assert "read-only: actions are off" in detail(app)
        # the registry refuses on its own too, and records the refusal; the client would refuse a third time
        app.perform("silence.create", Target("Alert", a.namespace, a.name),
                    {"matchers": [{"name": "alertname", "value": a.name, "is_regex": False, "is_equal": True}],
                     "duration": "1h", "comment": "INC1 test"}, confirmed=True)
        app.perform("alert.ack", Target("Alert", a.namespace, a.key), {"note": "x"}, confirmed=True)
        await settle(pilot, lambda: len([r for r in console.audit.records() if r.outcome == "refused"]) == 2)
        assert all(r.message == "read-only mode" for r in console.audit.records())
        assert sim_silences(console) == before
        assert all(x.state != AlertState.ACKED for x in app.session.state.alerts())


async def test_the_viewer_sees_silence_and_expire_greyed_with_the_reason_and_is_refused(console):
    console.cmdb, console.alerts = True, True
    app = console.app("sim-viewer")
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        a = firing_pod_alert(app)
        await cursor_to(pilot, app, lambda x: x.key == a.key)
        screen = app.screen
        await settle(pilot, lambda: ("silence.create", a.namespace) in screen.perms)
        assert screen.check_action("silence", ()) is None  # greyed, not hidden
        assert "may not create silences" in detail(app)
        assert "Silence" in app.screen.query_one(KeyBar).plain
        before = sim_silences(console)
        await pilot.press("S")
        await settle(pilot, lambda: any("may not create silences" in str(n.message) for n in app._notifications))
        assert not isinstance(app.screen, SilenceForm)
        # through the registry anyway: refused by RBAC (the simulator's SelfSubjectAccessReview), recorded
        app.perform("silence.create", Target("Alert", a.namespace, a.name),
                    {"matchers": [{"name": "alertname", "value": a.name, "is_regex": False, "is_equal": True}],
                     "duration": "1h", "comment": "INC1 test"}, confirmed=True)
        await settle(pilot, lambda: any(r.action == "silence.create" and r.outcome == "refused"
                                        for r in console.audit.records()))
        assert sim_silences(console) == before


# ------------------------------------------------------------------------------------------ the overview
async def test_the_overview_shows_the_top_alerts_by_business_system_only_with_an_alerts_source(console):
    from screens.overview import OverviewScreen

    app = with_crafted(console)
    async with app.run_test(size=(200, 50)) as pilot:
        panel = lambda: str(app.screen.query_one("#alerts-panel").render())  # noqa: E731
        await settle(pilot, lambda: isinstance(app.screen, OverviewScreen) and "反欺诈" in panel())
        lines = panel().splitlines()
        assert lines[0].startswith("Alerts by business system  ▲ 2 crit 3 warn")
        top = engine.top_by_system(app.session.state.alerts(), 5)
        assert len(lines) == 1 + len(top)
        for line, g in zip(lines[1:], top):  # tier first, each system's worst alert and what it is about
            assert line.startswith(g.system.name if g.system else "untagged")
            assert g.alerts[0].name in line and g.alerts[0].target in line
        assert f"T{top[0].system.tier}" in lines[1] and top[0].system.tier == 1
        assert app.screen.query_one("#alerts-panel").display
        app.session.state.set_alerts([a for a in app.session.state.alerts() if a.state == AlertState.RESOLVED])
        await settle(pilot, lambda: "nothing firing or acknowledged" in panel())
    plain = with_crafted(console, poller=False)
    async with plain.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: isinstance(plain.screen, OverviewScreen))
        await pilot.pause(0.2)
        assert not plain.screen.query_one("#alerts-panel").display


async def test_enter_on_a_node_alert_opens_the_gpu_nodes_view_and_on_a_namespace_alert_the_quota(console):
    from screens.gpu import GpuScreen
    from screens.quota import QuotaScreen

    console.metrics = {}  # GPU numbers: the node's GPUs are on :gpu
    app = with_crafted(console)
    state = app.session.state
    quota_alert = engine.enrich(am("KubeQuotaAlmostFull", "warning", {"namespace": "ns-risk-scorecard"}))
    state.set_alerts(state.alerts() + [quota_alert])
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        r = await cursor_to(pilot, app, lambda a: a.target_kind == "Node")
        node = r.alert.target_name
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, GpuScreen) and app.screen.view == "nodes"
                     and app.screen.table.current is not None and app.screen.table.current.node == node)
        assert app.screen.filter_text == node
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, AlertsScreen))
        await cursor_to(pilot, app, lambda a: a.key == quota_alert.key)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, QuotaScreen) and app.screen.table.current is not None
                     and app.screen.table.current.namespace == "ns-risk-scorecard")

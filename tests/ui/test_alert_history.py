"""The alert timeline screen (`:history`, `h` on `:alerts`) and the alert's own moments in `:alerts`' detail pane.

Most tests fill a timeline of their own with crafted moments (the crafted alerts of test_alerts on the small world,
tagged by the simulator's CMDB: Chinese system names) at times set around the frozen clock, and hang it on the
session's stand-in poller as the console hangs its timeline on the alerts poller; one runs the real alerts poller
against the simulator's Alertmanager.
"""

from __future__ import annotations

import os
import stat
from datetime import timedelta

from textual.widgets import Input

from prophecis_tui.domain import Alert, AlertState
from prophecis_tui.store import AlertTimeline
from screens.alert_history import AlertHistoryScreen, MomentRow
from screens.alerts import AlertsScreen
from screens.modals import AskValue

from .test_alerts import START_DT, cursor_to, detail, open_alerts, summary, with_crafted
from .test_console import settle

GONE = Alert(key="am:gone", source="alertmanager", name="NodeDiskPressure", severity="warning",
             namespace="kube-system", target_kind="Node", target_name="cpu-node-9", summary="disk 93% full")


def by_name(alerts, name: str) -> Alert:
    return next(a for a in alerts if a.name == name)


def with_timeline(console, tmp_path, **kw):
    """The crafted alerts (in the state) and a timeline of their moments, the clock frozen at START:
    3 days ago NodeDiskPressure fired and resolved an hour later (gone since); each crafted alert fired when it
    started (7 minutes to 5 hours ago); alice acked the Seldon alert 30 s ago; the crash loop resolved 20 s ago."""
    app = with_crafted(console, **kw)
    alerts = list(app.session.state.alerts())
    t = AlertTimeline(tmp_path / "timeline.db")
    console.timelines.append(t)  # closed with the console
    t.observe([GONE], now=START_DT - timedelta(days=3))
    t.observe([], now=START_DT - timedelta(days=3) + timedelta(hours=1))
    t.observe(alerts, now=START_DT - timedelta(minutes=1))
    sdep = by_name(alerts, "SeldonDeploymentUnavailable")
    t.ack(sdep.key, "alice", "OPS-4711 rolling back to v2", sdep, at=START_DT - timedelta(seconds=30))
    crash = by_name(alerts, "KubePodCrashLooping")
    t.observe([a for a in alerts if a.key != crash.key], now=START_DT - timedelta(seconds=20))
    app.session.alerts.timeline = t
    return app, t, alerts


def moments(app) -> list:
    return [r.entry for r in app.screen.table.rows]


async def open_history(pilot, app, command: str = "history") -> AlertHistoryScreen:
    app.run_command(command)
    await settle(pilot, lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen.loaded
                 and app.screen.table.row_count > 0)
    return app.screen


# ------------------------------------------------------------------------------------------ the list
async def test_moments_newest_first_with_their_events(console, tmp_path):
    app, t, alerts = with_timeline(console, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_history(pilot, app)
        es = moments(app)
        assert [e.at for e in es] == sorted((e.at for e in es), reverse=True)
        assert [(e.event, e.name) for e in es[:3]] == [
            ("resolved", "KubePodCrashLooping"), ("acked", "SeldonDeploymentUnavailable"),
            ("fired", "GPUHighTemperature")]
        # the default period, 24h: not the alert of three days ago; every crafted alert's firing (not the one
        # first seen resolved: nothing happened that the console saw)
        assert "NodeDiskPressure" not in {e.name for e in es}
        fired = {e.name for e in es if e.event == "fired"}
        assert fired == {a.name for a in alerts if a.state != AlertState.RESOLVED}
        assert "last 24h" in summary(app) and f"{len(es)} moments" in summary(app)
        # the row says when (local time: today's without the date), what, who and why
        texts = screen.table.row_texts()
        ack = texts[1]
        when = es[1].at.astimezone().strftime("%H:%M:%S")
        assert when in ack and "acked" in ack and "alice" in ack and "OPS-4711 rolling back to v2" in ack
        system = es[1].systems[0]
        assert f"T{system[2]} {system[1]}" in ack  # the business system with its tier
        # the detail line: the whole moment
        screen.table.select_uid(str(es[1].id))
        await pilot.pause()
        text = str(screen.query_one("#detail").render())
        assert "acked" in text and "by alice: OPS-4711 rolling back to v2" in text and "then acked" in text
        assert "enter: the alert on :alerts" in text
        # a new moment reaches the screen when the alerts change (the poller publishes after each round)
        hot = by_name(alerts, "GPUHighTemperature")
        t.ack(hot.key, "bob", "INC0042 fans replaced", hot, at=START_DT - timedelta(seconds=5))
        app.session.state.set_alerts([a.model_copy(update={"state": AlertState.ACKED}) if a.key == hot.key else a
                                      for a in alerts])
        await settle(pilot, lambda: moments(app)[0].by == "bob")
        assert moments(app)[0].event == "acked" and moments(app)[0].name == "GPUHighTemperature"


async def test_the_period_key_changes_what_is_shown(console, tmp_path):
    app, _, _ = with_timeline(console, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_history(pilot, app)
        in_a_day = len(moments(app))
        await pilot.press("p")  # 7d
        await settle(pilot, lambda: "last 7d" in summary(app) and len(moments(app)) == in_a_day + 2)
        assert [e.event for e in moments(app)[-2:]] == ["resolved", "fired"]  # three days ago, oldest last
        assert {e.name for e in moments(app)[-2:]} == {"NodeDiskPressure"}
        await pilot.press("p")  # 14d: [alerts] history_days, the longest the timeline keeps
        await settle(pilot, lambda: "last 14d" in summary(app))
        await pilot.press("p")  # 1h
        await settle(pilot, lambda: "last 1h" in summary(app) and len(moments(app)) < in_a_day)
        hour_ago = START_DT - timedelta(hours=1)
        assert all(e.at >= hour_ago for e in moments(app))
        assert {"TrainingJobFailed", "KubeJobFailed"}.isdisjoint({e.name for e in moments(app)})  # 95 and 300 min
        assert screen.period == "1h"


async def test_the_filter_reads_name_target_system_who_and_note(console, tmp_path):
    app, _, alerts = with_timeline(console, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_history(pilot, app)
        total = len(moments(app))
        await pilot.press("slash", *"alice")
        await settle(pilot, lambda: [e.event for e in moments(app)] == ["acked"])
        assert f"1 of {total}" in summary(app) and "filter: alice" in summary(app)
        bar = app.screen.query_one("#filter-bar", Input)
        sdep = by_name(alerts, "SeldonDeploymentUnavailable")
        bar.value = sdep.systems[0].name  # a Chinese business system name
        await settle(pilot, lambda: moments(app) and all(any(s[0] == sdep.systems[0].id for s in e.systems)
                                                         for e in moments(app)))
        assert "SeldonDeploymentUnavailable" in {e.name for e in moments(app)}
        bar.value = "rolling back"  # every word, in the note
        await settle(pilot, lambda: [e.by for e in moments(app)] == ["alice"])
        bar.value = sdep.target_name  # the target
        await settle(pilot, lambda: {e.name for e in moments(app)} == {"SeldonDeploymentUnavailable"})
        bar.value = "nothing-like-this"
        await settle(pilot, lambda: not moments(app))
        assert "no moments match the filter" in str(app.screen.query_one("#detail").render())
        await pilot.press("escape")  # closes the bar, clears the filter
        await settle(pilot, lambda: len(moments(app)) == total)


# ------------------------------------------------------------------------------------------ :alerts
async def test_the_alerts_detail_pane_shows_the_alerts_own_moments(console, tmp_path):
    app, t, alerts = with_timeline(console, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        sdep = by_name(alerts, "SeldonDeploymentUnavailable")
        await cursor_to(pilot, app, lambda a: a.key == sdep.key)
        await settle(pilot, lambda: "history" in detail(app) and "acked" in detail(app))
        lines = detail(app).split("history", 1)[1].splitlines()
        assert "acked" in lines[1] and "by alice: OPS-4711 rolling back to v2" in lines[1]  # newest first
        assert "fired" in lines[2] and (START_DT - timedelta(minutes=25)).astimezone().strftime("%H:%M:%S") in lines[2]
        # a moment recorded later shows once the alerts change
        t.unack(sdep.key, "alice", "handed to the model team", sdep, at=START_DT - timedelta(seconds=2))
        app.session.state.set_alerts([a.model_copy(update={"count": 2}) if a.key == sdep.key else a for a in alerts])
        await settle(pilot, lambda: "unacked" in detail(app).split("history", 1)[1].splitlines()[1])
        # another alert: its own moments only
        hot = by_name(alerts, "GPUHighTemperature")
        await cursor_to(pilot, app, lambda a: a.key == hot.key)
        await settle(pilot, lambda: "history" in detail(app) and "fired" in detail(app).split("history", 1)[1])
        assert "alice" not in detail(app).split("history", 1)[1].split("labels")[0]


async def test_h_opens_the_timeline_and_enter_goes_back_to_the_alert(console, tmp_path):
    app, _, alerts = with_timeline(console, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        assert "h History" in app.screen.query_one("KeyBar").plain
        await pilot.press("f")  # critical only: the warning alert below is hidden
        await settle(pilot, lambda: all(r.alert.severity == "critical" for r in app.screen.table.rows
                                        if hasattr(r, "alert")))
        alerts_screen = app.screen
        await pilot.press("h")
        await settle(pilot, lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen.table.row_count > 0)
        hot = by_name(alerts, "GPUHighTemperature")
        row = next(r for r in app.screen.table.rows if r.entry.key == hot.key)
        app.screen.table.select_uid(row.uid)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, lambda: app.screen is alerts_screen and alerts_screen.current_alert() is not None
                     and alerts_screen.current_alert().key == hot.key)
        assert alerts_screen.severity_step == 0  # the quick filter that hid it is cleared
        # escape from the timeline comes back too
        await pilot.press("h")
        await settle(pilot, lambda: isinstance(app.screen, AlertHistoryScreen))
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is alerts_screen)


async def test_enter_from_history_opens_the_alert_or_says_it_is_gone(console, tmp_path):
    app, _, alerts = with_timeline(console, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_history(pilot, app, "timeline")
        await pilot.press("p")  # 7d: the alert of three days ago, gone since
        await settle(pilot, lambda: any(e.key == GONE.key for e in moments(app)))
        gone = next(r for r in screen.table.rows if r.entry.key == GONE.key)
        screen.table.select_uid(gone.uid)
        await pilot.pause()
        assert "no longer listed" in str(screen.query_one("#detail").render())
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert any("no longer listed" in str(n.message) for n in app._notifications)
        sdep = by_name(alerts, "SeldonDeploymentUnavailable")
        row = next(r for r in screen.table.rows if r.entry.key == sdep.key and r.entry.event == "acked")
        screen.table.select_uid(row.uid)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.current_alert() is not None
                     and app.screen.current_alert().key == sdep.key)


# ------------------------------------------------------------------------------------------ the handover note
async def test_ctrl_s_saves_the_periods_handover_note(console, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    app, _, _ = with_timeline(console, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_history(pilot, app)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, AskValue))
        path = app.screen.query_one("#value", Input).value
        assert path.startswith(str(tmp_path / "xdg" / "prophecis-tui" / "handover" / "alert-handover_"))
        assert path.endswith(".md")
        await pilot.press("enter")
        await settle(pilot, lambda: os.path.exists(path) and isinstance(app.screen, AlertHistoryScreen)
                     and "saved" in summary(app))
        assert any(path in str(n.message) for n in app._notifications)  # the whole path said
        text = open(path, encoding="utf-8").read()
        assert text.startswith("# Alert handover: 2026-11-28 10:00 to 2026-11-29 10:00 UTC (24h)")
        assert 'acked 11-29 09:59 by alice ("OPS-4711 rolling back to v2")' in text
        assert "NodeDiskPressure" not in text  # three days ago: not this period
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


# ------------------------------------------------------------------------------------------ no timeline
async def test_without_a_timeline_one_line_says_so(console):
    app = with_crafted(console)  # a poller that records nothing
    async with app.run_test(size=(120, 30)) as pilot:
        app.run_command("history")
        await settle(pilot, lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen.why_none)
        await pilot.pause()
        assert "no alert timeline: this session's alerts poller records none" in summary(app)
        assert not app.screen.query_one("#table").display
        await pilot.press("escape")
        await open_alerts(pilot, app)
        assert "history" not in detail(app).split("labels")[0]  # no section in the detail pane either


async def test_without_an_alerts_source_one_line_says_so(console):
    app = console.app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.run_command("history")
        await settle(pilot, lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen.why_none)
        await pilot.pause()
        assert "no alert timeline: this session has no alerts source" in summary(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, AlertHistoryScreen)  # nothing to save: no dialog


# ------------------------------------------------------------------------------------------ end to end
async def test_the_pollers_moments_reach_the_timeline_screen(console):
    """The alerts poller against the simulator's Alertmanager records what fired; the screen shows it, and an
    ack from `:alerts` shows as the newest moment with its note."""
    console.alerts = True
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await open_alerts(pilot, app)
        await settle(pilot, lambda: "history" in detail(app) and "fired" in detail(app).split("history", 1)[1])
        a = app.screen.current_alert()
        await pilot.press("h")
        await settle(pilot, lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen.table.row_count > 0)
        assert all(isinstance(r, MomentRow) and r.entry.event == "fired" for r in app.screen.table.rows)
        assert a.key in {r.entry.key for r in app.screen.table.rows}
        await pilot.press("escape")
        app.perform("alert.ack", _target(a), {"note": "OPS-9 on it", "alert": a})
        await settle(pilot, lambda: app.screen.current_alert() is not None
                     and app.screen.current_alert().state == AlertState.ACKED, tries=400)
        await pilot.press("h")
        await settle(pilot, lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen.table.row_count > 0
                     and moments(app)[0].event == "acked", tries=400)
        assert moments(app)[0].note == "OPS-9 on it" and moments(app)[0].key == a.key


def _target(a: Alert):
    from prophecis_tui.actions import Target
    return Target("Alert", a.namespace, a.key)

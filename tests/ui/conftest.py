"""A console wired to a simulated cluster: the real backend, state and feeds over loopback."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest

from backends.kubernetes import Kubernetes
from tests.conftest import START, wait_until  # noqa: F401  (test_console uses wait_until)
from prophecis_tui.actions import Actions, builtin_actions
from prophecis_tui.app import ProphecisApp, Session
from prophecis_tui.feeds import Feeds
from prophecis_tui.simulator.testing import SimThread
from prophecis_tui.state import State
from prophecis_tui.store import AuditLog



@pytest.fixture
def utc():
    """Local times shown in UTC for the test (snapshots): TZ set, then put back."""
    tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = tz
        time.tzset()


class Console:
    def __init__(self, thread: SimThread, kubeconfig: Path, audit: AuditLog) -> None:
        self.thread = thread
        self.sim = thread.sim
        self.kubeconfig = kubeconfig
        self.audit = audit
        self.sessions: list[Session] = []
        self.timelines: list = []  # the alert timelines of alerts sessions (closed with the console)
        self.metrics: dict | None = None  # [metrics] settings for new sessions; None: no metrics at all
        self.cmdb = False  # the simulator's CMDB into new sessions, as the demo reads it
        self.alerts = False  # the alerts poller into new sessions: the simulator's Alertmanager, events, platform rules
        self.alerts_settings: dict = {}  # [alerts] keys for it (refresh_seconds is 0.2 unless given)
        self.linkis = False  # the simulator's Linkis gateway into new sessions, wired as cli.connect does

    def session(self, context: str = "sim-admin", *, wait: bool = True, read_only: bool = False) -> Session:
        backend = Kubernetes.from_kubeconfig(str(self.kubeconfig), context, read_only=read_only)
        state = State()
        feeds = Feeds(backend, state, backoff=(0.1, 1.0))
        feeds.start()
        identity = backend.identity()
        actions = Actions(backend, self.audit, identity, read_only=read_only)
        for spec in builtin_actions():
            actions.register(spec)
        s = Session(backend, state, feeds, identity, read_only, actions)
        if self.metrics is not None:  # GPU numbers from the simulator's dcgm-exporter, as the demo reads them
            from prophecis_tui.cli import metrics_backend
            from prophecis_tui.config import MetricsSettings
            from prophecis_tui.feeds import MetricsPoller
            m = MetricsSettings(**self.metrics)
            source, s.metrics_note = metrics_backend(m, str(self.kubeconfig.parent))
            if source is not None:
                s.metrics = MetricsPoller(source, state, interval=0.2, idle_threshold=m.idle_threshold,
                                          idle_minutes=m.idle_minutes)
                s.metrics.start()
        if self.cmdb:
            from prophecis_tui.app import cmdb_poller
            from prophecis_tui.config import CmdbSettings
            from prophecis_tui.store import CmdbStore
            folder = self.kubeconfig.parent
            s.cmdb = cmdb_poller(CmdbSettings(), state, CmdbStore(folder / f"cmdb-{len(self.sessions)}.db"),
                                 demo_dir=str(folder))
        if self.alerts:
            self._wire_alerts(s, read_only)
        if self.linkis:
            self._wire_linkis(s, context, read_only)
        self.sessions.append(s)
        if wait:
            wait_until(lambda: feeds.planned.is_set() and all(f.live for f in feeds.feeds))
            if s.metrics is not None:
                wait_until(lambda: state.gpus(), what="GPU numbers")
            if s.cmdb is not None:
                wait_until(lambda: state.business_systems(), what="the CMDB's business systems")
            if s.alerts is not None:
                poller = s.alerts
                wait_until(lambda: poller.polls >= 1 and state.alerts(), what="the first alerts")
            if s.linkis_poller is not None:
                lk = s.linkis_poller
                wait_until(lambda: lk.polls >= 1, what="the first Linkis poll")
        return s

    def sim_now(self) -> datetime:
        return datetime.fromtimestamp(self.sim.clock.now(), timezone.utc)

    def _wire_alerts(self, s: Session, read_only: bool) -> None:
        """As cli.connect does: the alerts poller (the simulator's Alertmanager, as the demo reads it; a timeline of
        its own), the "alertmanager" and "timeline" backends and the alert actions. Times are the simulator's
        (its Alertmanager judges a silence's start and end by its own clock)."""
        from prophecis_tui.alert_actions import alert_actions
        from prophecis_tui.app import alerts_poller
        from prophecis_tui.config import AlertsSettings
        from prophecis_tui.store import AlertTimeline
        folder = self.kubeconfig.parent
        settings = AlertsSettings(**{"refresh_seconds": 0.2, "bell": False, "osc9": False, **self.alerts_settings})
        timeline = AlertTimeline(folder / f"alerts-{len(self.sessions)}.db", clock=self.sim_now)
        self.timelines.append(timeline)
        s.alerts = alerts_poller(settings, s.state, timeline, demo_dir=str(folder), metrics=s.metrics,
                                 read_only=read_only, clock=self.sim_now)
        ams = s.alerts.alertmanager_set
        s.actions.backends["timeline"] = timeline
        if ams is not None:
            s.actions.backends["alertmanager"] = ams
        s.actions.clock = self.sim_now
        for spec in alert_actions(settings, alertmanagers=ams, identity=s.identity, refresh=s.alerts.refresh,
                                  clock=self.sim_now):
            s.actions.register(spec)

    def _wire_linkis(self, s: Session, context: str, read_only: bool) -> None:
        """As cli.connect does: the demo's gateway for the context (its user; the token --write-config wrote),
        the Linkis poller (every 0.5 s), the "linkis" backend and the Linkis actions."""
        from prophecis_tui.app import linkis_poller
        from prophecis_tui.cli import linkis_backend
        from prophecis_tui.config import LinkisSettings
        from prophecis_tui.linkis_actions import linkis_actions
        lk = LinkisSettings(refresh_seconds=0.5)
        s.linkis, s.linkis_note = linkis_backend(lk, str(self.kubeconfig.parent), read_only, context=context)
        s.linkis_poller = linkis_poller(lk, s.state, s.linkis)
        if s.linkis is not None:
            s.actions.backends["linkis"] = s.linkis
        for spec in linkis_actions(gateway=s.linkis.linkis.url if s.linkis is not None else "",
                                   refresh=s.linkis_poller.refresh if s.linkis_poller is not None else None,
                                   state=s.state):
            s.actions.register(spec)

    def app(self, context: str = "sim-admin", *, read_only_contexts: tuple[str, ...] = (), **kw) -> ProphecisApp:
        session = self.session(context, read_only=context in read_only_contexts)
        contexts = ["sim-admin", "sim-group-admin", "sim-viewer"]
        clock = self.sim.clock
        kw.setdefault("clock", lambda: datetime.fromtimestamp(clock.now(), timezone.utc))  # ages as the cluster says
        kw.setdefault("read_only", session.read_only)
        return ProphecisApp(session, contexts=contexts,
                            connect=lambda c: self.session(c, read_only=c in read_only_contexts), **kw)

    def close(self) -> None:
        for s in self.sessions:
            s.stop()
        for s in self.sessions:
            if s.alerts is not None:
                s.alerts.join(5)
        for t in self.timelines:
            t.close()



@pytest.fixture
def console(tmp_path) -> Iterator[Console]:
    with SimThread(scale="small", seed=7, speed=0.0, start_time=START) as t:
        c = Console(t, t.write_config(tmp_path), AuditLog(tmp_path / "data" / "audit.db"))
        try:
            yield c
        finally:
            c.close()

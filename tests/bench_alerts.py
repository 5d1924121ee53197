"""Issue 7's figures: the alerts poller and the `:alerts` screen on the `large` simulator; `make bench` runs them.

Run alone: ``python -m tests.bench_alerts`` (~5 minutes: a `large` simulator, then one child process); it prints
the rows and writes them as the "Alerts" section of docs/benchmarks.md, leaving the other sections as they are.

The child (``--child KUBECONFIG``) is the console as ``prophecis-tui`` wires it (prophecis_tui/cli.py ``connect``):
the Kubernetes feeds, the metrics poller on the simulated dcgm-exporter (every second), the simulator's CMDB, the
alerts poller (``app.alerts_poller``: the simulator's Alertmanager as its config.toml names it, the Warning events,
the platform rules, an alert timeline of its own), the action registry with the alert actions; the real app
headless at 200x50 with `:alerts` on view. It measures:

- the poller's rounds, first on the simulator's own alerts (~880 from its Alertmanager, the events' and the platform
  rules'), then with crafted alerts POSTed to the simulator's Alertmanager (``POST /alertmanager/api/v2/alerts``:
  kube-prometheus' KubePodNotReady, CPUThrottlingHigh and KubeContainerMemoryNearLimit on pods the simulator runs,
  none of a condition the correlation folds) until it holds 2,000: each round's ``AlertsPoller.round_seconds`` and
  the poller thread's CPU time, what the round spent where (the Alertmanager read: GET, JSON and parse; the
  events' and the platform rules' alerts; merge, enrich, tag; the timeline's acks and observe; correlate;
  ``state.set_alerts``), the alerts published, and the poller thread's CPU over a window at the default refresh
  (10 s) and at 1 s;
- the Alertmanager client's parse (``backends.alertmanager.parse_alerts``) of the 2,000 alerts, CPU time best of 5,
  beside the GET and JSON decode; the timeline's observe in each round (and the rows it wrote), and the last
  round's alerts observed again alone;
- the screen: from ``state.set_alerts`` publishing a change (one more alert POSTed, a round asked for at once) to
  the table redrawn with it, and what that time is made of (the app's 0.1 s tick and the screen's pacing, the
  rows worked out in the worker, the message to the UI thread, the set_rows and redraw); key press to screen, as
  the terminal driver delivers the key: 20 down arrows (to the cursor line redrawn) and `/` then typing
  ``sev:warning pytorch`` (to the table redrawn with the rows of the text typed so far, each press's time split
  the same way); the longest event-loop stall meanwhile and the full garbage-collector passes (gc.callbacks).

When a round took over 1 s (or with ``--profile``), three more rounds run under cProfile in the poller's thread;
when a filter key press took over 100 ms, the screen's rows for a one-letter filter and for none are profiled
(the worker's function, three times each). The profiles are in the JSON (``profile``, ``profile_filter``), which
a run alone keeps in $TMPDIR/bench_alerts.json.

Found when this was written (2 shared CPUs): the slow rounds (~1 s) are the simulator answering late, a full
garbage-collector pass in its process (~0.7 s over ~590,000 objects, once in ~10 answers of 2,000 alerts); the
filter key presses over 100 ms are the screen's worker rebuilding every alert's search text
(``prophecis_tui.alerts._haystack``) at each key for a word that matches nearly all of them; the UI stalls of
100-150 ms between key presses are the UI thread waiting for the GIL while the alerts poller's round, the screen's
worker or the metrics poller runs Python (every thread's stack sampled at such stalls: the UI thread in select, one
of those in Python; once Textual's own style application on the UI thread). No full garbage-collector pass ran in
the console meanwhile.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ALERTS_WANTED = 2000  # the Alertmanager's alerts for the screen's figures (crafted ones added to reach it)
WINDOW_10 = 60.0  # seconds measured at the default refresh (6 rounds)
WINDOW_1 = 20.0  # seconds measured at a 1 s refresh
DOWN_PRESSES = 20
FILTER_TYPED = "sev:warning pytorch"  # typed into the `/` filter, a key press a character (19)
REFRESH_SAMPLES = 8  # one more alert POSTed, a round asked for, the change to screen
AM_QUERY = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
# the parts of a round (AlertsPoller.poll) timed on their own; the rest of the round is "other"
PARTS = ("am_alerts", "am_silences", "events", "platform", "merge", "enrich", "tag", "acks", "observe", "correlate",
         "set_alerts")


# ------------------------------------------------------------------------------------------ the child
class RoundProbe:
    """Times each round of the alerts poller and its parts, in the poller's thread (wrappers around what
    ``AlertsPoller.poll`` calls: its members, the timeline, the state, and the engine's functions it imports at
    each round). ``profile``: the next rounds run under cProfile (``profile_rounds`` of them)."""

    def __init__(self, poller, state, timeline) -> None:
        from prophecis_tui import alerts as engine
        self.poller, self.state = poller, state
        self.rounds: list[dict] = []
        self.cur: dict | None = None
        self.thread = poller._thread
        self.changed: list[tuple[float, float, int]] = []  # set_alerts that changed the alerts: (before, after, n)
        self.profile_rounds = 0
        self.profile = cProfile.Profile()
        self.profiled = 0

        poll = poller.poll

        def timed_poll() -> None:
            self.cur = cur = {"start": time.monotonic()}
            prof = self.profile_rounds > 0
            c0, w0 = time.thread_time(), time.perf_counter()
            if prof:
                self.profile.enable()
            try:
                poll()
            finally:
                if prof:
                    self.profile.disable()
                    self.profile_rounds -= 1
                    self.profiled += 1
                cur["wall"] = time.perf_counter() - w0
                cur["cpu"] = time.thread_time() - c0
                cur["round_seconds"] = poller.round_seconds
                cur["published"] = len(state.alerts())
                self.cur = None
                self.rounds.append(cur)

        poller.poll = timed_poll
        for am in poller.alertmanagers:
            am.alerts = self._timed("am_alerts", am.alerts)
            am.silences = self._timed("am_silences", am.silences)
        poller.engine.platform = self._timed("platform", poller.engine.platform)
        poller.tagger.tag = self._timed("tag", poller.tagger.tag)
        timeline.acks = self._timed("acks", timeline.acks)
        observe = self._timed("observe", timeline.observe)
        self.observe_args: tuple | None = None  # the last round's (args, kwargs): observed again alone at the end

        def counted_observe(*a, **kw):
            conn = timeline._db.conn
            n = conn.total_changes
            try:
                return observe(*a, **kw)
            finally:
                if self.cur is not None and threading.current_thread() is self.thread:
                    self.cur["observe_rows"] = conn.total_changes - n  # rows inserted, replaced, deleted
                    self.observe_args = (a, kw)
        timeline.observe = counted_observe
        for name in ("event_alerts", "merge", "enrich", "correlate"):
            setattr(engine, name, self._timed(name.replace("event_alerts", "events"), getattr(engine, name)))
        set_alerts = state.set_alerts

        def timed_set(alerts, new=()):
            before = time.monotonic()
            v = state.kind_version("alerts")
            t0 = time.perf_counter()
            set_alerts(alerts, new)
            if self.cur is not None and threading.current_thread() is self.thread:
                self.cur["set_alerts"] = self.cur.get("set_alerts", 0.0) + time.perf_counter() - t0
            if state.kind_version("alerts") != v:
                self.changed.append((before, time.monotonic(), state.kind_version("alerts")))
        state.set_alerts = timed_set

    def _timed(self, part: str, fn):
        def wrapper(*a, **kw):
            if self.cur is None or threading.current_thread() is not self.thread:
                return fn(*a, **kw)
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.cur[part] = self.cur.get(part, 0.0) + time.perf_counter() - t0
        return wrapper

    def since(self, t: float) -> list[dict]:
        return [r for r in self.rounds if r["start"] >= t]

    async def next_round(self, after: float | None = None, timeout: float = 120.0) -> dict:
        """The first round that starts after ``after`` (default: now), once it has ended."""
        t = time.monotonic() if after is None else after
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.since(t)
            if got:
                return got[0]
            await asyncio.sleep(0.02)
        raise SystemExit("the alerts poller did not poll")


class GcWatch:
    """The cyclic garbage collector's passes in this process (gc.callbacks): (generation, seconds, when)."""

    def __init__(self) -> None:
        import gc
        self.passes: list[tuple[int, float, float]] = []
        self._t0 = 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.passes.append((info["generation"], time.perf_counter() - self._t0, time.monotonic()))

    def summary(self, t0: float, t1: float | None = None) -> dict:
        """The full (generation 2) passes between t0 and t1: how many, the longest (ms)."""
        full = [d for g, d, at in self.passes if g == 2 and at >= t0 and (t1 is None or at <= t1)]
        return {"full_gc": len(full), "full_gc_ms_max": round(max(full, default=0.0) * 1000, 1)}


def _ms_stats(rounds: list[dict], key: str) -> tuple[float, float]:
    vals = [r.get(key, 0.0) * 1000 for r in rounds]
    return (statistics.median(vals), max(vals)) if vals else (0.0, 0.0)


def _groups(threads0: dict, threads1: dict, wall: float) -> dict[str, float]:
    by: dict[str, float] = {}
    for name, t in threads1.items():
        group = ("main" if name == "MainThread" else "alerts" if name == "alerts-poller" else
                 "metrics" if name == "metrics-poller" else "cmdb" if name.startswith("cmdb") else
                 "feeds" if name.startswith("feed") else "other")
        by[group] = by.get(group, 0.0) + t - threads0.get(name, 0.0)
    return {k: round(100 * v / wall, 1) for k, v in sorted(by.items())}


def _profile_text(prof: cProfile.Profile, n: int = 30) -> str:
    s = io.StringIO()
    stats = pstats.Stats(prof, stream=s)
    stats.sort_stats("cumulative").print_stats(n)
    stats.sort_stats("tottime").print_stats(n)
    return s.getvalue()


def _crafted(pods: list, n: int, now: datetime) -> list[dict]:
    """``n`` alerts as kube-prometheus' rules would post them about pods the simulator runs (spread over the
    namespaces): none of a condition ``alerts.correlate`` folds, each on its own pod and name."""
    chosen = [pods[i * len(pods) // n] for i in range(n)] if n <= len(pods) else pods
    ends = (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    out = []
    for i, p in enumerate(chosen):
        container = p.container_names[0] if p.container_names else "main"
        starts = (now - timedelta(minutes=5 + (i * 37) % 2000)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        labels = {"namespace": p.namespace, "pod": p.name, "prometheus": "monitoring/k8s"}
        if p.node:
            labels["node"] = p.node
        k = i % 3
        if k == 0:
            labels.update(alertname="KubePodNotReady", severity="warning")
            summary = f"Pod {p.namespace}/{p.name} has been in a non-ready state for longer than 15 minutes."
        elif k == 1:
            labels.update(alertname="CPUThrottlingHigh", severity="info", container=container)
            summary = (f"{25 + i % 70}% throttling of CPU in namespace {p.namespace} for container {container} in "
                       f"pod {p.name}.")
        else:
            labels.update(alertname="KubeContainerMemoryNearLimit", severity="warning", container=container)
            summary = f"Container {container} of pod {p.namespace}/{p.name} uses {90 + i % 10}% of its memory limit."
        out.append({"labels": labels, "startsAt": starts, "endsAt": ends,
                    "annotations": {"summary": summary, "description": summary,
                                    "runbook_url": f"https://runbooks.example.internal/prophecis/{labels['alertname']}"},
                    "generatorURL": "http://prometheus-k8s.monitoring.svc:9090/graph"})
    return out


class ScreenProbe:
    """Wraps the alerts screen's ``start_compute`` and ``rows_shown`` and its table's ``render_line``: waits for the
    rows worked out under a condition (the filter text they were computed with, or a compute started after a
    moment) to be drawn. Computes never overlap (screens/refresh.py): the rows shown come from the last one
    started."""

    def __init__(self, screen) -> None:
        self.screen, self.table = screen, screen.table
        self.started_text: str | None = None
        self.started_at = 0.0
        self.want = None  # callable: the rows now shown are the ones waited for
        self.shown_at = 0.0
        self.cost = 0.0
        self.set_rows_s = 0.0
        self.started: float | None = None
        self.drawn = asyncio.Event()
        self._shown = False
        start, shown, render, set_rows = screen.start_compute, screen.rows_shown, self.table.render_line, \
            self.table.set_rows

        def start_compute() -> None:
            self.started_text, self.started_at = screen.filter_text, time.monotonic()
            start()

        def rows_shown() -> None:
            shown()
            if self.want is not None and not self._shown and self.want():
                self._shown, self.shown_at, self.cost = True, time.monotonic(), screen._cost
                self.started = self.started_at

        def timed_set_rows(rows, index=None) -> None:
            t0 = time.perf_counter()
            set_rows(rows, index)
            self.set_rows_s = time.perf_counter() - t0

        def render_line(y: int):
            strip = render(y)
            if self._shown and not self.drawn.is_set():
                self.drawn.set()
                self.drawn_at = time.monotonic()
            return strip

        screen.start_compute, screen.rows_shown = start_compute, rows_shown
        self.table.render_line, self.table.set_rows = render_line, timed_set_rows

    def arm(self, want) -> None:
        self.want, self._shown, self.started = want, False, None
        self.drawn.clear()

    async def wait(self, timeout: float = 30.0) -> float:
        await asyncio.wait_for(self.drawn.wait(), timeout)
        self.want = None
        return self.drawn_at


async def child(kubeconfig: str) -> dict:
    from textual import events
    from textual.keys import _character_to_key

    from backends.kubernetes import Kubernetes
    from prophecis_tui.actions import Actions, builtin_actions
    from prophecis_tui.alert_actions import alert_actions
    from prophecis_tui.app import ProphecisApp, Session, alerts_poller, cmdb_poller
    from prophecis_tui.cli import metrics_backend
    from prophecis_tui.config import AlertsSettings, CmdbSettings, MetricsSettings
    from prophecis_tui.domain import Health
    from prophecis_tui.feeds import Feeds, MetricsPoller, tune_interpreter
    from prophecis_tui.state import State
    from prophecis_tui.store import ALERTS_FILE, CMDB_FILE, AlertTimeline, AuditLog, CmdbStore
    from screens.alerts import AlertsScreen
    from tests.bench import rss_kib
    from tests.bench_gpu import thread_cpu
    from tests.bench_pods import LagMonitor, key_to_screen

    tune_interpreter()  # as `prophecis-tui` does after its imports
    demo_dir = str(Path(kubeconfig).parent)
    folder = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    # as cli.connect wires a session (the demo's folder is the simulator's --write-config folder)
    backend = Kubernetes.from_kubeconfig(kubeconfig, "sim-admin")
    identity = backend.identity()
    state = State()
    feeds = Feeds(backend, state)
    feeds.start()
    m = MetricsSettings()
    source, note = metrics_backend(m, demo_dir)
    metrics = MetricsPoller(source, state, interval=1.0, idle_threshold=m.idle_threshold, idle_minutes=m.idle_minutes)
    metrics.start()
    cmdb = cmdb_poller(CmdbSettings(), state, CmdbStore(folder / CMDB_FILE), demo_dir=demo_dir)
    timeline = AlertTimeline(folder / ALERTS_FILE)
    settings = AlertsSettings()  # the defaults: every 10 s, the events, the platform rules
    poller = alerts_poller(settings, state, timeline, demo_dir=demo_dir, metrics=metrics)
    ams = poller.alertmanager_set
    actions = Actions(backend, AuditLog(folder / "audit.db"), identity, read_only=False,
                      backends={"timeline": timeline, "alertmanager": ams})
    for spec in builtin_actions():
        actions.register(spec)
    for spec in alert_actions(settings, alertmanagers=ams, identity=identity, refresh=poller.refresh):
        actions.register(spec)
    probe = RoundProbe(poller, state, timeline)
    am = poller.alertmanagers[0]
    session = Session(backend, state, feeds, identity, False, actions, metrics, note, cmdb=cmdb, alerts=poller)
    app = ProphecisApp(session)
    out: dict = {"refresh_default_s": settings.refresh_seconds}
    lag = LagMonitor()
    gcw = GcWatch()

    def am_count() -> int:
        return len(am._list("/alerts", AM_QUERY, "alerts"))

    async def window(interval: float, seconds: float) -> dict:
        """The poller at ``interval`` for ``seconds`` (a round starts at once): its rounds, its thread's CPU."""
        poller.interval = interval
        await asyncio.sleep(0.05)
        if probe.cur is not None:  # a round under way: let it end, so the window starts with one
            while probe.cur is not None:
                await asyncio.sleep(0.01)
        threads0, cpu0 = thread_cpu(), time.process_time()
        lag.worst, lag.long = 0.0, []
        t0 = time.monotonic()
        poller.refresh()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - t0
        threads1, cpu = thread_cpu(), time.process_time() - cpu0
        rounds = [r for r in probe.since(t0) if r["start"] < t0 + seconds]
        by = _groups(threads0, threads1, wall)
        w = {"interval_s": interval, "seconds": wall, "rounds": len(rounds),
             "round_s": [round(r["round_seconds"], 3) for r in rounds],
             "round_cpu_s": [round(r["cpu"], 3) for r in rounds],
             "observe_ms": [round(r.get("observe", 0.0) * 1000, 1) for r in rounds],
             "observe_rows": [r.get("observe_rows", 0) for r in rounds],
             "published": rounds[-1]["published"] if rounds else None,
             "poller_cpu_pct": 100 * (threads1.get("alerts-poller", 0.0) - threads0.get("alerts-poller", 0.0)) / wall,
             "process_cpu_pct": 100 * cpu / wall, "cpu_pct_by_thread": by,
             "worst_stall_ms": lag.worst * 1000, "stalls_over_50ms": len(lag.long), **gcw.summary(t0)}
        if rounds:
            w["round_s_median"] = statistics.median(r["round_seconds"] for r in rounds)
            w["round_s_max"] = max(r["round_seconds"] for r in rounds)
            w["round_cpu_s_median"] = statistics.median(r["cpu"] for r in rounds)
            w["parts_ms_median"] = {p: round(_ms_stats(rounds, p)[0], 1) for p in PARTS}
            w["parts_ms_max"] = {p: round(_ms_stats(rounds, p)[1], 1) for p in PARTS}
            worst = max(rounds, key=lambda r: r["round_seconds"])
            w["slowest"] = {"round_s": worst["round_seconds"], "cpu_s": worst["cpu"],
                            "parts_ms": {p: round(worst.get(p, 0.0) * 1000, 1) for p in PARTS}}
            w["other_ms_median"] = statistics.median(
                1000 * (r["round_seconds"] - sum(r.get(p, 0.0) for p in PARTS)) for r in rounds)
        return w

    async with app.run_test(size=(200, 50)):
        lag.start()
        app.run_command("alerts")
        deadline = time.monotonic() + 180
        while not (isinstance(app.screen, AlertsScreen) and feeds.planned.is_set() and all(f.live for f in feeds.feeds)
                   and state.business_systems() and state.source_health(MetricsPoller.KEY).state == Health.LIVE
                   and state.has_data("events")):
            if time.monotonic() > deadline:
                raise SystemExit("the console did not get its data in 3 minutes")
            await asyncio.sleep(0.05)
        screen = app.screen
        poller.refresh()  # a round over the complete lists
        await probe.next_round()
        while not screen.table.row_count:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)
        out["pods"] = state.count("pods")
        out["events"] = state.count("events")
        out["nodes"] = state.count("nodes")
        out["business_systems"] = len(state.business_systems())
        out["gpus"] = len(state.gpus())

        # ---- the simulator's own alerts
        out["own_alertmanager_alerts"] = await asyncio.to_thread(am_count)
        out["own_10"] = await window(settings.refresh_seconds, WINDOW_10)
        out["own_1"] = await window(1.0, WINDOW_1)
        out["own_sources"] = _by_source(state.alerts())

        # ---- crafted alerts up to ALERTS_WANTED in the Alertmanager
        poller.interval = settings.refresh_seconds
        have = await asyncio.to_thread(am_count)
        pods = sorted((p for p in state.pods() if p.phase == "Running"), key=lambda p: (p.namespace, p.name))
        crafted = _crafted(pods, max(0, ALERTS_WANTED - have), datetime.now(timezone.utc))
        if crafted:
            await asyncio.to_thread(am._request, "POST", "/alerts", body=crafted)
        out["crafted"] = len(crafted)
        out["alertmanager_alerts"] = await asyncio.to_thread(am_count)
        t = time.monotonic()
        poller.refresh()
        intake = await probe.next_round(t)
        out["intake_round"] = {"round_s": intake["round_seconds"], "cpu_s": intake["cpu"],
                               "parts_ms": {p: round(intake.get(p, 0.0) * 1000, 1) for p in PARTS},
                               "published": intake["published"]}
        while screen.total < intake["published"]:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)

        out["big_1"] = await window(1.0, WINDOW_1)
        out["big_10"] = await window(settings.refresh_seconds, WINDOW_10)
        out["big_sources"] = _by_source(state.alerts())
        out["screen_total"] = screen.total
        out["screen_rows"] = screen.table.row_count

        # ---- the Alertmanager client's parse of those alerts
        def parse_figures() -> dict:
            from backends.alertmanager import parse_alerts
            t0 = time.perf_counter()
            resp = am._request("GET", "/alerts", params=AM_QUERY)
            got = time.perf_counter() - t0
            t0 = time.perf_counter()
            items = json.loads(resp.content)
            decode = time.perf_counter() - t0
            best = float("inf")
            for _ in range(5):
                c0 = time.thread_time()
                parsed, _ = parse_alerts(items, am.name)
                best = min(best, time.thread_time() - c0)
            return {"alerts": len(parsed), "bytes": len(resp.content), "get_ms": got * 1000,
                    "json_ms": decode * 1000, "parse_ms": best * 1000}
        out["parse"] = await asyncio.to_thread(parse_figures)

        # ---- the timeline's observe alone: the last round's alerts again (nothing changed), in a thread
        def observe_alone() -> dict:
            a, kw = probe.observe_args
            alerts = list(a[0])
            conn = timeline._db.conn
            walls, cpus = [], []
            for _ in range(3):
                n = conn.total_changes
                w0, c0 = time.perf_counter(), time.thread_time()
                timeline.observe(alerts, *a[1:], **kw)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.thread_time() - c0)
            return {"alerts": len(alerts), "wall_ms": min(walls) * 1000, "cpu_ms": min(cpus) * 1000,
                    "rows_written": conn.total_changes - n}
        out["observe_alone"] = await asyncio.to_thread(observe_alone)

        # ---- key press to screen (the poller at its default 10 s)
        table = screen.table
        await asyncio.sleep(0.5)
        lag.worst, lag.long = 0.0, []
        t_keys = time.monotonic()
        downs = []
        for _ in range(DOWN_PRESSES):
            downs.append(await key_to_screen(app, table, "down"))
            await asyncio.sleep(0.1)
        down_stall = lag.worst
        down_gc = gcw.summary(t_keys)
        sprobe = ScreenProbe(screen)  # after the down presses: key_to_screen takes its render_line wrapper off
        slash = events.Key("slash", "/")
        slash.set_sender(app)
        app._driver.send_message(slash)
        bar = None
        while bar is None or not bar.has_focus:
            await asyncio.sleep(0.01)
            bar = app._bar("filter-bar")
        await asyncio.sleep(0.3)
        lag.worst, lag.long = 0.0, []
        typed, counts, parts = [], [], []
        t_keys = time.monotonic()
        text = ""
        for ch in FILTER_TYPED:
            text += ch
            sprobe.arm(lambda want=text: sprobe.started_text == want)
            t0 = time.monotonic()
            key = events.Key(_character_to_key(ch), ch)
            key.set_sender(app)
            app._driver.send_message(key)
            drawn = await sprobe.wait()
            typed.append(drawn - t0)
            counts.append(table.row_count)
            overlap = any(r["start"] <= drawn and r["start"] + r["wall"] >= t0 for r in probe.rounds) or \
                (probe.cur is not None and probe.cur["start"] <= drawn)
            parts.append({"round_beside": overlap, "to_compute_ms": round((sprobe.started - t0) * 1000, 1),
                          "compute_ms": round(sprobe.cost * 1000, 1),
                          "to_ui_ms": round((sprobe.shown_at - sprobe.started - sprobe.cost) * 1000, 1),
                          "set_rows_ms": round(sprobe.set_rows_s * 1000, 1),
                          "draw_ms": round((drawn - sprobe.shown_at) * 1000, 1)})
            await asyncio.sleep(0.15)
        type_stall = lag.worst
        out["keys"] = {
            "down_ms": [round(d * 1000, 1) for d in downs], "down_ms_median": statistics.median(downs) * 1000,
            "down_ms_max": max(downs) * 1000, "down_worst_stall_ms": down_stall * 1000, "down_gc": down_gc,
            "filter_ms": [round(d * 1000, 1) for d in typed], "filter_ms_median": statistics.median(typed) * 1000,
            "filter_ms_max": max(typed) * 1000, "filter_worst_stall_ms": type_stall * 1000,
            "filter_gc": gcw.summary(t_keys), "filter_parts": parts,
            "filter_compute_ms_median": statistics.median(p["compute_ms"] for p in parts),
            "filter_to_compute_ms_median": statistics.median(p["to_compute_ms"] for p in parts),
            "filter_rows": counts, "filter_compute_ms_last": screen._cost * 1000, "filter_text": FILTER_TYPED}
        esc = events.Key("escape", None)
        esc.set_sender(app)
        app._driver.send_message(esc)
        while screen.filter_text:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)

        # ---- from a change of the alerts to the rows on screen
        target = pods[len(pods) // 3]
        samples = []
        lag.worst, lag.long = 0.0, []
        t_refresh = time.monotonic()
        for i in range(REFRESH_SAMPLES):
            body = [{"labels": {"alertname": "BenchProbe", "severity": "warning", "namespace": target.namespace,
                                "pod": target.name, "probe": str(i)},
                     "annotations": {"summary": f"bench probe {i}"},
                     "endsAt": (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}]
            await asyncio.to_thread(am._request, "POST", "/alerts", body=body)
            n_changed = len(probe.changed)
            mark = {}

            def changed(mark: dict = mark, n_changed: int = n_changed) -> bool:
                if "at" not in mark:
                    for before, after, _ in probe.changed[n_changed:]:
                        mark["at"], mark["before"] = after, before
                        break
                return "at" in mark and sprobe.started_at >= mark["before"]
            sprobe.arm(changed)
            poller.refresh()
            drawn = await sprobe.wait()
            at = mark["at"]
            samples.append({"total_ms": (drawn - at) * 1000, "to_compute_ms": (sprobe.started - at) * 1000,
                            "compute_ms": sprobe.cost * 1000,
                            "to_ui_ms": (sprobe.shown_at - sprobe.started - sprobe.cost) * 1000,
                            "set_rows_ms": sprobe.set_rows_s * 1000, "draw_ms": (drawn - sprobe.shown_at) * 1000})
            await asyncio.sleep(0.5)
        out["refresh"] = {"samples": [{k: round(v, 1) for k, v in s.items()} for s in samples],
                          "total_ms_median": statistics.median(s["total_ms"] for s in samples),
                          "total_ms_max": max(s["total_ms"] for s in samples),
                          "compute_ms_median": statistics.median(s["compute_ms"] for s in samples),
                          "to_compute_ms_median": statistics.median(s["to_compute_ms"] for s in samples),
                          "to_ui_ms_median": statistics.median(s["to_ui_ms"] for s in samples),
                          "draw_ms_median": statistics.median(s["draw_ms"] for s in samples),
                          "worst_stall_ms": lag.worst * 1000, "rows": table.row_count, "alerts": screen.total,
                          **gcw.summary(t_refresh)}

        # ---- a profile of the screen's rows for a filter, when a key press was slow
        if out["keys"]["filter_ms_max"] > 100 or "--profile" in sys.argv:
            compute = type(screen)._compute.__wrapped__  # the worker's function itself (textual's work wraps it)

            def profiled(text: str) -> dict:
                prof = cProfile.Profile()
                times = []
                for _ in range(3):
                    prof.enable()
                    c0 = time.thread_time()
                    compute(screen, screen.scope, text, table.sort_column, table.sort_reverse)
                    times.append(time.thread_time() - c0)
                    prof.disable()
                return {"text": text, "cpu_ms": [round(t * 1000, 1) for t in times], "profile": _profile_text(prof, 25)}
            out["profile_filter"] = [await asyncio.to_thread(profiled, t) for t in ("s", "")]
            await asyncio.sleep(0.5)

        # ---- a profile of rounds, when a round was slow
        slow = max((out[k].get("round_s_max", 0.0) for k in ("own_10", "own_1", "big_1", "big_10")), default=0.0)
        if slow > 1.0 or "--profile" in sys.argv:
            poller.interval = 1.0
            probe.profile_rounds = 3
            while probe.profiled < 3:
                await asyncio.sleep(0.1)
            out["profile"] = _profile_text(probe.profile)
        out["rss_mib"] = rss_kib(os.getpid())[0] / 1024
    for stop in (poller, cmdb, metrics, feeds):  # before their files go
        stop.stop()
    poller.join(10)
    shutil.rmtree(folder, ignore_errors=True)
    return out


def _by_source(alerts: list) -> dict:
    by: dict[str, int] = {}
    for a in alerts:
        by[a.source] = by.get(a.source, 0) + 1
    by["total"] = len(alerts)
    by["tagged"] = sum(1 for a in alerts if a.systems)
    return by


# ------------------------------------------------------------------------------------------ the parent
def alerts_figures() -> dict | None:
    """A `large` simulator, the child against it; its figures (None when it failed), with how busy the machine's
    CPUs were meanwhile and how much of that was other processes' (this machine is shared)."""
    import resource
    import subprocess

    from tests.bench import ROOT, Sim
    from tests.bench_logs import _machine_busy, _proc_cpu

    with tempfile.TemporaryDirectory() as d, Sim("large", Path(d)) as sim:
        cmd = [sys.executable, "-m", "tests.bench_alerts", "--child", sim.info["kubeconfig"],
               *(["--profile"] if "--profile" in sys.argv else [])]
        busy0, sim0 = _machine_busy(), _proc_cpu(sim.proc.pid)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            got = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
        except subprocess.TimeoutExpired:
            print("alerts bench: timed out", file=sys.stderr)
            return None
        busy1, sim1 = _machine_busy(), _proc_cpu(sim.proc.pid)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if got.returncode != 0:
            print(f"alerts bench failed (exit {got.returncode}):\n{got.stderr[-4000:]}", file=sys.stderr)
            return None
        r = json.loads(got.stdout.strip().splitlines()[-1])
    tick = os.sysconf("SC_CLK_TCK")
    total = max(1, busy1[1] - busy0[1])
    child = (kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime) * tick
    r["machine_busy_pct"] = 100 * (busy1[0] - busy0[0]) / total  # of all the CPUs, every process
    r["others_busy_pct"] = max(0.0, 100 * (busy1[0] - busy0[0] - child - (sim1 - sim0) * tick) / total)
    r["sim_cpu_pct_of_one"] = 100 * (sim1 - sim0) * tick * (os.cpu_count() or 1) / total
    return r


def alerts_rows(r: dict) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    world = (f"`large`: {r['pods']:,} pods, {r['nodes']} nodes, {r['events']:,} events, {r['gpus']:,} GPUs, "
             f"{r['business_systems']} business systems in its CMDB")

    def parts(w: dict) -> str:
        med = w["parts_ms_median"]
        return (f"a round's parts (medians at 1 s): the Alertmanager read {med['am_alerts']:.0f} ms (GET, JSON, "
                f"parse), silences {med['am_silences']:.0f}, Warning events {med['events']:.0f}, platform rules "
                f"{med['platform']:.0f}, merge {med['merge']:.0f}, enrich {med['enrich']:.0f}, tag {med['tag']:.0f}, "
                f"acks {med['acks']:.0f}, timeline observe {med['observe']:.0f}, correlate {med['correlate']:.0f}, "
                f"set_alerts {med['set_alerts']:.0f}, the rest (pod labels, the idle board, node maps, the resolved "
                f"ones) {w['other_ms_median']:.0f} ms")

    def slowest(ws: list[dict]) -> str:
        w = max(ws, key=lambda w: w["slowest"]["round_s"])
        worst, med = w["slowest"], statistics.median(x["parts_ms_median"]["am_alerts"] for x in ws)
        am = worst["parts_ms"]["am_alerts"]
        late = (" (the simulator answering late; profiled when this bench was written: a full garbage-collector pass in the simulator's "
                "process, ~0.7 s over its ~590,000 objects, once in ~10 answers)") if am > max(3 * med, 400) else ""
        return (f"the slowest {worst['round_s']:.2f} s, of it the Alertmanager read {am:.0f} ms{late} and "
                f"{worst['cpu_s']:.2f} s of the thread's CPU")

    def poller_rows(label: str, w10: dict, w1: dict, src: dict, am_alerts: int, extra: str = "") -> None:
        rs = w10["round_s"] + w1["round_s"]
        cpu = statistics.median(w10["round_cpu_s"] + w1["round_cpu_s"])
        kinds = ", ".join(f"{k} {v:,}" for k, v in src.items() if k not in ("total", "tagged"))
        rows.append((f"alerts poller on {label}: a round", f"{statistics.median(rs):.2f} s",
                     f"median of {len(rs)} rounds ({w10['rounds']} at the 10 s refresh, {w1['rounds']} at 1 s; "
                     f"AlertsPoller.round_seconds), max {max(rs):.2f} s: {slowest([w10, w1])}; the round's CPU "
                     f"(the poller's thread) {cpu:.2f} s; {am_alerts:,} alerts from the Alertmanager, {src['total']:,} "
                     f"published ({kinds}; {src['tagged']:,} tagged with a business system); {parts(w1)}{extra}; "
                     f"the console's wiring: Kubernetes feeds, metrics every second, the simulator's CMDB, the alert "
                     f"timeline; {world}"))
        for w, what in ((w10, "the default refresh (10 s)"), (w1, "a 1 s refresh")):
            by = ", ".join(f"{k} {v:.1f}" for k, v in w["cpu_pct_by_thread"].items() if v >= 0.5)
            rows.append((f"alerts poller on {label}: its thread's CPU at {what}",
                         f"{w['poller_cpu_pct']:.1f}% of a core",
                         f"{w['rounds']} rounds in {w['seconds']:.0f} s ({', '.join(f'{x:.2f}' for x in w['round_s'])} s "
                         f"each); the console's process {w['process_cpu_pct']:.0f}% ({by}), `:alerts` on view; longest "
                         f"UI stall {w['worst_stall_ms']:.0f} ms; full garbage-collector "
                         f"passes in the console {w['full_gc']}"))

    own = r["own_alertmanager_alerts"]
    poller_rows(f"`large` ({own} Alertmanager alerts)", r["own_10"], r["own_1"], r["own_sources"], own)
    i = r["intake_round"]
    poller_rows(f"`large` + {r['crafted']:,} crafted alerts ({r['alertmanager_alerts']:,} in the Alertmanager)",
                r["big_10"], r["big_1"], r["big_sources"], r["alertmanager_alerts"],
                f"; the round that took in the {r['crafted']:,} crafted ones {i['round_s']:.2f} s (their fired "
                f"moments written: timeline observe {i['parts_ms']['observe']:.0f} ms)")
    p = r["parse"]
    rows.append((f"Alertmanager client: parse {p['alerts']:,} alerts (backends.alertmanager.parse_alerts)",
                 f"{p['parse_ms']:.0f} ms",
                 f"CPU time, best of 5, into domain Alerts; the answer {p['bytes'] / 2**20:.1f} MiB: GET "
                 f"{p['get_ms']:.0f} ms (the simulator answering, TLS, transfer), JSON decode {p['json_ms']:.0f} ms"))
    b10, b1 = r["big_10"], r["big_1"]
    obs = [x for w in (b10, b1) for x in w["observe_ms"]]
    written = [x for w in (b10, b1) for x in w["observe_rows"]]
    alone = r["observe_alone"]
    rows.append((f"alert timeline: observe a round of {alone['alerts']:,} alerts, every source's own "
                 f"(store.AlertTimeline)",
                 f"{statistics.median(obs):.0f} ms",
                 f"median of {len(obs)} rounds (10 s and 1 s), in the poller's thread (a write transaction: each "
                 f"alert's last state read and compared, what moved written; sqlite), {statistics.median(written):.0f} "
                 f"rows written a round (median); max {max(obs):.0f} ms; the round with {r['crafted']:,} new alerts "
                 f"{i['parts_ms']['observe']:.0f} ms; the last round's {alone['alerts']:,} alerts observed again alone "
                 f"(nothing moved): {alone['wall_ms']:.0f} ms, of it {alone['cpu_ms']:.0f} ms CPU"))
    f = r["refresh"]
    rows.append((f"`:alerts` at 200x50, {f['alerts']:,} alerts: from the alerts changing to the rows on screen",
                 f"{f['total_ms_median']:.0f} ms",
                 f"median of {len(f['samples'])} (one more alert POSTed and a round asked for; from state.set_alerts "
                 f"to the table redrawn); max {f['total_ms_max']:.0f} ms; of it (medians): to the compute starting "
                 f"(the app's 0.1 s tick, the screen's pacing) {f['to_compute_ms_median']:.0f} ms, the rows worked "
                 f"out in the worker (filter, group by business system, {f['rows']:,} rows) "
                 f"{f['compute_ms_median']:.0f} ms, to the UI thread {f['to_ui_ms_median']:.0f} ms, set and drawn "
                 f"{f['draw_ms_median']:.0f} ms; longest UI stall {f['worst_stall_ms']:.0f} ms"))
    k = r["keys"]
    rows.append((f"`:alerts` at 200x50, {f['alerts']:,} alerts: key press (down) to screen",
                 f"{k['down_ms_median']:.0f} ms",
                 f"median of {len(k['down_ms'])} (key as the terminal driver delivers it, to the cursor line "
                 f"redrawn; the detail pane follows); max {k['down_ms_max']:.0f} ms; longest UI stall "
                 f"{k['down_worst_stall_ms']:.0f} ms; the poller at 10 s meanwhile"))
    worst_i = max(range(len(k["filter_ms"])), key=lambda j: k["filter_ms"][j])
    w = k["filter_parts"][worst_i]
    rows.append((f"`:alerts` at 200x50, {f['alerts']:,} alerts: typing a `/` filter, key press to screen",
                 f"{k['filter_ms_median']:.0f} ms",
                 f"median of {len(k['filter_ms'])} (`{k['filter_text']}`, a character a press, to the table redrawn with the "
                 f"rows of the text so far: {k['filter_rows'][0]:,} rows after the first, {k['filter_rows'][-1]:,} at "
                 f"the end); max {k['filter_ms_max']:.0f} ms (`{k['filter_text'][:worst_i + 1]}`: the rows worked out "
                 f"in the worker {w['compute_ms']:.0f} ms, to the UI thread {w['to_ui_ms']:.0f} ms, drawn "
                 f"{w['draw_ms']:.0f} ms); the worker's median {k['filter_compute_ms_median']:.0f} ms; longest UI "
                 f"stall {k['filter_worst_stall_ms']:.0f} ms"))
    rows.append(("console on `large` with the alerts wired: memory at the end", f"{r['rss_mib']:.0f} MiB RSS",
                 f"{f['alerts']:,} alerts on `:alerts`, {r['pods']:,} pods, {r['gpus']:,} GPUs"))
    return rows


def section(rows: list[tuple[str, str, str]], before: float, after: float, by: str, r: dict) -> list[str]:
    """The "Alerts" section of docs/benchmarks.md."""
    busy = (f"its {os.cpu_count()} CPUs {r['machine_busy_pct']:.0f}% busy during the child's run (every process), "
            f"{r['others_busy_pct']:.0f}% of them other processes than the bench's (the machine is shared)")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["", "## Alerts", "",
             f"Written by {by} on {when}, one run (a `large` simulator, then the console as one child process, "
             f"headless at 200x50). This machine's speed (the fixed piece of pure Python of the first row above, "
             f"lower is faster): {before:.0f} / {after:.0f} ms before / after; {busy}; read the figures beside "
             "them.", "",
             "| figure | value | note |", "|---|---|---|"]
    lines += [f"| {n} | {v} | {note} |" for n, v, note in rows]
    return lines


def table_section(title: str, by: str, what: str, rows: list[tuple[str, str, str]]) -> list[str]:
    """A section of docs/benchmarks.md: its title, who wrote it when and ``what`` was measured, then the rows."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ["", f"## {title}", "", f"Written by {by} on {when}, one run: {what}; {os.cpu_count()} CPUs.", "",
            "| figure | value | note |", "|---|---|---|"] + [f"| {n} | {v} | {note} |" for n, v, note in rows]


def write_section(lines: list[str], title: str = "Alerts") -> Path:
    """Put the section ``## <title>`` (``lines``) into docs/benchmarks.md in place of the one there (or after the
    rest); the other benches' sections use it too."""
    from tests.bench import ROOT
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head, sep, tail = text.partition(f"\n## {title}\n")
    rest = ""
    if sep:
        nxt = tail.find("\n## ")
        rest = tail[nxt:] if nxt >= 0 else ""
    path.write_text(head.rstrip("\n") + "\n" + "\n".join(lines) + "\n" + rest)
    return path


def alerts_section(by: str = "`make bench`", keep: Path | None = None) -> list[str]:
    """Run the figures (with the machine's speed before and after) and return the section's lines; [] if none.
    ``keep``: where to write the child's figures as they came (JSON, with the profiles when it made some)."""
    from tests.bench import machine_speed
    before = machine_speed()
    r = alerts_figures()
    after = machine_speed()
    if r is None:
        return []
    if keep is not None:
        keep.write_text(json.dumps({"machine_speed_ms": [before, after], **r}, indent=1, ensure_ascii=False))
        print(f"the figures as measured: {keep}")
    rows = alerts_rows(r)
    width = max(len(n) for n, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    return section(rows, before, after, by, r)


def main() -> int:
    lines = alerts_section("`python -m tests.bench_alerts`", keep=Path(tempfile.gettempdir()) / "bench_alerts.json")
    if not lines:
        return 1
    path = write_section(lines)
    print(f"\nwritten to the Alerts section of {path}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(asyncio.run(child(sys.argv[2]))), flush=True)
    else:
        sys.exit(main())

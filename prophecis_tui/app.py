"""The Textual application: the shell every screen lives in (header, bars, keys, pickers)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from textual import on, work
from textual.app import App, ComposeResult
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.binding import Binding, BindingsMap
from textual.suggester import SuggestFromList
from textual.theme import Theme
from textual.widgets import Input

from backends.base import Identity, KubernetesBackend
from screens.alert_history import AlertHistoryScreen
from screens.alerts import AlertsScreen
from screens.audit import AuditScreen
from screens.deployments import DeploymentsScreen
from screens.events import EventsScreen
from screens.gpu import GpuScreen
from screens.jobs import JobsScreen
from screens.linkis import LinkisScreen
from screens.modals import ConfirmAction, TextView
from screens.notebooks import NotebooksScreen
from screens.overview import OverviewScreen
from screens.pickers import ALL, HelpScreen, Picker
from screens.pods import PodsScreen
from screens.quota import QuotaScreen
from widgets.header import StatusHeader

from .actions import Actions, NeedsConfirmation, NeedsReason, Result, Target
from .config import AlertsSettings, CmdbSettings, ConfigError, LinkisSettings, LogsSettings, load_settings
from .domain import Alert, AlertState, BackendError, Health, SourceHealth
from .feeds import SOURCE, AlertsPoller, CmdbPoller, Feeds, MetricsPoller
from .freshness import KUBERNETES_SECONDS, Freshness, banner_text
from .sanitize import clean, clean_line
from .state import State

HIGH_CONTRAST = Theme(name="high-contrast", primary="#ffff00", secondary="#00ffff", accent="#ff00ff",
                      foreground="#ffffff", background="#000000", surface="#000000", panel="#1a1a1a",
                      success="#00ff00", warning="#ffff00", error="#ff3030", dark=True)

# command -> (aliases, what it does); screens of later issues register here too
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "overview": (("home", "ov"), "the overview of every namespace"),
    "ns": (("namespace",), "switch namespace: :ns NAME, :ns all, or :ns alone for the picker"),
    "ctx": (("context",), "switch cluster context: :ctx NAME, or :ctx alone for the picker"),
    "nb": (("notebooks", "notebook"), "Jupyter notebooks: stop, start, create, delete, copy the URL"),
    "jobs": (("job", "tfjobs", "pytorchjobs", "training"), "training jobs: replicas, failures, kill, re-run"),
    "deploy": (("deployments", "sdep", "models"), "model deployments: scale, stop, start, test prediction"),
    "pods": (("po", "pod"), "pods, with why they are pending"),
    "gpu": (("gpus",), "every GPU: heat map, utilisation, memory, temperature, who holds it"),
    "quota": (("quotas",), "GPU quota per namespace: used/base/max, pressure, blocked work, edit quota"),
    "events": (("ev", "event"), "the cluster's events, warnings first"),
    "alerts": (("alert", "al"), "alerts by business system: filter, jump to the workload, silence, expire, "
                                "acknowledge"),
    "history": (("timeline",), "the alert timeline: every alert's fired, acked, silenced and resolved moments; "
                               "a handover note"),
    "linkis": (("lk",), "Linkis tasks: history and running, filter by state/engine/creator/user, detail with code, "
                        "log and results; submit, kill, re-submit, save a result"),
    "logs": (("log",), "follow a log: :logs NAME (a pod, job, deployment or notebook), or :logs alone to pick"),
    "audit": ((), "every action taken with this console"),
    "help": (("h",), "every key and command"),
    "quit": (("q", "q!"), "leave the console"),
}
PLANNED: dict[str, str] = {}
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"  # the pod annotation kubectl logs reads
PICK_LIMIT = 2_000  # :logs' picker lists at most this many (an OptionList of 10,000 pods is slow)
RESOURCE_SCREENS = {"nb": NotebooksScreen, "jobs": JobsScreen, "deploy": DeploymentsScreen, "pods": PodsScreen,
                    "events": EventsScreen, "gpu": GpuScreen, "quota": QuotaScreen, "alerts": AlertsScreen,
                    "linkis": LinkisScreen}
OSC9_LIMIT = 200  # characters of a desktop notification's text


def _every(poller: Any) -> float:
    """Seconds between a poller's rounds (what the wall's freshness expects of its source)."""
    return float(getattr(poller, "interval", 0) or 0)


# wall mode: the app's only keys (the wall screen adds its paging keys); nothing else can run on the app
WALL_BINDINGS = [
    Binding("q", "quit", "Quit", id="wall.quit"),
    Binding("ctrl+q,ctrl+c", "quit", "Quit", id="wall.quit_ctrl", show=False, priority=True),
]
WALL_APP_ACTIONS = frozenset({"quit"})  # the app's actions the wall allows (check_action refuses every other)
ALERT_HEALTH = ("alertmanager", "alerts")  # the alerts sources' health keys: in the header when in trouble
LINKIS_HEALTH = "linkis"  # the Linkis poller's health key: in the header when in trouble, like the CMDB's


def alert_notice(alerts: list[Alert]) -> str:
    """One line about new critical alerts, for a toast and a desktop notification (raw: callers sanitise)."""
    a = alerts[0]
    where = a.target or a.namespace
    system = next((f"{s.name} (T{s.tier})" if s.tier is not None else s.name for s in a.systems), "")
    first = " ".join(p for p in (f"CRITICAL {a.name}", f"on {where}" if where else "",
                                 f"[{system}]" if system else "") if p)
    if a.summary:
        first += f": {a.summary}"
    if len(alerts) > 1:
        first = f"{len(alerts)} new critical alerts. {first}"
    return first


def osc9(text: str) -> str:
    """An OSC 9 desktop notification (iTerm2, kitty, WezTerm, Windows Terminal): ``ESC ] 9 ; text BEL``, the
    text one sanitised line (no control character survives to end the sequence early) of at most OSC9_LIMIT
    characters. A text that starts with a digit and ';' would read as ConEmu's progress form: a space first."""
    body = clean_line(text, OSC9_LIMIT)
    if body[:1].isdigit() and ";" in body[:4]:
        body = " " + body[:OSC9_LIMIT - 1]
    return f"\x1b]9;{body}\x07"


class ConsoleCommands(Provider):
    """ctrl+p: every namespace and context to switch to, and the console's commands."""

    def _entries(self) -> list[tuple[str, Callable[[], None], str]]:
        app = self.app
        out: list[tuple[str, Callable[[], None], str]] = [
            ("Namespace: all namespaces", lambda: app.set_namespace(None), "scope the console to every namespace")]
        for ns in app.visible_namespaces():
            out.append((f"Namespace: {ns}", lambda ns=ns: app.set_namespace(ns), f"scope the console to {ns}"))
        for ctx in app.contexts:
            out.append((f"Context: {ctx}", lambda ctx=ctx: app.switch_context(ctx), "switch the cluster context"))
        out.append(("Help: keys and commands", app.action_help, "every key and command"))
        return out

    async def discover(self) -> Hits:
        for text, fn, help_text in self._entries():
            yield DiscoveryHit(text, fn, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, fn, help_text in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), fn, help=help_text)


@dataclass
class Session:
    """One connection: a backend, the state it feeds, the feeds, who we are."""

    backend: KubernetesBackend
    state: State
    feeds: Feeds | None
    identity: Identity
    read_only: bool = False  # this context's setting (the backend refuses changes on its own too)
    actions: Actions | None = None  # every change goes through it; None: this session cannot act
    metrics: MetricsPoller | None = None  # GPU numbers; None: no source (metrics_note says why and how)
    metrics_note: str = ""
    cmdb: CmdbPoller | None = None  # business systems into the state (cmdb_poller); None: not wired
    alerts: AlertsPoller | None = None  # every source's alerts into the state (alerts_poller); None: not wired
    linkis: Any = None  # backends.linkis.LinkisSync of this context's gateway (cli.linkis_backend); None: none
    linkis_poller: Any = None  # prophecis_tui.linkis_tasks.LinkisPoller (linkis_poller); None without a gateway
    linkis_note: str = ""  # why there is no Linkis, and how to configure it
    discovery: Any = None  # the wall's late search for a metrics source (cli.MetricsDiscovery); None: none

    def stop(self) -> None:
        if self.discovery is not None:
            self.discovery.stop()
        if self.feeds is not None:
            self.feeds.stop()
        if self.metrics is not None:
            self.metrics.stop()
        if self.cmdb is not None:
            self.cmdb.stop()
        if self.alerts is not None:
            self.alerts.stop()
        if self.linkis_poller is not None:
            self.linkis_poller.stop()
        if self.actions is not None:
            self.actions.close()  # what the registry opened itself; the shared audit log stays open
        if self.linkis is not None:
            try:
                self.linkis.close()  # its event-loop thread; a follower still reading gets Unavailable
            except Exception:
                pass
        try:
            self.backend.close()
        except Exception:  # closing a dead connection must not stop the switch
            pass


Connect = Callable[[str], Session]


def cmdb_poller(c: CmdbSettings, state: State, store, *, demo_dir: str | None = None,
                env: dict[str, str] | None = None) -> CmdbPoller:
    """Business systems for a session, started: the store's at once, then ``[cmdb]``'s source polled into the
    store and the state every ``refresh_seconds``; stop it with the session. ``store`` is a
    ``prophecis_tui.store.CmdbStore``: the last good CMDB survives restarts there, beside what ``prophecis-tui cmdb
    import`` put in it (an import made while the console runs reaches the state within seconds).

    ``source = "url"``: ``backends.cmdb.RestCmdb`` with the ``fields`` mapping, ``list_key``, the bearer token
    ``token_env`` names and ``ca_file``; ``"file"``: ``backends.cmdb.FileCmdb`` (the file re-read at each poll, as an
    import); ``"none"``: no source, the store's systems only; in the demo (``demo_dir``, the simulator's
    ``--write-config`` folder) the simulator's CMDB as its written config.toml describes it. A token that cannot
    be had: no source, and health ``cmdb`` failing with why."""
    if c.source == "none" and demo_dir is not None:
        c = load_settings(Path(demo_dir) / "config.toml", env={"HOME": demo_dir}).for_context("sim-admin").cmdb
    from backends.cmdb import FileCmdb, RestCmdb
    client: FileCmdb | RestCmdb | None = None
    if c.source == "file":
        client = FileCmdb(c.path)
    elif c.source == "url":
        try:
            token = c.resolve_token(env)
        except ConfigError as err:
            state.set_health(CmdbPoller.KEY, SourceHealth(source=CmdbPoller.KEY, state=Health.FAILING,
                                                          reason=str(err)))
        else:
            client = RestCmdb(c.url, c.fields, list_key=c.list_key,
                              token=token.get_secret_value() if token else None,
                              ca_file=str(c.ca_file) if c.ca_file else None)
    poller = CmdbPoller(client, store, state, interval=c.refresh_seconds)
    poller.start()
    return poller


def alerts_poller(a: AlertsSettings, state: State, timeline, *, demo_dir: str | None = None,
                  metrics: MetricsPoller | None = None, read_only: bool = False,
                  clock: Callable[[], datetime] | None = None) -> AlertsPoller | None:
    """Every source's alerts for a session, started (stop it with the session): ``[alerts]``'s Alertmanagers
    (``backends.alertmanager``, with ``ca_file``; refusing changes when ``read_only``: the second lock), the
    state's Warning events (``events``) and the platform rules with their thresholds (the idle-GPU rule through
    ``metrics``, the session's metrics poller), polled every ``refresh_seconds``; ``timeline`` is the
    ``store.AlertTimeline`` (acks, the fired/silenced/resolved moments). In the demo (``demo_dir``, the simulator's
    ``--write-config`` folder) without Alertmanagers of its own: the simulator's, as its config.toml names it, with
    its CA. ``poller.alertmanager_set`` is the ``AlertmanagerSet`` the action registry's ``"alertmanager"`` backend
    is (None without any). None when ``a`` is None."""
    if a is None:
        return None
    urls, ca = list(a.alertmanagers), str(a.ca_file) if a.ca_file else None
    if not urls and demo_dir is not None:
        urls = load_settings(Path(demo_dir) / "config.toml",
                             env={"HOME": demo_dir}).for_context("sim-admin").alerts.alertmanagers
        ca = str(Path(demo_dir) / "ca.crt")
    members = []
    if urls:
        from backends.alertmanager import Alertmanager, AlertmanagerSet
        members = AlertmanagerSet(Alertmanager(u, ca_file=ca, read_only=read_only) for u in urls)
    kw = {"clock": clock} if clock is not None else {}
    poller = AlertsPoller(state, timeline, alertmanagers=members, settings=a, interval=a.refresh_seconds,
                          events=a.events, resolved_minutes=a.resolved_minutes, metrics=metrics,
                          history_days=a.history_days, **kw)
    poller.alertmanager_set = members or None
    poller.start()
    return poller


def linkis_poller(lk: LinkisSettings, state: State, sync: Any) -> Any:
    """The session's Linkis tasks, started (stop it with the session): ``prophecis_tui.linkis_tasks.LinkisPoller``
    on ``sync`` (the session's ``LinkisSync``, from ``cli.linkis_backend``), reading the job history of the last
    ``history_days`` every ``refresh_seconds`` of ``lk`` (the context's ``[linkis]``). None without ``sync``."""
    if sync is None:
        return None
    from .linkis_tasks import LinkisPoller
    poller = LinkisPoller(state, sync, interval=lk.refresh_seconds, days=lk.history_days)
    poller.start()
    return poller


class ProphecisApp(App):
    TITLE = "prophecis-tui"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    CSS = """
    #command-bar, #filter-bar { display: none; height: 1; border: none; padding: 0 1; }
    #command-bar.-open, #filter-bar.-open { display: block; }
    """
    BINDINGS = [
        Binding("colon", "command", "Command", id="app.command", key_display=":"),
        Binding("slash", "filter", "Filter", id="app.filter", key_display="/"),
        Binding("question_mark", "help", "Help", id="app.help", key_display="?"),
        Binding("n", "pick_namespace", "Namespace", id="app.namespace"),
        Binding("c", "pick_context", "Context", id="app.context"),
        Binding("escape", "back", "Back", id="app.back", show=False),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, session: Session, *, contexts: Iterable[str] = (), connect: Connect | None = None,
                 namespace: str | None = None, read_only: bool = False, theme: str = "textual-dark",
                 keymap: dict[str, str] | None = None, refresh_seconds: float = 0.1,
                 notebook_images: list[str] | None = None, notebook_url_base: str = "",
                 notebook_workspace: str = "", clock: Callable[[], datetime] | None = None,
                 quota_max_annotation: str = "", logs: LogsSettings | None = None,
                 alerts_settings: Any = None, linkis_settings: Any = None, wall: bool = False,
                 wall_panels: list[str] | None = None, wall_rotate: float = 0.0, wall_deadman: float = 300.0,
                 wall_refresh: float = 5.0,
                 freshness: Freshness | None = None) -> None:
        super().__init__()
        # wall mode: the wall screen alone, read-only locked on (three locks: the backend, the action registry, the
        # app's perform), only quit and paging keys, no command bar, no palette; nothing switches it off
        self.wall = wall
        self.wall_panels = list(wall_panels) if wall_panels else None
        self.wall_rotate = wall_rotate
        self.wall_deadman = wall_deadman
        self.wall_refresh = wall_refresh
        self.freshness = freshness
        if wall:
            read_only = True
            alerts_settings = None  # no bell, no desktop notification: the wall shows its alerts
            self._bindings = BindingsMap(WALL_BINDINGS)
            self.use_command_palette = False
            self._lock_read_only(session)
        self.logs = logs or LogsSettings()  # [logs]: the log screen's buffer, since window and tail
        # [alerts]: the silence form's default duration, and whether a new critical alert rings the terminal's
        # bell and sends an OSC 9 desktop notification (None, as in tests: neither)
        self.alerts_settings = alerts_settings
        self.linkis_settings = linkis_settings  # [linkis]: the submit form's engines, creator and queue
        self.alert_bell = bool(getattr(alerts_settings, "bell", False))
        self.alert_osc9 = bool(getattr(alerts_settings, "osc9", False))
        from screens import resources
        # the screens' clock: this app's (an app made before it with another, a frozen one, must not leave it)
        resources.CLOCK["now"] = clock if clock is not None else resources._utcnow
        self.notebook_images = list(notebook_images or [])
        self.notebook_url_base = notebook_url_base
        self.notebook_workspace = notebook_workspace
        self.quota_max_annotation = quota_max_annotation  # [quota] max_annotation; "" the default key
        self.session = session
        self.contexts = list(contexts)
        self.connect = connect
        self.namespace = namespace
        self.read_only = read_only
        self.theme_name = theme
        self.keymap = dict(keymap or {})
        self.refresh_seconds = refresh_seconds
        self.history: list[str] = []
        self._history_pos = 0

    # ------------------------------------------------------------------ wall mode
    @staticmethod
    def _lock_read_only(session: Session) -> None:
        """Read-only, whatever the session was made with: its backend, its action registry and its flag."""
        session.read_only = True
        if getattr(session.backend, "read_only", None) is not None:
            session.backend.read_only = True  # type: ignore[attr-defined]
        if session.actions is not None:
            session.actions.read_only = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.wall and action not in WALL_APP_ACTIONS:
            return False
        return True

    def wall_freshness(self) -> Freshness:
        """How often each of the session's sources is expected to deliver: the watch's rhythm for Kubernetes,
        each poller's interval for the others (only the sources this session has)."""
        s = self.session
        expected: dict[str, float] = {SOURCE: KUBERNETES_SECONDS}
        if s.metrics is not None:
            expected[MetricsPoller.KEY] = _every(s.metrics)
        if s.alerts is not None:
            expected[AlertsPoller.KEY] = _every(s.alerts)
        if s.cmdb is not None and getattr(s.cmdb, "client", None) is not None:
            expected[CmdbPoller.KEY] = _every(s.cmdb)
        if s.linkis_poller is not None:
            expected[LINKIS_HEALTH] = _every(s.linkis_poller)
        return Freshness(expected, started=s.state.now())

    def _wall_screen(self):
        from screens.wall import WallScreen
        if self.freshness is None:
            self.freshness = self.wall_freshness()
        state = self.session.state
        kw: dict[str, Any] = {"freshness": self.freshness.reader(state.heard_at, state.now), "rotate": self.wall_rotate,
                              "refresh": self.wall_refresh}
        if self.wall_panels:
            kw["panels"] = self.wall_panels
        return WallScreen(state, **kw)

    def wall_banner(self) -> str | None:
        """The dead man's banner now: the sources silent past ``wall_deadman`` seconds (None: all is well)."""
        if self.freshness is None:
            return None
        state = self.session.state
        now = state.now()
        return banner_text(self.freshness.dead(state.heard_at, now, self.wall_deadman), now)

    def _wall_watch(self) -> None:
        """Each second: raise or clear the dead man's banner (and expect the metrics of a source found late: the
        cluster did not answer when the wall started)."""
        metrics = self.session.metrics
        if metrics is not None and self.freshness is not None and MetricsPoller.KEY not in self.freshness.expected:
            self.freshness.expect(MetricsPoller.KEY, _every(metrics))
        set_banner = getattr(self.screen, "set_banner", None) if self.screen_stack else None
        if set_banner is not None:
            set_banner(self.wall_banner())

    # ------------------------------------------------------------------ shell pieces screens compose
    def compose_header(self) -> ComposeResult:
        yield StatusHeader()

    def compose_bars(self) -> ComposeResult:
        names = sorted({*COMMANDS, *(a for al, _ in COMMANDS.values() for a in al), *PLANNED})
        yield Input(placeholder=": command (tab completes, ↑ history)", id="command-bar",
                    suggester=SuggestFromList([f"{n}" for n in names], case_sensitive=False))
        yield Input(placeholder="/ filter", id="filter-bar")

    def on_mount(self) -> None:
        self.register_theme(HIGH_CONTRAST)
        self.theme = self.theme_name if self.theme_name in self.available_themes else "textual-dark"
        if self.wall:
            self.push_screen(self._wall_screen())
            self.set_interval(self.refresh_seconds, self._tick)
            self.set_interval(1.0, self._wall_watch)
            self.call_after_refresh(self._wall_watch)
            return
        if self.keymap:
            self.set_keymap(self.keymap)
        self.push_screen(OverviewScreen(self.session.state))
        self.set_interval(self.refresh_seconds, self._tick)
        self.call_after_refresh(self.update_header)
        if self.namespace:
            self.call_after_refresh(lambda: self.set_namespace(self.namespace))

    # ------------------------------------------------------------------ batched refresh
    def _tick(self) -> None:
        fresh = self.session.state.take_new_alerts()
        if fresh and not self.wall:  # the wall's alerts panel shows them; no toast piles up on an unwatched screen
            self.announce_alerts(fresh)
        kinds = self.session.state.changed_kinds()
        if not kinds:
            return
        if not self.screen_stack:  # the app is closing: its screens are gone, its timer not yet
            return
        if "health" in kinds or "alerts" in kinds:
            self.update_header()
        if kinds - {"health"}:
            refresh = getattr(self.screen, "refresh_data", None)
            wanted = getattr(self.screen, "DATA_KINDS", None)  # None: any change may show on it
            if refresh is not None and (wanted is None or kinds & wanted):
                refresh()

    def prefer_kinds(self, kinds: tuple[str, ...] | set[str]) -> None:
        """The screen on view needs these kinds: their first lists go before the others."""
        if self.session.feeds is not None:
            self.session.feeds.prefer(set(kinds))

    def update_header(self) -> None:
        try:
            header = self.screen.query_one(StatusHeader)
        except Exception:  # a modal is on top: its parent's header updates when it returns
            return
        ident = self.session.identity
        header.update_status(context=ident.context, cluster=ident.cluster, user=ident.user,
                             namespace=self.namespace, read_only=self.read_only,
                             sources=[self.session.state.source_health(SOURCE)]
                             + ([self.session.state.source_health(MetricsPoller.KEY)] if self.session.metrics else [])
                             + self._trouble(CmdbPoller.KEY, *(ALERT_HEALTH if self._alerts_source() else ()),
                                             *((LINKIS_HEALTH,) if getattr(self.session, "linkis_poller", None)
                                               else ())),
                             alerts=self._firing_counts())

    def _trouble(self, *keys: str) -> list[SourceHealth]:
        """These sources' health in the header only when in trouble: the CMDB (reference data), the alerts
        sources, whose news is the alerts themselves, and Linkis (its own screen says more); live is the normal
        case."""
        health = self.session.state.health()
        out = []
        for key in keys:
            h = health.get(key)
            if h is not None and h.state in (Health.STALE, Health.FAILING):
                out.append(h)
        return out

    # ------------------------------------------------------------------ alerts: header counts, notification
    def _alerts_source(self) -> Any:
        return getattr(self.session, "alerts", None)  # the alerts poller (None: this session has none)

    def _firing_counts(self) -> dict[str, int] | None:
        """Firing alerts by severity for the header; None (nothing shown) without an alerts poller."""
        if self._alerts_source() is None:
            return None
        from .alerts import firing_counts
        return firing_counts(self.session.state.alerts())

    def announce_alerts(self, fresh: list[Alert]) -> None:
        """New alerts from the poller: a new critical one that fires rings the bell and sends an OSC 9
        notification (each when [alerts] says so), and shows a toast."""
        critical = [a for a in fresh if a.severity == "critical" and a.state == AlertState.FIRING]
        if not critical:
            return
        text = alert_notice(critical)
        self.notify(clean(text), title="New critical alert" + ("s" if len(critical) > 1 else ""), severity="error",
                    timeout=10)
        if self.alert_bell:
            self.bell()
        if self.alert_osc9:
            self.write_to_terminal(osc9(text))

    def write_to_terminal(self, data: str) -> None:
        """Raw bytes to the terminal, through the app's driver (between frames: the UI thread writes both)."""
        driver = self._driver
        if driver is not None:
            driver.write(data)

    # ------------------------------------------------------------------ namespace and context
    def set_namespace(self, namespace: str | None) -> None:
        self.namespace = namespace
        scope = getattr(self.screen, "scope_to", None)
        if scope is not None:
            scope(namespace)
        self.update_header()

    def visible_namespaces(self) -> list[str]:
        feeds = self.session.feeds
        names = [n.name for n in self.session.state.namespaces()]
        if feeds is not None:
            scoped = feeds.scoped_namespaces()
            if scoped:
                names = [n for n in names if n in scoped] or sorted(scoped)
        return names

    def action_pick_namespace(self) -> None:
        options = [(ALL, "all namespaces")] + [(n, n) for n in self.visible_namespaces()]
        self.push_screen(Picker("Namespace", options, self.namespace or ALL), self._picked_namespace)

    def _picked_namespace(self, choice: str | None) -> None:
        if choice is not None:
            self.set_namespace(None if choice == ALL else choice)

    def action_pick_context(self) -> None:
        if not self.contexts:
            self.notify("no other contexts in the kubeconfig", severity="warning")
            return
        self.push_screen(Picker("Context", [(c, c) for c in self.contexts], self.session.identity.context),
                         self._picked_context)

    def _picked_context(self, choice: str | None) -> None:
        if choice is not None and choice != self.session.identity.context:
            self.switch_context(choice)

    def switch_context(self, context: str) -> None:
        if self.connect is None or self.wall:
            self.notify("switching context is not available here", severity="warning")
            return
        if context not in self.contexts:
            self.notify(f"no context {context!r} in the kubeconfig", severity="error")
            return
        self.notify(f"connecting to {context}…")
        self._connect(context)

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _connect(self, context: str) -> None:
        try:
            session = self.connect(context)  # type: ignore[misc]
        except Exception as err:  # BackendError, ConfigError, ...: one line for the user; the old session stays
            msg = getattr(err, "message", None) or str(err).splitlines()[0]
            self.call_from_thread(self.notify, f"cannot switch to {context}: {msg}", severity="error")
            return
        self.call_from_thread(self._use_session, session)

    def _use_session(self, session: Session) -> None:
        old, self.session = self.session, session
        self.read_only = session.read_only
        self.namespace = session.identity.namespace if self.namespace else None
        for screen in self.screen_stack:
            if hasattr(screen, "state"):
                screen.state = session.state  # type: ignore[attr-defined]
            if hasattr(screen, "perms"):
                screen.perms, screen._asked = {}, set()  # type: ignore[attr-defined]
            if hasattr(screen, "scope_to"):
                screen.scope_to(self.namespace)  # type: ignore[attr-defined]
        self.update_header()
        self.run_worker(old.stop, thread=True, group="disconnect", exit_on_error=False)

    # ------------------------------------------------------------------ bars
    def _bar(self, bar_id: str) -> Input | None:
        try:
            return self.screen.query_one(f"#{bar_id}", Input)
        except Exception:
            return None

    def action_command(self) -> None:
        bar = self._bar("command-bar")
        if bar is not None:
            bar.value = ""
            bar.add_class("-open")
            bar.focus()
            self._history_pos = len(self.history)

    def action_filter(self) -> None:
        bar = self._bar("filter-bar")
        if bar is not None:
            bar.add_class("-open")
            bar.focus()

    def action_back(self) -> None:
        for bar_id in ("command-bar", "filter-bar"):
            bar = self._bar(bar_id)
            if bar is not None and bar.has_class("-open"):
                bar.remove_class("-open")
                if bar_id == "filter-bar":
                    bar.value = ""
                    self._apply_filter("")
                self._focus_table()
                return
        if len(self.screen_stack) > 2:
            self.pop_screen()
        elif self.namespace is not None:
            self.set_namespace(None)

    def _focus_table(self) -> None:
        from textual.widgets import DataTable

        focus_main = getattr(self.screen, "focus_main", None)  # a screen without a table (the log screen)
        if focus_main is not None:
            focus_main()
            return

        from widgets.resource_table import ResourceTable
        for kind in (ResourceTable, DataTable):
            try:
                self.screen.query_one(kind).focus()
                return
            except Exception:
                pass

    @on(Input.Changed, "#filter-bar")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._apply_filter(event.value)

    def _apply_filter(self, text: str) -> None:
        set_filter = getattr(self.screen, "set_filter", None)
        if set_filter is not None:
            set_filter(text)

    @on(Input.Submitted, "#filter-bar")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.remove_class("-open")
        self._focus_table()

    def on_key(self, event) -> None:
        bar = self._bar("command-bar")
        if bar is None or not bar.has_focus or event.key not in ("up", "down") or not self.history:
            return
        step = -1 if event.key == "up" else 1
        self._history_pos = max(0, min(len(self.history), self._history_pos + step))
        bar.value = self.history[self._history_pos] if self._history_pos < len(self.history) else ""
        bar.cursor_position = len(bar.value)
        event.stop()

    @on(Input.Submitted, "#command-bar")
    def _command(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.remove_class("-open")
        event.input.value = ""
        self._focus_table()
        if text:
            if not self.history or self.history[-1] != text:
                self.history.append(text)
            self.run_command(text)

    def run_command(self, text: str) -> None:
        if self.wall:  # no command bar on the wall; nothing reaches here from a key
            return
        word, _, arg = text.lstrip(":").strip().partition(" ")
        word, arg = word.lower(), arg.strip()
        name = next((c for c, (aliases, _) in COMMANDS.items() if word == c or word in aliases), None)
        if name == "quit":
            self.exit()
        elif name == "help":
            self.action_help()
        elif name == "overview":
            while len(self.screen_stack) > 2:
                self.pop_screen()
        elif name == "ns":
            if not arg:
                self.action_pick_namespace()
            elif arg in ("all", "-A", "*"):
                self.set_namespace(None)
            elif arg in self.visible_namespaces():
                self.set_namespace(arg)
            else:
                self.notify(f"no namespace {arg!r} that you can see", severity="error")
        elif name == "ctx":
            self.switch_context(arg) if arg else self.action_pick_context()
        elif name in RESOURCE_SCREENS:
            self.open_screen(RESOURCE_SCREENS[name](self.session.state, self.namespace), arg)
        elif name == "history":
            self.open_screen(AlertHistoryScreen(self.session.state, self.namespace), arg)
        elif name == "logs":
            self.pick_logs(arg)
        elif name == "audit":
            self.open_screen(AuditScreen(self.session.actions.audit if self.session.actions else None), arg)
        elif word in PLANNED:
            self.notify(f":{word} ({PLANNED[word]}) is not in this version yet", severity="warning")
        else:
            self.notify(f"unknown command :{word} (press ? for the list)", severity="error")

    # ------------------------------------------------------------------ help
    def action_help(self) -> None:
        def rows(bindings) -> list[tuple[str, str, str]]:
            out = []
            for b in bindings:
                if b.description and b.id:
                    out.append((b.key_display or self.get_key_display(b), b.description, b.id))
            return out
        screen_bindings = []
        for cls in reversed(type(self.screen).__mro__):
            screen_bindings += [b for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding)]
        taken = {k.strip() for b in screen_bindings for k in b.key.split(",")}  # the screen's own use of a key wins
        everywhere = [b for b in self.BINDINGS if not taken & {k.strip() for k in b.key.split(",")}]
        sections = [("On this screen", rows(screen_bindings)), ("Everywhere", rows(everywhere))]
        commands = [(f"{c}" + (f" ({', '.join(a)})" if a else ""), d) for c, (a, d) in COMMANDS.items()]
        self.push_screen(HelpScreen(sections, commands))

    # ------------------------------------------------------------------ screens
    def open_screen(self, screen, filter_text: str = "") -> None:
        """A top-level view (k9s style): it replaces the one above the overview."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.push_screen(screen)
        if filter_text and hasattr(screen, "set_filter"):
            screen.filter_text = filter_text

    def select_when_listed(self, screen, wanted: Callable[[Any], bool], what: str, timeout: float = 10.0) -> None:
        """Put the cursor of a just opened resource screen on the first row ``wanted`` picks, once its rows are
        there (they are worked out in a worker); say so when its list is complete without one."""
        deadline = time.monotonic() + timeout

        def look() -> None:
            table = getattr(screen, "table", None)
            if table is None or not screen.is_attached or time.monotonic() > deadline:
                timer.stop()
                return
            found = next((r for r in table.rows if wanted(r)), None)
            if found is not None:
                table.select_uid(found.uid)
                timer.stop()
            elif getattr(screen, "loaded", False) and getattr(screen, "shown", 0) and table.row_count == 0:
                timer.stop()
                self.notify(f"{clean_line(what, 120)} is not in the list (gone, or not visible to you)",
                            severity="warning")
        timer = self.set_interval(0.05, look)

    def open_alert_target(self, alert: Alert) -> None:
        """enter on an alert: its target's screen, filtered to it, the target selected: a notebook on :nb, a
        training job on :jobs, a deployment on :deploy, a pod on :pods, a node on :gpu's nodes view (or its pods
        when it has no GPUs), a namespace on :quota (a namespace's alerts are mostly its quota's). A drill-down:
        escape comes back to the alerts, the cursor where it was."""
        kind, ns, name = alert.target_kind, alert.namespace, alert.target_name
        state = self.session.state
        if kind == "Namespace" and ns:
            screen = QuotaScreen(state, None)
            screen.filter_text = ns
            self.push_screen(screen)
            self.select_when_listed(screen, lambda r: getattr(r, "namespace", None) == ns, f"namespace {ns}")
            return
        if kind == "Node" or (not kind and alert.node):
            node = name if kind == "Node" else alert.node
            if any(g.node == node for g in state.gpus()):
                screen = GpuScreen(state, None)
                screen.filter_text = node
                self.push_screen(screen)
                self.call_after_refresh(screen.show_view, "nodes")
                self.select_when_listed(screen, lambda r: getattr(r, "uid", "") == f"node:{node}", f"node {node}")
            else:
                from screens.alerts import NodePodsScreen
                self.push_screen(NodePodsScreen(state, node))
            return
        command = {"Notebook": "nb", "SeldonDeployment": "deploy", "Pod": "pods"}.get(kind)
        if kind in ("TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "Job"):
            command = "jobs"
        if command is None or not name:
            self.notify(f"{clean_line(alert.name, 60)}: no workload to open"
                        + (f" ({clean_line(alert.target, 80)})" if alert.target else ""), severity="warning")
            return
        if self.namespace is not None and ns and ns != self.namespace:
            self.set_namespace(ns)  # scoped elsewhere: the target would not be listed
        screen = RESOURCE_SCREENS[command](state, self.namespace)
        screen.filter_text = name
        self.push_screen(screen)
        self.select_when_listed(screen, lambda o: getattr(o, "name", None) == name
                                and getattr(o, "namespace", None) == ns, f"{kind} {ns}/{name}")

    def show_object(self, resource: str, obj, view: str, why: str = "") -> None:
        """describe or YAML of an object, fetched fresh from the API in a worker."""
        self._fetch_object(resource, obj.namespace, obj.name, getattr(obj, "uid", ""), view, why)

    @work(thread=True, group="fetch", exit_on_error=False)
    def _fetch_object(self, resource: str, namespace: str, name: str, uid: str, view: str, why: str) -> None:
        from .inspect import describe, related_events, to_yaml
        try:
            raw = self.session.backend.get(resource, namespace, name)  # type: ignore[attr-defined]
        except BackendError as err:
            self.call_from_thread(self.notify, f"cannot read {namespace}/{name}: {err.message}", severity="error")
            return
        if view == "yaml":
            title, text = f"YAML  {resource}/{namespace}/{name}", to_yaml(raw)
        else:
            events = related_events(raw, self.session.state.events(namespace))
            title, text = f"Describe  {resource}/{namespace}/{name}", describe(raw, events, why=why)
        self.call_from_thread(self.push_screen, TextView(title, text))

    def show_events(self, obj, kind: str) -> None:
        self.push_screen(EventsScreen(self.session.state, obj.namespace, about=(kind, obj.name, obj.uid)))

    # ------------------------------------------------------------------ logs
    def show_logs(self, kind: str, namespace: str, name: str, *, container: str = "", previous: bool = False) -> None:
        """The log screen for a pod, a notebook, a training job (every replica merged) or a deployment (every
        pod). Without a container: the one the first pod's ``kubectl.kubernetes.io/default-container``
        annotation names (read in a worker when the pod has several), else its first."""
        from screens.logs import LogSubject, pods_of
        subject = LogSubject(kind, namespace, name)
        pods = pods_of(self.session.state, subject)
        if not container and pods and len(pods[0].container_names) > 1:
            self._open_logs_default_container(subject, pods[0].name, previous)
            return
        self._push_logs(subject, container, previous)

    @work(thread=True, group="fetch", exit_on_error=False)
    def _open_logs_default_container(self, subject, pod: str, previous: bool) -> None:
        container = ""
        try:
            raw = self.session.backend.get("pods", subject.namespace, pod)  # type: ignore[attr-defined]
            container = str(((raw.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER) or "")
        except Exception:  # BackendError, an odd object: the first container then
            pass
        self.call_from_thread(self._push_logs, subject, container, previous)

    def _push_logs(self, subject, container: str, previous: bool) -> None:
        from screens.logs import LogScreen
        self.push_screen(LogScreen(subject, self.session.state, self.log_follow, settings=self.logs,
                                   container=container, previous=previous))

    def log_follow(self, targets: list, buffer, *, previous: bool = False, since_seconds: int | None = None,
                   tail_lines: int | None = None):
        """A LogFollow over this session's backend (the log screen starts and stops it; it never sees the
        backend)."""
        from .log_feed import LogFollow
        return LogFollow(self.session.backend, targets, buffer, follow=not previous,  # type: ignore[arg-type]
                         previous=previous, since_seconds=since_seconds, tail_lines=tail_lines)

    def pick_logs(self, text: str = "") -> None:
        """:logs [NAME]: the one object of that name (a training job, a deployment, a notebook or a pod, in
        that order) opens at once; otherwise a picker of what has logs, in scope, filtered by the text."""
        state, ns = self.session.state, self.namespace
        entries: list[tuple[str, str, str, str]] = []  # (kind, namespace, name, label)
        for j in state.training_jobs(ns):
            entries.append((j.kind, j.namespace, j.name, f"{j.kind:<18} {j.namespace}/{j.name}  ({j.replicas} "
                            f"replica{'s' if j.replicas != 1 else ''}, {j.state.value})"))
        for d in state.deployments(ns):
            entries.append(("SeldonDeployment", d.namespace, d.name, f"{'deployment':<18} {d.namespace}/{d.name}"))
        for n in state.notebooks(ns):
            entries.append(("Notebook", n.namespace, n.name, f"{'notebook':<18} {n.namespace}/{n.name}"))
        for p in sorted(state.pods(ns), key=lambda p: (p.namespace, p.name)):
            entries.append(("Pod", p.namespace, p.name, f"{'pod':<18} {p.namespace}/{p.name}  {p.status}"))
        word = text.strip()
        if word:
            exact = [e for e in entries if e[2] == word or f"{e[1]}/{e[2]}" == word]
            if exact:
                kind, namespace, name, _ = exact[0]
                self.show_logs(kind, namespace, name)
                return
            entries = [e for e in entries if word.lower() in e[3].lower()]
            if not entries:
                self.notify(f"nothing named like {clean(word)!r} has logs here", severity="error")
                return
        if len(entries) > PICK_LIMIT:
            self.notify(f"{len(entries):,} candidates: the first {PICK_LIMIT:,} listed; :logs NAME narrows them",
                        severity="warning")
            entries = entries[:PICK_LIMIT]
        options = [("\x00".join(e[:3]), clean(e[3])) for e in entries]
        self.push_screen(Picker("Logs of", options), self._picked_logs)

    def _picked_logs(self, choice: str | None) -> None:
        if choice:
            kind, namespace, name = choice.split("\x00", 2)
            self.show_logs(kind, namespace, name)

    def last_error_line(self, pod, callback: Callable[[str], None]) -> None:
        """Read the end of a failed pod's log in a worker; call back with its last error line ("" if none)."""
        self._last_error_line(pod.namespace, pod.name, pod.container_names[0] if pod.container_names else "",
                              callback)

    @work(thread=True, group="fetch", exit_on_error=False)
    def _last_error_line(self, namespace: str, pod: str, container: str, callback) -> None:
        from .inspect import last_error_line
        try:
            text = self.session.backend.log_tail(namespace, pod, container, 300)  # type: ignore[attr-defined]
        except BackendError:
            text = ""
        self.call_from_thread(callback, last_error_line(text) if text else "")

    def stopped_deployments(self, namespace: str | None) -> list:
        """Deployments stopped with the console (deleted, their spec saved), to show and to start again."""
        actions = self.session.actions
        if actions is None:
            return []
        from .actions import stopped_deployments
        return stopped_deployments(actions, self.session.state, namespace)

    # ------------------------------------------------------------------ actions
    def perform(self, action: str, target: Target, params: dict | None = None, *, reason: str = "",
                confirmed: bool = False, on_done: Callable[[Result], None] | None = None) -> None:
        """Run a registered action in a worker; ask for confirmation and a reason when it needs them."""
        actions = self.session.actions
        if self.wall:
            self.notify("the wall is read-only: nothing can be changed from it", severity="error")
            return
        if actions is None:
            self.notify("actions are not available in this session", severity="error")
            return
        title = actions.spec(action).title
        progress = self.set_timer(0.3, lambda: self.notify(f"{title} {target.name}…", timeout=3))
        self._perform(actions, action, target, dict(params or {}), reason, confirmed, on_done, progress)

    @work(thread=True, group="actions", exit_on_error=False)
    def _perform(self, actions: Actions, action: str, target: Target, params: dict, reason: str, confirmed: bool,
                 on_done, progress) -> None:
        spec = actions.spec(action)
        try:
            result = actions.run(action, target, params=params, reason=reason, confirmed=confirmed)
        except (NeedsConfirmation, NeedsReason) as ask:
            call = ask.call if isinstance(ask, NeedsConfirmation) else actions.describe(action, target, params)
            self.call_from_thread(progress.stop)
            self.call_from_thread(self._confirm, actions, action, target, params, call, spec.destructive, on_done)
            return
        except BackendError as err:  # ReadOnly, Forbidden: refused before anything was called
            self.call_from_thread(progress.stop)
            self.call_from_thread(self.notify, f"{spec.title}: {err.message}", severity="error")
            return
        self.call_from_thread(progress.stop)
        self.call_from_thread(self._done, spec.title, result, on_done)

    def _confirm(self, actions: Actions, action: str, target: Target, params: dict, call: str, destructive: bool,
                 on_done) -> None:
        spec = actions.spec(action)

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.perform(action, target, params, reason=reason, confirmed=True, on_done=on_done)
        label = (f"{target.kind} {target.namespace}/{target.name}" if target.namespace
                 else f"{target.kind} {target.name}")  # a cluster-scoped object, a Linkis task: no "//"
        self.push_screen(ConfirmAction(spec.title, label, call, needs_reason=destructive, events=spec.event),
                         answered)

    def _done(self, title: str, result: Result, on_done) -> None:
        if result.ok:
            self.notify(result.message, title=title)
        else:
            self.notify(result.message, title=f"{title} failed", severity="error", timeout=10)
        if on_done is not None:
            on_done(result)

    def on_unmount(self) -> None:
        self.session.stop()

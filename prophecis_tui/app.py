"""The Textual application: the shell every screen lives in (header, bars, keys, pickers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from textual import on, work
from textual.app import App, ComposeResult
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.binding import Binding
from textual.suggester import SuggestFromList
from textual.theme import Theme
from textual.widgets import Input

from backends.base import Identity, KubernetesBackend
from screens.overview import OverviewScreen
from screens.pickers import ALL, HelpScreen, Picker
from widgets.header import StatusHeader

from .feeds import SOURCE, Feeds
from .state import State

HIGH_CONTRAST = Theme(name="high-contrast", primary="#ffff00", secondary="#00ffff", accent="#ff00ff",
                      foreground="#ffffff", background="#000000", surface="#000000", panel="#1a1a1a",
                      success="#00ff00", warning="#ffff00", error="#ff3030", dark=True)

# command -> (aliases, what it does); screens of later issues register here too
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "overview": (("home", "ov"), "the overview of every namespace"),
    "ns": (("namespace",), "switch namespace: :ns NAME, :ns all, or :ns alone for the picker"),
    "ctx": (("context",), "switch cluster context: :ctx NAME, or :ctx alone for the picker"),
    "help": (("h",), "every key and command"),
    "quit": (("q", "q!"), "leave the console"),
}
PLANNED = {"nb": "notebooks", "notebooks": "notebooks", "jobs": "training jobs", "deploy": "model deployments",
           "pods": "pods", "gpu": "GPU utilisation", "quota": "GPU quota", "alerts": "alerts",
           "linkis": "Linkis", "events": "events", "audit": "the audit trail"}


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

    def stop(self) -> None:
        if self.feeds is not None:
            self.feeds.stop()
        try:
            self.backend.close()
        except Exception:  # closing a dead connection must not stop the switch
            pass


Connect = Callable[[str], Session]


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
                 keymap: dict[str, str] | None = None, refresh_seconds: float = 0.1) -> None:
        super().__init__()
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
        if self.keymap:
            self.set_keymap(self.keymap)
        self.push_screen(OverviewScreen(self.session.state))
        self.set_interval(self.refresh_seconds, self._tick)
        self.call_after_refresh(self.update_header)
        if self.namespace:
            self.call_after_refresh(lambda: self.set_namespace(self.namespace))

    # ------------------------------------------------------------------ batched refresh
    def _tick(self) -> None:
        kinds = self.session.state.changed_kinds()
        if not kinds:
            return
        if "health" in kinds:
            self.update_header()
        if kinds - {"health"}:
            refresh = getattr(self.screen, "refresh_data", None)
            if refresh is not None:
                refresh()

    def update_header(self) -> None:
        try:
            header = self.screen.query_one(StatusHeader)
        except Exception:  # a modal is on top: its parent's header updates when it returns
            return
        ident = self.session.identity
        header.update_status(context=ident.context, cluster=ident.cluster, user=ident.user,
                             namespace=self.namespace, read_only=self.read_only,
                             sources=[self.session.state.source_health(SOURCE)])

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
        if self.connect is None:
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
        if self.namespace is not None:
            self.set_namespace(None)
        elif len(self.screen_stack) > 2:
            self.pop_screen()

    def _focus_table(self) -> None:
        from textual.widgets import DataTable
        try:
            self.screen.query_one(DataTable).focus()
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
        screen_bindings = [b for b in getattr(self.screen, "BINDINGS", []) if isinstance(b, Binding)]
        sections = [("On this screen", rows(screen_bindings)), ("Everywhere", rows(self.BINDINGS))]
        commands = [(f"{c}" + (f" ({', '.join(a)})" if a else ""), d) for c, (a, d) in COMMANDS.items()]
        self.push_screen(HelpScreen(sections, commands))

    def on_unmount(self) -> None:
        self.session.stop()

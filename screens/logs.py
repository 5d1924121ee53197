"""The log screen (`l` on a pod, notebook, training job, deployment or GPU; `:logs`): a live tail that stays
fast on chatty pods and helps find the error.

What it shows: one pod's container, or every replica of a training job (every pod of a deployment) merged
in timestamp order, each line prefixed with its replica in a stable colour. The lines come from a
``LogFollow`` the app builds (the composition root: the screen never calls a backend) into a bounded
``LogBuffer``; a timer (10 Hz at most) takes in what arrived, through the core's ``LogView`` (filters,
kept up to date incrementally), and the ``LogLines`` widget draws only the rows on screen.

Changing the container, the previous container, the since window or the tail size starts a new follow
into a new buffer (the old one is stopped in a thread). Until a container has started, the screen shows
the events of its pods (why it waits), and switches to the log when lines come.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, Static

from prophecis_tui.config import SINCE_WINDOWS, TAIL_SIZES, LogsSettings, data_dir, since_seconds
from prophecis_tui.domain import Event, Pod
from prophecis_tui.log_feed import LogFollow, LogTarget
from prophecis_tui.logs import ERROR, LogBuffer, LogLine, LogView
from prophecis_tui.sanitize import clean, clean_line
from widgets.key_bar import KeyBar
from widgets.log_view import JSON_MODES, LogLines

from .pods import owned_by
from .resources import age, update_if_changed

JOB_KINDS = ("TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "Job")
ROLE_ORDER = ("chief", "master", "launcher", "worker", "ps", "evaluator")
FILTER_MODES = ("off", "show", "hide")
STARTING = "not started"  # a LogFollow target's reason before its first ask
POLL_SECONDS = 0.1  # the screen takes in new lines at most 10 times a second

# what the app gives the screen to start a follow: (targets, buffer, previous, since_seconds, tail_lines)
FeedFactory = Callable[..., LogFollow]


@dataclass(frozen=True)
class LogSubject:
    """Whose log: a pod, a notebook (its pod), a training job (every replica) or a deployment (every pod)."""

    kind: str  # Pod | Notebook | TFJob | PyTorchJob | XGBoostJob | Job | SeldonDeployment
    namespace: str
    name: str

    @property
    def merged(self) -> bool:
        return self.kind not in ("Pod", "Notebook")

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def replica_order(p: Pod) -> tuple:
    rtype = p.replica_type.lower()
    rank = ROLE_ORDER.index(rtype) if rtype in ROLE_ORDER else len(ROLE_ORDER)
    index = int(p.replica_index) if p.replica_index.isdigit() else 0
    return (rank, rtype, index, p.name)


def pods_of(state: Any, subject: LogSubject) -> list[Pod]:
    """The subject's pods in the state, in replica order (chief/master first, then workers by index)."""
    pods = state.pods(subject.namespace)
    if subject.kind == "Pod":
        found = [p for p in pods if p.name == subject.name]
    elif subject.kind == "Notebook":
        found = [p for p in pods if owned_by(p, "notebook", subject.name)]
    elif subject.kind in JOB_KINDS:
        found = [p for p in pods if owned_by(p, "job", subject.name)]
    else:  # a (Seldon) deployment
        found = [p for p in pods if owned_by(p, "deployment", subject.name)]
    return sorted(found, key=replica_order)


def source_names(subject: LogSubject, pods: list[Pod]) -> dict[str, str]:
    """pod name -> the label its lines carry: the replica for a training job (worker-3), for other merged
    pods the part of the name that tells them apart; '' for a single stream."""
    if subject.merged and subject.kind in JOB_KINDS and pods and all(p.replica_type for p in pods):
        return {p.name: p.replica for p in pods}  # a job of one replica too: its lines say which it is
    if not subject.merged or len(pods) < 2:
        return {p.name: "" for p in pods}
    common = os.path.commonprefix([p.name for p in pods])
    cut = common.rfind("-") + 1 if len(pods) > 1 else 0
    return {p.name: p.name[cut:] or p.name for p in pods}


def containers_of(pods: list[Pod]) -> list[tuple[str, bool]]:
    """(name, is an init container) of the pods' containers, in their order, each once."""
    out: dict[str, bool] = {}
    for p in pods:
        for c in p.init_container_names:
            out.setdefault(c, True)
    for p in pods:
        for c in p.container_names:
            out.setdefault(c, False)
    inits = [(c, True) for c, init in out.items() if init]
    return [(c, False) for c, init in out.items() if not init] + inits


def status_word(status: str) -> str:
    return status.split(":", 1)[0].strip()


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "log"


def default_save_path(subject: LogSubject, container: str, previous: bool, when: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when if when is not None else time.time()))
    parts = [subject.namespace, subject.name] + ([container] if container else []) + (
        ["previous"] if previous else [])
    return data_dir() / "logs" / f"{safe_name('_'.join(parts))}_{stamp}.log"


class LogScreen(Screen):
    """A live tail of a pod, or of every replica of a job merged; search, filter, errors, JSON, save."""

    DATA_KINDS = frozenset({"pods", "events"})
    BINDINGS = [
        Binding("slash", "search", "Search", id="logs.search", key_display="/"),
        Binding("n", "next_match(1)", "Next", id="logs.next"),
        Binding("N", "next_match(-1)", "Prev", id="logs.previous_match"),
        Binding("f", "toggle_follow", "Follow/pause", id="logs.follow"),
        Binding("space", "toggle_follow", "Follow/pause", id="logs.pause", show=False),
        Binding("x", "filter_mode", "Filter", id="logs.filter"),
        Binding("E", "next_error", "Error", id="logs.error"),
        Binding("c", "pick_container", "Container", id="logs.container"),
        Binding("p", "toggle_previous", "Previous", id="logs.previous"),
        Binding("s", "cycle_since", "Since", id="logs.since"),
        Binding("T", "cycle_tail", "Tail", id="logs.tail"),
        Binding("r", "cycle_replica", "Replica", id="logs.replica"),
        Binding("t", "toggle_timestamps", "Time", id="logs.timestamps"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap"),
        Binding("j", "cycle_json", "JSON", id="logs.json"),
        Binding("ctrl+s", "save", "Save", id="logs.save", key_display="^s"),
        Binding("g", "top", "Top", id="logs.top", show=False),
        Binding("G", "bottom", "Bottom", id="logs.bottom", show=False),
        Binding("escape", "back", "Back", id="logs.back", show=False),
    ]
    DEFAULT_CSS = """
    LogScreen #log-title { height: 1; padding: 0 1; background: $panel; }
    LogScreen #log-status { height: 1; padding: 0 1; }
    LogScreen #log-waiting { height: 1fr; padding: 0 1; display: none; overflow-y: auto; }
    LogScreen.-waiting #log-waiting { display: block; }
    LogScreen.-waiting LogLines { display: none; }
    LogScreen #log-search { display: none; height: 1; border: none; padding: 0 1; }
    LogScreen #log-search.-open { display: block; }
    """

    def __init__(self, subject: LogSubject, state: Any, feed: FeedFactory, *, settings: LogsSettings | None = None,
                 container: str = "", previous: bool = False) -> None:
        super().__init__(name="logs")
        self.subject = subject
        self.state = state
        self.feed = feed
        self.settings = settings or LogsSettings()
        self.container = container
        self.previous = previous
        self.since = self.settings.since
        self.tail: int | str = self.settings.tail
        self.pods: list[Pod] = []
        self.sources: dict[str, str] = {}
        self.targets: list[LogTarget] = []
        self.buffer = LogBuffer(self.settings.buffer_lines)
        self.view = LogView(self.buffer)
        self.follow: LogFollow | None = None
        self.lines = LogLines(self.view, id="log-lines")
        self.pattern: re.Pattern[str] | None = None
        self.search_error = ""
        self.filter_mode = "off"
        self.replica: str | None = None
        self.matches: list[int] = []  # the matching lines' positions: index in the view + self._removed
        self.match_pos = -1
        self._removed = 0  # lines that left the front of the view (the ring dropped them) since the search
        self.error_seq: int | None = None
        self.note = ""  # the last thing a key said (a jump, a wrapped search, a saved file)
        self.saved_path = ""
        self._saving = False
        self._seen: tuple[int, int] = (-1, -1)
        self._ended: set[LogTarget] = set()

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield from self.app.compose_header()  # type: ignore[attr-defined]
        yield Static(id="log-title")
        yield Static(id="log-status")
        yield self.lines
        yield Static(id="log-waiting")
        yield Input(placeholder="search: a regular expression (lower case: any case); enter to find, escape to close",
                    id="log-search")
        yield from self.app.compose_bars()  # type: ignore[attr-defined]
        yield KeyBar()

    def on_mount(self) -> None:
        self.lines.focus()
        self.restart()
        self.set_interval(POLL_SECONDS, self._poll)
        self.call_after_refresh(self.app.update_header)  # type: ignore[attr-defined]

    def on_resize(self) -> None:
        self._show_title()
        self._show_status()

    def on_unmount(self) -> None:
        self._stop(self.follow)
        self.follow = None

    def focus_main(self) -> None:
        self.lines.focus()

    # ------------------------------------------------------------------ the follow
    def _targets(self) -> list[LogTarget]:
        self.pods = pods_of(self.state, self.subject)
        self.sources = source_names(self.subject, self.pods)
        if not self.container and self.pods:
            first = self.pods[0]
            self.container = (first.container_names or first.init_container_names or ("",))[0]
        out = []
        for p in self.pods:
            if self.container in p.container_names or self.container in p.init_container_names:
                out.append(LogTarget(p.namespace, p.name, self.container, source=self.sources.get(p.name, ""),
                                     init=self.container in p.init_container_names))
        return out

    def restart(self) -> None:
        """A new follow into a new buffer (the old follow is stopped in a thread: its last lines go nowhere)."""
        self._stop(self.follow)
        self.follow = None
        self.targets = self._targets()
        self.buffer = LogBuffer(self.settings.buffer_lines)
        self.view = LogView(self.buffer)
        if self.replica is not None and self.replica not in self.sources.values():
            self.replica = None
        self.view.set_source(self.replica)
        if self.pattern is not None and self.filter_mode != "off":
            self.view.set_filter(self.pattern, self.filter_mode)
        self.matches, self.match_pos, self._removed, self.error_seq = [], -1, 0, None
        self._seen = (-1, -1)
        self._ended: set[LogTarget] = set()  # targets whose end was looked at (_note_endings)
        self.lines.set_options(show_source=len(self.targets) > 1 or any(t.source for t in self.targets),
                               source_width=max((len(t.source) for t in self.targets), default=0),
                               current_seq=None)
        self.lines.set_view(self.view)
        if self.targets:
            self.follow = self.feed(self.targets, self.buffer, previous=self.previous,
                                    since_seconds=since_seconds(self.since),
                                    tail_lines=None if self.tail == "all" else int(self.tail))
            self.follow.start()
        self._show_all()

    @staticmethod
    def _stop(follow: LogFollow | None) -> None:
        if follow is not None:  # closing streams may wait on the network: never on the UI thread
            threading.Thread(target=follow.stop, name="log-follow-stop", daemon=True).start()

    def _poll(self) -> None:
        if self._saving:
            return
        seen = (self.buffer.version, self.follow.version if self.follow is not None else 0)
        if seen == self._seen:
            return
        self._seen = seen
        self._note_endings()
        old = len(self.view)
        gained = self.view.refresh()
        self._took_in(old, gained)
        self.lines.update(gained)
        self._show_all()

    def _note_endings(self) -> None:
        """A container that ended badly says so at the end of its log, as the cluster tells it (OOMKilled and an
        exit code are written by the kubelet, never in the log itself): one line marked as the console's, an
        error, so `E` finds it like any other."""
        if self.follow is None or self.previous:
            return
        for target, status in self.follow.status().items():
            if status != "ended" or target in self._ended:
                continue
            self._ended.add(target)
            pod = next((p for p in self.state.pods(target.namespace) if p.name == target.pod), None)
            if pod is None or not pod.last_exit:
                continue
            text = clean(f"[prophecis-tui] container {target.container} of {target.pod} ended: {pod.last_exit}")
            self.buffer.extend([LogLine(text, source=target.source, level=ERROR)])

    def _took_in(self, old: int, gained: int) -> None:
        """Keep the matches up to date at the cost of the new lines: the ones the ring dropped leave the
        front, the new ones that match join the end."""
        if self.pattern is None:
            return
        n = len(self.view)
        shift = old + gained - n
        if shift > 0:
            self._removed += shift
            k = bisect.bisect_left(self.matches, self._removed)
            if k:
                del self.matches[:k]
                self.match_pos = max(self.match_pos - k, -1 if not self.matches else 0)
        if gained:
            search = self.pattern.search
            base = self._removed + n - gained
            for i, line in enumerate(self.view.lines(n - gained, n)):
                if search(line.text):
                    self.matches.append(base + i)

    def refresh_data(self) -> None:
        """The pods or events changed: a job whose pods were not there yet gets its follow; the waiting
        panel shows the new events."""
        if not self.targets and pods_of(self.state, self.subject):
            self.restart()
        elif self.has_class("-waiting"):
            self._show_waiting()

    # ------------------------------------------------------------------ what the screen says
    def _show_all(self) -> None:
        self._show_title()
        self._show_status()
        self._show_waiting()

    @property
    def narrow(self) -> bool:
        return 0 < self.size.width < 120

    def _show_title(self) -> None:
        narrow = self.narrow
        t = Text(no_wrap=True, overflow="ellipsis")
        s = self.subject
        if not narrow:
            t.append("Log ", "bold")
        if s.merged:
            if not narrow:
                t.append(f"{s.kind} ", "dim")
            t.append(f"{s.namespace}/{s.name}", "bold")
            n = len(self.targets)
            t.append(f" ×{n}" if narrow else f"  {n} {'replica' if s.kind in JOB_KINDS else 'pod'}{'s' if n != 1 else ''}",
                     "dim")
        else:
            t.append(f"{s.namespace}/{self.targets[0].pod if self.targets else s.name}", "bold")
        if self.container:
            init = any(t_.init for t_ in self.targets)
            t.append(f"  [{clean_line(self.container, 40)}{' (init)' if init else ''}]", "cyan")
        if self.previous:
            t.append("  ")
            t.append(" PREVIOUS container ", "bold reverse yellow")
        t.append(f" since {self.since} tail {self.tail}" if narrow else f"  since {self.since} · tail {self.tail}",
                 "dim")
        if self.replica is not None and not narrow:
            t.append("  replica ", "dim")
            t.append(self.replica, "bold")
        self._put("#log-title", t, layout=False)

    def stream_states(self) -> dict[LogTarget, str]:
        return self.follow.status() if self.follow is not None else {}

    def _status_text(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        states = self.stream_states()
        if not self.targets:
            t.append(self._no_targets(), "yellow")
        elif len(states) <= 1:
            status = next(iter(states.values()), "starting")
            t.append(f"{status}", STATUS_STYLE.get(status_word(status), ""))
        else:
            groups: dict[str, list[LogTarget]] = {}
            for target, status in states.items():
                groups.setdefault(status_word(status), []).append(target)
            for i, (word, targets) in enumerate(sorted(groups.items(), key=lambda kv: STATUS_ORDER.get(kv[0], 9))):
                t.append(" · " if i else "")
                t.append(f"{word} {len(targets)}", STATUS_STYLE.get(word, ""))
                if word not in ("streaming", "ended"):
                    reasons = [f"{x.source or x.pod}: {states[x].partition(':')[2].strip()}".rstrip(": ")
                               for x in targets[:2]]
                    t.append(f" ({'; '.join(reasons)}{'…' if len(targets) > 2 else ''})", "dim")
        narrow = self.narrow
        t.append("  │ ", "dim")
        t.append(f"{len(self.buffer):,} lines", "bold")
        if self.buffer.dropped or not narrow:
            t.append(" · ")
            t.append(f"{self.buffer.dropped:,} dropped", "bold yellow" if self.buffer.dropped else "dim")
        if self.filter_mode != "off" or self.replica is not None:
            what = f"{'matching' if self.filter_mode == 'show' else 'not matching'}" if self.filter_mode != "off" else ""
            t.append(" · ")
            t.append(f"{len(self.view):,} shown", "bold cyan")
            t.append(f" ({' '.join(x for x in (what, self.replica or '') if x)})", "dim")
        if self.search_error:
            t.append("  │ ", "dim")
            t.append(self.search_error, "bold red")
        elif self.pattern is not None:
            t.append("  │ ", "dim")
            t.append(f"/{clean_line(self.pattern.pattern, 30)}/ ", "bold")
            n = len(self.matches)
            t.append(f"{self.match_pos + 1:,}/{n:,}" if self.match_pos >= 0 else
                     f"{n:,} match{'es' if n != 1 else ''}", "bold" if self.matches else "yellow")
        if self.lines.json_mode != "raw":
            t.append(f"  json {self.lines.json_mode}", "dim")
        t.append("  │ ", "dim")
        if self.lines.follow:
            t.append("following", "green")
        else:
            t.append("paused", "bold yellow")
            if self.lines.new_lines:
                t.append(f" · {self.lines.new_lines:,} new lines", "bold yellow")
            if not narrow:
                t.append(" (f follows)", "dim")
        if self.note:
            t.append("  │ ", "dim")
            t.append(self.note, "cyan")
        return t

    def _put(self, selector: str, text: Text, layout: bool = True) -> None:
        """Show a line, unless the screen is going (a resize or a poll can come while it is torn down)."""
        try:
            widget = self.query_one(selector, Static)
        except NoMatches:
            return
        update_if_changed(widget, text, layout=layout)

    def _no_targets(self) -> str:
        if self.pods:
            return f"no pod of it has a container {self.container}"
        if self.subject.kind == "Pod":
            return f"the pod {self.subject.name} is not in the cluster (any more)"
        return "it has no pods (yet)"

    def _show_status(self) -> None:
        self._put("#log-status", self._status_text(), layout=False)

    def waiting(self) -> str:
        """Why there is nothing to read yet ('' when there is, or may be): a container not started."""
        if len(self.buffer):
            return ""
        if not self.targets:
            return self._no_targets()
        states = self.stream_states()
        waits = [s.partition(":")[2].strip() for s in states.values() if status_word(s) == "waiting"]
        waits = [w for w in waits if w != STARTING]  # the follow has not asked yet: no reason to show
        if waits and len(waits) == len(states):
            return waits[0]
        pending = [p for p in self.pods if p.phase == "Pending"]
        if states and all(status_word(s) in ("waiting", "ended", "failed") for s in states.values()) and pending:
            return pending[0].waiting or pending[0].unschedulable or "Pending"
        if not states and pending:
            return pending[0].waiting or pending[0].unschedulable or "Pending"
        return ""

    def _show_waiting(self) -> None:
        why = self.waiting()
        self.set_class(bool(why), "-waiting")
        if not why:
            return
        t = Text()
        what = self.container or "its container"
        t.append(f"waiting for {clean_line(what, 60)}: ", "bold yellow")
        t.append(clean_line(why, 300), "yellow")
        t.append("\n\n")
        events = self.events()
        if events:
            t.append("Events, warnings first, newest first\n", "bold underline")
            for e in events[:40]:
                warn = e.type == "Warning"
                t.append(f"{age(e.last or e.first):>4} ", "dim")
                t.append(f"{clean_line(e.reason, 28)} ", "bold yellow" if warn else "bold")
                t.append(f"{clean_line(e.object_kind.lower() + '/' + e.object_name, 60)}", "dim")
                if e.count > 1:
                    t.append(f" ×{e.count}", "dim")
                t.append("  ")
                t.append(clean_line(e.message, 400), "yellow" if warn else "")
                t.append("\n")
        else:
            t.append("no events for it yet", "dim")
        t.append("\nthe log shows here as soon as the container starts", "dim")
        self._put("#log-waiting", t)

    def events(self) -> list[Event]:
        """The events of the subject and its pods: warnings first, each kind newest first."""
        names = {p.name for p in self.pods} | {self.subject.name}
        found = [e for e in self.state.events(self.subject.namespace) if e.object_name in names]
        return sorted(found, key=lambda e: (e.type != "Warning",
                                            -((e.last or e.first).timestamp() if (e.last or e.first) else 0.0)))

    # ------------------------------------------------------------------ following and moving
    def action_toggle_follow(self) -> None:
        self.lines.set_follow(not self.lines.follow)
        self.note = ""
        self._show_status()

    @on(LogLines.FollowChanged)
    def _follow_changed(self) -> None:
        self._show_status()

    def action_top(self) -> None:
        self.lines.go_top()
        self._show_status()

    def action_bottom(self) -> None:
        self.lines.go_bottom()
        self._show_status()

    def action_back(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.has_class("-open"):
            search.remove_class("-open")
            self.lines.focus()
            return
        self.app.action_back()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ what to read
    def action_toggle_previous(self) -> None:
        self.previous = not self.previous
        self.note = "the previous container's log (it ended: no follow)" if self.previous else ""
        self.restart()

    def action_cycle_since(self) -> None:
        self.since = _next(SINCE_WINDOWS, self.since)
        self.restart()

    def action_cycle_tail(self) -> None:
        self.tail = _next(TAIL_SIZES, self.tail)
        self.restart()

    def action_pick_container(self) -> None:
        from .pickers import Picker
        pods = self.pods or pods_of(self.state, self.subject)
        options = [(c, f"{c} (init container)" if init else c) for c, init in containers_of(pods)]
        if not options:
            self.notify("no containers known for it yet", severity="warning")
            return
        self.app.push_screen(Picker("Container", options, self.container), self._picked_container)

    def _picked_container(self, choice: str | None) -> None:
        if choice is not None and choice != self.container:
            self.container = choice
            self.restart()

    def action_cycle_replica(self) -> None:
        names = [t.source for t in self.targets if t.source]
        if not names:
            self.notify("one stream: nothing to pick", severity="warning")
            return
        self.replica = names[0] if self.replica is None else (
            None if self.replica not in names or self.replica == names[-1] else names[names.index(self.replica) + 1])
        self.view.set_source(self.replica)
        self._view_changed()

    # ------------------------------------------------------------------ how it reads
    def action_toggle_timestamps(self) -> None:
        self.lines.set_options(timestamps=not self.lines.timestamps)

    def action_toggle_wrap(self) -> None:
        self.lines.set_options(wrap=not self.lines.wrap)

    def action_cycle_json(self) -> None:
        self.lines.set_options(json_mode=_next(JSON_MODES, self.lines.json_mode))
        self._show_status()

    # ------------------------------------------------------------------ search, filter, errors
    def action_search(self) -> None:
        search = self.query_one("#log-search", Input)
        search.add_class("-open")
        if self.pattern is not None and not search.value:
            search.value = self.pattern.pattern
        search.focus()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.remove_class("-open")
        self.lines.focus()
        self.set_search(event.value)

    def set_search(self, text: str) -> None:
        """Search for a regular expression (case-insensitive when it is all lower case); '' clears it."""
        self.search_error, self.note = "", ""
        if not text:
            self.pattern = None
            if self.filter_mode != "off":
                self.filter_mode = "off"
                self.view.set_filter(None, "off")
            self.matches, self.match_pos = [], -1
            self.lines.set_options(pattern=None, current_seq=None)
            self._view_changed()
            return
        try:
            pattern = re.compile(text, 0 if any(c.isupper() for c in text) else re.IGNORECASE)
        except re.error as err:
            self.search_error = f"invalid regex: {err}"
            self._show_status()
            return
        self.pattern = pattern
        if self.filter_mode != "off":
            self.view.set_filter(pattern, self.filter_mode)
        self.lines.set_options(pattern=pattern)
        self._view_changed(jump=True)

    def _view_changed(self, jump: bool = False) -> None:
        """The view's lines changed (a filter, a replica, a search): the matches again, in one pass."""
        self.view.refresh()
        self._removed = 0
        self.matches = self.view.search(self.pattern) if self.pattern is not None else []
        self.match_pos = -1
        self.lines.set_view(self.view)
        if jump and self.matches:
            self._jump_to_match(self._first_match())
        self._show_all()

    def _first_match(self) -> int:
        """Where a new search lands: from the top line on screen down, or, when following the end, the last
        match (the newest)."""
        if self.lines.follow:
            return len(self.matches) - 1
        k = bisect.bisect_left(self.matches, self._removed + self.lines.top)
        return k if k < len(self.matches) else 0

    def _jump_to_match(self, pos: int) -> None:
        self.match_pos = pos
        index = self.matches[pos] - self._removed
        line = self.view.line(index)
        self.lines.set_options(current_seq=line.seq)
        found = self.pattern.search(line.text) if self.pattern is not None else None
        self.lines.go_to(index, column=cell_len(line.text[:found.start()]) if found else 0)
        self._show_status()

    def action_next_match(self, step: int) -> None:
        if self.pattern is None:
            self.notify("nothing searched yet: / searches", severity="warning")
            return
        if not self.matches:
            self.notify(f"no line matches /{clean_line(self.pattern.pattern, 40)}/", severity="warning")
            return
        if self.match_pos < 0:
            pos = self._first_match() if step > 0 else len(self.matches) - 1
        else:
            pos = self.match_pos + step
        self.note = ""
        if pos >= len(self.matches) or pos < 0:
            pos %= len(self.matches)
            self.note = "search wrapped to the " + ("top" if step > 0 else "bottom")
        self._jump_to_match(pos)

    def action_filter_mode(self) -> None:
        if self.pattern is None:
            self.notify("x filters by the search: search with / first", severity="warning")
            return
        self.filter_mode = _next(FILTER_MODES, self.filter_mode)
        self.view.set_filter(self.pattern if self.filter_mode != "off" else None, self.filter_mode)
        self.note = {"off": "filter off: every line", "show": "showing the matching lines only",
                     "hide": "hiding the matching lines"}[self.filter_mode]
        self._view_changed()

    def action_next_error(self) -> None:
        after = -1
        if self.error_seq is not None:
            index = self.view.index_of_seq(self.error_seq)
            after = index if index is not None else -1
        found = self.view.next_error(after)
        if found is None:
            if after >= 0:
                self.note = "no more errors below: E again starts from the first"
                self.error_seq = None
            else:
                self.note = f"no errors in the {len(self.view):,} lines shown"
            self._show_status()
            return
        line = self.view.line(found)
        self.error_seq = line.seq
        what = self.view.error_signature(found) or "error"
        self.note = f"{what}{f' ({line.source})' if line.source else ''} at line {found + 1:,}"
        self.lines.set_options(current_seq=line.seq)
        self.lines.go_to(found, column=0)
        self._show_status()

    # ------------------------------------------------------------------ saving
    def action_save(self) -> None:
        from .modals import AskValue
        try:
            path = str(default_save_path(self.subject, self.container, self.previous))
        except Exception:  # no home: ask for a path anyway
            path = ""
        what = "the lines shown (the filter is on)" if self.filter_mode != "off" or self.replica else "every line"
        self.app.push_screen(AskValue("Save the log", f"Save {what} of the buffer to the file:", path,
                                      check=lambda v: "" if v.strip() else "a file name is needed"),
                             self._save_to)

    def _save_to(self, path: str | None) -> None:
        if not path:
            return
        target = Path(path).expanduser()
        self._saving = True
        self._save(target)

    @work(thread=True, group="log-save", exit_on_error=False)
    def _save(self, target: Path) -> None:
        try:
            if target.parent == data_dir() / "logs":
                data_dir(create=True)
                target.parent.mkdir(mode=0o700, exist_ok=True)
            count = self.view.save(str(target))
            result = (True, f"saved {count:,} lines to {target}")
        except Exception as err:  # OSError, ConfigError: one line
            result = (False, f"cannot save to {target}: {getattr(err, 'strerror', None) or err}")
        self.app.call_from_thread(self._saved, target, result)

    def _saved(self, target: Path, result: tuple[bool, str]) -> None:
        self._saving = False
        ok, message = result
        if ok:
            self.saved_path = str(target)
        self.note = message
        self.notify(message, title="Log saved" if ok else "Log not saved", severity="information" if ok else "error",
                    timeout=8)
        self._poll()
        self._show_status()


STATUS_STYLE = {"streaming": "green", "waiting": "yellow", "reconnecting": "bold yellow", "ended": "dim",
                "failed": "bold red", "starting": "dim"}
STATUS_ORDER = {"failed": 0, "reconnecting": 1, "waiting": 2, "streaming": 3, "ended": 4}


def _next(options: tuple, current: Any) -> Any:
    """The option after ``current`` (the first when it is not one of them)."""
    return options[(options.index(current) + 1) % len(options)] if current in options else options[0]

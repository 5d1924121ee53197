"""The alert timeline (`:history`, `timeline`; `h` on `:alerts`): every alert's moments, newest first.

Rows are the moments the alert timeline recorded (``prophecis_tui.store.AlertTimeline``, in alerts.db): fired,
refired, acked, unacked, silenced, unsilenced, inhibited, uninhibited, resolved; columns time (local, with the
date when not today), event (coloured), severity, business system (tier), alert, target, by, note. The detail
line under the table says the rest (the summary, every system, the state after the moment, the key).

`p` cycles the period shown (1h, 12h, 24h, 7d, up to ``[alerts] history_days``; 24h first), `/` filters with free
words over the alert's name, target, namespace, business systems, who and the note (each word must appear),
`enter` goes back to the alert on `:alerts` when it is still listed, `ctrl+s` saves the period's Markdown
handover note (``prophecis_tui.handover``, as ``prophecis-tui alerts history --md`` prints it) to a file in the
data dir, owner-only.

The timeline is SQLite: it is read in a thread worker only, never on the UI thread, again when the alerts
change (at most once a second). A session without an alerts source has no timeline: the screen says so in one
line. The alerts screen's detail pane shows the last moments of one alert through the same reads
(:func:`read_moments`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import Static

from prophecis_tui.sanitize import clean_line
from widgets.resource_table import Column, cell_text, sort_key

from .resources import ResourceScreen, age, now, update_if_changed

# event -> style (the alerts screen's colours: red fires, cyan is an ack, magenta a silence, green the end)
EVENT_STYLE = {"fired": "bold red", "refired": "bold red", "acked": "cyan", "unacked": "dim cyan",
               "silenced": "magenta", "unsilenced": "yellow", "inhibited": "dim magenta", "uninhibited": "yellow",
               "resolved": "green"}
PERIODS: tuple[tuple[str, float], ...] = (("1h", 3600.0), ("12h", 43200.0), ("24h", 86400.0), ("7d", 604800.0))
DEFAULT_PERIOD = "24h"
HISTORY_DAYS = 14.0  # [alerts] history_days when the app has no settings (tests)
MIN_GAP = 1.0  # seconds: the timeline is read again at most this often when the alerts change
MOMENTS_SHOWN = 8  # an alert's own moments in the alerts screen's detail pane
HANDOVER_DIR = "handover"  # in the data dir


# ------------------------------------------------------------------------------------------ reading the timeline
def session_timeline(session: Any) -> tuple[Any, str]:
    """The session's alert timeline (``store.AlertTimeline``, the alerts poller's) and "", or None and one line
    saying why there is none."""
    poller = getattr(session, "alerts", None)
    if poller is None:
        return None, ("no alert timeline: this session has no alerts source (set [alerts] alertmanagers in the "
                      "config; the console records every alert's moments while it runs)")
    timeline = getattr(poller, "timeline", None)
    if timeline is None:
        return None, "no alert timeline: this session's alerts poller records none"
    return timeline, ""


def read_moments(timeline: Any, key: str, limit: int = MOMENTS_SHOWN) -> tuple[list[Any], int]:
    """Worker side: the last ``limit`` moments of one alert, newest first, and how many it has in all."""
    entries = timeline.history(key=key)
    return entries[::-1][:limit], len(entries)


def periods(history_days: float | None) -> list[tuple[str, float]]:
    """The periods `p` cycles: the standard ones the timeline keeps (``history_days``), then ``history_days``
    itself when longer than those."""
    keep = float(history_days or HISTORY_DAYS) * 86400.0
    out = [(label, secs) for label, secs in PERIODS if secs <= keep] or [PERIODS[0]]
    if keep > out[-1][1]:
        days = keep / 86400.0
        out.append((f"{days:g}d" if days >= 1 else f"{keep / 3600.0:g}h", keep))
    return out


# ------------------------------------------------------------------------------------------ how a moment reads
def when_text(t: datetime, today: Any = None) -> str:
    """Local HH:MM:SS, with the date (MM-DD) when not today."""
    local = t.astimezone()
    today = today if today is not None else now().astimezone().date()
    return local.strftime("%H:%M:%S" if local.date() == today else "%m-%d %H:%M:%S")


def systems_cell_text(systems: Any, style: str = "") -> Text:
    """``T1 反欺诈交易评分 +1``: the first system with its tier, how many more; ``untagged``."""
    if not systems:
        return Text("untagged", "dim italic", no_wrap=True, end="")
    _, name, tier = systems[0]
    t = Text(no_wrap=True, end="")
    if tier is not None:
        t.append(f"T{tier} ", style or ("bold red" if tier == 1 else "bold"))
    t.append(clean_line(name, 60), style)
    if len(systems) > 1:
        t.append(f" +{len(systems) - 1}", "dim")
    return t


def event_text(event: str) -> Text:
    return Text(event, EVENT_STYLE.get(event, ""), no_wrap=True, end="")


def moment_line(e: Any, today: Any = None, with_name: bool = False, width: int = 8) -> Text:
    """One moment on one line (the alerts screen's detail pane): time (right-aligned in ``width``), event, who
    and the note."""
    t = Text(no_wrap=True, end="")
    t.append(when_text(e.at, today).rjust(width), "dim")
    t.append(" ")
    t.append(e.event.ljust(11), EVENT_STYLE.get(e.event, ""))
    if with_name:
        t.append(" " + clean_line(e.name, 60))
    if e.by:
        t.append(" by ", "dim")
        t.append(clean_line(e.by, 40))
    if e.note:
        t.append(": " if e.by else " ", "dim")
        t.append(clean_line(e.note, 160))
    return t


def moments_text(moments: Any) -> Text | None:
    """The "history" section of an alert's detail: ``(entries newest first, total)``, "reading", an error line,
    or None (no timeline: no section)."""
    if moments is None:
        return None
    t = Text()
    t.append("history", "bold")
    if isinstance(moments, str):
        t.append(f"  {'…' if moments == 'reading' else clean_line(moments, 200)}\n", "dim")
        return t
    entries, total = moments
    if not entries:
        t.append("  nothing recorded yet\n", "dim")
        return t
    if total > len(entries):
        t.append(f"  (the last {len(entries)} of {total}; h: the timeline)", "dim")
    t.append("\n")
    today = now().astimezone().date()
    width = max(len(when_text(e.at, today)) for e in entries)
    for e in entries:
        t.append_text(moment_line(e, today, width=width))
        t.append("\n")
    return t


# ------------------------------------------------------------------------------------------ rows
class MomentRow:
    """One moment of the timeline, as the table shows it."""

    __slots__ = ("uid", "name", "namespace", "state", "entry")

    def __init__(self, entry: Any) -> None:
        self.entry = entry
        self.uid = str(entry.id)
        self.name = entry.name
        self.namespace = entry.namespace
        self.state = entry.event


@dataclass
class HistoryContext:
    """What the summary says besides the rows (built in the worker)."""

    since: datetime | None = None
    error: str = ""  # the timeline could not be read
    today: Any = None
    dated: bool = False  # a moment shown is not today's: the time column has the dates


def _severity_cell(r: MomentRow) -> Text:
    from .alerts import SEVERITY_STYLE, SEVERITY_WORD
    sev = r.entry.severity
    return Text(SEVERITY_WORD.get(sev, "INFO" if sev == "info" else (sev or "-")[:4].upper()),
                SEVERITY_STYLE.get(sev, ""), no_wrap=True, end="")


def _alert_cell(r: MomentRow) -> Text:
    e = r.entry
    style = "bold red" if e.event in ("fired", "refired") and e.severity == "critical" else (
        "dim" if e.event == "resolved" else "")
    return cell_text(e.name or e.key, style, 80)


def search_text(e: Any) -> str:
    """What `/` looks in: the alert's name, target, namespace, business systems (id and name), who, the note,
    the event and severity."""
    systems = " ".join(f"{sid} {name}" for sid, name, _ in e.systems) or "untagged"
    return " ".join((e.name, e.target, e.namespace, systems, e.by, e.note, e.event, e.severity)).casefold()


def find_alert(alerts: Any, entry: Any) -> Any:
    """The alert a moment is of, among those listed: the same key, else the alert its own was folded into (the
    same condition of the same target, ``alerts.correlate``). None: gone."""
    alerts = list(alerts)
    hit = next((a for a in alerts if a.key == entry.key), None)
    if hit is not None or not entry.target:
        return hit
    from prophecis_tui.alerts import condition, condition_of
    cond = condition_of(entry.source, entry.name, entry.summary)
    if not cond:
        return None
    return next((a for a in alerts if a.target == entry.target and a.namespace == entry.namespace
                 and condition(a) == cond), None)


def default_note_path(at: datetime) -> Path:
    from prophecis_tui.config import data_dir
    return data_dir() / HANDOVER_DIR / f"alert-handover_{at.astimezone().strftime('%Y%m%d-%H%M%S')}.md"


def write_private(path: Path, text: str) -> None:
    """``text`` to ``path``, readable and writable by its owner only (a file there before is made so too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


# ------------------------------------------------------------------------------------------ the screen
class AlertHistoryScreen(ResourceScreen):
    TITLE_TEXT = "Alert timeline"
    NAME = "alert-history"
    KIND = "Alert"
    DATA_KINDS = frozenset({"alerts"})
    BINDINGS = [
        Binding("d", "describe", "Describe", id="object.describe", show=False),
        Binding("y", "yaml", "YAML", id="object.yaml", show=False),
        Binding("e", "events", "Events", id="object.events", show=False),
        Binding("o", "sort", "Sort", id="object.sort", show=False),
        Binding("p", "period", "Period", id="history.period"),
        Binding("ctrl+s", "handover", "Handover note", id="history.handover", key_display="^s"),
    ]
    DEFAULT_CSS = """
    AlertHistoryScreen.-no-timeline #table, AlertHistoryScreen.-no-timeline #detail { display: none; }
    """

    def __init__(self, state: Any, namespace: str | None = None) -> None:
        super().__init__(state, namespace)
        self.table.hidden = {"at_date"}
        self.period = DEFAULT_PERIOD
        self.why_none = ""  # no timeline: why (one line)
        self.saved_path = ""  # the last handover note written
        self._last_read = 0.0  # time.monotonic() of the last read started
        self._due: Any = None  # the timer of a read put off (MIN_GAP)

    def columns(self) -> list[Column]:
        def when(r: MomentRow) -> Text:
            return Text(when_text(r.entry.at, self._today()), "dim")

        def at(r: MomentRow) -> tuple:
            return (r.entry.at, r.entry.id)
        return [  # the time: HH:MM:SS when every moment shown is today's, else a wider column with the dates
            Column("at", "TIME", 8, when, sort=at),
            Column("at_date", "TIME", 14, when, justify="right", sort=at),
            Column("event", "EVENT", 11, lambda r: event_text(r.entry.event),
                   sort=lambda r: r.entry.event),
            Column("severity", "SEV", 4, _severity_cell,
                   sort=lambda r: {"critical": 0, "warning": 1, "info": 2}.get(r.entry.severity, 9)),
            Column("system", "BUSINESS SYSTEM", 10, lambda r: systems_cell_text(r.entry.systems), flex=True,
                   max_width=22, sort=lambda r: (not r.entry.systems, r.entry.systems[0][2] or 99
                                                 if r.entry.systems else 99,
                                                 r.entry.systems[0][1] if r.entry.systems else "")),
            Column("alert", "ALERT", 12, _alert_cell, flex=True, max_width=30, sort=lambda r: r.entry.name.lower()),
            Column("target", "TARGET", 12, lambda r: cell_text(r.entry.target or r.entry.namespace or "-"),
                   flex=True, max_width=48, keep_end=True, sort=lambda r: r.entry.target.lower()),
            Column("by", "BY", 10, lambda r: cell_text(r.entry.by), narrow=False),
            Column("note", "NOTE", 12, lambda r: cell_text(r.entry.note, "", 200), flex=True, narrow=False),
        ]

    def _today(self) -> Any:
        ctx = self.context
        return ctx.today if ctx is not None and ctx.today is not None else now().astimezone().date()

    # ------------------------------------------------------------------ the period
    @property
    def periods(self) -> list[tuple[str, float]]:
        days = getattr(getattr(self.app, "alerts_settings", None), "history_days", None)
        return periods(days)

    def period_seconds(self) -> float:
        choices = self.periods
        return dict(choices).get(self.period, choices[-1][1])

    def on_mount(self) -> None:
        labels = [label for label, _ in self.periods]
        if self.period not in labels:
            self.period = labels[-1]
        super().on_mount()

    def action_period(self) -> None:
        labels = [label for label, _ in self.periods]
        i = labels.index(self.period) if self.period in labels else -1
        self.period = labels[(i + 1) % len(labels)]
        self.recompute()

    # ------------------------------------------------------------------ reading (worker side), paced
    def refresh_data(self) -> None:
        """The alerts changed: read the timeline again, at most once every MIN_GAP seconds."""
        if self._due is not None:
            return
        wait = self._last_read + MIN_GAP - time.monotonic()
        if wait > 0:
            self._due = self.set_timer(wait, self._read_due)
            return
        super().refresh_data()

    def _read_due(self) -> None:
        self._due = None
        super().refresh_data()

    def start_compute(self) -> None:
        self._last_read = time.monotonic()
        timeline, why = session_timeline(self.app.session)  # type: ignore[attr-defined]
        self.why_none = why
        self.set_class(timeline is None, "-no-timeline")
        self._compute_moments(timeline, self.scope, self.filter_text, self.table.sort_column, self.table.sort_reverse,
                              self.period_seconds())

    def completed(self) -> bool:
        return False

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def _compute_moments(self, timeline: Any, scope: str | None, text: str, sort: str | None, reverse: bool,
                         seconds: float) -> None:
        started = time.perf_counter()
        layout = self.rows_layout
        at = now()
        since = at - timedelta(seconds=seconds)
        ctx = HistoryContext(since=since, today=at.astimezone().date())
        entries: list[Any] = []
        if timeline is not None:
            try:
                entries = timeline.history(since, None)
            except Exception as err:  # sqlite3.Error, OSError: one line, the screen stays
                ctx.error = f"cannot read the alert timeline: {clean_line(str(err), 200)}"
        if scope:
            entries = [e for e in entries if e.namespace == scope]
        total = len(entries)
        words = text.casefold().split()
        if words:
            entries = [e for e in entries if all(w in search_text(e) for w in words)]
        rows = [MomentRow(e) for e in reversed(entries)]  # newest first (the timeline reads oldest first)
        ctx.dated = any(e.at.astimezone().date() != ctx.today for e in entries)
        column = next((c for c in self.table.all_columns if c.key == sort), None)
        if column is not None:
            rows.sort(key=sort_key(column), reverse=reverse)  # stable: newest first among equals
        index = {r.uid: i for i, r in enumerate(rows)}
        self._cost = time.perf_counter() - started
        self.post_message(self.Rows(rows, total, ctx, timeline is not None, index, layout))

    def rows_shown(self) -> None:
        ctx = self.context
        self.table.hide({"at"} if ctx is not None and ctx.dated else {"at_date"})

    # ------------------------------------------------------------------ summary and detail
    def _summary(self) -> None:
        ctx = self.context
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(self.TITLE_TEXT, "bold")
        if self.why_none:
            line.append(f"  {self.why_none}", "yellow")
            update_if_changed(self.query_one("#summary", Static), line, layout=False)
            return
        line.append(f" in {self.scope}" if self.scope else " in all namespaces")
        line.append(f"  last {self.period}", "bold")
        if ctx is not None and ctx.since is not None:
            line.append(f" (since {when_text(ctx.since, ctx.today)})", "dim")
        if ctx is not None and ctx.error:
            line.append(f"  {ctx.error}", "bold red")
        elif self.loaded:
            n = len(self.table.rows)
            shown = f"{n}" if n == self.total else f"{n} of {self.total}"
            line.append(f"  {shown}", "bold")
            line.append(f" moment{'s' if self.total != 1 else ''}", "dim")
        else:
            line.append("  … reading", "dim")
        if self.filter_text:
            line.append(f"  filter: {clean_line(self.filter_text, 40)}", "yellow")
        if self.table.sort_column:
            label = next((c.label for c in self.table.all_columns if c.key == self.table.sort_column), "")
            line.append(f"  sorted by {label}{' ↓' if self.table.sort_reverse else ''}", "dim")
        if self.saved_path:
            line.append(f"  saved {clean_line(self.saved_path, 300)}", "green")
        update_if_changed(self.query_one("#summary", Static), line, layout=False)

    def _detail(self) -> None:
        if self.why_none:
            return
        if self.table.current is None:
            ctx = self.context
            if ctx is not None and ctx.error:
                text = Text(ctx.error, "bold red")
            elif self.filter_text:
                text = Text("no moments match the filter", "dim")
            elif self.loaded:
                longer = self.period != self.periods[-1][0]
                text = Text(f"no alert moments in the last {self.period}" + ("  (p: a longer period)" if longer
                                                                              else ""), "dim")
            else:
                text = Text("reading the alert timeline…", "dim")
            update_if_changed(self.query_one("#detail", Static), text)
            return
        super()._detail()

    def detail(self, r: MomentRow) -> Text:
        return entry_detail(r.entry, self._today(), listed=find_alert(self.state.alerts(), r.entry) is not None)

    # ------------------------------------------------------------------ keys
    def open(self, r: Any) -> None:
        """enter: the alert on `:alerts`, selected (back to it when the timeline was opened from there)."""
        if not isinstance(r, MomentRow):
            return
        from .alerts import AlertsScreen
        a = find_alert(self.state.alerts(), r.entry)
        if a is None:
            self.notify(f"{clean_line(r.entry.name, 60)} {clean_line(r.entry.target, 80)} is no longer listed "
                        "(resolved and gone)", severity="warning")
            return
        app = self.app
        stack = app.screen_stack
        below = stack[-2] if len(stack) >= 2 else None
        if isinstance(below, AlertsScreen):
            app.pop_screen()
            below.show_alert(a.key)
            return
        screen = AlertsScreen(self.state, app.namespace)  # type: ignore[attr-defined]
        app.open_screen(screen)  # type: ignore[attr-defined]
        screen.show_alert(a.key)

    def action_describe(self) -> None:
        r = self.current()
        if isinstance(r, MomentRow):
            from .modals import TextView
            e = r.entry
            text = entry_detail(e, self._today(), full=True)
            self.app.push_screen(TextView(f"Alert moment  {e.event}  {clean_line(e.name, 60)}", text.plain))

    def action_yaml(self) -> None:
        r = self.current()
        if isinstance(r, MomentRow):
            import yaml

            from .modals import TextView
            self.app.push_screen(TextView(f"YAML  alert moment {r.entry.id}",
                                          yaml.safe_dump(r.entry.as_json(), sort_keys=False, allow_unicode=True)))

    def action_events(self) -> None:
        pass

    def _denied_text(self, obj: Any) -> Text | None:
        return None  # no actions here (ctrl+s writes a local file)

    # ------------------------------------------------------------------ the handover note
    def action_handover(self) -> None:
        timeline, why = session_timeline(self.app.session)  # type: ignore[attr-defined]
        if timeline is None:
            self.notify(why, severity="warning")
            return
        from .modals import AskValue
        try:
            path = str(default_note_path(now()))
        except Exception:  # no home: ask for a path anyway
            path = ""
        prompt = (f"Save the handover note of the last {self.period} (every alert of the period, the filter aside) "
                  "to the file:")
        self.app.push_screen(AskValue("Alert handover note", prompt, path,
                                      check=lambda v: "" if v.strip() else "a file name is needed"),
                             lambda p: self._save_note(timeline, Path(p).expanduser(), self.period_seconds())
                             if p else None)

    @work(thread=True, group="handover", exit_on_error=False)
    def _save_note(self, timeline: Any, target: Path, seconds: float) -> None:
        from prophecis_tui.config import data_dir
        from prophecis_tui.handover import handover_note
        until = now() + timedelta(microseconds=1)  # what was recorded at this very moment counts
        since = until - timedelta(seconds=seconds)
        try:
            note = handover_note(timeline.history(None, until), since, until)
            if target.parent == data_dir() / HANDOVER_DIR:
                data_dir(create=True)
                target.parent.mkdir(mode=0o700, exist_ok=True)
            write_private(target, note)
            result = (True, f"handover note of the last {self.period} saved to {target}")
        except Exception as err:  # OSError, ConfigError, sqlite3.Error: one line
            result = (False, f"cannot save to {target}: {getattr(err, 'strerror', None) or err}")
        self.app.call_from_thread(self._saved, target, result)

    def _saved(self, target: Path, result: tuple[bool, str]) -> None:
        ok, message = result
        if ok:
            self.saved_path = str(target)
            self._summary()
        self.notify(clean_line(message, 300), title="Handover note saved" if ok else "Handover note not saved",
                    severity="information" if ok else "error", timeout=8)


def entry_detail(e: Any, today: Any = None, *, full: bool = False, listed: bool | None = None) -> Text:
    """A moment in full, sanitised: when and what, the alert and its target, the business systems, who and why,
    the summary, the state it left the alert in, the key."""
    from .alerts import SEVERITY_STYLE
    t = Text()
    t.append(e.event, f"bold {EVENT_STYLE.get(e.event, '')}")
    local = e.at.astimezone()
    t.append(f"  {local.strftime('%Y-%m-%d %H:%M:%S')} ({age(e.at)} ago)  ", "dim")
    t.append(e.severity or "-", SEVERITY_STYLE.get(e.severity, ""))
    t.append("  ")
    t.append(clean_line(e.name, 100), "bold")
    if e.target:
        t.append(f"  on {clean_line(e.target, 200)}")
    t.append("\n")
    if e.systems:
        t.append(", ".join(clean_line(n, 60) + (f" (T{tier})" if tier is not None else "") for _, n, tier in e.systems))
    else:
        t.append("untagged", "italic")
    t.append(f"  then {e.state or '?'}", "dim")
    if e.source:
        t.append(f"  from {clean_line(e.source, 40)}", "dim")
    if listed is not None:
        t.append("  enter: the alert on :alerts" if listed else "  no longer listed", "dim")
    t.append("\n")
    if e.by or e.note:
        t.append(f"by {clean_line(e.by, 60)}" if e.by else "", "cyan")
        if e.note:
            t.append(": " if e.by else "")
            t.append(clean_line(e.note, 0 if full else 300))
        t.append("\n")
    if e.summary:
        t.append(clean_line(e.summary, 0 if full else 300), "dim")
        t.append("\n")
    if full:
        t.append(f"\nkey {clean_line(e.key, 300)}\nmoment {e.id}", "dim")
    return t

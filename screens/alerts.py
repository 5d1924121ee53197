"""Alerts (`:alerts`): every source's alerts, grouped by the CMDB business system they hit, tier 1 first.

Rows: a header per business system (its name, tier, firing counts by severity, department, owner and on-call;
the alerts no system claims last, as "untagged"), under it its alerts by severity, state and age, in the
columns severity, business system (tier), alert, target, age and state. Colour follows the severity;
resolved alerts stay a while, dimmed. An alert that hits two systems shows under both.

The alerts come merged, tagged and acknowledged from the alerts poller (``app.session.state.alerts()``);
the screen recomputes its rows in a worker, only when the alerts or silences change, and keeps the cursor
on the same alert. `/` filters with the engine's syntax (``sev:critical sys:NAME ns:NAME state:firing
text``), `f` and `t` cycle quick severity and state filters, `enter` on an alert jumps to its target's
screen with the target selected (on a system header: folds it), `l` opens its logs, `h` the alert timeline
(screens/alert_history.py: every alert's moments; enter there comes back here with that alert selected).

The detail pane (beside the table from 120 columns, below it on a narrow terminal, `i` hides it) shows the
labels, annotations, runbook, where it came from, the silence that mutes it, the acknowledgement, the CMDB
rule that tagged it with the owner and on-call, the workloads it affects, and its last moments from the alert
timeline (fired, acked, silenced, resolved: who and why), read in a worker.

Actions, through the action registry (read-only and RBAC refuse them there, and grey them here): `S` a
silence on Alertmanager (a form: matchers from the alert's labels to review and edit, duration, comment
with a ticket reference; then the registry's confirmation with the exact call), `E` expire the silence
that mutes the alert, `a` acknowledge it with a note (local, in the alert timeline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.strip import Strip
from textual.widgets import Static

from prophecis_tui.actions import Permission, Target
from prophecis_tui.domain import ALERT_STATE_RANK, SEVERITIES, Alert, AlertState, Health, Silence, SystemTag
from prophecis_tui.sanitize import clean, clean_line
from widgets.header import firing_text
from widgets.key_bar import KeyBar
from widgets.resource_table import Column, ResourceTable, cell_text, sort_key

from .pods import PodsScreen, owned_by
from .resources import ResourceScreen, age, update_if_changed

WIDE = 120  # from this many columns the detail pane stands beside the table
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
SEVERITY_WORD = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}
STATE_STYLE = {AlertState.FIRING: "bold", AlertState.ACKED: "cyan", AlertState.SILENCED: "magenta",
               AlertState.INHIBITED: "dim magenta", AlertState.RESOLVED: "dim"}
# the quick filters: `f` cycles the severities shown, `t` the states
SEVERITY_CYCLE: tuple[tuple[str, frozenset[str]], ...] = (
    ("", frozenset()), ("critical", frozenset({"critical"})), ("≥warning", frozenset({"critical", "warning"})))
OPEN = frozenset({AlertState.FIRING, AlertState.ACKED, AlertState.SILENCED, AlertState.INHIBITED})
STATE_CYCLE: tuple[tuple[str, frozenset[AlertState]], ...] = (  # the words of the `/` filter's state: values
    ("", frozenset()), ("open", OPEN), ("firing", frozenset({AlertState.FIRING})),
    ("acked", frozenset({AlertState.ACKED})), ("muted", frozenset({AlertState.SILENCED, AlertState.INHIBITED})),
    ("resolved", frozenset({AlertState.RESOLVED})))
JOB_KINDS = ("TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "Job")
LOG_KINDS = ("Pod", "Notebook", "SeldonDeployment", *JOB_KINDS)
NO_SOURCE = ("no alerts source in this session: set [alerts] alertmanagers in the config (the Kubernetes events "
             "and the platform rules come with it)")
AFFECTED_MAX = 8  # workloads listed in the detail pane
MOMENTS_GAP = 1.0  # seconds: an alert's moments are read again at most this often (when the alerts changed)


def engine() -> Any:
    """The alerts engine (filters, grouping, counts): imported when first needed."""
    from prophecis_tui import alerts
    return alerts


# ------------------------------------------------------------------------------------------ rows (worker side)
class GroupRow:
    """A business system's header row (``system`` None: the untagged alerts)."""

    __slots__ = ("uid", "name", "namespace", "state", "system", "text", "counts", "alerts", "collapsed")

    def __init__(self, system: SystemTag | None, text: Text, counts: dict[str, int], alerts: int,
                 collapsed: bool) -> None:
        self.system = system
        self.uid = f"sys:{system.id}" if system is not None else "sys:"
        self.name = system.name if system is not None else "untagged"
        self.namespace = ""
        self.state = ""
        self.text, self.counts, self.alerts, self.collapsed = text, counts, alerts, collapsed


class AlertRow:
    """One alert under one of its systems' headers."""

    __slots__ = ("uid", "name", "namespace", "state", "alert", "system", "group")

    def __init__(self, alert: Alert, system: SystemTag | None, group: str) -> None:
        self.alert, self.system, self.group = alert, system, group
        self.uid = f"{group}|{alert.key}"
        self.name = alert.name
        self.namespace = alert.namespace
        self.state = alert.state.value


@dataclass
class AlertsContext:
    """What the detail pane and the summary read besides the rows (built in the worker)."""

    silences: dict[str, Silence] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)  # system id -> department
    systems: int = 0  # groups shown
    shown: int = 0  # alerts shown (each once)
    firing: dict[str, int] = field(default_factory=dict)  # of those shown
    problems: tuple[str, ...] = ()  # what the `/` filter could not read


def tier_text(tier: int | None) -> str:
    return "" if tier is None else f"T{tier}"


def _fit(text: str, width: int, style: str = "") -> Text:
    """``text`` cut or padded to exactly ``width`` cells (CJK characters count two)."""
    t = Text(clean_line(text, 200), style, no_wrap=True, end="")
    t.truncate(width, overflow="ellipsis", pad=True)
    return t


def counts_text(counts: dict[str, int]) -> Text:
    """Firing alerts by severity as the header says them ("▲ 1 crit 2 warn"), or the number of quiet ones."""
    return firing_text(counts)


def group_texts(groups: list[Any], departments: dict[str, str], collapsed: set[str],
                name_cap: int = 24) -> list[GroupRow]:
    """The header rows of the engine's groups (``prophecis_tui.alerts.AlertGroup``), their parts aligned across
    groups by cell width (Chinese names are two cells a character): name (at most ``name_cap`` cells), tier,
    firing counts, the number of alerts, department, owner and on-call."""
    name_w = min(max((cell_len(clean_line(g.system.name, 200)) for g in groups if g.system is not None), default=8),
                 name_cap)
    name_w = max(name_w, len("untagged"))
    counts = [g.counts for g in groups]
    count_texts = [counts_text(c) for c in counts]
    count_w = max((t.cell_len for t in count_texts), default=0)
    depts = [departments.get(g.system.id, "") if g.system is not None else "" for g in groups]
    dept_w = min(max((cell_len(clean_line(d, 200)) for d in depts), default=0), 16)
    n_w = max((len(str(len(g.alerts))) for g in groups), default=1)
    out = []
    for g, c, ct, dept in zip(groups, counts, count_texts, depts):
        system, alerts = g.system, g.alerts
        uid = f"sys:{system.id}" if system is not None else "sys:"
        folded = uid in collapsed
        t = Text(no_wrap=True, end="")
        t.append("▸ " if folded else "▾ ", "dim")
        if system is None:
            t.append_text(_fit("untagged", name_w, "bold italic"))
            t.append("    ")
        else:
            t.append_text(_fit(system.name, name_w, "bold"))
            t.append(" ")
            t.append(tier_text(system.tier).ljust(3), "bold red" if system.tier == 1 else "bold")
        t.append(" ")
        t.append_text(ct)
        t.append(" " * (count_w - ct.cell_len))
        t.append(f"  {len(alerts):>{n_w}} alert{'s' if len(alerts) != 1 else ' '}", "dim")
        if system is None:
            t.append("  no business system claims these: add a CMDB rule to tag them", "dim italic")
        else:
            if dept_w:
                t.append("  ")
                t.append_text(_fit(dept, dept_w, ""))
            who = []
            if system.owner:
                who.append(f"owner {clean_line(system.owner, 40)}")
            if system.oncall:
                who.append(f"on call {clean_line(system.oncall, 60)}")
            if who:
                t.append("  " + "  ".join(who), "dim")
        out.append(GroupRow(system, t, c, len(alerts), folded))
    return out


# ------------------------------------------------------------------------------------------ cells
def _dim(r: AlertRow) -> bool:
    return r.alert.state == AlertState.RESOLVED


def severity_cell(r: Any) -> Text:
    a = r.alert
    return Text(SEVERITY_WORD.get(a.severity, "INFO"), "dim" if _dim(r) else SEVERITY_STYLE.get(a.severity, ""),
                no_wrap=True, end="")


def system_cell(r: Any) -> Text:
    s = r.system
    if s is None:
        return Text("untagged", "dim italic", no_wrap=True, end="")
    more = len(r.alert.systems) - 1
    t = Text(no_wrap=True, end="")
    t.append(tier_text(s.tier) + " " if s.tier is not None else "", "dim" if _dim(r) else
             ("bold red" if s.tier == 1 else "bold"))
    t.append(clean_line(s.name, 60), "dim" if _dim(r) else "")
    if more > 0:
        t.append(f" +{more}", "dim")
    return t


def alert_cell(r: Any) -> Text:
    a = r.alert
    style = "dim" if _dim(r) else ("bold " + SEVERITY_STYLE["critical"] if a.severity == "critical"
                                   and a.state == AlertState.FIRING else "bold" if a.state == AlertState.FIRING else "")
    t = Text(clean_line(a.name, 80), style, no_wrap=True, end="")
    if a.count > 1:
        t.append(f" ×{a.count}", "dim")
    return t


def target_cell(r: Any) -> Text:
    return cell_text(r.alert.target or "-", "dim" if _dim(r) else "")


def summary_cell(r: Any) -> Text:
    a = r.alert
    return cell_text(a.summary or a.description, "dim")


def state_cell(r: Any) -> Text:
    a = r.alert
    style = STATE_STYLE.get(a.state, "")
    if a.state == AlertState.FIRING:
        style = "bold red" if a.severity == "critical" else "bold yellow" if a.severity == "warning" else "bold"
    return Text(a.state.value, style, no_wrap=True, end="")


def _starts(r: Any) -> float:
    t = r.alert.starts
    return -(t.timestamp()) if t else 0.0


# ------------------------------------------------------------------------------------------ the table
class AlertTable(ResourceTable):
    """The resource table with full-width header rows for the business systems."""

    COMPONENT_CLASSES = ResourceTable.COMPONENT_CLASSES | {"alert-table--group"}
    DEFAULT_CSS = """
    AlertTable { overflow-x: hidden; }
    AlertTable > .alert-table--group { background: $boost; }
    """  # overflow-x: rows are cut to the width; the virtual width (the widget's) would bring a horizontal bar
    SUMMARY_FROM = 150  # the summary column shows from this width of the table (the detail pane has it too)

    @property
    def columns(self) -> list[Column]:
        wide = self.size.width >= self.SUMMARY_FROM or not self.size.width
        return [c for c in super().columns if wide or c.key != "summary"]

    def _row_segments(self, obj: Any) -> list[Segment]:
        if not isinstance(obj, GroupRow):
            return super()._row_segments(obj)
        widths = self._layout()
        hit = self._seg_cache.get(obj.uid)
        if hit is not None:
            return hit
        width = sum(w for _, w in widths) + max(len(widths) - 1, 0)
        text = obj.text.copy()
        text.truncate(width, overflow="ellipsis", pad=True)
        out = [seg for seg in text.render(self.app.console) if seg.text != "\n"]
        self._seg_cache[obj.uid] = out
        return out

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y - 1
        if y == 0 or not 0 <= index < len(self.rows) or not isinstance(self.rows[index], GroupRow):
            return super().render_line(y)
        width = self.scrollable_content_region.width or self.size.width
        style = self.rich_style + self.get_component_rich_style("alert-table--group")
        if index == self.cursor:
            style = style + self.get_component_rich_style("resource-table--cursor")
        segments = [Segment(s.text, style + s.style if s.style else style) for s in self._row_segments(self.rows[index])]
        return Strip(segments).crop_extend(0, width, style)


# ------------------------------------------------------------------------------------------ the screen
class AlertsScreen(ResourceScreen):
    TITLE_TEXT = "Alerts"
    NAME = "alerts"
    KIND = "Alert"
    DATA_KINDS = frozenset({"alerts", "silences", "health"})
    ACTION_KEYS = {"silence": "silence.create", "expire": "silence.expire", "ack": "alert.ack"}
    BINDINGS = [  # d, y, e, o as on every list, but out of the key bar: the alert keys come first at 80 columns
        Binding("d", "describe", "Describe", id="object.describe", show=False),
        Binding("y", "yaml", "YAML", id="object.yaml", show=False),
        Binding("e", "events", "Events", id="object.events", show=False),
        Binding("o", "sort", "Sort", id="object.sort", show=False),
        Binding("S", "silence", "Silence", id="alerts.silence"),
        Binding("E", "expire", "Expire", id="alerts.expire"),
        Binding("a", "ack", "Ack", id="alerts.ack"),
        Binding("l", "logs", "Logs", id="alerts.logs"),
        Binding("f", "severity", "Severity", id="alerts.severity"),
        Binding("t", "state_filter", "State", id="alerts.state"),
        Binding("i", "toggle_detail", "Detail", id="alerts.detail"),
        Binding("h", "history", "History", id="alerts.history"),
    ]
    DEFAULT_CSS = """
    AlertsScreen #body { height: 1fr; layout: vertical; }
    AlertsScreen.-wide #body { layout: horizontal; }
    AlertsScreen #body > AlertTable { height: 1fr; width: 1fr; }
    AlertsScreen #detail-pane { height: 9; border-top: solid $panel; }
    AlertsScreen.-wide #detail-pane { height: 1fr; width: 42%; max-width: 90; border-top: none;
                                      border-left: solid $panel; }
    AlertsScreen.-no-detail #detail-pane { display: none; }
    AlertsScreen #detail-pane > #detail { height: auto; max-height: 1000; border-top: none; padding: 0 1; }
    """

    def __init__(self, state: Any, namespace: str | None = None) -> None:
        super().__init__(state, namespace)
        self.table = AlertTable(self.columns(), id="table")
        self.severity_step = 0  # index into SEVERITY_CYCLE
        self.state_step = 0  # index into STATE_CYCLE
        self.collapsed: set[str] = set()  # group uids folded with enter
        self.context: AlertsContext | None = None
        # an alert's own moments from the timeline (the detail pane's history): key -> (alerts version when read,
        # time.monotonic() when read, (entries newest first, how many) or an error line); read in a worker
        self._moments: dict[str, tuple[int, float, Any]] = {}
        self._reading: set[str] = set()
        self._moments_timer: Any = None
        self._wanted: tuple[str, float] | None = None  # show_alert: the alert to select, until when to look

    # ------------------------------------------------------------------ columns
    def columns(self) -> list[Column]:
        return [
            Column("severity", "SEV", 4, severity_cell,
                   sort=lambda r: (SEVERITIES.index(r.alert.severity) if r.alert.severity in SEVERITIES else 9)),
            Column("system", "BUSINESS SYSTEM", 12, system_cell, flex=True, max_width=20,
                   sort=lambda r: (r.system is None, r.system.tier or 99 if r.system else 99,
                                   r.system.name if r.system else "")),
            Column("alert", "ALERT", 16, alert_cell, flex=True, max_width=26, sort=lambda r: r.alert.name.lower()),
            Column("target", "TARGET", 18, target_cell, flex=True, max_width=56, keep_end=True,
                   sort=lambda r: r.alert.target.lower()),
            Column("summary", "SUMMARY", 24, summary_cell, flex=True, narrow=False,
                   sort=lambda r: (r.alert.summary or r.alert.description).lower()),
            Column("age", "AGE", 4, lambda r: age(r.alert.starts), sort=_starts),
            Column("state", "STATE", 9, state_cell, sort=lambda r: ALERT_STATE_RANK.get(r.alert.state, 9)),
        ]

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield from self.app.compose_header()  # type: ignore[attr-defined]
        with Vertical():
            yield Static(id="summary")
            with Container(id="body"):
                yield self.table
                with VerticalScroll(id="detail-pane"):
                    yield Static("", id="detail")
        yield from self.app.compose_bars()  # type: ignore[attr-defined]
        yield KeyBar()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")
        if self.is_mounted:
            self.call_after_refresh(self.recompute)  # the header rows' name width follows the table's

    def action_toggle_detail(self) -> None:
        self.toggle_class("-no-detail")

    # ------------------------------------------------------------------ rows (worker side)
    @property
    def poller(self) -> Any:
        return getattr(self.app.session, "alerts", None)  # type: ignore[attr-defined]

    def loaded_kinds(self) -> tuple[str, ...]:
        return ()

    def completed(self) -> bool:
        return False

    def _loaded(self) -> bool:
        h = self.state.health().get("alerts")
        return self.state.kind_version("alerts") > 0 or (h is not None and h.state != Health.CONNECTING)

    def wanted(self, a: Alert) -> bool:
        """The quick filters (`f`, `t`) and the namespace the console is scoped to."""
        if self.scope and a.namespace != self.scope:
            return False
        sev = SEVERITY_CYCLE[self.severity_step][1]
        if sev and a.severity not in sev:
            return False
        states = STATE_CYCLE[self.state_step][1]
        return not states or a.state in states

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def _compute(self, scope: str | None, text: str, sort: str | None, reverse: bool) -> None:
        started = time.perf_counter()
        layout = self.rows_layout
        alerts = self.state.alerts()
        total = len(alerts)
        flt = engine().parse_filter(text) if text.strip() else None
        shown = [a for a in alerts if self.wanted(a) and (flt is None or flt.matches(a))]
        groups = engine().group(shown)
        departments = {s.id: s.department for s in self.state.business_systems()}
        narrow = 0 < self.table.size.width < 110  # 80 columns: shorter names leave room for the counts
        headers = group_texts(groups, departments, set(self.collapsed), name_cap=16 if narrow else 24)
        column = next((c for c in self.table.all_columns if c.key == sort), None)
        rows: list[Any] = []
        for head, g in zip(headers, groups):
            rows.append(head)
            if head.collapsed:
                continue
            these = [AlertRow(a, g.system, head.uid) for a in g.alerts]
            if column is not None:
                these.sort(key=sort_key(column), reverse=reverse)
            rows.extend(these)
        index = {r.uid: i for i, r in enumerate(rows)}
        context = AlertsContext({s.id: s for s in self.state.silences()}, departments, len(groups), len(shown),
                                engine().firing_counts(shown), flt.problems if flt is not None else ())
        self._cost = time.perf_counter() - started
        self.post_message(self.Rows(rows, total, context, self._loaded(), index, layout))

    # ------------------------------------------------------------------ summary
    def _summary(self) -> None:
        ctx = self.context
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(self.TITLE_TEXT, "bold")
        line.append(f" in {self.scope}" if self.scope else " in all namespaces")
        if ctx is not None and (self.loaded or self.total):
            shown = f"{ctx.shown}" if ctx.shown == self.total else f"{ctx.shown} of {self.total}"
            line.append(f"  {shown}", "bold")
            line.append(f" alert{'s' if self.total != 1 else ''} in {ctx.systems} group{'s' if ctx.systems != 1 else ''}"
                        "  ", "dim")
            line.append_text(firing_text(ctx.firing))
        elif self.poller is None and not self.total:
            line.append(f"  {NO_SOURCE}", "yellow")
        else:
            line.append("  … waiting for the first poll", "dim")
        sev, states = SEVERITY_CYCLE[self.severity_step][0], STATE_CYCLE[self.state_step][0]
        if sev:
            line.append(f"  sev {sev}", "bold yellow")
        if states:
            line.append(f"  state {states}", "bold yellow")
        if self.filter_text:
            line.append(f"  filter: {clean_line(self.filter_text, 40)}", "yellow")
            if ctx is not None and ctx.problems:
                line.append(f" ({clean_line('; '.join(ctx.problems), 80)})", "bold red")
        if self.table.sort_column:
            label = next((c.label for c in self.table.all_columns if c.key == self.table.sort_column), "")
            line.append(f"  sorted by {label}{' ↓' if self.table.sort_reverse else ''}", "dim")
        for key in ("alertmanager", "alerts"):
            h = self.state.health().get(key)
            if h is not None and h.state in (Health.STALE, Health.FAILING):
                line.append(f"  {key} {h.state.value}" + (f": {clean_line(h.reason, 60)}" if h.reason else ""),
                            "bold yellow" if h.state == Health.STALE else "bold red")
        update_if_changed(self.query_one("#summary", Static), line, layout=False)

    def rows_shown(self) -> None:
        """The first list: the cursor on the first alert rather than its system's header; the alert show_alert
        asked for once it is listed."""
        if not getattr(self, "_placed", False) and self.table.rows:
            self._placed = True
            if isinstance(self.table.current, GroupRow):
                first = next((r for r in self.table.rows if isinstance(r, AlertRow)), None)
                if first is not None:
                    self.table.select_uid(first.uid)
        if self._wanted is not None:
            key, until = self._wanted
            row = next((r for r in self.table.rows if isinstance(r, AlertRow) and r.alert.key == key), None)
            if row is not None:
                self._wanted = None
                self.table.select_uid(row.uid)
            elif time.monotonic() > until:
                self._wanted = None

    def show_alert(self, key: str) -> None:
        """Put the cursor on this alert (enter on the alert timeline) once it is listed; the quick filters, the `/`
        filter and a folded group that would hide it are cleared."""
        self._wanted = (key, time.monotonic() + 5.0)
        self._placed = True
        a = next((a for a in self.state.alerts() if a.key == key), None)
        if a is not None:
            flt = engine().parse_filter(self.filter_text) if self.filter_text.strip() else None
            if not self.wanted(a) or (flt is not None and not flt.matches(a)):
                self.severity_step = self.state_step = 0
                if self.filter_text:
                    self.filter_text = ""
                    try:
                        from textual.widgets import Input
                        bar = self.query_one("#filter-bar", Input)
                        bar.value = ""
                        bar.remove_class("-open")
                    except Exception:  # not composed yet
                        pass
                self.notify("filters cleared to show the alert", timeout=3)
            self.collapsed -= {f"sys:{s.id}" for s in a.systems} | ({"sys:"} if not a.systems else set())
        self.recompute()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """An action not for the row under the cursor (a system's header, a resolved alert, a silence on an
        event) is greyed rather than hidden: the key bar keeps still while the cursor moves."""
        allowed = super().check_action(action, parameters)
        if allowed is False and action in self.ACTION_KEYS and not self.app.read_only:  # type: ignore[attr-defined]
            return None
        return allowed

    # ------------------------------------------------------------------ filters
    def action_severity(self) -> None:
        self.severity_step = (self.severity_step + 1) % len(SEVERITY_CYCLE)
        self.recompute()

    def action_state_filter(self) -> None:
        self.state_step = (self.state_step + 1) % len(STATE_CYCLE)
        self.recompute()

    # ------------------------------------------------------------------ detail
    def _detail(self) -> None:
        obj = self.table.current
        if obj is None:
            text = Text("no alerts match" if (self.filter_text or self.severity_step or self.state_step) else
                        ("no alerts" if self.loaded else (NO_SOURCE if self.poller is None else "waiting for data…")),
                        "dim")
            update_if_changed(self.query_one("#detail", Static), text)
            return
        super()._detail()

    def detail(self, r: Any) -> Text:
        if isinstance(r, GroupRow):
            return self._group_detail(r)
        return alert_detail(r.alert, self.state, self.context or AlertsContext(), system=r.system,
                            moments=self.moments_of(r.alert))

    # ------------------------------------------------------------------ the alert's own moments (the timeline)
    def moments_of(self, a: Alert) -> Any:
        """The last moments of this alert from the alert timeline, as ``alert_history.moments_text`` takes them:
        what was read last (read again in a worker when the alerts changed since, at most once a second),
        "reading" the first time; None without a timeline (no section)."""
        from .alert_history import session_timeline
        timeline, _ = session_timeline(self.app.session)  # type: ignore[attr-defined]
        if timeline is None:
            return None
        version = self.state.kind_version("alerts")
        hit = self._moments.get(a.key)
        if a.key in self._reading or (hit is not None and hit[0] == version):
            return hit[2] if hit is not None else "reading"
        wait = hit[1] + MOMENTS_GAP - time.monotonic() if hit is not None else 0.0
        if wait > 0:  # read a moment ago: again when the gap is over (the pane asks again then)
            if self._moments_timer is None:
                self._moments_timer = self.set_timer(wait, self._moments_due)
            return hit[2]  # type: ignore[index]
        self._reading.add(a.key)
        self._read_moments(timeline, a.key, version)
        return hit[2] if hit is not None else "reading"

    def _moments_due(self) -> None:
        self._moments_timer = None
        if self.is_attached:
            self._detail()

    @work(thread=True, group="moments", exit_on_error=False)
    def _read_moments(self, timeline: Any, key: str, version: int) -> None:
        from .alert_history import read_moments
        try:
            result: Any = read_moments(timeline, key)
        except Exception as err:  # sqlite3.Error: one line in the pane
            result = f"cannot read the alert timeline: {err}"
        self.app.call_from_thread(self._got_moments, key, version, result)

    def _got_moments(self, key: str, version: int, result: Any) -> None:
        self._reading.discard(key)
        if len(self._moments) > 500:
            self._moments.clear()
        self._moments[key] = (version, time.monotonic(), result)
        r = self.table.current
        if self.is_attached and isinstance(r, AlertRow) and r.alert.key == key:
            self._detail()

    def action_history(self) -> None:
        """h: the alert timeline (escape comes back here; enter on a moment selects its alert here)."""
        from .alert_history import AlertHistoryScreen
        self.app.push_screen(AlertHistoryScreen(self.state, self.scope))

    def _group_detail(self, g: GroupRow) -> Text:
        t = Text()
        s = g.system
        if s is None:
            t.append("untagged", "bold italic")
            t.append(f"  {g.alerts} alert{'s' if g.alerts != 1 else ''} no business system claims\n", "dim")
            t.append("Add a CMDB rule (namespace, ns-<dept>-<app> segment, label, deployment or node) to tag them.",
                     "dim")
        else:
            t.append(clean_line(s.name, 80), "bold")
            t.append(f"  {clean_line(s.id, 40)}", "dim")
            if s.tier is not None:
                t.append(f"  tier {s.tier}", "bold red" if s.tier == 1 else "bold")
            dept = (self.context.departments if self.context else {}).get(s.id, "")
            if dept:
                t.append(f"  {clean_line(dept, 40)}", "")
            t.append("\n")
            if s.owner:
                t.append("owner ", "dim")
                t.append(clean_line(s.owner, 80) + "  ")
            if s.oncall:
                t.append("on call ", "dim")
                t.append(clean_line(s.oncall, 80), "bold")
            t.append(f"\n{g.alerts} alert{'s' if g.alerts != 1 else ''}  ", "")
            t.append_text(firing_text(g.counts))
        t.append("\n\nenter: " + ("unfold" if g.collapsed else "fold") + " this group", "dim")
        return t

    # ------------------------------------------------------------------ drill-down
    def current_alert(self) -> Alert | None:
        r = self.current()
        return r.alert if isinstance(r, AlertRow) else None

    def open(self, r: Any) -> None:
        if isinstance(r, GroupRow):
            self.collapsed ^= {r.uid}
            self.recompute()
            return
        if isinstance(r, AlertRow):
            self.app.open_alert_target(r.alert)  # type: ignore[attr-defined]

    def action_logs(self) -> None:
        a = self.current_alert()
        if a is None:
            return
        if a.target_kind in LOG_KINDS and a.namespace and a.target_name:
            self.app.show_logs(a.target_kind, a.namespace, a.target_name)  # type: ignore[attr-defined]
        else:
            what = a.target or "nothing"
            self.notify(f"{clean_line(a.name, 60)} is about {clean_line(what, 80)}: no pod, job or deployment "
                        f"to read logs of", severity="warning")

    def action_describe(self) -> None:
        r = self.current()
        if isinstance(r, AlertRow):
            from .modals import TextView
            text = alert_detail(r.alert, self.state, self.context or AlertsContext(), system=r.system, full=True,
                                moments=self._moments.get(r.alert.key, (0, 0.0, None))[2])
            self.app.push_screen(TextView(f"Alert  {r.alert.name}  {r.alert.key}", text.plain))

    def action_yaml(self) -> None:
        r = self.current()
        if isinstance(r, AlertRow):
            import yaml

            from .modals import TextView
            data = r.alert.model_dump(mode="json")
            self.app.push_screen(TextView(f"YAML  alert {r.alert.key}",
                                          yaml.safe_dump(data, sort_keys=False, allow_unicode=True)))

    def action_events(self) -> None:
        a = self.current_alert()
        if a is None:
            return
        obj = target_object(self.state, a)
        if obj is None:
            self.notify(f"{clean_line(a.target or a.name, 80)}: not an object in the cluster's lists", severity="warning")
            return
        kind = a.target_kind if a.target_kind != "Node" else "Node"
        self.app.show_events(obj, kind)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ actions
    def target(self, obj: Any) -> Target:
        if isinstance(obj, AlertRow):
            return Target("Alert", obj.alert.namespace, obj.alert.name)
        return Target("Alert", "", "")

    def action_id_for(self, method: str, obj: Any) -> str | None:
        if not isinstance(obj, AlertRow):
            return None
        a = obj.alert
        if a.state == AlertState.RESOLVED:
            return None
        if method == "silence" and a.source != "alertmanager":
            return None  # events and platform rules are not Alertmanager's to mute
        if method == "expire" and not a.silenced_by:
            return None
        return super().action_id_for(method, obj)

    @work(thread=True, group="permissions", exit_on_error=False)
    def _ask_permissions(self, wanted: list[tuple[str, str]], target: Target) -> None:
        actions = self.app.session.actions  # type: ignore[attr-defined]
        out: dict[tuple[str, str], Permission] = {}
        for aid, ns in wanted:  # available: an action this session lacks (no Alertmanager) is greyed with why
            out[(aid, ns)] = actions.available(aid, Target(target.kind, ns, target.name))
        self.post_message(self.Permissions(out))

    def _spec(self, action: str) -> Any:
        actions = getattr(self.app.session, "actions", None)  # type: ignore[attr-defined]
        try:
            return actions.spec(action) if actions is not None else None
        except KeyError:
            return None

    def action_silence(self) -> None:
        a = self.current_alert()
        if a is None:
            return
        from .silence_form import SilenceForm
        spec = self._spec("silence.create")
        app = self.app
        hours = float(getattr(getattr(app, "alerts_settings", None), "silence_hours", 2) or 2)
        form = SilenceForm(a, author=app.session.identity.user, hours=hours,  # type: ignore[attr-defined]
                           validate=spec.validate if spec is not None else None, state=self.state)

        def chosen(params: dict | None) -> None:
            if params is not None:
                app.perform("silence.create", Target("Alert", a.namespace, a.name), params)  # type: ignore[attr-defined]
        app.push_screen(form, chosen)

    def action_expire(self) -> None:
        a = self.current_alert()
        if a is None or not a.silenced_by:
            return
        silences = self.context.silences if self.context is not None else {}
        if len(a.silenced_by) == 1:
            self._expire(a, a.silenced_by[0])
            return
        from .pickers import Picker
        options = [(sid, silence_line(sid, silences.get(sid))) for sid in a.silenced_by]
        self.app.push_screen(Picker("Expire which silence", options),
                             lambda sid: self._expire(a, sid) if sid else None)

    def _expire(self, a: Alert, sid: str) -> None:
        silences = self.context.silences if self.context is not None else {}
        s = silences.get(sid)
        origin = (s.origin if s is not None and s.origin else (a.origins[0] if a.origins else ""))
        self.app.perform("silence.expire", Target("Silence", a.namespace, sid),  # type: ignore[attr-defined]
                         {"silence_id": sid, "alertmanager": origin})

    def action_ack(self) -> None:
        a = self.current_alert()
        if a is None:
            return
        from .modals import AskValue
        spec = self._spec("alert.ack")
        target = Target("Alert", a.namespace, a.key)

        def check(value: str) -> str:
            if not value.strip():
                return "a note is required: who is on it, what is done, a ticket"
            why = spec.validate(target, {"note": value.strip()}) if spec is not None and spec.validate else ""
            return why or ""

        def answered(note: str | None) -> None:
            if note:  # the alert itself too: the timeline records what it was (name, systems) with the ack
                self.app.perform("alert.ack", target, {"note": note, "alert": a})  # type: ignore[attr-defined]
        prompt = f"{clean_line(a.name, 60)}  {clean_line(a.target, 80)}\n"
        if a.ack_by:
            prompt += f"acked by {clean_line(a.ack_by, 40)}: {clean_line(a.ack_note, 120)}\n"
        prompt += "Note (required): who is on it, what is being done, a ticket reference"
        self.app.push_screen(AskValue(f"Acknowledge {clean_line(a.name, 60)}", prompt, a.ack_note, check=check),
                             answered)


# ------------------------------------------------------------------------------------------ the detail's parts
def silence_line(sid: str, s: Silence | None) -> str:
    if s is None:
        return f"silence {sid} (not in the last poll)"
    ends = s.ends.astimezone().strftime("%Y-%m-%d %H:%M") if s.ends else "?"
    return (f"silence {sid[:8]} by {clean_line(s.created_by, 40)} until {ends}: {clean_line(s.comment, 120)}"
            + (f" (on {clean_line(s.origin, 40)})" if s.origin else ""))


def _when(t: Any) -> str:
    if t is None:
        return "?"
    return f"{t.astimezone().strftime('%Y-%m-%d %H:%M')} ({age(t)} ago)"


def target_object(state: Any, a: Alert) -> Any:
    """The object the alert is about, from the state (None: not listed, or no object)."""
    ns, name, kind = a.namespace, a.target_name, a.target_kind
    if not name:
        return None
    if kind == "Pod":
        return next((p for p in state.pods(ns) if p.name == name), None)
    if kind == "Notebook":
        return next((n for n in state.notebooks(ns) if n.name == name), None)
    if kind in JOB_KINDS:
        return next((j for j in state.training_jobs(ns) if j.name == name), None)
    if kind == "SeldonDeployment":
        return next((d for d in state.deployments(ns) if d.name == name), None)
    if kind == "Node":
        return next((n for n in state.nodes() if n.name == name), None)
    return None


def affected(state: Any, a: Alert) -> tuple[list[str], int]:
    """The target and the pods behind it, one line each (at most AFFECTED_MAX), and how many pods in all."""
    lines: list[str] = []
    obj = target_object(state, a)
    ns, name, kind = a.namespace, a.target_name, a.target_kind
    if obj is not None and kind != "Pod":
        status = getattr(obj, "state", None) or getattr(obj, "status", "")
        status = getattr(status, "value", status)
        if kind == "Node":
            status = "Ready" if getattr(obj, "ready", False) else "NotReady"
        lines.append(f"{kind} {ns + '/' if ns else ''}{name}  {status}")
    elif kind and name and kind != "Pod":
        lines.append(f"{kind} {ns + '/' if ns else ''}{name}  (not in the cluster's lists)")
    pods: list[Any] = []
    if kind == "Pod":
        pods = [p for p in state.pods(ns) if p.name == name]
        if not pods and name:
            lines.append(f"Pod {ns}/{name}  (gone, or not visible to you)")
    elif kind == "Notebook":
        pods = [p for p in state.pods(ns) if owned_by(p, "notebook", name)]
    elif kind in JOB_KINDS:
        pods = [p for p in state.pods(ns) if owned_by(p, "job", name)]
    elif kind == "SeldonDeployment":
        pods = [p for p in state.pods(ns) if owned_by(p, "deployment", name)]
    elif a.node or kind == "Node":
        node = a.node or name
        pods = [p for p in state.pods() if p.node == node and p.phase not in ("Succeeded", "Failed")]
    elif kind == "Namespace" and ns:
        pods = state.pods(ns)
    pods = sorted(pods, key=lambda p: (not p.gpus, p.namespace, p.name))  # on a node: the GPU holders first
    for p in pods[:AFFECTED_MAX]:
        extra = f", {p.restarts} restarts" if p.restarts else ""
        where = f" on {p.node}" if p.node and kind != "Node" and not a.node else ""
        name = p.name if p.namespace == ns else f"{p.namespace}/{p.name}"
        lines.append(f"pod {name}  {p.status}{extra}{where}")
    return lines, len(pods)


def alert_detail(a: Alert, state: Any, ctx: AlertsContext, *, system: SystemTag | None = None,
                 full: bool = False, moments: Any = None) -> Text:
    """Everything about one alert, sanitised: what and where, text, runbook, source, silence, ack, business
    systems with the CMDB rule, owner and on-call, the affected workloads, its last moments from the alert
    timeline (``moments``: see ``alert_history.moments_text``; None: no such section), labels and other
    annotations."""
    t = Text()
    sev_style = SEVERITY_STYLE.get(a.severity, "")
    t.append(clean_line(a.name, 100), f"bold {sev_style}")
    t.append(f"  {a.severity}  ", sev_style)
    t.append(a.state.value, STATE_STYLE.get(a.state, ""))
    if a.count > 1:
        t.append(f"  ×{a.count}", "dim")
    t.append("\n")
    if a.target:
        t.append(clean_line(a.target, 200), "bold")
        if a.node and a.target_kind != "Node":
            t.append(f"  on node {clean_line(a.node, 60)}", "dim")
        t.append("\n")
    t.append(f"since {_when(a.starts)}", "dim")
    if a.state == AlertState.RESOLVED and a.ends is not None:
        t.append(f"  resolved {_when(a.ends)}", "dim")
    t.append("\n")
    if a.summary:
        t.append("\n" + clean_line(a.summary, 0 if full else 400) + "\n")
    if a.description and a.description != a.summary:
        t.append(clean(a.description, keep_newlines=True) if full else clean_line(a.description, 600), "")
        t.append("\n")
    if a.runbook:
        t.append("runbook ", "dim")
        t.append(clean_line(a.runbook, 300), "underline")
        t.append("\n")
    # where it came from
    t.append("\nsource ", "dim")
    t.append(clean_line(a.source, 40))
    if a.origins:
        t.append(f" ({', '.join(clean_line(o, 40) for o in a.origins)})", "dim")
    if a.receivers:
        t.append(f"  receivers {', '.join(clean_line(r, 40) for r in a.receivers)}", "dim")
    if a.generator_url and full:
        t.append(f"\ngenerator {clean_line(a.generator_url, 300)}", "dim")
    t.append("\n")
    if a.related:  # the same condition as other sources saw it, folded into this alert
        t.append("also ", "dim")
        t.append("; ".join(clean_line(r, 80) for r in a.related) + "\n", "dim")
    for sid in a.silenced_by:
        t.append("silenced ", "magenta")
        t.append(silence_line(sid, ctx.silences.get(sid)) + "\n", "")
    if a.inhibited_by:
        t.append("inhibited ", "dim magenta")
        t.append(f"by {', '.join(clean_line(f, 40) for f in a.inhibited_by)}\n", "dim")
    if a.ack_by:
        t.append("acked ", "cyan")
        t.append(f"by {clean_line(a.ack_by, 40)}" + (f" {_when(a.ack_at)}" if a.ack_at else ""))
        if a.ack_note:
            t.append(f": {clean_line(a.ack_note, 300)}")
        t.append("\n")
    # the business systems and why
    t.append("\n")
    if not a.systems:
        t.append("untagged", "italic")
        t.append(": no CMDB business system claims it\n", "dim")
    for s in a.systems:
        t.append(clean_line(s.name, 60), "bold" if system is None or s.id == system.id else "")
        if s.tier is not None:
            t.append(f" T{s.tier}", "bold red" if s.tier == 1 else "bold")
        dept = ctx.departments.get(s.id, "")
        if dept:
            t.append(f"  {clean_line(dept, 40)}", "")
        rule = s.rule or s.kind
        if rule:
            t.append(f"  by {clean_line(rule, 80)}", "dim")
        t.append("\n")
        if s.owner or s.oncall:
            t.append("  ")
            if s.owner:
                t.append(f"owner {clean_line(s.owner, 60)}  ", "dim")
            if s.oncall:
                t.append("on call ", "dim")
                t.append(clean_line(s.oncall, 80))
            t.append("\n")
    # the workloads it affects
    lines, n = affected(state, a)
    if lines:
        t.append("\naffected", "bold")
        if n > AFFECTED_MAX:
            t.append(f"  ({n} pods, the first {AFFECTED_MAX})", "dim")
        t.append("\n")
        for line in lines:
            t.append("  " + clean_line(line, 200) + "\n")
    keys = []
    if a.target_kind in LOG_KINDS:
        keys.append("enter: its screen   l: its logs")
    elif a.target_kind in ("Node", "Namespace"):
        keys.append("enter: its screen")
    if keys:
        t.append("  ".join(keys) + "\n", "dim")
    if moments is not None:  # what happened to it: fired, acked, silenced, resolved (the alert timeline)
        from .alert_history import moments_text
        history = moments_text(moments)
        if history is not None:
            t.append("\n")
            t.append_text(history)
    # labels and the annotations not shown above
    t.append("\nlabels\n", "bold")
    for k, v in sorted(a.labels.items()):
        t.append(f"  {clean_line(k, 80)}", "dim")
        t.append(f"={clean_line(v, 0 if full else 200)}\n")
    shown = {"summary", "description", "runbook_url", "runbook", "runbookURL", "message"}
    extra = {k: v for k, v in a.annotations.items() if k not in shown}
    if extra:
        t.append("annotations\n", "bold")
        for k, v in sorted(extra.items()):
            t.append(f"  {clean_line(k, 80)}", "dim")
            t.append(f"={clean_line(v, 0 if full else 300)}\n")
    t.append(f"\nkey {clean_line(a.key, 200)}", "dim")
    if a.fingerprint:
        t.append(f"  fingerprint {clean_line(a.fingerprint, 40)}", "dim")
    return t


# ------------------------------------------------------------------------------------------ jumps
class NodePodsScreen(PodsScreen):
    """The pods on one node (enter on a node alert when the node has no GPUs to show on :gpu)."""

    def __init__(self, state: Any, node: str) -> None:
        self.node = node
        super().__init__(state, None, title=f"Pods on node {clean_line(node, 60)}")

    def objects(self) -> list[Any]:
        return [p for p in super().objects() if p.node == self.node]


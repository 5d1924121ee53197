"""Home: every tenant namespace at a glance, trouble first, under the cluster's GPUs.

Above the namespace table: the GPUs allocated against the nodes' capacity; the metrics source's
totals (average utilisation, busy / idle / hot, with the `:gpu` screen's own words for them); the
hottest GPUs with who holds them; and the tenants nearest to or over their GPU quota (the `:quota`
screen's arithmetic and order). Side by side on a wide terminal, a shorter stacked form at 80
columns. With an alerts source, the top alerts by business system (tier first: each system's worst
alert and its firing counts, as `:alerts` groups them); without one, no alerts panel at all.
Everything is worked out in the screen's worker from the state, never on the UI thread.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from prophecis_tui.idle import DEFAULT_THRESHOLD
from prophecis_tui.domain import DeploymentState, GpuSample, Health, JobState, NamespaceSummary, NotebookState
from prophecis_tui.quota import DEFAULT_MAX_ANNOTATION, NamespacePressure, nearest_limits, pressures
from prophecis_tui.state import State
from widgets.gpu_bar import gpu_bar
from widgets.gpu_heatmap import HOT_C, util_style
from widgets.header import firing_text, health_text
from widgets.resource_table import cell_text
from widgets.key_bar import KeyBar
from widgets.table_fit import fit_columns

from .gpu_rows import num, tally, util_bar
from .quota import gpu_cell, pressure_cell, pressure_style
from .refresh import PacedRefresh
from .resources import age, update_if_changed

LOADED_KINDS = ("notebooks", "trainingjobs", "deployments", "pods", "quotas")

COLUMNS = [("namespace", "NAMESPACE"), ("notebooks", "NOTEBOOKS r/s/f"), ("jobs", "JOBS r/p/f/ok"),
           ("deploy", "DEPLOY ok/f"), ("gpu", "GPU used/quota"), ("pending", "PENDING")]
NARROW = {"notebooks": "NB r/s/f", "deploy": "DEP ok/f", "gpu": "GPU/quota", "pending": "PEND"}
WIDE = 110  # from this many columns: long labels and bars
SIDE_BY_SIDE = 160  # from this many columns: hottest GPUs and quota pressure side by side, 5 rows each
TOP_WIDE, TOP_NARROW = 5, 3  # hottest GPUs and quota rows shown side by side / stacked (80 columns)
ALERTS_WIDE, ALERTS_NARROW = 5, 2  # business systems in the alerts panel (from SIDE_BY_SIDE columns / below)
METRICS_KEY = "metrics"  # the metrics poller's health key (prophecis_tui.feeds.MetricsPoller.KEY)
NO_SOURCE = "no GPU metrics source: set [metrics] in the config (prometheus_url, dcgm_url, or source = \"nvml\")"


# ------------------------------------------------------------------------------------------ GPU panel (worker side)
@dataclass(frozen=True)
class GpuTotals:
    """What the metrics source says of every GPU it sees, counted with the :gpu screen's words."""

    gpus: int = 0
    util_avg: float | None = None  # over the GPUs that report a utilisation
    busy: int = 0
    idle: int = 0  # held by a pod, under the idle threshold
    hot: int = 0
    held: int = 0


@dataclass(frozen=True)
class GpuPanel:
    """The overview's GPU panel, worked out in the worker: totals, the hottest GPUs, the quota pressure."""

    totals: GpuTotals = field(default_factory=GpuTotals)
    source: str = ""  # the source that gave these numbers (dcgm, prometheus, nvml)
    hottest: tuple[GpuSample, ...] = ()
    quota: tuple[NamespacePressure, ...] = ()  # nearest to or over their limit, highest pressure first
    quota_rows: int = 0  # namespaces with a quota row (what "of N" counts)
    bursting: int = 0
    near_max: int = 0
    over_max: int = 0


def gpu_totals(gpus: Iterable[GpuSample], idle_threshold: float = DEFAULT_THRESHOLD) -> GpuTotals:
    gpus = list(gpus)
    n = tally(gpus, idle_threshold)
    utils = [g.util for g in gpus if g.util is not None]
    return GpuTotals(len(gpus), sum(utils) / len(utils) if utils else None, n["busy"], n["idle"], n["hot"],
                     n["held"])


def hottest(gpus: Iterable[GpuSample], n: int) -> list[GpuSample]:
    """The ``n`` hottest GPUs: by temperature, ties by utilisation (then node and index, for a stable order)."""
    return heapq.nsmallest(n, (g for g in gpus if g.temp_c is not None),
                           key=lambda g: (-(g.temp_c or 0.0), -(g.util or 0.0), g.node, g.gpu))


def gpu_panel(state: State, max_annotation: str, n: int = TOP_WIDE,
              idle_threshold: float = DEFAULT_THRESHOLD) -> GpuPanel:
    """O(GPUs + pods + quotas): for the worker."""
    gpus = state.gpus()
    rows = pressures(state, max_annotation=max_annotation, with_blocked=False) if state.has_data("quotas") else []
    with_quota = [r for r in rows if r.has_quota]
    return GpuPanel(gpu_totals(gpus, idle_threshold), state.gpu_source, tuple(hottest(gpus, n)), tuple(nearest_limits(rows, n)),
                    len(with_quota), sum(1 for r in with_quota if r.bursting), sum(1 for r in with_quota if r.near_max),
                    sum(1 for r in with_quota if r.over_max))


def _counts(parts: list[tuple[int, str]]) -> Text:
    t = Text(no_wrap=True)
    for i, (n, style) in enumerate(parts):
        if i:
            t.append("/", "dim")
        t.append(str(n), style if n else "dim")
    return t


LOADING = Text("…", "dim")


def row_cells(s: NamespaceSummary, bar_width: int, loaded: frozenset[str] | None = None) -> list:
    """The cells of one namespace; a kind not listed yet shows … rather than a misleading 0."""
    loaded = frozenset(LOADED_KINDS) if loaded is None else loaded
    nb, jb, dp = s.notebooks, s.jobs, s.deployments
    cells = [
        cell_text(s.namespace, "bold" if s.trouble else ""),
        _counts([(nb[NotebookState.RUNNING], "green"), (nb[NotebookState.STOPPED], ""),
                 (nb[NotebookState.FAILING], "bold red")]),
        _counts([(jb[JobState.RUNNING] + jb[JobState.RESTARTING], "green"), (jb[JobState.PENDING], "yellow"),
                 (jb[JobState.FAILED], "bold red"), (jb[JobState.SUCCEEDED], "")]),
        _counts([(dp[DeploymentState.AVAILABLE], "green"), (dp[DeploymentState.FAILED], "bold red")]),
        gpu_bar(s.gpu_used, s.gpu_quota, bar_width),
        Text(str(s.pending_pods), "yellow" if s.pending_pods else "dim"),
    ]
    needs = [None, {"notebooks"}, {"trainingjobs"}, {"deployments"}, {"pods", "quotas"}, {"pods"}]
    return [c if need is None or need <= loaded else LOADING for c, need in zip(cells, needs)]


def matches(s: NamespaceSummary, text: str) -> bool:
    return not text or text.lower() in s.namespace.lower()


# ------------------------------------------------------------------------------------------ GPU panel (what it says)
def _pad(t: Text, width: int) -> Text:
    t.pad_right(max(0, width - t.cell_len))
    return t


def totals_text(panel: GpuPanel | None, *, has_source: bool, note: str, health: Any, name: str,
                wide: bool, hints: bool = False) -> Text:
    """The one line of GPU numbers: the source's totals and whether they are fresh; with no source, why
    not and how to configure one (dim); failing, why. ``hints``: end with the commands to the details
    (when the panel below has no titles to carry them)."""
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    if not has_source:
        t.append(clean_note(note) or NO_SOURCE, "dim")
        return t
    state = getattr(health, "state", Health.CONNECTING)
    totals = panel.totals if panel is not None else GpuTotals()
    source = (panel.source if panel is not None else "") or name
    if not totals.gpus:
        if state == Health.FAILING:
            t.append_text(health_text(health))
        elif state == Health.LIVE and panel is not None:
            t.append(f"GPU metrics from {source}: no GPUs reported", "dim")
        else:
            t.append(f"GPU numbers: waiting for {source or 'the metrics source'}…", "dim")
        t.append("  :gpu", "dim")
        return t
    if state in (Health.STALE, Health.FAILING):  # the last numbers, marked
        t.append_text(health_text(health.model_copy(update={"reason": ""})))
        t.append("  ")
    t.append("GPU util ")
    if wide:
        t.append("avg ")
    avg = totals.util_avg
    t.append("?" if avg is None else f"{avg:.0f}%", f"bold {util_style(avg)}" if avg is not None else "dim")
    t.append(f"  held {totals.held}  ")
    t.append(f"busy {totals.busy}  ", "green" if totals.busy else "dim")
    t.append(f"idle {totals.idle}  ", "yellow" if totals.idle else "dim")  # held, under 5% (the :gpu words)
    t.append(f"hot {totals.hot}", "bold red" if totals.hot else "dim")
    if wide:
        t.append(f" (≥{HOT_C:.0f}°C)", "dim")
    t.append(f"  of {totals.gpus}" + (" GPUs" if wide else ""), "dim")
    if source:
        t.append(f" from {source}", "dim")
    if state in (Health.STALE, Health.FAILING) and getattr(health, "reason", ""):
        t.append_text(cell_text(f": {health.reason}", "dim"))
    if hints:
        t.append("  :gpu :quota", "dim")
    return t


@dataclass(frozen=True)
class AlertsPanel:
    """The overview's alerts panel, worked out in the worker: the first business systems of ``:alerts``'s
    grouping over the alerts still burning (``prophecis_tui.alerts.top_by_system``), the header's counts."""

    groups: tuple = ()  # AlertGroup: system (None: untagged), alerts (worst first), counts (firing by severity)
    firing: dict = field(default_factory=dict)  # every firing alert by severity
    total: int = 0  # alerts in the state (any state)


def alerts_panel(alerts: list, n: int = ALERTS_WIDE) -> AlertsPanel:
    from prophecis_tui.alerts import firing_counts, top_by_system
    return AlertsPanel(tuple(top_by_system(alerts, n)), firing_counts(alerts), len(alerts))


def alerts_text(panel: AlertsPanel | None, n: int, wide: bool) -> Text:
    """A title with the firing counts, then per business system (tier first): name, tier, its firing counts, its
    worst alert, what that is about and how old; names padded by cell width (Chinese characters are two)."""
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    t.append("Alerts by business system" if wide else "Alerts", "bold")
    t.append("  ")
    if panel is None:
        t.append("… waiting for the first poll", "dim")
        return t
    t.append_text(firing_text(panel.firing))
    t.append("   :alerts every alert" if wide else "  :alerts", "dim")
    groups = panel.groups[:n]
    if not groups:
        t.append("\n")
        t.append("nothing firing or acknowledged" if panel.total else "no alerts", "green")
        return t
    names = [cell_text(g.system.name if g.system is not None else "untagged",
                       "bold" if g.system is not None else "dim italic") for g in groups]
    width = min(max(x.cell_len for x in names), 20 if wide else 14)
    counts = []
    for g in groups:
        c = firing_text(g.counts) if sum(g.counts.values()) else Text(f"{len(g.alerts)} acked", "cyan")
        counts.append(c)
    count_w = max(c.cell_len for c in counts)
    alert_w = min(max(cell_len(cell_text(g.alerts[0].name, "", 60).plain) for g in groups), 28)
    for g, name, c in zip(groups, names, counts):
        t.append("\n")
        name.truncate(width, overflow="ellipsis", pad=True)
        t.append_text(name)
        tier = g.system.tier if g.system is not None else None
        t.append(f" {'T' + str(tier) if tier is not None else '':<3}", "bold red" if tier == 1 else "bold")
        t.append(" ")
        t.append_text(c)
        t.append(" " * (count_w - c.cell_len))
        worst = g.alerts[0]
        t.append("  ")
        sev = {"critical": "bold red", "warning": "yellow"}.get(worst.severity, "cyan")
        label = cell_text(worst.name, sev, 60)
        label.truncate(alert_w, overflow="ellipsis", pad=bool(worst.target))
        t.append_text(label)
        if worst.target:
            t.append("  ")
            t.append_text(cell_text(worst.target, "", 80))
        if wide:
            t.append(f"  {age(worst.starts)}", "dim")
        if len(g.alerts) > 1:
            t.append(f"  +{len(g.alerts) - 1}", "dim")
    return t


def clean_note(note: str) -> str:
    return cell_text(note, "", 400).plain if note else ""


def hottest_text(panel: GpuPanel, n: int, wide: bool) -> Text:
    """The ``n`` hottest GPUs, one a line. ``wide``: the side-by-side form (a title with the hint, utilisation
    bars, power); else the stacked 80-column form (a "Hottest" gutter, the numbers only)."""
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    gpus = panel.hottest[:n]
    if wide:
        t.append("Hottest GPUs", "bold")
        t.append("  temp, util, power, held by", "dim")
        t.append("   :gpu every GPU", "dim")
    if not gpus:
        if wide:
            t.append("\nno GPU reports a temperature", "dim")
        return t
    keys = [cell_text(g.key) for g in gpus]
    width = max(k.cell_len for k in keys)
    for i, (g, key) in enumerate(zip(gpus, keys)):
        if wide or i:
            t.append("\n")
        if not wide:
            t.append("Hottest " if i == 0 else " " * 8, "bold")
        t.append_text(_pad(key, width))
        t.append(" ")
        hot = (g.temp_c or 0) >= HOT_C
        temp = num(g.temp_c, "°C" if wide else "°", "bold red" if hot else "")
        t.append_text(_pad(temp, 5 if wide else 4))
        if wide:
            t.append(" ")
            t.append_text(util_bar(g.util))
            t.append(" ")
            power = num(g.power_w, "W")
            t.append(" " * max(0, 5 - power.cell_len))
            t.append_text(power)
        else:
            t.append("  ?" if g.util is None else f"{g.util:3.0f}%", util_style(g.util) if g.util is not None else "dim")
        t.append("  " if wide else " ")
        t.append_text(cell_text(f"{g.namespace}/{g.pod}") if g.pod else Text("free", "dim"))
    return t


def quota_text(panel: GpuPanel, n: int, wide: bool, listed: bool) -> Text:
    """The ``n`` tenants nearest to or over their GPU limit, as :quota shows them (used/base/max, bar, pressure),
    and what makes them so. ``listed``: the quotas and pods are listed (before that, no claim is made)."""
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    rows = panel.quota[:n]
    if wide:
        t.append("Quota pressure", "bold")
        t.append("  GPUs used/base/max", "dim")
        if listed and panel.quota_rows:
            t.append("  ")
            t.append(f"over max {panel.over_max}  ", "bold red" if panel.over_max else "dim")
            t.append(f"near max {panel.near_max}  ", "red" if panel.near_max else "dim")
            t.append(f"bursting {panel.bursting}", "yellow" if panel.bursting else "dim")
            t.append(f" of {panel.quota_rows}", "dim")
        t.append("   :quota every tenant", "dim")
        t.append("\n")
    else:
        t.append("Quota   ", "bold")
    if not listed:
        t.append("… (listing quotas)", "dim")
        return t
    if not rows:
        t.append("no tenant uses GPUs against a quota", "dim")
        return t
    width = max(cell_text(p.namespace).cell_len for p in rows)
    for i, p in enumerate(rows):
        if i:
            t.append("\n")
            if not wide:
                t.append(" " * 8)
        t.append_text(_pad(cell_text(p.namespace, "bold" if (p.over_max or p.near_max) else ""), width))
        t.append(" ")
        t.append_text(gpu_cell(p, 10 if wide else 6))
        pressure = pressure_cell(p)
        t.append(" " * max(1, 6 - pressure.cell_len))
        t.append_text(pressure)
        word = "over max" if p.over_max else "near max" if p.near_max else "bursting" if p.bursting else ""
        if word:
            t.append(f"  {word}", pressure_style(p))
    return t


class OverviewScreen(PacedRefresh, Screen):
    """Per namespace: notebooks, jobs, deployments, GPUs against quota. `enter` scopes the console."""

    BINDINGS = [
        Binding("enter", "scope", "Scope to namespace", id="overview.scope"),
        Binding("a", "all", "All namespaces", id="overview.all", show=False),
    ]
    DEFAULT_CSS = """
    OverviewScreen #cluster { height: 1; padding: 0 1; }
    OverviewScreen > Vertical { height: 1fr; }
    OverviewScreen DataTable { height: 1fr; }
    OverviewScreen #empty { height: 1; padding: 0 1; color: $text-muted; }
    OverviewScreen #gpu-totals { height: 1; padding: 0 1; }
    OverviewScreen #gpu-panel { height: auto; layout: horizontal; padding: 0 1; margin-bottom: 1; }
    OverviewScreen #gpu-panel.-narrow { layout: vertical; margin-bottom: 0; }
    OverviewScreen #gpu-panel > Static { height: auto; width: 1fr; }
    OverviewScreen #gpu-totals, OverviewScreen #gpu-panel > Static { text-wrap: nowrap; text-overflow: ellipsis; }
    OverviewScreen #gpu-hot { margin-right: 2; }
    OverviewScreen #gpu-panel.-narrow #gpu-hot { margin-right: 0; }
    OverviewScreen #gpu-hot.-empty { display: none; }
    OverviewScreen #alerts-panel { height: auto; padding: 0 1; margin-bottom: 1; text-wrap: nowrap;
                                   text-overflow: ellipsis; display: none; }
    OverviewScreen #alerts-panel.-on { display: block; }
    """

    class Rows(Message):
        def __init__(self, rows: list[NamespaceSummary], gpus: tuple[int, int], counts: tuple[int, int],
                     whole: bool, loaded: frozenset[str], panel: GpuPanel | None = None,
                     alerts: AlertsPanel | None = None) -> None:
            super().__init__()
            self.rows, self.gpus, self.counts, self.whole, self.loaded = rows, gpus, counts, whole, loaded
            self.panel, self.alerts = panel, alerts

    def __init__(self, state: State) -> None:
        super().__init__(name="overview")
        self.state = state
        self.filter_text = ""
        self.scope: str | None = None
        self._rows: list[NamespaceSummary] = []
        self._loaded: frozenset[str] = frozenset()
        self._panel: GpuPanel | None = None
        self._alerts: AlertsPanel | None = None
        self._last: OverviewScreen.Rows | None = None  # the worker's last answer
        self._metrics_seen: tuple | None = None  # the metrics health last shown (state, since, reason)
        self.init_refresh()

    def compose(self) -> ComposeResult:
        yield from self.app.compose_header()  # type: ignore[attr-defined]
        with Vertical():
            yield Static(id="cluster")
            yield Static(id="gpu-totals")
            with Container(id="gpu-panel"):
                yield Static(id="gpu-hot")
                yield Static(id="gpu-quota")
            yield Static(id="alerts-panel")
            yield DataTable(id="overview-table", cursor_type="row", zebra_stripes=False)
            yield Static("", id="empty")
        yield from self.app.compose_bars()  # type: ignore[attr-defined]
        yield KeyBar()

    def on_mount(self) -> None:
        self._wide: bool | None = None
        self._columns()
        self.app.prefer_kinds(())  # type: ignore[attr-defined]
        self._show_gpu()
        self._show_alerts()
        if self._metrics() is not None:  # the app's tick passes data changes, not health ones: watch the source
            self.set_interval(1.0, self._metrics_health_changed)
        self.recompute()

    def _columns(self) -> None:
        """Long labels and GPU bars on wide terminals, compact ones at 80 columns."""
        wide = self.size.width >= WIDE
        if wide == self._wide:
            return
        self._wide = wide
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for key, label in COLUMNS:
            table.add_column(label if wide else NARROW.get(key, label), key=key)
        if self._rows:
            self._fill()

    def on_resize(self) -> None:
        self._columns()
        self._show_cluster()
        self._show_gpu()
        self._show_alerts()

    def on_screen_resume(self) -> None:
        self.app.prefer_kinds(())  # type: ignore[attr-defined]
        self.recompute()

    # ------------------------------------------------------------------ data (paced: screens/refresh.py)
    COMPUTE_GROUP = "overview"

    def start_compute(self) -> None:
        self._compute(getattr(self.app, "quota_max_annotation", "") or DEFAULT_MAX_ANNOTATION)

    def listing(self) -> bool:
        return "pods" not in self._loaded

    def completed(self) -> bool:
        return any(k not in self._loaded and self.state.has_data(k) for k in LOADED_KINDS)

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False)
    def _compute(self, max_annotation: str = DEFAULT_MAX_ANNOTATION) -> None:
        started = time.perf_counter()
        rows = self.state.summaries()
        gpus = self.state.cluster_gpus()
        nodes = self.state.nodes()
        counts = (len(nodes), sum(1 for n in nodes if n.ready))
        loaded = frozenset(k for k in LOADED_KINDS if self.state.has_data(k))
        metrics = self._metrics()
        panel = gpu_panel(self.state, max_annotation,
                          idle_threshold=metrics.idle.threshold if metrics is not None else DEFAULT_THRESHOLD)
        alerts = alerts_panel(self.state.alerts()) if self._alerts_source() is not None else None
        self._cost = time.perf_counter() - started
        self.post_message(self.Rows(rows, gpus, counts, self.state.sees_whole_cluster("pods"), loaded, panel,
                                    alerts))

    @on(Rows)
    def _show(self, msg: Rows) -> None:
        self._rows = msg.rows
        self._loaded = msg.loaded
        self._last = msg
        self._show_cluster()
        self._panel = msg.panel
        self._show_gpu()
        self._alerts = msg.alerts
        self._show_alerts()
        self._fill()

    def _show_cluster(self) -> None:
        """The cluster line from the last numbers (again on a resize: the bar's width follows the terminal's)."""
        msg = self._last
        if msg is None:
            return
        used, cap = msg.gpus
        nodes, ready = msg.counts
        line = Text(no_wrap=True, overflow="ellipsis")
        if "pods" not in msg.loaded:
            line.append("Cluster GPUs ")
            line.append("… (listing pods)", "dim")
        elif msg.whole:
            line.append("Cluster GPUs ")
            line.append_text(gpu_bar(used, cap or None, 12 if self.size.width >= WIDE else 6))
        else:  # only some namespaces are visible: their use is not the cluster's allocation
            line.append(f"GPUs in your namespaces {used}", "bold")
            line.append(f"  (cluster: {cap} allocatable)", "dim")
        line.append(f"  nodes {ready}/{nodes} ready", "dim")
        if self.scope:
            line.append(f"  scoped to {self.scope} (a: all)", "bold")
        self._update("#cluster", line)

    # ------------------------------------------------------------------ the GPU panel
    def _metrics(self) -> Any:
        return getattr(getattr(self.app, "session", None), "metrics", None)

    def _metrics_health(self) -> Any:
        return self.state.source_health(METRICS_KEY) if self._metrics() is not None else None

    def _metrics_health_changed(self) -> None:
        h = self._metrics_health()
        if h is not None and self.is_current and (h.state, h.since, h.reason) != self._metrics_seen:
            self._show_gpu()

    def _show_gpu(self) -> None:
        """The totals line and the hottest / quota panel from the worker's last numbers (cheap: no state scan)."""
        wide = self.size.width >= WIDE
        side = self.size.width >= SIDE_BY_SIDE
        n = TOP_WIDE if side else TOP_NARROW
        metrics = self._metrics()
        health = self._metrics_health()
        self._metrics_seen = None if health is None else (health.state, health.since, health.reason)
        session = getattr(self.app, "session", None)
        name = getattr(getattr(metrics, "backend", None), "name", "") or ""
        panel = self._panel
        self._update("#gpu-totals", totals_text(
            panel, has_source=metrics is not None, note=getattr(session, "metrics_note", "") or "",
            health=health, name=name, wide=wide, hints=not side))
        self.query_one("#gpu-panel").set_class(not side, "-narrow")
        has_gpus = panel is not None and bool(panel.hottest)
        self.query_one("#gpu-hot").set_class(not has_gpus, "-empty")
        self._update("#gpu-hot", hottest_text(panel, n, side) if has_gpus and panel is not None else Text())
        self._update("#gpu-quota", quota_text(panel or GpuPanel(), n, side,
                                              listed=panel is not None and {"quotas", "pods"} <= self._loaded))

    # ------------------------------------------------------------------ the alerts panel
    def _alerts_source(self) -> Any:
        return getattr(getattr(self.app, "session", None), "alerts", None)

    def _show_alerts(self) -> None:
        """The alerts panel from the worker's last numbers; not there at all without an alerts source."""
        on = self._alerts_source() is not None
        widget = self.query_one("#alerts-panel", Static)
        widget.set_class(on, "-on")
        if not on:
            return
        side = self.size.width >= SIDE_BY_SIDE
        self._update("#alerts-panel", alerts_text(self._alerts, ALERTS_WIDE if side else ALERTS_NARROW,
                                                  self.size.width >= WIDE))

    def _update(self, selector: str, text: Text) -> None:
        update_if_changed(self.query_one(selector, Static), text)

    def visible_rows(self) -> list[NamespaceSummary]:
        return [r for r in self._rows if (self.scope is None or r.namespace == self.scope)
                and matches(r, self.filter_text)]

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        rows = self.visible_rows()
        bar = 8 if self._wide else 0
        keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None
        wanted = [r.namespace for r in rows]
        existing = [k.value for k in table.rows]
        cells = [row_cells(r, bar, self._loaded) for r in rows]
        with self.app.batch_update():
            resized = fit_columns(table, cells)
            if existing != wanted:
                table.clear()
                for r, row in zip(rows, cells):
                    table.add_row(*row, key=r.namespace)
            else:
                for r, row in zip(rows, cells):
                    for (key, _), cell in zip(COLUMNS, row):  # (update_width: the table's width follows)
                        table.update_cell(r.namespace, key, cell, update_width=resized)
            if keep in wanted:
                table.move_cursor(row=wanted.index(keep))
        empty = self.query_one("#empty", Static)
        if not rows:
            empty.update("no namespaces match" if (self.filter_text or self.scope) else "waiting for data…")
        else:
            empty.update("")

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._fill()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_scope()

    def action_scope(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        ns = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.app.set_namespace(ns)  # type: ignore[attr-defined]

    def action_all(self) -> None:
        self.app.set_namespace(None)  # type: ignore[attr-defined]

    def scope_to(self, namespace: str | None) -> None:
        self.scope = namespace
        self.recompute()

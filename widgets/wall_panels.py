"""The wall's panels: what matters about the platform, big enough to read across a room.

Six panels, each a widget built with the state and a freshness reader (``freshness(key) -> (level, last heard)``,
``prophecis_tui.freshness``'s ``Reader``; level "fresh", "stale" or "dead"): the cluster headline in big digits,
the GPU heat map, the quota pressure, the failing or pending workloads with their why, the top alerts by business
system with their tier, and the recent events.

Each panel says in its bottom border when its data was last updated ("updated HH:MM:SS"); when one of its sources
has missed two refreshes the border turns amber ("stale"), after five red ("no data since HH:MM"), and the last
values stay. A panel's figures are worked out by its ``compute(state, ctx)`` (pure, for the screen's worker
thread: it only reads the state) and drawn by ``show(data)`` on the UI thread. No panel ever calls a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Digits, Label, Static

from prophecis_tui.domain import DeploymentState, JobState, NotebookState
from prophecis_tui.sanitize import clean_line
from widgets.gpu_heatmap import HOT_C, GpuHeatmap, cells, legend, util_style
from widgets.header import firing_text
from widgets.resource_table import cell_text

FRESH, STALE, DEAD = "fresh", "stale", "dead"
LEVEL_ORDER = {FRESH: 0, STALE: 1, DEAD: 2}
Reader = Callable[[str], "tuple[str, datetime | None]"]
FAILED_WINDOW = timedelta(hours=1)  # "jobs failed in the last hour"
LIST_LIMIT = 60  # rows a list panel works out (it shows as many as fit)
TWO_LINES_UNDER = 110  # columns under which a workload's why goes on a line of its own


@dataclass(frozen=True)
class Failed:
    """What a panel's ``compute`` gave instead of figures: it raised (``reason``: the error's type)."""

    reason: str


def always_fresh(key: str) -> tuple[str, datetime | None]:
    """The reader used when none is given: every source fresh, never heard (the panel's own data time shows)."""
    return FRESH, None


def _local(t: datetime) -> datetime:
    return t.astimezone() if t.tzinfo is not None else t


def hhmmss(t: datetime) -> str:
    return f"{_local(t):%H:%M:%S}"


def hhmm(t: datetime) -> str:
    return f"{_local(t):%H:%M}"


@dataclass(frozen=True)
class WallContext:
    """What a panel's ``compute`` needs besides the state: the wall's clock and the session's sources."""

    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    max_annotation: str = ""  # [quota] max_annotation ("" the default key)
    has_metrics: bool = True  # a GPU metrics source is configured
    has_alerts: bool = True  # an alerts source is configured
    metrics_note: str = ""  # why there is no metrics source and how to configure one


def _pad(t: Text, width: int) -> Text:
    t.truncate(width, overflow="ellipsis", pad=True)
    return t


# ================================================================================================ the panel frame
class WallPanel(Vertical):
    """A titled frame whose bottom border says how fresh its data is. Subclasses set ``NAME``, ``TITLE``,
    ``SOURCES`` (the freshness keys their data comes from) and implement ``compute``/``show``."""

    NAME: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    SOURCES: ClassVar[tuple[str, ...]] = ("kubernetes",)

    DEFAULT_CSS = """
    WallPanel {
        border: round $primary 60%;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        height: 1fr;
        width: 1fr;
        overflow: hidden hidden;
    }
    WallPanel.-stale {
        border: heavy $warning;
        border-subtitle-color: $warning;
        border-subtitle-style: bold;
        border-title-color: $warning;
    }
    WallPanel.-dead {
        border: heavy $error;
        border-subtitle-color: $error;
        border-subtitle-style: bold reverse;
        border-title-color: $error;
        background: $error 10%;
    }
    WallPanel > .wall-body { height: 1fr; width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, state: Any, freshness: Reader | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id or f"panel-{self.NAME}", classes="wall-panel")
        self.state = state
        self.freshness: Reader = freshness or always_fresh
        self.data: Any = None
        self.data_at: datetime | None = None  # when ``show`` last got figures (the wall's clock)
        self.level = FRESH
        self.last: datetime | None = None
        self.failed: str | None = None  # the figures could not be worked out (the error's type); the last stay
        self.border_title = self.TITLE

    # -------------------------------------------------------------- figures
    @classmethod
    def compute(cls, state: Any, ctx: WallContext) -> Any:
        raise NotImplementedError

    def show(self, data: Any, at: datetime | None = None) -> None:
        """New figures from the worker (``at``: the wall's clock when they were worked out); drawn only when they
        differ from those on view (a wall left alone must not repaint its panels every second)."""
        if isinstance(data, Failed):  # the last figures stay, marked, until figures come again
            self.failed = data.reason
            return
        self.failed = None
        same = data == self.data and self.data is not None
        self.data, self.data_at = data, at
        if not same:
            self.draw()

    def draw(self) -> None:
        raise NotImplementedError

    # -------------------------------------------------------------- freshness
    def sources(self) -> tuple[str, ...]:
        return self.SOURCES

    def freshness_of(self) -> tuple[str, datetime | None]:
        """The worst of this panel's sources; with it the oldest "last heard" among the worst."""
        level, last = FRESH, None
        for key in self.sources():
            lv, at = self.freshness(key)
            if LEVEL_ORDER.get(lv, 0) > LEVEL_ORDER[level]:
                level, last = lv, at
            elif LEVEL_ORDER.get(lv, 0) == LEVEL_ORDER[level] and at is not None and (last is None or at < last):
                last = at
        return level, last

    def mark(self, now: datetime | None = None) -> None:
        """Read the freshness again (each second): the border's colour and words."""
        level, last = self.freshness_of()
        if self.failed is not None and level == FRESH:  # fresh data, but figures that could not be worked out
            level = STALE
        self.level, self.last = level, last
        self.set_class(level == STALE, "-stale")
        self.set_class(level == DEAD, "-dead")
        words = self.freshness_words()
        if words != self.border_subtitle:  # a border's words repaint the whole panel
            self.border_subtitle = words

    def freshness_words(self) -> str:
        when = self.last or self.data_at
        if self.level == DEAD:  # since the source was last heard (never: no data at all)
            return f" NO DATA SINCE {hhmm(self.last)} " if self.last is not None else " NO DATA "
        if self.failed is not None:
            return f"FIGURES FAILED ({self.failed}) · updated {hhmmss(self.data_at)}" if self.data_at is not None \
                else f"FIGURES FAILED ({self.failed})"
        if when is None:
            return "waiting for data…"
        if self.level == STALE:
            return f"STALE · updated {hhmmss(when)}"
        return f"updated {hhmm(when)}"  # to the minute: to the second, every panel would repaint every second


class TextPanel(WallPanel):
    """A panel whose figures are one text (quota, workloads, alerts, events): ``fill`` writes them into it; drawn
    again when the panel's size changes (what fits is worked out from its width)."""

    def compose(self) -> ComposeResult:
        yield Static(id=f"{self.NAME}-body", classes="wall-body")

    def fill(self, t: Text, d: Any) -> None:
        raise NotImplementedError

    def draw(self) -> None:
        if self.data is None:
            return
        t = Text(no_wrap=True, overflow="ellipsis", end="")
        self.fill(t, self.data)
        self.query_one(f"#{self.NAME}-body", Static).update(t, layout=False)  # 1fr x 1fr: no reflow

    def on_resize(self) -> None:
        if self.data is not None:
            self.draw()


# ================================================================================================ headline
@dataclass(frozen=True)
class Headline:
    gpus_used: int = 0
    gpus_total: int = 0
    gpus_known: bool = False  # the pods and nodes are listed
    notebooks_running: int = 0
    jobs_running: int = 0
    jobs_failed_hour: int = 0
    deployments_failing: int = 0
    firing: dict | None = None  # firing alerts by severity; None: no alerts source
    loaded: frozenset = frozenset()


class Figure(Vertical):
    """One big number under its label."""

    DEFAULT_CSS = """
    Figure { height: 4; width: 1fr; }
    Figure > Label { width: 1fr; color: $text-muted; text-style: bold; }
    Figure > Digits { width: auto; text-style: bold; }
    Figure.-bad > Digits { color: $error; text-style: bold; }
    Figure.-warn > Digits { color: $warning; }
    Figure.-good > Digits { color: $success; }
    Figure.-none > Digits { color: $text-muted; }
    """

    def __init__(self, key: str, label: str) -> None:
        super().__init__(id=f"figure-{key}")
        self.key, self.label = key, label
        self.value = "…"

    def compose(self) -> ComposeResult:
        yield Label(self.label)
        yield Digits(self.value)

    def set(self, value: str, tone: str = "", label: str | None = None) -> None:
        self.value = value
        self.query_one(Digits).update(value)
        for t in ("bad", "warn", "good", "none"):
            self.set_class(tone == t, f"-{t}")
        if label is not None and label != self.label:
            self.label = label
            self.query_one(Label).update(label)


FIGURES = (("gpus", "GPUs in use / total"), ("notebooks", "notebooks running"), ("jobs", "jobs running"),
           ("failed", "jobs failed (1 h)"), ("deploy", "deployments failing"), ("alerts", "alerts crit / warn"))
FIGURE_WIDTH = 24  # columns a figure wants: a label and "123/456" in digits


class HeadlinePanel(WallPanel):
    """The cluster in big digits: GPUs in use / total, notebooks running, jobs running and failed in the last
    hour, deployments failing, firing alerts by severity."""

    NAME, TITLE = "headline", "Cluster"
    SOURCES = ("kubernetes", "alerts")
    DEFAULT_CSS = """
    HeadlinePanel > Grid { grid-size: 3; grid-rows: 4; grid-gutter: 0 2; height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with Grid():
            for key, label in FIGURES:
                yield Figure(key, label)

    @staticmethod
    def columns(width: int) -> int:
        """Figures a row holds in ``width`` columns of content."""
        return max(1, min(len(FIGURES), (width + 2) // (FIGURE_WIDTH + 2)))

    def wanted_height(self, width: int) -> int:
        """Lines the panel needs at ``width`` columns (border and padding included): its rows of figures."""
        rows = -(-len(FIGURES) // self.columns(width - 4))
        return rows * 4 + 2

    def on_resize(self) -> None:
        self.query_one(Grid).styles.grid_size_columns = self.columns(self.content_size.width)

    @classmethod
    def compute(cls, state: Any, ctx: WallContext) -> Headline:
        used, total = state.cluster_gpus()
        loaded = frozenset(k for k in ("pods", "nodes", "notebooks", "trainingjobs", "deployments")
                           if state.has_data(k))
        since = ctx.now - FAILED_WINDOW
        jobs = state.training_jobs()
        failed = sum(1 for j in jobs if j.state == JobState.FAILED
                     and (j.finished or j.started or j.created) is not None
                     and (j.finished or j.started or j.created) >= since)
        firing = None
        if ctx.has_alerts:
            from prophecis_tui.alerts import firing_counts
            firing = firing_counts(state.alerts())
        return Headline(
            gpus_used=used, gpus_total=total, gpus_known={"pods", "nodes"} <= loaded,
            notebooks_running=sum(1 for n in state.notebooks() if n.state == NotebookState.RUNNING),
            jobs_running=sum(1 for j in jobs if j.state in (JobState.RUNNING, JobState.RESTARTING)),
            jobs_failed_hour=failed,
            deployments_failing=sum(1 for d in state.deployments() if d.state == DeploymentState.FAILED),
            firing=firing, loaded=loaded)

    def sources(self) -> tuple[str, ...]:
        data = self.data
        return ("kubernetes",) if data is not None and data.firing is None else self.SOURCES

    def draw(self) -> None:
        h: Headline | None = self.data
        if h is None:
            return
        fig = {f.key: f for f in self.query(Figure)}

        def known(kind: str) -> bool:
            return kind in h.loaded

        fig["gpus"].set(f"{h.gpus_used}/{h.gpus_total}" if h.gpus_known else "…",
                        "warn" if h.gpus_total and h.gpus_used >= h.gpus_total else "")
        fig["notebooks"].set(str(h.notebooks_running) if known("notebooks") else "…")
        fig["jobs"].set(str(h.jobs_running) if known("trainingjobs") else "…")
        fig["failed"].set(str(h.jobs_failed_hour) if known("trainingjobs") else "…",
                          "bad" if h.jobs_failed_hour else "good")
        fig["deploy"].set(str(h.deployments_failing) if known("deployments") else "…",
                          "bad" if h.deployments_failing else "good")
        if h.firing is None:
            fig["alerts"].set("-", "none", "alerts: no source")
        else:
            crit, warn = h.firing.get("critical", 0), h.firing.get("warning", 0)
            fig["alerts"].set(f"{crit}/{warn}", "bad" if crit else "warn" if warn else "good", "alerts crit / warn")

    def figures(self) -> dict[str, str]:
        """What each big number says (for tests and screen readers)."""
        return {f.key: f.value for f in self.query(Figure)}


# ================================================================================================ GPU heat map
@dataclass(frozen=True)
class HeatData:
    cells: tuple = ()
    gpus: int = 0
    util_avg: float | None = None
    held: int = 0
    hot: int = 0
    source: str = ""
    has_metrics: bool = True
    note: str = ""


class HeatmapPanel(WallPanel):
    """Every GPU, one tile each, by node: colour = utilisation, fill = memory, red ground = hot; the tiles as big
    as the panel affords (up to 8x4 characters: readable across a room)."""

    NAME, TITLE = "heatmap", "GPUs"
    SOURCES = ("metrics",)
    DEFAULT_CSS = """
    HeatmapPanel > #heat-summary { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    HeatmapPanel > GpuHeatmap { max-height: 100%; padding: 0; }
    HeatmapPanel > #heat-legend { dock: bottom; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="heat-summary")
        yield GpuHeatmap(id="heat-map", lines=1)  # as many as the panel has: worked out at each resize
        yield Static(legend(), id="heat-legend")

    @classmethod
    def compute(cls, state: Any, ctx: WallContext) -> HeatData:
        if not ctx.has_metrics:
            return HeatData(has_metrics=False, note=ctx.metrics_note)
        gpus = state.gpus()
        utils = [g.util for g in gpus if g.util is not None]
        return HeatData(tuple(cells(gpus)), len(gpus), sum(utils) / len(utils) if utils else None,
                        sum(1 for g in gpus if g.pod), sum(1 for g in gpus if (g.temp_c or 0) >= HOT_C),
                        state.gpu_source)

    def sources(self) -> tuple[str, ...]:
        return () if self.data is not None and not self.data.has_metrics else self.SOURCES

    def draw(self) -> None:
        d: HeatData | None = self.data
        if d is None:
            return
        heat = self.query_one(GpuHeatmap)
        summary = Text(no_wrap=True, overflow="ellipsis", end="")
        if not d.has_metrics:
            summary.append("no GPU metrics source", "dim")
            heat.note(Text(clean_line(d.note, 300) or "set [metrics] in the config (prometheus_url, dcgm_url, "
                           "or source = \"nvml\")", "dim"))
        elif not d.gpus:
            summary.append("waiting for GPU numbers…", "dim")
            heat.show_cells([])
        else:
            summary.append("util ")
            avg = d.util_avg
            summary.append("?" if avg is None else f"{avg:.0f}%", f"bold {util_style(avg)}" if avg is not None else "dim")
            summary.append(f"   held {d.held} of {d.gpus}")
            summary.append(f"   hot {d.hot}", "bold red" if d.hot else "dim")
            if d.source:
                summary.append(f"   from {d.source}", "dim")
            heat.lines = self._map_lines()
            heat.show_cells(list(d.cells))
        self.query_one("#heat-summary", Static).update(summary, layout=False)  # one line, its width the panel's

    def _map_lines(self) -> int:
        """The lines the map may fill: the panel's, less the summary and the legend (tiles grow into them: a GPU
        is readable across a room)."""
        return max(1, self.content_size.height - 2)

    def on_resize(self) -> None:
        if self.data is not None and self.data.gpus:
            heat = self.query_one(GpuHeatmap)
            heat.lines = self._map_lines()
            heat.show_cells(list(self.data.cells))


# ================================================================================================ quota pressure
@dataclass(frozen=True)
class QuotaData:
    rows: tuple = ()  # NamespacePressure, highest pressure first
    listed: bool = False
    with_quota: int = 0
    over_max: int = 0
    near_max: int = 0
    bursting: int = 0


def _n(x: float | None) -> str:
    if x is None:
        return "-"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def quota_bar(p: Any, width: int) -> Text:
    """used against base and max: green up to the base, yellow above it (bursting), red past 90% of the max."""
    limit = p.limit or 0
    full = max(limit, p.used, 1)
    used_cells = min(width, round(width * p.used / full))
    base_cell = round(width * p.gpu_base / full) if p.gpu_base is not None else None
    style = "red" if (p.over_max or p.near_max) else "yellow" if p.bursting else "green"
    t = Text(no_wrap=True, end="")
    for i in range(width):
        mark = "━" if i < used_cells else "─"
        st = style if i < used_cells else "grey35"
        if base_cell is not None and i == base_cell and 0 < base_cell < width:
            mark, st = "┃", "bold " + ("white" if i < used_cells else "grey62")
        t.append(mark, st)
    return t


class QuotaPanel(TextPanel):
    """The tenants nearest to or over their GPU limit (the :quota screen's arithmetic and order)."""

    NAME, TITLE = "quota", "Quota pressure"
    SOURCES = ("kubernetes",)

    @classmethod
    def compute(cls, state: Any, ctx: WallContext) -> QuotaData:
        from prophecis_tui.quota import DEFAULT_MAX_ANNOTATION, nearest_limits, pressures
        if not (state.has_data("quotas") and state.has_data("pods")):
            return QuotaData()
        rows = pressures(state, max_annotation=ctx.max_annotation or DEFAULT_MAX_ANNOTATION, with_blocked=False)
        q = [r for r in rows if r.has_quota]
        return QuotaData(tuple(nearest_limits(rows, LIST_LIMIT)), True, len(q), sum(1 for r in q if r.over_max),
                         sum(1 for r in q if r.near_max and not r.over_max), sum(1 for r in q if r.bursting))

    def fill(self, t: Text, d: QuotaData) -> None:
        if not d.listed:
            t.append("… listing quotas", "dim")
        else:
            t.append(f"over max {d.over_max}", "bold red" if d.over_max else "dim")
            t.append("   ")
            t.append(f"near max {d.near_max}", "red" if d.near_max else "dim")
            t.append("   ")
            t.append(f"bursting {d.bursting}", "yellow" if d.bursting else "dim")
            t.append(f"   of {d.with_quota} tenants", "dim")
            if not d.rows:
                t.append("\nno tenant uses GPUs against a quota", "dim")
            width = self.content_size.width or 60
            names = [cell_text(p.namespace, "bold" if (p.over_max or p.near_max) else "") for p in d.rows]
            name_w = min(max((n.cell_len for n in names), default=0), max(12, width // 3))
            bar_w = max(6, min(30, width - name_w - 24))
            for p, name in zip(d.rows, names):
                t.append("\n")
                t.append_text(_pad(name, name_w))
                t.append(" ")
                t.append_text(quota_bar(p, bar_w))
                nums = f" {_n(p.used)}/{_n(p.gpu_base)}" + (f"/{_n(p.gpu_max)}" if p.gpu_max is not None else "")
                t.append(f"{nums:<10}")
                pr = p.pressure
                pct = "∞" if pr == float("inf") else f"{pr * 100:.0f}%" if pr is not None else ""
                style = "bold red" if (p.over_max or p.near_max) else "yellow" if p.bursting else ""
                t.append(f"{pct:>5}", style)
                word = "over max" if p.over_max else "near max" if p.near_max else "bursting" if p.bursting else ""
                if word:
                    t.append(f" {word}", style)


# ================================================================================================ workloads
@dataclass(frozen=True)
class Trouble:
    kind: str  # notebook | job | deploy
    namespace: str
    name: str
    word: str  # failed | failing | pending | restarting
    why: str
    since: datetime | None


@dataclass(frozen=True)
class TroubleData:
    rows: tuple = ()
    failed: int = 0
    pending: int = 0
    loaded: bool = False


def _when(t: datetime | None) -> float:
    return t.timestamp() if t is not None else 0.0


class WorkloadsPanel(TextPanel):
    """Failing or pending notebooks, training jobs and model deployments, each with why (failures first, the
    newest first; then what waits, the longest waiting first)."""

    NAME, TITLE = "workloads", "Failing or pending workloads"
    SOURCES = ("kubernetes",)

    @classmethod
    def compute(cls, state: Any, ctx: WallContext) -> TroubleData:
        from prophecis_tui.explain import Explainer
        if not state.has_data("pods"):
            return TroubleData()
        ex = Explainer.from_state(state)
        bad: list[Trouble] = []
        waiting: list[Trouble] = []
        since = ctx.now - FAILED_WINDOW
        for nb in state.notebooks():
            if nb.state == NotebookState.FAILING:
                bad.append(Trouble("notebook", nb.namespace, nb.name, "failing", nb.reason or ex.notebook(nb),
                                   nb.created))
            elif nb.state == NotebookState.STARTING:
                why = ex.notebook(nb)
                if why:
                    waiting.append(Trouble("notebook", nb.namespace, nb.name, "pending", why, nb.created))
        for j in state.training_jobs():
            if j.state == JobState.FAILED:
                at = j.finished or j.started or j.created
                if at is not None and at >= since:
                    bad.append(Trouble("job", j.namespace, j.name, "failed", j.reason, at))
            elif j.state == JobState.RESTARTING:
                bad.append(Trouble("job", j.namespace, j.name, "restarting", j.reason or ex.job(j), j.started))
            elif j.state == JobState.PENDING:
                waiting.append(Trouble("job", j.namespace, j.name, "pending", ex.job(j), j.created))
        for d in state.deployments():
            if d.state == DeploymentState.FAILED:
                bad.append(Trouble("deploy", d.namespace, d.name, "failed", d.reason or ex.deployment(d), d.created))
            elif d.state == DeploymentState.CREATING:
                why = ex.deployment(d)
                if why:
                    waiting.append(Trouble("deploy", d.namespace, d.name, "pending", why, d.created))
        bad.sort(key=lambda r: (-_when(r.since), r.namespace, r.name))
        waiting.sort(key=lambda r: (_when(r.since), r.namespace, r.name))
        return TroubleData(tuple((bad + waiting)[:LIST_LIMIT]), len(bad), len(waiting), True)

    def fill(self, t: Text, d: TroubleData) -> None:
        if not d.loaded:
            t.append("… listing workloads", "dim")
        else:
            t.append(f"failing {d.failed}", "bold red" if d.failed else "dim")
            t.append("   ")
            t.append(f"pending {d.pending}", "yellow" if d.pending else "dim")
            if not d.rows:
                t.append("\nnothing failing or waiting", "green")
            width = self.content_size.width or 60
            two_lines = width < TWO_LINES_UNDER  # the why under the name: both stay readable
            names = [cell_text(f"{r.namespace}/{r.name}", "bold") for r in d.rows]
            name_w = min(max((n.cell_len for n in names), default=0), max(20, width * 2 // 5))
            for r, name in zip(d.rows, names):
                t.append("\n")
                style = "bold red" if r.word in ("failed", "failing", "restarting") else "yellow"
                t.append(f"{r.word:<10}", style)
                t.append(f"{r.kind:<9}", "dim")
                if two_lines:
                    t.append_text(name)
                    if r.why:
                        t.append("\n" + " " * 10 + "↳ ", "dim")
                        t.append_text(cell_text(r.why, "", 200))
                    continue
                t.append_text(_pad(name, name_w))
                if r.why:
                    t.append("  ")
                    t.append_text(cell_text(r.why, "", 200))


# ================================================================================================ alerts
@dataclass(frozen=True)
class AlertsData:
    groups: tuple = ()  # prophecis_tui.alerts.AlertGroup, tier first
    firing: dict = field(default_factory=dict)
    total: int = 0
    has_alerts: bool = True


class AlertsPanel(TextPanel):
    """The top alerts by business system: tier first, each system's firing counts and its worst alert."""

    NAME, TITLE = "alerts", "Alerts by business system"
    SOURCES = ("alerts",)

    @classmethod
    def compute(cls, state: Any, ctx: WallContext) -> AlertsData:
        if not ctx.has_alerts:
            return AlertsData(has_alerts=False)
        from prophecis_tui.alerts import firing_counts, top_by_system
        alerts = state.alerts()
        return AlertsData(tuple(top_by_system(alerts, 20)), firing_counts(alerts), len(alerts))

    def sources(self) -> tuple[str, ...]:
        return () if self.data is not None and not self.data.has_alerts else self.SOURCES

    def fill(self, t: Text, d: AlertsData) -> None:
        if not d.has_alerts:
            t.append("no alerts source: set [alerts] in the config (alertmanagers)", "dim")
        else:
            t.append_text(firing_text(d.firing))
            if not d.groups:
                t.append("\n")
                t.append("nothing firing or acknowledged" if d.total else "no alerts", "green")
            names = [cell_text(g.title, "bold" if g.system is not None else "dim italic") for g in d.groups]
            width = self.content_size.width or 60
            name_w = min(max((cell_len(n.plain) for n in names), default=0), max(12, width // 4))
            counts = [firing_text(g.counts) if sum(g.counts.values()) else Text(f"{len(g.alerts)} acked", "cyan")
                      for g in d.groups]
            count_w = max((c.cell_len for c in counts), default=0)
            for g, name, c in zip(d.groups, names, counts):
                t.append("\n")
                tier = g.tier
                t.append(f"{'T' + str(tier) if tier is not None else '':<3}", "bold red" if tier == 1 else "bold")
                t.append(" ")
                t.append_text(_pad(name, name_w))
                t.append(" ")
                t.append_text(c)
                t.append(" " * (count_w - c.cell_len))
                worst = g.worst
                if worst is not None:
                    t.append("  ")
                    sev = {"critical": "bold red", "warning": "yellow"}.get(worst.severity, "cyan")
                    t.append_text(cell_text(worst.name, sev, 60))
                    if worst.target:
                        t.append("  ")
                        t.append_text(cell_text(worst.target, "", 80))
                    if len(g.alerts) > 1:
                        t.append(f"  +{len(g.alerts) - 1}", "dim")


# ================================================================================================ events
@dataclass(frozen=True)
class EventsData:
    rows: tuple = ()  # Event, newest first
    warnings: int = 0
    loaded: bool = False


class EventsPanel(TextPanel):
    """The newest cluster events, one a line, warnings in amber."""

    NAME, TITLE = "events", "Recent events"
    SOURCES = ("kubernetes",)

    @classmethod
    def compute(cls, state: Any, ctx: WallContext) -> EventsData:
        import heapq
        if not state.has_data("events"):
            return EventsData()
        events = state.events()
        newest = heapq.nlargest(LIST_LIMIT, events, key=lambda e: (_when(e.last or e.first), e.name))
        since = ctx.now - FAILED_WINDOW
        warnings = sum(1 for e in events if e.type == "Warning" and (e.last or e.first) is not None
                       and (e.last or e.first) >= since)
        return EventsData(tuple(newest), warnings, True)

    def fill(self, t: Text, d: EventsData) -> None:
        if not d.loaded:
            t.append("… listing events", "dim")
        else:
            t.append(f"warnings (1 h) {d.warnings}", "yellow" if d.warnings else "dim")
            if not d.rows:
                t.append("\nno events", "dim")
            for e in d.rows:
                t.append("\n")
                when = e.last or e.first
                t.append(f"{hhmmss(when)} " if when is not None else " " * 9, "dim")
                warn = e.type == "Warning"
                t.append("⚠ " if warn else "  ", "yellow")
                t.append_text(cell_text(e.reason, "bold yellow" if warn else "bold", 40))
                t.append(" ")
                t.append_text(cell_text(f"{e.namespace}/{e.object_name or e.name}", "", 80))
                if e.message:
                    t.append("  ")
                    t.append_text(cell_text(e.message, "" if warn else "dim", 200))


PANELS: dict[str, type[WallPanel]] = {cls.NAME: cls for cls in (HeadlinePanel, HeatmapPanel, QuotaPanel,
                                                                  WorkloadsPanel, AlertsPanel, EventsPanel)}
PANEL_NAMES = tuple(PANELS)  # the default order; `wall --panels` picks and orders them by these names

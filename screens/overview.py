"""Home: every tenant namespace at a glance, trouble first."""

from __future__ import annotations

import time

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from prophecis_tui.domain import DeploymentState, JobState, NamespaceSummary, NotebookState
from prophecis_tui.state import State
from widgets.gpu_bar import gpu_bar

from .refresh import PacedRefresh

LOADED_KINDS = ("notebooks", "trainingjobs", "deployments", "pods", "quotas")

COLUMNS = [("namespace", "NAMESPACE"), ("notebooks", "NOTEBOOKS r/s/f"), ("jobs", "JOBS r/p/f/ok"),
           ("deploy", "DEPLOY ok/f"), ("gpu", "GPU used/quota"), ("pending", "PENDING")]
NARROW = {"notebooks": "NB r/s/f", "deploy": "DEP ok/f", "gpu": "GPU/quota", "pending": "PEND"}
WIDE = 110  # from this many columns: long labels and bars


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
        Text(s.namespace, "bold" if s.trouble else ""),
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
    """

    class Rows(Message):
        def __init__(self, rows: list[NamespaceSummary], gpus: tuple[int, int], counts: tuple[int, int],
                     whole: bool, loaded: frozenset[str]) -> None:
            super().__init__()
            self.rows, self.gpus, self.counts, self.whole, self.loaded = rows, gpus, counts, whole, loaded

    def __init__(self, state: State) -> None:
        super().__init__(name="overview")
        self.state = state
        self.filter_text = ""
        self.scope: str | None = None
        self._rows: list[NamespaceSummary] = []
        self._loaded: frozenset[str] = frozenset()
        self.init_refresh()

    def compose(self) -> ComposeResult:
        yield from self.app.compose_header()  # type: ignore[attr-defined]
        with Vertical():
            yield Static(id="cluster")
            yield DataTable(id="overview-table", cursor_type="row", zebra_stripes=False)
            yield Static("", id="empty")
        yield from self.app.compose_bars()  # type: ignore[attr-defined]
        yield Footer()

    def on_mount(self) -> None:
        self._wide: bool | None = None
        self._columns()
        self.app.prefer_kinds(())  # type: ignore[attr-defined]
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

    def on_screen_resume(self) -> None:
        self.app.prefer_kinds(())  # type: ignore[attr-defined]
        self.recompute()

    # ------------------------------------------------------------------ data (paced: screens/refresh.py)
    COMPUTE_GROUP = "overview"

    def start_compute(self) -> None:
        self._compute()

    def listing(self) -> bool:
        return "pods" not in self._loaded

    def completed(self) -> bool:
        return any(k not in self._loaded and self.state.has_data(k) for k in LOADED_KINDS)

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False)
    def _compute(self) -> None:
        started = time.perf_counter()
        rows = self.state.summaries()
        gpus = self.state.cluster_gpus()
        nodes = self.state.nodes()
        counts = (len(nodes), sum(1 for n in nodes if n.ready))
        loaded = frozenset(k for k in LOADED_KINDS if self.state.has_data(k))
        self._cost = time.perf_counter() - started
        self.post_message(self.Rows(rows, gpus, counts, self.state.sees_whole_cluster("pods"), loaded))

    @on(Rows)
    def _show(self, msg: Rows) -> None:
        self._rows = msg.rows
        self._loaded = msg.loaded
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
        self.query_one("#cluster", Static).update(line)
        self._fill()

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
        with self.app.batch_update():
            if existing != wanted:
                table.clear()
                for r in rows:
                    table.add_row(*row_cells(r, bar, self._loaded), key=r.namespace)
            else:
                for r in rows:
                    for (key, _), cell in zip(COLUMNS, row_cells(r, bar, self._loaded)):
                        table.update_cell(r.namespace, key, cell)
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

"""GPUs (`:gpu`): a node x GPU heat map over six views of the same numbers, and a history chart.

Views (`v` / `V`): every GPU with who holds it; nodes with their sparkline; top consumers by namespace, by
CMDB business system (tier first, with the GPUs no system claims as "untagged") and by pod; and the idle-GPU
board (held, under the idle threshold for the idle window), with the notebook stop action (`s`, through the
action registry: permission, confirmation, reason, audit). `h` opens the history chart of the selected GPU,
node, namespace, business system or pod over 15 min / 1 h / 6 h / 24 h (`t`).

The numbers come from the context's metrics source (Prometheus, a DCGM exporter, or local NVML), polled every
second into the state; the histories of nodes, namespaces and business systems and the idle runs are kept by
the poller (backends/gpu_history.py; which systems a GPU serves: prophecis_tui/gpu_systems.py). The screen
recomputes on each poll only, in a worker. With no source it says so and how to configure one.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from prophecis_tui.actions import Target
from prophecis_tui.domain import GpuSample
from prophecis_tui.gpu_systems import Workloads
from prophecis_tui.sanitize import clean_line
from prophecis_tui.idle import DEFAULT_THRESHOLD, holders_from_samples, idle_from_runs
from widgets.gpu_chart import GpuChart
from widgets.gpu_heatmap import HOT_C, GpuHeatmap, legend
from widgets.gpu_heatmap import cells as heat_cells  # the name `cells` reads as table cells here
from widgets.resource_table import Column, cell_text
from widgets.key_bar import KeyBar

from .gpu_rows import (GpuContext, GpuRow, IdleRow, NamespaceRow, NodeRow, PodRow, SystemRow, conditions, mean, num,
                       sparkline, tally, util_bar)
from .resources import ResourceScreen, duration

VIEWS = ("gpus", "nodes", "namespaces", "systems", "pods", "idle")
VIEW_TITLES = {"gpus": "GPUs", "nodes": "Nodes", "namespaces": "Namespaces", "systems": "Systems", "pods": "Pods",
               "idle": "Idle GPUs"}
SUMMARY_TITLES = {"gpus": "GPUs", "nodes": "GPU nodes", "namespaces": "GPU use by namespace",
                  "systems": "GPU use by business system", "pods": "GPU use by pod", "idle": "Idle GPUs"}
VIEW_SORT = {"gpus": "node", "nodes": "node", "namespaces": "gpus", "systems": "tier", "pods": "gpus", "idle": "since"}
NO_CMDB = ("No CMDB business systems: set [cmdb] in the config (a REST source, or a file), or load a file with "
           "`prophecis-tui cmdb import FILE`.")


class GpuScreen(ResourceScreen):
    TITLE_TEXT = "GPUs"
    NAME = "gpu"
    DEFAULT_SORT = "node"
    RESOURCE = "pods"  # d, y and e show the pod that holds the GPU
    KIND = "Pod"
    # Recomputed on each metrics poll only: the rows are GPUs, and the owners read from the pods follow with the
    # next poll (a cluster's pods and events change several times a second, and each recompute redraws).
    DATA_KINDS = frozenset({"gpus"})
    ACTION_KEYS = {"stop": "notebook.stop"}
    BINDINGS = [
        Binding("v", "view(1)", "View", id="gpu.view"),
        Binding("V", "view(-1)", "Previous view", id="gpu.view_back", show=False),
        Binding("h", "chart", "History", id="gpu.chart"),
        Binding("t", "range", "Range", id="gpu.range"),
        Binding("s", "stop", "Stop notebook", id="gpu.stop_notebook"),
        Binding("l", "logs", "Logs", id="gpu.logs"),
    ]
    DEFAULT_CSS = """
    GpuScreen GpuChart { height: 12; display: none; }
    GpuScreen.-chart GpuChart { display: block; }
    GpuScreen.-short GpuChart { height: 9; }
    GpuScreen.-short.-chart #heatmap, GpuScreen.-short.-chart #legend { display: none; }
    GpuScreen #views { height: 1; padding: 0 1; }
    """

    class ChartData(Message):
        def __init__(self, key: str, title: str, points: list, now: float) -> None:
            super().__init__()
            self.key, self.title, self.points, self.now = key, title, points, now

    def __init__(self, state: Any, namespace: str | None = None) -> None:
        self.view = "gpus"
        super().__init__(state, namespace)
        self._chart_key: tuple[str, int] | None = None  # what the chart shows (key, range), and when it was fetched
        self._chart_fetched = 0.0

    # ------------------------------------------------------------------ what the poller keeps
    @property
    def poller(self) -> Any:
        return getattr(self.app.session, "metrics", None)  # type: ignore[attr-defined]

    @property
    def idle_threshold(self) -> float:
        poller = self.poller
        return poller.idle.threshold if poller is not None else DEFAULT_THRESHOLD

    # ------------------------------------------------------------------ columns, one set per view
    def columns(self) -> list[Column]:
        return getattr(self, f"_columns_{self.view}")()

    def _columns_gpus(self) -> list[Column]:
        def owner(r: GpuRow) -> Text:
            owners = self.context.owners if self.context is not None else {}
            return cell_text(owners.get((r.g.namespace, r.g.pod), "") if r.g.pod else "", "dim")
        return [
            Column("node", "NODE", 16, lambda r: cell_text(r.g.node), sort=lambda r: (r.g.node, r.g.gpu), unique=True),
            Column("gpu", "GPU", 3, lambda r: str(r.g.gpu), sort=lambda r: (r.g.node, r.g.gpu), justify="right",
                   unique=True),
            Column("model", "MODEL", 20, lambda r: cell_text(r.g.model.replace("NVIDIA ", "")), narrow=False),
            Column("util", "UTIL", 13, lambda r: util_bar(r.g.util), sort=lambda r: -(r.g.util or 0)),
            Column("mem", "MEM", 4, lambda r: num(r.g.mem_pct, "%"), sort=lambda r: -(r.g.mem_pct or 0),
                   justify="right"),
            Column("temp", "TEMP", 5, lambda r: num(r.g.temp_c, "°C", "bold red" if (r.g.temp_c or 0) >= HOT_C else ""),
                   sort=lambda r: -(r.g.temp_c or 0), justify="right"),
            Column("power", "POWER", 5, lambda r: num(r.g.power_w, "W"), sort=lambda r: -(r.g.power_w or 0),
                   justify="right", narrow=False),
            Column("namespace", "NAMESPACE", 18, lambda r: cell_text(r.g.namespace or "-", "" if r.g.pod else "dim")),
            Column("pod", "POD", 24, lambda r: cell_text(r.g.pod or "free", "" if r.g.pod else "dim"), flex=True,
                   max_width=44),
            Column("owner", "WORKLOAD", 24, owner, flex=True, narrow=False),
        ]

    def _columns_nodes(self) -> list[Column]:
        return [
            Column("node", "NODE", 18, lambda r: cell_text(r.node), sort=lambda r: r.node),
            Column("gpus", "GPUS", 4, lambda r: str(r.gpus), sort=lambda r: -r.gpus, justify="right"),
            Column("held", "HELD", 4, lambda r: str(r.held), sort=lambda r: -r.held, justify="right"),
            Column("util", "UTIL", 13, lambda r: util_bar(r.util), sort=lambda r: -(r.util or 0)),
            Column("spark", "LAST 10 MIN", 20, lambda r: sparkline(r.spark), sort=lambda r: -(mean(list(r.spark)) or 0)),
            Column("mem", "MEM", 4, lambda r: num(r.mem, "%"), sort=lambda r: -(r.mem or 0), justify="right"),
            Column("temp", "MAX °C", 6, lambda r: num(r.temp, "°C", "bold red" if (r.temp or 0) >= HOT_C else ""),
                   sort=lambda r: -(r.temp or 0), justify="right"),
            Column("power", "POWER", 6, lambda r: num(r.power, "W"), sort=lambda r: -(r.power or 0), justify="right",
                   narrow=False),
            Column("hot", "HOT", 3, lambda r: Text(str(r.hot), "bold red") if r.hot else Text("0", "dim"),
                   sort=lambda r: -r.hot, justify="right", narrow=False),
        ]

    def _columns_namespaces(self) -> list[Column]:
        return [
            Column("namespace", "NAMESPACE", 24, lambda r: cell_text(r.namespace), sort=lambda r: r.namespace,
                   flex=True, max_width=40),
            Column("gpus", "GPUS", 4, lambda r: str(r.gpus), sort=lambda r: (-r.gpus, -(r.util or 0)), justify="right"),
            Column("pods", "PODS", 4, lambda r: str(r.pods), sort=lambda r: -r.pods, justify="right"),
            Column("util", "UTIL", 13, lambda r: util_bar(r.util), sort=lambda r: -(r.util or 0)),
            Column("mem", "MEM", 4, lambda r: num(r.mem, "%"), sort=lambda r: -(r.mem or 0), justify="right"),
            Column("idle", "IDLE NOW", 8, lambda r: Text(str(r.idle), "yellow") if r.idle else Text("0", "dim"),
                   sort=lambda r: -r.idle, justify="right"),
        ]

    def _columns_systems(self) -> list[Column]:
        def tier(r: SystemRow) -> Text:
            return Text("" if r.tier is None else f"T{r.tier}", "bold red" if r.tier == 1 else "")
        return [
            Column("system", "BUSINESS SYSTEM", 22, lambda r: cell_text(r.title, "" if r.id else "dim italic"),
                   sort=lambda r: (r.id == "", r.title), flex=True, max_width=36),
            Column("tier", "TIER", 5, tier, sort=lambda r: (r.id == "", r.tier or 99, -r.gpus)),
            Column("dept", "DEPT", 10, lambda r: cell_text(r.department, "dim"), sort=lambda r: r.department,
                   narrow=False),
            Column("gpus", "GPUS", 4, lambda r: str(r.gpus), sort=lambda r: (-r.gpus, -(r.util or 0)), justify="right"),
            Column("pods", "PODS", 4, lambda r: str(r.pods), sort=lambda r: -r.pods, justify="right"),
            Column("util", "UTIL", 13, lambda r: util_bar(r.util), sort=lambda r: -(r.util or 0)),
            Column("spark", "LAST 10 MIN", 20, lambda r: sparkline(r.spark), sort=lambda r: -(mean(list(r.spark)) or 0),
                   narrow=False),
            Column("mem", "MEM", 4, lambda r: num(r.mem, "%"), sort=lambda r: -(r.mem or 0), justify="right"),
            Column("idle", "IDLE NOW", 8, lambda r: Text(str(r.idle), "yellow") if r.idle else Text("0", "dim"),
                   sort=lambda r: -r.idle, justify="right"),
            Column("oncall", "ON CALL", 16, lambda r: cell_text(r.oncall, "dim"), sort=lambda r: r.oncall,
                   flex=True, narrow=False),
        ]

    def _columns_pods(self) -> list[Column]:
        return [
            Column("namespace", "NAMESPACE", 18, lambda r: cell_text(r.namespace), sort=lambda r: r.namespace),
            Column("pod", "POD", 28, lambda r: cell_text(r.pod), sort=lambda r: r.pod, flex=True, max_width=50),
            Column("gpus", "GPUS", 4, lambda r: str(r.gpus), sort=lambda r: (-r.gpus, -(r.util or 0)), justify="right"),
            Column("util", "UTIL", 13, lambda r: util_bar(r.util), sort=lambda r: -(r.util or 0)),
            Column("mem", "MEM", 4, lambda r: num(r.mem, "%"), sort=lambda r: -(r.mem or 0), justify="right"),
            Column("workload", "WORKLOAD", 24, lambda r: cell_text(r.workload, "dim"), flex=True, narrow=False),
        ]

    def _columns_idle(self) -> list[Column]:
        def since(r: IdleRow) -> Text:
            at = datetime.fromtimestamp(r.g.since, timezone.utc).astimezone()
            return Text(at.strftime("%H:%M"), "")
        return [
            Column("node", "NODE", 16, lambda r: cell_text(r.g.node), sort=lambda r: r.g.key),
            Column("gpu", "GPU", 3, lambda r: r.g.gpu, sort=lambda r: r.g.key, justify="right"),
            Column("namespace", "NAMESPACE", 18, lambda r: cell_text(r.g.namespace)),
            Column("pod", "POD", 24, lambda r: cell_text(r.g.pod), flex=True, max_width=44),
            Column("workload", "WORKLOAD", 22, lambda r: cell_text(f"{r.g.workload_kind} {r.g.workload}",
                                                                   "bold" if r.g.is_notebook else "dim"),
                   flex=True, narrow=False),
            Column("since", "SINCE", 5, since, sort=lambda r: r.g.since),
            Column("for", "IDLE FOR", 8, lambda r: Text(duration(r.g.idle_for), "yellow"),
                   sort=lambda r: -r.g.idle_for, justify="right"),
            Column("peak", "PEAK", 4, lambda r: num(r.g.peak_util, "%"), sort=lambda r: -(r.g.peak_util or 0),
                   justify="right"),
        ]

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield from self.app.compose_header()  # type: ignore[attr-defined]
        with Vertical():
            yield Static(id="summary")
            yield Static(self._views_text(), id="views")
            yield GpuHeatmap(id="heatmap")
            yield Static(legend(), id="legend")
            yield self.table
            yield GpuChart(id="chart", range_seconds=900)
            yield Static("", id="detail")
        yield from self.app.compose_bars()  # type: ignore[attr-defined]
        yield KeyBar()

    def on_resize(self) -> None:
        """On a short terminal (80x24) the chart takes the heat map's place, so the table keeps some lines."""
        self.set_class(self.size.height < 36, "-short")

    def _views_text(self) -> Text:
        t = Text(no_wrap=True, end="")
        t.append("v ", "dim")
        for i, v in enumerate(VIEWS):
            if i:
                t.append(" │ ", "dim")
            t.append(VIEW_TITLES[v], "bold reverse" if v == self.view else "")
        chart = "  h history" + ("  t range" if self.has_class("-chart") else "")
        t.append(chart, "dim")
        return t

    # ------------------------------------------------------------------ rows (worker side)
    def objects(self) -> list[Any]:
        gpus = self.state.gpus()
        if self.scope:
            gpus = [g for g in gpus if g.namespace == self.scope]
        view = self.view
        if view == "gpus":
            return [GpuRow(g) for g in gpus]
        if view == "nodes":
            return self._node_rows(gpus)
        if view == "namespaces":
            return self._namespace_rows(gpus)
        if view == "systems":
            return self._system_rows(gpus)
        if view == "pods":
            return self._pod_rows(gpus)
        return self._idle_rows(gpus)

    def _node_rows(self, gpus: list[GpuSample]) -> list[NodeRow]:
        by: dict[str, list[GpuSample]] = {}
        for g in gpus:
            by.setdefault(g.node, []).append(g)
        poller = self.poller
        out = []
        for node, gs in by.items():
            temps = [g.temp_c for g in gs if g.temp_c is not None]
            powers = [g.power_w for g in gs if g.power_w is not None]
            spark = tuple(poller.groups.spark(f"node:{node}")) if poller is not None else ()
            out.append(NodeRow(node, len(gs), sum(1 for g in gs if g.pod), mean([g.util for g in gs]),
                               mean([g.mem_pct for g in gs]), max(temps) if temps else None,
                               sum(powers) if powers else None, sum(1 for t in temps if t >= HOT_C), spark))
        return out

    def _namespace_rows(self, gpus: list[GpuSample]) -> list[NamespaceRow]:
        by: dict[str, list[GpuSample]] = {}
        for g in gpus:
            if g.pod:
                by.setdefault(g.namespace, []).append(g)
        threshold = self.idle_threshold
        return [NamespaceRow(ns, len(gs), len({g.pod for g in gs}), mean([g.util for g in gs]),
                             mean([g.mem_pct for g in gs]), tally(gs, threshold)["idle"])
                for ns, gs in by.items()]

    def _system_rows(self, gpus: list[GpuSample]) -> list[SystemRow]:
        """One row per business system that has GPUs, and one for the held GPUs no system claims (untagged)."""
        poller = self.poller
        if poller is None or not poller.systems.known:
            return []
        systems = poller.systems
        by: dict[str, list[GpuSample]] = {}
        rules: dict[str, Counter] = {}
        for g in gpus:
            found = systems.matches(g)
            for m in found:
                by.setdefault(m.system.id, []).append(g)
                rules.setdefault(m.system.id, Counter())[m.rule] += 1
            if not found and g.pod:
                by.setdefault("", []).append(g)
        threshold = self.idle_threshold
        out = []
        for sid, gs in by.items():
            s = systems.system(sid) if sid else None
            if sid and s is None:
                continue
            out.append(SystemRow(
                sid, s.name if s else "untagged", s.tier if s else None, s.department if s else "",
                s.oncall if s else "", len(gs), len({(g.namespace, g.pod) for g in gs if g.pod}),
                mean([g.util for g in gs]), mean([g.mem_pct for g in gs]), tally(gs, threshold)["idle"],
                rules[sid].most_common(1)[0][0] if sid else "held by pods no business system claims",
                tuple(poller.groups.spark(f"sys:{sid}")) if sid else ()))
        return out

    def _pod_rows(self, gpus: list[GpuSample]) -> list[PodRow]:
        by: dict[tuple[str, str], list[GpuSample]] = {}
        for g in gpus:
            if g.pod:
                by.setdefault((g.namespace, g.pod), []).append(g)
        owners = self._owners([gs[0] for gs in by.values()])
        return [PodRow(ns, pod, owners.get((ns, pod), ""), tuple(g.key for g in gs), mean([g.util for g in gs]),
                       mean([g.mem_pct for g in gs])) for (ns, pod), gs in by.items()]

    def _idle_rows(self, gpus: list[GpuSample]) -> list[IdleRow]:
        poller = self.poller
        if poller is None:
            return []
        notebooks = {(n.namespace, n.name) for n in self.state.notebooks()}
        holders = holders_from_samples([g for g in gpus if g.pod], self.state.pods(), notebooks)
        board = idle_from_runs(holders, poller.idle.runs(), time.time(), window=poller.idle_window,
                               max_age=poller.idle.max_gap)
        return [IdleRow(g) for g in board]

    def prepare(self, rows: list[Any]) -> Any:
        gpus = [r.g for r in rows] if self.view == "gpus" else self.state.gpus()
        return GpuContext(self._owners(gpus) if self.view == "gpus" else {}, tally(gpus, self.idle_threshold),
                          heat_cells(gpus))

    def _owners(self, gpus: list[GpuSample]) -> dict[tuple[str, str], str]:
        """(namespace, pod) -> the workload that holds these GPUs, as people call it ("notebook lab", not its
        StatefulSet; "PyTorchJob mnist"): the idle board's naming, cached per pod (gpu_systems.Workloads), so a poll
        of 2,000 GPUs costs dict lookups, not a pass over every pod."""
        workloads = getattr(self, "_workloads", None)
        if workloads is None:
            workloads = self._workloads = Workloads(self.state)
        return {(g.namespace, g.pod): workloads.of(g.namespace, g.pod) for g in gpus if g.pod}

    def search_text(self, r: Any) -> str:
        """`/` matches names, and on GPUs the words free, held, idle, busy and hot."""
        if isinstance(r, GpuRow):
            poller = self.poller
            systems = [f"{m.system.id} {m.system.name}" for m in poller.systems.matches(r.g)] \
                if poller is not None and poller.systems.known else []
            return " ".join((r.g.pod, r.g.model, r.g.node, *conditions(r.g, self.idle_threshold), *systems))
        if isinstance(r, NodeRow):
            return r.node
        if isinstance(r, PodRow):
            return f"{r.namespace} {r.pod} {r.workload}"
        if isinstance(r, SystemRow):
            return f"{r.id} {r.department} {r.oncall}"
        if isinstance(r, IdleRow):
            return f"{r.g.node} {r.g.workload_kind} {r.g.workload}"
        return ""

    # ------------------------------------------------------------------ the views
    def action_view(self, step: int) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + step) % len(VIEWS)]
        self.show_view()

    def show_view(self, view: str | None = None) -> None:
        if view is not None:
            self.view = view
        self.TITLE_TEXT = SUMMARY_TITLES[self.view]  # the summary's first words
        self.rows_layout += 1  # rows of the last view, still being worked out, are dropped when they come
        table = self.table
        table.all_columns = self.columns()
        table.sort_column, table.sort_reverse = VIEW_SORT[self.view], False
        table._layout_width = -1
        table.set_rows([], {})
        self.query_one("#views", Static).update(self._views_text())
        self.recompute()
        self.refresh_bindings()

    # ------------------------------------------------------------------ the holder's pod: d, y, e
    def _holder(self) -> Any:
        r = self.current()
        if r is None:
            return None
        ns, pod = self._pod_of(r)
        if not pod:
            self.notify(f"{r.g.key}: no pod holds this GPU" if isinstance(r, GpuRow) else
                        f"{r.name}: d, y, e and l show a pod: a GPU's, a pod's or an idle GPU's row has one",
                        severity="warning")
            return None
        found = next((p for p in self.state.pods(ns) if p.name == pod), None)
        if found is None:
            self.notify(f"{ns}/{pod} is not in the cluster's pods (gone, or not visible to you)", severity="warning")
        return found

    @staticmethod
    def _pod_of(r: Any) -> tuple[str, str]:
        if isinstance(r, GpuRow):
            return r.g.namespace, r.g.pod
        if isinstance(r, (PodRow, IdleRow)):
            return r.namespace, r.name
        return "", ""

    def action_describe(self) -> None:
        pod = self._holder()
        if pod is not None:
            self.app.show_object("pods", pod, "describe")  # type: ignore[attr-defined]

    def action_yaml(self) -> None:
        pod = self._holder()
        if pod is not None:
            self.app.show_object("pods", pod, "yaml")  # type: ignore[attr-defined]

    def action_events(self) -> None:
        pod = self._holder()
        if pod is not None:
            self.app.show_events(pod, "Pod")  # type: ignore[attr-defined]

    def action_logs(self) -> None:
        """The log of the pod that holds the GPU (an idle GPU's holder too)."""
        pod = self._holder()
        if pod is not None:
            self.app.show_logs("Pod", pod.namespace, pod.name)  # type: ignore[attr-defined]

    def open(self, r: Any) -> None:
        if isinstance(r, SystemRow):  # enter on a business system: its GPUs (the filter matches their systems)
            if r.id:
                self.filter_text = r.id
                self.show_view("gpus")
            return
        if isinstance(r, (NodeRow, NamespaceRow)):  # enter on a node or a namespace: its GPUs
            self.filter_text = r.name if isinstance(r, NodeRow) else ""
            if isinstance(r, NamespaceRow):
                self.app.set_namespace(r.namespace)  # type: ignore[attr-defined]
            self.show_view("gpus")
            return
        self.action_describe()

    # ------------------------------------------------------------------ the idle board's action
    def action_id_for(self, method: str, obj: Any) -> str | None:
        if method == "stop" and not (isinstance(obj, IdleRow) and obj.g.is_notebook):
            return None  # only a notebook can be stopped from here
        return super().action_id_for(method, obj)

    def target(self, obj: Any) -> Target:
        if isinstance(obj, IdleRow) and obj.g.is_notebook:
            return Target("Notebook", obj.g.namespace, obj.g.workload)
        return super().target(obj)

    def action_stop(self) -> None:
        from .resources import now
        self.run_action("stop", {"at": now().strftime("%Y-%m-%dT%H:%M:%SZ")})

    # ------------------------------------------------------------------ the chart
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "range":
            return self.has_class("-chart")
        if action == "stop" and self.view != "idle":
            return False
        return super().check_action(action, parameters)

    def action_chart(self) -> None:
        self.toggle_class("-chart")
        self.query_one("#views", Static).update(self._views_text())
        self.refresh_bindings()
        self._chart_key = None
        self._update_chart()

    def action_range(self) -> None:
        self.query_one(GpuChart).cycle_range()

    @on(GpuChart.RangeChanged)
    def _range_changed(self) -> None:
        self._chart_key = None
        self._update_chart()

    def _chart_subject(self, r: Any) -> tuple[str, str] | None:
        """(history key, title) of the selected row."""
        if isinstance(r, GpuRow):
            return r.g.key, f"{r.g.node} GPU {r.g.gpu}" + (f"  {r.g.namespace}/{r.g.pod}" if r.g.pod else "  free")
        if isinstance(r, NodeRow):
            return f"node:{r.node}", f"node {r.node} ({r.gpus} GPUs, mean)"
        if isinstance(r, NamespaceRow):
            return f"ns:{r.namespace}", f"namespace {r.namespace} ({r.gpus} GPUs, mean)"
        if isinstance(r, SystemRow):
            if not r.id:
                return None  # untagged: no group to chart
            tier = f"T{r.tier}, " if r.tier is not None else ""
            return f"sys:{r.id}", f"{clean_line(r.title, 40)} ({tier}{r.gpus} GPUs, mean)"
        if isinstance(r, PodRow):
            more = f", first of {r.gpus}" if r.gpus > 1 else ""
            return r.keys[0], f"{r.namespace}/{r.pod} (GPU {r.keys[0]}{more})"
        if isinstance(r, IdleRow):
            return r.g.key, f"{r.g.node} GPU {r.g.gpu}  {r.g.namespace}/{r.g.pod} (idle)"
        return None

    def _update_chart(self) -> None:
        """Fetch the selected row's history for the chart when it is open: at once for a new subject or range, then
        every poll for the 15-minute range and every 10 s for longer ones (the chart draws at most once a second)."""
        if not self.has_class("-chart") or self.poller is None:
            return
        subject = self._chart_subject(self.current())
        if subject is None:
            return
        chart = self.query_one(GpuChart)
        key = (subject[0], chart.range_seconds)
        every = 1.0 if chart.range_seconds <= 900 else 10.0
        if key == self._chart_key and time.monotonic() - self._chart_fetched < every:
            return
        self._chart_key, self._chart_fetched = key, time.monotonic()
        self._fetch_chart(subject[0], subject[1], chart.range_seconds)

    @work(thread=True, exclusive=True, group="chart", exit_on_error=False)
    def _fetch_chart(self, key: str, title: str, seconds: int) -> None:
        try:
            points = list(self.poller.history(key, seconds))
        except Exception as err:  # an unreachable Prometheus: the chart says so, the screen goes on
            points = []
            title = f"{title}  (history unavailable: {getattr(err, 'message', type(err).__name__)})"
        self.post_message(self.ChartData(key, title, points, time.time()))

    @on(ChartData)
    def _chart_data(self, msg: ChartData) -> None:
        self.query_one(GpuChart).show(msg.title, msg.points, msg.now)

    def on_resource_table_cursor_moved(self) -> None:
        self._update_chart()

    # ------------------------------------------------------------------ after each list
    def rows_shown(self) -> None:
        heat = self.query_one(GpuHeatmap)
        note = getattr(self.app.session, "metrics_note", "")  # type: ignore[attr-defined]
        cells = self.context.cells if self.context is not None else []
        if note and not cells:
            heat.note(Text(note, "yellow"))
        else:
            heat.show_cells(cells)
        self._update_chart()

    def summary_extra(self) -> Text | None:
        if self.context is None or not sum(self.context.counts.values()):
            poller = self.poller
            if self.view == "systems" and (poller is None or not poller.systems.known):
                return Text(f"  {NO_CMDB}", "yellow")
            return None
        n = self.context.counts
        held, busy, idle, hot = n["held"], n["busy"], n["idle"], n["hot"]
        t = Text()
        t.append(f"held {held}  ", "")
        t.append(f"busy {busy}  ", "green")
        t.append(f"idle {idle}  ", "yellow" if idle else "dim")  # held, under the idle threshold now
        t.append(f"hot {hot}", "bold red" if hot else "dim")
        source = self.state.gpu_source
        if source:
            t.append(f"  from {source}", "dim")
        poller = self.poller
        caveat = getattr(poller.backend, "note", "") if poller is not None else ""
        if caveat:  # e.g. an exporter Service read instead of its pods: one node per poll, and why
            t.append(f"  {clean_line(caveat, 160)}", "yellow")
        if self.view == "idle" and self.poller is not None:
            t.append_text(self._idle_note())
        if self.view == "systems" and (poller is None or not poller.systems.known):
            t.append(f"  {NO_CMDB}", "yellow")
        return t

    def _idle_note(self) -> Text:
        poller = self.poller
        since = poller.idle.watching_since
        window = f"{poller.idle_window / 60:g} min"
        t = Text(f"  idle board: under {poller.idle.threshold:g}% for {window}", "dim")
        if since is not None and time.time() - since < poller.idle_window:
            at = datetime.fromtimestamp(since, timezone.utc).astimezone().strftime("%H:%M")
            t.append(f"; watching since {at}: a GPU shows here {window} after that at the earliest", "yellow")
        return t

    def detail(self, r: Any) -> Text:
        if isinstance(r, GpuRow):
            return self._gpu_detail(r.g)
        t = Text()
        if isinstance(r, NodeRow):
            t.append(f"node {r.node}", "bold")
            t.append(f"  {r.gpus} GPUs, {r.held} held, {r.hot} hot", "dim")
            t.append("\nenter: its GPUs   h: its history", "dim")
        elif isinstance(r, NamespaceRow):
            t.append(f"namespace {r.namespace}", "bold")
            t.append(f"  {r.gpus} GPUs held by {r.pods} pods, {r.idle} idle now", "dim")
            t.append("\nenter: its GPUs   h: their history", "dim")
        elif isinstance(r, SystemRow):
            t.append(r.title, "bold")
            if r.id:
                t.append(f"  {r.id}" + (f"  tier {r.tier}" if r.tier is not None else "") +
                         (f"  {r.department}" if r.department else ""), "dim")
                t.append(f"\n{r.gpus} GPUs ({r.pods} pods), {r.idle} idle now; tagged by {r.rule}", "")
                if r.oncall:
                    t.append(f"  on call: {r.oncall}", "")
                t.append("\nenter: its GPUs   h: their history", "dim")
            else:
                t.append(f"  {r.gpus} GPUs held by {r.pods} pods that no business system claims", "dim")
                t.append("\nadd them to the CMDB (a namespace, segment, label or deployment rule) to tag them", "dim")
        elif isinstance(r, PodRow):
            t.append(f"{r.namespace}/{r.pod}", "bold")
            t.append(f"  {r.workload}  GPUs {', '.join(r.keys)}", "dim")
        elif isinstance(r, IdleRow):
            g = r.g
            t.append(f"{g.node} GPU {g.gpu}", "bold")
            t.append(f"  held by {g.namespace}/{g.pod} ({g.workload_kind} {g.workload}), under "
                     f"{self.idle_threshold:g}% for {duration(g.idle_for)}", "")
            peak = f"peak {g.peak_util:.0f}%" if g.peak_util is not None else ""
            t.append(f"\n{peak}" + ("   s: stop the notebook (its GPUs go back to the pool)" if g.is_notebook
                                    else "   not a notebook: stop it from its own screen"), "dim")
        return t

    def _gpu_detail(self, g: GpuSample) -> Text:
        t = Text()
        t.append(f"{g.node} GPU {g.gpu}", "bold")
        t.append(f"  {g.model}  {g.uuid}", "dim")
        mem = "" if g.fb_used_mib is None else f"  memory {g.fb_used_mib / 1024:.1f}/" \
            f"{((g.fb_used_mib or 0) + (g.fb_free_mib or 0)) / 1024:.0f} GiB"
        t.append(mem, "dim")
        if g.pod:
            t.append(f"\nheld by {g.namespace}/{g.pod}", "")
            if g.container:
                t.append(f" ({g.container})", "dim")
        else:
            t.append("\nfree: no pod holds it", "dim")
        poller = self.poller
        found = poller.systems.matches(g) if poller is not None and poller.systems.known else ()
        if found:
            t.append("\nserves ", "dim")
            for i, m in enumerate(found[:3]):
                t.append(", " if i else "", "dim")
                t.append(m.system.name, "bold")
                t.append((f" (T{m.system.tier})" if m.system.tier is not None else "") + f" by {m.rule}", "dim")
            if len(found) > 3:
                t.append(f" and {len(found) - 3} more", "dim")
        elif poller is not None and poller.systems.known and g.pod:
            t.append("\nuntagged: no business system claims its pod", "yellow")
        return t

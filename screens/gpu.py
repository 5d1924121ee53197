"""GPUs (`:gpu`): a node x GPU heat map over a table of every GPU with who holds it.

The numbers come from the context's metrics source (Prometheus, a DCGM exporter, or local NVML), polled
into the state; the pod's owner comes from the state's pods. With no source, the screen says so and how
to configure one. Later work (issue 5): history charts, top consumers, the idle-GPU board and its action.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer, Static

from prophecis_tui.domain import GpuSample
from widgets.gpu_heatmap import HOT_C, GpuHeatmap, legend, util_style
from widgets.resource_table import Column, cell_text

from .resources import ResourceScreen


@dataclass(frozen=True)
class GpuRow:
    """One GPU as the table needs it: a uid, a name and a namespace like every other object."""

    g: GpuSample

    @property
    def uid(self) -> str:
        return self.g.key

    @property
    def name(self) -> str:
        return self.g.key

    @property
    def namespace(self) -> str:
        return self.g.namespace


def conditions(g: GpuSample) -> tuple[str, ...]:
    """held or free; idle (held, under 5%); busy (50% and more); hot: for the summary and the `/` filter."""
    out = ["held" if g.pod else "free"]
    if g.pod and (g.util or 0) < 5:
        out.append("idle")
    if (g.util or 0) >= 50:
        out.append("busy")
    if (g.temp_c or 0) >= HOT_C:
        out.append("hot")
    return tuple(out)


@dataclass(frozen=True)
class GpuContext:
    """What the worker works out beside the rows: each held GPU's workload, and the counts of the summary."""

    owners: dict[tuple[str, str], str]
    counts: Counter


def util_cell(g: GpuSample, width: int = 8) -> Text:
    if g.util is None:
        return Text("?", "dim")
    filled = int(round(g.util / 100 * width))
    t = Text("█" * filled, util_style(g.util))
    t.append("░" * (width - filled), "grey23")
    t.append(f" {g.util:3.0f}%")
    return t


def num(v: float | None, unit: str, style: str = "") -> Text:
    return Text("" if v is None else f"{v:.0f}{unit}", style)


class GpuScreen(ResourceScreen):
    TITLE_TEXT = "GPUs"
    NAME = "gpu"
    DEFAULT_SORT = "node"
    RESOURCE = "pods"  # d, y and e show the pod that holds the GPU
    KIND = "Pod"
    # Recomputed on each metrics poll only: the rows are GPUs, and the owners read from the pods follow with the
    # next poll (a cluster's pods and events change several times a second, and each recompute redraws).
    DATA_KINDS = frozenset({"gpus"})
    BINDINGS: list = []

    def columns(self) -> list[Column]:
        def owner(r: GpuRow) -> Text:
            owners = self.context.owners if self.context is not None else {}
            return cell_text(owners.get((r.g.namespace, r.g.pod), "") if r.g.pod else "", "dim")
        return [
            Column("node", "NODE", 16, lambda r: cell_text(r.g.node), sort=lambda r: (r.g.node, r.g.gpu)),
            Column("gpu", "GPU", 3, lambda r: str(r.g.gpu), sort=lambda r: (r.g.node, r.g.gpu), justify="right"),
            Column("model", "MODEL", 20, lambda r: cell_text(r.g.model.replace("NVIDIA ", "")), narrow=False),
            Column("util", "UTIL", 13, lambda r: util_cell(r.g), sort=lambda r: -(r.g.util or 0)),
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

    def compose(self) -> ComposeResult:
        yield from self.app.compose_header()  # type: ignore[attr-defined]
        with Vertical():
            yield Static(id="summary")
            yield GpuHeatmap(id="heatmap")
            yield Static(legend(), id="legend")
            yield self.table
            yield Static("", id="detail")
        yield from self.app.compose_bars()  # type: ignore[attr-defined]
        yield Footer()

    def objects(self) -> list[Any]:
        gpus = self.state.gpus()
        if self.scope:
            gpus = [g for g in gpus if g.namespace == self.scope]
        return [GpuRow(g) for g in gpus]

    def prepare(self, rows: list[Any]) -> Any:
        return GpuContext(self._owners(), Counter(c for r in rows for c in conditions(r.g)))

    def _owners(self) -> dict[tuple[str, str], str]:
        """(namespace, pod) -> the workload that owns it, as people call it (a notebook, not its StatefulSet), for
        every pod that holds GPUs. Worked out again only when pods or notebooks changed, not on every metrics poll."""
        versions = (self.state.kind_version("pods"), self.state.kind_version("notebooks"))
        cached = getattr(self, "_owners_cache", None)
        if cached is not None and cached[0] == versions:
            return cached[1]
        notebooks = {(n.namespace, n.name) for n in self.state.notebooks()}
        owners: dict[tuple[str, str], str] = {}
        for p in self.state.pods():
            if not p.gpus:
                continue
            if p.owner_kind == "StatefulSet" and (p.namespace, p.owner_name) in notebooks:
                owners[(p.namespace, p.name)] = f"Notebook/{p.owner_name}"
            elif p.job_name:
                owners[(p.namespace, p.name)] = f"{p.owner_kind}/{p.job_name}"
            elif p.labels.get("seldon-deployment-id"):
                owners[(p.namespace, p.name)] = f"SeldonDeployment/{p.labels['seldon-deployment-id']}"
            elif p.owner_name:
                owners[(p.namespace, p.name)] = f"{p.owner_kind}/{p.owner_name}"
        self._owners_cache = (versions, owners)
        return owners

    def search_text(self, r: GpuRow) -> str:
        """`/` matches the pod, the model, the node and the words free, held, idle, busy and hot."""
        return " ".join((r.g.pod, r.g.model, r.g.node, *conditions(r.g)))

    def _holder(self) -> Any:
        r = self.current()
        if r is None:
            return None
        if not r.g.pod:
            self.notify(f"{r.g.key}: no pod holds this GPU", severity="warning")
            return None
        pod = next((p for p in self.state.pods(r.g.namespace) if p.name == r.g.pod), None)
        if pod is None:
            self.notify(f"{r.g.namespace}/{r.g.pod} is not in the cluster's pods (gone, or not visible to you)",
                        severity="warning")
        return pod

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

    def open(self, r: Any) -> None:
        self.action_describe()

    def rows_shown(self) -> None:
        heat = self.query_one(GpuHeatmap)
        note = getattr(self.app.session, "metrics_note", "")  # type: ignore[attr-defined]
        if note and not self.table.row_count:
            heat.note(Text(note, "yellow"))
        else:
            heat.show([r.g for r in self.table.rows])

    def summary_extra(self) -> Text | None:
        if not self.table.row_count or self.context is None:
            return None
        n = self.context.counts
        held, busy, idle, hot = n["held"], n["busy"], n["idle"], n["hot"]
        t = Text()
        t.append(f"held {held}  ", "")
        t.append(f"busy {busy}  ", "green")
        t.append(f"idle {idle}  ", "yellow" if idle else "dim")  # held, under 5%
        t.append(f"hot {hot}", "bold red" if hot else "dim")
        source = self.state.gpu_source
        if source:
            t.append(f"  from {source}", "dim")
        return t

    def detail(self, r: GpuRow) -> Text:
        g = r.g
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
        return t

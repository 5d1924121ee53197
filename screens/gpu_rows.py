"""The GPU screen's rows and the pure arithmetic behind them: one class per view's row, the conditions a GPU is
in (held, idle, busy, hot) and their tally, sparklines and utilisation bars. No Textual here beyond Rich text:
the screen's worker builds these for 2,000 GPUs every second.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.text import Text

from prophecis_tui.domain import GpuSample
from prophecis_tui.idle import DEFAULT_THRESHOLD, IdleGpu
from widgets.gpu_heatmap import HOT_C, util_style

SPARK = "▁▂▃▄▅▆▇█"

class GpuRow:
    """One GPU as the table needs it: a uid, a name and a namespace like every other object (plain attributes:
    2,000 of them are made, sorted and indexed every second)."""

    __slots__ = ("g", "uid", "name", "namespace")

    def __init__(self, g: GpuSample) -> None:
        self.g = g
        self.uid = self.name = g.key
        self.namespace = g.namespace


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


@dataclass(frozen=True)
class NodeRow:
    """One node: its GPUs now, and the sparkline of its mean utilisation over the last minutes."""

    node: str
    gpus: int
    held: int
    util: float | None
    mem: float | None
    temp: float | None  # the hottest of its GPUs
    power: float | None  # all of them together
    hot: int
    spark: tuple[float | None, ...] = ()

    @property
    def uid(self) -> str:
        return f"node:{self.node}"

    @property
    def name(self) -> str:
        return self.node

    @property
    def namespace(self) -> str:
        return ""


@dataclass(frozen=True)
class NamespaceRow:
    """A namespace's held GPUs: how many, how busy, how many of them idle now."""

    namespace: str
    gpus: int
    pods: int
    util: float | None
    mem: float | None
    idle: int

    @property
    def uid(self) -> str:
        return f"ns:{self.namespace}"

    @property
    def name(self) -> str:
        return self.namespace


@dataclass(frozen=True)
class SystemRow:
    """A CMDB business system's GPUs: those its pods hold and those on its nodes. ``id`` "" is the row of GPUs
    held by pods no system claims (untagged: shown, never dropped)."""

    id: str
    title: str  # the system's name (often Chinese), or "untagged"
    tier: int | None
    department: str
    oncall: str
    gpus: int
    pods: int
    util: float | None
    mem: float | None
    idle: int
    rule: str  # the rule that tagged most of its GPUs (namespace ns-risk-*, label model=..., node ...)
    spark: tuple[float | None, ...] = ()

    @property
    def uid(self) -> str:
        return f"sys:{self.id}"

    @property
    def name(self) -> str:
        return self.title

    @property
    def namespace(self) -> str:
        return ""


@dataclass(frozen=True)
class PodRow:
    """A pod's GPUs (one pod of a training job, a notebook, a model server)."""

    namespace: str
    pod: str
    workload: str
    keys: tuple[str, ...]  # its GPUs, node/index
    util: float | None
    mem: float | None

    @property
    def uid(self) -> str:
        return f"pod:{self.namespace}/{self.pod}"

    @property
    def name(self) -> str:
        return self.pod

    @property
    def gpus(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class IdleRow:
    """One row of the idle-GPU board."""

    g: IdleGpu

    @property
    def uid(self) -> str:
        return f"idle:{self.g.key}"

    @property
    def name(self) -> str:
        return self.g.pod

    @property
    def namespace(self) -> str:
        return self.g.namespace


def sparkline(values: tuple[float | None, ...] | list[float | None], width: int = 20) -> Text:
    """Utilisation 0-100 % as bar glyphs, the newest last, coloured as the heat map colours it."""
    t = Text(no_wrap=True, end="")
    shown = list(values)[-width:]
    t.append(" " * (width - len(shown)))
    for v in shown:
        if v is None:
            t.append("·", "grey23")
        else:
            t.append(SPARK[min(len(SPARK) - 1, int(v / 100 * len(SPARK)))], util_style(v))
    return t


BUSY_UTIL = 50.0  # % from which a GPU counts as busy


def conditions(g: GpuSample, idle_threshold: float = DEFAULT_THRESHOLD) -> tuple[str, ...]:
    """held or free; idle (held, under the idle threshold now); busy (50% and more); hot: the `/` filter's words.
    ``tally`` counts the same words over many GPUs."""
    util = g.util or 0
    out = ["held" if g.pod else "free"]
    if g.pod and util < idle_threshold:
        out.append("idle")
    if util >= BUSY_UTIL:
        out.append("busy")
    if (g.temp_c or 0) >= HOT_C:
        out.append("hot")
    return tuple(out)


def tally(gpus: list[GpuSample], idle_threshold: float = DEFAULT_THRESHOLD) -> Counter:
    """How many GPUs have each of ``conditions``' words (the summaries' figures), without a tuple per GPU: 2,000
    GPUs are counted every second."""
    held = busy = idle = hot = 0
    for g in gpus:
        util = g.util or 0
        if g.pod:
            held += 1
            if util < idle_threshold:
                idle += 1
        if util >= BUSY_UTIL:
            busy += 1
        if (g.temp_c or 0) >= HOT_C:
            hot += 1
    return Counter(held=held, free=len(gpus) - held, idle=idle, busy=busy, hot=hot)


@dataclass(frozen=True)
class GpuContext:
    """What the worker works out beside the rows: each held GPU's workload, and the counts of the summary."""

    owners: dict[tuple[str, str], str]
    counts: Counter
    cells: list = field(default_factory=list)  # the heat map's cells (widgets.gpu_heatmap.cells), worked out here


def util_bar(util: float | None, width: int = 8) -> Text:
    if util is None:
        return Text("?", "dim")
    filled = int(round(util / 100 * width))
    t = Text("█" * filled, util_style(util))
    t.append("░" * (width - filled), "grey23")
    t.append(f" {util:3.0f}%")
    return t


def num(v: float | None, unit: str, style: str = "") -> Text:
    return Text("" if v is None else f"{v:.0f}{unit}", style)

"""Pods (`:pods`): where every workload ends up; with why a pending one is pending."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding

from prophecis_tui.domain import Pod
from prophecis_tui.explain import Explainer
from widgets.resource_table import Column, cell_text

from .resources import ResourceScreen, gpu_column, namespace_column, when_column

STATUS_STYLE = {"Running": "green", "Completed": "dim", "Succeeded": "dim", "Pending": "yellow",
                "ContainerCreating": "yellow", "Terminating": "magenta"}


def status_cell(p: Pod) -> Text:
    style = STATUS_STYLE.get(p.status, "bold red" if p.phase != "Running" or p.ready < p.containers else "")
    return cell_text(p.status, style)


def pod_trouble(p: Pod, why: str) -> str:
    return why or p.waiting or (p.last_exit if p.restarts or p.phase == "Failed" else "")


class PodsScreen(ResourceScreen):
    TITLE_TEXT = "Pods"
    NAME = "pods"
    RESOURCE = "pods"
    KIND = "Pod"
    BINDINGS = [
        Binding("l", "logs", "Logs", id="pods.logs"),
        Binding("p", "previous_logs", "Previous log", id="pods.previous_logs"),
    ]

    def __init__(self, state, namespace: str | None = None, *, owner: tuple[str, str] | None = None,
                 title: str = "") -> None:
        self.owner = owner  # (how, name): ("job", name) | ("deployment", name) | ("notebook", name)
        if owner is not None and owner[0] == "job":
            self.DEFAULT_SORT = "replica"
        super().__init__(state, namespace)
        if title:
            self.TITLE_TEXT = title

    def loaded_kinds(self) -> tuple[str, ...]:
        return ("pods",)

    def columns(self) -> list[Column]:
        why = lambda p: pod_trouble(p, self.why(p))  # noqa: E731
        replica = [Column("replica", "REPLICA", 10, lambda p: cell_text(p.replica if p.replica_type else "", "bold"),
                          sort=lambda p: (p.replica_type, int(p.replica_index) if p.replica_index.isdigit() else 0))]
        return [
            *(replica if self.owner is not None and self.owner[0] == "job" else []),
            namespace_column(),
            Column("name", "NAME", 30, lambda p: cell_text(p.name, "bold" if self.why(p) else ""), flex=True,
                   max_width=48),
            Column("ready", "READY", 5, lambda p: f"{p.ready}/{p.containers}",
                   sort=lambda p: (p.ready - p.containers, p.ready)),
            Column("status", "STATUS", 17, status_cell),
            Column("restarts", "RESTARTS", 8, lambda p: str(p.restarts), sort=lambda p: p.restarts, justify="right"),
            gpu_column(),
            Column("node", "NODE", 20, lambda p: cell_text(p.node or "-"), narrow=False),
            when_column(),
            Column("why", "WHY", 30, lambda p: cell_text(why(p), "yellow"), flex=True, narrow=False),
        ]

    def objects(self) -> list[Any]:
        pods = self.state.pods(self.scope)
        if self.owner is not None:
            how, name = self.owner
            pods = [p for p in pods if owned_by(p, how, name)]
        return pods

    def prepare(self, rows: list[Any]) -> Any:
        return Explainer.from_state(self.state, rows)

    def why(self, obj: Pod) -> str:
        return self.context.pod(obj) if self.context is not None else ""

    def summary_extra(self) -> Text | None:
        """For a job: the replica grid, ready/total per replica type."""
        if self.owner is None or self.owner[0] != "job":
            return None
        grid: dict[str, list[int]] = {}
        for p in self.table.rows:
            g = grid.setdefault(p.replica_type or "pod", [0, 0])
            g[1] += 1
            g[0] += p.phase == "Running" and p.ready == p.containers
        t = Text()
        for rtype, (ready, total) in sorted(grid.items()):
            t.append(f"{rtype} ", "bold")
            t.append(f"{ready}/{total}  ", "green" if ready == total else "yellow")
        return t

    def detail(self, p: Pod) -> Text:
        t = Text(no_wrap=False)
        t.append(f"{p.namespace}/{p.name}", "bold")
        t.append(f"  {p.phase}  node {p.node or '-'}  cpu {p.cpu or '-'} mem {p.memory or '-'} gpu {p.gpus}", "dim")
        if p.owner_kind:
            t.append(f"  owner {p.owner_kind}/{p.owner_name}", "dim")
        trouble = pod_trouble(p, self.why(p))
        if trouble:
            t.append("\n")
            t.append("why: " if self.why(p) else "", "bold yellow")
            t.append(cell_text(trouble, "yellow", 400))
        return t

    def action_logs(self) -> None:
        p = self.current()
        if p is not None:
            self.app.show_logs("Pod", p.namespace, p.name)  # type: ignore[attr-defined]

    def action_previous_logs(self) -> None:
        p = self.current()
        if p is not None:
            self.app.show_logs("Pod", p.namespace, p.name, previous=True)  # type: ignore[attr-defined]


def owned_by(p: Pod, how: str, name: str) -> bool:
    if how == "job":
        return p.job_name == name
    if how == "deployment":
        return p.labels.get("seldon-deployment-id") == name
    if how == "notebook":
        return p.labels.get("notebook-name") == name or p.owner_name == name or (
            p.labels.get("app") == name and p.name.startswith(name))
    return False

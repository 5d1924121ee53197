"""Training jobs (`:jobs`): TFJob, PyTorchJob, XGBoostJob and single batch Jobs in one table.

Per replica type ready/total, GPUs, state, restarts, duration, and for a failed job the first
replica that failed and why (exit code, OOMKilled, the last error line of its log).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.binding import Binding

from prophecis_tui.domain import JobState, Pod, TrainingJob
from prophecis_tui.explain import Explainer
from prophecis_tui.inspect import job_failure
from widgets.resource_table import Column, cell_text

from .resources import (
    ResourceScreen,
    age,
    duration,
    gpu_column,
    namespace_column,
    when_column,
)
from .resources import now as clock_now

FRAMEWORK = {"TFJob": "TensorFlow", "PyTorchJob": "PyTorch", "XGBoostJob": "XGBoost", "Job": "single"}
RESOURCE = {"TFJob": "tfjobs", "PyTorchJob": "pytorchjobs", "XGBoostJob": "xgboostjobs", "Job": "jobs"}
STATE_STYLE = {JobState.RUNNING: "green", JobState.PENDING: "yellow", JobState.RESTARTING: "bold yellow",
               JobState.SUCCEEDED: "dim", JobState.FAILED: "bold red"}
ROLE_ORDER = ["Chief", "Master", "Worker", "PS", "Evaluator"]


class JobsContext:
    """Worker-side facts per job: its pods by replica type, the explainer, the first failure."""

    def __init__(self, state, jobs: list[TrainingJob]) -> None:
        self.explainer = Explainer.from_state(state)  # it indexes the pods by job as well
        self.failures: dict[str, tuple[str, str]] = {}
        for j in jobs:
            if j.state in (JobState.FAILED, JobState.RESTARTING):
                f = job_failure(j, self.pods_of(j))
                if f is not None:
                    self.failures[j.uid] = f

    def pods_of(self, job: TrainingJob) -> list[Pod]:
        return self.explainer.pods_of_job(job)

    def replicas(self, job: TrainingJob) -> list[tuple[str, int, int]]:
        """(type, ready, total) per replica type, in the usual order."""
        ready: dict[str, int] = {}
        for p in self.pods_of(job):
            if p.phase == "Running" and p.ready == p.containers and not p.deleting:
                key = next((r for r in job.replica_specs if r.lower() == p.replica_type), p.replica_type or "Worker")
                ready[key] = ready.get(key, 0) + 1
        order = sorted(job.replica_specs, key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else 9, r))
        return [(r, ready.get(r, 0), job.replica_specs[r]) for r in order]

    def restarts(self, job: TrainingJob) -> int:
        return sum(p.restarts for p in self.pods_of(job))


def replicas_cell(ctx: JobsContext | None, job: TrainingJob) -> Text:
    t = Text(no_wrap=True)
    if ctx is None:
        return cell_text(str(job.replicas))
    done = job.state in (JobState.SUCCEEDED, JobState.FAILED)
    for i, (role, ready, total) in enumerate(ctx.replicas(job)):
        if i:
            t.append(" ")
        t.append(f"{role} ", "dim")
        t.append(f"{ready}/{total}", "dim" if done else ("green" if ready == total else "yellow"))
    return t


def run_seconds(job: TrainingJob, now: datetime | None = None) -> float | None:
    if job.started is None:
        return None
    end = job.finished or now or clock_now()
    return max((end - job.started).total_seconds(), 0.0)


class JobsScreen(ResourceScreen):
    TITLE_TEXT = "Training jobs"
    NAME = "jobs"
    KIND = "TFJob"
    ACTION_KEYS = {"kill": "job.kill", "rerun": "job.rerun"}
    BINDINGS = [
        Binding("ctrl+k", "kill", "Kill", id="jobs.kill", key_display="^k"),
        Binding("ctrl+d", "kill", "Kill", id="jobs.delete", show=False),
        Binding("r", "rerun", "Re-run", id="jobs.rerun"),
        Binding("l", "logs", "Logs", id="jobs.logs"),
    ]

    def __init__(self, state, namespace: str | None = None) -> None:
        super().__init__(state, namespace)
        self.error_lines: dict[str, str] = {}  # pod uid -> last error line of its log
        self._asked_logs: set[str] = set()

    def loaded_kinds(self) -> tuple[str, ...]:
        return ("trainingjobs",)

    def columns(self) -> list[Column]:
        return [
            namespace_column(),
            Column("name", "NAME", 20, lambda j: cell_text(j.name, "bold" if j.state == JobState.FAILED else ""),
                   flex=True, max_width=34),
            Column("framework", "FRAMEWORK", 10, lambda j: FRAMEWORK.get(j.kind, j.kind), narrow=False),
            Column("replicas", "REPLICAS ready/total", 31, lambda j: replicas_cell(self.context, j), narrow=False),
            gpu_column(),
            Column("state", "STATE", 10, lambda j: cell_text(j.state.value, STATE_STYLE.get(j.state, "")),
                   sort=lambda j: list(STATE_STYLE).index(j.state) if j.state in STATE_STYLE else 9),
            Column("restarts", "RST", 3, lambda j: str(self.context.restarts(j)) if self.context else "",
                   sort=lambda j: -(self.context.restarts(j) if self.context else 0), justify="right", narrow=False),
            when_column("started", "STARTED", "started", 7, narrow=False),
            Column("duration", "DURATION", 8, lambda j: duration(run_seconds(j)), sort=lambda j: run_seconds(j) or 0,
                   narrow=False),
            Column("why", "FAILURE / WHY", 20, lambda j: cell_text(self.why_text(j), "red" if j.state ==
                                                                     JobState.FAILED else "yellow"), flex=True),
        ]

    def objects(self) -> list[Any]:
        return self.state.training_jobs(self.scope)

    def prepare(self, rows: list[Any]) -> Any:
        return JobsContext(self.state, rows)

    def search_text(self, obj: TrainingJob) -> str:
        return f"{obj.kind} {FRAMEWORK.get(obj.kind, '')} {obj.image}"

    def failure(self, job: TrainingJob) -> tuple[str, str] | None:
        return self.context.failures.get(job.uid) if self.context is not None else None

    def why(self, job: TrainingJob) -> str:
        if self.context is None or job.state != JobState.PENDING:
            return ""
        return self.context.explainer.job(job)

    def why_text(self, job: TrainingJob) -> str:
        f = self.failure(job)
        if f is not None:
            return f"{f[0]}: {f[1]}"
        if job.state == JobState.FAILED:
            return job.reason
        return self.why(job)

    def detail(self, j: TrainingJob) -> Text:
        t = Text()
        t.append(f"{j.kind} {j.namespace}/{j.name}", "bold")
        t.append(f"  owner {j.user or '?'}  {j.image}", "dim")
        if j.started:
            t.append(f"  started {age(j.started)} ago, ran {duration(run_seconds(j))}", "dim")
        f = self.failure(j)
        if f is not None:
            t.append("\nfirst failure: ", "bold red")
            t.append_text(cell_text(f"{f[0]}: {f[1]}", "red", 300))
            pod = self._failing_pod(j)
            if pod is not None:
                line = self.error_lines.get(pod.uid)
                if line is None:
                    self._fetch_error_line(pod)
                    t.append("  (reading its log…)", "dim")
                elif line:
                    t.append("\nlast error: ", "bold red")
                    t.append_text(cell_text(line, "", 300))
        elif j.state == JobState.FAILED and j.reason:
            t.append("\n")
            t.append_text(cell_text(j.reason, "red", 300))
        elif self.why(j):
            t.append("\nwhy: ", "bold yellow")
            t.append_text(cell_text(self.why(j), "yellow", 300))
        return t

    def _failing_pod(self, j: TrainingJob) -> Pod | None:
        f = self.failure(j)
        if f is None or self.context is None:
            return None
        return next((p for p in self.context.pods_of(j) if p.replica == f[0] or p.name == f[0]), None)

    def _fetch_error_line(self, pod: Pod) -> None:
        if pod.uid in self._asked_logs:
            return
        self._asked_logs.add(pod.uid)

        def got(line: str) -> None:
            self.error_lines[pod.uid] = line
            self._detail()
        self.app.last_error_line(pod, got)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ drill-down and actions
    def open(self, job: Any) -> None:
        from .pods import PodsScreen
        self.app.push_screen(PodsScreen(self.state, job.namespace, owner=("job", job.name),
                                        title=f"{job.kind} {job.name}: replicas"))

    def target(self, obj: Any):
        from prophecis_tui.actions import Target
        return Target(obj.kind, obj.namespace, obj.name)

    def resource_of(self, obj: Any) -> str:
        return RESOURCE.get(obj.kind, "tfjobs")

    def action_id_for(self, method: str, obj: Any) -> str | None:
        if method == "kill":
            return f"job.kill.{obj.kind}"
        if method == "rerun":
            return f"job.rerun.{obj.kind}" if obj.state == JobState.FAILED else None
        return None

    def action_kill(self) -> None:
        self.run_action("kill")

    def action_rerun(self) -> None:
        self.run_action("rerun")  # offered for failed jobs only (action_id_for)

    def action_logs(self) -> None:
        """Every replica's log merged in time order, each line prefixed with its replica (worker-3); r on
        the log screen shows one replica at a time, E jumps to the first error."""
        job = self.current()
        if job is not None:
            self.app.show_logs(job.kind, job.namespace, job.name)  # type: ignore[attr-defined]

"""Model deployments (`:deploy`): Seldon deployments, their predictors, and the keys to act on them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding

from prophecis_tui.domain import DeploymentState, ModelDeployment
from prophecis_tui.explain import Explainer
from widgets.resource_table import Column, cell_text

from .resources import ResourceScreen, gpu_column, namespace_column, when_column

STATE_STYLE = {DeploymentState.AVAILABLE: "green", DeploymentState.CREATING: "yellow",
               DeploymentState.FAILED: "bold red", DeploymentState.STOPPED: "dim"}


def predictors_cell(d: ModelDeployment) -> Text:
    t = Text(no_wrap=True)
    for i, p in enumerate(d.predictors):
        if i:
            t.append(" ")
        t.append(f"{p.name} ", "dim")
        ready = p.ready if p.ready is not None or len(d.predictors) > 1 else d.ready
        if ready is None:
            t.append(f"{p.replicas}", "")
        else:
            t.append(f"{ready}/{p.replicas}", "green" if ready >= p.replicas and p.replicas else "yellow")
        t.append(f" {p.traffic}%", "dim")
    if not d.predictors:
        t.append(f"{d.ready}/{d.replicas}")
    return t


class DeploymentsScreen(ResourceScreen):
    TITLE_TEXT = "Model deployments"
    NAME = "deployments"
    RESOURCE = "seldondeployments"
    KIND = "SeldonDeployment"
    ACTION_KEYS = {"scale": "deployment.scale", "stop": "deployment.stop", "start": "deployment.start",
                   "delete": "deployment.delete", "predict": "deployment.predict"}
    BINDINGS = [
        Binding("S", "scale", "Scale", id="deploy.scale"),
        Binding("x", "stop", "Stop", id="deploy.stop"),
        Binding("t", "start", "Start", id="deploy.start"),
        Binding("ctrl+d", "delete", "Delete", id="deploy.delete"),
        Binding("p", "predict", "Test prediction", id="deploy.predict"),
        Binding("l", "logs", "Logs", id="deploy.logs"),
    ]

    def loaded_kinds(self) -> tuple[str, ...]:
        return ("deployments",)

    def columns(self) -> list[Column]:
        first = lambda d: d.predictors[0] if d.predictors else None  # noqa: E731
        return [
            namespace_column(),
            Column("name", "NAME", 20, lambda d: cell_text(d.name, "bold" if d.state == DeploymentState.FAILED
                                                           else ""), flex=True, max_width=34),
            Column("state", "STATE", 9, lambda d: cell_text(d.state.value, STATE_STYLE.get(d.state, "")),
                   sort=lambda d: list(STATE_STYLE).index(d.state)),
            Column("predictors", "PREDICTORS ready/total traffic", 22, predictors_cell,
                   sort=lambda d: (d.ready - d.replicas, d.replicas), flex=True, max_width=32),
            Column("impl", "IMPLEMENTATION", 16, lambda d: cell_text(first(d).implementation if first(d) else ""),
                   narrow=False),
            Column("model", "MODEL URI", 30, lambda d: cell_text(first(d).model_uri if first(d) else ""), keep_end=True,
                   narrow=False),
            gpu_column(narrow=False),
            when_column(),
            Column("endpoint", "ENDPOINT / WHY", 30, lambda d: self._why_or_endpoint(d), flex=True, narrow=False),
        ]

    def _why_or_endpoint(self, d: ModelDeployment) -> Text:
        why = self.why(d)
        if why:
            return cell_text(why, "yellow" if d.state != DeploymentState.FAILED else "red")
        return cell_text(d.endpoint, "dim")

    def objects(self) -> list[Any]:
        # the stopped ones come without those that run again (the app gives it the state)
        return self.state.deployments(self.scope) + self.app.stopped_deployments(self.scope)  # type: ignore[attr-defined]

    def prepare(self, rows: list[Any]) -> Any:
        return Explainer.from_state(self.state)

    def search_text(self, d: ModelDeployment) -> str:
        return " ".join(f"{p.name} {p.implementation} {p.model_uri}" for p in d.predictors)

    def why(self, d: ModelDeployment) -> str:
        if d.state == DeploymentState.STOPPED:
            return "stopped by the console; t starts it from the saved spec"
        if self.context is None or d.state == DeploymentState.AVAILABLE:
            return ""
        return self.context.deployment(d) or d.reason

    def detail(self, d: ModelDeployment) -> Text:
        t = Text()
        t.append(f"{d.namespace}/{d.name}", "bold")
        t.append(f"  {d.state.value}  replicas {d.ready}/{d.replicas}  protocol {d.protocol}  owner {d.user or '?'}",
                 "dim")
        for p in d.predictors:
            ready = f"{p.ready}/{p.replicas}" if p.ready is not None else f"{p.replicas}"
            t.append(f"\n  {p.name}: {ready} ready{' (own count)' if p.pinned else ''}  {p.implementation} "
                     f"{p.model_uri}  traffic {p.traffic}%  service {p.service}", "dim")
        if d.endpoint:
            t.append(f"\nendpoint {d.endpoint}", "cyan")
        why = self.why(d)
        if why:
            t.append("\nwhy: ", "bold yellow")
            t.append_text(cell_text(why, "yellow", 400))
        return t

    # ------------------------------------------------------------------ drill-down and actions
    def open(self, d: Any) -> None:
        from .pods import PodsScreen
        self.app.push_screen(PodsScreen(self.state, d.namespace, owner=("deployment", d.name),
                                        title=f"Pods of model deployment {d.name}"))

    def action_id_for(self, method: str, obj: Any) -> str | None:
        stopped = obj.state == DeploymentState.STOPPED
        if (method == "start") != stopped:
            return None
        return super().action_id_for(method, obj)

    def _live(self) -> ModelDeployment | None:
        d = self.current()
        if d is not None and d.state == DeploymentState.STOPPED:
            self.notify(f"{d.name} is stopped: t starts it", severity="warning")
            return None
        return d

    def action_scale(self) -> None:
        d = self.current()
        if d is None:
            return

        def check(value: str) -> str:
            return "" if value.strip().isdigit() and int(value) <= 100 else "a whole number of replicas, 0 to 100"

        def chosen(value: str | None) -> None:
            if value is not None:
                self.run_action("scale", {"replicas": int(value)}, obj=d)
        from .modals import AskValue
        follow = [p.name for p in d.predictors if not p.pinned]
        pinned = [f"{p.name} keeps its own {p.replicas}" for p in d.predictors if p.pinned]
        prompt = f"replicas (now {d.scale_replicas}, ready {d.ready} of {d.replicas})"
        if pinned:  # the scale subresource sets spec.replicas; Seldon lets a predictor's own count win
            prompt += f"; sets {', '.join(follow) or 'no predictor'}, " + "; ".join(pinned)
        self.app.push_screen(AskValue(f"Scale {d.namespace}/{d.name}", prompt + ":", str(d.scale_replicas), check),
                             chosen)

    # scale, stop, delete and predict are for running deployments, start for stopped ones: action_id_for
    def action_stop(self) -> None:
        self.run_action("stop")

    def action_start(self) -> None:
        self.run_action("start", on_done=lambda r: self.recompute())

    def action_delete(self) -> None:
        self.run_action("delete")

    def action_predict(self) -> None:
        d = self.current()
        if d is None:
            return
        from .predict import PredictScreen
        self.app.push_screen(PredictScreen(d))

    def action_logs(self) -> None:
        d = self._live()
        if d is None:
            return
        if not any(p.labels.get("seldon-deployment-id") == d.name for p in self.state.pods(d.namespace)):
            self.notify(f"{d.name} has no pods", severity="warning")
            return
        # every pod of it merged, each line prefixed with its pod
        self.app.show_logs("SeldonDeployment", d.namespace, d.name)  # type: ignore[attr-defined]

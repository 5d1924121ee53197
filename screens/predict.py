"""A test prediction: edit a JSON payload, send it to the model's REST endpoint, read the answer."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static, TextArea
from widgets.key_bar import KeyBar

from prophecis_tui.actions import Result, Target
from prophecis_tui.domain import ModelDeployment
from prophecis_tui.forms import predict_path, sample_payload
from prophecis_tui.sanitize import clean

MAX_SHOWN = 64 * 1024


def default_path(d: ModelDeployment) -> str:
    """The path of the deployment's REST endpoint (from its status address), else by protocol."""
    if d.endpoint:
        path = urlsplit(d.endpoint).path.lstrip("/")
        if path:
            return path
    return predict_path(d.protocol, "classifier")


class PredictScreen(Screen):
    BINDINGS = [Binding("ctrl+s", "send", "Send", id="predict.send"),
                Binding("ctrl+r", "sample", "Reset sample", id="predict.sample"),
                Binding("escape", "app.pop_screen", "Back", id="predict.back")]
    DEFAULT_CSS = """
    PredictScreen #title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    PredictScreen Vertical { height: 1fr; }
    PredictScreen #payload { height: 1fr; }
    PredictScreen #response { height: 1fr; }
    PredictScreen #status { height: auto; padding: 0 1; }
    PredictScreen Horizontal { height: auto; }
    PredictScreen #path { width: 1fr; }
    """

    def __init__(self, deployment: ModelDeployment) -> None:
        super().__init__()
        self.d = deployment
        self.predictor = deployment.predictors[0] if deployment.predictors else None

    def _sample(self) -> str:
        impl = self.predictor.implementation if self.predictor else ""
        return json.dumps(sample_payload(impl, self.d.protocol), indent=2)

    def compose(self) -> ComposeResult:
        p = self.predictor
        yield Static(clean(f"Test prediction  {self.d.namespace}/{self.d.name}"
                           + (f"  predictor {p.name} ({p.implementation}, service {p.service})" if p else "")),
                     id="title")
        with Vertical():
            with Horizontal():
                yield Label(" POST path ")
                yield Input(default_path(self.d), id="path")
                yield Button("Send (ctrl+s)", id="send", variant="primary")
            yield TextArea(self._sample(), id="payload", show_line_numbers=True)
            yield Static(Text("edit the JSON payload, then ctrl+s", "dim"), id="status")
            yield TextArea("", id="response", read_only=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#payload", TextArea).focus()

    def action_sample(self) -> None:
        self.query_one("#payload", TextArea).text = self._sample()

    @on(Button.Pressed, "#send")
    def _pressed(self) -> None:
        self.action_send()

    def action_send(self) -> None:
        status = self.query_one("#status", Static)
        try:
            payload = json.loads(self.query_one("#payload", TextArea).text)
        except ValueError as err:
            status.update(Text(f"the payload is not valid JSON: {err}", "bold red"))
            return
        if self.predictor is None:
            status.update(Text("this deployment has no predictor", "bold red"))
            return
        status.update(Text("sending…", "dim"))
        params = {"predictor": self.predictor.name, "service": self.predictor.service,
                  "path": self.query_one("#path", Input).value.strip(), "payload": payload}
        self.app.perform("deployment.predict", Target("SeldonDeployment", self.d.namespace, self.d.name),  # type: ignore[attr-defined]
                         params, on_done=self._answered)

    def _answered(self, result: Result) -> None:
        details = result.details or {}
        code, latency, body = details.get("status"), details.get("latency_ms"), details.get("response", "")
        line = Text()
        if code is None:
            line.append(f"failed: {result.message}", "bold red")
        else:
            line.append(f"HTTP {code}", "bold green" if result.ok else "bold red")
            if latency is not None:
                line.append(f"  {latency:.0f} ms", "bold")
            line.append(f"  {len(body)} bytes", "dim")
        self.query_one("#status", Static).update(line)
        try:
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except (ValueError, TypeError):
            pass
        self.query_one("#response", TextArea).text = clean(str(body)[:MAX_SHOWN], keep_newlines=True)

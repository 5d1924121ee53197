"""Silence an alert on Alertmanager: matchers from the alert's labels to review and edit, a duration, the
author (who you are, not editable) and a comment with a ticket reference.

The form dismisses with the action's params (``matchers``, ``duration``, ``comment``, ``alertmanagers``);
the screen sends them through the action registry, whose confirmation shows the exact call. The
registry's own check of the params (``ActionSpec.validate``: a ticket reference, matchers that select
something, a sane duration) runs here first, so its refusal shows inline and nothing is sent.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from prophecis_tui.actions import Target
from prophecis_tui.alert_actions import parse_duration, silence_matchers_for
from prophecis_tui.domain import Alert, AlertState, SilenceMatcher
from prophecis_tui.sanitize import clean_line

from .resources import now

OPERATORS = [("=", "="), ("!=", "!="), ("=~", "=~"), ("!~", "!~")]
MAX_MATCHERS = 8


def matcher_matches(m: SilenceMatcher, labels: dict[str, str]) -> bool:
    """Alertmanager's reading of one matcher: a missing label is the empty string, regexes are anchored."""
    value = labels.get(m.name, "")
    if m.is_regex:
        try:
            hit = re.fullmatch(m.value, value) is not None
        except re.error:
            return False
    else:
        hit = value == m.value
    return hit if m.is_equal else not hit


def silences_alert(matchers: list[SilenceMatcher], a: Alert) -> bool:
    return bool(matchers) and all(matcher_matches(m, a.labels) for m in matchers)


def to_param(m: SilenceMatcher) -> dict:
    return {"name": m.name, "value": m.value, "is_regex": m.is_regex, "is_equal": m.is_equal}


class MatcherRow(Horizontal):
    """One matcher: on/off, label name, operator, value."""

    DEFAULT_CSS = """
    MatcherRow { height: 1; margin-bottom: 0; }
    MatcherRow Checkbox { width: 5; }
    MatcherRow .name { width: 24; margin-right: 1; }
    MatcherRow Select { width: 8; margin-right: 1; }
    MatcherRow .value { width: 1fr; }
    """

    def __init__(self, name: str = "", value: str = "", *, enabled: bool = True, index: int = 0) -> None:
        super().__init__(id=f"matcher-{index}")
        self.label_name, self.label_value, self.enabled, self.index = name, value, enabled, index

    def compose(self) -> ComposeResult:
        yield Checkbox("", self.enabled, compact=True, id=f"on-{self.index}")
        yield Input(self.label_name, placeholder="label", compact=True, classes="name", id=f"name-{self.index}")
        yield Select(OPERATORS, value="=", allow_blank=False, compact=True, id=f"op-{self.index}")
        yield Input(self.label_value, placeholder="value", compact=True, classes="value", id=f"value-{self.index}")

    def matcher(self) -> SilenceMatcher | None:
        if not self.query_one(Checkbox).value:
            return None
        name = self.query_one(".name", Input).value.strip()
        value = self.query_one(".value", Input).value
        op = str(self.query_one(Select).value)
        return SilenceMatcher(name=name, value=value, is_regex="~" in op, is_equal=not op.startswith("!"))


class SilenceForm(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="silence.cancel"),
                Binding("ctrl+s", "submit", "Review", id="silence.submit"),
                Binding("ctrl+n", "add_matcher", "Add matcher", id="silence.add_matcher")]
    DEFAULT_CSS = """
    SilenceForm { align: center middle; }
    SilenceForm > Vertical { width: 96%; max-width: 110; height: auto; max-height: 100%; padding: 0 1;
                             border: thick $warning; background: $surface; }
    SilenceForm #title { height: auto; }
    SilenceForm .hint { color: $text-muted; height: 1; }
    SilenceForm #matchers { height: auto; margin: 0 0 1 0; }
    SilenceForm .field { height: 1; }
    SilenceForm .field Label { width: 10; }
    SilenceForm .field Input { width: 1fr; }
    SilenceForm #duration { width: 12; }
    SilenceForm #until { width: 1fr; padding-left: 2; color: $text-muted; }
    SilenceForm #review { height: auto; margin-top: 1; }
    SilenceForm #errors { height: auto; color: $error; }
    SilenceForm #buttons { height: 1; align-horizontal: right; margin-top: 1; }
    SilenceForm #buttons Button { margin-left: 2; }
    """

    def __init__(self, alert: Alert, *, author: str, hours: float = 2.0,
                 validate: Callable[[Target, dict], str] | None = None, state: Any = None,
                 labels: list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.alert = alert
        self.author = author
        self.hours = hours
        self.validate = validate
        self.state = state
        # alertname, namespace and the label naming its target (the registry's own choice of them)
        self.start_labels = labels if labels is not None else [(m.name, m.value) for m in silence_matchers_for(alert)]
        self.rows = 0

    def compose(self) -> ComposeResult:
        a = self.alert
        with Vertical():
            title = Text()
            title.append("Silence ", "bold")
            title.append(clean_line(a.name, 60), "bold yellow")
            if a.target:
                title.append(f"  {clean_line(a.target, 80)}", "dim")
            yield Static(title, id="title")
            yield Static("matchers (space turns one on/off; tab moves; edit names, operators, values):", classes="hint")
            with Vertical(id="matchers"):
                for name, value in self.start_labels:
                    yield self._row(name, value)
            with Horizontal(classes="field"):
                yield Label("duration")
                yield Input(self._default_duration(), compact=True, id="duration")
                yield Static("", id="until")
            with Horizontal(classes="field"):
                yield Label("author")
                yield Static(Text(clean_line(self.author, 60), "bold"), id="author")
            with Horizontal(classes="field"):
                yield Label("comment")
                yield Input(placeholder="why, with a ticket reference (e.g. INC12345, OPS-42, #123)", compact=True,
                            id="comment")
            yield Static("", id="review")
            yield Static("", id="errors")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Add matcher (ctrl+n)", id="add", compact=True)
                yield Button("Review (ctrl+s)", id="submit", variant="warning", compact=True)

    def _row(self, name: str = "", value: str = "", enabled: bool = True) -> MatcherRow:
        row = MatcherRow(name, value, enabled=enabled, index=self.rows)
        self.rows += 1
        return row

    def _default_duration(self) -> str:
        hours = self.hours or 2
        return f"{int(hours)}h" if float(hours).is_integer() else f"{int(hours * 60)}m"

    def on_mount(self) -> None:
        self.query_one("#comment", Input).focus()
        self._review()

    # ------------------------------------------------------------------ what the form says
    def matchers(self) -> list[SilenceMatcher]:
        return [m for m in (r.matcher() for r in self.query(MatcherRow)) if m is not None]

    def params(self) -> dict:
        return {"matchers": [to_param(m) for m in self.matchers()],
                "duration": self.query_one("#duration", Input).value.strip(),
                "comment": self.query_one("#comment", Input).value.strip(),
                "alertmanagers": list(self.alert.origins)}

    def problems(self) -> str:
        """Why this cannot be sent: the form's own checks, then the registry's (the same words it refuses with)."""
        matchers = self.matchers()
        if not matchers:
            return "turn on at least one matcher: a silence without matchers would mute everything"
        if any(not m.name for m in matchers):
            return "every matcher needs a label name"
        for m in matchers:
            if m.is_regex:
                try:
                    re.compile(m.value)
                except re.error as err:
                    return f"{m.name}: not a regular expression ({err})"
        if not parse_duration(self.query_one("#duration", Input).value):
            return "duration: a number and a unit, e.g. 30m, 2h, 1d"
        params = self.params()
        if not params["comment"]:
            return "a comment is required: why, with a ticket reference"
        if self.validate is not None:
            return self.validate(Target("Alert", self.alert.namespace, self.alert.name), params) or ""
        return ""

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _review(self) -> None:
        t = Text()
        matchers = self.matchers()
        t.append("will mute  ", "dim")
        t.append(", ".join(clean_line(str(m), 80) for m in matchers) or "(no matcher on)", "bold")
        if self.state is not None and matchers:
            hit = [a for a in self.state.alerts() if a.state != AlertState.RESOLVED and silences_alert(matchers, a)]
            firing = sum(1 for a in hit if a.state in (AlertState.FIRING, AlertState.ACKED))
            t.append(f"\nmatches {len(hit)} alert{'s' if len(hit) != 1 else ''} now ({firing} firing)",
                     "bold yellow" if len(hit) > 1 else "dim")
        where = ", ".join(clean_line(o, 40) for o in self.alert.origins) or "every Alertmanager"
        t.append(f"\non {where}, by {clean_line(self.author, 40)}", "dim")
        self.query_one("#review", Static).update(t)
        length = parse_duration(self.query_one("#duration", Input).value)
        until = "" if not length else (now() + length).astimezone().strftime("until %Y-%m-%d %H:%M")
        self.query_one("#until", Static).update(until or "e.g. 30m, 2h, 1d")
        self.query_one("#errors", Static).update("")

    # ------------------------------------------------------------------ keys
    def action_add_matcher(self) -> None:
        if self.rows >= MAX_MATCHERS:
            return
        row = self._row()
        self.query_one("#matchers", Vertical).mount(row)
        self.call_after_refresh(lambda: row.query_one(".name", Input).focus())

    @on(Button.Pressed, "#add")
    def _add(self) -> None:
        self.action_add_matcher()

    def action_submit(self) -> None:
        why = self.problems()
        if why:
            self.query_one("#errors", Static).update(Text(why))
            return
        self.dismiss(self.params())

    @on(Input.Submitted)
    def _entered(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""Dialogs: confirm an action (with the exact API call and a reason), read a text, ask a number."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static, TextArea
from widgets.key_bar import KeyBar

from prophecis_tui.sanitize import clean


class ConfirmAction(ModalScreen[str | None]):
    """Shows what will be called; asks for a reason when the action destroys something.

    Dismisses with the reason ("" when none is needed) or None when cancelled.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm.cancel")]
    DEFAULT_CSS = """
    ConfirmAction { align: center middle; }
    ConfirmAction > Vertical { width: 90%; max-width: 110; height: auto; padding: 1 2;
                               border: thick $warning; background: $surface; }
    ConfirmAction #call { color: $text-muted; margin: 1 0; }
    ConfirmAction #why { color: $error; height: auto; }
    ConfirmAction Horizontal { height: auto; align-horizontal: right; }
    ConfirmAction Button { margin-left: 2; }
    """

    def __init__(self, title: str, target: str, call: str, *, needs_reason: bool, events: bool = True) -> None:
        super().__init__()
        self.title_text, self.target, self.call, self.needs_reason = title, target, call, needs_reason
        self.events = events  # the action writes a Kubernetes Event with the reason (not a silence, a Linkis kill)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text.assemble((self.title_text, "bold"), " ", (clean(self.target), "bold yellow")))
            yield Static(Text("This will call:\n" + clean(self.call), "dim"), id="call")
            if self.needs_reason:
                yield Input(placeholder="reason (required; goes to the audit trail"
                            + (" and the cluster's events)" if self.events else ")"), id="reason")
            yield Static("", id="why")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self.title_text, id="ok", variant="error" if self.needs_reason else "warning")

    def on_mount(self) -> None:
        if self.needs_reason:
            self.query_one("#reason", Input).focus()
        else:
            self.query_one("#ok", Button).focus()

    def _submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip() if self.needs_reason else ""
        if self.needs_reason and not reason:
            self.query_one("#why", Static).update("a reason is required")
            return
        self.dismiss(reason)

    @on(Input.Submitted, "#reason")
    def _entered(self) -> None:
        self._submit()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_button(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskValue(ModalScreen[str | None]):
    """One value (replicas, a name): validated by the caller's function, which returns an error or ""."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]
    DEFAULT_CSS = """
    AskValue { align: center middle; }
    AskValue > Vertical { width: 70; height: auto; padding: 1 2; border: thick $primary; background: $surface; }
    AskValue #error { color: $error; height: auto; }
    """

    def __init__(self, title: str, prompt: str, value: str = "", check=None) -> None:
        super().__init__()
        self.title_text, self.prompt, self.value, self.check = title, prompt, value, check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, "bold"))
            yield Static(Text(self.prompt), id="prompt")  # Text: names from the cluster are not markup
            yield Input(self.value, id="value")
            yield Static("", id="error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        error = self.check(event.value) if self.check else ""
        if error:
            self.query_one("#error", Static).update(error)
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextView(Screen):
    """A long text (describe, YAML, a log tail) to read and scroll; escape goes back."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="text.back"),
                Binding("w", "wrap", "Wrap", id="text.wrap")]
    DEFAULT_CSS = """
    TextView #title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    TextView TextArea { height: 1fr; border: none; }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        yield Static(clean(self.title_text), id="title")
        yield TextArea(clean(self.text, keep_newlines=True), read_only=True, soft_wrap=False, show_line_numbers=False,
                       id="text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_wrap(self) -> None:
        area = self.query_one(TextArea)
        area.soft_wrap = not area.soft_wrap

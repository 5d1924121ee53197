"""Modal dialogs: help from the binding registry, the namespace picker, the context picker."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

ALL = "\x00all"


class Picker(ModalScreen[str | None]):
    """A filterable list; dismisses with the chosen option's id, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel")]
    DEFAULT_CSS = """
    Picker { align: center middle; }
    Picker > Vertical { width: 60; max-width: 90%; height: auto; max-height: 80%; border: round $accent;
                        background: $surface; padding: 0 1; }
    Picker #title { text-style: bold; height: 1; }
    Picker Input { margin: 0; }
    Picker OptionList { height: auto; max-height: 20; }
    """

    def __init__(self, title: str, options: list[tuple[str, str]], current: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.options = options  # (id, label)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="title")
            yield Input(placeholder="type to filter", id="picker-filter")
            yield OptionList(id="picker-options")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, text: str) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        shown = [(i, label) for i, label in self.options if text.lower() in label.lower()]
        for i, label in shown:
            mark = "● " if i == self.current else "  "
            ol.add_option(Option(Text(mark + label), id=i))
        if shown:
            ids = [i for i, _ in shown]
            ol.highlighted = ids.index(self.current) if self.current in ids else 0

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted is not None and ol.option_count:
            self.dismiss(ol.get_option_at_index(ol.highlighted).id)

    def on_key(self, event) -> None:
        if event.key in ("down", "up"):
            ol = self.query_one(OptionList)
            if ol.option_count:
                cur = ol.highlighted or 0
                ol.highlighted = max(0, min(ol.option_count - 1, cur + (1 if event.key == "down" else -1)))
            event.stop()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key that works, generated from the bindings in force."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 72; max-width: 95%; height: auto; max-height: 90%; border: round $accent;
                            background: $surface; padding: 0 1; overflow-y: auto; }
    """

    def __init__(self, sections: list[tuple[str, list[tuple[str, str, str]]]], commands: list[tuple[str, str]]) -> None:
        super().__init__()
        self.sections = sections
        self.commands = commands

    def compose(self) -> ComposeResult:
        t = Text()
        for title, rows in self.sections:
            t.append(f"{title}\n", "bold underline")
            for key, desc, bid in rows:
                t.append(f"  {key:<12}", "bold")
                t.append(f"{desc}")
                t.append(f"  [{bid}]\n", "dim")
            t.append("\n")
        t.append("Commands (type : then one of)\n", "bold underline")
        for cmd, desc in self.commands:
            t.append(f"  :{cmd:<22}", "bold")
            t.append(f"{desc}\n")
        t.append("\nKeys can be remapped in the config file: [ui.keys] binding-id = \"key\"", "dim")
        with Vertical():
            yield Static(t)

    def action_close(self) -> None:
        self.dismiss(None)

"""The footer: the keys of the screen on view on one line, greyed where not allowed; a click runs the key.

Textual's own Footer mounts one widget per key, and mounts them all again whenever the bindings change (a
screen opens, the cursor lands on an object that allows other actions, a permission answer comes back):
45-60 ms of the UI thread in one piece on a resource screen, measured, the largest single freeze while a
list of 10,000 pods loads. This widget draws the same keys as one line of text: under a millisecond.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

SEPARATOR = "▏"


class KeyBar(Widget):
    """``key description`` for each shown binding of the focused widget, its screen and the app (one per
    action, as Textual's Footer shows them), the command palette's key on the right."""

    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--disabled"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyBar > .keybar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .keybar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .keybar--disabled {
        color: $footer-foreground 40%;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._items: list[tuple[str, str, bool, str]] = []  # (key display, description, enabled, key)
        self._palette: tuple[str, str, bool, str] | None = None
        self._spans: list[tuple[int, int, str]] = []  # (start, end, key): what a click at x runs

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._collect()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen:
            self._collect()

    def _collect(self) -> None:
        active = self.screen.active_bindings
        palette_key = self.app.COMMAND_PALETTE_BINDING if self.app.ENABLE_COMMAND_PALETTE else None
        items, seen = [], set()
        for key, (_node, binding, enabled, _tooltip) in active.items():
            if not binding.show or binding.action in seen or key == palette_key:
                continue
            seen.add(binding.action)
            items.append((self.app.get_key_display(binding), binding.description, enabled, binding.key))
        palette = active.get(palette_key) if palette_key else None
        self._palette = None if palette is None else (
            self.app.get_key_display(palette[1]), palette[1].description, palette[2], palette[1].key)
        if items != self._items or palette != self._palette:
            self._items = items
            self.refresh()

    @property
    def plain(self) -> str:
        """The keys as text (tests)."""
        return self.render().plain

    def render(self) -> Text:
        width = self.size.width or 200
        key_style = self.get_component_rich_style("keybar--key", partial=True)
        desc_style = self.get_component_rich_style("keybar--description", partial=True)
        off_style = self.get_component_rich_style("keybar--disabled", partial=True)
        right = Text(no_wrap=True, end="")
        if self._palette is not None:
            display, description, enabled, _ = self._palette
            right.append(SEPARATOR, off_style)
            right.append(display, key_style if enabled else off_style)
            right.append(f" {description}", desc_style if enabled else off_style)
        room = width - right.cell_len
        line = Text(no_wrap=True, end="", overflow="ellipsis")
        spans: list[tuple[int, int, str]] = []
        for display, description, enabled, key in self._items:
            piece = f" {display} {description} "
            if line.cell_len + cell_len(piece) > room:
                break
            start = line.cell_len
            line.append(f" {display}", key_style if enabled else off_style)
            line.append(f" {description} ", desc_style if enabled else off_style)
            spans.append((start, line.cell_len, key))
        line.append(" " * max(room - line.cell_len, 0))
        if self._palette is not None:
            spans.append((line.cell_len, line.cell_len + right.cell_len, self._palette[3]))
        line.append_text(right)
        self._spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                event.stop()
                self.app.simulate_key(key)  # as if typed: the screen decides, read-only checks included
                return

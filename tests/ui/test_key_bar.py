"""The footer (widgets/key_bar.py): the keys of the screen on view, greyed or hidden as check_action says,
updated when the bindings change, and a click on a key runs it."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from widgets.key_bar import KeyBar


class Keys(Screen):
    BINDINGS = [Binding("d", "describe", "Describe"), Binding("s", "stop", "Stop"), Binding("x", "hidden", "Secret"),
                Binding("z", "quiet", "Quiet", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[str] = []
        self.stop_allowed: bool | None = True

    def compose(self) -> ComposeResult:
        yield Static("body")
        yield KeyBar()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hidden":
            return False
        if action == "stop":
            return self.stop_allowed
        return True

    def action_describe(self) -> None:
        self.ran.append("describe")

    def action_stop(self) -> None:
        self.ran.append("stop")


class KeysApp(App):
    def on_mount(self) -> None:
        self.push_screen(Keys())


async def test_the_bar_shows_the_keys_greys_the_refused_and_hides_the_others():
    app = KeysApp()
    async with app.run_test(size=(80, 5)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        text = bar.render()
        assert "d Describe" in text.plain and "s Stop" in text.plain and "^p palette" in text.plain
        assert "Secret" not in text.plain and "Quiet" not in text.plain
        assert text.plain.rstrip().endswith("palette") and text.cell_len == 80
        stop_style = next(s.style for s in text.spans if text.plain[s.start:s.end].strip() == "s")
        app.screen.stop_allowed = None  # greyed: refused, but shown
        app.screen.refresh_bindings()
        await pilot.pause()
        greyed = bar.render()
        assert "s Stop" in greyed.plain
        assert next(s.style for s in greyed.spans if greyed.plain[s.start:s.end].strip() == "s") != stop_style
        app.screen.stop_allowed = False  # not for this object: gone
        app.screen.refresh_bindings()
        await pilot.pause()
        assert "s Stop" not in bar.render().plain


async def test_a_click_on_a_key_runs_it_as_if_typed():
    app = KeysApp()
    async with app.run_test(size=(80, 5)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        x = bar.render().plain.index("d Describe")
        await pilot.click(KeyBar, offset=(x + 2, 0))
        await pilot.pause()
        assert app.screen.ran == ["describe"]
        app.screen.stop_allowed = False
        app.screen.refresh_bindings()
        await pilot.pause()
        plain = bar.render().plain
        gap = plain.index("▏") - 2
        assert plain[gap] == " "
        await pilot.click(KeyBar, offset=(gap, 0))  # the blank between the keys and the palette: nothing
        await pilot.pause()
        assert app.screen.ran == ["describe"]

"""The console shell against a simulated cluster: overview, namespaces, contexts, filter, keys, health."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from prophecis_tui.domain import Health, LinkisTask
from prophecis_tui.simulator.notebooks import NOTEBOOKS
from screens.overview import OverviewScreen
from widgets.header import StatusHeader

from .conftest import wait_until


async def settle(pilot, cond, tries: int = 200, why=None) -> None:
    """Let the app run until ``cond()`` holds (bounded), without sleeping on a guess. ``why()``: what the failure
    says of the state it was left in."""
    for _ in range(tries):
        await pilot.pause(0.02)
        if cond():
            return
    raise AssertionError("the console did not reach the expected state" + (f": {why()}" if why else ""))


def table(app) -> DataTable:
    return app.screen.query_one("#overview-table", DataTable)


def row_keys(app) -> list[str]:
    return [k.value for k in table(app).rows]


def header(app) -> StatusHeader:
    return app.screen.query_one(StatusHeader)


def tenants(console) -> set[str]:
    return {t.name for t in console.sim.world.tenants}


async def test_overview_lists_every_tenant_namespace_with_counts_from_the_cluster(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, OverviewScreen) and table(app).row_count >= 6)
        assert set(row_keys(app)) == tenants(console)
        state = app.session.state
        rows = {r.namespace: r for r in state.summaries()}
        # what the overview counts agrees with the objects the simulator holds
        store = console.sim.engine.store
        for ns in tenants(console):
            in_sim = console.thread.call(store.count, NOTEBOOKS, ns)
            assert sum(rows[ns].notebooks.values()) == in_sim
        # trouble first: the order of the rows follows the trouble score
        scores = [rows[k].trouble for k in row_keys(app)]
        assert scores == sorted(scores, reverse=True)
        h = header(app)
        assert h.user == "mlss-admin" and h.namespace is None and not h.read_only
        assert app.session.state.source_health("kubernetes").state == Health.LIVE


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
async def test_a_count_that_grows_in_place_widens_its_column_instead_of_being_cut(console, size):
    """The same namespaces in the same order update their cells in place; a count that outgrows its column (a
    tenant's finished jobs reaching 123,456,789) used to be cut to the width the column had."""
    from prophecis_tui.domain import JobState
    app = console.app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, OverviewScreen) and table(app).row_count >= 6)
        screen, t = app.screen, table(app)
        await settle(pilot, lambda: screen._last is not None and "…" not in
                     "".join(t.render_line(y).text for y in range(t.size.height)))
        last = screen._last
        first = last.rows[0]
        grown = first.model_copy(update={"jobs": {**first.jobs, JobState.SUCCEEDED: 123_456_789}})
        screen.post_message(OverviewScreen.Rows([grown, *last.rows[1:]], last.gpus, last.counts, last.whole,
                                                last.loaded, last.panel, last.alerts))
        await settle(pilot, lambda: any("/123456789" in t.render_line(y).text for y in range(t.size.height)),
                     why=lambda: [t.render_line(y).text for y in range(3)])
        assert [k.value for k in t.rows] == [r.namespace for r in last.rows]  # updated in place, not rebuilt


async def test_enter_scopes_the_console_to_a_namespace_and_escape_returns(console):
    app = console.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        first = row_keys(app)[0]
        await pilot.press("enter")
        await settle(pilot, lambda: row_keys(app) == [first])
        assert app.namespace == first and header(app).namespace == first
        await pilot.press("escape")
        await settle(pilot, lambda: table(app).row_count >= 6)
        assert app.namespace is None


async def test_namespace_picker_and_ns_command(console):
    app = console.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        target = sorted(tenants(console))[-1]
        await pilot.press("n")
        await settle(pilot, lambda: app.screen.__class__.__name__ == "Picker")
        await pilot.press(*target)
        await pilot.press("enter")
        await settle(pilot, lambda: app.namespace == target and row_keys(app) == [target])
        await pilot.press("colon")
        await pilot.press(*"ns all")
        await pilot.press("enter")
        await settle(pilot, lambda: app.namespace is None and table(app).row_count >= 6)
        await pilot.press("colon")
        await pilot.press(*"ns nope")
        await pilot.press("enter")
        await pilot.pause()
        assert app.namespace is None


async def test_filter_narrows_the_visible_rows_and_escape_clears_it(console):
    app = console.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        await pilot.press("slash")
        await pilot.press(*"risk")
        await settle(pilot, lambda: row_keys(app) and all("risk" in k for k in row_keys(app)))
        await pilot.press("escape")
        await settle(pilot, lambda: table(app).row_count >= 6)
        assert not app.screen.query_one("#filter-bar", Input).has_class("-open")


async def test_command_bar_history_and_unknown_commands(console):
    app = console.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        for cmd in ("ns all", "nonsense"):
            await pilot.press("colon")
            await pilot.press(*cmd)
            await pilot.press("enter")
        assert app.history == ["ns all", "nonsense"]
        await pilot.press("colon")
        await pilot.press("up")
        assert app.screen.query_one("#command-bar", Input).value == "nonsense"
        await pilot.press("up")
        assert app.screen.query_one("#command-bar", Input).value == "ns all"


async def test_context_switch_changes_identity_without_restarting(console):
    app = console.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        await pilot.press("colon")
        await pilot.press(*"ctx sim-viewer")
        await pilot.press("enter")
        await settle(pilot, lambda: header(app).user == "opsview", tries=500)
        assert app.session.identity.context == "sim-viewer"
        await settle(pilot, lambda: table(app).row_count >= 6)


async def test_a_read_only_context_is_read_only_after_a_switch(console):
    app = console.app(read_only_contexts=("sim-viewer",))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        assert not header(app).read_only
        app.switch_context("sim-viewer")
        await settle(pilot, lambda: header(app).user == "opsview", tries=500)
        assert app.read_only and header(app).read_only and app.session.backend.read_only


async def test_a_refresh_tick_while_the_app_closes_does_nothing(console):
    """The batched refresh's timer may fire once more after the app's screens are gone (it did at the end of a
    run_test on CI: ScreenStackError); a change then is simply not shown."""
    app = console.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
    assert not app.screen_stack
    app.session.state.update_linkis_task(LinkisTask(task_id=1))  # a change the tick would show
    app._tick()


async def test_group_admin_sees_only_its_namespaces(console):
    app = console.app("sim-group-admin")
    async with app.run_test(size=(120, 40)) as pilot:
        ga = set(console.sim.identity("group-admin").namespaces)
        await settle(pilot, lambda: table(app).row_count >= 1, tries=500)
        assert set(row_keys(app)) <= ga
        assert set(app.visible_namespaces()) == ga


async def test_help_is_generated_from_the_bindings_and_keys_can_be_remapped(console):
    app = console.app(keymap={"app.filter": "f"})
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        await pilot.press("f")
        assert app.screen.query_one("#filter-bar", Input).has_class("-open")
        await pilot.press("escape")
        await pilot.press("question_mark")
        await settle(pilot, lambda: app.screen.__class__.__name__ == "HelpScreen")
        text = str(app.screen.query_one("Static").render())
        for bid in ("app.command", "app.filter", "app.namespace", "app.context", "overview.scope"):
            assert bid in text


async def test_read_only_badge(console):
    app = console.app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        assert header(app).read_only
        assert "READ-ONLY" in str(header(app).render())


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_overview_renders_at_both_sizes(console, size):
    app = console.app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        t = table(app)
        assert t.size.width <= size[0]
        assert "READ" not in str(header(app).render())


async def test_header_shows_stale_during_an_outage_then_live(console):
    app = console.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        console.thread.run(lambda: console.sim.go_down(2.0))
        await settle(pilot, lambda: "stale since" in str(header(app).render()), tries=750)
        assert table(app).row_count >= 6  # the data stays on screen
        await settle(pilot, lambda: "kubernetes live" in str(header(app).render()), tries=1500)


def test_header_follows_source_health_through_an_outage(console):
    """The watch path recovers by itself: stale while the API is down, live again after."""
    s = console.session()
    console.thread.run(lambda: console.sim.go_down(2.0))
    wait_until(lambda: s.state.source_health("kubernetes").state in (Health.STALE, Health.FAILING), 15)
    assert s.state.source_health("kubernetes").state == Health.STALE  # data kept, marked stale
    assert s.state.count("pods") > 0
    wait_until(lambda: s.state.source_health("kubernetes").state == Health.LIVE, 30)


async def test_high_contrast_theme_and_no_color(console, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = console.app(theme="high-contrast")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        assert app.theme == "high-contrast"
        assert app.no_color  # Textual renders monochrome


async def test_palette_switches_namespace(console):
    app = console.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: table(app).row_count >= 6)
        target = sorted(tenants(console))[0]
        await pilot.press("ctrl+p")
        await settle(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette")
        await pilot.press(*f"Namespace: {target}")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot, lambda: app.namespace == target)

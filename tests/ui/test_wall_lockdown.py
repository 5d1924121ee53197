"""The wall is locked down: every key the console answers to does nothing there (no screen, no command bar, no
palette) and no change reaches the simulated platform; its sources going silent turn its panels stale and raise
the dead man's banner, which clears when they come back."""

from __future__ import annotations

import importlib
import os
import inspect
import pkgutil

from textual.binding import Binding
from textual.dom import DOMNode

import screens
import widgets
from prophecis_tui.actions import Actions
from prophecis_tui.app import ProphecisApp
from prophecis_tui.freshness import Freshness
from tests.conftest import wait_until
from tests.ui.test_console import settle

QUIT_KEYS = {"q", "ctrl+q", "ctrl+c"}
PAGING_KEYS = {"space", "right", "pagedown", "left", "pageup"}


def console_keys() -> set[str]:
    """Every key a binding of the console binds: the app's, every screen's and every widget's, Textual's own."""
    classes: list[type] = [ProphecisApp]
    for pkg in (screens, widgets):
        for mod in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"{pkg.__name__}.{mod.name}")
            classes += [c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, DOMNode)]
    keys: set[str] = {"ctrl+p", "tab", "shift+tab", "enter", "escape", "up", "down", "home", "end"}
    for cls in classes:
        for klass in cls.__mro__:
            for b in klass.__dict__.get("BINDINGS", []):
                key = b.key if isinstance(b, Binding) else b[0]
                keys.update(k.strip() for k in key.split(","))
    return keys


def wall_session(console, **kw):
    """A session as ``prophecis-tui wall`` connects it: read-only, a registry without a single action."""
    s = console.session(read_only=True, **kw)
    s.actions = Actions(s.backend, console.audit, s.identity, read_only=True)
    return s


def wall_app(console, session, **kw) -> ProphecisApp:
    return ProphecisApp(session, contexts=["sim-admin", "sim-group-admin", "sim-viewer"],
                        connect=lambda c: console.session(c), wall=True, **kw)


def audited(console) -> int:
    return len(console.audit.records())


def sim_writes(console) -> tuple[list, list]:
    api = console.sim.api
    return console.thread.call(lambda: (list(api.writes), [w for w in api.service_writes if "/login" not in w[1]]))


async def test_no_key_of_the_console_changes_anything_on_the_wall(console):
    console.alerts = True
    console.linkis = True
    session = wall_session(console)
    assert session.backend.read_only and session.actions.read_only and not session.actions.ids()
    app = wall_app(console, session)
    keys = sorted(console_keys() - QUIT_KEYS - PAGING_KEYS)
    for k in ("ctrl+d", "s", "ctrl+k", "S", "E", "a", "c", "colon", "slash", "question_mark", "n", "ctrl+p"):
        assert k in keys, k  # the console's own keys are among those pressed
    before = sim_writes(console)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: type(app.screen).__name__ == "WallScreen")
        wall = app.screen
        depth = len(app.screen_stack)
        for key in keys:
            await pilot.press(key)
            assert app.screen is wall and len(app.screen_stack) == depth, f"{key} opened something on the wall"
            assert app.focused is None or not app.focused.__class__.__name__ == "Input", f"{key} opened an input"
        await pilot.press(*(["colon", "n", "s", " ", "a", "l", "l", "enter"]))  # :ns all, typed blind
        await pilot.pause(0.2)
        assert app.screen is wall and not app.screen.query("#command-bar")
        assert app.read_only and session.read_only
        app.perform("notebook.stop", None)  # type: ignore[arg-type]  # an action asked for directly: refused
        await pilot.pause(0.1)
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running  # q quits
    assert sim_writes(console) == before == ([], []), "a change reached the simulated platform"
    assert audited(console) == 0


async def test_paging_keys_work_and_nothing_can_switch_read_only_off(console):
    session = wall_session(console)
    app = wall_app(console, session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: type(app.screen).__name__ == "WallScreen")
        wall = app.screen
        await settle(pilot, lambda: len(wall.pages) > 1)  # 80x24: the panels do not all fit
        first = wall.page
        await pilot.press("space")
        await settle(pilot, lambda: wall.page != first)
        await pilot.press("left")
        await settle(pilot, lambda: wall.page == first)
        app.read_only = False  # even a change of the flag: the registry and the backend still refuse
        assert session.backend.read_only and session.actions.read_only
        assert not app.check_action("command", ()) and not app.check_action("pick_context", ())
        assert app.check_action("quit", ())


def fast_freshness(app: ProphecisApp, **expected: float) -> Freshness:
    return Freshness(expected, started=app.session.state.now())


def banner(app) -> str:
    return app.screen.banner or ""


async def test_a_silent_platform_turns_the_panels_stale_and_raises_the_banner_until_it_returns(console):
    console.metrics = {}
    console.alerts = True
    console.sim.api.bookmark_interval = 0.1  # a quiet cluster still speaks every 0.1 s
    session = wall_session(console)
    app = wall_app(console, session, wall_deadman=1.0)
    app.freshness = Freshness({"kubernetes": 0.4, "metrics": 0.2, "alerts": 0.2}, started=session.state.now())
    async with app.run_test(size=(320, 90)) as pilot:
        await settle(pilot, lambda: type(app.screen).__name__ == "WallScreen")
        wall = app.screen
        headline = wall.panel("headline")
        await settle(pilot, lambda: "updated" in str(headline.border_subtitle), tries=500)
        assert not banner(app)
        from tests.simulator.test_faults import admin
        assert admin(console, "faults", {"down_seconds": 5}).status_code == 200
        # what the wall showed while the platform was down, each seen at some point of the 5 s (on a loaded
        # machine the steps came one after the other too late: the outage was over before the last was looked for)
        seen: set[str] = set()

        def watch() -> bool:
            sub, text = str(headline.border_subtitle), banner(app)
            seen.update(name for name, shown in (
                ("stale or dead", "STALE" in sub or "NO DATA" in sub), ("dead", "NO DATA SINCE" in sub),
                ("banner", "kubernetes: no data since" in text and "metrics" in text and "alerts" in text
                 and wall.query_one("#wall-banner").display),  # on screen, full width
            ) if shown)
            return len(seen) == 3
        await settle(pilot, watch, tries=750, why=lambda: f"seen only {sorted(seen)}")
        assert session.state.nodes()  # the last values stay
        await settle(pilot, lambda: not banner(app), tries=1500)  # the simulator is back: the feeds reconnect
        await settle(pilot, lambda: str(headline.border_subtitle).startswith("updated"), tries=500)


async def test_an_alertmanager_that_fails_raises_the_banner_for_the_alerts_alone(console):
    console.alerts = True
    console.sim.api.bookmark_interval = 0.1
    session = wall_session(console)
    app = wall_app(console, session, wall_deadman=1.0)
    app.freshness = Freshness({"kubernetes": 0.4, "alerts": 0.2}, started=session.state.now())
    from tests.simulator.test_faults import admin
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot, lambda: type(app.screen).__name__ == "WallScreen")
        alerts = app.screen.panel("alerts")
        await settle(pilot, lambda: "updated" in str(alerts.border_subtitle), tries=500)
        assert admin(console, "faults", {"alertmanager_error": 503}).status_code == 200
        await settle(pilot, lambda: "alerts: no data since" in banner(app), tries=500)
        assert "kubernetes" not in banner(app)
        await settle(pilot, lambda: "NO DATA SINCE" in str(alerts.border_subtitle), tries=200)  # its next mark
        assert admin(console, "faults", {"alertmanager_error": 0}).status_code == 200
        await settle(pilot, lambda: not banner(app), tries=500)


# ------------------------------------------------------------------------------------------ prophecis-tui wall
def test_the_wall_command_connects_read_only_without_actions_and_wires_every_source(console, monkeypatch, tmp_path):
    """``prophecis-tui wall`` as cli.main runs it (the app's run replaced by a look at what it was given): every
    source a panel shows (Kubernetes, metrics, alerts, CMDB) is wired, not Linkis (no panel shows its tasks), and no
    action is registered."""
    from prophecis_tui import cli
    seen: dict = {}

    def look(app, *a, **kw):
        s = app.session
        seen.update(wall=app.wall, read_only=(app.read_only, s.read_only, s.backend.read_only, s.actions.read_only),
                    actions=s.actions.ids(), panels=app.wall_panels, rotate=app.wall_rotate,
                    sources=sorted(app.wall_freshness().keys), refresh=app.wall_refresh,
                    metrics_every=s.metrics.interval if s.metrics is not None else None,
                    pollers=(s.metrics is not None, s.alerts is not None, s.cmdb is not None,
                             s.linkis_poller is not None))
        s.stop()  # as the app's unmount does
    monkeypatch.setattr(ProphecisApp, "run", look)
    monkeypatch.setattr(cli, "terminal_hung_up", lambda fd: False)
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    config = console.kubeconfig.parent / "config.toml"
    assert cli.main(["wall", "--config", str(config), "--panels", "headline,alerts", "--rotate", "30"]) == 0
    assert seen["wall"] and seen["read_only"] == (True, True, True, True) and seen["actions"] == []
    assert seen["panels"] == ["headline", "alerts"] and seen["rotate"] == 30
    assert seen["pollers"] == (True, True, True, False)
    assert seen["sources"] == ["alerts", "cmdb", "kubernetes", "metrics"]
    # [ui] wall_refresh_seconds (default 5): the figures' pace and the GPU metrics' (the console's every second)
    assert seen["refresh"] == 5.0 and seen["metrics_every"] == 5.0
    assert cli.main(["wall", "--config", str(config), "--panels", "gpus"]) == 2  # a panel that does not exist


def test_the_wall_waits_for_an_api_server_that_does_not_answer(console, monkeypatch, tmp_path):
    """The console refuses an unreachable cluster at start; the wall starts all the same (its feeds retry)."""
    import yaml
    from prophecis_tui import cli
    cfg = yaml.safe_load(console.kubeconfig.read_text())
    cfg["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    dead = tmp_path / "dead"
    dead.write_text(yaml.safe_dump(cfg))
    seen: dict = {}

    def look(app, *a, **kw):
        seen.update(wall=app.wall, context=app.session.identity.context)
        app.session.stop()
    monkeypatch.setattr(ProphecisApp, "run", look)
    monkeypatch.setattr(cli, "terminal_hung_up", lambda fd: False)
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("PROPHECIS_TUI_CONFIG", raising=False)
    assert cli.main(["wall", "--kubeconfig", str(dead), "--context", "sim-admin"]) == 0
    assert seen == {"wall": True, "context": "sim-admin"}


def test_a_wall_started_before_its_cluster_finds_the_gpu_metrics_once_it_answers(console, monkeypatch, tmp_path):
    """After a power cut the wall may come up before the cluster: its metrics ('auto': looked for in the cluster)
    could not be found then; they are looked for again until found, and the heat map's source starts."""
    from prophecis_tui import cli
    monkeypatch.setattr(cli.MetricsDiscovery, "RETRY", (0.5,))
    config = tmp_path / "config.toml"  # no [metrics]: 'auto', found through the API server
    config.write_text(f'kubeconfig = "{console.kubeconfig}"\ncontext = "sim-admin"\n')
    seen: dict = {}

    def look(app, *a, **kw):
        s = app.session
        seen["at_start"] = s.metrics is not None
        wait_until(lambda: s.metrics is not None, timeout=60, what="the metrics source found")
        seen.update(tries=s.discovery.tries, note=s.metrics_note)
        wait_until(lambda: s.state.gpus(), timeout=30, what="GPU numbers")
        app.freshness = app.wall_freshness()
        app.freshness.expected.pop("metrics", None)  # as the wall had it at start, without a source
        app._wall_watch()  # its next second: the source found late is expected from now on
        seen["expected"] = app.freshness.expected.get("metrics")
        s.stop()
        s.discovery._thread.join(5)
        seen["discovery_ended"] = not s.discovery._thread.is_alive()
    monkeypatch.setattr(ProphecisApp, "run", look)
    monkeypatch.setattr(cli, "terminal_hung_up", lambda fd: False)
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    console.thread.run(lambda: console.sim.go_down(3.0))  # the cluster is away when the wall starts
    assert cli.main(["wall", "--config", str(config)]) == 0
    assert seen["at_start"] is False and seen["tries"] >= 1
    assert seen["expected"] == 5.0 and seen["discovery_ended"]  # [ui] wall_refresh_seconds


def test_an_app_without_a_clock_does_not_keep_the_last_apps(console):
    """The screens' clock is the app's: a wall made after a console on the simulator's frozen clock reads real time
    (it kept the frozen 10:00, and its panels' 'updated' never moved on)."""
    from datetime import datetime, timezone

    from screens import resources
    console.app()  # on the simulator's clock, frozen at 10:00
    assert resources.now() == console.sim_now()
    wall_app(console, wall_session(console))
    assert abs((resources.now() - datetime.now(timezone.utc)).total_seconds()) < 5

"""Child of `make bench`: the console's `:pods` table on a running simulator (headless, 200x50); prints JSON.

Measures, from process start: the first screenful of pods and the complete table (every pod the
simulator holds); the longest stall of the UI's event loop while loading; then, with --churn, while
the simulator is pushed through simulated hours (a burst of watch events), how many events per second
the state absorbs and how long a key press takes to show on screen (key delivered as the terminal
driver delivers it, until the table has redrawn the line the cursor moved to).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import sys
import threading
import time
import urllib.request

T0 = time.monotonic()


class LagMonitor:
    """The event loop's longest stall: a 10 ms sleep that wakes late means the UI was frozen that long."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.task: asyncio.Task | None = None
        self.long: list[tuple[float, float]] = []  # (seconds since process start, stall) for stalls over 50 ms

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            late = time.monotonic() - t - 0.01
            self.worst = max(self.worst, late)
            if late > 0.05:
                self.long.append((round(t - T0, 2), round(late * 1000)))

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())


async def key_to_screen(app, table, key: str) -> float:
    """Seconds from a key arriving (as the terminal driver delivers it) to the table redrawing the line the
    cursor moved to. Pilot's press() is not used: it waits for the whole process to go idle, which under
    churn it never does, and that wait would be counted."""
    from textual import events

    before = table.cursor
    drawn = asyncio.Event()
    render = table.render_line

    def watching(y: int):
        strip = render(y)
        if table.cursor != before and y == table.cursor - table.scroll_offset.y + 1:  # +1: the header line
            drawn.set()
        return strip

    table.render_line = watching
    try:
        t = time.monotonic()
        event = events.Key(key, None)
        event.set_sender(app)
        app._driver.send_message(event)
        await asyncio.wait_for(drawn.wait(), 30)
        return time.monotonic() - t
    finally:
        del table.render_line


def admin(server: str, token: str, body: dict) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(f"{server}/sim/admin/clock", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(req, context=ctx, timeout=120).read()


async def main(kubeconfig: str, expected_pods: int, churn: bool) -> dict:
    from backends.kubernetes import Kubernetes
    from prophecis_tui.app import ProphecisApp, Session
    from prophecis_tui.feeds import Feeds, tune_interpreter
    from prophecis_tui.state import State
    from screens.pods import PodsScreen
    from widgets.resource_table import ResourceTable

    tune_interpreter()  # as `prophecis-tui` does after its imports
    lag = LagMonitor()
    lag.start()
    backend = Kubernetes.from_kubeconfig(kubeconfig, "sim-admin")
    state = State()
    feeds = Feeds(backend, state)
    feeds.start()
    app = ProphecisApp(Session(backend, state, feeds, backend.identity()))
    out: dict = {}
    async with app.run_test(size=(200, 50)):
        app.run_command("pods")
        first = None
        while True:
            await asyncio.sleep(0.005)  # not pilot.pause(): it forces a screen update each time
            if not isinstance(app.screen, PodsScreen):
                continue
            table = app.screen.query_one(ResourceTable)
            if first is None and table.row_count:
                first = time.monotonic() - T0
            pods_live = any(f.resource.name == "pods" and f.live for f in feeds.feeds)
            if pods_live and app.screen.loaded and table.row_count >= min(expected_pods, state.count("pods")) \
                    and table.row_count == state.count("pods"):
                break
        out["first_screen_s"] = first
        out["complete_s"] = time.monotonic() - T0
        out["load_worst_stall_ms"] = lag.worst * 1000
        out["load_stalls_over_50ms"] = list(lag.long)
        out["rows"] = table.row_count
        from tests.bench import rss_kib
        import os
        out["rss_kib"] = rss_kib(os.getpid())[0]
        if not churn:
            return out

        # churn: simulated hours in bursts; key presses meanwhile
        import yaml
        cfg = backend._api.configuration
        kc = yaml.safe_load(open(kubeconfig))  # the admin token, for the simulator's clock (never printed)
        user = next(c["context"]["user"] for c in kc["contexts"] if c["name"] == "sim-admin")
        token = next(u["user"]["token"] for u in kc["users"] if u["name"] == user)
        v0, t0 = state.version, time.monotonic()
        stop = threading.Event()

        def advance() -> None:
            while not stop.is_set():
                admin(cfg.host, token, {"advance": 300})

        worker = threading.Thread(target=advance, daemon=True)
        lag.worst = 0.0
        worker.start()
        presses = []
        for i in range(40):
            presses.append(await key_to_screen(app, table, "down" if i % 2 == 0 else "up"))
            await asyncio.sleep(0.1)
        stop.set()
        worker.join(120)
        secs = time.monotonic() - t0
        out["churn_events_per_s"] = (state.version - v0) / secs
        out["churn_key_to_screen_ms_median"] = statistics.median(presses) * 1000
        out["churn_key_to_screen_ms_max"] = max(presses) * 1000
        out["churn_worst_stall_ms"] = lag.worst * 1000
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:] == ["--churn"]))), flush=True)

"""Child of `make bench`: the console's `:pods` table on a running simulator (headless, 200x50); prints JSON.

Measures, from process start: the first screenful of pods and the complete table (every pod the
simulator holds); the longest stall of the UI's event loop while loading; then, while the
simulator is pushed through simulated hours (a burst of watch events), how many events per second
the state absorbs and how long a key press takes to show on screen.
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

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.monotonic() - t - 0.01)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())


def admin(server: str, token: str, body: dict) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(f"{server}/sim/admin/clock", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(req, context=ctx, timeout=120).read()


async def main(kubeconfig: str, expected_pods: int) -> dict:
    from backends.kubernetes import Kubernetes
    from prophecis_tui.app import ProphecisApp, Session
    from prophecis_tui.feeds import Feeds
    from prophecis_tui.state import State
    from screens.pods import PodsScreen
    from widgets.resource_table import ResourceTable

    lag = LagMonitor()
    lag.start()
    backend = Kubernetes.from_kubeconfig(kubeconfig, "sim-admin")
    state = State()
    feeds = Feeds(backend, state)
    feeds.start()
    app = ProphecisApp(Session(backend, state, feeds, backend.identity()))
    out: dict = {}
    async with app.run_test(size=(200, 50)) as pilot:
        app.run_command("pods")
        first = None
        while True:
            await pilot.pause(0.005)
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
        out["rows"] = table.row_count
        from tests.bench import rss_kib
        import os
        out["rss_kib"] = rss_kib(os.getpid())[0]

        # churn: simulated hours in bursts; key presses meanwhile
        import yaml
        cfg = backend._api.configuration
        kc = yaml.safe_load(open(kubeconfig))  # the admin token, for the simulator's clock (never printed)
        user = next(c["context"]["user"] for c in kc["contexts"] if c["name"] == "sim-admin")
        token = next(u["user"]["token"] for u in kc["users"] if u["name"] == user)
        v0, t0 = state.version, time.monotonic()
        stop = threading.Event()

        def churn() -> None:
            while not stop.is_set():
                admin(cfg.host, token, {"advance": 300})

        worker = threading.Thread(target=churn, daemon=True)
        lag.worst = 0.0
        worker.start()
        presses = []
        for i in range(40):
            before = table.cursor
            t = time.monotonic()
            await pilot.press("down" if i % 2 == 0 else "up")
            while table.cursor == before:
                await pilot.pause(0.001)
            await pilot.pause()  # the screen redrawn
            presses.append(time.monotonic() - t)
            await pilot.pause(0.1)
        stop.set()
        worker.join(120)
        secs = time.monotonic() - t0
        out["churn_events_per_s"] = (state.version - v0) / secs
        out["churn_key_to_screen_ms_median"] = statistics.median(presses) * 1000
        out["churn_key_to_screen_ms_max"] = max(presses) * 1000
        out["churn_worst_stall_ms"] = lag.worst * 1000
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))), flush=True)

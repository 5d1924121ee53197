"""Child of `make bench`: the console (headless, 200x50) against a running simulator; prints JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

T0 = time.monotonic()


async def main(kubeconfig: str, expected_rows: int) -> dict:
    from textual.widgets import DataTable

    from backends.kubernetes import Kubernetes
    from prophecis_tui.app import ProphecisApp, Session
    from prophecis_tui.feeds import Feeds, tune_interpreter
    from prophecis_tui.state import State
    imported = time.monotonic() - T0
    tune_interpreter()  # as `prophecis-tui` does after its imports
    backend = Kubernetes.from_kubeconfig(kubeconfig, "sim-admin")
    state = State()
    feeds = Feeds(backend, state)
    feeds.start()
    app = ProphecisApp(Session(backend, state, feeds, backend.identity()))
    async with app.run_test(size=(200, 50)):
        while True:
            await asyncio.sleep(0.01)  # not pilot.pause(): it forces a screen update each time
            try:
                table = app.screen.query_one("#overview-table", DataTable)
            except Exception:
                continue
            if feeds.planned.is_set() and all(f.live for f in feeds.feeds) and table.row_count >= expected_rows:
                break
        ready = time.monotonic() - T0
        from tests.bench import rss_kib
        cur, peak = rss_kib(os.getpid())
        return {"imports_s": imported, "ready_s": ready, "rss_kib": cur, "peak_kib": peak,
                "pods": state.count("pods"), "rows": table.row_count}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))), flush=True)

"""Child of `make bench`: the `:gpu` screen on `large` (2,000 GPUs), its metrics polled every second; prints JSON.

Measures the console's CPU while the GPU screen is on view and refreshing: process CPU time over wall time,
in % of one core, over ``seconds`` once every GPU is on screen. The source is the simulator's dcgm-exporter,
scraped directly (the parse of 12,000 series a second is part of the figure); the business systems are the
simulator's CMDB, read as the demo reads it (which systems each GPU serves is worked out every poll).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread, by name (Linux /proc)."""
    import os
    import threading
    out = {}
    for t in threading.enumerate():
        try:
            f = open(f"/proc/self/task/{t.native_id}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        out[t.name] = out.get(t.name, 0.0) + (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return out


async def main(kubeconfig: str, seconds: float, cmdb_on: bool = True) -> dict:
    from backends.kubernetes import Kubernetes
    from prophecis_tui.app import ProphecisApp, Session
    from prophecis_tui.cli import metrics_backend
    from prophecis_tui.config import MetricsSettings
    from prophecis_tui.feeds import Feeds, MetricsPoller, tune_interpreter
    from prophecis_tui.state import State
    from screens.gpu import GpuScreen

    tune_interpreter()  # as `prophecis-tui` does after its imports
    backend = Kubernetes.from_kubeconfig(kubeconfig, "sim-admin")
    state = State()
    feeds = Feeds(backend, state)
    feeds.start()
    source, _ = metrics_backend(MetricsSettings(), str(Path(kubeconfig).parent))
    poller = MetricsPoller(source, state, interval=1.0)
    poller.start()
    from prophecis_tui.app import cmdb_poller  # the simulator's CMDB, as the demo reads it: the business systems
    from prophecis_tui.config import CmdbSettings
    from prophecis_tui.store import CMDB_FILE, CmdbStore
    store_dir = tempfile.mkdtemp()
    cmdb = cmdb_poller(CmdbSettings(), state, CmdbStore(Path(store_dir) / CMDB_FILE),
                       demo_dir=str(Path(kubeconfig).parent)) if cmdb_on else None
    session = Session(backend, state, feeds, backend.identity(), metrics=poller, cmdb=cmdb)
    app = ProphecisApp(session)
    out: dict = {}
    async with app.run_test(size=(200, 50)):
        app.run_command("gpu")
        while not (isinstance(app.screen, GpuScreen) and app.screen.table.row_count >= 2000
                   and all(f.live for f in feeds.feeds) and feeds.planned.is_set() and (state.business_systems() or not cmdb_on)):
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)  # the first lists' aftermath settles
        polls0 = poller.polls
        threads0 = thread_cpu()
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        threads1 = thread_cpu()
        by = {}
        for name, t in threads1.items():
            group = "main" if name == "MainThread" else "metrics" if name == "metrics-poller" else \
                "workers" if name.startswith(("asyncio", "ThreadPool")) else "feeds" if name.startswith("feed") else "other"
            by[group] = by.get(group, 0.0) + t - threads0.get(name, 0.0)
        out["cpu_pct_by_thread"] = {k: round(100 * v / wall, 1) for k, v in sorted(by.items())}
        out["gpus"] = app.screen.table.row_count
        out["cpu_pct_of_one_core"] = 100 * cpu / wall
        out["polls_per_s"] = (poller.polls - polls0) / wall
        out["last_recompute_ms"] = app.screen._cost * 1000
        out["business_systems"] = len(state.business_systems())
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 20.0,
                                      "--no-cmdb" not in sys.argv))), flush=True)

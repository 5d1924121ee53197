"""Run the simulator in a background thread, for tests and benchmarks that use synchronous clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class SimThread:
    """``with SimThread(scale="tiny", speed=0) as sim: ...`` serves on a free loopback port.

    ``call(fn)`` runs ``fn`` on the simulator's loop (where every change to the world must
    happen) and returns its result; ``advance(s)`` moves simulated time on and lets the
    controllers act.
    """

    def __init__(self, scale: str = "tiny", seed: int = 42, *, speed: float = 0.0, start_time: float | None = None,
                 activity: bool = False) -> None:
        self._args = dict(scale=scale, seed=seed, speed=speed, start_time=start_time, activity=activity)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="prophecis-sim", daemon=True)
        self.sim: Any = None
        self.url = ""

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def __enter__(self) -> "SimThread":
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        try:
            fut.result(timeout=300)
        except BaseException:
            self._shutdown()  # a failed start must not leave the loop thread running
            raise
        return self

    async def _start(self) -> None:
        from .sim import Simulation
        self.sim = Simulation(**self._args)
        await self.sim.start("127.0.0.1", 0)
        self.url = self.sim.url

    def __exit__(self, *exc: object) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        try:
            if self.sim is not None and self.sim._runner is not None:
                asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as err:  # handed to the caller's thread
                fut.set_exception(err)
        self.loop.call_soon_threadsafe(run)
        return fut.result(timeout=60)

    def run(self, coro_fn: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop).result(timeout=60)

    def advance(self, seconds: float) -> None:
        self.call(self.sim.engine.advance, seconds)

    def token(self, role: str = "admin") -> str:
        return self.sim.identity(role).token

    def write_config(self, directory: str | Path) -> Path:
        return self.call(self.sim.write_config, directory)

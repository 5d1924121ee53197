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


class _Clock:
    """The child's simulated clock as the parent last heard it (exact while the simulator's speed is 0: it moves only
    when the parent asks)."""

    def __init__(self) -> None:
        self.at = 0.0

    def now(self) -> float:
        return self.at


class SimProcess:
    """``SimThread`` in a child process, so that a test can tell the console's memory and CPU from the simulator's.

    ``call(fn, *args)`` runs ``fn(thread, *args)`` in the child, where ``thread`` is its ``SimThread``; ``fn`` must be
    a module-level function (it is pickled by name) and its result picklable. ``sim.clock.now()`` is the simulated
    time after the last call; ``pid`` is the child's.
    """

    def __init__(self, scale: str = "tiny", seed: int = 42, *, speed: float = 0.0, start_time: float | None = None,
                 activity: bool = False) -> None:
        self._args = dict(scale=scale, seed=seed, speed=speed, start_time=start_time, activity=activity)
        self._lock = threading.Lock()
        self.sim = type("RemoteSim", (), {})()
        self.sim.clock = _Clock()
        self.url = ""
        self.process: Any = None

    def __enter__(self) -> "SimProcess":
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")  # not fork: the parent runs threads
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_child, args=(child, self._args), name="prophecis-sim", daemon=True)
        self.process.start()
        child.close()
        if not self._conn.poll(300):
            self._shutdown()
            raise TimeoutError("the simulator's process did not start")
        self.url = self._answer()
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def _answer(self) -> Any:
        try:
            kind, value, now = self._conn.recv()
        except EOFError:
            self.process.join(timeout=5)
            raise RuntimeError(f"the simulator's process ended (exit code {self.process.exitcode})") from None
        self.sim.clock.at = now
        if kind == "error":
            raise RuntimeError(f"in the simulator's process: {value}")
        return value

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            self._conn.send((fn, args))
            if not self._conn.poll(120):  # its late answer would be taken for the next call's: the child goes
                self.process.kill()
                raise TimeoutError(f"the simulator's process did not answer {fn.__name__}")
            return self._answer()

    def advance(self, seconds: float) -> None:
        self.call(_advance, seconds)

    def write_config(self, directory: str | Path) -> Path:
        return self.call(_write_config, str(directory))

    def __exit__(self, *exc: object) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        try:
            with self._lock:
                self._conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=15)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._conn.close()


def _advance(thread: SimThread, seconds: float) -> None:
    thread.advance(seconds)


def _write_config(thread: SimThread, directory: str) -> Path:
    return thread.write_config(directory)


def _child(conn: Any, args: dict) -> None:
    with SimThread(**args) as thread:
        clock = thread.sim.clock
        conn.send(("ok", thread.url, clock.now()))
        while True:
            try:
                msg = conn.recv()
            except EOFError:
                return
            if msg is None:
                return
            fn, fargs = msg
            try:
                conn.send(("ok", fn(thread, *fargs), clock.now()))
            except BaseException as err:  # told to the parent, the child goes on
                conn.send(("error", f"{type(err).__name__}: {err}", clock.now()))

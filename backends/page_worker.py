"""List pages parsed in a child process, so that 10,000 pods do not take the UI's GIL.

Why: the console's process has one GIL. Decoding and parsing a page of 500 pods costs ~45 ms of
Python; over twenty pages, the UI thread waits for the GIL behind it and freezes in 20 ms steps.
Unpickling the same page's domain objects costs ~3.5 ms. So pages after the first go, raw, to a child
process (``python -m backends.page_worker``) that decodes them with orjson, answers the page's
``metadata`` at once (the caller fetches the next page with its ``continue`` meanwhile) and then the
parsed objects, pickled.

- Only raw page bytes and resource names cross the pipe: no credential, no transport. The HTTP
  request, its authentication and its errors stay with ``backends.kubernetes``.
- The parsers are the same functions (``backends.kubernetes.KINDS``); a page parsed here equals the
  page parsed in-process.
- Lazy: the child starts at the first list with a second page (a small cluster never starts it) and
  answers ``ready`` after its imports; until then the caller parses in-process.
- It never takes the console down: a child that cannot start, dies or answers garbage makes every
  waiting job fail with ``WorkerGone``; the caller then parses that page itself (it keeps the raw
  bytes until the answer came) and this worker stays off.
- The child ignores SIGINT (the terminal's Ctrl-C is the console's) and exits when its stdin closes,
  which happens when the console exits however it exits. Its stderr goes nowhere: it must never
  write onto the console's screen.

Frames, both ways: 8-byte big-endian length, then a pickle. Requests ``(id, resource, raw)``;
answers ``("ready",)``, ``(id, "meta", resourceVersion, continue)``, ``(id, "items", [objects])``,
``(id, "error", kind, text)`` with kind ``not-json`` or ``parser``.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from typing import Any

log = logging.getLogger(__name__)
_LEN = struct.Struct(">Q")
START_TIMEOUT = 10.0  # seconds for the child's imports before it is given up
NICE = 5  # the child yields the CPU to the console's UI when the machine has fewer cores than busy processes


class WorkerGone(Exception):
    """The child cannot answer (not started, died, closed); parse the page in-process."""


class PageError(Exception):
    """The child read the page and it is not a JSON object (``kind`` 'not-json') or a parser failed."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind


class Job:
    """One page in the child: ``meta()`` first (as soon as it is decoded), then ``items()``."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw  # kept until the answer came: the fallback parses it in-process
        self._meta: queue.Queue = queue.Queue(1)
        self._items: queue.Queue = queue.Queue(1)

    def _answer(self, q: queue.Queue, value: Any) -> None:
        try:
            q.put_nowait(value)
        except queue.Full:
            pass

    def _fail(self, err: Exception) -> None:
        self._answer(self._meta, err)
        self._answer(self._items, err)

    @staticmethod
    def _wait(q: queue.Queue, timeout: float) -> Any:
        try:
            value = q.get(timeout=timeout)
        except queue.Empty:
            raise WorkerGone("the page worker did not answer in time") from None
        q.put_nowait(value)  # answers are read again (meta() then items() may both be asked twice)
        if isinstance(value, Exception):
            raise value
        return value

    def meta(self, timeout: float = 60.0) -> tuple[str, str]:
        """(resourceVersion, continue) of the page."""
        return self._wait(self._meta, timeout)

    def items(self, timeout: float = 120.0) -> list:
        value = self._wait(self._items, timeout)
        self.raw = b""
        return value


class PageWorker:
    """The parent's side: one child per backend, started on demand, shared by every list thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._jobs: dict[int, Job] = {}
        self._next = 0
        self._ready = threading.Event()
        self._dead = False  # once gone, never restarted: the in-process path is always correct

    @property
    def ready(self) -> bool:
        """The child answered after its imports and has not gone."""
        return self._ready.is_set() and not self._dead

    @property
    def usable(self) -> bool:
        return not self._dead

    def start(self) -> None:
        """Start the child if it is not running (returns at once; ``ready`` comes later)."""
        with self._lock:
            if self._proc is not None or self._dead:
                return
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            env = dict(os.environ)
            env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            try:
                self._proc = subprocess.Popen([sys.executable, "-m", "backends.page_worker"], stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                              close_fds=True)
            except OSError as err:
                log.warning("page worker not started: %s", err)
                self._dead = True
                return
            threading.Thread(target=self._read, args=(self._proc,), name="page-worker-reader", daemon=True).start()
            threading.Timer(START_TIMEOUT, self._start_deadline).start()

    def _start_deadline(self) -> None:
        if not self._ready.is_set():
            self._gone("the page worker did not start in time")

    def submit(self, resource: str, raw: bytes) -> Job:
        """Queue one raw page of ``resource``; raises ``WorkerGone`` when the child is not there."""
        job = Job(raw)
        with self._lock:
            if self._dead or self._proc is None or self._proc.stdin is None:
                raise WorkerGone("the page worker is not running")
            self._next += 1
            jid = self._next
            self._jobs[jid] = job
            stdin = self._proc.stdin
        frame = pickle.dumps((jid, resource, raw), protocol=5)
        try:
            with self._write_lock:
                stdin.write(_LEN.pack(len(frame)))
                stdin.write(frame)
                stdin.flush()
        except (OSError, ValueError):  # broken pipe, or closed meanwhile
            self._gone("the page worker's pipe broke")
            raise WorkerGone("the page worker's pipe broke") from None
        return job

    def _read(self, proc: subprocess.Popen) -> None:
        out = proc.stdout
        try:
            while True:
                head = out.read(_LEN.size)
                if len(head) < _LEN.size:
                    break
                body = out.read(_LEN.unpack(head)[0])
                msg = pickle.loads(body)
                if msg[0] == "ready":
                    self._ready.set()
                    continue
                with self._lock:
                    job = self._jobs.get(msg[0])
                if job is None:
                    continue
                what = msg[1]
                if what == "meta":
                    job._answer(job._meta, (msg[2], msg[3]))
                elif what == "items":
                    with self._lock:
                        self._jobs.pop(msg[0], None)
                    job._answer(job._items, msg[2])
                elif what == "error":
                    with self._lock:
                        self._jobs.pop(msg[0], None)
                    job._fail(PageError(msg[2], msg[3]))
        except Exception as err:  # a torn frame or an unpicklable answer: the child is not to be trusted
            log.warning("page worker answer unreadable: %s", type(err).__name__)
        self._gone("the page worker stopped")

    def _gone(self, why: str) -> None:
        with self._lock:
            if self._dead:
                return
            self._dead = True
            jobs, self._jobs = list(self._jobs.values()), {}
            proc = self._proc
        log.info("%s; pages are parsed in-process from now on", why)
        for job in jobs:
            job._fail(WorkerGone(why))
        if proc is not None:
            _end(proc)

    def close(self) -> None:
        self._gone("the page worker was closed")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


def _end(proc: subprocess.Popen) -> None:
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(1.0)
        except subprocess.TimeoutExpired:
            pass


# ------------------------------------------------------------------------------------------ the child
def _child() -> None:
    import gc
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(NICE)
    except OSError:
        pass
    import orjson

    from backends.kubernetes import KINDS, list_meta

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)  # as the console's own tune_interpreter: parsing allocates millions of dicts
    src, dst = sys.stdin.buffer, sys.stdout.buffer
    requests: queue.Queue = queue.Queue()

    def reader() -> None:  # reads ahead, so that the parent's write of the next page never waits on a parse
        try:
            while True:
                head = src.read(_LEN.size)
                if len(head) < _LEN.size:
                    break
                requests.put(pickle.loads(src.read(_LEN.unpack(head)[0])))
        finally:
            requests.put(None)

    def send(msg: tuple) -> None:
        frame = pickle.dumps(msg, protocol=5)
        dst.write(_LEN.pack(len(frame)))
        dst.write(frame)
        dst.flush()

    threading.Thread(target=reader, daemon=True).start()
    send(("ready",))
    while True:
        req = requests.get()
        if req is None:
            return
        jid, resource, raw = req
        try:
            doc = orjson.loads(raw)
        except (ValueError, UnicodeDecodeError):
            send((jid, "error", "not-json", "not JSON"))
            continue
        if not isinstance(doc, dict):
            send((jid, "error", "not-json", f"a JSON {type(doc).__name__}, not an object"))
            continue
        send((jid, "meta", *list_meta(doc)))
        page = doc.get("items")
        try:
            parse = KINDS[resource].parse
            items = [parse(o) for o in page if isinstance(o, dict)] if isinstance(page, list) else []
        except Exception as err:  # the in-process path would raise the same: the parent decides
            send((jid, "error", "parser", f"{type(err).__name__}"))
            continue
        send((jid, "items", items))


if __name__ == "__main__":
    try:
        _child()
    except (BrokenPipeError, KeyboardInterrupt):
        pass

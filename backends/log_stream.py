"""A container log read as it streams (``backends.base.LogStream``) from an HTTP answer whose body is unread.

The body is read in chunks as they arrive (never whole: a follow stream has no end, and a non-follow read of a
big log should not sit in memory twice). Each chunk is cut after its last newline: the whole lines before it
are decoded at once (UTF-8, errors replaced: a newline byte never falls inside a multi-byte character, so the
cut is always on a character boundary) and split into one batch, and the partial line after it waits for the
next chunk. A batch per chunk, not a yield per line: at 50,000 lines a second a generator step and a list per
line cost more than the parsing.

How it ends:
- the server ends the body: a last line without its newline is delivered (an OOMKilled container may stop in
  the middle of a line);
- the connection breaks (reset, a read timeout, a chunk cut short): iteration just ends, ``broken`` is set and
  the partial line is dropped, since the caller resumes from its last whole line's timestamp and gets it whole;
- ``close()`` from another thread: the socket is shut for reading, which wakes a read in progress; iteration
  ends and nothing more is delivered.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

CHUNK = 64 * 1024  # bytes asked of the socket per read (a chunked answer gives what has arrived, up to this)
MAX_LINE = 1024 * 1024  # a "line" longer than this without a newline is delivered in pieces of this size


class OpenResponse:
    """An HTTP answer read as it streams (a watch, a log follow): iterated once (``_items``, by the subclass);
    ``close()`` from any thread shuts the socket, which wakes a read in progress, and iteration ends; the
    response is given up once, when iteration ends or on a close before it began, and ``on_release`` is told
    (the backend forgets its open streams)."""

    what = "stream"

    def __init__(self, resp: Any, on_release: Callable[[Any], None] | None = None) -> None:
        self._resp = resp
        self._on_release = on_release
        self._lock = threading.Lock()
        self._closed = False
        self._released = False
        self._iterating = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _items(self) -> Iterator[Any]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            if self._iterating:
                raise RuntimeError(f"a {self.what} can be iterated once")
            self._iterating = True
            if self._closed or self._released:
                return
        try:
            yield from self._items()
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        for step in (self._resp.close, self._resp.release_conn):
            try:
                step()
            except Exception:
                pass
        if self._on_release is not None:
            self._on_release(self)

    def close(self) -> None:
        """End the iteration soon, from any thread (a read in progress is woken by shutting the socket)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            iterating = self._iterating
        try:
            self._resp.shutdown()
        except Exception:
            pass
        if not iterating:
            self._release()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpLogStream(OpenResponse):
    """Batches of whole lines from an unread urllib3 response. Iterate once; ``close()`` from any thread.

    ``on_release`` is called once when the response is given up (the backend forgets its open streams).
    ``lines`` and ``bytes`` count what was delivered; ``broken`` tells a stream that broke from one that ended."""

    what = "log stream"

    def __init__(self, resp: Any, *, on_release: Callable[["HttpLogStream"], None] | None = None,
                 chunk_size: int = CHUNK, max_line: int = MAX_LINE) -> None:
        super().__init__(resp, on_release)
        self._chunk = chunk_size
        self._max_line = max_line
        self.broken = False
        self.lines = 0
        self.bytes = 0

    def _items(self) -> Iterator[list[str]]:
        pending = b""
        try:
            for chunk in self._resp.stream(self._chunk, decode_content=True):
                if self._closed:
                    return
                if not chunk:
                    continue
                data = pending + chunk if pending else chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    pending = data
                    if len(pending) >= self._max_line:  # no newline for a megabyte: deliver it in pieces
                        piece, pending = pending[: self._max_line], pending[self._max_line:]
                        yield self._count([piece.decode("utf-8", "replace")], len(piece))
                    continue
                pending = data[cut + 1:]
                lines = data[:cut].decode("utf-8", "replace").split("\n")
                yield self._count(lines, cut + 1)
        except Exception:  # broken mid-way (or shut by close()): it just ends, the partial line dropped
            if not self._closed:
                self.broken = True
            return
        if pending and not self._closed:  # the server ended the body in the middle of a line
            yield self._count([pending.decode("utf-8", "replace")], len(pending))

    def _count(self, lines: list[str], size: int) -> list[str]:
        self.lines += len(lines)
        self.bytes += size
        return lines

"""GPU numbers scraped straight from one or more DCGM exporters (``/metrics``), with a history of our own.

No Prometheus in between, so the backend keeps what it saw: every scrape for the last ``fine_seconds``
(15 min), then one averaged point per ``coarse_step`` (a minute) for ``coarse_seconds`` (24 h). Blocking
(urllib3): the core polls ``current()`` from a worker thread.
"""

from __future__ import annotations

import os
import re
import ssl
import time
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import urllib3

from prophecis_tui.domain import BackendError, GpuSample, Unavailable, gpu_fields, gpu_sample

from .gpu_history import History, Point
from .gpu_labels import FIELDS, gpu_entry, identify
from .promtext import parse_line, parse_value

_NAMES = frozenset(FIELDS)
_PREFIX = os.path.commonprefix(sorted(_NAMES))  # "DCGM_FI_DEV_"
_MISSING = object()
_TIMESTAMPED = object()
_WHOLE = object()  # a line whose change makes the next scrape be read whole (a timestamp, a value not a number)


_PROXIED = re.compile(r"/api/v1/namespaces/([^/]+)/(services|pods)/(?:https?:)?([^/:]+)(?::[^/]*)?/proxy/")


def _where(url: str) -> str:
    """An exporter in one line: its host:port, or ``service ns/name through host:port`` (``pod ns/name ...``)
    behind an API server's service (pods) proxy (the URL holds no credentials either way)."""
    parts = urlsplit(url)
    m = _PROXIED.search(parts.path)
    return f"{m[2][:-1]} {unquote(m[1])}/{unquote(m[3])} through {parts.netloc}" if m else parts.netloc


class _Reading:
    """An exporter's last scrape: its lines, what each line set (the series head, the GPU's fields, the field;
    None for a line not read), and the GPUs' fields. The next scrape reads only the lines that differ."""

    __slots__ = ("lines", "slots", "gpus")

    def __init__(self, lines: list[str], slots: list, gpus: dict[tuple[str, int], dict]) -> None:
        self.lines, self.slots, self.gpus = lines, slots, gpus


class DcgmScrape:
    name = "dcgm"

    def __init__(self, urls: list[str] | str, *, ca_file: str | None = None, ca_data: str | None = None,
                 verify: bool = True, cert_file: str | None = None, key_file: str | None = None,
                 headers: dict[str, str] | Callable[[], dict[str, str]] | None = None,
                 timeout: float = 5.0, clock: Callable[[], float] = time.time, fine_seconds: float = 900.0,
                 coarse_step: float = 60.0, coarse_seconds: float = 86400.0,
                 nodes: dict[str, str] | None = None) -> None:
        """``cert_file``/``key_file``: a client certificate; ``headers``: sent with each scrape, or a callable that
        makes them for each scrape (an API server's Authorization, renewed when due). Together they reach an
        exporter through the Kubernetes API server's service or pods proxy (``Kubernetes.api_access()``).

        ``nodes``: URL -> the node its exporter runs on (an exporter pod reached through the pods proxy, where
        every URL has the API server's host): the node of a series without a Hostname label, and the key of that
        exporter's caches. Without it, the URL's host is both."""
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("no DCGM exporter URL")
        self._nodes = dict(nodes or {})
        kw: dict = {"timeout": urllib3.Timeout(connect=min(timeout, 3.0), read=timeout), "retries": False}
        if any(u.startswith("https:") for u in self.urls):
            ctx = ssl.create_default_context(cafile=ca_file, cadata=ca_data)
            if not verify:
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            if cert_file:
                ctx.load_cert_chain(cert_file, key_file)
            kw["ssl_context"] = ctx
        self._http = urllib3.PoolManager(**kw)
        self._headers = headers
        self.clock = clock
        self._hist: dict[str, History] = {}
        self._args = (fine_seconds, coarse_step, coarse_seconds)
        self._series: dict[str, dict[str, Any]] = {}  # exporter host -> series head -> what _learn() made of it
        self._idents: dict[str, dict[str, Any]] = {}  # exporter host -> label text -> the GPU and its pod
        self._readings: dict[str, _Reading] = {}  # URL -> its last scrape, for reading only what changed

    def set_urls(self, urls: list[str], nodes: dict[str, str] | None = None) -> None:
        """Scrape ``urls`` from the next ``current()`` on (the exporter pods of a DaemonSet come and go), on the same
        scheme as the first ones (the TLS set-up is made once). History is kept; the caches of exporters no
        longer scraped are dropped. Call it from the thread that calls ``current()``."""
        if not urls:
            raise ValueError("no DCGM exporter URL")
        nodes = dict(nodes or {})
        keep = {nodes.get(u) or urlsplit(u).hostname or "" for u in urls}
        for key in [k for k in self._series if k not in keep]:
            self._series.pop(key, None)
            self._idents.pop(key, None)
        self._nodes = nodes
        self.urls = list(urls)
        self._readings = {u: r for u, r in self._readings.items() if u in self.urls}

    def _fetch(self, url: str) -> str:
        try:
            headers = self._headers() if callable(self._headers) else self._headers
        except BackendError as err:  # credentials that cannot be had now: this scrape fails, the next may not
            raise Unavailable(f"cannot scrape {_where(url)}: {err.message}", source=self.name) from None
        try:
            resp = self._http.request("GET", url, headers=headers, preload_content=True)
        except urllib3.exceptions.HTTPError as err:
            raise Unavailable(f"cannot scrape {_where(url)}: {type(err).__name__}", source=self.name) from None
        if resp.status != 200:
            raise Unavailable(f"{_where(url)} answered HTTP {resp.status}", source=self.name, status=resp.status)
        return resp.data.decode("utf-8", errors="replace")

    def current(self) -> list[GpuSample]:
        now = self.clock()
        at = datetime.fromtimestamp(now, timezone.utc)
        gpus: dict[tuple[str, int], dict] = {}  # GPU -> its fields (an exporter's reading's own dict: not written)
        errors = []
        for url in self.urls:
            try:
                text = self._fetch(url)
            except Unavailable as err:
                errors.append(err)
                continue
            lines = text.split("\n")
            last = self._readings.get(url)
            reading = self._update(last, lines) if last is not None and len(last.lines) == len(lines) else None
            if reading is None:
                host = self._nodes.get(url) or urlsplit(url).hostname or ""  # an exporter pod's node, else the host
                reading = self._read(lines, host)
            self._readings[url] = reading
            for key, g in reading.gpus.items():
                have = gpus.get(key)
                if have is None:
                    gpus[key] = g
                else:  # two exporters answer for one GPU: each fills what the other lacks
                    have = gpus[key] = have.copy()
                    for attr, v in g.items():
                        if v is not None and v != "" and (have[attr] is None or have[attr] == ""):
                            have[attr] = v
        if errors and not gpus:
            status = errors[0].status if all(e.status == errors[0].status for e in errors) else None
            raise errors[0] if len(errors) == 1 else Unavailable(
                f"no DCGM exporter answered ({len(errors)}): {errors[0].message}", source=self.name, status=status)
        out = []
        hist = self._hist
        for key in sorted(gpus):  # (node, index): compared in C, no key function
            g = gpus[key].copy()
            g["at"] = at
            sample = gpu_sample(g, complete=True)
            out.append(sample)
            h = hist.get(sample.key)
            if h is None:
                h = hist[sample.key] = History(*self._args)
            used, free = g["fb_used_mib"], g["fb_free_mib"]  # GpuSample.mem_pct, without the property
            h.add(now, g["util"], 100.0 * used / (used + free)
                  if used is not None and free is not None and used + free > 0 else None)
        return out

    def _update(self, last: _Reading, lines: list[str]) -> _Reading | None:
        """The last reading brought up to date with a scrape of as many lines, reading only the lines that
        changed: most do not (an exporter writes its series in the same order each time, and only some numbers
        move; 70% of the lines of 2,000 GPUs repeat from one second to the next). None when a changed line is
        not the same series with another value (a pod came or went, a timestamp): then the scrape is read whole."""
        slots = last.slots
        for i, (line, was) in enumerate(zip(lines, last.lines)):
            if line == was:
                continue
            slot = slots[i]
            if slot is None:  # a comment or another exporter's series: still one, or the layout changed
                if line.startswith(_PREFIX):
                    return None
                continue
            if slot is _WHOLE:
                return None
            head, g, attr = slot
            if not line.startswith(head) or line[len(head):len(head) + 1] != " ":
                return None
            if g is None:  # a series the console does not read, with another value
                continue
            value_text = line[len(head) + 1:].strip()
            try:
                value = float(value_text)
            except ValueError:
                try:
                    value = parse_value(value_text)
                except ValueError:
                    return None  # "1 1700000000000": a timestamp after all
            g[attr] = None if value != value else value  # NaN: no number
        last.lines = lines
        return last

    def _read(self, lines: list[str], host: str) -> _Reading:
        """An exporter's scrape read whole: what each line sets, kept for ``_update``."""
        cache = self._series.get(host)
        # pods come and go, their series with them: what the heads of gone pods meant is forgotten once they are as
        # many as a scrape's lines (a wall left for weeks on a busy cluster would otherwise keep every pod's)
        if cache is None or len(cache) > 2 * len(lines) + 1000:
            cache = self._series[host] = {}
            self._idents[host] = {}
        gpus: dict[tuple[str, int], dict] = {}
        filled: dict[tuple[str, int], Any] = {}  # GPU -> the identity its labels were taken from
        slots: list[tuple[str, dict, str] | None] = [None] * len(lines)
        for i, line in enumerate(lines):
            if not line.startswith(_PREFIX):  # comments, other exporters' series
                continue
            # A series' line is its name and labels, then its value: the same head scrape after scrape,
            # so what it means is read once (by the full parser) and found again with one lookup.
            head, _, value_text = line.rstrip().rpartition(" ")
            hit = cache.get(head, _MISSING)
            slots[i] = _WHOLE  # until it is known to be a series with a number: a change reads the scrape whole
            if hit is _MISSING:
                hit = self._learn(head, host)
                if hit is _TIMESTAMPED:  # "name{labels} value timestamp": read whole, every time
                    head, _, value_text = head.rpartition(" ")
                    hit = self._learn(head, host)
                    head = ""  # no slot
                else:
                    cache[head] = hit
            if hit is None:
                if head:
                    slots[i] = (head, None, None)  # a series not read (another field), whatever its value
                continue
            if hit is _TIMESTAMPED:
                continue
            attr, ident, key, base = hit
            try:
                value = float(value_text)
            except ValueError:
                try:
                    value = parse_value(value_text)  # "+Inf", as Prometheus spells it
                except ValueError:
                    continue
            g = gpus.get(key)
            if g is None:
                g = gpus[key] = base.copy()
                filled[key] = ident
            elif filled[key] is not ident:  # another label text for the same GPU: fill what it lacked
                g = gpu_entry(gpus, ident)
            g[attr] = None if value != value else value  # NaN: no number
            if head:
                slots[i] = (head, g, attr)
        return _Reading(lines, slots, gpus)

    def _learn(self, head: str, host: str) -> tuple | None:
        """What a series' head (``name{labels}``) means: (GpuSample attribute, the GPU and its pod, its key, the
        sample's fields but the numbers), or None for a series the console does not read (another field, a line
        with a timestamp, no GPU index)."""
        try:
            series = parse_line(head + " 0")
        except (ValueError, IndexError):
            return None
        if series is None or series.name not in _NAMES:
            return None
        labels = head[len(series.name):]
        if labels and not labels.endswith("}") or " " in labels and not labels.startswith("{"):
            return _TIMESTAMPED  # what was taken for the value was a timestamp: the head still holds the value
        idents = self._idents.setdefault(host, {})
        ident = idents.get(labels, _MISSING)
        if ident is _MISSING:  # one per label text: a GPU's series share theirs, and then its object
            ident = idents[labels] = identify(series.labels, host)
        if ident is None:
            return None
        return FIELDS[series.name], ident, (ident.node, ident.gpu), gpu_fields(**gpu_entry({}, ident))

    def history(self, key: str, seconds: float) -> list[Point]:
        h = self._hist.get(key)
        return h.window(self.clock(), seconds) if h is not None else []

    def close(self) -> None:
        self._http.clear()

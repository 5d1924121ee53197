"""Feeds: one thread per watched resource (and namespace) moves backend data into the state.

list, then watch from the list's resourceVersion; a 410 means list again; an error keeps the
data, marks the source stale (or failing if it never had data) and retries with backoff. A user
who may not list a resource cluster-wide gets one feed per namespace where they may.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable

from backends.base import KubernetesBackend, MetricsBackend, QuotaMetrics, Resource
from backends.gpu_history import GroupHistory, IdleRuns

from .domain import BackendError, Expired, Forbidden, Health, SourceHealth
from .gpu_systems import GpuSystems
from .state import State

log = logging.getLogger(__name__)
SOURCE = "kubernetes"


def set_health(st: State, key: str, state: Health, reason: str, clock: Callable[[], datetime]) -> None:
    """A source's health; ``since`` stays when the state does not change (stale since the first failure)."""
    old = st.health().get(key)
    since = old.since if old is not None and old.state == state and old.since else clock()
    st.set_health(key, SourceHealth(source=key, state=state, since=since, reason=reason))


class _Stopped(Exception):
    """The feed was stopped while it waited for its turn to list."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def tune_interpreter() -> None:
    """Make CPython cheap and fair for a console that parses 10^5 objects in threads beside its UI.

    - The cyclic garbage collector: a list of 10,000 pods allocates millions of dicts; with the default
      thresholds (700, 10, 10) the collector runs thousands of times meanwhile and walks the whole heap in its
      older generations: measured, it triples the time to parse the pages (0.27 s without it, 0.8 s with it,
      for 37 MB). What exists after the imports is frozen (never scanned again), and the young generation is
      collected every 50,000 allocations instead of 700. Cycles are still collected.
    - The GIL switch interval: 20 ms instead of 5. The UI thread then finishes a frame without being made
      to hand the GIL to a parsing thread every 5 ms; measured on `large` (2 CPUs), the longest UI stall
      while loading went from 78-113 ms to 53-72 ms, and the load itself got shorter (2.8-3.1 s, was
      3.2-4.1 s). 50 ms was worse again (stalls of 51 ms each time the UI waits for the GIL).
    Call once, after the imports."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    sys.setswitchinterval(0.02)


class ListGate:
    """First lists, ``slots`` at a time. Parsing is CPU work under one GIL: a few lists at a time finish
    sooner one by one than all together, and the UI thread gets the GIL more often.

    The kinds the screen on view needs go first, and alone: while one of them waits or lists, no other
    list starts (10,000 pods parse twice as fast without a second list beside them). Others go in the
    order the feeds were planned."""

    def __init__(self, slots: int = 2) -> None:
        self._cv = threading.Condition()
        self._free = slots
        self._waiting: list[tuple[int, str]] = []  # (plan order, kind)
        self._running: list[str] = []  # kinds listing now
        self.preferred: frozenset[str] = frozenset()

    def prefer(self, kinds: set[str] | frozenset[str]) -> None:
        with self._cv:
            self.preferred = frozenset(kinds)
            self._cv.notify_all()

    def _next(self) -> tuple[int, str] | None:
        if not self._waiting:
            return None
        return min(self._waiting, key=lambda w: (w[1] not in self.preferred, w[0]))

    @contextmanager
    def turn(self, order: int, kind: str, stop: threading.Event):
        me = (order, kind)
        with self._cv:
            self._waiting.append(me)
            try:
                while not stop.is_set():
                    mine_next = self._next() == me
                    blocked = kind not in self.preferred and any(
                        k in self.preferred for k in (*self._running, *(k for _, k in self._waiting)))
                    if self._free and mine_next and not blocked:
                        break
                    self._cv.wait(0.25)
            finally:
                self._waiting.remove(me)
            self._free -= 1
            self._running.append(kind)
        try:
            yield
        finally:
            with self._cv:
                self._free += 1
                self._running.remove(kind)
                self._cv.notify_all()


def _join(thread: threading.Thread, timeout: float | None) -> None:
    """Wait for a feed's thread; one listed by the planner but not started yet (stop() came in between) is no
    error."""
    if thread.ident is not None:
        thread.join(timeout)


class ResourceFeed:
    """list + watch of one resource, in its own daemon thread, until ``stop()``."""

    def __init__(self, backend: KubernetesBackend, state: State, resource: Resource, namespace: str | None,
                 *, backoff: tuple[float, float] = (0.5, 30.0), watch_timeout: int = 290,
                 clock: Callable[[], datetime] = _now, gate: ListGate | None = None, order: int = 0) -> None:
        self.backend = backend
        self.state = state
        self.resource = resource
        self.namespace = namespace
        self.backoff = backoff
        self.watch_timeout = watch_timeout
        self.clock = clock
        self.key = f"{SOURCE}/{resource.name}" + (f"/{namespace}" if namespace else "")
        self.gate = gate
        self.order = order  # its place in the plan, for the gate
        self._stop = threading.Event()
        self._stream = None
        self._thread = threading.Thread(target=self._run, name=f"feed-{self.key}", daemon=True)
        self.lists = 0  # how many times it listed (tests read it)
        self.live = False
        self._heard = 0.0  # time.monotonic() of the last state.heard: at most one a second from a busy watch

    def start(self) -> None:
        self.state.set_health(self.key, SourceHealth(source=self.key, state=Health.CONNECTING))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a broken stream must not stop the others
                pass

    def join(self, timeout: float | None = None) -> None:
        _join(self._thread, timeout)

    def _health(self, state: Health, reason: str = "") -> None:
        set_health(self.state, self.key, state, reason, self.clock)

    def _heard_now(self, force: bool = False) -> None:
        """The API server delivered (a list, an event, a bookmark): ``kubernetes`` and this feed's key are heard."""
        mono = time.monotonic()
        if force or mono - self._heard >= 1.0:
            self._heard = mono
            self.state.heard(SOURCE)
            self.state.heard(self.key)

    def _list(self):
        """The first list shows its pages as they arrive (the first screenful of 10,000 pods comes with the
        first page, not the last), and waits for its turn at the gate: parsing is CPU work under one GIL,
        so a few lists at a time finish sooner one by one than all together (and the UI thread gets the
        GIL more often). A relist keeps the old objects on screen until the new list is complete."""
        if self.lists:
            return self.backend.list(self.resource.name, self.namespace)
        res = self.resource

        def page(items: list) -> None:
            self.state.add_page(res.name, res.kind, items)

        if self.gate is None:
            return self.backend.list(res.name, self.namespace, on_page=page)
        with self.gate.turn(self.order, res.kind, self._stop):
            if self._stop.is_set():
                raise _Stopped()
            return self.backend.list(res.name, self.namespace, on_page=page)

    def _run(self) -> None:
        rv: str | None = None
        delay = self.backoff[0]
        res = self.resource
        while not self._stop.is_set():
            try:
                if rv is None:
                    result = self._list()
                    self.lists += 1
                    self.state.replace(res.name, res.kind, result.items, self.namespace)
                    rv = result.resource_version
                    self.live = True
                    self._health(Health.LIVE)
                    self._heard_now(force=True)
                    delay = self.backoff[0]
                stream = self.backend.watch(res.name, rv, self.namespace, timeout_seconds=self.watch_timeout)
                self._stream = stream
                if self._stop.is_set():
                    stream.close()
                    break
                for ev in stream:
                    rv = ev.resource_version or rv
                    if ev.type != "BOOKMARK" and ev.obj is not None:
                        self.state.apply(res.name, res.kind, ev.type, ev.obj)
                    self._heard_now()
                    if not self.live:
                        self.live = True
                        self._health(Health.LIVE)
                    delay = self.backoff[0]
                self._stream = None
            except _Stopped:
                return
            except Expired:
                rv = None  # too old: list again, at once
                continue
            except Forbidden as err:
                self.live = False
                self._health(Health.FAILING, err.message)
                self._stop.wait(max(delay, 30.0))
                rv = None
                continue
            except BackendError as err:
                had_data = self.state.has_data(res.kind)
                self.live = False
                self._health(Health.STALE if had_data else Health.FAILING, err.message)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                rv = None  # after a failure, list again: what changed meanwhile may be beyond the watch's reach
                continue
            except Exception as err:  # a bug in a parser must not kill the feed silently
                log.exception("feed %s failed", self.key)
                self.live = False
                self._health(Health.FAILING, f"internal error: {type(err).__name__}")
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                rv = None


class _Poller:
    """A poll loop in its own daemon thread (``_run``), stopped with ``stop``; its health under ``KEY``."""

    KEY = ""

    def __init__(self, state: State, clock: Callable[[], datetime], name: str) -> None:
        self.state, self.clock = state, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        _join(self._thread, timeout)

    def _health(self, state: Health, reason: str = "") -> None:
        set_health(self.state, self.KEY, state, reason, self.clock)


class _RefreshingPoller(_Poller):
    """A poller whose rounds (``poll``) come every ``interval`` seconds from the start of the last one, and at
    once on ``refresh()`` (after an action, so its effect shows without waiting a round). A round that raises
    is logged and marks the source failing; the loop goes on."""

    def __init__(self, state: State, clock: Callable[[], datetime], name: str, interval: float) -> None:
        super().__init__(state, clock, name)
        self.interval = interval
        self._wake = threading.Event()
        self.polls = 0

    def poll(self) -> None:
        raise NotImplementedError

    def _closing(self) -> None:
        """After the last round (in the poller's thread): close what the poller owns."""

    def start(self) -> None:
        self.state.set_health(self.KEY, SourceHealth(source=self.KEY, state=Health.CONNECTING))
        self._thread.start()

    def stop(self) -> None:
        super().stop()
        self._wake.set()

    def refresh(self) -> None:
        """Poll now (the next round starts at once, or right after the running one)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._wake.clear()
            try:
                self.poll()
            except Exception as err:  # a parser or store bug must not end the polling silently
                log.exception("%s round failed", self.KEY)
                self._health(Health.FAILING, f"internal error: {type(err).__name__}")
            self.polls += 1
            self._wake.wait(max(0.0, self.interval - (time.monotonic() - started)))
        self._closing()


class MetricsPoller(_Poller):
    """GPU numbers from a metrics backend every ``interval`` seconds, in its own daemon thread.

    Self-rescheduling: the next poll is ``interval`` after the start of the last one (never two at once,
    never a backlog after a slow answer). A failing source keeps the last numbers and is marked stale
    (failing if it never answered); the health key is ``metrics``."""

    KEY = "metrics"

    def __init__(self, backend: MetricsBackend, state: State, *, interval: float = 2.0,
                 clock: Callable[[], datetime] = _now, idle_threshold: float = 5.0,
                 idle_minutes: float = 30.0) -> None:
        super().__init__(state, clock, "metrics-poller")
        self.backend, self.interval = backend, interval
        self.polls = 0
        self.groups = GroupHistory()  # nodes', namespaces' and business systems' mean utilisation, poll after poll
        self.systems = GpuSystems(state)  # which business systems each GPU serves (the CMDB's, through the state)
        # since when each GPU has stayed under the idle threshold; three missed polls (at least 10 s) break a run
        self.idle = IdleRuns(idle_threshold, max_gap=max(3 * interval, 10.0))
        self.idle_window = idle_minutes * 60.0
        self._quotas_due = 0.0

    QUOTA_EVERY = 30.0  # seconds between two reads of kube-state-metrics' quotas (they change with pods, slowly)

    def _poll_quotas(self) -> None:
        """kube-state-metrics' quotas, when the source has them (Prometheus): every QUOTA_EVERY seconds. A failure
        keeps the last ones and is logged: the GPU numbers just read are no less live for it."""
        if not isinstance(self.backend, QuotaMetrics) or time.monotonic() < self._quotas_due:
            return
        self._quotas_due = time.monotonic() + self.QUOTA_EVERY
        try:
            self.state.set_metric_quotas(self.backend.quotas())
        except BackendError as err:
            log.info("kube-state-metrics quotas: %s", err.message)

    def history(self, key: str, seconds: float) -> list[tuple[float, float | None, float | None]]:
        """(unix time, utilisation %, memory %) of one GPU (``node/index``), a node (``node:<name>``), a
        namespace's GPUs (``ns:<name>``) or a business system's (``sys:<id>``) over the last ``seconds``. Blocking
        (Prometheus answers over the network): call it from a worker thread. A source with a history of groups
        (Prometheus) answers for them (for a business system: of the namespaces, pods and nodes through which it
        holds GPUs now); otherwise the console's own, since it started."""
        if key.startswith(("node:", "ns:", "sys:")):
            group = getattr(self.backend, "group_history", None)
            if group is None:
                return self.groups.window(key, self.clock().timestamp(), seconds)
            if key.startswith("sys:"):
                members = self.systems.members(key[4:], self.state.gpus())
                return group(key, seconds, members=members) if members else []
            return group(key, seconds)
        return self.backend.history(key, seconds)

    def start(self) -> None:
        self.state.set_health(self.KEY, SourceHealth(source=self.KEY, state=Health.CONNECTING))
        self._thread.start()

    def _run(self) -> None:
        had_data = False
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                samples = self.backend.current()
                self._poll_quotas()
                now = self.clock().timestamp()
                self.groups.add(now, samples, self.systems.of if self.systems.known else None)
                self.idle.add(now, samples)
                self.state.set_gpus(samples, self.backend.name)
                had_data = True
                self.state.heard(self.KEY)
                self._health(Health.LIVE)
            except BackendError as err:
                self._health(Health.STALE if had_data else Health.FAILING, err.message)
            except Exception as err:  # a parser bug must not end the polling silently
                log.exception("metrics poll failed")
                self._health(Health.FAILING, f"internal error: {type(err).__name__}")
            self.polls += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        try:
            self.backend.close()
        except Exception:  # closing a dead source
            pass


class Feeds:
    """All feeds of one backend. Starts cluster-wide feeds where allowed, per-namespace ones elsewhere."""

    def __init__(self, backend: KubernetesBackend, state: State, *, namespaces: list[str] | None = None,
                 backoff: tuple[float, float] = (0.5, 30.0), watch_timeout: int = 290) -> None:
        self.backend = backend
        self.state = state
        self.only = namespaces
        self.backoff = backoff
        self.watch_timeout = watch_timeout
        self.feeds: list[ResourceFeed] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._planner: threading.Thread | None = None
        self.planned = threading.Event()  # every feed that will run has been started
        self.gate = ListGate(2)

    def start(self) -> None:
        self._planner = threading.Thread(target=self._plan, name="feeds-planner", daemon=True)
        self._planner.start()

    def _add(self, resource: Resource, namespace: str | None) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            f = ResourceFeed(self.backend, self.state, resource, namespace, backoff=self.backoff,
                             watch_timeout=self.watch_timeout, gate=self.gate, order=len(self.feeds))
            self.feeds.append(f)
            f.start()  # under the lock: stop() sees it listed only once it runs (and may join it)

    def _plan(self) -> None:
        """Decide, per resource, between one cluster-wide feed and per-namespace feeds."""
        try:
            self._plan_feeds()
        finally:
            self.planned.set()

    def _plan_feeds(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            try:
                resources = self.backend.resources()
                break
            except BackendError as err:
                self.state.set_health(SOURCE, SourceHealth(source=SOURCE, state=Health.FAILING, since=_now(),
                                                           reason=err.message))
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
        else:
            return
        self.state.forget_health(SOURCE)
        scoped: list[Resource] = []
        for r in resources:
            if not r.namespaced:
                self._add(r, None)
            elif self.only is None and self._may_list(r, None):
                self._add(r, None)
            else:
                scoped.append(r)
        if not scoped:
            return
        namespaces = self.only if self.only is not None else self._visible_namespaces()
        for ns in namespaces:
            for r in scoped:
                if self.only is not None or self._may_list(r, ns):
                    self._add(r, ns)

    def _may_list(self, r: Resource, namespace: str | None) -> bool:
        try:
            return self.backend.can_i("list", r.group, r.name, namespace) and \
                self.backend.can_i("watch", r.group, r.name, namespace)
        except BackendError:
            return namespace is not None  # cannot ask: try, and let the feed report what happens

    def _visible_namespaces(self) -> list[str]:
        """Namespaces known to the state (the namespaces feed runs first), or the context's."""
        for _ in range(100):
            if self._stop.is_set():
                return []
            names = [n.name for n in self.state.namespaces()]
            if names or self.state.source_health(f"{SOURCE}/namespaces").state == Health.FAILING:
                break
            self._stop.wait(0.05)
        names = [n.name for n in self.state.namespaces()]
        if not names:
            ident = self.backend.identity()
            names = [ident.namespace] if ident.namespace else []
        return names

    def prefer(self, kinds: set[str] | frozenset[str]) -> None:
        """The screen on view needs these kinds: their first lists go before the others."""
        self.gate.prefer(kinds)

    def scoped_namespaces(self) -> set[str]:
        """The namespaces watched one by one (a user without cluster-wide rights); empty when cluster-wide."""
        with self._lock:
            return {f.namespace for f in self.feeds if f.namespace}

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._lock:
            feeds = list(self.feeds)
        for f in feeds:
            f.stop()
        for f in feeds:
            f.join(timeout / max(1, len(feeds)))


class CmdbPoller(_Poller):
    """Business systems from a CMDB source (``backends.cmdb.RestCmdb`` or ``FileCmdb``) every ``interval`` seconds,
    in its own daemon thread, kept in the store and published to the state.

    At start the store's systems (the last good CMDB, kept across restarts, and what ``cmdb import`` put there)
    go to the state before the first read. Each good read replaces the source's systems in the store
    (``store.replace_source(client.source, systems)``, atomic) and publishes ``store.systems()``: screens read
    the state, never the source. Self-rescheduling: the next read is ``interval`` after the start of the last
    one, never two at once; after a failure the next try comes sooner (``retry``: 5 s doubling up to the
    interval). A failure keeps what the store has; the health (key ``cmdb``) is then stale if the source ever
    answered (or the store holds its systems from an earlier run), else failing. A read that skipped records
    is live with the count and the first reason as its health's reason. An empty answer where the store holds
    systems of the source is not taken (a CMDB in maintenance must not untag every alert): stale, with why.

    Between reads the store's ``version`` is looked at every ``store_every`` seconds, so that a ``prophecis-tui
    cmdb import`` (another process) reaches the state within seconds. ``client`` None: no source, only that."""

    KEY = "cmdb"

    def __init__(self, client, store, state: State, *, interval: float = 300.0,
                 retry: tuple[float, float] = (5.0, 300.0), store_every: float = 10.0,
                 clock: Callable[[], datetime] = _now) -> None:
        super().__init__(state, clock, "cmdb-poller")
        self.client, self.store, self.interval = client, store, interval
        self.source: str = client.source if client is not None else ""  # the store's name: rest:<host>, file:<name>
        self.retry = (min(retry[0], interval), min(retry[1], interval))
        self.store_every = store_every
        self._seen = -1  # the store version last published
        self.polls = 0

    def start(self) -> None:
        if self.client is not None:
            self.state.set_health(self.KEY, SourceHealth(source=self.KEY, state=Health.CONNECTING))
        self._thread.start()

    def _publish(self, force: bool = False) -> None:
        version = self.store.version  # before the read: a change in between is published next time
        if force or version != self._seen:
            self.state.set_business_systems(self.store.systems())
            self._seen = version

    def _kept(self) -> bool:
        """Does the store hold this source's systems from an earlier read (this run or another)?"""
        try:
            return self.store.updated_at(self.source) is not None
        except Exception:  # a store that cannot say: as if not
            return False

    def _read(self) -> None:
        systems = self.client.fetch()
        if not systems and self._kept():
            self._health(Health.STALE, f"the CMDB {getattr(self.client, 'where', '')} answered no business "
                                       "systems; keeping the last ones")
            return
        self.store.replace_source(self.source, systems)
        self._publish()
        self.state.heard(self.KEY)
        skipped = getattr(self.client, "skipped", 0)
        self._health(Health.LIVE, f"{skipped} record{'s' if skipped != 1 else ''} skipped: "
                                  f"{getattr(self.client, 'skip_reason', '')}" if skipped else "")

    def _run(self) -> None:
        try:
            self._publish(force=True)  # the last good CMDB, before the first read
        except Exception:  # an unreadable store: the reads will say so too
            log.exception("cmdb: reading the store failed")
        had_data = self._kept()
        delay = self.retry[0]
        due = time.monotonic()  # the next read
        while not self._stop.is_set():
            if self.client is not None and time.monotonic() >= due:
                started = time.monotonic()
                due = started + self.interval
                try:
                    self._read()
                    had_data = had_data or self._kept()
                    delay = self.retry[0]
                except BackendError as err:
                    self._health(Health.STALE if had_data else Health.FAILING, err.message)
                    due, delay = started + delay, min(delay * 2, self.retry[1])
                except Exception as err:  # a parser or store bug must not end the polling silently
                    log.exception("cmdb poll failed")
                    self._health(Health.STALE if had_data else Health.FAILING, f"internal error: {type(err).__name__}")
                    due, delay = started + delay, min(delay * 2, self.retry[1])
                self.polls += 1
            else:
                try:
                    self._publish()  # another process's import
                except Exception:
                    log.exception("cmdb: reading the store failed")
            wait = self.store_every if self.client is None else min(self.store_every, due - time.monotonic())
            self._stop.wait(max(0.0, wait))
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # closing a dead source
                pass


class AlertsPoller(_RefreshingPoller):
    """Alerts from every source, every ``interval`` seconds, in its own daemon thread, into the state.

    A round: each Alertmanager's alerts and silences (a failing one keeps its last good alerts and silences;
    health key ``alertmanager``, one for all of them, its reason naming the failing ones), the state's Warning
    events (``events``), the platform rules over the state (``prophecis_tui.alerts.AlertEngine``; the idle-GPU
    rule from ``metrics``, the metrics poller's idle runs, when there is one); then merged, enriched, tagged with
    the CMDB's business systems (the state's, re-matched when they change), acks applied (the timeline's),
    observed by the timeline (its fired/silenced/resolved moments; every source's alert has its own record), folded
    to one alert per condition and target (``alerts.correlate``: the Alertmanager's crash-loop alert, the platform
    rule's and the kubelet's BackOff events on one pod are one row), published with ``state.set_alerts(alerts,
    new=<those that fired or fired again, firing>)`` and ``state.set_silences``. An alert gone from its sources
    stays in the list as RESOLVED for ``resolved_minutes`` (only when every source that reported it answered this
    round: a failing source resolves nothing). Health key ``alerts`` for the poller as a whole.

    Self-rescheduling (``interval`` from the start of the last round); :meth:`refresh` runs a round now (after a
    silence or an ack). ``timeline`` None: no acks, no timeline (tests). The timeline is pruned to
    ``history_days`` at start and hourly."""

    KEY = "alerts"
    AM_KEY = "alertmanager"
    PRUNE_EVERY = 3600.0

    def __init__(self, state: State, timeline=None, *, alertmanagers=(), settings=None, interval: float = 10.0,
                 events: bool = True, resolved_minutes: float = 30.0, metrics: MetricsPoller | None = None,
                 history_days: float | None = None, clock: Callable[[], datetime] = _now) -> None:
        from .alerts import AlertEngine, Tagger  # the engine is core too; imported here to keep feeds' import light
        super().__init__(state, clock, "alerts-poller", interval)
        self.timeline = timeline
        self.alertmanagers = list(alertmanagers)  # backends.alertmanager.Alertmanager members
        self.alertmanager_set = None  # what the action registry's "alertmanager" backend is (app.alerts_poller)
        self.events, self.metrics = events, metrics
        self.resolved_window = resolved_minutes * 60.0
        self.history_days = history_days
        self.engine = AlertEngine(settings)
        self.idle_window = self.engine.thresholds.gpu_idle_minutes * 60.0
        self.tagger = Tagger()
        self._am_alerts: dict[str, list] = {}  # the last good answer of each Alertmanager
        self._am_silences: dict[str, list] = {}
        self._shown: dict[str, Any] = {}  # key -> the alert published last round (not resolved)
        self._resolved: dict[str, Any] = {}  # key -> its RESOLVED copy, shown for resolved_window
        self._nodes_version = -1
        self._node_namespaces: dict[str, set[str]] = {}
        self._addresses_version = -1
        self._node_addresses: dict[str, tuple[str, ...]] = {}
        self._pruned: float | None = None  # time.monotonic() of the last prune
        self._seen: set[str] | None = None  # without a timeline: the keys firing last round
        self.round_seconds = 0.0  # how long the last round took (reads, engine and timeline)
        self.failing = 0  # Alertmanagers that did not answer the last round

    def start(self) -> None:
        if self.alertmanagers:
            self.state.set_health(self.AM_KEY, SourceHealth(source=self.AM_KEY, state=Health.CONNECTING))
        super().start()

    def _closing(self) -> None:
        for am in self.alertmanagers:
            try:
                am.close()
            except Exception:  # closing a dead source
                pass

    # ---------------------------------------------------------------- one round
    def _read_alertmanagers(self, answered: set[str]) -> list[list]:
        """Every Alertmanager's alerts and silences (a failing one's last good ones); ``self.failing``: how many
        did not answer this round."""
        failing: list[str] = []
        stale = False
        for am in self.alertmanagers:
            try:
                alerts, silences = am.alerts(), am.silences()
            except BackendError as err:
                failing.append(err.message if am.name in err.message else f"{am.name}: {err.message}")
                stale = stale or am.name in self._am_alerts
                continue
            self._am_alerts[am.name], self._am_silences[am.name] = alerts, silences
            answered.add(f"alertmanager:{am.name}")
        self.failing = len(failing)
        if self.alertmanagers:
            if not failing:
                self._health_of(self.AM_KEY, Health.LIVE, "")
            else:
                ok = len(self.alertmanagers) - len(failing)
                what = "; ".join(failing) + (f" ({ok} of {len(self.alertmanagers)} answering)" if ok else "")
                self._health_of(self.AM_KEY, Health.STALE if stale or ok else Health.FAILING, what)
        return [self._am_alerts.get(am.name, []) for am in self.alertmanagers]

    def _health_of(self, key: str, state: Health, reason: str) -> None:
        set_health(self.state, key, state, reason, self.clock)

    def _idle(self, now: datetime) -> list | None:
        """The idle-GPU board's rows for the idle rule; None without a live metrics source."""
        m = self.metrics
        if m is None or self.state.source_health(MetricsPoller.KEY).state != Health.LIVE:
            return None
        from .idle import holders_from_samples, idle_from_runs
        notebooks = {(n.namespace, n.name) for n in self.state.notebooks()}
        holders = holders_from_samples([g for g in self.state.gpus() if g.pod], self.state.pods(), notebooks)
        return idle_from_runs(holders, m.idle.runs(), m.clock().timestamp(), window=self.idle_window,
                              max_age=m.idle.max_gap)

    def _pod_labels(self):
        pods = {(p.namespace, p.name): p.labels for p in self.state.pods()}

        def labels(ns: str, kind: str, name: str):
            return pods.get((ns, name)) if kind == "Pod" else None
        return labels

    def _addresses(self) -> dict[str, tuple[str, ...]]:
        version = self.state.kind_version("nodes")
        if version != self._addresses_version:
            from .alerts import node_addresses
            self._node_addresses, self._addresses_version = node_addresses(self.state.nodes()), version
        return self._node_addresses

    def _nodes(self) -> dict[str, set[str]]:
        version = self.state.kind_version("pods")
        if version != self._nodes_version:
            from .alerts import node_namespaces
            self._node_namespaces, self._nodes_version = node_namespaces(self.state.pods()), version
        return self._node_namespaces

    @staticmethod
    def _answered(alert, answered: set[str]) -> bool:
        if alert.source == "alertmanager":
            need = [f"alertmanager:{o}" for o in alert.origins] or ["alertmanager"]
        elif alert.source == "platform":
            need = [f"platform:{alert.name}"]
        else:
            need = [alert.source]
        return all(n in answered for n in need)

    def poll(self) -> None:
        """One round (the thread's loop calls it; tests may call it directly)."""
        from .alerts import RULE_KINDS, RULES, apply_acks, correlate, enrich, event_alerts, merge
        from .domain import AlertState
        started = time.perf_counter()
        st = self.state
        now = self.clock()
        answered: set[str] = set()
        lists = self._read_alertmanagers(answered)
        if self.events and st.has_data("events"):
            warnings = [e for e in st.events() if e.type == "Warning"]
            lists.append(event_alerts(warnings, now, labels=self._pod_labels() if warnings else None))
            answered.add("events")
        rules = [r for r in RULES if all(st.has_data(k) for k in RULE_KINDS[r])]
        idle = self._idle(now) if "GpuIdleAllocated" in rules else None
        if idle is None and "GpuIdleAllocated" in rules:
            rules.remove("GpuIdleAllocated")
        lists.append(self.engine.platform(st, now, idle, rules))
        answered.update(f"platform:{r}" for r in rules)

        alerts = [enrich(a) for a in merge(*lists)]
        self.tagger.update(st.business_systems(), st.kind_version("cmdb"))
        needs_nodes = any(a.node and not a.namespace for a in alerts)
        alerts = self.tagger.tag(alerts, self._nodes() if needs_nodes else None, self._addresses())
        acks = {}
        if self.timeline is not None:
            try:
                acks = self.timeline.acks()
            except Exception:  # an unreadable store: show the alerts all the same
                log.exception("alerts: reading the acks failed")
        alerts = apply_acks(alerts, acks)

        # what is gone: RESOLVED for a while (only when its sources answered), what is back: no longer resolved
        window = self.resolved_window
        current = {a.key: a for a in alerts}
        for key, a in self._shown.items():
            if key not in current and key not in self._resolved and self._answered(a, answered):
                self._resolved[key] = a.model_copy(update={"state": AlertState.RESOLVED, "ends": now, "ack_by": "",
                                                           "ack_note": "", "ack_at": None})
        for key in [k for k, a in self._resolved.items()
                    if k in current or (now - (a.ends or now)).total_seconds() > window]:
            del self._resolved[key]
        shown = [a for a in alerts if a.state != AlertState.RESOLVED
                 or (now - (a.ends or a.updated or now)).total_seconds() <= window]
        self._shown = {a.key: a for a in shown if a.state != AlertState.RESOLVED}
        published = shown + list(self._resolved.values())

        silences: dict[str, Any] = {}
        for am in self.alertmanagers:
            for s in self._am_silences.get(am.name, []):
                silences.setdefault(s.id, s)  # an HA pair shares its silences: one of each
        new = []
        if self.timeline is not None:
            try:
                entries = self.timeline.observe(published, answered, silences=silences, now=now)
                fired = {e.key for e in entries if e.event in ("fired", "refired")}
                new = [a for a in published if a.key in fired and a.state == AlertState.FIRING]
                due = self._pruned is None or time.monotonic() - self._pruned > self.PRUNE_EVERY
                if self.history_days and due:
                    self._pruned = time.monotonic()
                    self.timeline.prune(self.history_days, now=now)
            except Exception:  # the timeline is a record; the alerts on screen matter more
                log.exception("alerts: the timeline could not record this round")
        else:  # no timeline (tests): what was not firing last round; nothing at the first round
            if self._seen is not None:
                new = [a for a in shown if a.state == AlertState.FIRING and a.key not in self._seen]
            self._seen = {a.key for a in shown if a.state == AlertState.FIRING}
        # one alert per condition and target on screen (the timeline keeps every source's own record)
        published, folded = correlate(published)
        st.set_alerts(published, new=[a for a in new if a.key not in folded])
        st.set_silences(list(silences.values()))
        self.round_seconds = time.perf_counter() - started
        if not self.failing:  # every Alertmanager answered: the alerts shown are today's (the wall's freshness)
            self.state.heard(self.KEY)
        self._health(Health.LIVE)

"""The simulator's object store: objects by resource, a global resourceVersion, watch history.

Objects are plain JSON-ready dicts. Once committed an object is never changed in place (the
watch history keeps references to old states); every change goes through ``mutate`` or
``replace``, which commit a new dict. The serialised JSON of each object is cached, so a list of
ten thousand pods is a join of cached byte strings, not ten thousand ``json.dumps`` calls.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from .clock import rfc3339
from .errors import ApiError, already_exists, bad_request, conflict, gone, not_found
from .resources import BY_KEY, ResourceType
from .selectors import FieldSelector, LabelSelector

Listener = Callable[[ResourceType, str, "dict | None", "dict | None"], None]


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Entry:
    """One stored object and its cached serialisation."""

    __slots__ = ("obj", "_json")

    def __init__(self, obj: dict) -> None:
        self.obj = obj
        self._json: bytes | None = None

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = dumps(self.obj)
        return self._json

    def json_as(self, api_version: str) -> bytes:
        """The object as served under another version of the same group (same stored object)."""
        if self.obj.get("apiVersion") == api_version:
            return self.json
        head = b'"apiVersion":' + dumps(self.obj.get("apiVersion"))
        return self.json.replace(head, b'"apiVersion":' + dumps(api_version), 1)


def field_value(obj: dict, path: str) -> str:
    """An object's value at a field-selector path, as the apiserver's field set has it."""
    if path == "spec.unschedulable":
        return "true" if obj.get("spec", {}).get("unschedulable") else "false"
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if path == "status.successful":
        return str(cur)
    if path == "source" and isinstance(cur, dict):
        return cur.get("component", "")
    return cur if isinstance(cur, str) else str(cur)


def selected(obj: dict, labels: LabelSelector, fields: FieldSelector) -> bool:
    """Does an object pass a list's or a watch's label and field selectors?"""
    if not labels.empty and not labels.matches(obj.get("metadata", {}).get("labels") or {}):
        return False
    return fields.empty or fields.matches(lambda p: field_value(obj, p))


@dataclass
class Change:
    rv: int
    rt: ResourceType
    type: str  # ADDED | MODIFIED | DELETED
    namespace: str
    new: Entry | None  # the state after (for DELETED: the last state, with the delete's rv)
    old: dict | None
    at: float


@dataclass(eq=False)
class Watcher:
    rt: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    api_version: str
    name: str | None = None  # a watch on one object (GET .../pods/NAME?watch=true)
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    closed: bool = False
    overflow: int = 10000

    def selects(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        md = obj.get("metadata", {})
        if self.namespace is not None and md.get("namespace") != self.namespace:
            return False
        if self.name is not None and md.get("name") != self.name:
            return False
        return selected(obj, self.labels, self.fields)

    def offer(self, change: Change) -> None:
        """Translate a change into the event this watcher sees, if any."""
        if self.closed:
            return
        new_in = self.selects(change.new.obj) if change.new is not None else False
        old_in = self.selects(change.old)
        if change.type == "DELETED":
            etype = "DELETED" if new_in or old_in else None
        elif new_in and old_in:
            etype = "MODIFIED"
        elif new_in:
            etype = "ADDED"
        elif old_in:
            etype = "DELETED"  # it left the selection: the apiserver reports a deletion
        else:
            etype = None
        if etype is None:
            return
        if self.queue.qsize() >= self.overflow:
            # A consumer this far behind is cut off, as the apiserver does; it will relist.
            self.closed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait((etype, change.new))


class Store:
    """All objects of the simulated cluster."""

    def __init__(self, now: Callable[[], float], seed: int = 0, history_seconds: float = 150.0,
                 history_max: int = 200_000) -> None:
        self.now = now
        self.rv = 1
        self.building = False
        self._rng = random.Random(f"uid:{seed}")
        self._data: dict[str, dict[tuple[str, str], Entry]] = {rt.key: {} for rt in BY_KEY.values()}
        self._by_ns: dict[str, dict[str, dict[str, Entry]]] = {rt.key: {} for rt in BY_KEY.values()}
        self._sorted: dict[str, list[tuple[str, str]] | None] = {}
        self._history: list[Change] = []
        self._compacted_rv = 1  # history holds every change with rv > this
        self.history_seconds = history_seconds
        self.history_max = history_max
        self._watchers: dict[str, set[Watcher]] = {}
        self._listeners: list[Listener] = []
        self.continue_ttl = 300.0

    # ----------------------------------------------------------------- reading
    def get(self, rt: ResourceType, namespace: str, name: str) -> dict | None:
        e = self._data[rt.key].get((namespace or "", name))
        return e.obj if e else None

    def entry(self, rt: ResourceType, namespace: str, name: str) -> Entry | None:
        return self._data[rt.key].get((namespace or "", name))

    def count(self, rt: ResourceType, namespace: str | None = None) -> int:
        if namespace is None:
            return len(self._data[rt.key])
        return len(self._by_ns[rt.key].get(namespace, {}))

    def objects(self, rt: ResourceType, namespace: str | None = None) -> Iterator[dict]:
        """Objects in no particular order (cheap; for controllers)."""
        src = self._data[rt.key].values() if namespace is None else self._by_ns[rt.key].get(namespace, {}).values()
        for e in list(src):
            yield e.obj

    def sorted_keys(self, rt: ResourceType, namespace: str | None = None) -> list[tuple[str, str]]:
        if namespace is not None:
            return sorted((namespace, n) for n in self._by_ns[rt.key].get(namespace, {}))
        keys = self._sorted.get(rt.key)
        if keys is None:
            keys = sorted(self._data[rt.key])
            self._sorted[rt.key] = keys
        return keys

    def page(self, rt: ResourceType, namespace: str | None, limit: int | None, cont: str | None,
             predicate: Callable[[dict], bool] | None) -> tuple[list[Entry], str | None, int | None, str]:
        """One page of a list: entries, the continue token, remainingItemCount, the list's resourceVersion."""
        list_rv = str(self.rv)
        start_after: tuple[str, str] | None = None
        if cont:
            list_rv, start_after = self._decode_continue(cont)
        keys = self.sorted_keys(rt, namespace)
        data = self._data[rt.key]
        get = data.get
        overlay: dict[tuple[str, str], Entry | None] = {}
        if cont and int(list_rv) < self.rv:
            # Later pages show the list as it was at its resourceVersion, like the apiserver's
            # consistent snapshot: undo what changed since then.
            overlay = self._state_at(rt, namespace, int(list_rv))
            if overlay:
                keys = sorted(set(keys) | set(overlay))

                def get(k: tuple[str, str]) -> Entry | None:
                    return overlay[k] if k in overlay else data.get(k)
        i = bisect.bisect_right(keys, start_after) if start_after else 0
        out: list[Entry] = []
        last: tuple[str, str] | None = None
        n = len(keys)
        while i < n:
            k = keys[i]
            i += 1
            e = get(k)
            if e is None or (predicate is not None and not predicate(e.obj)):
                continue
            out.append(e)
            last = k
            if limit and len(out) >= limit:
                break
        token = None
        remaining = None
        if limit and len(out) >= limit and i < n:
            rest = n - i if not overlay else sum(1 for k in keys[i:] if get(k) is not None)
            if rest:
                token = self._encode_continue(list_rv, last)
                if predicate is None:
                    remaining = rest
        return out, token, remaining, list_rv

    def _state_at(self, rt: ResourceType, namespace: str | None, rv: int) -> dict[tuple[str, str], Entry | None]:
        """For each object of ``rt`` changed after ``rv``: its state at ``rv`` (None: it did not exist)."""
        if rv < self._compacted_rv:
            raise gone("The provided continue parameter is too old to display a consistent list result. "
                       "You can start a new list without the continue parameter.")
        i = bisect.bisect_right(self._history, rv, key=lambda c: c.rv)
        before: dict[tuple[str, str], Entry | None] = {}
        for c in self._history[i:]:
            if c.rt is not rt or (namespace is not None and c.namespace != namespace):
                continue
            key = (c.namespace, c.new.obj["metadata"]["name"])
            if key not in before:
                before[key] = Entry(c.old) if c.old is not None else None
        return before

    def _encode_continue(self, rv: str, last: tuple[str, str] | None) -> str:
        raw = json.dumps({"v": "sim.k8s.io/v1", "rv": rv, "start": list(last or ("", "")), "t": time.time()})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _decode_continue(self, token: str) -> tuple[str, tuple[str, str]]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
            rv, start, t = str(int(data["rv"])), tuple(data["start"]), float(data["t"])
        except Exception:
            raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                              "(version meta.k8s.io/v1)") from None
        if time.time() - t > self.continue_ttl:
            raise gone("The provided continue parameter is too old to display a consistent list result. "
                       "You can start a new list without the continue parameter.")
        return rv, (start[0], start[1])

    # ----------------------------------------------------------------- writing
    def new_uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def create(self, rt: ResourceType, obj: dict, *, now: float | None = None) -> dict:
        md = obj.setdefault("metadata", {})
        ns = md.get("namespace", "") if rt.namespaced else ""
        if not rt.namespaced:
            md.pop("namespace", None)
        name = md.get("name")
        if not name:
            raise ApiError(422, f"{rt.kind} in version \"{rt.versions[0]}\" cannot be handled as a "
                                f"{rt.kind}: metadata.name: Required value", "Invalid")
        key = (ns, name)
        if key in self._data[rt.key]:
            raise already_exists(rt, name)
        obj["apiVersion"] = rt.api_version()
        obj["kind"] = rt.kind
        if not md.get("uid"):
            md["uid"] = self.new_uid()
        md.setdefault("creationTimestamp", rfc3339(self.now() if now is None else now))
        if not rt.builtin or rt.plural in ("jobs",):
            md.setdefault("generation", 1)
        for k in ("resourceVersion", "deletionTimestamp", "selfLink"):
            if k == "resourceVersion" or md.get(k) is None:
                md.pop(k, None)
        self._commit(rt, "ADDED", ns, name, None, obj)
        return obj

    def replace(self, rt: ResourceType, obj: dict, *, expect_rv: str | None = None) -> dict:
        md = obj.get("metadata", {})
        ns, name = (md.get("namespace", "") if rt.namespaced else ""), md["name"]
        cur = self._data[rt.key].get((ns, name))
        if cur is None:
            raise not_found(rt, name)
        if expect_rv and expect_rv != cur.obj["metadata"].get("resourceVersion"):
            raise conflict(rt, name)
        self._commit(rt, "MODIFIED", ns, name, cur.obj, obj)
        return obj

    def mutate(self, rt: ResourceType, namespace: str, name: str, fn: Callable[[dict], Any]) -> dict | None:
        """Change one object through ``fn(copy)``; commits only if it changed. Returns the new object."""
        cur = self._data[rt.key].get((namespace or "", name))
        if cur is None:
            return None
        new = json.loads(cur.json)
        fn(new)
        new["metadata"]["resourceVersion"] = cur.obj["metadata"].get("resourceVersion")
        if new == cur.obj:
            return cur.obj
        self._commit(rt, "MODIFIED", namespace or "", name, cur.obj, new)
        return new

    def update(self, rt: ResourceType, namespace: str, name: str, fn: Callable[[dict], Any]) -> dict | None:
        """A cheap change: ``fn`` gets a shallow copy (top level and metadata) and must *replace* nested
        values (``o["status"] = {...}``), never change them in place. Commits only if something changed."""
        cur = self._data[rt.key].get((namespace or "", name))
        if cur is None:
            return None
        new = dict(cur.obj)
        new["metadata"] = dict(cur.obj["metadata"])
        fn(new)
        if new == cur.obj:
            return cur.obj
        self._commit(rt, "MODIFIED", namespace or "", name, cur.obj, new)
        return new

    def set_status(self, rt: ResourceType, namespace: str, name: str, status: dict) -> dict | None:
        return self.update(rt, namespace, name, lambda o: o.__setitem__("status", status))

    def delete(self, rt: ResourceType, namespace: str, name: str) -> dict:
        key = (namespace or "", name)
        cur = self._data[rt.key].get(key)
        if cur is None:
            raise not_found(rt, name)
        last = cur.obj if self.building else json.loads(cur.json)
        self._commit(rt, "DELETED", key[0], name, cur.obj, last)
        return last

    def _commit(self, rt: ResourceType, etype: str, ns: str, name: str, old: dict | None, new: dict) -> None:
        self.rv += 1
        new.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        key = (ns, name)
        entry = Entry(new)
        table = self._data[rt.key]
        if etype == "DELETED":
            del table[key]
            byns = self._by_ns[rt.key].get(ns)
            if byns is not None:
                byns.pop(name, None)
                if not byns:
                    del self._by_ns[rt.key][ns]
            self._sorted[rt.key] = None
        else:
            if key not in table:
                self._sorted[rt.key] = None
            table[key] = entry
            self._by_ns[rt.key].setdefault(ns, {})[name] = entry
        if not self.building:
            change = Change(self.rv, rt, etype, ns, entry, old, self.now())
            self._history.append(change)
            if len(self._history) > self.history_max * 1.25:
                self._trim(len(self._history) - self.history_max)
            elif self.history_seconds and change.at - self._history[0].at > 2 * self.history_seconds:
                # cut by time here too, not only when a watch starts: watches kept open by bookmarks never ask,
                # and a busy simulator then held every change (old and new states) up to history_max. Cut when the
                # oldest is twice as old as kept (amortised); changes_since still cuts to exactly history_seconds
                self.compact(self.history_seconds)
            for w in tuple(self._watchers.get(rt.key, ())):
                w.offer(change)
        for cb in self._listeners:
            cb(rt, etype, old, None if etype == "DELETED" else new)

    # ----------------------------------------------------------------- history and watch
    def _trim(self, n: int) -> None:
        if n <= 0:
            return
        self._compacted_rv = self._history[n - 1].rv
        del self._history[:n]

    def compact(self, older_than: float | None = None) -> None:
        """Forget history older than ``older_than`` seconds (all of it when None)."""
        if older_than is None:
            self._history.clear()
            self._compacted_rv = self.rv
            return
        cutoff = self.now() - older_than
        n = 0
        for c in self._history:
            if c.at >= cutoff:
                break
            n += 1
        self._trim(n)

    def end_build(self) -> None:
        self.building = False
        self._compacted_rv = self.rv

    def changes_since(self, rt: ResourceType, rv: int) -> list[Change]:
        """History after ``rv`` for one resource type; raises 410 when it is no longer known."""
        if self.history_seconds:
            self.compact(self.history_seconds)
        if rv < self._compacted_rv:
            raise gone(f"too old resource version: {rv} ({self.rv})")
        if rv > self.rv:  # from another incarnation of the server, or made up: the client must relist
            raise ApiError(504, f"Timeout: Too large resource version: {rv}, current: {self.rv}", "Timeout",
                           {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                            "retryAfterSeconds": 1})
        i = bisect.bisect_right(self._history, rv, key=lambda c: c.rv)
        return [c for c in self._history[i:] if c.rt is rt]

    def add_watcher(self, w: Watcher) -> None:
        self._watchers.setdefault(w.rt.key, set()).add(w)

    def remove_watcher(self, w: Watcher) -> None:
        w.closed = True
        self._watchers.get(w.rt.key, set()).discard(w)

    def watchers(self) -> Iterable[Watcher]:
        for ws in self._watchers.values():
            yield from ws

    def close_watchers(self) -> int:
        n = 0
        for ws in self._watchers.values():
            for w in list(ws):
                if not w.closed:
                    w.closed = True
                    w.queue.put_nowait(None)
                    n += 1
            ws.clear()
        return n

    def add_listener(self, cb: Listener) -> None:
        self._listeners.append(cb)

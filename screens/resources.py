"""The shape every workload screen shares: a live table of objects, a detail line, keys to act.

A screen subclass says which objects it lists (from the state), its columns, what the detail
line says, and its actions. Lists are filtered and sorted in a worker; the table draws only the
visible lines. Actions go to the app, which runs them through the action registry.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from prophecis_tui.actions import Permission, Target
from prophecis_tui.sanitize import clean_line
from prophecis_tui.state import State
from widgets.resource_table import Column, ResourceTable, cell_text, sort_key
from widgets.key_bar import KeyBar

from .refresh import PacedRefresh


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


CLOCK = {"now": _utcnow}  # the app sets it (tests freeze it for snapshots)


def now() -> datetime:
    return CLOCK["now"]()


def age(t: datetime | None, at: datetime | None = None) -> str:
    """kubectl's AGE: 45s, 12m, 3h, 5d."""
    if t is None:
        return ""
    secs = max(int(((at or now()) - t).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size * (2 if unit != "m" else 1):
            return f"{secs // size}{unit}"
    return f"{secs}s"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


# ------------------------------------------------------------------------------------------ columns every screen has
def update_if_changed(widget: Static, text: Text, layout: bool = True) -> None:
    """Static.update() lays the whole screen out again: skip it when the text is what is shown already (a
    screen refreshed every second mostly shows the same summary). ``layout=False`` for a widget whose size
    the text cannot change (the one-line summary): it is only redrawn."""
    if getattr(widget, "_shown_text", None) != text:
        widget._shown_text = text  # type: ignore[attr-defined]
        widget.update(text, layout=layout)


def namespace_column() -> Column:
    return Column("namespace", "NAMESPACE", 18, lambda o: cell_text(o.namespace))


def gpu_column(**kw: Any) -> Column:
    return Column("gpu", "GPU", 3, lambda o: str(o.gpus) if o.gpus else "", sort=lambda o: o.gpus, justify="right",
                  **kw)


def when_column(key: str = "age", label: str = "AGE", attr: str = "created", width: int = 4, **kw: Any) -> Column:
    """How long ago an object's time was (kubectl's AGE); sorts newest first."""
    def ts(o: Any) -> float:
        t = getattr(o, attr)
        return -(t.timestamp()) if t else 0.0
    return Column(key, label, width, lambda o: age(getattr(o, attr)), sort=ts, **kw)


def labels_text(labels: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in labels.items())


def matches(obj: Any, words: list[str], extra: str = "") -> bool:
    """The `/` filter: every word must appear in the name, namespace, owner, state or labels."""
    if not words:
        return True
    hay = " ".join((obj.name, obj.namespace, getattr(obj, "user", "") or getattr(obj, "owner_name", ""),
                    str(getattr(obj, "state", "") or getattr(obj, "status", "")), getattr(obj, "reason", "") or "",
                    labels_text(getattr(obj, "labels", {}) or {}), extra)).lower()
    return all(w in hay for w in words)


NOT_APPLICABLE = Permission(False, "not for this object")


class ResourceScreen(PacedRefresh, Screen):
    TITLE_TEXT: ClassVar[str] = "Objects"
    NAME: ClassVar[str] = "objects"
    RESOURCE: ClassVar[str] = ""  # the backend's resource name, for describe/YAML
    KIND: ClassVar[str] = ""  # the Kubernetes kind (for events and audit targets)
    DEFAULT_SORT: ClassVar[str | None] = None
    ACTION_KEYS: ClassVar[dict[str, str]] = {}  # screen action name -> action id (for permission greying)
    BINDINGS = [
        Binding("d", "describe", "Describe", id="object.describe"),
        Binding("y", "yaml", "YAML", id="object.yaml"),
        Binding("e", "events", "Events", id="object.events"),
        Binding("o", "sort", "Sort", id="object.sort"),
        Binding("O", "sort_reverse", "Reverse", id="object.sort_reverse", show=False),
    ]
    DEFAULT_CSS = """
    ResourceScreen #summary { height: 1; padding: 0 1; }
    ResourceScreen > Vertical { height: 1fr; }
    ResourceScreen #detail { height: auto; max-height: 4; padding: 0 1; border-top: solid $panel; }
    """

    class Rows(Message):
        def __init__(self, rows: list[Any], total: int, context: Any, loaded: bool, index: dict[str, int],
                     layout: int = 0) -> None:
            super().__init__()
            self.rows, self.total, self.context, self.loaded, self.index = rows, total, context, loaded, index
            self.layout = layout  # the screen's rows_layout when they were computed

    class Permissions(Message):
        def __init__(self, perms: dict[tuple[str, str], Permission]) -> None:
            super().__init__()
            self.perms = perms

    def __init__(self, state: State, namespace: str | None = None) -> None:
        super().__init__(name=self.NAME)
        self.state = state
        self.scope = namespace
        self.filter_text = ""
        self.context: Any = None
        self.total = 0
        self.loaded = False
        self.perms: dict[tuple[str, str], Permission] = {}
        self._asked: set[tuple[str, str]] = set()
        self.table = ResourceTable(self.columns(), id="table")
        self.table.sort_column = self.DEFAULT_SORT
        self.init_refresh()

    # ------------------------------------------------------------------ what a subclass says
    def columns(self) -> list[Column]:
        raise NotImplementedError

    def objects(self) -> list[Any]:
        raise NotImplementedError

    def prepare(self, rows: list[Any]) -> Any:
        """Worker side: what the columns and the detail line need beyond the objects (e.g. explanations)."""
        return None

    def search_text(self, obj: Any) -> str:
        return ""

    def detail(self, obj: Any) -> Text:
        return Text("")

    def loaded_kinds(self) -> tuple[str, ...]:
        return ()

    def target(self, obj: Any) -> Target:
        return Target(self.KIND, obj.namespace, obj.name)

    def resource_of(self, obj: Any) -> str:
        return self.RESOURCE

    def action_id_for(self, method: str, obj: Any) -> str | None:
        return self.ACTION_KEYS.get(method)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield from self.app.compose_header()  # type: ignore[attr-defined]
        with Vertical():
            yield Static(id="summary")
            yield self.table
            yield Static("", id="detail")
        yield from self.app.compose_bars()  # type: ignore[attr-defined]
        yield KeyBar()

    def on_mount(self) -> None:
        self.table.focus()
        self.app.prefer_kinds(self.loaded_kinds())  # type: ignore[attr-defined]
        self.recompute()
        self.call_after_refresh(self.app.update_header)  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        self.app.prefer_kinds(self.loaded_kinds())  # type: ignore[attr-defined]
        self.recompute()
        self.call_after_refresh(self.app.update_header)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ data (paced: screens/refresh.py)
    def start_compute(self) -> None:
        self._compute(self.scope, self.filter_text, self.table.sort_column, self.table.sort_reverse)

    def listing(self) -> bool:
        return not self.loaded and bool(self.table.row_count)  # pages still arriving: the count may lag a little

    def completed(self) -> bool:
        return not self.loaded and all(self.state.has_data(k) for k in self.loaded_kinds())

    rows_layout = 0  # grows when the kind of rows changes (a view switch): rows computed before are dropped

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def _compute(self, scope: str | None, text: str, sort: str | None, reverse: bool) -> None:
        started = time.perf_counter()
        layout = self.rows_layout
        objs = self.objects()
        total = len(objs)
        words = text.lower().split()
        if words:
            objs = [o for o in objs if matches(o, words, self.search_text(o))]
        context = self.prepare(objs)
        column = next((c for c in self.table.all_columns if c.key == sort), None)
        if column is not None:
            self.context = context  # sort keys may read it
            key = sort_key(column)
            if not column.unique:  # ties in namespace/name order
                objs.sort(key=lambda o: (o.namespace, o.name))
            objs.sort(key=key, reverse=reverse)
        else:
            objs.sort(key=lambda o: (o.namespace, o.name))
        index = {o.uid: i for i, o in enumerate(objs)}  # here, not on the UI thread
        loaded = all(self.state.has_data(k) for k in self.loaded_kinds())
        self._cost = time.perf_counter() - started
        self.post_message(self.Rows(objs, total, context, loaded, index, layout))

    @on(Rows)
    def _show(self, msg: Rows) -> None:
        if msg.layout != self.rows_layout:  # worked out for the view before a switch: its rows fit other columns
            return
        self.shown = getattr(self, "shown", 0) + 1  # how many lists this screen has drawn (tests, the bench)
        self.context, self.total, self.loaded = msg.context, msg.total, msg.loaded
        self.table.hide({"namespace"} if self.scope else set())
        with self.app.batch_update():
            self.table.set_rows(msg.rows, msg.index)
            self._summary()
            self._detail()
            self.rows_shown()
        self._check_permissions()

    def rows_shown(self) -> None:
        """After each new list is on screen: what a subclass draws besides the table."""

    def _summary(self) -> None:
        rows = self.table.rows
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(self.TITLE_TEXT, "bold")
        line.append(f" in {self.scope}" if self.scope else " in all namespaces")
        if not self.loaded:
            line.append(f"  {len(rows)} so far, listing…" if rows else "  … listing", "dim")
        else:
            shown = f"{len(rows)}" if len(rows) == self.total else f"{len(rows)} of {self.total}"
            line.append(f"  {shown}", "bold")
        if self.filter_text:
            line.append(f"  filter: {clean_line(self.filter_text, 40)}", "yellow")
        if self.table.sort_column:
            label = next((c.label for c in self.table.all_columns if c.key == self.table.sort_column), "")
            line.append(f"  sorted by {label}{' ↓' if self.table.sort_reverse else ''}", "dim")
        extra = self.summary_extra()
        if extra:
            line.append("  ")
            line.append_text(extra)
        update_if_changed(self.query_one("#summary", Static), line, layout=False)  # height 1, the screen's width

    def summary_extra(self) -> Text | None:
        return None

    def _detail(self) -> None:
        obj = self.table.current
        detail = self.query_one("#detail", Static)
        if obj is None:
            update_if_changed(detail, Text("no objects match" if self.filter_text else
                                 ("nothing here" if self.loaded else "waiting for data…"), "dim"))
            return
        text = self.detail(obj)
        denied = self._denied_text(obj)
        if denied:
            text = Text.assemble(text, "\n" if text.plain else "", denied)
        update_if_changed(detail, text)

    @on(ResourceTable.CursorMoved)
    def _moved(self) -> None:
        self._detail()
        self._check_permissions()
        self._refresh_footer()

    def _refresh_footer(self) -> None:
        """Re-check the action keys only when their states change: refresh_bindings makes Textual work out
        every screen's active bindings again, and the cursor moves on every new list."""
        states = tuple(self.check_action(a, ()) for a in self.ACTION_KEYS)
        if states != getattr(self, "_key_states", None):
            self._key_states = states
            self.refresh_bindings()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.recompute()

    def scope_to(self, namespace: str | None) -> None:
        self.scope = namespace
        self.recompute()

    def current(self) -> Any:
        return self.table.current

    # ------------------------------------------------------------------ sorting
    def action_sort(self) -> None:
        keys = [c.key for c in self.table.columns]
        cur = self.table.sort_column
        self.table.sort_column = keys[(keys.index(cur) + 1) % len(keys)] if cur in keys else keys[0]
        self.table.sort_reverse = False
        self.recompute()

    def action_sort_reverse(self) -> None:
        self.table.sort_reverse = not self.table.sort_reverse
        self.recompute()

    # ------------------------------------------------------------------ drill-down
    @on(ResourceTable.Selected)
    def _selected(self, event: ResourceTable.Selected) -> None:
        event.stop()
        self.open(event.obj)

    def open(self, obj: Any) -> None:
        self.action_describe()

    def why(self, obj: Any) -> str:
        return ""

    def action_describe(self) -> None:
        obj = self.current()
        if obj is not None:
            self.app.show_object(self.resource_of(obj), obj, "describe", why=self.why(obj))  # type: ignore[attr-defined]

    def action_yaml(self) -> None:
        obj = self.current()
        if obj is not None:
            self.app.show_object(self.resource_of(obj), obj, "yaml")  # type: ignore[attr-defined]

    def action_events(self) -> None:
        obj = self.current()
        if obj is not None:
            self.app.show_events(obj, self.target(obj).kind)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ actions and their permissions
    def run_action(self, method: str, params: dict | None = None, obj: Any = None, on_done=None) -> None:
        obj = obj if obj is not None else self.current()
        if obj is None:
            return
        action = self.action_id_for(method, obj)
        if action is None:
            self.notify("not available for this object", severity="warning")
            return
        self.app.perform(action, self.target(obj), params or {}, on_done=on_done)  # type: ignore[attr-defined]

    def _check_permissions(self) -> None:
        obj = self.current()
        actions = getattr(self.app.session, "actions", None)  # type: ignore[attr-defined]
        if obj is None or actions is None or self.app.read_only:  # type: ignore[attr-defined]
            return
        wanted = []
        for method in self.ACTION_KEYS:
            aid = self.action_id_for(method, obj)
            if aid is not None and (aid, obj.namespace) not in self.perms and (aid, obj.namespace) not in self._asked:
                wanted.append((aid, obj.namespace))
        if wanted:
            self._asked.update(wanted)
            self._ask_permissions(wanted, self.target(obj))

    @work(thread=True, group="permissions", exit_on_error=False)
    def _ask_permissions(self, wanted: list[tuple[str, str]], target: Target) -> None:
        actions = self.app.session.actions  # type: ignore[attr-defined]
        out = {}
        for aid, ns in wanted:
            out[(aid, ns)] = actions.permission(aid, Target(target.kind, ns, target.name))
        self.post_message(self.Permissions(out))

    @on(Permissions)
    def _permissions(self, msg: Permissions) -> None:
        self.perms.update(msg.perms)
        self._refresh_footer()
        self._detail()

    def _permission(self, method: str) -> Permission | None:
        obj = self.current()
        if obj is None:
            return None
        aid = self.action_id_for(method, obj)
        if aid is None:
            return NOT_APPLICABLE
        return self.perms.get((aid, obj.namespace))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in self.ACTION_KEYS:
            return True
        if self.app.read_only:  # type: ignore[attr-defined]
            return False  # read-only: mutating keys are hidden, and refused if reached
        perm = self._permission(action)
        if perm is NOT_APPLICABLE:
            return False  # e.g. start on a running notebook: not offered
        if perm is not None and not perm.allowed:
            return None  # greyed in the footer; the detail line says why
        return True

    def _denied_text(self, obj: Any) -> Text | None:
        if self.app.read_only:  # type: ignore[attr-defined]
            return Text("read-only: actions are off", "dim")
        denied = []
        for method in self.ACTION_KEYS:
            perm = self._permission(method)
            if perm is not None and perm is not NOT_APPLICABLE and not perm.allowed:
                title = method.replace("_", " ")
                denied.append(f"{title}: {perm.reason}")
        if not denied:
            return None
        return Text("not allowed: " + "; ".join(dict.fromkeys(denied)), "dim")

    def on_key(self, event: events.Key) -> None:
        """An action key that is greyed, hidden (read-only) or not for this object explains itself.

        Textual does not run an action whose check_action is not True, so the actions themselves never
        see these cases."""
        for binding in self._bindings.key_to_bindings.get(event.key, []):
            if binding.action in self.ACTION_KEYS:
                perm = self._permission(binding.action)
                if self.app.read_only:  # type: ignore[attr-defined]
                    self.notify("read-only mode: actions are off", severity="warning")
                    event.stop()
                elif perm is NOT_APPLICABLE:
                    obj = self.current()
                    state = getattr(obj, "state", "")
                    self.notify(f"{binding.description}: not for {obj.name}" + (f" ({state})" if state else ""),
                                severity="warning")
                    event.stop()
                elif perm is not None and not perm.allowed:
                    self.notify(f"{binding.description}: {perm.reason}", severity="warning")
                    event.stop()

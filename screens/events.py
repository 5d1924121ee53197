"""Events (`:events`, or `e` on any object): what the cluster said, newest first, warnings marked."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from prophecis_tui.domain import Event
from widgets.resource_table import Column, cell_text

from .resources import ResourceScreen, age


def _when(e: Event) -> float:
    t = e.last or e.first
    return -(t.timestamp()) if t else 0.0


class EventsScreen(ResourceScreen):
    TITLE_TEXT = "Events"
    NAME = "events"
    RESOURCE = "events"
    KIND = "Event"
    DEFAULT_SORT = "last"

    def __init__(self, state, namespace: str | None = None, *, about: tuple[str, str, str] | None = None) -> None:
        self.about = about  # (kind, name, uid) of the object whose events these are
        super().__init__(state, namespace)
        if about is not None:
            self.TITLE_TEXT = f"Events of {about[0]} {about[1]}"

    def loaded_kinds(self) -> tuple[str, ...]:
        return ("events",)

    def columns(self) -> list[Column]:
        return [
            Column("last", "LAST", 5, lambda e: age(e.last or e.first), sort=_when),
            Column("type", "TYPE", 7, lambda e: cell_text(e.type, "bold yellow" if e.type == "Warning" else "dim"),
                   sort=lambda e: (e.type != "Warning", _when(e))),
            Column("reason", "REASON", 16, lambda e: cell_text(e.reason, "yellow" if e.type == "Warning" else "")),
            Column("object", "OBJECT", 30, lambda e: cell_text(f"{e.object_kind.lower()}/{e.object_name}")),
            Column("count", "COUNT", 5, lambda e: str(e.count), sort=lambda e: -e.count, justify="right",
                   narrow=False),
            Column("message", "MESSAGE", 30, lambda e: cell_text(e.message, limit=400), flex=True),
        ]

    def objects(self) -> list[Any]:
        events = self.state.events(self.scope)
        if self.about is not None:
            kind, name, uid = self.about
            events = [e for e in events if (uid and e.object_uid == uid)
                      or (e.object_name == name and (not kind or e.object_kind == kind))]
        return events

    def search_text(self, obj: Event) -> str:
        return f"{obj.object_kind} {obj.object_name} {obj.message} {obj.type}"

    def detail(self, e: Event) -> Text:
        t = Text()
        t.append(f"{e.object_kind}/{e.namespace}/{e.object_name}", "bold")
        t.append(f"  {e.type} {e.reason} x{e.count} from {e.source or '?'}", "dim")
        t.append("\n")
        t.append_text(cell_text(e.message, limit=600))
        return t

    def open(self, obj: Any) -> None:
        pass  # the detail line shows the whole message

    def action_describe(self) -> None:
        e = self.current()
        if e is not None:
            from .modals import TextView
            self.app.push_screen(TextView(f"Event {e.namespace}/{e.name}", "\n".join([
                f"Object:  {e.object_kind}/{e.namespace}/{e.object_name}", f"Type:    {e.type}",
                f"Reason:  {e.reason}", f"Count:   {e.count}", f"First:   {e.first}", f"Last:    {e.last}",
                f"Source:  {e.source}", "", e.message])))

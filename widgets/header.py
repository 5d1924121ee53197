"""The console's top line: where you are, who you are, and whether the data is fresh."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widget import Widget

from prophecis_tui.domain import Health, SourceHealth

STYLE = {Health.LIVE: "bold green", Health.STALE: "bold yellow", Health.FAILING: "bold red",
         Health.CONNECTING: "bold cyan"}
SEVERITY_WORDS = (("critical", "crit", "bold red"), ("warning", "warn", "yellow"), ("info", "info", "cyan"))


def health_text(h: SourceHealth, now: datetime | None = None) -> Text:
    t = Text()
    t.append(h.source + " ")
    if h.state == Health.STALE and h.since is not None:
        t.append(f"stale since {h.since.astimezone().strftime('%H:%M:%S')}", STYLE[h.state])
    else:
        t.append(h.state.value, STYLE[h.state])
    if h.reason and h.state in (Health.STALE, Health.FAILING):
        t.append(f": {h.reason}", "dim")
    return t


def firing_text(counts: dict[str, int]) -> Text:
    """Firing alerts by severity, the worst first: "▲ 2 crit 5 warn"; "▲ 0 firing" (dim) when none fires."""
    t = Text(no_wrap=True, end="")
    parts = [(counts.get(sev, 0), word, style) for sev, word, style in SEVERITY_WORDS if counts.get(sev, 0)]
    if not parts:
        t.append("▲ 0 firing", "dim")
        return t
    t.append("▲", parts[0][2])
    for n, word, style in parts:
        t.append(f" {n} {word}", style)
    return t


class StatusHeader(Widget):
    """context ▸ cluster │ user │ namespace │ READ-ONLY │ firing alerts │ health of each source.

    The firing alerts show only when the session has an alerts source (``alerts`` is not None)."""

    DEFAULT_CSS = """
    StatusHeader { height: 1; background: $panel; color: $text; }
    """

    def __init__(self) -> None:
        super().__init__(id="status-header")
        self.context = ""
        self.cluster = ""
        self.user = ""
        self.namespace: str | None = None
        self.read_only = False
        self.sources: list[SourceHealth] = []
        self.alerts: dict[str, int] | None = None  # firing alerts by severity; None: no alerts source

    def update_status(self, *, context: str, cluster: str, user: str, namespace: str | None, read_only: bool,
                      sources: list[SourceHealth], alerts: dict[str, int] | None = None) -> None:
        self.context, self.cluster, self.user = context, cluster, user
        self.namespace, self.read_only, self.sources = namespace, read_only, sources
        self.alerts = None if alerts is None else dict(alerts)
        self.refresh()

    def render(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" ⎈ ", "bold")
        t.append(self.context or "-", "bold")
        if self.cluster and self.size.width >= 100:
            t.append(f" @ {self.cluster}", "dim")
        t.append(" │ ")
        t.append(self.user or "?")
        t.append(" │ ns: ")
        t.append(self.namespace or "all", "bold")
        if self.read_only:
            t.append(" │ ")
            t.append(" READ-ONLY ", "bold reverse")
        if self.alerts is not None:
            t.append(" │ ")
            t.append_text(firing_text(self.alerts))
        for h in self.sources:
            t.append(" │ ")
            t.append_text(health_text(h))
        return t

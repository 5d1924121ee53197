"""The alert handover note: a Markdown summary of the alert timeline's moments over a period, for the next shift.

What the command line prints with ``prophecis-tui alerts history --md`` and what ``ctrl+s`` saves on the console's
timeline screen (``:history``): the period's counts by severity and what still fires, then per business system (tier
first, untagged last) one entry per alert with when it fired, who acknowledged or silenced it and why, when it
resolved and how long it lasted. One condition of one target seen by several sources is said once (as the alerts
screen folds them, ``alerts.correlate``), one alert on three or more replicas of a job is one entry naming them.

Core (no Textual): it reads ``store.TimelineEntry`` values and writes text.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from .sanitize import clean, clean_line


def of_system(systems: Any, want: str | None) -> bool:
    """Whether an alert of these business systems ((id, name, tier) each) is one ``want`` asks for: a system whose
    id or name contains it (case-insensitive); ``untagged`` (or ``-``, ``none``): of none; empty: every alert."""
    if not want:
        return True
    w = want.casefold()
    if w in ("untagged", "-", "none"):
        return not systems
    return any(w in sid.casefold() or w in name.casefold() for sid, name, _ in systems)


def systems_text(systems: Any) -> str:
    """The systems as one line: ``name (T1), name``, or ``untagged``."""
    return ", ".join(clean(n) + (f" (T{t})" if t is not None else "") for _, n, t in systems) or "untagged"


def span(seconds: float) -> str:
    """A duration as a handover note says it: 45m, 3h05m, 2d4h."""
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{hours // 24}d{hours % 24}h"


SEV_ORDER = {"critical": 0, "warning": 1, "info": 2}


def handover_note(entries: list, since: Any, until: Any, system: str | None = None) -> str:
    """A Markdown handover note of the alerts of [since, until): those with a moment in it, and those already
    firing when it began. ``entries``: the timeline up to ``until``, oldest first. Times are UTC, HH:MM when the
    period lies within one day, else with the date."""
    by_key: dict[str, list] = {}
    for e in entries:
        by_key.setdefault(e.key, []).append(e)
    alerts = []
    for key, es in by_key.items():
        inside = [e for e in es if since <= e.at < until]
        before = [e for e in es if e.at < since]
        carried = bool(before) and before[-1].state != "resolved"
        if not inside and not carried:
            continue
        last = es[-1]
        if not of_system(last.systems, system):
            continue
        alerts.append((key, last, inside, before[-1] if carried else None))

    def md(text: str, limit: int = 200) -> str:
        return clean_line(text, limit).replace("*", "\\*")

    alerts, related = _fold_conditions(alerts)
    fired = [e for _, _, inside, _ in alerts for e in inside if e.event in ("fired", "refired")]
    firing = [a for a in alerts if a[1].state != "resolved"]
    resolved = [a for a in alerts if a[1].state == "resolved" and any(e.event == "resolved" for e in a[2])]

    def by_sev(items: list, sev_of) -> str:
        counts: dict[str, int] = {}
        for x in items:
            counts[sev_of(x)] = counts.get(sev_of(x), 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: SEV_ORDER.get(kv[0], 9)))

    one_day = since.date() == (until - timedelta(microseconds=1)).date()

    def hm(t: Any) -> str:
        return t.strftime("%H:%M" if one_day else "%m-%d %H:%M")

    hours = (until - since).total_seconds()
    out = [f"# Alert handover: {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC ({span(hours)})", ""]
    if system:
        out += [f"Business systems matching {md(system, 60)!r} only.", ""]
    out.append(f"- Fired in the period: {len(fired)}" + (f" ({by_sev(fired, lambda e: e.severity)})" if fired else ""))
    out.append(f"- Still firing at the end: {len(firing)}"
               + (f" ({by_sev(firing, lambda a: a[1].severity)})" if firing else ""))
    out.append(f"- Resolved in the period: {len(resolved)}")
    if not alerts:
        out += ["", "No alerts in this period."]
        return "\n".join(out)

    groups: dict[tuple, list] = {}
    for a in alerts:
        systems = a[1].systems or ((None, None, None),)
        for sid, name, tier in systems:
            groups.setdefault((sid, name, tier), []).append(a)

    def group_order(k: tuple) -> tuple:
        sid, name, tier = k
        if sid is None:
            return (2, 0, "")
        return (0 if tier is not None else 1, tier or 0, name)

    for k in sorted(groups, key=group_order):
        sid, name, tier = k
        title = "Untagged (no business system)" if sid is None else (
            f"{md(name, 80)} ({md(sid, 40)}" + (f", tier {tier})" if tier is not None else ")"))
        out += ["", f"## {title}", ""]
        items = sorted(groups[k], key=lambda a: (a[1].state == "resolved", SEV_ORDER.get(a[1].severity, 9),
                                                 a[0]))
        for run in _replica_runs(items, related):
            if len(run) > 1:  # one condition on several replicas of one workload, nobody acted on it: one entry
                out += _replica_lines(run, related, md, hm)
                continue
            key, last, inside, carried = run[0]
            status = "resolved" if last.state == "resolved" else "**still firing**" + (
                f" ({last.state})" if last.state != "firing" else "")
            where = last.target or last.namespace
            head = f"- **{last.severity}** {md(last.name, 80)}" + (f" on {md(where, 120)}" if where else "")
            head += f": {status}"
            moments = []
            if carried is not None:
                moments.append(f"firing since before {hm(since)} ({carried.event} {carried.at:%m-%d %H:%M})")
            for e in inside:
                text = f"{e.event} {hm(e.at)}"
                if e.by:
                    text += f" by {md(e.by, 60)}"
                if e.note:
                    text += f' ("{md(e.note, 160)}")'
                moments.append(text)
            first = next((e for e in inside if e.event in ("fired", "refired")), None)
            end = next((e for e in reversed(inside) if e.event == "resolved"), None)
            if first is not None and end is not None and end.at >= first.at:
                moments.append(f"lasted {span((end.at - first.at).total_seconds())}")
            out.append(head)
            out.append("  " + "; ".join(moments))
            if related.get(key):
                out.append("  also seen as " + ", ".join(f"{md(r[1].name, 60)} ({r[1].source})" for r in related[key]))
            if last.summary:
                out.append(f"  > {md(last.summary)}")
    return "\n".join(out)


_SOURCE_RANK = {"alertmanager": 0, "platform": 1, "events": 2}
_REPLICA = re.compile(r"^(?P<stem>.+)-(?P<replica>(?:master|worker|chief|ps|evaluator|launcher)-\d+)$")


def _fold_conditions(alerts: list) -> tuple[list, dict[str, list]]:
    """One item per condition and target, as the alerts screen shows them (prophecis_tui.alerts.correlate): the
    Alertmanager's before the platform rule's before the events', a live one first. Returns the items kept and,
    per kept key, the items folded into it."""
    from .alerts import condition_of
    kept: list = []
    by_cond: dict[tuple[str, str], list] = {}
    for a in alerts:
        last = a[1]
        cond = condition_of(last.source, last.name, last.summary) if last.target else ""
        if cond:
            by_cond.setdefault((cond, last.target), []).append(a)
        else:
            kept.append(a)
    related: dict[str, list] = {}
    for items in by_cond.values():
        items.sort(key=lambda a: (a[1].state == "resolved", _SOURCE_RANK.get(a[1].source, 3)))
        kept.append(items[0])
        if items[1:]:
            related[items[0][0]] = items[1:]
    return kept, related


def _replica_runs(items: list, related: dict[str, list]) -> list[list]:
    """The items, those of one alert on three or more replicas of one workload (``<job>-worker-3``) in one state,
    with no ack, silence or note among their moments, gathered into one run (in the place of the first); what
    was folded into them (``related``) is said once for the run."""
    runs: list[list] = []
    at: dict[tuple, int] = {}
    for it in items:
        key, last, inside, carried = it
        m = _REPLICA.match(last.target.rpartition("/")[2]) if last.target.startswith("Pod ") else None
        quiet = not any(e.by or e.note for e in inside) and last.state in ("firing", "resolved")
        if m is None or not quiet:
            runs.append([it])
            continue
        k = (last.name, last.severity, last.state, last.target.rpartition("/")[0], m.group("stem"))
        if k in at:
            runs[at[k]].append(it)
        else:
            at[k] = len(runs)
            runs.append([it])
    out: list[list] = []
    for run in runs:
        out.extend([run] if len(run) >= 3 else [[it] for it in run])
    return out


def _replica_lines(run: list, related: dict[str, list], md: Any, hm: Any) -> list[str]:
    last = run[0][1]
    ns_kind, _, pod = last.target.rpartition("/")
    stem = _REPLICA.match(pod).group("stem")  # type: ignore[union-attr]
    replicas = sorted((_REPLICA.match(it[1].target.rpartition("/")[2]).group("replica") for it in run),  # type: ignore[union-attr]
                      key=lambda r: (r.rpartition("-")[0], int(r.rpartition("-")[2])))
    status = "resolved" if last.state == "resolved" else "**still firing**"
    where = f"{ns_kind.removeprefix('Pod ')}/{stem}"
    lines = [f"- **{last.severity}** {md(last.name, 80)} on {len(run)} pods of {md(where, 120)} "
             f"({md(', '.join(replicas), 200)}): {status}"]
    starts = [e.at for it in run for e in it[2] if e.event in ("fired", "refired")]
    ends = [e.at for it in run for e in it[2] if e.event == "resolved"]
    moments = []
    if any(it[3] is not None for it in run):
        moments.append("firing since before the period")
    if starts:
        lo, hi = min(starts), max(starts)
        moments.append(f"fired {hm(lo)}" + (f"-{hm(hi)}" if hm(hi) != hm(lo) else ""))
    if ends and last.state == "resolved":
        moments.append(f"resolved by {hm(max(ends))}")
    lines.append("  " + "; ".join(moments))
    also = {f"{md(r[1].name, 60)} ({r[1].source})": None for it in run for r in related.get(it[0], ())}
    if also:
        lines.append("  also seen as " + ", ".join(also))
    if last.summary:
        lines.append(f"  > {md(last.summary)}")
    return lines

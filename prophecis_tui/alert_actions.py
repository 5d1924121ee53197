"""The alert actions, as specs for the one action registry (``prophecis_tui.actions.Actions``):

- ``silence.create``: a silence on the Alertmanagers (``POST <am>/api/v2/silences``). Dangerous (confirmed, the
  confirmation shows the exact call); the author is the identity the cluster knows (never typed); the comment
  must carry a ticket reference (``[alerts] ticket_pattern``); 1 minute to 30 days; at least one equality
  matcher (a silence of regexes alone could mute everything).
- ``silence.expire``: ends a silence now (``DELETE <am>/api/v2/silence/<id>``). Dangerous.
- ``alert.ack``: a local acknowledgement with a note, in the console's alert timeline (``alerts.db``).

Permission: creating a silence is RBAC verb ``create`` on ``monitoring.coreos.com`` ``silences`` in the alert's
namespace (cluster scope when it has none), expiring is ``delete`` on the same (the registry's
SelfSubjectAccessReview); an ack is local (no RBAC), refused in read-only mode like everything else. None of them
writes a Kubernetes Event (their target is no object). After each, the alerts poller polls again (``refresh``), so
the alert shows silenced or acked at once.

The backends: ``Actions.backends["alertmanager"]`` is a ``backends.alertmanager.AlertmanagerSet`` (absent when no
Alertmanager is configured: the registry then says "no alertmanager configured"), ``["timeline"]`` the
``store.AlertTimeline``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from .actions import ActionContext, ActionSpec, Outcome, Target, refreshing
from .alerts import workload_keys
from .config import DEFAULT_TICKET_PATTERN
from .domain import Alert, BackendError, Invalid, NotFound, SilenceMatcher

__all__ = ["MAX_SILENCE", "MIN_SILENCE", "SILENCE_GROUP", "SILENCE_RESOURCE", "alert_actions", "matchers_of",
           "parse_duration", "silence_matchers_for"]

SILENCE_GROUP = "monitoring.coreos.com"  # what RBAC is asked about (the prometheus-operator's group)
SILENCE_RESOURCE = "silences"
MIN_SILENCE = timedelta(minutes=1)
MAX_SILENCE = timedelta(days=30)
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def parse_duration(text: Any) -> timedelta | None:
    """``"2h"``, ``"30m"``, ``"1d"``, ``"1h30m"``, ``"90s"`` as a timedelta; None when it is not one."""
    if isinstance(text, timedelta):
        return text
    if not isinstance(text, str):
        return None
    t = text.strip().lower().replace(" ", "")
    if not t or _DURATION.sub("", t):
        return None
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(t)))


def _show_duration(d: timedelta) -> str:
    secs = int(d.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            parts.append(f"{secs // size}{unit}")
            secs %= size
    return "".join(parts) or "0s"


def matchers_of(value: Any) -> list[SilenceMatcher]:
    """The ``matchers`` param (dicts with name, value, is_regex/isRegex, is_equal/isEqual; or SilenceMatcher) as
    SilenceMatchers. Raises ValueError naming what is wrong."""
    if not isinstance(value, (list, tuple)):
        raise ValueError("matchers must be a list of {name, value, is_regex, is_equal}")
    out = []
    for i, m in enumerate(value, 1):
        if isinstance(m, SilenceMatcher):
            out.append(m)
            continue
        if not isinstance(m, dict):
            raise ValueError(f"matcher {i}: must be {{name, value, is_regex, is_equal}}")
        name, val = m.get("name"), m.get("value", "")
        if not isinstance(name, str) or not isinstance(val, str):
            raise ValueError(f"matcher {i}: name and value must be text")
        out.append(SilenceMatcher(name=name.strip(), value=val, is_regex=bool(m.get("is_regex", m.get("isRegex", False))),
                                  is_equal=bool(m.get("is_equal", m.get("isEqual", True)))))
    return out


#: The labels that say what an alert is about, narrowest first: the silence form pre-fills the alert's name,
#: namespace and the first of these it has.
TARGET_LABELS = ("pod", "job_name", "notebook", "seldon_deployment_id", "deployment", "node", "Hostname", "instance")


def silence_matchers_for(alert: Alert) -> list[SilenceMatcher]:
    """The matchers a silence of this alert starts from (shown for review, each one can be changed): its
    ``alertname``, ``namespace``, and the label naming its target (pod, job, notebook, deployment or node)."""
    labels = alert.labels
    out = [SilenceMatcher(name="alertname", value=labels.get("alertname", alert.name))]
    ns_key, pod_key = workload_keys(labels)  # a relabelled scrape's workload is exported_*; a free GPU has none
    if ns_key and labels.get(ns_key):
        out.append(SilenceMatcher(name=ns_key, value=labels[ns_key]))
    for key in ((pod_key,) if pod_key else ()) + TARGET_LABELS[1:]:
        if labels.get(key):
            out.append(SilenceMatcher(name=key, value=labels[key]))
            if key in ("Hostname", "node") and labels.get("gpu"):  # one GPU, not every GPU of the node
                out.append(SilenceMatcher(name="gpu", value=labels["gpu"]))
            break
    return out


def _ticket_help(pattern: str) -> str:
    if pattern == DEFAULT_TICKET_PATTERN:
        return "a ticket reference such as OPS-1234, INC0012345 or #123"
    return f"a ticket reference (text matching {pattern})"


def _window(p: dict, now: datetime) -> tuple[datetime, datetime, str]:
    """(starts, ends, how it was asked) from ``duration`` or ``ends``. Raises ValueError."""
    if p.get("ends") not in (None, ""):
        ends = p["ends"]
        if isinstance(ends, str):
            try:
                ends = datetime.fromisoformat(ends.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"ends {ends!r} is not a time (2026-11-29T18:00:00Z)") from None
        if not isinstance(ends, datetime):
            raise ValueError("ends must be a time")
        if ends.tzinfo is None:
            ends = ends.replace(tzinfo=timezone.utc)
        length = ends - now
        asked = f"until {ends.astimezone(timezone.utc):%Y-%m-%d %H:%M}Z"
    else:
        length = parse_duration(p.get("duration"))
        if length is None:
            raise ValueError(f"duration {p.get('duration')!r} is not a duration: write 30m, 2h, 1d or 1h30m")
        ends = now + length
        asked = _show_duration(length)
    if length < MIN_SILENCE:
        raise ValueError(f"a silence lasts at least 1 minute ({asked} asked)")
    if length > MAX_SILENCE:
        raise ValueError(f"a silence lasts at most 30 days ({asked} asked): open a change to mute longer")
    return now, ends, asked


def _names(p: dict) -> list[str] | None:
    ams = p.get("alertmanagers")
    if ams in (None, "", []):
        return None
    if isinstance(ams, str):
        return [ams]
    return [str(a) for a in ams]


def _stamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def alert_actions(settings: Any = None, *, alertmanagers: Any = None, identity: Any = None,
                  refresh: Callable[[], None] | None = None,
                  clock: Callable[[], datetime] = _now) -> list[ActionSpec]:
    """The three specs. ``settings``: ``[alerts]`` (``ticket_pattern``; default the built-in one);
    ``alertmanagers``: the session's ``AlertmanagerSet`` (its members' URLs make the confirmation's exact call;
    None: the call names the Alertmanagers by name); ``identity``: who creates silences (shown in the
    confirmation; the perform takes it from the registry's context); ``refresh``: the alerts poller's, called
    after each action that did something."""
    pattern = getattr(settings, "ticket_pattern", None) or DEFAULT_TICKET_PATTERN
    ticket = re.compile(pattern)

    def bases(names: Iterable[str] | None) -> list[str]:
        members = list(alertmanagers or [])
        if names is not None:
            by = {m.name: m for m in members}
            return [f"{by[n].url}/api/v2" if n in by else f"<{n}>/api/v2" for n in names]
        return [f"{m.url}/api/v2" for m in members] or ["<alertmanager>/api/v2"]

    done = refreshing(refresh)

    # ---------------------------------------------------------------- silence.create
    def validate_create(t: Target, p: dict) -> str:
        try:
            ms = matchers_of(p.get("matchers"))
        except ValueError as err:
            return str(err)
        if not ms:
            return "a silence needs at least one matcher"
        for m in ms:
            if not m.name:
                return f"matcher {m}: a matcher needs a label name"
            if m.is_regex:
                try:
                    re.compile(m.value)
                except re.error as err:
                    return f'matcher {m}: the regular expression does not compile ({err})'
        if not any(m.is_equal and not m.is_regex and m.value for m in ms):
            return ("a silence needs at least one equality matcher (name=\"value\"): regular expressions and "
                    "negations alone could mute far more than this alert")
        try:
            _window(p, clock())
        except ValueError as err:
            return str(err)
        comment = p.get("comment")
        if not isinstance(comment, str) or not comment.strip():
            return f"a silence needs a comment with {_ticket_help(pattern)}"
        if not ticket.search(comment):
            return f"the comment needs {_ticket_help(pattern)}: none found in {comment.strip()[:60]!r}"
        return ""

    def body(p: dict, created_by: str, now: datetime) -> dict:
        starts, ends, _ = _window(p, now)
        return {"matchers": [{"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                             for m in matchers_of(p.get("matchers"))],
                "startsAt": _stamp(starts), "endsAt": _stamp(ends), "createdBy": created_by,
                "comment": str(p.get("comment", "")).strip()}

    def describe_create(t: Target, p: dict) -> str:
        who = getattr(identity, "user", "") or "<you>"
        try:
            doc = json.dumps(body(p, who, clock()), ensure_ascii=False, separators=(",", ":"))
        except ValueError as err:
            doc = f"(not valid: {err})"
        calls = " and ".join(f"POST {b}/silences" for b in bases(_names(p)))
        return f"{calls} {doc}"

    def create(backend: Any, t: Target, p: dict, ctx: ActionContext) -> Outcome:
        starts, ends, asked = _window(p, ctx.clock())
        ms = matchers_of(p.get("matchers"))
        comment = str(p.get("comment", "")).strip()
        ids = backend.create_silence(ms, starts, ends, ctx.identity.user, comment, on=_names(p))
        where = ", ".join(f"{sid} on {name}" for name, sid in ids.items())
        shown = ", ".join(str(m) for m in ms)
        return done(Outcome(f"silenced {shown} for {asked} (until {ends.astimezone(timezone.utc):%H:%M}Z): "
                            f"silence {where}",
                            {"silence_ids": dict(ids), "starts": _stamp(starts), "ends": _stamp(ends)}))

    def audit_create(p: dict) -> dict:
        try:
            ms = [str(m) for m in matchers_of(p.get("matchers"))]
        except ValueError:
            ms = [repr(p.get("matchers"))[:200]]
        out: dict[str, Any] = {"matchers": ms, "comment": str(p.get("comment", ""))}
        if p.get("ends") not in (None, ""):
            out["ends"] = str(p["ends"])
        else:
            out["duration"] = str(p.get("duration", ""))
        out["alertmanagers"] = _names(p) or "all"
        return out

    # ---------------------------------------------------------------- silence.expire
    def validate_expire(t: Target, p: dict) -> str:
        sid = p.get("silence_id") or t.name
        if not isinstance(sid, str) or not sid.strip():
            return "which silence? (no silence id)"
        return ""

    def describe_expire(t: Target, p: dict) -> str:
        sid = p.get("silence_id") or t.name
        am = p.get("alertmanager")
        return " and ".join(f"DELETE {b}/silence/{sid}" for b in bases([am] if am else None))

    def expire(backend: Any, t: Target, p: dict) -> Outcome:
        sid = str(p.get("silence_id") or t.name)
        am = p.get("alertmanager")
        if am:
            backend.expire_silence(sid, am)
            return done(Outcome(f"silence {sid} expired on {am}", {"silence_id": sid, "alertmanagers": [am]}))
        expired, missing = [], []
        for name in backend.names:  # an HA pair holds the same silence: each that has it
            try:
                backend.expire_silence(sid, name)
                expired.append(name)
            except NotFound:
                missing.append(name)
        if not expired:
            raise NotFound(f"no Alertmanager holds silence {sid} ({', '.join(missing) or 'none configured'})")
        return done(Outcome(f"silence {sid} expired on {', '.join(expired)}", {"silence_id": sid,
                                                                              "alertmanagers": expired}))

    # ---------------------------------------------------------------- alert.ack
    def validate_ack(t: Target, p: dict) -> str:
        note = p.get("note")
        if not isinstance(note, str) or not note.strip():
            return "an acknowledgement needs a note (what you are doing about it)"
        return ""

    def ack(backend: Any, t: Target, p: dict, ctx: ActionContext) -> Outcome:
        alert = p.get("alert") if isinstance(p.get("alert"), Alert) else None
        note = str(p["note"]).strip()
        try:
            entry = backend.ack(t.name, ctx.identity.user, note, alert, at=ctx.clock())
        except BackendError:
            raise
        except Exception as err:  # sqlite3 errors: one line
            raise Invalid(f"the alert timeline could not record the ack: {err}") from None
        what = entry.name or t.name
        return done(Outcome(f"{what} acknowledged by {ctx.identity.user}: {note}",
                            {"key": t.name, "at": entry.at.isoformat()}))

    return [
        ActionSpec("silence.create", "Create silence", "create", SILENCE_GROUP, SILENCE_RESOURCE, create,
                   describe_create, dangerous=True, takes_context=True, audit_params=audit_create,
                   validate=validate_create, backend="alertmanager", event=False),
        ActionSpec("silence.expire", "Expire silence", "delete", SILENCE_GROUP, SILENCE_RESOURCE, expire,
                   describe_expire, dangerous=True, validate=validate_expire, backend="alertmanager", event=False,
                   audit_params=lambda p: {"silence_id": str(p.get("silence_id", "")),
                                           "alertmanager": str(p.get("alertmanager") or "all")}),
        ActionSpec("alert.ack", "Acknowledge alert", "", "", "", ack,
                   lambda t, p: f"acknowledge {t.name} in the console's alert timeline (alerts.db), note: "
                                f"{str(p.get('note', '')).strip()!r}",
                   takes_context=True, validate=validate_ack, backend="timeline", event=False,
                   audit_params=lambda p: {"note": str(p.get("note", ""))}),
    ]

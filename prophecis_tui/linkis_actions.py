"""The Linkis actions, as specs for the one action registry (``prophecis_tui.actions.Actions``):

- ``linkis.submit``: runs code on an engine (``POST <gateway>/api/rest_j/v1/entrance/submit``). Target
  ``Target("LinkisTask", "", "new")``; params from the form: engine (``spark-2.4.3``), run_type, creator (IDE),
  code, variables (a dict, or ``k=v`` lines), queue (the YARN queue, ``wds.linkis.rm.yarnqueue``), startup (a dict).
- ``linkis.kill``: ``GET <gateway>/api/rest_j/v1/entrance/<execID>/kill?taskID=N``. Target the task
  (``Target("LinkisTask", "", "<taskID>")``), params exec_id. Dangerous and destructive: confirmed, with a reason.
- ``linkis.resubmit``: the old task's code, engine, run type, creator, variables and startup submitted again.
  Target the old task; params: optional ``task`` (the LinkisTask the screen shows; otherwise it is read from the
  job history) and ``engine`` (when the history names the engine without its version). Confirmed.
- ``linkis.save_result``: a result set (every page) written to a local file as CSV or JSON. Params task_id, path
  (the result file), out (the local file), format (csv|json), overwrite. Changes nothing on the platform, so it is
  allowed in read-only mode (``read_only_ok``), audited all the same.

All use ``Actions.backends["linkis"]`` (the session's ``backends.linkis.LinkisSync``; absent: "no linkis
configured"), verb "" (Linkis has no Kubernetes RBAC: Linkis itself refuses what the user may not do, e.g. the
viewer's submit), and write no Kubernetes Event. Read-only mode refuses submit, kill and resubmit here, and the
LinkisSync built read-only refuses them again before any request.

The audit row keeps of the code only its first line (cut to 120 characters), its length and its sha256; values of
secret-looking variable and startup names are masked.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from .actions import ActionSpec, Outcome, Target, refreshing
from .domain import Invalid, LinkisState, LinkisSubmit, LinkisTask, NotFound
from .linkis_tasks import DEFAULT_ENGINES, engine_kind, fetch_result, run_types, save_result
from .sanitize import clean_line
from .store import MASK, secret_name

__all__ = ["API", "QUEUE_KEY", "code_summary", "linkis_actions", "parse_variables"]

API = "/api/rest_j/v1"
QUEUE_KEY = "wds.linkis.rm.yarnqueue"
MAX_CODE = 1_000_000  # characters
_ENGINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*-[A-Za-z0-9][A-Za-z0-9_.-]*$")  # as [linkis] engines takes them
_RUN_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")
_CREATOR = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")
_STARTUP = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,255}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
_FORMATS = ("csv", "json")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def parse_variables(value: Any) -> dict[str, str]:
    """The ``variables`` param as a dict: a dict, a list of ``k=v``, or text of ``k=v`` lines (or separated by
    commas/semicolons when on one line). Raises ValueError naming what is wrong (never a value: it may be a
    secret)."""
    if value in (None, "", [], {}):
        return {}
    if isinstance(value, dict):
        items = list(value.items())
    else:
        if isinstance(value, str):
            parts = value.splitlines() if "\n" in value else re.split(r"[;,]", value)
        elif isinstance(value, (list, tuple)):
            parts = list(value)
        else:
            raise ValueError("variables must be name=value pairs")
        items = []
        for i, part in enumerate(parts, 1):
            if not isinstance(part, str):
                raise ValueError(f"variable {i} is not name=value text")
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError(f"variable {i} ({part.strip()[:40]!r}) is not name=value")
            k, v = part.split("=", 1)
            items.append((k, v))
    out: dict[str, str] = {}
    for k, v in items:
        name = str(k).strip()
        if not _VAR.match(name):
            raise ValueError(f"variable name {name[:40]!r}: a letter or _ first, then letters, digits, _ or .")
        if v is None or isinstance(v, (dict, list, tuple)):
            raise ValueError(f"variable {name}: the value must be text")
        out[name] = str(v).strip() if isinstance(v, str) else str(v)
    return out


def _startup(p: dict) -> dict[str, str]:
    """The startup configuration the params ask for, the queue included."""
    raw = p.get("startup") or {}
    if not isinstance(raw, dict):
        raise ValueError("startup must be name: value pairs")
    out: dict[str, str] = {}
    for k, v in raw.items():
        name = str(k).strip()
        if not _STARTUP.match(name):
            raise ValueError(f"startup setting {name[:40]!r} is not a configuration key")
        if v is None or isinstance(v, (dict, list, tuple)):
            raise ValueError(f"startup setting {name}: the value must be text")
        out[name] = str(v).strip()
    queue = str(p.get("queue") or "").strip()
    if queue:
        out[QUEUE_KEY] = queue
    return out


def code_summary(code: str) -> dict[str, Any]:
    """What the audit keeps of a job's code: the first line (cut to 120 characters), its length, its sha256."""
    text = code or ""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return {"code_first_line": first[:119] + "…" if len(first) > 120 else first, "code_chars": len(text),
            "code_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()}


def _masked(values: dict[str, str]) -> dict[str, str]:
    return {k: MASK if secret_name(k) else v for k, v in values.items()}


def _job_of(p: dict) -> LinkisSubmit:
    """The LinkisSubmit of a submit's params (validated). Raises ValueError."""
    return LinkisSubmit(code=str(p.get("code") or ""), run_type=str(p.get("run_type") or "").strip(),
                        engine=str(p.get("engine") or "").strip(),
                        creator=str(p.get("creator") or "IDE").strip() or "IDE",
                        variables=parse_variables(p.get("variables")), startup=_startup(p),
                        script_path=str(p.get("script_path") or ""))


def _job_problem(engine: str, run_type: str, creator: str, code: str) -> str:
    if not engine:
        return "choose an engine (e.g. spark-2.4.3)"
    if not _ENGINE.match(engine):
        return f"engine {engine[:40]!r}: write it as <engine>-<version>, e.g. spark-2.4.3, hive-2.3.3"
    if not run_type:
        return f"choose a run type for {engine}" + (f" ({', '.join(run_types(engine))})" if run_types(engine) else "")
    if not _RUN_TYPE.match(run_type):
        return f"run type {run_type[:40]!r} is not one"
    known = run_types(engine)
    if known and run_type not in known:
        return f"{engine_kind(engine)} runs {', '.join(known)}, not {run_type}"
    if not _CREATOR.match(creator):
        return f"creator {creator[:40]!r}: letters, digits and _ (e.g. IDE)"
    if not code.strip():
        return "the code is empty"
    if len(code) > MAX_CODE:
        return f"the code is {len(code):,} characters: at most {MAX_CODE:,}"
    return ""


def _validate_submit(t: Target, p: dict) -> str:
    queue = str(p.get("queue") or "").strip()
    if queue and (len(queue) > 255 or not _QUEUE.match(queue)):
        return f"queue {queue[:40]!r}: a YARN queue such as root.ml (letters, digits, _ and -, parts joined by .)"
    try:
        job = _job_of(p)
    except ValueError as err:
        return str(err)
    return _job_problem(job.engine, job.run_type, job.creator, job.code)


def _audit_submit(p: dict) -> dict:
    out: dict[str, Any] = {"engine": str(p.get("engine") or ""), "run_type": str(p.get("run_type") or ""),
                           "creator": str(p.get("creator") or "IDE"), "queue": str(p.get("queue") or "")}
    try:
        out["variables"] = _masked(parse_variables(p.get("variables")))
    except ValueError:
        out["variables"] = "(not valid)"
    raw = p.get("startup")
    if isinstance(raw, dict) and raw:
        out["startup"] = _masked({str(k): str(v) for k, v in raw.items()})
    out.update(code_summary(str(p.get("code") or "")))
    return out


def _task_id(t: Target, p: dict) -> int | None:
    raw = p.get("task_id", t.name)
    try:
        n = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def linkis_actions(*, gateway: str = "", refresh: Callable[[], None] | None = None, state: Any = None,
                   engines: list[str] | None = None, clock: Callable[[], datetime] = _now) -> list[ActionSpec]:
    """The four specs. ``gateway``: the gateway's URL (the confirmation's exact call; "" shows ``<gateway>``);
    ``refresh``: the Linkis poller's, called after a submit or a kill; ``state``: the session's State (a new task
    shows at once, before the next poll); ``engines``: what a re-submit picks the version from when the history
    names only the engine (default: ``linkis_tasks.DEFAULT_ENGINES``)."""
    base = (gateway or "<gateway>").rstrip("/") + API
    known_engines = list(engines or DEFAULT_ENGINES)

    done = refreshing(refresh)

    def submitted(backend: Any, job: LinkisSubmit, task_id: int, exec_id: str) -> None:
        if state is None:
            return
        try:
            state.update_linkis_task(LinkisTask(
                task_id=task_id, exec_id=exec_id, user=getattr(backend, "user", ""),
                submit_user=getattr(backend, "user", ""), engine=job.engine, creator=job.creator,
                run_type=job.run_type, code=job.code, state=LinkisState.INITED, created=clock(),
                variables=dict(job.variables), startup=dict(job.startup), gateway=getattr(backend, "name", "")))
        except Exception:  # the poller brings it anyway
            pass

    def describe_job(job_engine: str, run_type: str, creator: str, queue: str) -> str:
        return (f"POST {base}/entrance/submit engineType={job_engine or '?'} runType={run_type or '?'} "
                f"creator={creator or 'IDE'}" + (f" queue={queue}" if queue else ""))

    # ---------------------------------------------------------------- linkis.submit
    def describe_submit(t: Target, p: dict) -> str:
        code = str(p.get("code") or "")
        return (describe_job(str(p.get("engine") or ""), str(p.get("run_type") or ""), str(p.get("creator") or ""),
                             str(p.get("queue") or "").strip())
                + f" ({len(code):,} characters of code)")

    def submit(backend: Any, t: Target, p: dict) -> Outcome:
        try:
            job = _job_of(p)
        except ValueError as err:
            raise Invalid(str(err), status=400) from None
        task_id, exec_id = backend.submit(job)
        submitted(backend, job, task_id, exec_id)
        return done(Outcome(f"task {task_id} submitted ({job.engine}, {job.run_type})",
                            {"task_id": task_id, "exec_id": exec_id, "engine": job.engine, "run_type": job.run_type}))

    # ---------------------------------------------------------------- linkis.kill
    def validate_kill(t: Target, p: dict) -> str:
        if _task_id(t, {}) is None:
            return f"which task? ({t.name[:40]!r} is not a task id)"
        if not str(p.get("exec_id") or "").strip():
            return (f"task {t.name} has no execID (it has left the entrance, or the history does not say): "
                    "Linkis kills a job through its execID")
        return ""

    def describe_kill(t: Target, p: dict) -> str:
        exec_id = quote(str(p.get("exec_id") or "<execID>"), safe="")
        return f"GET {base}/entrance/{exec_id}/kill?taskID={t.name}"

    def kill(backend: Any, t: Target, p: dict) -> Outcome:
        task_id = _task_id(t, {})
        exec_id = str(p.get("exec_id")).strip()
        message = backend.kill(exec_id, task_id)
        shown = clean_line(str(message or ""), 160)
        return done(Outcome(f"task {task_id}: kill sent" + (f" ({shown})" if shown else ""),
                            {"task_id": task_id, "exec_id": exec_id}))

    # ---------------------------------------------------------------- linkis.resubmit
    def old_task(backend: Any, t: Target, p: dict) -> LinkisTask:
        task = p.get("task")
        if isinstance(task, LinkisTask) and str(task.task_id) == t.name and task.code:
            return task
        task_id = _task_id(t, {})
        if task_id is None:
            raise Invalid(f"which task? ({t.name[:40]!r} is not a task id)", status=400)
        got = backend.task(task_id)
        if got is None:
            raise NotFound(f"task {task_id} is not in the job history", status=404)
        return got

    def engine_of(task: LinkisTask, p: dict) -> str:
        asked = str(p.get("engine") or "").strip()
        if asked:
            return asked
        if _ENGINE.match(task.engine):
            return task.engine
        kind = engine_kind(task.engine)
        return next((e for e in known_engines if engine_kind(e) == kind), task.engine)

    def resubmit_job(task: LinkisTask, p: dict) -> LinkisSubmit:
        return LinkisSubmit(code=task.code, run_type=task.run_type, engine=engine_of(task, p),
                            creator=task.creator or "IDE", variables=dict(task.variables),
                            startup=dict(task.startup))

    def validate_resubmit(t: Target, p: dict) -> str:
        if _task_id(t, {}) is None:
            return f"which task? ({t.name[:40]!r} is not a task id)"
        task = p.get("task")
        if isinstance(task, LinkisTask):
            job = resubmit_job(task, p)
            if not job.code.strip():
                return f"task {t.name}: the history holds no code to run again"
            return _job_problem(job.engine, job.run_type, job.creator, job.code)
        return ""

    def describe_resubmit(t: Target, p: dict) -> str:
        task = p.get("task")
        if isinstance(task, LinkisTask):
            job = resubmit_job(task, p)
            return (describe_job(job.engine, job.run_type, job.creator, job.startup.get(QUEUE_KEY, ""))
                    + f" (the code of task {t.name} again, {len(job.code):,} characters)")
        return f"GET {base}/jobhistory/{t.name}/get, then POST {base}/entrance/submit with its code and parameters"

    def resubmit(backend: Any, t: Target, p: dict) -> Outcome:
        task = old_task(backend, t, p)
        job = resubmit_job(task, p)
        why = _job_problem(job.engine, job.run_type, job.creator, job.code)
        if why:
            raise Invalid(f"task {t.name} cannot be submitted again: {why}", status=400)
        task_id, exec_id = backend.submit(job)
        submitted(backend, job, task_id, exec_id)
        return done(Outcome(f"task {task_id} submitted ({job.engine}, {job.run_type}): task {task.task_id} again",
                            {"task_id": task_id, "exec_id": exec_id, "of": task.task_id, "engine": job.engine,
                             "run_type": job.run_type}))

    def audit_resubmit(p: dict) -> dict:
        task = p.get("task")
        out: dict[str, Any] = {}
        if p.get("engine"):
            out["engine"] = str(p["engine"])
        if isinstance(task, LinkisTask):
            out.update({"engine": out.get("engine") or task.engine, "run_type": task.run_type,
                        "creator": task.creator, **code_summary(task.code)})
        return out

    # ---------------------------------------------------------------- linkis.save_result
    def validate_save(t: Target, p: dict) -> str:
        fmt = str(p.get("format") or "").strip().lower()
        if fmt not in _FORMATS:
            return f"format {fmt!r}: csv or json"
        if not str(p.get("path") or "").strip():
            return "which result set? (no result path)"
        if not str(p.get("out") or "").strip():
            return "save it where? (no file name)"
        return ""

    def describe_save(t: Target, p: dict) -> str:
        path = str(p.get("path") or "<result>")
        return (f"GET {base}/filesystem/openFile?path={quote(path, safe='')} (every page), then write "
                f"{p.get('out') or '<file>'} ({str(p.get('format') or 'csv').lower()}, mode 0600"
                + (", overwriting it" if p.get("overwrite") else "") + ")")

    def save(backend: Any, t: Target, p: dict) -> Outcome:
        fmt = str(p.get("format")).strip().lower()
        out = str(p.get("out")).strip()
        rs = fetch_result(backend, str(p.get("path")).strip())
        try:
            n = save_result(rs, out, fmt, overwrite=bool(p.get("overwrite")))
        except ValueError as err:
            raise Invalid(str(err), status=400) from None
        what = f"{n:,} row{'s' if n != 1 else ''}" if rs.type == 2 and rs.columns else f"{n:,} line{'s' if n != 1 else ''}"
        task = p.get("task_id", t.name)
        return Outcome(f"task {task}: {what} saved to {out} ({fmt})", {"rows": n, "out": out, "format": fmt})

    def audit_save(p: dict) -> dict:
        return {"task_id": str(p.get("task_id", "")), "path": str(p.get("path", "")), "out": str(p.get("out", "")),
                "format": str(p.get("format", "")), "overwrite": bool(p.get("overwrite"))}

    return [
        ActionSpec("linkis.submit", "Submit Linkis task", "", "", "", submit, describe_submit,
                   validate=_validate_submit, audit_params=_audit_submit, backend="linkis", event=False),
        ActionSpec("linkis.kill", "Kill Linkis task", "", "", "", kill, describe_kill, dangerous=True,
                   destructive=True, validate=validate_kill, backend="linkis", event=False,
                   audit_params=lambda p: {"exec_id": str(p.get("exec_id") or "")}),
        ActionSpec("linkis.resubmit", "Resubmit Linkis task", "", "", "", resubmit, describe_resubmit,
                   dangerous=True, validate=validate_resubmit, audit_params=audit_resubmit, backend="linkis",
                   event=False),
        ActionSpec("linkis.save_result", "Save Linkis result", "", "", "", save, describe_save,
                   validate=validate_save, audit_params=audit_save, backend="linkis", event=False, read_only_ok=True),
    ]

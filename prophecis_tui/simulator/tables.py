"""Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for."""

from __future__ import annotations

from typing import Any

from .clock import parse_rfc3339


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def age(seconds: float) -> str:
    """kubectl's short human duration."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 730:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d"


def _age_of(obj: dict, now: float) -> str:
    ts = obj.get("metadata", {}).get("creationTimestamp")
    return age(now - parse_rfc3339(ts)) if ts else "<unknown>"


def _col(name: str, ctype: str = "string", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": ctype, "format": fmt, "description": name, "priority": priority}


def pod_status(obj: dict) -> str:
    """The STATUS column as kubectl computes it."""
    st = obj.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Unknown"
    running = False
    for cs in reversed(st.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            t = state["terminated"]
            reason = t.get("reason") or (f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode')}")
        elif "running" in state and cs.get("ready"):
            running = True
    if reason == "Completed" and running:
        reason = "NotReady" if not all(cs.get("ready") for cs in st.get("containerStatuses") or []) else "Running"
    if obj["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_row(obj: dict, now: float) -> list[Any]:
    st = obj.get("status") or {}
    css = st.get("containerStatuses") or []
    total = len(obj.get("spec", {}).get("containers", []))
    ready = sum(1 for c in css if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in css)
    last = None
    for c in css:
        fin = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if fin:
            t = parse_rfc3339(fin)
            last = t if last is None or t > last else last
    rs = str(restarts) + (f" ({age(now - last)} ago)" if restarts and last else "")
    return [obj["metadata"]["name"], f"{ready}/{total}", pod_status(obj), rs, _age_of(obj, now),
            st.get("podIP", "<none>"), obj.get("spec", {}).get("nodeName", "<none>"), "<none>", "<none>"]


def _node_row(obj: dict, now: float) -> list[Any]:
    conds = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions", [])}
    status = "Ready" if conds.get("Ready") == "True" else "NotReady"
    if obj.get("spec", {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = obj["metadata"].get("labels") or {}
    roles = ",".join(sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))) or "<none>"
    return [obj["metadata"]["name"], status, roles, _age_of(obj, now),
            (obj.get("status") or {}).get("nodeInfo", {}).get("kubeletVersion", "")]


def _event_row(obj: dict, now: float) -> list[Any]:
    io = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or (obj.get("series") or {}).get("lastObservedTime") or obj.get("eventTime")
    seen = age(now - parse_rfc3339(last)) if last else "<unknown>"
    return [seen, obj.get("type", ""), obj.get("reason", ""), f"{io.get('kind', '').lower()}/{io.get('name', '')}",
            obj.get("message", "")]


def _job_state(obj: dict) -> str:
    conds = (obj.get("status") or {}).get("conditions") or []
    true = [c["type"] for c in conds if c.get("status") == "True"]
    return true[-1] if true else ""


def _nb_state(obj: dict) -> str:
    st = obj.get("status") or {}
    if "kubeflow-resource-stopped" in (obj["metadata"].get("annotations") or {}):
        return "Stopped" if not st.get("readyReplicas") else "Stopping"
    if st.get("readyReplicas"):
        return "Ready"
    cs = st.get("containerState") or {}
    if "waiting" in cs:
        return cs["waiting"].get("reason", "Waiting")
    return "Waiting"


COLUMNS = {
    "Pod": ([_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts"), _col("Age"),
             _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
             _col("Readiness Gates", priority=1)], _pod_row),
    "Node": ([_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version")], _node_row),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")], _event_row),
    "Namespace": ([_col("Name", fmt="name"), _col("Status"), _col("Age")],
                  lambda o, now: [o["metadata"]["name"], (o.get("status") or {}).get("phase", ""), _age_of(o, now)]),
    "Notebook": ([_col("Name", fmt="name"), _col("State"), _col("Age")],
                 lambda o, now: [o["metadata"]["name"], _nb_state(o), _age_of(o, now)]),
    "SeldonDeployment": ([_col("Name", fmt="name"), _col("State"), _col("Age")],
                         lambda o, now: [o["metadata"]["name"], (o.get("status") or {}).get("state", ""),
                                         _age_of(o, now)]),
    "Job": ([_col("Name", fmt="name"), _col("Status"), _col("Completions"), _col("Age")],
            lambda o, now: [o["metadata"]["name"], _job_state(o) or "Running",
                            f"{(o.get('status') or {}).get('succeeded', 0)}/{(o.get('spec') or {}).get('completions', 1)}",
                            _age_of(o, now)]),
}
for _kind in ("TFJob", "PyTorchJob", "XGBoostJob"):
    COLUMNS[_kind] = ([_col("Name", fmt="name"), _col("State"), _col("Age")],
                      lambda o, now: [o["metadata"]["name"], _job_state(o), _age_of(o, now)])


def table(rt, objs: list[dict], rv: str, token: str | None, remaining: int | None, now: float,
          include: str = "Metadata") -> dict:
    cols, row = COLUMNS.get(rt.kind, ([_col("Name", fmt="name"), _col("Age")],
                                      lambda o, n: [o["metadata"]["name"], _age_of(o, n)]))
    rows = []
    for o in objs:
        r: dict[str, Any] = {"cells": row(o, now)}
        if include == "Object":
            r["object"] = o
        elif include != "None":
            md = o["metadata"]
            r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": {k: v for k, v in md.items() if k != "managedFields"}}
        rows.append(r)
    meta: dict[str, Any] = {"resourceVersion": rv}
    if token:
        meta["continue"] = token
        if remaining is not None:
            meta["remainingItemCount"] = remaining
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols,
            "rows": rows}

"""`prophecis-tui status`: one list of everything, summarised, no Textual."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from backends.base import Identity, KubernetesBackend

from .domain import BackendError, Forbidden, Health, SourceHealth
from .state import State


def collect(backend: KubernetesBackend, identity: Identity, namespace: str | None = None) -> dict[str, Any]:
    """List every resource once (per visible namespace where cluster-wide is forbidden) and summarise."""
    state = State()
    errors: dict[str, str] = {}
    resources = backend.resources()
    for r in resources:
        if r.kind != "namespaces":
            continue
        _list_into(backend, state, r, None, errors)
    names = [n.name for n in state.namespaces()] or ([identity.namespace] if identity.namespace else [])
    for r in resources:
        if r.kind == "namespaces":
            continue
        if not r.namespaced:
            _list_into(backend, state, r, None, errors)
        elif namespace is not None:
            _list_into(backend, state, r, namespace, errors)
        elif not _list_into(backend, state, r, None, errors, quiet=True):
            for ns in names:  # not allowed cluster-wide: each namespace where allowed
                _list_into(backend, state, r, ns, errors, quiet=True)
    rows = [s for s in state.summaries() if namespace is None or s.namespace == namespace]
    used, cap = state.cluster_gpus()
    health = SourceHealth(source="kubernetes", state=Health.FAILING if errors and not rows else Health.LIVE,
                          since=datetime.now(timezone.utc), reason="; ".join(sorted(set(errors.values())))[:300])
    return {
        "ok": not (errors and not rows),
        "context": identity.context, "cluster": identity.cluster, "user": identity.user,
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sources": {"kubernetes": {"state": health.state.value, "reason": health.reason}},
        "cluster_gpus": {"allocated": used, "allocatable": cap},
        "namespaces": [{
            "namespace": s.namespace,
            "notebooks": {k.value: v for k, v in s.notebooks.items()},
            "jobs": {k.value: v for k, v in s.jobs.items()},
            "deployments": {k.value: v for k, v in s.deployments.items()},
            "gpus": {"used": s.gpu_used, "quota": s.gpu_quota},
            "pending_pods": s.pending_pods,
        } for s in rows],
    }


def _list_into(backend: KubernetesBackend, state: State, r: Any, namespace: str | None, errors: dict[str, str],
               quiet: bool = False) -> bool:
    try:
        result = backend.list(r.name, namespace)
    except Forbidden as err:
        if not quiet:
            errors[r.name] = err.message
        return False
    except BackendError as err:
        errors[r.name] = err.message
        return False
    state.replace(r.name, r.kind, result.items, namespace)
    return True


def render_text(report: dict[str, Any]) -> str:
    lines = [f"context {report['context']} ({report['cluster']}) as {report['user']} at {report['time']}"]
    src = report["sources"]["kubernetes"]
    lines.append(f"kubernetes: {src['state']}" + (f" ({src['reason']})" if src["reason"] else ""))
    g = report["cluster_gpus"]
    lines.append(f"cluster GPUs: {g['allocated']}/{g['allocatable']} allocated")
    lines.append("")
    head = f"{'NAMESPACE':<28} {'NOTEBOOKS r/s/f':>15} {'JOBS r/p/f/ok':>15} {'DEPLOY ok/f':>11} {'GPU':>9} {'PENDING':>7}"
    lines.append(head)
    for n in report["namespaces"]:
        nb, jb, dp, gpu = n["notebooks"], n["jobs"], n["deployments"], n["gpus"]
        quota = "-" if gpu["quota"] is None else str(int(gpu["quota"]))
        nbs = f"{nb['running']}/{nb['stopped']}/{nb['failing']}"
        jobs = f"{jb['running'] + jb['restarting']}/{jb['pending']}/{jb['failed']}/{jb['succeeded']}"
        deps = f"{dp['available']}/{dp['failed']}"
        gpus = f"{gpu['used']}/{quota}"
        lines.append(f"{n['namespace']:<28} {nbs:>15} {jobs:>15} {deps:>11} {gpus:>9} {n['pending_pods']:>7}")
    return "\n".join(lines)

"""The real kubectl against the simulator: reads on the shared `small` cluster, writes on `tiny`.

kubectl is run as a subprocess with ``--kubeconfig`` (the file the simulator writes) and a
timeout; the tests assert on its exit code and output, and compare what it shows with what
the official Python client reads through the API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from kubernetes.client.exceptions import ApiException

KUBECTL = shutil.which("kubectl")

if KUBECTL is None:
    if os.environ.get("CI") == "true":
        pytest.fail("kubectl is not on PATH, and CI=true: the kubectl tests must run in CI", pytrace=False)
    pytest.skip("kubectl is not on PATH", allow_module_level=True)

pytestmark = pytest.mark.kubectl

TIMEOUT = 20.0  # seconds for one kubectl run; each normally takes well under one
STOP_ANN = "kubeflow-resource-stopped"


def kubectl(cluster, *args: str, context: str = "sim-admin", timeout: float = TIMEOUT,
            check: bool = True) -> subprocess.CompletedProcess:
    cache = Path(cluster.kubeconfig).parent / "kubectl-cache"
    cmd = [KUBECTL, "--kubeconfig", str(cluster.kubeconfig), "--context", context, "--cache-dir", str(cache),
           "--request-timeout=15s", *args]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
    return proc


def rows(out: str) -> list[list[str]]:
    """Table rows without the header, split on whitespace."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    return [ln.split() for ln in lines[1:]]


def poll(cond: Callable[[], bool], *, advance: Callable[[], None] | None = None, tries: int = 60,
         pause: float = 0.05) -> bool:
    """True as soon as ``cond()``; between tries optionally ``advance()`` the clock. Bounded."""
    for _ in range(tries):
        if cond():
            return True
        if advance is not None:
            advance()
        time.sleep(pause)
    return cond()


def pod_exists(cluster, ns: str, name: str, uid: str | None = None) -> bool:
    try:
        p = cluster.core().read_namespaced_pod(name, ns)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return uid is None or p.metadata.uid == uid


def first(items, pred):
    return next(i for i in items if pred(i))


# ----------------------------------------------------------------------------------- reads (small)
def test_get_pods_all_namespaces_matches_api(small):
    out = kubectl(small, "get", "pods", "-A").stdout
    assert out.splitlines()[0].split()[:3] == ["NAMESPACE", "NAME", "READY"]
    shown = {(r[0], r[1]) for r in rows(out)}
    api = small.core().list_pod_for_all_namespaces().items
    assert len(shown) == len(api) > 0
    assert shown == {(p.metadata.namespace, p.metadata.name) for p in api}


@pytest.mark.parametrize("kind,plural", [("nb", "notebooks"), ("tfjob", "tfjobs")])
def test_get_custom_resources(small, kind, plural):
    out = kubectl(small, "get", kind, "-A").stdout
    api = small.custom().list_cluster_custom_object("kubeflow.org", "v1", plural)["items"]
    assert api, f"the small world has no {plural}"
    assert {(r[0], r[1]) for r in rows(out)} == {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in api}


def test_get_two_kinds_at_once(small):
    out = kubectl(small, "get", "pytorchjob,xgboostjob", "-A").stdout
    names = {r[1] for r in rows(out) if r and r[0] != "NAMESPACE"}
    for plural, kind in (("pytorchjobs", "pytorchjob"), ("xgboostjobs", "xgboostjob")):
        items = small.custom().list_cluster_custom_object("kubeflow.org", "v1", plural)["items"]
        assert items
        for o in items:
            assert f"{kind}.kubeflow.org/{o['metadata']['name']}" in names


def test_get_seldon_deployments(small):
    out = kubectl(small, "get", "sdep", "-A").stdout
    api = small.custom().list_cluster_custom_object("machinelearning.seldon.io", "v1", "seldondeployments")["items"]
    assert api
    assert {r[1] for r in rows(out)} == {o["metadata"]["name"] for o in api}


def test_get_nodes(small):
    out = kubectl(small, "get", "nodes").stdout
    assert out.splitlines()[0].split()[:2] == ["NAME", "STATUS"]
    api = small.core().list_node().items
    assert {r[0] for r in rows(out)} == {n.metadata.name for n in api}
    assert all(r[1].startswith(("Ready", "NotReady")) for r in rows(out))


def test_get_quota(small):
    out = kubectl(small, "get", "quota", "-A").stdout
    api = small.core().list_resource_quota_for_all_namespaces().items
    assert api
    assert {(r[0], r[1]) for r in rows(out)} == {(q.metadata.namespace, q.metadata.name) for q in api}


def test_get_events_in_namespace(small):
    ns = "ns-risk-scorecard"
    out = kubectl(small, "get", "events", "-n", ns).stdout
    api = small.core().list_namespaced_event(ns).items
    assert api
    assert "REASON" in out.splitlines()[0]
    assert len(rows(out)) == len(api)


def test_describe_pod_shows_events(small):
    core = small.core()
    pods = {(p.metadata.namespace, p.metadata.name) for p in core.list_pod_for_all_namespaces().items}
    evs = [e for e in core.list_event_for_all_namespaces(field_selector="involvedObject.kind=Pod").items
           if (e.involved_object.namespace, e.involved_object.name) in pods]
    assert evs, "no events about existing pods in the small world"
    ns, name = evs[0].involved_object.namespace, evs[0].involved_object.name
    reasons = {e.reason for e in evs if (e.involved_object.namespace, e.involved_object.name) == (ns, name)}
    out = kubectl(small, "describe", "pod", "-n", ns, name).stdout
    assert "Name:" in out and name in out
    assert "\nEvents:" in out
    events = out.split("\nEvents:", 1)[1]
    for reason in reasons:
        assert reason in events, events[:800]


def test_logs_tail(small):
    p = small.core().list_namespaced_pod("ns-risk-scorecard", field_selector="status.phase=Running",
                                         label_selector="notebook-name").items
    p = p[0] if p else small.core().list_namespaced_pod(
        "ns-risk-scorecard", field_selector="status.phase=Running").items[0]
    ns, name = p.metadata.namespace, p.metadata.name
    opts = {} if len(p.spec.containers) == 1 else {"container": p.spec.containers[0].name}
    out = kubectl(small, "logs", "-n", ns, name, "--tail=5",
                  *(["-c", opts["container"]] if opts else [])).stdout
    lines = out.splitlines()
    assert len(lines) == 5
    api = small.core().read_namespaced_pod_log(name, ns, tail_lines=5, **opts)
    assert api.splitlines() == lines


def test_logs_container_of_two_container_pod(small):
    pods = small.core().list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    p = first(pods, lambda p: len(p.spec.containers) == 2 and p.metadata.name.count("classifier"))
    ns, name = p.metadata.namespace, p.metadata.name
    c0, c1 = (c.name for c in p.spec.containers)
    a = kubectl(small, "logs", "-n", ns, name, "-c", c0, "--tail=3").stdout
    b = kubectl(small, "logs", "-n", ns, name, "-c", c1, "--tail=3").stdout
    assert a.strip() and b.strip()
    assert a == small.core().read_namespaced_pod_log(name, ns, container=c0, tail_lines=3)
    assert b == small.core().read_namespaced_pod_log(name, ns, container=c1, tail_lines=3)
    bad = kubectl(small, "logs", "-n", ns, name, "-c", "no-such-container", check=False)
    assert bad.returncode != 0


def test_get_pods_label_selector(small):
    sel = "training.kubeflow.org/replica-type=worker"
    out = kubectl(small, "get", "pods", "-l", sel, "-A").stdout
    api = small.core().list_pod_for_all_namespaces(label_selector=sel).items
    assert api
    assert {r[1] for r in rows(out)} == {p.metadata.name for p in api}
    assert all("worker" in r[1] for r in rows(out))


def test_get_pods_field_selector(small):
    out = kubectl(small, "get", "pods", "--field-selector", "status.phase=Running", "-A").stdout
    api = small.core().list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    everything = small.core().list_pod_for_all_namespaces().items
    assert 0 < len(api) < len(everything)  # the small world has pods in other phases too
    assert {r[1] for r in rows(out)} == {p.metadata.name for p in api}
    assert all(p.status.phase == "Running" for p in api)


# ----------------------------------------------------------------------------------- writes (tiny)
def test_logs_follow_prints_new_lines(tiny):
    p = first(tiny.core().list_pod_for_all_namespaces(field_selector="status.phase=Running").items,
              lambda p: len(p.spec.containers) == 1 and p.metadata.namespace.startswith("ns-"))
    ns, name = p.metadata.namespace, p.metadata.name
    cmd = [KUBECTL, "--kubeconfig", str(tiny.kubeconfig), "logs", "-f", "-n", ns, name, "--tail=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # The clock is frozen: move it on until the followed log grows past the one tailed line.
        assert poll(lambda: len(lines) >= 3, advance=lambda: tiny.advance(20), tries=100, pause=0.05), \
            f"kubectl logs -f printed {len(lines)} line(s)"
        assert proc.poll() is None, "kubectl logs -f ended while the pod still runs"
    finally:
        proc.kill()
        proc.wait(timeout=5)
        reader.join(timeout=5)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
    assert all(ln.endswith("\n") for ln in lines)


def test_annotate_stop_notebook_then_pod_goes(tiny):
    nb = tiny.custom().list_cluster_custom_object("kubeflow.org", "v1", "notebooks")["items"][0]
    ns, name = nb["metadata"]["namespace"], nb["metadata"]["name"]
    pod = f"{name}-0"
    assert pod_exists(tiny, ns, pod)
    out = kubectl(tiny, "annotate", "nb", "-n", ns, name, f"{STOP_ANN}=2026-11-29T10:00:00Z").stdout
    assert "annotated" in out
    got = tiny.custom().get_namespaced_custom_object("kubeflow.org", "v1", ns, "notebooks", name)
    assert got["metadata"]["annotations"][STOP_ANN] == "2026-11-29T10:00:00Z"
    assert poll(lambda: not pod_exists(tiny, ns, pod), advance=lambda: tiny.advance(10), tries=30)
    shown = kubectl(tiny, "get", "nb", "-n", ns, name).stdout
    assert "Stopped" in shown


def test_delete_pod_no_wait(tiny):
    p = first(tiny.core().list_pod_for_all_namespaces().items, lambda p: p.metadata.namespace.startswith("ns-"))
    ns, name, uid = p.metadata.namespace, p.metadata.name, p.metadata.uid
    out = kubectl(tiny, "delete", "pod", "-n", ns, name, "--wait=false").stdout
    assert f'pod "{name}" deleted' in out
    # A graceful delete: the pod lingers as Terminating until the grace period passes.
    # Its owner may recreate a pod of the same name: the old one (by uid) must be gone.
    assert poll(lambda: not pod_exists(tiny, ns, name, uid), advance=lambda: tiny.advance(10), tries=30)


def test_delete_pod_waits_while_the_clock_moves(tiny):
    p = first(tiny.core().list_pod_for_all_namespaces().items, lambda p: p.metadata.namespace.startswith("ns-"))
    ns, name, uid = p.metadata.namespace, p.metadata.name, p.metadata.uid
    stop = threading.Event()

    def ticker() -> None:  # 20 simulated seconds a second: the grace period passes in about 1.5 s, and the
        # watch history (150 simulated seconds) still covers kubectl's list-then-watch under CI's load (at 50 s a
        # second it lasted 3 s, and a slow kubectl found its deletion compacted away)
        while not stop.wait(0.1):
            tiny.advance(2)
    t = threading.Thread(target=ticker, daemon=True)
    t.start()
    try:
        proc = kubectl(tiny, "delete", "pod", "-n", ns, name, "--timeout=8s", timeout=15)
    finally:
        stop.set()
        t.join(timeout=10)
    assert f'pod "{name}" deleted' in proc.stdout
    assert not pod_exists(tiny, ns, name, uid)


def test_delete_notebook(tiny):
    nb = tiny.custom().list_cluster_custom_object("kubeflow.org", "v1", "notebooks")["items"][-1]
    ns, name = nb["metadata"]["namespace"], nb["metadata"]["name"]
    out = kubectl(tiny, "delete", "nb", "-n", ns, name).stdout
    assert f'notebook.kubeflow.org "{name}" deleted' in out
    missing = kubectl(tiny, "get", "nb", "-n", ns, name, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    assert poll(lambda: not pod_exists(tiny, ns, f"{name}-0"), advance=lambda: tiny.advance(10), tries=30)


def test_delete_notebook_server_dry_run_keeps_it(tiny):
    nb = tiny.custom().list_cluster_custom_object("kubeflow.org", "v1", "notebooks")["items"][0]
    ns, name = nb["metadata"]["namespace"], nb["metadata"]["name"]
    out = kubectl(tiny, "delete", "nb", "-n", ns, name, "--dry-run=server").stdout
    assert "server dry run" in out
    tiny.custom().get_namespaced_custom_object("kubeflow.org", "v1", ns, "notebooks", name)  # still there


def test_viewer_is_forbidden_to_delete(tiny):
    p = first(tiny.core().list_pod_for_all_namespaces().items, lambda p: p.metadata.namespace.startswith("ns-"))
    ns, name = p.metadata.namespace, p.metadata.name
    proc = kubectl(tiny, "delete", "pod", "-n", ns, name, "--wait=false", context="sim-viewer", check=False)
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr
    assert pod_exists(tiny, ns, name, p.metadata.uid)
    nb = tiny.custom().list_cluster_custom_object("kubeflow.org", "v1", "notebooks")["items"][0]
    proc = kubectl(tiny, "delete", "nb", "-n", nb["metadata"]["namespace"], nb["metadata"]["name"],
                   context="sim-viewer", check=False)
    assert proc.returncode != 0 and "Forbidden" in proc.stderr
    # reading is allowed
    assert kubectl(tiny, "get", "pods", "-A", context="sim-viewer").returncode == 0


def test_group_admin_forbidden_outside_its_namespaces(tiny):
    owned = set(tiny.sim.identity("group-admin").namespaces)
    others = [p for p in tiny.core().list_pod_for_all_namespaces().items if p.metadata.namespace not in owned]
    assert others, "the tiny world has no pods outside the group admin's namespaces"
    p = others[0]
    proc = kubectl(tiny, "delete", "pod", "-n", p.metadata.namespace, p.metadata.name, "--wait=false",
                   context="sim-group-admin", check=False)
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr
    assert pod_exists(tiny, p.metadata.namespace, p.metadata.name, p.metadata.uid)
    proc = kubectl(tiny, "delete", "nb", "-n", p.metadata.namespace, "anything", context="sim-group-admin",
                   check=False)
    assert proc.returncode != 0 and "Forbidden" in proc.stderr
    # ... while in a namespace it owns it may stop a notebook
    nb = first(tiny.custom().list_cluster_custom_object("kubeflow.org", "v1", "notebooks")["items"],
               lambda o: o["metadata"]["namespace"] in owned)
    kubectl(tiny, "annotate", "nb", "-n", nb["metadata"]["namespace"], nb["metadata"]["name"],
            f"{STOP_ANN}=2026-11-29T10:00:00Z", context="sim-group-admin")

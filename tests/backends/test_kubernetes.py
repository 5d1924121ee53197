"""The Kubernetes backend against the simulated cluster over loopback (TLS, bearer tokens, the
official client's transport), and its parsers as pure functions.

Reads use the shared, frozen ``small`` cluster and change nothing in it; tests that write or
inject faults use a fresh ``tiny`` cluster. No mocks of the client library. Tokens never appear
in assertion messages.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import urllib3
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client

from backends import k8s_parse as kp
from backends.base import KubernetesBackend, Resource, WatchEvent
from backends.kubernetes import KINDS, ConfigError, Kubernetes, KubernetesWatch
from tests.conftest import poll
from prophecis_tui import domain
from prophecis_tui.domain import (DeploymentState, Expired, Forbidden, Invalid, JobState, NotebookState, NotFound,
                                  ReadOnly, Timeout, Unauthorized, Unavailable)
from prophecis_tui.simulator import resources as sim_resources

KF = "kubeflow.org"
NS = "ns-risk-scorecard"  # a group admin's namespace, in every scale
STOP = "kubeflow-resource-stopped"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"

ALL = ["namespaces", "nodes", "pods", "notebooks", "tfjobs", "pytorchjobs", "xgboostjobs", "jobs",
       "seldondeployments", "resourcequotas", "events"]
STATE_KIND = {"namespaces": "namespaces", "nodes": "nodes", "pods": "pods", "notebooks": "notebooks",
              "tfjobs": "trainingjobs", "pytorchjobs": "trainingjobs", "xgboostjobs": "trainingjobs",
              "jobs": "trainingjobs", "seldondeployments": "deployments", "resourcequotas": "quotas", "events": "events"}
MODEL = {"namespaces": domain.Namespace, "nodes": domain.Node, "pods": domain.Pod, "notebooks": domain.Notebook,
         "tfjobs": domain.TrainingJob, "pytorchjobs": domain.TrainingJob, "xgboostjobs": domain.TrainingJob,
         "jobs": domain.TrainingJob, "seldondeployments": domain.ModelDeployment, "resourcequotas": domain.Quota,
         "events": domain.Event}


# ----------------------------------------------------------------------------------- helpers
def raw_objects(c, plural: str, namespace: str | None = None, group: str = "") -> list[dict]:
    """The simulator's stored objects (read on its loop), for comparison with what the backend parsed."""
    rt = sim_resources.BY_KEY[f"{group}/{plural}"]
    return c.call(lambda: [json.loads(json.dumps(o)) for o in c.sim.engine.store.objects(rt, namespace)])


GROUP = {"notebooks": KF, "tfjobs": KF, "pytorchjobs": KF, "xgboostjobs": KF, "jobs": "batch",
         "seldondeployments": "machinelearning.seldon.io"}


def expected(c, resource: str, namespace: str | None = None) -> list[dict]:
    """The raw objects the backend should return for ``resource`` (its selectors applied)."""
    objs = raw_objects(c, resource, namespace, GROUP.get(resource, ""))
    if resource == "jobs":
        objs = [o for o in objs if (o["metadata"].get("labels") or {}).get("jobType") == "single"]
    if resource == "resourcequotas":
        objs = [o for o in objs if o["metadata"]["name"] == "mlss-default-rq"]
    return objs


def assert_no_token(c, text: str) -> None:
    leaked = [i.role for i in c.sim.identities if i.token in text]
    assert leaked == [], f"the token of {leaked} appears in an error message"


def collect(stream: KubernetesWatch, stop: Callable[[list[WatchEvent]], bool], limit: float = 15.0
            ) -> tuple[list[WatchEvent], BaseException | None]:
    """Iterate ``stream`` in a thread until ``stop(events)``; the server timeout is the safety net."""
    got: list[WatchEvent] = []
    error: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            for ev in stream:
                got.append(ev)
                if stop(got):
                    break
        except BaseException as err:  # handed to the test
            error.append(err)
        finally:
            done.set()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    if not done.wait(limit):
        stream.close()
        done.wait(5)
        raise AssertionError(f"the watch did not deliver in {limit} s; got {[(e.type, e.obj) for e in got]}")
    return got, (error[0] if error else None)



def pod_body(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"restartPolicy": "Always", "containers": [
                {"name": "main", "image": "busybox:1.36",
                 "resources": {"limits": {"cpu": "100m", "memory": "64Mi"},
                               "requests": {"cpu": "100m", "memory": "64Mi"}}}]}}


def kubeconfig_doc(c) -> dict:
    return yaml.safe_load(Path(c.kubeconfig).read_text())


def write_yaml(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# ----------------------------------------------------------------------------------- kubeconfig
def test_explicit_path_and_current_context(small) -> None:
    with Kubernetes.from_kubeconfig(str(small.kubeconfig)) as k:
        assert k.context == "sim-admin"  # the file's current-context
        assert k.server == small.sim.url
        backend: KubernetesBackend = k  # what the core expects of it
        assert all(callable(getattr(backend, m)) for m in
                   ("identity", "resources", "list", "watch", "can_i", "close"))
        assert k.read_only is False
        assert k.list("namespaces").items
    with Kubernetes.from_kubeconfig([small.kubeconfig], "sim-viewer", read_only=True) as k:
        assert k.context == "sim-viewer" and k.read_only is True
        assert k.identity().user == "opsview"


def _split_config(c, tmp: Path) -> tuple[Path, Path]:
    """The simulator's kubeconfig as two files: clusters and the admin in the first (current-context
    sim-admin), the other users and contexts in the second (current-context sim-viewer), plus a
    second definition of sim-admin that points elsewhere (the first file's must win)."""
    doc = kubeconfig_doc(c)
    admin_ctx = next(x for x in doc["contexts"] if x["name"] == "sim-admin")
    admin_user = next(u for u in doc["users"] if u["name"] == admin_ctx["context"]["user"])
    first = {"apiVersion": "v1", "kind": "Config", "current-context": "sim-admin", "clusters": doc["clusters"],
             "contexts": [admin_ctx], "users": [admin_user]}
    shadow = {"name": "sim-admin", "context": {"cluster": "nowhere", "user": admin_user["name"], "namespace": "x"}}
    second = {"apiVersion": "v1", "kind": "Config", "current-context": "sim-viewer",
              "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}}],
              "contexts": [x for x in doc["contexts"] if x["name"] != "sim-admin"] + [shadow],
              "users": [u for u in doc["users"] if u is not admin_user]}
    return write_yaml(tmp / "a" / "config", first), write_yaml(tmp / "b" / "config", second)


def test_kubeconfig_env_merges_files_first_wins(small, tmp_path, monkeypatch) -> None:
    a, b = _split_config(small, tmp_path)
    missing = tmp_path / "not-there"
    # KUBECONFIG is read when the backend is built, not when the client was imported
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(missing), str(a), str(b)]))
    with Kubernetes.from_kubeconfig() as k:
        assert k.context == "sim-admin"  # the first file that sets current-context wins
        assert k.server == small.sim.url  # and its sim-admin, not the second file's
        assert k.namespace is None
        assert k.identity().user == "mlss-admin"
    with Kubernetes.from_kubeconfig(context="sim-group-admin") as k:  # defined in the second file only
        ident = k.identity()
        assert ident.user == "lihua" and ident.namespace == NS
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(b), str(a)]))
    with Kubernetes.from_kubeconfig() as k:
        assert k.context == "sim-viewer"
    with Kubernetes.from_kubeconfig(context="sim-admin") as k:  # now the shadow in the first file wins
        assert k.server == "https://127.0.0.1:1" and k.namespace == "x"


def test_explicit_list_of_files_is_merged(small, tmp_path) -> None:
    a, b = _split_config(small, tmp_path)
    with Kubernetes.from_kubeconfig([str(a), str(b)], "sim-viewer") as k:
        assert k.identity().user == "opsview"
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig([str(a), str(tmp_path / "gone")])
    assert str(err.value) == f"kubeconfig not found: {tmp_path / 'gone'}"


def test_default_kubeconfig_in_home(small, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig()
    assert str(err.value) == f"kubeconfig not found: {tmp_path / '.kube' / 'config'}"
    (tmp_path / ".kube").mkdir()
    shutil.copy(small.kubeconfig, tmp_path / ".kube" / "config")
    with Kubernetes.from_kubeconfig(context="sim-viewer") as k:
        assert k.identity().user == "opsview"
    monkeypatch.setenv("KUBECONFIG", "")  # empty: as if unset
    with Kubernetes.from_kubeconfig() as k:
        assert k.context == "sim-admin"


def test_kubeconfig_env_with_no_existing_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "x"), str(tmp_path / "y")]))
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig()
    assert str(err.value).startswith("kubeconfig not found: ")
    assert str(tmp_path / "x") in str(err.value) and "KUBECONFIG" in str(err.value)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig(str(tmp_path / "nope"))
    assert str(err.value) == f"kubeconfig not found: {tmp_path / 'nope'}"


@pytest.mark.parametrize("text,what", [
    ("apiVersion: v1\nclusters: [\n  - name: x\n", "line"),
    ("a: b\n  c: d\n", "line 2"),
    ("- just\n- a list\n", "expected a mapping"),
    ("contexts: {a: b}\n", "'contexts' must be a list"),
    ("contexts:\n- context: {cluster: c}\n", "contexts[0] has no name"),
    ("current-context: [x]\n", "'current-context' must be a string"),
])
def test_invalid_yaml(tmp_path, text: str, what: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig(str(path))
    msg = str(err.value)
    assert msg.startswith(f"{path}: invalid kubeconfig: "), msg
    assert what in msg
    assert "\n" not in msg and "Traceback" not in msg


def test_unknown_context_and_no_current_context(small, tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig(str(small.kubeconfig), "prod")
    assert str(err.value) == (f"context 'prod' not found in {small.kubeconfig}; "
                              "available: sim-admin, sim-group-admin, sim-viewer")
    doc = kubeconfig_doc(small)
    del doc["current-context"]
    path = write_yaml(tmp_path / "cfg", doc)
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig(str(path))
    assert str(err.value) == (f"no context given and no current-context set in {path}; "
                              "available: sim-admin, sim-group-admin, sim-viewer")
    with Kubernetes.from_kubeconfig(str(path), "sim-admin") as k:  # naming one is enough
        assert k.context == "sim-admin"
    doc["contexts"][0]["context"]["cluster"] = "gone"
    write_yaml(path, doc)
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig(str(path), "sim-admin")
    assert "refers to cluster 'gone'" in str(err.value)
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig(str(empty))
    assert "available: (none)" in str(err.value)


def test_relative_certificate_authority_is_relative_to_its_file(small, tmp_path, monkeypatch) -> None:
    import base64
    doc = kubeconfig_doc(small)
    cluster = doc["clusters"][0]["cluster"]
    (tmp_path / "conf" / "pki").mkdir(parents=True)
    (tmp_path / "conf" / "pki" / "ca.crt").write_bytes(base64.b64decode(cluster.pop("certificate-authority-data")))
    cluster["certificate-authority"] = "pki/ca.crt"
    path = write_yaml(tmp_path / "conf" / "config", doc)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with Kubernetes.from_kubeconfig(str(path)) as k:
        assert k.list("nodes").items


def test_bad_client_config_is_one_clear_line_without_the_token(small, tmp_path) -> None:
    doc = kubeconfig_doc(small)
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = "%%% not base64 %%%"
    path = write_yaml(tmp_path / "cfg", doc)
    with pytest.raises(ConfigError) as err:
        Kubernetes.from_kubeconfig(str(path))
    msg = str(err.value)
    assert msg.startswith(f"context 'sim-admin' in {path}: ") and "\n" not in msg
    assert_no_token(small, msg)


def test_untrusted_certificate_is_unavailable(small, tmp_path) -> None:
    doc = kubeconfig_doc(small)
    del doc["clusters"][0]["cluster"]["certificate-authority-data"]  # the system CAs do not know the simulator
    path = write_yaml(tmp_path / "cfg", doc)
    with Kubernetes.from_kubeconfig(str(path)) as k:
        with pytest.raises(Unavailable) as err:
            k.list("namespaces")
    msg = str(err.value)
    assert msg.startswith(f"cannot reach the Kubernetes API at {small.sim.url}: TLS error"), msg
    assert "certificate" in msg
    assert_no_token(small, msg)


# ----------------------------------------------------------------------------------- identity, discovery
@pytest.mark.parametrize("role,user,group,namespace", [
    ("admin", "mlss-admin", "system:masters", None),
    ("group-admin", "lihua", "gp-risk-ml", NS),
    ("viewer", "opsview", "gp-ops-wall", None),
])
def test_identity(small, small_backend, role, user, group, namespace) -> None:
    ident = small_backend(role).identity()
    assert ident.context == {"admin": "sim-admin", "group-admin": "sim-group-admin", "viewer": "sim-viewer"}[role]
    assert ident.server == f"127.0.0.1:{small.sim.port}" and ident.cluster == "prophecis-sim"
    assert ident.user == user
    assert group in ident.groups and "system:authenticated" in ident.groups
    assert ident.namespace == namespace


def test_identity_without_self_subject_review_uses_the_kubeconfig_user(tiny, tiny_backend, monkeypatch) -> None:
    monkeypatch.delitem(sim_resources.BY_KEY, "authentication.k8s.io/selfsubjectreviews")
    ident = tiny_backend("group-admin").identity()
    assert ident.user == "sim-group-admin-lihua"  # the kubeconfig's user entry
    assert ident.groups == []
    assert ident.namespace == NS


def test_resources(small_backend) -> None:
    k = small_backend()
    got = k.resources()
    assert [r.name for r in got] == ALL
    for r in got:
        assert isinstance(r, Resource)
        assert r.kind == STATE_KIND[r.name]
        assert r.namespaced is (r.name not in ("namespaces", "nodes"))
        assert r.group == GROUP.get(r.name, "")
    assert k.api_version("notebooks") == "kubeflow.org/v1"
    assert k.api_version("pods") == "v1"
    assert k.api_version("jobs") == "batch/v1"


def test_unserved_groups_are_left_out(tiny, tiny_backend, monkeypatch) -> None:
    real = sim_resources.groups
    monkeypatch.setattr(sim_resources, "groups", lambda: {g: v for g, v in real().items()
                                                          if g != "machinelearning.seldon.io"})
    k = tiny_backend()
    names = [r.name for r in k.resources()]
    assert "seldondeployments" not in names and "notebooks" in names
    with pytest.raises(NotFound) as err:
        k.list("seldondeployments")
    assert "not served" in str(err.value)
    with pytest.raises(ValueError):
        k.list("deployments")


def test_notebooks_fall_back_to_older_versions(tiny, tiny_backend, monkeypatch) -> None:
    real = sim_resources.groups
    monkeypatch.setattr(sim_resources, "groups", lambda: {
        g: ([v for v in vs if v != "v1"] if g == KF else vs) for g, vs in real().items()})
    k = tiny_backend()
    names = [r.name for r in k.resources()]
    assert "notebooks" in names
    assert not {"tfjobs", "pytorchjobs", "xgboostjobs"} & set(names)  # v1 only
    assert k.api_version("notebooks") == "kubeflow.org/v1beta1"
    got = k.list("notebooks", NS).items
    assert sorted(n.name for n in got) == sorted(o["metadata"]["name"] for o in expected(tiny, "notebooks", NS))


# ----------------------------------------------------------------------------------- lists
@pytest.mark.parametrize("resource", ALL)
def test_list_cluster_wide_counts(small, small_backend, resource) -> None:
    got = small_backend().list(resource)
    want = expected(small, resource)
    assert want, f"the small cluster has no {resource}"
    assert len(got.items) == len(want)
    assert all(type(o) is MODEL[resource] for o in got.items)
    assert sorted(o.uid for o in got.items) == sorted(o["metadata"]["uid"] for o in want)
    assert got.resource_version and got.resource_version.isdigit()


@pytest.mark.parametrize("resource", [r for r in ALL if r not in ("namespaces", "nodes")])
def test_list_namespaced(small, small_backend, resource) -> None:
    got = small_backend("group-admin").list(resource, NS)
    want = expected(small, resource, NS)
    assert sorted(o.uid for o in got.items) == sorted(o["metadata"]["uid"] for o in want)
    assert all(o.namespace == NS for o in got.items)


def test_list_pages_through_many_pods(small, small_backend, monkeypatch) -> None:
    import backends.kubernetes as kmod
    monkeypatch.setattr(kmod, "PAGE_SIZE", 7)
    k = small_backend()
    k.resources()  # discovery first, so that only the pages are counted
    seen: list[list[tuple[str, str]]] = []
    real = k._request

    def spy(method, path, query=None, *a, **kw):
        seen.append(list(query or []))
        return real(method, path, query, *a, **kw)
    monkeypatch.setattr(k, "_request", spy)
    got = k.list("pods")
    assert len(got.items) == len(expected(small, "pods"))
    assert len({p.uid for p in got.items}) == len(got.items)
    assert len(seen) == math.ceil(len(got.items) / 7)
    assert all(("limit", "7") in q for q in seen)
    assert all(any(k == "continue" for k, _ in q) for q in seen[1:])


def test_each_page_is_handed_over_as_it_arrives(small, small_backend, monkeypatch) -> None:
    import backends.kubernetes as kmod
    monkeypatch.setattr(kmod, "PAGE_SIZE", 7)
    k = small_backend()
    pages: list[list[str]] = []
    got = k.list("pods", on_page=lambda items: pages.append([p.uid for p in items]))
    assert len(pages) == math.ceil(len(got.items) / 7) > 1
    assert all(len(p) == 7 for p in pages[:-1])
    assert [uid for page in pages for uid in page] == [p.uid for p in got.items]


def test_jobs_are_only_single_node_training_jobs(small, small_backend) -> None:
    all_jobs = raw_objects(small, "jobs", None, "batch")
    got = small_backend().list("jobs").items
    assert len(got) == len([o for o in all_jobs if (o["metadata"].get("labels") or {}).get("jobType") == "single"])
    assert all(j.kind == "Job" for j in got)


def test_group_admin_cluster_wide_is_forbidden(small, small_backend) -> None:
    k = small_backend("group-admin")
    with pytest.raises(Forbidden) as err:
        k.list("pods")
    assert err.value.status == 403
    assert str(err.value) == ('pods is forbidden: User "lihua" cannot list resource "pods" in API group "" '
                              "at the cluster scope")
    assert k.list("pods", NS).items
    assert k.list("namespaces").items  # cluster-scoped reads are allowed


def _table_status(c, ns: str) -> dict[str, str]:
    api = c.api("admin")
    args = api.param_serialize("GET", f"/api/v1/namespaces/{ns}/pods", header_params={"Accept": TABLE},
                               auth_settings=["BearerToken"])
    resp = api.call_api(*args[:4])
    resp.read()
    table = json.loads(resp.data)
    col = [cd["name"] for cd in table["columnDefinitions"]].index("Status")
    return {row["cells"][0]: row["cells"][col] for row in table["rows"]}


def test_parsed_pods_agree_with_the_raw_objects(small, small_backend) -> None:
    k = small_backend()
    raw = {o["metadata"]["uid"]: o for o in expected(small, "pods")}
    pods = k.list("pods").items
    statuses = {}
    for ns in {p.namespace for p in pods}:
        statuses.update({(ns, n): s for n, s in _table_status(small, ns).items()})
    kinds = set()
    for p in pods:
        o = raw[p.uid]
        assert (p.namespace, p.name) == (o["metadata"]["namespace"], o["metadata"]["name"])
        assert p.phase == o["status"]["phase"]
        assert p.node == o["spec"].get("nodeName", "")
        assert p.containers == len(o["spec"]["containers"])
        css = o["status"].get("containerStatuses") or []
        assert p.restarts == sum(cs["restartCount"] for cs in css)
        assert p.gpus == sum(int((c.get("resources") or {}).get("limits", {}).get("nvidia.com/gpu", 0))
                             for c in o["spec"]["containers"])
        assert p.status == statuses[(p.namespace, p.name)], p.name  # what `kubectl get pods` shows
        kinds.add(p.status)
    assert {"Running", "Completed"} <= kinds and kinds & {"ImagePullBackOff", "CrashLoopBackOff"}, kinds
    assert any(p.gpus for p in pods) and any(p.owner_kind == "Notebook" or p.owner_kind == "StatefulSet"
                                             for p in pods)


def test_parsed_notebooks_agree_with_the_raw_objects(small, small_backend) -> None:
    raw = {o["metadata"]["uid"]: o for o in expected(small, "notebooks")}
    seen = set()
    for nb in small_backend().list("notebooks").items:
        o = raw[nb.uid]
        st_ = o.get("status") or {}
        stopped = STOP in (o["metadata"].get("annotations") or {})
        waiting = (st_.get("containerState") or {}).get("waiting") or {}
        if stopped:
            assert nb.state in (NotebookState.STOPPED, NotebookState.STOPPING)
            assert (nb.state is NotebookState.STOPPED) == (not st_.get("readyReplicas"))
        elif st_.get("readyReplicas") == 1:
            assert nb.state is NotebookState.RUNNING
        elif waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff"):
            assert nb.state is NotebookState.FAILING
            assert nb.reason == f"{waiting['reason']}: {waiting['message']}"
        else:
            assert nb.state is NotebookState.STARTING
        assert nb.user == o["metadata"]["labels"]["prophecis-UserId"]
        ctr = o["spec"]["template"]["spec"]["containers"][0]
        assert nb.image == ctr["image"]
        assert nb.cpu == ctr["resources"]["limits"]["cpu"] and nb.memory == ctr["resources"]["limits"]["memory"]
        seen.add(nb.state)
    assert {NotebookState.RUNNING, NotebookState.STOPPED, NotebookState.FAILING} <= seen, seen


def test_parsed_training_jobs_agree_with_the_raw_objects(small, small_backend) -> None:
    k = small_backend()
    seen = set()
    for resource, key in (("tfjobs", "tfReplicaSpecs"), ("pytorchjobs", "pytorchReplicaSpecs"),
                          ("xgboostjobs", "xgbReplicaSpecs")):
        raw = {o["metadata"]["uid"]: o for o in expected(small, resource)}
        for j in k.list(resource).items:
            o = raw[j.uid]
            true = {c["type"] for c in (o.get("status") or {}).get("conditions", []) if c["status"] == "True"}
            want = (JobState.FAILED if "Failed" in true else JobState.SUCCEEDED if "Succeeded" in true
                    else JobState.RESTARTING if "Restarting" in true else JobState.RUNNING if "Running" in true
                    else JobState.PENDING)
            assert j.state is want, (j.name, true)
            specs = o["spec"][key].values()
            assert j.replicas == sum(s.get("replicas", 1) for s in specs)
            assert j.gpus == sum(s.get("replicas", 1) * sum(
                int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
                for c in s["template"]["spec"]["containers"]) for s in specs)
            assert j.user == o["metadata"]["labels"]["MLSS-USER"]
            assert j.kind == o["kind"]
            if j.state is JobState.SUCCEEDED:
                assert j.finished is not None and j.started is not None
            seen.add(j.state)
    assert {JobState.SUCCEEDED, JobState.RUNNING, JobState.PENDING} <= seen, seen
    for j in k.list("jobs").items:
        assert j.kind == "Job" and j.replicas == 1


def test_parsed_deployments_and_quotas_agree(small, small_backend) -> None:
    k = small_backend()
    raw = {o["metadata"]["uid"]: o for o in expected(small, "seldondeployments")}
    states, canaries = set(), 0
    for d in k.list("seldondeployments").items:
        o = raw[d.uid]
        st_ = o.get("status") or {}
        assert d.state.value == (st_.get("state") or "Creating").lower()
        preds = o["spec"]["predictors"]
        own = [p.get("replicas") for p in preds]
        assert [p.replicas for p in d.predictors] == [o["spec"]["replicas"] if n is None else n for n in own]
        assert [p.pinned for p in d.predictors] == [n is not None for n in own]
        assert d.replicas == sum(p.replicas for p in d.predictors)
        assert d.scale_replicas == o["spec"]["replicas"]
        assert d.ready == st_.get("replicas", 0) == sum(p.ready or 0 for p in d.predictors)
        for p in d.predictors:  # each predictor's ready count is its own Deployment's
            dep = next(v for k_, v in st_.get("deploymentStatus", {}).items() if k_.startswith(f"{d.name}-{p.name}-"))
            assert p.ready == dep["availableReplicas"]
        assert [p.traffic for p in d.predictors] == [p["traffic"] for p in preds]
        assert d.reason == st_.get("description", "")
        states.add(d.state)
        canaries += len(preds) > 1
    assert DeploymentState.AVAILABLE in states
    assert canaries, "the small scenario has deployments with a canary predictor"
    raw = {o["metadata"]["uid"]: o for o in expected(small, "resourcequotas")}
    for q in k.list("resourcequotas").items:
        st_ = raw[q.uid]["status"]
        assert q.gpu_hard == float(st_["hard"]["requests.nvidia.com/gpu"])
        assert q.gpu_used == float(st_["used"].get("requests.nvidia.com/gpu", 0))
        assert q.cpu_hard == kp.parse_quantity(st_["hard"]["requests.cpu"])
        assert q.memory_used == kp.parse_quantity(st_["used"]["requests.memory"])


def test_parsed_namespaces_and_nodes(small, small_backend) -> None:
    k = small_backend()
    nss = {n.name: n for n in k.list("namespaces").items}
    assert nss[NS].department == "risk" and nss[NS].app == "scorecard" and nss[NS].gpu_model
    assert nss["default"].department == "" and not nss["default"].terminating
    nodes = k.list("nodes").items
    gpu = [n for n in nodes if n.gpu_capacity]
    assert gpu and all(n.gpu_model and n.department for n in gpu)
    assert all(n.labels.get("hardware-type") == "NVIDIAGPU" for n in gpu)
    assert nss[NS].node_selector == {"lb-department": "risk", "lb-app": "scorecard"}
    assert all(n.ready for n in nodes)


# ----------------------------------------------------------------------------------- watch
def test_watch_sees_added_modified_deleted(tiny, tiny_backend) -> None:
    k = tiny_backend()
    rv = k.list("pods", NS).resource_version
    stream = k.watch("pods", rv, NS, timeout_seconds=20)
    tiny.core().create_namespaced_pod(NS, pod_body("w-pod"))
    tiny.advance(30)
    tiny.core().delete_namespaced_pod("w-pod", NS, grace_period_seconds=0)
    got, err = collect(stream, lambda evs: any(e.type == "DELETED" and e.obj.name == "w-pod" for e in evs))
    assert err is None
    mine = [e for e in got if e.obj is not None and e.obj.name == "w-pod"]
    types = [e.type for e in mine]
    assert types[0] == "ADDED" and "MODIFIED" in types and types[-1] == "DELETED"
    assert any(e.obj.phase == "Running" and e.obj.node for e in mine)
    assert all(isinstance(e.obj, domain.Pod) for e in mine)
    assert all(int(e.resource_version) > int(rv) for e in got)
    assert stream.resource_version == got[-1].resource_version


def test_watch_custom_objects_through_the_api(tiny, tiny_backend) -> None:
    k = tiny_backend()
    before = {n.name: n for n in k.list("notebooks", NS).items}
    running = next(n for n in before.values() if n.state is NotebookState.RUNNING)
    rv = k.list("notebooks", NS).resource_version
    stream = k.watch("notebooks", rv, NS, timeout_seconds=20)
    tiny.custom().patch_namespaced_custom_object(KF, "v1", NS, "notebooks", running.name,
                                                 {"metadata": {"annotations": {STOP: "2026-11-29T10:00:00Z"}}})
    tiny.advance(60)
    got, err = collect(stream, lambda evs: any(e.obj is not None and e.obj.state is NotebookState.STOPPED
                                               for e in evs))
    assert err is None
    states = [e.obj.state for e in got if e.obj is not None and e.obj.name == running.name]
    assert states[0] is NotebookState.STOPPING and states[-1] is NotebookState.STOPPED


def test_watch_bookmarks(tiny, tiny_backend) -> None:
    tiny.sim.api.bookmark_interval = 0.2
    k = tiny_backend()
    rv = k.list("notebooks").resource_version
    stream = k.watch("notebooks", rv, timeout_seconds=10)
    got, err = collect(stream, lambda evs: len(evs) >= 2)
    assert err is None
    assert [e.type for e in got] == ["BOOKMARK", "BOOKMARK"]
    assert all(e.obj is None and e.resource_version for e in got)
    assert stream.resource_version == got[-1].resource_version


def test_watch_of_selected_resources_keeps_the_selector(tiny, tiny_backend) -> None:
    k = tiny_backend()
    rv = k.list("resourcequotas", NS).resource_version
    stream = k.watch("resourcequotas", rv, NS, timeout_seconds=10)
    tiny.core().create_namespaced_resource_quota(NS, {"metadata": {"name": "other-rq"},
                                                      "spec": {"hard": {"pods": "100"}}})
    tiny.core().patch_namespaced_resource_quota("mlss-default-rq", NS, {"metadata": {"labels": {"x": "y"}}})
    got, err = collect(stream, lambda evs: any(e.type == "MODIFIED" for e in evs))
    assert err is None
    assert {e.obj.uid for e in got if e.obj is not None} == {q.uid for q in k.list("resourcequotas", NS).items}


def test_watch_after_compaction_is_expired(tiny, tiny_backend) -> None:
    k = tiny_backend()
    rv = k.list("pods", NS).resource_version
    tiny.core().create_namespaced_pod(NS, pod_body("w-compact"))
    tiny.call(tiny.sim.engine.store.compact, None)
    stream = k.watch("pods", rv, NS, timeout_seconds=10)
    got, err = collect(stream, lambda evs: False)
    assert got == []
    assert isinstance(err, Expired), err
    assert err.status == 410 and str(err).startswith(f"too old resource version: {rv}")
    fresh = k.list("pods", NS).resource_version  # relisting gives a watchable version
    stream = k.watch("pods", fresh, NS, timeout_seconds=1)
    got, err = collect(stream, lambda evs: False)
    assert err is None


def test_injected_410_is_expired(tiny, tiny_backend) -> None:
    k = tiny_backend()
    rv = k.list("notebooks").resource_version
    tiny.call(tiny.sim.faults.update, {"expire_watches": 1})
    got, err = collect(k.watch("notebooks", rv, timeout_seconds=10), lambda evs: False)
    assert isinstance(err, Expired) and got == []


def test_watch_ends_when_the_server_ends_it(tiny, tiny_backend) -> None:
    k = tiny_backend()
    rv = k.list("pods", NS).resource_version
    got, err = collect(k.watch("pods", rv, NS, timeout_seconds=1), lambda evs: False, limit=10)
    assert err is None and got == []


def test_close_from_another_thread_ends_the_iteration(tiny, tiny_backend) -> None:
    k = tiny_backend()
    rv = k.list("pods", NS).resource_version
    stream = k.watch("pods", rv, NS, timeout_seconds=120)
    done = threading.Event()
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in stream:
                pass
        except BaseException as err:
            errors.append(err)
        finally:
            done.set()
    threading.Thread(target=consume, daemon=True).start()
    assert poll(lambda: tiny.call(lambda: sum(1 for _ in tiny.sim.engine.store.watchers())) == 1)
    time.sleep(0.2)  # the consumer is blocked reading now
    stream.close()
    assert done.wait(1.0), "close() did not end the iteration within a second"
    assert errors == []
    stream.close()  # twice is harmless
    # a stream closed before anyone iterates yields nothing
    early = k.watch("pods", rv, NS, timeout_seconds=120)
    early.close()
    assert list(early) == []
    # the backend's close() ends the open streams too
    late = k.watch("pods", rv, NS, timeout_seconds=120)
    done.clear()
    errors.clear()
    stream = late
    threading.Thread(target=consume, daemon=True).start()
    time.sleep(0.2)
    k.close()
    assert done.wait(1.0) and errors == []


# ----------------------------------------------------------------------------------- failures
def test_api_down_is_unavailable(tiny, tiny_backend) -> None:
    k = tiny_backend()
    assert k.list("nodes").items
    tiny.thread.run(lambda: tiny.sim.go_down(2))
    with pytest.raises(Unavailable) as err:
        k.list("pods", NS)
    msg = str(err.value)
    assert msg.startswith(f"cannot reach the Kubernetes API at {tiny.sim.url}: "), msg
    assert "refused" in msg, msg
    assert "\n" not in msg and "object at 0x" not in msg
    assert_no_token(tiny, msg)

    def back() -> bool:
        try:
            return bool(k.list("pods", NS).items)
        except Unavailable:
            return False
    assert poll(back, timeout=10, pause=0.2)


def test_open_watch_when_the_api_goes_down(tiny, tiny_backend) -> None:
    k = tiny_backend()
    rv = k.list("pods", NS).resource_version
    stream = k.watch("pods", rv, NS, timeout_seconds=60)

    def later() -> None:
        time.sleep(0.3)
        tiny.thread.run(lambda: tiny.sim.go_down(1))
    threading.Thread(target=later, daemon=True).start()
    got, err = collect(stream, lambda evs: False, limit=10)
    assert err is None or isinstance(err, (Unavailable, Timeout)), err  # ended, or broken: never hangs


@pytest.mark.parametrize("code", [429, 503])
def test_overload_is_unavailable_at_once(tiny, tiny_backend, code) -> None:
    k = tiny_backend()
    k.resources()
    tiny.call(tiny.sim.faults.update, {"error_rate": 1.0, "error_codes": [code], "retry_after": 3})
    t0 = time.monotonic()
    with pytest.raises(Unavailable) as err:
        k.list("pods", NS)
    assert time.monotonic() - t0 < 2.5, "the client slept Retry-After instead of reporting"
    assert err.value.status == code and err.value.retry_after == 3
    assert f"({code} " in str(err.value) and "retry after 3 s" in str(err.value)
    tiny.call(tiny.sim.faults.update, {"error_rate": 0.0})
    assert k.list("pods", NS).items


def test_bad_token_is_unauthorized_without_the_token(tiny, tmp_path) -> None:
    doc = kubeconfig_doc(tiny)
    bad = "sim-admin-0123456789abcdefDEADBEEF"
    for u in doc["users"]:
        u["user"]["token"] = bad
    path = write_yaml(tmp_path / "bad", doc)
    with Kubernetes.from_kubeconfig(str(path)) as k:
        for call in (lambda: k.list("pods"), k.identity, lambda: k.can_i("list", "", "pods"), k.resources,
                     lambda: k.watch("pods", "1")):
            with pytest.raises(Unauthorized) as err:
                call()
            msg = str(err.value)
            assert msg == f"credentials rejected by 127.0.0.1:{tiny.sim.port}: expired or invalid token"
            assert bad not in msg and err.value.status == 401


def test_no_error_message_carries_a_token(tiny, tiny_backend) -> None:
    """Every error kind, built from answers that quote the credentials back, comes out clean."""
    k = tiny_backend()
    token = tiny.sim.identity("admin").token
    quoted = f"request with Authorization: Bearer {token} refused; token={token}"
    body = json.dumps({"kind": "Status", "message": quoted, "reason": "X"}).encode()
    for code, kind in ((400, Invalid), (401, Unauthorized), (403, Forbidden), (404, NotFound),
                       (409, domain.Conflict), (410, Expired), (422, Invalid), (429, Unavailable),
                       (500, Unavailable), (503, Unavailable), (418, domain.BackendError)):
        err = k._http_error(code, body, {"Retry-After": "1"}, "/api/v1/pods")
        assert isinstance(err, kind) and err.status == code
        assert token not in str(err) and token not in err.message, code
        assert "\n" not in str(err)
    E = urllib3.exceptions
    for exc in (E.MaxRetryError(None, "/", E.NewConnectionError(None, f"Bearer {token}")),
                E.MaxRetryError(None, "/", E.ConnectTimeoutError(quoted)),
                E.ReadTimeoutError(None, "/", quoted), E.SSLError(quoted), E.ProtocolError(quoted),
                ConnectionResetError(104, quoted), RuntimeError(quoted)):
        err = k._transport_error(exc)
        assert isinstance(err, (Unavailable, Timeout)), exc
        assert token not in str(err), type(exc).__name__
    # and the real ones
    with pytest.raises(Forbidden) as err:
        tiny_backend("group-admin").list("pods")
    assert_no_token(tiny, str(err.value))
    with pytest.raises(Invalid) as err:
        k.watch("pods", "not-a-number", NS)
    assert "invalid resource version" in str(err.value)
    assert_no_token(tiny, str(err.value))


# ----------------------------------------------------------------------------------- can_i, read-only
CAN_I = [
    ("admin", "delete", KF, "notebooks", "ns-marketing-reco", True),
    ("admin", "list", "", "pods", None, True),
    ("viewer", "list", "", "pods", None, True),
    ("viewer", "get", "", "pods/log", NS, True),
    ("viewer", "patch", KF, "notebooks", NS, False),
    ("group-admin", "patch", KF, "notebooks", NS, True),
    ("group-admin", "patch", KF, "notebooks", "ns-marketing-reco", False),
    ("group-admin", "list", "", "pods", None, False),
    ("group-admin", "list", "", "pods", NS, True),
    ("group-admin", "patch", "machinelearning.seldon.io", "seldondeployments/scale", NS, True),
]


@pytest.mark.parametrize("role,verb,group,resource,ns,allowed", CAN_I)
def test_can_i(small_backend, role, verb, group, resource, ns, allowed) -> None:
    assert small_backend(role).can_i(verb, group, resource, ns) is allowed


def test_can_i_is_cached(small_backend, monkeypatch) -> None:
    k = small_backend("group-admin")
    calls = []
    real = k._json

    def spy(method, path, query=None, body=None):
        calls.append(path)
        return real(method, path, query, body)
    monkeypatch.setattr(k, "_json", spy)
    assert k.can_i("patch", KF, "notebooks", NS) is True
    assert k.can_i("patch", KF, "notebooks", NS) is True
    assert k.can_i("patch", KF, "notebooks", "ns-marketing-reco") is False
    assert len(calls) == 2
    import backends.kubernetes as kmod
    monkeypatch.setattr(kmod, "CAN_I_TTL", 0.0)
    assert k.can_i("patch", KF, "notebooks", NS) is True
    assert len(calls) == 3


def test_read_only_guard(small_backend) -> None:
    ro = small_backend("admin", read_only=True)
    with pytest.raises(ReadOnly) as err:
        ro._mutating("delete notebook ns/x")
    assert "read-only" in str(err.value) and "delete notebook ns/x" in str(err.value)
    assert ro.list("namespaces").items  # reads still work
    small_backend("admin")._mutating("delete notebook ns/x")  # no-op when writable


def test_closed_backend_refuses(small_backend) -> None:
    k = small_backend()
    k.close()
    k.close()
    with pytest.raises(Unavailable):
        k.list("nodes")


# ----------------------------------------------------------------------------------- simulator: SelfSubjectReview
@pytest.mark.parametrize("role", ["admin", "group-admin", "viewer"])
def test_simulator_self_subject_review(small, role) -> None:
    api = client.AuthenticationV1Api(small.api(role))
    out = api.create_self_subject_review({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert isinstance(out, client.V1SelfSubjectReview)
    ident = small.sim.identity(role)
    assert out.status.user_info.username == ident.user
    assert out.status.user_info.groups == list(ident.groups)
    groups = client.ApisApi(small.api(role)).get_api_versions()
    assert "authentication.k8s.io" in [g.name for g in groups.groups]
    res = client.AuthenticationV1Api(small.api(role)).get_api_resources()
    assert [r.name for r in res.resources] == ["selfsubjectreviews"]
    assert res.resources[0].verbs == ["create"]


def test_simulator_self_subject_review_needs_post_and_a_token(small) -> None:
    api = small.api("viewer")
    args = api.param_serialize("GET", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                               header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
    resp = api.call_api(*args[:4])
    resp.read()
    assert resp.status == 405
    args = api.param_serialize("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                               header_params={"Accept": "application/json"}, body={"kind": "SelfSubjectReview"})
    resp = api.call_api(*args[:4])  # no auth_settings: no token
    resp.read()
    assert resp.status == 401


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
@pytest.mark.kubectl
def test_kubectl_auth_whoami(small, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.run([shutil.which("kubectl"), "--kubeconfig", str(small.kubeconfig), "--context",
                           "sim-group-admin", "--cache-dir", str(tmp_path / "cache"), "--request-timeout=15s",
                           "auth", "whoami", "-o", "json"], capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode == 0, proc.stderr[-500:]
    out = json.loads(proc.stdout)
    assert out["kind"] == "SelfSubjectReview"
    assert out["status"]["userInfo"]["username"] == "lihua"
    assert "gp-risk-ml" in out["status"]["userInfo"]["groups"]


# ----------------------------------------------------------------------------------- parsers: cases
def pod(phase: str = "Running", *, statuses: list[dict] | None = None, init: list[dict] | None = None,
        init_statuses: list[dict] | None = None, conditions: list[dict] | None = None, deleting: bool = False,
        reason: str | None = None, containers: int = 1) -> dict:
    md: dict[str, Any] = {"name": "p", "namespace": "ns", "uid": "u1", "creationTimestamp": "2024-05-01T10:00:00Z"}
    if deleting:
        md["deletionTimestamp"] = "2024-05-01T10:05:00Z"
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if conditions is not None:
        status["conditions"] = conditions
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    return {"metadata": md, "spec": spec, "status": status}


def cs(name: str = "c0", *, running: bool = False, ready: bool = False, waiting: str | None = None,
       terminated: str | None = None, exit_code: int = 0, signal: int = 0, restarts: int = 0,
       started: bool | None = None) -> dict:
    state: dict[str, Any] = {}
    if running:
        state["running"] = {"startedAt": "2024-05-01T10:00:00Z"}
    if waiting is not None:
        state["waiting"] = {"reason": waiting}
    if terminated is not None:
        state["terminated"] = {"exitCode": exit_code, "reason": terminated, **({"signal": signal} if signal else {})}
    out = {"name": name, "ready": ready, "restartCount": restarts, "state": state, "image": "i", "imageID": "x"}
    if started is not None:
        out["started"] = started
    return out


READY = [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}]


@pytest.mark.parametrize("obj,status,ready,total,restarts", [
    (pod(statuses=[cs(running=True, ready=True)]), "Running", 1, 1, 0),
    (pod("Pending"), "Pending", 0, 1, 0),
    (pod("Pending", statuses=[cs(waiting="ContainerCreating")]), "ContainerCreating", 0, 1, 0),
    (pod(statuses=[cs(waiting="CrashLoopBackOff", restarts=5)]), "CrashLoopBackOff", 0, 1, 5),
    (pod("Pending", statuses=[cs(waiting="ImagePullBackOff")]), "ImagePullBackOff", 0, 1, 0),
    (pod("Succeeded", statuses=[cs(terminated="Completed")]), "Completed", 0, 1, 0),
    (pod("Failed", statuses=[cs(terminated="OOMKilled", exit_code=137)]), "OOMKilled", 0, 1, 0),
    (pod("Failed", statuses=[cs(terminated="", exit_code=2)]), "ExitCode:2", 0, 1, 0),
    (pod("Failed", statuses=[cs(terminated="", exit_code=0, signal=9)]), "Signal:9", 0, 1, 0),
    (pod("Failed", reason="Evicted"), "Evicted", 0, 1, 0),
    (pod(statuses=[cs(running=True, ready=True)], deleting=True), "Terminating", 1, 1, 0),
    (pod("Succeeded", statuses=[cs(terminated="Completed")], deleting=True), "Completed", 0, 1, 0),
    (pod(statuses=[cs(running=True, ready=True)], deleting=True, reason="NodeLost"), "Unknown", 1, 1, 0),
    # one container done, one still running: Running if the pod is Ready, else NotReady
    (pod(containers=2, statuses=[cs("c0", terminated="Completed"), cs("c1", running=True, ready=True)],
         conditions=READY), "Running", 1, 2, 0),
    (pod(containers=2, statuses=[cs("c0", running=True, ready=True), cs("c1", terminated="Completed")],
         conditions=[{"type": "Ready", "status": "False"}]), "NotReady", 1, 2, 0),
    # init containers
    (pod("Pending", init=[{"name": "i0"}], init_statuses=[cs("i0", waiting="PodInitializing")],
         statuses=[cs(waiting="PodInitializing")]), "Init:0/1", 0, 1, 0),
    (pod("Pending", init=[{"name": "i0"}, {"name": "i1"}],
         init_statuses=[cs("i0", terminated="Completed"), cs("i1", waiting="CrashLoopBackOff", restarts=3)]),
     "Init:CrashLoopBackOff", 0, 1, 3),
    (pod("Pending", init=[{"name": "i0"}], init_statuses=[cs("i0", terminated="", exit_code=1)]),
     "Init:ExitCode:1", 0, 1, 0),
    # a sidecar (restartable init container) counts as a container
    (pod(init=[{"name": "side", "restartPolicy": "Always"}],
         init_statuses=[cs("side", running=True, ready=True, started=True, restarts=1)],
         statuses=[cs(running=True, ready=True, restarts=2)], conditions=READY), "Running", 2, 2, 3),
    (pod("Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
     "SchedulingGated", 0, 1, 0),
])
def test_pod_status_like_kubectl(obj, status, ready, total, restarts) -> None:
    assert kp.pod_status_text(obj) == (status, ready, total, restarts)
    p = kp.parse_pod(obj)
    assert (p.status, p.ready, p.containers, p.restarts) == (status, ready, total, restarts)


def test_pod_fields() -> None:
    obj = pod(statuses=[cs(running=True, ready=True)], containers=2)
    obj["spec"]["nodeName"] = "n1"
    obj["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "2"}}
    obj["spec"]["containers"][1]["resources"] = {"requests": {"nvidia.com/gpu": 1}}
    obj["metadata"]["ownerReferences"] = [{"kind": "Service", "name": "s", "apiVersion": "v1", "uid": "1"},
                                          {"kind": "StatefulSet", "name": "nb", "controller": True,
                                           "apiVersion": "apps/v1", "uid": "2"}]
    p = kp.parse_pod(obj)
    assert (p.gpus, p.node, p.owner_kind, p.owner_name) == (3, "n1", "StatefulSet", "nb")
    assert p.created.isoformat() == "2024-05-01T10:00:00+00:00"
    assert p.holds_gpus and not p.deleting


def nb(ready: int | None = 0, *, stopped: bool = False, waiting: dict | None = None, terminated: dict | None = None,
       deleting: bool = False, conditions: list | None = None) -> dict:
    md: dict[str, Any] = {"name": "n", "namespace": "ns", "uid": "u", "labels": {"prophecis-UserId": "alice"}}
    if stopped:
        md["annotations"] = {STOP: "2024-05-01T10:00:00Z"}
    if deleting:
        md["deletionTimestamp"] = "2024-05-01T10:00:00Z"
    cstate: dict[str, Any] = {}
    if waiting is not None:
        cstate["waiting"] = waiting
    if terminated is not None:
        cstate["terminated"] = terminated
    return {"metadata": md, "spec": {"template": {"spec": {"containers": [
        {"name": "notebook-container", "image": "jl:1", "resources": {
            "requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"nvidia.com/gpu": "1", "memory": "8Gi"}}}]}}},
        "status": {"readyReplicas": ready, "containerState": cstate, "conditions": conditions or []}}


@pytest.mark.parametrize("obj,state,reason", [
    (nb(1), NotebookState.RUNNING, ""),
    (nb(0, stopped=True), NotebookState.STOPPED, ""),
    (nb(1, stopped=True), NotebookState.STOPPING, ""),
    (nb(None, stopped=True), NotebookState.STOPPED, ""),
    (nb(0, waiting={"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}),
     NotebookState.FAILING, "ImagePullBackOff: Back-off pulling image \"x\""),
    (nb(0, waiting={"reason": "CrashLoopBackOff"}), NotebookState.FAILING, "CrashLoopBackOff"),
    (nb(0, waiting={"reason": "CreateContainerConfigError", "message": "secret \"s\" not found"}),
     NotebookState.FAILING, "CreateContainerConfigError: secret \"s\" not found"),
    (nb(0, waiting={"reason": "ContainerCreating"}), NotebookState.STARTING, "ContainerCreating"),
    (nb(0, terminated={"exitCode": 1, "reason": "Error"}), NotebookState.FAILING, "Error"),
    (nb(0, terminated={"exitCode": 137}), NotebookState.FAILING, "exit code 137"),
    (nb(0, conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]),
     NotebookState.STARTING, "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
    (nb(0), NotebookState.STARTING, ""),
    (nb(1, deleting=True), NotebookState.STOPPING, "deleting"),
    ({"metadata": {"name": "bare"}}, NotebookState.STARTING, ""),
])
def test_notebook_state_like_the_jupyter_web_app(obj, state, reason) -> None:
    n = kp.parse_notebook(obj)
    assert (n.state, n.reason) == (state, reason)


def test_notebook_fields() -> None:
    n = kp.parse_notebook(nb(1))
    assert (n.user, n.image, n.gpus, n.cpu, n.memory) == ("alice", "jl:1", 1, "2", "8Gi")
    obj = nb(1)
    obj["metadata"]["labels"] = {}
    obj["metadata"]["annotations"] = {"notebooks.kubeflow.org/creator": "bob@example.com"}
    obj["spec"]["template"]["spec"]["containers"].insert(0, {"name": "sidecar", "image": "proxy"})
    obj["spec"]["template"]["spec"]["containers"][1]["name"] = "n"  # named like the notebook: it is the one
    n = kp.parse_notebook(obj)
    assert (n.user, n.image) == ("bob@example.com", "jl:1")


def kf_job(conds: list[tuple[str, str]], *, replicas: dict | None = None, kind: str = "PyTorchJob") -> dict:
    key = {"TFJob": "tfReplicaSpecs", "PyTorchJob": "pytorchReplicaSpecs", "XGBoostJob": "xgbReplicaSpecs"}[kind]
    specs = {}
    for rtype, (n, gpus) in (replicas or {"Master": (1, 1), "Worker": (3, 2)}).items():
        ctr = {"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}}
        specs[rtype] = {**({"replicas": n} if n is not None else {}), "template": {"spec": {"containers": [ctr]}}}
    return {"kind": kind, "metadata": {"name": "j", "namespace": "ns", "uid": "u", "labels": {"MLSS-USER": "bob"}},
            "spec": {key: specs},
            "status": {"startTime": "2024-05-01T10:00:00Z", "conditions": [
                {"type": t, "status": s, "message": f"{t} message", "lastTransitionTime": "2024-05-01T11:00:00Z"}
                for t, s in conds]}}


@pytest.mark.parametrize("conds,state,reason", [
    ([], JobState.PENDING, ""),
    ([("Created", "True")], JobState.PENDING, "Created message"),
    ([("Created", "True"), ("Running", "True")], JobState.RUNNING, "Running message"),
    ([("Created", "True"), ("Running", "False"), ("Restarting", "True")], JobState.RESTARTING, "Restarting message"),
    ([("Created", "True"), ("Running", "False"), ("Succeeded", "True")], JobState.SUCCEEDED, "Succeeded message"),
    ([("Created", "True"), ("Running", "True"), ("Failed", "True")], JobState.FAILED, "Failed message"),
    ([("Created", "True"), ("Suspended", "True")], JobState.PENDING, "Suspended message"),
])
def test_training_job_state_from_conditions(conds, state, reason) -> None:
    j = kp.parse_training_job(kf_job(conds), "PyTorchJob")
    assert (j.state, j.reason) == (state, reason)
    assert (j.replicas, j.gpus, j.user, j.kind) == (4, 7, "bob", "PyTorchJob")
    assert j.started is not None
    # no completionTime here: a finished job's end is its terminal condition's time
    assert (j.finished is not None) == (state in (JobState.FAILED, JobState.SUCCEEDED))


def test_training_job_defaults_replicas_to_one() -> None:
    j = kp.parse_training_job(kf_job([], replicas={"Chief": (None, 1), "PS": (2, 0)}, kind="TFJob"), "TFJob")
    assert (j.replicas, j.gpus) == (3, 1)
    x = kp.parse_training_job(kf_job([], replicas={"Master": (1, 0), "Worker": (2, 0)}, kind="XGBoostJob"))
    assert (x.kind, x.replicas) == ("XGBoostJob", 3)


def batch_job(status: dict, parallelism: int | None = None) -> dict:
    spec: dict[str, Any] = {"template": {"spec": {"containers": [
        {"name": "learner", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]}}}
    if parallelism is not None:
        spec["parallelism"] = parallelism
    return {"metadata": {"name": "t", "namespace": "ns", "uid": "u", "labels": {"jobType": "single",
                                                                                "MLSS-USER": "carol"}},
            "spec": spec, "status": status}


T = "2024-05-01T10:00:00Z"


@pytest.mark.parametrize("status,state", [
    ({}, JobState.PENDING),
    ({"active": 1, "ready": 0, "startTime": T}, JobState.PENDING),
    ({"active": 1, "ready": 1, "startTime": T}, JobState.RUNNING),
    ({"active": 1, "startTime": T}, JobState.RUNNING),  # servers before JobReadyPods say nothing of ready
    ({"succeeded": 1, "completionTime": T, "conditions": [{"type": "Complete", "status": "True"}]},
     JobState.SUCCEEDED),
    ({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                   "message": "Job has reached the specified backoff limit",
                                   "lastTransitionTime": T}]}, JobState.FAILED),
    ({"conditions": [{"type": "Suspended", "status": "True"}]}, JobState.PENDING),
    ({"conditions": [{"type": "Complete", "status": "False"}], "active": 1}, JobState.RUNNING),
])
def test_batch_job_state(status, state) -> None:
    j = kp.parse_batch_job(batch_job(status))
    assert j.state is state
    assert (j.kind, j.user, j.replicas, j.gpus) == ("Job", "carol", 1, 2)
    if state is JobState.FAILED:
        assert j.reason == "BackoffLimitExceeded: Job has reached the specified backoff limit"
        assert j.finished is not None
    assert kp.parse_batch_job(batch_job(status, parallelism=3)).gpus == 6


def sdep(status: dict | None, *, replicas: int | None = None, pred_replicas: int | None = 2) -> dict:
    pred: dict[str, Any] = {"name": "default", "graph": {"name": "m"}, "componentSpecs": [
        {"spec": {"containers": [{"name": "m", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}]}
    if pred_replicas is not None:
        pred["replicas"] = pred_replicas
    spec: dict[str, Any] = {"predictors": [pred]}
    if replicas is not None:
        spec["replicas"] = replicas
    obj = {"metadata": {"name": "d", "namespace": "ns", "uid": "u", "labels": {"MLSS-USER": "dan"}}, "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


def test_seldon_deployment() -> None:
    d = kp.parse_seldon_deployment(sdep({"state": "Available", "replicas": 2}))
    assert (d.state, d.replicas, d.ready, d.gpus, d.user) == (DeploymentState.AVAILABLE, 2, 2, 2, "dan")
    d = kp.parse_seldon_deployment(sdep(None, replicas=3))  # the predictor's own count wins, as in Seldon Core
    assert (d.state, d.replicas, d.ready, d.scale_replicas) == (DeploymentState.CREATING, 2, 0, 3)
    d = kp.parse_seldon_deployment(sdep(None, replicas=3, pred_replicas=None))
    assert (d.replicas, d.scale_replicas, d.predictors[0].pinned) == (3, 3, False)
    d = kp.parse_seldon_deployment(sdep({"state": "Failed", "description": "Deployment is no longer progressing",
                                         "deploymentStatus": {"a": {"availableReplicas": 1}, "b": {}}},
                                        pred_replicas=None))
    assert (d.state, d.reason, d.replicas, d.ready) == (DeploymentState.FAILED, "Deployment is no longer progressing",
                                                        1, 1)
    assert kp.parse_seldon_deployment(sdep({"state": "Weird"})).state is DeploymentState.CREATING


def test_seldon_deployment_with_a_canary_counts_each_predictor() -> None:
    obj = sdep({"state": "Creating", "replicas": 3, "deploymentStatus": {
        "d-default-0-m": {"replicas": 3, "availableReplicas": 3},
        "d-canary-0-m": {"replicas": 1, "availableReplicas": 0}}}, replicas=3, pred_replicas=None)
    canary = copy.deepcopy(obj["spec"]["predictors"][0])
    canary.update(name="canary", replicas=1, traffic=10)
    obj["spec"]["predictors"][0]["traffic"] = 90
    obj["spec"]["predictors"].append(canary)
    d = kp.parse_seldon_deployment(obj)
    assert [(p.name, p.ready, p.replicas, p.pinned, p.traffic) for p in d.predictors] == [
        ("default", 3, 3, False, 90), ("canary", 0, 1, True, 10)]
    assert (d.replicas, d.ready, d.scale_replicas, d.gpus) == (4, 3, 3, 4)
    obj["status"]["deploymentStatus"]["seldon-0123456789abcdef"] = obj["status"]["deploymentStatus"].pop(
        "d-canary-0-m")  # a name over 63 characters is hashed: the one left over is the canary's
    assert [p.ready for p in kp.parse_seldon_deployment(obj).predictors] == [3, 0]


def test_quota() -> None:
    q = kp.parse_quota({"metadata": {"namespace": "ns", "uid": "u"}, "status": {
        "hard": {"requests.nvidia.com/gpu": "8", "limits.cpu": "16", "requests.memory": "64Gi"},
        "used": {"requests.nvidia.com/gpu": "3", "limits.cpu": "1500m", "requests.memory": "512Mi"}}})
    assert (q.gpu_hard, q.gpu_used, q.cpu_hard, q.cpu_used) == (8.0, 3.0, 16.0, 1.5)
    assert (q.memory_hard, q.memory_used) == (64 * 2 ** 30, 512 * 2 ** 20)
    empty = kp.parse_quota({"metadata": {"namespace": "ns"}, "status": {"hard": {}, "used": {}}})
    assert (empty.gpu_hard, empty.cpu_hard, empty.memory_hard) == (None, None, None)
    assert (empty.gpu_used, empty.cpu_used, empty.memory_used) == (0.0, 0.0, 0.0)
    spec_only = kp.parse_quota({"spec": {"hard": {"cpu": "4"}}})
    assert spec_only.cpu_hard == 4.0


def test_namespace_and_node() -> None:
    n = kp.parse_namespace({"metadata": {"name": "ns-a-b", "uid": "u", "annotations": {
        kp.NODE_SELECTOR_ANNOTATION: " lb-department = risk ,lb-app=scorecard,junk", "lb-gpu-model": "A100"}},
        "status": {"phase": "Terminating"}})
    assert (n.department, n.app, n.gpu_model, n.terminating) == ("risk", "scorecard", "A100", True)
    assert kp.parse_namespace({"metadata": {"name": "x", "deletionTimestamp": T}}).terminating
    node = kp.parse_node({"metadata": {"name": "g1", "uid": "u", "labels": {
        "nvidia.com/gpu.product": "NVIDIA-A100", "lb-department": "risk", "lb-app": "x"}},
        "spec": {"unschedulable": True},
        "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": "7"},
                   "conditions": [{"type": "Ready", "status": "False"}]}})
    assert (node.ready, node.unschedulable, node.gpu_model, node.gpu_capacity, node.gpu_allocatable) == \
        (False, True, "NVIDIA-A100", 8, 7)
    assert n.node_selector == {"lb-department": "risk", "lb-app": "scorecard"}
    assert node.labels == {"nvidia.com/gpu.product": "NVIDIA-A100", "lb-department": "risk", "lb-app": "x"}
    assert kp.parse_namespace({"metadata": {"name": "x"}}).node_selector == {}


def test_quota_base_limit_name_and_annotations() -> None:
    q = kp.parse_quota({"metadata": {"name": "mlss-default-rq", "namespace": "ns", "annotations": {
        "prophecis.webank.com/gpu-max": "12", kp.LAST_APPLIED_ANNOTATION: "{...}"}},
        "spec": {"hard": {"requests.nvidia.com/gpu": "8", "limits.nvidia.com/gpu": "16"}},
        "status": {"hard": {"requests.nvidia.com/gpu": "8", "limits.nvidia.com/gpu": "16"},
                   "used": {"requests.nvidia.com/gpu": "3"}}})
    assert (q.name, q.gpu_base, q.gpu_limit, q.gpu_hard, q.gpu_used) == ("mlss-default-rq", 8.0, 16.0, 8.0, 3.0)
    assert q.annotations == {"prophecis.webank.com/gpu-max": "12"}
    limits_only = kp.parse_quota({"metadata": {"namespace": "ns"}, "spec": {"hard": {"limits.nvidia.com/gpu": "4"}}})
    assert (limits_only.gpu_base, limits_only.gpu_limit, limits_only.gpu_hard) == (None, 4.0, 4.0)
    assert kp.parse_quota({"metadata": {"namespace": "ns"}}).gpu_base is None


@pytest.mark.parametrize("text,value", [
    ("1", 1.0), ("500m", 0.5), ("100m", 0.1), ("1.5", 1.5), ("2k", 2000.0), ("3M", 3e6), ("1G", 1e9),
    ("1Ki", 1024.0), ("64Mi", 64 * 2 ** 20), ("32Gi", 32 * 2 ** 30), ("1Ti", 2.0 ** 40), ("2Ei", 2 * 2.0 ** 60),
    ("1E", 1e18), ("1e3", 1000.0), ("1E3", 1000.0), ("5e-1", 0.5), ("250u", 250e-6), ("7n", 7e-9),
    ("+4", 4.0), ("-2", -2.0), (".5", 0.5), ("165700m", 165.7), (4, 4.0), (2.5, 2.5),
    ("", None), ("Gi", None), ("1.2.3", None), ("1Qi", None), ("1 Gi", None), (None, None), (True, None),
    ([], None), ("1e99999", None), (float("nan"), None),
])
def test_quantity(text, value) -> None:
    got = kp.parse_quantity(text)
    assert got == pytest.approx(value) if value is not None else got is None


def test_time() -> None:
    assert kp.parse_time("2024-05-01T10:00:00.123456789Z").microsecond == 123456
    assert kp.parse_time("2024-05-01T10:00:00+08:00").utcoffset().total_seconds() == 8 * 3600
    assert kp.parse_time("2024-05-01T10:00:00").tzinfo is not None
    for bad in ("2024-05-01", "yesterday", "", None, 5, "2024-13-01T00:00:00Z"):
        assert kp.parse_time(bad) is None


# ----------------------------------------------------------------------------------- parsers: odd inputs
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2 ** 70, max_value=2 ** 70),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                      st.sampled_from(["True", "False", "1", "500m", "2Gi", "Running", "Always", T, "-3", "1e400"]))
json_any = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)

PARSERS: dict[str, Callable[[Any], Any]] = {
    "namespace": kp.parse_namespace, "node": kp.parse_node, "pod": kp.parse_pod, "notebook": kp.parse_notebook,
    "tfjob": kp.training_parser("TFJob"), "batch": kp.parse_batch_job, "sdep": kp.parse_seldon_deployment,
    "quota": kp.parse_quota,
}
SAMPLES: dict[str, dict] = {
    "namespace": {"metadata": {"name": "n", "uid": "u", "annotations": {kp.NODE_SELECTOR_ANNOTATION: "a=b",
                                                                        "lb-gpu-model": "A"}},
                  "status": {"phase": "Active"}},
    "node": {"metadata": {"name": "n", "labels": {"lb-gpu-model": "A"}}, "spec": {"unschedulable": False},
             "status": {"capacity": {"nvidia.com/gpu": "8"}, "conditions": [{"type": "Ready", "status": "True"}]}},
    "pod": pod(statuses=[cs(running=True, ready=True), cs("c1", terminated="Completed")], containers=2,
               init=[{"name": "i", "restartPolicy": "Always"}], init_statuses=[cs("i", waiting="X")],
               conditions=READY),
    "notebook": nb(0, waiting={"reason": "ErrImagePull", "message": "m"}, conditions=READY),
    "tfjob": kf_job([("Created", "True"), ("Failed", "True")], kind="TFJob"),
    "batch": batch_job({"active": 1, "ready": 0, "conditions": [{"type": "Failed", "status": "True"}]}, 2),
    "sdep": sdep({"state": "Available", "deploymentStatus": {"a": {"availableReplicas": 1}}}, replicas=2),
    "quota": {"metadata": {"namespace": "n"}, "status": {"hard": {"requests.cpu": "2", "requests.nvidia.com/gpu": "1"},
                                                         "used": {"requests.cpu": "1"}}},
}


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _set(obj: Any, path: tuple, value: Any, delete: bool) -> Any:
    obj = json.loads(json.dumps(obj))
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    if delete and isinstance(cur, dict):
        cur.pop(path[-1], None)
    else:
        cur[path[-1]] = value
    return obj


@st.composite
def mutated(draw, name: str) -> Any:
    """A realistic object with some of its fields replaced by nulls, wrong types or junk, or removed."""
    obj = SAMPLES[name]
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(obj)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        obj = _set(obj, path, draw(json_any), draw(st.booleans()))
    return obj


def _check(model: Any) -> None:
    """What the parser built is a valid instance of its model (model_construct skips validation)."""
    type(model).model_validate(model.model_dump())


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parsers_degrade_on_odd_input(name, data) -> None:
    obj = data.draw(st.one_of(mutated(name), json_any))
    _check(PARSERS[name](obj))


@settings(max_examples=300, deadline=None)
@given(json_any)
def test_quantity_never_raises(v) -> None:
    out = kp.parse_quantity(v)
    assert out is None or (isinstance(out, float) and math.isfinite(out))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10 ** 12), st.sampled_from(["", "k", "M", "Ki", "Mi", "Gi", "m"]))
def test_quantity_of_integers(n, suffix) -> None:
    scale = {"": 1, "k": 1e3, "M": 1e6, "Ki": 1024, "Mi": 2 ** 20, "Gi": 2 ** 30, "m": 1e-3}[suffix]
    assert kp.parse_quantity(f"{n}{suffix}") == pytest.approx(n * scale)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_node_selector_annotation_never_raises(text) -> None:
    out = kp.parse_node_selector(text)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in out.items())


def test_kinds_cover_the_protocol() -> None:
    assert list(KINDS) == ALL

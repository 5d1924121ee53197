"""The simulated API server as the official ``kubernetes`` client (37.x) sees it.

Reads use the shared, frozen ``small`` cluster and change nothing in it; every test that writes
uses a fresh ``tiny`` cluster. Time only moves through ``advance()``; watches and log streams are
read a bounded number of events or chunks, with a server timeout as a safety net.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client import ApiException

from prophecis_tui.simulator.quantity import parse

KF = "kubeflow.org"
SELDON = "machinelearning.seldon.io"
STOP = "kubeflow-resource-stopped"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")
MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


# ----------------------------------------------------------------------------- helpers


def status_of(err: ApiException) -> dict:
    """The Status object in an error answer."""
    body = json.loads(err.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == err.status
    return body


def fails(status: int, fn: Callable, *args: Any, **kw: Any) -> dict:
    with pytest.raises(ApiException) as info:
        fn(*args, **kw)
    assert info.value.status == status, info.value.body
    return status_of(info.value)


def raw(c, method: str, path: str, *, role: str = "admin", query: dict | None = None,
        headers: dict | None = None, body: Any = None) -> tuple[int, bytes, Any]:
    """A request through the client's own ApiClient (TLS, token), answered without a model."""
    api = c.api(role)
    hdrs = {"Accept": "application/json", **(headers or {})}
    args = api.param_serialize(method, path, query_params=list((query or {}).items()), header_params=hdrs,
                               body=body, auth_settings=["BearerToken"])
    resp = api.call_api(*args[:4])
    resp.read()
    return resp.status, resp.data, resp.headers


def ga_namespaces(c) -> list[str]:
    return list(c.sim.identity("group-admin").namespaces)


def tenant(c) -> str:
    """The group admin's namespace with the most room left in its quota (new workloads should fit)."""

    def room(ns: str) -> float:
        st = c.core().read_namespaced_resource_quota("mlss-default-rq", ns).status
        return parse(st.hard["requests.cpu"]) - parse(st.used.get("requests.cpu", "0"))
    return max(ga_namespaces(c), key=room)


def log_lines(text: str) -> list[str]:
    """A log's lines: split on newlines only (lines may hold carriage returns, as progress bars write)."""
    parts = text.split("\n")
    return parts[:-1] if parts and parts[-1] == "" else parts


def lines_of(resp, want: int, stop: Callable[[dict], bool] | None = None) -> list[dict]:
    """Read newline-delimited JSON events from a raw watch response until ``want`` are in (or ``stop``)."""
    out: list[dict] = []
    buf = b""
    try:
        for chunk in resp.stream(4096):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    ev = json.loads(line)
                    out.append(ev)
                    if len(out) >= want or (stop and stop(ev)):
                        return out
    finally:
        resp.close()
        resp.release_conn()
    return out


def events(w: watch.Watch, stream: Iterator[dict], want: int,
           stop: Callable[[dict], bool] | None = None) -> list[dict]:
    out = []
    for ev in stream:
        out.append(ev)
        if len(out) >= want or (stop and stop(ev)):
            w.stop()
            break
    return out


def configmap(name: str, labels: dict | None = None, data: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data or {"k": "v"}}


def pod_body(name: str, *, containers: list[dict] | None = None, gpus: int = 0) -> dict:
    """A pod that names its requests and limits (a namespace with a compute quota requires them)."""
    ctrs = containers or [{"name": "main", "image": "busybox:1.36"}]
    for ctr in ctrs:
        ctr["resources"] = {"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}
    if gpus:
        ctrs[0]["resources"]["limits"]["nvidia.com/gpu"] = str(gpus)
        ctrs[0]["resources"]["requests"]["nvidia.com/gpu"] = str(gpus)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": ctrs, "restartPolicy": "Always"}}


def notebook_body(name: str) -> dict:
    return {"apiVersion": f"{KF}/v1", "kind": "Notebook",
            "metadata": {"name": name, "labels": {"prophecis-UserId": "lihua", "app": name}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "notebook-container", "image": "wedatasphere/prophecis:jupyterlab-1.4.0-py38-cpu",
                 "resources": {"requests": {"cpu": "200m", "memory": "256Mi"},
                               "limits": {"cpu": "200m", "memory": "256Mi"}}}]}}}}


def first_notebook(c, ns: str) -> dict:
    items = c.custom().list_namespaced_custom_object(KF, "v1", ns, "notebooks")["items"]
    assert items
    return items[0]


def running_pod(c, ns: str, containers: int = 1) -> client.V1Pod:
    for p in c.core().list_namespaced_pod(ns, field_selector="status.phase=Running").items:
        if len(p.spec.containers) == containers and all(
                cs.state.running for cs in p.status.container_statuses or []):
            return p
    raise AssertionError(f"no running pod with {containers} container(s) in {ns}")


def create_running_pod(c, ns: str, name: str) -> client.V1Pod:
    c.core().create_namespaced_pod(ns, pod_body(name))
    c.advance(30)
    p = c.core().read_namespaced_pod(name, ns)
    assert p.status.phase == "Running", p.status
    return p


# ----------------------------------------------------------------------------- paging


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_paging_gives_every_pod_once(small, limit: int) -> None:
    core = small.core()
    full = core.list_pod_for_all_namespaces()
    want = [(p.metadata.namespace, p.metadata.name) for p in full.items]
    got: list[tuple[str, str]] = []
    tok = None
    pages = 0
    rvs = set()
    while True:
        page = core.list_pod_for_all_namespaces(limit=limit, _continue=tok)
        pages += 1
        assert isinstance(page.items, list) and len(page.items) <= limit
        got += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        rvs.add(page.metadata.resource_version)
        tok = page.metadata.var_continue
        if not tok:
            assert page.metadata.remaining_item_count is None
            break
        assert page.metadata.remaining_item_count == len(want) - len(got)
    assert len(got) == len(set(got)) == len(want)
    assert sorted(got) == sorted(want)
    assert rvs == {full.metadata.resource_version}
    assert pages == -(-len(want) // limit)


def test_paging_namespaced_and_with_selector(small) -> None:
    core = small.core()
    ns = tenant(small)
    for kwargs in ({}, {"label_selector": "notebook-name"}, {"field_selector": "status.phase=Running"}):
        want = sorted(p.metadata.name for p in core.list_namespaced_pod(ns, **kwargs).items)
        got, tok = [], None
        while True:
            page = core.list_namespaced_pod(ns, limit=2, _continue=tok, **kwargs)
            assert len(page.items) <= 2
            got += [p.metadata.name for p in page.items]
            tok = page.metadata.var_continue
            if not tok:
                break
        assert got == want, kwargs


def test_paging_custom_objects(small) -> None:
    co = small.custom()
    full = co.list_cluster_custom_object(KF, "v1", "notebooks")
    names, tok, rvs = [], None, set()
    while True:
        page = co.list_cluster_custom_object(KF, "v1", "notebooks", limit=4, _continue=tok)
        rvs.add(page["metadata"]["resourceVersion"])
        names += [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in page["items"]]
        tok = page["metadata"].get("continue")
        if not tok:
            break
        assert page["metadata"]["remainingItemCount"] == len(full["items"]) - len(names)
    assert sorted(names) == sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in full["items"])
    assert len(set(names)) == len(names)
    assert rvs == {full["metadata"]["resourceVersion"]}


def test_paging_is_a_consistent_snapshot(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    for i in range(4):
        core.create_namespaced_config_map(ns, configmap(f"page-{i}"))
    first = core.list_namespaced_config_map(ns, limit=2)
    before = [cm.metadata.name for cm in core.list_namespaced_config_map(ns).items]
    # changes after the first page must not show in the rest of this list
    core.create_namespaced_config_map(ns, configmap("page-9-late"))
    core.delete_namespaced_config_map("page-3", ns)
    core.patch_namespaced_config_map("page-2", ns, {"data": {"k": "changed"}})
    got = [cm.metadata.name for cm in first.items]
    seen_data = {}
    tok = first.metadata.var_continue
    while tok:
        page = core.list_namespaced_config_map(ns, limit=2, _continue=tok)
        assert page.metadata.resource_version == first.metadata.resource_version
        got += [cm.metadata.name for cm in page.items]
        if page.metadata.var_continue:
            assert page.metadata.remaining_item_count == len(before) - len(got)
        seen_data.update({cm.metadata.name: cm.data for cm in page.items})
        tok = page.metadata.var_continue
    assert got == before
    assert seen_data["page-2"] == {"k": "v"}


def test_continue_token_after_compaction_is_410(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    first = core.list_namespaced_config_map(ns, limit=1)
    assert first.metadata.var_continue
    core.create_namespaced_config_map(ns, configmap("after-first-page"))
    tiny.call(tiny.sim.engine.store.compact, None)
    st = fails(410, core.list_namespaced_config_map, ns, limit=1, _continue=first.metadata.var_continue)
    assert st["reason"] == "Expired"
    # a new list works
    assert core.list_namespaced_config_map(ns, limit=1).items


def test_invalid_continue_token_is_400(small) -> None:
    st = fails(400, small.core().list_pod_for_all_namespaces, limit=2, _continue="not-a-token")
    assert st["reason"] == "BadRequest"
    assert "continue" in st["message"]


def test_items_is_always_a_list(small) -> None:
    core, co = small.core(), small.custom()
    empty = core.list_pod_for_all_namespaces(label_selector="no-such-label=nothing")
    assert empty.items == [] and empty.metadata.var_continue is None
    assert core.list_namespaced_pod("no-such-namespace").items == []
    assert co.list_namespaced_custom_object(KF, "v1", "kube-system", "notebooks")["items"] == []
    for path, query in (("/api/v1/pods", {"labelSelector": "nope=nope"}),
                        ("/api/v1/namespaces/nowhere/configmaps", None),
                        ("/apis/kubeflow.org/v1/namespaces/kube-system/tfjobs", None)):
        status, data, _ = raw(small, "GET", path, query=query)
        body = json.loads(data)
        assert status == 200 and body["items"] == [], path
        assert isinstance(body["metadata"]["resourceVersion"], str)


# ----------------------------------------------------------------------------- selectors


def _label_match(labels: dict, key: str, op: str, values: tuple[str, ...] = ()) -> bool:
    if op in ("=", "=="):
        return labels.get(key) == values[0]
    if op == "!=":
        return labels.get(key) != values[0]
    if op == "in":
        return labels.get(key) in values
    if op == "notin":
        return labels.get(key) not in values
    if op == "exists":
        return key in labels
    return key not in labels


LABEL_CASES = [
    ("training.kubeflow.org/replica-type=worker", "training.kubeflow.org/replica-type", "=", ("worker",)),
    ("training.kubeflow.org/replica-type==master", "training.kubeflow.org/replica-type", "==", ("master",)),
    ("MLSS-USER!=lihua", "MLSS-USER", "!=", ("lihua",)),
    ("training.kubeflow.org/replica-type in (worker,ps)", "training.kubeflow.org/replica-type", "in",
     ("worker", "ps")),
    ("training.kubeflow.org/replica-type notin (worker)", "training.kubeflow.org/replica-type", "notin",
     ("worker",)),
    ("notebook-name", "notebook-name", "exists", ()),
    ("!notebook-name", "notebook-name", "!exists", ()),
]


@pytest.mark.parametrize(("selector", "key", "op", "values"), LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_label_selectors(small, selector: str, key: str, op: str, values: tuple[str, ...]) -> None:
    core = small.core()
    every = core.list_pod_for_all_namespaces().items
    want = sorted((p.metadata.namespace, p.metadata.name) for p in every
                  if _label_match(p.metadata.labels or {}, key, op, values))
    assert 0 < len(want) < len(every), "the selector should split the pods"
    got = core.list_pod_for_all_namespaces(label_selector=selector).items
    assert sorted((p.metadata.namespace, p.metadata.name) for p in got) == want
    ns = tenant(small)
    got_ns = core.list_namespaced_pod(ns, label_selector=selector).items
    assert sorted(p.metadata.name for p in got_ns) == sorted(n for s, n in want if s == ns)


def test_label_selectors_combine_and_work_on_custom_objects(small) -> None:
    co, core = small.custom(), small.core()
    nbs = co.list_cluster_custom_object(KF, "v1", "notebooks")["items"]
    user = nbs[0]["metadata"]["labels"]["prophecis-UserId"]
    got = co.list_cluster_custom_object(KF, "v1", "notebooks", label_selector=f"prophecis-UserId={user}")
    assert sorted(i["metadata"]["name"] for i in got["items"]) == sorted(
        i["metadata"]["name"] for i in nbs if i["metadata"]["labels"].get("prophecis-UserId") == user)
    pods = core.list_pod_for_all_namespaces(
        label_selector="training.kubeflow.org/job-name,training.kubeflow.org/replica-type!=worker").items
    assert pods and all("training.kubeflow.org/job-name" in p.metadata.labels and
                        p.metadata.labels["training.kubeflow.org/replica-type"] != "worker" for p in pods)


def test_bad_label_selector_is_400(small) -> None:
    st = fails(400, small.core().list_pod_for_all_namespaces, label_selector="a in (b")
    assert st["reason"] == "BadRequest"


def test_pod_field_selectors(small) -> None:
    core = small.core()
    every = core.list_pod_for_all_namespaces().items
    p = next(x for x in every if x.spec.node_name)
    ns = p.metadata.namespace

    def names(items) -> list[tuple[str, str]]:
        return sorted((x.metadata.namespace, x.metadata.name) for x in items)

    assert names(core.list_pod_for_all_namespaces(field_selector=f"metadata.name={p.metadata.name}").items) == \
        [(ns, p.metadata.name)]
    assert names(core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}").items) == \
        names(x for x in every if x.metadata.namespace == ns)
    for phase in ("Running", "Pending", "Succeeded"):
        assert names(core.list_pod_for_all_namespaces(field_selector=f"status.phase={phase}").items) == \
            names(x for x in every if x.status.phase == phase)
    assert names(core.list_pod_for_all_namespaces(field_selector="status.phase!=Running").items) == \
        names(x for x in every if x.status.phase != "Running")
    on_node = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={p.spec.node_name}").items
    assert names(on_node) == names(x for x in every if x.spec.node_name == p.spec.node_name)
    unscheduled = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=").items
    assert names(unscheduled) == names(x for x in every if not x.spec.node_name)
    both = core.list_namespaced_pod(ns, field_selector=f"status.phase=Running,spec.nodeName={p.spec.node_name}")
    assert names(both.items) == names(x for x in every if x.metadata.namespace == ns and x.status.phase ==
                                      "Running" and x.spec.node_name == p.spec.node_name)


def test_event_field_selectors(small) -> None:
    core = small.core()
    every = core.list_event_for_all_namespaces().items
    warn = next(e for e in every if e.type == "Warning")
    io = warn.involved_object
    ns = warn.metadata.namespace

    def names(items) -> list[str]:
        return sorted(e.metadata.name for e in items)

    sel = f"involvedObject.kind={io.kind},involvedObject.name={io.name}"
    got = core.list_namespaced_event(ns, field_selector=sel).items
    assert names(got) == names(e for e in every if e.metadata.namespace == ns and e.involved_object.kind == io.kind
                               and e.involved_object.name == io.name)
    assert warn.metadata.name in names(got)
    assert names(core.list_event_for_all_namespaces(field_selector="type=Warning").items) == \
        names(e for e in every if e.type == "Warning")
    assert names(core.list_event_for_all_namespaces(field_selector=f"reason={warn.reason}").items) == \
        names(e for e in every if e.reason == warn.reason)
    assert names(core.list_namespaced_event(ns, field_selector="type=Normal").items) == \
        names(e for e in every if e.type == "Normal" and e.metadata.namespace == ns)


def test_custom_object_field_selectors(small) -> None:
    co = small.custom()
    nb = co.list_cluster_custom_object(KF, "v1", "notebooks")["items"][0]
    md = nb["metadata"]
    got = co.list_cluster_custom_object(KF, "v1", "notebooks", field_selector=f"metadata.name={md['name']}")
    assert [i["metadata"]["uid"] for i in got["items"]] == [md["uid"]]
    got = co.list_namespaced_custom_object(KF, "v1", md["namespace"], "notebooks",
                                           field_selector=f"metadata.namespace={md['namespace']}")
    assert md["uid"] in {i["metadata"]["uid"] for i in got["items"]}
    st = fails(400, co.list_cluster_custom_object, KF, "v1", "notebooks", field_selector="status.readyReplicas=1")
    assert "field label not supported" in st["message"]


@pytest.mark.parametrize("selector", ["spec.foo=bar", "status.hostIP=1.2.3.4", "metadata.labels=x"])
def test_unsupported_field_is_400(small, selector: str) -> None:
    st = fails(400, small.core().list_pod_for_all_namespaces, field_selector=selector)
    assert st["reason"] == "BadRequest"
    assert "field label not supported" in st["message"]
    st = fails(400, small.core().list_namespaced_pod, tenant(small), field_selector=selector)
    assert "field label not supported" in st["message"]


# ----------------------------------------------------------------------------- watch


def test_watch_from_list_rv_sees_later_changes_only(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    lst = core.list_namespaced_config_map(ns)
    core.create_namespaced_config_map(ns, configmap("w-new"))
    core.patch_namespaced_config_map("w-new", ns, {"data": {"k": "v2"}})
    w = watch.Watch()
    got = events(w, w.stream(core.list_namespaced_config_map, ns, resource_version=lst.metadata.resource_version,
                             timeout_seconds=5), 2)
    assert [(e["type"], e["object"].metadata.name) for e in got] == [("ADDED", "w-new"), ("MODIFIED", "w-new")]
    assert isinstance(got[0]["object"], client.V1ConfigMap)
    assert got[1]["object"].data == {"k": "v2"}
    assert int(got[1]["object"].metadata.resource_version) > int(lst.metadata.resource_version)
    assert w.resource_version == got[1]["object"].metadata.resource_version


def test_watch_custom_objects_from_rv(tiny) -> None:
    co = tiny.custom()
    ns = tenant(tiny)
    lst = co.list_namespaced_custom_object(KF, "v1", ns, "notebooks")
    nb = lst["items"][0]["metadata"]["name"]
    co.patch_namespaced_custom_object(KF, "v1", ns, "notebooks", nb, {"metadata": {"labels": {"touched": "yes"}}})
    w = watch.Watch()
    got = events(w, w.stream(co.list_namespaced_custom_object, KF, "v1", ns, "notebooks",
                             resource_version=lst["metadata"]["resourceVersion"], timeout_seconds=5), 1)
    assert got[0]["type"] == "MODIFIED"
    assert isinstance(got[0]["object"], dict)
    assert got[0]["object"]["metadata"]["name"] == nb
    assert got[0]["object"]["metadata"]["labels"]["touched"] == "yes"
    assert got[0]["object"]["apiVersion"] == f"{KF}/v1"
    # the same change, watched through another served version, speaks that version
    w = watch.Watch()
    got = events(w, w.stream(co.list_namespaced_custom_object, KF, "v1alpha1", ns, "notebooks",
                             resource_version=lst["metadata"]["resourceVersion"], timeout_seconds=5), 1)
    assert got[0]["type"] == "MODIFIED" and got[0]["object"]["apiVersion"] == f"{KF}/v1alpha1"


def test_watch_sees_changes_made_while_it_is_open(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    resp = core.list_namespaced_config_map(ns, watch=True, resource_version=rv, timeout_seconds=10,
                                           _preload_content=False)
    core.create_namespaced_config_map(ns, configmap("w-live"))
    got = lines_of(resp, 1)
    assert got[0]["type"] == "ADDED" and got[0]["object"]["metadata"]["name"] == "w-live"


@pytest.mark.parametrize("rv", [None, "0"])
def test_watch_without_rv_starts_with_synthetic_added(tiny, rv: str | None) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    current = sorted(cm.metadata.name for cm in core.list_namespaced_config_map(ns).items)
    kw = {} if rv is None else {"resource_version": rv}
    resp = core.list_namespaced_config_map(ns, watch=True, timeout_seconds=10, _preload_content=False, **kw)
    core.create_namespaced_config_map(ns, configmap("w-after"))
    got = lines_of(resp, len(current) + 1)
    initial = got[:len(current)]
    assert {e["type"] for e in initial} == {"ADDED"}
    assert sorted(e["object"]["metadata"]["name"] for e in initial) == current
    assert (got[-1]["type"], got[-1]["object"]["metadata"]["name"]) == ("ADDED", "w-after")


def test_watch_bookmarks(tiny) -> None:
    tiny.sim.api.bookmark_interval = 0.2
    core = tiny.core()
    ns = tenant(tiny)
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    w = watch.Watch()
    got = events(w, w.stream(core.list_namespaced_pod, ns, resource_version=rv, allow_watch_bookmarks=True,
                             timeout_seconds=5), 1)
    assert got and got[0]["type"] == "BOOKMARK"
    obj = got[0]["raw_object"]
    assert obj["kind"] == "Pod" and obj["apiVersion"] == "v1"
    assert set(obj["metadata"]) == {"resourceVersion"}
    assert w.resource_version == obj["metadata"]["resourceVersion"]
    # without allowWatchBookmarks there are none
    resp = core.list_namespaced_pod(ns, watch=True, resource_version=rv, timeout_seconds=1,
                                    _preload_content=False)
    assert lines_of(resp, 1) == []


def test_watch_deleted_carries_last_state(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    core.create_namespaced_config_map(ns, configmap("w-gone", data={"last": "state"}))
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.delete_namespaced_config_map("w-gone", ns)
    w = watch.Watch()
    got = events(w, w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5), 1)
    assert got[0]["type"] == "DELETED"
    assert got[0]["object"].metadata.name == "w-gone"
    assert got[0]["object"].data == {"last": "state"}
    assert int(got[0]["object"].metadata.resource_version) > int(rv)


def test_watch_too_old_rv_after_compaction(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    old = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, configmap("w-compact"))
    tiny.call(tiny.sim.engine.store.compact, None)
    resp = core.list_namespaced_config_map(ns, watch=True, resource_version=old, timeout_seconds=5,
                                           _preload_content=False)
    assert resp.status == 200
    got = lines_of(resp, 2)
    assert len(got) == 1, "the stream ends after the ERROR event"
    assert got[0]["type"] == "ERROR"
    st = got[0]["object"]
    assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] in ("Expired", "Gone")
    assert st["message"].startswith(f"too old resource version: {old}")
    with pytest.raises(ApiException) as err:
        list(watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version=old, timeout_seconds=5))
    assert err.value.status == 410
    # relisting gives a resourceVersion that can be watched again
    fresh = core.list_namespaced_config_map(ns).metadata.resource_version
    core.patch_namespaced_config_map("w-compact", ns, {"data": {"k": "again"}})
    w = watch.Watch()
    got = events(w, w.stream(core.list_namespaced_config_map, ns, resource_version=fresh, timeout_seconds=5), 1)
    assert got[0]["type"] == "MODIFIED"


def test_label_selected_watch_sees_object_leave_as_deleted(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    core.create_namespaced_config_map(ns, configmap("w-sel", labels={"team": "a"}))
    rv = core.list_namespaced_config_map(ns, label_selector="team=a").metadata.resource_version
    core.patch_namespaced_config_map("w-sel", ns, {"data": {"k": "still-in"}})
    core.patch_namespaced_config_map("w-sel", ns, {"metadata": {"labels": {"team": "b"}}})
    core.patch_namespaced_config_map("w-sel", ns, {"metadata": {"labels": {"team": "a"}}})
    w = watch.Watch()
    got = events(w, w.stream(core.list_namespaced_config_map, ns, label_selector="team=a", resource_version=rv,
                             timeout_seconds=5), 3)
    assert [e["type"] for e in got] == ["MODIFIED", "DELETED", "ADDED"]
    assert got[1]["object"].metadata.labels["team"] == "b"


def test_field_selected_watch_on_pods(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    core.create_namespaced_pod(ns, pod_body("w-pod"))
    tiny.advance(30)
    w = watch.Watch()
    got = events(w, w.stream(core.list_namespaced_pod, ns, field_selector="metadata.name=w-pod",
                             resource_version=rv, timeout_seconds=5),
                 50, stop=lambda e: e["object"].status.phase == "Running")
    assert got[0]["type"] == "ADDED"
    assert {e["object"].metadata.name for e in got} == {"w-pod"}
    assert got[-1]["object"].status.phase == "Running"


def test_single_object_watch_by_url(tiny) -> None:
    """The old form ``GET .../configmaps/NAME?watch=true`` watches that one object."""
    core = tiny.core()
    ns = tenant(tiny)
    core.create_namespaced_config_map(ns, configmap("one", data={"n": "0"}))
    core.create_namespaced_config_map(ns, configmap("other"))
    rv = core.read_namespaced_config_map("one", ns).metadata.resource_version
    core.patch_namespaced_config_map("other", ns, {"data": {"n": "x"}})
    core.patch_namespaced_config_map("one", ns, {"data": {"n": "1"}})
    status, data, _ = raw(tiny, "GET", f"/api/v1/namespaces/{ns}/configmaps/one",
                          query={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"})
    assert status == 200
    got = [json.loads(x) for x in data.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"], e["object"]["data"]) for e in got] == [
        ("MODIFIED", "one", {"n": "1"})]


def test_watch_ends_at_timeout_seconds(tiny) -> None:
    core = tiny.core()
    rv = core.list_node().metadata.resource_version
    w = watch.Watch()
    assert list(w.stream(core.list_node, resource_version=rv, timeout_seconds=1)) == []


def test_watch_with_bad_rv_is_400(tiny) -> None:
    with pytest.raises(ApiException) as err:
        list(watch.Watch().stream(tiny.core().list_node, resource_version="abc", timeout_seconds=1))
    assert err.value.status == 400


# ----------------------------------------------------------------------------- create / get / replace


def test_get_create_replace(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    made, code, _ = core.create_namespaced_config_map_with_http_info(ns, configmap("crud", data={"a": "1"}))
    assert code == 201
    assert made.metadata.uid and made.metadata.resource_version and made.metadata.namespace == ns
    got = core.read_namespaced_config_map("crud", ns)
    assert got.data == {"a": "1"} and got.metadata.resource_version == made.metadata.resource_version
    got.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("crud", ns, got)
    assert replaced.data == {"a": "2"}
    assert replaced.metadata.uid == made.metadata.uid
    assert int(replaced.metadata.resource_version) > int(made.metadata.resource_version)
    # replace with the old resourceVersion: Conflict
    got.data = {"a": "3"}
    st = fails(409, core.replace_namespaced_config_map, "crud", ns, got)
    assert st["reason"] == "Conflict"
    assert st["message"] == ('Operation cannot be fulfilled on configmaps "crud": the object has been modified; '
                             "please apply your changes to the latest version and try again")
    assert st["details"]["name"] == "crud" and st["details"]["kind"] == "configmaps"
    assert core.read_namespaced_config_map("crud", ns).data == {"a": "2"}


def test_replace_without_resource_version(tiny) -> None:
    """Built-in kinds take an unconditional update; custom resources require a resourceVersion."""
    core, co = tiny.core(), tiny.custom()
    ns = tenant(tiny)
    core.create_namespaced_config_map(ns, configmap("uncond", data={"a": "1"}))
    out = core.replace_namespaced_config_map("uncond", ns, configmap("uncond", data={"a": "2"}))
    assert out.data == {"a": "2"}
    nb = first_notebook(tiny, ns)
    name = nb["metadata"]["name"]
    del nb["metadata"]["resourceVersion"]
    st = fails(422, co.replace_namespaced_custom_object, KF, "v1", ns, "notebooks", name, nb)
    assert st["message"] == (f'Notebook.kubeflow.org "{name}" is invalid: metadata.resourceVersion: Invalid value: '
                             "0: must be specified for an update")
    # the object in the body must be the one on the URL
    st = fails(400, core.replace_namespaced_config_map, "uncond", ns, configmap("someone-else"))
    assert st["message"] == "the name of the object (someone-else) does not match the name on the URL (uncond)"


def test_create_existing_is_already_exists(tiny) -> None:
    core, co = tiny.core(), tiny.custom()
    ns = tenant(tiny)
    core.create_namespaced_config_map(ns, configmap("twice"))
    st = fails(409, core.create_namespaced_config_map, ns, configmap("twice"))
    assert st["reason"] == "AlreadyExists"
    assert st["message"] == 'configmaps "twice" already exists'
    nb = first_notebook(tiny, ns)["metadata"]["name"]
    st = fails(409, co.create_namespaced_custom_object, KF, "v1", ns, "notebooks", notebook_body(nb))
    assert st["reason"] == "AlreadyExists"
    assert st["message"] == f'notebooks.kubeflow.org "{nb}" already exists'
    assert st["details"]["group"] == KF and st["details"]["kind"] == "notebooks"


def test_create_with_bad_name_is_invalid(tiny) -> None:
    core, co = tiny.core(), tiny.custom()
    ns = tenant(tiny)
    st = fails(422, co.create_namespaced_custom_object, KF, "v1", ns, "notebooks", notebook_body("Bad_Name"))
    assert st["reason"] == "Invalid"
    assert st["message"].startswith('Notebook.kubeflow.org "Bad_Name" is invalid: metadata.name: Invalid value: '
                                    '"Bad_Name"')
    cause = st["details"]["causes"][0]
    assert cause["field"] == "metadata.name" and cause["reason"] == "FieldValueInvalid"
    assert st["details"]["kind"] == "Notebook" and st["details"]["group"] == KF
    st = fails(422, core.create_namespaced_config_map, ns, configmap("UPPER"))
    assert st["message"].startswith('ConfigMap "UPPER" is invalid: metadata.name: Invalid value: "UPPER"')
    fails(422, core.create_namespaced_config_map, ns, configmap("x" * 254))
    st = fails(422, core.create_namespaced_config_map, ns, {"metadata": {}, "data": {}})
    assert st["message"] == 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    made = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}, "data": {}})
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) > 4


def test_create_in_missing_namespace_is_404(tiny) -> None:
    core, co = tiny.core(), tiny.custom()
    st = fails(404, core.create_namespaced_config_map, "no-such-ns", configmap("orphan"))
    assert st["reason"] == "NotFound"
    assert st["message"] == 'namespaces "no-such-ns" not found'
    st = fails(404, co.create_namespaced_custom_object, KF, "v1", "no-such-ns", "notebooks", notebook_body("nb"))
    assert st["message"] == 'namespaces "no-such-ns" not found'


def test_create_custom_object_is_201_and_runs(tiny) -> None:
    co, core = tiny.custom(), tiny.core()
    ns = tenant(tiny)
    made, code, _ = co.create_namespaced_custom_object_with_http_info(KF, "v1", ns, "notebooks",
                                                                      notebook_body("fresh-nb"))
    assert code == 201 and made is not None
    assert made["metadata"]["uid"] and made["apiVersion"] == f"{KF}/v1"
    tiny.advance(60)
    nb = co.get_namespaced_custom_object(KF, "v1", ns, "notebooks", "fresh-nb")
    assert nb["status"]["readyReplicas"] == 1
    assert core.read_namespaced_pod("fresh-nb-0", ns).status.phase == "Running"
    # creating through another served version answers in that version
    made = co.create_namespaced_custom_object(KF, "v1beta1", ns, "notebooks", notebook_body("beta-nb"))
    assert made["apiVersion"] == f"{KF}/v1beta1"
    assert co.get_namespaced_custom_object(KF, "v1", ns, "notebooks", "beta-nb")["apiVersion"] == f"{KF}/v1"


def test_replace_custom_object_with_stale_rv_is_conflict(tiny) -> None:
    co = tiny.custom()
    ns = tenant(tiny)
    nb = first_notebook(tiny, ns)
    name = nb["metadata"]["name"]
    nb["metadata"].setdefault("labels", {})["x"] = "1"
    new = co.replace_namespaced_custom_object(KF, "v1", ns, "notebooks", name, nb)
    assert new["metadata"]["labels"]["x"] == "1"
    assert new["status"] == nb["status"], "status is not changed through the main resource"
    nb["metadata"]["labels"]["x"] = "2"
    st = fails(409, co.replace_namespaced_custom_object, KF, "v1", ns, "notebooks", name, nb)
    assert st["reason"] == "Conflict"
    assert st["message"].startswith(f'Operation cannot be fulfilled on notebooks.kubeflow.org "{name}"')


# ----------------------------------------------------------------------------- patch


def test_patch_configmap_three_ways(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    core.create_namespaced_config_map(ns, configmap("pt", labels={"a": "1", "b": "2"}, data={"x": "1"}))
    # dict body: strategic merge
    out = core.patch_namespaced_config_map("pt", ns, {"metadata": {"labels": {"b": None, "c": "3"}}})
    assert out.metadata.labels == {"a": "1", "c": "3"}
    # merge patch, forced
    out = core.patch_namespaced_config_map("pt", ns, {"data": {"y": "2"}}, _content_type=MERGE)
    assert out.data == {"x": "1", "y": "2"}
    # list body: JSON patch
    out = core.patch_namespaced_config_map("pt", ns, [{"op": "replace", "path": "/data/x", "value": "9"},
                                                      {"op": "remove", "path": "/data/y"}])
    assert out.data == {"x": "9"}
    st = fails(422, core.patch_namespaced_config_map, "pt", ns, [{"op": "test", "path": "/data/x", "value": "0"}])
    assert st["reason"] == "Invalid"
    assert core.read_namespaced_config_map("pt", ns).data == {"x": "9"}


def test_strategic_merge_on_pod_merges_containers_by_name(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    body = pod_body("smp", containers=[{"name": "a", "image": "busybox:1.36", "env": [{"name": "E", "value": "1"}]},
                                       {"name": "b", "image": "busybox:1.36"}])
    core.create_namespaced_pod(ns, body)
    out = core.patch_namespaced_pod("smp", ns, {"spec": {"containers": [{"name": "b", "image": "busybox:1.37"}]}})
    imgs = {ctr.name: ctr.image for ctr in out.spec.containers}
    assert imgs == {"a": "busybox:1.36", "b": "busybox:1.37"}
    assert out.spec.containers[0].env[0].name == "E"
    # a merge patch replaces lists whole: here that changes more than the image, which pods refuse
    st = fails(422, core.patch_namespaced_pod, "smp", ns,
               {"spec": {"containers": [{"name": "a", "image": "busybox:1.38"}]}}, _content_type=MERGE)
    assert st["reason"] == "Invalid"
    out = core.patch_namespaced_pod("smp", ns, {"metadata": {"annotations": {"note": "hi"}}}, _content_type=MERGE)
    assert out.metadata.annotations["note"] == "hi"
    out = core.patch_namespaced_pod("smp", ns, [{"op": "add", "path": "/metadata/labels/extra", "value": "y"}])
    assert out.metadata.labels["extra"] == "y"


def test_strategic_merge_on_custom_object_is_415(tiny) -> None:
    co = tiny.custom()
    ns = tenant(tiny)
    name = first_notebook(tiny, ns)["metadata"]["name"]
    st = fails(415, co.patch_namespaced_custom_object, KF, "v1", ns, "notebooks", name,
               {"metadata": {"labels": {"x": "y"}}}, _content_type=STRATEGIC)
    assert st["reason"] == "UnsupportedMediaType"
    out = co.patch_namespaced_custom_object(KF, "v1", ns, "notebooks", name,
                                            [{"op": "add", "path": "/metadata/labels/jp", "value": "ok"}],
                                            _content_type=JSONPATCH)
    assert out["metadata"]["labels"]["jp"] == "ok"


def test_stop_and_start_notebook_with_merge_patch(tiny) -> None:
    co, core = tiny.custom(), tiny.core()
    ns = tenant(tiny)
    running = [nb for nb in co.list_namespaced_custom_object(KF, "v1", ns, "notebooks")["items"]
               if nb["status"]["readyReplicas"] == 1]
    assert running
    name = running[0]["metadata"]["name"]
    stamp = "2026-11-29T10:00:00Z"
    out = co.patch_namespaced_custom_object(KF, "v1", ns, "notebooks", name,
                                            {"metadata": {"annotations": {STOP: stamp}}})
    assert out["metadata"]["annotations"][STOP] == stamp
    tiny.advance(60)
    nb = co.get_namespaced_custom_object(KF, "v1", ns, "notebooks", name)
    assert nb["status"]["readyReplicas"] == 0
    fails(404, core.read_namespaced_pod, f"{name}-0", ns)
    out = co.patch_namespaced_custom_object(KF, "v1", ns, "notebooks", name,
                                            {"metadata": {"annotations": {STOP: None}}})
    assert STOP not in (out["metadata"].get("annotations") or {})
    tiny.advance(120)
    nb = co.get_namespaced_custom_object(KF, "v1", ns, "notebooks", name)
    assert nb["status"]["readyReplicas"] == 1
    assert "running" in nb["status"]["containerState"]
    assert core.read_namespaced_pod(f"{name}-0", ns).status.phase == "Running"


def test_group_admin_may_stop_its_notebooks(tiny) -> None:
    ns = tenant(tiny)
    name = first_notebook(tiny, ns)["metadata"]["name"]
    out = tiny.custom("group-admin").patch_namespaced_custom_object(
        KF, "v1", ns, "notebooks", name, {"metadata": {"annotations": {STOP: "2026-11-29T10:00:00Z"}}})
    assert STOP in out["metadata"]["annotations"]


def test_seldon_scale_subresource(tiny) -> None:
    co, core = tiny.custom(), tiny.core()
    sdeps = co.list_cluster_custom_object(SELDON, "v1", "seldondeployments")["items"]
    sd = max(sdeps, key=lambda o: o["status"].get("replicas", 0))
    name, ns = sd["metadata"]["name"], sd["metadata"]["namespace"]
    sel = f"seldon-deployment-id={name}"

    def live_pods() -> int:
        return sum(1 for p in core.list_namespaced_pod(ns, label_selector=sel).items
                   if not p.metadata.deletion_timestamp)

    scale = co.get_namespaced_custom_object_scale(SELDON, "v1", ns, "seldondeployments", name)
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["metadata"]["name"] == name and scale["metadata"]["namespace"] == ns
    before = scale["spec"]["replicas"]
    assert isinstance(before, int) and before >= 1 and isinstance(scale["status"]["replicas"], int)
    assert scale["status"]["selector"] == sel
    assert live_pods() == before
    # down to one (merge patch of the Scale) ...
    out = co.patch_namespaced_custom_object_scale(SELDON, "v1", ns, "seldondeployments", name,
                                                  {"spec": {"replicas": 1}})
    assert out["kind"] == "Scale" and out["spec"]["replicas"] == 1
    assert co.get_namespaced_custom_object(SELDON, "v1", ns, "seldondeployments", name)["spec"]["replicas"] == 1
    tiny.advance(60)
    assert live_pods() == 1
    # ... and back up (PUT of the Scale): the room freed above is there for the new pods
    target = max(before, 2)
    scale = co.get_namespaced_custom_object_scale(SELDON, "v1", ns, "seldondeployments", name)
    scale["spec"]["replicas"] = target
    out = co.replace_namespaced_custom_object_scale(SELDON, "v1", ns, "seldondeployments", name, scale)
    assert out["spec"]["replicas"] == target
    st = fails(409, co.replace_namespaced_custom_object_scale, SELDON, "v1", ns, "seldondeployments", name, scale)
    assert st["reason"] == "Conflict"
    tiny.advance(120)
    assert live_pods() == target
    st = fails(422, co.patch_namespaced_custom_object_scale, SELDON, "v1", ns, "seldondeployments", name,
               {"spec": {"replicas": -1}})
    assert st["reason"] == "Invalid"


def test_group_admin_may_scale_in_its_namespaces_only(small) -> None:
    co = small.custom("group-admin")
    owned = set(ga_namespaces(small))
    sdeps = small.custom().list_cluster_custom_object(SELDON, "v1", "seldondeployments")["items"]
    outside = next(s for s in sdeps if s["metadata"]["namespace"] not in owned)
    md = outside["metadata"]
    st = fails(403, co.patch_namespaced_custom_object_scale, SELDON, "v1", md["namespace"], "seldondeployments",
               md["name"], {"spec": {"replicas": 5}})
    assert st["message"] == (f'seldondeployments.{SELDON} "{md["name"]}" is forbidden: User "lihua" cannot patch '
                             f'resource "seldondeployments/scale" in API group "{SELDON}" in the namespace '
                             f'"{md["namespace"]}"')


# ----------------------------------------------------------------------------- delete


def test_graceful_pod_delete(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    p = create_running_pod(tiny, ns, "del-me")
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    out, code, _ = core.delete_namespaced_pod_with_http_info("del-me", ns)
    assert code == 200
    assert isinstance(out, client.V1Pod)
    assert out.metadata.deletion_timestamp is not None
    assert out.metadata.deletion_grace_period_seconds == 30
    still = core.read_namespaced_pod("del-me", ns)
    assert still.metadata.deletion_timestamp is not None
    assert "del-me" in {x.metadata.name for x in core.list_namespaced_pod(ns).items}
    tiny.advance(40)
    fails(404, core.read_namespaced_pod, "del-me", ns)
    assert "del-me" not in {x.metadata.name for x in core.list_namespaced_pod(ns).items}
    w = watch.Watch()
    got = events(w, w.stream(core.list_namespaced_pod, ns, field_selector="metadata.name=del-me",
                             resource_version=rv, timeout_seconds=5), 20, stop=lambda e: e["type"] == "DELETED")
    assert got[-1]["type"] == "DELETED"
    assert got[-1]["object"].metadata.uid == p.metadata.uid
    assert got[-1]["object"].metadata.deletion_timestamp is not None


def test_pod_delete_with_zero_grace_is_immediate(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    create_running_pod(tiny, ns, "del-now")
    out = core.delete_namespaced_pod("del-now", ns, grace_period_seconds=0)
    assert isinstance(out, client.V1Pod) and out.metadata.name == "del-now"
    fails(404, core.read_namespaced_pod, "del-now", ns)


def test_custom_object_delete_returns_status(tiny) -> None:
    co = tiny.custom()
    ns = tenant(tiny)
    nb = first_notebook(tiny, ns)
    name = nb["metadata"]["name"]
    out = co.delete_namespaced_custom_object(KF, "v1", ns, "notebooks", name)
    assert out["kind"] == "Status" and out["status"] == "Success"
    assert out["details"] == {"name": name, "group": KF, "kind": "notebooks", "uid": nb["metadata"]["uid"]}
    st = fails(404, co.get_namespaced_custom_object, KF, "v1", ns, "notebooks", name)
    assert st["message"] == f'notebooks.kubeflow.org "{name}" not found'


def test_configmap_delete_returns_status(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    made = core.create_namespaced_config_map(ns, configmap("del-cm"))
    out = core.delete_namespaced_config_map("del-cm", ns)  # 37 gives deletes like this one a plain dict
    assert out["kind"] == "Status" and out["status"] == "Success"
    assert out["details"] == {"name": "del-cm", "kind": "configmaps", "uid": made.metadata.uid}
    fails(404, core.read_namespaced_config_map, "del-cm", ns)


def test_delete_missing_is_404(tiny) -> None:
    st = fails(404, tiny.core().delete_namespaced_pod, "nope", tenant(tiny))
    assert st["message"] == 'pods "nope" not found' and st["details"] == {"name": "nope", "kind": "pods"}
    st = fails(404, tiny.custom().delete_namespaced_custom_object, KF, "v1", tenant(tiny), "notebooks", "nope")
    assert st["message"] == 'notebooks.kubeflow.org "nope" not found'


def test_foreground_delete_of_notebook(tiny) -> None:
    co = tiny.custom()
    ns = tenant(tiny)
    name = first_notebook(tiny, ns)["metadata"]["name"]
    out = co.delete_namespaced_custom_object(KF, "v1", ns, "notebooks", name, propagation_policy="Foreground")
    assert out["metadata"]["name"] == name and out["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in out["metadata"]["finalizers"]
    tiny.advance(30)
    fails(404, co.get_namespaced_custom_object, KF, "v1", ns, "notebooks", name)


# ----------------------------------------------------------------------------- errors


def test_bad_token_is_401(tiny) -> None:
    api = config.new_client_from_config(config_file=str(tiny.kubeconfig), context="sim-admin")
    try:
        api.configuration.refresh_api_key_hook = None  # else the kubeconfig token comes back
        api.configuration.api_key = {"BearerToken": "Bearer not-a-real-token"}
        st = fails(401, client.CoreV1Api(api).list_namespace)
        assert st["reason"] == "Unauthorized" and st["message"] == "Unauthorized"
        api.configuration.api_key = {}
        fails(401, client.CoreV1Api(api).list_namespace)
    finally:
        api.close()


def test_viewer_is_forbidden_to_change(small) -> None:
    ns = tenant(small)
    core, co = small.core("viewer"), small.custom("viewer")
    st = fails(403, core.create_namespaced_config_map, ns, configmap("nope"))
    assert st["reason"] == "Forbidden"
    assert st["message"] == (f'configmaps is forbidden: User "opsview" cannot create resource "configmaps" in API '
                             f'group "" in the namespace "{ns}"')
    pod = small.core().list_namespaced_pod(ns, limit=1).items[0].metadata.name
    st = fails(403, core.delete_namespaced_pod, pod, ns)
    assert st["message"] == (f'pods "{pod}" is forbidden: User "opsview" cannot delete resource "pods" in API '
                             f'group "" in the namespace "{ns}"')
    nb = first_notebook(small, ns)["metadata"]["name"]
    st = fails(403, co.delete_namespaced_custom_object, KF, "v1", ns, "notebooks", nb)
    assert st["message"] == (f'notebooks.kubeflow.org "{nb}" is forbidden: User "opsview" cannot delete resource '
                             f'"notebooks" in API group "kubeflow.org" in the namespace "{ns}"')
    st = fails(403, co.patch_namespaced_custom_object, KF, "v1", ns, "notebooks", nb,
               {"metadata": {"annotations": {STOP: "2026-11-29T10:00:00Z"}}})
    assert st["details"]["name"] == nb and st["details"]["group"] == KF and st["details"]["kind"] == "notebooks"
    assert small.core().read_namespaced_pod(pod, ns).metadata.deletion_timestamp is None


def test_group_admin_is_forbidden_outside_its_namespaces(small) -> None:
    owned = set(ga_namespaces(small))
    other = next(t.name for t in small.sim.world.tenants if t.name not in owned)
    co, core, batch = small.custom("group-admin"), small.core("group-admin"), small.batch("group-admin")
    st = fails(403, co.create_namespaced_custom_object, KF, "v1", other, "notebooks", notebook_body("mine"))
    assert st["message"] == (f'notebooks.kubeflow.org is forbidden: User "lihua" cannot create resource '
                             f'"notebooks" in API group "kubeflow.org" in the namespace "{other}"')
    st = fails(403, batch.delete_namespaced_job, "x", other)
    assert st["message"] == (f'jobs.batch "x" is forbidden: User "lihua" cannot delete resource "jobs" in API '
                             f'group "batch" in the namespace "{other}"')
    # pods are never the group admin's to delete, even in its own namespaces
    mine = next(iter(owned))
    pod = small.core().list_namespaced_pod(mine, limit=1).items[0].metadata.name
    st = fails(403, core.delete_namespaced_pod, pod, mine)
    assert st["message"].startswith(f'pods "{pod}" is forbidden: User "lihua" cannot delete resource "pods"')
    # cluster-scoped writes
    st = fails(403, core.delete_node, small.core().list_node(limit=1).items[0].metadata.name)
    assert st["message"].endswith("at the cluster scope")


def test_not_found_messages(small) -> None:
    ns = tenant(small)
    st = fails(404, small.core().read_namespaced_pod, "x", ns)
    assert st["reason"] == "NotFound" and st["message"] == 'pods "x" not found'
    assert st["details"] == {"name": "x", "kind": "pods"}
    st = fails(404, small.custom().get_namespaced_custom_object, KF, "v1", ns, "notebooks", "x")
    assert st["message"] == 'notebooks.kubeflow.org "x" not found'
    assert st["details"] == {"name": "x", "group": KF, "kind": "notebooks"}
    st = fails(404, small.batch().read_namespaced_job, "x", ns)
    assert st["message"] == 'jobs.batch "x" not found'
    st = fails(404, small.core().read_node, "x")
    assert st["message"] == 'nodes "x" not found'


def test_quota_rejects_too_many_gpus(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    q = core.read_namespaced_resource_quota("mlss-default-rq", ns)
    hard = int(q.status.hard["requests.nvidia.com/gpu"])
    used = int(q.status.used["requests.nvidia.com/gpu"])
    want = hard - used + 1
    st = fails(403, core.create_namespaced_pod, ns, pod_body("greedy", gpus=want))
    assert st["reason"] == "Forbidden"
    assert st["message"] == (f'pods "greedy" is forbidden: exceeded quota: mlss-default-rq, requested: '
                             f"requests.nvidia.com/gpu={want}, used: requests.nvidia.com/gpu={used}, limited: "
                             f"requests.nvidia.com/gpu={hard}")
    fails(404, core.read_namespaced_pod, "greedy", ns)
    # within the quota it is admitted, and counted
    if hard - used >= 1:
        core.create_namespaced_pod(ns, pod_body("modest", gpus=1))
        tiny.advance(5)
        q = core.read_namespaced_resource_quota("mlss-default-rq", ns)
        assert int(q.status.used["requests.nvidia.com/gpu"]) == used + 1


def test_unknown_resource_is_404(small) -> None:
    status, data, _ = raw(small, "GET", "/apis/kubeflow.org/v1/namespaces/x/widgets")
    assert status == 404 and json.loads(data)["reason"] == "NotFound"


# ----------------------------------------------------------------------------- pods/log


def test_log_tail_since_and_timestamps(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    p = running_pod(tiny, ns)
    name = p.metadata.name
    whole = core.read_namespaced_pod_log(name, ns)
    assert isinstance(whole, str) and whole.endswith("\n")
    all_lines = log_lines(whole)
    assert len(all_lines) >= 5
    tail = core.read_namespaced_pod_log(name, ns, tail_lines=3)
    assert log_lines(tail) == all_lines[-3:]
    assert core.read_namespaced_pod_log(name, ns, tail_lines=0) == ""
    stamped = log_lines(core.read_namespaced_pod_log(name, ns, timestamps=True, tail_lines=5))
    assert len(stamped) == 5
    now = datetime.fromtimestamp(tiny.sim.engine.now(), timezone.utc)
    for line, plain in zip(stamped, all_lines[-5:]):
        assert RFC3339_NANO.match(line), line
        ts, _, text = line.partition(" ")
        assert text == plain
        when = datetime.strptime(ts[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert when <= now
    recent = log_lines(core.read_namespaced_pod_log(name, ns, since_seconds=60, timestamps=True))
    assert len(recent) <= len(all_lines)
    for line in recent:
        when = datetime.strptime(line[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert (now - when).total_seconds() <= 60.001
    limited = core.read_namespaced_pod_log(name, ns, limit_bytes=10, _preload_content=False)
    assert limited.data == whole.encode()[:10]


def test_log_needs_a_container_for_two_container_pods(tiny) -> None:
    core = tiny.core()
    sd = tiny.custom().list_cluster_custom_object(SELDON, "v1", "seldondeployments")["items"][0]
    ns = sd["metadata"]["namespace"]
    pods = core.list_namespaced_pod(ns, label_selector=f"seldon-deployment-id={sd['metadata']['name']}",
                                    field_selector="status.phase=Running").items
    assert pods
    p = pods[0]
    names = [ctr.name for ctr in p.spec.containers]
    assert len(names) == 2
    st = fails(400, core.read_namespaced_pod_log, p.metadata.name, ns)
    assert st["reason"] == "BadRequest"
    assert st["message"] == (f"a container name must be specified for pod {p.metadata.name}, choose one of: "
                             f"[{' '.join(names)}]")
    for cname in names:
        assert isinstance(core.read_namespaced_pod_log(p.metadata.name, ns, container=cname, tail_lines=2), str)
    st = fails(400, core.read_namespaced_pod_log, p.metadata.name, ns, container="nope")
    assert "nope" in st["message"]


def test_log_errors(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    p = running_pod(tiny, ns)
    cname = p.spec.containers[0].name
    restarts = p.status.container_statuses[0].restart_count
    if restarts == 0:
        st = fails(400, core.read_namespaced_pod_log, p.metadata.name, ns, previous=True)
        assert st["message"] == f'previous terminated container "{cname}" in pod "{p.metadata.name}" not found'
    st = fails(404, core.read_namespaced_pod_log, "no-such-pod", ns)
    assert st["message"] == 'pods "no-such-pod" not found'
    # a container that has not started yet
    core.create_namespaced_pod(ns, pod_body("slow-start"))
    tiny.advance(0.5)
    fresh = core.read_namespaced_pod("slow-start", ns)
    assert fresh.spec.node_name, "the pod is scheduled at once"
    waiting = fresh.status.container_statuses[0].state.waiting
    assert waiting is not None
    st = fails(400, core.read_namespaced_pod_log, "slow-start", ns)
    assert st["message"] == f'container "main" in pod "slow-start" is waiting to start: {waiting.reason}'


def test_log_of_a_container_that_cannot_pull_its_image(tiny) -> None:
    co, core = tiny.custom(), tiny.core()
    ns = tenant(tiny)
    body = notebook_body("no-image")
    body["metadata"]["annotations"] = {"sim.prophecis.io/plan": "pullfail"}
    co.create_namespaced_custom_object(KF, "v1", ns, "notebooks", body)
    msgs = {}
    for _ in range(12):
        tiny.advance(5)
        try:
            pod = core.read_namespaced_pod("no-image-0", ns)
        except ApiException:
            continue
        waiting = (pod.status.container_statuses or [None])[0]
        waiting = waiting.state.waiting if waiting and waiting.state else None
        if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
            st = fails(400, core.read_namespaced_pod_log, "no-image-0", ns)
            msgs[waiting.reason] = st["message"]
    prefix = 'container "notebook-container" in pod "no-image-0" is waiting to start: '
    assert msgs.get("ErrImagePull") == prefix + "image can't be pulled"
    assert msgs.get("ImagePullBackOff") == prefix + "trying and failing to pull image"
    nb = co.get_namespaced_custom_object(KF, "v1", ns, "notebooks", "no-image")
    assert nb["status"]["readyReplicas"] == 0
    assert nb["status"]["containerState"]["waiting"]["reason"] == "ImagePullBackOff"


def test_log_of_an_unscheduled_pod_is_empty(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    body = pod_body("nowhere")
    body["spec"]["nodeSelector"] = {"no-such-node-label": "x"}
    core.create_namespaced_pod(ns, body)
    tiny.advance(5)
    p = core.read_namespaced_pod("nowhere", ns)
    assert p.status.phase == "Pending" and not p.spec.node_name
    assert core.read_namespaced_pod_log("nowhere", ns) == ""
    resp = core.read_namespaced_pod_log("nowhere", ns, follow=True, _preload_content=False, _request_timeout=10)
    assert resp.status == 200 and resp.data == b""


def test_previous_log_after_a_restart(tiny) -> None:
    co, core = tiny.custom(), tiny.core()
    ns = tenant(tiny)
    body = notebook_body("crashy")
    body["metadata"]["annotations"] = {"sim.prophecis.io/plan": "crash"}
    co.create_namespaced_custom_object(KF, "v1", ns, "notebooks", body)
    seen = set()
    for _ in range(60):
        tiny.advance(2)
        pod = core.read_namespaced_pod("crashy-0", ns)
        cs = (pod.status.container_statuses or [None])[0]
        if cs is None or not cs.restart_count:
            continue
        prev = core.read_namespaced_pod_log("crashy-0", ns, previous=True, timestamps=True)
        assert prev.endswith("\n")
        assert cs.last_state.terminated is not None
        if cs.state.running:
            seen.add("running")
            now = core.read_namespaced_pod_log("crashy-0", ns, timestamps=True)
            if now:  # the current run started after the previous one ended
                assert log_lines(prev)[-1][:30] <= log_lines(now)[0][:30]
        elif cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff":
            seen.add("backoff")
            # waiting to restart: the kubelet shows the last terminated run, with or without previous
            assert core.read_namespaced_pod_log("crashy-0", ns, timestamps=True) == prev
        if seen == {"running", "backoff"}:
            break
    assert seen == {"running", "backoff"}


def test_log_follow_streams_new_lines(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    p = create_running_pod(tiny, ns, "chatty")
    resp = core.read_namespaced_pod_log(p.metadata.name, ns, follow=True, timestamps=True, tail_lines=2,
                                        _preload_content=False, _request_timeout=20)
    try:
        chunks = resp.stream(65536)
        first = log_lines(next(chunks).decode())
        assert len(first) == 2 and all(RFC3339_NANO.match(x) for x in first)
        last_seen = first[-1].split(" ", 1)[0]
        got: list[str] = []
        for _ in range(5):  # a bounded number of reads
            tiny.advance(30)
            got += log_lines(next(chunks).decode())
            if got:
                break
        assert got, "no new lines after the clock moved"
        assert all(RFC3339_NANO.match(x) for x in got)
        assert all(x.split(" ", 1)[0] >= last_seen for x in got)
        now = datetime.fromtimestamp(tiny.sim.engine.now(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        assert got[-1][:19] <= now
    finally:
        resp.close()
        resp.release_conn()


def test_log_follow_with_watch_stream_ends_when_pod_goes(tiny) -> None:
    core = tiny.core()
    ns = tenant(tiny)
    create_running_pod(tiny, ns, "short")
    core.delete_namespaced_pod("short", ns, grace_period_seconds=0)
    st = fails(404, core.read_namespaced_pod_log, "short", ns)
    assert st["message"] == 'pods "short" not found'


# ----------------------------------------------------------------------------- RBAC probes


def ssar(c, role: str, verb: str, group: str, resource: str, ns: str | None, sub: str = "") -> bool:
    attrs = {"verb": verb, "group": group, "resource": resource, "subresource": sub}
    if ns:
        attrs["namespace"] = ns
    out = client.AuthorizationV1Api(c.api(role)).create_self_subject_access_review(
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
         "spec": {"resourceAttributes": attrs}})
    assert isinstance(out, client.V1SelfSubjectAccessReview)
    assert out.spec.resource_attributes.verb == verb
    return out.status.allowed


def test_self_subject_access_review(small) -> None:
    mine = tenant(small)
    other = next(t.name for t in small.sim.world.tenants if t.name not in ga_namespaces(small))
    cases = [
        # role, verb, group, resource, namespace, subresource, allowed
        ("admin", "delete", "", "pods", other, "", True),
        ("admin", "create", KF, "notebooks", None, "", True),
        ("viewer", "list", "", "pods", other, "", True),
        ("viewer", "get", "", "pods", other, "log", True),
        ("viewer", "delete", KF, "notebooks", mine, "", False),
        ("viewer", "patch", SELDON, "seldondeployments", mine, "scale", False),
        ("group-admin", "patch", KF, "notebooks", mine, "", True),
        ("group-admin", "delete", "batch", "jobs", mine, "", True),
        ("group-admin", "patch", SELDON, "seldondeployments", mine, "scale", True),
        ("group-admin", "patch", KF, "notebooks", other, "", False),
        ("group-admin", "create", KF, "tfjobs", other, "", False),
        ("group-admin", "delete", "", "pods", mine, "", False),
        ("group-admin", "list", "", "nodes", None, "", True),
        ("group-admin", "list", "", "namespaces", None, "", True),
        ("group-admin", "delete", "", "nodes", None, "", False),
    ]
    for role, verb, group, resource, ns, sub, allowed in cases:
        assert ssar(small, role, verb, group, resource, ns, sub) is allowed, (role, verb, resource, ns, sub)


def test_ssar_agrees_with_the_server(small) -> None:
    """What SSAR says is what the same request gets."""
    other = next(t.name for t in small.sim.world.tenants if t.name not in ga_namespaces(small))
    assert ssar(small, "group-admin", "create", KF, "notebooks", other) is False
    fails(403, small.custom("group-admin").create_namespaced_custom_object, KF, "v1", other, "notebooks",
          notebook_body("probe"))
    assert ssar(small, "viewer", "list", "", "pods", other) is True
    assert small.core("viewer").list_namespaced_pod(other).items


@pytest.mark.parametrize("role", ["admin", "group-admin", "viewer"])
def test_self_subject_rules_review(small, role: str) -> None:
    ns = tenant(small)
    api = client.AuthorizationV1Api(small.api(role))
    out = api.create_self_subject_rules_review({"apiVersion": "authorization.k8s.io/v1",
                                                "kind": "SelfSubjectRulesReview", "spec": {"namespace": ns}})
    assert isinstance(out, client.V1SelfSubjectRulesReview)
    st = out.status
    assert isinstance(st.resource_rules, list) and st.resource_rules
    assert isinstance(st.non_resource_rules, list)
    assert st.incomplete is False
    for r in st.resource_rules:
        assert r.verbs
    rules = [(set(r.verbs), set(r.api_groups or []), set(r.resources or [])) for r in st.resource_rules]
    if role == "admin":
        assert any({"*"} <= v and {"*"} <= g and {"*"} <= res for v, g, res in rules)
    elif role == "viewer":
        assert not any(v & {"create", "delete", "patch", "update", "*"} and "pods" in res for v, g, res in rules)
        assert any("pods/log" in res and "get" in v for v, g, res in rules)
    else:
        assert any("patch" in v and KF in g and "notebooks" in res for v, g, res in rules)
    # a namespace is required
    fails(400, api.create_self_subject_rules_review, {"spec": {}})


def test_rules_review_outside_group_admin_namespaces(small) -> None:
    other = next(t.name for t in small.sim.world.tenants if t.name not in ga_namespaces(small))
    out = client.AuthorizationV1Api(small.api("group-admin")).create_self_subject_rules_review(
        {"spec": {"namespace": other}})
    assert not any("notebooks" in (r.resources or []) and "patch" in r.verbs for r in out.status.resource_rules)


# ----------------------------------------------------------------------------- Table


def test_pod_table(small) -> None:
    ns = tenant(small)
    resp = small.core().list_namespaced_pod(ns, _preload_content=False, _headers={"Accept": TABLE})
    assert resp.status == 200
    table = json.loads(resp.data)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    cols = [c["name"] for c in table["columnDefinitions"]]
    assert cols[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    pods = small.core().list_namespaced_pod(ns).items
    assert len(table["rows"]) == len(pods)
    by_name = {p.metadata.name: p for p in pods}
    for row in table["rows"]:
        name, ready, status, restarts, age = row["cells"][:5]
        p = by_name[name]
        assert ready == f"{sum(1 for cs in p.status.container_statuses or [] if cs.ready)}/{len(p.spec.containers)}"
        assert status
        assert restarts.split(" ")[0] == str(sum(cs.restart_count for cs in p.status.container_statuses or []))
        assert re.fullmatch(r"\d+[smhdy](\d+[smh])?", age), age
        assert row["object"]["metadata"]["name"] == name
    running = [r for r in table["rows"] if by_name[r["cells"][0]].status.phase == "Running"
               and all(cs.ready for cs in by_name[r["cells"][0]].status.container_statuses)]
    assert running and all(r["cells"][2] == "Running" for r in running)
    status, data, _ = raw(small, "GET", f"/api/v1/namespaces/{ns}/pods/{pods[0].metadata.name}",
                          headers={"Accept": TABLE})
    one = json.loads(data)
    assert status == 200 and one["kind"] == "Table" and len(one["rows"]) == 1
    # paging works on tables too
    page = json.loads(small.core().list_namespaced_pod(ns, limit=1, _preload_content=False,
                                                       _headers={"Accept": TABLE}).data)
    assert len(page["rows"]) == 1 and page["metadata"].get("continue")

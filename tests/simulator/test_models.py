"""What the simulator serves deserialises into the official client's models, and has the shapes
of wire-protocols sections 1.14-1.16 and 2 (Kubeflow, training-operator, Seldon, Prophecis labels).

Everything here reads the shared, frozen ``small`` cluster and changes nothing.
"""

from __future__ import annotations

import json
import re

import pytest
from kubernetes import client

KF = "kubeflow.org"
SELDON = "machinelearning.seldon.io"
TRAINING = {  # plural -> (kind, replica-spec key, operator name, replica types)
    "tfjobs": ("TFJob", "tfReplicaSpecs", "tfjob-controller", {"Chief", "Master", "PS", "Worker", "Evaluator"}),
    "pytorchjobs": ("PyTorchJob", "pytorchReplicaSpecs", "pytorchjob-controller", {"Master", "Worker"}),
    "xgboostjobs": ("XGBoostJob", "xgbReplicaSpecs", "xgboostjob-controller", {"Master", "Worker"}),
}
JOB_CONDITIONS = {"Created", "Running", "Restarting", "Succeeded", "Suspended", "Failed"}
JOB_REASON_SUFFIXES = ("Created", "Running", "Restarting", "Succeeded", "Suspended", "Failed", "Resumed",
                       "FailedValidation")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$")
RFC3339_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def tenant_namespaces(c) -> list[str]:
    return sorted(t.name for t in c.sim.world.tenants)


def raw_list(c, path: str) -> dict:
    """The list as JSON, through the client's own transport (no model in between)."""
    resp = c.api().call_api(*c.api().param_serialize("GET", path, auth_settings=["BearerToken"]))
    resp.read()
    assert resp.status == 200
    return json.loads(resp.data)


def assert_rv(obj_meta) -> None:
    assert isinstance(obj_meta.resource_version, str) and obj_meta.resource_version.isdigit()


def assert_quantities(mapping: dict | None) -> None:
    for k, v in (mapping or {}).items():
        assert isinstance(v, str), (k, v)
        assert QUANTITY.match(v), (k, v)


# ----------------------------------------------------------------------------- core lists


CORE_LISTS = [
    # (cluster-wide method, namespaced method or None, list model)
    ("list_pod_for_all_namespaces", "list_namespaced_pod", client.V1PodList),
    ("list_node", None, client.V1NodeList),
    ("list_event_for_all_namespaces", "list_namespaced_event", client.CoreV1EventList),
    ("list_resource_quota_for_all_namespaces", "list_namespaced_resource_quota", client.V1ResourceQuotaList),
    ("list_namespace", None, client.V1NamespaceList),
    ("list_service_for_all_namespaces", "list_namespaced_service", client.V1ServiceList),
    ("list_config_map_for_all_namespaces", "list_namespaced_config_map", client.V1ConfigMapList),
]


@pytest.mark.parametrize(("everywhere", "namespaced", "model"), CORE_LISTS, ids=[m[0] for m in CORE_LISTS])
def test_core_lists_deserialise(small, everywhere: str, namespaced: str | None, model) -> None:
    core = small.core()
    whole = getattr(core, everywhere)()
    assert isinstance(whole, model)
    assert whole.items, f"{everywhere} is empty"
    assert_rv(whole.metadata)
    for item in whole.items:
        assert_rv(item.metadata)
        assert item.metadata.uid and item.metadata.creation_timestamp is not None
    if namespaced is None:
        return
    total = 0
    for ns in tenant_namespaces(small) + ["kube-system", "prophecis"]:
        part = getattr(core, namespaced)(ns)
        assert isinstance(part, model)
        assert isinstance(part.items, list)
        assert all(i.metadata.namespace == ns for i in part.items)
        total += len(part.items)
    assert 0 < total <= len(whole.items)


@pytest.mark.parametrize("role", ["admin", "group-admin", "viewer"])
def test_every_role_can_read_lists(small, role: str) -> None:
    core = small.core(role)
    assert core.list_node().items
    assert core.list_namespace().items
    ns = small.sim.identity("group-admin").namespaces[0]
    assert core.list_namespaced_pod(ns).items
    assert isinstance(core.list_namespaced_event(ns), client.CoreV1EventList)
    assert isinstance(small.batch(role).list_namespaced_job(ns), client.V1JobList)
    assert small.custom(role).list_namespaced_custom_object(KF, "v1", ns, "notebooks")["items"]
    if role != "group-admin":
        assert core.list_pod_for_all_namespaces().items
        assert isinstance(small.batch(role).list_job_for_all_namespaces(), client.V1JobList)


def test_batch_jobs_deserialise_with_prophecis_labels(small) -> None:
    batch = small.batch()
    jobs = batch.list_job_for_all_namespaces()
    assert isinstance(jobs, client.V1JobList)
    assert jobs.items, "the small cluster has Prophecis single-learner batch jobs"
    for j in jobs.items:
        assert_rv(j.metadata)
        labels = j.metadata.labels or {}
        assert labels.get("jobType") == "single"
        assert labels.get("training_id") == j.metadata.name
        assert j.spec.template.spec.containers
        ns_jobs = batch.list_namespaced_job(j.metadata.namespace)
        assert j.metadata.name in {x.metadata.name for x in ns_jobs.items}
        one = batch.read_namespaced_job(j.metadata.name, j.metadata.namespace)
        assert isinstance(one, client.V1Job)
        assert one.metadata.uid == j.metadata.uid


def test_pod_required_fields(small) -> None:
    pods = small.core().list_pod_for_all_namespaces().items
    phases = {p.status.phase for p in pods}
    assert {"Running", "Pending"} <= phases
    started = 0
    for p in pods:
        assert p.spec.containers and all(ctr.name and ctr.image for ctr in p.spec.containers)
        for ctr in p.spec.containers:
            for port in ctr.ports or []:
                assert isinstance(port.container_port, int)
            for env in ctr.env or []:
                assert env.name
            assert_quantities((ctr.resources.requests if ctr.resources else None))
            assert_quantities((ctr.resources.limits if ctr.resources else None))
        for cond in p.status.conditions or []:
            assert cond.type and cond.status in ("True", "False", "Unknown")
        for ref in p.metadata.owner_references or []:
            assert ref.api_version and ref.kind and ref.name and ref.uid
        for cs in p.status.container_statuses or []:
            assert cs.name and isinstance(cs.ready, bool) and isinstance(cs.restart_count, int)
            assert cs.image and isinstance(cs.image_id, str)
            if cs.state and cs.state.running:
                started += 1
                assert cs.image_id, f"running container {p.metadata.name}/{cs.name} has no imageID"
                assert cs.container_id
            if cs.state and cs.state.terminated:
                assert isinstance(cs.state.terminated.exit_code, int)
        if p.status.phase == "Running":
            assert p.spec.node_name and p.status.pod_ip
            types = {cnd.type for cnd in p.status.conditions}
            assert {"PodScheduled", "Initialized", "ContainersReady", "Ready"} <= types
    assert started > 0


def test_node_fields_and_gpu_labels(small) -> None:
    nodes = small.core().list_node().items
    gpu_nodes = [n for n in nodes if (n.metadata.labels or {}).get("hardware-type") == "NVIDIAGPU"]
    assert gpu_nodes, "GPU nodes carry hardware-type=NVIDIAGPU"
    for n in nodes:
        assert n.status.conditions and all(c.type and c.status for c in n.status.conditions)
        assert "Ready" in {c.type for c in n.status.conditions}
        assert_quantities(n.status.capacity)
        assert_quantities(n.status.allocatable)
        assert n.status.node_info.kubelet_version
    for n in gpu_nodes:
        assert int(n.status.capacity["nvidia.com/gpu"]) > 0
        assert n.status.allocatable["nvidia.com/gpu"]
    for n in nodes:
        if n not in gpu_nodes:
            assert "nvidia.com/gpu" not in (n.status.capacity or {}) or n.status.capacity["nvidia.com/gpu"] == "0"


def test_events_core_v1(small) -> None:
    events = small.core().list_event_for_all_namespaces().items
    assert events
    for e in events:
        assert isinstance(e, client.CoreV1Event)
        assert e.involved_object.kind and e.involved_object.name
        assert e.type in ("Normal", "Warning")
        assert e.reason
        assert e.last_timestamp or e.event_time or (e.series and e.series.last_observed_time)
        if e.count is not None:
            assert isinstance(e.count, int)
    assert "Warning" in {e.type for e in events}


def test_tenant_namespaces_have_node_selector_and_gpu_quota(small) -> None:
    core = small.core()
    by_name = {n.metadata.name: n for n in core.list_namespace().items}
    for ns in tenant_namespaces(small):
        n = by_name[ns]
        assert n.status.phase == "Active"
        sel = (n.metadata.annotations or {}).get("scheduler.alpha.kubernetes.io/node-selector")
        assert sel and all("=" in part for part in sel.split(","))
        quotas = {q.metadata.name: q for q in core.list_namespaced_resource_quota(ns).items}
        q = quotas["mlss-default-rq"]
        assert "requests.nvidia.com/gpu" in q.spec.hard
        assert "requests.nvidia.com/gpu" in q.status.hard
        assert "requests.nvidia.com/gpu" in q.status.used
        for mapping in (q.spec.hard, q.status.hard, q.status.used):
            assert_quantities(mapping)
        assert "limits.nvidia.com/gpu" not in (q.status.used or {})
    # A tenant's pods land on nodes that match its namespace's node selector.
    nodes = {n.metadata.name: n.metadata.labels or {} for n in core.list_node().items}
    ns = tenant_namespaces(small)[0]
    sel = dict(p.split("=", 1) for p in by_name[ns].metadata.annotations[
        "scheduler.alpha.kubernetes.io/node-selector"].split(","))
    for p in core.list_namespaced_pod(ns, field_selector="status.phase=Running").items:
        assert all(nodes[p.spec.node_name].get(k) == v for k, v in sel.items())


def test_quantities_and_resource_versions_are_json_strings(small) -> None:
    raw = raw_list(small, "/api/v1/resourcequotas")
    assert isinstance(raw["metadata"]["resourceVersion"], str)
    assert isinstance(raw["items"], list) and raw["items"]
    for q in raw["items"]:
        assert isinstance(q["metadata"]["resourceVersion"], str)
        for part in (q["spec"]["hard"], q["status"]["hard"], q["status"]["used"]):
            assert all(isinstance(v, str) for v in part.values())


def test_services_and_configmaps(small) -> None:
    core = small.core()
    for s in core.list_service_for_all_namespaces().items:
        assert s.spec.ports and all(isinstance(p.port, int) for p in s.spec.ports)
    cms = core.list_config_map_for_all_namespaces().items
    assert cms and all(isinstance(cm.data or {}, dict) for cm in cms)


def test_read_single_objects(small) -> None:
    core = small.core()
    pod = core.list_pod_for_all_namespaces(limit=1).items[0]
    again = core.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
    assert isinstance(again, client.V1Pod) and again.metadata.uid == pod.metadata.uid
    node = core.list_node(limit=1).items[0]
    assert core.read_node(node.metadata.name).metadata.uid == node.metadata.uid
    ns = tenant_namespaces(small)[0]
    assert core.read_namespace(ns).metadata.name == ns
    assert core.read_namespaced_resource_quota("mlss-default-rq", ns).spec.hard


# ----------------------------------------------------------------------------- custom objects


def test_notebook_shape_and_labels(small) -> None:
    co = small.custom()
    lst = co.list_cluster_custom_object(KF, "v1", "notebooks")
    assert lst["kind"] == "NotebookList" and lst["apiVersion"] == f"{KF}/v1"
    assert isinstance(lst["metadata"]["resourceVersion"], str)
    assert lst["items"]
    states = set()
    for nb in lst["items"]:
        md = nb["metadata"]
        assert nb["kind"] == "Notebook" and nb["apiVersion"] == f"{KF}/v1"
        assert md["labels"].get("prophecis-UserId")
        assert RFC3339_SECONDS.match(md["creationTimestamp"]), md["creationTimestamp"]
        assert nb["spec"]["template"]["spec"]["containers"]
        st = nb["status"]
        assert {"conditions", "readyReplicas", "containerState"} <= set(st)
        assert st["readyReplicas"] in (0, 1)
        assert isinstance(st["conditions"], list)
        for cond in st["conditions"]:
            assert cond["type"] in {"PodScheduled", "Initialized", "ContainersReady", "Ready",
                                    "PodReadyToStartContainers"}
            assert cond["status"] in ("True", "False")
        assert isinstance(st["containerState"], dict)
        assert set(st["containerState"]) <= {"waiting", "running", "terminated"}
        if st["readyReplicas"] == 1:
            assert "running" in st["containerState"]
        states.update(st["containerState"])
        stopped = "kubeflow-resource-stopped" in (md.get("annotations") or {})
        if stopped:
            assert RFC3339_SECONDS.match(md["annotations"]["kubeflow-resource-stopped"])
    assert "running" in states


def test_notebook_pods_and_services_follow_the_controller(small) -> None:
    co, core = small.custom(), small.core()
    nbs = co.list_cluster_custom_object(KF, "v1", "notebooks")["items"]
    running = [nb for nb in nbs if nb["status"]["readyReplicas"] == 1]
    assert running
    nb = running[0]
    name, ns = nb["metadata"]["name"], nb["metadata"]["namespace"]
    pod = core.read_namespaced_pod(f"{name}-0", ns)
    assert pod.metadata.labels["statefulset"] == name
    assert pod.metadata.labels["notebook-name"] == name
    assert pod.metadata.labels.get("prophecis-UserId") == nb["metadata"]["labels"]["prophecis-UserId"]
    env = {e.name: e.value for ctr in pod.spec.containers for e in (ctr.env or [])}
    assert env["NB_PREFIX"] == f"/notebook/{ns}/{name}"
    svc = core.read_namespaced_service(name, ns)
    assert svc.spec.ports[0].port == 80 and svc.spec.ports[0].name == f"http-{name}"
    # stopped notebooks have no pod
    for other in nbs:
        if "kubeflow-resource-stopped" in (other["metadata"].get("annotations") or {}):
            assert other["status"]["readyReplicas"] == 0
            pods = core.list_namespaced_pod(other["metadata"]["namespace"],
                                            label_selector=f"notebook-name={other['metadata']['name']}").items
            assert all(p.metadata.deletion_timestamp for p in pods)


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_notebooks_served_in_every_version(small, version: str) -> None:
    co = small.custom()
    v1 = co.list_cluster_custom_object(KF, "v1", "notebooks")
    other = co.list_cluster_custom_object(KF, version, "notebooks")
    assert other["apiVersion"] == f"{KF}/{version}"
    assert {i["apiVersion"] for i in other["items"]} == {f"{KF}/{version}"}
    assert sorted(i["metadata"]["uid"] for i in other["items"]) == sorted(i["metadata"]["uid"] for i in v1["items"])
    nb = v1["items"][0]
    name, ns = nb["metadata"]["name"], nb["metadata"]["namespace"]
    one = co.get_namespaced_custom_object(KF, version, ns, "notebooks", name)
    assert one["apiVersion"] == f"{KF}/{version}"
    assert one["metadata"]["resourceVersion"] == nb["metadata"]["resourceVersion"]
    assert one["spec"] == nb["spec"] and one["status"] == nb["status"]
    nslist = co.list_namespaced_custom_object(KF, version, ns, "notebooks")
    assert name in {i["metadata"]["name"] for i in nslist["items"]}
    assert all(i["apiVersion"] == f"{KF}/{version}" for i in nslist["items"])


def test_unknown_notebook_version_is_404(small) -> None:
    with pytest.raises(client.ApiException) as err:
        small.custom().list_cluster_custom_object(KF, "v2", "notebooks")
    assert err.value.status == 404


@pytest.mark.parametrize("plural", sorted(TRAINING))
def test_training_job_shapes(small, plural: str) -> None:
    kind, spec_key, operator, rtypes = TRAINING[plural]
    co, core = small.custom(), small.core()
    lst = co.list_cluster_custom_object(KF, "v1", plural)
    assert lst["kind"] == f"{kind}List"
    assert lst["items"], f"no {plural} in the small cluster"
    pods_by_job: dict[tuple[str, str], list] = {}
    for p in core.list_pod_for_all_namespaces(label_selector="training.kubeflow.org/operator-name="
                                                             + operator).items:
        pods_by_job.setdefault((p.metadata.namespace, p.metadata.labels["training.kubeflow.org/job-name"]),
                               []).append(p)
    seen_pods = 0
    for job in lst["items"]:
        assert job["kind"] == kind
        md, spec = job["metadata"], job["spec"]
        other_keys = {v[1] for v in TRAINING.values()} - {spec_key}
        assert spec_key in spec and not (other_keys & set(spec))
        assert set(spec[spec_key]) <= rtypes
        for rspec in spec[spec_key].values():
            assert isinstance(rspec["replicas"], int)
            assert rspec["restartPolicy"] in ("Always", "OnFailure", "Never", "ExitCode")
            assert rspec["template"]["spec"]["containers"]
        assert md["labels"].get("training_id") == md["name"]
        st = job.get("status") or {}
        conds = st.get("conditions") or []
        assert conds, f"{md['name']} has no conditions"
        types = [c["type"] for c in conds]
        assert len(types) == len(set(types)), "one entry per condition type"
        assert types[0] == "Created"
        for cond in conds:
            assert cond["type"] in JOB_CONDITIONS
            assert cond["status"] in ("True", "False")
            assert cond["reason"].startswith(kind) and cond["reason"][len(kind):] in JOB_REASON_SUFFIXES, cond
            assert "lastUpdateTime" in cond and "lastTransitionTime" in cond
        assert set(st.get("replicaStatuses") or {}) <= rtypes
        for rstat in (st.get("replicaStatuses") or {}).values():
            for k in ("active", "succeeded", "failed"):
                assert rstat.get(k, 1) != 0, "zero counts are omitted"
        terminal = any(c["type"] in ("Succeeded", "Failed") and c["status"] == "True" for c in conds)
        if terminal:
            running = [c for c in conds if c["type"] == "Running"]
            assert all(c["status"] == "False" for c in running)
        pods = pods_by_job.get((md["namespace"], md["name"]), [])
        for p in pods:
            lbl = p.metadata.labels
            rtype = lbl["training.kubeflow.org/replica-type"]
            assert rtype == rtype.lower() and rtype in {r.lower() for r in spec[spec_key]}
            idx = lbl["training.kubeflow.org/replica-index"]
            assert p.metadata.name == f"{md['name']}-{rtype}-{idx}"
            if rtype in ("master", "chief"):
                assert lbl.get("training.kubeflow.org/job-role") == "master"
            assert p.metadata.owner_references[0].kind == kind
            seen_pods += 1
    assert seen_pods > 0, f"no {plural} pods found"


def test_sdep_shapes(small) -> None:
    co, core = small.custom(), small.core()
    lst = co.list_cluster_custom_object(SELDON, "v1", "seldondeployments")
    assert lst["kind"] == "SeldonDeploymentList"
    assert lst["items"]
    states = set()
    for sd in lst["items"]:
        md, st = sd["metadata"], sd["status"]
        assert md["labels"].get("MLSS-USER")
        assert sd["spec"]["predictors"] and all(p["name"] and p["graph"] for p in sd["spec"]["predictors"])
        assert st["state"] in ("Creating", "Available", "Failed")
        states.add(st["state"])
        pred = sd["spec"]["predictors"][0]["name"]
        assert st["address"]["url"] == (f"http://{md['name']}-{pred}.{md['namespace']}.svc.cluster.local:8000"
                                        "/api/v1.0/predictions")
        assert isinstance(st.get("replicas", 0), int)
        for cond in st.get("conditions") or []:
            assert cond["type"] and cond["status"] in ("True", "False", "Unknown")
        if st["state"] == "Available":
            ready = {c["type"]: c["status"] for c in st["conditions"]}
            assert ready.get("Ready") == "True"
            pods = core.list_namespaced_pod(md["namespace"], label_selector=f"seldon-deployment-id={md['name']}")
            assert pods.items and all(len(p.spec.containers) == 2 for p in pods.items)
    assert "Available" in states

"""Which business systems a GPU serves (prophecis_tui/gpu_systems.py), and the history of each system's GPUs
the poller keeps from it (GroupHistory ``sys:<id>``)."""

from __future__ import annotations

from backends.gpu_history import GroupHistory
from prophecis_tui.domain import BusinessSystem, GpuSample, Pod
from prophecis_tui.gpu_systems import GpuSystems
from prophecis_tui.state import State

SYSTEMS = [
    BusinessSystem(id="BS1", name="信用评分卡", tier=1, namespaces=("ns-risk-scorecard",)),
    BusinessSystem(id="BS2", name="风险管理平台", tier=2, segments=("risk",)),
    BusinessSystem(id="BS3", name="反欺诈模型服务", tier=1, deployments=("txn-gnn-*",)),
    BusinessSystem(id="BS4", name="GPU 资源池", tier=3, nodes=("gpu-a",)),
    BusinessSystem(id="BS5", name="设备指纹", tier=2, labels=("model=device-fp",)),
]


def gpu(node: str, i: int, util: float, *, ns: str = "", pod: str = "") -> GpuSample:
    return GpuSample(node=node, gpu=i, util=util, fb_used_mib=10.0, fb_free_mib=30.0, namespace=ns, pod=pod)


def pod(ns: str, name: str, node: str, **labels: str) -> Pod:
    return Pod(uid=f"{ns}/{name}", namespace=ns, name=name, phase="Running", status="Running", node=node, gpus=1,
               labels=labels)


def state_with(*pods: Pod) -> State:
    s = State()
    s.replace("pods", "pods", pods)
    s.set_business_systems(SYSTEMS)
    return s


def test_a_gpu_serves_the_systems_of_its_pod_and_of_its_node_strongest_rule_first():
    s = state_with(pod("ns-risk-scorecard", "train-0", "gpu-a"),
                   pod("ns-antifraud-txn", "txn-gnn-svc-0", "gpu-b", **{"seldon-deployment-id": "txn-gnn-svc"}),
                   pod("ns-antifraud-device", "fp-0", "gpu-b", model="device-fp"),
                   pod("ns-ops-ocr", "ocr-0", "gpu-b"))
    systems = GpuSystems(s)
    assert systems.known
    held = gpu("gpu-a", 0, 90.0, ns="ns-risk-scorecard", pod="train-0")
    found = systems.matches(held)
    assert [m.system.id for m in found] == ["BS1", "BS2", "BS4"]  # namespace, then segment, then the node's
    assert [m.rule for m in found] == ["namespace ns-risk-scorecard", "segment risk", "node gpu-a"]
    assert systems.of(gpu("gpu-b", 0, 1.0, ns="ns-antifraud-txn", pod="txn-gnn-svc-0")) == ("BS3",)
    assert systems.of(gpu("gpu-b", 1, 1.0, ns="ns-antifraud-device", pod="fp-0")) == ("BS5",)  # by its pod's label
    assert systems.of(gpu("gpu-b", 2, 1.0, ns="ns-ops-ocr", pod="ocr-0")) == ()  # untagged
    assert systems.of(gpu("gpu-a", 7, 0.0)) == ("BS4",)  # free, on the pool's node
    assert systems.of(gpu("gpu-b", 7, 0.0)) == ()


def test_the_answers_follow_the_cmdb_and_new_pods():
    s = state_with(pod("ns-ops-ocr", "ocr-0", "gpu-b"))
    systems = GpuSystems(s)
    g = gpu("gpu-b", 0, 1.0, ns="ns-ops-ocr", pod="ocr-0")
    assert systems.of(g) == ()
    s.set_business_systems([*SYSTEMS, BusinessSystem(id="BS9", name="OCR", segments=("ops-ocr",))])
    assert systems.of(g) == ("BS9",)  # a new CMDB: worked out again
    s.apply("pods", "pods", "ADDED", pod("ns-ops-asr", "asr-0", "gpu-b", model="device-fp"))
    assert systems.of(gpu("gpu-b", 1, 1.0, ns="ns-ops-asr", pod="asr-0")) == ("BS5",)  # a pod that came later
    s.set_business_systems([])
    assert not systems.known and systems.of(g) == ()


def test_members_name_what_a_query_of_a_system_selects():
    s = state_with(pod("ns-antifraud-txn", "txn-gnn-svc-0", "gpu-b", **{"seldon-deployment-id": "txn-gnn-svc"}),
                   pod("ns-risk-limit", "limit-0", "gpu-a"), pod("ns-risk-pd", "pd-0", "gpu-b"))
    gpus = [gpu("gpu-b", 0, 1.0, ns="ns-antifraud-txn", pod="txn-gnn-svc-0"),
            gpu("gpu-a", 0, 1.0, ns="ns-risk-limit", pod="limit-0"), gpu("gpu-b", 1, 1.0, ns="ns-risk-pd", pod="pd-0"),
            gpu("gpu-a", 1, 0.0)]
    systems = GpuSystems(s)
    risk = systems.members("BS2", gpus)
    assert risk.namespaces == ("ns-risk-limit", "ns-risk-pd") and not risk.pods and not risk.nodes
    serving = systems.members("BS3", gpus)
    assert serving.pods == (("ns-antifraud-txn", "txn-gnn-svc-0"),) and not serving.namespaces
    pool = systems.members("BS4", gpus)
    assert pool.nodes == ("gpu-a",)
    assert not systems.members("BS1", gpus)  # holds no GPU now: nothing to ask for


def test_group_history_keeps_the_mean_of_each_systems_gpus():
    s = state_with(pod("ns-risk-limit", "limit-0", "gpu-a"), pod("ns-risk-pd", "pd-0", "gpu-b"))
    systems = GpuSystems(s)
    h = GroupHistory()
    h.add(100.0, [gpu("gpu-a", 0, 90.0, ns="ns-risk-limit", pod="limit-0"),
                  gpu("gpu-b", 0, 10.0, ns="ns-risk-pd", pod="pd-0"), gpu("gpu-a", 1, 20.0)], systems.of)
    assert h.window("sys:BS2", 100.0, 60) == [(100.0, 50.0, 25.0)]  # both risk GPUs
    assert h.window("sys:BS4", 100.0, 60) == [(100.0, 55.0, 25.0)]  # the pool node's two GPUs, free one included
    assert h.window("sys:BS1", 100.0, 60) == []
    h.add(101.0, [gpu("gpu-a", 0, 90.0)])  # no systems_of (no CMDB): no system groups, nothing breaks
    assert h.window("sys:BS4", 101.0, 60) == [(100.0, 55.0, 25.0)]


def test_a_cmdb_that_names_a_node_by_ip_claims_its_gpus_and_its_alerts():
    """The bank's CMDB lists hosts by hostname or by IP; the node's status.addresses say which IPs it has."""
    from backends.k8s_parse import parse_node
    from prophecis_tui.alerts import Tagger, node_addresses
    from prophecis_tui.domain import Alert
    node = parse_node({"metadata": {"name": "gpu-c", "uid": "n-c"}, "status": {
        "addresses": [{"type": "InternalIP", "address": "10.107.0.3"}, {"type": "Hostname", "address": "gpu-c"}],
        "conditions": [{"type": "Ready", "status": "True"}]}})
    assert node.addresses == ("10.107.0.3",)  # the hostname is its name already
    pool = BusinessSystem(id="BS6", name="V100 资源池", tier=3, nodes=("10.107.0.3",))
    s = state_with()
    s.set_business_systems([*SYSTEMS, pool])
    systems = GpuSystems(s)
    free = gpu("gpu-c", 0, 0.0)
    assert systems.of(free) == ()  # the node is not listed yet: its IP is unknown
    s.replace("nodes", "nodes", [node])
    assert systems.of(free) == ("BS6",)
    assert [m.rule for m in systems.matches(free)] == ["node 10.107.0.3"]
    hot = Alert(key="am:x", source="alertmanager", name="GPUHighTemperature", target_kind="Node",
                target_name="gpu-c", node="gpu-c")
    (tagged,) = Tagger(s.business_systems()).tag([hot], {}, node_addresses(s.nodes()))
    assert [(t.id, t.rule) for t in tagged.systems] == [("BS6", "node 10.107.0.3")]

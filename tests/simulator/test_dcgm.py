"""The simulated dcgm-exporter (/dcgm/metrics, /dcgm/{node}/metrics), scraped over loopback TLS like a
Prometheus would: no credentials, Prometheus text 0.0.4, one series per GPU and metric, pod attributes on
the GPUs that pods hold, numbers that follow the workloads and the simulated clock."""

from __future__ import annotations

import re
import ssl
import statistics
from collections import Counter, defaultdict

import httpx
import pytest

from prophecis_tui.config import load_settings
from prophecis_tui.simulator.testing import SimThread
from tests.conftest import START

GPU = "nvidia.com/gpu"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS = ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_GPU_TEMP",
           "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_MEM_COPY_UTIL")
BASE_LABELS = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"]
POD_LABELS = ["container", "namespace", "pod", "pod_uid"]
SERIES_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


# ----------------------------------------------------------------------------------- helpers
def client_for(sim) -> httpx.Client:
    ctx = ssl.create_default_context(cadata=sim.tls.ca_pem.decode())
    return httpx.Client(base_url=sim.url, verify=ctx, timeout=30.0)


def scrape(sim, path: str = "/dcgm/metrics") -> httpx.Response:
    with client_for(sim) as c:
        return c.get(path)  # no Authorization header: an exporter asks for none


def parse(text: str) -> dict[str, list[tuple[dict[str, str], list[str], float]]]:
    """metric -> [(labels, label names in order, value)]; checks HELP and TYPE come before the series."""
    out: dict[str, list] = defaultdict(list)
    helped: set[str] = set()
    typed: set[str] = set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind == "gauge", line
            typed.add(name)
            continue
        m = SERIES_RE.match(line)
        assert m, f"not a series line: {line!r}"
        name, body, value = m.groups()
        assert name in helped and name in typed, f"{name} has no HELP/TYPE before its series"
        pairs = LABEL_RE.findall(body)
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == body, f"labels do not parse: {body!r}"
        out[name].append((dict(pairs), [k for k, _ in pairs], float(value)))
    return out


def by_gpu(series) -> dict[tuple[str, str], tuple[dict[str, str], float]]:
    return {(lab["Hostname"], lab["gpu"]): (lab, v) for lab, _, v in series}


@pytest.fixture(scope="module")
def small_scrape(small):
    r = scrape(small.sim)
    assert r.status_code == 200
    return parse(r.text)


@pytest.fixture(scope="module")
def small_pods(small):
    return {(p.metadata.namespace, p.metadata.name): p for p in small.core().list_pod_for_all_namespaces().items}


def gpu_request(pod, container: str | None = None) -> int:
    total = 0
    for c in pod.spec.containers:
        if container is None or c.name == container:
            res = c.resources
            total += int(((res.limits or {}).get(GPU)) or ((res.requests or {}).get(GPU)) or 0)
    return total


# ----------------------------------------------------------------------------------- the scrape
def test_every_gpu_of_every_node_once_per_metric(small, small_scrape):
    r = scrape(small.sim)
    assert r.headers["content-type"] == CONTENT_TYPE
    for name in METRICS:
        assert f"# HELP {name} " in r.text and f"# TYPE {name} gauge" in r.text
    nodes = small.core().list_node().items
    want = {(n.metadata.name, str(i)) for n in nodes for i in range(int((n.status.capacity or {}).get(GPU, "0")))}
    assert len(want) >= 16
    for name in METRICS:
        seen = Counter((lab["Hostname"], lab["gpu"]) for lab, _, _ in small_scrape[name])
        assert set(seen) == want, name
        assert max(seen.values()) == 1, f"{name}: a GPU appears twice"
    for lab, order, value in small_scrape["DCGM_FI_DEV_GPU_UTIL"]:
        assert order in (BASE_LABELS, BASE_LABELS + POD_LABELS), order
        assert lab["device"] == f"nvidia{lab['gpu']}"
        assert re.fullmatch(r"GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", lab["UUID"])
        assert re.fullmatch(r"00000000:[0-9A-F]{2}:00\.0", lab["pci_bus_id"])
        assert 0 <= value <= 100
    uuids = [lab["UUID"] for lab, _, _ in small_scrape["DCGM_FI_DEV_GPU_UTIL"]]
    assert len(set(uuids)) == len(uuids)
    # every series of one GPU carries the same labels
    for name in METRICS:
        assert {k: lab for k, (lab, _) in by_gpu(small_scrape[name]).items()} == \
            {k: lab for k, (lab, _) in by_gpu(small_scrape["DCGM_FI_DEV_GPU_UTIL"]).items()}


def test_gpu_pod_labels_name_pods_that_hold_gpus_there(small_scrape, small_pods):
    held: Counter = Counter()
    for lab, _, _ in small_scrape["DCGM_FI_DEV_GPU_UTIL"]:
        if "pod" not in lab:
            continue
        pod = small_pods[(lab["namespace"], lab["pod"])]
        assert pod.spec.node_name == lab["Hostname"]
        assert pod.metadata.uid == lab["pod_uid"]
        assert gpu_request(pod, lab["container"]) > 0, f"{lab['pod']}/{lab['container']} requests no GPU"
        held[(lab["namespace"], lab["pod"])] += 1
    assert len(held) >= 5
    # and the other way round: every pod bound to a node that has not finished holds as many GPUs as it asks for
    holding = {k: gpu_request(p) for k, p in small_pods.items()
               if p.spec.node_name and p.status.phase in ("Pending", "Running") and gpu_request(p)}
    assert dict(held) == holding


def test_workloads_shape_the_numbers(small, small_scrape, small_pods):
    now = small.call(small.sim.engine.now)
    util = by_gpu(small_scrape["DCGM_FI_DEV_GPU_UTIL"])
    used = by_gpu(small_scrape["DCGM_FI_DEV_FB_USED"])
    training: list[float] = []
    notebooks: list[float] = []
    for key, (lab, v) in util.items():
        if "pod" not in lab:
            assert v == 0 and used[key][1] < 16, f"free GPU {key} is busy"
            continue
        pod = small_pods[(lab["namespace"], lab["pod"])]
        st = next((s for s in pod.status.container_statuses or [] if s.name == lab["container"]), None)
        running = st is not None and st.state.running is not None
        if not running:
            assert v == 0, f"{lab['pod']} has no running process but its GPU is at {v}%"
            continue
        started = st.state.running.started_at.timestamp()
        labels = pod.metadata.labels or {}
        if "training.kubeflow.org/replica-type" in labels or "job-name" in labels:
            if now - started > 120:  # past its warm-up
                training.append(v)
                assert 70 <= v <= 100, f"training replica {lab['pod']} at {v}%"
                assert used[key][1] > 1024
        elif "notebook-name" in labels:
            notebooks.append(v)
        elif "seldon-deployment-id" in labels:
            assert 10 <= v <= 50
    assert len(training) >= 5 and len(notebooks) >= 3
    assert min(training) > statistics.median(notebooks)
    assert statistics.median(notebooks) <= 5


def test_temperature_power_and_memory_are_plausible(small_scrape):
    temps = [v for _, _, v in small_scrape["DCGM_FI_DEV_GPU_TEMP"]]
    hot = [t for t in temps if t >= 85]
    assert 2 <= len(hot) <= max(2, len(temps) // 10), f"{len(hot)} hot GPUs of {len(temps)}"
    assert all(85 <= t <= 92 for t in hot) and all(20 <= t <= 92 for t in temps)
    util = by_gpu(small_scrape["DCGM_FI_DEV_GPU_UTIL"])
    temp = by_gpu(small_scrape["DCGM_FI_DEV_GPU_TEMP"])
    power = by_gpu(small_scrape["DCGM_FI_DEV_POWER_USAGE"])
    busy = [k for k, (_, v) in util.items() if v >= 70 and temp[k][1] < 85]
    idle = [k for k, (_, v) in util.items() if v == 0 and temp[k][1] < 85]
    assert busy and idle
    assert min(temp[k][1] for k in busy) > max(temp[k][1] for k in idle)
    assert min(power[k][1] for k in busy) > max(power[k][1] for k in idle)
    assert all(5 < v < 420 for _, (_, v) in power.items())
    assert "." in f"{next(iter(power.values()))[1]}"
    free = by_gpu(small_scrape["DCGM_FI_DEV_FB_FREE"])
    totals: dict[str, set[float]] = defaultdict(set)
    for k, (lab, used) in by_gpu(small_scrape["DCGM_FI_DEV_FB_USED"]).items():
        assert used >= 0 and free[k][1] >= 0
        totals[lab["modelName"]].add(used + free[k][1])
    assert all(len(s) == 1 for s in totals.values()), totals  # used + free (+ reserved) is the card's memory


def test_values_follow_simulated_time_and_repeat_for_the_same_seed(tiny):
    with SimThread(scale="tiny", seed=7, speed=0.0, start_time=START) as twin:
        first = scrape(tiny.sim).text
        assert scrape(twin.sim).text == first  # same seed, same simulated second: the same scrape
        assert scrape(tiny.sim).text == first  # and a frozen clock gives the same numbers again
        assert "pod_uid=" in first
        tiny.advance(45)
        twin.advance(45)
        later = scrape(tiny.sim).text
        assert scrape(twin.sim).text == later
    a, b = parse(first), parse(later)
    moved = 0
    for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP"):
        before, after = by_gpu(a[name]), by_gpu(b[name])
        assert set(before) == set(after)
        moved += sum(1 for k in before if before[k][1] != after[k][1])
    assert moved > 0
    # the hardware stays what it was
    assert {k: lab["UUID"] for k, (lab, _) in by_gpu(a["DCGM_FI_DEV_GPU_UTIL"]).items()} == \
        {k: lab["UUID"] for k, (lab, _) in by_gpu(b["DCGM_FI_DEV_GPU_UTIL"]).items()}


# ----------------------------------------------------------------------------------- one node, errors, config
def test_one_node_endpoint(small, small_scrape):
    node = sorted({lab["Hostname"] for lab, _, _ in small_scrape["DCGM_FI_DEV_GPU_UTIL"]})[1]
    r = scrape(small.sim, f"/dcgm/{node}/metrics")
    assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE
    one = parse(r.text)
    for name in METRICS:
        assert one[name] == [s for s in small_scrape[name] if s[0]["Hostname"] == node]
        assert len(one[name]) == 8
    assert scrape(small.sim, "/dcgm/no-such-node/metrics").status_code == 404
    cpu_only = next(n.metadata.name for n in small.core().list_node().items if GPU not in (n.status.capacity or {}))
    assert scrape(small.sim, f"/dcgm/{cpu_only}/metrics").status_code == 404  # no exporter without GPUs
    assert scrape(small.sim, "/dcgm/nothing").status_code == 404
    with client_for(small.sim) as c:
        assert c.post("/dcgm/metrics", content=b"").status_code == 405
    assert small.sim.api.writes.count(("POST", "/dcgm/metrics")) == 0  # not a change to the cluster


def test_written_config_points_the_console_at_the_exporter(small, tmp_path):
    small.thread.write_config(tmp_path)
    text = (tmp_path / "config.toml").read_text()
    assert '[metrics]\nsource = "dcgm"' in text
    s = load_settings(tmp_path / "config.toml", env={"HOME": str(tmp_path)})
    assert s.metrics.source == "dcgm"
    assert s.metrics.dcgm_url == f"{small.sim.url}/dcgm/metrics"
    assert scrape(small.sim, s.metrics.dcgm_url.removeprefix(small.sim.url)).status_code == 200


"""The direct DCGM-exporter scrape: the text format, every label spelling, history, and failures.

The exporter texts here are written by hand to cover the spellings real exporters use; the simulator's
exporter is covered by the adapter test beside the simulator tests.
"""

from __future__ import annotations

import http.server
import math
import threading
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.dcgm import DcgmScrape
from backends.gpu_labels import identify
from backends.promtext import parse, parse_line
from prophecis_tui.domain import Unavailable

MODERN = '''# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-aaa",pci_bus_id="00000000:3B:00.0",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="gpu-1",DCGM_FI_DRIVER_VERSION="550.54.15",container="trainer",namespace="ns-a",pod="mnist-worker-0",pod_uid="u1"} 87
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-bbb",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="gpu-1"} 0
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-aaa",Hostname="gpu-1",container="trainer",namespace="ns-a",pod="mnist-worker-0"} 60000
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-aaa",Hostname="gpu-1",container="trainer",namespace="ns-a",pod="mnist-worker-0"} 20000
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-bbb",Hostname="gpu-1"} 0
DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-bbb",Hostname="gpu-1"} 80000
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-aaa",Hostname="gpu-1"} 86
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-aaa",Hostname="gpu-1"} 312.5
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-aaa",Hostname="gpu-1"} 1410
'''
HEAD = '''DCGM_FI_DEV_GPU_UTIL{gpu="3",uuid="GPU-ccc",hostname="gpu-2",pod_namespace="ns-b",pod_name="nb-0",container_name="notebook"} 2
'''
THROUGH_PROMETHEUS = '''DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-ddd",Hostname="gpu-3",namespace="gpu-operator",pod="dcgm-exporter-x",container="exporter",exported_namespace="ns-c",exported_pod="bert-0",exported_container="train"} 55
'''
NO_HOSTNAME = '''DCGM_FI_DEV_GPU_UTIL{gpu="2",UUID="GPU-eee"} 40
'''
OLD_THROUGH_PROMETHEUS = '''DCGM_FI_DEV_GPU_UTIL{gpu="1",uuid="GPU-fff",hostname="gpu-4",namespace="gpu-operator",pod="dcgm-exporter-y",pod_namespace="ns-d",pod_name="nb-7",container_name="notebook"} 3
'''


def test_the_text_format():
    s = parse_line('m{a="x \\\\ \\" \\n y",b="2"} 1.5e3 1700000000000')
    assert (s.name, s.labels, s.value) == ("m", {"a": 'x \\ " \n y', "b": "2"}, 1500.0)
    assert parse_line("up 1").labels == {} and parse_line("# HELP up x") is None
    assert math.isnan(parse_line('m{} NaN').value) and parse_line("m +Inf").value == math.inf
    got = parse('ok 1\nbroken{a="1" 2\nnovalue\nalso_ok{x="1"} -Inf\n')
    assert [s.name for s in got.series] == ["ok", "also_ok"] and got.bad == 2


@pytest.mark.parametrize("text, want", [
    (MODERN, ("gpu-1", 0, "GPU-aaa", "ns-a", "mnist-worker-0", "trainer")),
    (HEAD, ("gpu-2", 3, "GPU-ccc", "ns-b", "nb-0", "notebook")),
    (THROUGH_PROMETHEUS, ("gpu-3", 0, "GPU-ddd", "ns-c", "bert-0", "train")),  # exported_ wins
    (NO_HOSTNAME, ("exporter-host", 2, "GPU-eee", "", "", "")),
    # an old exporter behind a Prometheus target with its own namespace/pod: its pod_ labels name the workload
    (OLD_THROUGH_PROMETHEUS, ("gpu-4", 1, "GPU-fff", "ns-d", "nb-7", "notebook")),
])
def test_every_label_spelling_names_the_gpu_and_its_pod(text, want):
    ident = identify(parse(text).series[0].labels, "exporter-host", {("gpu-operator", "dcgm-exporter-y")})
    assert (ident.node, ident.gpu, ident.uuid, ident.namespace, ident.pod, ident.container) == want


class Exporter:
    """A loopback HTTP server answering what the test sets (``text``, ``status``, ``content_type``) on every path,
    and recording what reached it (``seen``: path and headers). ``url`` is its /metrics, ``base`` the server."""

    def __init__(self, text: str = MODERN, content_type: str = "text/plain; version=0.0.4") -> None:
        self.text, self.status, self.content_type = text, 200, content_type
        self.seen: list[tuple[str, dict]] = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.seen.append((self.path, dict(self.headers)))
                body = outer.text.encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base + "/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    e = Exporter()
    yield e
    e.close()


def test_scrape_joins_the_fields_of_each_gpu(exporter):
    src = DcgmScrape(exporter.url, clock=lambda: 1000.0)
    gpus = src.current()
    assert [g.key for g in gpus] == ["gpu-1/0", "gpu-1/1"]
    busy, idle = gpus
    assert (busy.util, busy.fb_used_mib, busy.temp_c, busy.power_w, busy.model) == (
        87, 60000, 86, 312.5, "NVIDIA A100-SXM4-80GB")
    assert busy.mem_pct == 75.0 and (busy.namespace, busy.pod) == ("ns-a", "mnist-worker-0")
    assert (idle.util, idle.pod, idle.temp_c, idle.mem_pct) == (0, "", None, 0.0)


def test_labels_missing_from_a_gpus_first_series_come_from_its_others_on_every_scrape(exporter):
    """The scrape caches what each label text means; a GPU whose first series carries no model or pod still gets
    them from a later one, on the first scrape and on the cached ones after it."""
    lines = [ln for ln in MODERN.splitlines() if ln and not ln.startswith("#")]
    exporter.text = "\n".join(reversed(lines)) + "\n"  # the temperature (no pod, no model) comes first now
    src = DcgmScrape(exporter.url, clock=lambda: 1000.0)
    for _ in range(3):
        busy = src.current()[0]
        assert (busy.key, busy.model, busy.namespace, busy.pod, busy.container) == (
            "gpu-1/0", "NVIDIA A100-SXM4-80GB", "ns-a", "mnist-worker-0", "trainer")
        assert (busy.util, busy.temp_c, busy.power_w, busy.mem_pct) == (87, 86, 312.5, 75.0)


IGNORED = 'DCGM_FI_DEV_MEM_COPY_UTIL{gpu="0",UUID="GPU-aaa",Hostname="gpu-1"} 5'  # a field the console does not read


def test_a_scrape_like_the_last_reads_only_its_changed_lines(exporter):
    exporter.text = MODERN + IGNORED + "\n"
    src = DcgmScrape(exporter.url, clock=lambda: 1000.0)
    src.current()
    reading = src._readings[exporter.url]
    exporter.text = MODERN.replace("} 87", "} 12") + IGNORED.replace("} 5", "} 9") + "\n"
    assert src.current()[0].util == 12
    assert src._readings[exporter.url] is reading  # brought up to date, not read again
    exporter.text = MODERN.replace('pod="mnist-worker-0"', 'pod="mnist-worker-1"') + "\n"
    assert src.current()[0].pod == "mnist-worker-1" and src._readings[exporter.url] is not reading


def test_what_the_series_of_gone_pods_meant_is_not_kept_forever(exporter):
    """Each new pod on a GPU brings new series heads (its labels); those of pods long gone are forgotten: the cache
    stays within twice a scrape's lines (and a thousand), however many pods came and went, and the GPUs read are
    still what a fresh scrape reads."""
    src = DcgmScrape(exporter.url, clock=lambda: 1000.0)
    lines = len([ln for ln in MODERN.splitlines() if ln and not ln.startswith("#")])
    sizes = []
    for n in range(1000):  # 1,000 pods in turn on GPU 0: 3 new heads and a label text each
        exporter.text = MODERN.replace('pod="mnist-worker-0"', f'pod="mnist-worker-{n}"')
        (busy, _) = src.current()
        assert busy.pod == f"mnist-worker-{n}"
        sizes.append(sum(len(c) for c in src._series.values()) + sum(len(c) for c in src._idents.values()))
    assert max(sizes) <= 2 * (2 * lines + 1000) + 2 * lines
    fresh = DcgmScrape(exporter.url, clock=lambda: 1000.0).current()
    assert [g.model_dump() for g in src.current()] == [g.model_dump() for g in fresh]


_CHANGES = st.sampled_from(["value", "value", "value", "nan", "pod", "drop", "timestamp", "comment", "crlf"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(_CHANGES, st.integers(0, 40), st.floats(0, 100)), min_size=1, max_size=12))
def test_a_scrape_read_after_another_says_what_a_first_read_of_it_says(exporter, steps):
    """Scrape after scrape only the lines that changed are read again (dcgm._Reading); whatever changed (numbers,
    a NaN, another pod on a GPU, a line gone, a timestamp, a comment, CRLF), the GPUs are those a fresh scrape
    reads from the same text."""
    base = [ln for ln in MODERN.splitlines() if ln] + [
        ln for ln in (HEAD + THROUGH_PROMETHEUS).splitlines() if ln] + [IGNORED]
    lines = list(base)
    exporter.text = "\n".join(lines) + "\n"
    src = DcgmScrape(exporter.url, clock=lambda: 1000.0)
    src.current()
    for change, where, number in steps:
        i = where % len(lines)
        line = lines[i]
        series = not line.startswith("#") and "} " in line
        if change in ("value", "nan") and series:
            lines[i] = line.rsplit(" ", 1)[0] + " " + ("NaN" if change == "nan" else repr(number))
        elif change == "pod" and 'pod="' in line:
            lines[i] = line.replace('pod="', 'pod="x', 1)
        elif change == "drop" and len(lines) > 2:
            del lines[i]
        elif change == "timestamp" and series:
            lines[i] = line + " 1700000000000"
        elif change == "comment":
            lines[i] = "# " + line
        elif change == "crlf":
            lines[i] = line.rstrip("\r") + "\r"
        exporter.text = "\n".join(lines) + "\n"
        fresh = DcgmScrape(exporter.url, clock=lambda: 1000.0).current()
        assert [g.model_dump() for g in src.current()] == [g.model_dump() for g in fresh], (change, i)


def test_history_keeps_every_scrape_then_minute_averages(exporter):
    now = [0.0]
    src = DcgmScrape(exporter.url, clock=lambda: now[0], fine_seconds=120, coarse_step=60, coarse_seconds=600)
    for t in range(0, 601, 10):  # a scrape every 10 s for 10 minutes; utilisation climbs
        now[0] = float(t)
        exporter.text = MODERN.replace("} 87", f"}} {t / 10}")
        src.current()
    recent = src.history("gpu-1/0", 60)
    assert [p[0] for p in recent] == [540.0, 550.0, 560.0, 570.0, 580.0, 590.0, 600.0]
    assert recent[-1][1] == 60.0 and recent[-1][2] == 75.0
    longer = src.history("gpu-1/0", 600)
    minutes = [p for p in longer if p[0] < 480]  # before the fine window: one point a minute, averaged
    assert [p[0] for p in minutes] == [0.0, 60.0, 120.0, 180.0, 240.0, 300.0, 360.0, 420.0]
    assert minutes[1][1] == pytest.approx(sum(range(6, 12)) / 6)
    assert src.history("nowhere/0", 60) == []


def test_an_unreachable_or_failing_exporter_is_unavailable_not_a_traceback(exporter):
    exporter.status = 500
    with pytest.raises(Unavailable, match="HTTP 500"):
        DcgmScrape(exporter.url).current()
    url = exporter.url
    exporter.close()
    with pytest.raises(Unavailable, match="cannot scrape 127.0.0.1"):
        DcgmScrape(url, timeout=1.0).current()


def test_one_exporter_down_among_several_keeps_the_others(exporter):
    other = Exporter()
    other.text = HEAD
    try:  # port 9 (discard) is closed on loopback: that exporter is down
        src = DcgmScrape([exporter.url, other.url, "http://127.0.0.1:9/metrics"], timeout=1.0)
        assert {g.key for g in src.current()} == {"gpu-1/0", "gpu-1/1", "gpu-2/3"}
    finally:
        other.close()


def test_the_simulated_exporter_over_https(small):
    """Against the simulator's exporter (TLS, its CA from the kubeconfig): every GPU of every GPU node once,
    and a GPU with a pod names a pod that runs on that node and asks for GPUs."""
    import base64

    import yaml

    from prophecis_tui.simulator.engine import PODS
    kc = yaml.safe_load(small.kubeconfig.read_text())
    cluster = kc["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    gpus = DcgmScrape(cluster["server"] + "/dcgm/metrics", ca_data=ca).current()
    nodes = small.call(lambda: {n.name: n.gpus for n in small.sim.engine.nodes.values() if n.gpus})
    assert len(gpus) == sum(nodes.values()) and {g.node for g in gpus} == set(nodes)
    assert all(g.util is not None and g.temp_c is not None and g.mem_pct is not None for g in gpus)
    held = [g for g in gpus if g.pod]
    assert held, "the small world has pods on GPUs"
    pods = small.call(lambda: {(p["metadata"]["namespace"], p["metadata"]["name"]): p
                               for p in small.sim.engine.store.objects(PODS)})
    for g in held:
        p = pods[(g.namespace, g.pod)]
        assert p["spec"]["nodeName"] == g.node
        assert any("nvidia.com/gpu" in (c.get("resources") or {}).get("limits", {}) for c in p["spec"]["containers"])

"""The simulated kube-state-metrics (/ksm/metrics): ``kube_resourcequota`` for every ResourceQuota the cluster
serves, read with the console's own text reader (backends.promtext) and checked against the quotas the
official client lists, with quantities read by the console's own reader (prophecis_tui.quantity): the
simulator's formatting and parsing are not used to check themselves.

Every test uses a fresh `tiny` cluster; scraped over loopback TLS with no credentials, like an exporter.
"""

from __future__ import annotations

import json
import re
import ssl

import httpx
import pytest

from backends.promtext import parse
from prophecis_tui import quantity
from prophecis_tui.simulator.ksm import go_float
from tests.conftest import wait_until

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NS = "ns-risk-scorecard"
LINE_RE = re.compile(r'^kube_resourcequota\{namespace="[^"]*",resourcequota="[^"]*",resource="[^"]*",'
                     r'type="(hard|used)"\} \S+$')


def get(cluster, path: str = "/ksm/metrics", method: str = "GET") -> httpx.Response:
    ctx = ssl.create_default_context(cadata=cluster.sim.tls.ca_pem.decode())
    with httpx.Client(base_url=cluster.sim.url, verify=ctx, timeout=30.0) as c:
        return c.request(method, path)  # no Authorization header


def series(text: str) -> dict[tuple[str, str, str, str], float]:
    got = parse(text)
    assert got.bad == 0
    out: dict[tuple[str, str, str, str], float] = {}
    for s in got.series:
        if s.name == "kube_resourcequota":
            key = (s.labels["namespace"], s.labels["resourcequota"], s.labels["resource"], s.labels["type"])
            assert key not in out, f"{key} twice"
            out[key] = s.value
    return out


def listed(cluster) -> dict[tuple[str, str, str, str], float]:
    """What kube-state-metrics should say, from the quotas the official client lists."""
    out = {}
    for q in cluster.core().list_resource_quota_for_all_namespaces().items:
        for kind in ("hard", "used"):
            for res, qty in ((getattr(q.status, kind) if q.status else None) or {}).items():
                out[(q.metadata.namespace, q.metadata.name, res, kind)] = quantity.to_float(qty)
    return out


def test_every_quota_key_hard_and_used_once_in_kube_state_metrics_units(tiny):
    r = get(tiny)
    assert r.status_code == 200 and r.headers["Content-Type"] == CONTENT_TYPE
    got = series(r.text)
    want = listed(tiny)
    assert want and got == want
    # the units kube-state-metrics uses: cores, bytes, a count; the raw key as `resource`
    assert got[(NS, "mlss-default-rq", "requests.cpu", "hard")] == 94.0
    assert got[(NS, "mlss-default-rq", "requests.memory", "hard")] == 760 * 2 ** 30
    assert got[(NS, "mlss-default-rq", "requests.nvidia.com/gpu", "used")] == 3.0
    assert got[(NS, "mlss-default-rq", "requests.cpu", "used")] == 92.5  # "92500m"
    # HELP and TYPE before the family, kube-state-metrics' label order, Go's number format
    lines = r.text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("kube_resourcequota{"))
    assert lines[first - 2:first] == ["# HELP kube_resourcequota [STABLE] Information about resource quota.",
                                      "# TYPE kube_resourcequota gauge"]
    assert all(LINE_RE.match(line) for line in lines if line.startswith("kube_resourcequota{"))
    assert (f'kube_resourcequota{{namespace="{NS}",resourcequota="mlss-default-rq",resource="requests.memory",'
            f'type="hard"}} 8.1604378624e+11') in lines
    created = {s.labels["namespace"]: s.value for s in parse(r.text).series if s.name == "kube_resourcequota_created"}
    quotas = tiny.core().list_resource_quota_for_all_namespaces().items
    assert created == {q.metadata.namespace: q.metadata.creation_timestamp.timestamp() for q in quotas}


def test_a_quota_edit_shows_in_the_next_scrape(tiny):
    """A limits.nvidia.com/gpu key is accepted into hard and never counted in used (wire-protocols 1.16)."""
    tiny.core().patch_namespaced_resource_quota("mlss-default-rq", NS, {"spec": {"hard": {
        "limits.nvidia.com/gpu": "12", "requests.cpu": "95500m"}}})
    wait_until(lambda: series(get(tiny).text).get((NS, "mlss-default-rq", "limits.nvidia.com/gpu", "hard")) == 12.0,
               timeout=10, what="the new key in the scrape")
    got = series(get(tiny).text)
    assert got[(NS, "mlss-default-rq", "requests.cpu", "hard")] == 95.5
    assert (NS, "mlss-default-rq", "limits.nvidia.com/gpu", "used") not in got
    assert got == listed(tiny)


def test_no_credentials_no_injected_faults_and_not_a_write(tiny):
    token = tiny.sim.identity("admin").token
    ctx = ssl.create_default_context(cadata=tiny.sim.tls.ca_pem.decode())
    with httpx.Client(base_url=tiny.sim.url, verify=ctx, timeout=30.0) as c:
        r = c.post("/sim/admin/faults", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                   content=json.dumps({"error_rate": 1.0, "error_codes": [503]}).encode())
        assert r.status_code == 200
        assert c.get("/api/v1/namespaces", headers={"Authorization": f"Bearer {token}"}).status_code == 503
    assert get(tiny).status_code == 200  # an exporter is not the API server: no injected faults
    assert get(tiny, "/ksm/nothing").status_code == 404
    assert get(tiny, "/ksm/x/metrics").status_code == 404
    assert get(tiny, method="POST").status_code == 405
    assert ("POST", "/ksm/metrics") not in tiny.sim.api.writes


@pytest.mark.parametrize("value, text", [  # what Go's strconv.FormatFloat(v, 'g', -1, 64) writes
    (0.0, "0"), (1.0, "1"), (-1.0, "-1"), (2.1, "2.1"), (0.5, "0.5"), (94.0, "94"), (100000.0, "100000"),
    (123456.0, "123456"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"), (68719476736.0, "6.8719476736e+10"),
    (0.0001, "0.0001"), (0.000123, "0.000123"), (1e-05, "1e-05"), (1764410400.0, "1.7644104e+09"),
    (1e21, "1e+21"), (1.5e300, "1.5e+300"), (float("nan"), "NaN"), (float("inf"), "+Inf"), (-float("inf"), "-Inf"),
])
def test_numbers_as_kube_state_metrics_writes_them(value, text):
    assert go_float(value) == text

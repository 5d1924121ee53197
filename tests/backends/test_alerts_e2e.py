"""Issue 7 end to end against real services: Debian's Prometheus evaluates alert rules on the simulated DCGM
exporter's series and sends to Debian's Alertmanager (0.25); the console, wired as `prophecis-tui console` wires a
session (a State fed by the Kubernetes backend from the simulator, the simulator's CMDB through the CMDB poller,
the alerts poller on the REAL Alertmanager, the action registry with the alert actions), shows those alerts
tagged with the business systems the CMDB gives, and a silence made from the console reaches Alertmanager,
mutes the alert and is expired again.

Clocks: the simulated cluster is frozen at its own date (tests.conftest.START), hours away from the wall clock;
Prometheus, Alertmanager and so the silences live on the wall clock. The console's poller, timeline, audit and
action registry here use the wall clock (their default, as in the console), and what is compared with
Alertmanager's times is taken on the wall clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from backends.alertmanager import Alertmanager, AlertmanagerSet
from backends.dcgm import DcgmScrape
from backends.kubernetes import Kubernetes
from prophecis_tui.actions import Actions, NeedsConfirmation, Target, builtin_actions
from prophecis_tui.alert_actions import alert_actions, silence_matchers_for
from prophecis_tui.app import alerts_poller, cmdb_poller
from prophecis_tui.config import load_settings
from prophecis_tui.domain import Alert, AlertState, Health, ReadOnly
from prophecis_tui.feeds import Feeds
from prophecis_tui.state import State
from prophecis_tui.store import AlertTimeline, AuditLog, CmdbStore
from tests.conftest import CONTEXTS, wait_until

from .real_services import (GPU_RULES, Service, alert_cluster, alertmanager_service,  # noqa: F401 (fixtures)
                            dcgm_job, sim_endpoint, start_prometheus)

RISK_NS = "ns-risk-scorecard"  # the CMDB's 信用评分卡 (BS1001) owns it by name
GPU_NODE = "gpua100-0001"  # in the CMDB's GPU pool by hostname; pods of ns-risk-scorecard and prophecis run there
NO_SUCH_NODE = "gpuh100-0003"  # a GPU node the rules expect, unknown to the cluster and the CMDB: no pods there
COMMENT = "OPS-4711 GPU held during the driver upgrade, ok to mute"

# Node-level rules as a GPU team writes them beside the per-GPU ones (real_services.GPU_RULES): aggregated over
# the node's GPUs, their alerts carry the node (Hostname) and no namespace or pod.
NODE_RULES = [{"name": "gpu-nodes", "interval": "1s", "rules": [
    {"alert": "GpuNodeHot", "expr": "max by (Hostname) (DCGM_FI_DEV_GPU_TEMP) > 0", "for": "0s",
     "labels": {"severity": "warning"},
     "annotations": {"summary": "the hottest GPU on {{ $labels.Hostname }} is at {{ $value }}C"}},
    # (once the exporter is scraped: an alert firing before Prometheus knows its Alertmanager is resent 1 min on)
    {"alert": "GpuNodeSilent", "expr": f'absent(DCGM_FI_DEV_GPU_TEMP{{Hostname="{NO_SUCH_NODE}"}}) '
                                       'and on() (count(DCGM_FI_DEV_GPU_TEMP) > 0)', "for": "0s",
     "labels": {"severity": "warning"},
     "annotations": {"summary": "no DCGM series from {{ $labels.Hostname }}"}},
]}]


def wall() -> datetime:
    return datetime.now(timezone.utc)


def param(m) -> dict:
    """A matcher as the silence form sends it (screens.silence_form.to_param)."""
    return {"name": m.name, "value": m.value, "is_regex": m.is_regex, "is_equal": m.is_equal}


class Console:
    """What `prophecis-tui console` builds for a session (cli.run_console's connect), on the simulated cluster,
    with a config whose [alerts] names the real Alertmanager."""

    def __init__(self, cluster, am: Service, folder: Path) -> None:
        sim_dir = cluster.kubeconfig.parent  # the simulator's --write-config folder (kubeconfig, ca.crt, config)
        text = (sim_dir / "config.toml").read_text()
        lines = [f'alertmanagers = ["{am.url}"]\nrefresh_seconds = 1' if ln.startswith("alertmanagers =") else ln
                 for ln in text.splitlines()]
        assert any(ln.startswith("alertmanagers =") for ln in text.splitlines())
        (folder / "config.toml").write_text("\n".join(lines) + "\n")
        self.settings = load_settings(folder / "config.toml", env={"HOME": str(folder)})
        self.eff = self.settings.for_context("sim-admin")
        self.kubeconfig = str(cluster.kubeconfig)
        self.audit = AuditLog(folder / "audit.db")
        self.timeline = AlertTimeline(folder / "alerts.db")
        self.cmdb_store = CmdbStore(folder / "cmdb.db")
        self.backend = Kubernetes.from_kubeconfig(self.kubeconfig, CONTEXTS["admin"])
        self.identity = self.backend.identity()
        self.state = State()
        self.feeds = Feeds(self.backend, self.state)
        self.feeds.start()
        self.cmdb = cmdb_poller(self.eff.cmdb, self.state, self.cmdb_store)
        self.alerts = alerts_poller(self.eff.alerts, self.state, self.timeline)
        self.ams = self.alerts.alertmanager_set
        self.actions = self.registry(self.backend, self.ams, read_only=False)
        self.closing: list = []  # what a test opened beside the console

    def registry(self, backend, ams, *, read_only: bool) -> Actions:
        acts = Actions(backend, self.audit, backend.identity(), read_only=read_only,
                       backends={"timeline": self.timeline, "alertmanager": ams})
        for spec in builtin_actions():
            acts.register(spec)
        for spec in alert_actions(self.eff.alerts, alertmanagers=ams, identity=acts.identity,
                                  refresh=self.alerts.refresh):
            acts.register(spec)
        return acts

    def alert(self, name: str, **labels: str) -> Alert | None:
        """The alert on screen named ``name`` whose labels include ``labels``."""
        return next((a for a in self.state.alerts() if a.name == name
                     and all(a.labels.get(k) == v for k, v in labels.items())), None)

    def records(self, action: str):
        return [r for r in self.audit.records() if r.action == action]

    def stop(self) -> None:
        self.alerts.stop()
        self.cmdb.stop()
        self.feeds.stop()
        self.alerts.join(5)
        self.cmdb.join(5)
        self.actions.close()
        for x in self.closing:
            x.close()
        self.backend.close()
        self.timeline.close()
        self.cmdb_store.close()
        self.audit.close()


@pytest.fixture(scope="module")
def gpus(alert_cluster) -> dict[tuple[str, str], object]:
    """(node, gpu index) -> the simulated GPU as a direct scrape of the DCGM exporter reads it."""
    scrape = DcgmScrape(alert_cluster.sim.url + "/dcgm/metrics", ca_file=sim_endpoint(alert_cluster)[1])
    try:
        return {(g.node, str(g.gpu)): g for g in scrape.current()}
    finally:
        scrape.close()


@pytest.fixture(scope="module")
def rules_prometheus(alert_cluster, alertmanager_service, tmp_path_factory) -> Iterator[Service]:
    """A real Prometheus with the per-GPU rules and the node-level ones, sending to the real Alertmanager."""
    prom = start_prometheus(tmp_path_factory.mktemp("prometheus-e2e"), [dcgm_job(alert_cluster)],
                            rule_groups=GPU_RULES + NODE_RULES, alertmanagers=[alertmanager_service.url])
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture(scope="module")
def console(alert_cluster, alertmanager_service, rules_prometheus, gpus, tmp_path_factory) -> Iterator[Console]:
    c = Console(alert_cluster, alertmanager_service, tmp_path_factory.mktemp("console"))
    held = {(g.namespace, g.pod) for g in gpus.values() if g.pod}

    def ready() -> bool:
        shown = {(a.labels.get("exported_namespace"), a.labels.get("exported_pod"))
                 for a in c.state.alerts() if a.name == "GpuHeld"}
        return (c.state.has_data("pods") and bool(c.state.business_systems()) and held <= shown
                and c.alert("GpuNodeHot", Hostname=GPU_NODE) is not None
                and c.alert("GpuNodeSilent", Hostname=NO_SUCH_NODE) is not None)
    try:
        try:
            wait_until(ready, timeout=45, what="the rules' alerts in the console, the pods and the CMDB listed")
        except AssertionError as err:  # say what was missing
            names = sorted({(a.name, a.source) for a in c.state.alerts()})
            raise AssertionError(f"{err}: pods listed {c.state.has_data('pods')}, {len(c.state.business_systems())} "
                                 f"business systems, alerts shown {names}, alertmanager health "
                                 f"{c.state.source_health('alertmanager')}") from None
        yield c
    finally:
        c.stop()


def held_by(gpus, namespace: str) -> list:
    return sorted((g for g in gpus.values() if g.pod and g.namespace == namespace), key=lambda g: (g.node, g.gpu))


# ------------------------------------------------------------------------------------------ tagged alerts
def test_a_gpu_rule_fires_and_reaches_the_console_on_the_pod_holding_the_gpu_with_its_business_system(
        console, gpus):
    g = held_by(gpus, RISK_NS)[0]
    a = console.alert("GpuHeld", Hostname=g.node, gpu=str(g.gpu))
    # the CMDB really gives BS1001 that namespace
    (bs,) = [s for s in console.state.business_systems() if s.id == "BS1001"]
    assert bs.name == "信用评分卡" and RISK_NS in bs.namespaces
    assert any(p.namespace == RISK_NS and p.name == g.pod for p in console.state.pods())  # the pod is known
    assert (a.source, a.severity, a.state) == ("alertmanager", "critical", AlertState.FIRING)
    assert a.origins == (console.ams.names[0],)
    assert a.summary == f"GPU {g.gpu} on {g.node} is held by {RISK_NS}/{g.pod}"
    assert (a.namespace, a.target, a.node) == (RISK_NS, f"Pod {RISK_NS}/{g.pod}", g.node)
    first = a.systems[0]
    assert (first.id, first.name, first.kind, first.rule) == ("BS1001", "信用评分卡", "namespace",
                                                             f"namespace {RISK_NS}")
    assert [(s.id, s.kind) for s in a.systems] == [("BS1001", "namespace"), ("BS2001", "segment"),
                                                   ("BS9002", "node")]
    (fired,) = [e for e in console.timeline.history(key=a.key) if e.event == "fired"]
    assert fired.systems[0][:2] == ("BS1001", "信用评分卡") and fired.target == a.target
    # the other department's GPUs: its own system, by the namespace segment
    other = held_by(gpus, "ns-antifraud-txn")[0]
    b = console.alert("GpuHeld", Hostname=other.node, gpu=str(other.gpu))
    assert b.namespace == "ns-antifraud-txn" and (b.systems[0].id, b.systems[0].name) == ("BS1002", "反欺诈交易评分")


def test_a_held_gpus_temperature_alert_shows_inhibited_a_free_ones_firing(console, gpus):
    g = held_by(gpus, RISK_NS)[0]
    held = console.alert("GpuHeld", Hostname=g.node, gpu=str(g.gpu))
    hot = console.alert("GpuTemperature", Hostname=g.node, gpu=str(g.gpu))
    assert hot.state == AlertState.INHIBITED and hot.inhibited_by == (held.fingerprint,)
    free = next(k for k, x in sorted(gpus.items()) if not x.pod)
    assert console.alert("GpuTemperature", Hostname=free[0], gpu=free[1]).state == AlertState.FIRING
    assert console.state.source_health("alertmanager").state == Health.LIVE


def test_a_node_level_alert_maps_to_the_systems_with_pods_on_that_node_or_stays_untagged(console):
    a = console.alert("GpuNodeHot", Hostname=GPU_NODE)
    assert (a.namespace, a.target, a.node, a.severity) == ("", f"Node {GPU_NODE}", GPU_NODE, "warning")
    on_node = {p.namespace for p in console.state.pods() if p.node == GPU_NODE}
    assert {RISK_NS, "prophecis"} <= on_node
    # the CMDB's GPU pool by hostname; 信用评分卡 and the risk tenant, the platform by the pods running there
    assert {(s.id, s.name, s.kind) for s in a.systems} == {
        ("BS9002", "GPU训练资源池", "node"), ("BS1001", "信用评分卡", "node-pods"),
        ("BS2001", "风险管理部机器学习租户", "node-pods"), ("BS9001", "MLSS机器学习平台", "node-pods")}
    by_id = {s.id: s for s in a.systems}
    assert by_id["BS9002"].rule == f"node {GPU_NODE}"
    assert by_id["BS1001"].rule.startswith(f"node {GPU_NODE} runs pods of ") and RISK_NS in by_id["BS1001"].rule
    # no pods there and no CMDB host: untagged, and still shown
    lone = console.alert("GpuNodeSilent", Hostname=NO_SUCH_NODE)
    assert (lone.target, lone.systems, lone.state) == (f"Node {NO_SUCH_NODE}", (), AlertState.FIRING)
    assert not any(p.node == NO_SUCH_NODE for p in console.state.pods())


# ------------------------------------------------------------------------------------------ silence, expire
def test_a_silence_from_the_console_mutes_the_alert_in_alertmanager_and_expiring_it_fires_it_again(
        console, alertmanager_service, gpus):
    g = held_by(gpus, RISK_NS)[0]
    a = console.alert("GpuHeld", exported_pod=g.pod)
    am = Alertmanager(alertmanager_service.url, name="check")  # reads the real Alertmanager beside the console
    console.closing.append(am)
    user = console.identity.user
    params = {"matchers": [param(m) for m in silence_matchers_for(a)], "duration": "2h", "comment": COMMENT,
              "alertmanagers": list(a.origins)}  # what the silence form sends
    target = Target("Alert", a.namespace, a.name)
    before = {s.id for s in am.silences()}
    with pytest.raises(NeedsConfirmation) as ask:
        console.actions.run("silence.create", target, params=params)
    assert ask.value.call.startswith(f"POST {alertmanager_service.url}/api/v2/silences ")
    assert f'"createdBy":"{user}"' in ask.value.call and {s.id for s in am.silences()} == before

    asked = wall()
    res = console.actions.run("silence.create", target, params=params, confirmed=True)
    assert res.ok, res.message
    (sid,) = res.details["silence_ids"].values()
    s = next(s for s in am.silences() if s.id == sid)
    assert (s.state, s.created_by, s.comment) == ("active", user, COMMENT)
    assert [str(m) for m in s.matchers] == [str(m) for m in silence_matchers_for(a)]
    assert abs((s.ends - asked - timedelta(hours=2)).total_seconds()) < 5  # two hours on the wall clock
    assert abs((s.starts - asked).total_seconds()) < 5

    def shown() -> Alert:
        return console.alert("GpuHeld", exported_pod=g.pod)
    wait_until(lambda: shown().state == AlertState.SILENCED, timeout=10, what="the alert silenced in the console")
    assert shown().silenced_by == (sid,)
    assert any(x.id == sid and x.created_by == user for x in console.state.silences())
    silenced = [e for e in console.timeline.history(key=a.key) if e.event == "silenced"]
    assert [(e.by, e.note, e.state) for e in silenced] == [(user, COMMENT, "silenced")]
    b, after = console.records("silence.create")
    assert (b.phase, after.phase, after.outcome, after.user) == ("before", "after", "ok", user)
    assert sid in after.message and after.params["comment"] == COMMENT

    # expire it, as E on the alerts screen does
    res = console.actions.run("silence.expire", Target("Silence", a.namespace, sid),
                              params={"silence_id": sid, "alertmanager": a.origins[0]}, confirmed=True)
    assert res.ok, res.message
    assert next(x for x in am.silences() if x.id == sid).state == "expired"
    wait_until(lambda: shown().state == AlertState.FIRING and shown().silenced_by == (), timeout=10,
               what="the alert firing again in the console")
    assert [e.event for e in console.timeline.history(key=a.key)][-2:] == ["silenced", "unsilenced"]
    b, after = console.records("silence.expire")
    assert (b.phase, after.phase, after.outcome) == ("before", "after", "ok")
    assert after.params == {"silence_id": sid, "alertmanager": a.origins[0]}


def test_the_prefilled_silence_mutes_that_gpus_alert_only(console, gpus):
    mine, *others = held_by(gpus, RISK_NS)
    assert others  # the same node's other held GPUs: they must keep firing
    a = console.alert("GpuHeld", exported_pod=mine.pod)
    params = {"matchers": [param(m) for m in silence_matchers_for(a)], "duration": "30m", "comment": COMMENT,
              "alertmanagers": list(a.origins)}
    res = console.actions.run("silence.create", Target("Alert", a.namespace, a.name), params=params, confirmed=True)
    assert res.ok, res.message
    (sid,) = res.details["silence_ids"].values()
    try:
        wait_until(lambda: console.alert("GpuHeld", exported_pod=mine.pod).state == AlertState.SILENCED,
                   timeout=10, what="the alert silenced")
        assert {g.pod: console.alert("GpuHeld", exported_pod=g.pod).state for g in others} == {
            g.pod: AlertState.FIRING for g in others}
    finally:
        console.actions.run("silence.expire", Target("Silence", a.namespace, sid), params={"silence_id": sid},
                            confirmed=True)


def test_read_only_refuses_the_silence_and_nothing_reaches_alertmanager(console, alertmanager_service, gpus):
    a = console.alert("GpuHeld", exported_pod=held_by(gpus, RISK_NS)[0].pod)
    am = Alertmanager(alertmanager_service.url, name="check")
    console.closing.append(am)
    before = [(s.id, s.state) for s in am.silences()]
    # a read-only context: its backend, its Alertmanagers (app.alerts_poller(read_only=True)) and the registry
    backend = Kubernetes.from_kubeconfig(console.kubeconfig, CONTEXTS["admin"], read_only=True)
    console.closing.append(backend)
    locked = AlertmanagerSet([Alertmanager(u.url, read_only=True) for u in console.ams])
    console.closing.extend(locked)
    acts = console.registry(backend, locked, read_only=True)
    console.closing.append(acts)
    params = {"matchers": [param(m) for m in silence_matchers_for(a)], "duration": "2h", "comment": COMMENT}
    n = len(console.records("silence.create"))
    with pytest.raises(ReadOnly):
        acts.run("silence.create", Target("Alert", a.namespace, a.name), params=params, confirmed=True)
    refused = console.records("silence.create")[n:]
    assert [(r.phase, r.outcome, r.message) for r in refused] == [("refused", "refused", "read-only mode")]
    assert [(s.id, s.state) for s in am.silences()] == before

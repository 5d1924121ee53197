"""`prophecis-tui alerts history|list`: the timeline as a table, JSON lines, and a handover note that reads well."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from prophecis_tui.cli import main
from prophecis_tui.domain import Alert, AlertState, Silence, SilenceMatcher, SystemTag
from prophecis_tui.store import AlertTimeline

FRAUD = SystemTag(id="BS1002", name="反欺诈交易评分", tier=1)
CARD = SystemTag(id="BS1001", name="信用评分卡", tier=2)
POOL = SystemTag(id="BS9002", name="GPU训练资源池")


def alert(key: str, name: str, severity: str, systems=(), state=AlertState.FIRING, **kw) -> Alert:
    return Alert(key=key, source="alertmanager", name=name, severity=severity, state=state, systems=systems,
                 origins=("am",), **kw)


SDEP = alert("am:sdep", "SeldonDeploymentUnavailable", "critical", (FRAUD,), namespace="ns-antifraud-txn",
             target_kind="SeldonDeployment", target_name="fraud-xgb-svc-1",
             summary="SeldonDeployment fraud-xgb-svc-1 has 0 of 2 replicas available")
CRASH = alert("am:crash", "KubePodCrashLooping", "warning", (CARD,), namespace="ns-risk-scorecard",
              target_kind="Pod", target_name="scorer-0", summary="scorer-0 restarted 5 times")
HOT = alert("am:hot", "GPUHighTemperature", "warning", (POOL, FRAUD), target_kind="Node", target_name="gpua100-0001",
            node="gpua100-0001", summary="GPU 7 on gpua100-0001 at 88C")
WATCHDOG = alert("am:wd", "Watchdog", "info", summary="the alerting pipeline works")
OLD = alert("am:old", "KubeContainerWaiting", "warning", (CARD,), namespace="ns-risk-scorecard",
            target_kind="Pod", target_name="etl-0")


@pytest.fixture
def db(tmp_path):
    """A timeline of the last 20 hours (times relative to now: the command reads --since back from now)."""
    path = tmp_path / "alerts.db"
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=20)
    at = {"now": start}
    t = AlertTimeline(path, clock=lambda: at["now"])

    def go(hours: float, alerts, **kw):
        at["now"] = start + timedelta(hours=hours)
        return t.observe(alerts, **kw)

    go(0, [OLD])  # 20 h ago: firing since before a 12 h window
    go(9, [OLD, CRASH])  # 11 h ago
    go(10, [OLD, CRASH, SDEP, HOT, WATCHDOG])  # 10 h ago
    at["now"] = start + timedelta(hours=10, minutes=5)
    t.ack("am:sdep", "alice", "OPS-4711 rolling back to v2", SDEP)
    silence = Silence(id="s-77", matchers=(SilenceMatcher(name="alertname", value="Watchdog"),), created_by="bob",
                      comment="INC0042 pipeline upgrade")
    go(10.25, [OLD, CRASH, SDEP.model_copy(update={"state": AlertState.ACKED}), HOT,
               WATCHDOG.model_copy(update={"state": AlertState.SILENCED, "silenced_by": ("s-77",)})],
       silences={"s-77": silence})
    go(12, [OLD, SDEP, HOT, WATCHDOG.model_copy(update={"state": AlertState.SILENCED})])  # crash resolved
    go(14, [OLD, HOT, WATCHDOG.model_copy(update={"state": AlertState.SILENCED})])  # sdep resolved
    t.close()
    return path, start


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["alerts", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_history_as_json_lines(db, capsys):
    path, start = db
    code, out, _ = run(capsys, "history", "--since", "12h", "--json", "--db", str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["event"], r["name"]) for r in rows] == [
        ("fired", "KubePodCrashLooping"), ("fired", "SeldonDeploymentUnavailable"), ("fired", "GPUHighTemperature"),
        ("fired", "Watchdog"), ("acked", "SeldonDeploymentUnavailable"), ("silenced", "Watchdog"),
        ("resolved", "KubePodCrashLooping"), ("resolved", "SeldonDeploymentUnavailable")]
    acked = rows[4]
    assert (acked["by"], acked["note"], acked["state"]) == ("alice", "OPS-4711 rolling back to v2", "acked")
    assert acked["systems"] == [{"id": "BS1002", "name": "反欺诈交易评分", "tier": 1}]
    assert datetime.fromisoformat(acked["at"].replace("Z", "+00:00")) == start + timedelta(hours=10, minutes=5)


def test_history_as_a_table_and_for_one_system(db, capsys):
    path, _ = db
    code, out, _ = run(capsys, "history", "--since", "12h", "--db", str(path), "--system", "信用")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["AT", "(UTC)", "EVENT", "SEVERITY", "BUSINESS", "SYSTEM", "ALERT",
                                              "TARGET", "BY", "NOTE"]
    assert len(lines) == 3 and "fired" in lines[1] and "resolved" in lines[2]
    assert "信用评分卡 (T2)" in lines[1] and "Pod ns-risk-scorecard/scorer-0" in lines[1]
    _, out, _ = run(capsys, "history", "--since", "12h", "--db", str(path), "--system", "untagged", "--json")
    assert {json.loads(x)["name"] for x in out.splitlines()} == {"Watchdog"}


def test_the_handover_note_reads_well(db, capsys):
    path, start = db
    code, out, _ = run(capsys, "history", "--since", "12h", "--md", "--db", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("# Alert handover: ") and lines[0].endswith(" UTC (12h)")
    assert lines[2:5] == ["- Fired in the period: 4 (1 critical, 2 warning, 1 info)",
                          "- Still firing at the end: 3 (2 warning, 1 info)",
                          "- Resolved in the period: 2"]
    sections = [ln for ln in lines if ln.startswith("## ")]
    assert sections == ["## 反欺诈交易评分 (BS1002, tier 1)", "## 信用评分卡 (BS1001, tier 2)", "## GPU训练资源池 (BS9002)",
                        "## Untagged (no business system)"]  # tier first, untagged last
    text = "\n".join(lines)
    fraud = text.split("## 反欺诈交易评分")[1].split("## ")[0]
    # still firing first, then the resolved; with who acked and why, and how long it lasted
    assert fraud.index("GPUHighTemperature") < fraud.index("SeldonDeploymentUnavailable")
    one_day = (start + timedelta(hours=8)).date() == (start + timedelta(hours=20, seconds=-1)).date()
    hm = lambda h, m=0: (start + timedelta(hours=h, minutes=m)).strftime(  # noqa: E731
        "%H:%M" if one_day else "%m-%d %H:%M")
    assert ("- **critical** SeldonDeploymentUnavailable on SeldonDeployment ns-antifraud-txn/fraud-xgb-svc-1: "
            "resolved") in fraud
    assert (f"  fired {hm(10)}; acked {hm(10, 5)} by alice (\"OPS-4711 rolling back to v2\"); resolved {hm(14)}; "
            "lasted 4h") in fraud
    assert "  > SeldonDeployment fraud-xgb-svc-1 has 0 of 2 replicas available" in fraud
    assert "- **warning** GPUHighTemperature on Node gpua100-0001: **still firing**" in fraud
    card = text.split("## 信用评分卡")[1].split("## ")[0]
    assert "- **warning** KubeContainerWaiting on Pod ns-risk-scorecard/etl-0: **still firing**" in card
    assert f"  firing since before {hm(8)} (fired " in card  # it fired before the period began
    untagged = text.split("## Untagged")[1]
    assert "- **info** Watchdog: **still firing** (silenced)" in untagged
    assert f'silenced {hm(10, 15)} by bob ("INC0042 pipeline upgrade")' in untagged
    assert "\x1b" not in out


def test_the_handover_note_of_a_quiet_period(db, capsys):
    path, _ = db
    _, out, _ = run(capsys, "history", "--since", "30d", "--until", "25h", "--md", "--db", str(path))
    assert "- Fired in the period: 0" in out and "No alerts in this period." in out


def test_list_shows_what_is_still_firing(db, capsys):
    path, _ = db
    code, out, _ = run(capsys, "list", "--db", str(path))
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["SEVERITY", "STATE", "SINCE"]
    names = [ln.split()[-3] if "Node" in ln else ln for ln in lines[1:]]
    assert len(lines) == 4 and any("KubeContainerWaiting" in n for n in names)
    assert lines[-1].split()[:2] == ["info", "silenced"] and "Watchdog" in lines[-1]  # the worst first
    code, out, _ = run(capsys, "list", "--db", str(path), "--json", "--all")
    assert {a["name"] for a in json.loads(out)} == {"KubeContainerWaiting", "KubePodCrashLooping", "GPUHighTemperature",
                                                    "SeldonDeploymentUnavailable", "Watchdog"}


def test_no_timeline_yet_and_bad_times(tmp_path, capsys):
    code, out, err = run(capsys, "history", "--db", str(tmp_path / "none.db"))
    assert code == 0 and out == "" and "no alert timeline yet" in err
    code, _, err = run(capsys, "history", "--since", "yesterday", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "'yesterday' is neither a duration (12h, 2d, 30m) nor a time" in err
    code, _, err = run(capsys, "history", "--since", "1h", "--until", "2h", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "--until must be after --since" in err


def test_the_handover_says_one_condition_once_and_gathers_a_jobs_replicas(tmp_path, capsys):
    """What the screen folds (one condition of one target from several sources) the note says once, and one alert on
    many replicas of one job is one entry naming them; the first moment is when the alert started, not when the
    console first saw it."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    t = AlertTimeline(tmp_path / "alerts.db", clock=lambda: now)
    waiting = [alert(f"am:w{i}", "KubeContainerWaiting", "warning", (CARD,), namespace="ns-risk-scorecard",
                     target_kind="Pod", target_name=f"limit-dnn-5592-worker-{i}", starts=now - timedelta(minutes=54),
                     summary=f"worker-{i} has waited for over 10 minutes") for i in (10, 2, 1)]
    pulled = Alert(key="ev:ns-risk-scorecard/Pod/limit-dnn-5592-worker-1/Failed", source="events", name="Failed",
                   severity="warning", systems=(CARD,), namespace="ns-risk-scorecard", target_kind="Pod",
                   target_name="limit-dnn-5592-worker-1", summary='Failed to pull image "x:1"', count=21)
    quota_am = alert("am:q", "GPUQuotaNearlyExhausted", "warning", (CARD,), namespace="ns-risk-scorecard",
                     target_kind="Namespace", target_name="ns-risk-scorecard", summary="94% of the GPU quota")
    quota_rule = Alert(key="rule:GpuQuotaHigh/ns-risk-scorecard/Namespace/ns-risk-scorecard", source="platform",
                       name="GpuQuotaHigh", severity="warning", systems=(CARD,), namespace="ns-risk-scorecard",
                       target_kind="Namespace", target_name="ns-risk-scorecard", summary="15 of 16 GPUs")
    t.observe([*waiting, pulled, quota_am, quota_rule])
    t.close()
    code, out, _ = run(capsys, "history", "--since", "2h", "--md", "--db", str(tmp_path / "alerts.db"))
    assert code == 0
    assert "- Fired in the period: 4 (4 warning)" in out  # three replicas' alerts and the quota's, not 6
    # times within one day are HH:MM, across midnight (a run between 22:00 and 02:00 UTC) MM-DD HH:MM
    since_day, until_day = re.match(r"# Alert handover: (\S+) \S+ to (\S+) ", out).groups()
    started = (now - timedelta(minutes=54)).strftime("%H:%M" if since_day == until_day else "%m-%d %H:%M")
    assert ("- **warning** KubeContainerWaiting on 3 pods of ns-risk-scorecard/limit-dnn-5592 "
            "(worker-1, worker-2, worker-10): **still firing**") in out
    assert f"  fired {started}\n  also seen as Failed (events)\n" in out
    assert "- **warning** GPUQuotaNearlyExhausted on Namespace ns-risk-scorecard: **still firing**" in out
    assert "also seen as GpuQuotaHigh (platform)" in out
    assert "GpuQuotaHigh on" not in out and "Failed on" not in out

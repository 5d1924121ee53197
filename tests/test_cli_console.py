"""The console's command line: one clear line and a non-zero exit for every failure; `status`; `--demo`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import START
from prophecis_tui.simulator.testing import SimThread



def run(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("PROPHECIS_TUI_CONFIG", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "prophecis_tui", *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def one_line_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with SimThread(scale="small", seed=7, speed=0.0, start_time=START) as t:
        d = tmp_path_factory.mktemp("cli")
        yield t, t.write_config(d)


@pytest.fixture
def home(tmp_path) -> dict:
    """A clean HOME and XDG dirs: no stray kubeconfig or config file."""
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "KUBECONFIG": ""}


def test_missing_kubeconfig(home, tmp_path):
    msg = one_line_error(run("status", "--kubeconfig", str(tmp_path / "nope"), env=home))
    assert "kubeconfig not found" in msg and "nope" in msg


def test_invalid_kubeconfig(home, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("apiVersion: v1\nclusters: [unclosed\n")
    msg = one_line_error(run("status", "--kubeconfig", str(bad), env=home))
    assert str(bad) in msg and "invalid" in msg


def test_unknown_context_lists_the_available_ones(home, cluster):
    _, kc = cluster
    msg = one_line_error(run("status", "--kubeconfig", str(kc), "--context", "prod", env=home))
    assert "prod" in msg and "sim-admin" in msg


def test_unreachable_api_server_names_the_url(home, cluster, tmp_path):
    _, kc = cluster
    cfg = yaml.safe_load(Path(kc).read_text())
    cfg["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    dead = tmp_path / "dead"
    dead.write_text(yaml.safe_dump(cfg))
    msg = one_line_error(run("status", "--kubeconfig", str(dead), env=home))
    assert "127.0.0.1:9" in msg


def test_rejected_credentials_do_not_show_the_token(home, cluster, tmp_path):
    _, kc = cluster
    cfg = yaml.safe_load(Path(kc).read_text())
    for u in cfg["users"]:
        u["user"]["token"] = "sim-admin-0000000000000000secret"
    bad = tmp_path / "badtoken"
    bad.write_text(yaml.safe_dump(cfg))
    p = run("status", "--kubeconfig", str(bad), env=home)
    msg = one_line_error(p)
    assert "0000000000000000secret" not in p.stderr + p.stdout
    assert "credentials" in msg.lower() or "unauthorized" in msg.lower()


def test_bad_config_file_names_file_and_line(home, cluster, tmp_path):
    _, kc = cluster
    cfg = tmp_path / "config.toml"
    cfg.write_text('read_only = true\nrefresh_seconds = "fast"\n[ui\n')
    msg = one_line_error(run("status", "--kubeconfig", str(kc), "--config", str(cfg), env=home))
    assert str(cfg) in msg and "line" in msg


def test_status_json_summarises_the_cluster(home, cluster):
    t, kc = cluster
    p = run("status", "--kubeconfig", str(kc), "--json", env=home)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["user"] == "mlss-admin" and report["sources"]["kubernetes"]["state"] == "live"
    assert {n["namespace"] for n in report["namespaces"]} == {x.name for x in t.sim.world.tenants}
    assert report["cluster_gpus"]["allocatable"] == 64
    assert all(set(n["jobs"]) == {"pending", "running", "restarting", "succeeded", "failed"}
               for n in report["namespaces"])


def test_status_as_group_admin_covers_its_namespaces_only(home, cluster):
    t, kc = cluster
    p = run("status", "--kubeconfig", str(kc), "--context", "sim-group-admin", "--json", env=home)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert {n["namespace"] for n in report["namespaces"]} == set(t.sim.identity("group-admin").namespaces)


def test_status_text_and_no_textual_import(home, cluster):
    _, kc = cluster
    code = ("import sys; from prophecis_tui.cli import main; rc = main(['status', '--kubeconfig', %r]); "
            "print('TEXTUAL' if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) else 'NONE'); "
            "sys.exit(rc)" % str(kc))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **home})
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("NONE")
    assert "NAMESPACE" in p.stdout and "cluster GPUs" in p.stdout


def test_version_and_help():
    p = run("version")
    assert p.returncode == 0 and p.stdout.startswith("prophecis-tui ")
    p = run("--help")
    assert p.returncode == 0 and "--demo" in p.stdout and "status" in p.stdout
    p = run("status", "--help")
    assert p.returncode == 0 and "--json" in p.stdout


def test_demo_simulator_dies_with_the_console(tmp_path, home):
    """`--demo`'s child simulator stops when the console is killed outright (SIGKILL)."""
    code = ("from prophecis_tui.cli import DemoSimulator; import time, sys; d = DemoSimulator('tiny'); "
            "d.start(); print(d.proc.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, **home})
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 15
    while alive(child):
        if time.monotonic() > deadline:
            pytest.fail("the demo simulator outlived the console")
        time.sleep(0.1)


@pytest.mark.parametrize("when", ["before its first screen", "on its live screen"])
def test_a_console_whose_terminal_goes_away_leaves_without_a_sighup(home, tmp_path, when):
    """An SSH session can drop without a SIGHUP reaching us (the pty closed under a multiplexer): the console
    must notice, stop its demo simulator and exit, not spin for ever on the dead terminal."""
    import pty
    import select as sel

    master, slave = pty.openpty()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, **home, "TERM": "xterm-256color", "TMPDIR": str(tmp), "XDG_DATA_HOME": str(tmp_path / "d")}
    env.pop("PROPHECIS_TUI_CONFIG", None)
    p = subprocess.Popen([sys.executable, "-m", "prophecis_tui", "--demo"], stdin=slave, stdout=slave,
                         stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        if when == "on its live screen":
            seen, deadline = b"", time.monotonic() + 60
            while b"ns-" not in seen:  # a namespace row: the overview with data
                assert time.monotonic() < deadline, "the console never showed live data"
                if sel.select([master], [], [], 1.0)[0]:
                    seen = (seen + os.read(master, 65536))[-20000:]
        else:
            sel.select([master], [], [], 0.3)  # the demo simulator is still starting
        os.close(master)
        master = -1
        assert p.wait(30) == 129
        assert list(tmp.glob("prophecis-demo-*")) == []  # the demo simulator was stopped, its files removed
    finally:
        if master >= 0:
            os.close(master)
        if p.poll() is None:
            p.kill()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def test_status_demo_starts_and_stops_its_simulator(home):
    p = run("status", "--demo", "--json", env=home, timeout=120)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["context"] == "sim-admin" and len(report["namespaces"]) == 6


def test_audit_exports_what_the_registry_wrote(tmp_path, home):
    from prophecis_tui.store import AuditLog
    data = tmp_path / "data"
    log = AuditLog(data / "prophecis-tui" / "audit.db")
    for phase, outcome in (("before", "started"), ("after", "ok")):
        log.write(action_id="a1", phase=phase, user="lihua", context="sim-group-admin", cluster="prophecis-sim",
                  namespace="ns-risk-scorecard", action="notebook.stop", target="Notebook/ns-risk-scorecard/nb",
                  params={"at": "2026-11-29T10:00:00Z"}, reason="", outcome=outcome)
    log.close()
    env = {**home, "XDG_DATA_HOME": str(data)}
    p = run("audit", "--json", env=env)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [(r["phase"], r["outcome"], r["user"]) for r in rows] == [("before", "started", "lihua"),
                                                                      ("after", "ok", "lihua")]
    p = run("audit", env=env)
    assert "notebook.stop Notebook/ns-risk-scorecard/nb" in p.stdout
    p = run("audit", "--since", "2999-01-01", env=env)
    assert p.returncode == 0 and p.stdout == ""

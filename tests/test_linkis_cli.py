"""`prophecis-tui linkis` end to end against the simulator's Linkis gateway: run prints only the result on stdout
(CSV or JSON, several result sets) and its progress on stderr, a failing query's errCode and ERROR log on stderr
with exit 1, --timeout and Ctrl-C kill the task (124, 130), status/logs/result/kill (kill audited), read-only and
the gateway's own refusals, no gateway (3), usage (2), a pipeline (`| head`), and the token never printed."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prophecis_tui import cli as cli_module
from prophecis_tui.cli import _Progress, linkis_client, main
from prophecis_tui.config import load_settings
from prophecis_tui.domain import LinkisState, LinkisSubmit
from prophecis_tui.simulator.testing import SimThread
from prophecis_tui.store import AuditLog

from .conftest import wait_until

ROOT = Path(__file__).resolve().parent.parent
LONG = "select * from risk.events -- long_running"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A simulator whose clock runs 10x real time (a Spark query ends in about a second), and its written
    config (the [linkis] gateway, mlss-admin with the token file)."""
    d = tmp_path_factory.mktemp("linkis-cli")
    with SimThread(scale="tiny", seed=7, speed=10.0) as t:
        t.write_config(d / "sim")
        yield t, d / "sim" / "config.toml"


@pytest.fixture
def env(gateway, tmp_path, monkeypatch):
    """The written config for the CLI, a fresh data dir (the audit log), a quick poll."""
    _, cfg = gateway
    for k in [k for k in os.environ if k.startswith("PROPHECIS_TUI_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("PROPHECIS_TUI_CONFIG", str(cfg))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(cli_module, "LINKIS_POLL_SECONDS", 0.2)
    return {**os.environ, "PROPHECIS_TUI_CONFIG": str(cfg), "XDG_DATA_HOME": str(tmp_path / "xdg")}


def linkis(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["linkis", *args])
    out, err = capsys.readouterr()
    return code, out, err


def sync_for(cfg: Path, context: str | None = None):
    return linkis_client(load_settings(cfg).for_context(context).linkis)


def audit(env) -> list:
    log = AuditLog(Path(env["XDG_DATA_HOME"]) / "prophecis-tui" / "audit.db")
    try:
        return log.records()
    finally:
        log.close()


def submitted_id(err: str) -> int:
    line = next(ln for ln in err.splitlines() if "submitted" in ln)
    return int(line.split()[1])


def run_args(code: str, *more: str, engine: str = "spark-2.4.3", run_type: str = "sql") -> list[str]:
    return ["run", "--engine", engine, "--run-type", run_type, "--code", code, *more]


# ------------------------------------------------------------------------------------------------- run
def test_run_prints_only_the_result_as_csv(env, capsys):
    code, out, err = linkis(capsys, *run_args("select * from risk.loans limit 5"))
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert len(rows) == 6 and rows[0][0] == "id"  # the header, then the five rows
    assert "task" not in out and "%" not in out
    task = submitted_id(err)
    lines = err.splitlines()
    assert lines[0] == f"task {task} submitted (spark-2.4.3, sql)"
    assert lines[-1] == f"task {task} Succeed 100%"
    assert all(ln.startswith(f"task {task} ") for ln in lines)
    assert len(lines) == len(set(lines))  # a line only when something changed


def test_run_json_and_several_result_sets(env, capsys):
    code, out, err = linkis(capsys, *run_args("select * from a limit 2; select * from b limit 3", "--output", "json"))
    assert code == 0, err
    sets = json.loads(out)
    assert [len(s) for s in sets] == [2, 3] and all(isinstance(r, dict) for s in sets for r in s)
    code, out, err = linkis(capsys, *run_args("select * from a limit 2; select * from b limit 3"))
    assert code == 0, err
    first, second = out.strip("\n").split("\n\n")
    assert len(list(csv.reader(io.StringIO(first)))) == 3 and len(list(csv.reader(io.StringIO(second)))) == 4


def test_run_code_from_a_file_and_stdin_with_variables(env, capsys, tmp_path, monkeypatch):
    f = tmp_path / "q.sql"
    f.write_text("select * from ${table} limit 2\n", encoding="utf-8")
    code, out, err = linkis(capsys, "run", "--engine", "spark-2.4.3", "--run-type", "sql", "--file", str(f),
                            "--var", "table=risk.loans", "--queue", "root.ml", "--output", "json")
    assert code == 0, err
    assert len(json.loads(out)) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("print('hello from python')\n"))
    code, out, err = linkis(capsys, "run", "--engine", "python-python2", "--run-type", "python", "--file", "-")
    assert code == 0, err
    assert "hello from python" in out


def test_failing_query_exits_1_with_errcode_and_error_log(env, capsys):
    code, out, err = linkis(capsys, *run_args("select * from missing_table", engine="hive-2.3.3", run_type="hql"))
    assert code == 1 and out == ""
    task = submitted_id(err)
    assert f"task {task} Failed: errCode 40000: " in err and "Table not found" in err
    assert any("ERROR" in ln for ln in err.splitlines()[-3:])
    # status, logs and result of the failed task
    code, out, _ = linkis(capsys, "status", str(task))
    assert code == 0 and out.startswith(f"task {task} Failed ") and "errCode 40000" in out
    code, out, _ = linkis(capsys, "status", str(task), "--json")
    doc = json.loads(out)
    assert doc["task_id"] == task and doc["state"] == "Failed" and doc["err_code"] == 40000
    code, out, _ = linkis(capsys, "logs", str(task), "--level", "error")
    assert code == 0 and out and all("ERROR" in ln for ln in out.splitlines())
    code, out_all, _ = linkis(capsys, "logs", str(task))
    assert len(out_all.splitlines()) > len(out.splitlines())
    code, out, err = linkis(capsys, "result", str(task))
    assert code == 1 and out == "" and "Failed: no result" in err


def test_status_and_result_of_a_finished_task(env, capsys):
    code, first, err = linkis(capsys, *run_args("select * from risk.loans limit 4"))
    task = submitted_id(err)
    code, out, _ = linkis(capsys, "result", str(task))
    assert code == 0 and out == first
    code, out, _ = linkis(capsys, "result", str(task), "--output", "json")
    assert len(json.loads(out)) == 4
    code, out, _ = linkis(capsys, "status", str(task))
    assert code == 0 and f"task {task} Succeed 100% spark" in out and "creator=IDE" in out


def test_timeout_kills_the_task_and_exits_124(env, gateway, capsys):
    code, out, err = linkis(capsys, *run_args(LONG, "--timeout", "1"))
    assert code == 124 and out == ""
    task = submitted_id(err)
    assert f"task {task}: killed (--timeout 1s passed)" in err
    kills = [r for r in audit(env) if r.action == "linkis.kill"]
    assert [(r.phase, r.outcome) for r in kills] == [("before", "started"), ("after", "ok")]
    assert kills[0].target == f"LinkisTask//{task}" and "--timeout" in kills[0].reason
    sync = sync_for(gateway[1])
    try:
        wait_until(lambda: sync.task(task).state == LinkisState.CANCELLED, 20, "the task cancelled")
    finally:
        sync.close()


def test_kill_through_the_cli_is_audited(env, gateway, capsys):
    sync = sync_for(gateway[1])
    try:
        task, _ = sync.submit(LinkisSubmit(code=LONG, run_type="sql", engine="spark-2.4.3"))
        code, out, err = linkis(capsys, "kill", str(task), "--reason", "OPS-7 runaway query")
        assert code == 0, err
        assert f"task {task}: kill sent" in out
        rows = [r for r in audit(env) if r.action == "linkis.kill"]
        assert rows[-1].phase == "after" and rows[-1].outcome == "ok" and rows[-1].reason == "OPS-7 runaway query"
        assert rows[-1].user == "mlss-admin" and rows[-1].params.get("exec_id")
        wait_until(lambda: sync.task(task).state == LinkisState.CANCELLED, 20, "the task cancelled")
        code, out, err = linkis(capsys, "kill", str(task))
        assert code == 1 and "already ended (Cancelled)" in err
    finally:
        sync.close()


# ---------------------------------------------------------------------------------------------- refusals
def test_read_only_refuses_run_and_kill(env, capsys):
    code, out, err = linkis(capsys, "run", "--read-only", "--engine", "spark-2.4.3", "--run-type", "sql",
                            "--code", "select 1")
    assert code == 4 and out == "" and "refused in read-only mode (--read-only)" in err
    code, out, err = linkis(capsys, "kill", "--read-only", "123")
    assert code == 4 and "read-only" in err
    # the simulator's viewer context is read-only in the written config
    code, out, err = linkis(capsys, *run_args("select 1", "--context", "sim-viewer"))
    assert code == 4 and "context sim-viewer is read-only" in err
    assert not [r for r in audit(env) if r.outcome in ("started", "ok")]  # nothing was sent


def test_the_gateway_refuses_the_viewer(env, gateway, capsys, tmp_path, monkeypatch):
    cfg = tmp_path / "viewer.toml"
    cfg.write_text(gateway[1].read_text() + '\n[contexts.viewer-rw.linkis]\nuser = "opsview"\n', encoding="utf-8")
    monkeypatch.setenv("PROPHECIS_TUI_CONFIG", str(cfg))
    code, out, err = linkis(capsys, *run_args("select 1", "--context", "viewer-rw"))
    assert code == 1 and out == ""
    assert "13001" in err and "permission" in err.lower()
    rows = [r for r in audit(env) if r.action == "linkis.submit"]
    assert rows[-1].outcome == "error" and rows[-1].user == "opsview"


def test_no_gateway_configured_exits_3(env, capsys, tmp_path, monkeypatch):
    cfg = tmp_path / "empty.toml"
    cfg.write_text("", encoding="utf-8")
    monkeypatch.setenv("PROPHECIS_TUI_CONFIG", str(cfg))
    code, out, err = linkis(capsys, "status", "1")
    assert code == 3 and "no Linkis gateway configured ([linkis] url" in err and "token" in err


def test_unreachable_gateway_and_bad_token_exit_3(env, gateway, capsys, tmp_path, monkeypatch):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "down.toml"
    cfg.write_text(f'[linkis]\nurl = "http://127.0.0.1:{port}"\nuser = "hadoop"\n', encoding="utf-8")
    monkeypatch.setenv("PROPHECIS_TUI_CONFIG", str(cfg))
    monkeypatch.setenv("PROPHECIS_TUI_LINKIS__TOKEN", "tok")
    code, out, err = linkis(capsys, *run_args("select 1"))
    assert code == 3 and "cannot connect" in err
    monkeypatch.setenv("PROPHECIS_TUI_CONFIG", str(gateway[1]))
    monkeypatch.setenv("PROPHECIS_TUI_LINKIS__TOKEN", "PROPHECIS-not-the-token-0000")
    code, out, err = linkis(capsys, "status", "1")
    assert code == 3 and "PROPHECIS-not-the-token-0000" not in out + err


def test_usage_errors_exit_2(env, capsys):
    assert linkis(capsys, *run_args("select 1", "--var", "novalue"))[0] == 2
    assert linkis(capsys, *run_args("   "))[0] == 2
    code, _, err = linkis(capsys, *run_args("select 1", engine="spark", run_type="sql"))
    assert code == 2 and "<engine>-<version>" in err
    assert linkis(capsys, "status", "abc")[0] == 2
    with pytest.raises(SystemExit) as e:
        main(["linkis", "run", "--run-type", "sql", "--code", "select 1"])  # no --engine
    assert e.value.code == 2
    capsys.readouterr()


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["linkis", "run", "--help"])
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "124", "130"):
        assert f"  {code}" in out


def test_the_token_is_never_printed(env, gateway, capsys, monkeypatch):
    token = (gateway[1].parent / "linkis-token").read_text().strip()
    monkeypatch.setenv("PROPHECIS_TUI_LINKIS__TOKEN", token)
    seen = []
    for args in (run_args("select * from t limit 2"), run_args("select * from missing_x"),
                 run_args(LONG, "--timeout", "0.5")):
        code, out, err = linkis(capsys, *args)
        seen.append(out + err)
        task = submitted_id(err)
        for more in (["status", str(task), "--json"], ["logs", str(task)]):
            seen.append("".join(linkis(capsys, *more)[1:]))
    text = "\n".join(seen)
    assert "Succeed" in text and "Failed" in text and token not in text
    assert all(token not in json.dumps(r.__dict__) for r in audit(env))


# ---------------------------------------------------------------------------------------------- processes
def test_a_pipeline_takes_the_first_lines(env):
    cmd = (f"{sys.executable} -m prophecis_tui linkis run --engine spark-2.4.3 --run-type sql "
           f"--code 'select * from risk.events limit 3000' --output csv | head -n 3")
    r = subprocess.run(["sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert len(rows) == 3 and rows[0][0] == "id"
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr
    assert "Succeed 100%" in r.stderr


def _interruptible() -> None:
    """In the child before it runs: Ctrl-C as a terminal delivers it, whatever the test worker's own disposition or
    mask (twice in a loaded CI run the command went on polling after the SIGINT, as if it never came)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_kills_the_task_and_exits_130(env, gateway):
    p = subprocess.Popen([sys.executable, "-m", "prophecis_tui", "linkis", *run_args(LONG)], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible)
    try:
        lines = []
        while True:  # until it has shown the task running
            line = p.stderr.readline()
            assert line, "the command ended early: " + "".join(lines)
            lines.append(line)
            if " Running " in line:
                break
        p.send_signal(signal.SIGINT)
        out, rest = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    err = "".join(lines) + rest
    task = submitted_id(err)
    assert p.returncode == 130 and out == ""
    assert f"task {task}: killed (interrupted (Ctrl-C))" in err and "Traceback" not in err
    sync = sync_for(gateway[1])
    try:
        wait_until(lambda: sync.task(task).state == LinkisState.CANCELLED, 20, "the task cancelled")
    finally:
        sync.close()


# ---------------------------------------------------------------------------------------------- progress
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise():
    tty = _Tty()
    p = _Progress(tty)
    started = time.monotonic()
    for pct in (0.0, 0.1, 0.1, 0.5):
        p.show(7, "Running", pct, started)
    p.end()
    text = tty.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and "50%" in text and "█" in text
    plain = io.StringIO()
    p = _Progress(plain)
    for pct in (0.0, 0.1, 0.1, 0.5):
        p.show(7, "Running", pct, started)
    p.show(7, "Succeed", 1.0, started)
    assert plain.getvalue().splitlines() == ["task 7 Running 0%", "task 7 Running 10%", "task 7 Running 50%",
                                             "task 7 Succeed 100%"]


# ---------------------------------------------------------------------------------------------- composition
def test_linkis_backend_for_a_session(gateway):
    """What the console's connect() builds: none without a url (and why), the demo's gateway from its folder with
    the context's user, read-only passed down to the client; the poller fills the state; stop closes both."""
    from prophecis_tui.app import Session, linkis_poller
    from prophecis_tui.cli import linkis_backend
    from prophecis_tui.config import LinkisSettings
    from prophecis_tui.domain import ReadOnly
    from prophecis_tui.state import State

    sync, note = linkis_backend(LinkisSettings())
    assert sync is None and note.startswith("no Linkis gateway configured ([linkis] url)")
    assert linkis_poller(LinkisSettings(), State(), None) is None

    demo_dir = str(gateway[1].parent)
    viewer, note = linkis_backend(LinkisSettings(), demo_dir, True, context="sim-viewer")
    try:
        assert note == "" and viewer.user == "opsview" and viewer.read_only
        with pytest.raises(ReadOnly):
            viewer.submit(LinkisSubmit(code="select 1", run_type="sql", engine="spark-2.4.3"))
    finally:
        viewer.close()

    sync, note = linkis_backend(LinkisSettings(), demo_dir, False, context="sim-admin")
    assert note == "" and sync.user == "mlss-admin" and not sync.read_only
    state = State()
    poller = linkis_poller(LinkisSettings(refresh_seconds=0.5, history_days=30), state, sync)
    session = Session(backend=type("B", (), {"close": lambda self: None})(), state=state, feeds=None, identity=None,
                      linkis=sync, linkis_poller=poller)
    wait_until(lambda: state.linkis_tasks(), 30, "the job history in the state")
    assert poller.days == 30 and poller.interval == 0.5
    session.stop()
    from prophecis_tui.domain import Unavailable
    with pytest.raises(Unavailable):
        sync.task(1)  # closed with the session


def test_a_secret_file_others_may_read_is_a_config_error(env, gateway, capsys, tmp_path, monkeypatch):
    tok = tmp_path / "tok"
    tok.write_text((gateway[1].parent / "linkis-token").read_text(), encoding="utf-8")
    tok.chmod(0o644)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[linkis]\nurl = "https://127.0.0.1:1/linkis"\nuser = "u"\ntoken_file = "{tok}"\n',
                   encoding="utf-8")
    monkeypatch.setenv("PROPHECIS_TUI_CONFIG", str(cfg))
    code, out, err = linkis(capsys, "status", "1")
    assert code == 2 and "chmod 600" in err and tok.read_text().strip() not in err


def test_logs_follow_reads_until_the_task_ends(env, gateway, capsys):
    sync = sync_for(gateway[1])
    try:
        task, _ = sync.submit(LinkisSubmit(code="import time\ntime.sleep(20)\nprint('done')", run_type="python",
                                           engine="python-python2"))
        code, out, err = linkis(capsys, "logs", str(task), "--follow")
        assert code == 0, err
        assert sync.task(task).done  # it returned only once the task had ended
        lines = out.splitlines()
        assert lines and len(lines) == len(set(lines))  # each line once (the simulator stamps them)
        code, whole, _ = linkis(capsys, "logs", str(task))
        assert whole.splitlines()[: len(lines)] == lines
    finally:
        sync.close()

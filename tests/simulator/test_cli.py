"""`prophecis-tui sim` as a program: ready line, kubeconfig, signals, errors, help; and the simulator
package's isolation from the rest of the project (it imports only the stdlib, third-party packages and
itself)."""

from __future__ import annotations

import ast
import base64
import importlib.util
import json
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from kubernetes import client, config

import prophecis_tui
from prophecis_tui.simulator import __main__ as sim_cli

ROOT = Path(prophecis_tui.__file__).resolve().parent.parent
SIM_PKG = ROOT / "prophecis_tui" / "simulator"
CONTEXTS = {"sim-admin", "sim-group-admin", "sim-viewer"}


def entry() -> list[str]:
    """The installed console script, else the module it runs."""
    script = Path(sys.executable).parent / "prophecis-tui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "prophecis_tui.cli"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*entry(), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The child's next stdout line, waiting at most ``timeout`` seconds ('' when none came).

    A reader thread per process feeds a queue: select() on a buffered text pipe would miss lines
    already sitting in Python's buffer."""
    if proc.pid not in _LINES:
        q: "queue.Queue[str]" = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                q.put(line)
            q.put("")
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        _LINES[proc.pid] = (q, t)
    try:
        return _LINES[proc.pid][0].get(timeout=timeout)
    except queue.Empty:
        return ""


_LINES: dict[int, tuple["queue.Queue[str]", threading.Thread]] = {}


def close_pipes(proc: subprocess.Popen) -> None:
    """After the child has ended: stop its reader thread and close the pipes."""
    pumped = _LINES.pop(proc.pid, None)
    if pumped is not None:
        pumped[1].join(timeout=5)
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()


def finish(proc: subprocess.Popen) -> str:
    """Wait for the child and return the rest of its stdout (after the lines read with read_line)."""
    proc.wait(timeout=10)
    rest = []
    while (line := read_line(proc, 5)) != "":
        rest.append(line)
    return "".join(rest)


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[subprocess.Popen, dict, Path]]:
    cfg_dir = tmp_path / "cfg"
    proc = subprocess.Popen([*entry(), "sim", "--scale", "tiny", "--port", "0", "--write-config", str(cfg_dir),
                             "--ready-json", "--speed", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = read_line(proc, 60)
        if not line:
            proc.kill()
            proc.wait(timeout=10)
            err = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"no ready line; exit {proc.returncode}; stderr: {err[-2000:]}")
        yield proc, json.loads(line), cfg_dir
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        close_pipes(proc)


def test_ready_json_and_kubeconfig(served):
    proc, ready, cfg_dir = served
    assert set(ready) >= {"url", "port", "kubeconfig"}
    assert isinstance(ready["port"], int) and 0 < ready["port"] < 65536
    assert ready["url"] == f"https://127.0.0.1:{ready['port']}"
    path = Path(ready["kubeconfig"])
    assert path == cfg_dir / "kubeconfig" and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kc = yaml.safe_load(path.read_text())
    assert {c["name"] for c in kc["contexts"]} == CONTEXTS
    assert kc["current-context"] == "sim-admin"
    (cluster,) = kc["clusters"]
    assert cluster["cluster"]["server"] == ready["url"]
    ca = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
    assert ca.startswith(b"-----BEGIN CERTIFICATE-----")
    assert "insecure-skip-tls-verify" not in cluster["cluster"]
    # the official client, through that file only (verifying TLS against the CA in it)
    api = config.new_client_from_config(config_file=str(path), context="sim-admin")
    try:
        pods = client.CoreV1Api(api).list_pod_for_all_namespaces().items
        assert pods
        assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    finally:
        api.close()
    for ctx in ("sim-viewer", "sim-group-admin"):
        api = config.new_client_from_config(config_file=str(path), context=ctx)
        try:
            ns = next((c["context"].get("namespace") for c in kc["contexts"] if c["name"] == ctx), None)
            core = client.CoreV1Api(api)
            items = core.list_namespaced_pod(ns).items if ns else core.list_pod_for_all_namespaces().items
            assert items, ctx
        finally:
            api.close()
    assert proc.poll() is None


def test_sigterm_stops_it_cleanly(served):
    proc, ready, _ = served
    api = config.new_client_from_config(config_file=ready["kubeconfig"], context="sim-admin")
    client.CoreV1Api(api).list_namespace()
    api.close()
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=10)
    assert rc == 0, proc.stderr.read() if proc.stderr else ""
    assert time.monotonic() - t0 < 5
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err


def test_sigterm_right_after_the_ready_line(served):
    """A program that stops the simulator as soon as it is ready gets a clean exit, not a kill."""
    proc, _, _ = served
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_sigterm_with_an_open_watch(served):
    """A watch that is streaming must not hold up the shutdown."""
    proc, ready, _ = served
    api = config.new_client_from_config(config_file=ready["kubeconfig"], context="sim-admin")
    try:
        resp = client.CoreV1Api(api).list_namespaced_pod("ns-risk-scorecard", watch=True, _preload_content=False,
                                                         timeout_seconds=60)
        assert resp.status == 200
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5
        resp.release_conn()
    finally:
        api.close()


def test_sigint_stops_it_too(served):
    proc, _, _ = served
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_human_banner_without_ready_json(tmp_path):
    proc = subprocess.Popen([*entry(), "sim", "--scale", "tiny", "--port", "0", "--write-config", str(tmp_path),
                             "--speed", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines = [read_line(proc, 60) for _ in range(2)]
        assert lines[0].startswith("prophecis-tui simulator: scale tiny"), lines
        assert "serving the Kubernetes API on https://127.0.0.1:" in lines[1]
        proc.send_signal(signal.SIGTERM)
        out = "".join(lines) + finish(proc)
        assert proc.returncode == 0
        assert f"kubeconfig: {tmp_path / 'kubeconfig'}" in out
        leaked = [i for i, tok in enumerate(_tokens(tmp_path / "kubeconfig")) if tok in out]
        assert leaked == [], "a token was printed on the console"  # indexes only, never the tokens
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        close_pipes(proc)


def _tokens(path: Path) -> list[str]:
    kc = yaml.safe_load(path.read_text())
    return [u["user"]["token"] for u in kc["users"]]


def test_kubeconfig_mode_is_tightened_on_an_existing_file(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("old")
    path.chmod(0o644)
    proc = subprocess.Popen([*entry(), "sim", "--scale", "tiny", "--port", "0", "--write-config", str(tmp_path),
                             "--ready-json", "--speed", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        ready = json.loads(read_line(proc, 60))
        assert Path(ready["kubeconfig"]) == path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "contexts" in yaml.safe_load(path.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        close_pipes(proc)


@pytest.mark.parametrize("args,needle", [
    (["--scale", "bogus"], "bogus"),
    (["--no-such-flag"], "--no-such-flag"),
    (["--port", "notaport"], "--port"),
    (["--error-rate", "3"], "error_rate"),
    (["--speed", "-1"], "--speed"),
    (["--start-time", "yesterday"], "--start-time"),
])
def test_bad_arguments_give_one_line_error(args, needle):
    r = run("sim", "--scale", "tiny", *args) if args[0] != "--scale" else run("sim", *args)
    assert r.returncode != 0
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "error" in lines[0] and needle in lines[0]
    assert "Traceback" not in r.stderr


def test_cannot_write_config_is_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = run("sim", "--scale", "tiny", "--speed", "0", "--write-config", str(blocker / "sub"), timeout=60)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "error" in r.stderr


def test_top_level_help_and_version():
    r = run("--help")
    assert r.returncode == 0
    assert "sim" in r.stdout and "version" in r.stdout
    r = run("version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"prophecis-tui {prophecis_tui.__version__}"
    r = run("no-such-command")
    assert r.returncode != 0 and "unknown command" in r.stderr


def test_sim_help_lists_the_flags():
    r = run("sim", "--help")
    assert r.returncode == 0
    flags = [a for act in sim_cli.parser()._actions for a in act.option_strings if a.startswith("--")]
    expected = {"--scale", "--seed", "--host", "--port", "--write-config", "--speed", "--start-time",
                "--no-activity", "--latency-ms", "--error-rate", "--drop-watch-every", "--expire-watches",
                "--ready-json"}
    assert expected <= set(flags)
    for flag in flags:
        assert flag in r.stdout, flag
    for scale in ("tiny", "small", "large", "xlarge"):
        assert scale in r.stdout


def test_cli_scales_are_the_worlds_scales():
    from prophecis_tui.simulator.world import SCALES
    scale = next(a for a in sim_cli.parser()._actions if "--scale" in a.option_strings)
    assert set(scale.choices) == set(SCALES)


# ----------------------------------------------------------------------------------- isolation
def _imports(path: Path) -> Iterator[tuple[int, str, int]]:
    """(line, absolute module name or '', relative level) for every import in a file, nested ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or "", node.level
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value, 0


def _third_party(top: str) -> bool:
    spec = importlib.util.find_spec(top)
    if spec is None:
        return False
    where = spec.origin or (list(spec.submodule_search_locations or [None])[0])
    if where is None:
        return False
    where = Path(where).resolve()
    return "site-packages" in where.parts or not where.is_relative_to(ROOT)


def test_simulator_imports_nothing_else_of_the_project():
    files = sorted(SIM_PKG.rglob("*.py"))
    assert len(files) > 10
    bad: list[str] = []
    for path in files:
        rel = path.relative_to(ROOT)
        package = list(rel.parent.parts)  # e.g. ["prophecis_tui", "simulator"]
        for line, module, level in _imports(path):
            if level:
                if level - 1 > len(package) - 2:  # climbs above prophecis_tui.simulator
                    bad.append(f"{rel}:{line}: relative import level {level} leaves the simulator package")
                    continue
                base = package[:len(package) - (level - 1)]
                module = ".".join(base + ([module] if module else []))
            top = module.split(".")[0]
            if top == "prophecis_tui":
                if not (module == "prophecis_tui.simulator" or module.startswith("prophecis_tui.simulator.")):
                    bad.append(f"{rel}:{line}: imports {module}")
            elif top in sys.stdlib_module_names or top == "__future__":
                continue
            elif not _third_party(top):
                bad.append(f"{rel}:{line}: imports {module}, neither stdlib nor an installed third-party package")
    assert not bad, "\n".join(bad)


def test_isolation_check_catches_offenders(tmp_path):
    """The checker itself: a relative import above the package and a project import are caught."""
    f = tmp_path / "m.py"
    f.write_text("from .. import cli\nimport importlib\nimportlib.import_module('prophecis_tui.cli')\n")
    found = list(_imports(f))
    assert (1, "", 2) in found and (3, "prophecis_tui.cli", 0) in found
    assert not _third_party("widgets") or not (ROOT / "widgets").exists()


def test_simthread_failed_start_leaves_no_thread():
    from prophecis_tui.simulator.testing import SimThread
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(ValueError, match="unknown scale"):
        with SimThread(scale="bogus"):
            pass
    assert {t.ident for t in threading.enumerate() if t.name == "prophecis-sim"} - before == set()

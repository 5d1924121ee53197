"""The `prophecis-tui` command: the console, `status`, `audit`, `cmdb`, `alerts`, `sim`, `version`.

Nothing here imports Textual until the console itself starts, so `status` stays headless.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import __version__

EPILOG = """commands:
  prophecis-tui [options]            the console
  prophecis-tui status [--json]      a headless summary for scripts and cron
  prophecis-tui audit [--since T] [--json]   the audit trail of actions taken with the console
  prophecis-tui cmdb import FILE     load business systems (CSV, JSON or YAML) into the CMDB store
  prophecis-tui cmdb list|show ID|match TARGET [--json]   the business systems, and what owns a target
  prophecis-tui alerts history [--since 12h] [--md|--json]   the alert timeline, or a shift handover note
  prophecis-tui alerts list [--json]   the alerts last seen firing or silenced
  prophecis-tui sim [options]        serve a simulated Prophecis platform (see sim --help)
  prophecis-tui version              print the version"""


class CliError(Exception):
    """One line for the user, and the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context (default: the current context)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-n", "--namespace", help="start scoped to this namespace (default: the context's)")
    g.add_argument("-A", "--all-namespaces", action="store_true", help="start with every namespace")
    p.add_argument("--read-only", action="store_true", default=None, help="refuse and hide every change")
    p.add_argument("--config", help="config file (default: $PROPHECIS_TUI_CONFIG, then the XDG config dir)")
    p.add_argument("--demo", action="store_true", help="start a simulated platform (small) and connect to it")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prophecis-tui", description="Terminal console for the Prophecis ML platform.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _connection_args(p)
    return p


def status_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prophecis-tui status",
                                description="Per namespace: notebooks, jobs and deployments by state, GPUs against "
                                            "quota, and the health of each source. Exit 0 when it could read, "
                                            "1 when it could not.")
    _connection_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


# ---------------------------------------------------------------------------------------------- settings
def _settings(args: argparse.Namespace) -> Any:
    from .config import ConfigError, load_settings
    overrides: dict[str, Any] = {}
    for key in ("kubeconfig", "context", "namespace"):
        if getattr(args, key, None):
            overrides[key] = getattr(args, key)
    if getattr(args, "all_namespaces", False):
        overrides["all_namespaces"] = True
    if getattr(args, "read_only", None):
        overrides["read_only"] = True
    try:
        return load_settings(args.config, overrides)
    except ConfigError as err:
        raise CliError(f"config: {err}", 2) from None


def _backend(kubeconfig: str | None, context: str | None, read_only: bool) -> Any:
    from backends.kubernetes import ConfigError, Kubernetes
    from .domain import BackendError
    try:
        return Kubernetes.from_kubeconfig(kubeconfig, context, read_only=read_only)
    except ConfigError as err:
        raise CliError(str(err), 2) from None
    except BackendError as err:
        raise CliError(err.message) from None


def _check_reachable(backend: Any) -> Any:
    from .domain import BackendError
    try:
        return backend.identity()
    except BackendError as err:
        raise CliError(err.message) from None


# ---------------------------------------------------------------------------------------------- demo
class DemoSimulator:
    """`prophecis-tui sim --scale small` as a child process that dies with us."""

    def __init__(self, scale: str = "small") -> None:
        self.scale = scale
        self.dir = tempfile.TemporaryDirectory(prefix="prophecis-demo-")
        self.proc: subprocess.Popen | None = None
        self.kubeconfig = ""

    def start(self) -> str:
        def die_with_parent() -> None:  # Linux: the child gets SIGTERM if we are killed outright
            try:
                import ctypes
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            except Exception:
                pass
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prophecis_tui", "sim", "--scale", self.scale, "--seed", "42", "--port", "0",
             "--write-config", self.dir.name, "--ready-json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            err = (self.proc.stderr.read() if self.proc.stderr else "").strip().splitlines()
            self.stop()
            raise CliError("the demo simulator did not start" + (f": {err[-1]}" if err else ""))
        self.kubeconfig = json.loads(line)["kubeconfig"]
        return self.kubeconfig

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.dir.cleanup()


# ---------------------------------------------------------------------------------------------- commands
@contextmanager
def _target(args: argparse.Namespace, settings: Any) -> Iterator[tuple[str | None, str | None]]:
    """Where to connect: the settings' kubeconfig and context, or a demo simulator started for the occasion
    (and stopped however we leave)."""
    if not args.demo:
        yield settings.kubeconfig, settings.context
        return
    demo = DemoSimulator(settings.demo_scale)
    _HARD_EXIT_CLEANUP.append(demo.stop)
    try:
        yield demo.start(), "sim-admin"
    finally:
        demo.stop()
        _HARD_EXIT_CLEANUP.remove(demo.stop)


def run_console(args: argparse.Namespace) -> int:
    settings = _settings(args)

    def on_signal(signum, frame):  # an SSH session dropping sends SIGHUP: leave cleanly, stop the demo
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    with _target(args, settings) as (kubeconfig, context):
        demo_dir = str(Path(kubeconfig).parent) if args.demo and kubeconfig else None
        effective = settings.for_context(context or "")
        from .actions import Actions, builtin_actions
        from .alert_actions import alert_actions
        from .app import ProphecisApp, Session, alerts_poller, cmdb_poller
        from .config import data_dir
        from .feeds import Feeds, MetricsPoller, tune_interpreter
        from .state import State
        from .store import ALERTS_FILE, CMDB_FILE, AlertTimeline, AuditLog, CmdbStore
        audit = AuditLog(data_dir() / "audit.db")
        # the demo's simulated CMDB and alert timeline stay in the demo's folder, out of the user's own stores
        cmdb_store = CmdbStore(Path(demo_dir) / CMDB_FILE if demo_dir else data_dir() / CMDB_FILE)
        timeline = AlertTimeline(Path(demo_dir) / ALERTS_FILE if demo_dir else data_dir() / ALERTS_FILE)
        tune_interpreter()

        def connect(ctx: str | None) -> Session:
            """A live session on a context: reachable, listed and watched. Raises CliError (one line)."""
            read_only = bool(settings.for_context(ctx or "").read_only)
            backend = _backend(kubeconfig, ctx, read_only)
            try:
                identity = _check_reachable(backend)
            except CliError:
                backend.close()
                raise
            state = State()
            feeds = Feeds(backend, state)
            feeds.start()
            eff = settings.for_context(ctx or "")
            m = eff.metrics
            source, note = metrics_backend(m, demo_dir, backend)  # 'auto' looks in the cluster: a few s at most
            poller = MetricsPoller(source, state, interval=1.0, idle_threshold=m.idle_threshold,
                                   idle_minutes=m.idle_minutes) if source is not None else None
            if poller is not None:
                poller.start()
            cmdb = cmdb_poller(eff.cmdb, state, cmdb_store, demo_dir=demo_dir)
            alerts = alerts_poller(eff.alerts, state, timeline, demo_dir=demo_dir, metrics=poller,
                                   read_only=read_only)
            ams = alerts.alertmanager_set if alerts is not None else None
            actions = Actions(backend, audit, identity, read_only=read_only,
                              backends={"timeline": timeline, **({"alertmanager": ams} if ams else {})})
            for spec in builtin_actions():
                actions.register(spec)
            for spec in alert_actions(eff.alerts, alertmanagers=ams, identity=identity,
                                      refresh=alerts.refresh if alerts is not None else None):
                actions.register(spec)
            return Session(backend, state, feeds, identity, read_only, actions, poller, note, cmdb=cmdb,
                           alerts=alerts)

        session = connect(context)
        namespace = None if settings.all_namespaces else (effective.namespace or session.identity.namespace)
        app = ProphecisApp(session, contexts=session.backend.contexts(), connect=connect, namespace=namespace,
                           read_only=session.read_only, theme=effective.theme, keymap=dict(settings.ui.keys),
                           refresh_seconds=effective.refresh_seconds,
                           notebook_images=list(settings.notebooks.images),
                           notebook_url_base=settings.notebooks.url_base or "",
                           notebook_workspace=settings.notebooks.default_workspace,
                           quota_max_annotation=effective.quota.max_annotation, logs=effective.logs,
                           alerts_settings=effective.alerts)
        gone = terminal_hung_up(sys.stdin.fileno())  # dropped before we got here: isatty() is False then
        watch = TerminalWatch(app) if sys.stdin.isatty() or gone else None
        try:
            app.run()
            code = app.return_code or 0
        except SystemExit as leave:  # SIGHUP or SIGTERM (the handler below)
            code = leave.code if isinstance(leave.code, int) else 1
        finally:
            if watch is not None:
                watch.stop()
    _leave_if_textual_is_stuck(code)  # after the demo simulator was stopped
    return code


NO_METRICS_HELP = ("set [metrics] in the config: prometheus_url (a Prometheus with dcgm-exporter series), "
                   "dcgm_url (a dcgm-exporter's /metrics), or source = \"nvml\" on a GPU node")


def metrics_backend(m: Any, demo_dir: str | None = None, backend: Any = None) -> tuple[Any, str]:
    """The GPU metrics source for a context's ``[metrics]`` settings, and a note when there is none.

    'auto' (nothing set): the demo's simulated exporter; else what ``backend`` (the context's Kubernetes
    connection) finds in the cluster through the API server's service proxy (backends.discovery: a Prometheus
    with DCGM series, else a dcgm-exporter Service; a few seconds at most); else this machine's GPUs through
    NVML when it has an NVIDIA driver; else none, with a note saying what was looked for and how to configure
    a source. Blocking: called where the connection is made (before the app starts, or in the context
    switch's worker thread), never on the UI thread."""
    ca = str(m.ca_file) if getattr(m, "ca_file", None) else None
    if m.source == "prometheus":
        from backends.prometheus import PrometheusMetrics
        return PrometheusMetrics(m.prometheus_url, ca_file=ca), ""
    if m.source == "dcgm":
        from backends.dcgm import DcgmScrape
        return DcgmScrape(m.dcgm_url, ca_file=ca), ""
    if m.source == "nvml":
        from backends.nvml import NvmlLocal
        return NvmlLocal(), ""
    if m.source == "none":
        return None, f"GPU metrics are off (metrics.source = \"none\"); {NO_METRICS_HELP}"
    if demo_dir is not None:  # the demo's simulator serves a dcgm-exporter on its API port
        import yaml
        from backends.dcgm import DcgmScrape
        kc = yaml.safe_load((Path(demo_dir) / "kubeconfig").read_text())
        server = kc["clusters"][0]["cluster"]["server"]
        return DcgmScrape(server + "/dcgm/metrics", ca_file=str(Path(demo_dir) / "ca.crt")), ""
    looked = ""
    if backend is not None:
        from backends.discovery import detect, source_for
        det = detect(backend)
        if det.found is not None:
            logging.getLogger(__name__).info("GPU metrics: %s %s through the API server's proxy (found in %.2f s)",
                                             det.found.kind, det.found.where, det.seconds)
            source = source_for(det.found, backend.api_access())
            return source, getattr(source, "note", "")  # e.g. a Service read instead of its pods, and why
        looked = det.looked + "; "
    from backends.nvml import NvmlLocal
    from .domain import BackendError
    local = NvmlLocal()
    try:
        local.current()
    except BackendError as err:
        local.close()
        return None, f"no GPU metrics source: {looked}{err.message}; {NO_METRICS_HELP}"
    return local, ""


def terminal_hung_up(fd: int) -> bool:
    """True when the terminal behind ``fd`` hung up (its other end closed); poll() says so without reading."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return True


_HARD_EXIT_CLEANUP: list[Any] = []  # what a forced exit still does (stop the demo simulator)


class TerminalWatch:
    """Leaves when the terminal goes away, SIGHUP or not.

    A dropped SSH session does not always deliver SIGHUP (nohup, a pty closed under a multiplexer); Textual
    then reads EOF at full CPU, and once its output thread has died on the dead terminal, its writes block
    for ever: the console would never exit. This daemon thread polls the terminal twice a second; when it
    hung up, the app is asked to exit; if it has not after ``grace`` seconds, the process leaves at once,
    after any running action has written its audit record."""

    def __init__(self, app: Any, fd: int | None = None, grace: float = 3.0) -> None:
        self.app, self.fd, self.grace = app, sys.stdin.fileno() if fd is None else fd, grace
        self._done = threading.Event()
        threading.Thread(target=self._run, name="terminal-watch", daemon=True).start()

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        while not self._done.wait(0.5):
            if terminal_hung_up(self.fd):
                break
        else:
            return
        threading.Thread(target=self._ask, name="terminal-gone", daemon=True).start()
        if self._done.wait(self.grace):
            return
        actions = getattr(getattr(self.app, "session", None), "actions", None)
        if actions is not None:
            actions.wait_idle(30.0)
        for cleanup in list(_HARD_EXIT_CLEANUP):
            try:
                cleanup()
            except Exception:  # leaving anyway
                pass
        logging.shutdown()
        os._exit(129)

    def _ask(self) -> None:
        try:
            self.app.call_from_thread(self.app.exit, None, 129)
        except Exception:  # the app already ended
            pass


def _leave_if_textual_is_stuck(code: int) -> None:
    """Textual's input and output threads outlive an app whose terminal hung up, and the interpreter would wait
    for them at exit, spinning. Let our own threads finish (an action writing its audit record), then leave."""
    stuck = [t for t in threading.enumerate() if t.name in ("textual-input", "textual-output")]
    for t in stuck:
        t.join(1.0)
    if not any(t.is_alive() for t in stuck):
        return
    for t in threading.enumerate():
        if t is not threading.current_thread() and not t.daemon and t not in stuck:
            t.join(30.0)
    logging.shutdown()
    os._exit(code)


def run_status(argv: list[str]) -> int:
    args = status_parser().parse_args(argv)
    settings = _settings(args)
    with _target(args, settings) as (kubeconfig, context):
        backend = _backend(kubeconfig, context, True)
        try:
            identity = _check_reachable(backend)
            from .status import collect, render_text
            report = collect(backend, identity, namespace=None if args.all_namespaces else args.namespace)
        finally:
            backend.close()
        print(json.dumps(report, indent=2) if args.json else render_text(report))
        return 0 if report["ok"] else 1


def run_audit(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="prophecis-tui audit",
                                description="Every action taken with the console on this machine: who, when, "
                                            "where, what, why, and how it ended.")
    p.add_argument("--since", help="only records at or after this time (e.g. 2026-11-29 or 2026-11-29T10:00:00Z)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    args = p.parse_args(argv)
    from .config import data_dir
    from .store import AuditLog
    path = data_dir(create=False) / "audit.db"
    if not path.exists():
        return 0  # nothing was ever done here
    log = AuditLog(path)
    try:
        records = log.records(since=args.since)
    finally:
        log.close()
    for r in records:
        if args.json:
            print(json.dumps(r.__dict__, sort_keys=True))
        else:
            why = f" reason={r.reason!r}" if r.reason else ""
            print(f"{r.at}  {r.outcome:<8} {r.user}@{r.context}  {r.action} {r.target}{why}  {r.message}".rstrip())
    return 0


# ---------------------------------------------------------------------------------------------- cmdb
CMDB_HELP = """targets (cmdb match):
  ns/NAME or NAME          a namespace                   ns/ns-risk-scorecard
  node/NAME                a node (hostname or IP)       node/gpu-node-7
  deploy/NS/NAME           a model deployment            deploy/ns-fraud-online/fraud-xgb-v3
  deploy/NAME              a deployment in any namespace
  label/K=V[,K=V...]       an object with these labels   label/team=fraud
  add --label, --node and --namespace to describe an object or alert more fully.

rules, strongest first (each system is shown once, with its strongest rule):
  namespace, deployment, label, segment (ns-<dept>-<app>), node, and for a node target
  alone: node N runs pods of NS (give the namespaces with --node-namespaces).

file format (cmdb import): CSV with a header row, JSON or YAML (a list of objects).
  fields: id, name (required), tier (1-5, 1 most critical), department, owner, oncall,
  namespaces, segments, labels (key=value), deployments, nodes. In CSV a list field holds
  entries separated by ";" or "|": ns-risk-*;ns-fraud-*. Unknown fields are errors.
  An import replaces every record of its source (import:<file name>), all or nothing.

precedence: the same id from several sources (imports, the configured REST source): an
  import wins, then the most recently updated source. `cmdb sources` lists them.

exit status: 0 done; 1 a bad file, an unknown id, or match found nothing (untagged); 2 usage."""


def cmdb_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prophecis-tui cmdb",
                                description="The CMDB's business systems: import them from a file, list them, and "
                                            "find which own a namespace, node, deployment or labelled object.",
                                epilog=CMDB_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", metavar="PATH", help="the CMDB database (default: cmdb.db in the XDG data dir, "
                                                 "$XDG_DATA_HOME/prophecis-tui)")
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    imp = sub.add_parser("import", parents=[db], help="load business systems from a CSV, JSON or YAML file",
                         description="Load business systems from a file. All or nothing: a file with any problem "
                                     "changes nothing, and every problem is reported by row, line and field.",
                         epilog=CMDB_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("file", metavar="FILE", help="a .csv, .tsv, .json, .yaml or .yml file (else the format is "
                                                  "sniffed)")
    imp.add_argument("--source", help="record them as this source (default: import:<file name>); the import "
                                      "replaces every record the source had")
    imp.add_argument("--check", action="store_true", help="only validate the file; change nothing")
    sub.add_parser("list", parents=[db, js], help="every business system, by tier",
                   description="Every business system (one per id, the winning source's), by tier then id.")
    show = sub.add_parser("show", parents=[db, js], help="one business system, and which sources define it",
                          description="One business system; other sources' copies of the same id are listed "
                                      "as shadowed.")
    show.add_argument("id", metavar="ID")
    m = sub.add_parser("match", parents=[db, js], help="which business systems own a target",
                       description="Which business systems own a target, and by which rule. Exit 1 when none "
                                   "does (the target is untagged).",
                       epilog=CMDB_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("target", metavar="TARGET", help="ns/NAME (or NAME), node/NAME, deploy/NS/NAME, label/K=V")
    m.add_argument("--namespace", help="the target's namespace (for a node or labelled object)")
    m.add_argument("--label", action="append", default=[], metavar="K=V", help="a label of the target (repeat)")
    m.add_argument("--node", help="the node the target runs on")
    m.add_argument("--node-namespaces", action="append", default=[], metavar="NS[,NS...]",
                   help="for a node target: the namespaces with pods on that node (the console reads them from "
                        "the cluster)")
    sub.add_parser("sources", parents=[db, js], help="where the records came from, and when",
                   description="Each source (file imports, the REST feed): its records and last update.")
    rm = sub.add_parser("remove", parents=[db], help="forget every record of a source",
                        description="Forget every record of a source (see `cmdb sources`).")
    rm.add_argument("source", metavar="SOURCE")
    return p


def _cmdb_path(args: argparse.Namespace, create: bool) -> Path:
    if args.db:
        return Path(args.db).expanduser()
    from .config import ConfigError, data_dir
    from .store import CMDB_FILE
    try:
        return data_dir(create=create) / CMDB_FILE
    except ConfigError as err:
        raise CliError(str(err)) from None


def _cmdb_store(args: argparse.Namespace, create: bool = False) -> Any:
    """The store, or None when reading and the file does not exist (nothing was ever imported)."""
    from .store import CmdbStore
    path = _cmdb_path(args, create)
    if not create and not path.exists():
        return None
    try:
        return CmdbStore(path)
    except Exception as err:  # sqlite3.DatabaseError, OSError: one line, no traceback
        raise CliError(f"{path}: cannot open the CMDB database: {err}") from None


def _parse_labels(items: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            key, eq, value = part.strip().partition("=")
            if not eq or not key:
                raise CliError(f"label {part.strip()!r}: must be key=value", 2)
            labels[key] = value
    return labels


def cmdb_target(target: str) -> tuple[str, dict[str, Any]]:
    """A `cmdb match` TARGET as (what it is, the keyword arguments of Matcher.match)."""
    kind, slash, rest = target.partition("/")
    if not slash:
        kind, rest = "ns", target
    kind = kind.lower()
    parts = rest.split("/")
    if not rest or not all(parts):
        raise CliError(f"target {target!r}: {kind}/ needs a name (see cmdb match --help)", 2)
    if kind in ("ns", "namespace", "namespaces") and len(parts) == 1:
        return f"namespace {rest}", {"namespace": rest}
    if kind in ("node", "nodes", "no") and len(parts) == 1:
        return f"node {rest}", {"node": rest}
    if kind in ("deploy", "deployment", "deployments", "sdep", "seldondeployment") and len(parts) <= 2:
        if len(parts) == 2:
            return f"deployment {parts[0]}/{parts[1]}", {"namespace": parts[0], "deployment": parts[1]}
        return f"deployment {rest}", {"deployment": rest}
    if kind in ("label", "labels") and len(parts) == 1:
        return f"labels {rest}", {"labels": _parse_labels([rest])}
    raise CliError(f"target {target!r}: not ns/NAME, node/NAME, deploy/NS/NAME or label/K=V", 2)


def _cells_table(headers: list[str], rows: list[list[str]]) -> str:
    """An aligned table in terminal cells (CJK characters are two wide); no trailing blanks."""
    from rich.cells import cell_len
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = []
    for cells in [headers, *rows]:
        line = "  ".join(c + " " * (w - cell_len(c)) for c, w in zip(cells, widths))
        out.append(line.rstrip())
    return "\n".join(out)


def _system_json(s: Any) -> dict:
    return s.model_dump(mode="json")


def _tier_text(tier: int | None) -> str:
    return f"T{tier}" if tier is not None else "-"


def run_cmdb(argv: list[str]) -> int:
    args = cmdb_parser().parse_args(argv)
    from .sanitize import clean
    if args.command == "import":
        return _cmdb_import(args)
    if args.command == "remove":
        store = _cmdb_store(args)
        try:
            known = store is not None and any(x.source == args.source for x in store.sources())
            n = store.remove_source(args.source) if known else 0
        finally:
            if store is not None:
                store.close()
        if not known:
            print(f"prophecis-tui: no CMDB source {clean(args.source)!r} (see cmdb sources)", file=sys.stderr)
            return 1
        print(f"removed {n} business system{'s' if n != 1 else ''} of {clean(args.source)}")
        return 0
    store = _cmdb_store(args)
    try:
        if args.command == "list":
            systems = store.systems() if store is not None else []
            if args.json:
                print(json.dumps([_system_json(s) for s in systems], ensure_ascii=False, indent=2))
            elif systems:
                print(_cells_table(["TIER", "ID", "NAME", "DEPARTMENT", "OWNER", "ON-CALL", "SOURCE"],
                                   [[_tier_text(s.tier), clean(s.id), clean(s.name), clean(s.department),
                                     clean(s.owner), clean(s.oncall), clean(s.source)] for s in systems]))
            else:
                print("no business systems (load some: prophecis-tui cmdb import FILE)", file=sys.stderr)
            return 0
        if args.command == "show":
            copies = store.definitions(args.id) if store is not None else []
            if not copies:
                print(f"prophecis-tui: no business system with id {clean(args.id)!r}", file=sys.stderr)
                return 1
            s = copies[0]
            if args.json:
                print(json.dumps({**_system_json(s), "shadowed": [_system_json(c) for c in copies[1:]]},
                                 ensure_ascii=False, indent=2))
                return 0
            fields = [("id", s.id), ("name", s.name), ("tier", _tier_text(s.tier)), ("department", s.department),
                      ("owner", s.owner), ("on-call", s.oncall)]
            fields += [(f, ", ".join(getattr(s, f))) for f in ("namespaces", "segments", "labels", "deployments",
                                                                  "nodes")]
            fields.append(("source", s.source))
            fields += [("shadowed", f"{c.source} has the same id (name {c.name!r}); {s.source} wins")
                       for c in copies[1:]]
            for key, value in fields:
                print(f"{key + ':':<13}{clean(value)}".rstrip())
            return 0
        if args.command == "match":
            return _cmdb_match(args, store)
        if args.command == "sources":
            sources = store.sources() if store is not None else []
            if args.json:
                print(json.dumps([{"source": x.source, "count": x.count, "updated_at": x.updated_at.isoformat()}
                                  for x in sources], indent=2, ensure_ascii=False))
            elif sources:
                print(_cells_table(["SOURCE", "SYSTEMS", "UPDATED"],
                                   [[clean(x.source), str(x.count), x.updated_at.strftime("%Y-%m-%d %H:%M:%SZ")]
                                    for x in sources]))
            else:
                print("no CMDB sources (load one: prophecis-tui cmdb import FILE)", file=sys.stderr)
            return 0
    finally:
        if store is not None:
            store.close()
    raise CliError(f"unknown cmdb command {args.command!r}", 2)


def _cmdb_import(args: argparse.Namespace) -> int:
    from .cmdb import CmdbError, parse_file
    from .sanitize import clean
    path = Path(args.file).expanduser()
    shown = clean(str(args.file))
    source = args.source if args.source is not None else f"import:{path.name}"
    try:
        systems = parse_file(path, source=source)
    except CmdbError as err:
        limit = 50
        for problem in err.problems[:limit]:
            print(f"prophecis-tui: {shown}: {problem}", file=sys.stderr)
        more = len(err.problems) - limit
        if more > 0:
            print(f"prophecis-tui: {shown}: ... and {more} more problems", file=sys.stderr)
        n = len(err.problems)
        print(f"prophecis-tui: {shown}: nothing imported ({n} problem{'s' if n != 1 else ''})", file=sys.stderr)
        return 1
    plural = "s" if len(systems) != 1 else ""
    if args.check:
        print(f"{shown}: {len(systems)} business system{plural}, valid (--check: nothing imported)")
        return 0
    store = _cmdb_store(args, create=True)
    try:
        count = store.replace_source(source, systems)
        winner = {s.id: s.source for s in store.systems()}
        shadowed = [s.id for s in systems if winner.get(s.id) != source]
    except CmdbError as err:
        print(f"prophecis-tui: {shown}: {err}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"imported {count} business system{plural} from {shown} as {clean(source)} into {clean(str(store.path))}")
    if shadowed:
        ids = ", ".join(clean(i) for i in shadowed[:5]) + (" ..." if len(shadowed) > 5 else "")
        print(f"  {len(shadowed)} of them are overridden by another source (see cmdb show ID): {ids}")
    return 0


def _cmdb_match(args: argparse.Namespace, store: Any) -> int:
    from .cmdb import Matcher
    from .sanitize import clean
    what, kw = cmdb_target(args.target)
    if args.namespace:
        kw["namespace"] = args.namespace
    if args.label:
        kw["labels"] = {**kw.get("labels", {}), **_parse_labels(args.label)}
    if args.node:
        kw["node"] = args.node
    on_node = [n.strip() for item in args.node_namespaces for n in item.split(",") if n.strip()]
    if on_node:
        kw["node_namespaces"] = on_node
    matches = Matcher(store.systems() if store is not None else []).match(**kw)
    if args.json:
        print(json.dumps({"target": args.target, "untagged": not matches,
                          "matches": [{"kind": m.kind, "rule": m.rule, "system": _system_json(m.system)}
                                      for m in matches]}, ensure_ascii=False, indent=2))
    elif matches:
        print(_cells_table(["TIER", "ID", "NAME", "RULE", "OWNER", "ON-CALL"],
                           [[_tier_text(m.system.tier), clean(m.system.id), clean(m.system.name), clean(m.rule),
                             clean(m.system.owner), clean(m.system.oncall)] for m in matches]))
    else:
        print(f"untagged: no business system owns {clean(what)}")
    return 0 if matches else 1


# ---------------------------------------------------------------------------------------------- alerts
ALERTS_HELP = """times (--since, --until): a duration back from now (30m, 12h, 2d, 1h30m) or a time in UTC
  (2026-11-29, 2026-11-29T08:00, 2026-11-29T08:00:00Z).

what the timeline records (the console records it while it runs, in alerts.db in the data dir):
  fired, refired (again after it resolved), silenced, unsilenced, inhibited, uninhibited,
  acked, unacked (local acknowledgements with a note), resolved.

--md writes a handover note: a summary (the period, what fired by severity, what is still
  firing), then per business system (tier 1 first, untagged last) one line per alert, still
  firing ones first, with when it fired, who acknowledged or silenced it and why, and when
  it resolved.

exit status: 0 done (an empty timeline too); 2 usage."""


def alerts_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prophecis-tui alerts",
                                description="The alert timeline the console keeps: every alert's fired, acked, "
                                            "silenced and resolved moments, for shift handover.",
                                epilog=ALERTS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", metavar="PATH", help="the alert timeline (default: alerts.db in the XDG data dir, "
                                                 "$XDG_DATA_HOME/prophecis-tui)")
    db.add_argument("--system", metavar="X", help="only alerts of business systems whose id or name contains X "
                                                  "(untagged: those of none)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    h = sub.add_parser("history", parents=[db], help="the timeline of a period, or a handover note (--md)",
                       description="The moments of every alert in a period, oldest first.", epilog=ALERTS_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    h.add_argument("--since", default="12h", help="from (default 12h: the last twelve hours)")
    h.add_argument("--until", help="up to (default: now)")
    out = h.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per moment, one per line")
    out.add_argument("--md", action="store_true", help="a Markdown handover note, grouped by business system")
    lst = sub.add_parser("list", parents=[db], help="the alerts last seen firing, acked or silenced",
                         description="What the timeline last knew: the alerts not resolved, newest change first "
                                     "(as of the console's last poll).")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.add_argument("--all", action="store_true", help="resolved ones too")
    return p


_AGO = re.compile(r"(?:\d+[smhdw])+")


def parse_when(text: str, now: Any) -> Any:
    """``12h`` (back from ``now``) or a UTC time (``2026-11-29``, ``2026-11-29T08:00[:00][Z]``) as a datetime."""
    from datetime import datetime, timezone
    from .alert_actions import parse_duration
    t = text.strip()
    if _AGO.fullmatch(t.lower()):
        return now - parse_duration(t)
    try:
        when = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{t!r} is neither a duration (12h, 2d, 30m) nor a time (2026-11-29T08:00Z)", 2) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _timeline(args: argparse.Namespace) -> Any:
    """The timeline, or None when its file does not exist (the console never recorded anything here)."""
    from .store import ALERTS_FILE, AlertTimeline
    if args.db:
        path = Path(args.db).expanduser()
    else:
        from .config import ConfigError, data_dir
        try:
            path = data_dir() / ALERTS_FILE
        except ConfigError as err:
            raise CliError(str(err)) from None
    if not path.exists():
        return None
    try:
        return AlertTimeline(path)
    except Exception as err:  # sqlite3.DatabaseError, OSError: one line
        raise CliError(f"{path}: cannot open the alert timeline: {err}") from None


def run_alerts(argv: list[str]) -> int:
    from datetime import datetime, timezone
    args = alerts_parser().parse_args(argv)
    from .handover import SEV_ORDER, handover_note, of_system, systems_text
    from .sanitize import clean
    now = datetime.now(timezone.utc)
    timeline = _timeline(args)
    try:
        if args.command == "list":
            known = timeline.known(None if args.all else ("firing", "silenced", "inhibited")) if timeline else []
            known = [k for k in known if of_system(k.systems, args.system)]
            known.sort(key=lambda k: (SEV_ORDER.get(k.severity, 9), k.state != "firing", -k.since.timestamp()))
            if args.json:
                print(json.dumps([{"key": k.key, "state": k.state, "name": k.name, "severity": k.severity,
                                   "namespace": k.namespace, "target": k.target,
                                   "systems": [{"id": i, "name": n, "tier": t} for i, n, t in k.systems],
                                   "source": k.source, "summary": k.summary, "since": k.since.isoformat()}
                                  for k in known], ensure_ascii=False, indent=2))
            elif known:
                acks = timeline.acks() if timeline else {}
                print(_cells_table(["SEVERITY", "STATE", "SINCE", "BUSINESS SYSTEM", "ALERT", "TARGET"],
                                   [[k.severity, "acked" if k.key in acks and k.state == "firing" else k.state,
                                     k.since.strftime("%m-%d %H:%MZ"), systems_text(k.systems), clean(k.name),
                                     clean(k.target)] for k in known]))
            else:
                print("no alerts firing (as of the console's last poll)" if timeline else
                      "no alert timeline yet: the console records one while it runs", file=sys.stderr)
            return 0
        since = parse_when(args.since, now)
        until = parse_when(args.until, now) if args.until else None
        if until is not None and until <= since:
            raise CliError("--until must be after --since", 2)
        if timeline is None:
            print("no alert timeline yet: the console records one while it runs", file=sys.stderr)
            return 0
        if args.md:
            entries = timeline.history(None, until)
            print(handover_note(entries, since, until or now, args.system))
            return 0
        entries = [e for e in timeline.history(since, until) if of_system(e.systems, args.system)]
        if args.json:
            for e in entries:
                print(json.dumps(e.as_json(), ensure_ascii=False))
            return 0
        if not entries:
            print(f"no alert moments since {since:%Y-%m-%d %H:%M}Z", file=sys.stderr)
            return 0
        print(_cells_table(["AT (UTC)", "EVENT", "SEVERITY", "BUSINESS SYSTEM", "ALERT", "TARGET", "BY", "NOTE"],
                           [[e.at.strftime("%m-%d %H:%M:%S"), e.event, e.severity, systems_text(e.systems),
                             clean(e.name), clean(e.target), clean(e.by), clean(e.note)[:80]] for e in entries]))
        return 0
    finally:
        if timeline is not None:
            timeline.close()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "sim":
            from .simulator.__main__ import main as sim_main
            return sim_main(args[1:])
        if args and args[0] in ("version", "--version"):
            print(f"prophecis-tui {__version__}")
            return 0
        if args and args[0] == "status":
            return run_status(args[1:])
        if args and args[0] == "audit":
            return run_audit(args[1:])
        if args and args[0] == "cmdb":
            return run_cmdb(args[1:])
        if args and args[0] == "alerts":
            return run_alerts(args[1:])
        if args and not args[0].startswith("-"):
            print(f"prophecis-tui: unknown command {args[0]!r}\n\n{EPILOG}", file=sys.stderr)
            return 2
        return run_console(parser().parse_args(args))
    except CliError as err:
        print(f"prophecis-tui: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

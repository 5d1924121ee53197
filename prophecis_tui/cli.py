"""The `prophecis-tui` command: the console, `status`, `audit`, `cmdb`, `alerts`, `linkis`, `sim`, `version`.

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
  prophecis-tui wall [--panels LIST] [--rotate S]   a read-only dashboard for a wall screen (see wall --help)
  prophecis-tui audit [--since T] [--json]   the audit trail of actions taken with the console
  prophecis-tui cmdb import FILE     load business systems (CSV, JSON or YAML) into the CMDB store
  prophecis-tui cmdb list|show ID|match TARGET [--json]   the business systems, and what owns a target
  prophecis-tui alerts history [--since 12h] [--md|--json]   the alert timeline, or a shift handover note
  prophecis-tui alerts list [--json]   the alerts last seen firing or silenced
  prophecis-tui linkis run|status|logs|kill|result ...   Linkis jobs from scripts (see linkis --help)
  prophecis-tui sim [options]        serve a simulated Prophecis platform (see sim --help)
  prophecis-tui serve [--wall] [--host H] [--port P] [--token T]   the console or the wall in a browser
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


def wall_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="prophecis-tui wall",
        description="A read-only dashboard for a wall screen that runs unattended: cluster headline, GPU heat map, "
                    "quota pressure, failing or pending workloads, alerts by business system, recent events. "
                    "Nothing can be changed from it (no action key, no command bar); q quits, space/pagedown and "
                    "left/pageup turn pages. Each panel says when its data came; a source silent for long raises "
                    "a banner. It reconnects forever when the cluster or a source goes away. --namespace "
                    "watches that namespace alone (and the nodes).")
    _connection_args(p)
    from .config import WALL_PANELS
    p.add_argument("--panels", help="the panels, in order, comma-separated (default: [ui] wall_panels, else all: "
                                    + ",".join(WALL_PANELS) + ")")
    p.add_argument("--rotate", type=float, metavar="SECONDS",
                   help="turn to the next page every SECONDS (default: [ui] wall_rotate_seconds; 0: only when the "
                        "panels do not all fit)")
    return p


def _wall_panels(text: str | None) -> list[str] | None:
    from .config import WALL_PANELS
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in WALL_PANELS]
    if unknown or not names:
        raise CliError(f"wall: --panels {text!r}: unknown panel {unknown[0]!r}; known: {', '.join(WALL_PANELS)}"
                       if unknown else f"wall: --panels names no panel; known: {', '.join(WALL_PANELS)}", 2)
    return list(dict.fromkeys(names))


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


def run_console(args: argparse.Namespace, wall: bool = False) -> int:
    """The console, or with ``wall`` (``prophecis-tui wall``, or ``[ui] wall = true``) the wall: read-only
    whatever the config says, no action registered, a cluster unreachable at start waited for (the feeds retry
    forever with backoff) instead of an error."""
    if wall:
        args.read_only = True
        panels = _wall_panels(getattr(args, "panels", None))
        rotate = getattr(args, "rotate", None)
        if rotate is not None and not 0 <= rotate < 86400 * 7:
            raise CliError(f"wall: --rotate {rotate:g}: seconds, 0 or more", 2)
    settings = _settings(args)
    if not wall and settings.ui.wall:
        return run_console(args, wall=True)

    def on_signal(signum, frame):  # an SSH session dropping sends SIGHUP: leave cleanly, stop the demo
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    with _target(args, settings) as (kubeconfig, context):
        demo_dir = str(Path(kubeconfig).parent) if args.demo and kubeconfig else None
        effective = settings.for_context(context or "")
        from .actions import Actions, builtin_actions
        from .alert_actions import alert_actions
        from .app import ProphecisApp, Session, alerts_poller, cmdb_poller, linkis_poller
        from .linkis_actions import linkis_actions
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
            read_only = wall or bool(settings.for_context(ctx or "").read_only)
            backend = _backend(kubeconfig, ctx, read_only)
            try:
                identity = _check_reachable(backend)
                reached = True
            except CliError:
                if not wall:
                    backend.close()
                    raise
                identity = _unreached_identity(backend, ctx)  # the wall waits: its feeds retry, its banner says
                reached = False
            state = State()
            scoped = [args.namespace] if wall and getattr(args, "namespace", None) else None
            feeds = Feeds(backend, state, namespaces=scoped)
            feeds.start()
            eff = settings.for_context(ctx or "")
            m = eff.metrics
            source, note = metrics_backend(m, demo_dir, backend)  # 'auto' looks in the cluster: a few s at most
            # the console's GPU numbers every second; the wall's at its own pace ([ui] wall_refresh_seconds)
            every = settings.ui.wall_refresh_seconds if wall else 1.0
            poller = MetricsPoller(source, state, interval=every, idle_threshold=m.idle_threshold,
                                   idle_minutes=m.idle_minutes) if source is not None else None
            if poller is not None:
                poller.start()
            cmdb = cmdb_poller(eff.cmdb, state, cmdb_store, demo_dir=demo_dir)
            alerts = alerts_poller(eff.alerts, state, timeline, demo_dir=demo_dir, metrics=poller,
                                   read_only=read_only)
            ams = alerts.alertmanager_set if alerts is not None else None
            if wall:  # nothing can be changed from the wall: a read-only registry without a single action; no
                # Linkis (no panel of the wall shows its tasks: its poller would only cost CPU and one more source)
                session = Session(backend, state, feeds, identity, True,
                                  Actions(backend, audit, identity, read_only=True), poller, note, cmdb=cmdb,
                                  alerts=alerts)
                if poller is None and not reached and m.source == "auto" and demo_dir is None:
                    # the cluster did not answer, so its metrics could not be looked for: look again until found
                    session.discovery = MetricsDiscovery(session, m, every)
                    session.discovery.start()
                return session
            linkis, linkis_note = linkis_backend(eff.linkis, demo_dir, read_only, context=ctx)
            lk_poller = linkis_poller(eff.linkis, state, linkis)
            actions = Actions(backend, audit, identity, read_only=read_only,
                              backends={"timeline": timeline, **({"alertmanager": ams} if ams else {}),
                                        **({"linkis": linkis} if linkis is not None else {})})
            for spec in builtin_actions():
                actions.register(spec)
            for spec in alert_actions(eff.alerts, alertmanagers=ams, identity=identity,
                                      refresh=alerts.refresh if alerts is not None else None):
                actions.register(spec)
            for spec in linkis_actions(gateway=linkis.linkis.url if linkis is not None else "",
                                       refresh=lk_poller.refresh if lk_poller is not None else None, state=state,
                                       engines=list(eff.linkis.engines)):
                actions.register(spec)
            return Session(backend, state, feeds, identity, read_only, actions, poller, note, cmdb=cmdb,
                           alerts=alerts, linkis=linkis, linkis_poller=lk_poller, linkis_note=linkis_note)

        session = connect(context)
        namespace = None if settings.all_namespaces else (effective.namespace or session.identity.namespace)
        wall_kw: dict[str, Any] = {}
        if wall:
            wall_kw = {"wall": True, "wall_panels": panels or list(settings.ui.wall_panels),
                       "wall_rotate": rotate if rotate is not None else settings.ui.wall_rotate_seconds,
                       "wall_deadman": settings.ui.wall_deadman_seconds,
                       "wall_refresh": settings.ui.wall_refresh_seconds}
        app = ProphecisApp(session, contexts=session.backend.contexts(), connect=None if wall else connect,
                           namespace=namespace, **wall_kw,
                           read_only=session.read_only, theme=effective.theme, keymap=dict(settings.ui.keys),
                           refresh_seconds=effective.refresh_seconds,
                           notebook_images=list(settings.notebooks.images),
                           notebook_url_base=settings.notebooks.url_base or "",
                           notebook_workspace=settings.notebooks.default_workspace,
                           quota_max_annotation=effective.quota.max_annotation, logs=effective.logs,
                           alerts_settings=effective.alerts, linkis_settings=effective.linkis)
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


def _unreached_identity(backend: Any, context: str | None) -> Any:
    """Who we would be, from the kubeconfig alone, when the API server does not answer (the wall starts anyway)."""
    from backends.base import Identity
    target = getattr(backend, "_target", None)
    return Identity(context=getattr(backend, "context", None) or context or "",
                    cluster=getattr(target, "cluster_name", "") or "", user=getattr(target, "user_name", "") or "",
                    namespace=getattr(backend, "namespace", None), server=getattr(backend, "server", "") or "")


NO_METRICS_HELP = ("set [metrics] in the config: prometheus_url (a Prometheus with dcgm-exporter series), "
                   "dcgm_url (a dcgm-exporter's /metrics), or source = \"nvml\" on a GPU node")


class MetricsDiscovery:
    """The wall started while its cluster did not answer: the metrics source ('auto') is looked for again, in a
    thread, every ``RETRY`` seconds until one is found; then its poller starts and becomes the session's (the
    wall's heat map and freshness take it up)."""

    RETRY = (10.0, 30.0, 60.0)  # seconds before each try (the last, from then on)

    def __init__(self, session: Any, m: Any, interval: float) -> None:
        self.session, self.m, self.interval = session, m, interval
        self.tries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-discovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from .feeds import MetricsPoller
        while not self._stop.wait(self.RETRY[min(self.tries, len(self.RETRY) - 1)]):
            self.tries += 1
            try:
                source, note = metrics_backend(self.m, None, self.session.backend)
            except Exception:  # the cluster still away, or odd: the next try
                logging.getLogger(__name__).debug("metrics discovery failed", exc_info=True)
                continue
            self.session.metrics_note = note
            if source is None:
                continue
            poller = MetricsPoller(source, self.session.state, interval=self.interval,
                                   idle_threshold=self.m.idle_threshold, idle_minutes=self.m.idle_minutes)
            poller.start()
            self.session.metrics = poller
            if self._stop.is_set():  # the session stopped meanwhile: it may not have seen the poller
                poller.stop()
            return


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


NO_LINKIS_HELP = ("set url and user in the config's [linkis] section, and a token (PROPHECIS_TUI_LINKIS__TOKEN, "
                  "or token_file) or a password (PROPHECIS_TUI_LINKIS__PASSWORD, or password_file)")


def linkis_client(lk: Any, read_only: bool = False) -> Any:
    """``backends.linkis.LinkisSync`` over a ``Linkis`` client for a context's ``[linkis]`` settings (no request is
    made here: token mode sends its headers with each call, password mode logs in at the first). The secret is
    taken from its ``SecretStr`` only here, for the client. Raises ConfigError (a secret file that cannot be
    used, a problem ``lk.problem()`` names)."""
    from .config import ConfigError
    why = lk.problem()
    if why:
        raise ConfigError(why)
    token = lk.resolve_token() if lk.auth_mode == "token" else None
    password = lk.resolve_password() if lk.auth_mode == "password" else None
    from backends.linkis import Linkis, LinkisSync
    try:
        client = Linkis(lk.url, user=lk.user, token=token.get_secret_value() if token else None,
                        password=password.get_secret_value() if password else None, legacy=lk.legacy_execute,
                        read_only=read_only, ca_file=str(lk.ca_file) if lk.ca_file else None, verify=lk.verify)
    except ValueError as err:
        raise ConfigError(f"[linkis]: {err}") from None
    return LinkisSync(client)


def linkis_backend(lk: Any, demo_dir: str | None = None, read_only: bool = False, *,
                   context: str | None = None) -> tuple[Any, str]:
    """A session's Linkis: (``LinkisSync``, "") or (None, why there is none and how to configure it).

    ``lk`` is the context's ``[linkis]`` (``EffectiveSettings.linkis``). In the demo (``demo_dir``, the simulator's
    ``--write-config`` folder) without a gateway of its own: the simulator's, as its config.toml describes it for
    ``context`` (its [linkis], the context's user: the viewer's is ``opsview``; the token in DIR/linkis-token).
    ``read_only``: the client refuses submit and kill before any request (the registry's lock is the other).
    Headless (no Textual): ``prophecis-tui linkis`` uses it too."""
    from .config import ConfigError, load_settings
    if lk is None:
        return None, "no Linkis gateway configured ([linkis] url)"
    if not lk.url and demo_dir is not None:
        try:
            lk = load_settings(Path(demo_dir) / "config.toml",
                               env={"HOME": demo_dir}).for_context(context or "sim-admin").linkis
        except ConfigError as err:
            return None, f"the demo's Linkis: {err}"
    if not lk.url:
        return None, f"no Linkis gateway configured ([linkis] url): {NO_LINKIS_HELP}"
    try:
        return linkis_client(lk, read_only), ""
    except ConfigError as err:
        return None, str(err)


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


# ---------------------------------------------------------------------------------------------- linkis
LINKIS_HELP = """the gateway: the config's [linkis] section (url, user, and a token or password; per context
  [contexts.NAME.linkis]), with --config and --context as for the console. Secrets come from
  PROPHECIS_TUI_LINKIS__TOKEN / __PASSWORD, token_file / password_file, or an owner-only config file.

run: stdout carries only the result (every result set: csv with a header row, several separated by
  a blank line; or json, a list of objects, several sets a list of lists; a text result as is). Progress
  goes to stderr: a bar on a terminal, else a line "task 123 Running 42%" at each change.
  e.g.  prophecis-tui linkis run --engine spark-2.4.3 --run-type sql --code 'select 1' | head

read-only mode (--read-only, or the context's read_only = true) refuses run and kill.
kill goes through the console's action registry: it leaves an audit record (prophecis-tui audit).

exit status:
  0    done (run: the task succeeded; its result is on stdout)
  1    the task Failed, was Cancelled or Timed out on Linkis (errCode, errDesc and the log's ERROR
       lines on stderr); Linkis refused (e.g. no permission); no such task; nothing to kill
  2    usage: a bad option or value, empty code, a --var that is not name=value, a bad config
  3    no Linkis gateway configured, or the gateway cannot be reached or refuses the login/token
  4    refused in read-only mode (run, kill)
  124  --timeout passed: the task was killed (best effort)
  130  interrupted (Ctrl-C): the task was killed (best effort)"""

LINKIS_POLL_SECONDS = 1.0  # run and logs --follow: how often status, progress and the log are asked
LINKIS_RETRIES = 10  # run: consecutive failed status reads before giving up (exit 3)
_LEVELS = {"error": 4, "warn": 3, "info": 2, "all": 0}


def linkis_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prophecis-tui linkis",
                                description="Run code on the big-data platform through Linkis, and read, kill and "
                                            "fetch the results of its tasks, from scripts.",
                                epilog=LINKIS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: $PROPHECIS_TUI_CONFIG, then the XDG config dir)")
    common.add_argument("--context", help="use this context's [contexts.NAME.linkis] settings")
    common.add_argument("--read-only", action="store_true", default=None, help="refuse run and kill")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    fmt = dict(formatter_class=argparse.RawDescriptionHelpFormatter, epilog=LINKIS_HELP)
    r = sub.add_parser("run", parents=[common], help="submit code, follow it, print its result",
                       description="Submit code to an engine, show its progress on stderr, print its result on "
                                   "stdout.", **fmt)
    r.add_argument("--engine", required=True, help="<engine>-<version> as the gateway knows it, e.g. spark-2.4.3, "
                                                   "hive-2.3.3, python-python2, shell-1")
    r.add_argument("--run-type", required=True, help="sql, hql, scala, py, python, shell, ...")
    code = r.add_mutually_exclusive_group(required=True)
    code.add_argument("--code", metavar="TEXT", help="the code to run")
    code.add_argument("--file", metavar="F", help="read the code from file F ('-': standard input)")
    r.add_argument("--var", action="append", default=[], metavar="K=V", help="a variable (params.variable; repeat)")
    r.add_argument("--queue", metavar="Q", help="the YARN queue (default: [linkis] queue, else the gateway's)")
    r.add_argument("--creator", metavar="C", help="the creator (default: [linkis] creator, IDE)")
    r.add_argument("--output", choices=("csv", "json"), default="csv", help="the result's format (default csv)")
    r.add_argument("--timeout", type=float, metavar="S", help="kill the task and exit 124 after S seconds")
    st = sub.add_parser("status", parents=[common], help="one task's state and progress", **fmt)
    st.add_argument("task", metavar="TASK", help="the task id")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    lg = sub.add_parser("logs", parents=[common], help="one task's log", **fmt)
    lg.add_argument("task", metavar="TASK")
    lg.add_argument("--follow", "-f", action="store_true", help="keep reading until the task ends")
    lg.add_argument("--level", choices=tuple(_LEVELS), default="all",
                    help="only lines at this level or above (default all)")
    k = sub.add_parser("kill", parents=[common], help="kill a running task (audited)", **fmt)
    k.add_argument("task", metavar="TASK")
    k.add_argument("--reason", "-r", default="", help="why (in the audit record)")
    res = sub.add_parser("result", parents=[common], help="a finished task's result", **fmt)
    res.add_argument("task", metavar="TASK")
    res.add_argument("--output", choices=("csv", "json"), default="csv", help="the result's format (default csv)")
    return p


def _linkis_exit(err: Any) -> int:
    """The exit status of a backend error: 3 cannot reach or log in, 4 read-only, 1 the rest (Linkis said no)."""
    from .domain import ReadOnly, Timeout, Unauthorized, Unavailable
    if isinstance(err, (Unavailable, Unauthorized, Timeout)):
        return 3
    if isinstance(err, ReadOnly):
        return 4
    return 1


def _linkis_error(err: Any) -> CliError:
    from .sanitize import clean_line
    return CliError(f"linkis: {clean_line(err.message, 500)}", _linkis_exit(err))


class _Watched:
    """The LinkisSync as the action registry's backend, keeping the last BackendError it raised: the registry
    turns a backend error into a failed Result (one line), and the command still needs its kind for the exit
    status."""

    def __init__(self, sync: Any) -> None:
        self._sync = sync
        self.error: Any = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._sync, name)
        if not callable(attr):
            return attr
        from .domain import BackendError

        def call(*args: Any, **kw: Any) -> Any:
            try:
                return attr(*args, **kw)
            except BackendError as err:
                self.error = err
                raise
        return call


class _LinkisCli:
    """What a `linkis` subcommand works with: the settings, the client, the registry (built on first use)."""

    def __init__(self, args: argparse.Namespace) -> None:
        from .config import ConfigError
        self.args = args
        settings = _settings(args)
        eff = settings.for_context(None)
        self.context = eff.context or ""
        self.read_only = bool(eff.read_only)
        self.lk = eff.linkis
        self.config_file = settings.config_file
        why = self.lk.problem()
        if why:
            where = f" (config: {self.config_file})" if self.config_file else ""
            raise CliError(f"linkis: {why}{where}" + ("" if self.lk.url else f": {NO_LINKIS_HELP}"), 3)
        try:
            self.sync = linkis_client(self.lk, self.read_only)
        except ConfigError as err:
            raise CliError(f"config: {err}", 2) from None
        self.watched = _Watched(self.sync)
        self._actions: Any = None
        self._audit: Any = None

    def refuse_if_read_only(self, what: str) -> None:
        if self.read_only:
            why = "--read-only" if self.args.read_only else (
                f"context {self.context} is read-only" if self.context else "read_only is set in the config")
            raise CliError(f"linkis {what}: refused in read-only mode ({why})", 4)

    def actions(self) -> Any:
        if self._actions is None:
            from backends.base import Identity
            from .actions import Actions
            from .config import ConfigError, data_dir
            from .linkis_actions import linkis_actions
            from .store import AuditLog
            try:
                self._audit = AuditLog(data_dir(create=True) / "audit.db")
            except ConfigError as err:
                raise CliError(str(err)) from None
            identity = Identity(context=self.context, cluster=self.sync.name, user=self.sync.user)
            self._actions = Actions(None, self._audit, identity, read_only=self.read_only,
                                    backends={"linkis": self.watched})
            for spec in linkis_actions(gateway=self.lk.url or "", engines=list(self.lk.engines)):
                self._actions.register(spec)
        return self._actions

    def act(self, action: str, target: Any, params: dict, reason: str = "") -> Any:
        """Run an action through the registry (confirmed: the command line is the confirmation); its Result, or
        CliError with the exit status of what went wrong."""
        from .actions import NeedsReason
        from .domain import BackendError, Invalid, ReadOnly
        from .sanitize import clean_line
        self.watched.error = None
        try:
            result = self.actions().run(action, target, params=params, reason=reason, confirmed=True)
        except ReadOnly as err:
            raise CliError(f"linkis: {err.message}", 4) from None
        except Invalid as err:
            raise CliError(f"linkis: {clean_line(err.message, 300)}", 2) from None
        except NeedsReason as err:
            raise CliError(f"linkis: {err}: give --reason", 2) from None
        except BackendError as err:
            raise _linkis_error(err) from None
        if not result.ok:
            code = _linkis_exit(self.watched.error) if self.watched.error is not None else 1
            raise CliError(f"linkis: {clean_line(result.message, 500)}", code)
        return result

    def task(self, raw: str) -> Any:
        try:
            task_id = int(raw)
            if task_id <= 0:
                raise ValueError
        except ValueError:
            raise CliError(f"{raw!r} is not a task id (a number such as 12345)", 2) from None
        return self.call(self.sync.task, task_id)

    def call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        from .domain import BackendError
        try:
            return fn(*args, **kw)
        except BackendError as err:
            raise _linkis_error(err) from None

    def close(self) -> None:
        try:
            self.sync.close()
        finally:
            if self._actions is not None:
                self._actions.close()
            if self._audit is not None:
                self._audit.close()


class _Progress:
    """run's progress on stderr: a bar redrawn with \\r on a terminal, else one line at each change."""

    WIDTH = 24

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last: tuple | None = None
        self.drawn = False

    def show(self, task_id: int, state: str, progress: float, started: float) -> None:
        pct = max(0, min(100, int(progress * 100)))
        if self.tty:
            import time
            done = pct * self.WIDTH // 100
            bar = "█" * done + "░" * (self.WIDTH - done)
            secs = int(time.monotonic() - started)
            self.stream.write(f"\r\x1b[2Ktask {task_id} {state:<9} {bar} {pct:3d}%  {secs // 60:02d}:{secs % 60:02d}")
            self.stream.flush()
            self.drawn = True
            return
        if (state, pct) != self.last:
            self.last = (state, pct)
            self.stream.write(f"task {task_id} {state} {pct}%\n")
            self.stream.flush()

    def end(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def say(self, text: str) -> None:
        self.end()
        self.stream.write(text + "\n")
        self.stream.flush()


def _parse_vars(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise CliError(f"--var {item.split('=')[0][:40]!r}: must be name=value", 2)
        out[key.strip()] = value
    return out


def _read_code(args: argparse.Namespace) -> str:
    if args.code is not None:
        code = args.code
    elif args.file == "-":
        code = sys.stdin.read()
    else:
        try:
            code = Path(args.file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
            raise CliError(f"--file {args.file}: cannot read: {reason}", 2) from None
    if not code.strip():
        raise CliError("the code is empty", 2)
    return code


def _emit(text: str) -> None:
    """Write result data to stdout: as is into a pipe or file, control characters neutralised on a terminal."""
    if sys.stdout.isatty():
        from .sanitize import clean
        text = clean(text, keep_newlines=True)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` has read enough: leave quietly, as a filter does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _results_text(sets: list[Any], fmt: str) -> str:
    """Every result set as stdout gets it: csv (sets separated by a blank line) or json (one set: its list;
    several: a list of them; a text result as a JSON string)."""
    import io
    from .linkis_tasks import write_result
    parts = []
    for rs in sets:
        buf = io.StringIO()
        write_result(rs, buf, fmt)
        parts.append(buf.getvalue())
    if fmt == "csv":
        return "\n".join(parts)
    if len(parts) == 1:
        return parts[0]
    return "[\n" + ",\n".join(p.rstrip("\n") for p in parts) + "\n]\n"


def _print_results(cli: _LinkisCli, task: Any, fmt: str) -> None:
    from .linkis_tasks import fetch_result
    paths = cli.call(cli.sync.result_paths, task)
    sets = [cli.call(fetch_result, cli.sync, path) for path in paths]
    if not sets:
        print(f"task {task.task_id}: no result set", file=sys.stderr)
        return
    _emit(_results_text(sets, fmt))


def _error_log(cli: _LinkisCli, task: Any) -> list[str]:
    """The ERROR slice of a task's log (the entrance's while it has it, else the finished log)."""
    from .domain import BackendError
    try:
        if task.exec_id:
            try:
                return list(cli.sync.log(task.exec_id, 0, 10_000).error)
            except BackendError:
                pass
        return list(cli.sync.task_log(task).error)
    except BackendError:
        return []


def _failure(cli: _LinkisCli, task: Any) -> None:
    from .sanitize import clean, clean_line
    err = f"errCode {task.err_code}" if task.err_code is not None else "no errCode"
    desc = clean_line(task.err_desc, 1000) if task.err_desc else "no errDesc"
    print(f"task {task.task_id} {task.state.value}: {err}: {desc}", file=sys.stderr)
    for line in _error_log(cli, task):
        print(clean(line.rstrip("\r\n")), file=sys.stderr)


def _kill_for(cli: _LinkisCli, task_id: int, exec_id: str, why: str, progress: _Progress) -> None:
    """Best effort: the kill through the registry (audited); a failure is told, not raised."""
    from .actions import Target
    try:
        cli.act("linkis.kill", Target("LinkisTask", "", str(task_id)), {"exec_id": exec_id}, reason=why)
        progress.say(f"task {task_id}: killed ({why})")
    except CliError as err:
        progress.say(f"task {task_id}: could not kill it ({why}): {err}")


def _linkis_run(cli: _LinkisCli, args: argparse.Namespace) -> int:
    import time
    from .actions import Target
    from .domain import BackendError, LinkisState, NotFound, ReadOnly
    cli.refuse_if_read_only("run")
    code = _read_code(args)
    variables = _parse_vars(args.var)
    if args.timeout is not None and not args.timeout > 0:
        raise CliError("--timeout must be a number of seconds above 0", 2)
    params = {"engine": args.engine, "run_type": args.run_type, "code": code, "variables": variables,
              "creator": args.creator or cli.lk.creator, "queue": args.queue if args.queue is not None else cli.lk.queue}
    started = time.monotonic()
    deadline = started + args.timeout if args.timeout is not None else None
    result = cli.act("linkis.submit", Target("LinkisTask", "", "new"), params)
    task_id, exec_id = int(result.details["task_id"]), str(result.details.get("exec_id") or "")
    progress = _Progress()
    progress.say(f"task {task_id} submitted ({args.engine}, {args.run_type})")
    state, fraction, failures = LinkisState.INITED, 0.0, 0
    try:
        while True:
            try:
                try:
                    state = cli.sync.status(exec_id, task_id)
                    if not state.done:
                        fraction = max(fraction, float(cli.sync.progress(exec_id, task_id)[0]))
                except NotFound:  # it left the entrance: the history knows how it ended
                    state = cli.sync.task(task_id).state
                failures = 0
            except ReadOnly as err:
                raise CliError(f"linkis: {err.message}", 4) from None
            except BackendError as err:
                failures += 1
                if failures >= LINKIS_RETRIES or _linkis_exit(err) != 3:
                    progress.end()
                    raise _linkis_error(err) from None
            if state.done:
                if state == LinkisState.SUCCEED:
                    fraction = 1.0
                progress.show(task_id, state.value, fraction, started)
                break
            progress.show(task_id, state.value, fraction, started)
            if deadline is not None and time.monotonic() >= deadline:
                _kill_for(cli, task_id, exec_id, f"--timeout {args.timeout:g}s passed", progress)
                return 124
            wait = LINKIS_POLL_SECONDS if deadline is None else max(0.0, min(LINKIS_POLL_SECONDS,
                                                                               deadline - time.monotonic()))
            time.sleep(wait)
    except KeyboardInterrupt:
        _kill_for(cli, task_id, exec_id, "interrupted (Ctrl-C)", progress)
        return 130
    progress.end()
    task = cli.call(cli.sync.task, task_id)
    if state == LinkisState.SUCCEED:
        if not task.exec_id:
            task = task.model_copy(update={"exec_id": exec_id})
        _print_results(cli, task, args.output)
        return 0
    task = task.model_copy(update={"state": state, "exec_id": task.exec_id or exec_id})
    _failure(cli, task)
    return 1


def _live(cli: _LinkisCli, task: Any) -> Any:
    """A task not ended yet with its status and progress from the entrance (as it is when the entrance has no
    word of it)."""
    from .domain import BackendError, LinkisState
    if task.done or not task.exec_id:
        return task
    try:
        state = cli.sync.status(task.exec_id, task.task_id)
        update: dict[str, Any] = {"state": state}
        if not state.done:
            update["progress"] = max(task.progress, float(cli.sync.progress(task.exec_id, task.task_id)[0]))
        elif state == LinkisState.SUCCEED:
            update["progress"] = 1.0
        return task.model_copy(update=update)
    except BackendError:
        return task


def _status_line(task: Any) -> str:
    from datetime import datetime, timezone
    from .sanitize import clean_line
    parts = [f"task {task.task_id}", task.state.value, f"{int(task.progress * 100)}%", clean_line(task.engine, 40)
             or "-", clean_line(task.run_type, 20) or "-", f"creator={clean_line(task.creator, 40) or '-'}",
             f"user={clean_line(task.user or task.submit_user, 40) or '-'}"]
    if task.created is not None:
        parts.append(f"created={task.created.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}")
    took = task.duration(datetime.now(timezone.utc))
    if took is not None:
        parts.append(f"duration={took:.0f}s")
    if task.queue:
        parts.append(f"queue={clean_line(task.queue, 60)}")
    if task.err_code is not None or task.err_desc:
        parts.append(f"errCode {task.err_code if task.err_code is not None else '-'}: "
                     f"{clean_line(task.err_desc, 300)}")
    return " ".join(parts)


def _linkis_logs(cli: _LinkisCli, args: argparse.Namespace) -> int:
    import time
    from .domain import BackendError, NotFound
    from .linkis_tasks import log_lines
    task = cli.task(args.task)
    least = _LEVELS[args.level]

    def out(read: Any) -> None:
        lines = [ln.text for ln in log_lines(read) if ln.level >= least]
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()

    if task.exec_id and not task.done:
        from_line = 0
        try:
            while True:
                read = cli.sync.log(task.exec_id, from_line, 1000)
                out(read)
                got = read.from_line > from_line
                from_line = max(from_line, read.from_line)
                if got:
                    continue  # more may be waiting: read on before sleeping
                if not args.follow:
                    return 0
                state = cli.sync.status(task.exec_id, task.task_id)
                if state.done:
                    out(cli.sync.log(task.exec_id, from_line, 10_000))
                    return 0
                time.sleep(LINKIS_POLL_SECONDS)
        except NotFound:
            task = cli.call(cli.sync.task, task.task_id)  # it left the entrance: the whole log, from its file
            read = cli.call(cli.sync.task_log, task)
            if read.all:
                from .domain import LinkisLog
                out(LinkisLog(error=read.error, warn=read.warn, info=read.info, all=read.all[from_line:]))
            return 0
        except BackendError as err:
            raise _linkis_error(err) from None
    out(cli.call(cli.sync.task_log, task))
    return 0


def run_linkis(argv: list[str]) -> int:
    args = linkis_parser().parse_args(argv)
    if args.command in ("run", "kill") and args.read_only:  # refused before anything is read or reached
        raise CliError(f"linkis {args.command}: refused in read-only mode (--read-only)", 4)
    cli = _LinkisCli(args)
    try:
        if args.command == "run":
            return _linkis_run(cli, args)
        if args.command == "status":
            task = _live(cli, cli.task(args.task))
            if args.json:
                print(json.dumps(task.model_dump(mode="json"), ensure_ascii=False, indent=2))
            else:
                print(_status_line(task))
            return 0
        if args.command == "logs":
            return _linkis_logs(cli, args)
        if args.command == "kill":
            from .actions import Target
            from .sanitize import clean_line
            cli.refuse_if_read_only("kill")
            task = _live(cli, cli.task(args.task))
            if task.done:
                print(f"task {task.task_id} has already ended ({task.state.value}): nothing to kill", file=sys.stderr)
                return 1
            result = cli.act("linkis.kill", Target("LinkisTask", "", str(task.task_id)), {"exec_id": task.exec_id},
                             reason=args.reason.strip() or "killed with prophecis-tui linkis kill")
            print(clean_line(result.message, 300))
            return 0
        if args.command == "result":
            from .domain import LinkisState
            task = cli.task(args.task)
            if task.state != LinkisState.SUCCEED:
                print(f"task {task.task_id} is {task.state.value}: no result" + (
                    " yet" if not task.done else ""), file=sys.stderr)
                return 1
            _print_results(cli, task, args.output)
            return 0
    finally:
        cli.close()
    raise CliError(f"unknown linkis command {args.command!r}", 2)


# ---------------------------------------------------------------------------------------------- serve
SERVE_EPILOG = """Each browser session runs its own console (or wall), given every option serve does not take itself
(the console's --config, --context, --namespace, --demo, --read-only; with --wall, the wall's options too):
  prophecis-tui serve --wall --config ~/ops.toml --context prod --rotate 30

Access: textual-serve has no authentication of its own. By default serve binds 127.0.0.1 and answers only to
localhost (and no page of another site may open its websocket). Binding any other address, or naming a
--public-url (a proxy makes loopback reachable), requires a token (at least 16 characters): --token, or
better $PROPHECIS_TUI_SERVE_TOKEN (a command line is visible to every user of the machine). The page then asks for the token (or open http://HOST:PORT/?token=... once, e.g. in a
kiosk browser's start address); it is compared in constant time and answered with an HttpOnly cookie, and
never printed or logged. The traffic itself is plain HTTP: across an untrusted network, put serve behind a
TLS proxy and give its address as --public-url https://... . No other site may frame the page.
?fontsize=N in the address sets the font size."""


def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prophecis-tui serve",
                                description="The console, or the wall with --wall, in a web browser (textual-serve).",
                                epilog=SERVE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)  # an abbreviation must not swallow the console's options
    p.add_argument("--wall", action="store_true", help="serve the wall (prophecis-tui wall) instead of the console")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1; any other than loopback needs a token)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000; 0: a free one)")
    p.add_argument("--token", help="the access token the page asks for (default: $PROPHECIS_TUI_SERVE_TOKEN)")
    p.add_argument("--public-url", help="the address browsers use, when serve is behind a proxy (https://...)")
    return p


def _redacted(words: list[str]) -> list[str]:
    """Unknown command-line words as an error may show them: the options' names, never a value."""
    return [w.split("=", 1)[0] + ("=…" if "=" in w else "") if w.startswith("-") else "…" for w in words]


def run_serve(argv: list[str]) -> int:
    from . import serve
    args, rest = serve_parser().parse_known_args(argv)
    # the rest is the console's (or the wall's) own options: checked here, before anything listens
    app_args, unknown = (wall_parser() if args.wall else parser()).parse_known_args(rest)
    if unknown:  # argparse would echo them: a mistyped --token's value is a secret
        raise CliError(f"serve: unrecognized arguments: {' '.join(_redacted(unknown))} (see --help)", 2)
    _settings(app_args)  # a config that does not load fails now, not in each browser session
    token = args.token if args.token is not None else os.environ.get(serve.TOKEN_ENV)
    os.environ.pop(serve.TOKEN_ENV, None)  # the app's processes inherit the environment: not the token
    why = serve.token_problem(token, args.host, args.public_url)
    if why:
        raise CliError(f"serve: {why}", 2)
    if not 0 <= args.port <= 65535:
        raise CliError(f"serve: --port {args.port}: not a port", 2)
    if args.public_url and not re.match(r"^https?://[^/\s]+/?$", args.public_url):
        raise CliError("serve: --public-url must be http(s)://HOST[:PORT]", 2)
    command = serve.app_command(rest, wall=args.wall)
    return serve.serve(command, host=args.host, port=args.port, token=token, what="wall" if args.wall else "console",
                       public_url=args.public_url)


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
        if args and args[0] == "wall":
            return run_console(wall_parser().parse_args(args[1:]), wall=True)
        if args and args[0] == "audit":
            return run_audit(args[1:])
        if args and args[0] == "cmdb":
            return run_cmdb(args[1:])
        if args and args[0] == "alerts":
            return run_alerts(args[1:])
        if args and args[0] == "linkis":
            return run_linkis(args[1:])
        if args and args[0] == "serve":
            return run_serve(args[1:])
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

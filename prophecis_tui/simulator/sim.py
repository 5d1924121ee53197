"""The simulated platform as one object: world, controllers, API server, faults; and how to run it."""

from __future__ import annotations

import asyncio
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from aiohttp import web

from .auth import Identity, make_identities
from .alertmanager import PREFIX as AM_PREFIX
from .clock import SimClock
from .cmdb import FIELDS as CMDB_FIELDS, PATH as CMDB_PATH
from .engine import Engine
from .errors import ApiError, bad_request
from .faults import Faults
from .linkis import PREFIX as LINKIS_PREFIX, write_files as write_linkis_files
from .notebooks import NotebookController
from .seldon import SeldonController
from .server import ApiServer, json_response
from .training import BatchJobController, TrainingController
from .world import SCALES, World

GA_DEPARTMENTS = ("risk", "antifraud")


def _number(v: Any, what: str) -> float:
    """A finite, non-negative number from an admin body (JSON numbers; numeric strings too)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"{what} must be a number")
    try:
        num = float(v)
    except ValueError:
        raise ValueError(f"{what} must be a number, not {v!r}") from None
    if not math.isfinite(num) or num < 0:
        raise ValueError(f"{what} must be a finite number >= 0")
    return num


class Simulation:
    """Build with ``Simulation(scale, seed)``; serve with ``await start(host, port)``."""

    def __init__(self, scale: str = "small", seed: int = 42, *, start_time: float | None = None,
                 speed: float = 1.0, activity: bool = True) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
        if not (speed >= 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a finite number >= 0, not {speed}")
        self.scale_name = scale
        self.seed = seed
        self.clock = SimClock(start_time, speed)
        self.engine = Engine(self.clock, seed)
        self.faults = Faults(seed=seed)
        self.notebooks = NotebookController(self.engine)
        self.training = TrainingController(self.engine)
        self.batch = BatchJobController(self.engine)
        self.seldon = SeldonController(self.engine)
        scale_cfg = SCALES[scale]
        if not activity:
            from dataclasses import replace
            scale_cfg = replace(scale_cfg, activity=0.0)
        self.world = World(self.engine, scale_cfg, seed)
        ga_ns = [t.name for t in self.world.tenants if t.department in GA_DEPARTMENTS][:4]
        self.identities: list[Identity] = make_identities(seed, ga_ns)
        self.world.build()
        self.api = ApiServer(self)
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._ticker: asyncio.Task | None = None
        self._down_task: asyncio.Task | None = None
        self.down_until: float | None = None
        self.tls = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def identity(self, role: str) -> Identity:
        return next(i for i in self.identities if i.role == role)

    # ------------------------------------------------------------------ serving
    async def start(self, host: str = "127.0.0.1", port: int = 0, ca_dir: str | None = None) -> int:
        from .tls import make_tls
        self.host = host
        self.tls = make_tls(host, ca_dir)
        self._runner = web.AppRunner(self.api.app, handle_signals=False, access_log=None,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        await self._listen(port)
        self._ticker = asyncio.create_task(self._tick())
        return self.port

    async def _listen(self, port: int) -> None:
        self._site = web.TCPSite(self._runner, self.host, port, reuse_address=True, ssl_context=self.tls.context)
        await self._site.start()
        sock = self._site._server.sockets[0]  # the port the OS picked when port was 0
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
        if self._down_task:
            self._down_task.cancel()
        self.api.cancel_streams()
        if self._runner:
            server = self._runner.server
            transports = [h.transport for h in (server.connections if server is not None else [])
                          if h.transport is not None]
            await self._runner.cleanup()
            # A TLS close waits for the peer's close_notify, which an idle pooled client never sends:
            # cut what is left so no socket outlives the simulator.
            for t in transports:
                t.abort()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            try:
                self.engine.run_due()
            except Exception:  # a controller bug must not stop the world; it is logged and the tick goes on
                import traceback
                traceback.print_exc()

    async def go_down(self, seconds: float) -> None:
        """Stop answering (connection refused) for ``seconds``, cutting every open stream."""
        if self._site is None:
            return
        self.down_until = asyncio.get_running_loop().time() + seconds
        self.engine.store.close_watchers()
        self.api.cancel_streams()
        await self._site.stop()
        server = self._runner.server
        if server is not None:
            for conn in list(getattr(server, "connections", [])):
                conn.force_close()
        self._site = None

        async def back() -> None:
            await asyncio.sleep(seconds)
            await self._listen(self.port)
            self.down_until = None
        self._down_task = asyncio.create_task(back())

    # ------------------------------------------------------------------ admin endpoint
    async def admin(self, request: web.Request, ident: Identity, path: str) -> web.Response:
        if ident.role != "admin":
            raise ApiError(403, f'User "{ident.user}" cannot use the simulator admin endpoint', "Forbidden")
        what = path[len("/sim/admin"):].strip("/")
        body: dict[str, Any] = {}
        if request.method == "POST":
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                raise bad_request("admin body must be JSON") from None
            if not isinstance(body, dict):
                raise bad_request("admin body must be a JSON object")
        if what == "state" and request.method == "GET":
            return json_response(self.state())
        if request.method != "POST":
            raise ApiError(405, "use POST", "MethodNotAllowed")
        if what == "faults":
            try:
                down = _number(body.pop("down_seconds", 0) or 0, "down_seconds")
                drop = body.pop("drop_watches", False)
                if not isinstance(drop, bool):
                    raise ValueError("drop_watches must be true or false")
                drop_logs = body.pop("drop_logs", False)
                if not isinstance(drop_logs, bool):
                    raise ValueError("drop_logs must be true or false")
                self.faults.update(body)
            except (ValueError, TypeError) as err:
                raise bad_request(str(err)) from None
            if drop:
                self.engine.store.close_watchers()
            if drop_logs:
                self.api.drop_log_streams()
            if down > 0:
                asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.go_down(down)))
            return json_response(self.state())
        if what == "clock":
            unknown = set(body) - {"speed", "freeze", "advance"}
            if unknown:
                raise bad_request(f"unknown clock setting: {sorted(unknown)[0]}")
            try:
                speed = _number(body["speed"], "speed") if "speed" in body else None
                advance = _number(body.get("advance") or 0, "advance")
            except ValueError as err:
                raise bad_request(str(err)) from None
            if speed is not None:
                self.clock.set_speed(speed)
            if body.get("freeze"):
                self.clock.freeze()
            if advance:
                self.engine.advance(advance)
            self.engine.run_due()
            return json_response(self.state())
        if what == "chatty":  # the bench: one container writes `rate` lines a second from now on
            unknown = set(body) - {"namespace", "pod", "container", "rate"}
            if unknown:
                raise bad_request(f"unknown chatty setting: {sorted(unknown)[0]}")
            ns, pod, cname = body.get("namespace"), body.get("pod"), body.get("container")
            if not isinstance(ns, str) or not isinstance(pod, str) or not ns or not pod:
                raise bad_request("chatty needs namespace and pod")
            if cname is not None and not isinstance(cname, str):
                raise bad_request("chatty container must be a string")
            try:
                rate = _number(body.get("rate"), "rate")
                if not 0 < rate <= 1_000_000:
                    raise ValueError("rate must be more than 0 and at most 1000000 lines a second")
            except ValueError as err:
                raise bad_request(str(err)) from None
            p = self.engine.pod_rt(ns, pod)
            if p is None:
                raise ApiError(404, f'pods "{pod}" not found', "NotFound", {"name": pod, "kind": "pods"})
            if not cname:
                if len(p.containers) != 1:
                    raise bad_request(f"a container name must be specified for pod {pod}")
                cname = p.containers[0].name
            try:
                c = self.engine.set_log_rate(ns, pod, cname, rate)
            except KeyError:
                raise bad_request(f"container {cname} is not valid for pod {pod}") from None
            return json_response({"namespace": ns, "pod": pod, "container": c.name, "rate": c.rate,
                                  "running": c.log is not None and c.log.ended_at is None})
        if what == "compact":
            self.engine.store.compact(None)
            return json_response(self.state())
        if what == "upstream":  # tests: a real server (Prometheus) behind a Service, reached through the proxy
            unknown = set(body) - {"namespace", "service", "url"}
            if unknown:
                raise bad_request(f"unknown upstream setting: {sorted(unknown)[0]}")
            ns, svc, url = body.get("namespace"), body.get("service"), body.get("url")
            if not isinstance(ns, str) or not isinstance(svc, str) or not ns or not svc:
                raise bad_request("upstream needs namespace and service")
            if url is not None and not isinstance(url, str):
                raise bad_request("upstream url must be a string or null")
            self.api.proxy.set_upstream(ns, svc, url)
            return json_response({"upstreams": {f"{n}/{s}": u for (n, s), u in self.api.proxy.upstreams.items()}})
        raise ApiError(404, f"no admin endpoint {what!r}", "NotFound")

    def state(self) -> dict:
        from .resources import RESOURCES
        st = self.engine.store
        return {"scale": self.scale_name, "seed": self.seed, "resourceVersion": str(st.rv),
                "clock": {"now": self.clock.now(), "speed": self.clock.speed},
                "faults": self.faults.to_dict(),
                "counts": {r.plural: st.count(r) for r in RESOURCES if r.group != "authorization.k8s.io"},
                "watchers": sum(1 for _ in st.watchers())}

    # ------------------------------------------------------------------ kubeconfig
    def write_config(self, directory: str | os.PathLike) -> Path:
        """A kubeconfig with one context per identity (owner-only permissions); returns its path."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        import base64
        server = self.url
        names = {"admin": "sim-admin", "group-admin": "sim-group-admin", "viewer": "sim-viewer"}
        default_ns = {"admin": "", "group-admin": self.identity("group-admin").namespaces[0], "viewer": ""}
        cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "sim-admin",
               "clusters": [{"name": "prophecis-sim", "cluster": {
                   "server": server, "certificate-authority-data": base64.b64encode(self.tls.ca_pem).decode()}}],
               "users": [{"name": f"{names[i.role]}-{i.user}", "user": {"token": i.token}} for i in self.identities],
               "contexts": []}
        for i in self.identities:
            ctx: dict[str, Any] = {"cluster": "prophecis-sim", "user": f"{names[i.role]}-{i.user}"}
            if default_ns[i.role]:
                ctx["namespace"] = default_ns[i.role]
            cfg["contexts"].append({"name": names[i.role], "context": ctx})
        import yaml
        path = d / "kubeconfig"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(cfg, fh, sort_keys=False)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        ca = d / "ca.crt"  # what the console trusts for the exporter below (`sim --write-config` keeps it there)
        if not ca.exists():
            ca.write_bytes(self.tls.ca_pem)
        console = d / "config.toml"  # for `prophecis-tui --config DIR/config.toml`
        console.write_text(
            "# prophecis-tui console settings for this simulator (written by `prophecis-tui sim`)\n"
            f"kubeconfig = {json.dumps(str(path))}\ncontext = \"sim-admin\"\n"
            # the simulated Alertmanager on the API's port (no credentials; TLS signed by the CA in DIR/ca.crt)
            f"\n[alerts]\nalertmanagers = [{json.dumps(server + AM_PREFIX)}]\nca_file = {json.dumps(str(ca))}\n\n"
            # the simulated dcgm-exporter of every GPU node, on the API's port (TLS, signed by the
            # kubeconfig's CA, which `sim --write-config DIR` keeps in DIR/ca.crt), no credentials
            f"[metrics]\nsource = \"dcgm\"\ndcgm_url = {json.dumps(server + '/dcgm/metrics')}\n"
            f"ca_file = {json.dumps(str(ca))}\n\n"
            # the bank's CMDB (no credentials; the simulator's tokens are accepted), its field names mapped
            f"[cmdb]\nsource = \"url\"\nurl = {json.dumps(server + CMDB_PATH)}\nlist_key = \"data\"\n"
            f"ca_file = {json.dumps(str(ca))}\nrefresh_seconds = 60\n\n"
            "[cmdb.fields]\n" + "".join(f"{ours} = {json.dumps(theirs)}\n" for ours, theirs in CMDB_FIELDS.items())
            + "\n[contexts.sim-viewer]\nread_only = true\n" + self._linkis_config(d, ca))
        return path

    def _linkis_config(self, d: Path, ca: Path) -> str:
        """The simulated Linkis gateway: the token (and, for tests, every user's password) in owner-only files."""
        token_file, _ = write_linkis_files(self.api.linkis, d)
        return (f"\n[contexts.sim-viewer.linkis]\nuser = \"opsview\"\n"
                f"\n[contexts.sim-group-admin.linkis]\nuser = \"lihua\"\n"
                # the Linkis gateway on the API's port (TLS signed by DIR/ca.crt); Token-Code/Token-User auth
                f"\n[linkis]\nurl = {json.dumps(self.url + LINKIS_PREFIX)}\nuser = \"mlss-admin\"\n"
                f"token_file = {json.dumps(str(token_file))}\nca_file = {json.dumps(str(ca))}\n")

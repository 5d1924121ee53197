"""`prophecis-tui serve`: the console (or the wall) in a browser, through textual-serve.

textual-serve starts the app as a child process for each browser session (the command it runs carries the
serve command's own --config, --context, --demo, ...) and relays its terminal over a websocket to xterm.js in
the page. It has no authentication of its own, so everything it serves (the page, its static files, the
websocket, downloads) goes through ``TokenGate`` here:

* bound to loopback without a token: only a loopback Host (a DNS-rebound name is refused) and no foreign
  Origin on the websocket (a web page elsewhere must not drive the console through the user's browser);
* with a token (required to bind anywhere else): the token once, from a login form or ``?token=`` in the URL
  (compared in constant time), then an HttpOnly, SameSite=Strict cookie that is an HMAC of the token, never
  the token itself. The token is never printed, logged, or passed to the app's process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import ipaddress
import logging
import shlex
import signal
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

TOKEN_ENV = "PROPHECIS_TUI_SERVE_TOKEN"
COOKIE = "prophecis_tui_serve"
COOKIE_MAX_AGE = 30 * 24 * 3600  # a wall's kiosk browser restarting keeps its session for a month
MIN_TOKEN = 16
WRONG_TOKEN_DELAY = 1.0  # seconds a wrong token waits for its answer: guessing is slow
LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True for a name or address that only this machine reaches (localhost, 127.0.0.0/8, ::1)."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_problem(token: str | None, host: str, public_url: str | None = None) -> str:
    """Why serve must not start with this token on this host, behind this public address ("" when it may)."""
    if token is None:
        public = _host_name(_origin_host(public_url)) if public_url else ""
        if public and not is_loopback(public):  # a proxy on this machine makes loopback reachable from others
            return (f"--public-url {public_url} makes it reachable from other machines through a proxy: it needs a "
                    f"token (--token, or ${TOKEN_ENV}); textual-serve has no authentication of its own")
        if is_loopback(host):
            return ""
        return (f"--host {host} is reachable from other machines: it needs a token (--token, or "
                f"${TOKEN_ENV}); textual-serve has no authentication of its own")
    if len(token) < MIN_TOKEN or not token.strip():
        return (f"the token must have at least {MIN_TOKEN} characters (e.g. python3 -c "
                "'import secrets; print(secrets.token_urlsafe())')")
    return ""


def app_command(passthrough: list[str], wall: bool = False, python: str | None = None) -> str:
    """The shell command textual-serve runs for each browser session: this prophecis-tui, the console or the
    wall, with the serve command's own connection options. Each argument quoted (textual-serve runs it with a
    shell)."""
    argv = [python or sys.executable, "-m", "prophecis_tui", *(["wall"] if wall else []), *passthrough]
    return shlex.join(argv)


def _host_name(host_header: str) -> str:
    """The name of a Host header or an Origin's netloc, without its port."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


LOGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>prophecis-tui: token required</title>
<style>body{{background:#0c181f;color:#eee;font-family:monospace;display:flex;height:100vh;margin:0;
align-items:center;justify-content:center}}form{{background:#12232d;padding:32px}}input{{font:inherit;
margin:8px 0;padding:6px;width:24em}}button{{font:inherit;padding:6px 18px}}.err{{color:#f77}}</style></head>
<body><form method="post" action="/login"><h2>prophecis-tui {what}</h2>
<p>This server asks for its access token.</p>{error}
<label>Token<br><input type="password" name="token" autocomplete="current-password" autofocus></label>
<input type="hidden" name="next" value="{next}"><br><button type="submit">Open</button></form></body></html>
"""


class TokenGate:
    """The aiohttp middleware in front of every route textual-serve has (see the module's docstring)."""

    def __init__(self, token: str | None, what: str = "console", secure: bool = False,
                 public_url: str | None = None) -> None:
        self._token = token.encode() if token is not None else None
        # the cookie proves the token was given once; it is not the token (and stays valid across restarts
        # of serve with the same token)
        self._session = (hmac.new(self._token, b"prophecis-tui serve session", hashlib.sha256).hexdigest()
                         if self._token is not None else "")
        self.what = what
        self.secure = secure
        # behind a proxy the page comes from the public address while the Host we see may be the proxy's
        self.public_host = _origin_host(public_url) if public_url else ""

    @property
    def required(self) -> bool:
        return self._token is not None

    def token_ok(self, given: str) -> bool:
        return self._token is not None and hmac.compare_digest(given.encode(), self._token)

    def cookie_ok(self, request: web.Request) -> bool:
        return bool(self._session) and hmac.compare_digest(request.cookies.get(COOKIE, "").encode(),
                                                           self._session.encode())

    def _set_cookie(self, response: web.StreamResponse) -> None:
        response.set_cookie(COOKIE, self._session, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                            samesite="Strict", secure=self.secure)

    def _login(self, request: web.Request, error: str = "", status: int = 401) -> web.Response:
        nxt = request.path_qs if request.path != "/login" else "/"
        body = LOGIN_PAGE.format(what=html.escape(self.what), next=html.escape(_safe_next(nxt)),
                                 error=f'<p class="err">{html.escape(error)}</p>' if error else "")
        return web.Response(text=body, status=status, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        websocket = request.headers.get("Upgrade", "").lower() == "websocket" or request.path == "/ws"
        if not self.required and not is_loopback(_host_name(request.host)):
            raise web.HTTPForbidden(text="this server answers only to localhost\n")
        origin = request.headers.get("Origin")
        if websocket and origin is not None:  # a browser's: the page must be ours ("null", a sandboxed frame's or a
            # file's, is not: any site could open one)
            ours = {_default_port_off(request.host.lower(), request.scheme), *([self.public_host] if self.public_host
                                                                                else [])}
            if _origin_host(origin) not in ours:
                log.warning("refused a websocket from a page of another site")
                raise web.HTTPForbidden(text="cross-site websocket refused\n")
        if not self.required:
            return await handler(request)
        if request.path == "/login" and request.method == "POST":
            form = await request.post()
            nxt = _safe_next(str(form.get("next", "/")))
            if self.token_ok(str(form.get("token", ""))):
                response = web.HTTPSeeOther(nxt)
                self._set_cookie(response)
                raise response
            log.warning("a wrong token from %s", request.remote)
            await asyncio.sleep(WRONG_TOKEN_DELAY)
            return self._login(request, "That is not the token.")
        if self.cookie_ok(request):
            return await handler(request)
        if "token" in request.query and not websocket:
            if self.token_ok(request.query["token"]):
                rest = [(k, v) for k, v in request.query.items() if k != "token"]
                response = web.HTTPSeeOther(request.path + (f"?{urlencode(rest)}" if rest else ""))
                self._set_cookie(response)  # and the token leaves the address bar
                raise response
            log.warning("a wrong token from %s", request.remote)
            await asyncio.sleep(WRONG_TOKEN_DELAY)
            return self._login(request, "That is not the token.")
        if websocket or request.path != "/":
            raise web.HTTPForbidden(text="the token is required\n")
        return self._login(request)


async def _no_framing(request: web.Request, response: web.StreamResponse) -> None:
    """No page of another site may show ours in a frame (and trick its user into typing into the console)."""
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")


def _origin_host(origin: str) -> str:
    """host[:port] of an Origin header (or a URL), lower case, without its scheme's default port ('' for
    'null')."""
    scheme, sep, rest = origin.partition("://")
    if not sep:
        return ""
    return _default_port_off(rest.split("/", 1)[0].lower(), scheme.lower())


def _default_port_off(host: str, scheme: str = "http") -> str:
    default = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}.get(scheme, "")
    return host[: -len(default)] if default and host.endswith(default) else host


def _safe_next(nxt: str) -> str:
    """A same-site path to go back to after the login (nothing that leaves this server)."""
    plain = not any(c.isspace() or ord(c) < 32 or c == "\\" for c in nxt)  # a browser drops tabs: "/\t/x"
    return nxt if plain and nxt.startswith("/") and not nxt.startswith("//") else "/"


def _page_template() -> str:
    """textual-serve's page, without the web font it fetches from fonts.googleapis.com: a wall screen's
    network often has no way out, and a stylesheet that cannot load holds the page (xterm.js uses the
    monospace fonts the package serves itself)."""
    import re
    import textual_serve
    text = (Path(textual_serve.__file__).parent / "templates" / "app_index.html").read_text(encoding="utf-8")
    return re.sub(r'<link\s+rel="stylesheet"\s+href="https://fonts\.googleapis\.com[^>]*>\s*', "", text)


def make_server(command: str, *, host: str, port: int, gate: TokenGate, title: str,
                public_url: str | None = None) -> Any:
    """A textual-serve Server for ``command`` behind ``gate``, whose page points its websocket at the address
    the browser used (or ``public_url``, behind a proxy), not at the bind address (0.0.0.0 is no place to
    connect to)."""
    import aiohttp_jinja2
    import jinja2
    from textual_serve.server import Server, to_int

    class GatedServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(gate.middleware)
            app.on_response_prepare.append(_no_framing)
            if gate.required:
                app.router.add_post("/login", self.handle_index)  # answered by the gate, before this handler
            aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": _page_template()}))
            return app

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            base = (public_url or f"{request.scheme}://{request.host}").rstrip("/")
            ws = ("wss:" if base.startswith("https:") else "ws:") + base.split(":", 1)[1] + "/ws"
            context = {"font_size": to_int(request.query.get("fontsize", "16"), 16), "app_websocket_url": ws,
                       "config": {"static": {"url": base + "/static/"}}, "application": {"name": self.title},
                       "ping_url": ""}
            response = aiohttp_jinja2.render_template("app_index.html", request, context)
            response.headers["Cache-Control"] = "no-store"
            return response

        async def on_startup(self, app: web.Application) -> None:  # no banner: serve prints its own line
            return None

    return GatedServer(command, host=host, port=port, title=title, public_url=public_url)


async def _serve(server: Any, host: str, port: int, announce: Callable[[str], None]) -> None:
    app = await server._make_app()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)  # an access log would show ?token=
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=5.0)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        announce(str(bound))
        await stop.wait()
    finally:
        await runner.cleanup()  # each open browser session's app is told to quit


def serve(command: str, *, host: str, port: int, token: str | None, what: str, public_url: str | None = None,
          out: Any = None) -> int:
    """Serve until SIGINT/SIGTERM/SIGHUP; prints one line with the address once listening. Returns the exit
    code. ``token`` must have passed ``token_problem``."""
    out = out or sys.stdout
    gate = TokenGate(token, what, secure=bool(public_url and public_url.startswith("https:")),
                     public_url=public_url)
    server = make_server(command, host=host, port=port, gate=gate, title=f"prophecis-tui {what}",
                         public_url=public_url)
    logging.basicConfig(level=logging.WARNING, format="prophecis-tui serve: %(message)s")

    def announce(bound: str) -> None:
        shown = f"[{host}]" if ":" in host else host
        guard = ("token required (the page asks for it, or open it once with ?token=...)" if gate.required
                 else "loopback only, no token")
        print(f"prophecis-tui serve: the {what} on http://{shown}:{bound}/ ({guard}); Ctrl+C stops",
              file=out, flush=True)
    try:
        asyncio.run(_serve(server, host, port, announce))
    except OSError as err:
        print(f"prophecis-tui serve: cannot listen on {host}:{port}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0

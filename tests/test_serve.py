"""`prophecis-tui serve`: the console (or the wall) in a real browser through textual-serve, and the token that
guards it (textual-serve has none of its own).

The browser is Debian's headless Chromium driven over its DevTools protocol: the page is loaded as a user would,
the terminal stream the page's own websocket receives is read back (xterm.js draws on a canvas, so the DOM has no
text), and the canvas is checked for drawn text. Without Chromium the browser tests skip, except under CI=true
where they fail (`make test` installs it as root, like Prometheus)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from prophecis_tui.cli import main
from prophecis_tui.serve import COOKIE, TOKEN_ENV, _safe_next, app_command, is_loopback, token_problem
from prophecis_tui.simulator.testing import SimThread

from .conftest import wait_until

TOKEN = "wall-screen-token-0123456789"
ANSI = re.compile(r"\x1b(\[[0-9;?<=>!$\"' ]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])")


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A simulated platform (real time) and its written console config."""
    d = tmp_path_factory.mktemp("serve")
    with SimThread(scale="tiny", seed=7, speed=1.0) as t:
        t.write_config(d / "sim")
        yield t, d / "sim" / "config.toml", d


@pytest.fixture(scope="module")
def gpus(platform) -> tuple[int, int]:
    """The cluster's GPUs (allocated, allocatable) as `prophecis-tui status` reads them."""
    _, cfg, d = platform
    out = subprocess.run([sys.executable, "-m", "prophecis_tui", "status", "--json", "--config", str(cfg)],
                         capture_output=True, text=True, env=child_env(d), timeout=120)
    g = json.loads(out.stdout)["cluster_gpus"]
    assert g["allocatable"] > 0
    return int(g["allocated"]), int(g["allocatable"])


def child_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHECIS_TUI_")}
    env.update(XDG_DATA_HOME=str(tmp / "xdg"), XDG_CONFIG_HOME=str(tmp / "xdg-config"), PYTHONUNBUFFERED="1")
    return env


class Served:
    """`prophecis-tui serve ...` in a child process on a free loopback port (it prints its address)."""

    def __init__(self, args: list[str], env: dict[str, str], tmp: Path) -> None:
        self.out_path, self.err_path = tmp / "serve.out", tmp / "serve.err"
        self.proc = subprocess.Popen([sys.executable, "-m", "prophecis_tui", "serve", "--port", "0", *args],
                                     stdout=self.out_path.open("w"), stderr=self.err_path.open("w"), env=env)
        found: dict[str, str] = {}

        def listening() -> bool:
            m = re.search(r"on (http://\S+?)/ ", self.out_path.read_text())
            if m:
                found["url"] = m.group(1)
            return bool(m) or self.proc.poll() is not None
        wait_until(listening, 30, "serve listening")
        assert "url" in found, f"serve did not start: {self.output()}"
        self.url = found["url"]

    def output(self) -> str:
        return self.out_path.read_text() + self.err_path.read_text()

    def apps(self) -> list[int]:
        """The processes serve started for browser sessions (its descendants)."""
        rows = [ln.split() for ln in subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True,
                                                        text=True).stdout.splitlines()]
        children: dict[int, list[int]] = {}
        for pid, ppid in rows:
            children.setdefault(int(ppid), []).append(int(pid))
        out, todo = [], list(children.get(self.proc.pid, []))
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; every app it started quits with it."""
        apps = self.apps()
        self.proc.terminate()
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") and not _zombie(pid) for pid in apps), 20,
                   "the apps serve started have quit")
        return code


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def serve(platform, tmp_path):
    started: list[Served] = []

    def start(*args: str) -> Served:
        _, cfg, _ = platform
        s = Served([*args, "--config", str(cfg)], child_env(tmp_path), tmp_path)
        started.append(s)
        return s
    yield start
    for s in started:
        assert s.stop() == 0, s.output()


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: `make test` installs Debian's chromium")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; `make test` does it as root)")
    return path


def screen_text(stream: str) -> str:
    """The printable text of a terminal stream (escape sequences out, runs of blanks made one)."""
    return re.sub(r"[ \t]+", " ", ANSI.sub(" ", stream))


# ---------------------------------------------------------------------------------------------- a browser
HOOK = """(() => {
  // keep what the page's websocket receives: xterm.js draws it on a canvas, where no test can read it
  const Real = window.WebSocket, decoder = new TextDecoder();
  window.__tty = [];
  window.WebSocket = function (url, protocols) {
    const ws = protocols === undefined ? new Real(url) : new Real(url, protocols);
    ws.addEventListener("message", (e) => {
      if (e.data instanceof ArrayBuffer) window.__tty.push(decoder.decode(e.data, {stream: true}));
      else if (typeof e.data !== "string") e.data.arrayBuffer().then((b) => window.__tty.push(decoder.decode(b, {stream: true})));
    });
    return ws;
  };
  window.WebSocket.prototype = Real.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) window.WebSocket[k] = Real[k];
})();"""

DRAWN = """(() => {
  // the share of the terminal canvas's pixels that carry a glyph, and how many colours they have
  const c = document.querySelector(".xterm-text-layer");
  if (!c || !document.body.classList.contains("-first-byte")) return {ink: 0, colours: 0};
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let ink = 0; const colours = new Set();
  for (let i = 0; i < d.length; i += 4 * 7) {
    if (d[i + 3] > 0) { ink++; colours.add((d[i] >> 4) + "," + (d[i + 1] >> 4) + "," + (d[i + 2] >> 4)); }
  }
  return {ink: ink / (d.length / (4 * 7)), colours: colours.size};
})()"""


class Browser:
    """Headless Chromium over the DevTools protocol (one page)."""

    def __init__(self, binary: str, tmp: Path) -> None:
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1600,900", "--no-first-run",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={tmp / 'chromium'}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.endpoint = ""
        deadline = time.monotonic() + 60
        assert self.proc.stderr is not None
        while time.monotonic() < deadline and not self.endpoint:
            line = self.proc.stderr.readline()
            if not line:
                break
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                self.endpoint = m.group(1)
        assert self.endpoint, "chromium did not start its DevTools endpoint"
        self._ids = 0

    async def open(self) -> None:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(self.endpoint, max_msg_size=0)
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        self.session = attached["sessionId"]
        await self.call("Page.enable", session=True)
        await self.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK, session=True)

    async def call(self, method: str, session: bool = False, **params) -> dict:
        self._ids += 1
        msg = {"id": self._ids, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        await self.ws.send_str(json.dumps(msg))
        while True:
            reply = json.loads((await self.ws.receive(timeout=60)).data)
            if reply.get("id") == self._ids:
                assert "error" not in reply, reply
                return reply.get("result", {})

    async def eval(self, expression: str):
        got = await self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                              awaitPromise=True)
        return got["result"].get("value")

    async def until(self, expression: str, test, timeout: float, what: str):
        """Evaluate until ``test(value)`` holds (bounded); returns the last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.eval(expression)
            if test(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout}s (last: {str(value)[:300]!r})")
            await asyncio.sleep(0.25)

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def load_in_browser(binary: str, tmp: Path, url: str, shows) -> tuple[str, str, dict]:
    """Open ``url`` in headless Chromium; wait until the screen text the page received passes ``shows`` and
    the canvas has drawn it; returns (the page's final address, the screen's text, the canvas figures), with a
    screenshot in tmp/screen.png."""
    b = Browser(binary, tmp)
    try:
        await b.open()
        await b.call("Page.navigate", session=True, url=url)
        text = await b.until("window.__tty ? window.__tty.join('') : ''", lambda v: bool(v and shows(
            screen_text(v))), 90, "the page's terminal showing what was expected")
        drawn = await b.until(DRAWN, lambda v: v and v["ink"] > 0.01 and v["colours"] >= 3, 30,
                              "the canvas drawing the screen")
        shot = await b.call("Page.captureScreenshot", session=True, format="png")
        (tmp / "screen.png").write_bytes(base64.b64decode(shot["data"]))
        where = await b.eval("location.href")
        return where, screen_text(text), drawn
    finally:
        await b.close()


# ---------------------------------------------------------------------------------------------- tests
def test_the_console_in_a_real_browser_behind_the_token(serve, gpus, tmp_path):
    """The kiosk's way in: the address with ?token= once; the token leaves the address bar, the page's websocket
    carries the console's cluster headline, the canvas shows it, and the token is never printed."""
    binary = chromium()
    _, total = gpus
    headline = re.compile(rf"Cluster GPUs \d+/{total} ")
    s = serve("--token", TOKEN)
    where, text, drawn = asyncio.run(load_in_browser(
        binary, tmp_path, f"{s.url}/?token={TOKEN}",
        # the header (the context and the cluster: it shows '-' for a moment) and the cluster headline
        lambda t: "sim-admin @ prophecis-sim" in t and bool(headline.search(t)) and f"of {total} GPUs" in t
        and "nodes 5/5 ready" in t))
    assert where == f"{s.url}/"  # redirected without the token
    assert drawn["ink"] > 0.01 and drawn["colours"] >= 3
    assert (tmp_path / "screen.png").stat().st_size > 20_000  # more than the plain intro card
    wait_until(lambda: not s.apps(), 20, "the console quitting when its browser went away")
    assert TOKEN not in s.output()


def big_digits(text: str, bold: bool = True) -> list[str]:
    """The rows of ``text`` as Textual's Digits draws it (the wall's headline figures; bold: heavy lines), blanks
    as screen_text leaves them."""
    from rich.console import Console
    from textual.renderables.digits import Digits
    with open(os.devnull, "w") as sink:
        c = Console(width=200, record=True, file=sink, color_system=None)
        c.print(Digits(text, style="bold" if bold else ""))
    return [re.sub(r" +", " ", row).strip() for row in c.export_text().splitlines() if row.strip()]


def test_the_wall_in_a_real_browser(serve, gpus, tmp_path):
    """`serve --wall`: the browser shows the wall's headline, GPUs in use / total in big digits."""
    binary = chromium()
    _, total = gpus
    figures = [big_digits(f"{used}/{total}", bold) for used in range(total + 1) for bold in (True, False)]

    def shows_gpus(text: str) -> bool:
        return "GPUs in use / total" in text and any(all(row in text for row in rows) for rows in figures)
    s = serve("--wall")
    where, text, drawn = asyncio.run(load_in_browser(binary, tmp_path, f"{s.url}/", shows_gpus))
    assert where == f"{s.url}/"
    assert "notebooks running" in text and "deployments failing" in text
    assert drawn["ink"] > 0.01 and drawn["colours"] >= 3


def test_token_gate_over_http(serve):
    s = serve("--token", TOKEN)
    with httpx.Client(base_url=s.url, follow_redirects=False, timeout=30) as c:
        page = c.get("/")
        assert page.status_code == 401 and 'type="password"' in page.text  # the page asks for the token
        for path in ("/static/js/textual.js", "/download/x", "/ws"):
            assert c.get(path).status_code == 403, path
        assert c.get("/", params={"token": "wrong-token-wrong-token"}).status_code == 401
        wrong = c.post("/login", data={"token": "nope", "next": "/"})
        assert wrong.status_code == 401 and "not the token" in wrong.text
        assert COOKIE not in c.cookies
        # the login form
        ok = c.post("/login", data={"token": TOKEN, "next": "/?fontsize=20"})
        assert ok.status_code == 303 and ok.headers["location"] == "/?fontsize=20"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        page = c.get("/?fontsize=20")
        assert page.status_code == 200 and f'data-session-websocket-url="ws://{s.url[7:]}/ws"' in page.text
        assert 'data-font-size="20"' in page.text and "fonts.googleapis.com" not in page.text
        assert c.get("/static/js/textual.js").status_code == 200
    with httpx.Client(base_url=s.url, follow_redirects=False, timeout=30) as c:  # ?token= once
        once = c.get("/", params={"token": TOKEN, "fontsize": "12"})
        assert once.status_code == 303 and once.headers["location"] == "/?fontsize=12"
        assert c.get("/").status_code == 200
    with httpx.Client(base_url=s.url, timeout=30, cookies={COOKIE: "forged"}) as c:
        assert c.get("/").status_code == 401
    assert TOKEN not in s.output()


def websocket_status(url: str, headers: dict | None = None, cookies: dict | None = None) -> int:
    """The status of a websocket handshake with serve at ``url``: 101 when it was taken."""
    async def attempt() -> int:
        async with aiohttp.ClientSession(cookies=cookies or {}) as http:
            try:
                async with http.ws_connect(f"{url}/ws", headers=headers or {}) as ws:
                    await ws.close()
                    return 101
            except aiohttp.WSServerHandshakeError as err:
                return err.status
    return asyncio.run(attempt())


def test_websocket_needs_the_cookie_and_our_own_origin(serve):
    s = serve("--token", TOKEN)
    with httpx.Client(base_url=s.url, follow_redirects=False, timeout=30) as c:
        cookie = c.get("/", params={"token": TOKEN}).cookies[COOKIE]
    assert websocket_status(s.url, {}, {}) == 403
    assert websocket_status(s.url, {}, {COOKIE: "forged"}) == 403
    assert websocket_status(s.url, {"Origin": "http://evil.example"}, {COOKIE: cookie}) == 403
    assert websocket_status(s.url, {"Origin": s.url}, {COOKIE: cookie}) == 101


def test_on_loopback_without_a_token_no_other_page_drives_the_console(serve):
    """Any page the operator visits could open a websocket to 127.0.0.1: only our own page's is taken; a sandboxed
    frame's or a file's (Origin: null) is not, and no other site may frame our page."""
    s = serve()

    assert websocket_status(s.url, {"Origin": "null"}) == 403
    assert websocket_status(s.url, {"Origin": "http://evil.example"}) == 403
    assert websocket_status(s.url, {"Origin": s.url}) == 101
    with httpx.Client(timeout=30) as c:
        page = c.get(f"{s.url}/")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_behind_a_tls_proxy_the_page_points_at_the_public_address(serve):
    s = serve("--token", TOKEN, "--public-url", "https://wall.example")

    with httpx.Client(base_url=s.url, follow_redirects=False, timeout=30) as c:
        login = c.get("/", params={"token": TOKEN})
        assert "Secure" in login.headers["set-cookie"]
        cookie = login.cookies[COOKIE]
    with httpx.Client(base_url=s.url, timeout=30, cookies={COOKIE: cookie}) as c:  # Secure: httpx keeps it off http
        page = c.get("/")
        assert 'data-session-websocket-url="wss://wall.example/ws"' in page.text
        assert "https://wall.example/static/js/textual.js" in page.text
    assert websocket_status(s.url, {"Origin": "https://wall.example"}, {COOKIE: cookie}) == 101
    assert websocket_status(s.url, {"Origin": "https://elsewhere.example"}, {COOKIE: cookie}) == 403


def test_a_port_in_use_is_one_line_and_exit_1(platform, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "prophecis_tui", "serve", "--port", str(port), "--config",
                            str(platform[1])], capture_output=True, text=True, env=child_env(tmp_path), timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"prophecis-tui serve: cannot listen on 127.0.0.1:{port}: error while attempting "
                                f"to bind on address ('127.0.0.1', {port}): address already in use")


def test_loopback_without_a_token_answers_only_to_localhost(serve):
    s = serve()
    port = s.url.rsplit(":", 1)[1]
    with httpx.Client(timeout=30) as c:
        assert c.get(f"{s.url}/").status_code == 200
        assert c.get(f"http://localhost:{port}/", headers={"Host": f"localhost:{port}"}).status_code == 200
        # a DNS-rebound name pointing at 127.0.0.1 must not reach the console
        assert c.get(f"{s.url}/", headers={"Host": f"attacker.example:{port}"}).status_code == 403
    assert "loopback only, no token" in s.output()


def test_a_non_loopback_bind_without_a_token_refuses_to_start(capsys, monkeypatch, platform):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setattr("prophecis_tui.serve.serve", lambda *a, **k: pytest.fail("it listened"))
    cfg = str(platform[1])
    assert main(["serve", "--host", "0.0.0.0", "--config", cfg]) == 2
    assert "needs a token" in capsys.readouterr().err
    assert main(["serve", "--host", "192.0.2.10", "--token", "short", "--config", cfg]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    # loopback behind a proxy (the README's TLS set-up) is reachable from others: no token, no start
    assert main(["serve", "--public-url", "https://wall.example", "--config", cfg]) == 2
    assert "through a proxy: it needs a token" in capsys.readouterr().err


def test_the_token_from_the_environment_is_not_handed_to_the_app(monkeypatch, platform):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    seen = {}

    def fake(command, **kw):
        seen.update(kw, command=command, env=os.environ.get(TOKEN_ENV))
        return 0
    monkeypatch.setattr("prophecis_tui.serve.serve", fake)
    assert main(["serve", "--host", "0.0.0.0", "--config", str(platform[1]), "--context", "sim-viewer",
                 "--demo"]) == 0
    assert seen["token"] == TOKEN and seen["env"] is None and TOKEN not in seen["command"]
    assert seen["command"].endswith(f"-m prophecis_tui --config {platform[1]} --context sim-viewer --demo")


def test_bad_console_options_fail_before_listening(capsys, monkeypatch):
    monkeypatch.setattr("prophecis_tui.serve.serve", lambda *a, **k: pytest.fail("it listened"))
    assert main(["serve", "--no-such-option"]) == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
    # a mistyped --token: its value is a secret, not echoed to the terminal (or a service's journal)
    assert main(["serve", "--host", "0.0.0.0", "--tokne", TOKEN, "--tokn=" + TOKEN]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --tokne … --tokn=…" in err and TOKEN not in err


def test_help_says_how_access_is_guarded(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "no authentication of its own" in out and "requires a token" in out and TOKEN_ENV in out


def test_helpers():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "wall.example", ""))
    assert token_problem(None, "127.0.0.1") == "" and "needs a token" in token_problem(None, "0.0.0.0")
    assert token_problem("x" * 16, "0.0.0.0") == ""
    # behind a proxy on this machine, loopback is reachable from others: the token is needed all the same
    assert "needs a token" in token_problem(None, "127.0.0.1", "https://wall.example")
    assert token_problem(None, "127.0.0.1", "http://localhost:8000") == ""
    assert token_problem("x" * 16, "127.0.0.1", "https://wall.example") == ""
    assert [_safe_next(n) for n in ("/?fontsize=20", "//evil.example", "/\t/evil.example", "/\\evil", "http://x")] \
        == ["/?fontsize=20", "/", "/", "/", "/"]
    cmd = app_command(["--config", "/tmp/a b.toml", "--context", "prod;rm -rf /"], wall=True, python="/py")
    assert cmd == "/py -m prophecis_tui wall --config '/tmp/a b.toml' --context 'prod;rm -rf /'"

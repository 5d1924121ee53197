"""How an adapter names the HTTP endpoint it talks to, in its errors and health lines."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httpx

from prophecis_tui.sanitize import clean_line


def where(url: str) -> str:
    """The endpoint in one line: host[:port] and path, no trailing slash; no user, no password, no query string
    (they may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host += f":{parts.port}"
    return clean_line(host + parts.path.rstrip("/"), 120)


def json_client(*, ca_file: str | None, verify: bool, timeout: float, headers: dict | None = None,
                **kw) -> httpx.Client:
    """The httpx client a REST adapter talks JSON with: the CA bundle (or ``verify``), a timeout with connect
    capped at 5 s, no redirects followed (a login page is an error), no proxy or netrc from the environment."""
    tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file and verify else verify
    return httpx.Client(verify=tls, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False,
                        trust_env=False,
                        headers={"Accept": "application/json", "User-Agent": "prophecis-tui", **(headers or {})}, **kw)

"""How an adapter names the HTTP endpoint it talks to, in its errors and health lines."""

from __future__ import annotations

from urllib.parse import urlsplit

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

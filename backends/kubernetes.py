"""The Kubernetes backend: the official client for transport (kubeconfig, TLS, tokens, client
certificates, exec plugins), our own small parsers for the data.

Build it with ``Kubernetes.from_kubeconfig(...)``. Every call blocks (the core runs them in
threads) and raises only ``prophecis_tui.domain`` errors, whose text is one line and never holds
a token, or ``ConfigError`` while the kubeconfig is being read.

Transport decisions:
- One ``ApiClient`` (one urllib3 pool) per backend. Requests go through
  ``ApiClient.param_serialize`` / ``call_api`` (the client's own auth, TLS and token-refresh
  path) and come back unparsed (urllib3 never preloads); the body is read with ``json.loads`` and
  turned into domain objects by ``backends.k8s_parse``. No client model is built: deserialising
  10k pods into models takes seconds.
- Timeouts: (5 s connect, 30 s read) for requests; a watch reads with ``timeoutSeconds + 30 s``
  so a silent, half-dead connection still ends, while the server's own ``timeoutSeconds`` ends a
  healthy stream first.
- Retries: urllib3's default ``Retry(3)`` sleeps ``Retry-After`` on 429/503 up to three times
  (wire-protocols 1.5 / the fault tests), holding a worker for that long and hiding the overload.
  This backend configures ``Retry(total=3, connect=1, read=1, status=0,
  respect_retry_after_header=False)``: one quick retry of a refused connection or a reused
  keep-alive connection that the server had closed (idempotent requests only, as urllib3 does),
  no status retries. A 429/503 surfaces at once as ``Unavailable`` (status and ``retry_after``
  set), and the caller's feed loop backs off, so the UI can show the source as degraded.
  The client's opt-in ``client_go_retries`` stays off for the same reason.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

import orjson

import urllib3
import yaml

from backends.base import DomainObject, Identity, ListResult, Resource, WatchEvent
from backends.log_stream import HttpLogStream, OpenResponse
from backends import k8s_parse as parse
from backends.page_worker import Job, PageError, PageWorker, WorkerGone
from prophecis_tui.domain import (BackendError, Conflict, Expired, Forbidden, Invalid, NotFound, ReadOnly,
                                  Timeout, Unauthorized, Unavailable)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
PAGE_SIZE = 500
CAN_I_TTL = 60.0
WATCH_READ_SLACK = 30.0
FOLLOW_READ_TIMEOUT = 300.0  # a log follow with nothing to say for this long breaks (and is resumed)
SOURCE = "kubernetes"
NOTEBOOK_VERSIONS = ("v1", "v1beta1", "v1alpha1")  # preferred first


def list_meta(doc: dict) -> tuple[str, str]:
    """(resourceVersion, continue) of a list's page, "" where absent or not a string."""
    md = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    rv, cont = md.get("resourceVersion"), md.get("continue")
    return rv if isinstance(rv, str) else "", cont if isinstance(cont, str) else ""


class ConfigError(Exception):
    """The kubeconfig cannot be used. ``str()`` is one line for the user, without secrets."""


# ------------------------------------------------------------------------------------------ what we read
@dataclass(frozen=True)
class _Kind:
    name: str  # the resource (plural) the console asks for
    state_kind: str  # the state kind it feeds
    group: str
    versions: tuple[str, ...]  # acceptable versions, preferred first
    plural: str
    namespaced: bool
    parse: Callable[[Any], DomainObject]
    label_selector: str = ""
    field_selector: str = ""


KINDS: dict[str, _Kind] = {k.name: k for k in (
    _Kind("namespaces", "namespaces", "", ("v1",), "namespaces", False, parse.parse_namespace),
    _Kind("nodes", "nodes", "", ("v1",), "nodes", False, parse.parse_node),
    _Kind("pods", "pods", "", ("v1",), "pods", True, parse.parse_pod),
    _Kind("notebooks", "notebooks", "kubeflow.org", NOTEBOOK_VERSIONS, "notebooks", True, parse.parse_notebook),
    _Kind("tfjobs", "trainingjobs", "kubeflow.org", ("v1",), "tfjobs", True, parse.training_parser("TFJob")),
    _Kind("pytorchjobs", "trainingjobs", "kubeflow.org", ("v1",), "pytorchjobs", True,
          parse.training_parser("PyTorchJob")),
    _Kind("xgboostjobs", "trainingjobs", "kubeflow.org", ("v1",), "xgboostjobs", True,
          parse.training_parser("XGBoostJob")),
    _Kind("jobs", "trainingjobs", "batch", ("v1",), "jobs", True, parse.parse_batch_job,
          label_selector="jobType=single"),
    _Kind("seldondeployments", "deployments", "machinelearning.seldon.io", ("v1",), "seldondeployments", True,
          parse.parse_seldon_deployment),
    _Kind("resourcequotas", "quotas", "", ("v1",), "resourcequotas", True, parse.parse_quota,
          field_selector="metadata.name=mlss-default-rq"),
    _Kind("events", "events", "", ("v1",), "events", True, parse.parse_event),  # last: the least urgent list
)}


# ------------------------------------------------------------------------------------------ kubeconfig
_PATH_KEYS = {"clusters": ("certificate-authority",), "users": ("client-certificate", "client-key", "tokenFile")}


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kubeconfig_paths(kubeconfig: str | os.PathLike | Iterable[str | os.PathLike] | None) -> tuple[list[Path], str]:
    """The files to read, and where they came from (``explicit``, ``KUBECONFIG`` or ``default``)."""
    if kubeconfig is None:
        env = os.environ.get("KUBECONFIG", "")
        entries = [p for p in env.split(os.pathsep) if p.strip()]
        if entries:
            origin, raw = "KUBECONFIG", entries
        else:
            origin, raw = "default", [str(Path.home() / ".kube" / "config")]
    elif isinstance(kubeconfig, (str, os.PathLike)):
        origin, raw = "explicit", [kubeconfig]
    else:
        origin, raw = "explicit", list(kubeconfig)
        if not raw:
            raise ConfigError("no kubeconfig path given")
    out: list[Path] = []
    for p in raw:
        path = Path(os.path.expanduser(os.fspath(p)))
        if path not in out:  # kubectl reads a file named twice once
            out.append(path)
    return out, origin


def _load_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"kubeconfig not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: invalid kubeconfig: it is a directory") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read kubeconfig: permission denied") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read kubeconfig: {_one_line(type(err).__name__)}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        what = getattr(err, "problem", None) or type(err).__name__
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid kubeconfig: {_one_line(what)}{where}") from None
    if doc is None:
        return {}  # an empty file is an empty config, as kubectl reads it
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: invalid kubeconfig: expected a mapping at the top, found {type(doc).__name__}")
    for section, inner in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
        entries = doc.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: invalid kubeconfig: '{section}' must be a list")
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"]:
                raise ConfigError(f"{path}: invalid kubeconfig: {section}[{i}] has no name")
            if e.get(inner) is not None and not isinstance(e.get(inner), dict):
                raise ConfigError(f"{path}: invalid kubeconfig: {section}[{i}] ('{e['name']}'): "
                                  f"'{inner}' must be a mapping")
    cc = doc.get("current-context")
    if cc is not None and not isinstance(cc, str):
        raise ConfigError(f"{path}: invalid kubeconfig: 'current-context' must be a string")
    return doc


def _absolutise(section: str, entry: dict, base: Path) -> dict:
    """Relative file references are relative to the file that names them (as kubectl resolves them)."""
    inner_key = section[:-1]
    inner = entry.get(inner_key)
    if not isinstance(inner, dict):
        return entry
    inner = dict(inner)
    for key in _PATH_KEYS.get(section, ()):
        v = inner.get(key)
        if isinstance(v, str) and v and not os.path.isabs(os.path.expanduser(v)):
            inner[key] = str(base / v)
    ex = inner.get("exec")
    if section == "users" and isinstance(ex, dict):
        cmd = ex.get("command")
        if isinstance(cmd, str) and os.sep in cmd and not os.path.isabs(cmd):
            inner["exec"] = {**ex, "command": str(base / cmd)}
    return {**entry, inner_key: inner}


def _merge(paths: list[Path], origin: str) -> tuple[dict, list[Path]]:
    """kubectl's merge: the first file that sets a name (or current-context) wins."""
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": []}
    seen: dict[str, set[str]] = {k: set() for k in merged}
    used: list[Path] = []
    for path in paths:
        if origin == "KUBECONFIG" and not path.exists():
            continue  # kubectl skips missing KUBECONFIG entries
        doc = _load_file(path)
        used.append(path)
        base = path.parent.resolve()
        for section in ("clusters", "contexts", "users"):
            for e in doc.get(section) or []:
                if e["name"] not in seen[section]:
                    seen[section].add(e["name"])
                    merged[section].append(_absolutise(section, e, base))
        if doc.get("current-context") and "current-context" not in merged:
            merged["current-context"] = doc["current-context"]
    if not used:
        raise ConfigError("kubeconfig not found: " + os.pathsep.join(str(p) for p in paths)
                          + (" (from KUBECONFIG)" if origin == "KUBECONFIG" else ""))
    return merged, used


@dataclass(frozen=True)
class _Target:
    context: str
    cluster_name: str
    user_name: str
    server: str
    namespace: str | None
    config: dict  # a one-context kubeconfig for the client's loader


def _select(merged: dict, context: str | None, where: str) -> _Target:
    names = [c["name"] for c in merged["contexts"]]
    available = ", ".join(names) if names else "(none)"
    name = context or merged.get("current-context")
    if not name:
        raise ConfigError(f"no context given and no current-context set in {where}; available: {available}")
    ctx_entry = next((c for c in merged["contexts"] if c["name"] == name), None)
    if ctx_entry is None:
        raise ConfigError(f"context '{name}' not found in {where}; available: {available}")
    ctx = ctx_entry.get("context") or {}
    cluster_name = ctx.get("cluster")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise ConfigError(f"context '{name}' in {where} names no cluster")
    cluster_entry = next((c for c in merged["clusters"] if c["name"] == cluster_name), None)
    if cluster_entry is None:
        raise ConfigError(f"context '{name}' refers to cluster '{cluster_name}', which is not defined in {where}")
    server = (cluster_entry.get("cluster") or {}).get("server")
    if not isinstance(server, str) or not server.strip():
        raise ConfigError(f"cluster '{cluster_name}' in {where} has no server")
    user_name = ctx.get("user") if isinstance(ctx.get("user"), str) else ""
    user_entry = next((u for u in merged["users"] if u["name"] == user_name), None) if user_name else None
    ns = ctx.get("namespace")
    config: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "current-context": name,
                              "contexts": [ctx_entry], "clusters": [cluster_entry],
                              "users": [user_entry] if user_entry is not None else []}
    return _Target(name, cluster_name, user_name or "", server.strip().rstrip("/"),
                   ns if isinstance(ns, str) and ns else None, config)


def _host_port(server: str) -> str:
    try:
        parts = urlsplit(server)
        host = parts.hostname or server
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return server
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}"


# ------------------------------------------------------------------------------------------ errors
_SECRETS = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=:-]+")


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _status_body(data: bytes | str | None) -> dict:
    if not data:
        return {}
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _short_cause(err: BaseException) -> str:
    """The root of a connection failure in a few words (``connection refused``)."""
    seen = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and isinstance(e.strerror, str) and e.strerror \
                and not isinstance(e, urllib3.exceptions.HTTPError):
            text = _tidy(e.strerror)
            return (text[0].lower() + text[1:]) if text else type(e).__name__
        e = e.__cause__ or e.__context__
    return _tidy(str(err)) or type(err).__name__


def _tidy(text: str) -> str:
    text = re.sub(r"<[^>]*>:?\s*", "", text)  # urllib3 puts "<HTTPSConnection object at 0x..>:" first
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)  # "(_ssl.c:1006)"
    text = re.sub(r"^\[SSL: [A-Z_]+\]\s*", "", text)  # "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify..."
    return _one_line(text, 160)


# ------------------------------------------------------------------------------------------ access for other clients
@dataclass(frozen=True)
class ApiAccess:
    """This context's way into the API server, for an HTTP client of our own (requests, urllib3): what
    ``Kubernetes.api_access()`` gives. ``headers()`` makes the Authorization header afresh on each call (the
    official client's refresh hook renews an exec plugin's token when due); it is never stored here, so no repr,
    log line or exception text holds it. The certificate files are the ones the official client uses (the
    kubeconfig's, or the temporary files it wrote from inline data)."""

    server: str  # https://host:port, no trailing slash
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    verify: bool
    _backend: Any = field(repr=False, compare=False)

    def headers(self) -> dict[str, str]:
        """{"Authorization": "Bearer ..."} now, or {} for a client certificate alone. Raises Unauthorized (a
        redacted line) when the credentials cannot be had."""
        return self._backend._auth_headers()

    def service_url(self, namespace: str, service: str, port: int | str, path: str = "", scheme: str = "") -> str:
        """The full URL of a Service's ``path`` through the API server's proxy."""
        return self.server + self._backend.service_proxy_path(namespace, service, port, path, scheme)

    def pod_url(self, namespace: str, pod: str, port: int | str, path: str = "", scheme: str = "") -> str:
        """The full URL of one pod's ``path`` through the API server's pods proxy (``get`` on ``pods/proxy``)."""
        return self.server + self._backend.pod_proxy_path(namespace, pod, port, path, scheme)

    def endpoints(self, namespace: str, name: str, timeout: tuple[float, float] | None = None) -> dict:
        """The v1 Endpoints of a Service, raw (``Kubernetes.endpoints``)."""
        return self._backend.endpoints(namespace, name, timeout=timeout)


# ------------------------------------------------------------------------------------------ the backend
class Kubernetes:
    """``backends.base.KubernetesBackend`` over the official client; see the module text."""

    def __init__(self, api_client: Any, target: _Target, read_only: bool = False, page_worker: bool = True) -> None:
        self.read_only = read_only
        self._worker = PageWorker() if page_worker else None
        self._api = api_client
        self._target = target
        self.context = target.context
        self.server = target.server
        self.namespace = target.namespace
        self._hostport = _host_port(target.server)
        self._timeout = (CONNECT_TIMEOUT, READ_TIMEOUT)
        self._lock = threading.Lock()
        self._served: dict[str, str] | None = None  # resource name -> version
        self._can_i: dict[tuple[str, str, str, str], tuple[bool, float]] = {}
        self._streams: set[KubernetesWatch | HttpLogStream] = set()  # open watches and log streams
        self._closed = False
        self._contexts: list[str] = [target.context]

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | list[str] | None = None, context: str | None = None,
                        read_only: bool = False, page_worker: bool = True) -> "Kubernetes":
        """Resolve the kubeconfig like kubectl: the given path(s), else ``$KUBECONFIG`` (read now, a
        list merged first-wins), else ``~/.kube/config``. Raises ``ConfigError``.

        ``page_worker``: parse the pages of long lists in a child process (``backends.page_worker``)."""
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        paths, origin = _kubeconfig_paths(kubeconfig)
        merged, used = _merge(paths, origin)
        where = os.pathsep.join(str(p) for p in used)
        target = _select(merged, context, where)
        cfg = k8s_client.Configuration()
        cfg.retries = urllib3.Retry(total=3, connect=1, read=1, redirect=2, status=0, other=0,
                                    respect_retry_after_header=False, raise_on_status=False)
        try:
            api = k8s_config.new_client_from_config_dict(config_dict=target.config, context=target.context,
                                                         persist_config=False, client_configuration=cfg)
        except Exception as err:  # ConfigException, bad base64, missing cert files, exec plugin failures
            raise ConfigError(f"context '{target.context}' in {where}: {_redact(_one_line(str(err)), cfg)}") from None
        backend = cls(api, target, read_only, page_worker)
        backend._contexts = [c["name"] for c in merged["contexts"] if isinstance(c.get("name"), str)]
        return backend

    def contexts(self) -> list[str]:
        """Every context of the merged kubeconfig, in file order (for the context picker)."""
        return list(self._contexts)

    # ---------------------------------------------------------------- guards
    def _mutating(self, what: str) -> None:
        """Every mutating call starts here: refused in read-only mode (the second lock after actions.py)."""
        if self.read_only:
            raise ReadOnly(f"read-only mode: {what} refused", source=SOURCE)

    # ---------------------------------------------------------------- transport
    def _redact(self, text: str) -> str:
        return _redact(text, self._api.configuration)

    def _request(self, method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None,
                 timeout: Any = None, content_type: str = "application/json",
                 accept_status: tuple[int, ...] = (), accept: str = "application/json") -> urllib3.BaseHTTPResponse:
        """One request; the answer's body unread. Non-2xx and transport failures raise domain errors."""
        if self._closed:
            raise Unavailable(f"the connection to {self.server} is closed", source=SOURCE)
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            m, url, hdrs, data, post = self._api.param_serialize(method, path, query_params=list(query or []),
                                                                 header_params=headers, body=body,
                                                                 auth_settings=["BearerToken"])
            resp = self._api.call_api(m, url, hdrs, data, post, _request_timeout=timeout or self._timeout).response
        except Exception as err:
            raise self._transport_error(err) from None
        if not 200 <= resp.status <= 299 and resp.status not in accept_status:
            try:
                raw = resp.read()
            except Exception:
                raw = b""
            finally:
                resp.release_conn()
            raise self._http_error(resp.status, raw, resp.headers, path)
        return resp

    def _json(self, method: str, path: str, query: list[tuple[str, str]] | None = None,
              body: Any = None, content_type: str = "application/json") -> dict:
        return self._decode(self._read(self._request(method, path, query, body, content_type=content_type)), path)

    def _decode(self, raw: bytes, path: str) -> dict:
        try:
            doc = orjson.loads(raw)  # C, about 3x json's speed: it holds the GIL for less time
        except (ValueError, UnicodeDecodeError):  # orjson.JSONDecodeError is a ValueError
            raise Unavailable(f"the Kubernetes API at {self.server} answered {path} with something that is not "
                              "JSON", source=SOURCE) from None
        if not isinstance(doc, dict):
            raise Unavailable(f"the Kubernetes API at {self.server} answered {path} with a JSON "
                              f"{type(doc).__name__}, not an object", source=SOURCE)
        return doc

    def _read(self, resp: urllib3.BaseHTTPResponse) -> bytes:
        """The whole body of an answer, the connection given back to the pool however it goes."""
        try:
            return resp.data
        except Exception as err:
            raise self._transport_error(err) from None
        finally:
            resp.release_conn()

    def _transport_error(self, err: BaseException) -> BackendError:
        """urllib3 and socket failures -> Unavailable / Timeout (and client config failures)."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException

        if isinstance(err, BackendError):
            return err
        if isinstance(err, ConfigException):
            return Unauthorized(self._redact(f"cannot get credentials for context '{self.context}': "
                                             f"{_one_line(str(err))}"), source=SOURCE)
        reason = err.reason if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason else err
        where = f"cannot reach the Kubernetes API at {self.server}"
        E = urllib3.exceptions
        if isinstance(reason, E.NewConnectionError):  # (a subclass of ConnectTimeoutError)
            if isinstance(reason, E.NameResolutionError):
                out: BackendError = Unavailable(f"{where}: cannot resolve {urlsplit(self.server).hostname}")
            else:
                out = Unavailable(f"{where}: {_short_cause(reason)}")
        elif isinstance(reason, E.ConnectTimeoutError):
            out = Timeout(f"{where}: no connection within {CONNECT_TIMEOUT:g} s")
        elif isinstance(reason, (E.ReadTimeoutError, TimeoutError)):
            out = Timeout(f"the Kubernetes API at {self.server} did not answer in time")
        elif isinstance(reason, E.SSLError):
            out = Unavailable(f"{where}: TLS error: {_short_cause(reason)}")
        elif isinstance(reason, ApiException):  # rest.py wraps a bare SSLError as status 0, "SSLError\n<text>"
            kind, _, text = str(reason.reason or "").partition("\n")
            detail = _tidy(text or kind) or "request failed"
            out = Unavailable(f"{where}: TLS error: {detail}" if kind == "SSLError" else f"{where}: {detail}")
        elif isinstance(reason, E.ProtocolError):
            out = Unavailable(f"{where}: the connection broke ({_short_cause(reason)})")
        elif isinstance(reason, (E.HTTPError, OSError)):
            out = Unavailable(f"{where}: {_short_cause(reason)}")
        else:
            out = Unavailable(f"{where}: {type(reason).__name__}: {_one_line(str(reason), 160)}")
        msg = self._redact(out.message)
        return type(out)(msg, source=SOURCE)

    def _http_error(self, code: int, raw: bytes | str | None, headers: Any, path: str) -> BackendError:
        """An error answer (a Status, usually) -> the domain error of its code."""
        st = _status_body(raw)
        message = st.get("message") if isinstance(st.get("message"), str) else ""
        if not message and raw and not st:
            try:
                message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            except Exception:
                message = ""
        message = self._redact(_one_line(message, 300))
        reason = st.get("reason") if isinstance(st.get("reason"), str) else ""
        return self._error_for(code, message, reason, headers, path, st)

    def _error_for(self, code: int, message: str, reason: str, headers: Any, path: str,
                   st: dict | None = None) -> BackendError:
        kw = {"source": SOURCE, "status": code}
        if code == 401:
            return Unauthorized(f"credentials rejected by {self._hostport}: expired or invalid token", **kw)
        if code == 403:
            return Forbidden(message or f"forbidden: {path}", **kw)
        if code == 404:
            return NotFound(message or f"not found: {path}", **kw)
        if code == 409:
            return Conflict(message or "conflict", **kw)
        if code == 410:
            return Expired(message or "resource version too old", **kw)
        if code in (400, 422):
            return Invalid(message or "invalid request", **kw)
        if code == 429 or code >= 500:
            retry = _retry_after(headers, st or {})
            what = {429: "is throttling requests", 503: "is unavailable", 504: "timed out"}.get(code, "failed")
            text = f"the Kubernetes API at {self.server} {what} ({code}{' ' + reason if reason else ''})"
            if message:
                text += f": {message}"
            if retry is not None:
                text += f"; retry after {retry:g} s"
            err = Unavailable(text, **kw)
            err.retry_after = retry  # type: ignore[attr-defined]
            return err
        return BackendError(f"{code} {reason}: {message}".strip(": ") if message or reason else f"HTTP {code}",
                            **kw)

    # ---------------------------------------------------------------- discovery
    def resources(self) -> list[Resource]:
        served = self._discover()
        return [Resource(k.name, k.state_kind, k.namespaced, k.group) for k in KINDS.values() if k.name in served]

    def _discover(self) -> dict[str, str]:
        with self._lock:
            if self._served is not None:
                return self._served
        served: dict[str, str] = {k.name: "v1" for k in KINDS.values() if not k.group}
        lists: dict[str, set[str] | None] = {}

        def plurals(group: str, version: str) -> set[str]:
            gv = f"{group}/{version}"
            if gv not in lists:
                try:
                    doc = self._json("GET", f"/apis/{gv}")
                    lists[gv] = {r.get("name") for r in doc.get("resources") or [] if isinstance(r, dict)}
                except NotFound:
                    lists[gv] = set()
            return lists[gv] or set()

        groups: dict[str, list[str]] = {}
        for group in sorted({k.group for k in KINDS.values() if k.group}):
            try:
                doc = self._json("GET", f"/apis/{group}")
            except NotFound:
                continue
            groups[group] = [v.get("version") for v in doc.get("versions") or []
                             if isinstance(v, dict) and isinstance(v.get("version"), str)]
        for k in KINDS.values():
            if not k.group or k.group not in groups:
                continue
            for version in k.versions:
                if version in groups[k.group] and k.plural in plurals(k.group, version):
                    served[k.name] = version
                    break
        with self._lock:
            self._served = served
        return served

    def api_version(self, resource: str) -> str | None:
        """The group/version this backend reads ``resource`` through (``kubeflow.org/v1``), None if not served."""
        k = KINDS.get(resource)
        version = self._discover().get(resource) if k is not None else None
        if k is None or version is None:
            return None
        return version if not k.group else f"{k.group}/{version}"

    def _kind(self, resource: str) -> tuple[_Kind, str]:
        k = KINDS.get(resource)
        if k is None:
            raise ValueError(f"unknown resource {resource!r}: one of {', '.join(KINDS)}")
        version = self._discover().get(resource)
        if version is None:
            raise NotFound(f"{k.plural}.{k.group} is not served by {self._hostport}", source=SOURCE, status=404)
        return k, version

    @staticmethod
    def _path(k: _Kind, version: str, namespace: str | None) -> str:
        base = "/api/v1" if not k.group else f"/apis/{k.group}/{version}"
        if k.namespaced and namespace:
            return f"{base}/namespaces/{_segment(namespace)}/{k.plural}"
        return f"{base}/{k.plural}"

    @staticmethod
    def _selectors(k: _Kind) -> list[tuple[str, str]]:
        q = []
        if k.label_selector:
            q.append(("labelSelector", k.label_selector))
        if k.field_selector:
            q.append(("fieldSelector", k.field_selector))
        return q

    # ---------------------------------------------------------------- reads
    # ---------------------------------------------------------------- changes (all through _mutating)
    def _object_path(self, resource: str, namespace: str, name: str) -> str:
        k, version = self._kind(resource)
        return f"{self._path(k, version, namespace)}/{_segment(name)}"

    def patch(self, resource: str, namespace: str, name: str, patch: dict, what: str = "patch") -> dict:
        """A JSON merge patch (RFC 7386), accepted by built-in and custom resources alike."""
        self._mutating(f"{what} {resource}/{name}")
        return self._json("PATCH", self._object_path(resource, namespace, name), body=patch,
                          content_type="application/merge-patch+json")

    def delete(self, resource: str, namespace: str, name: str, propagation: str = "Background") -> dict:
        """Delete, taking dependents with it (Background) unless told otherwise."""
        self._mutating(f"delete {resource}/{name}")
        return self._json("DELETE", self._object_path(resource, namespace, name),
                          [("propagationPolicy", propagation)])

    def scale(self, resource: str, namespace: str, name: str, replicas: int) -> dict:
        """Set replicas through the scale subresource."""
        self._mutating(f"scale {resource}/{name}")
        return self._json("PATCH", self._object_path(resource, namespace, name) + "/scale",
                          body={"spec": {"replicas": int(replicas)}}, content_type="application/merge-patch+json")

    def record_event(self, kind: str, api_version: str, namespace: str, name: str, reason: str, message: str,
                     now: str) -> dict:
        """A core/v1 Event on an object, so that colleagues see in `kubectl describe` who did what."""
        self._mutating(f"record an event on {kind}/{name}")
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": f"{name}.", "namespace": namespace},
                "involvedObject": {"kind": kind, "apiVersion": api_version, "namespace": namespace, "name": name},
                "reason": reason, "message": message[:1000], "type": "Normal",
                "source": {"component": "prophecis-tui"}, "reportingComponent": "prophecis-tui",
                "reportingInstance": "prophecis-tui", "firstTimestamp": now, "lastTimestamp": now, "count": 1}
        return self._json("POST", f"/api/v1/namespaces/{_segment(namespace)}/events", body=body)

    def get(self, resource: str, namespace: str, name: str) -> dict:
        """One object as the API returns it (raw JSON), for describe and YAML; ``managedFields`` dropped."""
        doc = self._json("GET", self._object_path(resource, namespace, name))
        md = doc.get("metadata")
        if isinstance(md, dict):
            md.pop("managedFields", None)
        return doc

    def create(self, resource: str, namespace: str, body: dict) -> dict:
        """Create an object in a namespace (a notebook from the form, a job re-run, a restored deployment)."""
        self._mutating(f"create {resource}")
        k, version = self._kind(resource)
        return self._json("POST", self._path(k, version, namespace), body=body)

    @staticmethod
    def _log_request(namespace: str, pod: str, container: str = "", *, follow: bool = False, previous: bool = False,
                     since_seconds: int | None = None, since_time: str | None = None, tail_lines: int | None = None,
                     timestamps: bool = False) -> tuple[str, list[tuple[str, str]]]:
        """The path and query of a pods/log read (PodLogOptions)."""
        if since_seconds is not None and since_time:
            raise ValueError("at most one of since_seconds and since_time")
        query: list[tuple[str, str]] = []
        if container:
            query.append(("container", container))
        if follow:
            query.append(("follow", "true"))
        if previous:
            query.append(("previous", "true"))
        if since_seconds is not None:
            query.append(("sinceSeconds", str(max(1, int(since_seconds)))))  # the API refuses 0
        if since_time:
            query.append(("sinceTime", since_time))
        if tail_lines is not None:
            query.append(("tailLines", str(max(0, int(tail_lines)))))
        if timestamps:
            query.append(("timestamps", "true"))
        return f"/api/v1/namespaces/{_segment(namespace)}/pods/{_segment(pod)}/log", query

    def log_tail(self, namespace: str, pod: str, container: str = "", tail: int = 200,
                 previous: bool = False) -> str:
        """The last lines of a container's log (text), e.g. to find a failed replica's last error."""
        path, query = self._log_request(namespace, pod, container, previous=previous, tail_lines=tail)
        resp = self._request("GET", path, query)
        return _text(self._read(resp))

    def open_log(self, namespace: str, pod: str, container: str, *, follow: bool = True,
                 previous: bool = False, since_seconds: int | None = None, since_time: str | None = None,
                 tail_lines: int | None = None, timestamps: bool = True) -> HttpLogStream:
        """A container's log as it streams (``backends.base.LogSource``): blocks until the answer's head, then the
        body is read in batches of lines by whoever iterates it. ``since_time`` is RFC 3339 (the API server
        passes it on in whole seconds). Errors before the body are the API's Status message in a domain error:
        NotFound (the pod), Invalid (a container waiting to start, no previous container, a wrong name),
        Forbidden; transport failures Unavailable or Timeout. A follow read waits up to FOLLOW_READ_TIMEOUT for
        the next bytes: a quiet pod's stream then breaks, and the caller resumes it."""
        path, query = self._log_request(namespace, pod, container, follow=follow and not previous,
                                        previous=previous, since_seconds=since_seconds, since_time=since_time,
                                        tail_lines=tail_lines, timestamps=timestamps)
        read = FOLLOW_READ_TIMEOUT if follow and not previous else READ_TIMEOUT
        resp = self._request("GET", path, query, timeout=(CONNECT_TIMEOUT, read),
                             accept="text/plain, application/json")
        stream = HttpLogStream(resp, on_release=self._forget)
        with self._lock:
            closed = self._closed
            if not closed:
                self._streams.add(stream)
        if closed:
            stream.close()
        return stream

    def proxy_post(self, namespace: str, service: str, port: int, path: str, body: Any) -> tuple[int, str]:
        """POST JSON to a Service through the API server's proxy: (HTTP status, response text).

        How a test prediction reaches a model from a jump host: no ingress, the kubeconfig's
        credentials. Non-2xx answers of the model itself are returned, not raised.
        """
        self._mutating(f"send a request to service {service}")
        url = (f"/api/v1/namespaces/{_segment(namespace)}/services/{_segment(service)}:{int(port)}/proxy/"
               + path.lstrip("/"))
        model_answers = tuple(c for c in range(400, 600) if c not in (401, 403))
        resp = self._request("POST", url, body=body, accept_status=model_answers)
        text = _text(self._read(resp))
        if resp.status >= 400:  # the API server's own refusal (no endpoints, not found) is a Status: its message
            st = _status_body(text)
            if st.get("kind") == "Status" and isinstance(st.get("message"), str):
                text = st["message"]
        return resp.status, text

    # ---------------------------------------------------------------- reading through the service proxy
    def service_proxy_path(self, namespace: str, service: str, port: int | str, path: str = "",
                           scheme: str = "") -> str:
        """``/api/v1/namespaces/{ns}/services/[{scheme}:]{name}:{port}/proxy/{path}``: a Service reached through
        the API server (``scheme`` ``https`` for a port that speaks TLS; empty for plain HTTP)."""
        sid = f"{_segment(service)}:{_segment(str(port))}"
        if scheme:
            sid = f"{scheme}:{sid}"
        return f"/api/v1/namespaces/{_segment(namespace)}/services/{sid}/proxy/" + path.lstrip("/")

    def pod_proxy_path(self, namespace: str, pod: str, port: int | str, path: str = "", scheme: str = "") -> str:
        """``/api/v1/namespaces/{ns}/pods/[{scheme}:]{name}:{port}/proxy/{path}``: one pod reached through the API
        server (an exporter pod of a DaemonSet, where its Service would answer for any one of them)."""
        pid = f"{_segment(pod)}:{_segment(str(port))}"
        if scheme:
            pid = f"{scheme}:{pid}"
        return f"/api/v1/namespaces/{_segment(namespace)}/pods/{pid}/proxy/" + path.lstrip("/")

    def endpoints(self, namespace: str, name: str, timeout: tuple[float, float] | None = None) -> dict:
        """The v1 Endpoints of Service ``namespace/name`` as the API returns it (raw JSON: ``subsets`` of
        ``addresses`` with ``targetRef`` and ``nodeName``, and ``ports``): which pods are behind a Service now.
        Needs ``get`` on ``endpoints``; raises Forbidden, NotFound, Unavailable, Timeout."""
        path = f"/api/v1/namespaces/{_segment(namespace)}/endpoints/{_segment(name)}"
        return self._decode(self._read(self._request("GET", path, timeout=timeout)), path)

    def proxy_get(self, namespace: str, service: str, port: int | str, path: str = "",
                  query: list[tuple[str, str]] | None = None, *, scheme: str = "",
                  timeout: tuple[float, float] | None = None,
                  accept: str = "application/json") -> tuple[int, str]:
        """GET from a Service through the API server's proxy: (HTTP status, response text). Read-only, so allowed
        in read-only mode: it needs ``get`` on ``services/proxy`` and changes nothing.

        How the console reads a Prometheus or a dcgm-exporter from a jump host with the kubeconfig's credentials.
        The service's own error answers (and the API server's 404/503 when it has no such service or no endpoint)
        are returned, not raised, the API server's Status reduced to its message; 401 and 403 raise Unauthorized
        and Forbidden, a transport failure Unavailable or Timeout."""
        url = self.service_proxy_path(namespace, service, port, path, scheme)
        answers = tuple(c for c in range(400, 600) if c not in (401, 403))
        resp = self._request("GET", url, query, timeout=timeout, accept_status=answers, accept=accept)
        text = _text(self._read(resp))
        if resp.status >= 400:
            st = _status_body(text)
            if st.get("kind") == "Status" and isinstance(st.get("message"), str):
                text = self._redact(_one_line(st["message"], 300))
        return resp.status, text

    def services(self, namespace: str | None = None, label_selector: str = "",
                 timeout: tuple[float, float] | None = None, limit: int = 500) -> list[dict]:
        """Services as the API returns them (raw JSON items), one page of at most ``limit``: cluster-wide when
        ``namespace`` is None. For finding monitoring endpoints (backends.discovery), not for the state."""
        path = f"/api/v1/namespaces/{_segment(namespace)}/services" if namespace else "/api/v1/services"
        query = [("limit", str(int(limit)))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        doc = self._decode(self._read(self._request("GET", path, query, timeout=timeout)), path)
        items = doc.get("items")
        return [o for o in items if isinstance(o, dict)] if isinstance(items, list) else []

    def api_access(self) -> "ApiAccess":
        """How another HTTP client reaches this API server with this context's credentials (the service proxy
        for Prometheus and dcgm-exporter clients): the server URL, its CA, the client certificate, and the
        Authorization header made afresh for each request (a token from an exec plugin is renewed when it
        expires). Nothing secret is in its repr."""
        cfg = self._api.configuration
        return ApiAccess(server=self.server, ca_file=cfg.ssl_ca_cert or None, cert_file=cfg.cert_file or None,
                         key_file=cfg.key_file or None, verify=bool(cfg.verify_ssl), _backend=self)

    def _auth_headers(self) -> dict[str, str]:
        """The Authorization header the official client would send now (refreshed by its hook when due)."""
        try:
            settings = self._api.configuration.auth_settings()
        except Exception as err:  # an exec plugin that fails, a token file that went away
            raise Unauthorized(self._redact(f"cannot get credentials for context '{self.context}': "
                                            f"{_one_line(str(err), 200)}"), source=SOURCE) from None
        out: dict[str, str] = {}
        for auth in settings.values():
            if auth.get("in") == "header" and auth.get("value"):
                out[str(auth["key"]).title()] = str(auth["value"])
        return out

    def list(self, resource: str, namespace: str | None = None,
             on_page: Callable[[list[DomainObject]], None] | None = None) -> ListResult:
        """Every object, in pages of ``PAGE_SIZE``; ``on_page`` gets each page's objects as they come.

        Pages after the first are parsed in the page worker's child process when it is ready
        (``backends.page_worker``): this thread then only fetches, and fetches the next page while the
        child parses this one. Otherwise, and whenever the child fails, a page is parsed here."""
        k, version = self._kind(resource)
        path = self._path(k, version, namespace)
        query = [("limit", str(PAGE_SIZE)), *self._selectors(k)]
        items: list[DomainObject] = []
        rv: str | None = None
        cont = ""
        pending: Job | None = None  # a page in the child, its objects not taken yet

        def deliver(parsed: list[DomainObject]) -> None:
            items.extend(parsed)
            if on_page is not None and parsed:
                on_page(parsed)

        def here(doc: dict) -> list[DomainObject]:
            page = doc.get("items")
            return [k.parse(o) for o in page if isinstance(o, dict)] if isinstance(page, list) else []

        def take(job: Job) -> None:
            try:
                parsed = job.items()
            except (PageError, WorkerGone):  # read here: a page that is not JSON or fails a parser fails the same way
                parsed = here(self._decode(job.raw, path))
            deliver(parsed)

        worker = self._worker
        while True:
            raw = self._read(self._request("GET", path, query + ([("continue", cont)] if cont else [])))
            job = None
            if cont and worker is not None and worker.ready:
                try:
                    job = worker.submit(resource, raw)
                    page_rv, nxt = job.meta()
                except (WorkerGone, PageError):  # read here (a page that is not JSON raises here, as always)
                    job = None
            if job is None:
                doc = self._decode(raw, path)
                page_rv, nxt = list_meta(doc)
                parsed = here(doc)
            if pending is not None:
                take(pending)
                pending = None
            if job is None:
                deliver(parsed)
            else:
                pending = job
            if rv is None:
                rv = page_rv
            if not nxt or nxt == cont:
                break
            if not cont and worker is not None:
                worker.start()  # a list of more than one page: the child is worth its start from now on
            cont = nxt
        if pending is not None:
            take(pending)
        return ListResult(items, rv or "")

    def watch(self, resource: str, resource_version: str, namespace: str | None = None,
              timeout_seconds: int = 300) -> "KubernetesWatch":
        k, version = self._kind(resource)
        query = [("watch", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(int(timeout_seconds))),
                 *self._selectors(k)]
        if resource_version:
            query.insert(1, ("resourceVersion", resource_version))
        resp = self._request("GET", self._path(k, version, namespace), query,
                             timeout=(CONNECT_TIMEOUT, max(1.0, timeout_seconds) + WATCH_READ_SLACK))
        stream = KubernetesWatch(self, k, resp, resource_version)
        with self._lock:
            self._streams.add(stream)
        return stream

    def _forget(self, stream: "KubernetesWatch | HttpLogStream") -> None:
        with self._lock:
            self._streams.discard(stream)

    # ---------------------------------------------------------------- who am I, what may I do
    def identity(self) -> Identity:
        user, groups = self._target.user_name, []
        for version in ("v1", "v1beta1"):
            try:
                doc = self._json("POST", f"/apis/authentication.k8s.io/{version}/selfsubjectreviews",
                                 body={"apiVersion": f"authentication.k8s.io/{version}", "kind": "SelfSubjectReview"})
            except (NotFound, Forbidden) as err:
                if isinstance(err, NotFound):
                    continue
                break  # not allowed to ask: the kubeconfig's user name is all we know
            info = (doc.get("status") or {}).get("userInfo") if isinstance(doc.get("status"), dict) else None
            if isinstance(info, dict):
                if isinstance(info.get("username"), str) and info["username"]:
                    user = info["username"]
                groups = [g for g in info.get("groups") or [] if isinstance(g, str)]
            break
        return Identity(context=self.context, cluster=self._target.cluster_name, user=user, groups=groups,
                        namespace=self.namespace, server=self._hostport)

    def can_i(self, verb: str, group: str, resource: str, namespace: str | None = None) -> bool:
        """SelfSubjectAccessReview, cached for a minute. ``resource`` may name a subresource (``pods/log``)."""
        key = (verb, group, resource, namespace or "")
        now = time.monotonic()
        with self._lock:
            hit = self._can_i.get(key)
            if hit is not None and now - hit[1] < CAN_I_TTL:
                return hit[0]
        plural, _, sub = resource.partition("/")
        attrs = {"verb": verb, "group": group, "resource": plural}
        if sub:
            attrs["subresource"] = sub
        if namespace:
            attrs["namespace"] = namespace
        doc = self._json("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                         body={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                               "spec": {"resourceAttributes": attrs}})
        status = doc.get("status") if isinstance(doc.get("status"), dict) else {}
        allowed = status.get("allowed") is True
        with self._lock:
            self._can_i[key] = (allowed, now)
        return allowed

    # ---------------------------------------------------------------- the end
    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            streams = list(self._streams)
        for s in streams:
            s.close()
        if self._worker is not None:
            self._worker.close()
        self._api.close()

    def __enter__(self) -> "Kubernetes":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Kubernetes(context={self.context!r}, server={self.server!r}, read_only={self.read_only})"


def _segment(name: str) -> str:
    from urllib.parse import quote
    return quote(name, safe="")


def _redact(text: str, configuration: Any) -> str:
    """Remove anything that looks like a credential, and the configured token itself."""
    text = _SECRETS.sub(lambda m: f"{m.group(1)} ***", text)
    try:
        values = list((configuration.api_key or {}).values())
    except Exception:
        values = []
    for v in values:
        if isinstance(v, str):
            secret = v.split(" ", 1)[1] if " " in v else v
            if len(secret) >= 4:
                text = text.replace(secret, "***")
    return text


def _retry_after(headers: Any, st: dict) -> float | None:
    try:
        v = headers.get("Retry-After") if headers is not None else None
        if v is not None:
            return float(v)
    except (TypeError, ValueError):
        pass
    details = st.get("details") if isinstance(st.get("details"), dict) else {}
    v = details.get("retryAfterSeconds")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# ------------------------------------------------------------------------------------------ watch
class KubernetesWatch(OpenResponse):
    """An open watch (``backends.base.WatchStream``). Iterate it once for its events; ``close()``
    from any thread ends the iteration promptly. Iteration ends when the server ends the stream;
    an ERROR 410 raises ``Expired``; a broken stream raises ``Unavailable`` or ``Timeout``.
    ``resource_version`` is the last one seen (events and bookmarks)."""

    what = "watch stream"

    def __init__(self, backend: Kubernetes, kind: _Kind, resp: urllib3.BaseHTTPResponse,
                 resource_version: str) -> None:
        super().__init__(resp, backend._forget)
        self._backend = backend
        self._kind = kind
        self.resource_version = resource_version

    def _chunks(self) -> Iterator[bytes]:
        try:
            for chunk in self._resp.stream(None, decode_content=True):
                if self._closed:
                    return
                yield chunk
        except Exception as err:
            if self._closed:
                return
            raise self._backend._transport_error(err) from None

    def _items(self) -> Iterator[WatchEvent]:
        buf = b""
        for chunk in self._chunks():
            buf += chunk
            if b"\n" not in buf:
                continue
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                if self._closed:
                    return
                ev = self._event(line)
                if ev is not None:
                    yield ev
        if buf.strip() and not self._closed:  # a last line without its newline
            ev = self._event(buf, tolerant=True)
            if ev is not None:
                yield ev

    def _event(self, line: bytes, tolerant: bool = False) -> WatchEvent | None:
        line = line.strip()
        if not line:
            return None
        try:
            doc = orjson.loads(line)
        except (ValueError, UnicodeDecodeError):
            if tolerant:
                return None
            raise Unavailable(f"the Kubernetes API at {self._backend.server} sent a malformed watch event",
                              source=SOURCE) from None
        if not isinstance(doc, dict):
            return None
        etype, obj = doc.get("type"), doc.get("object")
        obj = obj if isinstance(obj, dict) else {}
        md = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        rv = md.get("resourceVersion") if isinstance(md.get("resourceVersion"), str) else ""
        if etype == "ERROR":
            code = obj.get("code") if isinstance(obj.get("code"), int) else 500
            message = self._backend._redact(_one_line(obj.get("message") or "", 300)) \
                if isinstance(obj.get("message"), str) else ""
            reason = obj.get("reason") if isinstance(obj.get("reason"), str) else ""
            raise self._backend._error_for(code, message, reason, None, self._kind.plural, obj)
        if etype == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return WatchEvent("BOOKMARK", None, rv)
        if etype in ("ADDED", "MODIFIED", "DELETED"):
            if rv:
                self.resource_version = rv
            return WatchEvent(etype, self._kind.parse(obj), rv)
        return None  # an event type this client does not know

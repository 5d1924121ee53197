"""The simulated Kubernetes API server: HTTP on loopback, the real paths, verbs and answers."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from . import resources as res
from . import tables
from .auth import Identity
from .clock import parse_rfc3339, rfc3339
from .engine import NODES, PODS, QUOTAS
from .errors import ApiError, bad_request, forbidden, invalid, not_found
from .patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from .predict import POD_PROXY_RE, PROXY_RE, ServiceProxy
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .store import Entry, Watcher, dumps, selected
from .controllers import pod_runtime
from .alertmanager import PREFIX as AM_PREFIX, Alertmanager
from .cmdb import PATH as CMDB_PATH, Cmdb
from .dcgm import CONTENT_TYPE as DCGM_CONTENT_TYPE, DcgmExporter
from .ksm import CONTENT_TYPE as KSM_CONTENT_TYPE, KubeStateMetrics
from .linkis import PREFIX as LINKIS_PREFIX, Gateway as LinkisGateway
from .world import DCGM_SERVICE, GPU_OPERATOR_NS

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TRUE = {"1", "t", "true"}
PUBLIC = {"/version", "/version/", "/healthz", "/livez", "/readyz"}
MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def qbool(v: str | None) -> bool:
    return v is not None and v.strip().lower() in TRUE


def qint(v: str | None, what: str) -> int | None:
    if v in (None, ""):
        return None
    try:
        return int(v)
    except ValueError:
        raise bad_request(f"invalid value for {what}: {v!r}") from None


def json_response(body: bytes | dict, status: int = 200, headers: dict | None = None) -> web.Response:
    data = body if isinstance(body, bytes) else dumps(body)
    return web.Response(body=data, status=status, content_type="application/json", headers=headers)


def error_response(err: ApiError) -> web.Response:
    return json_response(err.status(), err.code, err.headers)


class Route:
    """What a request path names."""

    def __init__(self, rt: res.ResourceType, version: str, namespace: str | None, name: str | None,
                 sub: str | None) -> None:
        self.rt, self.version, self.namespace, self.name, self.sub = rt, version, namespace, name, sub

    @property
    def api_version(self) -> str:
        return self.rt.api_version(self.version)


def resolve(path: str) -> Route | None:
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    ns = None
    if rest[0] == "namespaces" and len(rest) >= 3 and not (group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")):
        ns, rest = rest[1], rest[2:]
    rt = res.find(group, version, rest[0])
    if rt is None or len(rest) > 3:
        return None
    if ns is not None and not rt.namespaced:
        return None
    if ns is None and len(rest) > 1 and rt.namespaced:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in rt.subresources:
        return None
    return Route(rt, version, ns, name, sub)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# not the API: no injected API faults, not a write to the cluster
EXPORTERS = ("/sim/", "/dcgm/", "/ksm/", "/cmdb/", "/alertmanager/", "/linkis/")


class ApiServer:
    """aiohttp application around the simulation (``sim`` has ``.engine``, ``.identities``, ``.faults``)."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.engine = sim.engine
        self.store = sim.engine.store
        self.tokens: dict[str, Identity] = {i.token: i for i in sim.identities}
        self.bookmark_interval = 10.0
        self.streams: set[asyncio.Task] = set()
        self.log_drop_gen = 0  # drop_log_streams() bumps it: every open log follow is cut
        self.writes: list[tuple[str, str]] = []  # every write request received (reviews excluded), in order
        # every write request to the other services (Alertmanager, Linkis, CMDB, exporters; not /sim/), in order
        self.service_writes: list[tuple[str, str]] = []
        self.dcgm = DcgmExporter(sim.engine)  # /dcgm/metrics, /dcgm/{node}/metrics: the GPU nodes' exporters
        # .../services/{id}/proxy/...: the model servers behind them, and the GPU operator's exporter Service
        self.proxy = ServiceProxy(sim.engine, {(GPU_OPERATOR_NS, DCGM_SERVICE): self.dcgm.render})
        self.ksm = KubeStateMetrics(sim.engine)  # /ksm/metrics: kube-state-metrics' ResourceQuota series
        self.cmdb = Cmdb(sim.world, sim.engine, sim.seed)  # /cmdb/api/v1/business-systems: the bank's CMDB
        self.alertmanager = Alertmanager(sim, self.dcgm)  # /alertmanager/api/v2/...: alerts that follow the world
        self.linkis = LinkisGateway(sim)  # /linkis/api/rest_j/v1/...: the big-data platform's Linkis gateway
        self.app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[self._middleware])
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    # ------------------------------------------------------------------ plumbing
    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        path = request.path
        if request.method in WRITE_METHODS and "/selfsubject" not in path and not path.startswith(EXPORTERS):
            self.writes.append((request.method, path))  # tests: did any change reach the cluster?
        elif request.method in WRITE_METHODS and path.startswith(EXPORTERS) and not path.startswith("/sim/"):
            self.service_writes.append((request.method, path))  # tests: did a silence or a Linkis job reach them?
        if path.startswith(EXPORTERS):  # the simulator's own endpoints and the exporters: no injected faults
            try:
                return await handler(request)
            except ApiError as err:
                return error_response(err)
        f = self.sim.faults
        delay = f.delay()
        if delay:
            await asyncio.sleep(delay)
        if path not in PUBLIC:
            code = f.pick_error()
            if code:
                msg = {429: "Too many requests, please try again later.",
                       503: "The server is currently unable to handle the request",
                       500: "Internal error occurred: injected fault"}.get(code, "injected fault")
                headers = {"Retry-After": str(f.retry_after)} if code in (429, 503) else {}
                details = {"retryAfterSeconds": f.retry_after} if headers else None
                reason = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(code, "InternalError")
                return error_response(ApiError(code, msg, reason, details, headers))
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(err)

    def identity(self, request: web.Request) -> Identity:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            ident = self.tokens.get(auth[7:].strip())
            if ident is not None:
                return ident
        raise ApiError(401, "Unauthorized", "Unauthorized")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return json_response({"major": "1", "minor": "28", "gitVersion": "v1.28.15", "gitCommit": "sim",
                                  "gitTreeState": "clean", "buildDate": "2024-10-22T20:20:25Z", "goVersion": "go1.22.8",
                                  "compiler": "gc", "platform": "linux/amd64"})
        if path.startswith("/dcgm/"):  # a dcgm-exporter asks for no credentials
            return self._dcgm(request, path)
        if path.startswith("/ksm/"):  # nor does kube-state-metrics
            return self._ksm(request, path)
        if path.startswith("/cmdb/"):  # nor the bank's internal CMDB (a token is checked when one is sent)
            return self._cmdb(request, path)
        if path == AM_PREFIX or path.startswith(AM_PREFIX + "/"):  # nor does an Alertmanager (its API has no auth)
            return await self.alertmanager.handle(request, path)
        if path == LINKIS_PREFIX or path.startswith(LINKIS_PREFIX + "/"):  # Linkis checks its own tokens/sessions
            return await self.linkis.handle(request, path)
        ident = self.identity(request)
        if path.startswith("/sim/admin"):
            return await self.sim.admin(request, ident, path)
        if path in ("/api", "/apis") or (path.startswith("/apis/") and path.count("/") <= 3 and resolve(path) is None):
            return self._discovery(request, path)
        if path == "/api/v1":
            return json_response(res.resource_list("", "v1"))
        proxied = PROXY_RE.match(request.path)
        if proxied:
            return await self.proxy.handle(request, ident, proxied)
        proxied = POD_PROXY_RE.match(request.path)
        if proxied:
            return await self.proxy.handle_pod(request, ident, proxied)
        route = resolve(path)
        if route is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound", {})
        return await self._resource(request, ident, route)

    def _dcgm(self, request: web.Request, path: str) -> web.Response:
        parts = path.split("/")  # "", "dcgm", ["<node>",] "metrics"
        if parts[-1] != "metrics" or len(parts) not in (3, 4):
            return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="method not allowed\n", content_type="text/plain",
                                headers={"Allow": "GET, HEAD"})
        node = parts[2] if len(parts) == 4 else None
        if node is not None and not self.dcgm.has_node(node):
            return web.Response(status=404, text=f"no dcgm-exporter on node {node!r}\n", content_type="text/plain")
        return web.Response(body=self.dcgm.render(node).encode(), headers={"Content-Type": DCGM_CONTENT_TYPE})

    def _ksm(self, request: web.Request, path: str) -> web.Response:
        if path != "/ksm/metrics":
            return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="method not allowed\n", content_type="text/plain",
                                headers={"Allow": "GET, HEAD"})
        return web.Response(body=self.ksm.render().encode(), headers={"Content-Type": KSM_CONTENT_TYPE})

    def _cmdb(self, request: web.Request, path: str) -> web.Response:
        def answer(status: int, msg: str, headers: dict | None = None) -> web.Response:
            return web.Response(status=status, headers=headers, content_type="application/json",
                                text=json.dumps({"code": status, "msg": msg, "data": None}))
        if path != CMDB_PATH:
            return answer(404, "no such API")
        if request.method not in ("GET", "HEAD"):
            return answer(405, "method not allowed", {"Allow": "GET, HEAD"})
        auth = request.headers.get("Authorization")
        if auth is not None and not (auth.lower().startswith("bearer ") and auth[7:].strip() in self.tokens):
            return answer(401, "invalid token")
        code = self.sim.faults.cmdb_error
        if code:
            return answer(code, "injected fault")
        return web.Response(body=self.cmdb.body(), content_type="application/json", charset="utf-8")

    def _discovery(self, request: web.Request, path: str) -> web.Response:
        if path == "/api":
            host = request.host
            return json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
        groups = res.groups()

        def group_doc(g: str) -> dict:
            vs = [{"groupVersion": f"{g}/{v}", "version": v} for v in groups[g]]
            return {"name": g, "versions": vs, "preferredVersion": vs[0]}
        if path == "/apis":
            return json_response({"kind": "APIGroupList", "apiVersion": "v1",
                                  "groups": [group_doc(g) for g in groups]})
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[1] in groups:
            return json_response({"kind": "APIGroup", "apiVersion": "v1", **group_doc(parts[1])})
        if len(parts) == 3:
            doc = res.resource_list(parts[1], parts[2])
            if doc is not None:
                return json_response(doc)
        raise ApiError(404, "the server could not find the requested resource", "NotFound", {})

    # ------------------------------------------------------------------ authorisation
    def authorize(self, ident: Identity, verb: str, route: Route, name: str | None = None) -> None:
        rt = route.rt
        resource = rt.plural + (f"/{route.sub}" if route.sub else "")
        if not ident.can(verb, rt.group, resource, route.namespace):
            raise forbidden(rt.plural, rt.group, ident.user, verb, route.namespace, name or route.name,
                            route.sub or "")

    async def _resource(self, request: web.Request, ident: Identity, route: Route) -> web.StreamResponse:
        m = request.method
        q = request.query
        rt = route.rt
        if rt.group in res.REVIEW_GROUPS:
            if m != "POST":
                raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
            return await self._review(request, ident, route)
        if rt.key == "/endpoints":
            return self._endpoints(request, ident, route)
        if route.name is None:
            if m == "GET":
                verb = "watch" if qbool(q.get("watch")) else "list"
                self.authorize(ident, verb, route)
                if route.namespace and not self._ns_exists(route.namespace) and verb == "list":
                    pass  # listing in a missing namespace answers an empty list, as the apiserver does
                return await (self._watch(request, route) if verb == "watch" else self._list(request, route))
            if m == "POST":
                self.authorize(ident, "create", route)
                return await self._create(request, route)
            if m == "DELETE":
                self.authorize(ident, "deletecollection", route)
                return self._delete_collection(request, route)
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
        if route.sub == "log":
            self.authorize(ident, "get", route)
            return await self._log(request, route)
        verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(m)
        if verb is None or (route.sub and verb == "delete"):
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
        if verb == "get" and qbool(q.get("watch")):
            if route.sub:
                raise ApiError(405, "the server does not allow this method on the requested resource",
                               "MethodNotAllowed")
            verb = "watch"
        self.authorize(ident, verb, route)
        if verb == "watch":  # the old single-object watch: a watch of the list, by name
            return await self._watch(request, route)
        if verb == "get":
            return self._get(request, route)
        if verb == "delete":
            return await self._delete(request, route)
        return await self._write(request, route, verb)

    def _endpoints(self, request: web.Request, ident: Identity, route: Route) -> web.Response:
        """v1 Endpoints, made from the Services and their pods at each read (get and list; no watch, no write)."""
        if request.method != "GET" or route.sub or qbool(request.query.get("watch")):
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
        services = res.BY_KEY["/services"]
        if route.name is not None:
            self.authorize(ident, "get", route)
            svc = self.store.get(services, route.namespace or "", route.name)
            if svc is None:
                raise not_found(route.rt, route.name)
            return json_response(self.proxy.endpoints_of(svc))
        self.authorize(ident, "list", route)
        labels, fields = self._predicate(route, request.query)
        items = [ep for svc in self.store.objects(services, route.namespace)
                 for ep in (self.proxy.endpoints_of(svc),) if selected(ep, labels, fields)]
        return json_response({"kind": "EndpointsList", "apiVersion": "v1",
                              "metadata": {"resourceVersion": str(self.store.rv)}, "items": items})

    def _ns_exists(self, ns: str) -> bool:
        return self.store.get(res.BY_KEY["/namespaces"], "", ns) is not None

    # ------------------------------------------------------------------ reads
    def _predicate(self, route: Route, q) -> Any:
        try:
            labels = parse_label_selector(q.get("labelSelector"))
            fields = parse_field_selector(q.get("fieldSelector"), route.rt.fields)
        except SelectorError as err:
            raise bad_request(str(err)) from None
        return labels, fields

    def _entry_json(self, e: Entry, route: Route) -> bytes:
        return e.json_as(route.api_version) if route.rt.group else e.json

    async def _list(self, request: web.Request, route: Route) -> web.Response:
        q = request.query
        labels, fields = self._predicate(route, q)
        limit = qint(q.get("limit"), "limit")
        pred = None if labels.empty and fields.empty else (lambda obj: selected(obj, labels, fields))
        entries, token, remaining, list_rv = self.store.page(route.rt, route.namespace, limit or None,
                                                             q.get("continue") or None, pred)
        if tables.wants_table(request.headers.get("Accept", "")):
            return json_response(tables.table(route.rt, [e.obj for e in entries], list_rv, token, remaining,
                                              self.engine.now(), q.get("includeObject", "Metadata")))
        md: dict[str, Any] = {"resourceVersion": list_rv}
        if token:
            md["continue"] = token
            if remaining is not None:
                md["remainingItemCount"] = remaining
        head = dumps({"kind": route.rt.list_kind, "apiVersion": route.api_version, "metadata": md})
        body = head[:-1] + b',"items":[' + b",".join(self._entry_json(e, route) for e in entries) + b"]}"
        return web.Response(body=body, content_type="application/json")

    def _get(self, request: web.Request, route: Route) -> web.Response:
        e = self.store.entry(route.rt, route.namespace or "", route.name)
        if e is None:
            raise not_found(route.rt, route.name)
        if route.sub == "scale":
            return json_response(self._scale_of(e.obj))
        if tables.wants_table(request.headers.get("Accept", "")):
            return json_response(tables.table(route.rt, [e.obj], e.obj["metadata"]["resourceVersion"], None, None,
                                              self.engine.now(), request.query.get("includeObject", "Metadata")))
        return json_response(self._entry_json(e, route))

    def _scale_of(self, obj: dict) -> dict:
        from .seldon import desired_replicas
        md = obj["metadata"]
        st = obj.get("status") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in md},
                "spec": {"replicas": desired_replicas(obj)},
                "status": {"replicas": int(st.get("replicas", 0)),
                           "selector": st.get("selector", f"seldon-deployment-id={md['name']}")}}

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        q = request.query
        labels, fields = self._predicate(route, q)
        timeout = qint(q.get("timeoutSeconds"), "timeoutSeconds")
        bookmarks = qbool(q.get("allowWatchBookmarks"))
        rv_text = q.get("resourceVersion") or ""
        w = Watcher(route.rt, route.namespace, labels, fields, route.api_version, name=route.name)
        initial: list[Entry] = []
        expired: ApiError | None = None
        if self.sim.faults.take_expire():
            expired = ApiError(410, f"too old resource version: {rv_text or 0} ({self.store.rv})", "Expired")
        elif rv_text in ("", "0"):
            for key in self.store.sorted_keys(route.rt, route.namespace):
                e = self.store.entry(route.rt, *key)
                if e is not None and w.selects(e.obj):
                    initial.append(e)
            self.store.add_watcher(w)
        else:
            try:
                rv = int(rv_text)
            except ValueError:
                raise bad_request(f'invalid resource version: strconv.ParseUint: parsing "{rv_text}": '
                                  "invalid syntax") from None
            try:
                for change in self.store.changes_since(route.rt, rv):
                    w.offer(change)
                self.store.add_watcher(w)
            except ApiError as err:
                expired = err
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self.streams.add(task)
        try:
            if expired is not None:
                await resp.write(dumps({"type": "ERROR", "object": expired.status()}) + b"\n")
                return resp
            if initial:
                await resp.write(b"".join(b'{"type":"ADDED","object":' + self._entry_json(e, route) + b"}\n"
                                          for e in initial))
            deadline = time.monotonic() + (timeout if timeout is not None else 1800 + (hash(id(w)) % 1800))
            next_bookmark = time.monotonic() + self.bookmark_interval
            drop_every = self.sim.faults.drop_watch_every
            drop_at = time.monotonic() + drop_every if drop_every else None
            while True:
                now = time.monotonic()
                wake = min(deadline, next_bookmark if bookmarks else deadline, drop_at or deadline)
                if now >= deadline or (drop_at and now >= drop_at):
                    break
                try:
                    item = await asyncio.wait_for(w.queue.get(), timeout=max(0.01, wake - now))
                except asyncio.TimeoutError:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        bm = {"type": "BOOKMARK", "object": {"kind": route.rt.kind, "apiVersion": route.api_version,
                                                             "metadata": {"resourceVersion": str(self.store.rv)}}}
                        await resp.write(dumps(bm) + b"\n")
                        next_bookmark = time.monotonic() + self.bookmark_interval
                    continue
                if item is None:
                    break
                chunks = [item]
                while not w.queue.empty() and len(chunks) < 500:
                    nxt = w.queue.get_nowait()
                    if nxt is None:
                        w.closed = True
                        break
                    chunks.append(nxt)
                await resp.write(b"".join(b'{"type":"' + t.encode() + b'","object":' + self._entry_json(e, route)
                                          + b"}\n" for t, e in chunks))
                if w.closed:
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.remove_watcher(w)
            if task is not None:
                self.streams.discard(task)
        try:
            await resp.write_eof()
        except Exception:
            pass
        return resp

    # ------------------------------------------------------------------ writes
    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            ct = request.headers.get("Content-Type", "")
            if "yaml" in ct:
                import yaml
                try:
                    return yaml.safe_load(raw)
                except yaml.YAMLError:
                    pass
            raise bad_request("the body of the request was in an unknown format - accepted media types include: "
                              "application/json, application/yaml, application/vnd.kubernetes.protobuf") from None

    def _validate_name(self, route: Route, name: str) -> None:
        if len(name) > 253 or not NAME_RE.match(name):
            raise invalid(route.rt, name, "metadata.name", name,
                          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                          "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
                          "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")

    async def _create(self, request: web.Request, route: Route) -> web.Response:
        obj = await self._body(request)
        if not isinstance(obj, dict):
            raise bad_request("Object 'Kind' is missing in the request body")
        md = obj.setdefault("metadata", {})
        if route.rt.namespaced:
            body_ns = md.get("namespace")
            if body_ns and body_ns != route.namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            md["namespace"] = route.namespace
            if not self._ns_exists(route.namespace):
                raise not_found(res.BY_KEY["/namespaces"], route.namespace)
        if not md.get("name") and md.get("generateName"):
            import random
            suffix = "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            md["name"] = md["generateName"] + suffix
        name = md.get("name") or ""
        if not name:
            rt = route.rt
            kind = rt.kind if not rt.group else f"{rt.kind}.{rt.group}"
            raise ApiError(422, f'{kind} "" is invalid: metadata.name: Required value: name or generateName is '
                                "required", "Invalid", {**({"group": rt.group} if rt.group else {}), "kind": rt.kind,
                                                         "causes": [{"reason": "FieldValueRequired",
                                                                     "message": "Required value: name or "
                                                                                "generateName is required",
                                                                     "field": "metadata.name"}]})
        self._validate_name(route, name)
        if qbool(request.query.get("dryRun")) or request.query.get("dryRun") == "All":
            return json_response(obj, 201)
        rt = route.rt
        if rt is PODS:
            prt = pod_runtime(obj, "platform", None, {}, rate=0.5)
            self.engine.create_pod(obj, prt)
        elif rt is NODES:
            self.engine.add_node(obj)
        else:
            self.store.create(rt, obj)
            if rt is QUOTAS:
                self.engine.set_quota(route.namespace, (obj.get("spec") or {}).get("hard") or {})
        self.engine.run_due(self.engine.now())
        e = self.store.entry(rt, route.namespace or "", name)
        return json_response(self._entry_json(e, route) if e else obj, 201)

    async def _write(self, request: web.Request, route: Route, verb: str) -> web.Response:
        rt = route.rt
        e = self.store.entry(rt, route.namespace or "", route.name)
        if e is None:
            raise not_found(rt, route.name)
        current = json.loads(e.json)
        body = await self._body(request)
        scale = route.sub == "scale"
        base = self._scale_of(current) if scale else current
        if verb == "update":
            if not isinstance(body, dict):
                raise bad_request("Object 'Kind' is missing in the request body")
            new = body
            rv = (new.get("metadata") or {}).get("resourceVersion")
            if not rv and not rt.builtin:
                # built-in kinds allow an unconditional update; custom resources do not
                raise invalid(rt, route.name, "metadata.resourceVersion", 0, "must be specified for an update")
        else:
            ct = (request.headers.get("Content-Type") or "").split(";")[0].strip()
            try:
                if ct == JSONPATCH:
                    new = json_patch(base, body if isinstance(body, list) else [])
                elif ct == MERGE:
                    new = merge_patch(base, body)
                elif ct == STRATEGIC:
                    if not rt.builtin and not scale:
                        raise ApiError(415, f"the body of the request was in an unknown format - accepted media "
                                            f"types include: {JSONPATCH}, {MERGE}, {APPLY}", "UnsupportedMediaType")
                    new = strategic_merge_patch(base, body or {}, "Scale" if scale else rt.kind)
                elif ct == APPLY:
                    raise ApiError(415, "server-side apply is not supported by the simulator", "UnsupportedMediaType")
                else:
                    raise ApiError(415, f'the body of the request was in an unknown format - accepted media types '
                                        f'include: {JSONPATCH}, {MERGE}, {APPLY}'
                                        + (f", {STRATEGIC}" if rt.builtin else ""), "UnsupportedMediaType")
            except PatchError as err:
                raise ApiError(err.code, str(err)) from None
            if not isinstance(new, dict):
                raise bad_request("the patch did not produce an object")
            rv = (new.get("metadata") or {}).get("resourceVersion")
            if rv == current["metadata"].get("resourceVersion"):
                rv = None  # unchanged by the patch: no precondition
        if rv and rv != current["metadata"].get("resourceVersion"):
            from .errors import conflict
            raise conflict(rt, route.name)
        if scale:
            replicas = (new.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise invalid(rt, route.name, "spec.replicas", replicas, "must be greater than or equal to 0")
            result = self._merge_server_fields(rt, current, {**current, "spec": {**current.get("spec", {}),
                                                                                "replicas": replicas}}, None)
        else:
            result = self._merge_server_fields(rt, current, new, route.sub)
        nmd = result["metadata"]
        if nmd.get("name") != route.name:
            raise bad_request(f"the name of the object ({nmd.get('name')}) does not match the name on the URL "
                              f"({route.name})")
        if rt.namespaced and nmd.get("namespace") != route.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                              "request")
        if rt is PODS and route.sub is None:
            self._check_pod_update(current, result)
        if qbool(request.query.get("dryRun")) or request.query.get("dryRun") == "All":
            return json_response(result)
        self.store.replace(rt, result)
        if rt is QUOTAS:
            self.engine.set_quota(route.namespace, (result.get("spec") or {}).get("hard") or {})
        self.engine.run_due(self.engine.now())
        e = self.store.entry(rt, route.namespace or "", route.name)
        if scale:
            return json_response(self._scale_of(e.obj))
        return json_response(self._entry_json(e, route))

    def _merge_server_fields(self, rt: res.ResourceType, current: dict, new: dict, sub: str | None) -> dict:
        """Keep what clients may not change: identity fields, and status or spec depending on the endpoint."""
        new = dict(new)
        cmd, nmd = current["metadata"], dict(new.get("metadata") or {})
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in cmd:
                nmd[k] = cmd[k]
            else:
                nmd.pop(k, None)
        nmd["name"] = nmd.get("name", cmd["name"])
        if rt.namespaced:
            nmd["namespace"] = nmd.get("namespace", cmd.get("namespace"))
        new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
        if "status" in rt.subresources:
            if sub == "status":
                return {**current, "status": new.get("status", current.get("status"))}
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        if new.get("spec") != current.get("spec") and "generation" in cmd:
            nmd["generation"] = int(cmd["generation"]) + 1
        new["metadata"] = nmd
        return new

    def _check_pod_update(self, current: dict, new: dict) -> None:
        a, b = dict(current.get("spec") or {}), dict(new.get("spec") or {})
        strip = lambda s: {**s, "containers": [{k: v for k, v in c.items() if k != "image"}  # noqa: E731
                                               for c in s.get("containers", [])],
                           "activeDeadlineSeconds": None, "tolerations": None}
        if strip(a) != strip(b):
            name = current["metadata"]["name"]
            raise ApiError(422, f'Pod "{name}" is invalid: spec: Forbidden: pod updates may not change fields other '
                                "than `spec.containers[*].image`,`spec.initContainers[*].image`,"
                                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                                "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                                "previously negative)", "Invalid", {"name": name, "kind": "Pod", "causes": [
                                    {"reason": "FieldValueForbidden", "message": "Forbidden: pod updates may not "
                                     "change fields other than the image, activeDeadlineSeconds and tolerations",
                                     "field": "spec"}]})

    async def _delete(self, request: web.Request, route: Route) -> web.Response:
        rt = route.rt
        ns = route.namespace or ""
        cur = self.store.get(rt, ns, route.name)
        if cur is None:
            raise not_found(rt, route.name)
        q = request.query
        opts = {}
        try:
            opts = await self._body(request) or {}
        except ApiError:
            opts = {}
        grace = qint(q.get("gracePeriodSeconds"), "gracePeriodSeconds")
        if grace is None and isinstance(opts.get("gracePeriodSeconds"), int):
            grace = opts["gracePeriodSeconds"]
        policy = q.get("propagationPolicy") or opts.get("propagationPolicy")
        if opts.get("orphanDependents") is True:
            policy = "Orphan"
        pre = opts.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != cur["metadata"].get("uid"):
            raise ApiError(409, f'Precondition failed: UID in precondition: {pre["uid"]}, UID in object meta: '
                                f'{cur["metadata"].get("uid")}', "Conflict")
        if pre.get("resourceVersion") and pre["resourceVersion"] != cur["metadata"].get("resourceVersion"):
            raise ApiError(409, f'Precondition failed: ResourceVersion in precondition: {pre["resourceVersion"]}, '
                                f'ResourceVersion in object meta: {cur["metadata"].get("resourceVersion")}', "Conflict")
        body_dry = opts.get("dryRun") if isinstance(opts, dict) else None  # kubectl sends DeleteOptions.dryRun
        if q.get("dryRun") == "All" or (isinstance(body_dry, list) and "All" in body_dry):
            return json_response(cur)
        if policy is None and rt.key == "batch/jobs":
            policy = "Orphan"  # batch/v1 Job keeps its pods unless told otherwise (a real trap)
        if policy == "Orphan":
            self._orphan(cur)
        if rt is PODS:
            obj = self.engine.delete_pod(ns, route.name, grace)
            self.engine.run_due(self.engine.now())
            return json_response(obj)
        if rt.key == "/namespaces":
            return json_response(self._delete_namespace(route.name))
        if policy == "Foreground":
            now = self.engine.now()

            def mark(o: dict) -> None:
                o["metadata"]["deletionTimestamp"] = rfc3339(now)
                o["metadata"]["deletionGracePeriodSeconds"] = 0
                o["metadata"]["finalizers"] = ["foregroundDeletion"]
            obj = self.store.mutate(rt, ns, route.name, mark)
            self.engine.after(2.0, self._finish_foreground, rt, ns, route.name)
            return json_response(obj)
        last = self.store.delete(rt, ns, route.name)
        self.engine.run_due(self.engine.now())
        details = {"name": route.name, **({"group": rt.group} if rt.group else {}), "kind": rt.plural,
                   "uid": last["metadata"].get("uid")}
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": details})

    def _finish_foreground(self, rt, ns: str, name: str) -> None:
        if self.store.get(rt, ns, name) is not None:
            self.store.delete(rt, ns, name)

    def _orphan(self, owner: dict) -> None:
        uid = owner["metadata"].get("uid")
        kids = self.engine.children.pop(uid, set())
        for key, ns, name in kids:
            rt = res.BY_KEY[key]

            def drop(o: dict) -> None:
                refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                if refs:
                    o["metadata"]["ownerReferences"] = refs
                else:
                    o["metadata"].pop("ownerReferences", None)
            self.store.mutate(rt, ns, name, drop)

    def _delete_namespace(self, name: str) -> dict:
        nsrt = res.BY_KEY["/namespaces"]
        now = self.engine.now()

        def term(o: dict) -> None:
            o["metadata"]["deletionTimestamp"] = rfc3339(now)
            o["status"] = {"phase": "Terminating"}
        obj = self.store.mutate(nsrt, "", name, term)

        def purge() -> None:
            for rt in res.RESOURCES:
                if not rt.namespaced or rt.group in res.REVIEW_GROUPS:
                    continue
                for o in list(self.store.objects(rt, name)):
                    if rt is PODS:
                        self.engine.delete_pod(name, o["metadata"]["name"], 0)
                    elif self.store.get(rt, name, o["metadata"]["name"]) is not None:
                        self.store.delete(rt, name, o["metadata"]["name"])
            if self.store.get(nsrt, "", name) is not None:
                self.store.delete(nsrt, "", name)
        self.engine.after(2.0, purge)
        return obj

    def _delete_collection(self, request: web.Request, route: Route) -> web.Response:
        labels, fields = self._predicate(route, request.query)
        for obj in list(self.store.objects(route.rt, route.namespace)):
            md = obj["metadata"]
            if not selected(obj, labels, fields):
                continue
            if route.rt is PODS:
                self.engine.delete_pod(md.get("namespace", ""), md["name"])
            else:
                self.store.delete(route.rt, md.get("namespace", ""), md["name"])
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    # ------------------------------------------------------------------ reviews
    async def _review(self, request: web.Request, ident: Identity, route: Route) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise bad_request("Object 'Kind' is missing in the request body")
        if route.rt.plural == "selfsubjectreviews":
            # authentication.k8s.io: no spec; the answer is who the bearer token belongs to
            return json_response({"apiVersion": route.api_version, "kind": route.rt.kind,
                                  "metadata": {"creationTimestamp": None},
                                  "status": {"userInfo": {"username": ident.user, "groups": list(ident.groups)}}},
                                 201)
        spec = body.get("spec") or {}
        out = {"apiVersion": "authorization.k8s.io/v1", "kind": route.rt.kind,
               "metadata": {"creationTimestamp": None}, "spec": spec}
        if route.rt.plural == "selfsubjectrulesreviews":
            ns = spec.get("namespace")
            if not ns:
                raise bad_request("no namespace on request")
            out["status"] = {"resourceRules": ident.rules_for(ns), "incomplete": False, "nonResourceRules": [
                {"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                                       "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]}]}
            return json_response(out, 201)
        attrs = spec.get("resourceAttributes")
        if attrs:
            resource = attrs.get("resource", "") + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
            ok = ident.can(attrs.get("verb", ""), attrs.get("group", ""), resource, attrs.get("namespace") or None)
        else:
            ok = bool(spec.get("nonResourceAttributes"))
        status: dict[str, Any] = {"allowed": ok}
        if ok:
            role = {"admin": "cluster-admin", "group-admin": "mlss-group-admin", "viewer": "view"}[ident.role]
            status["reason"] = f'RBAC: allowed by ClusterRoleBinding "{role}-{ident.user}" of ClusterRole "{role}" ' \
                               f'to User "{ident.user}"'
        out["status"] = status
        return json_response(out, 201)

    # ------------------------------------------------------------------ logs
    async def _log(self, request: web.Request, route: Route) -> web.StreamResponse:
        from .logs import format_timestamps
        ns, name = route.namespace, route.name
        pod_obj = self.store.get(PODS, ns, name)
        if pod_obj is None:
            raise not_found(PODS, name)
        q = request.query
        names = [c["name"] for c in pod_obj["spec"].get("containers", [])]
        init_names = [c["name"] for c in pod_obj["spec"].get("initContainers") or []]
        cname = q.get("container")
        if not cname:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                  f"[{' '.join(names)}]" + (f" or one of the init containers: [{' '.join(init_names)}]"
                                                            if init_names else ""))
            cname = names[0]
        if cname not in names and cname not in init_names:
            raise bad_request(f"container {cname} is not valid for pod {name}")
        p = self.engine.pod_rt(ns, name)
        if p is None or p.node is None:
            # not scheduled: the apiserver has no kubelet to ask and answers an empty log
            return web.Response(body=b"", content_type="text/plain")
        c = p.container(cname)
        if c is None:
            raise bad_request(f"container {cname} is not valid for pod {name}")
        previous = qbool(q.get("previous"))
        log = c.prev_log if previous else c.log
        if log is None:
            if previous:
                raise bad_request(f'previous terminated container "{cname}" in pod "{name}" not found')
            reason = {"ErrImagePull": "image can't be pulled",  # the kubelet's words
                      "ImagePullBackOff": "trying and failing to pull image"}.get(c.reason, c.reason or
                                                                                   "ContainerCreating")
            raise bad_request(f'container "{cname}" in pod "{name}" is waiting to start: {reason}')
        tail = qint(q.get("tailLines"), "tailLines")
        since_s = qint(q.get("sinceSeconds"), "sinceSeconds")
        since_t = q.get("sinceTime")
        if since_s is not None and since_t:
            raise bad_request("at most one of `sinceTime` or `sinceSeconds` may be specified")
        limit_bytes = qint(q.get("limitBytes"), "limitBytes")
        stamps = qbool(q.get("timestamps"))
        follow = qbool(q.get("follow")) and not previous
        now = self.engine.now()
        end = log.count_at(now)
        start = 0
        if since_s is not None:
            start = log.index_at(now - since_s)
        elif since_t:
            try:
                # the apiserver hands sinceTime to the kubelet in whole seconds (RFC 3339 without a fraction):
                # a client resuming from its last line's stamp gets that second's earlier lines again
                start = log.index_at(float(math.floor(parse_rfc3339(since_t))))
            except ValueError:
                raise bad_request(f'parsing time "{since_t}" as "2006-01-02T15:04:05Z07:00": cannot parse') from None
        if tail is not None and tail >= 0:
            start = max(start, end - tail)

        def render(a: int, b: int) -> bytes:
            lines = log.lines(a, b)
            if stamps:
                heads = format_timestamps([ts for ts, _ in lines])
                return "".join([f"{h} {text}\n" for h, (_, text) in zip(heads, lines)]).encode()
            return "".join([f"{text}\n" for _, text in lines]).encode()

        if not follow:
            data = render(start, end)
            if limit_bytes is not None and limit_bytes >= 0:
                data = data[:limit_bytes]
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self.streams.add(task)
        sent_bytes = 0
        drop_every = self.sim.faults.drop_log_every
        drop_at = time.monotonic() + drop_every if drop_every else None
        drop_gen = self.log_drop_gen
        try:
            pos = start
            while True:
                if self.log_drop_gen != drop_gen or (drop_at is not None and time.monotonic() >= drop_at):
                    # an injected drop: the connection is cut, not ended (the client sees a broken stream)
                    if request.transport is not None:
                        request.transport.abort()
                    return resp
                now = self.engine.now()
                cur_log = log
                if c.log is not None and c.log.seed == log.seed:
                    cur_log = c.log
                elif c.prev_log is not None and c.prev_log.seed == log.seed:
                    cur_log = c.prev_log
                log = cur_log
                end = log.count_at(now)
                if end > pos:
                    for a in range(pos, end, 2000):
                        if request.transport is None or request.transport.is_closing():
                            break  # the client went away
                        chunk = render(a, min(end, a + 2000))
                        if limit_bytes is not None:
                            chunk = chunk[: max(0, limit_bytes - sent_bytes)]
                        if chunk:
                            await resp.write(chunk)
                            sent_bytes += len(chunk)
                    pos = end
                if limit_bytes is not None and sent_bytes >= limit_bytes:
                    break
                if request.transport is None or request.transport.is_closing():
                    break  # the client went away
                gone = self.engine.pod_rt(ns, name) is not p
                if gone or (log.ended_at is not None and now >= log.ended_at and pos >= log.count_at(now)):
                    break
                await asyncio.sleep(0.1)  # the kubelet sends lines as they are written: keep the lag short
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self.streams.discard(task)
        try:
            await resp.write_eof()
        except Exception:
            pass
        return resp

    def drop_log_streams(self) -> None:
        """Cut every open log follow (within 0.1 s): the fault a test injects to check a client's resume."""
        self.log_drop_gen += 1

    def cancel_streams(self) -> int:
        n = 0
        for t in list(self.streams):
            t.cancel()
            n += 1
        return n

"""The API server's service proxy, and the model servers that answer behind Seldon services.

``{POST,GET,...} /api/v1/namespaces/{ns}/services/{id}/proxy[/{path}]`` where ``id`` is
``name``, ``name:port`` or ``scheme:name:port`` (scheme ``http`` or ``https``), as the real
apiserver takes it (pkg/registry/core/service/storage ``ResourceLocation``):

- authorisation: verb ``create`` (POST), ``get`` (GET, HEAD), ``update`` (PUT), ``patch``, ``delete``
  on ``services/proxy``; a refusal is the usual 403 Status, naming ``id`` as the object;
- 400 ``invalid service request "id"`` when ``id`` has more than three parts or a bad scheme;
- 404 ``services "name" not found``;
- a port number that no service port has: 503 ``no service port N found for service "name"``;
  a port given by name (or none: the unnamed port) that no port has, or no ready pod behind the
  service: 503 ``no endpoints available for service "name"``. The endpoints are the pods the
  service's selector picks that are Running, Ready and not being deleted.

Behind the endpoint:
- a Seldon predictor service (label ``seldon-deployment-id``) on its ``http`` port (8000) reaches
  the Seldon executor, which speaks the deployment's ``spec.protocol``: ``seldon`` (the default),
  ``v2``/``kfserving`` (the open inference protocol, as MLServer) or ``tensorflow`` (TF Serving's
  REST API); a path the executor does not route answers Go's ``404 page not found``;
- the ``https`` scheme to the plain-HTTP executor, or its ``grpc`` port (5001) spoken to in
  HTTP/1: 503 ``error trying to reach service: ...``, as when the apiserver's dial fails;
- a Notebook's service (a Jupyter server, reached without its base URL): Tornado's 404 page;
- any other service: 503 ``error trying to reach service: dial tcp IP:PORT: connect: connection refused``.

The GPU monitoring Services (``ServiceProxy.exporters`` and ``upstreams``): the GPU operator's
``gpu-operator/nvidia-dcgm-exporter`` fronts a DaemonSet's pods (one ``nvidia-dcgm-exporter-*`` per GPU node):
each request through the Service reaches ONE ready pod (round robin), which answers its own node's dcgm-exporter
text on ``/metrics``, as a real Service does; ``monitoring/prometheus-k8s`` forwards to a real Prometheus when a
test set one (``POST /sim/admin/upstream``), and has no endpoints (503) otherwise. A port they do not have is the
same 503 as above; authorisation is the same ``services/proxy`` check.

``GET .../pods/{id}/proxy/...`` (verb on ``pods/proxy``): an exporter pod on its target port (9400) answers its
node's text; any other pod or port the failed dial. ``endpoints_of`` is the v1 Endpoints of a Service, made on
read from its pods (``GET .../endpoints/{name}`` and lists; no watch).

The model is fake and deterministic: two classes, probabilities from a logistic function of the
row's features with weights drawn from the model's name; one row in, one row out. Latency is
added only while the simulated clock runs (never with ``speed=0``, as in tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from .dcgm import CONTENT_TYPE as DCGM_CONTENT_TYPE
from .engine import PODS, SERVICES, Engine
from .errors import ApiError, bad_request, forbidden, not_found
from .resources import BY_KEY

# the apiserver, asked for https:// of a Service that speaks plain HTTP
TLS_TO_PLAIN = "error trying to reach service: tls: first record does not look like a TLS handshake"

SDEPS = BY_KEY["machinelearning.seldon.io/seldondeployments"]
PROXY_RE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/services/(?P<id>[^/]+)/proxy(?P<tail>/.*)?$")
POD_PROXY_RE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<id>[^/]+)/proxy(?P<tail>/.*)?$")
VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
SCHEMES = ("", "http", "https")
CLASSES = ("t:0", "t:1")
V2_TYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
            "FP64", "BYTES"}
GO_404 = "404 page not found\n"  # Go's http.NotFound, what the Seldon executor's router answers
TORNADO_404 = "<html><title>404: Not Found</title><body>404: Not Found</body></html>"


class BadData(Exception):
    """A request body the model server rejects (400, in each protocol's own error shape)."""


def split_scheme_name_port(sid: str) -> tuple[str, str, str]:
    """``name`` / ``name:port`` / ``scheme:name:port`` -> (scheme, name, port), as utilnet.SplitSchemeNamePort."""
    parts = sid.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, (name, port) = "", parts
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        raise bad_request(f'invalid service request "{sid}"')
    if not name or scheme not in SCHEMES:
        raise bad_request(f'invalid service request "{sid}"')
    return scheme, name, port


def unavailable(message: str) -> ApiError:
    return ApiError(503, message, "ServiceUnavailable")


@dataclass
class Endpoint:
    pod: dict  # the pod as stored
    ip: str
    port: int  # the target port on the pod
    port_name: str


class ServiceProxy:
    """Answers ``.../services/{id}/proxy/...`` for the API server (``handle``).

    Two Services of the GPU monitoring (``world.World._monitoring``): ``exporters`` maps (namespace, name) to a
    callable that gives one node's dcgm-exporter text (the GPU operator's exporter Service: ``GET /metrics`` through
    it reaches one of its ready pods, through ``handle_pod`` a given pod); ``upstreams`` maps (namespace, name) to the base URL of a real server that
    requests are forwarded to (a test's Prometheus behind ``monitoring/prometheus-k8s``), set with
    ``set_upstream`` (``POST /sim/admin/upstream``). The caller's Authorization is not forwarded."""

    def __init__(self, engine: Engine,
                 exporters: dict[tuple[str, str], Callable[[str | None], str]] | None = None) -> None:
        self.e = engine
        self.store = engine.store
        self._turn = 0  # round robin over the endpoints
        self.exporters = dict(exporters or {})
        self.upstreams: dict[tuple[str, str], str] = {}

    def set_upstream(self, namespace: str, name: str, url: str | None) -> None:
        """Forward requests to ``namespace/name`` (any of its ports) to ``url``; None or "" stops it."""
        if self.store.get(SERVICES, namespace, name) is None:
            raise not_found(SERVICES, name)
        if url:
            if not re.match(r"^https?://[^/\s]+", url):
                raise bad_request(f"upstream url must be http:// or https://, not {url!r}")
            self.upstreams[(namespace, name)] = url.rstrip("/")
        else:
            self.upstreams.pop((namespace, name), None)

    async def handle(self, request: web.Request, ident: Any, m: re.Match) -> web.Response:
        ns, sid, tail = m["ns"], m["id"], m["tail"] or "/"
        verb = VERBS.get(request.method, "")
        if not ident.can(verb, "", "services/proxy", ns):
            raise forbidden("services", "", ident.user, verb, ns, sid, "proxy")
        scheme, name, port = split_scheme_name_port(sid)
        svc = self.store.get(SERVICES, ns, name)
        if svc is None:
            raise not_found(SERVICES, name)
        if (ns, name) in self.exporters or (ns, name) in self.upstreams:
            sp = self.service_port(svc, port)
            if sp is None:
                raise unavailable(f'no endpoints available for service "{name}"')
            if scheme == "https":
                raise unavailable(TLS_TO_PLAIN)
            if (ns, name) in self.exporters:  # one exporter pod per request, as a Service of a DaemonSet
                ep = self.endpoint(svc, port)
                node = ep.pod["spec"].get("nodeName") or ""
                return self._exporter(request, lambda: self.exporters[(ns, name)](node), tail)
            return await self._forward(request, self.upstreams[(ns, name)], tail)
        ep = self.endpoint(svc, port)
        if scheme == "https":
            raise unavailable(TLS_TO_PLAIN)
        labels = svc["metadata"].get("labels") or {}
        owners = {r.get("kind") for r in svc["metadata"].get("ownerReferences") or []}
        if "seldon-deployment-id" in labels:
            if ep.port_name == "grpc":
                raise unavailable('error trying to reach service: net/http: HTTP/1.x transport connection broken: '
                                  'malformed HTTP response "\\x00\\x00\\x06\\x04\\x00\\x00\\x00\\x00\\x00"')
            sdep = self.store.get(SDEPS, ns, labels["seldon-deployment-id"])
            if sdep is not None:
                return await self._seldon(request, sdep, name, ep, tail)
        if "Notebook" in owners:
            return web.Response(status=404, text=TORNADO_404, content_type="text/html")
        raise unavailable(f"error trying to reach service: dial tcp {ep.ip}:{ep.port}: connect: connection refused")

    async def handle_pod(self, request: web.Request, ident: Any, m: re.Match) -> web.Response:
        """``.../pods/{id}/proxy/...`` (``id``: ``name``, ``name:port`` or ``scheme:name:port``), verb on
        ``pods/proxy``. A pod that an exporter Service selects answers its node's exporter text on the Service's
        target port; any other pod or port is the apiserver's failed dial (nothing else is simulated behind pods)."""
        ns, sid, tail = m["ns"], m["id"], m["tail"] or "/"
        verb = VERBS.get(request.method, "")
        if not ident.can(verb, "", "pods/proxy", ns):
            raise forbidden("pods", "", ident.user, verb, ns, sid, "proxy")
        scheme, name, port = split_scheme_name_port(sid)
        pod = self.store.get(PODS, ns, name)
        if pod is None:
            raise not_found(PODS, name)
        p = self.e.pod_rt(ns, name)
        if p is None or not p.ip or p.deleting:
            raise bad_request(f"pod {name} does not have a host assigned" if p is None or not p.node else
                              f'error trying to reach pod "{name}": pod is terminating')
        labels = pod["metadata"].get("labels") or {}
        for (sns, sname), render in self.exporters.items():
            svc = self.store.get(SERVICES, sns, sname) if sns == ns else None
            selector = ((svc or {}).get("spec") or {}).get("selector") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                continue
            targets = {str(sp.get("targetPort", sp.get("port"))) for sp in svc["spec"].get("ports") or []}
            if port in targets and scheme != "https":
                node = pod["spec"].get("nodeName") or ""
                return self._exporter(request, lambda: render(node), tail)
        raise unavailable(f"error trying to reach service: dial tcp {p.ip}:{port or 80}: connect: connection refused")

    def endpoints_of(self, svc: dict) -> dict:
        """The v1 Endpoints the endpoints controller keeps for ``svc``: its ready pods as ``addresses`` (with
        ``nodeName`` and a ``targetRef`` to the pod), started pods not ready yet as ``notReadyAddresses``, and the
        Service's ports resolved to the pods' target ports. Made on read from the pods, so always current."""
        md = svc["metadata"]
        ready = self.ready_pods(svc)
        names = {o["metadata"]["name"] for o in ready}
        unready = []
        selector = (svc.get("spec") or {}).get("selector") or {}
        if selector:
            for pod in self.store.objects(PODS, md["namespace"]):
                labels = pod["metadata"].get("labels") or {}
                if pod["metadata"]["name"] in names or any(labels.get(k) != v for k, v in selector.items()):
                    continue
                p = self.e.pod_rt(md["namespace"], pod["metadata"]["name"])
                if p is not None and p.ip and not p.deleting and p.phase == "Running":
                    unready.append(pod)
            unready.sort(key=lambda o: o["metadata"]["name"])

        def address(pod: dict) -> dict:
            pmd = pod["metadata"]
            p = self.e.pod_rt(pmd["namespace"], pmd["name"])
            a: dict[str, Any] = {"ip": p.ip if p else "", "targetRef": {
                "kind": "Pod", "namespace": pmd["namespace"], "name": pmd["name"], "uid": pmd.get("uid", "")}}
            if pod["spec"].get("nodeName"):
                a["nodeName"] = pod["spec"]["nodeName"]
            return a
        out: dict[str, Any] = {"kind": "Endpoints", "apiVersion": "v1", "metadata": {
            "name": md["name"], "namespace": md["namespace"], "uid": hashlib.sha256(
                f"endpoints:{md.get('uid', '')}".encode()).hexdigest()[:8] + md.get("uid", "")[8:],
            "resourceVersion": md.get("resourceVersion", ""), "creationTimestamp": md.get("creationTimestamp")}}
        if md.get("labels"):
            out["metadata"]["labels"] = dict(md["labels"])
        if ready or unready:
            ports = []
            for sp in (svc.get("spec") or {}).get("ports") or []:
                target = sp.get("targetPort", sp.get("port"))
                if isinstance(target, str):
                    target = next((cp["containerPort"] for o in ready + unready for c in o["spec"].get("containers", [])
                                   for cp in c.get("ports") or [] if cp.get("name") == target), None)
                if target is None:
                    continue
                port = {"port": int(target), "protocol": sp.get("protocol", "TCP")}
                if sp.get("name"):
                    port = {"name": sp["name"], **port}
                ports.append(port)
            subset: dict[str, Any] = {}
            if ready:
                subset["addresses"] = [address(o) for o in ready]
            if unready:
                subset["notReadyAddresses"] = [address(o) for o in unready]
            subset["ports"] = ports
            out["subsets"] = [subset]
        return out

    # ------------------------------------------------------------------ the monitoring services
    @staticmethod
    def _exporter(request: web.Request, render: Callable[[], str], tail: str) -> web.Response:
        """A dcgm-exporter (Go's net/http): ``/metrics`` answers GET and HEAD; any other path Go's 404."""
        if tail.rstrip("/") != "/metrics":
            return web.Response(status=404, text=GO_404, content_type="text/plain")
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="method not allowed\n", content_type="text/plain",
                                headers={"Allow": "GET, HEAD"})
        return web.Response(body=render().encode(), headers={"Content-Type": DCGM_CONTENT_TYPE})

    @staticmethod
    async def _forward(request: web.Request, base: str, tail: str) -> web.Response:
        """The request, to ``base`` + ``tail`` (query string kept, credentials not): the upstream's answer as it is,
        or 503 as the apiserver's failed dial."""
        import aiohttp
        from yarl import URL
        raw = PROXY_RE.match(request.rel_url.raw_path)  # path and query as the caller encoded them
        tail = (raw["tail"] or "/") if raw else tail
        raw_query = request.rel_url.raw_query_string
        url = URL(base + tail + (f"?{raw_query}" if raw_query else ""), encoded=True)
        keep = {k: v for k, v in request.headers.items() if k.lower() in ("accept", "content-type")}
        body = await request.read() if request.can_read_body else None
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                async with session.request(request.method, url, headers=keep, data=body,
                                           allow_redirects=False) as resp:
                    data = await resp.read()
                    ctype = resp.headers.get("Content-Type", "application/octet-stream")
                    return web.Response(status=resp.status, body=data, headers={"Content-Type": ctype})
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            raise unavailable(f"error trying to reach service: {type(err).__name__}") from None

    # ------------------------------------------------------------------ endpoints
    @staticmethod
    def service_port(svc: dict, port: str) -> dict | None:
        """The Service port ``port`` names (a number, a name, or "" for the unnamed port); a number that no port
        has is the apiserver's 503 ``no service port N found``; a name that none has is None."""
        name = svc["metadata"]["name"]
        ports = (svc.get("spec") or {}).get("ports") or []
        if port.isdigit():
            sp = next((p for p in ports if int(p.get("port", -1)) == int(port)), None)
            if sp is None:
                raise unavailable(f'no service port {int(port)} found for service "{name}"')
            return sp
        return next((p for p in ports if p.get("name", "") == port), None)

    def endpoint(self, svc: dict, port: str) -> Endpoint:
        """The pod and port a request goes to; 503 Status when there is none (see the module text)."""
        name = svc["metadata"]["name"]
        sp = self.service_port(svc, port)
        ready = self.ready_pods(svc)
        if sp is None or not ready:
            raise unavailable(f'no endpoints available for service "{name}"')
        pod = ready[self._turn % len(ready)]
        self._turn += 1
        target = sp.get("targetPort", sp.get("port"))
        if isinstance(target, str):  # a named container port
            target = next((cp["containerPort"] for c in pod["spec"].get("containers", [])
                           for cp in c.get("ports") or [] if cp.get("name") == target), sp.get("port"))
        prt = self.e.pod_rt(pod["metadata"]["namespace"], pod["metadata"]["name"])
        return Endpoint(pod, prt.ip if prt else "", int(target), sp.get("name", ""))

    def ready_pods(self, svc: dict) -> list[dict]:
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            return []  # a service without a selector has hand-made endpoints; the simulator makes none
        ns = svc["metadata"]["namespace"]
        out = []
        for pod in self.store.objects(PODS, ns):
            md = pod["metadata"]
            labels = md.get("labels") or {}
            if any(labels.get(k) != v for k, v in selector.items()):
                continue
            p = self.e.pod_rt(ns, md["name"])
            if (p is not None and not p.deleting and p.phase == "Running" and p.ip and p.containers
                    and all(c.ready for c in p.containers)):
                out.append(pod)
        out.sort(key=lambda o: o["metadata"]["name"])
        return out

    # ------------------------------------------------------------------ the Seldon executor
    async def _seldon(self, request: web.Request, sdep: dict, svc_name: str, ep: Endpoint,
                      tail: str) -> web.Response:
        spec = sdep.get("spec") or {}
        preds = spec.get("predictors") or [{}]
        pred = next((p for p in preds if f"{sdep['metadata']['name']}-{p.get('name', 'default')}" == svc_name),
                    preds[0])
        graph = pred.get("graph") or {}
        model = graph.get("name", "classifier")
        image = next((c.get("image", "") for c in ep.pod["spec"].get("containers", []) if c.get("name") == model),
                     "")
        server = ModelServer(model, image, spec.get("protocol") or "seldon")
        body = await request.read()
        resp = server.answer(request.method, tail, body)
        delay = server.latency
        if delay and not self.e.clock.frozen:
            await asyncio.sleep(delay)
        return resp


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(doc), content_type="application/json")


def _number(x: Any) -> float:
    """One feature as a number: numbers as they are (squashed), anything else from a hash of its JSON."""
    if isinstance(x, (int, float)):
        v = float(x)
        return math.copysign(math.log1p(abs(v)), v) if math.isfinite(v) else 0.0
    digest = hashlib.sha256(json.dumps(x, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2 ** 31 - 1.0


def _flatten(x: Any) -> list:
    if isinstance(x, list):
        return [v for item in x for v in _flatten(item)]
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flatten(x[k])]
    return [x]


def _unit(model: str, what: str) -> float:
    """A number in [-1, 1) fixed by the model's name."""
    return int(hashlib.sha256(f"{model}:{what}".encode()).hexdigest()[:8], 16) / 2 ** 31 - 1.0


def _prod(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _shape(shape: Any, what: str) -> list[int]:
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise BadData(f"{what} must be a list of non-negative integers, not {json.dumps(shape)}")
    return shape


class ModelServer:
    """One model behind the Seldon executor: ``answer(method, path, body)`` -> the HTTP answer."""

    def __init__(self, model: str, image: str, protocol: str) -> None:
        self.model = model
        self.image = image
        self.protocol = protocol
        self.latency = 0.0

    def predict(self, rows: list[list]) -> list[list[float]]:
        """Two-class probabilities per row (a logistic model with weights from the model's name)."""
        out = []
        for row in rows:
            z = _unit(self.model, "bias")
            for i, x in enumerate(row):
                z += 1.5 * _unit(self.model, f"w{i}") * _number(x)
            p1 = 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))
            out.append([1.0 - p1, p1])
        self.latency = min(0.1, 0.006 + 0.0002 * len(rows))
        return out

    def answer(self, method: str, path: str, body: bytes) -> web.Response:
        routes = {"seldon": self._seldon_routes, "v2": self._v2_routes, "kfserving": self._v2_routes,
                  "tensorflow": self._tf_routes}
        route = routes.get(self.protocol, self._seldon_routes)(path)
        if route is None:
            return web.Response(status=404, text=GO_404, content_type="text/plain")
        methods, handler = route
        if method not in methods:
            return web.Response(status=405)  # gorilla/mux: a known path with another method, no body
        return handler(body)

    # ------------------------------------------------------------------ seldon
    def _seldon_routes(self, path: str):
        if path.rstrip("/") in ("/api/v1.0/predictions", "/api/v0.1/predictions"):
            return ("POST",), self._seldon_predict
        return None

    def _seldon_predict(self, body: bytes) -> web.Response:
        def fail(info: str) -> web.Response:
            return _json({"status": {"code": -1, "info": info, "reason": "MICROSERVICE_BAD_DATA",
                                     "status": "FAILURE"}}, 400)
        try:
            msg = json.loads(body) if body.strip() else None
        except ValueError as err:
            return fail(f"Failed to decode JSON object: {err}")
        if msg is None:
            return fail("Invalid Data Format - empty json")
        if not isinstance(msg, dict) or not isinstance(msg.get("data"), dict):
            return fail(f"Can't find data in json: {json.dumps(msg)}")
        data = msg["data"]
        try:
            if "ndarray" in data:
                rows = data["ndarray"]
                if not isinstance(rows, list) or not rows:
                    raise BadData("ndarray must be a non-empty list of rows")
                if not all(isinstance(r, list) for r in rows):
                    raise BadData("Expected 2D array, got 1D array instead: reshape your data with one row per "
                                  "sample")
                rows = [_flatten(r) for r in rows]
                out: dict[str, Any] = {"names": list(CLASSES), "ndarray": self.predict(rows)}
            elif "tensor" in data:
                t = data["tensor"]
                if not isinstance(t, dict):
                    raise BadData("tensor must be an object with shape and values")
                shape = _shape(t.get("shape"), "tensor.shape")
                values = t.get("values")
                if not isinstance(values, list) or len(values) != _prod(shape):
                    raise BadData(f"tensor.values must hold {_prod(shape)} values for shape {shape}")
                if len(shape) < 2:
                    raise BadData("Expected 2D array, got 1D array instead: reshape your data with one row per "
                                  "sample")
                n = shape[0]
                width = _prod(shape[1:])
                probs = self.predict([values[i * width:(i + 1) * width] for i in range(n)])
                out = {"names": list(CLASSES), "tensor": {"shape": [n, len(CLASSES)],
                                                          "values": [p for row in probs for p in row]}}
            else:
                raise BadData(f"Can't find ndarray or tensor in data: {json.dumps(data)}")
        except BadData as err:
            return fail(str(err))
        return _json({"data": out, "meta": {"requestPath": {self.model: self.image}}})

    # ------------------------------------------------------------------ v2 (open inference protocol)
    def _v2_routes(self, path: str):
        p = path.rstrip("/")
        if p in ("/v2/health/live", "/v2/health/ready"):
            return ("GET", "HEAD"), lambda body: web.Response(status=200)
        m = re.fullmatch(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(/infer|/ready)?", p)
        if m is None:
            return None
        name, what = m[1], m[3]
        if name != self.model:
            return (("POST",) if what == "/infer" else ("GET", "HEAD"),
                    lambda body: _json({"error": f"Model {name} not found"}, 404))
        if what == "/infer":
            return ("POST",), self._v2_infer
        if what == "/ready":
            return ("GET", "HEAD"), lambda body: web.Response(status=200)
        return ("GET", "HEAD"), lambda body: _json({"name": self.model, "versions": [], "platform": "",
                                                    "inputs": [], "outputs": [], "parameters": {}})

    def _v2_infer(self, body: bytes) -> web.Response:
        try:
            try:
                msg = json.loads(body)
            except ValueError as err:
                raise BadData(f"invalid JSON in the request body: {err}") from None
            if not isinstance(msg, dict):
                raise BadData("the request body must be a JSON object")
            inputs = msg.get("inputs")
            if not isinstance(inputs, list) or not inputs:
                raise BadData("the request must have a non-empty list of inputs")
            n: int | None = None
            columns = []
            for i, inp in enumerate(inputs):
                if not isinstance(inp, dict):
                    raise BadData(f"inputs[{i}] must be an object")
                for key in ("name", "shape", "datatype", "data"):
                    if key not in inp:
                        raise BadData(f"inputs[{i}]: field required: {key}")
                shape = _shape(inp["shape"], f"inputs[{i}].shape")
                if inp["datatype"] not in V2_TYPES:
                    raise BadData(f"inputs[{i}]: unsupported datatype {json.dumps(inp['datatype'])}")
                data = _flatten(inp["data"]) if isinstance(inp["data"], list) else None
                if data is None or len(data) != _prod(shape):
                    raise BadData(f"inputs[{i}] ({inp['name']}): shape {shape} needs {_prod(shape)} values, "
                                  f"got {len(data) if data is not None else 'no list'}")
                if n is not None and shape[0] != n:
                    raise BadData(f"inputs[{i}] ({inp['name']}): {shape[0]} rows, the first input has {n}")
                n = shape[0]
                width = _prod(shape[1:])
                columns.append([data[r * width:(r + 1) * width] for r in range(n)])
        except BadData as err:
            return _json({"error": str(err)}, 400)
        rows = [[v for col in columns for v in col[r]] for r in range(n or 0)]
        probs = self.predict(rows)
        rid = msg.get("id") if isinstance(msg.get("id"), str) else \
            str(uuid.UUID(hashlib.sha256(self.model.encode() + body).hexdigest()[:32], version=4))
        return _json({"model_name": self.model, "id": rid, "parameters": {}, "outputs": [
            {"name": "predict", "shape": [len(rows), len(CLASSES)], "datatype": "FP64",
             "parameters": {"content_type": "np"}, "data": [p for row in probs for p in row]}]})

    # ------------------------------------------------------------------ TensorFlow Serving
    def _tf_routes(self, path: str):
        m = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?(:predict)?", path.rstrip("/"))
        if m is None:
            return None
        name, verb = m[1], m[3]
        if name != self.model:
            return (("POST",) if verb else ("GET",),
                    lambda body: _json({"error": f"Servable not found for request: Latest({name})"}, 404))
        if verb:
            return ("POST",), self._tf_predict
        return ("GET",), lambda body: _json({"model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})

    def _tf_predict(self, body: bytes) -> web.Response:
        try:
            try:
                msg = json.loads(body)
            except ValueError as err:
                raise BadData(f"JSON Parse error: {err}") from None
            if not isinstance(msg, dict):
                raise BadData("JSON Value not an object")
            if "instances" in msg:
                key, items = "predictions", msg["instances"]
            elif "inputs" in msg:
                key, items = "outputs", msg["inputs"]
                if isinstance(items, dict):  # columnar, named: rows of the first input
                    items = next(iter(items.values()), [])
            else:
                raise BadData("Missing 'inputs' or 'instances' key")
            if not isinstance(items, list) or not items:
                raise BadData(f"Expecting '{'instances' if key == 'predictions' else 'inputs'}' to be a "
                              "non-empty list/array")
            rows = [_flatten(r) for r in items]
            odd = next((i for i, r in enumerate(rows) if len(r) != len(rows[0])), None)
            if odd is not None:
                raise BadData(f"Failed to process element: {odd} of 'instances' list. Error: INVALID_ARGUMENT: "
                              "Expecting tensors to have the same shape")
        except BadData as err:
            return _json({"error": str(err)}, 400)
        return _json({key: self.predict(rows)})

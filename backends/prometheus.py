"""GPU numbers from Prometheus (prometheus-api-client): the DCGM exporter's series and their history.

One instant query fetches every field of every GPU (a ``__name__`` regex); history is a range query of one
GPU's utilisation and memory fill, whichever spelling of the node label its exporter used. The client's
default retries back off for about 6 s on a 503; this one retries once, briefly: a console would rather
show "stale" than wait. Every failure becomes Unavailable with one line, never an exception of the client.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any, Callable

from prophecis_tui.domain import GpuSample, Unavailable

from .gpu_labels import FIELDS, gpu_entry, identify, target_pods

_FIELDS_RE = "|".join(FIELDS)


def _value(v: Any) -> float | None:
    try:
        f = float(v[1])
    except (TypeError, ValueError, IndexError):
        return None
    return None if math.isnan(f) else f


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"')


class PrometheusMetrics:
    name = "prometheus"

    def __init__(self, url: str, *, timeout: float = 5.0, headers: dict | None = None, verify: bool = True,
                 ca_file: str | None = None, clock: Callable[[], float] = time.time) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry
        self.url = url.rstrip("/")
        self.clock = clock
        self._timeout = timeout
        self._prom = PrometheusConnect(url=self.url, headers=headers, disable_ssl=not verify, timeout=timeout,
                                       retry=Retry(total=1, backoff_factor=0.1, status_forcelist=[502, 503, 504]))
        if ca_file and verify:
            self._prom._session.verify = ca_file

    def _query(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as err:  # requests' errors, RetryError, PrometheusApiClientException: one line each
            text = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise Unavailable(f"Prometheus {self.url}: {text}", source=self.name) from None

    def current(self) -> list[GpuSample]:
        rows = self._query(lambda: self._prom.custom_query(f'{{__name__=~"{_FIELDS_RE}"}}'))
        at = datetime.fromtimestamp(self.clock(), timezone.utc)
        gpus: dict[tuple[str, int], dict] = {}
        all_labels = [{k: str(v) for k, v in (r.get("metric") or {}).items()} for r in rows or []]
        targets = target_pods(all_labels)
        for r, labels in zip(rows or [], all_labels):
            attr = FIELDS.get(labels.get("__name__", ""))
            ident = identify(labels, labels.get("instance", "").rsplit(":", 1)[0], targets) if attr else None
            if ident is None:
                continue
            gpu_entry(gpus, ident, at=at)[attr] = _value(r.get("value"))
        return sorted((GpuSample.model_construct(**g) for g in gpus.values()), key=lambda x: (x.node, x.gpu))

    def _selector(self, name: str, key: str) -> str:
        node, _, gpu = key.rpartition("/")
        return " or ".join(f'{name}{{gpu="{_quote(gpu)}",{lab}="{_quote(node)}"}}' for lab in ("Hostname", "hostname"))

    def history(self, key: str, seconds: float) -> list[tuple[float, float | None, float | None]]:
        end = datetime.fromtimestamp(self.clock(), timezone.utc)
        start = datetime.fromtimestamp(self.clock() - seconds, timezone.utc)
        step = f"{max(1, int(seconds // 300))}s"  # at most ~300 points: a chart is narrower than that
        util = self._query(lambda: self._prom.custom_query_range(
            f"max({self._selector('DCGM_FI_DEV_GPU_UTIL', key)})", start, end, step))
        used, free = (self._selector(n, key) for n in ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"))
        mem = self._query(lambda: self._prom.custom_query_range(
            f"max(100 * ({used}) / (({used}) + ({free})))", start, end, step))
        points: dict[float, list[float | None]] = {}
        for series, i in ((util, 0), (mem, 1)):
            for r in series or []:
                for v in r.get("values") or []:
                    points.setdefault(float(v[0]), [None, None])[i] = _value(v)
        return [(t, u, m) for t, (u, m) in sorted(points.items())]

    def close(self) -> None:
        session = getattr(self._prom, "_session", None)
        if session is not None:
            session.close()

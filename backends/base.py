"""What the core expects of a Kubernetes backend. Blocking calls: the core runs them in threads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterator, Literal, Protocol, Union, runtime_checkable

from prophecis_tui.domain import (Alert, Event, GpuSample, LinkisLog, LinkisResultSet, LinkisState, LinkisSubmit,
                                  LinkisTask, ModelDeployment, Namespace, Node, Notebook, Pod, Quota, Silence,
                                  SilenceMatcher, TrainingJob)

DomainObject = Union[Namespace, Node, Pod, Notebook, TrainingJob, ModelDeployment, Quota, Event]


@dataclass(frozen=True)
class Resource:
    """One API resource the console lists and watches, and the state kind it feeds."""

    name: str  # namespaces, nodes, pods, notebooks, tfjobs, pytorchjobs, xgboostjobs, jobs, seldondeployments, resourcequotas
    kind: str  # the state kind: namespaces, nodes, pods, notebooks, trainingjobs, deployments, quotas
    namespaced: bool
    group: str = ""  # API group, for permission checks ("" for core)


@dataclass
class ListResult:
    items: list[DomainObject]
    resource_version: str


@dataclass
class WatchEvent:
    type: Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
    obj: DomainObject | None  # None for BOOKMARK
    resource_version: str


@dataclass
class Identity:
    context: str
    cluster: str  # the kubeconfig's name for the cluster
    user: str  # who the API server says we are (SelfSubjectReview), else the kubeconfig user name
    groups: list[str] = field(default_factory=list)
    namespace: str | None = None  # the context's namespace
    server: str = ""  # the API server's host:port


class WatchStream(Protocol):
    """An open watch: iterate its events; ``close()`` from another thread ends the iteration."""

    def __iter__(self) -> Iterator[WatchEvent]: ...

    def close(self) -> None: ...


class LogStream(Protocol):
    """An open container log: iterate it once for batches of whole lines (decoded UTF-8, errors replaced, without
    their newline) as they arrive; it ends when the server ends the stream, and also when the stream breaks
    mid-way (the caller resumes from its last line). ``close()`` from another thread ends the iteration soon."""

    def __iter__(self) -> Iterator[list[str]]: ...

    def close(self) -> None: ...


class LogSource(Protocol):
    """Where container logs come from: Kubernetes now; the Linkis issue adds a task-log source.

    ``open_log`` blocks until the answer's head is in (not the body) and raises prophecis_tui.domain errors:
    NotFound (pod or container gone), Invalid (``container "x" in pod "y" is waiting to start: ContainerCreating``,
    ``previous terminated container "x" in pod "y" not found``), Forbidden, Unavailable, Timeout."""

    def open_log(self, namespace: str, pod: str, container: str, *, follow: bool = True,
                 previous: bool = False, since_seconds: int | None = None, since_time: str | None = None,
                 tail_lines: int | None = None, timestamps: bool = True) -> LogStream: ...


class KubernetesBackend(Protocol):
    read_only: bool

    def identity(self) -> Identity: ...

    def contexts(self) -> list[str]: ...

    def resources(self) -> list[Resource]: ...

    def list(self, resource: str, namespace: str | None = None,
             on_page: Callable[[list[DomainObject]], None] | None = None) -> ListResult:
        """All objects (paged underneath), parsed; ``on_page`` gets each page's objects as it arrives.
        Raises prophecis_tui.domain errors."""

    def watch(self, resource: str, resource_version: str, namespace: str | None = None,
              timeout_seconds: int = 300) -> WatchStream:
        """Changes after ``resource_version``; raises Expired (410) when it is too old."""

    def can_i(self, verb: str, group: str, resource: str, namespace: str | None = None) -> bool: ...

    def close(self) -> None: ...


class MetricsBackend(Protocol):
    """Where GPU numbers come from (Prometheus, a DCGM exporter scraped directly, local NVML). Blocking calls:
    the core polls them from a worker thread. Errors are prophecis_tui.domain errors (Unavailable, ...)."""

    name: str  # "prometheus", "dcgm", "nvml"

    def current(self) -> list[GpuSample]:
        """Every GPU the source sees, now."""

    def history(self, key: str, seconds: float) -> list[tuple[float, float | None, float | None]]:
        """(unix time, utilisation %, memory %) of one GPU (``node/index``) over the last ``seconds``."""

    def close(self) -> None: ...


@runtime_checkable
class QuotaMetrics(Protocol):
    """A metrics source that also reads ResourceQuota usage: Prometheus, from kube-state-metrics'
    ``kube_resourcequota``. A Protocol of its own rather than an optional MetricsBackend method: a DCGM exporter
    or NVML knows nothing of quotas, and a stub returning {} would read as "no quotas". Ask
    ``isinstance(source, QuotaMetrics)``; the Kubernetes backend's resourcequotas list stays the authority."""

    def quotas(self) -> dict[str, Quota]:
        """Each namespace's quota (the one the Kubernetes backend lists), ``{}`` when the series are absent.
        Raises prophecis_tui.domain errors (Unavailable)."""


class AlertmanagerBackend(Protocol):
    """One Alertmanager through its v2 API (``backends.alertmanager.Alertmanager``). Blocking calls: the alerts
    poller and the action registry run them in worker threads. Errors are prophecis_tui.domain errors
    (Unavailable, Invalid with Alertmanager's own message, NotFound, ReadOnly)."""

    name: str  # how the console names it: the config's name, else its host:port

    def alerts(self) -> list[Alert]:
        """Every alert it holds (active, silenced and inhibited), as domain Alerts with ``source="alertmanager"``,
        ``key="am:<fingerprint>"``, ``origins=(name,)``, state FIRING/SILENCED/INHIBITED, labels, annotations,
        summary/description/runbook from the annotations, severity from the ``severity`` label."""

    def silences(self) -> list[Silence]:
        """Every silence it holds (active, pending and expired), ``origin=name``."""

    def create_silence(self, matchers: list[SilenceMatcher], starts: datetime, ends: datetime, created_by: str,
                       comment: str) -> str:
        """POST /api/v2/silences; the new silence's id. Refused (ReadOnly) when built read-only."""

    def expire_silence(self, silence_id: str) -> None:
        """DELETE /api/v2/silence/{id}. Refused (ReadOnly) when built read-only."""

    def close(self) -> None: ...


class LinkisBackend(Protocol):
    """One Linkis gateway (``backends.linkis.Linkis``), async over ``httpx.AsyncClient``: the CLI awaits it in
    ``asyncio.run``; the core (poller and action threads) uses it through ``backends.linkis.LinkisSync``, which
    runs these coroutines on one event-loop thread of its own and gives the same methods as blocking calls.

    Errors are prophecis_tui.domain errors, one line each, naming the gateway by host:port (never a token, a
    password or a cookie): Unavailable (cannot connect, timeout, 5xx without a Linkis envelope), Unauthorized
    (status -1 after the one re-login, or token auth failed), Forbidden (status 3; "no permission to kill"),
    Invalid (status 2; a body that is not an envelope), NotFound (no such task), LinkisError (status 1/4 and
    the rest), each with ``err_code`` when Linkis gave one; ReadOnly (submit/kill when built read-only, before
    any request)."""

    name: str  # host:port of the gateway
    user: str  # the Linkis user (login name or Token-User)
    read_only: bool

    async def login(self) -> None:
        """Password mode: POST /user/login, keep the session cookie. Token mode: nothing to do (checked lazily)."""

    async def heartbeat(self) -> None: ...

    async def submit(self, job: LinkisSubmit) -> tuple[int, str]:
        """(taskID, execID): POST /entrance/submit (or /entrance/execute when the gateway is 0.x)."""

    async def status(self, exec_id: str, task_id: int | None = None) -> LinkisState: ...

    async def progress(self, exec_id: str, task_id: int | None = None) -> tuple[float, list]:
        """(0..1, [LinkisStage]); "not produced yet" is (0.0, [])."""

    async def log(self, exec_id: str, from_line: int = 0, size: int = 100) -> LinkisLog:
        """The lines since ``from_line``; raises NotFound when the job has left the entrance (then ``task_log``)."""

    async def kill(self, exec_id: str, task_id: int | None = None) -> str:
        """GET /entrance/{execID}/kill[?taskID=]; Linkis's message."""

    async def tasks(self, *, start: datetime | None = None, end: datetime | None = None, status: str = "",
                    creator: str = "", engine: str = "", page: int = 1, page_size: int = 50) -> tuple[list[LinkisTask], int]:
        """GET /jobhistory/list: (tasks newest first, the total count)."""

    async def task(self, task_id: int) -> LinkisTask:
        """GET /jobhistory/{taskID}/get."""

    async def task_log(self, task: LinkisTask) -> LinkisLog:
        """A finished job's whole log: /filesystem/openLog?path=<logPath>."""

    async def result_paths(self, task: LinkisTask, *, wait: float = 10.0) -> list[str]:
        """The result files under resultLocation (getDirFileTrees, asked again while it is null, up to ``wait``
        seconds), in order (_0.dolphin, _1.dolphin, ...)."""

    async def result(self, path: str, *, page: int = 1, page_size: int = 5000) -> LinkisResultSet:
        """GET /filesystem/openFile (asked again a few times on "not fully written")."""

    async def aclose(self) -> None: ...

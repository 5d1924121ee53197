"""What the console shows, as small immutable models, and the typed errors of every backend.

Nothing here does I/O or imports the rest of the project. Backends build these objects from
wire data (cheaply: ``model_construct`` after their own parsing); widgets render them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ------------------------------------------------------------------------------------------ health
class Health(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"  # was live, the stream broke; data kept and shown as of `since`
    FAILING = "failing"  # never got data, or errors for a while


class SourceHealth(Model):
    source: str
    state: Health
    since: datetime | None = None
    reason: str = ""


# ------------------------------------------------------------------------------------------ objects
class NotebookState(StrEnum):
    RUNNING = "running"
    STARTING = "starting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILING = "failing"


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RESTARTING = "restarting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DeploymentState(StrEnum):
    AVAILABLE = "available"
    CREATING = "creating"
    FAILED = "failed"
    STOPPED = "stopped"  # deleted by a stop action, its spec saved by the console to start it again


class Namespace(Model):
    name: str
    uid: str
    department: str = ""
    app: str = ""
    gpu_model: str = ""
    created: datetime | None = None
    terminating: bool = False
    node_selector: dict[str, str] = {}  # the scheduler.alpha.kubernetes.io/node-selector annotation, read


class Node(Model):
    name: str
    uid: str
    ready: bool
    unschedulable: bool = False
    gpu_model: str = ""
    gpu_capacity: int = 0
    gpu_allocatable: int = 0
    department: str = ""
    app: str = ""
    created: datetime | None = None
    labels: dict[str, str] = {}  # what a namespace's node selector is matched against (hardware-type, lb-*)
    addresses: tuple[str, ...] = ()  # status.addresses (InternalIP, ExternalIP, ...): a CMDB may name a node by IP


class Pod(Model):
    uid: str
    namespace: str
    name: str
    phase: str
    status: str  # what kubectl's STATUS column would say (Running, Completed, CrashLoopBackOff, ...)
    ready: int = 0
    containers: int = 0
    restarts: int = 0
    node: str = ""
    gpus: int = 0
    owner_kind: str = ""
    owner_name: str = ""
    created: datetime | None = None
    deleting: bool = False
    labels: dict[str, str] = {}
    cpu: str = ""  # requests of all containers, as written (the first container's when one)
    memory: str = ""
    container_names: tuple[str, ...] = ()
    init_container_names: tuple[str, ...] = ()
    started: datetime | None = None
    waiting: str = ""  # reason a container waits (ImagePullBackOff, CrashLoopBackOff, ...) with its message
    last_exit: str = ""  # how the last container exit went: "OOMKilled, exit 137", "Error, exit 1"
    exit_code: int | None = None
    unschedulable: str = ""  # the PodScheduled=False message while Pending
    replica_type: str = ""  # training-operator replica type (worker, ps, chief, master) or Seldon predictor
    replica_index: str = ""
    job_name: str = ""  # the training job (or batch Job) the pod belongs to

    @property
    def replica(self) -> str:
        """worker-3, ps-0, master-0: how a person calls this replica."""
        return f"{self.replica_type}-{self.replica_index}" if self.replica_type else self.name

    @property
    def holds_gpus(self) -> bool:
        """Scheduled and not finished: its GPUs are allocated on a node."""
        return bool(self.node) and self.phase not in ("Succeeded", "Failed") and self.gpus > 0


class Notebook(Model):
    uid: str
    namespace: str
    name: str
    state: NotebookState
    reason: str = ""
    user: str = ""
    image: str = ""
    gpus: int = 0
    cpu: str = ""
    memory: str = ""
    created: datetime | None = None
    api_version: str = ""
    url: str = ""  # path of the Jupyter UI behind the platform's gateway (NB_PREFIX), e.g. /notebook/ns/name
    workspace: str = ""  # host path mounted as the workspace
    mounts: tuple[str, ...] = ()  # "hostPath -> mountPath" of the data mounts
    labels: dict[str, str] = {}


class TrainingJob(Model):
    uid: str
    namespace: str
    name: str
    kind: str  # TFJob | PyTorchJob | XGBoostJob | Job
    state: JobState
    reason: str = ""
    user: str = ""
    replicas: int = 0
    gpus: int = 0
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    replica_specs: dict[str, int] = {}  # replica type (Chief, Master, Worker, PS, ...) -> desired count
    replica_status: dict[str, dict[str, int]] = {}  # replica type -> {active, succeeded, failed}
    image: str = ""
    labels: dict[str, str] = {}

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (None while it never started; open-ended jobs are measured by the caller)."""
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


class Predictor(Model):
    name: str
    replicas: int = 1  # the effective count: the component's, else the predictor's, else the spec's, else 1
    ready: int | None = None  # available replicas of its Deployment (None: the status does not say)
    pinned: bool = False  # its count is its own: the scale subresource (spec.replicas) does not move it
    traffic: int = 0
    implementation: str = ""
    model_uri: str = ""
    service: str = ""  # the Service the predictor answers on


class ModelDeployment(Model):
    uid: str
    namespace: str
    name: str
    state: DeploymentState
    reason: str = ""
    user: str = ""
    replicas: int = 0  # all predictors together
    ready: int = 0
    scale_replicas: int = 0  # what the scale subresource reads and sets: spec.replicas, else the first predictor's
    gpus: int = 0
    created: datetime | None = None
    predictors: tuple[Predictor, ...] = ()
    endpoint: str = ""  # status.address.url
    protocol: str = "seldon"
    labels: dict[str, str] = {}


class Event(Model):
    """A core/v1 Event, as `kubectl get events` shows it."""

    uid: str
    namespace: str
    name: str
    type: str = "Normal"  # Normal | Warning
    reason: str = ""
    message: str = ""
    object_kind: str = ""
    object_name: str = ""
    object_uid: str = ""
    count: int = 1
    first: datetime | None = None
    last: datetime | None = None
    source: str = ""


class Quota(Model):
    """A namespace's `mlss-default-rq`. A hard value of None means the quota sets no limit.

    ``gpu_hard``/``gpu_used`` speak of the first GPU key the quota limits (``requests.``, else
    ``limits.``); ``gpu_base`` and ``gpu_limit`` are the hard ``requests.nvidia.com/gpu`` and
    ``limits.nvidia.com/gpu`` themselves (the latter is accepted by the apiserver but never counted).
    """

    uid: str
    namespace: str
    name: str = ""
    gpu_hard: float | None = None
    gpu_used: float = 0.0
    gpu_base: float | None = None
    gpu_limit: float | None = None
    cpu_hard: float | None = None
    cpu_used: float = 0.0
    memory_hard: float | None = None
    memory_used: float = 0.0
    annotations: dict[str, str] = {}  # kubectl's last-applied-configuration left out


class GpuSample(Model):
    """One GPU as a metrics source saw it at ``at``: what it does and which pod holds it (if any)."""

    node: str
    gpu: int  # the index on its node
    uuid: str = ""
    model: str = ""
    util: float | None = None  # %, 0-100
    fb_used_mib: float | None = None
    fb_free_mib: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    namespace: str = ""  # the pod holding it, when the source knows
    pod: str = ""
    container: str = ""
    pod_uid: str = ""  # NVML knows only this (from /proc/<pid>/cgroup); the state names the pod
    at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.node}/{self.gpu}"

    @property
    def mem_pct(self) -> float | None:
        if self.fb_used_mib is None or self.fb_free_mib is None or self.fb_used_mib + self.fb_free_mib <= 0:
            return None
        return 100.0 * self.fb_used_mib / (self.fb_used_mib + self.fb_free_mib)


_GPU_DEFAULTS = {name: f.default for name, f in GpuSample.model_fields.items()}  # in the model's order
_GPU_FIELDS = set(_GPU_DEFAULTS)  # shared: pydantic copies it before changing it (model_copy)


def gpu_fields(**values: object) -> dict:
    """Every GpuSample field, in the model's order, defaults replaced by ``values``: a dict for
    ``gpu_sample(..., complete=True)``."""
    out = dict(_GPU_DEFAULTS)
    out.update(values)
    return out


def gpu_sample(fields: dict, complete: bool = False) -> GpuSample:
    """A GpuSample from a dict of its fields, without validation: what ``model_construct`` gives, three to five
    times faster (a source builds 2,000 of them a second). Values must have the types the model declares;
    missing fields take their defaults (``node`` and ``gpu`` have none: they must be there).
    ``complete``: ``fields`` came from ``gpu_fields()`` (all of them, in order) and becomes the object's own."""
    obj = GpuSample.__new__(GpuSample)
    object.__setattr__(obj, "__dict__", fields if complete else {k: fields.get(k, d) for k, d in _GPU_DEFAULTS.items()})
    object.__setattr__(obj, "__pydantic_fields_set__", _GPU_FIELDS)
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


class BusinessSystem(Model):
    """A CMDB business system: who it is, who answers for it, and what belongs to it.

    The ownership lists are what matching reads (``prophecis_tui.cmdb``): ``namespaces`` are
    names or shell-style patterns (``ns-risk-*``); ``segments`` are the parts of a Prophecis
    namespace ``ns-<dept>-<app>`` (``risk`` matches every ``ns-risk-...``, ``risk-scorecard``
    exactly that one); ``labels`` are ``key=value`` pairs on the object; ``deployments`` are
    deployment (SeldonDeployment) names or patterns; ``nodes`` are node hostnames or IPs."""

    id: str
    name: str
    tier: int | None = None  # 1 is the most critical
    department: str = ""
    owner: str = ""
    oncall: str = ""
    namespaces: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    source: str = ""  # where the record came from: "import:<file>" or "rest:<url host>"


# ------------------------------------------------------------------------------------------ alerts
class AlertState(StrEnum):
    """Where an alert stands, as the alerts screen shows it (``RANK`` orders them: the most pressing first)."""

    FIRING = "firing"
    ACKED = "acked"  # firing, and someone here acknowledged it with a note (local: the timeline store)
    SILENCED = "silenced"  # an Alertmanager silence mutes it
    INHIBITED = "inhibited"  # an Alertmanager inhibition rule mutes it
    RESOLVED = "resolved"  # stopped firing (kept on screen for a while, and in the timeline)


ALERT_STATE_RANK = {AlertState.FIRING: 0, AlertState.ACKED: 1, AlertState.SILENCED: 2, AlertState.INHIBITED: 3,
                    AlertState.RESOLVED: 4}
SEVERITIES = ("critical", "warning", "info")  # most severe first; anything else reads as "info"


def severity_of(value: str) -> str:
    """An alert's ``severity`` label as one of SEVERITIES (``error``/``page`` -> critical, ``warn`` -> warning)."""
    v = (value or "").strip().lower()
    if v in ("critical", "crit", "error", "page", "p1", "high", "disaster", "fatal"):
        return "critical"
    if v in ("warning", "warn", "p2", "medium", "major", "minor"):
        return "warning"
    return "info"


class SystemTag(Model):
    """A business system an alert (or object) belongs to, and the CMDB rule that said so."""

    id: str
    name: str
    tier: int | None = None
    kind: str = ""  # the rule kind (prophecis_tui.cmdb.RULE_KINDS): namespace, segment, label, deployment, node, ...
    rule: str = ""  # the rule as written, e.g. "ns-risk-*" or "app=fraud-scoring"
    owner: str = ""
    oncall: str = ""


class Alert(Model):
    """One alert as the console shows it, from any source, merged and deduplicated by ``key``.

    Sources build it with ``systems``/``ack_*`` empty; the alerts engine (``prophecis_tui.alerts``) fills the
    target fields it can read from the labels, tags it with business systems, and applies local acks."""

    key: str  # identity across polls and sources: "am:<fingerprint>", "ev:<ns>/<kind>/<name>/<reason>",
    #           "rule:<rule>/<ns>/<target>"; two Alertmanagers reporting the same alert give the same key
    source: str  # "alertmanager" | "events" | "platform"
    name: str  # alertname, the event's reason, or the platform rule's name
    severity: str = "warning"  # one of SEVERITIES
    state: AlertState = AlertState.FIRING
    summary: str = ""
    description: str = ""
    runbook: str = ""  # runbook URL
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    namespace: str = ""
    target_kind: str = ""  # Pod, Notebook, TFJob, PyTorchJob, XGBoostJob, Job, SeldonDeployment, Node, Namespace
    target_name: str = ""
    node: str = ""  # the node it is about or runs on, when known
    starts: datetime | None = None
    ends: datetime | None = None  # Alertmanager's endsAt (in the future while firing); when it resolved
    updated: datetime | None = None
    fingerprint: str = ""  # Alertmanager's
    generator_url: str = ""
    origins: tuple[str, ...] = ()  # the Alertmanagers (their names) that reported it
    silenced_by: tuple[str, ...] = ()  # silence ids
    inhibited_by: tuple[str, ...] = ()  # fingerprints
    receivers: tuple[str, ...] = ()
    count: int = 1  # Warning events: how many, aggregated per object and reason
    systems: tuple[SystemTag, ...] = ()  # () is "untagged": shown as such, never dropped
    ack_by: str = ""
    ack_note: str = ""
    ack_at: datetime | None = None
    related: tuple[str, ...] = ()  # other sources' alerts on the same condition of the same target, folded into this
    #                                one (prophecis_tui.alerts.correlate): "events: BackOff ×21", "platform: ..."

    @property
    def target(self) -> str:
        """What it is about, as one short text: "Pod ns/name", "Node gpu-07", "Namespace ns"."""
        if self.target_kind in ("Node",) or (self.target_kind and not self.namespace):
            return f"{self.target_kind} {self.target_name}".strip()
        if self.target_kind == "Namespace":
            return f"Namespace {self.namespace}"
        if self.target_kind:
            return f"{self.target_kind} {self.namespace}/{self.target_name}"
        return self.namespace or self.node


class SilenceMatcher(Model):
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def __str__(self) -> str:
        op = ("=~" if self.is_regex else "=") if self.is_equal else ("!~" if self.is_regex else "!=")
        return f'{self.name}{op}"{self.value}"'


class Silence(Model):
    id: str
    matchers: tuple[SilenceMatcher, ...]
    starts: datetime | None = None
    ends: datetime | None = None
    created_by: str = ""
    comment: str = ""
    state: str = "active"  # active | pending | expired
    updated: datetime | None = None
    origin: str = ""  # the Alertmanager (its name) that holds it


# ------------------------------------------------------------------------------------------ Linkis
class LinkisState(StrEnum):
    """A Linkis job's state, exactly as Linkis spells it (SchedulerEventState / TaskStatus); UNKNOWN for any other
    word (an old doc's "FAILED" is not one of them)."""

    INITED = "Inited"
    WAIT_FOR_RETRY = "WaitForRetry"
    SCHEDULED = "Scheduled"
    RUNNING = "Running"
    SUCCEED = "Succeed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    TIMEOUT = "Timeout"
    UNKNOWN = "Unknown"

    @property
    def done(self) -> bool:
        return self in (LinkisState.SUCCEED, LinkisState.FAILED, LinkisState.CANCELLED, LinkisState.TIMEOUT)


class LinkisStage(Model):
    """One entry of a progress answer's ``progressInfo``: a Spark job's (or Hive stage's) task counts."""

    id: str
    succeed: int = 0
    failed: int = 0
    running: int = 0
    total: int = 0


class LinkisTask(Model):
    """One Linkis job (a job-history row, brought up to date by the entrance while it runs)."""

    task_id: int  # the job-history id (a number on the wire)
    exec_id: str = ""  # the entrance's id: per-job entrance paths need it (URL-encoded); "" once unknown
    user: str = ""  # executeUser (else umUser)
    submit_user: str = ""  # umUser / submitUser
    engine: str = ""  # engineType with its version when known: "spark-2.4.3" (history may say only "spark")
    creator: str = ""  # requestApplicationName: IDE, a notebook's LinkisMagic creator, nodeexecution, ...
    run_type: str = ""  # sql, hql, py, python, scala, shell, ...
    code: str = ""  # executionCode (untrusted text: sanitise before showing)
    state: LinkisState = LinkisState.UNKNOWN
    progress: float = 0.0  # 0..1
    created: datetime | None = None  # createdTime (epoch ms on the wire)
    updated: datetime | None = None  # updatedTime: the end for a finished job
    cost_ms: int | None = None  # costTime
    err_code: int | None = None
    err_desc: str = ""
    log_path: str = ""
    result_location: str = ""
    variables: dict[str, str] = {}  # params.variable
    startup: dict[str, str] = {}  # params.configuration.startup (spark.executor.instances, wds.linkis.rm.yarnqueue)
    stages: tuple[LinkisStage, ...] = ()  # the last progress answer's progressInfo
    gateway: str = ""  # the gateway's name (host:port) it came from

    @property
    def done(self) -> bool:
        return self.state.done

    @property
    def queue(self) -> str:
        return self.startup.get("wds.linkis.rm.yarnqueue", "")

    def duration(self, now: datetime) -> float | None:
        """Seconds it ran (to ``updated`` once done, to ``now`` while running); None without a creation time."""
        if self.created is None:
            return None
        end = self.updated if self.done and self.updated is not None else now
        return max(0.0, (end - self.created).total_seconds())


class LinkisSubmit(Model):
    """What ``submit`` sends: ``engine`` is ``<engine>-<version>`` (spark-2.4.3, hive-2.3.3, python-python2,
    shell-1); ``creator`` the application part of userCreator (``<user>-<creator>``)."""

    code: str
    run_type: str  # sql, hql, py, python, scala, shell
    engine: str
    creator: str = "IDE"
    variables: dict[str, str] = {}
    startup: dict[str, str] = {}  # queue included as wds.linkis.rm.yarnqueue
    script_path: str = ""  # source.scriptPath, optional


class LinkisLog(Model):
    """An incremental log read: the lines since the asked ``fromLine`` by level, and where to ask from next."""

    error: tuple[str, ...] = ()
    warn: tuple[str, ...] = ()
    info: tuple[str, ...] = ()
    all: tuple[str, ...] = ()  # every line, in order (what the log view shows; levels from the three above)
    from_line: int = 0  # the next call's fromLine


class LinkisColumn(Model):
    name: str
    type: str = ""  # Linkis's dataType: string, int, long, double, decimal, date, timestamp, boolean, ...
    comment: str = ""


class LinkisResultSet(Model):
    """One result file (``_0.dolphin``) or one page of it. ``type``: 1 TEXT, 2 TABLE (others shown as text)."""

    path: str
    type: int = 2
    columns: tuple[LinkisColumn, ...] = ()  # TABLE only
    rows: tuple[tuple[str | None, ...], ...] = ()  # TABLE only: the cells as Linkis sends them (strings, None)
    text: str = ""  # TEXT (and anything not a table): the lines joined by newlines
    total_lines: int = 0
    page: int = 1
    total_pages: int = 1


class GpuGroup(Model):
    """The GPUs of a group defined elsewhere (a business system), as a metrics query selects them: every GPU
    held in ``namespaces``, those held by ``pods`` ((namespace, pod) pairs), and every GPU on ``nodes``."""

    namespaces: tuple[str, ...] = ()
    pods: tuple[tuple[str, str], ...] = ()
    nodes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.namespaces or self.pods or self.nodes)


class NamespaceSummary(Model):
    """One row of the overview."""

    namespace: str
    notebooks: dict[NotebookState, int]
    jobs: dict[JobState, int]
    deployments: dict[DeploymentState, int]
    gpu_used: int = 0  # GPUs held by the namespace's scheduled, unfinished pods
    gpu_quota: float | None = None
    pending_pods: int = 0

    @property
    def trouble(self) -> int:
        """How much is wrong here: the overview puts the highest first."""
        t = 3 * self.notebooks.get(NotebookState.FAILING, 0) + 3 * self.jobs.get(JobState.FAILED, 0)
        t += 4 * self.deployments.get(DeploymentState.FAILED, 0) + 2 * self.jobs.get(JobState.RESTARTING, 0)
        t += self.pending_pods
        if self.gpu_quota and self.gpu_used >= self.gpu_quota:
            t += 1
        return t


# ------------------------------------------------------------------------------------------ errors
class BackendError(Exception):
    """A backend could not do what was asked. ``str()`` is one line for the user; no secrets."""

    kind = "error"
    err_code: int | None = None  # a Linkis errCode, when Linkis gave one (set by the Linkis adapter)

    def __init__(self, message: str, *, source: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.status = status


class Unavailable(BackendError):
    kind = "unavailable"


class Unauthorized(BackendError):
    kind = "unauthorized"


class Forbidden(BackendError):
    kind = "forbidden"


class NotFound(BackendError):
    kind = "not found"


class Conflict(BackendError):
    kind = "conflict"


class Invalid(BackendError):
    kind = "invalid"


class Timeout(BackendError):
    kind = "timeout"


class Expired(BackendError):
    """A watch or list continuation is too old: relist."""

    kind = "expired"


class ReadOnly(BackendError):
    kind = "read-only"


class LinkisError(BackendError):
    """Linkis said no: an envelope with status 1/2/3/4 (or a 4xx body) that is not one of the general cases above.
    ``err_code`` is Linkis's errCode (``data.errorMsg.errCode``, else the ``error code(错误码): N`` of the message),
    ``linkis_status`` the envelope's status. (Not logged in (-1) is Unauthorized, auth failed (3) Forbidden, a
    validation failure (2) Invalid; they carry ``err_code`` too, set as an attribute.)"""

    kind = "linkis"

    def __init__(self, message: str, *, source: str = "", status: int | None = None, err_code: int | None = None,
                 linkis_status: int | None = None) -> None:
        super().__init__(message, source=source, status=status)
        self.err_code = err_code
        self.linkis_status = linkis_status

"""Lazy, deterministic container logs for the simulated Prophecis cluster.

Nothing here is stored.  A container's log is a pure function of the
:class:`ContainerLog` parameters: line ``i`` gets its timestamp and its text
from a 64-bit splitmix mixer fed with ``(seed, i)``, so the same parameters
give the same bytes in every process (Python's salted ``hash()`` is never
used) and any line can be produced in O(1) without producing the ones before.

A log is made of three parts:

* a *header*: the start-up lines of the profile (environment, world size,
  rank, dataset, model, server banners), written in a quick burst;
* a *body*: an endless stream of lines spaced about ``1 / rate`` seconds
  apart (training steps, evaluation, checkpoints, access logs ...);
* a *closing* section, only once the container has ended: final metrics
  and a shutdown for a clean exit, or the failure's last words (NCCL
  watchdog, CUDA OOM, traceback, ``ModuleNotFoundError``).  An
  ``OOMKilled`` container just stops, perhaps in the middle of a line.

Header and body line ``i`` is stamped ``started_at + (i + f_i) * step`` with
``f_i`` in ``[0, 1)`` drawn from the mixer, so timestamps are monotonic
and :meth:`ContainerLog.index_at` is plain arithmetic plus a short walk.

The module uses the standard library only, keeps no global mutable state
and never reads the clock: time is always passed in.
"""

from __future__ import annotations

import bisect
import json
import math
import operator
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final, NamedTuple, TypeVar

__all__ = [
    "FAILURES",
    "PROFILES",
    "ContainerLog",
    "failure_signature",
    "format_timestamp",
    "format_timestamps",
]

#: The log profiles a container can have.
PROFILES: Final[frozenset[str]] = frozenset(
    {"jupyter", "tensorflow", "pytorch", "xgboost", "single", "seldon", "platform"}
)
#: The failure kinds a terminated container can have (``None`` is a clean exit).
FAILURES: Final[frozenset[str]] = frozenset(
    {"OOMKilled", "NCCLTimeout", "CudaOOM", "Error", "ImportError"}
)

# --------------------------------------------------------------------------
# Deterministic mixing
# --------------------------------------------------------------------------

_M64: Final = 0xFFFFFFFFFFFFFFFF
_GOLDEN: Final = 0x9E3779B97F4A7C15
_INV53: Final = 1.0 / (1 << 53)
_INV20: Final = 1.0 / (1 << 20)

# Salts separating the independent streams derived from one seed.
_S_TIME: Final = 0x7A3C_51D2_E8F0_4B69
_S_LINE: Final = 0x2B8E_D40F_13A7_C655
_S_PARAM: Final = 0x4F1D_9C63_A05B_E271
_S_CLOSE: Final = 0x61E5_3A9B_D7C2_08F4
_S_KERNEL: Final = 0x1C47_B2E9_5F80_D36A


def _mix(x: int) -> int:
    """Return the splitmix64 finaliser of ``x`` (a bijection on 64-bit ints)."""
    x = (x + _GOLDEN) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _u(h: int, shift: int) -> float:
    """Return a uniform float in ``[0, 1)`` from 20 bits of ``h`` at ``shift``."""
    return ((h >> shift) & 0xFFFFF) * _INV20


_T = TypeVar("_T")


class _Rng:
    """A tiny sequential generator for per-instance choices (local state only)."""

    __slots__ = ("_base", "_n")

    def __init__(self, seed: int) -> None:
        self._base = _mix(seed & _M64)
        self._n = 0

    def bits(self) -> int:
        """Return the next 64 random bits."""
        self._n += 1
        return _mix((self._base + self._n * _GOLDEN) & _M64)

    def random(self) -> float:
        """Return a float in ``[0, 1)``."""
        return (self.bits() >> 11) * _INV53

    def uniform(self, lo: float, hi: float) -> float:
        """Return a float in ``[lo, hi)``."""
        return lo + (hi - lo) * self.random()

    def randint(self, lo: int, hi: int) -> int:
        """Return an int in ``[lo, hi]``."""
        return lo + self.bits() % (hi - lo + 1)

    def choice(self, seq: Sequence[_T]) -> _T:
        """Return one element of ``seq``."""
        return seq[self.bits() % len(seq)]

    def hex(self, n: int) -> str:
        """Return ``n`` lowercase hex digits."""
        return f"{self.bits():016x}"[:n]

    def alnum(self, n: int) -> str:
        """Return ``n`` characters of a Kubernetes-style random suffix."""
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        v = self.bits()
        out = []
        for _ in range(n):
            v, r = divmod(v, len(alphabet))
            out.append(alphabet[r])
        return "".join(out)


def _uuid(h1: int, h2: int) -> str:
    """Format 128 mixed bits as a version-4 UUID string."""
    return (
        f"{h1 >> 32:08x}-{(h1 >> 16) & 0xFFFF:04x}-4{h1 & 0xFFF:03x}-"
        f"{0x8000 | ((h2 >> 48) & 0x3FFF):04x}-{h2 & 0xFFFFFFFFFFFF:012x}"
    )


# --------------------------------------------------------------------------
# Time formatting (UTC, from a float epoch; never reads the clock)
# --------------------------------------------------------------------------

_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _sec_ns(ts: float) -> tuple[int, int]:
    """Split epoch seconds into whole seconds and nanoseconds (rounded)."""
    sec = math.floor(ts)
    ns = int((ts - sec) * 1e9 + 0.5)
    if ns >= 1_000_000_000:
        return sec + 1, ns - 1_000_000_000
    return sec, ns


def _split(ts: float) -> tuple[time.struct_time, int]:
    """Split epoch seconds into a UTC ``struct_time`` and nanoseconds."""
    sec, ns = _sec_ns(ts)
    return time.gmtime(sec), ns


# strftime with numeric fields only (locale independent); gmtime is a pure
# conversion, not a clock read.
_strftime: Final = time.strftime
_gmtime: Final = time.gmtime


def format_timestamp(ts: float) -> str:
    """Return ``ts`` as RFC 3339 UTC with nine fraction digits.

    This is the prefix kubelet writes with ``timestamps=true``, e.g.
    ``'2026-11-29T10:00:00.123456789Z'``.
    """
    sec, ns = _sec_ns(ts)
    return f"{_strftime('%Y-%m-%dT%H:%M:%S', _gmtime(sec))}.{ns:09d}Z"


def format_timestamps(stamps: Sequence[float]) -> list[str]:
    """:func:`format_timestamp` of many times (a log's lines, in order): the date and time of day are
    formatted once per second, which is most of the cost at tens of thousands of lines a second."""
    out: list[str] = []
    last_sec = None
    head = ""
    for ts in stamps:
        sec, ns = _sec_ns(ts)
        if sec != last_sec:
            head = _strftime('%Y-%m-%dT%H:%M:%S', _gmtime(sec))
            last_sec = sec
        out.append(f"{head}.{ns:09d}Z")
    return out


def _hms(tm: time.struct_time) -> str:
    return f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"


def _ymd(tm: time.struct_time) -> str:
    return f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}"


def _py_ts(ts: float) -> str:
    """Python ``logging`` asctime: ``2026-11-29 10:00:00,123``."""
    sec, ns = _sec_ns(ts)
    return f"{_strftime('%Y-%m-%d %H:%M:%S', _gmtime(sec))},{ns // 1_000_000:03d}"


def _jup_ts(ts: float) -> str:
    """Jupyter server time: ``2026-11-29 10:00:00.123``."""
    sec, ns = _sec_ns(ts)
    return f"{_strftime('%Y-%m-%d %H:%M:%S', _gmtime(sec))}.{ns // 1_000_000:03d}"


def _tf_ts(ts: float) -> str:
    """TensorFlow C++ log time: ``2026-11-29 10:00:00.123456``."""
    sec, ns = _sec_ns(ts)
    return f"{_strftime('%Y-%m-%d %H:%M:%S', _gmtime(sec))}.{ns // 1000:06d}"


def _klog_ts(level: str, ts: float) -> str:
    """klog/glog header up to the thread id: ``I1129 10:00:00.123456       1``."""
    sec, ns = _sec_ns(ts)
    return f"{level}{_strftime('%m%d %H:%M:%S', _gmtime(sec))}.{ns // 1000:06d}       1"


def _clf_ts(ts: float) -> str:
    """Common-log-format time: ``29/Nov/2026:10:00:00 +0000``."""
    tm = _gmtime(math.floor(ts))
    return f"{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year:04d}:{_strftime('%H:%M:%S', tm)} +0000"


def _mmss(seconds: float) -> str:
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60:02d}:{s % 60:02d}"


def _eta(seconds: float) -> str:
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _tqdm_bar(frac: float, width: int = 10) -> str:
    """A tqdm-style unicode bar of ``width`` cells."""
    frac = min(max(frac, 0.0), 1.0)
    cells = frac * width
    full = int(cells)
    bar = "\u2588" * full
    if full < width:
        bar += " \u258f\u258e\u258d\u258c\u258b\u258a\u2589"[int((cells - full) * 8)]
    return bar.ljust(width)


def _keras_bar(cur: int, tot: int, width: int = 30) -> str:
    """A Keras ``Progbar`` bar of ``width`` cells."""
    filled = int(width * cur / tot) if tot else width
    if filled <= 0:
        return "." * width
    head = "=" if cur >= tot else ">"
    return ("=" * (filled - 1) + head).ljust(width, ".")


# --------------------------------------------------------------------------
# Templates: header and closing lines, rendered with their own timestamp
# --------------------------------------------------------------------------

# (style, level, message).  Styles: 'raw' (message as is), 'py' (logging
# asctime + level), 'pyd' (asctime + ' - '), 'tf' (TensorFlow C++),
# 'jup' (Jupyter server), 'klog' (Go klog), 'c10' (PyTorch c10 logging,
# level letter + klog-like time with nanoseconds), 'guni' (gunicorn),
# 'xgb' (XGBoost's '[hh:mm:ss]').
_Tpl = tuple[str, str, str]


def _render(tpl: _Tpl, ts: float, rank: int) -> str:
    """Render a template with the line's own timestamp."""
    style, level, msg = tpl
    if style == "raw":
        return msg
    if style == "py":
        return f"{_py_ts(ts)} {level} {msg}"
    if style == "pyd":
        return f"{_py_ts(ts)} - {msg}"
    if style == "tf":
        return f"{_tf_ts(ts)}: {level} {msg}"
    if style == "jup":
        return f"[{level} {_jup_ts(ts)} ServerApp] {msg}"
    if style == "klog":
        return f"{_klog_ts(level, ts)} {msg}"
    if style == "c10":
        tm, ns = _split(ts)
        return f"[rank{rank}]:[{level}{tm.tm_mon:02d}{tm.tm_mday:02d} {_hms(tm)}.{ns:09d} {msg}"
    if style == "guni":
        tm, _ = _split(ts)
        return f"[{_ymd(tm)} {_hms(tm)} +0000] {msg}"
    if style == "xgb":
        tm, _ = _split(ts)
        return f"[{_hms(tm)}] {msg}"
    raise ValueError(f"unknown template style {style!r}")


def _raw(msg: str) -> _Tpl:
    return ("raw", "", msg)


def _traceback(frames: Sequence[tuple[str, int, str, str]], *tail: str) -> list[_Tpl]:
    """A Python traceback: ``frames`` are (file, line, function, source)."""
    out = [_raw("Traceback (most recent call last):")]
    for path, lineno, func, src in frames:
        out.append(_raw(f'  File "{path}", line {lineno}, in {func}'))
        out.append(_raw(f"    {src}"))
    out.extend(_raw(t) for t in tail)
    return out


# --------------------------------------------------------------------------
# Per-instance parameters
# --------------------------------------------------------------------------

_USERS: Final = ("hduser01", "hduser02", "wangwei", "lixiaoming", "zhangmin",
                 "liuyang", "chenjing", "zhaolei", "sunhao", "hduser07")
_ENVS: Final = ("dev", "sit", "uat", "prod")
# (model name, business domain, data set)
_MODELS: Final = (
    ("credit-scoring", "credit", "credit_application_features"),
    ("anti-fraud", "antifraud", "card_txn_features"),
    ("loan-default", "risk", "loan_repayment_history"),
    ("churn-prediction", "marketing", "customer_360_snapshot"),
    ("marketing-response", "marketing", "campaign_response"),
    ("aml-screening", "aml", "aml_txn_graph_edges"),
    ("card-limit", "risk", "card_usage_monthly"),
    ("collection-priority", "risk", "overdue_accounts"),
)
_GPUS: Final = ("NVIDIA A800-SXM4-80GB", "NVIDIA A100-SXM4-80GB", "NVIDIA H800")
_COMPONENTS: Final = ("mlss-di", "mlss-aide", "mlss-gateway", "mlss-mf",
                      "notebook-controller", "mlss-cc")
_NOTEBOOKS: Final = ("eda", "feature_engineering", "woe_binning", "model_eval",
                     "train_xgb", "psi_monitor", "sample_analysis")


class _Names(NamedTuple):
    """Names and identities a container's log mentions."""

    user: str
    namespace: str
    model: str
    domain: str
    dataset: str
    job: str
    pod: str
    notebook: str
    replica_type: str
    replica_index: int
    world_size: int
    rank: int
    model_dir: str
    ip: str
    master: str
    gpu: str
    pid: int
    component: str
    client_ips: tuple[str, ...]


class _Train(NamedTuple):
    """Shape of a simulated training run."""

    lines_per_epoch: int   # step lines per epoch
    log_every: int         # optimizer steps per step line
    batch_size: int
    epochs: int
    loss0: float
    loss_inf: float
    auc0: float
    auc_inf: float
    acc0: float
    acc_inf: float
    tau: float             # body lines for the curves to decay by 1/e
    lr0: float
    gamma: float
    throughput: float      # samples/s for this process
    n_features: int
    n_train: int
    n_params: int


def _ctx_int(ctx: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(ctx.get(key, default))
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------
# The log
# --------------------------------------------------------------------------

_CLOSE_STEP: Final = 0.001   # seconds between closing lines (back from ended_at)
_BURST: Final = 0.25         # at most this many seconds between header lines
_IMPORT_ERROR_BODY: Final = 2


@dataclass(frozen=True)
class ContainerLog:
    """The log of one container instance, computed lazily line by line.

    ``profile`` chooses the kind of program ('jupyter', 'tensorflow',
    'pytorch', 'xgboost', 'single', 'seldon', 'platform'); ``seed`` is per
    container instance (a restart gets a new seed); ``started_at`` and
    ``ended_at`` are epoch seconds (``ended_at`` None: still running);
    ``rate`` is the average number of lines per second; ``failure`` is
    None (clean exit, or still running) or one of :data:`FAILURES`;
    ``context`` may name the pod, namespace, user, job, replica_type,
    replica_index, world_size, model, notebook (and optionally rank,
    component); missing names are made up from the seed.
    ``rate_changes`` switches the body's rate while the container runs:
    ``(at, rate)`` pairs in time order; every line stamped at or before
    ``at`` keeps its timestamp and text, and the body goes on at the new
    rate from the first line slot after ``at`` (how a test bench makes a
    running pod chatty without rewriting the log it has already written).

    Lines are numbered from 0.  While running, the log is an endless
    stream of which :meth:`count_at` lines have been written by a given
    time.  Once ended it has exactly ``count_at(ended_at)`` lines.  An
    'ImportError' container never writes more than two body lines.
    """

    profile: str
    seed: int
    started_at: float
    rate: float = 1.0
    ended_at: float | None = None
    failure: str | None = None
    context: Mapping[str, str] = field(default_factory=dict, hash=False)
    rate_changes: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        """Validate the parameters."""
        last = -math.inf
        for at, rate in self.rate_changes:
            if not (math.isfinite(at) and math.isfinite(rate) and rate > 0):
                raise ValueError(f"a rate change must be a finite time and a positive rate, not {(at, rate)!r}")
            if at < last:
                raise ValueError("rate changes must be in time order")
            last = at
        if self.profile not in PROFILES:
            raise ValueError(f"unknown log profile {self.profile!r}")
        if self.failure is not None and self.failure not in FAILURES:
            raise ValueError(f"unknown failure {self.failure!r}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be a positive finite number, not {self.rate!r}")
        if not math.isfinite(self.started_at):
            raise ValueError("started_at must be finite")
        if self.ended_at is not None and not (
            math.isfinite(self.ended_at) and self.ended_at >= self.started_at
        ):
            raise ValueError("ended_at must be finite and not before started_at")

    # ------------------------------------------------------------------ API

    def count_at(self, now: float) -> int:
        """Return how many lines have been written by time ``now``.

        Header and body lines stamped at or before ``min(now, ended_at)``;
        once ``now >= ended_at``, the closing lines as well.  Monotonic in
        ``now``; 0 before ``started_at``.
        """
        if now < self.started_at:
            return 0
        bound = self._bound
        if self.ended_at is not None and now >= self.ended_at:
            assert bound is not None
            return bound + len(self._closing)
        n = self._search(now, strict=True)
        return n if bound is None else min(n, bound)

    def line(self, i: int) -> tuple[float, str]:
        """Return ``(timestamp, text)`` of line ``i`` (0-based).

        The text has no trailing newline and never contains ``'\\n'`` (it
        may contain ANSI escapes, ``'\\r'`` and tabs, as real tools do).
        Raises IndexError for a negative ``i`` or past the end of an ended
        log.  For a running log, lines past ``count_at(now)`` are the ones
        the container will write later.
        """
        i = operator.index(i)
        if i < 0:
            raise IndexError(f"line index {i} is negative")
        bound = self._bound
        if bound is not None and i >= bound:
            j = i - bound
            closing = self._closing
            if j >= len(closing):
                raise IndexError(f"line {i} is past the end of the log ({bound + len(closing)} lines)")
            ts = self._closing_ts(j)
            return ts, _render(closing[j], ts, self._names.rank)
        ts = self._open_ts(i)
        return ts, self._open_text(i, ts)

    def lines(self, start: int, stop: int) -> list[tuple[float, str]]:
        """Return lines ``start`` to ``stop - 1``, clipped to what exists.

        No negative indexing: ``start`` below 0 counts as 0, and for an
        ended log ``stop`` is clipped to its length.  A running log is
        endless, so clip ``stop`` to :meth:`count_at` yourself.
        """
        start = max(0, operator.index(start))
        stop = operator.index(stop)
        total = self._total
        if total is not None:
            stop = min(stop, total)
        if stop <= start:
            return []
        bound = self._bound
        open_stop = stop if bound is None else min(stop, bound)
        out: list[tuple[float, str]] = []
        if start < open_stop:
            hlen = len(self._header)
            rank = self._names.rank
            header = self._header
            body = self._body_fn
            open_ts = self._open_ts
            for i in range(start, open_stop):
                ts = open_ts(i)
                if i < hlen:
                    out.append((ts, _render(header[i], ts, rank)))
                else:
                    out.append((ts, body(i - hlen, ts)))
        for i in range(max(start, open_stop), stop):
            out.append(self.line(i))
        return out

    def index_at(self, t: float) -> int:
        """Return the first line index whose timestamp is ``>= t``.

        For ``sinceSeconds``/``sinceTime``.  Past the last line of an ended
        log this is the log's length.  Arithmetic plus a short walk.
        """
        if math.isnan(t):
            raise ValueError("t is NaN")
        total = self._total
        if t <= self.started_at:
            return 0
        if total is None:
            if math.isinf(t):
                raise ValueError("a running log has no end")
            return self._search(t, strict=False)
        bound = self._bound
        assert bound is not None
        if math.isfinite(t):
            i = self._search(t, strict=False)
            if i < bound:
                return i
        for j in range(len(self._closing)):
            if self._closing_ts(j) >= t:
                return bound + j
        return total

    # ----------------------------------------------------------- timing

    @cached_property
    def _base(self) -> int:
        return _mix(self.seed & _M64)

    @cached_property
    def _tbase(self) -> int:
        return _mix(self._base ^ _S_TIME)

    @cached_property
    def _lbase(self) -> int:
        return _mix(self._base ^ _S_LINE)

    @cached_property
    def _header_step(self) -> float:
        return min(1.0 / self.rate, _BURST)

    @cached_property
    def _body_origin(self) -> float:
        return self.started_at + len(self._header) * self._header_step

    @cached_property
    def _segments(self) -> tuple[tuple[int, float, float], ...]:
        """The body's rate segments: (first body index, time of its first slot, rate), in order.

        Body line ``k`` of segment ``(k0, t0, r)`` is stamped ``t0 + (k - k0 + f_k) / r``. A change at
        ``at`` starts a segment at the first slot of the current one that begins at or after ``at``,
        so no line stamped at or before ``at`` moves."""
        segs = [(0, self._body_origin, self.rate)]
        for at, rate in self.rate_changes:
            k0, t0, r0 = segs[-1]
            k1 = k0 + max(0, math.ceil((at - t0) * r0))
            if k1 == k0:
                segs[-1] = (k0, t0, rate)
            else:
                segs.append((k1, t0 + (k1 - k0) / r0, rate))
        return tuple(segs)

    @cached_property
    def _seg_ks(self) -> list[int]:
        return [k for k, _, _ in self._segments]

    @cached_property
    def _seg_ts(self) -> list[float]:
        return [t for _, t, _ in self._segments]

    def _open_ts(self, i: int) -> float:
        """Timestamp of header/body line ``i`` (ignoring the end)."""
        frac = (_mix((self._tbase + i) & _M64) >> 11) * _INV53
        hlen = len(self._header)
        if i < hlen:
            return self.started_at + (i + frac) * self._header_step
        if not self.rate_changes:
            return self._body_origin + (i - hlen + frac) / self.rate
        k = i - hlen
        k0, t0, r = self._segments[bisect.bisect_right(self._seg_ks, k) - 1]
        return t0 + (k - k0 + frac) / r

    def _open_text(self, i: int, ts: float) -> str:
        hlen = len(self._header)
        if i < hlen:
            return _render(self._header[i], ts, self._names.rank)
        return self._body_fn(i - hlen, ts)

    def _search(self, t: float, strict: bool) -> int:
        """First header/body index with ts ``> t`` (strict) or ``>= t``."""
        if t < self.started_at:
            return 0
        hlen = len(self._header)
        if self.rate_changes:
            k0, t0, r = self._segments[max(0, bisect.bisect_right(self._seg_ts, t) - 1)]
            x = (t - t0) * r
            i = hlen + k0 + (int(x) if x > 0 else 0)
        else:
            x = (t - self._body_origin) * self.rate
            i = hlen + int(x) if x > 0 else hlen
        ts = self._open_ts

        def hit(k: int) -> bool:
            return ts(k) > t if strict else ts(k) >= t

        while i > 0 and hit(i - 1):
            i -= 1
        while not hit(i):
            i += 1
        return i

    @cached_property
    def _bound(self) -> int | None:
        """Number of header/body lines there will ever be (None: endless)."""
        cap = _IMPORT_ERROR_BODY if self.failure == "ImportError" else None
        if self.ended_at is None:
            return cap
        n = self._search(self.ended_at, strict=True)
        return n if cap is None else min(n, cap)

    @cached_property
    def _total(self) -> int | None:
        bound = self._bound
        if bound is None:
            return None
        return bound + len(self._closing)

    @cached_property
    def _last_open_ts(self) -> float:
        bound = self._bound or 0
        return self._open_ts(bound - 1) if bound > 0 else self.started_at

    def _closing_ts(self, j: int) -> float:
        assert self.ended_at is not None
        back = (len(self._closing) - 1 - j) * _CLOSE_STEP
        return max(self._last_open_ts, self.ended_at - back)

    # ------------------------------------------------------- parameters

    @cached_property
    def _names(self) -> _Names:
        ctx = self.context
        r = _Rng(self._base ^ _S_PARAM)
        user = ctx.get("user") or r.choice(_USERS)
        model_row = r.choice(_MODELS)
        hint = ctx.get("job") or ctx.get("pod") or ctx.get("notebook") or ""
        guessed = next((m[0] for m in _MODELS if m[0] in hint or m[1] in hint), None)
        model = ctx.get("model") or guessed or model_row[0]
        row = next((m for m in _MODELS if m[0] == model), None)
        domain, dataset = (row[1], row[2]) if row else (model_row[1], model_row[2])
        namespace = ctx.get("namespace") or f"ns-{domain}-{r.choice(_ENVS)}"
        job = ctx.get("job") or f"{model}-{r.alnum(5)}"
        world = max(1, _ctx_int(ctx, "world_size", 1))
        index = max(0, _ctx_int(ctx, "replica_index", 0))
        profile = self.profile
        default_type = {"pytorch": "Master", "tensorflow": "Worker", "xgboost": "Master"}.get(profile, "")
        rtype = ctx.get("replica_type") or default_type
        if "rank" in ctx:
            rank = _ctx_int(ctx, "rank", 0)
        elif profile == "pytorch":
            rank = 0 if rtype.lower() == "master" else index + 1
            if rank >= world:
                rank = min(index, world - 1)
        elif profile in ("tensorflow", "xgboost"):
            rank = 0 if rtype.lower() in ("master", "chief") else index
        else:
            rank = 0
        notebook = ctx.get("notebook") or f"{user}-{domain}-nb"
        component = ctx.get("component") or ""
        if profile == "jupyter":
            default_pod = f"{notebook}-0"
        elif profile == "seldon":
            default_pod = f"{model}-default-0-classifier-{r.hex(9)}-{r.alnum(5)}"
        elif profile == "platform":
            component = component or r.choice(_COMPONENTS)
            default_pod = f"{component}-{r.hex(9)}-{r.alnum(5)}"
        elif rtype:
            default_pod = f"{job}-{rtype.lower()}-{index}"
        else:
            default_pod = f"{job}-{r.alnum(5)}"
        pod = ctx.get("pod") or default_pod
        if profile == "platform" and not component:
            parts = pod.split("-")
            component = "-".join(parts[:-2]) if len(parts) > 2 else pod
        started = time.gmtime(self.started_at - 86400)
        dt = f"{started.tm_year:04d}{started.tm_mon:02d}{started.tm_mday:02d}"
        if r.random() < 0.5:
            dataset_path = f"hdfs://nameservice1/user/{user}/{domain}/{dataset}/dt={dt}"
        else:
            dataset_path = f"s3://mlss-data/{namespace}/{domain}/{dataset}/dt={dt}/"
        ip = f"10.244.{r.randint(0, 63)}.{r.randint(2, 250)}"
        clients = tuple(f"10.{r.randint(100, 120)}.{r.randint(0, 255)}.{r.randint(2, 250)}"
                        for _ in range(3))
        return _Names(
            user=user, namespace=namespace, model=model, domain=domain,
            dataset=dataset_path, job=job, pod=pod, notebook=notebook,
            replica_type=rtype, replica_index=index, world_size=world, rank=rank,
            model_dir=f"s3://mlss-models/{namespace}/{model}/{job}", ip=ip,
            master=f"{job}-master-0", gpu=r.choice(_GPUS), pid=r.randint(40, 900),
            component=component, client_ips=clients,
        )

    @cached_property
    def _train(self) -> _Train:
        r = _Rng(self._base ^ _S_PARAM ^ 0xFFFF)
        n_features = r.randint(48, 420)
        return _Train(
            lines_per_epoch=r.randint(40, 240),
            log_every=r.choice((10, 20, 50, 100)),
            batch_size=r.choice((256, 512, 1024, 2048, 4096)),
            epochs=r.randint(10, 60),
            loss0=r.uniform(0.64, 0.72),
            loss_inf=r.uniform(0.18, 0.36),
            auc0=r.uniform(0.52, 0.62),
            auc_inf=r.uniform(0.78, 0.94),
            acc0=r.uniform(0.55, 0.70),
            acc_inf=r.uniform(0.88, 0.97),
            tau=r.uniform(350.0, 1000.0),
            lr0=r.choice((1e-3, 5e-4, 3e-4, 2e-3)),
            gamma=r.choice((0.9, 0.95, 0.97)),
            throughput=r.uniform(900.0, 7000.0),
            n_features=n_features,
            n_train=r.randint(800_000, 40_000_000),
            n_params=n_features * 512 + 512 * 256 + 256 * 128 + 128 + r.randint(0, 2000),
        )

    def _curves(self, k: int, h: int) -> tuple[float, float, float]:
        """(loss, acc, auc) after ``k`` body lines, with noise from ``h``."""
        p = self._train
        d = math.exp(-k / p.tau)
        noise = ((h & 0xFFFFF) + ((h >> 20) & 0xFFFFF)) * _INV20 - 1.0
        loss = (p.loss_inf + (p.loss0 - p.loss_inf) * d) * (1.0 + 0.06 * noise)
        acc = p.acc_inf - (p.acc_inf - p.acc0) * d + 0.012 * (((h >> 40) & 0xFFFFF) * _INV20 - 0.5)
        auc = p.auc_inf - (p.auc_inf - p.auc0) * d + 0.012 * (((h >> 44) & 0xFFFFF) * _INV20 - 0.5)
        return loss, (acc if acc < 0.999 else 0.999), (auc if auc < 0.999 else 0.999)

    def _epoch_pos(self, k: int, extra: int) -> tuple[int, int]:
        """(epoch from 1, position) of body line ``k`` in cycles of lpe + extra."""
        cycle = self._train.lines_per_epoch + extra
        e, pos = divmod(k, cycle)
        return e + 1, pos

    # ---------------------------------------------------------- headers

    @cached_property
    def _header(self) -> tuple[_Tpl, ...]:
        return tuple(getattr(self, f"_header_{self.profile}")())

    def _launcher(self, image: str) -> _Tpl:
        n = self._names
        return _raw(f"[mlss] job={n.job} pod={n.pod} user={n.user} namespace={n.namespace} image={image}")

    def _header_pytorch(self) -> list[_Tpl]:
        n, p = self._names, self._train
        r = _Rng(self._base ^ 0x9191)
        rk = f"[rank{n.rank}]"
        out = [
            self._launcher("registry.mlss.local/mlss-gpu/pytorch:2.3.1-cuda12.1-py310"),
            _raw(f"+ torchrun --nnodes={n.world_size} --nproc_per_node=1 --node_rank={n.rank} "
                 f"--master_addr={n.master} --master_port=23456 /workspace/train.py "
                 f"--config /workspace/conf/{n.model}.yaml"),
            ("py", "INFO", f"{rk} launcher.py:41 - MASTER_ADDR={n.master} MASTER_PORT=23456 "
                           f"WORLD_SIZE={n.world_size} RANK={n.rank} LOCAL_RANK=0"),
        ]
        if n.world_size > 1:
            out += [
                ("py", "INFO", f"{rk} launcher.py:58 - Initializing process group: backend=nccl, "
                               f"world_size={n.world_size}, rank={n.rank}"),
                _raw(f"{n.pod}:{n.pid}:{n.pid} [0] NCCL INFO Bootstrap : Using eth0:{n.ip}<0>"),
                _raw(f"{n.pod}:{n.pid}:{n.pid} [0] NCCL INFO NCCL version 2.20.5+cuda12.4"),
                _raw(f"{n.pod}:{n.pid}:{n.pid + 31} [0] NCCL INFO Channel 00/02 :    0   1"),
                ("py", "INFO", f"{rk} launcher.py:66 - process group initialized in {r.uniform(0.4, 6.0):.2f}s"),
            ]
        out += [
            ("py", "INFO", f"{rk} train.py:87 - Using device cuda:0 ({n.gpu}, 79.25 GiB)"),
            ("py", "INFO", f"{rk} data.py:52 - Loading dataset from {n.dataset} (shard {n.rank}/{n.world_size})"),
            ("py", "INFO", f"{rk} data.py:71 - train samples={p.n_train // n.world_size:,} "
                           f"val samples={p.n_train // 10:,} features={p.n_features}"),
            ("py", "INFO", f"{rk} model.py:33 - Model: TabularMLP(features={p.n_features}, "
                           f"hidden=[512, 256, 128], dropout=0.2) params={p.n_params:,}"),
            ("py", "INFO", f"{rk} train.py:104 - Optimizer: AdamW(lr={p.lr0:.1e}, weight_decay=0.01) "
                           f"batch_size={p.batch_size} epochs={p.epochs}"),
            ("py", "INFO", f"{rk} train.py:112 - S3 endpoint=http://minio.mlss-system.svc:9000 "
                           "access_key=mlss**** secret_key=****"),
            ("py", "INFO", f"{rk} train.py:120 - Start training"),
        ]
        return out

    def _header_single(self) -> list[_Tpl]:
        n, p = self._names, self._train
        r = _Rng(self._base ^ 0x5151)
        mod = f"{n.domain}_model.train - INFO -"
        return [
            self._launcher("registry.mlss.local/mlss-gpu/python:3.10-torch2.3-sklearn1.4"),
            _raw("Python 3.10.14 | numpy 1.26.4 | pandas 2.2.2 | scikit-learn 1.4.2 | torch 2.3.1+cu121"),
            ("pyd", "", f"{mod} Reading training data from {n.dataset}"),
            ("pyd", "", f"{mod} Loaded {p.n_train:,} rows x {p.n_features} columns in {r.uniform(8, 240):.1f}s"),
            ("pyd", "", f"{mod} Feature pipeline: WOE binning on {p.n_features // 3} features, "
                        f"StandardScaler on {p.n_features - p.n_features // 3}"),
            ("pyd", "", f"{mod} Train/valid split: {p.n_train * 8 // 10:,}/{p.n_train - p.n_train * 8 // 10:,} "
                        "(stratified, seed=42)"),
            ("pyd", "", f"{mod} Using device: cuda:0 ({n.gpu})"),
            ("pyd", "", f"{mod} Start training: epochs={p.epochs} batch_size={p.batch_size} lr={p.lr0:g}"),
        ]

    def _tf_config(self) -> str:
        n = self._names
        workers = [f"{n.job}-worker-{i}.{n.namespace}.svc:2222" for i in range(n.world_size)]
        task = n.replica_type.lower() or "worker"
        return json.dumps({"cluster": {"worker": workers}, "task": {"type": task, "index": n.replica_index}},
                          separators=(", ", ": "))

    def _header_tensorflow(self) -> list[_Tpl]:
        n, p = self._names, self._train
        task = n.replica_type.lower() or "worker"
        return [
            self._launcher("registry.mlss.local/mlss-gpu/tensorflow:2.15.0-gpu"),
            _raw(f"TF_CONFIG={self._tf_config()}"),
            ("tf", "I", "tensorflow/core/util/port.cc:113] oneDNN custom operations are on. You may see slightly "
                        "different numerical results due to floating-point round-off errors from different "
                        "computation orders. To turn them off, set the environment variable "
                        "`TF_ENABLE_ONEDNN_OPTS=0`."),
            ("tf", "I", "tensorflow/core/platform/cpu_feature_guard.cc:182] This TensorFlow binary is optimized "
                        "to use available CPU instructions in performance-critical operations."),
            ("tf", "I", f"tensorflow/core/common_runtime/gpu/gpu_device.cc:1886] Created device "
                        f"/job:{task}/replica:0/task:{n.replica_index}/device:GPU:0 with 76527 MB memory:  "
                        f"-> device: 0, name: {n.gpu}, pci bus id: 0000:3b:00.0, compute capability: 8.0"),
            ("tf", "I", f"tensorflow/core/distributed_runtime/rpc/grpc_server_lib.cc:457] Started server with "
                        f"target: grpc://{n.pod}.{n.namespace}.svc:2222"),
            _raw(f"INFO:tensorflow:Using MultiWorkerMirroredStrategy with cluster_spec = "
                 f"{{'worker': [{n.world_size} hosts]}}, task_type = '{task}', task_id = {n.replica_index}, "
                 f"num_workers = {n.world_size}, local_devices = ('/job:{task}/task:{n.replica_index}/device:GPU:0',), "
                 f"communication = CommunicationImplementation.NCCL"),
            _raw(f"Loading dataset from {n.dataset}"),
            _raw(f"Found {p.n_train:,} training records and {p.n_train // 10:,} validation records, "
                 f"{p.n_features} features"),
            _raw(f"Total params: {p.n_params:,} ({p.n_params * 4 / 1048576:.2f} MB)"),
        ]

    def _header_xgboost(self) -> list[_Tpl]:
        n, p = self._names, self._train
        r = _Rng(self._base ^ 0x7878)
        out: list[_Tpl] = [
            self._launcher("registry.mlss.local/mlss-gpu/xgboost:2.0.3-cuda12"),
            ("py", "INFO", f"Reading training data from {n.dataset}"),
            ("py", "INFO", f"DMatrix train: {p.n_train:,} rows x {p.n_features} cols, "
                           f"eval: {p.n_train // 5:,} rows"),
        ]
        if n.world_size > 1:
            out.append(("xgb", "", f"task {n.rank} got new rank {n.rank}"))
        out += [
            ("py", "INFO", "params: {'objective': 'binary:logistic', 'eval_metric': ['logloss', 'auc'], "
                           f"'tree_method': 'hist', 'device': 'cuda', 'max_depth': {r.randint(4, 10)}, "
                           f"'eta': {r.choice((0.02, 0.05, 0.1))}, 'subsample': 0.8, 'colsample_bytree': 0.8, "
                           f"'scale_pos_weight': {r.uniform(5, 60):.1f}}}"),
            _raw("Will train until eval-auc hasn't improved in 50 rounds."),
        ]
        return out

    def _header_jupyter(self) -> list[_Tpl]:
        n = self._names
        base = f"/notebook/{n.namespace}/{n.notebook}"
        r = _Rng(self._base ^ 0x3131)
        return [
            _raw(f"[mlss] notebook={n.notebook} namespace={n.namespace} user={n.user} "
                 "image=registry.mlss.local/mlss-notebook/jupyterlab:4.2-py310-gpu"),
            ("jup", "I", f"Package jupyterlab took {r.uniform(0, 0.01):.4f}s to import"),
            ("jup", "I", "jupyter_lsp | extension was successfully linked."),
            ("jup", "I", "jupyter_server_terminals | extension was successfully linked."),
            ("jup", "I", "jupyterlab | extension was successfully linked."),
            ("jup", "I", "Writing Jupyter server cookie secret to "
                         "/home/jovyan/.local/share/jupyter/runtime/jupyter_cookie_secret"),
            ("jup", "I", "notebook_shim | extension was successfully linked."),
            ("jup", "I", "notebook_shim | extension was successfully loaded."),
            ("jup", "I", "jupyter_lsp | extension was successfully loaded."),
            ("jup", "I", "jupyter_server_terminals | extension was successfully loaded."),
            ("jup", "I", "JupyterLab extension loaded from /opt/conda/lib/python3.10/site-packages/jupyterlab"),
            ("jup", "I", "JupyterLab application directory is /opt/conda/share/jupyter/lab"),
            ("jup", "I", "jupyterlab | extension was successfully loaded."),
            ("jup", "I", "Serving notebooks from local directory: /home/jovyan"),
            ("jup", "I", "Jupyter Server 2.14.2 is running at:"),
            ("jup", "I", f"http://{n.pod}:8888{base}/lab?token=****"),
            ("jup", "I", f"    http://127.0.0.1:8888{base}/lab?token=****"),
            ("jup", "I", "Use Control-C to stop this server and shut down all kernels (twice to skip confirmation)."),
        ]

    def _header_seldon(self) -> list[_Tpl]:
        n = self._names
        cls = "".join(w.capitalize() for w in n.model.split("-")) + "Model"
        mc = "seldon_core.microservice:main"
        return [
            ("pyd", "", f"{mc}:578 - INFO:  Starting microservice.py:main"),
            ("pyd", "", f"{mc}:579 - INFO:  Seldon Core version: 1.17.1"),
            ("pyd", "", f"{mc}:602 - INFO:  Parse JAEGER_EXTRA_TAGS []"),
            ("pyd", "", "seldon_core.microservice:load_annotations:191 - INFO:  Found annotation "
                        "seldon.io/svc-name:" + n.model),
            ("pyd", "", f"{mc}:605 - INFO:  Annotations: {{'seldon.io/svc-name': '{n.model}'}}"),
            ("pyd", "", f"{mc}:609 - INFO:  Importing {cls}"),
            ("pyd", "", f"{cls.lower()}:31 - INFO:  Loading model from {n.model_dir}/model.joblib"),
            ("pyd", "", f"{mc}:698 - INFO:  REST gunicorn microservice running on port 9000"),
            ("pyd", "", f"{mc}:792 - INFO:  REST metrics microservice running on port 6000"),
            ("pyd", "", f"{mc}:802 - INFO:  Starting servers"),
            ("guni", "", "[1] [INFO] Starting gunicorn 20.1.0"),
            ("guni", "", "[1] [INFO] Listening at: http://0.0.0.0:9000 (1)"),
            ("guni", "", "[1] [INFO] Using worker: sync"),
            ("guni", "", f"[{n.pid}] [INFO] Booting worker with pid: {n.pid}"),
        ]

    def _header_platform(self) -> list[_Tpl]:
        n = self._names
        r = _Rng(self._base ^ 0x2727)
        c = n.component
        lease = f"mlss-system/{c}-leader"
        return [
            ("klog", "I", f'main.go:62] "Starting {c}" version="v1.{r.randint(2, 9)}.{r.randint(0, 12)}" '
                          f'gitCommit="{r.hex(12)}" goVersion="go1.21.9"'),
            ("klog", "I", 'main.go:71] "Flags" metrics-bind-address=":8080" health-probe-bind-address=":8081" '
                          'leader-elect=true token="****"'),
            ("klog", "I", f'server.go:45] "Loaded configuration" file="/etc/mlss/{c}.yaml"'),
            ("klog", "I", f"leaderelection.go:250] attempting to acquire leader lease {lease}..."),
            ("klog", "I", f"leaderelection.go:260] successfully acquired lease {lease}"),
            ("klog", "I", 'controller.go:178] "Starting EventSource" controller="notebook" '
                          'source="kind source: *v1.Notebook"'),
            ("klog", "I", 'controller.go:186] "Starting Controller" controller="notebook"'),
            ("klog", "I", 'controller.go:220] "Starting workers" controller="notebook" worker count=4'),
            ("klog", "I", 'server.go:98] "Serving HTTP" addr=":8080"'),
        ]

    # ------------------------------------------------------------ bodies

    @cached_property
    def _body_fn(self) -> Callable[[int, float], str]:
        return getattr(self, f"_body_{self.profile}")  # type: ignore[no-any-return]

    def _lh(self, k: int) -> int:
        """64 random bits for body line ``k``."""
        return _mix((self._lbase + k) & _M64)

    def _body_pytorch(self, k: int, ts: float) -> str:
        n, p = self._names, self._train
        h = _mix((self._lbase + k) & _M64)
        lpe = p.lines_per_epoch
        e, pos = divmod(k, lpe + 2)
        e += 1
        stamp = _py_ts(ts)
        rk = f"[rank{n.rank}]"
        loss, acc, auc = self._curves(k, h)
        if pos == lpe:
            return (f"{stamp} INFO {rk} trainer.py:256 - eval epoch={e} val_loss={loss * 1.07:.4f} "
                    f"val_acc={acc - 0.01:.4f} val_auc={auc - 0.012:.4f} val_ks={(auc - 0.5) * 1.12:.4f}")
        if pos == lpe + 1:
            if n.rank == 0:
                return (f"{stamp} INFO {rk} checkpoint.py:88 - saved checkpoint {n.model_dir}/ckpt/"
                        f"epoch-{e:03d}.pt ({p.n_params * 12 / 1048576:.1f} MB) in {0.4 + 3 * _u(h, 0):.2f}s")
            return f"{stamp} INFO {rk} trainer.py:270 - barrier: waiting for rank 0 to save checkpoint epoch {e}"
        total = lpe * p.log_every
        step = (pos + 1) * p.log_every
        tput = p.throughput * (0.96 + 0.08 * ((h >> 24) & 0xFFFFF) * _INV20)
        sel = ((h >> 48) ^ h) & 0xFFFF
        if sel < 328:  # ~1 in 200: terminal noise
            h2 = _mix(h)
            if sel & 1:
                return self._tqdm_line(f"Epoch {e}", step, total, tput, loss, h2)
            return (f"\x1b[33m{stamp} WARNING\x1b[0m {rk} dataloader.py:97 - slow batch: fetch took "
                    f"{1 + 9 * _u(h2, 20):.2f}s (s3 read latency {200 + 3000 * _u(h2, 40):.0f}ms)")
        if sel < 1148:  # ~1 in 80: GPU monitor
            h2 = _mix(h)
            used = 30 + 45 * _u(h2, 20)
            return (f"{stamp} INFO {rk} monitor.py:41 - gpu0 mem {used:.1f}/79.25 GiB "
                    f"util {int(60 + 39 * _u(h2, 40))}% power {int(180 + 200 * _u(h2, 44))}W")
        lr = p.lr0 * p.gamma ** (e - 1)
        return (f"{stamp} INFO {rk} trainer.py:214 - epoch={e} step={step}/{total} loss={loss:.4f} "
                f"acc={acc:.4f} auc={auc:.4f} lr={lr:.2e} throughput={tput:.1f} samples/s")

    def _tqdm_line(self, desc: str, step: int, total: int, tput: float, loss: float, h: int) -> str:
        """Two tqdm refreshes separated by a carriage return, as a terminal gets them."""
        its = tput / self._train.batch_size
        nxt = min(total, step + 1 + int(4 * _u(h, 52)))
        parts = []
        for s in (step, nxt):
            el = s / its
            rem = (total - s) / its
            parts.append(f"{desc}: {s * 100 // total:3d}%|{_tqdm_bar(s / total)}| {s}/{total} "
                         f"[{_mmss(el)}<{_mmss(rem)}, {its:.2f}it/s, loss={loss:.3f}]")
        return "\r".join(parts)

    def _body_single(self, k: int, ts: float) -> str:
        n, p = self._names, self._train
        h = self._lh(k)
        e, pos = self._epoch_pos(k, 2)
        stamp = _py_ts(ts)
        mod = f"{n.domain}_model.train"
        lpe = p.lines_per_epoch
        loss, acc, auc = self._curves(k, h)
        if pos == lpe:
            return (f"{stamp} - {mod} - INFO - Validation | epoch {e} | val_loss={loss * 1.08:.4f} | "
                    f"val_auc={auc - 0.01:.4f} | ks={(auc - 0.5) * 1.1:.4f} | psi={0.01 + 0.05 * _u(h, 52):.4f}")
        if pos == lpe + 1:
            return (f"{stamp} - {mod} - INFO - Saved checkpoint to hdfs://nameservice1/user/{n.user}/models/"
                    f"{n.model}/ckpt/epoch_{e:03d}.pt")
        total = lpe * p.log_every
        step = (pos + 1) * p.log_every
        tput = p.throughput * (0.95 + 0.1 * _u(h, 24))
        h2 = _mix(h)
        sel = h2 & 0xFFFF
        if sel < 328:
            if sel & 1:
                return self._tqdm_line(f"epoch {e}", step, total, tput, loss, h2)
            return (f"{stamp} - {mod} - \x1b[1;33mWARNING\x1b[0m - feature 'income_monthly' has "
                    f"{0.1 + 4 * _u(h2, 20):.2f}% missing values in this batch, imputed with median")
        lr = p.lr0 * p.gamma ** (e - 1)
        return (f"{stamp} - {mod} - INFO - Epoch {e} | batch {step}/{total} | loss={loss:.4f} | "
                f"auc={auc:.4f} | acc={acc:.4f} | lr={lr:.2e} | {tput:.1f} samples/s")

    def _body_tensorflow(self, k: int, ts: float) -> str:
        n, p = self._names, self._train
        h = self._lh(k)
        e, pos = self._epoch_pos(k, 3)
        lpe = p.lines_per_epoch
        total = lpe * p.log_every
        w = len(str(total))
        step_time = p.batch_size / p.throughput
        if pos == 0:
            return f"Epoch {e}/{max(e, p.epochs)}"
        loss, acc, auc = self._curves(k, h)
        if pos == lpe + 1:
            secs = total * step_time
            return (f"{total}/{total} [{_keras_bar(total, total)}] - {secs:.0f}s {step_time * 1000:.0f}ms/step"
                    f" - loss: {loss:.4f} - auc: {auc:.4f} - accuracy: {acc:.4f} - val_loss: {loss * 1.06:.4f}"
                    f" - val_auc: {auc - 0.011:.4f} - val_accuracy: {acc - 0.008:.4f}"
                    f" - lr: {p.lr0 * p.gamma ** (e - 1):.4e}")
        if pos == lpe + 2:
            if n.rank == 0:
                return f"Epoch {e}: saving model to {n.model_dir}/ckpt/cp-{e:04d}.ckpt"
            return (f"{_tf_ts(ts)}: I tensorflow/core/common_runtime/executor.cc:1197] [/device:CPU:0] "
                    "(DEBUG INFO) Executor start aborting (this does not indicate an error and you can "
                    "ignore this message): OUT_OF_RANGE: End of sequence")
        step = pos * p.log_every
        h2 = _mix(h)
        sel = h2 & 0xFFFF
        if sel < 328:
            if sel & 1:
                nxt = min(total, step + p.log_every // 2 + 1)
                return "\r".join(
                    f"{s:>{w}}/{total} [{_keras_bar(s, total)}] - ETA: {_eta((total - s) * step_time)}"
                    f" - loss: {loss:.4f} - auc: {auc:.4f}" for s in (step, nxt))
            return ("\x1b[33mWARNING\x1b[0m:tensorflow:Callback method `on_train_batch_end` is slow compared "
                    f"to the batch time (batch time: {step_time * 0.6:.4f}s vs `on_train_batch_end` time: "
                    f"{step_time * (1 + 2 * _u(h2, 20)):.4f}s). Check your callbacks.")
        if sel < 900:
            filled = int(20000 + 80000 * _u(h2, 20))
            return (f"{_tf_ts(ts)}: I tensorflow/core/kernels/data/shuffle_dataset_op.cc:450] "
                    f"ShuffleDatasetV3:{e + 11}: Filling up shuffle buffer (this may take a while): "
                    f"{filled} of 100000")
        return (f"{step:>{w}}/{total} [{_keras_bar(step, total)}] - ETA: {_eta((total - step) * step_time)}"
                f" - loss: {loss:.4f} - auc: {auc:.4f} - accuracy: {acc:.4f}")

    def _xgb_metrics(self, rnd: int) -> tuple[float, float, float, float]:
        """(train-logloss, train-auc, eval-logloss, eval-auc) after ``rnd`` rounds."""
        p = self._train
        h = self._lh(rnd ^ 0x5A5A5A)
        d = math.exp(-rnd / p.tau)
        jitter = 1.0 + 0.002 * (_u(h, 0) - 0.5)
        loss = (p.loss_inf + (0.6931 - p.loss_inf) * d) * jitter
        auc = min(0.9995, p.auc_inf + 0.03 - (p.auc_inf + 0.03 - 0.5) * d) * (1.0 + 0.0005 * (_u(h, 20) - 0.5))
        gap = 1.0 - d
        return loss, auc, loss * (1.0 + 0.08 * gap), auc - 0.03 * gap

    def _body_xgboost(self, k: int, ts: float) -> str:
        n = self._names
        cycle, pos = divmod(k, 101)
        if pos == 100:
            h = self._lh(k)
            rnd = cycle * 100 + 99
            if _u(h, 0) < 0.5:
                return (f"[{_hms(_split(ts)[0])}] \x1b[33mWARNING:\x1b[0m /workspace/src/common/error_msg.cc:58: "
                        "Falling back to prediction using DMatrix due to mismatched devices. This might lead "
                        "to higher memory usage and slower performance. XGBoost is running on: cuda:0, while "
                        "the input data is on: cpu.")
            return (f"{_py_ts(ts)} INFO checkpoint: saved booster at round {rnd} to "
                    f"{n.model_dir}/ckpt/xgb-{rnd:05d}.ubj")
        rnd = cycle * 100 + pos
        tl, ta, el, ea = self._xgb_metrics(rnd)
        return f"[{rnd}]\ttrain-logloss:{tl:.5f}\ttrain-auc:{ta:.5f}\teval-logloss:{el:.5f}\teval-auc:{ea:.5f}"

    def _kernel_id(self, k: int) -> str:
        g = k // 500
        a = _mix((self._base ^ _S_KERNEL) + g)
        return _uuid(a, _mix(a))

    def _session_id(self, k: int) -> str:
        g = k // 500
        a = _mix((self._base ^ _S_KERNEL ^ 0xABCDEF) + g)
        return _uuid(a, _mix(a))

    def _body_jupyter(self, k: int, ts: float) -> str:
        n = self._names
        h = self._lh(k)
        base = f"/notebook/{n.namespace}/{n.notebook}"
        stamp = _jup_ts(ts)
        who = f"({n.user}@{n.client_ips[(h >> 60) % len(n.client_ips)]})"
        lat = 0.6 * math.exp(3.5 * _u(h, 20))
        nb = _NOTEBOOKS[(h >> 44) % len(_NOTEBOOKS)]
        folder = f"work/{n.domain}"
        qs = int(ts * 1000)
        u = _u(h, 0)
        if u < 0.42:
            return f"[I {stamp} ServerApp] 200 GET {base}/api/kernels?{qs} {who} {lat:.2f}ms"
        if u < 0.56:
            return f"[I {stamp} ServerApp] 200 GET {base}/api/sessions?{qs} {who} {lat:.2f}ms"
        if u < 0.66:
            return (f"[I {stamp} ServerApp] 200 GET {base}/api/contents/{folder}?content=1&hash=0&{qs} "
                    f"{who} {lat * 2:.2f}ms")
        if u < 0.72:
            return f"[I {stamp} ServerApp] 200 GET {base}/api/terminals?{qs} {who} {lat:.2f}ms"
        if u < 0.78:
            return f"[I {stamp} ServerApp] 200 GET {base}/api/metrics/v1?{qs} {who} {lat:.2f}ms"
        if u < 0.85:
            return f"[I {stamp} ServerApp] Saving file at /{folder}/{nb}.ipynb"
        if u < 0.87:
            return f"[I {stamp} ServerApp] 200 PUT {base}/api/contents/{folder}/{nb}.ipynb {who} {lat * 6:.2f}ms"
        kid = self._kernel_id(k)
        if u < 0.89:
            return f"[I {stamp} ServerApp] Kernel started: {kid}"
        if u < 0.91:
            return f"[I {stamp} ServerApp] Connecting to kernel {kid}."
        if u < 0.93:
            return f"[I {stamp} ServerApp] Starting buffering for {kid}:{self._session_id(k)}"
        if u < 0.945:
            return f"[I {stamp} ServerApp] Restoring connection for {kid}:{self._session_id(k)}"
        if u < 0.96:
            return f"[I {stamp} ServerApp] Kernel restarted: {kid}"
        if u < 0.97:
            return f"[W {stamp} ServerApp] WebSocket ping timeout after {90000 + (h >> 50) % 99} ms."
        if u < 0.98:
            return (f"[W {stamp} ServerApp] 404 GET {base}/api/contents/{folder}/.ipynb_checkpoints?{qs} "
                    f"{who} {lat:.2f}ms")
        if u < 0.99:
            return f"[W {stamp} ServerApp] Notebook {folder}/{nb}.ipynb is not trusted"
        return f"[I {stamp} ServerApp] 201 POST {base}/api/sessions {who} {lat * 20:.2f}ms"

    def _body_seldon(self, k: int, ts: float) -> str:
        n = self._names
        h = self._lh(k)
        if k & 1:
            prev = self._lh(k - 1)
            if _u(prev, 0) < 0.02:  # the previous line was an error
                return (f'{n.client_ips[0]} - - [{_clf_ts(ts)}] "POST /api/v1.0/predictions HTTP/1.1" 500 '
                        f'{140 + (h >> 56)} "-" "Go-http-client/1.1" rt={2 + 20 * _u(h, 20):.1f}ms')
        elif _u(h, 0) < 0.02:
            reasons = ("could not convert string to float: 'N/A'",
                       "Input contains NaN, infinity or a value too large for dtype('float32').",
                       f"Feature shape mismatch, expected: {self._train.n_features}, "
                       f"got {self._train.n_features - 1}")
            why = reasons[(h >> 40) % len(reasons)]
            return (f"{_py_ts(ts)} - seldon_core.wrapper:handle_generic_exception:53 - ERROR:  "
                    f"{{'status': {{'status': 1, 'info': \"{why}\", 'code': -1, "
                    "'reason': 'MICROSERVICE_INTERNAL_ERROR'}}")
        if _u(h, 20) < 0.05:
            return (f'{n.ip.rsplit(".", 1)[0]}.1 - - [{_clf_ts(ts)}] "GET /health/ping HTTP/1.1" 200 5 '
                    f'"-" "kube-probe/1.28" rt={0.3 + _u(h, 40):.1f}ms')
        lat = 3.0 * math.exp(2.5 * _u(h, 40))
        return (f'{n.client_ips[(h >> 60) % 3]} - - [{_clf_ts(ts)}] "POST /api/v1.0/predictions HTTP/1.1" 200 '
                f'{180 + (h >> 56)} "-" "Go-http-client/1.1" rt={lat:.1f}ms')

    def _body_platform(self, k: int, ts: float) -> str:
        n = self._names
        h = self._lh(k)
        u = _u(h, 0)
        lat = 0.4 * math.exp(4 * _u(h, 20))
        user = _USERS[(h >> 44) % len(_USERS)]
        obj = f"{n.namespace}/{user}-{_NOTEBOOKS[(h >> 52) % len(_NOTEBOOKS)].replace('_', '-')}"
        rid = _uuid(h, _mix(h))
        if u < 0.35:
            return (f'{_klog_ts("I", ts)} notebook_controller.go:{88 + (h >> 60)}] "Reconciling" '
                    f'notebook="{obj}" reconcileID="{rid}"')
        if u < 0.75:
            paths = ("/di/v1/models", "/di/v1/trainingJobs", "/aide/v1/notebooks", "/cc/v1/users/" + user,
                     "/mf/v1/modelversions", "/di/v1/logs")
            method = "GET" if _u(h, 40) < 0.85 else "POST"
            status = 200 if _u(h, 44) < 0.97 else 404
            return (f'{_klog_ts("I", ts)} http.go:88] "HTTP request" method="{method}" '
                    f'path="{paths[(h >> 56) % len(paths)]}" status={status} latency="{lat:.1f}ms" '
                    f'user="{user}" token="****"')
        if u < 0.88:
            return (f'{_klog_ts("I", ts)} status.go:57] "Updated status" notebook="{obj}" '
                    f'readyReplicas=1 phase="Running"')
        if u < 0.94:
            return (f'{_klog_ts("I", ts)} reflector.go:351] Listing and watching *v1.Pod from '
                    "pkg/mod/k8s.io/client-go@v0.29.3/tools/cache/reflector.go:229")
        if u < 0.98:
            return (f'{_klog_ts("W", ts)} reflector.go:462] pkg/mod/k8s.io/client-go@v0.29.3/tools/cache/'
                    "reflector.go:229: watch of *v1.Pod ended with: an error on the server (\"unable to "
                    "decode an event from the watch stream: http2: client connection lost\") has prevented "
                    "the request from succeeding")
        return (f'{_klog_ts("E", ts)} controller.go:329] "Reconciler error" err="Operation cannot be '
                f'fulfilled on notebooks.kubeflow.org \\"{obj.split("/")[1]}\\": the object has been modified; '
                f'please apply your changes to the latest version and try again" controller="notebook" '
                f'notebook="{obj}" reconcileID="{rid}"')

    # ---------------------------------------------------------- closings

    @cached_property
    def _closing(self) -> tuple[_Tpl, ...]:
        if self.ended_at is None:
            return ()
        bound = self._bound or 0
        hlen = len(self._header)
        k_last = max(0, bound - hlen - 1)
        failure = self.failure
        if failure == "OOMKilled":
            return tuple(self._closing_oom(bound))
        if failure is None:
            return tuple(getattr(self, f"_clean_{self.profile}")(k_last))
        if self.profile == "platform":
            return tuple(self._fail_platform(failure))
        if failure == "ImportError":
            return tuple(self._fail_import())
        if self.profile == "tensorflow":
            return tuple(self._fail_tensorflow(failure, k_last))
        if self.profile == "xgboost" and failure != "Error":
            return tuple(self._fail_xgboost(failure, k_last))
        if failure == "NCCLTimeout":
            return tuple(self._fail_nccl(k_last))
        if failure == "CudaOOM":
            return tuple(self._fail_cuda_oom())
        return tuple(self._fail_error())

    def _closing_oom(self, bound: int) -> list[_Tpl]:
        """The kernel kills the process: nothing, or the start of one more line."""
        h = _mix(self._base ^ _S_CLOSE)
        if h & 3 == 0:
            return []
        assert self.ended_at is not None
        text = self._open_text(bound, self.ended_at)
        cut = 8 + (h >> 8) % max(1, len(text) - 12)
        return [_raw(text[:cut])]

    def _script(self) -> tuple[str, str]:
        """(entry-point path, main call) of the profile's program."""
        n = self._names
        return {
            "pytorch": ("/workspace/train.py", "main(args)"),
            "single": ("/workspace/main.py", "run(cfg)"),
            "tensorflow": ("/workspace/train_tf.py", "main()"),
            "xgboost": ("/workspace/train_xgb.py", "main()"),
            "jupyter": (f"/home/jovyan/work/{n.domain}/train_ddp.py", "main()"),
            "seldon": ("/microservice/" + "".join(w.capitalize() for w in n.model.split("-")) + "Model.py",
                       "main()"),
        }.get(self.profile, ("/workspace/main.py", "main()"))

    def _clean_pytorch(self, k_last: int) -> list[_Tpl]:
        n, p = self._names, self._train
        loss, acc, auc = self._curves(k_last, self._lh(k_last))
        e, _ = self._epoch_pos(k_last, 2)
        steps = (k_last + 1) * p.log_every
        dur = (self.ended_at or self.started_at) - self.started_at
        rk = f"[rank{n.rank}]"
        out: list[_Tpl] = [
            ("py", "INFO", f"{rk} trainer.py:301 - epoch={e} finished: train_loss={loss:.4f} "
                           f"val_loss={loss * 1.07:.4f} val_auc={auc - 0.012:.4f} val_ks={(auc - 0.5) * 1.12:.4f}"),
            ("py", "INFO", f"{rk} trainer.py:318 - Training completed: {e} epochs, {steps} steps in {_mmss(dur)}"),
        ]
        if n.rank == 0:
            out += [
                ("py", "INFO", f"{rk} export.py:52 - final metrics: auc={auc:.4f} acc={acc:.4f} "
                               f"ks={(auc - 0.5) * 1.15:.4f} logloss={loss:.4f}"),
                ("py", "INFO", f"{rk} export.py:60 - model saved to {n.model_dir}/model.pt "
                               f"({p.n_params * 4 / 1048576:.1f} MB)"),
                ("py", "INFO", f"{rk} export.py:66 - uploaded metrics.json to {n.model_dir}/metrics.json"),
            ]
        if n.world_size > 1:
            out.append(("py", "INFO", f"{rk} launcher.py:77 - destroying process group"))
        return out

    def _clean_single(self, k_last: int) -> list[_Tpl]:
        n = self._names
        loss, acc, auc = self._curves(k_last, self._lh(k_last))
        e, _ = self._epoch_pos(k_last, 2)
        mod = f"{n.domain}_model.train - INFO -"
        return [
            ("pyd", "", f"{mod} Early stopping at epoch {e}: val_auc did not improve for 3 epochs"),
            ("pyd", "", f"{mod} Final metrics | auc={auc:.4f} | ks={(auc - 0.5) * 1.1:.4f} | acc={acc:.4f} "
                        f"| logloss={loss:.4f}"),
            ("pyd", "", f"{mod} Training completed"),
            ("pyd", "", f"{mod} model saved to {n.model_dir}/model.pkl"),
            ("pyd", "", f"{mod} Registered model {n.model} in model factory (mlss-mf)"),
        ]

    def _clean_tensorflow(self, k_last: int) -> list[_Tpl]:
        n = self._names
        loss, acc, auc = self._curves(k_last, self._lh(k_last))
        out: list[_Tpl] = [
            _raw(f"Training completed. final loss: {loss:.4f} - auc: {auc:.4f} - accuracy: {acc:.4f} "
                 f"- val_auc: {auc - 0.011:.4f}"),
        ]
        if n.rank == 0:
            out += [
                _raw(f"INFO:tensorflow:Assets written to: {n.model_dir}/saved_model/assets"),
                _raw(f"model saved to {n.model_dir}/saved_model"),
            ]
        out.append(("tf", "I", "tensorflow/core/distributed_runtime/rpc/grpc_server_lib.cc:501] "
                               "Server shutdown complete"))
        return out

    def _clean_xgboost(self, k_last: int) -> list[_Tpl]:
        n = self._names
        cycle, pos = divmod(k_last, 101)
        last = cycle * 100 + min(pos, 99)
        best = max(0, last - 50)
        tl, ta, el, ea = self._xgb_metrics(best)
        return [
            _raw("Stopping. Best iteration:"),
            _raw(f"[{best}]\ttrain-logloss:{tl:.5f}\ttrain-auc:{ta:.5f}\teval-logloss:{el:.5f}\teval-auc:{ea:.5f}"),
            ("py", "INFO", f"best_iteration={best} best_score={ea:.5f}"),
            ("py", "INFO", "Training completed"),
            ("py", "INFO", f"model saved to {n.model_dir}/model.json"),
        ]

    def _clean_jupyter(self, k_last: int) -> list[_Tpl]:
        kid = self._kernel_id(k_last)
        return [
            ("jup", "C", "received signal 15, stopping"),
            ("jup", "I", "Shutting down 5 extensions"),
            ("jup", "I", "Shutting down 1 kernel"),
            ("jup", "I", f"Kernel shutdown: {kid}"),
            ("jup", "I", "Shutting down 0 terminals"),
        ]

    def _clean_seldon(self, k_last: int) -> list[_Tpl]:
        pid = self._names.pid
        return [
            ("guni", "", "[1] [INFO] Handling signal: term"),
            ("guni", "", f"[{pid}] [INFO] Worker exiting (pid: {pid})"),
            ("pyd", "", "seldon_core.microservice:main:830 - INFO:  Graceful shutdown: metrics server stopped"),
            ("guni", "", "[1] [INFO] Shutting down: Master"),
        ]

    def _clean_platform(self, k_last: int) -> list[_Tpl]:
        return [
            ("klog", "I", 'internal.go:516] "Stopping and waiting for non leader election runnables"'),
            ("klog", "I", 'internal.go:520] "Stopping and waiting for leader election runnables"'),
            ("klog", "I", 'controller.go:240] "Shutdown signal received, waiting for all workers to finish" '
                          'controller="notebook"'),
            ("klog", "I", 'controller.go:242] "All workers finished" controller="notebook"'),
            ("klog", "I", 'internal.go:528] "Stopping and waiting for caches"'),
            ("klog", "I", 'internal.go:532] "Stopping and waiting for webhooks"'),
            ("klog", "I", 'internal.go:535] "Wait completed, proceeding to shutdown the manager"'),
        ]

    def _fail_import(self) -> list[_Tpl]:
        r = _Rng(self._base ^ _S_CLOSE)
        mods = {
            "pytorch": ("deepspeed", "apex", "mlss_sdk", "torchmetrics"),
            "tensorflow": ("tensorflow_addons", "horovod", "mlss_sdk"),
            "xgboost": ("sklearn", "mlss_sdk", "pyarrow"),
            "single": ("lightgbm", "catboost", "toad", "mlss_sdk"),
            "jupyter": ("jupyterlab", "jupyter_server"),
            "seldon": ("lightgbm", "joblib", "sklearn"),
        }[self.profile]
        mod = r.choice(mods)
        if self.profile == "jupyter":
            frames = [("/opt/conda/bin/jupyter-lab", 5, "<module>", f"from {mod}.labapp import main")]
        elif self.profile == "seldon":
            n = self._names
            cls = "".join(w.capitalize() for w in n.model.split("-")) + "Model"
            frames = [
                ("/opt/conda/bin/seldon-core-microservice", 8, "<module>", "sys.exit(main())"),
                ("/opt/conda/lib/python3.10/site-packages/seldon_core/microservice.py", 609, "main",
                 "interface_file = importlib.import_module(args.interface_name)"),
                ("/opt/conda/lib/python3.10/importlib/__init__.py", 126, "import_module",
                 "return _bootstrap._gcd_import(name[level:], package, level)"),
                (f"/microservice/{cls}.py", 4, "<module>", f"import {mod}"),
            ]
        else:
            frames = [(self._script()[0], r.randint(3, 18), "<module>", f"import {mod}")]
        return _traceback(frames, f"ModuleNotFoundError: No module named '{mod}'")

    def _fail_nccl(self, k_last: int) -> list[_Tpl]:
        n, p = self._names, self._train
        r = _Rng(self._base ^ _S_CLOSE)
        rank = n.rank
        seq = max(1, (k_last + 1) * p.log_every * 2 + r.randint(0, 9))
        numel = p.n_params
        ran = 1_800_000 + r.randint(5, 900)
        work = (f"WorkNCCL(SeqNum={seq}, OpType=ALLREDUCE, NumelIn={numel}, NumelOut={numel}, "
                f"Timeout(ms)=1800000)")
        site = "/opt/conda/lib/python3.10/site-packages/torch"
        path, call = self._script()
        return [
            ("c10", "E", f"ProcessGroupNCCL.cpp:616] [Rank {rank}] Watchdog caught collective operation "
                         f"timeout: {work} ran for {ran} milliseconds before timing out."),
            ("c10", "E", f"ProcessGroupNCCL.cpp:1785] [PG 0 (default_pg) Rank {rank}] Exception (either an "
                         f"error or timeout) detected by watchdog at work: {seq}, last enqueued NCCL work: "
                         f"{seq}, last completed NCCL work: {seq - 1}."),
            ("c10", "E", f"ProcessGroupNCCL.cpp:630] [Rank {rank}] Some NCCL operations have failed or timed "
                         "out. Due to the asynchronous nature of CUDA kernels, subsequent GPU operations might "
                         "run on corrupted/incomplete data."),
            ("c10", "E", f"ProcessGroupNCCL.cpp:636] [Rank {rank}] To avoid data inconsistency, we are taking "
                         "the entire process down."),
            *_traceback(
                [
                    (path, 312, "<module>", call),
                    (path, 298, "main", "trainer.fit(train_loader, val_loader)"),
                    ("/workspace/mlss/trainer.py", 233, "fit", "self._sync_metrics(metrics)"),
                    ("/workspace/mlss/trainer.py", 141, "_sync_metrics",
                     "dist.all_reduce(buf, op=dist.ReduceOp.SUM)"),
                    (f"{site}/distributed/c10d_logger.py", 79, "wrapper", "return func(*args, **kwargs)"),
                    (f"{site}/distributed/distributed_c10d.py", 2288, "all_reduce", "work.wait()"),
                ],
                f"torch.distributed.DistBackendError: [Rank {rank}] Watchdog caught collective operation "
                f"timeout: {work} ran for {ran} milliseconds before timing out.",
            ),
        ]

    def _fail_cuda_oom(self) -> list[_Tpl]:
        r = _Rng(self._base ^ _S_CLOSE)
        tried = r.choice((0.5, 1.0, 2.0, 4.0))
        free = r.uniform(0.05, tried * 0.9)
        used = 79.25 - free
        reserved = r.uniform(0.5, 3.0)
        allocated = used - reserved - 0.6
        path, call = self._script()
        site = "/opt/conda/lib/python3.10/site-packages/torch"
        if self.profile == "seldon":
            frames = [
                ("/opt/conda/lib/python3.10/site-packages/seldon_core/user_model.py", 245, "client_predict",
                 "return user_model.predict(features, feature_names, **kwargs)"),
                (path, 58, "predict", "scores = self.model(torch.as_tensor(X, device=self.device))"),
                (f"{site}/nn/modules/module.py", 1532, "_wrapped_call_impl",
                 "return self._call_impl(*args, **kwargs)"),
                (f"{site}/nn/modules/module.py", 1541, "_call_impl", "return forward_call(*args, **kwargs)"),
                (f"{site}/nn/modules/linear.py", 116, "forward", "return F.linear(input, self.weight, self.bias)"),
            ]
        else:
            frames = [
                (path, 312, "<module>", call),
                (path, 298, "main", "trainer.fit(train_loader, val_loader)"),
                ("/workspace/mlss/trainer.py", 219, "fit", "loss.backward()"),
                (f"{site}/_tensor.py", 525, "backward",
                 "torch.autograd.backward("),
                (f"{site}/autograd/__init__.py", 267, "backward", "_engine_run_backward("),
                (f"{site}/autograd/graph.py", 744, "_engine_run_backward",
                 "return Variable._execution_engine.run_backward(  # Calls into the C++ engine to run the "
                 "backward pass"),
            ]
        return _traceback(
            frames,
            f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {tried:.2f} GiB. GPU 0 has a total "
            f"capacity of 79.25 GiB of which {free:.2f} GiB is free. Process {self._names.pid} has "
            f"{used:.2f} GiB memory in use. Of the allocated memory {allocated:.2f} GiB is allocated by "
            f"PyTorch, and {reserved:.2f} GiB is reserved by PyTorch but unallocated. If reserved but "
            "unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to "
            "avoid fragmentation.  See documentation for Memory Management  "
            "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)",
        )

    def _fail_error(self) -> list[_Tpl]:
        n = self._names
        r = _Rng(self._base ^ _S_CLOSE)
        path, call = self._script()
        if self.profile == "jupyter":
            site = "/opt/conda/lib/python3.10/site-packages/jupyter_server"
            return [
                ("jup", "E", f"Error while saving file: work/{n.domain}/{r.choice(_NOTEBOOKS)}.ipynb "
                             "[Errno 28] No space left on device"),
                *_traceback(
                    [
                        (f"{site}/services/contents/filemanager.py", 473, "save",
                         "self._save_notebook(os_path, nb)"),
                        (f"{site}/services/contents/fileio.py", 306, "_save_notebook",
                         "with self.atomic_writing(os_path, encoding=\"utf-8\") as f:"),
                        ("/opt/conda/lib/python3.10/contextlib.py", 142, "__exit__", "next(self.gen)"),
                    ],
                    "OSError: [Errno 28] No space left on device: '/home/jovyan/work/.ipynb_checkpoints'",
                ),
                ("jup", "C", "received signal 15, stopping"),
            ]
        if self.profile == "seldon":
            return [
                *_traceback(
                    [
                        ("/opt/conda/bin/seldon-core-microservice", 8, "<module>", "sys.exit(main())"),
                        ("/opt/conda/lib/python3.10/site-packages/seldon_core/microservice.py", 627, "main",
                         "user_object.load()"),
                        (path, 33, "load", "self.model = joblib.load(self.model_path)"),
                        ("/opt/conda/lib/python3.10/site-packages/joblib/numpy_pickle.py", 650, "load",
                         "with open(filename, 'rb') as f:"),
                    ],
                    "FileNotFoundError: [Errno 2] No such file or directory: '/mnt/models/model.joblib'",
                ),
                ("guni", "", "[1] [INFO] Shutting down: Master"),
            ]
        variant = r.randint(0, 3)
        data = "/workspace/mlss/data.py"
        if variant == 0:
            missing = n.dataset.rstrip("/") + "/part-00017-c000.snappy.parquet"
            frames = [(path, 312, "<module>", call),
                      (path, 271, "main", "train_ds = build_dataset(cfg.data.train_path)"),
                      (data, 64, "build_dataset", "table = pq.read_table(path, filesystem=fs)"),
                      ("/opt/conda/lib/python3.10/site-packages/pyarrow/parquet/core.py", 1793,
                       "read_table", "dataset = ParquetDataset(")]
            tail = f"FileNotFoundError: {missing}"
        elif variant == 1:
            frames = [(path, 312, "<module>", call),
                      (path, 298, "main", "trainer.fit(train_loader, val_loader)"),
                      ("/workspace/mlss/trainer.py", 205, "fit", "for batch in train_loader:"),
                      (data, 118, "__getitem__", "x = self._encode(row[\"merchant_category\"])")]
            tail = "KeyError: 'merchant_category'"
        elif variant == 2:
            frames = [(path, 312, "<module>", call),
                      (path, 276, "main", "features = pipeline.transform(raw)"),
                      ("/workspace/mlss/features.py", 92, "transform",
                       "return self.scaler.transform(df[self.columns])")]
            tail = "ValueError: Input X contains NaN. StandardScaler does not accept missing values encoded as NaN natively."
        else:
            frames = [(path, 312, "<module>", call),
                      (path, 265, "main", "cfg = load_config(args.config)"),
                      ("/workspace/mlss/s3.py", 40, "download", "self.client.download_file(bucket, key, dest)")]
            tail = ("botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the "
                    f"GetObject operation: Access Denied (s3://mlss-data/{n.namespace}/conf/{n.model}.yaml, "
                    "access_key=mlss****)")
        return _traceback(frames, tail)

    def _fail_tensorflow(self, failure: str, k_last: int) -> list[_Tpl]:
        n, p = self._names, self._train
        r = _Rng(self._base ^ _S_CLOSE)
        path, call = self._script()
        site = "/usr/local/lib/python3.10/dist-packages"
        frames = [
            (path, 188, "<module>", call),
            (path, 171, "main", "model.fit(train_ds, epochs=cfg.epochs, validation_data=val_ds, callbacks=cbs)"),
            (f"{site}/keras/src/utils/traceback_utils.py", 70, "error_handler",
             "raise e.with_traceback(filtered_tb) from None"),
            (f"{site}/tensorflow/python/eager/execute.py", 53, "quick_execute",
             "tensors = pywrap_tfe.TFE_Py_Execute(ctx._handle, device_name, op_name,"),
        ]
        if failure == "NCCLTimeout":
            peer = (n.replica_index + 1) % max(2, n.world_size)
            assert self.ended_at is not None
            return [
                ("tf", "E", "tensorflow/core/common_runtime/base_collective_executor.cc:249] "
                            "BaseCollectiveExecutor::StartAbort DEADLINE_EXCEEDED: Collective ops is aborted by: "
                            f"failed to receive from /job:worker/replica:0/task:{peer}: Deadline Exceeded"),
                _raw(f"Additional GRPC error information from remote target /job:worker/replica:0/task:{peer} "
                     f"while calling /tensorflow.WorkerService/RecvBuf: :{{\"created\":\"@{self.ended_at:.9f}\","
                     "\"description\":\"Deadline Exceeded\",\"grpc_status\":4}"),
                _raw("The error could be from a previous operation. Restart your program to reset."),
                _raw(f"\t [[{{{{node CollectiveReduceV2}}}}]] [Op:__inference_train_function_{r.randint(4000, 90000)}]"),
                *_traceback(frames, "tensorflow.python.framework.errors_impl.DeadlineExceededError: Graph "
                                    "execution error: Collective ops is aborted by: Deadline Exceeded"),
            ]
        if failure == "CudaOOM":
            shape = f"[{p.batch_size},{r.choice((4096, 8192, 16384))},{r.choice((128, 256, 512))}]"
            msg = (f"OOM when allocating tensor with shape{shape} and type float on "
                   "/job:worker/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc")
            return [
                ("tf", "W", f"tensorflow/core/common_runtime/bfc_allocator.cc:485] Allocator (GPU_0_bfc) ran out "
                            f"of memory trying to allocate {r.uniform(1, 8):.2f}GiB (rounded to "
                            f"{r.randint(10**9, 8 * 10**9)})requested by op StatefulPartitionedCall"),
                ("tf", "W", f"tensorflow/core/framework/op_kernel.cc:1839] OP_REQUIRES failed at "
                            f"matmul_op_impl.h:728 : RESOURCE_EXHAUSTED: {msg}"),
                *_traceback(frames, f"tensorflow.python.framework.errors_impl.ResourceExhaustedError: {msg} "
                                    "[Op:__inference_train_function_" + str(r.randint(4000, 90000)) + "]"),
            ]
        return self._fail_error()

    def _fail_xgboost(self, failure: str, k_last: int) -> list[_Tpl]:
        path, call = self._script()
        site = "/opt/conda/lib/python3.10/site-packages/xgboost"
        frames = [
            (path, 141, "<module>", call),
            (path, 118, "main", "booster = xgb.train(params, dtrain, num_boost_round=2000, evals=evals, "
                                "early_stopping_rounds=50)"),
            (f"{site}/core.py", 730, "inner_f", "return func(**kwargs)"),
            (f"{site}/training.py", 181, "train", "bst.update(dtrain, iteration=i, fobj=obj)"),
            (f"{site}/core.py", 2050, "update", "_check_call("),
            (f"{site}/core.py", 282, "_check_call", "raise XGBoostError(py_str(_LIB.XGBGetLastError()))"),
        ]
        assert self.ended_at is not None
        hms = _hms(_split(self.ended_at)[0])
        if failure == "NCCLTimeout":
            return _traceback(frames, f"xgboost.core.XGBoostError: [{hms}] /workspace/src/collective/"
                                      "nccl_device_communicator.cu:45: NCCL failure: remote process exited or "
                                      "there was a network error (timeout after 1800 s in allreduce, rank "
                                      f"{self._names.rank})")
        return _traceback(frames, f"xgboost.core.XGBoostError: [{hms}] /workspace/src/common/device_helpers.cuh:"
                                  "431: Memory allocation error on worker 0: std::bad_alloc: "
                                  "cudaErrorMemoryAllocation: out of memory")

    def _fail_platform(self, failure: str) -> list[_Tpl]:
        n = self._names
        r = _Rng(self._base ^ _S_CLOSE)
        c = n.component
        if failure == "ImportError":
            return [("klog", "F", f"main.go:58] unable to load config: open /etc/mlss/{c}.yaml: "
                                  "no such file or directory")]
        if failure == "NCCLTimeout":
            return [
                ("klog", "E", "leaderelection.go:332] error retrieving resource lock mlss-system/"
                              f"{c}-leader: Get \"https://10.96.0.1:443/apis/coordination.k8s.io/v1/namespaces/"
                              f"mlss-system/leases/{c}-leader\": context deadline exceeded"),
                ("klog", "I", f"leaderelection.go:285] failed to renew lease mlss-system/{c}-leader: "
                              "timed out waiting for the condition"),
                ("klog", "E", 'main.go:131] "problem running manager" err="leader election lost"'),
            ]
        if failure == "CudaOOM":
            return [
                _raw("fatal error: runtime: out of memory"),
                _raw(""),
                _raw(f"goroutine {r.randint(100, 4000)} [running]:"),
                _raw("runtime.throw({0x1d8c2a1?, 0x2000?})"),
                _raw("\t/usr/local/go/src/runtime/panic.go:1077 +0x5c fp=0xc000b5f6a8 sp=0xc000b5f678"),
            ]
        addr = f"0x{r.randint(0x1000000, 0x2000000):x}"
        return [
            _raw("panic: runtime error: invalid memory address or nil pointer dereference"),
            _raw(f"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc={addr}]"),
            _raw(""),
            _raw(f"goroutine {r.randint(100, 4000)} [running]:"),
            _raw(f"github.com/webank/prophecis/{c}/pkg/controller.(*NotebookReconciler).Reconcile"
                 "(0xc0004b2a80, {0x2187e10, 0xc0011c3d40}, {{{0xc000d2a0f0, 0xd}, {0xc000d2a100, 0x1a}}})"),
            _raw(f"\t/go/src/github.com/webank/prophecis/{c}/pkg/controller/notebook_controller.go:142 +0x3c5"),
            _raw("sigs.k8s.io/controller-runtime/pkg/internal/controller.(*Controller).reconcileHandler"
                 "(0xc00029e500, {0x2187e48, 0xc000132000}, {0x1c1b2a0?, 0xc0008d6020?})"),
            _raw("\t/go/pkg/mod/sigs.k8s.io/controller-runtime@v0.17.2/pkg/internal/controller/controller.go:"
                 "316 +0x3a5"),
        ]


_SIGNATURES: Final[Mapping[tuple[str, str], str]] = {
    ("tensorflow", "NCCLTimeout"): "DeadlineExceededError",
    ("tensorflow", "CudaOOM"): "OOM when allocating tensor",
    ("xgboost", "NCCLTimeout"): "NCCL failure",
    ("xgboost", "CudaOOM"): "cudaErrorMemoryAllocation: out of memory",
    ("platform", "NCCLTimeout"): "leader election lost",
    ("platform", "CudaOOM"): "fatal error: runtime: out of memory",
    ("platform", "Error"): "panic: runtime error",
    ("platform", "ImportError"): "unable to load config",
}
_DEFAULT_SIGNATURES: Final[Mapping[str, str]] = {
    "NCCLTimeout": "Watchdog caught collective operation timeout",
    "CudaOOM": "CUDA out of memory",
    "Error": "Traceback (most recent call last):",
    "ImportError": "No module named",
}


def failure_signature(profile: str, failure: str) -> str | None:
    """Return a substring the closing lines of ``failure`` always contain.

    None for 'OOMKilled', whose log just stops.  Most Python profiles use
    the PyTorch wording; 'tensorflow', 'xgboost' and the Go 'platform'
    profile have their own.
    """
    if profile not in PROFILES or failure not in FAILURES:
        raise ValueError(f"unknown profile/failure {profile!r}/{failure!r}")
    if failure == "OOMKilled":
        return None
    return _SIGNATURES.get((profile, failure), _DEFAULT_SIGNATURES[failure])

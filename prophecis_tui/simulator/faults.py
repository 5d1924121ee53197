"""Faults switchable at run time: latency, error rates, dropped watches and log follows, forced 410, the API down,
the CMDB or the Alertmanager failing,
the Linkis gateway's sessions expiring, its errors and latency."""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field


@dataclass
class Faults:
    latency_ms: float = 0.0  # added to every API request
    jitter_ms: float = 0.0
    error_rate: float = 0.0  # share of API requests answered with an error
    error_codes: list[int] = field(default_factory=lambda: [500, 503, 429])
    retry_after: int = 1  # seconds, on 429 and 503
    expire_watches: int = 0  # the next N watch requests get ERROR 410 at once
    drop_watch_every: float = 0.0  # seconds; close every watch stream this often (0: never)
    drop_log_every: float = 0.0  # seconds; cut every log follow this long after it opened (0: never)
    cmdb_error: int = 0  # HTTP status the CMDB endpoint answers instead of its list (0: none)
    alertmanager_error: int = 0  # HTTP status every /alertmanager/ path answers instead (0: none)
    linkis_session_expiry: int = 0  # the Linkis gateway forgets every session and answers the next N requests 401
    linkis_error: float = 0.0  # share of Linkis gateway requests answered 500 (JSON) or 503 (text)
    linkis_latency_ms: float = 0.0  # added to every Linkis gateway request
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"faults:{self.seed}")

    def update(self, data: dict) -> None:
        """Apply settings from ``data`` all at once: on any bad value (ValueError) nothing changes."""
        if not isinstance(data, dict):
            raise ValueError("fault settings must be a JSON object")
        new: dict = {}
        for k, v in data.items():
            if not isinstance(k, str) or k.startswith("_") or k not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault setting: {k}")
            new[k] = self._check(k, getattr(self, k), v)
        for k in ("error_rate", "linkis_error"):
            if not 0.0 <= new.get(k, getattr(self, k)) <= 1.0:
                raise ValueError(f"{k} must be between 0 and 1")
        for k in ("cmdb_error", "alertmanager_error"):
            if new.get(k, 0) and not 400 <= new[k] <= 599:
                raise ValueError(f"{k} must be an error code (400-599), or 0 for none")
        for k, v in new.items():
            setattr(self, k, v)
        if "seed" in new:
            self._rng = random.Random(f"faults:{self.seed}")

    @staticmethod
    def _check(k: str, cur: object, v: object) -> object:
        if isinstance(cur, list):
            if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                raise ValueError(f"{k} must be a list of HTTP status codes")
            if not all(400 <= x <= 599 for x in v):
                raise ValueError(f"{k} must hold error codes (400-599)")
            return list(v)
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"{k} must be a number")
        try:
            num = float(v)
        except ValueError:
            raise ValueError(f"{k} must be a number, not {v!r}") from None
        if not math.isfinite(num):
            raise ValueError(f"{k} must be a finite number")
        if num < 0:
            raise ValueError(f"{k} must be >= 0")
        if isinstance(cur, int):
            if num != int(num):
                raise ValueError(f"{k} must be a whole number")
            return int(num)
        return num

    def delay(self) -> float:
        if not self.latency_ms and not self.jitter_ms:
            return 0.0
        return max(0.0, self.latency_ms + self._rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000.0

    def pick_error(self) -> int | None:
        if self.error_rate and self.error_codes and self._rng.random() < self.error_rate:
            return self._rng.choice(self.error_codes)
        return None

    def take_expire(self) -> bool:
        if self.expire_watches > 0:
            self.expire_watches -= 1
            return True
        return False

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

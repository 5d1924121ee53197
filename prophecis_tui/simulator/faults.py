"""Faults switchable at run time: latency, error rates, dropped watches, forced 410, the API down."""

from __future__ import annotations

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
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"faults:{self.seed}")

    def update(self, data: dict) -> None:
        for k, v in data.items():
            if k.startswith("_") or not hasattr(self, k):
                raise ValueError(f"unknown fault setting: {k}")
            cur = getattr(self, k)
            if isinstance(cur, list):
                v = [int(x) for x in v]
            elif isinstance(cur, bool):
                v = bool(v)
            elif isinstance(cur, int):
                v = int(v)
            elif isinstance(cur, float):
                v = float(v)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                raise ValueError(f"{k} must be >= 0")
            setattr(self, k, v)
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")

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

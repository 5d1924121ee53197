"""Resource quantities ("500m", "32Gi") as the simulator's own small parser and formatter."""

from __future__ import annotations

_BIN = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50}
_DEC = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def parse(q: str | int | float | None) -> float:
    """A quantity as a plain number (cores for cpu, bytes for memory, count for GPUs)."""
    if q is None:
        return 0.0
    if isinstance(q, (int, float)):
        return float(q)
    s = q.strip()
    for suffix, mult in _BIN.items():
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * mult
    if s and s[-1] in "numkMGTP":
        return float(s[:-1]) * _DEC[s[-1]]
    return float(s) if s else 0.0


def milli(q: str | None) -> int:
    return round(parse(q) * 1000)


def fmt_cpu(cores: float) -> str:
    m = round(cores * 1000)
    return str(m // 1000) if m % 1000 == 0 else f"{m}m"


def fmt_mem(n: float) -> str:
    n = int(round(n))
    if n == 0:
        return "0"
    for suffix in ("Pi", "Ti", "Gi", "Mi", "Ki"):
        if n % _BIN[suffix] == 0:
            return f"{n // _BIN[suffix]}{suffix}"
    return str(n)


def fmt_count(n: float) -> str:
    return str(int(round(n)))


def fmt(key: str, value: float) -> str:
    if key.endswith("cpu"):
        return fmt_cpu(value)
    if key.endswith("memory") or key.endswith("storage"):
        return fmt_mem(value)
    return fmt_count(value)

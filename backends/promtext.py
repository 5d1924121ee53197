"""The Prometheus text exposition format (version 0.0.4), read: what a DCGM exporter's /metrics answers.

Our own reader, so that the console and the simulator (which writes the format) never share parsing code.
Comments (# HELP, # TYPE) are skipped; a line is ``name{label="value",...} value [timestamp]``; label values
may escape ``\\\\``, ``\\"`` and ``\\n``; values may be NaN, +Inf or -Inf. A malformed line is skipped (an
exporter's one bad series must not hide the others); ``bad`` counts them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Parsed:
    series: list[Series] = field(default_factory=list)
    bad: int = 0


def parse_value(text: str) -> float:
    low = text.lower()
    if low in ("nan",):
        return math.nan
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    return float(text)


def parse_line(line: str) -> Series | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    brace = line.find("{")
    space = line.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        name, end = line[:brace], line.rfind("}")
        if end < brace:
            raise ValueError("labels")
        labels = labels_of(line[brace:end + 1])
        rest = line[end + 1:].split()
    else:
        parts = line.split()
        name, labels, rest = parts[0], {}, parts[1:]
    if not name or not rest:
        raise ValueError("no value")
    return Series(name, labels, parse_value(rest[0]))


def parse(text: str) -> Parsed:
    out = Parsed()
    for line in text.split("\n"):  # the format's only line end (splitlines() would also break at \x1e, \x85...)
        try:
            s = parse_line(line)
        except (ValueError, IndexError):
            out.bad += 1
            continue
        if s is not None:
            out.series.append(s)
    return out


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def labels_of(text: str) -> dict[str, str]:
    """The labels of a ``{...}`` part of a line, escapes undone."""
    out = {}
    for m in _LABEL.finditer(text):
        v = m.group(2)
        out[m.group(1)] = v if "\\" not in v else re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(0), e.group(1)), v)
    return out

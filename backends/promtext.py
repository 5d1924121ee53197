"""The Prometheus text exposition format (version 0.0.4), read: what a DCGM exporter's /metrics answers.

Our own reader, so that the console and the simulator (which writes the format) never share parsing code.
Comments (# HELP, # TYPE) are skipped; a line is ``name{label="value",...} value [timestamp]``; label values
may escape ``\\\\``, ``\\"`` and ``\\n``; values may be NaN, +Inf or -Inf. A malformed line is skipped (an
exporter's one bad series must not hide the others); ``bad`` counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

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


def _value(text: str) -> float:
    low = text.lower()
    if low in ("nan",):
        return math.nan
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    return float(text)


def _labels(text: str, i: int) -> tuple[dict[str, str], int]:
    """Labels from text[i] == "{" to the matching "}"; returns them and the index after "}"."""
    labels: dict[str, str] = {}
    i += 1
    n = len(text)
    while True:
        while i < n and text[i] in " ,":
            i += 1
        if i < n and text[i] == "}":
            return labels, i + 1
        eq = text.index("=", i)
        name = text[i:eq].strip()
        if not name or text[eq + 1] != '"':
            raise ValueError("label")
        j = eq + 2
        out = []
        while True:
            c = text[j]
            if c == "\\":
                pair = text[j:j + 2]
                out.append(_ESCAPES.get(pair, pair[1:]))
                j += 2
            elif c == '"':
                break
            else:
                k = j
                while text[k] not in '\\"':
                    k += 1
                out.append(text[j:k])
                j = k
        labels[name] = "".join(out)
        i = j + 1


def parse_line(line: str) -> Series | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    brace = line.find("{")
    space = line.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        name = line[:brace]
        labels, end = _labels(line, brace)
        rest = line[end:].split()
    else:
        parts = line.split()
        name, labels, rest = parts[0], {}, parts[1:]
    if not name or not rest:
        raise ValueError("no value")
    return Series(name, labels, _value(rest[0]))


def parse(text: str) -> Parsed:
    out = Parsed()
    for line in text.splitlines():
        try:
            s = parse_line(line)
        except (ValueError, IndexError):
            out.bad += 1
            continue
        if s is not None:
            out.series.append(s)
    return out


def iter_series(text: str) -> Iterator[Series]:
    yield from parse(text).series

"""Our Prometheus text reader (backends/promtext.py): the fast scrape path agrees with the full parser."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from backends.promtext import labels_of, parse, series_lines

NAMES = ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_UTIL_X", "DCGM_FI_DEV_FB_USED", "up"]
label_value = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=12)
value = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(["NaN", "+Inf", "-Inf"]),
                  st.integers(-10**6, 10**6).map(str))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def exposition(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["series", "bare", "comment", "blank"]))
        name = draw(st.sampled_from(NAMES))
        if kind == "comment":
            lines.append(f"# HELP {name} some help {{with braces}}")
        elif kind == "blank":
            lines.append("")
        else:
            labels = draw(st.dictionaries(st.sampled_from(["gpu", "Hostname", "modelName", "pod"]), label_value,
                                          max_size=4))
            text = "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}" if kind == "series" else ""
            stamp = draw(st.sampled_from(["", " 1700000000000"]))
            lines.append(f"{name}{text} {draw(value)}{stamp}")
    return "\n".join(lines) + "\n"


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=300, deadline=None)
@given(exposition(), st.sets(st.sampled_from(NAMES), min_size=1))
def test_the_fast_path_reads_what_the_full_parser_reads(text: str, wanted: set[str]) -> None:
    full = [(s.name, s.labels, s.value) for s in parse(text).series if s.name in wanted]
    fast = [(n, labels_of(lab), v) for n, lab, v in series_lines(text, wanted)]
    assert [(n, lab) for n, lab, _ in fast] == [(n, lab) for n, lab, _ in full]
    assert all(_same(a[2], b[2]) for a, b in zip(fast, full))


def test_a_name_that_is_a_prefix_of_another_is_not_confused_with_it() -> None:
    text = 'DCGM_FI_DEV_GPU_UTIL_X{gpu="0"} 7\nDCGM_FI_DEV_GPU_UTIL{gpu="0"} 42\n'
    assert [(n, v) for n, _, v in series_lines(text, {"DCGM_FI_DEV_GPU_UTIL"})] == [("DCGM_FI_DEV_GPU_UTIL", 42.0)]


def test_a_label_value_with_braces_and_escaped_quotes_stays_whole() -> None:
    text = 'up{job="a} 5",pod="x\\"y"} 1\n'
    [(name, labels, v)] = list(series_lines(text, {"up"}))
    assert (name, labels_of(labels), v) == ("up", {"job": "a} 5", "pod": 'x"y'}, 1.0)


def test_malformed_lines_are_skipped_not_fatal() -> None:
    text = 'up{gpu="0"} not-a-number\nup{gpu="1"}\nup{gpu="2"} 3\n'
    assert [v for _, _, v in series_lines(text, {"up"})] == [3.0]

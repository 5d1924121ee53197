"""Our Prometheus text reader (backends/promtext.py) and the DCGM scrape's fast path over it: a series is read
once by the full parser, then found again by its line's head; what the scrape makes of any exposition text is
what the full parser says it holds."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from backends.dcgm import DcgmScrape
from backends.gpu_labels import FIELDS, identify
from backends.promtext import parse

NAMES = [*FIELDS, "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_GPU_UTIL_X", "up"]
label_value = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=8)
value = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(["NaN", "+Inf", "-Inf"]),
                  st.integers(-10**6, 10**6).map(str))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def exposition(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.sampled_from(["series", "series", "series", "bare", "comment", "blank"]))
        name = draw(st.sampled_from(NAMES))
        if kind == "comment":
            lines.append(f"# HELP {name} some help {{with braces}}")
        elif kind == "blank":
            lines.append("")
        else:
            labels = {"gpu": str(draw(st.integers(0, 2))), "Hostname": draw(st.sampled_from(["n1", "n2"]))}
            labels.update(draw(st.dictionaries(st.sampled_from(["pod", "namespace", "modelName", "UUID"]), label_value,
                                               max_size=3)))
            if draw(st.booleans()):
                del labels["gpu"]  # a series about no GPU in particular
            text = "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}" if kind == "series" else ""
            stamp = draw(st.sampled_from(["", "", " 1700000000000"]))
            lines.append(f"{name}{text} {draw(value)}{stamp}")
    return "\n".join(lines) + "\n"


def _expected(text: str) -> dict[tuple[str, int], dict]:
    """What the full parser says: per GPU, the last value of each field, and the first non-empty label."""
    out: dict[tuple[str, int], dict] = {}
    for s in parse(text).series:
        if s.name not in FIELDS:
            continue
        ident = identify(s.labels, "exporter")
        if ident is None:
            continue
        g = out.setdefault((ident.node, ident.gpu), {})
        for attr in ("uuid", "model", "namespace", "pod"):
            if not g.get(attr):
                g[attr] = getattr(ident, attr)
        g[FIELDS[s.name]] = None if math.isnan(s.value) else s.value
    return out


@settings(max_examples=300, deadline=None)
@given(exposition())
def test_the_scrape_reads_what_the_full_parser_reads(text: str) -> None:
    src = DcgmScrape("http://exporter/metrics", clock=lambda: 1000.0)
    src._fetch = lambda url: text  # no network: the text as an exporter would answer it
    for _ in range(2):  # the first scrape learns each series, the second finds them again
        got = {(g.node, g.gpu): g for g in src.current()}
        want = _expected(text)
        assert got.keys() == want.keys()
        for key, fields in want.items():
            for attr, v in fields.items():
                assert getattr(got[key], attr) == v, (key, attr)


def test_a_name_that_is_a_prefix_of_another_is_not_confused_with_it() -> None:
    src = DcgmScrape("http://exporter/metrics", clock=lambda: 1000.0)
    src._fetch = lambda url: 'DCGM_FI_DEV_GPU_UTIL_X{gpu="0"} 7\nDCGM_FI_DEV_GPU_UTIL{gpu="0"} 42\n'
    assert [g.util for g in src.current()] == [42.0]


def test_a_label_value_with_braces_spaces_and_escaped_quotes_stays_whole() -> None:
    src = DcgmScrape("http://exporter/metrics", clock=lambda: 1000.0)
    src._fetch = lambda url: 'DCGM_FI_DEV_GPU_UTIL{gpu="0",pod="a} 5",namespace="x\\"y"} 1\n'
    [g] = src.current()
    assert (g.pod, g.namespace, g.util) == ("a} 5", 'x"y', 1.0)


def test_malformed_lines_are_skipped_not_fatal() -> None:
    src = DcgmScrape("http://exporter/metrics", clock=lambda: 1000.0)
    src._fetch = lambda url: ('DCGM_FI_DEV_GPU_UTIL{gpu="0"} not-a-number\nDCGM_FI_DEV_GPU_UTIL{gpu="1"}\n'
                              'DCGM_FI_DEV_GPU_UTIL{gpu="2"} 3\nDCGM_FI_DEV_GPU_UTIL{gpu="3"} 1 1700000000000\n')
    for _ in range(2):
        assert [(g.gpu, g.util) for g in src.current()] == [(2, 3.0), (3, 1.0)]  # a timestamp is not the value

"""The sanitiser: nothing that drives or fools a terminal gets through, nothing is hidden, plain text is untouched."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from prophecis_tui.sanitize import clean, clean_line

BIDI_AND_INVISIBLE = "\u061c\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e" \
                     "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff\u00ad\ufff9\ufffa\ufffb" \
                     "\U000e0001\U000e0041\U000e007f"
FORBIDDEN = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{BIDI_AND_INVISIBLE}\ud800-\udfff\U000e0000-\U000e007f]")

# text rich in what attackers use: controls, C1, bidi and zero-width characters, among ordinary letters
nasty = st.text(alphabet=st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x2FF),
    st.sampled_from(list(BIDI_AND_INVISIBLE + "\x1b\x9b\r\n\t\\反欺诈")),
    st.characters(),
), max_size=80)


def _safe(out: str, keep_newlines: bool) -> bool:
    if FORBIDDEN.search(out):
        return False
    return keep_newlines or "\n" not in out


@settings(max_examples=400)
@given(nasty)
@example("\x1b[31m\r\n\x00")
def test_nothing_dangerous_survives_in_one_line_text(text):
    out = clean(text)
    assert _safe(out, keep_newlines=False)
    assert clean(out) == out


@settings(max_examples=400)
@given(nasty)
def test_multiline_text_keeps_only_newlines(text):
    out = clean(text, keep_newlines=True)
    assert _safe(out, keep_newlines=True)
    assert out.count("\n") == text.replace("\r\n", "\n").count("\n")
    assert clean(out, keep_newlines=True) == out


@settings(max_examples=300)
@given(nasty, st.integers(min_value=1, max_value=60))
def test_a_cell_is_one_safe_line_within_its_limit(text, limit):
    out = clean_line(text, limit)
    assert _safe(out, keep_newlines=False)
    assert len(out) <= limit
    assert clean_line(out, limit) == out


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60))
def test_printable_ascii_passes_unchanged(text):
    assert clean(text) is text


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=30))
def test_cjk_passes_unchanged(text):
    assert clean(text) == text


@pytest.mark.parametrize("text", ["反欺诈评分模型", "ns-antifraud-txn", "fraud-xgb-lihua-e600-worker-3",
                                  "ünïcödé ✓ 😀", "app.kubernetes.io/name=seldon"])
def test_ordinary_names_are_untouched(text):
    assert clean(text) == text
    assert clean(text, keep_newlines=True) == text
    assert clean_line(text, 200) == text


@pytest.mark.parametrize("text, shown", [
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),  # CSI colour
    ("\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"),  # OSC 52: write the user's clipboard
    ("\x1bPq#0;2;0;0;0\x1b\\", "\\x1bPq#0;2;0;0;0\\x1b\\"),  # DCS ... ST
    ("\x9b31m", "\\x9b31m"),  # C1 CSI
    ("abc\x08\x08\x08xyz", "abc\\x08\\x08\\x08xyz"),  # backspace over the real text
    ("safe\rEVIL", "safe\\x0dEVIL"),  # carriage return: EVIL would overwrite safe
    ("nul\x00del\x7f", "nul\\x00del\\x7f"),
    ("bell\x07", "bell\\x07"),
    ("invoice\u202egnp.exe", "invoice\\u202egnp.exe"),  # right-to-left override
    ("ad\u200bmin", "ad\\u200bmin"),  # zero-width space
    ("\ufeffbom", "\\ufeffbom"),
    ("a\u2066b\u2069", "a\\u2066b\\u2069"),  # isolates
    ("line1\nline2", "line1\\nline2"),
    ("a\r\nb", "a\\nb"),
    ("col\tumn", "col umn"),
])
def test_explicit_attacks_are_shown_not_executed(text, shown):
    assert clean(text) == shown


def test_multiline_view_keeps_lines_and_indents_tabs():
    assert clean("Traceback:\r\n\tat Foo\n\x1b[2J", keep_newlines=True) == "Traceback:\n    at Foo\n\\x1b[2J"


def test_cells_fold_line_breaks_and_cut_with_an_ellipsis():
    assert clean_line("0/20 nodes are available:\n   12 Insufficient nvidia.com/gpu") == \
        "0/20 nodes are available: 12 Insufficient nvidia.com/gpu"
    assert clean_line("x" * 100, 10) == "x" * 9 + "…"
    assert clean_line("\x1b[31m", 6) == "\\x1b[…"


def test_non_strings_are_shown_as_text():
    assert clean(42) == "42"  # type: ignore[arg-type]


def test_invisible_characters_that_hide_text_are_shown():
    """The soft hyphen, the interlinear annotation characters and the tag characters (which can spell a hidden
    instruction inside a label or a log line) show as escapes like every other invisible character."""
    hidden = "ok\u00ad\ufff9\ufffb" + "".join(chr(0xE0000 + ord(c)) for c in "rm -rf") + "\U000e007f"
    shown = clean(hidden)
    assert shown.isascii() and shown.startswith("ok\\xad\\ufff9\\ufffb\\U000e0072")
    assert clean(shown) == shown

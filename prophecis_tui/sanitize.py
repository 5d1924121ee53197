"""The one sanitiser for untrusted text from the cluster: names, labels, messages, log lines, YAML.

Nothing that could drive or fool the terminal survives, and nothing is hidden: every control,
escape or invisible formatting character is replaced by a visible escape.

- ESC becomes the four characters ``\\x1b`` (a colour sequence shows as ``\\x1b[31m``).
- Other C0 controls (NUL, BEL, backspace, carriage return, ...), DEL and the C1 controls
  U+0080-U+009F become ``\\xNN`` (``\\x08``, ``\\x0d``, ``\\x7f``, ``\\x9b``).
- Bidi embeddings/overrides/isolates (U+202A-U+202E, U+2066-U+2069, U+061C), zero-width and
  invisible format characters (U+200B-U+200F, U+2060-U+2064, U+FEFF), the line/paragraph
  separators U+2028/U+2029, the soft hyphen (``\\xad``), the interlinear annotation characters
  U+FFF9-U+FFFB and lone surrogates become ``\\uNNNN``; the invisible tag characters U+E0000-U+E007F
  (which can spell hidden text) become ``\\UNNNNNNNN``.
- ``\\r\\n`` counts as a newline. One-line text (the default) shows a newline as the two
  characters ``\\n`` and a tab as one space; with ``keep_newlines`` (describe, YAML, logs)
  newlines stay and a tab becomes four spaces.

The output is idempotent (``clean(clean(x)) == clean(x)``) and plain printable text passes
through unchanged, cheaply: one precompiled regex search decides.
"""

from __future__ import annotations

import re

__all__ = ["clean", "clean_line"]

_FORMAT = ("\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff"
           "\U000e0000-\U000e007f")
_UNSAFE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT}]")  # everything to escape in one-line text
_UNSAFE_TEXT = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_FORMAT}]")  # the same, newlines allowed
_CELL_BREAK = re.compile(r"[ \t]*(?:\r?\n)[ \t]*")


def _escape(code: int) -> str:
    if code == 0x1B:
        return "\\x1b"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _table(newline: str, tab: str) -> dict[int, str]:
    ranges = [(0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x61C, 0x61C), (0x200B, 0x200F), (0x2028, 0x202E),
              (0x2060, 0x2064), (0x2066, 0x2069), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0xD800, 0xDFFF),
              (0xE0000, 0xE007F)]
    table = {c: _escape(c) for lo, hi in ranges for c in range(lo, hi + 1)}
    table[ord("\n")] = newline
    table[ord("\t")] = tab
    return table


_LINE_TABLE = _table("\\n", " ")
_TEXT_TABLE = _table("\n", "    ")


def clean(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, escape and invisible formatting character made visible and harmless."""
    if not isinstance(text, str):
        text = str(text)
    if (_UNSAFE_TEXT if keep_newlines else _UNSAFE_LINE).search(text) is None:
        return text
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return text.translate(_TEXT_TABLE if keep_newlines else _LINE_TABLE)


def clean_line(text: str, limit: int = 80) -> str:
    """One table cell: line breaks (and the blanks around them) become one space, then ``clean``,
    then at most ``limit`` characters, the last being "…" when cut."""
    if not isinstance(text, str):
        text = str(text)
    if "\n" in text:
        text = _CELL_BREAK.sub(" ", text)
    text = clean(text)
    if limit > 0 and len(text) > limit:
        return text[: limit - 1] + "…"
    return text

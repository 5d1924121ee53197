"""Kubernetes label and field selectors, parsed the way the apiserver parses them.

Label selectors follow ``k8s.io/apimachinery/pkg/labels.Parse``::

    key=value  key==value  key!=value  key in (a,b)  key notin (a,b)
    key        !key        key>3       key<3

Field selectors follow ``k8s.io/apimachinery/pkg/fields.ParseSelector``::

    path=value  path==value  path!=value     (values escape ``\\,`` ``\\=`` ``\\\\``)

Errors raise :class:`SelectorError`, whose message is the one-line text the
apiserver would put in a 400 ``BadRequest`` Status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelRequirement",
    "LabelSelector",
    "SelectorError",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """Message is what the apiserver would put in a 400 BadRequest Status."""


# --------------------------------------------------------------------------
# Label selectors
# --------------------------------------------------------------------------

_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN_RE = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
    "or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_PREFIX_MSG = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
    "alphanumeric characters, '-' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
    "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),<>"
# Longest first, so that "!=" wins over "!" and "==" over "=".
_SYMBOLS = ("!=", "==", "!", "=", "(", ")", ",", "<", ">")
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"

# Token kinds.  Keywords ("in", "notin") read as identifiers wherever a value
# or key is expected, exactly as in the Go lexer's "Values" context.
_END, _IDENT, _IN, _NOTIN = "end", "ident", "in", "notin"


def _key_errors(key: str) -> list[str]:
    """Return the reasons ``key`` is not a valid qualified label key."""
    parts = key.split("/")
    if len(parts) == 1:
        name, prefix = parts[0], None
    elif len(parts) == 2:
        prefix, name = parts
    else:
        return [
            "a qualified name " + _NAME_MSG.removeprefix("name part ")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors: list[str] = []
    if prefix is not None:
        if not prefix:
            errors.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            errors.append("prefix part must be no more than 253 characters")
        elif not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
            errors.append(_PREFIX_MSG)
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    elif not _NAME_RE.fullmatch(name):
        errors.append(_NAME_MSG)
    return errors


def _value_errors(value: str) -> list[str]:
    """Return the reasons ``value`` is not a valid label value."""
    errors: list[str] = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if value and not _NAME_RE.fullmatch(value):
        errors.append(_VALUE_MSG)
    return errors


def _show(text: str) -> str:
    """Escape unprintable characters so that an error message stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _invalid(path: str, value: str, errors: list[str]) -> SelectorError:
    """Build the ``field.Invalid`` style error the apiserver reports."""
    return SelectorError(
        f'unable to parse requirement: {path}: Invalid value: "{_show(value)}": '
        + "; ".join(errors)
    )


def _lex(text: str) -> list[tuple[str, str]]:
    """Split a label selector into ``(kind, literal)`` tokens, ending with END."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append((_END, ""))
            return tokens
        if text[i] in _SPECIAL:
            symbol = next(s for s in _SYMBOLS if text.startswith(s, i))
            tokens.append((symbol, symbol))
            i += len(symbol)
            continue
        start = i
        while i < n and text[i] not in _WHITESPACE and text[i] not in _SPECIAL:
            i += 1
        word = text[start:i]
        tokens.append((word if word in (_IN, _NOTIN) else _IDENT, word))


@dataclass(frozen=True)
class LabelRequirement:
    """One clause of a label selector, e.g. ``tier in (a,b)``."""

    key: str
    operator: str  # one of: in notin = == != exists !exists gt lt
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Tell whether ``labels`` satisfies this requirement."""
        op, present = self.operator, self.key in labels
        if op == "exists":
            return present
        if op == "!exists":
            return not present
        if op in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        if op in ("gt", "lt"):
            try:
                have = _parse_int64(labels[self.key])
            except ValueError:
                return False
            want = _parse_int64(next(iter(self.values)))
            return have > want if op == "gt" else have < want
        return labels[self.key] in self.values


def _parse_int64(text: str) -> int:
    """Parse like Go's ``strconv.ParseInt(text, 10, 64)``."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(text)
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: the conjunction of its requirements."""

    requirements: tuple[LabelRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Tell whether an object with these labels is selected."""
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


class _LabelParser:
    """Recursive-descent parser mirroring ``labels.Parser`` in apimachinery."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, as_value: bool = True) -> tuple[str, str]:
        """Look at the next token; keywords read as identifiers for values."""
        kind, lit = self.tokens[self.pos]
        if as_value and kind in (_IN, _NOTIN):
            kind = _IDENT
        return kind, lit

    def take(self, as_value: bool = True) -> tuple[str, str]:
        """Consume the next token (END is never consumed past)."""
        token = self.peek(as_value)
        if token[0] != _END:
            self.pos += 1
        return token

    def parse(self) -> tuple[LabelRequirement, ...]:
        """Parse the whole selector."""
        requirements: list[LabelRequirement] = []
        while True:
            kind, lit = self.peek()
            if kind == _END:
                return tuple(requirements)
            if kind not in (_IDENT, "!"):
                raise SelectorError(
                    f"found '{_show(lit)}', expected: !, identifier, or 'end of string'"
                )
            requirements.append(self.requirement())
            kind, lit = self.take()
            if kind == _END:
                return tuple(requirements)
            if kind != ",":
                raise SelectorError(f"found '{_show(lit)}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in (_IDENT, "!"):
                raise SelectorError(f"found '{_show(lit)}', expected: identifier after ','")

    def requirement(self) -> LabelRequirement:
        """Parse one requirement: key, operator and values."""
        negated = False
        kind, lit = self.take()
        if kind == "!":
            negated = True
            kind, lit = self.take()
        if kind != _IDENT:
            raise SelectorError(
                f"unable to parse requirement: found '{_show(lit)}', expected: identifier"
            )
        key = lit
        if errors := _key_errors(key):
            raise _invalid("key", key, errors)
        if negated:
            return LabelRequirement(key, "!exists")
        if self.peek()[0] in (_END, ","):
            return LabelRequirement(key, "exists")

        kind, lit = self.take(as_value=False)
        operators = {_IN: "in", _NOTIN: "notin", "=": "=", "==": "==",
                     "!=": "!=", ">": "gt", "<": "lt"}
        if kind not in operators:
            raise SelectorError(
                f"unable to parse requirement: found '{_show(lit)}', expected: {_BINARY_OPERATORS}"
            )
        op = operators[kind]
        values = self.value_set() if op in ("in", "notin") else self.exact_value()
        for i, value in enumerate(sorted(values)):
            if errors := _value_errors(value):
                raise _invalid(f"values[{i}]", value, errors)
        if op in ("gt", "lt"):
            try:
                _parse_int64(next(iter(values)))
            except ValueError:
                raise _invalid(
                    "values[0]", next(iter(values)),
                    ["for 'Gt', 'Lt' operators, the value must be an integer"],
                ) from None
        return LabelRequirement(key, op, frozenset(values))

    def exact_value(self) -> set[str]:
        """Parse the single (possibly empty) value after ``=``, ``!=``, ``>``..."""
        if self.peek()[0] in (_END, ","):
            return {""}
        kind, lit = self.take()
        if kind != _IDENT:
            raise SelectorError(
                f"unable to parse requirement: found '{_show(lit)}', expected: identifier"
            )
        return {lit}

    def value_set(self) -> set[str]:
        """Parse ``(v1, v2, ...)``; empty slots count as the empty value."""
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"unable to parse requirement: found '{_show(lit)}', expected: '('")
        values: set[str] = set()
        expect_value = True
        while True:
            kind, lit = self.take()
            if kind == ")":
                if expect_value:
                    values.add("")
                return values
            if kind == ",":
                if expect_value:
                    values.add("")
                expect_value = True
            elif kind == _IDENT and expect_value:
                values.add(lit)
                expect_value = False
            else:
                expected = "',', ')' or identifier" if expect_value else "',' or ')'"
                raise SelectorError(
                    f"unable to parse requirement: found '{_show(lit)}', expected: {expected}"
                )


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query parameter; empty or None selects everything."""
    if not text:
        return LabelSelector()
    return LabelSelector(_LabelParser(text).parse())


# --------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    """One clause of a field selector, e.g. ``spec.nodeName!=``."""

    field: str
    operator: str  # "=" (also for "==") or "!="
    value: str


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: the conjunction of its requirements."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The distinct field paths used, in selector order."""
        return tuple(dict.fromkeys(r.field for r in self.requirements))

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements

    def matches(self, get: Callable[[str], str | None]) -> bool:
        """Tell whether an object is selected; ``get(path)`` reads its fields."""
        for r in self.requirements:
            have = get(r.field) or ""
            if (have == r.value) != (r.operator == "="):
                return False
        return True


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped (escapes are kept)."""
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Split ``lhs<op>rhs`` at the first operator; ``==`` is checked before ``=``."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape(value: str) -> str:
    """Undo ``\\,`` ``\\=`` ``\\\\`` escapes; bare ``,`` or ``=`` is an error."""
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(
                    f"invalid field selector: invalid escape sequence: \\{_show(ch)}"
                )
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {ch}"
            )
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str | None, supported: Collection[str]) -> FieldSelector:
    """Parse a ``fieldSelector`` query parameter against the kind's supported paths.

    Like the apiserver, whitespace is *not* trimmed: ``"a = b"`` names the
    field ``"a "``.  Terms are checked in sorted order, as the server does.
    """
    if not text:
        return FieldSelector()
    requirements: list[FieldRequirement] = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(
                f"invalid selector: '{_show(text)}'; can't understand '{_show(term)}'"
            )
        lhs, op, rhs = split
        requirements.append(FieldRequirement(lhs, "!=" if op == "!=" else "=", _unescape(rhs)))
    for r in requirements:
        if r.field not in supported:
            raise SelectorError(f"field label not supported: {_show(r.field)}")
    return FieldSelector(tuple(requirements))

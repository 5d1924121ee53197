"""Kubernetes resource quantities ("500m", "32Gi", "1k", "2e3"), read and written exactly.

The one place the client reads and writes quantities. Values are :class:`fractions.Fraction`,
so sums are exact: ten "100m" make exactly "1", "0.1" + "0.2" is exactly "300m", and a quota
check never fails by 0.30000000000000004. No I/O, no Textual, and nothing of the project is
imported (DESIGN section 2: it sits with ``domain``). The simulator keeps its own reader on
purpose; this module must never be shared with it.

Grammar (as the apiserver reads it)::

    quantity  ::= sign? number suffix
    sign      ::= "+" | "-"
    number    ::= digits | digits "." digits? | "." digits        (ASCII digits only)
    suffix    ::= "" | decimalSI | binarySI | exponent
    decimalSI ::= "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E"     (10^-9 ... 10^18)
    binarySI  ::= "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"                 (2^10 ... 2^60)
    exponent  ::= ("e" | "E") sign? digits                            (times 10^n)

"1E" is one exa (10^18); "1E3" is a thousand. Surrounding whitespace is ignored; anything else
(inner spaces, "1.2.3", "Gi", "1Qi", "1e", non-ASCII digits) is a :class:`ValueError` that
quotes the text.

API::

    parse(value) -> Quantity              try_parse(value) -> Quantity | None
    to_float(value) -> float              canonical(value) -> str
    format_plain(value, places=3) -> str  format_cores(value, *, places=3, millis=False) -> str
    format_memory(value, *, places=1) -> str
    gpu_count(value) -> int               format_gpus(value) -> str

Every function taking ``value`` accepts a :class:`Quantity`, a quantity string or a number.
"""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "Quantity",
    "canonical",
    "format_cores",
    "format_gpus",
    "format_memory",
    "format_plain",
    "gpu_count",
    "parse",
    "to_float",
    "try_parse",
]

#: The formats the apiserver keeps a quantity in (its own names); canonical output keeps them.
DECIMAL_SI = "DecimalSI"  # "1500m", "2k"
BINARY_SI = "BinarySI"  # "32Gi"
DECIMAL_EXPONENT = "DecimalExponent"  # "2e3"
_FORMATS = (DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT)

#: Longest text :func:`parse` reads (a guard against pathological input, far above any real value).
MAX_LENGTH = 256
#: Largest decimal exponent (``e400``) :func:`parse` accepts, either sign.
MAX_EXPONENT = 400

DECIMAL_SUFFIXES: dict[str, int] = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
                                    "E": 18}
BINARY_SUFFIXES: dict[str, int] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXP = {e: s for s, e in DECIMAL_SUFFIXES.items()}
_BINARY_UNITS = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")

_GRAMMAR = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
    r"(?:(?P<bin>[KMGTPE]i)|(?P<exp>[eE][+-]?[0-9]+)|(?P<dec>[numkMGTPE]?))",
    re.ASCII,
)

_NANO = Fraction(1, 10 ** 9)

Number = int | float | Fraction | Decimal


class Quantity:
    """An exact quantity: ``value`` (a Fraction, in base units: cores, bytes, GPUs) and the ``format``
    it was written in (:data:`DECIMAL_SI`, :data:`BINARY_SI`, :data:`DECIMAL_EXPONENT`), which only
    :func:`canonical` uses.

    Equality, ordering and hashing look at the value alone (``parse("1") == parse("1000m")``,
    and a Quantity equals the int or Fraction of the same value). ``+``, ``-`` and comparisons
    take another Quantity or a number (ints, Fractions, Decimals, and floats read as their
    shortest decimal, so ``0.1`` means 1/10); ``*`` and ``/`` take a number, and a Quantity
    divided by a Quantity is their ratio as a Fraction. A result keeps the left operand's format
    (as the apiserver's ``Add`` does). ``float(q)`` and ``int(q)`` (truncating) convert.
    """

    __slots__ = ("_format", "_value")

    def __init__(self, value: Number | Quantity = 0, format: str = DECIMAL_SI) -> None:
        if format not in _FORMATS:
            raise ValueError(f"unknown quantity format {format!r}; one of {', '.join(_FORMATS)}")
        self._value = _number(value) if not isinstance(value, Quantity) else value.value
        self._format = format

    @property
    def value(self) -> Fraction:
        return self._value

    @property
    def format(self) -> str:
        return self._format

    # -------------------------------------------------------------------------------- conversions
    def __float__(self) -> float:
        return float(self._value)  # OverflowError beyond a float's range

    def __int__(self) -> int:
        return int(self._value)

    def __bool__(self) -> bool:
        return self._value != 0

    def __str__(self) -> str:
        return canonical(self)

    def __repr__(self) -> str:
        return f"Quantity({canonical(self)!r})"

    # -------------------------------------------------------------------------------- comparisons
    def __hash__(self) -> int:
        return hash(self._value)

    def __eq__(self, other: object) -> bool:
        o = _operand(other)
        return NotImplemented if o is None else self._value == o

    def __lt__(self, other: object) -> bool:
        o = _operand(other)
        return NotImplemented if o is None else self._value < o

    def __le__(self, other: object) -> bool:
        o = _operand(other)
        return NotImplemented if o is None else self._value <= o

    def __gt__(self, other: object) -> bool:
        o = _operand(other)
        return NotImplemented if o is None else self._value > o

    def __ge__(self, other: object) -> bool:
        o = _operand(other)
        return NotImplemented if o is None else self._value >= o

    # -------------------------------------------------------------------------------- arithmetic
    @classmethod
    def _exact(cls, value: Fraction, format: str) -> Quantity:
        q = cls.__new__(cls)
        q._value, q._format = value, format
        return q

    def _new(self, value: Fraction) -> Quantity:
        return Quantity._exact(value, self._format)

    def __add__(self, other: object) -> Quantity:
        o = _operand(other)
        return NotImplemented if o is None else self._new(self._value + o)

    __radd__ = __add__  # so sum() of quantities works (0 + q)

    def __sub__(self, other: object) -> Quantity:
        o = _operand(other)
        return NotImplemented if o is None else self._new(self._value - o)

    def __rsub__(self, other: object) -> Quantity:
        o = _operand(other)
        return NotImplemented if o is None else self._new(o - self._value)

    def __neg__(self) -> Quantity:
        return self._new(-self._value)

    def __pos__(self) -> Quantity:
        return self

    def __abs__(self) -> Quantity:
        return self._new(abs(self._value))

    def __mul__(self, other: object) -> Quantity:
        if isinstance(other, Quantity):
            return NotImplemented
        o = _operand(other)
        return NotImplemented if o is None else self._new(self._value * o)

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> Quantity | Fraction:
        if isinstance(other, Quantity):
            return self._value / other.value
        o = _operand(other)
        return NotImplemented if o is None else self._new(self._value / o)


QuantityLike = Quantity | str | Number


def _number(v: object) -> Fraction:
    """An exact Fraction of a number; ValueError for bools, NaN, infinities and anything else."""
    if isinstance(v, bool):
        raise ValueError(f"not a quantity: {v!r} (a bool)")  # noqa: TRY004 - one error type for all bad input
    if isinstance(v, (int, Fraction)):
        return Fraction(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"not a quantity: {v!r}")
        return Fraction(repr(v))  # the decimal the float was written as: 0.1 -> 1/10
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError(f"not a quantity: {v!r}")
        return Fraction(v)
    raise ValueError(f"not a quantity: {v!r}")


def _operand(other: object) -> Fraction | None:
    """The exact value of an arithmetic/comparison operand, or None (NotImplemented) for other types."""
    if isinstance(other, Quantity):
        return other.value
    if isinstance(other, bool) or not isinstance(other, (int, float, Fraction, Decimal)):
        return None
    try:
        return _number(other)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------ parsing
def parse(value: QuantityLike) -> Quantity:
    """A quantity from its text ("500m", "32Gi", "1.5", "2e3", "+1Ki", " 4 ") or a number.

    Numbers: ints, Fractions and Decimals exactly; a float as its shortest decimal (``0.1`` is
    1/10, not the binary float). A Quantity is returned as is. Raises ValueError, quoting the
    input, for text outside the grammar (module docstring), text over :data:`MAX_LENGTH`
    characters, exponents beyond :data:`MAX_EXPONENT`, bools, NaN, infinities and other types.
    """
    if isinstance(value, Quantity):
        return value
    if not isinstance(value, str):
        return Quantity(_number(value))
    if len(value) > MAX_LENGTH:
        raise ValueError(f"not a quantity: {value[:40]!r}... ({len(value)} characters; at most {MAX_LENGTH})")
    return _parse_text(value)


@functools.lru_cache(maxsize=4096)
def _parse_text(value: str) -> Quantity:
    """The text path of :func:`parse`, cached: a cluster repeats the same few quantities ("1",
    "500m", "4Gi") across thousands of pods, and Quantity is immutable."""
    m = _GRAMMAR.fullmatch(value.strip())
    if m is None or not (m.group("int") or m.group("frac")):
        raise ValueError(f"not a quantity: {value!r} (e.g. '500m', '1.5', '32Gi', '2e3')")
    digits_int, digits_frac = m.group("int"), m.group("frac") or ""
    num, den = int(digits_int + digits_frac or "0"), 10 ** len(digits_frac)
    if m.group("sign") == "-":
        num = -num
    if m.group("bin"):
        num, fmt = num * 2 ** BINARY_SUFFIXES[m.group("bin")], BINARY_SI
    else:
        if m.group("exp"):
            exp, fmt = int(m.group("exp")[1:]), DECIMAL_EXPONENT
            if abs(exp) > MAX_EXPONENT:
                raise ValueError(f"not a quantity: {value!r} (exponent beyond +-{MAX_EXPONENT})")
        else:
            exp, fmt = DECIMAL_SUFFIXES[m.group("dec")], DECIMAL_SI
        if exp >= 0:
            num *= 10 ** exp
        else:
            den *= 10 ** -exp
    return Quantity._exact(Fraction(num, den), fmt)


def try_parse(value: object) -> Quantity | None:
    """:func:`parse`, but None instead of ValueError (for values read off the wire)."""
    try:
        return parse(value)  # type: ignore[arg-type]
    except ValueError:
        return None


def _value(value: QuantityLike) -> Fraction:
    return parse(value).value


def to_float(value: QuantityLike) -> float:
    """The nearest float (for plotting, ratios, legacy float fields). OverflowError beyond a float's
    range ("1e400"); values too small for a float become 0.0."""
    return float(_value(value))


# ------------------------------------------------------------------------------------------ canonical form
def canonical(value: QuantityLike) -> str:
    """The apiserver's canonical text of a quantity: exact, no fractional digits, the largest suffix.

    Rules (those of apimachinery's ``Quantity.String``):

    - The value is first rounded up (away from zero) to a whole number of nano units, the
      apiserver's precision: "0.1n" -> "1n". Apart from that nothing is lost.
    - Decimal formats: value = m * 10^e with m an integer without trailing zeros and e a
      multiple of 3 (lowered to one if needed): "1.5" -> "1500m", "1000" -> "1k",
      "1500" -> "1500", "0.1" -> "100m", "0" -> "0". DecimalSI writes e as a suffix (n ... E;
      beyond E the mantissa grows: 10^21 -> "1000E"); DecimalExponent as "e<e>" ("2e3" ->
      "2e3", "1.5e3" -> "1500").
    - BinarySI (read from Ki ... Ei) stays binary when the value is a whole number of bytes and
      at least 1024 in size: the largest power of 1024 that divides it ("2048Mi" -> "2Gi",
      "1.5Gi" -> "1536Mi", "1025Ki" -> "1025Ki", "1Ei" stays); otherwise it is written as
      DecimalSI ("0.5Ki" -> "512", "1.5Ki" -> "1536", "1m"... never binary).
    - Negative values carry a "-"; positive values no sign.

    ``parse(canonical(q)) == q`` for every q that is a whole number of nano units.
    """
    q = parse(value)
    v = _round_up_nano(q.value)
    fmt = q.format
    if fmt == BINARY_SI:
        if abs(v) < 1024 or v.denominator != 1:
            fmt = DECIMAL_SI
        else:
            n, k = abs(v.numerator), 0
            while k < len(_BINARY_UNITS) - 1 and n % 1024 == 0:
                n, k = n // 1024, k + 1
            return ("-" if v < 0 else "") + str(n) + _BINARY_UNITS[k]
    n, e = abs(int(v / _NANO)), -9
    if n == 0:
        return "0"
    while n % 10 == 0:
        n, e = n // 10, e + 1
    drop = e % 3  # lower e to a multiple of 3
    n, e = n * 10 ** drop, e - drop
    sign = "-" if v < 0 else ""
    if fmt == DECIMAL_EXPONENT:
        return f"{sign}{n}" + (f"e{e}" if e else "")
    if e > 18:
        n, e = n * 10 ** (e - 18), 18
    return f"{sign}{n}{_DECIMAL_BY_EXP[e]}"


def _round_up_nano(v: Fraction) -> Fraction:
    scaled = v / _NANO
    if scaled.denominator == 1:
        return v
    whole = math.ceil(abs(scaled))
    return Fraction(whole if v > 0 else -whole) * _NANO


# ------------------------------------------------------------------------------------------ for people
def _round(v: Fraction, places: int) -> Fraction:
    """v rounded to ``places`` decimals, halves away from zero (0.125 -> 0.13 at 2 places)."""
    scale = 10 ** places
    n = math.floor(abs(v) * scale + Fraction(1, 2))
    return Fraction(n if v >= 0 else -n, scale)


def _decimal_text(v: Fraction, places: int) -> str:
    """A rounded value as plain decimal text, trailing zeros dropped: '1.5', '92.7', '3', never '-0'."""
    r = _round(v, places)
    n = abs(r.numerator) * (10 ** places // r.denominator)
    whole, frac = divmod(n, 10 ** places)
    text = str(whole)
    if places and frac:
        text += "." + str(frac).rjust(places, "0").rstrip("0")
    return ("-" + text) if r < 0 else text


def format_plain(value: QuantityLike, places: int = 3) -> str:
    """A plain decimal number, no suffix and no exponent: rounded to ``places`` decimals (halves
    away from zero), trailing zeros dropped. "92700m" -> "92.7", "2k" -> "2000", "1n" -> "0"."""
    if places < 0:
        raise ValueError(f"places must be 0 or more, not {places}")
    return _decimal_text(_value(value), places)


def format_cores(value: QuantityLike, *, places: int = 3, millis: bool = False) -> str:
    """CPU for people.

    Plain cores by default: :func:`format_plain` at ``places`` decimals ("1.5", "0.25",
    "92.7", "4"). With ``millis=True`` a value under one core is written in millicores, rounded
    to a whole millicore ("250m", "1m"; a value that rounds to 0 is "0", one that rounds to
    1000m is "1"), and a larger one in cores as above ("1.5").
    """
    v = _value(value)
    if millis and abs(v) < 1:
        m = _round(v * 1000, 0)
        if m == 0:
            return "0"
        if abs(m) < 1000:
            return f"{m.numerator}m"
    return format_plain(v, places)


def format_memory(value: QuantityLike, *, places: int = 1) -> str:
    """Bytes for people, in binary units: the largest of Ki ... Ei the value reaches, rounded to
    ``places`` decimals (halves away from zero), trailing zeros dropped: "32Gi", "1.5Gi",
    "512Mi", "2Ei". Under 1Ki: whole bytes, no unit ("512"). A value that rounds up to 1024 of
    a unit moves to the next ("1023.96Mi" -> "1Gi")."""
    v = _value(value)
    k = 0
    while k < len(_BINARY_UNITS) - 1 and abs(v) >= 1024 ** (k + 1):
        k += 1
    while True:
        p = places if k else 0
        r = _round(v / 1024 ** k, p)
        if abs(r) >= 1024 and k < len(_BINARY_UNITS) - 1:
            k += 1
            continue
        return _decimal_text(r, p) + _BINARY_UNITS[k]


def gpu_count(value: QuantityLike) -> int:
    """GPUs as a whole number. Kubernetes allows only whole extended resources, so there is no
    fraction in practice; one that gets here (a difference of floats, say) is truncated toward 0."""
    return int(_value(value))


def format_gpus(value: QuantityLike) -> str:
    """GPUs as an integer: "4", "0" (see :func:`gpu_count`)."""
    return str(gpu_count(value))

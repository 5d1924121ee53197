"""prophecis_tui.quantity: the Kubernetes quantity grammar, exact arithmetic, formatting."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prophecis_tui import quantity as q
from prophecis_tui.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    Quantity,
    canonical,
    format_cores,
    format_gpus,
    format_memory,
    format_plain,
    gpu_count,
    parse,
    to_float,
    try_parse,
)


# ------------------------------------------------------------------------------------------ grammar
@pytest.mark.parametrize("text,value,fmt", [
    ("0", F(0), DECIMAL_SI),
    ("1", F(1), DECIMAL_SI),
    ("7n", F(7, 10 ** 9), DECIMAL_SI),
    ("250u", F(250, 10 ** 6), DECIMAL_SI),
    ("500m", F(1, 2), DECIMAL_SI),
    ("2k", F(2000), DECIMAL_SI),
    ("3M", F(3 * 10 ** 6), DECIMAL_SI),
    ("1G", F(10 ** 9), DECIMAL_SI),
    ("4T", F(4 * 10 ** 12), DECIMAL_SI),
    ("5P", F(5 * 10 ** 15), DECIMAL_SI),
    ("1E", F(10 ** 18), DECIMAL_SI),
    ("1Ki", F(1024), BINARY_SI),
    ("64Mi", F(64 * 2 ** 20), BINARY_SI),
    ("32Gi", F(32 * 2 ** 30), BINARY_SI),
    ("1Ti", F(2 ** 40), BINARY_SI),
    ("3Pi", F(3 * 2 ** 50), BINARY_SI),
    ("2Ei", F(2 * 2 ** 60), BINARY_SI),
    ("1e3", F(1000), DECIMAL_EXPONENT),
    ("1E3", F(1000), DECIMAL_EXPONENT),
    ("2e+3", F(2000), DECIMAL_EXPONENT),
    ("1E-2", F(1, 100), DECIMAL_EXPONENT),
    ("5e-1", F(1, 2), DECIMAL_EXPONENT),
    ("1.5e3", F(1500), DECIMAL_EXPONENT),
    ("0e0", F(0), DECIMAL_EXPONENT),
    ("+4", F(4), DECIMAL_SI),
    ("-2", F(-2), DECIMAL_SI),
    ("+1Ki", F(1024), BINARY_SI),
    ("-1.5Gi", F(-3 * 2 ** 29), BINARY_SI),
    ("1.5", F(3, 2), DECIMAL_SI),
    (".5", F(1, 2), DECIMAL_SI),
    ("5.", F(5), DECIMAL_SI),
    ("-.25k", F(-250), DECIMAL_SI),
    ("0.1", F(1, 10), DECIMAL_SI),
    ("165700m", F(1657, 10), DECIMAL_SI),
    ("007", F(7), DECIMAL_SI),
    ("0.5Ki", F(512), BINARY_SI),
    (" 4Gi ", F(4 * 2 ** 30), BINARY_SI),
    ("1e400", F(10) ** 400, DECIMAL_EXPONENT),
])
def test_grammar(text, value, fmt) -> None:
    got = parse(text)
    assert got.value == value and type(got.value) is F
    assert got.format == fmt


@pytest.mark.parametrize("text", [
    "", " ", "Gi", "m", "e3", "+", "-", ".", "+.", "1.2.3", "1..2", "1 Gi", "1Qi", "1K", "1ki", "1gi", "1KiB",
    "1e", "1e+", "1e3.5", "1ee3", "1Ki3", "1mm", "--1", "+-1", "1,5", "1_000", "0x10", "inf", "nan", "Infinity",
    "1.5.", "١", "1\n2", "e", "E", "1E+", "1GiB", "1e401", "1e-401", "9" * 300,
])
def test_rejects(text) -> None:
    with pytest.raises(ValueError) as e:
        parse(text)
    assert repr(text[:40]) in str(e.value)  # the message quotes what was given
    assert try_parse(text) is None


@pytest.mark.parametrize("bad", [True, False, float("nan"), float("inf"), -float("inf"), None, [], {}, b"1",
                                 Decimal("NaN"), Decimal("Infinity"), object()])
def test_rejects_non_quantities(bad) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse(bad)
    assert try_parse(bad) is None


def test_numbers() -> None:
    assert parse(4).value == 4 and parse(4).format == DECIMAL_SI
    assert parse(0.1).value == F(1, 10)  # a float is read as the decimal it was written as
    assert parse(2.5).value == F(5, 2)
    assert parse(1e300).value == F(10) ** 300
    assert parse(F(1, 3)).value == F(1, 3)
    assert parse(Decimal("0.25")).value == F(1, 4)
    x = parse("1Gi")
    assert parse(x) is x


# ------------------------------------------------------------------------------------------ exactness
def test_exact_sums() -> None:
    assert parse("500m") + parse("500m") == parse("1")
    assert parse("0.1") + parse("0.2") == parse("300m")
    assert sum(parse("100m") for _ in range(10)) == 1
    assert sum([parse("100m")] * 1000) == parse("100")
    assert sum(parse(0.1) for _ in range(10)) == 1  # floats read as decimals
    assert parse("1Gi") - parse("512Mi") == parse("512Mi")
    assert parse("1") - parse("1m") == parse("999m")
    assert parse("3") - 1 == 2 and 5 - parse("2") == 3
    assert parse("1") + 0.1 == parse("1100m")
    assert parse("100m") * 3 == parse("300m") == 3 * parse("100m")
    assert parse("1") / 3 * 3 == 1
    assert parse("1Gi") / parse("512Mi") == 2
    assert -parse("5") == parse("-5") and abs(parse("-5")) == 5 and +parse("5") == 5


def test_result_keeps_left_format() -> None:
    assert (parse("1Gi") + parse("500m")).format == BINARY_SI
    assert (parse("500m") + parse("1Gi")).format == DECIMAL_SI
    assert (0 + parse("1e3")).format == DECIMAL_EXPONENT
    assert str(parse("1Gi") + parse("1Gi")) == "2Gi"


def test_comparisons() -> None:
    assert parse("1") == parse("1000m") == parse("1e0") == 1 == F(1)
    assert hash(parse("1")) == hash(parse("1000m")) == hash(1)
    assert len({parse("1"), parse("1000m"), parse("1e3"), parse("1k")}) == 2
    assert parse("999m") < parse("1") <= parse("1000m") < parse("1001m")
    assert parse("1Ki") > parse("1k") >= parse("1e3")
    assert parse("-1") < 0 < parse("1n")
    assert parse("100m") + parse("200m") <= parse("300m")  # 0.1 + 0.2 > 0.3 in floats
    assert not parse("100m") + parse("200m") > parse("300m")
    assert parse("1") != "1"  # text is not compared; parse it first
    assert max(parse("2"), parse("1500m")) == 2
    assert not parse("0") and parse("1m")
    with pytest.raises(TypeError):
        parse("1") < "2"  # noqa: B015
    with pytest.raises(TypeError):
        parse("1") * parse("2")


def test_floats_and_ints() -> None:
    assert to_float("500m") == 0.5 and float(parse("32Gi")) == 32 * 2.0 ** 30
    assert to_float("1e-400") == 0.0
    with pytest.raises(OverflowError):
        to_float("1e400")
    assert int(parse("1999m")) == 1 and int(parse("-1999m")) == -1


# ------------------------------------------------------------------------------------------ canonical
@pytest.mark.parametrize("text,expected", [
    ("1500m", "1500m"), ("1.5", "1500m"), ("0.1", "100m"), ("1000", "1k"), ("1500", "1500"), ("1000m", "1"),
    ("0", "0"), ("0Gi", "0"), ("-0", "0"), ("+5", "5"), ("-1.5", "-1500m"), ("1k", "1k"), ("1000k", "1M"),
    ("1E", "1E"), ("10E", "10E"), ("1000E", "1000E"), ("250u", "250u"), ("1n", "1n"), ("0.1n", "1n"),
    ("-0.1n", "-1n"), ("1.0000000001", "1000000001n"), ("12345", "12345"), ("123.45k", "123450"),
    ("2048Mi", "2Gi"), ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"), ("1Ki", "1Ki"), ("1025Ki", "1025Ki"),
    ("1024", "1024"), ("0.5Ki", "512"), ("1.5Ki", "1536"), ("1024Ei", "1024Ei"), ("-2Ki", "-2Ki"),
    ("1e3", "1e3"), ("1E3", "1e3"), ("1.5e3", "1500"), ("12e2", "1200"), ("1e-3", "1e-3"), ("1e0", "1"),
    ("2e21", "2e21"), ("1e21", "1e21"), ("0e5", "0"),
])
def test_canonical(text, expected) -> None:
    assert canonical(text) == expected == str(parse(text))
    assert repr(parse(text)) == f"Quantity({expected!r})"
    if (parse(text).value * 10 ** 9).denominator == 1:  # nano precision: nothing lost
        assert parse(canonical(text)) == parse(text)


def test_canonical_of_large_decimal() -> None:
    assert canonical(Quantity(10 ** 21)) == "1000E"
    assert canonical(2.5) == "2500m" and canonical(0) == "0"


# ------------------------------------------------------------------------------------------ for people
@pytest.mark.parametrize("value,expected", [
    ("1.5", "1.5"), ("4", "4"), ("250m", "0.25"), ("92700m", "92.7"), ("1234567m", "1234.567"), ("1k", "1000"),
    ("1n", "0"), ("1500u", "0.002"), ("-1500m", "-1.5"), ("-1n", "0"), (F(1, 3), "0.333"), (F(2, 3), "0.667"),
    ("1e6", "1000000"), ("0.0005", "0.001"),
])
def test_format_cores(value, expected) -> None:
    assert format_cores(value) == expected


@pytest.mark.parametrize("value,expected", [
    ("250m", "250m"), ("1m", "1m"), ("1.5", "1.5"), ("1", "1"), ("999m", "999m"), ("0.9999", "1"),
    ("0", "0"), ("100u", "0"), ("500u", "1m"), ("-250m", "-250m"), ("2500m", "2.5"),
])
def test_format_cores_millis(value, expected) -> None:
    assert format_cores(value, millis=True) == expected


def test_format_plain_places() -> None:
    assert format_plain("0.125", 2) == "0.13" and format_plain("-0.125", 2) == "-0.13"  # halves away from 0
    assert format_plain("2.5", 0) == "3" and format_plain("1.05", 1) == "1.1"
    with pytest.raises(ValueError):
        format_plain("1", -1)


@pytest.mark.parametrize("value,expected", [
    ("32Gi", "32Gi"), ("1.5Gi", "1.5Gi"), ("512Mi", "512Mi"), ("1536Mi", "1.5Gi"), ("100Mi", "100Mi"),
    ("1Ki", "1Ki"), ("1000", "1000"), ("512", "512"), ("0", "0"), ("1m", "0"), ("1Ti", "1Ti"), ("2048Ti", "2Pi"),
    ("3Ei", "3Ei"), ("2048Ei", "2048Ei"), ("1G", "953.7Mi"), ("4G", "3.7Gi"), ("-512Mi", "-512Mi"),
    (1023.99 * 2 ** 20, "1Gi"), (1023.4 * 2 ** 20, "1023.4Mi"), (1023.7, "1Ki"), ("1.96Gi", "2Gi"),
    ("1.94Gi", "1.9Gi"), (8589934592, "8Gi"),
])
def test_format_memory(value, expected) -> None:
    assert format_memory(value) == expected
    assert abs(to_float(expected) - to_float(value)) <= 0.05 * abs(to_float(value)) + 1


def test_format_memory_places() -> None:
    assert format_memory("1.25Gi", places=2) == "1.25Gi" and format_memory("1.25Gi", places=0) == "1Gi"
    assert format_memory("96Gi", places=2) == "96Gi"


@pytest.mark.parametrize("value,expected", [
    ("4", 4), (8.0, 8), ("0", 0), ("1500m", 1), ("-1", -1), ("1k", 1000), (15.999999999999998, 15),
])
def test_gpus(value, expected) -> None:
    assert gpu_count(value) == expected and format_gpus(value) == str(expected)


def test_formatting_rejects_garbage() -> None:
    for fn in (canonical, format_cores, format_memory, format_gpus, format_plain, to_float):
        with pytest.raises(ValueError, match="'12 cores'"):
            fn("12 cores")


def test_quantity_constructor() -> None:
    assert Quantity(F(3, 2)).value == F(3, 2) and Quantity().value == 0
    assert Quantity(parse("1Gi"), BINARY_SI) == parse("1Gi")
    with pytest.raises(ValueError, match="format"):
        Quantity(1, "Binary")
    with pytest.raises(ValueError):
        Quantity(True)


# ------------------------------------------------------------------------------------------ properties
_SUFFIXES = list(q.DECIMAL_SUFFIXES) + list(q.BINARY_SUFFIXES)
texts = st.builds(
    lambda sign, whole, frac, suffix: f"{sign}{whole}{'.' + frac if frac else ''}{suffix}",
    st.sampled_from(["", "+", "-"]),
    st.integers(min_value=0, max_value=10 ** 12).map(str),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=9)),
    st.one_of(st.sampled_from(_SUFFIXES), st.integers(min_value=-9, max_value=30).map(lambda e: f"e{e}")),
)


def _nano(v: F) -> bool:
    return (v * 10 ** 9).denominator == 1


@settings(max_examples=500, deadline=None)
@given(texts)
def test_canonical_round_trip(text) -> None:
    x = parse(text)
    c = canonical(x)
    back = parse(c)
    if _nano(x.value):
        assert back == x  # exact, the same value
        assert canonical(back) == c  # and canonical is a fixed point
    else:  # below the apiserver's nano precision: rounded up, away from zero, by less than 1n
        assert abs(back.value) > abs(x.value) and abs(back.value - x.value) < F(1, 10 ** 9)
    assert c == c.strip() and not c.startswith("+") and "." not in c


@settings(max_examples=300, deadline=None)
@given(st.fractions(max_denominator=10 ** 6).filter(lambda v: abs(v) < 10 ** 30),
       st.sampled_from([DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT]))
def test_canonical_round_trip_of_nano_values(v, fmt) -> None:
    x = Quantity(F(math.floor(v * 10 ** 9), 10 ** 9), fmt)
    assert parse(canonical(x)) == x


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=20))
def test_sums_are_exact(items) -> None:
    total = sum(parse(t) for t in items)
    assert total.value == sum((parse(t).value for t in items), F(0))
    assert total - parse(items[0]) == sum((parse(t) for t in items[1:]), Quantity(0))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10 ** 15), st.sampled_from(_SUFFIXES))
def test_float_agrees_with_exact(n, suffix) -> None:
    scale = 10.0 ** q.DECIMAL_SUFFIXES[suffix] if suffix in q.DECIMAL_SUFFIXES else 2.0 ** q.BINARY_SUFFIXES[suffix]
    assert to_float(f"{n}{suffix}") == pytest.approx(n * scale, rel=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2 ** 70))
def test_format_memory_is_close(n) -> None:
    text = format_memory(n)
    assert abs(parse(text).value - n) <= max(F(n, 19), F(1, 2))  # at most half a tenth of the unit off

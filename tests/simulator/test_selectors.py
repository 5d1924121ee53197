"""Tests for the simulator's Kubernetes label and field selector parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prophecis_tui.simulator.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)

POD = {
    "app": "notebook",
    "tier": "gpu",
    "training.kubeflow.org/job-name": "mnist-tf",
    "MLSS-USER": "alice",
    "prophecis-UserId": "u42",
    "empty": "",
    "replicas": "3",
}


# --------------------------------------------------------------------------
# Label selectors: matching
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        # equality, all three spellings
        ("app=notebook", True),
        ("app==notebook", True),
        ("app=other", False),
        ("app!=other", True),
        ("app!=notebook", False),
        # set membership
        ("tier in (gpu,cpu)", True),
        ("tier in (cpu)", False),
        ("tier notin (cpu, npu)", True),
        ("tier notin (gpu)", False),
        ("tier in(gpu)", True),
        # existence
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        # != and notin select objects that lack the key
        ("missing!=x", True),
        ("missing notin (x,y)", True),
        ("missing=x", False),
        ("missing in (x)", False),
        # empty values
        ("empty=", True),
        ("empty==", True),
        ("app=", False),
        ("missing=", False),
        ("empty in ()", True),
        ("empty in (,x)", True),
        ("tier in (x,)", False),
        ("empty notin (x,,y)", False),
        # prefixes and uppercase keys
        ("training.kubeflow.org/job-name=mnist-tf", True),
        ("training.kubeflow.org/job-name in (mnist-tf, other)", True),
        ("MLSS-USER=alice", True),
        ("MLSS-USER=bob", False),
        ("prophecis-UserId=u42", True),
        # whitespace around tokens
        ("  app = notebook ,  tier in ( gpu , cpu )  ", True),
        ("app\t==\tnotebook", True),
        ("! missing", True),
        # conjunctions
        ("app=notebook,tier=gpu,!missing,MLSS-USER", True),
        ("app=notebook,tier=cpu", False),
        # keywords are ordinary words where a key or value is expected
        ("app notin (in, notin)", True),
        # numeric comparisons (gt / lt)
        ("replicas>2", True),
        ("replicas<3", False),
        ("app>1", False),
        ("missing<9", False),
    ],
)
def test_label_selector_matches(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(POD) is expected


@pytest.mark.parametrize("text", [None, "", "   ", "\t\n"])
def test_empty_label_selector_selects_everything(text: str | None) -> None:
    selector = parse_label_selector(text)
    assert selector.empty
    assert selector.matches(POD)
    assert selector.matches({})
    assert selector.matches(None)


def test_non_empty_selector_is_not_empty() -> None:
    assert not parse_label_selector("app").empty


def test_none_labels_count_as_no_labels() -> None:
    assert parse_label_selector("app!=x").matches(None)
    assert parse_label_selector("!app").matches(None)
    assert not parse_label_selector("app").matches(None)


# --------------------------------------------------------------------------
# Label selectors: errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ("=x", "found '=', expected: !, identifier, or 'end of string'"),
        (",", "found ',', expected: !, identifier, or 'end of string'"),
        ("app=a b", "found 'b', expected: ',' or 'end of string'"),
        ("app,", "found '', expected: identifier after ','"),
        ("app,,tier", "found ',', expected: identifier after ','"),
        ("app tier", "unable to parse requirement: found 'tier', expected: in, notin"),
        ("app in gpu", "expected: '('"),
        ("app in (a b)", "found 'b', expected: ',' or ')'"),
        ("app in (a", "found '', expected: ',' or ')'"),
        ("app in (=)", "found '=', expected: ',', ')' or identifier"),
        ("app = = x", "found '=', expected: identifier"),
        ("!app=x", "found '=', expected: ',' or 'end of string'"),
        ("!", "found '', expected: identifier"),
        ("app=-bad", 'values[0]: Invalid value: "-bad"'),
        ("app=" + "v" * 64, "must be no more than 63 characters"),
        ("-app=x", 'key: Invalid value: "-app"'),
        ("Example.com/app=x", "prefix part a lowercase RFC 1123 subdomain"),
        ("/app=x", "prefix part must be non-empty"),
        ("example.com/=x", "name part must be non-empty"),
        ("a/b/c=x", "a qualified name must consist of"),
        ("k" * 64, "name part must be no more than 63 characters"),
        ("app>x", "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("app<", "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("app=x\x0by", "x\\x0by"),
    ],
)
def test_invalid_label_selectors(selector: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(selector)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_selector_error_is_a_value_error() -> None:
    assert issubclass(SelectorError, ValueError)


# --------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------

SUPPORTED = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}


def getter(values: dict[str, str | None]):
    """Build the ``get(field_path)`` callback for an object with these fields."""
    return lambda path: values.get(path)


@pytest.mark.parametrize(
    ("selector", "fields", "expected"),
    [
        ("status.phase=Running", {"status.phase": "Running"}, True),
        ("status.phase==Running", {"status.phase": "Running"}, True),
        ("status.phase!=Running", {"status.phase": "Running"}, False),
        ("status.phase!=Failed", {"status.phase": "Running"}, True),
        ("status.phase=Failed", {"status.phase": "Running"}, False),
        # a missing field reads as the empty string
        ("spec.nodeName=", {}, True),
        ("spec.nodeName=", {"spec.nodeName": None}, True),
        ("spec.nodeName=", {"spec.nodeName": "node-1"}, False),
        ("spec.nodeName!=", {"spec.nodeName": "node-1"}, True),
        ("spec.nodeName!=", {}, False),
        # conjunction, with an empty term skipped
        (
            "metadata.namespace=ns1,,status.phase!=Succeeded,",
            {"metadata.namespace": "ns1", "status.phase": "Pending"},
            True,
        ),
        (
            "metadata.namespace=ns1,status.phase!=Succeeded",
            {"metadata.namespace": "ns1", "status.phase": "Succeeded"},
            False,
        ),
        # escaped separators are data
        (r"metadata.name=a\,b", {"metadata.name": "a,b"}, True),
        (r"metadata.name=a\=b", {"metadata.name": "a=b"}, True),
        (r"metadata.name=a\\b", {"metadata.name": "a\\b"}, True),
        (r"metadata.name==\=", {"metadata.name": "="}, True),
        # values are not restricted like label values
        ("metadata.name=Some Name/x", {"metadata.name": "Some Name/x"}, True),
    ],
)
def test_field_selector_matches(selector: str, fields: dict, expected: bool) -> None:
    assert parse_field_selector(selector, SUPPORTED).matches(getter(fields)) is expected


def test_field_selector_reports_fields_used() -> None:
    selector = parse_field_selector(
        "status.phase=Running,metadata.name!=x,status.phase!=Failed", SUPPORTED
    )
    assert sorted(selector.fields) == ["metadata.name", "status.phase"]
    assert not selector.empty


@pytest.mark.parametrize("text", [None, "", ","])
def test_empty_field_selector(text: str | None) -> None:
    selector = parse_field_selector(text, SUPPORTED)
    assert selector.empty
    assert selector.fields == ()
    assert selector.matches(getter({}))


@pytest.mark.parametrize("path", ["spec.schedulerName", "metadata.labels", "status.phase "])
def test_unsupported_field_message_is_exact(path: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(f"{path}=x", SUPPORTED)
    assert str(info.value) == f"field label not supported: {path}"


def test_whitespace_is_not_trimmed_in_field_selectors() -> None:
    """The apiserver reads ``status.phase = x`` as the field ``"status.phase "``."""
    with pytest.raises(SelectorError, match="^field label not supported: status.phase $"):
        parse_field_selector("status.phase = Running", SUPPORTED)
    selector = parse_field_selector("status.phase= Running", SUPPORTED)
    assert selector.matches(getter({"status.phase": " Running"}))
    assert not selector.matches(getter({"status.phase": "Running"}))


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ("status.phase", "invalid selector: 'status.phase'; can't understand 'status.phase'"),
        ("status.phase=a=b", "unescaped character in value: ="),
        ("status.phase==a=b", "unescaped character in value: ="),
        (r"status.phase=a\b", r"invalid escape sequence: \b"),
        ("status.phase=a\\", "invalid escape sequence: \\"),
    ],
)
def test_invalid_field_selectors(selector: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(selector, SUPPORTED)
    assert fragment in str(info.value)


def test_syntax_errors_win_over_unsupported_fields() -> None:
    with pytest.raises(SelectorError, match="escape"):
        parse_field_selector(r"bogus=1,status.phase=\x", SUPPORTED)


# --------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_NAME = st.builds(
    lambda first, middle, last: first + middle + last if middle or last else first,
    st.sampled_from(_ALNUM),
    st.text(_ALNUM + "-_.", max_size=10),
    st.sampled_from(_ALNUM) | st.just(""),
).filter(lambda name: name[-1] in _ALNUM)
_PREFIX = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?(\.[a-z0-9]{1,5}){0,2}", fullmatch=True)
_KEY = _NAME | st.builds(lambda p, n: f"{p}/{n}", _PREFIX, _NAME)
_VALUE = _NAME | st.just("")


@given(labels=st.dictionaries(_KEY, _VALUE, max_size=6), key=_KEY, value=_VALUE,
       op=st.sampled_from(["=", "==", "!="]), pick_existing=st.booleans())
def test_equality_selector_agrees_with_dict_lookup(
    labels: dict[str, str], key: str, value: str, op: str, pick_existing: bool
) -> None:
    if pick_existing and labels:
        key = sorted(labels)[0]
    selector = parse_label_selector(f"{key}{op}{value}")
    equal = key in labels and labels[key] == value
    assert selector.matches(labels) is (not equal if op == "!=" else equal)


@given(labels=st.dictionaries(_KEY, _VALUE, max_size=6),
       key=_KEY, values=st.lists(_VALUE, min_size=1, max_size=4))
def test_set_selector_agrees_with_dict_lookup(
    labels: dict[str, str], key: str, values: list[str]
) -> None:
    inside = key in labels and labels[key] in values
    listed = ", ".join(values)
    assert parse_label_selector(f"{key} in ({listed})").matches(labels) is inside
    assert parse_label_selector(f"{key} notin ({listed})").matches(labels) is (not inside)


@given(st.text())
def test_label_parse_raises_only_selector_error(text: str) -> None:
    try:
        selector = parse_label_selector(text)
    except SelectorError as error:
        assert "\n" not in str(error)
    else:
        selector.matches({})


_PIECES = st.sampled_from(list("ab=!(),<> \t") + ["in", "notin", "a/b", "A/b", "3"])


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_label_parse_raises_only_selector_error_on_selector_like_text(text: str) -> None:
    try:
        parse_label_selector(text)
    except SelectorError:
        pass


@given(st.text())
def test_field_parse_raises_only_selector_error(text: str) -> None:
    try:
        selector = parse_field_selector(text, SUPPORTED)
    except SelectorError as error:
        assert "\n" not in str(error)
    else:
        selector.matches(lambda path: None)

"""backends.linkis.parse_envelope: the one reader of Linkis's ``{method, status, message, data}``. Crafted bodies
as Linkis's code writes them (status 0 on any HTTP code, the error shapes of ``catchMsg``, the gateway's 401, a
proxy's HTML), then property tests: any bytes, any JSON value, any envelope-like object gives a dict or a typed
one-line error, never another exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.linkis import parse_envelope
from prophecis_tui.domain import (BackendError, Forbidden, Invalid, LinkisError, NotFound, Unauthorized,
                                  Unavailable)

WHERE = "Linkis gw.example:9001 GET /entrance/x/status"
SECRET = "PROPHECIS-5f3a9c0d2e7b41a8"


def env(status, message="", data=None, method="/api/entrance/submit") -> bytes:
    return json.dumps({"method": method, "status": status, "message": message, "data": data},
                      ensure_ascii=False).encode()


def fail(http: int, body: bytes, **kw) -> BackendError:
    with pytest.raises(BackendError) as got:
        parse_envelope(http, body, where=WHERE, **kw)
    return got.value


# ------------------------------------------------------------------------------------------ crafted
def test_status_0_is_success_whatever_the_http_code():
    assert parse_envelope(200, env(0, "OK", {"execID": "e", "taskID": 7})) == {"execID": "e", "taskID": 7}
    assert parse_envelope(400, env(0, "OK", {"a": 1})) == {"a": 1}  # Linkis's status is the authority
    assert parse_envelope(206, env(0, "OK", None)) == {}  # a null data is an empty one
    assert parse_envelope(200, b'{"status": "0", "data": {"x": []}}') == {"x": []}  # a numeric string
    assert parse_envelope(200, b'{"status": 0}') == {}


def test_a_linkis_error_carries_its_errcode_and_message_in_one_line():
    body = env(1, "error code(错误码): 20001, error message(错误信息): \n labels is null(标签为空).",
               {"errorMsg": {"level": 2, "errCode": 20001, "desc": "labels is null", "ip": "10.0.0.5",
                             "port": 9104, "serviceKind": "linkis-cg-entrance"}})
    err = fail(400, body)
    assert type(err) is LinkisError and err.err_code == 20001 and err.linkis_status == 1 and err.status == 400
    assert str(err) == (f"{WHERE}: error code(错误码): 20001, error message(错误信息): labels is null(标签为空).")
    assert "\n" not in str(err)


def test_errcode_read_from_the_message_when_data_has_none():
    err = fail(400, env(1, "error code(错误码): 10000, error message(错误信息): submit failed(提交失败)"))
    assert err.err_code == 10000
    err = fail(400, env(4, "warning: engine busy", {"errorMsg": {"errCode": "13005"}}))
    assert type(err) is LinkisError and err.err_code == 13005 and err.linkis_status == 4
    assert str(err).endswith("warning: engine busy (errCode 13005)")  # the code shown once, where it was not
    assert fail(400, env(1, "plain failure")).err_code is None


@pytest.mark.parametrize("status, cls", [(-1, Unauthorized), (2, Invalid), (3, Forbidden), (1, LinkisError),
                                         (4, LinkisError), (7, LinkisError)])
def test_each_status_its_own_error(status, cls):
    err = fail(400, env(status, "no", {"errorMsg": {"errCode": 11}}))
    assert type(err) is cls and err.err_code == 11 and err.source == "linkis"


def test_the_gateways_not_logged_in():
    err = fail(401, b'{"status":-1,"message":"You are not logged in, please login first(\xe6\x82\xa8\xe5\xb0\x9a'
                    b'\xe6\x9c\xaa\xe7\x99\xbb\xe5\xbd\x95\xef\xbc\x8c\xe8\xaf\xb7\xe5\x85\x88\xe7\x99\xbb\xe5\xbd'
                    b'\x95)!","method":null}')
    assert type(err) is Unauthorized
    assert str(err) == f"{WHERE}: You are not logged in, please login first(您尚未登录，请先登录)!"


@pytest.mark.parametrize("message", [
    "error code(错误码): 10000, error message(错误信息): ID The corresponding job is empty(任务为空).",
    "The job you just executed has ended. This interface no longer provides a query. It is recommended that you "
    "download the log file for viewing.(您刚刚执行的job已经结束，本接口不再提供查询，建议您下载日志文件进行查看)",
    "Get job by ID error",
    "task 12345 does not exist(任务不存在)",
    "error code(错误码): 20000, error message(错误信息): Can not find the job of taskID 77(找不到taskID为77的任务)",
    "The file hdfs:///tmp/linkis/lihua/1/_3.dolphin does not exist(文件不存在)",
])
def test_a_job_that_is_not_there_is_not_found(message):
    err = fail(400, env(1, message))
    assert type(err) is NotFound and err.linkis_status == 1


def test_other_refusals_about_a_job_stay_linkis_errors():
    assert type(fail(400, env(1, "The job already completed. Do not support kill.(任务已经结束，不支持kill)"))) is LinkisError


@pytest.mark.parametrize("message", [
    "You have no permission to kill this job(您没有权限kill该job)",
    "error code(错误码): 13001, error message(错误信息): User opsview has no permission to submit jobs(用户opsview没有提交任务的权限)",
    "User lihua has no permission to access the path hdfs:///tmp/linkis/x(用户没有权限访问该路径)"])
def test_no_permission_is_forbidden_with_its_errcode(message):
    err = fail(400, env(1, message))
    assert type(err) is Forbidden and err.linkis_status == 1
    assert err.err_code == (13001 if "13001" in message else None)


def test_secrets_echoed_by_linkis_are_blotted_out():
    err = fail(401, env(-1, f"Token Authentication Failed, token: {SECRET}, tokenUser: lihua, reason: illegal"),
               secrets=[SECRET])
    assert SECRET not in str(err) and SECRET not in repr(err) and "token: ***" in str(err)
    err = fail(400, env(1, f"password {SECRET} is wrong"), secrets=[SECRET])
    assert SECRET not in str(err)
    # an echoed token the client does not know is still blotted ("token: X")
    assert "someone-elses" not in str(fail(401, env(-1, "Token-Code: someone-elses, rejected")))


@pytest.mark.parametrize("http, body, cls", [
    (502, b"<html><body>Bad Gateway</body></html>", Unavailable),
    (503, b"", Unavailable),
    (500, b'{"timestamp": 1, "error": "Internal Server Error"}', Unavailable),  # Spring's, no Linkis status
    (200, b"<html>login</html>", Invalid),
    (200, b"[1, 2]", Invalid),
    (404, b'{"error": "Not Found"}', Invalid),
    (401, b"Unauthorized", Unauthorized),  # a proxy in front of the gateway
    (403, b"<html>forbidden</html>", Forbidden),
    (200, b'{"status": 0, "data": [1]}', Invalid),  # data must be an object
    (200, b'{"status": true}', Invalid),  # a bool is not a status
    (200, b'{"status": "ok"}', Invalid),
    (200, b'{"status": ""}', Invalid),  # hypothesis found this one (an IndexError before)
    (200, b'{"status": "-"}', Invalid),
])
def test_what_is_not_an_envelope(http, body, cls):
    err = fail(http, body)
    assert type(err) is cls and str(err).startswith(WHERE) and "\n" not in str(err)


def test_control_characters_in_a_message_are_neutralised():
    err = fail(400, env(1, "bad \x1b[31mred\x1b[0m\rover"))
    assert "\x1b" not in str(err) and "\r" not in str(err) and "\\x1b[31m" in str(err)


def test_a_404_hints_at_the_url():
    assert "gateway" in str(fail(404, b"<html>Not Found</html>"))


# ------------------------------------------------------------------------------------------ property
def check(http, body) -> None:
    try:
        out = parse_envelope(http, body, where=WHERE, secrets=[SECRET])
    except BackendError as err:
        text = str(err)
        assert text.startswith(WHERE) and "\n" not in text and "\x1b" not in text and SECRET not in text
        assert err.err_code is None or isinstance(err.err_code, int)
    else:
        assert isinstance(out, dict)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
https = st.sampled_from([200, 206, 400, 401, 403, 404, 412, 500, 502, 503]) | st.integers(100, 599)


@settings(max_examples=300, deadline=None)
@given(https, st.binary(max_size=300))
def test_any_bytes(http, body):
    check(http, body)


@settings(max_examples=300, deadline=None)
@given(https, json_values)
def test_any_json_value(http, value):
    check(http, json.dumps(value).encode())


messages = st.text(max_size=80) | st.sampled_from([
    "error code(错误码): 12345, error message(错误信息): x", f"token: {SECRET}", "job is empty",
    f"{SECRET}"]) | json_values
statuses = st.sampled_from([-1, 0, 1, 2, 3, 4, "0", "1", 0.0, 1.5, True, None, "x", 10 ** 30]) | json_values
datas = json_values | st.fixed_dictionaries({"errorMsg": json_values | st.fixed_dictionaries(
    {"errCode": json_values | st.integers() | st.sampled_from(["20001", "x", "1e3"]), "desc": json_values})})


@settings(max_examples=500, deadline=None)
@given(https, statuses, messages, datas, st.booleans())
def test_any_envelope_like_object(http, status, message, data, ascii_only):
    doc = {"method": "/api/x", "status": status, "message": message, "data": data}
    check(http, json.dumps(doc, ensure_ascii=ascii_only).encode())

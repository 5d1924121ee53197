"""Log lines (prophecis_tui.logs): stamps, levels, error signatures, JSON rendering, the ring buffer, the view."""

from __future__ import annotations

import os
import re
import stat
import threading
from datetime import datetime, timedelta, timezone
from itertools import accumulate

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from prophecis_tui import logs
from prophecis_tui.logs import (
    DEBUG,
    ERROR,
    INFO,
    NONE,
    SIGNATURES,
    WARN,
    LogBuffer,
    LogLine,
    LogView,
    _Fifo,
    _matches,
    detect_level,
    parse_line,
    parse_lines,
    render_json,
    signature,
)
from prophecis_tui.sanitize import clean

STAMP = "2026-11-29T10:00:00.123456789Z"
T0 = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc).timestamp()


# -- timestamps ------------------------------------------------------------------------------------


def test_the_kubelet_stamp_is_split_off():
    line = parse_line(f"{STAMP} hello world", source="worker-3")
    assert (line.stamp, line.text, line.source, line.seq) == (STAMP, "hello world", "worker-3", -1)
    assert line.ts == pytest.approx(T0 + 0.123456789, abs=1e-6)


@pytest.mark.parametrize("stamp, seconds", [
    ("2026-11-29T10:00:00Z", 0.0),
    ("2026-11-29T10:00:00.5Z", 0.5),
    ("2026-11-29T10:00:00.123Z", 0.123),
    ("2026-11-29T10:00:00.000001Z", 0.000001),
    ("2026-11-29T18:00:00.25+08:00", 0.25),
    ("2026-11-29T04:30:00-05:30", 0.0),
])
def test_other_rfc3339_forms(stamp, seconds):
    line = parse_line(f"{stamp} x")
    assert line.stamp == stamp  # as the API wrote it
    assert line.text == "x"
    assert line.ts == pytest.approx(T0 + seconds, abs=1e-6)


@pytest.mark.parametrize("raw", [
    "no stamp at all",
    "2026-11-29 10:00:00,123 INFO a Python logging line",
    "2026-02-31T10:00:00Z not a day",
    "2026-11-29T25:00:00Z not an hour",
    "2026-11-29T10:00:00.1234567890Z ten digits",
    "2026-11-29T10:00:00 no zone",
    "2026-11-29T10:00:00.12x456789Z bad fraction",
    "9999-12-31T23:59:59.999999999Z past what 64-bit nanoseconds hold",
    "",
])
def test_a_line_without_a_valid_stamp_keeps_its_text_whole(raw):
    line = parse_line(raw)
    assert (line.ts, line.stamp, line.text) == (None, "", raw)


def test_timestamps_false_keeps_the_prefix_in_the_text():
    line = parse_line(f"{STAMP} hello", timestamps=False)
    assert (line.ts, line.stamp, line.text) == (None, "", f"{STAMP} hello")


def test_a_stamp_with_nothing_after_it():
    assert (parse_line(f"{STAMP} ").text, parse_line(f"{STAMP} ").stamp) == ("", STAMP)
    assert (parse_line(STAMP).text, parse_line(STAMP).stamp) == ("", STAMP)


def test_a_crlf_line_end_goes_but_a_carriage_return_inside_shows():
    assert parse_line(f"{STAMP} done\r").text == "done"
    assert parse_line(f"{STAMP} 10%\r100%").text == "10%\\x0d100%"


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 12, 31)),
       st.integers(min_value=0, max_value=999), st.integers(min_value=1, max_value=9),
       st.sampled_from([None, 0, 60, 480, -300, 345, -720]), st.text(max_size=30))
@example(datetime(2026, 11, 29, 10, 0, 0, 123456), 789, 9, None, "x")
def test_timestamps_round_trip(dt, extra_ns, digits, offset_min, text):
    ns_frac = dt.microsecond * 1000 + extra_ns  # nanoseconds within the second
    frac = f"{ns_frac:09d}"[:digits]
    if offset_min is None:
        zone, off = "Z", timedelta(0)
    else:
        sign = "+" if offset_min >= 0 else "-"
        zone = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
        off = timedelta(minutes=offset_min)
    stamp = dt.strftime("%Y-%m-%dT%H:%M:%S") + "." + frac + zone
    line = parse_line(f"{stamp} {text}")
    assert line.stamp == stamp
    assert line.text == clean(text[:-1] if text.endswith("\r") else text)
    expected = (dt.replace(microsecond=0, tzinfo=timezone.utc) - off).timestamp() + int(frac) / 10 ** digits
    assert line.ts == pytest.approx(expected, abs=2e-6)
    buf = LogBuffer(3)
    buf.extend([line])
    kept = buf.get(0)
    assert (kept.stamp, kept.text) == (stamp, line.text)
    assert kept.ts == pytest.approx(expected, abs=2e-6)


def test_exact_nanoseconds():
    ns = int(T0) * 1_000_000_000 + 123456789
    assert parse_line(f"{STAMP} x").ns == ns
    assert parse_line("2026-11-29T18:00:00.123456789+08:00 x").ns == ns
    assert parse_line("2026-11-29T10:00:00.5Z x").ns == int(T0) * 1_000_000_000 + 500_000_000
    assert parse_line("x").ns is None
    assert LogLine("x", ts=1.5).ns == 1_500_000_000


def test_a_stamp_and_a_time_given_to_the_constructor():
    assert LogLine("x", stamp=STAMP).stamp == STAMP
    assert LogLine("x", ts=12.5).ts == 12.5
    assert LogLine("x", ts=12.5).stamp == ""
    assert LogLine("x").ts is None
    with pytest.raises(ValueError):
        LogLine("x", stamp="yesterday")


# -- untrusted text --------------------------------------------------------------------------------

FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
                       "\ud800-\udfff]")
nasty = st.text(alphabet=st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x2FF),
    st.sampled_from(list("\x1b\x9b\r\n\t\x07\x08\\[]0123456789;:TZ-.\u202e\u2066\ufeff反欺诈")),
    st.characters(),
), max_size=120)


@settings(max_examples=500)
@given(nasty, st.booleans())
@example("\x1b]52;c;ZXZpbA==\x07clipboard", True)
@example("\x1bP+q544e\x1b\\ dcs", True)
@example(f"{STAMP} \x1b[2J\x1b[H\x9b31m\x08\x08ok", True)
def test_parsed_text_never_carries_a_control_or_escape(raw, timestamps):
    line = parse_line(raw, timestamps=timestamps)
    assert FORBIDDEN.search(line.text) is None
    assert "\n" not in line.text
    assert line.level in (NONE, DEBUG, INFO, WARN, ERROR)


@settings(max_examples=200)
@given(nasty)
def test_the_batch_and_the_single_form_agree(raw):
    one = parse_line(raw, "w")
    (batch,) = parse_lines([raw], "w")
    assert (one.text, one.stamp, one.level, one.source) == (batch.text, batch.stamp, batch.level, batch.source)


def test_escape_sequences_show_visibly_and_colours_do_not_hide_the_level():
    line = parse_line(f"{STAMP} \x1b[33mWARNING\x1b[0m:tensorflow:Callback method is slow")
    assert line.text == "\\x1b[33mWARNING\\x1b[0m:tensorflow:Callback method is slow"
    assert line.level == WARN
    assert parse_line("\x1b]52;c;ZXZpbA==\x07").text == "\\x1b]52;c;ZXZpbA==\\x07"
    assert parse_line("a\x9bb\u202ec").text == "a\\x9bb\\u202ec"


def test_sources_are_interned():
    a = parse_lines(["x"], "".join(["work", "er-1"]))[0]
    b = parse_lines(["y"], "".join(["wor", "ker-1"]))[0]
    assert a.source is b.source


# -- levels ----------------------------------------------------------------------------------------

LEVELS = [
    # plain tokens
    ("2026-11-29 10:00:00,401 - train - ERROR - loss is NaN", ERROR),
    ("2026-11-29 10:00:00,401 INFO [rank2] trainer.py:214 - epoch=2", INFO),
    ("ERROR:root:something broke", ERROR),
    ("INFO:tensorflow:Using MirroredStrategy", INFO),
    ("WARNING:tensorflow:slow callback", WARN),
    ("2026-11-29 10:00:00.401 ERROR [main] org.apache.linkis.Engine - failed", ERROR),
    ("2026-11-29 10:00:00.401 [pool-1-thread-3] WARN  o.a.l.Foo - retrying", WARN),
    ("FATAL the end", ERROR),
    ("CRITICAL disk gone", ERROR),
    ("SEVERE: java.util.logging style", ERROR),
    ("DEBUG cache miss", DEBUG),
    ("TRACE entering", DEBUG),
    ("NOTICE maintenance", INFO),
    ("npm ERR! code E404", ERROR),
    ("anti-fraud-worker-1:158:158 [0] NCCL INFO Bootstrap : Using eth0", INFO),
    ("anti-fraud-worker-1:158:158 [0] NCCL WARN Call to connect returned Connection refused", WARN),
    # brackets, any case
    ("2026/11/29 10:00:00 [error] 7#7: *1 connect() failed", ERROR),
    ("2026-11-29T10:00:00 0 [Warning] Aborted connection", WARN),
    ("[2026-11-29 10:00:00 +0000] [1] [INFO] Booting worker", INFO),
    ("[crit] out of file descriptors", ERROR),
    ("[debug] hello", DEBUG),
    # key=value and JSON
    ('time="2026-11-29T10:00:00Z" level=warning msg="ERROR in the message does not count"', WARN),
    ("ts=2026-11-29T10:00:00Z lvl=eror msg=boom", ERROR),
    ("severity=ERROR component=x", ERROR),
    ('{"level":"error","msg":"boom"}', ERROR),
    ('{"ts":1,"severity":"WARNING","message":"x"}', WARN),
    ('{"level":30,"msg":"ERROR is just a word here"}', INFO),
    ('{"level":50,"msg":"pino"}', ERROR),
    ('{"msg":"no level field"}', NONE),
    # structured prefixes at the start
    ("E1129 10:00:00.123456       1 controller.go:329] Reconciler error", ERROR),
    ("W1129 10:00:00.123456       1 reflector.go:462] watch ended", WARN),
    ("I1129 10:00:00.123456       1 main.go:62] Starting", INFO),
    ("F1129 10:00:00.123456       1 main.go:58] unable to load config", ERROR),
    ("[rank2]:[E1129 10:00:00.983000040 ProcessGroupNCCL.cpp:616] [Rank 2] something", ERROR),
    ("[E ProcessGroupNCCL.cpp:475] [Rank 1] something", ERROR),
    ("[W 2026-11-29 10:00:00.884 ServerApp] 404 GET /api", WARN),
    ("[C 2026-11-29 10:00:00.996 ServerApp] received signal 15, stopping", ERROR),
    ("[I 261129 10:00:00 web:2348] 200 GET /", INFO),
    ("2026-11-29 10:00:00.401681: I tensorflow/core/util/port.cc:113] oneDNN custom operations", INFO),
    ("2026-11-29 10:00:00.986999: E tensorflow/core/common_runtime/base_collective_executor.cc:249] abort", ERROR),
    ("2026-11-29 10:00:00.986999: W tensorflow/core/framework/op_kernel.cc:1839] OP_REQUIRES failed", WARN),
    ("Traceback (most recent call last):", ERROR),
    ("KeyError: 'merchant_category'", ERROR),
    ("ValueError", ERROR),
    ("torch.distributed.DistBackendError: [Rank 2] boom", ERROR),
    ("java.lang.IllegalStateException: closed", ERROR),
    ("Exception in thread \"main\" java.lang.RuntimeException", ERROR),
    ("Caused by: java.io.IOException: gone", ERROR),
    ("panic: runtime error: invalid memory address", ERROR),
    ("fatal error: runtime: out of memory", ERROR),
    ("Error: cannot find module 'x'", ERROR),
    ("error: unknown flag --foo", ERROR),
    ("warning: deprecated option", WARN),
    ("/opt/conda/lib/python3.10/site-packages/torch/utils/data/dataloader.py:557: UserWarning: This DataLoader", WARN),
    ("x.py:3: DeprecationWarning: old", WARN),
    ("[rank0]: KeyError: 'merchant_category'", ERROR),
    ("[rank1]: INFO step 5", INFO),
    ("2026-11-29T10:00:00.000Z\tERROR\tcontroller/x.go:12\treconcile failed", ERROR),
    ("26/11/29 10:00:00 ERROR Executor: Exception in task 0.0", ERROR),
    ("[2026-11-29T10:00:00Z ERROR my_crate] msg", ERROR),
    ("E0000 00:00:1700000000.123456   12345 cuda_dnn.cc:8310] Unable to register cuDNN factory", ERROR),
    # not levels
    ("Warnings: none", NONE),
    ("no errors found", NONE),
    ("connection error, retrying", NONE),
    ("ERRORS: 0 WARNINGS: 0", NONE),
    ("ERROR_CODE=5 is fine", NONE),
    ("reading INFORMATION_SCHEMA", NONE),
    ("the error was handled gracefully", NONE),
    ("Error while saving, but no colon first", NONE),
    ("ErrorHandler: registered", NONE),
    ("10.244.41.1 - - [14/Nov/2026:22:14:18 +0000] \"GET /health/ping HTTP/1.1\" 200 5", NONE),
    (" 780/1960 [==========>.....] - ETA: 6:55 - loss: 0.4290", NONE),
    ("x" * 170 + " ERROR too far from the start", NONE),
    ("", NONE),
]


@pytest.mark.parametrize("text, level", LEVELS)
def test_levels(text, level):
    assert detect_level(text) == level
    assert parse_line(text, timestamps=False).level == level


def test_the_first_level_wins():
    assert detect_level("INFO retried after ERROR") == INFO
    assert detect_level("2026-11-29 WARN [x] INFO") == WARN


# -- signatures ------------------------------------------------------------------------------------

SIGNED = [
    ("Traceback (most recent call last):", "Python traceback"),
    ("[rank0]: Traceback (most recent call last):", "Python traceback"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.", "CUDA out of memory"),
    ("RuntimeError: CUDA error: out of memory", "CUDA out of memory"),
    ("xgboost.core.XGBoostError: std::bad_alloc: cudaErrorMemoryAllocation: out of memory", "CUDA out of memory"),
    ("RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
     "CUDA out of memory"),
    ("W tensorflow/core/common_runtime/bfc_allocator.cc:485] Allocator (GPU_0_bfc) ran out of memory trying to "
     "allocate 1.76GiB", "CUDA out of memory"),
    ("ResourceExhaustedError: OOM when allocating tensor with shape[2048,8192]", "CUDA out of memory"),
    ("RuntimeError: CUDA error: device-side assert triggered", "CUDA error"),
    ("cudaErrorIllegalAddress: an illegal memory access was encountered", "CUDA error"),
    ("[Rank 2] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=5704, OpType=ALLREDUCE)",
     "NCCL timeout"),
    ("[Rank 2] Some NCCL operations have failed or timed out.", "NCCL timeout"),
    ("torch.distributed.DistBackendError: NCCL timeout in rank 3", "NCCL timeout"),
    ("RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:219, unhandled system error",
     "NCCL error"),
    ("ncclSystemError: System call (e.g. socket, malloc) or external library call failed", "NCCL error"),
    ("ncclInternalError: Internal check failed.", "NCCL error"),
    ("ncclInvalidUsage: This usually reflects invalid usage of NCCL library.", "NCCL error"),
    ("XGBoostError: nccl_device_communicator.cu:45: NCCL failure: remote process exited", "NCCL error"),
    ("Last State: Terminated, Reason: OOMKilled", "OOMKilled / exit 137"),
    ("worker-1 exited with code 137", "OOMKilled / exit 137"),
    ("command terminated with exit code 137", "OOMKilled / exit 137"),
    ("subprocess.CalledProcessError: returned non-zero exit status 137.", "OOMKilled / exit 137"),
    ('{"exitCode":137,"reason":"Error"}', "OOMKilled / exit 137"),
    ("Exit Code: 137", "OOMKilled / exit 137"),
    ("torch.distributed.elastic.multiprocessing.api: failed (exitcode: -9) local_rank: 0", "OOMKilled / exit 137"),
    ("Signal 9 (SIGKILL) received by PID 158", "OOMKilled / exit 137"),
    ("Memory cgroup out of memory: Killed process 158 (python)", "OOMKilled / exit 137"),
    ("/bin/bash: line 1:   158 Killed                  python train.py", "OOMKilled / exit 137"),
    ("Killed", "OOMKilled / exit 137"),
    ("Error: ErrImagePull", "image pull failure"),
    ("Back-off pulling image \"registry/x:1\"", "image pull failure"),
    ("Warning  Failed  kubelet  Failed to pull image \"x\": rpc error: code = NotFound", "image pull failure"),
    ("container is waiting to start: ImagePullBackOff", "image pull failure"),
    ("failed to pull image: pull access denied for x", "image pull failure"),
    ("InvalidImageName", "image pull failure"),
    ('Exception in thread "main" java.lang.NullPointerException', "Java exception"),
    ("java.lang.IllegalStateException: engine closed", "Java exception"),
    ("Caused by: java.net.ConnectException: Connection refused", "Java exception"),
    ("org.apache.linkis.common.exception.LinkisRetryException: errCode: 11012", "Java exception"),
    ("2026-11-29 ERROR [main] Task failed: java.io.IOException: Broken pipe", "Java exception"),
]
UNSIGNED = [
    "CUDA available: True, devices: 8",
    "CUDA_VISIBLE_DEVICES=0,1",
    "anti-fraud-worker-1:158:158 [0] NCCL INFO Bootstrap : Using eth0",
    "exit code 0",
    "exit code 1370",
    "exited with code 1",
    "Successfully pulled image \"x\" in 2.1s",
    "Pulling image \"registry/x:1\"",
    "java.version=17.0.9",
    "Traceback follows below",
    "OutOfMemoryError handler installed? no, just a word: OOMS",
    "killed the idle kernel",
    "out of memory budget: 80%",
    "ErrorHandler registered",
    "Exception handling enabled",
]


@pytest.mark.parametrize("text, name", SIGNED)
def test_signatures(text, name):
    assert signature(text) == name
    assert name in SIGNATURES
    assert parse_line(text).level == ERROR  # any line with a signature is an error line


@pytest.mark.parametrize("text", UNSIGNED)
def test_not_signatures(text):
    assert signature(text) is None


def test_a_warning_with_a_signature_is_an_error_line():
    line = parse_line("2026-11-29 10:00:00.989000: W tensorflow/core/common_runtime/bfc_allocator.cc:485] "
                      "Allocator (GPU_0_bfc) ran out of memory trying to allocate 1.76GiB")
    assert line.level == ERROR


def test_the_demo_failures_are_found():
    """Every failure the simulator writes (a data source here, nothing shared) is found by next_error."""
    from prophecis_tui.simulator.logs import ContainerLog, format_timestamp

    want = {("pytorch", "CudaOOM"): "CUDA out of memory", ("pytorch", "NCCLTimeout"): "NCCL timeout",
            ("pytorch", "Error"): "Python traceback", ("pytorch", "ImportError"): "Python traceback",
            ("single", "CudaOOM"): "CUDA out of memory", ("xgboost", "CudaOOM"): "CUDA out of memory",
            ("xgboost", "NCCLTimeout"): "NCCL error", ("tensorflow", "CudaOOM"): "CUDA out of memory",
            ("tensorflow", "Error"): "Python traceback", ("jupyter", "NCCLTimeout"): "NCCL timeout",
            ("seldon", "ImportError"): "Python traceback"}
    for profile in ("jupyter", "tensorflow", "pytorch", "xgboost", "single", "seldon", "platform"):
        for failure in ("CudaOOM", "NCCLTimeout", "Error", "ImportError"):
            log = ContainerLog(profile, 11, 1_800_000_000.0, rate=5.0, ended_at=1_800_000_040.0, failure=failure,
                               context={"world_size": "4", "replica_type": "Worker", "replica_index": "1"})
            raws = [f"{format_timestamp(ts)} {text}" for ts, text in log.lines(0, log.count_at(2e9))]
            buf = LogBuffer(10_000)
            buf.extend(parse_lines(raws, "worker-1"))
            view = LogView(buf)
            starts = []
            i = view.next_error()
            while i is not None:
                starts.append(i)
                i = view.next_error(i)
            assert starts, (profile, failure)
            last = starts[-1]
            assert last >= len(view) - 40, (profile, failure)  # the failure is at the end of the log
            if (profile, failure) in want:
                sigs = {view.error_signature(s) for s in starts[-3:]}
                assert want[profile, failure] in sigs, (profile, failure, sigs)


# -- JSON ------------------------------------------------------------------------------------------


def test_json_pretty_keeps_key_order_and_indents():
    out = render_json('{"z":1,"a":{"b":[1,2]},"msg":"hi"}', "pretty")
    assert out == ["{", '  "z": 1,', '  "a": {', '    "b": [', "      1,", "      2", "    ]", "  },",
                   '  "msg": "hi"', "}"]


def test_json_kv_puts_level_and_message_first_and_drops_the_time():
    line = '{"ts":"2026-11-29T10:00:00Z","msg":"request done","level":"info","status":200,"path":"/a b","ok":true}'
    assert render_json(line, "kv") == ['INFO request done status=200 path="/a b" ok=true']
    assert render_json(line, "kv", keep_time=True) == \
        ['2026-11-29T10:00:00Z INFO request done status=200 path="/a b" ok=true']
    assert render_json('{"severity":"warning","message":"m","err":{"code":5}}', "kv") == \
        ['WARNING m err={"code":5}']
    assert render_json('{"lvl":"debug","x":null}', "kv") == ["DEBUG x=null"]
    assert render_json('{"a":1}', "kv") == ["a=1"]


def test_json_values_are_sanitised():
    out = render_json('{"msg":"\\u001b[31mred\\u001b]52;c;eA==\\u0007","k\\u009b":"\\u202e"}', "kv")
    assert out == ["\\x1b[31mred\\x1b]52;c;eA==\\x07 k\\x9b=\\u202e"]
    for ln in render_json('{"msg":"\\u001b[2J","list":["\\u0008"]}', "pretty"):
        assert FORBIDDEN.search(ln) is None


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"a string"', "{broken", "{}x", "", "42", "null",
                                  "{\"a\": 1} trailing"])
def test_json_not_an_object_is_none(text):
    assert render_json(text, "pretty") is None
    assert render_json(text, "kv") is None


def test_json_empty_object_and_bad_mode():
    assert render_json("{}", "pretty") == ["{}"]
    assert render_json("{}", "kv") == ["{}"]
    assert render_json('{"time":"x"}', "kv") == ["{}"]
    with pytest.raises(ValueError):
        render_json("{}", "yaml")


# -- the buffer ------------------------------------------------------------------------------------


def lines_of(*texts, source=""):
    return parse_lines(list(texts), source, timestamps=False)


def test_buffer_numbers_lines_and_keeps_the_newest():
    buf = LogBuffer(5)
    first = lines_of("a", "b", "c")
    buf.extend(first)
    assert [ln.seq for ln in first] == [0, 1, 2]
    assert (len(buf), buf.total, buf.first_seq, buf.dropped) == (3, 3, 0, 0)
    buf.extend(lines_of("d", "e", "f", "g"))
    assert (len(buf), buf.total, buf.first_seq, buf.dropped) == (5, 7, 2, 2)
    assert [ln.text for ln in buf.range(0, 100)] == ["c", "d", "e", "f", "g"]
    assert [ln.seq for ln in buf.range(0, 100)] == [2, 3, 4, 5, 6]
    assert buf.get(1) is None and buf.get(7) is None and buf.get(-1) is None
    assert buf.get(4).text == "e"
    assert [ln.text for ln in buf.range(3, 5)] == ["d", "e"]
    assert buf.range(5, 3) == []


def test_buffer_batch_bigger_than_capacity():
    buf = LogBuffer(3)
    buf.extend(lines_of("a"))
    buf.extend(lines_of(*"bcdefg"))
    assert [ln.text for ln in buf.range(0, 100)] == ["e", "f", "g"]
    assert (buf.first_seq, buf.total, buf.dropped) == (4, 7, 4)
    buf.extend(lines_of("h"))
    assert [ln.text for ln in buf.range(0, 100)] == ["f", "g", "h"]


def test_buffer_clear_is_not_a_drop_and_numbering_goes_on():
    buf = LogBuffer(10)
    buf.extend(lines_of("a", "b", source="w-0"))
    v = buf.version
    buf.clear()
    assert (len(buf), buf.first_seq, buf.total, buf.dropped, buf.sources()) == (0, 2, 2, 0, [])
    assert buf.version > v
    new = lines_of("c", source="w-1")
    buf.extend(new)
    assert new[0].seq == 2
    assert [ln.text for ln in buf.range(0, 10)] == ["c"]
    assert buf.sources() == ["w-1"]


def test_buffer_sources_in_first_seen_order_and_version():
    buf = LogBuffer(10)
    v0 = buf.version
    buf.extend(lines_of("a", source="worker-1") + lines_of("b", source="master-0"))
    buf.extend(lines_of("c", source="worker-1") + lines_of("d", source="worker-0"))
    buf.extend([])
    assert buf.sources() == ["worker-1", "master-0", "worker-0"]
    assert buf.version == v0 + 2


def test_buffer_keeps_stamps_and_times_exactly():
    buf = LogBuffer(10)
    buf.extend([parse_line(f"{STAMP} a"), parse_line("2026-11-29T18:00:00.5+08:00 b"), parse_line("c"),
                LogLine("d", ts=5.25)])
    got = buf.range(0, 10)
    assert [g.stamp for g in got] == [STAMP, "2026-11-29T18:00:00.5+08:00", "", ""]
    assert got[0].ts == pytest.approx(T0 + 0.123456789, abs=1e-6)
    assert got[1].ts == pytest.approx(T0 + 0.5)
    assert got[2].ts is None and got[3].ts == 5.25
    buf.extend(lines_of(*"efghijklmn"))  # the odd stamps are forgotten with their lines
    assert buf._odd == {}


def test_buffer_capacity_must_be_positive():
    with pytest.raises(ValueError):
        LogBuffer(0)


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=12),
       st.lists(st.one_of(st.integers(min_value=0, max_value=20), st.just("clear")), max_size=30))
def test_buffer_behaves_like_the_tail_of_a_list(capacity, ops):
    buf = LogBuffer(capacity)
    model: list[tuple[int, str]] = []
    total = dropped = 0
    for op in ops:
        if op == "clear":
            buf.clear()
            model = []
            continue
        texts = [f"l{total + i}" for i in range(op)]
        buf.extend(lines_of(*texts))
        model += [(total + i, t) for i, t in enumerate(texts)]
        total += op
        dropped += max(0, len(model) - capacity)
        model = model[-capacity:]
        assert [(ln.seq, ln.text) for ln in buf.range(0, total + 5)] == model
        assert (buf.total, buf.dropped, len(buf)) == (total, dropped, len(model))
        assert buf.first_seq == (model[0][0] if model else total)
        if model:
            s, t = model[len(model) // 2]
            assert buf.get(s).text == t


def test_buffer_one_writer_one_reader():
    buf = LogBuffer(1000)
    stop = threading.Event()
    bad = []

    def read():
        while not stop.is_set():
            got = buf.range(buf.first_seq, buf.total)
            seqs = [ln.seq for ln in got]
            if seqs != list(range(seqs[0], seqs[0] + len(seqs))) if seqs else False:
                bad.append(seqs[:5])
            if any(ln.text != f"l{ln.seq}" for ln in got):
                bad.append("text")

    reader = threading.Thread(target=read)
    reader.start()
    n = 0
    for _ in range(300):
        buf.extend(lines_of(*(f"l{n + i}" for i in range(37))))
        n += 37
    stop.set()
    reader.join()
    assert not bad
    assert buf.total == n and len(buf) == 1000


@settings(max_examples=300)
@given(st.sampled_from("obq"), st.lists(st.one_of(st.integers(min_value=0, max_value=9),
                                                 st.tuples(st.just("drop"), st.integers(min_value=0, max_value=9)))))
def test_fifo_blocks_behave_like_a_list(kind, ops):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(logs, "_B", 3)
        fifo = _Fifo(kind)
        model: list[int] = []
        nxt = 0
        for op in ops:
            if isinstance(op, tuple):
                fifo.drop(op[1])
                model = model[op[1]:]
            else:
                values = list(range(nxt, nxt + op))
                nxt += op
                fifo.extend(values if kind == "o" else bytes(v % 256 for v in values) if kind == "b"
                            else logs.array("q", values))
                model += [v % 256 for v in values] if kind == "b" else values
            assert len(fifo) == len(model)
            assert [fifo[i] for i in range(len(model))] == model
            assert list(fifo.slice(0, len(model))) == model
            assert list(fifo.slice(1, len(model) - 1)) == model[1:-1]
            assert [v for _, part in fifo.parts() for v in part] == model
            starts = [i for i, _ in fifo.parts()]
            assert starts == list(accumulate([len(p) for _, p in fifo.parts()][:-1], initial=0))[:len(starts)]
            if kind == "b" and model:
                want = model[len(model) // 2]
                assert fifo.find(want, 1) == next((i for i in range(1, len(model)) if model[i] == want), -1)
            if kind == "q" and model:
                x = model[len(model) // 2]
                assert fifo.bisect_left(x) == model.index(x)
                assert fifo.bisect_left(x + 1000) == len(model)


VIEW_OPS = st.lists(st.one_of(
    st.tuples(st.just("extend"), st.lists(st.tuples(st.sampled_from(["w-0", "w-1"]),
                                                    st.sampled_from(["a", "ab", "b", "ERROR x", "  at y"])),
                                          max_size=8)),
    st.tuples(st.just("refresh")), st.tuples(st.just("clear")),
    st.tuples(st.just("filter"), st.sampled_from([None, "a", "^b", "x$"]), st.sampled_from(["show", "hide"])),
    st.tuples(st.just("source"), st.sampled_from([None, "w-0", "w-1"])),
), max_size=25)


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=10), VIEW_OPS)
def test_after_a_refresh_the_view_is_the_buffer_filtered(capacity, ops):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(logs, "_B", 3)
        mp.setattr(logs, "_STEP", 2)  # a refresh takes its backlog a few lines at a time
        buf = LogBuffer(capacity)
        view = LogView(buf)
        pattern = mode = source = None
        for op in ops:
            if op[0] == "extend":
                buf.extend([ln for src, text in op[1] for ln in lines_of(text, source=src)])
                continue
            if op[0] == "clear":
                buf.clear()
                continue
            if op[0] == "filter":
                pattern, mode = (re.compile(op[1]) if op[1] else None), op[2]
                view.set_filter(pattern, mode)
            elif op[0] == "source":
                source = op[1]
                view.set_source(source)
            else:
                view.refresh()
            kept = buf.range(0, buf.total)
            want = [ln for ln in kept if (source is None or ln.source == source)
                    and (pattern is None or bool(pattern.search(ln.text)) == (mode == "show"))]
            got = view.lines(0, len(view))
            assert [(ln.seq, ln.text, ln.source, ln.level) for ln in got] == \
                [(ln.seq, ln.text, ln.source, ln.level) for ln in want]
            assert [view.index_of_seq(ln.seq) for ln in want] == list(range(len(want)))
            assert view.search(re.compile("a")) == [i for i, ln in enumerate(want) if "a" in ln.text]
            errors = [i for i, ln in enumerate(want) if ln.level == ERROR]
            first = view.next_error()
            assert (first is None) == (not errors)
            if errors:
                assert first == errors[0]


# -- the view --------------------------------------------------------------------------------------


def make(texts, capacity=1000, source=""):
    buf = LogBuffer(capacity)
    buf.extend(lines_of(*texts, source=source))
    return buf, LogView(buf)


def test_view_starts_with_the_buffer_and_refresh_takes_only_new_lines():
    buf, view = make(["a", "b"])
    assert len(view) == 2 and view.refresh() == 0
    buf.extend(lines_of("c", "d"))
    assert len(view) == 2  # nothing changes until refresh
    assert view.refresh() == 2
    assert [ln.text for ln in view.lines(0, 10)] == ["a", "b", "c", "d"]
    assert view.texts(1, 3) == ["b", "c"]
    assert view.line(-1).text == "d" and view.line(0).seq == 0
    with pytest.raises(IndexError):
        view.line(4)
    assert view.lines(3, 100)[0].text == "d" and view.lines(-5, 1)[0].text == "a"


def test_view_filter_show_hide_off():
    buf, view = make(["GET /a 200", "GET /b 500", "POST /c 200", "GET /d 404"])
    view.set_filter(re.compile(r" [45]\d\d$"), "show")
    assert view.texts(0, 10) == ["GET /b 500", "GET /d 404"]
    assert view.filter[1] == "show"
    buf.extend(lines_of("GET /e 503", "GET /f 200"))
    assert view.refresh() == 1
    assert view.texts(0, 10) == ["GET /b 500", "GET /d 404", "GET /e 503"]
    view.set_filter(re.compile("GET"), "hide")
    assert view.texts(0, 10) == ["POST /c 200"]
    view.set_filter(re.compile("GET"), "off")
    assert len(view) == 6 and view.filter == (None, "off")
    with pytest.raises(ValueError):
        view.set_filter(re.compile("x"), "grep")


def test_view_one_source_and_filter_together():
    buf = LogBuffer(100)
    buf.extend(lines_of("w0 step 1", source="worker-0") + lines_of("w1 step 1", source="worker-1")
               + lines_of("w0 loss nan", source="worker-0"))
    view = LogView(buf)
    view.set_source("worker-0")
    assert view.texts(0, 10) == ["w0 step 1", "w0 loss nan"] and view.source == "worker-0"
    view.set_filter(re.compile("nan"), "hide")
    assert view.texts(0, 10) == ["w0 step 1"]
    buf.extend(lines_of("w1 nan", source="worker-1") + lines_of("w0 step 2", source="worker-0"))
    assert view.refresh() == 1
    assert view.texts(0, 10) == ["w0 step 1", "w0 step 2"]
    view.set_source(None)
    assert view.texts(0, 10) == ["w0 step 1", "w1 step 1", "w0 step 2"]


def test_view_forgets_dropped_lines_on_refresh_only():
    buf, view = make([f"l{i}" for i in range(5)], capacity=5)
    buf.extend(lines_of("l5", "l6"))
    assert view.texts(0, 10) == ["l0", "l1", "l2", "l3", "l4"]  # still what it showed
    assert view.line(0).text == "l0"
    assert view.refresh() == 2
    assert view.last_forgotten == 2
    assert view.texts(0, 10) == ["l2", "l3", "l4", "l5", "l6"]
    assert view.index_of_seq(2) == 0 and view.index_of_seq(6) == 4 and view.index_of_seq(1) is None
    buf.extend(lines_of(*(f"m{i}" for i in range(12))))  # more than the buffer holds, between refreshes
    assert view.refresh() == 5
    assert view.texts(0, 10) == [f"m{i}" for i in range(7, 12)]
    buf.clear()
    assert view.refresh() == 0 and len(view) == 0 and view.last_forgotten == 5


def test_view_filtered_index_of_seq():
    buf, view = make(["a1", "b", "a2", "c", "a3"])
    view.set_filter(re.compile("a"), "show")
    assert [view.index_of_seq(s) for s in range(5)] == [0, None, 1, None, 2]


# -- search ----------------------------------------------------------------------------------------


def test_search_counts():
    texts = [f"step {i} loss={i % 7}" for i in range(10_000)]
    buf, view = make(texts, capacity=20_000)
    assert view.search(re.compile(r"loss=3$")) == [i for i in range(10_000) if i % 7 == 3]
    assert view.search(re.compile("nothing here")) == []
    assert len(view.search(re.compile("step"))) == 10_000
    assert view.search(re.compile(r"^step 1\d{3} ")) == list(range(1000, 2000))
    assert view.search(re.compile(r"LOSS=6", re.IGNORECASE))[:2] == [6, 13]


def test_search_does_not_match_across_lines():
    buf, view = make(["ends with a", "b starts", "a b in one"])
    assert view.search(re.compile(r"a\sb")) == [2]
    assert view.search(re.compile(r"a\nb")) == []
    assert view.search(re.compile(r"a$")) == [0]
    assert view.search(re.compile(r"(?<!\S)b")) == [1, 2]
    assert view.search(re.compile(r"\Ab")) == [1]
    assert view.search(re.compile(r"[^x]*starts")) == [1]


PATTERNS = [r"a", r"^a", r"a$", r"\bab", r"a\sb", r"b\s*$", r"^$", r"(?<=a)b", r"(?<!a)b", r"a(?!b)", r"[^a]+",
            r"\Aa", r"b\Z", r".*", r"a.*b", r"x?", r"(a|b){2}",
            # with literals of 3 characters or more: found by str.find first
            r"\baab", r"\bab a\b", r"aab|bba", r"^aab", r"aab$", r"x*aab", r"(aab)+", r"(?:ab\s)?bab",
            r"[ab]aab", r"b{2}aab", r"aab(?=b)", r"(?<!b)aab"]


@settings(max_examples=400)
@given(st.lists(st.text(alphabet="abAB \t\u212a", max_size=8), max_size=30), st.sampled_from(PATTERNS),
       st.booleans())
@example(["xx AAB", "aab"], r"\baab", True)
def test_search_agrees_with_a_search_per_line(texts, pattern, ignorecase):
    rx = re.compile(pattern, re.IGNORECASE if ignorecase else 0)
    assert _matches(texts, rx) == [i for i, t in enumerate(texts) if rx.search(t)]


def test_search_of_many_chunks_dense_and_sparse():
    texts = [f"line {i} {'aab' if i % 3 == 0 else 'xyz'} {'NaN' if i % 1000 == 7 else ''}" for i in range(20_000)]
    for pattern in (re.compile("aab"), re.compile(r"\bNaN\b"), re.compile("nan", re.I), re.compile(r"^line 1\d* "),
                    re.compile(r"xyz|NaN"), re.compile(r"(?<=9 )aab")):
        assert _matches(texts, pattern) == [i for i, t in enumerate(texts) if pattern.search(t)], pattern


# -- errors ----------------------------------------------------------------------------------------

CRAFTED = [
    "INFO starting",                                                      # 0
    "INFO step 1",                                                        # 1
    "Traceback (most recent call last):",                                 # 2  block 1
    '  File "/workspace/train.py", line 312, in <module>',                # 3
    "    main()",                                                         # 4
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB",  # 5
    "INFO restarting",                                                    # 6
    "ERROR first plain error",                                            # 7  block 2
    "INFO between",                                                       # 8
    "[rank2]:[E1129 10:00:00.98 ProcessGroupNCCL.cpp:616] [Rank 2] Watchdog caught collective operation timeout",  # 9
    "[rank2]:[E1129 10:00:00.98 ProcessGroupNCCL.cpp:630] [Rank 2] Some operations have failed",  # 10
    "INFO x",                                                             # 11
    'Exception in thread "main" org.apache.linkis.LinkisException: 11012',  # 12 block 4
    "\tat org.apache.linkis.Engine.run(Engine.java:42)",                  # 13
    "\tat java.base/java.lang.Thread.run(Thread.java:833)",               # 14
    "Caused by: java.net.ConnectException: Connection refused",           # 15
    "\t... 12 more",                                                      # 16
    "INFO done",                                                          # 17
]


def test_next_error_goes_block_by_block():
    buf, view = make(CRAFTED)
    starts = []
    i = view.next_error()
    while i is not None:
        starts.append(i)
        i = view.next_error(i)
    assert starts == [2, 7, 9, 12]
    assert [view.error_signature(s) for s in starts] == ["CUDA out of memory", None, "NCCL timeout",
                                                         "Java exception"]
    assert view.next_error(3) == 7  # from inside a block: the next block
    assert view.next_error(13) is None
    assert view.next_error(100) is None
    assert view.error_signature(0) is None and view.error_signature(99) is None


def test_next_error_separates_sources_and_follows_the_view():
    buf = LogBuffer(100)
    buf.extend(lines_of("ERROR a", source="worker-0") + lines_of("ERROR b", source="worker-1")
               + lines_of("ERROR c", source="worker-1") + lines_of("INFO d", source="worker-0"))
    view = LogView(buf)
    assert view.next_error() == 0 and view.next_error(0) == 1 and view.next_error(1) is None
    view.set_source("worker-1")
    assert view.next_error() == 0 and view.next_error(0) is None
    view.set_filter(re.compile("b"), "hide")
    assert view.next_error() == 0 and view.texts(0, 1) == ["ERROR c"]


def test_no_errors():
    buf, view = make(["INFO a", "WARN b", "DEBUG c"])
    assert view.next_error() is None


# -- saving ----------------------------------------------------------------------------------------


def test_save_writes_the_visible_lines_owner_only(tmp_path):
    buf = LogBuffer(100)
    buf.extend(parse_lines([f"{STAMP} one", "2026-11-29T18:00:00.5+08:00 two", "three \x1b[31m"], "worker-2"))
    buf.extend(parse_lines(["four"]))
    view = LogView(buf)
    path = tmp_path / "saved.log"
    assert view.save(str(path)) == 4
    assert path.read_text() == (f"{STAMP} worker-2 one\n2026-11-29T18:00:00.5+08:00 worker-2 two\n"
                                "worker-2 three \\x1b[31m\nfour\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    view.set_filter(re.compile("t"), "show")
    old = tmp_path / "old.log"
    old.write_text("previous content that is longer than the new one\n" * 10)
    os.chmod(old, 0o644)
    assert view.save(str(old)) == 2
    assert old.read_text() == "2026-11-29T18:00:00.5+08:00 worker-2 two\nworker-2 three \\x1b[31m\n"
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o600


def test_save_an_empty_view(tmp_path):
    buf, view = make([])
    assert view.save(str(tmp_path / "e.log")) == 0
    assert (tmp_path / "e.log").read_text() == ""


def test_a_view_can_show_a_level_and_above_with_the_other_filters():
    """``set_level``: the lines of that level and above (no level is below every level), with the source and
    pattern filters together; NONE shows every line again; lines taken in later obey it too."""
    buf = LogBuffer(100)
    buf.extend([LogLine("plain"), LogLine("dbg", level=DEBUG), LogLine("info a", level=INFO, source="a"),
                LogLine("warn a", level=WARN, source="a"), LogLine("err b", level=ERROR, source="b")])
    view = LogView(buf)
    view.set_level(WARN)
    assert [view.line(i).text for i in range(len(view))] == ["warn a", "err b"]
    view.set_source("a")
    assert [view.line(i).text for i in range(len(view))] == ["warn a"]
    view.set_source(None)
    view.set_filter(re.compile("err"), "hide")
    assert [view.line(i).text for i in range(len(view))] == ["warn a"]
    buf.extend([LogLine("late err", level=ERROR), LogLine("late info", level=INFO)])
    view.refresh()
    view.set_filter(None, "off")
    assert [view.line(i).text for i in range(len(view))] == ["warn a", "err b", "late err"]
    view.set_level(NONE)
    assert len(view) == 7 and view.min_level == NONE

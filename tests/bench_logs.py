"""Child of `make bench`: the log core (prophecis_tui.logs) on its own; prints one line of JSON.

Run alone: ``python -m tests.bench_logs [LINES]`` (default 1,000,000). A fresh process, so the memory figures
are this process's own RSS growth:

- parse: lines/s through ``parse_lines`` (batches of 2,000, as a stream chunk brings them) for lines like the
  ones training jobs write (PyTorch, NCCL, TensorFlow, Jupyter, klog, Seldon access lines, ~150 characters,
  each with the kubelet's stamp), for "plain" lines (no level, nothing to detect) and for lines with
  colours and tabs (the sanitiser's slow path); CPU time, best of 5;
- memory: RSS growth with a full buffer of LINES lines, then with a LogView over it; the time of a full
  garbage-collector pass then (the UI stall it would cause);
- search: one regex over the full view matching ~1% of the lines, one matching none (the view's joined-text
  search, and for comparison a search call per line); next_error over it with no error; a filter rebuild;
- refresh: a full buffer taking 5,000 new lines (the oldest dropped) and the view following.

The ingest-from-a-follow-stream and key-press figures (issue 6: 50,000 lines/s with key-press-to-update
under 100 ms) belong with the stream and the screen: they go in ``follow_figures`` below.
"""

from __future__ import annotations

import gc
import json
import re
import statistics
import sys
import time


def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stamp(i: int) -> str:
    sec = 1_800_000_000 + i // 1000
    tm = time.gmtime(sec)
    return (f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
            f".{(i % 1000) * 1_000_000 + i % 997:09d}Z")


def training_line(i: int) -> str:
    """Line ``i`` of a chatty distributed training job, as the API sends it (stamp, space, text)."""
    k = i % 10
    if k < 6:
        text = (f"2026-11-29 10:{i // 60000 % 60:02d}:{i // 1000 % 60:02d},{i % 1000:03d} INFO [rank{i % 4}] "
                f"trainer.py:214 - epoch={i // 50000} step={i % 1960}/1960 loss=0.{4000 + i % 997} "
                f"acc=0.{7000 + i % 991} auc=0.{7000 + i % 983} lr=9.00e-04 throughput={5000 + i % 1000}.2 samples/s")
    elif k == 6:
        text = (f"anti-fraud-zwmdt-worker-{i % 4}:158:{189 + i % 7} [0] NCCL INFO Channel {i % 32:02d}/02 : "
                f"0[{i % 8}] -> 1[{(i + 1) % 8}] via P2P/IPC/read")
    elif k == 7:
        text = (f"[I 2026-11-29 10:00:{i // 1000 % 60:02d}.{i % 1000:03d} ServerApp] 200 GET "
                f"/notebook/ns-antifraud-dev/chenjing-antifraud-nb/api/kernels?{1700000058321 + i} "
                f"(chenjing@10.102.96.{i % 250}) {i % 97 / 10:.2f}ms")
    elif k == 8:
        text = (f"I1129 10:00:{i // 1000 % 60:02d}.{i % 1000000:06d}       1 notebook_controller.go:93] \"Reconciling\" "
                f"notebook=\"ns-antifraud-dev/lixiaoming-sample-analysis-{i % 50}\" reconcileID=\"{i:08x}-f203-4864\"")
    else:
        text = (f"10.{107 + i % 9}.136.{i % 250} - - [29/Nov/2026:10:00:{i // 1000 % 60:02d} +0000] \"POST "
                f"/api/v1.0/predictions HTTP/1.1\" 200 {200 + i % 300} \"-\" \"Go-http-client/1.1\" rt={i % 50}.0ms")
    if i % 100 == 50:
        text += " checkpoint saved"  # what the ~1% search finds
    return f"{stamp(i)} {text}"


def plain_line(i: int) -> str:
    return (f"{stamp(i)} [{i % 2000}] train-logloss:0.{46977 + i % 1000} train-auc:0.{66951 + i % 999} "
            f"eval-logloss:0.{48854 + i % 997} eval-auc:0.{65453 + i % 991} rounds left {2000 - i % 2000}")


def coloured_line(i: int) -> str:
    return (f"{stamp(i)} \x1b[33m2026-11-29 10:00:00,{i % 1000:03d} WARNING\x1b[0m [rank{i % 4}]\tdataloader.py:97"
            f"\t- slow batch: fetch took {i % 900}ms")


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def parse_rate(parse_lines, raws: list[str]) -> float:
    """Lines per CPU second through parse_lines, batches of 2,000."""
    def run() -> None:
        for i in range(0, len(raws), 2000):
            parse_lines(raws[i:i + 2000], "worker-1")
    return len(raws) / best_of(run)


SEARCHES = [  # (name, pattern): what a user looks for in a chatty training log
    ("1pct", re.compile(r"checkpoint saved")),  # ~1% of the lines
    ("none", re.compile(r"CUDA out of memory")),
    ("1pct_ignorecase", re.compile(r"CHECKPOINT", re.IGNORECASE)),
    ("1pct_word", re.compile(r"\bcheckpoint\b")),
]


def per_line(texts: list[str], pattern: re.Pattern) -> list[int]:
    search = pattern.search
    return [i for i, t in enumerate(texts) if search(t) is not None]


def follow_figures(out: dict) -> None:
    """Placeholder for the stream's figures (ingest from a follow stream of the simulator's chatty pod, with
    the UI on view, and key press to screen): the stream/screen helpers fill ``out`` here."""


def main(lines: int = 1_000_000) -> dict:
    from prophecis_tui.feeds import tune_interpreter
    from prophecis_tui.logs import LogBuffer, LogView, _matches, parse_lines

    tune_interpreter()  # as the console runs
    out: dict = {"lines": lines}

    # parse throughput
    sample = [training_line(i) for i in range(50_000)]
    out["parse_lines_per_s"] = parse_rate(parse_lines, sample)
    out["parse_plain_lines_per_s"] = parse_rate(parse_lines, [plain_line(i) for i in range(50_000)])
    out["parse_coloured_lines_per_s"] = parse_rate(parse_lines, [coloured_line(i) for i in range(20_000)])
    out["parse_avg_chars"] = statistics.mean(len(r) - 31 for r in sample)  # the text, without the stamp
    del sample

    # memory with a full buffer
    gc.collect()
    base = rss_kib()
    buf = LogBuffer(lines)
    t0 = time.process_time()
    for start in range(0, lines, 2000):
        buf.extend(parse_lines([training_line(i) for i in range(start, min(lines, start + 2000))], "worker-1"))
    out["fill_s"] = time.process_time() - t0
    gc.collect()
    out["buffer_rss_mib"] = (rss_kib() - base) / 1024
    t0 = time.perf_counter()
    view = LogView(buf)
    out["view_build_ms"] = (time.perf_counter() - t0) * 1000
    gc.collect()
    out["buffer_and_view_rss_mib"] = (rss_kib() - base) / 1024
    out["text_mib"] = sum(sys.getsizeof(t) for t in view.texts(0, lines)) / 2**20
    t0 = time.perf_counter()
    gc.collect()
    out["full_gc_ms"] = (time.perf_counter() - t0) * 1000

    # search: the view's (joined chunks) and, for comparison, a search call per line
    texts = view.texts(0, lines)
    for name, pattern in SEARCHES:
        out[f"search_{name}_hits"] = len(view.search(pattern))
        out[f"search_{name}_ms"] = best_of(lambda p=pattern: view.search(p), 3) * 1000
        out[f"search_{name}_per_line_ms"] = best_of(lambda p=pattern: per_line(texts, p), 1) * 1000
    assert _matches(texts, SEARCHES[0][1]) == per_line(texts, SEARCHES[0][1])
    texts.clear()
    out["next_error_none_ms"] = best_of(view.next_error, 3) * 1000
    t0 = time.perf_counter()
    view.set_filter(re.compile("NCCL"), "show")
    out["filter_rebuild_ms"] = (time.perf_counter() - t0) * 1000
    out["filter_rebuild_kept"] = len(view)
    view.set_filter(None, "off")

    # refresh of a full buffer: 5,000 new lines in, 5,000 old ones out
    nxt = parse_lines([training_line(i) for i in range(lines, lines + 5000)], "worker-1")
    t0 = time.perf_counter()
    buf.extend(nxt)
    out["extend_5000_ms"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    gained = view.refresh()
    out["refresh_5000_ms"] = (time.perf_counter() - t0) * 1000
    assert gained == 5000 and view.last_forgotten == 5000 and len(view) == lines
    out["dropped"] = buf.dropped

    follow_figures(out)
    return out


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(main(n)), flush=True)

"""`make bench`: performance figures of prophecis-tui, printed and written to docs/benchmarks.md.

Each figure is measured against the real program: the simulator runs as its own process
(`prophecis-tui sim`), clients talk to it over loopback exactly as in production.

The alerts figures (tests/bench_alerts.py) go into a section of their own, "Alerts", the Linkis ones
(tests/bench_linkis.py) into "Linkis" and the wall's (tests/bench_wall.py) into "Wall"; `python -m tests.bench_alerts`
(or bench_linkis, bench_wall) runs them alone and rewrites that section only.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB."""
    cur = peak = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return cur, peak


class Sim:
    """`prophecis-tui sim` as a child process."""

    def __init__(self, scale: str, workdir: Path, *, activity: bool = False) -> None:
        self.scale = scale
        self.activity = activity
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.startup = 0.0

    def __enter__(self) -> "Sim":
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [str(BIN / "prophecis-tui"), "sim", "--scale", self.scale, "--seed", "42",
             *([] if self.activity else ["--no-activity"]), "--write-config", str(self.workdir), "--ready-json"],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.startup = time.monotonic() - t0
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def bench_simulator(rows: list[tuple[str, str, str]]) -> None:
    from kubernetes import client, config

    for scale in ("small", "large"):
        with tempfile.TemporaryDirectory() as d, Sim(scale, Path(d)) as sim:
            cur, peak = rss_kib(sim.proc.pid)
            rows.append((f"simulator `{scale}`: start to serving (build + warm-up)", f"{sim.startup:.1f} s",
                         "one process, seed 42"))
            rows.append((f"simulator `{scale}`: memory after start", f"{cur / 1024:.0f} MiB RSS",
                         f"peak {peak / 1024:.0f} MiB"))
            api = config.new_client_from_config(config_file=sim.info["kubeconfig"], context="sim-admin")
            core = client.CoreV1Api(api)

            def paged() -> int:
                n, tok = 0, None
                while True:
                    r = core.list_pod_for_all_namespaces(limit=500, _continue=tok, _preload_content=False)
                    body = json.loads(r.data)
                    n += len(body["items"])
                    tok = body["metadata"].get("continue")
                    if not tok:
                        return n

            t, n = timed(paged)
            rows.append((f"`{scale}`: all pods, raw JSON pages of 500 (Python client)", f"{t * 1000:.0f} ms",
                         f"{n} pods"))
            t, resp = timed(lambda: core.list_pod_for_all_namespaces(), repeat=1)
            rows.append((f"`{scale}`: all pods in one list, into client models (Python client)", f"{t:.2f} s",
                         f"{len(resp.items)} pods; client-side model building dominates"))
            if shutil.which("kubectl"):
                cmd = ["kubectl", "--kubeconfig", sim.info["kubeconfig"], "get", "pods", "-A", "--no-headers"]
                t, out = timed(lambda: subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
                rows.append((f"`{scale}`: `kubectl get pods -A`", f"{t:.2f} s",
                             f"{len(out.splitlines())} rows (server-side Table, pages of 500)"))
            cur, peak = rss_kib(sim.proc.pid)
            rows.append((f"simulator `{scale}`: memory after the lists", f"{cur / 1024:.0f} MiB RSS",
                         f"peak {peak / 1024:.0f} MiB"))
            api.close()


def bench_console(rows: list[tuple[str, str, str]]) -> None:
    expected = {"small": 6, "large": 60}
    for scale in ("small", "large"):
        with tempfile.TemporaryDirectory() as d, Sim(scale, Path(d)) as sim:
            runs = []
            for _ in range(3):
                out = subprocess.run([sys.executable, "-m", "tests.bench_console", sim.info["kubeconfig"],
                                      str(expected[scale])], capture_output=True, text=True, cwd=ROOT)
                if out.returncode != 0:
                    print(f"console bench run failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                    continue
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            if not runs:
                continue
            ready = statistics.median(r["ready_s"] for r in runs)
            imports = statistics.median(r["imports_s"] for r in runs)
            r = runs[-1]
            rows.append((f"console on `{scale}`: process start to complete overview", f"{ready:.2f} s",
                         f"{r['pods']} pods listed and watched; imports {imports:.2f} s of it"))
            rows.append((f"console on `{scale}`: memory at the complete overview", f"{r['rss_kib'] / 1024:.0f} MiB RSS",
                         f"peak {r['peak_kib'] / 1024:.0f} MiB"))


def bench_pods_table(rows: list[tuple[str, str, str]]) -> None:
    """Issue 4's figures on `large`: the console's complete pods table against `kubectl get pods -A`, same simulator."""
    with tempfile.TemporaryDirectory() as d, Sim("large", Path(d)) as sim:
        pods = sim.info.get("counts", {}).get("pods") or 0
        kubectl = None
        if shutil.which("kubectl"):
            cmd = ["kubectl", "--kubeconfig", sim.info["kubeconfig"], "get", "pods", "-A", "--no-headers"]
            kubectl, out = timed(lambda: subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            pods = pods or len(out.splitlines())

        def child(*extra: str) -> dict | None:
            out = subprocess.run([sys.executable, "-m", "tests.bench_pods", sim.info["kubeconfig"], str(pods), *extra],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                print(f"pods bench run failed:\n{out.stderr[-3000:]}", file=sys.stderr)
                return None
            return json.loads(out.stdout.strip().splitlines()[-1])

        runs = [r for r in (child() for _ in range(3)) if r]  # on a quiet simulator, like kubectl's
        churned = child("--churn")  # it moves the simulator through simulated hours
        gpus = []  # three runs of 20 s: one run's figure moves by a third with what else this machine does
        for _ in range(3):
            gpu = subprocess.run([sys.executable, "-m", "tests.bench_gpu", sim.info["kubeconfig"], "20"],
                                 capture_output=True, text=True, cwd=ROOT)
            if gpu.returncode == 0:
                gpus.append(json.loads(gpu.stdout.strip().splitlines()[-1]))
            else:
                print(f"gpu bench run failed:\n{gpu.stderr[-3000:]}", file=sys.stderr)
        if gpus:
            g = gpus[-1]
            pcts = [r["cpu_pct_of_one_core"] for r in gpus]
            by = ", ".join(f"{k} {v:.1f}" for k, v in g["cpu_pct_by_thread"].items() if v >= 0.05)
            rows.append(("console on `large`: `:gpu` on view, metrics every second (CPU)",
                         f"{statistics.mean(pcts):.1f}% of a core",
                         f"mean of {len(pcts)} runs of 20 s ({', '.join(f'{p:.1f}%' for p in pcts)}); "
                         f"{g['gpus']} GPUs scraped from the simulated dcgm-exporter, {g['polls_per_s']:.2f} polls/s, "
                         f"last recompute {g['last_recompute_ms']:.0f} ms; by thread (last run): {by}; issue 5's "
                         "target is under 10%"))
        if not runs:
            return
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], (int, float))}
        ratio = f"{med['complete_s'] / kubectl:.2f}x kubectl ({kubectl:.2f} s)" if kubectl else "kubectl not installed"
        per_run = ", ".join(f"{r['complete_s']:.2f}" for r in runs)
        rows.append(("console on `large`: process start to the complete `:pods` table", f"{med['complete_s']:.2f} s",
                     f"{int(med['rows'])} rows; {ratio}; per run {per_run} s"))
        rows.append(("console on `large`: process start to the first screenful of pods",
                     f"{med['first_screen_s']:.2f} s", "pages are shown as they arrive"))
        worst = ", ".join(f"{r['load_worst_stall_ms']:.0f}" for r in runs)
        rows.append(("console on `large`: longest UI stall while loading", f"{med['load_worst_stall_ms']:.0f} ms",
                     f"event-loop probe every 10 ms; per run {worst} ms"))
        rows.append(("console on `large`: memory at the complete pods table", f"{med['rss_kib'] / 1024:.0f} MiB RSS", ""))
        if churned:
            rows.append(("console on `large` under churn: watch events absorbed",
                         f"{churned['churn_events_per_s']:.0f} /s",
                         "simulator advanced 5 simulated minutes per call, back to back"))
            rows.append(("console on `large` under churn: key press to screen",
                         f"{churned['churn_key_to_screen_ms_median']:.0f} ms",
                         f"median of 40 (key as the terminal driver delivers it, to the redrawn cursor line); "
                         f"max {churned['churn_key_to_screen_ms_max']:.0f} ms; "
                         f"longest UI stall {churned['churn_worst_stall_ms']:.0f} ms"))


def bench_logs(rows: list[tuple[str, str, str]]) -> None:
    """Issue 6's figures of the log core (prophecis_tui.logs): parse, memory of a full 1,000,000-line buffer,
    search over it; a child process, so the memory is its own. Then the follow figures (its own children):
    lines/s from a follow stream with the log screen on view, and key press to screen meanwhile."""
    out = subprocess.run([sys.executable, "-m", "tests.bench_logs", "1000000"], capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode != 0:
        print(f"logs bench run failed:\n{out.stderr[-3000:]}", file=sys.stderr)
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    n = r["lines"]
    rate = r["parse_lines_per_s"]
    rows.append(("log lines: parse (training-job lines with the kubelet's stamp)", f"{rate:,.0f} lines/s",
                 f"{1e6 / rate:.1f} µs a line of {r['parse_avg_chars']:.0f} characters, CPU time, batches of 2,000: "
                 f"{5e6 / rate:.0f}% of a core at 50,000 lines/s; lines with nothing to detect "
                 f"{r['parse_plain_lines_per_s']:,.0f}/s, with colours and tabs {r['parse_coloured_lines_per_s']:,.0f}/s"))
    per_line = (r["buffer_rss_mib"] - r["text_mib"]) * 2**20 / n
    rows.append((f"log buffer: memory with {n:,} lines", f"{r['buffer_rss_mib']:.0f} MiB RSS",
                 f"of which the texts themselves {r['text_mib']:.0f} MiB ({per_line:.0f} bytes a line besides); "
                 f"with a view over all of them {r['buffer_and_view_rss_mib']:.0f} MiB; "
                 f"a full garbage-collector pass then {r['full_gc_ms']:.1f} ms"))
    rows.append((f"log view: search {n:,} lines, a regex matching 1%", f"{r['search_1pct_ms']:.0f} ms",
                 f"{r['search_1pct_hits']:,} lines; matching none {r['search_none_ms']:.0f} ms; case-insensitive "
                 f"{r['search_1pct_ignorecase_ms']:.0f} ms; \\b-led {r['search_1pct_word_ms']:.0f} ms. A search call "
                 f"per line instead: {r['search_1pct_per_line_ms']:.0f} / {r['search_none_per_line_ms']:.0f} / "
                 f"{r['search_1pct_ignorecase_per_line_ms']:.0f} / {r['search_1pct_word_per_line_ms']:.0f} ms"))
    rows.append(("log view: 5,000 new lines into a full buffer, view refreshed",
                 f"{r['extend_5000_ms'] + r['refresh_5000_ms']:.1f} ms",
                 f"extend {r['extend_5000_ms']:.1f} ms (5,000 oldest dropped) + refresh {r['refresh_5000_ms']:.1f} ms; "
                 f"a filter over {n:,} lines {r['filter_rebuild_ms']:.0f} ms; next error over them (none) "
                 f"{r['next_error_none_ms']:.2f} ms"))
    follow_rows(rows, r.get("follow") or {})


GOAL_FOLLOW = "goal 50,000 lines/s with key press to update under 100 ms"


def kept_up(r: dict) -> bool:
    """A follow scenario took in what was written: 97% of the rate, and the view no more than 2 s behind."""
    got = r["lines_per_s"] if "lines_per_s" in r else r["buffer_lines_per_s"]
    return got >= 0.97 * r["offered_per_s"] and (r["lag_end_s"] or 0) < 2.0


def secs(v: float | None) -> str:
    return "?" if v is None else f"{v:.2f}"


def follow_note(r: dict) -> str:
    by = ", ".join(f"{k} {v:.0f}" for k, v in r["cpu_pct_by_thread"].items() if v >= 0.5)
    sim = f"; simulator {r['sim_cpu_pct']:.0f}%" if r.get("sim_cpu_pct") is not None else ""
    return (f"{r['view_lines_per_s']:,.0f}/s reached the view ({r['log_frames_per_s']:.0f} frames/s); behind the "
            f"container {secs(r['lag_first_s'])} s at the start, {secs(r['lag_end_s'])} s at the end; ring "
            f"{r['ring']:,} lines: {r['dropped']:,} dropped; console CPU {r['cpu_pct_of_one_core']:.0f}% of a core "
            f"({by}){sim}; the machine's CPUs {r['machine_busy_pct']:.0f}% busy (every process); longest UI stall "
            f"{r['worst_stall_ms']:.0f} ms")


def follow_rows(rows: list[tuple[str, str, str]], runs: dict) -> None:
    """Issue 6's follow figures (tests/bench_logs.py, follow_figures): the log screen headless at 200x50,
    following; a `small` simulator's chatty containers, then a paced source in the console's process (the
    console's side alone). Each scenario one window of 10 s, 20 presses of t (timestamps) spread over it."""
    machine = ("this machine's 2 CPUs are shared: figures move ~2x from hour to hour (read them beside this "
               "machine's speed)")

    def keys(r: dict) -> str:
        return (f"key press (t) to screen median {r['key_to_screen_ms_median']:.0f} ms, max "
                f"{r['key_to_screen_ms_max']:.0f} ms of {len(r['key_to_screen_ms'])}")

    paced = {k: v for k, v in runs.items() if k.startswith("paced_") and v}
    for key in ("sim_pod_50000", "sim_pod_20000", "sim_job_50000"):
        r = runs.get(key)
        if not r:
            continue
        what = (f"a pod at {r['offered_per_s']:,.0f} lines/s" if r["subject"] == "pod" else
                f"a {r['target'].split()[0]}'s {r['streams']} replicas merged, {r['offered_per_s']:,.0f} lines/s "
                "in all")
        if kept_up(r):
            limit = "kept up"
        else:
            alone = paced.get(f"paced_{r['subject']}_{int(r['offered_per_s'])}")
            raw = runs.get(f"sim_raw_{int(r['offered_per_s'])}")
            sim_short = raw is not None and not kept_up(raw)
            limit = "short of the rate: " + "; ".join(x for x in (
                (f"limited by the simulator (one asyncio thread, sharing the CPUs): read by a thread that only counts "
                 f"the lines, it delivers {raw['lines_per_s']:,.0f} lines/s at this rate ({secs(raw['lag_first_s'])} -> "
                 f"{secs(raw['lag_end_s'])} s behind; simulator {raw['sim_cpu_pct']:.0f}% of a core)") if sim_short else
                (f"the simulator alone delivers it (read by a thread that only counts the lines: "
                 f"{raw['lines_per_s']:,.0f} lines/s)") if raw else "",
                "the machine's CPUs saturated (the simulator, the console and whatever else runs on this shared "
                "machine)" if r["machine_busy_pct"] >= 90 else "",
                "the console alone keeps up with this rate (paced source below)" if alone and kept_up(alone) else
                "the console alone does not keep up with this rate either (paced source below)" if alone else "",
            ) if x)
        rows.append((f"log screen following {what} (simulator), 200x50: lines taken in",
                     f"{r['buffer_lines_per_s']:,.0f} lines/s",
                     f"{limit}; {follow_note(r)}; {keys(r)}; {GOAL_FOLLOW}; the simulator runs on the same CPUs; "
                     f"{machine}"))
        if key == "sim_pod_50000":
            rows.append((f"log screen following {what} (simulator): key press to screen",
                         f"{r['key_to_screen_ms_median']:.0f} ms",
                         f"median of {len(r['key_to_screen_ms'])} presses of t spread over 10 s (key as the terminal "
                         f"driver delivers it, to the first log row drawn with the time shown or gone); max "
                         f"{r['key_to_screen_ms_max']:.0f} ms; longest UI stall {r['worst_stall_ms']:.0f} ms, "
                         f"{r['stalls_over_50ms']} over 50 ms; {GOAL_FOLLOW}"))
    for subject, what in (("pod", "one stream"), ("job", "3 streams merged")):
        got = sorted((v for v in paced.values() if v["subject"] == subject), key=lambda v: v["offered_per_s"])
        if not got:
            continue
        ok = [v for v in got if kept_up(v) and v["key_to_screen_ms_median"] < 100]
        best = max(ok, key=lambda v: v["offered_per_s"]) if ok else None
        per_rate = "; ".join(
            f"{v['offered_per_s']:,.0f}/s offered: {v['buffer_lines_per_s']:,.0f}/s in, "
            f"{'kept up' if kept_up(v) else 'fell behind'} ({secs(v['lag_first_s'])} -> {secs(v['lag_end_s'])} s behind), "
            f"key {v['key_to_screen_ms_median']:.0f}/{v['key_to_screen_ms_max']:.0f} ms median/max, stall "
            f"{v['worst_stall_ms']:.0f} ms, CPU {v['cpu_pct_of_one_core']:.0f}% (of it the source "
            f"{v['source_cpu_pct']:.0f}%)" for v in got)
        most = max(v["buffer_lines_per_s"] for v in got)
        rows.append((f"log screen, the console's side alone ({what}, paced source): highest rate kept up with, "
                     "key median under 100 ms",
                     f"{best['offered_per_s']:,.0f} lines/s" if best else "none tried",
                     f"pre-made training-job lines through the console's own stream reader (HttpLogStream), "
                     f"LogFollow, the buffer and the screen, no simulator, no socket or TLS; at most "
                     f"{most:,.0f} lines/s taken in; {per_rate}; {GOAL_FOLLOW}; {machine}"))


def bench_demo(rows: list[tuple[str, str, str]]) -> None:
    """`prophecis-tui --demo` in a real terminal (tmux 200x50): command to the overview on screen."""
    if not shutil.which("tmux"):
        return
    times = []
    keep = f"bench-keep-{os.getpid()}"  # keeps the tmux server up between runs
    subprocess.run(["tmux", "new", "-d", "-s", keep, "sleep 600"], check=True)
    for i in range(3):
        session = f"bench-demo-{os.getpid()}-{i}"
        t0 = time.monotonic()
        subprocess.run(["tmux", "new", "-d", "-s", session, "-x", "200", "-y", "50",
                        f"{BIN / 'prophecis-tui'} --demo"], check=True)
        try:
            while time.monotonic() - t0 < 60:
                screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                        text=True).stdout
                if "kubernetes live" in screen and sum(1 for ln in screen.splitlines()
                                                       if ln.lstrip().startswith("ns-")) >= 6:
                    times.append(time.monotonic() - t0)
                    break
                time.sleep(0.05)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(["tmux", "kill-session", "-t", keep], capture_output=True)
    if times:
        rows.append(("`prophecis-tui --demo` in tmux: command to overview with live data", f"{statistics.median(times):.2f} s",
                     "includes starting its own `small` simulator"))


def machine_speed() -> float:
    """Milliseconds this machine takes for a fixed piece of pure Python (JSON and dict work, like the console's):
    the same code gave 2x apart figures on this kind of shared machine from one hour to the next, so every
    figure above is to be read beside this one, taken before and after the runs."""
    doc = {"items": [{"metadata": {"name": f"pod-{i}", "labels": {"app": "x", "n": str(i)}},
                      "status": {"phase": "Running", "ready": i % 2 == 0}} for i in range(2000)]}
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(5):
            data = json.loads(json.dumps(doc))
            sorted((d["metadata"]["name"], d["status"]["phase"]) for d in data["items"])
        best = min(best, time.process_time() - started)
    return best * 1000


def main() -> int:
    rows: list[tuple[str, str, str]] = []
    before = machine_speed()
    bench_demo(rows)
    bench_pods_table(rows)
    bench_console(rows)
    bench_logs(rows)
    bench_simulator(rows)
    after = machine_speed()
    from tests.bench_alerts import alerts_section
    alerts = alerts_section()  # issue 7's figures: a section of their own, with the machine's speed around them
    from tests.bench_linkis import linkis_section
    linkis = linkis_section()  # issue 8's: the Linkis poller, results and the result table
    from tests.bench_wall import wall_section
    wall = wall_section()  # issue 9's: the wall left alone, its CPU and memory over a few minutes
    rows.insert(0, ("this machine's speed: a fixed piece of pure Python (lower is faster)",
                    f"{before:.0f} / {after:.0f} ms", "before / after the runs (best of 5); read the figures below "
                    "beside it: the same code ran 2x slower on this shared 2-CPU machine from one hour to the next"))
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Benchmarks", "",
             f"Written by `make bench` on {when}; {platform.machine()}, {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}. Medians of 3 runs unless noted.", "",
             "| figure | value | note |", "|---|---|---|"]
    lines += [f"| {n} | {v} | {note} |" for n, v, note in rows]
    lines += alerts
    lines += linkis
    lines += wall
    out = ROOT / "docs" / "benchmarks.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

- follow (``follow_figures``, issue 6's goal: 50,000 lines/s with key-press-to-update under 100 ms): the
  real app headless at 200x50 with the log screen following, each scenario a fresh child process
  (``--follow``) against one `small` simulator: a training job's worker made chatty at 20,000 and 50,000
  lines/s, and the job's replicas merged at 50,000 in all; then the same screen fed by a paced source in the
  console's process (the simulator tops out near 45,000 lines/s of log on one core) at rising rates. For
  each: lines/s into the buffer and the view, how far behind the container the view is, dropped lines,
  the console's CPU (by thread) and the simulator's, the longest event-loop stall, and key press (t,
  timestamps) to the first row drawn with the change, 20 presses over 10 s.

Run alone: ``python -m tests.bench_logs follow`` (the follow figures only, ~2.5 minutes).
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import statistics
import sys
import threading
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


# --------------------------------------------------------------------------------------------- the follow figures
# Issue 6: lines per second taken in from a follow stream with the log screen on view, and key press to screen
# meanwhile. Each scenario is a fresh child process (``--follow``): the real app headless at 200x50, its log
# screen opened as `l` opens it (app.show_logs), following; a `small` simulator serves the pods and the logs.

FOLLOW_SECONDS = 10.0  # the measured window of each scenario
WARM_UP = 1.5  # seconds after the rate is set before the window starts
PRESSES = 20  # key presses spread over the window
SIM_RATES = (20_000, 50_000)  # a chatty pod of the simulator, lines/s
MERGED_RATE = 50_000  # all the replicas of a training job together
PACED_RATES = (50_000, 75_000, 100_000)  # the console's side alone (a paced source, no simulator)
PACED_MERGED_RATES = (50_000, 75_000)
TIME_ROW = re.compile(r"\d\d:\d\d:\d\d\.\d{3} ")  # a row that starts with the line's time (t on)


def follow_figures(out: dict) -> None:
    """The follow scenarios, each a child process against one `small` simulator (started as ``make bench``
    starts it: speed 1, no activity). Fills ``out["follow"]``: {scenario: its figures or None}."""
    import subprocess
    import tempfile
    from pathlib import Path

    from tests.bench import ROOT, Sim

    runs: dict = {}
    out["follow"] = runs
    with tempfile.TemporaryDirectory() as d, Sim("small", Path(d)) as sim:
        def child(source: str, subject: str, rate: int) -> dict | None:
            cmd = [sys.executable, "-m", "tests.bench_logs", "--follow", sim.info["kubeconfig"], source, subject,
                   str(rate), str(FOLLOW_SECONDS), str(sim.proc.pid)]
            try:
                got = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=240)
            except subprocess.TimeoutExpired:
                print(f"follow bench {source} {subject} {rate}: timed out", file=sys.stderr)
                return None
            if got.returncode != 0:
                print(f"follow bench {source} {subject} {rate} failed:\n{got.stderr[-3000:]}", file=sys.stderr)
                return None
            return json.loads(got.stdout.strip().splitlines()[-1])

        for rate in SIM_RATES:
            runs[f"sim_pod_{rate}"] = child("sim", "pod", rate)
        runs[f"sim_job_{MERGED_RATE}"] = child("sim", "job", MERGED_RATE)
        runs[f"sim_raw_{SIM_RATES[-1]}"] = child("sim", "raw", SIM_RATES[-1])
        for rate in PACED_RATES:
            runs[f"paced_pod_{rate}"] = child("paced", "pod", rate)
        for rate in PACED_MERGED_RATES:
            runs[f"paced_job_{rate}"] = child("paced", "job", rate)


class _PacedResponse:
    """The streaming side of an HTTP answer (what ``HttpLogStream`` reads) whose container writes
    ``source.rate`` lines a second: chunks of the lines due (at most ~64 KiB, as a socket read gives them),
    each line stamped (wall clock) with when it was due, as the kubelet stamps a line when it is written: a
    reader that cannot keep up shows as a growing lag. The tail asked for comes at once."""

    def __init__(self, source: "PacedSource", tail: int) -> None:
        self.source = source
        self.closed = False
        self.made = 0  # lines given
        self.anchor = (time.monotonic(), tail)  # (when, lines due then): the rate counts from there

    def stream(self, amt: int, decode_content: bool = True):
        src = self.source
        texts, n_texts = src.texts, len(src.texts)
        per_chunk = max(1, amt // 190)  # ~190 bytes a line with its stamp
        last = time.monotonic()
        stamped = 0.0
        prefix_sec, prefix = -1, ""
        while not self.closed:
            now = time.monotonic()
            t_a, n_a = self.anchor
            due = int(n_a + (now - t_a) * src.rate) - self.made
            if due < per_chunk and (due <= 0 or now - last < 0.1):
                wait = (per_chunk - max(due, 0)) / src.rate
                time.sleep(min(max(wait, 0.001), 0.1))
                continue
            k = min(due, per_chunk)
            c0 = time.thread_time()
            # stamped when due (not when made): a reader that falls behind shows as lag
            wall = max(time.time() - (now - (t_a + (self.made - n_a) / src.rate)), stamped + 1e-6)
            stamped = wall
            sec = int(wall)
            if sec != prefix_sec:
                prefix_sec, prefix = sec, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(sec))
            frac = min(int((wall - sec) * 1e9), 999_999_999 - k)
            i0 = self.made
            chunk = "".join([f"{prefix}{frac + j:09d}Z {texts[(i0 + j) % n_texts]}\n" for j in range(k)]).encode()
            src.cpu += time.thread_time() - c0
            self.made += k
            src.made += k
            last = now
            yield chunk

    def shutdown(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


class PacedSource:
    """A LogSource (``open_log``) whose containers write pre-made training-job lines at ``rate`` lines a second
    each, through the console's own stream reader (``HttpLogStream``): the console's ingest path without the
    simulator (which tops out near 45,000 lines/s on one core) and without the socket and TLS. Its own cost
    (stamping and encoding the lines) is counted in ``cpu`` (seconds) and reported apart."""

    def __init__(self) -> None:
        self.texts = [training_line(i).split(" ", 1)[1] for i in range(20_000)]
        self.rate = 2.0
        self.cpu = 0.0
        self.made = 0
        self._open: list[_PacedResponse] = []
        self._lock = threading.Lock()

    def open_log(self, namespace: str, pod: str, container: str, *, follow: bool = True, previous: bool = False,
                 since_seconds: int | None = None, since_time: str | None = None, tail_lines: int | None = None,
                 timestamps: bool = True, **_: object):
        from backends.log_stream import HttpLogStream
        resp = _PacedResponse(self, 0 if since_time else min(tail_lines if tail_lines is not None else 1000, 1000))
        with self._lock:
            self._open.append(resp)
        return HttpLogStream(resp)

    def set_rate(self, rate: float) -> None:
        """Every stream writes ``rate`` lines a second from now on."""
        now = time.monotonic()
        with self._lock:
            for r in self._open:
                t_a, n_a = r.anchor
                r.anchor = (now, max(r.made, int(n_a + (now - t_a) * self.rate)))
            self.rate = float(rate)


def _admin(kubeconfig: str, what: str, body: dict) -> dict:
    """POST /sim/admin/WHAT with the admin token of the kubeconfig (never printed)."""
    import ssl
    import urllib.request

    import yaml
    with open(kubeconfig) as fh:
        kc = yaml.safe_load(fh)
    ctx = next(c["context"] for c in kc["contexts"] if c["name"] == "sim-admin")
    server = next(c["cluster"]["server"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
    token = next(u["user"]["token"] for u in kc["users"] if u["name"] == ctx["user"])
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(f"{server}/sim/admin/{what}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=tls, timeout=60) as resp:
        return json.loads(resp.read())


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far; 0 when it cannot be read."""
    import os
    try:
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _row_text(strip) -> str:
    return "".join(seg.text for seg in strip)


class ScreenProbe:
    """Wraps the log widget's ``render_line`` for a window: counts the frames it draws (row 0), and lets
    ``key_to_screen`` wait for the first row drawn with the change a key makes."""

    def __init__(self, lines) -> None:
        self.lines = lines
        self.frames = 0
        self.want: bool | None = None  # the row to wait for starts with a time (True) or not (False)
        self.drawn = asyncio.Event()
        self._render = lines.render_line

    def __enter__(self) -> "ScreenProbe":
        self.lines.render_line = self._watching
        return self

    def __exit__(self, *exc: object) -> None:
        del self.lines.render_line

    def _watching(self, y: int):
        strip = self._render(y)
        if y == 0:
            self.frames += 1
        if self.want is not None and not self.drawn.is_set():
            text = _row_text(strip)
            if text.strip() and bool(TIME_ROW.match(text)) == self.want:
                self.drawn.set()
        return strip

    async def key_to_screen(self, app, key: str = "t") -> float:
        """Seconds from ``t`` arriving as the terminal driver delivers it to the log widget drawing a row that
        shows the change (each line's time in front of it, or gone). Pilot's press() is not used: it waits for
        the whole process to go idle, which a chatty follow never lets it do, and that wait would be counted."""
        from textual import events

        self.want = not self.lines.timestamps
        self.drawn.clear()
        try:
            t = time.monotonic()
            event = events.Key(key, key)
            event.set_sender(app)
            app._driver.send_message(event)
            await asyncio.wait_for(self.drawn.wait(), 30)
            return time.monotonic() - t
        finally:
            self.want = None


def _running_job(state):
    """The running TFJob/PyTorchJob with the most replicas, every one of them running (another training job if
    the world has none)."""
    from prophecis_tui.domain import JobState
    from screens.logs import LogSubject, pods_of
    best = []
    for j in state.training_jobs():
        pods = pods_of(state, LogSubject(j.kind, j.namespace, j.name))
        if j.state == JobState.RUNNING and len(pods) >= 2 and all(p.phase == "Running" for p in pods):
            best.append((j.kind not in ("TFJob", "PyTorchJob"), -len(pods), j.namespace, j.name, j, pods))
    if not best:
        raise SystemExit("no running multi-replica training job in the simulator")
    best.sort(key=lambda b: b[:4])
    return best[0][4], best[0][5]


def _machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU of the machine so far (/proc/stat): what else ran shows here."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    return sum(f) - f[3] - f[4], sum(f)


def raw_child(kubeconfig: str, rate: float, seconds: float, sim_pid: int) -> dict:
    """What the simulator delivers on its own: the pod the 'pod' scenario follows, made chatty at ``rate``, read
    by one thread that only splits the stream into lines (``Kubernetes.open_log``: the socket, TLS and
    HttpLogStream) and counts them; no parse, no buffer, no screen."""
    from backends.kubernetes import Kubernetes
    from prophecis_tui.feeds import Feeds
    from prophecis_tui.log_feed import stamp_ns
    from prophecis_tui.state import State
    from tests.bench_gpu import thread_cpu

    backend = Kubernetes.from_kubeconfig(kubeconfig, "sim-admin")
    state = State()
    feeds = Feeds(backend, state)
    feeds.start()
    while not (feeds.planned.is_set() and all(f.live for f in feeds.feeds)):
        time.sleep(0.05)
    _, pods = _running_job(state)
    pod = next((p for p in pods if p.replica_type.lower() == "worker"), pods[-1])
    container = pod.container_names[0]
    feeds.stop()
    stream = backend.open_log(pod.namespace, pod.name, container, follow=True, tail_lines=0, timestamps=True)
    got = {"lines": 0, "last": ""}

    def read() -> None:
        for batch in stream:
            got["lines"] += len(batch)
            got["last"] = batch[-1]

    reader = threading.Thread(target=read, name="log-raw", daemon=True)
    reader.start()
    body = {"namespace": pod.namespace, "pod": pod.name, "container": container}
    _admin(kubeconfig, "chatty", {**body, "rate": rate})
    try:
        w0 = time.time()
        offset = _admin(kubeconfig, "clock", {})["clock"]["now"] - (w0 + time.time()) / 2
        time.sleep(WARM_UP)

        def lag_s() -> float | None:
            ns = stamp_ns(got["last"].split(" ", 1)[0])
            return None if ns is None else time.time() + offset - ns / 1e9

        lag0, n0, sim0, busy0 = lag_s(), got["lines"], _proc_cpu(sim_pid), _machine_busy()
        threads0, t0 = thread_cpu(), time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - t0
        lag1, n1, sim1, busy1, threads1 = lag_s(), got["lines"], _proc_cpu(sim_pid), _machine_busy(), thread_cpu()
    finally:
        _admin(kubeconfig, "chatty", {**body, "rate": 1})
        stream.close()
    return {"source": "sim", "subject": "raw", "offered_per_s": rate, "seconds": seconds,
            "target": f"pod {pod.namespace}/{pod.name} [{container}]", "lines_per_s": (n1 - n0) / wall,
            "lag_first_s": lag0, "lag_end_s": lag1, "sim_cpu_pct": 100 * (sim1 - sim0) / wall,
            "reader_cpu_pct": 100 * (threads1.get("log-raw", 0.0) - threads0.get("log-raw", 0.0)) / wall,
            "machine_busy_pct": 100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])}


async def follow_child(kubeconfig: str, source: str, subject: str, rate: float, seconds: float,
                       sim_pid: int) -> dict:
    """One scenario: ``source`` 'sim' (the simulator's chatty containers) or 'paced' (PacedSource), ``subject``
    'pod' (a worker of a running training job) or 'job' (all its replicas merged), ``rate`` lines/s in all."""
    import os

    from backends.kubernetes import Kubernetes
    from prophecis_tui.app import ProphecisApp, Session
    from prophecis_tui.feeds import Feeds, tune_interpreter
    from prophecis_tui.log_feed import LogFollow
    from prophecis_tui.state import State
    from screens.logs import LogScreen
    from tests.bench import rss_kib
    from tests.bench_gpu import thread_cpu
    from tests.bench_pods import T0 as PODS_T0
    from tests.bench_pods import LagMonitor

    tune_interpreter()  # as `prophecis-tui` does after its imports
    backend = Kubernetes.from_kubeconfig(kubeconfig, "sim-admin")
    state = State()
    feeds = Feeds(backend, state)
    feeds.start()
    paced = PacedSource() if source == "paced" else None

    class App(ProphecisApp):
        def log_follow(self, targets, buffer, *, previous=False, since_seconds=None, tail_lines=None):
            if paced is None:
                return super().log_follow(targets, buffer, previous=previous, since_seconds=since_seconds,
                                          tail_lines=tail_lines)
            return LogFollow(paced, targets, buffer, follow=not previous, previous=previous,  # type: ignore[arg-type]
                             since_seconds=since_seconds, tail_lines=tail_lines)

    app = App(Session(backend, state, feeds, backend.identity()))
    out: dict = {"source": source, "subject": subject, "offered_per_s": rate, "seconds": seconds}
    lag = LagMonitor()
    chatty: list = []
    async with app.run_test(size=(200, 50)):
        lag.start()
        while not (feeds.planned.is_set() and all(f.live for f in feeds.feeds)):
            await asyncio.sleep(0.05)
        job, pods = _running_job(state)
        if subject == "pod":
            pod = next((p for p in pods if p.replica_type.lower() == "worker"), pods[-1])
            app.show_logs("Pod", pod.namespace, pod.name)
        else:
            app.show_logs(job.kind, job.namespace, job.name)
        deadline = time.monotonic() + 60
        while True:
            await asyncio.sleep(0.05)
            s = app.screen
            if isinstance(s, LogScreen) and s.targets and len(s.view) and s.lines.follow \
                    and all(v == "streaming" for v in s.stream_states().values()):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the log screen did not start streaming: {app.screen!r}")
        s, lines = app.screen, app.screen.lines
        targets = list(s.targets)
        out["target"] = (f"{job.kind} {job.namespace}/{job.name}" if subject == "job" else
                         f"pod {targets[0].namespace}/{targets[0].pod} [{targets[0].container}]")
        out["streams"] = len(targets)
        out["ring"] = s.buffer.capacity
        each = rate / len(targets)
        offset = 0.0  # the source's clock minus the wall clock (the lines' stamps are the source's)
        try:
            if paced is not None:
                paced.set_rate(each)
            else:
                for t in targets:
                    _admin(kubeconfig, "chatty", {"namespace": t.namespace, "pod": t.pod, "container": t.container,
                                                  "rate": each})
                    chatty.append(t)
                w0 = time.time()
                now = _admin(kubeconfig, "clock", {})["clock"]["now"]
                offset = now - (w0 + time.time()) / 2
            await asyncio.sleep(WARM_UP)

            def lag_s() -> float | None:
                n = len(s.view)
                ts = s.view.line(n - 1).ts if n else None
                return None if ts is None else time.time() + offset - ts

            def last_seq() -> int:
                n = len(s.view)
                return s.view.line(n - 1).seq if n else -1

            probe = ScreenProbe(lines).__enter__()
            total0, seq0, made0, pcpu0 = s.buffer.total, last_seq(), paced.made if paced else 0, \
                paced.cpu if paced else 0.0
            threads0, sim0, busy0 = thread_cpu(), _proc_cpu(sim_pid), _machine_busy()
            await asyncio.sleep(0.02)  # the readings above (files under /proc) wait for the GIL: not a UI stall
            lag.worst, lag.long = 0.0, []
            cpu0, wall0 = time.process_time(), time.monotonic()
            presses, lags = [], []
            for i in range(PRESSES):
                slot = wall0 + (i + 0.5) * seconds / PRESSES
                await asyncio.sleep(max(0.0, slot - time.monotonic()))
                presses.append(await probe.key_to_screen(app, "t"))
                got = lag_s()
                if got is not None:
                    lags.append(got)
            await asyncio.sleep(max(0.0, wall0 + seconds - time.monotonic()))
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            worst, stalls = lag.worst, list(lag.long)
            threads1, sim1, busy1 = thread_cpu(), _proc_cpu(sim_pid), _machine_busy()
            total1, seq1 = s.buffer.total, last_seq()
            end_lag = lag_s()
            probe.__exit__()
        finally:
            for t in chatty:  # back to a quiet log: the next scenario starts from the same world
                try:
                    _admin(kubeconfig, "chatty", {"namespace": t.namespace, "pod": t.pod, "container": t.container,
                                                  "rate": 1})
                except OSError as err:  # (urllib's errors are OSErrors) the next scenario sets its own rate
                    print(f"could not quiet {t.pod}: {err}", file=sys.stderr)
        by: dict[str, float] = {}
        for name, v in threads1.items():
            group = "main" if name == "MainThread" else "merge" if name == "log-merge" else \
                "readers" if name.startswith("log-") else "feeds" if name.startswith("feed") else "other"
            by[group] = by.get(group, 0.0) + v - threads0.get(name, 0.0)
        out["buffer_lines_per_s"] = (total1 - total0) / wall
        out["view_lines_per_s"] = (seq1 - seq0) / wall
        out["log_frames_per_s"] = probe.frames / wall
        out["lag_end_s"] = end_lag
        out["lag_first_s"] = lags[0] if lags else None  # at the first key press, ~0.25 s into the window
        out["lag_max_s"] = max(lags) if lags else None
        out["buffer_lines"] = len(s.buffer)
        out["dropped"] = s.buffer.dropped
        out["cpu_pct_of_one_core"] = 100 * cpu / wall
        out["cpu_pct_by_thread"] = {k: round(100 * v / wall, 1) for k, v in sorted(by.items())}
        out["sim_cpu_pct"] = 100 * (sim1 - sim0) / wall if paced is None else None
        # every process on the machine, in % of all its CPUs (2 here): what ran beside shows as the rest
        out["machine_busy_pct"] = 100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
        if paced is not None:
            out["source_lines_per_s"] = (paced.made - made0) / wall
            out["source_cpu_pct"] = 100 * (paced.cpu - pcpu0) / wall  # stamping and encoding, in the readers
        out["worst_stall_ms"] = worst * 1000
        out["stalls_over_50ms"] = len(stalls)
        start = wall0 - PODS_T0  # the monitor notes a stall as (seconds since tests.bench_pods was imported, ms)
        out["stalls_ms"] = [(round(t - start, 2), ms) for t, ms in stalls[:12]]  # (s into the window, ms)
        out["key_to_screen_ms"] = [round(p * 1000, 1) for p in presses]
        out["key_to_screen_ms_median"] = statistics.median(presses) * 1000
        out["key_to_screen_ms_max"] = max(presses) * 1000
        out["statuses"] = sorted(set(s.stream_states().values()))
        out["rss_mib"] = rss_kib(os.getpid())[0] / 1024
    return out


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
    if sys.argv[1:2] == ["--follow"]:  # one follow scenario (a child of follow_figures)
        kc, src, subj, rate_, secs, sim_pid = sys.argv[2:8]
        if subj == "raw":
            print(json.dumps(raw_child(kc, float(rate_), float(secs), int(sim_pid))), flush=True)
        else:
            print(json.dumps(asyncio.run(follow_child(kc, src, subj, float(rate_), float(secs), int(sim_pid)))),
                  flush=True)
    elif sys.argv[1:2] == ["follow"]:  # the follow figures alone
        figures: dict = {}
        follow_figures(figures)
        print(json.dumps(figures), flush=True)
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
        print(json.dumps(main(n)), flush=True)

"""Issue 9's figures: the wall left alone on a terminal, its CPU and memory over a few minutes; `make bench` runs it.

Run alone: ``python -m tests.bench_wall [SECONDS]`` (~4 minutes by default); it prints the rows and writes them as
the "Wall" section of docs/benchmarks.md, leaving the other sections as they are.

The wall is the real command, ``prophecis-tui wall``, with the config ``prophecis-tui sim --write-config`` writes
(the cluster, the simulated dcgm-exporter, the Alertmanager, the CMDB; every default refresh), run in a
pseudo-terminal of 200x50 whose output is read and thrown away as a terminal would draw it. The simulator (`small`,
its activity on: a new job every 45 s, notebooks stopped and started) is another process at real speed. After a
warm-up, the wall's own CPU time (``/proc/PID/stat``: every thread of it) is sampled every few seconds over the
window, with its RSS, the bytes it wrote to the terminal, and the simulator's CPU beside it; at the end ``q`` is
typed and the wall must exit 0.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

WARMUP = 40.0  # seconds before the window: the first lists, polls, the CMDB, the screen's first frames
WINDOW = 180.0  # seconds measured
SAMPLE = 5.0  # seconds between two samples
SIZE = (200, 50)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)


class Terminal:
    """A pseudo-terminal of ``SIZE`` whose output is read (and counted) as fast as the program writes it."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        self.written = 0
        self.tail = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.written += len(chunk)
            self.tail = (self.tail + chunk)[-200_000:]

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        for fd in (self.slave, self.master):
            try:
                os.close(fd)
            except OSError:
                pass


def measure(window: float = WINDOW) -> dict:
    from tests.bench import BIN, Sim, rss_kib
    with tempfile.TemporaryDirectory() as d, Sim("small", Path(d) / "sim", activity=True) as sim:
        folder = Path(sim.info["kubeconfig"]).parent
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor", "XDG_DATA_HOME": f"{d}/data",
               "XDG_CONFIG_HOME": f"{d}/cfg", "PROPHECIS_TUI_CONFIG": str(folder / "config.toml")}
        env.pop("TEXTUAL", None)
        term = Terminal()
        wall = subprocess.Popen(
            [str(BIN / "prophecis-tui"), "wall", "--kubeconfig", str(folder / "kubeconfig"), "--context", "sim-admin",
             "-A"], stdin=term.slave, stdout=term.slave, stderr=term.slave, env=env, start_new_session=True)
        try:
            time.sleep(WARMUP)
            if wall.poll() is not None:
                raise RuntimeError(f"the wall exited {wall.returncode}: {term.tail[-2000:]!r}")
            samples = []  # (monotonic, wall CPU s, wall RSS KiB, bytes written, simulator CPU s)
            end = time.monotonic() + window
            while True:
                samples.append((time.monotonic(), cpu_seconds(wall.pid), rss_kib(wall.pid)[0], term.written,
                                cpu_seconds(sim.proc.pid)))
                if samples[-1][0] >= end:
                    break
                time.sleep(min(SAMPLE, max(0.0, end - time.monotonic())))
            shown = b"updated" in term.tail and b"GPUs" in term.tail
            term.type("q")
            try:
                code = wall.wait(15)
            except subprocess.TimeoutExpired:
                code = None
        finally:
            if wall.poll() is None:
                os.killpg(wall.pid, signal.SIGKILL)
                wall.wait()
            term.close()
    (t0, c0, r0, w0, s0), (t1, c1, r1, w1, s1) = samples[0], samples[-1]
    span = t1 - t0
    steps = [(b[1] - a[1]) / (b[0] - a[0]) * 100 for a, b in zip(samples, samples[1:]) if b[0] > a[0]]
    return {"seconds": span, "cpu_percent": (c1 - c0) / span * 100, "cpu_peak_percent": max(steps),
            "rss_start_mib": r0 / 1024, "rss_end_mib": r1 / 1024, "rss_max_mib": max(s[2] for s in samples) / 1024,
            "bytes_per_s": (w1 - w0) / span, "sim_cpu_percent": (s1 - s0) / span * 100, "sample_seconds": SAMPLE,
            "shown": shown, "exit_code": code}


def rows_of(r: dict) -> list[tuple[str, str, str]]:
    return [
        ("wall: idle CPU at the default refresh", f"{r['cpu_percent']:.2f} % of a core",
         f"`prophecis-tui wall` over {r['seconds']:.0f} s after a {WARMUP:.0f} s warm-up, every thread of it; target "
         f"< 2 %; the busiest {r['sample_seconds']:.0f} s {r['cpu_peak_percent']:.1f} %"),
        ("wall: memory", f"{r['rss_start_mib']:.0f} -> {r['rss_end_mib']:.0f} MiB RSS",
         f"at the window's start and end (max {r['rss_max_mib']:.0f} MiB); the soak test "
         "(tests/test_wall_soak.py) checks a simulated day"),
        ("wall: output to the terminal", f"{r['bytes_per_s'] / 1024:.1f} KiB/s",
         f"{SIZE[0]}x{SIZE[1]} pseudo-terminal; the clock each second, the panels as their data changes"),
        ("simulator beside it", f"{r['sim_cpu_percent']:.1f} % of a core",
         "`prophecis-tui sim --scale small` at real speed, its activity on, answering the wall"),
        ("wall: quits on q", "exit 0" if r["exit_code"] == 0 else f"exit {r['exit_code']}",
         "the wall's panels were on the terminal" if r["shown"] else "the panels were NOT seen on the terminal"),
    ]


def section(rows: list[tuple[str, str, str]], by: str) -> list[str]:
    from tests.bench_alerts import table_section
    return table_section("Wall", by, f"`prophecis-tui wall` in a {SIZE[0]}x{SIZE[1]} pseudo-terminal against a "
                         "`small` simulator in another process", rows)


def wall_section(by: str = "`make bench`", window: float = WINDOW) -> list[str]:
    rows = rows_of(measure(window))
    width = max(len(n) for n, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>22}  {note}")
    return section(rows, by)


if __name__ == "__main__":
    from tests.bench_alerts import write_section
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else WINDOW
    print(f"written to {write_section(wall_section('`python -m tests.bench_wall`', seconds), 'Wall')}")

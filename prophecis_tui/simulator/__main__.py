"""`prophecis-tui sim`: serve the simulated Prophecis platform on loopback."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import signal
import sys
import time
from typing import NoReturn

from .clock import parse_rfc3339
from .faults import Faults


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit status 2), not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="prophecis-tui sim",
                                description="Serve a simulated Prophecis platform (Kubernetes API) on loopback.")
    p.add_argument("--scale", choices=["tiny", "small", "large", "xlarge"], default="small",
                   help="size of the cluster (default: small)")
    p.add_argument("--seed", type=int, default=42, help="seed of the deterministic world (default: 42)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    p.add_argument("--write-config", metavar="DIR", help="write DIR/kubeconfig with one context per identity")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (0 freezes)")
    p.add_argument("--start-time", metavar="RFC3339", help="the simulated 'now' at start (default: real now)")
    p.add_argument("--no-activity", action="store_true", help="no new jobs or notebook toggles once live")
    p.add_argument("--latency-ms", type=float, default=0.0, help="fault: latency added to every request")
    p.add_argument("--error-rate", type=float, default=0.0, help="fault: share of requests answered 500/503/429")
    p.add_argument("--drop-watch-every", type=float, default=0.0, metavar="S",
                   help="fault: close every watch stream after S seconds")
    p.add_argument("--expire-watches", type=int, default=0, metavar="N",
                   help="fault: answer the next N watch requests with ERROR 410")
    p.add_argument("--ready-json", action="store_true",
                   help="print one JSON line with the URL and kubeconfig once serving (for programs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        ip = ipaddress.ip_address(args.host)
        if not ip.is_loopback:
            print(f"warning: binding to {args.host}, which is not loopback: anyone who can reach it and holds "
                  "a token can use the simulator", file=sys.stderr)
    except ValueError:
        if args.host != "localhost":
            print(f"warning: binding to {args.host}, which may not be loopback", file=sys.stderr)
    if not (args.speed >= 0 and math.isfinite(args.speed)):
        print(f"error: --speed must be a finite number >= 0, not {args.speed}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be between 0 and 65535, not {args.port}", file=sys.stderr)
        return 2
    faults = {"latency_ms": args.latency_ms, "error_rate": args.error_rate,
              "drop_watch_every": args.drop_watch_every, "expire_watches": args.expire_watches}
    try:
        Faults().update(faults)  # checked before the (for large scales, slow) build
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    start = None
    if args.start_time:
        try:
            start = parse_rfc3339(args.start_time)
        except ValueError:
            print(f"error: --start-time {args.start_time!r} is not an RFC 3339 time", file=sys.stderr)
            return 2
    try:
        return asyncio.run(_serve(args, start))
    except KeyboardInterrupt:
        return 0


async def _serve(args: argparse.Namespace, start: float | None) -> int:
    from .sim import Simulation
    # Signal handlers first: a SIGTERM sent as soon as the ready line is read (or during the build)
    # must stop the simulator cleanly (exit 0), not kill it.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    t0 = time.monotonic()
    sim = Simulation(args.scale, args.seed, start_time=start, speed=args.speed, activity=not args.no_activity)
    sim.faults.update({"latency_ms": args.latency_ms, "error_rate": args.error_rate,
                       "drop_watch_every": args.drop_watch_every, "expire_watches": args.expire_watches})
    built = time.monotonic() - t0
    try:
        await sim.start(args.host, args.port, ca_dir=args.write_config)
    except OSError as err:
        print(f"error: cannot listen on {args.host}:{args.port}: {err.strerror or err}", file=sys.stderr)
        return 1
    url = sim.url
    try:
        kubeconfig = sim.write_config(args.write_config) if args.write_config else None
    except OSError as err:
        print(f"error: cannot write {args.write_config}/kubeconfig: {err.strerror or err}", file=sys.stderr)
        await sim.stop()
        return 1
    counts = sim.state()["counts"]
    if args.ready_json:
        print(json.dumps({"url": url, "port": sim.port, "kubeconfig": str(kubeconfig) if kubeconfig else None}),
              flush=True)
    else:
        print(f"prophecis-tui simulator: scale {args.scale}, seed {args.seed}, built in {built:.1f}s: "
              f"{counts['namespaces']} namespaces, {counts['nodes']} nodes, {counts['pods']} pods, "
              f"{counts['notebooks']} notebooks, {counts['tfjobs'] + counts['pytorchjobs'] + counts['xgboostjobs'] + counts['jobs']} "
              f"training jobs, {counts['seldondeployments']} model deployments", flush=True)
        print(f"serving the Kubernetes API on {url}", flush=True)
        if kubeconfig:
            print(f"kubeconfig: {kubeconfig} (contexts sim-admin, sim-group-admin, sim-viewer)", flush=True)
            print(f"  try: kubectl --kubeconfig {kubeconfig} get pods -A", flush=True)
            print(f"       prophecis-tui --kubeconfig {kubeconfig}", flush=True)
        print("stop with Ctrl-C", flush=True)
    await stop.wait()
    await sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What every workload controller shares: plans (what will happen to a workload), pods from templates."""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import quantity
from .engine import GPU, ContainerRT, Engine, PodRT
from .resources import ResourceType

PLAN_ANN = "sim.prophecis.io/plan"  # a test may decide a workload's fate: succeed, OOMKilled, NCCLTimeout, ...
DURATION_ANN = "sim.prophecis.io/duration"  # seconds of running before the outcome
INIT_SECONDS = "sim.prophecis.io/init-seconds"  # how long each of a pod's init containers runs (default 5)
OUTCOMES = ("succeed", "OOMKilled", "NCCLTimeout", "CudaOOM", "Error", "pullfail", "crash")


@dataclass
class Plan:
    outcome: str
    duration: float
    rate: float
    pinned: bool = False  # the outcome came from the plan annotation: nothing may change it


def plan_for(engine: Engine, rt: ResourceType, obj: dict, weights: dict[str, float], durations: tuple[float, float],
             rate: tuple[float, float] = (0.2, 2.0)) -> Plan:
    """The fate of a workload: from its simulator annotations, else drawn from the seed and its name."""
    md = obj["metadata"]
    rng = random.Random(f"{engine.seed}:{rt.key}:{md.get('namespace')}/{md['name']}:{md.get('uid')}")
    ann = md.get("annotations") or {}
    outcome = ann.get(PLAN_ANN)
    pinned = outcome in OUTCOMES
    if not pinned:
        r = rng.random() * sum(weights.values())
        for k, w in weights.items():
            r -= w
            if r <= 0:
                outcome = k
                break
        else:
            outcome = "succeed"
    try:
        duration = float(ann[DURATION_ANN])
    except (KeyError, ValueError):
        lo, hi = durations
        duration = lo * (hi / lo) ** rng.random()  # log-uniform: many short, some long
    return Plan(outcome, duration, round(rate[0] + (rate[1] - rate[0]) * rng.random(), 3), pinned)


def requests_of(spec: dict) -> dict[str, float]:
    out = {"cpu": 0.0, "memory": 0.0, GPU: 0.0}
    for c in spec.get("containers", []):
        res = c.get("resources") or {}
        req = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        out["cpu"] += quantity.parse(req.get("cpu", "0"))
        out["memory"] += quantity.parse(req.get("memory", "0"))
        out[GPU] += quantity.parse((res.get("limits") or {}).get(GPU, req.get(GPU, "0")))
    return out


def pod_runtime(pod: dict, profile: str, owner: tuple[str, str, str] | None, context: dict[str, str], *,
                rate: float = 0.5, fate: str = "run", failure: str | None = None, crash_after: float = 20.0,
                ready_delay: float = 1.0, pull_delay: float = 3.0) -> PodRT:
    spec = pod["spec"]
    md = pod["metadata"]
    containers = [ContainerRT(c["name"], c.get("image", ""), profile, rate=rate, fate=fate, failure=failure,
                              crash_after=crash_after) for c in spec["containers"]]
    # init containers: a platform-style log; each runs ``sim.prophecis.io/init-seconds`` (default 5) and exits 0
    try:
        init_for = max(0.0, float((md.get("annotations") or {}).get(INIT_SECONDS, 5.0)))
    except (TypeError, ValueError):
        init_for = 5.0
    init = [ContainerRT(c["name"], c.get("image", ""), "platform", rate=max(rate, 2.0), crash_after=init_for)
            for c in spec.get("initContainers") or [] if isinstance(c, dict) and c.get("name")]
    return PodRT(md.get("namespace", ""), md["name"], md.get("uid", ""), requests_of(spec),
                 spec.get("restartPolicy", "Always"), containers,
                 context={"pod": md["name"], "namespace": md.get("namespace", ""), **context}, owner=owner,
                 ready_delay=ready_delay, pull_delay=pull_delay, init_containers=init)


def user_of(obj: dict) -> str:
    labels = obj["metadata"].get("labels") or {}
    for k in ("MLSS-USER", "prophecis-UserId", "user"):
        if labels.get(k):
            return labels[k]
    return "unknown"

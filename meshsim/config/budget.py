"""The pre-run estimate of a simulation's size and the budget it is checked against
(:data:`~meshsim.config.limits.MAX_SIMULATED_CALLS`): a run that would simulate more calls than a laptop does in a
few minutes is refused without ``--force``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshsim.config.limits import MAX_SIMULATED_CALLS
from meshsim.config.topology import CallCmd, CallSpec, SleepCmd
from meshsim.errors import ConfigError

if TYPE_CHECKING:
    from meshsim.config.loader import MeshConfig

__all__ = ["RunEstimate", "estimate_run", "check_run_budget"]


@dataclass(frozen=True)
class RunEstimate:
    """What a run would simulate: ``requests`` entry requests, ``calls_per_request`` expected
    upstream calls each (probabilities applied, no retries), ``calls`` in total."""

    requests: float
    calls_per_request: float
    seconds: float
    rate: float

    @property
    def calls(self) -> float:
        return self.requests * (1.0 + self.calls_per_request)


def _host_service(host: str) -> str:
    """``reviews.default.svc.cluster.local`` -> ``reviews`` (Kubernetes short name)."""
    return host.split(".", 1)[0]


def _calls_per_request(cfg: MeshConfig, entry: str) -> float:
    """Expected upstream calls made on behalf of one request to ``entry`` (0 when it calls nothing).

    Follows the topology scripts; a call with ``probability: p`` counts ``p/100``. Call cycles are
    cut (the static checks report them as errors).
    """
    scripts: dict[str, list[object]] = {}
    for doc in cfg.topologies:
        g = doc.obj
        for svc in g.services:
            scripts[svc.name] = list(svc.script if svc.script is not None else (g.defaults.script or []))

    memo: dict[str, float] = {}

    def calls(name: str, stack: frozenset[str]) -> float:
        if name in memo:
            return memo[name]
        if name in stack or name not in scripts:
            return 0.0
        total = 0.0
        for step in scripts[name]:
            for cmd in step if isinstance(step, list) else [step]:
                if isinstance(cmd, SleepCmd) or not isinstance(cmd, CallCmd):
                    continue
                spec = cmd.call
                target = spec.service if isinstance(spec, CallSpec) else spec
                p = 1.0
                if isinstance(spec, CallSpec) and spec.probability:
                    p = spec.probability / 100.0
                total += p * (1.0 + calls(_host_service(target), stack | {name}))
        memo[name] = total
        return total

    return calls(_host_service(entry), frozenset())


def estimate_run(cfg: MeshConfig) -> RunEstimate | None:
    """Estimate the size of one replication of ``cfg`` (None when it cannot tell: closed-loop load
    without a think time, whose throughput only the simulation knows, or no entry service).

    requests = max rate (the LoadProfile's or any Scenario ``load`` event's) x (warm-up + duration +
    drain); closed loop: ``users / thinkTime.mean`` as its rate.
    """
    spec = cfg.load_profile.spec
    entry = spec.entry
    if entry is None:
        marked = [s.name for d in cfg.topologies for s in d.obj.services if s.isEntrypoint]
        entry = marked[0] if marked else (cfg.topologies[0].obj.services[0].name if cfg.topologies else None)
    if entry is None:
        return None
    if spec.arrival == "closed":
        if spec.thinkTime is None or spec.thinkTime.mean <= 0 or spec.users is None:
            return None
        rate = spec.users / spec.thinkTime.mean
    else:
        rate = spec.rate if spec.rate is not None else 100.0
    if cfg.scenario is not None:
        for ev in cfg.scenario.obj.spec.events:
            if ev.load is not None:
                rate = max(rate, ev.load.rate)
    seconds = spec.warmup + spec.duration + spec.drain
    return RunEstimate(rate * seconds, _calls_per_request(cfg, entry), seconds, rate)


def check_run_budget(cfg: MeshConfig, force: bool = False) -> RunEstimate | None:
    """Refuse a run estimated above :data:`MAX_SIMULATED_CALLS` calls, unless ``force``.

    Raises
    ------
    ConfigError
        One line naming the LoadProfile, the estimate and the way out (``--force``).
    """
    est = estimate_run(cfg)
    if est is None or force or est.calls <= MAX_SIMULATED_CALLS:
        return est
    where = str(cfg.load.source) if cfg.load is not None else "LoadProfile (defaults)"
    raise ConfigError(
        where,
        "spec",
        f"this run would simulate about {est.calls:.3g} calls ({est.rate:.4g} req/s x {est.seconds:.4g} s x "
        f"{1 + est.calls_per_request:.3g} calls per request), over the budget of {MAX_SIMULATED_CALLS:.3g} "
        "(about 20 min and several GB per replication); lower the rate or duration, or pass --force",
    )

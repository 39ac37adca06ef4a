"""``sidecar_cpu_limit``: the smallest sidecar CPU limit (``sidecar.istio.io/proxyCPULimit``, the same on
every Deployment) at which every SLO holds at the config's rate, by simulated bisection over millicores,
with the trace of every point tried.

The limit is set on each Deployment's pod template as Istio's annotation; the request
(``sidecar.istio.io/proxyCPU``) is kept, or lowered to the limit when it is higher (Kubernetes refuses a
request above its limit), or Istio's 100m when the Deployment had no CPU annotations (the injector then
writes only the annotated fields, ``files/injection-template.yaml``). Envoy's worker count follows the limit
(``ceil(limit)``, pilot-agent), as it does when a user sets it. Versions without a Deployment document keep
Istio's default sidecar resources and are listed in ``untouched``.

The search assumes the SLO verdict is monotone in the limit (more CPU never hurts); it checks the upper
end first and reports ``limit_m = None`` when even that fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshsim.analysis.slo import Check, Criterion, SLOSet, validate_against
from meshsim.config import load
from meshsim.config.quantity import parse_cpu
from meshsim.errors import ConfigError
from meshsim.model.build import load_and_compile
from meshsim.model.compile.cpu import ISTIO_PROXY_CPU_REQUEST, PROXY_CPU, PROXY_CPU_LIMIT
from meshsim.planning.points import TracedResult
from meshsim.planning.search import Progress, SimPoint, TraceStep, _worst, simulate_point

__all__ = ["SidecarLimit", "limit_overrides", "sidecar_cpu_limit"]

_ANN = "spec.template.metadata.annotations"
_PROBE_M = 1234
"""A limit (millicores) set once to find the workloads no Deployment's annotation reaches."""


@dataclass
class SidecarLimit(TracedResult):
    """The answer of :func:`sidecar_cpu_limit`: the smallest limit tried at which every SLO held
    (``limit_m``, millicores; None: not even ``hi_m``), the largest at which one failed (``failed_at_m``),
    the checks and throttling of the sidecars at ``limit_m``, the trace, and the Deployments it set."""

    limit_m: int | None
    failed_at_m: int | None
    checks: list[Check]
    trace: list[TraceStep]
    deployments: list[str]
    untouched: list[str]
    throttled: dict[str, float] = field(default_factory=dict)
    """Per sidecar at ``limit_m``: the fraction of its active CFS periods in which it was throttled."""
    seed: int = 1
    replications: int = 4
    rate: float | None = None
    digest: str = ""

    def to_frame(self) -> Any:
        return self.trace_frame()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sidecar_cpu_limit_m": self.limit_m,
            "failed_at_m": self.failed_at_m,
            "rate_rps": self.rate,
            "deployments": self.deployments,
            "untouched": self.untouched,
            "throttled_fraction": self.throttled,
            "checks": [c.as_row() for c in self.checks],
            "trace": [t.as_row() for t in self.trace],
            "seed": self.seed,
            "replications": self.replications,
            "config_digest": self.digest,
        }

    def _repr_html_(self) -> str:
        return f"<p><b>sidecar CPU limit</b>: {self.limit_m}m (fails at {self.failed_at_m}m)</p>" + str(
            self.trace_frame().to_html()
        )


def _deployments(paths: Sequence[str], overrides: Sequence[str]) -> list[tuple[str, float | None]]:
    """(name, sidecar CPU request in cores or None) of every Deployment document of the config."""
    cfg = load(list(paths), list(overrides))
    out = []
    for d in cfg.deployments:
        ann = d.obj.spec.template.metadata.annotations or {}
        req = ann.get(PROXY_CPU)
        out.append((d.obj.metadata.name, parse_cpu(req) if req is not None else None))
    return out


def limit_overrides(deployments: Sequence[tuple[str, float | None]], limit_m: int) -> list[str]:
    """``--set`` assignments giving every Deployment's sidecar the limit ``limit_m`` millicores (and a request
    no higher than it; module docstring)."""
    out = []
    for name, req in deployments:
        r = ISTIO_PROXY_CPU_REQUEST if req is None else req
        req_m = min(math.ceil(r * 1000 - 1e-9), limit_m)
        out += [
            f'Deployment/{name}.{_ANN}["{PROXY_CPU_LIMIT}"]={limit_m}m',
            f'Deployment/{name}.{_ANN}["{PROXY_CPU}"]={req_m}m',
        ]
    return out


def _throttled(p: SimPoint) -> dict[str, float]:
    return {
        c.pod: c.nr_throttled / c.nr_periods
        for c in p.summary.containers
        if c.container == "istio-proxy" and c.nr_periods
    }


def _untouched(paths: Sequence[str], overrides: Sequence[str], deps: Sequence[tuple[str, float | None]]) -> list[str]:
    """Workload keys whose sidecar no Deployment annotation reaches (found by setting a probe limit once)."""
    probe, _ = load_and_compile(list(paths), [*overrides, *limit_overrides(deps, _PROBE_M)])
    return sorted(
        w.key
        for s in probe.services
        for w in s.workloads
        if w.proxy_cpu.limit_cores is None or abs(w.proxy_cpu.limit_cores - _PROBE_M / 1000) > 1e-9
    )


def _bisect(
    ok: Callable[[int], bool], lo: int, hi: int, rel_tol: float, max_points: int, points: Callable[[], int]
) -> tuple[int | None, int | None]:
    """``(good, bad)`` millicores: ``hi`` first (None, hi when it fails), then ``lo``, then geometric bisection
    (a limit's scale is relative) until ``good - bad <= max(rel_tol x good, 1)`` or ``points()`` reaches
    ``max_points``."""
    if not ok(hi):
        return None, hi
    if ok(lo):
        return lo, None
    good, bad = hi, lo
    while good - bad > max(rel_tol * good, 1) and points() < max_points:
        mid = round(math.sqrt(good * bad))
        if mid in (good, bad):
            break
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good, bad


def sidecar_cpu_limit(
    paths: Sequence[str],
    slos: SLOSet,
    overrides: Sequence[str] = (),
    seed: int = 1,
    replications: int = 4,
    workers: int | None = None,
    criterion: Criterion = "ci",
    lo_m: int = 10,
    hi_m: int = 2000,
    rel_tol: float = 0.05,
    max_points: int = 12,
    progress: Progress | None = None,
) -> SidecarLimit:
    """The smallest sidecar CPU limit (millicores, one for every Deployment) at which every SLO holds.

    ``hi_m`` (default 2000m, Istio's ``global.proxy.resources.limits.cpu``) is simulated first, then ``lo_m``;
    then geometric bisection between them until ``bad - good <= max(rel_tol x good, 1m)`` or ``max_points``
    points. Every point uses ``seed`` (common random numbers). Rates and everything else are the config's
    (``--rps`` arrives here as a ``LoadProfile.spec.rate`` override).

    Raises
    ------
    meshsim.errors.ConfigError
        On bad input, or when the config has no Deployment to set a limit on.
    """
    say = progress or (lambda _m: None)
    model, _ = load_and_compile(list(paths), list(overrides))
    validate_against(slos, model)
    deps = _deployments(paths, overrides)
    if not deps:
        raise ConfigError(
            str(paths[0]) if paths else "--set",
            "Deployment",
            "no Deployment to set sidecar.istio.io/proxyCPULimit on (the sidecar limit search needs the pods'"
            " Deployments)",
        )
    names = {n for n, _ in deps}
    untouched = _untouched(paths, overrides, deps)
    trace: list[TraceStep] = []
    memo: dict[int, SimPoint] = {}

    def sim(m: int) -> SimPoint:
        if m not in memo:
            pnt = memo[m] = simulate_point(
                paths, [*overrides, *limit_overrides(deps, m)], slos, seed, replications, workers, criterion
            )
            worst, wv = _worst(pnt.checks)
            trace.append(
                TraceStep(len(trace), "simulation", {}, f"sidecar limit {m}m", pnt.ok, worst, wv, digest=pnt.digest)
            )
            say(f"sidecar limit {m}m: {'ok' if pnt.ok else 'violates ' + worst}")
        return memo[m]

    good, bad = _bisect(lambda m: sim(m).ok, lo_m, hi_m, rel_tol, max_points, lambda: len(memo))
    best = memo[good] if good is not None else None
    return SidecarLimit(
        limit_m=good,
        failed_at_m=bad,
        checks=best.checks if best is not None else memo[hi_m].checks,
        trace=trace,
        deployments=sorted(names),
        untouched=untouched,
        throttled=_throttled(best) if best is not None else {},
        seed=seed,
        replications=replications,
        rate=model.load.rate,
        digest=model.digest,
    )

"""``max_load``: the highest entry rate at which every SLO still holds (analytic bisection to start,
then simulated bisection), with the trace of every point tried."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from meshsim.analysis.slo import (
    Check,
    Criterion,
    SLOSet,
    all_ok,
    evaluate_analytic,
    validate_against,
)
from meshsim.model.analytic import analyze
from meshsim.model.build import load_and_compile
from meshsim.model.ir import MeshModel
from meshsim.planning.points import TracedResult
from meshsim.planning.search import Progress, SimPoint, TraceStep, _worst, simulate_point

__all__ = ["MaxLoad", "max_load"]


@dataclass
class MaxLoad(TracedResult):
    """The answer of :func:`max_load`: the highest simulated entry rate (requests/s) at which every SLO
    held (``rate``), the lowest at which one failed (``failed_at``), the analytic estimate, the checks at
    ``rate`` and the trace."""

    rate: float | None
    failed_at: float | None
    analytic_rate: float | None
    checks: list[Check]
    trace: list[TraceStep]
    seed: int
    replications: int
    digest: str = ""

    def to_frame(self) -> Any:
        return self.trace_frame()

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_load_rps": self.rate,
            "failed_at_rps": self.failed_at,
            "analytic_max_load_rps": self.analytic_rate,
            "checks": [c.as_row() for c in self.checks],
            "trace": [t.as_row() for t in self.trace],
            "seed": self.seed,
            "replications": self.replications,
            "config_digest": self.digest,
        }

    def _repr_html_(self) -> str:
        return f"<p><b>max load</b>: {self.rate} req/s (fails at {self.failed_at})</p>" + str(
            self.trace_frame().to_html()
        )


def _analytic_rate(model: MeshModel, slos: SLOSet, r0: float, trace: list[TraceStep]) -> float | None:
    """The analytic model's highest SLO-meeting rate (requests/s; doubling from ``r0``, then bisection to 1 %),
    or None when the model cannot be solved; the step is appended to ``trace``."""
    try:

        def a_ok(r: float) -> bool:
            return all_ok(evaluate_analytic(slos, analyze(model, rate=r, samples=8000, seed=7)))

        lo, hi = 0.0, r0
        while a_ok(hi) and hi < r0 * 1e4:
            lo, hi = hi, hi * 2
        for _ in range(40):
            if hi - lo <= 0.01 * hi:
                break
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if a_ok(mid) else (lo, mid)
        rate = lo if lo > 0 else None
        trace.append(TraceStep(0, "analytic", {}, "bisection on the analytic model", True, "", None, rate=rate))
        return rate
    except ValueError as exc:
        trace.append(TraceStep(0, "analytic", {}, f"analytic model skipped: {exc}", False, "", None))
        return None


def _walk_and_bisect(
    ok: Callable[[float], bool], start: float, max_points: int, rel_tol: float, points: Callable[[], int]
) -> tuple[float | None, float | None]:
    """From ``start``, 10 % steps up while ``ok`` (down while not) until the verdict changes, then bisection
    until ``(bad - good) <= rel_tol x good`` or ``points()`` reaches ``max_points``: (good, bad) rates."""
    good: float | None = None
    bad: float | None = None
    r = start
    for _ in range(max_points):
        if ok(r):
            good = r
            if bad is not None:
                break
            r *= 1.1
        else:
            bad = r
            if good is not None:
                break
            r /= 1.1
    while good is not None and bad is not None and (bad - good) > rel_tol * good and points() < max_points:
        mid = (good + bad) / 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good, bad


def max_load(
    paths: Sequence[str],
    slos: SLOSet,
    overrides: Sequence[str] = (),
    seed: int = 1,
    replications: int = 4,
    workers: int | None = None,
    criterion: Criterion = "ci",
    rel_tol: float = 0.05,
    max_points: int = 12,
    progress: Progress | None = None,
) -> MaxLoad:
    """The highest entry rate (requests/s) at which the config, as given, meets every SLO.

    The analytic model brackets the answer (bisection to 1%); simulation then walks from it in 10%
    steps until the SLO verdict changes and bisects until the bracket is within ``rel_tol``
    (relative). Rate changes are ``LoadProfile.spec.rate=R`` overrides.

    Raises
    ------
    meshsim.errors.ConfigError
        On bad input.
    """
    say = progress or (lambda _m: None)
    model, _ = load_and_compile(list(paths), list(overrides))
    validate_against(slos, model)
    r0 = model.load.rate or 100.0
    trace: list[TraceStep] = []
    analytic_rate = _analytic_rate(model, slos, r0, trace)
    memo: dict[float, SimPoint] = {}

    def sim(r: float) -> SimPoint:
        r = round(r, 3)
        if r not in memo:
            memo[r] = simulate_point(
                paths, [*overrides, f"LoadProfile.spec.rate={r}"], slos, seed, replications, workers, criterion
            )
            pnt = memo[r]
            worst, wv = _worst(pnt.checks)
            trace.append(
                TraceStep(
                    len(trace), "simulation", {}, f"simulate {r:g} req/s", pnt.ok, worst, wv, digest=pnt.digest, rate=r
                )
            )
            say(f"{r:g} req/s: {'ok' if pnt.ok else 'violates ' + worst}")
        return memo[r]

    good, bad = _walk_and_bisect(lambda r: sim(r).ok, analytic_rate or r0, max_points, rel_tol, lambda: len(memo))
    checks = memo[round(good, 3)].checks if good is not None else []
    return MaxLoad(good, bad, analytic_rate, checks, trace, seed, replications, model.digest)

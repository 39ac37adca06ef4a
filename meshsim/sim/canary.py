"""A Flagger-style canary controller: its analysis loop over the run's per-interval series."""

from __future__ import annotations

from typing import Any

from meshsim.metrics.series import Series
from meshsim.model.timeline import CanaryIR
from meshsim.sim.context import SimContext
from meshsim.sim.kernel import Gen
from meshsim.sim.scenario import ScenarioDriver

__all__ = ["CanaryController"]


class CanaryController:
    """Flagger's analysis loop (https://docs.flagger.app/usage/how-it-works): advance, halt, promote or roll back every interval."""

    def __init__(self, ctx: SimContext, canary: CanaryIR, driver: ScenarioDriver, series: Series) -> None:
        self.env = ctx.env
        self.series = series
        self.c = canary
        self.driver = driver
        self.outcome = "in_progress"
        self.at: float | None = None
        self.failed = 0
        self.weights: list[tuple[float, int]] = []
        self.checks: list[dict[str, Any]] = []
        self.configured = 0

    def _set(self, w: int, why: str) -> None:
        self.configured = w
        self.weights.append((self.env.now, w))
        self.driver.set_canary_weight(w, f"canary {self.c.name}: {why}")

    def check(self) -> tuple[bool, str]:
        """All metrics over their windows ending now; no data fails (Flagger's 'no values found')."""
        now = self.env.now
        series = self.series
        for name, lo, hi, window in self.c.metrics:
            n, ok, sk = series.window(self.c.canary_workloads, now - window, now)
            if n == 0:
                return False, f"no values found for {name}"
            if name == "request-success-rate":
                val = 100.0 * ok / n
                if lo is not None and val < lo:
                    return False, f"success rate {val:.2f}% < {lo:g}%"
                if hi is not None and val > hi:
                    return False, f"success rate {val:.2f}% > {hi:g}%"
            else:
                p99 = float(sk.get_quantile_value(0.99) or 0.0)
                if hi is not None and p99 > hi:
                    return False, f"request duration p99 {p99:.0f}ms > {hi:g}ms"
                if lo is not None and p99 < lo:
                    return False, f"request duration p99 {p99:.0f}ms < {lo:g}ms"
        return True, "all checks passed"

    def run(self) -> Gen:
        c = self.c
        if c.start > self.env.now:
            yield self.env.timeout(c.start - self.env.now)
        self._set(c.weights[0], f"advance canary weight {c.weights[0]}")
        i = 0
        while True:
            yield self.env.timeout(c.interval)
            ok, why = self.check()
            self.checks.append({"t": self.env.now, "passed": ok, "reason": why, "weight": self.configured})
            if not ok:
                self.failed += 1
                if self.failed >= c.threshold:
                    self._set(0, f"rolling back: failed checks threshold reached {self.failed}")
                    self.outcome, self.at = "rolled_back", self.env.now
                    return
                continue
            if i == len(c.weights) - 1:
                self._set(100, "promotion: routing all traffic to the new version")
                self.outcome, self.at = "promoted", self.env.now
                return
            i += 1
            self._set(c.weights[i], f"advance canary weight {c.weights[i]}")

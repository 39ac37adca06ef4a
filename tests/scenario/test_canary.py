"""Progressive delivery with Flagger's semantics (prior-art §5)."""

from __future__ import annotations

from math import comb
from pathlib import Path

from scipy import stats

from meshsim.pipeline import load_and_compile, simulate

FIX = Path(__file__).parent / "fixtures"
BAD = "MockServiceGraph.services[name=backend].versions.v2.errorRate"


def _run(files: list[str], sets: list[str], replications: int = 1, seed: int = 1, workers: int = 1):
    model, _ = load_and_compile([str(FIX / f) for f in files], sets)
    return simulate(model, seed=seed, replications=replications, workers=workers)


def test_healthy_canary_promotes_after_interval_times_max_over_step_in_every_replication() -> None:
    """Flagger: minimum time to promote = interval x maxWeight/stepWeight (10 s x 50/10 = 50 s after
    the start at 5 s); a healthy canary reaches it in every replication, stepping 10..50 then 100."""
    s = _run(
        ["base.yaml", "canary.yaml"],
        ["LoadProfile.spec.rate=200", "LoadProfile.spec.duration=60s"],
        replications=4,
        workers=2,
    )
    c = s.scenario.canary
    assert c.outcomes == {"promoted": 4, "rolled_back": 0, "in_progress": 0}
    assert c.at_s == 55.0 and c.failed_checks == 0
    assert [w for _, w in c.weights] == [10, 20, 30, 40, 50, 100]
    assert c.verdict.startswith("promoted at 55s")
    # the observed split follows the configured weight (weight 40 from 35 s to 45 s)
    pts = [p for p in s.scenario.series if 36 <= p.t_s < 44]
    obs = sum(p.canary_weight_observed for p in pts) / len(pts)
    assert abs(obs - 40) < 4


def test_bad_canary_rolls_back_after_interval_times_threshold_in_every_replication() -> None:
    """5% errors against a 99% success-rate minimum: every check fails, rollback after
    interval x threshold = 30 s (at 35 s), and about weight x 5% = 0.5% of users saw errors."""
    s = _run(["base.yaml", "canary.yaml"], [f"{BAD}=0.05", "LoadProfile.spec.duration=40s"], replications=4, workers=2)
    c = s.scenario.canary
    assert c.outcomes == {"promoted": 0, "rolled_back": 4, "in_progress": 0}
    assert c.at_s == 35.0 and c.failed_checks == 3
    assert [w for _, w in c.weights] == [10, 0]
    assert all(not ch.passed and ch.reason.startswith("success rate") for ch in c.checks)
    assert "rolled back at 35s" in c.verdict and "of users saw errors" in c.verdict
    # blast radius: errors among entry requests during the rollout ~ Binomial(n, 0.1 x 0.05)
    lo, hi = stats.binom.interval(0.999, c.rollout_requests, 0.005)
    assert lo <= c.rollout_errors <= hi


def test_false_rollback_probability_at_low_traffic_matches_the_binomial() -> None:
    """One check decides (threshold 1), the canary serves 50% of exactly 40 requests per window and
    fails 0.5% of them: a check fails when any of its K ~ Bin(40, 1/2) requests fails (1/K > 1%) or
    K = 0 (no data), so P(false rollback) = sum_k Bin(40,1/2)(k) (1 - 0.995^k) + 2^-40."""
    p = 0.005
    want = sum(comb(40, k) * 0.5**40 * (1.0 if k == 0 else 1 - (1 - p) ** k) for k in range(41))
    n = 300
    s = _run(
        ["base.yaml", "single-check.yaml", "instant-control-plane.yaml"],
        [f"{BAD}={p}", "LoadProfile.spec.duration=16s"],
        replications=n,
    )
    c = s.scenario.canary
    assert c.outcomes["in_progress"] == 0
    k = c.outcomes["rolled_back"]
    lo, hi = stats.binomtest(k, n).proportion_ci(confidence_level=0.999)
    assert lo <= want <= hi, (k / n, want)
    assert c.p_rolled_back.ci_low <= k / n <= c.p_rolled_back.ci_high


def test_canary_without_traffic_halts_then_rolls_back() -> None:
    """No requests reach the canary: Flagger's 'Halt advancement no values found' keeps the weight
    (no advance) and counts as a failed check, so the rollout rolls back after threshold intervals."""
    s = _run(
        ["base.yaml", "canary.yaml"],
        ["LoadProfile.spec.rate=0.001", "LoadProfile.spec.duration=40s", "LoadProfile.spec.drain=0s"],
    )
    c = s.scenario.canary
    assert [w for _, w in c.weights] == [10, 0]
    assert [ch.reason for ch in c.checks] == ["no values found for request-success-rate"] * 3
    assert c.outcome == "rolled_back" and c.at_s == 35.0

"""Metastability verdicts on synthetic time series (fast, no simulation)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from meshsim.metrics.series import Series
from meshsim.storm.verdict import Trigger, VerdictParams, classify, trigger_of

T0, T1 = 5.0, 50.0
TRIG = Trigger(15.0, 20.0, "slow leaf x2 for 5s")


def _series(goodput_of, rate: float = 70.0, ms: float = 50.0, seed: int = 0) -> Series:
    """Entry completions at Poisson ``rate`` per 1 s bucket, a fraction ``goodput_of(t)`` succeeding."""
    rng = np.random.default_rng(seed)
    s = Series(1.0)
    for b in range(0, int(T1) + 2):
        for _ in range(rng.poisson(rate)):
            ok = rng.random() < goodput_of(b)
            s.add_entry(b + 0.5, bool(ok), ms if ok else 5 * ms)
        s.queue[b] = {"leaf.v1": 0.0 if goodput_of(b) > 0.9 else 100.0 * b}
    return s


def test_stable_when_never_degraded() -> None:
    """Poisson noise alone at 70 req/s, over 41 overlapping windows, stays within the tolerance."""
    for seed in range(20):
        v, wins = classify(_series(lambda t: 1.0, seed=seed), T0, T1, TRIG)
        assert v.verdict == "stable", (seed, [w for w in wins if not w.healthy])
    assert v.recovery_s is None and len(wins) == int(T1 - T0) - 5 + 1


def test_recovered_with_recovery_time() -> None:
    """All requests fail from 15 s to 28 s: the first window that is healthy for good starts at 28 s,
    8 s after the trigger ended."""
    v, _ = classify(_series(lambda t: 0.0 if 15 <= t < 28 else 1.0), T0, T1, TRIG)
    assert v.verdict == "recovered"
    assert v.recovered_at_s == 28.0 and v.recovery_s == 8.0
    assert v.peak_queue["leaf.v1"] == 2700.0 and v.end_queue["leaf.v1"] == 0.0
    assert v.failed_requests > 800


def test_metastable_when_still_degraded_at_the_end() -> None:
    v, wins = classify(_series(lambda t: 0.0 if t >= 15 else 1.0), T0, T1, TRIG)
    assert v.verdict == "metastable" and not wins[-1].healthy
    assert v.end_goodput_rps == 0.0 and v.baseline_goodput_rps == pytest.approx(70, rel=0.1)


def test_p99_alone_can_degrade() -> None:
    """Every request succeeds but takes 4x the baseline latency after the trigger: degraded."""
    rng = np.random.default_rng(1)
    s = Series(1.0)
    for b in range(0, int(T1) + 1):
        for _ in range(rng.poisson(70)):
            s.add_entry(b + 0.5, True, 200.0 if b >= 15 else 50.0)
    v, _ = classify(s, T0, T1, TRIG)
    assert v.verdict == "metastable"
    v, _ = classify(s, T0, T1, TRIG, VerdictParams(p99_factor=5.0))
    assert v.verdict == "stable"


def test_undetermined_without_a_window_after_the_trigger() -> None:
    v, wins = classify(_series(lambda t: 1.0), T0, T1, Trigger(15.0, 48.0, "long"))
    assert v.verdict == "undetermined" and wins == []


def _ev(action: str, at: float, duration: float | None = None, ramp: float | None = None) -> SimpleNamespace:
    return SimpleNamespace(action=action, at=at, duration=duration, ramp=ramp, description=action)


def test_trigger_of() -> None:
    tl = SimpleNamespace(canary=None, events=[_ev("slow", 10, 5)])
    assert (trigger_of(tl).start, trigger_of(tl).end) == (10, 15)
    scale = SimpleNamespace(canary=None, events=[_ev("scale", 10), _ev("scale", 18)])
    assert (trigger_of(scale).start, trigger_of(scale).end) == (10, 18)
    assert trigger_of(SimpleNamespace(canary=None, events=[_ev("slow", 10)])) is None  # permanent
    assert trigger_of(SimpleNamespace(canary=None, events=[_ev("load", 10, ramp=5)])) is None
    assert trigger_of(SimpleNamespace(canary=None, events=[_ev("kill", 10)])) is None
    assert trigger_of(SimpleNamespace(canary=None, events=[_ev("apply", 10)])) is None
    assert trigger_of(SimpleNamespace(canary=object(), events=[_ev("slow", 10, 5)])) is None
    assert trigger_of(None) is None

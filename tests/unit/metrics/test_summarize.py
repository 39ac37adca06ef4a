"""summarize's use of the interval rules: the initial-transient warning and the pooled centre."""

from __future__ import annotations

import numpy as np

from meshsim.metrics.recorder import Tally
from meshsim.metrics.summarize import latency, transient_finding, transient_warmup


def _tally(batch_means: list[float], n: int = 400, seed: int = 1) -> Tally:
    rng = np.random.default_rng(seed)
    t = Tally(len(batch_means))
    for b, m in enumerate(batch_means):
        for v in rng.exponential(m, n):
            t.add(b, float(v))
    return t


def test_a_strong_transient_suggests_a_longer_warmup() -> None:
    t = _tally([40.0, 25.0, 15.0] + [10.0] * 7)
    got = transient_warmup([t], warmup=5.0, duration=50.0)
    assert got is not None and 5.0 + 2 * 5.0 <= got <= 5.0 + 5 * 5.0
    msg = str(transient_finding(5.0, got))
    assert msg.startswith("warning: LoadProfile: spec.warmup:") and "--warmup" in msg and "kept 5s" in msg


def test_a_stationary_series_gets_no_warning() -> None:
    for seed in range(5):
        assert transient_warmup([_tally([10.0] * 10, seed=seed)], warmup=5.0, duration=50.0) is None


def test_latency_value_is_the_pooled_quantile_inside_its_interval() -> None:
    t = _tally([10.0] * 10, n=2000)
    lat = latency([t])
    assert lat.p99.value == round(float(t.merged().get_quantile_value(0.99)), 4)
    assert lat.p99.ci_low is not None and lat.p99.ci_high is not None
    assert lat.p99.ci_low < lat.p99.value < lat.p99.ci_high
    assert lat.mean.value == round(t.total / t.n, 4)

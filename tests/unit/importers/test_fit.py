"""Self-time fits: the right family wins, with its parameters, and the fallback is empirical."""

from __future__ import annotations

import numpy as np

from meshsim.importers.fit import fit_self_times
from meshsim.units import parse_duration


def test_lognormal_samples_fit_lognormal_with_their_median_and_p99() -> None:
    rng = np.random.default_rng(1)
    x = rng.lognormal(np.log(3e-3), 0.6, 5000)
    f = fit_self_times(x)
    assert f.chosen == "lognormal" and f.scores["lognormal"] < 0.02 < f.scores["gamma"]
    assert abs(parse_duration(f.sleep["median"]) - 3e-3) < 0.1e-3
    p99 = 3e-3 * np.exp(2.3263478740408408 * 0.6)
    assert abs(parse_duration(f.sleep["p99"]) - p99) / p99 < 0.05


def test_gamma_samples_are_written_as_empirical_because_sleep_has_no_gamma() -> None:
    rng = np.random.default_rng(2)
    f = fit_self_times(rng.gamma(4.0, 1e-3, 5000))
    assert f.chosen == "empirical" and f.scores["gamma"] < f.scores["lognormal"] and "gamma" in f.note
    assert len(f.sleep["samples"]) == 200


def test_bimodal_samples_fall_back_to_empirical_and_keep_both_modes() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(1e-3, 1e-4, 3000), rng.normal(10e-3, 5e-4, 1000)])
    f = fit_self_times(x)
    assert f.chosen == "empirical" and min(f.scores["gamma"], f.scores["lognormal"]) > 0.05
    s = np.array([parse_duration(v) for v in f.sleep["samples"]])
    assert abs(np.mean(s > 5e-3) - 0.25) < 0.01


def test_few_or_equal_samples() -> None:
    assert fit_self_times(np.array([2e-3] * 50)).sleep == {"dist": "constant", "value": "2000us"}
    f = fit_self_times(np.array([1e-3, 2e-3, 3e-3]))
    assert f.chosen == "empirical" and "3 samples" in f.note

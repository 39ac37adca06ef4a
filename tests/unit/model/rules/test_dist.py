"""Distribution construction and draws (meshsim.model.rules.dist)."""

from __future__ import annotations

import numpy as np
import pytest

from meshsim.config.distributions import Constant, Exponential
from meshsim.model.ir import Dist
from meshsim.model.rules.dist import draw, draws, to_dist


def test_to_dist_keeps_mean_and_scv() -> None:
    assert to_dist(Constant.model_validate({"dist": "constant", "value": 0.01})) == Dist("constant", (0.01,), 0.01, 0.0)
    e = to_dist(Exponential.model_validate({"dist": "exponential", "mean": 0.02}))
    assert (e.kind, e.params, e.mean, e.scv) == ("exponential", (0.02,), 0.02, 1.0)
    with pytest.raises(TypeError):
        to_dist(0.5)


def test_draws_use_the_generator_method_of_the_kind() -> None:
    d = Dist("lognormal", (-5.0, 0.5), 0.0, 0.0)
    a = draws(d, np.random.default_rng(7), 1000)
    b = np.random.default_rng(7).lognormal(-5.0, 0.5, 1000)
    assert np.array_equal(a, b)
    # sample mean within 4 standard errors of exp(mu + sigma^2 / 2)
    m = np.exp(-5.0 + 0.125)
    assert abs(a.mean() - m) < 4 * a.std() / np.sqrt(a.size)
    emp = Dist("empirical", (1.0, 2.0, 3.0), 2.0, 0.0)
    assert set(draws(emp, np.random.default_rng(1), 100)) <= {1.0, 2.0, 3.0}
    assert draw(emp, np.random.default_rng(1)) in (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="unknown distribution kind"):
        draw(Dist("pareto", (1.0,), 1.0, 1.0), np.random.default_rng(1))  # type: ignore[arg-type]

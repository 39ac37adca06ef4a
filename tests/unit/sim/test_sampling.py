"""meshsim.sim.sampling: block draws hand out exactly the stream's sequence, whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest

from meshsim.model.ir import Dist
from meshsim.sim.sampling import BLOCK, Uniform, sampler

DISTS = [
    (Dist("exponential", (0.01,), 0.01, 0.01), lambda g, n: g.exponential(0.01, n)),
    (Dist("lognormal", (-5.0, 0.7), 0.0, 0.0), lambda g, n: g.lognormal(-5.0, 0.7, n)),
    (Dist("uniform", (1.0, 2.0), 1.5, 1.5), lambda g, n: g.uniform(1.0, 2.0, n)),
    (Dist("empirical", (1.0, 2.0, 5.0), 2.0, 2.0), lambda g, n: g.choice(np.array([1.0, 2.0, 5.0]), n)),
]


@pytest.mark.parametrize(("dist", "bulk"), DISTS, ids=[d.kind for d, _ in DISTS])
def test_sampler_values_are_the_streams_sequence_across_blocks(dist, bulk) -> None:  # type: ignore[no-untyped-def]
    n = 3 * BLOCK + 5
    draw = sampler(dist, np.random.default_rng(11))
    got = [draw() for _ in range(n)]
    assert got == bulk(np.random.default_rng(11), n).tolist()
    assert all(type(v) is float for v in got)


def test_uniform_values_are_the_streams_sequence_across_blocks() -> None:
    u = Uniform(np.random.default_rng(5))
    assert [u() for _ in range(2 * BLOCK + 1)] == np.random.default_rng(5).random(2 * BLOCK + 1).tolist()

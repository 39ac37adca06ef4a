"""The batched Tally gives the same sketches, bit for bit, as adding every value to DDSketch."""

from __future__ import annotations

import pickle

import numpy as np

from meshsim.metrics.recorder import FLUSH, Tally, new_sketch


def _state(sk):  # noqa: ANN001, ANN202
    bins = {
        k: c
        for k, c in zip(range(sk._store.offset, sk._store.offset + len(sk._store.bins)), sk._store.bins, strict=True)
        if c
    }
    return bins, sk._zero_count, sk._count, sk._sum, sk._min, sk._max, sk._negative_store.count


def test_batched_tally_equals_per_value_adds() -> None:
    rng = np.random.default_rng(7)
    vals = np.concatenate([rng.lognormal(1.0, 1.5, 3 * FLUSH + 123), np.zeros(17), [1e-12, 3.0, 3.0]])
    rng.shuffle(vals)
    t = Tally(3)
    ref = [new_sketch() for _ in range(3)]
    for i, v in enumerate(vals.tolist()):
        b = i % 4  # batch 3 is clamped into the last batch
        t.add(b, v)
        ref[min(b, 2)].add(v)
    for got, want in zip(t.sketches, ref, strict=True):
        assert got is not None
        assert _state(got) == _state(want)
        for q in (0.5, 0.9, 0.99, 0.999):
            assert got.get_quantile_value(q) == want.get_quantile_value(q)
    seq = 0.0
    for v in vals.tolist():
        seq += v
    assert t.n == len(vals) and t.total == seq
    # pickling (replications come back from worker processes) keeps everything, buffers flushed
    t2 = pickle.loads(pickle.dumps(t))
    assert _state(t2.merged()) == _state(t.merged())

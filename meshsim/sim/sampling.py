"""Bind distribution specs to random streams, with block draws for speed.

A sampler is a zero-argument callable returning a float. Draws are made from numpy in fixed blocks of
:data:`BLOCK` values and handed out one by one, so a stream's sequence depends only on its name and
seed, never on how calls interleave with other streams.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator

import numpy as np

from meshsim.model.ir import Dist

__all__ = ["BLOCK", "Uniform", "sampler"]

BLOCK = 128
"""Values per block (128: one block per stream is live, and a large mesh has several streams per pod, so a
smaller block keeps the working set small; numpy's block draws give the same sequence for any size)."""


def _blocks(draw: Callable[[int], np.ndarray]) -> Callable[[], float]:
    """The values of ``draw(BLOCK)``, block after block, as a zero-argument callable: a generator's
    ``__next__``, which costs no Python frame per value (a callable object's ``__call__`` costs one). A
    block is drawn when the previous one is used up. A block waits as packed doubles (``array('d')``, 8 bytes
    a value, the same values as ``tolist()``) and each value becomes a Python float only when handed out,
    from the interpreter's float free list: a list of floats kept 32 bytes per value alive in every stream,
    3 MB in a 242-pod mesh, all of it cold by the time the next request visits the pod."""

    def values() -> Iterator[float]:
        while True:
            yield from array("d", draw(BLOCK).tobytes())

    return values().__next__


def Uniform(gen: np.random.Generator) -> Callable[[], float]:  # noqa: N802 - a stream constructor, named like one
    """Uniform draws on [0, 1) from ``gen`` (a zero-argument callable, as :func:`sampler`'s)."""
    return _blocks(gen.random)


def sampler(dist: Dist, gen: np.random.Generator | None) -> Callable[[], float]:
    """Return a sampler of ``dist`` (seconds) drawing from ``gen``.

    ``gen`` may be None only for constants. Lognormal params are ``(mu, sigma)`` of ln X.

    Raises
    ------
    ValueError
        For an unknown distribution kind.
    """
    kind, p = dist.kind, dist.params
    if kind == "constant":
        value = p[0]
        return lambda: value
    assert gen is not None
    if kind == "exponential":
        mean = p[0]
        return _blocks(lambda n: gen.exponential(mean, n))
    if kind == "lognormal":
        mu, sigma = p
        return _blocks(lambda n: gen.lognormal(mu, sigma, n))
    if kind == "uniform":
        lo, hi = p
        return _blocks(lambda n: gen.uniform(lo, hi, n))
    if kind == "empirical":
        arr = np.asarray(p, dtype=float)
        return _blocks(lambda n: gen.choice(arr, n))
    raise ValueError(f"unknown distribution kind {kind!r}")

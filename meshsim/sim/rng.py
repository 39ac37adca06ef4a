"""Named random streams derived from one root seed.

Every draw in a run comes from a stream named by its scope path (``"reviews.v2/reviews-v2-0/step0"``).
The stream's seed is ``SeedSequence(entropy=root_seed, spawn_key=(replication, h0, h1))`` where
``h0, h1`` are a stable blake2b hash of the name (never Python's salted ``hash()``). So adding a replica
or a service leaves every other stream's draws unchanged (common random numbers for paired
comparisons), and replication ``r`` of seed ``s`` is the same on every machine.
Source: numpy.org "Parallel random number generation".
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["Streams"]


class Streams:
    """Factory of independent, reproducible :class:`numpy.random.Generator` s by name.

    Parameters
    ----------
    seed:
        The root seed (a non-negative int).
    replication:
        Index of the replication (0-based); each replication gets disjoint streams.
    """

    def __init__(self, seed: int, replication: int = 0) -> None:
        if seed < 0:
            raise ValueError("seed must be >= 0")
        self.seed = seed
        self.replication = replication

    def spawn_key(self, name: str) -> tuple[int, int, int]:
        digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
        return (self.replication, int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little"))

    def generator(self, name: str) -> np.random.Generator:
        """The generator of stream ``name`` (a new object each call, always the same sequence)."""
        ss = np.random.SeedSequence(entropy=self.seed, spawn_key=self.spawn_key(name))
        return np.random.Generator(np.random.PCG64(ss))

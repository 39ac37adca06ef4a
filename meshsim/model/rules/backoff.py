"""Envoy's retry backoff: exponential with full jitter, in whole milliseconds.

Envoy ``source/common/common/backoff_strategy.cc`` ``JitteredExponentialBackOffStrategy``: the
ceiling of the first retry is ``base_interval``; each further retry doubles it while it is below
``max_interval / 2``, else it is ``max_interval``; the wait is ``random() % ceiling`` ms, i.e. uniform
on ``[0, ceiling)`` whole milliseconds. The router's ``retry_back_off`` defaults: base 25 ms,
max 10x base (``router.proto``).
"""

from __future__ import annotations

__all__ = ["backoff_ceiling_ms", "backoff_ceilings", "backoff_wait"]


def backoff_ceiling_ms(base: float, maximum: float, n: int) -> int:
    """The jitter ceiling (whole ms) before retry ``n`` (1-based) for ``base`` and ``maximum`` in
    seconds (each rounded to whole ms, as Envoy's proto durations are read)."""
    base_ms = int(round(base * 1e3))
    max_ms = int(round(maximum * 1e3))
    ceiling = base_ms
    for _ in range(n - 1):
        ceiling = 2 * ceiling if ceiling < max_ms // 2 else max_ms
    return ceiling


def backoff_ceilings(base: float, maximum: float, n: int) -> list[float]:
    """The jitter ceilings (seconds) before retries 1..n."""
    return [backoff_ceiling_ms(base, maximum, k) / 1e3 for k in range(1, n + 1)]


def backoff_wait(base: float, maximum: float, n: int, u: float) -> float:
    """The wait (seconds, whole ms) before retry ``n`` given a uniform draw ``u`` in [0, 1):
    ``floor(u * ceiling)`` ms; 0 when the ceiling is 0."""
    ceiling = backoff_ceiling_ms(base, maximum, n)
    if ceiling <= 0:
        return 0.0
    return int(u * ceiling) / 1e3

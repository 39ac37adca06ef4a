"""Streaming metrics: tallies (one value per request) and time-weighted levels.

Memory never grows with the number of requests: latencies go into DDSketch quantile sketches
(Datadog's ``ddsketch``; relative accuracy :data:`RELATIVE_ACCURACY`, i.e. every reported quantile is
within 1% of the true sample quantile), one sketch per time batch so that a single run still yields
batch-means confidence intervals. Levels (queue length, busy workers, ejected hosts) are integrated
over time on every change, never sampled (salabim's ``Monitor(level=True)`` distinction).
"""

from __future__ import annotations

from ddsketch import DDSketch

__all__ = ["RELATIVE_ACCURACY", "Tally", "Level", "new_sketch"]

RELATIVE_ACCURACY = 0.01
"""DDSketch relative accuracy: a reported quantile q' satisfies |q' - q| <= 0.01 q."""


def new_sketch() -> DDSketch:
    return DDSketch(relative_accuracy=RELATIVE_ACCURACY)


class Tally:
    """Per-request values (milliseconds) in ``batches`` sketches plus count and sum.

    ``add(batch, value)`` records into batch ``batch`` (0-based, clamped to the last batch).
    """

    __slots__ = ("n", "nb", "sketches", "total")

    def __init__(self, batches: int) -> None:
        self.nb = batches
        self.sketches: list[DDSketch | None] = [None] * batches
        self.n = 0
        self.total = 0.0

    def add(self, batch: int, value: float) -> None:
        if batch >= self.nb:
            batch = self.nb - 1
        sk = self.sketches[batch]
        if sk is None:
            sk = self.sketches[batch] = new_sketch()
        sk.add(value)
        self.n += 1
        self.total += value

    def merged(self) -> DDSketch:
        out = new_sketch()
        for sk in self.sketches:
            if sk is not None:
                out.merge(sk)
        return out


class Level:
    """A piecewise-constant level integrated over time (area under the curve).

    ``set(now, value)`` changes the level; ``mean(t0, t1)`` is the time average over the
    observation window after ``reset(t0)``.
    """

    __slots__ = ("area", "last", "peak", "start", "value")

    def __init__(self, now: float = 0.0) -> None:
        self.value = 0.0
        self.last = now
        self.area = 0.0
        self.start = now
        self.peak = 0.0

    def set(self, now: float, value: float) -> None:
        self.area += self.value * (now - self.last)
        self.last = now
        self.value = value
        if value > self.peak:
            self.peak = value

    def reset(self, now: float) -> None:
        self.area = 0.0
        self.last = now
        self.start = now
        self.peak = self.value

    def mean(self, now: float) -> float:
        span = now - self.start
        if span <= 0:
            return 0.0
        return (self.area + self.value * (now - self.last)) / span

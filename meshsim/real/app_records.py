"""What one pod's app records and decides per request, apart from serving it: the error injector
(``Workload.error_rate``/``error_mode``, isotope ``srv/handler.go``), the measured window's counters
(:class:`PodStats`, times in seconds) and the per-bucket time series (:class:`SeriesRec`).

Imported by the per-pod app processes (:mod:`meshsim.real.service`): numpy only, nothing of the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SAMPLE_CAP", "ErrorInjector", "PodStats", "SeriesRec"]

SAMPLE_CAP = 200_000
"""Most per-sleep samples kept per pod (memory bound)."""


@dataclass
class ErrorInjector:
    """Decides whether a request fails (``Workload.error_rate``/``error_mode``), per pod."""

    rate: float
    mode: str
    rng: np.random.Generator
    counter: int = 0

    def fails(self) -> bool:
        """True if this request must answer ``error_status`` (isotope ``srv/handler.go`` for every_nth)."""
        if self.rate <= 0:
            return False
        if self.mode == "every_nth":
            divisor = 10000 // int(self.rate * 10000)
            self.counter += 1
            if self.counter >= divisor:
                self.counter = 0
                return True
            return False
        return bool(self.rng.random() < self.rate)


@dataclass
class PodStats:
    """What one pod's app saw in the measured window (times in seconds)."""

    requests: int = 0
    errors_injected: int = 0
    responses: dict[int, int] = field(default_factory=dict)
    sleep_drawn: list[float] = field(default_factory=list)
    sleep_realized: list[float] = field(default_factory=list)
    queue_wait: list[float] = field(default_factory=list)
    calls: dict[str, list[int]] = field(default_factory=dict)  # dest service -> [calls, ok, tries, timeouts, skipped]
    responders: dict[str, list[int]] = field(default_factory=dict)  # "dest|responder workload" -> [n, status<500]
    fault_aborts: dict[str, int] = field(default_factory=dict)  # dest service -> local replies of the fault filter
    call_latency: dict[str, list[float]] = field(default_factory=dict)  # dest service -> seconds per call
    busy_time: float = 0.0
    residence_time: float = 0.0
    queue_time: float = 0.0
    waited: int = 0

    def to_json(self) -> dict[str, Any]:
        d = np.array(self.sleep_drawn)
        r = np.array(self.sleep_realized)
        q = np.array(self.queue_wait)

        def pct(a: np.ndarray, p: float) -> float | None:
            return float(np.percentile(a, p)) if a.size else None

        return {
            "requests": self.requests,
            "errors_injected": self.errors_injected,
            "responses": {str(k): v for k, v in sorted(self.responses.items())},
            "sleeps": int(d.size),
            "sleep_drawn_mean": float(d.mean()) if d.size else None,
            "sleep_realized_mean": float(r.mean()) if r.size else None,
            "sleep_overshoot_p50": pct(r - d, 50) if d.size else None,
            "sleep_overshoot_p99": pct(r - d, 99) if d.size else None,
            "queue_wait_p50": pct(q, 50),
            "queue_wait_p99": pct(q, 99),
            "calls": {
                k: {"calls": v[0], "ok": v[1], "tries": v[2], "timeouts": v[3], "skipped": v[4]}
                for k, v in sorted(self.calls.items())
            },
            "responders": {k: {"responses": v[0], "ok": v[1]} for k, v in sorted(self.responders.items())},
            "fault_aborts": dict(sorted(self.fault_aborts.items())),
            "call_latency_ms": {k: [round(x * 1e3, 4) for x in v] for k, v in sorted(self.call_latency.items())},
            "busy_time": self.busy_time,
            "residence_time": self.residence_time,
            "queue_time": self.queue_time,
            "waited": self.waited,
        }


class SeriesRec:
    """One pod's per-bucket records from ``origin`` (monotonic seconds) in buckets of ``width`` seconds:
    ``req[b] = [requests, ok, [residence ms...]]``, ``calls[b][dest] = [calls, tries]``,
    ``queue[b]`` = requests waiting for a worker at the bucket's end."""

    def __init__(self, origin: float, width: float) -> None:
        self.origin = origin
        self.width = width
        self.req: dict[int, list[Any]] = {}
        self.calls: dict[int, dict[str, list[int]]] = {}
        self.queue: dict[int, int] = {}

    def bucket(self, t: float) -> int:
        return int((t - self.origin) // self.width)

    def add_request(self, t: float, ok: bool, ms: float) -> None:
        row = self.req.setdefault(self.bucket(t), [0, 0, []])
        row[0] += 1
        row[1] += ok
        if len(row[2]) < SAMPLE_CAP:
            row[2].append(round(ms, 3))

    def add_call(self, t: float, dest: str, tries: int) -> None:
        row = self.calls.setdefault(self.bucket(t), {}).setdefault(dest, [0, 0])
        row[0] += 1
        row[1] += tries

    def to_json(self) -> dict[str, Any]:
        return {
            "req": {str(b): v for b, v in sorted(self.req.items())},
            "calls": {str(b): v for b, v in sorted(self.calls.items())},
            "queue": {str(b): v for b, v in sorted(self.queue.items())},
        }

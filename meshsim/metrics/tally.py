"""Raw per-replication statistics gathered by the simulator (picklable, no SimPy objects).

:class:`RepResult` is what one replication returns; :mod:`meshsim.metrics.summarize` merges several
into the typed ``Summary``. Latencies are milliseconds in :class:`~meshsim.metrics.recorder.Tally`
sketches; counts are ints; time-weighted levels are already averaged over the measured window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshsim.metrics.recorder import Level, Tally

__all__ = ["EdgeStats", "CallStats", "WorkloadStats", "RepResult"]


class EdgeStats:
    """Client-sidecar requests from one workload to one cluster (a subset of a destination)."""

    __slots__ = ("attempts", "codes", "flags", "latency", "requests", "retries", "success")

    def __init__(self, batches: int) -> None:
        self.requests = 0
        self.attempts = 0
        self.success = 0
        self.retries = 0
        self.latency = Tally(batches)
        self.flags: dict[str, int] = {}
        self.codes: dict[int, int] = {}


class CallStats:
    """Application-level calls from one workload to one service (app retries and timeouts included)."""

    __slots__ = ("app_retries", "app_timeouts", "calls", "failures", "latency", "skipped", "tries")

    def __init__(self, batches: int) -> None:
        self.calls = 0
        self.tries = 0
        self.app_retries = 0
        self.app_timeouts = 0
        self.failures = 0
        self.skipped = 0
        self.latency = Tally(batches)


class WorkloadStats:
    """Per workload (service version), summed over its replicas.

    ``wait`` is time from arrival at the app to getting a worker; ``residence`` arrival to response.
    Levels (``busy``, ``queue``) are per replica and averaged at the end; requests in the system
    are always ``busy + queue``.
    """

    __slots__ = ("arrivals", "busy", "completed", "errors", "queue", "residence_sum", "wait_sum", "waited")

    def __init__(self, replicas: int, now: float) -> None:
        self.arrivals = 0
        self.completed = 0
        self.errors = 0
        self.waited = 0
        self.wait_sum = 0.0
        self.residence_sum = 0.0
        self.busy = [Level(now) for _ in range(replicas)]
        self.queue = [Level(now) for _ in range(replicas)]


@dataclass
class RepResult:
    """Everything one replication measured over its window ``[t_start, t_end)`` (seconds).

    Keys: ``edges[(source, destination_service, cluster)]``, ``calls[(source, destination_service)]``,
    ``workloads[service.version]`` -> dict of plain numbers, ``clusters[(proxy, cluster)]`` ->
    Envoy counters (plus ``outlier_detection.ejections_active`` as a time average).
    """

    replication: int
    seed: int
    t_start: float
    t_end: float
    sim_time: float
    entry_requests: int = 0
    entry_success: int = 0
    entry_incomplete: int = 0
    entry_latency: Tally | None = None
    entry_codes: dict[int, int] = field(default_factory=dict)
    entry_batch_req: list[int] = field(default_factory=list)
    entry_batch_ok: list[int] = field(default_factory=list)
    edges: dict[tuple[str, str, str], EdgeStats] = field(default_factory=dict)
    calls: dict[tuple[str, str], CallStats] = field(default_factory=dict)
    workloads: dict[str, dict[str, float]] = field(default_factory=dict)
    clusters: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    scenario: dict[str, Any] | None = None
    observations: Any = None
    """Per-outcome Istio metrics and sampled traces (:mod:`meshsim.telemetry.record`), when asked for."""
    cpu: dict[str, Any] | None = None
    """The CPU model's counters over the window (:func:`meshsim.metrics.cpu.cpu_results` reads them), None when it is off."""

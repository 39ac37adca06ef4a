"""What the simulator records for telemetry while it runs: cheap, picklable, no SimPy objects.

- :class:`IstioMetrics`: per label set (Istio's standard labels, ``reporter`` source or destination)
  a request count and a duration histogram in Envoy's default buckets, which Istio's
  ``istio_request_duration_milliseconds`` uses (Envoy ``HistogramStatisticsImpl::supportedBuckets``).
  One dict lookup, a bisect and three increments per request.
- :class:`Trace`: the spans of one sampled entry request (times in simulated seconds).
- :class:`ProxyUsage` and :class:`Observations`: per-proxy CPU and everything above, attached to a
  replication's ``RepResult`` as ``observations``.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DURATION_BUCKETS_MS", "LABELS", "IstioMetrics", "spiffe", "Span", "Trace", "ProxyUsage", "Observations"]

DURATION_BUCKETS_MS = (
    0.5,
    1.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
    30000.0,
    60000.0,
    300000.0,
    600000.0,
    1800000.0,
    3600000.0,
)
"""Upper bounds (ms, ``le``) of ``istio_request_duration_milliseconds``: Envoy's default histogram
buckets (``source/common/stats/histogram_impl.cc`` ``supportedBuckets``), which Istio's stats use
unless overridden by the ``sidecar.istio.io/statsHistogramBuckets`` annotation."""

LABELS = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_version",
    "source_principal",
    "destination_workload",
    "destination_workload_namespace",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_principal",
    "request_protocol",
    "response_code",
    "response_flags",
    "connection_security_policy",
)
"""The label names of a key of :class:`IstioMetrics`, in order (a subset of Istio's standard labels,
https://istio.io/latest/docs/reference/config/metrics/)."""


def spiffe(principal: str) -> str:
    """The metric label form of a principal: ``cluster.local/ns/<ns>/sa/<sa>`` (AuthorizationPolicy's
    form) -> ``spiffe://cluster.local/ns/<ns>/sa/<sa>`` (the peer certificate's URI SAN, which Istio's
    stats filter reports as ``source_principal``/``destination_principal``)."""
    return principal if principal.startswith("spiffe://") else f"spiffe://{principal}"


class IstioMetrics:
    """``data[labels] = [count, sum_ms, n_bucket_0, ..., n_bucket_18, n_inf]`` (non-cumulative)."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: dict[tuple[str, ...], list[float]] = {}

    def add(self, labels: tuple[str, ...], ms: float) -> None:
        """Count one request with ``labels`` (see :data:`LABELS`) that took ``ms`` milliseconds."""
        h = self.data.get(labels)
        if h is None:
            h = self.data[labels] = [0.0] * (len(DURATION_BUCKETS_MS) + 3)
        h[0] += 1
        h[1] += ms
        h[2 + bisect_left(DURATION_BUCKETS_MS, ms)] += 1

    def series(self, labels: tuple[str, ...]) -> list[float]:
        """The (new or existing) count/sum/buckets list of ``labels``, for callers that increment it
        directly (the engine caches it per outcome)."""
        h = self.data.get(labels)
        if h is None:
            h = self.data[labels] = [0.0] * (len(DURATION_BUCKETS_MS) + 3)
        return h

    def merge(self, other: IstioMetrics) -> None:
        for k, v in other.data.items():
            h = self.data.get(k)
            if h is None:
                self.data[k] = list(v)
            else:
                for i, x in enumerate(v):
                    h[i] += x


@dataclass
class Span:
    """One span: ``start``/``end`` in simulated seconds; ``parent`` 0 for the root; ``process`` the
    proxy or pod that did the work; ``children`` ``sequential`` when the children tile the span
    (their durations add up to its own), ``concurrent`` when they overlap, ``cut`` when the parent
    stopped waiting for them (timeouts) and ``none`` for leaves."""

    span_id: int
    parent: int
    operation: str
    process: str
    start: float
    end: float
    children: str = "none"
    tags: dict[str, Any] = field(default_factory=dict)


class Trace:
    """The spans of one sampled entry request; span ids are 1, 2, ... in allocation order."""

    __slots__ = ("index", "next_id", "spans")

    def __init__(self, index: int) -> None:
        self.index = index
        self.next_id = 0
        self.spans: list[Span] = []

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def add(
        self,
        sid: int,
        parent: int,
        operation: str,
        process: str,
        start: float,
        end: float,
        children: str = "none",
        **tags: Any,
    ) -> None:
        self.spans.append(Span(sid, parent, operation, process, start, end, children, tags))


@dataclass
class ProxyUsage:
    """One proxy over the measured window: ``requests`` traversals, ``cpu_s`` vCPU seconds (requests,
    mTLS crypto and handshakes), ``waited`` traversals that found every worker busy and ``wait_s``
    their total wait."""

    proxy: str
    workload: str
    workers: int
    requests: int = 0
    handshakes: int = 0
    cpu_s: float = 0.0
    waited: int = 0
    wait_s: float = 0.0

    def add(self, cpu: float) -> None:
        """One traversal that did not wait, costing ``cpu`` vCPU seconds."""
        self.requests += 1
        self.cpu_s += cpu


@dataclass
class Observations:
    """Telemetry of one replication: Istio metrics, traces, per-proxy usage and the AuthorizationPolicy
    denials per client edge ``(source workload, destination service, cluster) -> {policy: n}``."""

    metrics: IstioMetrics
    traces: list[Trace]
    proxies: dict[str, ProxyUsage]
    denied: dict[tuple[str, str, str], dict[str, int]]
    replication: int = 0

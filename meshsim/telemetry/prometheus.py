"""Simulated Istio metrics in Prometheus text format (``meshsim run --prometheus FILE``).

Istio's standard metrics (https://istio.io/latest/docs/reference/config/metrics/):
``istio_requests_total`` (counter) and ``istio_request_duration_milliseconds`` (histogram, Envoy's
default buckets, :data:`~meshsim.telemetry.record.DURATION_BUCKETS_MS`), each with ``reporter``
``source`` (the client's sidecar or the gateway, one sample per request it answered, retries
inside) or ``destination`` (the server's sidecar, one per request that reached it, denials
included). Built with ``prometheus_client`` (a registry and ``generate_latest``), so Prometheus,
Flagger's queries and ``prometheus_client.parser`` read it as they would a real scrape.

The values are counts over the measured window summed over replications (a counter's value is its
total; ``rate(x[1m])`` over a file is not meaningful, but ratios of sums are, e.g. Flagger's
request-success-rate ``sum(non-5xx) / sum(all)`` for ``reporter="destination"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from meshsim import atomic
from meshsim.telemetry.record import DURATION_BUCKETS_MS, LABELS, IstioMetrics

__all__ = ["IstioCollector", "render", "write_prometheus", "merged"]


def merged(parts: Iterable[IstioMetrics]) -> IstioMetrics:
    """Sum the metrics of several replications."""
    out = IstioMetrics()
    for p in parts:
        out.merge(p)
    return out


class IstioCollector(Collector):
    """A ``prometheus_client`` collector yielding the two Istio metric families from recorded counts."""

    def __init__(self, metrics: IstioMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "istio_requests_total", "Requests through Istio proxies (simulated by meshsim).", labels=LABELS
        )
        dur = HistogramMetricFamily(
            "istio_request_duration_milliseconds", "Request duration in ms (simulated by meshsim).", labels=LABELS
        )
        for labels, h in sorted(self.metrics.data.items()):
            values = list(labels)
            total.add_metric(values, h[0])
            cum = 0.0
            buckets: list[tuple[str, float]] = []
            for i, le in enumerate(DURATION_BUCKETS_MS):
                cum += h[2 + i]
                buckets.append((_fmt(le), cum))
            cum += h[2 + len(DURATION_BUCKETS_MS)]
            buckets.append(("+Inf", cum))
            dur.add_metric(values, buckets, round(h[1], 6))
        yield total
        yield dur


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def render(metrics: IstioMetrics) -> bytes:
    """The Prometheus text exposition of ``metrics`` (``generate_latest`` on a fresh registry)."""
    reg = CollectorRegistry()
    reg.register(IstioCollector(metrics))
    return generate_latest(reg)


def write_prometheus(parts: Sequence[IstioMetrics], path: Path) -> Path:
    """Write the metrics of all replications, summed, to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(path, render(merged(parts)))
    return path

"""What the analytic model returns: per-workload, per-edge and network estimates."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["EdgeEstimate", "NetworkEstimate", "WorkloadEstimate"]


@dataclass(frozen=True)
class WorkloadEstimate:
    """Analytic estimate for one workload (service version), all replicas.

    ``arrival_rate_rps`` includes retries; ``service_time_ms`` is the mean time a worker is held (its
    sleeps plus its downstream calls' latency; 0 for requests failed by its own error draw);
    ``utilization`` = λ·S / (replicas·concurrency) (None with unbounded concurrency); ``p_wait`` and
    ``mean_wait_ms`` come from Erlang C / Allen–Cunneen; ``mean_response_ms`` = wait + service.
    """

    service: str
    version: str
    replicas: int
    concurrency: int | None
    arrival_rate_rps: float
    service_time_ms: float
    service_scv: float
    utilization: float | None
    p_wait: float
    mean_wait_ms: float
    mean_response_ms: float
    balance: str

    @property
    def key(self) -> str:
        return f"{self.service}.{self.version}"


@dataclass(frozen=True)
class EdgeEstimate:
    """Client-sidecar traffic from workload ``source`` to service ``destination`` (one cluster):
    router requests/s, upstream attempts/s, ``amplification`` = attempts/requests, success rate of the
    router's final responses (status < 500) and latency in ms (mean; p50/p90/p99 by Monte Carlo)."""

    source: str
    destination: str
    cluster: str
    subset: str
    requests_rps: float
    attempts_rps: float
    amplification: float | None
    success_rate: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float


@dataclass(frozen=True)
class NetworkEstimate:
    """The analytic model's answer for a whole mesh at one load and one replica assignment.

    Entry latency in ms: ``mean_ms`` from the moment recursion (exact sums of means), ``p50_ms`` …
    ``p99_ms`` by Monte Carlo over the same per-hop approximations (``samples`` draws). ``stable``
    is False when any workload's utilisation is >= 1 (latencies are then ``inf``).
    ``sidecar_attempts_rps`` counts upstream attempts (each crosses two proxies) and
    ``entry_rate_rps`` the entry requests (one proxy), for sidecar CPU estimates.
    """

    entry: str
    entry_rate_rps: float
    stable: bool
    success_rate: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    workloads: tuple[WorkloadEstimate, ...]
    edges: tuple[EdgeEstimate, ...]
    sidecar_attempts_rps: float
    bottleneck: str | None
    method: str = "Erlang C / Allen-Cunneen M/G/c per workload, moments bottom-up, Monte Carlo percentiles"

    def workload(self, key: str) -> WorkloadEstimate:
        for w in self.workloads:
            if w.key == key:
                return w
        raise KeyError(key)

    def to_frame(self) -> Any:
        """One row per workload (pandas DataFrame), with the entry metrics as ``attrs``."""
        import pandas as pd

        df = pd.DataFrame([{**asdict(w), "workload": w.key} for w in self.workloads]).set_index("workload")
        df.attrs.update(
            {
                k: getattr(self, k)
                for k in ("entry", "entry_rate_rps", "stable", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "success_rate")
            }
        )
        return df

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>analytic</b> entry {self.entry} at {self.entry_rate_rps:g} req/s: mean {self.mean_ms:.2f} ms, "
            f"p50 {self.p50_ms:.2f}, p90 {self.p90_ms:.2f}, p99 {self.p99_ms:.2f} ms, success {self.success_rate:.4f}"
            f"{'' if self.stable else ' — UNSTABLE'}</p>"
        )
        return head + str(self.to_frame().to_html(float_format=lambda x: f"{x:.4g}"))

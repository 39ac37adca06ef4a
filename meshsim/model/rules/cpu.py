"""Kubernetes' and Istio's CPU rules, as pure functions: requests to ``cpu.shares``, limits to CFS quotas
(Kubernetes ``pkg/kubelet/cm/helpers_linux.go``) and Envoy's worker count from the sidecar's limit
(Istio ``pilot/cmd/pilot-agent/config/config.go`` ``ConstructProxyConfig``)."""

from __future__ import annotations

import math

__all__ = [
    "APP_CONTAINER",
    "PROXY_CONTAINER",
    "MIN_SHARES",
    "MAX_SHARES",
    "MIN_QUOTA_US",
    "milli_cpu",
    "cfs_quota",
    "cfs_quota_us",
    "cpu_shares",
    "envoy_concurrency",
]

PROXY_CONTAINER = "istio-proxy"
"""The sidecar container's name (Istio's injector names it so)."""
APP_CONTAINER = "app"
"""The name results give a pod's app container (the model does not keep the Deployment's own name), the
same in the simulator and on the real mesh so that ``meshsim compare`` pairs them."""


MIN_SHARES = 2
MAX_SHARES = 262144
"""``cpu.shares`` bounds (Kubernetes ``pkg/kubelet/cm/helpers_linux.go`` ``MinShares``/``MaxShares``)."""
MIN_QUOTA_US = 1000
"""The smallest CFS quota, microseconds (``MinQuotaPeriod``: 1 ms)."""


def milli_cpu(cores: float) -> int:
    """Cores -> milli-cores, rounded up as ``Quantity.MilliValue`` does (0.1001 -> 101)."""
    return math.ceil(round(cores * 1000, 6))


def cpu_shares(request_cores: float | None) -> int:
    """``cpu.shares`` of a container: request (cores) x 1024, clamped to [2, 262144]; no request = 2
    (Kubernetes ``MilliCPUToShares``: integer milli-CPU x 1024 / 1000)."""
    milli = milli_cpu(request_cores) if request_cores is not None else 0
    if milli == 0:
        return MIN_SHARES
    return min(MAX_SHARES, max(MIN_SHARES, milli * 1024 // 1000))


def cfs_quota_us(limit_cores: float | None, period_us: int) -> int | None:
    """CFS quota, microseconds per ``period_us``, for a limit (cores): milli-CPU x period / 1000, at least
    :data:`MIN_QUOTA_US` (Kubernetes ``MilliCPUToQuota``); None without a limit."""
    milli = milli_cpu(limit_cores) if limit_cores is not None else 0
    if milli == 0:
        return None
    return max(MIN_QUOTA_US, milli * period_us // 1000)


def cfs_quota(limit_cores: float | None, period: float) -> float | None:
    """:func:`cfs_quota_us` in seconds, for a period in seconds (the simulator's clock); None without a limit."""
    q = cfs_quota_us(limit_cores, round(period * 1e6))
    return None if q is None else q / 1e6


def envoy_concurrency(limit_cores: float | None, node_cores: float) -> int:
    """Envoy ``--concurrency`` for an ``istio-proxy`` container: ``ISTIO_CPU_LIMIT``, the downward API's
    ``limits.cpu`` rounded up, which is the node's allocatable CPU without a limit (kubelet
    ``defaultPodLimitsForDownwardAPI``); at least 1."""
    basis = limit_cores if limit_cores is not None else node_cores
    return max(1, math.ceil(round(basis, 6)))

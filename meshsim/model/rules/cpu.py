"""Kubernetes' and Istio's CPU rules, as pure functions: requests to ``cpu.shares``, limits to CFS quotas
(Kubernetes ``pkg/kubelet/cm/helpers_linux.go``) and Envoy's worker count from the sidecar's limit
(Istio ``pilot/cmd/pilot-agent/config/config.go`` ``ConstructProxyConfig``)."""

from __future__ import annotations

import math

__all__ = ["APP_CONTAINER", "PROXY_CONTAINER", "cfs_quota", "cpu_shares", "envoy_concurrency"]

PROXY_CONTAINER = "istio-proxy"
"""The sidecar container's name (Istio's injector names it so)."""
APP_CONTAINER = "app"
"""The name results give a pod's app container (the model does not keep the Deployment's own name), the
same in the simulator and on the real mesh so that ``meshsim compare`` pairs them."""


def cpu_shares(request_cores: float | None) -> int:
    """``cpu.shares`` of a container: request (cores) x 1024, clamped to [2, 262144]; no request = 2
    (Kubernetes ``MilliCPUToShares``: integer milli-CPU x 1024 / 1000)."""
    milli = round((request_cores or 0.0) * 1000)
    if milli == 0:
        return 2
    return min(262144, max(2, milli * 1024 // 1000))


def cfs_quota(limit_cores: float | None, period: float) -> float | None:
    """CPU seconds of quota per period for a limit (cores): ``limit x period``, at least 1 ms
    (Kubernetes ``MilliCPUToQuota``, ``MinQuotaPeriod``); None without a limit."""
    if limit_cores is None:
        return None
    return max(1e-3, limit_cores * period)


def envoy_concurrency(limit_cores: float | None, node_cores: float) -> int:
    """Envoy ``--concurrency`` for an ``istio-proxy`` container: ``ISTIO_CPU_LIMIT``, the downward API's
    ``limits.cpu`` rounded up, which is the node's allocatable CPU without a limit (kubelet
    ``defaultPodLimitsForDownwardAPI``); at least 1."""
    basis = limit_cores if limit_cores is not None else node_cores
    return max(1, math.ceil(round(basis, 6)))

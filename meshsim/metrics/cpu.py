"""The CPU model's results: ``summary.json`` ``containers[]`` and ``nodes[]`` from each replication's
counters (:class:`~meshsim.metrics.tally.RepResult` ``cpu``), named as cgroup accounting names them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meshsim.metrics.results import ContainerCPU, NodeCPU
from meshsim.metrics.tally import RepResult

__all__ = ["cpu_results"]


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(x, nd)


def cpu_results(reps: Sequence[RepResult], window: float) -> dict[str, Any]:
    """``{"containers": [...], "nodes": [...]}`` for :class:`~meshsim.metrics.results.Summary` (both
    empty when the CPU model is off). ``cpu_cores`` and node utilisation are means over replications of
    CPU seconds / ``window`` (seconds); ``nr_periods``, ``nr_throttled`` and ``throttled_time_s`` are sums
    over replications; ``mean_runqueue_wait_ms`` is the node's total run-queue wait over its bursts."""
    got = [r.cpu for r in reps if r.cpu is not None]
    if not got or window <= 0:
        return {"containers": [], "nodes": []}
    n = len(got)
    cacc: dict[tuple[str, str], list[Any]] = {}
    for cpu in got:
        for key, (node, req, lim, usage, periods, throttled, thr_s) in cpu["containers"].items():
            a = cacc.setdefault(key, [node, req, lim, 0.0, 0, 0, 0.0])
            a[3] += usage
            a[4] += periods
            a[5] += throttled
            a[6] += thr_s
    containers = []
    for (pod, name), (node, req, lim, usage, periods, throttled, thr_s) in sorted(cacc.items()):
        cores = usage / (window * n)
        containers.append(
            ContainerCPU(
                pod=pod,
                container=name,
                node=node,
                request_cores=req,
                limit_cores=lim,
                cpu_cores=_r(cores) or 0.0,
                utilization_of_request=_r(cores / req) if req else None,
                utilization_of_limit=_r(cores / lim) if lim else None,
                nr_periods=int(periods),
                nr_throttled=int(throttled),
                throttled_time_s=_r(thr_s) or 0.0,
            )
        )
    nacc: dict[str, list[float]] = {}
    for cpu in got:
        for name, (cores, usage, wait, bursts) in cpu["nodes"].items():
            b = nacc.setdefault(name, [cores, 0.0, 0.0, 0.0])
            b[1] += usage
            b[2] += wait
            b[3] += bursts
    nodes = []
    for name, (cores, usage, wait, bursts) in sorted(nacc.items()):
        used = usage / (window * n)
        nodes.append(
            NodeCPU(
                node=name,
                cores=cores,
                cpu_cores=_r(used) or 0.0,
                utilization=_r(used / cores) or 0.0,
                mean_runqueue_wait_ms=_r(1e3 * wait / bursts, 4) if bursts else None,
            )
        )
    return {"containers": containers, "nodes": nodes}

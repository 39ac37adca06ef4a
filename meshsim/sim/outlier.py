"""Outlier detection of :class:`meshsim.sim.cluster.ClusterState` (a base class it inherits): consecutive 5xx and
gateway-failure counts per host, ejection under ``max_ejection_percent`` and the enforcing coin, and the interval
timer that un-ejects hosts, as Envoy's ``source/common/upstream/outlier_detection_impl.cc`` does.

The methods use the state :class:`~meshsim.sim.cluster.ClusterState` sets up; they are only ever called on one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

    from meshsim.model.ir import OutlierDetectionPolicy

__all__ = ["OutlierDetector"]


class OutlierDetector:
    """Outlier detection of one sidecar's cluster (see the module docstring). The attributes below are
    :class:`~meshsim.sim.cluster.ClusterState`'s, declared here for the type checker."""

    if not TYPE_CHECKING:  # the type checker would read the annotations below as missing slots
        __slots__ = ()  # no __dict__ of its own: ClusterState declares the slots

    env: simpy.Environment
    c: Any  # the cluster's Counters
    od: OutlierDetectionPolicy | None
    u: Callable[[], float]
    eds: list[int]
    ejected: list[bool]
    eject_time: list[float]
    mult: list[int]
    c5: list[int]
    cgw: list[int]
    h2: bool
    cx: int
    cx_host: list[int]
    draining: list[int]
    connecting: list[int]
    on_eject: Callable[[int, bool], None] | None

    def _h2_drain_host(self, host: int) -> None:
        raise NotImplementedError

    def _idle_close_all(self, host: int) -> int:
        raise NotImplementedError

    def _health_changed(self) -> None:
        raise NotImplementedError

    def report(self, host: int, status: int) -> None:
        """Outlier detection: record one attempt's HTTP status (local-origin errors mapped to
        503/504 by the caller; overflows and fault aborts are never reported)."""
        if self.od is None:
            return
        od = self.od
        if status >= 500:
            self.c5[host] += 1
            if status in (502, 503, 504):
                self.cgw[host] += 1
                if self.cgw[host] == od.consecutive_gateway_failure:
                    # detected whatever the enforcement (Envoy posts the ejection and ejectHost counts an
                    # ejections_overflow before it flips the enforcement coin); the counter restarts
                    self.cgw[host] = 0
                    self._eject(host, od.enforcing_consecutive_gateway_failure)
            else:
                self.cgw[host] = 0
            if self.c5[host] == od.consecutive_5xx:
                self.c5[host] = 0
                self._eject(host, od.enforcing_consecutive_5xx)
        else:
            self.c5[host] = 0
            self.cgw[host] = 0

    def _eject(self, host: int, enforcing: int) -> None:
        """Envoy >= 1.28 ``DetectorImpl::ejectHost`` (source/common/upstream/outlier_detection_impl.cc): the
        ejection proceeds only if ``100 x (ejected + 1) / hosts <= max_ejection_percent`` (Istio never sets
        ``always_eject_one_host``), else ``ejections_overflow``; then the ``enforcing`` coin (percent). So with
        Istio's default 10 % nothing is ejected from a cluster of fewer than 10 hosts. The pre-1.28 rule
        (``100 x ejected / hosts < max``, the first ejection always allowed) changed in envoyproxy/envoy#27624."""
        od = self.od
        assert od is not None
        if self.ejected[host]:
            return
        n_ejected = sum(self.ejected)
        if 100.0 * (n_ejected + 1) / max(1, len(self.eds)) > od.max_ejection_percent:
            self.c.outlier_detection_ejections_overflow += 1
            return
        if enforcing < 100 and self.u() * 100 >= enforcing:
            return
        if self.mult[host] * od.base_ejection_time < od.max_ejection_time + od.base_ejection_time:
            self.mult[host] += 1
        self.ejected[host] = True
        self.eject_time[host] = self.env._now
        self.c.outlier_detection_ejections_enforced_total += 1
        # Envoy drains the host's pools (ClusterManagerImpl onHostHealthFailure -> drainOrCloseConnPools with
        # DrainExistingConnections): idle connections close now, busy ones when their stream ends
        if self.h2:
            self._h2_drain_host(host)
        closed = self._idle_close_all(host)
        self.cx -= closed
        self.cx_host[host] -= closed
        self.draining[host] = self.cx_host[host] - self.connecting[host]
        self._health_changed()
        if self.on_eject is not None:
            self.on_eject(host, True)

    def _od_ticks(self) -> Any:
        od = self.od
        assert od is not None
        interval = od.interval
        # Envoy arms the interval timer when the cluster is created, at t=0 of the run
        first = interval * (int(self.env._now / interval) + 1)
        yield self.env.timeout(first - self.env._now)
        while True:
            changed = False
            now = self.env._now
            for h in range(len(self.ejected)):
                if self.ejected[h]:
                    if now - self.eject_time[h] >= min(od.base_ejection_time * self.mult[h], od.max_ejection_time):
                        self.ejected[h] = False
                        self.c5[h] = 0
                        self.cgw[h] = 0
                        changed = True
                        if self.on_eject is not None:
                            self.on_eject(h, False)
                elif self.mult[h] > 0:
                    self.mult[h] -= 1
            if changed:
                self._health_changed()
            yield self.env.timeout(interval)

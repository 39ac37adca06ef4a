"""Outlier detection as Envoy 1.40 does it (source/common/upstream/outlier_detection_impl.cc)."""

from __future__ import annotations

import numpy as np
import simpy

from meshsim.model.ir import CircuitBreakers, Cluster, OutlierDetectionPolicy
from meshsim.sim.cluster import ClusterState
from meshsim.sim.sampling import Uniform

from .helpers import counters, edge, fx, run


def _state(
    max_ejection_percent: int = 100, base: float = 30.0, max_time: float = 300.0
) -> tuple[simpy.Environment, ClusterState]:
    od = OutlierDetectionPolicy(
        consecutive_5xx=5,
        enforcing_consecutive_5xx=100,
        consecutive_gateway_failure=5,
        enforcing_consecutive_gateway_failure=0,
        interval=10.0,
        base_ejection_time=base,
        max_ejection_time=max_time,
        max_ejection_percent=max_ejection_percent,
    )
    cluster = Cluster(
        name="outbound|8080||s.default.svc.cluster.local",
        direction="outbound",
        service="s",
        host="s.default.svc.cluster.local",
        port=8080,
        subset="",
        endpoints=("s-0", "s-1", "s-2"),
        lb_policy="ROUND_ROBIN",
        circuit_breakers=CircuitBreakers(),
        outlier_detection=od,
        protocol="HTTP1",
        max_requests_per_connection=None,
        max_concurrent_streams=1024,
        connect_timeout=10.0,
        healthy_panic_threshold=0.0,
    )
    env = simpy.Environment()
    return env, ClusterState(env, cluster, Uniform(np.random.default_rng(5)))


def _at(env: simpy.Environment, t: float) -> None:
    env.run(until=t)


def _errors(cs: ClusterState, host: int, n: int, status: int = 503) -> None:
    for _ in range(n):
        cs.report(host, status)


def _ejected(cs: ClusterState, host: int) -> bool:
    return host not in cs.healthy


def test_ejection_after_exactly_five_consecutive_5xx() -> None:
    """Reference §4.2: a 5xx increments consecutive_5xx, any non-5xx resets it, and the host is
    ejected when the counter reaches the threshold exactly (5), not before."""
    env, cs = _state()
    _at(env, 1.0)
    _errors(cs, 0, 4)
    cs.report(0, 200)  # resets the streak
    _errors(cs, 0, 4)
    assert not _ejected(cs, 0)
    cs.report(0, 500)
    assert _ejected(cs, 0)
    assert cs.c.outlier_detection_ejections_enforced_total == 1
    assert cs.healthy == [1, 2]
    # 4xx is not an error and resets; 504 counts as 5xx
    _errors(cs, 1, 4)
    cs.report(1, 404)
    _errors(cs, 1, 3)
    cs.report(1, 504)
    assert not _ejected(cs, 1)


def test_unejection_rounds_up_to_interval_tick_and_backs_off() -> None:
    """Reference §4.2: the host stays ejected until ``now - eject_time >= min(base * m, max)``,
    checked only on interval ticks (every 10 s from cluster creation at t=0), so an ejection at
    t=3 s ends at the tick t=40 s (33 s rounded up), not t=33 s. m goes 0->1->2 on enforced
    ejections, so a re-ejection at t=41 s (before the next healthy tick) lasts 60 s: back at the
    tick t=110 s."""
    env, cs = _state()
    _at(env, 3.0)
    _errors(cs, 0, 5)
    assert _ejected(cs, 0)
    _at(env, 39.999)
    assert _ejected(cs, 0)
    _at(env, 40.001)
    assert not _ejected(cs, 0)
    _at(env, 41.0)
    _errors(cs, 0, 4)
    assert not _ejected(cs, 0)  # counters were reset on un-ejection
    cs.report(0, 503)
    assert _ejected(cs, 0)
    _at(env, 109.999)
    assert _ejected(cs, 0)
    _at(env, 110.001)
    assert not _ejected(cs, 0)
    assert cs.c.outlier_detection_ejections_enforced_total == 2


def test_ejection_multiplier_decays_one_step_per_healthy_tick_and_caps() -> None:
    """Reference §4.2: on every tick where the host is not ejected m drops by one (floor 0); the
    duration is capped at max_ejection_time and m stops growing once m*base >= max + base."""
    env, cs = _state()
    _at(env, 3.0)
    _errors(cs, 0, 5)  # m=1, back at t=40
    _at(env, 50.001)  # healthy tick at t=50: m=0
    _errors(cs, 0, 5)  # m=1 again: 30 s
    _at(env, 89.999)
    assert _ejected(cs, 0)
    _at(env, 90.001)
    assert not _ejected(cs, 0)
    # cap: base 30, max 60: durations 30, 60, 60 (m stops growing at 3: 3*30 >= 60+30)
    env, cs = _state(base=30.0, max_time=60.0)
    t = 1.0
    backs = []
    for _ in range(4):
        _at(env, t)
        _errors(cs, 0, 5)
        while _ejected(cs, 0):
            t = env.now + 1.0
            _at(env, t)
        backs.append(env.now)
        t = env.now + 0.5  # re-eject before the next healthy tick
    # ejected at 1 -> back at tick 40 (31); 40.5+60 -> 110 (100.5); 110.5+60 -> 180 (170.5); 180.5+60 -> 250
    assert [round(b - 1.0) for b in backs] == [40, 110, 180, 250]
    assert cs.mult[0] == 3


def test_max_ejection_percent_counts_the_host_to_eject() -> None:
    """Envoy >= 1.28 ``DetectorImpl::ejectHost``: an ejection proceeds only if
    ``100 x (ejected + 1) / hosts <= max_ejection_percent`` (Istio never sets ``always_eject_one_host``;
    envoyproxy/envoy#27624). Five 500s (not gateway failures: only the 5xx detector fires). With Istio's
    default 10 % and 3 hosts nothing is ejected (33 > 10: three ``ejections_overflow``); at 34 % one host may go (33.3 <= 34) and a second not (66.7 > 34); at 67 %, two."""
    env, cs = _state(max_ejection_percent=10)
    _at(env, 1.0)
    for h in range(3):
        _errors(cs, h, 5, status=500)
    assert cs.healthy == [0, 1, 2]
    assert cs.c.outlier_detection_ejections_enforced_total == 0
    assert cs.c.outlier_detection_ejections_overflow == 3
    for mep, ejected in ((34, 1), (67, 2), (100, 3)):
        env, cs = _state(max_ejection_percent=mep)
        _at(env, 1.0)
        for h in range(3):
            _errors(cs, h, 5, status=500)
        assert cs.c.outlier_detection_ejections_enforced_total == ejected, mep
        assert cs.healthy == list(range(ejected, 3)), mep
        assert cs.c.outlier_detection_ejections_overflow == 3 - ejected


def test_gateway_failures_are_detected_even_when_not_enforced() -> None:
    """Istio sets ``enforcing_consecutive_gateway_failure`` 0: five 503s still reach ``ejectHost`` through the
    gateway-failure detector (then the 5xx one), so a refused ejection counts ``ejections_overflow`` for each."""
    env, cs = _state(max_ejection_percent=10)
    _at(env, 1.0)
    _errors(cs, 0, 5)
    assert cs.c.outlier_detection_ejections_overflow == 2  # the gateway-failure and the 5xx detector
    assert cs.cgw[0] == 0 and cs.c5[0] == 0  # both counters restart at their threshold


def test_end_to_end_bad_replica_ejections() -> None:
    """Reference §4.2 end to end, with ejections reaching the LB at once (update_merge_window 0):
    front's sidecar sends ~33 req/s to the always-503 replica, which is ejected after its 5th
    consecutive 503 (t ~ 0 s), back at tick 40 s, re-ejected within a fraction of a second for 60 s
    (back at 110 s), then 90 s: exactly 3 enforced ejections in [0, 120 s). Istio's default policy
    does not retry 503, so the bad replica causes exactly 5 failed requests per ejection (it answers
    instantly, so no request is in flight at ejection), and it is ejected nearly all the time."""
    s = run(
        fx("od-one-bad.yaml", "mesh-zero.yaml", "merge-window-zero.yaml", "load-open.yaml"),
        ["LoadProfile.spec.rate=100", "LoadProfile.spec.duration=120s"],
    )
    c = counters(s, "front-v1-0", "outbound|8080||server.")
    assert c["outlier_detection.ejections_enforced_total"] == 3
    e = edge(s, "front.v1", "server")
    assert e.status_codes.get("503", 0) == 5 * 3
    assert 0.97 < c["outlier_detection.ejections_active"] <= 1.0


def test_reejection_waits_for_envoys_update_merge_window() -> None:
    """Envoy's default update_merge_window (1 s): a re-ejection comes a fraction of a second after
    the un-ejection tick, inside the window of that host-set update, so the LB keeps the bad replica
    until the window ends and it serves about 1 s x 100 req/s / 3 more 503s per re-ejection. The
    first ejection (no recent update) is immediate: 5. The real mesh showed this (real/README.md)."""
    s = run(
        fx("od-one-bad.yaml", "mesh-zero.yaml", "load-open.yaml"),
        ["LoadProfile.spec.rate=100", "LoadProfile.spec.duration=120s"],
    )
    c = counters(s, "front-v1-0", "outbound|8080||server.")
    assert c["outlier_detection.ejections_enforced_total"] == 3
    n503 = edge(s, "front.v1", "server").status_codes.get("503", 0)
    # two delayed re-ejections, each about a third of ~100 requests (the window less the time to 5 errors)
    assert 5 + 2 * 20 <= n503 <= 5 + 2 * 50, n503

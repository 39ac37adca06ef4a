"""Per-host ``rq_active`` as Envoy keeps it, and the split LEAST_REQUEST makes with it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import simpy
from scipy import stats

from meshsim.model.ir import CircuitBreakers, Cluster
from meshsim.pipeline import load_and_compile, simulate
from meshsim.sim.cluster import OVERFLOW, ClusterState, Pending
from tests.conftest import ROOT

ONE_SLOW_POD = str(ROOT / "tests" / "fixtures" / "valid" / "least-request-one-slow-pod.yaml")


def _cluster(n: int = 3, max_requests: int = 2**32 - 1, max_pending: int = 2**32 - 1) -> Cluster:
    cb = CircuitBreakers(
        max_connections=2**32 - 1,
        max_pending_requests=max_pending,
        max_requests=max_requests,
        max_retries=2**32 - 1,
        retry_budget=None,
    )
    return Cluster(
        name="outbound|8080||b.default.svc.cluster.local",
        direction="outbound",
        service="b",
        host="b.default.svc.cluster.local",
        port=8080,
        subset="",
        endpoints=tuple(f"b-{i}" for i in range(n)),
        lb_policy="LEAST_REQUEST",
        circuit_breakers=cb,
        outlier_detection=None,
        protocol="HTTP11",
        max_requests_per_connection=None,
        max_concurrent_streams=2**31 - 1,
        connect_timeout=10.0,
        healthy_panic_threshold=50.0,
    )


def _state(cluster: Cluster, connect_latency: float = 0.0) -> tuple[simpy.Environment, ClusterState]:
    env = simpy.Environment()
    draws = iter(np.random.default_rng(0).random(10_000))
    return env, ClusterState(env, cluster, lambda: float(next(draws)), connect_latency=connect_latency)


def test_attached_streams_count_per_host_until_they_end() -> None:
    """Attaching a stream increments its host's rq_active (and only its host's); ending it decrements."""
    _, cs = _state(_cluster())
    a = cs.new_stream(1)
    b = cs.new_stream(1)
    c = cs.new_stream(2)
    assert isinstance(a, int) and isinstance(b, int) and isinstance(c, int)
    assert cs.active == [0, 2, 1]
    assert cs.rq_active == 3
    cs.end_stream(1, a, reset=False)
    assert cs.active == [0, 1, 1]
    cs.end_stream(2, c, reset=True)  # a reset (timeout) ends the stream too
    cs.end_stream(1, b, reset=False)
    assert cs.active == [0, 0, 0]
    assert cs.rq_active == 0


def test_pending_requests_and_overflows_are_not_active() -> None:
    """A request waiting for a connection is pending, not active; a max_requests overflow never becomes active."""
    env, cs = _state(_cluster(), connect_latency=0.001)
    p = cs.new_stream(0)
    assert isinstance(p, Pending)
    assert cs.active == [0, 0, 0] and cs.pending == 1
    env.run(until=0.002)  # the connection is up: the pending request is attached
    assert p.event.triggered and p.event.value != OVERFLOW
    assert cs.active == [1, 0, 0] and cs.pending == 0

    _, capped = _state(_cluster(max_requests=1))
    first = capped.new_stream(0)
    assert isinstance(first, int)
    assert capped.new_stream(2) == OVERFLOW
    assert capped.active == [1, 0, 0]


def test_least_request_picks_by_per_host_active() -> None:
    """With host 1 busy, P2C sends a new request to it only when both draws land on it."""
    _, cs = _state(_cluster())
    for _ in range(3):
        cs.new_stream(1)
    picks = [cs.pick(None, 0) for _ in range(3000)]
    share = picks.count(1) / len(picks)
    assert stats.binomtest(picks.count(1), len(picks), 1 / 9).pvalue > 0.001, share


def _p2c_slow_share(lam: float, mus: list[float], workers: int, cap: int) -> float:
    """Exact long-run share of arrivals that P2C (two draws with replacement, a tie keeps the first) sends to the
    last host, for Poisson arrivals at ``lam`` requests/s and hosts that are M/M/``workers`` queues with rates
    ``mus`` (1/s): the stationary distribution of the CTMC over per-host request counts, truncated at ``cap``."""
    k = len(mus)
    shape = (cap + 1,) * k
    size = int(np.prod(shape))
    rows, cols, vals = [], [], []
    to_last = np.zeros(size)
    for idx in range(size):
        n = np.unravel_index(idx, shape)
        p = np.zeros(k)
        for a, b in itertools.product(range(k), repeat=2):
            p[b if n[b] < n[a] else a] += 1 / k**2
        to_last[idx] = p[-1]
        for i in range(k):
            if n[i] < cap:
                up = list(n)
                up[i] += 1
                rows.append(idx), cols.append(np.ravel_multi_index(up, shape)), vals.append(lam * p[i])
            if n[i] > 0:
                down = list(n)
                down[i] -= 1
                (
                    rows.append(idx),
                    cols.append(np.ravel_multi_index(down, shape)),
                    vals.append(min(n[i], workers) * mus[i]),
                )
    q = sp.csr_matrix((vals, (rows, cols)), shape=(size, size))
    q = q - sp.diags(np.asarray(q.sum(axis=1)).ravel())
    a = q.T.tolil()
    a[0, :] = 1.0
    rhs = np.zeros(size)
    rhs[0] = 1.0
    pi = spla.spsolve(a.tocsc(), rhs)
    return float(pi @ to_last)


def _slow_share(policy: str, seed: int) -> float:
    model, _ = load_and_compile(
        [ONE_SLOW_POD],
        ["LoadProfile.spec.duration=60s", f"DestinationRule/backend.spec.trafficPolicy.loadBalancer.simple={policy}"],
    )
    s = simulate(model, seed=seed, workers=1)
    rate = {v.version: v.arrival_rate_rps for v in s.services if v.name == "backend"}
    return rate["slow"] / (rate["slow"] + rate["fast"])


def test_least_request_split_matches_the_exact_p2c_chain_and_differs_from_random() -> None:
    """Three pods, one 4x slower (exponential 20 ms vs 5 ms, 4 workers each), 150 req/s, free proxies:
    the slow pod's share of requests equals the exact CTMC value of P2C (0.2513) within the 99 % t-interval over
    six seeded 60 s runs, and differs from RANDOM's share (1/3). Before per-host rq_active was kept, the simulator
    sent it 1/3 (every P2C comparison was 0 vs 0)."""
    exact = _p2c_slow_share(150.0, [200.0, 200.0, 50.0], workers=4, cap=14)
    assert 0.24 < exact < 0.26
    shares = np.array([_slow_share("LEAST_REQUEST", seed) for seed in range(1, 7)])
    half = stats.t.ppf(0.995, len(shares) - 1) * shares.std(ddof=1) / np.sqrt(len(shares))
    assert abs(shares.mean() - exact) <= half + 1e-4, (shares, exact, half)
    assert abs(shares.mean() - 1 / 3) > 10 * half
    random = np.array([_slow_share("RANDOM", seed) for seed in range(1, 3)])
    assert abs(random.mean() - 1 / 3) < 0.01


def _od_cluster(n: int, max_ejection_percent: int, panic: float = 0.0, policy: str = "RANDOM") -> Cluster:
    from meshsim.model.ir import OutlierDetectionPolicy

    od = OutlierDetectionPolicy(5, 100, 5, 0, 10.0, 30.0, 300.0, max_ejection_percent)
    return Cluster(
        name="outbound|8080||s.default.svc.cluster.local",
        direction="outbound",
        service="s",
        host="s.default.svc.cluster.local",
        port=8080,
        subset="",
        endpoints=tuple(f"s-{i}" for i in range(n)),
        lb_policy=policy,
        circuit_breakers=CircuitBreakers(),
        outlier_detection=od,
        protocol="HTTP1",
        max_requests_per_connection=None,
        max_concurrent_streams=1024,
        connect_timeout=10.0,
        healthy_panic_threshold=panic,
    )


def _od_state(cluster: Cluster, merge_window: float = 0.0) -> tuple[simpy.Environment, ClusterState]:
    from meshsim.sim.sampling import Uniform

    env = simpy.Environment()
    return env, ClusterState(env, cluster, Uniform(np.random.default_rng(1)), merge_window=merge_window)


def test_retry_budget_limit_is_truncated_to_an_integer() -> None:
    """Envoy ``RetryBudgetImpl::max``: ``std::max<uint64_t>(pct/100 x (active + pending), min)``, the product
    truncated: 20 % of 17 active allows 3 concurrent retries (not 3.4, i.e. 4), 20 % of 24 allows 4, 25 % of 10
    allows the minimum 2."""
    for pct, minimum, active, allowed in ((20, 3, 17, 3), (20, 3, 24, 4), (25, 2, 10, 2), (20, 3, 99, 19)):
        cb = CircuitBreakers(retry_budget=(pct, minimum))
        _, cs = _state(replace_cb(_cluster(1), cb))
        cs.rq_active = active
        n = 0
        while cs.retry_allowed():
            cs.active_retries += 1
            n += 1
        assert n == allowed, (pct, minimum, active)


def replace_cb(cluster: Cluster, cb: CircuitBreakers) -> Cluster:
    from dataclasses import replace

    return replace(cluster, circuit_breakers=cb)


def test_merge_window_is_a_full_window_from_the_update_inside_it() -> None:
    """Envoy ``ClusterManagerImpl::scheduleUpdate``: an ejection outside the window reaches the LB at once; one
    inside the window of the previous update arms the timer for a full window from that moment (1.9 + 1 = 2.9 s),
    not until the window of the previous update ends (2.0 s)."""
    env, cs = _od_state(_od_cluster(3, 100, policy="ROUND_ROBIN"), merge_window=1.0)
    seen: dict[int, float] = {}

    def watch():  # type: ignore[no-untyped-def]
        while True:
            for h in (0, 1):
                if h not in cs.healthy and h not in seen:
                    seen[h] = round(env.now, 3)
            yield env.timeout(0.001)

    env.process(watch())
    env.run(until=1.0)
    for _ in range(5):
        cs.report(0, 503)
    env.run(until=1.9)
    for _ in range(5):
        cs.report(1, 503)
    env.run(until=5.0)
    assert seen[0] == pytest.approx(1.0, abs=0.002) and seen[1] == pytest.approx(2.9, abs=0.002)  # 1 ms watcher


def test_no_panic_while_overprovisioned_availability_is_full() -> None:
    """Envoy ``recalculatePerPriorityPanic``: 3 of 4 hosts healthy (75 %) with minHealthPercent 80 is no panic,
    because the normalized availability min(100, 1.4 x 75) is 100: the ejected host gets no picks. With 2 of 4
    (min(100, 70) < 100 and 50 < 80) the cluster panics and balances over all four."""
    env, cs = _od_state(_od_cluster(4, 100, panic=80.0))
    env.run(until=1.0)
    for _ in range(5):
        cs.report(0, 503)
    assert cs.healthy == [1, 2, 3]
    picks = [cs.pick(None, 0) for _ in range(4000)]
    assert picks.count(0) == 0
    for _ in range(5):
        cs.report(1, 503)
    assert cs.healthy == [2, 3]
    picks = [cs.pick(None, 0) for _ in range(4000)]
    assert stats.binomtest(picks.count(0), len(picks), 0.25).pvalue > 0.001


def test_a_removed_ejected_host_no_longer_counts_as_ejected() -> None:
    """Envoy's detector erases a removed host's monitor and un-counts its ejection: with maxEjectionPercent 25,
    s-0 ejected then removed from EDS, s-1 may still be ejected (100 x (0 + 1) / 4 = 25 <= 25)."""
    env, cs = _od_state(_od_cluster(5, 25))
    env.run(until=1.0)
    for _ in range(5):
        cs.report(0, 503)
    assert 0 not in cs.healthy and sum(cs.ejected) == 1
    cs.set_endpoints(["s-1", "s-2", "s-3", "s-4"])
    assert sum(cs.ejected) == 0
    for _ in range(5):
        cs.report(1, 503)
    assert 1 not in cs.healthy
    assert cs.c.outlier_detection_ejections_overflow == 0
    assert cs.c.outlier_detection_ejections_enforced_total == 2


def test_ejection_drains_busy_connections_too() -> None:
    """Envoy drains an ejected host's pools (DrainExistingConnections): idle connections close at once, busy
    ones when their stream ends instead of going back to the pool."""
    env, cs = _od_state(_od_cluster(3, 100, policy="ROUND_ROBIN"))
    env.run(until=1.0)
    a = cs.new_stream(0)
    b = cs.new_stream(0)
    c = cs.new_stream(0)
    assert isinstance(a, int) and isinstance(b, int) and isinstance(c, int)
    cs.end_stream(0, c, reset=False)  # one idle connection, two busy
    assert cs.cx_host[0] == 3 and len(cs.idle[0]) == 1
    for _ in range(5):
        cs.report(0, 503)
    assert cs.cx_host[0] == 2 and not cs.idle[0]
    cs.end_stream(0, a, reset=False)
    cs.end_stream(0, b, reset=False)
    assert cs.cx_host[0] == 0 and not cs.idle[0] and cs.cx == 0
    assert cs.c.upstream_cx_max_requests == 0 and cs.c.upstream_cx_destroy_with_active_rq == 0


def test_connection_overflow_is_counted_when_a_pool_opens_its_only_connection_anyway() -> None:
    """``ConnPoolImplBase::tryCreateNewConnection``: at the max_connections limit a pool with no connection still
    opens one (so its pending requests can be served) and counts ``upstream_cx_overflow``."""
    cb = CircuitBreakers(max_connections=1)
    env, cs = _state(replace_cb(_cluster(2), cb), connect_latency=0.001)
    first = cs.new_stream(0)
    second = cs.new_stream(1)
    assert isinstance(first, Pending) and isinstance(second, Pending)
    assert cs.cx == 2 and cs.c.upstream_cx_overflow == 1
    env.run(until=0.01)
    assert first.event.value != OVERFLOW and second.event.value != OVERFLOW


def test_a_pending_overflow_counts_no_connection_overflow() -> None:
    """``ConnPoolImplBase::newStreamImpl`` fails a request at ``max_pending_requests`` before it would try to open a
    connection, so only ``upstream_rq_pending_overflow`` counts, even at the ``max_connections`` limit."""
    cb = CircuitBreakers(max_connections=1, max_pending_requests=1)
    _, cs = _state(replace_cb(_cluster(1), cb), connect_latency=0.001)
    assert isinstance(cs.new_stream(0), Pending)
    assert cs.new_stream(0) == OVERFLOW
    assert (cs.c.upstream_rq_pending_overflow, cs.c.upstream_cx_overflow) == (1, 0)


def _at(env: simpy.Environment, t: float) -> None:
    env.run(until=t)


def test_idle_connections_close_after_the_idle_timeout() -> None:
    """Envoy's connection idle timeout: an HTTP/1.1 connection idle for ``idle_timeout`` is closed
    (``upstream_cx_idle_timeout``), so the next request opens a new one; within it the connection is reused.
    ``0`` disables the timeout; unset is Envoy's 1 h."""
    from dataclasses import replace

    env, cs = _state(replace(_cluster(1), idle_timeout=0.05))
    s = cs.new_stream(0)
    assert s == 0 and cs.c.upstream_cx_total == 1
    cs.end_stream(0, s, reset=False)
    _at(env, 0.04)
    s = cs.new_stream(0)  # idle 40 ms < 50 ms: reused
    assert cs.c.upstream_cx_total == 1 and cs.c.upstream_cx_idle_timeout == 0
    cs.end_stream(0, s, reset=False)
    _at(env, 0.1)  # idle 60 ms: closed
    s = cs.new_stream(0)
    assert cs.c.upstream_cx_total == 2 and cs.c.upstream_cx_idle_timeout == 1 and cs.cx == 1
    cs.end_stream(0, s, reset=False)
    for timeout, closes in ((0.0, 0), (None, 0)):
        env, cs = _state(replace(_cluster(1), idle_timeout=timeout))
        s = cs.new_stream(0)
        cs.end_stream(0, s, reset=False)
        _at(env, 3000.0)
        cs.new_stream(0)
        assert cs.c.upstream_cx_idle_timeout == closes and cs.c.upstream_cx_total == 1
    env, cs = _state(_cluster(1))  # unset: Envoy's 1 h
    s = cs.new_stream(0)
    cs.end_stream(0, s, reset=False)
    _at(env, 3600.0)
    cs.new_stream(0)
    assert cs.c.upstream_cx_idle_timeout == 1


def test_idle_http2_connections_close_after_the_idle_timeout() -> None:
    from dataclasses import replace

    env, cs = _state(replace(_cluster(1), idle_timeout=0.05, protocol="HTTP2"))
    a = cs.new_stream(0)
    b = cs.new_stream(0)  # multiplexed on the same connection
    assert cs.c.upstream_cx_total == 1
    cs.end_stream(0, a, reset=False)
    _at(env, 0.06)
    cs.new_stream(0)  # the connection still carries b: not idle
    assert cs.c.upstream_cx_idle_timeout == 0 and cs.c.upstream_cx_total == 1
    cs.end_stream(0, b, reset=False)
    _at(env, 0.2)
    cs.end_stream(0, a, reset=False)  # the stream opened at 0.06 ends: idle from 0.2
    _at(env, 0.3)
    cs.new_stream(0)
    assert cs.c.upstream_cx_idle_timeout == 1 and cs.c.upstream_cx_total == 2

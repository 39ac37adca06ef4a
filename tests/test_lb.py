"""Load balancing exactly as Envoy does it (reference §5.2)."""

from __future__ import annotations

import itertools

from meshsim.pipeline import load_and_compile, simulate
from meshsim.sim import lb
from tests.conftest import ROOT


def test_p2c_busier_host_only_when_both_draws_hit_it() -> None:
    """Two hosts, host 1 busier: P2C picks host 1 only when both draws land on it (25%)."""
    active = [0, 3]
    grid = [i / 100 for i in range(100)]
    picks = [lb.p2c([0, 1], active, u1, u2) for u1, u2 in itertools.product(grid, grid)]
    assert picks.count(1) / len(picks) == 0.25
    assert lb.p2c([0, 1], active, 0.9, 0.9) == 1
    assert lb.p2c([0, 1], active, 0.9, 0.1) == 0
    assert lb.p2c([0, 1], active, 0.1, 0.9) == 0


def test_p2c_tie_goes_to_first_draw() -> None:
    """Equal rq_active: the first draw wins (only a strictly smaller count replaces it)."""
    assert lb.p2c([0, 1], [2, 2], 0.1, 0.9) == 0
    assert lb.p2c([0, 1], [2, 2], 0.9, 0.1) == 1


def test_p2c_draws_with_replacement_over_healthy_hosts() -> None:
    assert lb.p2c([2], [5, 5, 9], 0.3, 0.7) == 2
    assert lb.p2c([0, 2], [0, 100, 1], 0.99, 0.0) == 0


def test_round_robin_rotates() -> None:
    hosts = [0, 1, 2]
    nxt = 0
    seen = []
    for _ in range(6):
        h, nxt = lb.round_robin(hosts, nxt)
        seen.append(h)
    assert seen == [0, 1, 2, 0, 1, 2]


def test_random_is_uniform_on_grid() -> None:
    picks = [lb.random_pick([4, 5, 6, 7], i / 1000) for i in range(1000)]
    assert [picks.count(h) for h in (4, 5, 6, 7)] == [250, 250, 250, 250]


def _one_slow(policy: str) -> float:
    fixture = str(ROOT / "tests" / "fixtures" / "valid" / "one-slow-replica.yaml")
    model, _ = load_and_compile([fixture], [f"DestinationRule/backend.spec.trafficPolicy.loadBalancer.simple={policy}"])
    s = simulate(model, seed=21, workers=1)
    edge = [e for e in s.edges if e.destination == "backend"][0]
    assert edge.latency_ms.p99.value is not None
    return edge.latency_ms.p99.value


def test_least_request_beats_round_robin_with_one_slow_replica() -> None:
    """One of three replicas is 5x slower: LEAST_REQUEST steers around it, ROUND_ROBIN does not,
    so the caller's p99 is lower with LEAST_REQUEST."""
    lr = _one_slow("LEAST_REQUEST")
    rr = _one_slow("ROUND_ROBIN")
    assert lr < 0.8 * rr, (lr, rr)


def test_consistent_hash_sends_each_user_to_one_pod() -> None:
    """RING_HASH on x-user with three users over four pods: every user's requests land on one pod (so at most
    three pods get traffic); without the hash policy (LEAST_REQUEST) all four do."""
    from meshsim.sim.simulation import Simulation

    fixture = str(ROOT / "tests" / "fixtures" / "valid" / "consistent-hash.yaml")

    def per_pod(sets: list[str]) -> dict[str, int]:
        model, _ = load_and_compile([fixture], sets)
        sim = Simulation(model, seed=5)
        sim.run()
        return {
            pid: rep.sidecar.inbound.c.upstream_rq_total
            for pid, rep in sim.pods.replicas.items()
            if rep.wl.service == "backend"
        }

    hashed = per_pod([])
    assert sum(hashed.values()) > 1500 and 1 <= sum(n > 0 for n in hashed.values()) <= 3
    # each pod that got traffic got one user's third (or two thirds): never a split of one user
    total = sum(hashed.values())
    assert all(n == 0 or min(abs(n / total - k / 3) for k in (1, 2, 3)) < 0.05 for n in hashed.values())
    spread = per_pod(["DestinationRule/backend.spec.trafficPolicy.loadBalancer={simple: LEAST_REQUEST}"])
    assert all(n > 0 for n in spread.values())

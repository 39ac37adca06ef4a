"""Consistent hashing as Envoy does it (meshsim.sim.lb ring hash, Maglev, the request hash) and the
cluster's pick over them (meshsim.sim.cluster ``ClusterState.pick`` with a hash key)."""

from __future__ import annotations

import bisect
import dataclasses

import numpy as np
import pytest
import simpy
from scipy import stats

from meshsim.model.ir import CircuitBreakers, Cluster, HashPolicy
from meshsim.sim import lb
from meshsim.sim.cluster import ClusterState

HOSTS = [f"svc-v1-{i}" for i in range(5)]
U64 = 2**64


def _keys(n: int, seed: int = 7) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(x) for x in rng.integers(0, U64, size=n, dtype=np.uint64)]


def _cluster(policy: str, n: int = 5, **kw: object) -> Cluster:
    c = Cluster(
        name="outbound|8080||svc.default.svc.cluster.local",
        direction="outbound",
        service="svc",
        host="svc.default.svc.cluster.local",
        port=8080,
        subset="",
        endpoints=tuple(f"svc-v1-{i}" for i in range(n)),
        lb_policy=policy,  # type: ignore[arg-type]
        circuit_breakers=CircuitBreakers(),
        outlier_detection=None,
        protocol="HTTP1",
        max_requests_per_connection=None,
        max_concurrent_streams=1024,
        connect_timeout=10.0,
        healthy_panic_threshold=50.0,
    )
    return dataclasses.replace(c, **kw)  # type: ignore[arg-type]


def _state(cluster: Cluster) -> ClusterState:
    draws = iter(np.random.default_rng(0).random(100_000))
    return ClusterState(simpy.Environment(), cluster, lambda: float(next(draws)))


def test_ring_size_follows_envoys_scale() -> None:
    """ring_hash_lb.cc: scale = ceil(min_w * min_ring_size) / min_w with min_w = 1/n: 5 hosts -> 5 x 205."""
    ring = lb.RingHashTable(HOSTS)
    assert len(ring.hashes) == 1025 and all(ring.owners.count(i) == 205 for i in range(5))
    assert ring.hashes == sorted(ring.hashes)
    assert len(lb.RingHashTable(HOSTS[:3], 16).hashes) == 18


def test_ring_lookup_takes_the_first_entry_at_or_after_the_hash() -> None:
    ring = lb.RingHashTable(HOSTS, 16)
    for i, h in enumerate(ring.hashes):
        assert ring.choose(h) == ring.owners[i]
        assert ring.choose(h - 1) == ring.owners[i]
    assert ring.choose(ring.hashes[-1] + 1) == ring.owners[0]  # wraps around
    assert ring.choose(ring.hashes[0], attempt=1) == ring.owners[1]


def test_ring_keys_spread_by_arc_length() -> None:
    """A host's share of uniform keys is the total length of the arcs ending at its entries."""
    ring = lb.RingHashTable(HOSTS)
    starts = [ring.hashes[-1] - U64, *ring.hashes[:-1]]
    share = np.zeros(5)
    for start, end, owner in zip(starts, ring.hashes, ring.owners, strict=True):
        share[owner] += (end - start) / U64
    keys = _keys(20_000)
    counts = np.bincount([ring.choose(k) for k in keys], minlength=5)
    assert share.sum() == pytest.approx(1.0)
    for c, p in zip(counts, share, strict=True):  # 99.99 % binomial interval per host
        lo, hi = stats.binom.interval(0.9999, len(keys), p)
        assert lo <= c <= hi


def test_maglev_table_gives_each_host_an_equal_share() -> None:
    """OriginalMaglevTable: hosts take turns, so each owns floor(M/n) or ceil(M/n) of the M slots; keys
    spread by slot share (a uniform key lands on slot key % M)."""
    m = lb.MaglevTable(HOSTS, 251)
    owned = np.bincount(m.table, minlength=5)
    assert set(owned) <= {251 // 5, 251 // 5 + 1} and owned.sum() == 251
    keys = _keys(20_000)
    counts = np.bincount([m.choose(k) for k in keys], minlength=5)
    for c, slots in zip(counts, owned, strict=True):
        lo, hi = stats.binom.interval(0.9999, len(keys), slots / 251)
        assert lo <= c <= hi


def test_maglev_permutation_arithmetic() -> None:
    """A single host owns every slot; with two, host 0 claims its offset first."""
    assert set(lb.MaglevTable(HOSTS[:1], 7).table) == {0}
    two = lb.MaglevTable(HOSTS[:2], 7)
    assert two.table[lb.xxhash64(HOSTS[0]) % 7] == 0


@pytest.mark.parametrize("policy", ["RING_HASH", "MAGLEV"])
def test_same_key_same_host_and_random_without_a_key(policy: str) -> None:
    cs = _state(_cluster(policy, maglev_table_size=251 if policy == "MAGLEV" else None))
    for k in _keys(200):
        first = cs.pick(None, 0, k)
        assert all(cs.pick(None, 0, k) == first for _ in range(3))
    keyless = {cs.pick(None, 0) for _ in range(200)}
    assert keyless == set(range(5))  # a random hash per request reaches every host


def test_ring_hash_removing_a_host_remaps_only_its_keys() -> None:
    """With the same number of entries per host, a host that leaves takes only its own keys away."""
    keys = _keys(5_000)
    five = lb.RingHashTable(HOSTS, 1000)  # 200 entries per host
    four = lb.RingHashTable(HOSTS[:2] + HOSTS[3:], 800)  # still 200 per host
    survivors = [0, 1, 3, 4]
    before = [five.choose(k) for k in keys]
    after = [survivors[four.choose(k)] for k in keys]
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(moved) == before.count(2) > 0 and all(b == 2 for b, _ in moved)


def test_ring_hash_cluster_remaps_a_removed_hosts_keys_and_those_its_new_entries_take() -> None:
    """Through the cluster's pick, with Envoy's minimum ring of 1024: 5 -> 4 hosts grows each survivor
    from ceil(1024/5) = 205 to 256 entries, so a key moves only if its host left or one of the
    survivors' new entries (replicas 205..255) now comes first on the ring."""
    cs = _state(_cluster("RING_HASH"))
    keys = _keys(5_000)
    before = [cs.pick(None, 0, k) for k in keys]
    left = HOSTS[:2] + HOSTS[3:]
    cs.set_endpoints(left)  # svc-v1-2 leaves EDS
    after = [cs.pick(None, 0, k) for k in keys]
    ring = lb.RingHashTable(left)
    new_entries = {lb.xxhash64(f"{h}_{i}") for h in left for i in range(205, 256)}
    for k, b, a in zip(keys, before, after, strict=True):
        assert a != 2
        if b != a and b != 2:
            i = bisect.bisect_left(ring.hashes, k) % len(ring.hashes)
            assert ring.hashes[i] in new_entries
    assert any(a != b for b, a in zip(before, after, strict=True) if b != 2)  # the new entries take some


def test_the_table_is_built_when_the_host_set_changes_not_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = lb.RingHashTable

    def counting(keys: list[str], size: int) -> lb.RingHashTable:
        built.append(len(keys))
        return real(keys, size)

    monkeypatch.setattr(lb, "RingHashTable", counting)
    cs = _state(_cluster("RING_HASH"))
    for k in _keys(100):
        cs.pick(None, 0, k)
    assert built == [5]
    cs.set_endpoints(HOSTS[:4])
    for k in _keys(100):
        cs.pick(None, 0, k)
    assert built == [5, 4]


def test_request_hash_keys() -> None:
    """HashPolicyImpl::generateHash: xxHash64 of the key; policies combine as rotl(h, 1) ^ new."""
    header = HashPolicy("header", "x-user")
    cookie = HashPolicy("cookie", "session")
    assert lb.request_hash([header], {"x-user": "ann"}, "10.0.0.1") == lb.xxhash64("ann")
    assert lb.request_hash([header], {}, "10.0.0.1") is None
    assert lb.request_hash([cookie], {"cookie": "a=1; session=s42"}, "") == lb.xxhash64("s42")
    assert lb.request_hash([cookie], {"cookie": "a=1"}, "") is None
    assert lb.request_hash([HashPolicy("source_ip")], {}, "10.0.0.1") == lb.xxhash64("10.0.0.1")
    a, b = lb.xxhash64("ann"), lb.xxhash64("10.0.0.1")
    rotl = ((a << 1) | (a >> 63)) & (U64 - 1)
    assert lb.request_hash([header, HashPolicy("source_ip")], {"x-user": "ann"}, "10.0.0.1") == rotl ^ b


def test_passthrough_cluster_picks_uniformly() -> None:
    """CLUSTER_PROVIDED (PASSTHROUGH): the simulator stands a uniform pick in for kube-proxy's."""
    cs = _state(_cluster("CLUSTER_PROVIDED"))
    counts = np.bincount([cs.pick(None, 0) for _ in range(5_000)], minlength=5)
    lo, hi = stats.binom.interval(0.9999, 5_000, 0.2)
    assert all(lo <= c <= hi for c in counts)


def test_host_selection_retries_move_along_the_ring_and_flip_the_maglev_hash() -> None:
    """ring_hash_lb.cc: attempt n takes the entry n places further; maglev_lb.cc: hash ^ (2^64 - n)."""
    ring = lb.RingHashTable(HOSTS, 16)
    i = bisect.bisect_left(ring.hashes, 12345) % len(ring.hashes)
    assert ring.choose(12345, 2) == ring.owners[(i + 2) % len(ring.owners)]
    m = lb.MaglevTable(HOSTS, 251)
    assert m.choose(12345, 1) == m.table[(12345 ^ (U64 - 1)) % 251]

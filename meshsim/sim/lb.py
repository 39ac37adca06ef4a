"""Envoy's load-balancing choices as pure functions (source/extensions/load_balancing_policies/: least_request,
round_robin, random, ring_hash, maglev) and the request hash of a route's ``hash_policy``.

Each takes the healthy host indices and the uniform draws it needs, and returns a host index, so the
algorithms can be unit-tested without a simulation. The consistent-hash tables (:class:`RingHashTable`,
:class:`MaglevTable`) are built once per host set and then looked up per request.

Hashes are Envoy's ``HashUtil::xxHash64`` (XXH64, seed 0; ``source/common/common/hash.h``), through the
``xxhash`` binding. A host is hashed by its key: Envoy uses the host's address (``ip:port``), meshsim
the endpoint id, so which host a key lands on differs from a real mesh while the arithmetic (how
many keys each host gets, how few move when a host leaves) is the same.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import xxhash

from meshsim.model.ir import HashPolicy

__all__ = [
    "MAX_RING_SIZE",
    "MaglevTable",
    "RingHashTable",
    "p2c",
    "random_pick",
    "request_hash",
    "round_robin",
    "xxhash64",
]

MAX_RING_SIZE = 8 * 1024 * 1024
"""Envoy's default ``ring_hash_lb_config.maximum_ring_size`` (8M entries; ``cluster.proto``)."""

DEFAULT_MIN_RING_SIZE = 1024
"""Envoy's default ``ring_hash_lb_config.minimum_ring_size`` (``cluster.proto``)."""

DEFAULT_MAGLEV_TABLE_SIZE = 65537
"""Envoy's default ``maglev_lb_config.table_size`` (``maglev_lb.h`` ``MaglevTable::DefaultTableSize``)."""


def p2c(hosts: list[int], active: list[int], u1: float, u2: float) -> int:
    """LEAST_REQUEST with equal weights: power of two choices.

    Two indices are drawn uniformly **with replacement** from ``hosts`` (``u1``, ``u2`` in [0, 1));
    the second replaces the first only if its ``active`` request count is *strictly* smaller, so a
    tie goes to the first draw. Source: Envoy ``least_request_lb.cc`` ``unweightedHostPickNChoices``.
    With two hosts of unequal load, the busier one is picked only when both draws hit it (25%).
    """
    n = len(hosts)
    first = hosts[int(u1 * n)]
    second = hosts[int(u2 * n)]
    return second if active[second] < active[first] else first


def round_robin(hosts: list[int], next_index: int) -> tuple[int, int]:
    """ROUND_ROBIN with equal weights: strict rotation over the healthy list.

    Returns ``(host, next_index)``.
    """
    i = next_index % len(hosts)
    return hosts[i], i + 1


def random_pick(hosts: list[int], u: float) -> int:
    """RANDOM: a uniform pick over the healthy hosts."""
    return hosts[int(u * len(hosts))]


def xxhash64(data: str, seed: int = 0) -> int:
    """Envoy ``HashUtil::xxHash64(data, seed)``: XXH64 of the UTF-8 bytes, an unsigned 64-bit int."""
    return xxhash.xxh64_intdigest(data.encode(), seed=seed)


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def request_hash(policies: Sequence[HashPolicy], headers: dict[str, str], source_ip: str) -> int | None:
    """Envoy ``HashPolicyImpl::generateHash`` (``source/common/router/config_impl.cc``,
    ``source/common/http/hash_policy.cc``): each policy that finds its key hashes it with
    :func:`xxhash64` (``header``: the header's value, ``cookie``: the cookie's value from the ``cookie``
    header, ``source_ip``: ``source_ip``, the downstream address); the hashes combine as
    ``rotl(previous, 1) ^ new``. None when no policy finds its key: the balancer then picks at random.

    A ``cookie`` policy with a ``ttl`` makes Envoy generate the cookie for a request without it (and the
    client send it back); meshsim's clients keep no cookies, so such requests hash nothing.
    ``query_parameter`` keys hash nothing (meshsim's requests carry no query parameters)."""
    h: int | None = None
    for p in policies:
        value: str | None
        if p.kind == "header":
            value = headers.get(p.name.lower())
        elif p.kind == "cookie":
            value = _cookie(headers, p.name)
        elif p.kind == "source_ip":
            value = source_ip
        else:
            value = None
        if value is None:
            continue
        new = xxhash64(value)
        old = ((h << 1) | (h >> 63)) & 0xFFFFFFFFFFFFFFFF if h is not None else 0
        h = old ^ new
    return h


class RingHashTable:
    """Envoy's ketama ring (``ring_hash_lb.cc`` ``RingHashLoadBalancer::Ring``) over equally weighted
    hosts.

    Each of the ``n`` hosts gets ``ceil(min_ring_size / n)`` entries (the ring scale
    ``ceil(min_normalized_weight * min_ring_size) / min_normalized_weight``, at most
    :data:`MAX_RING_SIZE`), entry ``i`` of host key ``k`` at ``xxhash64(f"{k}_{i}")``; the ring is sorted by
    hash. A request hash ``h`` picks the first entry with hash >= ``h`` (wrapping to the first). So a
    host that leaves takes only its own entries' keys with it (they move to the next entries); every
    other key keeps its host.
    """

    def __init__(self, keys: Sequence[str], min_ring_size: int = DEFAULT_MIN_RING_SIZE) -> None:
        n = len(keys)
        if n == 0:
            raise ValueError("a ring needs at least one host")
        per_host = min(-(-min_ring_size // n) * n, MAX_RING_SIZE) / n
        entries: list[tuple[int, int]] = []
        current = 0.0
        target = 0.0
        for idx, key in enumerate(keys):
            target += per_host
            i = 0
            while current < target:
                entries.append((xxhash64(f"{key}_{i}"), idx))
                i += 1
                current += 1
        entries.sort()
        self.hashes = [e[0] for e in entries]
        self.owners = [e[1] for e in entries]

    def choose(self, h: int, attempt: int = 0) -> int:
        """The index (into the ``keys`` the ring was built over) of the host for request hash ``h``;
        ``attempt`` > 0 (a host-selection retry) walks that many entries further along the ring."""
        i = bisect.bisect_left(self.hashes, h)
        return self.owners[(i + attempt) % len(self.owners)]


class MaglevTable:
    """Envoy's Maglev lookup table (``maglev_lb.cc`` ``OriginalMaglevTable``; Eisenbud et al., "Maglev: A
    Fast and Reliable Software Network Load Balancer", NSDI 2016, section 3.4) over equally weighted hosts.

    ``table_size`` M (a prime); host key ``k`` has ``offset = xxhash64(k) % M`` and
    ``skip = xxhash64(k, seed=1) % (M - 1) + 1``; hosts take turns claiming their next unclaimed slot of
    the permutation ``(offset + j * skip) % M`` until all M slots are owned, so each host owns
    ``floor(M/n)`` or ``ceil(M/n)`` slots. A request hash ``h`` picks the owner of slot ``h % M``.
    """

    def __init__(self, keys: Sequence[str], table_size: int = DEFAULT_MAGLEV_TABLE_SIZE) -> None:
        n = len(keys)
        if n == 0:
            raise ValueError("a Maglev table needs at least one host")
        m = table_size
        offsets = [xxhash64(k) % m for k in keys]
        skips = [xxhash64(k, 1) % (m - 1) + 1 for k in keys]
        nxt = [0] * n
        table = [-1] * m
        filled = 0
        while filled < m:
            for i in range(n):
                c = (offsets[i] + skips[i] * nxt[i]) % m
                while table[c] >= 0:
                    nxt[i] += 1
                    c = (offsets[i] + skips[i] * nxt[i]) % m
                table[c] = i
                nxt[i] += 1
                filled += 1
                if filled == m:
                    break
        self.table = table

    def choose(self, h: int, attempt: int = 0) -> int:
        """The index (into the ``keys``) of the host for request hash ``h``. ``attempt`` > 0 (a
        host-selection retry) first flips the hash as Envoy's ``OriginalMaglevTable::chooseHost`` does,
        ``h ^ (2^64 - attempt)``, to reach another slot."""
        if attempt:
            h ^= (1 << 64) - attempt
        return self.table[h % len(self.table)]

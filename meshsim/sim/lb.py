"""Envoy's load-balancing choices as pure functions (source/extensions/load_balancing_policies/: least_request, round_robin, random).

Each takes the healthy host indices and the uniform draws it needs, and returns a host index, so the
algorithms can be unit-tested without a simulation.
"""

from __future__ import annotations

__all__ = ["p2c", "round_robin", "random_pick"]


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

"""Closed forms of queueing theory, used as test oracles and (later) as a fast capacity pre-screen.

Sources: Kleinrock, *Queueing Systems Vol. 1* (1975), §3.5 (M/M/c, Erlang's C formula).
"""

from __future__ import annotations

__all__ = ["erlang_c", "mmc_mean_wait", "mmc_mean_response"]


def erlang_c(lam: float, mu: float, c: int) -> float:
    """Probability that an arriving request waits in an M/M/c queue (Erlang's C formula).

    Parameters
    ----------
    lam:
        Arrival rate, requests/s.
    mu:
        Service rate of one server, requests/s (1 / mean service time).
    c:
        Number of servers (workers).

    Raises
    ------
    ValueError
        If the queue is unstable (lam >= c * mu) or an argument is not positive.
    """
    if lam <= 0 or mu <= 0 or c < 1:
        raise ValueError("lam, mu must be > 0 and c >= 1")
    a = lam / mu
    rho = a / c
    if rho >= 1:
        raise ValueError(f"unstable: utilisation {rho:.3f} >= 1")
    # numerically stable: sum_{k<c} a^k/k! and a^c/c!
    term = 1.0
    s = 1.0
    for k in range(1, c):
        term *= a / k
        s += term
    top = term * a / c / (1 - rho)
    return top / (s + top)


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue (seconds) of M/M/c: ``C(c, a) / (c mu - lam)``."""
    return erlang_c(lam, mu, c) / (c * mu - lam)


def mmc_mean_response(lam: float, mu: float, c: int) -> float:
    """Mean response time (wait + service, seconds) of M/M/c."""
    return mmc_mean_wait(lam, mu, c) + 1.0 / mu



"""Closed forms of queueing theory: M/M/c (Erlang C) and the M/G/c approximation.

Sources: Kleinrock, *Queueing Systems Vol. 1* (1975), §3.5 (M/M/c, Erlang's C formula); Lee & Longton
(1959) and Allen (1990) §6.4 for the M/G/c (Allen–Cunneen) approximation.
"""

from __future__ import annotations

__all__ = ["erlang_c", "mgc_mean_wait", "mmc_mean_response", "mmc_mean_wait"]


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


# ----------------------------------------------------------------------------------------------------
# M/G/c approximations and the mesh-wide (Jackson-style) network model
# ----------------------------------------------------------------------------------------------------


def mgc_mean_wait(lam: float, mean_service: float, scv_service: float, c: int, scv_arrival: float = 1.0) -> float:
    """Mean time in queue (seconds) of a G/G/c queue by the Allen–Cunneen approximation.

    ``Wq ≈ Wq(M/M/c) · (ca² + cs²) / 2`` with ``Wq(M/M/c) = C(c, a) / (c μ − λ)`` (Erlang C). Exact for
    M/M/c (``ca² = cs² = 1``); for M/G/c (``ca² = 1``) it is Lee & Longton's approximation
    ``Wq ≈ (1 + cs²)/2 · Wq(M/M/c)``, which is exact for M/G/1 (Pollaczek–Khinchine).

    Sources: A. M. Lee and P. A. Longton, "Queueing processes associated with airline passenger
    check-in", *Operational Research Quarterly* 10 (1959); A. O. Allen, *Probability, Statistics, and
    Queueing Theory with Computer Science Applications*, 2nd ed. (1990), §6.4 (Allen–Cunneen).

    Parameters
    ----------
    lam:
        Arrival rate, requests/s.
    mean_service:
        Mean service (worker holding) time, seconds.
    scv_service:
        Squared coefficient of variation of the service time (1 = exponential, 0 = constant).
    c:
        Servers (workers).
    scv_arrival:
        SCV of inter-arrival times (1 = Poisson).

    Raises
    ------
    ValueError
        If the queue is unstable (``lam * mean_service >= c``) or an argument is out of range.
    """
    if mean_service <= 0:
        raise ValueError("mean_service must be > 0")
    if scv_service < 0 or scv_arrival < 0:
        raise ValueError("squared coefficients of variation must be >= 0")
    return mmc_mean_wait(lam, 1.0 / mean_service, c) * (scv_arrival + scv_service) / 2.0

"""Closed forms of queueing theory, used as test oracles and as the capacity planner's fast pre-screen.

Sources: Kleinrock, *Queueing Systems Vol. 1* (1975), §3.5 (M/M/c, Erlang's C formula); Lee & Longton
(1959) and Allen (1990) §6.4 for the M/G/c (Allen–Cunneen) approximation; Jackson, "Jobshop-like
queueing systems", *Management Science* 10 (1963) for the network decomposition :func:`analyze` uses.

Modules: :mod:`.queueing` (M/M/c, M/G/c), :mod:`.moments` (time moments), :mod:`.network` (routing,
rates and per-workload queues of one model), :mod:`.sampler` (Monte Carlo percentiles),
:mod:`.solve` (:func:`analyze`), :mod:`.estimates` (the results).
"""

from meshsim.model.analytic.estimates import EdgeEstimate, NetworkEstimate, WorkloadEstimate
from meshsim.model.analytic.moments import Moments, dist_moments
from meshsim.model.analytic.queueing import erlang_c, mgc_mean_wait, mmc_mean_response, mmc_mean_wait
from meshsim.model.analytic.solve import analyze

__all__ = [
    "EdgeEstimate",
    "Moments",
    "NetworkEstimate",
    "WorkloadEstimate",
    "analyze",
    "dist_moments",
    "erlang_c",
    "mgc_mean_wait",
    "mmc_mean_response",
    "mmc_mean_wait",
]

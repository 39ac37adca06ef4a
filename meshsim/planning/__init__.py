"""Capacity planning: the replica search, config checks and provenance.

- :mod:`meshsim.planning.search`: ``plan`` (fewest replicas meeting every SLO) and ``max_load``;
- :mod:`meshsim.planning.check`: baseline vs candidate with common random numbers (CI gating);
- :mod:`meshsim.planning.provenance`: one results directory per run, with a provenance file.

SLOs are loaded and evaluated by :mod:`meshsim.analysis.slo` (simulated summaries with CIs and
per-replication values for paired comparisons, or analytic estimates).
"""

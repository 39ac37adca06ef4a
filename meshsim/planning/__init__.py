"""Capacity planning (issue #7): SLO evaluation, the replica search, config checks and provenance.

- :mod:`meshsim.planning.slo`: load ``kind: SLO`` documents and evaluate them on simulated
  summaries (with CIs and per-replication values for paired comparisons) or analytic estimates;
- :mod:`meshsim.planning.search`: ``plan`` (fewest replicas meeting every SLO) and ``max_load``;
- :mod:`meshsim.planning.check`: baseline vs candidate with common random numbers (CI gating);
- :mod:`meshsim.planning.provenance`: one results directory per run, with a provenance file.
"""

"""Retry amplification moved to :mod:`meshsim.analysis.amplification` (``meshsim run``, ``validate``
and the planner use it too); this name stays for existing imports."""

from meshsim.analysis.amplification import (
    DEFAULT_FLAG_THRESHOLD,
    DEFAULT_STATIC_THRESHOLD,
    EdgeBound,
    amplification_report,
    app_retries,
    depths,
    edge_bounds,
    expected_tries,
    sidecar_retries,
    worst_case_findings,
    worst_paths,
)

__all__ = [
    "DEFAULT_FLAG_THRESHOLD",
    "DEFAULT_STATIC_THRESHOLD",
    "EdgeBound",
    "amplification_report",
    "app_retries",
    "depths",
    "edge_bounds",
    "expected_tries",
    "sidecar_retries",
    "worst_case_findings",
    "worst_paths",
]

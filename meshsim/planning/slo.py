"""SLO loading and evaluation moved to :mod:`meshsim.analysis.slo` (``meshsim sweep`` in experiments/
evaluates SLOs too); this name stays for existing imports."""

from meshsim.analysis.slo import (
    Check,
    Criterion,
    SLOItem,
    SLOSet,
    all_ok,
    evaluate_analytic,
    evaluate_summary,
    load_slos,
    slos_from_config,
    validate_against,
    violation,
)

__all__ = [
    "Check",
    "Criterion",
    "SLOItem",
    "SLOSet",
    "all_ok",
    "evaluate_analytic",
    "evaluate_summary",
    "load_slos",
    "slos_from_config",
    "validate_against",
    "violation",
]

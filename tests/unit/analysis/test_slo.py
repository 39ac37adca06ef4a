"""meshsim.analysis.slo: what a Check carries besides its value."""

from __future__ import annotations

from pathlib import Path

from meshsim.analysis.slo import evaluate_summary, load_slos
from meshsim.metrics.summarize import summarize
from meshsim.pipeline import load_and_compile
from meshsim.sim.simulation import Simulation
from tests.conftest import TOPOLOGIES


def test_a_check_carries_the_requests_behind_its_value(tmp_path: Path) -> None:
    """The success-rate check's ``requests`` is the entry's request count (the denominator that the
    Newcombe interval of a difference of success rates needs)."""
    slo = tmp_path / "slo.yaml"
    slo.write_text(
        "apiVersion: meshsim.io/v1alpha1\nkind: SLO\nmetadata: {name: t}\nspec:\n  objectives:\n"
        "  - entry: server\n    successRate: 0.99\n"
    )
    model, _ = load_and_compile([str(TOPOLOGIES / "mm1" / "mm1.yaml")], ["LoadProfile.spec.duration=2s"])
    s = summarize(model, [Simulation(model, 1, 0).run()])
    (check,) = evaluate_summary(load_slos([str(slo)]), s)
    assert check.metric == "success_rate" and s.entry.requests > 0
    assert check.requests == s.entry.requests


def _checks_with(tmp_path: Path, requests: int, incomplete: int, latency: str = "p99: 5s") -> dict[str, bool]:
    slo = tmp_path / "slo.yaml"
    slo.write_text(
        "apiVersion: meshsim.io/v1alpha1\nkind: SLO\nmetadata: {name: t}\nspec:\n  objectives:\n"
        f"  - entry: server\n    latency: {{{latency}}}\n    successRate: 0.5\n"
    )
    model, _ = load_and_compile([str(TOPOLOGIES / "mm1" / "mm1.yaml")], ["LoadProfile.spec.duration=2s"])
    s = summarize(model, [Simulation(model, 1, 0).run()])
    if requests == 0:  # a collapse: nothing completed, so there are no estimates either
        empty = s.entry.latency_ms.model_copy(
            update={q: s.entry.latency_ms.p99.model_copy(update={"value": None, "ci_low": None, "ci_high": None})
                    for q in ("mean", "p50", "p90", "p99")}
        )  # fmt: skip
        sr = s.entry.success_rate.model_copy(update={"value": None, "ci_low": None, "ci_high": None})
        entry = s.entry.model_copy(
            update={"requests": 0, "incomplete": incomplete, "latency_ms": empty, "success_rate": sr}
        )
    else:
        entry = s.entry.model_copy(update={"requests": requests, "incomplete": incomplete})
    s = s.model_copy(update={"entry": entry})
    return {c.metric: c.ok for c in evaluate_summary(load_slos([str(slo)]), s)}


def test_an_entry_whose_requests_never_completed_fails_instead_of_holding_vacuously(tmp_path: Path) -> None:
    assert _checks_with(tmp_path, 0, 40) == {"latency.p99": False, "success_rate": False}
    # no traffic at all is still vacuous
    assert _checks_with(tmp_path, 0, 0) == {"latency.p99": True, "success_rate": True}


def test_a_quantile_fails_when_more_than_its_tail_is_still_in_flight(tmp_path: Path) -> None:
    # 2 % of the measured requests never completed: p99 lies beyond the drain horizon, p50 does not
    assert _checks_with(tmp_path, 980, 20, "p99: 5s")["latency.p99"] is False
    assert _checks_with(tmp_path, 980, 20, "p50: 500ms")["latency.p50"] is True
    assert _checks_with(tmp_path, 995, 5, "p99: 5s")["latency.p99"] is True  # 0.5 % < 1 %

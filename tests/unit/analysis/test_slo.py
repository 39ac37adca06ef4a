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

"""Every confidence interval meshsim writes contains its own value, no quantile interval has zero
width, and a tail quantile the run is too short for is reported n/a with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from meshsim.metrics.intervals import min_per_section
from meshsim.pipeline import load_and_compile, simulate
from tests.conftest import BOOKINFO, TOPOLOGIES

QUANTILE_KEYS = {"p50", "p90", "p99", "p999"}


def _estimates(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every Estimate-shaped dict in a summary.json tree, with its path."""
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "value" in node and "ci_low" in node and "ci_high" in node:
            out.append((path, node))
        for k, v in node.items():
            out += _estimates(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _estimates(v, f"{path}[{i}]")
    return out


RUNS = [
    pytest.param([str(BOOKINFO)], ["LoadProfile.spec.duration=5s"], 1, id="bookinfo-5s"),
    pytest.param(
        [str(BOOKINFO)], ["LoadProfile.spec.duration=20s", "LoadProfile.spec.rate=600"], 1, id="bookinfo-20s-600rps"
    ),
    pytest.param(
        [str(BOOKINFO)], ["LoadProfile.spec.duration=10s", "LoadProfile.spec.rate=300"], 3, id="bookinfo-3-replications"
    ),
    pytest.param([str(TOPOLOGIES / "mm1" / "mm1.yaml")], ["LoadProfile.spec.duration=20s"], 2, id="mm1-2-replications"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("paths", "overrides", "reps"), RUNS)
def test_every_interval_contains_its_value_and_quantiles_have_width(
    paths: list[str], overrides: list[str], reps: int
) -> None:
    model, _ = load_and_compile(paths, overrides)
    doc = simulate(model, seed=4, replications=reps, workers=1).model_dump(mode="json")
    ests = _estimates(doc)
    with_ci = [(p, e) for p, e in ests if e["ci_low"] is not None]
    assert with_ci, "no interval at all"
    for p, e in ests:
        if e["ci_low"] is None or e["ci_high"] is None:
            assert e["ci_high"] is None and e["ci_low"] is None, p
            if e["value"] is not None and p.split(".")[-1] in QUANTILE_KEYS:
                assert e["ci_reason"] in {"too_few_samples", "too_few_sections"}, (p, e)
            continue
        assert e["ci_low"] <= e["value"] <= e["ci_high"], (p, e)
        if p.split(".")[-1] in QUANTILE_KEYS and e["value"] > 0:
            assert e["ci_high"] > e["ci_low"], (p, e)
    assert doc["run"]["sketch_relative_accuracy"] > 0


def test_p999_of_a_5s_bookinfo_run_is_na_with_a_reason() -> None:
    model, _ = load_and_compile([str(BOOKINFO)], ["LoadProfile.spec.duration=5s"])
    s = simulate(model, seed=1, replications=1, workers=1)
    e = s.entry.latency_ms.p999
    assert e.value is not None and e.ci_low is None and e.ci_high is None
    assert e.ci_reason == "too_few_samples"
    assert e.ci_needs == 10 * min_per_section(0.999)

"""``ignoreUriCase`` does not make a ``regex`` URI match case-insensitive, on either backend
(real/scenarios/regex-ignorecase: a calls b on /API/items; b's VirtualService sends regex "/api/.*" with
ignoreUriCase to v2, the rest to v1). Istio documents ignoreUriCase for exact and prefix only
(``HTTPMatchRequest.ignore_uri_case``) and Envoy ignores ``RouteMatch.case_sensitive`` for ``safe_regex``:
every request goes to v1. Counts, not latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile, simulate

pytestmark = pytest.mark.real


def test_a_regex_uri_match_stays_case_sensitive_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    from meshsim.real.options import RunOptions
    from meshsim.real.runner import run_real_sync

    model, _ = load_and_compile([str(scenarios_dir / "regex-ignorecase")], [])
    real = run_real_sync(model, RunOptions(out=tmp_path / "out", duration=5, warmup=1))
    sim = simulate(model, seed=1, workers=1)
    for s in (real, sim):
        to_b = {e.subset: e.requests for e in s.edges if e.source == "a.v1" and e.destination == "b"}
        assert to_b.get("v1", 0) > 150 and to_b.get("v2", 0) == 0, to_b

"""A 3xx answer fails an app call on both backends (real/scenarios/redirect-call-outcome: half of a's calls to b
are aborted with 302; apps accept only a 2xx, so a answers 500 for each). Counts, not latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile, simulate

pytestmark = pytest.mark.real


def test_a_302_fails_the_call_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    from meshsim.real.options import RunOptions
    from meshsim.real.runner import run_real_sync

    scenario = str(scenarios_dir / "redirect-call-outcome")
    model, _ = load_and_compile([scenario], [])
    real = run_real_sync(model, RunOptions(out=tmp_path / "out", duration=6, warmup=1))
    sim = simulate(model, seed=1, workers=1)
    for s in (real, sim):
        (e,) = s.edges
        n_fi = e.response_flags.get("FI", 0)
        codes = s.entry.status_codes
        n = s.entry.requests
        assert n > 200
        # every aborted call (a 302 from a's sidecar) fails a's script: a 500 at the entry, and nothing else fails
        assert abs(codes.get("500", 0) - n_fi) <= 3, (codes, n_fi)
        assert abs(codes.get("200", 0) + codes.get("500", 0) - n) <= 3
        assert abs(n_fi / e.requests - 0.5) < 4 * (0.25 / e.requests) ** 0.5

"""An HTTP/2 upstream pool at its limits on both backends (real/scenarios/h2-pool: grpc b, one connection, one
request per connection, one pending request, one stream; connect 2 ms, streams ~5 ms, 100 requests/s).
Counts, not latency: each request has its own connection, the pool overflows (503 UO) and counts
``upstream_cx_overflow`` on both; the closed form (tests/unit/sim/test_cluster_h2.py) gives 23.5 % overflow
with 5 ms streams, more with the real mesh's slower ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile, simulate

pytestmark = pytest.mark.real


def test_the_h2_pool_limits_apply_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    from meshsim.real.options import RunOptions
    from meshsim.real.runner import run_real_sync

    scenario = str(scenarios_dir / "h2-pool")
    model, _ = load_and_compile([scenario], [])
    real = run_real_sync(model, RunOptions(out=tmp_path / "out", duration=6, warmup=1))
    sim = simulate(model, seed=1, workers=1)
    for s in (real, sim):
        (e,) = s.edges
        n_uo = e.response_flags.get("UO", 0)
        assert e.requests > 400
        assert 0.15 < n_uo / e.requests < 0.45, (n_uo, e.requests)
        (c,) = [c for c in s.clusters if c.proxy == "a-v1-0" and c.cluster.startswith("outbound|")]
        k = c.counters
        assert abs(k["upstream_rq_pending_overflow"] - n_uo) <= 3
        assert k["upstream_cx_overflow"] > 0.5 * n_uo
        # one request per connection: every connection reached maxRequestsPerConnection
        assert abs(k["upstream_cx_max_requests"] - k["upstream_cx_total"]) <= 3

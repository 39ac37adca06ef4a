"""A request body over the 1 MiB buffer limit is not retried, on either backend (real/scenarios/
retry-buffer-limit: a sends b 2 MiB, b answers 503 half the time, the VirtualService retries 5xx twice).
Envoy buffers a request for retries only up to the connection's buffer limit (Istio sets
``per_connection_buffer_limit_bytes`` 1 MiB on its listeners); past it the router gives the retry up and
counts ``retry_or_shadow_abandoned`` (``source/common/router/router.cc``, ``Filter::decodeData``). So no
``upstream_rq_retry``, half the calls fail, and every request counts one abandonment. Counts, not latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile, simulate

pytestmark = pytest.mark.real


def test_bodies_over_the_buffer_limit_are_not_retried_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    from meshsim.real.options import RunOptions
    from meshsim.real.runner import run_real_sync

    model, _ = load_and_compile([str(scenarios_dir / "retry-buffer-limit")], [])
    real = run_real_sync(model, RunOptions(out=tmp_path / "out", duration=6, warmup=1))
    sim = simulate(model, seed=1, workers=1)
    for s in (real, sim):
        (c,) = [c for c in s.clusters if c.proxy == "a-v1-0" and c.cluster.startswith("outbound|")]
        k = c.counters
        assert k.get("upstream_rq_retry", 0) == 0, k
        assert abs(k["retry_or_shadow_abandoned"] - k["upstream_rq_total"]) <= 2, k
        assert 0.35 < k["upstream_rq_5xx"] / k["upstream_rq_total"] < 0.65, k

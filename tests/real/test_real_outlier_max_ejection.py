"""Envoy >= 1.28's max-ejection rule on both backends (real/scenarios/outlier-max-ejection-default: one of three
hosts always answers 503, Istio's default maxEjectionPercent, i.e. Envoy's 10 %). An ejection needs
``100 * (ejected + 1) / hosts <= max_ejection_percent`` (``source/extensions/clusters/common/outlier_detection``
``outlier_detection_impl.cc`` ``DetectorImpl::ejectHost``), so with three hosts nothing is ejected and every
detection counts ``ejections_overflow``; the bad host keeps its third of the traffic. Counts, not latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile, simulate

pytestmark = pytest.mark.real


def test_default_max_ejection_percent_ejects_nothing_of_three_hosts_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    from meshsim.real.options import RunOptions
    from meshsim.real.runner import run_real_sync

    model, _ = load_and_compile([str(scenarios_dir / "outlier-max-ejection-default")], [])
    real = run_real_sync(model, RunOptions(out=tmp_path / "out", duration=8, warmup=1))
    sim = simulate(model, seed=1, workers=1)
    for s in (real, sim):
        (c,) = [c for c in s.clusters if c.proxy == "front-v1-0" and c.cluster.startswith("outbound|")]
        k = c.counters
        assert k.get("outlier_detection.ejections_enforced_total", 0) == 0, k
        # the bad host answers a third of the requests; every 5th consecutive 503 is a detection that overflows
        assert k["outlier_detection.ejections_overflow"] > 0.5 * k["upstream_rq_5xx"] / 5, k
        assert 0.25 < k["upstream_rq_5xx"] / k["upstream_rq_total"] < 0.42, k

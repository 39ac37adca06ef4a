"""Pure parts of scenario playback on the real mesh (no Envoy): the load generator's rate schedule, the
admin stats parser, the measured Series, and compare's per-interval rows and switch time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from meshsim.real.loadgen import rate_changes, schedule_varying
from meshsim.real.scenario import build_series, parse_cluster_stats


def test_rate_changes_step_spike_ramp() -> None:
    assert rate_changes(100.0, []) == [(0.0, 100.0)]
    assert rate_changes(100.0, [[10.0, 200.0, None, None]]) == [(0.0, 100.0), (10.0, 200.0)]
    spike = rate_changes(100.0, [[5.0, 300.0, None, 2.0]])
    assert spike == [(0.0, 100.0), (5.0, 300.0), (7.0, 100.0)]
    ramp = rate_changes(100.0, [[0.0, 200.0, 10.0, None]])
    assert len(ramp) == 51 and ramp[-1] == pytest.approx((10.0, 200.0)) and ramp[1] == pytest.approx((0.2, 102.0))


def test_schedule_varying_follows_the_rate() -> None:
    rng = np.random.default_rng(3)
    t = schedule_varying("poisson", rate_changes(100.0, [[10.0, 300.0, None, None]]), 20.0, rng)
    before, after = np.sum(t < 10), np.sum(t >= 10)
    assert 850 < before < 1150 and 2700 < after < 3300
    c = schedule_varying("constant", [(0.0, 10.0)], 0.95, rng)
    assert len(c) == 9 and c[0] == pytest.approx(0.1)  # the simulator's first arrival is one gap after 0


def test_parse_cluster_stats_keeps_dotted_cluster_names() -> None:
    data = {
        "stats": [
            {"name": "cluster.outbound|8080|v1|reviews.default.svc.cluster.local.upstream_rq_total", "value": 7},
            {"name": "cluster.outbound|8080|v1|reviews.default.svc.cluster.local.upstream_rq_retry", "value": 2},
            {
                "name": "cluster.outbound|8080||leaf.default.svc.cluster.local.outlier_detection.ejections_active",
                "value": 1,
            },
            {"name": "server.uptime", "value": 3},
        ]
    }
    out = parse_cluster_stats(data)
    assert out["outbound|8080|v1|reviews.default.svc.cluster.local"] == {
        "upstream_rq_total": 7.0,
        "upstream_rq_retry": 2.0,
    }
    assert out["outbound|8080||leaf.default.svc.cluster.local"] == {"outlier_detection.ejections_active": 1.0}


def _model() -> Any:
    from conftest import _load_model  # tests/real/conftest.py

    return _load_model("weight-shift")


def test_build_series_from_measurements() -> None:
    m = _model()
    c_v1 = next(c.name for c in m.clusters if c.service == "reviews" and c.subset == "v1")
    log = [[0.5, 200, 10.0], [0.7, 503, 20.0], [1.2, 200, 5.0]]
    apps = {
        "reviews-v1-0": {"req": {"0": [3, 3, [1.0, 2.0, 3.0]], "1": [1, 0, [4.0]]}, "calls": {}, "queue": {"0": 2}},
        "frontend-v1-0": {"req": {"0": [2, 1, [9.0, 9.0]]}, "calls": {"0": {"reviews": [8, 9]}}, "queue": {}},
    }
    samples = [
        (0.0, {"frontend-v1-0": {c_v1: {"upstream_rq_total": 0.0}}}),
        (1.0, {"frontend-v1-0": {c_v1: {"upstream_rq_total": 10.0, "upstream_rq_retry": 2.0}}}),
    ]
    s = build_series(m, 1.0, log, apps, samples)
    assert s.entry[0][:2] == [2, 1] and s.entry[1][:2] == [1, 1]
    assert s.wl[0]["reviews.v1"][:2] == [3, 3] and s.wl[1]["reviews.v1"][:2] == [1, 0]
    assert s.calls[0][("frontend.v1", "reviews")] == [8, 9]
    assert s.edges[0][("frontend.v1", "reviews")] == [8, 10]
    assert s.queue[0]["reviews.v1"] == 2.0 and s.queue[0]["reviews.v2"] == 0.0


def _scen_summary(shares: list[float], n: float = 600.0, success: float = 1.0) -> Any:
    from meshsim.metrics.results import Summary

    none = {"value": None}
    lat = {k: none for k in ("mean", "p50", "p90", "p99", "p999")}
    series = [
        {
            "t_s": float(t),
            "entry_rps": n / 4,
            "entry_success_rate": success,
            "entry_p99_ms": 10.0,
            "workloads": {
                "reviews.v1": {"rps": n * sh, "success_rate": 1.0, "p99_ms": 1.0},
                "reviews.v2": {"rps": n * (1 - sh), "success_rate": 1.0, "p99_ms": 1.0},
            },
        }
        for t, sh in enumerate(shares)
    ]
    return Summary.model_validate(
        {
            "run": {
                "meshsim_version": "t",
                "backend": "x",
                "seed": 1,
                "replications": 1,
                "ci_method": "none",
                "config_digest": "x",
                "inputs": [],
                "entry": "frontend",
                "arrival": "poisson",
                "rate_rps": 150.0,
                "users": None,
                "warmup_s": 2.0,
                "duration_s": len(shares) - 2.0,
                "sketch_relative_accuracy": 0.01,
            },
            "entry": {
                "service": "frontend",
                "requests": 1,
                "incomplete": 0,
                "throughput_rps": 1.0,
                "success_rate": {"value": 1.0},
                "latency_ms": lat,
                "latency_cdf_ms": [],
                "status_codes": {},
            },
            "edges": [],
            "calls": [],
            "services": [],
            "clusters": [],
            "mesh": {"requests": 0, "attempts": 0, "amplification": None},
            "scenario": {
                "interval_s": 1.0,
                "series": series,
                "events": [{"t_s": 6.0, "action": "apply", "description": "apply VirtualService reviews"}],
                "pushes": [],
            },
        }
    )


def test_series_rows_switch_time_and_noise() -> None:
    from meshsim.report.compare import compare, switch_time

    pred = _scen_summary([0.9] * 6 + [0.5] * 6, n=1500)
    same = _scen_summary([0.9] * 6 + [0.51] * 6, n=1500)
    late = _scen_summary([0.9] * 7 + [0.5] * 5, n=1500)
    small = _scen_summary([0.9] * 6 + [0.51] * 6, n=600)
    assert switch_time(pred, "reviews", "reviews.v1", 0.9, 0.5, t_from=2.0) == 6.0
    assert switch_time(late, "reviews", "reviews.v1", 0.9, 0.5, t_from=2.0) == 7.0
    c = compare(pred, same)
    rows = {r.key: r for r in c.rows}
    r6 = rows["t=6s split reviews reviews.v1"]
    assert r6.passed and "widened" in r6.note  # SE of a 1500-request 50/50 share is 1.3 pp per side
    ph = rows["phase [6s,12s) split reviews reviews.v1"]
    assert ph.passed and ph.error == pytest.approx(-1.0)  # predicted 50 % minus measured 51 %
    assert rows["phase [2s,6s) split reviews reviews.v1"].passed is True
    unfair = {r.key: r for r in compare(_scen_summary([0.9] * 6 + [0.5] * 6, n=600), small).rows}
    assert unfair["phase [6s,12s) split reviews reviews.v1"].passed is None  # 3600 requests: SE 1.2 pp
    c_late = compare(pred, late)
    assert any(r.passed is False and r.key.startswith("t=6s split") for r in c_late.rows)
    assert not c_late.passed_without_latency

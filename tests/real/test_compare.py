"""``meshsim compare``: the pure comparison, its tolerances and the CLI's exit codes (no Envoy needed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from meshsim.metrics.results import Summary
from meshsim.report.compare import Tolerances, compare, compare_runs, to_markdown

REPO = Path(__file__).resolve().parents[2]


def _est(v: float | None, lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    return {"value": v, "ci_low": lo, "ci_high": hi}


def _summary(
    p50: float = 10.0,
    p99: float = 40.0,
    success: float = 0.99,
    v1: int = 9000,
    v2: int = 1000,
    leaf_att: float = 1.24,
    overflow: float = 0.0,
    reps: int = 1,
    backend: str = "simulation",
) -> Summary:
    lat = {
        "mean": _est(p50),
        "p50": _est(p50, p50 * 0.98, p50 * 1.02),
        "p90": _est(p50 * 2),
        "p99": _est(p99),
        "p999": _est(p99 * 1.5),
    }
    none_lat = {k: _est(None) for k in ("mean", "p50", "p90", "p99", "p999")}

    def edge(src: str, dest: str, subset: str, req: int, att: int) -> dict[str, Any]:
        return {
            "source": src,
            "destination": dest,
            "subset": subset,
            "cluster": f"outbound|8080|{subset}|{dest}.default.svc.cluster.local",
            "requests": req,
            "attempts": att,
            "retries": att - req,
            "amplification": att / req,
            "success_rate": _est(success),
            "latency_ms": none_lat,
            "latency_cdf_ms": [],
            "response_flags": {},
            "status_codes": {},
        }

    leaf = int((v1 + v2) * leaf_att)
    edges = [
        edge("frontend.v1", "middle", "v1", v1, v1),
        edge("frontend.v1", "middle", "v2", v2, v2),
        edge("middle.v1", "leaf", "", v1 + v2, leaf),
    ]
    return Summary.model_validate(
        {
            "run": {
                "meshsim_version": "t",
                "backend": backend,
                "seed": 1,
                "replications": reps,
                "ci_method": "none",
                "config_digest": "x",
                "inputs": [],
                "entry": "frontend",
                "arrival": "poisson",
                "rate_rps": 100.0,
                "users": None,
                "warmup_s": 1.0,
                "duration_s": 10.0,
                "sketch_relative_accuracy": 0.01,
            },
            "entry": {
                "service": "frontend",
                "requests": v1 + v2,
                "incomplete": 0,
                "throughput_rps": 100.0,
                "success_rate": _est(success),
                "latency_ms": lat,
                "latency_cdf_ms": [(0.5, p50), (0.99, p99)],
                "status_codes": {"200": v1 + v2},
            },
            "edges": edges,
            "calls": [],
            "services": [],
            "clusters": [
                {
                    "proxy": "frontend-v1-0",
                    "cluster": "outbound|8080|v1|middle.default.svc.cluster.local",
                    "counters": {"upstream_rq_pending_overflow": overflow, "upstream_rq_total": float(v1)},
                }
            ],
            "mesh": {
                "requests": 2 * (v1 + v2),
                "attempts": v1 + v2 + leaf,
                "amplification": (v1 + v2 + leaf) / (2 * (v1 + v2)),
            },
        }
    )


def _row(c: Any, key: str) -> Any:
    return next(r for r in c.rows if r.key == key)


def test_identical_summaries_pass() -> None:
    s = _summary()
    c = compare(s, s)
    assert c.passed and c.passed_without_latency and not c.failures
    keys = {r.key for r in c.rows}
    assert {"entry p50 (ms)", "entry p99 (ms)", "entry success rate", "mesh amplification"} <= keys
    assert "split middle subset v1" in keys and "amplification middle.v1 -> leaf" in keys
    assert "upstream_rq_pending_overflow (mesh)" in keys


def test_tolerance_edges() -> None:
    pred = _summary()
    # the error is (predicted - measured) / measured: predicted p50 10 ms vs measured 9.2 is +8.7 % (passes),
    # vs 9.0 is +11.1 % (fails), vs 11.0 is -9.1 % (passes), vs 11.2 is -10.7 % (fails)
    r = _row(compare(pred, _summary(p50=9.2)), "entry p50 (ms)")
    assert r.passed and abs(r.error - (10 - 9.2) / 9.2) < 1e-12
    assert _row(compare(pred, _summary(p50=9.0)), "entry p50 (ms)").passed is False
    assert _row(compare(pred, _summary(p50=11.0)), "entry p50 (ms)").passed
    assert _row(compare(pred, _summary(p50=11.2)), "entry p50 (ms)").passed is False
    # p99 40 predicted: measured 48.4 is -17.4 % (passes), 51 is -21.6 % (fails)
    assert _row(compare(pred, _summary(p99=48.4)), "entry p99 (ms)").passed
    assert _row(compare(pred, _summary(p99=51.0)), "entry p99 (ms)").passed is False
    # success in percentage points, predicted minus measured
    r = _row(compare(pred, _summary(success=0.986)), "entry success rate")
    assert r.error_unit == "pp" and abs(r.error - 0.4) < 1e-9 and r.passed
    assert _row(compare(pred, _summary(success=0.984)), "entry success rate").passed is False
    # split: 9000/1000 vs 8800/1200 is 2 pp off; binomial SE 0.42 pp widens the tolerance to 3 SE = 1.27 pp
    c = compare(pred, _summary(v1=8800, v2=1200))
    assert _row(c, "split middle subset v2").passed is False and not c.passed
    assert _row(c, "split middle subset v2").tolerance == "±1.27 pp"
    # amplification 1.24 vs 1.30 is +4.8 %
    c = compare(pred, _summary(leaf_att=1.30))
    assert _row(c, "amplification middle.v1 -> leaf").passed is False
    assert not c.passed_without_latency


def test_latency_failure_does_not_fail_rate_independent_rows() -> None:
    c = compare(_summary(), _summary(p50=20, p99=90))
    assert not c.passed and c.passed_without_latency


def test_counters_are_per_run_and_have_slack() -> None:
    pred = _summary(overflow=400.0, reps=4)  # 100 per run
    # within 25 % of the measured count: 100 predicted passes against 120 and 82, fails against 140 and 78
    assert _row(compare(pred, _summary(overflow=120.0)), "upstream_rq_pending_overflow (mesh)").passed
    assert _row(compare(pred, _summary(overflow=82.0)), "upstream_rq_pending_overflow (mesh)").passed
    assert _row(compare(pred, _summary(overflow=140.0)), "upstream_rq_pending_overflow (mesh)").passed is False
    assert _row(compare(pred, _summary(overflow=78.0)), "upstream_rq_pending_overflow (mesh)").passed is False
    zero = _summary()
    assert _row(compare(zero, _summary(overflow=3.0)), "upstream_rq_pending_overflow (mesh)").passed
    assert _row(compare(zero, _summary(overflow=4.0)), "upstream_rq_pending_overflow (mesh)").passed is False


def test_small_edges_do_not_gate_and_median_over_runs() -> None:
    pred = _summary()
    c = compare(pred, _summary(v1=90, v2=10, leaf_att=1.5), Tolerances())
    assert _row(c, "amplification middle.v1 -> leaf").passed is None
    runs = [_summary(p50=10.5), _summary(p50=30.0), _summary(p50=9.8)]
    c = compare_runs(pred, runs)
    r = _row(c, "entry p50 (ms)")
    assert r.measured == 10.5 and r.measured_runs == [10.5, 30.0, 9.8] and r.passed
    md = to_markdown(c, "t")
    assert "| entry p50 (ms) |" in md and "median of 3 run(s)" in md


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshsim.cli.compare", *args],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _err_lines(stderr: str) -> list[str]:
    """stderr without runpy's warning about ``-m meshsim.cli.compare`` (the package imports it to mount it)."""
    return [ln for ln in stderr.strip().splitlines() if "RuntimeWarning" not in ln and ln.strip()]


def test_cli_exit_codes_and_outputs(tmp_path: Path) -> None:
    pred, good, bad = tmp_path / "pred", tmp_path / "good", tmp_path / "bad"
    for d, s in ((pred, _summary()), (good, _summary(p50=10.2)), (bad, _summary(success=0.9))):
        d.mkdir()
        (d / "summary.json").write_text(s.model_dump_json())
    r = _cli(str(pred), str(good), "-q")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in good.iterdir()} >= {"compare.json", "compare.md", "compare.png"}
    assert json.loads((good / "compare.json").read_text())["passed"] is True
    r = _cli(str(pred), str(bad), "-q", "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and (tmp_path / "o" / "compare.md").exists()
    r = _cli(str(pred), str(tmp_path / "missing"))
    assert r.returncode == 2 and len(_err_lines(r.stderr)) == 1 and "missing" in r.stderr
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "summary.json").write_text('{"run": 1}')
    r = _cli(str(pred), str(tmp_path / "junk"))
    assert r.returncode == 2 and len(_err_lines(r.stderr)) == 1 and "summary.json" in r.stderr


def test_split_tolerance_scales_with_the_binomial_standard_error() -> None:
    """A 20 % share over 1,000 requests a run has a binomial SE near 1.3 pp: a correct prediction 1.57 pp off
    passes (the tolerance widens to 3 SE); against one run of 1,000 (SE 1.8 pp, tolerance 5.4 pp) an 8 pp miss fails;
    over 100,000 requests the 1 pp tolerance stands."""
    pred = _summary(v1=800, v2=200)
    runs = [_summary(v1=784, v2=216), _summary(v1=790, v2=210), _summary(v1=780, v2=220)]
    r = _row(compare_runs(pred, runs), "split middle subset v2")
    assert abs(r.error - (20.0 - 21.6)) < 1e-9
    se = 100 * math.sqrt(0.2 * 0.8 * (1 / 1000 + math.pi / 6 / 1000))
    assert r.tolerance == f"±{3 * se:.2f} pp" and r.passed
    assert _row(compare(pred, _summary(v1=720, v2=280)), "split middle subset v2").passed is False
    big = _row(compare(_summary(v1=80_000, v2=20_000), _summary(v1=79_000, v2=21_000)), "split middle subset v2")
    assert big.tolerance == "±1 pp" and big.passed


def test_amplification_tolerance_scales_with_its_standard_error() -> None:
    """600 requests at 1.24 attempts each: the geometric variance (0.24 x 1.24 per request) gives a relative SE
    of 2.5 % for the difference of two such samples, so a correct prediction 3.3 % off passes (the 3 % widens to
    3 SE = 7.6 %) while a 17 % miss (two retries taken for one, say) fails; over 10,000 requests 3 % stands."""
    pred = _summary(v1=540, v2=60, leaf_att=1.24)
    r = _row(compare(pred, _summary(v1=540, v2=60, leaf_att=1.20)), "amplification middle.v1 -> leaf")
    se = math.sqrt(0.24 * 1.24 * (1 / 600 + 1 / 600)) / 1.24
    assert abs(r.error - (1.24 - 1.20) / 1.20) < 1e-9
    assert r.tolerance == f"±{3 * se * 100:.1f} %" and r.passed and "widened" in r.note
    miss = _row(compare(pred, _summary(v1=540, v2=60, leaf_att=1.50)), "amplification middle.v1 -> leaf")
    assert miss.passed is False
    big = _row(compare(_summary(), _summary()), "amplification middle.v1 -> leaf")
    assert big.tolerance == "±3 %" and big.passed
    none = _row(compare(_summary(leaf_att=1.0), _summary(leaf_att=1.0)), "amplification middle.v1 -> leaf")
    assert none.tolerance == "±3 %"  # no retries, no noise term


def _with_pods(s: Summary, counts: dict[str, int]) -> Summary:
    """``s`` plus leaf pods (versions fast/slow-2) whose inbound clusters saw ``counts`` requests."""
    services = [
        {
            "name": "leaf",
            "version": v,
            "replicas": 1,
            "concurrency": 4,
            "arrival_rate_rps": 1.0,
            "utilization": None,
            "mean_busy_workers": 0.0,
            "mean_queue_length": 0.0,
            "mean_in_system": 0.0,
            "mean_wait_ms": None,
            "p_wait": None,
            "mean_residence_ms": None,
            "error_rate": None,
        }
        for v in ("fast", "slow-2")
    ]
    clusters = [*s.model_dump()["clusters"]]
    clusters += [
        {"proxy": pod, "cluster": "inbound|8080||", "counters": {"upstream_rq_total": float(n)}}
        for pod, n in counts.items()
    ]
    return Summary.model_validate({**s.model_dump(), "services": services, "clusters": clusters})


def test_requests_per_pod_rows_come_from_inbound_clusters() -> None:
    """Each pod's share of its service's requests (inbound ``upstream_rq_total``), matched to the service by the
    endpoint id even when a version name holds a dash, gated like a split."""
    pred = _with_pods(_summary(), {"leaf-fast-0": 3700, "leaf-fast-1": 3700, "leaf-slow-2-0": 2600})
    good = _with_pods(_summary(), {"leaf-fast-0": 3690, "leaf-fast-1": 3720, "leaf-slow-2-0": 2590})
    rows = {r.key: r for r in compare(pred, good).rows if r.key.startswith("requests leaf pod")}
    assert set(rows) == {
        "requests leaf pod leaf-fast-0",
        "requests leaf pod leaf-fast-1",
        "requests leaf pod leaf-slow-2-0",
    }
    assert rows["requests leaf pod leaf-slow-2-0"].predicted == 0.26 and all(r.passed for r in rows.values())
    # a balancer that ignores the slow pod's load (1/3 each) fails: 26 % predicted vs 33.3 % measured
    even = _with_pods(_summary(), {"leaf-fast-0": 3333, "leaf-fast-1": 3333, "leaf-slow-2-0": 3334})
    r = _row(compare(pred, even), "requests leaf pod leaf-slow-2-0")
    assert r.passed is False and abs(r.error - (26.0 - 33.34)) < 1e-9

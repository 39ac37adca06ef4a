"""``check``: the Bookinfo retry-amplification regression exits 1; baseline vs itself exits 0."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.planning.check import _cmp

from .helpers import BOOKINFO, SLO_DIR, TOPOLOGIES

CANDIDATE = TOPOLOGIES / "bookinfo-candidates" / "retries-5xx"
SLO = SLO_DIR / "bookinfo.yaml"


def test_paired_comparison_rules() -> None:
    # significant and beyond a 10% relative tolerance -> regression; significant but small -> not
    assert _cmp("p99", 10.0, 12.0, [10, 10.2, 9.8], [12, 12.1, 11.9], 0.10, True, True).regression
    small = _cmp("p99", 10.0, 10.5, [10, 10.2, 9.8], [10.5, 10.7, 10.3], 0.10, True, True)
    assert small.significant and not small.regression
    # improvements are never regressions; success rate: lower is worse
    assert not _cmp("p99", 10.0, 8.0, [10, 10.2, 9.8], [8, 8.1, 7.9], 0.10, True, True).regression
    assert _cmp("sr", 1.0, 0.98, [1, 1, 1], [0.98, 0.979, 0.981], 0.001, False, False).regression
    # noise (CI covers 0) is not significant
    assert not _cmp("p99", 10.0, 10.1, [10, 11, 9], [11, 9, 10.3], 0.0, True, True).significant


@pytest.mark.conformance
def test_check_flags_retry_amplification_and_exits_1(tmp_path) -> None:
    out = tmp_path / "chk"
    args = [
        "check",
        "-b",
        str(BOOKINFO),
        "-c",
        str(BOOKINFO),
        "-c",
        str(CANDIDATE),
        "--candidate-set",
        "MockServiceGraph.services[name=ratings].errorRate=3%",
        "--slo",
        str(SLO),
        "--rps",
        "500",
        "--duration",
        "8s",
        "--warmup",
        "2s",
        "-r",
        "4",
        "--workers",
        "2",
        "--out",
        str(out),
        "-q",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    doc = json.loads((out / "check.json").read_text())
    regs = [c for c in doc["comparisons"] if c["regression"]]
    assert any(c["metric"] == "amplification reviews.v2->ratings" for c in regs)
    amp = next(c for c in regs if c["metric"] == "amplification reviews.v2->ratings")
    # closed form: 5 retries on 5xx at a 3% error rate: sum_{k<=5} 0.03^k = 1.0309 attempts per request
    assert amp["ci_low"] <= sum(0.03**k for k in range(6)) - 1 <= amp["ci_high"]
    assert all(c["metric"].startswith(("amplification", "SLO")) for c in regs)  # latency is within tolerance
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) == len(regs)
    md = (out / "summary.md").read_text()
    assert "❌ fail" in md and "amplification reviews.v2->ratings" in md
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["baseline_digest"] != prov["candidate_digest"]


def test_check_baseline_against_itself_exits_0(tmp_path) -> None:
    out = tmp_path / "same"
    args = [
        "check",
        "-b",
        str(BOOKINFO),
        "-c",
        str(BOOKINFO),
        "--slo",
        str(SLO),
        "--duration",
        "4s",
        "--warmup",
        "1s",
        "-r",
        "2",
        "--workers",
        "2",
        "--out",
        str(out),
        "-q",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "check.json").read_text())
    assert doc["passed"] and all(c["diff"] in (0, None) for c in doc["comparisons"])
    assert "✅ pass" in (out / "summary.md").read_text()


def test_check_bad_candidate_is_one_line_exit_2(tmp_path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "check",
            "-b",
            str(BOOKINFO),
            "-c",
            str(BOOKINFO),
            "--slo",
            str(SLO),
            "--candidate-set",
            "MockServiceGraph.services[name=ratings].errorRate=300%",
            "-r",
            "2",
            "--duration",
            "1s",
            "-q",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert res.exit_code == 2
    assert "errorRate" in res.output and "Traceback" not in res.output


def test_error_free_success_rates_get_a_newcombe_interval_not_zero_width() -> None:
    """Both runs error-free in every replication: the paired spread is 0 (what printed +0 [+0, +0]);
    with the request counts the difference gets Newcombe's hybrid score interval around 0."""
    c = _cmp("sr", 1.0, 1.0, [1, 1, 1, 1], [1, 1, 1, 1], 0.001, False, False, counts=(4000, 4000))
    assert c.ci_low is not None and c.ci_high is not None
    assert c.ci_low < 0 < c.ci_high and c.ci_high - c.ci_low > 1e-4
    assert not c.significant and not c.regression
    # a real drop stays significant: 0.98 of 4000 against 1.0 of 4000
    drop = _cmp("sr", 1.0, 0.98, [1, 1, 1, 1], [0.98, 0.979, 0.981, 0.98], 0.001, False, False, counts=(4000, 4000))
    assert drop.ci_high is not None and drop.ci_high < 0 and drop.regression

"""Retry amplification against closed forms (prior-art §6.7 item 1): per layer, with independent
failures of probability p and N retries, tries per request = (1 - p^(N+1)) / (1 - p); layers
multiply. Also the static worst case ``meshsim validate`` reports and the per-edge/depth report."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats

from meshsim.pipeline import load_and_compile, simulate
from meshsim.storm.amplification import amplification_report, expected_tries, worst_case_findings, worst_paths

FIX = Path(__file__).resolve().parent / "fixtures"
ALPHA = 1e-3
P = 0.7


def _layer(child: tuple[float, float, float, float, float], tries: int) -> tuple[float, float, float, float, float]:
    """Moments of a retrying layer from those of one try of the layer below.

    A try is ``(q, m_f, s_f, m_s, s_s)``: failure probability and the first and second moments of
    the leaf attempts it causes given failure / success. The layer makes up to ``tries`` tries and
    stops at the first success; returns the same five numbers for one request of the layer."""
    q, mf, sf, ms, ss = child
    fail_m, fail_s = tries * mf, tries * sf + tries * (tries - 1) * mf * mf
    ok_p = ok_m = ok_s = 0.0
    for j in range(1, tries + 1):
        w = q ** (j - 1) * (1 - q)
        k = j - 1
        ok_p += w
        ok_m += w * (k * mf + ms)
        ok_s += w * (k * sf + k * (k - 1) * mf * mf + 2 * k * mf * ms + ss)
    return q**tries, fail_m, fail_s, ok_m / ok_p, ok_s / ok_p


def _z(total: float, n: int, mean: float, var: float, what: str) -> None:
    z = (total / n - mean) / math.sqrt(var / n)
    assert abs(z) < stats.norm.ppf(1 - ALPHA / 2), f"{what}: {total / n:.5f}, expected {mean:.5f} (z = {z:.2f})"


def _tries_var(p: float, n_retries: int) -> float:
    k = n_retries + 1
    probs = [p ** (j - 1) * (1 - p) for j in range(1, k)] + [p ** (k - 1)]
    m1 = sum(j * w for j, w in zip(range(1, k + 1), probs, strict=True))
    m2 = sum(j * j * w for j, w in zip(range(1, k + 1), probs, strict=True))
    return m2 - m1 * m1


@pytest.fixture(scope="module")
def chain():
    model, _ = load_and_compile([str(FIX / "chain-errors.yaml")])
    return model, simulate(model, seed=3, replications=1, workers=1)


def test_amplification_per_layer_matches_closed_form(chain) -> None:
    """Leaf tries fail w.p. p = 0.7: mid's sidecar (2 retries) sends (1-p^3)/(1-p) = 2.19 attempts
    per request and fails w.p. q = p^3; front's sidecar (1 retry) sends (1-q^2)/(1-q) and fails w.p.
    q^2; front's app (1 retry) makes (1-q^4)/(1-q^2) tries per call. Each is a z-test at 1e-3."""
    model, s = chain
    side = {(e.source, e.destination): e for e in s.edges}
    calls = {(c.source, c.destination): c for c in s.calls}
    leaf, mid = side[("mid.v1", "leaf")], side[("front.v1", "mid")]
    app = calls[("front.v1", "mid")]
    q = P**3
    q2 = q**2
    assert leaf.requests > 10_000
    _z(leaf.attempts, leaf.requests, expected_tries(P, 2), _tries_var(P, 2), "mid->leaf sidecar attempts/request")
    _z(mid.attempts, mid.requests, expected_tries(q, 1), _tries_var(q, 1), "front->mid sidecar attempts/request")
    _z(app.tries, app.calls, expected_tries(q2, 1), _tries_var(q2, 1), "front->mid app tries/call")
    # app-level and sidecar-level retries are reported apart
    rep = amplification_report(model, s)
    by = {(e.source, e.destination): e for e in rep.edges}
    assert by[("front.v1", "mid")].app == pytest.approx(app.tries / app.calls, abs=1e-6)
    assert by[("front.v1", "mid")].sidecar == pytest.approx(mid.attempts / mid.requests, abs=1e-6)
    assert by[("front.v1", "mid")].depth == 0 and by[("mid.v1", "leaf")].depth == 1
    print(
        f"per layer: leaf {leaf.attempts / leaf.requests:.4f} vs {expected_tries(P, 2):.4f}; "
        f"front sidecar {mid.attempts / mid.requests:.4f} vs {expected_tries(q, 1):.4f}; "
        f"app {app.tries / app.calls:.4f} vs {expected_tries(q2, 1):.4f}"
    )


def test_amplification_multiplies_across_layers(chain) -> None:
    """Leaf attempts per entry request = product of the three layers' expected tries (3.29 here); its
    variance follows from composing the layers (each try's attempts given failure/success), so the
    check is a z-test at 1e-3 on the entry requests."""
    _model, s = chain
    leaf = next(e for e in s.edges if e.source == "mid.v1" and e.destination == "leaf")
    n = s.entry.requests
    one = (P, 1.0, 1.0, 1.0, 1.0)
    mid_req = _layer(one, 3)
    front_req = _layer(mid_req, 2)
    call = _layer(front_req, 2)
    q, mf, sf, ms, ss = call
    mean = q * mf + (1 - q) * ms
    var = q * sf + (1 - q) * ss - mean * mean
    product = expected_tries(P, 2) * expected_tries(P**3, 1) * expected_tries(P**6, 1)
    assert mean == pytest.approx(product, rel=1e-12)
    _z(leaf.attempts, n, mean, var, "leaf attempts per entry request")
    print(
        f"leaf attempts per entry request {leaf.attempts / n:.4f}, product of layers {product:.4f} (sd of mean {math.sqrt(var / n):.4f})"
    )


def test_static_worst_case_multiplier() -> None:
    """Worst case: app 2 x sidecar 2 on front->mid, sidecar 3 on mid->leaf = 12 attempts at leaf per
    entry request, a warning naming both layers; a single layer of 3 tries stays below the threshold."""
    model, _ = load_and_compile([str(FIX / "chain-errors.yaml")])
    paths = worst_paths(model)
    assert [p[2] for p in paths] == [12]
    found = worst_case_findings(model)
    assert len(found) == 1 and found[0].level == "warning"
    assert "12 attempts at leaf" in found[0].message and "app 2 x sidecar 2" in found[0].message
    one_layer, _ = load_and_compile(
        [str(FIX / "chain-errors.yaml")],
        [
            "VirtualService/mid.spec.http[0].retries={attempts: 0}",  # Istio rejects retryOn with attempts 0
            "MockServiceGraph.services[name=front].script[0].call.retries.attempts=0",
        ],
    )
    assert worst_paths(one_layer)[0][2] == 3
    assert [f.level for f in worst_case_findings(one_layer)] == ["info"]

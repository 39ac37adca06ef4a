"""mTLS (PeerAuthentication, DR tls.mode), AuthorizationPolicy and proxy CPU."""

from __future__ import annotations

import math

from typer.testing import CliRunner

from meshsim.cli.main import app
from tests.mesh.helpers import BOOKINFO, SHORT, fx, run

HANDSHAKE_MS = 1.0  # mtls-costs.yaml
CONNECT_MS = 0.1
"""MeshSettings defaults: mtls.handshakeLatency and connectLatency."""


def test_strict_mtls_handshake_shows_in_p50_without_keepalive_and_not_with_it() -> None:
    keep = run(fx("chain.yaml", "mtls-costs.yaml", "strict.yaml"))
    nokeep = run(fx("chain.yaml", "mtls-costs.yaml", "strict.yaml", "no-keepalive.yaml"))
    plain_nokeep = run(fx("chain.yaml", "mtls-costs.yaml", "disable.yaml", "no-keepalive.yaml"))
    base = run(fx("chain.yaml", "mtls-costs.yaml", "disable.yaml"))
    p50 = {
        k: s.entry.latency_ms.p50.value
        for k, s in {"keep": keep, "nokeep": nokeep, "plain_nokeep": plain_nokeep, "base": base}.items()
    }
    assert all(v is not None for v in p50.values())
    # every front->back request opens a connection: TCP connect + mTLS handshake (+ a little worker wait for its crypto)
    assert math.isclose(p50["nokeep"] - p50["keep"], HANDSHAKE_MS + CONNECT_MS, abs_tol=0.25), p50  # type: ignore[operator]
    # plaintext without keep-alive pays the TCP connect only
    assert math.isclose(p50["plain_nokeep"] - p50["base"], CONNECT_MS, abs_tol=0.06), p50  # type: ignore[operator]
    # with keep-alive the handshake happens once per connection: p50 is the plaintext one (1% sketch accuracy)
    assert math.isclose(p50["keep"], p50["base"], rel_tol=0.02), p50  # type: ignore[arg-type]
    hs = {p.proxy: p.handshakes for p in nokeep.proxies}
    assert hs["front-v1-0"] == hs["back-v1-0"] == nokeep.entry.requests
    assert {p.proxy: p.handshakes for p in plain_nokeep.proxies} == {"back-v1-0": 0, "front-v1-0": 0}


def test_plaintext_to_strict_is_refused_with_uc() -> None:
    s = run(fx("chain.yaml", "strict.yaml", "plaintext-to-strict.yaml"))
    e = s.edges[0]
    assert e.status_codes == {"503": e.requests} and e.response_flags == {"UC": e.requests}
    assert s.entry.status_codes == {"500": s.entry.requests}


def test_deny_reviews_to_ratings_gives_403_on_that_edge_only() -> None:
    s = run([*BOOKINFO, str(fx("deny-reviews-to-ratings.yaml")[0])], SHORT)
    denied = {(e.source, e.destination): e for e in s.edges if "403" in e.status_codes}
    assert set(denied) == {("reviews.v2", "ratings"), ("reviews.v3", "ratings")}
    for e in denied.values():
        assert e.status_codes == {"403": e.requests} and e.requests > 0
        assert e.denied_by == {"default/deny-reviews": e.requests}
    for e in s.edges:
        if (e.source, e.destination) not in denied:
            assert e.denied_by == {}


def test_allow_policy_admits_only_matching_principals() -> None:
    s = run([*BOOKINFO, str(fx("allow-productpage-only.yaml")[0])], SHORT)
    e = next(e for e in s.edges if e.destination == "details")
    assert e.status_codes == {"200": e.requests}
    # productpage's own identity does not match once it is not an mTLS peer (DR tls DISABLE): denied
    s = run(
        [*BOOKINFO, str(fx("allow-productpage-only.yaml")[0])],
        [*SHORT, "DestinationRule/details.spec.trafficPolicy.tls.mode=DISABLE"],
    )
    e = next(e for e in s.edges if e.destination == "details")
    assert e.status_codes == {"403": e.requests}
    assert list(e.denied_by) == ["allow-policies:default/details-viewer"]


def test_validate_names_the_denied_edges() -> None:
    result = CliRunner().invoke(app, ["validate", *BOOKINFO, fx("deny-reviews-to-ratings.yaml")[0]])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "denies" in ln]
    assert len(lines) == 2, result.output
    assert all("(AuthorizationPolicy deny-reviews.default)" in ln and "-> ratings.v1" in ln for ln in lines)
    assert {ln.split("denies ")[1].split(" ->")[0] for ln in lines} == {"reviews.v2", "reviews.v3"}


def test_sidecar_worker_queue_is_md1() -> None:
    """One worker, 1 ms CPU per request, Poisson 800/s: the sidecar is M/D/1 (P(wait) = rho,
    mean wait over all requests = rho / (2 mu (1 - rho)) = 2 ms)."""
    s = run(fx("saturate.yaml"))
    (p,) = s.proxies
    rho = p.utilization
    assert rho is not None and math.isclose(rho, 0.8, abs_tol=0.02)
    assert p.p_wait is not None and math.isclose(p.p_wait, rho, abs_tol=0.02)
    wq = rho / (2 * 1000 * (1 - rho)) * 1e3
    assert p.mean_wait_ms is not None
    assert math.isclose(p.p_wait * p.mean_wait_ms, wq, rel_tol=0.15), (p, wq)

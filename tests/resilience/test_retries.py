"""Retries: closed forms for 5xx retries, the max_retries breaker, Istio's default policy and
connect failures (reference §1.1, §1.2, §1.3, §1.6, §11)."""

from __future__ import annotations

from meshsim.pipeline import load_and_compile
from meshsim.sim.simulation import Simulation
from meshsim.metrics.summarize import summarize

from .helpers import assert_binomial, assert_mean, counters, edge, fx, run

P = 0.2
SERVER = "outbound|8080||server."


def test_5xx_retry_closed_form_istio_max_retries() -> None:
    """Reference §1.1/§1.2/§1.3/§1.6: ``retries: {attempts: 2, retryOn: 5xx}`` gives 1+2 tries; each
    try fails independently with p = 0.2 and Istio lifts ``max_retries`` to 2^32-1, so the end-to-end
    failure is p^3 = 0.008 and the amplification (attempts/requests) is 1+p+p^2 = 1.24. Every final
    failure is a 503 flagged URX (retry limit exceeded); counters: upstream_rq_retry = attempts -
    requests, upstream_rq_retry_limit_exceeded = URX responses."""
    s = run(fx("front-server.yaml", "vs-retry-5xx.yaml", "mesh-zero.yaml", "load-open.yaml"))
    e = edge(s, "front.v1", "server")
    n = e.requests
    assert n >= 50_000
    failed = n - round(e.success_rate.value * n)
    fail = failed / n
    assert abs(fail - P**3) <= 0.002
    assert_binomial(failed, n, P**3, "end-to-end failure")
    amp = e.attempts / n
    assert abs(amp - (1 + P + P * P)) <= 0.01
    # attempts per request: 1 w.p. 1-p, 2 w.p. p(1-p), 3 w.p. p^2
    m1 = 1 + P + P * P
    m2 = (1 - P) + 4 * P * (1 - P) + 9 * P * P
    assert_mean(e.attempts, n, m1, m2 - m1 * m1, "amplification")
    assert e.status_codes.get("503", 0) == failed
    assert e.response_flags == {"URX": failed}
    c = counters(s, "front-v1-0", SERVER)
    assert c["upstream_rq_retry"] == e.retries == e.attempts - n
    assert c["upstream_rq_retry_limit_exceeded"] == failed
    assert c["upstream_rq_retry_overflow"] == 0
    # a retry succeeds when the retried attempt answers 2xx: p(1-p) + p^2(1-p) of requests
    assert_binomial(int(c["upstream_rq_retry_success"]), n, P * (1 - P) + P * P * (1 - P), "retry success")


def test_5xx_retry_envoy_raw_max_retries_overflows() -> None:
    """Reference §1.6: with Envoy's raw ``max_retries = 3`` (concurrent retries per cluster per
    Envoy; a retry is held from the start of its backoff until the next retry decision), 800 req/s
    of 20% 503s keep about 160 first retries/s in flight for ~12.5 ms backoff + 2 ms service each
    (Little: ~2.3 active, plus second retries), so the breaker overflows often; an overflowing retry
    returns the original 503 with flag UO and counts ``upstream_rq_retry_overflow``. Failure must be
    far above p^3 = 0.008 and amplification below 1.24. (Real Envoy on this machine: ~0.08 failure,
    amplification 1.149.)"""
    s = run(
        fx("front-server.yaml", "vs-retry-5xx.yaml", "mesh-envoy.yaml", "load-open.yaml"),
        ["LoadProfile.spec.rate=800", "LoadProfile.spec.duration=30s"],
    )
    e = edge(s, "front.v1", "server")
    n = e.requests
    failed = n - round(e.success_rate.value * n)
    c = counters(s, "front-v1-0", SERVER)
    print(
        f"envoy max_retries=3: failure {failed / n:.4f}, amplification {e.attempts / n:.4f}, overflow {c['upstream_rq_retry_overflow']}"
    )
    assert c["upstream_rq_retry_overflow"] > 0
    assert e.response_flags.get("UO", 0) == c["upstream_rq_retry_overflow"]
    # failure well above the unlimited closed form: lower binomial bound > 2 x 0.008
    assert failed / n > 2 * P**3
    assert e.attempts / n < 1 + P + P * P - 0.02
    # every failure is either retry-limit (URX) or retry-overflow (UO); overflow keeps the first 503
    assert e.response_flags.get("URX", 0) + e.response_flags.get("UO", 0) == failed


def test_istio_default_policy_does_not_retry_503() -> None:
    """Reference §1.1 [1.24+] and §11: with no ``retries`` block Istio's default policy retries on
    connect-failure, refused-stream, unavailable, cancelled and retriable-status-codes with an
    *empty* code list, so upstream 503s are passed through unretried: failure = p, attempts ==
    requests, no retry counters, and no response flag (the 503 is the upstream's own)."""
    s = run(fx("front-server.yaml", "mesh-zero.yaml", "load-open.yaml"), ["LoadProfile.spec.duration=10s"])
    e = edge(s, "front.v1", "server")
    n = e.requests
    failed = n - round(e.success_rate.value * n)
    assert_binomial(failed, n, P, "503 pass-through")
    assert e.attempts == n and e.retries == 0
    assert e.response_flags == {}
    assert e.status_codes.get("503") == failed
    c = counters(s, "front-v1-0", SERVER)
    assert c["upstream_rq_retry"] == 0 and c["upstream_rq_retry_limit_exceeded"] == 0


def test_istio_default_policy_retries_503_when_not_excluded() -> None:
    """Reference §1.1 [≤1.23]: ``EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY=false`` restores
    ``retriable_status_codes=[503]`` with ``num_retries=2``, so 503s are retried twice: failure p^3,
    amplification 1+p+p^2, final failures flagged URX."""
    s = run(fx("front-server.yaml", "mesh-503-retry.yaml", "load-open.yaml"), ["LoadProfile.spec.duration=30s"])
    e = edge(s, "front.v1", "server")
    n = e.requests
    failed = n - round(e.success_rate.value * n)
    assert_binomial(failed, n, P**3, "end-to-end failure")
    m1 = 1 + P + P * P
    m2 = (1 - P) + 4 * P * (1 - P) + 9 * P * P
    assert_mean(e.attempts, n, m1, m2 - m1 * m1, "amplification")
    assert e.response_flags == {"URX": failed}


def _dead_replica_run(extra: list[str]) -> tuple:
    model, _ = load_and_compile(
        fx("front-server-ok.yaml", "mesh-zero.yaml", "load-open.yaml", *extra), ["LoadProfile.spec.duration=10s"]
    )
    sim = Simulation(model, seed=3)
    sim.replicas["server-v1-1"].alive = False  # still listed in EDS (known), refuses connections
    s = summarize(model, [sim.run()])
    return s, edge(s, "front.v1", "server"), counters(s, "front-v1-0", SERVER)


def test_istio_default_policy_retries_connect_failure() -> None:
    """Reference §1.2 and §1.5: a replica that sidecars still list in EDS but that refuses
    connections yields connect failures; the default policy retries ``connect-failure`` (2 retries,
    previous_hosts with 5 re-picks), so every request succeeds on a live replica: each connect
    failure costs one extra attempt and one ``upstream_rq_retry``, except the last failure of a request whose
    three attempts all hit the dead replica (503 ``URX,UF``). That needs all 1+5 picks of the previous_hosts
    predicate to land on it twice, which P2C makes likelier than chance: the dead replica never has an active
    request, so it wins every comparison (a pick hits it with probability 1 - (2/3)^2 = 5/9 > 1/3)."""
    s, e, c = _dead_replica_run([])
    n = e.requests
    cf = c["upstream_cx_connect_fail"]
    failed = e.response_flags.get("URX,UF", 0)
    assert set(e.response_flags) <= {"URX,UF"}
    assert e.status_codes.get("503", 0) == failed
    assert cf > 0.05 * n
    assert e.attempts - n == cf - failed == c["upstream_rq_retry"] == e.retries
    # P(a retried request fails) <= (5/9)^12 = 8.6e-4 per connect failure of a first attempt
    assert failed <= 3 * (5 / 9) ** 12 * cf + 3
    assert abs(e.success_rate.value - (1 - failed / n)) < 1e-5
    # one retry success per retried request that succeeded; a request whose first retry also hit the dead replica
    # (all 6 picks there: (5/9)^6 = 2.9 %) has two connect failures and one success
    assert (1 - 2 * (5 / 9) ** 6) * (cf - failed) <= c["upstream_rq_retry_success"] <= cf - failed


def test_connect_failure_without_retry_policy_is_503_uf() -> None:
    """Reference §1.1 (``attempts: 0`` removes the retry policy) and §1.3: an unretried connect
    failure becomes a local 503 with flag UF, one attempt per request."""
    s, e, c = _dead_replica_run(["vs-no-retry.yaml"])
    n = e.requests
    assert e.attempts == n and e.retries == 0
    uf = e.response_flags.get("UF", 0)
    assert uf == c["upstream_cx_connect_fail"] > 0
    assert e.status_codes.get("503") == uf
    assert n - round(e.success_rate.value * n) == uf

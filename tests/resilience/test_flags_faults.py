"""Response flags and fault injection (reference §1.3, §2, §3.2, §5.5, §6, §7)."""

from __future__ import annotations

from .helpers import counters, edge, fx, run


def _flags_run():
    return run(fx("flags.yaml", "mesh-zero.yaml"))


def test_flags_uh_nr_fi_di_ut() -> None:
    """One route per flag (fixtures/flags.yaml), all from front's sidecar:

    - UH (§5.5, §1.3): a subset selecting no pods has no healthy host: local 503 UH, no attempt;
    - NR (§6): a request matching no route of the host's VirtualService: 404 NR, no attempt;
    - FI (§7): abort 100% with 503: local reply before the router, so never retried although the
      route retries 5xx, no upstream attempt and no cluster traffic;
    - DI (§7): a 1 s injected delay under a 200 ms route timeout: the route timeout starts after the
      delay, so the request succeeds (200 DI) after >= 1 s and no route timeout fires;
    - UT (§2): a 300 ms service under a 100 ms route timeout: 504 UT at 100 ms, counted once as
      ``upstream_rq_timeout``, the attempt's connection reset.
    """
    s = _flags_run()
    n = s.entry.requests
    assert n > 50
    uh = edge(s, "front.v1", "nohealthy", "v9")
    assert (uh.response_flags, uh.status_codes, uh.attempts) == ({"UH": n}, {"503": n}, 0)
    nr = edge(s, "front.v1", "nomatch")
    assert (nr.response_flags, nr.status_codes, nr.attempts) == ({"NR": n}, {"404": n}, 0)
    fi = edge(s, "front.v1", "faulty")
    assert (fi.response_flags, fi.status_codes, fi.attempts, fi.retries) == ({"FI": n}, {"503": n}, 0, 0)
    assert not [c for c in s.clusters if "faulty" in c.cluster and c.counters.get("upstream_rq_total")]
    di = edge(s, "front.v1", "delayed")
    assert (di.response_flags, di.status_codes, di.attempts) == ({"DI": n}, {"200": n}, n)
    assert di.latency_ms.mean.value >= 1000.0
    cd = counters(s, "front-v1-0", "outbound|8080||delayed.")
    assert cd["upstream_rq_timeout"] == 0, "route timeout fired after the response completed"
    ut = edge(s, "front.v1", "slowroute")
    assert (ut.response_flags, ut.status_codes, ut.attempts) == ({"UT": n}, {"504": n}, n)
    assert 99.0 <= ut.latency_ms.mean.value <= 101.0
    cu = counters(s, "front-v1-0", "outbound|8080||slowroute.")
    assert cu["upstream_rq_timeout"] == n
    assert s.entry.status_codes == {"200": n}  # front ignores its calls' failures (onError: ignore)


def test_route_timeout_racing_pool_attach_keeps_breaker_accounting() -> None:
    """Reference §2/§3.2: a pending request ends by being attached or by the route timeout. When both
    happen in the same instant (constant 100 ms service, 100 ms route timeout, one connection), the
    attached stream must be reset and the pending count decremented once: at the end nothing is
    pending, active or connected, and clients keep getting connections (a leaked stream would hold
    the only connection forever and every later request would time out pending)."""
    from meshsim.metrics.summarize import summarize
    from meshsim.pipeline import load_and_compile
    from meshsim.sim.simulation import Simulation

    from .helpers import fx

    model, _ = load_and_compile(fx("timeout-race.yaml", "mesh-zero.yaml"))
    sim = Simulation(model, seed=1)
    s = summarize(model, [sim.run()])
    cs = sim.replicas["front-v1-0"].sidecar.states["outbound|8080||server.default.svc.cluster.local"]
    assert (cs.pending, cs.rq_active, cs.cx, cs.active_retries) == (0, 0, 0, 0)
    e = edge(s, "front.v1", "server")
    assert e.requests > 40
    assert cs.c.upstream_rq_total >= e.requests / 2

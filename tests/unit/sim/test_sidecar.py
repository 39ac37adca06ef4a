"""meshsim.sim.sidecar: a client sidecar's router against a scripted upstream pod, built from a
small context and sink (no YAML): retries, retry limits, per-try and route timeouts, no route, and
what reaches the sink and the cluster's Envoy counters."""

from __future__ import annotations

from typing import Any

import pytest

from meshsim.model.ir import RouteMatch, StringMatcher
from meshsim.sim.context import SimContext
from meshsim.sim.spans import NO_SPANS, TraceSpans
from meshsim.sim.request import Ctx
from meshsim.sim.sidecar import Sidecar
from meshsim.telemetry.record import Trace

from .support import BACK_CLUSTER, FakePod, call_back, context, model, retry, route_with


def _setup(route: Any, statuses: list[int], delay: float) -> tuple[SimContext, Sidecar, FakePod]:
    m = model(route=route)
    ctx = context(m)
    back = m.service("back").workloads[0]
    pod = FakePod(ctx, "back-v1-0", back, statuses, delay)
    ctx.pods[pod.id] = pod
    front = Sidecar(ctx, "front-v1-0", m.service("front").workloads[0])
    return ctx, front, pod


def _send(
    ctx: SimContext, sc: Sidecar, measured: bool = True, spans: Any = NO_SPANS, path: str = "/"
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rctx = Ctx({}, measured, 0, spans, spans is not NO_SPANS)

    def proc():  # type: ignore[no-untyped-def]
        out["status"] = yield from sc.outbound(call_back(path=path), rctx, {}, None, spans.new_id())
        out["t"] = ctx.env.now

    ctx.env.process(proc())
    ctx.env.run()
    return out


def _edge(ctx: SimContext) -> Any:
    return ctx.sink.edges[("front.v1", "back", BACK_CLUSTER)]


def test_retries_until_success_and_counts_like_envoy() -> None:
    ctx, sc, _ = _setup(route_with(retry(2)), [503, 503, 200], delay=0.010)
    out = _send(ctx, sc)
    assert out == {"status": 200, "t": pytest.approx(0.030)}  # three 10 ms attempts, zero backoff
    e = _edge(ctx)
    assert (e.requests, e.attempts, e.retries, e.success, e.codes, e.flags) == (1, 3, 2, 1, {200: 1}, {})
    c = sc.states[BACK_CLUSTER].c
    assert (c.upstream_rq_retry, c.upstream_rq_retry_success, c.upstream_rq_5xx, c.upstream_rq_2xx) == (2, 1, 2, 1)


def test_retries_exhausted_answer_the_last_status_with_urx() -> None:
    ctx, sc, _ = _setup(route_with(retry(2)), [503], delay=0.001)
    assert _send(ctx, sc)["status"] == 503
    e = _edge(ctx)
    assert (e.attempts, e.flags) == (3, {"URX": 1})
    assert sc.states[BACK_CLUSTER].c.upstream_rq_retry_limit_exceeded == 1


def test_not_retriable_status_is_answered_at_once() -> None:
    ctx, sc, _ = _setup(route_with(retry(2, on="connect-failure")), [503], delay=0.001)
    assert _send(ctx, sc)["status"] == 503
    assert (_edge(ctx).attempts, _edge(ctx).flags) == (1, {})


def test_per_try_timeout_resets_the_attempt_and_retries() -> None:
    """Per-try 100 ms against a 1 s upstream: both tries time out at 100 ms each; the answer is
    Envoy's local 504 with UT after the retry limit; the server still served both (a reset does not
    stop the upstream)."""
    ctx, sc, pod = _setup(route_with(retry(1, per_try=0.1)), [200], delay=1.0)
    out = _send(ctx, sc)
    assert out == {"status": 504, "t": pytest.approx(0.2)}
    assert pod.served == [0.0, pytest.approx(0.1)]
    assert _edge(ctx).flags == {"URX,UT": 1}
    assert sc.states[BACK_CLUSTER].c.upstream_rq_per_try_timeout == 2
    assert ctx.env.now == pytest.approx(1.1)  # the abandoned attempts ran to their end, detached


def test_route_timeout_answers_504_ut() -> None:
    ctx, sc, _ = _setup(route_with(timeout=0.05), [200], delay=1.0)
    assert _send(ctx, sc) == {"status": 504, "t": pytest.approx(0.05)}
    assert _edge(ctx).flags == {"UT": 1}
    assert sc.states[BACK_CLUSTER].c.upstream_rq_timeout == 1


def test_no_matching_route_is_404_nr() -> None:
    ctx, sc, pod = _setup(route_with(matches=(RouteMatch(uri=StringMatcher("exact", "/only")),)), [200], delay=0.0)
    assert _send(ctx, sc, path="/other")["status"] == 404
    assert ctx.sink.edges[("front.v1", "back", "")].flags == {"NR": 1}
    assert pod.served == []


def test_warmup_requests_reach_no_edge_statistics() -> None:
    ctx, sc, pod = _setup(route_with(retry(1)), [200], delay=0.001)
    assert _send(ctx, sc, measured=False)["status"] == 200
    assert ctx.sink.edges == {} and len(pod.served) == 1


def test_a_traced_request_gets_one_span_per_attempt_under_its_router_span() -> None:
    ctx, sc, _ = _setup(route_with(retry(2)), [503, 200], delay=0.010)
    tr = Trace(0)
    _send(ctx, sc, spans=TraceSpans(tr))
    attempts = [s for s in tr.spans if s.operation.startswith("attempt")]
    assert [(s.operation, s.parent, s.tags["status"]) for s in attempts] == [
        ("attempt 1", 1, 503),
        ("attempt 2", 1, 200),
    ]
    assert attempts[0].end == pytest.approx(attempts[1].start)  # the attempts tile the router span


def test_retry_success_counts_a_final_answer_that_is_not_retriable_whatever_its_status() -> None:
    """Envoy ``RetryStateImpl::shouldRetry`` counts ``upstream_rq_retry_success`` when a retried request's answer
    is not retried again: a 500 after a retried 503 (``retryOn: 503``) counts, though it is a failure."""
    from dataclasses import replace

    policy = replace(retry(2, on="retriable-status-codes"), retriable_status_codes=frozenset({503}))
    ctx, sc, _ = _setup(route_with(policy), [503, 500], delay=0.010)
    out = _send(ctx, sc)
    assert out["status"] == 500
    c = sc.states[BACK_CLUSTER].c
    assert (c.upstream_rq_retry, c.upstream_rq_retry_success, c.upstream_rq_retry_limit_exceeded) == (1, 1, 0)


def test_retries_exhausted_are_not_a_retry_success() -> None:
    ctx, sc, _ = _setup(route_with(retry(1)), [503, 503], delay=0.010)
    assert _send(ctx, sc)["status"] == 503
    c = sc.states[BACK_CLUSTER].c
    assert (c.upstream_rq_retry, c.upstream_rq_retry_success, c.upstream_rq_retry_limit_exceeded) == (1, 0, 1)


@pytest.mark.parametrize(("size", "retried"), [(1024 * 1024, True), (1024 * 1024 + 1, False)])
def test_a_body_over_the_buffer_limit_is_not_retried(size: int, retried: bool) -> None:
    """Envoy buffers at most ``per_connection_buffer_limit_bytes`` (1 MiB) of a request body for retries; a larger
    body gives up retries for that request (``retry_or_shadow_abandoned``) and its 503 is answered."""
    from dataclasses import replace

    ctx, sc, _ = _setup(route_with(retry(2)), [503, 200], delay=0.010)
    out: dict[str, Any] = {}

    def proc():  # type: ignore[no-untyped-def]
        call = replace(call_back(), request_size=size)
        out["status"] = yield from sc.outbound(call, Ctx({}, True, 0, NO_SPANS), {}, None, 0)

    ctx.env.process(proc())
    ctx.env.run()
    c = sc.states[BACK_CLUSTER].c
    assert out["status"] == (200 if retried else 503)
    assert (c.upstream_rq_retry, c.retry_or_shadow_abandoned) == ((1, 0) if retried else (0, 1))

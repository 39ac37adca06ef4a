"""meshsim.sim.pods: a killed pod's requests in flight are reset (503 ``UC`` at the client sidecar), on
the small hand-built mesh of ``support``: ``front`` sends four calls at t=0 to two ``back`` pods
(round robin: two each) that take 2 s; ``back-v1-1`` dies at t=1 s."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from meshsim.model.ir import SleepStep
from meshsim.model.timeline import TimelineEvent
from meshsim.sim.pods import Pods
from meshsim.sim.request import Ctx
from meshsim.sim.spans import NO_SPANS

from .support import BACK_CLUSTER, call_back, constant, context, model, retry, route_with, workload

ISTIO_DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"


def _kill_run(retry_on: str, route_timeout: float | None) -> tuple[Any, Pods, list[tuple[bool, float]]]:
    back = workload("back", (SleepStep(constant(2.0), 0),), replicas=2)
    policy = replace(retry(2, on=retry_on), previous_hosts=True, host_selection_retry_max_attempts=5)
    m = model(back=back, route=route_with(policy, timeout=route_timeout))
    kill = TimelineEvent(1.0, "kill", "kill back-v1-1", pod="back-v1-1")
    m = replace(m, timeline=SimpleNamespace(events=(kill,)))
    ctx = context(m)
    pods = Pods(ctx)
    front = pods.replicas["front-v1-0"]
    done: list[tuple[bool, float]] = []

    def call():  # type: ignore[no-untyped-def]
        ok = yield from front.call(call_back(), Ctx({}, True, 0, NO_SPANS))
        done.append((ok, ctx.env.now))

    def killer():  # type: ignore[no-untyped-def]
        yield ctx.env.timeout(1.0)
        pods.kill("back-v1-1")

    for _ in range(4):
        ctx.env.process(call())
    ctx.env.process(killer())
    ctx.env.run(until=10.0)
    return ctx, pods, done


@pytest.mark.parametrize("route_timeout", [None, 5.0])
def test_a_killed_pods_requests_in_flight_are_reset_and_not_retried_by_istios_default(
    route_timeout: float | None,
) -> None:
    """Istio's default ``retryOn`` does not retry a reset after the request was sent: the two calls on
    the dead pod fail at the kill (1 s), not when its app would have answered (2 s)."""
    ctx, pods, done = _kill_run(ISTIO_DEFAULT_RETRY_ON, route_timeout)
    assert sorted(done) == [(False, 1.0), (False, 1.0), (True, 2.0), (True, 2.0)]
    edge = ctx.sink.edges[("front.v1", "back", BACK_CLUSTER)]
    assert edge.codes == {503: 2, 200: 2} and edge.flags == {"UC": 2}
    c = pods.replicas["front-v1-0"].sidecar.states[BACK_CLUSTER].c
    assert (c.upstream_rq_rx_reset, c.upstream_cx_destroy_with_active_rq, c.upstream_rq_retry) == (2, 2, 0)
    assert (c.upstream_rq_total, c.upstream_rq_completed, c.upstream_rq_2xx) == (4, 2, 2)
    # the dead pod's proxy reports nothing: the workload counts the live pod's two
    assert pods.wstats["back.v1"].completed == 2
    assert pods.replicas["back-v1-1"].inflight == set()


def test_a_reset_is_retried_under_retry_on_reset() -> None:
    """With ``retryOn: reset`` each reset call is retried at once on the other pod (Istio's
    ``previous_hosts`` predicate) and ends at 3 s."""
    _, pods, done = _kill_run("reset", None)
    assert sorted(done) == [(True, 2.0), (True, 2.0), (True, 3.0), (True, 3.0)]
    c = pods.replicas["front-v1-0"].sidecar.states[BACK_CLUSTER].c
    assert (c.upstream_rq_rx_reset, c.upstream_rq_retry, c.upstream_rq_retry_success) == (2, 2, 2)
    assert pods.wstats["back.v1"].completed == 4


def test_a_pod_no_scenario_kills_serves_inline() -> None:
    """Only a pod a kill event names pays for the resettable serve."""
    back = workload("back", (SleepStep(constant(2.0), 0),), replicas=2)
    m = model(back=back)
    kill = TimelineEvent(1.0, "kill", "kill back-v1-1", pod="back-v1-1")
    pods = Pods(context(replace(m, timeline=SimpleNamespace(events=(kill,)))))
    assert "serve" in vars(pods.replicas["back-v1-1"]) and "serve" not in vars(pods.replicas["back-v1-0"])

"""meshsim.sim.pods: a killed pod's requests in flight are reset (503 ``UC`` at the client sidecar), on
the small hand-built mesh of ``support``: ``front`` sends four calls at t=0 to two ``back`` pods
(round robin: two each) that take 2 s; ``back-v1-1`` dies at t=1 s."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from meshsim.model.ir import PodLifecycle, SleepStep
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


def _scale_down_run(lifecycle: PodLifecycle) -> tuple[Any, Pods, list[tuple[bool, float]]]:
    """The four 2 s calls of :func:`_kill_run` (two on each back pod); at t=1 s a scale event deletes
    ``back-v1-1``."""
    back = workload("back", (SleepStep(constant(2.0), 0),), replicas=2)
    back = replace(back, lifecycle=lifecycle)
    scale = TimelineEvent(1.0, "scale", "back to 1")
    m = replace(model(back=back), timeline=SimpleNamespace(events=(scale,)))
    smaller = model(back=replace(back, replicas=1))
    ctx = context(m)
    pods = Pods(ctx)
    front = pods.replicas["front-v1-0"]
    done: list[tuple[bool, float]] = []

    def call():  # type: ignore[no-untyped-def]
        ok = yield from front.call(call_back(), Ctx({}, True, 0, NO_SPANS))
        done.append((ok, ctx.env.now))

    def scaler():  # type: ignore[no-untyped-def]
        yield ctx.env.timeout(1.0)
        assert pods.scale_to(smaller) == frozenset({"front-v1-0", "back-v1-0"})

    for _ in range(4):
        ctx.env.process(call())
    ctx.env.process(scaler())
    ctx.env.run(until=10.0)
    return ctx, pods, done


def test_requests_in_flight_on_a_deleted_pod_finish_within_the_sidecar_drain() -> None:
    """Deleted at 1 s, the pod answers until 1 + 5 s (Istio's terminationDrainDuration): its two calls end
    200 at 2 s, and it is gone at 6 s with nothing to reset."""
    _, pods, done = _scale_down_run(PodLifecycle())
    assert sorted(done) == [(True, 2.0)] * 4
    assert pods.terminated == [{"pod": "back-v1-1", "deleted": 1.0, "gone": 6.0, "reset": 0}]
    assert not pods.replicas["back-v1-1"].alive


@pytest.mark.parametrize("lifecycle", [PodLifecycle(grace_s=0.5), PodLifecycle(drain_s=0.5)])
def test_requests_still_in_flight_when_a_deleted_pod_stops_are_reset(lifecycle: PodLifecycle) -> None:
    """A 0.5 s grace period (or drain) ends before the 2 s calls: the deleted pod's two are reset at 1.5 s
    (503 ``UC`` at the caller, as on a kill), the other pod's finish."""
    ctx, pods, done = _scale_down_run(lifecycle)
    assert sorted(done) == [(False, 1.5), (False, 1.5), (True, 2.0), (True, 2.0)]
    edge = ctx.sink.edges[("front.v1", "back", BACK_CLUSTER)]
    assert edge.codes == {503: 2, 200: 2} and edge.flags == {"UC": 2}
    assert pods.terminated[0]["reset"] == 2


def test_a_scale_up_after_a_deletion_starts_a_new_pod() -> None:
    """A ReplicaSet scaled back up creates a new pod: the deleted one stays gone."""
    ctx, pods, _ = _scale_down_run(PodLifecycle(grace_s=0.5))
    old = pods.replicas["back-v1-1"]
    back = next(w for s in ctx.model.services for w in s.workloads if w.service == "back")
    live = pods.scale_to(model(back=back))
    assert "back-v1-1" in live and pods.replicas["back-v1-1"] is not old and pods.replicas["back-v1-1"].alive

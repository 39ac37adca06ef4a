"""meshsim.sim.replica: a pod's FIFO worker pool, its error draw, and its app's calls (timeouts,
app retries), on the small hand-built mesh of ``support``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from meshsim.model.ir import AppRetryPolicy, FaultPolicy, Route, SleepStep, WeightedCluster
from meshsim.sim.spans import NO_SPANS
from meshsim.sim.pods import Pods
from meshsim.sim.request import Ctx

from .support import BACK_CLUSTER, call_back, constant, context, model, workload


def _pods(**kw: Any) -> tuple[Any, Pods]:
    ctx = context(model(**kw))
    return ctx, Pods(ctx)


def _rctx() -> Ctx:
    return Ctx({}, True, 0, NO_SPANS)


def test_fifo_workers_queue_the_second_request() -> None:
    """One worker, a 10 ms constant script: two requests at t=0 finish at 10 and 20 ms; the second
    waited 10 ms for the worker."""
    ctx, pods = _pods(back=workload("back", (SleepStep(constant(0.010), 0),), concurrency=1))
    pod = pods.replicas["back-v1-0"]
    done: list[tuple[int, float]] = []

    def req():  # type: ignore[no-untyped-def]
        status = yield from pod.serve(_rctx(), None, call_back(), {}, "", "")
        done.append((status, ctx.env.now))

    ctx.env.process(req())
    ctx.env.process(req())
    ctx.env.run()
    assert done == [(200, pytest.approx(0.010)), (200, pytest.approx(0.020))]
    st = pod.stats
    assert (st.arrivals, st.completed, st.waited) == (2, 2, 1)
    assert st.wait_sum == pytest.approx(0.010) and st.residence_sum == pytest.approx(0.030)


def test_every_nth_fails_exactly_each_nth_request() -> None:
    ctx, pods = _pods(back=workload("back", (), error_rate=0.25, error_mode="every_nth"))
    pod = pods.replicas["back-v1-0"]
    statuses: list[int] = []

    def req():  # type: ignore[no-untyped-def]
        for _ in range(8):
            statuses.append((yield from pod.serve(_rctx(), None, call_back(), {}, "", "")))

    ctx.env.process(req())
    ctx.env.run()
    assert statuses == [200, 200, 200, 503] * 2
    assert pod.stats.errors == 2


def _call(ctx: Any, pods: Pods, step: Any) -> dict[str, Any]:
    front = pods.replicas["front-v1-0"]
    out: dict[str, Any] = {}

    def proc():  # type: ignore[no-untyped-def]
        out["ok"] = yield from front.call(step, _rctx())
        out["t"] = ctx.env.now

    ctx.env.process(proc())
    ctx.env.run()
    return out


def test_app_timeout_gives_up_and_counts_a_downstream_reset() -> None:
    """front's call has a 5 ms deadline, back takes 10 ms: the call fails at 5 ms, the sidecar logs
    the downstream reset (code 0, DC), and back finishes its work anyway."""
    ctx, pods = _pods()
    out = _call(ctx, pods, call_back(timeout=0.005))
    assert out == {"ok": False, "t": pytest.approx(0.005)}
    cst = ctx.sink.calls[("front.v1", "back")]
    assert (cst.calls, cst.tries, cst.app_timeouts, cst.failures) == (1, 1, 1, 1)
    edge = next(iter(ctx.sink.edges.values()))
    assert edge.codes == {0: 1} and edge.flags == {"DC": 1}
    assert pods.replicas["back-v1-0"].stats.completed == 1
    assert ctx.env.now == pytest.approx(0.010)


def test_app_retries_on_5xx_then_gives_up() -> None:
    ctx, pods = _pods(back=workload("back", (), error_rate=1.0))
    step = replace(call_back(), retries=AppRetryPolicy(2, frozenset({"5xx"}), 0.002))
    out = _call(ctx, pods, step)
    assert out == {"ok": False, "t": pytest.approx(0.004)}  # 3 instant tries, two 2 ms backoffs
    cst = ctx.sink.calls[("front.v1", "back")]
    assert (cst.tries, cst.app_retries, cst.failures) == (3, 2, 1)


def test_a_call_made_with_probability_zero_is_skipped() -> None:
    ctx, pods = _pods()
    out = _call(ctx, pods, replace(call_back(), probability=0.0))
    assert out == {"ok": True, "t": 0.0}
    assert ctx.sink.calls[("front.v1", "back")].skipped == 1 and ctx.sink.edges == {}


@pytest.mark.parametrize(("abort", "ok", "front_status"), [(302, False, 500), (204, True, 200), (404, False, 500)])
def test_only_a_2xx_answer_is_a_successful_call(abort: int, ok: bool, front_status: int) -> None:
    """Bookinfo's convention (productpage accepts only a 200), as the real app: an injected 302 fails
    front's call (its script answers 500) and is not retried by the app, even with ``retryOn: 4xx,5xx``."""
    fault = FaultPolicy(0.0, 0.0, 1.0, abort)
    route = Route("r", (), (WeightedCluster(BACK_CLUSTER, 100),), None, None, fault, "vs/http[0]")
    step = replace(call_back(), retries=AppRetryPolicy(2, frozenset({"4xx", "5xx"}), 0.0))
    ctx, pods = _pods(route=route, front_script=(step,))
    out = _call(ctx, pods, step)
    assert out["ok"] is ok
    cst = ctx.sink.calls[("front.v1", "back")]
    assert cst.tries == (3 if abort == 404 else 1)
    status: list[int] = []

    def req():  # type: ignore[no-untyped-def]
        status.append((yield from pods.replicas["front-v1-0"].serve(_rctx(), None, call_back(), {}, "", "")))

    ctx.env.process(req())
    ctx.env.run()
    assert status == [front_status]

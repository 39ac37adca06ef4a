"""Envoy's router filter (source/common/router/router.cc and retry_state_impl.cc): upstream attempts, retries with backoff, and how a
timer (route, per-try or app timeout) gives up on an attempt in flight.

Every call runs inline in its caller's process. With a timer the router drives the upstream
attempt's generator by hand and waits on the attempt's own events; when a timer fires it interrupts
exactly that wait (:func:`~meshsim.sim.kernel.interrupt_wait`), the caller gives up at once and the
attempt carries on in a process of its own (:func:`~meshsim.sim.kernel.detached`), so the server keeps
working (a reset does not stop the upstream app, as in reality). Timers almost never fire, so the
common case costs no process.
"""

from __future__ import annotations

from typing import Any

import simpy

from meshsim.model.ir import CallStep, RetryPolicy, Route
from meshsim.model.rules.backoff import backoff_ceiling_ms
from meshsim.model.rules.retry import retriable_reset, retriable_status
from meshsim.sim.cluster import OVERFLOW, ClusterState, Pending
from meshsim.sim.kernel import Gen, spawn, succeed_later
from meshsim.sim.lb import request_hash
from meshsim.sim.request import (
    CANCELLED,
    CONNECT_FAIL,
    PER_TRY_TIMEOUT,
    TLS_MISMATCH,
    UPSTREAM_RESET,
    Attempt,
    Ctl,
    Ctx,
    local_flag,
    local_reply,
)

__all__ = ["RETRY_BUFFER_LIMIT", "Router", "retriable"]

RETRY_BUFFER_LIMIT = 1024 * 1024
"""Bytes of request body the router buffers for retries: the listener's ``per_connection_buffer_limit_bytes``,
Envoy's default 1 MiB (api/envoy/config/listener/v3/listener.proto; Istio sets none on sidecars). A larger body
makes the router give up retries for that request (``Filter::decodeData``, source/common/router/router.cc:
``retry_or_shadow_abandoned``)."""

_CUT = -1000
"""What :meth:`Router._wait_pending` returns when the request was cancelled while it waited."""


class Router:
    """The router of one proxy (mixed into :class:`~meshsim.sim.sidecar.Proxy`, which provides ``ctx``,
    ``env``, ``id``, ``u`` (its router stream), :meth:`wire` and :meth:`per_try_timeout`)."""

    ctx: Any
    env: simpy.Environment
    id: str
    u: Any

    def wire(
        self, replica: Any, ctx: Ctx, cs: ClusterState, call: CallStep, headers: dict[str, str], asid: int = 0
    ) -> Gen:
        raise NotImplementedError

    def per_try_timeout(self, cs: ClusterState, att: Attempt, ctl: Ctl) -> None:
        raise NotImplementedError

    def route_request(
        self,
        cs: ClusterState,
        route: Route,
        ctx: Ctx,
        call: CallStep,
        headers: dict[str, str],
        ctl: Ctl | None,
        sid: int = 0,
    ) -> Gen:
        """Attempts and retries of one request on cluster ``cs`` (the retry loop; the steps are the
        methods and functions below).

        Returns ``(status, response_flag, attempts, retries, replica)`` where ``replica`` is the
        destination pod of the last attempt (None when no attempt was made). When traced, each
        phase (``pending``, ``attempt``, ``backoff``) is a child span of ``sid``; together they tile
        the router span.

        Long because the retry loop's state (retries left, tried hosts, the held retry) is shared by its steps.
        """
        env = self.env
        spans = ctx.spans
        rp = route.retry_policy
        retries_left = rp.num_retries if rp is not None else 0
        # previous_hosts predicate; the set is built only when a retry happens (most requests never retry)
        use_prev = rp is not None and rp.previous_hosts and retries_left > 0
        tried: set[int] | None = None
        last = -1
        repicks = rp.host_selection_retry_max_attempts if rp is not None else 0
        per_try = _per_try(route, rp)
        if rp is not None and call.request_size > RETRY_BUFFER_LIMIT:
            # the body does not fit the retry buffer: Envoy gives up retrying this request (the per-try
            # timeout stays)
            cs.c.retry_or_shadow_abandoned += 1
            rp = None
            retries_left = 0
        k = 0
        retries = 0
        dst: Any = None
        holding = False  # an active retry (max_retries / budget) is held from backoff to next decision
        hkey = request_hash(route.hash_policy, headers, self.id) if route.hash_policy else None
        while True:
            host = cs.pick(tried, repicks, hkey)
            if host < 0:
                _release_retry(cs, ctl, holding)
                return 503, "UH", k, retries, None
            if tried is not None:
                tried.add(host)
            else:
                last = host
            served = cs.new_stream(host)
            if type(served) is Pending:
                served = yield from self._wait_pending(cs, host, served, ctx, ctl, sid)
                if served == _CUT:
                    return CANCELLED, "", k, retries, dst
            if served == OVERFLOW:
                _release_retry(cs, ctl, holding)
                if retries:
                    cs.c.upstream_rq_retry_success += 1  # an Overflow reset is NoRetry (wouldRetryFromReset)
                return 503, "UO", k, retries, None
            k += 1
            dst = replica = self.ctx.pods[cs.ids[host]]
            if ctx.traced:
                ta = env._now
                asid = spans.new_id()
            else:
                asid = 0
            if ctl is None:
                status = yield from self.wire(replica, ctx, cs, call, headers, asid)
                cs.end_stream(host, served, status < 0)  # type: ignore[arg-type]
                if ctx.traced:
                    spans.attempt(asid, sid, k, self.id, ta, env._now, False, replica.id, status)
            else:
                status = yield from self._timed_attempt(
                    replica,
                    ctx,
                    cs,
                    call,
                    headers,
                    asid,
                    host,
                    served,  # type: ignore[arg-type]
                    ctl,
                    per_try,
                )
                if ctx.traced:
                    spans.attempt(
                        asid,
                        sid,
                        k,
                        self.id,
                        ta,
                        env._now,
                        ctl.cancelled or status == PER_TRY_TIMEOUT,
                        replica.id,
                        status,
                    )
                if ctl.cancelled:
                    return CANCELLED, "", k, retries, dst
            _count_attempt(cs, host, status)
            holding = _release_retry(cs, ctl, holding)
            final = _final_answer(cs, rp, status, k, retries_left)
            if final is not None:
                return final[0], final[1], k, retries, dst
            retries_left -= 1
            # a retry: hold an active retry (circuit breaker max_retries / budget) until the next decision
            cs.active_retries += 1
            holding = True
            if ctl is not None:
                ctl.holding_retry = True
            cs.c.upstream_rq_retry += 1
            retries += 1
            if use_prev and tried is None:
                tried = {last}
            tb = env._now
            wait = self._backoff(rp, retries)
            if ctl is None:
                yield env.timeout(wait)
            else:
                ev = succeed_later(env, wait)
                ctl.wait = ev
                yield ev
                if ctl.cancelled:
                    spans.leaf(sid, "retry backoff", self.id, tb, env._now)
                    return CANCELLED, "", k, retries, dst
            spans.leaf(sid, "retry backoff", self.id, tb, env._now)

    def _wait_pending(self, cs: ClusterState, host: int, got: Pending, ctx: Ctx, ctl: Ctl | None, sid: int) -> Gen:
        """Wait in the connection pool's pending queue; returns the connection (or OVERFLOW), or
        ``_CUT`` when the request was cancelled meanwhile."""
        env = self.env
        tp = env._now
        if ctl is None:
            served = yield got.event
        else:
            ctl.pending = got
            ctl.wait = got.event
            served = yield got.event
            ctl.pending = None
            if ctl.cancelled:
                ctx.spans.leaf(sid, "pending connection", self.id, tp, env._now)
                if served >= 0:
                    # a connection was attached in the same instant as the cancel: reset it
                    cs.end_stream(host, served, True)
                return _CUT
        ctx.spans.leaf(sid, "pending connection", self.id, tp, env._now)
        return served

    def _timed_attempt(
        self,
        replica: Any,
        ctx: Ctx,
        cs: ClusterState,
        call: CallStep,
        headers: dict[str, str],
        asid: int,
        host: int,
        served: int,
        ctl: Ctl,
        per_try: float | None,
    ) -> Gen:
        """Run one attempt as a process of its own (:func:`~meshsim.sim.kernel.spawn`, first step inline) and
        wait for it (``Ctl.cur_ev``), so that a per-try, route or app timer can interrupt exactly this wait:
        the router resumes at once with the timer's code and the abandoned attempt carries on (its server
        keeps working). Routers inside the attempt wait in its process, so every event below costs this
        router nothing, however deep the call tree. Returns the attempt's status (or the timer's code)."""
        att = Attempt(host, served)
        ctl.att = att
        ctl.wait = None
        if per_try is not None:
            self.ctx.deadlines.add(per_try, lambda a=att, s=cs, c=ctl: self.per_try_timeout(s, a, c), att)  # type: ignore[misc]
        p = spawn(self.env, self.wire(replica, ctx, cs, call, headers, asid))
        ctl.cur_ev = p
        try:
            status = yield p
        except simpy.Interrupt as intr:
            target, code = intr.cause  # type: ignore[misc]
            ctl.cur_ev = None
            ctl.att = None
            if target is not ctl:
                raise  # a broken invariant: only this router waits on its attempt's process
            return code
        ctl.cur_ev = None
        att.done = True  # (a timer that fired would have abandoned the attempt)
        cs.end_stream(host, served, status < 0)
        ctl.att = None
        return status

    def _backoff(self, rp: Any, n: int) -> float:
        """The wait before retry ``n`` (seconds): uniform whole milliseconds below the ceiling
        (Envoy takes ``R mod I_n``; ``R`` is drawn from this proxy's router stream, only when I_n > 0)."""
        ceiling = backoff_ceiling_ms(rp.backoff_base, rp.backoff_max, n)
        if ceiling <= 0:
            return 0.0
        return int(self.u() * ceiling) / 1e3


def _per_try(route: Route, rp: RetryPolicy | None) -> float | None:
    """The per-try timeout in force: Envoy ignores one that is not below the route timeout."""
    if rp is not None and rp.per_try_timeout is not None:
        if route.timeout is None or rp.per_try_timeout < route.timeout:
            return rp.per_try_timeout
    return None


def _count_attempt(cs: ClusterState, host: int, status: int) -> None:
    """Envoy's upstream counters of one attempt; outlier detection sees every attempt (local-origin
    failures as 503/504)."""
    c = cs.c
    if status >= 0:
        c.upstream_rq_completed += 1
        if status < 300:
            c.upstream_rq_2xx += 1
        elif status >= 500:
            c.upstream_rq_5xx += 1
        elif status >= 400:
            c.upstream_rq_4xx += 1
        if cs.od is not None:
            cs.report(host, status)
    elif status == CONNECT_FAIL:
        c.upstream_cx_connect_fail += 1
        if cs.od is not None:
            cs.report(host, 503)
    elif status == PER_TRY_TIMEOUT:
        if cs.od is not None:
            cs.report(host, 504)
    elif status in (TLS_MISMATCH, UPSTREAM_RESET):
        c.upstream_rq_rx_reset += 1
        if cs.od is not None:
            cs.report(host, 503)


def _final_answer(
    cs: ClusterState, rp: RetryPolicy | None, status: int, k: int, retries_left: int
) -> tuple[int, str] | None:
    """The retry decision after attempt ``k``: ``(status, flag)`` to answer with, or None to retry
    (source/common/router/retry_state_impl.cc: not retriable, retries exhausted ``URX``, retry breaker or budget full ``UO``)."""
    c = cs.c
    if rp is None or not retriable(rp.retry_on, rp.retriable_status_codes, status):
        if k > 1:
            # RetryStateImpl::shouldRetry: a NoRetry decision after a retry counts as a retry success,
            # whatever the status (a 404 or a non-retriable reset too)
            c.upstream_rq_retry_success += 1
        if status >= 0:
            return status, ""
        return local_reply(status), local_flag(status)
    if retries_left <= 0:
        c.upstream_rq_retry_limit_exceeded += 1
        if status >= 0:
            return status, "URX"
        return local_reply(status), "URX," + local_flag(status)
    if not cs.retry_allowed():
        c.upstream_rq_retry_overflow += 1
        return (status if status >= 0 else local_reply(status)), "UO"
    return None


def _release_retry(cs: ClusterState, ctl: Ctl | None, holding: bool) -> bool:
    """Release the active retry this request holds (Envoy releases it at the next retry decision
    or when the request ends, source/common/router/retry_state_impl.cc); returns the new ``holding`` (False)."""
    if holding and (ctl is None or ctl.holding_retry):
        cs.active_retries -= 1
        if ctl is not None:
            ctl.holding_retry = False
    return False


def retriable(on: frozenset[str], codes: frozenset[int], status: int) -> bool:
    """Envoy ``wouldRetryFromHeaders`` (an HTTP ``status``) or ``wouldRetryFromReset`` (a negative local outcome
    code: a reset, or :data:`CONNECT_FAIL`), the rules of :mod:`meshsim.model.rules.retry`."""
    if status >= 0:
        return retriable_status(on, codes, status)
    return retriable_reset(on, status == CONNECT_FAIL)

"""What travels with a request: its context, a router's control block, one upstream attempt, and the
outcome codes that are not HTTP statuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import simpy

from meshsim.sim.spans import Spans

if TYPE_CHECKING:
    from meshsim.sim.cluster import ClusterState, Pending

__all__ = [
    "APP_TIMEOUT",
    "BATCHES",
    "CANCELLED",
    "CONNECT_FAIL",
    "PER_TRY_TIMEOUT",
    "TLS_MISMATCH",
    "UPSTREAM_RESET",
    "Attempt",
    "Ctl",
    "Ctx",
    "HOP_BY_HOP",
    "forwarded_headers",
    "is_success",
    "local_flag",
    "local_reply",
]

BATCHES = 10
"""Time batches per replication for batch-means confidence intervals."""

# Outcomes that are not HTTP responses (negative so they never collide with status codes)
CONNECT_FAIL = -1
PER_TRY_TIMEOUT = -2
CANCELLED = -3
APP_TIMEOUT = -4
TLS_MISMATCH = -5
"""The server sidecar closed the connection: plaintext to a STRICT workload, or mTLS to a DISABLE one
(Envoy: 503 ``UC``, upstream connection termination)."""
UPSTREAM_RESET = -6
"""The upstream connection was reset after the request was sent: its pod died with the request in
flight (Envoy: 503 ``UC``, ``upstream_rq_rx_reset``; retried only under ``reset``, ``5xx`` or
``gateway-error``, never under ``reset-before-request``, source/common/router/retry_state_impl.cc
``wouldRetryFromReset``)."""


HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-type",
    }
)
"""Headers an app never copies to its own calls: hop-by-hop (RFC 9110 section 7.6.1), ``Host`` and the
body's ``Content-*`` (the call sets its own)."""


def forwarded_headers(incoming: Mapping[str, str], names: tuple[str, ...] | None) -> dict[str, str]:
    """The headers an app copies from the request it is serving (``incoming``) to each call it makes,
    the rule both backends follow (the simulator's app and the real one): ``names`` (``forwardHeaders``)
    lists them; None copies every incoming header except :data:`HOP_BY_HOP`, ``x-envoy-*`` (Envoy's own,
    which it sets again or strips) and pseudo-headers. Names come out lower-case.

    This is what Bookinfo's apps do: productpage forwards its *incoming* ``x-request-id``, ``x-b3-*``,
    ``x-ot-span-context`` headers and ``user`` cookie (``getForwardHeaders``,
    samples/bookinfo/src/productpage/productpage.py), and Istio requires apps to propagate the incoming
    trace headers (https://istio.io/latest/docs/tasks/observability/distributed-tracing/overview/). So a
    header an app adds to its call reaches the next hop's routing only if that hop forwards it."""
    out: dict[str, str] = {}
    if names is None:
        for k, v in incoming.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk.startswith("x-envoy-") or lk.startswith(":"):
                continue
            out[lk] = v
    else:
        for n in names:
            got = incoming.get(n)
            if got is not None:
                out[n] = got
    return out


def is_success(status: int) -> bool:
    """A request succeeded when its status is below 500: the rule of Istio's and Flagger's
    success-rate queries (``response_code !~ "5.*"``)."""
    return 0 < status < 500


def local_reply(status: int) -> int:
    """The status Envoy answers with for a local failure ``status`` (504 after a per-try timeout, else 503)."""
    return 504 if status == PER_TRY_TIMEOUT else 503


def local_flag(status: int) -> str:
    """Envoy's response flag for a local failure: ``UC`` (TLS mismatch, reset), ``UT`` (timeout), ``UF`` (connect)."""
    if status in (TLS_MISMATCH, UPSTREAM_RESET):
        return "UC"
    return "UT" if status == PER_TRY_TIMEOUT else "UF"


class Ctx:
    """One entry request, carried through every call it causes: the entry headers (what the entry pod's
    app receives; each app forwards the headers of the request *it* serves, :func:`forwarded_headers`), whether it is in
    the measured window, its batch (for batch means) and ``spans``, its trace recorder (the shared
    no-op :data:`~meshsim.sim.spans.NO_SPANS` when it is not sampled; ``traced`` says which)."""

    __slots__ = ("headers", "measured", "batch", "spans", "traced")

    def __init__(self, headers: dict[str, str], measured: bool, batch: int, spans: Spans, traced: bool = False) -> None:
        self.headers = headers
        self.measured = measured
        self.batch = batch
        self.spans = spans
        self.traced = traced


class Ctl:
    """Control block of one request through a client sidecar's router (timed mode)."""

    __slots__ = (
        "cancelled",
        "done",
        "wait",
        "att",
        "pending",
        "cs",
        "holding_retry",
        "on_cancel_status",
        "route_timer",
        "cur_ev",
    )

    def __init__(self) -> None:
        self.cancelled = False
        self.done = False  # the router has answered: timers that fire later are disarmed
        self.wait: simpy.Event | None = None
        self.att: Attempt | None = None
        self.pending: Pending | None = None
        self.cs: ClusterState | None = None
        self.holding_retry = False
        self.on_cancel_status = 0
        self.route_timer = False
        self.cur_ev: simpy.Event | None = None  # what the in-flight attempt waits on (the router waits with it)


class Attempt:
    """One upstream try: its host and connection; ``done`` once it ended (answered, reset or timed out)."""

    __slots__ = ("host", "served", "done")

    def __init__(self, host: int, served: int) -> None:
        self.host = host
        self.served = served
        self.done = False

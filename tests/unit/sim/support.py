"""A small mesh built in Python (no YAML) for the simulator's unit tests: ``front`` calls ``back``
(one route, configurable), each with its own pods, and the context the components take."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from meshsim.model.ir import (
    CallStep,
    CircuitBreakers,
    Cluster,
    Dist,
    Endpoint,
    LoadSpec,
    MeshModel,
    MeshSettingsIR,
    Proxy,
    RetryPolicy,
    Route,
    RouteMatch,
    Service,
    SleepStep,
    VirtualHost,
    WeightedCluster,
    Workload,
)
from meshsim.sim.context import SimContext
from meshsim.sim.kernel import Gen
from meshsim.sim.observe import Recorder
from meshsim.sim.rng import Streams

ZERO = Dist("constant", (0.0,), 0.0, 0.0)
BACK_HOST = "back.default.svc.cluster.local"
BACK_CLUSTER = f"outbound|8080||{BACK_HOST}"


def constant(seconds: float) -> Dist:
    return Dist("constant", (seconds,), seconds, 0.0)


def call_back(timeout: float | None = None, path: str = "/", index: int = 0) -> CallStep:
    """An app call from front to back."""
    return CallStep("back", BACK_HOST, 8080, path, "GET", (), 0, 1.0, timeout, None, "fail", index)


def retry(n: int, on: str = "5xx", per_try: float | None = None, base: float = 0.0) -> RetryPolicy:
    return RetryPolicy(
        num_retries=n,
        retry_on=frozenset(on.split(",")),
        retriable_status_codes=frozenset(),
        per_try_timeout=per_try,
        backoff_base=base,
        backoff_max=10 * base,
        previous_hosts=False,
        host_selection_retry_max_attempts=0,
    )


def workload(
    service: str,
    script: tuple[Any, ...] = (),
    replicas: int = 1,
    concurrency: int | None = None,
    error_rate: float = 0.0,
    error_mode: str = "random",
) -> Workload:
    return Workload(
        service,
        "v1",
        (("app", service), ("version", "v1")),
        replicas,
        concurrency,
        script,
        error_rate,
        503,
        error_mode,
        0,
        None,
    )  # type: ignore[arg-type]


def _cluster(
    name: str, direction: str, service: str, host: str, endpoints: tuple[str, ...], cb: CircuitBreakers | None = None
) -> Cluster:
    return Cluster(
        name,
        direction,
        service,
        host,
        8080,
        "",
        endpoints,
        "ROUND_ROBIN",
        cb or CircuitBreakers(),
        None,  # type: ignore[arg-type]
        "HTTP1",
        None,
        2**31,
        10.0,
        0.0,
    )


def model(
    back: Workload | None = None,
    front_script: tuple[Any, ...] | None = None,
    route: Route | None = None,
    cb: CircuitBreakers | None = None,
    proxy_workers: int = 0,
) -> MeshModel:
    """front (one pod, calls back once) -> back; ``route`` replaces the default catch-all route."""
    back = back or workload("back", (SleepStep(constant(0.010), 0),))
    front = workload("front", front_script if front_script is not None else (call_back(),))
    services = []
    for wl in (front, back):
        host = f"{wl.service}.default.svc.cluster.local"
        eps = tuple(Endpoint(f"{wl.service}-v1-{r}", wl.service, "v1", r, wl.labels) for r in range(wl.replicas))
        services.append(Service(wl.service, "default", host, 8080, "HTTP1", (wl,), eps))
    back_eps = tuple(e.id for e in services[1].endpoints)
    route = route or Route("default", (), (WeightedCluster(BACK_CLUSTER, 100),), None, None, None, "default")
    return MeshModel(
        services=tuple(services),
        clusters=(_cluster(BACK_CLUSTER, "outbound", "back", BACK_HOST, back_eps, cb),),
        inbound_clusters=tuple(_cluster(f"inbound|8080||{s.name}", "inbound", s.name, s.host, ()) for s in services),
        virtual_hosts=(VirtualHost(f"{BACK_HOST}:8080", BACK_HOST, 8080, (BACK_HOST,), (route,)),),
        proxies=tuple(
            Proxy(e.id, s.name, "v1", e.labels, f"inbound|8080||{s.name}") for s in services for e in s.endpoints
        ),
        load=LoadSpec("front", "/", "GET", "poisson", 10.0, None, None, 10.0, 0.0, 1.0, ((1.0, ()),)),
        settings=MeshSettingsIR(ZERO, 0.0, 3, proxy_workers=proxy_workers),
    )


def context(m: MeshModel, seed: int = 1) -> SimContext:
    """The context a component takes, with a plain :class:`Recorder` as its sink."""
    return SimContext(m, Streams(seed), Recorder(None))


def route_with(
    policy: RetryPolicy | None = None, timeout: float | None = None, matches: tuple[RouteMatch, ...] = ()
) -> Route:
    return Route("r", matches, (WeightedCluster(BACK_CLUSTER, 100),), timeout, policy, None, "vs/http[0]")


class FakePod:
    """An upstream pod that answers with ``statuses`` in turn after ``delay`` seconds (no app, no YAML):
    what a :class:`~meshsim.sim.sidecar.Proxy` needs of the pod behind an endpoint."""

    def __init__(self, ctx: SimContext, endpoint_id: str, wl: Workload, statuses: list[int], delay: float) -> None:
        from meshsim.sim.sidecar import Sidecar

        self.ctx = ctx
        self.id = endpoint_id
        self.wl = wl
        self.alive = True
        self.tls_auto = 0
        self.sidecar = Sidecar(ctx, endpoint_id, wl)
        self.statuses = statuses
        self.delay = delay
        self.served: list[float] = []

    def serve(self, ctx: Any, src: Any, call: Any, headers: Any, cname: str, principal: str, psid: int = 0) -> Gen:
        self.served.append(self.ctx.env.now)
        yield self.ctx.env.timeout(self.delay)
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def with_route(m: MeshModel, route: Route) -> MeshModel:
    vh = m.virtual_hosts[0]
    return replace(m, virtual_hosts=(replace(vh, routes=(route,)),))

"""What a simulated component is given instead of the whole simulation: :class:`SimContext` (the
clock, random streams, timers, the compiled mesh, the mesh view istiod publishes, the pods by endpoint
and the sink of observations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from meshsim.model.ir import Cluster, MeshModel, Workload
from meshsim.model.rules.cpu import PROXY_CONTAINER
from meshsim.sim.cpu import ProxyCPU, ScheduledProxyCPU
from meshsim.sim.kernel import Deadlines
from meshsim.sim.node import Container, Node
from meshsim.sim.observe import Recorder
from meshsim.sim.rng import Streams
from meshsim.sim.routing import RouteRT, RouteTables
from meshsim.sim.sampling import sampler
from meshsim.telemetry.record import ProxyUsage

__all__ = ["MeshView", "SimContext"]


class MeshView:
    """What istiod knows now, which a proxy starts with (and later gets by push): the config model and
    its version (CDS/RDS), and per cluster the endpoint ids (EDS) filtered by the ``known`` set."""

    def __init__(self, model: MeshModel) -> None:
        self.tables = RouteTables()
        self.config_model = model
        self.config_version = 0
        self.eds_members: dict[str, tuple[str, ...]] = {c.name: c.endpoints for c in model.clusters}
        self.eds_known: frozenset[str] = frozenset(e.id for e in model.endpoints)

    def routes_of(self, model: MeshModel) -> dict[str, list[RouteRT]]:
        return self.tables.routes_of(model)

    def clusters_of(self, model: MeshModel) -> dict[str, Cluster]:
        return self.tables.clusters_of(model)

    def publish_config(self, model: MeshModel, version: int) -> None:
        """istiod has a new config (new proxies start with it)."""
        self.config_model = model
        self.config_version = version

    def publish_eds(self, members: dict[str, tuple[str, ...]], known: frozenset[str]) -> None:
        """istiod has new endpoints (new proxies start with them)."""
        self.eds_members = members
        self.eds_known = known


class SimContext:
    """The shared state of one replication that components read.

    ``pods`` maps endpoint ids to the running pods (a :class:`~meshsim.sim.replica.Replica` each;
    typed loosely so that this module does not import the components). ``proxy_cost()`` draws one
    sidecar traversal (seconds), ``net2`` is the network latency of both directions (seconds),
    ``cpu_per_request``/``mtls_request_cpu`` are per-traversal CPU seconds, ``tls_costs`` whether new
    connections pay an mTLS handshake. The measured window is ``[t_start, t_end)``.

    ``cpu_on`` is the CPU model's precomputed flag (the model has nodes): then ``nodes`` holds one
    :class:`~meshsim.sim.node.Node` per node and ``containers`` every container made so far, by
    ``(pod, container)``; off, both stay empty and no component does any CPU-model work.
    """

    def __init__(self, model: MeshModel, streams: Streams, sink: Recorder) -> None:
        self.env = simpy.Environment()
        self.streams = streams
        self.deadlines = Deadlines(self.env)
        self.model = model
        self.mesh = MeshView(model)
        self.sink = sink
        self.pods: dict[str, Any] = {}
        load = model.load
        self.t_start = load.warmup
        self.t_end = load.warmup + load.duration
        st = model.settings
        self.proxy_cost: Callable[[], float] = sampler(st.sidecar_latency, streams.generator("mesh/proxy-latency"))
        self.net2 = 2 * st.network_latency
        self.per_byte2 = 2 * st.sidecar_per_kib / 1024  # both traversals of a wire crossing, per body byte
        self.cpu_per_request = st.proxy_cpu_per_request
        self.mtls_request_cpu = st.mtls_request_cpu
        self.tls_costs = st.mtls_handshake_latency > 0 or st.mtls_handshake_cpu > 0  # a connection hook is needed
        self.proxy_usage: dict[str, ProxyUsage] = {}
        self.cpu_on = bool(model.nodes)
        self.nodes: dict[str, Node] = {n.name: Node(self.env, n.name, n.cores, n.cfs_period) for n in model.nodes}
        self.containers: dict[tuple[str, str], Container] = {}

    def new_cpu(self, proxy_id: str, workload: str, wl: Workload | None = None) -> ProxyCPU:
        """The worker pool of a new proxy (MeshSettings ``proxy``); its usage is reported per proxy. With
        the CPU model on, a sidecar's (``wl`` given) runs on its pod's node as the ``istio-proxy``
        container, with Envoy's worker count from its CPU limit (:mod:`meshsim.model.compile.cpu`)."""
        cont = None
        workers = self.model.settings.proxy_workers
        if self.cpu_on and wl is not None:
            cont = self.container(proxy_id, wl, PROXY_CONTAINER)
            workers = wl.proxy_cpu.threads or workers
        u = self.proxy_usage.get(proxy_id)
        if u is None:
            u = self.proxy_usage[proxy_id] = ProxyUsage(proxy_id, workload, workers)
        if cont is not None:
            return ScheduledProxyCPU(u, self.t_start, self.t_end, cont)
        return ProxyCPU(u, self.t_start, self.t_end)

    def container(self, pod: str, wl: Workload, name: str) -> Container:
        """The container ``name`` (``istio-proxy`` or ``app``) of pod ``pod`` of ``wl``, on the node its
        replica was placed on (a pod a scale event added runs on its workload's first node)."""
        key = (pod, name)
        c = self.containers.get(key)
        if c is None:
            r = int(pod.rsplit("-", 1)[1])
            placed = wl.nodes[r] if r < len(wl.nodes) and wl.nodes[r] else (wl.nodes[0] if wl.nodes else "")
            node = self.nodes.get(placed) or next(iter(self.nodes.values()))
            if name == PROXY_CONTAINER:
                spec, threads = wl.proxy_cpu, wl.proxy_cpu.threads or self.model.settings.proxy_workers or None
            else:
                spec, threads = wl.app_cpu, wl.concurrency
            c = self.containers[key] = Container(node, pod, name, spec.request_cores, spec.limit_cores, threads)
        return c

"""The mesh as a graph (networkx): which workloads call which, through the route table.

Nodes are workloads ``service.version``; an edge A -> B exists when A's script calls a host whose
routes can send to a cluster holding B's pods. Used for reachability checks, the worst-case retry
multiplier along call paths, and the service-graph plot.
"""

from __future__ import annotations

import networkx as nx

from meshsim.model.ir import MeshModel, Workload
from meshsim.model.rules.script import calls_of

__all__ = ["calls_of", "workload_graph", "reachable_services"]


def _targets(model: MeshModel, host: str) -> set[str]:
    """Workload keys that a call to ``host`` can reach through any route of its virtual host."""
    clusters = {c.name: c for c in model.clusters}
    eps = {e.id: e for e in model.endpoints}
    out: set[str] = set()
    try:
        vh = model.virtual_host(host)
    except KeyError:
        return out
    for route in vh.routes:
        for wc in route.clusters:
            c = clusters.get(wc.cluster)
            if c is None:
                continue
            for eid in c.endpoints:
                e = eps[eid]
                out.add(f"{e.service}.{e.version}")
    return out


def workload_graph(model: MeshModel) -> nx.DiGraph:
    """A DiGraph of workload keys; node attribute ``workload`` holds the :class:`Workload`;
    edge attribute ``calls`` lists the :class:`CallStep` s behind the edge."""
    g = nx.DiGraph()
    wls: dict[str, Workload] = {w.key: w for w in model.workloads}
    for key, w in wls.items():
        g.add_node(key, workload=w)
    for key, w in wls.items():
        for call in calls_of(w.script):
            for t in sorted(_targets(model, call.host)):
                if g.has_edge(key, t):
                    g.edges[key, t]["calls"].append(call)
                else:
                    g.add_edge(key, t, calls=[call])
    return g


def reachable_services(model: MeshModel) -> set[str]:
    """Names of services that load entering at ``model.load.entry`` can reach."""
    g = workload_graph(model)
    starts = [w.key for w in model.service(model.load.entry).workloads]
    seen: set[str] = set()
    for s in starts:
        seen |= {s} | nx.descendants(g, s)
    return {k.split(".")[0] for k in seen}

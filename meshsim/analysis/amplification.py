"""Retry amplification: the static worst case of a config and what a run measured, per edge and depth.

Closed forms (Brooker, AWS Builders' Library; Google SRE *Handling
Overload*): a layer that retries ``N`` times sends at most ``N + 1`` tries per request, and with
independent failures of probability ``p`` per try ``(1 - p^(N+1)) / (1 - p)`` on average; layers
multiply, so a call path through ``L`` retrying layers can put ``prod (N_i + 1)`` attempts on its last
service per entry request. In a mesh each workload -> service edge has up to two layers: the calling
app's own retries (``CallStep.retries.attempts``, isotope extension) and the client sidecar's route
retry policy (``Route.retry_policy.num_retries``, istiod ``route/retry/retry.go``).

Only retries that fire on **overload symptoms** count towards the storm worst case: sidecar
policies whose ``retryOn`` covers 5xx responses or resets/per-try timeouts (``5xx``,
``gateway-error``, ``reset``, or ``retriable-status-codes`` with a 5xx code) and app retries on
``5xx`` or ``timeout``. Istio's default policy (connect-failure, refused-stream, unavailable,
cancelled; no 503 since 1.24) does not retry a slow or failing service, so it does not count.

Depth is a workload's distance from the entry workload(s) in
:func:`meshsim.model.graph.workload_graph` (the entry is depth 0; an edge's depth is its caller's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from meshsim.errors import Finding
from meshsim.metrics.results import AmplificationReport, DepthAmplification, EdgeAmplification, Summary
from meshsim.model.graph import workload_graph
from meshsim.model.ir import CallStep, MeshModel, RetryPolicy

__all__ = [
    "DEFAULT_FLAG_THRESHOLD",
    "DEFAULT_STATIC_THRESHOLD",
    "expected_tries",
    "sidecar_retries",
    "app_retries",
    "EdgeBound",
    "edge_bounds",
    "depths",
    "worst_paths",
    "worst_case_findings",
    "amplification_report",
]

DEFAULT_FLAG_THRESHOLD = 1.2
"""Measured attempts per app-level call above which an edge is flagged: Envoy's default retry budget
(20% of active requests, Envoy ``circuit_breaker.proto`` ``RetryBudget``) caps a saturated edge at about 1/(1 - 0.2) = 1.25."""

DEFAULT_STATIC_THRESHOLD = 3.0
"""Worst-case attempts per entry request above which ``meshsim validate`` warns: more than one
layer of retries, or more than 3 tries per request (Google SRE's per-request cap of 3 attempts)."""

_OVERLOAD_TOKENS = frozenset({"5xx", "gateway-error", "reset"})


def expected_tries(p: float, retries: int) -> float:
    """Mean tries of one request when each try fails independently with probability ``p`` and up to
    ``retries`` retries follow a failure: ``(1 - p^(N+1)) / (1 - p)`` (``N + 1`` when p = 1)."""
    if p >= 1.0:
        return float(retries + 1)
    return (1 - p ** (retries + 1)) / (1 - p)


def sidecar_retries(rp: RetryPolicy | None, overload_only: bool = True) -> int:
    """Retries a route's policy makes; with ``overload_only``, 0 unless it retries on 5xx or resets."""
    if rp is None:
        return 0
    if not overload_only:
        return rp.num_retries
    if rp.retry_on & _OVERLOAD_TOKENS:
        return rp.num_retries
    if "retriable-status-codes" in rp.retry_on and any(500 <= c <= 599 for c in rp.retriable_status_codes):
        return rp.num_retries
    return 0


def app_retries(call: CallStep, overload_only: bool = True) -> int:
    """App-level retries of a call; with ``overload_only``, 0 unless they retry on 5xx or timeout."""
    r = call.retries
    if r is None:
        return 0
    if overload_only and not (r.retry_on & {"5xx", "timeout"}):
        return 0
    return r.attempts


@dataclass(frozen=True)
class EdgeBound:
    """Static bound of one workload -> workload edge: ``app_tries`` = 1 + app retries and
    ``sidecar_tries`` = 1 + sidecar retries (max over the calls and routes behind the edge)."""

    source: str
    target: str
    service: str
    app_tries: int
    sidecar_tries: int

    @property
    def factor(self) -> int:
        return self.app_tries * self.sidecar_tries


def _route_retries(model: MeshModel, call: CallStep, target: str, overload_only: bool) -> int:
    clusters = {c.name: c for c in model.clusters}
    eps = {e.id: e for e in model.endpoints}
    try:
        vh = model.virtual_host(call.host)
    except KeyError:
        return 0
    best = 0
    for route in vh.routes:
        reach = any(
            f"{eps[e].service}.{eps[e].version}" == target
            for wc in route.clusters
            if wc.cluster in clusters
            for e in clusters[wc.cluster].endpoints
        )
        if reach:
            best = max(best, sidecar_retries(route.retry_policy, overload_only))
    return best


def edge_bounds(
    model: MeshModel, overload_only: bool = True, graph: nx.DiGraph | None = None
) -> dict[tuple[str, str], EdgeBound]:
    """Per workload edge (``(source key, target key)``), its worst-case tries per layer."""
    g = graph if graph is not None else workload_graph(model)
    out: dict[tuple[str, str], EdgeBound] = {}
    for a, b, data in g.edges(data=True):
        app = side = 1
        for call in data["calls"]:
            app = max(app, 1 + app_retries(call, overload_only))
            side = max(side, 1 + _route_retries(model, call, b, overload_only))
        out[(a, b)] = EdgeBound(a, b, b.split(".")[0], app, side)
    return out


def _entries(model: MeshModel) -> list[str]:
    return [w.key for w in model.service(model.load.entry).workloads]


def depths(model: MeshModel, graph: nx.DiGraph | None = None) -> dict[str, int]:
    """Hops from the entry workload(s) to each reachable workload (entry = 0)."""
    g = graph if graph is not None else workload_graph(model)
    out: dict[str, int] = {}
    for s in _entries(model):
        for k, d in nx.single_source_shortest_path_length(g, s).items():
            out[k] = min(out.get(k, d), d)
    return out


def worst_paths(model: MeshModel, overload_only: bool = True) -> list[tuple[list[str], list[EdgeBound], int]]:
    """Every simple call path from an entry workload to a workload that calls nothing reachable
    further, with its edge bounds and the product of their factors (attempts at the path's last
    service per entry request, worst case). Sorted by the product, largest first."""
    g = workload_graph(model)
    bounds = edge_bounds(model, overload_only, g)
    out: list[tuple[list[str], list[EdgeBound], int]] = []

    def walk(path: list[str], edges: list[EdgeBound], prod: int) -> None:
        nxt = [b for b in sorted(g.successors(path[-1])) if b not in path]
        if not nxt:
            if edges:
                out.append((list(path), list(edges), prod))
            return
        for b in nxt:
            e = bounds[(path[-1], b)]
            walk([*path, b], [*edges, e], prod * e.factor)

    for s in _entries(model):
        walk([s], [], 1)
    out.sort(key=lambda x: (-x[2], x[0]))
    return out


def _path_worst(model: MeshModel, overload_only: bool = True) -> dict[tuple[str, str], int]:
    """Largest path product up to and including each workload edge."""
    best: dict[tuple[str, str], int] = {}
    for _nodes, edges, _p in worst_paths(model, overload_only):
        acc = 1
        for e in edges:
            acc *= e.factor
            key = (e.source, e.target)
            best[key] = max(best.get(key, 0), acc)
    return best


def worst_case_findings(
    model: MeshModel, threshold: float = DEFAULT_STATIC_THRESHOLD, source: str = "retries"
) -> list[Finding]:
    """One ``warning`` per call path whose worst-case attempts per entry request exceed
    ``threshold`` (layers multiply), naming each layer; ``info`` for the worst
    path otherwise. Counts only retries that fire on overload (module docstring)."""
    paths = worst_paths(model)
    out: list[Finding] = []
    for nodes, edges, prod in paths:
        if prod <= threshold:
            continue
        layers = []
        for e in edges:
            parts = []
            if e.app_tries > 1:
                parts.append(f"app {e.app_tries}")
            if e.sidecar_tries > 1:
                parts.append(f"sidecar {e.sidecar_tries}")
            layers.append(f"{e.source}->{e.service}: " + (" x ".join(parts) if parts else "1"))
        out.append(
            Finding(
                "warning",
                source,
                " -> ".join(nodes),
                f"retries multiply to {prod} attempts at {edges[-1].service} per entry request in the worst case "
                f"({'; '.join(layers)}); a slowdown there can become a retry storm: retry at one layer, add a retryBudget or cap attempts",
            )
        )
    if not out and paths and paths[0][2] > 1:
        nodes, edges, prod = paths[0]
        out.append(
            Finding(
                "info", source, " -> ".join(nodes), f"worst-case retry multiplier {prod} attempts per entry request"
            )
        )
    return out


def _pool(rows: Iterable[tuple[int, int]]) -> float | None:
    n = a = 0
    for x, y in rows:
        n += x
        a += y
    return round(a / n, 6) if n else None


def amplification_report(
    model: MeshModel, summary: Summary, threshold: float = DEFAULT_FLAG_THRESHOLD
) -> AmplificationReport:
    """Measured amplification of ``summary`` per workload -> service edge and per depth.

    ``sidecar`` = attempts / sidecar requests (summed over subsets), ``app`` = tries / app calls,
    ``total`` = attempts / app calls (= sidecar x app, as each app try is one sidecar request); an
    edge is flagged when ``total`` exceeds ``threshold``. ``over_time`` has, per series interval of
    replication 0, ``sidecar_d<k>`` and ``app_d<k>`` pooled over the edges at depth k.
    """
    g = workload_graph(model)
    dep = depths(model, g)
    bounds = edge_bounds(model, True, g)
    pworst = _path_worst(model)
    side: dict[tuple[str, str], list[int]] = {}
    for e in summary.edges:
        acc_s = side.setdefault((e.source, e.destination), [0, 0])
        acc_s[0] += e.requests
        acc_s[1] += e.attempts
    app: dict[tuple[str, str], list[int]] = {}
    for c in summary.calls:
        acc_a = app.setdefault((c.source, c.destination), [0, 0])
        acc_a[0] += c.calls
        acc_a[1] += c.tries
    edges: list[EdgeAmplification] = []
    for key in sorted(set(side) | set(app), key=lambda k: (dep.get(k[0], 99), k)):
        src, dst = key
        s_req, s_att = side.get(key, [0, 0])
        a_calls, a_tries = app.get(key, [0, 0])
        sa = round(s_att / s_req, 6) if s_req else None
        aa = round(a_tries / a_calls, 6) if a_calls else None
        total = round(s_att / a_calls, 6) if a_calls and s_req else sa
        wc = max((b.factor for (a, _t), b in bounds.items() if a == src and b.service == dst), default=1)
        pw = max((v for (a, t), v in pworst.items() if a == src and t.split(".")[0] == dst), default=wc)
        edges.append(
            EdgeAmplification(
                source=src,
                destination=dst,
                depth=dep.get(src, -1),
                sidecar=sa,
                app=aa,
                total=total,
                worst_case=float(wc),
                path_worst_case=float(pw),
                flagged=total is not None and total > threshold,
            )
        )
    by_depth: dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
    for key, (r, a) in side.items():
        by_depth.setdefault(dep.get(key[0], -1), ([], []))[0].append((r, a))
    for key, (r, a) in app.items():
        by_depth.setdefault(dep.get(key[0], -1), ([], []))[1].append((r, a))
    depth_rows = [DepthAmplification(depth=d, sidecar=_pool(s), app=_pool(a)) for d, (s, a) in sorted(by_depth.items())]
    over: list[dict[str, float | int | None]] = []
    if summary.scenario is not None:
        width = summary.scenario.interval_s
        for p in summary.scenario.series:
            row: dict[str, float | int | None] = {"t_s": p.t_s}
            acc: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
            for name, pt in p.edges.items():
                s_ = name.split("->", 1)[0]
                n = round(pt.rps * width)
                acc.setdefault(str(dep.get(s_, -1)), ([], []))[0].append((n, round(n * pt.amplification)))
            for name, pt in p.calls.items():
                s_ = name.split("->", 1)[0]
                n = round(pt.rps * width)
                acc.setdefault(str(dep.get(s_, -1)), ([], []))[1].append((n, round(n * pt.amplification)))
            for d, (s_rows, a_rows) in sorted(acc.items()):
                row[f"sidecar_d{d}"] = _pool(s_rows)
                row[f"app_d{d}"] = _pool(a_rows)
            over.append(row)
    return AmplificationReport(
        threshold=threshold,
        edges=edges,
        depths=depth_rows,
        flagged=[f"{e.source}->{e.destination}" for e in edges if e.flagged],
        over_time=over,
    )

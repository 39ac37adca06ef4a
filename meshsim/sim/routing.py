"""Route tables at run time: compiled route matches (first match wins, as Envoy's virtual host does),
the weighted cluster pick, and the per-config caches every sidecar shares."""

from __future__ import annotations

import re
from collections.abc import Callable

from meshsim.model.ir import Cluster, MeshModel, Route, RouteMatch, StringMatcher

__all__ = ["RouteRT", "RouteTables", "pick_cluster", "select_route"]

Match = Callable[[str, str, dict[str, str], int, dict[str, str]], bool]


def _compile_matcher(m: StringMatcher) -> Callable[[str], bool]:
    v = m.value
    if m.ignore_case:
        v = v.lower()
        if m.kind == "exact":
            return lambda s: s.lower() == v
        if m.kind == "prefix":
            return lambda s: s.lower().startswith(v)
        rx = re.compile(v, re.IGNORECASE)
        return lambda s: rx.fullmatch(s) is not None
    if m.kind == "exact":
        return lambda s: s == v
    if m.kind == "prefix":
        return lambda s: s.startswith(v)
    rx = re.compile(v)
    return lambda s: rx.fullmatch(s) is not None


def compile_route_match(m: RouteMatch) -> Match:
    """A predicate ``ok(path, method, headers, port, source_labels)`` for one Istio ``HTTPMatchRequest``
    (all of its conditions must hold)."""
    uri = _compile_matcher(m.uri) if m.uri else None
    method = _compile_matcher(m.method) if m.method else None
    headers = [(h.name, _compile_matcher(h.matcher), h.invert) for h in m.headers]
    port = m.port
    src = m.source_labels

    def ok(path: str, meth: str, hdrs: dict[str, str], dport: int, labels: dict[str, str]) -> bool:
        if uri is not None and not uri(path):
            return False
        if method is not None and not method(meth):
            return False
        for name, f, invert in headers:
            val = hdrs.get(name)
            hit = val is not None and f(val)
            if hit == invert:
                return False
        if port is not None and port != dport:
            return False
        for k, v in src:
            if labels.get(k) != v:
                return False
        return True

    return ok


class RouteRT:
    """A route prepared for the simulator: compiled matchers, cumulative weights, and ``timed`` (a
    route or per-try timeout is set, so the router needs a control block)."""

    __slots__ = ("route", "matchers", "clusters", "cum", "total", "timed")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.matchers = [compile_route_match(m) for m in route.matches]
        self.clusters = [wc.cluster for wc in route.clusters]
        cum = []
        acc = 0
        for wc in route.clusters:
            acc += wc.weight
            cum.append(acc)
        self.cum = cum
        self.total = acc
        rp = route.retry_policy
        self.timed = route.timeout is not None or (rp is not None and rp.per_try_timeout is not None)


def select_route(routes: list[RouteRT], path: str, method: str, headers: dict[str, str], port: int,
                 labels: dict[str, str]) -> RouteRT | None:
    """The first route whose matches (any of them) accept the request; a route without matches
    accepts everything. None: no route (Envoy answers 404 ``NR``)."""
    for r in routes:
        if not r.matchers:
            return r
        for m in r.matchers:
            if m(path, method, headers, port, labels):
                return r
    return None


def pick_cluster(rt: RouteRT, u: float) -> str:
    """Envoy ``pickClusterIndex``: ``r mod total`` against cumulative weights (reference §6), with
    ``u`` uniform on [0, 1) standing for the random ``r``."""
    v = int(u * rt.total)
    for i, c in enumerate(rt.cum):
        if v < c:
            return rt.clusters[i]
    return rt.clusters[-1]


class RouteTables:
    """Runtime route and cluster tables, built once per config model and shared by every sidecar
    that has that config applied."""

    def __init__(self) -> None:
        self._routes: dict[int, dict[str, list[RouteRT]]] = {}
        self._clusters: dict[int, dict[str, Cluster]] = {}
        self._keep: list[MeshModel] = []  # keeps cached models alive so their id() stays unique

    def routes_of(self, model: MeshModel) -> dict[str, list[RouteRT]]:
        """``{virtual host: routes}`` of ``model``."""
        key = id(model)
        r = self._routes.get(key)
        if r is None:
            r = self._routes[key] = {vh.host: [RouteRT(x) for x in vh.routes] for vh in model.virtual_hosts}
            self._keep.append(model)
        return r

    def clusters_of(self, model: MeshModel) -> dict[str, Cluster]:
        """``{cluster name: cluster}`` of ``model``."""
        key = id(model)
        c = self._clusters.get(key)
        if c is None:
            c = self._clusters[key] = {x.name: x for x in model.clusters}
            self._keep.append(model)
        return c

"""Route tables at run time: compiled route matches (:mod:`meshsim.model.rules.match`; first match
wins, as in Envoy's virtual host), the weighted cluster pick, and the per-config caches every sidecar
shares."""

from __future__ import annotations

from meshsim.model.ir import Cluster, MeshModel, Route
from meshsim.model.rules.match import compile_request_match

__all__ = ["RouteRT", "RouteTables", "pick_cluster", "select_route"]


class RouteRT:
    """A route prepared for the simulator: compiled matchers, cumulative weights, and ``timed`` (a
    route or per-try timeout is set, so the router needs a control block)."""

    __slots__ = ("route", "matchers", "clusters", "cum", "total", "timed")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.matchers = [compile_request_match(m) for m in route.matches]
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


def select_route(
    routes: list[RouteRT], path: str, method: str, headers: dict[str, str], port: int, labels: dict[str, str]
) -> RouteRT | None:
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
    """Envoy ``pickClusterIndex``: ``r mod total`` against cumulative weights (source/common/router/config_impl.cc), with
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

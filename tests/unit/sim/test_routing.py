"""meshsim.sim.routing: first match wins, Envoy's weighted cluster pick, per-config table caching."""

from __future__ import annotations

from dataclasses import replace

from meshsim.model.ir import Route, RouteMatch, StringMatcher, WeightedCluster
from meshsim.sim.routing import RouteRT, RouteTables, pick_cluster, select_route

from .support import model


def _route(name: str, *uris: str, clusters: tuple[tuple[str, int], ...] = (("c", 1),)) -> Route:
    matches = tuple(RouteMatch(uri=StringMatcher("prefix", u)) for u in uris)
    return Route(name, matches, tuple(WeightedCluster(c, w) for c, w in clusters), None, None, None, name)


def test_first_matching_route_wins_and_matches_are_ored() -> None:
    table = [RouteRT(_route("a", "/a", "/b")), RouteRT(_route("any")), RouteRT(_route("never", "/a"))]
    assert select_route(table, "/b/1", "GET", {}, 80, {}).route.name == "a"  # type: ignore[union-attr]
    assert select_route(table, "/c", "GET", {}, 80, {}).route.name == "any"  # type: ignore[union-attr]
    assert select_route(table[:1], "/c", "GET", {}, 80, {}) is None


def test_weighted_pick_is_r_mod_total_against_cumulative_weights() -> None:
    """Envoy pickClusterIndex: with weights 90/10, r in [0, 90) picks the first, [90, 100) the second."""
    rt = RouteRT(_route("w", clusters=(("v1", 90), ("v2", 10))))
    assert (rt.cum, rt.total) == ([90, 100], 100)
    assert pick_cluster(rt, 0.0) == "v1"
    assert pick_cluster(rt, 0.8999) == "v1"
    assert pick_cluster(rt, 0.9) == "v2"
    assert pick_cluster(rt, 0.9999) == "v2"


def test_timed_routes_are_marked() -> None:
    assert not RouteRT(_route("r")).timed
    assert RouteRT(replace(_route("r"), timeout=1.0)).timed


def test_tables_are_built_once_per_config_model() -> None:
    m = model()
    tables = RouteTables()
    first = tables.routes_of(m)
    assert tables.routes_of(m) is first
    assert tables.clusters_of(m) is tables.clusters_of(m)
    other = replace(m)  # an equal but distinct config (a push): its own table
    assert tables.routes_of(other) is not first
    assert list(first) == [m.virtual_hosts[0].host]

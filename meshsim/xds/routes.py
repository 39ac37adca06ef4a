"""RDS: the outbound route table -> ``envoy.config.route.v3.RouteConfiguration`` (JSON dicts).

Follows istiod's ``pilot/pkg/networking/core/route/route.go`` (``BuildHTTPRoutesForVirtualService``,
``applyHTTPRouteDestination``, ``TranslateRouteMatch``, ``TranslateFault``),
``route/retry/retry.go`` (``ConvertPolicy``) and ``httproute.go`` (virtual hosts with
``include_request_attempt_count``):

- one Envoy route per Istio ``HTTPMatchRequest`` (matches are OR'ed by repeating the route), a route
  without matches matches every path (``prefix: /``); first match wins;
- matches with ``sourceLabels`` that do not select this proxy are dropped for it (istiod's
  ``sourceMatchHTTP``); a route whose matches are all dropped is not sent to this proxy;
- one destination becomes ``cluster``, several ``weighted_clusters`` (no ``total_weight``);
- ``timeout`` is written always, ``0s`` (disabled) when the VirtualService sets none, and
  ``max_grpc_timeout`` with it (istiod ``setTimeout``);
- ``retry_policy`` exactly from :class:`~meshsim.model.ir.RetryPolicy`; absent when ``attempts: 0``;
- ``hash_policy`` from the destinations' consistent hash (``ConsistentHashToHashPolicy``);
- header matchers as ``present_match`` or ``string_match``, with ``invert_match`` and
  ``treat_missing_header_as_empty`` for ``withoutHeaders`` (``TranslateRouteMatch``);
- the route is named ``<http name>.<match name>`` when the match has a name (``TranslateRoute``);
- virtual-host domains without ports, ``ignore_port_in_host_matching`` on the route configuration, the
  bare service name only for callers in the service's namespace (``generateVirtualHostDomains``,
  ``buildSidecarOutboundHTTPRouteConfig``);
- fault injection as ``typed_per_filter_config`` of ``envoy.filters.http.fault``.

The inbound route (server side) is istiod's ``BuildDefaultHTTPInboundRoute``: timeout 0 and, except
on gRPC ports, 2 retries on ``reset-before-request`` [1.24+].

Deviation (loopback mode): all virtual hosts go into one route configuration ``outbound`` served by
the 15001 listener (Istio makes one per port, ``"8080"``, behind per-port listeners); ``RouteMatch.port``
is honoured by dropping matches for other ports. There is no ``allow_any``/PassthroughCluster
virtual host: an unknown Host gets 404 NR.
"""

from __future__ import annotations

from typing import Any

from meshsim.model.compile.routes import domains_for
from meshsim.model.ir import (
    FaultPolicy,
    HashPolicy,
    HeaderMatcher,
    MeshModel,
    RetryPolicy,
    Route,
    RouteMatch,
    StringMatcher,
    VirtualHost,
)
from meshsim.model.rules.match import ignores_case
from meshsim.xds.common import duration, fraction, typed
from meshsim.xds.ports import PortPlan

__all__ = [
    "FAULT_FILTER",
    "OUTBOUND_ROUTE_NAME",
    "build_routes",
    "hash_policy_entry",
    "inbound_route_config",
    "retry_policy",
    "route_entries",
]

OUTBOUND_ROUTE_NAME = "outbound"
FAULT_FILTER = "envoy.filters.http.fault"


def _string_match(m: StringMatcher) -> dict[str, Any]:
    """Envoy ``StringMatcher``; ``ignore_case`` only where it has an effect (:func:`ignores_case`:
    Envoy ignores it for ``safe_regex``)."""
    if m.kind == "exact":
        out: dict[str, Any] = {"exact": m.value}
    elif m.kind == "prefix":
        out = {"prefix": m.value}
    else:
        out = {"safe_regex": {"regex": m.value}}
    if ignores_case(m):
        out["ignore_case"] = True
    return out


def _header(h: HeaderMatcher) -> dict[str, Any]:
    """Envoy ``HeaderMatcher``: ``present_match`` when the IR matcher is a presence match (None)."""
    out: dict[str, Any] = {"name": h.name}
    if h.matcher is None:
        out["present_match"] = True
    else:
        out["string_match"] = _string_match(h.matcher)
    if h.invert:
        out["invert_match"] = True
    if h.treat_missing_as_empty:
        out["treat_missing_header_as_empty"] = True
    return out


def _match(m: RouteMatch | None) -> dict[str, Any]:
    out: dict[str, Any]
    if m is None or m.uri is None:
        out = {"prefix": "/"}
    elif m.uri.kind == "exact":
        out = {"path": m.uri.value}
    elif m.uri.kind == "prefix":
        out = {"prefix": m.uri.value}
    else:
        out = {"safe_regex": {"regex": m.uri.value}}
    if m is not None and m.uri is not None and ignores_case(m.uri):
        # istiod writes case_sensitive = !ignoreUriCase for every path specifier; Envoy ignores it
        # for safe_regex, so it is written only where it has an effect (the matcher's rule)
        out["case_sensitive"] = False
    headers: list[dict[str, Any]] = []
    if m is not None:
        headers.extend(_header(h) for h in m.headers)
        if m.method is not None:  # istiod appends :method after the sorted header matchers
            headers.append({"name": ":method", "string_match": _string_match(m.method)})
    if headers:
        out["headers"] = headers
    return out


def retry_policy(rp: RetryPolicy) -> dict[str, Any]:
    """``RouteAction.retry_policy`` for ``rp`` (Envoy ``route_components.proto`` ``RetryPolicy``).

    ``retry_on`` tokens are joined by commas (sorted, for stable output); ``retry_back_off`` base and
    max are always written (Envoy's implicit default max is 10x base; writing it keeps the model's
    value authoritative); the ``previous_hosts`` predicate when ``rp.previous_hosts`` is set (istiod
    omits it for consistent-hash routes), ``host_selection_retry_max_attempts`` always (istiod's
    ``newRetryPolicy`` sets 5 either way).
    """
    out: dict[str, Any] = {
        "retry_on": ",".join(sorted(rp.retry_on)),
        "num_retries": rp.num_retries,
    }
    if rp.retriable_status_codes:
        out["retriable_status_codes"] = sorted(rp.retriable_status_codes)
    if rp.per_try_timeout is not None:
        out["per_try_timeout"] = duration(rp.per_try_timeout)
    if rp.previous_hosts:
        out["retry_host_predicate"] = [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": typed("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"),
            }
        ]
    out["host_selection_retry_max_attempts"] = str(rp.host_selection_retry_max_attempts)
    out["retry_back_off"] = {"base_interval": duration(rp.backoff_base), "max_interval": duration(rp.backoff_max)}
    return out


def hash_policy_entry(h: HashPolicy) -> dict[str, Any]:
    """One ``RouteAction.hash_policy`` entry (istiod ``ConsistentHashToHashPolicy``)."""
    if h.kind == "header":
        return {"header": {"header_name": h.name}}
    if h.kind == "cookie":
        cookie: dict[str, Any] = {"name": h.name}
        if h.cookie_ttl is not None:
            cookie["ttl"] = duration(h.cookie_ttl)
        if h.cookie_path:
            cookie["path"] = h.cookie_path
        return {"cookie": cookie}
    if h.kind == "source_ip":
        return {"connection_properties": {"source_ip": True}}
    return {"query_parameter": {"name": h.name}}


def _fault(f: FaultPolicy) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if f.delay_fraction > 0:
        body["delay"] = {"fixed_delay": duration(f.delay), "percentage": fraction(f.delay_fraction)}
    if f.abort_fraction > 0:
        body["abort"] = {"http_status": f.abort_status, "percentage": fraction(f.abort_fraction)}
    return typed("envoy.extensions.filters.http.fault.v3.HTTPFault", body)


def _keep_match(m: RouteMatch, vh: VirtualHost, labels: dict[str, str]) -> bool:
    if m.port is not None and m.port != vh.port:
        return False
    return all(labels.get(k) == v for k, v in m.source_labels)


def route_entries(route: Route, vh: VirtualHost, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The Envoy routes for one IR route as seen by a proxy with pod ``labels`` (one per kept match)."""
    if route.matches:
        kept: list[RouteMatch | None] = [m for m in route.matches if _keep_match(m, vh, labels)]
        if not kept:
            return []
    else:
        kept = [None]
    action: dict[str, Any] = {}
    if len(route.clusters) == 1:
        action["cluster"] = route.clusters[0].cluster
    else:
        action["weighted_clusters"] = {"clusters": [{"name": w.cluster, "weight": w.weight} for w in route.clusters]}
    timeout = duration(route.timeout) if route.timeout is not None else "0s"
    action["timeout"] = timeout
    if route.retry_policy is not None:
        action["retry_policy"] = retry_policy(route.retry_policy)
    # istiod caps grpc-timeout headers at the route timeout, 0s = uncapped (route.go setTimeout: the
    # deprecated max_grpc_timeout, "as the replacement MaxStreamDuration has some regressions")
    action["max_grpc_timeout"] = timeout
    if route.hash_policy:
        action["hash_policy"] = [hash_policy_entry(h) for h in route.hash_policy]
    out = []
    for m in kept:
        # istiod names the route "<http name>.<match name>" when the match has a name (TranslateRoute)
        name = f"{route.name}.{m.name}" if m is not None and m.name else route.name
        r: dict[str, Any] = {"name": name, "match": _match(m), "route": action}
        if route.fault is not None:
            r["typed_per_filter_config"] = {FAULT_FILTER: _fault(route.fault)}
        out.append(r)
    return out


def build_routes(model: MeshModel, proxy_id: str, plan: PortPlan) -> list[dict[str, Any]]:
    """RDS for ``proxy_id``: the single outbound ``RouteConfiguration`` named ``outbound``.

    One virtual host per destination service with its IR ``domains``; ``include_request_attempt_count``
    on every outbound virtual host (Istio, ``httproute.go``), so the app sees
    ``x-envoy-attempt-count``.
    """
    proxy = next((p for p in model.proxies if p.id == proxy_id), None)
    if proxy is None:
        raise KeyError(proxy_id)
    labels = dict(proxy.labels)
    namespaces = {s.host: s.namespace for s in model.services}
    caller_ns = next((s.namespace for s in model.services if s.name == proxy.service), "default")
    vhosts = []
    for vh in model.virtual_hosts:
        routes = [e for r in vh.routes for e in route_entries(r, vh, labels)]
        vhosts.append(
            {
                "name": vh.name,
                "domains": list(domains_for(vh, namespaces.get(vh.host, caller_ns), caller_ns)),
                "routes": routes,
                "include_request_attempt_count": True,
            }
        )
    # istiod buildSidecarOutboundHTTPRouteConfig: domains carry no port, the port is ignored in matching
    rc: dict[str, Any] = {
        "name": OUTBOUND_ROUTE_NAME,
        "virtual_hosts": vhosts,
        "validate_clusters": False,
        "ignore_port_in_host_matching": True,
    }
    if plan.access_log_dir is not None:
        from meshsim.xds.telemetry import peer_header

        rc["request_headers_to_add"] = peer_header(proxy_id)
    return [rc]


def inbound_route_config(cluster_name: str, port: int, grpc: bool = False) -> dict[str, Any]:
    """The server sidecar's route: everything to ``cluster_name`` (``inbound|<port>||``), timeout 0,
    and, unless the port speaks gRPC (``grpc``), 2 retries on ``reset-before-request`` (istiod
    ``BuildDefaultHTTPInboundRoute`` [1.24+]: "inbound retries are never configured for gRPC ports";
    ``route/retry/retry.go`` ``ConvertInboundPolicy``)."""
    action: dict[str, Any] = {"cluster": cluster_name, "timeout": "0s"}
    if not grpc:
        action["retry_policy"] = {"retry_on": "reset-before-request", "num_retries": 2}
    action["max_stream_duration"] = {"grpc_timeout_header_max": "0s"}
    return {
        "name": cluster_name,
        "validate_clusters": False,
        "virtual_hosts": [
            {
                "name": f"inbound|http|{port}",
                "domains": ["*"],
                "routes": [{"name": "default", "match": {"prefix": "/"}, "route": action}],
            }
        ],
    }

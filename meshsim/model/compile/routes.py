"""Routes: VirtualServices -> Envoy virtual hosts and ordered routes (first match wins) with
weighted clusters, retry policy, timeout and fault (istiod ``pilot/pkg/networking/core/route/route.go``,
``httproute.go``)."""

from __future__ import annotations

from meshsim.config.istio import (
    ConsistentHashLB,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRouteDestination,
    StringMatch,
    TrafficPolicy,
    VirtualService,
)
from meshsim.config.loader import Doc, MeshConfig
from meshsim.model.compile.clusters import destination_hash, hash_policy, service_hash
from meshsim.model.compile.context import Ctx, SvcInfo, resolve_host, visible_to_callers
from meshsim.model.ir import (
    FaultPolicy,
    HashPolicy,
    HeaderMatcher,
    RetryPolicy,
    Route,
    RouteMatch,
    Service,
    StringMatcher,
    VirtualHost,
    WeightedCluster,
)
from meshsim.model.rules.retry import convert_retry_policy


def _fault(f: HTTPFaultInjection | None) -> FaultPolicy | None:
    """Istio ``TranslateFault``: percentage (double) or the deprecated int ``percent``; unset = 0%."""
    if f is None:
        return None
    delay_frac = 0.0
    delay = 0.0
    if f.delay is not None and f.delay.fixedDelay is not None:
        delay = f.delay.fixedDelay
        if f.delay.percentage is not None:
            delay_frac = f.delay.percentage.value / 100.0
        elif f.delay.percent is not None:
            delay_frac = f.delay.percent / 100.0
    abort_frac = 0.0
    status = 0
    if f.abort is not None and f.abort.httpStatus is not None:
        status = f.abort.httpStatus
        if f.abort.percentage is not None:
            abort_frac = f.abort.percentage.value / 100.0
    if delay_frac == 0.0 and abort_frac == 0.0:
        return None
    return FaultPolicy(delay_frac, delay, abort_frac, status)


def _matcher(m: StringMatch, ignore_case: bool = False) -> StringMatcher | None:
    """Envoy's ``StringMatcher`` for ``m``; None for a presence match (``{}``, or ``regex: "*"``)."""
    if m.exact is not None:
        return StringMatcher("exact", m.exact, ignore_case)
    if m.prefix is not None:
        return StringMatcher("prefix", m.prefix, ignore_case)
    if m.regex is not None and not m.is_presence:
        return StringMatcher("regex", m.regex, ignore_case)
    return None


def _route_match(m: HTTPMatchRequest) -> RouteMatch:
    """istiod ``TranslateRouteMatch``: ``headers`` as header matchers (a presence match is
    ``present_match``), ``withoutHeaders`` inverted, with ``treat_missing_header_as_empty`` on string
    matches (it conflicts with ``present_match``); a ``uri`` or ``method`` of ``{}`` constrains nothing
    (the path stays ``prefix: /``; every request has a method)."""
    headers = [HeaderMatcher(k.lower(), _matcher(v)) for k, v in m.headers.items()]
    for k, v in m.withoutHeaders.items():
        sm = _matcher(v)
        headers.append(HeaderMatcher(k.lower(), sm, invert=True, treat_missing_as_empty=sm is not None))
    headers.sort(key=lambda h: h.name)  # istiod sorts the header matchers by name
    return RouteMatch(
        uri=_matcher(m.uri, m.ignoreUriCase) if m.uri else None,
        method=_matcher(m.method) if m.method else None,
        headers=tuple(headers),
        port=m.port,
        source_labels=tuple(sorted(m.sourceLabels.items())),
        name=m.name or "",
    )


Policies = dict[str, tuple[TrafficPolicy | None, dict[str, TrafficPolicy | None]]]
"""Per service: its DestinationRule's top-level and per-subset traffic policies."""


def http_routes(
    ctx: Ctx,
    d: Doc,
    vs: VirtualService,
    infos: dict[str, SvcInfo],
    cluster_names: dict[tuple[str, str], str],
    default_retry: RetryPolicy | None,
    policies: Policies | None = None,
    builtin_retry: RetryPolicy | None = None,
) -> list[Route]:
    """The Envoy routes of one VirtualService's ``http`` list, in order (first match wins).

    ``default_retry`` is the mesh's default route retry policy (None: disabled), ``builtin_retry``
    Istio's built-in one that a ``retries`` block starts from (None: Istio 1.24+'s); ``policies``
    give each destination's consistent hash (none without them)."""
    src = str(d.source)
    routes: list[Route] = []
    for i, http in enumerate(vs.spec.http):
        hloc = f"spec.http[{i}]"
        if not http.route:
            ctx.warn(
                src, hloc, "route has no destinations (redirect/directResponse/delegate are not modelled); skipped"
            )
            continue
        wcs: list[WeightedCluster] = []
        for j, rd in enumerate(http.route):
            dloc = f"{hloc}.route[{j}].destination"
            dest = resolve_host(rd.destination.host, infos, vs.metadata.namespace or "default")
            if dest is None:
                ctx.error(src, f"{dloc}.host", f"unknown host {rd.destination.host!r}")
                continue
            subset = rd.destination.subset or ""
            if (dest.sdef.name, subset) not in cluster_names:
                ctx.error(
                    src, f"{dloc}.subset", f"unknown subset {subset!r} of {dest.host} (no DestinationRule defines it)"
                )
                continue
            if rd.destination.port is not None and rd.destination.port.number != dest.port:
                ctx.warn(src, f"{dloc}.port.number", f"{dest.sdef.name} serves port {dest.port}; using it")
            weight = rd.weight if rd.weight is not None else (100 if len(http.route) == 1 else 0)
            if weight > 0:
                wcs.append(WeightedCluster(cluster_names[(dest.sdef.name, subset)], weight))
        if not wcs:
            if not any(f.level == "error" and f.loc.startswith(hloc) and f.source == src for f in ctx.findings):
                ctx.error(src, f"{hloc}.route", "total destination weight is 0")
            continue
        # istiod: every destination's hash policy is appended; only a single-destination route drops the
        # previous_hosts retry predicate (applyHTTPRouteDestination)
        kept = [rd for rd in http.route if len(http.route) == 1 or (rd.weight or 0) > 0]
        hashes = [h for rd in kept if (h := _destination_hash(rd, infos, vs, policies)) is not None]
        single_hash = len(http.route) == 1 and _destination_hash_lb(http.route[0], infos, vs, policies) is not None
        rp = convert_retry_policy(
            http.retries,
            default_retry,
            src,
            f"{hloc}.retries",
            builtin=builtin_retry,
            consistent_hash=single_hash,
        )
        routes.append(
            Route(
                name=http.name or f"{vs.metadata.name}.{i}",
                matches=tuple(_route_match(m) for m in http.match),
                clusters=tuple(wcs),
                timeout=http.timeout or None,
                retry_policy=rp,
                fault=_fault(http.fault),
                source=f"VirtualService/{vs.metadata.name} {hloc}",
                hash_policy=tuple(hashes),
            )
        )
    return routes


def _destination_hash_lb(
    rd: HTTPRouteDestination, infos: dict[str, SvcInfo], vs: VirtualService, policies: Policies | None
) -> ConsistentHashLB | None:
    dest = resolve_host(rd.destination.host, infos, vs.metadata.namespace or "default")
    if dest is None or not policies or dest.sdef.name not in policies:
        return None
    top, subs = policies[dest.sdef.name]
    sub = subs.get(rd.destination.subset or "") if rd.destination.subset else None
    port = rd.destination.port.number if rd.destination.port is not None else None
    return destination_hash(top, sub, port)


def _destination_hash(
    rd: HTTPRouteDestination, infos: dict[str, SvcInfo], vs: VirtualService, policies: Policies | None
) -> HashPolicy | None:
    return hash_policy(_destination_hash_lb(rd, infos, vs, policies))


def bind_virtual_services(
    ctx: Ctx, cfg: MeshConfig, infos: dict[str, SvcInfo]
) -> tuple[list[tuple[Doc, VirtualService]], dict[str, tuple[Doc, VirtualService]]]:
    """Split VirtualServices by where they apply (Istio's implicit ``mesh`` gateway): one without
    ``gateways`` (or listing ``mesh``) applies to sidecars, one bound to a Gateway to that gateway.
    Returns (gateway-bound, sidecar VirtualService by service); a second sidecar VirtualService for a
    host is ignored with a warning (Istio uses one)."""
    gw_vs: list[tuple[Doc, VirtualService]] = []
    vs_by_service: dict[str, tuple[Doc, VirtualService]] = {}
    for d in cfg.virtual_services:
        vs: VirtualService = d.obj
        gws = vs.spec.gateways
        if gws is not None and any(g != "mesh" for g in gws):
            gw_vs.append((d, vs))
        if gws is not None and "mesh" not in gws:
            continue
        for hi, h in enumerate(vs.spec.hosts):
            target = resolve_host(h, infos, vs.metadata.namespace or "default")
            if target is None:
                ctx.warn(str(d.source), f"spec.hosts[{hi}]", f"host {h!r} is not a service of the topology; ignored")
                continue
            ns = vs.metadata.namespace or "default"
            if not visible_to_callers(
                ctx, str(d.source), "spec.", "VirtualService", vs.spec.exportTo, ns, target, infos
            ):
                continue
            if target.sdef.name in vs_by_service:
                other = vs_by_service[target.sdef.name][1].metadata.name
                ctx.warn(
                    str(d.source),
                    f"spec.hosts[{hi}]",
                    f"{target.host} already has VirtualService {other}; Istio uses one, this one is ignored",
                )
                continue
            vs_by_service[target.sdef.name] = (d, vs)
    return gw_vs, vs_by_service


def service_domains(name: str, namespace: str, host: str) -> tuple[str, ...]:
    """The domains of a service's sidecar virtual host, as istiod's ``generateVirtualHostDomains``
    writes them for a caller in the service's own namespace (``pilot/pkg/networking/core/httproute.go``;
    ``TestGenerateVirtualHostDomains``): the FQDN, its absolute form with a trailing dot, the bare
    name, ``<name>.<namespace>.svc`` and ``<name>.<namespace>``, all without a port (sidecars set
    ``ignore_port_in_host_matching``, so ``Host: svc:8080`` selects them too). A caller in another
    namespace does not get the bare name (:func:`domains_for`)."""
    return (host, f"{host}.", name, f"{name}.{namespace}.svc", f"{name}.{namespace}")


def domains_for(vh: VirtualHost, service_namespace: str, caller_namespace: str) -> tuple[str, ...]:
    """``vh``'s domains for a sidecar in ``caller_namespace``: istiod expands the short forms by the
    proxy's DNS domain (``<ns>.svc.cluster.local``), so the bare name is left out for a caller in
    another namespace, where it would mean a service of that namespace."""
    if caller_namespace == service_namespace:
        return vh.domains
    bare = vh.host.split(".", 1)[0]
    return tuple(d for d in vh.domains if d != bare)


def build_virtual_hosts(
    ctx: Ctx,
    services: list[Service],
    vs_by_service: dict[str, tuple[Doc, VirtualService]],
    infos: dict[str, SvcInfo],
    cluster_names: dict[tuple[str, str], str],
    default_retry: RetryPolicy | None,
    policies: Policies | None = None,
    builtin_retry: RetryPolicy | None = None,
) -> list[VirtualHost]:
    """One virtual host ``<fqdn>:<port>`` per service (domains: :func:`service_domains`); without a
    VirtualService, one default route to the service's cluster with the mesh default retry policy, no
    timeout and the DestinationRule's consistent hash (istiod ``buildSidecarVirtualHostForService``:
    the previous_hosts predicate stays, ``BuildDefaultHTTPOutboundRoute``). ``policies`` and
    ``builtin_retry`` as in :func:`http_routes`."""
    vhosts: list[VirtualHost] = []
    for svc in services:
        domains = service_domains(svc.name, svc.namespace, svc.host)
        vs_entry = vs_by_service.get(svc.name)
        routes: list[Route] = []
        if vs_entry is None:
            top = policies[svc.name][0] if policies and svc.name in policies else None
            h = hash_policy(service_hash(top, svc.port))
            routes.append(
                Route(
                    "default",
                    (),
                    (WeightedCluster(cluster_names[(svc.name, "")], 100),),
                    None,
                    default_retry,
                    None,
                    "default",
                    hash_policy=(h,) if h is not None else (),
                )
            )
        else:
            d, vs = vs_entry
            routes.extend(http_routes(ctx, d, vs, infos, cluster_names, default_retry, policies, builtin_retry))
        vhosts.append(VirtualHost(f"{svc.host}:{svc.port}", svc.host, svc.port, domains, tuple(routes)))
    return vhosts

"""Routes: VirtualServices -> Envoy virtual hosts and ordered routes (first match wins) with
weighted clusters, retry policy, timeout and fault (istiod ``pilot/pkg/networking/core/route/route.go``,
``httproute.go``)."""

from __future__ import annotations

from meshsim.config.istio import HTTPFaultInjection, HTTPMatchRequest, StringMatch, VirtualService
from meshsim.config.loader import Doc, MeshConfig
from meshsim.model.compile.context import Ctx, SvcInfo, resolve_host, visible_to_callers
from meshsim.model.ir import (
    FaultPolicy,
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


def _matcher(m: StringMatch, ignore_case: bool = False) -> StringMatcher:
    if m.exact is not None:
        return StringMatcher("exact", m.exact, ignore_case)
    if m.prefix is not None:
        return StringMatcher("prefix", m.prefix, ignore_case)
    return StringMatcher("regex", m.regex or "", ignore_case)


def _route_match(m: HTTPMatchRequest) -> RouteMatch:
    headers = [HeaderMatcher(k.lower(), _matcher(v)) for k, v in sorted(m.headers.items())]
    headers += [HeaderMatcher(k.lower(), _matcher(v), invert=True) for k, v in sorted(m.withoutHeaders.items())]
    return RouteMatch(
        uri=_matcher(m.uri, m.ignoreUriCase) if m.uri else None,
        method=_matcher(m.method) if m.method else None,
        headers=tuple(headers),
        port=m.port,
        source_labels=tuple(sorted(m.sourceLabels.items())),
    )


def http_routes(
    ctx: Ctx,
    d: Doc,
    vs: VirtualService,
    infos: dict[str, SvcInfo],
    cluster_names: dict[tuple[str, str], str],
    default_retry: RetryPolicy,
) -> list[Route]:
    """The Envoy routes of one VirtualService's ``http`` list, in order (first match wins)."""
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
        rp = convert_retry_policy(http.retries, default_retry, src, f"{hloc}.retries")
        routes.append(
            Route(
                name=http.name or f"{vs.metadata.name}.{i}",
                matches=tuple(_route_match(m) for m in http.match),
                clusters=tuple(wcs),
                timeout=http.timeout or None,
                retry_policy=rp,
                fault=_fault(http.fault),
                source=f"VirtualService/{vs.metadata.name} {hloc}",
            )
        )
    return routes


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


def build_virtual_hosts(
    ctx: Ctx,
    services: list[Service],
    vs_by_service: dict[str, tuple[Doc, VirtualService]],
    infos: dict[str, SvcInfo],
    cluster_names: dict[tuple[str, str], str],
    default_retry: RetryPolicy,
) -> list[VirtualHost]:
    """One virtual host ``<fqdn>:<port>`` per service (domains: short name, ``name.namespace``, FQDN,
    each with and without the port); without a VirtualService, one default route to the service's
    cluster with the mesh default retry policy and no timeout."""
    vhosts: list[VirtualHost] = []
    for svc in services:
        domains = (
            svc.name,
            f"{svc.name}.{svc.namespace}",
            svc.host,
            f"{svc.name}:{svc.port}",
            f"{svc.host}:{svc.port}",
        )
        vs_entry = vs_by_service.get(svc.name)
        routes: list[Route] = []
        if vs_entry is None:
            routes.append(
                Route(
                    "default",
                    (),
                    (WeightedCluster(cluster_names[(svc.name, "")], 100),),
                    None,
                    default_retry,
                    None,
                    "default",
                )
            )
        else:
            d, vs = vs_entry
            routes.extend(http_routes(ctx, d, vs, infos, cluster_names, default_retry))
        vhosts.append(VirtualHost(f"{svc.host}:{svc.port}", svc.host, svc.port, domains, tuple(routes)))
    return vhosts

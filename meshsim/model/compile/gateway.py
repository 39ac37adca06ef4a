"""The ingress gateway: a Gateway plus the VirtualServices bound to it -> one gateway Envoy with its
route table (istiod ``pilot/pkg/networking/core/gateway.go``)."""

from __future__ import annotations

from meshsim.config.istio import Gateway, VirtualService
from meshsim.config.loader import Doc, MeshConfig
from meshsim.model.compile.context import Ctx, SvcInfo, service_account
from meshsim.model.compile.routes import Policies, http_routes
from meshsim.model.ir import GatewayIR, RetryPolicy, Route, VirtualHost


def _gateways_by_name(ctx: Ctx, cfg: MeshConfig, bound: list[tuple[Doc, VirtualService]]) -> dict[str, Doc]:
    """The input's Gateways by ``namespace/name``; warns for each VirtualService binding to a Gateway that is not
    in the input."""
    gws = {}
    for d in cfg.gateways:
        g = d.obj
        ns = g.metadata.namespace or "default"
        gws[f"{ns}/{g.metadata.name}"] = d
    for d, vs in bound:
        vns = vs.metadata.namespace or "default"
        for gi, gname in enumerate(vs.spec.gateways or []):
            if gname == "mesh":
                continue
            full = gname if "/" in gname else f"{vns}/{gname}"
            if full not in gws:
                ctx.warn(
                    str(d.source), f"spec.gateways[{gi}]", f"no Gateway {gname!r} in the input; this binding is unused"
                )
    return gws


def _gateway_pods(cfg: MeshConfig, gw: Gateway, replicas: int | None) -> tuple[str, dict[str, str], str, int | None]:
    """(workload, pod labels, service account, replicas) of the gateway: the first Deployment whose pod labels
    match the Gateway ``selector``, else Istio's ``istio-ingressgateway`` defaults; ``replicas`` (LoadProfile
    ``gatewayReplicas``) wins over the Deployment's."""
    workload = "istio-ingressgateway"
    labels = dict(gw.spec.selector)
    sa = "istio-ingressgateway-service-account"
    for dep in cfg.deployments:
        pl = dep.obj.pod_labels
        if gw.spec.selector and all(pl.get(k) == v for k, v in gw.spec.selector.items()):
            workload = dep.obj.metadata.name
            labels = pl
            if replicas is None:
                replicas = dep.obj.spec.replicas
            acct = service_account(cfg, dep)
            if acct != "default":
                sa = acct
            break
    return workload, labels, sa, replicas


def build_gateway(
    ctx: Ctx,
    cfg: MeshConfig,
    bound: list[tuple[Doc, VirtualService]],
    infos: dict[str, SvcInfo],
    cluster_names: dict[tuple[str, str], str],
    default_retry: RetryPolicy,
    policies: Policies | None = None,
    builtin_retry: RetryPolicy | None = None,
) -> GatewayIR | None:
    """The ingress gateway the LoadProfile names (``spec.gateway``), with routes from the
    VirtualServices bound to it only (a gateway-bound VS never reaches sidecars, and a VS without
    ``gateways`` never reaches the gateway: Istio's ``mesh`` gateway semantics). Routes of several
    bound VirtualServices are concatenated in input order (Istio merges them per host; the load's
    Host is assumed to match every bound VS's ``hosts``). Pods: LoadProfile ``gatewayReplicas``, else
    a Deployment whose pod labels match the Gateway ``selector``, else 1. ``policies`` (the DestinationRules'
    traffic policies, for consistent-hash routes) and ``builtin_retry`` (Istio's built-in retry policy, which a
    VirtualService's ``retries`` starts from) are as for the sidecars' routes."""
    lp = cfg.load_profile.spec
    lsrc = str(cfg.load.source) if cfg.load else "LoadProfile"
    gws = _gateways_by_name(ctx, cfg, bound)
    if lp.gateway is None:
        for name in gws:
            ctx.info(
                str(gws[name].source),
                "",
                "Gateway is loaded but the LoadProfile does not enter through it (set LoadProfile spec.gateway)",
            )
        return None
    want = (
        lp.gateway
        if "/" in lp.gateway
        else f"{(cfg.load.obj.metadata.namespace if cfg.load and cfg.load.obj.metadata else None) or 'default'}/{lp.gateway}"
    )
    gdoc = gws.get(want)
    if gdoc is None:
        ctx.error(
            lsrc, "spec.gateway", f"no Gateway {lp.gateway!r} in the input (known: {', '.join(sorted(gws)) or 'none'})"
        )
        return None
    gw = gdoc.obj
    routes: list[Route] = []
    for d, vs in bound:
        vns = vs.metadata.namespace or "default"
        names = {g if "/" in g else f"{vns}/{g}" for g in (vs.spec.gateways or []) if g != "mesh"}
        if want in names:
            routes.extend(http_routes(ctx, d, vs, infos, cluster_names, default_retry, policies, builtin_retry))
    if not routes:
        ctx.warn(str(gdoc.source), "", "no VirtualService bound to this Gateway has a route: every request gets 404 NR")
    workload, labels, sa, replicas = _gateway_pods(cfg, gw, lp.gatewayReplicas)
    n = replicas if replicas is not None else 1
    if n < 1:
        ctx.error(lsrc, "spec.gatewayReplicas", "the gateway has 0 pods")
        return None
    domains = tuple(sorted({h for s in gw.spec.servers for h in s.hosts})) or ("*",)
    vh = VirtualHost(
        f"{want}:gateway", "*", gw.spec.servers[0].port.number if gw.spec.servers else 80, domains, tuple(routes)
    )
    return GatewayIR(
        name=want,
        workload=workload,
        namespace="istio-system",
        service_account=sa,
        proxies=tuple(f"{workload}-{i}" for i in range(n)),
        labels=tuple(sorted(labels.items())),
        virtual_host=vh,
    )

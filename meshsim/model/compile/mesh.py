"""The orchestrator: one compile of a :class:`~meshsim.config.MeshConfig` into a :class:`MeshModel`.

It calls one builder per resource kind in istiod's order (``pilot/pkg/networking/core``: services
and workloads, clusters, routes, gateway, security, load) and collects their findings.
"""

from __future__ import annotations

from meshsim.config.loader import MeshConfig
from meshsim.errors import Finding
from meshsim.model.compile.autoscaling import build_autoscalers
from meshsim.model.compile.clusters import build_clusters, collect_destination_rules
from meshsim.model.compile.context import Ctx, SvcInfo
from meshsim.model.compile.gateway import build_gateway
from meshsim.model.compile.load import load_spec
from meshsim.model.compile.routes import bind_virtual_services, build_virtual_hosts
from meshsim.model.compile.security import authz_policies
from meshsim.model.compile.services import build_services, collect_services
from meshsim.model.errors import CompileError
from meshsim.model.graph import reachable_services
from meshsim.model.ir import UINT32_MAX, GatewayIR, MeshModel, MeshSettingsIR, RetryPolicy, Service, VirtualHost
from meshsim.model.rules.dist import to_dist
from meshsim.model.rules.retry import ENVOY_RAW_MAX_RETRIES, convert_retry_policy, default_retry_policy

__all__ = ["compile_checked", "compile_model", "compile_with_findings"]


def _default_retry(cfg: MeshConfig) -> RetryPolicy:
    """The mesh's default route retry policy: Istio's, or MeshSettings ``defaultHttpRetryPolicy``
    converted over it (None when that sets ``attempts: 0``)."""
    settings = cfg.mesh_settings.spec
    base_default = default_retry_policy(settings.excludeUnsafe503FromDefaultRetry)
    if settings.defaultHttpRetryPolicy is None:
        return base_default
    src = str(cfg.settings.source) if cfg.settings else "MeshSettings"
    converted = convert_retry_policy(
        settings.defaultHttpRetryPolicy, base_default, src, "spec.defaultHttpRetryPolicy", builtin=base_default
    )
    return converted  # type: ignore[return-value]


def _report_empty_subsets(
    ctx: Ctx,
    empty: list[tuple[str, str, str, str]],
    names: dict[tuple[str, str], str],
    vhosts: list[VirtualHost],
    gateway: GatewayIR | None,
) -> None:
    """A subset selecting no pod is a warning when a route uses it (503 UH), else a note."""
    routed = {wc.cluster for vh in vhosts for r in vh.routes for wc in r.clusters}
    if gateway is not None:
        routed |= {wc.cluster for r in gateway.virtual_host.routes for wc in r.clusters}
    for src_, loc_, sname, svc_name in empty:
        msg = f"subset {sname!r} selects no pods of {svc_name}"
        if names[(svc_name, sname)] in routed:
            ctx.warn(src_, loc_, msg + "; requests routed to it get 503 UH")
        else:
            ctx.info(src_, loc_, msg + " (no route uses it)")


def compile_with_findings(cfg: MeshConfig) -> tuple[MeshModel | None, list[Finding]]:
    """Resolve ``cfg`` into a :class:`MeshModel`, collecting every finding.

    Returns ``(model, findings)``; ``model`` is None when any finding is an error. Findings include
    the loader's notes, in input order per builder (they appear in ``meshsim validate`` output and
    the model's ``notes``).
    """
    ctx = Ctx(list(cfg.notes))
    settings = cfg.mesh_settings.spec
    max_retries_default = UINT32_MAX if settings.maxRetriesDefault == "istio" else ENVOY_RAW_MAX_RETRIES
    default_retry = _default_retry(cfg)
    infos = collect_services(ctx, cfg)
    services, proxies, nodes = build_services(ctx, cfg, infos)
    drs = collect_destination_rules(ctx, cfg, infos)
    cs = build_clusters(services, infos, drs, max_retries_default)
    gw_vs, vs_by_service = bind_virtual_services(ctx, cfg, infos)
    builtin_retry = default_retry_policy(settings.excludeUnsafe503FromDefaultRetry)
    vhosts = build_virtual_hosts(
        ctx, services, vs_by_service, infos, cs.names, default_retry, cs.policies, builtin_retry
    )
    gateway = build_gateway(ctx, cfg, gw_vs, infos, cs.names, default_retry, cs.policies, builtin_retry)
    _report_empty_subsets(ctx, cs.empty_subsets, cs.names, vhosts, gateway)
    load = load_spec(ctx, cfg, infos)
    autoscalers = build_autoscalers(ctx, cfg, services)
    sidecar = to_dist(settings.sidecar.latency)
    if load is None or any(f.level == "error" for f in ctx.findings):
        return None, ctx.findings
    authz = authz_policies(ctx, cfg, services)
    mtls, proxy = settings.mtls, settings.proxy
    model = MeshModel(
        services=tuple(services),
        clusters=tuple(cs.outbound),
        inbound_clusters=tuple(cs.inbound),
        virtual_hosts=tuple(vhosts),
        proxies=tuple(proxies),
        load=load,
        settings=MeshSettingsIR(
            sidecar,
            settings.networkLatency,
            max_retries_default,
            settings.connectLatency,
            mtls_handshake_latency=mtls.handshakeLatency,
            mtls_handshake_cpu=mtls.handshakeCpu,
            mtls_request_cpu=mtls.requestCpu,
            proxy_workers=proxy.workers,
            proxy_cpu_per_request=proxy.cpuPerRequest,
            update_merge_window=settings.updateMergeWindow,
            sidecar_per_kib=settings.sidecar.perKiB,
            app_cpu_per_request=settings.app.cpuPerRequest,
            app_cpu_per_call=settings.app.cpuPerCall,
            proxy_idle_cpu=proxy.idleCpu,
            app_idle_cpu=settings.app.idleCpu,
        ),
        gateway=gateway,
        authz=authz,
        autoscalers=autoscalers,
        nodes=nodes,
        digest=cfg.digest,
        notes=tuple(str(f) for f in ctx.findings),
    )
    _check_reachability(ctx, model, {s.name: s for s in services}, infos)
    return model, ctx.findings


def _check_reachability(ctx: Ctx, model: MeshModel, svcs: dict[str, Service], infos: dict[str, SvcInfo]) -> None:
    """Warn about services the entry cannot reach and outbound clusters without endpoints."""
    reach = reachable_services(model)
    for name in svcs:
        if name not in reach:
            info = infos[name]
            ctx.warn(
                str(info.doc.source),
                f"services[{info.index}]",
                f"{name} is not reachable from the entry {model.load.entry}; it gets no load",
            )
    for c in model.clusters:
        if c.direction == "outbound" and not c.endpoints and c.subset == "":
            ctx.warn("", c.name, "cluster has no endpoints (0 replicas): calls get 503 UH")


def compile_checked(cfg: MeshConfig) -> tuple[MeshModel, list[Finding]]:
    """Compile ``cfg`` once: the model and every finding (warnings and notes).

    Raises
    ------
    CompileError
        Naming the file, object and field of the first error finding (unknown host or subset, zero
        weights, a call to an undefined service, ...).
    """
    model, findings = compile_with_findings(cfg)
    for f in findings:
        if f.level == "error":
            raise CompileError(f.source, f.loc, f.message)
    assert model is not None
    return model, findings


def compile_model(cfg: MeshConfig) -> MeshModel:
    """Compile ``cfg``; raise :class:`CompileError` on the first error finding (see :func:`compile_checked`)."""
    return compile_checked(cfg)[0]

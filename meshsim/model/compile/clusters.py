"""Clusters: DestinationRules -> outbound (per subset) and inbound Envoy clusters, with LB policy,
circuit breakers and outlier detection (istiod ``pilot/pkg/networking/core/cluster.go``,
``cluster_traffic_policy.go``, ``cluster_builder.go``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from meshsim.config.istio import DestinationRule, TrafficPolicy
from meshsim.config.loader import Doc, MeshConfig
from meshsim.model.compile.context import Ctx, SvcInfo, first, resolve_host, visible_to_callers
from meshsim.model.ir import UINT32_MAX, CircuitBreakers, Cluster, Endpoint, OutlierDetectionPolicy, Service


def merge_policy(top: TrafficPolicy | None, sub: TrafficPolicy | None, port: int) -> dict[str, Any]:
    """Istio ``MergeTrafficPolicy``: subset fields replace top-level ones block by block; then the
    port-level settings for ``port`` replace blocks of the result."""
    out: dict[str, Any] = {
        "loadBalancer": None,
        "connectionPool": None,
        "outlierDetection": None,
        "retryBudget": None,
        "tls": None,
    }
    for pol in (top, sub):
        if pol is None:
            continue
        for key in out:
            if getattr(pol, key, None) is not None:
                out[key] = getattr(pol, key)
        for pls in pol.portLevelSettings:
            if pls.port is not None and pls.port.number == port:
                for key in ("loadBalancer", "connectionPool", "outlierDetection", "tls"):
                    if getattr(pls, key) is not None:
                        out[key] = getattr(pls, key)
    return out


def _positive(v: int | None) -> int | None:
    return v if v is not None and v > 0 else None


def _breakers(pol: dict[str, Any], max_retries_default: int) -> CircuitBreakers:
    cp = pol.get("connectionPool")
    tcp = cp.tcp if cp is not None else None
    http = cp.http if cp is not None else None
    budget = None
    rb = pol.get("retryBudget")
    if rb is not None:
        pct = rb.percent
        pct_value = pct.value if hasattr(pct, "value") else pct
        budget = (
            20.0 if pct_value is None else float(pct_value),
            3 if rb.minRetryConcurrency is None else rb.minRetryConcurrency,
        )
    return CircuitBreakers(
        max_connections=first(_positive(tcp.maxConnections if tcp else None), UINT32_MAX),
        max_pending_requests=first(_positive(http.http1MaxPendingRequests if http else None), UINT32_MAX),
        max_requests=first(_positive(http.http2MaxRequests if http else None), UINT32_MAX),
        max_retries=first(_positive(http.maxRetries if http else None), max_retries_default),
        retry_budget=budget,
    )


def build_cluster(
    name: str,
    direction: str,
    info: SvcInfo,
    subset: str,
    endpoints: Iterable[Endpoint],
    pol: dict[str, Any],
    max_retries_default: int,
) -> Cluster:
    lb = pol.get("loadBalancer")
    simple = lb.simple if lb is not None else None
    lb_policy = {"ROUND_ROBIN": "ROUND_ROBIN", "RANDOM": "RANDOM"}.get(simple or "", "LEAST_REQUEST")
    od = pol.get("outlierDetection") if direction == "outbound" else None
    od_ir = None
    panic = 50.0
    if od is not None:
        c5 = od.consecutive5xxErrors
        cg = od.consecutiveGatewayErrors
        base = od.baseEjectionTime if od.baseEjectionTime is not None else 30.0
        od_ir = OutlierDetectionPolicy(
            consecutive_5xx=c5 if c5 else 5,
            enforcing_consecutive_5xx=0 if c5 == 0 else 100,
            consecutive_gateway_failure=cg if cg else 5,
            enforcing_consecutive_gateway_failure=100 if cg else 0,
            interval=od.interval if od.interval is not None else 10.0,
            base_ejection_time=base,
            max_ejection_time=max(300.0, base),
            max_ejection_percent=od.maxEjectionPercent if od.maxEjectionPercent else 10,
        )
        panic = float(od.minHealthPercent or 0)
    cp = pol.get("connectionPool")
    http = cp.http if cp is not None else None
    tcp = cp.tcp if cp is not None else None
    proto = "HTTP2" if info.protocol == "HTTP2" or (http and http.h2UpgradePolicy == "UPGRADE") else "HTTP1"
    return Cluster(
        name=name,
        direction=direction,  # type: ignore[arg-type]
        service=info.sdef.name,
        host=info.host,
        port=info.port,
        subset=subset,
        endpoints=tuple(e.id for e in endpoints),
        lb_policy=lb_policy,  # type: ignore[arg-type]
        circuit_breakers=_breakers(pol, max_retries_default),
        outlier_detection=od_ir,
        protocol=proto,  # type: ignore[arg-type]
        max_requests_per_connection=_positive(http.maxRequestsPerConnection if http else None),
        max_concurrent_streams=first(_positive(http.maxConcurrentStreams if http else None), 1024),
        connect_timeout=tcp.connectTimeout if tcp and tcp.connectTimeout else 10.0,
        healthy_panic_threshold=panic,
        tls_mode=pol["tls"].mode if pol.get("tls") is not None and direction == "outbound" else None,
    )


DrEntry = tuple[Doc, DestinationRule, dict[str, Any]]
"""A service's DestinationRule: its document, the rule and its subsets by name (merged over rules)."""


def collect_destination_rules(ctx: Ctx, cfg: MeshConfig, infos: dict[str, SvcInfo]) -> dict[str, DrEntry]:
    """The DestinationRule of each topology service. Istio keeps the first rule for a host; a later
    one's subsets are merged into it and its trafficPolicy ignored (a warning)."""
    drs: dict[str, DrEntry] = {}
    for d in cfg.destination_rules:
        dr: DestinationRule = d.obj
        target = resolve_host(dr.spec.host, infos, dr.metadata.namespace or "default")
        if target is None:
            ctx.warn(str(d.source), "spec.host", f"host {dr.spec.host!r} is not a service of the topology; ignored")
            continue
        ns = dr.metadata.namespace or "default"
        if not visible_to_callers(ctx, str(d.source), "spec.", "DestinationRule", dr.spec.exportTo, ns, target, infos):
            continue
        subsets = {s.name: s for s in dr.spec.subsets}
        if target.sdef.name in drs:
            _, first_dr, first_subsets = drs[target.sdef.name]
            ctx.warn(
                str(d.source),
                "spec.host",
                f"a second DestinationRule for {target.host}; its subsets are merged into "
                f"{first_dr.metadata.name}'s and its trafficPolicy is ignored (Istio keeps the first)",
            )
            for k, v in subsets.items():
                first_subsets.setdefault(k, v)
            continue
        drs[target.sdef.name] = (d, dr, subsets)
    return drs


class ClusterSet:
    """The clusters of one compile: ``outbound`` (the service's and one per subset, in DestinationRule
    order), ``inbound`` (one per service), ``names`` ((service, subset) -> outbound cluster name) and
    ``empty_subsets`` (source, loc, subset, service) of subsets that select no pod."""

    def __init__(self) -> None:
        self.outbound: list[Cluster] = []
        self.inbound: list[Cluster] = []
        self.names: dict[tuple[str, str], str] = {}
        self.empty_subsets: list[tuple[str, str, str, str]] = []


def build_clusters(
    services: list[Service], infos: dict[str, SvcInfo], drs: dict[str, DrEntry], max_retries_default: int
) -> ClusterSet:
    """Outbound clusters ``outbound|<port>|<subset>|<fqdn>`` with the merged traffic policy, and the
    inbound cluster ``inbound|<port>||`` whose connectionPool is the DestinationRule's too (istiod
    ``buildInboundClusterForPortOrUDS``)."""
    out = ClusterSet()
    for svc in services:
        info = infos[svc.name]
        entry = drs.get(svc.name)
        top = entry[1].spec.trafficPolicy if entry else None
        pol = merge_policy(top, None, svc.port)
        cname = f"outbound|{svc.port}||{svc.host}"
        out.outbound.append(build_cluster(cname, "outbound", info, "", svc.endpoints, pol, max_retries_default))
        out.names[(svc.name, "")] = cname
        if entry:
            for j, (sname, sub) in enumerate(entry[2].items()):
                eps = [e for e in svc.endpoints if all(dict(e.labels).get(k) == v for k, v in sub.labels.items())]
                if not eps:
                    out.empty_subsets.append((str(entry[0].source), f"spec.subsets[{j}].labels", sname, svc.name))
                spol = merge_policy(top, sub.trafficPolicy, svc.port)
                scname = f"outbound|{svc.port}|{sname}|{svc.host}"
                out.outbound.append(build_cluster(scname, "outbound", info, sname, eps, spol, max_retries_default))
                out.names[(svc.name, sname)] = scname
        ipol = {
            "connectionPool": pol.get("connectionPool"),
            "loadBalancer": None,
            "outlierDetection": None,
            "retryBudget": None,
        }
        out.inbound.append(build_cluster(f"inbound|{svc.port}||", "inbound", info, "", (), ipol, UINT32_MAX))
    return out

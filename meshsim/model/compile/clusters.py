"""Clusters: DestinationRules -> outbound (per subset) and inbound Envoy clusters, with LB policy,
circuit breakers and outlier detection (istiod ``pilot/pkg/networking/core/cluster.go``,
``cluster_traffic_policy.go``, ``cluster_builder.go``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from meshsim.config.istio import ConsistentHashLB, DestinationRule, LoadBalancerSettings, TrafficPolicy
from meshsim.config.loader import Doc, MeshConfig
from meshsim.model.compile.context import Ctx, SvcInfo, first, resolve_host, visible_to_callers
from meshsim.model.ir import (
    UINT32_MAX,
    CircuitBreakers,
    Cluster,
    Endpoint,
    HashPolicy,
    OutlierDetectionPolicy,
    Service,
)

_BLOCKS = ("loadBalancer", "connectionPool", "outlierDetection", "tls")
"""The blocks a ``portLevelSettings`` entry carries (``TrafficPolicy_PortTrafficPolicy``)."""


def _port_level(pol: TrafficPolicy | None, port: int) -> tuple[dict[str, Any] | None, bool]:
    """istiod ``GetPortLevelTrafficPolicy`` (``pilot/pkg/networking/util/util.go``): the entry for
    ``port`` *replaces* the policy (its four blocks, omitted ones at their defaults, and no
    ``retryBudget``); without one, the policy's own blocks. Returns (blocks or None, has port entry)."""
    if pol is None:
        return None, False
    for pls in pol.portLevelSettings:
        if pls.port is not None and pls.port.number == port:
            return {key: getattr(pls, key) for key in _BLOCKS} | {"retryBudget": None}, True
    return {key: getattr(pol, key) for key in (*_BLOCKS, "retryBudget")}, False


def merge_policy(top: TrafficPolicy | None, sub: TrafficPolicy | None, port: int) -> dict[str, Any]:
    """istiod ``MergeSubsetTrafficPolicy`` (``pilot/pkg/networking/util/util.go``) with
    ``model.MergeTrafficPolicy`` (``pilot/pkg/model/destination_rule.go``) for ``port``: each level is
    first reduced to its port-level entry for ``port`` when it has one (which replaces every block and
    drops ``retryBudget``); then a subset block that is set replaces the top-level one, and a subset
    port-level entry replaces all four blocks (set or not); the subset's ``retryBudget``, when set,
    replaces the top-level one. Returns the blocks by Istio field name (None = unset)."""
    merged, _ = _port_level(top, port)
    subset, sub_port = _port_level(sub, port)
    out: dict[str, Any] = dict.fromkeys((*_BLOCKS, "retryBudget")) | (merged or {})
    if subset is not None:
        for key in _BLOCKS:
            if subset[key] is not None or sub_port:
                out[key] = subset[key]
        if subset["retryBudget"] is not None:
            out["retryBudget"] = subset["retryBudget"]
    return out


def _hash_of(lb: LoadBalancerSettings | None) -> ConsistentHashLB | None:
    return lb.consistentHash if lb is not None else None


def _port_hash(pol: TrafficPolicy | None, port: int | None) -> ConsistentHashLB | None:
    """istiod ``portLevelSettingsConsistentHash``: the hash of the port entry for the destination's
    ``port`` (None when the destination names no port)."""
    if pol is None or port is None:
        return None
    for pls in pol.portLevelSettings:
        if pls.port is not None and pls.port.number == port:
            return _hash_of(pls.loadBalancer)
    return None


def destination_hash(
    top: TrafficPolicy | None, sub: TrafficPolicy | None, dest_port: int | None
) -> ConsistentHashLB | None:
    """The consistent hash of a VirtualService destination: istiod ``HashForHTTPDestination``
    (``pilot/pkg/networking/core/route/route.go``): the subset's port-level hash, else the subset's, else
    the top-level port-level one, else the top-level one. Port-level entries count only when the
    destination sets ``port`` (``dest_port``); unlike the cluster's merged policy, a port entry without a
    hash does not hide the top-level hash."""
    top_hash = _hash_of(top.loadBalancer) if top is not None else None
    sub_hash = _hash_of(sub.loadBalancer) if sub is not None else None
    for h in (_port_hash(sub, dest_port), sub_hash, _port_hash(top, dest_port)):
        if h is not None:
            return h
    return top_hash


def service_hash(top: TrafficPolicy | None, port: int) -> ConsistentHashLB | None:
    """The consistent hash of a service's default route (no VirtualService): istiod ``hashForService``,
    the top-level hash unless the entry for ``port`` sets one."""
    if top is None:
        return None
    h = _hash_of(top.loadBalancer)
    for pls in top.portLevelSettings:
        if pls.port is not None and pls.port.number == port:
            return _hash_of(pls.loadBalancer) or h
    return h


def hash_policy(ch: ConsistentHashLB | None) -> HashPolicy | None:
    """istiod ``ConsistentHashToHashPolicy``: the route's ``hash_policy`` entry (None without a hash key)."""
    if ch is None:
        return None
    if ch.httpHeaderName is not None:
        return HashPolicy("header", ch.httpHeaderName)
    if ch.httpCookie is not None:
        c = ch.httpCookie
        return HashPolicy("cookie", c.name, c.ttl, c.path or "")
    if ch.useSourceIp:
        return HashPolicy("source_ip")
    if ch.httpQueryParameterName is not None:
        return HashPolicy("query_parameter", ch.httpQueryParameterName)
    return None


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
    lb_policy, ring, maglev = _lb_policy(lb)
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
        discovery="ORIGINAL_DST" if lb_policy == "CLUSTER_PROVIDED" else "EDS",
        ring_hash_min_ring_size=ring,
        maglev_table_size=maglev,
        idle_timeout=_idle_timeout(http, tcp),
    )


def _lb_policy(lb: LoadBalancerSettings | None) -> tuple[str, int | None, int | None]:
    """istiod ``applyLoadBalancer`` / ``ApplyRingHashLoadBalancer`` (``cluster_traffic_policy.go``):
    (lb_policy, ring_hash minimum_ring_size, maglev table_size).

    ``simple``: ROUND_ROBIN, RANDOM, PASSTHROUGH (an ``ORIGINAL_DST`` cluster, ``CLUSTER_PROVIDED``),
    else LEAST_REQUEST (LEAST_CONN, UNSPECIFIED, unset). ``consistentHash``: MAGLEV with ``maglev``
    (its ``tableSize``), RING_HASH with ``ringHash`` (its ``minimumRingSize`` when set), else RING_HASH
    with the deprecated ``minimumRingSize`` or 1024 (Envoy's default, which istiod writes)."""
    ch = lb.consistentHash if lb is not None else None
    if ch is not None:
        if ch.maglev is not None:
            return "MAGLEV", None, ch.maglev.tableSize
        if ch.ringHash is not None:
            return "RING_HASH", ch.ringHash.minimumRingSize or None, None
        return "RING_HASH", ch.minimumRingSize or 1024, None
    simple = lb.simple if lb is not None else None
    policy = {"ROUND_ROBIN": "ROUND_ROBIN", "RANDOM": "RANDOM", "PASSTHROUGH": "CLUSTER_PROVIDED"}
    return policy.get(simple or "", "LEAST_REQUEST"), None, None


def _idle_timeout(http: Any, tcp: Any) -> float | None:
    """istiod ``applyConnectionPool``: ``http.idleTimeout``, else ``tcp.idleTimeout`` (seconds; None = unset)."""
    if http is not None and http.idleTimeout is not None:
        return float(http.idleTimeout)
    if tcp is not None and tcp.idleTimeout is not None:
        return float(tcp.idleTimeout)
    return None


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
        _warn_passthrough(ctx, str(d.source), dr)
    return drs


def _warn_passthrough(ctx: Ctx, src: str, dr: DestinationRule) -> None:
    """``loadBalancer.simple: PASSTHROUGH``: Envoy gets istiod's ``ORIGINAL_DST`` cluster; say how
    far each backend follows it."""
    pols: list[tuple[str, TrafficPolicy | None]] = [("spec.trafficPolicy", dr.spec.trafficPolicy)]
    pols += [(f"spec.subsets[{j}].trafficPolicy", s.trafficPolicy) for j, s in enumerate(dr.spec.subsets)]
    for loc, pol in pols:
        if pol is None:
            continue
        lbs = [(f"{loc}.loadBalancer", pol.loadBalancer)]
        lbs += [
            (f"{loc}.portLevelSettings[{k}].loadBalancer", p.loadBalancer) for k, p in enumerate(pol.portLevelSettings)
        ]
        for lloc, lb in lbs:
            if lb is not None and lb.simple == "PASSTHROUGH":
                ctx.warn(
                    src,
                    f"{lloc}.simple",
                    "PASSTHROUGH: Envoy gets an ORIGINAL_DST cluster (lb_policy CLUSTER_PROVIDED) that connects to "
                    "the address the caller dialled, so kube-proxy picks the pod; the simulator stands in a uniform "
                    "random pick per request for it, and loopback real runs have no original destination to reach",
                )


class ClusterSet:
    """The clusters of one compile: ``outbound`` (the service's and one per subset, in DestinationRule
    order), ``inbound`` (one per service), ``names`` ((service, subset) -> outbound cluster name) and
    ``empty_subsets`` (source, loc, subset, service) of subsets that select no pod."""

    def __init__(self) -> None:
        self.outbound: list[Cluster] = []
        self.inbound: list[Cluster] = []
        self.names: dict[tuple[str, str], str] = {}
        self.policies: dict[str, tuple[TrafficPolicy | None, dict[str, TrafficPolicy | None]]] = {}
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
            out.policies[svc.name] = (top, {n: sb.trafficPolicy for n, sb in entry[2].items()})
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

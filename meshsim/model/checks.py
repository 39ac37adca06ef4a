"""Static checks over the compiled model (``meshsim validate``): who may call whom under mTLS and
AuthorizationPolicy, in the spirit of ``istioctl analyze``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import networkx as nx

from meshsim.config.loader import MeshConfig
from meshsim.errors import Finding
from meshsim.model.ir import MeshModel, Workload
from meshsim.model.rules.authz import authz_verdict
from meshsim.model.rules.script import calls_of
from meshsim.model.rules.tls import tls_state

__all__ = ["security_findings", "model_findings", "refine"]


class _Edge(NamedTuple):
    """One caller-to-destination-workload request to check: who calls (name and mTLS principal), the
    connection's TLS state (:func:`tls_state`: -1 refused, 0 plaintext, 1 mTLS), the destination, the
    request's method, path, port and headers, and the field to report it at."""

    src_name: str
    principal: str
    tls: int
    dst: Workload
    method: str
    path: str
    port: int
    headers: dict[str, str]
    loc: str


def security_findings(model: MeshModel) -> list[Finding]:
    """Static mTLS and authorization analysis over the topology's call graph (``meshsim validate``).

    For every call a workload's script makes (and the load's entry request, through the gateway when
    there is one) and every workload of the destination service, evaluate the destination's
    AuthorizationPolicies (DENY first, then ALLOW; Istio semantics, :func:`authz_verdict`) with the
    caller's principal (only over mTLS, as Istio's peer identity comes from the certificate), the
    call's method, path and its own headers (headers set by the load mix are checked per mix entry
    for the entry request only). Each denied edge is a warning naming the policy. A connection the
    server would refuse (plaintext to STRICT, mTLS to DISABLE) is a warning too. One finding per
    distinct message.
    """
    seen: set[str] = set()
    uniq = []
    for edge in (*_call_edges(model), *_entry_edges(model)):
        f = _edge_finding(model, edge)
        if f is not None and str(f) not in seen:
            seen.add(str(f))
            uniq.append(f)
    return uniq


def _call_edges(model: MeshModel) -> Iterator[_Edge]:
    """Every call of every workload's script, to every workload of the called service."""
    default_cluster = {(c.service, c.subset): c for c in model.clusters}
    for svc in model.services:
        for wl in svc.workloads:
            for st in calls_of(wl.script):
                dsvc = model.service(st.service)
                c = default_cluster.get((dsvc.name, ""))
                for dwl in dsvc.workloads:
                    tls = tls_state(c.tls_mode if c is not None else None, dwl.mtls_mode)
                    yield _Edge(
                        wl.key,
                        wl.principal,
                        tls,
                        dwl,
                        st.method,
                        st.path,
                        st.port,
                        dict(st.headers),
                        f"{wl.key} calls {st.service}",
                    )


def _entry_edges(model: MeshModel) -> Iterator[_Edge]:
    """The load's entry request, per header-mix entry and entry workload: from the gateway when there is
    one, else from outside the mesh (plaintext, no principal)."""
    default_cluster = {(c.service, c.subset): c for c in model.clusters}
    load = model.load
    entry = model.service(load.entry)
    for _, hdrs in load.header_mix:
        for dwl in entry.workloads:
            if model.gateway is not None:
                c = default_cluster.get((entry.name, ""))
                tls = tls_state(c.tls_mode if c is not None else None, dwl.mtls_mode)
                src_name, principal = model.gateway.workload, model.gateway.principal
            else:
                tls = tls_state("DISABLE", dwl.mtls_mode)  # the load source is outside the mesh
                src_name, principal = "load source (outside the mesh)", ""
            yield _Edge(src_name, principal, tls, dwl, load.method, load.path, entry.port, dict(hdrs), "entry request")


def _edge_finding(model: MeshModel, e: _Edge) -> Finding | None:
    """A warning when the destination's sidecar refuses the connection or its AuthorizationPolicies deny
    the request (the peer principal and namespace count only over mTLS); else None."""
    dst = e.dst
    if e.tls < 0:
        return Finding(
            "warning",
            "mTLS",
            e.loc,
            f"{e.src_name} -> {dst.key}: the server ({dst.mtls_mode}) refuses this "
            f"connection ({'plaintext' if dst.mtls_mode == 'STRICT' else 'mTLS'}); requests get 503 UC",
        )
    pols = model.authz
    deny = tuple(p for p in pols if p.action == "DENY" and dst.key in p.workloads)
    allow = tuple(p for p in pols if p.action == "ALLOW" and dst.key in p.workloads)
    if not deny and not allow:
        return None
    ns = e.principal.split("/")[2] if e.principal.startswith("cluster.local/ns/") else ""
    mtls = e.tls == 1
    pol = authz_verdict(
        deny, allow, e.principal if mtls else "", ns if mtls else "", e.method, e.path, e.headers, e.port
    )
    if pol is None:
        return None
    hdr = f" with headers {e.headers}" if e.headers else ""
    return Finding(
        "warning",
        f"AuthorizationPolicy {pol}",
        e.loc,
        f"denies {e.src_name} -> {dst.key} ({e.method} {e.path}{hdr}): 403 at {dst.service}'s sidecar",
    )


def model_findings(cfg: MeshConfig, model: MeshModel) -> list[Finding]:
    """The checks of cases a run would otherwise get silently wrong (``validate`` and ``run``):

    - a sidecar VirtualService with rules for the **entry** service while load enters from outside
      the mesh: no client sidecar applies them (Istio applies a VirtualService at the client's proxy),
      so the entry's versions get the default round of the load balancer, not the split;
    - a ``--set`` value **shadowed** by an input that takes precedence: a topology service's
      ``numReplicas`` under versions whose replicas come from Deployments or ``versions.V.replicas``;
    - a service that is **called but receives no load** because every route to it goes to subsets
      without pods (the compiler's "not reachable" warning says why not instead).
    """
    return [*_entry_split(cfg, model), *_shadowed_overrides(cfg, model), *_called_without_pods(cfg, model)]


def _entry_split(cfg: MeshConfig, model: MeshModel) -> list[Finding]:
    if model.gateway is not None:
        return []
    entry = model.service(model.load.entry)
    try:
        vh = model.virtual_host(entry.host)
    except KeyError:
        return []
    srcs = sorted({r.source.split(" ", 1)[0] for r in vh.routes if r.source.startswith("VirtualService/")})
    if not srcs:
        return []
    clusters = {c.name: c for c in model.clusters}
    every = {e.id for e in entry.endpoints}

    def pods(cluster: str) -> frozenset[str]:
        c = clusters.get(cluster)
        return frozenset(c.endpoints) if c is not None else frozenset()

    # the rules matter when a route would send the entry requests to other pods than all of them
    # (a subset, a weighted split), or would inject a fault or a timeout
    matters = any(
        r.fault is not None
        or r.timeout is not None
        or len({pods(wc.cluster) for wc in r.clusters if wc.weight > 0}) > 1
        or any(pods(wc.cluster) != every for wc in r.clusters if wc.weight > 0)
        for r in vh.routes
    )
    if not matters:
        return []
    versions = ", ".join(w.version for w in entry.workloads)
    name = srcs[0].split("/", 1)[1]
    doc = next((d for d in cfg.virtual_services if d.obj.metadata.name == name), None)
    return [
        Finding(
            "warning",
            str(doc.source) if doc is not None else f"VirtualService {name}",
            "spec.http",
            f"routes the entry service {entry.name}, but load from outside the mesh passes no client sidecar, "
            f"so these rules do not apply to the entry requests (as in Istio): they are spread over all of "
            f"{entry.name}'s pods ({versions}) by the load balancer; enter through a gateway "
            "(LoadProfile spec.gateway and a Gateway-bound VirtualService) or add a client service that calls "
            f"{entry.name}",
        )
    ]


def _shadowed_overrides(cfg: MeshConfig, model: MeshModel) -> list[Finding]:
    out: list[Finding] = []
    for doc in cfg.topologies:
        for path, origin in (doc.source.overrides or {}).items():
            if len(path) != 3 or path[0] != "services" or path[2] != "numReplicas" or not isinstance(path[1], int):
                continue
            sdef = doc.obj.services[path[1]]
            try:
                svc = model.service(sdef.name)
            except KeyError:
                continue
            winners = []
            for w in svc.workloads:
                vdef = (sdef.versions or {}).get(w.version)
                if vdef is not None and vdef.replicas is not None:
                    winners.append(f"versions.{w.version}.replicas ({w.replicas})")
                else:
                    dep = next(
                        (
                            d
                            for d in cfg.deployments
                            if d.obj.metadata.name == w.name and d.obj.spec.replicas == w.replicas
                        ),
                        None,
                    )
                    if dep is not None:
                        winners.append(
                            f"Deployment {dep.obj.metadata.name} spec.replicas ({w.replicas}, {dep.source.file})"
                        )
            if winners and len(winners) == len(svc.workloads):
                out.append(
                    Finding(
                        "warning",
                        str(doc.source),
                        f"services[{path[1]}].numReplicas",
                        f"{origin} is shadowed by {', '.join(winners)}: numReplicas applies only to versions "
                        "without a Deployment or versions.V.replicas, so it changes nothing; set those instead "
                        f"(e.g. --set Deployment/NAME.spec.replicas=N)",
                    )
                )
    return out


def _called_without_pods(cfg: MeshConfig, model: MeshModel) -> list[Finding]:
    from meshsim.model.graph import reachable_services, workload_graph

    reach = reachable_services(model)
    g = workload_graph(model)
    entry = model.service(model.load.entry)
    live = {w.key for w in entry.workloads}
    for k in list(live):
        live |= set(nx.descendants(g, k))
    out: list[Finding] = []
    for svc in model.services:
        if svc.name in reach:
            continue
        callers = sorted(
            {w.key for w in model.workloads if w.key in live for c in calls_of(w.script) if c.service == svc.name}
        )
        if not callers:
            continue
        try:
            vh = model.virtual_host(svc.host)
        except KeyError:
            continue
        routed = sorted({wc.cluster for r in vh.routes for wc in r.clusters})
        subsets = sorted({c.split("|")[2] or "(all pods)" for c in routed if c.count("|") >= 2})
        src, loc = "", svc.name
        for doc in cfg.topologies:
            for idx, sdef in enumerate(doc.obj.services):
                if sdef.name == svc.name:
                    src, loc = str(doc.source), f"services[{idx}]"
        out.append(
            Finding(
                "warning",
                src,
                loc,
                f"{svc.name} is called by {', '.join(callers)} but receives no load: every route to it goes to "
                f"subset(s) {', '.join(subsets) or '?'} with no pods, so those calls get 503 UH; deploy pods with "
                "the subset's labels or route to a subset that has them",
            )
        )
    return out


def refine(findings: list[Finding], extra: list[Finding]) -> list[Finding]:
    """``findings`` plus ``extra``, without a compiler "not reachable" warning that an ``extra``
    "called but receives no load" warning explains better (the same service)."""
    better = {f.message.split(" ", 1)[0] for f in extra if "receives no load" in f.message}
    keep = [
        f
        for f in findings
        if not (
            f.level == "warning"
            and "is not reachable from the entry" in f.message
            and f.message.split(" ", 1)[0] in better
        )
    ]
    return [*keep, *extra]

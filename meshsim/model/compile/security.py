"""Security: PeerAuthentication -> each workload's accepted mTLS mode; AuthorizationPolicy -> IR
policies with the workloads each selects (istiod ``pilot/pkg/security/authn``,
``pilot/pkg/security/authz/builder``)."""

from __future__ import annotations

import re
from typing import Any

from meshsim.config.loader import MeshConfig
from meshsim.config.security import ROOT_NAMESPACE
from meshsim.model.compile.context import Ctx
from meshsim.model.ir import AuthzCondition, AuthzOperation, AuthzPolicy, AuthzRule, AuthzSource, Service


def selects(selector: Any, labels: dict[str, str]) -> bool:
    ml = selector.matchLabels if selector is not None else {}
    return all(labels.get(k) == v for k, v in ml.items())


def peer_mode(cfg: MeshConfig, namespace: str, labels: dict[str, str]) -> str:
    """The mTLS mode a workload's server sidecar accepts (Istio ``PeerAuthentication`` resolution):
    the workload-selector policy in its namespace, else the namespace-wide one, else the mesh-wide one
    (root namespace ``istio-system``, no selector); ``UNSET`` inherits from the next level; nothing =
    PERMISSIVE (Istio's default)."""
    levels: list[list[str]] = [[], [], []]
    for d in cfg.peer_authentications:
        pa = d.obj
        ns = pa.metadata.namespace or "default"
        mode = pa.spec.mtls.mode if pa.spec.mtls is not None else "UNSET"
        sel = pa.spec.selector
        if ns == namespace and sel is not None and sel.matchLabels:
            if selects(sel, labels):
                levels[0].append(mode)
        elif ns == namespace:
            levels[1].append(mode)
        elif ns == ROOT_NAMESPACE and (sel is None or not sel.matchLabels):
            levels[2].append(mode)
    for lv in levels:
        for mode in lv:
            if mode != "UNSET":
                return mode
    return "PERMISSIVE"


def authz_policies(ctx: Ctx, cfg: MeshConfig, services: list[Service]) -> tuple[AuthzPolicy, ...]:
    """Compile ALLOW/DENY AuthorizationPolicies with the workloads each selects (namespace, selector;
    root namespace without selector = mesh-wide). CUSTOM is not modelled (a warning); AUDIT is ignored."""
    out: list[AuthzPolicy] = []
    header_rx = re.compile(r"^request\.headers\[([^\]]+)\]$")
    for d in sorted(
        cfg.authorization_policies, key=lambda x: (x.obj.metadata.namespace or "default", x.obj.metadata.name)
    ):
        ap = d.obj
        src = str(d.source)
        ns = ap.metadata.namespace or "default"
        spec = ap.spec
        if spec.action in ("CUSTOM", "AUDIT"):
            ctx.warn(src, "spec.action", f"{spec.action} is not modelled; the policy is ignored")
            continue
        wls = tuple(
            w.key
            for s in services
            for w in s.workloads
            if (ns == ROOT_NAMESPACE and (spec.selector is None or not spec.selector.matchLabels))
            or (w.namespace == ns and selects(spec.selector, dict(w.labels)))
        )
        if not wls:
            ctx.warn(src, "spec.selector", "selects no workload of the topology")
        rules: list[AuthzRule] = []
        ok = True
        for i, r in enumerate(spec.rules or []):
            conds: list[AuthzCondition] = []
            for j, c in enumerate(r.when or []):
                m = header_rx.match(c.key)
                if m is None and c.key not in ("source.principal", "source.namespace", "destination.port"):
                    ctx.warn(
                        src,
                        f"spec.rules[{i}].when[{j}].key",
                        f"condition key {c.key!r} is not modelled; the policy is ignored",
                    )
                    ok = False
                conds.append(
                    AuthzCondition(
                        c.key,
                        m.group(1).lower() if m else None,
                        tuple(c.values) if c.values is not None else None,
                        tuple(c.notValues) if c.notValues is not None else None,
                    )
                )

            def tup(v: list[str] | None) -> tuple[str, ...] | None:
                return tuple(v) if v is not None else None

            sources = tuple(
                AuthzSource(
                    principals=tup(_sa_principals(f.source.principals, f.source.serviceAccounts, ns)),
                    not_principals=tup(_sa_principals(f.source.notPrincipals, f.source.notServiceAccounts, ns)),
                    namespaces=tup(f.source.namespaces),
                    not_namespaces=tup(f.source.notNamespaces),
                )
                for f in (r.from_ or [])
            )
            ops = tuple(
                AuthzOperation(
                    methods=tup(t.operation.methods),
                    not_methods=tup(t.operation.notMethods),
                    paths=tup(t.operation.paths),
                    not_paths=tup(t.operation.notPaths),
                    ports=tup(t.operation.ports),
                    not_ports=tup(t.operation.notPorts),
                )
                for t in (r.to or [])
            )
            rules.append(AuthzRule(sources, ops, tuple(conds)))
        if ok:
            out.append(AuthzPolicy(f"{ns}/{ap.metadata.name}", spec.action, wls, tuple(rules)))
    return tuple(out)


def _sa_principals(principals: list[str] | None, sas: list[str] | None, ns: str) -> list[str] | None:
    """``serviceAccounts`` (``ns/sa`` or ``sa`` in the policy's namespace) as principals."""
    if sas is None:
        return principals
    out = list(principals or [])
    for sa in sas:
        sa_ns, _, name = sa.rpartition("/")
        out.append(f"cluster.local/ns/{sa_ns or ns}/sa/{name}")
    return out

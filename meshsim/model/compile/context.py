"""Shared state of one compile: the findings list and the resolved service table.

istiod's ``pilot/pkg/model/push_context.go`` plays this role (the indexes every builder reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshsim.config.loader import Doc, MeshConfig
from meshsim.config.topology import Defaults, ServiceDef
from meshsim.errors import Finding

__all__ = [
    "Ctx",
    "SvcInfo",
    "caller_namespaces",
    "exported_to",
    "first",
    "resolve_host",
    "service_account",
    "short",
    "visible_to_callers",
]


@dataclass
class Ctx:
    findings: list[Finding] = field(default_factory=list)

    def error(self, source: str, loc: str, msg: str) -> None:
        self.findings.append(Finding("error", source, loc, msg))

    def warn(self, source: str, loc: str, msg: str) -> None:
        self.findings.append(Finding("warning", source, loc, msg))

    def info(self, source: str, loc: str, msg: str) -> None:
        self.findings.append(Finding("info", source, loc, msg))


def first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


@dataclass
class SvcInfo:
    doc: Doc
    index: int
    sdef: ServiceDef
    defaults: Defaults
    namespace: str
    host: str
    port: int
    protocol: str


def short(host: str) -> str:
    return host.split(".")[0]


def resolve_host(host: str, services: dict[str, SvcInfo], namespace: str) -> SvcInfo | None:
    """The service a VirtualService/DestinationRule host names, or None.

    ``reviews`` (a short name) resolves in ``namespace``, the namespace of the object that wrote it,
    as Istio expands it to ``reviews.<namespace>.svc.cluster.local`` (DestinationRule ``host`` and
    VirtualService ``hosts`` reference, istio.io/latest/docs/reference/config/networking/); a
    service of that name in another namespace is not a match. ``reviews.prod`` and
    ``reviews.prod.svc[.cluster.local]`` name the namespace themselves. Wildcards resolve to None.
    """
    if host.startswith("*"):
        return None
    parts = host.split(".")
    info = services.get(parts[0])
    if info is None:
        return None
    wanted = parts[1] if len(parts) >= 2 else namespace
    if wanted != info.namespace:
        return None
    if len(parts) > 2 and ".".join(parts[2:]) not in ("svc", "svc.cluster.local"):
        return None
    return info


def exported_to(export_to: list[str] | None, own_namespace: str, namespace: str) -> bool:
    """Whether an object of ``own_namespace`` with ``exportTo`` is visible to sidecars in ``namespace``.

    Istio's values (``networking/v1alpha3/virtual_service.proto`` ``export_to``): unset or ``*`` = every
    namespace, ``.`` = the object's own namespace, ``~`` = none, any other value = that namespace.
    """
    if not export_to:
        return True
    for e in export_to:
        if e == "*" or (e == "." and namespace == own_namespace) or e == namespace:
            return True
    return False


def _calls(steps: list[Any] | None) -> list[str]:
    out: list[str] = []
    for step in steps or []:
        for cmd in step if isinstance(step, list) else [step]:
            call = getattr(cmd, "call", None)
            if isinstance(call, str):
                out.append(call)
            elif call is not None:
                out.append(call.service)
    return out


def caller_namespaces(services: dict[str, SvcInfo], target: str) -> set[str]:
    """Namespaces of the topology services whose script (any version's or ``defaults``) calls ``target``."""
    out: set[str] = set()
    for info in services.values():
        scripts = [info.sdef.script or info.defaults.script]
        scripts += [v.script for v in (info.sdef.versions or {}).values()]
        if any(c == target for s in scripts for c in _calls(s)):
            out.add(info.namespace)
    return out


def visible_to_callers(
    ctx: Ctx,
    source: str,
    loc: str,
    kind: str,
    export_to: list[str] | None,
    own_namespace: str,
    target: SvcInfo,
    services: dict[str, SvcInfo],
) -> bool:
    """Apply ``exportTo`` for a sidecar VirtualService or a DestinationRule of ``target``.

    meshsim keeps one route table and one cluster set per service for all of its callers, so the
    object applies when every calling namespace sees it, is ignored (a warning) when none does, and
    applies to every caller, with a warning, when only some do. A service nobody calls (the entry)
    is judged by its own namespace.
    """
    namespaces = caller_namespaces(services, target.sdef.name) or {target.namespace}
    seen = {ns for ns in namespaces if exported_to(export_to, own_namespace, ns)}
    if seen == namespaces:
        return True
    if not seen:
        ctx.warn(
            source,
            f"{loc}exportTo",
            f"{kind} is not exported to the namespace(s) of {target.sdef.name}'s callers "
            f"({', '.join(sorted(namespaces))}); ignored",
        )
        return False
    ctx.warn(
        source,
        f"{loc}exportTo",
        f"{kind} is exported to {', '.join(sorted(seen))} but not to {', '.join(sorted(namespaces - seen))}; "
        "per-namespace routing is not modelled, it applies to every caller",
    )
    return True


def service_account(cfg: MeshConfig, dep: Doc | None) -> str:
    """``spec.template.spec.serviceAccountName`` of a Deployment, read from the raw document (the
    Deployment model ignores pod-spec fields); Kubernetes default ``default``."""
    if dep is None:
        return "default"
    for src, raw in cfg.raw:
        if src.file == dep.source.file and src.index == dep.source.index:
            pod = ((raw.get("spec") or {}).get("template") or {}).get("spec") or {}
            sa = pod.get("serviceAccountName") or pod.get("serviceAccount") if isinstance(pod, dict) else None
            return str(sa) if sa else "default"
    return "default"

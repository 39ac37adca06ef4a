"""Shared state of one compile: the findings list and the resolved service table.

istiod's ``pilot/pkg/model/push_context.go`` plays this role (the indexes every builder reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshsim.config.loader import Doc, MeshConfig
from meshsim.config.topology import Defaults, ServiceDef
from meshsim.errors import Finding

__all__ = ["Ctx", "SvcInfo", "first", "resolve_host", "service_account", "short"]


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
    """Resolve ``reviews``, ``reviews.default`` or ``reviews.default.svc.cluster.local``."""
    if host.startswith("*"):
        return None
    parts = host.split(".")
    info = services.get(parts[0])
    if info is None:
        return None
    if len(parts) >= 2 and parts[1] != info.namespace:
        return None
    if len(parts) > 2 and ".".join(parts[2:]) not in ("svc", "svc.cluster.local"):
        return None
    return info


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

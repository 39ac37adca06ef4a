"""Findings as ``istioctl analyze`` reports them (istio/istio pkg/config/analysis/diag/message.go): a code
and level from the registry (:mod:`meshsim.config.codes`), the resource's origin and its file:line
reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshsim.config.codes import check_of, reported
from meshsim.errors import Finding

if TYPE_CHECKING:
    from meshsim.config.loader import MeshConfig, Source

__all__ = ["AnalysisMessage", "analysis_message", "namespaces", "DOC_URL"]


@dataclass(frozen=True)
class AnalysisMessage:
    """A finding as istioctl analyze reports one: ``code``, ``level`` (``Error``/``Warning``/``Info``),
    ``origin`` (``Kind name.namespace``, as ``istioctl analyze --suppress`` names resources),
    ``reference`` (``file:line``), ``field`` (the field path), ``message`` and ``documentationUrl``
    (the row of the code's table in the repository's docs/validate-codes.md)."""

    code: str
    level: str
    origin: str
    reference: str
    field: str
    message: str
    documentationUrl: str  # noqa: N815 - istioctl's JSON key

    def __str__(self) -> str:
        where = " ".join(x for x in (self.origin, self.reference) if x)
        origin = f" ({where})" if where else ""
        field = f"{self.field}: " if self.field else ""
        return f"{self.level} [{self.code}]{origin} {field}{self.message}"

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "level": self.level,
            "origin": self.origin,
            "reference": self.reference,
            "field": self.field,
            "message": self.message,
            "documentationUrl": self.documentationUrl,
        }


DOC_URL = "docs/validate-codes.md#{code}"
"""Where each code is documented, relative to the repository root (istioctl links istio.io's page per code)."""

_SOURCE = re.compile(r"^(?P<file>.+?)(?::(?P<line>\d+))? \((?P<what>[^()]*)\)$")


def namespaces(cfg: MeshConfig) -> dict[tuple[str, str, str], str]:
    """``(file, kind, name)`` -> the object's namespace (``default`` when it sets none), for origins."""
    return {(s.file, s.kind or "", s.name or ""): ns for s, ns in _sources_all(cfg)}


def _sources_all(cfg: MeshConfig) -> list[tuple[Source, str]]:
    docs = [
        *cfg.topologies,
        *cfg.deployments,
        *cfg.kube_services,
        *cfg.virtual_services,
        *cfg.destination_rules,
        *cfg.slos,
        *cfg.canaries,
        *cfg.gateways,
        *cfg.peer_authentications,
        *cfg.authorization_policies,
        *(d for d in (cfg.load, cfg.settings, cfg.scenario) if d is not None),
    ]
    out = []
    for d in docs:
        meta = getattr(d.obj, "metadata", None)
        out.append((d.source, str(getattr(meta, "namespace", None) or "default")))
    return out


def analysis_message(f: Finding, ns: dict[tuple[str, str, str], str] | None = None) -> AnalysisMessage:
    """``f`` with its code and level (:func:`check_of`), its origin and its reference split out of
    its source (``file:LINE (Kind name)``)."""
    c = check_of(f)
    f = reported(f)
    origin, reference = "", f.source
    m = _SOURCE.match(f.source)
    if m is not None and "/" not in m["file"] and "." not in m["file"]:  # "LoadProfile (default)": no file
        origin, reference = m["file"], ""
    elif m is not None:
        reference = m["file"] + (f":{m['line']}" if m["line"] else "")
        what = m["what"]
        kind, _, name = what.partition(" ")
        if "," in kind or kind == "document":  # "Kind, document 2" / "document 2": no name
            origin = kind.rstrip(",") if kind != "document" else ""
        elif name and "/" not in name:
            origin = f"{kind} {name}.{(ns or {}).get((m['file'], kind, name), 'default')}"
        else:
            origin = what
    elif re.fullmatch(r"[A-Z][A-Za-z]+ [\w./-]+", f.source):  # "AuthorizationPolicy default/deny-reviews"
        kind, _, name = f.source.partition(" ")
        nsp, _, nm = name.rpartition("/")
        origin, reference = (f"{kind} {nm}.{nsp}" if nsp else f.source), ""
    elif f.source in ("mTLS", "retries", "meshsim", "LoadProfile") or not f.source:
        origin, reference = f.source if f.source in ("LoadProfile",) else "", ""
        if f.source in ("mTLS", "retries") and f.loc:  # the check's subject is in the field slot
            return AnalysisMessage(
                c.code, c.level.capitalize(), "", "", "", f"{f.loc}: {f.message}", DOC_URL.format(code=c.code.lower())
            )
    return AnalysisMessage(
        c.code, c.level.capitalize(), origin, reference, f.loc, f.message, DOC_URL.format(code=c.code.lower())
    )

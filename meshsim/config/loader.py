"""Load YAML files and directories into one :class:`MeshConfig`.

Paths may be files or directories (``*.yaml``/``*.yml``/``*.json`` below them, in sorted order) of multi-document
YAML. Each document is dispatched on ``apiVersion``/``kind``; documents from several files merge into
one mesh. An object with the same kind, namespace and name as an earlier one replaces it, as
``kubectl apply`` would. ``--set`` overrides are applied to the parsed documents before validation;
the files themselves are never written.

Errors are :class:`~meshsim.errors.ConfigError`: one line naming the file, the object and the field.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from meshsim.config.base import collect_notes
from meshsim.config.istio import DestinationRule, Gateway, VirtualService
from meshsim.config.kube import Deployment, KubeService
from meshsim.config.kubectl import normalise_all
from meshsim.config.meshsim_kinds import SLO, LoadProfile, MeshSettings
from meshsim.config.scenario import CanaryPolicy, Scenario
from meshsim.config.security import AuthorizationPolicy, PeerAuthentication
from meshsim.config.topology import MockServiceGraph
from meshsim.errors import ConfigError, Finding, format_loc

__all__ = ["Source", "Doc", "MeshConfig", "load", "load_documents", "apply_override", "validate_docs"]

ISTIO_NETWORKING = {
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
}
_NOT_MODELLED_ISTIO = {
    "ServiceEntry",
    "Sidecar",
    "EnvoyFilter",
    "WorkloadEntry",
    "WorkloadGroup",
    "ProxyConfig",
}


@dataclass(frozen=True)
class Source:
    """Where a document came from: file, 1-based document index, and its kind/name once known."""

    file: str
    index: int = 1
    kind: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.kind and self.name:
            return f"{self.file} ({self.kind} {self.name})"
        if self.kind:
            return f"{self.file} ({self.kind}, document {self.index})"
        return f"{self.file} (document {self.index})"


@dataclass(frozen=True)
class Doc:
    """One validated document and where it came from."""

    source: Source
    obj: Any


@dataclass
class MeshConfig:
    """Everything the user wrote, validated but not yet resolved (see :func:`meshsim.model.compile`)."""

    topologies: list[Doc] = field(default_factory=list)
    deployments: list[Doc] = field(default_factory=list)
    kube_services: list[Doc] = field(default_factory=list)
    virtual_services: list[Doc] = field(default_factory=list)
    destination_rules: list[Doc] = field(default_factory=list)
    load: Doc | None = None
    settings: Doc | None = None
    slos: list[Doc] = field(default_factory=list)
    scenario: Doc | None = None
    canaries: list[Doc] = field(default_factory=list)
    gateways: list[Doc] = field(default_factory=list)
    peer_authentications: list[Doc] = field(default_factory=list)
    authorization_policies: list[Doc] = field(default_factory=list)
    raw: list[tuple[Source, dict[str, Any]]] = field(default_factory=list, repr=False)
    notes: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    digest: str = ""

    @property
    def load_profile(self) -> LoadProfile:
        if self.load is None:
            return LoadProfile(apiVersion="meshsim.io/v1alpha1", kind="LoadProfile")
        obj: LoadProfile = self.load.obj
        return obj

    @property
    def mesh_settings(self) -> MeshSettings:
        if self.settings is None:
            return MeshSettings(apiVersion="meshsim.io/v1alpha1", kind="MeshSettings")
        obj: MeshSettings = self.settings.obj
        return obj


def _yaml_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(
                f for f in path.rglob("*") if f.suffix in (".yaml", ".yml", ".json") and f.is_file()
            )
            if not found:
                raise ConfigError(p, "", "directory holds no .yaml, .yml or .json file")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(p, "", "no such file or directory")
    return files


def load_documents(paths: list[str]) -> tuple[list[tuple[Source, dict[str, Any]]], list[str], str]:
    """Read every YAML document under ``paths``.

    Returns
    -------
    (documents, files, digest)
        ``documents`` are ``(Source, mapping)`` pairs in file order; ``digest`` is a sha256 over the
        file names and bytes (provenance).

    Raises
    ------
    ConfigError
        On a missing path, a YAML syntax error (with line and column) or a document that is not a map.
    """
    docs: list[tuple[Source, dict[str, Any]]] = []
    h = hashlib.sha256()
    files = _yaml_files(paths)
    for f in files:
        text = f.read_bytes()
        h.update(str(f.name).encode() + b"\0" + text + b"\0")
        try:
            loaded = normalise_all(list(yaml.safe_load_all(text)))  # kubectl exports: List, status, server metadata
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(str(f), where, f"invalid YAML: {problem}") from None
        for i, d in enumerate(loaded, start=1):
            if d is None:
                continue
            if not isinstance(d, dict):
                raise ConfigError(str(Source(str(f), i)), "", "a document must be a YAML mapping")
            docs.append((Source(str(f), i), d))
    return docs, [str(f) for f in files], h.hexdigest()


_SEG = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^=\]]+)=([^\]]*)\]")


def _parse_path(path: str, where: str) -> list[Any]:
    parts: list[Any] = []
    pos = 0
    while pos < len(path):
        if path[pos] == ".":
            pos += 1
            continue
        m = _SEG.match(path, pos)
        if not m:
            raise ConfigError("--set", where, f"cannot parse path near {path[pos:]!r}")
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append((m.group(3), m.group(4)))
        pos = m.end()
    if not parts:
        raise ConfigError("--set", where, "empty path")
    return parts


def split_assignment(text: str) -> int:
    """Index of the first ``=`` outside ``[...]`` in ``text`` (``path[k=v].x=value``), or -1."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "=" and depth == 0:
            return i
    return -1


def apply_override(
    docs: list[tuple[Source, dict[str, Any]]], assignment: str
) -> list[tuple[Source, dict[str, Any]]]:
    """Apply one ``--set`` assignment and return new documents (the input is not modified).

    Syntax: ``Kind[/name].field.path=value``; the path uses ``.key``, ``[index]`` and
    ``[key=value]`` (select a list element by a field, e.g. ``services[name=reviews]``); ``value`` is
    parsed as YAML. Examples: ``LoadProfile.spec.rate=500``,
    ``MockServiceGraph.services[name=reviews].numReplicas=3``,
    ``DestinationRule/reviews.spec.trafficPolicy.loadBalancer.simple=ROUND_ROBIN``.
    A ``LoadProfile`` or ``MeshSettings`` that does not exist yet is created.

    Raises
    ------
    ConfigError
        (source ``--set``) when the assignment is malformed or selects nothing.
    """
    split_at = split_assignment(assignment)
    if split_at < 0:
        raise ConfigError("--set", assignment, "expected Kind[/name].path=value")
    target, raw_value = assignment[:split_at], assignment[split_at + 1 :]
    try:
        value = yaml.safe_load(raw_value) if raw_value != "" else ""
    except yaml.YAMLError:
        value = raw_value
    head, _, rest = target.partition(".")
    kind, _, name = head.partition("/")
    if not rest:
        raise ConfigError("--set", target, "give a field path after the kind, e.g. LoadProfile.spec.rate")
    parts = _parse_path(rest, target)
    out = [(s, copy.deepcopy(d)) for s, d in docs]
    matched = [
        d
        for s, d in out
        if (d.get("kind") == kind or (kind == "MockServiceGraph" and "services" in d and not d.get("kind")))
        and (not name or (d.get("metadata") or {}).get("name") == name)
    ]
    if not matched:
        if kind in ("LoadProfile", "MeshSettings") and not name:
            new = {"apiVersion": "meshsim.io/v1alpha1", "kind": kind}
            out.append((Source("--set", 1, kind), new))
            matched = [new]
        else:
            raise ConfigError("--set", target, f"no {head} document to set")
    for doc in matched:
        node: Any = doc
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            loc = format_loc([p if not isinstance(p, tuple) else f"{p[0]}={p[1]}" for p in parts[: i + 1]])
            if isinstance(part, tuple):
                if not isinstance(node, list):
                    raise ConfigError("--set", f"{head}.{loc}", "not a list")
                hits = [e for e in node if isinstance(e, dict) and str(e.get(part[0])) == part[1]]
                if not hits:
                    raise ConfigError("--set", f"{head}.{loc}", "no list element matches")
                if last:
                    raise ConfigError("--set", f"{head}.{loc}", "cannot replace a whole selected element")
                node = hits[0]
            elif isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise ConfigError("--set", f"{head}.{loc}", "index out of range")
                if last:
                    node[part] = value
                else:
                    node = node[part]
            else:
                if not isinstance(node, dict):
                    raise ConfigError("--set", f"{head}.{loc}", "not a mapping")
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
    return out


_LIST_BUCKETS = {
    "topology": "topologies",
    "deployment": "deployments",
    "kservice": "kube_services",
    "vs": "virtual_services",
    "dr": "destination_rules",
    "slo": "slos",
    "canary": "canaries",
    "gateway": "gateways",
    "peerauthn": "peer_authentications",
    "authz": "authorization_policies",
}
"""Dispatch buckets that collect any number of documents, and the MeshConfig list each goes to."""


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _dispatch(src: Source, d: dict[str, Any]) -> tuple[str, type[BaseModel] | None, str | None]:
    """Return (bucket, model, note) for a raw document; bucket '' means skip."""
    api = d.get("apiVersion")
    kind = d.get("kind")
    if kind == "MockServiceGraph" or (kind is None and "services" in d):
        return "topology", MockServiceGraph, None
    if not isinstance(api, str) or not isinstance(kind, str):
        raise ConfigError(
            str(src), "kind", "document has no apiVersion/kind and is not an isotope MockServiceGraph"
        )
    if api in ISTIO_NETWORKING:
        if kind == "VirtualService":
            return "vs", VirtualService, None
        if kind == "DestinationRule":
            return "dr", DestinationRule, None
        if kind == "Gateway":
            return "gateway", Gateway, None
        if kind in _NOT_MODELLED_ISTIO:
            return "", None, f"{kind} is not modelled yet; skipped"
    if api.startswith("networking.istio.io/"):
        raise ConfigError(str(src), "apiVersion", f"unsupported Istio API version {api!r}")
    if api in ("security.istio.io/v1", "security.istio.io/v1beta1"):
        if kind == "PeerAuthentication":
            return "peerauthn", PeerAuthentication, None
        if kind == "AuthorizationPolicy":
            return "authz", AuthorizationPolicy, None
    if api.startswith(("security.istio.io/", "telemetry.istio.io/", "extensions.istio.io/")):
        return "", None, f"{kind} ({api}) is not modelled yet; skipped"
    if api == "meshsim.io/v1alpha1":
        if kind == "LoadProfile":
            return "load", LoadProfile, None
        if kind == "MeshSettings":
            return "settings", MeshSettings, None
        if kind == "SLO":
            return "slo", SLO, None
        if kind == "Scenario":
            return "scenario", Scenario, None
        if kind == "CanaryPolicy":
            return "canary", CanaryPolicy, None
        raise ConfigError(
            str(src), "kind", f"unknown meshsim kind {kind!r} (LoadProfile, MeshSettings, SLO, Scenario, CanaryPolicy)"
        )
    group = api.rpartition("/")[0]
    is_kube = group == "" or "." not in group or group.endswith(".k8s.io")
    if is_kube:
        if kind == "Deployment" and api == "apps/v1":
            return "deployment", Deployment, None
        if kind == "Service" and api == "v1":
            return "kservice", KubeService, None
        return "", None, f"Kubernetes {kind} does not affect the simulation; skipped"
    raise ConfigError(str(src), "kind", f"unknown kind {kind!r} with apiVersion {api!r}")


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (
            part in ("command", "group", "constant", "exponential", "lognormal", "uniform", "empirical")
            or part.startswith(("function-", "str", "int", "float", "bool", "list[", "dict["))
            or part in ("CallSpec",)
        ):
            continue
        if isinstance(part, str) and part in ("sleep", "call") and out and out[-1] == part:
            continue
        out.append(part)
    return tuple(out)


def _validation_error(src: Source, exc: ValidationError) -> ConfigError:
    errs = exc.errors()
    first = errs[0]
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif first["type"] == "missing":
        msg = "required field is missing"
    more = f" (and {len(errs) - 1} more error{'s' if len(errs) > 2 else ''})" if len(errs) > 1 else ""
    return ConfigError(str(src), format_loc(_clean_loc(first["loc"])), msg + more)


def validate_docs(docs: list[tuple[Source, dict[str, Any]]]) -> MeshConfig:
    """Validate raw documents into a :class:`MeshConfig` (dispatch, pydantic, merge).

    Raises
    ------
    ConfigError
        On the first document that does not validate, naming the file, object and field path.
    """
    cfg = MeshConfig()
    cfg.raw = list(docs)
    keyed: dict[tuple[str, str, str], tuple[str, Doc]] = {}
    order: list[tuple[str, str, str]] = []
    for src, d in docs:
        bucket, model, note = _dispatch(src, d)
        kind = str(d.get("kind") or "MockServiceGraph")
        raw_meta = d.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        name = str(meta.get("name")) if meta and meta.get("name") else None
        src = Source(src.file, src.index, kind, name)
        if model is None:
            cfg.notes.append(Finding("info", str(src), "", note or "skipped"))
            continue
        try:
            obj = model.model_validate(d)
        except ValidationError as exc:
            raise _validation_error(src, exc) from None
        for loc, msg in collect_notes(obj):
            cfg.notes.append(Finding("warning", str(src), loc, msg))
        if bucket == "topology":
            key = (kind, "", f"#{len(order)}")
        else:
            key = (kind, str(meta.get("namespace") or "default"), name or f"#{len(order)}")
        if key in keyed:
            cfg.notes.append(
                Finding("info", str(src), "", f"replaces the {kind} {name} from {keyed[key][1].source.file}")
            )
        else:
            order.append(key)
        keyed[key] = (bucket, Doc(src, obj))
    for key in order:
        bucket, doc = keyed[key]
        if bucket in _LIST_BUCKETS:
            getattr(cfg, _LIST_BUCKETS[bucket]).append(doc)
        elif bucket == "scenario":
            if cfg.scenario is not None:
                raise ConfigError(str(doc.source), "", f"a second Scenario (the first is in {cfg.scenario.source.file}); give one")
            cfg.scenario = doc
        elif bucket == "load":
            if cfg.load is not None:
                raise ConfigError(
                    str(doc.source), "", f"a second LoadProfile (the first is in {cfg.load.source.file}); give one"
                )
            cfg.load = doc
        elif bucket == "settings":
            if cfg.settings is not None:
                # several MeshSettings merge field by field, later files winning (e.g. a calibration
                # file on top of a scenario's own settings)
                merged = _deep_merge(
                    cfg.settings.obj.model_dump(exclude_unset=True, by_alias=True),
                    doc.obj.model_dump(exclude_unset=True, by_alias=True),
                )
                try:
                    obj = MeshSettings.model_validate(merged)
                except ValidationError as exc:
                    raise _validation_error(doc.source, exc) from None
                cfg.notes.append(Finding("info", str(doc.source), "", f"merged over the MeshSettings in {cfg.settings.source.file}"))
                doc = Doc(doc.source, obj)
            cfg.settings = doc
    if not cfg.topologies:
        raise ConfigError(
            ", ".join(sorted({s.file for s, _ in docs})) or "(no input)",
            "",
            "no MockServiceGraph topology found; meshsim needs one to know the services and their calls: "
            "`meshsim init FILE...` writes a starter from your Deployments and Services "
            "(README: \"Starting from your own manifests\")",
        )
    return cfg


def load(paths: list[str], overrides: list[str] | None = None) -> MeshConfig:
    """Load, override and validate ``paths`` into a :class:`MeshConfig`.

    Parameters
    ----------
    paths:
        Files or directories of (multi-document) YAML.
    overrides:
        ``--set`` assignments, applied in order (see :func:`apply_override`).

    Raises
    ------
    ConfigError
        On any invalid input; the message is one line naming the file and field.
    """
    docs, files, digest = load_documents(paths)
    for assignment in overrides or []:
        docs = apply_override(docs, assignment)
    cfg = validate_docs(docs)
    cfg.files = files
    h = hashlib.sha256(digest.encode())
    for assignment in overrides or []:
        h.update(assignment.encode() + b"\0")
    cfg.digest = h.hexdigest()
    return cfg

"""Load YAML files and directories into one :class:`MeshConfig`.

Paths may be files or directories (``*.yaml``/``*.yml``/``*.json`` below them, in sorted order) of multi-document
YAML. Each document is dispatched on ``apiVersion``/``kind``; documents from several files merge into
one mesh. An object with the same kind, namespace and name as an earlier one replaces it, as
``kubectl apply`` would. ``--set`` overrides are applied to the parsed documents before validation;
the files themselves are never written.

Errors are :class:`~meshsim.errors.ConfigError`: one line naming the file (with the line number
where the YAML parser knows it), the object and the field. Every document is validated before
anything is raised, so one run of ``meshsim validate`` lists every error
(:class:`~meshsim.errors.ConfigErrors`). An error in a value that a ``--set`` (or ``--rps``,
``--duration``, ``--warmup``) put there says so: ``(from --duration)``.

Files are read by :mod:`meshsim.config.yamlread` (bounded, no duplicate keys) and never written.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from meshsim.config.base import collect_notes
from meshsim.config.hpa import HorizontalPodAutoscaler
from meshsim.config.istio import DestinationRule, Gateway, VirtualService
from meshsim.config.kube import Deployment, KubeNode, KubeService
from meshsim.config.kubectl import is_list, normalise
from meshsim.config.meshsim_kinds import SLO, LoadProfile, MeshSettings, Node
from meshsim.config.scenario import CanaryPolicy, Scenario
from meshsim.config.security import AuthorizationPolicy, PeerAuthentication
from meshsim.config.topology import MockServiceGraph
from meshsim.config.yamlread import Lines, line_of, read_yaml
from meshsim.errors import ConfigError, ConfigErrors, Finding, format_loc, shorten
from meshsim.units import show

__all__ = [
    "Source",
    "Doc",
    "MeshConfig",
    "Override",
    "load",
    "load_documents",
    "apply_override",
    "validate_docs",
]

ISTIO_NETWORKING = {
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
}
ISTIO_SECURITY = frozenset({"security.istio.io/v1", "security.istio.io/v1beta1"})
MESHSIM_API = frozenset({"meshsim.io/v1alpha1"})
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
    """Where a document came from: file, 1-based document index, and its kind/name once known.

    ``lines`` maps field paths to 1-based lines of the file (None for documents not read from YAML);
    ``overrides`` maps the paths a ``--set`` replaced to what set them (``--set X=1``, ``--duration``).
    Neither takes part in equality or hashing.
    """

    file: str
    index: int = 1
    kind: str | None = None
    name: str | None = None
    lines: Lines | None = field(default=None, compare=False, hash=False, repr=False)
    overrides: dict[tuple[str | int, ...], str] | None = field(default=None, compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return self.where()

    def where(self, line: int | None = None) -> str:
        """``file[:line] (Kind name)``."""
        file = f"{self.file}:{line}" if line is not None else self.file
        if self.kind and self.name:
            return f"{file} ({self.kind} {self.name})"
        if self.kind:
            return f"{file} ({self.kind}, document {self.index})"
        return f"{file} (document {self.index})"

    def at(self, loc: tuple[str | int, ...]) -> str:
        """:meth:`where` with the line of ``loc`` (or of its nearest enclosing field)."""
        return self.where(line_of(self.lines, loc))

    def overridden_by(self, loc: tuple[str | int, ...], message: str = "") -> str | None:
        """What ``--set`` put the value at ``loc`` there, if one did.

        A path the override set that is ``loc`` or encloses it counts; so does one inside ``loc``
        whose last key the ``message`` names (a model-level check such as "duration must be > 0"
        reported at ``spec``).
        """
        for path, origin in (self.overrides or {}).items():
            if tuple(loc[: len(path)]) == path:
                return origin
            if (
                tuple(path[: len(loc)]) == tuple(loc)
                and path
                and re.search(rf"\b{re.escape(str(path[-1]))}\b", message)
            ):
                return origin
        return None


class Override(str):
    """A ``--set`` assignment that remembers the flag it came from (``origin``, e.g. ``--duration``).

    Behaves as the plain ``Kind.path=value`` string everywhere else (run.json records it as one).
    """

    origin: str

    def __new__(cls, assignment: str, origin: str = "--set") -> Override:
        obj = super().__new__(cls, assignment)
        obj.origin = origin
        return obj


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
    autoscalers: list[Doc] = field(default_factory=list)
    nodes: list[Doc] = field(default_factory=list)
    """``meshsim.io/v1alpha1 Node`` and Kubernetes ``v1 Node`` documents (the CPU model's nodes)."""
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
            found = sorted(f for f in path.rglob("*") if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
            if not found:
                raise ConfigError(p, "", "directory holds no .yaml, .yml or .json file")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(p, "", "no such file or directory")
    return files


def _objects(doc: Any, lines: Lines) -> list[tuple[Any, Lines]]:
    """The objects one YAML document holds, each with the line of every field (:func:`meshsim.config.kubectl.normalise`:
    a ``List`` is unwrapped, recursively, its items' lines re-rooted; ``status`` and server-set metadata are
    dropped); anything but a mapping is returned as it is, for the caller to reject."""
    if not isinstance(doc, dict):
        return [(doc, lines)]
    if is_list(doc):
        out: list[tuple[Any, Lines]] = []
        for k, item in enumerate(doc["items"]):
            sub = {p[2:]: ln for p, ln in lines.items() if len(p) >= 2 and p[0] == "items" and p[1] == k}
            out.extend(_objects(item, sub))
        return out
    return [(normalise(doc)[0], lines)]


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
        On a missing path, an empty file, a YAML syntax error (with line and column), a document that
        is not a map, or YAML beyond the reader's bounds (:mod:`meshsim.config.yamlread`); every file
        is read first and all such errors are raised together (:class:`ConfigErrors`).
    """
    docs: list[tuple[Source, dict[str, Any]]] = []
    h = hashlib.sha256()
    files = _yaml_files(paths)
    errors: list[ConfigError] = []
    for f in files:
        try:
            text = f.read_bytes()
        except OSError as exc:
            errors.append(ConfigError(str(f), "", f"cannot read: {exc.strerror or exc}"))
            continue
        h.update(str(f.name).encode() + b"\0" + text + b"\0")
        found = 0
        try:
            for _, doc, doc_lines in read_yaml(text, str(f)):
                if doc is None:
                    continue
                # kubectl exports: a List's items, each without status and server-set metadata
                for d, lines in _objects(doc, doc_lines):
                    found += 1
                    src = Source(str(f), found, lines=lines)
                    if not isinstance(d, dict):
                        errors.append(ConfigError(src.where(lines.get(())), "", "a document must be a YAML mapping"))
                        continue
                    docs.append((src, d))
        except ConfigError as exc:
            errors.append(exc)
            continue
        if not found:
            errors.append(ConfigError(str(f), "", "holds no YAML document (empty, or only comments)"))
    if errors:
        raise ConfigErrors(errors)
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


def apply_override(docs: list[tuple[Source, dict[str, Any]]], assignment: str) -> list[tuple[Source, dict[str, Any]]]:
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
        (source ``--set``) when the assignment is malformed or selects nothing; naming the document's file,
        with the flag in the message, when the path does not fit the document it selects.
    """
    split_at = split_assignment(assignment)
    if split_at < 0:
        raise ConfigError("--set", assignment, "expected Kind[/name].path=value")
    target, raw_value = assignment[:split_at], assignment[split_at + 1 :]
    label = getattr(assignment, "origin", None) or f"--set {shorten(str(assignment), 80)}"
    value: Any = ""
    if raw_value != "":
        try:
            value = next((d for _, d, _ in read_yaml(raw_value.encode(), label)), None)
        except ConfigError:
            value = raw_value
    head, _, rest = target.partition(".")
    kind, _, name = head.partition("/")
    if not rest:
        raise ConfigError("--set", target, "give a field path after the kind, e.g. LoadProfile.spec.rate")
    parts = _parse_path(rest, target)
    out = [(s, copy.deepcopy(d)) for s, d in docs]
    matched = [
        k
        for k, (_, d) in enumerate(out)
        if (d.get("kind") == kind or (kind == "MockServiceGraph" and "services" in d and not d.get("kind")))
        and (not name or (d.get("metadata") or {}).get("name") == name)
    ]
    if not matched:
        if kind in ("LoadProfile", "MeshSettings") and not name:
            out.append((Source("--set", 1, kind), {"apiVersion": "meshsim.io/v1alpha1", "kind": kind}))
            matched = [len(out) - 1]
        else:
            raise ConfigError("--set", target, f"no {head} document to set")
    for k in matched:
        src, doc = out[k]
        node: Any = doc
        concrete: list[str | int] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            loc = format_loc([p if not isinstance(p, tuple) else f"{p[0]}={p[1]}" for p in parts[: i + 1]])
            if isinstance(part, tuple):
                if not isinstance(node, list):
                    raise ConfigError(str(src), f"{head}.{loc}", f"not a list ({label})")
                hits = [e for e in node if isinstance(e, dict) and str(e.get(part[0])) == part[1]]
                if not hits:
                    raise ConfigError(str(src), f"{head}.{loc}", f"no list element matches ({label})")
                if last:
                    raise ConfigError(str(src), f"{head}.{loc}", f"cannot replace a whole selected element ({label})")
                concrete.append(next(j for j, e in enumerate(node) if e is hits[0]))
                node = hits[0]
            elif isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise ConfigError(str(src), f"{head}.{loc}", f"index out of range ({label})")
                concrete.append(part)
                if last:
                    node[part] = value
                else:
                    node = node[part]
            else:
                if not isinstance(node, dict):
                    raise ConfigError(str(src), f"{head}.{loc}", f"not a mapping ({label})")
                concrete.append(part)
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
        out[k] = (replace(src, overrides={**(src.overrides or {}), tuple(concrete): label}), doc)
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
    "hpa": "autoscalers",
    "node": "nodes",
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


_KNOWN_KINDS: dict[str, tuple[frozenset[str], str, type[BaseModel] | None]] = {
    "VirtualService": (frozenset(ISTIO_NETWORKING), "vs", VirtualService),
    "DestinationRule": (frozenset(ISTIO_NETWORKING), "dr", DestinationRule),
    "Gateway": (frozenset(ISTIO_NETWORKING), "gateway", Gateway),
    **{k: (frozenset(ISTIO_NETWORKING), "", None) for k in _NOT_MODELLED_ISTIO},
    "PeerAuthentication": (ISTIO_SECURITY, "peerauthn", PeerAuthentication),
    "AuthorizationPolicy": (ISTIO_SECURITY, "authz", AuthorizationPolicy),
    "RequestAuthentication": (ISTIO_SECURITY, "", None),
    "LoadProfile": (MESHSIM_API, "load", LoadProfile),
    "MeshSettings": (MESHSIM_API, "settings", MeshSettings),
    "SLO": (MESHSIM_API, "slo", SLO),
    "Scenario": (MESHSIM_API, "scenario", Scenario),
    "CanaryPolicy": (MESHSIM_API, "canary", CanaryPolicy),
    "Node": (MESHSIM_API, "node", Node),
}
"""Every kind meshsim knows: the apiVersions it is served under, its bucket ('' = not modelled) and model."""

_KNOWN_GROUPS = {
    "networking.istio.io": "networking.istio.io",
    "security.istio.io": "security.istio.io",
    "meshsim.io": "meshsim.io",
}
"""API groups whose every kind meshsim knows: an unknown kind there is a typo, so an error."""

_KUBE_KINDS = frozenset(
    {
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Namespace",
        "Pod",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Endpoints",
        "EndpointSlice",
        "Ingress",
        "IngressClass",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "PodDisruptionBudget",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "StorageClass",
        "LimitRange",
        "ResourceQuota",
        "PriorityClass",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ReplicationController",
        "List",
    }
)
"""Kubernetes kinds that do not change a simulation: skipped with an info note (others: a warning)."""


def _dispatch(src: Source, d: dict[str, Any]) -> tuple[str, type[BaseModel] | None, Finding | None]:
    """Return (bucket, model, note) for a raw document; bucket '' means skip (with the note).

    Raises
    ------
    ConfigError
        On a document without apiVersion/kind, a known kind under the wrong apiVersion (a
        LoadProfile under ``v1``, a PeerAuthentication under ``networking.istio.io``) or an unknown
        kind in a group meshsim knows completely (``networking.istio.io``, ``security.istio.io``,
        ``meshsim.io``). Unknown kinds elsewhere are skipped with a warning.
    """
    api = d.get("apiVersion")
    kind = d.get("kind")
    if kind == "MockServiceGraph" or (kind is None and "services" in d):
        return "topology", MockServiceGraph, None
    if not isinstance(api, str) or not isinstance(kind, str):
        missing = "apiVersion" if not isinstance(api, str) else "kind"
        raise ConfigError(
            src.at((missing,)), missing, "document has no apiVersion/kind and is not an isotope MockServiceGraph"
        )
    group = api.rpartition("/")[0]
    where = src.at(("kind",))
    if kind == "Node" and api == "v1":
        return "node", KubeNode, None  # a Kubernetes Node; meshsim's own Node is meshsim.io/v1alpha1
    # a known kind is meant when its group is one meshsim knows fully, when it has no group (a LoadProfile
    # under ``v1``) or when it is meshsim's own; a Gateway of gateway.networking.k8s.io is another kind
    if kind in _KNOWN_KINDS and (group in _KNOWN_GROUPS or "." not in group or _KNOWN_KINDS[kind][0] == MESHSIM_API):
        versions, bucket, model = _KNOWN_KINDS[kind]
        if api not in versions:
            want = " or ".join(sorted(versions))
            if kind == "Node":
                want = "v1 (a Kubernetes Node) or meshsim.io/v1alpha1"
            raise ConfigError(src.at(("apiVersion",)), "apiVersion", f"{kind} is served as {want}, not {show(api)}")
        if model is None:
            return "", None, Finding("warning", where, "", f"{kind} is not modelled yet; skipped")
        return bucket, model, None
    if group in _KNOWN_GROUPS:
        known = ", ".join(k for k, (v, _, _) in _KNOWN_KINDS.items() if any(x.startswith(group + "/") for x in v))
        raise ConfigError(where, "kind", f"unknown kind {show(kind)} in {group} (known: {known})")
    if group.endswith(".istio.io"):
        return "", None, Finding("warning", where, "", f"{kind} ({api}) is not modelled yet; skipped")
    is_kube = group == "" or "." not in group or group.endswith(".k8s.io")
    if is_kube:
        if kind == "Deployment":
            if api != "apps/v1":
                raise ConfigError(
                    src.at(("apiVersion",)), "apiVersion", f"Deployment is served as apps/v1, not {show(api)}"
                )
            return "deployment", Deployment, None
        if kind == "Service":
            if api != "v1":
                raise ConfigError(src.at(("apiVersion",)), "apiVersion", f"Service is served as v1, not {show(api)}")
            return "kservice", KubeService, None
        if kind == "HorizontalPodAutoscaler":
            if api not in ("autoscaling/v2", "autoscaling/v1"):
                raise ConfigError(
                    src.at(("apiVersion",)),
                    "apiVersion",
                    f"HorizontalPodAutoscaler is read as autoscaling/v2 (or v1), not {show(api)}",
                )
            return "hpa", HorizontalPodAutoscaler, None
        if kind in _KUBE_KINDS:
            return "", None, Finding("info", where, "", f"Kubernetes {kind} does not affect the simulation; skipped")
        return "", None, Finding("warning", where, "", f"unknown Kubernetes kind {show(kind)} ({api}); skipped")
    return "", None, Finding("warning", where, "", f"unknown kind {show(kind)} with apiVersion {show(api)}; skipped")


_SILENT_KUBE_KINDS = frozenset({"ServiceAccount"})
"""Skipped without a note: a ServiceAccount's only part in the mesh is its name, the mTLS identity,
which meshsim reads from the Deployments' ``serviceAccountName``."""


def _skipped_kube_note(skipped: dict[str, list[Source]]) -> Finding | None:
    """One info line for every Kubernetes document that does not affect the simulation (ConfigMaps,
    Secrets, ...), instead of one per document; none for :data:`_SILENT_KUBE_KINDS`."""
    shown = {k: v for k, v in skipped.items() if k not in _SILENT_KUBE_KINDS}
    if not shown:
        return None
    files = sorted({s.file for v in shown.values() for s in v})
    kinds = ", ".join(f"{k} ({len(v)})" if len(v) > 1 else k for k, v in sorted(shown.items()))
    return Finding("info", ", ".join(files), "", f"Kubernetes {kinds} does not affect the simulation; skipped")


_UNION_TAGS = frozenset(
    {
        "command",
        "group",
        "constant",
        "exponential",
        "lognormal",
        "uniform",
        "empirical",
        "CallSpec",
        "str",
        "int",
        "float",
        "bool",
        "none",
        "Percent",
    }
)
"""Names pydantic puts into an error's path for union members; they are not keys the user wrote."""


def _data_loc(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Turn a pydantic error path into the path of keys the user wrote, dropping union-member tags
    (``sleep.constant.value`` -> ``sleep.value``) by walking ``data`` alongside."""
    out: list[str | int] = []
    node: Any = data
    for part in loc:
        is_key = isinstance(node, dict) and isinstance(part, str) and part in node
        is_index = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if is_key or is_index:
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and (
            part in _UNION_TAGS
            or part.startswith(("function-", "list[", "dict[", "constrained-", "literal["))
            or (out and out[-1] == part)
        ):
            continue
        else:
            out.append(part)
            node = None
    return tuple(out)


def _validation_errors(
    src: Source, exc: ValidationError, data: Any, prefix: tuple[str | int, ...] = ()
) -> list[ConfigError]:
    """One :class:`ConfigError` per pydantic error, each with its line (or the ``--set`` that caused it)."""
    out: list[ConfigError] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        loc = (*prefix, *_data_loc(data, tuple(err["loc"])))
        origin = src.overridden_by(loc, msg)
        if origin is not None:
            where, msg = src.where(), f"{msg} (from {origin})"
        else:
            where = src.at(loc)
        key = (format_loc(loc), msg)
        if key in seen:
            continue
        seen.add(key)
        out.append(ConfigError(where, format_loc(loc), msg))
    return out


def _validation_error(src: Source, exc: ValidationError, data: Any = None) -> ConfigErrors:
    return ConfigErrors(_validation_errors(src, exc, data))


def _scenario_apply_errors(src: Source, obj: Scenario, raw: dict[str, Any]) -> list[ConfigError]:
    """Validate every Scenario ``apply`` document now, as ``validate`` must find what the run would."""
    errors: list[ConfigError] = []
    raw_events = ((raw.get("spec") or {}).get("events")) or []
    for i, ev in enumerate(obj.spec.events):
        if ev.apply is None:
            continue
        prefix: tuple[str | int, ...] = ("spec", "events", i, "apply")
        doc = raw_events[i]["apply"] if i < len(raw_events) and isinstance(raw_events[i], dict) else ev.apply
        if doc.get("kind") not in ("VirtualService", "DestinationRule"):
            errors.append(
                ConfigError(
                    src.at((*prefix, "kind")),
                    format_loc((*prefix, "kind")),
                    "apply takes a VirtualService or DestinationRule document",
                )
            )
            continue
        try:
            _, model, _ = _dispatch(src, doc)
        except ConfigError as exc:
            errors.append(ConfigError(src.at((*prefix, exc.loc)), format_loc((*prefix, exc.loc)), exc.message))
            continue
        assert model is not None
        try:
            model.model_validate(doc)
        except ValidationError as exc:
            errors.extend(_validation_errors(src, exc, doc, prefix))
    return errors


def validate_docs(docs: list[tuple[Source, dict[str, Any]]]) -> MeshConfig:
    """Validate raw documents into a :class:`MeshConfig` (dispatch, pydantic, merge).

    Every document is validated (Scenario ``apply`` documents included) before any error is raised.

    Raises
    ------
    ConfigErrors
        Every document error found, each naming the file (and line), object and field path.
    ConfigError
        On a config that is valid document by document but not as a whole (two LoadProfiles, no
        topology).
    """
    cfg = MeshConfig()
    cfg.raw = list(docs)
    keyed: dict[tuple[str, str, str], tuple[str, Doc]] = {}
    order: list[tuple[str, str, str]] = []
    errors: list[ConfigError] = []
    skipped_kube: dict[str, list[Source]] = {}
    for src, d in docs:
        kind = str(d.get("kind") or "MockServiceGraph")
        raw_meta = d.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        name = str(meta.get("name")) if meta and meta.get("name") else None
        src = replace(src, kind=shorten(kind, 60), name=shorten(name, 60) if name else None)
        try:
            bucket, model, note = _dispatch(src, d)
        except ConfigError as exc:
            errors.append(exc)
            continue
        if model is None:
            if kind in _KUBE_KINDS and bucket == "" and note is not None and note.level == "info":
                skipped_kube.setdefault(kind, []).append(src)  # one summary line below
            else:
                cfg.notes.append(note or Finding("info", str(src), "", "skipped"))
            continue
        try:
            obj = model.model_validate(d)
        except ValidationError as exc:
            errors.extend(_validation_errors(src, exc, d))
            continue
        if isinstance(obj, Scenario):
            errors.extend(_scenario_apply_errors(src, obj, d))
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
    if errors:
        raise ConfigErrors(errors)
    note = _skipped_kube_note(skipped_kube)
    if note is not None:
        cfg.notes.append(note)
    for key in order:
        bucket, doc = keyed[key]
        if bucket in _LIST_BUCKETS:
            getattr(cfg, _LIST_BUCKETS[bucket]).append(doc)
        elif bucket == "scenario":
            if cfg.scenario is not None:
                raise ConfigError(
                    str(doc.source), "", f"a second Scenario (the first is in {cfg.scenario.source.file}); give one"
                )
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
                    raise _validation_error(doc.source, exc, merged) from None
                cfg.notes.append(
                    Finding("info", str(doc.source), "", f"merged over the MeshSettings in {cfg.settings.source.file}")
                )
                doc = Doc(doc.source, obj)
            cfg.settings = doc
    if not cfg.topologies:
        raise ConfigError(
            ", ".join(sorted({s.file for s, _ in docs})) or "(no input)",
            "",
            "no MockServiceGraph topology found; meshsim needs one to know the services and their calls: "
            "`meshsim init FILE...` writes a starter from your Deployments and Services "
            '(README: "Starting from your own manifests")',
        )
    return cfg


def load(paths: list[str], overrides: list[str] | None = None) -> MeshConfig:
    """Load, override and validate ``paths`` into a :class:`MeshConfig`, then run the static checks
    of :mod:`meshsim.config.checks` (call cycles, RE2 regexes, pod totals).

    Parameters
    ----------
    paths:
        Files or directories of (multi-document) YAML.
    overrides:
        ``--set`` assignments, applied in order (see :func:`apply_override`); an :class:`Override`
        names the flag it came from in errors.

    Raises
    ------
    ConfigError
        On any invalid input; each message is one line naming the file and field
        (:class:`ConfigErrors` when there are several).
    """
    from meshsim.config.checks import check_config

    docs, files, digest = load_documents(paths)
    for assignment in overrides or []:
        docs = apply_override(docs, assignment)
    cfg = validate_docs(docs)
    cfg.files = files
    h = hashlib.sha256(digest.encode())
    for assignment in overrides or []:
        h.update(assignment.encode() + b"\0")
    cfg.digest = h.hexdigest()
    findings = check_config(cfg)
    errors = [ConfigError(f.source, f.loc, f.message) for f in findings if f.level == "error"]
    if errors:
        raise ConfigErrors(errors)
    cfg.notes.extend(findings)
    return cfg

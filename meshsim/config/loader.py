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

By concern: :mod:`meshsim.config.documents` finds and reads the documents, :mod:`meshsim.config.overrides`
applies ``--set``, :mod:`meshsim.config.kinds` dispatches each on its kind, :mod:`meshsim.config.field_errors`
words pydantic's errors; this module validates the documents and merges them into one mesh. Its public
names stay importable from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from meshsim.config.base import collect_notes
from meshsim.config.documents import Doc, MeshConfig, Override, Source, load_documents
from meshsim.config.field_errors import scenario_apply_errors, validation_error, validation_errors
from meshsim.config.kinds import KUBE_KINDS, dispatch, skipped_kube_note
from meshsim.config.meshsim_kinds import MeshSettings
from meshsim.config.overrides import apply_override, split_assignment
from meshsim.config.scenario import Scenario
from meshsim.errors import ConfigError, ConfigErrors, Finding, shorten

__all__ = [
    "Source",
    "Doc",
    "MeshConfig",
    "Override",
    "load",
    "load_documents",
    "apply_override",
    "split_assignment",
    "validate_docs",
]

_validation_error = validation_error  # the name other packages import

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


Key = tuple[str, str, str]
"""``(kind, namespace, name)``: a later object with the same key replaces the earlier one, as ``kubectl apply``."""


@dataclass
class _Collected:
    """The documents validated so far: the last of each key with its bucket, keys in first-seen order,
    every document error, and the skipped Kubernetes documents by kind (for one summary note)."""

    keyed: dict[Key, tuple[str, Doc]] = field(default_factory=dict)
    order: list[Key] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    skipped_kube: dict[str, list[Source]] = field(default_factory=dict)


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
    seen = _Collected()
    for src, d in docs:
        _validate_one(cfg, seen, src, d)
    if seen.errors:
        raise ConfigErrors(seen.errors)
    note = skipped_kube_note(seen.skipped_kube)
    if note is not None:
        cfg.notes.append(note)
    for key in seen.order:
        _place(cfg, *seen.keyed[key])
    if not cfg.topologies:
        raise ConfigError(
            ", ".join(sorted({s.file for s, _ in docs})) or "(no input)",
            "",
            "no MockServiceGraph topology found; meshsim needs one to know the services and their calls: "
            "`meshsim init FILE...` writes a starter from your Deployments and Services "
            '(README: "Starting from your own manifests")',
        )
    return cfg


def _validate_one(cfg: MeshConfig, seen: _Collected, src: Source, d: dict[str, Any]) -> None:
    """Dispatch and validate one raw document into ``seen`` (its errors too); notes go to ``cfg``."""
    kind = str(d.get("kind") or "MockServiceGraph")
    raw_meta = d.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    name = str(meta.get("name")) if meta and meta.get("name") else None
    src = replace(src, kind=shorten(kind, 60), name=shorten(name, 60) if name else None)
    try:
        bucket, model, note = dispatch(src, d)
    except ConfigError as exc:
        seen.errors.append(exc)
        return
    if model is None:
        if kind in KUBE_KINDS and bucket == "" and note is not None and note.level == "info":
            seen.skipped_kube.setdefault(kind, []).append(src)  # one summary line, later
        else:
            cfg.notes.append(note or Finding("info", str(src), "", "skipped"))
        return
    try:
        obj = model.model_validate(d)
    except ValidationError as exc:
        seen.errors.extend(validation_errors(src, exc, d))
        return
    if isinstance(obj, Scenario):
        seen.errors.extend(scenario_apply_errors(src, obj, d))
    for loc, msg in collect_notes(obj):
        cfg.notes.append(Finding("warning", str(src), loc, msg))
    if bucket == "topology":
        key = (kind, "", f"#{len(seen.order)}")
    else:
        key = (kind, str(meta.get("namespace") or "default"), name or f"#{len(seen.order)}")
    if key in seen.keyed:
        cfg.notes.append(
            Finding("info", str(src), "", f"replaces the {kind} {name} from {seen.keyed[key][1].source.file}")
        )
    else:
        seen.order.append(key)
    seen.keyed[key] = (bucket, Doc(src, obj))


def _place(cfg: MeshConfig, bucket: str, doc: Doc) -> None:
    """Put one validated document where its bucket goes in ``cfg``: a list, or a single slot (a second
    Scenario or LoadProfile is an error; a second MeshSettings merges over the first)."""
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
        cfg.settings = doc if cfg.settings is None else _merged_settings(cfg, cfg.settings, doc)


def _merged_settings(cfg: MeshConfig, first: Doc, later: Doc) -> Doc:
    """Several MeshSettings merge field by field, later files winning (e.g. a calibration file on top
    of a scenario's own settings); notes the merge in ``cfg``."""
    merged = _deep_merge(
        first.obj.model_dump(exclude_unset=True, by_alias=True),
        later.obj.model_dump(exclude_unset=True, by_alias=True),
    )
    try:
        obj = MeshSettings.model_validate(merged)
    except ValidationError as exc:
        raise validation_error(later.source, exc, merged) from None
    cfg.notes.append(Finding("info", str(later.source), "", f"merged over the MeshSettings in {first.source.file}"))
    return Doc(later.source, obj)


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

"""Document discovery and reading: the YAML files under the given paths, each document with its
:class:`Source` (file, index, field lines), and the containers the loader fills (:class:`Doc`,
:class:`MeshConfig`).

Paths may be files or directories (``*.yaml``/``*.yml``/``*.json`` below them, in sorted order) of
multi-document YAML; a kubectl ``List`` is unwrapped into its items. Files are read by
:mod:`meshsim.config.yamlread` (bounded, no duplicate keys) and never written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshsim.config.kubectl import is_list, normalise
from meshsim.config.meshsim_kinds import LoadProfile, MeshSettings
from meshsim.config.yamlread import Lines, line_of, read_yaml
from meshsim.errors import ConfigError, ConfigErrors, Finding

__all__ = ["Source", "Override", "Doc", "MeshConfig", "load_documents"]


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

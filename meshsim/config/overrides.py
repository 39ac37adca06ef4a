"""``--set`` overrides: ``Kind[/name].field.path=value`` applied to the parsed documents before
validation (the files themselves are never written). Each replaced path is recorded in the document's
:attr:`~meshsim.config.documents.Source.overrides`, so an error in the value says which flag put it there.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

from meshsim.config.documents import Source
from meshsim.config.yamlread import read_yaml
from meshsim.errors import ConfigError, format_loc, shorten

__all__ = ["split_assignment", "apply_override"]


_SEG = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[\"([^\"]+)\"\]|\[([^=\]]+)=([^\]]*)\]")


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
        elif m.group(3) is not None:
            parts.append(m.group(3))  # a quoted key: dots and slashes are part of it
        else:
            parts.append((m.group(4), m.group(5)))
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

    Syntax: ``Kind[/name].field.path=value``; the path uses ``.key``, ``["key"]`` (a key with dots or slashes:
    ``annotations["sidecar.istio.io/proxyCPU"]``), ``[index]`` and ``[key=value]`` (select a list element by
    a field, e.g. ``services[name=reviews]``); ``value`` is
    parsed as YAML. Examples: ``LoadProfile.spec.rate=500``, ``MockServiceGraph.services[name=reviews].numReplicas=3``,
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

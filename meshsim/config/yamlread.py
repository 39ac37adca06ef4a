"""A bounded, strict YAML reader: safe tags only, no duplicate keys, bounded nesting and aliases.

PyYAML's ``safe_load`` constructs only plain data (no Python objects), but it still keeps the last of
two equal keys silently, expands aliases without bound ("billion laughs"), composes nesting
recursively until ``RecursionError`` and reports NUL bytes as a bare ``ReaderError``. This reader
refuses each of those with a :class:`~meshsim.errors.ConfigError` naming the file and line, using the
bounds of :mod:`meshsim.config.limits`. kubectl's strict field validation reports duplicate fields
the same way.

It also records the line of every mapping key and sequence item, so that a validation error at
``spec.http[0].route[1].weight`` can name its line (:func:`line_of`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meshsim.config.limits import MAX_FILE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from meshsim.errors import ConfigError
from meshsim.units import show

__all__ = ["Lines", "read_yaml", "line_of"]

Lines = dict[tuple[str | int, ...], int]
"""1-based line of each path (``("spec", "http", 0)``) in one document."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with a nesting bound and duplicate-key refusal."""

    def __init__(self, stream: Any, file: str) -> None:
        super().__init__(stream)
        self._file = file
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(
                    self._file, f"line {mark.line + 1}", f"YAML nested deeper than {MAX_YAML_DEPTH} levels"
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise ConfigError(
                    self._file,
                    f"line {line}",
                    f"duplicate key {show(key)} (first at line {first}); YAML would keep only the last",
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _expanded_size(root: Node, file: str) -> None:
    """Raise if the document, aliases expanded, has more than MAX_YAML_NODES nodes or an alias to
    its own ancestor (a recursive structure)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(
                file, f"line {node.start_mark.line + 1}", "recursive YAML alias (a node that contains itself)"
            )
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += size(child)
                if total > MAX_YAML_NODES:
                    break
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_YAML_NODES:
                    break
        active.discard(key)
        if total > MAX_YAML_NODES:
            raise ConfigError(
                file,
                f"line {node.start_mark.line + 1}",
                f"YAML aliases expand to more than {MAX_YAML_NODES} nodes (an alias bomb?); write the values out",
            )
        sizes[key] = total
        return total

    size(root)


def _lines(root: Node) -> Lines:
    out: Lines = {}

    def walk(node: Node, path: tuple[str | int, ...], depth: int) -> None:
        if depth > MAX_YAML_DEPTH:
            return
        if isinstance(node, MappingNode):
            for k, v in node.value:
                if isinstance(k, ScalarNode):
                    p = (*path, str(k.value))
                    out.setdefault(p, k.start_mark.line + 1)
                    walk(v, p, depth + 1)
        elif isinstance(node, SequenceNode):
            for i, child in enumerate(node.value):
                p = (*path, i)
                out.setdefault(p, child.start_mark.line + 1)
                walk(child, p, depth + 1)

    out[()] = root.start_mark.line + 1
    walk(root, (), 0)
    return out


def _yaml_error(file: str, exc: yaml.YAMLError, text: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return ConfigError(
            file, f"line {line}", f"invalid YAML: control character {show(chr(exc.character))} is not allowed"
        )
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return ConfigError(file, where, f"invalid YAML: {problem}")


def read_yaml(data: bytes, file: str) -> Iterator[tuple[int, Any, Lines]]:
    """Yield ``(document index (1-based), data, lines)`` for every non-empty document of ``data``.

    Raises
    ------
    ConfigError
        On a file over :data:`~meshsim.config.limits.MAX_FILE_BYTES`, a NUL byte, invalid UTF-8, a
        YAML syntax error (line and column), a duplicate key, nesting deeper than
        :data:`~meshsim.config.limits.MAX_YAML_DEPTH` or aliases expanding past
        :data:`~meshsim.config.limits.MAX_YAML_NODES` nodes.
    """
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            file, "", f"file is {len(data)} bytes, more than the {MAX_FILE_BYTES // 1024**2} MiB meshsim reads"
        )
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise ConfigError(file, f"line {line}", "contains a NUL byte; YAML is text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(file, f"line {line}", "is not UTF-8 text") from None
    try:
        loader = _StrictLoader(text, file)
    except yaml.YAMLError as exc:  # the reader checks the characters as it starts
        raise _yaml_error(file, exc, text) from None
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is None:
                continue
            _expanded_size(node, file)
            lines = _lines(node)
            yield index, loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        raise _yaml_error(file, exc, text) from None
    except RecursionError:
        raise ConfigError(file, "", f"YAML nested too deeply (more than {MAX_YAML_DEPTH} levels)") from None
    finally:
        loader.dispose()


def line_of(lines: Mapping[tuple[str | int, ...], int] | None, loc: tuple[str | int, ...]) -> int | None:
    """The line of the longest prefix of ``loc`` that ``lines`` knows (None without a line map)."""
    if not lines:
        return None
    for n in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:n]))
        if line is not None:
            return line
    return None

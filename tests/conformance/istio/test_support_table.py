"""docs/support.md lists every Istio field meshsim reads, and each field meshsim does not model with the
warning ``meshsim validate`` prints for it (the fields' ``__unmodelled__`` declarations)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from meshsim.config import istio, security

DOC = Path(__file__).resolve().parents[3] / "docs" / "support.md"
KINDS = (
    istio.VirtualService,
    istio.DestinationRule,
    istio.Gateway,
    security.PeerAuthentication,
    security.AuthorizationPolicy,
)


def _norm(path: str) -> str:
    """A subset's and a port-level entry's blocks are the top level's (one row each)."""
    path = path.replace("subsets[].trafficPolicy.", "trafficPolicy.")
    return re.sub(
        r"trafficPolicy\.portLevelSettings\[\]\.(loadBalancer|connectionPool|outlierDetection|tls)",
        r"trafficPolicy.\1",
        path,
    )


def _models(t: object) -> list[type[BaseModel]]:
    if isinstance(t, type) and issubclass(t, BaseModel):
        return [t]
    return [m for a in typing.get_args(t) for m in _models(a)]


def _fields(model: type[BaseModel], prefix: str, seen: set[type], out: dict[str, str | None]) -> None:
    """``out[path]``: None for a modelled field, else the warning text of an unmodelled one."""
    for name, f in model.model_fields.items():
        key = f.alias or name
        path = _norm(f"{prefix}.{key}" if prefix else key)
        if name in getattr(model, "__unmodelled__", ()):
            out.setdefault(path, getattr(model, "__unmodelled_why__", {}).get(name, "not modelled yet; ignored"))
            continue
        out.setdefault(path, None)
        suffix = "[]" if typing.get_origin(f.annotation) is list else ""
        for sub in _models(f.annotation):
            if sub not in seen:
                _fields(sub, path + suffix, seen | {sub}, out)


def _rows() -> dict[tuple[str, str], list[str]]:
    rows: dict[tuple[str, str], list[str]] = {}
    kind = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            kind = line[3:].split()[0]
        m = re.match(r"^\| `([^`]+)` \|(.*)\|$", line)
        if m:
            rows[(kind, m.group(1))] = [c.strip() for c in m.group(2).split("|")]
    return rows


def test_every_field_has_a_row_and_every_unmodelled_field_its_warning() -> None:
    rows = _rows()
    expected: set[tuple[str, str]] = set()
    for k in KINDS:
        spec = _models(k.model_fields["spec"].annotation)[0]
        fields: dict[str, str | None] = {}
        _fields(spec, "", {spec}, fields)
        for path, why in fields.items():
            expected.add((k.__name__, path))
            assert (k.__name__, path) in rows, f"docs/support.md has no row for {k.__name__} {path}"
            sim, _xds, note = rows[(k.__name__, path)]
            if why is not None:
                assert sim != "yes" and f'"{why}"' in note, f"{k.__name__} {path}: the row lacks its warning {why!r}"
    assert set(rows) == expected, f"rows for fields meshsim does not read: {sorted(set(rows) - expected)}"

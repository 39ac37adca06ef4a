"""One results directory per run, with the provenance to trace any number back to the run that made it.

Directory names follow ``meshsim run``'s convention, ``results/<name>-<digest8>-s<seed>``, with the
command appended for ``plan``, ``sweep`` and ``check`` (``results/bookinfo-1a2b3c4d-s1-plan``), where
``digest8`` starts the sha256 of the inputs' bytes, the overrides and the command's parameters.
``provenance.json`` records the command line, every input file with its sha256, the overrides, seed,
replications, the versions of meshsim, Python and the numerical libraries, wall time and the outputs.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from meshsim import __version__, atomic

__all__ = ["run_digest", "default_out_dir", "versions", "write_provenance"]

_PACKAGES = ("simpy", "numpy", "scipy", "pydantic", "pandas", "pyarrow", "dask", "distributed")


def _files(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(f for f in path.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file()))
        elif path.is_file():
            out.append(path)
    return out


def run_digest(paths: Sequence[str], params: dict[str, Any]) -> str:
    """sha256 (hex) over the input files' names and bytes and the JSON of ``params``."""
    h = hashlib.sha256()
    for f in _files(paths):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()


def default_out_dir(paths: Sequence[str], digest: str, seed: int, command: str) -> Path:
    """``results/<name>-<digest8>-s<seed>-<command>``; ``name`` is the first input's stem."""
    name = Path(paths[0].rstrip("/")).stem or "run"
    return Path("results") / f"{name}-{digest[:8]}-s{seed}-{command}"


def versions() -> dict[str, str]:
    """Versions of meshsim, Python, the platform and the numerical libraries in use."""
    out = {"meshsim": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_provenance(
    out: Path,
    command: Sequence[str],
    paths: Sequence[str],
    digest: str,
    params: dict[str, Any],
    outputs: Sequence[Path],
    wall_s: float,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``out/provenance.json`` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "command": list(command),
        "digest": digest,
        "inputs": [{"path": str(f), "sha256": hashlib.sha256(f.read_bytes()).hexdigest()} for f in _files(paths)],
        "params": params,
        "versions": versions(),
        "wall_time_s": round(wall_s, 3),
        "outputs": [str(p) for p in outputs],
        **(extra or {}),
    }
    path = out / "provenance.json"
    atomic.write_text(path, json.dumps(doc, indent=2, default=str) + "\n")
    return path

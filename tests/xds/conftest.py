"""Fixtures for the xDS translation tests; ``--refresh-golden`` rewrites tests/xds/golden/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "real" / "scenarios"
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--refresh-golden",
        action="store_true",
        default=False,
        help="rewrite the golden xDS JSON files under tests/xds/golden instead of comparing",
    )


@pytest.fixture
def refresh_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--refresh-golden"))


def scenario_names() -> list[str]:
    return sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test taking ``scenario`` over the shipped scenarios in real/scenarios/."""
    if "scenario" in metafunc.fixturenames:
        metafunc.parametrize("scenario", scenario_names())


@pytest.fixture
def load_model() -> Callable[[str], Any]:
    """Compile a shipped scenario (directory name under real/scenarios) into a MeshModel."""
    return _load_model


@pytest.fixture
def golden_dir() -> Path:
    return GOLDEN

"""Fixtures for the xDS translation tests; ``--refresh-golden`` rewrites tests/xds/golden/."""

from __future__ import annotations

from pathlib import Path

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


def load_model(name: str):
    from meshsim.config import load
    from meshsim.model import compile_model

    return compile_model(load([str(SCENARIOS / name)]))

"""A real run refuses what the loopback mesh cannot do, before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.errors import MeshsimError
from meshsim.model.build import load_and_compile
from meshsim.real.options import RunOptions
from meshsim.real.runner import run_real_sync
from tests.conftest import ROOT


def test_passthrough_is_refused_with_one_line(tmp_path: Path) -> None:
    fixture = str(ROOT / "tests" / "fixtures" / "valid" / "one-slow-replica.yaml")
    model, _ = load_and_compile(
        [fixture], ["DestinationRule/backend.spec.trafficPolicy.loadBalancer.simple=PASSTHROUGH"]
    )
    with pytest.raises(MeshsimError, match="PASSTHROUGH on outbound.*loopback mesh"):
        run_real_sync(model, RunOptions(out=tmp_path / "o"))
    assert not (tmp_path / "o").exists()

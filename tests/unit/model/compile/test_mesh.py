"""The orchestrator: one compile gives the model and its findings (meshsim.model.compile.mesh)."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshsim.model.compile.mesh as mesh
from meshsim.model.build import load_and_compile
from meshsim.model.compile import CompileError, compile_checked

from .support import CHAIN, config

REPO = Path(__file__).resolve().parents[4]

BAD_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: back}
spec:
  hosts: [back]
  http:
  - route:
    - destination: {host: back, subset: nope}
"""


def test_first_error_names_file_and_field() -> None:
    with pytest.raises(
        CompileError, match=r"in-1\.yaml.*spec\.http\[0\]\.route\[0\]\.destination\.subset.*unknown subset 'nope'"
    ):
        compile_checked(config(CHAIN, BAD_VS))


def test_findings_are_the_models_notes() -> None:
    model, findings = compile_checked(config(CHAIN))
    assert model.notes == tuple(str(f) for f in findings)


def test_load_and_compile_compiles_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = mesh.compile_with_findings

    def counted(cfg):  # noqa: ANN001, ANN202
        calls.append(cfg)
        return real(cfg)

    monkeypatch.setattr(mesh, "compile_with_findings", counted)
    load_and_compile([str(REPO / "topologies" / "bookinfo")])
    assert len(calls) == 1

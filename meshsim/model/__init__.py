"""Model layer: the resolved, frozen mesh (no SimPy, no I/O)."""

from meshsim.model.compile import CompileError, compile_model, compile_with_findings
from meshsim.model.ir import MeshModel

__all__ = ["CompileError", "MeshModel", "compile_model", "compile_with_findings"]

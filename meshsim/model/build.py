"""Load YAML and compile it once: the model a run or a static check starts from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from meshsim.config.checks import located
from meshsim.config.loader import load
from meshsim.errors import Finding
from meshsim.model.compile import compile_checked
from meshsim.model.ir import MeshModel
from meshsim.model.preflight import before_run
from meshsim.model.timeline import compile_timeline

__all__ = ["load_and_compile"]


def load_and_compile(
    paths: Sequence[str], overrides: Sequence[str] = (), force: bool = False
) -> tuple[MeshModel, list[Finding]]:
    """Load YAML ``paths`` (with ``--set`` style ``overrides``) and compile them once; a Scenario or
    CanaryPolicy becomes the model's ``timeline``. ``force`` lets a run estimated over the limits policy's
    budget through (:func:`meshsim.config.checks.before_run`).

    Returns the model and every finding (warnings and notes).

    Raises
    ------
    meshsim.errors.ConfigError
        On invalid input or a config that cannot be resolved (one line: file, field, message).
    """
    cfg = load(list(paths), list(overrides))
    with located(cfg):  # the compiler's errors with their YAML line
        model, findings = compile_checked(cfg)
        before_run(cfg, model, force)
        timeline = compile_timeline(cfg, model)
    if timeline is not None:
        model = replace(model, timeline=timeline)
    return model, findings

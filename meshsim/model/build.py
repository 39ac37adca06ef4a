"""Load YAML and compile it once: the model a run or a static check starts from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from meshsim.config.checks import located, namespaces, reported, with_lines
from meshsim.config.loader import load
from meshsim.errors import ConfigError, ConfigErrors, Finding
from meshsim.model.checks import model_findings, refine
from meshsim.model.compile import compile_checked
from meshsim.model.ir import MeshModel
from meshsim.model.preflight import before_run
from meshsim.model.timeline import compile_timeline

__all__ = ["load_and_compile"]


def load_and_compile(
    paths: Sequence[str],
    overrides: Sequence[str] = (),
    force: bool = False,
    origins: dict[tuple[str, str, str], str] | None = None,
) -> tuple[MeshModel, list[Finding]]:
    """Load YAML ``paths`` (with ``--set`` style ``overrides``) and compile them once; a Scenario or
    CanaryPolicy becomes the model's ``timeline``. ``force`` lets a run estimated over the limits policy's
    budget through (:func:`meshsim.config.checks.before_run`). ``origins``, if given, is filled with
    each object's namespace (:func:`meshsim.config.checks.namespaces`) for printing findings.

    Returns the model and every finding (warnings and notes), including those of
    :func:`meshsim.model.checks.model_findings` (a split of the entry service, shadowed ``--set``
    values, services called without pods in the routed subset).

    Raises
    ------
    meshsim.errors.ConfigError
        On invalid input or a config that cannot be resolved (one line: file, field, message); also
        for a finding the compiler raised as a warning that its check
        (:data:`meshsim.config.checks.CHECKS`) reports as an error, e.g. a VirtualService for a
        host that is no service.
    """
    cfg = load(list(paths), list(overrides))
    if origins is not None:
        origins.update(namespaces(cfg))
    with located(cfg):  # the compiler's errors with their YAML line
        model, findings = compile_checked(cfg)
        raised = [ConfigError(r.source, r.loc, r.message) for r in map(reported, findings) if r.level == "error"]
        if raised:
            raise ConfigErrors(raised)
        before_run(cfg, model, force)
        timeline = compile_timeline(cfg, model)
    findings = refine(findings, with_lines(cfg, model_findings(cfg, model)))
    if timeline is not None:
        model = replace(model, timeline=timeline)
    return model, findings

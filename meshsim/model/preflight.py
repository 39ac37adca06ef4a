"""Checks a compiled model gets before a simulation starts: an entry service with pods, and the run budget
(:mod:`meshsim.config.budget`). ``meshsim validate`` reports the same findings."""

from __future__ import annotations

from meshsim.config.budget import check_run_budget
from meshsim.config.loader import MeshConfig
from meshsim.errors import ConfigError, ConfigErrors, Finding
from meshsim.model.ir import MeshModel

__all__ = ["check_model", "before_run"]


def check_model(cfg: MeshConfig, model: MeshModel | None) -> list[Finding]:
    """Checks that need the compiled model: an entry service with no pod (and no gateway in front
    to answer 503 for it) is an error."""
    if model is None:
        return []
    out: list[Finding] = []
    try:
        entry = model.service(model.load.entry)
    except (KeyError, AttributeError):
        return out
    if model.gateway is None and sum(w.replicas for w in entry.workloads) == 0:
        src, loc = "", ""
        for doc in cfg.topologies:
            for idx, svc in enumerate(doc.obj.services):
                if svc.name == entry.name:
                    src, loc = doc.source.at(("services", idx, "numReplicas")), f"services[{idx}].numReplicas"
        out.append(
            Finding(
                "error", src, loc, f"the entry service {entry.name} has no pods (0 replicas); load has nowhere to go"
            )
        )
    return out


def before_run(cfg: MeshConfig, model: MeshModel, force: bool = False) -> None:
    """What every simulation checks before it starts: :func:`check_model` errors and the run budget
    (:func:`~meshsim.config.budget.check_run_budget`, skipped with ``force``).

    Raises
    ------
    ConfigError
        (:class:`~meshsim.errors.ConfigErrors` for several) naming the file and field.
    """
    errors = [ConfigError(f.source, f.loc, f.message) for f in check_model(cfg, model) if f.level == "error"]
    if errors:
        raise ConfigErrors(errors)
    check_run_budget(cfg, force)

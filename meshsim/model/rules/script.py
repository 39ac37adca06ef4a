"""Script flattening: the calls of an isotope-style script, concurrent groups expanded.

isotope's ``service/srv/handler.go`` runs a script's steps in order and the commands of a concurrent
group (a YAML list inside the script) in parallel; for static analysis (graphs, security checks,
retry multipliers) the order of calls inside a group does not matter.
"""

from __future__ import annotations

from meshsim.model.ir import CallStep, ConcurrentStep, CpuStep, SleepStep, Step

__all__ = ["calls_of", "flat_steps"]


def flat_steps(script: tuple[Step, ...]) -> list[SleepStep | CpuStep | CallStep]:
    """Every command of ``script`` in script order (sleeps, CPU steps, calls), concurrent groups expanded in place."""
    out: list[SleepStep | CpuStep | CallStep] = []
    for step in script:
        if isinstance(step, ConcurrentStep):
            out.extend(step.steps)
        else:
            out.append(step)
    return out


def calls_of(script: tuple[Step, ...]) -> list[CallStep]:
    """Every call in a script, concurrent groups flattened, in script order."""
    return [s for s in flat_steps(script) if isinstance(s, CallStep)]

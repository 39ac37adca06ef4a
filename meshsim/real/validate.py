"""``meshsim real validate``: predict with the simulator, measure on the real mesh, compare.

The same compiled :class:`MeshModel` feeds both sides (calibration and ``--rps``/``--duration``/
``--warmup`` are applied as config overrides before compiling), so the prediction and the runs see
the same load, routes and policies. The real runs use seeds ``seed``, ``seed+1``, ...; the comparison
takes the median of each metric over the runs (:func:`meshsim.report.compare.compare_runs`).

Output directory: ``pred/`` (summary.json and plots of the simulation), ``run-N/`` (each real run),
``compare.json``, ``compare.md``, ``compare.png`` and ``validate.json`` (what was run, load average).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshsim import atomic
from meshsim.experiments.simulate import simulate
from meshsim.model.build import load_and_compile
from meshsim.real.calibrate import calibration_overrides
from meshsim.real.runner import RunOptions, run_real_sync
from meshsim.report.compare import compare_runs
from meshsim.report.compare import write_outputs as write_compare
from meshsim.report.outputs import write_outputs

__all__ = ["validate"]


def validate(
    paths: list[str],
    out: Path,
    runs: int = 3,
    calibration: Path | None = None,
    replications: int = 8,
    duration: float | None = None,
    rps: float | None = None,
    warmup: float | None = None,
    seed: int = 1,
    envoy_concurrency: int = 1,
    nice: int = 0,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Run the whole validation and return the :class:`~meshsim.report.compare.Comparison`.

    ``workers`` simulation processes (default 1: the machine's CPU is shared with the real runs).

    Raises
    ------
    MeshsimError
        Bad input (one line) or a real run that could not be brought up.
    """

    say = progress or (lambda _m: None)
    overrides = _overrides(calibration, rps, duration, warmup)
    model, findings = load_and_compile(paths, overrides)
    out.mkdir(parents=True, exist_ok=True)
    say(f"simulating {replications} replications")
    pred = simulate(
        model,
        seed=seed,
        replications=replications,
        workers=workers,
        inputs=paths,
        findings=[str(f) for f in findings if f.level != "info"],
    )
    write_outputs(pred, out / "pred")
    reals = []
    loads: list[list[float]] = []
    for i in range(runs):
        say(f"real run {i + 1}/{runs}")
        loads.append(list(os.getloadavg()))
        reals.append(
            run_real_sync(
                model,
                RunOptions(out=out / f"run-{i + 1}", seed=seed + i, envoy_concurrency=envoy_concurrency, nice=nice),
                paths,
            )
        )
    c = compare_runs(pred, reals)
    write_compare(c, pred, reals, out, title=" ".join(paths))
    record = {
        "paths": paths,
        "overrides": overrides,
        "runs": runs,
        "replications": replications,
        "seed": seed,
        "nice": nice,
        "loadavg_at_run_start": loads,
        "passed": c.passed,
        "passed_without_latency": c.passed_without_latency,
    }
    atomic.write_text(out / "validate.json", json.dumps(record, indent=1) + "\n")
    return c


def _overrides(calibration: Path | None, rps: float | None, duration: float | None, warmup: float | None) -> list[str]:
    """The config overrides both sides run with: the calibration's MeshSettings, then the LoadProfile's
    rate (requests/s), duration and warm-up (seconds) where given."""
    overrides: list[str] = []
    if calibration is not None:
        overrides.extend(calibration_overrides(calibration))
    if rps is not None:
        overrides.append(f"LoadProfile.spec.rate={rps}")
    if duration is not None:
        overrides.append(f"LoadProfile.spec.duration={duration}")
    if warmup is not None:
        overrides.append(f"LoadProfile.spec.warmup={warmup}")
    return overrides

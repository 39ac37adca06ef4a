"""``meshsim real calibrate``: measure this machine's sidecar cost and write it as a ``MeshSettings``.

Three short real runs of tiny topologies whose apps do no work (no sleeps), at a low open-loop rate:

1. **direct**: one service, the load generator calls the app directly (no Envoy): the cost of the
   load generator's client plus the app's HTTP server ("app overhead");
2. **one**: the same, through the pod's inbound sidecar: ``one - direct`` is the cost of one Envoy
   traversal on this machine (median and p99 of the difference of the quantiles);
3. **chain**: ``front -> back`` (entry sidecar, front's outbound sidecar, back's inbound sidecar).

The simulator charges ``MeshSettings.spec.sidecar.latency`` per Envoy traversal and has no separate
app-overhead term: an entry request costs one traversal, every call two. So the written distribution
is the lognormal ``T`` whose sum of three independent draws matches the **chain**'s measured median and
p99 (the app's HTTP client/server costs are folded into the traversals, as the simulator needs); the
pure-Envoy cost and the app overhead are reported alongside, in the file's comments and the JSON.

The output is a valid ``MeshSettings`` document, so ``meshsim run topologies/x calibration.yaml`` uses
it directly; ``meshsim real validate --calibration FILE`` applies its ``spec.sidecar.latency`` as an
override (which also works when the scenario has its own MeshSettings).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from meshsim import atomic
from meshsim.config import load
from meshsim.config.meshsim_kinds import MeshSettings
from meshsim.errors import MeshsimError
from meshsim.model import compile_model
from meshsim.real.runner import RunOptions, run_real_sync

__all__ = ["CalibrationResult", "calibrate", "fit_traversal", "read_calibration", "calibration_override"]

_ONE = """apiVersion: meshsim.io/v1alpha1
kind: MockServiceGraph
services:
  - name: echo
    isEntrypoint: true
"""
_CHAIN = """apiVersion: meshsim.io/v1alpha1
kind: MockServiceGraph
services:
  - name: front
    isEntrypoint: true
    script:
      - call: back
  - name: back
"""
_LOAD = """apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {{name: calibration}}
spec:
  entry: {entry}
  arrival: poisson
  rate: {rate}
  warmup: {warmup}s
  duration: {duration}s
  drain: 2s
"""
_Q = (50, 90, 99)


@dataclasses.dataclass
class CalibrationResult:
    """Measured quantiles (ms) per run, the derived per-traversal costs, and the fitted lognormal (s)."""

    quantiles_ms: dict[str, dict[str, float]]
    envoy_traversal_ms: dict[str, float]
    app_overhead_ms: dict[str, float]
    fitted_median_s: float
    fitted_p99_s: float
    chain_check_ms: dict[str, float]
    one_check_ms: dict[str, float]
    loadavg: list[float]
    valid: dict[str, bool]
    rate: float
    duration: float

    def to_yaml(self) -> str:
        q = self.quantiles_ms
        lines = [
            "# meshsim real calibrate: this machine's cost per Envoy traversal, as the simulator charges it.",
            f"# Measured {time.strftime('%Y-%m-%d %H:%M')}, Poisson {self.rate:g} req/s, {self.duration:g} s per run, "
            f"load average {self.loadavg[0]:.2f} {self.loadavg[1]:.2f} {self.loadavg[2]:.2f}.",
            "# Entry latency quantiles (ms):",
        ]
        for name in ("direct", "one", "chain"):
            lines.append(
                f"#   {name:6s} p50 {q[name]['p50']:.3f}  p90 {q[name]['p90']:.3f}  p99 {q[name]['p99']:.3f}"
                f"{'' if self.valid.get(name, True) else '  (send-lag rule: invalid)'}"
            )
        e, a = self.envoy_traversal_ms, self.app_overhead_ms
        lines += [
            f"# One Envoy traversal alone (one - direct): p50 {e['p50']:.3f} ms, p99 {e['p99']:.3f} ms",
            f"# App overhead (load client + aiohttp server, direct): p50 {a['p50']:.3f} ms, p99 {a['p99']:.3f} ms",
            "# Fitted per-traversal T (app overhead folded in): 3 draws of T match the chain's p50/p99;",
            f"#   simulated chain with it: p50 {self.chain_check_ms['p50']:.3f} ms, p99 {self.chain_check_ms['p99']:.3f} ms;"
            f" one-service: p50 {self.one_check_ms['p50']:.3f} ms, p99 {self.one_check_ms['p99']:.3f} ms",
            "apiVersion: meshsim.io/v1alpha1",
            "kind: MeshSettings",
            "metadata: {name: calibration}",
            "spec:",
            "  sidecar:",
            f"    latency: {{dist: lognormal, median: {self.fitted_median_s * 1e6:.0f}us, "
            f"p99: {self.fitted_p99_s * 1e6:.0f}us}}",
            "",
        ]
        return "\n".join(lines)


def fit_traversal(
    target_p50: float, target_p99: float, k: int = 3, n: int = 200_000, seed: int = 0
) -> tuple[float, float]:
    """Lognormal (median, p99) of ``T`` such that the sum of ``k`` iid draws has the given p50 and p99.

    Common random numbers + a 2-d root solve on (log median, sigma); falls back to a moment-matched
    guess when the solver fails (e.g. a p99/p50 ratio a sum of lognormals cannot reach).
    """
    from scipy.optimize import least_squares

    z = np.random.default_rng(seed).standard_normal((k, n))

    def qs(mu: float, sigma: float) -> tuple[float, float]:
        s = np.exp(mu + sigma * z).sum(axis=0)
        return float(np.percentile(s, 50)), float(np.percentile(s, 99))

    def resid(x: np.ndarray) -> list[float]:
        p50, p99 = qs(float(x[0]), float(abs(x[1])))
        return [math.log(p50 / target_p50), math.log(p99 / target_p99)]

    x0 = np.array([math.log(target_p50 / k), 0.5])
    sol = least_squares(resid, x0, bounds=([-20.0, 1e-3], [5.0, 3.0]))
    mu, sigma = float(sol.x[0]), float(sol.x[1])
    z99 = 2.3263478740408408
    return math.exp(mu), math.exp(mu + z99 * sigma)


def _q(load: dict[str, Any]) -> dict[str, float]:
    lat = load.get("latency_ms") or {}
    return {f"p{q}": float(lat[f"p{q}"]) for q in _Q}


def calibrate(
    out_file: Path,
    workdir: Path,
    rate: float = 100.0,
    duration: float = 8.0,
    warmup: float = 2.0,
    seed: int = 1,
    envoy_concurrency: int = 1,
    nice: int = 0,
) -> CalibrationResult:
    """Run the three calibration runs under ``workdir`` and write the ``MeshSettings`` to ``out_file``."""

    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config"
    cfg.mkdir(exist_ok=True)
    (cfg / "one.yaml").write_text(
        _ONE + "---\n" + _LOAD.format(entry="echo", rate=rate, warmup=warmup, duration=duration)
    )
    (cfg / "chain.yaml").write_text(
        _CHAIN + "---\n" + _LOAD.format(entry="front", rate=rate, warmup=warmup, duration=duration)
    )
    quant: dict[str, dict[str, float]] = {}
    valid: dict[str, bool] = {}
    loadavg = list(os.getloadavg())
    for name, file, direct in (
        ("direct", "one.yaml", True),
        ("one", "one.yaml", False),
        ("chain", "chain.yaml", False),
    ):
        model = compile_model(load([str(cfg / file)]))
        opts = RunOptions(
            out=workdir / name, seed=seed, envoy_concurrency=envoy_concurrency, direct_to_app=direct, nice=nice
        )
        run_real_sync(model, opts, [str(cfg / file)])
        res = json.loads((workdir / name / "load.json").read_text())
        if not res.get("completed"):
            raise MeshsimError(f"calibration run {name!r} completed no requests; see {workdir / name / 'logs'}")
        quant[name] = _q(res)
        valid[name] = bool(res.get("valid", True))
    envoy = {k: quant["one"][k] - quant["direct"][k] for k in quant["one"]}
    med_s, p99_s = fit_traversal(quant["chain"]["p50"] / 1e3, quant["chain"]["p99"] / 1e3)
    if p99_s <= med_s:
        p99_s = med_s * 1.01
    rng = np.random.default_rng(1)
    sigma = math.log(p99_s / med_s) / 2.3263478740408408
    t = np.exp(math.log(med_s) + sigma * rng.standard_normal((3, 100_000))) * 1e3
    chain_check = {"p50": float(np.percentile(t.sum(axis=0), 50)), "p99": float(np.percentile(t.sum(axis=0), 99))}
    one_check = {"p50": float(np.percentile(t[0], 50)), "p99": float(np.percentile(t[0], 99))}
    result = CalibrationResult(
        quantiles_ms=quant,
        envoy_traversal_ms=envoy,
        app_overhead_ms=quant["direct"],
        fitted_median_s=med_s,
        fitted_p99_s=p99_s,
        chain_check_ms=chain_check,
        one_check_ms=one_check,
        loadavg=loadavg,
        valid=valid,
        rate=rate,
        duration=duration,
    )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_file, result.to_yaml())
    atomic.write_text(workdir / "calibration.json", json.dumps(dataclasses.asdict(result), indent=1))
    return result


def read_calibration(path: Path) -> dict[str, Any]:
    """The ``spec.sidecar.latency`` mapping of a calibration (any ``MeshSettings``) file.

    Raises
    ------
    MeshsimError
        One line naming the file and field when it is missing or not a MeshSettings with that field.
    """
    import yaml

    if not path.is_file():
        raise MeshsimError(f"{path}: no such file")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as exc:
        raise MeshsimError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    ms = [d for d in docs if isinstance(d, dict) and d.get("kind") == "MeshSettings"]
    if len(ms) != 1:
        raise MeshsimError(f"{path}: kind: expected exactly one MeshSettings document, found {len(ms)}")
    try:
        MeshSettings.model_validate(ms[0])
    except Exception as exc:  # noqa: BLE001 - pydantic's message, reduced to one line
        first = str(exc).splitlines()
        raise MeshsimError(f"{path}: spec: {first[1] if len(first) > 1 else first[0]}") from None
    lat = ((ms[0].get("spec") or {}).get("sidecar") or {}).get("latency")
    if not isinstance(lat, dict):
        raise MeshsimError(f"{path}: spec.sidecar.latency: missing (not a calibration file?)")
    return dict(lat)


def calibration_override(path: Path) -> str:
    """A ``--set`` assignment applying the calibration's sidecar latency to any config."""
    return "MeshSettings.spec.sidecar.latency=" + json.dumps(read_calibration(path))

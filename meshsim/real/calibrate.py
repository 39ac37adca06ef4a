"""``meshsim real calibrate``: measure this machine's sidecar cost and write it as a ``MeshSettings``.

Short real runs of tiny topologies whose apps do no work (no sleeps), at a low open-loop rate:

1. **direct**: one service, the load generator calls the app directly (no Envoy): the cost of the
   load generator's client plus the app's HTTP server ("app overhead");
2. **one**: the same, through the pod's inbound sidecar: ``one - direct`` is the cost of one Envoy
   traversal on this machine (median and p99 of the difference of the quantiles);
3. **chain**: ``front -> back`` (entry sidecar, front's outbound sidecar, back's inbound sidecar), every
   container in its own cgroup (one node: the machine's cores; no limits);
4. **chain-fast** and **chain-idle**: the same at twice the rate and at ~1 request/s (CPU model on): the
   near-idle run gives each container's idle CPU (Envoy's stats flushes and xDS stream, the app runtime's
   timers; kernel accounting, ``cpuacct.usage`` / ``cpu.stat``), the fast one its CPU per request at that rate
   once the idle CPU is taken off (the slope between the two loaded runs is reported too);
5. **bodies**: the chain at the first rate with ``front`` sending ``back`` ``body_kib`` KiB and ``back``
   answering as many: the p50 difference from **chain**, over the two traversals the bodies cross (front's
   outbound, back's inbound) and the KiB each carries both ways, is the cost per KiB per traversal.

What is written (``MeshSettings.spec``):

- ``sidecar.latency``: the lognormal ``T`` whose sum of three independent draws matches the **chain**'s measured
  median and p99. The simulator charges one ``T`` per Envoy traversal and has no separate app-overhead term
  (an entry request costs one traversal, every call two), so the app's HTTP client/server costs are folded into
  the traversals. This is the one fitted quantity: the simulator's traversal latency already contains the
  traversal's CPU time (``proxy.cpuPerRequest`` only adds the wait for a busy worker), so it cannot be
  split into CPU plus a separate non-CPU delay without double counting.
- ``sidecar.perKiB``: measured (5.), floored at 0 (a negative difference is noise; the comment says so).
- ``proxy.cpuPerRequest``: Envoy CPU seconds per traversal at the fast run's rate (4.): the two Envoys'
  CPU per request over the three traversals a chain request makes (front's sidecar: inbound and outbound;
  back's: inbound); ``proxy.idleCpu``: the Envoys' mean idle CPU (cores).
- ``app.cpuPerRequest`` / ``app.cpuPerCall`` / ``app.idleCpu``: the workload app's own HTTP CPU (4.): back's
  CPU per request (it answers), front's minus back's (front answers and makes one call), the apps' mean idle CPU.

CPU per request is not constant on real machines: on this project's it falls as the rate rises (the straight
line through the two loaded runs meets zero load at 10-16 m where the idle CPU is ~1-3 m, quiet machine). The simulator charges
a constant per request, so the file holds the averages at the fast run's rate: right there, high below it.
Calibrate with ``--rate`` at half the rate you will model.

The output is a valid ``MeshSettings`` document, so ``meshsim run topologies/x calibration.yaml`` uses
it directly; ``meshsim real validate --calibration FILE`` applies its measured fields as overrides (which
also works when the scenario has its own MeshSettings).
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
from meshsim.metrics.results import Summary
from meshsim.model import compile_model
from meshsim.real.runner import RunOptions, run_real_sync

__all__ = [
    "CalibrationResult",
    "CpuFit",
    "calibrate",
    "calibration_override",
    "calibration_overrides",
    "container_cores",
    "cpu_fit",
    "fit_traversal",
    "per_kib",
    "read_calibration",
]

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
_CHAIN_BODIES = """apiVersion: meshsim.io/v1alpha1
kind: MockServiceGraph
services:
  - name: front
    isEntrypoint: true
    script:
      - call: {{service: back, size: {kib}KiB}}
  - name: back
    responseSize: {kib}KiB
"""
_NODE = """apiVersion: meshsim.io/v1alpha1
kind: Node
metadata: {{name: calibration}}
spec: {{cores: {cores}}}
"""
_LOAD = """apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {{name: calibration}}
spec:
  entry: {entry}
  arrival: {arrival}
  rate: {rate}
  warmup: {warmup}s
  duration: {duration}s
  drain: 2s
"""
_Q = (50, 90, 99)
IDLE_RATE = 1.0
"""Requests/s of the near-idle CPU run (``chain-idle``): enough for the run to complete requests, little enough
that its CPU is almost all the containers' idle CPU."""
CHAIN_TRAVERSALS = 3
"""Envoy traversals per chain request: front's inbound and outbound, back's inbound."""
BODY_TRAVERSALS = 2
"""Traversals a front -> back body crosses: front's outbound sidecar and back's inbound sidecar."""


@dataclasses.dataclass
class CpuFit:
    """CPU per container from two rates: ``per_request_ms`` (slope, CPU ms per entry request) and ``fixed_cores``
    (intercept of the straight line, cores), keyed ``<pod>/<container>`` (``istio-proxy`` or ``app``); the rates
    (entry requests/s completed); the Envoy CPU per traversal (ms); the app's CPU per request served and per
    call made (ms).

    With a third, near-idle run (``idle_rate_rps``): ``idle_cores`` per container (its CPU with almost no
    traffic), ``average_ms`` its CPU per entry request at the higher rate once the idle CPU is taken off,
    ``envoy_idle_cores`` / ``app_idle_cores`` the mean idle CPU of the Envoys / apps; the Envoy and app costs
    are then those averages (what the simulator's constant per-request cost must be for the container's CPU
    to come out right at that rate), not the slopes."""

    per_request_ms: dict[str, float]
    fixed_cores: dict[str, float]
    rates_rps: tuple[float, float]
    envoy_per_traversal_ms: float
    app_per_request_ms: float | None = None
    app_per_call_ms: float | None = None
    idle_cores: dict[str, float] | None = None
    idle_rate_rps: float | None = None
    average_ms: dict[str, float] | None = None
    envoy_idle_cores: float | None = None
    app_idle_cores: float | None = None


@dataclasses.dataclass
class CalibrationResult:
    """Measured quantiles (ms) per run, the derived per-traversal costs, and the fitted lognormal (s);
    ``per_kib_s`` the cost per KiB per traversal (s; None: not measured), ``cpu`` the CPU fit (None: not
    measured, e.g. no cgroups on this machine: ``cpu_note`` says why)."""

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
    per_kib_s: float | None = None
    per_kib_raw_s: float | None = None
    body_kib: int = 0
    cpu: CpuFit | None = None
    cpu_note: str = ""

    def to_yaml(self) -> str:
        """The calibration as a commented ``MeshSettings`` YAML document."""
        lines = self._comments()
        lines += [
            "apiVersion: meshsim.io/v1alpha1",
            "kind: MeshSettings",
            "metadata: {name: calibration}",
            "spec:",
            "  sidecar:",
            f"    latency: {{dist: lognormal, median: {self.fitted_median_s * 1e6:.0f}us, "
            f"p99: {self.fitted_p99_s * 1e6:.0f}us}}",
        ]
        if self.per_kib_s is not None:
            lines.append(f"    perKiB: {self.per_kib_s * 1e9:.0f}ns")
        if self.cpu is not None:
            c = self.cpu
            lines += ["  proxy:", f"    cpuPerRequest: {c.envoy_per_traversal_ms * 1e3:.0f}us"]
            if c.envoy_idle_cores is not None:
                lines.append(f"    idleCpu: {round(c.envoy_idle_cores * 1e3)}m")
            a, k = c.app_per_request_ms, c.app_per_call_ms
            if a is not None and k is not None:
                lines += [
                    "  app:",
                    f"    cpuPerRequest: {max(a, 0.0) * 1e3:.0f}us",
                    f"    cpuPerCall: {max(k, 0.0) * 1e3:.0f}us",
                ]
                if c.app_idle_cores is not None:
                    lines.append(f"    idleCpu: {round(c.app_idle_cores * 1e3)}m")
        return "\n".join(lines) + "\n"

    def _comments(self) -> list[str]:
        q = self.quantiles_ms
        lines = [
            "# meshsim real calibrate: this machine's cost per Envoy traversal, as the simulator charges it.",
            f"# Measured {time.strftime('%Y-%m-%d %H:%M')}, Poisson {self.rate:g} req/s, {self.duration:g} s per run, "
            f"load average {self.loadavg[0]:.2f} {self.loadavg[1]:.2f} {self.loadavg[2]:.2f}.",
            "# Entry latency quantiles (ms):",
        ]
        for name in q:
            lines.append(
                f"#   {name:10s} p50 {q[name]['p50']:.3f}  p90 {q[name]['p90']:.3f}  p99 {q[name]['p99']:.3f}"
                f"{'' if self.valid.get(name, True) else '  (send-lag rule: invalid)'}"
            )
        e, a = self.envoy_traversal_ms, self.app_overhead_ms
        lines += [
            f"# One Envoy traversal alone (one - direct): p50 {e['p50']:.3f} ms, p99 {e['p99']:.3f} ms",
            f"# App overhead (load client + aiohttp server, direct): p50 {a['p50']:.3f} ms, p99 {a['p99']:.3f} ms",
            "# Fitted per-traversal T (app overhead folded in): 3 draws of T match the chain's p50/p99;",
            f"#   simulated chain with it: p50 {self.chain_check_ms['p50']:.3f} ms, p99 {self.chain_check_ms['p99']:.3f} ms;"
            f" one-service: p50 {self.one_check_ms['p50']:.3f} ms, p99 {self.one_check_ms['p99']:.3f} ms",
        ]
        if self.per_kib_raw_s is not None:
            floored = " (negative: noise, written as 0)" if self.per_kib_raw_s < 0 else ""
            lines.append(
                f"# Bodies of {self.body_kib} KiB each way, front -> back: {self.per_kib_raw_s * 1e9:.0f} ns per KiB per "
                f"traversal{floored}"
            )
        if self.cpu is not None:
            c = self.cpu
            lines.append(
                f"# CPU (cgroup accounting) between {c.rates_rps[0]:.1f} and {c.rates_rps[1]:.1f} req/s: "
                f"Envoy {c.envoy_per_traversal_ms:.3f} ms per traversal; per request and fixed:"
            )
            for k in sorted(c.per_request_ms):
                line = (
                    f"#   {k:24s} slope {c.per_request_ms[k]:.3f} ms/request, intercept {c.fixed_cores[k] * 1e3:.1f}m"
                )
                if c.idle_cores is not None and c.average_ms is not None and k in c.idle_cores:
                    line += f"; idle {c.idle_cores[k] * 1e3:.1f}m, average {c.average_ms[k]:.3f} ms/request"
                lines.append(line)
            if c.idle_cores is not None:
                lines.append(
                    f"# Written: the averages at {c.rates_rps[1]:.1f} req/s over the idle CPU (measured at "
                    f"{c.idle_rate_rps:g} req/s); CPU per request falls with the rate, so calibrate near the rate you model."
                )
        elif self.cpu_note:
            lines.append(f"# CPU not measured: {self.cpu_note}")
        return lines


def container_cores(summary: Summary) -> dict[str, float]:
    """``{"<pod>/<container>": cores}`` from a run's ``containers[]`` (CPU seconds per second)."""
    return {f"{c.pod}/{c.container}": c.cpu_cores for c in summary.containers}


def cpu_fit(
    rate_lo: float,
    cores_lo: dict[str, float],
    rate_hi: float,
    cores_hi: dict[str, float],
    traversals: int = CHAIN_TRAVERSALS,
    server_app: str = "back-v1-0/app",
    caller_app: str = "front-v1-0/app",
    rate_idle: float | None = None,
    cores_idle: dict[str, float] | None = None,
) -> CpuFit:
    """CPU seconds per request of every container from two runs of the same topology at two rates.

    ``rate_*`` are entry throughputs (requests/s), ``cores_*`` :func:`container_cores` of each run. Per container:
    ``slope = (cores_hi - cores_lo) / (rate_hi - rate_lo)`` and ``fixed = cores_lo - slope * rate_lo`` (a straight
    line through the two points: CPU per request is constant at these low utilisations); Envoy per traversal =
    (sum of the ``istio-proxy`` slopes) / ``traversals``. The app's CPU per request is ``server_app``'s slope (it
    only answers), per call ``caller_app``'s minus it (the caller answers and makes one call); None when a run
    lacks either container.

    With ``rate_idle``/``cores_idle`` (a run at a rate near 0): ``idle = cores_idle - rate_idle x slope`` and
    ``average = (cores_hi - idle) / rate_hi`` per container, and the Envoy/app costs come from the averages
    (:class:`CpuFit`). On this project's machines CPU per request falls as the rate rises (the line through
    two rates meets zero load far above the idle CPU), so a constant cost fitted to the slope under-predicts a
    container's CPU at both rates, and one taken from the average is right at ``rate_hi`` only.

    Raises
    ------
    MeshsimError
        When the runs measured no containers (no cgroups) or their rates differ by less than 20 %.
    """
    if not cores_lo or not cores_hi:
        raise MeshsimError("calibration: the runs measured no container CPU (cgroups unavailable?)")
    if rate_hi - rate_lo <= 0.2 * rate_lo:
        raise MeshsimError(f"calibration: the two rates do not differ enough ({rate_lo:.1f} vs {rate_hi:.1f} req/s)")
    slope = {k: (cores_hi[k] - cores_lo[k]) / (rate_hi - rate_lo) for k in cores_lo if k in cores_hi}
    fixed = {k: cores_lo[k] - slope[k] * rate_lo for k in slope}
    idle: dict[str, float] | None = None
    per = slope
    if rate_idle is not None and cores_idle:
        idle = {k: max(0.0, cores_idle[k] - rate_idle * slope[k]) for k in slope if k in cores_idle}
        per = {k: (cores_hi[k] - idle[k]) / rate_hi for k in idle}
    envoy = sum(v for k, v in per.items() if k.endswith("/istio-proxy")) / traversals
    has_apps = server_app in per and caller_app in per

    def mean_idle(suffix: str) -> float | None:
        vals = [v for k, v in (idle or {}).items() if k.endswith(suffix)]
        return sum(vals) / len(vals) if vals else None

    return CpuFit(
        per_request_ms={k: v * 1e3 for k, v in slope.items()},
        fixed_cores=fixed,
        rates_rps=(rate_lo, rate_hi),
        envoy_per_traversal_ms=envoy * 1e3,
        app_per_request_ms=per[server_app] * 1e3 if has_apps else None,
        app_per_call_ms=(per[caller_app] - per[server_app]) * 1e3 if has_apps else None,
        idle_cores=idle,
        idle_rate_rps=rate_idle,
        average_ms={k: v * 1e3 for k, v in per.items()} if idle is not None else None,
        envoy_idle_cores=mean_idle("/istio-proxy"),
        app_idle_cores=mean_idle("/app"),
    )


def per_kib(p50_plain_ms: float, p50_bodies_ms: float, body_kib: int, traversals: int = BODY_TRAVERSALS) -> float:
    """Seconds per KiB per traversal from the p50 of the chain without and with bodies of ``body_kib`` KiB
    each way: ``(p50_bodies - p50_plain) / (traversals * 2 * body_kib)`` (the simulator charges ``perKiB`` per
    traversal for request plus response KiB). Can be negative (noise); the caller floors it."""
    return (p50_bodies_ms - p50_plain_ms) / 1e3 / (traversals * 2 * body_kib)


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


def _cgroups_note() -> str:
    """Empty when this machine can measure container CPU (cgroup cpu/cpuacct/cpuset, as root), else why not."""
    from meshsim.real.cgroups import CGROUP_ROOT, CgroupsUnavailable, detect

    if os.geteuid() != 0:
        return "needs root (per-container cgroups)"
    try:
        detect(CGROUP_ROOT)
    except CgroupsUnavailable as exc:
        return str(exc)
    return ""


def _configs(cfg: Path, rate: float, duration: float, warmup: float, body_kib: int, cpu: bool) -> dict[str, Path]:
    """Write the runs' configs under ``cfg``; returns run name -> config file (the order the runs take)."""
    node = _NODE.format(cores=os.cpu_count() or 1) + "---\n" if cpu else ""

    def ld(entry: str, r: float, arrival: str = "poisson") -> str:
        return _LOAD.format(entry=entry, rate=r, warmup=warmup, duration=duration, arrival=arrival)

    texts = {"one": _ONE + "---\n" + ld("echo", rate), "chain": _CHAIN + "---\n" + node + ld("front", rate)}
    if cpu:
        texts["chain-fast"] = _CHAIN + "---\n" + node + ld("front", 2 * rate)
        texts["chain-idle"] = _CHAIN + "---\n" + node + ld("front", IDLE_RATE, "constant")  # never 0 requests
    if body_kib:
        texts["bodies"] = _CHAIN_BODIES.format(kib=body_kib) + "---\n" + ld("front", rate)
    files = {}
    for name, text in texts.items():
        files[name] = cfg / f"{name}.yaml"
        files[name].write_text(text)
    return {"direct": files["one"], **files}


def _run(name: str, file: Path, out: Path, opts: dict[str, Any]) -> tuple[Summary, dict[str, Any]]:
    """One calibration run: its summary and the load generator's own record (``load.json``)."""
    model = compile_model(load([str(file)]))
    summary = run_real_sync(model, RunOptions(out=out, direct_to_app=name == "direct", **opts), [str(file)])
    res = json.loads((out / "load.json").read_text())
    if not res.get("completed"):
        raise MeshsimError(f"calibration run {name!r} completed no requests; see {out / 'logs'}")
    return summary, res


def _fit_latency(chain: dict[str, float]) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """:func:`fit_traversal` on the chain's p50/p99 (ms) and the simulated chain/one-service checks (ms)."""
    med_s, p99_s = fit_traversal(chain["p50"] / 1e3, chain["p99"] / 1e3)
    p99_s = max(p99_s, med_s * 1.01)
    sigma = math.log(p99_s / med_s) / 2.3263478740408408
    t = np.exp(math.log(med_s) + sigma * np.random.default_rng(1).standard_normal((3, 100_000))) * 1e3
    chain_check = {"p50": float(np.percentile(t.sum(axis=0), 50)), "p99": float(np.percentile(t.sum(axis=0), 99))}
    one_check = {"p50": float(np.percentile(t[0], 50)), "p99": float(np.percentile(t[0], 99))}
    return med_s, p99_s, chain_check, one_check


def calibrate(
    out_file: Path,
    workdir: Path,
    rate: float = 100.0,
    duration: float = 8.0,
    warmup: float = 2.0,
    seed: int = 1,
    envoy_concurrency: int = 1,
    nice: int = 0,
    body_kib: int = 512,
    cpu: bool = True,
) -> CalibrationResult:
    """Run the calibration runs under ``workdir`` (module docstring) and write the ``MeshSettings`` to ``out_file``.

    ``rate`` (requests/s) is the first rate, twice it the second (CPU slope); ``body_kib`` the body each way of the
    size run (0: skip it); ``cpu=False`` skips the CPU runs (as does a machine without cgroups or root: the
    result's ``cpu_note`` says why). Also writes ``workdir/calibration.json`` (every measured number).

    Raises
    ------
    MeshsimError
        A run that completed no request; :class:`~meshsim.real.runner.RunFailed` from a run that failed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config"
    cfg.mkdir(exist_ok=True)
    note = _cgroups_note() if cpu else "skipped (--no-cpu)"
    files = _configs(cfg, rate, duration, warmup, body_kib, cpu and not note)
    quant: dict[str, dict[str, float]] = {}
    valid: dict[str, bool] = {}
    summaries: dict[str, Summary] = {}
    loadavg = list(os.getloadavg())
    opts = {"seed": seed, "envoy_concurrency": envoy_concurrency, "nice": nice}
    for name, file in files.items():
        summaries[name], res = _run(name, file, workdir / name, opts)
        quant[name] = _q(res)
        valid[name] = bool(res.get("valid", True))
    med_s, p99_s, chain_check, one_check = _fit_latency(quant["chain"])
    raw_kib = per_kib(quant["chain"]["p50"], quant["bodies"]["p50"], body_kib) if "bodies" in quant else None
    fit = None
    if "chain-fast" in summaries:
        lo, hi = summaries["chain"], summaries["chain-fast"]
        idle = summaries.get("chain-idle")
        fit = cpu_fit(
            lo.entry.throughput_rps,
            container_cores(lo),
            hi.entry.throughput_rps,
            container_cores(hi),
            rate_idle=idle.entry.throughput_rps if idle is not None else None,
            cores_idle=container_cores(idle) if idle is not None else None,
        )
    result = CalibrationResult(
        quantiles_ms=quant,
        envoy_traversal_ms={k: quant["one"][k] - quant["direct"][k] for k in quant["one"]},
        app_overhead_ms=quant["direct"],
        fitted_median_s=med_s,
        fitted_p99_s=p99_s,
        chain_check_ms=chain_check,
        one_check_ms=one_check,
        loadavg=loadavg,
        valid=valid,
        rate=rate,
        duration=duration,
        per_kib_s=None if raw_kib is None else max(raw_kib, 0.0),
        per_kib_raw_s=raw_kib,
        body_kib=body_kib,
        cpu=fit,
        cpu_note=note,
    )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_file, result.to_yaml())
    atomic.write_text(workdir / "calibration.json", json.dumps(dataclasses.asdict(result), indent=1))
    return result


def _mesh_settings(path: Path) -> dict[str, Any]:
    """The one validated ``MeshSettings`` document of ``path`` (a calibration file)."""
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
    return dict(ms[0])


def read_calibration(path: Path) -> dict[str, Any]:
    """The ``spec.sidecar.latency`` mapping of a calibration (any ``MeshSettings``) file.

    Raises
    ------
    MeshsimError
        One line naming the file and field when it is missing or not a MeshSettings with that field.
    """
    lat = ((_mesh_settings(path).get("spec") or {}).get("sidecar") or {}).get("latency")
    if not isinstance(lat, dict):
        raise MeshsimError(f"{path}: spec.sidecar.latency: missing (not a calibration file?)")
    return dict(lat)


def calibration_override(path: Path) -> str:
    """A ``--set`` assignment applying the calibration's sidecar latency to any config."""
    return "MeshSettings.spec.sidecar.latency=" + json.dumps(read_calibration(path))


CALIBRATED_FIELDS = (
    ("sidecar", "perKiB"),
    ("proxy", "cpuPerRequest"),
    ("proxy", "idleCpu"),
    ("app", "cpuPerRequest"),
    ("app", "cpuPerCall"),
    ("app", "idleCpu"),
)
"""Measured fields a calibration may carry besides ``sidecar.latency`` (applied when present)."""


def calibration_overrides(path: Path) -> list[str]:
    """``--set`` assignments applying every calibrated field of ``path`` (latency always, ``perKiB`` and
    ``cpuPerRequest`` when the file has them) to any config, so a scenario with its own MeshSettings takes them too.

    Raises
    ------
    MeshsimError
        As :func:`read_calibration`.
    """
    out = [calibration_override(path)]
    spec = _mesh_settings(path).get("spec") or {}
    for block, name in CALIBRATED_FIELDS:
        value = (spec.get(block) or {}).get(name)
        if value is not None:
            out.append(f"MeshSettings.spec.{block}.{name}={json.dumps(value)}")
    return out

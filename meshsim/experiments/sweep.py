"""What-if sweeps: a full grid over any config fields, each point re-validated and simulated.

A factor is a ``--set`` target and its values, ``Kind[/name].path=v1,v2,...`` (values are YAML, split
on commas outside brackets and braces, e.g. ``VirtualService/reviews.spec.http[0].retries={attempts: 5,
retryOn: 5xx}``). The grid is the Cartesian product in the order the factors are given (the last
factor varies fastest); point ``i`` applies the base ``--set`` overrides and then its own assignments,
so the loader re-validates every point exactly as a user's ``--set`` would be.

Points run in local processes (default) or on a Dask distributed cluster (``scheduler`` address).
Each point runs its replications serially with the same seed, so a point's result does not depend on
where it ran, and the table is ordered by point index whatever the completion order: local and Dask
runs give identical tables. A point that fails (invalid config, simulation error) is a row with
``status = failed`` and its error, not a failed sweep.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import yaml

from meshsim import atomic
from meshsim.analysis.slo import all_ok, evaluate_summary, load_slos, validate_against
from meshsim.config.loader import split_assignment
from meshsim.errors import ConfigError, MeshsimError
from meshsim.experiments.replicate import dask_client, default_workers
from meshsim.experiments.simulate import simulate
from meshsim.model.build import load_and_compile

__all__ = ["Factor", "parse_factor", "grid", "run_point", "SweepResult", "sweep"]


@dataclass(frozen=True)
class Factor:
    """A config field (``--set`` target) and the raw YAML values it takes."""

    path: str
    values: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path


def _split_top(text: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def parse_factor(spec: str) -> Factor:
    """Parse ``path=v1,v2,...``.

    Raises
    ------
    ConfigError
        (source ``--factor``) when there is no ``=`` outside brackets, no value, or a duplicate value.
    """
    split_at = split_assignment(spec)
    if split_at <= 0:
        raise ConfigError("--factor", spec, "expected Kind.path=v1,v2,... (or Kind/name.path=...)")
    path, raw = spec[:split_at].strip(), spec[split_at + 1 :]
    if "." not in path:
        raise ConfigError("--factor", spec, "give a field path after the kind, e.g. LoadProfile.spec.rate=100,200")
    values = tuple(v.strip() for v in _split_top(raw, ",") if v.strip() != "")
    if not values:
        raise ConfigError("--factor", spec, "no values after '='")
    if len(set(values)) != len(values):
        raise ConfigError("--factor", spec, "a value is listed twice")
    return Factor(path, values)


def grid(factors: Sequence[Factor]) -> list[tuple[str, ...]]:
    """Every combination of factor values, in a fixed order (last factor fastest)."""
    return list(itertools.product(*(f.values for f in factors)))


def _est(prefix: str, e: Any) -> dict[str, Any]:
    return {prefix: e.value, f"{prefix}_ci_low": e.ci_low, f"{prefix}_ci_high": e.ci_high}


def run_point(
    index: int,
    paths: Sequence[str],
    base: Sequence[str],
    assignments: Sequence[str],
    seed: int,
    replications: int,
    slo_paths: Sequence[str] = (),
) -> dict[str, Any]:
    """Load with ``base`` + ``assignments`` (re-validated), simulate, and return one table row.

    Replications run serially in the calling process (the point is the unit of parallelism). The row
    holds ``point``, ``status`` (``ok`` or ``failed``), ``error``, ``config_digest`` and the entry
    metrics with 95% CIs (latency in ms), mesh amplification and the highest workload utilisation;
    with ``slo_paths``, ``slo_ok`` and the first violated objective.
    """
    row: dict[str, Any] = {"point": index, "status": "ok", "error": ""}
    try:
        model, _ = load_and_compile(list(paths), [*base, *assignments])
        s = simulate(model, seed=seed, replications=replications, workers=1)
        row["config_digest"] = model.digest
        row["requests"] = s.entry.requests
        row["throughput_rps"] = s.entry.throughput_rps
        row.update(_est("success_rate", s.entry.success_rate))
        for q in ("mean", "p50", "p90", "p99"):
            row.update(_est(f"latency_{q}_ms", getattr(s.entry.latency_ms, q)))
        row["amplification"] = s.mesh.amplification
        utils = [
            (x.utilization.value, f"{x.name}.{x.version}")
            for x in s.services
            if x.utilization is not None and x.utilization.value is not None
        ]
        row["max_utilization"], row["bottleneck"] = max(utils) if utils else (None, "")
        if slo_paths:
            slos = load_slos(slo_paths)
            validate_against(slos, model)
            checks = evaluate_summary(slos, s, [], "point")
            row["slo_ok"] = all_ok(checks)
            row["slo_violated"] = ", ".join(c.key for c in checks if not c.ok)
    except MeshsimError as exc:
        row.update(status="failed", error=str(exc))
    except Exception as exc:  # a failed point is reported, not fatal
        row.update(
            status="failed", error=f"{type(exc).__name__}: {exc} ({traceback.extract_tb(exc.__traceback__)[-1].name})"
        )
    return row


def _typed(values: Sequence[str]) -> list[Any]:
    """Factor values as numbers when every value is a YAML number, else as the raw strings."""
    parsed = []
    for v in values:
        try:
            parsed.append(yaml.safe_load(v))
        except yaml.YAMLError:
            return list(values)
    if all(isinstance(p, int | float) and not isinstance(p, bool) for p in parsed):
        return parsed
    return list(values)


@dataclass
class SweepResult:
    """A sweep's table: one row per point, in point order; one column per factor (named by its path),
    then the metrics of :func:`run_point` (latency in ms, 95% CIs)."""

    factors: list[Factor]
    rows: list[dict[str, Any]]
    seed: int
    replications: int
    backend: str
    wall_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") != "ok"]

    def to_frame(self) -> Any:
        """A pandas DataFrame: factor columns (numeric when every value is a number) then metrics."""
        import pandas as pd

        typed = {f.path: dict(zip(f.values, _typed(f.values), strict=True)) for f in self.factors}
        recs = []
        for r in self.rows:
            rec = {"point": r["point"]}
            for f, v in zip(self.factors, r["_values"], strict=True):
                rec[f.path] = typed[f.path][v]
            rec.update({k: v for k, v in r.items() if k not in ("point", "_values")})
            recs.append(rec)
        return pd.DataFrame(recs)

    def to_csv(self, path: Any) -> None:
        atomic.to_csv(self.to_frame(), path, index=False)

    def to_parquet(self, path: Any) -> None:
        with atomic.atomic_path(path) as tmp:
            self.to_frame().to_parquet(tmp, index=False)

    def _repr_html_(self) -> str:
        return f"<p><b>sweep</b> {len(self.rows)} points ({len(self.failed)} failed), {self.backend}</p>" + str(
            self.to_frame().to_html(float_format=lambda x: f"{x:.4g}")
        )


def _assignments(factors: Sequence[Factor], values: Sequence[str]) -> list[str]:
    return [f"{f.path}={v}" for f, v in zip(factors, values, strict=True)]


def sweep(
    paths: Sequence[str],
    factors: Sequence[Factor],
    overrides: Sequence[str] = (),
    seed: int = 1,
    replications: int = 2,
    workers: int | None = None,
    scheduler: str | None = None,
    slo_paths: Sequence[str] = (),
    progress: Callable[[float], None] | None = None,
) -> SweepResult:
    """Run the grid of ``factors`` over ``paths`` (module docstring).

    Parameters
    ----------
    paths, overrides:
        The mesh and base ``--set`` assignments.
    seed, replications:
        Every point uses the same seed (common random numbers across points) and replications.
    workers:
        Local processes (default: the CPUs this process may use); 1 runs serially in this process.
    scheduler:
        A Dask scheduler address (``tcp://host:port``); needs ``dask[distributed]``.
    progress:
        Called with the fraction of points done.

    Raises
    ------
    ConfigError
        When ``scheduler`` is given but dask.distributed is not installed or not reachable.
    """
    import time

    t0 = time.perf_counter()
    points = grid(factors)
    n = len(points)
    args: list[_PointArgs] = [
        (i, list(paths), list(overrides), _assignments(factors, v), seed, replications, list(slo_paths))
        for i, v in enumerate(points)
    ]
    results: list[dict[str, Any] | None] = [None] * n
    if scheduler:
        backend, finished = f"dask {scheduler}", _on_dask(scheduler, args)
    else:
        w = workers or default_workers(n)
        backend, finished = f"local x{w}", _on_local(w, args)
    for done, (i, r) in enumerate(finished, 1):
        results[i] = r
        if progress is not None:
            progress(done / n)
    rows = []
    for i, res in enumerate(results):
        assert res is not None
        rows.append({**res, "_values": points[i]})
    return SweepResult(list(factors), rows, seed, replications, backend, time.perf_counter() - t0)


_PointArgs = tuple[int, list[str], list[str], list[str], int, int, list[str]]
""":func:`run_point`'s arguments for one point: index, paths, overrides, assignments, seed, replications, SLO paths."""


def _on_dask(scheduler: str, args: list[_PointArgs]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Run every point on the Dask cluster at ``scheduler``; yields ``(point index, result)`` as they finish.

    Raises
    ------
    ConfigError
        When dask.distributed is not installed or the scheduler is not reachable (in 10 s).
    """
    client, dask_completed = dask_client(scheduler)
    try:
        tag = uuid.uuid4().hex[:8]
        futs = [client.submit(run_point, *a, pure=False, key=f"meshsim-sweep-{tag}-{a[0]}") for a in args]
        index = {f.key: i for i, f in enumerate(futs)}
        for fut in dask_completed(futs):
            yield index[fut.key], fut.result()
    finally:
        client.close()


def _on_local(workers: int, args: list[_PointArgs]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Run every point in ``workers`` local processes (forked where the platform can; 1: serially in this
    process); yields ``(point index, result)`` as they finish."""
    if workers == 1:
        for i, a in enumerate(args):
            yield i, run_point(*a)
        return
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        fmap = {pool.submit(run_point, *a): a[0] for a in args}
        for fut in as_completed(fmap):
            yield fmap[fut], fut.result()

"""``meshsim sweep``: a grid of what-ifs over any config field, on local processes or a Dask cluster."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from meshsim.cli.common import (
    MaxReplicationsOption,
    PrecisionOption,
    SetOption,
    choose_replications,
    console,
    err_console,
    load_overrides,
    progress_bar,
    user_errors,
)
from meshsim.cli.output import OutputFormat, OutputOption, print_json
from meshsim.cli.plan import Paths

if TYPE_CHECKING:
    from meshsim.experiments.sweep import Factor, SweepResult

__all__ = ["sweep_command"]


FactorOption = typer.Option(
    "--factor",
    "-f",
    help="A field and its values: Kind[/name].path=v1,v2,... (YAML values; commas inside [] or {} are kept). Repeatable; the grid is their product.",
)
SeedOption = typer.Option("--seed", min=0, help="Root seed, the same for every point (common random numbers).")
ReplicationsOption = typer.Option("--replications", "-r", min=1, help="Replications per point (CIs).")
WorkersOption = typer.Option("--workers", min=1, help="Local processes (default: one per CPU).")
SchedulerOption = typer.Option("--scheduler", help="Run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786.")
SloOption = typer.Option("--slo", help="SLO file(s): adds slo_ok and the violated objectives per point.")
DurationOption = typer.Option("--duration", help="Measured window per point, e.g. 20s.")
WarmupOption = typer.Option("--warmup", help="Warm-up per point, e.g. 5s.")
OutOption = typer.Option("--out", "-o", help="Output directory (default: results/<name>-<digest8>-s<seed>-sweep).")
QuietOption = typer.Option("--quiet", "-q", help="No table or progress bar.")


def sweep_command(
    paths: Paths,
    factor: Annotated[list[str], FactorOption],
    seed: Annotated[int, SeedOption] = 1,
    replications: Annotated[int, ReplicationsOption] = 2,
    workers: Annotated[int | None, WorkersOption] = None,
    scheduler: Annotated[str | None, SchedulerOption] = None,
    slo: Annotated[list[str] | None, SloOption] = None,
    duration: Annotated[str | None, DurationOption] = None,
    warmup: Annotated[str | None, WarmupOption] = None,
    sets: Annotated[list[str] | None, SetOption] = None,
    out: Annotated[Path | None, OutOption] = None,
    quiet: Annotated[bool, QuietOption] = False,
    output: Annotated[OutputFormat, OutputOption] = OutputFormat.table,
    precision: Annotated[str | None, PrecisionOption] = None,
    max_replications: Annotated[int, MaxReplicationsOption] = 50,
) -> None:
    """Simulate every combination of factor values; write sweep.csv and sweep.parquet.

    Every point is re-validated (as `--set` is); a point that fails is reported and the sweep goes on.
    Rows are ordered by point index, so local and Dask runs give identical tables.
    """
    from meshsim.experiments.sweep import parse_factor, sweep
    from meshsim.planning.provenance import default_out_dir, run_digest, write_provenance

    with user_errors():
        factors = [parse_factor(f) for f in factor]
        base = load_overrides(sets, None, duration, warmup)
        replications = choose_replications(
            list(paths), base, seed, precision, replications, max_replications, workers, quiet
        )
        params = {
            "command": "sweep",
            "factors": factor,
            "overrides": base,
            "seed": seed,
            "replications": replications,
            "slo": slo or [],
        }
        digest = run_digest(list(paths) + list(slo or []), params)
        out = out or default_out_dir(paths, digest, seed, "sweep")
        t0 = time.perf_counter()
        with progress_bar("sweeping", enabled=not quiet) as update:
            res = sweep(
                paths,
                factors,
                base,
                seed=seed,
                replications=replications,
                workers=workers,
                scheduler=scheduler,
                slo_paths=slo or [],
                progress=update,
            )
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "sweep.csv", out / "sweep.parquet"]
        res.to_csv(written[0])
        res.to_parquet(written[1])
        write_provenance(
            out,
            ["meshsim", *sys.argv[1:]],
            list(paths) + list(slo or []),
            digest,
            params,
            written,
            time.perf_counter() - t0,
            {"backend": res.backend, "point_digests": [r.get("config_digest") for r in res.rows]},
        )
    if output is OutputFormat.json:  # sweep.csv's rows (factor columns typed as there), alone on stdout
        _print_json(res, seed, replications, out)
    else:
        _render(res, factors, out, quiet)
    if res.rows and len(res.failed) == len(res.rows):
        raise typer.Exit(1)


def _print_json(res: SweepResult, seed: int, replications: int, out: Path) -> None:
    """The sweep as one JSON document on stdout: backend, seed, replications, out and sweep.csv's rows."""
    import json

    print_json(
        {
            "backend": res.backend,
            "seed": seed,
            "replications": replications,
            "out": str(out),
            "points": json.loads(res.to_frame().to_json(orient="records")),
        }
    )


def _render(res: SweepResult, factors: list[Factor], out: Path, quiet: bool) -> None:
    """Failed points on stderr; unless ``quiet``, the table of points (compact when the full one does not
    fit the terminal); then the one-line count."""
    from meshsim.report.tables import fits

    for r in res.failed:
        err_console.print(f"point {r['point']} failed: {r['error']}", style="yellow", highlight=False, soft_wrap=True)
    if not quiet:
        df = res.to_frame()
        cols = [
            "point",
            *[f.path for f in factors],
            "status",
            "latency_p99_ms",
            "latency_p99_ms_ci_low",
            "latency_p99_ms_ci_high",
            "success_rate",
            "amplification",
            "max_utilization",
        ]
        cols += [c for c in ("slo_ok",) if c in df.columns]
        cols = [c for c in cols if c in df.columns]
        t = _full_table(res, df, cols)
        if not fits(t, console):  # compact: factors by their last field name, the p99 interval under its value
            t = _compact_table(res, df, cols, factors)
        console.print(t)
    console.print(f"{len(res.rows) - len(res.failed)}/{len(res.rows)} points ok; wrote {out}", highlight=False)


def _cell(row: Any, c: str) -> str:
    """One table cell: ``-`` when missing or NaN, floats to 4 significant digits."""
    return (
        "-"
        if c not in row or row[c] is None or row[c] != row[c]
        else (f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]))
    )


def _title(res: SweepResult) -> str:
    return f"sweep ({len(res.rows)} points, {res.backend}, {res.wall_s:.1f}s)"


def _full_table(res: SweepResult, df: Any, cols: list[str]) -> Table:
    """One column per field of ``cols`` (sweep.csv's names, shortened)."""
    t = Table(title=_title(res), title_justify="left")
    for c in cols:
        t.add_column(c.replace("MockServiceGraph.", "").replace("_ms_ci_", " ci "))
    for _, row in df.iterrows():
        t.add_row(*[_cell(row, c) for c in cols])
    return t


def _compact_table(res: SweepResult, df: Any, cols: list[str], factors: list[Factor]) -> Table:
    """Factors by their last field name (the full names printed above it), the p99's interval under its
    value, a status column only when some point failed."""
    t = Table(title=_title(res), title_justify="left")
    short = [f.path.rsplit(".", 1)[-1] for f in factors]
    status = bool(res.failed)
    for c in [
        "#",
        *short,
        *(["status"] if status else []),
        "p99 ms\n[95% CI]",
        "success",
        "attempts\n/req",
        "max\nutil",
        *(["SLO ok"] if "slo_ok" in cols else []),
    ]:
        t.add_column(c, overflow="fold")
    for _, row in df.iterrows():
        p99 = _cell(row, "latency_p99_ms")
        if "latency_p99_ms_ci_low" in row and row["latency_p99_ms_ci_low"] == row["latency_p99_ms_ci_low"]:
            p99 += f"\n[{_cell(row, 'latency_p99_ms_ci_low')}, {_cell(row, 'latency_p99_ms_ci_high')}]"
        t.add_row(
            _cell(row, "point"),
            *[_cell(row, f.path) for f in factors],
            *([_cell(row, "status")] if status else []),
            p99,
            _cell(row, "success_rate"),
            _cell(row, "amplification"),
            _cell(row, "max_utilization"),
            *([_cell(row, "slo_ok")] if "slo_ok" in cols else []),
        )
    if factors:
        console.print(
            "factors: " + ", ".join(f"{n} = {f.path}" for n, f in zip(short, factors, strict=True)),
            highlight=False,
            markup=False,
        )
    return t

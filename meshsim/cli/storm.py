"""``meshsim storm``: where a trigger turns into a metastable retry storm, and which mitigations stop it."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from meshsim import atomic
from meshsim.cli.common import SetOption, console, progress_bar, user_errors
from meshsim.cli.output import OutputFormat, OutputOption, print_json
from meshsim.cli.plan import Paths
from meshsim.errors import ConfigError

__all__ = ["storm_command"]


def _floats(opt: str, text: str | None, durations: bool = False) -> list[float]:
    if text is None:
        return []
    from meshsim.units import parse_duration

    out: list[float] = []
    for raw in text.split(","):
        raw = raw.strip()
        if not raw:
            continue
        try:
            v = parse_duration(raw) if durations else float(raw)
        except (ValueError, TypeError):
            raise ConfigError(
                opt, raw, "expected a number" + (" or a duration such as 5s" if durations else "")
            ) from None
        if v < 0:
            raise ConfigError(opt, raw, "must be >= 0")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise ConfigError(opt, text, "a value is listed twice")
    return out


def _f(v: float | None, nd: int = 3) -> str:
    return "-" if v is None else f"{v:.{nd}g}"


MagnitudeOpt = Annotated[
    str | None,
    typer.Option(
        "--magnitude",
        "-m",
        help="Trigger magnitudes, comma-separated: slowdown factor, spike rate multiplier, or replicas removed (by trigger kind). Default: the scenario's.",
    ),
]
DurationOpt = Annotated[
    str | None,
    typer.Option(
        "--duration", "-d", help="Trigger durations, comma-separated (5s,10s or seconds). Default: the scenario's."
    ),
]
LoadOpt = Annotated[
    str | None,
    typer.Option("--load", help="LoadProfile rates (req/s), comma-separated: a third axis of the phase diagram."),
]
ReplicationsOpt = Annotated[
    int,
    typer.Option(
        "--replications", "-r", min=1, help="Replications per grid point (P(not recovered) with a Wilson 95% interval)."
    ),
]
TriggerEventOpt = Annotated[
    int | None,
    typer.Option(
        "--trigger-event",
        min=0,
        help="Index in Scenario.spec.events of the trigger (default: the first slow / load spike / scale-down event).",
    ),
]
MitigationsOpt = Annotated[
    Path | None,
    typer.Option(
        "--mitigations",
        help="YAML file of named variants (files: extra YAML, set: --set overrides): compare them under one trigger and in normal operation.",
    ),
]
WindowOpt = Annotated[
    str, typer.Option("--window", help="Verdict window: goodput and p99 judged over sliding windows this long.")
]
GoodputToleranceOpt = Annotated[
    float,
    typer.Option(
        "--goodput-tolerance",
        min=0.0,
        max=1.0,
        help="Fraction of baseline goodput a healthy window may lose (beyond Poisson noise).",
    ),
]
P99FactorOpt = Annotated[
    float,
    typer.Option(
        "--p99-factor",
        min=1.0,
        help="A healthy window's p99 is at most this multiple of the baseline p99 (calm runs of topologies/storm reach 2.6x in some 5 s window).",
    ),
]
StormSeedOpt = Annotated[
    int, typer.Option("--seed", min=0, help="Root seed, the same for every point and variant (common random numbers).")
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, help="Processes for each point's replications (default: one per CPU).")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Output directory (default: results/<name>-<digest8>-s<seed>-storm).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No table or progress bar.")]


def storm_command(
    paths: Paths,
    magnitude: MagnitudeOpt = None,
    duration: DurationOpt = None,
    load: LoadOpt = None,
    replications: ReplicationsOpt = 10,
    trigger_event: TriggerEventOpt = None,
    mitigations: MitigationsOpt = None,
    window: WindowOpt = "5s",
    goodput_tolerance: GoodputToleranceOpt = 0.10,
    p99_factor: P99FactorOpt = 3.0,
    seed: StormSeedOpt = 1,
    workers: WorkersOpt = None,
    sets: Annotated[list[str] | None, SetOption] = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    output: Annotated[OutputFormat, OutputOption] = OutputFormat.table,
) -> None:
    """Phase diagram of a Scenario's trigger, or mitigations side by side.

    Each grid point (load x magnitude x duration) runs REPLICATIONS replications and classifies each
    as stable, recovered or metastable (still degraded when the run ends); writes phase.csv,
    phase.json and phase.png (P(not recovered) heatmap, boundary marked). With --mitigations, runs
    every variant under one trigger and in normal operation; writes mitigations.json and .csv.
    """
    from meshsim.planning.provenance import default_out_dir, run_digest
    from meshsim.storm.trigger import find_trigger

    with user_errors():
        mags, durs, loads = (
            _floats("--magnitude", magnitude),
            _floats("--duration", duration, True),
            _floats("--load", load),
        )
        params = _verdict_params(window, goodput_tolerance, p99_factor)
        base = list(sets or [])
        trig = find_trigger(paths, base, trigger_event)
        inputs = list(paths) + ([str(mitigations)] if mitigations else [])
        cmd = {
            "command": "storm",
            "magnitude": mags,
            "duration": durs,
            "load": loads,
            "replications": replications,
            "trigger_event": trig.index,
            "overrides": base,
            "seed": seed,
            "window_s": params.window_s,
            "goodput_tolerance": goodput_tolerance,
            "p99_factor": p99_factor,
        }
        digest = run_digest(inputs, cmd)
        run = _Run(paths, trig, base, seed, replications, params, workers, quiet, inputs, digest, cmd)
        out = out or default_out_dir(paths, digest, seed, "storm")
        if mitigations is not None:
            data, rows = _mitigations(run, mitigations, mags, durs, loads, out)
        else:
            data, res = _phase(run, mags, durs, loads, out)
    if output is OutputFormat.json:  # the written JSON's content, alone on stdout
        print_json({**data, "out": str(out)})
        return
    if not quiet:
        if mitigations is not None:
            console.print(_mitigations_table(rows, data["trigger"], replications))
        else:
            console.print(_phase_table(res, trig, replications))
            for line in _boundary_lines(res):
                console.print(line, highlight=False)
    console.print(f"wrote {out}", highlight=False)


def _verdict_params(window: str, goodput_tolerance: float, p99_factor: float) -> Any:
    """:class:`~meshsim.analysis.verdict.VerdictParams` from the options; a bad ``--window`` is a ConfigError."""
    from meshsim.analysis.verdict import VerdictParams
    from meshsim.units import parse_duration

    try:
        win = float(parse_duration(window))
    except (ValueError, TypeError):
        raise ConfigError("--window", window, "expected a duration such as 5s") from None
    if win <= 0:
        raise ConfigError("--window", window, "must be > 0")
    return VerdictParams(window_s=win, goodput_tolerance=goodput_tolerance, p99_factor=p99_factor)


@dataclasses.dataclass
class _Run:
    """What both modes share: the mesh, its trigger, the run settings and the provenance."""

    paths: list[str]
    trig: Any
    base: list[str]
    seed: int
    replications: int
    params: Any
    workers: int | None
    quiet: bool
    inputs: list[str]
    digest: str
    cmd: dict[str, Any]
    t0: float = dataclasses.field(default_factory=time.perf_counter)

    def provenance(self, out: Path, written: list[Path], trigger: str) -> None:
        from meshsim.planning.provenance import write_provenance

        write_provenance(
            out,
            ["meshsim", *sys.argv[1:]],
            self.inputs,
            self.digest,
            self.cmd,
            written,
            time.perf_counter() - self.t0,
            {"trigger": trigger},
        )


def _mitigations(
    run: _Run, mitigations: Path, mags: list[float], durs: list[float], loads: list[float], out: Path
) -> tuple[dict[str, Any], list[Any]]:
    """Run every variant under one trigger and in normal operation; write mitigations.json and .csv."""
    from meshsim.storm.mitigations import compare_mitigations, load_mitigations, rows_json

    if len(mags) > 1 or len(durs) > 1 or loads:
        raise ConfigError(
            "--mitigations",
            str(mitigations),
            "compare mitigations under one trigger: give at most one --magnitude and one --duration, no --load",
        )
    mits = load_mitigations(str(mitigations))
    m1 = mags[0] if mags else None
    d1 = durs[0] if durs else None
    with progress_bar("mitigations", enabled=not run.quiet) as update:
        rows = compare_mitigations(
            run.paths, run.trig, mits, m1, d1, run.base, run.seed, run.replications, run.params, run.workers, update
        )
    out.mkdir(parents=True, exist_ok=True)
    mj = rows_json(rows)
    data: dict[str, Any] = {
        "trigger": run.trig.describe(m1, d1),
        "replications": run.replications,
        "seed": run.seed,
        "mitigations": mj,
    }
    written = [out / "mitigations.json", out / "mitigations.csv"]
    atomic.write_text(written[0], json.dumps(data, indent=2) + "\n")
    import pandas as pd

    flat = [{k: v for k, v in x.items() if k not in ("files", "overrides", "outcomes")} | x["outcomes"] for x in mj]
    pd.DataFrame(flat).pipe(atomic.to_csv, written[1], index=False)
    run.provenance(out, written, data["trigger"])
    return data, rows


def _mitigations_table(rows: list[Any], trigger: str, replications: int) -> Table:
    t = Table(title=f"mitigations under {trigger} ({replications} replications each)", title_justify="left")
    for c in (
        "mitigation",
        "recovers",
        "P(not recovered) [95% CI]",
        "mean recovery s",
        "failed under trigger",
        "failed normally",
        "p99 normally ms",
        "attempts/req normally",
    ):
        t.add_column(c, justify="left" if c == "mitigation" else "right", overflow="fold")
    for r in rows:
        ci = f" [{_f(r.ci_low, 2)}, {_f(r.ci_high, 2)}]" if r.ci_low is not None else ""
        t.add_row(
            r.name,
            "yes" if r.recovers else "no",
            _f(r.p_not_recovered, 2) + ci,
            _f(r.mean_recovery_s),
            _f(None if r.trigger_failed_fraction is None else 100 * r.trigger_failed_fraction) + "%",
            _f(None if r.normal_failed_fraction is None else 100 * r.normal_failed_fraction) + "%",
            _f(r.normal_p99_ms, 4),
            _f(r.normal_amplification, 4),
        )
    return t


def _phase(
    run: _Run, mags: list[float], durs: list[float], loads: list[float], out: Path
) -> tuple[dict[str, Any], Any]:
    """The phase diagram over the grid; writes phase.csv, phase.json and phase.png."""
    from meshsim.storm.phase import phase_diagram

    mags = mags or [run.trig.magnitude]
    durs = durs or [run.trig.duration]
    with progress_bar("storm phase diagram", enabled=not run.quiet) as update:
        res = phase_diagram(
            run.paths,
            run.trig,
            mags,
            durs,
            loads,
            run.base,
            run.seed,
            run.replications,
            run.params,
            run.workers,
            update,
        )
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    from meshsim.report.plots import storm_phase

    data = res.to_json()
    written = [out / "phase.csv", out / "phase.json", out / "phase.png"]
    atomic.to_csv(res.to_frame(), written[0], index=False)
    atomic.write_text(written[1], json.dumps(data, indent=2) + "\n")
    atomic.save_figure(storm_phase(data), written[2], dpi=110)
    run.provenance(out, written, run.trig.describe())
    return data, res


_PHASE_COLUMNS = (
    "load",
    "magnitude",
    "duration_s",
    "stable",
    "recovered",
    "metastable",
    "p_not_recovered",
    "p_ci_low",
    "p_ci_high",
    "mean_recovery_s",
)


def _phase_table(res: Any, trig: Any, replications: int) -> Table:
    """One row per grid point; a compact form (counts in one cell, the interval under P) when the wide one
    does not fit the terminal."""
    from meshsim.report.tables import fits

    title = (
        f"P(not recovered), {trig.kind} trigger at {trig.at:g}s, {replications} replications/point ({res.wall_s:.1f}s)"
    )
    t = Table(title=title, title_justify="left")
    for c in _PHASE_COLUMNS:
        t.add_column(c, justify="right")
    for pr in res.rows:
        t.add_row(
            *[
                _f(pr[c], 4) if isinstance(pr[c], float) else ("-" if pr[c] is None else str(pr[c]))
                for c in _PHASE_COLUMNS
            ]
        )
    if fits(t, console):
        return t
    t = Table(title=title, title_justify="left")
    for c in (
        "load\nreq/s",
        "magni-\ntude",
        "duration\ns",
        "stable/recovered\n/metastable",
        "P(not recovered)\n[95% CI]",
        "mean\nrecovery s",
    ):
        t.add_column(c, justify="right", overflow="fold")
    for pr in res.rows:
        ci = f"\n[{_f(pr['p_ci_low'], 2)}, {_f(pr['p_ci_high'], 2)}]" if pr["p_ci_low"] is not None else ""
        t.add_row(
            "-" if pr["load"] is None else f"{pr['load']:g}",
            f"{pr['magnitude']:g}",
            f"{pr['duration_s']:g}",
            f"{pr['stable']}/{pr['recovered']}/{pr['metastable']}",
            _f(pr["p_not_recovered"], 2) + ci,
            _f(pr["mean_recovery_s"]),
        )
    return t


def _boundary_lines(res: Any) -> list[str]:
    """Where, along each grid line, the runs stop mostly recovering."""
    out = []
    for b in res.boundary:
        if b["first_metastable"] is None:
            continue
        fixed = f"magnitude {b['magnitude']:g}" if b["along"] == "duration_s" else f"duration {b['duration_s']:g}s"
        lo = "below the grid" if b["last_recovering"] is None else f"{b['last_recovering']:g}"
        where = "load " + format(b["load"], "g") if b["load"] is not None else "load as configured"
        out.append(
            f"boundary ({where}, {fixed}): "
            f"{b['along'].replace('_s', '')} {lo} mostly recovers, {b['first_metastable']:g} mostly does not"
            + (f" (P jumps by {b['jump']:.2f})" if b["jump"] is not None else "")
        )
    return out

"""``meshsim storm``: where a trigger turns into a metastable retry storm, and which mitigations stop it."""

from __future__ import annotations

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


def storm_command(
    paths: Paths,
    magnitude: Annotated[
        str | None,
        typer.Option(
            "--magnitude",
            "-m",
            help="Trigger magnitudes, comma-separated: slowdown factor, spike rate multiplier, or replicas removed (by trigger kind). Default: the scenario's.",
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration", "-d", help="Trigger durations, comma-separated (5s,10s or seconds). Default: the scenario's."
        ),
    ] = None,
    load: Annotated[
        str | None,
        typer.Option("--load", help="LoadProfile rates (req/s), comma-separated: a third axis of the phase diagram."),
    ] = None,
    replications: Annotated[
        int,
        typer.Option(
            "--replications",
            "-r",
            min=1,
            help="Replications per grid point (P(not recovered) with a Wilson 95% interval).",
        ),
    ] = 10,
    trigger_event: Annotated[
        int | None,
        typer.Option(
            "--trigger-event",
            min=0,
            help="Index in Scenario.spec.events of the trigger (default: the first slow / load spike / scale-down event).",
        ),
    ] = None,
    mitigations: Annotated[
        Path | None,
        typer.Option(
            "--mitigations",
            help="YAML file of named variants (files: extra YAML, set: --set overrides): compare them under one trigger and in normal operation.",
        ),
    ] = None,
    window: Annotated[
        str, typer.Option("--window", help="Verdict window: goodput and p99 judged over sliding windows this long.")
    ] = "5s",
    goodput_tolerance: Annotated[
        float,
        typer.Option(
            "--goodput-tolerance",
            min=0.0,
            max=1.0,
            help="Fraction of baseline goodput a healthy window may lose (beyond Poisson noise).",
        ),
    ] = 0.10,
    p99_factor: Annotated[
        float,
        typer.Option(
            "--p99-factor",
            min=1.0,
            help="A healthy window's p99 is at most this multiple of the baseline p99 (calm runs of topologies/storm reach 2.6x in some 5 s window).",
        ),
    ] = 3.0,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, help="Root seed, the same for every point and variant (common random numbers)."),
    ] = 1,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes for each point's replications (default: one per CPU)."),
    ] = None,
    sets: Annotated[list[str] | None, SetOption] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output directory (default: results/<name>-<digest8>-s<seed>-storm)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table or progress bar.")] = False,
    output: Annotated[OutputFormat, OutputOption] = OutputFormat.table,
) -> None:
    """Phase diagram of a Scenario's trigger, or mitigations side by side.

    (Long: typer's options are its signature, and it renders both modes.)

    Each grid point (load x magnitude x duration) runs REPLICATIONS replications and classifies each
    as stable, recovered or metastable (still degraded when the run ends); writes phase.csv,
    phase.json and phase.png (P(not recovered) heatmap, boundary marked). With --mitigations, runs
    every variant under one trigger and in normal operation; writes mitigations.json and .csv.
    """
    from meshsim.analysis.verdict import VerdictParams
    from meshsim.planning.provenance import default_out_dir, run_digest, write_provenance
    from meshsim.storm.trigger import find_trigger

    with user_errors():
        from meshsim.units import parse_duration

        mags = _floats("--magnitude", magnitude)
        durs = _floats("--duration", duration, durations=True)
        loads = _floats("--load", load)
        try:
            win = float(parse_duration(window))
        except (ValueError, TypeError):
            raise ConfigError("--window", window, "expected a duration such as 5s") from None
        if win <= 0:
            raise ConfigError("--window", window, "must be > 0")
        params = VerdictParams(window_s=win, goodput_tolerance=goodput_tolerance, p99_factor=p99_factor)
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
            "window_s": win,
            "goodput_tolerance": goodput_tolerance,
            "p99_factor": p99_factor,
        }
        digest = run_digest(inputs, cmd)
        out = out or default_out_dir(paths, digest, seed, "storm")
        t0 = time.perf_counter()
        if mitigations is not None:
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
            with progress_bar("mitigations", enabled=not quiet) as update:
                rows = compare_mitigations(paths, trig, mits, m1, d1, base, seed, replications, params, workers, update)
            out.mkdir(parents=True, exist_ok=True)
            mj = rows_json(rows)
            data: dict[str, Any] = {
                "trigger": trig.describe(m1, d1),
                "replications": replications,
                "seed": seed,
                "mitigations": mj,
            }
            written = [out / "mitigations.json", out / "mitigations.csv"]
            atomic.write_text(written[0], json.dumps(data, indent=2) + "\n")
            import pandas as pd

            pd.DataFrame(
                [
                    {k: v for k, v in x.items() if k not in ("files", "overrides", "outcomes")} | x["outcomes"]
                    for x in mj
                ]
            ).pipe(atomic.to_csv, written[1], index=False)
            write_provenance(
                out,
                ["meshsim", *sys.argv[1:]],
                inputs,
                digest,
                cmd,
                written,
                time.perf_counter() - t0,
                {"trigger": data["trigger"]},
            )
            if output is OutputFormat.json:  # mitigations.json's content, alone on stdout
                print_json({**data, "out": str(out)})
                return
            if not quiet:
                t = Table(
                    title=f"mitigations under {data['trigger']} ({replications} replications each)",
                    title_justify="left",
                )
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
                console.print(t)
            console.print(f"wrote {out}", highlight=False)
            return
        from meshsim.storm.phase import phase_diagram

        mags = mags or [trig.magnitude]
        durs = durs or [trig.duration]
        with progress_bar("storm phase diagram", enabled=not quiet) as update:
            res = phase_diagram(paths, trig, mags, durs, loads, base, seed, replications, params, workers, update)
        out.mkdir(parents=True, exist_ok=True)
        import matplotlib

        matplotlib.use("Agg")
        from meshsim.report.plots import storm_phase

        data = res.to_json()
        written = [out / "phase.csv", out / "phase.json", out / "phase.png"]
        atomic.to_csv(res.to_frame(), written[0], index=False)
        atomic.write_text(written[1], json.dumps(data, indent=2) + "\n")
        atomic.save_figure(storm_phase(data), written[2], dpi=110)
        write_provenance(
            out,
            ["meshsim", *sys.argv[1:]],
            inputs,
            digest,
            cmd,
            written,
            time.perf_counter() - t0,
            {"trigger": trig.describe()},
        )
    if output is OutputFormat.json:  # phase.json's content, alone on stdout
        print_json({**data, "out": str(out)})
        return
    if not quiet:
        t = Table(
            title=f"P(not recovered), {trig.kind} trigger at {trig.at:g}s, {replications} replications/point ({res.wall_s:.1f}s)",
            title_justify="left",
        )
        cols = [
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
        ]
        for c in cols:
            t.add_column(c, justify="right")
        for pr in res.rows:
            t.add_row(
                *[_f(pr[c], 4) if isinstance(pr[c], float) else ("-" if pr[c] is None else str(pr[c])) for c in cols]
            )
        from meshsim.report.tables import fits

        if not fits(t, console):  # compact: outcome counts in one cell, the Wilson interval under P
            t = Table(
                title=f"P(not recovered), {trig.kind} trigger at {trig.at:g}s, {replications} replications/point ({res.wall_s:.1f}s)",
                title_justify="left",
            )
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
        console.print(t)
        for b in res.boundary:
            if b["first_metastable"] is None:
                continue
            fixed = f"magnitude {b['magnitude']:g}" if b["along"] == "duration_s" else f"duration {b['duration_s']:g}s"
            lo = "below the grid" if b["last_recovering"] is None else f"{b['last_recovering']:g}"
            console.print(
                f"boundary ({'load ' + format(b['load'], 'g') if b['load'] is not None else 'load as configured'}, {fixed}): "
                f"{b['along'].replace('_s', '')} {lo} mostly recovers, {b['first_metastable']:g} mostly does not"
                + (f" (P jumps by {b['jump']:.2f})" if b["jump"] is not None else ""),
                highlight=False,
            )
    console.print(f"wrote {out}", highlight=False)

"""``meshsim check``: gate a config change in CI (baseline vs candidate, common random numbers)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Literal, cast

import typer
from rich.table import Table

from meshsim import atomic
from meshsim.cli.common import (
    MaxReplicationsOption,
    PrecisionOption,
    SetOption,
    choose_replications,
    console,
    load_overrides,
    user_errors,
)
from meshsim.cli.output import OutputFormat, OutputOption, print_json

__all__ = ["check_command"]


def check_command(
    baseline: Annotated[
        list[str], typer.Option("--baseline", "-b", help="Baseline YAML file or directory. Repeatable.")
    ],
    candidate: Annotated[
        list[str],
        typer.Option(
            "--candidate",
            "-c",
            help="Candidate YAML file or directory (later files replace same-named objects). Repeatable.",
        ),
    ],
    slo: Annotated[
        list[str] | None,
        typer.Option(
            "--slo", help="File(s) with `kind: SLO` documents (default: SLO documents among the candidate's inputs)."
        ),
    ] = None,
    baseline_set: Annotated[
        list[str] | None, typer.Option("--baseline-set", help="--set for the baseline only. Repeatable.")
    ] = None,
    candidate_set: Annotated[
        list[str] | None,
        typer.Option(
            "--candidate-set",
            help="--set for the candidate only, e.g. 'MockServiceGraph.services[name=ratings].errorRate=3%'. Repeatable.",
        ),
    ] = None,
    sets: Annotated[list[str] | None, SetOption] = None,
    rps: Annotated[float | None, typer.Option("--rps", help="Entry rate for both, requests/s.")] = None,
    duration: Annotated[str | None, typer.Option("--duration", help="Measured window, e.g. 20s.")] = None,
    warmup: Annotated[str | None, typer.Option("--warmup", help="Warm-up, e.g. 5s.")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Root seed for both runs (common random numbers).")] = 1,
    replications: Annotated[
        int, typer.Option("--replications", "-r", min=2, help="Replications (paired differences need >= 2).")
    ] = 4,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Processes for replications.")] = None,
    criterion: Annotated[
        str, typer.Option("--criterion", help="SLO decision: 'point' (estimate) or 'ci' (the 95% CI must lie within).")
    ] = "point",
    latency_tol: Annotated[
        float, typer.Option("--latency-tolerance", min=0, help="Allowed relative latency increase (0.10 = 10%).")
    ] = 0.10,
    success_tol: Annotated[
        float,
        typer.Option("--success-tolerance", min=0, help="Allowed absolute success-rate drop (0.001 = 0.1 points)."),
    ] = 0.001,
    amp_tol: Annotated[
        float,
        typer.Option(
            "--amplification-tolerance", min=0, help="Allowed absolute increase of attempts per request on any edge."
        ),
    ] = 0.02,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write JUnit XML here (default: <out>/junit.xml).")
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="Also write the markdown summary here (default: <out>/summary.md)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output directory (default: results/<name>-<digest8>-s<seed>-check)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the verdict line.")] = False,
    output: Annotated[OutputFormat, OutputOption] = OutputFormat.table,
    precision: Annotated[str | None, PrecisionOption] = None,
    max_replications: Annotated[int, MaxReplicationsOption] = 50,
) -> None:
    """Simulate baseline and candidate with common random numbers; exit 1 if the candidate violates
    an SLO or regresses significantly beyond a tolerance.

    Writes check.json, junit.xml, summary.md (a pull-request comment) and provenance.json.
    """
    from meshsim.analysis.slo import load_slos
    from meshsim.errors import ConfigError
    from meshsim.planning.check import check
    from meshsim.planning.provenance import default_out_dir, run_digest, write_provenance

    with user_errors():
        if criterion not in ("ci", "point"):
            raise ConfigError("--criterion", "", f"expected 'ci' or 'point', got {criterion!r}")
        slos = load_slos(slo or candidate)
        common = load_overrides(sets, rps, duration, warmup)
        b_over = [*common, *(baseline_set or [])]
        c_over = [*common, *(candidate_set or [])]
        replications = choose_replications(
            baseline, b_over, seed, precision, replications, max_replications, workers, quiet
        )
        params = {
            "command": "check",
            "baseline": baseline,
            "candidate": candidate,
            "baseline_overrides": b_over,
            "candidate_overrides": c_over,
            "seed": seed,
            "replications": replications,
            "criterion": criterion,
            "tolerances": {"latency": latency_tol, "success": success_tol, "amplification": amp_tol},
            "slo_digest": slos.digest,
        }
        inputs = [*baseline, *candidate, *(slo or [])]
        digest = run_digest(inputs, params)
        out = out or default_out_dir(candidate, digest, seed, "check")
        t0 = time.perf_counter()
        rep = check(
            baseline,
            candidate,
            slos,
            b_over,
            c_over,
            seed=seed,
            replications=replications,
            workers=workers,
            criterion=cast(Literal["ci", "point"], criterion),
            latency_tol=latency_tol,
            success_tol=success_tol,
            amplification_tol=amp_tol,
        )
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "check.json", junit or out / "junit.xml", markdown or out / "summary.md"]
        atomic.write_text(written[0], json.dumps(rep.to_dict(), indent=2, default=str) + "\n")
        for p, text in ((written[1], rep.junit_xml()), (written[2], rep.markdown())):
            p.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(p, text)
        write_provenance(
            out,
            ["meshsim", *sys.argv[1:]],
            inputs,
            digest,
            params,
            written,
            time.perf_counter() - t0,
            {"baseline_digest": rep.baseline.digest, "candidate_digest": rep.candidate.digest},
        )
    if output is OutputFormat.json:  # check.json's content, alone on stdout
        print_json({**rep.to_dict(), "out": str(out)})
        if not rep.passed:
            raise typer.Exit(1)
        return
    if not quiet:
        t = Table(title="candidate vs baseline (paired over replications)", title_justify="left")
        for col in ("metric", "baseline", "candidate", "diff [95% CI]", "tolerance", "verdict"):
            t.add_column(col)
        for r in rep.comparisons:
            ci = f" [{r.ci_low:+.4g}, {r.ci_high:+.4g}]" if r.ci_low is not None and r.ci_high is not None else ""
            verdict = "REGRESSION" if r.regression else ("significant" if r.significant else "")
            t.add_row(
                r.metric,
                _f(r.baseline),
                _f(r.candidate),
                (f"{r.diff:+.4g}" if r.diff is not None else "-") + ci,
                f"{r.tolerance:.0%}" if r.relative else f"{r.tolerance:g}",
                verdict,
            )
        console.print(t)
        for c in rep.slo_failures:
            console.print(f"SLO violated: {c.key} = {_f(c.value)} (limit {c.limit:g})", style="red", highlight=False)
        for n in rep.notes:
            console.print(f"note: {n}", style="yellow", highlight=False)
    console.print(
        f"check: {'PASS' if rep.passed else 'FAIL'} ({len(rep.slo_failures)} SLO violation(s), "
        f"{len(rep.regressions)} regression(s)); wrote {out}",
        highlight=False,
    )
    if not rep.passed:
        raise typer.Exit(1)


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"

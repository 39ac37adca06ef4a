"""``meshsim check``: gate a config change in CI (baseline vs candidate, common random numbers)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

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

if TYPE_CHECKING:
    from meshsim.planning.check import CheckReport

__all__ = ["check_command"]


BaselineOption = typer.Option("--baseline", "-b", help="Baseline YAML file or directory. Repeatable.")
CandidateOption = typer.Option(
    "--candidate",
    "-c",
    help="Candidate YAML file or directory (later files replace same-named objects). Repeatable.",
)
SloOption = typer.Option(
    "--slo", help="File(s) with `kind: SLO` documents (default: SLO documents among the candidate's inputs)."
)
BaselineSetOption = typer.Option("--baseline-set", help="--set for the baseline only. Repeatable.")
CandidateSetOption = typer.Option(
    "--candidate-set",
    help="--set for the candidate only, e.g. 'MockServiceGraph.services[name=ratings].errorRate=3%'. Repeatable.",
)
RpsOption = typer.Option("--rps", help="Entry rate for both, requests/s.")
DurationOption = typer.Option("--duration", help="Measured window, e.g. 20s.")
WarmupOption = typer.Option("--warmup", help="Warm-up, e.g. 5s.")
SeedOption = typer.Option("--seed", min=0, help="Root seed for both runs (common random numbers).")
ReplicationsOption = typer.Option("--replications", "-r", min=2, help="Replications (paired differences need >= 2).")
WorkersOption = typer.Option("--workers", min=1, help="Processes for replications.")
CriterionOption = typer.Option(
    "--criterion", help="SLO decision: 'point' (estimate) or 'ci' (the 95% CI must lie within)."
)
LatencyTolOption = typer.Option("--latency-tolerance", min=0, help="Allowed relative latency increase (0.10 = 10%).")
SuccessTolOption = typer.Option(
    "--success-tolerance", min=0, help="Allowed absolute success-rate drop (0.001 = 0.1 points)."
)
AmpTolOption = typer.Option(
    "--amplification-tolerance", min=0, help="Allowed absolute increase of attempts per request on any edge."
)
JunitOption = typer.Option("--junit", help="Also write JUnit XML here (default: <out>/junit.xml).")
MarkdownOption = typer.Option("--markdown", help="Also write the markdown summary here (default: <out>/summary.md).")
OutOption = typer.Option("--out", "-o", help="Output directory (default: results/<name>-<digest8>-s<seed>-check).")
QuietOption = typer.Option("--quiet", "-q", help="Only the verdict line.")


def check_command(
    baseline: Annotated[list[str], BaselineOption],
    candidate: Annotated[list[str], CandidateOption],
    slo: Annotated[list[str] | None, SloOption] = None,
    baseline_set: Annotated[list[str] | None, BaselineSetOption] = None,
    candidate_set: Annotated[list[str] | None, CandidateSetOption] = None,
    sets: Annotated[list[str] | None, SetOption] = None,
    rps: Annotated[float | None, RpsOption] = None,
    duration: Annotated[str | None, DurationOption] = None,
    warmup: Annotated[str | None, WarmupOption] = None,
    seed: Annotated[int, SeedOption] = 1,
    replications: Annotated[int, ReplicationsOption] = 4,
    workers: Annotated[int | None, WorkersOption] = None,
    criterion: Annotated[str, CriterionOption] = "point",
    latency_tol: Annotated[float, LatencyTolOption] = 0.10,
    success_tol: Annotated[float, SuccessTolOption] = 0.001,
    amp_tol: Annotated[float, AmpTolOption] = 0.02,
    junit: Annotated[Path | None, JunitOption] = None,
    markdown: Annotated[Path | None, MarkdownOption] = None,
    out: Annotated[Path | None, OutOption] = None,
    quiet: Annotated[bool, QuietOption] = False,
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
    from meshsim.planning.provenance import default_out_dir, run_digest

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
        tolerances = {"latency": latency_tol, "success": success_tol, "amplification": amp_tol}
        params = _params(baseline, candidate, b_over, c_over, seed, replications, criterion, tolerances, slos.digest)
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
        written = [out / "check.json", junit or out / "junit.xml", markdown or out / "summary.md"]
        _write(rep, out, written, inputs, digest, params, t0)
    if output is OutputFormat.json:  # check.json's content, alone on stdout
        print_json({**rep.to_dict(), "out": str(out)})
    else:
        _render(rep, out, quiet)
    if not rep.passed:
        raise typer.Exit(1)


def _params(
    baseline: list[str],
    candidate: list[str],
    b_over: list[str],
    c_over: list[str],
    seed: int,
    replications: int,
    criterion: str,
    tolerances: dict[str, float],
    slo_digest: str,
) -> dict[str, Any]:
    """The run's parameters as provenance.json records them (and its digest covers)."""
    return {
        "command": "check",
        "baseline": baseline,
        "candidate": candidate,
        "baseline_overrides": b_over,
        "candidate_overrides": c_over,
        "seed": seed,
        "replications": replications,
        "criterion": criterion,
        "tolerances": tolerances,
        "slo_digest": slo_digest,
    }


def _write(
    rep: CheckReport,
    out: Path,
    written: list[Path],
    inputs: list[str],
    digest: str,
    params: dict[str, Any],
    t0: float,
) -> None:
    """Write check.json, junit.xml and summary.md (``written``, in that order) and provenance.json into
    ``out``; ``t0`` is when the runs started (``time.perf_counter``), for the provenance's wall time."""
    from meshsim.planning.provenance import write_provenance

    out.mkdir(parents=True, exist_ok=True)
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


def _render(rep: CheckReport, out: Path, quiet: bool) -> None:
    """The comparison table, SLO violations and notes (unless ``quiet``), then the verdict line."""
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


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"

"""``meshsim compare PRED_DIR REAL_DIR``: predicted vs measured, with pass/fail against tolerances.

``compare_cmd`` is a plain typer command function; the main CLI mounts it with
``app.command("compare")(compare_cmd)``. Exit codes: 0 all within tolerance, 1 something outside it,
2 bad input (one line naming the file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from meshsim.cli.output import OutputFormat, OutputOption, print_json
from meshsim.errors import MeshsimError

__all__ = ["compare_cmd", "load_summary", "load_runs"]


def load_summary(path: Path) -> object:
    """Read a ``summary.json`` (or a directory holding one) into a :class:`Summary`.

    Raises
    ------
    MeshsimError
        One line naming the file when it is missing, not JSON, or not a summary.
    """
    from pydantic import ValidationError

    from meshsim.metrics.results import Summary

    f = path / "summary.json" if path.is_dir() else path
    if not f.is_file():
        raise MeshsimError(f"{f}: no such file (expected a summary.json or a directory holding one)")
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise MeshsimError(f"{f}: not valid JSON ({exc})") from None
    try:
        return Summary.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise MeshsimError(f"{f}: {loc or 'summary'}: {err['msg']} (not a meshsim summary.json)") from None


def load_runs(path: Path) -> list[object]:
    """The measured side: ``path/summary.json``, or every ``path/run-*/summary.json`` (median taken later)."""
    if path.is_dir() and not (path / "summary.json").exists():
        runs = sorted(path.glob("run-*/summary.json"))
        if runs:
            return [load_summary(p) for p in runs]
    return [load_summary(path)]


def compare_cmd(
    pred_dir: Annotated[Path, typer.Argument(help="Predicted run: a directory with summary.json (meshsim run --out).")],
    real_dir: Annotated[
        Path,
        typer.Argument(
            help="Measured run: a directory with summary.json (meshsim real run --out) or run-*/summary.json."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write compare.json/.md/.png (default REAL_DIR).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table on stdout.")] = False,
    output: Annotated[OutputFormat, OutputOption] = OutputFormat.table,
) -> None:
    """Compare predicted and measured summaries: entry p50/p90/p99, success rate, retry amplification,
    subset split, overflow and ejection counters; each with its error and pass/fail.

    Tolerances: p50 ±10 %, p90 ±15 %, p99 ±20 %, success rate ±0.5 pp, amplification ±3 %, split ±1 pp,
    counters ±max(25 %, 3). Exit 1 when any gating row is outside its tolerance.
    """
    from rich.console import Console

    from meshsim.metrics.results import Summary
    from meshsim.report.compare import compare_runs, rich_table, write_outputs

    try:
        pred = load_summary(pred_dir)
        reals = load_runs(real_dir)
    except MeshsimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    assert isinstance(pred, Summary)
    rs = [r for r in reals if isinstance(r, Summary)]
    c = compare_runs(pred, rs)
    dest = out or (real_dir if real_dir.is_dir() else real_dir.parent)
    try:
        paths = write_outputs(c, pred, rs, dest, title=f"{pred_dir} vs {real_dir}")
    except OSError as exc:
        typer.echo(f"error: {dest}: cannot write ({exc.strerror})", err=True)
        raise typer.Exit(2) from None
    if output is OutputFormat.json:  # compare.json's content, alone on stdout
        print_json(c.model_dump(mode="json"))
    elif not quiet:
        con = Console()
        con.print(rich_table(c))
        for n in c.notes:
            con.print(n, style="yellow")
        con.print(
            f"{'PASS' if c.passed else 'FAIL'}: {len(c.failures)} row(s) outside tolerance -> {', '.join(map(str, paths))}"
        )
    raise typer.Exit(0 if c.passed else 1)


if __name__ == "__main__":
    typer.run(compare_cmd)

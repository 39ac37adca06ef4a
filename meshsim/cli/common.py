"""Shared CLI plumbing: one-line errors, progress bars, option types."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from meshsim.errors import Finding, MeshsimError

__all__ = [
    "console",
    "err_console",
    "user_errors",
    "progress_bar",
    "SetOption",
    "DurationOption",
    "WarmupOption",
    "RpsOption",
    "SeedOption",
    "seconds",
    "load_overrides",
    "shadowed_sets",
    "PrecisionOption",
    "MaxReplicationsOption",
    "choose_replications",
]

console = Console()
err_console = Console(stderr=True)

SetOption = typer.Option(
    "--set",
    help="Override a field before validation: Kind[/name].path=value, e.g. "
    "LoadProfile.spec.rate=500 or Deployment/reviews-v1.spec.replicas=3 (a topology's numReplicas counts only "
    "for versions without a Deployment). Repeatable.",
)

DurationOption = typer.Option("--duration", help="Override the measured window, e.g. 30s, 2m.")
WarmupOption = typer.Option("--warmup", help="Override the warm-up, e.g. 5s.")
RpsOption = typer.Option("--rps", help="Override the load rate, requests/s.")
SeedOption = typer.Option(
    "--seed", min=0, help="Root seed; the same seed gives the same draws (a byte-identical summary.json)."
)
"""Options every command that runs a mesh (``run``, ``real run``, ``real validate``) shares: one type and
one spelling each (durations as ``30s``/``2m``, Go-style, as the LoadProfile writes them)."""


def seconds(value: str | None, flag: str) -> float | None:
    """``value`` of ``flag`` (``"30s"``) in seconds, for the commands that need a number.

    Raises
    ------
    MeshsimError
        ``--duration: expected a duration such as ... (from --duration)`` on a bad value.
    """
    from meshsim.units import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise MeshsimError(f"{flag}: {exc} (from {flag})") from None


PrecisionOption = typer.Option(
    "--precision",
    help="Add replications until the entry p99's 95% CI half-width is at most this fraction of the value, "
    "e.g. 5% (sequential procedure; --replications is the starting count, at least 5).",
)
MaxReplicationsOption = typer.Option("--max-replications", min=2, help="Upper limit on replications with --precision.")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`MeshsimError` into one line on stderr and exit code 2; Ctrl-C into exit 130."""
    try:
        yield
    except MeshsimError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:  # ConfigErrors: one line per error
            err_console.print("error: " + line, style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None


@contextlib.contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield a callback ``update(fraction, note=None)``; a bar appears only once the work has run for
    1 s. ``note`` (e.g. the current CI half-width of ``--precision``) replaces the label's suffix."""
    start = time.monotonic()
    state: dict[str, Any] = {}

    def update(frac: float, note: str | None = None) -> None:
        if not enabled:
            return
        if "bar" not in state:
            if time.monotonic() - start < 1.0:
                return
            bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            bar.start()
            state["bar"] = bar
            state["task"] = bar.add_task(label, total=1.0)
        state["bar"].update(state["task"], completed=frac, **({"description": f"{label}: {note}"} if note else {}))

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()


def load_overrides(sets: list[str] | None, rps: float | None, duration: str | None, warmup: str | None) -> list[str]:
    """``--set`` assignments plus the flags that are shorthands for them. Precedence: a flag beats
    ``--set``, which beats the files (later assignments win). The flags' assignments remember their
    flag (:class:`~meshsim.config.loader.Override`), so an error in one says ``(from --duration)``."""
    from meshsim.config.loader import Override

    out = list(sets or [])
    if rps is not None:
        out.append(Override(f"LoadProfile.spec.rate={rps}", "--rps"))
    if duration is not None:
        out.append(Override(f"LoadProfile.spec.duration={duration}", "--duration"))
    if warmup is not None:
        out.append(Override(f"LoadProfile.spec.warmup={warmup}", "--warmup"))
    return out


def shadowed_sets(sets: list[str] | None, rps: float | None, duration: str | None, warmup: str | None) -> list[Finding]:
    """A warning (``OverrideShadowed``) for each ``--set`` of a LoadProfile field that a flag also sets:
    the flag wins (:func:`load_overrides`), so the ``--set`` changes nothing."""
    flags = {"rate": ("--rps", rps), "duration": ("--duration", duration), "warmup": ("--warmup", warmup)}
    out = []
    for a in sets or []:
        m = re.fullmatch(r"LoadProfile(?:/[^.]+)?\.spec\.(rate|duration|warmup)=(.*)", a)
        if m is not None and flags[m[1]][1] is not None:
            flag, value = flags[m[1]]
            out.append(
                Finding(
                    "warning",
                    "--set",
                    f"LoadProfile.spec.{m[1]}",
                    f"--set {a} is shadowed by {flag} {value} (a flag beats --set); drop one of them",
                )
            )
    return out


def choose_replications(
    paths: list[str],
    overrides: list[str],
    seed: int,
    precision: str | None,
    replications: int,
    max_replications: int,
    workers: int | None,
    quiet: bool,
) -> int:
    """``replications``, or with ``--precision`` the count the sequential procedure reaches on the
    baseline inputs (:func:`meshsim.experiments.replicate.replications_for_precision`); one line
    on stderr says which and how precise."""
    if precision is None:
        return replications
    from meshsim.experiments.replicate import parse_precision, replications_for_precision

    target = parse_precision(precision)
    with progress_bar("choosing replications", enabled=not quiet) as update:
        prec = replications_for_precision(
            paths, overrides, seed, target, replications, max_replications, workers, update
        )
    got = "n/a" if prec.achieved is None else f"{100 * prec.achieved:.1f}%"
    state = "met" if prec.met else "NOT met (raise --max-replications)"
    err_console.print(
        f"--precision {precision}: {prec.replications} replications (entry p99 +/- {got} on the baseline, target {state})",
        style=None if prec.met else "yellow",
        highlight=False,
    )
    return prec.replications

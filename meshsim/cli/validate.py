"""``meshsim validate``: static checks in the conventions of ``istioctl analyze``.

Each finding is one line ``Level [CODE] (Kind name.namespace file:line) field: message``, with a
stable code per check (the table: ``docs/validate-codes.md``, or ``--list-codes``). ``--output
json|yaml`` prints the list of messages with istioctl's keys (``code``, ``level``, ``origin``,
``reference``, ``message``, ``documentationUrl``, plus meshsim's ``field``). ``--output-threshold``
hides messages below a level, ``--failure-threshold`` sets the level from which the exit code is 2.

Exit codes: 0 when no message reaches ``--failure-threshold`` (default Error), 2 when one does (an
input meshsim cannot read is an Error, as every command treats bad input), 130 when interrupted.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from meshsim.cli.common import SetOption, console, user_errors
from meshsim.errors import ConfigError, ConfigErrors, Finding

__all__ = ["validate_command", "MessageFormat", "Threshold", "collect_findings"]


class MessageFormat(StrEnum):
    """istioctl analyze's ``--output`` formats."""

    log = "log"
    json = "json"
    yaml = "yaml"


class Threshold(StrEnum):
    """A level, as istioctl's ``--failure-threshold`` and ``--output-threshold`` spell them."""

    Info = "Info"
    Warning = "Warning"
    Error = "Error"


Paths = Annotated[
    list[str] | None,
    typer.Argument(help="YAML files or directories (as for `meshsim run`).", show_default=False),
]


def collect_findings(paths: list[str], sets: list[str]) -> tuple[list[Finding], dict[tuple[str, str, str], str]]:
    """Every finding of every check on ``paths`` (an input error is a finding too, not an exception),
    with YAML lines, and the objects' namespaces for origins."""
    from meshsim.analysis.amplification import worst_case_findings
    from meshsim.config.checks import namespaces, with_lines
    from meshsim.config.loader import load
    from meshsim.model.checks import model_findings, refine
    from meshsim.model.compile import compile_with_findings, security_findings
    from meshsim.model.preflight import check_model
    from meshsim.model.timeline import compile_timeline

    try:
        cfg = load(paths, sets)
    except ConfigError as exc:  # the document errors: nothing else can be checked
        errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        return [Finding("error", e.source, e.loc, e.message) for e in errors], {}
    ns = namespaces(cfg)
    model, findings = compile_with_findings(cfg)
    findings = with_lines(cfg, [*findings, *check_model(cfg, model)])  # entry without pods; YAML lines
    if model is None:
        return findings, ns
    findings = refine(findings, with_lines(cfg, model_findings(cfg, model)))
    findings = [*findings, *worst_case_findings(model), *security_findings(model)]
    if not any(f.level == "error" for f in findings):
        try:
            compile_timeline(cfg, model)  # every stage of a Scenario/CanaryPolicy, as run compiles them
        except ConfigError as exc:
            errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
            findings.extend(Finding("error", e.source, e.loc, e.message) for e in errors)
    return findings, ns


def validate_command(
    paths: Paths = None,
    sets: Annotated[list[str] | None, SetOption] = None,
    output: Annotated[
        MessageFormat,
        typer.Option(
            "--output",
            "-o",
            case_sensitive=False,
            help="log (one line per message), json or yaml (a list of messages).",
        ),
    ] = MessageFormat.log,
    failure_threshold: Annotated[
        Threshold,
        typer.Option(
            "--failure-threshold", case_sensitive=False, help="The level from which a message makes the exit code 2."
        ),
    ] = Threshold.Error,
    output_threshold: Annotated[
        Threshold,
        typer.Option("--output-threshold", case_sensitive=False, help="The lowest level of the messages printed."),
    ] = Threshold.Info,
    list_codes: Annotated[
        bool, typer.Option("--list-codes", help="Print the table of message codes (Markdown) and exit.")
    ] = False,
) -> None:
    """Check configs statically, in the conventions of `istioctl analyze`.

    Every finding is `Level [CODE] (Kind name.namespace file:line) field: message`; the codes, their
    meaning and fix are in docs/validate-codes.md (or --list-codes). Errors (unknown hosts or subsets,
    weights summing to 0, calls to undefined services, invalid fields) exit with code 2; warnings
    (unreachable services, subsets selecting no pods, fields meshsim does not model yet, retries that
    multiply past 3 attempts per request, AuthorizationPolicy denials, refused mTLS connections, a split
    of the entry service, shadowed --set values) exit 0 unless --failure-threshold Warning.
    """
    from meshsim.config.checks import LEVELS, analysis_message, codes_table

    if list_codes:
        sys.stdout.write(codes_table())
        return
    if not paths:
        console.print("error: give one or more YAML files or directories", style="red", highlight=False)
        raise typer.Exit(2)
    with user_errors():  # input errors are messages; anything else meshsim raises is one line, exit 2
        findings, ns = collect_findings(paths, list(sets or []))
    messages = [analysis_message(f, ns) for f in findings]
    shown_from = LEVELS.index(output_threshold.value.lower())  # type: ignore[arg-type]
    fail_from = LEVELS.index(failure_threshold.value.lower())  # type: ignore[arg-type]
    shown = [m for m in messages if LEVELS.index(m.level.lower()) >= shown_from]  # type: ignore[arg-type]
    failed = any(LEVELS.index(m.level.lower()) >= fail_from for m in messages)  # type: ignore[arg-type]
    if output is MessageFormat.json:
        sys.stdout.write(json.dumps([m.as_dict() for m in shown], indent=2) + "\n")
    elif output is MessageFormat.yaml:
        import yaml

        sys.stdout.write(yaml.safe_dump([m.as_dict() for m in shown], sort_keys=False, allow_unicode=True) or "[]\n")
    else:
        for m in shown:
            style = {"Error": "red", "Warning": "yellow", "Info": "dim"}[m.level]
            console.print(str(m), style=style, highlight=False, soft_wrap=True, markup=False)
        n_err = sum(m.level == "Error" for m in messages)
        n_warn = sum(m.level == "Warning" for m in messages)
        console.print(f"{n_err} error(s), {n_warn} warning(s)", highlight=False)
    if failed:
        raise typer.Exit(2)

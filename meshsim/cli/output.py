"""``--output table|json`` for the commands that print tables (run, plan, sweep, check, compare, storm).

``table`` (the default) prints rich tables for people; ``json`` prints one JSON document on stdout
and nothing else there (progress and messages go to stderr), for scripts and CI. The document is
the same content the command writes to its output directory (``summary.json``, ``plan.json``,
``check.json``, ...), so a pipeline can read either. Exit codes do not change with the format.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Any

import typer

__all__ = ["OutputFormat", "OutputOption", "print_json"]


class OutputFormat(StrEnum):
    """What a command prints on stdout."""

    table = "table"
    json = "json"


OutputOption = typer.Option(
    "--output",
    help="What to print on stdout: 'table' (for people) or 'json' (one JSON document and nothing else; messages go to stderr).",
    case_sensitive=False,
)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON plus a newline to stdout (non-JSON values via ``str``, NaN as null)."""
    sys.stdout.write(json.dumps(_clean(data), indent=2, default=str) + "\n")
    sys.stdout.flush()


def _clean(x: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x

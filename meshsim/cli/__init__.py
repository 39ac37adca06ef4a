"""The ``meshsim`` command line (typer). Commands are thin: parse, resolve, call, render."""

from __future__ import annotations

import sys

from meshsim.cli.main import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="meshsim")
    sys.exit(0)

"""Errors and findings.

Every problem with the user's input becomes one line: ``FILE: field.path: message``. The CLI turns a
:class:`MeshsimError` into that line and exit code 2; nothing the user wrote produces a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MeshsimError", "ConfigError", "ConfigErrors", "Finding", "format_loc", "shorten"]

MAX_MESSAGE_CHARS = 300
"""Longest message (and field path) echoed in one error line; a 2 MB value is not repeated whole."""


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was (one line, newlines escaped)."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) <= limit:
        return text
    return f"{text[: limit - 30]}... ({len(text)} characters)"


def format_loc(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """Render a field path as users write it: ``spec.http[0].route[1].weight``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class MeshsimError(Exception):
    """Base of all errors meshsim reports to users (exit code 2, one line, no traceback)."""


class ConfigError(MeshsimError):
    """Bad input: names the file (or ``--set``), the field path and what is wrong.

    Parameters
    ----------
    source:
        The file path, or a pseudo-source such as ``--set``.
    loc:
        The field path inside the document, e.g. ``spec.http[0].route[0].destination.host``.
    message:
        What is wrong, in one sentence.
    """

    def __init__(self, source: str, loc: str, message: str) -> None:
        self.source = shorten(source)
        self.loc = shorten(loc)
        self.message = shorten(message)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: {self.loc}" if self.loc else self.source
        return f"{where}: {self.message}"


class ConfigErrors(ConfigError):
    """Several input errors found in one pass; ``str()`` gives one line per error.

    ``errors`` keeps them in file order. It is a :class:`ConfigError` (the first one's source,
    field and message), so callers that handle one error handle this too.
    """

    errors: list[ConfigError]

    def __init__(self, errors: list[ConfigError]) -> None:
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        self.errors = [x for e in errors for x in (e.errors if isinstance(e, ConfigErrors) else [e])]
        first = self.errors[0]
        super().__init__(first.source, first.loc, first.message)

    def __str__(self) -> str:
        return "\n".join(ConfigError.__str__(e) for e in self.errors)


@dataclass(frozen=True)
class Finding:
    """A static-analysis result in the spirit of ``istioctl analyze``.

    ``level`` is ``error`` (the config cannot be simulated as written; exit non-zero) or ``warning``
    (it can, but probably not as the user intends) or ``info``.
    """

    level: Literal["error", "warning", "info"]
    source: str
    loc: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.loc}" if self.loc else self.source
        return f"{self.level}: {where}: {self.message}"

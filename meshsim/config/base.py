"""Shared pydantic bases and annotated unit types for the config layer.

Three strictness levels, matching how each format is treated by its own tools:

- :class:`StrictModel` (``extra="forbid"``): meshsim's own kinds and Istio CRDs. A misspelt key is an
  error, as the Kubernetes API server's structural schema rejects it.
- :class:`LooseModel` (``extra="allow"``): isotope's ``MockServiceGraph``. isotope's Go code ignores
  unknown keys; meshsim accepts them too (stock files load unchanged) but lists them in a warning.
- :class:`OpenModel` (``extra="ignore"``): Kubernetes objects, of which meshsim reads only a few fields.

Fields meshsim parses but does not model yet are declared in a class's ``__unmodelled__`` set;
:func:`collect_notes` walks a validated document and returns a warning for each one that is set.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict

from meshsim.errors import format_loc
from meshsim.units import parse_bytes, parse_duration, parse_percentage

__all__ = [
    "StrictModel",
    "LooseModel",
    "OpenModel",
    "Duration",
    "NonNegDuration",
    "ByteSize",
    "Percentage",
    "collect_notes",
]


def _non_negative_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"duration must be >= 0, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, parsed from a Go duration string (``"250ms"``) or a number of seconds."""
NonNegDuration = Annotated[float, BeforeValidator(_non_negative_duration)]
"""Non-negative seconds."""
ByteSize = Annotated[int, BeforeValidator(parse_bytes)]
"""Bytes, parsed from an int or a go-units string (``"16 KB"`` = 16384)."""
Percentage = Annotated[float, BeforeValidator(parse_percentage)]
"""A fraction in [0, 1], parsed from a number or ``"5%"``."""


class _Base(BaseModel):
    __unmodelled__: ClassVar[frozenset[str]] = frozenset()
    __unmodelled_why__: ClassVar[dict[str, str]] = {}


class StrictModel(_Base):
    """Unknown keys are errors; values are frozen after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LooseModel(_Base):
    """Unknown keys are kept (and reported as warnings by :func:`collect_notes`)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class OpenModel(_Base):
    """Unknown keys are ignored silently (Kubernetes objects: most fields are irrelevant)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def collect_notes(obj: Any, loc: tuple[str | int, ...] = ()) -> list[tuple[str, str]]:
    """List ``(field_path, message)`` for unmodelled fields that are set and unknown extra keys.

    Walks pydantic models, lists and dicts recursively. Returns an empty list when everything the
    user wrote is modelled.
    """
    notes: list[tuple[str, str]] = []
    if isinstance(obj, _Base):
        for name in sorted(obj.model_fields_set):
            field = type(obj).model_fields.get(name)
            key = (field.alias if field is not None and field.alias else name) if field else name
            if name in obj.__unmodelled__:
                why = obj.__unmodelled_why__.get(name, "not modelled yet; ignored")
                notes.append((format_loc((*loc, key)), why))
                continue
            notes.extend(collect_notes(getattr(obj, name), (*loc, key)))
        if isinstance(obj, LooseModel) and obj.model_extra:
            for key in sorted(obj.model_extra):
                notes.append(
                    (format_loc((*loc, key)), "unknown key; ignored (as isotope ignores it)")
                )
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            notes.extend(collect_notes(item, (*loc, i)))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            notes.extend(collect_notes(v, (*loc, str(k))))
    return notes

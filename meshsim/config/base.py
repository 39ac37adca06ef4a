"""Shared pydantic bases and annotated unit types for the config layer.

Three strictness levels, matching how each format is treated by its own tools:

- :class:`StrictModel` (``extra="forbid"``): meshsim's own kinds and Istio CRDs. A misspelt key is an
  error, as the Kubernetes API server's structural schema rejects it.
- :class:`LooseModel` (``extra="allow"``): isotope's ``MockServiceGraph``. isotope's Go code ignores
  unknown keys; meshsim accepts them too (stock files load unchanged) but lists them in a warning.
- :class:`OpenModel` (``extra="ignore"``): Kubernetes objects, of which meshsim reads only a few fields.

Every level refuses NaN and infinity in float fields (``allow_inf_nan=False``): a ``rate: .inf`` or
``min: .nan`` would otherwise validate and then hang or poison a run.

Fields meshsim parses but does not model yet are declared in a class's ``__unmodelled__`` set;
:func:`collect_notes` walks a validated document and returns a warning for each one that is set.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict

from meshsim.config.limits import MAX_BYTES, MAX_DURATION_S
from meshsim.errors import format_loc
from meshsim.units import parse_bytes, parse_duration, parse_percentage, show

__all__ = [
    "StrictModel",
    "LooseModel",
    "OpenModel",
    "Duration",
    "NonNegDuration",
    "IstioDuration",
    "IstioIdleTimeout",
    "ByteSize",
    "Percentage",
    "collect_notes",
]


def _bounded_duration(value: object) -> float:
    seconds = parse_duration(value)
    if abs(seconds) > MAX_DURATION_S:
        raise ValueError(f"duration must be at most {MAX_DURATION_S / 86400:g} days, got {show(value)}")
    return seconds


def _non_negative_duration(value: object) -> float:
    seconds = _bounded_duration(value)
    if seconds < 0:
        raise ValueError(f"duration must be >= 0, got {show(value)}")
    return seconds


def _istio_duration(value: object) -> float:
    """Istio's ``agent.ValidateDuration`` (``pkg/config/validation/agent/validation.go``): at least
    1 ms and a whole number of milliseconds."""
    seconds = _non_negative_duration(value)
    if seconds < 1e-3 - 1e-12:
        raise ValueError(f"duration must be at least 1ms, as Istio requires, got {show(value)}")
    if abs(seconds * 1e3 - round(seconds * 1e3)) > 1e-6:
        raise ValueError(f"only durations to ms precision are supported (as in Istio), got {show(value)}")
    return seconds


def _istio_idle_timeout(value: object) -> float:
    """As :func:`_istio_duration`, but ``0s`` (timeout disabled) is allowed, as Istio allows it for
    ``connectionPool.tcp.idleTimeout``."""
    seconds = _non_negative_duration(value)
    return seconds if seconds == 0 else _istio_duration(value)


def _bounded_bytes(value: object) -> int:
    size = parse_bytes(value)
    if size > MAX_BYTES:
        raise ValueError(f"byte size must be at most {MAX_BYTES} (1 GiB), got {show(value)}")
    return size


Duration = Annotated[float, BeforeValidator(_bounded_duration)]
"""Seconds, parsed from a Go duration string (``"250ms"``) or a number of seconds; finite and at most
:data:`~meshsim.config.limits.MAX_DURATION_S` either way."""
NonNegDuration = Annotated[float, BeforeValidator(_non_negative_duration)]
"""Non-negative seconds (finite, at most :data:`~meshsim.config.limits.MAX_DURATION_S`)."""
IstioDuration = Annotated[float, BeforeValidator(_istio_duration)]
"""An Istio API duration: >= 1 ms, whole milliseconds (Istio's validation webhook rejects others)."""
IstioIdleTimeout = Annotated[float, BeforeValidator(_istio_idle_timeout)]
"""An Istio duration where 0 means disabled."""
ByteSize = Annotated[int, BeforeValidator(_bounded_bytes)]
"""Bytes, parsed from an int or a go-units string (``"16 KB"`` = 16384); at most 1 GiB."""
Percentage = Annotated[float, BeforeValidator(parse_percentage)]
"""A fraction in [0, 1], parsed from a number or ``"5%"``."""


class _Base(BaseModel):
    __unmodelled__: ClassVar[frozenset[str]] = frozenset()
    __unmodelled_why__: ClassVar[dict[str, str]] = {}


class StrictModel(_Base):
    """Unknown keys are errors; values are frozen after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class LooseModel(_Base):
    """Unknown keys are kept (and reported as warnings by :func:`collect_notes`)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, allow_inf_nan=False)


class OpenModel(_Base):
    """Unknown keys are ignored silently (Kubernetes objects: most fields are irrelevant)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, allow_inf_nan=False)


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
                notes.append((format_loc((*loc, key)), "unknown key; ignored (as isotope ignores it)"))
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            notes.extend(collect_notes(item, (*loc, i)))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            notes.extend(collect_notes(v, (*loc, str(k))))
    return notes

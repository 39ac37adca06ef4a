"""Pydantic validation errors as one-line :class:`~meshsim.errors.ConfigError`: the path of keys the
user wrote (union-member tags dropped), the YAML line of the field, or the ``--set`` that put the value
there; and the Scenario's ``apply`` documents validated up front, as ``validate`` must find what a run
would.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from meshsim.config.documents import Source
from meshsim.config.kinds import dispatch
from meshsim.config.scenario import Scenario
from meshsim.errors import ConfigError, ConfigErrors, format_loc

__all__ = ["validation_errors", "validation_error", "scenario_apply_errors"]


_UNION_TAGS = frozenset(
    {
        "command",
        "group",
        "constant",
        "exponential",
        "lognormal",
        "uniform",
        "empirical",
        "CallSpec",
        "str",
        "int",
        "float",
        "bool",
        "none",
        "Percent",
    }
)
"""Names pydantic puts into an error's path for union members; they are not keys the user wrote."""


def _data_loc(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Turn a pydantic error path into the path of keys the user wrote, dropping union-member tags
    (``sleep.constant.value`` -> ``sleep.value``) by walking ``data`` alongside."""
    out: list[str | int] = []
    node: Any = data
    for part in loc:
        is_key = isinstance(node, dict) and isinstance(part, str) and part in node
        is_index = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if is_key or is_index:
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and (
            part in _UNION_TAGS
            or part.startswith(("function-", "list[", "dict[", "constrained-", "literal["))
            or (out and out[-1] == part)
        ):
            continue
        else:
            out.append(part)
            node = None
    return tuple(out)


def validation_errors(
    src: Source, exc: ValidationError, data: Any, prefix: tuple[str | int, ...] = ()
) -> list[ConfigError]:
    """One :class:`ConfigError` per pydantic error, each with its line (or the ``--set`` that caused it)."""
    out: list[ConfigError] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        loc = (*prefix, *_data_loc(data, tuple(err["loc"])))
        origin = src.overridden_by(loc, msg)
        if origin is not None:
            where, msg = src.where(), f"{msg} (from {origin})"
        else:
            where = src.at(loc)
        key = (format_loc(loc), msg)
        if key in seen:
            continue
        seen.add(key)
        out.append(ConfigError(where, format_loc(loc), msg))
    return out


def validation_error(src: Source, exc: ValidationError, data: Any = None) -> ConfigErrors:
    return ConfigErrors(validation_errors(src, exc, data))


def scenario_apply_errors(src: Source, obj: Scenario, raw: dict[str, Any]) -> list[ConfigError]:
    """Validate every Scenario ``apply`` document now, as ``validate`` must find what the run would."""
    errors: list[ConfigError] = []
    raw_events = ((raw.get("spec") or {}).get("events")) or []
    for i, ev in enumerate(obj.spec.events):
        if ev.apply is None:
            continue
        prefix: tuple[str | int, ...] = ("spec", "events", i, "apply")
        doc = raw_events[i]["apply"] if i < len(raw_events) and isinstance(raw_events[i], dict) else ev.apply
        if doc.get("kind") not in ("VirtualService", "DestinationRule"):
            errors.append(
                ConfigError(
                    src.at((*prefix, "kind")),
                    format_loc((*prefix, "kind")),
                    "apply takes a VirtualService or DestinationRule document",
                )
            )
            continue
        try:
            _, model, _ = dispatch(src, doc)
        except ConfigError as exc:
            errors.append(ConfigError(src.at((*prefix, exc.loc)), format_loc((*prefix, exc.loc)), exc.message))
            continue
        assert model is not None
        try:
            model.model_validate(doc)
        except ValidationError as exc:
            errors.extend(validation_errors(src, exc, doc, prefix))
    return errors

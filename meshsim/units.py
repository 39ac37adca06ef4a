"""Units at the boundary: durations, byte sizes, percentages and rates.

Inside meshsim, time is always float **seconds**, sizes are int **bytes**, rates are float
**requests/s** and probabilities are floats in [0, 1]. Everything the user writes is parsed here,
once, into those units.

Formats accepted (the ones isotope and Istio users already write):

- Duration: a Go ``time.ParseDuration`` string (``"250ms"``, ``"1.5s"``, ``"1m30s"``, ``"100us"``),
  as isotope parses ``sleep`` and Istio parses ``timeout``; a bare number means seconds.
- ByteSize: an int of bytes or a docker ``go-units`` RAM string (``"1 KB"`` = 1024, ``"16KiB"``),
  binary units as isotope does (isotope's Go parser, istio/tools ``isotope/convert/pkg/graph``).
- Percentage: a number in [0, 1] or a string ending in ``%`` (``"5%"``), as isotope's ``errorRate``.
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration", "parse_bytes", "parse_percentage", "format_duration", "show"]


def show(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages (a 2 MB string is not echoed)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(x: float, value: object, what: str) -> float:
    if not math.isfinite(x):
        raise ValueError(f"{what} must be a finite number, got {show(value)}")
    return x


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Parse a duration into seconds.

    Parameters
    ----------
    value:
        A Go-style duration string (``"10ms"``, ``"1m30s"``, ``"-5s"``) or a number of seconds.

    Returns
    -------
    float
        Seconds. May be negative; callers that need a non-negative value check it.

    Raises
    ------
    ValueError
        If the string is not a duration (the message says which forms are accepted).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '250ms' or '2s', got {show(value)}")
    if isinstance(value, int | float):
        try:
            return _finite(float(value), value, "a duration")
        except OverflowError:
            raise ValueError(f"a duration must be a finite number, got {show(value)}") from None
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as '250ms' or '2s', got {show(value)}")
    text = value.strip()
    sign = 1.0
    if text.startswith(("-", "+")):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    try:
        number: float | None = float(text)
    except ValueError:
        number = None
    if number is not None:
        return _finite(sign * number, value, "a duration")
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"expected a duration such as '250ms', '1.5s' or '1m30s', got {show(value)}")
    return _finite(sign * total, value, "a duration")


def format_duration(seconds: float) -> str:
    """Format seconds compactly for humans: ``6m10s``, ``2.5s``, ``120ms``."""
    if seconds >= 60:
        m, s = divmod(seconds, 60)
        return f"{int(m)}m{s:02.0f}s"
    if seconds >= 1:
        return f"{seconds:.3g}s"
    return f"{seconds * 1e3:.3g}ms"


_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_bytes(value: object) -> int:
    """Parse a byte size (int bytes or ``"16 KB"``, binary units as docker go-units) into bytes.

    Raises
    ------
    ValueError
        On negative values or unknown units.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a byte size such as 1024 or '16KiB', got {show(value)}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"byte size must be >= 0, got {show(value)}")
        return value
    if isinstance(value, float):
        _finite(value, value, "a byte size")
        if value < 0:
            raise ValueError(f"byte size must be >= 0, got {value}")
        return int(value)
    if isinstance(value, str):
        m = _BYTES.match(value)
        if m and m.group(2).lower() in _BYTE_UNITS:
            size = float(m.group(1)) * _BYTE_UNITS[m.group(2).lower()]
            return int(_finite(size, value, "a byte size"))
    raise ValueError(f"expected a byte size such as 1024 or '16KiB', got {show(value)}")


def parse_percentage(value: object) -> float:
    """Parse isotope's Percentage: a number in [0, 1] or a string like ``"5%"``; returns [0, 1].

    Raises
    ------
    ValueError
        If the value is outside [0, 1] (isotope rejects those too).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a fraction in [0, 1] or a string like '5%', got {show(value)}")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                frac = float(text[:-1]) / 100.0
            except ValueError:
                raise ValueError(f"expected a percentage like '5%', got {show(value)}") from None
        else:
            try:
                frac = float(text)
            except ValueError:
                raise ValueError(f"expected a fraction in [0, 1] or '5%', got {show(value)}") from None
    elif isinstance(value, int | float):
        frac = float(value)
    else:
        raise ValueError(f"expected a fraction in [0, 1] or a string like '5%', got {show(value)}")
    if not 0.0 <= frac <= 1.0:  # also false for NaN
        raise ValueError(f"percentage must be within [0, 1] (0%..100%), got {show(value)}")
    return frac

"""Kubernetes resource quantities for CPU, parsed in one place.

The grammar is apimachinery's (``k8s.io/apimachinery/pkg/api/resource/quantity.go``, the comment on
``Quantity``): ``<signedNumber><suffix>``, the suffix a decimal SI one (``m``, none, ``k``, ``M``,
``G``, ``T``, ``P``, ``E``), a binary SI one (``Ki`` ... ``Ei``) or a decimal exponent (``e3``,
``E-2``). A CPU quantity is cores: ``100m`` = 0.1, ``1.5`` = 1.5, ``2`` = 2. Values finer than a
milli-core are rounded up to one (``MilliValue``, as the kubelet reads them). YAML numbers (``cpu: 1``,
``cpu: 0.5``) are quantities too. Negative values are refused: a CPU request or limit cannot be below 0.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["CpuQuantity", "MilliQuantity", "parse_cpu", "parse_milli"]

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$")
_DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_MAX_CORES = 1e6
"""Larger than any node (a sanity bound so that a typo such as ``2E`` is an error, not 2 x 10^18 cores)."""


def _quantity(value: object, what: str, example: str) -> float:
    """A Kubernetes quantity (string or YAML number) as a float of its unit (cores for CPU). ``what`` names the
    quantity in errors (``CPU quantity``), ``example`` the forms it takes.

    Raises
    ------
    ValueError
        On anything that is not a quantity (``100x``, ``1.2.3``, ``""``) or a negative or non-finite one.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"a {what} is a number or a string such as {example}, not {value!r}")
    text = str(value).strip() if isinstance(value, str) else repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite")
    m = _QUANTITY.match(text)
    if m is None:
        raise ValueError(f"malformed {what} {text!r} (Kubernetes quantities look like {example})")
    number, suffix = float(m.group(1)), m.group(2) or ""
    if number < 0:
        raise ValueError(f"{what} {text!r} is negative")
    if suffix in _DECIMAL:
        return number * 10.0 ** _DECIMAL[suffix]
    if suffix in _BINARY:
        return number * 2.0 ** _BINARY[suffix]
    return number * 10.0 ** int(suffix[1:])


def _milli(v: float) -> int:
    """``Quantity.MilliValue``: rounded up to a whole milli-unit (the round drops float noise)."""
    return math.ceil(round(v * 1000, 6))


def parse_cpu(value: object) -> float:
    """A CPU quantity (string or YAML number) -> cores, rounded up to whole milli-cores.

    Raises
    ------
    ValueError
        On anything that is not a quantity (``100x``, ``1.2.3``, ``""``), a negative one (``-1``) or one
        above 10^6 cores.
    """
    cores = _quantity(value, "CPU quantity", "'100m', '0.5', '2'")
    if cores > _MAX_CORES:
        raise ValueError(f"CPU quantity {value!r} is above {_MAX_CORES:.0f} cores")
    return _milli(cores) / 1000


def parse_milli(value: object) -> int:
    """Any Kubernetes quantity (a metric target such as ``500m``, ``10``, ``1.5k``) as milli-units, rounded up
    (``MilliValue``, the controller's integer milli-values).

    Raises
    ------
    ValueError
        On anything that is not a quantity, a negative or non-finite one, or one above 10^15.
    """
    v = _quantity(value, "quantity", "'500m', '10', '1.5k'")
    if v > 1e15:
        raise ValueError(f"quantity {value!r} is out of range")
    return _milli(v)


CpuQuantity = Annotated[float, BeforeValidator(parse_cpu)]
"""A pydantic field type: a Kubernetes CPU quantity, validated to cores (float)."""

MilliQuantity = Annotated[int, BeforeValidator(parse_milli)]
"""A pydantic field type: any Kubernetes quantity, validated to milli-units (int)."""

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

__all__ = ["CpuQuantity", "parse_cpu"]

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$")
_DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_MAX_CORES = 1e6
"""Larger than any node (a sanity bound so that a typo such as ``2E`` is an error, not 2 x 10^18 cores)."""


def parse_cpu(value: object) -> float:
    """A CPU quantity (string or YAML number) -> cores, rounded up to whole milli-cores.

    Raises
    ------
    ValueError
        On anything that is not a quantity (``100x``, ``1.2.3``, ``""``), a negative one (``-1``) or one
        above 10^6 cores.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"a CPU quantity is a number or a string such as '100m' or '1.5', not {value!r}")
    text = str(value).strip() if isinstance(value, str) else repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"CPU quantity {text!r} is not finite")
    m = _QUANTITY.match(text)
    if m is None:
        raise ValueError(f"malformed CPU quantity {text!r} (Kubernetes quantities look like '100m', '0.5', '2')")
    number, suffix = float(m.group(1)), m.group(2) or ""
    if number < 0:
        raise ValueError(f"CPU quantity {text!r} is negative")
    if suffix in _DECIMAL:
        cores = number * 10.0 ** _DECIMAL[suffix]
    elif suffix in _BINARY:
        cores = number * 2.0 ** _BINARY[suffix]
    else:
        cores = number * 10.0 ** int(suffix[1:])
    if cores > _MAX_CORES:
        raise ValueError(f"CPU quantity {text!r} is above {_MAX_CORES:.0f} cores")
    milli = math.ceil(round(cores * 1000, 6))  # MilliValue: rounded up to 1m (the round drops float noise)
    return milli / 1000


CpuQuantity = Annotated[float, BeforeValidator(parse_cpu)]
"""A pydantic field type: a Kubernetes CPU quantity, validated to cores (float)."""

"""Kubernetes CPU quantities (apimachinery's grammar), parsed in one place."""

from __future__ import annotations

import pytest

from meshsim.config.quantity import parse_cpu


@pytest.mark.parametrize(
    ("text", "cores"),
    [
        ("100m", 0.1),
        ("1.5", 1.5),
        ("2", 2.0),
        (2, 2.0),
        (0.5, 0.5),
        ("500m", 0.5),
        ("0.1m", 0.001),  # finer than a milli-core rounds up to 1m (MilliValue)
        ("5e-1", 0.5),
        ("1E3", 1000.0),
        ("1k", 1000.0),
        ("+250m", 0.25),
        ("0", 0.0),
        (".5", 0.5),
    ],
)
def test_valid_quantities(text: object, cores: float) -> None:
    assert parse_cpu(text) == pytest.approx(cores)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("100x", "malformed"),
        ("-1", "negative"),
        (-1, "negative"),
        ("-100m", "negative"),
        ("", "malformed"),
        ("1.2.3", "malformed"),
        ("m", "malformed"),
        ("100 m", "malformed"),
        ("1e3m", "malformed"),  # an exponent and a suffix do not combine
        ("2E", "above"),
        (True, "a number or a string"),
        (float("nan"), "not finite"),
    ],
)
def test_refused_quantities(text: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_cpu(text)

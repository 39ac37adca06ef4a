"""Istio field ranges as Istio's validation webhook enforces them (istio/istio pkg/config/validation)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from meshsim.config.istio import DestinationRule, HTTPRetry, Percent, VirtualService


def _dr(policy: dict) -> DestinationRule:
    return DestinationRule.model_validate(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "r"},
            "spec": {"host": "r", "trafficPolicy": policy},
        }
    )


def _vs(route: dict) -> VirtualService:
    return VirtualService.model_validate(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "r"},
            "spec": {"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}}], **route}]},
        }
    )


@pytest.mark.parametrize(
    "policy",
    [
        {"connectionPool": {"tcp": {"maxConnections": -1}}},
        {"connectionPool": {"http": {"http1MaxPendingRequests": -1}}},
        {"connectionPool": {"http": {"http2MaxRequests": -1}}},
        {"connectionPool": {"http": {"maxRequestsPerConnection": -1}}},
        {"connectionPool": {"http": {"maxRetries": -1}}},
        {"connectionPool": {"http": {"h2UpgradePolicy": "UPGRADE", "useClientProtocol": True}}},
        {"connectionPool": {"tcp": {"connectTimeout": "0s"}}},
        {"outlierDetection": {"interval": "0s"}},
        {"outlierDetection": {"baseEjectionTime": "500us"}},
        {"outlierDetection": {"consecutive5xxErrors": -1}},
        {"outlierDetection": {"maxEjectionPercent": 101}},
        {"outlierDetection": {"consecutiveLocalOriginFailures": 3}},
        {"retryBudget": {"percent": 120}},
        {"retryBudget": {"percent": -1}},
        {"retryBudget": {"percent": {"value": 101}}},
        {"retryBudget": {"minRetryConcurrency": -1}},
    ],
)
def test_destination_rule_values_istio_rejects(policy: dict) -> None:
    with pytest.raises(ValidationError):
        _dr(policy)


def test_destination_rule_values_istio_accepts() -> None:
    dr = _dr(
        {
            "connectionPool": {"tcp": {"maxConnections": 0, "idleTimeout": "0s", "connectTimeout": "1ms"}},
            "outlierDetection": {"interval": "1s", "consecutive5xxErrors": 0, "maxEjectionPercent": 100},
            "retryBudget": {"percent": 20.5, "minRetryConcurrency": 3},
        }
    )
    assert dr.spec.trafficPolicy is not None and dr.spec.trafficPolicy.outlierDetection is not None
    assert dr.spec.trafficPolicy.outlierDetection.interval == 1.0


@pytest.mark.parametrize(
    ("retry", "message"),
    [
        ({"retryOn": "garbage"}, "'garbage' is not a valid retryOn policy"),
        ({"attempts": 2, "retryOn": "5xx,garbage"}, "'garbage' is not a valid retryOn policy"),
        ({"retryOn": "5xx"}, "attempts are set to 0"),
        ({"attempts": 0, "perTryTimeout": "1s"}, "attempts are set to 0"),
        ({"attempts": 2, "perTryTimeout": "0.5ms"}, "at least 1ms"),
        ({"attempts": 2, "perTryTimeout": "1500us"}, "ms precision"),
        ({"attempts": -1}, "greater than or equal to 0"),
    ],
)
def test_retry_policies_istio_rejects(retry: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HTTPRetry.model_validate(retry)


def test_retry_policies_istio_accepts() -> None:
    r = HTTPRetry.model_validate(
        {"attempts": 3, "retryOn": "gateway-error,connect-failure,503,unavailable", "perTryTimeout": "2s"}
    )
    assert r.attempts == 3 and r.perTryTimeout == 2.0
    assert HTTPRetry.model_validate({"attempts": 0}).attempts == 0


@pytest.mark.parametrize(
    "route",
    [
        {"timeout": "0s"},
        {"timeout": "0.1ms"},
        {"fault": {"delay": {"fixedDelay": "0s", "percentage": {"value": 5}}}},
        {"fault": {"abort": {"httpStatus": 503, "percentage": {"value": 0.00001}}}},
        {"mirrorPercent": 101},
    ],
)
def test_routes_istio_rejects(route: dict) -> None:
    with pytest.raises(ValidationError):
        _vs(route)


def test_weights_are_int32_and_non_negative() -> None:
    with pytest.raises(ValidationError):
        _vs({"route": [{"destination": {"host": "r"}, "weight": -1}]})
    with pytest.raises(ValidationError):
        _vs({"route": [{"destination": {"host": "r"}, "weight": 2**31}]})
    # Istio no longer requires weights to sum to 100; any non-negative int32 is accepted
    vs = _vs({"route": [{"destination": {"host": "r"}, "weight": 30}, {"destination": {"host": "r"}, "weight": 30}]})
    assert [d.weight for d in vs.spec.http[0].route] == [30, 30]


def test_percent_resolution() -> None:
    assert Percent(value=0).value == 0 and Percent(value=0.0001).value == 0.0001
    with pytest.raises(ValidationError, match=r"neither 0\.0"):
        Percent(value=0.00005)

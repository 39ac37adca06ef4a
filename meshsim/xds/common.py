"""Small helpers shared by the xDS builders: proto-JSON durations, type URLs, config sources.

Resources are plain JSON-able dicts in Envoy's proto3 JSON mapping (snake_case field names, durations
as ``"1.5s"`` strings, 64-bit ints as strings where the mapping says so), so they can be golden-tested,
written into a static bootstrap for ``envoy --mode validate``, and parsed into protobuf messages with
``google.protobuf.json_format`` only where the ADS server needs them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TYPE_CLUSTER",
    "TYPE_ENDPOINT",
    "TYPE_LISTENER",
    "TYPE_ORDER",
    "TYPE_ROUTE",
    "ads_source",
    "duration",
    "fraction",
    "typed",
]

TYPE_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
TYPE_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
TYPE_ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
TYPE_ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
TYPE_ORDER = (TYPE_CLUSTER, TYPE_ENDPOINT, TYPE_LISTENER, TYPE_ROUTE)
"""xDS types in the order a SotW server sends them (CDS, EDS, LDS, RDS; Envoy's xDS protocol docs,
"eventual consistency considerations")."""


def duration(seconds: float) -> str:
    """``google.protobuf.Duration`` JSON form of ``seconds`` (nanosecond precision), e.g. ``"0.025s"``."""
    if seconds < 0:
        raise ValueError(f"negative duration {seconds}")
    nanos = round(seconds * 1e9)
    whole, frac = divmod(nanos, 1_000_000_000)
    if frac == 0:
        return f"{whole}s"
    return f"{whole}.{frac:09d}".rstrip("0") + "s"


def ads_source() -> dict[str, Any]:
    """A ``ConfigSource`` that says "over the ADS stream", with ``resource_api_version: V3``
    (required on every config source since Envoy dropped v2)."""
    return {"ads": {}, "resource_api_version": "V3"}


def typed(type_name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``google.protobuf.Any`` in JSON form: ``{"@type": ..., **body}``."""
    out: dict[str, Any] = {"@type": f"type.googleapis.com/{type_name}"}
    out.update(body or {})
    return out


def fraction(p: float) -> dict[str, Any]:
    """``type.v3.FractionalPercent`` for probability ``p`` in [0, 1], per MILLION as istiod writes it
    (``route.go`` ``TranslateFault``: percentage x 10000 / MILLION)."""
    return {"numerator": round(p * 1_000_000), "denominator": "MILLION"}

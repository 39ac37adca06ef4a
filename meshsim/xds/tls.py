"""mTLS between sidecars: transport sockets from the model's per-workload and per-cluster decision.

The decision is the simulator's (:mod:`meshsim.model.rules.tls`): a client sidecar sends mTLS to a
pod when the cluster's DestinationRule ``tls.mode`` is unset (Istio auto mTLS) and the pod's
PeerAuthentication is not DISABLE, or when ``tls.mode`` is ISTIO_MUTUAL/MUTUAL/SIMPLE; it sends
plaintext for ``tls.mode: DISABLE`` or to a DISABLE pod under auto mTLS. The server sidecar accepts
mTLS only (STRICT), plaintext only (DISABLE) or both (PERMISSIVE, told apart by the TLS inspector as
istiod does). A mismatch (plaintext to STRICT, mTLS to DISABLE) is not special-cased: the real
handshake fails and Envoy answers 503 UC/URX, which is what the simulator models.

Certificates are files (istiod delivers them over SDS; a recorded deviation), laid out under
``PortPlan.cert_dir`` as istio-agent's old file mount did:

- ``root-cert.pem``: the run's root CA;
- ``<pod id>/cert-chain.pem`` and ``<pod id>/key.pem``: the pod's workload certificate, URI SAN
  ``spiffe://cluster.local/ns/<namespace>/sa/<service account>`` (:mod:`meshsim.real.certs`).

Both sides speak TLS 1.3 only; the client checks the server's SPIFFE URI against the identities of
the cluster's workloads (Istio's ``match_subject_alt_names``); the server requires a client
certificate signed by the root. No ALPN ``istio-peer-exchange`` (no metadata exchange).
"""

from __future__ import annotations

from typing import Any

from meshsim.model.ir import Cluster, MeshModel, Workload
from meshsim.model.rules.tls import client_sends_mtls
from meshsim.xds.common import typed

__all__ = [
    "ROOT_CERT",
    "TLS_SOCKET",
    "client_sends_mtls",
    "downstream_tls_socket",
    "endpoint_mtls",
    "pod_cert_paths",
    "principal_of",
    "upstream_tls_socket",
    "workload_of",
]

ROOT_CERT = "root-cert.pem"
TLS_SOCKET = "envoy.transport_sockets.tls"
TRUST_DOMAIN = "cluster.local"
_TLS13 = {"tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3"}


def workload_of(model: MeshModel, endpoint_id: str) -> Workload:
    """The workload a pod belongs to (KeyError for an unknown pod)."""
    for s in model.services:
        for e in s.endpoints:
            if e.id == endpoint_id:
                for w in s.workloads:
                    if w.version == e.version:
                        return w
    raise KeyError(endpoint_id)


def endpoint_mtls(model: MeshModel, c: Cluster) -> dict[str, bool]:
    """Per pod of outbound cluster ``c``: whether client sidecars open mTLS connections to it."""
    return {e: client_sends_mtls(c.tls_mode, workload_of(model, e).mtls_mode) for e in c.endpoints}


MATCH_KEY = "tlsMode"
"""Endpoint metadata key (under ``envoy.transport_socket_match``) Istio uses to pick the transport
socket per endpoint when a cluster mixes mTLS and plaintext pods: ``istio`` or ``disabled``."""


def principal_of(model: MeshModel, pod: str) -> str:
    """The identity (``cluster.local/ns/<ns>/sa/<sa>``) of a sidecar or gateway pod."""
    if model.gateway is not None and pod in model.gateway.proxies:
        return model.gateway.principal
    return workload_of(model, pod).principal


def pod_cert_paths(cert_dir: str, pod: str) -> tuple[str, str]:
    """(certificate chain, private key) file paths of ``pod``."""
    return f"{cert_dir}/{pod}/cert-chain.pem", f"{cert_dir}/{pod}/key.pem"


def _common(cert_dir: str, pod: str, sans: list[str] | None) -> dict[str, Any]:
    chain, key = pod_cert_paths(cert_dir, pod)
    vc: dict[str, Any] = {"trusted_ca": {"filename": f"{cert_dir}/{ROOT_CERT}"}}
    if sans:
        vc["match_typed_subject_alt_names"] = [{"san_type": "URI", "matcher": {"exact": s}} for s in sans]
    return {
        "tls_params": dict(_TLS13),
        "tls_certificates": [{"certificate_chain": {"filename": chain}, "private_key": {"filename": key}}],
        "validation_context": vc,
    }


def upstream_tls_socket(model: MeshModel, c: Cluster, cert_dir: str, pod: str) -> dict[str, Any]:
    """The ``envoy.transport_sockets.tls`` socket a client sidecar ``pod`` uses towards cluster ``c``:
    its own certificate, the root CA, and the SPIFFE URIs of ``c``'s workloads as accepted peers."""
    sans = sorted({f"spiffe://{workload_of(model, e).principal}" for e in c.endpoints})
    body = {"common_tls_context": _common(cert_dir, pod, sans), "sni": c.host}
    return {
        "name": TLS_SOCKET,
        "typed_config": typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", body),
    }


def downstream_tls_socket(cert_dir: str, pod: str) -> dict[str, Any]:
    """The server side of mTLS on ``pod``'s inbound listener: its certificate, client certificates
    required and checked against the root CA (any mesh identity; AuthorizationPolicy is not translated)."""
    body = {"common_tls_context": _common(cert_dir, pod, None), "require_client_certificate": True}
    return {
        "name": TLS_SOCKET,
        "typed_config": typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", body),
    }

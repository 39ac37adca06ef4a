"""A certificate authority per run: root CA and one workload certificate per pod (``cryptography``).

Istio's istiod signs workload certificates whose only identity is a URI SAN
``spiffe://cluster.local/ns/<namespace>/sa/<service account>``; keys are RSA 2048 by default (Istio's
default ``ECC_SIGNATURE_ALGORITHM`` unset), certificates short-lived. We write the same into
``<cert dir>`` in the layout :mod:`meshsim.xds.tls` references (``root-cert.pem``,
``<pod>/cert-chain.pem``, ``<pod>/key.pem``). Private keys are written with mode 0600.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from meshsim.model.ir import MeshModel
from meshsim.xds.tls import ROOT_CERT, TRUST_DOMAIN, pod_cert_paths, principal_of

__all__ = ["write_mesh_certs"]


def _key(kind: str):  # type: ignore[no-untyped-def]  # noqa: ANN202 - cryptography key types
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_mesh_certs(
    model: MeshModel, cert_dir: Path, key_type: str = "rsa", pods: list[str] | None = None
) -> list[str]:
    """Create a fresh root CA and a workload certificate for every pod of ``model`` (sidecars and
    gateway pods; or ``pods``) in
    ``cert_dir``; returns the SPIFFE URIs written, one per pod. ``key_type`` ``rsa`` (2048, Istio's
    default) or ``ec`` (P-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.UTC) - _dt.timedelta(minutes=5)
    until = now + _dt.timedelta(days=1)
    ca_key = _key(key_type)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, TRUST_DOMAIN),
            x509.NameAttribute(NameOID.COMMON_NAME, "meshsim root CA"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert_dir.mkdir(parents=True, exist_ok=True)
    _write(cert_dir / ROOT_CERT, ca.public_bytes(serialization.Encoding.PEM))
    uris = []
    gw_pods = list(model.gateway.proxies) if model.gateway is not None else []
    for pid in pods if pods is not None else [p.id for p in model.proxies] + gw_pods:
        uri = f"spiffe://{principal_of(model, pid)}"
        key = _key(key_type)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        chain, keyf = pod_cert_paths(str(cert_dir), pid)
        _write(Path(chain), cert.public_bytes(serialization.Encoding.PEM))
        _write(
            Path(keyf),
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            private=True,
        )
        uris.append(uri)
    return uris

"""Where every pod, sidecar and app of a real (loopback) mesh listens.

Loopback mode replaces Kubernetes networking and iptables interception: each pod gets its own
address in ``127.0.0.0/8``; on it the sidecar binds

- the **inbound** listener on the service port (what other pods dial: the EDS endpoint address, as a
  pod IP:port is in Kubernetes; Istio's 15006 catches the same traffic with iptables),
- the **outbound** listener on 15001 (Istio's ``virtualOutbound`` port; the app calls it with the
  destination host in the Host header instead of being redirected by iptables),
- the **admin** interface on 15000 (Istio's admin port),

and the app listens on the same address at :attr:`PortPlan.app_port`. The control plane and other
runner-owned sockets use ``<prefix>.0.x``; pods start at ``<prefix>.1.1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address

from meshsim.errors import MeshsimError
from meshsim.model.ir import MeshModel

__all__ = ["PortPlan", "PortPlanError", "plan_ports"]

ADMIN_PORT = 15000
"""Envoy admin port of every sidecar (Istio: ``proxyAdminPort`` 15000)."""
OUTBOUND_PORT = 15001
"""Outbound listener port (Istio: ``virtualOutbound`` 15001)."""
APP_PORT = 15080
"""Port the application binds on its pod address (no Istio equivalent: the app keeps its port there)."""


class PortPlanError(MeshsimError):
    """The model cannot be laid out on loopback (port clash, too many pods)."""


@dataclass(frozen=True)
class PortPlan:
    """Addresses and ports of one real mesh (all on 127.0.0.0/8).

    ``pod_ips`` maps an endpoint (= proxy) id to its pod address. ``xds_address``/``xds_port`` is the
    ADS server every sidecar's bootstrap points to. ``cert_dir`` holds the mTLS certificates.
    """

    pod_ips: tuple[tuple[str, str], ...]
    xds_address: str = "127.77.0.1"
    xds_port: int = 15010
    admin_port: int = ADMIN_PORT
    outbound_port: int = OUTBOUND_PORT
    app_port: int = APP_PORT
    cert_dir: str = "/etc/certs"
    """Directory of the run's certificates (:mod:`meshsim.xds.tls` file layout); the runner points it
    into the run's state directory, the default is a stable placeholder for golden files."""
    access_log_dir: str | None = None
    """When set, every listener writes a JSON access log ``<dir>/<pod>.log`` and outbound routes add
    the peer-metadata header (:mod:`meshsim.xds.telemetry`); off by default (goldens, calibration)."""

    def access_log_path(self, proxy_id: str) -> str | None:
        """Where ``proxy_id``'s Envoy writes its access log, or None when logging is off."""
        return None if self.access_log_dir is None else f"{self.access_log_dir}/{proxy_id}.log"

    _ips: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._ips.update(dict(self.pod_ips))

    def ip(self, proxy_id: str) -> str:
        """The pod address of ``proxy_id`` (raises KeyError for an unknown id)."""
        return self._ips[proxy_id]

    def admin_url(self, proxy_id: str) -> str:
        """Base URL of ``proxy_id``'s Envoy admin interface."""
        return f"http://{self.ip(proxy_id)}:{self.admin_port}"

    def app_address(self, proxy_id: str) -> tuple[str, int]:
        """(host, port) the application of pod ``proxy_id`` binds."""
        return self.ip(proxy_id), self.app_port

    def outbound_address(self, proxy_id: str) -> tuple[str, int]:
        """(host, port) of the outbound listener the app of ``proxy_id`` calls."""
        return self.ip(proxy_id), self.outbound_port


def plan_ports(model: MeshModel, prefix: str = "127.77", xds_port: int = 15010) -> PortPlan:
    """Give every pod of ``model`` (sidecar pods, then gateway pods) its own loopback address
    ``<prefix>.<1+i//250>.<1+i%250>``.

    Raises
    ------
    PortPlanError
        If a service port clashes with the sidecar's reserved ports (15000, 15001, 15080) or the pods
        do not fit in the prefix.
    """
    reserved = {ADMIN_PORT: "the sidecar admin port", OUTBOUND_PORT: "the outbound listener", APP_PORT: "the app port"}
    for svc in model.services:
        if svc.port in reserved:
            raise PortPlanError(
                f"service {svc.name}: port {svc.port} is {reserved[svc.port]} in loopback mode; use another port"
            )
    ids = [e.id for e in model.endpoints] + list(model.gateway.proxies if model.gateway is not None else ())
    if len(ids) > 250 * 250:
        raise PortPlanError(f"{len(ids)} pods do not fit into {prefix}.0.0/16")
    ips = []
    for i, pid in enumerate(ids):
        ip = f"{prefix}.{1 + i // 250}.{1 + i % 250}"
        try:
            IPv4Address(ip)
        except ValueError:
            raise PortPlanError(f"bad address prefix {prefix!r}: expected two octets such as 127.77") from None
        if not ip.startswith("127."):
            raise PortPlanError(f"address prefix {prefix!r} is not in 127.0.0.0/8 (loopback only)")
        ips.append((pid, ip))
    return PortPlan(tuple(ips), xds_address=f"{prefix}.0.1", xds_port=xds_port)

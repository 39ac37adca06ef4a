"""PeerAuthentication resolution (meshsim.model.compile.security.peer_mode)."""

from __future__ import annotations

from meshsim.model.compile.security import peer_mode

from .support import CHAIN, config


def _pa(name: str, ns: str, mode: str, app: str | None = None) -> str:
    sel = f"\n  selector: {{matchLabels: {{app: {app}}}}}" if app else ""
    return f"""
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: {name}, namespace: {ns}}}
spec:{sel}
  mtls: {{mode: {mode}}}
"""


def test_workload_then_namespace_then_mesh_and_unset_inherits() -> None:
    labels = {"app": "back", "version": "v1"}
    assert peer_mode(config(CHAIN), "default", labels) == "PERMISSIVE"
    mesh_strict = _pa("m", "istio-system", "STRICT")
    assert peer_mode(config(CHAIN, mesh_strict), "default", labels) == "STRICT"
    ns_disable = _pa("n", "default", "DISABLE")
    assert peer_mode(config(CHAIN, mesh_strict, ns_disable), "default", labels) == "DISABLE"
    wl_unset = _pa("w", "default", "UNSET", app="back")
    assert peer_mode(config(CHAIN, mesh_strict, ns_disable, wl_unset), "default", labels) == "DISABLE"
    wl_perm = _pa("w", "default", "PERMISSIVE", app="back")
    assert peer_mode(config(CHAIN, mesh_strict, ns_disable, wl_perm), "default", labels) == "PERMISSIVE"
    assert peer_mode(config(CHAIN, mesh_strict, ns_disable, wl_perm), "default", {"app": "front"}) == "DISABLE"

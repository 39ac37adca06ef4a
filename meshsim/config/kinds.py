"""Kind dispatch: which model validates a raw document, by ``apiVersion`` and ``kind``, and which
documents are skipped (with a note) because they do not affect a simulation.

The Istio kinds and their served versions follow istio/istio ``pkg/config/schema/metadata.yaml`` (networking.istio.io
v1/v1beta1/v1alpha3, security.istio.io v1/v1beta1); Kubernetes kinds their API groups (``apps/v1``
Deployment, ``v1`` Service and Node, ``autoscaling/v2`` HorizontalPodAutoscaler).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from meshsim.config.documents import Source
from meshsim.config.hpa import HorizontalPodAutoscaler
from meshsim.config.istio import DestinationRule, Gateway, VirtualService
from meshsim.config.kube import Deployment, KubeNode, KubeService
from meshsim.config.meshsim_kinds import SLO, LoadProfile, MeshSettings, Node
from meshsim.config.scenario import CanaryPolicy, Scenario
from meshsim.config.security import AuthorizationPolicy, PeerAuthentication
from meshsim.config.topology import MockServiceGraph
from meshsim.errors import ConfigError, Finding
from meshsim.units import show

__all__ = [
    "ISTIO_NETWORKING",
    "ISTIO_SECURITY",
    "MESHSIM_API",
    "KNOWN_KINDS",
    "KUBE_KINDS",
    "dispatch",
    "skipped_kube_note",
]

ISTIO_NETWORKING = {
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
}
ISTIO_SECURITY = frozenset({"security.istio.io/v1", "security.istio.io/v1beta1"})
MESHSIM_API = frozenset({"meshsim.io/v1alpha1"})
_NOT_MODELLED_ISTIO = {
    "ServiceEntry",
    "Sidecar",
    "EnvoyFilter",
    "WorkloadEntry",
    "WorkloadGroup",
    "ProxyConfig",
}


KNOWN_KINDS: dict[str, tuple[frozenset[str], str, type[BaseModel] | None]] = {
    "VirtualService": (frozenset(ISTIO_NETWORKING), "vs", VirtualService),
    "DestinationRule": (frozenset(ISTIO_NETWORKING), "dr", DestinationRule),
    "Gateway": (frozenset(ISTIO_NETWORKING), "gateway", Gateway),
    **{k: (frozenset(ISTIO_NETWORKING), "", None) for k in _NOT_MODELLED_ISTIO},
    "PeerAuthentication": (ISTIO_SECURITY, "peerauthn", PeerAuthentication),
    "AuthorizationPolicy": (ISTIO_SECURITY, "authz", AuthorizationPolicy),
    "RequestAuthentication": (ISTIO_SECURITY, "", None),
    "LoadProfile": (MESHSIM_API, "load", LoadProfile),
    "MeshSettings": (MESHSIM_API, "settings", MeshSettings),
    "SLO": (MESHSIM_API, "slo", SLO),
    "Scenario": (MESHSIM_API, "scenario", Scenario),
    "CanaryPolicy": (MESHSIM_API, "canary", CanaryPolicy),
    "Node": (MESHSIM_API, "node", Node),
}
"""Every kind meshsim knows: the apiVersions it is served under, its bucket ('' = not modelled) and model."""

_KNOWN_GROUPS = {
    "networking.istio.io": "networking.istio.io",
    "security.istio.io": "security.istio.io",
    "meshsim.io": "meshsim.io",
}
"""API groups whose every kind meshsim knows: an unknown kind there is a typo, so an error."""

KUBE_KINDS = frozenset(
    {
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Namespace",
        "Pod",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Endpoints",
        "EndpointSlice",
        "Ingress",
        "IngressClass",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "PodDisruptionBudget",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "StorageClass",
        "LimitRange",
        "ResourceQuota",
        "PriorityClass",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ReplicationController",
        "List",
    }
)
"""Kubernetes kinds that do not change a simulation: skipped with an info note (others: a warning)."""


def dispatch(src: Source, d: dict[str, Any]) -> tuple[str, type[BaseModel] | None, Finding | None]:
    """Return (bucket, model, note) for a raw document; bucket '' means skip (with the note).

    Raises
    ------
    ConfigError
        On a document without apiVersion/kind, a known kind under the wrong apiVersion (a
        LoadProfile under ``v1``, a PeerAuthentication under ``networking.istio.io``) or an unknown
        kind in a group meshsim knows completely (``networking.istio.io``, ``security.istio.io``,
        ``meshsim.io``). Unknown kinds elsewhere are skipped with a warning.
    """
    api = d.get("apiVersion")
    kind = d.get("kind")
    if kind == "MockServiceGraph" or (kind is None and "services" in d):
        return "topology", MockServiceGraph, None
    if not isinstance(api, str) or not isinstance(kind, str):
        missing = "apiVersion" if not isinstance(api, str) else "kind"
        raise ConfigError(
            src.at((missing,)), missing, "document has no apiVersion/kind and is not an isotope MockServiceGraph"
        )
    group = api.rpartition("/")[0]
    where = src.at(("kind",))
    if kind == "Node" and api == "v1":
        return "node", KubeNode, None  # a Kubernetes Node; meshsim's own Node is meshsim.io/v1alpha1
    # a known kind is meant when its group is one meshsim knows fully, when it has no group (a LoadProfile
    # under ``v1``) or when it is meshsim's own; a Gateway of gateway.networking.k8s.io is another kind
    if kind in KNOWN_KINDS and (group in _KNOWN_GROUPS or "." not in group or KNOWN_KINDS[kind][0] == MESHSIM_API):
        versions, bucket, model = KNOWN_KINDS[kind]
        if api not in versions:
            want = " or ".join(sorted(versions))
            if kind == "Node":
                want = "v1 (a Kubernetes Node) or meshsim.io/v1alpha1"
            raise ConfigError(src.at(("apiVersion",)), "apiVersion", f"{kind} is served as {want}, not {show(api)}")
        if model is None:
            return "", None, Finding("warning", where, "", f"{kind} is not modelled yet; skipped")
        return bucket, model, None
    if group in _KNOWN_GROUPS:
        known = ", ".join(k for k, (v, _, _) in KNOWN_KINDS.items() if any(x.startswith(group + "/") for x in v))
        raise ConfigError(where, "kind", f"unknown kind {show(kind)} in {group} (known: {known})")
    if group.endswith(".istio.io"):
        return "", None, Finding("warning", where, "", f"{kind} ({api}) is not modelled yet; skipped")
    is_kube = group == "" or "." not in group or group.endswith(".k8s.io")
    if is_kube:
        if kind == "Deployment":
            if api != "apps/v1":
                raise ConfigError(
                    src.at(("apiVersion",)), "apiVersion", f"Deployment is served as apps/v1, not {show(api)}"
                )
            return "deployment", Deployment, None
        if kind == "Service":
            if api != "v1":
                raise ConfigError(src.at(("apiVersion",)), "apiVersion", f"Service is served as v1, not {show(api)}")
            return "kservice", KubeService, None
        if kind == "HorizontalPodAutoscaler":
            if api not in ("autoscaling/v2", "autoscaling/v1"):
                raise ConfigError(
                    src.at(("apiVersion",)),
                    "apiVersion",
                    f"HorizontalPodAutoscaler is read as autoscaling/v2 (or v1), not {show(api)}",
                )
            return "hpa", HorizontalPodAutoscaler, None
        if kind in KUBE_KINDS:
            return "", None, Finding("info", where, "", f"Kubernetes {kind} does not affect the simulation; skipped")
        return "", None, Finding("warning", where, "", f"unknown Kubernetes kind {show(kind)} ({api}); skipped")
    return "", None, Finding("warning", where, "", f"unknown kind {show(kind)} with apiVersion {show(api)}; skipped")


_SILENTKUBE_KINDS = frozenset({"ServiceAccount"})
"""Skipped without a note: a ServiceAccount's only part in the mesh is its name, the mTLS identity,
which meshsim reads from the Deployments' ``serviceAccountName``."""


def skipped_kube_note(skipped: dict[str, list[Source]]) -> Finding | None:
    """One info line for every Kubernetes document that does not affect the simulation (ConfigMaps,
    Secrets, ...), instead of one per document; none for :data:`_SILENTKUBE_KINDS`."""
    shown = {k: v for k, v in skipped.items() if k not in _SILENTKUBE_KINDS}
    if not shown:
        return None
    files = sorted({s.file for v in shown.values() for s in v})
    kinds = ", ".join(f"{k} ({len(v)})" if len(v) > 1 else k for k, v in sorted(shown.items()))
    return Finding("info", ", ".join(files), "", f"Kubernetes {kinds} does not affect the simulation; skipped")

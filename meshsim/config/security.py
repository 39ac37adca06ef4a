"""Istio ``security.istio.io`` ``PeerAuthentication`` and ``AuthorizationPolicy`` (v1, v1beta1).

Field names are Istio's own (``istio/api`` ``security/v1beta1/peer_authentication.proto`` and
``authorization_policy.proto``). Every field of the API is accepted so users' files load unmodified;
fields meshsim does not model are declared ``__unmodelled__`` and listed in a warning.

Semantics (applied in :mod:`meshsim.model.compile` and the simulator's server sidecar, https://istio.io/latest/docs/ops/deployment/architecture/
"B sidecar INBOUND: mTLS termination -> authn/authz"):

- PeerAuthentication: the workload-selector policy in the workload's namespace wins over the
  namespace-wide one (no selector), which wins over the mesh-wide one (no selector, in the root
  namespace ``istio-system``); ``UNSET`` inherits from the next level; nothing at all = PERMISSIVE.
- AuthorizationPolicy: CUSTOM is not modelled; DENY policies are evaluated first (a match gives 403);
  then, if any ALLOW policy selects the workload, the request must match one of their rules (else
  403); no policy selects it = allow. AUDIT changes nothing. A policy in the root namespace without a
  selector applies mesh-wide.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from meshsim.config.base import StrictModel
from meshsim.config.istio import ObjectMeta

__all__ = [
    "ROOT_NAMESPACE",
    "WorkloadSelector",
    "PeerAuthentication",
    "Source",
    "Operation",
    "Condition",
    "Rule",
    "AuthorizationPolicy",
]

ROOT_NAMESPACE = "istio-system"
"""Istio's default ``meshConfig.rootNamespace``: selector-less policies there are mesh-wide."""


class WorkloadSelector(StrictModel):
    matchLabels: dict[str, str] = Field(default_factory=dict)


class _MTLS(StrictModel):
    mode: Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"] = "UNSET"


class _PeerAuthSpec(StrictModel):
    selector: WorkloadSelector | None = None
    mtls: _MTLS | None = None
    portLevelMtls: dict[str, _MTLS] | None = None

    __unmodelled__ = frozenset({"portLevelMtls"})


class PeerAuthentication(StrictModel):
    """What mTLS a workload's server sidecar accepts: ``STRICT`` (mTLS only), ``PERMISSIVE`` (both),
    ``DISABLE`` (plaintext only)."""

    apiVersion: str
    kind: Literal["PeerAuthentication"]
    metadata: ObjectMeta
    spec: _PeerAuthSpec = Field(default_factory=_PeerAuthSpec)


class Source(StrictModel):
    """``rules[].from[].source``: peer identity (needs mTLS: plaintext requests have none)."""

    principals: list[str] | None = None
    notPrincipals: list[str] | None = None
    requestPrincipals: list[str] | None = None
    notRequestPrincipals: list[str] | None = None
    namespaces: list[str] | None = None
    notNamespaces: list[str] | None = None
    ipBlocks: list[str] | None = None
    notIpBlocks: list[str] | None = None
    remoteIpBlocks: list[str] | None = None
    notRemoteIpBlocks: list[str] | None = None
    serviceAccounts: list[str] | None = None
    notServiceAccounts: list[str] | None = None

    __unmodelled__ = frozenset(
        {"requestPrincipals", "notRequestPrincipals", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"}
    )


class _From(StrictModel):
    source: Source = Field(default_factory=Source)


class Operation(StrictModel):
    """``rules[].to[].operation``: request attributes."""

    hosts: list[str] | None = None
    notHosts: list[str] | None = None
    ports: list[str] | None = None
    notPorts: list[str] | None = None
    methods: list[str] | None = None
    notMethods: list[str] | None = None
    paths: list[str] | None = None
    notPaths: list[str] | None = None

    __unmodelled__ = frozenset({"hosts", "notHosts"})


class _To(StrictModel):
    operation: Operation = Field(default_factory=Operation)


class Condition(StrictModel):
    """``rules[].when[]``: ``key`` such as ``request.headers[end-user]``, ``source.namespace``,
    ``source.principal``, ``destination.port``; ``values`` OR'ed, ``notValues`` excluded."""

    key: str = Field(min_length=1)
    values: list[str] | None = None
    notValues: list[str] | None = None


class Rule(StrictModel):
    """A rule matches when every one of ``from``, ``to`` and ``when`` that is set matches."""

    from_: list[_From] | None = Field(default=None, alias="from")
    to: list[_To] | None = None
    when: list[Condition] | None = None


class _AuthzSpec(StrictModel):
    selector: WorkloadSelector | None = None
    targetRef: dict[str, Any] | None = None
    targetRefs: list[dict[str, Any]] | None = None
    action: Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"] = "ALLOW"
    provider: dict[str, Any] | None = None
    rules: list[Rule] | None = None

    __unmodelled__ = frozenset({"targetRef", "targetRefs", "provider"})


class AuthorizationPolicy(StrictModel):
    """``ALLOW``/``DENY`` access control at the server sidecar (403 ``rbac_access_denied``)."""

    apiVersion: str
    kind: Literal["AuthorizationPolicy"]
    metadata: ObjectMeta
    spec: _AuthzSpec = Field(default_factory=_AuthzSpec)

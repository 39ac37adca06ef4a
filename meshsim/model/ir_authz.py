"""The compiled AuthorizationPolicy of the mesh model (part of :mod:`meshsim.model.ir`, which re-exports every
name): Istio's ALLOW/DENY policies with their rules' sources, operations and conditions, as istiod hands them to
Envoy's RBAC filter. Frozen dataclasses of tuples; ``None`` means a field the policy left unset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class AuthzSource:
    """``from[].source``: principals and namespaces (both need mTLS; plaintext has neither). None = unset."""

    principals: tuple[str, ...] | None = None
    not_principals: tuple[str, ...] | None = None
    namespaces: tuple[str, ...] | None = None
    not_namespaces: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AuthzOperation:
    """``to[].operation``: methods, paths, ports. None = unset."""

    methods: tuple[str, ...] | None = None
    not_methods: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    not_paths: tuple[str, ...] | None = None
    ports: tuple[str, ...] | None = None
    not_ports: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AuthzCondition:
    """``when[]``: ``key`` one of ``request.headers[<name>]`` (``header`` set, lower case),
    ``source.principal``, ``source.namespace``, ``destination.port``."""

    key: str
    header: str | None
    values: tuple[str, ...] | None
    not_values: tuple[str, ...] | None


@dataclass(frozen=True)
class AuthzRule:
    """A rule matches when its ``sources`` (OR; empty = any), ``operations`` (OR; empty = any) and
    every ``conditions`` entry (AND) match."""

    sources: tuple[AuthzSource, ...] = ()
    operations: tuple[AuthzOperation, ...] = ()
    conditions: tuple[AuthzCondition, ...] = ()


@dataclass(frozen=True)
class AuthzPolicy:
    """One AuthorizationPolicy: ``name`` is ``<namespace>/<name>``; ``workloads`` the workload keys
    (``service.version``) it selects; ``action`` ALLOW or DENY; a policy matches when any rule does
    (no rules: an ALLOW matches nothing, a DENY nothing; Istio ``authorization_policy.proto``)."""

    name: str
    action: Literal["ALLOW", "DENY"]
    workloads: tuple[str, ...]
    rules: tuple[AuthzRule, ...]

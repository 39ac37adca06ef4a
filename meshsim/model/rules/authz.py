"""Istio AuthorizationPolicy evaluation at the server sidecar (pure string rules).

Istio ``security/v1beta1/authorization_policy.proto`` (string match forms, rule semantics) and
``pilot/pkg/security/authz/builder`` (DENY policies are evaluated before ALLOW policies; when any
ALLOW policy selects the workload, a request must match one of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: meshsim.model.ir re-exports authz_verdict at import time
    from meshsim.model.ir import AuthzCondition, AuthzOperation, AuthzPolicy, AuthzRule, AuthzSource

__all__ = [
    "authz_verdict",
    "condition_matches",
    "field_match",
    "operation_matches",
    "policy_matches",
    "rule_matches",
    "source_matches",
    "value_match",
]


def value_match(pattern: str, value: str) -> bool:
    """Istio's string match in AuthorizationPolicy: exact, ``prefix*``, ``*suffix``, or ``*`` (any
    non-empty value)."""
    if pattern == "*":
        return value != ""
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def field_match(values: tuple[str, ...] | None, nots: tuple[str, ...] | None, value: str) -> bool:
    """One field of a source/operation/condition: ``value`` matches one of ``values`` (None = unset,
    any value) and none of ``nots``."""
    if values is not None and not any(value_match(p, value) for p in values):
        return False
    return not (nots is not None and any(value_match(p, value) for p in nots))


def source_matches(s: AuthzSource, principal: str, namespace: str) -> bool:
    """``from[].source``: principal and namespace fields (both empty over plaintext)."""
    return field_match(s.principals, s.not_principals, principal) and field_match(
        s.namespaces, s.not_namespaces, namespace
    )


def operation_matches(o: AuthzOperation, method: str, path: str, port: int) -> bool:
    """``to[].operation``: method, path (without the query string) and port fields."""
    return (
        field_match(o.methods, o.not_methods, method)
        and field_match(o.paths, o.not_paths, path.split("?", 1)[0])
        and field_match(o.ports, o.not_ports, str(port))
    )


def condition_matches(c: AuthzCondition, principal: str, namespace: str, headers: dict[str, str], port: int) -> bool:
    """``when[]``: a condition on an absent request header matches only as ``notValues`` (Istio)."""
    if c.header is not None:
        value = headers.get(c.header)
        if value is None:
            return c.values is None
    elif c.key == "source.principal":
        value = principal
    elif c.key == "source.namespace":
        value = namespace
    else:
        value = str(port)
    return field_match(c.values, c.not_values, value)


def rule_matches(
    r: AuthzRule, principal: str, namespace: str, method: str, path: str, headers: dict[str, str], port: int
) -> bool:
    """A rule matches when a source (empty = any), an operation (empty = any) and every condition match."""
    if r.sources and not any(source_matches(s, principal, namespace) for s in r.sources):
        return False
    if r.operations and not any(operation_matches(o, method, path, port) for o in r.operations):
        return False
    return all(condition_matches(c, principal, namespace, headers, port) for c in r.conditions)


def policy_matches(
    p: AuthzPolicy, principal: str, namespace: str, method: str, path: str, headers: dict[str, str], port: int
) -> bool:
    """A policy matches when any of its rules does (no rules: it matches nothing)."""
    return any(rule_matches(r, principal, namespace, method, path, headers, port) for r in p.rules)


def authz_verdict(
    deny: Sequence[AuthzPolicy],
    allow: Sequence[AuthzPolicy],
    principal: str,
    namespace: str,
    method: str,
    path: str,
    headers: dict[str, str],
    port: int,
) -> str | None:
    """Istio's RBAC order at the server sidecar: the first matching DENY policy denies; else, when
    ALLOW policies select the workload, one must match (else denied by ``allow-policies``); no
    policy = allow. ``principal`` and ``namespace`` are empty over plaintext (the peer identity comes
    from the client certificate). Returns the denying policy's name, or None when the request is allowed."""
    for p in deny:
        if policy_matches(p, principal, namespace, method, path, headers, port):
            return p.name
    if allow and not any(policy_matches(p, principal, namespace, method, path, headers, port) for p in allow):
        return "allow-policies:" + ",".join(p.name for p in allow)
    return None

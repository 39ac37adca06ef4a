"""Istio AuthorizationPolicy evaluation at the server sidecar (pure string rules).

Istio ``security/v1beta1/authorization_policy.proto`` (string match forms, rule semantics) and
``pilot/pkg/security/authz/builder`` (DENY policies are evaluated before ALLOW policies; when any
ALLOW policy selects the workload, a request must match one of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["Policy", "authz_verdict", "field_match", "value_match"]


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


class Policy(Protocol):
    """What :func:`authz_verdict` needs of a policy (``meshsim.model.ir.AuthzPolicy``)."""

    @property
    def name(self) -> str: ...

    def matches(self, principal: str, namespace: str, method: str, path: str, headers: dict[str, str], port: int) -> bool: ...


def authz_verdict(
    deny: Sequence[Policy],
    allow: Sequence[Policy],
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
        if p.matches(principal, namespace, method, path, headers, port):
            return p.name
    if allow and not any(p.matches(principal, namespace, method, path, headers, port) for p in allow):
        return "allow-policies:" + ",".join(p.name for p in allow)
    return None

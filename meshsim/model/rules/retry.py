"""Envoy retry rules: istiod's VirtualService ``retries`` conversion and Envoy's retriable statuses.

Sources: istiod ``pilot/pkg/networking/core/route/retry/retry.go`` (``DefaultPolicy``,
``ConvertPolicy``), Envoy ``source/common/router/retry_state_impl.cc`` (``parseRetryOn``,
``wouldRetryFromHeaders``).
"""

from __future__ import annotations

from dataclasses import replace

from meshsim.config.istio import HTTPRetry
from meshsim.model.errors import CompileError
from meshsim.model.ir import RetryPolicy

__all__ = [
    "ENVOY_RAW_MAX_RETRIES",
    "ISTIO_DEFAULT_RETRY_ON",
    "RETRY_ON_TOKENS",
    "convert_retry_policy",
    "default_retry_policy",
    "parse_retry_on",
    "retriable_reset",
    "retriable_status",
]

RETRY_ON_TOKENS = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "envoy-ratelimited",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
"""Every ``retryOn`` token Envoy's ``retry_state_impl.cc`` parses."""

ISTIO_DEFAULT_RETRY_ON = frozenset(
    {"connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"}
)
"""Istio's default ``retry_on`` (``retry.DefaultPolicy``)."""

ENVOY_RAW_MAX_RETRIES = 3
"""Envoy's own default ``max_retries`` threshold (``circuit_breaker.proto``)."""


def default_retry_policy(exclude_503: bool = True) -> RetryPolicy:
    """Istio's default retry policy (``retry.DefaultPolicy``): 2 retries, 25 ms base backoff
    (Envoy's default; max 250 ms = 10x base), the previous-hosts predicate with 5 host-selection
    attempts.

    ``exclude_503=False`` gives the <=1.23 behaviour (``retriable_status_codes=[503]``), selected by
    ``MeshSettings.spec.excludeUnsafe503FromDefaultRetry: false``.
    """
    return RetryPolicy(
        num_retries=2,
        retry_on=ISTIO_DEFAULT_RETRY_ON,
        retriable_status_codes=frozenset() if exclude_503 else frozenset({503}),
        per_try_timeout=None,
        backoff_base=0.025,
        backoff_max=0.25,
        previous_hosts=True,
        host_selection_retry_max_attempts=5,
    )


def parse_retry_on(value: str) -> tuple[frozenset[str], frozenset[int]] | str:
    """Split a ``retryOn`` string into (tokens, status codes) as istiod's ``parseRetryOn`` does:
    comma-separated, blanks skipped, bare integers become ``retriable_status_codes`` and add the
    ``retriable-status-codes`` token. Returns the first unknown token (a str) instead when there is one."""
    tokens: set[str] = set()
    codes: set[int] = set()
    for raw in value.split(","):
        tok = raw.strip()
        if not tok:
            continue
        if tok.isdigit():
            codes.add(int(tok))
        elif tok in RETRY_ON_TOKENS:
            tokens.add(tok)
        else:
            return tok
    if codes:
        tokens.add("retriable-status-codes")
    return frozenset(tokens), frozenset(codes)


def convert_retry_policy(
    retry: HTTPRetry | None,
    default: RetryPolicy | None,
    source: str = "",
    loc: str = "",
    *,
    builtin: RetryPolicy | None = None,
    consistent_hash: bool = False,
) -> RetryPolicy | None:
    """istiod's ``ConvertPolicy(in, hashPolicy)``: VirtualService ``retries`` to Envoy ``retry_policy``.

    - no ``retries`` block: ``default``, the mesh's default route policy (None: ``attempts: 0`` there);
      on a consistent-hash route without the ``previous_hosts`` predicate (``DefaultConsistentHashPolicy``);
    - ``attempts`` 0 or unset: no retry policy at all (proto3 cannot tell unset from 0);
    - otherwise ``builtin`` (Istio's own ``DefaultPolicy``, :func:`default_retry_policy`; never the
      mesh's ``defaultHttpRetryPolicy``: ``newRetryPolicy`` starts from the built-in values) with
      ``num_retries = attempts``; ``retryOn`` (if set) replaces the tokens, bare integers become
      ``retriable_status_codes`` and add ``retriable-status-codes``; ``perTryTimeout`` (seconds),
      ``backoff`` (base, seconds; max = 10x base) and ``retryIgnorePreviousHosts`` apply. On a
      consistent-hash route the predicate is on only when ``retryIgnorePreviousHosts: true``.

    ``builtin`` None: :func:`default_retry_policy` (Istio 1.24+, no 503). A mesh default is passed
    converted, so on a consistent-hash route it loses the predicate even when it set
    ``retryIgnorePreviousHosts: true`` (istiod would keep it then).

    Raises
    ------
    CompileError
        On a ``retryOn`` token Envoy does not know (Istio's validation rejects it too), naming
        ``source`` and ``loc``.retryOn.
    """
    if retry is None:
        if default is not None and consistent_hash and default.previous_hosts:
            return replace(default, previous_hosts=False)
        return default
    if not retry.attempts:
        return None
    base_policy = builtin if builtin is not None else default_retry_policy()
    retry_on = base_policy.retry_on
    codes = base_policy.retriable_status_codes
    if retry.retryOn:
        parsed = parse_retry_on(retry.retryOn)
        if isinstance(parsed, str):
            raise CompileError(source, f"{loc}.retryOn", f"unknown retryOn policy {parsed!r}")
        retry_on, codes = parsed
    base = retry.backoff if retry.backoff else base_policy.backoff_base
    if consistent_hash:
        previous_hosts = retry.retryIgnorePreviousHosts is True
    else:
        previous_hosts = retry.retryIgnorePreviousHosts is not False
    return RetryPolicy(
        num_retries=retry.attempts,
        retry_on=retry_on,
        retriable_status_codes=codes,
        per_try_timeout=retry.perTryTimeout or None,
        backoff_base=base,
        backoff_max=10 * base if retry.backoff else base_policy.backoff_max,
        previous_hosts=previous_hosts,
        host_selection_retry_max_attempts=base_policy.host_selection_retry_max_attempts,
    )


def retriable_status(on: frozenset[str], codes: frozenset[int], status: int) -> bool:
    """Envoy ``wouldRetryFromHeaders``: whether a response with HTTP ``status`` is retried under the
    ``retry_on`` tokens ``on`` and ``retriable_status_codes`` ``codes``."""
    if 500 <= status <= 599 and "5xx" in on:
        return True
    if status in (502, 503, 504) and "gateway-error" in on:
        return True
    if status == 409 and "retriable-4xx" in on:
        return True
    return "retriable-status-codes" in on and status in codes


def retriable_reset(on: frozenset[str], connect_failure: bool) -> bool:
    """Envoy ``wouldRetryFromReset``: whether an attempt that ended without an HTTP response (a reset,
    a per-try timeout, a refused TLS connection; ``connect_failure``: the connection never opened) is
    retried under the ``retry_on`` tokens ``on``. ``5xx``, ``gateway-error`` and ``reset`` cover every
    reset; ``connect-failure`` and ``reset-before-request`` cover a connection that never opened."""
    if "5xx" in on or "gateway-error" in on or "reset" in on:
        return True
    return connect_failure and ("connect-failure" in on or "reset-before-request" in on)

"""istiod's ConvertPolicy and Envoy's retriable statuses (meshsim.model.rules.retry)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshsim.config.istio import _HTTP_CODES, HTTPRetry
from meshsim.model.errors import CompileError
from meshsim.model.rules.retry import (
    ISTIO_DEFAULT_RETRY_ON,
    RETRY_ON_TOKENS,
    convert_retry_policy,
    default_retry_policy,
    parse_retry_on,
    retriable_reset,
    retriable_status,
)

TOKENS = sorted(RETRY_ON_TOKENS)
codes = st.integers(min_value=100, max_value=599)
# what Istio's validation admits in retryOn: Envoy's policies and defined HTTP statuses (Go's http.StatusText)
http_codes = st.sampled_from(sorted(_HTTP_CODES))
retry_on_items = st.lists(st.one_of(st.sampled_from(TOKENS), http_codes.map(str)), min_size=1, max_size=8)


@given(retry_on_items, st.integers(min_value=1, max_value=10))
def test_retry_on_splits_tokens_and_codes(items: list[str], attempts: int) -> None:
    rp = convert_retry_policy(HTTPRetry(attempts=attempts, retryOn=",".join(items)), default_retry_policy())
    assert rp is not None
    want_codes = {int(i) for i in items if i.isdigit()}
    want_tokens = {i for i in items if not i.isdigit()} | ({"retriable-status-codes"} if want_codes else set())
    assert rp.retry_on == want_tokens
    assert rp.retriable_status_codes == want_codes
    assert rp.num_retries == attempts


@given(st.integers(min_value=1, max_value=10_000))
def test_backoff_sets_base_and_ten_times_max(base_ms: int) -> None:
    base = base_ms / 1e3  # Istio durations are whole milliseconds
    rp = convert_retry_policy(HTTPRetry(attempts=1, backoff=base), default_retry_policy())
    assert rp is not None and rp.backoff_base == base and rp.backoff_max == 10 * base


def test_no_block_keeps_default_and_zero_attempts_removes_policy() -> None:
    d = default_retry_policy()
    assert convert_retry_policy(None, d) is d
    assert convert_retry_policy(HTTPRetry(attempts=0), d) is None
    rp = convert_retry_policy(HTTPRetry(attempts=4), d)
    assert (
        rp is not None and rp.retry_on == ISTIO_DEFAULT_RETRY_ON and (rp.backoff_base, rp.backoff_max) == (0.025, 0.25)
    )


def test_unknown_token_names_the_field() -> None:
    with pytest.raises(
        CompileError, match=r"vs\.yaml: spec\.http\[0\]\.retries\.retryOn: unknown retryOn policy 'bogus'"
    ):
        # the config model refuses it first; the rule still names the field for an IR built another way
        convert_retry_policy(
            HTTPRetry.model_construct(attempts=1, retryOn="5xx,bogus"),
            default_retry_policy(),
            "vs.yaml",
            "spec.http[0].retries",
        )
    assert parse_retry_on("5xx,,bogus") == "bogus"


def test_default_policy_503_switch() -> None:
    assert default_retry_policy(True).retriable_status_codes == frozenset()
    assert default_retry_policy(False).retriable_status_codes == {503}


@given(st.sets(st.sampled_from(TOKENS)), st.sets(codes), codes)
def test_retriable_status_is_envoys_would_retry_from_headers(on: set[str], cs: set[int], status: int) -> None:
    want = (
        ("5xx" in on and status >= 500)
        or ("gateway-error" in on and status in (502, 503, 504))
        or ("retriable-4xx" in on and status == 409)
        or ("retriable-status-codes" in on and status in cs)
    )
    assert retriable_status(frozenset(on), frozenset(cs), status) is want
    if status < 500 and status != 409 and status not in cs:
        assert not retriable_status(frozenset(on), frozenset(cs), status)


@given(st.sets(st.sampled_from(TOKENS)), st.booleans())
def test_retriable_reset_is_envoys_would_retry_from_reset(on: set[str], connect_failure: bool) -> None:
    any_reset = bool(on & {"5xx", "gateway-error", "reset"})
    before_request = bool(on & {"connect-failure", "reset-before-request"})
    assert retriable_reset(frozenset(on), connect_failure) is (any_reset or (connect_failure and before_request))


def test_a_retries_block_starts_from_the_builtin_policy_not_the_mesh_default() -> None:
    """istiod ConvertPolicy: newRetryPolicy (built-in), never MeshConfig.defaultHttpRetryPolicy."""
    mesh = convert_retry_policy(HTTPRetry(attempts=5, retryOn="5xx"), default_retry_policy())
    assert mesh is not None and mesh.retry_on == {"5xx"}
    rp = convert_retry_policy(HTTPRetry(attempts=3), mesh, builtin=default_retry_policy())
    assert rp is not None and (rp.num_retries, rp.retry_on) == (3, ISTIO_DEFAULT_RETRY_ON)
    assert rp.retriable_status_codes == frozenset()
    # the <=1.23 built-in default retries 503; a block without retryOn keeps it
    old = convert_retry_policy(HTTPRetry(attempts=3), mesh, builtin=default_retry_policy(False))
    assert old is not None and old.retriable_status_codes == {503}


def test_a_mesh_default_with_zero_attempts_disables_only_routes_without_a_block() -> None:
    assert convert_retry_policy(None, None) is None
    rp = convert_retry_policy(HTTPRetry(attempts=2, retryOn="gateway-error"), None)
    assert rp is not None and (rp.num_retries, rp.retry_on) == (2, {"gateway-error"}) and rp.previous_hosts


def test_consistent_hash_routes_drop_the_previous_hosts_predicate() -> None:
    """DefaultConsistentHashPolicy / newRetryPolicy(hashPolicy=true): no predicate unless
    retryIgnorePreviousHosts is true; host selection attempts stay 5."""
    d = default_retry_policy()
    no_block = convert_retry_policy(None, d, consistent_hash=True)
    assert no_block is not None and not no_block.previous_hosts and no_block.host_selection_retry_max_attempts == 5
    block = convert_retry_policy(HTTPRetry(attempts=2), d, consistent_hash=True)
    assert block is not None and not block.previous_hosts
    asked = convert_retry_policy(HTTPRetry(attempts=2, retryIgnorePreviousHosts=True), d, consistent_hash=True)
    assert asked is not None and asked.previous_hosts

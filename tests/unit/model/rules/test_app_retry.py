"""The application-level retry rule (meshsim.model.rules.app_retry)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from meshsim.model.rules.app_retry import app_outcome, app_retriable, app_retriable_mask, app_tries

ons = st.sets(st.sampled_from(["5xx", "4xx", "timeout"])).map(frozenset)


@given(ons, st.integers(min_value=100, max_value=599), st.booleans())
def test_retriable_iff_outcome_listed(on: frozenset[str], status: int, timed_out: bool) -> None:
    outcome = app_outcome(status, timed_out)
    assert app_retriable(on, status, timed_out) is (outcome != "ok" and outcome in on)
    if timed_out:
        assert outcome == "timeout"
    elif status < 400:
        assert not app_retriable(on, status)


@given(ons, st.lists(st.integers(min_value=100, max_value=599), min_size=1, max_size=50))
def test_mask_agrees_with_scalar(on: frozenset[str], statuses: list[int]) -> None:
    mask = app_retriable_mask(on, np.asarray(statuses))
    assert list(mask) == [app_retriable(on, s) for s in statuses]


def test_tries() -> None:
    assert app_tries(0) == 1 and app_tries(3) == 4


def test_only_a_2xx_is_a_successful_call_and_a_3xx_is_never_retried() -> None:
    import numpy as np

    from meshsim.model.rules.app_retry import app_call_ok, app_call_ok_mask, app_outcome, app_retriable

    assert [app_call_ok(s) for s in (199, 200, 204, 299, 302, 404, 503)] == [
        False,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert app_outcome(302) == "3xx" and app_outcome(200) == "ok" and app_outcome(404) == "4xx"
    assert not app_retriable(frozenset({"5xx", "4xx", "timeout"}), 302)
    assert app_call_ok_mask(np.array([200, 302, 500])).tolist() == [True, False, False]

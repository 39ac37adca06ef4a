"""The application-level retry rule (a caller's own retries of one call, outside Envoy).

Bookinfo's productpage retries its call to reviews once (``samples/bookinfo/src/productpage/
productpage.py``); meshsim's ``call.retries`` generalises it: ``attempts`` retries after the first
try, on the outcome classes listed in ``retryOn`` (``5xx``, ``4xx``, ``timeout``: the app's own
per-call deadline expired), a constant ``backoff`` (seconds) between tries.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["app_outcome", "app_retriable", "app_retriable_mask", "app_tries"]

Outcome = Literal["ok", "5xx", "4xx", "timeout"]


def app_outcome(status: int, timed_out: bool = False) -> Outcome:
    """The outcome class of one try: ``timeout`` when the app's deadline fired, else by HTTP status
    (``ok`` below 400)."""
    if timed_out:
        return "timeout"
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    return "ok"


def app_retriable(on: frozenset[str], status: int, timed_out: bool = False) -> bool:
    """Whether a failed try is retried under ``retryOn`` tokens ``on``; a success never is."""
    outcome = app_outcome(status, timed_out)
    return outcome != "ok" and outcome in on


def app_retriable_mask(on: frozenset[str], status: np.ndarray) -> np.ndarray:
    """:func:`app_retriable` over an array of HTTP statuses of tries that did not time out (bool array)."""
    return ((status >= 500) & ("5xx" in on)) | ((status >= 400) & (status < 500) & ("4xx" in on))


def app_tries(attempts: int) -> int:
    """Most tries of a call with ``attempts`` retries (the first try plus the retries)."""
    return 1 + attempts

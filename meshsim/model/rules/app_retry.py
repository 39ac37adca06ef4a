"""The application-level retry rule (a caller's own retries of one call, outside Envoy).

Bookinfo's productpage retries its call to reviews once (``samples/bookinfo/src/productpage/
productpage.py``); meshsim's ``call.retries`` generalises it: ``attempts`` retries after the first
try, on the outcome classes listed in ``retryOn`` (``5xx``, ``4xx``, ``timeout``: the app's own
per-call deadline expired), a constant ``backoff`` (seconds) between tries.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["app_call_ok", "app_call_ok_mask", "app_outcome", "app_retriable", "app_retriable_mask", "app_tries"]

Outcome = Literal["ok", "3xx", "5xx", "4xx", "timeout"]


def app_call_ok(status: int) -> bool:
    """Whether an app call's answer ``status`` is a success: 2xx only, in both backends.

    Bookinfo's apps accept only a 200 (productpage's ``getProductDetails``/``getProductReviews``,
    samples/bookinfo/src/productpage/productpage.py: ``res.status_code == 200``; reviews compares to
    ``Response.Status.OK``), so a 3xx (an injected ``abort`` of 302, or a redirect the app does not
    follow) fails the call, and the script's ``onError`` applies. A 3xx is never retried by the app
    (``retryOn`` names only ``5xx``, ``4xx`` and ``timeout``)."""
    return 200 <= status < 300


def app_call_ok_mask(status: np.ndarray) -> np.ndarray:
    """:func:`app_call_ok` over an array of HTTP statuses (bool array)."""
    return (status >= 200) & (status < 300)


def app_outcome(status: int, timed_out: bool = False) -> Outcome:
    """The outcome class of one try: ``timeout`` when the app's deadline fired, else by HTTP status
    (``ok`` for a 2xx, :func:`app_call_ok`; a 3xx or a 1xx is ``3xx``, a failure no ``retryOn`` names)."""
    if timed_out:
        return "timeout"
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    return "ok" if app_call_ok(status) else "3xx"


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

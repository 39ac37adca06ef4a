"""Route matching: Istio ``HTTPMatchRequest`` as Envoy evaluates the route istiod writes for it.

One rule for every consumer (the simulator's router, the xDS translation): a request matches an
``HTTPMatchRequest`` when every condition holds (uri, method, each header, port, source labels).
Strings match ``exact``, by ``prefix`` or by a full-string ``regex``.

Case: ``ignoreUriCase`` makes ``exact`` and ``prefix`` URI matches case-insensitive and leaves
``regex`` ones case-sensitive. Istio documents ``ignoreUriCase`` for exact and prefix matches
(https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPMatchRequest) and
translates it to ``RouteMatch.case_sensitive = !ignoreUriCase`` whatever the path specifier
(``pilot/pkg/networking/core/route/route.go``, ``TranslateRouteMatch``); Envoy ignores
``case_sensitive`` for ``safe_regex`` (``envoy/config/route/v3/route_components.proto``,
``RouteMatch.case_sensitive``), as it ignores ``StringMatcher.ignore_case`` for ``safe_regex``
(``envoy/type/matcher/v3/string.proto``).

Headers follow Envoy's ``HeaderUtility::matchHeaders`` (``source/common/http/header_utility.cc``;
``HeaderDataBaseImpl::matchesHeaders`` in later releases): an absent header fails every matcher, inverted or not,
except a ``present_match`` (absent: not present; inverted: the route is taken), unless the matcher sets
``treat_missing_header_as_empty``, when the absent header is matched as the empty string and the result
inverted as usual. istiod writes Istio ``headers: {h: {}}`` (and ``regex: "*"``) as ``present_match``,
and ``withoutHeaders`` as inverted matchers with ``treat_missing_header_as_empty`` on every string match
(``pilot/pkg/networking/core/route/route.go`` ``TranslateRouteMatch``, ``canBeConvertedToPresentMatch``).

Regexes are RE2, as Envoy's ``safe_regex`` (``google_re2``), matched against the whole string, through the
``google-re2`` binding; without it (it failed to install) Python's ``re``, which agrees on the RE2 subset that
``meshsim validate`` admits (:func:`meshsim.config.checks.check_regex`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshsim.model.ir import HeaderMatcher, RouteMatch, StringMatcher

try:
    import re2  # the engine of Envoy's safe_regex

    _regex: Any = re2
except ImportError:  # pragma: no cover - the binding is a dependency; a platform without a wheel falls back
    import re

    _regex = re

__all__ = [
    "RequestMatch",
    "header_matches",
    "compile_request_match",
    "compile_string_match",
    "ignores_case",
    "request_matches",
    "string_matches",
]

RequestMatch = Callable[[str, str, dict[str, str], int, dict[str, str]], bool]
"""``ok(path, method, headers, port, source_labels)``: whether a request matches."""


def ignores_case(m: StringMatcher) -> bool:
    """Whether ``m`` compares case-insensitively: only ``exact`` and ``prefix`` honour ``ignore_case``."""
    return m.ignore_case and m.kind != "regex"


def string_matches(m: StringMatcher, s: str) -> bool:
    """Whether the string ``s`` matches ``m``."""
    v = m.value
    if ignores_case(m):
        v, s = v.lower(), s.lower()
    if m.kind == "exact":
        return s == v
    if m.kind == "prefix":
        return s.startswith(v)
    return _regex.fullmatch(v, s) is not None


def compile_string_match(m: StringMatcher) -> Callable[[str], bool]:
    """``m`` as a one-argument predicate, prepared once (lower-cased value, compiled regex); the same
    answers as :func:`string_matches`."""
    v = m.value
    if ignores_case(m):
        v = v.lower()
        if m.kind == "exact":
            return lambda s: s.lower() == v
        return lambda s: s.lower().startswith(v)
    if m.kind == "exact":
        return lambda s: s == v
    if m.kind == "prefix":
        return lambda s: s.startswith(v)
    rx = _regex.compile(v)
    return lambda s: rx.fullmatch(s) is not None


def header_matches(h: HeaderMatcher, value: str | None) -> bool:
    """Whether the request header ``h.name`` with ``value`` (None: absent) satisfies ``h`` (the module's
    header rule: Envoy ``HeaderUtility::matchHeaders``)."""
    if value is None:
        if not h.treat_missing_as_empty:
            return h.matcher is None and h.invert
        value = ""
    hit = True if h.matcher is None else string_matches(h.matcher, value)
    return hit != h.invert


def _compile_header(h: HeaderMatcher) -> Callable[[str | None], bool]:
    """:func:`header_matches` for ``h`` as a predicate over the header's value, prepared once."""
    f = compile_string_match(h.matcher) if h.matcher is not None else None
    invert = h.invert
    absent = (f is None and invert) if not h.treat_missing_as_empty else ((f is None or f("")) != invert)

    def ok(value: str | None) -> bool:
        if value is None:
            return absent
        return (f is None or f(value)) != invert

    return ok


def request_matches(
    m: RouteMatch, path: str, method: str, headers: dict[str, str], port: int, labels: dict[str, str]
) -> bool:
    """Whether a request (``path``, ``method``, ``headers``, destination ``port``, the client pod's
    ``labels``) matches the ``HTTPMatchRequest`` ``m``; headers by :func:`header_matches`."""
    if m.uri is not None and not string_matches(m.uri, path):
        return False
    if m.method is not None and not string_matches(m.method, method):
        return False
    for h in m.headers:
        if not header_matches(h, headers.get(h.name)):
            return False
    if m.port is not None and m.port != port:
        return False
    return all(labels.get(k) == v for k, v in m.source_labels)


def compile_request_match(m: RouteMatch) -> RequestMatch:
    """:func:`request_matches` for ``m`` as a predicate, prepared once (the simulator calls it per request)."""
    uri = compile_string_match(m.uri) if m.uri else None
    method = compile_string_match(m.method) if m.method else None
    headers = [(h.name, _compile_header(h)) for h in m.headers]
    port = m.port
    src = m.source_labels

    def ok(path: str, meth: str, hdrs: dict[str, str], dport: int, labels: dict[str, str]) -> bool:
        if uri is not None and not uri(path):
            return False
        if method is not None and not method(meth):
            return False
        for name, f in headers:
            if not f(hdrs.get(name)):
                return False
        if port is not None and port != dport:
            return False
        for k, v in src:
            if labels.get(k) != v:
                return False
        return True

    return ok

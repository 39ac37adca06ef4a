"""meshsim.model.rules.match: Istio's HTTPMatchRequest as Envoy evaluates it, shared by the simulator
and the xDS translation. ``ignoreUriCase`` applies to exact and prefix URI matches only."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from meshsim.model.ir import HeaderMatcher, Route, RouteMatch, StringMatcher, WeightedCluster
from meshsim.model.rules.match import (
    compile_request_match,
    compile_string_match,
    header_matches,
    ignores_case,
    request_matches,
    string_matches,
)
from meshsim.sim.routing import RouteRT, select_route
from meshsim.xds.routes import route_entries

ALPHABET = "aAbB/-._"
texts = st.text(alphabet=ALPHABET, max_size=8)
kinds = st.sampled_from(["exact", "prefix", "regex"])


@st.composite
def matchers(draw: st.DrawFn) -> StringMatcher:
    kind = draw(kinds)
    value = draw(texts)
    if kind == "regex":
        # a literal with an optional wildcard tail: always a valid regex, RE2 and Python agree
        value = re.escape(value) + draw(st.sampled_from(["", ".*", "[a-z]*", "(/.*)?"]))
    return StringMatcher(kind, value, draw(st.booleans()))


def test_ignore_uri_case_applies_to_exact_and_prefix() -> None:
    assert string_matches(StringMatcher("exact", "/productpage", True), "/ProductPage")
    assert string_matches(StringMatcher("prefix", "/api/", True), "/API/v1")
    assert not string_matches(StringMatcher("exact", "/productpage", False), "/ProductPage")
    assert not string_matches(StringMatcher("prefix", "/api/", False), "/API/v1")


def test_ignore_uri_case_does_not_apply_to_regex() -> None:
    """Envoy ignores RouteMatch.case_sensitive for safe_regex: the regex stays case-sensitive."""
    m = StringMatcher("regex", "/api/v[0-9]+", True)
    assert not ignores_case(m)
    assert string_matches(m, "/api/v2")
    assert not string_matches(m, "/API/v2")
    assert not compile_string_match(m)("/API/v2")


def test_regex_must_match_the_whole_string() -> None:
    m = StringMatcher("regex", "/api")
    assert string_matches(m, "/api")
    assert not string_matches(m, "/api/v1")


def test_without_headers_holds_when_the_header_is_absent_or_different() -> None:
    """istiod's withoutHeaders string match: inverted, absent header treated as empty."""
    h = HeaderMatcher("end-user", StringMatcher("exact", "jason"), invert=True, treat_missing_as_empty=True)
    m = RouteMatch(headers=(h,))
    for ok in (request_matches, lambda m, *a: compile_request_match(m)(*a)):
        assert ok(m, "/", "GET", {}, 80, {})
        assert ok(m, "/", "GET", {"end-user": "kim"}, 80, {})
        assert not ok(m, "/", "GET", {"end-user": "jason"}, 80, {})


def test_absent_header_fails_an_inverted_string_match_unless_treated_as_empty() -> None:
    """Envoy HeaderUtility::matchHeaders (header_utility.cc): an absent header fails any string matcher, inverted
    or not, without treat_missing_header_as_empty; with it, "" is matched (and then inverted)."""
    plain = HeaderMatcher("x", StringMatcher("exact", "a"), invert=True)
    assert not header_matches(plain, None)
    assert header_matches(plain, "b") and not header_matches(plain, "a")
    empty_hit = HeaderMatcher("x", StringMatcher("regex", ".*"), invert=True, treat_missing_as_empty=True)
    assert not header_matches(empty_hit, None)  # "" matches .*, inverted: the route is skipped
    assert not header_matches(HeaderMatcher("x", StringMatcher("exact", "")), None)
    assert header_matches(HeaderMatcher("x", StringMatcher("exact", ""), treat_missing_as_empty=True), None)


def test_presence_match() -> None:
    """present_match (matcher None): any value, even empty; inverted (withoutHeaders {}): absent only."""
    present = HeaderMatcher("x", None)
    absent = HeaderMatcher("x", None, invert=True)
    for value, want in ((None, False), ("", True), ("v", True)):
        assert header_matches(present, value) is want
        assert header_matches(absent, value) is (not want)
        m = RouteMatch(headers=(present,))
        assert compile_request_match(m)("/", "GET", {} if value is None else {"x": value}, 80, {}) is want
        m = RouteMatch(headers=(absent,))
        assert compile_request_match(m)("/", "GET", {} if value is None else {"x": value}, 80, {}) is (not want)


def test_all_conditions_must_hold() -> None:
    m = RouteMatch(
        uri=StringMatcher("prefix", "/r"),
        method=StringMatcher("exact", "GET"),
        port=9080,
        source_labels=(("app", "productpage"),),
    )
    ok = ("/reviews", "GET", {}, 9080, {"app": "productpage", "version": "v1"})
    assert request_matches(m, *ok)
    assert not request_matches(m, "/x", *ok[1:])
    assert not request_matches(m, ok[0], "POST", *ok[2:])
    assert not request_matches(m, *ok[:3], 8080, ok[4])
    assert not request_matches(m, *ok[:4], {"app": "details"})


def test_the_simulator_routes_a_regex_uri_case_sensitively_under_ignore_uri_case() -> None:
    """The router picks the first route whose match holds: /API/v1 misses the regex route
    (ignoreUriCase has no effect on it) and falls through to the catch-all."""
    regex = Route(
        "api",
        (RouteMatch(uri=StringMatcher("regex", "/api/.*", True)),),
        (WeightedCluster("api", 1),),
        None,
        None,
        None,
        "vs/http[0]",
    )
    rest = Route("rest", (), (WeightedCluster("rest", 1),), None, None, None, "vs/http[1]")
    table = [RouteRT(regex), RouteRT(rest)]
    assert select_route(table, "/api/v1", "GET", {}, 80, {}).route.name == "api"  # type: ignore[union-attr]
    assert select_route(table, "/API/v1", "GET", {}, 80, {}).route.name == "rest"  # type: ignore[union-attr]


def test_xds_writes_case_insensitivity_only_where_envoy_honours_it() -> None:
    from meshsim.model.ir import VirtualHost

    def match_of(m: StringMatcher) -> dict:  # type: ignore[type-arg]
        r = Route("r", (RouteMatch(uri=m),), (WeightedCluster("c", 1),), None, None, None, "vs/http[0]")
        vh = VirtualHost("vh", "h", 80, ("h",), (r,))
        return route_entries(r, vh, {})[0]["match"]

    assert match_of(StringMatcher("prefix", "/api", True)) == {"prefix": "/api", "case_sensitive": False}
    assert match_of(StringMatcher("exact", "/api", True)) == {"path": "/api", "case_sensitive": False}
    assert match_of(StringMatcher("regex", "/api/.*", True)) == {"safe_regex": {"regex": "/api/.*"}}


@given(matchers(), texts)
def test_compiled_matcher_agrees_with_the_rule(m: StringMatcher, s: str) -> None:
    assert compile_string_match(m)(s) == string_matches(m, s)


@given(matchers(), texts)
def test_case_folding_exact_and_prefix_is_matching_the_lower_cased_strings(m: StringMatcher, s: str) -> None:
    if ignores_case(m):
        plain = StringMatcher(m.kind, m.value.lower())
        assert string_matches(m, s) == string_matches(plain, s.lower())


@given(matchers(), texts)
def test_ignore_case_never_changes_a_regex(m: StringMatcher, s: str) -> None:
    if m.kind == "regex":
        assert string_matches(m, s) == string_matches(StringMatcher("regex", m.value, not m.ignore_case), s)


@given(texts, texts, st.booleans())
def test_exact_is_an_escaped_regex_and_implies_prefix(v: str, s: str, ic: bool) -> None:
    exact = string_matches(StringMatcher("exact", v, ic), s)
    if not ic:
        assert exact == string_matches(StringMatcher("regex", re.escape(v)), s)
    if exact:
        assert string_matches(StringMatcher("prefix", v, ic), s)


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), matchers(), st.booleans()), max_size=3),
    texts,
    texts,
    st.dictionaries(st.sampled_from(["a", "b"]), texts, max_size=2),
)
def test_compiled_request_match_agrees_with_the_rule(
    hs: list[tuple[str, StringMatcher, bool]], uri: str, path: str, headers: dict[str, str]
) -> None:
    m = RouteMatch(uri=StringMatcher("prefix", uri), headers=tuple(HeaderMatcher(n, x, inv) for n, x, inv in hs))
    assert compile_request_match(m)(path, "GET", headers, 80, {}) == request_matches(m, path, "GET", headers, 80, {})

"""AuthorizationPolicy string matching and DENY-before-ALLOW order (meshsim.model.rules.authz)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshsim.model.ir import AuthzOperation, AuthzPolicy, AuthzRule, AuthzSource
from meshsim.model.rules.authz import authz_verdict, field_match, value_match

words = st.text(alphabet="abc/", max_size=6)


@given(words, words)
def test_value_match_forms(a: str, b: str) -> None:
    assert value_match(a + b + "*", a + b + "x") and value_match("*" + b + "q", a + b + "q")
    assert value_match("*", a + "z") and not value_match("*", "")
    assert value_match(a, b) is (a == b) or a.startswith("*") or a.endswith("*")


@given(words)
def test_unset_field_matches_anything_and_not_values_exclude(v: str) -> None:
    assert field_match(None, None, v)
    assert not field_match(None, (v,), v) or v.startswith("*") or v.endswith("*")


def _pol(
    name: str, action: str, principals: tuple[str, ...] | None = None, methods: tuple[str, ...] | None = None
) -> AuthzPolicy:
    rule = AuthzRule(
        (AuthzSource(principals=principals),) if principals else (),
        (AuthzOperation(methods=methods),) if methods else (),
    )
    return AuthzPolicy(name, action, ("w.v1",), (rule,))  # type: ignore[arg-type]


def test_deny_wins_then_allow_must_match() -> None:
    deny = (_pol("ns/no-post", "DENY", methods=("POST",)),)
    allow = (_pol("ns/pp", "ALLOW", principals=("cluster.local/ns/default/sa/pp",)),)
    pp = "cluster.local/ns/default/sa/pp"
    assert authz_verdict(deny, allow, pp, "default", "POST", "/", {}, 80) == "ns/no-post"
    assert authz_verdict(deny, allow, pp, "default", "GET", "/", {}, 80) is None
    assert authz_verdict(deny, allow, "", "", "GET", "/", {}, 80) == "allow-policies:ns/pp"  # plaintext: no principal
    assert authz_verdict((), (), "", "", "GET", "/", {}, 80) is None

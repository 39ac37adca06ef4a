"""Istio-translation conformance: meshsim's xDS against the Envoy fields istiod itself produces.

Every directory next to this file (except ``_common``) is one case: Istio input YAML (and, when the
shared topology in ``_common/`` does not fit, its own ``topology.yaml``) plus ``expect.yaml``::

    source:            # where the expectation comes from: an Istio test or istiod code path, never meshsim
      file: pilot/pkg/networking/core/route/retry/retry_test.go
      test: TestRetry/TestRetryWithAllFieldsSet
      commit: <istio/istio commit>
    note: ...          # optional: how the fact carries over to this input
    proxy: client-v1-0 # whose sidecar resources are checked
    status: pass       # or {xfail: "<one-line difference>"}, {not_modelled: "<warning text>"}, {rejected: "<text>"}
    checks:
      - virtual_host: svc.default.svc.cluster.local:8080   # found in any RouteConfiguration, RDS or inline
        route: 0                                           # optional: index of the route in the virtual host
        fields: {route.retry_policy.num_retries: 2}
      - cluster: outbound|8080||svc.default.svc.cluster.local
        fields: {lb_policy: ROUND_ROBIN}
      - host: svc.default:8080                             # Envoy's virtual-host selection for a Host
        selects: svc.default.svc.cluster.local:8080        # (or not_selects: <name>)

``fields`` maps a dotted path (list items by ``[i]``; ``/`` separates instead when a key holds dots, as
filter names do) to the expected value, compared for *effective behaviour*: a field left unset on either
side takes Envoy's default (:data:`ENVOY_DEFAULTS`), an expected mapping is compared key by key over the
union of both sides' keys, and equivalent spellings are made equal (durations, uint64 strings, a
``FractionalPercent`` as a fraction, ``retry_on`` as a token set). Operators: ``{$absent: true}`` (unset,
or equal to its default; ``false``: set), ``{$set: [...]}`` (same elements, any order),
``{$includes: [...]}``, ``{$excludes: [...]}``, ``{$len: n}``.

A ``rejected`` status (``{rejected: "<text>"}``) expects meshsim to refuse the input with a
:class:`~meshsim.errors.ConfigError` containing the text, as istiod's validation refuses it.

A ``not_modelled`` case passes when meshsim's findings contain the warning; its ``checks`` record what
istiod emits, and if they start to match, the case fails so the marker gets removed. ``xfail`` cases are
strict: a fix makes them fail until the marker is dropped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshsim.errors import ConfigError
from meshsim.pipeline import load_and_compile
from meshsim.xds import build_snapshot, plan_ports
from meshsim.xds.common import TYPE_CLUSTER, TYPE_LISTENER, TYPE_ROUTE

HERE = Path(__file__).resolve().parent
COMMON = HERE / "_common"
HCM = "envoy.filters.network.http_connection_manager"

# Envoy's defaults for fields a case compares, keyed by the path with list indices removed. Sources
# (envoyproxy/envoy, api/envoy/...):
#   config/route/v3/route_components.proto: RouteMatch.case_sensitive (true); RouteAction.timeout (15s);
#     RetryPolicy.num_retries (1), host_selection_retry_max_attempts (1), retry_back_off (base 25 ms,
#     max 10x base), retry_host_predicate / retriable_status_codes (empty); HeaderMatcher.invert_match,
#     treat_missing_header_as_empty (false); RouteAction.max_grpc_timeout and
#     MaxStreamDuration.grpc_timeout_header_max unset = the grpc-timeout header is ignored;
#     MaxStreamDuration.max_stream_duration unset = no limit (as 0s).
#   type/matcher/v3/string.proto: StringMatcher.ignore_case (false).
#   type/v3/percent.proto: FractionalPercent.denominator (HUNDRED).
#   config/cluster/v3/cluster.proto: Cluster.type (STATIC), lb_policy (ROUND_ROBIN), connect_timeout (5s);
#     CommonLbConfig.healthy_panic_threshold (50%).
#   config/cluster/v3/circuit_breaker.proto: Thresholds max_connections / max_pending_requests /
#     max_requests (1024), max_retries (3), priority (DEFAULT), track_remaining (false);
#     RetryBudget.budget_percent (20%), min_retry_concurrency (3).
#   config/cluster/v3/outlier_detection.proto: consecutive_5xx (5), interval (10s), base_ejection_time
#     (30s), max_ejection_percent (10), enforcing_consecutive_5xx (100), enforcing_success_rate (100),
#     consecutive_gateway_failure (5), enforcing_consecutive_gateway_failure (0), max_ejection_time
#     (300s), split_external_local_origin_errors (false).
_UNSET = object()
ENVOY_DEFAULTS: dict[str, Any] = {
    "match.case_sensitive": True,
    "match.headers": [],
    "match.headers.invert_match": False,
    "match.headers.treat_missing_header_as_empty": False,
    "match.headers.present_match": _UNSET,
    "match.headers.string_match.ignore_case": False,
    "route.timeout": 15.0,
    "route.retry_policy": _UNSET,
    "route.retry_policy.num_retries": 1,
    "route.retry_policy.host_selection_retry_max_attempts": 1,
    "route.retry_policy.retry_host_predicate": [],
    "route.retry_policy.retriable_status_codes": [],
    "route.retry_policy.per_try_timeout": _UNSET,
    "route.retry_policy.retry_priority": _UNSET,
    "route.max_grpc_timeout": _UNSET,
    "route.max_stream_duration": {},
    "route.max_stream_duration.max_stream_duration": 0.0,
    "route.max_stream_duration.grpc_timeout_header_max": _UNSET,
    "route.hash_policy": [],
    "typed_per_filter_config": {},
    "type": "STATIC",
    "lb_policy": "ROUND_ROBIN",
    "connect_timeout": 5.0,
    "common_lb_config.healthy_panic_threshold.value": 50.0,
    "circuit_breakers.thresholds.max_connections": 1024,
    "circuit_breakers.thresholds.max_pending_requests": 1024,
    "circuit_breakers.thresholds.max_requests": 1024,
    "circuit_breakers.thresholds.max_retries": 3,
    "circuit_breakers.thresholds.priority": "DEFAULT",
    "circuit_breakers.thresholds.track_remaining": False,
    "circuit_breakers.thresholds.retry_budget": _UNSET,
    "circuit_breakers.thresholds.retry_budget.budget_percent.value": 20.0,
    "circuit_breakers.thresholds.retry_budget.min_retry_concurrency": 3,
    "outlier_detection": _UNSET,
    "outlier_detection.consecutive_5xx": 5,
    "outlier_detection.interval": 10.0,
    "outlier_detection.base_ejection_time": 30.0,
    "outlier_detection.max_ejection_percent": 10,
    "outlier_detection.enforcing_consecutive_5xx": 100,
    "outlier_detection.enforcing_success_rate": 100,
    "outlier_detection.consecutive_gateway_failure": 5,
    "outlier_detection.enforcing_consecutive_gateway_failure": 0,
    "outlier_detection.max_ejection_time": 300.0,
    "outlier_detection.split_external_local_origin_errors": False,
}
_DURATION = re.compile(r"^-?\d+(\.\d+)?s$")


def _scalar(v: Any) -> Any:
    """Protobuf-JSON spellings of one value: ``"0.025s"`` -> 0.025, ``"5"`` (uint64) -> 5."""
    if isinstance(v, str):
        if _DURATION.match(v):
            return float(v[:-1])
        if v.isdigit():
            return int(v)
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    return v


def _shape(v: Any, path: str) -> Any:
    """Normalise the representations Envoy treats as the same configuration.

    - ``retry_host_predicate``: the predicates' names (their typed_config is empty).
    - ``retry_back_off``: both intervals filled in (Envoy: base 25 ms, max 10x base).
    - a ``FractionalPercent``: the fraction it stands for.
    - ``outlier_detection``: a consecutive_5xx / consecutive_gateway_failure threshold whose
      ``enforcing_*`` percentage is 0 never ejects a host, so the threshold is dropped.
    - a route's header matcher: the name lower-cased (Envoy matches header names case-insensitively,
      as HTTP defines them; it stores them as ``Http::LowerCaseString``).
    - ``route`` (a RouteAction): ``weighted_clusters`` with a single entry (no per-cluster
      options) sends everything to that cluster, so it becomes ``cluster``.
    - a route ``match`` with ``safe_regex``: ``case_sensitive`` is dropped, since Envoy ignores it for regex
      path matching (api/envoy/config/route/v3/route_components.proto, ``RouteMatch.case_sensitive``), whatever
      istiod writes there.
    """
    if path == "match" and isinstance(v, dict) and "safe_regex" in v:
        return {k: x for k, x in v.items() if k != "case_sensitive"}
    if path == "outlier_detection" and isinstance(v, dict):
        v = dict(v)
        for count, enforcing in (
            ("consecutive_5xx", "enforcing_consecutive_5xx"),
            ("consecutive_gateway_failure", "enforcing_consecutive_gateway_failure"),
        ):
            if _scalar(v.get(enforcing, ENVOY_DEFAULTS[f"outlier_detection.{enforcing}"])) == 0:
                v.pop(count, None)
                v[enforcing] = 0
        return v
    if path == "match.headers" and isinstance(v, dict) and isinstance(v.get("name"), str):
        return {**v, "name": v["name"].lower()}
    if path == "route" and isinstance(v, dict):
        wc = v.get("weighted_clusters", {}).get("clusters", [])
        if len(wc) == 1 and set(wc[0]) <= {"name", "weight"} and set(v["weighted_clusters"]) == {"clusters"}:
            v = {k: x for k, x in v.items() if k != "weighted_clusters"} | {"cluster": wc[0]["name"]}
        return v
    if path == "route.retry_policy.retry_host_predicate" and isinstance(v, list):
        return [p["name"] if isinstance(p, dict) else p for p in v]
    if path == "route.retry_policy.retry_back_off" and isinstance(v, dict):
        base = _scalar(v.get("base_interval", "0.025s"))
        return {"base_interval": base, "max_interval": _scalar(v.get("max_interval", f"{base * 10}s"))}
    if isinstance(v, dict) and "numerator" in v and set(v) <= {"numerator", "denominator"}:
        per = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}[v.get("denominator", "HUNDRED")]
        return {"fraction": int(v["numerator"]) / per}
    return v


def _default(path: str) -> Any:
    if path == "route.retry_policy.retry_back_off":
        return {"base_interval": 0.025, "max_interval": 0.25}
    return ENVOY_DEFAULTS.get(path, _UNSET)


def _norm(v: Any, path: str) -> Any:
    if v is _UNSET:
        return v
    if path == "route.retry_policy.retry_on":  # Envoy parses a token set: order is irrelevant
        return sorted(t for t in v.split(",") if t) if isinstance(v, str) else sorted(v)
    v = _shape(v, path)
    if isinstance(v, dict):
        return {k: _norm(x, f"{path}.{k}" if path else k) for k, x in v.items() if not k.startswith("@")}
    if isinstance(v, list):
        return [_norm(x, path) for x in v]
    return _scalar(v)


def _is_op(v: Any) -> bool:
    return isinstance(v, dict) and len(v) == 1 and next(iter(v)).startswith("$")


def _compare(exp: Any, act: Any, path: str, errors: list[str]) -> None:
    """Append to ``errors`` every place where ``act`` (normalised, _UNSET if missing) differs from ``exp``."""
    if _is_op(exp):
        ((op, arg),) = exp.items()
        if op == "$absent":
            dflt = _default(path)
            ok = act is _UNSET or (dflt is not _UNSET and act == _norm(dflt, path))
            if ok != bool(arg):
                errors.append(f"{path}: expected {'unset' if arg else 'set'}, got {act!r}")
        elif op in ("$set", "$includes", "$excludes"):
            want = [_norm(x, path) for x in arg]
            got = act if isinstance(act, list) else []
            if op == "$excludes":
                missing, extra = [], [x for x in want if x in got]
            else:
                missing = [x for x in want if x not in got]
                extra = [x for x in got if x not in want] if op == "$set" else []
            if missing or extra:
                errors.append(f"{path}: missing {missing}, unexpected {extra}")
        elif op == "$len":
            n = len(act) if isinstance(act, list) else 0
            if n != arg:
                errors.append(f"{path}: expected {arg} items, got {n}")
        else:
            raise ValueError(f"unknown operator {op} at {path}")
        return
    exp = _norm(exp, path)
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            errors.append(f"{path}: expected {exp!r}, got {act!r}")
            return
        for k in sorted(set(exp) | set(act)):
            sub = f"{path}.{k}" if path else k
            e = exp.get(k, _norm(_default(sub), sub))
            a = act.get(k, _norm(_default(sub), sub))
            if k not in exp and e is _UNSET:
                errors.append(f"{sub}: unexpected field {a!r}")
                continue
            _compare(e, a, sub, errors)
        return
    if isinstance(exp, list):
        if not isinstance(act, list) or len(act) != len(exp):
            errors.append(f"{path}: expected {exp!r}, got {act!r}")
            return
        for i, (e, a) in enumerate(zip(exp, act, strict=True)):
            if isinstance(e, dict):
                _compare(e, a, path, errors)
            elif e != a:
                errors.append(f"{path}[{i}]: expected {e!r}, got {a!r}")
        return
    if exp != act:
        errors.append(f"{path}: expected {exp!r}, got {act!r}")


def _resolve(obj: Any, dotted: str) -> tuple[Any, str]:
    """The value at ``dotted`` (``a.b[0].c``) in ``obj`` (normalised), with the index-free path.

    A missing field yields Envoy's default for it, or _UNSET.
    """
    cur: Any = obj
    plain: list[str] = []
    for part in dotted.split("/" if "/" in dotted else "."):
        m = re.fullmatch(r"([^\[]+)((?:\[\d+\])*)", part)
        assert m, f"bad field path {dotted!r}"
        key, idx = m.group(1), [int(i) for i in re.findall(r"\d+", m.group(2))]
        plain.append(key)
        p = ".".join(plain)
        cur = cur.get(key, _UNSET) if isinstance(cur, dict) else _UNSET
        if cur is _UNSET:
            cur = _default(p)
        for i in idx:
            cur = cur[i] if isinstance(cur, list) and i < len(cur) else _UNSET
    plain_path = ".".join(plain)
    return _norm(cur, plain_path), plain_path


def _route_configs(resources: dict[str, list[dict]]) -> list[dict]:
    """Every RouteConfiguration of a snapshot: RDS ones and those inline in listeners' HCMs."""
    out = list(resources.get(TYPE_ROUTE, []))
    for lst in resources.get(TYPE_LISTENER, []):
        for chain in lst.get("filter_chains", []):
            for f in chain.get("filters", []):
                if f.get("name") == HCM and "route_config" in f.get("typed_config", {}):
                    out.append(f["typed_config"]["route_config"])
    return out


def _find(resources: dict[str, list[dict]], check: dict) -> Any:
    if "cluster" in check:
        found = [c for c in resources.get(TYPE_CLUSTER, []) if c["name"] == check["cluster"]]
        return found[0] if found else None
    if "listener" in check:
        found = [x for x in resources.get(TYPE_LISTENER, []) if x["name"] == check["listener"]]
        return found[0] if found else None
    name = check["virtual_host"]
    vhs = [vh for rc in _route_configs(resources) for vh in rc.get("virtual_hosts", []) if vh["name"] == name]
    if not vhs:
        return None
    vh = vhs[0]
    if "route" not in check:
        return vh
    routes = vh.get("routes", [])
    return routes[check["route"]] if check["route"] < len(routes) else None


def _select_virtual_host(rc: dict, host: str) -> str | None:
    """The virtual host Envoy picks in RouteConfiguration ``rc`` for Host ``host``, by name.

    Envoy (config/route/v3/route.proto ``ignore_port_in_host_matching``, route_components.proto
    ``VirtualHost.domains``): the port is stripped first when ``ignore_port_in_host_matching`` is set;
    then an exact domain wins over the longest ``*.suffix`` wildcard, then the longest ``prefix.*``
    wildcard, then ``*``. Host matching is case-insensitive.
    """
    host = host.lower()
    if rc.get("ignore_port_in_host_matching") and re.search(r":\d+$", host):
        host = host.rsplit(":", 1)[0]
    best: tuple[int, int, str] | None = None  # (rank, length, name); lower rank wins, then longer
    for vh in rc.get("virtual_hosts", []):
        for d in (x.lower() for x in vh.get("domains", [])):
            if d == host:
                cand = (0, len(d), vh["name"])
            elif d == "*":
                cand = (3, 0, vh["name"])
            elif d.startswith("*") and host.endswith(d[1:]) and len(host) > len(d) - 1:
                cand = (1, len(d), vh["name"])
            elif d.endswith("*") and host.startswith(d[:-1]) and len(host) > len(d) - 1:
                cand = (2, len(d), vh["name"])
            else:
                continue
            if best is None or (cand[0], -cand[1]) < (best[0], -best[1]):
                best = cand
    return best[2] if best else None


def _host_check(resources: dict[str, list[dict]], check: dict) -> list[str]:
    picked = [_select_virtual_host(rc, check["host"]) for rc in resources.get(TYPE_ROUTE, [])]
    got = next((p for p in picked if p is not None), None)
    if "selects" in check and got != check["selects"]:
        return [f"Host {check['host']!r}: selects virtual host {got!r}, expected {check['selects']!r}"]
    if "not_selects" in check and got == check["not_selects"]:
        return [f"Host {check['host']!r}: selects virtual host {got!r}, which istiod would not"]
    return []


def _mismatches(case: Path, spec: dict) -> tuple[list[str], list[str]]:
    """(field differences, findings) of one case compiled by meshsim."""
    own = case / "topology.yaml"
    base = [own] if own.exists() else [COMMON / "topology.yaml", COMMON / "load.yaml"]
    istio = case / "istio.yaml"
    # a case with no Istio object (Istio's defaults) has only comments there: meshsim refuses empty files
    has_objects = any(ln.strip() and not ln.lstrip().startswith("#") for ln in istio.read_text().splitlines())
    paths = [str(p) for p in (*base, *([istio] if has_objects else []))]
    model, findings = load_and_compile(paths)
    snap = build_snapshot(model, spec["proxy"], plan_ports(model))
    errors: list[str] = []
    for check in spec["checks"]:
        if "host" in check:
            errors.extend(_host_check(snap.resources, check))
            continue
        what = {k: v for k, v in check.items() if k != "fields"}
        target = _find(snap.resources, check)
        if target is None:
            errors.append(f"{what}: not found in {spec['proxy']}'s resources")
            continue
        target = _norm(target, "")
        for dotted, exp in check.get("fields", {}).items():
            act, plain = _resolve(target, dotted)
            sub: list[str] = []
            _compare(exp, act, plain, sub)
            errors.extend(f"{what}: {e}" for e in sub)
    return errors, [str(f) for f in findings]


def _cases() -> list[Any]:
    params = []
    for d in sorted(p for p in HERE.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        spec = yaml.safe_load((d / "expect.yaml").read_text())
        status = spec.get("status", "pass")
        marks = []
        if isinstance(status, dict) and "xfail" in status:
            marks.append(pytest.mark.xfail(strict=True, reason=status["xfail"]))
        params.append(pytest.param(d, spec, id=d.name, marks=marks))
    return params


CASES = _cases()


def test_case_count() -> None:
    """The suite keeps at least 100 cases, each citing an Istio source file, test or code path, and commit."""
    assert len(CASES) >= 100
    for p in CASES:
        src = p.values[1]["source"]
        assert src.get("file") and src.get("commit") and (src.get("test") or src.get("code")), p.id


@pytest.mark.parametrize(("case", "spec"), CASES)
def test_istio_conformance(case: Path, spec: dict) -> None:
    status = spec.get("status", "pass")
    if isinstance(status, dict) and "rejected" in status:
        with pytest.raises(ConfigError, match=re.escape(status["rejected"])):
            _mismatches(case, spec)
        return
    errors, findings = _mismatches(case, spec)
    if isinstance(status, dict) and "not_modelled" in status:
        want = status["not_modelled"]
        assert any(want in f for f in findings), f"no finding contains {want!r}: {findings}"
        assert errors, "istiod's fields now match: meshsim models this, so drop the not_modelled status"
        return
    assert not errors, "\n".join(errors)


# ---------------------------------------------------------------------------------------------- the harness itself


def _diff(exp: Any, act: Any, path: str) -> list[str]:
    errors: list[str] = []
    _compare(exp, _norm(act, path) if act is not _UNSET else act, path, errors)
    return errors


def test_unset_field_equals_envoy_default() -> None:
    assert _diff({"num_retries": 1, "retry_on": "5xx"}, {"retry_on": "5xx"}, "route.retry_policy") == []
    assert _diff({"num_retries": 2}, {}, "route.retry_policy") != []
    assert _resolve({}, "route.timeout") == (15.0, "route.timeout")


def test_differences_and_extra_fields_are_reported() -> None:
    assert _diff({"exact": "a"}, {"exact": "b"}, "match.headers.string_match")
    # a field meshsim sets that istiod does not, with no default to excuse it, is a difference
    assert _diff(
        {"name": "x", "present_match": True},
        {"name": "x", "present_match": True, "invert_match": True},
        "match.headers",
    )
    assert _diff({"name": "x"}, {"name": "x", "safe_regex": {"regex": "*"}}, "match.headers")


def test_equivalent_spellings() -> None:
    pct = "typed_per_filter_config.fault.delay.percentage"
    assert (
        _diff({"numerator": 30, "denominator": "HUNDRED"}, {"numerator": 300000, "denominator": "MILLION"}, pct) == []
    )
    assert _diff({"numerator": 30}, {"numerator": 31, "denominator": "HUNDRED"}, pct)
    assert _diff("0.25s", "0.250s", "route.timeout") == []
    assert _diff({"retry_on": "a,b"}, {"retry_on": "b,a"}, "route.retry_policy") == []
    assert (
        _diff(
            {"base_interval": "0.01s"},
            {"base_interval": "0.01s", "max_interval": "0.1s"},
            "route.retry_policy.retry_back_off",
        )
        == []
    )
    assert _diff(
        {"base_interval": "0.01s"},
        {"base_interval": "0.01s", "max_interval": "0.2s"},
        "route.retry_policy.retry_back_off",
    )
    one = {"weighted_clusters": {"clusters": [{"name": "c", "weight": 100}]}}
    assert _diff({"cluster": "c"}, one, "route") == []


def test_outlier_threshold_without_enforcement_is_ignored() -> None:
    od = "outlier_detection"
    assert (
        _diff(
            {"consecutive_5xx": 0, "enforcing_consecutive_5xx": 0},
            {"consecutive_5xx": 5, "enforcing_consecutive_5xx": 0},
            od,
        )
        == []
    )
    assert _diff({"consecutive_5xx": 7}, {"consecutive_5xx": 5}, od)


def test_virtual_host_selection() -> None:
    rc = {
        "ignore_port_in_host_matching": True,
        "virtual_hosts": [
            {"name": "a", "domains": ["a.ns.svc.cluster.local", "a"]},
            {"name": "wild", "domains": ["*.ns.svc.cluster.local"]},
            {"name": "any", "domains": ["*"]},
        ],
    }
    assert _select_virtual_host(rc, "a:8080") == "a"
    assert _select_virtual_host(rc, "A.ns.svc.cluster.local") == "a"
    assert _select_virtual_host(rc, "b.ns.svc.cluster.local") == "wild"
    assert _select_virtual_host(rc, "other") == "any"
    assert _select_virtual_host({**rc, "ignore_port_in_host_matching": False}, "a:8080") == "any"

"""xDS translation: golden files per shipped scenario, IR -> Envoy field mapping, consistency checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from meshsim.model.ir import RetryPolicy
from meshsim.xds import (
    SnapshotError,
    build_all,
    build_snapshot,
    check_snapshot,
    plan_ports,
)
from meshsim.xds.common import (
    TYPE_CLUSTER,
    TYPE_ENDPOINT,
    TYPE_LISTENER,
    TYPE_ROUTE,
    duration,
)
from meshsim.xds.ports import PortPlanError
from meshsim.xds.routes import retry_policy
from meshsim.xds.snapshot import Snapshot

SHORT = {TYPE_CLUSTER: "clusters", TYPE_ENDPOINT: "endpoints", TYPE_LISTENER: "listeners", TYPE_ROUTE: "routes"}


def test_golden(scenario: str, refresh_golden: bool, golden_dir, load_model) -> None:  # noqa: ANN001
    name = scenario
    model = load_model(name)
    plan = plan_ports(model)
    snaps = build_all(model, plan)
    for pid, snap in snaps.items():
        got = {SHORT[t]: r for t, r in snap.resources.items()}
        path = golden_dir / name / f"{pid}.json"
        text = json.dumps(got, indent=1, sort_keys=True) + "\n"
        if refresh_golden:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            continue
        assert path.exists(), f"no golden file {path}; run pytest tests/xds --refresh-golden"
        assert text == path.read_text(), f"{path} differs; if intended, run pytest tests/xds --refresh-golden"


def test_durations() -> None:
    assert duration(0) == "0s"
    assert duration(0.025) == "0.025s"
    assert duration(10) == "10s"
    assert duration(1.5) == "1.5s"
    assert duration(1e-9) == "0.000000001s"


def test_retry_policy_mapping() -> None:
    rp = RetryPolicy(
        num_retries=3,
        retry_on=frozenset({"gateway-error", "retriable-status-codes", "connect-failure"}),
        retriable_status_codes=frozenset({503, 409}),
        per_try_timeout=0.1,
        backoff_base=0.01,
        backoff_max=0.1,
        previous_hosts=True,
        host_selection_retry_max_attempts=5,
    )
    out = retry_policy(rp)
    assert out["retry_on"] == "connect-failure,gateway-error,retriable-status-codes"
    assert out["num_retries"] == 3
    assert out["retriable_status_codes"] == [409, 503]
    assert out["per_try_timeout"] == "0.1s"
    assert out["retry_back_off"] == {"base_interval": "0.01s", "max_interval": "0.1s"}
    assert out["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"
    assert out["host_selection_retry_max_attempts"] == "5"
    no_pred = retry_policy(dataclasses.replace(rp, previous_hosts=False, per_try_timeout=None))
    assert "retry_host_predicate" not in no_pred and "per_try_timeout" not in no_pred
    # istiod's newRetryPolicy sets 5 with or without the predicate (route/retry/retry.go)
    assert no_pred["host_selection_retry_max_attempts"] == "5"


def _routes(snap: Snapshot, host_prefix: str) -> list[dict]:
    (rc,) = snap.resources[TYPE_ROUTE]
    (vh,) = [v for v in rc["virtual_hosts"] if v["name"].startswith(host_prefix)]
    assert vh["include_request_attempt_count"] is True
    return vh["routes"]


def test_chain_mapping(load_model) -> None:  # noqa: ANN001
    model = load_model("chain-split-retry")
    plan = plan_ports(model)
    snap = build_snapshot(model, "frontend-v1-0", plan)
    (mid,) = _routes(snap, "middle.")
    wc = mid["route"]["weighted_clusters"]["clusters"]
    assert [(w["name"].split("|")[2], w["weight"]) for w in wc] == [("v1", 90), ("v2", 10)]
    assert "total_weight" not in mid["route"]["weighted_clusters"]
    assert mid["route"]["timeout"] == "0s"  # Istio: no VS timeout = disabled
    # Istio default retry policy on a VS route without retries [1.24+]: no 503
    assert (
        mid["route"]["retry_policy"]["retry_on"]
        == "cancelled,connect-failure,refused-stream,retriable-status-codes,unavailable"
    )
    assert "retriable_status_codes" not in mid["route"]["retry_policy"]
    (leaf,) = _routes(snap, "leaf.")
    assert leaf["route"]["retry_policy"]["retry_on"] == "5xx"
    assert leaf["route"]["retry_policy"]["num_retries"] == 2
    clusters = {c["name"]: c for c in snap.resources[TYPE_CLUSTER]}
    t = clusters["outbound|8080||leaf.default.svc.cluster.local"]["circuit_breakers"]["thresholds"][0]
    assert t["max_retries"] == t["max_requests"] == t["max_pending_requests"] == t["max_connections"] == 2**32 - 1
    assert clusters["outbound|8080||leaf.default.svc.cluster.local"]["lb_policy"] == "LEAST_REQUEST"
    inbound = clusters["inbound|8080||"]
    assert inbound["type"] == "STATIC"
    addr = inbound["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (addr["address"], addr["port_value"]) == plan.app_address("frontend-v1-0")
    clas = {c["cluster_name"]: c for c in snap.resources[TYPE_ENDPOINT]}
    leaf_eps = clas["outbound|8080||leaf.default.svc.cluster.local"]["endpoints"][0]["lb_endpoints"]
    assert sorted(e["endpoint"]["address"]["socket_address"]["address"] for e in leaf_eps) == sorted(
        [plan.ip("leaf-v1-0"), plan.ip("leaf-v1-1")]
    )
    listeners = {lst["name"]: lst for lst in snap.resources[TYPE_LISTENER]}
    assert listeners["virtualOutbound"]["address"]["socket_address"]["port_value"] == plan.outbound_port
    assert listeners["virtualInbound"]["address"]["socket_address"]["port_value"] == 8080
    inbound_route = listeners["virtualInbound"]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    r = inbound_route["virtual_hosts"][0]["routes"][0]["route"]
    assert r == {
        "cluster": "inbound|8080||",
        "timeout": "0s",
        "retry_policy": {"retry_on": "reset-before-request", "num_retries": 2},
        "max_stream_duration": {"grpc_timeout_header_max": "0s"},
    }


def test_features_mapping(load_model) -> None:  # noqa: ANN001
    model = load_model("features")
    plan = plan_ports(model)
    snap = build_snapshot(model, "gateway-v1-0", plan)
    testers = [r for r in _routes(snap, "api.") if r["name"] == "testers"]
    assert len(testers) == 2  # two OR'ed matches -> two Envoy routes
    assert testers[0]["match"]["headers"] == [{"name": "end-user", "string_match": {"exact": "tester"}}]
    assert testers[1]["match"]["prefix"] == "/beta"
    assert testers[1]["match"]["headers"] == [{"name": ":method", "string_match": {"exact": "POST"}}]
    fault = testers[0]["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["delay"] == {"fixed_delay": "0.005s", "percentage": {"numerator": 100000, "denominator": "MILLION"}}
    assert fault["abort"] == {"http_status": 500, "percentage": {"numerator": 10000, "denominator": "MILLION"}}
    assert testers[0]["route"]["timeout"] == "1s"
    (store,) = _routes(snap, "store.")
    rp = store["route"]["retry_policy"]
    assert rp["retry_on"] == "connect-failure,gateway-error,retriable-status-codes"
    assert rp["retriable_status_codes"] == [503]
    assert rp["per_try_timeout"] == "0.1s"
    assert rp["retry_back_off"] == {"base_interval": "0.01s", "max_interval": "0.1s"}
    assert store["route"]["timeout"] == "0.5s"
    clusters = {c["name"]: c for c in snap.resources[TYPE_CLUSTER]}
    sc = clusters["outbound|8080||store.default.svc.cluster.local"]
    t = sc["circuit_breakers"]["thresholds"][0]
    assert (t["max_connections"], t["max_pending_requests"], t["max_requests"], t["max_retries"]) == (64, 32, 128, 8)
    assert t["retry_budget"] == {"budget_percent": {"value": 25.0}, "min_retry_concurrency": 2}
    od = sc["outlier_detection"]
    assert od["consecutive_5xx"] == 7 and od["interval"] == "5s" and od["base_ejection_time"] == "15s"
    assert od["max_ejection_percent"] == 50 and od["enforcing_consecutive_gateway_failure"] == 0
    assert sc["common_lb_config"]["healthy_panic_threshold"]["value"] == 0.0
    proto = sc["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert proto["explicit_http_config"] == {"http2_protocol_options": {"max_concurrent_streams": 1024}}
    assert clusters["outbound|9090||cache.default.svc.cluster.local"]["lb_policy"] == "ROUND_ROBIN"
    v2 = clusters["outbound|8080|v2|api.default.svc.cluster.local"]
    opts = v2["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert opts["common_http_protocol_options"]["max_requests_per_connection"] == 100
    assert v2["lb_policy"] == "RANDOM"


def test_consistency_check_catches_dangling_cluster(load_model) -> None:  # noqa: ANN001
    model = load_model("chain-split-retry")
    plan = plan_ports(model)
    snap = build_snapshot(model, "frontend-v1-0", plan)
    res = {t: json.loads(json.dumps(r)) for t, r in snap.resources.items()}
    res[TYPE_CLUSTER] = [c for c in res[TYPE_CLUSTER] if "leaf" not in c["name"]]
    with pytest.raises(SnapshotError, match="leaf"):
        check_snapshot(Snapshot("frontend-v1-0", res, {}))
    res2 = {t: json.loads(json.dumps(r)) for t, r in snap.resources.items()}
    res2[TYPE_ENDPOINT] = res2[TYPE_ENDPOINT][1:]
    with pytest.raises(SnapshotError, match="no endpoints resource"):
        check_snapshot(Snapshot("frontend-v1-0", res2, {}))


def test_versions_are_content_hashes(load_model) -> None:  # noqa: ANN001
    model = load_model("chain-split-retry")
    plan = plan_ports(model)
    a = build_snapshot(model, "leaf-v1-0", plan)
    b = build_snapshot(model, "leaf-v1-0", plan)
    assert a.versions == b.versions
    c = build_snapshot(model, "leaf-v1-1", plan)
    assert c.versions[TYPE_LISTENER] != a.versions[TYPE_LISTENER]  # different pod address
    assert c.versions[TYPE_ROUTE] == a.versions[TYPE_ROUTE]


def test_port_plan_rejects_reserved_port(load_model) -> None:  # noqa: ANN001
    model = load_model("chain-split-retry")
    svc = dataclasses.replace(model.services[0], port=15001)
    bad = dataclasses.replace(model, services=(svc, *model.services[1:]))
    with pytest.raises(PortPlanError, match="15001"):
        plan_ports(bad)
    with pytest.raises(PortPlanError, match="loopback"):
        plan_ports(model, prefix="10.1")

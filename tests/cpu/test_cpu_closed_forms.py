"""The CPU model against closed forms (fixed seeds, everything but the CPU model switched off by
``fixtures/quiet.yaml`` unless a test says otherwise)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshsim.experiments.replicate import run_replications
from meshsim.metrics.results import Summary
from meshsim.metrics.summarize import summarize
from meshsim.pipeline import load_and_compile

FIX = Path(__file__).parent / "fixtures"
QUIET = str(FIX / "quiet.yaml")
BOOKINFO = Path(__file__).parents[2] / "topologies" / "bookinfo"


def _run(paths: list[str], overrides: tuple[str, ...] | list[str] = (), seed: int = 1, reps: int = 1) -> Summary:
    model, _ = load_and_compile(paths, list(overrides))
    results = run_replications(model, seed, reps)
    return summarize(model, results)


def _container(s: Summary, pod: str, container: str) -> Any:
    return next(c for c in s.containers if c.pod == pod and c.container == container)


def test_limit_below_a_requests_demand_throttles_as_cfs_arithmetic_says() -> None:
    # 30 ms of CPU, quota q = 20 ms per P = 100 ms, a request every 200 ms starting on a period boundary:
    # it runs q, waits P - q, runs the remaining 10 ms: latency 30 + 80 = 110 ms; it is active in 2
    # periods and throttled in 1, 80 ms each time; the container uses 30 ms / 200 ms = 0.15 cores
    s = _run([str(FIX / "throttle" / "mesh.yaml"), QUIET])
    n = s.entry.requests
    assert n == 50
    assert s.entry.latency_ms.p50.value == pytest.approx(110, rel=0.01)  # the sketch's 1 % accuracy
    assert s.entry.latency_ms.p99.value == pytest.approx(110, rel=0.01)
    app = _container(s, "app-v1-0", "app")
    assert app.limit_cores == 0.2 and app.request_cores == 0.2
    assert app.nr_periods == 2 * n
    assert app.nr_throttled == n
    assert app.throttled_time_s == pytest.approx(0.080 * n, rel=1e-6)
    assert app.cpu_cores == pytest.approx(0.15, rel=1e-4)
    assert app.utilization_of_limit == pytest.approx(0.75, rel=1e-4)


def test_the_same_demand_without_a_limit_is_not_throttled() -> None:
    s = _run(
        [str(FIX / "throttle" / "mesh.yaml"), QUIET],
        ["Deployment/app-v1.spec.template.spec.containers[0].resources={requests: {cpu: 200m}}"],
    )
    assert s.entry.latency_ms.p99.value == pytest.approx(30, rel=0.01)
    app = _container(s, "app-v1-0", "app")
    assert app.limit_cores is None and app.nr_throttled == 0 and app.nr_periods == 0


def _sharing(layout: str, overrides: tuple[str, ...] | list[str] = ()) -> Summary:
    d = FIX / "sharing"
    return _run([str(d / "mesh.yaml"), str(d / "deployments.yaml"), str(d / layout / "nodes.yaml"), QUIET], overrides)


def test_two_equal_cpu_bound_containers_on_one_core_halve_each_ones_throughput() -> None:
    # a and b each need 10 ms per request on one worker: alone on a core each serves 100 req/s; sharing
    # one core (processor sharing, equal shares) each runs at half speed: 50 req/s. front waits for both.
    alone = _sharing("separate")
    shared = _sharing("shared")
    x_alone = alone.entry.requests / 10.0
    x_shared = shared.entry.requests / 10.0
    assert x_alone == pytest.approx(100, rel=0.02)
    assert x_shared == pytest.approx(50, rel=0.02)
    for pod in ("a-v1-0", "b-v1-0"):
        assert _container(alone, pod, "app").cpu_cores == pytest.approx(1.0, rel=0.02)
        assert _container(shared, pod, "app").cpu_cores == pytest.approx(0.5, rel=0.02)
    node = next(n for n in shared.nodes if n.node == "node-ab")
    assert node.utilization == pytest.approx(1.0, rel=0.02)


def test_requests_weight_a_contended_node_as_cpu_shares_say() -> None:
    # requests 500m and 250m: cpu.shares 512 and 256. Both always runnable (open-loop overload, one worker
    # each) on one core: a gets 2/3 of it, b 1/3.
    dep = "spec.template.spec.containers[0].resources.requests.cpu"
    s = _sharing(
        "shared",
        [
            f"Deployment/a-v1.{dep}=500m",
            f"Deployment/b-v1.{dep}=250m",
            "LoadProfile.spec={entry: front, arrival: poisson, rate: 150, warmup: 1s, duration: 5s, drain: 1s}",
        ],
    )
    a = _container(s, "a-v1-0", "app")
    b = _container(s, "b-v1-0", "app")
    assert a.cpu_cores == pytest.approx(2 / 3, rel=0.01)
    assert b.cpu_cores == pytest.approx(1 / 3, rel=0.01)


def test_no_limit_and_no_contention_gives_todays_numbers() -> None:
    # Bookinfo with its Envoy CPU, mTLS crypto and sidecar latency as shipped, the CPU model forced on
    # (sidecars get Istio's default 100m/2000m, two workers) on nodes far larger than the load needs
    overrides = ["LoadProfile.spec.duration=10s", "MeshSettings.spec.cpu.nodeCores=64"]
    off = _run([str(BOOKINFO)], overrides, seed=3)
    on = _run([str(BOOKINFO)], [*overrides, "MeshSettings.spec.cpu.enabled=true"], seed=3)
    assert not off.containers and not off.nodes
    assert on.containers and on.nodes
    assert all(c.nr_throttled == 0 for c in on.containers)
    assert on.entry == off.entry
    assert on.edges == off.edges
    assert on.services == off.services
    assert on.proxies == off.proxies


def test_the_apps_own_http_cpu_is_part_of_its_quota() -> None:
    # MeshSettings app.cpuPerRequest 5 ms on top of the 30 ms step: 35 ms per request under the 20 ms quota,
    # starting on a period boundary: it runs 20 ms, waits 80 ms, runs 15 ms: 115 ms; 0.175 cores
    s = _run([str(FIX / "throttle" / "mesh.yaml"), QUIET], ["MeshSettings.spec.app.cpuPerRequest=5ms"])
    n = s.entry.requests
    assert s.entry.latency_ms.p50.value == pytest.approx(115, rel=0.01)
    app = _container(s, "app-v1-0", "app")
    assert app.nr_throttled == n
    assert app.cpu_cores == pytest.approx(0.175, rel=1e-4)


_CHAIN = """apiVersion: meshsim.io/v1alpha1
kind: MockServiceGraph
services:
- name: front
  isEntrypoint: true
  script:
  - call: back
  - call: back
- name: back
  script:
  - sleep: 2ms
---
apiVersion: meshsim.io/v1alpha1
kind: Node
metadata: {name: big}
spec: {cores: 8}
---
apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {name: chain}
spec: {entry: front, arrival: constant, rate: 50, warmup: 1s, duration: 10s}
"""


def test_http_cpu_per_request_and_per_call_is_counted_without_delaying_an_uncontended_app(tmp_path: Path) -> None:
    # front answers one request and makes two calls; back answers two: 50 req/s x (0.2 + 2 x 0.1) ms = 0.02
    # cores for front, 100 x 0.2 ms = 0.02 for back. On an idle 8-core node the CPU is already part of the
    # calibrated latency, so the entry latency is what it is with the charge off.
    f = tmp_path / "chain.yaml"
    f.write_text(_CHAIN)
    sets = ["MeshSettings.spec.app.cpuPerRequest=0.2ms", "MeshSettings.spec.app.cpuPerCall=0.1ms"]
    on, off = _run([str(f), QUIET], sets), _run([str(f), QUIET])
    assert _container(on, "front-v1-0", "app").cpu_cores == pytest.approx(0.02, rel=1e-3)
    assert _container(on, "back-v1-0", "app").cpu_cores == pytest.approx(0.02, rel=1e-3)
    assert _container(off, "front-v1-0", "app").cpu_cores == 0.0
    assert on.entry.latency_ms.p50.value == off.entry.latency_ms.p50.value
    assert on.entry.latency_ms.p99.value == off.entry.latency_ms.p99.value


def test_idle_cpu_is_one_burst_per_period_on_each_container() -> None:
    # app.idleCpu 10m and proxy.idleCpu 20m: 1 ms and 2 ms of CPU in every 100 ms period, whatever the traffic,
    # on top of the app's 30 ms per request (5 req/s: 0.15 cores) and the sidecar's nothing (quiet settings).
    # Every period of the 10 s window now has a runnable thread in the app container: 100 periods.
    s = _run(
        [str(FIX / "throttle" / "mesh.yaml"), QUIET],
        ["MeshSettings.spec.app.idleCpu=10m", "MeshSettings.spec.proxy.idleCpu=20m"],
    )
    app = _container(s, "app-v1-0", "app")
    proxy = _container(s, "app-v1-0", "istio-proxy")
    assert app.cpu_cores == pytest.approx(0.16, rel=1e-3)
    assert proxy.cpu_cores == pytest.approx(0.02, rel=1e-3)
    assert app.nr_periods == 100
    # the idle millisecond comes out of the same 20 ms quota, so each request is still throttled once
    assert app.nr_throttled == s.entry.requests


def test_idle_cpu_is_charged_only_inside_the_cpu_model() -> None:
    # the CPU model off: every container has unlimited CPU of its own and no container rows are reported
    s = _run(
        [str(FIX / "throttle" / "mesh.yaml"), QUIET],
        ["MeshSettings.spec.cpu.enabled=false", "MeshSettings.spec.proxy.idleCpu=20m"],
    )
    assert s.containers == []
    assert s.entry.latency_ms.p50.value == pytest.approx(30, rel=0.01)

"""The control plane and endpoint changes during a run (reference §8, §10)."""

from __future__ import annotations

from pathlib import Path

from scipy import stats

from meshsim.pipeline import load_and_compile, simulate

FIX = Path(__file__).parent / "fixtures"


def _run(files: list[str], sets: list[str] | None = None):
    model, _ = load_and_compile([str(FIX / f) for f in files], sets or [])
    return simulate(model, seed=3, workers=1)


def _edge(s):
    return [e for e in s.edges if e.source == "client.v1" and e.destination == "server"][0]


def test_killed_pod_errors_until_eds_update_match_hand_calculation() -> None:
    """Reference §10: between a pod's death (10 s) and the client's EDS update (endpoint delay 0.5 s
    + debounce 0.1 s + init 0.02 s + propagation 0.03 s = 10.65 s) the client keeps picking it. With
    RANDOM LB over 3 pods and no retries, each of the 130 calls in that window (200 req/s x 0.65 s)
    fails with probability 1/3 (503 UF): errors ~ Bin(130, 1/3); none before or after."""
    s = _run(["kill.yaml", "no-retries.yaml"])
    push = s.scenario.pushes[0]
    assert push.t_s == 10.6 and push.last_applied_s == 10.65
    e = _edge(s)
    errors = e.status_codes.get("503", 0)
    assert e.response_flags == {"UF": errors}
    lo, hi = stats.binom.interval(0.999, 130, 1 / 3)
    assert lo <= errors <= hi
    bad = [p for p in s.scenario.series if p.entry_success_rate is not None and p.entry_success_rate < 1]
    assert bad and all(10.0 <= p.t_s < 10.65 for p in bad)


def test_default_retry_policy_hides_the_dead_pod() -> None:
    """Reference §1.1/§10: Istio's default policy retries connect failures on another host
    (previous_hosts): no request fails, and the connect failures are the first tries that hit the
    dead pod, about Bin(130, 1/3) (a retry re-picks it only after 6 straight draws of it, (1/3)^6)."""
    s = _run(["kill.yaml"])
    e = _edge(s)
    assert e.status_codes == {"200": e.requests}
    cf = sum(c.counters.get("upstream_cx_connect_fail", 0) for c in s.clusters if c.proxy == "client-v1-0")
    lo, hi = stats.binom.interval(0.999, 130, 1 / 3)
    assert lo <= cf <= hi
    assert e.retries == cf


def test_config_change_reaches_proxies_after_debounce_and_propagation(tmp_path: Path) -> None:
    """Reference §8.1: a VirtualService applied at 5 s is pushed after the 100 ms quiet period; the
    split changes only once the client applied it, and the per-interval split follows."""
    vs = tmp_path / "scenario.yaml"
    vs.write_text(
        """
apiVersion: meshsim.io/v1alpha1
kind: Scenario
metadata: {name: shift}
spec:
  timeSeriesInterval: 1s
  events:
  - at: 5s
    apply:
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: backend}
      spec:
        hosts: [backend]
        http:
        - route:
          - {destination: {host: backend, subset: v1}, weight: 50}
          - {destination: {host: backend, subset: v2}, weight: 50}
---
apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {name: l}
spec: {entry: frontend, rate: 400, duration: 9s, warmup: 1s}
"""
    )
    model, _ = load_and_compile([str(FIX / "base.yaml"), str(vs)])
    s = simulate(model, seed=1, workers=1)
    push = s.scenario.pushes[0]
    assert push.t_s == 5.1 and push.changes == ["apply VirtualService backend"]
    assert 5.12 < push.last_applied_s < 5.3
    before = [p for p in s.scenario.series if 2 <= p.t_s < 5]
    after = [p for p in s.scenario.series if 6 <= p.t_s < 9]
    assert all("backend.v2" not in p.workloads for p in before)
    v2 = sum(p.workloads["backend.v2"].rps for p in after)
    v1 = sum(p.workloads["backend.v1"].rps for p in after)
    assert abs(v2 / (v1 + v2) - 0.5) < 0.05


def test_slow_errors_and_load_events(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        """
apiVersion: meshsim.io/v1alpha1
kind: Scenario
metadata: {name: s}
spec:
  events:
  - {at: 3s, slow: {service: backend, factor: 10, duration: 2s}}
  - {at: 6s, errors: {service: backend, rate: 100%, status: 503, duration: 1s}}
  - {at: 8s, load: {rate: 400, duration: 1s}}
---
apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {name: l}
spec: {entry: frontend, arrival: constant, rate: 100, duration: 10s, warmup: 0s}
"""
    )
    model, _ = load_and_compile([str(FIX / "base.yaml"), str(f)])
    s = simulate(model, seed=1, workers=1)
    by_t = {p.t_s: p for p in s.scenario.series}
    assert by_t[3.0].workloads["backend.v1"].p99_ms > 5 * by_t[1.0].workloads["backend.v1"].p99_ms
    assert by_t[6.0].entry_success_rate == 0.0 and by_t[7.0].entry_success_rate == 1.0
    # the arrival already scheduled at the change keeps the old spacing: within a few requests
    assert abs(by_t[8.0].entry_rps - 400) <= 5 and abs(by_t[9.0].entry_rps - 100) <= 5
    assert [e.action for e in s.scenario.events] == ["slow", "errors", "load"]

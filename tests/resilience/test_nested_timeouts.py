"""Timeouts that fire while the attempt they cut is itself waiting on a deeper attempt.

a -> b (app timeout 1 s) -> c (app timeout 2 s) -> c sleeps 5 s. At 1 s a gives up on b: b's work,
with b's own router still waiting on c, goes on without a; at 2 s b gives up on c while it is no
longer under a; c finishes at 5 s regardless. Every layer must see exactly its own timeout, and the
servers must keep working after their clients left (the engine runs attempts inline and detaches
them when a timer fires: ``Sidecar._router``, ``interrupt_wait``).
"""

from __future__ import annotations

from pathlib import Path

from tests.resilience.helpers import run

TOPOLOGY = """\
apiVersion: meshsim.io/v1alpha1
kind: MockServiceGraph
services:
- name: a
  isEntrypoint: true
  script:
  - call: {service: b, timeout: 1s}
- name: b
  script:
  - call: {service: c, timeout: 2s}
- name: c
  script:
  - sleep: {dist: constant, value: 5s}
---
apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {name: nested}
spec:
  entry: a
  arrival: constant
  rate: 2
  warmup: 1s
  duration: 20s
  drain: 10s
"""

ROUTE_TIMEOUT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: c}
spec:
  hosts: [c]
  http:
  - route:
    - destination: {host: c}
    timeout: 1500ms
"""


def _calls(s, src: str, dst: str):  # noqa: ANN001, ANN202
    (c,) = [c for c in s.calls if c.source.startswith(src) and c.destination == dst]
    return c


def test_each_layer_sees_its_own_timeout_and_servers_keep_working(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TOPOLOGY)
    s = run([str(tmp_path / "t.yaml")])
    n = s.entry.requests
    assert n == 40
    ab, bc = _calls(s, "a", "b"), _calls(s, "b", "c")
    assert ab.calls == n and ab.app_timeouts == n and ab.success_rate == 0.0
    # the run ends when the last entry request has its answer (1 s after it was sent), so b's calls
    # of the last ~2 s of the window are still open then and not counted
    assert n - 4 <= bc.calls < n and bc.app_timeouts == bc.calls
    assert abs(ab.latency_ms.p50.value - 1000) < 15 and abs(bc.latency_ms.p50.value - 2000) < 25
    assert abs(s.entry.latency_ms.p50.value - 1000) < 15
    svc = {(x.name, x.version): x for x in s.services}
    # c served every request to the end (5 s each) although nobody waited for it any more
    assert abs(svc[("c", "v1")].mean_residence_ms - 5000) < 1
    assert abs(svc[("b", "v1")].mean_residence_ms - 2000) < 25


def test_route_timeout_inside_a_detached_attempt(tmp_path: Path) -> None:
    """b -> c now also has a route timeout of 1.5 s (504 UT at b's sidecar), which fires after a has
    given up on b: the timer reaches b's router inside the detached attempt."""
    (tmp_path / "t.yaml").write_text(TOPOLOGY)
    (tmp_path / "vs.yaml").write_text(ROUTE_TIMEOUT)
    s = run([str(tmp_path / "t.yaml"), str(tmp_path / "vs.yaml")])
    n = s.entry.requests
    bc = _calls(s, "b", "c")
    assert n - 4 <= bc.calls < n and bc.app_timeouts == 0 and abs(bc.latency_ms.p50.value - 1500) < 20
    (e,) = [e for e in s.edges if e.source.startswith("b") and e.destination == "c"]
    assert e.response_flags.get("UT") == bc.calls and e.status_codes.get("504") == bc.calls

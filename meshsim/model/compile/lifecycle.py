"""A Deployment's pod template -> :class:`~meshsim.model.ir.PodLifecycle`: the app container's (the first that
is not ``istio-proxy``) ``readinessProbe`` timing, the pod's ``terminationGracePeriodSeconds``, and the
sidecar's ``terminationDrainDuration`` from the ``proxy.istio.io/config`` annotation (Istio's per-pod
``ProxyConfig`` override, YAML), else Istio's default 5 s (``pkg/config/mesh/mesh.go`` ``DefaultProxyConfig``).
Without a Deployment a workload gets Kubernetes' and Istio's defaults and no probe. How the timing is used:
:mod:`meshsim.model.rules.lifecycle`."""

from __future__ import annotations

import yaml

from meshsim.config.loader import Doc
from meshsim.model.compile.context import Ctx
from meshsim.model.ir import PodLifecycle, ReadinessProbe
from meshsim.units import parse_duration

__all__ = ["pod_lifecycle", "PROXY_CONFIG"]

PROXY_CONFIG = "proxy.istio.io/config"
"""Istio's pod annotation holding a ``ProxyConfig`` (YAML) that overrides the mesh's ``defaultConfig``."""


def pod_lifecycle(ctx: Ctx, dep: Doc | None) -> PodLifecycle:
    """The lifecycle timing of ``dep``'s pods (defaults without one); a bad annotation is an error naming it."""
    if dep is None:
        return PodLifecycle()
    tmpl = dep.obj.spec.template
    probe = None
    for c in tmpl.spec.containers:
        if c.name == "istio-proxy":
            continue
        p = c.readinessProbe
        if p is not None:
            probe = ReadinessProbe(float(p.initialDelaySeconds), float(p.periodSeconds), p.successThreshold)
        break
    drain = _drain(ctx, dep, tmpl.metadata.annotations.get(PROXY_CONFIG))
    return PodLifecycle(probe, float(tmpl.spec.terminationGracePeriodSeconds), drain)


def _drain(ctx: Ctx, dep: Doc, raw: str | None) -> float:
    default = PodLifecycle().drain_s
    if raw is None:
        return default
    loc = f"spec.template.metadata.annotations[{PROXY_CONFIG}]"
    try:
        cfg = yaml.safe_load(raw)
    except yaml.YAMLError:
        ctx.error(str(dep.source), loc, "is not YAML (a ProxyConfig such as 'terminationDrainDuration: 10s')")
        return default
    value = cfg.get("terminationDrainDuration") if isinstance(cfg, dict) else None
    if value is None:
        return default
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        ctx.error(str(dep.source), f"{loc}.terminationDrainDuration", str(exc))
        return default
    if seconds < 0:
        ctx.error(str(dep.source), f"{loc}.terminationDrainDuration", f"must be >= 0, got {value!r}")
        return default
    return seconds

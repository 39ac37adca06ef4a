"""HorizontalPodAutoscalers -> :class:`~meshsim.model.ir.HPAIR`: the target Deployment resolved to a workload,
the metrics meshsim can observe, the behavior with Kubernetes' defaults.

What meshsim observes (each a per-pod or per-Service value the simulator measures over a window):

- ``Pods`` metrics whose name says they are a request rate (it contains ``request``, as
  ``istio_requests_per_second`` or ``http_requests_per_second`` do): each pod's inbound requests/s;
- ``Object`` metrics on a ``Service``: that Service's inbound requests/s (every version);
- ``Resource`` ``cpu``: container CPU over the pods' requests, which needs the CPU model (pods with
  ``resources.requests.cpu``): without it the HPA would report "missing request for cpu", so it is an error.

Anything else (``External``, ``ContainerResource``, memory, other Pods metrics) is an error naming the metric:
meshsim cannot invent its value.
"""

from __future__ import annotations

from meshsim.config.hpa import HorizontalPodAutoscaler, MetricSpec, ScalingRulesSpec
from meshsim.config.loader import Doc, MeshConfig
from meshsim.config.meshsim_kinds import AutoscalingSettings
from meshsim.model.compile.context import Ctx
from meshsim.model.ir import HPAIR, Behavior, HPAMetricIR, ScalingPolicy, ScalingRules, Service, Workload
from meshsim.model.rules.hpa import default_scale_down, default_scale_up

__all__ = ["build_autoscalers"]


def build_autoscalers(ctx: Ctx, cfg: MeshConfig, services: list[Service]) -> tuple[HPAIR, ...]:
    """Every HPA of ``cfg`` resolved against ``services`` (order: namespace, name); errors go to ``ctx``: a
    ``scaleTargetRef`` that is not a Deployment of the mesh (istioctl-style ReferencedResourceNotFound), a
    metric meshsim cannot observe, or two HPAs on one Deployment (Kubernetes flags it as ``AmbiguousSelector``
    and scales neither)."""
    by_name: dict[tuple[str, str], Workload] = {}
    for svc in services:
        for wl in svc.workloads:
            by_name[(wl.namespace, wl.workload_name)] = wl
    out: list[HPAIR] = []
    seen: dict[str, str] = {}
    for doc in sorted(cfg.autoscalers, key=lambda d: (d.obj.metadata.namespace or "default", d.obj.metadata.name)):
        hpa = _one(
            ctx, doc, by_name, services, cfg.mesh_settings.spec.autoscaling, cfg.mesh_settings.spec.cpu.enabled is False
        )
        if hpa is None:
            continue
        if hpa.workload in seen:
            ctx.error(
                str(doc.source),
                "spec.scaleTargetRef",
                f"{hpa.workload} is already scaled by HorizontalPodAutoscaler {seen[hpa.workload]} (AmbiguousSelector)",
            )
            continue
        seen[hpa.workload] = f"{hpa.namespace}/{hpa.name}"
        out.append(hpa)
    return tuple(out)


def _one(
    ctx: Ctx,
    doc: Doc,
    by_name: dict[tuple[str, str], Workload],
    services: list[Service],
    a: AutoscalingSettings,
    cpu_off: bool,
) -> HPAIR | None:
    h: HorizontalPodAutoscaler = doc.obj
    src = str(doc.source)
    ns = h.metadata.namespace or "default"
    ref = h.spec.scaleTargetRef
    if ref.kind != "Deployment":
        ctx.error(src, "spec.scaleTargetRef.kind", f"meshsim scales Deployments, not {ref.kind}")
        return None
    wl = by_name.get((ns, ref.name))
    if wl is None:
        known = ", ".join(sorted(n for (n_ns, n) in by_name if n_ns == ns)) or "none"
        ctx.error(src, "spec.scaleTargetRef.name", f"no Deployment {ref.name!r} in namespace {ns} (known: {known})")
        return None
    metrics: list[HPAMetricIR] = []
    for i, m in enumerate(h.metric_list()):
        loc = f"spec.metrics[{i}]"
        metric = _metric(ctx, src, loc, m, wl, {s.name for s in services}, cpu_off)
        if metric is None:
            return None
        metrics.append(metric)
    return HPAIR(
        name=h.metadata.name,
        namespace=ns,
        service=wl.service,
        version=wl.version,
        min_replicas=h.spec.minReplicas,
        max_replicas=h.spec.maxReplicas,
        metrics=tuple(metrics),
        behavior=_behavior(h, a.tolerance, a.downscaleStabilization),
        sync_s=a.syncPeriod,
        tolerance=a.tolerance,
        downscale_window_s=a.downscaleStabilization,
        metric_window_s=a.metricWindow,
        startup_s=a.podStartup,
    )


def _metric(
    ctx: Ctx, src: str, loc: str, m: MetricSpec, wl: Workload, service_names: set[str], cpu_off: bool
) -> HPAMetricIR | None:
    t = m.type
    if t == "Pods" and m.pods is not None:
        p = m.pods
        if "request" not in p.metric.name.lower():
            ctx.error(
                src,
                f"{loc}.pods.metric.name",
                f"meshsim observes a pod's request rate only (a name containing 'request'), not {p.metric.name!r}",
            )
            return None
        return HPAMetricIR("Pods", p.metric.name, "AverageValue", p.target.amount())
    if t == "Object" and m.object is not None:
        o = m.object
        if o.describedObject.kind != "Service" or o.describedObject.name not in service_names:
            ctx.error(
                src,
                f"{loc}.object.describedObject",
                "meshsim observes the request rate of a Service of the mesh only, "
                f"not {o.describedObject.kind} {o.describedObject.name!r}",
            )
            return None
        if o.target.type == "Value":
            return HPAMetricIR("Object", o.describedObject.name, "Value", o.target.amount())
        return HPAMetricIR("Object", o.describedObject.name, "AverageValue", o.target.amount())
    if t == "Resource" and m.resource is not None and m.resource.name == "cpu":
        r = m.resource
        if wl.app_cpu.request_cores is None or wl.proxy_cpu.request_cores is None:
            why = (
                "a CPU metric needs the CPU model, which MeshSettings spec.cpu.enabled turns off"
                if cpu_off
                else f"a CPU metric needs CPU requests on every container of {wl.workload_name}'s pods "
                "(the HPA reports 'missing request for cpu'; set resources.requests.cpu and the sidecar's)"
            )
            ctx.error(src, f"{loc}.resource", why)
            return None
        if r.target.type in ("Utilization", "AverageValue"):
            return HPAMetricIR("Resource", "cpu", r.target.type, r.target.amount())
        ctx.error(src, f"{loc}.resource.target.type", "a Resource metric takes a Utilization or AverageValue target")
        return None
    what = (
        f"a Resource {m.resource.name!r} metric"
        if m.resource is not None
        else f"{'an' if t[0] in 'AEIOU' else 'a'} {t} metric"
    )
    ctx.error(src, f"{loc}.type", f"meshsim cannot observe {what} (it observes request rates and CPU)")
    return None


def _rules(r: ScalingRulesSpec | None, default: ScalingRules, tolerance: float) -> ScalingRules:
    """``copyHPAScalingRules``: the fields a user set, the default's for the rest."""
    default = ScalingRules(default.stabilization_s, default.policies, default.select, tolerance)
    if r is None:
        return default
    window, policies, select, tol = r.stabilizationWindowSeconds, r.policies, r.selectPolicy, r.tolerance
    return ScalingRules(
        stabilization_s=float(window) if window is not None else default.stabilization_s,
        policies=tuple(ScalingPolicy(p.type, p.value, float(p.periodSeconds)) for p in policies)
        if policies is not None
        else default.policies,
        select=select or default.select,
        tolerance=tol / 1000 if tol is not None else default.tolerance,
    )


def _behavior(h: HorizontalPodAutoscaler, tolerance: float, downscale_window_s: float) -> Behavior | None:
    """None without ``spec.behavior`` (the legacy path); else each direction with Kubernetes' defaults, a nil
    scale-down window taking the controller's ``--horizontal-pod-autoscaler-downscale-stabilization``."""
    b = h.spec.behavior
    if b is None:
        return None
    up = _rules(b.scaleUp, default_scale_up(), tolerance)
    down = _rules(b.scaleDown, default_scale_down(downscale_window_s), tolerance)
    return Behavior(up, down)

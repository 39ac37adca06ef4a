"""The CPU model's inputs: each pod's containers' CPU resources and the node it runs on.

- **Containers.** The app container's ``resources.requests.cpu``/``limits.cpu`` come from the Deployment
  (its first container that is not ``istio-proxy``). A limit without a request gets the limit as its
  request, as the API server defaults a Pod (``SetDefaults_Pod``, ``pkg/apis/core/v1/defaults.go``).
  The sidecar's come from Istio's pod annotations ``sidecar.istio.io/proxyCPU`` (request) and
  ``sidecar.istio.io/proxyCPULimit`` (limit); with none of the ``sidecar.istio.io/proxy{CPU,Memory}{,Limit}``
  annotations the injector writes ``global.proxy.resources``: request 100m, limit 2000m
  (``manifests/charts/istio-control/istio-discovery/values.yaml``); with any of them it writes only the
  annotated fields (``files/injection-template.yaml``, ``define "resources"``), so ``proxyCPU`` alone leaves
  the sidecar without a limit.
- **Envoy worker threads.** Istio's ``pilot-agent`` sets ``--concurrency`` from ``ISTIO_CPU_LIMIT``, the
  downward API's ``limits.cpu`` rounded up, which is the node's allocatable CPU when there is no limit
  (``pilot/cmd/pilot-agent/config/config.go`` ``ConstructProxyConfig``; kubelet
  ``defaultPodLimitsForDownwardAPI``). An explicit ``MeshSettings`` ``proxy.workers`` wins.
- **Placement.** A pod with ``nodeName`` runs on that node (which must exist); one with a ``nodeSelector``
  only on nodes whose labels (plus ``kubernetes.io/hostname: <name>``) match it (ignored when there are
  no ``Node`` documents: the nodes meshsim adds have no labels to match). Pods are placed
  first-fit-decreasing by CPU request (app + sidecar; ties in input order) on the ``Node`` documents in
  input order, as a bin-packing scheduler would (Kubernetes' scheduler scores differently; this is a
  simple, documented stand-in). A pod that fits no declared node is an error (it would stay Pending);
  without ``Node`` documents meshsim adds nodes of ``MeshSettings`` ``cpu.nodeCores`` (``node-0``,
  ``node-1``, ...) as the pods need them.

The model is on when ``MeshSettings`` ``cpu.enabled`` is true, or unset and the config has a Node or a CPU
request/limit/annotation; off, nothing here runs and every container has unlimited CPU of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from meshsim.config.kube import KubeNode
from meshsim.config.loader import Doc, MeshConfig
from meshsim.config.quantity import parse_cpu
from meshsim.model.compile.context import Ctx
from meshsim.model.ir import ContainerCPUSpec, NodeIR, Service
from meshsim.model.rules.cpu import envoy_concurrency

__all__ = [
    "ISTIO_PROXY_CPU_LIMIT",
    "ISTIO_PROXY_CPU_REQUEST",
    "PROXY_CPU",
    "PROXY_CPU_LIMIT",
    "app_cpu",
    "cpu_model_on",
    "place_pods",
    "proxy_cpu",
]

PROXY_CPU = "sidecar.istio.io/proxyCPU"
PROXY_CPU_LIMIT = "sidecar.istio.io/proxyCPULimit"
_PROXY_RESOURCE_ANNOTATIONS = (
    PROXY_CPU,
    PROXY_CPU_LIMIT,
    "sidecar.istio.io/proxyMemory",
    "sidecar.istio.io/proxyMemoryLimit",
)
ISTIO_PROXY_CPU_REQUEST = 0.1
"""``global.proxy.resources.requests.cpu`` (100m), Istio ``istio-discovery/values.yaml``."""
ISTIO_PROXY_CPU_LIMIT = 2.0
"""``global.proxy.resources.limits.cpu`` (2000m), Istio ``istio-discovery/values.yaml``."""
_ANN_LOC = "spec.template.metadata.annotations"


def _check(ctx: Ctx, src: str, loc: str, spec: ContainerCPUSpec) -> ContainerCPUSpec:
    """Default the request from the limit (Pod defaulting) and refuse a limit below the request."""
    if spec.request_cores is None and spec.limit_cores is not None:
        spec = replace(spec, request_cores=spec.limit_cores)
    if spec.request_cores is not None and spec.limit_cores is not None and spec.limit_cores < spec.request_cores:
        ctx.error(src, loc, f"CPU limit {spec.limit_cores:g} is below the request {spec.request_cores:g}")
    return spec


def app_cpu(ctx: Ctx, dep: Doc | None) -> ContainerCPUSpec:
    """The app container's CPU resources (cores) from a Deployment; empty without one."""
    if dep is None:
        return ContainerCPUSpec()
    containers = dep.obj.spec.template.spec.containers
    for i, c in enumerate(containers):
        if c.name == "istio-proxy":
            continue
        spec = ContainerCPUSpec(c.resources.requests.cpu, c.resources.limits.cpu)
        return _check(ctx, str(dep.source), f"spec.template.spec.containers[{i}].resources.limits.cpu", spec)
    return ContainerCPUSpec()


def proxy_cpu(ctx: Ctx, dep: Doc | None, workers: int | None) -> ContainerCPUSpec:
    """The ``istio-proxy`` container's CPU resources from the pod annotations (Istio's defaults without
    any); ``workers`` an explicit MeshSettings ``proxy.workers`` (else set from the limit at placement)."""
    ann = dep.obj.spec.template.metadata.annotations if dep is not None else {}
    if not any(a in ann for a in _PROXY_RESOURCE_ANNOTATIONS):
        return ContainerCPUSpec(ISTIO_PROXY_CPU_REQUEST, ISTIO_PROXY_CPU_LIMIT, workers)
    assert dep is not None
    src = str(dep.source)
    got: list[float | None] = []
    for key in (PROXY_CPU, PROXY_CPU_LIMIT):
        raw = ann.get(key)
        if raw is None:
            got.append(None)
            continue
        try:
            got.append(parse_cpu(raw))
        except ValueError as exc:
            ctx.error(src, f"{_ANN_LOC}.{key}", str(exc))
            got.append(None)
    spec = ContainerCPUSpec(got[0], got[1], workers)
    return _check(ctx, src, f"{_ANN_LOC}.{PROXY_CPU_LIMIT}", spec)


def cpu_model_on(cfg: MeshConfig) -> bool:
    """Whether the CPU model runs: MeshSettings ``cpu.enabled``, else whether any Node, container CPU
    resource or sidecar CPU annotation appears in the config."""
    flag = cfg.mesh_settings.spec.cpu.enabled
    if flag is not None:
        return flag
    if cfg.nodes:
        return True
    for d in cfg.deployments:
        tpl = d.obj.spec.template
        if any(a in tpl.metadata.annotations for a in (PROXY_CPU, PROXY_CPU_LIMIT)):
            return True
        for c in tpl.spec.containers:
            if c.resources.requests.cpu is not None or c.resources.limits.cpu is not None:
                return True
    return False


@dataclass
class _Pod:
    service: int
    workload: int
    replica: int
    name: str
    request: float
    node_name: str | None
    selector: dict[str, str]
    src: str


def _nodes(ctx: Ctx, cfg: MeshConfig, period: float) -> list[NodeIR]:
    out: list[NodeIR] = []
    for d in cfg.nodes:
        obj = d.obj
        if isinstance(obj, KubeNode):
            cores = obj.status.capacity.cpu
            if cores is None or cores <= 0:
                ctx.error(str(d.source), "status.capacity.cpu", "a Node needs a positive CPU capacity")
                continue
        else:
            cores = obj.spec.cores
        labels = {**obj.metadata.labels, "kubernetes.io/hostname": obj.metadata.name}
        out.append(NodeIR(obj.metadata.name, cores, period, tuple(sorted(labels.items()))))
    return out


def place_pods(
    ctx: Ctx, cfg: MeshConfig, services: list[Service], deps: dict[str, Doc | None]
) -> tuple[list[Service], tuple[NodeIR, ...]]:
    """Put every pod on a node (see the module docstring); ``deps`` maps workload keys to their
    Deployment. Returns the services with ``Workload.nodes`` filled (and Envoy's worker count settled)
    and the nodes; ``(services, ())`` unchanged when the CPU model is off.

    Errors (findings): a ``nodeName`` naming no node, a ``nodeSelector`` no node matches, a pod whose
    request fits no declared node."""
    if not cpu_model_on(cfg):
        return services, ()
    nodes = _nodes(ctx, cfg, cfg.mesh_settings.spec.cpu.cfsPeriod)
    pods = _pods(services, deps)
    free = {n.name: n.cores for n in nodes}
    # pods pinned by nodeName first (they bypass the scheduler), then first-fit-decreasing by request
    placed = _pin(ctx, pods, nodes, free)
    placed.update(_first_fit(ctx, cfg, pods, nodes, free))
    return _with_nodes(services, placed, nodes), tuple(nodes)


def _pods(services: list[Service], deps: dict[str, Doc | None]) -> list[_Pod]:
    """Every replica of every workload, with its CPU request (app plus sidecar, cores) and its
    Deployment's ``nodeName`` and ``nodeSelector``."""
    pods: list[_Pod] = []
    for si, svc in enumerate(services):
        for wi, wl in enumerate(svc.workloads):
            dep = deps.get(wl.key)
            src = str(dep.source) if dep is not None else ""
            pspec = dep.obj.spec.template.spec if dep is not None else None
            req = (wl.app_cpu.request_cores or 0.0) + (wl.proxy_cpu.request_cores or 0.0)
            for r in range(wl.replicas):
                pods.append(
                    _Pod(
                        si,
                        wi,
                        r,
                        f"{svc.name}-{wl.version}-{r}",
                        req,
                        pspec.nodeName if pspec is not None else None,
                        dict(pspec.nodeSelector) if pspec is not None else {},
                        src,
                    )
                )
    return pods


def _pin(ctx: Ctx, pods: list[_Pod], nodes: list[NodeIR], free: dict[str, float]) -> dict[tuple[int, int, int], str]:
    """Pods with a ``nodeName`` on that node, whatever it has free (as the kubelet takes them without the
    scheduler); ``free`` is updated. An unknown node is an error."""
    by_name = {n.name: n for n in nodes}
    placed: dict[tuple[int, int, int], str] = {}
    for p in pods:
        if p.node_name is None:
            continue
        if p.node_name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            ctx.error(
                p.src,
                "spec.template.spec.nodeName",
                f"pod {p.name} is placed on node {p.node_name!r}, which does not exist (nodes: {known})",
            )
            continue
        placed[(p.service, p.workload, p.replica)] = p.node_name
        free[p.node_name] -= p.request
    return placed


def _first_fit(
    ctx: Ctx, cfg: MeshConfig, pods: list[_Pod], nodes: list[NodeIR], free: dict[str, float]
) -> dict[tuple[int, int, int], str]:
    """The other pods, largest request first, each on the first node its selector matches with room for
    it. Without declared nodes, a pod that fits nowhere gets a new node (``cpu.nodeCores``, or its request
    rounded up), appended to ``nodes``; with declared nodes it is an error (it would stay Pending)."""
    cpu_cfg = cfg.mesh_settings.spec.cpu
    declared = bool(nodes)
    placed: dict[tuple[int, int, int], str] = {}
    added = 0
    for p in sorted((p for p in pods if p.node_name is None), key=lambda p: -p.request):
        sel = p.selector if declared else {}  # nodes meshsim adds have no labels to select on
        cands = [n for n in nodes if all(dict(n.labels).get(k) == v for k, v in sel.items())]
        if sel and not cands:
            ctx.error(
                p.src,
                "spec.template.spec.nodeSelector",
                f"no node has the labels {p.selector} that pod {p.name} selects",
            )
            continue
        fit = next((n for n in cands if free[n.name] + 1e-9 >= p.request), None)
        if fit is None:
            if declared:
                ctx.error(
                    p.src or "Node",
                    "resources.requests.cpu",
                    f"pod {p.name} requests {p.request:g} cores, more than any node has free (it would stay Pending)",
                )
                continue
            cores = max(cpu_cfg.nodeCores, float(math.ceil(p.request)))
            fit = NodeIR(f"node-{added}", cores, cpu_cfg.cfsPeriod, (("kubernetes.io/hostname", f"node-{added}"),))
            added += 1
            nodes.append(fit)
            free[fit.name] = fit.cores
        placed[(p.service, p.workload, p.replica)] = fit.name
        free[fit.name] -= p.request
    return placed


def _with_nodes(services: list[Service], placed: dict[tuple[int, int, int], str], nodes: list[NodeIR]) -> list[Service]:
    """``services`` with each workload's ``nodes`` (per replica; "" when unplaced) and, where unset,
    Envoy's worker count from its CPU limit or its first replica's node."""
    cores_of = {n.name: n.cores for n in nodes}
    out: list[Service] = []
    for si, svc in enumerate(services):
        wls = []
        for wi, wl in enumerate(svc.workloads):
            where = tuple(placed.get((si, wi, r), "") for r in range(wl.replicas))
            px = wl.proxy_cpu
            if px.threads is None:
                # ISTIO_CPU_LIMIT: the limit rounded up, else the node's CPU (the first replica's node)
                node_cores = cores_of.get(where[0], 1.0) if where else 1.0
                px = replace(px, threads=envoy_concurrency(px.limit_cores, node_cores))
            wls.append(replace(wl, nodes=where, proxy_cpu=px))
        out.append(replace(svc, workloads=tuple(wls)))
    return out

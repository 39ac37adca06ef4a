"""Services and workloads: topology services, Kubernetes Services and Deployments -> IR services,
workloads, endpoints and sidecar proxies (istiod's ``pilot/pkg/serviceregistry/kube/controller``
builds the same service and endpoint indexes from Services and EndpointSlices)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from meshsim.config.loader import Doc, MeshConfig
from meshsim.config.topology import CallCmd, CallSpec, CpuCmd, SleepCmd, VersionDef
from meshsim.model.compile.context import Ctx, SvcInfo, first, service_account, short
from meshsim.model.compile.cpu import app_cpu, cpu_model_on, place_pods, proxy_cpu
from meshsim.model.compile.lifecycle import pod_lifecycle
from meshsim.model.compile.security import peer_mode
from meshsim.model.ir import (
    AppRetryPolicy,
    CallStep,
    ConcurrentStep,
    CpuStep,
    Endpoint,
    NodeIR,
    Proxy,
    Service,
    SleepStep,
    Step,
    Workload,
)
from meshsim.model.rules.dist import to_dist


def compile_script(
    ctx: Ctx,
    steps: list[Any],
    info: SvcInfo,
    loc: str,
    services: dict[str, SvcInfo],
) -> tuple[Step, ...]:
    """A topology script -> IR steps: ``sleep`` -> :class:`SleepStep`, ``cpu`` -> :class:`CpuStep`,
    ``call`` -> :class:`CallStep` (target resolved by ``hostname`` then ``service``; an undefined service is an error finding at
    ``loc``), a list -> :class:`ConcurrentStep`. Commands are numbered in script order (``index``)."""
    out: list[Step] = []

    def one(cmd: Any, idx: int, cloc: str) -> SleepStep | CpuStep | CallStep | None:
        if isinstance(cmd, SleepCmd):
            return SleepStep(to_dist(cmd.sleep), idx)
        if isinstance(cmd, CpuCmd):
            return CpuStep(to_dist(cmd.cpu), idx)
        assert isinstance(cmd, CallCmd)
        call = cmd.call if isinstance(cmd.call, CallSpec) else CallSpec(service=cmd.call)
        target_name = call.service
        if call.hostname:
            target_name = short(call.hostname.split(":")[0])
        target = services.get(target_name) or services.get(call.service)
        if target is None:
            ctx.error(str(info.doc.source), f"{cloc}.call.service", f"calls undefined service {call.service!r}")
            return None
        retries = None
        if call.retries is not None and call.retries.attempts > 0:
            retries = AppRetryPolicy(call.retries.attempts, frozenset(call.retries.retryOn), call.retries.backoff)
        prob = call.probability
        return CallStep(
            service=target.sdef.name,
            host=target.host,
            port=target.port,
            path=call.path,
            method=call.method.upper(),
            headers=tuple(sorted((k.lower(), v) for k, v in call.extra_header.items())),
            request_size=first(call.size, call.payloadSize, info.defaults.requestSize, 0),
            probability=1.0 if not prob else prob / 100.0,
            timeout=call.timeout or None,
            retries=retries,
            on_error=call.onError,
            index=idx,
        )

    counter = 0
    for i, step in enumerate(steps):
        sloc = f"{loc}[{i}]"
        if isinstance(step, list):
            members: list[SleepStep | CpuStep | CallStep] = []
            for j, cmd in enumerate(step):
                s = one(cmd, counter, f"{sloc}[{j}]")
                counter += 1
                if s is not None:
                    members.append(s)
            out.append(ConcurrentStep(tuple(members), i))
        else:
            s = one(step, counter, sloc)
            counter += 1
            if s is not None:
                out.append(s)
    return tuple(out)


def collect_services(ctx: Ctx, cfg: MeshConfig) -> dict[str, SvcInfo]:
    """The topology's services by name, with namespace, FQDN, port and protocol resolved against a
    Kubernetes Service of the same name (port 8080 and namespace ``default`` otherwise; HTTP2 for
    ``type: grpc`` or a port name starting ``grpc``/``http2``, Istio's protocol selection)."""
    kube_svcs = {d.obj.metadata.name: d for d in cfg.kube_services}
    infos: dict[str, SvcInfo] = {}
    for doc in cfg.topologies:
        for i, sdef in enumerate(doc.obj.services):
            if sdef.name in infos:
                ctx.error(str(doc.source), f"services[{i}].name", f"service {sdef.name!r} is defined twice")
                continue
            ks = kube_svcs.get(sdef.name)
            ns = sdef.namespace or (ks.obj.metadata.namespace if ks else None) or "default"
            port = sdef.port or (ks.obj.spec.ports[0].port if ks and ks.obj.spec.ports else 8080)
            pname = (ks.obj.spec.ports[0].name or "") if ks and ks.obj.spec.ports else ""
            kind = first(sdef.type, doc.obj.defaults.type, "http")
            proto = "HTTP2" if kind == "grpc" or pname.startswith(("grpc", "http2")) else "HTTP1"
            infos[sdef.name] = SvcInfo(
                doc, i, sdef, doc.obj.defaults, ns, f"{sdef.name}.{ns}.svc.cluster.local", port, proto
            )
    for name, ks in kube_svcs.items():
        if name not in infos:
            ctx.warn(str(ks.source), "", f"Service {name!r} has no entry in the topology; it receives no calls")
    return infos


def _deployments_by_service(ctx: Ctx, cfg: MeshConfig, infos: dict[str, SvcInfo]) -> dict[str, list[Doc]]:
    """Each Deployment under the first topology service whose Service selector (else ``app: <name>``)
    selects its pod labels; unselected Deployments are skipped with a warning."""
    kube_svcs = {d.obj.metadata.name: d for d in cfg.kube_services}
    deps_by_service: dict[str, list[Doc]] = {}
    for d in cfg.deployments:
        labels = d.obj.pod_labels
        owner = None
        for name in infos:
            ks = kube_svcs.get(name)
            selector = ks.obj.spec.selector if ks else {"app": name}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                owner = name
                break
        if owner is None:
            ctx.warn(str(d.source), "spec.template.metadata.labels", "no topology service selects these pods; skipped")
            continue
        deps_by_service.setdefault(owner, []).append(d)
    return deps_by_service


def build_services(
    ctx: Ctx, cfg: MeshConfig, infos: dict[str, SvcInfo]
) -> tuple[list[Service], list[Proxy], tuple[NodeIR, ...]]:
    """Every topology service with its workloads (one per version: topology ``versions`` and/or
    Deployments, ``v1`` when neither), endpoints (one per replica) and sidecar proxies, and the nodes
    the pods are placed on (:func:`meshsim.model.compile.cpu.place_pods`; none when the CPU model is off)."""
    deps = _deployments_by_service(ctx, cfg, infos)
    services: list[Service] = []
    proxies: list[Proxy] = []
    dep_of: dict[str, Doc | None] = {}
    for name, info in infos.items():
        versions: dict[str, tuple[VersionDef | None, Doc | None]] = {}
        for vname, vd in (info.sdef.versions or {}).items():
            versions[vname] = (vd, None)
        for d in deps.get(name, []):
            vname = d.obj.pod_labels.get("version") or d.obj.metadata.name
            versions[vname] = (versions.get(vname, (None, None))[0], d)
        if not versions:
            versions["v1"] = (None, None)
        workloads: list[Workload] = []
        endpoints: list[Endpoint] = []
        for vname, (vdef, dep) in versions.items():
            wl = _workload(ctx, cfg, info, vname, vdef, dep, infos)
            workloads.append(wl)
            dep_of[wl.key] = dep
            for r in range(wl.replicas):
                ep = Endpoint(f"{name}-{vname}-{r}", name, vname, r, wl.labels)
                endpoints.append(ep)
                proxies.append(Proxy(ep.id, name, vname, wl.labels, f"inbound|{info.port}||"))
        services.append(
            Service(name, info.namespace, info.host, info.port, info.protocol, tuple(workloads), tuple(endpoints))  # type: ignore[arg-type]
        )
    services, nodes = place_pods(ctx, cfg, services, dep_of)
    return services, proxies, nodes


def _workload(
    ctx: Ctx,
    cfg: MeshConfig,
    info: SvcInfo,
    vname: str,
    vdef: VersionDef | None,
    dep: Doc | None,
    infos: dict[str, SvcInfo],
) -> Workload:
    """One version's workload: labels (app, version, then service, Deployment and version labels),
    replicas and behaviour fields picked version > service > topology defaults > built-in."""
    name, sdef, dflt = info.sdef.name, info.sdef, info.defaults
    src = str(info.doc.source)
    sloc = f"services[{info.index}]"
    vloc = f"{sloc}.versions.{vname}"
    labels = {"app": name, "version": vname}
    labels.update(sdef.labels)
    if dep is not None:
        labels.update(dep.obj.pod_labels)
    if vdef is not None:
        labels.update(vdef.labels)
    replicas = first(
        vdef.replicas if vdef else None,
        dep.obj.spec.replicas if dep else None,
        sdef.numReplicas,
        dflt.numReplicas,
        1,
    )
    if vdef is not None and vdef.replicas is not None and dep is not None and dep.obj.spec.replicas != vdef.replicas:
        ctx.info(src, f"{vloc}.replicas", f"overrides the Deployment's replicas ({dep.obj.spec.replicas})")

    def pick(attr: str, builtin: Any) -> Any:
        return first(getattr(vdef, attr, None) if vdef else None, getattr(sdef, attr), getattr(dflt, attr), builtin)

    script_src = pick("script", [])
    script_loc = f"{vloc}.script" if vdef is not None and vdef.script is not None else f"{sloc}.script"
    script = compile_script(ctx, script_src, info, script_loc, infos)
    wl = Workload(
        service=name,
        version=vname,
        labels=tuple(sorted(labels.items())),
        replicas=replicas,
        concurrency=pick("concurrency", None),
        script=script,
        error_rate=pick("errorRate", 0.0),
        error_status=pick("errorStatus", 500),
        error_mode=pick("errorMode", "random"),
        response_size=pick("responseSize", 0),
        forward_headers=tuple(h.lower() for h in sdef.forwardHeaders) if sdef.forwardHeaders is not None else None,
        name=dep.obj.metadata.name if dep is not None else f"{name}-{vname}",
        namespace=info.namespace,
        service_account=service_account(cfg, dep),
        mtls_mode=peer_mode(cfg, info.namespace, labels),  # type: ignore[arg-type]
    )
    # CPU resources are read (and their errors reported) always, but kept only when the CPU model is on:
    # off, every container has unlimited CPU of its own and the IR says nothing about CPU
    app, proxy = app_cpu(ctx, dep), proxy_cpu(ctx, dep, _explicit_workers(cfg))
    if cpu_model_on(cfg):
        wl = replace(wl, app_cpu=app, proxy_cpu=proxy)
    wl = replace(wl, lifecycle=pod_lifecycle(ctx, dep))
    if wl.error_mode == "every_nth" and 0 < wl.error_rate < 1e-4:
        ctx.error(src, f"{sloc}.errorRate", "every_nth needs errorRate >= 0.01% (isotope divides by it)")
    return wl


def _explicit_workers(cfg: MeshConfig) -> int | None:
    """MeshSettings ``proxy.workers`` when the user set it (it then overrides Istio's rule)."""
    proxy = cfg.mesh_settings.spec.proxy
    return proxy.workers if "workers" in proxy.model_fields_set else None

"""Compile a validated :class:`~meshsim.config.MeshConfig` into a frozen :class:`~meshsim.model.ir.MeshModel`.

This is the one translation from Istio's API to Envoy's shape; the simulator and the xDS translator
both read its output. Istio's defaults are applied here and nowhere else (reference §11):

- no VirtualService: one default route to ``outbound|port||host`` with Istio's default retry policy
  and no timeout;
- retries: :func:`convert_retry_policy` follows istiod's ``retry.ConvertPolicy`` (reference §1.1);
- circuit breakers: 2^32-1 for every threshold Istio writes, DestinationRule values > 0 override
  (``cluster_traffic_policy.go``, reference §3.1);
- LB: LEAST_REQUEST unless the DestinationRule says otherwise (reference §5.1);
- outlier detection: only with an ``outlierDetection`` block, Envoy defaults for unset fields, panic
  threshold = ``minHealthPercent`` (default 0) (reference §4.1).

:func:`compile_with_findings` returns the model and the findings (errors and warnings, as
``istioctl analyze`` separates them); :func:`compile_model` raises on the first error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshsim.config.distributions import Constant, Empirical, Exponential, Lognormal, Uniform
from meshsim.config.istio import (
    DestinationRule,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRetry,
    StringMatch,
    TrafficPolicy,
    VirtualService,
)
from meshsim.config.loader import Doc, MeshConfig
from meshsim.config.topology import CallCmd, CallSpec, Defaults, ServiceDef, SleepCmd, VersionDef
from meshsim.errors import ConfigError, Finding
from meshsim.model.ir import (
    UINT32_MAX,
    AppRetryPolicy,
    AuthzCondition,
    AuthzOperation,
    AuthzPolicy,
    AuthzRule,
    AuthzSource,
    CallStep,
    CircuitBreakers,
    Cluster,
    ConcurrentStep,
    Dist,
    Endpoint,
    FaultPolicy,
    GatewayIR,
    HeaderMatcher,
    LoadSpec,
    MeshModel,
    MeshSettingsIR,
    OutlierDetectionPolicy,
    Proxy,
    RetryPolicy,
    Route,
    RouteMatch,
    Service,
    SleepStep,
    Step,
    StringMatcher,
    VirtualHost,
    WeightedCluster,
    Workload,
)

__all__ = [
    "retriable_status",
    "RETRY_ON_TOKENS",
    "ISTIO_DEFAULT_RETRY_ON",
    "to_dist",
    "default_retry_policy",
    "convert_retry_policy",
    "compile_with_findings",
    "compile_model",
    "CompileError",
    "security_findings",
]

RETRY_ON_TOKENS = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "envoy-ratelimited",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
"""Every ``retryOn`` token Envoy's ``retry_state_impl.cc`` parses (reference §1.2)."""

ISTIO_DEFAULT_RETRY_ON = frozenset(
    {"connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"}
)
"""Istio's default ``retry_on`` (``retry.DefaultPolicy``, reference §1.1)."""

ENVOY_RAW_MAX_RETRIES = 3
"""Envoy's own default ``max_retries`` threshold (``circuit_breaker.proto``)."""


class CompileError(ConfigError):
    """The config is valid YAML and schema but cannot be resolved (unknown host, subset, ...)."""


def to_dist(spec: Any) -> Dist:
    """Turn a config distribution spec into an IR :class:`Dist` (seconds)."""
    if isinstance(spec, Constant):
        return Dist("constant", (spec.value,), spec.mean, 0.0)
    if isinstance(spec, Exponential):
        return Dist("exponential", (spec.mean,), spec.mean, 1.0)
    if isinstance(spec, Lognormal):
        return Dist("lognormal", (spec.mu, spec.sigma), spec.mean, spec.scv)
    if isinstance(spec, Uniform):
        return Dist("uniform", (spec.min, spec.max), spec.mean, spec.scv)
    if isinstance(spec, Empirical):
        return Dist("empirical", tuple(spec.samples), spec.mean, spec.scv)
    raise TypeError(f"not a distribution spec: {spec!r}")


def default_retry_policy(exclude_503: bool = True) -> RetryPolicy:
    """Istio's default retry policy (``retry.DefaultPolicy``; reference §1.1).

    ``exclude_503=False`` gives the <=1.23 behaviour (``retriable_status_codes=[503]``), selected by
    ``MeshSettings.spec.excludeUnsafe503FromDefaultRetry: false``.
    """
    return RetryPolicy(
        num_retries=2,
        retry_on=ISTIO_DEFAULT_RETRY_ON,
        retriable_status_codes=frozenset() if exclude_503 else frozenset({503}),
        per_try_timeout=None,
        backoff_base=0.025,
        backoff_max=0.25,
        previous_hosts=True,
        host_selection_retry_max_attempts=5,
    )


def convert_retry_policy(
    retry: HTTPRetry | None, default: RetryPolicy, source: str = "", loc: str = ""
) -> RetryPolicy | None:
    """istiod's ``ConvertPolicy``: VirtualService ``retries`` to Envoy ``retry_policy``.

    - no ``retries`` block: the default policy;
    - ``attempts`` 0 or unset: no retry policy at all (proto3 cannot tell unset from 0);
    - otherwise the default with ``num_retries = attempts``; ``retryOn`` (if set) replaces the tokens,
      bare integers become ``retriable_status_codes`` and add ``retriable-status-codes``;
      ``perTryTimeout``, ``backoff`` (base; max = 10x base) and ``retryIgnorePreviousHosts`` apply.

    Raises
    ------
    CompileError
        On a ``retryOn`` token Envoy does not know (Istio's validation rejects it too).
    """
    if retry is None:
        return default
    if not retry.attempts:
        return None
    retry_on = default.retry_on
    codes = default.retriable_status_codes
    if retry.retryOn:
        tokens: set[str] = set()
        parsed_codes: set[int] = set()
        for raw in retry.retryOn.split(","):
            tok = raw.strip()
            if not tok:
                continue
            if tok.isdigit():
                parsed_codes.add(int(tok))
            elif tok in RETRY_ON_TOKENS:
                tokens.add(tok)
            else:
                raise CompileError(source, f"{loc}.retryOn", f"unknown retryOn policy {tok!r}")
        if parsed_codes:
            tokens.add("retriable-status-codes")
        retry_on = frozenset(tokens)
        codes = frozenset(parsed_codes)
    base = retry.backoff if retry.backoff else default.backoff_base
    return RetryPolicy(
        num_retries=retry.attempts,
        retry_on=retry_on,
        retriable_status_codes=codes,
        per_try_timeout=retry.perTryTimeout or None,
        backoff_base=base,
        backoff_max=10 * base if retry.backoff else default.backoff_max,
        previous_hosts=retry.retryIgnorePreviousHosts is not False,
        host_selection_retry_max_attempts=default.host_selection_retry_max_attempts,
    )


def retriable_status(on: frozenset[str], codes: frozenset[int], status: int) -> bool:
    """Envoy ``wouldRetryFromHeaders``: whether a response with HTTP ``status`` is retried under the
    ``retry_on`` tokens ``on`` and ``retriable_status_codes`` ``codes`` (reference §1.2)."""
    if 500 <= status <= 599 and "5xx" in on:
        return True
    if status in (502, 503, 504) and "gateway-error" in on:
        return True
    if status == 409 and "retriable-4xx" in on:
        return True
    return "retriable-status-codes" in on and status in codes


def _fault(f: HTTPFaultInjection | None) -> FaultPolicy | None:
    """Istio ``TranslateFault``: percentage (double) or the deprecated int ``percent``; unset = 0%."""
    if f is None:
        return None
    delay_frac = 0.0
    delay = 0.0
    if f.delay is not None and f.delay.fixedDelay is not None:
        delay = f.delay.fixedDelay
        if f.delay.percentage is not None:
            delay_frac = f.delay.percentage.value / 100.0
        elif f.delay.percent is not None:
            delay_frac = f.delay.percent / 100.0
    abort_frac = 0.0
    status = 0
    if f.abort is not None and f.abort.httpStatus is not None:
        status = f.abort.httpStatus
        if f.abort.percentage is not None:
            abort_frac = f.abort.percentage.value / 100.0
    if delay_frac == 0.0 and abort_frac == 0.0:
        return None
    return FaultPolicy(delay_frac, delay, abort_frac, status)


def _matcher(m: StringMatch, ignore_case: bool = False) -> StringMatcher:
    if m.exact is not None:
        return StringMatcher("exact", m.exact, ignore_case)
    if m.prefix is not None:
        return StringMatcher("prefix", m.prefix, ignore_case)
    return StringMatcher("regex", m.regex or "", ignore_case)


def _route_match(m: HTTPMatchRequest) -> RouteMatch:
    headers = [HeaderMatcher(k.lower(), _matcher(v)) for k, v in sorted(m.headers.items())]
    headers += [
        HeaderMatcher(k.lower(), _matcher(v), invert=True) for k, v in sorted(m.withoutHeaders.items())
    ]
    return RouteMatch(
        uri=_matcher(m.uri, m.ignoreUriCase) if m.uri else None,
        method=_matcher(m.method) if m.method else None,
        headers=tuple(headers),
        port=m.port,
        source_labels=tuple(sorted(m.sourceLabels.items())),
    )


@dataclass
class _Ctx:
    findings: list[Finding] = field(default_factory=list)

    def error(self, source: str, loc: str, msg: str) -> None:
        self.findings.append(Finding("error", source, loc, msg))

    def warn(self, source: str, loc: str, msg: str) -> None:
        self.findings.append(Finding("warning", source, loc, msg))

    def info(self, source: str, loc: str, msg: str) -> None:
        self.findings.append(Finding("info", source, loc, msg))


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


@dataclass
class _SvcInfo:
    doc: Doc
    index: int
    sdef: ServiceDef
    defaults: Defaults
    namespace: str
    host: str
    port: int
    protocol: str


def _short(host: str) -> str:
    return host.split(".")[0]


def _compile_script(
    ctx: _Ctx,
    steps: list[Any],
    info: _SvcInfo,
    loc: str,
    services: dict[str, _SvcInfo],
) -> tuple[Step, ...]:
    out: list[Step] = []

    def one(cmd: Any, idx: int, cloc: str) -> SleepStep | CallStep | None:
        if isinstance(cmd, SleepCmd):
            return SleepStep(to_dist(cmd.sleep), idx)
        assert isinstance(cmd, CallCmd)
        call = cmd.call if isinstance(cmd.call, CallSpec) else CallSpec(service=cmd.call)
        target_name = call.service
        if call.hostname:
            target_name = _short(call.hostname.split(":")[0])
        target = services.get(target_name) or services.get(call.service)
        if target is None:
            ctx.error(str(info.doc.source), f"{cloc}.call.service", f"calls undefined service {call.service!r}")
            return None
        retries = None
        if call.retries is not None and call.retries.attempts > 0:
            retries = AppRetryPolicy(
                call.retries.attempts, frozenset(call.retries.retryOn), call.retries.backoff
            )
        prob = call.probability
        return CallStep(
            service=target.sdef.name,
            host=target.host,
            port=target.port,
            path=call.path,
            method=call.method.upper(),
            headers=tuple(sorted((k.lower(), v) for k, v in call.extra_header.items())),
            request_size=_first(call.size, call.payloadSize, info.defaults.requestSize, 0),
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
            members: list[SleepStep | CallStep] = []
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


def _resolve_host(host: str, services: dict[str, _SvcInfo], namespace: str) -> _SvcInfo | None:
    """Resolve ``reviews``, ``reviews.default`` or ``reviews.default.svc.cluster.local``."""
    if host.startswith("*"):
        return None
    parts = host.split(".")
    info = services.get(parts[0])
    if info is None:
        return None
    if len(parts) >= 2 and parts[1] != info.namespace:
        return None
    if len(parts) > 2 and ".".join(parts[2:]) not in ("svc", "svc.cluster.local"):
        return None
    return info


def _merge_policy(top: TrafficPolicy | None, sub: TrafficPolicy | None, port: int) -> dict[str, Any]:
    """Istio ``MergeTrafficPolicy``: subset fields replace top-level ones block by block; then the
    port-level settings for ``port`` replace blocks of the result."""
    out: dict[str, Any] = {"loadBalancer": None, "connectionPool": None, "outlierDetection": None, "retryBudget": None, "tls": None}
    for pol in (top, sub):
        if pol is None:
            continue
        for key in out:
            if getattr(pol, key, None) is not None:
                out[key] = getattr(pol, key)
        for pls in pol.portLevelSettings:
            if pls.port is not None and pls.port.number == port:
                for key in ("loadBalancer", "connectionPool", "outlierDetection", "tls"):
                    if getattr(pls, key) is not None:
                        out[key] = getattr(pls, key)
    return out


def _positive(v: int | None) -> int | None:
    return v if v is not None and v > 0 else None


def _breakers(pol: dict[str, Any], max_retries_default: int) -> CircuitBreakers:
    cp = pol.get("connectionPool")
    tcp = cp.tcp if cp is not None else None
    http = cp.http if cp is not None else None
    budget = None
    rb = pol.get("retryBudget")
    if rb is not None:
        pct = rb.percent
        pct_value = pct.value if hasattr(pct, "value") else pct
        budget = (
            20.0 if pct_value is None else float(pct_value),
            3 if rb.minRetryConcurrency is None else rb.minRetryConcurrency,
        )
    return CircuitBreakers(
        max_connections=_first(_positive(tcp.maxConnections if tcp else None), UINT32_MAX),
        max_pending_requests=_first(_positive(http.http1MaxPendingRequests if http else None), UINT32_MAX),
        max_requests=_first(_positive(http.http2MaxRequests if http else None), UINT32_MAX),
        max_retries=_first(_positive(http.maxRetries if http else None), max_retries_default),
        retry_budget=budget,
    )


def _cluster(
    name: str,
    direction: str,
    info: _SvcInfo,
    subset: str,
    endpoints: Iterable[Endpoint],
    pol: dict[str, Any],
    max_retries_default: int,
) -> Cluster:
    lb = pol.get("loadBalancer")
    simple = lb.simple if lb is not None else None
    lb_policy = {"ROUND_ROBIN": "ROUND_ROBIN", "RANDOM": "RANDOM"}.get(simple or "", "LEAST_REQUEST")
    od = pol.get("outlierDetection") if direction == "outbound" else None
    od_ir = None
    panic = 50.0
    if od is not None:
        c5 = od.consecutive5xxErrors
        cg = od.consecutiveGatewayErrors
        base = od.baseEjectionTime if od.baseEjectionTime is not None else 30.0
        od_ir = OutlierDetectionPolicy(
            consecutive_5xx=c5 if c5 else 5,
            enforcing_consecutive_5xx=0 if c5 == 0 else 100,
            consecutive_gateway_failure=cg if cg else 5,
            enforcing_consecutive_gateway_failure=100 if cg else 0,
            interval=od.interval if od.interval is not None else 10.0,
            base_ejection_time=base,
            max_ejection_time=max(300.0, base),
            max_ejection_percent=od.maxEjectionPercent if od.maxEjectionPercent else 10,
        )
        panic = float(od.minHealthPercent or 0)
    cp = pol.get("connectionPool")
    http = cp.http if cp is not None else None
    tcp = cp.tcp if cp is not None else None
    proto = "HTTP2" if info.protocol == "HTTP2" or (http and http.h2UpgradePolicy == "UPGRADE") else "HTTP1"
    return Cluster(
        name=name,
        direction=direction,  # type: ignore[arg-type]
        service=info.sdef.name,
        host=info.host,
        port=info.port,
        subset=subset,
        endpoints=tuple(e.id for e in endpoints),
        lb_policy=lb_policy,  # type: ignore[arg-type]
        circuit_breakers=_breakers(pol, max_retries_default),
        outlier_detection=od_ir,
        protocol=proto,  # type: ignore[arg-type]
        max_requests_per_connection=_positive(http.maxRequestsPerConnection if http else None),
        max_concurrent_streams=_first(_positive(http.maxConcurrentStreams if http else None), 1024),
        connect_timeout=tcp.connectTimeout if tcp and tcp.connectTimeout else 10.0,
        healthy_panic_threshold=panic,
        tls_mode=pol["tls"].mode if pol.get("tls") is not None and direction == "outbound" else None,
    )


def compile_with_findings(cfg: MeshConfig) -> tuple[MeshModel | None, list[Finding]]:
    """Resolve ``cfg`` into a :class:`MeshModel`, collecting every finding.

    Returns ``(model, findings)``; ``model`` is None when any finding is an error. Findings include
    the loader's notes.
    """
    ctx = _Ctx(list(cfg.notes))
    settings = cfg.mesh_settings.spec
    max_retries_default = UINT32_MAX if settings.maxRetriesDefault == "istio" else ENVOY_RAW_MAX_RETRIES
    base_default = default_retry_policy(settings.excludeUnsafe503FromDefaultRetry)
    default_retry = base_default
    if settings.defaultHttpRetryPolicy is not None:
        src = str(cfg.settings.source) if cfg.settings else "MeshSettings"
        converted = convert_retry_policy(
            settings.defaultHttpRetryPolicy, base_default, src, "spec.defaultHttpRetryPolicy"
        )
        default_retry = converted  # type: ignore[assignment]

    kube_svcs = {d.obj.metadata.name: d for d in cfg.kube_services}
    # services from the topology
    infos: dict[str, _SvcInfo] = {}
    for doc in cfg.topologies:
        for i, sdef in enumerate(doc.obj.services):
            if sdef.name in infos:
                ctx.error(str(doc.source), f"services[{i}].name", f"service {sdef.name!r} is defined twice")
                continue
            ks = kube_svcs.get(sdef.name)
            ns = sdef.namespace or (ks.obj.metadata.namespace if ks else None) or "default"
            port = sdef.port or (ks.obj.spec.ports[0].port if ks and ks.obj.spec.ports else 8080)
            pname = (ks.obj.spec.ports[0].name or "") if ks and ks.obj.spec.ports else ""
            kind = _first(sdef.type, doc.obj.defaults.type, "http")
            proto = "HTTP2" if kind == "grpc" or pname.startswith(("grpc", "http2")) else "HTTP1"
            infos[sdef.name] = _SvcInfo(
                doc, i, sdef, doc.obj.defaults, ns, f"{sdef.name}.{ns}.svc.cluster.local", port, proto
            )
    for name, ks in kube_svcs.items():
        if name not in infos:
            ctx.warn(str(ks.source), "", f"Service {name!r} has no entry in the topology; it receives no calls")

    # deployments -> versions
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

    services: list[Service] = []
    proxies: list[Proxy] = []
    for name, info in infos.items():
        sdef, dflt = info.sdef, info.defaults
        src = str(info.doc.source)
        sloc = f"services[{info.index}]"
        versions: dict[str, tuple[VersionDef | None, Doc | None]] = {}
        for vname, vd in (sdef.versions or {}).items():
            versions[vname] = (vd, None)
        for d in deps_by_service.get(name, []):
            vname = d.obj.pod_labels.get("version") or d.obj.metadata.name
            versions[vname] = (versions.get(vname, (None, None))[0], d)
        if not versions:
            versions["v1"] = (None, None)
        workloads: list[Workload] = []
        endpoints: list[Endpoint] = []
        for vname, (vdef, dep) in versions.items():
            vloc = f"{sloc}.versions.{vname}"
            labels = {"app": name, "version": vname}
            labels.update(sdef.labels)
            if dep is not None:
                labels.update(dep.obj.pod_labels)
            if vdef is not None:
                labels.update(vdef.labels)
            replicas = _first(
                vdef.replicas if vdef else None,
                dep.obj.spec.replicas if dep else None,
                sdef.numReplicas,
                dflt.numReplicas,
                1,
            )
            if vdef is not None and vdef.replicas is not None and dep is not None and dep.obj.spec.replicas != vdef.replicas:
                ctx.info(src, f"{vloc}.replicas", f"overrides the Deployment's replicas ({dep.obj.spec.replicas})")

            def pick(
                attr: str, builtin: Any, vdef: VersionDef | None = vdef, sdef: ServiceDef = sdef, dflt: Defaults = dflt
            ) -> Any:
                return _first(getattr(vdef, attr, None) if vdef else None, getattr(sdef, attr), getattr(dflt, attr), builtin)

            script_src = pick("script", [])
            script_loc = f"{vloc}.script" if vdef is not None and vdef.script is not None else f"{sloc}.script"
            script = _compile_script(ctx, script_src, info, script_loc, infos)
            wl_name = dep.obj.metadata.name if dep is not None else f"{name}-{vname}"
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
                name=wl_name,
                namespace=info.namespace,
                service_account=_service_account(cfg, dep),
                mtls_mode=peer_mode(cfg, info.namespace, labels),  # type: ignore[arg-type]
            )
            if wl.error_mode == "every_nth" and 0 < wl.error_rate < 1e-4:
                ctx.error(src, f"{sloc}.errorRate", "every_nth needs errorRate >= 0.01% (isotope divides by it)")
            workloads.append(wl)
            for r in range(replicas):
                ep = Endpoint(f"{name}-{vname}-{r}", name, vname, r, wl.labels)
                endpoints.append(ep)
                proxies.append(Proxy(ep.id, name, vname, wl.labels, f"inbound|{info.port}||"))
        services.append(
            Service(name, info.namespace, info.host, info.port, info.protocol, tuple(workloads), tuple(endpoints))  # type: ignore[arg-type]
        )
    svc_by_name = {s.name: s for s in services}

    # destination rules
    drs: dict[str, tuple[Doc, DestinationRule, dict[str, Any]]] = {}
    for d in cfg.destination_rules:
        dr: DestinationRule = d.obj
        target = _resolve_host(dr.spec.host, infos, dr.metadata.namespace or "default")
        if target is None:
            ctx.warn(str(d.source), "spec.host", f"host {dr.spec.host!r} is not a service of the topology; ignored")
            continue
        subsets = {s.name: s for s in dr.spec.subsets}
        if target.sdef.name in drs:
            _, first_dr, first_subsets = drs[target.sdef.name]
            ctx.warn(
                str(d.source), "spec.host",
                f"a second DestinationRule for {target.host}; its subsets are merged into "
                f"{first_dr.metadata.name}'s and its trafficPolicy is ignored (Istio keeps the first)",
            )
            for k, v in subsets.items():
                first_subsets.setdefault(k, v)
            continue
        drs[target.sdef.name] = (d, dr, subsets)

    clusters: list[Cluster] = []
    inbound: list[Cluster] = []
    cluster_names: dict[tuple[str, str], str] = {}
    empty_subsets: list[tuple[str, str, str, str]] = []
    for svc in services:
        info = infos[svc.name]
        entry = drs.get(svc.name)
        top = entry[1].spec.trafficPolicy if entry else None
        pol = _merge_policy(top, None, svc.port)
        cname = f"outbound|{svc.port}||{svc.host}"
        clusters.append(_cluster(cname, "outbound", info, "", svc.endpoints, pol, max_retries_default))
        cluster_names[(svc.name, "")] = cname
        if entry:
            for j, (sname, sub) in enumerate(entry[2].items()):
                eps = [e for e in svc.endpoints if all(dict(e.labels).get(k) == v for k, v in sub.labels.items())]
                if not eps:
                    empty_subsets.append((str(entry[0].source), f"spec.subsets[{j}].labels", sname, svc.name))
                spol = _merge_policy(top, sub.trafficPolicy, svc.port)
                scname = f"outbound|{svc.port}|{sname}|{svc.host}"
                clusters.append(_cluster(scname, "outbound", info, sname, eps, spol, max_retries_default))
                cluster_names[(svc.name, sname)] = scname
        # inbound: DR connectionPool applies on the server side too (buildInboundClusterForPortOrUDS)
        ipol = {"connectionPool": pol.get("connectionPool"), "loadBalancer": None, "outlierDetection": None, "retryBudget": None}
        inbound.append(_cluster(f"inbound|{svc.port}||", "inbound", info, "", (), ipol, UINT32_MAX))

    # virtual services: a VS without `gateways` (or listing `mesh`) applies to sidecars; one bound to a
    # Gateway applies to that gateway only (Istio: the implicit `mesh` gateway; reference §6)
    gw_vs: list[tuple[Doc, VirtualService]] = []
    vs_by_service: dict[str, tuple[Doc, VirtualService]] = {}
    for d in cfg.virtual_services:
        vs: VirtualService = d.obj
        gws = vs.spec.gateways
        if gws is not None and any(g != "mesh" for g in gws):
            gw_vs.append((d, vs))
        if gws is not None and "mesh" not in gws:
            continue
        for hi, h in enumerate(vs.spec.hosts):
            target = _resolve_host(h, infos, vs.metadata.namespace or "default")
            if target is None:
                ctx.warn(str(d.source), f"spec.hosts[{hi}]", f"host {h!r} is not a service of the topology; ignored")
                continue
            if target.sdef.name in vs_by_service:
                other = vs_by_service[target.sdef.name][1].metadata.name
                ctx.warn(str(d.source), f"spec.hosts[{hi}]", f"{target.host} already has VirtualService {other}; Istio uses one, this one is ignored")
                continue
            vs_by_service[target.sdef.name] = (d, vs)

    vhosts: list[VirtualHost] = []
    for svc in services:
        domains = (svc.name, f"{svc.name}.{svc.namespace}", svc.host, f"{svc.name}:{svc.port}", f"{svc.host}:{svc.port}")
        vs_entry = vs_by_service.get(svc.name)
        routes: list[Route] = []
        if vs_entry is None:
            routes.append(
                Route("default", (), (WeightedCluster(cluster_names[(svc.name, "")], 100),), None, default_retry, None, "default")
            )
        else:
            d, vs = vs_entry
            routes.extend(_http_routes(ctx, d, vs, infos, cluster_names, default_retry))
        vhosts.append(VirtualHost(f"{svc.host}:{svc.port}", svc.host, svc.port, domains, tuple(routes)))
    gateway = _gateway(ctx, cfg, gw_vs, infos, cluster_names, default_retry)
    routed = {wc.cluster for vh in vhosts for r in vh.routes for wc in r.clusters}
    if gateway is not None:
        routed |= {wc.cluster for r in gateway.virtual_host.routes for wc in r.clusters}
    for src_, loc_, sname, svc_name in empty_subsets:
        msg = f"subset {sname!r} selects no pods of {svc_name}"
        if cluster_names[(svc_name, sname)] in routed:
            ctx.warn(src_, loc_, msg + "; requests routed to it get 503 UH")
        else:
            ctx.info(src_, loc_, msg + " (no route uses it)")

    load = _load_spec(ctx, cfg, infos)
    sidecar = to_dist(settings.sidecar.latency)
    if load is None or any(f.level == "error" for f in ctx.findings):
        return None, ctx.findings
    authz = _authz_policies(ctx, cfg, services)
    mtls, proxy = settings.mtls, settings.proxy
    model = MeshModel(
        services=tuple(services),
        clusters=tuple(clusters),
        inbound_clusters=tuple(inbound),
        virtual_hosts=tuple(vhosts),
        proxies=tuple(proxies),
        load=load,
        settings=MeshSettingsIR(
            sidecar, settings.networkLatency, max_retries_default, settings.connectLatency,
            mtls_handshake_latency=mtls.handshakeLatency, mtls_handshake_cpu=mtls.handshakeCpu,
            mtls_request_cpu=mtls.requestCpu, proxy_workers=proxy.workers, proxy_cpu_per_request=proxy.cpuPerRequest,
            update_merge_window=settings.updateMergeWindow,
        ),
        gateway=gateway,
        authz=authz,
        digest=cfg.digest,
        notes=tuple(str(f) for f in ctx.findings),
    )
    _check_reachability(ctx, model, svc_by_name, infos)
    return model, ctx.findings


def _http_routes(
    ctx: _Ctx,
    d: Doc,
    vs: VirtualService,
    infos: dict[str, _SvcInfo],
    cluster_names: dict[tuple[str, str], str],
    default_retry: RetryPolicy,
) -> list[Route]:
    """The Envoy routes of one VirtualService's ``http`` list, in order (first match wins)."""
    src = str(d.source)
    routes: list[Route] = []
    for i, http in enumerate(vs.spec.http):
        hloc = f"spec.http[{i}]"
        if not http.route:
            ctx.warn(src, hloc, "route has no destinations (redirect/directResponse/delegate are not modelled); skipped")
            continue
        wcs: list[WeightedCluster] = []
        for j, rd in enumerate(http.route):
            dloc = f"{hloc}.route[{j}].destination"
            dest = _resolve_host(rd.destination.host, infos, vs.metadata.namespace or "default")
            if dest is None:
                ctx.error(src, f"{dloc}.host", f"unknown host {rd.destination.host!r}")
                continue
            subset = rd.destination.subset or ""
            if (dest.sdef.name, subset) not in cluster_names:
                ctx.error(src, f"{dloc}.subset", f"unknown subset {subset!r} of {dest.host} (no DestinationRule defines it)")
                continue
            if rd.destination.port is not None and rd.destination.port.number != dest.port:
                ctx.warn(src, f"{dloc}.port.number", f"{dest.sdef.name} serves port {dest.port}; using it")
            weight = rd.weight if rd.weight is not None else (100 if len(http.route) == 1 else 0)
            if weight > 0:
                wcs.append(WeightedCluster(cluster_names[(dest.sdef.name, subset)], weight))
        if not wcs:
            if not any(f.level == "error" and f.loc.startswith(hloc) and f.source == src for f in ctx.findings):
                ctx.error(src, f"{hloc}.route", "total destination weight is 0")
            continue
        rp = convert_retry_policy(http.retries, default_retry, src, f"{hloc}.retries")
        routes.append(
            Route(
                name=http.name or f"{vs.metadata.name}.{i}",
                matches=tuple(_route_match(m) for m in http.match),
                clusters=tuple(wcs),
                timeout=http.timeout or None,
                retry_policy=rp,
                fault=_fault(http.fault),
                source=f"VirtualService/{vs.metadata.name} {hloc}",
            )
        )
    return routes


def _service_account(cfg: MeshConfig, dep: Doc | None) -> str:
    """``spec.template.spec.serviceAccountName`` of a Deployment, read from the raw document (the
    Deployment model ignores pod-spec fields); Kubernetes default ``default``."""
    if dep is None:
        return "default"
    for src, raw in cfg.raw:
        if src.file == dep.source.file and src.index == dep.source.index:
            pod = ((raw.get("spec") or {}).get("template") or {}).get("spec") or {}
            sa = pod.get("serviceAccountName") or pod.get("serviceAccount") if isinstance(pod, dict) else None
            return str(sa) if sa else "default"
    return "default"


def _selects(selector: Any, labels: dict[str, str]) -> bool:
    ml = selector.matchLabels if selector is not None else {}
    return all(labels.get(k) == v for k, v in ml.items())


def peer_mode(cfg: MeshConfig, namespace: str, labels: dict[str, str]) -> str:
    """The mTLS mode a workload's server sidecar accepts (Istio ``PeerAuthentication`` resolution):
    the workload-selector policy in its namespace, else the namespace-wide one, else the mesh-wide one
    (root namespace ``istio-system``, no selector); ``UNSET`` inherits from the next level; nothing =
    PERMISSIVE (Istio's default)."""
    from meshsim.config.security import ROOT_NAMESPACE

    levels: list[list[str]] = [[], [], []]
    for d in cfg.peer_authentications:
        pa = d.obj
        ns = pa.metadata.namespace or "default"
        mode = pa.spec.mtls.mode if pa.spec.mtls is not None else "UNSET"
        sel = pa.spec.selector
        if ns == namespace and sel is not None and sel.matchLabels:
            if _selects(sel, labels):
                levels[0].append(mode)
        elif ns == namespace:
            levels[1].append(mode)
        elif ns == ROOT_NAMESPACE and (sel is None or not sel.matchLabels):
            levels[2].append(mode)
    for lv in levels:
        for mode in lv:
            if mode != "UNSET":
                return mode
    return "PERMISSIVE"


def _authz_policies(ctx: _Ctx, cfg: MeshConfig, services: list[Service]) -> tuple[AuthzPolicy, ...]:
    """Compile ALLOW/DENY AuthorizationPolicies with the workloads each selects (namespace, selector;
    root namespace without selector = mesh-wide). CUSTOM is not modelled (a warning); AUDIT is ignored."""
    from meshsim.config.security import ROOT_NAMESPACE

    out: list[AuthzPolicy] = []
    header_rx = re.compile(r"^request\.headers\[([^\]]+)\]$")
    for d in sorted(cfg.authorization_policies, key=lambda x: (x.obj.metadata.namespace or "default", x.obj.metadata.name)):
        ap = d.obj
        src = str(d.source)
        ns = ap.metadata.namespace or "default"
        spec = ap.spec
        if spec.action in ("CUSTOM", "AUDIT"):
            ctx.warn(src, "spec.action", f"{spec.action} is not modelled; the policy is ignored")
            continue
        wls = tuple(
            w.key
            for s in services
            for w in s.workloads
            if (ns == ROOT_NAMESPACE and (spec.selector is None or not spec.selector.matchLabels))
            or (w.namespace == ns and _selects(spec.selector, dict(w.labels)))
        )
        if not wls:
            ctx.warn(src, "spec.selector", "selects no workload of the topology")
        rules: list[AuthzRule] = []
        ok = True
        for i, r in enumerate(spec.rules or []):
            conds: list[AuthzCondition] = []
            for j, c in enumerate(r.when or []):
                m = header_rx.match(c.key)
                if m is None and c.key not in ("source.principal", "source.namespace", "destination.port"):
                    ctx.warn(src, f"spec.rules[{i}].when[{j}].key", f"condition key {c.key!r} is not modelled; the policy is ignored")
                    ok = False
                conds.append(
                    AuthzCondition(
                        c.key,
                        m.group(1).lower() if m else None,
                        tuple(c.values) if c.values is not None else None,
                        tuple(c.notValues) if c.notValues is not None else None,
                    )
                )

            def tup(v: list[str] | None) -> tuple[str, ...] | None:
                return tuple(v) if v is not None else None

            sources = tuple(
                AuthzSource(
                    principals=tup(_sa_principals(f.source.principals, f.source.serviceAccounts, ns)),
                    not_principals=tup(_sa_principals(f.source.notPrincipals, f.source.notServiceAccounts, ns)),
                    namespaces=tup(f.source.namespaces),
                    not_namespaces=tup(f.source.notNamespaces),
                )
                for f in (r.from_ or [])
            )
            ops = tuple(
                AuthzOperation(
                    methods=tup(t.operation.methods),
                    not_methods=tup(t.operation.notMethods),
                    paths=tup(t.operation.paths),
                    not_paths=tup(t.operation.notPaths),
                    ports=tup(t.operation.ports),
                    not_ports=tup(t.operation.notPorts),
                )
                for t in (r.to or [])
            )
            rules.append(AuthzRule(sources, ops, tuple(conds)))
        if ok:
            out.append(AuthzPolicy(f"{ns}/{ap.metadata.name}", spec.action, wls, tuple(rules)))
    return tuple(out)


def _sa_principals(principals: list[str] | None, sas: list[str] | None, ns: str) -> list[str] | None:
    """``serviceAccounts`` (``ns/sa`` or ``sa`` in the policy's namespace) as principals."""
    if sas is None:
        return principals
    out = list(principals or [])
    for sa in sas:
        sa_ns, _, name = sa.rpartition("/")
        out.append(f"cluster.local/ns/{sa_ns or ns}/sa/{name}")
    return out


def _gateway(
    ctx: _Ctx,
    cfg: MeshConfig,
    bound: list[tuple[Doc, VirtualService]],
    infos: dict[str, _SvcInfo],
    cluster_names: dict[tuple[str, str], str],
    default_retry: RetryPolicy,
) -> GatewayIR | None:
    """The ingress gateway the LoadProfile names (``spec.gateway``), with routes from the
    VirtualServices bound to it only (a gateway-bound VS never reaches sidecars, and a VS without
    ``gateways`` never reaches the gateway: Istio's ``mesh`` gateway semantics). Routes of several
    bound VirtualServices are concatenated in input order (Istio merges them per host; the load's
    Host is assumed to match every bound VS's ``hosts``). Pods: LoadProfile ``gatewayReplicas``, else
    a Deployment whose pod labels match the Gateway ``selector``, else 1."""
    lp = cfg.load_profile.spec
    lsrc = str(cfg.load.source) if cfg.load else "LoadProfile"
    gws = {}
    for d in cfg.gateways:
        g = d.obj
        ns = g.metadata.namespace or "default"
        gws[f"{ns}/{g.metadata.name}"] = d
    for d, vs in bound:
        vns = vs.metadata.namespace or "default"
        for gi, gname in enumerate(vs.spec.gateways or []):
            if gname == "mesh":
                continue
            full = gname if "/" in gname else f"{vns}/{gname}"
            if full not in gws:
                ctx.warn(str(d.source), f"spec.gateways[{gi}]", f"no Gateway {gname!r} in the input; this binding is unused")
    if lp.gateway is None:
        for name in gws:
            ctx.info(str(gws[name].source), "", "Gateway is loaded but the LoadProfile does not enter through it (set LoadProfile spec.gateway)")
        return None
    want = lp.gateway if "/" in lp.gateway else f"{(cfg.load.obj.metadata.namespace if cfg.load and cfg.load.obj.metadata else None) or 'default'}/{lp.gateway}"
    gdoc = gws.get(want)
    if gdoc is None:
        ctx.error(lsrc, "spec.gateway", f"no Gateway {lp.gateway!r} in the input (known: {', '.join(sorted(gws)) or 'none'})")
        return None
    gw = gdoc.obj
    routes: list[Route] = []
    for d, vs in bound:
        vns = vs.metadata.namespace or "default"
        names = {g if "/" in g else f"{vns}/{g}" for g in (vs.spec.gateways or []) if g != "mesh"}
        if want in names:
            routes.extend(_http_routes(ctx, d, vs, infos, cluster_names, default_retry))
    if not routes:
        ctx.warn(str(gdoc.source), "", "no VirtualService bound to this Gateway has a route: every request gets 404 NR")
    replicas = lp.gatewayReplicas
    workload = "istio-ingressgateway"
    labels = dict(gw.spec.selector)
    sa = "istio-ingressgateway-service-account"
    for dep in cfg.deployments:
        pl = dep.obj.pod_labels
        if gw.spec.selector and all(pl.get(k) == v for k, v in gw.spec.selector.items()):
            workload = dep.obj.metadata.name
            labels = pl
            if replicas is None:
                replicas = dep.obj.spec.replicas
            acct = _service_account(cfg, dep)
            if acct != "default":
                sa = acct
            break
    n = replicas if replicas is not None else 1
    if n < 1:
        ctx.error(lsrc, "spec.gatewayReplicas", "the gateway has 0 pods")
        return None
    domains = tuple(sorted({h for s in gw.spec.servers for h in s.hosts})) or ("*",)
    vh = VirtualHost(f"{want}:gateway", "*", gw.spec.servers[0].port.number if gw.spec.servers else 80, domains, tuple(routes))
    return GatewayIR(
        name=want,
        workload=workload,
        namespace="istio-system",
        service_account=sa,
        proxies=tuple(f"{workload}-{i}" for i in range(n)),
        labels=tuple(sorted(labels.items())),
        virtual_host=vh,
    )


def _load_spec(ctx: _Ctx, cfg: MeshConfig, infos: dict[str, _SvcInfo]) -> LoadSpec | None:
    lp = cfg.load_profile
    spec = lp.spec
    src = str(cfg.load.source) if cfg.load else "LoadProfile (default)"
    entry = spec.entry
    if entry is None:
        marked = [n for n, i in infos.items() if i.sdef.isEntrypoint]
        if len(marked) == 1:
            entry = marked[0]
        else:
            called = {
                c.service
                for i in infos.values()
                for c in _iter_calls(i.sdef, i.defaults)
            }
            roots = [n for n in infos if n not in called]
            if len(roots) == 1:
                entry = roots[0]
            else:
                ctx.error(src, "spec.entry", "cannot tell the entry service; set LoadProfile spec.entry or isEntrypoint")
                return None
    target = _resolve_host(entry, infos, "default")
    if target is None:
        ctx.error(src, "spec.entry", f"entry {entry!r} is not a service of the topology")
        return None
    rate = spec.rate
    if spec.arrival != "closed" and rate is None:
        rate = 100.0
        ctx.info(src, "spec.rate", "no rate given; using 100 requests/s")
    total = sum(h.weight for h in spec.headers)
    mix = tuple((h.weight / total, tuple(sorted((k.lower(), v) for k, v in h.headers.items()))) for h in spec.headers)
    return LoadSpec(
        entry=target.sdef.name,
        path=spec.path,
        method=spec.method.upper(),
        arrival=spec.arrival,
        rate=rate,
        users=spec.users,
        think_time=to_dist(spec.thinkTime) if spec.thinkTime is not None else None,
        duration=spec.duration,
        warmup=spec.warmup,
        drain=spec.drain,
        header_mix=mix or ((1.0, ()),),
    )


def _iter_calls(sdef: ServiceDef, dflt: Defaults) -> Iterable[CallSpec]:
    scripts = [sdef.script or dflt.script or []]
    for v in (sdef.versions or {}).values():
        if v.script is not None:
            scripts.append(v.script)
    for script in scripts:
        for step in script:
            for cmd in step if isinstance(step, list) else [step]:
                if isinstance(cmd, CallCmd):
                    yield cmd.call if isinstance(cmd.call, CallSpec) else CallSpec(service=cmd.call)


def _check_reachability(ctx: _Ctx, model: MeshModel, svcs: dict[str, Service], infos: dict[str, _SvcInfo]) -> None:
    from meshsim.model.graph import reachable_services

    reach = reachable_services(model)
    for name in svcs:
        if name not in reach:
            info = infos[name]
            ctx.warn(str(info.doc.source), f"services[{info.index}]", f"{name} is not reachable from the entry {model.load.entry}; it gets no load")
    for c in model.clusters:
        if c.direction == "outbound" and not c.endpoints and c.subset == "":
            ctx.warn("", c.name, "cluster has no endpoints (0 replicas): calls get 503 UH")


def compile_model(cfg: MeshConfig) -> MeshModel:
    """Compile ``cfg``; raise :class:`CompileError` on the first error finding.

    Raises
    ------
    CompileError
        Naming the file, object and field of the first error (unknown host or subset, zero weights,
        a call to an undefined service, ...).
    """
    model, findings = compile_with_findings(cfg)
    for f in findings:
        if f.level == "error":
            raise CompileError(f.source, f.loc, f.message)
    assert model is not None
    return model


def security_findings(model: MeshModel) -> list[Finding]:
    """Static mTLS and authorization analysis over the topology's call graph (``meshsim validate``).

    For every call a workload's script makes (and the load's entry request, through the gateway when
    there is one) and every workload of the destination service, evaluate the destination's
    AuthorizationPolicies (DENY first, then ALLOW; Istio semantics, :func:`authz_verdict`) with the
    caller's principal (only over mTLS, as Istio's peer identity comes from the certificate), the
    call's method, path and its own headers (headers set by the load mix are checked per mix entry
    for the entry request only). Each denied edge is a warning naming the policy. A connection the
    server would refuse (plaintext to STRICT, mTLS to DISABLE) is a warning too.
    """
    from meshsim.model.ir import authz_verdict, tls_state

    out: list[Finding] = []
    default_cluster = {(c.service, c.subset): c for c in model.clusters}
    pols = model.authz

    def check(src_name: str, principal: str, tls: int, dst: Workload, method: str, path: str, port: int,
              headers: dict[str, str], loc: str) -> None:
        if tls < 0:
            out.append(Finding("warning", "mTLS", loc, f"{src_name} -> {dst.key}: the server ({dst.mtls_mode}) refuses this "
                               f"connection ({'plaintext' if dst.mtls_mode == 'STRICT' else 'mTLS'}); requests get 503 UC"))
            return
        deny = tuple(p for p in pols if p.action == "DENY" and dst.key in p.workloads)
        allow = tuple(p for p in pols if p.action == "ALLOW" and dst.key in p.workloads)
        if not deny and not allow:
            return
        ns = principal.split("/")[2] if principal.startswith("cluster.local/ns/") else ""
        pol = authz_verdict(deny, allow, principal if tls == 1 else "", ns if tls == 1 else "", method, path, headers, port)
        if pol is not None:
            hdr = f" with headers {headers}" if headers else ""
            out.append(Finding("warning", f"AuthorizationPolicy {pol}", loc,
                               f"denies {src_name} -> {dst.key} ({method} {path}{hdr}): 403 at {dst.service}'s sidecar"))

    for svc in model.services:
        for wl in svc.workloads:
            steps: list[Any] = []
            for st in wl.script:
                steps.extend(st.steps if isinstance(st, ConcurrentStep) else [st])
            for st in steps:
                if not isinstance(st, CallStep):
                    continue
                dsvc = model.service(st.service)
                c = default_cluster.get((dsvc.name, ""))
                for dwl in dsvc.workloads:
                    tls = tls_state(c.tls_mode if c is not None else None, dwl.mtls_mode)
                    check(wl.key, wl.principal, tls, dwl, st.method, st.path, st.port, dict(st.headers),
                          f"{wl.key} calls {st.service}")
    load = model.load
    entry = model.service(load.entry)
    for _, hdrs in load.header_mix:
        for dwl in entry.workloads:
            if model.gateway is not None:
                c = default_cluster.get((entry.name, ""))
                tls = tls_state(c.tls_mode if c is not None else None, dwl.mtls_mode)
                src_name, principal = model.gateway.workload, model.gateway.principal
            else:
                tls = tls_state("DISABLE", dwl.mtls_mode)  # the load source is outside the mesh
                src_name, principal = "load source (outside the mesh)", ""
            check(src_name, principal, tls, dwl, load.method, load.path, entry.port, dict(hdrs), "entry request")
    # one finding per distinct message
    seen: set[str] = set()
    uniq = []
    for f in out:
        if str(f) not in seen:
            seen.add(str(f))
            uniq.append(f)
    return uniq

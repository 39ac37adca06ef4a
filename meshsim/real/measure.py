"""Turn Envoy admin counters, app records and load-generator latencies into a :class:`Summary`.

Sources and meaning of the counters (Envoy ``docs/root/configuration/upstream/cluster_manager/
cluster_stats.rst``): per cluster of one sidecar, ``upstream_rq_total`` counts upstream requests
(every retry attempt is one), ``upstream_rq_retry`` retries, ``upstream_rq_retry_overflow`` retries
refused by the ``max_retries`` breaker/budget, ``upstream_rq_pending_overflow`` requests refused by the
pending/requests breakers, ``upstream_rq_timeout`` route timeouts, ``upstream_rq_per_try_timeout``
per-try timeouts, ``outlier_detection.ejections_enforced_total`` ejections. Deltas are taken between the
end of warm-up and the end of the measured window (``/stats?format=json`` before and after).

Mapping into the simulator's schema (``meshsim.metrics.results``):

- ``entry``: the load generator (latency from the intended send time, status < 500 = success);
- ``edges``: per (source workload, outbound cluster) — the gateway's pods are the source
  ``<gateway workload>`` as in the simulator, their success rate the load generator's when the gateway
  routes to one service only: ``attempts = upstream_rq_total``,
  ``retries = upstream_rq_retry``, ``requests = attempts - retries + upstream_rq_pending_overflow``
  (requests the sidecar got from its app; an overflowed request is never an attempt); ``success_rate`` from the calling apps' record of final statuses by responding workload
  (``x-meshsim-workload`` response header), attributed to the cluster of the route that holds that
  workload; responses with no such header (Envoy local replies such as 503 UO/UH or 504 UT) are counted
  against every cluster of the destination in proportion to requests;
- ``calls`` and ``services`` from the apps' own records (call latency: the calling app's wall time of
  the whole call, its own retries included, pooled over the workload's pods); ``clusters`` the raw
  counter deltas.

Response flags per edge are inferred from counters (see :data:`_FLAG_COUNTERS`), not an access log.

Per-edge latency (the client sidecar's request duration, retries inside, as the simulator's edge
latency) is filled only for runs with access logs (``--prometheus``), else null. Not measured:
confidence intervals (a single real run; no batch means yet).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from meshsim.metrics.results import (
    CallResult,
    ClusterResult,
    ContainerCPU,
    EdgeResult,
    EntryResult,
    Estimate,
    Latency,
    MeshTotals,
    NodeCPU,
    RunInfo,
    ServiceResult,
    Summary,
)
from meshsim.model.ir import MeshModel
from meshsim.real.cgroups import ContainerCgroup, CpuSample

__all__ = ["COUNTERS", "fetch_stats", "fetch_all", "cluster_deltas", "build_summary", "cpu_rows"]

COUNTERS = (
    "upstream_rq_total",
    "upstream_rq_completed",
    "upstream_rq_2xx",
    "upstream_rq_4xx",
    "upstream_rq_5xx",
    "upstream_rq_503",
    "upstream_rq_retry",
    "upstream_rq_retry_success",
    "retry_or_shadow_abandoned",
    "upstream_rq_retry_overflow",
    "upstream_rq_retry_limit_exceeded",
    "upstream_rq_retry_backoff_exponential",
    "upstream_rq_pending_overflow",
    "upstream_rq_pending_total",
    "upstream_rq_timeout",
    "upstream_rq_per_try_timeout",
    "upstream_rq_rx_reset",
    "upstream_rq_tx_reset",
    "upstream_cx_total",
    "upstream_cx_overflow",
    "upstream_cx_connect_fail",
    "upstream_cx_max_requests",
    "upstream_cx_idle_timeout",
    "upstream_cx_destroy_local_with_active_rq",
    "upstream_rq_maintenance_mode",
    "upstream_cx_none_healthy",
    "outlier_detection.ejections_enforced_total",
    "outlier_detection.ejections_enforced_consecutive_5xx",
    "outlier_detection.ejections_overflow",
    "outlier_detection.ejections_active",
)
"""Per-cluster Envoy stats copied into ``clusters[].counters`` (deltas; gauges as end values)."""

_GAUGES = {"outlier_detection.ejections_active"}


async def fetch_stats(session: Any, admin_url: str) -> dict[str, float]:
    """``GET <admin>/stats?format=json`` flattened to ``{name: value}`` (counters and gauges; histograms
    dropped)."""
    async with session.get(f"{admin_url}/stats?format=json") as resp:
        data = await resp.json(content_type=None)
    return {
        s["name"]: float(s["value"])
        for s in data.get("stats", [])
        if isinstance(s.get("value"), int | float) and not isinstance(s.get("value"), bool)
    }


async def fetch_all(admin_urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """:func:`fetch_stats` of every proxy at once; keyed by proxy id."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        items = list(admin_urls.items())
        results = await asyncio.gather(*(fetch_stats(s, url) for _, url in items))
    return {pid: r for (pid, _), r in zip(items, results, strict=True)}


def cluster_deltas(
    before: dict[str, float], after: dict[str, float], clusters: list[str]
) -> dict[str, dict[str, float]]:
    """Per cluster, ``after - before`` of every stat in :data:`COUNTERS` (gauges: the ``after`` value).

    Stat names are ``cluster.<cluster name>.<stat>``; cluster names contain dots, so they are matched by
    exact prefix, never split.
    """
    out: dict[str, dict[str, float]] = {}
    for c in clusters:
        prefix = f"cluster.{c}."
        d = {}
        for stat in COUNTERS:
            key = prefix + stat
            if key not in after:
                continue
            d[stat] = after[key] if stat in _GAUGES else after[key] - before.get(key, 0.0)
        out[c] = d
    return out


def _est(v: float | None) -> Any:

    return Estimate(value=v)


def _latency(ms: dict[str, float | None] | None, mean: float | None = None) -> Any:

    ms = ms or {}
    return Latency(
        mean=_est(mean),
        p50=_est(ms.get("p50")),
        p90=_est(ms.get("p90")),
        p99=_est(ms.get("p99")),
        p999=_est(ms.get("p999")),
    )


_FLAG_COUNTERS = (
    ("UO", ("upstream_rq_pending_overflow", "upstream_rq_retry_overflow")),
    ("UH", ("upstream_cx_none_healthy",)),
    ("UT", ("upstream_rq_timeout",)),
    ("URX", ("upstream_rq_retry_limit_exceeded",)),
)
"""Response flags inferred from the cluster counters that count one final local outcome each (no access
log): a breaker refusal or refused retry (UO, as the simulator flags both), no healthy host (UH), the
route timeout (UT), retries exhausted (URX)."""


def _flags_from_counters(d: dict[str, float]) -> dict[str, int]:
    out = {flag: int(sum(d.get(k, 0.0) for k in keys)) for flag, keys in _FLAG_COUNTERS}
    return {k: v for k, v in sorted(out.items()) if v}


def _pcts(samples: list[float]) -> tuple[dict[str, float | None] | None, float | None]:
    """Percentiles (ms) and mean of raw millisecond samples, for :func:`_latency`."""
    if not samples:
        return None, None
    import numpy as np

    a = np.asarray(samples)
    qs = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
    return {k: float(np.percentile(a, q)) for k, q in qs.items()}, float(a.mean())


def build_summary(
    model: MeshModel,
    load: dict[str, Any],
    before: dict[str, dict[str, float]],
    after: dict[str, dict[str, float]],
    apps: dict[str, dict[str, Any]],
    run: dict[str, Any],
    findings: list[str],
    edge_ms: dict[tuple[str, str], list[float]] | None = None,
) -> Summary:
    """Assemble the :class:`meshsim.metrics.results.Summary` of one real run.

    ``load`` is the load generator's result, ``before``/``after`` the per-proxy admin stats at the window
    edges, ``apps`` the per-pod app records of the window, ``run`` the :class:`RunInfo` fields,
    ``edge_ms`` (runs with access logs) the client sidecars' request durations per ``(source,
    cluster)`` in ms, which fill the edges' latency (null without them).
    """
    duration = float(run["duration_s"])
    clusters_out, per_edge = _cluster_counters(model, before, after)
    edges = _edges(model, load, apps, per_edge, edge_ms) + _no_route_edges(model, before, after, findings)
    tot_req = sum(e.requests for e in edges)
    tot_att = sum(e.attempts for e in edges)
    return Summary(
        run=RunInfo(**run),
        entry=_entry(model, load, duration),
        edges=edges,
        calls=_calls(model, apps),
        services=_services(model, apps, duration),
        clusters=clusters_out,
        mesh=MeshTotals(requests=tot_req, attempts=tot_att, amplification=tot_att / tot_req if tot_req else None),
        findings=findings,
    )


def _cluster_counters(
    model: MeshModel, before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> tuple[list[ClusterResult], dict[tuple[str, str], dict[str, float]]]:
    """Per proxy and cluster, the counter deltas over the window (clusters that saw traffic), and
    the outbound ones summed per (edge source, cluster)."""
    proxies = {p.id: p for p in model.proxies}
    outbound = [c.name for c in model.clusters]
    clusters_out: list[ClusterResult] = []
    per_edge: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    # sidecars (edge source "<service>.<version>") and gateway pods (edge source: the gateway workload,
    # as the simulator names it)
    envoys: list[tuple[str, str, list[str]]] = [
        (pid, f"{p.service}.{p.version}", [*outbound, p.inbound_cluster]) for pid, p in proxies.items()
    ]
    gw = model.gateway
    if gw is not None:
        envoys += [(g, gw.workload, outbound) for g in gw.proxies]
    for pid, src_name, names in envoys:
        deltas = cluster_deltas(before.get(pid, {}), after.get(pid, {}), names)
        for cname, d in deltas.items():
            if (
                d.get("upstream_rq_total", 0) <= 0
                and not d.get("upstream_rq_pending_overflow")
                and not d.get("upstream_cx_none_healthy")
            ):
                continue
            clusters_out.append(ClusterResult(proxy=pid, cluster=cname, counters=d))
            if cname.startswith("outbound|"):
                acc = per_edge[(src_name, cname)]
                for k, v in d.items():
                    acc[k] += v

    return clusters_out, per_edge


def _edges(
    model: MeshModel,
    load: dict[str, Any],
    apps: dict[str, dict[str, Any]],
    per_edge: dict[tuple[str, str], dict[str, float]],
    edge_ms: dict[tuple[str, str], list[float]] | None,
) -> list[EdgeResult]:
    """One :class:`EdgeResult` per (source, cluster): requests and attempts from Envoy's counters,
    success from the final outcomes the calling apps (or, for the gateway, the load generator) saw."""
    gw = model.gateway
    resp, aborts = _app_outcomes(model, apps)
    cluster_by_name = {c.name: c for c in model.clusters}
    ep_wl = {e.id: f"{e.service}.{e.version}" for e in model.endpoints}
    edges: list[EdgeResult] = []
    for (src, cname), d in sorted(per_edge.items()):
        c = cluster_by_name[cname]
        attempts = int(d.get("upstream_rq_total", 0))
        retries = int(d.get("upstream_rq_retry", 0))
        # a request refused by the pending/requests breaker never reaches a connection pool stream, so
        # Envoy does not count it in upstream_rq_total (conn_pool_base.cc counts at attach); it is still a
        # request the app made
        # likewise a request that found no healthy host: Envoy answers 503 UH without an attempt and does not
        # retry it (router.cc sendNoHealthyHostResponse), counted in upstream_cx_none_healthy
        requests = (
            attempts
            - retries
            + int(d.get("upstream_rq_pending_overflow", 0))
            + int(d.get("upstream_cx_none_healthy", 0))
        )
        sibling = [k for k in per_edge if k[0] == src and cluster_by_name[k[1]].service == c.service]
        sib_req = sum(_requests_made(per_edge[k]) for k in sibling)
        # a fault-filter abort (FI) is a request the app made with no upstream attempt, as the simulator counts
        # it (and as Istio's istio_requests_total reporter=source does); the app counts them per destination
        # service, shared here among that service's clusters in proportion to their other requests (exact when
        # the route has one cluster)
        n_abort = aborts.get((src, c.service), 0)
        local_fi = round(n_abort * requests / sib_req) if n_abort and sib_req else 0
        # the gateway's client is the load generator: its final statuses are this edge's outcomes when the
        # gateway routes to this service only (local replies such as 404 NR included)
        only_dest = gw is not None and src == gw.workload and len(sibling) == len([k for k in per_edge if k[0] == src])
        wls = {ep_wl[e] for e in c.endpoints}
        n, ok = _outcomes(src, c.service, wls, requests, sib_req, load if only_dest else None, resp)
        edges.append(
            EdgeResult(
                source=src,
                destination=c.service,
                subset=c.subset,
                cluster=cname,
                requests=requests + local_fi,
                attempts=attempts,
                retries=retries,
                amplification=attempts / (requests + local_fi) if requests + local_fi else None,
                success_rate=_est(ok / n if n else None),
                latency_ms=_latency(*_pcts(edge_ms.get((src, cname), []) if edge_ms else [])),
                latency_cdf_ms=[],
                response_flags={**_flags_from_counters(d), **({"FI": local_fi} if local_fi else {})},
                status_codes={
                    k: int(d[f"upstream_rq_{k}"]) for k in ("2xx", "4xx", "5xx") if d.get(f"upstream_rq_{k}")
                },
            )
        )

    return edges


def _requests_made(d: dict[str, float]) -> float:
    """Requests the callers made on one (source, cluster): attempts less retries, plus those the breaker
    refused and those that found no healthy host (neither is an attempt)."""
    return (
        d.get("upstream_rq_total", 0)
        - d.get("upstream_rq_retry", 0)
        + d.get("upstream_rq_pending_overflow", 0)
        + d.get("upstream_cx_none_healthy", 0)
    )


def _app_outcomes(
    model: MeshModel, apps: dict[str, dict[str, Any]]
) -> tuple[dict[tuple[str, str, str], list[int]], dict[tuple[str, str], int]]:
    """From the apps' records: the final outcomes the calling apps saw, ``(source workload, destination
    service, responding workload) -> [responses, ok]``, and the fault-filter aborts they got,
    ``(source workload, destination service) -> count``."""
    proxies = {p.id: p for p in model.proxies}
    resp: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for pod, st in apps.items():
        p = proxies[pod]
        for key, r in st.get("responders", {}).items():
            dest, who = key.split("|", 1)
            acc2 = resp[(f"{p.service}.{p.version}", dest, who)]
            acc2[0] += r["responses"]
            acc2[1] += r["ok"]
    aborts: dict[tuple[str, str], int] = defaultdict(int)
    for pod, st in apps.items():
        p = proxies[pod]
        for dest, n_abort in st.get("fault_aborts", {}).items():
            aborts[(f"{p.service}.{p.version}", dest)] += int(n_abort)
    return resp, aborts


def _outcomes(
    src: str,
    service: str,
    wls: set[str],
    requests: int,
    sib_req: float,
    load: dict[str, Any] | None,
    resp: dict[tuple[str, str, str], list[int]],
) -> tuple[float, float]:
    """(final outcomes, ok ones) of the requests ``src`` sent to ``service`` on this cluster (workloads
    ``wls``): the load generator's statuses when ``load`` is given (the gateway's edge), in this cluster's
    share of the service's requests, plus the callers' outcomes answered by ``wls`` and, in the same
    share, those with no responder."""
    n = ok = 0.0
    if load is not None:
        st = load.get("statuses", {})
        n = float(int(load.get("requests", load.get("completed", 0))))
        ok = float(sum(v for k, v in st.items() if 0 < int(k) < 500))
        share = requests / sib_req if sib_req else 0.0
        n, ok = n * share, ok * share
    for (s, dest, who), (rn, rok) in resp.items():
        if s != src or dest != service:
            continue
        if who in wls:
            n += rn
            ok += rok
        elif who == "" and sib_req > 0:
            share = requests / sib_req
            n += rn * share
            ok += rok * share
    return n, ok


def _no_route_destination(model: MeshModel, service: str, version: str) -> str:
    """The service a workload's no-route (NR) replies were for: of the services its script calls, the one
    whose virtual host has no route matching every request (a route without ``matches``); ``""`` when
    that is not exactly one (Envoy's ``no_route`` counter does not name the host)."""
    from meshsim.model.rules.script import calls_of

    wl = next((w for s in model.services if s.name == service for w in s.workloads if w.version == version), None)
    if wl is None:
        return ""
    hosts = {vh.host: vh for vh in model.virtual_hosts}
    svc_host = {s.name: s.host for s in model.services}
    can_miss = sorted(
        {
            c.service
            for c in calls_of(wl.script)
            if (vh := hosts.get(svc_host.get(c.service, ""))) is None or not any(not r.matches for r in vh.routes)
        }
    )
    return can_miss[0] if len(can_miss) == 1 else ""


def _no_route_edges(
    model: MeshModel, before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], findings: list[str]
) -> list[EdgeResult]:
    """Requests a client sidecar answered 404 NR (no route matched), one edge per (source, destination) with
    an empty ``cluster`` as the simulator reports them: ``requests`` = the window's delta of the outbound
    HTTP connection manager's ``http.<stat_prefix>.no_route`` (Envoy ``source/common/router/router.cc``
    ``no_route_``, docs ``configuration/http/http_conn_man/stats``), no attempt. The destination is
    :func:`_no_route_destination`; when it cannot be told the edge's ``destination`` is empty and a finding
    says so."""
    acc: dict[tuple[str, str], int] = defaultdict(int)
    for p in model.proxies:
        a, b = after.get(p.id, {}), before.get(p.id, {})
        n = sum(
            int(v - b.get(k, 0.0)) for k, v in a.items() if k.startswith("http.outbound_") and k.endswith(".no_route")
        )
        if n > 0:
            acc[(f"{p.service}.{p.version}", _no_route_destination(model, p.service, p.version))] += n
    edges = []
    for (src, dest), n in sorted(acc.items()):
        if not dest:
            findings.append(f"{n} request(s) of {src} got 404 NR for a service that cannot be told apart")
        edges.append(
            EdgeResult(
                source=src,
                destination=dest,
                subset="",
                cluster="",
                requests=n,
                attempts=0,
                retries=0,
                amplification=0.0,
                success_rate=_est(1.0),  # a 404 is not a 5xx (meshsim.sim.request.is_success)
                latency_ms=_latency(None, None),
                latency_cdf_ms=[],
                response_flags={"NR": n},
                status_codes={"404": n},  # Envoy answers NR with 404
            )
        )
    return edges


def _calls(model: MeshModel, apps: dict[str, dict[str, Any]]) -> list[CallResult]:
    """App-level calls per (source workload, destination service): tries, retries, timeouts, latency."""
    proxies = {p.id: p for p in model.proxies}
    call_lat: dict[tuple[str, str], list[float]] = defaultdict(list)
    for pod, st in apps.items():
        p = proxies[pod]
        for dest, samples in st.get("call_latency_ms", {}).items():
            call_lat[(f"{p.service}.{p.version}", dest)].extend(samples)
    calls: list[CallResult] = []
    call_acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for pod, st in apps.items():
        p = proxies[pod]
        for dest, r in st.get("calls", {}).items():
            a = call_acc[(f"{p.service}.{p.version}", dest)]
            for i, k in enumerate(("calls", "ok", "tries", "timeouts", "skipped")):
                a[i] += r[k]
    for (src, dest), (ncalls, nok, tries, timeouts, skipped) in sorted(call_acc.items()):
        calls.append(
            CallResult(
                source=src,
                destination=dest,
                calls=ncalls,
                tries=tries,
                app_retries=tries - ncalls,
                app_timeouts=timeouts,
                skipped=skipped,
                success_rate=nok / ncalls if ncalls else None,
                latency_ms=_latency(*_pcts(call_lat.get((src, dest), []))),
            )
        )

    return calls


def _services(model: MeshModel, apps: dict[str, dict[str, Any]], duration: float) -> list[ServiceResult]:
    """Per workload, from its pods' app records: arrival rate, worker utilisation, queueing."""
    services: list[ServiceResult] = []
    for w in model.workloads:
        pods = [e.id for e in model.service(w.service).endpoints if e.version == w.version]
        sts = [apps[p] for p in pods if p in apps]
        req = sum(s["requests"] for s in sts)
        busy = sum(s["busy_time"] for s in sts)
        qtime = sum(s["queue_time"] for s in sts)
        res = sum(s["residence_time"] for s in sts)
        inj = sum(s["errors_injected"] for s in sts)
        waited = sum(s["waited"] for s in sts)
        rate = req / duration if duration else 0.0
        mean_busy = busy / duration if duration else 0.0
        cap = w.replicas * w.concurrency if w.concurrency else None
        services.append(
            ServiceResult(
                name=w.service,
                version=w.version,
                replicas=w.replicas,
                concurrency=w.concurrency,
                arrival_rate_rps=rate,
                utilization=_est(mean_busy / cap) if cap else None,
                mean_busy_workers=mean_busy,
                mean_queue_length=qtime / duration if duration else 0.0,
                mean_in_system=res / duration if duration else 0.0,
                mean_wait_ms=qtime / req * 1e3 if req else None,
                p_wait=waited / req if req else None,
                mean_residence_ms=res / req * 1e3 if req else None,
                error_rate=inj / req if req else None,
            )
        )

    return services


def _entry(model: MeshModel, load: dict[str, Any], duration: float) -> EntryResult:
    """The entry requests as the load generator saw them."""
    statuses = load.get("statuses", {})
    completed = int(load.get("completed", 0))
    ok_lt500 = sum(v for k, v in statuses.items() if 0 < int(k) < 500)
    requests = int(load.get("requests", completed))
    entry = EntryResult(
        service=model.load.entry,
        requests=completed,
        incomplete=int(load.get("unfinished", 0)),
        throughput_rps=completed / duration if duration else 0.0,
        success_rate=_est(ok_lt500 / requests if requests else None),
        latency_ms=_latency(load.get("latency_ms"), load.get("latency_mean_ms")),
        latency_cdf_ms=[(q, v) for q, v in load.get("cdf_ms", [])],
        status_codes={str(k): int(v) for k, v in statuses.items()},
    )
    return entry


def cpu_rows(
    model: MeshModel,
    containers: dict[tuple[str, str], ContainerCgroup],
    before: dict[tuple[str, str], CpuSample],
    after: dict[tuple[str, str], CpuSample],
    rq_before: dict[str, tuple[float, int]],
    rq_after: dict[str, tuple[float, int]],
    wall_s: float,
) -> tuple[list[ContainerCPU], list[NodeCPU]]:
    """The summary's ``containers[]`` and ``nodes[]`` from the run's cgroups: per container the deltas of
    its ``cpuacct.usage`` (v2 ``usage_usec``) and ``cpu.stat`` between the two samples ``wall_s`` seconds
    apart (``cpu_cores`` = CPU seconds / wall seconds); per node of ``model.nodes`` the sum of its
    containers' cores and the mean run-queue wait per timeslice of their threads (ms; null without
    timeslices). Empty without samples (the CPU model off)."""
    if not before or not after or wall_s <= 0:
        return [], []
    rows: list[ContainerCPU] = []
    per_node: dict[str, float] = defaultdict(float)
    for key, cg in containers.items():
        if key not in before or key not in after:
            continue
        d = after[key] - before[key]
        cores = max(0.0, d.usage_s) / wall_s
        req, lim = cg.spec.request_cores, cg.spec.limit_cores
        rows.append(
            ContainerCPU(
                pod=cg.pod,
                container=cg.container,
                node=cg.node,
                request_cores=req,
                limit_cores=lim,
                cpu_cores=cores,
                utilization_of_request=cores / req if req else None,
                utilization_of_limit=cores / lim if lim else None,
                nr_periods=d.nr_periods,
                nr_throttled=d.nr_throttled,
                throttled_time_s=d.throttled_s,
            )
        )
        if cg.node is not None:
            per_node[cg.node] += cores
    nodes: list[NodeCPU] = []
    for n in model.nodes:
        w0, k0 = rq_before.get(n.name, (0.0, 0))
        w1, k1 = rq_after.get(n.name, (0.0, 0))
        used = per_node.get(n.name, 0.0)
        nodes.append(
            NodeCPU(
                node=n.name,
                cores=n.cores,
                cpu_cores=used,
                utilization=used / n.cores if n.cores else 0.0,
                mean_runqueue_wait_ms=(w1 - w0) / (k1 - k0) * 1e3 if k1 > k0 else None,
            )
        )
    return rows, nodes

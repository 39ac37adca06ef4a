"""Observation of the data path behind one interface: spans of sampled requests and the per-edge,
per-call, per-pod and Istio-metric records of every request.

The data path calls these objects and keeps no observation logic of its own:

- :class:`~meshsim.sim.spans.Spans` (one per entry request, ``Ctx.spans``, in :mod:`meshsim.sim.spans`):
  :data:`NO_SPANS` for a request that is not sampled (every method does nothing, ids are 0),
  :class:`TraceSpans` for a sampled one (the spans of a :class:`~meshsim.telemetry.record.Trace`,
  nested as :mod:`meshsim.telemetry.jaeger` describes). On the hot path (a served request, an app
  call, an attempt, the wire) the call is made only when ``Ctx.traced``: a no-op call with its
  arguments costs more than the test (measured: ~15 % of Bookinfo's CPU); the test guards the
  recording call only, never data-path logic.
- :class:`Recorder` (one per replication): edge and call statistics, denials, the entry request's
  outcome and the optional per-interval :class:`~meshsim.metrics.series.Series`;
  :class:`IstioRecorder` also counts Istio's standard metrics (``reporter=source`` at the client
  sidecar, ``reporter=destination`` at the server's), only when ``--prometheus`` asks for them.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from meshsim.metrics.recorder import Tally
from meshsim.metrics.series import Series
from meshsim.metrics.tally import CallStats, EdgeStats
from meshsim.model.ir import CallStep, Cluster, Workload
from meshsim.model.rules.tls import tls_state
from meshsim.sim.request import BATCHES, Ctx, is_success
from meshsim.sim.spans import NO_SPANS, Spans, TraceSpans
from meshsim.telemetry.record import DURATION_BUCKETS_MS, IstioMetrics, spiffe

__all__ = ["NO_SPANS", "IstioRecorder", "Recorder", "Spans", "TraceSpans"]


class Recorder:
    """Everything one replication records about requests (the sink of the data path).

    ``edges[(source workload, service, cluster)]``, ``calls[(source workload, service)]``,
    ``denied[(source workload, service, cluster)] = {policy: n}``, the entry requests' outcomes
    (latencies in ms per batch), and ``series`` (per-interval counters, when the run has a timeline).
    Only measured requests are counted, except in ``series``, which covers the whole run.
    """

    def __init__(self, series: Series | None) -> None:
        self.series = series
        self.edges: dict[tuple[str, str, str], EdgeStats] = {}
        self.calls: dict[tuple[str, str], CallStats] = {}
        self.denied: dict[tuple[str, str, str], dict[str, int]] = {}
        self.metrics = IstioMetrics()
        self.entry_latency = Tally(BATCHES)
        self.entry_requests = 0
        self.entry_success = 0
        self.entry_codes: dict[int, int] = {}
        self.batch_req = [0] * BATCHES
        self.batch_ok = [0] * BATCHES

    def edge(
        self,
        proxy: Any,
        ctx: Ctx,
        service: str,
        cname: str,
        status: int,
        flag: str,
        attempts: int,
        t0: float,
        now: float,
        retries: int,
        dst: Any,
        call: CallStep | None,
    ) -> None:
        """A request through ``proxy``'s router to ``service`` via cluster ``cname`` ended at ``now``
        with ``status``/``flag`` after ``attempts`` upstream tries (``retries`` of them retries);
        ``dst`` is the pod of the last attempt (None: no attempt). A gateway's edge leads to the
        service of its cluster (its routes may lead to any service)."""
        if proxy.by_cluster:
            c = proxy.clusters.get(cname)
            if c is not None:
                service = c.service
        if ctx.measured:
            key = (proxy.src, service, cname)
            es = self.edges.get(key)
            if es is None:
                es = self.edges[key] = EdgeStats(BATCHES)
            es.requests += 1
            es.attempts += attempts
            es.retries += retries
            if is_success(status):
                es.success += 1
            es.codes[status] = es.codes.get(status, 0) + 1
            if flag:
                es.flags[flag] = es.flags.get(flag, 0) + 1
            ms = (now - t0) * 1e3
            es.latency.add(ctx.batch, ms)
            self.source_metric(proxy, service, cname, status, flag, ms, dst, call)
        series = self.series
        if series is not None:
            series.add_edge(now, proxy.src, service, attempts, retries)

    def source_metric(
        self, proxy: Any, service: str, cname: str, status: int, flag: str, ms: float, dst: Any, call: CallStep | None
    ) -> None:
        """Istio's metrics, reporter=source, of one measured request (not recorded here)."""

    def server_metric(self, pod: Any, src: Any, principal: str, status: int, flag: str, ms: float) -> None:
        """Istio's metrics, reporter=destination, of one measured request at ``pod`` (not recorded here)."""

    def denial(self, src_key: str, service: str, cname: str, policy: str) -> None:
        """An AuthorizationPolicy ``policy`` denied a measured request of this client edge."""
        per = self.denied.setdefault((src_key, service, cname), {})
        per[policy] = per.get(policy, 0) + 1

    def served(
        self,
        pod: Any,
        src: Any,
        principal: str,
        status: int,
        measured: bool,
        t_in: float,
        t_arr: float,
        t_start: float,
        now: float,
    ) -> None:
        """``pod`` answered a request with ``status`` at ``now``: it reached the pod's sidecar at
        ``t_in``, the app at ``t_arr`` and a worker at ``t_start`` (seconds). ``src`` is the calling
        proxy (None: the load source), ``principal`` its mTLS identity. Workload statistics count
        measured requests only; the series counts every request."""
        series = self.series
        if series is not None:
            series.add(now, pod.key, 0 < status < 500, (now - t_arr) * 1e3)
        if measured:
            st = pod.stats
            st.arrivals += 1
            st.completed += 1
            if status >= 500:
                st.errors += 1
            w = t_start - t_arr
            if w > 0:
                st.waited += 1
                st.wait_sum += w
            st.residence_sum += now - t_arr

    def call(
        self, src_key: str, service: str, ctx: Ctx, tries: int, timeouts: int, ok: bool, t0: float, now: float
    ) -> None:
        """An app-level call from workload ``src_key`` to ``service`` ended after ``tries`` tries."""
        series = self.series
        if series is not None:
            series.add_call(now, src_key, service, tries)
        if ctx.measured:
            cst = self.call_stats(src_key, service)
            cst.calls += 1
            cst.tries += tries
            cst.app_retries += tries - 1
            cst.app_timeouts += timeouts
            if not ok:
                cst.failures += 1
            cst.latency.add(ctx.batch, (now - t0) * 1e3)

    def call_stats(self, src_key: str, service: str) -> CallStats:
        key = (src_key, service)
        cs = self.calls.get(key)
        if cs is None:
            cs = self.calls[key] = CallStats(BATCHES)
        return cs

    def entry(self, ctx: Ctx, status: int, t_arrival: float, now: float) -> None:
        """An entry request that arrived at ``t_arrival`` got ``status`` at ``now``."""
        if self.series is not None:
            self.series.add_entry(now, is_success(status), (now - t_arrival) * 1e3)
        if ctx.measured:
            batch = ctx.batch
            self.entry_requests += 1
            self.batch_req[batch] += 1
            if is_success(status):
                self.entry_success += 1
                self.batch_ok[batch] += 1
            self.entry_codes[status] = self.entry_codes.get(status, 0) + 1
            self.entry_latency.add(batch, (now - t_arrival) * 1e3)


class IstioRecorder(Recorder):
    """A :class:`Recorder` that also counts Istio's standard metrics (``istio_requests_total``,
    ``istio_request_duration_milliseconds``) with their labels
    (https://istio.io/latest/docs/reference/config/metrics/). The label series of each outcome is
    looked up once and then incremented in place."""

    def __init__(self, series: Series | None) -> None:
        super().__init__(series)
        self.src_hists: dict[tuple[Any, ...], list[float]] = {}
        self.dst_hists: dict[tuple[Any, ...], list[float]] = {}

    def source_metric(
        self, proxy: Any, service: str, cname: str, status: int, flag: str, ms: float, dst: Any, call: CallStep | None
    ) -> None:
        mk = (proxy, dst, cname, status, flag)  # proxies and pods hash by identity
        h = self.src_hists.get(mk)
        if h is None:
            labels = source_labels(proxy, service, cname, status, flag, dst.wl if dst is not None else None, call)
            h = self.src_hists[mk] = self.metrics.series(labels)
        h[0] += 1
        h[1] += ms
        h[2 + bisect_left(DURATION_BUCKETS_MS, ms)] += 1

    def served(
        self,
        pod: Any,
        src: Any,
        principal: str,
        status: int,
        measured: bool,
        t_in: float,
        t_arr: float,
        t_start: float,
        now: float,
    ) -> None:
        super().served(pod, src, principal, status, measured, t_in, t_arr, t_start, now)
        if measured:
            self.server_metric(pod, src, principal, status, "-", (now - t_in) * 1e3)

    def server_metric(self, pod: Any, src: Any, principal: str, status: int, flag: str, ms: float) -> None:
        mk = (pod, src, principal, status, flag)
        h = self.dst_hists.get(mk)
        if h is None:
            h = self.dst_hists[mk] = self.metrics.series(dest_labels(pod, src, principal, status, flag))
        h[0] += 1
        h[1] += ms
        h[2 + bisect_left(DURATION_BUCKETS_MS, ms)] += 1


def source_labels(
    proxy: Any, service: str, cname: str, status: int, flag: str, dst: Workload | None, call: CallStep | None
) -> tuple[str, ...]:
    """The Istio metric labels (:data:`~meshsim.telemetry.record.LABELS`) of one outcome reported by
    the client ``proxy`` (reporter=source); ``dst`` the workload of the last attempt's pod, if any."""
    c: Cluster | None = proxy.clusters.get(cname)
    host = c.host if c is not None else (call.host if call is not None else "")
    if dst is not None:
        tls = tls_state(c.tls_mode if c is not None else None, dst.mtls_mode)
        return (
            "source",
            proxy.wl_name,
            proxy.namespace,
            proxy.version,
            spiffe(proxy.principal),
            dst.name or dst.key,
            dst.namespace,
            dst.version,
            host,
            service,
            spiffe(dst.principal) if tls == 1 else "unknown",
            "http",
            str(status),
            flag or "-",
            "unknown",
        )
    return (
        "source",
        proxy.wl_name,
        proxy.namespace,
        proxy.version,
        spiffe(proxy.principal),
        "unknown",
        "unknown",
        "unknown",
        host or "unknown",
        service,
        "unknown",
        "http",
        str(status),
        flag or "-",
        "unknown",
    )


def dest_labels(pod: Any, src: Any, principal: str, status: int, flag: str) -> tuple[str, ...]:
    """The Istio metric labels of one outcome reported by ``pod``'s sidecar (reporter=destination);
    ``src`` the calling proxy (None: the load source, outside the mesh), ``principal`` its mTLS
    identity ("" over plaintext)."""
    wl = pod.wl
    if src is None:
        s_wl, s_ns, s_ver = "unknown", "unknown", "unknown"
    else:
        s_wl, s_ns, s_ver = src.wl_name, src.namespace, src.version
    return (
        "destination",
        s_wl,
        s_ns,
        s_ver,
        spiffe(principal) if principal else "unknown",
        pod.sidecar.wl_name,
        wl.namespace,
        wl.version,
        pod.svc_host,
        wl.service,
        spiffe(wl.principal),
        "http",
        str(status),
        flag,
        "mutual_tls" if principal else "none",
    )

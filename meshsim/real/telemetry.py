"""Istio's standard metrics from the real mesh: Envoy access logs -> :class:`IstioMetrics`.

Each Envoy of a run started with Prometheus output writes one JSON line per request and listener
(:mod:`meshsim.xds.telemetry`). A line from a client sidecar's ``virtualOutbound`` listener or from
a gateway is a ``reporter="source"`` sample, one from a sidecar's ``virtualInbound`` listener a
``reporter="destination"`` sample, as Istio's stats filter reports them
(https://istio.io/latest/docs/reference/config/metrics/). Labels are filled from the compiled model,
so they are exactly the simulator's (``meshsim.sim.observe`` ``source_labels``/``dest_labels``):

- source side: the reporting pod's workload; the destination workload from the upstream host
  (``ip:port`` -> pod), ``unknown`` for local replies that reached no host (503 UO/UH, 504 UT with no
  response); ``destination_principal`` the server certificate's URI SAN (``unknown`` over plaintext);
  ``connection_security_policy`` ``unknown`` (Istio reports it on the server side only);
- destination side: the source workload from the client's ``x-envoy-peer-metadata-id`` (Istio's
  metadata exchange header; ``unknown`` for the load generator, which is outside the mesh);
  ``source_principal`` the client certificate's URI SAN and ``connection_security_policy``
  ``mutual_tls``, else ``unknown``/``none``.

Durations are Envoy's first-request-byte to last-response-byte time (µs in the log, ms in the
histogram, Istio's ``istio_request_duration_milliseconds``). Only requests that started inside the
measured window ``[t0, t1)`` (epoch seconds) are counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshsim.model.ir import MeshModel
from meshsim.telemetry.record import IstioMetrics, spiffe
from meshsim.xds.ports import PortPlan

__all__ = ["metrics_from_access_logs"]


def _pods(model: MeshModel) -> dict[str, tuple[str, str, str, str]]:
    """pod id -> (workload name, namespace, version, principal as a metric label)."""
    out: dict[str, tuple[str, str, str, str]] = {}
    for svc in model.services:
        for w in svc.workloads:
            ident = (w.workload_name, w.namespace, w.version, spiffe(w.principal))
            for e in svc.endpoints:
                if e.version == w.version:
                    out[e.id] = ident
    gw = model.gateway
    if gw is not None:
        for g in gw.proxies:
            out[g] = (gw.workload, gw.namespace, "unknown", spiffe(gw.principal))
    return out


def _or_unknown(v: Any) -> str:
    return "unknown" if v in (None, "", "-") else str(v)


def metrics_from_access_logs(
    model: MeshModel, plan: PortPlan, t0: float, t1: float, proxies: list[str]
) -> tuple[IstioMetrics, dict[str, int], dict[tuple[str, str], list[float]]]:
    """Aggregate the access logs of ``proxies`` (pod ids; files at ``plan.access_log_path``).

    Returns the metrics; per-pod counts of lines read, counted and unparseable (keys
    ``<pod>.read``, ``<pod>.counted``, ``<pod>.bad``; a missing file counts as empty); and the
    client-side request durations (ms) per summary edge ``(source, cluster)``, the source named as
    in ``summary.json`` (``<service>.<version>``, or the gateway workload).

    Raises
    ------
    ValueError
        When ``plan`` has no access-log directory.
    """
    if plan.access_log_dir is None:
        raise ValueError("the run was started without access logs (PortPlan.access_log_dir)")
    pods = _pods(model)
    by_addr: dict[str, str] = {}
    for svc in model.services:
        for e in svc.endpoints:
            by_addr[f"{plan.ip(e.id)}:{svc.port}"] = e.id
    clusters = {c.name: c for c in model.clusters}
    services = {s.name: s for s in model.services}
    inbound_of = {p.id: p.service for p in model.proxies}
    edge_src = {p.id: f"{p.service}.{p.version}" for p in model.proxies}
    if model.gateway is not None:
        edge_src.update({g: model.gateway.workload for g in model.gateway.proxies})
    m = IstioMetrics()
    stats: dict[str, int] = {}
    edge_ms: dict[tuple[str, str], list[float]] = {}
    for pod in proxies:
        path = plan.access_log_path(pod)
        assert path is not None
        p = Path(path)
        lines = p.read_text().splitlines() if p.exists() else []
        n_ok = n_bad = 0
        me = pods[pod]
        for line in lines:
            try:
                r = json.loads(line)
                start = float(r["start"])
                ms = float(r["dur_us"]) / 1e3 if r.get("dur_us") not in (None, "-", "") else 0.0
                code = str(r.get("code") or 0)
            except (ValueError, KeyError, TypeError):
                n_bad += 1
                continue
            if not t0 <= start < t1:
                continue
            flags = str(r.get("flags") or "-")
            cname = str(r.get("cluster") or "")
            if r.get("reporter") == "destination":
                svc = services[inbound_of[pod]]
                src = pods.get(str(r.get("peer_id") or ""))
                s_wl, s_ns, s_ver = src[:3] if src is not None else ("unknown", "unknown", "unknown")
                peer = r.get("downstream_peer")
                mtls = peer not in (None, "", "-")
                labels = (
                    "destination",
                    s_wl,
                    s_ns,
                    s_ver,
                    str(peer) if mtls else "unknown",
                    me[0],
                    me[1],
                    me[2],
                    svc.host,
                    svc.name,
                    me[3],
                    "http",
                    code,
                    flags,
                    "mutual_tls" if mtls else "none",
                )
            else:
                c = clusters.get(cname)
                if c is not None:
                    edge_ms.setdefault((edge_src[pod], cname), []).append(ms)
                host = c.host if c is not None else "unknown"
                service = c.service if c is not None else "unknown"
                dst_pod = by_addr.get(str(r.get("upstream_host") or ""))
                dst = pods.get(dst_pod) if dst_pod is not None else None
                if dst is not None:
                    up = r.get("upstream_peer")
                    labels = (
                        "source",
                        me[0],
                        me[1],
                        me[2],
                        me[3],
                        dst[0],
                        dst[1],
                        dst[2],
                        host,
                        service,
                        _or_unknown(up),
                        "http",
                        code,
                        flags,
                        "unknown",
                    )
                else:
                    labels = (
                        "source",
                        me[0],
                        me[1],
                        me[2],
                        me[3],
                        "unknown",
                        "unknown",
                        "unknown",
                        host,
                        service,
                        "unknown",
                        "http",
                        code,
                        flags,
                        "unknown",
                    )
            m.add(labels, ms)
            n_ok += 1
        stats[f"{pod}.read"] = len(lines)
        stats[f"{pod}.counted"] = n_ok
        stats[f"{pod}.bad"] = n_bad
    return m, stats, edge_ms

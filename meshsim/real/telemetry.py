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

:class:`ZipkinCollector` is the other half of ``meshsim real run --traces``: a Zipkin v2 HTTP intake
(``POST /api/v2/spans``, ``openzipkin/zipkin-api`` ``zipkin2-api.yaml``) on loopback that the Envoys'
own tracer (:mod:`meshsim.xds.tracing`) sends its span batches to, written out as one ``ListOfSpans``.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from meshsim.model.ir import MeshModel
from meshsim.telemetry.record import IstioMetrics, spiffe
from meshsim.xds.ports import PortPlan

__all__ = ["ZipkinCollector", "metrics_from_access_logs", "zipkin_tags"]


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


class _Names:
    """What an access-log line's labels are looked up in, from the compiled model: each pod's identity
    (:func:`_pods`), pods by ``ip:port``, clusters and services by name, each sidecar's inbound service,
    and each Envoy's source name as ``summary.json`` has it."""

    def __init__(self, model: MeshModel, plan: PortPlan) -> None:
        self.pods = _pods(model)
        self.by_addr: dict[str, str] = {}
        for svc in model.services:
            for e in svc.endpoints:
                self.by_addr[f"{plan.ip(e.id)}:{svc.port}"] = e.id
        self.clusters = {c.name: c for c in model.clusters}
        self.services = {s.name: s for s in model.services}
        self.inbound_of = {p.id: p.service for p in model.proxies}
        self.edge_src = {p.id: f"{p.service}.{p.version}" for p in model.proxies}
        if model.gateway is not None:
            self.edge_src.update({g: model.gateway.workload for g in model.gateway.proxies})


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
    names = _Names(model, plan)
    m = IstioMetrics()
    stats: dict[str, int] = {}
    edge_ms: dict[tuple[str, str], list[float]] = {}
    for pod in proxies:
        path = plan.access_log_path(pod)
        assert path is not None
        p = Path(path)
        lines = p.read_text().splitlines() if p.exists() else []
        n_ok = n_bad = 0
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
            if r.get("reporter") == "destination":
                labels = _destination_labels(names, pod, r, code, flags)
            else:
                cname = str(r.get("cluster") or "")
                if cname in names.clusters:
                    edge_ms.setdefault((names.edge_src[pod], cname), []).append(ms)
                labels = _source_labels(names, pod, r, code, flags)
            m.add(labels, ms)
            n_ok += 1
        stats[f"{pod}.read"] = len(lines)
        stats[f"{pod}.counted"] = n_ok
        stats[f"{pod}.bad"] = n_bad
    return m, stats, edge_ms


def _destination_labels(names: _Names, pod: str, r: dict[str, Any], code: str, flags: str) -> tuple[str, ...]:
    """Labels of a ``reporter="destination"`` sample (a sidecar's inbound line): the source from the
    client's peer metadata id, its principal and ``mutual_tls`` from the client certificate."""
    me = names.pods[pod]
    svc = names.services[names.inbound_of[pod]]
    src = names.pods.get(str(r.get("peer_id") or ""))
    s_wl, s_ns, s_ver = src[:3] if src is not None else ("unknown", "unknown", "unknown")
    peer = r.get("downstream_peer")
    mtls = peer not in (None, "", "-")
    return (
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


def _source_labels(names: _Names, pod: str, r: dict[str, Any], code: str, flags: str) -> tuple[str, ...]:
    """Labels of a ``reporter="source"`` sample (a client sidecar's or gateway's outbound line): the
    destination workload from the upstream host, ``unknown`` for a local reply that reached no host."""
    me = names.pods[pod]
    c = names.clusters.get(str(r.get("cluster") or ""))
    host = c.host if c is not None else "unknown"
    service = c.service if c is not None else "unknown"
    dst_pod = names.by_addr.get(str(r.get("upstream_host") or ""))
    dst = names.pods.get(dst_pod) if dst_pod is not None else None
    if dst is None:
        dst, principal = ("unknown", "unknown", "unknown", "unknown"), "unknown"
    else:
        principal = _or_unknown(r.get("upstream_peer"))
    return (
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
        principal,
        "http",
        code,
        flags,
        "unknown",
    )


def zipkin_tags(model: MeshModel) -> dict[str, dict[str, str]]:
    """Istio's span tags of every pod's Envoy (``{pod id: {tag: value}}``): ``istio.canonical_service``,
    ``istio.canonical_revision`` and ``istio.namespace`` (Istio takes them from the pod's
    ``service.istio.io/canonical-*`` labels, defaulting to ``app`` and ``version``); a gateway pod is
    ``istio-ingressgateway``, Istio's name for its ingress gateway."""
    out = {
        pid: {"istio.canonical_service": w, "istio.canonical_revision": v, "istio.namespace": ns}
        for pid, (w, ns, v, _) in _pods(model).items()
    }
    for p in model.proxies:
        out[p.id]["istio.canonical_service"] = p.service
    if model.gateway is not None:
        for g in model.gateway.proxies:
            out[g]["istio.canonical_service"] = "istio-ingressgateway"
            out[g]["istio.canonical_revision"] = "latest"
    return out


class ZipkinCollector:
    """A Zipkin v2 span intake on ``address`` (loopback; port 0 picks a free one, see :attr:`port`) that
    appends every POSTed batch (a JSON array of spans, optionally gzip-encoded) to ``path``.

    The file is written as a temporary sibling and moved into place by :meth:`close`, so ``path``
    is either absent or a complete JSON ``ListOfSpans``. Spans are not held in memory. A body that
    is not a JSON array gets 400 and is counted in :attr:`rejected`.

    Raises
    ------
    ValueError
        If ``address`` is not a loopback address.
    """

    def __init__(self, path: Path, address: str = "127.0.0.1", port: int = 0) -> None:
        if not address.startswith("127."):
            raise ValueError(f"collector address {address} is not loopback")
        self.path = Path(path)
        self.spans = 0
        self.batches = 0
        self.rejected = 0
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self._f = self._tmp.open("w", encoding="utf-8")
        self._f.write("[")
        self._lock = threading.Lock()
        collector = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: Envoy's collector cluster reuses its connections

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    parts: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self._body()
                if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                    body = gzip.decompress(body)
                ok = self.path.split("?")[0] == "/api/v2/spans" and collector._add(body)
                self.send_response(202 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                return

        self._server = ThreadingHTTPServer((address, port), _Handler)
        self.address = address
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="zipkin-collector", daemon=True)
        self._thread.start()

    def _add(self, body: bytes) -> bool:
        try:
            spans = json.loads(body)
        except ValueError:
            spans = None
        if not isinstance(spans, list):
            with self._lock:
                self.rejected += 1
            return False
        with self._lock:
            for sp in spans:
                self._f.write(("," if self.spans else "") + json.dumps(sp, separators=(",", ":")))
                self.spans += 1
            self.batches += 1
        return True

    def close(self) -> None:
        """Stop serving and move the complete file into place (idempotent)."""
        if self._f.closed:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            self._f.write("]\n")
            self._f.close()
        os.replace(self._tmp, self.path)

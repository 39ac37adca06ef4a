"""Read Istio's standard metrics and infer the call graph, call ratios, codes and rates from them.

Inputs: the Prometheus text exposition format (parsed with ``prometheus_client.parser``) or the
query API's JSON (``{"status": "success", "data": {"resultType": "vector"|"matrix", "result": [...]}}``,
https://prometheus.io/docs/prometheus/latest/querying/api/). Series used (labels from
https://istio.io/latest/docs/reference/config/metrics/):

- ``istio_requests_total``: per ``reporter``, source (``source_canonical_service``, else
  ``source_workload`` without its ``-<source_version>`` suffix), destination
  (``destination_canonical_service``, else ``destination_service_name``), version
  (``destination_canonical_revision``, else ``destination_version``) and ``response_code``.
  ``source_workload="unknown"`` marks requests from outside the mesh: the entry.
- ``istio_request_duration_milliseconds_bucket``: the latency histogram of the same labels.

Counters in a text scrape count since the proxies started: give ``window`` (seconds) to turn them
into rates. Query-API results of ``rate(...)``/``increase(...)`` may lack ``__name__``: a series with
an ``le`` label is then taken as the duration histogram, one without as the request rate.

Service times from metrics are approximate: a destination's latency minus what its calls take
(their source-reported medians times calls per request, as if sequential; metrics carry no span
overlap), fitted as a lognormal through the median and p99 read from the histogram by linear
interpolation within buckets (Prometheus's ``histogram_quantile`` method).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshsim.errors import ConfigError
from meshsim.importers.emit import Emitted, _routing, _weights

__all__ = ["Metrics", "read_metrics", "metrics_documents", "cross_check"]

REQUESTS = "istio_requests_total"
DURATION = "istio_request_duration_milliseconds"

Key = tuple[str, str, str, str]
"""(source service, source version, destination service, destination version)."""


@dataclass
class Metrics:
    """Istio request counts (or rates) and duration histograms, reporter by reporter."""

    requests: dict[str, dict[Key, dict[str, float]]] = field(default_factory=lambda: defaultdict(dict))
    buckets: dict[str, dict[Key, dict[float, float]]] = field(default_factory=lambda: defaultdict(dict))
    per_second: bool = False
    problems: list[str] = field(default_factory=list)

    def reporter(self) -> str:
        return "destination" if self.requests.get("destination") else "source"


def _src(labels: dict[str, str]) -> tuple[str, str]:
    wl = labels.get("source_workload", "unknown")
    ver = labels.get("source_canonical_revision") or labels.get("source_version") or "latest"
    svc = labels.get("source_canonical_service") or labels.get("source_app")
    if not svc:
        svc = wl[: -len(ver) - 1] if ver not in ("unknown", "latest") and wl.endswith("-" + ver) else wl
    return svc, ver


def _dst(labels: dict[str, str]) -> tuple[str, str]:
    svc = labels.get("destination_canonical_service") or labels.get("destination_service_name") or ""
    if not svc:
        svc = labels.get("destination_service", "").split(".")[0]
    ver = labels.get("destination_canonical_revision") or labels.get("destination_version") or "latest"
    return svc, ver


def _add(m: Metrics, name: str, labels: dict[str, str], value: float) -> None:
    if not math.isfinite(value):
        return
    rep = labels.get("reporter", "destination")
    s, sv = _src(labels)
    d, dv = _dst(labels)
    if not d:
        return
    key = (s, sv, d, dv)
    if name == REQUESTS:
        codes = m.requests[rep].setdefault(key, {})
        code = labels.get("response_code", "200")
        codes[code] = codes.get(code, 0.0) + value
    elif name == DURATION + "_bucket" and "le" in labels:
        le = float("inf") if labels["le"] in ("+Inf", "Inf", "inf") else float(labels["le"])
        h = m.buckets[rep].setdefault(key, {})
        h[le] = h.get(le, 0.0) + value


def _read_text(path: Path, m: Metrics) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        for fam in text_string_to_metric_families(path.read_text()):
            for sample in fam.samples:
                _add(m, sample.name, dict(sample.labels), float(sample.value))
    except ValueError as exc:
        raise ConfigError(str(path), "", f"not Prometheus text exposition: {str(exc).splitlines()[0][:120]}") from None


def _read_json(path: Path, m: Metrics) -> None:
    try:
        doc = json.loads(path.read_text())
        result = doc["data"]["result"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(str(path), "data.result", "not a Prometheus query-API response") from None
    m.per_second = True
    for r in result:
        labels = dict(r.get("metric") or {})
        name = labels.get("__name__") or (DURATION + "_bucket" if "le" in labels else REQUESTS)
        value = r.get("value") or ((r.get("values") or [[0, "nan"]])[-1])
        _add(m, name, labels, float(value[1]))


def read_metrics(paths: list[Path], window: float | None = None) -> Metrics:
    """Read every file of ``paths`` into one :class:`Metrics`; counters are divided by ``window``.

    Raises
    ------
    ConfigError
        If a file is missing or malformed, or no file holds ``istio_requests_total``.
    """
    m = Metrics()
    for p in paths:
        if not p.is_file():
            raise ConfigError(str(p), "", "no such file")
        before = sum(len(v) for v in m.requests.values())
        head = p.read_text()[:1].lstrip() if p.stat().st_size else ""
        (_read_json if head.startswith("{") else _read_text)(p, m)
        if sum(len(v) for v in m.requests.values()) == before:
            m.problems.append(f"{p}: no {REQUESTS} series")
    if not any(m.requests.values()):
        raise ConfigError(
            ", ".join(map(str, paths)),
            REQUESTS,
            f"no Istio metrics found (need {REQUESTS}, optionally {DURATION}_bucket)",
        )
    if window:
        for rep in m.requests.values():
            for codes in rep.values():
                for c in codes:
                    codes[c] /= window
        m.per_second = True
    return m


def _quantile(h: dict[float, float], q: float) -> float | None:
    """``histogram_quantile(q, ...)`` of cumulative buckets ``{le: count}`` (ms)."""
    les = sorted(h)
    if not les or h[les[-1]] <= 0:
        return None
    rank = q * h[les[-1]]
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = h[le]
        if c >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 0.0)
        prev_le, prev_c = le, c
    return prev_le


def _total(codes: dict[str, float]) -> float:
    return sum(codes.values())


def _errors(codes: dict[str, float]) -> float:
    return sum(v for c, v in codes.items() if c.startswith("5") or c == "0")


@dataclass
class _Traffic:
    """The reporter's counters and histograms summed per (service, version): requests in, 5xx, from
    outside the mesh (per service), per callee, per version of each callee, and the latency buckets
    (destination-side per version; source-side per caller and callee)."""

    incoming: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    errors: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    entry: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[tuple[str, str], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    split: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    lat: dict[tuple[str, str], dict[float, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    src_lat: dict[tuple[str, str, str], dict[float, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )


def _traffic(m: Metrics) -> _Traffic:
    """Sum ``m``'s series (from its reporter, :meth:`Metrics.reporter`) into a :class:`_Traffic`."""
    t = _Traffic()
    rep = m.reporter()
    req = m.requests[rep]
    for (s, _sv, d, dv), codes in req.items():
        t.incoming[(d, dv)] += _total(codes)
        t.errors[(d, dv)] += _errors(codes)
        if s == "unknown":
            t.entry[d] += _total(codes)
    for (s, sv, d, dv), codes in req.items():
        if s != "unknown":
            t.calls[(s, sv)][d] += _total(codes)
            t.split[d][dv] += _total(codes)
    for (_, _, d, dv), h in m.buckets.get(rep, {}).items():
        for le, c in h.items():
            t.lat[(d, dv)][le] += c
    for (s, sv, d, _), h in m.buckets.get("source", {}).items():
        for le, c in h.items():
            t.src_lat[(s, sv, d)][le] += c
    return t


def metrics_documents(m: Metrics, name: str = "imported") -> Emitted:
    """A MockServiceGraph, LoadProfile and observed routing from ``m``."""
    out = Emitted()
    t = _traffic(m)
    services: dict[str, dict[str, Any]] = {}
    for (svc, ver), n in sorted(t.incoming.items()):
        if n > 0:
            services.setdefault(svc, {"name": svc, "versions": {}})["versions"][ver] = _version(t, svc, ver, n, out)
    entry_svc = max(t.entry, key=lambda k: t.entry[k]) if t.entry else None
    if entry_svc is None:
        out.missing.append('entry: no requests from outside the mesh (source_workload="unknown"); no LoadProfile')
    else:
        services[entry_svc]["isEntrypoint"] = True
    for svc, vers in t.split.items():
        if len(vers) > 1:
            out.routing.extend(_routing(svc, {v: round(x * 1e6) for v, x in vers.items()}))
            w = _weights({v: round(x * 1e6) for v, x in vers.items()})
            out.inferred.append(f"{svc}: split {', '.join(f'{v} {p}%' for v, p in sorted(w.items()))}")
    out.topology = {
        "apiVersion": "meshsim.io/v1alpha1",
        "kind": "MockServiceGraph",
        "services": list(services.values()),
    }
    out.missing.append("replicas and concurrency are not in these metrics: 1 pod per version, unbounded workers")
    if entry_svc is not None:
        spec: dict[str, Any] = {"entry": entry_svc, "arrival": "poisson", "duration": "60s", "warmup": "5s"}
        if m.per_second:
            spec["rate"] = round(t.entry[entry_svc], 3)
            out.inferred.append(f"load: {spec['rate']} requests/s at {entry_svc}")
        else:
            out.missing.append("load: counters without --window give no rate; meshsim's default applies")
        out.load = {
            "apiVersion": "meshsim.io/v1alpha1",
            "kind": "LoadProfile",
            "metadata": {"name": name},
            "spec": spec,
        }
    return out


def _version(t: _Traffic, svc: str, ver: str, n: float, out: Emitted) -> dict[str, Any]:
    """One service version that answered ``n`` requests: a lognormal self time (its latency median and
    p99 minus its callees' median latencies, weighted by calls per request, as if sequential), one call
    per callee and, for a leaf, its 5xx share as ``errorRate``; what was inferred, and what not, into ``out``."""
    script: list[Any] = []
    med = _quantile(t.lat.get((svc, ver), {}), 0.5)
    p99 = _quantile(t.lat.get((svc, ver), {}), 0.99)
    callees = t.calls.get((svc, ver), {})
    if med is not None and p99 is not None:
        sub = sum(r / n * (_quantile(t.src_lat.get((svc, ver, d), {}), 0.5) or 0.0) for d, r in callees.items())
        m50 = max(med - sub, 0.1 * med)
        m99 = max(p99 - sub, m50 * 1.5)
        script.append({"sleep": {"dist": "lognormal", "median": f"{m50 * 1e3:.0f}us", "p99": f"{m99 * 1e3:.0f}us"}})
        out.inferred.append(
            f"{svc}.{ver}: latency p50 {med:.2f} ms, p99 {p99:.2f} ms; self time approx. lognormal "
            f"median {m50:.2f} ms, p99 {m99:.2f} ms (calls subtracted as if sequential)"
        )
    else:
        out.missing.append(f"{svc}.{ver}: no {DURATION}_bucket series; service time left as a 1ms placeholder")
        script.append({"sleep": "1ms"})
    for d, r in sorted(callees.items()):
        ratio = r / n
        call: dict[str, Any] = {"service": d}
        if ratio < 0.995:
            call["probability"] = max(1, round(ratio * 100))
        script.append({"call": call})
        out.inferred.append(
            f"{svc}.{ver} -> {d}: {ratio:.3f} calls per request"
            + (" (more than one: repeated calls or app retries; written as one call)" if ratio > 1.005 else "")
        )
    vdef: dict[str, Any] = {"script": script}
    err = t.errors[(svc, ver)] / n
    if err > 0 and not callees:
        vdef["errorRate"] = f"{100 * err:.4g}%"
        out.inferred.append(f"{svc}.{ver}: {100 * err:.3g}% 5xx (errorRate)")
    elif err > 0:
        out.missing.append(f"{svc}.{ver}: {100 * err:.3g}% 5xx may be its callees' errors passed on; errorRate not set")
    return vdef


def cross_check(g: Any, m: Metrics, tolerance: float = 0.1) -> list[str]:
    """Warnings (one line each) where the traces' calls per request of an edge differ from the
    metrics' by more than ``tolerance`` (absolute), or an edge is in only one of them."""
    req = m.requests[m.reporter()]
    incoming: dict[str, float] = defaultdict(float)
    edge: dict[tuple[str, str], float] = defaultdict(float)
    for (s, _, d, _), codes in req.items():
        incoming[d] += _total(codes)
        if s != "unknown":
            edge[(s, d)] += _total(codes)
    t_in: dict[str, int] = defaultdict(int)
    for (svc, _), vs in g.versions.items():
        t_in[svc] += vs.spans
    out = []
    for key in sorted(set(edge) | set(g.edges)):
        s, d = key
        mr = edge.get(key, 0.0) / incoming[s] if incoming.get(s) else None
        tr = g.edges[key].calls / t_in[s] if key in g.edges and t_in.get(s) else None
        if mr is None or tr is None:
            if (mr or 0) > 0.005 or (tr or 0) > 0.005:
                out.append(f"cross-check: edge {s} -> {d} is only in the {'metrics' if tr is None else 'traces'}")
        elif abs(mr - tr) > tolerance:
            out.append(f"cross-check: {s} -> {d}: {tr:.3f} calls per request in the traces, {mr:.3f} in the metrics")
    return out

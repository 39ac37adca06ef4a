"""Sampled request traces from the simulator as Jaeger JSON (``meshsim run --traces FILE --trace-sample P``).

The file is what Jaeger's query API returns (``GET /api/traces``): ``{"data": [trace, ...]}``, each
trace ``{"traceID", "spans", "processes"}``, each span with ``traceID``, ``spanID``,
``operationName``, ``references`` (``CHILD_OF``), ``startTime`` and ``duration`` in microseconds,
``tags`` and ``processID``. Simulated time 0 is mapped to :data:`EPOCH_US` so the file is deterministic.

Span nesting (so that spans add up to a request's latency): the root span ``entry <service>`` covers
the request from its arrival at the load source to its response. A span whose tag
``meshsim.children`` is ``sequential`` is tiled by its children (they follow each other without gaps,
so their durations add up to its own): the root (network and inbound proxy, then the entry pod's
``inbound`` span; or the gateway's ``router`` span), ``inbound`` (inbound pool, queue for a worker,
``app``), ``app`` (its script: ``sleep``, ``call``, ``concurrent``), ``call`` (one ``router`` span per
app try, ``app backoff``), ``router`` (``fault delay``, ``pending connection``, ``attempt n``,
``retry backoff``) and ``attempt`` (``proxies and network``: both traversals, worker waits and the
network; then the server's ``inbound``). ``concurrent`` spans have overlapping children; ``cut``
attempts were abandoned by a timeout while the server kept working (their children outlast them).
Boundaries are rounded to whole microseconds before durations are taken, so the sums are exact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshsim import atomic
from meshsim.telemetry.record import Trace

__all__ = ["EPOCH_US", "jaeger_trace", "to_jaeger", "write_jaeger"]

EPOCH_US = 1_704_067_200_000_000
"""2024-01-01T00:00:00Z in microseconds: simulated time 0."""


def _us(t: float) -> int:
    return EPOCH_US + round(t * 1e6)


def _tag(k: str, v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"key": k, "type": "bool", "value": v}
    if isinstance(v, int):
        return {"key": k, "type": "int64", "value": v}
    if isinstance(v, float):
        return {"key": k, "type": "float64", "value": round(v, 6)}
    return {"key": k, "type": "string", "value": str(v)}


def jaeger_trace(tr: Trace, replication: int = 0) -> dict[str, Any]:
    """One :class:`Trace` as a Jaeger trace object."""
    trace_id = f"{replication:016x}{tr.index + 1:016x}"
    procs: dict[str, str] = {}
    spans = []
    for sp in sorted(tr.spans, key=lambda x: x.span_id):
        pid = procs.setdefault(sp.process, f"p{len(procs) + 1}")
        start = _us(sp.start)
        refs = [] if sp.parent == 0 else [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": f"{sp.parent:016x}"}]
        tags = [_tag("meshsim.children", sp.children), _tag("node_id", sp.process)]
        tags += [_tag(k, v) for k, v in sorted(sp.tags.items())]
        status = sp.tags.get("status")
        if isinstance(status, int) and status >= 500:
            tags.append(_tag("error", True))
        spans.append(
            {
                "traceID": trace_id,
                "spanID": f"{sp.span_id:016x}",
                "flags": 1,
                "operationName": sp.operation,
                "references": refs,
                "startTime": start,
                "duration": _us(sp.end) - start,
                "tags": tags,
                "logs": [],
                "processID": pid,
                "warnings": None,
            }
        )
    processes = {pid: {"serviceName": name, "tags": [_tag("hostname", name)]} for name, pid in procs.items()}
    return {"traceID": trace_id, "spans": spans, "processes": processes, "warnings": None}


def to_jaeger(traces_per_rep: Sequence[tuple[int, Sequence[Trace]]]) -> dict[str, Any]:
    """``[(replication, traces), ...]`` as a Jaeger ``/api/traces`` response."""
    data = [jaeger_trace(t, rep) for rep, ts in traces_per_rep for t in ts]
    return {"data": data, "total": len(data), "limit": 0, "offset": 0, "errors": None}


def write_jaeger(traces_per_rep: Sequence[tuple[int, Sequence[Trace]]], path: Path) -> Path:
    """Write the traces to ``path`` as Jaeger JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(to_jaeger(traces_per_rep), indent=1) + "\n")
    return path

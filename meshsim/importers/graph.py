"""Infer a service graph from traces: who calls whom, how often, in what order, with what retries,
errors and self times.

Hops are the spans with a kind (``client``/``server``). When a trace holds Envoy sidecar spans
(``component: proxy``), only those are hops and application spans are ignored, so proxy time is
never counted as service time: a hop is the caller sidecar's CLIENT span (network, both proxies,
sidecar retries and the whole server side) and the callee sidecar's SERVER span (the app and its
queue). Istio sets ``shared_span_context: false``, so a SERVER span's parent is the caller's CLIENT
span (Envoy ``source/extensions/tracers/zipkin/tracer.cc``); spans between hops (application spans)
are walked through.

For every SERVER span of service ``s``, version ``v``:

- **calls** are the CLIENT spans whose nearest SERVER ancestor it is; a CLIENT span that starts
  after an earlier one to the same service ended with an error is an **app-level retry** of it;
- a call's **probability** is the share of ``(s, v)``'s SERVER spans (that ran their script, see
  below) containing it; calls whose intervals overlap in more than half of the spans holding both
  are **concurrent** (one group), others sequential: a call goes before another when it started first
  in most spans holding both (else by mean start offset);
- a call that finally failed while the caller still answered without error is ``onError: ignore``;
- an **own error** is an error status with no failed call under it; ``errorRate`` = own errors /
  SERVER spans (meshsim fails such requests before their script, so they are left out of call
  probabilities and self times);
- **self time** = the SERVER span's duration minus the time its calls cover (their union);
- **replicas** = distinct pods (``node_id``) seen.

Spans of Istio gateways (node id ``router~...``, Istio ``pkg/model`` node types) are walked through,
so the first sidecar behind the gateway is the entry. Entry requests are SERVER spans without a hop
above them; the arrival rate is their count over the
time between the first and the last, divided by the sampling fraction.

Self-time samples are kept in a reservoir of ``reservoir`` per service version (Vitter's algorithm
R, drawn from a named stream of :class:`meshsim.sim.rng.Streams`; 8 bytes a sample), so memory
grows with services, not spans: every other aggregate is a counter per service version, call site
or edge.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meshsim.errors import ConfigError
from meshsim.importers.traces import RawSpan, TraceFile, read_traces
from meshsim.sim.rng import Streams

__all__ = ["CallStats", "VersionStats", "EdgeStats", "Graph", "build_graph", "graph_of_files"]


@dataclass
class CallStats:
    """One call site ``(destination, k)`` (the k-th call to ``destination`` in a span)."""

    present: int = 0
    rel_start: float = 0.0
    """Sum over the spans holding the call of its start minus the span's start (µs)."""
    retried: int = 0
    max_retries: int = 0
    failed: int = 0
    ignored: int = 0
    """Times the call finally failed and the caller still answered without an error (``onError: ignore``)."""


@dataclass
class VersionStats:
    """Aggregates of one service version's SERVER spans."""

    spans: int = 0
    scripted: int = 0
    own_errors: int = 0
    own_error_status: Counter[int] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    pods: set[str] = field(default_factory=set)
    calls: dict[tuple[str, int], CallStats] = field(default_factory=dict)
    both: Counter[tuple[tuple[str, int], tuple[str, int]]] = field(default_factory=Counter)
    overlap: Counter[tuple[tuple[str, int], tuple[str, int]]] = field(default_factory=Counter)
    before: Counter[tuple[tuple[str, int], tuple[str, int]]] = field(default_factory=Counter)
    self_times: array[float] = field(default_factory=lambda: array("d"))
    """The reservoir of self times (seconds), 8 bytes a sample, at most ``reservoir`` of them."""
    seen: int = 0


@dataclass
class EdgeStats:
    """Calls from one service to another: versions reached and final statuses."""

    calls: int = 0
    versions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0


@dataclass
class Graph:
    """What :func:`build_graph` inferred. ``entry`` counts root SERVER spans per service."""

    versions: dict[tuple[str, str], VersionStats] = field(default_factory=dict)
    edges: dict[tuple[str, str], EdgeStats] = field(default_factory=dict)
    entry: Counter[str] = field(default_factory=Counter)
    entry_paths: Counter[str] = field(default_factory=Counter)
    first_root: float = float("inf")
    last_root: float = float("-inf")
    traces: int = 0
    spans: int = 0
    cyclic: int = 0
    no_hops: int = 0
    proxy_traces: int = 0
    orphans: int = 0
    unowned_clients: int = 0
    """CLIENT spans with no SERVER span above them: a new trace per outbound call, the mark of an
    app that does not propagate the trace headers (Istio's distributed-tracing FAQ)."""
    gateway_spans: int = 0
    problems: list[str] = field(default_factory=list)

    def services(self) -> list[str]:
        return sorted({s for s, _ in self.versions})


def _union(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        s, e = max(s, lo), min(e, hi)
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    return total


class _Builder:
    def __init__(self, reservoir: int, seed: int) -> None:
        self.g = Graph()
        self.reservoir = reservoir
        self.rng = Streams(seed).generator("import/self-time-reservoir")

    def _keep(self, vs: VersionStats, x: float) -> None:
        vs.seen += 1
        if len(vs.self_times) < self.reservoir:
            vs.self_times.append(x)
        else:
            j = int(self.rng.integers(0, vs.seen))
            if j < self.reservoir:
                vs.self_times[j] = x

    def add_trace(self, spans: list[RawSpan]) -> None:
        g = self.g
        g.traces += 1
        g.spans += len(spans)
        by_id = {s.span_id: s for s in spans}
        use_proxy = any(s.proxy and s.kind in ("client", "server") for s in spans)
        g.proxy_traces += use_proxy

        def is_hop(s: RawSpan) -> bool:
            return s.kind in ("client", "server") and (s.proxy or not use_proxy) and not s.gateway

        g.gateway_spans += sum(s.gateway for s in spans)

        # nearest hop ancestor of every span, with cycle detection on the parent chain
        hop_parent: dict[str, RawSpan | None] = {}
        for s in spans:
            seen = {s.span_id}
            p = by_id.get(s.parent)
            while p is not None and not is_hop(p):
                if p.span_id in seen:
                    g.cyclic += 1
                    return
                seen.add(p.span_id)
                p = by_id.get(p.parent)
            if p is not None and p.span_id == s.span_id:
                g.cyclic += 1
                return
            hop_parent[s.span_id] = p
        # a cycle through hops: walk hop parents
        for s in spans:
            if not is_hop(s):
                continue
            seen = {s.span_id}
            p = hop_parent.get(s.span_id)
            while p is not None:
                if p.span_id in seen:
                    g.cyclic += 1
                    return
                seen.add(p.span_id)
                p = hop_parent.get(p.span_id)
        hops = [s for s in spans if is_hop(s)]
        if not hops:
            g.no_hops += 1
            return
        servers = [s for s in hops if s.kind == "server"]
        clients_of: dict[str, list[RawSpan]] = {}
        servers_of: dict[str, list[RawSpan]] = {}
        for s in hops:
            hp = hop_parent[s.span_id]
            if s.parent and s.parent not in by_id:
                g.orphans += 1
            if s.kind == "client":
                # the nearest SERVER ancestor owns the call
                p = hp
                while p is not None and p.kind != "server":
                    p = hop_parent.get(p.span_id)
                if p is not None:
                    clients_of.setdefault(p.span_id, []).append(s)
                else:
                    g.unowned_clients += 1
            elif hp is not None and hp.kind == "client":
                servers_of.setdefault(hp.span_id, []).append(s)
        for s in servers:
            hp = hop_parent[s.span_id]
            if hp is None:
                g.entry[s.service] += 1
                g.first_root = min(g.first_root, s.start)
                g.last_root = max(g.last_root, s.start)
                if s.url:
                    path = "/" + s.url.split("://", 1)[-1].partition("/")[2] if "://" in s.url else s.url
                    g.entry_paths[path.split("?")[0]] += 1
            self._server(s, clients_of.get(s.span_id, []), servers_of)

    def _server(self, s: RawSpan, clients: list[RawSpan], servers_of: dict[str, list[RawSpan]]) -> None:
        g = self.g
        vs = g.versions.setdefault((s.service, s.version), VersionStats())
        vs.spans += 1
        vs.pods.add(s.pod)
        if s.status is not None:
            vs.statuses[s.status] += 1
        # group CLIENT spans into calls: a later span to the same service after a failed one is a retry
        clients = sorted(clients, key=lambda c: (c.start, c.span_id))
        calls: list[tuple[str, list[RawSpan]]] = []
        for c in clients:
            callee = servers_of.get(c.span_id, [])
            dest = callee[-1].service if callee else (c.dest or "")
            if not dest:
                continue
            prev = next((k for k in reversed(calls) if k[0] == dest), None)
            if prev is not None and prev[1][-1].error and c.start >= prev[1][-1].start + prev[1][-1].duration - 1:
                prev[1].append(c)
            else:
                calls.append((dest, [c]))
            e = g.edges.setdefault((s.service, dest), EdgeStats())
            e.calls += 1
            if callee:
                e.versions[callee[-1].version] += 1
            if c.status is not None:
                e.statuses[c.status] += 1
            e.errors += c.error
        failed_call = any(tries[-1].error for _, tries in calls)
        if s.error and not failed_call:
            # own error; its calls (if any) are not counted, as meshsim fails such requests before their script
            vs.own_errors += 1
            vs.own_error_status[s.status or 500] += 1
            return
        vs.scripted += 1
        counts: Counter[str] = Counter()
        keyed: list[tuple[tuple[str, int], float, float]] = []
        for dest, tries in calls:
            key = (dest, counts[dest])
            counts[dest] += 1
            cs = vs.calls.setdefault(key, CallStats())
            cs.present += 1
            start, end = tries[0].start, max(t.start + t.duration for t in tries)
            cs.rel_start += start - s.start
            if len(tries) > 1:
                cs.retried += 1
                cs.max_retries = max(cs.max_retries, len(tries) - 1)
            cs.failed += tries[-1].error
            cs.ignored += tries[-1].error and not s.error
            keyed.append((key, start, end))
        for i, (k1, s1, e1) in enumerate(keyed):
            for k2, s2, e2 in keyed[i + 1 :]:
                pair = (min(k1, k2), max(k1, k2))
                vs.both[pair] += 1
                vs.before[(k1, k2)] += 1  # keyed is in start order (ties: span id, i.e. issue order)
                if min(e1, e2) - max(s1, s2) > 0:
                    vs.overlap[pair] += 1
        covered = _union([(st, en) for _, st, en in keyed], s.start, s.start + s.duration)
        self._keep(vs, max(s.duration - covered, 0.0) / 1e6)


def build_graph(traces: Iterable[list[RawSpan]], reservoir: int = 20000, seed: int = 1) -> Graph:
    """Aggregate ``traces`` (each a list of :class:`RawSpan`) into a :class:`Graph`."""
    b = _Builder(reservoir, seed)
    for spans in traces:
        b.add_trace(spans)
    return b.g


def self_time_array(vs: VersionStats) -> np.ndarray:
    """The kept self-time samples of ``vs`` (seconds)."""
    return np.asarray(vs.self_times, dtype=float)


def graph_of_files(files: Sequence[Path]) -> tuple[Graph, list[TraceFile], list[str]]:
    """Stream every trace of ``files`` (:func:`~meshsim.importers.traces.read_traces`) into one
    :class:`Graph`; returns it, each file's :class:`~meshsim.importers.traces.TraceFile` (format,
    counts) and the problems: what was skipped and why, one line each.

    Raises
    ------
    ConfigError
        When no SERVER span with a service name was found (naming the first problem).
    """
    infos: list[TraceFile] = []

    def stream() -> Iterator[list[RawSpan]]:
        for f in files:
            info = TraceFile(str(f))
            infos.append(info)
            yield from read_traces(f, info)

    g = build_graph(stream())
    problems = [p for i in infos for p in i.problems]
    for i in infos:
        if i.unnamed:
            problems.append(f"{i.path}: {i.unnamed} span(s) without a service name skipped")
        if i.traces == 0:
            problems.append(f"{i.path}: no trace with named spans")
    if g.cyclic:
        problems.append(f"{g.cyclic} trace(s) whose span parents form a cycle skipped")
    if g.unowned_clients:
        problems.append(
            f"{g.unowned_clients} CLIENT span(s) with no SERVER span above them (does the app "
            "propagate x-b3-*/traceparent headers?): their calls are not in the graph"
        )
    if g.gateway_spans:
        problems.append(
            f"{g.gateway_spans} gateway span(s) walked through: the entry is the first sidecar behind the gateway"
        )
    if g.no_hops:
        problems.append(f"{g.no_hops} trace(s) without CLIENT/SERVER spans skipped")
    if not g.versions:
        source = ", ".join(map(str, files))
        first = problems[0] if problems else "no SERVER span (span.kind server) with a service name"
        for f in files:
            first = first.removeprefix(f"{f}: ")
        raise ConfigError(source, "", f"nothing to import: {first}")
    return g, infos, problems

"""Stream spans from Jaeger JSON, Zipkin v2 JSON and OTLP/JSON files, one trace at a time.

Formats (detected from the file's first bytes):

- **Jaeger** (query API ``GET /api/traces`` and the UI's "Download JSON"): ``{"data": [trace, ...]}``
  or a bare trace ``{"traceID", "spans", "processes"}``; span kind in the ``span.kind`` tag, times in
  µs, the parent in the ``CHILD_OF`` reference (``jaegertracing/jaeger``
  ``internal/uimodel/model.go``, ``jaeger-idl`` ``model/v1/keyvalue.go``).
- **Zipkin v2**: ``ListOfSpans`` (a flat array, traces mixed) or ``ListOfTraces`` (an array of arrays);
  a bare array of Jaeger trace objects is read as Jaeger;
  ``kind`` ``CLIENT``/``SERVER``, times in µs, tags strings only, ``localEndpoint.serviceName``
  (``openzipkin/zipkin-api`` ``zipkin2-api.yaml``).
- **OTLP/JSON**: ``{"resourceSpans": [...]}`` (``scopeSpans``, or the pre-v0.15
  ``instrumentationLibrarySpans``), one request per line as a collector's file exporter writes;
  integer ``kind`` (2 SERVER, 3 CLIENT), times in ns as strings or numbers, hex ids, ``service.name``
  a resource attribute (``open-telemetry/opentelemetry-proto`` ``docs/specification.md``,
  ``opentelemetry/proto/trace/v1/trace.proto``).

Every span becomes a :class:`RawSpan` with the service, revision and pod read from Istio's and
Envoy's tags first (``istio.canonical_service``, ``istio.canonical_revision``, ``node_id``,
``upstream_cluster``, ``component: proxy``; Envoy ``source/common/tracing/common_values.h``, Istio
``pilot/pkg/networking/core/tracing.go``), then OpenTelemetry's (``service.name``,
``service.version``, ``k8s.pod.name``, ``k8s.namespace.name``). Jaeger files and Zipkin
``ListOfTraces`` are read one trace at a time (memory is one trace). Flat Zipkin and OTLP files mix
traces, so their spans go through a bounded buffer grouped by trace id (:class:`TraceBuffer`): a trace is
handed on once ``window`` spans of the file have passed without one of its own (and the oldest
trace at once when the buffer holds ``4 * window`` spans), so memory is the buffer, not the file.
A trace whose spans lie further apart than that is read in parts, counted in ``TraceFile.split``.
OTLP is read one line (one export request, as a collector's file exporter writes them) or, for a
document spread over lines, one ``resourceSpans`` element at a time.
A truncated file yields what was read before the break and records the problem in ``problems``.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson

from meshsim.errors import ConfigError

__all__ = ["DEFAULT_WINDOW", "RawSpan", "TraceBuffer", "TraceFile", "detect_format", "read_traces"]

_OTLP_KIND = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(slots=True)
class RawSpan:
    """One span, format-neutral. Times in microseconds since the epoch; ``kind`` ``client``,
    ``server`` or ``None`` (internal/unknown); ``proxy`` True for an Envoy sidecar span;
    ``status`` the HTTP status (``0``: no response, ``None``: not given); ``dest`` the upstream
    service a CLIENT span called (from ``upstream_cluster``/``peer.service``) if known."""

    span_id: str
    parent: str
    start: float
    duration: float
    kind: str | None
    proxy: bool
    service: str
    version: str
    pod: str
    status: int | None
    error: bool
    dest: str | None
    url: str | None = None
    gateway: bool = False
    """Written by an Istio gateway (node id ``router~...``): its spans are walked through, not hops."""


@dataclass
class TraceFile:
    """Problems found while reading one file (one line each) and counts of what was read."""

    path: str
    fmt: str = ""
    traces: int = 0
    spans: int = 0
    unnamed: int = 0
    split: int = 0
    """Traces of a flat file whose spans lay more than the buffer's window apart, read in parts."""
    problems: list[str] = field(default_factory=list)


DEFAULT_WINDOW = 10_000
"""Spans of a flat file after which a trace with no new span is complete (see :class:`TraceBuffer`)."""


class TraceBuffer:
    """Group a stream of ``(trace id, span)`` into traces with bounded memory.

    A trace is released (in the order traces first appeared) once ``window`` spans have been added
    since its last span; the oldest open trace is released early while more than ``4 * window``
    spans are held. A span of a trace already released starts a new part of it (``split`` counts
    such traces, once each; the ids of the last ``REMEMBERED`` released traces are remembered for
    this, so a part that comes later still is not noticed). Memory: at most ``4 * window`` spans plus
    one long trace, and ``REMEMBERED`` trace ids.
    """

    REMEMBERED = 1024

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError("window must be >= 1 span")
        self.window = window
        self.open: OrderedDict[str, tuple[int, list[RawSpan]]] = OrderedDict()
        self.held = 0
        self.added = 0
        self.split = 0
        self._released: deque[str] = deque()
        self._released_set: set[str] = set()
        self._split_ids: set[str] = set()

    def add(self, trace_id: str, span: RawSpan) -> Iterator[list[RawSpan]]:
        """Add one span; yield the traces this completes."""
        self.added += 1
        entry = self.open.get(trace_id)
        if entry is None:
            if trace_id in self._released_set and trace_id not in self._split_ids:
                self._split_ids.add(trace_id)
                self.split += 1
            entry = (self.added, [])
            self.open[trace_id] = entry
        entry[1].append(span)
        self.open[trace_id] = (self.added, entry[1])  # same position: insertion order is first appearance
        self.held += 1
        while self.open:
            tid, (last, _) = next(iter(self.open.items()))
            if last > self.added - self.window and self.held <= 4 * self.window:
                break
            yield self._release(tid)

    def _release(self, tid: str) -> list[RawSpan]:
        _, spans = self.open.pop(tid)
        self.held -= len(spans)
        self._released.append(tid)
        self._released_set.add(tid)
        if len(self._released) > self.REMEMBERED:
            old = self._released.popleft()
            self._released_set.discard(old)
            self._split_ids.discard(old)
        return spans

    def flush(self) -> Iterator[list[RawSpan]]:
        """Yield every open trace (at the end of the file)."""
        while self.open:
            yield self._release(next(iter(self.open)))


def detect_format(path: Path) -> str:
    """``jaeger``, ``zipkin`` or ``otlp`` from the first 64 KiB of ``path``.

    Raises
    ------
    ConfigError
        If the file is empty, not JSON or holds none of the three formats.
    """
    with path.open("rb") as f:
        head = f.read(65536).decode("utf-8", errors="replace")
    text = head.lstrip()
    if not text:
        raise ConfigError(str(path), "", "empty file; expected Jaeger, Zipkin v2 or OTLP/JSON traces")
    if text[0] == "[":
        return "zipkin"
    if text[0] == "{":
        if '"resourceSpans"' in head:
            return "otlp"
        if '"traceID"' in head or '"data"' in head:
            return "jaeger"
        raise ConfigError(str(path), "", "JSON holds no traces (no Jaeger 'data'/'traceID', no OTLP 'resourceSpans')")
    raise ConfigError(str(path), "", "not JSON; expected Jaeger, Zipkin v2 or OTLP/JSON traces")


def _status(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


def _pod_from_node_id(node_id: str) -> str:
    """Istio's node id ``sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`` -> ``<pod>``; anything else as is."""
    parts = node_id.split("~")
    if len(parts) == 4:
        return parts[2].rpartition(".")[0] or parts[2]
    if len(parts) == 2:  # meshsim's gateway form router~<pod>.<ns>
        return parts[1].rpartition(".")[0] or parts[1]
    return node_id


def _dest(tags: dict[str, Any]) -> str | None:
    cluster = tags.get("upstream_cluster") or tags.get("upstream_cluster.name")
    if isinstance(cluster, str) and cluster.startswith("outbound|"):
        host = cluster.split("|")[-1]
        return host.split(".")[0] or None
    peer = tags.get("peer.service") or tags.get("server.address") or tags.get("net.peer.name")
    return peer.split(".")[0] if isinstance(peer, str) and peer else None


def _make(
    span_id: str,
    parent: str,
    start: float,
    dur: float,
    kind: str | None,
    tags: dict[str, Any],
    service: str | None,
    pod: str | None,
) -> RawSpan:
    ns = tags.get("istio.namespace") or tags.get("k8s.namespace.name")
    svc = tags.get("istio.canonical_service") or tags.get("service.name") or service or ""
    svc = str(svc)
    if isinstance(ns, str) and svc.endswith("." + ns):
        svc = svc[: -len(ns) - 1]
    version = str(tags.get("istio.canonical_revision") or tags.get("service.version") or "latest")
    node = tags.get("node_id")
    pod_name = (
        _pod_from_node_id(node)
        if isinstance(node, str) and node
        else (tags.get("k8s.pod.name") or tags.get("hostname") or pod or svc)
    )
    status = _status(tags.get("http.status_code", tags.get("http.response.status_code")))
    error = (
        _truthy(tags.get("error"))
        or tags.get("otel.status_code") == "ERROR"
        or (status is not None and (status >= 500 or status == 0))
    )
    proxy = tags.get("component") == "proxy" or "upstream_cluster" in tags
    url = tags.get("http.url") or tags.get("url.full")
    dest = _dest(tags)
    gateway = (isinstance(node, str) and node.startswith("router~")) or svc == "istio-ingressgateway"
    return RawSpan(
        span_id,
        parent,
        start,
        dur,
        kind,
        proxy,
        sys.intern(svc),
        sys.intern(version),
        sys.intern(str(pod_name)),
        status,
        error,
        sys.intern(dest) if dest else None,
        url if isinstance(url, str) else None,
        gateway,
    )


def _jaeger_kv(kvs: Any) -> dict[Any, Any]:
    return {kv.get("key"): kv.get("value") for kv in kvs or [] if isinstance(kv, dict)}


def _jaeger_trace(tr: dict[str, Any]) -> list[RawSpan]:
    procs = tr.get("processes") or {}
    ptags_of: dict[Any, tuple[dict[Any, Any], Any]] = {}
    out = []
    for sp in tr.get("spans") or []:
        tags = _jaeger_kv(sp.get("tags"))
        pid = sp.get("processID")
        cached = ptags_of.get(pid)
        if cached is None:
            proc = procs.get(pid) or sp.get("process") or {}
            cached = ptags_of[pid] = (_jaeger_kv(proc.get("tags")), proc.get("serviceName"))
        ptags, pname = cached
        parent = ""
        for ref in sp.get("references") or []:
            if ref.get("refType") == "CHILD_OF":
                parent = str(ref.get("spanID"))
                break
        parent = parent or str(sp.get("parentSpanID") or "")
        kind = tags.get("span.kind")
        if kind is None and "component" not in tags and "istio.canonical_service" not in tags:
            # an application span without a kind: only its place in the tree matters
            pod = tags.get("node_id") or ptags.get("hostname") or pname or ""
            out.append(
                RawSpan(
                    str(sp.get("spanID")),
                    parent,
                    float(sp.get("startTime", 0)),
                    float(sp.get("duration", 0)),
                    None,
                    False,
                    str(pname or ""),
                    "latest",
                    str(pod),
                    None,
                    False,
                    None,
                )
            )
            continue
        out.append(
            _make(
                str(sp.get("spanID")),
                parent,
                float(sp.get("startTime", 0)),
                float(sp.get("duration", 0)),
                kind.lower() if isinstance(kind, str) else None,
                {**ptags, **tags},
                pname,
                ptags.get("hostname"),
            )
        )
    return out


def _zipkin_span(sp: dict[str, Any]) -> tuple[str, RawSpan]:
    tags = dict(sp.get("tags") or {})
    le = sp.get("localEndpoint") or {}
    kind = sp.get("kind")
    raw = _make(
        str(sp.get("id")),
        str(sp.get("parentId") or ""),
        float(sp.get("timestamp", 0)),
        float(sp.get("duration", 0)),
        kind.lower() if isinstance(kind, str) else None,
        tags,
        le.get("serviceName"),
        None,
    )
    return str(sp.get("traceId")), raw


def _otlp_value(v: dict[str, Any]) -> Any:
    for k in ("stringValue", "boolValue", "intValue", "doubleValue"):
        if k in v:
            return v[k]
    return None


def _otlp_attrs(attrs: Any) -> dict[Any, Any]:
    return {a.get("key"): _otlp_value(a.get("value") or {}) for a in attrs or [] if isinstance(a, dict)}


def _otlp_resource(rs: dict[str, Any]) -> Iterator[tuple[str, RawSpan]]:
    rattrs = _otlp_attrs((rs.get("resource") or {}).get("attributes"))
    for scope in (rs.get("scopeSpans") or []) + (rs.get("instrumentationLibrarySpans") or []):
        for sp in scope.get("spans") or []:
            tags = {**rattrs, **_otlp_attrs(sp.get("attributes"))}
            st = sp.get("status") or {}
            if st.get("code") in (2, "STATUS_CODE_ERROR"):
                tags["otel.status_code"] = "ERROR"
            start = int(sp.get("startTimeUnixNano") or 0)
            end = int(sp.get("endTimeUnixNano") or 0)
            raw_kind = sp.get("kind") or 0
            kind = (
                _OTLP_KIND.get(int(raw_kind))
                if not isinstance(raw_kind, str) or raw_kind.isdigit()
                else (raw_kind.removeprefix("SPAN_KIND_").lower())
            )  # enum names: not OTLP/JSON, but some exporters write them
            raw = _make(
                str(sp.get("spanId", "")).lower(),
                str(sp.get("parentSpanId") or "").lower(),
                start / 1e3,
                (end - start) / 1e3,
                kind,
                tags,
                rattrs.get("service.name"),
                None,
            )
            yield str(sp.get("traceId", "")).lower(), raw


def _iter_raw(f: IO[bytes], fmt: str, info: TraceFile, buf: TraceBuffer) -> Iterator[list[RawSpan]]:
    if fmt == "jaeger":
        f.seek(0)
        first = f.read(65536).lstrip()[:1]
        f.seek(0)
        head = f.read(65536).decode("utf-8", errors="replace")
        f.seek(0)
        if '"data"' in head:
            for tr in ijson.items(f, "data.item", use_float=True):
                if isinstance(tr, dict):
                    yield _jaeger_trace(tr)
        elif first == b"{":
            for tr in ijson.items(f, "", use_float=True, multiple_values=True):
                if isinstance(tr, dict):
                    yield _jaeger_trace(tr)
        return
    if fmt == "zipkin":
        for item in ijson.items(f, "item", use_float=True):
            if isinstance(item, list):  # ListOfTraces: one trace per element
                yield [_zipkin_span(sp)[1] for sp in item if isinstance(sp, dict)]
            elif isinstance(item, dict) and "spans" in item:  # a bare array of Jaeger traces
                info.fmt = "jaeger"
                yield _jaeger_trace(item)
            elif isinstance(item, dict):
                tid, raw = _zipkin_span(item)
                yield from buf.add(tid, raw)
    else:
        for rs in _otlp_resources(f):
            if isinstance(rs, dict):
                for tid, raw in _otlp_resource(rs):
                    yield from buf.add(tid, raw)
    yield from buf.flush()


_MAX_LINE = 16 << 20
"""Longest line (bytes) parsed whole; a longer one, and a document spread over lines, is streamed."""


def _otlp_resources(f: IO[bytes]) -> Iterator[Any]:
    """The ``resourceSpans`` elements of an OTLP/JSON file, in order. A collector's file exporter writes
    one export request per line: each line of up to :data:`_MAX_LINE` bytes is parsed whole (the C
    ``json`` parser, several times faster than event streaming); from the first line that is longer or
    not a complete document (pretty-printed JSON) on, the rest is streamed with ``ijson``."""
    while True:
        start = f.tell()
        line = f.readline(_MAX_LINE)
        if not line:
            return
        if not line.strip():
            continue
        if len(line) < _MAX_LINE or line.endswith(b"\n"):
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                yield from doc.get("resourceSpans") or []
                continue
        f.seek(start)
        yield from ijson.items(f, "resourceSpans.item", use_float=True, multiple_values=True)
        return


def read_traces(path: Path, info: TraceFile, window: int = DEFAULT_WINDOW) -> Iterator[list[RawSpan]]:
    """Yield the spans of ``path`` one trace at a time, counting into ``info``.

    ``window`` (spans) bounds the buffer of flat Zipkin and OTLP files (:class:`TraceBuffer`).

    Spans without a service name are dropped and counted (``info.unnamed``). A file that breaks off
    (truncated JSON) yields what came before and adds one line to ``info.problems``.

    Raises
    ------
    ConfigError
        If ``path`` is missing or holds no traces in a known format.
    """
    if not path.is_file():
        raise ConfigError(str(path), "", "no such file")
    info.fmt = detect_format(path)
    buf = TraceBuffer(window)
    broke = ""
    with path.open("rb") as f:
        it = _iter_raw(f, info.fmt, info, buf)
        while True:
            try:
                spans = next(it)
            except StopIteration:
                break
            except (ijson.JSONError, ValueError, TypeError, AttributeError) as exc:
                where = f" at byte {f.tell()}" if not f.closed else ""
                broke = (
                    f"{path}: stopped reading{where}: {str(exc).splitlines()[0][:120]} (truncated or malformed JSON)"
                )
                it = buf.flush()  # the traces still open when the file broke off
                continue
            named = [s for s in spans if s.service]
            info.unnamed += len(spans) - len(named)
            if not named:
                continue
            info.traces += 1
            info.spans += len(named)
            yield named
    info.split = buf.split
    if broke:
        info.problems.append(f"{broke}; kept the {info.traces} trace(s) read before")

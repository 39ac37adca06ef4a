"""A small ADS (state-of-the-world) server on grpc.aio that serves per-node :class:`Snapshot` s.

Protocol (Envoy docs ``api-docs/xds_protocol.rst``, "ACK/NACK and resource type instance version",
"When to send an update"; istiod's ``pilot/pkg/xds/ads.go`` plays the same role):

- one bidirectional ``StreamAggregatedResources`` stream per Envoy; the node id arrives on the first
  request (our bootstraps set ``set_node_on_first_message_only``);
- for each type the server answers a subscription with all requested resources (LDS/CDS: all of
  them, as SotW requires), a ``version_info`` (content hash of the type's resources) and a fresh
  ``nonce``;
- a request echoing the latest nonce without ``error_detail`` ACKs ``version_info``; with
  ``error_detail`` it NACKs (recorded, not resent); requests with stale nonces are ignored;
- a new snapshot is pushed in CDS, EDS, LDS, RDS order, only for types whose version changed.

:meth:`ControlPlane.wait_live` awaits "node X has ACKed the current version of every type";
:attr:`ControlPlane.acks` records push->ACK latency per (node, type).
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from meshsim.errors import MeshsimError
from meshsim.real.protos import to_any
from meshsim.xds.common import TYPE_ENDPOINT, TYPE_ORDER, TYPE_ROUTE
from meshsim.xds.snapshot import Snapshot, resource_name
from meshsim.xds.tracing import ZIPKIN_PROTO_MODULE, ZipkinTarget, with_zipkin_tracing

__all__ = ["ControlPlane", "AckRecord", "NackRecord", "ConfigNotLive", "ZIPKIN_TRACING"]

ZIPKIN_TRACING: ContextVar[ZipkinTarget | None] = ContextVar("meshsim_zipkin_tracing", default=None)
"""Where every Envoy of a control plane created in this context sends Zipkin spans (None: no tracing);
``meshsim real run --traces`` sets it around the run."""


class ConfigNotLive(MeshsimError):
    """A node did not ACK its configuration in time (or NACKed it)."""


@dataclass(frozen=True)
class AckRecord:
    """One ACK: ``latency`` seconds from sending the response to receiving its ACK; ``at`` the monotonic
    time of the ACK (``time.monotonic()`` is system-wide on Linux, so comparable with other processes')."""

    node: str
    type_url: str
    version: str
    latency: float
    at: float = 0.0


@dataclass(frozen=True)
class NackRecord:
    node: str
    type_url: str
    version: str
    error: str


@dataclass
class _TypeState:
    sent_version: str = ""
    sent_nonce: str = ""
    sent_names: tuple[str, ...] = ()
    sent_at: float = 0.0
    acked_version: str = ""
    subscribed: bool = False
    names: tuple[str, ...] = ()


@dataclass
class _Stream:
    node: str = ""
    out: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    types: dict[str, _TypeState] = field(default_factory=dict)


class ControlPlane:
    """ADS server. Use ``await start()``, :meth:`set_snapshot`, :meth:`wait_live`, ``await stop()``.

    ``address``/``port``: where to listen (loopback only); ``port=0`` picks a free port, readable
    from :attr:`port` after :meth:`start`.
    """

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        if not address.startswith("127."):
            raise MeshsimError(f"control plane address {address} is not loopback")
        self.address = address
        self.port = port
        self.snapshots: dict[str, Snapshot] = {}
        self._packed: dict[str, dict[str, dict[str, Any]]] = {}  # node -> type -> name -> Any
        self.acks: list[AckRecord] = []
        self.nacks: list[NackRecord] = []
        self._streams: list[_Stream] = []
        self._changed = asyncio.Condition()
        self._nonce = itertools.count(1)
        self._server: Any = None
        self.tracing = ZIPKIN_TRACING.get()
        """Zipkin tracing added to every snapshot served (:mod:`meshsim.xds.tracing`), or None."""

    # ---- public API -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind and start serving (grpc.aio server, one ADS servicer)."""
        import grpc
        from envoy.service.discovery.v3 import ads_pb2_grpc

        cp = self

        class _Servicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
            async def StreamAggregatedResources(self, request_iterator: Any, context: Any) -> Any:  # noqa: N802
                async for resp in cp._serve(request_iterator):
                    yield resp

        self._server = grpc.aio.server()
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(_Servicer(), self._server)
        bound = self._server.add_insecure_port(f"{self.address}:{self.port}")
        if bound == 0:
            raise MeshsimError(f"control plane cannot bind {self.address}:{self.port}")
        self.port = bound
        await self._server.start()

    async def stop(self, grace: float = 0.2) -> None:
        """Stop serving; open streams are cancelled."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def set_snapshot(self, snap: Snapshot) -> None:
        """Install ``snap`` for node ``snap.node`` and push changed types to its open streams.

        Every resource is packed into a protobuf ``Any`` here, once, so a resource the xDS protos
        cannot represent fails the run at once with its name instead of stalling a stream.

        Raises
        ------
        MeshsimError
            A resource does not parse as its type (a translation bug or a missing proto import).
        """
        if self.tracing is not None:
            importlib.import_module(ZIPKIN_PROTO_MODULE)  # registers ZipkinConfig for the HCM's typed_config
            snap = with_zipkin_tracing(snap, self.tracing)
        packed: dict[str, dict[str, Any]] = {}
        for t in TYPE_ORDER:
            by: dict[str, Any] = {}
            for r in snap.resources.get(t, []):
                name = resource_name(t, r)
                try:
                    by[name] = to_any(t, r)
                except Exception as exc:  # noqa: BLE001 - json_format.ParseError and friends
                    kind = t.rsplit(".", 1)[-1]
                    raise MeshsimError(f"node {snap.node}: {kind} {name} cannot be served as xDS: {exc}") from None
            packed[t] = by
        self._packed[snap.node] = packed
        self.snapshots[snap.node] = snap
        for st in self._streams:
            if st.node == snap.node:
                for t in TYPE_ORDER:
                    ts = st.types.get(t)
                    if ts is not None and ts.subscribed and ts.sent_version != snap.versions[t]:
                        self._respond(st, t, ts.names)

    def is_live(self, node: str) -> bool:
        """True when an open stream of ``node`` has ACKed the current version of all four types."""
        snap = self.snapshots.get(node)
        if snap is None:
            return False
        for st in self._streams:
            if st.node != node:
                continue
            if all((ts := st.types.get(t)) is not None and ts.acked_version == snap.versions[t] for t in TYPE_ORDER):
                return True
        return False

    async def wait_live(self, nodes: list[str], timeout: float) -> float:
        """Wait until every node in ``nodes`` :meth:`is_live`; return the seconds waited.

        Raises
        ------
        ConfigNotLive
            After ``timeout`` seconds, naming the nodes still pending and any NACK they sent.
        """
        t0 = time.monotonic()

        async def _all() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: all(self.is_live(n) for n in nodes))

        try:
            await asyncio.wait_for(_all(), timeout)
        except TimeoutError:
            pending = [n for n in nodes if not self.is_live(n)]
            nacks = [f"{r.node} {r.type_url.rsplit('.', 1)[-1]}: {r.error}" for r in self.nacks if r.node in pending]
            detail = f"; NACKs: {nacks[:3]}" if nacks else ""
            raise ConfigNotLive(f"config not ACKed within {timeout:g}s by {pending}{detail}") from None
        return time.monotonic() - t0

    # ---- protocol ---------------------------------------------------------------------------------
    def _respond(self, st: _Stream, type_url: str, names: tuple[str, ...]) -> None:
        from envoy.service.discovery.v3 import discovery_pb2

        snap = self.snapshots.get(st.node)
        if snap is None:
            return
        wildcard = type_url not in (TYPE_ENDPOINT, TYPE_ROUTE)
        resources = snap.get(type_url, None if wildcard else list(names))
        ts = st.types.setdefault(type_url, _TypeState())
        ts.sent_version = snap.versions[type_url]
        ts.sent_nonce = str(next(self._nonce))
        ts.sent_names = names
        ts.sent_at = time.monotonic()
        resp = discovery_pb2.DiscoveryResponse(
            version_info=ts.sent_version,
            type_url=type_url,
            nonce=ts.sent_nonce,
            resources=[self._packed[st.node][type_url][resource_name(type_url, r)] for r in resources],
        )
        st.out.put_nowait(resp)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _on_request(self, st: _Stream, req: Any) -> None:
        if req.node.id and not st.node:
            st.node = req.node.id
        t = req.type_url
        ts = st.types.setdefault(t, _TypeState())
        names = tuple(req.resource_names)
        if req.response_nonce:
            if req.response_nonce != ts.sent_nonce:
                return  # stale: a newer response is in flight
            if req.HasField("error_detail"):
                self.nacks.append(NackRecord(st.node, t, ts.sent_version, req.error_detail.message))
            else:
                if req.version_info == ts.sent_version and ts.acked_version != ts.sent_version:
                    now = time.monotonic()
                    self.acks.append(AckRecord(st.node, t, ts.sent_version, now - ts.sent_at, now))
                ts.acked_version = req.version_info
        ts.subscribed = True
        ts.names = names
        snap = self.snapshots.get(st.node)
        if snap is None:
            return
        changed_names = t in (TYPE_ENDPOINT, TYPE_ROUTE) and names != ts.sent_names
        if (
            not req.response_nonce
            or changed_names
            or (ts.sent_version != snap.versions[t] and not req.HasField("error_detail"))
        ):
            self._respond(st, t, names)

    async def _serve(self, request_iterator: Any) -> Any:
        st = _Stream()
        self._streams.append(st)

        async def reader() -> None:
            try:
                async for req in request_iterator:
                    self._on_request(st, req)
                    await self._notify()
            finally:
                st.out.put_nowait(None)

        task = asyncio.ensure_future(reader())
        try:
            while True:
                resp = await st.out.get()
                if resp is None:
                    break
                yield resp
        finally:
            task.cancel()
            self._streams.remove(st)
            await self._notify()

    def ack_latencies(self, type_url: str | None = None) -> list[float]:
        """Push->ACK latencies in seconds, optionally of one type."""
        return [a.latency for a in self.acks if type_url is None or a.type_url == type_url]

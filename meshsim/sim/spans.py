"""The spans of one entry request (sampled for tracing or not): the recording half of the observer
interface of :mod:`meshsim.sim.observe`, kept free of other simulator imports so that a request's
context (:mod:`meshsim.sim.request`) can hold it."""

from __future__ import annotations

from typing import Any

from meshsim.telemetry.record import Trace

__all__ = ["NO_SPANS", "Spans", "TraceSpans"]


class Spans:
    """The spans of one entry request; this base records nothing (the request is not sampled).

    Times are simulated seconds; ``sid``/``psid`` are span ids allocated by :meth:`new_id` (0 here)."""

    __slots__ = ()

    def new_id(self) -> int:
        """A new span id (0: not recorded)."""
        return 0

    def leaf(self, psid: int, op: str, process: str, t0: float, t1: float, **tags: Any) -> None:
        """A span without children (``sleep``, ``pending connection``, ``retry backoff``, ...) under ``psid``."""

    def router(self, sid: int, psid: int, service: str, process: str, t0: float, t1: float, status: int) -> None:
        """A proxy's router span for one request to ``service`` (tiled by its attempts)."""

    def attempt(
        self, asid: int, sid: int, k: int, process: str, t0: float, t1: float, cut: bool, host: str, status: int
    ) -> None:
        """Upstream attempt ``k``; ``cut`` when a timeout abandoned it (its children outlast it)."""

    def wire(self, sid: int, process: str, t0: float, t1: float, wait: float, mtls: bool) -> None:
        """Both proxies' traversals, worker waits (``wait`` seconds) and the network of one attempt."""

    def inbound(
        self, sid: int, psid: int, service: str, process: str, t0: float, t1: float, status: int, **tags: Any
    ) -> None:
        """A server sidecar's inbound span that ended without reaching the app (403, 503 overflow)."""

    def served(
        self,
        sid: int,
        psid: int,
        app_sid: int,
        key: str,
        service: str,
        process: str,
        t_in: float,
        t_arr: float,
        t_start: float,
        t_end: float,
        app_kind: str,
        status: int,
    ) -> None:
        """A request the app served: inbound pool wait, queue for a worker, the ``app`` span, all inside ``inbound``."""

    def concurrent(self, sid: int, psid: int, process: str, t0: float, t1: float) -> None:
        """A group of concurrent script steps (overlapping children)."""

    def call(self, sid: int, psid: int, service: str, process: str, t0: float, t1: float, tries: int, ok: bool) -> None:
        """One app-level call (tiled by a router span per try and the app's backoffs)."""

    def entry(self, sid: int, service: str, t0: float, t1: float, status: int, path: str) -> None:
        """The root span: the entry request from the load source's point of view."""


NO_SPANS = Spans()
"""The shared recorder of every request that is not sampled."""


class TraceSpans(Spans):
    """The spans of one sampled request, appended to ``trace``."""

    __slots__ = ("trace",)

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def new_id(self) -> int:
        return self.trace.new_id()

    def leaf(self, psid: int, op: str, process: str, t0: float, t1: float, **tags: Any) -> None:
        tr = self.trace
        tr.add(tr.new_id(), psid, op, process, t0, t1, **tags)

    def router(self, sid: int, psid: int, service: str, process: str, t0: float, t1: float, status: int) -> None:
        self.trace.add(sid, psid, f"router {service}", process, t0, t1, "sequential", status=status)

    def attempt(
        self, asid: int, sid: int, k: int, process: str, t0: float, t1: float, cut: bool, host: str, status: int
    ) -> None:
        self.trace.add(
            asid,
            sid,
            f"attempt {k}",
            process,
            t0,
            t1,
            "cut" if cut else "sequential",
            upstream_host=host,
            status=status,
        )

    def wire(self, sid: int, process: str, t0: float, t1: float, wait: float, mtls: bool) -> None:
        tr = self.trace
        tr.add(tr.new_id(), sid, "proxies and network", process, t0, t1, proxy_wait_ms=wait * 1e3, mtls=mtls)

    def inbound(
        self, sid: int, psid: int, service: str, process: str, t0: float, t1: float, status: int, **tags: Any
    ) -> None:
        self.trace.add(sid, psid, f"inbound {service}", process, t0, t1, status=status, **tags)

    def served(
        self,
        sid: int,
        psid: int,
        app_sid: int,
        key: str,
        service: str,
        process: str,
        t_in: float,
        t_arr: float,
        t_start: float,
        t_end: float,
        app_kind: str,
        status: int,
    ) -> None:
        tr = self.trace
        if t_arr > t_in:
            tr.add(tr.new_id(), sid, "inbound pool", process, t_in, t_arr)
        if t_start > t_arr:
            tr.add(tr.new_id(), sid, "queue for a worker", process, t_arr, t_start)
        tr.add(app_sid, sid, f"app {key}", process, t_start, t_end, app_kind, status=status)
        tr.add(sid, psid, f"inbound {service}", process, t_in, t_end, "sequential", status=status)

    def concurrent(self, sid: int, psid: int, process: str, t0: float, t1: float) -> None:
        self.trace.add(sid, psid, "concurrent", process, t0, t1, "concurrent")

    def call(self, sid: int, psid: int, service: str, process: str, t0: float, t1: float, tries: int, ok: bool) -> None:
        self.trace.add(sid, psid, f"call {service}", process, t0, t1, "sequential", tries=tries, ok=ok)

    def entry(self, sid: int, service: str, t0: float, t1: float, status: int, path: str) -> None:
        self.trace.add(sid, 0, f"entry {service}", "load-source", t0, t1, "sequential", status=status, path=path)

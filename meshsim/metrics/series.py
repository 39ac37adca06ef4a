"""Per-interval time series of one replication: what a scenario, a canary analysis and a storm verdict
are judged by (raw counters and sketches; :mod:`meshsim.metrics.scenario_summary` turns them into the
typed ``scenario`` block of ``summary.json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshsim.metrics.recorder import new_sketch

if TYPE_CHECKING:
    from ddsketch import DDSketch

__all__ = ["Series"]


class Series:
    """Per-interval counters: per workload requests, successes and a latency sketch (ms, measured at
    the pods as Istio's ``reporter=destination`` metrics are), entry requests/failures, the canary
    weight configured and the ejected hosts, in buckets of ``width`` seconds."""

    def __init__(self, width: float) -> None:
        self.width = width
        self.wl: dict[int, dict[str, list[Any]]] = {}
        self.entry: dict[int, list[Any]] = {}
        self.weight: dict[int, float] = {}
        self.ejected: dict[int, float] = {}
        self.queue: dict[int, dict[str, float]] = {}
        self.edges: dict[int, dict[tuple[str, str], list[int]]] = {}
        self.calls: dict[int, dict[tuple[str, str], list[int]]] = {}

    def add_edge(self, now: float, src: str, dst: str, attempts: int, retries: int) -> None:
        """A client-sidecar request from workload ``src`` to service ``dst`` finished with ``attempts``
        upstream tries (``retries`` of them sidecar retries)."""
        b = int(now / self.width)
        row = self.edges.setdefault(b, {}).get((src, dst))
        if row is None:
            row = self.edges[b][(src, dst)] = [0, 0]
        row[0] += 1
        row[1] += attempts

    def add_call(self, now: float, src: str, dst: str, tries: int) -> None:
        """An app-level call from ``src`` to ``dst`` finished after ``tries`` app-level tries."""
        b = int(now / self.width)
        row = self.calls.setdefault(b, {}).get((src, dst))
        if row is None:
            row = self.calls[b][(src, dst)] = [0, 0]
        row[0] += 1
        row[1] += tries

    def add(self, now: float, key: str, ok: bool, ms: float) -> None:
        b = int(now / self.width)
        row = self.wl.setdefault(b, {}).get(key)
        if row is None:
            row = self.wl[b][key] = [0, 0, new_sketch()]
        row[0] += 1
        if ok:
            row[1] += 1
        row[2].add(ms)

    def add_entry(self, now: float, ok: bool, ms: float) -> None:
        b = int(now / self.width)
        row = self.entry.get(b)
        if row is None:
            row = self.entry[b] = [0, 0, new_sketch()]
        row[0] += 1
        if ok:
            row[1] += 1
        row[2].add(ms)

    def window(self, keys: tuple[str, ...], t0: float, t1: float) -> tuple[int, int, DDSketch]:
        """Requests, successes and a merged latency sketch of ``keys`` in buckets within [t0, t1)."""
        n = ok = 0
        sk = new_sketch()
        for b in range(int(t0 / self.width + 1e-9), int(t1 / self.width + 1e-9)):
            rows = self.wl.get(b)
            if not rows:
                continue
            for k in keys:
                r = rows.get(k)
                if r is not None:
                    n += r[0]
                    ok += r[1]
                    sk.merge(r[2])
        return n, ok, sk

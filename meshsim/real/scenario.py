"""Scenario events on the real mesh: the simulator's :class:`~meshsim.model.timeline.Timeline`
played at the same offsets, and the per-interval time series measured in the simulator's shape.

Clock: t = 0 is the load generator's start (it prints its ``time.monotonic()``; Linux's monotonic clock
is system-wide), the simulator's t = 0, so warm-up is included and event times mean the same thing.

What each event does (the simulator's :class:`~meshsim.sim.scenario.ScenarioDriver` in brackets):

- ``apply``: after ``debounceAfter + pushInit`` (istiod's pipeline, which the simulator models and our
  ADS server stands in for), the factory's stage model is translated by :mod:`meshsim.xds` (once, before
  the run) and set as every node's snapshot; changed types go out at once (CDS, EDS, LDS, RDS). The
  push -> ACK time of every proxy is recorded (``pushes``: first/last ACK; ``control_plane.json``: per
  proxy). [``ControlPlane.config_changed``; the simulator then adds its ``propagation`` delay.]
- ``slow`` / ``errors``: the app host multiplies the workload's sleeps by ``factor`` / sets its error
  rate (and status) for ``duration``. [``Replica.slow`` / ``err_rate``.]
- ``load``: the load generator's schedule follows the same rate changes (step, spike, 50-step ramp).
- ``kill``: the pod's app stops listening and drops its open connections; after ``endpointDelay +
  debounceAfter + pushInit`` every sidecar gets EDS without the pod. [Same, except that the simulator's
  kube-proxy also stops sending entry load to it; here the load generator keeps its target list, so an
  entry pod's kill shows as failed entry requests.]
- ``scale`` and CanaryPolicy rollouts are **not** played (new pods would need new Envoys and apps while
  the run goes on); :func:`check_playable` refuses them with one line.

Measured series (:func:`build_series`, then the simulator's own ``SeriesPoint`` construction): entry
requests/success/p99 from the load generator's per-request log (by completion time); per workload
requests/success/p99 from the apps' records at the pods; queue lengths sampled by the app host at each
interval's end; per-edge sidecar amplification from Envoy admin counters sampled at every interval
boundary (``upstream_rq_total``, ``upstream_rq_retry``, ``upstream_rq_pending_overflow`` deltas:
counted when the attempt starts, not when the request ends as in the simulator); app-level tries per
call from the apps; ejected hosts from ``outlier_detection.ejections_active``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from meshsim.analysis.verdict import storm_result
from meshsim.errors import MeshsimError
from meshsim.metrics.recorder import new_sketch
from meshsim.metrics.results import PushResult, ScenarioEventResult, ScenarioResult
from meshsim.metrics.scenario_summary import series_points
from meshsim.metrics.series import Series

__all__ = [
    "STAT_FILTER",
    "check_playable",
    "parse_cluster_stats",
    "ScenarioPlayer",
    "build_series",
    "build_scenario_result",
]

STAT_FILTER = (
    r"^cluster\.outbound\|.*\.(upstream_rq_total|upstream_rq_retry|upstream_rq_pending_overflow"
    r"|outlier_detection\.ejections_active)$"
)
"""The admin ``/stats`` filter sampled at every interval boundary (a few counters per cluster; cheap)."""
_STATS = (
    "upstream_rq_total",
    "upstream_rq_retry",
    "upstream_rq_pending_overflow",
    "outlier_detection.ejections_active",
)


def check_playable(timeline: Any) -> None:
    """Raise :class:`MeshsimError` (one line) when the timeline has something the real mesh cannot play."""
    if timeline.canary is not None:
        raise MeshsimError(f"CanaryPolicy {timeline.canary.name}: canary rollouts are not played on the real mesh yet")
    for ev in timeline.events:
        if ev.action == "scale":
            raise MeshsimError(
                f"Scenario event at {ev.at:g}s ({ev.description}): scale events are not played on the real mesh "
                "(new pods would need new Envoys and apps during the run)"
            )


def parse_cluster_stats(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``/stats?format=json`` (filtered by :data:`STAT_FILTER`) -> ``{cluster: {stat: value}}``."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for s in data.get("stats", []):
        name, v = s.get("name", ""), s.get("value")
        if not isinstance(v, int | float) or isinstance(v, bool) or not name.startswith("cluster."):
            continue
        for stat in _STATS:
            if name.endswith("." + stat):
                out[name[len("cluster.") : -len(stat) - 1]][stat] = float(v)
                break
    return dict(out)


@dataclasses.dataclass
class _Push:
    t: float  # relative to t0
    mono: float
    version: int
    changes: list[str]
    nodes: list[str]
    acked: dict[str, float] = dataclasses.field(default_factory=dict)  # node -> seconds from push to last ACK


class ScenarioPlayer:
    """Plays a timeline against a running mesh; started once the load generator reports its ``t0``.

    ``snapshots[k]``: per-node snapshots of stage ``k`` (built before the run); ``build_without``: a
    callable ``(stage, dead pods) -> snapshots`` for EDS after a kill; ``post_event``: an async callable
    sending one event dict to the app host; ``admin``: proxy id -> admin URL.
    """

    def __init__(
        self,
        timeline: Any,
        cp: Any,
        snapshots: dict[int, dict[str, Any]],
        build_without: Any,
        post_event: Any,
        admin: dict[str, str],
        horizon: float,
    ) -> None:
        self.tl = timeline
        self.cp = cp
        self.snapshots = snapshots
        self.build_without = build_without
        self.post_event = post_event
        self.admin = admin
        self.horizon = horizon
        self.t0 = 0.0
        self.stage = 0
        self.dead: set[str] = set()
        self.events: list[dict[str, Any]] = []
        self.reverts: list[dict[str, Any]] = []
        self.pushes: list[_Push] = []
        self.samples: list[tuple[float, dict[str, dict[str, dict[str, float]]]]] = []
        self.errors: list[str] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._version = 0

    # ------------------------------------------------------------------ running
    def start(self, t0: float) -> None:
        self.t0 = t0
        self._tasks = [asyncio.ensure_future(self._play()), asyncio.ensure_future(self._sample())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # noqa: BLE001 - reported as a finding, the run's data still stands
                self.errors.append(f"scenario player: {type(exc).__name__}: {exc}")

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def _sleep_until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, self.t0 + t - time.monotonic()))

    async def _play(self) -> None:
        cpl = self.tl.control_plane
        later: list[asyncio.Task[Any]] = []
        try:
            for ev in self.tl.events:
                await self._sleep_until(ev.at)
                self.events.append({"t": self.now(), "action": ev.action, "description": ev.description})
                if ev.action == "apply":
                    self.stage = ev.stage
                    later.append(
                        asyncio.ensure_future(
                            self._push_after(ev.at + cpl.debounce_after + cpl.push_init, [ev.description])
                        )
                    )
                elif ev.action == "kill":
                    assert ev.pod is not None
                    await self.post_event({"action": "kill", "pod": ev.pod})
                    self.dead.add(ev.pod)
                    later.append(
                        asyncio.ensure_future(
                            self._push_after(
                                ev.at + cpl.endpoint_delay + cpl.debounce_after + cpl.push_init, [ev.description]
                            )
                        )
                    )
                elif ev.action in ("slow", "errors"):
                    msg: dict[str, Any] = {"action": ev.action, "workloads": list(ev.workloads)}
                    if ev.action == "slow":
                        msg["factor"] = ev.factor
                    else:
                        msg["rate"] = ev.rate
                        msg["status"] = ev.status
                    await self.post_event(msg)
                    if ev.duration is not None:
                        later.append(asyncio.ensure_future(self._revert(ev)))
                # load: the load generator follows the same schedule by itself
            await asyncio.gather(*later)
        finally:
            for t in later:
                t.cancel()

    async def _revert(self, ev: Any) -> None:
        await self._sleep_until(ev.at + ev.duration)
        msg: dict[str, Any] = {"action": ev.action, "workloads": list(ev.workloads)}
        if ev.action == "slow":
            msg["factor"] = 1.0
        else:
            msg["rate"] = None
        # not in ``events``: the simulator lists an event once, at its start
        self.reverts.append({"t": self.now(), "action": ev.action, "description": f"end of {ev.description}"})
        await self.post_event(msg)

    async def _push_after(self, t: float, changes: list[str]) -> None:
        await self._sleep_until(t)
        snaps = self.snapshots[self.stage] if not self.dead else self.build_without(self.stage, frozenset(self.dead))
        self._version += 1
        push = _Push(self.now(), time.monotonic(), self._version, changes, sorted(snaps))
        n_acks = len(self.cp.acks)
        for s in snaps.values():
            self.cp.set_snapshot(s)
        self.pushes.append(push)
        try:
            await self.cp.wait_live(push.nodes, 10.0)
        except MeshsimError as exc:
            self.errors.append(f"push {push.version} ({', '.join(changes)}): {exc}")
        for a in self.cp.acks[n_acks:]:
            if a.at >= push.mono:
                push.acked[a.node] = max(push.acked.get(a.node, 0.0), a.at - push.mono)

    async def _sample(self) -> None:
        """Envoy counters of every proxy at each interval boundary from t0 to the horizon."""
        import aiohttp

        width = self.tl.series_interval
        k = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
            while k * width <= self.horizon + 1e-9:
                await self._sleep_until(k * width)
                self.samples.append((k * width, await self._fetch(s)))
                k += 1

    async def _fetch(self, session: Any) -> dict[str, dict[str, dict[str, float]]]:
        async def one(url: str) -> dict[str, dict[str, float]]:
            try:
                async with session.get(f"{url}/stats", params={"format": "json", "filter": STAT_FILTER}) as r:
                    return parse_cluster_stats(await r.json(content_type=None))
            except Exception:  # noqa: BLE001 - a missed sample widens the next interval's delta
                return {}

        items = list(self.admin.items())
        res = await asyncio.gather(*(one(u) for _, u in items))
        return {pid: r for (pid, _), r in zip(items, res, strict=True)}

    # ------------------------------------------------------------------ results
    def push_records(self) -> list[dict[str, Any]]:
        """Pushes as the simulator's ``pushes`` (relative seconds) plus per-proxy push -> ACK seconds."""
        out = []
        for p in self.pushes:
            acks = list(p.acked.values())
            out.append(
                {
                    "t": p.t,
                    "version": p.version,
                    "changes": p.changes,
                    "first_applied": p.t + (min(acks) if acks else 0.0),
                    "last_applied": p.t + (max(acks) if acks else 0.0),
                    "proxies": len(acks),
                    "ack_s": dict(sorted(p.acked.items())),
                    "not_acked": [n for n in p.nodes if n not in p.acked],
                }
            )
        return out


def _wl_of_pod(model: Any) -> dict[str, str]:
    keys = {(w.service, w.version): w.key for w in model.workloads}
    return {e.id: keys[(e.service, e.version)] for e in model.endpoints}


def build_series(
    model: Any,
    width: float,
    load_log: list[list[float]],
    app_series: dict[str, dict[str, Any]],
    samples: list[tuple[float, dict[str, dict[str, dict[str, float]]]]],
) -> Any:
    """The measured run as a :class:`meshsim.metrics.series.Series` (the simulator's raw per-interval
    record, so the same code turns it into ``SeriesPoint`` s and judges storms).

    ``load_log``: ``[completion s, status, latency ms]`` per entry request; ``app_series``: the app host's
    ``/series`` (per pod ``req``/``calls``/``queue`` by bucket); ``samples``: ``(t, {proxy: {cluster:
    {stat: value}}})`` at interval boundaries.
    """

    s = Series(width)
    for t_done, status, ms in load_log:
        b = int(float(t_done) // width)
        row = s.entry.setdefault(b, [0, 0, new_sketch()])
        row[0] += 1
        row[1] += 0 < int(status) < 500
        row[2].add(max(float(ms), 0.0))
    pod_wl = _wl_of_pod(model)
    for pod, rec in app_series.items():
        key = pod_wl[pod]
        for b_s, (n, ok, lats) in rec.get("req", {}).items():
            row = s.wl.setdefault(int(b_s), {}).setdefault(key, [0, 0, new_sketch()])
            row[0] += int(n)
            row[1] += int(ok)
            for x in lats:
                row[2].add(float(x))
        for b_s, dests in rec.get("calls", {}).items():
            for dest, (calls, tries) in dests.items():
                crow = s.calls.setdefault(int(b_s), {}).setdefault((key, dest), [0, 0])
                crow[0] += int(calls)
                crow[1] += int(tries)
        for b_s, q in rec.get("queue", {}).items():
            qd = s.queue.setdefault(int(b_s), {})
            qd[key] = qd.get(key, 0.0) + float(q)
    for qd in s.queue.values():  # the simulator lists every workload each interval
        for w in model.workloads:
            qd.setdefault(w.key, 0.0)
    cl_service = {c.name: c.service for c in model.clusters}
    proxy_wl = {p.id: pod_wl.get(p.id, f"{p.service}.{p.version}") for p in model.proxies}
    for (t_a, s_a), (_t_b, s_b) in itertools.pairwise(samples):
        bucket = int(round(t_a / width))
        ejected = 0.0
        for pid, clusters in s_b.items():
            before = s_a.get(pid)
            if not before:
                continue
            for cname, st in clusters.items():
                ejected += st.get("outlier_detection.ejections_active", 0.0)
                dest = cl_service.get(cname)
                if dest is None:
                    continue
                prev = before.get(cname, {})

                def d(k: str, st: dict[str, float] = st, prev: dict[str, float] = prev) -> float:
                    return st.get(k, 0.0) - prev.get(k, 0.0)

                attempts = d("upstream_rq_total")
                requests = attempts - d("upstream_rq_retry") + d("upstream_rq_pending_overflow")
                if requests <= 0 and attempts <= 0:
                    continue
                erow = s.edges.setdefault(bucket, {}).setdefault((proxy_wl[pid], dest), [0, 0])
                erow[0] += int(requests)
                erow[1] += int(attempts)
        s.ejected[bucket] = ejected
    return s


def build_scenario_result(
    model: Any,
    series: Any,
    events: list[dict[str, Any]],
    pushes: list[dict[str, Any]],
    t_start: float,
    t_end: float,
) -> Any:
    """A :class:`~meshsim.metrics.results.ScenarioResult` for the real run: the simulator's own
    ``SeriesPoint`` construction and storm classifier (:func:`meshsim.analysis.verdict.storm_result`) over
    the measured :class:`Series`."""

    tl = model.timeline
    rep = SimpleNamespace(scenario={"series": series}, t_start=t_start, t_end=t_end, replication=0)
    return ScenarioResult(
        interval_s=tl.series_interval,
        series=series_points(model, {"series": series}),
        events=[
            ScenarioEventResult(t_s=round(e["t"], 6), action=e["action"], description=e["description"]) for e in events
        ],
        pushes=[
            PushResult(
                t_s=round(p["t"], 6),
                version=p["version"],
                changes=p["changes"],
                first_applied_s=round(p["first_applied"], 6),
                last_applied_s=round(p["last_applied"], 6),
                proxies=p["proxies"],
            )
            for p in pushes
        ],
        canary=None,
        storm=storm_result(model, [rep]),
    )

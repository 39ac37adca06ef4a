"""Open-loop (Poisson or constant) and closed-loop load generator for the real mesh.

It stands outside the mesh, like a client reaching a Kubernetes Service through kube-proxy: each request
goes to a uniformly random pod of ``LoadSpec.entry``, directly to that pod's inbound sidecar listener
(``<pod ip>:<service port>``) with Host = the entry FQDN. This matches the simulator's load source.

Open loop: the full schedule of intended send times is drawn up front (seeded); latency is measured
from the **intended** send time, so a late send counts against latency (no coordinated omission), and
the lag (actual - intended send) is recorded; a run whose lag p99 exceeds :data:`MAX_LAG_P99` (2 ms) is
marked invalid. Requests whose intended time falls in ``[warmup, warmup + duration)`` are measured; the
generator then waits up to ``drain`` seconds for outstanding responses (those still open count as
unfinished, status 0).

Latencies are streamed into a log-bucket histogram (0.5 % relative resolution) and kept raw up to
:data:`RAW_CAP` samples; percentiles come from the raw samples when none were dropped.

Scenario ``load`` events (``spec["rate_events"]``: ``[at, rate, ramp, duration]``) change the open-loop
rate at the same offsets as the simulator (:func:`rate_changes`); like the simulator, each Poisson gap is
a unit exponential divided by the rate in force at the previous arrival. Every request (warm-up and
drain included) is also logged as ``[completion time from start, status, latency ms]`` in
``requests_log`` for the per-interval time series.

Run as ``python -m meshsim.real.loadgen SPEC.json OUT.json``; it prints ``t0 <monotonic start>``,
``warmup-done <epoch seconds>`` (just before the first measured send) and ``sending-done`` lines on stdout so the runner can align scenario events with its
clock and snapshot Envoy counters at the window edges.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meshsim.real.service import run_loop

__all__ = [
    "schedule",
    "rate_changes",
    "schedule_varying",
    "LatencyHistogram",
    "run_load",
    "main",
    "MAX_LAG_P99",
    "RAW_CAP",
]

MAX_LAG_P99 = 0.002
"""A run is invalid when the p99 of send lag exceeds this (seconds): the generator could not keep up."""
SPIN_S = 0.0015
"""The last part of each wait before an intended send time is spun, not slept (see :func:`_wait_until`)."""
RAW_CAP = 1_000_000
"""Most raw latency samples kept in memory."""
_CDF_Q = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)


def schedule(arrival: str, rate: float, horizon: float, rng: np.random.Generator) -> np.ndarray:
    """Intended send times (seconds from start) in ``[0, horizon)``.

    ``poisson``: exponential gaps with mean 1/rate; ``constant``: gaps of exactly 1/rate starting at 0.
    """
    if rate <= 0:
        raise ValueError("rate must be > 0")
    if arrival == "constant":
        return np.arange(0.0, horizon, 1.0 / rate)
    if arrival != "poisson":
        raise ValueError(f"open-loop arrival must be poisson or constant, got {arrival!r}")
    n = int(rate * horizon * 1.2 + 10 * math.sqrt(rate * horizon) + 10)
    t = np.cumsum(rng.exponential(1.0 / rate, n))
    while t[-1] < horizon:
        t = np.concatenate([t, t[-1] + np.cumsum(rng.exponential(1.0 / rate, n))])
    return t[t < horizon]


def rate_changes(base: float, events: list[list[float | None]]) -> list[tuple[float, float]]:
    """Change points ``(time, rate)`` of the open-loop rate, from ``base`` at 0 and scenario load events
    ``[at, rate, ramp, duration]`` in time order, as :class:`meshsim.sim.scenario.ScenarioDriver` plays
    them: a step sets the rate; a spike (``duration``) sets it and restores the rate it replaced after
    ``duration``; a ramp moves linearly to ``rate`` in 50 steps over ``ramp`` seconds."""
    pts: list[tuple[float, float]] = [(0.0, base)]

    def at(t: float) -> float:
        r = base
        for tt, rr in sorted(pts, key=lambda x: x[0]):
            if tt <= t + 1e-12:
                r = rr
        return r

    for ev in sorted(events, key=lambda e: float(e[0] or 0.0)):
        t0, rate = float(ev[0] or 0.0), float(ev[1] or base)
        ramp, dur = ev[2], ev[3]
        before = at(t0)
        if ramp:
            steps = 50
            pts += [(t0 + float(ramp) * i / steps, before + (rate - before) * i / steps) for i in range(1, steps + 1)]
        else:
            pts.append((t0, rate))
            if dur is not None:
                pts.append((t0 + float(dur), before))
    return sorted(pts, key=lambda x: x[0])


def schedule_varying(
    arrival: str, changes: list[tuple[float, float]], horizon: float, rng: np.random.Generator
) -> np.ndarray:
    """Intended send times in ``[0, horizon)`` under a piecewise-constant rate (:func:`rate_changes`):
    each gap is a unit exponential (Poisson) or 1 (constant) divided by the rate at the previous
    arrival, as in the simulator's open loop."""
    if arrival not in ("poisson", "constant"):
        raise ValueError(f"open-loop arrival must be poisson or constant, got {arrival!r}")
    times_ = [c[0] for c in changes]
    rates = [c[1] for c in changes]
    out: list[float] = []
    t = 0.0
    i = 0
    while True:
        while i + 1 < len(times_) and times_[i + 1] <= t:
            i += 1
        r = rates[i]
        if r <= 0:
            raise ValueError("rate must be > 0")
        t += (float(rng.exponential(1.0)) if arrival == "poisson" else 1.0) / r
        if t >= horizon:
            break
        out.append(t)
    return np.array(out)


@dataclass
class LatencyHistogram:
    """Log-bucket histogram of latencies in seconds, 1 µs .. 1000 s, ~0.5 % relative bucket width."""

    growth: float = 1.005
    lo: float = 1e-6
    counts: dict[int, int] = field(default_factory=dict)
    n: int = 0

    def add(self, x: float) -> None:
        i = 0 if x <= self.lo else int(math.log(x / self.lo) / math.log(self.growth)) + 1
        self.counts[i] = self.counts.get(i, 0) + 1
        self.n += 1

    def quantile(self, q: float) -> float | None:
        """Upper edge of the bucket holding quantile ``q`` (seconds); None when empty."""
        if self.n == 0:
            return None
        target = q * self.n
        acc = 0
        for i in sorted(self.counts):
            acc += self.counts[i]
            if acc >= target:
                return self.lo * self.growth**i
        return self.lo * self.growth ** max(self.counts)


@dataclass
class _Window:
    start: float
    end: float
    latencies: list[float] = field(default_factory=list)
    hist: LatencyHistogram = field(default_factory=LatencyHistogram)
    lags: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    sent: int = 0
    dropped_raw: int = 0

    def record(self, intended: float, lag: float, latency: float, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.hist.add(latency)
        if len(self.latencies) < RAW_CAP:
            self.latencies.append(latency)
            self.lags.append(lag)
        else:
            self.dropped_raw += 1


def _summary(w: _Window, unfinished: int, open_loop: bool) -> dict[str, Any]:
    lat = np.array(w.latencies)
    lags = np.array(w.lags)
    qs = {"p50": 50, "p90": 90, "p99": 99, "p999": 99.9}
    latency_ms: dict[str, float | None]
    mean: float | None
    if w.dropped_raw == 0 and lat.size:
        latency_ms = {k: float(np.percentile(lat, v)) * 1e3 for k, v in qs.items()}
        mean = float(lat.mean()) * 1e3
    else:
        latency_ms = {k: (x * 1e3 if (x := w.hist.quantile(v / 100)) is not None else None) for k, v in qs.items()}
        mean = float(lat.mean()) * 1e3 if lat.size else None
    ok = sum(c for s, c in w.statuses.items() if 200 <= s < 300)
    completed = sum(w.statuses.values())
    requests = completed + unfinished
    lag_p99 = float(np.percentile(lags, 99)) if lags.size else 0.0
    return {
        "requests": requests,
        "completed": completed,
        "unfinished": unfinished,
        "statuses": {str(k): v for k, v in sorted(w.statuses.items())},
        "success_rate": ok / requests if requests else None,
        "latency_ms": latency_ms,
        "latency_mean_ms": mean,
        "lag_ms": {
            "p50": float(np.percentile(lags, 50)) * 1e3 if lags.size else 0.0,
            "p99": lag_p99 * 1e3,
            "max": float(lags.max()) * 1e3 if lags.size else 0.0,
        },
        "valid": (lag_p99 <= MAX_LAG_P99) if open_loop else True,
        "invalid_reason": (
            f"send lag p99 {lag_p99 * 1e3:.2f} ms > {MAX_LAG_P99 * 1e3:g} ms: the load generator fell behind"
            if open_loop and lag_p99 > MAX_LAG_P99
            else None
        ),
        "raw_samples_dropped": w.dropped_raw,
        "cdf_ms": [(q, float(np.quantile(lat, q)) * 1e3) for q in _CDF_Q] if lat.size and not w.dropped_raw else [],
    }


async def _wait_until(deadline: float) -> None:
    """Return at monotonic time ``deadline`` with sub-millisecond precision.

    uvloop (libuv) rounds timer timeouts to whole milliseconds, so ``asyncio.sleep`` alone wakes up to
    ~1 ms late, and later still under CPU contention. Sleep on the timer until :data:`SPIN_S` before the
    deadline, then spin with ``asyncio.sleep(0)``: each spin turn is one loop iteration with a zero poll
    timeout, so responses arriving meanwhile are still read (and timestamped) at once.
    """
    remaining = deadline - time.monotonic()
    if remaining > SPIN_S:
        await asyncio.sleep(remaining - SPIN_S)
    while time.monotonic() < deadline:
        await asyncio.sleep(0)


async def run_load(spec: dict[str, Any], emit: Any = print) -> dict[str, Any]:
    """Run the load described by ``spec`` (see :func:`main`) and return the measured-window summary.

    Long because one event loop's arrival, user and window closures share the counters they update.

    ``spec`` keys: ``targets`` [[ip, port], ...], ``host``, ``path``, ``method``, ``arrival``,
    ``rate`` (req/s), ``users``, ``think_time`` (mean seconds or None), ``warmup``, ``duration``,
    ``drain`` (seconds), ``header_mix`` [[weight, [[k, v], ...]], ...], ``seed``.
    """
    import aiohttp

    rng = np.random.default_rng(spec["seed"])
    targets = [f"http://{ip}:{port}{spec['path']}" for ip, port in spec["targets"]]
    mix_w = np.array([w for w, _ in spec["header_mix"]], dtype=float)
    mix_w /= mix_w.sum()
    mixes = [dict(h) for _, h in spec["header_mix"]]
    host = spec["host"]
    method = spec["method"]
    warmup, duration, drain = spec["warmup"], spec["duration"], spec["drain"]
    win = _Window(warmup, warmup + duration)
    pending: set[asyncio.Task[None]] = set()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False
    )
    log: list[tuple[float, int, float]] = []
    rate_events = spec.get("rate_events") or []
    open_loop = spec["arrival"] != "closed"
    times = None
    if open_loop:
        if rate_events:
            times = schedule_varying(
                spec["arrival"], rate_changes(float(spec["rate"]), rate_events), warmup + duration, rng
            )
        else:
            times = schedule(spec["arrival"], float(spec["rate"]), warmup + duration, rng)
    t0 = time.monotonic()
    emit(f"t0 {t0!r}", flush=True)

    async def one(intended: float, lag: float, measured: bool) -> None:
        i = int(rng.integers(len(targets)))
        headers = dict(mixes[int(rng.choice(len(mixes), p=mix_w))]) if len(mixes) > 1 else dict(mixes[0])
        headers["host"] = host
        try:
            async with session.request(method, targets[i], headers=headers) as resp:
                await resp.read()
                status = int(resp.status)
        except Exception:  # noqa: BLE001 - a connection failure is a failed request (status 0)
            status = 0
        done = time.monotonic() - t0
        log.append((round(done, 6), status, round((done - intended) * 1e3, 4)))
        if measured:
            win.record(intended, lag, done - intended, status)

    def spawn(intended: float, lag: float, measured: bool) -> None:
        task = asyncio.ensure_future(one(intended, lag, measured))
        pending.add(task)
        task.add_done_callback(pending.discard)

    marked = False
    cpu0, wall0 = time.process_time(), time.monotonic()
    try:
        if times is not None:
            for t in times:
                await _wait_until(t0 + float(t))
                now = time.monotonic() - t0
                if not marked and t >= warmup:
                    marked = True
                    cpu0, wall0 = time.process_time(), time.monotonic()
                    emit(f"warmup-done {time.time()!r}", flush=True)
                measured = t >= warmup
                if measured:
                    win.sent += 1
                spawn(float(t), max(0.0, now - t), measured)
        else:
            think = spec.get("think_time") or 0.0

            async def user() -> None:
                while True:
                    start = time.monotonic() - t0
                    if start >= warmup + duration:
                        return
                    await one(start, 0.0, start >= warmup)
                    if think:
                        await asyncio.sleep(float(rng.exponential(think)))

            users = [asyncio.ensure_future(user()) for _ in range(int(spec["users"]))]
            await asyncio.sleep(warmup)
            cpu0, wall0 = time.process_time(), time.monotonic()
            emit(f"warmup-done {time.time()!r}", flush=True)
            await asyncio.gather(*users)
        if not marked and open_loop:
            cpu0, wall0 = time.process_time(), time.monotonic()
            emit(f"warmup-done {time.time()!r}", flush=True)
        cpu_pct = (time.process_time() - cpu0) / max(1e-9, time.monotonic() - wall0) * 100
        emit("sending-done", flush=True)
        measured_pending = [t for t in pending]
        if measured_pending:
            await asyncio.wait(measured_pending, timeout=drain)
        unfinished = sum(1 for t in pending if not t.done())
        for t in list(pending):
            t.cancel()
    finally:
        await session.close()
    expected = win.sent if open_loop else None
    out = _summary(win, 0, open_loop)
    if expected is not None:
        out["unfinished"] = max(0, expected - out["completed"])
        out["requests"] = expected
        ok = sum(c for s, c in win.statuses.items() if 200 <= int(s) < 300)
        out["success_rate"] = ok / expected if expected else None
    else:
        out["unfinished"] = unfinished
    out["offered_rate"] = spec.get("rate")
    out["cpu_percent"] = cpu_pct
    out["spin_s"] = SPIN_S
    out["window_s"] = duration
    out["requests_log"] = sorted(log)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m meshsim.real.loadgen SPEC.json OUT.json``."""

    ap = argparse.ArgumentParser(prog="meshsim.real.loadgen")
    ap.add_argument("spec")
    ap.add_argument("out")
    args = ap.parse_args(argv)
    with open(args.spec) as f:
        spec = json.load(f)
    parent = os.getppid()

    async def guarded() -> dict[str, Any]:
        task = asyncio.ensure_future(run_load(spec))
        while not task.done():
            await asyncio.wait([task], timeout=0.5)
            if os.getppid() != parent:  # the runner died: stop
                task.cancel()
                raise SystemExit(1)
        return task.result()

    result = run_loop(guarded())
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

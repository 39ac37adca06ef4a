"""Pieces of the real backend that need no Envoy: arrivals, histograms, error injection, headers,
counter deltas, process bookkeeping."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from meshsim.model.ir import Dist
from meshsim.real.loadgen import LatencyHistogram, schedule
from meshsim.real.measure import cluster_deltas
from meshsim.real.service import ErrorInjector, draw, forwarded_headers


def test_poisson_schedule_rate_and_dispersion() -> None:
    rng = np.random.default_rng(7)
    t = schedule("poisson", 500.0, 20.0, rng)
    assert abs(len(t) / 20.0 - 500) < 500 * 0.05
    gaps = np.diff(t)
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.05  # exponential: CV 1
    assert np.all(t < 20.0) and np.all(gaps > 0)


def test_constant_schedule() -> None:
    t = schedule("constant", 100.0, 1.0, np.random.default_rng(0))
    assert len(t) == 100 and np.allclose(np.diff(t), 0.01)
    with pytest.raises(ValueError):
        schedule("closed", 1.0, 1.0, np.random.default_rng(0))


def test_histogram_quantiles_within_resolution() -> None:
    rng = np.random.default_rng(1)
    x = rng.lognormal(np.log(0.005), 0.5, 50_000)
    h = LatencyHistogram()
    for v in x:
        h.add(float(v))
    for q in (0.5, 0.9, 0.99):
        got = h.quantile(q)
        assert got is not None
        assert abs(got / np.quantile(x, q) - 1) < 0.01


def test_every_nth_is_isotopes_counter() -> None:
    inj = ErrorInjector(0.3, "every_nth", np.random.default_rng(0))  # 10000 // 3000 = 3 -> 1 in 3
    fails = [inj.fails() for _ in range(9)]
    assert fails == [False, False, True] * 3


def test_random_errors_rate() -> None:
    inj = ErrorInjector(0.2, "random", np.random.default_rng(3))
    n = sum(inj.fails() for _ in range(20_000))
    assert abs(n / 20_000 - 0.2) < 0.01
    assert not ErrorInjector(0.0, "random", np.random.default_rng(3)).fails()


def test_draw_matches_dist_means() -> None:
    rng = np.random.default_rng(5)
    mu, sigma = np.log(0.002), 0.6
    cases = [
        (Dist("constant", (0.003,), 0.003, 0), 0.003),
        (Dist("exponential", (0.004,), 0.004, 1), 0.004),
        (Dist("lognormal", (mu, sigma), float(np.exp(mu + sigma**2 / 2)), 0), float(np.exp(mu + sigma**2 / 2))),
        (Dist("uniform", (0.001, 0.003), 0.002, 0), 0.002),
        (Dist("empirical", (0.001, 0.002, 0.006), 0.003, 0), 0.003),
    ]
    for d, mean in cases:
        xs = [draw(d, rng) for _ in range(20_000)]
        assert abs(np.mean(xs) / mean - 1) < 0.03, d.kind


def test_forwarded_headers() -> None:
    incoming = {
        "Host": "a",
        "Content-Length": "3",
        "Connection": "keep-alive",
        "X-Request-Id": "r1",
        "x-envoy-attempt-count": "2",
        "end-user": "jason",
        "traceparent": "00-ab",
    }
    assert forwarded_headers(incoming, None) == {"x-request-id": "r1", "end-user": "jason", "traceparent": "00-ab"}
    lower = {k.lower(): v for k, v in incoming.items()}
    assert forwarded_headers(lower, ("end-user", "missing")) == {"end-user": "jason"}


def test_cluster_deltas_match_names_with_dots() -> None:
    c = "outbound|8080||leaf.default.svc.cluster.local"
    other = "outbound|8080|v1|leaf.default.svc.cluster.local"
    before = {f"cluster.{c}.upstream_rq_total": 10.0, f"cluster.{other}.upstream_rq_total": 5.0}
    after = {
        f"cluster.{c}.upstream_rq_total": 25.0,
        f"cluster.{c}.upstream_rq_retry": 4.0,
        f"cluster.{c}.outlier_detection.ejections_active": 1.0,
        f"cluster.{other}.upstream_rq_total": 9.0,
    }
    d = cluster_deltas(before, after, [c, other])
    assert d[c] == {"upstream_rq_total": 15.0, "upstream_rq_retry": 4.0, "outlier_detection.ejections_active": 1.0}
    assert d[other] == {"upstream_rq_total": 4.0}


def test_cleanup_stale_kills_recorded_children_only(state_dir: Path) -> None:
    from meshsim.real.procs import Children, RunLock, cleanup_stale

    logs = state_dir / "logs"
    logs.mkdir(parents=True)
    kids = Children(logs)
    p = kids.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{p.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # the child may not have exec'd yet
    # simulate a crashed runner: forget the children without stopping them
    kids.children.clear()
    lock = RunLock()
    lock.acquire()
    try:
        killed = cleanup_stale()
    finally:
        lock.release()
    assert killed == [p.pid]
    p.wait(5)
    assert not (state_dir / "children.json").exists()
    # a pid whose command line differs is never touched
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (state_dir / "children.json").write_text(f'[{{"name": "x", "pid": {other.pid}, "argv": ["not-it"]}}]')
        assert cleanup_stale() == []
        time.sleep(0.1)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_second_lock_is_refused(state_dir: Path) -> None:
    from meshsim.real.procs import AnotherRunActive, RunLock

    script = (
        "import os,time,sys; os.environ['MESHSIM_REAL_STATE']=sys.argv[1];"
        "from meshsim.real.procs import RunLock; l=RunLock(); l.acquire(); print('locked', flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script, str(state_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(AnotherRunActive, match=str(holder.pid)):
            RunLock().acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock()
    lock.acquire()  # the kernel released the dead holder's lock
    lock.release()


def test_response_flags_from_counters() -> None:
    from meshsim.real.measure import _flags_from_counters

    d = {
        "upstream_rq_pending_overflow": 7.0,
        "upstream_rq_retry_overflow": 2.0,
        "upstream_rq_retry_limit_exceeded": 3.0,
    }
    assert _flags_from_counters(d) == {"UO": 9, "URX": 3}
    assert _flags_from_counters({"upstream_rq_total": 5.0}) == {}

"""A killed pod's app resets the requests it is serving (no Envoy: the app itself, on loopback), as the
simulator's :meth:`~meshsim.sim.replica.Replica.reset_inflight` does: the request in flight ends at the
kill with its connection aborted, not with a 200 when its script would have finished."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from meshsim.model.ir import SleepStep
from tests.unit.sim.support import constant, model, workload

aiohttp = pytest.importorskip("aiohttp")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kill_aborts_the_request_in_flight_at_once() -> None:
    from meshsim.real.service import App

    m = model(back=workload("back", (SleepStep(constant(2.0), 0),)))
    port = _free_port()

    async def go() -> tuple[str, float, dict[int, int]]:
        app = App(m, "back-v1-0", "127.0.0.1", port, _free_port(), seed=1)
        await app.start()
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as client:

            async def request() -> str:
                try:
                    async with client.post(f"http://127.0.0.1:{port}/") as resp:  # POST: aiohttp retries no POST
                        await resp.read()
                        return str(resp.status)
                except aiohttp.ClientError as exc:
                    return type(exc).__name__

            task = asyncio.ensure_future(request())
            await asyncio.sleep(0.3)
            assert len(app.inflight) == 1
            await app.kill()
            outcome = await task
        elapsed = time.monotonic() - t0
        await app.stop()
        return outcome, elapsed, app.stats.responses

    outcome, elapsed, responses = asyncio.run(go())
    assert outcome == "ServerDisconnectedError"
    assert elapsed < 1.5  # at the kill (0.3 s), not when the 2 s sleep would have ended
    assert responses == {}  # the app answered nothing


@pytest.mark.real
def test_a_killed_pods_requests_in_flight_fail_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    """real/scenarios/kill-inflight: server-v1-1 dies at 10 s with requests of 2 s in flight on it. On both
    backends each fails (client answers 500), and only those: the calls sent to the dead pod before EDS drops it
    fail to connect and are retried on the other pod. Counts, not latency (1 to 10 in flight at 5 requests/s)."""
    from meshsim.pipeline import load_and_compile, simulate
    from meshsim.real.options import RunOptions
    from meshsim.real.runner import run_real_sync

    model, _ = load_and_compile([str(scenarios_dir / "kill-inflight")], [])
    real = run_real_sync(model, RunOptions(out=tmp_path / "out"))
    sim = simulate(model, seed=1, workers=1)
    # the real backend kills only the app: its surviving sidecar also fails the ~0.65 s of calls (~2) sent to the pod
    # before EDS drops it, which the simulator's dead pod refuses at connect (retried on the other pod)
    for s, most in ((real, 15), (sim, 10)):
        failed = s.entry.status_codes.get("500", 0)
        assert 1 <= failed <= most, s.entry.status_codes
        assert s.entry.status_codes.get("200", 0) + failed == s.entry.requests

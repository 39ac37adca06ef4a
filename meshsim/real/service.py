"""The workload service: real HTTP apps that execute a :class:`~meshsim.model.ir.Workload` exactly as the
simulator does.

Each pod's app is its own process (forked per pod by :func:`main`, on ``<pod ip>:15080``), on a uvloop event
loop; ``cpu:`` steps run on a pool of one thread per worker. Per pod:

- a worker pool of ``Workload.concurrency`` (FIFO: ``asyncio.Semaphore`` wakes waiters in order;
  None = unbounded, like isotope's Go server);
- on a request, after getting a worker: the error check first (isotope: "the error check runs before
  the script"). ``random``: fail with probability ``error_rate``; ``every_nth``:
  isotope's per-pod counter, fail when ``counter >= 10000 // int(error_rate*10000)``. A failure answers
  ``error_status`` at once, without running the script;
- then the script: ``SleepStep`` holds the worker for a draw from its :class:`Dist` (seeded numpy
  ``Generator`` per pod; realized sleep recorded because asyncio overshoots by ~0.1 ms), ``CallStep``
  calls the destination through the pod's **own sidecar** (``<pod ip>:15001``, Host = destination FQDN)
  with probability ``probability``, the app's own ``timeout`` and ``retries``; ``ConcurrentStep`` runs
  its members together and ends when all have ended;
- a failed call (non-2xx, timeout or connection error after app retries) with ``on_error: fail`` aborts
  the script and the app answers 500 (isotope); ``ignore`` continues;
- outbound headers: the call's own headers plus those of the request the app serves that
  :func:`~meshsim.sim.request.forwarded_headers` copies (``forward_headers``; None = all incoming headers
  except hop-by-hop, Host/Content-* and ``x-envoy-*``): the one rule of both backends.

Scenario events arrive on the control endpoint: ``POST /event`` with ``slow`` (multiply
every sleep of the named workloads' pods by ``factor``; 1 restores), ``errors`` (set the error rate, and
optionally the status; ``rate: null`` restores the workload's own) or ``kill`` (the pod's app stops
listening, resets the requests it is serving and drops every open connection, so its sidecar sees
connections refused/reset), as the
simulator's :class:`~meshsim.sim.scenario.ScenarioDriver` does to its replicas.

Time series: after ``POST /origin`` (``t0`` on the shared monotonic clock, bucket ``width``), each
request is counted in bucket ``int((t_end - t0) / width)`` of its pod by completion time (requests,
status < 500, residence in ms: the simulator's ``Series.add``), each app-level call in the calls
series (calls, tries), and the number of requests waiting for a worker is sampled at each bucket's end.
``GET /series`` returns them. The counters, the series and the error injector live in :mod:`meshsim.real.app_records`.

Run as ``python -m meshsim.real.service SPEC.json``: it forks one process per pod (:func:`main`), each
serving a control endpoint (``/ready``, ``/mark`` to start the measured window, ``/stats``, ``/origin``,
``/event``, ``/series``) on its own port; all exit when the runner dies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import pickle
import sys
import time
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from meshsim.config.limits import MAX_BYTES as MAX_BODY_BYTES
from meshsim.model.ir import CallStep, ConcurrentStep, CpuStep, MeshModel, SleepStep, Step, Workload
from meshsim.model.rules.app_retry import app_outcome, app_tries
from meshsim.model.rules.dist import draw
from meshsim.real.app_records import SAMPLE_CAP, ErrorInjector, PodStats, SeriesRec
from meshsim.sim.request import forwarded_headers

__all__ = ["draw", "ErrorInjector", "App", "forwarded_headers", "burn_cpu", "main"]

FAULT_ABORT_BODY = b"fault filter abort"
"""The body of the local reply Envoy's fault filter sends for an injected abort (``FaultFilter::abortWithStatus``,
source/extensions/filters/http/fault/fault_filter.cc): how an app tells an injected abort (``FI``) from an upstream
answer, since such a request never reaches a cluster's counters."""


_BURN_CHUNK = bytes(4096)
"""What :func:`burn_cpu` hashes per step: above hashlib's 2047-byte threshold for releasing the GIL, small
enough (a few us of SHA-256) that a burn overshoots its CPU time by little."""
CPU_THREADS_UNBOUNDED = 32
"""Threads that run ``cpu:`` steps of a pod whose ``concurrency`` is unbounded (None)."""
_CPU_POOLS: dict[str, ThreadPoolExecutor] = {}


def burn_cpu(seconds: float) -> float:
    """Use ``seconds`` of the calling thread's CPU time, measured on its CPU clock (``time.thread_time``,
    ``CLOCK_THREAD_CPUTIME_ID``), not wall time: a thread descheduled or throttled by its cgroup's CFS quota
    takes longer on the wall clock but burns the same CPU. It hashes a 4 KiB buffer in a loop (hashlib
    releases the GIL for it, so burns on several threads run on several cores). Returns the CPU seconds used
    (at most one hash, a few us, more than asked)."""
    h = hashlib.sha256()
    t0 = time.thread_time()
    end = t0 + seconds
    while time.thread_time() < end:
        h.update(_BURN_CHUNK)
    return time.thread_time() - t0


def _cpu_pool(app: App) -> ThreadPoolExecutor:
    """The threads that run ``app``'s ``cpu:`` steps: one per worker (``Workload.concurrency``), so a pod's
    requests burn CPU in parallel as a threaded server's workers do, sharing the cores of its cpuset."""
    pool = _CPU_POOLS.get(app.pod)
    if pool is None:
        n = app.workload.concurrency or CPU_THREADS_UNBOUNDED
        pool = _CPU_POOLS[app.pod] = ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"cpu-{app.pod}")
    return pool


class App:
    """One pod's application: an aiohttp server on the pod's app address plus a client session to its
    sidecar's outbound listener."""

    def __init__(self, model: MeshModel, pod: str, ip: str, app_port: int, outbound_port: int, seed: int) -> None:
        ep = next(e for e in model.endpoints if e.id == pod)
        self.workload: Workload = next(w for w in model.service(ep.service).workloads if w.version == ep.version)
        self.pod = pod
        self.ip = ip
        self.app_port = app_port
        self.outbound = f"http://{ip}:{outbound_port}"
        self.rng = np.random.default_rng([seed, zlib.crc32(pod.encode())])
        self.errors = ErrorInjector(self.workload.error_rate, self.workload.error_mode, self.rng)
        conc = self.workload.concurrency
        self.workers: asyncio.Semaphore | None = asyncio.Semaphore(conc) if conc else None
        self.body = b"x" * self.workload.response_size
        self.stats = PodStats()
        self.session: Any = None
        self.runner: Any = None
        self.site: Any = None
        self.slow = 1.0
        self.err_status = self.workload.error_status
        self.dead = False
        self.waiting = 0
        self.series: SeriesRec | None = None
        self.inflight: dict[asyncio.Task[Any], Any] = {}  # handler task -> its connection's transport

    async def start(self) -> None:
        import aiohttp
        from aiohttp import web

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
        )
        # aiohttp refuses bodies over 1 MiB with 413 by default (client_max_size); a mesh's apps take
        # whatever their callers send, up to the config's own bound on sizes.
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        self.site = web.TCPSite(self.runner, self.ip, self.app_port, backlog=1024, reuse_address=True)
        await self.site.start()

    async def kill(self) -> None:
        """The pod dies: the requests it is serving are reset (their connections aborted, their handlers
        cancelled, so the app makes no further step or call), it stops listening (new connections refused),
        and requests that still arrive on open connections are answered by closing the connection (see
        :meth:`handle`). Its sidecar then answers the caller 503 ``UC`` for each reset request (the
        simulator's client sidecar sees the reset itself: the real backend's server sidecar survives the app)."""
        self.dead = True
        for task, transport in list(self.inflight.items()):
            if transport is not None:
                transport.abort()
            task.cancel()
        self.inflight.clear()
        if self.site is not None:
            await self.site.stop()
            self.site = None

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def handle(self, request: Any) -> Any:
        if self.dead:
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("pod killed")
        task = asyncio.current_task()
        assert task is not None
        self.inflight[task] = request.transport
        try:
            return await self._serve(request)
        finally:
            self.inflight.pop(task, None)

    async def _serve(self, request: Any) -> Any:
        """One request: a worker, the error draw, the script; returns the response."""
        from aiohttp import web

        await request.read()
        t0 = time.monotonic()
        if self.workers is not None:
            self.waiting += 1
            try:
                await self.workers.acquire()
            finally:
                self.waiting -= 1
        st = self.stats
        t1 = time.monotonic()
        try:
            wait = t1 - t0
            if len(st.queue_wait) < SAMPLE_CAP:
                st.queue_wait.append(wait)
            st.queue_time += wait
            st.waited += wait > 1e-4
            st.requests += 1
            if self.errors.fails():
                st.errors_injected += 1
                status = self.err_status
                body = b"simulated failure"
            else:
                fwd = forwarded_headers(request.headers, self.workload.forward_headers)
                ok = await self._run(self.workload.script, fwd)
                status, body = (200, self.body) if ok else (500, b"downstream call failed")
        finally:
            if self.workers is not None:
                self.workers.release()
            t2 = time.monotonic()
            st.busy_time += t2 - t1
            st.residence_time += t2 - t0
        st.responses[status] = st.responses.get(status, 0) + 1
        if self.series is not None:
            self.series.add_request(t2, 0 < status < 500, (t2 - t0) * 1e3)
        return web.Response(status=status, body=body, headers={"x-meshsim-workload": self.workload.key})

    async def _run(self, script: tuple[Step, ...], fwd: dict[str, str]) -> bool:
        for step in script:
            if isinstance(step, ConcurrentStep):
                results = await asyncio.gather(*(self._one(s, fwd) for s in step.steps))
                if not all(results):
                    return False
            elif not await self._one(step, fwd):
                return False
        return True

    async def _one(self, step: SleepStep | CallStep | CpuStep, fwd: dict[str, str]) -> bool:
        if isinstance(step, CpuStep):
            # CPU work holds the worker until the drawn CPU time is used, however long that takes on the wall
            await asyncio.get_running_loop().run_in_executor(_cpu_pool(self), burn_cpu, draw(step.dist, self.rng))
            return True
        if isinstance(step, SleepStep):
            d = draw(step.dist, self.rng) * self.slow
            t = time.monotonic()
            await asyncio.sleep(d)
            if len(self.stats.sleep_drawn) < SAMPLE_CAP:
                self.stats.sleep_drawn.append(d)
                self.stats.sleep_realized.append(time.monotonic() - t)
            return True
        if step.probability < 1.0 and self.rng.random() >= step.probability:
            self.stats.calls.setdefault(step.service, [0, 0, 0, 0, 0])[4] += 1
            return True
        ok = await self._call(step, fwd)
        return ok or step.on_error == "ignore"

    async def _call(self, step: CallStep, fwd: dict[str, str]) -> bool:
        """One app-level call with the app's own timeout and retries; True on 2xx."""
        headers = dict(fwd)
        headers.update(dict(step.headers))
        headers["host"] = step.host
        data = b"x" * step.request_size if step.request_size else None
        policy = step.retries
        tries = app_tries(policy.attempts if policy else 0)
        rec = self.stats.calls.setdefault(step.service, [0, 0, 0, 0, 0])
        rec[0] += 1
        t0 = time.monotonic()
        used = [0]  # this call's tries (rec is shared with concurrent calls to the same service)
        try:
            return await self._tries(step, headers, data, policy, tries, rec, used)
        finally:
            if self.series is not None:
                self.series.add_call(time.monotonic(), step.service, used[0])
            lat = self.stats.call_latency.setdefault(step.service, [])
            if len(lat) < SAMPLE_CAP:
                lat.append(time.monotonic() - t0)

    async def _tries(
        self,
        step: CallStep,
        headers: dict[str, str],
        data: bytes | None,
        policy: Any,
        tries: int,
        rec: list[int],
        used: list[int] | None = None,
    ) -> bool:
        for attempt in range(tries):
            rec[2] += 1
            if used is not None:
                used[0] += 1
            outcome = await self._attempt(step, headers, data)
            if outcome == "timeout":
                rec[3] += 1
            if outcome == "ok":
                rec[1] += 1
                return True
            if policy is None or attempt == tries - 1 or outcome not in policy.retry_on:
                return False
            if policy.backoff > 0:
                await asyncio.sleep(policy.backoff)
        return False

    async def _attempt(self, step: CallStep, headers: dict[str, str], data: bytes | None) -> str:
        """``ok`` (2xx, :func:`~meshsim.model.rules.app_retry.app_call_ok`), ``3xx``, ``4xx``, ``5xx``, ``timeout`` or ``error``
        (connection failure or reset)."""
        url = self.outbound + step.path

        async def go() -> int:
            # the answer is the call's outcome: a 3xx is not followed (the simulator has no redirects)
            async with self.session.request(
                step.method, url, headers=headers, data=data, allow_redirects=False
            ) as resp:
                body = await resp.read()
                who = resp.headers.get("x-meshsim-workload", "")
                if not who and body == FAULT_ABORT_BODY:
                    self.stats.fault_aborts[step.service] = self.stats.fault_aborts.get(step.service, 0) + 1
                r = self.stats.responders.setdefault(f"{step.service}|{who}", [0, 0])
                r[0] += 1
                r[1] += resp.status < 500
                return int(resp.status)

        try:
            status = await (asyncio.wait_for(go(), step.timeout) if step.timeout else go())
        except TimeoutError:
            return "timeout"
        except Exception:  # noqa: BLE001 - any client error is a failed call, as in isotope
            return "error"
        return app_outcome(status)  # a 3xx is a failed call no ``retryOn`` class names


async def _serve(spec: dict[str, Any], model: MeshModel, pods: list[tuple[str, str]], control_port: int) -> None:
    """An app process: the apps of ``pods`` ((pod id, ip) pairs; :func:`main` forks one process per pod)
    plus the control endpoints the runner calls (``/ready``, ``/mark``, ``/stats``, ``/series``,
    ``/origin``, ``/event``) on ``spec["control_host"]:control_port``. Returns when told to stop
    (SIGTERM/SIGINT) or when its parent dies.

    Long because the control handlers are closures over the apps they read and reset.
    """
    from aiohttp import web

    apps = [App(model, pod, ip, spec["app_port"], spec["outbound_port"], spec["seed"]) for pod, ip in pods]
    for a in apps:
        await a.start()

    async def ready(_: Any) -> Any:
        return web.Response(text="ok")

    async def mark(_: Any) -> Any:
        for a in apps:
            a.stats = PodStats()
        return web.Response(text="marked")

    async def stats(_: Any) -> Any:
        return web.json_response({a.pod: a.stats.to_json() for a in apps})

    sampler: list[asyncio.Task[None]] = []

    async def sample_queues(origin: float, width: float) -> None:
        k = 1
        while True:
            await asyncio.sleep(max(0.0, origin + k * width - time.monotonic()))
            for a in apps:
                if a.series is not None:
                    a.series.queue[k - 1] = a.waiting
            k += 1

    async def set_origin(request: Any) -> Any:
        body = await request.json()
        origin, width = float(body["t0"]), float(body["width"])
        for a in apps:
            a.series = SeriesRec(origin, width)
        for t in sampler:
            t.cancel()
        sampler[:] = [asyncio.ensure_future(sample_queues(origin, width))]
        return web.Response(text="ok")

    async def event(request: Any) -> Any:
        ev = await request.json()
        action = ev.get("action")
        targets = [a for a in apps if a.pod == ev.get("pod") or a.workload.key in (ev.get("workloads") or [])]
        if not targets:
            return web.Response(status=400, text=f"no pod matches {ev}")
        for a in targets:
            if action == "slow":
                a.slow = float(ev["factor"])
            elif action == "errors":
                rate = ev.get("rate")
                a.errors.rate = a.workload.error_rate if rate is None else float(rate)
                a.err_status = int(ev["status"]) if ev.get("status") else a.workload.error_status
            elif action == "kill":
                await a.kill()
            else:
                return web.Response(status=400, text=f"unknown action {action!r}")
        return web.Response(text=f"{action} {len(targets)} pod(s)")

    async def series(_: Any) -> Any:
        return web.json_response({a.pod: a.series.to_json() for a in apps if a.series is not None})

    ctl = web.Application()
    ctl.router.add_get("/ready", ready)
    ctl.router.add_post("/mark", mark)
    ctl.router.add_get("/stats", stats)
    ctl.router.add_post("/origin", set_origin)
    ctl.router.add_post("/event", event)
    ctl.router.add_get("/series", series)
    runner = web.AppRunner(ctl, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, spec["control_host"], control_port).start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:  # the runner died: do not outlive it
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    for t in sampler:
        t.cancel()
    for a in apps:
        await a.stop()
    await runner.cleanup()
    for pool in _CPU_POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)


JOIN_FAILED = 97
"""Exit status of a pod's process that could not join its cgroups (as the runner's spawn shell)."""
STOP_GRACE_S = 2.5
"""Seconds the parent waits for its pods' processes after forwarding SIGTERM, before SIGKILL."""


def _pod_process(spec: dict[str, Any], model: MeshModel, pod: dict[str, Any]) -> int:
    """The body of one pod's forked process: join its cgroups (each ``cgroup.procs`` in ``pod["cgroup_procs"]``)
    before anything of the pod runs, then serve the pod; returns the exit status."""
    try:
        for procs in pod.get("cgroup_procs", ()):
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
    except OSError as exc:
        print(f"pod {pod['pod']}: cannot join cgroup {exc.filename}: {exc.strerror}", file=sys.stderr, flush=True)  # noqa: T201
        return JOIN_FAILED
    run_loop(_serve(spec, model, [(pod["pod"], pod["ip"])], int(pod["control_port"])))
    return 0


def _supervise(pids: dict[int, str]) -> int:
    """The parent of the pods' processes: forward SIGTERM/SIGINT to them and wait; if one exits by itself (or
    the runner dies) stop the others. Returns 0 after a requested stop, 1 when a pod's process died."""
    import signal

    stopping = [False]

    def forward(_sig: int, _frm: Any) -> None:
        stopping[0] = True
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    parent = os.getppid()
    failed = ""
    deadline: float | None = None
    while pids:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid in pids:
            pod = pids.pop(pid)
            if not stopping[0]:
                failed = failed or f"the app process of pod {pod} exited (status {os.waitstatus_to_exitcode(status)})"
                forward(0, None)
            continue
        if not stopping[0] and os.getppid() != parent:  # the runner died: do not outlive it
            forward(0, None)
        if stopping[0]:
            deadline = deadline or time.monotonic() + STOP_GRACE_S
            if time.monotonic() > deadline:
                for p in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
        time.sleep(0.1)
    if failed:
        print(failed, file=sys.stderr, flush=True)  # noqa: T201
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m meshsim.real.service SPEC.json`` (spec written by the runner).

    The process loads everything a pod's app needs once (the model, aiohttp, numpy), then forks **one process
    per pod** of ``spec["pods"]`` (``{"pod", "ip", "control_port", "cgroup_procs"}``), so N pods cost one
    interpreter start-up, not N, and each pod's app is its own process that can sit in its own cgroups. The
    pods' pids are written to ``spec["pids_file"]`` (JSON ``{pod: pid}``, atomically) and this process then
    supervises them (:func:`_supervise`)."""
    ap = argparse.ArgumentParser(prog="meshsim.real.service")
    ap.add_argument("spec")
    args = ap.parse_args(argv)
    with open(args.spec) as f:
        spec = json.load(f)
    import aiohttp.web  # noqa: F401 - loaded before the fork, so each pod's process starts warm

    with open(spec["model"], "rb") as f:
        model: MeshModel = pickle.load(f)  # noqa: S301 - our own file, written by the runner
    pids: dict[int, str] = {}
    for pod in spec["pods"]:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _pod_process(spec, model, pod)
            except BaseException:  # noqa: BLE001 - the child must never return into the parent's code
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids[pid] = pod["pod"]
    tmp = f"{spec['pids_file']}.tmp"
    with open(tmp, "w") as f:
        json.dump({pod: pid for pid, pod in pids.items()}, f)
    os.replace(tmp, spec["pids_file"])
    return _supervise(pids)


def run_loop(coro: Any) -> Any:
    """Run ``coro`` on uvloop when installed (``uvloop.run``), else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    sys.exit(main())

"""Vectorised Monte Carlo over the network's per-hop approximations (for percentiles)."""

from __future__ import annotations

import numpy as np

from meshsim.model.analytic.network import CallPlan, Network, State, Target
from meshsim.model.ir import (
    CpuStep,
    SleepStep,
)
from meshsim.model.rules.app_retry import app_call_ok_mask, app_retriable_mask
from meshsim.model.rules.backoff import backoff_ceilings
from meshsim.model.rules.dist import draws
from meshsim.model.rules.retry import retriable_status

__all__ = ["Sampler"]


class Sampler:
    """Vectorised Monte Carlo over the same approximations (independent hops, M/G/c waits with an
    atom at 0 of mass 1 − C and an exponential tail), for percentiles."""

    def __init__(self, net: Network, rng: np.random.Generator) -> None:
        self.net = net
        self.rng = rng
        self.edge_samples: dict[tuple[str, str, str], list[np.ndarray]] = {}
        sc = net.model.settings.sidecar_latency
        self.sc = sc
        self.net2 = 2 * net.model.settings.network_latency

    def hop(self, n: int) -> np.ndarray:
        return draws(self.sc, self.rng, n) + draws(self.sc, self.rng, n) + self.net2

    def response(self, wkey: str, h: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` response times (s) and statuses of workload ``wkey`` for header class ``h``."""
        rng = self.rng
        wl = self.net.wl[wkey]
        pw, wq = self.net.wait[wkey]
        t = np.zeros(n)
        if pw > 0:
            waits = rng.random(n) < pw
            t[waits] = rng.exponential(wq / pw, int(waits.sum()))
        status = np.full(n, 200)
        err = rng.random(n) < wl.error_rate if wl.error_rate > 0 else np.zeros(n, dtype=bool)
        status[err] = wl.error_status
        ok = np.nonzero(~err)[0]
        if ok.size:
            st, failed = self.script(self.net.states[(wkey, h)], ok.size)
            t[ok] += st
            status[ok[failed]] = 500
        return t, status

    def script(self, st: State, n: int) -> tuple[np.ndarray, np.ndarray]:
        times = np.zeros(n)
        alive = np.ones(n, dtype=bool)
        for group, conc in zip(st.steps, st.concurrent, strict=True):
            idx = np.nonzero(alive)[0]
            if not idx.size:
                break
            tt = np.zeros(idx.size)
            bad = np.zeros(idx.size, dtype=bool)
            for s in group:
                if isinstance(s, SleepStep | CpuStep):
                    x = draws(s.dist, self.rng, idx.size)
                    f = np.zeros(idx.size, dtype=bool)
                else:
                    x, f = self.call(st, s, idx.size)
                    if s.step.on_error != "fail":
                        f = np.zeros(idx.size, dtype=bool)
                tt = np.maximum(tt, x) if conc else tt + x
                bad |= f
            times[idx] += tt
            alive[idx[bad]] = False
        return times, ~alive

    def call(self, st: State, cp: CallPlan, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        times = np.zeros(n)
        failed = np.zeros(n, dtype=bool)
        made = np.nonzero(rng.random(n) < cp.step.probability)[0] if cp.step.probability < 1 else np.arange(n)
        ar = cp.step.retries
        n_tries = 1 + (ar.attempts if ar is not None else 0)
        active = made
        for k in range(n_tries):
            if not active.size:
                break
            if k > 0 and ar is not None and ar.backoff > 0:
                times[active] += ar.backoff
            t, status = self.try_(st, cp, active.size)
            times[active] += t
            bad = ~app_call_ok_mask(status)
            failed[active] = bad
            if ar is None or k == n_tries - 1:
                break
            retri = bad & app_retriable_mask(ar.retry_on, status)
            active = active[retri]
        return times, failed

    def try_(self, st: State, cp: CallPlan, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        t = np.zeros(n)
        status = np.full(n, 200)
        src, dst = st.wkey, cp.step.service
        if cp.route is None:
            status[:] = 404
            self.edge_samples.setdefault((src, dst, ""), []).append(t.copy())
            return t, status
        f = cp.route.fault
        if f is not None and f.delay_fraction > 0:
            t[rng.random(n) < f.delay_fraction] += f.delay
        aborted = (
            rng.random(n) < f.abort_fraction if f is not None and f.abort_fraction > 0 else np.zeros(n, dtype=bool)
        )
        if f is not None:
            status[aborted] = f.abort_status
        weights = np.array([x.weight for x in cp.targets])
        pick = (
            rng.choice(len(cp.targets), size=n, p=weights / weights.sum())
            if len(cp.targets) > 1
            else np.zeros(n, dtype=int)
        )
        for ti, target in enumerate(cp.targets):
            sel = np.nonzero((pick == ti) & ~aborted)[0]
            if sel.size:
                if not target.workloads:
                    status[sel] = 503
                else:
                    tt, ss = self.router(st.h, cp, target, sel.size)
                    t[sel] += tt
                    status[sel] = ss
            self.edge_samples.setdefault((src, dst, target.cluster), []).append(t[pick == ti])
        return t, status

    def router(self, h: int, cp: CallPlan, target: Target, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        rp = cp.route.retry_policy  # type: ignore[union-attr]
        retries = rp.num_retries if rp is not None else 0
        ceilings = backoff_ceilings(rp.backoff_base, rp.backoff_max, retries) if rp is not None else []
        times = np.zeros(n)
        status = np.zeros(n, dtype=int)
        active = np.arange(n)
        keys = [k for k, _ in target.workloads]
        shares = np.array([s for _, s in target.workloads])
        for k in range(retries + 1):
            if not active.size:
                break
            m = active.size
            if k > 0:
                times[active] += np.floor(rng.random(m) * ceilings[k - 1] * 1e3) / 1e3
            which = rng.choice(len(keys), size=m, p=shares / shares.sum()) if len(keys) > 1 else np.zeros(m, dtype=int)
            t = self.hop(m)
            s = np.zeros(m, dtype=int)
            for wi, wkey in enumerate(keys):
                sel = np.nonzero(which == wi)[0]
                if sel.size:
                    rt, rs = self.response(wkey, h, sel.size)
                    t[sel] += rt + self.net.size_cost(cp, wkey)
                    s[sel] = rs
            times[active] += t
            status[active] = s
            if rp is None or k == retries:
                break
            uniq = {int(x) for x in np.unique(s)}
            retri_codes = [c for c in uniq if retriable_status(rp.retry_on, rp.retriable_status_codes, c)]
            if not retri_codes:
                break
            active = active[np.isin(s, retri_codes)]
        return times, status

"""Script flattening (meshsim.model.rules.script)."""

from __future__ import annotations

from meshsim.model.ir import CallStep, ConcurrentStep, Dist, SleepStep
from meshsim.model.rules.script import calls_of, flat_steps


def _call(svc: str, idx: int) -> CallStep:
    return CallStep(svc, f"{svc}.default.svc.cluster.local", 9080, "/", "GET", (), 0, 1.0, None, None, "fail", idx)


def test_groups_expand_in_place_in_script_order() -> None:
    sleep = SleepStep(Dist("constant", (0.01,), 0.01, 0.0), 0)
    script = (sleep, ConcurrentStep((_call("a", 1), SleepStep(sleep.dist, 2), _call("b", 3)), 1), _call("c", 4))
    assert [s.index for s in flat_steps(script)] == [0, 1, 2, 3, 4]
    assert [c.service for c in calls_of(script)] == ["a", "b", "c"]

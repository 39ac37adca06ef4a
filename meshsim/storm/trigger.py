"""A scenario's trigger as two knobs, **magnitude** and **duration**, written as ``--set`` overrides.

The trigger is one event of the user's ``Scenario`` (Huang et al., OSDI'22: capacity-decreasing or
load-spike triggers), found automatically or by index:

- ``slow`` (a capacity drop: the service's sleeps x factor): magnitude = ``slow.factor``, duration =
  ``slow.duration``;
- ``load`` with ``duration`` (a spike): magnitude = spike rate / the LoadProfile rate (a multiplier),
  duration = ``load.duration``;
- ``scale`` followed by a later ``scale`` of the same service and version (fewer replicas, then
  restored): magnitude = replicas removed (the first event sets ``replicas - magnitude``), duration =
  time to the restoring event (its ``at`` is moved).

Every point is an ordinary ``--set`` edit, so the loader re-validates it as it would a user's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from meshsim.config.loader import load
from meshsim.errors import ConfigError
from meshsim.units import format_duration

__all__ = ["TriggerSpec", "find_trigger", "trigger_overrides", "NEUTRAL"]

Kind = Literal["slow", "spike", "scale"]

NEUTRAL: dict[str, float] = {"slow": 1.0, "spike": 1.0, "scale": 0.0}
"""The magnitude that makes each kind of trigger a no-op (normal operation)."""


@dataclass(frozen=True)
class TriggerSpec:
    """Where the trigger sits in the Scenario and its current values.

    ``index`` is the position in ``Scenario.spec.events`` as written; ``restore_index`` the restoring
    scale event; ``magnitude`` in the kind's unit (factor, rate multiplier, replicas removed);
    ``duration`` seconds; ``base_rate`` the LoadProfile rate (req/s); ``replicas`` the scaled
    workload's replicas before the trigger.
    """

    kind: Kind
    index: int
    at: float
    magnitude: float
    duration: float
    source: str
    restore_index: int | None = None
    base_rate: float | None = None
    replicas: int | None = None

    def describe(self, magnitude: float | None = None, duration: float | None = None) -> str:
        m = self.magnitude if magnitude is None else magnitude
        d = self.duration if duration is None else duration
        unit = {"slow": "x slower", "spike": "x load", "scale": " replica(s) removed"}[self.kind]
        return f"{m:g}{unit} for {format_duration(d)} at {format_duration(self.at)}"


def find_trigger(paths: Sequence[str], overrides: Sequence[str] = (), index: int | None = None) -> TriggerSpec:
    """Load the config and locate its trigger event (the first eligible one, or ``index``).

    Raises
    ------
    ConfigError
        When there is no Scenario, ``index`` is out of range, or the event is not a bounded
        slowdown, load spike or scale-down with a later restoring scale event.
    """

    cfg = load(list(paths), list(overrides))
    if cfg.scenario is None:
        raise ConfigError(
            str(paths[0]) if paths else "PATHS",
            "Scenario",
            "storm needs a Scenario with a trigger event (slow, load spike, or scale down and back)",
        )
    src = str(cfg.scenario.source)
    events = cfg.scenario.obj.spec.events
    load_rate = cfg.load_profile.spec.rate
    candidates = range(len(events)) if index is None else [index]
    if index is not None and not 0 <= index < len(events):
        raise ConfigError(
            src, "spec.events", f"--trigger-event {index} is out of range (the Scenario has {len(events)} event(s))"
        )
    for i in candidates:
        ev = events[i]
        if ev.slow is not None and ev.slow.duration is not None:
            return TriggerSpec("slow", i, ev.at, ev.slow.factor, ev.slow.duration, src)
        if ev.load is not None and ev.load.duration is not None:
            if not load_rate:
                raise ConfigError(
                    src, f"spec.events[{i}].load", "a load spike trigger needs an open-loop LoadProfile rate"
                )
            return TriggerSpec("spike", i, ev.at, ev.load.rate / load_rate, ev.load.duration, src, base_rate=load_rate)
        if ev.scale is not None:
            sc = ev.scale
            later = [
                j
                for j, e in enumerate(events)
                if e.scale is not None
                and e.at > ev.at
                and e.scale.service == sc.service
                and e.scale.version == sc.version
            ]
            if not later:
                if index is not None:
                    raise ConfigError(
                        src,
                        f"spec.events[{i}].scale",
                        "a scale trigger needs a later scale event of the same service/version that restores it",
                    )
                continue
            j = min(later, key=lambda k: events[k].at)
            restored = events[j].scale.replicas  # type: ignore[union-attr]
            return TriggerSpec(
                "scale",
                i,
                ev.at,
                float(restored - sc.replicas),
                events[j].at - ev.at,
                src,
                restore_index=j,
                replicas=restored,
            )
        if index is not None:
            raise ConfigError(
                src,
                f"spec.events[{i}]",
                "not a trigger: use a slow event with duration, a load spike (rate + duration) or a scale down/up pair",
            )
    raise ConfigError(
        src,
        "spec.events",
        "no trigger event: add a slow event with duration, a load spike (rate + duration) or a scale down/up pair",
    )


def trigger_overrides(
    t: TriggerSpec, magnitude: float | None = None, duration: float | None = None, base_rate: float | None = None
) -> list[str]:
    """``--set`` assignments that give the trigger ``magnitude`` and ``duration`` (None keeps the
    scenario's). ``base_rate`` is the LoadProfile rate in force (a spike multiplies it).

    Raises
    ------
    ConfigError
        (source ``--magnitude`` / ``--duration``) on a value the trigger kind cannot take.
    """
    out: list[str] = []
    ev = f"Scenario.spec.events[{t.index}]"
    if magnitude is not None and magnitude < 0:
        raise ConfigError("--magnitude", str(magnitude), "must be >= 0")
    if duration is not None and duration < 0:
        raise ConfigError("--duration", str(duration), "must be >= 0")
    if t.kind == "slow":
        if magnitude is not None:
            if magnitude <= 0:
                raise ConfigError("--magnitude", f"{magnitude:g}", "a slowdown factor must be > 0")
            out.append(f"{ev}.slow.factor={magnitude:g}")
        if duration is not None:
            out.append(f"{ev}.slow.duration={duration:g}s")
    elif t.kind == "spike":
        if magnitude is not None:
            if magnitude <= 0:
                raise ConfigError("--magnitude", f"{magnitude:g}", "a spike rate multiplier must be > 0")
            rate = base_rate if base_rate is not None else t.base_rate
            assert rate is not None
            out.append(f"{ev}.load.rate={magnitude * rate:g}")
        if duration is not None:
            out.append(f"{ev}.load.duration={duration:g}s")
    else:
        assert t.replicas is not None and t.restore_index is not None
        if magnitude is not None:
            if magnitude != int(magnitude) or magnitude > t.replicas:
                raise ConfigError(
                    "--magnitude", f"{magnitude:g}", f"replicas removed must be a whole number from 0 to {t.replicas}"
                )
            out.append(f"{ev}.scale.replicas={t.replicas - int(magnitude)}")
        if duration is not None:
            out.append(f"Scenario.spec.events[{t.restore_index}].at={t.at + duration:g}s")
    return out

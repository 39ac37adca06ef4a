"""Mitigations side by side: the same trigger on named variants of the config, and what each costs
when nothing is wrong.

A mitigations file is YAML::

    mitigations:
    - name: as-is                      # no change: the reference
    - name: retry-budget               # extra documents, resolved relative to this file; an object
      files: [retry-budget.yaml]       # with the same kind and name replaces the original
    - name: retries-at-one-layer       # --set overrides (Kind[/name].path=value)
      set: ["VirtualService/mid.spec.http[0].retries={attempts: 0}"]

For each variant: ``replications`` runs with the trigger (P(not recovered) with a Wilson 95%
interval, recoveries, mean recovery time, the fraction of entry requests that failed) and
``replications`` runs of **normal operation** (the same variant with the trigger's magnitude set to a
no-op: factor 1, rate x1, 0 replicas removed): the fraction of entry requests that fail, entry p99
and sidecar amplification, i.e. what the mitigation costs when the mesh is healthy
(budgets, caps, backoff, retrying at one layer, deadlines).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshsim.analysis.verdict import VerdictParams
from meshsim.errors import ConfigError
from meshsim.experiments.replicate import run_replications
from meshsim.model.build import load_and_compile
from meshsim.storm.phase import run_storm_point
from meshsim.storm.trigger import NEUTRAL, TriggerSpec, trigger_overrides

__all__ = ["Mitigation", "load_mitigations", "MitigationRow", "compare_mitigations"]


@dataclass(frozen=True)
class Mitigation:
    """A named variant: extra YAML ``files`` (absolute paths) and ``--set`` ``overrides``."""

    name: str
    files: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()


def load_mitigations(path: str) -> list[Mitigation]:
    """Parse a mitigations file (module docstring).

    Raises
    ------
    ConfigError
        One line naming the file and the field: unreadable YAML, no ``mitigations`` list, a missing
        or duplicate ``name``, a file that does not exist, a ``set`` entry without ``=``.
    """
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("mitigations"), list) or not doc["mitigations"]:
        raise ConfigError(path, "mitigations", "expected a non-empty list of {name, files, set}")
    out: list[Mitigation] = []
    seen: set[str] = set()
    for i, m in enumerate(doc["mitigations"]):
        loc = f"mitigations[{i}]"
        if not isinstance(m, dict):
            raise ConfigError(path, loc, "expected a mapping with name, files and/or set")
        unknown = set(m) - {"name", "files", "set", "description"}
        if unknown:
            raise ConfigError(
                path, f"{loc}.{sorted(unknown)[0]}", "unknown field (expected name, files, set, description)"
            )
        name = m.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(path, f"{loc}.name", "a non-empty name is required")
        if name in seen:
            raise ConfigError(path, f"{loc}.name", f"duplicate name {name!r}")
        seen.add(name)
        files = m.get("files") or []
        sets = m.get("set") or []
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ConfigError(path, f"{loc}.files", "expected a list of file paths")
        if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
            raise ConfigError(path, f"{loc}.set", "expected a list of Kind[/name].path=value strings")
        resolved = []
        for j, f in enumerate(files):
            fp = (p.parent / f) if not Path(f).is_absolute() else Path(f)
            if not fp.exists():
                raise ConfigError(path, f"{loc}.files[{j}]", f"no such file: {fp}")
            resolved.append(str(fp))
        for j, s in enumerate(sets):
            if "=" not in s:
                raise ConfigError(path, f"{loc}.set[{j}]", "expected Kind[/name].path=value")
        out.append(Mitigation(name, tuple(resolved), tuple(sets)))
    return out


@dataclass
class MitigationRow:
    """One variant's outcome under the trigger and in normal operation (fractions in [0, 1], p99 in ms)."""

    name: str
    outcomes: dict[str, int]
    p_not_recovered: float | None
    ci_low: float | None
    ci_high: float | None
    mean_recovery_s: float | None
    trigger_failed_fraction: float | None
    normal_failed_fraction: float | None
    normal_p99_ms: float | None
    normal_amplification: float | None
    files: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def recovers(self) -> bool:
        """True when fewer than half the replications ended metastable."""
        return self.p_not_recovered is not None and self.p_not_recovered < 0.5


def _normal(
    paths: Sequence[str], overrides: Sequence[str], seed: int, replications: int, workers: int | None
) -> tuple[float | None, float | None, float | None]:

    model, _ = load_and_compile(list(paths), list(overrides))
    reps = run_replications(model, seed, replications, workers=workers)
    req = sum(r.entry_requests for r in reps)
    ok = sum(r.entry_success for r in reps)
    sk = None
    for r in reps:
        if r.entry_latency is None:
            continue
        m = r.entry_latency.merged()
        if sk is None:
            sk = m
        else:
            sk.merge(m)
    p99 = float(sk.get_quantile_value(0.99) or 0.0) if sk is not None and sk.count else None
    e_req = sum(e.requests for r in reps for e in r.edges.values())
    e_att = sum(e.attempts for r in reps for e in r.edges.values())
    return (
        round((req - ok) / req, 6) if req else None,
        None if p99 is None else round(p99, 3),
        round(e_att / e_req, 6) if e_req else None,
    )


def compare_mitigations(
    paths: Sequence[str],
    trigger: TriggerSpec,
    mitigations: Sequence[Mitigation],
    magnitude: float | None = None,
    duration: float | None = None,
    overrides: Sequence[str] = (),
    seed: int = 1,
    replications: int = 10,
    params: VerdictParams = VerdictParams(),
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> list[MitigationRow]:
    """Run every mitigation under the trigger (``magnitude``/``duration``, None = the scenario's)
    and in normal operation, with the same seed (common random numbers across variants)."""
    rows: list[MitigationRow] = []
    trig = trigger_overrides(trigger, magnitude, duration)
    calm = trigger_overrides(trigger, NEUTRAL[trigger.kind], None)
    n = len(mitigations)
    for i, m in enumerate(mitigations):
        t0 = time.perf_counter()
        p = [*paths, *m.files]
        base = [*overrides, *m.overrides]
        pt = run_storm_point(p, [*base, *trig], seed, replications, params, workers)
        nf, p99, amp = _normal(p, [*base, *calm], seed, replications, workers)
        rows.append(
            MitigationRow(
                name=m.name,
                outcomes=pt.outcomes,
                p_not_recovered=pt.p_not_recovered,
                ci_low=pt.ci_low,
                ci_high=pt.ci_high,
                mean_recovery_s=pt.mean_recovery_s,
                trigger_failed_fraction=pt.failed_fraction,
                normal_failed_fraction=nf,
                normal_p99_ms=p99,
                normal_amplification=amp,
                files=list(m.files),
                overrides=list(m.overrides),
                wall_s=round(time.perf_counter() - t0, 3),
            )
        )
        if progress is not None:
            progress((i + 1) / n)
    return rows


def rows_json(rows: Sequence[MitigationRow]) -> list[dict[str, Any]]:
    """JSON-ready rows (``recovers`` included)."""
    out = []
    for r in rows:
        d = dict(r.__dict__)
        d["recovers"] = r.recovers
        out.append(d)
    return out

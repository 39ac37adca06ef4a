"""The limits policy: every bound meshsim puts on what it reads, with the reason for each, in one place.

Two kinds of bound live here:

- **Ranges** that keep one run within the memory and time of a laptop, or that the upstream tool
  enforces itself (Istio's validation webhook, ``istio/istio`` ``pkg/config/validation``; the
  Kubernetes API's int32 fields). Every number read from YAML must also be finite: NaN and infinity
  are refused by the pydantic models (``allow_inf_nan=False`` in :mod:`meshsim.config.base`) and by
  the unit parsers in :mod:`meshsim.units`.
- **Reader bounds** for the YAML itself (file size, nesting depth, alias expansion), so that a
  hostile file ("billion laughs", 1,000-deep nesting) gets a one-line error instead of a hang, a
  ``RecursionError`` or an out-of-memory kill.

Then a **pre-run estimate** (:func:`estimate_run`): the number of calls a run would simulate,
``rate x (warmup + duration + drain) x (1 + calls per request)``, refused above
:data:`MAX_SIMULATED_CALLS` unless the user passes ``--force`` (:func:`check_run_budget`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from meshsim.errors import ConfigError

if TYPE_CHECKING:
    from meshsim.config.loader import MeshConfig

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "MAX_DURATION_S",
    "MAX_BYTES",
    "MAX_RATE",
    "MAX_REPLICAS",
    "MAX_TOTAL_PODS",
    "MAX_USERS",
    "MAX_CONCURRENCY",
    "MAX_WEIGHT",
    "MAX_FACTOR",
    "MAX_SAMPLES",
    "INT32_MAX",
    "UINT32_MAX",
    "MAX_SIMULATED_CALLS",
    "Int32",
    "UInt32",
    "Replicas",
    "Rate",
    "RunEstimate",
    "estimate_run",
    "check_run_budget",
]

# --- reader bounds -------------------------------------------------------------------------------

MAX_FILE_BYTES = 16 * 1024**2
"""16 MiB per YAML file. The largest real config seen (Bookinfo with every sample) is under 100 KB;
Kubernetes itself refuses objects over 1.5 MiB (etcd's request limit), so nothing legitimate is near."""

MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and sequences. meshsim's deepest schema path is about 12 levels; PyYAML
composes recursively and dies with ``RecursionError`` near 1,000."""

MAX_YAML_NODES = 200_000
"""Most nodes one document may have once aliases are expanded. Aliases are fine (anchors for shared
defaults), but nine nested levels of ten aliases ("billion laughs") expand to 10^9 nodes; go-yaml,
which ``kubectl`` uses, refuses "excessive aliasing" for the same reason."""

# --- value ranges --------------------------------------------------------------------------------

INT32_MAX = 2**31 - 1
"""Istio's and Kubernetes' ``int32`` fields (weights, replicas, thresholds) cannot hold more."""
UINT32_MAX = 2**32 - 1
"""Envoy's ``uint32`` fields (e.g. ``retry_budget.min_retry_concurrency``)."""

MAX_DURATION_S = 30 * 86400.0
"""30 days, the longest duration anywhere (sleeps, timeouts, windows). Longer is never a simulated
quantity; it is a typo or ``.inf`` in disguise, and simulated clocks stay exact to well under 1 ns."""

MAX_BYTES = 1024**3
"""1 GiB, the largest request or response size: sizes feed per-byte transfer costs; Envoy's own
default buffer limits are far below it (``per_connection_buffer_limit_bytes`` 1 MiB)."""

MAX_RATE = 1_000_000.0
"""Requests/s of open-loop load. meshsim simulates about 10,000 requests per second of wall time on one
core (README, performance), so 10^6 req/s is already 100 s of wall time per simulated second."""

MAX_REPLICAS = 10_000
"""Pods per service or version: every pod is simulated as an object with its own queues."""
MAX_TOTAL_PODS = 100_000
"""Pods in the whole mesh (about 1 KB each before any traffic); checked after loading."""
MAX_USERS = 100_000
"""Closed-loop clients: each is one simulated process."""
MAX_CONCURRENCY = 1_000_000
"""Workers per replica: a bound queue this wide is unbounded in practice."""
MAX_WEIGHT = 1e9
"""Relative weights of a header mix (floats; only ratios matter)."""
MAX_FACTOR = 1e6
"""Slow-down factor of a Scenario ``slow`` event."""
MAX_SAMPLES = 1_000_000
"""Samples of one empirical distribution."""

Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A non-negative ``int32`` (Istio's thresholds and weights, as its webhook requires them >= 0)."""
UInt32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
"""An Envoy ``uint32``."""
Replicas = Annotated[int, Field(ge=0, le=MAX_REPLICAS)]
"""Pods of one service or version."""
Rate = Annotated[float, Field(gt=0, le=MAX_RATE)]
"""Requests/s, positive and at most :data:`MAX_RATE`."""

# --- pre-run estimate ----------------------------------------------------------------------------

MAX_SIMULATED_CALLS = 50_000_000
"""Most calls (entry requests plus every upstream call they make) one run may simulate without
``--force``. The README measures 10^6 entry requests of Bookinfo (about 4 calls each) in 104 s on one
core, so 5 * 10^7 calls is roughly 20 minutes and a few GB of samples per replication."""


@dataclass(frozen=True)
class RunEstimate:
    """What a run would simulate: ``requests`` entry requests, ``calls_per_request`` expected
    upstream calls each (probabilities applied, no retries), ``calls`` in total."""

    requests: float
    calls_per_request: float
    seconds: float
    rate: float

    @property
    def calls(self) -> float:
        return self.requests * (1.0 + self.calls_per_request)


def _host_service(host: str) -> str:
    """``reviews.default.svc.cluster.local`` -> ``reviews`` (Kubernetes short name)."""
    return host.split(".", 1)[0]


def _calls_per_request(cfg: MeshConfig, entry: str) -> float:
    """Expected upstream calls made on behalf of one request to ``entry`` (0 when it calls nothing).

    Follows the topology scripts; a call with ``probability: p`` counts ``p/100``. Call cycles are
    cut (the static checks report them as errors).
    """
    from meshsim.config.topology import CallCmd, CallSpec, SleepCmd

    scripts: dict[str, list[object]] = {}
    for doc in cfg.topologies:
        g = doc.obj
        for svc in g.services:
            scripts[svc.name] = list(svc.script if svc.script is not None else (g.defaults.script or []))

    memo: dict[str, float] = {}

    def calls(name: str, stack: frozenset[str]) -> float:
        if name in memo:
            return memo[name]
        if name in stack or name not in scripts:
            return 0.0
        total = 0.0
        for step in scripts[name]:
            for cmd in step if isinstance(step, list) else [step]:
                if isinstance(cmd, SleepCmd) or not isinstance(cmd, CallCmd):
                    continue
                spec = cmd.call
                target = spec.service if isinstance(spec, CallSpec) else spec
                p = 1.0
                if isinstance(spec, CallSpec) and spec.probability:
                    p = spec.probability / 100.0
                total += p * (1.0 + calls(_host_service(target), stack | {name}))
        memo[name] = total
        return total

    return calls(_host_service(entry), frozenset())


def estimate_run(cfg: MeshConfig) -> RunEstimate | None:
    """Estimate the size of one replication of ``cfg`` (None when it cannot tell: closed-loop load
    without a think time, whose throughput only the simulation knows, or no entry service).

    requests = max rate (the LoadProfile's or any Scenario ``load`` event's) x (warm-up + duration +
    drain); closed loop: ``users / thinkTime.mean`` as its rate.
    """
    spec = cfg.load_profile.spec
    entry = spec.entry
    if entry is None:
        marked = [s.name for d in cfg.topologies for s in d.obj.services if s.isEntrypoint]
        entry = marked[0] if marked else (cfg.topologies[0].obj.services[0].name if cfg.topologies else None)
    if entry is None:
        return None
    if spec.arrival == "closed":
        if spec.thinkTime is None or spec.thinkTime.mean <= 0 or spec.users is None:
            return None
        rate = spec.users / spec.thinkTime.mean
    else:
        rate = spec.rate if spec.rate is not None else 100.0
    if cfg.scenario is not None:
        for ev in cfg.scenario.obj.spec.events:
            if ev.load is not None:
                rate = max(rate, ev.load.rate)
    seconds = spec.warmup + spec.duration + spec.drain
    return RunEstimate(rate * seconds, _calls_per_request(cfg, entry), seconds, rate)


def check_run_budget(cfg: MeshConfig, force: bool = False) -> RunEstimate | None:
    """Refuse a run estimated above :data:`MAX_SIMULATED_CALLS` calls, unless ``force``.

    Raises
    ------
    ConfigError
        One line naming the LoadProfile, the estimate and the way out (``--force``).
    """
    est = estimate_run(cfg)
    if est is None or force or est.calls <= MAX_SIMULATED_CALLS:
        return est
    where = str(cfg.load.source) if cfg.load is not None else "LoadProfile (defaults)"
    raise ConfigError(
        where,
        "spec",
        f"this run would simulate about {est.calls:.3g} calls ({est.rate:.4g} req/s x {est.seconds:.4g} s x "
        f"{1 + est.calls_per_request:.3g} calls per request), over the budget of {MAX_SIMULATED_CALLS:.3g} "
        "(about 20 min and several GB per replication); lower the rate or duration, or pass --force",
    )

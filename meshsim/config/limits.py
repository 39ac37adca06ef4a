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

from typing import Annotated

from pydantic import Field

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

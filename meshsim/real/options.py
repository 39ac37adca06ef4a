"""What a real run is asked to do (:class:`RunOptions`) and how it fails (:class:`RunFailed`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from meshsim.errors import MeshsimError

__all__ = ["RunFailed", "RunOptions"]


class RunFailed(MeshsimError):
    """The real mesh could not be brought up or measured."""


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Knobs of a real run. ``duration``/``rps`` override the LoadProfile when set; ``warmup`` too.

    ``envoy_concurrency`` worker threads per Envoy (Istio: 2 from the 2-CPU limit; default 1 here to stay
    within the machine's CPU budget — a recorded deviation). ``ready_timeout`` seconds for startup.
    """

    out: Path
    duration: float | None = None
    rps: float | None = None
    warmup: float | None = None
    seed: int = 1
    envoy_concurrency: int = 1
    ready_timeout: float = 20.0
    log_level: str = "warning"
    address_prefix: str = "127.77"
    nice: int = 0
    """Scheduling priority of every spawned process (``setpriority``; negative needs root/CAP_SYS_NICE and
    is ignored without it). On a machine shared with CPU-bound jobs a negative value keeps the apps'
    event loop and the Envoys from being descheduled for tens of ms; it does not add CPU use."""
    prometheus: Path | None = None
    """Write Istio's standard metrics of the measured window here (Prometheus text format), from
    per-request Envoy access logs (:mod:`meshsim.real.telemetry`); off by default (logging costs CPU)."""
    direct_to_app: bool = False
    """Send the load straight to the entry pods' apps (``<pod ip>:15080``), bypassing their sidecars:
    the baseline of ``meshsim real calibrate``."""

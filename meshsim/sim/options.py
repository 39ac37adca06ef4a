"""How to run a simulation, as opposed to what is simulated (the compiled :class:`~meshsim.model.ir.MeshModel`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    """Run options of one simulation: what it records, not what the mesh is.

    - ``trace_sample``: fraction of measured entry requests traced (``meshsim run --trace-sample``, with
      ``--traces``); tracing draws from its own stream, so it changes no other number.
    - ``istio_metrics``: record Istio's standard metrics (``istio_requests_total``,
      ``istio_request_duration_milliseconds``) while simulating (``meshsim run --prometheus``).
    """

    trace_sample: float = 0.0
    istio_metrics: bool = False

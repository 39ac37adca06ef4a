"""A pod's lifecycle in time: when a new pod becomes Ready, and when a terminating pod stops serving.

**Readiness.** The kubelet's probe worker for a container starts when the pod reaches its node and runs a
probe at once, then every ``periodSeconds`` (``pkg/kubelet/prober/worker.go`` ``run``: ``doProbe`` before
the first tick); a probe before the container has started, or less than ``initialDelaySeconds`` after it
started, gives no result, and the container turns Ready after ``successThreshold`` consecutive successes
(readiness starts as Failure). meshsim's apps answer every probe, so with the container started
``startup`` seconds after the pod was created (scheduling, image pull, container start)::

    k0    = ceil((startup + initialDelaySeconds) / periodSeconds)   # the first probe that counts
    ready = periodSeconds * (k0 + successThreshold - 1)              # seconds after creation

and without a probe a container is Ready when it has started (``ready = startup``).

**Termination** (kubernetes.io "Pod termination"; Istio ``pkg/envoy/agent.go``). A deleted pod leaves the
EndpointSlice at once and, in parallel, gets SIGTERM. Its (non-native) sidecar drains its inbound
listeners: it keeps serving, new connections included, while callers whose EDS still lists the pod send to
it; ``pilot-agent`` stops Envoy ``terminationDrainDuration`` (5 s) later whatever is still in flight, and
the kubelet kills every container ``terminationGracePeriodSeconds`` (30 s) after the deletion. So requests
in flight on the pod are answered until ``min(drain, grace)`` and reset then (503 ``UC`` at the caller); the
app living on until the grace period cannot answer through a stopped sidecar.
"""

from __future__ import annotations

import math

from meshsim.model.ir import PodLifecycle

__all__ = ["ready_after", "serving_for"]


def ready_after(startup_s: float, lc: PodLifecycle) -> float:
    """Seconds from a pod's creation until it is Ready (the formula above); ``startup_s`` the seconds until
    its containers have started."""
    p = lc.readiness
    if p is None:
        return startup_s
    k0 = math.ceil((startup_s + p.initial_delay_s) / p.period_s - 1e-9)
    return p.period_s * (k0 + p.success_threshold - 1)


def serving_for(lc: PodLifecycle) -> float:
    """Seconds a deleted pod keeps answering requests: until its sidecar stops (``terminationDrainDuration``)
    or the kubelet kills it (``terminationGracePeriodSeconds``), whichever comes first."""
    return min(lc.drain_s, lc.grace_s)

"""meshsim.model.rules.lifecycle: when a new pod is Ready (probe ticks from the pod's creation, results
counted from the container start plus ``initialDelaySeconds``) and how long a deleted pod keeps answering."""

from __future__ import annotations

import pytest

from meshsim.model.ir import PodLifecycle, ReadinessProbe
from meshsim.model.rules.lifecycle import ready_after, serving_for


@pytest.mark.parametrize(
    ("startup", "probe", "ready"),
    [
        (10.0, None, 10.0),  # no probe: Ready when the containers have started
        (0.0, ReadinessProbe(), 0.0),  # Kubernetes defaults 0/10/1: the probe at creation counts
        (10.0, ReadinessProbe(), 10.0),  # the tick at 10 s finds the container started
        (12.0, ReadinessProbe(), 20.0),  # started between ticks: the next tick
        (10.0, ReadinessProbe(5.0, 10.0, 1), 20.0),  # 15 s rounds up to the second tick
        (10.0, ReadinessProbe(5.0, 10.0, 2), 30.0),  # one more tick per extra success
        (3.0, ReadinessProbe(0.0, 1.0, 3), 5.0),
    ],
)
def test_ready_after(startup: float, probe: ReadinessProbe | None, ready: float) -> None:
    assert ready_after(startup, PodLifecycle(readiness=probe)) == ready


def test_a_deleted_pod_answers_until_its_sidecar_stops_or_the_grace_period_ends() -> None:
    assert serving_for(PodLifecycle()) == 5.0  # Istio's terminationDrainDuration before the 30 s grace
    assert serving_for(PodLifecycle(grace_s=2.0)) == 2.0
    assert serving_for(PodLifecycle(drain_s=20.0)) == 20.0
    assert serving_for(PodLifecycle(grace_s=0.0)) == 0.0

"""Requests-per-pod rows (meshsim.report.compare_metrics.pod_shares): an idle pod measured 0, not nothing."""

from __future__ import annotations

from meshsim.report.compare import compare
from meshsim.report.compare_metrics import pod_shares
from tests.real.test_compare import _summary, _with_pods


def test_a_pod_without_inbound_counters_has_a_zero_share() -> None:
    # the real backend leaves clusters that saw no request out of the summary
    s = _with_pods(_summary(), {"leaf-fast-0": 5000})
    shares = pod_shares(s)
    assert shares["requests leaf pod leaf-slow-2-0"] == (0.0, 5000.0)
    assert shares["requests leaf pod leaf-fast-0"] == (1.0, 5000.0)


def test_an_idle_pod_row_compares_zero_with_the_prediction() -> None:
    pred = _with_pods(_summary(), {"leaf-fast-0": 5000, "leaf-slow-2-0": 0})
    meas = _with_pods(_summary(), {"leaf-fast-0": 5000})
    (row,) = [r for r in compare(pred, meas).rows if r.key == "requests leaf pod leaf-slow-2-0"]
    assert row.measured == 0.0 and row.predicted == 0.0 and row.note != "not measured"


def test_no_pod_rows_for_a_service_without_requests() -> None:
    assert not [k for k in pod_shares(_with_pods(_summary(), {})) if k.startswith("requests leaf")]

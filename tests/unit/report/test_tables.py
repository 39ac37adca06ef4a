"""Terminal tables: nothing cut to an ellipsis at any width, a compact layout below the wide one's
width, and the Entry header names the gateway the load enters through."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from meshsim.metrics.results import Summary
from meshsim.report.tables import entry_path, fmt_est, render_summary


def _text(summary: Summary, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None, legacy_windows=False)
    render_summary(summary, console)
    return console.export_text()


@pytest.mark.parametrize("width", [72, 80, 100, 120, 200])
@pytest.mark.parametrize("which", ["bookinfo", "bookinfo_gateway", "bookinfo_ratings_down", "storm"])
def test_tables_fit_the_terminal_without_truncation(which: str, width: int, request: pytest.FixtureRequest) -> None:
    summary = request.getfixturevalue(which)
    text = _text(summary, width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    # every name is printed whole, on one line
    names = (
        {e.source for e in summary.edges}
        | {e.destination for e in summary.edges}
        | {sv.name for sv in summary.services}
    )
    for name in names:
        assert name in text, name


def test_compact_layout_below_the_wide_width(bookinfo: Summary) -> None:
    wide = _text(bookinfo, 200)
    narrow = _text(bookinfo, 80)
    # wide: one column per metric, the interval beside its value; compact: one row per metric
    assert any("p90 ms" in ln and "p99.9 ms" in ln for ln in wide.splitlines())
    assert any("metric" in ln and "95% CI" in ln for ln in narrow.splitlines())
    assert any(ln.strip("│ ").startswith("p99.9 ms") for ln in narrow.splitlines())
    assert any("destination" in ln for ln in wide.splitlines())
    assert not any("destination" in ln for ln in narrow.splitlines())
    assert any("-> reviews v2" in ln for ln in narrow.splitlines())  # edge, subset stacked in one cell
    e = next(e for e in bookinfo.edges if e.destination == "details")
    # the p99 cell's interval, or the reason it has none, on a line of its own under its value
    p99 = fmt_est(e.latency_ms.p99, digits=2)
    below = "[" + p99.partition(" [")[2] if " [" in p99 else "n/a (" + p99.partition(" n/a (")[2]
    cells = [c.strip() for ln in narrow.splitlines() for c in ln.split("│")]
    assert any(c.startswith(below[:12]) for c in cells), (below, narrow)


def test_entry_header_names_the_gateway(bookinfo: Summary, bookinfo_gateway: Summary) -> None:
    assert entry_path(bookinfo) == "productpage"
    assert entry_path(bookinfo_gateway) == "istio-ingressgateway -> productpage"
    assert "Entry: istio-ingressgateway -> productpage (" in _text(bookinfo_gateway, 200)
    assert "Entry: productpage (" in _text(bookinfo, 200)


def test_autoscaling_lines_list_each_change() -> None:
    from meshsim.metrics.results import HPADecision
    from meshsim.report.tables import autoscaling_lines

    def d(t: float, cur: int, des: int) -> HPADecision:
        return HPADecision(
            t_s=t,
            hpa="default/web",
            workload="web.v1",
            current=cur,
            recommendation=des,
            desired=des,
            ready=cur,
            metrics=[],
        )

    lines = autoscaling_lines([d(0, 1, 1), d(15, 1, 3), d(30, 3, 3), d(45, 3, 2)])
    assert lines == ["HPA default/web (web.v1): 1 -> 3 at 15s, 3 -> 2 at 45s; 1-3 pods"]
    assert autoscaling_lines([d(0, 2, 2)]) == ["HPA default/web (web.v1): no change; 2-2 pods"]


def test_autoscaling_lines_give_the_time_to_scale() -> None:
    from meshsim.metrics.results import HPAReplicas, HPAResult, HPAScale
    from meshsim.report.tables import autoscaling_lines

    a = HPAResult(
        hpa="default/web",
        workload="web.v1",
        minReplicas=1,
        maxReplicas=3,
        replicas=[HPAReplicas(t_s=0, desiredReplicas=1, currentReplicas=1, readyReplicas=1)],
        scales=[HPAScale(decided_s=15, from_replicas=1, to_replicas=3, routable_s=25.65, time_to_scale_s=10.65)],
        peak_replicas=3,
        max_reached_s=15.0,
    )
    assert autoscaling_lines([], [a]) == [
        "HPA default/web: time to scale 10.7 s (decision to new pods in every sidecar's EDS); "
        "reached maxReplicas 3 at 15s"
    ]

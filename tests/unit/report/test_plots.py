"""The figures render without matplotlib warnings and say what they mean: labels inside their boxes,
failing edges in the failure colour, a legend for node colours, no panel without data."""

from __future__ import annotations

import io
import itertools
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text

from meshsim.metrics.results import Summary
from meshsim.report import plots
from meshsim.report.plots import (
    DEGRADED_COLOUR,
    FAILURE_COLOUR,
    HEALTHY_COLOUR,
    LOAD_NODE,
    NO_DATA_COLOUR,
    edge_colour,
    service_graph,
    timeline,
)


def _render(make, summary: Summary) -> tuple[Figure, FigureCanvasAgg]:
    """Build and draw a figure with every warning recorded; fail on any."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = make(summary)
        canvas = FigureCanvasAgg(fig)
        fig.savefig(io.BytesIO(), format="png", dpi=80)
        canvas.draw()  # at the figure's own dpi, so the extents below are those of this draw
    assert [str(w.message) for w in caught] == []
    return fig, canvas


def _nodes(fig: Figure) -> dict[str, Text]:
    return {t.get_gid().removeprefix("node:"): t for t in fig.axes[0].texts if (t.get_gid() or "").startswith("node:")}


def _arrows(fig: Figure) -> dict[str, FancyArrowPatch]:
    return {
        p.get_gid().removeprefix("edge:"): p
        for p in fig.axes[0].patches
        if isinstance(p, FancyArrowPatch) and (p.get_gid() or "").startswith("edge:")
    }


def test_edge_colour_thresholds() -> None:
    assert edge_colour(0.0) == FAILURE_COLOUR
    assert edge_colour(0.899) == FAILURE_COLOUR
    assert edge_colour(0.9) == DEGRADED_COLOUR
    assert edge_colour(0.989) == DEGRADED_COLOUR
    assert edge_colour(0.99) == edge_colour(1.0) == HEALTHY_COLOUR
    assert edge_colour(None) == edge_colour(math.nan) == NO_DATA_COLOUR


@pytest.mark.parametrize("which", ["bookinfo", "bookinfo_gateway", "canary", "storm"])
def test_service_graph_labels_lie_inside_their_boxes(which: str, request: pytest.FixtureRequest) -> None:
    summary = request.getfixturevalue(which)
    fig, canvas = _render(service_graph, summary)
    renderer = canvas.get_renderer()
    axes_box = fig.axes[0].get_window_extent(renderer)
    fig_box = fig.bbox
    boxes = {}
    for name, text in _nodes(fig).items():
        inner = text.get_window_extent(renderer)
        box = text.get_bbox_patch().get_window_extent(renderer)
        assert box.x0 <= inner.x0 and inner.x1 <= box.x1 and box.y0 <= inner.y0 and inner.y1 <= box.y1, name
        # the box is fully on the figure and inside the axes (not clipped by the colour bar or the edge)
        assert axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 and axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1, name
        assert fig_box.x0 <= box.x0 and box.x1 <= fig_box.x1, name
        boxes[name] = box
    assert set(boxes) >= {f"{s.name}.{s.version}" for s in summary.services} | {LOAD_NODE}
    for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2):
        assert not ba.overlaps(bb), (a, b)


def test_zero_success_edge_is_drawn_in_the_failure_colour(bookinfo_ratings_down: Summary) -> None:
    edge = next(e for e in bookinfo_ratings_down.edges if e.destination == "ratings")
    assert edge.success_rate.value == 0.0
    fig, _ = _render(service_graph, bookinfo_ratings_down)
    arrows = _arrows(fig)
    assert to_rgba(arrows["reviews.v2->ratings.v1"].get_edgecolor()) == to_rgba(FAILURE_COLOUR)
    assert to_rgba(arrows["productpage.v1->reviews.v1"].get_edgecolor()) == to_rgba(HEALTHY_COLOUR)
    labels = {t.get_gid(): t.get_text() for t in fig.axes[0].texts}
    assert "0.0% ok" in labels["edge-label:reviews.v2->ratings.v1"]


def test_healthy_run_has_no_failure_coloured_edge(bookinfo: Summary) -> None:
    fig, _ = _render(service_graph, bookinfo)
    colours = {k: to_rgba(a.get_edgecolor()) for k, a in _arrows(fig).items()}
    assert colours and set(colours.values()) == {to_rgba(HEALTHY_COLOUR)}


def test_service_graph_has_a_legend_for_node_colours(bookinfo_gateway: Summary) -> None:
    fig, _ = _render(service_graph, bookinfo_gateway)
    labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert any("unbounded" in x for x in labels)
    assert any("utilisation" in x for x in labels)
    assert any("gateway" in x for x in labels)
    assert any("load generator" in x for x in labels)
    assert any(f"< {100 * plots.DEGRADED_MIN:g}%" in x for x in labels)
    assert len(fig.axes) == 2  # the graph and its utilisation colour bar


def test_service_graph_has_no_phantom_node(bookinfo: Summary, bookinfo_gateway: Summary) -> None:
    workloads = {f"{s.name}.{s.version}" for s in bookinfo.services}
    fig, _ = _render(service_graph, bookinfo)
    assert set(_nodes(fig)) == workloads | {LOAD_NODE}
    assert set(_arrows(fig)) == {
        f"{LOAD_NODE}->productpage.v1",
        "productpage.v1->details.v1",
        "productpage.v1->reviews.v1",
        "productpage.v1->reviews.v2",
        "reviews.v2->ratings.v1",
    }
    # reviews v3 has a pod but no traffic under the 90/10 split: drawn, marked, and not connected
    assert "no traffic" in _nodes(fig)["reviews.v3"].get_text()
    # through the gateway the load generator feeds the gateway, and only the gateway feeds productpage
    fig, _ = _render(service_graph, bookinfo_gateway)
    assert set(_nodes(fig)) == workloads | {LOAD_NODE, "istio-ingressgateway"}
    into_productpage = {k for k in _arrows(fig) if k.endswith("->productpage.v1")}
    assert into_productpage == {"istio-ingressgateway->productpage.v1"}
    assert f"{LOAD_NODE}->istio-ingressgateway" in _arrows(fig)


def test_edge_rates_split_by_the_versions_arrival_rates(canary: Summary) -> None:
    # before the canary's VirtualService exists, productpage -> reviews has no subset (round robin over
    # v1-v3): its requests/s are split over the versions in proportion to what each received, so the
    # drawn edges add up to the measured ones and no version gets an invented equal share
    fig, _ = _render(service_graph, canary)
    labels = {t.get_gid(): t.get_text() for t in fig.axes[0].texts}
    window = canary.run.duration_s * canary.run.replications
    edges = [e for e in canary.edges if e.source == "productpage.v1" and e.destination == "reviews"]
    assert any(not e.subset for e in edges)
    shown = {v: float(labels[f"edge-label:productpage.v1->reviews.{v}"].split("/s")[0]) for v in ("v1", "v2", "v3")}
    assert sum(shown.values()) == pytest.approx(sum(e.requests for e in edges) / window, abs=0.15)
    rates = {s.version: s.arrival_rate_rps for s in canary.services if s.name == "reviews"}
    assert shown["v3"] == pytest.approx(rates["v3"], abs=0.15)  # v3 only ever got the unsubsetted share


def _lines(ax) -> list:
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def test_storm_timeline_has_no_empty_panel(storm: Summary) -> None:
    assert storm.scenario is not None and storm.scenario.storm is not None and storm.scenario.canary is None
    fig, _ = _render(timeline, storm)
    for ax in fig.axes:
        data = [y for ln in _lines(ax) for y in ln.get_ydata() if math.isfinite(y)]
        assert data, ax.get_ylabel()
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert "waiting requests" in ylabels and "attempts/request" in ylabels  # the storm's evidence
    assert "canary weight %" not in ylabels


def test_canary_timeline_ejected_hosts_have_their_own_axis(canary: Summary) -> None:
    assert canary.scenario is not None and canary.scenario.canary is not None
    assert all(p.ejected_hosts == 0 for p in canary.scenario.series)
    fig, _ = _render(timeline, canary)
    owner = [ax for ax in fig.axes if any(ln.get_label() == "ejected hosts" for ln in ax.get_lines())]
    assert len(owner) == 1
    ax = owner[0]
    assert ax.get_ylabel() == "ejected hosts"
    assert [ln.get_label() for ln in _lines(ax)] == ["ejected hosts"]  # not on the canary weight's % axis
    # zero ejected hosts is drawn at the bottom of its axis, not half-way up
    _, y_frac = ax.transLimits.transform((0.0, 0.0))
    assert y_frac < 0.1
    weight_ax = next(ax for ax in fig.axes if ax.get_ylabel() == "canary weight %")
    assert weight_ax is not ax and weight_ax.get_ylim()[1] <= 102


@pytest.mark.parametrize("which", ["bookinfo", "bookinfo_gateway", "canary", "storm"])
def test_latency_cdf_renders_without_warnings(which: str, request: pytest.FixtureRequest) -> None:
    summary = request.getfixturevalue(which)
    fig, _ = _render(plots.latency_cdf, summary)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == f"entry ({summary.entry.service})" and len(labels) == 1 + len(summary.edges)


def test_storm_phase_draws_the_boundary_between_cells_either_side_of_one_half() -> None:
    pts = [
        {"load": None, "magnitude": m, "duration_s": d, "p_not_recovered": p}
        for (m, d, p) in [(1.5, 1.0, 0.0), (1.5, 2.0, 0.2), (2.0, 1.0, 0.0), (2.0, 2.0, 1.0)]
    ]
    phase = {"points": pts, "replications": 6, "trigger": {"magnitude_unit": "slowdown factor"}}
    fig, _ = _render(plots.storm_phase, phase)  # type: ignore[arg-type]
    ax = fig.axes[0]
    # exactly two boundary segments: between (2x, 1 s) and (2x, 2 s), and between (1.5x, 2 s) and (2x, 2 s)
    segments = sorted((tuple(ln.get_xdata()), tuple(ln.get_ydata())) for ln in ax.get_lines())
    assert segments == [((0.5, 0.5), (0.5, 1.5)), ((0.5, 1.5), (0.5, 0.5))]


def test_an_hpa_run_has_a_replicas_panel() -> None:
    """tests/scenario/fixtures/hpa.yaml (200 s): desired and Ready replicas as steps, the metric per sync."""
    from meshsim.pipeline import load_and_compile, simulate

    fix = Path(__file__).resolve().parents[2] / "scenario" / "fixtures"
    model, _ = load_and_compile([str(fix / "hpa.yaml")], ["LoadProfile.spec.duration=200s"])
    s = simulate(model, seed=3, replications=1, workers=1)
    fig, _ = _render(timeline, s)
    ax = next(ax for ax in fig.axes if ax.get_ylabel() == "replicas")
    lines = {ln.get_label(): ln for ln in _lines(ax)}
    assert set(lines) == {"server.v1 desired", "server.v1 ready"}
    assert max(lines["server.v1 desired"].get_ydata()) == 4 and min(lines["server.v1 ready"].get_ydata()) == 1
    metric = [ln for a in fig.axes for ln in _lines(a) if ln.get_label() == "server.v1 istio_requests_per_second"]
    assert len(metric) == 1 and len(metric[0].get_xdata()) > 5

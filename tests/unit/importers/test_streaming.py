"""Streaming import: the bounded trace buffer of flat files (meshsim.importers.traces.TraceBuffer)
and memory that does not grow with the number of spans."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

import pytest

from meshsim.importers.graph import build_graph
from meshsim.importers.traces import RawSpan, TraceBuffer, TraceFile, read_traces

from .formats import write_many


def _span(i: int) -> RawSpan:
    return RawSpan(str(i), "", 0.0, 1.0, "server", True, "s", "v1", "p", 200, False, None)


def _ids(traces: list[list[RawSpan]]) -> list[list[str]]:
    return [[s.span_id for s in t] for t in traces]


def test_a_trace_is_released_after_window_spans_without_one_of_its_own() -> None:
    buf = TraceBuffer(window=3)
    out: list[list[RawSpan]] = []
    # trace a: spans 0 and 2; b: 1, 3, 4, 5; c: 6
    for i, tid in enumerate("ababbbc"):
        out += buf.add(tid, _span(i))
        if i == 4:
            assert _ids(out) == []  # a's last span (2) is only 2 spans old
    assert _ids(out) == [["0", "2"]]  # released when span 5 made its last span 3 old
    out += buf.flush()
    assert _ids(out) == [["0", "2"], ["1", "3", "4", "5"], ["6"]]
    assert buf.split == 0 and buf.held == 0


def test_a_trace_coming_back_after_release_is_counted_once_as_split() -> None:
    buf = TraceBuffer(window=2)
    out: list[list[RawSpan]] = []
    for i, tid in enumerate("abcdaefga"):
        out += buf.add(tid, _span(i))
    out += buf.flush()
    assert buf.split == 1  # a came back twice, after each release: one trace read in three parts
    assert [t[0].span_id for t in out if len(t) == 1] == [str(i) for i in range(9)]


def test_the_buffer_never_holds_more_than_four_windows_of_spans() -> None:
    buf = TraceBuffer(window=5)
    most = 0
    for i in range(200):
        # every span its own trace, and one long trace touched every other span
        list(buf.add("long" if i % 2 else f"t{i}", _span(i)))
        most = max(most, buf.held)
    assert most <= 4 * 5 + 1


def test_interleaved_flat_file_gives_the_graph_of_the_whole_file(tmp_path: Path) -> None:
    p = tmp_path / "mixed.json"
    write_many(p, 2000, interleave=8)
    whole, part = TraceFile(str(p)), TraceFile(str(p))
    g_whole = build_graph(read_traces(p, whole, window=10**6))
    g_part = build_graph(read_traces(p, part, window=64))
    assert part.split == 0 and part.traces == whole.traces
    assert {k: v.spans for k, v in g_part.versions.items()} == {k: v.spans for k, v in g_whole.versions.items()}
    assert g_part.edges == g_whole.edges
    tight = TraceFile(str(p))
    build_graph(read_traces(p, tight, window=4))  # 8 traces mixed span by span: parts are cut off
    assert tight.split > 0 and tight.traces > whole.traces


def _peak(path: Path) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        info = TraceFile(str(path))
        g = build_graph(read_traces(path, info))
        assert g.versions
        return tracemalloc.get_traced_memory()[1], info.spans
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["zipkin", "otlp"])
def test_peak_memory_does_not_grow_with_the_number_of_spans(tmp_path: Path, fmt: str) -> None:
    small, large = tmp_path / "10k.json", tmp_path / "100k.json"
    write_many(small, 10_000, fmt, lite=True)
    write_many(large, 100_000, fmt, lite=True)
    peak_small, n_small = _peak(small)
    peak_large, n_large = _peak(large)
    assert n_large >= 10 * n_small - 100
    # everything held is per service version (counters, a bounded self-time reservoir) or the
    # bounded buffer; holding the spans would make the large peak ~10x the small one
    assert peak_large < 1.5 * peak_small, (peak_small, peak_large)


def test_otlp_lines_pretty_printed_and_truncated_files(tmp_path: Path) -> None:
    lines = tmp_path / "lines.json"
    write_many(lines, 300, "otlp")
    docs = [json.loads(x) for x in lines.read_text().splitlines()]
    pretty = tmp_path / "pretty.json"
    pretty.write_text("\n".join(json.dumps(d, indent=2) for d in docs))
    mixed = tmp_path / "mixed.json"  # one request per line, then pretty-printed ones
    mixed.write_text(
        "\n".join(json.dumps(d) for d in docs[:10]) + "\n" + "\n".join(json.dumps(d, indent=1) for d in docs[10:])
    )
    graphs = []
    for p in (lines, pretty, mixed):
        info = TraceFile(str(p))
        g = build_graph(read_traces(p, info))
        assert not info.problems and info.spans >= 300
        graphs.append(({k: v.spans for k, v in g.versions.items()}, g.edges, info.traces, info.spans))
    assert graphs[0] == graphs[1] == graphs[2]
    cut = tmp_path / "cut.json"
    text = lines.read_text()
    cut.write_text(text[: len(text) - 200])
    info = TraceFile(str(cut))
    list(read_traces(cut, info))
    assert len(info.problems) == 1 and "truncated or malformed JSON" in info.problems[0]
    assert 0 < info.traces <= graphs[0][2]

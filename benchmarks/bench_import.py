"""Benchmark of ``meshsim import traces`` (not a test): wall and CPU time and peak traced memory to
read and aggregate a flat Zipkin v2 file and an OTLP/JSON file of --spans spans (Bookinfo's traces
repeated with fresh ids, written by the tests' generator), each in its own process.

    python benchmarks/bench_import.py [--spans 100000] [--memory]

Target: 100k spans in < 10 s. ``--memory`` adds tracemalloc's peak (slow: several times the run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one(path: Path, memory: bool) -> dict[str, float]:
    """Import ``path`` in this process: seconds (wall, CPU), spans, traces, peak MB when ``memory``."""
    import tracemalloc

    from meshsim.importers.emit import build_documents
    from meshsim.importers.graph import build_graph
    from meshsim.importers.traces import TraceFile, read_traces

    if memory:
        tracemalloc.start()
    t, c = time.perf_counter(), time.process_time()
    info = TraceFile(str(path))
    g = build_graph(read_traces(path, info))
    build_documents(g, name="bench", sampling=1.0, max_ks=0.05)
    out = {"wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "spans": info.spans}
    out["traces"] = info.traces
    if memory:
        out["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(Path(args.child), args.memory)))
        return
    sys.path.insert(0, str(ROOT / "tests" / "unit" / "importers"))
    from formats import write_many  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as d:
        for fmt in ("zipkin", "otlp"):
            p = Path(d) / f"{fmt}.json"
            write_many(p, args.spans, fmt)
            cmd = [sys.executable, __file__, "--child", str(p)] + (["--memory"] if args.memory else [])
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            mem = f", peak {r['peak_mb']:.1f} MB traced" if "peak_mb" in r else ""
            print(
                f"{fmt:7s} {r['spans']:>7,.0f} spans, {r['traces']:>6,.0f} traces, {p.stat().st_size / 1e6:5.1f} MB: "
                f"{r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU{mem}"
            )


if __name__ == "__main__":
    main()

"""Measure the real STRICT-mTLS handshake cost: interleaved rounds of the four variants of
``real/scenarios/mtls`` (README "mTLS handshake cost"), one ``meshsim real run`` each.

Usage: ``python real/acceptance/mtls/rounds.py --rounds 8 --out /tmp/mtls-rounds [--json runs.json]``

Each run records the entry p50/p99 (ms), success, front->back TLS handshakes (Envoy
``ssl.handshake`` delta), the 1-minute load average at its start and the mesh CPU (% of one core,
from the runner's ``cpu.json``). Rounds use seed = round number; the variant order rotates per round
so no variant always runs first after a quiet gap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
VAR = REPO / "real" / "variants" / "mtls"
VARIANTS: dict[str, list[str]] = {
    "strict-nokeep": ["strict.yaml", "no-keepalive.yaml"],
    "strict-keep": ["strict.yaml"],
    "plain-nokeep": ["disable.yaml", "no-keepalive.yaml"],
    "plain-keep": ["disable.yaml"],
}
BACK = "cluster.outbound|8080||back.default.svc.cluster.local."


def _one(out: Path, name: str, seed: int, duration: float, warmup: float) -> dict[str, object]:
    load = float(Path("/proc/loadavg").read_text().split()[0])
    args = [str(REPO / "real" / "scenarios" / "mtls"), *(str(VAR / v) for v in VARIANTS[name])]
    cmd = [sys.executable, "-m", "meshsim.cli.real", "run", *args, "--out", str(out),
           "--duration", str(duration), "--warmup", str(warmup), "--seed", str(seed)]
    p = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"{name} seed {seed}: meshsim real run failed: {p.stderr.strip()[-400:]}")
    s = json.loads((out / "summary.json").read_text())
    st = json.loads((out / "envoy_stats.json").read_text())
    hs = st["after"]["front-v1-0"].get(BACK + "ssl.handshake", 0) - st["before"]["front-v1-0"].get(BACK + "ssl.handshake", 0)
    cpu = json.loads((out / "cpu.json").read_text())
    return {
        "variant": name, "seed": seed, "requests": s["entry"]["requests"],
        "p50_ms": s["entry"]["latency_ms"]["p50"]["value"], "p99_ms": s["entry"]["latency_ms"]["p99"]["value"],
        "success": s["entry"]["success_rate"]["value"], "front_to_back_tls_handshakes": hs,
        "loadavg_1m": load, "mesh_cpu_percent_of_one_core": round(float(cpu["total"]), 1),
        "cpu_percent_of_one_core": {k: round(float(v), 2) for k, v in cpu["percent_of_one_core"].items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--first-round", type=int, default=1)
    ap.add_argument("--duration", type=float, default=15.0, help="measured window per run, s")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up per run, s")
    ap.add_argument("--out", type=Path, required=True, help="directory for the per-run outputs")
    ap.add_argument("--json", type=Path, help="write all runs here (appended to as rounds finish)")
    a = ap.parse_args()
    runs: list[dict[str, object]] = []
    names = list(VARIANTS)
    for r in range(a.first_round, a.first_round + a.rounds):
        k = (r - 1) % len(names)
        for name in names[k:] + names[:k]:
            row = {"round": r, **_one(a.out / f"r{r}-{name}", name, r, a.duration, a.warmup)}
            runs.append(row)
            print(json.dumps(row), flush=True)
            if a.json:
                a.json.write_text(json.dumps({"runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Issue #8 acceptance: the STRICT-mTLS handshake cost, real vs simulated, from ``runs.json``.

Usage: ``python real/acceptance/mtls/analyse.py [runs.json] [--no-sim]``

Fixed procedure (see real/README.md "mTLS handshake cost"):

- estimator: the median over rounds of the per-round paired difference of entry p50s (each round
  runs the four variants back to back, so a round's background load cancels in its differences);
- calibration on the odd rounds only: ``connectLatency`` = plaintext without keep-alive minus
  plaintext with it; ``mtls.handshakeLatency`` = STRICT minus plaintext, both without keep-alive;
  ``mtls.handshakeCpu`` and ``proxy.cpuPerRequest`` from the Envoys' CPU (per handshake: STRICT minus
  plaintext without keep-alive; per traversal: plaintext keep-alive, front traverses twice);
- acceptance on the even rounds: measured STRICT cost = no keep-alive minus keep-alive; predicted =
  the simulator's p50 difference (4 replications per variant, ``real/calibration.yaml`` plus the
  calibrated values), which must agree in sign and lie within 30 %.
"""

from __future__ import annotations

import argparse
import json
import statistics as st
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
VARIANTS = {
    "strict-nokeep": ["strict.yaml", "no-keepalive.yaml"],
    "strict-keep": ["strict.yaml"],
    "plain-nokeep": ["disable.yaml", "no-keepalive.yaml"],
    "plain-keep": ["disable.yaml"],
}


def _paired(by: dict, rounds: list[int], a: str, b: str, key: str = "p50_ms") -> float:
    return st.median(by[(r, a)][key] - by[(r, b)][key] for r in rounds)


def _cpu(by: dict, rounds: list[int], a: str, b: str | None, pod: str) -> float:
    """Median over rounds of an Envoy's CPU (% of one core) in ``a`` minus ``b``."""
    return st.median(
        by[(r, a)]["cpu_percent_of_one_core"][pod] - (by[(r, b)]["cpu_percent_of_one_core"][pod] if b else 0.0)
        for r in rounds
    )


def simulate(sets: list[str]) -> dict[str, float]:
    """Entry p50 (ms) of each variant in the simulator, 4 replications, seed 1."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, files in VARIANTS.items():
            args = [str(REPO / "real" / "scenarios" / "mtls"), *(str(REPO / "real" / "variants" / "mtls" / f) for f in files),
                    str(REPO / "real" / "calibration.yaml")]
            for s in sets:
                args += ["--set", s]
            code = "import sys; from meshsim.cli.main import app; sys.argv[0] = 'meshsim'; app()"
            subprocess.run([sys.executable, "-c", code, "run", *args, "-r", "4", "--seed", "1", "--out", f"{tmp}/{name}", "-q"],
                           cwd=REPO, check=True, capture_output=True)
            s = json.loads(Path(f"{tmp}/{name}/summary.json").read_text())
            out[name] = s["entry"]["latency_ms"]["p50"]["value"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="?", type=Path, default=Path(__file__).with_name("runs.json"))
    ap.add_argument("--no-sim", action="store_true", help="only the measured side")
    a = ap.parse_args()
    runs = json.loads(a.runs.read_text())["runs"]
    by = {(r["round"], r["variant"]): r for r in runs}
    rounds = sorted({r["round"] for r in runs})
    odd = [r for r in rounds if r % 2 == 1]
    even = [r for r in rounds if r % 2 == 0]
    connect = _paired(by, odd, "plain-nokeep", "plain-keep")
    handshake = _paired(by, odd, "strict-nokeep", "plain-nokeep")
    if all("cpu_percent_of_one_core" in r for r in runs):
        hs_cpu = st.mean(_cpu(by, odd, "strict-nokeep", "plain-nokeep", p) for p in ("envoy-front-v1-0", "envoy-back-v1-0")) / 100 * 10
        per_req = st.mean([_cpu(by, odd, "plain-keep", None, "envoy-front-v1-0") / 2,
                           _cpu(by, odd, "plain-keep", None, "envoy-back-v1-0")]) / 100 * 10
    else:  # older runs recorded only the mesh total
        hs_cpu = per_req = float("nan")
    measured = _paired(by, even, "strict-nokeep", "strict-keep")
    print(f"rounds {len(rounds)} (calibration: {len(odd)} odd, acceptance: {len(even)} even)")
    print(f"calibration: connectLatency {connect:.2f} ms, handshakeLatency {handshake:.2f} ms, "
          f"handshakeCpu {hs_cpu:.3f} ms per proxy, cpuPerRequest {per_req:.3f} ms per traversal")
    print(f"measured STRICT cost in p50 (even rounds, paired median): {measured:.2f} ms; "
          f"per round: {[round(by[(r, 'strict-nokeep')]['p50_ms'] - by[(r, 'strict-keep')]['p50_ms'], 2) for r in even]}")
    if a.no_sim:
        return
    base = [f"MeshSettings.spec.connectLatency={connect:.2f}ms", f"MeshSettings.spec.mtls.handshakeLatency={handshake:.2f}ms"]
    cpu = [f"MeshSettings.spec.mtls.handshakeCpu={hs_cpu:.2f}ms", f"MeshSettings.spec.proxy.cpuPerRequest={per_req:.2f}ms",
           "MeshSettings.spec.proxy.workers=1"]
    for label, sets in (("latency calibration", base), ("latency + CPU calibration (1 worker)", base + cpu)):
        p = simulate(sets)
        pred = p["strict-nokeep"] - p["strict-keep"]
        err = (pred - measured) / measured
        print(f"{label}: simulated p50 {', '.join(f'{k} {v:.2f}' for k, v in p.items())} ms; "
              f"predicted cost {pred:.2f} ms vs measured {measured:.2f} ms: {err:+.0%} "
              f"({'sign agrees' if pred * measured > 0 else 'SIGN DIFFERS'}, {'within' if abs(err) <= 0.3 else 'OUTSIDE'} 30 %)")


if __name__ == "__main__":
    main()

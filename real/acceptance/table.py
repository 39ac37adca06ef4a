"""Build the acceptance table of real/README.md from `meshsim real validate` output directories.

    python real/acceptance/table.py [--copy DEST] DIR...   (each DIR holds compare.json and validate.json)

Prints one markdown row per scenario; with ``--copy`` also copies each compare.md to DEST/<scenario>.md.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _f(r: dict | None, pct: bool = False) -> str:
    if r is None or r["predicted"] is None or r["measured"] is None:
        return "–"
    p, m = r["predicted"], r["measured"]
    if pct:
        return f"{p * 100:.2f} / {m * 100:.2f} ({r['error']:+.2f} pp) {'✓' if r['passed'] else '✗'}"
    if r["kind"] == "count":
        return f"{p:.1f} / {m:.0f} {'✓' if r['passed'] else '✗'}"
    if r["kind"] == "amplification":
        return f"{p:.3f} / {m:.3f} ({r['error'] * 100:+.1f} %) {'✓' if r['passed'] else '✗'}"
    return f"{p:.1f} / {m:.1f} ({r['error'] * 100:+.0f} %) {'✓' if r['passed'] else '✗'}"


def main(args: list[str]) -> None:
    dest: Path | None = None
    if args[:1] == ["--copy"]:
        dest, args = Path(args[1]), args[2:]
        dest.mkdir(parents=True, exist_ok=True)
    dirs = args
    _out(
        "| scenario | p50 ms pred / meas | p99 ms pred / meas | success % | mesh amplification | worst split row |"
        " counters (per run) | lag-valid runs | load avg | result (without latency) |"
    )
    _out("|---|---|---|---|---|---|---|---|---|---|")
    for d in map(Path, dirs):
        c = json.loads((d / "compare.json").read_text())
        v = json.loads((d / "validate.json").read_text())
        rows = {r["key"]: r for r in c["rows"]}
        splits = [r for r in c["rows"] if r["kind"] == "split" and r["error"] is not None]
        worst = max(splits, key=lambda r: abs(r["error"])) if splits else None
        counters = [
            r for r in c["rows"] if r["kind"] == "count" and r["key"].endswith("(mesh)") and (r["predicted"] or r["measured"])
        ]
        ctext = "; ".join(f"{r['key'].split()[0].split('.')[-1]} {_f(r)}" for r in counters) or "all 0 ✓"
        valid = 0
        for run in sorted(d.glob("run-*/load.json")):
            valid += bool(json.loads(run.read_text()).get("valid"))
        la = [x[0] for x in v.get("loadavg_at_run_start", [])]
        load = f"{min(la):.1f}–{max(la):.1f}" if la else "?"
        res = ("PASS" if c["passed"] else "FAIL") + f" ({'pass' if c['passed_without_latency'] else 'fail'})"
        _out(
            f"| {d.name} | {_f(rows.get('entry p50 (ms)'))} | {_f(rows.get('entry p99 (ms)'))} "
            f"| {_f(rows.get('entry success rate'), True)} | {_f(rows.get('mesh amplification'))} "
            f"| {(worst['key'].removeprefix('split ') + ': ' + _f(worst, True)) if worst else '–'} | {ctext} "
            f"| {valid}/{c['runs']} | {load} | {res} |"
        )
        if dest is not None:
            shutil.copy(d / "compare.md", dest / f"{d.name}.md")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Small topologies written to a temporary directory, for the planning tests."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ROOT / "topologies"
BOOKINFO = TOPOLOGIES / "bookinfo"
SLO_DIR = TOPOLOGIES / "slo"


def write(tmp: Path, name: str, text: str) -> str:
    """Write ``text`` (dedented) to ``tmp/name`` and return the path as a string."""
    p = tmp / name
    p.write_text(dedent(text).lstrip())
    return str(p)


def single_service(
    tmp: Path,
    rate: float,
    mean_ms: float,
    concurrency: int,
    replicas: int = 1,
    duration: str = "60s",
    warmup: str = "5s",
) -> str:
    """One service, exponential service time, Poisson arrivals: per replica an M/M/c queue."""
    return write(
        tmp,
        "single.yaml",
        f"""
        apiVersion: meshsim.io/v1alpha1
        kind: MockServiceGraph
        services:
        - name: server
          numReplicas: {replicas}
          concurrency: {concurrency}
          script:
          - sleep: {{dist: exponential, mean: {mean_ms}ms}}
        ---
        apiVersion: meshsim.io/v1alpha1
        kind: LoadProfile
        metadata: {{name: single}}
        spec: {{entry: server, arrival: poisson, rate: {rate}, duration: {duration}, warmup: {warmup}}}
        """,
    )


def slo(tmp: Path, body: str, name: str = "slo.yaml") -> str:
    """An SLO document whose ``spec.objectives`` is ``body`` (YAML list text)."""
    items = "\n".join("  " + line for line in dedent(body).strip().splitlines())
    text = "apiVersion: meshsim.io/v1alpha1\nkind: SLO\nmetadata: {name: test}\nspec:\n  objectives:\n" + items + "\n"
    p = tmp / name
    p.write_text(text)
    return str(p)

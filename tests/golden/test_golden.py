"""Golden outputs: each case is recomputed and compared byte for byte with the file stored in ``outputs/``.

They pin what the simulator produces for a fixed seed (summary.json, the Prometheus and Jaeger files,
``meshsim validate``'s report, the random streams a run draws from), so a refactor that changes any
result shows up as a diff. Refresh after an *intended* change (and say why in the commit message)::

    MESHSIM_REFRESH_GOLDEN=1 python -m pytest tests/golden

Normalised before comparing: the repository's absolute path (``<repo>``) and ``meshsim_version``
(``<version>``). Nothing else in these files depends on the machine or the clock (``run.json``, which
holds the wall time, is not compared).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STORED = HERE / "outputs"
REFRESH = os.environ.get("MESHSIM_REFRESH_GOLDEN") == "1"

BOOKINFO = ["topologies/bookinfo"]
BOOKINFO_PARTS = [
    "topologies/bookinfo/topology.yaml",
    "topologies/bookinfo/platform",
    "topologies/bookinfo/destination-rule-all.yaml",
]
CANARY = [*BOOKINFO_PARTS, "topologies/canary"]
STORM = ["topologies/storm/mesh"]
SECURITY = [
    *BOOKINFO_PARTS,
    "topologies/bookinfo-samples/bookinfo-gateway.yaml",
    "tests/mesh/fixtures/gateway-load.yaml",
    "tests/mesh/fixtures/strict.yaml",
    "tests/mesh/fixtures/deny-reviews-to-ratings.yaml",
    "tests/mesh/fixtures/mtls-costs.yaml",
]
RESILIENCE = ["tests/golden/fixtures/resilience.yaml"]

RUNS: dict[str, tuple[list[str], list[str]]] = {
    # name: (paths, extra `meshsim run` arguments); each a few simulated seconds
    "bookinfo": (BOOKINFO, ["--duration", "5s", "--warmup", "1s"]),
    "bookinfo-telemetry": (
        BOOKINFO,
        [
            "--duration",
            "5s",
            "--warmup",
            "1s",
            "--prometheus",
            "{out}/metrics.prom",
            "--traces",
            "{out}/traces.json",
            "--trace-sample",
            "0.02",
        ],
    ),
    "canary": (
        CANARY,
        [
            "--duration",
            "24s",
            "--warmup",
            "1s",
            "--set",
            "CanaryPolicy.spec.startAt=2s",
            "--set",
            "CanaryPolicy.spec.analysis.interval=4s",
            "--set",
            "LoadProfile.spec.rate=40",
        ],
    ),
    "storm": (STORM, ["--duration", "25s", "--warmup", "5s"]),
    "security": (SECURITY, ["--duration", "4s", "--warmup", "1s", "--prometheus", "{out}/metrics.prom"]),
    "resilience": (RESILIENCE, ["--duration", "5s", "--warmup", "1s"]),
}
VALIDATE: dict[str, list[str]] = {"bookinfo": BOOKINFO, "storm": STORM, "security": SECURITY, "resilience": RESILIENCE}


def _normalise(text: str) -> str:
    text = text.replace(str(ROOT), "<repo>")
    return re.sub(r'"meshsim_version": "[^"]*"', '"meshsim_version": "<version>"', text)


@functools.cache
def _run(name: str, tmp: str) -> dict[str, str]:
    paths, extra = RUNS[name]
    out = Path(tmp) / name
    args = ["run", *(str(ROOT / p) for p in paths), "--out", str(out), "--seed", "1", "-q"]
    args += [a.replace("{out}", str(out)) for a in extra]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, f"meshsim {' '.join(args)} exited {res.exit_code}:\n{res.output}\n{res.exception!r}"
    files = {"summary.json": (out / "summary.json").read_text()}
    for f in ("metrics.prom", "traces.json"):
        if (out / f).exists():
            files[f] = (out / f).read_text()
    return {k: _normalise(v) for k, v in files.items()}


def _compare(stored_name: str, actual: str) -> None:
    path = STORED / stored_name
    if REFRESH:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), (
        f"no golden {path.relative_to(ROOT)}: create it with MESHSIM_REFRESH_GOLDEN=1 python -m pytest tests/golden"
    )
    expected = path.read_text()
    if actual == expected:
        return
    diff = list(
        difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), f"stored/{stored_name}", f"now/{stored_name}", lineterm="", n=2
        )
    )
    shown = "\n".join(diff[:150]) + (f"\n... {len(diff) - 150} more diff lines" if len(diff) > 150 else "")
    pytest.fail(f"{stored_name} differs from its golden ({len(diff)} diff lines):\n{shown}", pytrace=False)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("name", [n for n in RUNS if n != "bookinfo-telemetry"])
def test_summary_json(name: str, tmp: str) -> None:
    _compare(f"{name}/summary.json", _run(name, tmp)["summary.json"])


def test_telemetry_files(tmp: str) -> None:
    files = _run("bookinfo-telemetry", tmp)
    _compare("bookinfo/metrics.prom", files["metrics.prom"])
    _compare("bookinfo/traces.json", files["traces.json"])
    _compare("security/metrics.prom", _run("security", tmp)["metrics.prom"])


def test_tracing_and_metrics_do_not_change_the_summary(tmp: str) -> None:
    """Tracing and Istio metrics have their own random stream and change no result."""
    assert _run("bookinfo-telemetry", tmp)["summary.json"] == _run("bookinfo", tmp)["summary.json"]


@pytest.mark.parametrize("name", list(VALIDATE))
def test_validate_output(name: str) -> None:
    res = CliRunner().invoke(app, ["validate", *(str(ROOT / p) for p in VALIDATE[name])], env={"COLUMNS": "200"})
    _compare(f"{name}/validate.txt", _normalise(f"exit code {res.exit_code}\n{res.output}"))


def test_random_stream_names(monkeypatch: pytest.MonkeyPatch, tmp: str) -> None:
    """The ordered names of the random streams a traced Bookinfo replication creates: a stream
    renamed, added or created in another order shows here before it shows in any statistic."""
    from meshsim.sim.rng import Streams

    names: list[str] = []
    orig = Streams.generator

    def recording(self: Streams, name: str):  # type: ignore[no-untyped-def]
        names.append(name)
        return orig(self, name)

    monkeypatch.setattr(Streams, "generator", recording)
    out = Path(tmp) / "streams"
    res = CliRunner().invoke(
        app,
        [
            "run",
            *(str(ROOT / p) for p in BOOKINFO),
            "--out",
            str(out),
            "-q",
            "--duration",
            "2s",
            "--warmup",
            "1s",
            "--traces",
            str(out / "traces.json"),
            "--trace-sample",
            "0.05",
        ],
    )
    assert res.exit_code == 0, res.output
    _compare("bookinfo/random-streams.txt", "".join(f"{n}\n" for n in names))

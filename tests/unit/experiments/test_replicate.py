"""Replications on a Dask cluster: distinct seeds per replication, summary.json identical to local processes."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.experiments.replicate import run_replications
from meshsim.pipeline import load_and_compile

REPO = Path(__file__).resolve().parents[3]
BOOKINFO = str(REPO / "topologies" / "bookinfo")
SHORT = ["LoadProfile.spec.duration=2s", "LoadProfile.spec.warmup=0.5s", "LoadProfile.spec.rate=40"]


def _run(out: Path, *extra: str) -> bytes:
    args = ["run", BOOKINFO, "--out", str(out), "--seed", "4", "-r", "3", "-q", *extra]
    for o in SHORT:
        args += ["--set", o]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return (out / "summary.json").read_bytes()


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        yield c


def test_cli_run_on_dask_writes_the_same_summary_json_bytes_as_local_processes(tmp_path: Path, cluster) -> None:  # type: ignore[no-untyped-def]
    local = _run(tmp_path / "local", "--workers", "1")
    remote = _run(tmp_path / "dask", "--scheduler", cluster.scheduler_address)
    assert remote == local


def test_dask_replications_come_back_in_order_with_their_own_streams(cluster) -> None:  # type: ignore[no-untyped-def]
    model, _ = load_and_compile([BOOKINFO], SHORT)
    seen: list[float] = []
    reps = run_replications(model, 4, 3, first=2, scheduler=cluster.scheduler_address, progress=seen.append)
    assert [r.replication for r in reps] == [2, 3, 4]
    assert seen[-1] == 1.0
    blobs = [pickle.dumps(r) for r in reps]
    assert len(set(blobs)) == 3  # each replication draws from its own streams (seed, r)
    assert blobs == [pickle.dumps(r) for r in run_replications(model, 4, 3, first=2, workers=1)]

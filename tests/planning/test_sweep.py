"""``sweep``: deterministic order, re-validation per point, failed points reported, local == Dask."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.errors import ConfigError
from meshsim.experiments.sweep import grid, parse_factor, sweep

from .helpers import BOOKINFO

BASE = ["LoadProfile.spec.duration=2s", "LoadProfile.spec.warmup=0.5s"]
FACTORS = [
    "LoadProfile.spec.rate=40,80,120,160",
    "MockServiceGraph.services[name=reviews].concurrency=1,2",
    "VirtualService/reviews.spec.http[0].route[0].weight=90,50",
]


def test_parse_factor_keeps_commas_inside_braces() -> None:
    f = parse_factor("VirtualService/reviews.spec.http[0].retries={attempts: 5, retryOn: 5xx},{attempts: 0}")
    assert f.path == "VirtualService/reviews.spec.http[0].retries"
    assert f.values == ("{attempts: 5, retryOn: 5xx}", "{attempts: 0}")
    assert grid([parse_factor("a.b=1,2"), parse_factor("c.d=x,y")]) == [("1", "x"), ("1", "y"), ("2", "x"), ("2", "y")]
    for bad in ("LoadProfile", "LoadProfile.spec.rate=", "rate=1,2", "LoadProfile.spec.rate=1,1"):
        with pytest.raises(ConfigError):
            parse_factor(bad)


def test_failed_point_is_reported_not_fatal() -> None:
    fs = [parse_factor("MockServiceGraph.services[name=reviews].concurrency=2,-1,nope")]
    res = sweep([str(BOOKINFO)], fs, BASE, replications=1, workers=1)
    df = res.to_frame()
    assert list(df["point"]) == [0, 1, 2]
    assert list(df["status"]) == ["ok", "failed", "failed"]
    assert "services[2].concurrency" in df.loc[1, "error"]
    assert df.loc[0, "requests"] > 0


@pytest.mark.slow
def test_sixteen_point_sweep_is_identical_on_local_processes_and_dask(tmp_path) -> None:
    import distributed  # the [test] extra installs dask[distributed]

    fs = [parse_factor(f) for f in FACTORS]
    assert len(grid(fs)) == 16
    local = sweep([str(BOOKINFO)], fs, BASE, seed=3, replications=2, workers=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = sweep([str(BOOKINFO)], fs, BASE, seed=3, replications=2, scheduler=cluster.scheduler_address)
    a, b = local.to_frame(), remote.to_frame()
    assert (a["status"] == "ok").all()
    pd.testing.assert_frame_equal(a, b)
    # one column per factor, numeric where the values are numbers; metrics with CIs
    assert a["LoadProfile.spec.rate"].dtype.kind in "if"
    assert {"latency_p99_ms", "latency_p99_ms_ci_low", "latency_p99_ms_ci_high", "success_rate"} <= set(a.columns)
    a.to_parquet(tmp_path / "s.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.parquet"), a)


def test_cli_sweep_writes_csv_parquet_provenance(tmp_path) -> None:
    out = tmp_path / "sw"
    res = CliRunner().invoke(
        app,
        [
            "sweep",
            str(BOOKINFO),
            "-f",
            "LoadProfile.spec.rate=50,100",
            *sum((["--set", s] for s in BASE), []),
            "-r",
            "1",
            "--workers",
            "1",
            "-q",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "sweep.csv")
    assert list(df["LoadProfile.spec.rate"]) == [50, 100]
    assert (out / "sweep.parquet").exists() and (out / "provenance.json").exists()
    bad = CliRunner().invoke(app, ["sweep", str(BOOKINFO), "-f", "LoadProfile.spec.rate", "-q"])
    assert bad.exit_code == 2 and "--factor" in bad.output

"""The ingress gateway hop on the real mesh: load -> istio-ingressgateway Envoy -> front -> back (~15 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[2]


def test_gateway_run(tmp_path: Path, state_dir: Path, real_deps: None) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO), MESHSIM_REAL_STATE=str(state_dir))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshsim.cli.real",
            "run",
            str(REPO / "real" / "scenarios" / "gateway"),
            "--out",
            str(out),
            "--duration",
            "4",
            "--warmup",
            "1",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    s = json.loads((out / "summary.json").read_text())
    n = s["entry"]["requests"]
    assert n > 100 and s["entry"]["success_rate"]["value"] == 1.0
    st = json.loads((out / "envoy_stats.json").read_text())
    gw = "istio-ingressgateway-0"
    front = "cluster.outbound|8080||front.default.svc.cluster.local."
    sent = st["after"][gw][front + "upstream_rq_total"] - st["before"][gw].get(front + "upstream_rq_total", 0)
    # every load request crossed the gateway Envoy to front (counters and the load generator's window
    # are sampled a few ms apart)
    assert abs(sent - n) <= 0.02 * n + 2, (sent, n)
    # the gateway hop is an edge of the real summary, named as the simulator names it
    (ge,) = [e for e in s["edges"] if e["source"] == "istio-ingressgateway"]
    assert ge["destination"] == "front" and ge["requests"] == sent and ge["success_rate"]["value"] == 1.0
    assert any(c["proxy"] == gw for c in s["clusters"])
    assert st["after"][gw][front + "ssl.handshake"] >= 1  # auto mTLS from the gateway (PERMISSIVE front)
    lspec = json.loads((state_dir / "run" / "load.json").read_text())
    assert lspec["targets"] == [["127.77.1.3", 8080]]  # Gateway port 80 served on 8080 (no root)

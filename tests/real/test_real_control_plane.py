"""The ADS server against a real Envoy: initial ACK of all types, push->ACK of a change, NACK tracking."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.real


def test_push_ack_nack(tmp_path: Path, real_deps: None, load_model) -> None:  # noqa: ANN001
    from meshsim.real.certs import write_mesh_certs
    from meshsim.real.control_plane import ConfigNotLive, ControlPlane
    from meshsim.xds import build_snapshot, plan_ports
    from meshsim.xds.common import TYPE_CLUSTER, TYPE_ROUTE
    from meshsim.xds.envoy_bin import envoy_path
    from meshsim.xds.snapshot import Snapshot, dynamic_bootstrap

    model = load_model("chain-split-retry")
    node = "leaf-v1-0"

    async def scenario() -> dict[str, float]:
        cp = ControlPlane("127.78.0.1", 0)
        await cp.start()
        write_mesh_certs(model, tmp_path / "certs", key_type="ec", pods=[node])
        plan = dataclasses.replace(
            plan_ports(model, prefix="127.78"), xds_port=cp.port, cert_dir=str(tmp_path / "certs")
        )
        cp.set_snapshot(build_snapshot(model, node, plan))
        boot = tmp_path / "boot.json"
        boot.write_text(json.dumps(dynamic_bootstrap(model, node, plan)))
        proc = subprocess.Popen(
            [envoy_path(), "-c", str(boot), "--concurrency", "1", "--disable-hot-restart", "--log-level", "error"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            first = await cp.wait_live([node], 15)
            types = {a.type_url for a in cp.acks}
            assert len(types) == 4
            # a route change: leaf retries 5 times now
            vh = model.virtual_host("leaf.default.svc.cluster.local")
            rp = dataclasses.replace(vh.routes[0].retry_policy, num_retries=5)
            vh2 = dataclasses.replace(vh, routes=(dataclasses.replace(vh.routes[0], retry_policy=rp),))
            m2 = dataclasses.replace(model, virtual_hosts=tuple(vh2 if v is vh else v for v in model.virtual_hosts))
            s2 = build_snapshot(m2, node, plan)
            n_acks = len(cp.acks)
            t = time.monotonic()
            cp.set_snapshot(s2)
            await cp.wait_live([node], 5)
            push_ack = time.monotonic() - t
            new = cp.acks[n_acks:]
            assert [a.type_url for a in new] == [TYPE_ROUTE]  # only RDS changed
            # a config Envoy must reject: negative connect timeout
            bad = copy.deepcopy(s2.resources)
            bad[TYPE_CLUSTER][0]["connect_timeout"] = "-1s"
            versions = dict(s2.versions, **{TYPE_CLUSTER: "bad"})
            cp.set_snapshot(Snapshot(node, bad, versions))
            with pytest.raises(ConfigNotLive, match="NACK"):
                await cp.wait_live([node], 2)
            assert cp.nacks and cp.nacks[-1].type_url == TYPE_CLUSTER
            assert proc.poll() is None  # Envoy keeps running on the previous config
            return {"first_live": first, "push_ack": push_ack, "rds_ack": new[0].latency}
        finally:
            proc.terminate()
            proc.wait(5)
            await cp.stop()

    res = asyncio.run(scenario())
    assert res["push_ack"] < 1.0
    print(f"initial live {res['first_live'] * 1e3:.1f} ms, push->ACK {res['push_ack'] * 1e3:.2f} ms")  # noqa: T201

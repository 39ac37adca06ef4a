"""The loopback Zipkin collector of ``meshsim real run --traces`` (meshsim.real.telemetry.ZipkinCollector)."""

from __future__ import annotations

import gzip
import http.client
import json
from pathlib import Path

import pytest

from meshsim.real.telemetry import ZipkinCollector


def _post(c: ZipkinCollector, conn: http.client.HTTPConnection, body: bytes, chunked: bool = False, **hdr: str) -> int:
    headers = {"Content-Type": "application/json", **hdr}
    if chunked:
        conn.request("POST", "/api/v2/spans", body=iter([body[:7], body[7:]]), headers=headers, encode_chunked=True)
    else:
        conn.request("POST", "/api/v2/spans", body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    return r.status


def test_batches_over_one_connection_become_one_list_of_spans(tmp_path: Path) -> None:
    out = tmp_path / "spans.json"
    c = ZipkinCollector(out)
    try:
        conn = http.client.HTTPConnection(c.address, c.port, timeout=5)
        a = [{"traceId": "1", "id": "a", "kind": "SERVER"}, {"traceId": "1", "id": "b", "parentId": "a"}]
        b = [{"traceId": "2", "id": "c"}]
        assert _post(c, conn, json.dumps(a).encode()) == 202
        assert _post(c, conn, json.dumps(b).encode(), chunked=True) == 202  # same keep-alive connection
        assert _post(c, conn, gzip.compress(b"[]"), **{"Content-Encoding": "gzip"}) == 202
        assert _post(c, conn, b'{"not": "a list"}') == 400
        assert not out.exists()  # written only when complete
    finally:
        c.close()
    assert json.loads(out.read_text()) == [*a, *b]
    assert (c.spans, c.batches, c.rejected) == (3, 3, 1)
    assert not list(tmp_path.glob(".*part"))


def test_collector_listens_on_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not loopback"):
        ZipkinCollector(tmp_path / "x.json", address="0.0.0.0")

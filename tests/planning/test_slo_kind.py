"""The ``kind: SLO`` document: dispatch, validation, one-line errors."""

from __future__ import annotations

import pytest

from meshsim.config.loader import load
from meshsim.errors import ConfigError

from .helpers import BOOKINFO, SLO_DIR, slo


def test_slo_documents_load_next_to_a_mesh() -> None:
    cfg = load([str(BOOKINFO), str(SLO_DIR / "bookinfo.yaml")])
    assert len(cfg.slos) == 1
    objs = cfg.slos[0].obj.spec.objectives
    assert objs[0].entry == "productpage"
    assert objs[0].latency.p99 == pytest.approx(0.150)
    assert objs[0].successRate == pytest.approx(0.99)
    assert objs[1].edge.destination == "reviews" and objs[1].amplification == 1.2
    assert [o.label for o in objs][1] == "reviews-amplification"


@pytest.mark.parametrize(
    "body,loc",
    [
        ("- {entry: a, edge: {source: a, destination: b}, successRate: 0.9}", "spec.objectives[0]"),
        ("- {entry: a}", "spec.objectives[0]"),
        ("- {entry: a, latency: {p99: soon}}", "spec.objectives[0].latency.p99"),
        ("- {edge: {source: a, destination: b}, amplification: 0.5}", "spec.objectives[0].amplification"),
        ("- {entry: a, sucessRate: 0.9}", "spec.objectives[0].sucessRate"),
    ],
)
def test_bad_slo_is_one_line_naming_file_and_field(tmp_path, body: str, loc: str) -> None:
    path = slo(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        load([str(BOOKINFO), path])
    msg = str(exc.value)
    assert "\n" not in msg
    assert path in msg and loc in msg

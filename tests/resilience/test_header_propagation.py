"""Header propagation, end to end: an app forwards the headers of the request *it* serves (filtered by its
``forwardHeaders``) plus its call's own, so a header added mid-chain routes the next hop
(fixtures/header-propagation.yaml: a adds ``x-canary: 1`` on its call to b; c's VirtualService sends
``x-canary: 1`` to subset v2)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.resilience.helpers import edge, fx, run


def test_a_header_added_mid_chain_routes_the_next_hop() -> None:
    s = run(fx("header-propagation.yaml"))
    to_v2 = edge(s, "b.v1", "c", "v2")
    assert to_v2.requests > 400 and to_v2.status_codes == {"200": to_v2.requests}
    assert not [e for e in s.edges if e.source == "b.v1" and e.subset == "v1"]


def test_forward_headers_that_omit_the_header_stop_it(tmp_path: Path) -> None:
    """b's ``forwardHeaders`` names only ``x-request-id``: x-canary stops at b, and c's default route (v1) applies."""
    text = (Path(fx("header-propagation.yaml")[0])).read_text()
    text = text.replace("- name: b\n  script:", "- name: b\n  forwardHeaders: [x-request-id]\n  script:")
    assert "forwardHeaders" in text
    p = tmp_path / "mesh.yaml"
    p.write_text(textwrap.dedent(text))
    s = run([str(p)])
    to_v1 = edge(s, "b.v1", "c", "v1")
    assert to_v1.requests > 400
    assert not [e for e in s.edges if e.source == "b.v1" and e.subset == "v2"]

"""The mTLS decision table (meshsim.model.rules.tls)."""

from __future__ import annotations

import pytest

from meshsim.model.rules.tls import REFUSED, client_sends_mtls, tls_state


@pytest.mark.parametrize(
    ("client", "server", "state"),
    [
        (None, "STRICT", 1),
        (None, "PERMISSIVE", 1),
        (None, "DISABLE", 0),  # auto mTLS follows the server
        ("DISABLE", "STRICT", REFUSED),
        ("DISABLE", "PERMISSIVE", 0),
        ("DISABLE", "DISABLE", 0),
        ("ISTIO_MUTUAL", "STRICT", 1),
        ("ISTIO_MUTUAL", "PERMISSIVE", 1),
        ("ISTIO_MUTUAL", "DISABLE", REFUSED),
    ],
)
def test_tls_state(client: str | None, server: str, state: int) -> None:
    assert tls_state(client, server) == state
    assert client_sends_mtls(client, server) is (state == 1 or (state == REFUSED and server == "DISABLE"))

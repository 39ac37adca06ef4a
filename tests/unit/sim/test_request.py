"""meshsim.sim.request: the header-forwarding rule both backends follow, and the local replies of resets."""

from __future__ import annotations

from meshsim.sim.request import TLS_MISMATCH, UPSTREAM_RESET, forwarded_headers, local_flag, local_reply


def test_an_app_forwards_its_incoming_headers_except_hop_by_hop_and_envoys() -> None:
    incoming = {
        "Host": "b",
        "Connection": "keep-alive",
        "Content-Type": "text/plain",
        "x-envoy-attempt-count": "2",
        "X-Canary": "1",
        "x-request-id": "r1",
    }
    assert forwarded_headers(incoming, None) == {"x-canary": "1", "x-request-id": "r1"}
    lower = {k.lower(): v for k, v in incoming.items()}
    assert forwarded_headers(lower, ("x-request-id", "end-user")) == {"x-request-id": "r1"}
    assert forwarded_headers({}, None) == {}


def test_a_reset_after_the_request_was_sent_is_503_uc() -> None:
    for code in (UPSTREAM_RESET, TLS_MISMATCH):
        assert (local_reply(code), local_flag(code)) == (503, "UC")

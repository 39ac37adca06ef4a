"""The shipped Bookinfo renders its page when a downstream call fails, as the real app does.

Istio's fault-injection task (``virtual-service-ratings-test-abort.yaml``: HTTP 500 from ratings for
the user jason) shows "Ratings service is currently unavailable" on a page that still renders:
reviews answers 200 with an error text in place of the rating, and productpage renders whatever
details and reviews returned (istio/istio samples/bookinfo/src/productpage/productpage.py,
samples/bookinfo/src/reviews/.../LibertyRestEndpoint.java).
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from meshsim.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def test_ratings_abort_fails_ratings_calls_but_no_page(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "run",
            str(ROOT / "topologies" / "bookinfo"),
            str(ROOT / "topologies" / "bookinfo-samples" / "virtual-service-ratings-test-abort.yaml"),
            "--duration",
            "5s",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "o"),
            "--output",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    ratings = [e for e in s["edges"] if e["destination"] == "ratings"]
    failed = sum(e["requests"] * (1 - e["success_rate"]["value"]) for e in ratings)
    assert failed > 0  # jason's ratings calls get the injected 500
    assert all(c == "500" or c.startswith("2") for e in ratings for c in e["status_codes"])
    assert s["entry"]["success_rate"]["value"] == 1.0  # every page renders
    reviews = [e for e in s["edges"] if e["source"].startswith("productpage") and e["destination"] == "reviews"]
    assert all(e["success_rate"]["value"] == 1.0 for e in reviews)  # reviews answers 200 without the rating

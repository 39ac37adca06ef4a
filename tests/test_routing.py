"""Traffic splitting and header routing with Istio's own Bookinfo configs, used unmodified."""

from __future__ import annotations

import math

from scipy import stats

from meshsim.pipeline import load_and_compile, simulate
import hashlib

from tests.conftest import ISTIO_SHA256SUMS, SAMPLES, istio_copy


def _edges(summary, source: str, destination: str) -> dict[str, int]:
    return {e.subset: e.requests for e in summary.edges if e.source == source and e.destination == destination}


def test_reviews_90_10_split(bookinfo_inputs: list[str]) -> None:
    """Reference §6: weights 90/10 give an i.i.d. Bernoulli split; v2's share is 0.10 +/- 0.01 over 20k."""
    vs = str(SAMPLES / "virtual-service-reviews-90-10.yaml")
    model, _ = load_and_compile(bookinfo_inputs + [vs], ["LoadProfile.spec.rate=400", "LoadProfile.spec.duration=55s"])
    s = simulate(model, seed=11, workers=1)
    split = _edges(s, "productpage.v1", "reviews")
    total = sum(split.values())
    assert total >= 20_000
    share = split["v2"] / total
    assert abs(share - 0.10) <= 0.01
    # and it is consistent with Binomial(n, 0.1) at the 99.9% level
    assert stats.binomtest(split["v2"], total, 0.10).pvalue > 0.001
    assert set(split) == {"v1", "v2"}


def test_all_v1_sends_nothing_to_ratings(bookinfo_inputs: list[str]) -> None:
    """virtual-service-all-v1.yaml routes reviews to v1, which does not call ratings."""
    vs = str(SAMPLES / "virtual-service-all-v1.yaml")
    model, _ = load_and_compile(bookinfo_inputs + [vs], ["LoadProfile.spec.duration=20s"])
    s = simulate(model, seed=2, workers=1)
    assert not [e for e in s.edges if e.destination == "ratings"]
    assert _edges(s, "productpage.v1", "reviews") == {"v1": s.entry.requests}
    ratings = [sv for sv in s.services if sv.name == "ratings"][0]
    assert ratings.arrival_rate_rps == 0


def test_jason_goes_to_v2_everyone_else_to_v3(bookinfo_inputs: list[str]) -> None:
    """virtual-service-reviews-jason-v2-v3.yaml + a 10% ``end-user: jason`` mix: v2 gets exactly the
    jason requests, v3 the rest (header match, first match wins, reference §6)."""
    vs = str(SAMPLES / "virtual-service-reviews-jason-v2-v3.yaml")
    model, _ = load_and_compile(bookinfo_inputs + [vs], ["LoadProfile.spec.duration=30s"])
    from meshsim.sim.simulation import Simulation

    sim = Simulation(model, seed=5)
    jason = 0
    orig = sim.load.headers

    def counting() -> dict[str, str]:
        nonlocal jason
        h = orig()
        if h.get("end-user") == "jason" and sim.env.now >= sim.t_start and sim.env.now < sim.t_end:
            jason += 1
        return h

    sim.load.headers = counting  # type: ignore[method-assign]
    rep = sim.run()
    split = {
        k[2].split("|")[2]: v.requests for k, v in rep.edges.items() if k[0] == "productpage.v1" and k[1] == "reviews"
    }
    assert split["v2"] == jason
    assert split["v3"] == rep.entry_requests - jason
    # the mix is 10% jason: Binomial check
    assert stats.binomtest(jason, rep.entry_requests, 0.10).pvalue > 0.001
    assert math.isclose(split["v2"] + split["v3"], rep.entry_requests)


def test_every_bookinfo_networking_file_loads_unmodified(bookinfo_inputs: list[str]) -> None:
    """Every file of Istio's samples/bookinfo/networking loads (alone, on top of the topology)."""
    for f in sorted(SAMPLES.glob("*.yaml")):
        model, findings = load_and_compile(bookinfo_inputs + [str(f)])
        assert model.services
    # the shipped copies are byte-identical to Istio's files (their upstream SHA-256 sums are recorded)
    sums = [line.split() for line in ISTIO_SHA256SUMS.read_text().splitlines() if line.strip()]
    assert len(sums) == 16
    for digest, upstream in sums:
        assert hashlib.sha256(istio_copy(upstream).read_bytes()).hexdigest() == digest, upstream
    assert {istio_copy(u).name for _, u in sums if u.startswith("networking/")} == {
        f.name for f in SAMPLES.glob("*.yaml")
    }

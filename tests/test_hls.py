"""HLS over a CDN (architecture=spaces_hls): joins end at the CDN, listeners poll it.

A small crowd in both modes: every listener is counted at the CDN without holding a
server, polls arrive at ``rps_per_listener × listeners`` (checked against the
time-integral of listeners), a share ``origin_share`` of them costs the origin too, and
cohort mode agrees with exact mode.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim

BASE = ["architecture=spaces_hls", "arrivals.audience=2000", "arrivals.t0_s=30",
        "arrivals.early_window_s=30", "run.horizon_s=120", "run.report=false",
        "run.progress=false", "architecture.polling.origin_share=0.05",
        "architecture.routes.join.cdn=0.95", "architecture.routes.join.origin=0.05"]


def _run(resolution: float, extra: list[str] | None = None) -> sim.Result:
    return sim.run([*BASE, f"run.resolution_s={resolution}", *(extra or [])])


@pytest.mark.parametrize("resolution", [0.0, 0.1])
def test_polls_follow_listeners(resolution: float) -> None:
    res = _run(resolution)
    s, ts = res.summary, res.timeseries
    poll = s["polling"]
    leg = s["legit"]
    assert leg["joined"] > 0.95 * leg["arrived"]
    assert s["listeners"]["peak"] > 0.9 * leg["joined"]
    assert s["stations"]["cdn"]["slots"]["peak_used"] == s["listeners"]["peak"]
    # Expected polls: rate × listener-seconds (the recorded listener area per tick).
    listener_s = float(np.sum(ts["listeners"]))
    expected = 0.667 * listener_s
    assert poll["offered"] == pytest.approx(expected, rel=0.03)
    assert poll["served"] + poll["in_flight"] == poll["offered"]
    assert poll["failed_share"] == 0.0
    # The CDN serves every join and every poll; the origin the misses of both.
    cdn, origin = s["stations"]["cdn"], s["stations"]["origin"]
    assert cdn["offered"] == pytest.approx(poll["offered"] + leg["joined"], abs=50)
    assert origin["offered"] == pytest.approx(0.05 * cdn["offered"], rel=0.1)


def test_cohort_matches_exact() -> None:
    exact, cohort = _run(0.0).summary, _run(0.1).summary
    n = exact["legit"]["arrived"]
    assert abs(exact["legit"]["joined"] - cohort["legit"]["joined"]) <= 0.03 * n
    assert cohort["polling"]["offered"] == pytest.approx(exact["polling"]["offered"], rel=0.05)
    assert cohort["stations"]["origin"]["offered"] == pytest.approx(
        exact["stations"]["origin"]["offered"], rel=0.1)


def test_overloaded_origin_fails_polls() -> None:
    """An origin far too small for its misses: polls and joins through it fail."""
    s = _run(0.1, ["architecture.stations.origin.instances=1",
                   "architecture.stations.origin.workers_per_instance=1",
                   "architecture.stations.origin.service.mean_s=0.04",
                   "architecture.stations.origin.queue_limit=10"]).summary
    poll = s["polling"]
    assert poll["rejected"] > 0
    assert poll["served"] + poll["rejected"] + poll["timed_out"] + poll["in_flight"] \
        == poll["offered"]
    assert s["stations"]["origin"]["rejected"] >= poll["rejected"]


def test_polling_off_elsewhere() -> None:
    s = sim.run(["arrivals.audience=1000", "run.horizon_s=400", "run.report=false",
                 "run.resolution_s=0.1"]).summary
    assert "polling" not in s


@pytest.mark.parametrize(("override", "key"), [
    ("architecture.polling.enter=nowhere", "architecture.polling.enter"),
    ("architecture.polling.origin=null", "architecture.polling.origin"),
    ("architecture.polling.origin_share=1.5", "architecture.polling.origin_share"),
    ("architecture.polling.rps_per_listener=-1", "architecture.polling.rps_per_listener"),
])
def test_bad_polling_config(override: str, key: str) -> None:
    with pytest.raises(sim.ConfigError, match=key.replace(".", r"\.")):
        sim.run([*BASE, override])

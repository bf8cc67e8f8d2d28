"""Cohort mode against exact mode where requests are answered at their own deadlines.

A station with more work than it can do and ``drop_expired`` settles where every request
it starts is the first one of its queue whose deadline has not passed: it starts just
before its own deadline, and whether its answer beats the client's timeout turns on that
deadline to within a service time. With a service time near the tick (here 48 ms against
50 ms ticks), cohort mode must then judge each request by its own deadline, as exact mode
does; a small station serves it singly (``sim.engine.granular``) and gives it that
deadline as a point. Judging it instead by its attempt's mean deadline (a request whose
own deadline is later timed out before the station reaches it) or by its rank among its
attempt's deadlines (the requests dropped as expired, the attempt's first, not counted)
makes answers late that exact mode has on time: 4% fewer joins, 6% more timeouts and 11%
more wasted work on this scenario, 22% off the p90 join latency once a circuit breaker
feeds on the failure share.

Both modes run on the same arrivals: cohort mode's counts per tick are exact mode's
arrival times binned by tick (for a Poisson process, the same law as its own Poisson
counts), so the comparison is between the two models on one input, not between two
Poisson draws. Unpaired, the metastable overload here moves by 20% between draws.
"""

from __future__ import annotations

import pytest

import sim

S = "architecture.stations.server."
# One worker, folded-normal service (mean 64 ms as drawn), 19.25 arrivals/s: ρ 1.23.
OVERLOADED = [
    "run.report=false", "run.progress=false", "run.metrics_tick_s=1",
    "architecture=single_station", "run.horizon_s=40",
    "arrivals=constant", "arrivals.rate=19.25",
    S + "workers_per_instance=1", S + "service.dist=normal", S + "service.mean_s=0.048",
    S + "service.cv=1.3", S + "queue_limit=null", S + "drop_expired=true",
    "clients.timeout_s=4.25", "clients.retry.policy=equal_jitter",
    "clients.retry.base_s=1.25", "clients.retry.cap_s=2.75", "clients.retry.max_attempts=4",
    "clients.impatient_share=0", "clients.patience_s=null", "clients.reconnect=false",
]
SEEDS = (1, 2, 3, 4)
TICK = "run.resolution_s=0.05"


def _totals(overrides: list[str]) -> dict[str, float]:
    out = {"joined": 0.0, "timed_out": 0.0, "wasted": 0.0}
    for seed in SEEDS:
        legit = sim.run([*OVERLOADED, *overrides, f"run.seed={seed}"]).summary["legit"]
        out["joined"] += legit["joined"]
        out["timed_out"] += legit["attempts_timed_out"]
        out["wasted"] += legit["wasted"]
    return out


def test_answers_at_their_deadlines_same_arrivals() -> None:
    # Same arrivals in both modes: below SHARED_DRAW_MAX cohort mode bins exact mode's.
    exact = _totals(["run.resolution_s=0"])
    cohort = _totals([TICK])
    assert exact["joined"] > 1000 and exact["timed_out"] > 1000  # the regime is reached
    for key, tol in (("joined", 0.025), ("timed_out", 0.03), ("wasted", 0.05)):
        rel = cohort[key] / exact[key] - 1.0
        assert abs(rel) <= tol, f"{key}: exact {exact[key]:.0f}, cohort {cohort[key]:.0f}"


def test_singly_served_requests_carry_their_own_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A small station gives each request of a cohort its own deadline, as a point."""
    from sim.engine.granular import GranularStation

    seen: list[tuple[float, float, float]] = []
    start = GranularStation._start

    def record(self, c, now, arrived):  # type: ignore[no-untyped-def]
        seen.append((arrived, c.deadline_s, c.deadline_spread))
        return start(self, c, now, arrived)

    monkeypatch.setattr(GranularStation, "_start", record)
    sim.run([*OVERLOADED, "run.horizon_s=5", TICK, "run.seed=1"])
    assert len(seen) > 20
    for arrived, deadline, spread in seen:
        assert spread == 0.0
        # At the entry station the spread is the attempts' own: arrival + timeout.
        assert deadline == pytest.approx(arrived + 4.25, abs=1e-9)

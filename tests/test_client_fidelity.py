"""Client-side fidelity of cohort mode against exact mode.

Unit checks of the pieces both modes share (one backoff written once, one eviction
policy) run by default; the comparisons of whole runs (several seeds, exact mode against
cohort mode at 0.1 s and 0.5 s ticks) are ``slow``:

1. ``drop_expired`` on every tier under a FIFO overload with a client timeout: joined
   and abandoned within 2% of arrivals, attempts per client within 10%, and no joined
   client's latency beyond what its timeouts and backoffs allow;
2. decorrelated jitter over a long retry chain: p99 join latency within 10% (and the
   attempts per client, which pooling the previous sleeps got 10% low, within 3%);
3. an autoscaled fanout tier that scales out and back in: reconnects within 10%, the
   SLO's recovery within max(10 s, 10%).
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.engine import Cohort, Uniforms
from sim.engine.pool import Pool
from sim.model.backoff import Backoff
from sim.model.cohort_clients import Ticket

BASE = ["run.report=false", "run.progress=false"]
TIERS = ("edge", "auth", "token_store", "join", "fanout")
DROP = ["arrivals.audience=40000", "run.horizon_s=900",
        "architecture.stations.join.max_rate_rps=200",
        *[f"architecture.stations.{s}.drop_expired=true" for s in TIERS]]
DECORRELATED = ["arrivals.audience=40000", "run.horizon_s=1200",
                "clients.retry.policy=decorrelated_jitter",
                "architecture.stations.join.max_rate_rps=150",
                "architecture.stations.join.queue_limit=150",
                "clients.retry.max_attempts=20", "clients.patience_s=null"]
SCALE_IN = ["arrivals.audience=40000", "run.horizon_s=1500", "autoscaler=hpa",
            "autoscaler.stations=[fanout]", "architecture.stations.fanout.instances=2",
            "architecture.stations.fanout.listener_slots_per_instance=3000",
            "architecture.stations.fanout.provisioning_delay_s=30",
            "clients.session.mean_s=600", "architecture.stations.join.max_rate_rps=150",
            "architecture.stations.join.queue_limit=300"]


# -- one backoff, two views -----------------------------------------------------------------

@pytest.mark.parametrize("policy", ["fixed", "exponential", "full_jitter", "equal_jitter",
                                    "decorrelated_jitter", "immediate"])
@pytest.mark.parametrize("attempt,previous", [(1, 0.0), (3, 2.5), (6, 9.0)])
def test_samples_follow_the_range_cohort_mode_spreads(policy: str, attempt: int,
                                                      previous: float) -> None:
    b = Backoff(policy, 1.0, 30.0, np.random.default_rng(3))
    lo, hi, cap = b.bounds(attempt, previous)
    draws = np.array([b.sample(attempt, previous) for _ in range(20_000)])
    assert draws.min() >= min(lo, cap) - 1e-12
    assert draws.max() <= min(max(lo, hi), cap) + 1e-12
    assert draws.max() <= b.longest(attempt, previous) + 1e-12
    dt = 0.1
    _ticks, probs, delays = b.spread(attempt, previous, 0.03, dt)
    assert sum(probs) == pytest.approx(1.0)
    # The spread's mean delay is the samples' mean (to within the tick's midpoints).
    assert float(np.dot(probs, delays)) == pytest.approx(draws.mean(), abs=0.05 + 0.02 *
                                                         draws.mean())


def test_exact_mode_draws_as_before() -> None:
    # The formulas of the AWS post, one uniform per jittered delay, none otherwise.
    u = [Uniforms(np.random.default_rng(5))()]  # the stream exact mode draws from
    b = Backoff("decorrelated_jitter", 1.0, 30.0, np.random.default_rng(5))
    assert b.sample(2, 4.0) == min(30.0, 1.0 + u[0] * (12.0 - 1.0))
    b = Backoff("full_jitter", 1.0, 30.0, np.random.default_rng(5))
    assert b.sample(3, 0.0) == u[0] * 4.0
    b = Backoff("exponential", 1.0, 30.0, np.random.default_rng(5))
    assert b.sample(3, 0.0) == 4.0 and b.sample(9, 0.0) == 30.0


# -- one eviction policy ---------------------------------------------------------------------

def test_cohort_pool_scales_in_the_least_loaded_instances() -> None:
    # Two instances fill up, two more are added and share the later joins with them;
    # scaling back to two removes the two newest, least-loaded instances (10 listeners
    # each) in both modes, not an even share of everybody (50).
    for fluid in (False, True):
        p = Pool("fanout", 100, 2, fluid=fluid)
        for _ in range(1 if fluid else 160):
            p.acquire(160 if fluid else 1)
        p.resize(4)
        for _ in range(40):
            p.acquire(1)
        assert p.in_use == 200
        p.resize(2)
        assert p.last_evicted == 20, fluid
        assert p.in_use == 180


def test_cohort_pool_small_parts_go_round_robin() -> None:
    # Parts smaller than the fleet go to the next instances in turn, not to the oldest.
    p = Pool("fanout", 1000, 3, fluid=True)
    p.acquire(30)
    p.resize(5)  # a second group of two
    for _ in range(500):
        p.acquire(1)
    assert [p.used[g] for g in p.size] == [330, 200]
    p.resize(3)
    assert p.last_evicted == 200 and p.in_use == 330


def test_cohort_pool_keeps_its_books() -> None:
    p = Pool("fanout", 50, 4, fluid=True)
    rng = np.random.default_rng(1)
    for step in range(300):
        got = sum(k for _, k in p.acquire(int(rng.integers(1, 30))))
        assert got >= 0
        if step % 7 == 0:
            p.release_spread(int(rng.integers(0, 40)))
        if step % 25 == 0:
            p.resize(int(rng.integers(1, 8)))
        if step % 40 == 0:
            p.lose(1, rng)
        assert p.in_use == sum(p.used.values())
        assert all(0 <= p.used[g] <= p.size[g] * 50 for g in p.size)
        assert p.instances == sum(p.size.values())


# -- the deadline race per request share -----------------------------------------------------

def test_late_share_of_a_part() -> None:
    c = Cohort("legit", 100, 0.0, 0.05, 5.05)
    c.spread_s = 0.1
    t = Ticket(c)  # sent over [0, 0.1): deadlines over [5, 5.1)
    assert t.late_share(100, 1.0, 0.1) == 0.0  # answered seconds early
    assert t.late_share(100, 6.0, 0.1) == 1.0  # answered after every deadline
    # Answered over [5.0, 5.2) in FIFO order: request x at 5 + 0.2x, deadline 5 + 0.1x:
    # all but the first are late.
    assert t.late_share(100, 5.0, 0.2) == pytest.approx(1.0)
    # The first fifth of the attempt, answered over [4.97, 5.0): deadlines 5.0-5.02,
    # in time. The second fifth (deadlines 5.02-5.04) answered over [5.0, 5.04): in
    # time; over [5.01, 5.05): the answers run faster than the deadlines, the last
    # half is late (a tail); over [5.025, 5.035): the deadlines run faster, the first
    # half is late (a head).
    assert t.late_share(20, 4.97, 0.03) == 0.0
    t.ranked = 20
    assert t.late_share(20, 5.0, 0.04) == pytest.approx(0.0)
    assert t.late_share(20, 5.01, 0.04) == pytest.approx(0.5)
    assert t.late_share(20, 5.025, 0.01) == pytest.approx(0.5)
    # Requests failed at random (a full queue's share) thin every rank alike.
    t.rejected = 50
    assert t.late_share(10, 5.0, 0.04) == pytest.approx(0.0)


# -- whole runs against exact mode -----------------------------------------------------------

def _runs(overrides: list[str], resolution: float, seeds: list[int]) -> list[dict]:
    return [sim.run([*BASE, *overrides, f"run.seed={s}", f"run.resolution_s={resolution}"]
                    ).summary for s in seeds]


def _mean(rows: list[dict], f) -> float:
    return float(np.mean([f(r) for r in rows]))


@pytest.mark.slow
@pytest.mark.parametrize("resolution", [0.1, 0.5])
def test_drop_expired_fifo_overload(resolution: float) -> None:
    seeds = [1, 2, 3]
    ex, co = _runs(DROP, 0.0, seeds), _runs(DROP, resolution, seeds)
    arrived = _mean(ex, lambda r: r["legit"]["arrived"])
    for key in ("joined", "abandoned"):
        e = float(np.mean([r["legit"][key] for r in ex]))
        c = float(np.mean([r["legit"][key] for r in co]))
        assert abs(c - e) / arrived <= 0.02, f"{key}: exact {e:.0f}, cohort {c:.0f}"
    e = _mean(ex, lambda r: r["legit"]["attempts_per_client"])
    c = _mean(co, lambda r: r["legit"]["attempts_per_client"])
    assert c == pytest.approx(e, rel=0.10)
    # 5 attempts of 5 s each and 4 full-jitter sleeps of at most 1, 2, 4, 8 s.
    top = max(r["join_latency_s"]["max"] for r in co)
    assert top <= 5 * 5.0 + 15.0 + resolution, f"join latency max {top:.2f} s"


@pytest.mark.slow
@pytest.mark.parametrize("resolution", [0.1, 0.05])
def test_decorrelated_jitter_keeps_its_chain(resolution: float) -> None:
    # 0.1 s is auto's tick here (the 5 s timeout / 50), 0.05 s a finer one; at 0.5 s,
    # coarser than the scenario allows (the run warns), attempts per client are -3.4%.
    seeds = [1, 2]
    ex, co = _runs(DECORRELATED, 0.0, seeds), _runs(DECORRELATED, resolution, seeds)
    e = _mean(ex, lambda r: r["join_latency_s"]["p99"])
    c = _mean(co, lambda r: r["join_latency_s"]["p99"])
    assert c == pytest.approx(e, rel=0.10), f"p99 exact {e:.1f} s, cohort {c:.1f} s"
    e = _mean(ex, lambda r: r["legit"]["attempts_per_client"])
    c = _mean(co, lambda r: r["legit"]["attempts_per_client"])
    assert c == pytest.approx(e, rel=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("resolution", [0.1, 0.05])
def test_scale_in_evicts_as_exact_mode(resolution: float) -> None:
    # 0.1 s is the tick auto picks here (the 5 s timeout / 50), 0.05 s a finer one; a
    # coarser tick is outside what the scenario allows (the run warns).
    seeds = [1, 2]
    ex, co = _runs(SCALE_IN, 0.0, seeds), _runs(SCALE_IN, resolution, seeds)
    for key in ("evicted", "reconnects"):
        e = _mean(ex, lambda r, k=key: r["listeners"][k])
        c = _mean(co, lambda r, k=key: r["listeners"][k])
        assert c == pytest.approx(e, rel=0.10), f"{key} exact {e:.0f}, cohort {c:.0f}"
    e = _mean(ex, lambda r: r["slo"]["recovered_s"])
    c = _mean(co, lambda r: r["slo"]["recovered_s"])
    assert abs(c - e) <= max(10.0, 0.10 * e)

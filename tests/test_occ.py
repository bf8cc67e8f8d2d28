"""Optimistic concurrency (``concurrency: occ``), batch arrivals, the ``immediate`` retry
policy and the folded-normal service time.

A request reads the key's version when its service starts and commits when it ends; the
commit fails with reason ``conflict`` if another request committed in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import simpy

from sim.cli import compose
from sim.config import ConfigError, to_config
from sim.engine import (
    CONFLICT,
    Cohort,
    Network,
    OptimisticStation,
    Sampler,
    Station,
    Streams,
    commit_share,
)
from sim.model.arrivals import ArrivalCurve, rate_function
from sim.model.clients import Backoff
from sim.run import Scenario


class Owner:
    """Records how each attempt ended, with the time."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.log: list[tuple[float, str, str]] = []

    def on_joined(self, c: Cohort, st: Station, placements: Any) -> None:
        self.log.append((self.env.now, c.cls, "committed"))

    def on_failed(self, c: Cohort, st: Station, reason: str) -> None:
        self.log.append((self.env.now, c.cls, reason))

    def on_expired(self, c: Cohort, st: Station) -> None:  # pragma: no cover - no deadlines
        self.log.append((self.env.now, c.cls, "expired"))


def one_key(starts: dict[str, float], service_s: float = 1.0
            ) -> tuple[OptimisticStation, list[tuple[float, str, str]]]:
    """Writes named by their start times on one optimistic key, deterministic service."""
    env = simpy.Environment()
    gen = Streams(1).generator("test")
    st = OptimisticStation(env, "row", instances=1, workers_per_instance=10,
                           service=Sampler(gen, "deterministic", service_s))
    Network({"row": st}, {}, "row", gen)
    owner = Owner(env)

    def writer(name: str, at: float) -> Iterator[simpy.Event]:
        yield env.timeout(at)
        st.offer(Cohort(name, 1, env.now, env.now, owner=owner))

    for name, at in starts.items():
        env.process(writer(name, at))
    env.run()
    return st, owner.log


def test_overlapping_writes_the_second_to_commit_fails() -> None:
    st, log = one_key({"a": 0.0, "b": 0.5})
    assert log == [(1.0, "a", "committed"), (1.5, "b", CONFLICT)]
    assert (st.commits, st.conflicts, st.version) == (1, 1, 1)
    # A conflict is served work whose write is lost: counted in served, not rejected.
    assert (st.offered, st.served, st.rejected, st.in_system) == (2, 2, 0, 0)


def test_a_write_that_ends_first_commits_even_if_it_started_later() -> None:
    env = simpy.Environment()
    gen = Streams(1).generator("test")
    durations = iter([2.0, 0.5])

    class Fixed(Sampler):
        def __call__(self) -> float:
            return next(durations)

    st = OptimisticStation(env, "row", instances=1, workers_per_instance=10,
                           service=Fixed(gen, "deterministic", 1.0))
    Network({"row": st}, {}, "row", gen)
    owner = Owner(env)
    st.offer(Cohort("slow", 1, 0.0, 0.0, owner=owner))  # 0 -> 2
    env.run(until=0.25)
    st.offer(Cohort("fast", 1, 0.25, 0.25, owner=owner))  # 0.25 -> 0.75
    env.run()
    assert owner.log == [(0.75, "fast", "committed"), (2.0, "slow", CONFLICT)]


def test_serial_writes_all_commit() -> None:
    st, log = one_key({"a": 0.0, "b": 1.25, "c": 2.5, "d": 4.0})
    assert [outcome for _, _, outcome in log] == ["committed"] * 4
    assert (st.commits, st.conflicts, st.version) == (4, 0, 4)


def test_writes_that_start_together_commit_one() -> None:
    st, log = one_key({"a": 0.0, "b": 0.0, "c": 0.0})
    assert [outcome for _, _, outcome in log] == ["committed", CONFLICT, CONFLICT]
    assert st.commits == 1 and st.conflicts == 2


def test_a_queued_write_reads_when_its_service_starts() -> None:
    """One worker: b waits for a, reads after a committed, and commits too."""
    env = simpy.Environment()
    gen = Streams(1).generator("test")
    st = OptimisticStation(env, "row", instances=1, workers_per_instance=1,
                           service=Sampler(gen, "deterministic", 1.0))
    Network({"row": st}, {}, "row", gen)
    owner = Owner(env)
    st.offer(Cohort("a", 1, 0.0, 0.0, owner=owner))
    st.offer(Cohort("b", 1, 0.0, 0.0, owner=owner))
    env.run()
    assert owner.log == [(1.0, "a", "committed"), (2.0, "b", "committed")]


# The preset's arrivals are a batch at t0_s = 0. A test that switches them to another
# kind by key sets t0_s back to its default (300): the rule that a kind's unused keys
# keep their defaults would refuse the batch's start beside a constant rate.
def scenario(*overrides: str) -> Scenario:
    cfg = to_config(compose(["experiment=backoff_jitter", "run.report=false",
                             "run.progress=false", *overrides]))
    sc = Scenario(cfg)
    sc.run()
    return sc


def test_commit_rate_is_the_dead_time_formula() -> None:
    """Poisson writers at rate λ, deterministic service s, no retries: a write commits
    iff it starts after the last commit, so commits are a non-paralysable dead-time
    counter: the share that commits is 1 / (1 + λ·s). (The ``network`` station in front
    delays each write independently, which keeps the writes a Poisson stream.)"""
    lam, s = 50.0, 0.01
    sc = scenario("arrivals.kind=constant", "arrivals.t0_s=300", f"arrivals.rate={lam}",
                  "run.horizon_s=300",
                  "clients.retry.policy=none", "clients.retry.max_attempts=1",
                  "architecture.stations.join.service.dist=deterministic",
                  f"architecture.stations.join.service.mean_s={s}")
    st = sc.topology.stations["join"]
    assert isinstance(st, OptimisticStation)
    share = st.commits / st.offered
    assert st.offered > 14_000
    assert share == pytest.approx(1 / (1 + lam * s), abs=0.01)
    res = sc.collect().summary
    assert res["legit"]["joined"] == st.commits
    assert res["legit"]["attempts_rejected"] == st.conflicts


def test_every_contending_client_commits_once_and_the_books_balance() -> None:
    sc = scenario("arrivals.count=30")
    res = sc.collect().summary
    st = sc.topology.stations["join"]
    lg = res["legit"]
    assert lg["arrived"] == lg["joined"] == 30 and lg["in_flight"] == 0
    assert st.commits == 30
    assert lg["attempts"] == 30 + st.conflicts == 30 + lg["attempts_rejected"]
    for part in res["stations"].values():
        assert part["offered"] == part["served"] + part["rejected"] + part["in_system"]
    # All clients start at t0 = 0: the slowest one's join latency is the completion time.
    assert res["join_latency_s"]["max"] == pytest.approx(max(sc.clients.lat_t))


def test_one_client_never_conflicts() -> None:
    sc = scenario("arrivals.count=1")
    assert sc.collect().summary["legit"]["attempts"] == 1


def share(resolution_s: float, rate: float, dist: str, cv: float, mean_s: float = 0.01,
          horizon_s: float = 30) -> float:
    """Share of Poisson writes (no retries) that commit, in exact or cohort mode."""
    sc = scenario(f"run.resolution_s={resolution_s}", "arrivals.kind=constant",
                  "arrivals.t0_s=300",
                  f"arrivals.rate={rate}", f"run.horizon_s={horizon_s}",
                  "clients.retry.policy=none", "clients.retry.max_attempts=1",
                  f"architecture.stations.join.service.dist={dist}",
                  f"architecture.stations.join.service.cv={cv}",
                  f"architecture.stations.join.service.mean_s={mean_s}")
    st = sc.topology.stations["join"]
    return st.commits / st.offered  # type: ignore[attr-defined, no-any-return]


def test_exponential_service_commits_the_birth_process_share() -> None:
    """Exponential service: in-flight writes that read the current version race, the
    first to finish commits: share 1 / ₁F₁(1; ρ+1; ρ) (0.290 at ρ = 6, far above the
    1/7 of fixed service: short writes slip through)."""
    assert commit_share(6.0, 1.0) == pytest.approx(0.2898, abs=1e-3)
    assert commit_share(1.0, 1.0) == pytest.approx(1 / (math.e - 1), rel=1e-9)
    assert share(0, 600, "exponential", 1.0) == pytest.approx(commit_share(6.0, 1.0),
                                                              abs=0.012)


@pytest.mark.parametrize(("rate", "dist", "cv"), [
    (100, "deterministic", 0.0), (600, "deterministic", 0.0),
    (100, "gamma", 0.3), (600, "gamma", 0.3),
    (100, "exponential", 1.0), (600, "exponential", 1.0)])
def test_cohort_mode_commits_the_share_exact_mode_does(rate: float, dist: str,
                                                       cv: float) -> None:
    exact = share(0, rate, dist, cv)
    cohort = share(0.1, rate, dist, cv)
    assert cohort == pytest.approx(exact, abs=0.015)
    if dist != "gamma":  # the closed forms; gamma is interpolated in cv² between them
        assert exact == pytest.approx(commit_share(rate * 0.01, cv), abs=0.012)


@pytest.mark.parametrize("policy", ["full_jitter", "exponential"])
def test_cohort_mode_matches_exact_mode_on_a_crowd_that_retries(policy: str) -> None:
    """150 clients a second write one key (10 ms, cv 0.3) and retry up to 6 times."""
    ov = ["arrivals.kind=constant", "arrivals.t0_s=300", "arrivals.rate=150",
          "run.horizon_s=60",
          f"clients.retry.policy={policy}", "clients.retry.base_s=0.05",
          "clients.retry.cap_s=2", "clients.retry.max_attempts=6",
          "architecture.stations.join.service.cv=0.3"]
    exact = scenario(*ov).collect().summary["legit"]
    cohort = scenario("run.resolution_s=0.1", *ov).collect().summary["legit"]
    n = exact["arrived"]
    assert cohort["arrived"] == pytest.approx(n, rel=0.05)
    assert exact["joined"] < 0.8 * n  # contention is material
    assert cohort["joined"] / cohort["arrived"] == pytest.approx(exact["joined"] / n, abs=0.03)
    assert cohort["attempts"] / cohort["arrived"] == pytest.approx(exact["attempts"] / n,
                                                                   rel=0.05)


def test_bad_concurrency_names_the_key_and_choices() -> None:
    with pytest.raises(ConfigError, match=r"architecture\.stations\.join\.concurrency.*occ"):
        to_config(compose(["experiment=backoff_jitter",
                           "architecture.stations.join.concurrency=pessimistic"]))


# -- batch arrivals ------------------------------------------------------------------------

def test_batch_arrives_exactly_at_t0_in_both_modes() -> None:
    cfg = to_config(compose(["~arrivals", "arrivals.kind=batch", "arrivals.count=37",
                             "arrivals.t0_s=2.5",
                             "run.horizon_s=10"]))
    curve = ArrivalCurve(rate_function(cfg.arrivals), 10.0)
    times = curve.sample_times(np.random.default_rng(0))
    assert times.tolist() == [2.5] * 37
    counts = curve.sample_counts(np.random.default_rng(0), 1.0)
    assert counts[2] == 37 and counts.sum() == 37
    assert curve.expected_total == 37
    assert curve.expected_between(0, 2.5) == 0 and curve.expected_between(2.5, 3) == 37


def test_batch_in_a_sum_adds_to_a_rate() -> None:
    cfg = to_config(compose([
        "~arrivals", "arrivals.kind=sum",
        "arrivals.components=[{kind: constant, rate: 10}, {kind: batch, count: 5, t0_s: 1}]",
        "run.horizon_s=10"]))
    curve = ArrivalCurve(rate_function(cfg.arrivals), 10.0)
    assert curve.expected_total == pytest.approx(105)
    times = curve.sample_times(np.random.default_rng(3))
    assert int((times == 1.0).sum()) >= 5
    assert np.all(np.diff(times) >= 0)


def test_bad_batch_count_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"arrivals\.count"):
        to_config(compose(["arrivals.kind=batch", "arrivals.count=0"]))


# -- immediate retries and the normal service time -------------------------------------------

def test_immediate_policy_retries_at_once() -> None:
    b = Backoff("immediate", 0.005, 2.0, np.random.default_rng(0))
    assert [b.delay(a, 0.1) for a in (1, 2, 10)] == [0.0, 0.0, 0.0]


def test_immediate_policy_runs_in_cohort_mode() -> None:
    cfg = to_config(compose(["architecture=single_station", "arrivals=constant",
                             "arrivals.rate=200", "run.horizon_s=20", "run.resolution_s=0.1",
                             "run.report=false", "run.progress=false",
                             "clients.retry.policy=immediate", "clients.retry.max_attempts=3",
                             "architecture.stations.server.queue_limit=5"]))
    sc = Scenario(cfg)
    sc.run()
    lg = sc.collect().summary["legit"]
    assert lg["attempts"] > lg["arrived"] + 1000  # rejected attempts were retried
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"]


def test_normal_service_is_folded_and_has_the_asked_moments() -> None:
    draw = Sampler(np.random.default_rng(0), "normal", 0.01, 0.2)
    x = np.array([draw() for _ in range(40_000)])
    assert x.min() >= 0
    assert x.mean() == pytest.approx(0.01, rel=0.01)
    assert x.std() == pytest.approx(0.002, rel=0.03)
    wide = Sampler(np.random.default_rng(0), "normal", 1.0, 2.0)
    assert min(wide() for _ in range(1000)) >= 0  # |N(1, 2)|: folded, never negative


def test_same_seed_same_contention() -> None:
    a = scenario("arrivals.count=20", "clients.retry.policy=decorrelated_jitter")
    b = scenario("arrivals.count=20", "clients.retry.policy=decorrelated_jitter")
    sa, sb = a.collect().summary, b.collect().summary
    assert sa["legit"] == sb["legit"]
    assert sa["join_latency_s"] == sb["join_latency_s"]
    other = scenario("arrivals.count=20", "clients.retry.policy=decorrelated_jitter",
                     "run.seed=2")
    assert other.collect().summary["join_latency_s"] != sa["join_latency_s"]

"""Replications, Student t intervals and batch means (sim.analysis.replications)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import sim
from sim.analysis import batch_means, replication_block, replication_seed, t_interval
from sim.config import ConfigError

STATION = ["architecture=single_station", "arrivals=constant", "clients=patient",
           "run.horizon_s=300", "run.warmup_s=50", "run.report=false"]


def test_t_interval_matches_the_textbook() -> None:
    x = [1.0, 2.0, 4.0, 7.0]
    iv = t_interval(x, 0.9)
    se = np.std(x, ddof=1) / 2
    assert iv.mean == pytest.approx(3.5)
    assert iv.half_width == pytest.approx(stats.t.ppf(0.95, 3) * se)
    assert iv.low < 3.5 < iv.high
    assert math.isnan(t_interval([3.0]).half_width)
    with pytest.raises(ValueError, match="confidence"):
        t_interval(x, 1.5)


def test_t_interval_covers_the_mean_at_its_level() -> None:
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(2000):
        iv = t_interval(rng.normal(5.0, 1.0, 6), 0.9)
        covered += iv.low <= 5.0 <= iv.high
    assert 0.87 < covered / 2000 < 0.93


def test_replication_seeds_are_deterministic_and_shared_by_variants() -> None:
    assert replication_seed(7, 0) == 7
    seeds = [replication_seed(7, i) for i in range(5)]
    assert seeds == [replication_seed(7, i) for i in range(5)]
    assert len(set(seeds)) == 5
    assert replication_seed(8, 1) != replication_seed(7, 1)
    with pytest.raises(ValueError, match="index"):
        replication_seed(7, -1)


def test_batch_means_of_an_autocorrelated_series() -> None:
    """AR(1) with mean 3: the batch-means interval covers it, the naive one is too narrow."""
    rng = np.random.default_rng(1)
    n, phi = 20_000, 0.9
    x = np.empty(n)
    x[0] = 3.0
    for k in range(1, n):
        x[k] = 3.0 + phi * (x[k - 1] - 3.0) + rng.normal()
    t = np.arange(1, n + 1, dtype=float)
    iv = batch_means(t, x, warmup_s=100, n_batches=20)
    assert iv.low < 3.0 < iv.high
    naive = t_interval(x[100:])
    assert iv.half_width > 2 * naive.half_width
    with pytest.raises(ValueError, match="n_batches"):
        batch_means(t, x, n_batches=1)


def test_replication_block_handles_missing_values() -> None:
    a = {"legit": {"joined": 10}, "slo": {"met": True, "first_breach_s": None},
         "stations": {"s": {"peak_queue": 3}}}
    b = {"legit": {"joined": 14}, "slo": {"met": False, "first_breach_s": 40.0},
         "stations": {"s": {"peak_queue": 5}}}
    block = replication_block([a, b], [1, 2], 0.95)
    m = block["metrics"]
    assert block["n"] == 2 and block["seeds"] == [1, 2]
    assert m["legit.joined"]["mean"] == 12 and m["legit.joined"]["values"] == [10, 14]
    assert m["slo.met"]["mean"] == 0.5
    assert m["slo.first_breach_s"]["n"] == 1 and m["slo.first_breach_s"]["half_width"] is None
    assert m["stations.s.peak_queue"]["mean"] == 4


def test_run_replications_gives_intervals_around_erlang_c() -> None:
    """M/M/10 at rho = 0.9: Erlang C mean wait 0.0668 s inside the replication interval."""
    res = sim.run([*STATION, "run.replications=5", "run.confidence=0.99"])
    s = res.summary
    block = s["replications"]
    assert block["n"] == 5 and block["seeds"][0] == 1
    wait = block["metrics"]["stations.server.wait_s.mean"]
    assert wait["values"][0] == s["stations"]["server"]["wait_s"]["mean"]  # top = rep 0
    assert wait["low"] < 0.0668 < wait["high"]
    assert s["seed"] == 1 and s["legit"]["arrived"] == block["metrics"]["legit.arrived"][
        "values"][0]
    assert "batch_means" not in s


def test_common_random_numbers_across_variants() -> None:
    """Two architectures on one seed see the same arrivals in every replication."""
    a = sim.run([*STATION, "run.replications=3"]).summary["replications"]["metrics"]
    b = sim.run([*STATION, "run.replications=3",
                 "architecture.stations.server.workers_per_instance=12"]
                ).summary["replications"]["metrics"]
    assert a["legit.arrived"]["values"] == b["legit.arrived"]["values"]
    assert len(set(a["legit.arrived"]["values"])) == 3


def test_single_run_has_batch_means() -> None:
    s = sim.run(STATION).summary
    bm = s["batch_means"]
    util = bm["metrics"]["stations.server.utilization"]
    assert bm["n_batches"] == 10 and util["low"] < 0.9 < util["high"]


def test_bad_replications_named() -> None:
    with pytest.raises(ConfigError, match=r"run\.replications"):
        sim.run([*STATION, "run.replications=0"])
    with pytest.raises(ConfigError, match=r"run\.confidence"):
        sim.run([*STATION, "run.confidence=1.5"])


def test_batch_means_of_a_station_down_for_the_whole_run() -> None:
    """A station with no capacity at any tick has no utilization interval (None), and the
    run still completes with the other figures."""
    from sim.analysis import batch_means_block

    n = 100
    ts = {"t_s": np.arange(1.0, n + 1.0), "db.busy": np.zeros(n), "db.capacity": np.zeros(n),
          "db.queue": np.linspace(0, 50, n)}
    block = batch_means_block(ts, ["db"], 0.0)
    assert block is not None
    assert block["metrics"]["stations.db.utilization"] is None
    assert block["metrics"]["stations.db.queue"]["mean"] == pytest.approx(25.0, rel=0.01)

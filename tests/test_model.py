"""Unit tests of the domain model: arrival curves, backoff formulas, and tiny scenarios
whose every outcome can be worked out by hand.

The hand-worked scenarios replace the Poisson arrival sample by fixed times (the one
seam: ``ArrivalCurve.sample_times``) and use deterministic service, so the expected
books are exact, not statistical.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from sim.cli import CONFIG_DIR, compose
from sim.config import ArrivalsConfig, read_trace, to_config
from sim.model import ArrivalCurve, Backoff, rate_function
from sim.run import Result, Scenario

# -- arrival curves -----------------------------------------------------------------------


def flash(**kw: Any) -> ArrivalsConfig:
    base = {"kind": "flash_crowd", "audience": 10_000.0, "t0_s": 120.0, "early_share": 0.1,
            "early_window_s": 60.0, "push_window_s": 30.0, "reaction_median_s": 10.0,
            "reaction_sigma": 0.8, "tail_share": 0.2, "tail_tau_s": 100.0}
    base.update(kw)
    return ArrivalsConfig(**base)


def test_flash_crowd_integrates_to_audience() -> None:
    a = flash()
    curve = ArrivalCurve(rate_function(a), horizon_s=a.t0_s + 40 * a.tail_tau_s, grid_s=0.05)
    assert curve.expected_total == pytest.approx(a.audience, rel=1e-3)


def test_flash_crowd_early_share_arrives_before_t0() -> None:
    a = flash()
    curve = ArrivalCurve(rate_function(a), horizon_s=3000.0, grid_s=0.05)
    before = curve.expected_between(0.0, a.t0_s)
    assert before == pytest.approx(a.early_share * a.audience, rel=2e-3)
    # Uniform over the early window, nothing before it (the cumulative intensity is
    # piecewise linear between grid points: the step at the window's start blurs over
    # one grid interval).
    step_mass = a.early_share * a.audience / a.early_window_s * 0.05
    assert curve.expected_between(0.0, a.t0_s - a.early_window_s) <= step_mass
    rate = rate_function(a)
    mid = np.array([a.t0_s - a.early_window_s / 2])
    assert rate(mid)[0] == pytest.approx(a.early_share * a.audience / a.early_window_s)


def test_flash_crowd_push_and_tail_shapes() -> None:
    a = flash(early_share=0.0)
    rate = rate_function(a)
    t = np.linspace(a.t0_s, a.t0_s + 5000.0, 500_001)
    r = rate(t)
    push = 1 - a.early_share - a.tail_share
    # The push wave: the notification is uniform over the window, then a lognormal
    # reaction; its rate is a.audience * push * (F(x) - F(x - w)) / w.
    reaction = stats.lognorm(s=a.reaction_sigma, scale=a.reaction_median_s)
    x = t - a.t0_s
    wave = a.audience * push * (reaction.cdf(x) - reaction.cdf(np.maximum(x - a.push_window_s,
                                                                         0.0))) / a.push_window_s
    tail = a.audience * a.tail_share * np.exp(-x / a.tail_tau_s) / a.tail_tau_s
    np.testing.assert_allclose(r, wave + tail, rtol=1e-9, atol=1e-9)
    # The peak is after t0 and well above the tail alone.
    assert t[np.argmax(r)] > a.t0_s
    assert r.max() > 5 * tail[0]


def test_constant_ramp_diurnal_integrals() -> None:
    const = ArrivalCurve(rate_function(ArrivalsConfig(kind="constant", rate=7.5)), 100.0)
    assert const.expected_total == pytest.approx(750.0)
    assert const.expected_between(10.0, 30.0) == pytest.approx(150.0)

    ramp_cfg = ArrivalsConfig(kind="ramp", start_s=10.0, end_s=50.0, rate_start=2.0,
                              rate_end=10.0)
    ramp = rate_function(ramp_cfg)
    assert ramp(np.array([5.0, 10.0, 30.0, 50.0, 60.0])).tolist() == pytest.approx(
        [0.0, 2.0, 6.0, 10.0, 0.0])
    curve = ArrivalCurve(ramp, 100.0, grid_s=0.01)
    assert curve.expected_total == pytest.approx((2.0 + 10.0) / 2 * 40.0, rel=1e-3)

    d = ArrivalsConfig(kind="diurnal", base_rate=4.0, amplitude=0.5, period_s=200.0,
                       phase_s=0.0)
    diurnal = rate_function(d)
    assert diurnal(np.array([50.0, 150.0])).tolist() == pytest.approx([6.0, 2.0])
    curve = ArrivalCurve(diurnal, 400.0, grid_s=0.01)
    assert curve.expected_total == pytest.approx(4.0 * 400.0, rel=1e-6)


def test_trace_interpolates_and_is_zero_outside() -> None:
    path = CONFIG_DIR / "arrivals" / "example_trace.csv"
    t, r = read_trace("arrivals.path", str(path))
    a = ArrivalsConfig(kind="trace", path=str(path), scale=2.0)
    rate = rate_function(a)
    mid = (t[2] + t[3]) / 2
    assert rate(np.array([mid]))[0] == pytest.approx(2.0 * (r[2] + r[3]) / 2)
    assert rate(np.array([t[0] - 1.0, t[-1] + 1.0])).tolist() == [0.0, 0.0]
    curve = ArrivalCurve(rate, t[-1], grid_s=0.01)
    assert curve.expected_total == pytest.approx(2.0 * np.trapezoid(r, t), rel=1e-6)


def test_trace_relative_path_found_from_any_directory(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    times, _ = read_trace("arrivals.path", "arrivals/example_trace.csv")
    assert times[0] == 0.0
    # The current directory comes first.
    (tmp_path / "arrivals").mkdir()
    (tmp_path / "arrivals" / "example_trace.csv").write_text("t_s,rate\n5,1\n6,1\n")
    times, _ = read_trace("arrivals.path", "arrivals/example_trace.csv")
    assert times == [5.0, 6.0]


def test_sum_is_the_sum_of_its_components() -> None:
    parts = [{"kind": "constant", "rate": 3.0},
             {"kind": "ramp", "start_s": 0.0, "end_s": 10.0, "rate_start": 0.0,
              "rate_end": 10.0}]
    total = rate_function(ArrivalsConfig(kind="sum", components=parts))
    t = np.linspace(0.0, 12.0, 25)
    expected = 3.0 + np.where(t <= 10.0, t, 0.0)
    np.testing.assert_allclose(total(t), expected)


@pytest.mark.parametrize("cfg", [
    ArrivalsConfig(kind="constant", rate=50.0),
    flash(audience=20_000.0, t0_s=30.0, early_window_s=20.0),
    ArrivalsConfig(kind="ramp", start_s=0.0, end_s=200.0, rate_start=0.0, rate_end=100.0),
], ids=["constant", "flash_crowd", "ramp"])
def test_sampled_counts_match_expected_within_poisson_error(cfg: ArrivalsConfig) -> None:
    curve = ArrivalCurve(rate_function(cfg), 200.0)
    gen = np.random.default_rng(20240812)
    times = curve.sample_times(gen)
    assert np.all(np.diff(times) >= 0)
    assert times.min() >= 0.0 and times.max() < 200.0
    n = len(times)
    assert abs(n - curve.expected_total) < 5 * math.sqrt(curve.expected_total)
    # Per 10 s bin, the count is Poisson with the integral of the rate over the bin; a
    # chi-square test over bins with enough mass.
    edges = np.arange(0.0, 201.0, 10.0)
    counts, _ = np.histogram(times, edges)
    expected = np.array([curve.expected_between(a, b) for a, b in itertools_pairs(edges)])
    use = expected >= 5
    chi2 = float((((counts - expected) ** 2) / expected)[use].sum())
    dof = int(use.sum())
    assert stats.chi2.sf(chi2, dof) > 1e-4, (chi2, dof)


def itertools_pairs(edges: np.ndarray) -> list[tuple[float, float]]:
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def test_sample_counts_per_tick_match_expected() -> None:
    curve = ArrivalCurve(rate_function(ArrivalsConfig(kind="constant", rate=20.0)), 100.0)
    counts = curve.sample_counts(np.random.default_rng(1), 0.5)
    assert len(counts) == 200
    assert abs(counts.sum() - 2000) < 5 * math.sqrt(2000)
    assert counts.mean() == pytest.approx(10.0, rel=0.1)


# -- backoff ------------------------------------------------------------------------------


def backoff(policy: str, base_s: float = 0.5, cap_s: float = 6.0, seed: int = 7) -> Backoff:
    return Backoff(policy, base_s, cap_s, np.random.default_rng(seed))


def test_fixed_backoff() -> None:
    b = backoff("fixed")
    assert [b.delay(a, 0.0) for a in range(1, 6)] == [0.5] * 5


def test_exponential_backoff_doubles_and_caps() -> None:
    b = backoff("exponential")
    assert [b.delay(a, 0.0) for a in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 6.0, 6.0, 6.0]
    assert b.delay(500, 0.0) == 6.0  # no overflow far out


@pytest.mark.parametrize("attempt", [1, 3, 6])
def test_full_jitter_uniform_on_zero_to_t(attempt: int) -> None:
    b = backoff("full_jitter")
    t = min(6.0, 0.5 * 2 ** (attempt - 1))
    d = np.array([b.delay(attempt, 0.0) for _ in range(20_000)])
    assert d.min() >= 0.0 and d.max() <= t
    assert d.mean() == pytest.approx(t / 2, rel=0.02)
    assert stats.kstest(d / t, "uniform").pvalue > 1e-4


@pytest.mark.parametrize("attempt", [1, 4])
def test_equal_jitter_on_half_t_to_t(attempt: int) -> None:
    b = backoff("equal_jitter")
    t = min(6.0, 0.5 * 2 ** (attempt - 1))
    d = np.array([b.delay(attempt, 0.0) for _ in range(20_000)])
    assert d.min() >= t / 2 and d.max() <= t
    assert d.mean() == pytest.approx(0.75 * t, rel=0.02)


def test_decorrelated_jitter_bounds_and_chain() -> None:
    b = backoff("decorrelated_jitter", base_s=0.5, cap_s=6.0)
    prev = 0.0
    seen_cap = False
    for _ in range(5000):
        d = b.delay(2, prev)
        p = prev if prev > 0 else 0.5
        assert 0.5 <= d <= min(6.0, 3 * p) + 1e-12, (prev, d)
        seen_cap |= d == 6.0
        prev = d
    assert seen_cap
    # From the first sleep (no previous): uniform on [base, 3 base].
    d = np.array([b.delay(1, 0.0) for _ in range(20_000)])
    assert d.min() >= 0.5 and d.max() <= 1.5
    assert d.mean() == pytest.approx(1.0, rel=0.02)


# -- tiny scenarios with exact outcomes ---------------------------------------------------


def run_fixed(times: list[float], overrides: list[str], horizon_s: float = 20.0) -> tuple[
        Scenario, Result]:
    """Run single_station with arrivals at exactly ``times`` (instead of a Poisson sample)."""
    cfg = compose(["architecture=single_station", "arrivals=constant", "clients=patient",
                   "architecture.stations.server.instances=1",
                   "architecture.stations.server.workers_per_instance=1",
                   "architecture.stations.server.service.dist=deterministic",
                   f"run.horizon_s={horizon_s}", "run.report=false", "run.progress=false",
                   *overrides])
    scenario = Scenario(to_config(cfg))
    scenario.curve.sample_times = lambda gen: np.asarray(times, dtype=float)  # type: ignore[method-assign]
    scenario.run()
    return scenario, scenario.collect()


def test_below_capacity_nobody_waits_and_everyone_joins() -> None:
    times = [0.1 + 0.2 * k for k in range(50)]  # every 0.2 s; service takes 0.1 s
    _scenario, res = run_fixed(times, ["architecture.stations.server.service.mean_s=0.1"],
                              horizon_s=10.0)
    s = res.summary
    assert (s["legit"]["arrived"], s["legit"]["joined"], s["legit"]["abandoned"],
            s["legit"]["in_flight"], s["legit"]["attempts"]) == (50, 50, 0, 0, 50)
    server = s["stations"]["server"]
    assert (server["offered"], server["served"], server["rejected"], server["timed_out"],
            server["peak_queue"]) == (50, 50, 0, 0, 0)
    assert server["wait_s"]["mean"] == 0.0 and server["wait_s"]["p99"] == 0.0
    assert s["join_latency_s"]["p50"] == pytest.approx(0.1)
    assert s["join_latency_s"]["max"] == pytest.approx(0.1)
    # Busy 50 × 0.1 s of 10 s on one worker.
    assert server["utilization_mean"] == pytest.approx(0.5)


def test_no_queue_one_worker_rejects_what_arrives_while_busy() -> None:
    # Arrivals every 0.4 s, service 1 s, no queue: of each three arrivals the first is
    # served and the next two find the worker busy (period 1.2 s).
    times = [0.1 + 0.4 * k for k in range(30)]
    _scenario, res = run_fixed(times, ["architecture.stations.server.service.mean_s=1.0",
                                      "architecture.stations.server.queue_limit=0"])
    s = res.summary
    server = s["stations"]["server"]
    assert (server["offered"], server["served"], server["rejected"]) == (30, 10, 20)
    assert (s["legit"]["joined"], s["legit"]["abandoned"], s["legit"]["attempts_rejected"]) \
        == (10, 20, 20)
    assert server["peak_queue"] == 0


@pytest.mark.parametrize("drop_expired", [True, False])
def test_deadlines_with_and_without_deadline_propagation(drop_expired: bool) -> None:
    # One worker, 1 s service, timeout 1.5 s, arrivals at 0.1, 0.2, 0.3:
    # client 1 is served 0.1-1.1 and joins (latency 1.0);
    # client 2 waits, starts at 1.1, gives up at 1.7 during service: wasted work at 2.1;
    # client 3 gives up at 1.8 while queued; at 2.1 its request reaches the head of the
    # queue expired: dropped (drop_expired) or served 2.1-3.1 as wasted work.
    scenario, res = run_fixed([0.1, 0.2, 0.3], [
        "architecture.stations.server.service.mean_s=1.0",
        f"architecture.stations.server.drop_expired={str(drop_expired).lower()}",
        "clients.timeout_s=1.5"], horizon_s=5.0)
    s = res.summary
    lg, server = s["legit"], s["stations"]["server"]
    assert (lg["joined"], lg["abandoned"], lg["attempts_timed_out"]) == (1, 2, 2)
    assert s["join_latency_s"]["max"] == pytest.approx(1.0)
    assert server["timed_out"] == 1
    if drop_expired:
        assert (server["served"], server["wasted"]) == (2, 1)
        assert sorted(scenario.topology.stations["server"].waits) == pytest.approx([0.0, 0.9])
    else:
        assert (server["served"], server["wasted"]) == (3, 2)
        assert sorted(scenario.topology.stations["server"].waits) == pytest.approx(
            [0.0, 0.9, 1.8])
    assert lg["wasted"] == server["wasted"]


def test_fixed_backoff_retry_timeline() -> None:
    # No queue, 1 s service, fixed 0.5 s backoff, 3 attempts. Client 1 is served 0.1-1.1.
    # Client 2 is rejected at 0.2 and 0.7, and served on its third attempt 1.2-2.2.
    _scenario, res = run_fixed([0.1, 0.2], [
        "architecture.stations.server.service.mean_s=1.0",
        "architecture.stations.server.queue_limit=0",
        "clients.retry.policy=fixed", "clients.retry.base_s=0.5", "clients.retry.cap_s=0.5",
        "clients.retry.max_attempts=3"], horizon_s=5.0)
    lg = res.summary["legit"]
    assert (lg["joined"], lg["attempts"], lg["retries"], lg["attempts_rejected"]) \
        == (2, 4, 2, 2)
    assert res.summary["join_latency_s"]["max"] == pytest.approx(2.0)
    assert res.summary["stations"]["server"]["rejected"] == 2


def test_max_attempts_ends_in_abandonment() -> None:
    # The worker is busy 0.1-10.1; client 2 tries at 0.2, 0.7, 1.2 and gives up.
    _scenario, res = run_fixed([0.1, 0.2], [
        "architecture.stations.server.service.mean_s=10.0",
        "architecture.stations.server.queue_limit=0",
        "clients.retry.policy=fixed", "clients.retry.base_s=0.5", "clients.retry.cap_s=0.5",
        "clients.retry.max_attempts=3"], horizon_s=5.0)
    lg = res.summary["legit"]
    assert (lg["joined"], lg["abandoned"], lg["in_flight"], lg["attempts"]) == (0, 1, 1, 4)

"""SLO evaluation: windowed latency percentiles and the bottleneck rule."""

from __future__ import annotations

import numpy as np
import pytest

from sim.analysis.slo import bottleneck, evaluate, least_attempts, window_latency_quantiles
from sim.config import SloConfig


def test_window_quantiles_follow_the_samples() -> None:
    """Per tick, p50/p90/p99 of the latencies of the last window, to a histogram bin."""
    t = np.arange(1.0, 121.0)
    rng = np.random.default_rng(3)
    lat_t = rng.uniform(0, 120, 20_000)
    lat_v = np.where(lat_t < 60, rng.exponential(0.5, lat_t.size), rng.exponential(4.0,
                                                                                  lat_t.size))
    qs = window_latency_quantiles(t, lat_t, lat_v, np.ones(lat_t.size), 30.0,
                                  (0.5, 0.9, 0.99))
    for row, q in zip(qs, (0.5, 0.9, 0.99), strict=True):
        early = np.quantile(lat_v[(lat_t > 20) & (lat_t <= 50)], q)
        late = np.quantile(lat_v[lat_t > 90], q)
        assert abs(row[49] / early - 1) < 0.05  # tick ending at t=50: joined in (20, 50]
        assert abs(row[119] / late - 1) < 0.05
    assert (qs[0] <= qs[1]).all() and (qs[1] <= qs[2]).all()


def test_a_rate_ceiling_is_a_bottleneck_with_idle_workers() -> None:
    """A hot key at its write limit saturates although its workers are mostly idle; the
    tier in front with busier workers (80%) is not the bottleneck."""
    n = 120
    ts = {"t_s": np.arange(1.0, n + 1.0)}
    for name, busy, served in (("edge", 0.8, 3000.0), ("join", 0.2, 2490.0)):
        ts[f"{name}.capacity"] = np.full(n, 100.0)
        ts[f"{name}.busy"] = np.full(n, 100.0 * busy)
        ts[f"{name}.served"] = np.full(n, served)
        ts[f"{name}.rejected"] = np.zeros(n)
        ts[f"{name}.timed_out"] = np.zeros(n)
        ts[f"{name}.queue"] = np.zeros(n)
    ts["join.queue"] = np.linspace(0.0, 20_000.0, n)  # waiting for the key: growing
    without = bottleneck(ts, ["edge", "join"], 100, 60)
    with_cap = bottleneck(ts, ["edge", "join"], 100, 60, {"join": 2500.0})
    assert without == "edge"  # the busiest workers, when the ceiling is not known
    assert with_cap == "join"
    # Serving just under the ceiling with no queue for it: not the limit. The tier that
    # refused requests is.
    ts["join.queue"] = np.full(n, 100.0)
    ts["edge.rejected"] = np.where(np.arange(n) >= 90, 50.0, 0.0)
    assert bottleneck(ts, ["edge", "join"], 100, 60, {"join": 2500.0}) == "edge"


@pytest.mark.parametrize("threads", [1, 3])
def test_latency_histogram_matches_every_component_on_every_edge(
        threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunked, width-grouped, threaded histogram of latency components equals each
    component's distribution function evaluated on all edges and added row by row."""
    from sim.analysis import slo
    from sim.tails import shifted_gamma_cdf

    rng = np.random.default_rng(11)
    n, ticks = 5000, 40
    v = np.exp(rng.uniform(np.log(1e-3), np.log(300.0), n))
    sd = v * np.exp(rng.uniform(np.log(1e-3), np.log(2.0), n))
    k3 = sd**3 * rng.choice([0.0, 0.3, 1.5, 4.0, -0.5], n)
    w = rng.uniform(0.5, 50.0, n)
    tick = rng.integers(0, ticks, n)
    monkeypatch.setattr(slo, "CHUNK", 300)
    monkeypatch.setattr(slo, "THREADS", threads)
    hist = np.zeros((ticks, len(slo._EDGES) + 1))
    slo._add_normals(hist, tick, v, sd, w, np.arange(n), k3)
    want = np.zeros_like(hist)
    for i in range(n):
        g = k3[i] / sd[i] ** 3
        cdf = shifted_gamma_cdf((slo._EDGES - v[i]) / sd[i], np.full(len(slo._EDGES), g))
        want[tick[i]] += w[i] * np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    assert np.allclose(hist, want, rtol=1e-9, atol=1e-12 * w.sum())
    assert hist.sum() == pytest.approx(w.sum(), rel=1e-12)


@pytest.mark.parametrize(("target", "least"), [(0.99, 100), (0.999, 1000), (0.95, 20),
                                              (0.5, 20), (1.0, 20)])
def test_a_window_needs_enough_attempts_that_one_failure_cannot_breach(
        target: float, least: int) -> None:
    assert least_attempts(SloConfig(join_success_min=target)) == least
    assert least_attempts(SloConfig(join_success_min=target, min_attempts=5000)) == 5000


@pytest.mark.parametrize(("per_tick", "failed_at", "breach_s"), [
    (1.0, [5], None),  # one failure among 60 attempts a window: too few to judge at 99%
    (4.0, [5], None),  # one among 240: 99.6%, judged and met
    (4.0, [5, 7, 9], 25.0),  # three among 240: judged from the 100th attempt, breached
])
def test_the_success_ratio_is_judged_only_where_one_failure_cannot_decide(
        per_tick: float, failed_at: list[int], breach_s: float | None) -> None:
    n = 120
    t = np.arange(1.0, n + 1.0)
    ok = np.full(n, per_tick)
    bad = np.zeros(n)
    for i in failed_at:
        ok[i - 1] -= 1.0
        bad[i - 1] += 1.0
    ts = {"t_s": t, "legit.attempts_succeeded": ok, "legit.attempts_failed": bad}
    for k in ("capacity", "busy", "served", "rejected", "timed_out", "queue"):
        ts[f"server.{k}"] = np.zeros(n)
    empty = np.zeros(0)
    out, extra = evaluate(ts, (empty, empty, empty), SloConfig(), ["server"])
    assert extra["slo.judged"].any() == (per_tick * 60 >= 100)
    assert not extra["slo.judged"][: int(100 / per_tick) - 1].any()
    assert out["first_breach_s"] == breach_s


# -- slo.success_test: binomial ------------------------------------------------------------

def _tail(n: int, f: int, p: float) -> float:
    """P(X >= f) for X ~ Binomial(n, p), summed exactly (independent of scipy)."""
    from fractions import Fraction
    from math import comb

    q = Fraction(p).limit_denominator(10**9)
    return float(sum(comb(n, k) * q**k * (1 - q)**(n - k) for k in range(f, n + 1)))


def _windows(n: np.ndarray, f: np.ndarray, **slo: object) -> tuple[np.ndarray, SloConfig]:
    from sim.analysis.slo import short_of_target

    cfg = SloConfig(**slo)  # type: ignore[arg-type]
    finished = n.astype(float)
    ratio = np.where(finished > 0, (finished - f) / np.maximum(finished, 1), np.nan)
    return short_of_target(ratio, finished, cfg), cfg


def test_the_binomial_test_breaches_exactly_where_the_tail_is_below_its_level() -> None:
    """Drawn windows (attempts, failures, target, confidence): a breach iff P(X >= f) under
    the failure budget is below 1 - confidence, the tail summed exactly here."""
    rng = np.random.default_rng(20261204)
    for _ in range(150):
        target = float(rng.choice([0.9, 0.99, 0.995, 0.999]))
        conf = float(rng.choice([0.8, 0.95, 0.99]))
        n = rng.integers(1, 400, size=6)
        f = np.minimum(n, rng.poisson(n * (1 - target) * rng.uniform(0.2, 4.0)))
        got, _ = _windows(n, f, join_success_min=target, success_test="binomial",
                          success_confidence=conf)
        want = [fi > 0 and _tail(int(ni), int(fi), 1 - target) < 1 - conf
                for ni, fi in zip(n, f, strict=True)]
        assert got.tolist() == want, (target, conf, n, f)


def test_the_binomial_test_tends_to_the_ratio_in_large_windows() -> None:
    """At 99% and 95% confidence: 2 failures of 150 are noise; in 100,000 attempts 1.06%
    of failures breaches and 1.04% does not; the ratio breaches on all three."""
    n = np.array([150, 100_000, 100_000])
    f = np.array([2, 1_060, 1_040])
    ratio_breach, _ = _windows(n, f)
    binom_breach, _ = _windows(n, f, success_test="binomial")
    assert ratio_breach.tolist() == [True, True, True]
    assert binom_breach.tolist() == [False, True, False]


def test_healthy_small_windows_breach_the_ratio_often_and_the_test_rarely() -> None:
    """A tier failing 0.2% of requests, windows of 100-150 attempts (the lobby of a risk
    study): the ratio breaches one window in 27-57, the test at most at its level; a tier
    failing 4% is caught by the test in most windows of 400."""
    rng = np.random.default_rng(7)
    n = rng.integers(100, 151, size=40_000)
    f = rng.binomial(n, 0.002)
    ratio_rate = _windows(n, f)[0].mean()
    test_rate = _windows(n, f, success_test="binomial")[0].mean()
    assert 1 / 60 < ratio_rate < 1 / 25 and test_rate < 0.001
    big = np.full(5_000, 400)
    caught = _windows(big, rng.binomial(big, 0.04), success_test="binomial")[0].mean()
    assert caught > 0.95


def test_the_summary_and_report_say_which_test_judged() -> None:
    from sim.report.describe import slo_text

    n = 120
    t = np.arange(1.0, n + 1.0)
    ts = {"t_s": t, "legit.attempts_succeeded": np.full(n, 3.0),
          "legit.attempts_failed": np.where(t % 40 == 0, 1.0, 0.0)}
    for k in ("capacity", "busy", "served", "rejected", "timed_out", "queue"):
        ts[f"server.{k}"] = np.zeros(n)
    empty = np.zeros(0)
    plain, _ = evaluate(ts, (empty, empty, empty), SloConfig(), ["server"])
    tested, _ = evaluate(ts, (empty, empty, empty),
                         SloConfig(success_test="binomial", success_confidence=0.9),  # type: ignore[arg-type]
                         ["server"])
    assert plain["success_test"] == "ratio" and "success_confidence" not in plain
    assert tested["success_test"] == "binomial" and tested["success_confidence"] == 0.9
    # Two failures among 180 attempts: a breach by the ratio (98.9%), noise by the test.
    assert plain["met"] is False and tested["met"] is True
    text = slo_text({"slo": tested}, {})  # type: ignore[typeddict-item]
    assert "90.0% confidence, a one-sided binomial test" in text
    assert "binomial" not in slo_text({"slo": plain}, {})  # type: ignore[typeddict-item]

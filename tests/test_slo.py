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

"""A fluid station over its rate, held by a queue limit shorter than a tick.

Exact mode's queue is full nearly all the time at such a station: every request it
admits waits behind ``K`` others, ``K / R``, and it admits what the workers complete. A
fluid station settles such a tick at its end (``sim.engine.fluid``, ``_serve_group``):
what it keeps waits behind the work that arrived before it, as in a FIFO, not only
behind the share of that work its window has no room for. Before, a station whose queue
drains in less than a tick (``K / R`` below the tick) gave a wait of a fifth of
``K / R`` at a one-second tick (0.039 s against exact mode's 0.197 s), and the tick
decided the wait where it should not matter.

The cases are drawn (seeded) over workers, service time, overload and ``K / R`` from a
twentieth of the tick to most of it; each runs in exact mode and in cohort mode at that
tick, and the station's mean wait, its blocking and the p99 join latency must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim

S = "architecture.stations.server."
CASES = 6


def station_overrides(c: int, mean: float, lam: float, k: int, horizon_s: float) -> list[str]:
    """One station of ``c`` workers of mean service ``mean`` behind a queue limit ``k``,
    offered Poisson arrivals at ``lam`` a second of one attempt each, run seed 1."""
    return ["run.report=false", "run.progress=false", "architecture=single_station",
            "arrivals=constant", f"arrivals.rate={lam:.3f}", "clients=patient",
            "clients.retry.max_attempts=1", S + f"workers_per_instance={c}",
            S + f"service.mean_s={mean:.6f}", S + f"queue_limit={k}",
            f"run.horizon_s={horizon_s:.1f}", "run.warmup_s=5", "run.seed=1"]


def draw(seed: int) -> tuple[list[str], str, float]:
    """One case: overrides, a description and the tick."""
    g = np.random.default_rng(seed)
    c = int(g.integers(5, 60))
    mean = float(np.exp(g.uniform(np.log(0.005), np.log(0.1))))
    rho = float(g.uniform(1.1, 1.6))
    tick = float(g.choice([0.5, 1.0]))
    rate = c / mean
    k = max(2, int(rate * tick * g.uniform(0.05, 0.8)))
    lam = rho * rate
    ov = station_overrides(c, mean, lam, k, max(30.0, 40_000 / lam))
    return ov, (f"c={c} S={mean:.4f}s rho={rho:.2f} K={k} (K/R={k / rate:.3f}s) "
                f"tick={tick}s"), tick


def _figures(summary: dict) -> tuple[float, float, float]:
    st = summary["stations"]["server"]
    legit = summary["legit"]
    blocking = legit["attempts_rejected"] / legit["attempts"]
    return st["wait_s"]["mean"], blocking, summary["join_latency_s"]["p99"]


@pytest.mark.parametrize("seed", range(CASES))
def test_saturated_small_queue_waits_as_exact_mode(seed: int) -> None:
    ov, what, tick = draw(seed)
    exact = _figures(sim.run([*ov, "run.resolution_s=0"]).summary)
    cohort = _figures(sim.run([*ov, f"run.resolution_s={tick}"]).summary)
    print(f"seed {seed}: {what}: exact {exact}, cohort {cohort}")
    assert cohort[0] == pytest.approx(exact[0], rel=0.10), f"mean wait, {what}"
    assert abs(cohort[1] - exact[1]) <= max(0.10 * exact[1], 0.005), f"blocking, {what}"
    assert cohort[2] == pytest.approx(exact[2], rel=0.10), f"p99 join, {what}"

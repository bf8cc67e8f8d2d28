"""The fluid discipline's stationary wait under a load that changes (``sim.engine.fluid``).

Exact mode's queue settles at the stationary wait of the current load within a few
hundred arrivals below ρ 0.9, so under a load that rises over minutes its mean wait is
the stationary wait at each instant, weighted by the arrivals: for a ramp of the rate
``λ(t)``, ``∫ λ·W(λ) dt / ∫ λ dt`` (exact mode meets it within its noise, 4 seeds of the
case below: 0.34 ms against 0.35 ms). Cohort mode reads the load from an exponentially
weighted count; a time constant long against the ramp reads the load of the past and
gives the wait of a lower load (Erlang C is steep in the load: with 20,000 requests at
the station's rate, 38 s here, the wait came out 60% short).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import sim
from sim.engine import erlang_c_wait
from sim.engine.fluid import LOAD_BIAS, LOAD_RHO_CAP, load_count
from sim.engine.granular import serves_singly

S = "architecture.stations.server."
WORKERS, MEAN_S, TICK_S = 6, 0.0115, 0.2
RATE_START, RATE_END, RAMP_S = 20.0, 330.0, 240.0  # ρ 0.03 to 0.57
RAMP = ["run.report=false", "run.progress=false", "architecture=single_station",
        "clients=patient", S + f"workers_per_instance={WORKERS}", S + f"service.mean_s={MEAN_S}",
        "arrivals=ramp", "arrivals.start_s=0", f"arrivals.end_s={RAMP_S}",
        f"arrivals.rate_start={RATE_START}", f"arrivals.rate_end={RATE_END}",
        f"run.horizon_s={RAMP_S}", "run.warmup_s=0", f"run.resolution_s={TICK_S}"]


def ramp_wait() -> float:
    """The stationary M/M/c wait along the ramp, weighted by its arrivals."""
    t = np.linspace(0.0, RAMP_S, 4001)
    lam = RATE_START + (RATE_END - RATE_START) * t / RAMP_S
    w = np.array([erlang_c_wait(WORKERS, x * MEAN_S, 1.0 / MEAN_S)[0] for x in lam])
    return float(np.trapezoid(lam * w, t) / np.trapezoid(lam, t))


def test_wait_follows_a_rising_load() -> None:
    # 104 completions per tick: the fluid discipline, just above the granular threshold.
    assert not serves_singly(1, WORKERS, MEAN_S, TICK_S)
    waits = [sim.run([*RAMP, f"run.seed={seed}"]).summary["stations"]["server"]["wait_s"]["mean"]
             for seed in (1, 2)]
    assert float(np.mean(waits)) == pytest.approx(ramp_wait(), rel=0.10)


def erlang_shape(c: int) -> Callable[[float], tuple[float, float, float]]:
    """The M/M/c wait against utilization, in service times."""
    return lambda rho: erlang_c_wait(c, rho * c, 1.0)


def test_load_count_holds_the_jensen_bias() -> None:
    """The count the estimate spans keeps ``W(λ̂)``'s mean within ``LOAD_BIAS`` of ``W(λ)``
    for a Poisson count (a normal of variance ``λ / (2τ)`` for the weighted count)."""
    gen = np.random.default_rng(1)
    for c, rho in ((6, 0.57), (50, LOAD_RHO_CAP), (500, LOAD_RHO_CAP)):
        shape = erlang_shape(c)
        n = load_count(shape, rho)
        w0 = shape(rho)[0]
        draws = rho * (1.0 + gen.standard_normal(20_000) / np.sqrt(2 * n))
        w = np.mean([shape(r)[0] for r in draws])
        assert w / w0 - 1 == pytest.approx(LOAD_BIAS, abs=0.5 * LOAD_BIAS), (c, rho, n)
    # Few requests where the wait is worth nothing: a few ticks follow a surge.
    assert load_count(erlang_shape(6), 0.1) < 10

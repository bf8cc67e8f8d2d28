"""A fluid station near saturation behind a short queue limit, against exact mode.

A station of tens to hundreds of workers whose queue limit is a few times the square
root of its workers (a few tens of requests) lives, near ρ = 1, on the random swings of
its queue: exact mode's queue fills and empties many times a second, rejects ``p_{c+K}``
of what it is offered, and never waits more than ``K / R``. The fluid queue holds only
the swings a tick shows, so cohort mode adds the stationary M/M/c/K queue at the
current load (``sim.engine.fluid.mmck_wait``): its wait, and its blocking beyond the
fluid queue's own. Before, cohort mode gave Erlang C's unbounded wait there (up to 50
times exact mode's, a p99 join latency ten times exact mode's) and a tenth of its
blocking.

The figures are checked against the M/M/c/K queue's birth-death chain, solved here
directly, and the station against exact mode on cases drawn (seeded) over workers,
service time, load from ρ 0.93 to 1.05 and the limit, each at a tick its workers
complete more than a hundred requests in (so the fluid discipline serves it). The
criteria are those of the differential tier: blocking within 10% or half a point, mean
wait within 10%, p99 join latency within 10%.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_fluid_saturation import station_overrides

import sim
from sim.engine.fluid import FINITE_QUEUE_TAIL, erlang_c_wait, mmck_wait

CASES = 5


def chain(c: int, load: float, k: int) -> tuple[float, float, float, float]:
    """Wait moments of an admitted request and blocking from the M/M/c/K chain's
    stationary distribution, in service times: mean, variance, third central moment."""
    n = np.arange(c + k + 1)
    log_p = np.where(n <= c, n * math.log(load) - np.array([math.lgamma(i + 1) for i in n]),
                     c * math.log(load) - math.lgamma(c + 1) + (n - c) * math.log(load / c))
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    block = float(p[-1])
    j = np.arange(k)  # found c + j in system: waits a gamma of shape j + 1, rate c
    q = p[c:c + k] / (1 - block)
    raw = [float(np.sum(q * np.prod([j + i for i in range(1, m + 1)], axis=0))) / c**m
           for m in (1, 2, 3)]
    mean = raw[0]
    return mean, raw[1] - mean**2, raw[2] - 3 * raw[1] * mean + 2 * mean**3, block


@pytest.mark.parametrize("seed", range(12))
def test_mmck_is_the_birth_death_chain(seed: int) -> None:
    g = np.random.default_rng(seed)
    c = int(g.integers(1, 300))
    rho = float(g.uniform(0.5, 1.5))
    k = int(g.integers(0, 3 * int(math.sqrt(c)) + 5))
    got, want = mmck_wait(c, rho * c, k), chain(c, rho * c, k)
    assert got == pytest.approx(want, rel=1e-8, abs=1e-14), f"c={c} rho={rho} K={k}"


def test_mmck_leaves_erlang_c_where_the_limit_is_far() -> None:
    c, load = 50, 45.0
    k = FINITE_QUEUE_TAIL / -math.log(load / c) + 1
    assert mmck_wait(c, load, k) == (*erlang_c_wait(c, load, 1.0), 0.0)
    # Over the rate a far limit is full: blocking 1 - 1/rho ...
    assert mmck_wait(c, 60.0, 10_000)[3] == pytest.approx(1 - 50 / 60)
    # ... as the chain has it, where the limit is just past the tail's bound.
    assert mmck_wait(20, 40.0, 60) == pytest.approx(chain(20, 40.0, 60), rel=1e-9)
    # Between two whole limits the figures are between theirs.
    lo, mid, hi = mmck_wait(c, 49.0, 20), mmck_wait(c, 49.0, 20.5), mmck_wait(c, 49.0, 21)
    for a, m, b in zip(lo, mid, hi, strict=True):
        assert min(a, b) <= m <= max(a, b)


def draw(seed: int) -> tuple[list[str], str, float, float]:
    """One case: overrides, a description, the tick and the mean service time."""
    g = np.random.default_rng(seed)
    c = int(np.exp(g.uniform(np.log(30), np.log(300))))
    mean = float(np.exp(g.uniform(np.log(0.005), np.log(0.1))))
    rho = float(g.uniform(0.93, 1.05))
    rate = c / mean
    tick = float(g.choice([t for t in (0.25, 0.5, 1.0) if rate * t > 100]))
    k = max(1, round(math.sqrt(c) * g.uniform(1, 4)))
    lam = rho * rate
    ov = station_overrides(c, mean, lam, k, max(60.0, 200_000 / lam))
    return ov, f"c={c} S={mean:.4f}s rho={rho:.3f} K={k} tick={tick}s", tick, mean


def _figures(summary: dict) -> tuple[float, float, float]:
    st = summary["stations"]["server"]
    return st["rejected"] / st["offered"], st["wait_s"]["mean"], summary["join_latency_s"]["p99"]


@pytest.mark.parametrize("seed", range(CASES))
def test_short_queue_near_saturation_as_exact_mode(seed: int) -> None:
    ov, what, tick, mean = draw(seed)
    exact = _figures(sim.run([*ov, "run.resolution_s=0"]).summary)
    cohort = _figures(sim.run([*ov, f"run.resolution_s={tick}"]).summary)
    print(f"seed {seed}: {what}: exact {exact}, cohort {cohort}")
    assert abs(cohort[0] - exact[0]) <= max(0.10 * exact[0], 0.005), f"blocking, {what}"
    floor = 0.01 * mean  # a wait worth nothing, as the differential tier counts it
    assert cohort[1] == pytest.approx(exact[1], rel=0.10) or max(cohort[1], exact[1]) <= floor, \
        f"mean wait, {what}"
    assert cohort[2] == pytest.approx(exact[2], rel=0.10), f"p99 join, {what}"

"""Exact mode against queueing theory: the Erlang C mean wait and Erlang B blocking.

The scenario is the textbook one: ``architecture=single_station`` with ``c`` exponential
workers, Poisson arrivals (``arrivals=constant``) and patient clients. Every case arrives
at λ = 100 per second; the mean service time sets the load (ρ = λ·mean / c).

Statistics: each case runs ``reps`` independent replications (``run.seed`` 1, 2, ...),
each discarding a warm-up of ``WARMUP_S`` (many relaxation times of every queue here),
and estimates the quantity as a ratio of sums over replications (sum of waits over
requests served; requests rejected over requests offered) with a 99.9% t interval from
the spread between replications. A case passes only if

1. the theoretical value lies inside that interval, and
2. the interval's half-width is at most ``limit`` of the estimate,

so a run too short to tell cannot pass, and a bias larger than the limit cannot hide
in a wide interval. The fast cases run by default (about 25 s together on one core);
the ``slow`` ones (``pytest -m slow``) use 4-10 times more customers and tighter limits.
If a case fails, the cause is to be found, never the limit widened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from queueing import erlang_b, erlang_c
from scipy import stats

from sim.config import SimConfig
from sim.run import simulate

RATE = 100.0  # arrivals per second in every case
WARMUP_S = 50.0


# -- theory ---------------------------------------------------------------------------------

def erlang_c_wait(c: int, mean_s: float, rate: float) -> float:
    """Mean wait in queue of M/M/c: W_q = C(c, a) / (cμ − λ)."""
    a = rate * mean_s
    return erlang_c(c, a) / (c / mean_s - rate)


def test_erlang_formulas() -> None:
    """The formulas against closed forms and an independent computation."""
    for a in (0.1, 0.5, 2.0):
        assert erlang_b(1, a) == pytest.approx(a / (1 + a), rel=1e-12)
    for rho in (0.3, 0.5, 0.9):
        assert erlang_c(1, rho) == pytest.approx(rho, rel=1e-12)  # M/M/1: P(wait) = ρ
        assert erlang_c(2, 2 * rho) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-12)
        mean_s = 0.1
        mu, lam = 1 / mean_s, rho / mean_s
        assert erlang_c_wait(1, mean_s, lam) == pytest.approx(rho / (mu - lam), rel=1e-12)
    # Erlang B is the Poisson distribution truncated at c: B = pmf(c; a) / cdf(c; a).
    for c, a in ((5, 3.5), (10, 10.0), (20, 18.0), (200, 180.0), (2000, 2100.0)):
        direct = stats.poisson.pmf(c, a) / stats.poisson.cdf(c, a)
        assert erlang_b(c, a) == pytest.approx(direct, rel=1e-9)
    assert erlang_b(10, 5.0) == pytest.approx(0.018384570, rel=1e-7)  # textbook table
    with pytest.raises(ValueError, match="stable"):
        erlang_c(2, 2.0)


# -- cases ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """``c`` workers at load ρ; ``reps`` replications of ``per_rep`` customers after the
    warm-up each; ``limit`` is the largest relative half-width that may pass."""

    c: int
    rho: float
    per_rep: int
    reps: int
    limit: float

    @property
    def mean_s(self) -> float:
        return self.c * self.rho / RATE

    @property
    def horizon_s(self) -> float:
        return WARMUP_S + self.per_rep / RATE

    def __str__(self) -> str:
        return f"c{self.c}-rho{self.rho:g}"


# Sizes follow from the spread measured per case: the relative standard error of the
# mean wait is about κ/sqrt(customers) with κ ≈ 6 (c=1, ρ=0.5), 14 (2, 0.8) and 25-30
# (10, 0.9); of the blocking ratio, κ ≈ 4.5 (5, 0.7), 4.6 (10, 1.0) and 7.7 (20, 0.9).
# The half-width is t(0.9995, reps−1) ≈ 3.6-3.9 standard errors.
ERLANG_C_FAST = [
    Case(1, 0.5, per_rep=30_000, reps=20, limit=0.04),
    Case(2, 0.8, per_rep=70_000, reps=20, limit=0.06),
    Case(10, 0.9, per_rep=100_000, reps=20, limit=0.10),
]
ERLANG_C_SLOW = [
    Case(1, 0.5, per_rep=100_000, reps=40, limit=0.015),
    Case(2, 0.8, per_rep=300_000, reps=40, limit=0.02),
    Case(10, 0.9, per_rep=450_000, reps=40, limit=0.03),
]
ERLANG_B_FAST = [
    Case(5, 0.7, per_rep=20_000, reps=20, limit=0.04),
    Case(10, 1.0, per_rep=20_000, reps=20, limit=0.04),
    Case(20, 0.9, per_rep=50_000, reps=20, limit=0.04),
]
ERLANG_B_SLOW = [
    Case(5, 0.7, per_rep=60_000, reps=40, limit=0.012),
    Case(10, 1.0, per_rep=60_000, reps=40, limit=0.012),
    Case(20, 0.9, per_rep=150_000, reps=40, limit=0.012),
]


def _judge(name: str, est: Any, theory: float, limit: float) -> None:
    msg = (f"{name}: simulated {est}, theory {theory:.5g} "
           f"({100 * (est.value / theory - 1):+.2f}%)")
    print(msg)
    assert est.rel_half_width <= limit, f"too imprecise to judge (limit ±{100 * limit:g}%): {msg}"
    assert est.contains(theory), f"theory outside the 99.9% interval: {msg}"


def check_erlang_c(case: Case, make: Callable[..., SimConfig], ratio: Callable[..., Any]) -> None:
    waits, served = [], []
    for seed in range(1, case.reps + 1):
        cfg = make(case.c, case.mean_s, RATE, case.horizon_s, WARMUP_S, seed=seed)
        wait = simulate(cfg).summary["stations"]["server"]["wait_s"]
        waits.append(wait["mean"] * wait["n"])
        served.append(wait["n"])
    theory = erlang_c_wait(case.c, case.mean_s, RATE)
    _judge(f"M/M/{case.c} at rho={case.rho} mean wait (s)", ratio(waits, served),
           theory, case.limit)


def check_erlang_b(case: Case, make: Callable[..., SimConfig], ratio: Callable[..., Any]) -> None:
    rejected, offered = [], []
    for seed in range(1, case.reps + 1):
        cfg = make(case.c, case.mean_s, RATE, case.horizon_s, WARMUP_S,
                   "architecture.stations.server.queue_limit=0", seed=seed)
        ts = simulate(cfg).timeseries
        after = ts["t_s"] > WARMUP_S  # ticks that start at or after the warm-up
        rejected.append(float(np.sum(ts["server.rejected"][after])))
        offered.append(float(np.sum(ts["server.offered"][after])))
    theory = erlang_b(case.c, case.c * case.rho)
    _judge(f"M/M/{case.c}/{case.c} at a={case.c * case.rho:g} blocking",
           ratio(rejected, offered), theory, case.limit)


@pytest.mark.parametrize("case", ERLANG_C_FAST, ids=str)
def test_erlang_c_mean_wait(case: Case, single_station: Callable[..., SimConfig],
                               ratio_estimate: Callable[..., Any]) -> None:
    check_erlang_c(case, single_station, ratio_estimate)


@pytest.mark.parametrize("case", ERLANG_B_FAST, ids=str)
def test_erlang_b_blocking(case: Case, single_station: Callable[..., SimConfig],
                               ratio_estimate: Callable[..., Any]) -> None:
    check_erlang_b(case, single_station, ratio_estimate)


@pytest.mark.slow
@pytest.mark.parametrize("case", ERLANG_C_SLOW, ids=str)
def test_erlang_c_mean_wait_long(case: Case, single_station: Callable[..., SimConfig],
                               ratio_estimate: Callable[..., Any]) -> None:
    check_erlang_c(case, single_station, ratio_estimate)


@pytest.mark.slow
@pytest.mark.parametrize("case", ERLANG_B_SLOW, ids=str)
def test_erlang_b_blocking_long(case: Case, single_station: Callable[..., SimConfig],
                               ratio_estimate: Callable[..., Any]) -> None:
    check_erlang_b(case, single_station, ratio_estimate)


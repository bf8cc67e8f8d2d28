"""Exact mode against ciw (an independent simulator) and theory: M/M/c+D.

The queue: Poisson arrivals at λ = 100 per second, ``c`` exponential servers, FIFO, and
every customer gives up after waiting a fixed time D (deterministic patience) if no
server has taken it by then.

- In sim: ``clients=patient`` with ``clients.timeout_s=D`` and no retry; the station has
  ``drop_expired=true``. A request whose deadline passes while it is queued stays in the
  queue until it reaches the head, and is then dropped without using a server (counted
  in ``stations.server.timed_out``). For the servers that is the same as reneging at the
  deadline: the next request they take is the first one still waiting.
- In ciw: ``reneging_time_distributions=[ciw.dists.Deterministic(D)]``; a customer still
  queued D after arriving reneges (a ``renege`` record).

Compared, over independent replications of each simulator (sim: ``run.seed`` 1..k; ciw:
``ciw.seed`` 1..k), after a warm-up: the abandonment probability (sim: timed_out /
offered after the warm-up, from the time series; ciw: reneged / arrived among customers
arriving after the warm-up and early enough for their fate to be known) and the mean
wait of the customers served. The two estimates must agree within the 99.9% t interval
of their difference (Welch), that interval must be narrow (``limit``, relative), and
each must contain the M/M/c+D closed form below.

ciw draws from Python's global ``random`` module and its own ``ciw.rng``; the fixture
``ciw_seeded`` restores both after each test.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from queueing import erlang_b
from scipy import stats

from sim.config import SimConfig
from sim.run import simulate

ciw = pytest.importorskip("ciw")

RATE = 100.0
WARMUP_S = 50.0


# -- theory ---------------------------------------------------------------------------------

def mmc_deterministic_patience(c: int, lam: float, mu: float, d: float) -> tuple[float, float]:
    """Abandonment probability and mean wait of the served customers of M/M/c+D.

    The offered wait V (what a customer would wait with infinite patience) of M/M/c+G
    has, for x > 0, the density λ·exp(λH(x) − cμx) / (E + λJ), with H(x) = ∫₀ˣ P(τ > u)du,
    J = ∫₀^∞ exp(λH(x) − cμx) dx and E = Σ_{j<c} aʲ/j! / (a^{c−1}/(c−1)!) = 1/B(c−1, a)
    (Baccelli & Hébuterne 1981; Zeltyn & Mandelbaum 2005). With patience exactly D,
    H(x) = min(x, D); a customer abandons iff V > D, and a served one waits V.
    """
    a = lam / mu
    e = 1.0 / erlang_b(c - 1, a)
    k = lam - c * mu
    ekd = math.exp(k * d)
    j = (d if k == 0 else (ekd - 1.0) / k) + ekd / (c * mu)
    norm = e + lam * j
    p_abandon = lam * ekd / (c * mu) / norm  # P(V > D)
    first_moment = d * d / 2 if k == 0 else (ekd * (k * d - 1.0) + 1.0) / k**2  # ∫₀ᴰ x e^{kx}
    wait_served = lam * first_moment / norm / (1.0 - p_abandon)
    return p_abandon, wait_served


def test_closed_form_limits() -> None:
    """The formula against what it must reduce to."""
    c, mu = 10, 10.0
    for lam in (50.0, 90.0, 120.0):
        # No patience at all: an arrival that finds every server busy leaves (Erlang B).
        p, w = mmc_deterministic_patience(c, lam, mu, 1e-12)
        assert p == pytest.approx(erlang_b(c, lam / mu), rel=1e-6)
        assert w == pytest.approx(0.0, abs=1e-9)
    # Infinite patience in a stable queue: no abandonment and the Erlang C wait.
    lam, a = 90.0, 9.0
    b = erlang_b(c, a)
    erlang_c = c * b / (c - a * (1 - b))
    p, w = mmc_deterministic_patience(c, lam, mu, 1e3)
    assert p == pytest.approx(0.0, abs=1e-12)
    assert w == pytest.approx(erlang_c / (c * mu - lam), rel=1e-9)
    # M/M/1+D: P(abandon) = (1 − ρ)ρe^{−(μ−λ)D} / (1 − ρ²e^{−(μ−λ)D}).
    lam, mu, d = 8.0, 10.0, 0.15
    rho, x = lam / mu, math.exp(-(mu - lam) * d)
    p, _ = mmc_deterministic_patience(1, lam, mu, d)
    assert p == pytest.approx((1 - rho) * rho * x / (1 - rho**2 * x), rel=1e-12)


# -- the two simulators ---------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """``c`` servers at offered load ρ, patience D = ``patience`` mean service times;
    ``reps`` replications of ``per_rep`` customers after the warm-up, per simulator."""

    c: int
    rho: float
    patience: float
    per_rep: int
    reps: int
    limit: float  # the largest relative half-width of sim − ciw that may pass

    @property
    def mean_s(self) -> float:
        return self.c * self.rho / RATE

    @property
    def patience_s(self) -> float:
        return self.patience * self.mean_s

    @property
    def horizon_s(self) -> float:
        return WARMUP_S + self.per_rep / RATE

    def __str__(self) -> str:
        return f"c{self.c}-rho{self.rho:g}-D{self.patience:g}"


@dataclass
class Sample:
    """Per replication: abandoned and offered; total wait and count of the served."""

    abandoned: list[float]
    offered: list[float]
    wait_sum: list[float]
    served: list[float]


@pytest.fixture
def ciw_seeded() -> Iterator[Callable[[int], None]]:
    """``seed(k)`` seeds ciw; the global ``random`` state and ``ciw.rng`` come back after."""
    state, rng = random.getstate(), ciw.rng
    yield ciw.seed
    random.setstate(state)
    ciw.rng = rng


def run_sim(case: Case, make: Callable[..., SimConfig]) -> Sample:
    out = Sample([], [], [], [])
    for seed in range(1, case.reps + 1):
        cfg = make(case.c, case.mean_s, RATE, case.horizon_s, WARMUP_S,
                   f"clients.timeout_s={case.patience_s!r}", "clients.retry.policy=none",
                   "clients.patience_s=null",
                   "architecture.stations.server.drop_expired=true", seed=seed)
        result = simulate(cfg)
        ts = result.timeseries
        after = ts["t_s"] > WARMUP_S
        out.abandoned.append(float(np.sum(ts["server.timed_out"][after])))
        out.offered.append(float(np.sum(ts["server.offered"][after])))
        wait = result.summary["stations"]["server"]["wait_s"]
        out.wait_sum.append(wait["mean"] * wait["n"])
        out.served.append(wait["n"])
    return out


def run_ciw(case: Case, seed_ciw: Callable[[int], None]) -> Sample:
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=RATE)],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / case.mean_s)],
        number_of_servers=[case.c],
        reneging_time_distributions=[ciw.dists.Deterministic(value=case.patience_s)],
    )
    # A customer arriving before this has reneged or started service by the horizon
    # (and any service it started is, bar a chance of e^-30, over).
    known_by = case.horizon_s - case.patience_s - 30 * case.mean_s
    out = Sample([], [], [], [])
    for seed in range(1, case.reps + 1):
        seed_ciw(seed)
        q = ciw.Simulation(network)
        q.simulate_until_max_time(case.horizon_s)
        abandoned, served, wait_sum = 0, 0, 0.0
        for r in q.get_all_records(only=["service", "renege"], include_incomplete=True):
            if not WARMUP_S <= r.arrival_date < known_by:
                continue
            if r.record_type == "renege":
                abandoned += 1
            else:
                assert r.waiting_time is not None and not math.isnan(r.waiting_time), r
                served += 1
                wait_sum += r.waiting_time
        out.abandoned.append(abandoned)
        out.offered.append(abandoned + served)
        out.wait_sum.append(wait_sum)
        out.served.append(served)
    return out


def compare(case: Case, ours: Sample, theirs: Sample, ratio: Callable[..., Any],
            welch_df: Callable[[Any, Any], float]) -> None:
    p_theory, w_theory = mmc_deterministic_patience(case.c, RATE, 1.0 / case.mean_s,
                                                    case.patience_s)
    for name, theory, num, den in (
        ("P(abandon)", p_theory, "abandoned", "offered"),
        ("mean wait of served (s)", w_theory, "wait_sum", "served"),
    ):
        a = ratio(getattr(ours, num), getattr(ours, den))
        b = ratio(getattr(theirs, num), getattr(theirs, den))
        diff = a.value - b.value
        half = stats.t.ppf(0.9995, welch_df(a, b)) * math.hypot(a.se, b.se)
        msg = (f"M/M/{case.c}+D at rho={case.rho:g}, D={case.patience_s:g} s, {name}: "
               f"sim {a}, ciw {b}, theory {theory:.5g}; sim - ciw = {diff:+.3g} ± "
               f"{half:.2g} ({100 * half / b.value:.2f}%)")
        print(msg)
        assert half / b.value <= case.limit, f"too imprecise to judge: {msg}"
        assert abs(diff) <= half, f"sim and ciw disagree: {msg}"
        assert a.contains(theory), f"sim misses the closed form: {msg}"
        assert b.contains(theory), f"ciw misses the closed form: {msg}"


# Fast: about 10 s per case, most of it in ciw. The relative half-width of sim − ciw came
# out near 3% (fast) and 1-2% (slow) when these sizes were chosen.
FAST = [
    Case(10, 1.2, patience=0.2, per_rep=25_000, reps=12, limit=0.05),
    Case(2, 1.5, patience=1.0, per_rep=25_000, reps=12, limit=0.05),
]
SLOW = [
    Case(10, 1.2, patience=0.2, per_rep=60_000, reps=40, limit=0.02),
    Case(2, 1.5, patience=1.0, per_rep=60_000, reps=40, limit=0.02),
    Case(5, 1.0, patience=1.0, per_rep=50_000, reps=40, limit=0.03),
    Case(20, 1.1, patience=0.25, per_rep=60_000, reps=40, limit=0.03),
]


@pytest.mark.parametrize("case", FAST, ids=str)
def test_abandonment_against_ciw(case: Case, single_station: Callable[..., SimConfig],
                                 ciw_seeded: Callable[[int], None],
                                 ratio_estimate: Callable[..., Any],
                                 welch_df: Callable[[Any, Any], float]) -> None:
    compare(case, run_sim(case, single_station), run_ciw(case, ciw_seeded), ratio_estimate,
            welch_df)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=str)
def test_abandonment_against_ciw_long(case: Case, single_station: Callable[..., SimConfig],
                                      ciw_seeded: Callable[[int], None],
                                      ratio_estimate: Callable[..., Any],
                                      welch_df: Callable[[Any, Any], float]) -> None:
    compare(case, run_sim(case, single_station), run_ciw(case, ciw_seeded), ratio_estimate,
            welch_df)


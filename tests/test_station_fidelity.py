"""Cohort mode's station disciplines against exact mode, one station at a time.

``architecture=single_station`` (one station, ``server``), Poisson arrivals, patient
clients. Cohort mode serves a small station (its workers complete at most
``SMALL_PER_TICK`` requests per tick) one request at a time by the exact discipline
(``sim.engine.granular``) and a large one by the fluid discipline with the Allen–Cunneen
Erlang C wait at a load estimated over as many requests as keep its noise bias to 1%
(``sim.engine.fluid``).
At 0.1 s and 0.5 s ticks, cohort mode must agree with exact mode within 10% on:

- the mean wait below saturation: 5 workers at ρ 0.9 with exponential service and with
  lognormal service of cv 2; 50 and 500 workers at ρ 0.95;
- the mean wait before a throughput ceiling (``max_rate_rps``) at ρ 0.5 and 0.9 of it,
  with 50 workers far from busy: M/D/1;
- blocking with a queue limit of 10 (within 10% relative or 0.5 point);
- the share of requests timed out in the queue with ``drop_expired`` and a client
  timeout near the wait.

Each comparison is a mean over seeds; the fast tests use fewer seeds and compare the
exponential cases with Erlang C, which exact mode meets (``tests/test_theory.py``); the
``slow`` ones run exact mode beside cohort mode on every case. If a case fails, the cause
is to be found, never the tolerance widened.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import sim
from sim.engine import FluidStation, OptimisticFluidStation, Station, erlang_c_wait
from sim.engine.admission import TokenBucket
from sim.engine.fluid import md1_wait
from sim.engine.granular import (
    SMALL_PER_TICK,
    GranularOptimisticStation,
    GranularStation,
    serves_singly,
)
from sim.model.topology import _discipline

BASE = ["run.report=false", "run.progress=false", "architecture=single_station",
        "arrivals=constant", "clients=patient"]
S = "architecture.stations.server."
SMALL = [S + "workers_per_instance=5", S + "service.mean_s=0.1", "arrivals.rate=45",
         "run.horizon_s=2000", "run.warmup_s=100"]
# A throughput ceiling far below the workers' capacity (a hot key): exact mode paces the
# starts 1 / max_rate apart, an M/D/1 queue.
CEILING = [S + "workers_per_instance=50", S + "service.mean_s=0.01", S + "max_rate_rps=1000",
           "run.horizon_s=300", "run.warmup_s=30"]
CASES: dict[str, list[str]] = {
    "mm5_exponential": SMALL,
    "mg5_lognormal_cv2": [*SMALL, S + "service.dist=lognormal", S + "service.cv=2"],
    "mm50": [S + "workers_per_instance=50", S + "service.mean_s=0.1", "arrivals.rate=475",
             "run.horizon_s=600", "run.warmup_s=50"],
    "mm500": [S + "workers_per_instance=500", S + "service.mean_s=0.2",
              "arrivals.rate=2375", "run.horizon_s=1200", "run.warmup_s=30"],
    "blocking_k10": [*SMALL, S + "queue_limit=10"],
    "ceiling_rho05": [*CEILING, "arrivals.rate=500"],
    "ceiling_rho09": [*CEILING, "arrivals.rate=900"],
    "drop_expired": [*SMALL, S + "drop_expired=true", "clients=default",
                     "clients.timeout_s=0.3", "clients.retry.policy=none",
                     "clients.retry.max_attempts=1", "clients.impatient_share=0",
                     "clients.patience_s=null"],
}
ERLANG_C = {"mm5_exponential": (5, 4.5, 10.0), "mm50": (50, 47.5, 10.0),
            "mm500": (500, 475.0, 5.0)}


def measure(case: str, resolution: float, seeds: list[int]) -> dict[str, float]:
    """Mean over seeds of the server's mean wait, blocking and timed-out shares."""
    rows = []
    for seed in seeds:
        s = sim.run([*BASE, *CASES[case], f"run.resolution_s={resolution}",
                     f"run.seed={seed}"]).summary["stations"]["server"]
        rows.append({"wait": s["wait_s"]["mean"], "block": s["rejected"] / s["offered"],
                     "timed_out": s["timed_out"] / s["offered"]})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def agree(case: str, cohort: dict[str, float], exact: dict[str, float]) -> None:
    if case == "blocking_k10":
        tol = max(0.10 * exact["block"], 0.005)
        assert abs(cohort["block"] - exact["block"]) <= tol, (case, cohort, exact)
    elif case == "drop_expired":
        assert exact["timed_out"] > 0.01  # the timeout is near the wait: it matters
        assert cohort["timed_out"] == pytest.approx(exact["timed_out"], rel=0.10), \
            (case, cohort, exact)
    else:
        assert cohort["wait"] == pytest.approx(exact["wait"], rel=0.10), (case, cohort, exact)


# -- which discipline ------------------------------------------------------------------------
def test_the_rule_for_small_is_requests_per_tick() -> None:
    # 5 workers of 0.1 s: 50 requests a second, 5 a tick at 0.1 s, 25 at 0.5 s: small.
    assert serves_singly(1, 5, 0.1, 0.1) and serves_singly(1, 5, 0.1, 0.5)
    # 50 workers: 50 a tick at 0.1 s (small), 250 at 0.5 s (fluid).
    assert serves_singly(1, 50, 0.1, 0.1) and not serves_singly(1, 50, 0.1, 0.5)
    assert not serves_singly(1, 500, 0.2, 0.1)
    assert serves_singly(1, 1, 1.0, 1.0 * SMALL_PER_TICK)
    assert not serves_singly(1, 1, 1.0, 1.01 * SMALL_PER_TICK)
    assert _discipline(False, 0.0, 1, 5, 0.1)[0] is Station
    assert _discipline(False, 0.5, 1, 5, 0.1)[0] is GranularStation
    assert _discipline(True, 0.5, 1, 5, 0.1)[0] is GranularOptimisticStation
    assert _discipline(False, 0.5, 40, 64, 0.004)[0] is FluidStation
    assert _discipline(True, 0.5, 1, 100000, 0.02)[0] is OptimisticFluidStation


def test_token_bucket_is_one_code_for_both_disciplines() -> None:
    b = TokenBucket(10.0, 5.0)
    assert b.take(3, 0.0) == 3 and b.level(0.0) == pytest.approx(2.0)
    assert b.take(5, 0.1) == 3  # 2 + 1 token
    b.spend(0.5, 1.0)
    assert b.level(1.0) == pytest.approx(5.0 - 0.5)
    # 45 requests a second against 40 tokens a second: every token is spent, so each
    # discipline admits the bucket's 40·T + burst, whatever the Poisson count offered.
    ov = [S + "rate_limit_rps=40", S + "rate_limit_burst=40"]
    for res in (0.0, 0.1, 0.5):
        s = sim.run([*BASE, *SMALL, *ov, "run.horizon_s=300", "run.warmup_s=0",
                     f"run.resolution_s={res}"]).summary["stations"]["server"]
        admitted = s["offered"] - s["rejected"]
        assert 0.99 * (40 * 300 + 40) <= admitted <= 40 * 300 + 40, (res, s)


# -- the small discipline keeps the books and the seed ---------------------------------------
def test_a_granular_station_keeps_the_books_and_is_deterministic() -> None:
    ov = [*BASE, *CASES["drop_expired"], S + "queue_limit=10", "run.horizon_s=200",
          "run.warmup_s=0", "run.resolution_s=0.5", "clients.retry.policy=full_jitter",
          "clients.retry.max_attempts=3"]
    a = sim.run(ov).summary
    b = sim.run(ov).summary
    drop = lambda s: json.dumps({k: v for k, v in s.items() if k != "perf"}, sort_keys=True)  # noqa: E731
    assert drop(a) == drop(b)
    st = a["stations"]["server"]
    assert st["offered"] == st["served"] + st["rejected"] + st["timed_out"] + st["in_system"]
    assert st["rejected"] > 0 and st["timed_out"] > 0
    lg = a["legit"]
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"]


# -- fidelity, fast: the exponential cases against Erlang C ----------------------------------
# Granular runs cost what exact mode does (and more in the analysis of per-request join
# latencies): the ones that serve a few hundred thousand requests are slow.
@pytest.mark.parametrize(("case", "resolution"), [
    ("mm50", 0.5), ("mm500", 0.1), ("mm500", 0.5), ("mm5_exponential", 0.5),
    pytest.param("mm50", 0.1, marks=pytest.mark.slow),
    pytest.param("mm5_exponential", 0.1, marks=pytest.mark.slow)])
def test_wait_is_erlang_c(case: str, resolution: float) -> None:
    c, load, mu = ERLANG_C[case]
    theory = erlang_c_wait(c, load, mu)[0]
    got = measure(case, resolution, [1, 2])
    assert got["wait"] == pytest.approx(theory, rel=0.10)


@pytest.mark.parametrize("case", ["ceiling_rho05", "ceiling_rho09"])
@pytest.mark.parametrize("resolution", [0.1, 0.5])
def test_wait_before_a_rate_ceiling_is_md1(case: str, resolution: float) -> None:
    rho = {"ceiling_rho05": 0.5, "ceiling_rho09": 0.9}[case]
    theory = md1_wait(rho, 1000.0)[0]
    got = measure(case, resolution, [1, 2])
    assert got["wait"] == pytest.approx(theory, rel=0.10)


# -- fidelity, slow: every case against exact mode -------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_cohort_mode_agrees_with_exact_mode(case: str) -> None:
    seeds = [1, 2, 3]
    exact = measure(case, 0.0, seeds)
    for resolution in (0.1, 0.5):
        agree(case, measure(case, resolution, seeds), exact)

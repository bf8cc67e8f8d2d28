"""Admission limits that bind: cohort mode against Erlang B and exact mode.

**Connections.** A station with ``connections_per_instance`` and workers to spare,
Poisson arrivals and no retries is M/G/c/c: a request finds all ``c`` connections held
and is turned away with the Erlang B probability at offered load ``a = λ·h`` (``h`` the
mean hold, here the mean service time), whatever the hold's distribution. Exact mode meets it
(``tests/test_theory.py``). Cohort mode shares a binding limit among a tick's arrivals
at the tick's end: these tests hold it to Erlang B on cases drawn from a seeded
generator (limit 200-3,000, load 0.85-1.3 of it, holds 0.05-0.5 s, exponential and
lognormal), at the tick ``auto`` picks, and hold the expected loss of a tick
(``connections_kept``) to a direct simulation of the walk it approximates.

Measured when the share was written (2026-12-04; limit 500, a = 500, exponential holds
of 0.13 s, exact mode 3.55% blocked): cohort mode at 0.1 s ticks blocked 35.0% before
(the tick's arrivals held their connections from its end and gave them back at once),
and 3.5% after, at every tick from 0.1 s to 0.025 s.

**Token buckets.** A rate limit whose burst is less than a tick's tokens: exact mode's
requests take the tokens as they come, so a tick's arrivals use all the tick adds, not
only the burst the bank holds at its end. Cases drawn as above (rate 1,000-5,000/s,
burst 0.5%-100% of a second's tokens, load 0.9-1.2), cohort mode at the tick ``auto``
picks against exact mode on the same seed. Measured when the window was walked
(2026-12-04; rate 5,000/s at load 1): a burst of 100 blocked 80.0% at 0.1 s ticks
before, 0.50% after, exact mode 0.52%.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.engine.admission import connections_kept

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_theory import erlang_b

S = "architecture.stations.server."


def draw_case(seed: int) -> dict[str, float]:
    """A loss system near its limit: cap, load share, mean hold, hold distribution."""
    rng = np.random.default_rng(seed)
    return {"cap": int(rng.integers(200, 3001)), "load": float(rng.uniform(0.85, 1.3)),
            "hold": float(np.exp(rng.uniform(np.log(0.05), np.log(0.5)))),
            "lognormal": bool(rng.integers(2))}


def blocked_share(case: dict[str, float], resolution: str, seed: int
                  ) -> tuple[float, dict[str, object]]:
    cap, hold = int(case["cap"]), case["hold"]
    rate = case["load"] * cap / hold
    over = ["run.report=false", "run.progress=false", "architecture=single_station",
            "arrivals=constant", f"arrivals.rate={rate:.6g}", "clients.retry.max_attempts=1",
            f"{S}workers_per_instance=1000000", f"{S}connections_per_instance={cap}",
            f"{S}service.mean_s={hold:.6g}", "run.horizon_s=120", "run.warmup_s=20",
            f"run.resolution_s={resolution}", "run.exact_budget_s=0", f"run.seed={seed}"]
    if case["lognormal"]:
        over += [f"{S}service.dist=lognormal", f"{S}service.cv=1.5"]
    s = sim.run(over).summary
    st = s["stations"]["server"]
    return st["rejected"] / max(1, s["legit"]["arrived"]), dict(s["resolution"])


@pytest.mark.parametrize("seed", range(6))
def test_cohort_mode_blocks_as_erlang_b(seed: int) -> None:
    case = draw_case(seed)
    share, res = blocked_share(case, "auto", seed)
    cap = int(case["cap"])
    want = erlang_b(cap, case["load"] * cap)
    assert res["mode"] == "cohort"
    assert res["tick_s"] <= case["hold"] + 1e-12, res  # auto: a tick per shortest hold
    err = abs(share - want)
    assert err <= max(0.1 * want, 0.005), (
        f"seed {seed} {json.dumps(case)}: cohort {share:.4f} at {res['tick_s']} s, "
        f"Erlang B {want:.4f}")


def draw_bucket(seed: int) -> dict[str, float]:
    """A rate limit near its load: rate, burst (a share of a second's tokens), load."""
    rng = np.random.default_rng(1000 + seed)
    rate = float(rng.integers(1000, 5001))
    return {"rate": rate, "burst": round(rate * float(np.exp(rng.uniform(np.log(0.005), 0)))),
            "load": float(rng.uniform(0.9, 1.2))}


def rate_limited_share(case: dict[str, float], resolution: str, seed: int) -> float:
    over = ["run.report=false", "run.progress=false", "architecture=single_station",
            "arrivals=constant", f"arrivals.rate={case['load'] * case['rate']:.6g}",
            "clients.retry.max_attempts=1", f"{S}workers_per_instance=1000000",
            f"{S}service.mean_s=0.05", f"{S}rate_limit_rps={case['rate']:g}",
            f"{S}rate_limit_burst={max(1, case['burst']):g}", "run.horizon_s=80",
            "run.warmup_s=10", f"run.resolution_s={resolution}", "run.exact_budget_s=0",
            f"run.seed={seed}"]
    s = sim.run(over).summary
    return float(s["stations"]["server"]["rejected"] / max(1, s["legit"]["arrived"]))


@pytest.mark.parametrize("seed", range(4))
def test_cohort_mode_rate_limits_as_exact_mode(seed: int) -> None:
    case = draw_bucket(seed)
    cohort, exact = rate_limited_share(case, "auto", seed), rate_limited_share(case, "0", seed)
    assert abs(cohort - exact) <= max(0.1 * exact, 0.005), (
        f"seed {seed} {json.dumps(case)}: cohort {cohort:.4f}, exact {exact:.4f}")


@pytest.mark.parametrize(("n", "free0", "free1"), [
    (400, 20, 420), (400, 0, 380), (400, 60, 420), (100, 5, 90), (1000, 0, 1000),
    (50, 10, 30), (300, 100, 150)])
def test_expected_loss_of_a_tick_is_the_walks(n: int, free0: int, free1: int) -> None:
    """The free count over a tick is a walk: one down per arrival, one up per release,
    in random order; requests are lost where it would go below zero. ``connections_kept``
    approximates its expectation by a Brownian bridge; here the walk itself is run."""
    r = free1 - free0
    rng = np.random.default_rng(7)
    steps = np.concatenate([-np.ones(n), np.ones(max(r, 0))])
    lost = []
    for _ in range(4000):
        walk = free0 + np.cumsum(rng.permutation(steps))
        lost.append(max(0.0, -float(walk.min())))  # the reflection at zero
    sim_kept = n - float(np.mean(lost))
    kept = connections_kept(n, free0, free1)
    assert abs(kept - sim_kept) <= max(0.01 * n, 1.0), (kept, sim_kept)


def test_no_releases_keep_what_is_free() -> None:
    assert connections_kept(100, 40, 40) == 40
    assert connections_kept(30, 40, 40) == 30
    assert connections_kept(0, 5, 9) == 0

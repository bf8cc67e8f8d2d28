"""The renewal function behind a burst's queued starts (``sim.engine.renewal``).

``M(t)``, the expected services a worker started afresh completes by ``t``, against its
closed forms (exponential: ``t / S``; deterministic: ``floor(t / S)``), against renewal
theory's asymptote far from the start, and against Monte Carlo for the distributions
the samplers draw, at cvs drawn at random; then the queued starts of a burst against
exact mode's for one worker.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from sim.engine import Cohort, Sampler, Station
from sim.engine.renewal import SPAN, queued_starts, renewal_table, renewals

X = np.array([0.1, 0.3, 0.7, 1.0, 1.5, 2.5, 4.0, 8.0, 15.0, 30.0])


def test_exponential_and_deterministic_closed_forms() -> None:
    m = renewals(renewal_table("exponential", 1.0), X)
    assert m == pytest.approx(X, rel=2e-3)
    d = renewals(renewal_table("deterministic", 0.0), X)
    assert d == pytest.approx(np.floor(X + 1e-9), abs=1e-9)


def monte_carlo(dist: str, cv: float, x: np.ndarray, paths: int, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the completions by each ``x`` (units of the mean),
    drawn with the sampler exact mode serves by."""
    s = Sampler(np.random.default_rng(seed), dist, 1.0, cv)
    horizon = float(x.max())
    counts = np.zeros((paths, len(x)))
    for p in range(paths):
        t, done = 0.0, []
        while t <= horizon:
            t += s() / s.mean
            done.append(t)
        counts[p] = np.searchsorted(np.asarray(done), x, side="right")
    return counts.mean(axis=0), counts.std(axis=0, ddof=1) / math.sqrt(paths)


CASES = [(dist, float(cv)) for dist, cv in zip(
    ["lognormal", "gamma", "normal"] * 3,
    np.round(np.random.default_rng(11).uniform(0.2, 2.5, 9), 3), strict=True)]


@pytest.mark.parametrize(("dist", "cv"), CASES)
def test_renewal_function_against_monte_carlo(dist: str, cv: float) -> None:
    x = X[X <= 10.0]
    mean, se = monte_carlo(dist, cv, x, 4000, seed=round(cv * 1000))
    got = renewals(renewal_table(dist, cv), x)
    assert np.all(np.abs(got - mean) <= 4.0 * se + 0.005 * mean + 1e-3), (got, mean, se)


@pytest.mark.parametrize(("dist", "cv"), CASES)
def test_renewal_function_reaches_its_asymptote(dist: str, cv: float) -> None:
    """Far from the start ``M(x) = x + (cv² − 1) / 2`` (the folded normal's cv is its
    own, not the one it is drawn with)."""
    s = Sampler(np.random.default_rng(0), dist, 1.0, cv)
    own = s.sd / s.mean
    got = renewals(renewal_table(dist, cv), np.array([SPAN]))[0]
    assert got == pytest.approx(SPAN + (own * own - 1.0) / 2.0, abs=0.02 * max(1.0, own * own))


@pytest.mark.parametrize(("dist", "cv"), [("deterministic", 0.0), ("exponential", 1.0)])
def test_one_worker_starts_its_queue_at_each_completion(dist: str, cv: float) -> None:
    """One worker of mean 1 s takes a request at 0 and five more arrive with it: they
    start at 1, 2, .. 5 s in exact mode (on average, for an exponential service), and the
    next could start at 6 s."""
    starts, nxt = queued_starts(dist, cv, 1.0, 1, 0, 1, 0.0, 0, np.zeros(5))
    assert starts == pytest.approx([1, 2, 3, 4, 5], abs=0.01)
    assert nxt == pytest.approx(6.0, abs=0.01)
    env = simpy.Environment()
    st = Station(env, "s", instances=1, workers_per_instance=1,
                 service=Sampler(np.random.default_rng(0), dist, 1.0, cv))
    st.forward = lambda c: None
    for _ in range(6):
        st.offer(Cohort("a", 1, 0.0, 0.0))
    env.run()
    if dist == "deterministic":
        assert st.wait_sum / 6 == pytest.approx(sum(starts) / 6, abs=0.01)

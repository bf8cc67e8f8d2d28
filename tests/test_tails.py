"""Cohort mode's latency parts beyond two moments, and where a part's births lie.

A joined part's latency is recorded as a distribution matched to its mean, variance
and third cumulant (a shifted gamma; a normal when it is not skewed), so these check
the pieces against independent references: the gamma against scipy's, the third
cumulants of service times and stationary waits against sampled data (an M/D/1 queue
by Lindley's recursion), the windowed histogram against the distribution function it
spreads. Births: a part cut from a cohort in arrival order is born in its share of the
birth range, and a request a small station takes on alone is born at its place in the
window; the earliest birth, which caps a part's longest latency, narrows with the range
only where the births are in order.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.analysis.slo import _EDGES, _add_normals
from sim.engine import Cohort
from sim.engine.fluid import erlang_c_wait, md1_wait, service_k3
from sim.engine.streams import Sampler
from sim.tails import (
    mixture_max,
    mixture_quantiles,
    part_quantile,
    shifted_gamma_cdf,
)


@pytest.mark.parametrize("shape", [0.3, 2.0, 40.0])
def test_shifted_gamma_matches_scipy(shape: float) -> None:
    loc, scale = 0.2, 0.05
    mean, var, skew = (float(x) for x in stats.gamma.stats(shape, loc, scale, moments="mvs"))
    x = np.linspace(loc - 0.1, loc + 30 * scale, 200)
    z = (x - mean) / np.sqrt(var)
    assert np.allclose(shifted_gamma_cdf(z, skew), stats.gamma.cdf(x, shape, loc, scale),
                       atol=1e-12)
    # A negative skew is the reflected gamma.
    assert np.allclose(shifted_gamma_cdf(-z, -skew), stats.gamma.sf(x, shape, loc, scale),
                       atol=1e-12)


@pytest.mark.parametrize("skew", np.geomspace(1e-3, 0.1, 9))
def test_near_normal_gamma_within_its_bound(skew: float) -> None:
    """Up to ``WILSON_HILFERTY_MAX_SKEW`` the cube-root normal stands in for the gamma:
    within 1.4e-5 of scipy's gamma everywhere a part's mass lies."""
    from sim.tails import WILSON_HILFERTY_MAX_SKEW

    assert skew <= WILSON_HILFERTY_MAX_SKEW * (1 + 1e-12)
    shape = 4.0 / skew**2
    scale = np.sqrt(shape) ** -1  # unit standard deviation
    z = np.linspace(-9.0, 9.0 + 21.0 * skew, 4001)
    want = stats.gamma.cdf(z + shape * scale, shape, 0.0, scale)
    got = shifted_gamma_cdf(z, np.full(z.shape, skew))
    assert np.abs(got - want).max() < 1.4e-5
    # Just above the bound the incomplete gamma function takes over, to scipy's precision.
    above = np.full(z.shape, WILSON_HILFERTY_MAX_SKEW * 1.01)
    shape = 4.0 / above[0] ** 2
    scale = 1.0 / np.sqrt(shape)
    assert np.allclose(shifted_gamma_cdf(z, above),
                       stats.gamma.cdf(z + shape * scale, shape, 0.0, scale), atol=1e-12)


def test_shifted_gamma_is_normal_without_skew() -> None:
    z = np.linspace(-5, 5, 41)
    assert np.allclose(shifted_gamma_cdf(z, 0.0), stats.norm.cdf(z), atol=1e-15)
    # Just above the cut, the gamma is as good as normal.
    assert np.allclose(shifted_gamma_cdf(z, 2e-3), stats.norm.cdf(z), atol=1e-3)


def test_mixture_quantiles_of_gammas() -> None:
    shapes, scales, locs = np.array([1.0, 4.0]), np.array([0.1, 0.02]), np.array([0.0, 0.3])
    w = np.array([3.0, 1.0])
    m, v, g = (np.array(x) for x in stats.gamma.stats(shapes, locs, scales, moments="mvs"))
    sd = np.sqrt(v)
    qs = [0.5, 0.9, 0.99]
    got = mixture_quantiles(m, sd, w, qs, g * sd**3)
    for q, x in zip(qs, got, strict=True):
        cdf = (w * stats.gamma.cdf(x, shapes, locs, scales)).sum() / w.sum()
        assert cdf == pytest.approx(q, abs=1e-9)
    # Without third cumulants, the normal mixture as before: a thinner p99.
    assert mixture_quantiles(m, sd, w, qs)[2] < got[2]


def test_part_quantile_matches_scipy() -> None:
    shapes = np.array([0.5, 3.0])
    m, v, g = (np.array(x) for x in stats.gamma.stats(shapes, 0.1, 0.02, moments="mvs"))
    sd = np.sqrt(v)
    p = float(stats.norm.cdf(3.0))
    assert np.allclose(part_quantile(m, sd, g * sd**3, p),
                       stats.gamma.ppf(p, shapes, 0.1, 0.02), rtol=1e-9)
    # Reflected, and the normal's mean + 3 sd without skew.
    assert np.allclose(part_quantile(-m, sd, -g * sd**3, 1 - p),
                       -stats.gamma.ppf(p, shapes, 0.1, 0.02), rtol=1e-9)
    assert np.allclose(part_quantile(m, sd, None, p), m + 3 * sd)


@pytest.mark.parametrize("dist,cv", [("exponential", 1.0), ("gamma", 1.6), ("lognormal", 0.5),
                                     ("normal", 1.5), ("deterministic", 0.0)])
def test_service_k3_against_samples(dist: str, cv: float) -> None:
    s = Sampler(np.random.default_rng(7), dist, 0.05, cv)
    x = np.array([s() for _ in range(1_000_000)])
    k3 = service_k3(s)
    if dist == "deterministic":
        assert k3 == 0.0
        return
    assert k3 == pytest.approx(float(stats.kstat(x, 3)), rel=0.05)


def test_erlang_c_cumulants_of_its_mixture() -> None:
    # The M/M/c wait is 0 with probability 1 − pw, else exponential at rate cμ − λ.
    c, load, mu = 8, 6.5, 20.0
    mean, var, k3 = erlang_c_wait(c, load, mu)
    theta = (c - load) * mu
    pw = mean * theta
    gen = np.random.default_rng(3)
    n = 2_000_000
    w = np.where(gen.random(n) < pw, gen.exponential(1 / theta, n), 0.0)
    assert mean == pytest.approx(w.mean(), rel=0.01)
    assert var == pytest.approx(w.var(), rel=0.02)
    assert k3 == pytest.approx(float(stats.kstat(w, 3)), rel=0.05)


def test_md1_cumulants_against_lindley() -> None:
    rate, rho = 100.0, 0.7
    mean, var, k3 = md1_wait(rho, rate)
    gen = np.random.default_rng(5)
    gaps = gen.exponential(1 / (rho * rate), 400_000)
    w = np.empty(len(gaps))
    cur = 0.0
    for i, a in enumerate(gaps):  # Lindley: W' = max(0, W + S − A)
        cur = max(0.0, cur + 1 / rate - a)
        w[i] = cur
    w = w[1000:]
    assert mean == pytest.approx(w.mean(), rel=0.05)
    assert var == pytest.approx(w.var(), rel=0.1)
    assert k3 == pytest.approx(float(stats.kstat(w, 3)), rel=0.2)


def test_add_normals_spreads_a_gamma() -> None:
    shape, loc, scale = 1.5, 0.05, 0.04
    m, v, g = (float(x) for x in stats.gamma.stats(shape, loc, scale, moments="mvs"))
    hist = np.zeros((1, len(_EDGES) + 1))
    one = np.array([0])
    _add_normals(hist, one, np.array([m]), np.array([np.sqrt(v)]), np.array([2.0]), one,
                 np.array([g * v**1.5]))
    want = 2.0 * np.diff(np.concatenate([[0.0], stats.gamma.cdf(_EDGES, shape, loc, scale),
                                         [1.0]]))
    assert np.allclose(hist[0], want, atol=1e-12)


def test_fifo_cut_narrows_births() -> None:
    c = Cohort("legit", 10, born_s=5.0, start_s=5.0)
    c.born_spread = 1.0
    head = c.fifo_cut(4)
    assert (head.born_s, head.born_spread) == pytest.approx((4.7, 0.4))
    assert (c.born_s, c.born_spread) == pytest.approx((5.2, 0.6))
    # A bundle keeps its states' births and narrows its share of them.
    b = Cohort("legit", 10, born_s=5.0, start_s=5.0)
    b.mix = np.array([6, 4])
    b.mix_gen = np.random.default_rng(1)
    part = b.fifo_cut(5)
    assert (part.born_u0, part.born_u1, b.born_u0, b.born_u1) == pytest.approx((0, 0.5, 0.5, 1))
    part.narrow_births(0.5, 0.5)
    assert part.born_u0 == part.born_u1 == pytest.approx(0.25)


def test_fifo_cut_narrows_the_earliest_birth() -> None:
    c = Cohort("legit", 10, born_s=5.0, start_s=5.0)
    c.born_spread = 1.0
    c.born_min = 4.5
    head = c.fifo_cut(4)
    assert (head.born_min, c.born_min) == pytest.approx((4.5, 4.9))
    c.narrow_births(0.5, 0.5)  # one request, at its place in the window
    assert c.born_min == pytest.approx(c.born_s) == pytest.approx(5.2)
    # Merged births (a variance out of order) keep their earliest birth: the cut's
    # share of the ordered range says nothing of where the merged ones lie.
    m = Cohort("legit", 10, born_s=5.0, start_s=5.0)
    m.born_spread, m.born_var, m.born_min = 1.0, 4.0, 1.0
    tail = m.fifo_cut(5)
    assert (tail.born_min, m.born_min) == (1.0, 1.0)
    # A random split keeps the bound; so does a bundle, whose states hold the births.
    assert m.split(2).born_min == 1.0
    b = Cohort("legit", 10, born_s=5.0, start_s=5.0)
    b.mix, b.mix_gen, b.born_min = np.array([6, 4]), np.random.default_rng(1), 3.0
    assert b.fifo_cut(5).born_min == b.born_min == 3.0


def test_mixture_max_caps_each_part_at_its_bound() -> None:
    m, sd = np.array([10.0, 30.0, 20.0]), np.array([1.0, 3.3, 0.0])
    assert mixture_max(m, sd) == pytest.approx(39.9)  # mean + 3 sd
    # The second part holds nobody older than 35 s: the first part's 13 s and the
    # third's 20 s stand, and the max is the bound.
    assert mixture_max(m, sd, np.array([40.0, 35.0, 25.0])) == pytest.approx(35.0)
    assert mixture_max(m, sd, np.array([12.0, 31.0, 21.0])) == pytest.approx(31.0)
    # Point masses (exact mode's samples) are their own max.
    assert mixture_max(m, np.zeros(3)) == 30.0

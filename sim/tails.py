"""Latency tails: quantiles of weighted samples and of mixtures of skewed parts.

Cohort mode records a joined cohort's latencies as one part (a mean, a spread, a third
cumulant and a count) instead of one sample per request, and exact mode as samples with
weights. A part's distribution is a shifted gamma matched to its three cumulants (a
reflected one where it skews left, a normal where it hardly skews); a mixture of such
parts has quantiles found by root finding on its distribution function. The clients
(``sim.model``) read the join latency percentiles of a run through these, the stations
their waits, and the SLO judgement (``sim.analysis.slo``) spreads the same parts over its
latency histogram.

Pure numeric functions of arrays: this module imports nothing of ``sim`` (numpy and
scipy only), so the model and the analysis share it without one reaching into the other.
"""

from __future__ import annotations

import math

import numpy as np


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> list[float]:
    """Quantiles of samples with integer weights (cohort counts); nan when empty.

    Uses the inverse of the empirical distribution function (the smallest value whose
    cumulative weight reaches q of the total), which for unit weights is numpy's
    ``inverted_cdf`` method.
    """
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    total = weights.sum() if len(weights) else 0.0
    if total <= 0:
        return [math.nan for _ in qs]
    order = np.argsort(values, kind="stable")
    v, cw = values[order], np.cumsum(weights[order])
    out = []
    for q in qs:
        idx = int(np.searchsorted(cw, q * total - 1e-9 * total, side="left"))
        out.append(float(v[min(idx, len(v) - 1)]))
    return out


# Below this skewness a latency part is taken as normal: a gamma that close to symmetric
# moves no quantile a recorder can tell, and its shape 4 / skew² grows without bound.
GAMMA_MIN_SKEW = 1e-3
# A skewed part's mass lies within this many standard deviations per unit of skewness
# beyond the normal span on its long side: a gamma's tail falls as e^(−y), below 1e-18
# by y ≈ 42 scale units, which is 21·skew standard deviations.
SKEW_SPAN_SD = 21.0


def shifted_gamma_cdf(z: np.ndarray, skew: np.ndarray) -> np.ndarray:
    """The distribution function, at ``z`` standard deviations from the mean, of a
    shifted gamma with that skewness (a reflected one where it is negative); the normal
    where the skewness is below ``GAMMA_MIN_SKEW``. ``skew`` broadcasts against ``z``.

    A latency part (a service time, a queue wait, their sums) is matched on its first
    three cumulants: shape ``k = 4 / skew²``, scale ``sd·skew / 2`` and the shift that
    puts the mean in place. Erlang C waits and exponential or lognormal service times are
    skewed to the right; a normal with their mean and variance puts too little mass in
    the tail a p99 reads.
    """
    from scipy.special import ndtr

    z = np.asarray(z, dtype=float)
    g = np.broadcast_to(np.asarray(skew, dtype=float), z.shape)
    right = g >= GAMMA_MIN_SKEW
    left = g <= -GAMMA_MIN_SKEW
    if right.all():  # the common case (waits and service times skew right): no masks
        return _gamma_cdf(z, g)
    out = ndtr(z)
    if right.any():
        out[right] = _gamma_cdf(z[right], g[right])
    if left.any():
        out[left] = 1.0 - _gamma_cdf(-z[left], -g[left])
    return out


# Up to this skewness (gamma shape k = 4 / skew² ≥ 400) the Wilson–Hilferty cube-root
# normal stands in for the incomplete gamma function: its distribution function is
# within 1.4e-5 of the gamma's there (tests/test_tails.py), a tenth of a histogram
# bin's worth of a p99 tail, at a tenth of the cost (the incomplete gamma is slowest
# at large shapes, and a launch-size run evaluates some 10^7 of them).
WILSON_HILFERTY_MAX_SKEW = 0.1


def _gamma_cdf(z: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``shifted_gamma_cdf`` where every skewness ``g`` is positive."""
    near = g <= WILSON_HILFERTY_MAX_SKEW
    if near.all():
        return _wilson_hilferty_cdf(z, g)
    if not near.any():
        return _incomplete_gamma_cdf(z, g)
    out = np.empty(z.shape)
    out[near] = _wilson_hilferty_cdf(z[near], g[near])
    out[~near] = _incomplete_gamma_cdf(z[~near], g[~near])
    return out


def _incomplete_gamma_cdf(z: np.ndarray, g: np.ndarray) -> np.ndarray:
    from scipy.special import gammainc

    k = 4.0 / (g * g)
    return gammainc(k, np.maximum(k + z * (2.0 / g), 0.0))


def _wilson_hilferty_cdf(z: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The gamma of shape ``k`` at ``y = k + 2z/g``: Φ of ((y/k)^⅓ − 1 + c) / √c with
    c = 1 / 9k, where y/k = 1 + z·g/2 and c = g² / 36."""
    from scipy.special import ndtr

    c = g * g / 36.0
    return ndtr((np.cbrt(np.maximum(1.0 + z * (g / 2.0), 0.0)) - 1.0 + c) / np.sqrt(c))


def part_quantile(means: np.ndarray, sds: np.ndarray, k3s: np.ndarray | None,
                  p: float) -> np.ndarray:
    """Each part's own ``p``-quantile (the distribution ``shifted_gamma_cdf`` gives it):
    with ``p = Φ(3)``, the three-deviation bound of a normal part, further out on a
    skewed part's long side."""
    from scipy.special import gammaincinv, ndtri

    m = np.asarray(means, dtype=float)
    s = np.asarray(sds, dtype=float)
    g = skewness(s, k3s)
    out = m + s * ndtri(p)
    sk = np.abs(g) >= GAMMA_MIN_SKEW
    if sk.any():
        gs = g[sk]
        k = 4.0 / (gs * gs)
        root = 2.0 / np.abs(gs)
        y = gammaincinv(k, np.where(gs > 0, p, 1.0 - p))
        out[sk] = m[sk] + s[sk] * np.where(gs > 0, y - k, k - y) / root
    return out


def skewness(sds: np.ndarray, k3s: np.ndarray | None) -> np.ndarray:
    """Skewness ``k3 / sd³`` of parts (0 where there is no spread or no third cumulant)."""
    s = np.asarray(sds, dtype=float)
    if k3s is None:
        return np.zeros(s.shape)
    k3 = np.asarray(k3s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, k3 / np.where(s > 0, s, 1.0) ** 3, 0.0)


def tail_span(sds: np.ndarray, skew: np.ndarray, sd_span: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """How far below and above its mean a part's mass reaches: ``sd_span`` deviations,
    plus ``SKEW_SPAN_SD`` per unit of skewness on the long side; on the short side no
    further than the gamma's support, which ends ``2 / |skew|`` deviations away."""
    g = np.abs(skew)
    with np.errstate(divide="ignore", over="ignore"):  # 2 / g, discarded, where g ~ 0
        short = np.minimum(sd_span, np.where(g >= GAMMA_MIN_SKEW, 2.0 / g, sd_span))
    long = sd_span + SKEW_SPAN_SD * g
    right = skew > 0
    return sds * np.where(right, short, long), sds * np.where(right, long, short)


def mixture_max(means: np.ndarray, sds: np.ndarray, his: np.ndarray | None = None) -> float:
    """The longest latency of a mixture of parts: each part's mean + 3 sd (its mean where
    sd=0, as exact mode's samples are), but no more than its bound ``his`` where given.

    Cohort mode records each part's bound: its last answer less its earliest birth
    (``Cohort.born_min``). Merged retries carry a birth spread of several seconds, and a
    part's mean + 3 sd can then lie beyond the oldest request it holds; the bound caps
    the max only. The quantiles keep the parts' distributions: those match the mean,
    variance and third cumulant, and cutting their tails at the bound would take mass
    off the top without putting it back (a lower mean than the one recorded, and a
    p99 pulled down by the share cut off).
    """
    top = np.asarray(means, dtype=float) + 3 * np.asarray(sds, dtype=float)
    if his is not None:
        top = np.minimum(top, np.asarray(his, dtype=float))
    return float(top.max())


def mixture_quantiles(means: np.ndarray, sds: np.ndarray, weights: np.ndarray,
                      qs: list[float], k3s: np.ndarray | None = None) -> list[float]:
    """Quantiles of a weighted mixture of parts (point masses where sd=0).

    Cohort mode records a joined cohort's latencies as one part (mean, spread, count)
    instead of one sample per request: a normal, or with third cumulants ``k3s`` a
    shifted gamma matched to the three (``shifted_gamma_cdf``).
    """
    m = np.asarray(means, dtype=float)
    s = np.asarray(sds, dtype=float)
    w = np.asarray(weights, dtype=float)
    total = w.sum() if len(w) else 0.0
    if total <= 0:
        return [math.nan for _ in qs]
    if not np.any(s > 0):
        return weighted_quantiles(m, w, qs)
    safe = np.where(s > 0, s, 1.0)
    g = skewness(s, k3s)
    below, above = tail_span(s, g, 8.0)
    lo_i, hi_i = m - below, m + above  # where each part's mass lies (a point: its mean)
    by_hi = np.argsort(hi_i, kind="stable")
    hi_sorted = hi_i[by_hi]
    w_below = np.concatenate([[0.0], np.cumsum(w[by_hi])])

    def cdf(x: float) -> float:
        # Parts wholly below x count in full; only those whose mass straddles x need
        # their distribution function (near a quantile, a small share of them).
        full = w_below[np.searchsorted(hi_sorted, x, side="right")]
        idx = np.flatnonzero((lo_i < x) & (hi_i > x))
        z = shifted_gamma_cdf((x - m[idx]) / safe[idx], g[idx])
        return float((full + (w[idx] * z).sum()) / total)

    # Brent's method on cdf(x) - q: some ten evaluations where bisection took sixty; at a
    # step (a point mass) it closes in on the step as bisection does.
    from scipy.optimize import brentq

    lo0 = float(lo_i.min())
    hi0 = float(hi_i.max())
    out = []
    for q in qs:
        if cdf(lo0) >= q:
            out.append(lo0)
            continue
        out.append(float(brentq(lambda x, q=q: cdf(x) - q, lo0, hi0, xtol=1e-9)))
    return out

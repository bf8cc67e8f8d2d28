"""Arrival curves: how many listeners press "join", second by second.

A curve is a rate function ``rate(t)`` in arrivals per second. Arrivals are a
non-homogeneous Poisson process with that rate, sampled by inverting the cumulative
intensity Λ(t) on a fine grid (exact for the piecewise-linear rate between grid points).

The flash crowd is the shape of a scheduled Space: a share of the audience arrives early
(uniformly over a window before the start ``t0_s``); at ``t0_s`` a push notification goes
out, sent uniformly over ``push_window_s``, and each recipient reacts after a lognormal
delay (median ``reaction_median_s``, log-sd ``reaction_sigma``); the rest trickle in as
a long tail decaying exponentially after the start (``tail_tau_s``). ``audience`` is the
total number of clients over all time, the main knob.

A ``batch`` is not a rate: exactly ``count`` clients arrive together at ``t0_s`` (the
contending clients of a benchmark, or everyone a cache flush sends back at once). Its
rate function is zero everywhere and carries the batch as ``batches``; ``ArrivalCurve``
adds it to the cumulative count, to exact-mode arrival times and to the count of the
cohort-mode tick holding ``t0_s``, with no random draw. A ``sum`` may mix batches with
rates.

Both modes draw the same crowd for the same seed while that is cheap: below
``SHARED_DRAW_MAX`` expected arrivals, cohort mode bins the very arrival times exact mode
would draw (the same stream, the same draw) into its ticks, so switching the mode
changes the model, not the crowd. Above it (launch scale, where one draw's noise is a
fraction of a percent), cohort mode draws a Poisson count per tick instead, without
holding a time per client.

Left out: secondary surges (add a second flash crowd in a ``sum``) and correlation
between arrivals beyond what the rate says.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import ndtr

from ..config import ArrivalsConfig, component_config, read_trace

RateFn = Callable[[np.ndarray], np.ndarray]
# Expected arrivals below which cohort mode bins exact mode's arrival times (8 MB of times).
SHARED_DRAW_MAX = 1_000_000


class BatchRate:
    """The rate function of batches: zero, with the batches as ``(t0_s, count)`` pairs."""

    def __init__(self, batches: list[tuple[float, int]],
                 rate: RateFn | None = None) -> None:
        self.batches = batches
        self._rate = rate

    def __call__(self, t: np.ndarray) -> np.ndarray:
        if self._rate is not None:
            return self._rate(t)
        return np.zeros_like(np.asarray(t, dtype=float))


def rate_function(a: ArrivalsConfig, key: str = "arrivals") -> RateFn:
    """The rate function of a validated arrivals config (vectorised over ``t``)."""
    k = a.kind
    if k == "constant":
        rate = float(a.rate)
        return lambda t: np.full_like(np.asarray(t, dtype=float), rate)
    if k == "ramp":
        t_a, t_b, r_a, r_b = a.start_s, a.end_s, a.rate_start, a.rate_end

        def ramp(t: np.ndarray) -> np.ndarray:
            t = np.asarray(t, dtype=float)
            frac = np.clip((t - t_a) / (t_b - t_a), 0.0, 1.0)
            inside = (t >= t_a) & (t <= t_b)
            return np.where(inside, r_a + (r_b - r_a) * frac, 0.0)

        return ramp
    if k == "diurnal":
        base, amp, period, phase = a.base_rate, a.amplitude, a.period_s, a.phase_s
        return lambda t: base * (1.0 + amp * np.sin(2 * math.pi * (np.asarray(t) - phase)
                                                     / period))
    if k == "trace":
        ts, rs = read_trace(f"{key}.path", a.path)
        t_arr, r_arr = np.array(ts), np.array(rs) * a.scale
        return lambda t: np.interp(np.asarray(t, dtype=float), t_arr, r_arr, left=0.0, right=0.0)
    if k == "flash_crowd":
        return _flash_crowd(a)
    if k == "batch":
        return BatchRate([(float(a.t0_s), int(a.count))])
    if k == "sum":
        parts = [rate_function(component_config(f"{key}.components[{i}]", c),
                               f"{key}.components[{i}]")
                 for i, c in enumerate(a.components)]
        batches = [b for f in parts for b in getattr(f, "batches", [])]

        def total(t: np.ndarray) -> np.ndarray:
            return np.sum([f(t) for f in parts], axis=0)

        return BatchRate(batches, total) if batches else total
    raise ValueError(f"unknown arrival kind {k!r}")


def _flash_crowd(a: ArrivalsConfig) -> RateFn:
    n, t0 = float(a.audience), float(a.t0_s)
    early, tail = a.early_share, a.tail_share
    push = 1.0 - early - tail
    w_early, w_push, tau = a.early_window_s, a.push_window_s, a.tail_tau_s
    sigma, median = a.reaction_sigma, a.reaction_median_s

    def reaction_cdf(x: np.ndarray) -> np.ndarray:
        return lognorm_cdf(x, sigma, median)

    def rate(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        if early > 0:
            out += np.where((t >= t0 - w_early) & (t < t0), early / w_early, 0.0)
        # Notification sent uniformly over [t0, t0 + w_push], then a lognormal reaction:
        # the density is (F(t - t0) - F(t - t0 - w)) / w.
        x = t - t0
        out += push * (reaction_cdf(np.maximum(x, 0.0))
                       - reaction_cdf(np.maximum(x - w_push, 0.0))) / w_push
        out += np.where(x >= 0, tail * np.exp(-np.maximum(x, 0.0) / tau) / tau, 0.0)
        return n * out

    return rate


def lognorm_cdf(x: np.ndarray, sigma: float, median: float) -> np.ndarray:
    """The lognormal distribution function, ``scipy.stats.lognorm(s=sigma,
    scale=median).cdf`` with the same arithmetic (so the same bits), without loading
    ``scipy.stats``, which takes longer than a launch-size cohort run's setup."""
    z = np.asarray(x, dtype=float) / median
    out = np.zeros_like(z)
    pos = z > 0
    out[pos] = ndtr(np.log(z[pos]) / sigma)
    return out


class ArrivalCurve:
    """A rate function with its cumulative intensity on a grid, for sampling."""

    def __init__(self, rate: RateFn, horizon_s: float, grid_s: float | None = None) -> None:
        self.rate = rate
        self.horizon_s = float(horizon_s)
        # Batches that arrive inside the horizon (the run ends before the others).
        self.batches = [(t, n) for t, n in getattr(rate, "batches", []) if t < horizon_s]
        step = grid_s or min(0.05, horizon_s / 1000)
        n = max(2, math.ceil(horizon_s / step) + 1)
        self.t = np.linspace(0.0, horizon_s, n)
        r = np.maximum(rate(self.t), 0.0)
        self.cum = np.concatenate([[0.0], np.cumsum((r[1:] + r[:-1]) * np.diff(self.t) / 2)])

    @property
    def expected_total(self) -> float:
        return float(self.cum[-1]) + sum(n for _, n in self.batches)

    def expected_between(self, t_a: float, t_b: float) -> float:
        batch = sum(n for t, n in self.batches if t_a <= t < t_b)
        return float(np.interp(t_b, self.t, self.cum) - np.interp(t_a, self.t, self.cum)
                     + batch)

    def sample_times(self, gen: np.random.Generator) -> np.ndarray:
        """Arrival times of one realisation on [0, horizon), sorted."""
        total = float(self.cum[-1])
        times = np.empty(0)
        if total > 0:
            # Unit-rate Poisson points on [0, Λ(T)], mapped back through Λ⁻¹.
            k = gen.poisson(total)
            points = np.sort(gen.uniform(0.0, total, size=k))
            times = np.interp(points, self.cum, self.t)
        if self.batches:
            times = np.sort(np.concatenate([times, *(np.full(n, t) for t, n in self.batches)]),
                            kind="stable")
        return times

    def sample_counts(self, gen: np.random.Generator, tick_s: float) -> np.ndarray:
        """Poisson counts per tick of length ``tick_s`` (cohort mode): exact mode's arrival
        times binned, below SHARED_DRAW_MAX expected arrivals (see the module docstring)."""
        edges = np.arange(0.0, self.horizon_s + tick_s, tick_s)
        if self.expected_total <= SHARED_DRAW_MAX:
            # (A millionth of a tick of slack: 20.0 / 0.1 is 199.99999999999997.)
            ticks = np.floor(self.sample_times(gen) / tick_s + 1e-6).astype(np.int64)
            return np.bincount(np.minimum(ticks, len(edges) - 2), minlength=len(edges) - 1)
        lam = np.diff(np.interp(edges, self.t, self.cum))
        counts = gen.poisson(np.maximum(lam, 0.0))
        for t, n in self.batches:
            counts[min(int(t // tick_s), len(counts) - 1)] += n
        return counts

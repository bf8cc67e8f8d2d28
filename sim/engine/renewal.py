"""When workers that started together free up: the renewal function of a service time.

A fluid station (``sim.engine.fluid``) serves a burst that reaches it free in two parts:
the requests that find idle workers start as they arrive, the others as workers free up.
Workers that had been busy for a while free up one ``S / c`` after another (a stationary
stream); workers that started together do not. Each is a renewal process started
afresh, and the expected number of services it completes within ``t`` is the renewal
function ``M(t)``, which depends on the whole service-time distribution, not only on
its mean: a deterministic service completes nothing before ``S`` and then all of them
at once; an exponential one ``t / S`` from the start; one with cv 2 (many short
services and a few long ones) most of a service's worth within a fifth of ``S``. Far
from the start it runs parallel to ``t / S``, ``(cv² − 1) / 2`` above it (renewal
theory's asymptote), but not near it, where a burst's first queued requests wait.

``renewal_table`` solves the renewal equation ``M(t) = F(t) + ∫ M(t − u) dF(u)``
numerically on a grid of a 64th of the mean service time over sixteen of them (beyond,
the asymptote's slope), once per distribution and cv. ``queued_starts`` then gives the
times at which a burst's queued requests start: the request ranked ``k`` among those
that find no idle worker starts when the workers' expected completions reach ``k``,
the workers that started with the burst counted by ``M`` from their starts, and the
others as a stationary stream.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import gammainc, ndtr

from .streams import folded_normal_moments

STEP = 1.0 / 64.0  # the grid's step, in mean service times
SPAN = 16.0  # how far the grid reaches, in mean service times
POINTS = 1025  # points of the expected-completions curve a burst is read from
ROUNDS = 12  # at most, of the correction for workers idle until a request arrives
GRID = np.arange(round(SPAN / STEP) + 1) * STEP  # where the tables hold M and its integral


def service_cdf(dist: str, cv: float, x: np.ndarray) -> np.ndarray:
    """The distribution function of a service time in units of its mean, for the
    distributions ``sim.engine.Sampler`` draws (the folded normal at its own mean)."""
    if dist == "deterministic" or cv <= 0.0:
        return (x >= 1.0 - 1e-12).astype(float)
    if dist == "exponential":
        return -np.expm1(-x)
    if dist == "lognormal":
        s2 = math.log1p(cv * cv)
        with np.errstate(divide="ignore"):
            return ndtr((np.log(x) + s2 / 2.0) / math.sqrt(s2))
    if dist == "gamma":
        k = 1.0 / (cv * cv)
        return gammainc(k, k * x)
    if dist == "normal":
        # |N(1, cv)|, in units of its own mean.
        y = x * folded_normal_moments(1.0, cv)[0]
        return ndtr((y - 1.0) / cv) + ndtr((y + 1.0) / cv) - 1.0
    raise ValueError(f"no distribution function for {dist!r}")


@functools.cache
def renewal_table(dist: str, cv: float) -> tuple[np.ndarray, np.ndarray]:
    """``M`` and its integral ``∫₀ˣ M`` on the grid ``x = k·STEP`` (units of the mean
    service time), from the renewal equation: a completion in a step of the grid is
    followed by the renewals of the time left, the mean of ``M`` at the two ends of the
    step (within 0.1% of ``x`` for an exponential service), or, for a deterministic
    service, whose one completion falls on a grid point, at that point (exact)."""
    n = len(GRID) - 1
    cdf = service_cdf(dist, cv, GRID)
    p = np.diff(cdf)
    m = np.zeros(n + 1)
    atoms = dist == "deterministic" or cv <= 0.0
    for k in range(1, n + 1):
        left = p[:k] @ m[k - 1::-1]  # sum of p_l·M_(k-l), l = 1 .. k
        if atoms:
            m[k] = cdf[k] + left
        else:
            # The right ends, M_(k-l+1); M_k itself (l = 1) on the left-hand side.
            right = p[1:k] @ m[k - 1:0:-1]
            m[k] = (cdf[k] + (left + right) / 2.0) / (1.0 - p[0] / 2.0)
    integral = np.concatenate(([0.0], np.cumsum((m[1:] + m[:-1]) * (STEP / 2.0))))
    return m, integral


def renewals(table: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    """``M(x)`` (0 before the start; beyond the grid, its slope of one per mean)."""
    m = table[0]
    return np.where(x <= SPAN, np.interp(x, GRID, m, left=0.0),
                    m[-1] + (x - SPAN))


def integrated_renewals(table: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    """``∫₀ˣ M`` (0 before the start; beyond the grid, as ``M`` goes on)."""
    m, integral = table
    beyond = x - SPAN
    return np.where(x <= SPAN,
                    np.interp(x, GRID, integral, left=0.0),
                    integral[-1] + m[-1] * beyond + beyond * beyond / 2.0)


def _completions(table: tuple[np.ndarray, np.ndarray], mean_s: float, workers: int,
                 fresh: int, idle: int, window: float, end: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The expected completions over ``[0, end]`` (times and counts, rising): ``fresh``
    workers started at 0, ``idle`` one ``window / idle`` after another over
    ``[0, window)``, each completing its services back to back, and the others as a
    stationary stream."""
    t = np.linspace(0.0, end, POINTS)
    x = t / mean_s
    done = fresh * renewals(table, x) + (workers - fresh - idle) * x
    if idle:
        if window >= STEP * mean_s:
            spread = window / mean_s
            done += idle / spread * (integrated_renewals(table, x)
                                     - integrated_renewals(table, x - spread))
        else:
            done += idle * renewals(table, x)
    return t, done + 1e-9 * x  # strictly rising, where a deterministic service's is flat


def queued_starts(dist: str, cv: float, mean_s: float, workers: int, fresh: int,
                  idle: int, window: float, queued: int, arrive: np.ndarray
                  ) -> tuple[np.ndarray, float]:
    """When the requests that find no idle worker start, after the instant a burst began
    to arrive, and when the next one can: ``arrive`` holds their arrivals, ``queued`` how
    many of the instant found none before them. At ``workers`` workers of mean service
    ``mean_s``, ``fresh`` of them started at that instant, ``idle`` more as the burst's
    first requests arrived over ``[0, window)``, and the others were busy as a stationary
    stream (one completion every ``mean_s / workers``).

    A request starts when the expected completions reach its rank (1 for the first to
    find no idle worker), or as it arrives if that is later: a mean curve, close where
    completions are dense (many workers), and for one worker exact at a deterministic
    or exponential service (its k-th completion is due at ``k·S``, where ``M`` reaches
    ``k``), early at a more variable one (``M`` runs ``(cv² − 1) / 2`` above ``t / S``).
    A worker that frees up before the request it takes arrives waits for it, and
    its later services end that much later: the completions the curve counts fall
    behind by that idle time over the mean service, so the ranks after it are read that
    much further on, until the ranks move by less than a thousandth (at most ``ROUNDS``
    rounds: the correction overshoots and settles). Without it a burst at twice the rate
    of services of cv 2, which free workers early and often, waited 85% less than exact
    mode's; with one round, 171% more; settled, 8% more."""
    table = renewal_table(dist, round(cv, 12))
    q = len(arrive)
    ranks = queued + 1.0 + np.arange(q + 1)
    last = float(arrive[-1]) if q else 0.0
    # Far enough for the highest rank (``M(x) ≥ x − 1`` for any renewal process) and
    # the completions idle workers may lose (at most the burst's span each).
    end = (ranks[-1] + workers + 1.0 + q * last / mean_s) * mean_s / workers + window + mean_s
    t, done = _completions(table, mean_s, workers, fresh, idle, window, end)
    read = ranks
    for _ in range(ROUNDS):
        due = np.interp(read, done, t)
        idle_s = np.maximum(arrive - due[:q], 0.0)
        before, read = read, ranks + np.concatenate(([0.0], np.cumsum(idle_s))) / mean_s
        if np.max(np.abs(read - before)) < 1e-3:
            break
    due = np.interp(read, done, t)
    return np.maximum(due[:q], arrive), float(due[q])

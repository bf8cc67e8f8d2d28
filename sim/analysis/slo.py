"""SLO evaluation and failure detection over the metrics ticks.

The SLO is judged over a sliding window of ``window_s`` ending at each tick:

- join success ratio: successful join attempts ÷ finished attempts (successes plus
  rejections and timeouts) in the window, at least ``join_success_min``;
- p99 join latency (first attempt to joined) of clients who joined in the window, at
  most ``join_p99_max_s``.

Windows with fewer than ``least_attempts`` finished attempts are not judged: fewer than
``min_attempts`` (a quiet minute before the start says nothing), or so few that a single
failed attempt would put the ratio under ``join_success_min`` (at 99%, fewer than 100:
one timeout among 83 attempts is 98.8%, and says nothing about the tier). The first
breach is the end of the first window that fails. The bottleneck is the station that
saturated first in the run-up to the breach: utilization of at least 95% (of its
workers, or of its throughput ceiling ``max_rate_rps`` with a second of work queued) or
requests lost (rejected, timed out, or refused a listener slot); ties go to the station
that lost the most.

Attempts the clients refused locally (adaptive throttling, an open circuit breaker;
``legit.refused_locally``) count as failed attempts: the user was not let in.

Recovery (``recovered_s``, and the ``metastability`` block, which measures it from the
end of the trigger): see ``recovery``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .. import series as cols
from ..summary import Slo
from ..tails import (
    GAMMA_MIN_SKEW,
    WILSON_HILFERTY_MAX_SKEW,
    shifted_gamma_cdf,
    skewness,
    tail_span,
)

# Latency histogram: 100 log bins per decade from 0.1 ms to 1e5 s (bin width ~2.3%).
_LO, _HI, _PER_DECADE = -4.0, 5.0, 100
_EDGES = np.logspace(_LO, _HI, int((_HI - _LO) * _PER_DECADE) + 1)
SATURATED_UTILIZATION = 0.95
CEILING_QUEUE_S = 1.0  # a throughput ceiling binds once this much work waits for it
NORMAL_SPAN_SD = 9.0  # a normal component's mass beyond this many deviations is below 1e-18


def window_latency_p99(t_s: np.ndarray, lat_t: np.ndarray, lat_v: np.ndarray,
                       lat_w: np.ndarray, window_s: float, q: float = 0.99,
                       lat_sd: np.ndarray | None = None,
                       lat_k3: np.ndarray | None = None) -> np.ndarray:
    """Per tick, the q-quantile of join latency of clients who joined in the window."""
    return window_latency_quantiles(t_s, lat_t, lat_v, lat_w, window_s, (q,), lat_sd,
                                    lat_k3)[0]


def window_latency_quantiles(t_s: np.ndarray, lat_t: np.ndarray, lat_v: np.ndarray,
                             lat_w: np.ndarray, window_s: float, qs: tuple[float, ...],
                             lat_sd: np.ndarray | None = None,
                             lat_k3: np.ndarray | None = None) -> np.ndarray:
    """Per tick, the ``qs`` quantiles of join latency of clients who joined in the window
    (one row per quantile; NaN where nobody joined).

    Latencies are samples (exact mode) or, with ``lat_sd``, components (cohort mode):
    normals, or with third cumulants ``lat_k3`` shifted gammas
    (``sim.tails.shifted_gamma_cdf``), each spread over the histogram bins by
    its distribution function.
    """
    n_ticks = len(t_s)
    out = np.full((len(qs), n_ticks), math.nan)
    if n_ticks == 0 or len(lat_t) == 0:
        return out
    tick = np.searchsorted(t_s, lat_t, side="left").clip(0, n_ticks - 1)
    hist = np.zeros((n_ticks, len(_EDGES) + 1))
    point = np.ones(len(lat_v), dtype=bool) if lat_sd is None else ~(lat_sd > 0)
    b = np.searchsorted(_EDGES, np.maximum(lat_v[point], 1e-12), side="right")
    np.add.at(hist, (tick[point], b.clip(0, len(_EDGES))), lat_w[point])
    if lat_sd is not None and not point.all():
        _add_normals(hist, tick, lat_v, lat_sd, lat_w, np.nonzero(~point)[0], lat_k3)
    cum = np.cumsum(hist, axis=0)
    upper = np.concatenate([[_EDGES[0]], _EDGES, [np.inf]])  # upper edge of each bin
    dt = np.median(np.diff(t_s)) if n_ticks > 1 else t_s[0]
    span = max(1, round(window_s / dt))
    for i in range(n_ticks):
        h = cum[i] - (cum[i - span] if i >= span else 0.0)
        total = h.sum()
        if total <= 0:
            continue
        pos = np.searchsorted(np.cumsum(h), np.asarray(qs) * total - 1e-9, side="left")
        out[:, i] = upper[np.minimum(pos, len(upper) - 1)]
    return out


# Components per chunk of ``_add_normals``, and threads evaluating chunks at once (the
# distribution functions are numpy/scipy loops that release the GIL).
CHUNK = 2000
THREADS = max(1, min(4, os.cpu_count() or 1))


def _add_normals(hist: np.ndarray, tick: np.ndarray, lat_v: np.ndarray, lat_sd: np.ndarray,
                 lat_w: np.ndarray, idx: np.ndarray, lat_k3: np.ndarray | None = None
                 ) -> None:
    """Add the components ``idx`` (normals, or shifted gammas where ``lat_k3`` gives them
    a skew) to the per-tick histogram, each spread over the bins by its distribution
    function.

    A component's mass lies on the edges within ``NORMAL_SPAN_SD`` deviations of its
    mean, more on a skewed one's long side (``tail_span``; beyond, it has no mass a float
    can hold). Components are grouped by the kind of distribution function they take and
    by how many edges that is (within a factor of two) and, within a group, taken in
    order of their first edge, in chunks; a chunk evaluates
    the distribution function on the edges its components span, and its rows are added
    to their ticks' rows with one sparse product. Grouping by width keeps a narrow
    component from being evaluated across a wide neighbour's span. Chunks are evaluated
    on ``THREADS`` threads and added to the histogram in a fixed order, so the result does
    not depend on the threads. A launch-size cohort run has some 10^5 components: this
    was a fifth of its wall time when every component was evaluated on all 901 edges and
    added row by row.
    """
    if len(idx) == 0:
        return
    v, sd = lat_v[idx], lat_sd[idx]
    g = skewness(sd, None if lat_k3 is None else lat_k3[idx])
    below, above = tail_span(sd, g, NORMAL_SPAN_SD)
    lo = np.maximum(np.searchsorted(_EDGES, v - below) - 1, 0)
    hi = np.minimum(np.searchsorted(_EDGES, v + above) + 1, len(_EDGES))
    width = np.floor(np.log2(np.maximum(hi - lo, 1))).astype(np.int64)
    order = np.lexsort((lo, width, _cdf_kind(g)))
    chunks = [order[i:i + CHUNK] for i in range(0, len(order), CHUNK)]

    def masses(c: np.ndarray) -> tuple[np.ndarray, int, int, np.ndarray]:
        a, b = int(lo[c].min()), int(hi[c].max())
        cdf = shifted_gamma_cdf((_EDGES[None, a:b] - v[c, None]) / sd[c, None], g[c, None])
        mass = np.empty((len(c), b - a + 1))  # bins a..b (bin k lies below edge k)
        mass[:, 0] = cdf[:, 0]
        np.subtract(cdf[:, 1:], cdf[:, :-1], out=mass[:, 1:-1])
        np.subtract(1.0, cdf[:, -1], out=mass[:, -1])
        return c, a, b, mass

    def add(c: np.ndarray, a: int, b: int, mass: np.ndarray) -> None:
        from scipy.sparse import csr_matrix

        # Only the chunk's own ticks get rows: adding zeros to every other tick cost more
        # than the product itself.
        at, row = np.unique(tick[idx[c]], return_inverse=True)
        rows = csr_matrix((lat_w[idx[c]], (row, np.arange(len(c)))), shape=(len(at), len(c)))
        hist[at, a:b + 1] += rows @ mass

    if THREADS == 1 or len(chunks) == 1:
        for c in chunks:
            add(*masses(c))
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(THREADS) as pool:
        # A bounded window of chunks in flight, taken in order: memory stays a few chunks.
        pending = deque(pool.submit(masses, c) for c in chunks[:2 * THREADS])
        for c in chunks[2 * THREADS:]:
            add(*pending.popleft().result())
            pending.append(pool.submit(masses, c))
        while pending:
            add(*pending.popleft().result())


def _cdf_kind(g: np.ndarray) -> np.ndarray:
    """Which distribution function a component's skewness ``g`` takes (normal, the
    near-normal gamma, the incomplete gamma, a reflected gamma), so that a chunk holds
    one kind and evaluates it without masks."""
    return np.select([np.abs(g) < GAMMA_MIN_SKEW, g <= WILSON_HILFERTY_MAX_SKEW, g > 0],
                     [0, 1, 2], 3)


def window_success_ratio(ok: np.ndarray, bad: np.ndarray, span: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per tick, the share of attempts that succeeded among those finished in the
    trailing ``span`` ticks (NaN where none finished), and how many finished."""

    def rolling(x: np.ndarray) -> np.ndarray:
        c = np.cumsum(x)
        c[span:] = c[span:] - c[:-span].copy()
        return c

    ok_w, bad_w = rolling(ok), rolling(bad)
    finished = ok_w + bad_w
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(finished > 0, ok_w / finished, np.nan)
    return ratio, finished


def evaluate(ts: dict[str, np.ndarray], lat: tuple[np.ndarray, np.ndarray, np.ndarray],
             slo: Any, stations: list[str], lat_sd: np.ndarray | None = None,
             rate_caps: dict[str, float] | None = None, lat_k3: np.ndarray | None = None,
             ) -> tuple[Slo, dict[str, np.ndarray]]:
    """Judge the SLO; returns the summary part and extra time-series columns
    (``lat_sd`` and ``lat_k3``: cohort mode's latency components, see
    ``window_latency_quantiles``)."""
    t = ts[cols.TIME]
    dt = np.median(np.diff(t)) if len(t) > 1 else (t[0] if len(t) else 1.0)
    span = max(1, round(slo.window_s / dt))
    ok = ts[cols.ATTEMPTS_SUCCEEDED]
    bad = ts[cols.ATTEMPTS_FAILED]
    if cols.REFUSED_LOCALLY in ts:
        bad = bad + ts[cols.REFUSED_LOCALLY]

    ratio, finished = window_success_ratio(ok, bad, span)
    p50, p90, p99 = window_latency_quantiles(t, *lat, window_s=slo.window_s,
                                             qs=(0.5, 0.9, 0.99), lat_sd=lat_sd,
                                             lat_k3=lat_k3)
    judged = finished >= least_attempts(slo)
    breach = judged & (short_of_target(ratio, finished, slo)
                       | (np.nan_to_num(p99, nan=0.0) > slo.join_p99_max_s))
    first = int(np.argmax(breach)) if breach.any() else None
    out: Slo = {
        "met": first is None,
        "first_breach_s": None if first is None else float(t[first]),
        "bottleneck": None,
        "breached_s": float(breach.sum() * dt),
        "worst_success_ratio": float(np.nanmin(np.where(judged, ratio, np.nan)))
        if judged.any() else None,
        "worst_p99_s": float(np.nanmax(np.where(judged, p99, np.nan)))
        if judged.any() and np.isfinite(np.where(judged, p99, np.nan)).any() else None,
        "window_s": slo.window_s,
        "join_success_min": slo.join_success_min,
        "join_p99_max_s": slo.join_p99_max_s,
        "success_test": str(getattr(slo, "success_test", "ratio")),
    }
    if out["success_test"] != "ratio":
        out["success_confidence"] = float(slo.success_confidence)
    if first is not None:
        out["bottleneck"] = bottleneck(ts, stations, first, span, rate_caps)
        out["recovered_s"] = recovery(t, judged, breach, 0.0)[1]
    extra = {cols.SLO_SUCCESS_RATIO: ratio, cols.join_percentile(50): p50,
             cols.join_percentile(90): p90, cols.join_percentile(99): p99,
             cols.SLO_BREACH: breach.astype(float), cols.SLO_JUDGED: judged.astype(float)}
    return out, extra


def short_of_target(ratio: np.ndarray, finished: np.ndarray, slo: Any) -> np.ndarray:
    """Per window, whether its success share breaches ``join_success_min``.

    ``ratio`` (``slo.success_test``): the share is below the target. ``binomial``: the
    failures are more than a window meeting the target exactly would show with
    probability ``1 − success_confidence`` or more, P(X ≥ failures) < 1 − confidence for X
    binomial with the window's attempts and the failure budget 1 − target; as windows
    grow the test tends to the ratio's, and in a small one a failure or two is noise.
    """
    target = float(slo.join_success_min)
    if getattr(slo, "success_test", "ratio") != "binomial":
        return ratio < target
    from scipy.stats import binom

    n = np.rint(np.nan_to_num(finished)).astype(np.int64)
    failures = np.rint(np.nan_to_num(finished * (1.0 - ratio))).astype(np.int64)
    p_value = binom.sf(failures - 1, n, 1.0 - target)  # P(X >= failures)
    return (failures > 0) & (p_value < 1.0 - float(slo.success_confidence))


def least_attempts(slo: Any) -> int:
    """The finished attempts a window needs to be judged: ``min_attempts``, and enough
    that one failure alone cannot breach ``join_success_min`` (``1 / (1 − target)``; a
    target of 100% is breached by any failure, so it needs none beyond ``min_attempts``)."""
    target = float(slo.join_success_min)
    one_failure = math.ceil(1.0 / (1.0 - target) - 1e-9) if target < 1.0 else 1
    return max(1, int(slo.min_attempts), one_failure)


def recovery(t: np.ndarray, judged: np.ndarray, breach: np.ndarray, after_s: float
             ) -> tuple[bool | None, float | None]:
    """Whether and when the SLO holds again for good after ``after_s``.

    Recovered at the end of the first judged window, at or after ``after_s``, that meets
    the SLO with no breaching window after it up to the horizon (windows not judged, too
    quiet to say, neither break nor make a recovery). Returns ``(recovered,
    recovered_s)``: ``(False, None)`` if the last judged window at or after ``after_s``
    breaches (still down at the horizon); ``(None, None)`` if no window from ``after_s``
    on is judged. A window ending just after ``after_s`` still covers the time before
    it, so a system that was down recovers at the earliest one window after it came up.
    """
    after = t >= after_s - 1e-9
    seen = judged & after
    if not seen.any():
        return None, None
    bad = breach & after
    start = int(len(bad) - 1 - np.argmax(bad[::-1])) + 1 if bad.any() else 0
    good = np.nonzero(seen[start:] & ~breach[start:])[0]
    if not len(good):
        return False, None
    return True, float(t[start + good[0]])


def bottleneck(ts: dict[str, np.ndarray], stations: list[str], first: int, span: int,
               rate_caps: dict[str, float] | None = None) -> str:
    """The station that saturated first in the run-up to tick ``first``.

    A station with a throughput ceiling (``rate_caps``: requests per second, e.g. one hot
    key's write limit) also saturates when it serves at 95% of that ceiling with at least
    a second of requests queued for it (``CEILING_QUEUE_S``): its workers are then idle
    although it is the limit. Without the queue condition, a crowd peaking just under
    the ceiling would name it although another tier refused the requests.
    """
    lo = max(0, first - 2 * span)
    t = ts[cols.TIME]
    dt = np.diff(np.concatenate([[0.0], t]))[lo:first + 1]
    best: tuple[float, float, str] | None = None
    def col(name: str, what: str) -> np.ndarray:
        return ts[cols.station(name, what)][lo:first + 1]

    for name in stations:
        cap, busy = col(name, cols.CAPACITY), col(name, cols.BUSY)
        with np.errstate(invalid="ignore", divide="ignore"):
            util = np.where(cap > 0, busy / cap, 0.0)
            ceiling = (rate_caps or {}).get(name)
            if ceiling:
                # At its ceiling with at least a second of requests waiting for it.
                rate = np.where(dt > 0, col(name, cols.SERVED) / dt, 0.0)
                queued = col(name, cols.QUEUE) >= ceiling * CEILING_QUEUE_S
                util = np.where(queued, np.maximum(util, rate / ceiling), util)
        lost = col(name, cols.REJECTED) + col(name, cols.TIMED_OUT)
        if cols.station(name, cols.SLOTS_REFUSED) in ts:
            lost = lost + col(name, cols.SLOTS_REFUSED)
        sat = (util >= SATURATED_UTILIZATION) | (lost > 0)
        if not sat.any():
            continue
        when = float(np.argmax(sat))
        key = (when, -float(lost.sum()), name)
        if best is None or key < best:
            best = key
    if best is not None:
        return best[2]
    # Nothing saturated: the busiest station at the breach.
    utils = {}
    for name in stations:
        cap = col(name, cols.CAPACITY).sum()
        utils[name] = col(name, cols.BUSY).sum() / cap if cap > 0 else 0.0
    return max(utils, key=utils.__getitem__)

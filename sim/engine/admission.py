"""Admission controls in front of a station's queue, written once for every discipline.

Two controls turn requests away before they queue:

- ``TokenBucket``: ``rate_limit_rps`` tokens per second, at most ``burst`` banked; a
  request takes one token or is rejected (``rate_limited``). The exact discipline asks
  ``take(n)`` as each request arrives; the fluid discipline reads ``level`` to decide
  how many of a tick's arrivals fit, then ``spend``s what it admitted. Both see the same
  bucket: the level at ``now`` is the banked tokens plus what the rate added since the
  last change, capped at the burst.
- ``hold_connections``: a ``ConnectionLimit`` of requests in flight beyond a proxy tier;
  a cohort takes one connection per request, all or none, and keeps them (in
  ``Cohort.held``) until its attempt ends downstream; a cohort whose requests end over
  a window gives them back over it (``ConnectionLimit.release``).

What they leave out: per-source buckets (see ``sim.model.mitigation``) and connection
reuse; a connection is one request in flight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import erfcx

from .cohort import Cohort
from .pool import ConnectionLimit


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked, full at the start."""

    __slots__ = ("burst", "rate", "t", "tokens")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.tokens = float(burst if burst is not None else rate)
        self.burst = self.tokens
        self.t = 0.0

    def level(self, now: float) -> float:
        """Tokens available at ``now``."""
        return min(self.burst, self.tokens + self.rate * (now - self.t))

    def take(self, n: int, now: float) -> int:
        """Take up to ``n`` whole tokens now; returns how many were taken."""
        tokens = self.level(now)
        self.t = now
        took = min(n, int(tokens))
        self.tokens = tokens - took
        return took

    def spend(self, n: float, now: float) -> None:
        """Spend ``n`` tokens now (the caller checked ``level``)."""
        self.tokens = self.level(now) - n
        self.t = now

    def admit_window(self, arrivals: Sequence[tuple[int, float, float]], t0: float,
                     level0: float, now: float, gen: np.random.Generator) -> int:
        """How many requests of ``arrivals`` (count, first arrival, spread), all over
        ``[t0, now)``, take a token, with ``level0`` banked at ``t0``; spends them and
        leaves the bucket at ``now``.

        Exact mode's requests take a token each as they arrive, while tokens keep coming
        at the rate: a window's requests use the tokens it adds as they come, not only
        what the bank holds at its end (at most the burst, which may be less than a
        tick's tokens). The window is walked in bins small against the burst (at most
        ``WINDOW_BINS``): each cohort's requests drawn at random over the bins of its own
        arrivals, the tokens added evenly, the burst capping the bank at each bin's end;
        within a bin, what arrives takes what the bin has. Where the bank cannot reach
        the burst within the window (what it holds and what the window adds fit), one
        bin is the walk."""
        n = sum(a[0] for a in arrivals)
        span = max(0.0, now - t0)
        level = min(self.burst, level0)
        bins = 1
        if level + self.rate * span > self.burst:
            # The burst can cap the bank within the window: walk it.
            bins = max(1, min(WINDOW_BINS, math.ceil(4 * n / max(self.burst, 1.0))))
        counts = _binned(arrivals, t0, span, bins, gen)
        add, took = self.rate * span / bins, 0
        for a in counts:
            avail = level + add
            k = min(a, int(avail))
            took += k
            level = min(self.burst, avail - k)
        self.tokens, self.t = level, now
        return took


WINDOW_BINS = 256


def _binned(arrivals: Sequence[tuple[int, float, float]], t0: float, span: float,
            bins: int, gen: np.random.Generator) -> list[int]:
    """The requests of ``arrivals`` per bin of ``[t0, t0 + span)``: a cohort arriving
    over ``[t, t + w)`` spread at random over the bins that window covers."""
    if bins == 1:
        return [sum(a[0] for a in arrivals)]
    out = np.zeros(bins, dtype=np.int64)
    for count, t, w in arrivals:
        lo = min(bins - 1.0, max(0.0, (t - t0) / span * bins))
        hi = min(float(bins), max(lo, (t + w - t0) / span * bins))
        i, j = int(lo), max(int(lo) + 1, math.ceil(hi))
        if j - i == 1 or hi - lo <= 0.0:
            out[i] += count
            continue
        edges = np.clip(np.arange(i, j + 1, dtype=float), lo, hi)
        weights = np.diff(edges) / (hi - lo)
        out[i:j] += gen.multinomial(count, weights / weights.sum())
    return out.tolist()


def connections_free(limit: ConnectionLimit, now: float) -> int:
    """Connections a new request could take at ``now``."""
    return limit.free(now)


def connections_kept(n: float, free_start: float, free_end: float) -> float:
    """How many of ``n`` requests that arrived over a window get a connection, in
    expectation, when ``free_start`` connections were free at its start and
    ``free_end`` are at its end with none of the ``n`` admitted yet (cohort mode: a
    contended tick's arrivals share the limit at its end).

    In exact mode each request takes a connection as it arrives if one is free, while
    others end and give theirs back at random times. The free count over the window
    is then a walk from ``free_start``: one down per arrival, one up per release
    (``r = free_end − free_start`` of them), in random order. The requests lost are the
    walk's deepest excursion below zero (the reflection at the limit): at least
    ``n − free_end``, and more where the walk dips below zero on its way. Taken as a
    Brownian bridge from 0 to ``d = n − r`` with the variance of ``n`` steps one way and
    ``r`` the other in random order, ``σ² = 4nr / (n + r)``, the excursion beyond
    ``m ≥ max(0, d)`` has probability ``exp(−2m(m − d) / σ²)``, so the expected loss is
    ``max(0, d − free_start) + ∫ from max(free_start, d) of that``, which is
    ``exp(−2m(m − d)/σ²)·√(πσ²/8)·erfcx((m − d/2)·√2/σ)`` at ``m = max(free_start, d)``.
    With no releases the walk goes one way and the loss is ``max(0, n − free_start)``;
    sharing ``free_end`` alone (the walk's end, not its low point) would admit too many
    wherever releases and arrivals interleave: a limit near its load loses about half of
    exact mode's requests that way."""
    if n <= 0:
        return 0.0
    r = free_end - free_start
    d = n - r
    lost = max(0.0, d - free_start)
    if r > 0:
        var = 4.0 * n * r / (n + r)
        m = max(free_start, d, 0.0)
        sd = math.sqrt(var)
        lost += (math.exp(-2.0 * m * (m - d) / var) * math.sqrt(math.pi * var / 8.0)
                 * float(erfcx((m - d / 2.0) * math.sqrt(2.0) / sd)))
    return max(0.0, n - min(float(n), lost))


def hold_connections(limit: ConnectionLimit, c: Cohort) -> bool:
    """One connection per request of ``c``, all or none; True if they were taken."""
    n = c.count
    if limit.limit - limit.in_use < n or limit.acquire(n) < n:
        return False
    if c.held is None:
        c.held = [limit]
    else:
        c.held.append(limit)
    return True

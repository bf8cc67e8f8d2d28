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
  ``Cohort.held``) until its attempt ends downstream.

What they leave out: per-source buckets (see ``sim.model.mitigation``) and connection
reuse; a connection is one request in flight.
"""

from __future__ import annotations

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


def connections_free(limit: ConnectionLimit) -> int:
    """Connections a new request could take now."""
    return limit.limit - limit.in_use


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

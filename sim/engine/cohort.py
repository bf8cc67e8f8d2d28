"""The moving entity: a cohort of requests born together.

A cohort is ``count`` requests of one class (``legit`` or an attack vector) and one
attempt number, with one client deadline (in cohort mode, the mean of its requests'
deadlines, spread as their sends were). In exact mode every cohort has count 1 and the
simulation is a classic per-request model; in cohort mode a cohort carries the Poisson
count of a resolution tick. Everything that moves requests (stations, routing, clients,
recorders) adds and splits ``count`` rather than assuming one.

The engine does not interpret ``cls``; the domain model gives it meaning.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

INF = math.inf


class Cohort:
    """``count`` requests of one class and attempt, moving through the stations together."""

    __slots__ = (
        "attempt",
        "born_min",
        "born_s",
        "born_spread",
        "born_u0",
        "born_u1",
        "born_var",
        "cls",
        "count",
        "deadline_s",
        "deadline_spread",
        "done",
        "enqueued_s",
        "held",
        "impatient",
        "k3_s",
        "lag_s",
        "load_rps",
        "mix",
        "mix_gen",
        "owner",
        "reconnect",
        "sleep_s",
        "spread_s",
        "start_s",
        "station",
        "stop_at",
        "ticket",
        "var_s",
    )

    def __init__(
        self,
        cls: str,
        count: int,
        born_s: float,
        start_s: float,
        deadline_s: float = INF,
        attempt: int = 1,
        owner: Any = None,
    ) -> None:
        self.cls = cls
        self.count = count
        self.born_s = born_s  # the client's first attempt
        self.start_s = start_s  # this attempt
        self.deadline_s = deadline_s  # the client gives up on this attempt then
        self.attempt = attempt
        self.owner = owner  # who hears the outcome (the client model or an attack source)
        self.done = False  # set when the owner has heard the outcome (or timed out)
        self.enqueued_s = 0.0
        self.held: list[Any] | None = None  # pools holding a slot for this attempt
        self.impatient = False
        self.reconnect = False
        self.sleep_s = 0.0  # last backoff, for decorrelated jitter
        self.station: Any = None  # where it is now
        self.stop_at: str | None = None  # a station after which the request ends (attacks)
        # Cohort mode: the requests of a cohort are not all at one instant. They reach the
        # current station spread uniformly over [now, now + spread_s), in the order of
        # their births, which were spread uniformly over born_spread around born_s (a
        # mean), plus a variance born_var that is not in that order (merged retries);
        # var_s is the variance their service times added so far. Exact mode: all 0.
        self.spread_s = 0.0
        # Their deadlines, too, are spread uniformly over deadline_spread around
        # deadline_s (their mean), in the same order (FIFO): a client's attempt sent over
        # a tick. A cut in that order (``fifo_cut``) splits the range; a random split
        # keeps it.
        self.deadline_spread = 0.0
        self.born_spread = 0.0
        self.born_var = 0.0
        # The earliest of their births (a bound, not a moment): no request of the cohort
        # was born before it, so none is older than now − born_min. Merged retries keep
        # the earliest of the cohorts merged; a part keeps its cohort's, narrowed where
        # its births are known to be in order (``narrow_births``). Exact mode: born_s.
        self.born_min = born_s
        self.var_s = 0.0
        # A bundle's states keep their births (the owner's templates): a part cut in
        # arrival order holds the share [born_u0, born_u1) of each state's birth range.
        self.born_u0 = 0.0
        self.born_u1 = 1.0
        # The third cumulant of the service times and waits added so far, beside var_s
        # (their skew; ``sim.tails.shifted_gamma_cdf``). Exact mode: 0.
        self.k3_s = 0.0
        # Cohort mode: how long ago the cohort really reached the point where it is
        # handled now. A fluid station that admits a contended tick at the tick's end
        # serves it from its arrivals, so it may complete before the event that moves it
        # on; the next station and the client take it as arriving, or answered, this
        # much earlier (``sim.engine.fluid``). Exact mode: 0.
        self.lag_s = 0.0
        # Cohort mode: the offered rate a fluid station read as the cohort arrived, the
        # load its stationary queue is taken at however late it is served (-1: unset).
        self.load_rps = -1.0
        self.ticket: Any = None  # shared by the parts of one attempt (cohort mode)
        # A bundle (cohort mode): requests in several states the owner tells apart (for the
        # clients, retries of different attempt numbers) moving as one cohort. ``mix`` holds
        # the count of each state (summing to ``count``); a split draws the part's counts
        # at random (multivariate hypergeometric, with ``mix_gen``), as picking ``n`` of
        # the requests at random would. None: all requests are in one state.
        self.mix: np.ndarray | None = None
        self.mix_gen: np.random.Generator | None = None

    def split(self, n: int, mix: np.ndarray | None = None) -> Cohort:
        """Detach ``n`` of this cohort's requests into a new cohort with the same state.

        For a bundle, ``mix`` gives the detached part's count per state when the caller
        has drawn it (summing to ``n``); otherwise it is drawn here.
        """
        if not 0 < n < self.count:
            raise ValueError(f"split size must be in 1..{self.count - 1}, got {n}")
        other = Cohort(self.cls, n, self.born_s, self.start_s, self.deadline_s, self.attempt,
                       self.owner)
        other.done = self.done
        other.enqueued_s = self.enqueued_s
        other.held = list(self.held) if self.held else None
        other.impatient = self.impatient
        other.reconnect = self.reconnect
        other.sleep_s = self.sleep_s
        other.station = self.station
        other.stop_at = self.stop_at
        other.spread_s = self.spread_s
        other.deadline_spread = self.deadline_spread
        other.born_var = self.born_var
        other.born_spread = self.born_spread
        other.born_min = self.born_min
        other.born_u0 = self.born_u0
        other.born_u1 = self.born_u1
        other.var_s = self.var_s
        other.k3_s = self.k3_s
        other.lag_s = self.lag_s
        other.load_rps = self.load_rps
        other.ticket = self.ticket
        own = self.mix
        if own is not None:
            if mix is None:
                assert self.mix_gen is not None
                sub = self.mix_gen.multivariate_hypergeometric(own, n)
            else:
                sub = mix
            other.mix = sub
            other.mix_gen = self.mix_gen
            self.mix = own - sub
        self.count -= n
        return other

    def fifo_cut(self, n: int, mix: np.ndarray | None = None) -> Cohort:
        """Detach the first ``n`` requests in FIFO order (``split`` picks at random): the
        part takes the first share of the deadline and birth ranges, this cohort keeps
        the rest."""
        total = self.count
        part = self.split(n, mix)
        part.narrow_births(0.0, n / total)
        self.narrow_births(n / total, 1.0)
        width = self.deadline_spread
        if width > 0.0:
            lo = self.deadline_s - width / 2
            head = width * n / (n + self.count)
            part.deadline_spread = head
            part.deadline_s = lo + head / 2
            self.deadline_spread = width - head
            self.deadline_s = lo + head + (width - head) / 2
        return part

    def narrow_births(self, a: float, b: float) -> None:
        """Keep the share ``[a, b)`` (in order) of the births: the requests of this cohort
        are those born there. A bundle narrows its share of each state's range (its
        states hold the births); otherwise the cohort's own range narrows, to a point
        where ``a == b`` (one request whose place in the window is known). The earliest
        birth narrows with it only where the births are all in that order (no
        ``born_var``); merged births have no order, and keep theirs."""
        if self.mix is not None:
            u0, du = self.born_u0, self.born_u1 - self.born_u0
            self.born_u0, self.born_u1 = u0 + a * du, u0 + b * du
            return
        width = self.born_spread
        if width > 0.0:
            lo = self.born_s - width / 2
            self.born_s = lo + width * (a + b) / 2
            self.born_spread = width * (b - a)
            if self.born_var == 0.0 and lo + width * a > self.born_min:
                self.born_min = lo + width * a

    def __repr__(self) -> str:
        return (f"Cohort({self.cls!r}, count={self.count}, attempt={self.attempt}, "
                f"born={self.born_s:.3f}, deadline={self.deadline_s:.3f})")

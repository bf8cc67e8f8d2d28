"""Optimistic concurrency: a station whose every request writes one shared key.

Think of a room's membership row in a database that offers compare-and-set but no
locks: a writer reads the row's version, does its work, and commits only if the version
is still the one it read. Here a request *reads* when its service starts and *commits*
when its service ends. The commit succeeds, and bumps the version, when no other request
committed in between; otherwise it fails with reason ``conflict``: the work was done (it
counts in ``served``, as a listener-slot refusal does) but the write is lost, and the
client hears a failure and retries per its own policy. Requests that start while no one
else is in service always commit; n requests that start together commit one.

So the key's throughput is not the workers' throughput: with requests arriving at rate λ
and service s, commits come at most once per service time, and a crowd converts its
extra attempts into conflicts and retries rather than into a queue.

What it leaves out: reads that do not write, several keys (one station is one key), and
the server's own cost of a failed commit (it is the same service time).

Cohort mode (``OptimisticFluidStation``) cannot follow single reads and commits; it uses
what the key's renewal structure gives for writes that start at rate R with mean service
s (ρ = R·s), the share of writes that commit, ``commit_share(ρ, cv)``:

- deterministic service: a write commits iff it starts after the last commit's service
  ended (one that starts inside it read a version that commit then bumps), so the key
  alternates a dead period s after each commit and a wait of mean 1/R for the next
  start: a non-paralysable dead-time counter, share ``1 / (1 + ρ)``;
- exponential service: the writes in flight that read the current version race; the
  first of k to finish commits and dooms the rest. k grows at rate R and resets at rate
  k/s, a birth process with π_k ∝ Π_{j≤k} ρ / (ρ + j); commits come at R·π_0, share
  ``1 / ₁F₁(1; ρ + 1; ρ)``, about ``sqrt(2 / (π ρ))`` for large ρ: short writes slip
  through, so variable service commits far more under contention than fixed service;
- other service times: interpolated in cv² between the two (cv ≥ 1 counts as 1).

Exact mode agrees with both closed forms (tests/test_occ.py). A fluid part of m writes
that start spread over [a, b) commits ``commit_share`` of them, with R the start rate of
the parts begun over [a, b) and the few ticks before it (spans shorter than s count as
s: m writes that start together commit about one), rounded at random to whole requests.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

from scipy.special import gammainc, gammaln

from .cohort import Cohort
from .fluid import FluidStation
from .station import Station
from .streams import round_share

CONFLICT = "conflict"
# Cohort mode: the start rate behind the conflict share is measured over this many ticks.
RATE_WINDOW_TICKS = 5


def commit_share(rho: float, cv: float) -> float:
    """Share of writes that commit when they start at rate R with service s, ρ = R·s.

    ``1 / (1 + ρ)`` for deterministic service (cv 0), ``1 / ₁F₁(1; ρ + 1; ρ)`` for
    exponential service (cv 1), interpolated in cv² between (see the module docstring).
    """
    if rho <= 1e-12:
        return 1.0
    fixed = 1.0 / (1.0 + rho)
    w = min(1.0, cv * cv)
    if w == 0.0:
        return fixed
    # ₁F₁(1; ρ+1; ρ) = ρ^(1-ρ) e^ρ Γ(ρ) P(ρ, ρ), P the regularized lower incomplete gamma.
    log_f = (1.0 - rho) * math.log(rho) + rho + float(gammaln(rho)) \
        + math.log(float(gammainc(rho, rho)))
    memoryless = math.exp(-log_f)
    return (1.0 - w) * fixed + w * memoryless


class OptimisticStation(Station):
    """A ``Station`` whose requests commit one key with optimistic concurrency.

    ``version`` counts successful commits; ``commits`` and ``conflicts`` count outcomes.
    Conflicts are also counted in ``served`` (the work was done), not in ``rejected``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._after_commit: Callable[[Cohort], None] | None = None
        self._ending: Cohort | None = None
        super().__init__(*args, **kwargs)
        self.version = 0
        self.commits = 0
        self.conflicts = 0
        # Version each request in service read when its service started, by identity:
        # a cohort is in service at one station at a time, and leaves the map at commit.
        self._read: dict[int, int] = {}

    # The network wires ``forward`` (where a served request goes next); the commit check
    # stands in front of it, so whatever the network assigns is called only on success.
    @property
    def forward(self) -> Callable[[Cohort], None]:
        return self._commit

    @forward.setter
    def forward(self, fn: Callable[[Cohort], None]) -> None:
        self._after_commit = fn

    def _done(self, ev: Any) -> None:
        # A station frees the worker and starts the next queued request before it passes
        # the finished one on; that request must read the version after this commit.
        self._ending = ev._value
        try:
            super()._done(ev)
        finally:
            self._ending = None

    def _start(self, c: Cohort, now: float, arrived: float) -> None:
        version = self.version
        ending = self._ending
        if ending is not None and self._read.get(id(ending)) == version:
            version += 1  # the request ending now commits, at this instant, before we read
        self._read[id(c)] = version
        super()._start(c, now, arrived)

    def _commit(self, c: Cohort) -> None:
        read = self._read.pop(id(c))
        if read != self.version:
            self.conflicts += c.count
            self.reject(c, CONFLICT)
            return
        self.version += 1
        self.commits += c.count
        after = self._after_commit
        assert after is not None
        after(c)


class OptimisticFluidStation(FluidStation):
    """Cohort mode: each part commits ``commit_share(R·s, cv)`` of its writes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._after_commit: Callable[[Cohort], None] | None = None
        super().__init__(*args, **kwargs)
        self.version = 0
        self.commits = 0
        self.conflicts = 0
        # Start windows of recent parts, (start, end, count), and each part's own window.
        self._spans: deque[tuple[float, float, int]] = deque()
        self._span_of: dict[int, tuple[float, float]] = {}

    @property
    def forward(self) -> Callable[[Cohort], None]:
        return self._commit

    @forward.setter
    def forward(self, fn: Callable[[Cohort], None]) -> None:
        self._after_commit = fn

    def _begin(self, part: Cohort, start: float, end: float, now: float,
               starts: list[float] | None = None, among: bool = False) -> None:
        self._spans.append((start, end, part.count))
        self._span_of[id(part)] = (start, end)
        super()._begin(part, start, end, now, starts, among)

    def _start_rate(self, a: float, b: float, s: float) -> float:
        """Starts per second over [a, b) of every part begun so far (spans at least s)."""
        b = max(b, a + s)
        total = 0.0
        for lo, end, m in self._spans:
            hi = max(end, lo + s)
            overlap = min(hi, b) - max(lo, a)
            if overlap > 0:
                total += m * overlap / (hi - lo)
        return total / (b - a)

    def _commit(self, c: Cohort) -> None:
        now = self.env.now
        s = self.mean_s * self.slow_factor
        a, b = self._span_of.pop(id(c), (now - s, now - s))
        # Parts that started more than a few ticks before anything still in service are
        # no longer anyone's contenders.
        spans = self._spans
        horizon = a - (RATE_WINDOW_TICKS + 1) * self.resolution_s - s
        while spans and max(spans[0][1], spans[0][0] + s) < horizon:
            spans.popleft()
        # The start rate over the part's own span and the ticks before it: one tick of a
        # few Poisson starts alone would bias the share low (it is concave in the count).
        lo = min(a, b - RATE_WINDOW_TICKS * self.resolution_s)
        cv = math.sqrt(self.var_service) / self.mean_s if self.mean_s > 0 else 0.0
        share = commit_share(self._start_rate(lo, b, s) * s, cv) if s > 0 else 1.0
        n = c.count
        k = round_share(n, share, self.service.gen)
        if k < n:
            lost = c if k == 0 else c.split(n - k)
            self.conflicts += lost.count
            self.reject(lost, CONFLICT)
            if k == 0:
                return
        self.version += k
        self.commits += k
        after = self._after_commit
        assert after is not None
        after(c)

"""Cohort mode where exactness is cheap: a small station serves its cohorts one by one.

A fluid server (``sim.engine.fluid``) is right where a tick brings many requests to many
workers, and wrong where it brings a few: the wait of a station with five workers, its
blocking against a queue limit of ten, the share of requests whose deadline passes in
its queue all come from single service times and single arrivals, which a mean rate
does not have. Such a station costs little to simulate request by request, so in cohort
mode it does: ``GranularStation`` is the exact discipline (``sim.engine.station``) fed
with cohorts.

A cohort of ``n`` requests that reaches it spread over ``[now, now + spread_s)`` becomes
``n`` single requests (``Cohort.split``; a bundle's states are drawn at random for each),
each arriving at its own time, drawn uniformly over that window and sorted: the arrival
times of a Poisson process given its count over the window, which is what a cohort of
a tick's Poisson arrivals is. From there each request meets the exact discipline as in
exact mode: the token bucket and the connection cap per request, the queue limit counted
in requests, one of ``c`` workers with its own sampled service time, its deadline at the
head of the queue (``drop_expired``), crashes, outages, autoscaling, slowdown, shedding
and the retry ratio; every level and count is the exact discipline's. A served request
moves on as a cohort of one with no spread and no added service variance (its service
time was drawn, not averaged). A cohort's deadline is that of its mean request (its
attempts started spread over the window too), so each request's deadline is moved by its
offset from the middle of the window: exact where the spread is the attempts' own (at
the entry station), in arrival order elsewhere. That deadline is then the request's own,
a point (``deadline_spread`` 0), by which its answer can be judged late or on time as
exact mode judges it, rather than by its rank among its attempt's deadlines. Its birth
is placed the same way: the births of a cohort are spread in the order of its arrivals
(``Cohort.narrow_births``), so the request at ``u`` of the window was born at ``u`` of
the birth range, and its join latency carries no birth spread.

Which stations are small (``serves_singly``): those whose workers complete at most
``SMALL_PER_TICK`` requests per resolution tick at the capacity they are built with
(``instances × workers_per_instance / mean service time × resolution_s``). The decision
is made once, when the station is built, so a station never holds work in two
disciplines; a throughput ceiling (``max_rate_rps``) is paced exactly by the fluid
server and does not count. The cost is that of exact mode at this station: about two
events per request (its arrival and its service end), and the stations and clients
after it see requests one at a time. At most ``SMALL_PER_TICK`` requests per tick per
worker pool can be served, so a small station bounds its own cost by its capacity.

What it leaves out: a station that autoscales far above the capacity it was built with
stays granular (its cost grows with what it serves). The client judges a request's
answer against that deadline (``sim.model.cohort_clients``), but keeps one deadline
event per attempt, at the last of its requests' deadlines: a request still unanswered
past its own deadline times out there, or where the station drops it as expired, up to
the attempt's spread (a tick) after exact mode would, and its retry starts that much
later.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simpy

from .clock import NORMAL, Due
from .cohort import Cohort
from .occ import OptimisticStation
from .station import Station

# Requests per tick at or below which a station is served one request at a time: the
# fluid discipline's Erlang C wait, finite-queue blocking and deadline shares hold within
# 10% of exact mode above it (tests/test_station_fidelity.py), and the cost per tick of
# serving singly stays that of a few hundred events.
SMALL_PER_TICK = 100.0


def serves_singly(instances: int, workers_per_instance: int, mean_s: float,
                  resolution_s: float) -> bool:
    """True if a station of this size is small at this resolution (see the docstring)."""
    if resolution_s <= 0:
        return True  # exact mode: every station serves singly
    rate = instances * workers_per_instance / mean_s
    return rate * resolution_s <= SMALL_PER_TICK


class Granular:
    """Mixin over an exact discipline: cohorts split into requests arriving one by one."""

    def __init__(self, env: simpy.Environment, name: str, *, resolution_s: float,
                 spread_gen: np.random.Generator | None = None, **kwargs: Any) -> None:
        super().__init__(env, name, **kwargs)  # type: ignore[call-arg]
        if not resolution_s > 0:
            raise ValueError(f"resolution_s must be positive, got {resolution_s}")
        self.resolution_s = resolution_s
        self._spread_gen = spread_gen if spread_gen is not None else self.service.gen  # type: ignore[attr-defined]
        self._arrive_cbs = (self._arrive,)

    def offer(self, c: Cohort) -> None:
        n, w = c.count, c.spread_s
        if n == 1 and w <= 0.0:
            super().offer(c)  # type: ignore[misc]
            return
        c.spread_s = 0.0
        offsets = [0.0] * n if w <= 0.0 else \
            (np.sort(self._spread_gen.random(n)) * w).tolist()
        schedule = self.env.schedule  # type: ignore[attr-defined]
        arrive = self._arrive_cbs
        deadline, mid = c.deadline_s, w / 2
        for i, off in enumerate(offsets):
            one = c if i == n - 1 else c.split(1)
            # The cohort's deadline is its mean request's; each request's moves with its
            # place in the window, as its attempt's start did.
            one.deadline_s = deadline + (off - mid)
            one.deadline_spread = 0.0
            if w > 0.0:
                # Its birth, too: the window holds the births in order.
                u = off / w
                one.narrow_births(u, u)
            if off <= 0.0:
                super().offer(one)  # type: ignore[misc]
            else:
                schedule(Due(arrive, one), NORMAL, off)

    def _arrive(self, ev: simpy.Event) -> None:
        super().offer(ev._value)  # type: ignore[misc]


class GranularStation(Granular, Station):
    """A small station in cohort mode: the exact discipline, one request at a time."""


class GranularOptimisticStation(Granular, OptimisticStation):
    """A small optimistic-concurrency station in cohort mode: exact reads and commits."""

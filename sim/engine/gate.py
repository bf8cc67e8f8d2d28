"""A gate: admission filters where traffic enters a station, and after its service.

Think of the filters a proxy runs on what reaches it: some act on packets before the
proxy does any work (a link that is full, an upstream scrubber), others need the request
read first (a firewall rule, a per-client rate limit, a challenge page), so they act on
what the station has served, before it moves on. A ``Gate`` holds both chains for one
station: ``before`` filters run in ``Gate.offer`` (what the sources call instead of the
station's ``offer``), ``after`` filters run between the station's service and its
``forward``.

A filter says how many requests of a cohort pass (``admit``); the gate splits the cohort
and hands the others to ``removed(cohort, filter)``, after releasing any connection
holds, so the owner can be told. A filter with ``delay_s > 0`` holds what passes for that
long before the next filter (a page the client must answer); a cohort the filter
``exempt``s goes by untouched. Filters draw their own
random numbers, each from its own stream, so adding one changes nothing else's draws.

The gate does not interpret classes or reasons; the model that builds it does. What it
leaves out: filters that reorder requests, and work of a filter outside the station (a
filter's cost is modelled by the station's service time, see ``Overhead``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import simpy

from .clock import FifoTimers
from .cohort import Cohort
from .station import Station
from .streams import Uniforms


class Filter(Protocol):
    """What a gate asks of a filter."""

    name: str
    delay_s: float

    def exempt(self, c: Cohort) -> bool:
        """True for a cohort the filter lets through untouched and without delay."""
        ...

    def admit(self, c: Cohort, now: float) -> int:
        """How many of ``c.count`` requests pass (0 to ``c.count``)."""
        ...


Removed = Callable[[Cohort, Any], None]


class Gate:
    """``before`` and ``after`` filter chains around one station (module docstring)."""

    def __init__(self, env: simpy.Environment, station: Station, before: list[Any],
                 after: list[Any], removed: Removed) -> None:
        self.env = env
        self.station = station
        self.before = list(before)
        self.after = list(after)
        self.removed = removed
        self._timers: dict[int, FifoTimers] = {}
        self._forward = station.forward
        if self.after:
            station.forward = self._after_service
        self.offer: Callable[[Cohort], None] = (self._offer if self.before
                                                  else station.offer)

    def _offer(self, c: Cohort) -> None:
        self.run(c, self.before, 0, self.station.offer)

    def _after_service(self, c: Cohort) -> None:
        self.run(c, self.after, 0, self._forward)

    def run(self, c: Cohort, chain: list[Any], i: int, then: Callable[[Cohort], None]) -> None:
        """Pass ``c`` through ``chain[i:]``, then call ``then`` with what is left."""
        now = self.env.now
        while i < len(chain):
            f = chain[i]
            i += 1
            if f.exempt(c):
                continue
            k = f.admit(c, now)
            if k < c.count:
                gone = c if k <= 0 else c.split(c.count - k)
                if gone.held:
                    for limit in gone.held:
                        limit.release(gone.count)
                    gone.held = None
                self.removed(gone, f)
                if gone is c:
                    return
            if f.delay_s > 0:
                self._timer(f).after(f.delay_s, (c, chain, i, then))
                return
        then(c)

    def _timer(self, f: Any) -> FifoTimers:
        t = self._timers.get(id(f))
        if t is None:
            t = self._timers[id(f)] = FifoTimers(self.env, self._resume, _never)
        return t

    def _resume(self, item: tuple[Cohort, list[Any], int, Callable[[Cohort], None]]) -> None:
        c, chain, i, then = item
        self.run(c, chain, i, then)


def _never(_item: Any) -> bool:
    return False


def keep(n: int, p: float, gen: np.random.Generator, uniform: Uniforms) -> int:
    """How many of ``n`` pass a test each passes with probability ``p``: one uniform draw
    for a single request (exact mode), a binomial draw for a cohort."""
    if p >= 1.0:
        return n
    if p <= 0.0:
        return 0
    if n == 1:
        return 1 if uniform() < p else 0
    return int(gen.binomial(n, p))


class Overhead:
    """A service-time sampler plus a constant: the work a filter adds to every request
    the station serves (inspection, a challenge page). Reads like the sampler it wraps
    (``mean_s``, ``cv``, ``gen``, ``dist``, and the drawn ``mean`` and ``sd``) so either
    station discipline can use it."""

    def __init__(self, base: Any, extra_s: float) -> None:
        self.base = base
        self.extra_s = float(extra_s)
        self.gen = base.gen
        self.dist = base.dist
        self.mean_s = base.mean_s + self.extra_s
        self.cv = base.cv * base.mean_s / self.mean_s
        self.mean = base.mean + self.extra_s
        self.sd = base.sd

    def __call__(self) -> float:
        return float(self.base()) + self.extra_s

"""The clock: callbacks due at a simulated time, at the least cost SimPy allows.

Every moving part of the engine (a service ending, a client's deadline, the next birth)
is a function to call at a time, not a process. SimPy's event loop pops
``(time, priority, id, event)`` from its heap, sets ``event.callbacks`` to None, calls
each callback with the event and checks ``event._ok``; nothing else. A ``Timeout``
does more than that needs when it is made (it checks the delay, keeps the environment
and the delay, and holds a fresh callback list), and on the hot path that is a third
of the cost of an event. ``Due`` is only what the loop reads: a shared tuple of
callbacks and the value they receive. ``Due`` events are scheduled with SimPy's own
``Environment.schedule`` at the priority a ``Timeout`` has, so they take the same place
in the order of events as the ``Timeout`` they replace, ties included.

The size of SimPy's heap is the other cost: every push and pop walks its depth, and a
heap that holds a few hundred thousand timers far in the future (listening sessions of
half an hour, client deadlines that almost never fire) makes every other event slower
by a factor of two to three. Two structures keep such timers out of it, each behind one
SimPy event at a time:

- ``FifoTimers``: timers that come due in the order they are set (a fixed timeout
  after "now"), in a deque; timers whose item no longer needs them (the attempt was
  answered) are dropped without ever becoming events.
- ``TimerHeap``: timers in any order, in a heap of their own.

Both call their callback at the exact time (to the bit) a ``Timeout`` of the same delay
would have fired, and in the same order among themselves. What differs is the place
among *other* events that fall on exactly the same time: the one SimPy event is
scheduled when the timer reaches the front, not when it was set, so such a tie may be
resolved the other way. With continuous arrival times this does not happen.

What it leaves out: a ``Due`` cannot be yielded by a process, failed, or given more
callbacks after it is made; use ``env.timeout`` for those.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, cast

import simpy
from simpy.events import NORMAL

__all__ = ["NORMAL", "Due", "FifoTimers", "TimerHeap", "delay_to", "scheduler"]

INF = math.inf


class Due:
    """A successful event that calls ``callbacks`` (a tuple) with itself; ``_value`` is
    what the callbacks read.

    Schedule it with ``env.schedule(Due(callbacks, value), NORMAL, delay)``. The tuple
    can be shared by every ``Due`` of one kind: the loop replaces the attribute, it does
    not change the tuple.
    """

    __slots__ = ("_value", "callbacks")
    _ok = True

    def __init__(self, callbacks: tuple[Callable[[Any], None], ...], value: Any = None):
        self.callbacks: tuple[Callable[[Any], None], ...] | None = callbacks
        self._value = value


Schedule = Callable[[Due, int, float], None]


def scheduler(env: simpy.Environment) -> Schedule:
    """``env.schedule``, typed for ``Due`` (SimPy types it for its own events only)."""
    return cast(Schedule, env.schedule)


def delay_to(at: float, now: float) -> float:
    """The delay SimPy turns into exactly ``at``: it schedules at ``now + delay``, and
    ``now + (at - now)`` can miss ``at`` by a rounding step."""
    delay = at - now
    while now + delay < at:
        delay = math.nextafter(delay, INF)
    while now + delay > at:
        delay = math.nextafter(delay, -INF)
    return delay


class FifoTimers:
    """Timers that come due in the order they are set, on one SimPy event at a time.

    ``after(delay, item)`` asks for ``fire(item)`` at ``now + delay``; each timer must
    come due no earlier than the ones set before it (a fixed timeout from "now" does).
    A timer whose ``settled(item)`` is true when it reaches the front is dropped, and
    one that is settled when it comes due is not fired.
    """

    def __init__(self, env: simpy.Environment, fire: Callable[[Any], None],
                 settled: Callable[[Any], bool]) -> None:
        self.env = env
        self.fire = fire
        self.settled = settled
        self._schedule = scheduler(env)
        self._timers: deque[tuple[float, Any]] = deque()
        self._armed = False
        self._on_due = (self._due,)

    def __len__(self) -> int:
        return len(self._timers)

    def after(self, delay: float, item: Any) -> None:
        env = self.env
        self._timers.append((env.now + delay, item))
        if not self._armed:
            self._armed = True
            self._schedule(Due(self._on_due), NORMAL, delay)

    def _due(self, _ev: Any) -> None:
        now = self.env.now
        timers, fire, settled = self._timers, self.fire, self.settled
        while timers and timers[0][0] <= now:
            item = timers.popleft()[1]
            if not settled(item):
                fire(item)
        while timers and settled(timers[0][1]):
            timers.popleft()
        if timers:
            self._schedule(Due(self._on_due), NORMAL, delay_to(timers[0][0], now))
        else:
            self._armed = False


class TimerHeap:
    """Timers in any order, kept in a heap of their own, on one SimPy event at a time.

    ``after(delay, item)`` asks for ``fire(item)`` at ``now + delay``. Timers due at the
    same time fire in the order they were set.
    """

    def __init__(self, env: simpy.Environment, fire: Callable[[Any], None]) -> None:
        self.env = env
        self.fire = fire
        self._schedule = scheduler(env)
        self._timers: list[tuple[float, int, Any]] = []
        self._seq = 0
        self._live: Due | None = None  # the one event that counts; earlier ones are void
        self._live_at = INF
        self._on_due = (self._due,)

    def __len__(self) -> int:
        return len(self._timers)

    def after(self, delay: float, item: Any) -> None:
        now = self.env.now
        at = now + delay
        self._seq += 1
        heappush(self._timers, (at, self._seq, item))
        if at < self._live_at:
            self._arm(at, now)

    def _arm(self, at: float, now: float) -> None:
        due = Due(self._on_due)
        self._live = due
        self._live_at = at
        self._schedule(due, NORMAL, delay_to(at, now))

    def _due(self, ev: Any) -> None:
        if ev is not self._live:
            return  # an earlier timer was set after this event was scheduled
        now = self.env.now
        timers, fire = self._timers, self.fire
        while timers and timers[0][0] <= now:
            fire(heappop(timers)[2])
        if timers:
            self._arm(timers[0][0], now)
        else:
            self._live = None
            self._live_at = INF

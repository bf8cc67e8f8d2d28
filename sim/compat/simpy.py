"""What sim relies on in SimPy beyond its documented API.

Written for SimPy 4.1 (``pyproject.toml`` keeps it below 4.2); ``tests/test_compat.py``
checks every point below against the installed SimPy, and is what to run before raising
that bound.

Read through this module:

- ``env._eid``, the counter SimPy numbers scheduled events with (its tie-break between
  events at the same time and priority): an ``itertools.count`` whose next value is the
  number of events scheduled so far. ``events_scheduled`` reads it without advancing it;
  a run reports it as what it cost (``perf.events``) and its progress line as a rate.
- An event marked triggered by setting ``_ok`` and ``_value`` and scheduled at
  ``URGENT``, as ``Environment.run(until=...)`` does it itself: ``schedule_stop`` stops
  ``env.run`` before any other event of the current time (``sim.run`` does this when a
  signal arrives).

Relied on by the engine and the model, which use SimPy directly (``sim.engine`` imports
nothing else of ``sim``), and checked by the same test:

1. ``Environment.step`` pops ``(time, priority, id, event)`` from the heap, sets
   ``event.callbacks`` to None, calls each callback with the event in order, and then
   reads ``event._ok`` (and ``_defused`` only when ``_ok`` is false). So an object with
   ``callbacks``, ``_ok`` and ``_value`` is an event to it: ``sim.engine.clock.Due``.
2. ``Environment.schedule(event, priority, delay)`` puts the event at ``now + delay``,
   after every event already scheduled for the same time and priority.
3. ``Timeout`` schedules itself with that same call at ``NORMAL`` priority, so a ``Due``
   scheduled at ``NORMAL`` takes the place in the order of events that a ``Timeout``
   made at that moment would take, ties included.
4. A processed event has ``callbacks is None``; given a fresh tuple of callbacks and
   scheduled again, the same object fires again (``sim.model.clients`` and
   ``sim.model.attacks`` reuse one ``Due`` for a whole chain of arrivals).
5. When a callback raises ``StopSimulation``, ``step`` keeps the callbacks after it with a
   slice, so a tuple of callbacks works there as a list does.
6. The value a ``Timeout`` (or ``Due``) was given is its ``_value``, which callbacks read
   directly (``ev._value``) on the hot path instead of the ``value`` property.
7. ``NORMAL`` and ``URGENT`` are importable from ``simpy.events``, ``URGENT`` sorts first,
   and ``StopSimulation.callback`` stops ``env.run`` when the event it is attached to is
   processed.
"""

from __future__ import annotations

import re

import simpy
from simpy.core import StopSimulation
from simpy.events import URGENT

__all__ = ["events_scheduled", "schedule_stop"]

_COUNT = re.compile(r"count\((\d+)\)")


def events_scheduled(env: simpy.Environment) -> int:
    """How many events ``env`` has scheduled so far (without scheduling or counting one)."""
    text = repr(env._eid)  # an itertools.count shows its next value: count(n)
    m = _COUNT.fullmatch(text)
    if m is None:
        raise RuntimeError(f"SimPy's event counter is not an itertools.count ({text}); "
                           f"see sim.compat.simpy")
    return int(m.group(1))


def schedule_stop(env: simpy.Environment) -> None:
    """Stop ``env.run`` before the next event that is not itself urgent.

    ``env.run`` then returns None at once; the events still scheduled stay scheduled.
    """
    stop = simpy.Event(env)
    stop._ok, stop._value = True, None
    assert stop.callbacks is not None  # a fresh event
    stop.callbacks.append(StopSimulation.callback)
    env.schedule(stop, URGENT)

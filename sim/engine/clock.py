"""The clock: callbacks due at a simulated time, at the least cost SimPy allows.

Every moving part of the engine (a service ending, a client's deadline, the next birth)
is a function to call at a time, not a process. SimPy's event loop pops
``(time, priority, id, event)`` from its heap, sets ``event.callbacks`` to None, calls
each callback with the event and checks ``event._ok``; nothing else. A ``Timeout``
does more than that needs when it is made (it checks the delay, keeps the environment
and the delay, and holds a fresh callback list), and on the hot path that is a third
of the cost of an event. ``Due`` is only what the loop reads: a shared tuple of
callbacks and the value they receive.

``Due`` events are scheduled with SimPy's own ``Environment.schedule`` at the
priority a ``Timeout`` has, so they take the same place in the order of events as the
``Timeout`` they replace, ties included, and count as events in ``perf.events`` alike.

What it leaves out: a ``Due`` cannot be yielded by a process, failed, or given more
callbacks after it is made; use ``env.timeout`` for those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simpy.events import NORMAL

__all__ = ["NORMAL", "Due"]


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

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

Exact mode only (one request per cohort); the configuration refuses a cohort-mode run
with an optimistic station.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cohort import Cohort
from .station import Station

CONFLICT = "conflict"


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

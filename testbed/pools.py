"""Worker pools, the room key and the listener slots: the testbed's stations.

A ``Pool`` is the simulator's station in asyncio: ``workers`` workers behind one FIFO
queue of at most ``queue_limit`` waiting requests; a request that finds the queue full
is turned away at once. A dispatcher takes requests in order, waits for a free worker
(free workers are handed out in turn, so every worker shows up in the log), then, on a
tier with a ``gate`` (the join tier's room key), for the gate; then the worker spends a
service time drawn from the tier's distribution in ``asyncio.sleep``. A request whose
client has gone is still served (wasted work), as in the simulator without
``drop_expired``.

``RoomKey`` is the shared resource with a throughput ceiling: one write every
``1 / rate`` seconds, each write waiting (in order) for its turn, as the simulator's
``max_rate_rps`` paces service starts. ``Counter`` caps things held at
once: the edge's connections (requests in flight beyond it) and fanout's listener
slots.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from .config import Tier
from .timing import TimingLog


class Counter:
    """At most ``limit`` held at once; ``take`` says whether one was free."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def take(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def give(self) -> None:
        self.in_use -= 1


class RoomKey:
    """The room's one key: writes start at least ``1 / rate`` seconds apart."""

    def __init__(self, rate: float, log: TimingLog) -> None:
        self.gap_s = 1.0 / rate
        self.log = log
        self.next_s = 0.0
        self.lock = asyncio.Lock()

    async def write(self, req: int) -> None:
        """Wait for this write's turn, then write. Turns are kept on a schedule (the
        next turn is one spacing after this turn, not after the moment this write woke
        up), so a late wake-up of the event loop does not lower the ceiling."""
        async with self.lock:
            asked = self.log.now()
            turn = max(asked, self.next_s)
            self.next_s = turn + self.gap_s
            if turn > asked:
                await asyncio.sleep(turn - asked)
            now = self.log.now()
            self.log.line(now, req, "room_key", 0, now - asked, 0.0, "ok")


class Pool:
    """One tier: ``workers`` workers behind a FIFO queue of at most ``queue_limit``."""

    def __init__(self, name: str, tier: Tier, log: TimingLog, rng: random.Random,
                 gate: RoomKey | None = None) -> None:
        self.name = name
        self.queue_limit = tier.queue_limit
        self.draw = tier.service.sampler(rng)
        self.log = log
        self.gate = gate
        self.waiting = 0
        self.queue: asyncio.Queue[tuple[int, float, str, asyncio.Future[None]]] = asyncio.Queue()
        self.free: asyncio.Queue[int] = asyncio.Queue()
        for w in range(tier.workers):
            self.free.put_nowait(w)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.dispatcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.dispatcher = asyncio.create_task(self._dispatch())

    async def stop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.cancel()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, *([self.dispatcher] if self.dispatcher else []),
                             return_exceptions=True)

    async def serve(self, req: int, status: str = "ok") -> bool:
        """Queue ``req`` and wait for its service; False if the queue was full. ``status``
        goes on its log line (auth's cache ``hit`` or ``miss``)."""
        if self.waiting >= self.queue_limit:
            self.log.line(self.log.now(), req, self.name, "-", 0.0, 0.0, "queue_full")
            return False
        self.waiting += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((req, self.log.now(), status, done))
        await done
        return True

    async def _dispatch(self) -> None:
        while True:
            req, queued_s, status, done = await self.queue.get()
            worker = await self.free.get()
            if self.gate is not None:
                await self.gate.write(req)
            self.waiting -= 1
            task = asyncio.create_task(self._work(req, worker, queued_s, status, done))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _work(self, req: int, worker: int, queued_s: float, status: str,
                    done: asyncio.Future[None]) -> None:
        start = self.log.now()
        try:
            await asyncio.sleep(self.draw())
            end = self.log.now()
            self.log.line(start, req, self.name, worker, start - queued_s, end - start, status)
        finally:
            self.free.put_nowait(worker)
            if not done.done():
                done.set_result(None)

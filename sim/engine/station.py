"""A station: a tier of identical instances that serve requests from one FIFO queue.

Think of the auth tier of a web service: ``instances`` servers, each with
``workers_per_instance`` workers; a request takes a random service time on one worker.
When all workers are busy, requests wait in a FIFO of at most ``queue_limit``; beyond
that they are rejected at once. Each request carries its client's deadline: a request
whose client already gave up is *expired*. With ``drop_expired`` the station skips it
when it reaches the head of the queue (deadline propagation); without it the station
serves it anyway, as wasted work.

Admission controls in front of the queue, in the order a request meets them:

- ``rate_limit_rps`` (with ``rate_limit_burst``): a token bucket over the whole tier;
  requests beyond it are rejected.
- ``connections``: a cap on requests in flight beyond this tier (a proxy keeps the
  client's connection until the request ends downstream); full means rejected.
- ``max_rate_rps``: a throughput ceiling, for a resource all workers share (the write
  lock of one hot key); requests wait in the queue for it rather than being rejected.

What it leaves out: per-instance queues and load-balancer imbalance (the tier is one
M/G/c queue), priorities, and preemption.

This module is the exact discipline: every cohort it serves has count 1, with its own
sampled service time. Levels (queue length, busy workers, capacity) are integrated over
time so that means are time-weighted, not averages of samples.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import simpy

from .clock import NORMAL, Due, scheduler
from .cohort import Cohort
from .pool import ConnectionLimit
from .streams import Sampler

INF = math.inf


class Station:
    """One tier of the join path: instances × workers, a FIFO queue and admission control."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        *,
        instances: int,
        workers_per_instance: int,
        service: Sampler,
        queue_limit: float = INF,
        drop_expired: bool = False,
        rate_limit_rps: float | None = None,
        rate_limit_burst: float | None = None,
        max_rate_rps: float | None = None,
        connections_per_instance: int | None = None,
        warmup_s: float = 0.0,
    ) -> None:
        if instances < 0:
            raise ValueError(f"instances must be >= 0, got {instances}")
        if workers_per_instance < 1:
            raise ValueError(f"workers_per_instance must be >= 1, got {workers_per_instance}")
        if queue_limit < 0:
            raise ValueError(f"queue_limit must be >= 0, got {queue_limit}")
        self.env = env
        self.name = name
        self.instances = int(instances)
        self.workers_per_instance = int(workers_per_instance)
        self.capacity = self.instances * self.workers_per_instance
        self.service = service
        self.queue_limit = queue_limit
        self.drop_expired = drop_expired
        self.warmup_s = warmup_s

        self.rate_limit_rps = rate_limit_rps
        self._tokens = float(rate_limit_burst if rate_limit_burst is not None
                             else (rate_limit_rps or 0.0))
        self._burst = self._tokens
        self._tokens_t = 0.0
        self.max_rate_rps = max_rate_rps
        self._gap_s = 1.0 / max_rate_rps if max_rate_rps else 0.0
        self._next_start_s = 0.0
        self._wake_pending = False
        self.connections = (ConnectionLimit(connections_per_instance, self.instances)
                            if connections_per_instance else None)

        # Wired by the network: where requests go after service, rejection or expiry.
        self.forward: Callable[[Cohort], None] = _unwired
        self.reject: Callable[[Cohort, str], None] = _unwired2
        self.expire: Callable[[Cohort], None] = _unwired

        self.queue: deque[Cohort] = deque()
        self.busy = 0
        # The hot path schedules plain callbacks (see ``clock``), bound once here.
        self._schedule = scheduler(env)
        self._on_done = (self._done,)
        self._on_wake_cbs = (self._on_wake,)
        # Cumulative counts (requests, i.e. sums of cohort counts).
        self.offered = 0
        self.served = 0
        self.rejected = 0
        self.timed_out = 0  # deadline passed while queued here
        self.wasted = 0  # served although the client had given up
        self.peak_queue = 0
        # Time integrals of the levels since the start.
        self._t = 0.0
        self.queue_area = 0.0
        self.busy_area = 0.0
        self.capacity_area = 0.0
        self.draining = 0  # busy workers of removed instances, finishing their last request
        self.instances_area = 0.0
        # Waits of requests that arrived after warm-up: exact sum and the samples.
        self.wait_sum = 0.0
        self.wait_n = 0
        self.waits: list[float] = []
        self.wait_counts: list[int] = []

    # -- levels ---------------------------------------------------------------------------
    def _touch(self, now: float) -> None:
        dt = now - self._t
        if dt > 0.0:
            self.queue_area += len(self.queue) * dt
            self.busy_area += self.busy * dt
            self.capacity_area += (self.capacity + self.draining) * dt
            self.instances_area += self.instances * dt
            self._t = now

    @property
    def in_system(self) -> int:
        """Requests queued or in service here."""
        return len(self.queue) + self.busy

    def set_instances(self, instances: int, workers: int | None = None) -> None:
        """Change the number of serving instances (autoscaling, crashes).

        ``workers`` overrides the worker count (default ``instances × workers_per_instance``):
        instances still warming up serve with fewer effective workers.
        """
        self._touch(self.env.now)
        self.instances = int(instances)
        self.capacity = (self.instances * self.workers_per_instance if workers is None
                         else int(workers))
        # Workers above a smaller capacity finish what they hold (they still exist, and
        # count as capacity, until then); a larger capacity starts work now.
        self.draining = max(0, self.busy - self.capacity)
        if self.connections is not None:
            self.connections.resize(self.instances)
        self._pull(self.env.now)

    # -- admission ------------------------------------------------------------------------
    def _rate_admit(self, n: int, now: float) -> int:
        rate = self.rate_limit_rps
        assert rate is not None
        tokens = min(self._burst, self._tokens + rate * (now - self._tokens_t))
        self._tokens_t = now
        take = min(n, int(tokens))
        self._tokens = tokens - take
        return take

    def offer(self, c: Cohort) -> None:
        """A request arrives at this tier."""
        now = self.env.now
        n = c.count
        self.offered += n
        c.station = self
        if self.rate_limit_rps is not None and self._rate_admit(n, now) < n:
            self.rejected += n
            self.reject(c, "rate_limited")
            return
        connections = self.connections
        if connections is not None:
            if connections.acquire(n) < n:
                self.rejected += n
                self.reject(c, "connections_full")
                return
            if c.held is None:
                c.held = [connections]
            else:
                c.held.append(connections)
        queue = self.queue
        start = self.busy < self.capacity and not queue and now >= self._next_start_s
        if not start and len(queue) >= self.queue_limit:
            self.rejected += n
            self.reject(c, "queue_full")
            return
        dt = now - self._t  # ``_touch``, inlined on the hot path
        if dt > 0.0:
            self.queue_area += len(queue) * dt
            self.busy_area += self.busy * dt
            self.capacity_area += (self.capacity + self.draining) * dt
            self.instances_area += self.instances * dt
            self._t = now
        if start:
            self._start(c, now, now)
            return
        c.enqueued_s = now
        queue.append(c)
        if len(queue) > self.peak_queue:  # noqa: PLR1730 - cheaper than max() here
            self.peak_queue = len(queue)
        if self._gap_s and self.busy < self.capacity:
            self._wake(now)

    # -- service --------------------------------------------------------------------------
    def _start(self, c: Cohort, now: float, arrived: float) -> None:
        self.busy += 1
        if arrived >= self.warmup_s:
            w = now - arrived
            self.wait_sum += w
            self.wait_n += 1
            self.waits.append(w)
            self.wait_counts.append(1)
        if self._gap_s:
            self._next_start_s = now + self._gap_s
        self._schedule(Due(self._on_done, c), NORMAL, self.service())

    def _done(self, ev: simpy.Event) -> None:
        c: Cohort = ev._value
        now = self.env.now
        queue = self.queue
        dt = now - self._t  # ``_touch``, inlined on the hot path
        if dt > 0.0:
            self.queue_area += len(queue) * dt
            self.busy_area += self.busy * dt
            self.capacity_area += (self.capacity + self.draining) * dt
            self.instances_area += self.instances * dt
            self._t = now
        self.busy -= 1
        if self.draining:
            self.draining -= 1  # a worker of a removed instance finished its last request
        self.served += 1
        if c.deadline_s < now:
            self.wasted += 1
        if queue:
            self._pull(now)
        self.forward(c)

    def _pull(self, now: float) -> None:
        queue = self.queue
        while queue and self.busy < self.capacity:
            if self._gap_s and now < self._next_start_s:
                self._wake(now)
                return
            c = queue.popleft()
            if c.deadline_s <= now:
                self.timed_out += c.count
                if self.drop_expired:
                    self.expire(c)
                    continue
            self._start(c, now, c.enqueued_s)

    def _wake(self, now: float) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        self._schedule(Due(self._on_wake_cbs), NORMAL, max(0.0, self._next_start_s - now))

    def _on_wake(self, _ev: simpy.Event) -> None:
        self._wake_pending = False
        now = self.env.now
        self._touch(now)
        self._pull(now)


def _unwired(c: Cohort) -> None:
    raise RuntimeError(f"station output not wired for {c!r}")


def _unwired2(c: Cohort, reason: str) -> None:
    raise RuntimeError(f"station output not wired for {c!r} ({reason})")

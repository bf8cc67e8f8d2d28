"""A station: a tier of identical instances that serve requests from one FIFO queue.

Think of the auth tier of a web service: ``instances`` servers, each with
``workers_per_instance`` workers; a request takes a random service time on one worker.
When all workers are busy, requests wait in a FIFO of at most ``queue_limit``; beyond
that they are rejected at once. Each request carries its client's deadline: a request
whose client already gave up is *expired*. With ``drop_expired`` the station skips it
when it reaches the head of the queue (deadline propagation); without it the station
serves it anyway, as wasted work.

Admission controls in front of the queue, in the order a request meets them (the first
two are ``sim.engine.admission``'s, shared with the cohort disciplines):

- ``rate_limit_rps`` (with ``rate_limit_burst``): a token bucket over the whole tier;
  requests beyond it are rejected.
- ``connections``: a cap on requests in flight beyond this tier (a proxy keeps the
  client's connection until the request ends downstream); full means rejected.
- ``max_rate_rps``: a throughput ceiling, for a resource all workers share (the write
  lock of one hot key); requests wait in the queue for it rather than being rejected.

Failure dynamics (each off unless configured, at the cost of one ``None`` check):

- ``set_share``: a scheduled outage leaves a share of the workers (0: the tier is down);
  requests in service finish, the queue waits.
- ``kill`` / ``restore``: instances crash or are lost; their share of the requests in
  service and in the queue fail at once (the owner hears ``on_failed``, reason
  ``crashed``) and their capacity is gone until ``restore``. ``instances`` stays what was
  provisioned; ``serving`` is what is up.
- ``slowdown`` ``(above_rps, factor, window_s)``: service takes ``factor``× longer while
  the offered rate over the last ``window_s`` is above ``above_rps`` (a database that is
  fast below some load and much slower above it); with ``slowdown_counts_started`` the
  rate counts only the requests the tier started (those rejected, shed or dropped as
  expired do no work, so they do not slow it).
- ``shed_queue_age_s``: a request that waited longer than this when a worker would start
  it is dropped unserved (``shed``; the owner hears ``on_failed``, reason ``shed``), so
  work nobody waits for does not take capacity. ``drop_expired`` uses the client's own
  deadline instead.
- ``retry_ratio`` ``(max, window_s)``: retries (attempt > 1) are rejected at admission
  (reason ``retry_ratio``) while retries exceed ``max`` of the requests offered over the
  last ``window_s``.

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

import numpy as np
import simpy

from .admission import TokenBucket, hold_connections
from .clock import NORMAL, Due, scheduler
from .cohort import Cohort
from .pool import ConnectionLimit
from .streams import Sampler, round_share

INF = math.inf


class RateWindow:
    """Counts over a sliding window of ``window_s``: the offered rate, the retry share."""

    __slots__ = ("events", "n", "retries", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.events: deque[tuple[float, int, int]] = deque()
        self.n = 0
        self.retries = 0

    def add(self, now: float, n: int, retries: int = 0) -> None:
        self.events.append((now, n, retries))
        self.n += n
        self.retries += retries
        self.purge(now)

    def purge(self, now: float) -> None:
        events, old = self.events, now - self.window_s
        while events and events[0][0] <= old:
            _, n, r = events.popleft()
            self.n -= n
            self.retries -= r

    def rate(self, now: float) -> float:
        self.purge(now)
        return self.n / self.window_s


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
        slowdown: tuple[float, float, float] | None = None,
        slowdown_counts_started: bool = False,
        shed_queue_age_s: float | None = None,
        retry_ratio: tuple[float, float] | None = None,
        track_in_service: bool = False,
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
        self.bucket = (TokenBucket(rate_limit_rps, rate_limit_burst)
                       if rate_limit_rps is not None else None)
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

        # Failure dynamics (see the module docstring); ``None`` when off.
        self._inst_set = self.instances  # provisioned (what ``set_instances`` was given)
        self._workers_set: int | None = None
        self.serving = self.instances  # provisioned and up
        self.down = 0  # instances crashed or lost, until restored
        self.share = 1.0  # share of the workers left by a scheduled outage
        self._outage_since: float | None = None
        self._outage_s = 0.0
        self.crashes = 0  # instances crashed or lost (events × instances)
        self.killed = 0  # requests failed because their instance went away
        self.retry_rejected = 0  # retries refused for the retry ratio
        self.shed = 0  # requests dropped unserved for waiting longer than shed_queue_age_s
        self.shed_queue_age_s = shed_queue_age_s
        self.slowdown = slowdown
        self._slow_window = RateWindow(slowdown[2]) if slowdown is not None else None
        # What the slowdown's rate counts: requests offered, or only those started.
        self._slow_started = slowdown_counts_started
        self.slow_factor = 1.0  # current service-time factor
        self.retry_ratio = retry_ratio
        self._retry_window = RateWindow(retry_ratio[1]) if retry_ratio is not None else None
        # Requests in service by identity, so that a crash can fail them (off: None).
        self._live: dict[int, Cohort] | None = {} if track_in_service else None

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
        """Change the number of provisioned instances (autoscaling).

        ``workers`` overrides the worker count (default ``instances × workers_per_instance``):
        instances still warming up serve with fewer effective workers. Instances down
        (``kill``) and a scheduled outage (``set_share``) still apply on top.
        """
        self._touch(self.env.now)
        self._inst_set = int(instances)
        self._workers_set = None if workers is None else int(workers)
        self._apply()

    def _effective(self) -> None:
        """Capacity from what is provisioned, what is down and the outage share."""
        inst = self._inst_set
        self.instances = inst
        up = max(0, inst - self.down)
        self.serving = up
        workers = inst * self.workers_per_instance if self._workers_set is None \
            else self._workers_set
        if up < inst:
            workers = workers * up // inst
        if self.share < 1.0:
            workers = math.floor(workers * self.share + 1e-9)
        self.capacity = workers
        if self.connections is not None:
            self.connections.resize(up)

    def _apply(self) -> None:
        self._effective()
        # Workers above a smaller capacity finish what they hold (they still exist, and
        # count as capacity, until then); a larger capacity starts work now.
        self.draining = max(0, self.busy - self.capacity)
        self._pull(self.env.now)

    # -- failures -------------------------------------------------------------------------
    def set_share(self, share: float) -> None:
        """A scheduled outage: ``share`` of the workers stay (1: no outage, 0: down)."""
        now = self.env.now
        self._touch(now)
        if share < 1.0 and self._outage_since is None:
            self._outage_since = now
        elif share >= 1.0 and self._outage_since is not None:
            self._outage_s += now - self._outage_since
            self._outage_since = None
        self.share = float(share)
        self._apply()

    def outage_s(self) -> float:
        """Seconds spent under a scheduled outage so far."""
        since = self._outage_since
        return self._outage_s + (self.env.now - since if since is not None else 0.0)

    def kill(self, k: int, gen: np.random.Generator, reason: str = "crashed") -> int:
        """``k`` serving instances go down: their share of the work fails now.

        Returns how many instances went down (at most ``serving``).
        """
        now = self.env.now
        self._touch(now)
        k = min(int(k), self.serving)
        if k <= 0:
            return 0
        frac = k / self.serving
        self.crashes += k
        self._kill_work(frac, gen, reason)
        self.down += k
        self._apply()
        return k

    def restore(self, k: int) -> None:
        """``k`` instances that were down serve again (a restart)."""
        self._touch(self.env.now)
        self.down = max(0, self.down - int(k))
        self._apply()

    def _fail(self, c: Cohort, reason: str) -> None:
        self.killed += c.count
        self.rejected += c.count
        self.reject(c, reason)

    def _kill_work(self, frac: float, gen: np.random.Generator, reason: str) -> None:
        live = self._live
        if live:
            m = round_share(len(live), frac, gen)
            if m:
                keys = list(live)
                for i in sorted(gen.choice(len(keys), size=m, replace=False).tolist()):
                    c = live.pop(keys[i])
                    self.busy -= 1
                    self._fail(c, reason)
        queue = self.queue
        m = round_share(len(queue), frac, gen)
        if m:
            gone = set(gen.choice(len(queue), size=m, replace=False).tolist())
            kept: deque[Cohort] = deque()
            for i, c in enumerate(queue):
                if i in gone:
                    self._fail(c, reason)
                else:
                    kept.append(c)
            self.queue = kept

    # -- admission ------------------------------------------------------------------------
    def _slow_offer(self, now: float, n: int) -> None:
        """Count ``n`` requests towards the slowdown's rate (offered or started)."""
        window = self._slow_window
        assert window is not None and self.slowdown is not None
        window.add(now, n)

    def _factor(self, now: float) -> float:
        """The service-time factor now: ``factor`` while the counted rate is above."""
        window, slow = self._slow_window, self.slowdown
        assert window is not None and slow is not None
        self.slow_factor = slow[1] if window.rate(now) > slow[0] else 1.0
        return self.slow_factor

    def _retry_rejects(self, c: Cohort, now: float) -> bool:
        """Server-side retry ratio: count the request; True if it is a retry to refuse."""
        window, limit = self._retry_window, self.retry_ratio
        assert window is not None and limit is not None
        n = c.count
        retry = c.attempt > 1
        window.add(now, n, n if retry else 0)
        return retry and window.retries > limit[0] * window.n

    def offer(self, c: Cohort) -> None:
        """A request arrives at this tier."""
        now = self.env.now
        n = c.count
        self.offered += n
        c.station = self
        if self._slow_window is not None and not self._slow_started:
            self._slow_offer(now, n)
        if self._retry_window is not None and self._retry_rejects(c, now):
            self.rejected += n
            self.retry_rejected += n
            self.reject(c, "retry_ratio")
            return
        bucket = self.bucket
        if bucket is not None and bucket.take(n, now) < n:
            self.rejected += n
            self.reject(c, "rate_limited")
            return
        connections = self.connections
        if connections is not None and not hold_connections(connections, c):
            self.rejected += n
            self.reject(c, "connections_full")
            return
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
        if self._live is not None:
            self._live[id(c)] = c
        if self.slowdown is not None:
            if self._slow_started:
                self._slow_offer(now, 1)
            self._schedule(Due(self._on_done, c), NORMAL, self.service() * self._factor(now))
            return
        self._schedule(Due(self._on_done, c), NORMAL, self.service())

    def _done(self, ev: simpy.Event) -> None:
        c: Cohort = ev._value
        if self._live is not None and self._live.pop(id(c), None) is None:
            return  # failed with its instance
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
            if c.deadline_s <= now and self.drop_expired:
                self.timed_out += c.count
                self.expire(c)
                continue
            if self.shed_queue_age_s is not None and now - c.enqueued_s > self.shed_queue_age_s:
                self.shed += c.count
                self.reject(c, "shed")
                continue
            if c.deadline_s <= now:
                self.timed_out += c.count
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

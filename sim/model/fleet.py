"""The instances of one autoscaled station through their lifecycle, with quotas and cost.

An autoscaler decides a *desired* count; the fleet makes it so, the way a Kubernetes
Deployment or an AWS Auto Scaling group does:

- **pending**: launched, not serving yet; ready after a provisioning delay drawn from a
  per-station distribution (mean ``provisioning_delay_s``; ``deterministic`` by default);
- **warming**: serving, at ``warmup_speed`` of the normal rate for ``warmup_s`` (a JIT,
  cold caches, connection pools filling) — modelled as fewer effective workers,
  ``max(1, round(workers_per_instance × warmup_speed))``, in exact and cohort mode alike;
- **ready**: serving at full rate;
- **draining**: removed; its workers finish the requests they hold and then leave (the
  station counts them as capacity until then), while the queue waits for the others.

Scale-in removes pending instances first (newest first), then warming ones, then ready
ones. Quotas: the instance cap (``max_instances``) and ``max_launches_per_min``
(launches beyond it wait for the sliding minute to let them through, as a cloud API
throttles). A warm pool keeps ``size`` pre-initialised instances: a launch takes one from
the pool, in service after ``delay_s`` and without warming, and the pool refills in the
background with the cold provisioning delay.

Cost: instance-seconds from launch to removal (pending, warming and ready instances;
draining is left out, it lasts one request), plus pool instances at ``price_share`` of
the price.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from ..engine import Station

MINUTE_S = 60.0


@dataclass
class _Instance:
    from_pool: bool = False
    cancelled: bool = False


class Fleet:
    """Pending, warming and ready instances of one station, kept at a desired count."""

    def __init__(self, env: simpy.Environment, station: Station,
                 resize: Callable[[int, int], None], *, min_instances: int,
                 max_instances: int | None, provisioning: Callable[[], float],
                 warmup_s: float = 0.0, warmup_speed: float = 1.0,
                 max_launches_per_min: int | None = None, pool_size: int = 0,
                 pool_delay_s: float = 0.0) -> None:
        self.env = env
        self.station = station
        self.resize = resize
        self.base_min = min_instances
        self.quota = max_instances if max_instances is not None else 10**9
        self.provisioning = provisioning
        self.warmup_s = warmup_s
        w = station.workers_per_instance
        self.workers = w
        self.warm_workers = w if warmup_speed >= 1 else max(1, round(w * warmup_speed))
        self.max_launches_per_min = max_launches_per_min
        self.pool_delay_s = pool_delay_s
        self.pool_size = pool_size
        self.pool = pool_size  # pre-initialised instances waiting in the pool
        self.pool_filling = 0
        self.ready = station.instances
        self.pending: list[_Instance] = []
        self.warming: list[_Instance] = []
        self.desired = station.instances
        # Bounds set by scheduled actions and predictive scaling (None / 0: not set).
        self.sched_min: int | None = None
        self.sched_max: int | None = None
        self.predicted = 0
        self.launched = 0
        self.removed = 0  # warming or ready instances taken out of service
        self.cancelled = 0  # launches cancelled while pending
        self.from_pool = 0
        self.throttled = 0  # launches that had to wait for the per-minute quota
        self._deferred = 0
        self._launch_times: deque[float] = deque()
        self._retry_at = math.inf
        self._t = env.now
        self.instance_s = 0.0
        self.pool_s = 0.0

    # -- counts ---------------------------------------------------------------------------
    @property
    def serving(self) -> int:
        return self.ready + len(self.warming)

    @property
    def total(self) -> int:
        return self.serving + len(self.pending)

    @property
    def n_pending(self) -> int:
        return len(self.pending)

    @property
    def n_warming(self) -> int:
        return len(self.warming)

    @property
    def max_instances(self) -> int:
        hi = self.quota
        if self.sched_max is not None:
            hi = min(hi, self.sched_max)
        return hi

    @property
    def min_instances(self) -> int:
        lo = max(self.base_min, self.sched_min or 0, self.predicted)
        return min(lo, self.max_instances)

    def touch(self, now: float) -> None:
        dt = now - self._t
        if dt > 0:
            self.instance_s += self.total * dt
            self.pool_s += (self.pool + self.pool_filling) * dt
            self._t = now

    # -- desired count --------------------------------------------------------------------
    def set_desired(self, n: int) -> None:
        """Ask for ``n`` instances (clamped to the bounds and the quota)."""
        self.desired = int(min(self.max_instances, max(self.min_instances, n)))
        self.reconcile()

    def reconcile(self) -> None:
        now = self.env.now
        self.touch(now)
        total = self.total
        deferred = 0
        if self.desired > total:
            need = self.desired - total
            allowed = need
            if self.max_launches_per_min is not None:
                times = self._launch_times
                while times and times[0] <= now - MINUTE_S:
                    times.popleft()
                allowed = min(need, self.max_launches_per_min - len(times))
            for _ in range(allowed):
                self._launch(now)
            if allowed < need:
                deferred = need - allowed
                at = self._launch_times[0] + MINUTE_S
                if at < self._retry_at:
                    self._retry_at = at
                    ev = self.env.timeout(at - now)
                    ev.callbacks.append(self._retry)
        elif self.desired < total:
            drop = total - self.desired
            while drop and self.pending:
                self.pending.pop().cancelled = True
                self.cancelled += 1
                drop -= 1
            while drop and self.warming:
                self.warming.pop().cancelled = True
                self.removed += 1
                drop -= 1
            cut = min(drop, self.ready)
            self.ready -= cut
            self.removed += cut
        # Count each deferred launch once, however often the controller asks again.
        self.throttled += max(0, deferred - self._deferred)
        self._deferred = deferred
        self._apply()

    def _retry(self, _ev: simpy.Event) -> None:
        self._retry_at = math.inf
        self.reconcile()

    # -- lifecycle ------------------------------------------------------------------------
    def _launch(self, now: float) -> None:
        self._launch_times.append(now)
        self.launched += 1
        inst = _Instance()
        if self.pool > 0:
            self.pool -= 1
            self.from_pool += 1
            inst.from_pool = True
            delay = self.pool_delay_s
            self.pool_filling += 1
            refill = self.env.timeout(self.provisioning())
            refill.callbacks.append(self._refilled)
        else:
            delay = self.provisioning()
        self.pending.append(inst)
        ev = self.env.timeout(delay)
        ev.callbacks.append(functools.partial(self._on_ready, inst))

    def _refilled(self, _ev: simpy.Event) -> None:
        self.touch(self.env.now)
        self.pool_filling -= 1
        self.pool += 1

    def _on_ready(self, inst: _Instance, _ev: simpy.Event) -> None:
        if inst.cancelled:
            return
        self.touch(self.env.now)
        self.pending.remove(inst)
        if self.warmup_s > 0 and not inst.from_pool:
            self.warming.append(inst)
            ev = self.env.timeout(self.warmup_s)
            ev.callbacks.append(functools.partial(self._on_warm, inst))
        else:
            self.ready += 1
        self._apply()

    def _on_warm(self, inst: _Instance, _ev: simpy.Event) -> None:
        if inst.cancelled:
            return
        self.touch(self.env.now)
        self.warming.remove(inst)
        self.ready += 1
        self._apply()

    def _apply(self) -> None:
        n = self.serving
        workers = self.ready * self.workers + len(self.warming) * self.warm_workers
        if n != self.station.instances or workers != self.station.capacity:
            self.resize(n, workers)

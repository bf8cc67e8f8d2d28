"""Failure dynamics scheduled onto stations: outages, lost servers and overload crashes.

- ``outages``: from ``start_s`` to ``end_s`` a station keeps ``capacity_share`` of its
  workers (overlapping outages: the smallest share holds). The trigger of a metastable
  failure: a short loss of capacity that retries may keep going after it ends.
- ``failures``: at ``at_s`` a station loses ``instances`` servers (chosen at random); the
  requests on them fail and the listeners they held are evicted, and reconnect through
  the whole join path if ``clients.reconnect`` (a reconnect storm). They come back
  after ``restart_s`` (never if null).
- ``crash``: once a second the station's overload is checked (utilization of the serving
  workers over the last second ≥ ``above_utilization``, or queued requests per serving
  instance ≥ ``queue_per_instance``); after ``after_s`` of continuous overload one
  instance crashes and restarts ``restart_s`` later, and the clock starts again, so a
  tier that stays overloaded loses an instance every ``after_s`` (the first crash
  moves its load onto the others: a cascade). Instances of one tier share one queue
  here, so they are overloaded together; one crashes at a time because in practice the
  first to exhaust its memory dies first.

An autoscaler does not see a crashed or lost instance as gone: its fleet still counts
it (as Kubernetes counts a restarting pod against the Deployment's replicas, and
restarts it in place rather than replacing it). What it sees is the effect: the serving
workers are fewer, so the utilization and queue it measures rise and it may add
instances, which then serve on top of the ones restarting.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from ..config import StationConfig
from ..engine import Pool, Station

CHECK_S = 1.0  # how often a crash-enabled station's overload is checked


class StationFailures:
    """The outages, server losses and overload crashes of one station."""

    def __init__(self, env: simpy.Environment, station: Station, pool: Pool | None,
                 cfg: StationConfig, gen: np.random.Generator,
                 evict: Callable[[list[Any], int], None]) -> None:
        self.env = env
        self.station = station
        self.pool = pool
        self.cfg = cfg
        self.gen = gen
        self.evict = evict
        self._shares: list[float] = []  # capacity shares of the outages in force

    def processes(self) -> list[Generator[simpy.Event, Any, None]]:
        procs = [self._outage(o.start_s, o.end_s, o.capacity_share) for o in self.cfg.outages]
        procs += [self._failure(f.at_s, f.instances, f.restart_s) for f in self.cfg.failures]
        if self.cfg.crash.enabled:
            procs.append(self._crash_monitor())
        return procs

    # -- capacity changes -----------------------------------------------------------------
    def lose(self, k: int, reason: str) -> int:
        """``k`` serving instances go down now; their listeners are evicted."""
        k = self.station.kill(k, self.gen, reason)
        if k and self.pool is not None:
            evicted = self.pool.lose(k, self.gen)
            self.evict(evicted, self.pool.last_evicted)
        return k

    def restore(self, k: int) -> None:
        """``k`` instances serve again (with no listeners)."""
        st = self.station
        st.restore(k)
        if self.pool is not None and self.pool.instances < st.serving:
            self.pool.resize(st.serving)

    def _set_share(self) -> None:
        self.station.set_share(min(self._shares, default=1.0))

    # -- processes ------------------------------------------------------------------------
    def _outage(self, start_s: float, end_s: float,
                share: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        if start_s > env.now:  # an outage from the start holds before the first arrival
            yield env.timeout(start_s - env.now)
        self._shares.append(share)
        self._set_share()
        yield env.timeout(end_s - env.now)
        self._shares.remove(share)
        self._set_share()

    def _failure(self, at_s: float, k: int,
                 restart_s: float | None) -> Generator[simpy.Event, Any, None]:
        env = self.env
        yield env.timeout(max(0.0, at_s - env.now))
        lost = self.lose(k, "instance_lost")
        if lost and restart_s is not None:
            yield env.timeout(restart_s)
            self.restore(lost)

    def _restart(self, k: int, after_s: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(after_s)
        self.restore(k)

    def _crash_monitor(self) -> Generator[simpy.Event, Any, None]:
        env, st, cr = self.env, self.station, self.cfg.crash
        st._touch(env.now)
        busy, cap, queue, t = st.busy_area, st.capacity_area, st.queue_area, env.now
        since: float | None = None
        while True:
            yield env.timeout(CHECK_S)
            now = env.now
            st._touch(now)
            d_busy, d_cap = st.busy_area - busy, st.capacity_area - cap
            d_queue = (st.queue_area - queue) / max(now - t, 1e-12)
            busy, cap, queue, t = st.busy_area, st.capacity_area, st.queue_area, now
            over = False
            if st.serving > 0:
                if cr.above_utilization is not None and d_cap > 0:
                    over = d_busy / d_cap >= cr.above_utilization - 1e-9
                if cr.queue_per_instance is not None:
                    over = over or d_queue / st.serving >= cr.queue_per_instance
            if not over:
                since = None
                continue
            if since is None:
                since = now - CHECK_S  # overloaded over the whole last check
            if now - since >= cr.after_s - 1e-9 and self.lose(1, "crashed"):
                env.process(self._restart(1, cr.restart_s))
                since = None

"""Attack traffic: extra classes of requests that do not retry and do not listen.

A vector sends requests at ``rate_rps`` (Poisson) between ``start_s`` and ``end_s`` into
the station ``enter``; they follow the routes like any request and end after the station
``stop_after`` (an invalid token is refused after auth's work is done), or at the end of
the path. Attack requests have no deadline: bots do not give up. This version models no
mitigation, so ``mitigated`` stays 0; reaching the end of the path counts as served and
holds no listener slot.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import simpy
from simpy.events import Timeout

from ..config import AttackVectorConfig
from ..engine import Cohort, Network, Pool, Station

INF = math.inf


class AttackVector:
    """One vector of an attack mix: the owner of its cohorts."""

    def __init__(self, env: simpy.Environment, name: str, cfg: AttackVectorConfig,
                 network: Network, gen: np.random.Generator, horizon_s: float,
                 pool: Pool | None = None) -> None:
        self.env = env
        self.name = name
        self.cfg = cfg
        self.station = network.stations[cfg.enter]
        self.gen = gen
        self.horizon_s = horizon_s
        self.pool = pool
        self.offered = 0
        self.mitigated = 0
        self.served = 0
        self.rejected = 0
        self.timed_out = 0

    def rate(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        return np.where((t >= self.cfg.start_s) & (t < self.cfg.end_s), self.cfg.rate_rps, 0.0)

    def start_exact(self) -> None:
        cfg = self.cfg
        end = min(cfg.end_s, self.horizon_s)
        if cfg.rate_rps <= 0 or end <= cfg.start_s:
            return
        k = int(self.gen.poisson(cfg.rate_rps * (end - cfg.start_s)))
        times = np.sort(self.gen.uniform(cfg.start_s, end, size=k)).tolist()
        it = iter(times)
        env = self.env

        def next_request(_ev: Any = None) -> None:
            if _ev is not None:
                self.send(1)
            t = next(it, None)
            if t is not None:
                ev = Timeout(env, max(0.0, t - env.now))
                ev.callbacks.append(next_request)

        next_request()

    def start_counts(self, dt: float) -> None:
        """Cohort mode: one cohort per tick with the Poisson count of that tick."""
        cfg = self.cfg
        end = min(cfg.end_s, self.horizon_s)
        if cfg.rate_rps <= 0 or end <= cfg.start_s:
            return
        k0, k1 = int(cfg.start_s // dt), math.ceil(end / dt)
        edges = np.clip(np.arange(k0, k1 + 1) * dt, cfg.start_s, end)
        counts = self.gen.poisson(cfg.rate_rps * np.diff(edges)).tolist()
        it = iter(zip(edges[:-1].tolist(), np.diff(edges).tolist(), counts, strict=True))
        env = self.env

        def next_tick(ev: Any = None) -> None:
            if ev is not None:
                self.send(*ev._value)
            for t, width, n in it:
                if n:
                    e = Timeout(env, max(0.0, t - env.now), (n, width))
                    e.callbacks.append(next_tick)
                    return

        next_tick()

    def send(self, count: int, spread_s: float = 0.0) -> None:
        now = self.env.now
        c = Cohort(self.name, count, now, now, INF, 1, self)
        c.spread_s = spread_s
        c.stop_at = self.cfg.stop_after
        self.offered += count
        self.station.offer(c)

    # Outcomes, as the network reports them.
    def on_finished(self, c: Cohort, st: Station) -> None:
        self.served += c.count

    def on_joined(self, c: Cohort, st: Station, placements: list[tuple[int, int]] | None) -> None:
        self.served += c.count
        if placements and self.pool is not None:
            self.pool.give_back(placements)

    def on_failed(self, c: Cohort, st: Station, reason: str) -> None:
        self.rejected += c.count

    def on_expired(self, c: Cohort, st: Station) -> None:
        self.timed_out += c.count

    def summary(self) -> dict[str, int]:
        return {"offered": self.offered, "mitigated": self.mitigated, "served": self.served,
                "rejected": self.rejected, "timed_out": self.timed_out,
                "in_flight": self.offered - self.mitigated - self.served - self.rejected
                - self.timed_out}

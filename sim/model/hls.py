"""Listeners' steady HLS polling: a request class that grows with the audience.

An HLS listener does not hold a server slot; its player fetches the media playlist and
the next segment of about 3 s of audio, about two fetches per segment (with 3 s segments,
1.3M listeners make ~430k playlist + ~430k segment fetches per second, i.e. ~0.66 per
listener per second). That load lasts as long as the audience listens, so it is modelled as a
request class whose rate is ``rps_per_listener × listeners now``: per tick (the
resolution in cohort mode, ``tick_s`` in exact mode) the Poisson count of polls at the
current listener count. A share ``origin_share`` misses the CDN cache and goes through
the origin first (its routes lead to the CDN); the rest enter the CDN. A poll ends at
the CDN (it takes no listener slot), has no client deadline and is not retried.

What it leaves out: a listener whose polls fail does not stall, leave or reconnect here;
``summary.json``'s ``polling`` block counts the failed polls, which are the stalls a
listener would hear. Request coalescing at the CDN (one origin fetch per edge cache per
playlist update, whatever the audience) is what a small ``origin_share`` stands for.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy
from simpy.events import Timeout

from .. import series as cols
from ..config import PollingConfig
from ..engine import Cohort, Network, Station, TickRecorder
from ..summary import Polling

INF = math.inf
POLL = "hls_poll"


class ListenerPolling:
    """The owner of every poll cohort: sends them and counts how they end."""

    def __init__(self, env: simpy.Environment, cfg: PollingConfig, network: Network,
                 clients: Any, gen: np.random.Generator, resolution_s: float,
                 horizon_s: float, enter: str) -> None:
        self.env = env
        self.cfg = cfg
        self.clients = clients
        self.gen = gen
        self.dt = resolution_s if resolution_s > 0 else cfg.tick_s
        self.exact = resolution_s <= 0
        self.horizon_s = horizon_s
        self.enter = enter
        self.cdn = network.stations[enter]
        self.origin = network.stations[cfg.origin] if cfg.origin is not None else None
        self.offered = 0
        self.served = 0
        self.rejected = 0
        self.timed_out = 0

    def start(self) -> None:
        self.env.process(self._ticks())

    def _ticks(self) -> Generator[simpy.Event, Any, None]:
        env, dt, rate = self.env, self.dt, self.cfg.rps_per_listener
        while env.now < self.horizon_s:
            n = int(self.gen.poisson(rate * self.clients.listeners * dt))
            if n:
                miss = (int(self.gen.binomial(n, self.cfg.origin_share))
                        if self.origin is not None and self.cfg.origin_share > 0 else 0)
                if self.exact:
                    self._spread(self.origin, miss)
                    self._spread(self.cdn, n - miss)
                else:
                    if miss:
                        assert self.origin is not None
                        self._send(self.origin, miss, dt)
                    if n - miss:
                        self._send(self.cdn, n - miss, dt)
            yield env.timeout(dt)

    def _spread(self, st: Station | None, n: int) -> None:
        """Exact mode: ``n`` single polls at uniform times over the coming tick."""
        if st is None or n <= 0:
            return
        for d in np.sort(self.gen.uniform(0.0, self.dt, size=n)).tolist():
            ev = Timeout(self.env, d, st)
            ev.callbacks.append(self._one)

    def _one(self, ev: simpy.Event) -> None:
        self._send(ev._value, 1, 0.0)

    def _send(self, st: Station, n: int, spread_s: float) -> None:
        now = self.env.now
        c = Cohort(POLL, n, now, now, INF, 1, self)
        c.spread_s = spread_s
        c.stop_at = self.enter
        self.offered += n
        st.offer(c)

    # Outcomes, as the network reports them.
    def on_finished(self, c: Cohort, st: Station) -> None:
        self.served += c.count

    def on_joined(self, c: Cohort, st: Station,
                  placements: list[tuple[int, int]] | None) -> None:  # pragma: no cover
        raise RuntimeError("a poll ends at its CDN station (stop_at), it takes no slot")

    def on_failed(self, c: Cohort, st: Station, reason: str) -> None:
        self.rejected += c.count

    def on_expired(self, c: Cohort, st: Station) -> None:
        self.timed_out += c.count

    def register_series(self, rec: TickRecorder) -> None:
        """The polling's columns of the time series, under ``polling.``."""
        rec.add(cols.POLLING_OFFERED, "count", lambda: self.offered)
        rec.add(cols.POLLING_SERVED, "count", lambda: self.served)
        rec.add(cols.POLLING_REJECTED, "count", lambda: self.rejected)
        rec.add(cols.POLLING_TIMED_OUT, "count", lambda: self.timed_out)

    def summary(self) -> Polling:
        done = self.served + self.rejected + self.timed_out
        return {"rps_per_listener": self.cfg.rps_per_listener, "enter": self.enter,
                "offered": self.offered, "served": self.served, "rejected": self.rejected,
                "timed_out": self.timed_out, "in_flight": self.offered - done,
                "failed_share": (self.rejected + self.timed_out) / done if done else None}

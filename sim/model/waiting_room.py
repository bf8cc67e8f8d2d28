"""A virtual waiting room in front of the join path.

Users who press "join" are not sent to the entry station at once: they take a place in
a first-in first-out room and are let through at ``admit_rps`` (a token bucket that
banks at most ``burst`` users while the room is empty, so an idle room passes a trickle
straight through). A user let through holds a pass, as with a queue-it or Cloudflare
waiting room cookie: its retries and its reconnects go straight to the entry station.

While a user waits in the room no attempt is running, so its per-attempt client
timeout does not run: the attempt starts, and its deadline is set ``timeout_s`` later,
when the room lets it through (the room moves the cohort's start and deadline by the
time held). Join latency still counts from the press of "join", room included, and
``clients.patience_s`` still counts from it too: a user held for five minutes who then
fails an attempt abandons if five minutes is past its patience. The room's own
``patience_s`` (null: users wait as long as it takes, as they do when the room shows
their place) lets users leave the room itself; they count as abandoned.

The room is domain code (it knows clients, attempts and passes); the clients consult
it through one hook at the top of their ``_attempt``: ``room.hold(cohort)`` returns
True when the room took the cohort. Both modes: exact mode lets users through one at a
time at the bucket's pace; cohort mode lets ``floor(tokens)`` through per resolution
tick, splitting the cohort at the head of the room.

With ``watch`` (a station) and ``max_in_system``, the room also pauses while that
station holds more than ``max_in_system`` requests, queued or in service (admission
while the join path's load is below a threshold); tokens keep banking up to the
bucket while paused. The gate is one rule in both modes: a user is let through at a
token only if the watched station holds at most ``max_in_system`` requests at that
instant; a user let through counts once its request reaches the station (not while it
crosses the stations before it, so a room admitting at ``admit_rps`` across a path of
transit time τ can put up to ``admit_rps · τ`` requests past the threshold). A paused
room looks again every ``PAUSE_POLL_S`` (50 ms).

A gate changes state with every request the watched station takes or finishes, so it is
only as exact as that station: where the station serves one request at a time (exact
mode, and a small station in cohort mode, ``sim.engine.granular``), the room does too.
In cohort mode it then splits each cohort of first attempts into users who press join
at their own times, drawn uniformly over the cohort's spread (the arrival times of a
tick's Poisson count), and lets them through one at a time as exact mode does. Deciding
once per tick instead lets a small gate either starve the station (capping each tick at
the room left below the threshold: the station drains within the tick and idles until
the next, a throughput of at most ``(max_in_system + 1) / tick``) or flood it (letting a
tick's tokens through at once). A gate on a large (fluid) station, whose level moves by
cohorts anyway, is decided per tick, letting through at most the room left below the
threshold (``max_in_system + 1 − in_system``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from .. import series as cols
from ..config import WaitingRoomConfig
from ..engine import Cohort, Station, TickRecorder
from ..engine.clock import NORMAL, Due
from ..engine.granular import Granular
from ..summary import WaitingRoom as WaitingRoomSummary

INF = math.inf
EPS = 1e-9  # tokens short of a whole user by rounding only
PAUSE_POLL_S = 0.05  # exact mode: how often a paused room looks at the watched station


class WaitingRoom:
    """FIFO admission at a fixed rate in front of the entry station."""

    def __init__(self, env: simpy.Environment, cfg: WaitingRoomConfig, clients: Any,
                 resolution_s: float, horizon_s: float, watched: Station | None = None) -> None:
        self.env = env
        # Optional load gate: no admission while the watched station holds more than
        # max_in_system requests (queued or in service).
        self.watched = watched
        self.max_in_system = cfg.max_in_system if cfg.max_in_system is not None else INF
        self.paused_s = 0.0
        self.clients = clients
        self.rate = cfg.admit_rps
        self.dt = resolution_s
        self.horizon_s = horizon_s
        # Users let through one at a time (see the module docstring): always in exact
        # mode; in cohort mode when the gate watches a station served one at a time.
        self.singly = resolution_s <= 0 or isinstance(watched, Granular)
        self._spread_gen: np.random.Generator | None = getattr(watched, "_spread_gen", None)
        self._press_cbs = (self._press,)
        # Cohort mode must be able to let a whole tick's worth through at once, and keep
        # the fraction of a user a tick leaves over.
        self.cap = (max(cfg.burst, cfg.admit_rps * resolution_s + 1.0) if not self.singly
                    else cfg.burst)
        self.patience_s = cfg.patience_s if cfg.patience_s is not None else INF
        self.queue: deque[Cohort] = deque()
        self._tokens = self.cap
        self._tokens_t = 0.0
        self._releasing: Cohort | None = None
        self._wake: simpy.Event | None = None
        self.size = 0
        self.peak_size = 0
        self.entered = 0
        self.admitted = 0
        self.abandoned = 0
        self.wait_sum = 0.0
        self.wait_max = 0.0

    # -- the hook -------------------------------------------------------------------------
    def hold(self, c: Cohort) -> bool:
        """Take a first attempt into the room (True), or let it pass (False)."""
        if c is self._releasing or c.attempt > 1 or c.reconnect:
            return False
        if self.dt > 0 and self.singly:
            self._press_singly(c)  # each user enters the room when it presses join
            return True
        self.entered += c.count
        return self._take_in(c, self.env.now)

    def _take_in(self, c: Cohort, now: float) -> bool:
        """Let ``c`` through at once as far as tokens and the gate allow (False: all of it,
        its attempt goes on as it came); queue the rest (True)."""
        self._refill(now)
        if not self.queue and not self._paused():
            k = min(c.count, int(self._tokens + EPS), self._headroom())
            if k == c.count:
                self._tokens -= k
                self._record_admit(c, now)
                return False
            if k:
                self._tokens -= k
                part = c.split(k)
                self._record_admit(part, now)
                self._release(part)
        self.queue.append(c)
        self.size += c.count
        self.peak_size = max(self.peak_size, self.size)
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()
        return True

    def _press_singly(self, c: Cohort) -> None:
        """Cohort mode, gate on a small station: the users of ``c`` press join one by one,
        at times drawn uniformly over the cohort's spread."""
        n, w = c.count, c.spread_s
        now = self.env.now
        gen = self._spread_gen
        if w <= 0.0:
            offsets = [0.0] * n
        elif gen is not None:
            offsets = (np.sort(gen.random(n)) * w).tolist()
        else:
            offsets = [(i + 0.5) * w / n for i in range(n)]
        start = c.start_s - w / 2  # the cohort's attempts started over [start, start + w)
        timeout = c.deadline_s - c.start_s
        for i, off in enumerate(offsets):
            one = c if i == n - 1 else c.split(1)
            t = start + off
            one.born_s = t
            one.born_spread = 0.0
            one.born_var = 0.0
            one.spread_s = 0.0
            one.start_s = t
            one.deadline_s = t + timeout if timeout < INF else INF
            self.env.schedule(Due(self._press_cbs, one), NORMAL,  # type: ignore[arg-type]
                              max(0.0, t - now))

    def _press(self, ev: simpy.Event) -> None:
        c: Cohort = ev._value
        self.entered += 1
        if not self._take_in(c, self.env.now):
            self._release(c, keep_start=True)

    def start(self) -> None:
        """Start the admission process (call once, before the run)."""
        self.env.process(self._one_by_one() if self.singly else self._ticks())

    # -- admission ------------------------------------------------------------------------
    def _paused(self) -> bool:
        return self.watched is not None and self.watched.in_system > self.max_in_system

    def _headroom(self) -> int:
        """Users the load gate lets through at once: up to one past the threshold."""
        if self.watched is None:
            return 1 << 62
        return max(0, int(self.max_in_system) + 1 - self.watched.in_system)

    def _refill(self, now: float) -> None:
        self._tokens = min(self.cap, self._tokens + (now - self._tokens_t) * self.rate)
        self._tokens_t = now

    def _leave_impatient(self, now: float) -> None:
        q = self.queue
        while q and now - q[0].born_s > self.patience_s:
            c = q.popleft()
            self.size -= c.count
            self.abandoned += c.count
            self.clients.abandoned += c.count
            self.clients.in_flight -= c.count

    def _record_admit(self, c: Cohort, now: float) -> None:
        self.admitted += c.count
        wait = max(0.0, now - c.born_s)
        self.wait_sum += wait * c.count
        self.wait_max = max(self.wait_max, wait)

    def _release(self, c: Cohort, keep_start: bool = False) -> None:
        """Start the attempt of ``c`` now: its start and deadline move by the time held
        (``keep_start``: let through as it came, not held)."""
        if keep_start:
            self._releasing = c
            try:
                self.clients._attempt(c)
            finally:
                self._releasing = None
            return
        now = self.env.now
        timeout = c.deadline_s - c.start_s
        if self.dt > 0 and not self.singly:
            c.spread_s = self.dt
            c.start_s = now + self.dt / 2
        else:
            c.start_s = now
        c.deadline_s = c.start_s + timeout if timeout < INF else INF
        self._releasing = c
        try:
            self.clients._attempt(c)
        finally:
            self._releasing = None

    def _one_by_one(self) -> Generator[simpy.Event, Any, None]:
        """Exact mode: one user at a time, each when the bucket has a token."""
        env = self.env
        while True:
            if not self.queue:
                self._wake = env.event()
                yield self._wake
                self._wake = None
            now = env.now
            self._leave_impatient(now)
            if not self.queue:
                continue
            if self._paused():
                yield env.timeout(PAUSE_POLL_S)
                self.paused_s += PAUSE_POLL_S
                continue
            self._refill(now)
            if self._tokens < 1.0 - EPS:
                yield env.timeout((1.0 - self._tokens) / self.rate)
                now = env.now
                self._refill(now)
                self._leave_impatient(now)
                if not self.queue:
                    continue
            c = self.queue.popleft()
            self.size -= c.count
            self._tokens -= c.count
            self._record_admit(c, now)
            self._release(c)

    def _ticks(self) -> Generator[simpy.Event, Any, None]:
        """Cohort mode: per tick, let ``floor(tokens)`` users through from the head."""
        env = self.env
        while env.now < self.horizon_s:
            yield env.timeout(self.dt)
            now = env.now
            self._leave_impatient(now)
            if not self.queue:
                continue
            self._refill(now)
            if self._paused():
                self.paused_s += self.dt
                continue
            room = min(int(self._tokens + EPS), self._headroom())
            while room > 0 and self.queue:
                head = self.queue[0]
                c = self.queue.popleft() if head.count <= room else head.split(room)
                self.size -= c.count
                room -= c.count
                self._tokens -= c.count
                self._record_admit(c, now)
                self._release(c)

    def register_series(self, rec: TickRecorder) -> None:
        """The room's columns of the time series: its size, who was let in, who left."""
        rec.add(cols.WAITING_ROOM_SIZE, "level", lambda: self.size)
        rec.add(cols.WAITING_ROOM_ADMITTED, "count", lambda: self.admitted)
        rec.add(cols.WAITING_ROOM_ABANDONED, "count", lambda: self.abandoned)

    def summary(self) -> WaitingRoomSummary:
        return {"admit_rps": self.rate, "entered": self.entered, "admitted": self.admitted,
                "abandoned": self.abandoned, "waiting_end": self.size,
                "peak_size": self.peak_size, "paused_s": self.paused_s,
                "wait_s": {"mean": self.wait_sum / self.admitted if self.admitted else None,
                           "max": self.wait_max}}

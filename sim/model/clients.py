"""Listeners' clients: attempts, timeouts, retries with backoff, abandonment, sessions.

A client is born when its user presses "join" (the arrival curve says when). Each attempt
goes through the join path with a deadline ``timeout_s`` after it starts. An attempt
fails when a station rejects it (the client hears at once) or when the deadline passes
(the client stops waiting; the request may still be in the system and is served as
wasted work unless a station drops expired requests). After a failure the client retries
after a backoff given by the retry policy, unless it has made ``max_attempts`` attempts
or its patience (time since the first attempt) would run out: then it abandons. A share
of impatient users retries after ``impatient_retry_s`` (pressing join again), whatever
the policy.

A joined client is a listener: it holds a slot on a fanout server for a session whose
length is drawn from ``session``. If its server goes away (scaled in, crashed) it
reconnects through the join path with the same retry policy and keeps listening for the
rest of its session, or is lost.

Client policies (``client_policies``: retry budget, adaptive throttling, circuit breaker)
check each attempt before it is sent and each retry before it is scheduled; an attempt
they refuse is not sent and fails at once, a retry the budget denies is given up.

Every client ends joined or abandoned, or is in flight (in an attempt or waiting to
retry) when the run stops: the ledger counts each, independently, so the identity
``arrived == joined + abandoned + in_flight`` is a check, not a definition.

The clients report themselves: ``register_series`` adds their columns of the time
series (the ``legit.*`` funnel, the policies' refusals, the listeners), and ``ledger``,
``listeners_block`` and ``join_latency`` give their blocks of the summary
(``sim.summary``).

Backoff formulas: ``backoff.Backoff``, written once for both modes (this model draws
one delay per failed request with its ``sample``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import simpy

from .. import series as cols
from ..config import ClientsConfig
from ..engine import Cohort, Network, Pool, Sampler, Station, TickRecorder, Uniforms
from ..engine.clock import NORMAL, Due, FifoTimers, TimerHeap, scheduler
from ..summary import JoinLatency, Legit, Listeners
from ..tails import mixture_max, mixture_quantiles
from .backoff import Backoff
from .client_policies import ClientPolicies, Tag

INF = math.inf
LEGIT = "legit"


class Listening:
    """Slots one joined cohort holds on one fanout instance."""

    __slots__ = ("count", "end_s", "iid", "key")

    def __init__(self, count: int, end_s: float, iid: int, key: int) -> None:
        self.count = count
        self.end_s = end_s
        self.iid = iid
        self.key = key


class Clients:
    """The legit population: the owner of every legit cohort."""

    room: Any = None  # a waiting room (model.waiting_room) consulted before each attempt
    # Cohort mode's join latencies are distributions (``CohortClients``): the spread,
    # third cumulant and upper end of each; exact mode's are samples (None here).
    lat_sd: list[float] | None = None
    lat_k3: list[float] | None = None
    lat_hi: list[float] | None = None

    def __init__(
        self,
        env: simpy.Environment,
        cfg: ClientsConfig,
        network: Network,
        gen: np.random.Generator,
        session: Sampler,
        warmup_s: float,
        pool: Pool | None,
        policy_gen: np.random.Generator | None = None,
    ) -> None:
        self.env = env
        self.network = network
        self.entry = network.entry
        self.timeout_s = cfg.timeout_s if cfg.timeout_s is not None else INF
        self.retry = cfg.retry.policy != "none"
        self.max_attempts = cfg.retry.max_attempts if self.retry else 1
        self.patience_s = cfg.patience_s if cfg.patience_s is not None else INF
        self.impatient_share = cfg.impatient_share
        self.impatient_retry_s = cfg.impatient_retry_s
        self.reconnect = cfg.reconnect
        self.backoff = Backoff(cfg.retry.policy, cfg.retry.base_s, cfg.retry.cap_s, gen)
        self.gen = gen
        self.session = session
        self.warmup_s = warmup_s
        self.pool = pool
        # Retry budget, adaptive throttling, circuit breaker (None: all off). Their draws
        # come from their own stream so that switching them on moves no other number.
        self.policies = (ClientPolicies(cfg, policy_gen if policy_gen is not None else gen)
                         if ClientPolicies.active(cfg) else None)
        # Unique clients per metrics window, for the retry amplification (``track_unique``).
        self._track = False
        self._now: list[Cohort] = []  # immediate retries being started (_retry_now)
        self._row_s = 1.0
        self._window_rows = 1
        self.unique_delta: dict[int, int] = {}
        self.first_attempts = 0  # clients' first attempts sent (the cheap case of the above)
        self._keys = 0
        self._uniform = Uniforms(gen)
        # Timers are plain callbacks (see ``engine.clock``). Deadlines (one per attempt,
        # almost all answered before they come due) and session ends (mostly past the
        # horizon) wait outside SimPy's heap, where they would slow every other event.
        self._schedule = scheduler(env)
        self._on_retry_cbs = (self._on_retry,)
        self._deadlines = FifoTimers(env, self._timed_out, _answered)
        self._session_ends = TimerHeap(env, self._session_end)
        # The ledger (clients) and the funnel (attempts).
        self.arrived = 0
        self.joined = 0
        self.abandoned = 0
        self.in_flight = 0
        self.attempts = 0
        self.attempts_failed = 0
        self.attempts_rejected = 0
        self.attempts_timed_out = 0
        self.retries = 0
        self.wasted = 0  # requests that completed the path after their client gave up
        # Listeners.
        self.listeners = 0
        self.listener_area = 0.0
        self._t = 0.0
        self.peak_listeners = 0
        self.sessions_ended = 0
        self.evicted = 0
        self.reconnects = 0
        self.reconnected = 0
        self.lost = 0
        # Join latency (first attempt -> joined) of clients born after warm-up.
        self.lat_t: list[float] = []
        self.lat_v: list[float] = []
        self.lat_w: list[int] = []

    # -- births ---------------------------------------------------------------------------
    def start_arrivals(self, times: np.ndarray) -> None:
        """Schedule exact-mode births at the given times (sorted)."""
        it = iter(times.tolist())
        env = self.env
        schedule = self._schedule
        born = self.born

        def next_birth(_ev: Any = None) -> None:
            if _ev is not None:
                born(1)
            t = next(it, None)
            if t is None:
                return
            # One birth is pending at a time, so one event object serves them all.
            now = env.now
            due.callbacks = on_birth
            schedule(due, NORMAL, t - now if t > now else 0.0)

        on_birth = (next_birth,)
        due = Due(on_birth)
        next_birth()

    def born(self, count: int) -> None:
        now = self.env.now
        self.arrived += count
        self.in_flight += count
        if self.impatient_share > 0 and count == 1:
            c = Cohort(LEGIT, 1, now, now, now + self.timeout_s, 1, self)
            c.impatient = self._uniform() < self.impatient_share
            self._attempt(c)
        elif self.impatient_share > 0:
            k = int(self.gen.binomial(count, self.impatient_share))
            if k:
                hot = Cohort(LEGIT, k, now, now, now + self.timeout_s, 1, self)
                hot.impatient = True
                self._attempt(hot)
            if count - k:
                self._attempt(Cohort(LEGIT, count - k, now, now, now + self.timeout_s, 1, self))
        else:
            self._attempt(Cohort(LEGIT, count, now, now, now + self.timeout_s, 1, self))

    def track_unique(self, row_s: float, window_s: float) -> None:
        """Count clients with an attempt in each trailing ``window_s`` of metrics rows."""
        self._track = True
        self._row_s = row_s
        self._window_rows = max(1, round(window_s / row_s))

    def _unique(self, t: float, prev_s: float, n: int) -> None:
        """A client's later attempt at ``t`` (its previous one at ``prev_s``): it is in the
        windows ending at rows ``r .. r + S - 1``, minus those its previous attempt put it
        in. (A first attempt is in ``r .. r + S - 1``: ``first_attempts`` per row, summed
        over the window, counts those without a per-attempt entry here.)"""
        w, span = self._row_s, self._window_rows
        r = max(0, math.ceil(t / w - 1e-9) - 1)
        lo = r
        if prev_s > -INF:
            lo = max(r, max(0, math.ceil(prev_s / w - 1e-9) - 1) + span)
        hi = r + span
        if lo < hi:
            d = self.unique_delta
            d[lo] = d.get(lo, 0) + n
            d[hi] = d.get(hi, 0) - n

    def _refused(self, c: Cohort) -> bool:
        """The policies' check before sending: True if the attempt was refused locally."""
        pol = self.policies
        assert pol is not None
        tag = c.ticket
        if tag is None:
            tag = c.ticket = Tag()
        by_breaker, by_throttle = pol.admit(self.env.now, c.count, tag, c.attempt, c.born_s)
        if by_breaker or by_throttle:
            c.done = True
            self._failed(c, sent=False)
            return True
        return False

    def _attempt(self, c: Cohort) -> None:
        if self.room is not None and self.room.hold(c):
            return  # held in the waiting room: the attempt starts when it is let through
        if self.policies is not None and self._refused(c):
            return
        if c.reconnect:
            self.reconnects += c.count
        else:
            self.attempts += c.count
            if self._track:
                tag = c.ticket
                if tag is None or tag.prev_s == -INF:
                    self.first_attempts += c.count
                else:
                    self._unique(c.start_s, tag.prev_s, c.count)
        if c.deadline_s < INF:
            # Every attempt has the same timeout, so deadlines come due in this order.
            self._deadlines.after(c.deadline_s - c.start_s, c)
        self.entry.offer(c)

    # -- outcomes -------------------------------------------------------------------------
    def _timed_out(self, c: Cohort) -> None:
        # FifoTimers calls this only for attempts not answered yet.
        c.done = True
        self.attempts_timed_out += c.count
        self._failed(c, timed_out=True)

    def on_failed(self, c: Cohort, st: Station, reason: str) -> None:
        if c.done:
            return
        c.done = True
        self.attempts_rejected += c.count
        self._failed(c)

    def on_expired(self, c: Cohort, st: Station) -> None:
        if c.done:
            return
        c.done = True
        self.attempts_timed_out += c.count
        self._failed(c, timed_out=True)

    def on_finished(self, c: Cohort, st: Station) -> None:  # pragma: no cover - attacks only
        raise RuntimeError("a legit request has no stop_at station")

    def on_joined(self, c: Cohort, st: Station, placements: list[tuple[int, int]] | None) -> None:
        now = self.env.now
        if c.done:
            # The client gave up before the answer came back: wasted work, and a slot it
            # took is given back at once.
            self.wasted += c.count
            if placements and self.pool is not None:
                self.pool.give_back(placements)
            return
        c.done = True
        if self.policies is not None:
            self.policies.success(now, c.count, c.ticket)
        if c.reconnect:
            self.reconnected += c.count
            end_s = c.sleep_s  # a reconnect carries the end of its session here
        else:
            self.joined += c.count
            self.in_flight -= c.count
            if c.born_s >= self.warmup_s:
                self.lat_t.append(now)
                self.lat_v.append(now - c.born_s)
                self.lat_w.append(c.count)
            end_s = -1.0
        if placements is None or self.pool is None:
            return
        self._touch(now)
        for iid, k in placements:
            self.listeners += k
            length = self.session() if end_s < 0 else max(0.0, end_s - now)
            self._keys += 1
            rec = Listening(k, now + length, iid, self._keys)
            self.pool.hold(iid, rec.key, rec)
            self._session_ends.after(length, rec)
        if self.listeners > self.peak_listeners:  # noqa: PLR1730 - cheaper than max()
            self.peak_listeners = self.listeners

    def _failed(self, c: Cohort, sent: bool = True, timed_out: bool = False) -> None:
        """The attempt ``c`` failed (``sent``: at the server, else refused locally)."""
        now = self.env.now
        pol = self.policies
        if sent:
            self.attempts_failed += c.count
            if pol is not None:
                pol.failure(now, c.count, c.ticket)
        give_up = c.attempt >= self.max_attempts
        delay = 0.0
        tag = None
        if not give_up:
            previous = 0.0 if c.reconnect else c.sleep_s
            delay = (self.impatient_retry_s if c.impatient
                     else self.backoff.sample(c.attempt, previous))
            give_up = (not c.reconnect) and now + delay - c.born_s > self.patience_s
            if pol is not None and not give_up:
                allowed, tag = pol.retry(now, c.count, c.ticket, sent, timed_out, c.start_s,
                                         c.impatient)
                give_up = allowed < c.count
            elif self._track:
                tag = Tag(prev_s=c.start_s if sent or c.ticket is None else c.ticket.prev_s)
        if give_up:
            if c.reconnect:
                self.lost += c.count
            else:
                self.abandoned += c.count
                self.in_flight -= c.count
            return
        nxt = Cohort(LEGIT, c.count, c.born_s, now + delay, now + delay + self.timeout_s,
                     c.attempt + 1, self)
        nxt.impatient = c.impatient
        nxt.reconnect = c.reconnect
        nxt.ticket = tag
        if not c.reconnect:
            nxt.sleep_s = delay
            self.retries += c.count
        else:
            nxt.sleep_s = c.sleep_s  # keeps the session end
        if delay <= 0.0:
            self._retry_now(nxt)
        else:
            self._schedule(Due(self._on_retry_cbs, nxt), NORMAL, delay)

    def _retry_now(self, c: Cohort) -> None:
        """Start a retry with no delay at once. One that fails at once in turn (a full
        queue rejects it as it is offered) would start the next inside this call, one
        nested call per attempt (300 attempts exceeded Python's recursion limit), so
        retries that come due while one is being started wait in ``_now`` and the
        outermost call starts them in order, once the attempt before has been dealt
        with."""
        self._now.append(c)
        if len(self._now) > 1:
            return  # an outer call is starting retries: it will start this one
        while self._now:
            self._attempt(self._now[0])
            self._now.pop(0)

    def _on_retry(self, ev: simpy.Event) -> None:
        self._attempt(ev._value)

    # -- listening ------------------------------------------------------------------------
    def _touch(self, now: float) -> None:
        self.listener_area += self.listeners * (now - self._t)
        self._t = now

    def _session_end(self, rec: Listening) -> None:
        assert self.pool is not None
        if self.pool.release(rec.iid, rec.count, rec.key):
            self._touch(self.env.now)
            self.listeners -= rec.count
            self.sessions_ended += rec.count

    def evict(self, records: list[Listening]) -> None:
        """Listeners whose fanout instance went away: they reconnect or are lost."""
        now = self.env.now
        self._touch(now)
        for rec in records:
            self.listeners -= rec.count
            self.evicted += rec.count
            if rec.end_s <= now:
                continue
            if not self.reconnect:
                self.lost += rec.count
                continue
            c = Cohort(LEGIT, rec.count, now, now, now + self.timeout_s, 1, self)
            c.reconnect = True
            c.sleep_s = rec.end_s
            self._attempt(c)

    # -- outputs --------------------------------------------------------------------------
    def register_series(self, rec: TickRecorder) -> None:
        """The clients' columns of the time series: the funnel and the listeners."""
        rec.add(cols.ARRIVALS, "count", lambda: self.arrived)
        rec.add(cols.ATTEMPTS, "count", lambda: self.attempts)
        rec.add(cols.JOINED, "count", lambda: self.joined)
        rec.add(cols.ABANDONED, "count", lambda: self.abandoned)
        rec.add(cols.ATTEMPTS_SUCCEEDED, "count", lambda: self.joined + self.reconnected)
        rec.add(cols.ATTEMPTS_FAILED, "count", lambda: self.attempts_failed)
        rec.add(cols.ATTEMPTS_REJECTED, "count", lambda: self.attempts_rejected)
        rec.add(cols.ATTEMPTS_TIMED_OUT, "count", lambda: self.attempts_timed_out)
        rec.add(cols.IN_FLIGHT, "level", lambda: self.in_flight)
        rec.add(cols.RECONNECTS, "count", lambda: self.reconnects)
        rec.add(cols.FIRST_ATTEMPTS, "count", lambda: self.first_attempts)
        if self.policies is not None:
            self.policies.register_series(rec)
        rec.add(cols.LISTENERS, "area", lambda: self.listener_area)
        rec.add(cols.LISTENERS_END, "level", lambda: self.listeners)

    def ledger(self, expected_arrivals: float) -> Legit:
        """The ``legit`` block: every client arrived, joined, abandoned or in flight."""
        pol = self.policies
        out: Legit = {
            "arrived": self.arrived, "joined": self.joined, "abandoned": self.abandoned,
            "in_flight": self.in_flight, "attempts": self.attempts,
            "attempts_failed": self.attempts_failed,
            "attempts_rejected": self.attempts_rejected,
            "attempts_timed_out": self.attempts_timed_out, "retries": self.retries,
            "wasted": self.wasted,
            "attempts_per_client": self.attempts / self.arrived if self.arrived else None,
            "join_ratio": self.joined / self.arrived if self.arrived else None,
            "expected_arrivals": expected_arrivals,
            "retry_budget_denied": pol.retry_budget_denied if pol is not None else 0,
            "throttled": pol.throttled if pol is not None else 0,
            "breaker_rejected": pol.breaker_rejected if pol is not None else 0,
        }
        if pol is not None:
            out["policies"] = pol.summary()
        return out

    def listeners_block(self) -> Listeners:
        return {"peak": self.peak_listeners, "end": self.listeners,
                "sessions_ended": self.sessions_ended, "evicted": self.evicted,
                "reconnects": self.reconnects, "reconnected": self.reconnected,
                "lost": self.lost}

    def latencies(self) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray,
                                 np.ndarray | None, np.ndarray | None]:
        """Join latencies: ((times, values, weights), spreads, third cumulants, upper
        ends); exact mode's are samples (no spread, no cumulant, no upper end)."""
        lat = (np.asarray(self.lat_t), np.asarray(self.lat_v),
               np.asarray(self.lat_w, dtype=float))
        sd = np.asarray(self.lat_sd) if self.lat_sd is not None else np.zeros(len(lat[1]))
        k3 = np.asarray(self.lat_k3) if self.lat_k3 is not None else None
        hi = np.asarray(self.lat_hi) if self.lat_hi is not None else None
        return lat, sd, k3, hi

    def join_latency(self) -> JoinLatency:
        """The ``join_latency_s`` block: first attempt to joined, over the whole run."""
        (_, v, w), sd, k3, hi = self.latencies()
        mean = float(np.average(v, weights=w)) if len(v) else None
        qs = mixture_quantiles(v, sd, w, [0.5, 0.9, 0.99], k3)
        return {"mean": mean, "p50": _num(qs[0]), "p90": _num(qs[1]), "p99": _num(qs[2]),
                "max": mixture_max(v, sd, hi) if len(v) else None, "n": int(w.sum())}


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _answered(c: Cohort) -> bool:
    return c.done

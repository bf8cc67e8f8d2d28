"""Clients in cohort mode: the same behaviour as ``clients.Clients``, on counts.

Births come as one cohort per resolution tick with the Poisson count of that tick,
spread over the tick. An attempt's parts (a cohort split by stations) share a ticket.
A served part is answered over its completion window, not at its first completion, and
judged request share by request share: the share answered after its requests' own
deadlines timed out at those deadlines, so it is wasted work whose listener slots go
back, and it fails (is retried) when its answers come. The requests' own deadlines are
spread as their sends were, in the same (FIFO) order (``Ticket.late_share``); a request
a small station served alone carries its own deadline, a point, and is judged against
it as exact mode judges it. The ticket's deadline fires at the last of the attempt's
deadlines, so that no request is timed out before its own: whatever of the attempt is
still unanswered then times out at once, and parts answered later are wasted work.

Retries are gathered per tick: a failed part's requests are spread over the ticks its
backoff distribution gives them (a multinomial draw over the ticks the delay can fall
in, from the range ``backoff.Backoff`` gives, the same one exact mode samples), and
everything due in one tick with the same attempt number and flags is gathered; for
decorrelated jitter, whose next range ``U(base, 3 × previous sleep)`` depends on the
previous sleep, also with the same class of previous sleep (``SLEEP_CLASS_RATIO``).
Merging loses who was born when; a cohort keeps the mean and variance of its births,
which is what join latency needs, and the earliest of them (``Cohort.born_min``), which
bounds it: no request of a part answered by ``t`` waited longer than ``t − born_min``.
Retries gathered before their tick go out over that tick; retries due in the tick they
failed in (an immediate retry, a backoff shorter than ``DEFER_TICKS`` ticks) go out at
once, over a window from the failure that keeps their mean delay (``_window``), not
over a whole tick, which would present them half a tick late on average.
The retries released in one tick (other than reconnects) then go out as one bundle: a
cohort whose ``mix`` counts its requests per retry state, split at random wherever a
station cuts it, each sub-count handed back to its own state when answered (states due
over different windows go out as bundles of their own).
The tick's first attempts (impatient and patient) join that bundle as two more states,
except where something tells first attempts from retries on the way (a waiting room, a
server-side retry ratio, a challenge's clearance for retries). So the cohorts per tick
do not grow with the number of retry states alive (attempt numbers, impatience, the
client policies' chain states), which in a long overload is what the run's cost would
otherwise follow.

Failures are gathered the same way before they are spread: without client policies, the
requests that fail at one instant with the same backoff distribution (attempt number and
flags), none of them near its patience, are added up and spread over the ticks with one
multinomial draw after the other events of that instant. A bundle's failing part fails
once per state, and in a long overload several parts fail at the same instants (a
tick's settlement of a full queue, a tick's deadline), so this keeps the cost of
failures from following parts × states × ticks of backoff. The merged requests keep the
mean and second moment of their births, as gathered retries do.

Listening sessions leave in slices: a joined cohort is cut into 32 equal-probability
slices of the session-length distribution, and session ends are counted per second, not
per listener. The fanout pool keeps per-instance counts (instances added together as
one group, ``engine.pool``): scale-in removes the least-loaded instance as in exact mode,
and the listeners it held take the same share of every future slice and reconnect.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import simpy
from simpy.events import NORMAL, Timeout

from ..config import ClientsConfig
from ..engine import Cohort, Network, Pool, Sampler, Station, round_random
from ..engine.clock import Due, scheduler
from .backoff import Backoff
from .client_policies import Tag
from .clients import LEGIT, Clients
from .quiet import QUIET_WINDOW_S, QuietWindows

INF = math.inf
SESSION_SLICES = 32
RECONNECT_GROUPS = 8
SESSION_BUCKET_S = 1.0
# A retry due in a tick whose retries have already gone out (it failed mid-tick, at a
# deadline, and its backoff ends within the tick) waits for the next tick's when its
# backoff spans at least this many ticks, rather than going out at once as a bundle of
# its own: in a long overload those extra bundles cost 40% more events.
# Those retries are up to a tick late; at two ticks (a failure mid-tick, full jitter)
# that is a quarter of them, adding about a fifth of a tick to the mean delay. Measured
# at 0.5 s ticks against exact mode (README, "Exact mode and cohort mode"), the joined
# share moved by 0.3 points. A backoff shorter than that goes out at once.
DEFER_TICKS = 2
# An attempt sent over more than this many ticks (births gathered over a quiet window,
# ``sim.model.quiet``) has its deadlines judged tick by tick (``_judge``).
WIDE_TICKS = 1.5
# Decorrelated jitter's next delay is U(base, 3 × previous sleep): retries gathered in one
# tick keep apart by the class of their previous sleep, classes growing geometrically by
# this ratio from ``base`` (about ten classes from 1 s to 30 s), so that the next range is
# drawn per class rather than from the tick's mean sleep, which loses the long tail.
SLEEP_CLASS_RATIO = math.sqrt(2.0)
LOG_SLEEP_CLASS_RATIO = math.log(SLEEP_CLASS_RATIO)
BACKOFF_CACHE = 4096  # backoff spreads remembered (by state and place in the tick)
# A tick's retries are released after every other event of that instant (SimPy handles
# URGENT = 0, then NORMAL = 1): attempts that time out or fail right at the tick's start
# join that tick's bundle rather than going out as a second one. The failures of an
# instant are spread just before that (FLUSH_PRIORITY), so that they can join it too.
FLUSH_PRIORITY = NORMAL + 1
RELEASE_PRIORITY = NORMAL + 2


class Ticket:
    """What one attempt's parts share: how many are still unanswered, and the deadline.

    A bundle's ticket also holds its states (one template cohort and chain state each)
    and how many of each are still unanswered. The attempt's requests were sent spread
    over ``[start − width/2, start + width/2)``, so their deadlines are spread the same
    way, in the order the stations serve them (FIFO): ``ranked`` counts the requests
    answered so far in that order and ``rejected`` those failed at random (a full
    queue's share, a crash), which thin every rank alike.
    """

    __slots__ = ("births", "done", "end", "expired", "left", "lo", "n0", "pending", "ranked",
                 "rejected", "states", "tag", "tags", "template", "width")

    def __init__(self, c: Cohort, tag: Tag | None = None) -> None:
        self.pending = c.count
        self.done = False
        self.template = c
        self.tag = tag  # the request chain's state (client policies, amplification)
        self.states: list[Cohort] | None = None
        self.tags: list[Tag | None] = []
        self.left: np.ndarray | None = None
        self.n0 = c.count
        self.width = c.spread_s
        self.lo = c.deadline_s - c.spread_s / 2  # the first request's deadline
        self.ranked = 0
        self.rejected = 0
        # Deadlines judged tick by tick (an attempt sent over more than a tick): the last
        # deadline (0: judged at once, at the deadline event), and how many requests have
        # timed out while still in flight.
        self.end = 0.0
        self.expired = 0
        self.births = (c.born_s, c.born_spread, c.born_min)  # the attempt's, before cuts

    def in_rank(self) -> int:
        """The requests that hold a rank among the attempt's deadlines: all but those
        rejected (which thin every rank alike), and at least those settled or pending."""
        return max(self.n0 - self.rejected, self.ranked + self.expired + self.pending)

    def late_share(self, n: int, now: float, w: float) -> float:
        """The share of a part of ``n`` requests, answered over ``[now, now + w)`` in
        FIFO order, whose answers come after their own deadlines (a tail, or a head
        when the deadlines run faster than the answers)."""
        m = max(self.n0 - self.rejected, self.ranked + n)
        x0, dx = self.ranked / m, n / m
        a = now - (self.lo + self.width * x0)  # > 0: the first answer is late
        b = w - self.width * dx  # how much faster the answers run than the deadlines
        if b == 0.0:
            return 1.0 if a > 0 else 0.0
        u = -a / b  # where the answers cross the deadlines, as a share of the part
        return min(1.0, max(0.0, 1.0 - u if b > 0 else u))


class _Acc:
    """Retries due in one tick with one key, being gathered.

    Those gathered before their tick go out over the whole tick, their births moved by
    how much later than due that is (``CohortClients._gather``). Those that failed in
    their own tick (its start included) go out at once, and are due over the rest of
    it: ``now_n`` counts them and ``now_w`` adds up where in the tick each is due on
    average (the failure's place in the tick plus its mean delay there), so that the
    released cohort can be placed over the delays it has, not over a whole tick.
    """

    __slots__ = ("born_lo", "born_m2", "born_w", "count", "now_n", "now_w", "prev_w",
                 "sleep_w")

    def __init__(self) -> None:
        self.count = 0
        self.born_w = 0.0
        self.born_m2 = 0.0
        self.born_lo = INF  # the earliest birth
        self.sleep_w = 0.0
        self.prev_w = 0.0
        self.now_n = 0
        self.now_w = 0.0


class _Failed(_Acc):
    """Failures of one instant with one backoff distribution, being gathered."""

    __slots__ = ("proto",)

    def __init__(self, proto: Cohort) -> None:
        super().__init__()
        self.proto = proto  # one of the failed attempts: attempt number and flags


class CohortClients(Clients):
    """The legit population in cohort mode."""

    # Births of quiet periods gathered over windows this long (``sim.model.quiet``); 0
    # sends them tick by tick. That module says where windows open and what holds them.
    quiet_window_s = QUIET_WINDOW_S

    def __init__(self, env: simpy.Environment, cfg: ClientsConfig, network: Network,
                 gen: np.random.Generator, session: Sampler, warmup_s: float,
                 pool: Pool | None, resolution_s: float, horizon_s: float,
                 policy_gen: np.random.Generator | None = None) -> None:
        super().__init__(env, cfg, network, gen, session, warmup_s, pool, policy_gen)
        if self.policies is not None:
            self.policies.resolution_s = resolution_s
        self.dt = resolution_s
        self.horizon_s = horizon_s
        w = self.quiet_window_s
        self.quiet = (QuietWindows(self, list(network.stations.values()), resolution_s, w)
                      if w >= 2 * resolution_s else None)
        # Retries due per tick, by (attempt, impatient, reconnect, chain state), and for
        # decorrelated jitter the class of the previous sleep after those.
        self._due: dict[int, dict[tuple, _Acc]] = {}
        self._ends: dict[int, dict[int, int]] = {}  # bucket -> {pool group: count}
        self._decorrelated = self.backoff.decorrelated
        self._impatient_backoff = Backoff("fixed", self.impatient_retry_s, INF)
        self._longest_of: dict[tuple[int, bool], float] = {}
        self._release_cbs = (self._release,)
        # Deadlines and session ends are ``Due`` events: scheduled as a ``Timeout`` is (same
        # time, priority and place in the queue), for less work per event.
        self._deadline_cbs = (self._on_deadline,)
        self._ends_cbs = (self._on_ends,)
        # A tick's first attempts go out in the bundle of its retries. Off where something
        # treats a cohort by its attempt number as a whole (a waiting room, a server-side
        # retry ratio, a challenge's clearance for retries), which a bundle of both would
        # confuse; the scenario decides.
        self.bundle_births = True
        self._births: dict[int, list[Cohort]] = {}
        self._flush_cbs = (self._flush,)
        self._fails_now: dict[tuple[int, bool, bool, float], _Failed] = {}
        self._schedule = scheduler(env)
        self._bo_cache: dict[tuple[int, bool, bool, float, int],
                             tuple[list[int], np.ndarray, list[float]]] = {}
        self.lat_sd: list[float] = []
        self.lat_k3: list[float] = []  # third cumulants of the parts (their skew)
        # The longest latency each part can hold: its last answer less its earliest birth
        # (``sim.tails.mixture_max``).
        self.lat_hi: list[float] = []
        # Equal-probability slices of the session length: each slice's conditional mean.
        draws = np.sort(np.array([session() for _ in range(40_000)]))
        self._slice_len = [float(x.mean()) for x in np.array_split(draws, SESSION_SLICES)]
        self._slice_p = np.full(SESSION_SLICES, 1 / SESSION_SLICES)
        # Splits of bundles draw from a stream of their own (a child of the clients' seed
        # sequence, made without touching the clients' stream).
        ss = gen.bit_generator.seed_seq
        assert isinstance(ss, np.random.SeedSequence)
        self.mix_gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            entropy=ss.entropy, spawn_key=(*ss.spawn_key, 0x6D6978))))

    def hold_windows(self, times: list[float] | None) -> None:
        """No quiet window across these instants (``QuietWindows.hold``); none at all
        if ``times`` is None."""
        if times is None:
            self.quiet = None
        elif self.quiet is not None:
            self.quiet.hold(times)

    def track_unique(self, row_s: float, window_s: float) -> None:
        super().track_unique(row_s, window_s)
        if self.quiet is not None:
            self.quiet.align(row_s)  # a quiet window's births fall in one metrics row

    # -- births ---------------------------------------------------------------------------
    def start_counts(self, counts: np.ndarray) -> None:
        """Schedule one birth cohort per tick with a non-zero count; in a quiet period,
        one per quiet window (``sim.model.quiet``)."""
        nz = np.nonzero(counts)[0]
        ticks: list[int] = nz.tolist()
        ns: list[int] = counts[nz].tolist()
        env, dt = self.env, self.dt
        quiet = self.quiet

        def next_tick(ev: Any = None) -> None:
            j = 0
            if ev is not None:
                j = ev._value
                k, n = ticks[j], ns[j]
                j += 1
                end = quiet.window_end(k) if quiet is not None else k + 1
                if end > k + 1:
                    i, m = j, n
                    while i < len(ticks) and ticks[i] < end:
                        m += ns[i]
                        i += 1
                    if quiet.admits(m, (end - k) * dt):  # type: ignore[union-attr]
                        j, n = i, m
                    else:
                        end = k + 1
                self.born(n, (end - k) * dt)
            if j < len(ticks):
                e = Timeout(env, max(0.0, ticks[j] * dt - env.now), j)
                e.callbacks.append(next_tick)

        next_tick()

    def _wide(self, spread_s: float) -> bool:
        """Whether requests sent over ``spread_s`` were sent over a quiet window (wider
        than a tick): their deadlines are judged tick by tick (``_judge``)."""
        return spread_s > WIDE_TICKS * self.dt

    def born(self, count: int, width: float | None = None) -> None:
        now = self.env.now
        w = self.dt if width is None else width
        self.arrived += count
        self.in_flight += count
        k = int(self.gen.binomial(count, self.impatient_share)) if self.impatient_share else 0
        cs = []
        for n, impatient in ((k, True), (count - k, False)):
            if n:
                c = self._fresh(n, now, w)
                c.impatient = impatient
                cs.append(c)
        if not self.bundle_births or self._wide(w):
            # A window's births go out one ticket per state: their deadlines are judged
            # tick by tick (``_judge``), which a bundle's states do not follow.
            for c in cs:
                self._attempt(c)
            return
        tick = round(now / self.dt)
        if tick in self._due:
            self._births[tick] = cs  # they go out with the retries released this tick
        elif len(cs) > 1:
            self._attempt_bundle(cs)
        else:
            self._attempt(cs[0])

    def _fresh(self, n: int, now: float, width: float) -> Cohort:
        mid = now + width / 2
        c = Cohort(LEGIT, n, mid, mid, mid + self.timeout_s, 1, self)
        c.spread_s = width
        c.born_spread = width
        c.born_min = now
        return c

    def _attempt(self, c: Cohort) -> None:
        if self.room is not None and self.room.hold(c):
            return  # held in the waiting room: the attempt starts when it is let through
        ok, tag = self._admit(c)
        if not ok:
            return
        c.ticket = Ticket(c, tag)
        self._send(c)

    def _attempt_bundle(self, cs: list[Cohort]) -> None:
        """Send attempts of several states (the retries released this tick, reconnects
        aside, and the tick's first attempts), all started in this tick, as one bundle."""
        states: list[Cohort] = []
        tags: list[Tag | None] = []
        for c in cs:
            ok, tag = self._admit(c)
            if ok:
                states.append(c)
                tags.append(tag)
        if len(states) <= 1:
            for c, tag in zip(states, tags, strict=True):
                c.ticket = Ticket(c, tag)
                self._send(c)
            return
        first = states[0]
        per_state = [c.count for c in states]
        counts = np.array(per_state, dtype=np.int64)
        n = sum(per_state)  # not counts.sum(): numpy's call costs more on a few states
        b = Cohort(LEGIT, n, first.born_s, first.start_s, first.deadline_s,
                   min(c.attempt for c in states), self)
        b.spread_s = first.spread_s
        b.born_min = min(c.born_min for c in states)
        b.mix = counts
        b.mix_gen = self.mix_gen
        t = b.ticket = Ticket(b)
        t.states = states
        t.tags = tags
        t.left = counts.copy()
        self._send(b)

    def _admit(self, c: Cohort) -> tuple[bool, Tag | None]:
        """Client-side admission (client policies) and counting of one attempt; False if
        the client policies refused all of it."""
        tag: Tag | None = c.ticket  # the chain's state, set where the cohort was made
        pol = self.policies
        if pol is not None:
            if tag is None:
                tag = Tag()
            refused = sum(pol.admit(self.env.now, c.count, tag, c.attempt, c.born_s))
            if refused:
                self._fail_n(c, refused, self.env.now, tag, sent=False)
                if refused >= c.count:
                    return False, tag
                c.count -= refused
        if c.reconnect:
            self.reconnects += c.count
        else:
            self.attempts += c.count
            if self._track:
                if tag is None or tag.prev_s == -INF:
                    self.first_attempts += c.count
                else:
                    self._unique(c.start_s, tag.prev_s, c.count)
        return True, tag

    def _send(self, c: Cohort) -> None:
        c.deadline_spread = c.spread_s  # sent over the tick: so are the deadlines
        last = c.deadline_s + c.spread_s / 2
        if last < self.horizon_s:
            # What is still unanswered at the last of the deadlines has timed out; a part
            # answered before that is judged against its requests' own deadlines
            # (``_race``), so none is timed out before its own deadline has passed. The
            # last deadline of an attempt sent over a tick falls on a tick's end, and one
            # at the horizon is after the run's last sample of its counts: such an
            # attempt is still in flight at the end, as one whose deadline is later.
            t: Ticket = c.ticket
            at = last
            if self._wide(c.spread_s) and c.mix is None:
                t.end = last  # sent over a quiet window: judged tick by tick
                at = min(last, t.lo + self.dt)
            self._schedule(Due(self._deadline_cbs, t), NORMAL, max(0.0, at - self.env.now))
        self.entry.offer(c)

    # -- outcomes -------------------------------------------------------------------------
    def _on_deadline(self, ev: simpy.Event) -> None:
        t: Ticket = ev._value
        if t.done or t.pending <= 0:
            return
        now = self.env.now
        if now < t.end - 1e-9:
            self._judge(t, now)
            if not t.done:
                self._schedule(Due(self._deadline_cbs, t), NORMAL,
                               min(self.dt, t.end - now))
            return
        t.done = True
        n, t.pending = t.pending, 0
        self.attempts_timed_out += n
        if t.states is not None:
            assert t.left is not None
            self._fail_states(t, t.left, True)
            return
        self._fail_n(self._ranks(t, n) if t.end else t.template, n, now, t.tag,
                     timed_out=True)

    def _judge(self, t: Ticket, now: float) -> None:
        """Time out now the requests of a wide attempt whose own deadlines have passed
        and that are still unanswered: by rank, the deadlines passed are a share
        ``(now − lo) / width`` of the attempt's (thinned by its rejections, as in
        ``Ticket.late_share``), and the first ``ranked`` of them were answered. Those
        timed out stay in flight as ``expired``: the next late answers of the attempt
        are theirs (``_race``), and its next rejections or drops may be (``_claim``),
        wasted work that does not fail twice."""
        m = t.in_rank()
        x = m * min(1.0, (now - t.lo) / t.width) - t.ranked - t.expired
        if x <= 0.0:
            return
        k = min(round_random(x, self.gen), t.pending)
        if k <= 0:
            return
        ranks = self._ranks(t, k)
        t.pending -= k
        t.expired += k
        if t.pending == 0:
            t.done = True  # what is left in flight timed out: its answers are wasted
        self.attempts_timed_out += k
        self._fail_n(ranks, k, now, t.tag, timed_out=True)

    @staticmethod
    def _ranks(t: Ticket, k: int) -> Cohort:
        """The next ``k`` unsettled requests of a wide attempt, in FIFO order: the
        template with the births of their ranks (an attempt's births are in the order
        of its sends, so of its deadlines), which their retries and latencies keep."""
        c = copy.copy(t.template)
        c.count = k
        m = max(t.in_rank(), 1)
        r0 = min(t.ranked + t.expired, m - k)
        c.born_s, c.born_spread, c.born_min = t.births
        c.narrow_births(r0 / m, (r0 + k) / m)
        c.spread_s = t.width * k / m
        return c

    def _claim(self, c: Cohort, oldest: bool) -> None:
        """Take out of the part ``c`` the requests that already timed out in flight
        (``_judge``): its first ones where it is the next answered in FIFO order
        (``oldest``), else a random share (a rejection thins every rank alike)."""
        t: Ticket = c.ticket
        e = t.expired
        if e <= 0 or c.count <= 0:
            return
        if oldest:
            q = min(c.count, e)
        else:
            q = int(self.gen.hypergeometric(e, max(0, t.pending), min(c.count, e + t.pending)))
        t.expired -= q
        c.count -= q

    def _answer(self, c: Cohort) -> bool:
        """Count a part as answered; False if its attempt had already timed out."""
        t: Ticket = c.ticket
        if t.done:
            return False
        t.pending -= c.count
        if c.mix is not None:
            t.left -= c.mix
        return True

    def _fail_part(self, c: Cohort, timed_out: bool = False, late: float = 0.0) -> None:
        """The part ``c`` failed now; ``late``: its requests' clock starts that much late
        (``on_failed``)."""
        t: Ticket = c.ticket
        if c.mix is None:
            self._fail_n(_later_born(c, late), c.count, self.env.now, t.tag,
                         timed_out=timed_out)
            return
        self._fail_states(t, c.mix, timed_out, late)

    def _fail_states(self, t: Ticket, counts: np.ndarray, timed_out: bool,
                     late: float = 0.0) -> None:
        """A bundle's requests failed now: ``counts`` of each of its states."""
        assert t.states is not None
        now = self.env.now
        for st, tag, k in zip(t.states, t.tags, counts.tolist(), strict=True):
            if k:
                self._fail_n(_later_born(st, late), k, now, tag, timed_out=timed_out)

    def on_failed(self, c: Cohort, st: Station, reason: str) -> None:
        t: Ticket = c.ticket
        if t.expired:
            n = c.count
            self._claim(c, oldest=False)
            t.ranked += n - c.count  # timed out already: their ranks are settled
            if not c.count:
                return
        if self._answer(c):
            t.rejected += c.count
            self.attempts_rejected += c.count
            # A station that turns a tick's requests away at its end tells them later
            # than exact mode's, which turns each away as it arrives: ``lag_s`` from the
            # middle of their arrivals. Their next attempt starts that much late, so
            # their clock (births, and the patience and latency counted from them)
            # starts that much late too: each round of retries that come back at once
            # was otherwise about a tick late (generated seed 1005: p99 join latency 0.59
            # s against exact mode's 0.15 s at 0.1 s ticks; 0.23 s with this).
            self._fail_part(c, late=c.lag_s)

    def on_expired(self, c: Cohort, st: Station) -> None:
        t: Ticket = c.ticket
        if t.end:
            t.ranked += c.count  # the oldest of the attempt: their ranks are settled
            self._claim(c, oldest=True)
            if not c.count:
                return
        if self._answer(c):
            self.attempts_timed_out += c.count
            self._fail_part(c, timed_out=True)

    def on_joined(self, c: Cohort, st: Station, placements: list[tuple[int, int]] | None) -> None:
        # Answered over [answered, answered + spread_s): now, or that much earlier where a
        # station moved the part on late (``Cohort.lag_s``).
        answered = self.env.now - c.lag_s
        if c.ticket.done:
            self._wasted(c.count, placements)
            return
        placements = self._race(c, answered, placements)
        if c.count == 0 or not self._answer(c):
            return
        n = c.count
        done_mid = answered + c.spread_s / 2
        t: Ticket = c.ticket
        if t.states is not None:
            self._joined_bundle(c, t, answered, done_mid)
            end_s = -1.0
        elif c.reconnect:
            if self.policies is not None:
                assert t.tag is not None  # policies give every attempt a tag
                self.policies.success(self.env.now, n, t.tag)
            self.reconnected += n
            end_s = c.sleep_s
        else:
            self._joined_state(c, t.tag, n, c, answered, done_mid)
            end_s = -1.0
        if placements is None or self.pool is None:
            return
        self._touch(self.env.now)
        self.listeners += n
        self.peak_listeners = max(self.peak_listeners, self.listeners)
        for g, m in placements:
            if end_s >= 0:
                self._end_at(end_s, m, g)
            else:
                self._end_slices(done_mid, self.gen.multinomial(m, self._slice_p).tolist(), g)

    def _race(self, c: Cohort, now: float, placements: list[tuple[int, int]] | None
              ) -> list[tuple[int, int]] | None:
        """The part ``c`` is answered over ``[now, now + spread_s)``: the share of it
        answered after its requests' own deadlines timed out at those deadlines, so it
        is wasted work, its slots given back, and it fails now (its deadlines have
        passed); ``c`` keeps the rest (count 0 if none). Returns the placements of the
        rest."""
        t: Ticket = c.ticket
        n, w = c.count, c.spread_s
        t.ranked += n
        f = self._late_share(c, t, now)
        if f <= 0.0:
            return placements
        late = round_random(n * f, self.gen)
        if late <= 0:
            return placements
        kept = placements
        if placements:
            kept, placements = _take_slots(placements, n - late)
        self._wasted(late, placements)
        part = c if late >= n else c.split(late)
        q = min(late, t.expired)  # late ones that timed out in flight (``_judge``)
        if q:
            t.expired -= q  # wasted work, failed when it timed out
            part.count -= q
        if part.count and self._answer(part):
            self.attempts_timed_out += part.count
            self._fail_part(part, timed_out=True)
        if late >= n:
            c.count = 0
            return None
        c.spread_s = w * (n - late) / n
        return kept

    @staticmethod
    def _late_share(c: Cohort, t: Ticket, now: float) -> float:
        """The share of the part ``c`` (already ranked) answered after its own
        deadlines. A part whose deadline is a point (a request a small station took on
        alone knows its own; an attempt sent at once has one) is judged against it;
        otherwise its requests' deadlines are known by their rank among the attempt's
        (``Ticket.late_share``)."""
        n, w = c.count, c.spread_s
        if c.deadline_spread == 0.0:
            d = c.deadline_s
            if now + w <= d:
                return 0.0
            return 1.0 if now >= d else (now + w - d) / w
        if now + w <= t.lo:  # all answered before the attempt's first deadline
            return 0.0
        t.ranked -= n
        f = t.late_share(n, now, w)
        t.ranked += n
        return f

    def _wasted(self, n: int, placements: list[tuple[int, int]] | None) -> None:
        """``n`` requests completed the path after their client gave up: wasted work,
        and a slot they took is given back at once."""
        self.wasted += n
        if placements and self.pool is not None:
            self.pool.give_back(placements)

    def _joined_bundle(self, c: Cohort, t: Ticket, now: float, done_mid: float) -> None:
        """The requests of a bundle's part joined: each state's count as its own."""
        assert t.states is not None and c.mix is not None
        for st, tag, k in zip(t.states, t.tags, c.mix.tolist(), strict=True):
            if k:
                self._joined_state(st, tag, k, c, now, done_mid)

    def _joined_state(self, st: Cohort, tag: Tag | None, k: int, part: Cohort, now: float,
                      done_mid: float) -> None:
        """``k`` requests of the attempt ``st`` (born as it records) joined, in the part
        ``part`` (its spread, and the variance and third cumulant of its services and
        waits): count them and their latency, one part of the latency mixture. A part
        cut in arrival order, or a request a small station took on alone, was born in
        its share of the births (``Cohort.narrow_births``), not over all of them."""
        if self.policies is not None:
            assert tag is not None  # policies give every attempt a tag
            self.policies.success(self.env.now, k, tag)
        self.joined += k
        self.in_flight -= k
        born, spread, lo = st.born_s, st.born_spread, st.born_min
        if part is not st:
            # A bundle's part holds a share of the state's births (``Cohort.born_u0``),
            # and so a share of their range where they are in order (no ``born_var``).
            u0, u1 = part.born_u0, part.born_u1
            born += ((u0 + u1) / 2 - 0.5) * spread
            spread *= u1 - u0
            if st.born_var == 0.0 and born - spread / 2 > lo:
                lo = born - spread / 2
        if born >= self.warmup_s:
            self.lat_t.append(now)
            self.lat_v.append(done_mid - born)
            self.lat_w.append(k)
            var = st.born_var + (part.spread_s - spread) ** 2 / 12 + part.var_s
            self.lat_sd.append(math.sqrt(max(0.0, var)))
            self.lat_k3.append(part.k3_s)
            # Answered by now + spread_s, born no earlier than lo.
            self.lat_hi.append(now + part.spread_s - lo)

    def _fail_n(self, c: Cohort, n: int, now: float, tag: Tag | None = None,
                sent: bool = True, timed_out: bool = False) -> None:
        """``n`` requests of the attempt ``c`` failed now (``sent``: at the server, else
        refused locally): retry them or give up."""
        pol = self.policies
        if sent:
            self.attempts_failed += n
            if pol is not None:
                pol.failure(now, n, tag)
        if c.attempt >= self.max_attempts:
            self._give_up(c, n)
            return
        nxt_tag = None
        chain = None
        if pol is not None:
            assert tag is not None
            allowed, nxt_tag = pol.retry(now, n, tag, sent, timed_out, c.start_s, c.impatient)
            if allowed < n:
                self._give_up(c, n - allowed)
                n = allowed
                if not n:
                    return
            prev: float | None = nxt_tag.prev_s
            chain = nxt_tag.key()
        else:
            prev = c.start_s if self._track else None
        if c.impatient and self.impatient_retry_s <= 0:
            nxt = self._next(c, n, now, 0.0)
            nxt.spread_s = c.spread_s
            if nxt_tag is None and prev is not None:
                nxt_tag = Tag(prev_s=prev)
            nxt.ticket = nxt_tag
            self._attempt(nxt)
            return
        reconnect = c.reconnect
        born = c.born_s
        m2 = c.born_var + c.born_spread**2 / 12 + born**2
        late = born + self.patience_s - now  # a delay beyond this is past the patience
        if pol is None and (reconnect or self._longest(c) <= late):
            # Gather with the failures of this instant that share the backoff.
            key_f = (c.attempt, c.impatient, reconnect,
                     c.sleep_s if self._decorrelated else 0.0)
            f = self._fails_now.get(key_f)
            if f is None:
                if not self._fails_now:
                    self._schedule(Due(self._flush_cbs), FLUSH_PRIORITY, 0.0)
                f = self._fails_now[key_f] = _Failed(c)
            f.count += n
            f.born_w += n * born
            f.born_m2 += n * m2
            if c.born_min < f.born_lo:  # noqa: PLR1730 - cheaper than min()
                f.born_lo = c.born_min
            if reconnect:
                f.sleep_w += n * c.sleep_s
            if prev is not None:
                f.prev_w += n * prev
            return
        base, ticks, counts, delays = self._spread(c, n, now)
        self._gather(c, base, ticks, counts, delays, born, m2, c.born_min, prev, late, chain,
                     c.sleep_s if reconnect else None)

    def _flush(self, _ev: simpy.Event) -> None:
        """Spread the failures gathered at this instant over the ticks of their backoff."""
        now = self.env.now
        failed, self._fails_now = self._fails_now, {}
        for f in failed.values():
            c, n = f.proto, f.count
            base, ticks, counts, delays = self._spread(c, n, now)
            self._gather(c, base, ticks, counts, delays, f.born_w / n, f.born_m2 / n,
                         f.born_lo, f.prev_w / n if self._track else None, INF, None,
                         f.sleep_w / n if c.reconnect else None)

    def _gather(self, c: Cohort, base: int, ticks: list[int], counts: list[int],
                delays: list[float], born: float, m2: float, born_lo: float,
                prev: float | None, late: float, chain: Any, sleep: float | None) -> None:
        """Add ``counts`` retries of the attempt ``c`` to the ticks they are due in (this
        runs for every tick a failure's backoff spans: kept tight)."""
        now = self.env.now
        reconnect = c.reconnect
        key: tuple = (c.attempt + 1, c.impatient, reconnect, chain)
        by_sleep = self._decorrelated and not (reconnect or c.impatient)
        due = self._due
        dt = self.dt
        defer = self._longest(c) >= DEFER_TICKS * dt
        for r, cnt, delay in zip(ticks, counts, delays, strict=True):
            if not cnt:
                continue
            if by_sleep:
                key = (c.attempt + 1, False, False, chain, self._sleep_class(delay))
            k = base + r
            if not reconnect:
                if delay > late:
                    self._give_up(c, cnt)
                    continue
                self.retries += cnt  # counted when scheduled, as in exact mode
            bucket = due.get(k)
            if bucket is None:
                if k * dt < now and defer:
                    # This tick's retries have gone: go out with the next tick's (see
                    # DEFER_TICKS).
                    k += 1
                    bucket = due.get(k)
                if bucket is None:
                    bucket = due[k] = {}
                    self._schedule(Due(self._release_cbs, k), RELEASE_PRIORITY,
                                   max(0.0, k * dt - now))
            acc = bucket.get(key)
            if acc is None:
                acc = bucket[key] = _Acc()
            acc.count += cnt
            if k * dt <= now:
                # Due in its own tick, released at once: due at ``now + delay``.
                acc.now_n += cnt
                acc.now_w += cnt * (now - k * dt + delay)
                shift = 0.0
            else:
                # Released over the tick, on average at its middle: ``shift`` after
                # they are due (a backoff without jitter is due at one place in the
                # tick; a deferred one a tick on). Their clock starts that much late
                # too, as for a station's late rejection (``on_failed``): every round
                # of a backoff without jitter was otherwise up to half a tick late
                # (generated seed 1003 at 0.2 s ticks: a two-retry join 0.14 s late,
                # enough to move its p99 off its mode).
                shift = k * dt + dt / 2 - (now + delay)
            acc.born_w += cnt * (born + shift)
            acc.born_m2 += cnt * (m2 + shift * (2.0 * born + shift))
            if born_lo + shift < acc.born_lo:  # noqa: PLR1730 - cheaper than min()
                acc.born_lo = born_lo + shift
            acc.sleep_w += cnt * (sleep if sleep is not None else delay)
            if prev is not None:
                acc.prev_w += cnt * prev

    def _give_up(self, c: Cohort, n: int) -> None:
        if c.reconnect:
            self.lost += n
        else:
            self.abandoned += n
            self.in_flight -= n

    def _next(self, c: Cohort, n: int, now: float, delay: float) -> Cohort:
        start = now + delay
        nxt = Cohort(LEGIT, n, c.born_s, start, start + self.timeout_s, c.attempt + 1, self)
        nxt.impatient = c.impatient
        nxt.reconnect = c.reconnect
        nxt.born_var = c.born_var + c.born_spread**2 / 12
        nxt.born_min = c.born_min
        nxt.sleep_s = c.sleep_s if c.reconnect else delay
        if not c.reconnect:
            self.retries += n
        return nxt

    def _spread(self, c: Cohort, n: int, now: float
                ) -> tuple[int, list[int], list[int], list[float]]:
        """``n`` retries of ``c`` failing now, drawn over the ticks of their backoff: the
        current tick, and the ticks that got any with their counts and mid delays (at
        short ticks a backoff spans hundreds of ticks, most of which get none)."""
        base, ticks, probs, delays = self._backoff(c, now)
        if len(probs) <= 1:
            return base, ticks, [n], delays
        counts = self.gen.multinomial(n, probs)
        hit = counts.nonzero()[0]
        if len(hit) == len(ticks):
            return base, ticks, counts.tolist(), delays
        at = hit.tolist()
        return base, [ticks[i] for i in at], counts[hit].tolist(), [delays[i] for i in at]

    def _backoff(self, c: Cohort, now: float
                 ) -> tuple[int, list[int], np.ndarray, list[float]]:
        """The current tick, the ticks after it the retry can fall in, their
        probabilities and mid delays. These depend on the time only through where in its
        tick it falls (to a millionth of a tick), so they are remembered by that."""
        sleep = self._previous(c) if self._decorrelated else 0.0
        dt = self.dt
        base = int(now // dt)
        phase = now - base * dt
        key = (c.attempt, c.impatient, c.reconnect, sleep, round(phase / dt * 1e6))
        hit = self._bo_cache.get(key)
        if hit is None:
            if len(self._bo_cache) >= BACKOFF_CACHE:
                self._bo_cache.clear()
            ticks, probs, delays = self._backoff_at(c, phase)
            hit = self._bo_cache[key] = (ticks, np.asarray(probs), delays)
        return (base, *hit)

    def _longest(self, c: Cohort) -> float:
        """The longest delay the backoff can give the retry of ``c``:
        if it is within the patience, so are all of its ticks."""
        if not self._decorrelated:
            hit = self._longest_of.get((c.attempt, c.impatient))
            if hit is not None:
                return hit
            hit = self._longest_of[(c.attempt, c.impatient)] = self._policy(c).longest(
                c.attempt, 0.0)
            return hit
        return self._policy(c).longest(c.attempt, self._previous(c))

    def _policy(self, c: Cohort) -> Backoff:
        """The backoff of ``c``'s retry: the impatient press join again after a fixed
        delay, whatever the policy."""
        if not c.impatient:
            return self.backoff
        b = self._impatient_backoff
        if b.base_s != self.impatient_retry_s:  # the delay was changed after construction
            b = self._impatient_backoff = Backoff("fixed", self.impatient_retry_s, INF)
        return b

    @staticmethod
    def _previous(c: Cohort) -> float:
        """The previous sleep the next delay depends on (decorrelated jitter; a reconnect
        carries its session end in ``sleep_s`` and starts afresh, as in exact mode)."""
        return 0.0 if c.reconnect else c.sleep_s

    def _backoff_at(self, c: Cohort, phase: float
                    ) -> tuple[list[int], list[float], list[float]]:
        """The backoff from ``phase`` (a time within tick 0): ticks, probabilities and
        mid delays."""
        return self._policy(c).spread(c.attempt, self._previous(c), phase, self.dt)

    def _sleep_class(self, delay: float) -> int:
        """The class of a decorrelated retry's sleep (see SLEEP_CLASS_RATIO)."""
        base = self.backoff.base_s
        if delay <= base or base <= 0:
            return 0
        return 1 + int(math.log(delay / base) / LOG_SLEEP_CLASS_RATIO)

    def _release(self, ev: simpy.Event) -> None:
        k: int = ev._value
        now = self.env.now
        bundle: list[Cohort] = []
        for key, acc in self._due.pop(k, {}).items():
            attempt, impatient, reconnect, chain = key[:4]  # (decorrelated: + sleep class)
            n = acc.count
            born = acc.born_w / n
            mid, spread = self._window(acc, k, now)
            c = Cohort(LEGIT, n, born, mid, mid + self.timeout_s, attempt, self)
            c.born_var = max(0.0, acc.born_m2 / n - born**2)
            c.born_min = acc.born_lo
            c.spread_s = spread
            c.impatient = impatient
            c.reconnect = reconnect
            c.sleep_s = acc.sleep_w / n
            if chain is not None:
                paid, spent, fails, open_until = chain
                c.ticket = Tag(paid, spent, fails, open_until, acc.prev_w / n)
            elif self._track:
                c.ticket = Tag(prev_s=acc.prev_w / n)
            if reconnect:
                self._attempt(c)
            else:
                bundle.append(c)
        births = self._births.pop(k, None)
        if births:
            bundle.extend(births)
        if len(bundle) == 1:
            self._attempt(bundle[0])
        elif bundle:
            self._send_bundles(bundle)

    def _window(self, acc: _Acc, k: int, now: float) -> tuple[float, float]:
        """Where the retries of ``acc``, released now for tick ``k``, reach the entry:
        the middle and width of a window that starts now.

        Retries gathered before their tick are spread over the tick. Retries that failed
        in their own tick go out at once, but are due ``delay`` after their failure: an
        immediate retry at once, a short backoff's over the rest of its range. A window
        ``[now, now + 2d]``, ``d`` the mean time from now to when they are due, keeps
        that mean; a tick's width would make them half a tick late on average, which,
        for retries presented again to a full queue or a connection cap, is half a tick
        more for the station to free a place in.
        """
        dt = self.dt
        if not acc.now_n:
            return now + dt / 2, dt
        n = acc.count
        due = (acc.now_w + (n - acc.now_n) * dt / 2) / n  # from the tick's start
        spread = max(0.0, 2.0 * (due - max(0.0, now - k * dt)))
        return now + spread / 2, spread

    def _send_bundles(self, states: list[Cohort]) -> None:
        """Send the states released together as bundles, one per window: a bundle is
        one cohort, reaching the entry over one window, and states due at different
        times (the tick's births over the tick, retries of this instant at once) keep
        their own."""
        first = states[0].start_s
        if all(c.start_s == first for c in states):
            self._attempt_bundle(states)
            return
        groups: dict[tuple[float, float], list[Cohort]] = {}
        for c in states:
            groups.setdefault((c.start_s, c.spread_s), []).append(c)
        for group in groups.values():
            if len(group) == 1:
                self._attempt(group[0])
            else:
                self._attempt_bundle(group)

    # -- listening ------------------------------------------------------------------------
    def _end_at(self, end_s: float, n: int, g: int) -> None:
        """``n`` listeners on the fanout pool's group ``g`` end their sessions at
        ``end_s`` (gathered in buckets of SESSION_BUCKET_S)."""
        if end_s >= self.horizon_s:
            return  # still listening at the horizon
        k = int(end_s // SESSION_BUCKET_S) + 1
        box = self._ends.get(k)
        if box is None:
            box = self._ends[k] = {}
            self._schedule(Due(self._ends_cbs, k), NORMAL,
                           max(0.0, k * SESSION_BUCKET_S - self.env.now))
        box[g] = box.get(g, 0) + n

    def _end_slices(self, mid: float, counts: list[int], g: int) -> None:
        """``counts[j]`` listeners on group ``g`` joined around ``mid`` leave after slice
        ``j``'s length: ``_end_at`` for each slice, inlined (every joined cohort runs it
        32 times)."""
        horizon, ends = self.horizon_s, self._ends
        for length, n in zip(self._slice_len, counts, strict=True):
            if not n:
                continue
            end_s = mid + length
            if end_s >= horizon:
                continue  # still listening at the horizon
            k = int(end_s // SESSION_BUCKET_S) + 1
            box = ends.get(k)
            if box is None:
                box = ends[k] = {}
                self._schedule(Due(self._ends_cbs, k), NORMAL,
                               max(0.0, k * SESSION_BUCKET_S - self.env.now))
            box[g] = box.get(g, 0) + n

    def _on_ends(self, ev: simpy.Event) -> None:
        """Sessions end where their listeners sit: a group that took late joiners keeps
        them as long as exact mode's instance would (release in proportion to what each
        group holds would take the same share of young and old sessions alike)."""
        box = self._ends.pop(ev._value, None)
        if box and self.pool is not None:
            self._touch(self.env.now)
            n = self.pool.release_from(_cap(box, self.listeners))
            self.listeners -= n
            self.sessions_ended += n

    def evict_count(self, n: int) -> None:
        """``n`` listeners lost their instance. Their future session ends go with them:
        on each group of the fanout pool, the share of its slots that went (the pool's
        ``last_survived``; without it, the same share of every group)."""
        now = self.env.now
        if n <= 0 or self.listeners <= 0:
            return
        self._touch(now)
        f = min(1.0, n / self.listeners)
        kept = self.pool.last_survived if self.pool is not None else {}
        self.listeners -= n
        self.evicted += n
        moved = []
        for k in list(self._ends):
            box = self._ends[k]
            for g, e in box.items():
                m = int(self.gen.binomial(e, 1.0 - kept.get(g, 1.0) if kept else f))
                if m:
                    box[g] = e - m
                    moved.append((k * SESSION_BUCKET_S, m))
        moved = _first(moved, n)
        beyond = n - sum(g for _, g in moved)
        if beyond > 0:
            moved.append((INF, beyond))
        if not self.reconnect:
            self.lost += n
            return
        # Reconnect in a few groups by when their sessions end (at most eight cohorts).
        moved.sort()
        for group in np.array_split(np.arange(len(moved)), min(RECONNECT_GROUPS, len(moved))):
            cnt = sum(moved[i][1] for i in group)
            if not cnt:
                continue
            ends = [moved[i][0] for i in group]
            end = INF if INF in ends else sum(moved[i][0] * moved[i][1] for i in group) / cnt
            # They reconnect at once, as the listeners of a lost instance do in exact
            # mode, not spread over a tick as births are: a burst a station queues for.
            c = Cohort(LEGIT, cnt, now, now, now + self.timeout_s, 1, self)
            c.reconnect = True
            c.sleep_s = end
            self._attempt(c)


def _cap(box: dict[int, int], n: int) -> dict[int, int]:
    """At most ``n`` of the counts in ``box`` (the first groups' first)."""
    out = {}
    for g, count in box.items():
        k = min(count, n)
        if k > 0:
            out[g] = k
            n -= k
    return out


def _first(moved: list[tuple[float, int]], n: int) -> list[tuple[float, int]]:
    """The first ``n`` listeners of ``moved`` ((end, count) pairs)."""
    out = []
    for end, count in moved:
        k = min(count, n)
        if k > 0:
            out.append((end, k))
            n -= k
    return out


def _later_born(c: Cohort, late: float) -> Cohort:
    """The attempt ``c`` as if its requests were born ``late`` seconds later (a copy)."""
    if late <= 0.0:
        return c
    c = copy.copy(c)
    c.born_s += late
    c.born_min += late
    return c


def _take_slots(placements: list[tuple[int, int]], n: int
                ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Split placements into the first ``n`` slots and the rest."""
    head: list[tuple[int, int]] = []
    tail: list[tuple[int, int]] = []
    for iid, k in placements:
        take = min(k, n)
        if take:
            head.append((iid, take))
        if k > take:
            tail.append((iid, k - take))
        n -= take
    return head, tail

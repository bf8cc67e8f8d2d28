"""Attack traffic: vectors of an attack mix, each a class of requests that never retries.

A vector sends at a rate curve: nothing before ``start_s`` or from ``end_s`` on; in
between the full rate, reached by a linear rise over ``ramp_s``. Arrivals are a
(non-homogeneous) Poisson process on the vector's own stream ``attack.<name>``. What a
request does depends on the vector's ``kind``:

- ``l7_join_flood``: join requests with invalid or stolen tokens. They arrive at
  ``enter``, follow the routes like any request and end after ``stop_after`` (an invalid
  token is refused once auth has done its work) or at the end of the path.
- ``auth_flood``: credential stuffing. Like the above, but after ``stop_after``'s work
  the credential misses every cache and is looked up at ``lookup`` (the token store),
  where it ends.
- ``connection_exhaustion``: slow clients (slowloris). Each takes one of the ``enter``
  station's connections (``connections_per_instance``) and holds it for ``hold_s``
  without finishing a request, using no worker; then the station times it out. When no
  connection is free it is rejected.
- ``volumetric``: ``gbps`` of packets of ``packet_bytes`` at the ``enter`` station's
  link (``link_gbps``). Counted in packets, in steps of ``VOLUMETRIC_STEP_S``; it does
  no work at any station, but while the link (or a scrubber's capacity) is exceeded,
  everything on it, legit requests included, is lost in proportion (see
  ``sim.model.mitigation``).
- ``bot_listeners``: valid joins that go the whole path and hold a listener slot for
  ``session_s``, as a listener would (they are not evicted back: a bot whose server goes
  away is simply gone).

Attack requests have no deadline: bots do not give up. Every request ends in one of
four ways, counted per vector: ``mitigated`` (cut by a mitigation), ``rejected`` (a
station, a full connection or slot pool, or a full link turned it away), ``timed_out``
(a slow connection closed by the station) or ``served`` (it got what it came for: the
end of its path, a slot, or through the link); until then it is ``in_flight``.

The attack reports itself: ``register_attack_series`` adds its columns of the time
series (all vectors, then each), ``attack_block`` its block of the summary.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import simpy

from .. import series as cols
from ..config import AttackVectorConfig
from ..engine import Cohort, Network, Pool, Station, TickRecorder
from ..engine.clock import NORMAL, Due, FifoTimers, scheduler
from ..summary import Attack, AttackVectorSummary, Link
from .arrivals import ArrivalCurve

INF = math.inf
VOLUMETRIC_STEP_S = 1.0
_EXP_BLOCK = 4096


def shape(cfg: AttackVectorConfig):
    """The rate curve as a share of the full rate, vectorised over ``t``."""
    t0, t1, ramp = cfg.start_s, cfg.end_s, cfg.ramp_s

    def f(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        inside = (t >= t0) & (t < t1)
        rise = np.clip((t - t0) / ramp, 0.0, 1.0) if ramp > 0 else np.ones_like(t)
        return np.where(inside, rise, 0.0)

    return f


class BotHold:
    """Slots one bot cohort holds on one fanout instance (exact mode)."""

    __slots__ = ("count", "iid", "key", "owner")

    def __init__(self, owner: AttackVector, iid: int, count: int, key: int) -> None:
        self.owner = owner
        self.iid = iid
        self.count = count
        self.key = key


class AttackVector:
    """One vector of an attack mix: the owner of its cohorts (module docstring)."""

    def __init__(self, env: simpy.Environment, name: str, cfg: AttackVectorConfig,
                 network: Network, gen: np.random.Generator, horizon_s: float,
                 pool: Pool | None = None, resolution_s: float = 0.0) -> None:
        self.env = env
        self.name = name
        self.kind = cfg.kind
        self.cfg = cfg
        self.network = network
        self.station: Station = network.stations[cfg.enter]
        self.lookup = (network.stations[cfg.lookup]
                       if cfg.kind == "auth_flood" and cfg.lookup is not None
                       and cfg.lookup != cfg.stop_after else None)
        self.gen = gen
        self.horizon_s = horizon_s
        self.resolution_s = resolution_s
        self.pool = pool
        # Where requests enter: the station, or a gate in front of it (set by the model).
        self.entry: Any = self.station
        self.screen: Any = None  # connection_exhaustion: filters run at connect time
        self.bandwidth: Any = None  # volumetric: the link's state (sim.model.mitigation)
        self.full_rate = (cfg.gbps * 1e9 / (8 * cfg.packet_bytes) if cfg.kind == "volumetric"
                          else cfg.rate_rps)
        self.shape = shape(cfg)
        self.curve = ArrivalCurve(lambda t: self.full_rate * self.shape(t), horizon_s)
        self.offered = 0
        self.mitigated = 0
        self.served = 0
        self.rejected = 0
        self.timed_out = 0
        self.holding = 0  # connections (connection_exhaustion) or slots (bot_listeners)
        self._keys = 0
        self._timers: FifoTimers | None = None
        if cfg.kind == "connection_exhaustion":
            self._timers = FifoTimers(env, self._release_connections, _never)
        elif cfg.kind == "bot_listeners":
            self._timers = FifoTimers(env, self._release_slots, _never)

    # -- rate --------------------------------------------------------------------------------
    def rate(self, t: np.ndarray) -> np.ndarray:
        """Requests (volumetric: packets) per second at ``t``."""
        return self.full_rate * self.shape(t)

    def gbps(self, t: float) -> float:
        """Volumetric bandwidth at ``t`` (0 for the other kinds)."""
        cfg = self.cfg
        if self.kind != "volumetric" or not cfg.start_s <= t < cfg.end_s:
            return 0.0
        if cfg.ramp_s > 0:
            return cfg.gbps * min(1.0, (t - cfg.start_s) / cfg.ramp_s)
        return cfg.gbps

    # -- arrivals ----------------------------------------------------------------------------
    def start_exact(self) -> None:
        """Exact mode: one request at a time, on one reusable event (see ``engine.clock``)."""
        if self.kind == "volumetric":
            self._start_steps()
            return
        if self.curve.expected_total <= 0:
            return
        times = self._times()
        env = self.env
        schedule = scheduler(env)
        send = self.send

        def next_request(_ev: Any = None) -> None:
            if _ev is not None:
                send(1)
            t = next(times, None)
            if t is None:
                return
            now = env.now
            due.callbacks = on_due
            schedule(due, NORMAL, t - now if t > now else 0.0)

        on_due = (next_request,)
        due = Due(on_due)
        next_request()

    def _times(self):
        """Arrival times, made lazily: unit-rate Poisson points mapped through Λ⁻¹."""
        total = self.curve.expected_total
        gen, cum, t = self.gen, self.curve.cum, self.curve.t
        point = 0.0
        while True:
            pts = point + np.cumsum(gen.standard_exponential(_EXP_BLOCK))
            point = float(pts[-1])
            inside = pts[pts < total]
            yield from np.interp(inside, cum, t).tolist()
            if len(inside) < len(pts):
                return

    def start_counts(self, dt: float) -> None:
        """Cohort mode: one cohort per tick with the Poisson count of that tick."""
        if self.kind == "volumetric":
            self._start_steps()
            return
        if self.curve.expected_total <= 0:
            return
        counts = self.curve.sample_counts(self.gen, dt)
        ticks = np.nonzero(counts)[0]
        it = iter(zip(ticks.tolist(), counts[ticks].tolist(), strict=True))
        env = self.env

        def next_tick(ev: Any = None) -> None:
            if ev is not None:
                self.send(ev._value, dt)
            nxt = next(it, None)
            if nxt is not None:
                k, n = nxt
                env.schedule(Due(on_tick, int(n)), NORMAL,  # type: ignore[arg-type]
                             max(0.0, k * dt - env.now))

        on_tick = (next_tick,)
        next_tick()

    def send(self, count: int, spread_s: float = 0.0) -> None:
        now = self.env.now
        c = Cohort(self.name, count, now, now, INF, 1, self)
        c.spread_s = spread_s
        c.stop_at = self.cfg.stop_after
        self.offered += count
        if self.kind == "connection_exhaustion":
            if self.screen is not None:
                self.screen(c, self._hold)
            else:
                self._hold(c)
            return
        self.entry.offer(c)

    # -- volumetric --------------------------------------------------------------------------
    def _start_steps(self) -> None:
        if self.curve.expected_total <= 0:
            return
        step = VOLUMETRIC_STEP_S
        k0 = int(self.cfg.start_s // step)
        k1 = math.ceil(min(self.cfg.end_s, self.horizon_s) / step)
        env = self.env

        def on_step(ev: Any) -> None:
            k = ev._value
            t = k * step
            lam = self.curve.expected_between(t, min(t + step, self.horizon_s))
            n = int(self.gen.poisson(lam)) if lam > 0 else 0
            if n:
                self._packets(n, t + step / 2)
            if k + 1 < k1:
                env.schedule(Due(cbs, k + 1), NORMAL, (k + 1) * step - env.now)  # type: ignore[arg-type]

        cbs = (on_step,)
        env.schedule(Due(cbs, k0), NORMAL, max(0.0, k0 * step - env.now))  # type: ignore[arg-type]

    def _packets(self, n: int, t_mid: float) -> None:
        """Split one step's packets into scrubbed, dropped for capacity, and through."""
        self.offered += n
        bw = self.bandwidth
        if bw is None:
            self.served += n
            return
        gen = self.gen
        scrub_pass, detection, link_pass = bw.attack_shares(t_mid)
        k1 = int(gen.binomial(n, scrub_pass)) if scrub_pass < 1 else n
        k2 = int(gen.binomial(k1, 1 - detection)) if detection > 0 else k1
        k3 = int(gen.binomial(k2, link_pass)) if link_pass < 1 else k2
        self.rejected += (n - k1) + (k2 - k3)
        self.mitigated += k1 - k2
        self.served += k3
        bw.count_attack(k1 - k2, (n - k1) + (k2 - k3))

    # -- connection exhaustion ---------------------------------------------------------------
    def _hold(self, c: Cohort) -> None:
        limit = self.station.connections
        n = c.count
        took = n if limit is None else limit.acquire(n, self.station.env.now)
        if took < n:
            self.rejected += n - took
        if took:
            self.holding += took
            assert self._timers is not None
            self._timers.after(self.cfg.hold_s, took)

    def _release_connections(self, n: int) -> None:
        limit = self.station.connections
        if limit is not None:
            limit.release(n)
        self.holding -= n
        self.timed_out += n

    # -- bot listeners -----------------------------------------------------------------------
    def _release_slots(self, item: Any) -> None:
        pool = self.pool
        assert pool is not None
        if isinstance(item, BotHold):
            if pool.release(item.iid, item.count, item.key):
                self.holding -= item.count
            return
        n = min(int(item), self.holding)  # cohort mode: a count, spread over the instances
        if n > 0:
            pool.release_spread(n)
            self.holding -= n

    def evict(self, holds: list[BotHold]) -> None:
        """Exact mode: holds whose instance went away (their slots are gone with it)."""
        for h in holds:
            self.holding -= h.count

    def evict_count(self, n: int) -> None:
        """Cohort mode: ``n`` of this vector's slots went away with their instances; later
        session ends release only what is still held."""
        self.holding -= min(n, self.holding)

    # -- outcomes, as the network and the gate report them -----------------------------------
    def on_finished(self, c: Cohort, st: Station) -> None:
        if self.lookup is not None and st.name == self.cfg.stop_after:
            c.stop_at = self.lookup.name  # the credential missed the cache: look it up
            self.lookup.offer(c)
            return
        self.served += c.count

    def on_joined(self, c: Cohort, st: Station, placements: list[tuple[int, int]] | None) -> None:
        self.served += c.count
        if not placements or self.pool is None:
            return
        if self.kind != "bot_listeners":
            self.pool.give_back(placements)
            return
        assert self._timers is not None
        hold_s = self.cfg.session_s
        for iid, k in placements:
            self.holding += k
            if self.pool.fluid:
                self._timers.after(hold_s, k)
                continue
            self._keys -= 1  # negative keys: never those of the clients' records
            h = BotHold(self, iid, k, self._keys)
            self.pool.hold(iid, h.key, h)
            self._timers.after(hold_s, h)

    def on_failed(self, c: Cohort, st: Station, reason: str) -> None:
        self.rejected += c.count

    def on_expired(self, c: Cohort, st: Station) -> None:
        self.timed_out += c.count

    def on_mitigated(self, c: Cohort) -> None:
        self.mitigated += c.count

    def summary(self) -> AttackVectorSummary:
        return {"kind": self.kind, "offered": self.offered, "mitigated": self.mitigated,
                "served": self.served, "rejected": self.rejected,
                "timed_out": self.timed_out, "in_flight": self.in_flight,
                "holding": self.holding}

    @property
    def in_flight(self) -> int:
        return (self.offered - self.mitigated - self.served - self.rejected
                - self.timed_out)


def _never(_item: Any) -> bool:
    return False


def register_attack_series(rec: TickRecorder, attacks: list[AttackVector]) -> None:
    """The attack's columns: offered, served and mitigated over all vectors, then each's."""
    rec.add(cols.ATTACK_OFFERED, "count", lambda: sum(a.offered for a in attacks))
    rec.add(cols.ATTACK_SERVED, "count", lambda: sum(a.served for a in attacks))
    rec.add(cols.ATTACK_MITIGATED, "count", lambda: sum(a.mitigated for a in attacks))
    for a in attacks:
        for attr in cols.VECTOR_COUNTS:  # each the vector's attribute of that name
            rec.add(cols.attack_vector(a.name, attr), "count", _getter(a, attr))


def attack_block(attacks: list[AttackVector], links: dict[str, Link]) -> Attack:
    """The ``attack`` block: all vectors, each vector, and the links they loaded."""
    return {"offered": sum(a.offered for a in attacks),
            "mitigated": sum(a.mitigated for a in attacks),
            "served": sum(a.served for a in attacks),
            "vectors": {a.name: a.summary() for a in attacks},
            "links": links}


def _getter(obj: Any, attr: str) -> Any:
    return lambda: getattr(obj, attr)


def evict_bots(attacks: list[AttackVector], evicted: list[Any], count: int,
               in_use_after: int) -> tuple[list[Any], int]:
    """Take the bots' share out of what a slot pool evicted; returns the clients' share.

    Exact mode: the records that are ``BotHold`` go to their vectors. Cohort mode (a
    count): slots are spread evenly, so bots lose their share of what was in use."""
    if evicted:
        rest = []
        for rec in evicted:
            if isinstance(rec, BotHold):
                rec.owner.evict([rec])
            else:
                rest.append(rec)
        return rest, count
    bots = [a for a in attacks if a.kind == "bot_listeners" and a.holding > 0]
    before = in_use_after + count
    if not bots or count <= 0 or before <= 0:
        return evicted, count
    left = count
    for a in bots:
        k = min(left, a.holding, round(count * a.holding / before))
        a.evict_count(k)
        left -= k
    return evicted, left

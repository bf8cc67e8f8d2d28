"""Routing: where a request goes after each station, and how its attempt ends.

The join path is data, not code: ``routes`` maps a station to its next stations with
probabilities (an auth cache hit goes straight to ``join``, a miss through
``token_store``). A station with no routes is the end of the path. If the end station
has a slot pool, a request that finishes its service there must also take a slot (a
listener slot on a fanout server); if none is free it is rejected.

A cohort that meets a branch is split: in exact mode one uniform draw picks the branch,
in cohort mode a multinomial draw cuts the count.

The network tells the cohort's ``owner`` how each attempt ends, with one of:
``on_joined(c, station, placements)``, ``on_failed(c, station, reason)`` (rejected somewhere),
``on_expired(c, station)`` (dropped because its deadline passed), ``on_finished(c, station)``
(reached a cohort's ``stop_at`` station: an attack request the system served). Holds on
connection limits are released before the owner hears.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .cohort import Cohort
from .pool import Pool
from .station import Station
from .streams import Uniforms


class Network:
    """Stations wired together by probabilistic routes."""

    def __init__(
        self,
        stations: Mapping[str, Station],
        routes: Mapping[str, Sequence[tuple[str, float]]],
        entry: str,
        gen: np.random.Generator,
        pools: Mapping[str, Pool] | None = None,
    ) -> None:
        for src, branches in routes.items():
            if src not in stations:
                raise ValueError(f"route from unknown station {src!r}")
            total = 0.0
            for dst, p in branches:
                if dst not in stations:
                    raise ValueError(f"station {src!r} routes to unknown station {dst!r}")
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"route {src!r} -> {dst!r}: probability {p} not in [0, 1]")
                total += p
            if branches and abs(total - 1.0) > 1e-9:
                raise ValueError(f"routes from {src!r} sum to {total}, not 1")
        if entry not in stations:
            raise ValueError(f"entry station {entry!r} is not a station")
        self.stations = dict(stations)
        self.entry = self.stations[entry]
        self.gen = gen
        self.pools = dict(pools or {})
        # Requests served at the end of the path but refused a slot, per station.
        self.slots_full: dict[str, int] = {}
        self._draw = Uniforms(gen)
        # Per station: (next stations, cumulative probabilities) or None at the end.
        self._next: dict[str, tuple[list[Station], list[float]] | None] = {}
        for name, st in self.stations.items():
            branches = [(d, p) for d, p in routes.get(name, ()) if p > 0.0]
            if branches:
                cum = list(np.cumsum([p for _, p in branches]))
                cum[-1] = 1.0
                self._next[name] = ([self.stations[d] for d, _ in branches], cum)
            else:
                self._next[name] = None
            st.forward = self._make_forward(st)
            st.reject = self._make_reject(st)
            st.expire = self._make_expire(st)

    def _make_forward(self, st: Station) -> Any:
        nxt = self._next[st.name]
        name = st.name
        pool = self.pools.get(name)
        # The two common cases get their own closures, with the work of ``_exit`` and
        # the branch choice done once here instead of once per request.
        if nxt is None and pool is None:

            def forward_end(c: Cohort) -> None:
                if c.stop_at == name:
                    _release(c, st)
                    c.owner.on_finished(c, st)
                    return
                if c.held:
                    _release(c, st)
                c.owner.on_joined(c, st, None)

            return forward_end
        if nxt is not None and len(nxt[0]) == 1:
            offer_next = nxt[0][0].offer

            def forward_one(c: Cohort) -> None:
                if c.stop_at == name:
                    _release(c, st)
                    c.owner.on_finished(c, st)
                    return
                offer_next(c)

            return forward_one
        probs = np.diff([0.0, *nxt[1]]) if nxt is not None else np.ones(1)

        def forward(c: Cohort) -> None:
            if c.stop_at == name:
                _release(c, st)
                c.owner.on_finished(c, st)
                return
            if nxt is None:
                self._exit(c, st, pool)
                return
            targets, cum = nxt
            if len(targets) == 1:
                targets[0].offer(c)
            elif c.count == 1:
                u = self._draw()
                for target, edge in zip(targets, cum, strict=True):
                    if u < edge:
                        target.offer(c)
                        return
                targets[-1].offer(c)
            elif c.mix is not None and len(targets) == 2:
                # A bundle: each state's requests take the first branch independently.
                # One draw per state, in order, as a draw over the array would make them
                # (a state of none draws nothing), without its checks over a tiny array.
                binomial, p = self.gen.binomial, cum[0]
                sub = [binomial(n, p) if n else 0 for n in c.mix.tolist()]
                k = sum(sub)
                if k == 0:
                    targets[1].offer(c)
                elif k == c.count:
                    targets[0].offer(c)
                else:
                    targets[0].offer(c.split(k, np.array(sub, dtype=np.int64)))
                    targets[1].offer(c)
            else:
                counts = self.gen.multinomial(c.count, probs).tolist()
                parts = []
                for target, k in zip(targets, counts, strict=True):
                    if k:
                        parts.append((target, k))
                for target, k in parts[:-1]:
                    target.offer(c.split(k))
                parts[-1][0].offer(c)

        return forward

    def _exit(self, c: Cohort, st: Station, pool: Pool | None) -> None:
        if pool is None:
            _release(c, st)
            c.owner.on_joined(c, st, None)
            return
        placements = pool.acquire(c.count)
        taken = 0
        for _, k in placements:
            taken += k
        if taken < c.count:
            lost = c.split(c.count - taken) if taken else c
            self.slots_full[st.name] = self.slots_full.get(st.name, 0) + lost.count
            _release(lost, st)
            lost.owner.on_failed(lost, st, "slots_full")
            if not taken:
                return
        _release(c, st)
        c.owner.on_joined(c, st, placements)

    def _make_reject(self, st: Station) -> Any:
        def reject(c: Cohort, reason: str) -> None:
            _release(c, st)
            c.owner.on_failed(c, st, reason)

        return reject

    def _make_expire(self, st: Station) -> Any:
        def expire(c: Cohort) -> None:
            _release(c, st)
            c.owner.on_expired(c, st)

        return expire


def _release(c: Cohort, st: Station) -> None:
    """Give back the connections ``c`` holds; a cohort's requests end over its spread."""
    if c.held:
        now = st.env.now
        for limit in c.held:
            limit.release(c.count, now, c.spread_s)
        c.held = None

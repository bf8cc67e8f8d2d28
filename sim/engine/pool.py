"""Connection-holding pools: slots that a request keeps after its service ends.

Two uses in the launch model: listener slots on a fanout server (held for a listening
session, placed on one instance, evicted if that instance goes away) and concurrent
connections at a proxy tier (held while the request is in flight further down the path,
only their number matters). ``Pool`` is the first, ``ConnectionLimit`` the second.

Both count slots, not requests: ``acquire(n)`` admits as many of ``n`` as fit, which is
how a cohort is cut by a full pool.
"""

from __future__ import annotations

from typing import Any


class Pool:
    """``slots_per_instance`` slots on each instance, handed out round-robin.

    Instances have stable ids so a holder can remember where it sits. Removing an
    instance evicts its holders; the least-loaded instance goes first, the least
    disruption for the same loss of capacity. Sessions end at random, so each instance
    loses listeners in proportion to what it holds.

    Cohort mode (``fluid``) keeps counts, not holders, under the same policy: instances
    that joined the fleet together have received the same share of every cohort
    (round-robin spreads a cohort evenly over the instances with room) and lost the same
    share of every release, so they carry the same load. They are kept as one group
    (size, slots used), with the group's id standing for its instances in placements;
    scale-in removes an instance of the least-loaded group and evicts its share, a lost
    server is drawn at random from the instances. So a fleet that scaled out and back in
    evicts as few listeners in cohort mode as in exact mode.
    """

    def __init__(self, name: str, slots_per_instance: int, instances: int,
                 fluid: bool = False) -> None:
        if slots_per_instance < 1:
            raise ValueError(f"slots_per_instance must be >= 1, got {slots_per_instance}")
        if instances < 0:
            raise ValueError(f"instances must be >= 0, got {instances}")
        self.name = name
        self.slots_per_instance = int(slots_per_instance)
        # Exact mode: slots used and holders per instance id, ids in round-robin order.
        # Cohort mode: slots used and instance count per group id (oldest first).
        self.used: dict[int, int] = {}
        self.holders: dict[int, dict[int, Any]] = {}
        self.order: list[int] = []
        self.size: dict[int, int] = {}
        self._count = 0
        self._next_id = 0
        self._rr = 0
        self.in_use = 0
        self.peak = 0
        self.last_evicted = 0  # slots freed by the last resize (cohort mode evicts by count)
        self._owed: dict[int, float] = {}  # release_spread's carried fractions, per id
        # Cohort mode: the share of each group's slots that survived the last resize or
        # loss (a group that went is 0), so holders of counts know whose listeners went.
        self.last_survived: dict[int, float] = {}
        self.fluid = fluid
        self.resize(instances)

    @property
    def instances(self) -> int:
        return self._count if self.fluid else len(self.order)

    @property
    def capacity(self) -> int:
        return self.slots_per_instance * self.instances

    @property
    def free(self) -> int:
        return self.capacity - self.in_use

    def acquire(self, n: int) -> list[tuple[int, int]]:
        """Take up to ``n`` slots; returns [(instance id, slots), ...] (empty if full);
        in cohort mode the ids are groups'."""
        parts: list[tuple[int, int]] = []
        k = self.instances
        if k == 0 or self.in_use >= self.slots_per_instance * k:
            return parts
        if self.fluid:
            return self._acquire_groups(n)
        per, used, order = self.slots_per_instance, self.used, self.order
        even = -(-n // k)  # spread a cohort evenly; exact mode takes one slot
        taken, misses = 0, 0
        while taken < n and misses < k:
            iid = order[self._rr]
            self._rr = (self._rr + 1) % k
            room = per - used[iid]
            if room <= 0:
                misses += 1
                continue
            share = min(room, n - taken, even)
            used[iid] += share
            taken += share
            parts.append((iid, share))
            misses = 0
        self.in_use += taken
        self.peak = max(self.peak, self.in_use)
        return parts

    def _acquire_groups(self, n: int) -> list[tuple[int, int]]:
        """Cohort mode: ``n`` slots spread evenly over the instances with room (a group
        takes its instances' share; what a full group cannot take goes to the others)."""
        per, used, size = self.slots_per_instance, self.used, self.size
        if len(size) == 1:  # one group (a fleet that never changed): the fast path
            for g, sz in size.items():
                take = min(n, sz * per - used[g])
                used[g] += take
                self.in_use += take
                self.peak = max(self.peak, self.in_use)
                return [(g, take)]
        got: dict[int, int] = {}
        left = n
        while left > 0:
            rooms = {g: sz * per - used[g] for g, sz in size.items() if sz * per > used[g]}
            if not rooms:
                break
            k = sum(size[g] for g in rooms)
            shares = {g: left * size[g] // k for g in rooms}
            self._round_robin(shares, left - sum(shares.values()), k)
            for g, want in shares.items():
                take = min(want, rooms[g])
                if take > 0:
                    used[g] += take
                    got[g] = got.get(g, 0) + take
                    left -= take
        taken = n - left
        self.in_use += taken
        self.peak = max(self.peak, self.in_use)
        return list(got.items())

    def _round_robin(self, shares: dict[int, int], rest: int, k: int) -> None:
        """Cohort mode: the ``rest`` slots an even split leaves over (fewer than the ``k``
        instances of ``shares``' groups) go one each to the next instances in turn, as
        exact mode's round-robin hands them out."""
        if rest <= 0:
            return
        p = self._rr % k
        lo = 0
        for g in shares:
            hi = lo + self.size[g]
            # Overlap of [lo, hi) with the window [p, p + rest), which may wrap past k.
            shares[g] += (max(0, min(hi, p + rest) - max(lo, p))
                          + max(0, min(hi, p + rest - k) - lo))
            lo = hi
        self._rr = (p + rest) % k

    def hold(self, iid: int, key: int, holder: Any) -> None:
        """Remember who holds slots on instance ``iid`` so it can be evicted."""
        self.holders[iid][key] = holder

    def release(self, iid: int, n: int, key: int) -> bool:
        """Give back ``n`` slots held under ``key``; False if that holder was evicted."""
        box = self.holders.get(iid)
        if box is None or box.pop(key, None) is None:
            return False
        self.used[iid] -= n
        self.in_use -= n
        return True

    def release_spread(self, n: int) -> None:
        """Release ``n`` slots not tied to a holder, in proportion to each instance's use.

        Cohort mode keeps no per-listener records: the listeners whose sessions end are
        spread over the instances as the listeners are. A release is often a few slots
        over many groups (sessions end a few per tick), so each group's share is mostly
        a fraction: what it was due and not yet given is carried to the next release
        (``_owed``), and the slots left after the whole shares go to the groups owed
        most. Over time each group loses exactly its proportional share, as each of
        exact mode's listeners ends on its own. (Handing the remainder to the fullest
        groups instead drained them and spared the least loaded, which scale-in then
        evicted with more listeners than exact mode's least-loaded instance holds.)
        """
        n = min(n, self.in_use)
        if n <= 0:
            return
        ids = list(self.size) if self.fluid else self.order
        used, owed, total = self.used, self._owed, self.in_use
        take: dict[int, int] = {}
        for iid in ids:
            due = owed.get(iid, 0.0) + used[iid] * n / total
            take[iid] = min(max(int(due), 0), used[iid])
            owed[iid] = due - take[iid]
        left = n - sum(take.values())
        for iid in sorted(ids, key=owed.__getitem__, reverse=True):
            if left <= 0:
                break
            if used[iid] > take[iid]:
                take[iid] += 1
                owed[iid] -= 1.0
                left -= 1
        for iid, k in take.items():
            used[iid] -= k
        self.in_use -= n - left

    def give_back(self, parts: list[tuple[int, int]]) -> None:
        """Return slots that were acquired but never held (the client had gone)."""
        for iid, n in parts:
            if iid in self.used:
                k = min(n, self.used[iid])
                self.used[iid] -= k
                self.in_use -= k

    def release_from(self, counts: dict[int, int]) -> int:
        """Cohort mode: give back ``counts[g]`` slots on each group ``g`` (listeners
        whose sessions ended where they sat); returns the slots released."""
        done = 0
        for g, n in counts.items():
            k = min(n, self.used.get(g, 0))
            if k > 0:
                self.used[g] -= k
                done += k
        self.in_use -= done
        return done

    def resize(self, instances: int) -> list[Any]:
        """Set the number of instances; returns the holders evicted from removed ones
        (cohort mode: none; ``last_evicted`` says how many slots went with them)."""
        if instances < 0:
            raise ValueError(f"instances must be >= 0, got {instances}")
        self.last_evicted = 0
        self.last_survived = {}
        if self.fluid:
            self._resize_groups(instances)
            return []
        evicted: list[Any] = []
        while len(self.order) > instances:
            iid = min(self.order, key=self.used.__getitem__)
            self.order.remove(iid)
            gone = self.used.pop(iid)
            self.in_use -= gone
            self.last_evicted += gone
            evicted.extend(self.holders.pop(iid).values())
        while len(self.order) < instances:
            iid = self._next_id
            self._next_id += 1
            self.order.append(iid)
            self.used[iid] = 0
            self.holders[iid] = {}
        self._rr = self._rr % len(self.order) if self.order else 0
        return evicted

    def _resize_groups(self, instances: int) -> None:
        """Cohort mode: remove the least-loaded instances one at a time, or add a group
        of empty ones."""
        used, size = self.used, self.size
        while self._count > instances:
            g = min(size, key=lambda g: used[g] / size[g])
            self._drop(g, 1)
        if self._count < instances:
            empty = next((g for g in size if used[g] == 0), None)
            if empty is None:
                empty = self._next_id
                self._next_id += 1
                size[empty] = used[empty] = 0
            size[empty] += instances - self._count
            self._count = instances

    def _drop(self, g: int, k: int) -> None:
        """Cohort mode: ``k`` instances of group ``g`` go, with their share of its slots."""
        sz, u = self.size[g], self.used[g]
        gone = u if k >= sz else min(u, (2 * u * k + sz) // (2 * sz))
        self.used[g] = u - gone
        self.size[g] = sz - k
        kept = (u - gone) / u if u and sz > k else float(sz > k)
        self.last_survived[g] = self.last_survived.get(g, 1.0) * kept
        if self.size[g] == 0:
            del self.size[g], self.used[g]
            self._owed.pop(g, None)
        self._count -= k
        self.in_use -= gone
        self.last_evicted += gone

    def lose(self, k: int, gen: Any) -> list[Any]:
        """``k`` instances fail (chosen at random, as a crash or a lost server would be);
        returns their holders (cohort mode: none; ``last_evicted`` counts their slots)."""
        k = min(int(k), self.instances)
        self.last_evicted = 0
        self.last_survived = {}
        if k <= 0:
            return []
        if self.fluid:
            groups = list(self.size)
            if len(groups) == 1:
                self._drop(groups[0], k)
                return []
            drawn = gen.multivariate_hypergeometric([self.size[g] for g in groups], k)
            for g, m in zip(groups, drawn.tolist(), strict=True):
                if m:
                    self._drop(g, m)
            return []
        evicted: list[Any] = []
        for i in sorted(gen.choice(len(self.order), size=k, replace=False).tolist(),
                        reverse=True):
            iid = self.order.pop(i)
            gone = self.used.pop(iid)
            self.in_use -= gone
            self.last_evicted += gone
            evicted.extend(self.holders.pop(iid).values())
        self._rr = self._rr % len(self.order) if self.order else 0
        return evicted


class ConnectionLimit:
    """At most ``per_instance × instances`` requests in flight beyond a proxy tier.

    A request gives its connection back when its attempt ends. In cohort mode a cohort's
    requests end one after another over a window (they arrived, and finish, spread over
    ``Cohort.spread_s``): ``release(n, now, over)`` gives the connections back evenly
    over that window, as its requests finish, rather than all at its first. Given back
    at once, each request would hold its connection for less than its time in flight
    (by half the window, on average), and a limit that binds would admit too many.
    ``drain(now)`` brings the count up to ``now``; ``draining`` is what the windows still
    hold."""

    def __init__(self, per_instance: int, instances: int) -> None:
        if per_instance < 1:
            raise ValueError(f"per_instance must be >= 1, got {per_instance}")
        self.per_instance = int(per_instance)
        self.limit = self.per_instance * instances
        self.in_use = 0
        self.peak = 0
        self._windows: list[list[float]] = []  # [start, end, count, given back so far]

    @property
    def draining(self) -> int:
        """Connections of ended requests that their windows have not given back yet."""
        return int(sum(w[2] - w[3] for w in self._windows))

    def free(self, now: float) -> int:
        """Connections a new request could take at ``now``."""
        if self._windows:
            self.drain(now)
        return self.limit - self.in_use

    def drain(self, now: float) -> None:
        """Give back what the release windows owe by ``now``."""
        keep = []
        for w in self._windows:
            t0, t1, n, done = w
            due = n if now >= t1 else int(n * (now - t0) / (t1 - t0))
            if due > done:
                self.in_use -= int(due - done)
                w[3] = due
            if due < n:
                keep.append(w)
        self._windows = keep

    def resize(self, instances: int) -> None:
        # Connections already open stay open; only new ones see the smaller limit.
        self.limit = self.per_instance * instances

    def acquire(self, n: int, now: float | None = None) -> int:
        """Take up to ``n`` connections (at ``now``, given back what windows owe)."""
        if now is not None and self._windows:
            self.drain(now)
        take = min(n, self.limit - self.in_use)
        if take <= 0:
            return 0
        self.in_use += take
        self.peak = max(self.peak, self.in_use)
        return take

    def release(self, n: int, now: float = 0.0, over: float = 0.0) -> None:
        """Give back ``n`` connections: at once, or evenly over ``[now, now + over)``."""
        if over <= 0.0 or n <= 1:
            self.in_use -= n
            return
        self._windows.append([now, now + over, n, 0])

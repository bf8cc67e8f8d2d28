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
    disruption for the same loss of capacity.
    """

    def __init__(self, name: str, slots_per_instance: int, instances: int,
                 fluid: bool = False) -> None:
        if slots_per_instance < 1:
            raise ValueError(f"slots_per_instance must be >= 1, got {slots_per_instance}")
        if instances < 0:
            raise ValueError(f"instances must be >= 0, got {instances}")
        self.name = name
        self.slots_per_instance = int(slots_per_instance)
        self.used: dict[int, int] = {}
        self.holders: dict[int, dict[int, Any]] = {}
        self.order: list[int] = []
        self._next_id = 0
        self._rr = 0
        self.in_use = 0
        self.peak = 0
        self.last_evicted = 0  # slots freed by the last resize (cohort mode evicts by count)
        # Cohort mode: no placement. Holders are spread evenly over the instances, so only
        # the total is kept, and removing an instance evicts its even share.
        self.fluid = fluid
        self.resize(instances)

    @property
    def instances(self) -> int:
        return len(self.order)

    @property
    def capacity(self) -> int:
        return self.slots_per_instance * len(self.order)

    @property
    def free(self) -> int:
        return self.capacity - self.in_use

    def acquire(self, n: int) -> list[tuple[int, int]]:
        """Take up to ``n`` slots; returns [(instance id, slots), ...] (empty if full)."""
        parts: list[tuple[int, int]] = []
        k = len(self.order)
        if k == 0 or self.in_use >= self.slots_per_instance * k:
            return parts
        if self.fluid:
            taken = min(n, self.slots_per_instance * k - self.in_use)
            self.in_use += taken
            self.peak = max(self.peak, self.in_use)
            return [(-1, taken)]
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

        Cohort mode keeps no per-listener records: listeners are spread evenly, and so are
        the ones whose sessions end.
        """
        n = min(n, self.in_use)
        if n <= 0:
            return
        if self.fluid:
            self.in_use -= n
            return
        total = self.in_use
        left = n
        shares = []
        for iid in self.order:
            take = self.used[iid] * n // total
            shares.append(iid)
            self.used[iid] -= take
            left -= take
        # The remainder, one slot at a time from the fullest instances.
        for iid in sorted(shares, key=self.used.__getitem__, reverse=True):
            if left <= 0:
                break
            if self.used[iid] > 0:
                self.used[iid] -= 1
                left -= 1
        self.in_use -= n - left

    def give_back(self, parts: list[tuple[int, int]]) -> None:
        """Return slots that were acquired but never held (the client had gone)."""
        for iid, n in parts:
            if self.fluid:
                self.in_use -= n
            elif iid in self.used:
                self.used[iid] -= n
                self.in_use -= n

    def resize(self, instances: int) -> list[Any]:
        """Set the number of instances; returns the holders evicted from removed ones."""
        if instances < 0:
            raise ValueError(f"instances must be >= 0, got {instances}")
        evicted: list[Any] = []
        self.last_evicted = 0
        if self.fluid and self.order and instances < len(self.order):
            gone = round(self.in_use * (len(self.order) - instances) / len(self.order))
            self.in_use -= gone
            self.last_evicted = gone
            for iid in self.order[instances:]:
                self.used.pop(iid)
                self.holders.pop(iid)
            del self.order[instances:]
            self._rr = 0
            return evicted
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


    def lose(self, k: int, gen: Any) -> list[Any]:
        """``k`` instances fail (chosen at random, as a crash or a lost server would be);
        returns their holders. Cohort mode evicts the even share, as ``resize`` does."""
        k = min(int(k), len(self.order))
        if k <= 0:
            self.last_evicted = 0
            return []
        if self.fluid:
            return self.resize(len(self.order) - k)
        evicted: list[Any] = []
        self.last_evicted = 0
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
    """At most ``per_instance × instances`` requests in flight beyond a proxy tier."""

    def __init__(self, per_instance: int, instances: int) -> None:
        if per_instance < 1:
            raise ValueError(f"per_instance must be >= 1, got {per_instance}")
        self.per_instance = int(per_instance)
        self.limit = self.per_instance * instances
        self.in_use = 0
        self.peak = 0

    def resize(self, instances: int) -> None:
        # Connections already open stay open; only new ones see the smaller limit.
        self.limit = self.per_instance * instances

    def acquire(self, n: int) -> int:
        take = min(n, self.limit - self.in_use)
        if take <= 0:
            return 0
        self.in_use += take
        self.peak = max(self.peak, self.in_use)
        return take

    def release(self, n: int) -> None:
        self.in_use -= n

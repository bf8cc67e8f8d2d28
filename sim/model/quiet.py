"""Quiet periods in cohort mode: births gathered over windows longer than a tick.

Cohort mode's tick is chosen for the hardest moment of the run: the surge, the retry
storm, the deadline races, where what happens within a tenth of a second decides who
joins. Most of a launch is not that. Before the start and in the hour after it the
listeners trickle in far below every tier's capacity, every attempt is answered on its
first try, and a tick's births are a few requests that cross every station as a cohort
of their own: the cost of the run follows the number of ticks, not the work. So where
the join path is quiet, the births of several ticks are gathered into one cohort spread
over their window (at most ``QUIET_WINDOW_S``, its ticks strictly inside one metrics
row, so that a window's births are counted in the row they would be counted in tick by
tick), and cross the stations as one.

That changes nothing the stations can tell apart. A cohort already stands for arrivals
spread uniformly over its window: the count of a window is the sum of its ticks'
Poisson counts, and a small station places its requests uniformly over the window and
sorts them, which is the same Poisson process given its count; a large station paces
the cohort over its window as it paced the ticks' cohorts over theirs. The deadlines
and births keep their spread over the window. What a large station estimates from
arrivals, the offered load behind its stationary wait, counts such a cohort as the
stream it is (``FluidStation._count_stream``): a second's births counted at once would
read, over a time constant of a few ticks, as a tick's.

Windows open only where every station is served as a fluid (``sim.engine.fluid``), in
the order of the sends. A small station serves its requests one by one
(``sim.engine.granular``), each with its own service time, and answers them out of that
order; a window's deadlines are judged by rank (below), which such answers do not
follow, and a small station's cost is its requests', which a window does not lower.

A window is quiet when nothing could happen in it that a tick would see differently:
no retries are due in it (it holds first attempts only), no waiting room or client
policy (which judge attempts by when they come), and at every station the work in the
system and the offered rate of the last window, grown by as much as the births of the
coming window exceed the last window's, are at most ``QUIET_RHO`` of its capacity (and
of its rate limit and connections, where it has them), and what the window brings it is
at most ``QUIET_RHO`` of the room its queue limit leaves (a station takes a cohort in
whole or shares the room out, as it does a tick's). Otherwise the births go out tick
by tick as before. A window also ends before any change the
scenario schedules (an outage, a server loss, an attack's start): a window's work is
committed at the capacity of its start, so a drop within it would reach the window's
later births up to a window late (an outage at a tenth of the capacity read the p99
join latency 20% short). A run whose capacity changes at times it decides on its own
(an autoscaler, overload crashes) has no windows at all: with an autoscaler on the
fanout tier, its scale-in evicted 3% fewer listeners and reconnected 7% fewer with
windows than tick by tick (13% fewer than exact mode; tests/test_client_fidelity.py).
At the onset of a surge within a window the window's later births were committed a
little early: at most one window of births, a second's worth, at the quiet rate.

On by default (``CohortClients.quiet_window_s``; 0 sends every tick's births alone).
A window's requests keep their own deadlines, spread over the window as their sends
were: the attempt's deadlines are judged tick by tick (``CohortClients._judge``), so a
request still unanswered when its own deadline passes times out within a tick of it,
as a tick's cohort does, not at the window's last deadline; what of it is answered
later is wasted work that does not fail twice. A window's births go out one ticket
per client state (impatient and patient), not as one bundle, whose states the tick by
tick judging does not follow.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

from ..engine import Station
from ..engine.admission import connections_free
from ..engine.granular import Granular

QUIET_WINDOW_S = 1.0
QUIET_RHO = 0.5


def station_rate(st: Station) -> float:
    """The rate a station completes requests at now (its workers, or its ceiling)."""
    mean = st.service.mean * st.slow_factor
    r = st.capacity / mean if mean > 0 else math.inf
    if st.max_rate_rps is not None:
        r = min(r, st.max_rate_rps)
    return r


class QuietWindows:
    """Decides, birth by birth, whether the coming ticks' births go out as one cohort."""

    def __init__(self, clients: Any, stations: list[Station], dt: float,
                 window_s: float = QUIET_WINDOW_S) -> None:
        self.clients = clients
        self.stations = stations
        self.dt = dt
        # Windows only where every station is served as a fluid (FIFO in the order of
        # the sends): one that serves singly answers out of that order, which the tick
        # by tick judging of a window's deadlines, by rank, cannot follow.
        fluid = not any(isinstance(st, Granular) for st in stations)
        self.ticks = max(1, round(window_s / dt)) if fluid else 1
        self.row_ticks = 1 << 62  # until ``align``: no metrics rows to keep whole
        self.window_s = window_s
        self._snap_t = 0.0
        self._snap = [st.offered for st in stations]
        self._snap_born = 0
        self._rates: list[float] | None = None
        self._born_rate = 0.0
        self.windows = 0  # births sent as a quiet window (for the tests)
        self._changes: list[int] = []  # ticks in which a scheduled change happens

    def hold(self, times: list[float]) -> None:
        """No window across these instants (an outage's or a server loss's start, an
        attack's): a window's work is committed at the capacity of its start, and a
        change within it would reach the window's later births a window late."""
        self._changes = sorted({math.floor(t / self.dt) for t in times if t >= 0})

    def align(self, row_s: float) -> None:
        """Windows within the metrics rows of ``row_s`` (a whole number of ticks; none if
        a row is not)."""
        rows = round(row_s / self.dt)
        if rows < 3 or abs(rows * self.dt - row_s) > 1e-9 * row_s:
            self.ticks = 1
            return
        self.row_ticks = rows
        self.ticks = min(self.ticks, rows)

    def window_end(self, k: int) -> int:
        """The tick after the window that the births of tick ``k`` may open (``k + 1``:
        none): at most ``ticks`` ticks, all strictly inside one metrics row. The tick on
        a row's boundary goes alone, as the row its births are counted in (the one
        ending there, or the next) depends on the last bit of its time."""
        rows = self.row_ticks
        if self.ticks < 2 or k % rows == 0:
            return k + 1
        end = min(k + self.ticks, (k // rows + 1) * rows)
        ch = self._changes
        if ch:
            i = bisect_left(ch, k)
            if i < len(ch):
                end = min(end, max(k + 1, ch[i]))
        c = self.clients
        if end - k < 2 or c.room is not None or c.policies is not None:
            return k + 1
        due = c._due
        if due and any(t in due for t in range(k, end)):
            return k + 1
        return end

    def admits(self, n: int, w: float) -> bool:
        """True if ``n`` births over the coming ``w`` seconds go out as one cohort."""
        ok = self._quiet(n, w)
        if ok:
            self.windows += 1
        return ok

    def _refresh(self, now: float) -> None:
        elapsed = now - self._snap_t
        if elapsed < self.window_s:
            return
        self._rates = [(st.offered - s) / elapsed for st, s in zip(self.stations, self._snap,
                                                                   strict=True)]
        born = self.clients.arrived
        self._born_rate = (born - self._snap_born) / elapsed
        self._snap = [st.offered for st in self.stations]
        self._snap_born = born
        self._snap_t = now

    def _quiet(self, n: int, w: float) -> bool:
        self._refresh(self.clients.env.now)
        if self._rates is None or self._born_rate <= 0.0:
            return False
        grow = max(1.0, n / w / self._born_rate)
        for st, r in zip(self.stations, self._rates, strict=True):
            rate = station_rate(st)
            offered = r * grow
            if st.in_system > QUIET_RHO * st.capacity or offered > QUIET_RHO * rate:
                return False
            # A station admits a cohort whole against its queue limit as it admits a
            # tick's: the window's share of it must fit well within the room.
            room = st.queue_limit - st.in_system + rate * self.dt
            if offered * w > QUIET_RHO * room:
                return False
            b = st.bucket
            if b is not None and (offered > QUIET_RHO * b.rate or b.level(st.env.now) < 2 * n):
                return False
            lim = st.connections
            if lim is not None and connections_free(lim, st.env.now) < max(
                    2 * n, (1 - QUIET_RHO) * lim.limit):
                return False
        return True

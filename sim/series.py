"""The columns of ``timeseries.csv``: one name each, for the side that writes and the reader.

Every metrics tick (``run.metrics_tick_s``) the recorder samples the components of a
scenario into columns, and each component names its own: the clients their funnel and
the listeners, the attack its vectors, the mitigations what they removed, the waiting
room, the polling, each station its counts and levels, each autoscaler its fleet. When
the run is over the analysis adds what it judged over those columns (the retry
amplification, the SLO's sliding windows). The report, the replications' batch means
and the SLO evaluation then read them back by name.

Both sides spell a column through this module: a constant for a column every run of a
kind has (``ATTEMPTS``, ``SLO_JUDGED``), a small function for one named after a part of
the scenario (``station("join", QUEUE)`` is ``join.queue``, ``attack_vector(v, OFFERED)``
is ``attack.<v>.offered``), and for the report the inverse, which names a run's columns
carry (``attack_vectors``, ``mitigations``, ``slot_stations``, ``join_percentiles``).
``columns`` lists every column of a run with the parts ``Layout`` describes, in the
order the run writes them; a test compares it with real runs.

A station's columns carry its bare name (``join.queue``, not ``station.join.queue``), so
a station may not be called ``legit``, ``attack``, ``slo`` or any other prefix here.
This module imports nothing of ``sim``: the engine's recorder writes ``TIME`` under the
same name on its own, and every layer above it may use this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

TIME = "t_s"  # the end of each tick, in simulated seconds (written by the recorder)

# -- the legit clients (``sim.model.clients``) ------------------------------------------------
ARRIVALS = "legit.arrivals"
ATTEMPTS = "legit.attempts"
JOINED = "legit.joined"
ABANDONED = "legit.abandoned"
ATTEMPTS_SUCCEEDED = "legit.attempts_succeeded"  # joins and reconnections
ATTEMPTS_FAILED = "legit.attempts_failed"
ATTEMPTS_REJECTED = "legit.attempts_rejected"
ATTEMPTS_TIMED_OUT = "legit.attempts_timed_out"
IN_FLIGHT = "legit.in_flight"
RECONNECTS = "legit.reconnects"
FIRST_ATTEMPTS = "legit.first_attempts"
CLIENTS = (ARRIVALS, ATTEMPTS, JOINED, ABANDONED, ATTEMPTS_SUCCEEDED, ATTEMPTS_FAILED,
           ATTEMPTS_REJECTED, ATTEMPTS_TIMED_OUT, IN_FLIGHT, RECONNECTS, FIRST_ATTEMPTS)
# The client-side policies (``sim.model.client_policies``), when any is enabled.
RETRY_BUDGET_DENIED = "legit.retry_budget_denied"
THROTTLED = "legit.throttled"
BREAKER_REJECTED = "legit.breaker_rejected"
REFUSED_LOCALLY = "legit.refused_locally"  # throttled and breaker-rejected together
POLICIES = (RETRY_BUDGET_DENIED, THROTTLED, BREAKER_REJECTED, REFUSED_LOCALLY)
LISTENERS = "listeners"  # listeners holding a slot, mean over the tick
LISTENERS_END = "listeners.end"  # and at its end
LISTENING = (LISTENERS, LISTENERS_END)

# -- the attack (``sim.model.attacks``) and the mitigations ------------------------------------
# What an attack vector's requests did, for all vectors together and for each.
OFFERED = "offered"
MITIGATED = "mitigated"
SERVED = "served"
VECTOR_COUNTS = (OFFERED, MITIGATED, SERVED)
ATTACK_OFFERED = "attack.offered"
ATTACK_SERVED = "attack.served"
ATTACK_MITIGATED = "attack.mitigated"
ATTACK = (ATTACK_OFFERED, ATTACK_SERVED, ATTACK_MITIGATED)
# What a mitigation removed, and what a station's ingress link lost.
ATTACK_REMOVED = "attack_removed"
LEGIT_REMOVED = "legit_removed"
MITIGATION_COUNTS = (ATTACK_REMOVED, LEGIT_REMOVED)
LEGIT_LOST = "legit_lost"


def attack_vector(vector: str, what: str) -> str:
    """The column of one attack vector's ``what`` (``OFFERED``, ``MITIGATED``, ``SERVED``)."""
    return f"attack.{vector}.{what}"


def mitigation(name: str, what: str) -> str:
    """The column of what the mitigation ``name`` removed (``ATTACK_REMOVED``...)."""
    return f"mitigation.{name}.{what}"


def link_legit_lost(station: str) -> str:
    """The column of the legit requests lost on the ingress link of ``station``."""
    return f"link.{station}.{LEGIT_LOST}"


# -- the waiting room and the listeners' polling ------------------------------------------------
WAITING_ROOM_SIZE = "waiting_room.size"
WAITING_ROOM_ADMITTED = "waiting_room.admitted"
WAITING_ROOM_ABANDONED = "waiting_room.abandoned"
WAITING_ROOM = (WAITING_ROOM_SIZE, WAITING_ROOM_ADMITTED, WAITING_ROOM_ABANDONED)
POLLING_OFFERED = "polling.offered"
POLLING_SERVED = "polling.served"
POLLING_REJECTED = "polling.rejected"
POLLING_TIMED_OUT = "polling.timed_out"
POLLING = (POLLING_OFFERED, POLLING_SERVED, POLLING_REJECTED, POLLING_TIMED_OUT)

# -- the stations (``sim.model.topology``) and their autoscalers (``sim.model.autoscale``) -----
# ``OFFERED`` and ``SERVED`` above are a station's counts too.
REJECTED = "rejected"
TIMED_OUT = "timed_out"
QUEUE = "queue"  # requests queued, time-weighted mean over the tick
BUSY = "busy"  # busy workers, likewise
CAPACITY = "capacity"  # workers, likewise
INSTANCES = "instances"
CRASHED = "crashed"  # instances down (a station with outages, failures or crashes)
SHED = "shed"  # requests shed by queue age (a station with ``shed_queue_age_s``)
SLOTS_USED = "slots_used"  # listener slots (a station that holds them)
SLOTS = "slots"
SLOTS_REFUSED = "slots_refused"
STATION_COUNTS = (OFFERED, SERVED, REJECTED, TIMED_OUT)
STATION_LEVELS = (QUEUE, BUSY, CAPACITY, INSTANCES)
SLOT_LEVELS = (SLOTS_USED, SLOTS, SLOTS_REFUSED)
DESIRED = "desired"
READY = "ready"
WARMING = "warming"
PENDING = "pending"
METRIC = "metric"  # the autoscaler's highest metric, as a ratio to its target
FLEET = (DESIRED, READY, WARMING, PENDING, METRIC)


def station(name: str, what: str) -> str:
    """The column of station ``name``'s ``what`` (``QUEUE``, ``DESIRED``...)."""
    return f"{name}.{what}"


def autoscaler_metric(name: str, metric: str) -> str:
    """The column of one metric of station ``name``'s autoscaler (``cpu``...)."""
    return f"{name}.{METRIC}.{metric}"


# -- what the analysis adds (``sim.analysis.metastability``, ``sim.analysis.slo``) -------------
AMPLIFICATION = "legit.amplification"  # attempts ÷ clients attempting, per SLO window
SLO_SUCCESS_RATIO = "slo.success_ratio"
JOIN_PERCENTILES = (50, 90, 99)  # the join latency percentiles over the SLO's windows
SLO_BREACH = "slo.breach"  # 0/1: the window ending at this tick breaches
SLO_JUDGED = "slo.judged"  # 0/1: it had enough finished attempts to judge


def join_percentile(p: int) -> str:
    """The column of the ``p``-th join latency percentile over the SLO's windows."""
    return f"slo.join_p{p}_s"


SLO_JOIN_P99 = join_percentile(99)
SLO = (SLO_SUCCESS_RATIO, *map(join_percentile, JOIN_PERCENTILES), SLO_BREACH, SLO_JUDGED)
JUDGED = (AMPLIFICATION, *SLO)


# -- reading names back ------------------------------------------------------------------------

def attack_vectors(names: Iterable[str]) -> list[str]:
    """The attack vectors that have columns of their own among ``names``, in order."""
    return [col.split(".")[1] for col in names
            if re.fullmatch(rf"attack\.[^.]+\.{OFFERED}", col)]


def mitigations(names: Iterable[str]) -> list[str]:
    """The mitigations that have columns among ``names``, in order."""
    return [col.split(".")[1] for col in names
            if re.fullmatch(rf"mitigation\.[^.]+\.{ATTACK_REMOVED}", col)]


def slot_stations(names: Iterable[str]) -> list[str]:
    """The stations with listener slots among ``names``, in order."""
    suffix = f".{SLOTS}"
    return [col[:-len(suffix)] for col in names
            if col.endswith(suffix) and not col.startswith("legit.")]


def join_percentiles(names: Iterable[str]) -> list[int]:
    """The join latency percentiles with a column among ``names``, smallest first."""
    found = (re.fullmatch(r"slo\.join_p(\d+)_s", col) for col in names)
    return sorted(int(m[1]) for m in found if m)


# -- every column of a run -----------------------------------------------------------------------

@dataclass(frozen=True)
class StationLayout:
    """What of a station has columns: crashes, shedding, listener slots, an autoscaler
    (its metrics; None without one)."""

    name: str
    crashes: bool = False
    shed: bool = False
    slots: bool = False
    autoscaler_metrics: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Layout:
    """The parts of a scenario that have columns, each in the order the run has them.

    ``links`` are the stations with an ingress link; ``judged`` is False only for a run
    without a single tick, which gets none of the analysis' columns.
    """

    stations: tuple[StationLayout, ...]
    vectors: tuple[str, ...] = ()
    mitigations: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    policies: bool = False
    waiting_room: bool = False
    polling: bool = False
    judged: bool = True


def station_columns(st: StationLayout) -> list[str]:
    """A station's columns, then those of its autoscaler."""
    whats = [*STATION_COUNTS, *STATION_LEVELS, *([CRASHED] if st.crashes else []),
             *([SHED] if st.shed else []), *(SLOT_LEVELS if st.slots else ())]
    out = [station(st.name, w) for w in whats]
    if st.autoscaler_metrics is not None:
        out += [station(st.name, w) for w in FLEET]
        out += [autoscaler_metric(st.name, m) for m in st.autoscaler_metrics]
    return out


def columns(layout: Layout) -> list[str]:
    """Every column of a run with the parts of ``layout``, in the order it writes them."""
    out = [TIME, *CLIENTS, *(POLICIES if layout.policies else ()), *LISTENING, *ATTACK]
    out += [attack_vector(v, w) for v in layout.vectors for w in VECTOR_COUNTS]
    out += [mitigation(m, w) for m in layout.mitigations for w in MITIGATION_COUNTS]
    out += [link_legit_lost(s) for s in layout.links]
    out += [*(WAITING_ROOM if layout.waiting_room else ()),
            *(POLLING if layout.polling else ())]
    for st in layout.stations:
        out += station_columns(st)
    return out + list(JUDGED if layout.judged else ())

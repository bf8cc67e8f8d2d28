"""The architecture: ``architecture``, the stations a join goes through and how.

A station (``StationConfig``) is ``instances × workers_per_instance`` workers behind one
FIFO queue, with a service-time distribution, a queue limit, admission controls
(a token bucket over the tier, a throughput ceiling, connections and listener slots per
instance), what an autoscaler may do with it, and its failure dynamics (scheduled
outages, an overload slowdown, overload crashes, server losses; README "Failure
dynamics"). ``routes`` send a request on from one station to the next with
probabilities that add up to 1; ``entry`` is where every request starts. Two optional
parts sit on any architecture: a waiting room in front of the entry
(``WaitingRoomConfig``, sim/model/waiting_room.py) and listeners' steady HLS polling
(``PollingConfig``, sim/model/hls.py).

Validation checks each station's ranges, that routes go between stations that exist,
add up, reach every station from the entry and never loop, and that the waiting room
and the polling name stations that exist. The names of the service-time distributions
(``Distribution``, also used by the clients' sessions and the autoscaler's provisioning
delays) are those of ``sim.engine.streams.DISTRIBUTIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from omegaconf import MISSING

from ..engine.streams import DISTRIBUTIONS
from .errors import (
    at_least,
    between,
    choice,
    declare,
    fail,
    non_negative,
    positive,
    share,
)


class Distribution(StrEnum):
    """Service-time (and session, provisioning-delay) distributions: those the engine's
    ``Sampler`` draws from (``sim.engine.streams.DISTRIBUTIONS``)."""

    exponential = "exponential"
    deterministic = "deterministic"
    lognormal = "lognormal"
    gamma = "gamma"
    normal = "normal"


class Concurrency(StrEnum):
    """``none``, or ``occ``: every request writes one key with optimistic concurrency
    (sim/engine/occ.py)."""

    none = "none"
    occ = "occ"


CONCURRENCY = tuple(c.value for c in Concurrency)


class SlowdownCounts(StrEnum):
    """What the slowdown's rate counts: every request ``offered`` to the tier, or only
    those ``started`` (admitted and begun, not rejected, shed or dropped as expired)."""

    offered = "offered"
    started = "started"


@dataclass
class ServiceConfig:
    dist: Distribution = Distribution.exponential
    mean_s: float = 0.01
    cv: float = 1.0


@dataclass
class OutageConfig:
    """A scheduled capacity drop: ``capacity_share`` of the workers stay in [start_s, end_s)."""

    start_s: float = 0.0
    end_s: float = 60.0
    capacity_share: float = 0.0


@dataclass
class SlowdownConfig:
    """Service ``factor``× slower while the rate over ``window_s`` > ``above_rps``; the
    rate ``counts`` the requests offered to the tier, or only those it started."""

    above_rps: float | None = None  # None: off
    factor: float = 1.0
    window_s: float = 1.0
    counts: SlowdownCounts = SlowdownCounts.offered


@dataclass
class CrashConfig:
    """Overload crashes: an overloaded tier loses an instance, which restarts later."""

    enabled: bool = False
    above_utilization: float | None = None  # busy ÷ serving workers over the last second
    queue_per_instance: float | None = None  # queued requests ÷ serving instances
    after_s: float = 10.0  # overloaded this long (checked every second) -> one instance crashes
    restart_s: float = 30.0  # down this long, then it serves again


@dataclass
class FailureConfig:
    """``instances`` servers lost at ``at_s``; back after ``restart_s`` (None: never)."""

    at_s: float = 0.0
    instances: int = 1
    restart_s: float | None = None


@dataclass
class StationConfig:
    instances: int = 1
    workers_per_instance: int = 1
    service: ServiceConfig = field(default_factory=ServiceConfig)
    queue_limit: int | None = None  # None: unlimited
    drop_expired: bool = False
    rate_limit_rps: float | None = None  # token bucket over the whole tier; excess rejected
    rate_limit_burst: float | None = None
    max_rate_rps: float | None = None  # throughput ceiling (one hot key); excess waits
    connections_per_instance: int | None = None  # in flight beyond this tier
    listener_slots_per_instance: int | None = None  # slots held for a listening session
    egress_gbps_per_instance: float | None = None  # caps slots at egress / bitrate
    link_gbps: float | None = None  # ingress link of the tier (volumetric attacks); None: unlimited
    request_kb: float = 4.0  # ingress kilobytes per request, for the link's load
    min_instances: int = 1
    max_instances: int | None = None  # None: unbounded for the autoscaler
    autoscale: bool = True
    provisioning_delay_s: float = 60.0
    price_per_instance_hour: float = 0.10  # USD, for summary.json's cost
    # Failure dynamics (README "Failure dynamics").
    outages: list[OutageConfig] = field(default_factory=list)
    slowdown: SlowdownConfig = field(default_factory=SlowdownConfig)
    crash: CrashConfig = field(default_factory=CrashConfig)
    failures: list[FailureConfig] = field(default_factory=list)
    shed_queue_age_s: float | None = None  # None: no shedding by queue age
    retry_ratio_max: float | None = None  # None: retries not limited by the server
    retry_ratio_window_s: float = 60.0
    # occ: every request writes one key with optimistic concurrency (sim/engine/occ.py)
    concurrency: Concurrency = Concurrency.none


@dataclass
class WaitingRoomConfig:
    """A FIFO in front of the entry station (sim/model/waiting_room.py)."""

    enabled: bool = False
    admit_rps: float = 2000.0  # users let through per second, first come first served
    burst: float = 1.0  # tokens the admission bucket may bank while the room is empty
    patience_s: float | None = None  # leave the room after this long; None: stay
    watch: str | None = None  # pause admission while this station is loaded...
    max_in_system: int | None = None  # ...above this many requests queued or in service


@dataclass
class PollingConfig:
    """Listeners' steady HLS fetches, a request class proportional to listeners
    (sim/model/hls.py); 0 requests per second per listener switches it off."""

    rps_per_listener: float = 0.0  # ~2 fetches per 3 s segment: 0.667
    enter: str | None = None  # the CDN station (None: the end of the path)
    origin: str | None = None  # where a cache miss goes before the CDN answers
    origin_share: float = 0.0  # share of fetches that miss the CDN cache
    tick_s: float = 0.1  # exact mode: polls are drawn per tick of this length


@dataclass
class ArchitectureConfig:
    name: str = MISSING
    entry: str = MISSING
    bitrate_kbps: float = 32.0
    stations: dict[str, StationConfig] = field(default_factory=dict)
    routes: dict[str, dict[str, float]] = field(default_factory=dict)
    waiting_room: WaitingRoomConfig = field(default_factory=WaitingRoomConfig)
    polling: PollingConfig = field(default_factory=PollingConfig)


def validate_service(key: str, dist: str, mean_s: float, cv: float) -> None:
    """A service-time (or session) distribution: its name, its mean, and a cv where the
    distribution has one."""
    choice(f"{key}.dist", dist, DISTRIBUTIONS)
    positive(f"{key}.mean_s", mean_s)
    if dist in ("lognormal", "gamma"):
        positive(f"{key}.cv", cv)
    if dist == "normal":
        non_negative(f"{key}.cv", cv)


def validate_architecture(a: ArchitectureConfig) -> None:
    """Stations, routes, the waiting room and the polling of ``architecture``."""
    if not a.stations:
        raise fail("architecture.stations", {}, "at least one station")
    names = sorted(a.stations)
    if a.entry not in a.stations:
        raise fail("architecture.entry", a.entry, "one of the stations: " + ", ".join(names))
    positive("architecture.bitrate_kbps", a.bitrate_kbps)
    for name, st in a.stations.items():
        _validate_station(f"architecture.stations.{name}", st)
    _validate_routes(a)
    validate_waiting_room(a.waiting_room, a.stations)
    validate_polling(a)


def _validate_station(key: str, st: StationConfig) -> None:
    allowed = declare(f"{key}.instances", at_least(1, "an integer >= 1"))
    if not isinstance(st.instances, int) or st.instances < 1:
        raise fail(f"{key}.instances", st.instances, allowed)
    allowed = declare(f"{key}.workers_per_instance", at_least(1, "an integer >= 1"))
    if st.workers_per_instance < 1:
        raise fail(f"{key}.workers_per_instance", st.workers_per_instance, allowed)
    validate_service(f"{key}.service", st.service.dist, st.service.mean_s, st.service.cv)
    choice(f"{key}.concurrency", st.concurrency, CONCURRENCY)
    allowed = declare(f"{key}.queue_limit", at_least(0, "null (unlimited) or >= 0"))
    if st.queue_limit is not None and st.queue_limit < 0:
        raise fail(f"{key}.queue_limit", st.queue_limit, allowed)
    for opt in ("rate_limit_rps", "rate_limit_burst", "max_rate_rps",
                "egress_gbps_per_instance"):
        positive(f"{key}.{opt}", getattr(st, opt), optional=True)
    for opt in ("connections_per_instance", "listener_slots_per_instance"):
        value = getattr(st, opt)
        allowed = declare(f"{key}.{opt}", at_least(1, "null or an integer >= 1"))
        if value is not None and value < 1:
            raise fail(f"{key}.{opt}", value, allowed)
    if st.egress_gbps_per_instance is not None and st.listener_slots_per_instance is None:
        raise fail(f"{key}.egress_gbps_per_instance", st.egress_gbps_per_instance,
                    "null unless listener_slots_per_instance is set")
    allowed = declare(f"{key}.min_instances", at_least(0, "an integer >= 0"))
    if st.min_instances < 0:
        raise fail(f"{key}.min_instances", st.min_instances, allowed)
    least = max(1, st.min_instances)
    allowed = declare(f"{key}.max_instances", at_least(
        least, f"null or an integer >= max(1, min_instances={st.min_instances})"))
    if st.max_instances is not None and st.max_instances < least:
        raise fail(f"{key}.max_instances", st.max_instances, allowed)
    non_negative(f"{key}.provisioning_delay_s", st.provisioning_delay_s)
    non_negative(f"{key}.price_per_instance_hour", st.price_per_instance_hour)
    _validate_failure_dynamics(key, st)


def _validate_failure_dynamics(key: str, st: StationConfig) -> None:
    for i, o in enumerate(st.outages):
        k = f"{key}.outages[{i}]"
        non_negative(f"{k}.start_s", o.start_s)
        if not isinstance(o.end_s, int | float) or not o.end_s > o.start_s:
            raise fail(f"{k}.end_s", o.end_s, f"greater than {k}.start_s ({o.start_s})")
        share(f"{k}.capacity_share", o.capacity_share)
    sd = st.slowdown
    non_negative(f"{key}.slowdown.above_rps", sd.above_rps, optional=True)
    if sd.above_rps is not None:
        allowed = declare(f"{key}.slowdown.factor", between(1, 1e6, "a number from 1 to 1e6"))
        if not isinstance(sd.factor, int | float) or not 1.0 <= sd.factor <= 1e6:
            raise fail(f"{key}.slowdown.factor", sd.factor, allowed)
        positive(f"{key}.slowdown.window_s", sd.window_s)
    if st.crash.enabled:
        _validate_crash(f"{key}.crash", st.crash)
    for i, f in enumerate(st.failures):
        k = f"{key}.failures[{i}]"
        non_negative(f"{k}.at_s", f.at_s)
        allowed = declare(f"{k}.instances", at_least(1, "an integer >= 1"))
        if not isinstance(f.instances, int) or isinstance(f.instances, bool) or f.instances < 1:
            raise fail(f"{k}.instances", f.instances, allowed)
        positive(f"{k}.restart_s", f.restart_s, optional=True)
    positive(f"{key}.shed_queue_age_s", st.shed_queue_age_s, optional=True)
    share(f"{key}.retry_ratio_max", st.retry_ratio_max, optional=True)
    if st.retry_ratio_max is not None:
        positive(f"{key}.retry_ratio_window_s", st.retry_ratio_window_s)


def _validate_crash(key: str, cr: CrashConfig) -> None:
    if cr.above_utilization is None and cr.queue_per_instance is None:
        raise fail(f"{key}.above_utilization", None,
                    "a number in (0, 1], or set crash.queue_per_instance, when "
                    "crash.enabled is true")
    allowed = declare(f"{key}.above_utilization",
                      between(0, 1, "null or a number in (0, 1]", lo_open=True))
    if cr.above_utilization is not None and (
            not isinstance(cr.above_utilization, int | float)
            or not 0.0 < cr.above_utilization <= 1.0):
        raise fail(f"{key}.above_utilization", cr.above_utilization, allowed)
    positive(f"{key}.queue_per_instance", cr.queue_per_instance, optional=True)
    non_negative(f"{key}.after_s", cr.after_s)
    positive(f"{key}.restart_s", cr.restart_s)


def reachable(routes: dict[str, dict[str, float]], start: str) -> set[str]:
    """The stations a request from ``start`` can reach (``start`` included)."""
    seen, todo = {start}, [start]
    while todo:
        for dst, p in routes.get(todo.pop(), {}).items():
            if p > 0 and dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return seen


def _validate_routes(a: ArchitectureConfig) -> None:
    """Routes between defined stations that add up to 1, reach every station from the
    entry (an unreachable one is a typo) and have no cycle (a request must end)."""
    names = sorted(a.stations)
    for src, branches in a.routes.items():
        if src not in a.stations:
            raise fail("architecture.routes", src,
                        "routes only from stations: " + ", ".join(names))
        total = 0.0
        for dst, p in branches.items():
            if dst not in a.stations:
                raise fail(f"architecture.routes.{src}.{dst}", dst,
                            "a defined station: " + ", ".join(names))
            share(f"architecture.routes.{src}.{dst}", p)
            total += p
        if branches and abs(total - 1.0) > 1e-6:
            raise fail(f"architecture.routes.{src}", dict(branches),
                        "probabilities that add up to 1")
    unreachable = sorted(set(a.stations) - reachable(a.routes, a.entry))
    if unreachable:
        raise fail("architecture.routes", unreachable[0],
                    f"every station reachable from the entry {a.entry!r}; "
                    f"unreachable: {', '.join(unreachable)}")
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        state[n] = 1
        for dst, p in a.routes.get(n, {}).items():
            if p <= 0:
                continue
            if state.get(dst) == 1:
                raise fail(f"architecture.routes.{n}.{dst}", p,
                            "routes without cycles (a request must reach the end)")
            if dst not in state:
                visit(dst)
        state[n] = 2

    visit(a.entry)


def validate_waiting_room(w: WaitingRoomConfig, stations: dict[str, StationConfig]) -> None:
    key = "architecture.waiting_room"
    positive(f"{key}.admit_rps", w.admit_rps)
    allowed = declare(f"{key}.burst", at_least(1, "a number >= 1 (users)", integer=False))
    if not isinstance(w.burst, int | float) or w.burst < 1:
        raise fail(f"{key}.burst", w.burst, allowed)
    positive(f"{key}.patience_s", w.patience_s, optional=True)
    if (w.watch is None) != (w.max_in_system is None):
        raise fail(f"{key}.watch", w.watch,
                    f"a station together with {key}.max_in_system, or both null")
    if w.watch is not None and w.watch not in stations:
        raise fail(f"{key}.watch", w.watch, "null or a station: " + ", ".join(sorted(stations)))
    allowed = declare(f"{key}.max_in_system", at_least(0, "null or an integer >= 0"))
    if w.max_in_system is not None and (not isinstance(w.max_in_system, int)
                                        or w.max_in_system < 0):
        raise fail(f"{key}.max_in_system", w.max_in_system, allowed)


def validate_polling(a: ArchitectureConfig) -> None:
    p, key = a.polling, "architecture.polling"
    non_negative(f"{key}.rps_per_listener", p.rps_per_listener)
    share(f"{key}.origin_share", p.origin_share)
    positive(f"{key}.tick_s", p.tick_s)
    names = sorted(a.stations)
    for opt in ("enter", "origin"):
        value = getattr(p, opt)
        if value is not None and value not in a.stations:
            raise fail(f"{key}.{opt}", value, "null or a station: " + ", ".join(names))
    if p.rps_per_listener > 0 and p.enter is None and not any(
            st.listener_slots_per_instance is not None for st in a.stations.values()):
        raise fail(f"{key}.enter", None,
                    "a station (the CDN), or a path that ends in listener slots")
    if p.origin_share > 0 and p.origin is None:
        raise fail(f"{key}.origin", None,
                    f"a station when {key}.origin_share > 0 ({p.origin_share})")
    if p.origin is not None and p.enter is not None \
            and p.enter not in reachable(a.routes, p.origin):
        raise fail(f"{key}.origin", p.origin,
                    f"a station whose routes lead to {key}.enter ({p.enter!r})")


def validate_links(a: ArchitectureConfig) -> None:
    """The stations' ingress links (what a volumetric attack floods)."""
    for name, st in a.stations.items():
        positive(f"architecture.stations.{name}.link_gbps", st.link_gbps, optional=True)
        non_negative(f"architecture.stations.{name}.request_kb", st.request_kb)

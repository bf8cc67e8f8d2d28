"""The schema of ``summary.json``: one typed shape the run writes and everyone reads.

A run's summary is a tree of JSON objects, and each object here is a ``TypedDict``
(``Summary`` at the root). The components of a scenario fill their own blocks
(``sim.model``: the clients' ``legit``, ``listeners`` and ``join_latency_s``, the
stations', the attack's, the autoscaler's, the waiting room's, the polling's), the
analysis layer the judgements (``slo``, ``metastability``, ``replications``,
``batch_means``), and ``sim.run`` assembles them under ``Summary``. A key marked
``NotRequired`` is written only where it applies (a block of a component the scenario
does not have; ``recovered_s`` only after a breach); every other key is always there,
``None`` where there is nothing to report (no joins, so no latency percentiles).

Readers (the report, the sweep table, the analyses) reach a key through these types
(``summary["slo"]["met"]``, checked by the type checker) or, for the figures named by a
dotted path (sweep columns, replicated metrics, the failure-point metric), through the
path constants below, which a test resolves against the schema. A key that is
``NotRequired`` is read with ``get`` into a variable of its type (``get`` alone accepts
any key), or through the functions below for the SLO's optional figures. A summary read
from disk goes through ``conform`` first: a key an older run did not write reads as
``None``, so a report of an old run says "n/a" instead of failing. ``validate`` lists where a
summary departs from the schema (a key missing, of the wrong type, or unknown); the
tests run it on real runs.

The other file a run writes, timeseries.csv, has its column names in ``sim.series``.

This module imports nothing of ``sim``: every layer above the engine may use it. Its
annotations are evaluated (no ``from __future__ import annotations``), so that
``NotRequired`` is seen by ``TypedDict``.
"""


import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, Union

SCHEMA = 1

Status = Literal["ok", "failed", "interrupted"]
Mode = Literal["exact", "cohort"]


class Resolution(TypedDict):
    """How the run was computed: exact mode or cohort mode at a tick, and why."""

    requested: str | float
    mode: Mode
    tick_s: float
    scenario_tick_s: float | None
    binding: str | None
    estimated_visits: int
    estimated_exact_s: float
    reason: str
    warning: str | None


class RetryBudget(TypedDict):
    scope: str
    tokens_end: float


class AdaptiveThrottling(TypedDict):
    scope: str


class CircuitBreaker(TypedDict):
    scope: str
    opened: int
    state_end: str | None


class Policies(TypedDict):
    """The client-side policies the clients run (only those enabled)."""

    retry_budget: NotRequired[RetryBudget]
    adaptive_throttling: NotRequired[AdaptiveThrottling]
    circuit_breaker: NotRequired[CircuitBreaker]


class Legit(TypedDict):
    """The legit clients' ledger: who arrived, joined, gave up, and what they tried."""

    arrived: int
    joined: int
    abandoned: int
    in_flight: int
    attempts: int
    attempts_failed: int
    attempts_rejected: int
    attempts_timed_out: int
    retries: int
    wasted: int
    attempts_per_client: float | None
    join_ratio: float | None
    expected_arrivals: float
    retry_budget_denied: int
    throttled: int
    breaker_rejected: int
    policies: NotRequired[Policies]


class Listeners(TypedDict):
    peak: int
    end: int
    sessions_ended: int
    evicted: int
    reconnects: int
    reconnected: int
    lost: int


class JoinLatency(TypedDict):
    """First attempt to joined, over every client who joined."""

    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    n: int


class AttackVectorSummary(TypedDict):
    kind: str
    offered: int
    mitigated: int
    served: int
    rejected: int
    timed_out: int
    in_flight: int
    holding: int


class Link(TypedDict):
    link_gbps: float
    peak_offered_gbps: float
    legit_offered: int
    legit_lost: int
    attack_requests_lost: int
    attack_packets_lost: int


class Attack(TypedDict):
    offered: int
    mitigated: int
    served: int
    vectors: dict[str, AttackVectorSummary]
    links: dict[str, Link]


class MitigationFilter(TypedDict):
    attack_removed: int
    legit_removed: int
    inspected: int
    cost_s: float
    engaged_s: NotRequired[float]


class Mitigation(TypedDict):
    """The mitigations the run has, each with what it removed (only those enabled)."""

    name: str
    station: str | None
    scrubbing: NotRequired[MitigationFilter]
    rate_limit_per_source: NotRequired[MitigationFilter]
    waf: NotRequired[MitigationFilter]
    challenge: NotRequired[MitigationFilter]


MitigationName = Literal["scrubbing", "rate_limit_per_source", "waf", "challenge"]
# The mitigations a ``Mitigation`` block can hold, in the order a run writes them.
MITIGATIONS: tuple[MitigationName, ...] = ("scrubbing", "rate_limit_per_source", "waf",
                                          "challenge")


class Wait(TypedDict):
    mean: float | None
    p50: float | None
    p99: float | None
    n: int


class Slots(TypedDict):
    per_instance: int
    peak_used: int
    used_end: int
    refused: int


class AutoscalerSummary(TypedDict):
    kind: str
    launched: int
    removed: int
    cancelled: int
    from_warm_pool: int
    throttled_launches: int
    metrics: list[str]


class Station(TypedDict):
    offered: int
    served: int
    rejected: int
    timed_out: int
    wasted: int
    peak_queue: int
    in_system: int
    shed: int
    crashes: int
    killed: int
    retry_rejected: int
    outage_s: float
    instances_max: int
    utilization_mean: float
    wait_s: Wait
    slots: NotRequired[Slots]
    autoscaler: NotRequired[AutoscalerSummary]


class Slo(TypedDict):
    """The SLO judgement (``sim.analysis.slo``); None throughout if nothing was recorded."""

    met: bool | None
    first_breach_s: float | None
    bottleneck: str | None
    breached_s: NotRequired[float]
    worst_success_ratio: NotRequired[float | None]
    worst_p99_s: NotRequired[float | None]
    window_s: NotRequired[float]
    join_success_min: NotRequired[float]
    join_p99_max_s: NotRequired[float]
    success_test: NotRequired[str]  # "ratio" or "binomial"
    success_confidence: NotRequired[float]  # with "binomial"
    recovered_s: NotRequired[float | None]


class Metastability(TypedDict):
    trigger_end_s: float
    recovered: bool | None
    recovered_s: float | None
    stays_down: bool | None
    amplification_peak: float | None
    amplification_end: float | None


class CostStation(TypedDict):
    instance_s: float
    warm_pool_instance_s: NotRequired[float]
    price_per_instance_hour: float
    usd: float


class Cost(TypedDict):
    usd: float
    stations: dict[str, CostStation]


class WaitingRoomWait(TypedDict):
    mean: float | None
    max: float


class WaitingRoom(TypedDict):
    admit_rps: float
    entered: int
    admitted: int
    abandoned: int
    waiting_end: int
    peak_size: int
    paused_s: float
    wait_s: WaitingRoomWait


class Polling(TypedDict):
    rps_per_listener: float
    enter: str
    offered: int
    served: int
    rejected: int
    timed_out: int
    in_flight: int
    failed_share: float | None


class Interval(TypedDict):
    mean: float
    half_width: float | None
    n: int
    low: float | None
    high: float | None


class ReplicatedInterval(Interval):
    values: list[float | None]


class Replications(TypedDict):
    n: int
    confidence: float
    seeds: list[int]
    top_level: str
    metrics: dict[str, ReplicatedInterval]
    complete: NotRequired[bool]
    requested: NotRequired[int]


class BatchMeans(TypedDict):
    n_batches: int
    confidence: float
    warmup_s: float
    metrics: dict[str, Interval | None]


class ArrivalPeak(TypedDict):
    """When the arrival curve the run drew from peaks (``sim.model.peak``): the first
    time its rate is at its maximum, or the time of its latest batch when that comes at or
    after it (``batch``: that batch's clients; None for the peak of the rate). The
    coverage check compares it with the horizon; a summary written before runs recorded
    it reads Nones here, and the report rebuilds it from config.yaml."""

    t_s: float
    batch: int | None


class Perf(TypedDict):
    wall_s: float
    events: int
    events_per_s: float | None


class Summary(TypedDict):
    """``summary.json`` of a run that was collected (finished, failed or interrupted)."""

    schema: int
    name: str
    status: Status
    mode: Mode
    resolution: Resolution
    seed: int
    horizon_s: float
    sim_time_s: float
    arrival_peak: ArrivalPeak
    legit: Legit
    listeners: Listeners
    join_latency_s: JoinLatency
    attack: Attack
    mitigation: Mitigation
    stations: dict[str, Station]
    slo: Slo
    metastability: NotRequired[Metastability]
    cost: Cost
    waiting_room: NotRequired[WaitingRoom]
    polling: NotRequired[Polling]
    perf: Perf
    batch_means: NotRequired[BatchMeans]
    replications: NotRequired[Replications]


class Uncollected(TypedDict):
    """``summary.json`` of a run whose partial results could not even be collected."""

    schema: int
    name: str
    status: Status
    partial: Literal["not collected"]


# -- the figures named by a dotted path ---------------------------------------------------
# ``*`` stands for every name of a ``dict[str, ...]`` level (every station).

NAME = "name"
STATUS = "status"
SEED = "seed"
MODE = "mode"
TICK_S = "resolution.tick_s"
LEGIT_ARRIVED = "legit.arrived"
LEGIT_JOINED = "legit.joined"
LEGIT_ABANDONED = "legit.abandoned"
LEGIT_IN_FLIGHT = "legit.in_flight"
LEGIT_ATTEMPTS = "legit.attempts"
JOIN_RATIO = "legit.join_ratio"
ATTEMPTS_PER_CLIENT = "legit.attempts_per_client"
LATENCY_MEAN = "join_latency_s.mean"
LATENCY_P50 = "join_latency_s.p50"
LATENCY_P90 = "join_latency_s.p90"
LATENCY_P99 = "join_latency_s.p99"
ATTACK_OFFERED = "attack.offered"
ATTACK_MITIGATED = "attack.mitigated"
ATTACK_SERVED = "attack.served"
SLO_MET = "slo.met"
FIRST_BREACH_S = "slo.first_breach_s"
RECOVERED_S = "slo.recovered_s"
BOTTLENECK = "slo.bottleneck"
WORST_SUCCESS_RATIO = "slo.worst_success_ratio"
WORST_P99_S = "slo.worst_p99_s"
SLO_WINDOW_S = "slo.window_s"
SLO_SUCCESS_MIN = "slo.join_success_min"
SLO_P99_MAX_S = "slo.join_p99_max_s"
COST_USD = "cost.usd"
WALL_S = "perf.wall_s"
EVENTS = "perf.events"
REPLICATIONS = "replications"
REPLICATION_METRICS = "replications.metrics"
REPLICATION_COUNT = "replications.n"
STATIONS = "stations"
STATION_UTILIZATION_MEAN = "stations.*.utilization_mean"

# The columns of a sweep's table (``sim.sweep``), in order.
SWEEP_COLUMNS = (
    NAME, STATUS, SEED, MODE, TICK_S,
    LEGIT_ARRIVED, LEGIT_JOINED, LEGIT_ABANDONED, LEGIT_IN_FLIGHT, LEGIT_ATTEMPTS,
    JOIN_RATIO, ATTEMPTS_PER_CLIENT,
    LATENCY_MEAN, LATENCY_P50, LATENCY_P90, LATENCY_P99,
    ATTACK_OFFERED, ATTACK_MITIGATED, ATTACK_SERVED,
    SLO_MET, FIRST_BREACH_S, RECOVERED_S, BOTTLENECK,
    WALL_S, EVENTS,
)
# The figures a sweep's table shows with their replication interval.
SWEEP_REPLICATED = (JOIN_RATIO, LEGIT_JOINED, LATENCY_P99, SLO_MET, FIRST_BREACH_S)
# The figures that get a replication interval (``sim.analysis.replications``). Booleans
# count as 0/1, so ``slo.met`` gives the share of replications that met the SLO.
REPLICATED_METRICS = (
    LEGIT_ARRIVED, LEGIT_JOINED, LEGIT_ABANDONED, LEGIT_IN_FLIGHT,
    LEGIT_ATTEMPTS, JOIN_RATIO, ATTEMPTS_PER_CLIENT,
    LATENCY_MEAN, LATENCY_P50, LATENCY_P90, LATENCY_P99,
    ATTACK_OFFERED, ATTACK_SERVED, SLO_MET, FIRST_BREACH_S,
    "stations.*.served", "stations.*.rejected", "stations.*.timed_out",
    "stations.*.peak_queue", STATION_UTILIZATION_MEAN, "stations.*.wait_s.mean",
    "stations.*.wait_s.p99",
)
# What the report needs of a finished run to give a verdict.
REQUIRED = (
    "horizon_s", LEGIT_ARRIVED, LEGIT_JOINED, LEGIT_ABANDONED, LEGIT_IN_FLIGHT, SLO_MET,
    STATIONS,
)
PATHS = tuple(dict.fromkeys((*SWEEP_COLUMNS, *REPLICATED_METRICS, *REQUIRED, COST_USD,
                             WORST_SUCCESS_RATIO, WORST_P99_S, REPLICATIONS,
                             REPLICATION_METRICS, REPLICATION_COUNT)))


def station_metric(station: str, what: str) -> str:
    """The name of a station's batch-means metric (``what``: utilization or queue)."""
    return f"{STATIONS}.{station}.{what}"


def value(summary: Mapping[str, Any] | None, path: str) -> Any:
    """The figure at a dotted ``path`` (``slo.met``), or None where any level is missing."""
    node: Any = summary
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def in_schema_order(summary: Summary) -> Summary:
    """``summary`` with its blocks in the order of ``Summary`` (the order of the file)."""
    order = list(_hints(Summary))
    return typing.cast(Summary, dict(sorted(summary.items(), key=lambda kv: (
        order.index(kv[0]) if kv[0] in order else len(order)))))


# -- the SLO's figures written only where they apply -----------------------------------------
# ``block.get(key)`` of a TypedDict takes any key (an unknown one reads as ``object``), so
# the optional figures readers need are read here, each with its type: a key misspelt
# here fails the type checker.

def recovered_s(slo: Slo) -> float | None:
    """When the SLO windows were good again after a breach, for good (None: not
    recovered by the horizon, or never breached)."""
    return slo.get("recovered_s")


def breached_s(slo: Slo) -> float | None:
    """Seconds in breach over the run (None: no metrics ticks were recorded)."""
    return slo.get("breached_s")


def worst_success_ratio(slo: Slo) -> float | None:
    """The lowest join success ratio of a judged window (None: no window judged)."""
    return slo.get("worst_success_ratio")


def worst_p99_s(slo: Slo) -> float | None:
    """The highest p99 join latency of a judged window (None: no window judged)."""
    return slo.get("worst_p99_s")


# -- checking a summary against the schema --------------------------------------------------

@functools.cache
def _hints(td: type) -> dict[str, Any]:
    return typing.get_type_hints(td)


def _is_typeddict(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, dict) and hasattr(t, "__required_keys__")


def _check(value: Any, t: Any, where: str, out: list[str]) -> None:
    """Append to ``out`` where ``value`` departs from the type ``t`` (JSON's types)."""
    origin = typing.get_origin(t)
    if t is Any:
        return
    if origin in (Union, types.UnionType):
        alts = typing.get_args(t)
        for alt in alts:
            probe: list[str] = []
            _check(value, alt, where, probe)
            if not probe:
                return
        out.append(f"{where}: {_show(value)} is not {_name(t)}")
        return
    if origin is Literal:
        if value not in typing.get_args(t):
            out.append(f"{where}: {_show(value)} is not one of {typing.get_args(t)}")
        return
    if _is_typeddict(t):
        _check_block(value, t, where, out)
        return
    if origin is dict:
        if not isinstance(value, dict):
            out.append(f"{where}: {_show(value)} is not an object")
            return
        for k, v in value.items():
            _check(v, typing.get_args(t)[1], f"{where}.{k}", out)
        return
    if origin is list:
        if not isinstance(value, list):
            out.append(f"{where}: {_show(value)} is not a list")
            return
        for i, v in enumerate(value):
            _check(v, typing.get_args(t)[0], f"{where}[{i}]", out)
        return
    if not _scalar_ok(value, t):
        out.append(f"{where}: {_show(value)} is not {_name(t)}")


def _scalar_ok(value: Any, t: Any) -> bool:
    if t is type(None):
        return value is None
    if t is bool:
        return isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:  # JSON writes a whole float as such, but an int is a number too
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, t)


def _check_block(value: Any, td: type, where: str, out: list[str]) -> None:
    if not isinstance(value, dict):
        out.append(f"{where or 'summary'}: {_show(value)} is not an object")
        return
    hints = _hints(td)
    prefix = f"{where}." if where else ""
    for key in sorted(td.__required_keys__ - set(value)):  # type: ignore[attr-defined]
        out.append(f"{prefix}{key}: missing")
    for key, v in value.items():
        if key not in hints:
            out.append(f"{prefix}{key}: not in the schema")
        else:
            _check(v, hints[key], f"{prefix}{key}", out)


def _name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate(summary: Any) -> list[str]:
    """Where ``summary`` (as read from summary.json) departs from the schema; [] if nowhere.

    Every key of the schema that is not ``NotRequired`` must be there, with a value of
    its type; no key may be there that the schema does not know. A summary that was not
    collected (``partial: "not collected"``) is checked against ``Uncollected``.
    """
    out: list[str] = []
    td = Uncollected if isinstance(summary, dict) and "partial" in summary else Summary
    _check_block(summary, td, "", out)
    return out


def resolves(path: str) -> bool:
    """Whether a dotted ``path`` names a key of ``Summary`` (``*``: any name of a map)."""
    t: Any = Summary
    for part in path.split("."):
        if _is_typeddict(t):
            hints = _hints(t)
            if part not in hints:
                return False
            t = hints[part]
        elif typing.get_origin(t) is dict:
            t = typing.get_args(t)[1]
        else:
            return False
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if typing.get_origin(t) in (Union, types.UnionType) and len(args) == 1:
            t = args[0]
        if typing.get_origin(t) is NotRequired:
            t = typing.get_args(t)[0]
    return True


# -- reading a summary ----------------------------------------------------------------------

def conform(raw: Mapping[str, Any]) -> Summary:
    """A summary read from disk, with every always-written key there (None if absent).

    An older run's summary, or one cut short, lacks keys this schema has; after
    ``conform`` a reader can index every key that is not ``NotRequired`` and finds
    ``None`` (or an object of Nones) where the run wrote nothing. Keys it has that the
    schema does not know are kept. The given mapping is not changed.
    """
    return typing.cast(Summary, _conform(raw, Summary))


def _conform(raw: Any, td: type) -> dict[str, Any]:
    block = dict(raw) if isinstance(raw, Mapping) else {}
    for key, t in _hints(td).items():
        if key not in td.__required_keys__:  # type: ignore[attr-defined]
            if key in block and _is_typeddict(t) and isinstance(block[key], Mapping):
                block[key] = _conform(block[key], t)
            continue
        if _is_typeddict(t):
            block[key] = _conform(block.get(key), t)
        elif typing.get_origin(t) is dict:
            inner = typing.get_args(t)[1]
            got = block.get(key)
            got = got if isinstance(got, Mapping) else {}
            block[key] = {k: _conform(v, inner) if _is_typeddict(inner) else v
                          for k, v in got.items()}
        else:
            block.setdefault(key, None)
    return block

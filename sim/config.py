"""The configuration schema and its validation.

The dataclasses below are the schema: Hydra's ConfigStore holds them, and the YAML files
in ``configs/`` are options that fill them in. OmegaConf rejects unknown keys and wrong
types while the config is composed; ``validate`` then checks ranges and cross-field rules
(routes to stations that exist, shares that add up, a trace file that parses) and raises
``ConfigError`` with one paragraph that names the key and what is allowed. All of it runs
before any simulation starts.

Errors that OmegaConf or Hydra raise while composing (an unknown key, a value of the
wrong type, a missing mandatory value) are translated by ``explain`` into the same kind
of paragraph, listing the keys the schema allows at that level.

Data files named in a config (an arrival trace) follow one rule: an absolute path is used
as it is; a relative path is looked up in the current directory first, then in the
directory of the shipped configs (``configs/`` in a clone, ``sim/configs`` when
installed), so ``arrivals/example_trace.csv`` finds the example from anywhere.
``to_config`` replaces the path by the absolute one it found, so the ``config.yaml`` of a
run says which file was read.
"""

from __future__ import annotations

import csv
import itertools
import math
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import (
    InterpolationResolutionError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from .engine.streams import DISTRIBUTIONS

ARRIVAL_KINDS = ("constant", "ramp", "flash_crowd", "diurnal", "trace", "sum", "batch")
RETRY_POLICIES = ("none", "fixed", "exponential", "full_jitter", "equal_jitter",
                  "decorrelated_jitter", "immediate")
CONCURRENCY = ("none", "occ")
AUTOSCALER_KINDS = ("none", "hpa", "target_tracking", "step", "simple")
AUTOSCALER_METRICS = ("cpu", "queue", "listeners")
SELECT_POLICIES = ("Max", "Min", "Disabled")
SCALING_POLICY_TYPES = ("Pods", "Percent")
ADJUSTMENT_TYPES = ("ChangeInCapacity", "PercentChangeInCapacity")


class ConfigError(ValueError):
    """A configuration value is out of range or inconsistent; the message says which."""


@dataclass
class ServiceConfig:
    dist: str = "exponential"
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
    """Service ``factor``× slower while the rate offered over ``window_s`` > ``above_rps``."""

    above_rps: float | None = None  # None: off
    factor: float = 1.0
    window_s: float = 1.0


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
    concurrency: str = "none"


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


@dataclass
class ArrivalsConfig:
    kind: str = "constant"
    # constant
    rate: float = 100.0
    # flash_crowd
    audience: float = 300_000.0
    t0_s: float = 300.0
    early_share: float = 0.1
    early_window_s: float = 300.0
    push_window_s: float = 60.0
    reaction_median_s: float = 30.0
    reaction_sigma: float = 1.0
    tail_share: float = 0.2
    tail_tau_s: float = 600.0
    # ramp
    start_s: float = 0.0
    end_s: float = 600.0
    rate_start: float = 0.0
    rate_end: float = 100.0
    # diurnal
    base_rate: float = 10.0
    amplitude: float = 0.5
    period_s: float = 86_400.0
    phase_s: float = 0.0
    # trace
    path: str = ""
    scale: float = 1.0
    # sum
    components: list[Any] = field(default_factory=list)
    # batch: ``count`` clients all at ``t0_s``
    count: int = 100


@dataclass
class RetryConfig:
    policy: str = "full_jitter"
    base_s: float = 1.0
    cap_s: float = 30.0
    max_attempts: int = 5


@dataclass
class SessionConfig:
    dist: str = "lognormal"
    mean_s: float = 1800.0
    cv: float = 1.0


@dataclass
class RetryBudgetConfig:
    """AWS SDK retry quota (README "Client policies")."""

    enabled: bool = False
    scope: str = "shared"  # shared | per_client
    capacity: float = 500.0  # tokens
    retry_cost: float = 5.0  # taken by a retry after a rejection
    timeout_retry_cost: float = 10.0  # taken by a retry after a timeout
    success_refund: float = 1.0  # given back by a success that paid nothing


@dataclass
class AdaptiveThrottlingConfig:
    """Google SRE client-side adaptive throttling (README "Client policies")."""

    enabled: bool = False
    scope: str = "shared"  # shared | per_client
    k: float = 2.0  # refuse with probability max(0, (requests - k*accepts) / (requests + 1))
    window_s: float = 120.0  # trailing window of requests and accepts


@dataclass
class CircuitBreakerConfig:
    """Closed / open / half-open circuit breaker (README "Client policies")."""

    enabled: bool = False
    scope: str = "shared"  # shared | per_client
    failure_ratio: float | None = 0.5  # open at this failure share (with min_requests)
    failure_count: int | None = None  # or at this many failures in the window
    min_requests: int = 20  # outcomes in the window before the ratio is judged
    window_s: float = 10.0
    cooldown_s: float = 5.0  # open this long, then half-open
    half_open_probes: int = 3  # requests let through half-open; all must succeed


@dataclass
class ClientsConfig:
    timeout_s: float | None = 5.0  # per attempt; None: wait forever
    retry: RetryConfig = field(default_factory=RetryConfig)
    impatient_share: float = 0.0  # retry after impatient_retry_s, without backoff
    impatient_retry_s: float = 1.0  # how soon an impatient user presses join again
    patience_s: float | None = 120.0  # abandon once this long since the first attempt
    session: SessionConfig = field(default_factory=SessionConfig)
    reconnect: bool = True  # listeners rejoin when their fanout server goes away
    retry_budget: RetryBudgetConfig = field(default_factory=RetryBudgetConfig)
    adaptive_throttling: AdaptiveThrottlingConfig = field(
        default_factory=AdaptiveThrottlingConfig)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)


@dataclass
class ScalingPolicyConfig:
    """One HPA ``behavior`` policy: change by ``value`` Pods or Percent per ``period_s``."""

    type: str = "Percent"
    value: float = 100.0
    period_s: float = 15.0


def _scale_up_default() -> ScalingRulesConfig:
    return ScalingRulesConfig(0.0, "Max", [ScalingPolicyConfig("Percent", 100.0, 15.0),
                                           ScalingPolicyConfig("Pods", 4.0, 15.0)])


def _scale_down_default() -> ScalingRulesConfig:
    return ScalingRulesConfig(300.0, "Max", [ScalingPolicyConfig("Percent", 100.0, 15.0)])


@dataclass
class ScalingRulesConfig:
    stabilization_window_s: float = 0.0
    select_policy: str = "Max"  # Max | Min | Disabled
    policies: list[ScalingPolicyConfig] = field(default_factory=list)


@dataclass
class BehaviorConfig:
    """Kubernetes HPA ``behavior``, with the documented defaults."""

    scale_up: ScalingRulesConfig = field(default_factory=_scale_up_default)
    scale_down: ScalingRulesConfig = field(default_factory=_scale_down_default)


@dataclass
class StepAdjustmentConfig:
    """AWS step adjustment: applies when metric − threshold is in [lower, upper)."""

    lower: float | None = 0.0  # None: −infinity
    upper: float | None = None  # None: +infinity
    adjustment: float = 1.0


@dataclass
class ScheduledActionConfig:
    """AWS scheduled action at ``at_s`` relative to the event start (may be negative)."""

    at_s: float = 0.0
    min_instances: int | None = None
    max_instances: int | None = None
    desired: int | None = None


@dataclass
class PredictiveConfig:
    """AWS predictive scaling from the announced audience (the arrival curve)."""

    enabled: bool = False
    lead_s: float = 300.0  # forecast capacity is in place this long ahead
    forecast_error: float = 0.0  # relative: -0.3 forecasts 30% fewer requests
    period_s: float = 60.0  # how often the forecast is applied


@dataclass
class WarmPoolConfig:
    """AWS warm pool: pre-initialised instances that go into service after ``delay_s``."""

    size: int = 0
    delay_s: float = 10.0
    price_share: float = 0.0  # share of the instance price paid while in the pool


@dataclass
class AutoscalerConfig:
    kind: str = "none"
    target_utilization: float = 0.6
    tolerance: float = 0.1
    sync_period_s: float = 15.0
    stations: list[str] | None = None  # None: every station with autoscale: true
    # Per-station overrides: station name -> {key of this block: value}.
    per_station: dict[str, Any] = field(default_factory=dict)
    # Metrics (None: cpu, plus listeners on stations with listener slots).
    metrics: list[str] | None = None
    target_queue_per_instance: float = 10.0
    target_listeners_per_instance: float | None = None  # None: target × slots
    # Kubernetes HPA.
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    # AWS target tracking: consecutive periods above / below target before acting.
    datapoints_out: int = 3
    datapoints_in: int = 15
    # AWS step and simple scaling.
    adjustment_type: str = "ChangeInCapacity"
    min_adjustment_magnitude: int = 1
    steps: list[StepAdjustmentConfig] = field(default_factory=list)
    scale_in_threshold: float = 0.3  # simple scaling: utilization below it removes
    scale_out_adjustment: float = 1.0
    scale_in_adjustment: float = -1.0
    cooldown_s: float = 300.0
    # AWS scheduled actions, predictive scaling, warm pools.
    event_start_s: float | None = None  # None: arrivals.t0_s for a flash crowd, else 0
    schedule: list[ScheduledActionConfig] = field(default_factory=list)
    predictive: PredictiveConfig = field(default_factory=PredictiveConfig)
    warm_pool: WarmPoolConfig = field(default_factory=WarmPoolConfig)
    # Instance lifecycle and quotas.
    provisioning_delay_s: float | None = None  # None: the station's
    provisioning_dist: str = "deterministic"
    provisioning_cv: float = 0.5
    warmup_s: float = 0.0  # warming after ready, at warmup_speed of the service rate
    warmup_speed: float = 0.5
    min_instances: int | None = None  # None: the station's
    max_instances: int | None = None  # None: the station's (a quota)
    max_launches_per_min: int | None = None  # None: no quota


@dataclass
class AttackVectorConfig:
    """One vector of an attack mix (sim/model/attacks.py); per-kind keys are ignored by the
    other kinds."""

    kind: str = "l7_join_flood"
    enter: str = "edge"  # the station the requests arrive at
    stop_after: str | None = None  # the station after which they end (None: the path end)
    rate_rps: float = 0.0  # requests (volumetric: ignored, see gbps) per second at full rate
    start_s: float = 0.0
    end_s: float = 600.0
    ramp_s: float = 0.0  # linear rise from 0 to full rate after start_s
    sources: int = 1000  # distinct source addresses (per-source rate limits)
    # auth_flood: after stop_after's work the lookup misses the cache and goes here
    lookup: str | None = None
    # volumetric: bandwidth at full rate and packet size (packets are what is counted)
    gbps: float = 0.0
    packet_bytes: float = 1250.0
    # connection_exhaustion: how long a slow client holds its edge connection
    hold_s: float = 60.0
    # bot_listeners: how long a bot holds its listener slot
    session_s: float = 1800.0


ATTACK_KINDS = ("l7_join_flood", "auth_flood", "connection_exhaustion", "volumetric",
                "bot_listeners")


@dataclass
class AttackConfig:
    name: str = "none"
    vectors: dict[str, AttackVectorConfig] = field(default_factory=dict)


@dataclass
class WafConfig:
    """Bot/WAF detection at the mitigating station, after its service (the request has
    been read): a detected attack request is cut, a legit one is a false positive."""

    enabled: bool = False
    detection: dict[str, float] = field(default_factory=dict)  # vector name or kind -> p
    default_detection: float = 0.0  # vectors not named in ``detection``
    false_positive: float = 0.0  # share of legit requests cut
    cost_s: float = 0.0  # seconds of the station's worker time per inspected request


@dataclass
class SourceRateLimitConfig:
    """A token bucket per source address. Legit requests behind carrier NAT share
    ``legit_nat_addresses`` addresses."""

    enabled: bool = False
    rps_per_source: float = 5.0
    burst_per_source: float = 10.0
    legit_nat_share: float = 0.0  # share of legit requests that come through carrier NAT
    legit_nat_addresses: int = 1000
    cost_s: float = 0.0


@dataclass
class ChallengeConfig:
    """A challenge page (JavaScript or CAPTCHA) served to every request."""

    enabled: bool = False
    legit_pass: float = 0.97  # share of legit users who pass
    bot_pass: dict[str, float] = field(default_factory=dict)  # vector name or kind -> p
    default_bot_pass: float = 0.05
    latency_s: float = 2.0  # added to every request that passes
    clearance: bool = True  # legit retries and reconnects are not challenged again
    cost_s: float = 0.0


@dataclass
class ScrubbingConfig:
    """An upstream scrubbing service: removes volumetric attack traffic up to its
    capacity; above it, all traffic into it is lost in proportion."""

    enabled: bool = False
    capacity_gbps: float = 1000.0
    detection: float = 0.99  # share of volumetric attack traffic removed
    false_positive: float = 0.0  # share of requests (legit and L7) dropped


@dataclass
class MitigationConfig:
    name: str = "none"
    station: str | None = None  # where mitigations run (None: architecture.entry)
    waf: WafConfig = field(default_factory=WafConfig)
    rate_limit_per_source: SourceRateLimitConfig = field(default_factory=SourceRateLimitConfig)
    challenge: ChallengeConfig = field(default_factory=ChallengeConfig)
    scrubbing: ScrubbingConfig = field(default_factory=ScrubbingConfig)


@dataclass
class SloConfig:
    window_s: float = 60.0
    join_success_min: float = 0.99  # share of finished join attempts that succeed
    join_p99_max_s: float = 10.0  # p99 of first attempt -> joined, clients joined in window
    min_attempts: int = 20  # windows with fewer finished attempts are not judged
    trigger_end_s: float | None = None  # None: the last end of attacks and outages


@dataclass
class RunConfig:
    seed: int = 1
    horizon_s: float = 1800.0
    warmup_s: float = 0.0
    # 0: exact mode; a number: cohort mode at that tick; "auto": chosen by the tool
    # (sim/resolution.py): exact mode when its estimated wall time is within
    # exact_budget_s, otherwise cohort mode at the tick the scenario's time scales allow.
    resolution_s: Any = "auto"
    exact_budget_s: float = 10.0
    metrics_tick_s: float = 1.0
    progress: bool = True
    report: bool = True
    # Independent replications of the scenario (seeds derived from ``seed``, the same for
    # every compared variant: common random numbers); the summary gains a
    # ``replications`` block with means and Student t intervals.
    replications: int = 1
    confidence: float = 0.95
    # Runs estimated over an hour or half the machine's memory are refused before they
    # start (sim/resolution.py, ``guard``); true runs them anyway.
    force: bool = False


@dataclass
class ReportConfig:
    """The launch verdict: GO needs the failure point >= headroom x the expected peak."""

    headroom: float = 1.5  # required failure point / expected peak
    expected_peak: float | None = None  # None: the scenario's own value of the swept key
    sweep_key: str | None = None  # None: the swept key of the multirun


@dataclass
class SimConfig:
    name: str = "scenario"
    run: RunConfig = field(default_factory=RunConfig)
    arrivals: ArrivalsConfig = field(default_factory=ArrivalsConfig)
    architecture: ArchitectureConfig = field(default_factory=ArchitectureConfig)
    clients: ClientsConfig = field(default_factory=ClientsConfig)
    autoscaler: AutoscalerConfig = field(default_factory=AutoscalerConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    mitigation: MitigationConfig = field(default_factory=MitigationConfig)
    slo: SloConfig = field(default_factory=SloConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def register() -> None:
    """Put the schema in Hydra's ConfigStore (the primary config lists it first)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="sim_schema", node=SimConfig)


# -- checks -------------------------------------------------------------------------------

def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"Invalid configuration: {key} = {value!r}; allowed: {allowed}.")


def _positive(key: str, value: Any) -> None:
    if value is None or not isinstance(value, int | float) or not (value > 0) \
            or not math.isfinite(value):
        raise _fail(key, value, "a positive finite number")


def _non_negative(key: str, value: Any) -> None:
    if value is None or not isinstance(value, int | float) or not (value >= 0) \
            or not math.isfinite(value):
        raise _fail(key, value, "a finite number >= 0")


def _share(key: str, value: Any) -> None:
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise _fail(key, value, "a number in [0, 1]")


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _fail(key, value, "one of " + ", ".join(choices))


def to_config(cfg: DictConfig | SimConfig | dict[str, Any]) -> SimConfig:
    """Turn a composed Hydra config (or a plain dict) into the typed schema and validate it.

    Every problem is a ``ConfigError``: unknown keys and wrong types as well as ranges.
    """
    if isinstance(cfg, SimConfig):
        sim = cfg
    else:
        if isinstance(cfg, DictConfig):
            raw = OmegaConf.to_container(cfg, resolve=False)
        elif isinstance(cfg, dict):
            raw = cfg
        else:
            raise ConfigError(f"Invalid configuration: expected a mapping of keys to values, "
                              f"got {type(cfg).__name__}.")
        check_keys(raw, SimConfig, "")
        try:
            node = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
            merged = OmegaConf.merge(OmegaConf.structured(SimConfig), node)
            sim = OmegaConf.to_object(merged)  # type: ignore[assignment]
        except OmegaConfBaseException as exc:
            raise explain(exc) from None
        _absolute_paths(sim)
    validate(sim)
    return sim


# -- the schema, for messages -------------------------------------------------------------

def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def schema_type(path: str) -> Any:
    """The schema's type at a dotted ``path`` (``""`` is the root); None if there is none."""
    tp: Any = SimConfig
    for part in [p for p in path.split(".") if p]:
        tp, _ = _unwrap_optional(tp)
        if is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            if part not in hints:
                return None
            tp = hints[part]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return tp


def describe_type(tp: Any) -> str:
    """How a value of schema type ``tp`` is written, for messages."""
    inner, optional = _unwrap_optional(tp)
    if inner is bool:
        text = "true or false"
    elif inner is int:
        text = "an integer"
    elif inner is float:
        text = "a number"
    elif inner is str:
        text = "a string"
    elif is_dataclass(inner):
        text = "a mapping with keys " + ", ".join(f.name for f in fields(inner))
    elif typing.get_origin(inner) is dict:
        text = "a mapping"
    elif typing.get_origin(inner) is list or inner is list:
        text = "a list"
    else:
        text = "a value"
    return f"null or {text}" if optional else text


def allowed_keys(path: str) -> list[str] | None:
    """The keys the schema allows under ``path``; None where any name goes (a mapping)."""
    tp, _ = _unwrap_optional(schema_type(path))
    if is_dataclass(tp):
        return [f.name for f in fields(tp)]
    return None


def _label(path: str) -> str:
    return path if path else "the top level"


def unknown_key(path: str, existing: list[str] | None = None) -> ConfigError:
    """The message for a key that is not in the schema (or a name not defined there)."""
    parent, _, leaf = path.rpartition(".")
    keys = allowed_keys(parent)
    if keys is not None:
        return ConfigError(f"Invalid configuration: unknown key {path}; allowed keys of "
                           f"{_label(parent)}: {', '.join(keys)}.")
    names = ", ".join(sorted(existing)) if existing else f"the names already under {parent}"
    hint = ""
    if parent == "architecture.stations":
        hint = (" A new station is defined in an architecture file of your own "
                "(added with --config-dir), not on the command line.")
    elif parent == "autoscaler.per_station":
        names = "any station name, added with a leading + on the command line"
        hint = (f" Override a station's autoscaler with +autoscaler.per_station.{leaf}.<key>"
                f"=<value>; keys: " + ", ".join(STATION_AUTOSCALER_KEYS) + ".")
    return ConfigError(f"Invalid configuration: {path} is not defined ({leaf!r} is not a "
                       f"name under {parent}); allowed: {names}.{hint}")


def _full_key(err_key: str, key: str | None) -> str:
    """The dotted key of an error: OmegaConf's, completed from the override's ``key``.

    OmegaConf names a node relative to where it was created, so a new item of a typed
    mapping comes out as just its name; the override says where it sits.
    """
    if not key:
        return err_key
    if not err_key:
        return key
    parts, sub = key.split("."), err_key.split(".")
    for i in range(len(parts) - len(sub) + 1):
        if parts[i:i + len(sub)] == sub:
            return ".".join(parts[:i + len(sub)])
    return err_key


def explain(exc: BaseException, key: str | None = None) -> ConfigError:
    """Translate an OmegaConf error (or an error that wraps one) into a ConfigError.

    ``key`` is the key of the override that failed, when there is one: it completes the
    key OmegaConf reports.
    """
    err: BaseException | None = exc
    while err is not None and not isinstance(err, OmegaConfBaseException):
        err = err.__cause__ or err.__context__
    if err is None:
        return ConfigError("Invalid configuration: " + " ".join(str(exc).split()))
    full_key = _full_key(str(getattr(err, "full_key", None) or ""), key)
    msg = " ".join(str(getattr(err, "msg", None) or err).split("\n")[0].split())
    parent_node = getattr(err, "parent_node", None)
    existing = [str(k) for k in parent_node] if isinstance(parent_node, DictConfig) else None
    parent = full_key.rpartition(".")[0]
    if isinstance(err, MissingMandatoryValue):
        return ConfigError(f"Invalid configuration: {full_key} is missing; allowed: "
                           f"{describe_type(schema_type(full_key))} (it has no default).")
    if "does not support deletion" in msg and schema_type(full_key) is not None:
        return ConfigError(f"Invalid configuration: {full_key} cannot be deleted, it is part "
                           f"of the schema; allowed: set it to "
                           f"{describe_type(schema_type(full_key))}.")
    if isinstance(err, InterpolationResolutionError):
        return ConfigError(f"Invalid configuration: {full_key} could not be resolved "
                           f"({msg}); allowed: a value, or an interpolation that resolves "
                           f"when the config is composed.")
    if isinstance(err, ValidationError):
        tp = schema_type(full_key)
        new_item = (typing.get_origin(_unwrap_optional(schema_type(parent))[0]) is dict
                    and "is not a subclass of" in msg and existing is None)
        if tp is None or new_item:
            return unknown_key(full_key, existing)
        value = getattr(err, "value", None)
        shown = f" = {value!r}" if isinstance(value, str | int | float | bool) else ""
        return ConfigError(f"Invalid configuration: {full_key}{shown} has the wrong type "
                           f"({msg}); allowed: {describe_type(tp)}.")
    # ConfigKeyError, ConfigAttributeError and the like: a key the schema does not have.
    if full_key:
        return unknown_key(full_key, existing)
    return ConfigError("Invalid configuration: " + " ".join(str(err).split()))


def check_keys(value: Any, tp: Any, path: str) -> None:
    """Reject keys the schema does not define, anywhere in a (plain) nested mapping."""
    inner, _ = _unwrap_optional(tp)
    if not isinstance(value, dict):
        structured = is_dataclass(inner) or typing.get_origin(inner) is dict
        if structured and value is not None and path \
                and not (isinstance(value, str) and value.startswith("${")):
            raise ConfigError(f"Invalid configuration: {path} = {value!r} has the wrong type; "
                              f"allowed: {describe_type(tp)}.")
        return
    tp = inner
    if is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if k not in hints:
                raise unknown_key(sub)
            check_keys(v, hints[k], sub)
    elif typing.get_origin(tp) is dict:
        item = typing.get_args(tp)[1]
        for k, v in value.items():
            check_keys(v, item, f"{path}.{k}" if path else str(k))


# -- data files ---------------------------------------------------------------------------

def shipped_config_dir() -> Path:
    """Where the shipped configs are: the package data, or the clone's ``configs/``."""
    try:
        path = Path(str(resources.files("sim.configs")))
        if (path / "config.yaml").is_file():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "configs"


def resolve_path(path: str) -> Path | None:
    """Apply the data-file rule (see the module docstring); None if nothing is found."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p if p.is_file() else None
    for base in (Path.cwd(), shipped_config_dir()):
        candidate = base / p
        if candidate.is_file():
            return candidate.resolve()
    return None


def _absolute_paths(sim: SimConfig) -> None:
    a = sim.arrivals
    if a.kind == "trace" and isinstance(a.path, str) and a.path:
        found = resolve_path(a.path)
        if found is not None:
            a.path = str(found)
    for comp in a.components if isinstance(a.components, list) else []:
        if isinstance(comp, dict) and comp.get("kind") == "trace" \
                and isinstance(comp.get("path"), str) and comp["path"]:
            found = resolve_path(comp["path"])
            if found is not None:
                comp["path"] = str(found)
        elif isinstance(comp, ArrivalsConfig) and comp.kind == "trace" and comp.path:
            found = resolve_path(comp.path)
            if found is not None:
                comp.path = str(found)


# -- validation ---------------------------------------------------------------------------

def validate(c: SimConfig) -> None:
    """Range and cross-field checks; raises ConfigError naming the key."""
    r = c.run
    if not isinstance(r.seed, int) or isinstance(r.seed, bool) or r.seed < 0:
        raise _fail("run.seed", r.seed, "an integer >= 0")
    _positive("run.horizon_s", r.horizon_s)
    _non_negative("run.warmup_s", r.warmup_s)
    if r.warmup_s >= r.horizon_s:
        raise _fail("run.warmup_s", r.warmup_s, f"less than run.horizon_s ({r.horizon_s})")
    _validate_resolution(r)
    _non_negative("run.exact_budget_s", r.exact_budget_s)
    _positive("run.metrics_tick_s", r.metrics_tick_s)
    if r.metrics_tick_s >= r.horizon_s:
        raise _fail("run.metrics_tick_s", r.metrics_tick_s,
                    f"a tick shorter than run.horizon_s ({r.horizon_s}), so the run has more "
                    f"than one sample")
    if not isinstance(r.replications, int) or isinstance(r.replications, bool) \
            or not 1 <= r.replications <= 10_000:
        raise _fail("run.replications", r.replications, "an integer from 1 to 10,000")
    if not isinstance(r.confidence, int | float) or not 0.5 <= r.confidence < 1.0:
        raise _fail("run.confidence", r.confidence, "a number in [0.5, 1)")
    if r.horizon_s / r.metrics_tick_s > 2_000_000:
        raise _fail("run.metrics_tick_s", r.metrics_tick_s,
                    "at most 2,000,000 ticks per horizon (raise the tick)")
    if not isinstance(r.resolution_s, str) and r.resolution_s > 0:  # cohort mode
        if r.resolution_s > r.metrics_tick_s:
            raise _fail("run.resolution_s", r.resolution_s,
                        f"auto, 0 (exact mode) or a tick no longer than run.metrics_tick_s "
                        f"({r.metrics_tick_s})")
        if r.horizon_s / r.resolution_s > 20_000_000:
            raise _fail("run.resolution_s", r.resolution_s,
                        "auto, 0 (exact mode) or at most 20,000,000 ticks per horizon")
    _validate_architecture(c.architecture)
    _validate_arrivals("arrivals", c.arrivals)
    _validate_clients(c.clients)
    _validate_autoscaler(c.autoscaler, c.architecture)
    _validate_attack(c)
    s = c.slo
    _positive("slo.window_s", s.window_s)
    _share("slo.join_success_min", s.join_success_min)
    _positive("slo.join_p99_max_s", s.join_p99_max_s)
    if s.min_attempts < 0:
        raise _fail("slo.min_attempts", s.min_attempts, "an integer >= 0")
    if s.trigger_end_s is not None:
        _non_negative("slo.trigger_end_s", s.trigger_end_s)
    rep = c.report
    if not isinstance(rep.headroom, int | float) or not 1.0 <= rep.headroom <= 100.0:
        raise _fail("report.headroom", rep.headroom, "a number from 1 to 100 (failure point "
                    "÷ expected peak)")
    if rep.expected_peak is not None:
        _positive("report.expected_peak", rep.expected_peak)
    if rep.sweep_key is not None and (not rep.sweep_key.strip() or " " in rep.sweep_key):
        raise _fail("report.sweep_key", rep.sweep_key,
                    "null or a dotted config key such as arrivals.audience")


def _validate_resolution(r: RunConfig) -> None:
    """``run.resolution_s``: ``auto`` (any case), or a number >= 0 (0: exact mode)."""
    v = r.resolution_s
    if isinstance(v, str):
        if v.strip().lower() != "auto":
            raise _fail("run.resolution_s", v, "auto (the tool chooses), 0 (exact mode) or "
                        "a cohort tick in seconds such as 0.1")
        r.resolution_s = "auto"
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise _fail("run.resolution_s", v, "auto (the tool chooses), 0 (exact mode) or a "
                    "cohort tick in seconds such as 0.1")
    r.resolution_s = float(v)


def _validate_failure_dynamics(key: str, st: StationConfig) -> None:
    for i, o in enumerate(st.outages):
        k = f"{key}.outages[{i}]"
        _non_negative(f"{k}.start_s", o.start_s)
        if not isinstance(o.end_s, int | float) or not o.end_s > o.start_s:
            raise _fail(f"{k}.end_s", o.end_s, f"greater than {k}.start_s ({o.start_s})")
        _share(f"{k}.capacity_share", o.capacity_share)
    sd = st.slowdown
    if sd.above_rps is not None:
        _non_negative(f"{key}.slowdown.above_rps", sd.above_rps)
        if not isinstance(sd.factor, int | float) or not 1.0 <= sd.factor <= 1e6:
            raise _fail(f"{key}.slowdown.factor", sd.factor, "a number from 1 to 1e6")
        _positive(f"{key}.slowdown.window_s", sd.window_s)
    cr = st.crash
    if cr.enabled:
        if cr.above_utilization is None and cr.queue_per_instance is None:
            raise _fail(f"{key}.crash.above_utilization", None,
                        "a number in (0, 1], or set crash.queue_per_instance, when "
                        "crash.enabled is true")
        if cr.above_utilization is not None and (
                not isinstance(cr.above_utilization, int | float)
                or not 0.0 < cr.above_utilization <= 1.0):
            raise _fail(f"{key}.crash.above_utilization", cr.above_utilization,
                        "null or a number in (0, 1]")
        if cr.queue_per_instance is not None:
            _positive(f"{key}.crash.queue_per_instance", cr.queue_per_instance)
        _non_negative(f"{key}.crash.after_s", cr.after_s)
        _positive(f"{key}.crash.restart_s", cr.restart_s)
    for i, f in enumerate(st.failures):
        k = f"{key}.failures[{i}]"
        _non_negative(f"{k}.at_s", f.at_s)
        if not isinstance(f.instances, int) or isinstance(f.instances, bool) or f.instances < 1:
            raise _fail(f"{k}.instances", f.instances, "an integer >= 1")
        if f.restart_s is not None:
            _positive(f"{k}.restart_s", f.restart_s)
    if st.shed_queue_age_s is not None:
        _positive(f"{key}.shed_queue_age_s", st.shed_queue_age_s)
    if st.retry_ratio_max is not None:
        _share(f"{key}.retry_ratio_max", st.retry_ratio_max)
        _positive(f"{key}.retry_ratio_window_s", st.retry_ratio_window_s)


def _validate_attack(c: SimConfig) -> None:
    """The attack mix and the mitigations (sim/model/attacks.py, sim/model/mitigation.py)."""
    stations = sorted(c.architecture.stations)
    for name, v in c.attack.vectors.items():
        key = f"attack.vectors.{name}"
        if name == "legit":
            raise _fail("attack.vectors", name, "any vector name but 'legit' (the clients)")
        _choice(f"{key}.kind", v.kind, ATTACK_KINDS)
        if v.enter not in c.architecture.stations:
            raise _fail(f"{key}.enter", v.enter, "a station: " + ", ".join(stations))
        for opt in ("stop_after", "lookup"):
            value = getattr(v, opt)
            if value is not None and value not in c.architecture.stations:
                raise _fail(f"{key}.{opt}", value, "null or a station: " + ", ".join(stations))
        if v.kind == "auth_flood" and v.lookup is not None and v.stop_after is None:
            raise _fail(f"{key}.stop_after", v.stop_after,
                        f"a station (the lookup to {key}.lookup follows its work)")
        _non_negative(f"{key}.rate_rps", v.rate_rps)
        _non_negative(f"{key}.start_s", v.start_s)
        if not v.end_s > v.start_s:
            raise _fail(f"{key}.end_s", v.end_s, f"greater than {key}.start_s ({v.start_s})")
        _non_negative(f"{key}.ramp_s", v.ramp_s)
        if v.sources < 1:
            raise _fail(f"{key}.sources", v.sources, "an integer >= 1")
        _non_negative(f"{key}.gbps", v.gbps)
        _positive(f"{key}.packet_bytes", v.packet_bytes)
        _non_negative(f"{key}.hold_s", v.hold_s)
        _non_negative(f"{key}.session_s", v.session_s)
        if v.kind == "volumetric" and v.gbps > 0 \
                and c.architecture.stations[v.enter].link_gbps is None:
            raise _fail(f"architecture.stations.{v.enter}.link_gbps", None,
                        f"a positive number: volumetric vector {key} floods that link")
    for name, st in c.architecture.stations.items():
        if st.link_gbps is not None:
            _positive(f"architecture.stations.{name}.link_gbps", st.link_gbps)
        _non_negative(f"architecture.stations.{name}.request_kb", st.request_kb)
    m = c.mitigation
    if m.station is not None and m.station not in c.architecture.stations:
        raise _fail("mitigation.station", m.station, "null (the entry) or a station: "
                    + ", ".join(stations))
    names = set(c.attack.vectors) | set(ATTACK_KINDS)
    for block, table, default in (("waf", m.waf.detection, m.waf.default_detection),
                                  ("challenge", m.challenge.bot_pass,
                                   m.challenge.default_bot_pass)):
        label = "detection" if block == "waf" else "bot_pass"
        for k, p in table.items():
            if k not in names:
                raise _fail(f"mitigation.{block}.{label}.{k}", p, "keys that are attack "
                            "kinds (" + ", ".join(ATTACK_KINDS) + ") or vector names of "
                            "the attack mix")
            _share(f"mitigation.{block}.{label}.{k}", p)
        _share(f"mitigation.{block}.default_{label}", default)
    _share("mitigation.waf.false_positive", m.waf.false_positive)
    r = m.rate_limit_per_source
    _positive("mitigation.rate_limit_per_source.rps_per_source", r.rps_per_source)
    _non_negative("mitigation.rate_limit_per_source.burst_per_source", r.burst_per_source)
    _share("mitigation.rate_limit_per_source.legit_nat_share", r.legit_nat_share)
    if r.legit_nat_addresses < 1:
        raise _fail("mitigation.rate_limit_per_source.legit_nat_addresses",
                    r.legit_nat_addresses, "an integer >= 1")
    _share("mitigation.challenge.legit_pass", m.challenge.legit_pass)
    _non_negative("mitigation.challenge.latency_s", m.challenge.latency_s)
    for block in ("waf", "rate_limit_per_source", "challenge"):
        _non_negative(f"mitigation.{block}.cost_s", getattr(m, block).cost_s)
    _positive("mitigation.scrubbing.capacity_gbps", m.scrubbing.capacity_gbps)
    _share("mitigation.scrubbing.detection", m.scrubbing.detection)
    _share("mitigation.scrubbing.false_positive", m.scrubbing.false_positive)


def _validate_architecture(a: ArchitectureConfig) -> None:
    if not a.stations:
        raise _fail("architecture.stations", {}, "at least one station")
    names = sorted(a.stations)
    if a.entry not in a.stations:
        raise _fail("architecture.entry", a.entry, "one of the stations: " + ", ".join(names))
    _positive("architecture.bitrate_kbps", a.bitrate_kbps)
    for name, st in a.stations.items():
        key = f"architecture.stations.{name}"
        if not isinstance(st.instances, int) or st.instances < 1:
            raise _fail(f"{key}.instances", st.instances, "an integer >= 1")
        if st.workers_per_instance < 1:
            raise _fail(f"{key}.workers_per_instance", st.workers_per_instance,
                        "an integer >= 1")
        _choice(f"{key}.service.dist", st.service.dist, DISTRIBUTIONS)
        _positive(f"{key}.service.mean_s", st.service.mean_s)
        if st.service.dist in ("lognormal", "gamma"):
            _positive(f"{key}.service.cv", st.service.cv)
        if st.service.dist == "normal":
            _non_negative(f"{key}.service.cv", st.service.cv)
        _choice(f"{key}.concurrency", st.concurrency, CONCURRENCY)
        if st.queue_limit is not None and st.queue_limit < 0:
            raise _fail(f"{key}.queue_limit", st.queue_limit, "null (unlimited) or >= 0")
        for opt in ("rate_limit_rps", "rate_limit_burst", "max_rate_rps",
                    "egress_gbps_per_instance"):
            value = getattr(st, opt)
            if value is not None:
                _positive(f"{key}.{opt}", value)
        for opt in ("connections_per_instance", "listener_slots_per_instance"):
            value = getattr(st, opt)
            if value is not None and value < 1:
                raise _fail(f"{key}.{opt}", value, "null or an integer >= 1")
        if st.egress_gbps_per_instance is not None and st.listener_slots_per_instance is None:
            raise _fail(f"{key}.egress_gbps_per_instance", st.egress_gbps_per_instance,
                        "null unless listener_slots_per_instance is set")
        if st.min_instances < 0:
            raise _fail(f"{key}.min_instances", st.min_instances, "an integer >= 0")
        if st.max_instances is not None and st.max_instances < max(1, st.min_instances):
            raise _fail(f"{key}.max_instances", st.max_instances,
                        f"null or an integer >= max(1, min_instances={st.min_instances})")
        _non_negative(f"{key}.provisioning_delay_s", st.provisioning_delay_s)
        _non_negative(f"{key}.price_per_instance_hour", st.price_per_instance_hour)
        _validate_failure_dynamics(key, st)
    for src, branches in a.routes.items():
        if src not in a.stations:
            raise _fail("architecture.routes", src,
                        "routes only from stations: " + ", ".join(names))
        total = 0.0
        for dst, p in branches.items():
            if dst not in a.stations:
                raise _fail(f"architecture.routes.{src}.{dst}", dst,
                            "a defined station: " + ", ".join(names))
            _share(f"architecture.routes.{src}.{dst}", p)
            total += p
        if branches and abs(total - 1.0) > 1e-6:
            raise _fail(f"architecture.routes.{src}", dict(branches),
                        "probabilities that add up to 1")
    # Every station must be reachable from the entry, or it is a typo.
    seen, todo = {a.entry}, [a.entry]
    while todo:
        for dst, p in a.routes.get(todo.pop(), {}).items():
            if p > 0 and dst not in seen:
                seen.add(dst)
                todo.append(dst)
    unreachable = sorted(set(a.stations) - seen)
    if unreachable:
        raise _fail("architecture.routes", unreachable[0],
                    f"every station reachable from the entry {a.entry!r}; "
                    f"unreachable: {', '.join(unreachable)}")
    # A cycle would let a request loop forever.
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        state[n] = 1
        for dst, p in a.routes.get(n, {}).items():
            if p <= 0:
                continue
            if state.get(dst) == 1:
                raise _fail(f"architecture.routes.{n}.{dst}", p,
                            "routes without cycles (a request must reach the end)")
            if dst not in state:
                visit(dst)
        state[n] = 2

    visit(a.entry)
    _validate_waiting_room(a.waiting_room, a.stations)
    _validate_polling(a)


def _validate_waiting_room(w: WaitingRoomConfig, stations: dict[str, StationConfig]) -> None:
    key = "architecture.waiting_room"
    _positive(f"{key}.admit_rps", w.admit_rps)
    if not isinstance(w.burst, int | float) or w.burst < 1:
        raise _fail(f"{key}.burst", w.burst, "a number >= 1 (users)")
    if w.patience_s is not None:
        _positive(f"{key}.patience_s", w.patience_s)
    if (w.watch is None) != (w.max_in_system is None):
        raise _fail(f"{key}.watch", w.watch,
                    f"a station together with {key}.max_in_system, or both null")
    if w.watch is not None and w.watch not in stations:
        raise _fail(f"{key}.watch", w.watch, "null or a station: " + ", ".join(sorted(stations)))
    if w.max_in_system is not None and (not isinstance(w.max_in_system, int)
                                        or w.max_in_system < 0):
        raise _fail(f"{key}.max_in_system", w.max_in_system, "null or an integer >= 0")


def _validate_polling(a: ArchitectureConfig) -> None:
    p, key = a.polling, "architecture.polling"
    _non_negative(f"{key}.rps_per_listener", p.rps_per_listener)
    _share(f"{key}.origin_share", p.origin_share)
    _positive(f"{key}.tick_s", p.tick_s)
    names = sorted(a.stations)
    for opt in ("enter", "origin"):
        value = getattr(p, opt)
        if value is not None and value not in a.stations:
            raise _fail(f"{key}.{opt}", value, "null or a station: " + ", ".join(names))
    if p.rps_per_listener > 0 and p.enter is None and not any(
            st.listener_slots_per_instance is not None for st in a.stations.values()):
        raise _fail(f"{key}.enter", None,
                    "a station (the CDN), or a path that ends in listener slots")
    if p.origin_share > 0 and p.origin is None:
        raise _fail(f"{key}.origin", None,
                    f"a station when {key}.origin_share > 0 ({p.origin_share})")
    if p.origin is not None and p.enter is not None:
        seen, todo = {p.origin}, [p.origin]
        while todo:
            for dst, q in a.routes.get(todo.pop(), {}).items():
                if q > 0 and dst not in seen:
                    seen.add(dst)
                    todo.append(dst)
        if p.enter not in seen:
            raise _fail(f"{key}.origin", p.origin,
                        f"a station whose routes lead to {key}.enter ({p.enter!r})")


def _validate_arrivals(key: str, a: ArrivalsConfig) -> None:
    """Every field is range-checked whatever the kind (a negative rate is an error even
    where it is unused); cross-field rules and files only for the kind in use."""
    _choice(f"{key}.kind", a.kind, ARRIVAL_KINDS)
    if not isinstance(a.count, int) or isinstance(a.count, bool) or a.count < 1:
        raise _fail(f"{key}.count", a.count, "an integer >= 1 (clients in the batch)")
    for name in ("rate", "audience", "push_window_s", "reaction_median_s", "reaction_sigma",
                 "tail_tau_s", "base_rate", "period_s", "scale"):
        _positive(f"{key}.{name}", getattr(a, name))
    for name in ("t0_s", "early_window_s", "start_s", "end_s", "rate_start", "rate_end"):
        _non_negative(f"{key}.{name}", getattr(a, name))
    for name in ("early_share", "tail_share", "amplitude"):
        _share(f"{key}.{name}", getattr(a, name))
    if not isinstance(a.phase_s, int | float) or not math.isfinite(a.phase_s):
        raise _fail(f"{key}.phase_s", a.phase_s, "a finite number")
    k = a.kind
    if k == "flash_crowd":
        if a.early_share + a.tail_share > 1.0:
            raise _fail(f"{key}.tail_share", a.tail_share,
                        f"at most 1 - early_share ({1 - a.early_share:g})")
        if a.early_share > 0:
            _positive(f"{key}.early_window_s", a.early_window_s)
            if a.early_window_s > a.t0_s:
                raise _fail(f"{key}.early_window_s", a.early_window_s,
                            f"at most t0_s ({a.t0_s}): early arrivals start at time >= 0")
    elif k == "ramp":
        if not a.end_s > a.start_s:
            raise _fail(f"{key}.end_s", a.end_s, f"greater than {key}.start_s ({a.start_s})")
        if a.rate_start + a.rate_end <= 0:
            raise _fail(f"{key}.rate_end", a.rate_end, "a positive rate at one end of the ramp")
    elif k == "trace":
        read_trace(f"{key}.path", a.path)
    elif k == "sum":
        if not a.components:
            raise _fail(f"{key}.components", [], "a non-empty list of arrival curves")
        for i, comp in enumerate(a.components):
            sub = component_config(f"{key}.components[{i}]", comp)
            if sub.kind == "sum":
                raise _fail(f"{key}.components[{i}].kind", "sum",
                            "a curve other than sum (sums do not nest)")
            _validate_arrivals(f"{key}.components[{i}]", sub)


def component_config(key: str, comp: Any) -> ArrivalsConfig:
    """One member of a ``sum`` of arrival curves, checked against the arrivals schema."""
    if isinstance(comp, ArrivalsConfig):
        return comp
    if isinstance(comp, DictConfig | ListConfig):
        comp = OmegaConf.to_container(comp, resolve=True)
    if not isinstance(comp, dict):
        raise _fail(key, comp, "a mapping with kind and that curve's keys")
    allowed = {f.name for f in fields(ArrivalsConfig)}
    for k in comp:
        if k not in allowed:
            raise _fail(f"{key}.{k}", comp[k], "keys of an arrival curve: "
                        + ", ".join(sorted(allowed)))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(ArrivalsConfig), comp)
    except Exception as exc:  # OmegaConf type errors: say which component
        raise _fail(key, comp, f"values of the right type ({exc.__class__.__name__})") from None
    out = OmegaConf.to_object(merged)
    assert is_dataclass(out)
    return out  # type: ignore[return-value]


def read_trace(key: str, path: str) -> tuple[list[float], list[float]]:
    """Read a ``t_s,rate`` CSV; raise ConfigError naming the file and line on any problem."""
    if not path or not isinstance(path, str):
        raise _fail(key, path, "the path of a CSV file with header t_s,rate")
    p = resolve_path(path)
    if p is None:
        where = ("" if Path(path).expanduser().is_absolute() else
                 f"; a relative path is looked up in the current directory ({Path.cwd()}), "
                 f"then in the shipped configs ({shipped_config_dir()})")
        raise _fail(key, path, f"an existing CSV file with header t_s,rate (file not found"
                               f"{where})")
    times: list[float] = []
    rates: list[float] = []
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(key, path, f"a readable UTF-8 CSV file ({exc.__class__.__name__}: "
                               f"{exc})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:2]] != ["t_s", "rate"]:
        raise _fail(key, path, f"a CSV whose header is t_s,rate (found {header})")
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not x.strip() for x in row):
            continue
        try:
            t, rate = float(row[0]), float(row[1])
        except (ValueError, IndexError):
            raise _fail(key, path, f"numbers in both columns (line {lineno}: {row})") \
                from None
        if not (math.isfinite(t) and math.isfinite(rate)) or rate < 0:
            raise _fail(key, path, f"finite times and rates >= 0 (line {lineno}: {row})")
        if times and t <= times[-1]:
            raise _fail(key, path, f"strictly increasing t_s (line {lineno}: {row})")
        times.append(t)
        rates.append(rate)
    if len(times) < 2:
        raise _fail(key, path, "at least two rows of t_s,rate")
    return times, rates


def _validate_clients(c: ClientsConfig) -> None:
    if c.timeout_s is not None:
        _positive("clients.timeout_s", c.timeout_s)
    _choice("clients.retry.policy", c.retry.policy, RETRY_POLICIES)
    if c.retry.max_attempts < 1:
        raise _fail("clients.retry.max_attempts", c.retry.max_attempts, "an integer >= 1")
    if c.retry.policy != "none":
        _positive("clients.retry.base_s", c.retry.base_s)
        _positive("clients.retry.cap_s", c.retry.cap_s)
        if c.retry.cap_s < c.retry.base_s:
            raise _fail("clients.retry.cap_s", c.retry.cap_s,
                        f">= clients.retry.base_s ({c.retry.base_s})")
    _share("clients.impatient_share", c.impatient_share)
    _non_negative("clients.impatient_retry_s", c.impatient_retry_s)
    if c.patience_s is not None:
        _positive("clients.patience_s", c.patience_s)
    _choice("clients.session.dist", c.session.dist, DISTRIBUTIONS)
    _positive("clients.session.mean_s", c.session.mean_s)
    if c.session.dist in ("lognormal", "gamma"):
        _positive("clients.session.cv", c.session.cv)
    if c.session.dist == "normal":
        _non_negative("clients.session.cv", c.session.cv)
    _validate_client_policies(c)


CLIENT_POLICY_SCOPES = ("shared", "per_client")


def _validate_client_policies(c: ClientsConfig) -> None:
    """Ranges of the retry budget, adaptive throttling and circuit breaker (enabled or not:
    a bad value is an error even where it is unused)."""
    b = c.retry_budget
    _choice("clients.retry_budget.scope", b.scope, CLIENT_POLICY_SCOPES)
    _positive("clients.retry_budget.capacity", b.capacity)
    _non_negative("clients.retry_budget.retry_cost", b.retry_cost)
    _non_negative("clients.retry_budget.timeout_retry_cost", b.timeout_retry_cost)
    _non_negative("clients.retry_budget.success_refund", b.success_refund)
    t = c.adaptive_throttling
    _choice("clients.adaptive_throttling.scope", t.scope, CLIENT_POLICY_SCOPES)
    _positive("clients.adaptive_throttling.k", t.k)
    _positive("clients.adaptive_throttling.window_s", t.window_s)
    k = c.circuit_breaker
    key = "clients.circuit_breaker"
    _choice(f"{key}.scope", k.scope, CLIENT_POLICY_SCOPES)
    if k.failure_ratio is None and k.failure_count is None:
        raise _fail(f"{key}.failure_ratio", None,
                    "a number in (0, 1], or set failure_count (at least one of them)")
    if k.failure_ratio is not None and not (
            isinstance(k.failure_ratio, int | float) and 0 < k.failure_ratio <= 1):
        raise _fail(f"{key}.failure_ratio", k.failure_ratio, "null or a number in (0, 1]")
    if k.failure_count is not None and k.failure_count < 1:
        raise _fail(f"{key}.failure_count", k.failure_count, "null or an integer >= 1")
    if k.min_requests < 1:
        raise _fail(f"{key}.min_requests", k.min_requests, "an integer >= 1")
    _positive(f"{key}.window_s", k.window_s)
    _non_negative(f"{key}.cooldown_s", k.cooldown_s)
    if k.half_open_probes < 1:
        raise _fail(f"{key}.half_open_probes", k.half_open_probes, "an integer >= 1")


# Keys of the autoscaler block that a station may override (everything but the lists of
# which stations scale and their overrides).
STATION_AUTOSCALER_KEYS = tuple(f.name for f in fields(AutoscalerConfig)
                                if f.name not in ("stations", "per_station", "event_start_s"))


def autoscaled_stations(a: AutoscalerConfig, arch: ArchitectureConfig) -> list[str]:
    """The stations an autoscaler runs on (a per-station ``kind: none`` takes one out)."""
    names = a.stations if a.stations is not None else [
        n for n, s in arch.stations.items() if s.autoscale]
    return [n for n in names if station_autoscaler(a, n).kind != "none"]


def station_autoscaler(a: AutoscalerConfig, name: str) -> AutoscalerConfig:
    """The autoscaler settings of one station: the block with ``per_station.<name>`` merged."""
    key = f"autoscaler.per_station.{name}"
    over = (a.per_station or {}).get(name)
    if not over:
        return a
    if isinstance(over, DictConfig):
        over = OmegaConf.to_container(over, resolve=True)
    if not isinstance(over, dict):
        raise _fail(key, over, "a mapping of autoscaler keys to values: "
                    + ", ".join(STATION_AUTOSCALER_KEYS))
    for k in over:
        if k not in STATION_AUTOSCALER_KEYS:
            raise _fail(f"{key}.{k}", over[k], "keys of a per-station autoscaler override: "
                        + ", ".join(STATION_AUTOSCALER_KEYS))
    base = OmegaConf.structured(a)
    base.per_station = {}
    try:
        merged = OmegaConf.merge(base, over)
    except OmegaConfBaseException as exc:
        bad = getattr(exc, "full_key", "") or ""
        raise ConfigError(f"Invalid configuration: {key}{'.' + bad if bad else ''} has the "
                          f"wrong type ({' '.join(str(exc).splitlines()[0].split())}); "
                          f"allowed: the type of autoscaler.{bad or '<key>'}.") from None
    out = OmegaConf.to_object(merged)
    assert isinstance(out, AutoscalerConfig)
    return out


def _validate_autoscaler(a: AutoscalerConfig, arch: ArchitectureConfig) -> None:
    _choice("autoscaler.kind", a.kind, AUTOSCALER_KINDS)
    stations = sorted(arch.stations)
    for name in a.stations or []:
        if name not in arch.stations:
            raise _fail("autoscaler.stations", name,
                        "names of stations: " + ", ".join(stations))
    if not isinstance(a.per_station, dict | DictConfig):
        raise _fail("autoscaler.per_station", a.per_station,
                    "a mapping of station names to autoscaler overrides")
    if a.event_start_s is not None and not math.isfinite(a.event_start_s):
        raise _fail("autoscaler.event_start_s", a.event_start_s, "null or a finite number")
    for name in a.per_station:
        if name not in arch.stations:
            raise _fail("autoscaler.per_station", name,
                        "names of stations: " + ", ".join(stations))
    if a.kind == "none" and not a.per_station:
        return
    _validate_autoscaler_settings("autoscaler", a)
    for name in a.per_station:
        _validate_autoscaler_settings(f"autoscaler.per_station.{name}",
                                      station_autoscaler(a, name))
    for name in autoscaled_stations(a, arch):
        st = station_autoscaler(a, name)
        lo = st.min_instances if st.min_instances is not None else arch.stations[name].min_instances
        hi = st.max_instances if st.max_instances is not None else arch.stations[name].max_instances
        if hi is not None and hi < max(1, lo):
            raise _fail(f"autoscaler.per_station.{name}.max_instances"
                        if name in a.per_station else "autoscaler.max_instances", hi,
                        f"null or an integer >= max(1, min_instances={lo})")


def _validate_autoscaler_settings(key: str, a: AutoscalerConfig) -> None:
    """Ranges of one (station's) autoscaler settings; ``key`` prefixes the messages."""
    _choice(f"{key}.kind", a.kind, AUTOSCALER_KINDS)
    _positive(f"{key}.target_utilization", a.target_utilization)
    if a.target_utilization > 1:
        raise _fail(f"{key}.target_utilization", a.target_utilization, "a number in (0, 1]")
    _non_negative(f"{key}.tolerance", a.tolerance)
    _positive(f"{key}.sync_period_s", a.sync_period_s)
    for m in a.metrics or []:
        _choice(f"{key}.metrics", m, AUTOSCALER_METRICS)
    if a.metrics is not None and not a.metrics:
        raise _fail(f"{key}.metrics", [], "null or a non-empty list of "
                    + ", ".join(AUTOSCALER_METRICS))
    _positive(f"{key}.target_queue_per_instance", a.target_queue_per_instance)
    if a.target_listeners_per_instance is not None:
        _positive(f"{key}.target_listeners_per_instance", a.target_listeners_per_instance)
    for side in ("scale_up", "scale_down"):
        rules = getattr(a.behavior, side)
        k = f"{key}.behavior.{side}"
        _non_negative(f"{k}.stabilization_window_s", rules.stabilization_window_s)
        _choice(f"{k}.select_policy", rules.select_policy, SELECT_POLICIES)
        if rules.select_policy != "Disabled" and not rules.policies:
            raise _fail(f"{k}.policies", [], "at least one policy unless select_policy is "
                        "Disabled")
        for i, pol in enumerate(rules.policies):
            _choice(f"{k}.policies[{i}].type", pol.type, SCALING_POLICY_TYPES)
            _positive(f"{k}.policies[{i}].value", pol.value)
            _positive(f"{k}.policies[{i}].period_s", pol.period_s)
    for opt in ("datapoints_out", "datapoints_in", "min_adjustment_magnitude"):
        if not isinstance(getattr(a, opt), int) or getattr(a, opt) < 1:
            raise _fail(f"{key}.{opt}", getattr(a, opt), "an integer >= 1")
    _choice(f"{key}.adjustment_type", a.adjustment_type, ADJUSTMENT_TYPES)
    if a.kind == "step" and not a.steps:
        raise _fail(f"{key}.steps", [], "at least one step adjustment for kind step")
    spans = []
    for i, stp in enumerate(a.steps):
        lo = -math.inf if stp.lower is None else stp.lower
        hi = math.inf if stp.upper is None else stp.upper
        if not lo < hi:
            raise _fail(f"{key}.steps[{i}].upper", stp.upper,
                        f"greater than steps[{i}].lower ({stp.lower})")
        if stp.adjustment == 0 or not math.isfinite(stp.adjustment):
            raise _fail(f"{key}.steps[{i}].adjustment", stp.adjustment,
                        "a finite non-zero number")
        spans.append((lo, hi, i))
    spans.sort()
    for (_, hi1, _), (lo2, _, j) in itertools.pairwise(spans):
        if lo2 < hi1:
            raise _fail(f"{key}.steps[{j}].lower", a.steps[j].lower,
                        "step intervals that do not overlap")
    _share(f"{key}.scale_in_threshold", a.scale_in_threshold)
    if a.kind == "simple" and a.scale_in_threshold >= a.target_utilization:
        raise _fail(f"{key}.scale_in_threshold", a.scale_in_threshold,
                    f"below target_utilization ({a.target_utilization})")
    if not a.scale_out_adjustment > 0:
        raise _fail(f"{key}.scale_out_adjustment", a.scale_out_adjustment, "a number > 0")
    if not a.scale_in_adjustment < 0:
        raise _fail(f"{key}.scale_in_adjustment", a.scale_in_adjustment, "a number < 0")
    _non_negative(f"{key}.cooldown_s", a.cooldown_s)
    for i, act in enumerate(a.schedule):
        k = f"{key}.schedule[{i}]"
        if not isinstance(act.at_s, int | float) or not math.isfinite(act.at_s):
            raise _fail(f"{k}.at_s", act.at_s, "a finite number (seconds from the event "
                        "start)")
        if act.min_instances is None and act.max_instances is None and act.desired is None:
            raise _fail(k, "{}", "at least one of min_instances, max_instances, desired")
        for opt in ("min_instances", "max_instances", "desired"):
            v = getattr(act, opt)
            if v is not None and v < (1 if opt == "max_instances" else 0):
                raise _fail(f"{k}.{opt}", v, "null or an integer >= "
                            + ("1" if opt == "max_instances" else "0"))
    p = a.predictive
    _non_negative(f"{key}.predictive.lead_s", p.lead_s)
    _positive(f"{key}.predictive.period_s", p.period_s)
    if not isinstance(p.forecast_error, int | float) or not p.forecast_error > -1 \
            or not math.isfinite(p.forecast_error):
        raise _fail(f"{key}.predictive.forecast_error", p.forecast_error,
                    "a number > -1 (relative error of the forecast)")
    w = a.warm_pool
    if not isinstance(w.size, int) or w.size < 0:
        raise _fail(f"{key}.warm_pool.size", w.size, "an integer >= 0")
    _non_negative(f"{key}.warm_pool.delay_s", w.delay_s)
    _share(f"{key}.warm_pool.price_share", w.price_share)
    if a.provisioning_delay_s is not None:
        _non_negative(f"{key}.provisioning_delay_s", a.provisioning_delay_s)
    _choice(f"{key}.provisioning_dist", a.provisioning_dist, DISTRIBUTIONS)
    if a.provisioning_dist in ("lognormal", "gamma"):
        _positive(f"{key}.provisioning_cv", a.provisioning_cv)
    _non_negative(f"{key}.warmup_s", a.warmup_s)
    if not isinstance(a.warmup_speed, int | float) or not 0 < a.warmup_speed <= 1:
        raise _fail(f"{key}.warmup_speed", a.warmup_speed, "a number in (0, 1]")
    if a.min_instances is not None and a.min_instances < 0:
        raise _fail(f"{key}.min_instances", a.min_instances, "null or an integer >= 0")
    if a.max_instances is not None and a.max_instances < 1:
        raise _fail(f"{key}.max_instances", a.max_instances, "null or an integer >= 1")
    if a.max_launches_per_min is not None and a.max_launches_per_min < 1:
        raise _fail(f"{key}.max_launches_per_min", a.max_launches_per_min,
                    "null or an integer >= 1")

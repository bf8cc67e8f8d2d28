"""The autoscaler: ``autoscaler``, instances over time (sim/model/autoscale.py).

One block for every kind: ``none``; ``hpa``, the Kubernetes Horizontal Pod Autoscaler
with its ``behavior``; and the AWS EC2 Auto Scaling policies ``target_tracking``,
``step`` and ``simple``. Any kind can add scheduled actions (``schedule``, relative to
the event start), predictive scaling from the announced arrival curve (``predictive``),
a warm pool (``warm_pool``), and the instance lifecycle and quotas (provisioning delay,
warm-up, min and max instances, launches per minute). The block applies to the stations
in ``stations`` (null: every station with ``autoscale: true``); ``per_station.<name>``
overrides any of its keys (``STATION_AUTOSCALER_KEYS``) for one station, its kind
included, and ``station_autoscaler`` gives a station's merged settings.

Validation checks the ranges of the block and of every station's merged settings
(nothing for ``kind: none`` without per-station overrides). A key the kind does not use
must keep its default (``AUTOSCALER_KIND_KEYS``, read off ``Autoscaler``: ``tolerance``
is read by ``hpa`` and ``target_tracking``, ``behavior`` by ``hpa``, the datapoints by
``target_tracking``, the adjustments by ``step`` and ``simple``, ``steps`` by ``step``,
the thresholds and the cooldown by ``simple``; the metrics, schedule, predictive
scaling, warm pool and lifecycle by every kind but ``none``). A key of the block counts
as used when any kind in effect uses it, the block's own or a station's
(``per_station.<name>.kind``), since stations inherit the block's keys.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

from ..engine.streams import DISTRIBUTIONS
from .architecture import ArchitectureConfig, Distribution
from .errors import (
    Bound,
    ConfigError,
    at_least,
    between,
    choice,
    declare,
    fail,
    non_negative,
    positive,
    share,
)
from .kinds import check_kind_keys


class AutoscalerKind(StrEnum):
    """The kinds of autoscaler (``autoscaler.kind``)."""

    none = "none"
    hpa = "hpa"
    target_tracking = "target_tracking"
    step = "step"
    simple = "simple"


class AutoscalerMetric(StrEnum):
    """What an autoscaler measures (``autoscaler.metrics``)."""

    cpu = "cpu"
    queue = "queue"
    listeners = "listeners"


class SelectPolicy(StrEnum):
    """How the HPA picks among its scaling policies (``behavior.*.select_policy``)."""

    Max = "Max"
    Min = "Min"
    Disabled = "Disabled"


class ScalingPolicyType(StrEnum):
    """The unit of an HPA scaling policy (``behavior.*.policies[i].type``)."""

    Pods = "Pods"
    Percent = "Percent"


class AdjustmentType(StrEnum):
    """How an AWS step or simple adjustment is read (``adjustment_type``)."""

    ChangeInCapacity = "ChangeInCapacity"
    PercentChangeInCapacity = "PercentChangeInCapacity"


AUTOSCALER_KINDS = tuple(k.value for k in AutoscalerKind)
AUTOSCALER_METRICS = tuple(m.value for m in AutoscalerMetric)
SELECT_POLICIES = tuple(p.value for p in SelectPolicy)
SCALING_POLICY_TYPES = tuple(t.value for t in ScalingPolicyType)
ADJUSTMENT_TYPES = tuple(t.value for t in AdjustmentType)


@dataclass
class ScalingPolicyConfig:
    """One HPA ``behavior`` policy: change by ``value`` Pods or Percent per ``period_s``."""

    # A name of ScalingPolicyType, checked by validate: OmegaConf would name a wrong one
    # inside a list without the list's key.
    type: str = "Percent"
    value: float = 100.0
    period_s: float = 15.0


def _scale_up_default() -> ScalingRulesConfig:
    return ScalingRulesConfig(0.0, SelectPolicy.Max, [ScalingPolicyConfig("Percent", 100.0, 15.0),
                                                      ScalingPolicyConfig("Pods", 4.0, 15.0)])


def _scale_down_default() -> ScalingRulesConfig:
    return ScalingRulesConfig(300.0, SelectPolicy.Max,
                              [ScalingPolicyConfig("Percent", 100.0, 15.0)])


@dataclass
class ScalingRulesConfig:
    stabilization_window_s: float = 0.0
    select_policy: SelectPolicy = SelectPolicy.Max  # Max | Min | Disabled
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
    kind: AutoscalerKind = AutoscalerKind.none
    target_utilization: float = 0.6
    tolerance: float = 0.1
    sync_period_s: float = 15.0
    stations: list[str] | None = None  # None: every station with autoscale: true
    # Per-station overrides: station name -> {key of this block: value}.
    per_station: dict[str, Any] = field(default_factory=dict)
    # Metrics (None: cpu, plus listeners on stations with listener slots): names of
    # AutoscalerMetric, checked by validate (OmegaConf would name a wrong one without the
    # list's key, and the model adds names of its own to the list).
    metrics: list[str] | None = None
    target_queue_per_instance: float = 10.0
    target_listeners_per_instance: float | None = None  # None: target × slots
    # Kubernetes HPA.
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    # AWS target tracking: consecutive periods above / below target before acting.
    datapoints_out: int = 3
    datapoints_in: int = 15
    # AWS step and simple scaling.
    adjustment_type: AdjustmentType = AdjustmentType.ChangeInCapacity
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
    provisioning_dist: Distribution = Distribution.deterministic
    provisioning_cv: float = 0.5
    warmup_s: float = 0.0  # warming after ready, at warmup_speed of the service rate
    warmup_speed: float = 0.5
    min_instances: int | None = None  # None: the station's
    max_instances: int | None = None  # None: the station's (a quota)
    max_launches_per_min: int | None = None  # None: no quota


# Keys of the autoscaler block that a station may override (everything but the lists of
# which stations scale and their overrides).
STATION_AUTOSCALER_KEYS = tuple(f.name for f in fields(AutoscalerConfig)
                                if f.name not in ("stations", "per_station", "event_start_s"))

# The keys every kind but none reads: which stations, the metrics and their targets,
# scheduled actions, predictive scaling, the warm pool and the instance lifecycle.
_EVERY_KIND = ("target_utilization", "sync_period_s", "stations", "metrics",
               "target_queue_per_instance", "target_listeners_per_instance",
               "event_start_s", "schedule", "predictive", "warm_pool",
               "provisioning_delay_s", "provisioning_dist", "provisioning_cv", "warmup_s",
               "warmup_speed", "min_instances", "max_instances", "max_launches_per_min")


def _with(*keys: str) -> tuple[str, ...]:
    """The keys every kind reads and ``keys``, in the order of the schema."""
    wanted = set(_EVERY_KIND) | set(keys)
    return tuple(f.name for f in fields(AutoscalerConfig) if f.name in wanted)


# The keys each kind reads (``Autoscaler`` in sim/model/autoscale.py).
AUTOSCALER_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "none": (),
    "hpa": _with("tolerance", "behavior"),
    "target_tracking": _with("tolerance", "datapoints_out", "datapoints_in"),
    "step": _with("adjustment_type", "min_adjustment_magnitude", "steps"),
    "simple": _with("adjustment_type", "min_adjustment_magnitude", "scale_in_threshold",
                    "scale_out_adjustment", "scale_in_adjustment", "cooldown_s"),
}


def autoscaled_stations(a: AutoscalerConfig, arch: ArchitectureConfig) -> list[str]:
    """The stations an autoscaler runs on (a per-station ``kind: none`` takes one out)."""
    names = a.stations if a.stations is not None else [
        n for n, s in arch.stations.items() if s.autoscale]
    return [n for n in names if station_autoscaler(a, n).kind != "none"]


def _overrides(a: AutoscalerConfig, name: str) -> dict[Any, Any] | None:
    """``per_station.<name>`` as a plain mapping of keys of the block (None: none);
    raises ConfigError for anything else."""
    key = f"autoscaler.per_station.{name}"
    over = (a.per_station or {}).get(name)
    if not over:
        return None
    if isinstance(over, DictConfig):
        over = OmegaConf.to_container(over, resolve=True)
    if not isinstance(over, dict):
        raise fail(key, over, "a mapping of autoscaler keys to values: "
                    + ", ".join(STATION_AUTOSCALER_KEYS))
    for k in over:
        if k not in STATION_AUTOSCALER_KEYS:
            raise fail(f"{key}.{k}", over[k], "keys of a per-station autoscaler override: "
                        + ", ".join(STATION_AUTOSCALER_KEYS))
    return over


def station_autoscaler(a: AutoscalerConfig, name: str) -> AutoscalerConfig:
    """The autoscaler settings of one station: the block with ``per_station.<name>`` merged."""
    over = _overrides(a, name)
    if over is None:
        return a
    key = f"autoscaler.per_station.{name}"
    base = OmegaConf.structured(a)
    base.per_station = {}
    try:
        merged = OmegaConf.merge(base, over)
    except OmegaConfBaseException as exc:
        bad = getattr(exc, "full_key", "") or ""
        if isinstance(exc, ValidationError):
            from .explain import enum_error

            named = enum_error(bad, getattr(exc, "value", None), AutoscalerConfig, key)
            if named is not None:
                raise named from None
        raise ConfigError(f"Invalid configuration: {key}{'.' + bad if bad else ''} has the "
                          f"wrong type ({' '.join(str(exc).splitlines()[0].split())}); "
                          f"allowed: the type of autoscaler.{bad or '<key>'}.") from None
    out = OmegaConf.to_object(merged)
    assert isinstance(out, AutoscalerConfig)
    return out


def validate_autoscaler(a: AutoscalerConfig, arch: ArchitectureConfig) -> None:
    """The block, every station's merged settings, and the instance bounds they give."""
    choice("autoscaler.kind", a.kind, AUTOSCALER_KINDS)
    stations = sorted(arch.stations)
    for name in a.stations or []:
        if name not in arch.stations:
            raise fail("autoscaler.stations", name,
                        "names of stations: " + ", ".join(stations))
    if not isinstance(a.per_station, dict | DictConfig):
        raise fail("autoscaler.per_station", a.per_station,
                    "a mapping of station names to autoscaler overrides")
    if a.event_start_s is not None and not math.isfinite(a.event_start_s):
        raise fail("autoscaler.event_start_s", a.event_start_s, "null or a finite number")
    for name in a.per_station:
        if name not in arch.stations:
            raise fail("autoscaler.per_station", name,
                        "names of stations: " + ", ".join(stations))
    if a.kind == "none" and not a.per_station:
        return
    validate_autoscaler_settings("autoscaler", a)
    for name in a.per_station:
        validate_autoscaler_settings(f"autoscaler.per_station.{name}",
                                     station_autoscaler(a, name))
    for name in autoscaled_stations(a, arch):
        st = station_autoscaler(a, name)
        lo = st.min_instances if st.min_instances is not None else arch.stations[name].min_instances
        hi = st.max_instances if st.max_instances is not None else arch.stations[name].max_instances
        if hi is not None and hi < max(1, lo):
            raise fail(f"autoscaler.per_station.{name}.max_instances"
                        if name in a.per_station else "autoscaler.max_instances", hi,
                        f"null or an integer >= max(1, min_instances={lo})")


def validate_autoscaler_settings(key: str, a: AutoscalerConfig) -> None:
    """Ranges of one (station's) autoscaler settings; ``key`` prefixes the messages."""
    choice(f"{key}.kind", a.kind, AUTOSCALER_KINDS)
    _validate_targets(key, a)
    _validate_behavior(key, a)
    for opt in ("datapoints_out", "datapoints_in", "min_adjustment_magnitude"):
        allowed = declare(f"{key}.{opt}", at_least(1, "an integer >= 1"))
        if not isinstance(getattr(a, opt), int) or getattr(a, opt) < 1:
            raise fail(f"{key}.{opt}", getattr(a, opt), allowed)
    choice(f"{key}.adjustment_type", a.adjustment_type, ADJUSTMENT_TYPES)
    _validate_steps(key, a)
    _validate_simple(key, a)
    _validate_schedule(key, a)
    _validate_predictive_and_pool(key, a)
    _validate_lifecycle(key, a)


def _validate_targets(key: str, a: AutoscalerConfig) -> None:
    positive(f"{key}.target_utilization", a.target_utilization)
    allowed = declare(f"{key}.target_utilization",
                      between(0, 1, "a number in (0, 1]", lo_open=True))
    if a.target_utilization > 1:
        raise fail(f"{key}.target_utilization", a.target_utilization, allowed)
    non_negative(f"{key}.tolerance", a.tolerance)
    positive(f"{key}.sync_period_s", a.sync_period_s)
    for m in a.metrics or []:
        choice(f"{key}.metrics", m, AUTOSCALER_METRICS)
    if a.metrics is not None and not a.metrics:
        raise fail(f"{key}.metrics", [], "null or a non-empty list of "
                    + ", ".join(AUTOSCALER_METRICS))
    positive(f"{key}.target_queue_per_instance", a.target_queue_per_instance)
    positive(f"{key}.target_listeners_per_instance", a.target_listeners_per_instance,
             optional=True)


def _validate_behavior(key: str, a: AutoscalerConfig) -> None:
    for side in ("scale_up", "scale_down"):
        rules = getattr(a.behavior, side)
        k = f"{key}.behavior.{side}"
        non_negative(f"{k}.stabilization_window_s", rules.stabilization_window_s)
        choice(f"{k}.select_policy", rules.select_policy, SELECT_POLICIES)
        if rules.select_policy != "Disabled" and not rules.policies:
            raise fail(f"{k}.policies", [], "at least one policy unless select_policy is "
                        "Disabled")
        for i, pol in enumerate(rules.policies):
            choice(f"{k}.policies[{i}].type", pol.type, SCALING_POLICY_TYPES)
            positive(f"{k}.policies[{i}].value", pol.value)
            positive(f"{k}.policies[{i}].period_s", pol.period_s)


def _validate_steps(key: str, a: AutoscalerConfig) -> None:
    """Step adjustments: required by ``step``; intervals that are not empty, do not
    overlap, and adjust by a finite non-zero amount."""
    if a.kind == "step" and not a.steps:
        raise fail(f"{key}.steps", [], "at least one step adjustment for kind step")
    spans = []
    for i, stp in enumerate(a.steps):
        lo = -math.inf if stp.lower is None else stp.lower
        hi = math.inf if stp.upper is None else stp.upper
        if not lo < hi:
            raise fail(f"{key}.steps[{i}].upper", stp.upper,
                        f"greater than steps[{i}].lower ({stp.lower})")
        if stp.adjustment == 0 or not math.isfinite(stp.adjustment):
            raise fail(f"{key}.steps[{i}].adjustment", stp.adjustment,
                        "a finite non-zero number")
        spans.append((lo, hi, i))
    spans.sort()
    for (_, hi1, _), (lo2, _, j) in itertools.pairwise(spans):
        if lo2 < hi1:
            raise fail(f"{key}.steps[{j}].lower", a.steps[j].lower,
                        "step intervals that do not overlap")


def _validate_simple(key: str, a: AutoscalerConfig) -> None:
    share(f"{key}.scale_in_threshold", a.scale_in_threshold)
    if a.kind == "simple" and a.scale_in_threshold >= a.target_utilization:
        raise fail(f"{key}.scale_in_threshold", a.scale_in_threshold,
                    f"below target_utilization ({a.target_utilization})")
    allowed = declare(f"{key}.scale_out_adjustment", Bound(0.0, min_open=True, text="a number > 0"))
    if not a.scale_out_adjustment > 0:
        raise fail(f"{key}.scale_out_adjustment", a.scale_out_adjustment, allowed)
    allowed = declare(f"{key}.scale_in_adjustment",
                      Bound(maximum=0.0, max_open=True, text="a number < 0"))
    if not a.scale_in_adjustment < 0:
        raise fail(f"{key}.scale_in_adjustment", a.scale_in_adjustment, allowed)
    non_negative(f"{key}.cooldown_s", a.cooldown_s)


def _validate_schedule(key: str, a: AutoscalerConfig) -> None:
    for i, act in enumerate(a.schedule):
        k = f"{key}.schedule[{i}]"
        if not isinstance(act.at_s, int | float) or not math.isfinite(act.at_s):
            raise fail(f"{k}.at_s", act.at_s, "a finite number (seconds from the event "
                        "start)")
        if act.min_instances is None and act.max_instances is None and act.desired is None:
            raise fail(k, "{}", "at least one of min_instances, max_instances, desired")
        for opt in ("min_instances", "max_instances", "desired"):
            v = getattr(act, opt)
            least = 1 if opt == "max_instances" else 0
            allowed = declare(f"{k}.{opt}", at_least(least, f"null or an integer >= {least}"))
            if v is not None and v < least:
                raise fail(f"{k}.{opt}", v, allowed)


def _validate_predictive_and_pool(key: str, a: AutoscalerConfig) -> None:
    p = a.predictive
    non_negative(f"{key}.predictive.lead_s", p.lead_s)
    positive(f"{key}.predictive.period_s", p.period_s)
    allowed = declare(f"{key}.predictive.forecast_error", Bound(
        -1.0, min_open=True, text="a number > -1 (relative error of the forecast)"))
    if not isinstance(p.forecast_error, int | float) or not p.forecast_error > -1 \
            or not math.isfinite(p.forecast_error):
        raise fail(f"{key}.predictive.forecast_error", p.forecast_error, allowed)
    w = a.warm_pool
    allowed = declare(f"{key}.warm_pool.size", at_least(0, "an integer >= 0"))
    if not isinstance(w.size, int) or w.size < 0:
        raise fail(f"{key}.warm_pool.size", w.size, allowed)
    non_negative(f"{key}.warm_pool.delay_s", w.delay_s)
    share(f"{key}.warm_pool.price_share", w.price_share)


def _validate_lifecycle(key: str, a: AutoscalerConfig) -> None:
    non_negative(f"{key}.provisioning_delay_s", a.provisioning_delay_s, optional=True)
    choice(f"{key}.provisioning_dist", a.provisioning_dist, DISTRIBUTIONS)
    if a.provisioning_dist in ("lognormal", "gamma"):
        positive(f"{key}.provisioning_cv", a.provisioning_cv)
    non_negative(f"{key}.warmup_s", a.warmup_s)
    allowed = declare(f"{key}.warmup_speed", between(0, 1, "a number in (0, 1]", lo_open=True))
    if not isinstance(a.warmup_speed, int | float) or not 0 < a.warmup_speed <= 1:
        raise fail(f"{key}.warmup_speed", a.warmup_speed, allowed)
    allowed = declare(f"{key}.min_instances", at_least(0, "null or an integer >= 0"))
    if a.min_instances is not None and a.min_instances < 0:
        raise fail(f"{key}.min_instances", a.min_instances, allowed)
    allowed = declare(f"{key}.max_instances", at_least(1, "null or an integer >= 1"))
    if a.max_instances is not None and a.max_instances < 1:
        raise fail(f"{key}.max_instances", a.max_instances, allowed)
    allowed = declare(f"{key}.max_launches_per_min", at_least(1, "null or an integer >= 1"))
    if a.max_launches_per_min is not None and a.max_launches_per_min < 1:
        raise fail(f"{key}.max_launches_per_min", a.max_launches_per_min, allowed)


def check_autoscaler_keys(a: AutoscalerConfig) -> None:
    """Refuse a key that no kind in effect uses: of the block (its kind, or any kind a
    station takes from ``per_station``), and of each station's overrides (that
    station's kind)."""
    default = AutoscalerConfig()
    station_kinds = sorted({str(over["kind"]) for name in a.per_station
                            if (over := _overrides(a, name)) and "kind" in over})
    also = (f" (nor by a kind of autoscaler.per_station: {', '.join(station_kinds)})"
            if station_kinds else "")
    check_kind_keys("autoscaler", a, default, AUTOSCALER_KIND_KEYS,
                    free=("per_station",), kinds=station_kinds, also=also, group="autoscaler")
    for name in a.per_station:
        over = _overrides(a, name)
        if not over:
            continue
        st = station_autoscaler(a, name)
        given = AutoscalerConfig(**{f.name: getattr(a if f.name not in over else st, f.name)
                                    for f in fields(AutoscalerConfig)})
        where = f"autoscaler.per_station.{name}"
        check_kind_keys(where, given, a, AUTOSCALER_KIND_KEYS,
                        free=("stations", "per_station", "event_start_s"),
                        shown=f"{where}.kind" if "kind" in over else "autoscaler.kind")

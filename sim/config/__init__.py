"""The configuration schema and its validation.

The dataclasses of this package are the schema: Hydra's ConfigStore holds them
(``register``), and the YAML files in ``configs/`` are options that fill them in. Each
config group has its module, with its dataclasses and their validation side by side:

- ``run``: the run (horizon, seed, resolution, replications);
- ``arrivals``: the arrival curve;
- ``architecture``: stations, routes, the waiting room and listeners' polling;
- ``clients``: timeouts, retries, sessions and the client-side policies;
- ``autoscaler``: the autoscalers and the instance lifecycle;
- ``attack`` and ``mitigation``: the attack mix and what stands against it;
- ``slo`` and ``report``: what holds, and the launch verdict.

Closed sets of names (kinds, policies, distributions) are enums (``ArrivalKind``,
``RetryPolicy``, ...), so OmegaConf rejects an unknown name while the config is
composed; the tuples of their names (``ARRIVAL_KINDS``, ``RETRY_POLICIES``, ...) stay
for code that lists them. OmegaConf also rejects unknown keys and wrong types;
``explain`` translates its errors into one paragraph that names the key and what is
allowed there. ``validate`` (``root``) then checks ranges and cross-field rules (routes
to stations that exist, shares that add up, a trace file that parses) and refuses a
key the selected kind of a group does not use (``kinds``), raising ``ConfigError`` with
one paragraph naming the key. All of it runs before any simulation starts.

Data files named in a config (an arrival trace) are found by the rule of ``paths``
(absolute as is; relative in the current directory, then among the shipped configs) and
read by ``trace``. ``overrides`` checks a command line before Hydra composes it: a
config group chosen twice, an empty output directory. ``bounds`` answers what numbers a
key accepts, from the bounds the range checks declare (``errors``) as they run.

Everything is importable from ``sim.config`` itself.
"""

from .architecture import (
    CONCURRENCY,
    ArchitectureConfig,
    Concurrency,
    CrashConfig,
    Distribution,
    FailureConfig,
    OutageConfig,
    PollingConfig,
    ServiceConfig,
    SlowdownConfig,
    StationConfig,
    WaitingRoomConfig,
)
from .arrivals import (
    ARRIVAL_KIND_KEYS,
    ARRIVAL_KINDS,
    ArrivalKind,
    ArrivalsConfig,
    component_config,
)
from .attack import (
    ATTACK_KIND_KEYS,
    ATTACK_KINDS,
    AttackConfig,
    AttackKind,
    AttackVectorConfig,
)
from .autoscaler import (
    ADJUSTMENT_TYPES,
    AUTOSCALER_KIND_KEYS,
    AUTOSCALER_KINDS,
    AUTOSCALER_METRICS,
    SCALING_POLICY_TYPES,
    SELECT_POLICIES,
    STATION_AUTOSCALER_KEYS,
    AdjustmentType,
    AutoscalerConfig,
    AutoscalerKind,
    AutoscalerMetric,
    BehaviorConfig,
    PredictiveConfig,
    ScalingPolicyConfig,
    ScalingPolicyType,
    ScalingRulesConfig,
    ScheduledActionConfig,
    SelectPolicy,
    StepAdjustmentConfig,
    WarmPoolConfig,
    autoscaled_stations,
    station_autoscaler,
)
from .bounds import bound, bounds
from .clients import (
    CLIENT_POLICY_SCOPES,
    RETRY_POLICIES,
    AdaptiveThrottlingConfig,
    CircuitBreakerConfig,
    ClientsConfig,
    RetryBudgetConfig,
    RetryConfig,
    RetryPolicy,
    Scope,
    SessionConfig,
)
from .errors import Bound, ConfigError
from .explain import (
    allowed_keys,
    check_keys,
    describe_type,
    explain,
    schema_type,
    unknown_key,
)
from .kinds import as_plain
from .mitigation import (
    CHALLENGE_ENGAGE,
    ChallengeConfig,
    ChallengeEngage,
    MitigationConfig,
    ScrubbingConfig,
    SourceRateLimitConfig,
    WafConfig,
)
from .overrides import check_overrides, config_groups
from .paths import resolve_path, shipped_config_dir
from .report import ReportConfig
from .root import SimConfig, check_unused_keys, register, to_config, validate
from .run import RunConfig
from .slo import SloConfig
from .trace import read_trace

__all__ = [
    "ADJUSTMENT_TYPES",
    "ARRIVAL_KINDS",
    "ARRIVAL_KIND_KEYS",
    "ATTACK_KINDS",
    "ATTACK_KIND_KEYS",
    "AUTOSCALER_KINDS",
    "AUTOSCALER_KIND_KEYS",
    "AUTOSCALER_METRICS",
    "CHALLENGE_ENGAGE",
    "CLIENT_POLICY_SCOPES",
    "CONCURRENCY",
    "RETRY_POLICIES",
    "SCALING_POLICY_TYPES",
    "SELECT_POLICIES",
    "STATION_AUTOSCALER_KEYS",
    "AdaptiveThrottlingConfig",
    "AdjustmentType",
    "ArchitectureConfig",
    "ArrivalKind",
    "ArrivalsConfig",
    "AttackConfig",
    "AttackKind",
    "AttackVectorConfig",
    "AutoscalerConfig",
    "AutoscalerKind",
    "AutoscalerMetric",
    "BehaviorConfig",
    "Bound",
    "ChallengeConfig",
    "ChallengeEngage",
    "CircuitBreakerConfig",
    "ClientsConfig",
    "Concurrency",
    "ConfigError",
    "CrashConfig",
    "Distribution",
    "FailureConfig",
    "MitigationConfig",
    "OutageConfig",
    "PollingConfig",
    "PredictiveConfig",
    "ReportConfig",
    "RetryBudgetConfig",
    "RetryConfig",
    "RetryPolicy",
    "RunConfig",
    "ScalingPolicyConfig",
    "ScalingPolicyType",
    "ScalingRulesConfig",
    "ScheduledActionConfig",
    "Scope",
    "ScrubbingConfig",
    "SelectPolicy",
    "ServiceConfig",
    "SessionConfig",
    "SimConfig",
    "SloConfig",
    "SlowdownConfig",
    "SourceRateLimitConfig",
    "StationConfig",
    "StepAdjustmentConfig",
    "WafConfig",
    "WaitingRoomConfig",
    "WarmPoolConfig",
    "allowed_keys",
    "as_plain",
    "autoscaled_stations",
    "bound",
    "bounds",
    "check_keys",
    "check_overrides",
    "check_unused_keys",
    "component_config",
    "config_groups",
    "describe_type",
    "explain",
    "read_trace",
    "register",
    "resolve_path",
    "schema_type",
    "shipped_config_dir",
    "station_autoscaler",
    "to_config",
    "unknown_key",
    "validate",
]

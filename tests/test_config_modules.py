"""The modules of ``sim.config``, one by one, without Hydra: the schema's enums, the
messages ``explain`` makes of OmegaConf's errors, traces and paths, the members of a
sum, per-station autoscalers, the order of ``validate`` and the package's names."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pkgutil
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

import sim.config
from sim.config import (
    ConfigError,
    SimConfig,
    component_config,
    describe_type,
    read_trace,
    resolve_path,
    schema_type,
    shipped_config_dir,
    station_autoscaler,
    to_config,
    validate,
)
from sim.config.architecture import Distribution
from sim.config.kinds import unused_key
from sim.engine.streams import DISTRIBUTIONS

# Every name the configuration module offered before it became a package.
NAMES = (
    "ARRIVAL_KINDS", "RETRY_POLICIES", "CONCURRENCY", "AUTOSCALER_KINDS", "AUTOSCALER_METRICS",
    "SELECT_POLICIES", "SCALING_POLICY_TYPES", "ADJUSTMENT_TYPES", "ConfigError",
    "ServiceConfig", "OutageConfig", "SlowdownConfig", "CrashConfig", "FailureConfig",
    "StationConfig", "WaitingRoomConfig", "PollingConfig", "ArchitectureConfig",
    "ArrivalsConfig", "RetryConfig", "SessionConfig", "RetryBudgetConfig",
    "AdaptiveThrottlingConfig", "CircuitBreakerConfig", "ClientsConfig", "ScalingPolicyConfig",
    "ScalingRulesConfig", "BehaviorConfig", "StepAdjustmentConfig", "ScheduledActionConfig",
    "PredictiveConfig", "WarmPoolConfig", "AutoscalerConfig", "AttackVectorConfig",
    "ATTACK_KINDS", "AttackConfig", "WafConfig", "SourceRateLimitConfig", "ChallengeConfig",
    "ScrubbingConfig", "MitigationConfig", "SloConfig", "RunConfig", "ReportConfig",
    "SimConfig", "register", "to_config", "schema_type", "describe_type", "allowed_keys",
    "unknown_key", "explain", "check_keys", "shipped_config_dir", "resolve_path", "validate",
    "component_config", "read_trace", "CLIENT_POLICY_SCOPES", "STATION_AUTOSCALER_KEYS",
    "autoscaled_stations", "station_autoscaler",
)

MODULES = sorted(m.name for m in pkgutil.iter_modules(sim.config.__path__))
SPACES = OmegaConf.to_container(OmegaConf.load(
    shipped_config_dir() / "architecture" / "spaces.yaml"))


def scenario(**groups: Any) -> dict[str, Any]:
    return {"architecture": copy.deepcopy(SPACES), "arrivals": {"kind": "constant"}, **groups}


def refused(cfg: Any) -> str:
    with pytest.raises(ConfigError) as err:
        to_config(cfg)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("Invalid configuration: "), msg
    return msg


# -- the package --------------------------------------------------------------------------

def test_every_former_name_is_importable_from_the_package() -> None:
    missing = [n for n in NAMES if not hasattr(sim.config, n)]
    assert not missing
    assert set(NAMES) <= set(sim.config.__all__)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_says_what_it_holds(name: str) -> None:
    doc = importlib.import_module(f"sim.config.{name}").__doc__ or ""
    assert len(doc.split()) >= 40, f"sim.config.{name}: a short docstring"


def enums() -> list[type[Enum]]:
    return sorted({v for m in MODULES
                   for v in vars(importlib.import_module(f"sim.config.{m}")).values()
                   if isinstance(v, type) and issubclass(v, Enum) and v is not Enum
                   and v.__module__.startswith("sim.config")}, key=lambda e: e.__name__)


@pytest.mark.parametrize("enum", enums(), ids=lambda e: e.__name__)
def test_enum_names_are_their_values(enum: type[Enum]) -> None:
    """OmegaConf reads a name (``kind: flash_crowd``) as the member of that name; the
    model compares the member with the text, so both must be the same string."""
    for m in enum:
        assert m.name == m.value and m == m.value and f"{m}" == m.value


def test_the_name_tuples_follow_the_enums() -> None:
    c = sim.config
    pairs = [(c.ARRIVAL_KINDS, c.ArrivalKind), (c.RETRY_POLICIES, c.RetryPolicy),
             (c.AUTOSCALER_KINDS, c.AutoscalerKind), (c.ATTACK_KINDS, c.AttackKind),
             (c.AUTOSCALER_METRICS, c.AutoscalerMetric), (c.CONCURRENCY, c.Concurrency),
             (c.SELECT_POLICIES, c.SelectPolicy), (c.ADJUSTMENT_TYPES, c.AdjustmentType),
             (c.SCALING_POLICY_TYPES, c.ScalingPolicyType),
             (c.CLIENT_POLICY_SCOPES, c.Scope), (DISTRIBUTIONS, Distribution)]
    for names, enum in pairs:
        assert names == tuple(m.value for m in enum), enum.__name__


def test_a_composed_config_reads_back_the_same() -> None:
    """Enums are written as their names: config.yaml does not change."""
    cfg = to_config(scenario(arrivals={"kind": "flash_crowd"},
                             clients={"retry": {"policy": "immediate"}}))
    text = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    assert "kind: flash_crowd" in text and "policy: immediate" in text
    assert OmegaConf.to_yaml(OmegaConf.structured(to_config(
        OmegaConf.create(text)))) == text


# -- explain: names outside a closed set, keys of list items ------------------------------

@pytest.mark.parametrize(("groups", "expected"), [
    ({"arrivals": {"kind": "bogus"}},
     "arrivals.kind = 'bogus'; allowed: one of constant, ramp, flash_crowd, diurnal, "
     "trace, sum, batch."),
    ({"clients": {"retry": {"policy": 3}}}, "clients.retry.policy = '3'; allowed: one of none"),
    ({"clients": {"circuit_breaker": {"scope": "all"}}},
     "clients.circuit_breaker.scope = 'all'; allowed: one of shared, per_client."),
    ({"autoscaler": {"kind": "hpa",
                     "behavior": {"scale_up": {"policies": [{"type": "Podz"}]}}}},
     "autoscaler.behavior.scale_up.policies[0].type = 'Podz'; allowed: one of Pods, "
     "Percent."),
    ({"autoscaler": {"kind": "hpa", "metrics": ["cpu", "latency"]}},
     "autoscaler.metrics = 'latency'; allowed: one of cpu, queue, listeners."),
    ({"attack": {"vectors": {"v": {"kind": "syn_flood"}}}},
     "attack.vectors.v.kind = 'syn_flood'; allowed: one of l7_join_flood"),
])
def test_a_name_outside_its_set_is_named_with_the_set(groups: dict[str, Any],
                                                      expected: str) -> None:
    assert refused(scenario(**groups)).startswith("Invalid configuration: " + expected)


def test_a_missing_kind_says_which_names_are_allowed() -> None:
    msg = refused(scenario(arrivals={"kind": None}))
    assert "arrivals.kind" in msg and "one of constant, ramp" in msg


def test_schema_type_steps_into_list_items() -> None:
    assert schema_type("autoscaler.steps[0].lower") == float | None
    assert schema_type("autoscaler.behavior.scale_up.policies[1].period_s") is float
    assert schema_type("arrivals.kind[0]") is None
    assert schema_type("architecture.stations.edge.service.dist") is Distribution


def test_describe_type_lists_an_enum() -> None:
    assert describe_type(sim.config.RetryPolicy).startswith("one of none, fixed, ")
    assert describe_type(sim.config.AutoscalerKind | None) == \
        "null or one of none, hpa, target_tracking, step, simple"


# -- traces and paths ---------------------------------------------------------------------

def test_a_relative_path_is_found_among_the_shipped_configs(tmp_path: Path,
                                                             monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    found = resolve_path("arrivals/example_trace.csv")
    assert found == (shipped_config_dir() / "arrivals" / "example_trace.csv").resolve()
    (tmp_path / "arrivals").mkdir()
    (tmp_path / "arrivals" / "example_trace.csv").write_text("t_s,rate\n0,1\n1,1\n")
    assert resolve_path("arrivals/example_trace.csv") == \
        (tmp_path / "arrivals" / "example_trace.csv").resolve()
    assert resolve_path(str(tmp_path / "nope.csv")) is None


def test_to_config_records_the_trace_it_read(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = to_config(scenario(arrivals={"kind": "sum", "components": [
        {"kind": "trace", "path": "arrivals/example_trace.csv"}]}))
    assert Path(cfg.arrivals.components[0]["path"]).is_absolute()


@pytest.mark.parametrize(("text", "words"), [
    ("t_s,rate\n0,10\n60,20\n\n120,0\n", None),
    ("time,rate\n0,1\n1,1\n", ["header is t_s,rate"]),
    ("t_s,rate\n0,1\n0,1\n", ["strictly increasing", "line 3"]),
    ("t_s,rate\n0,-1\n1,1\n", ["rates >= 0", "line 2"]),
    ("t_s,rate\n0,1\n", ["at least two rows"]),
])
def test_read_trace(text: str, words: list[str] | None, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    if words is None:
        assert read_trace("k", str(path)) == ([0.0, 60.0, 120.0], [10.0, 20.0, 0.0])
        return
    with pytest.raises(ConfigError) as err:
        read_trace("arrivals.path", str(path))
    assert str(err.value).startswith(f"Invalid configuration: arrivals.path = '{path}'")
    for w in words:
        assert w in str(err.value)


# -- members of a sum, per-station autoscalers --------------------------------------------

@pytest.mark.parametrize(("comp", "expected"), [
    ({"kind": "bogus"}, "k.kind = 'bogus'; allowed: one of constant, "),
    ({"kind": "constant", "rate": "lots"}, "k = {'kind': 'constant', 'rate': 'lots'}; "
                                           "allowed: values of the right type"),
    ({"kind": "bogus", "rate": "lots"}, "k = {'kind': 'bogus', 'rate': 'lots'}; allowed: "
                                        "values of the right type"),
    ({"kind": "constant", "rte": 1}, "k.rte = 1; allowed: keys of an arrival curve"),
    (3, "k = 3; allowed: a mapping with kind"),
])
def test_component_config_errors(comp: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        component_config("k", comp)
    assert str(err.value).startswith("Invalid configuration: " + expected), str(err.value)


def test_component_config_builds_the_schema() -> None:
    c = component_config("k", {"kind": "batch", "count": 3})
    assert c.kind == "batch" and c.count == 3 and c.t0_s == 300.0


def test_station_autoscaler_merges_and_names_a_bad_name() -> None:
    a = sim.config.AutoscalerConfig(kind="hpa",  # type: ignore[arg-type]
                                    per_station={"join": {"kind": "step", "cooldown_s": 9}})
    st = station_autoscaler(a, "join")
    assert st.kind == "step" and st.cooldown_s == 9 and st.per_station == {}
    assert station_autoscaler(a, "edge") is a
    bad = dataclasses.replace(a, per_station={"join": {"kind": "bogus"}})
    with pytest.raises(ConfigError, match=r"^Invalid configuration: autoscaler\.per_station"
                                          r"\.join\.kind = 'bogus'; allowed: one of none, "):
        station_autoscaler(bad, "join")


# -- validate -----------------------------------------------------------------------------

def test_validate_reports_the_groups_in_order() -> None:
    """Two problems: the run's is reported before the arrivals', and a key the kind does
    not use only once everything else holds."""
    cfg = to_config(scenario())
    both = dataclasses.replace(
        cfg, run=dataclasses.replace(cfg.run, seed=-1),
        arrivals=dataclasses.replace(cfg.arrivals, rate=-1.0, audience=5.0))
    with pytest.raises(ConfigError, match=r"run\.seed"):
        validate(both)
    arrivals = dataclasses.replace(both, run=cfg.run)
    with pytest.raises(ConfigError, match=r"arrivals\.rate = -1\.0; allowed: a positive"):
        validate(arrivals)
    unused = dataclasses.replace(arrivals, arrivals=dataclasses.replace(
        cfg.arrivals, audience=5.0))
    with pytest.raises(ConfigError, match=r"arrivals\.audience = 5\.0 is not used"):
        validate(unused)


def test_a_config_built_in_python_with_plain_names_validates() -> None:
    cfg = to_config(scenario())
    retry = dataclasses.replace(cfg.clients.retry, policy="bogus")  # type: ignore[arg-type]
    bad = dataclasses.replace(cfg, clients=dataclasses.replace(cfg.clients, retry=retry))
    with pytest.raises(ConfigError, match=r"clients\.retry\.policy = 'bogus'; allowed: one "
                                          r"of none, fixed"):
        validate(bad)
    ok = dataclasses.replace(cfg, arrivals=sim.config.ArrivalsConfig(
        kind="ramp", rate_end=50.0))  # type: ignore[arg-type]
    validate(ok)
    assert isinstance(to_config(SimConfig(architecture=ok.architecture)), SimConfig)


def test_the_unused_key_message() -> None:
    msg = str(unused_key("arrivals.audience", 1e6, "arrivals.kind", "constant", ("rate",),
                         ["flash_crowd"], group="arrivals"))
    assert msg == ("Invalid configuration: arrivals.audience = 1000000.0 is not used by "
                   "arrivals.kind = constant; constant uses: rate. Remove the key or choose "
                   "a kind that uses it (flash_crowd). (Changing arrivals.kind alone keeps "
                   "the keys of the option chosen before; arrivals=<option> starts afresh.)")


def test_as_plain_is_what_config_yaml_reads_back() -> None:
    """``as_plain`` (used where the report lists what a run changed) gives the dict a run's
    config.yaml reads back as, for every option of every config group."""
    import yaml

    from sim.compose import compose
    from sim.config import as_plain

    root = shipped_config_dir()
    checked = 0
    for path in sorted(Path(root).glob("*/*.yaml")):
        try:
            cfg = to_config(compose([f"{path.parent.name}={path.stem}"]))
        except ConfigError:
            continue  # an option that needs another group's (checked with it elsewhere)
        want = yaml.safe_load(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
        assert repr(as_plain(cfg)) == repr(want), path
        checked += 1
    assert checked >= 20

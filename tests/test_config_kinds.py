"""A key the selected kind does not use is refused; every key it uses is accepted; every
shipped option composes.

The cases are generated from the tables of ``sim.config`` (``ARRIVAL_KIND_KEYS``,
``AUTOSCALER_KIND_KEYS``, ``ATTACK_KIND_KEYS``) and the fields of the schema, so a new
key or kind is covered without touching this file; ``ALTERNATIVE`` gives each key a
valid value other than its default (a key missing there fails ``test_every_key_has_an_
alternative``). Apart from the last tests, which compose the shipped configs with Hydra,
the configs are built as dataclasses and checked with ``validate``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from sim.config import (
    ARRIVAL_KIND_KEYS,
    ARRIVAL_KINDS,
    ATTACK_KIND_KEYS,
    ATTACK_KINDS,
    AUTOSCALER_KIND_KEYS,
    AUTOSCALER_KINDS,
    RETRY_POLICIES,
    ArrivalsConfig,
    AttackConfig,
    AttackVectorConfig,
    AutoscalerConfig,
    BehaviorConfig,
    ConfigError,
    PredictiveConfig,
    ScalingPolicyConfig,
    ScalingRulesConfig,
    ScheduledActionConfig,
    SimConfig,
    StepAdjustmentConfig,
    WarmPoolConfig,
    check_overrides,
    shipped_config_dir,
    to_config,
    validate,
)

CONFIGS = shipped_config_dir()
TRACE = "arrivals/example_trace.csv"

# A valid value other than the schema default for every key of the three blocks, valid
# whatever the kind (the kind's own rules included: early_window_s <= t0_s, ...).
ALTERNATIVE: dict[str, dict[str, Any]] = {
    "arrivals": {
        "rate": 50.0, "audience": 1000.0, "t0_s": 400.0, "early_share": 0.2,
        "early_window_s": 200.0, "push_window_s": 30.0, "reaction_median_s": 10.0,
        "reaction_sigma": 0.5, "tail_share": 0.3, "tail_tau_s": 300.0, "start_s": 10.0,
        "end_s": 700.0, "rate_start": 5.0, "rate_end": 50.0, "base_rate": 20.0,
        "amplitude": 0.3, "period_s": 3600.0, "phase_s": 60.0,
        "path": str(CONFIGS / TRACE), "scale": 2.0,
        "components": [{"kind": "constant", "rate": 7.0}], "count": 10,
    },
    "autoscaler": {
        "target_utilization": 0.7, "tolerance": 0.2, "sync_period_s": 30.0,
        "stations": ["join"], "metrics": ["cpu", "queue"], "target_queue_per_instance": 20.0,
        "target_listeners_per_instance": 500.0,
        "behavior": BehaviorConfig(scale_down=ScalingRulesConfig(
            60.0, "Max", [ScalingPolicyConfig("Pods", 2.0, 30.0)])),  # type: ignore[arg-type]
        "datapoints_out": 2, "datapoints_in": 10,
        "adjustment_type": "PercentChangeInCapacity", "min_adjustment_magnitude": 2,
        "steps": [StepAdjustmentConfig(0.0, None, 2.0)], "scale_in_threshold": 0.2,
        "scale_out_adjustment": 2.0, "scale_in_adjustment": -2.0, "cooldown_s": 120.0,
        "event_start_s": 100.0, "schedule": [ScheduledActionConfig(-60.0, 2)],
        "predictive": PredictiveConfig(enabled=True), "warm_pool": WarmPoolConfig(size=2),
        "provisioning_delay_s": 30.0, "provisioning_dist": "lognormal",
        "provisioning_cv": 0.3, "warmup_s": 60.0, "warmup_speed": 0.8, "min_instances": 2,
        "max_instances": 50, "max_launches_per_min": 10,
    },
    "attack": {
        "enter": "auth", "stop_after": "join", "rate_rps": 50.0, "start_s": 10.0,
        "end_s": 300.0, "ramp_s": 5.0, "sources": 50, "lookup": "token_store",
        "gbps": 5.0, "packet_bytes": 500.0, "hold_s": 30.0, "session_s": 600.0,
    },
}
SELECTOR = "kind"
FREE = {"arrivals": (), "autoscaler": ("per_station",), "attack": ()}
TABLES = {"arrivals": ARRIVAL_KIND_KEYS, "autoscaler": AUTOSCALER_KIND_KEYS,
          "attack": ATTACK_KIND_KEYS}
KINDS = {"arrivals": ARRIVAL_KINDS, "autoscaler": AUTOSCALER_KINDS, "attack": ATTACK_KINDS}
SCHEMA = {"arrivals": ArrivalsConfig, "autoscaler": AutoscalerConfig,
          "attack": AttackVectorConfig}


def _base() -> SimConfig:
    arch = OmegaConf.to_container(OmegaConf.load(CONFIGS / "architecture" / "spaces.yaml"))
    return to_config({"architecture": arch, "arrivals": {"kind": "constant"}})


BASE = _base()


def block(group: str, kind: str) -> Any:
    """The smallest valid block of ``kind``: defaults, and what the kind requires."""
    if group == "arrivals":
        extra: dict[str, Any] = {"trace": {"path": TRACE},
                                 "sum": {"components": [{"kind": "constant", "rate": 5.0}]}
                                 }.get(kind, {})
        return ArrivalsConfig(kind=kind, **extra)  # type: ignore[arg-type]
    if group == "autoscaler":
        steps = [StepAdjustmentConfig(0.0, None, 1.0)] if kind == "step" else []
        return AutoscalerConfig(kind=kind, steps=steps)  # type: ignore[arg-type]
    return AttackVectorConfig(kind=kind, enter="edge",  # type: ignore[arg-type]
                              stop_after="auth" if kind == "auth_flood" else None)


def scenario(group: str, b: Any) -> SimConfig:
    cfg = copy.deepcopy(BASE)
    if group == "attack":
        return dataclasses.replace(cfg, attack=AttackConfig("a", {"v": b}))
    return dataclasses.replace(cfg, **{group: b})


def prefix(group: str) -> str:
    return "attack.vectors.v" if group == "attack" else group


def cases(used: bool) -> list[Any]:
    out = []
    for group, table in TABLES.items():
        for kind in table:
            for f in fields(SCHEMA[group]):
                if f.name == SELECTOR or f.name in FREE[group]:
                    continue
                if (f.name in table[kind]) == used:
                    out.append(pytest.param(group, kind, f.name,
                                            id=f"{group}.{kind}.{f.name}"))
    return out


def with_key(group: str, kind: str, key: str) -> SimConfig:
    b = block(group, kind)
    value = copy.deepcopy(ALTERNATIVE[group][key])
    assert value != getattr(b, key), f"{group}.{key}: the alternative is the base value"
    return scenario(group, dataclasses.replace(b, **{key: value}))


@pytest.mark.parametrize(("group", "kind", "key"), cases(used=False))
def test_a_key_the_kind_does_not_use_is_refused(group: str, kind: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(with_key(group, kind, key))
    msg = str(err.value)
    p = prefix(group)
    assert msg.startswith(f"Invalid configuration: {p}.{key} = "), msg
    assert f"is not used by {p}.kind = {kind};" in msg, msg
    uses = ", ".join(TABLES[group][kind]) or "no other key"
    assert f"{kind} uses: {uses}." in msg, msg
    users = [k for k, keys in TABLES[group].items() if key in keys]
    assert f"choose a kind that uses it ({', '.join(users)})" in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize(("group", "kind", "key"), cases(used=True))
def test_a_key_the_kind_uses_is_accepted(group: str, kind: str, key: str) -> None:
    validate(with_key(group, kind, key))


@pytest.mark.parametrize("group", list(TABLES))
def test_every_kind_has_a_table_and_every_key_a_user(group: str) -> None:
    table, names = TABLES[group], [f.name for f in fields(SCHEMA[group])]
    assert set(table) == set(KINDS[group])
    for kind, keys in table.items():
        assert set(keys) <= set(names), (kind, set(keys) - set(names))
        assert list(keys) == [n for n in names if n in keys], f"{kind}: not in schema order"
    used = {k for keys in table.values() for k in keys}
    assert set(names) - used == {SELECTOR, *FREE[group]}


@pytest.mark.parametrize("group", list(TABLES))
def test_every_key_has_an_alternative(group: str) -> None:
    names = {f.name for f in fields(SCHEMA[group])} - {SELECTOR, *FREE[group]}
    assert set(ALTERNATIVE[group]) == names


# -- members of a sum ---------------------------------------------------------------------

def component_cases(used: bool) -> list[Any]:
    return [pytest.param(kind, f.name, id=f"{kind}.{f.name}")
            for kind in ARRIVAL_KIND_KEYS if kind != "sum"
            for f in fields(ArrivalsConfig)
            if f.name != SELECTOR and (f.name in ARRIVAL_KIND_KEYS[kind]) == used]


def sum_of(kind: str, key: str) -> SimConfig:
    comp: dict[str, Any] = {"kind": kind, key: ALTERNATIVE["arrivals"][key]}
    if kind == "trace" and key != "path":
        comp["path"] = TRACE
    a = ArrivalsConfig(kind="sum", components=[comp])  # type: ignore[arg-type]
    return scenario("arrivals", a)


@pytest.mark.parametrize(("kind", "key"), component_cases(used=False))
def test_a_member_of_a_sum_refuses_a_key_its_kind_does_not_use(kind: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(sum_of(kind, key))
    msg = str(err.value)
    assert f"arrivals.components[0].{key} = " in msg, msg
    assert f"is not used by arrivals.components[0].kind = {kind};" in msg, msg


@pytest.mark.parametrize(("kind", "key"), component_cases(used=True))
def test_a_member_of_a_sum_accepts_the_keys_of_its_kind(kind: str, key: str) -> None:
    validate(sum_of(kind, key))


# -- autoscaler: kinds in effect ----------------------------------------------------------

def autoscaled(kind: str = "none", **keys: Any) -> SimConfig:
    a = AutoscalerConfig(kind=kind, **keys)  # type: ignore[arg-type]
    return scenario("autoscaler", a)


def test_a_station_kind_makes_the_blocks_keys_used() -> None:
    """A station that takes kind hpa inherits the block's tolerance: it is used."""
    validate(autoscaled(tolerance=0.2, per_station={"join": {"kind": "hpa"}}))
    with pytest.raises(ConfigError, match=r"autoscaler\.cooldown_s = 20\.0 is not used by "
                                          r"autoscaler\.kind = none \(nor by a kind of "
                                          r"autoscaler\.per_station: hpa\)"):
        validate(autoscaled(cooldown_s=20.0, per_station={"join": {"kind": "hpa"}}))


def test_a_station_override_is_checked_against_the_stations_kind() -> None:
    validate(autoscaled("hpa", per_station={"join": {"kind": "simple", "cooldown_s": 30}}))
    with pytest.raises(ConfigError, match=r"autoscaler\.per_station\.join\.tolerance = 0\.3 "
                                          r"is not used by autoscaler\.per_station\.join\.kind "
                                          r"= simple"):
        validate(autoscaled("hpa", per_station={"join": {"kind": "simple", "tolerance": 0.3}}))
    with pytest.raises(ConfigError, match=r"autoscaler\.per_station\.join\.cooldown_s = 20\.0 "
                                          r"is not used by autoscaler\.kind = hpa"):
        validate(autoscaled("hpa", per_station={"join": {"cooldown_s": 20}}))


# -- retries: switched with one key, so their settings are kept ---------------------------

@pytest.mark.parametrize("policy", RETRY_POLICIES)
def test_every_retry_policy_keeps_base_and_cap(policy: str) -> None:
    cfg = copy.deepcopy(BASE)
    retry = dataclasses.replace(cfg.clients.retry, policy=policy, base_s=0.5, cap_s=4.0,
                                max_attempts=3)
    validate(dataclasses.replace(cfg, clients=dataclasses.replace(cfg.clients, retry=retry)))


# -- the shipped configs ------------------------------------------------------------------

def shipped() -> list[str]:
    return [f"{g.name}={o.stem}" for g in sorted(CONFIGS.iterdir())
            if g.is_dir() and not g.name.startswith(("_", "."))
            for o in sorted(g.glob("*.yaml"))]


@pytest.mark.parametrize("choice", ["", *shipped()])
def test_every_shipped_option_composes_and_validates(choice: str) -> None:
    from sim.compose import compose

    to_config(compose([choice] if choice else []))


@pytest.mark.parametrize("choice", [["attack=mixed", "mitigation=all"],
                                    ["architecture=single_station", "arrivals=constant",
                                     "clients=patient"],
                                    ["autoscaler=hpa",
                                     "+autoscaler.per_station.fanout.kind=target_tracking",
                                     "+autoscaler.per_station.edge.kind=none"]])
def test_shipped_options_together(choice: list[str]) -> None:
    from sim.compose import compose

    to_config(compose(choice))


def test_the_command_refuses_an_unused_key_in_one_paragraph(tmp_path: Path) -> None:
    import subprocess
    import sys

    sim = Path(sys.executable).with_name("sim")
    out = tmp_path / "run"
    proc = subprocess.run([str(sim), "arrivals=constant", "arrivals.audience=1e6",
                           "run.horizon_s=120", "run.report=false", f"hydra.run.dir={out}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("sim: Invalid configuration: arrivals.audience = "
                                  "1000000.0 is not used by arrivals.kind = constant; "
                                  "constant uses: rate."), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not out.exists()


# -- the command line's overrides ---------------------------------------------------------

@pytest.mark.parametrize(("overrides", "words"), [
    (["clients=default", "clients=default"], ["config group clients is chosen twice",
                                              "'clients=default', then 'clients=default'"]),
    (["arrivals=constant", "arrivals=flash_crowd"], ["arrivals", "'arrivals=flash_crowd'"]),
    (["+experiment=desantis_2023", "~experiment"], ["experiment"]),
    (["hydra/sweeper=basic", "hydra/sweeper=failure_point"], ["hydra/sweeper"]),
    (["hydra.run.dir="], ["hydra.run.dir = ''", "current directory"]),
    (["hydra.run.dir=''"], ["hydra.run.dir = ''"]),
    (["hydra.sweep.dir= "], ["hydra.sweep.dir"]),
    (["hydra.sweep.subdir="], ["hydra.sweep.subdir", "sweep directory itself"]),
])
def test_check_overrides_refuses(overrides: list[str], words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        check_overrides(overrides)
    msg = str(err.value)
    assert msg.startswith("Invalid configuration: ") and "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("overrides", [
    ["arrivals=constant", "arrivals.rate=5", "arrivals.rate=6"],  # values: not groups
    ["arrivals=constant", "arrivals@other=ramp"],  # two packages
    ["run.seed=[1"],  # left to the composition
    ["hydra.run.dir=out", "hydra.sweep.dir=sweeps", "experiment=desantis_2023"],
])
def test_check_overrides_accepts(overrides: list[str]) -> None:
    check_overrides(overrides)


def test_check_overrides_knows_the_groups_of_a_config_dir(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    check_overrides(["mine=a", "mine=b"])
    with pytest.raises(ConfigError, match="config group mine"):
        check_overrides(["mine=a", "mine=b"], config_dir=tmp_path)

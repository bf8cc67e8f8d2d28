"""The whole scenario: ``SimConfig``, and how a config becomes one.

``SimConfig`` gathers the groups, one key each: ``run``, ``arrivals``,
``architecture``, ``clients``, ``autoscaler``, ``attack``, ``mitigation``, ``slo`` and
``report``. ``register`` puts it in Hydra's ConfigStore as ``sim_schema``, which the
primary config lists first, so every YAML option is composed onto the schema.

``to_config`` turns a composed config (or a plain mapping) into a ``SimConfig``: unknown
keys, wrong types and names outside a closed set become ``ConfigError`` (through
``sim.config.explain``), trace paths are made absolute (``sim.config.paths``), and
``validate`` runs. ``validate`` checks the groups in a fixed order (run, architecture,
arrivals, clients, autoscaler, attack, the stations' links, mitigation, SLO, report), so
a config with several problems is always refused for the same one, and refuses last any
key the selected kind of a group does not use (``sim.config.kinds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .architecture import ArchitectureConfig, validate_architecture, validate_links
from .arrivals import ArrivalsConfig, check_arrival_keys, validate_arrivals
from .attack import AttackConfig, check_attack_keys, validate_attack
from .autoscaler import AutoscalerConfig, check_autoscaler_keys, validate_autoscaler
from .clients import ClientsConfig, validate_clients
from .errors import ConfigError
from .explain import check_keys, explain
from .mitigation import MitigationConfig, validate_mitigation
from .paths import absolute_paths
from .report import ReportConfig, validate_report
from .run import RunConfig, validate_run
from .slo import SloConfig, validate_slo


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
        absolute_paths(sim)
    validate(sim)
    return sim


def validate(c: SimConfig) -> None:
    """Range and cross-field checks; raises ConfigError naming the key."""
    validate_run(c.run)
    validate_architecture(c.architecture)
    validate_arrivals("arrivals", c.arrivals)
    validate_clients(c.clients)
    validate_autoscaler(c.autoscaler, c.architecture)
    validate_attack(c.attack, c.architecture)
    validate_links(c.architecture)
    validate_mitigation(c.mitigation, c.attack, c.architecture)
    validate_slo(c.slo)
    validate_report(c.report)
    check_unused_keys(c)


def check_unused_keys(c: SimConfig) -> None:
    """Refuse a key that the selected kind of its group does not use (arrival curves,
    autoscalers, attack vectors; see ``sim.config.kinds``)."""
    check_arrival_keys("arrivals", c.arrivals)
    check_autoscaler_keys(c.autoscaler)
    check_attack_keys(c.attack)

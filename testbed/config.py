"""The testbed's configuration: its tiers, their sizes and service times.

``load(path)`` reads a YAML file shaped like ``default.yaml`` (the shipped sizes); every
key is checked, and a wrong one stops the service before it starts with a message that
names it. Service times are ``{dist, mean_s, cv}`` as in the simulator: ``lognormal``,
``gamma``, ``exponential`` or ``deterministic``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT = Path(__file__).with_name("default.yaml")
TIERS = ("edge", "auth", "token_store", "join", "fanout")
DISTS = ("lognormal", "gamma", "exponential", "deterministic")


@dataclass
class Service:
    dist: str = "lognormal"
    mean_s: float = 0.01
    cv: float = 0.5

    def sampler(self, rng: random.Random) -> Any:
        """A function drawing one service time (seconds) from this distribution."""
        m, cv = self.mean_s, self.cv
        if self.dist == "deterministic" or cv == 0:
            return lambda: m
        if self.dist == "exponential":
            return lambda: rng.expovariate(1.0 / m)
        if self.dist == "gamma":
            k = 1.0 / cv**2
            return lambda: rng.gammavariate(k, m / k)
        sigma = math.sqrt(math.log1p(cv**2))
        mu = math.log(m) - sigma**2 / 2
        return lambda: rng.lognormvariate(mu, sigma)


@dataclass
class Tier:
    workers: int = 1
    queue_limit: int = 100
    service: Service = field(default_factory=Service)


@dataclass
class TestbedConfig:
    seed: int = 1
    cache_hit_ratio: float = 0.8
    room_key_rps: float = 240.0
    connections: int = 600
    slots: int = 20000
    tiers: dict[str, Tier] = field(default_factory=dict)


class ConfigError(ValueError):
    """A wrong key or value in the testbed's configuration."""


def load(path: Path | str = DEFAULT) -> TestbedConfig:
    """The configuration in ``path`` (YAML), checked."""
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    known = {"seed", "cache_hit_ratio", "room_key_rps", "connections", "slots", "tiers"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(known))}")
    tiers_raw = raw.pop("tiers", None) or {}
    if sorted(tiers_raw) != sorted(TIERS):
        raise ConfigError(f"{path}: tiers must be exactly {', '.join(TIERS)}")
    cfg = TestbedConfig(**raw, tiers={name: _tier(name, t) for name, t in tiers_raw.items()})
    if not 0.0 <= cfg.cache_hit_ratio <= 1.0:
        raise ConfigError(f"cache_hit_ratio = {cfg.cache_hit_ratio}; allowed: 0 to 1")
    for key in ("room_key_rps", "connections", "slots"):
        if not getattr(cfg, key) > 0:
            raise ConfigError(f"{key} = {getattr(cfg, key)}; allowed: a number > 0")
    return cfg


def _tier(name: str, raw: dict[str, Any]) -> Tier:
    service = Service(**raw.get("service", {}))
    if service.dist not in DISTS:
        raise ConfigError(f"tiers.{name}.service.dist = {service.dist!r}; "
                          f"allowed: {', '.join(DISTS)}")
    if not service.mean_s > 0 or service.cv < 0:
        raise ConfigError(f"tiers.{name}.service: mean_s must be > 0 and cv >= 0")
    tier = Tier(workers=int(raw.get("workers", 1)), queue_limit=int(raw.get("queue_limit", 100)),
                service=service)
    if tier.workers < 1 or tier.queue_limit < 0:
        raise ConfigError(f"tiers.{name}: workers must be >= 1 and queue_limit >= 0")
    return tier

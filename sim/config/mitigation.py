"""The mitigations: ``mitigation``, what stands between the attack and the join path.

Four parts, each switched on by its ``enabled`` (sim/model/mitigation.py): upstream
``scrubbing`` of volumetric traffic up to a capacity; then, at the mitigating station
(``station``, by default the architecture's entry), a token bucket per source address
(``rate_limit_per_source``), bot/WAF detection (``waf``) and a challenge page
(``challenge``). The challenge is shown on every request (``engage: always``) or only
while the station is under attack (``engage: under_attack``: while the rate limit and
the WAF in front of it cut at least ``engage_flagged_share`` of the requests over the
trailing ``engage_window_s``, as a rate- or anomaly-triggered challenge does).
Per-vector tables (``waf.detection``, ``challenge.bot_pass``) are keyed
by attack kind or by vector name.

Validation checks the ranges of every part, enabled or not (switching a part off keeps
its settings, so they must stay valid), that the station exists, and that the tables
name attack kinds or vectors of the mix. The parts have no kinds: nothing here is
refused for being unused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .architecture import ArchitectureConfig
from .attack import ATTACK_KINDS, AttackConfig
from .errors import at_least, declare, fail, non_negative, positive, share


class ChallengeEngage(StrEnum):
    """When the challenge page is shown (``mitigation.challenge.engage``)."""

    always = "always"  # on every request (a challenge page switched on by hand)
    under_attack = "under_attack"  # while the rate limit and WAF flag an attack


CHALLENGE_ENGAGE = tuple(e.value for e in ChallengeEngage)


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
    """A challenge page (JavaScript or CAPTCHA): on every request (``engage: always``) or
    only while the mitigations in front of it flag an attack (``engage: under_attack``)."""

    enabled: bool = False
    legit_pass: float = 0.97  # share of legit users who pass
    bot_pass: dict[str, float] = field(default_factory=dict)  # vector name or kind -> p
    default_bot_pass: float = 0.05
    latency_s: float = 2.0  # added to every request that passes
    clearance: bool = True  # legit retries and reconnects are not challenged again
    cost_s: float = 0.0
    # always: every request meets the page; under_attack: only while the rate limit per
    # source and the WAF (one of them must be on) cut at least engage_flagged_share of
    # the requests they inspected over the trailing engage_window_s
    engage: ChallengeEngage = ChallengeEngage.always
    engage_flagged_share: float = 0.05  # under_attack: share of requests flagged that engages
    engage_window_s: float = 30.0  # under_attack: the trailing window of that share


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


def validate_mitigation(m: MitigationConfig, attack: AttackConfig,
                        arch: ArchitectureConfig) -> None:
    if m.station is not None and m.station not in arch.stations:
        raise fail("mitigation.station", m.station, "null (the entry) or a station: "
                    + ", ".join(sorted(arch.stations)))
    _validate_tables(m, attack)
    share("mitigation.waf.false_positive", m.waf.false_positive)
    r = m.rate_limit_per_source
    positive("mitigation.rate_limit_per_source.rps_per_source", r.rps_per_source)
    non_negative("mitigation.rate_limit_per_source.burst_per_source", r.burst_per_source)
    share("mitigation.rate_limit_per_source.legit_nat_share", r.legit_nat_share)
    allowed = declare("mitigation.rate_limit_per_source.legit_nat_addresses",
            at_least(1, "an integer >= 1"))
    if r.legit_nat_addresses < 1:
        raise fail("mitigation.rate_limit_per_source.legit_nat_addresses",
                    r.legit_nat_addresses, allowed)
    share("mitigation.challenge.legit_pass", m.challenge.legit_pass)
    non_negative("mitigation.challenge.latency_s", m.challenge.latency_s)
    share("mitigation.challenge.engage_flagged_share", m.challenge.engage_flagged_share)
    positive("mitigation.challenge.engage_window_s", m.challenge.engage_window_s)
    if (m.challenge.enabled and m.challenge.engage == ChallengeEngage.under_attack
            and not (m.waf.enabled or m.rate_limit_per_source.enabled)):
        raise fail("mitigation.challenge.engage", str(m.challenge.engage),
                    "always, or under_attack with mitigation.waf or "
                    "mitigation.rate_limit_per_source enabled (what they cut is its trigger)")
    for block in ("waf", "rate_limit_per_source", "challenge"):
        non_negative(f"mitigation.{block}.cost_s", getattr(m, block).cost_s)
    positive("mitigation.scrubbing.capacity_gbps", m.scrubbing.capacity_gbps)
    share("mitigation.scrubbing.detection", m.scrubbing.detection)
    share("mitigation.scrubbing.false_positive", m.scrubbing.false_positive)


def _validate_tables(m: MitigationConfig, attack: AttackConfig) -> None:
    """The per-vector tables of the WAF and the challenge: keys that are attack kinds or
    vector names, probabilities in [0, 1]."""
    names = set(attack.vectors) | set(ATTACK_KINDS)
    for block, table, default in (("waf", m.waf.detection, m.waf.default_detection),
                                  ("challenge", m.challenge.bot_pass,
                                   m.challenge.default_bot_pass)):
        label = "detection" if block == "waf" else "bot_pass"
        for k, p in table.items():
            if k not in names:
                raise fail(f"mitigation.{block}.{label}.{k}", p, "keys that are attack "
                            "kinds (" + ", ".join(ATTACK_KINDS) + ") or vector names of "
                            "the attack mix")
            share(f"mitigation.{block}.{label}.{k}", p)
        share(f"mitigation.{block}.default_{label}", default)

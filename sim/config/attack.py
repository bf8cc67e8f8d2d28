"""The attack mix: ``attack.vectors``, classes of requests that never retry.

Each vector (sim/model/attacks.py) sends at a rate that rises over ``ramp_s`` after
``start_s`` and stops at ``end_s``, into the station ``enter``, from ``sources``
addresses (what per-source rate limits see). What its requests do depends on its
``kind``: ``l7_join_flood`` (joins with invalid tokens, ended after ``stop_after``),
``auth_flood`` (credential stuffing: after ``stop_after``'s work each is looked up at
``lookup``), ``connection_exhaustion`` (slow clients holding an edge connection for
``hold_s``), ``volumetric`` (``gbps`` of ``packet_bytes`` packets at the entered
station's link) and ``bot_listeners`` (valid joins that hold a listener slot for
``session_s``).

Validation checks every vector's ranges and stations (a volumetric flood needs a link
to flood: ``link_gbps`` on the station it enters). A key the vector's kind does not use
must keep its default (``ATTACK_KIND_KEYS``, read off ``AttackVector`` and the
mitigations: a volumetric flood sends ``gbps``, not ``rate_rps``, and never meets a
per-source rate limit, so its ``sources`` are unused; a slow client never travels the
routes, so its ``stop_after`` is; only bots hold a slot and only credential stuffing
looks anything up).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum

from .architecture import ArchitectureConfig
from .errors import at_least, choice, declare, fail, non_negative, positive
from .kinds import check_kind_keys


class AttackKind(StrEnum):
    """The kinds of attack vector (``attack.vectors.<name>.kind``)."""

    l7_join_flood = "l7_join_flood"
    auth_flood = "auth_flood"
    connection_exhaustion = "connection_exhaustion"
    volumetric = "volumetric"
    bot_listeners = "bot_listeners"


ATTACK_KINDS = tuple(k.value for k in AttackKind)


@dataclass
class AttackVectorConfig:
    """One vector of an attack mix (sim/model/attacks.py); a per-kind key must keep its
    default in a vector of another kind."""

    kind: AttackKind = AttackKind.l7_join_flood
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


@dataclass
class AttackConfig:
    name: str = "none"
    vectors: dict[str, AttackVectorConfig] = field(default_factory=dict)


def _with(*keys: str) -> tuple[str, ...]:
    """The keys every vector reads (where and when it sends) and ``keys``, in the order
    of the schema."""
    wanted = {"enter", "start_s", "end_s", "ramp_s", *keys}
    return tuple(f.name for f in fields(AttackVectorConfig) if f.name in wanted)


# The keys each kind reads (``AttackVector`` in sim/model/attacks.py, the per-source rate
# limit in sim/model/mitigation.py).
ATTACK_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "l7_join_flood": _with("stop_after", "rate_rps", "sources"),
    "auth_flood": _with("stop_after", "rate_rps", "sources", "lookup"),
    "connection_exhaustion": _with("rate_rps", "sources", "hold_s"),
    "volumetric": _with("gbps", "packet_bytes"),
    "bot_listeners": _with("stop_after", "rate_rps", "sources", "session_s"),
}


def validate_attack(attack: AttackConfig, arch: ArchitectureConfig) -> None:
    """Every vector of the mix: its kind, stations and ranges."""
    for name, v in attack.vectors.items():
        if name == "legit":
            raise fail("attack.vectors", name, "any vector name but 'legit' (the clients)")
        _validate_vector(f"attack.vectors.{name}", v, arch)


def _validate_vector(key: str, v: AttackVectorConfig, arch: ArchitectureConfig) -> None:
    stations = sorted(arch.stations)
    choice(f"{key}.kind", v.kind, ATTACK_KINDS)
    if v.enter not in arch.stations:
        raise fail(f"{key}.enter", v.enter, "a station: " + ", ".join(stations))
    for opt in ("stop_after", "lookup"):
        value = getattr(v, opt)
        if value is not None and value not in arch.stations:
            raise fail(f"{key}.{opt}", value, "null or a station: " + ", ".join(stations))
    if v.kind == "auth_flood" and v.lookup is not None and v.stop_after is None:
        raise fail(f"{key}.stop_after", v.stop_after,
                    f"a station (the lookup to {key}.lookup follows its work)")
    non_negative(f"{key}.rate_rps", v.rate_rps)
    non_negative(f"{key}.start_s", v.start_s)
    if not v.end_s > v.start_s:
        raise fail(f"{key}.end_s", v.end_s, f"greater than {key}.start_s ({v.start_s})")
    non_negative(f"{key}.ramp_s", v.ramp_s)
    allowed = declare(f"{key}.sources", at_least(1, "an integer >= 1"))
    if v.sources < 1:
        raise fail(f"{key}.sources", v.sources, allowed)
    non_negative(f"{key}.gbps", v.gbps)
    positive(f"{key}.packet_bytes", v.packet_bytes)
    non_negative(f"{key}.hold_s", v.hold_s)
    non_negative(f"{key}.session_s", v.session_s)
    if v.kind == "volumetric" and v.gbps > 0 and arch.stations[v.enter].link_gbps is None:
        raise fail(f"architecture.stations.{v.enter}.link_gbps", None,
                    f"a positive number: volumetric vector {key} floods that link")


def check_attack_keys(attack: AttackConfig) -> None:
    """Refuse a key a vector's kind does not use."""
    default = AttackVectorConfig()
    for name, v in attack.vectors.items():
        check_kind_keys(f"attack.vectors.{name}", v, default, ATTACK_KIND_KEYS)

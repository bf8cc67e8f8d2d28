"""The arrival curve: ``arrivals``, how many listeners press "join", second by second.

One dataclass holds the keys of every kind of curve (``sim/model/arrivals.py`` builds
the curve): ``constant`` (``rate``), ``ramp`` (``start_s`` to ``end_s`` from
``rate_start`` to ``rate_end``), ``flash_crowd`` (``audience`` around ``t0_s``: early
birds, a push-notification wave, a tail), ``diurnal`` (``base_rate``, ``amplitude``,
``period_s``, ``phase_s``), ``trace`` (a CSV at ``path``, times ``scale``), ``batch``
(``count`` clients at ``t0_s``) and ``sum`` (``components``: a list of curves of the
other kinds, each a mapping checked against this same schema by ``component_config``).

Validation checks the range of every key whatever the kind (a negative rate is an error
even where it is unused), then the rules between keys of the kind in use, and reads a
trace before the run. A key the kind does not use must keep its default
(``ARRIVAL_KIND_KEYS``, read off ``rate_function`` in ``sim/model/arrivals.py``: only
``batch`` and ``flash_crowd`` read ``t0_s``; the autoscaler's event start is a flash
crowd's ``t0_s``, which that curve uses anyway).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from .errors import ConfigError, at_least, choice, declare, fail, non_negative, positive, share
from .kinds import check_kind_keys
from .trace import read_trace


class ArrivalKind(StrEnum):
    """The kinds of arrival curve (``arrivals.kind``)."""

    constant = "constant"
    ramp = "ramp"
    flash_crowd = "flash_crowd"
    diurnal = "diurnal"
    trace = "trace"
    sum = "sum"
    batch = "batch"


ARRIVAL_KINDS = tuple(k.value for k in ArrivalKind)


@dataclass
class ArrivalsConfig:
    kind: ArrivalKind = ArrivalKind.constant
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


# The keys each kind of curve reads (``rate_function`` in sim/model/arrivals.py).
ARRIVAL_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("rate",),
    "ramp": ("start_s", "end_s", "rate_start", "rate_end"),
    "flash_crowd": ("audience", "t0_s", "early_share", "early_window_s", "push_window_s",
                    "reaction_median_s", "reaction_sigma", "tail_share", "tail_tau_s"),
    "diurnal": ("base_rate", "amplitude", "period_s", "phase_s"),
    "trace": ("path", "scale"),
    "sum": ("components",),
    "batch": ("t0_s", "count"),
}


def validate_arrivals(key: str, a: ArrivalsConfig) -> None:
    """Every field is range-checked whatever the kind (a negative rate is an error even
    where it is unused); cross-field rules and files only for the kind in use."""
    choice(f"{key}.kind", a.kind, ARRIVAL_KINDS)
    _validate_ranges(key, a)
    k = a.kind
    if k == "flash_crowd":
        _validate_flash_crowd(key, a)
    elif k == "ramp":
        if not a.end_s > a.start_s:
            raise fail(f"{key}.end_s", a.end_s, f"greater than {key}.start_s ({a.start_s})")
        if a.rate_start + a.rate_end <= 0:
            raise fail(f"{key}.rate_end", a.rate_end, "a positive rate at one end of the ramp")
    elif k == "trace":
        read_trace(f"{key}.path", a.path)
    elif k == "sum":
        _validate_sum(key, a)


def _validate_ranges(key: str, a: ArrivalsConfig) -> None:
    allowed = declare(f"{key}.count", at_least(1, "an integer >= 1 (clients in the batch)"))
    if not isinstance(a.count, int) or isinstance(a.count, bool) or a.count < 1:
        raise fail(f"{key}.count", a.count, allowed)
    for name in ("rate", "audience", "push_window_s", "reaction_median_s", "reaction_sigma",
                 "tail_tau_s", "base_rate", "period_s", "scale"):
        positive(f"{key}.{name}", getattr(a, name))
    for name in ("t0_s", "early_window_s", "start_s", "end_s", "rate_start", "rate_end"):
        non_negative(f"{key}.{name}", getattr(a, name))
    for name in ("early_share", "tail_share", "amplitude"):
        share(f"{key}.{name}", getattr(a, name))
    if not isinstance(a.phase_s, int | float) or not math.isfinite(a.phase_s):
        raise fail(f"{key}.phase_s", a.phase_s, "a finite number")


def _validate_flash_crowd(key: str, a: ArrivalsConfig) -> None:
    if a.early_share + a.tail_share > 1.0:
        raise fail(f"{key}.tail_share", a.tail_share,
                    f"at most 1 - early_share ({1 - a.early_share:g})")
    if a.early_share > 0:
        positive(f"{key}.early_window_s", a.early_window_s)
        if a.early_window_s > a.t0_s:
            raise fail(f"{key}.early_window_s", a.early_window_s,
                        f"at most t0_s ({a.t0_s}): early arrivals start at time >= 0")


def _validate_sum(key: str, a: ArrivalsConfig) -> None:
    if not a.components:
        raise fail(f"{key}.components", [], "a non-empty list of arrival curves")
    for i, comp in enumerate(a.components):
        sub = component_config(f"{key}.components[{i}]", comp)
        if sub.kind == "sum":
            raise fail(f"{key}.components[{i}].kind", "sum",
                        "a curve other than sum (sums do not nest)")
        validate_arrivals(f"{key}.components[{i}]", sub)


def component_config(key: str, comp: Any) -> ArrivalsConfig:
    """One member of a ``sum`` of arrival curves, checked against the arrivals schema."""
    if isinstance(comp, ArrivalsConfig):
        return comp
    if isinstance(comp, DictConfig | ListConfig):
        comp = OmegaConf.to_container(comp, resolve=True)
    if not isinstance(comp, dict):
        raise fail(key, comp, "a mapping with kind and that curve's keys")
    allowed = {f.name for f in fields(ArrivalsConfig)}
    for k in comp:
        if k not in allowed:
            raise fail(f"{key}.{k}", comp[k], "keys of an arrival curve: "
                        + ", ".join(sorted(allowed)))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(ArrivalsConfig), comp)
    except Exception as exc:  # OmegaConf type errors: say which component
        raise _component_error(key, comp, exc) from None
    out = OmegaConf.to_object(merged)
    assert is_dataclass(out)
    return out  # type: ignore[return-value]


def _component_error(key: str, comp: dict[Any, Any], exc: Exception) -> ConfigError:
    """Why a member of a sum does not fit the schema: its kind alone (named as
    ``validate`` names a kind outside the set), or the type of some value."""
    kind = comp.get("kind")
    if isinstance(kind, str | int | float | bool):
        try:
            OmegaConf.merge(OmegaConf.structured(ArrivalsConfig),
                            {k: v for k, v in comp.items() if k != "kind"})
        except Exception:
            pass
        else:
            return fail(f"{key}.kind", str(kind), "one of " + ", ".join(ARRIVAL_KINDS))
    return fail(key, comp, f"values of the right type ({exc.__class__.__name__})")


def check_arrival_keys(key: str, a: ArrivalsConfig) -> None:
    """Refuse a key the curve's kind does not use (and so in each member of a sum)."""
    default = ArrivalsConfig()
    check_kind_keys(key, a, default, ARRIVAL_KIND_KEYS,
                    group="arrivals" if key == "arrivals" else None)
    if a.kind == "sum":
        for i, comp in enumerate(a.components):
            check_kind_keys(f"{key}.components[{i}]",
                            component_config(f"{key}.components[{i}]", comp), default,
                            ARRIVAL_KIND_KEYS)

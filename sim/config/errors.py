"""Configuration errors, and the range checks each group's validation is written with.

Bad input stops a run before anything is simulated, with one paragraph that names the
key, the value and what is allowed: a ``ConfigError``. The checks below raise it in one
shape, ``Invalid configuration: <key> = <value>; allowed: <what>.``, so a group's module
states each of its rules as one call per key (``positive("run.horizon_s", ...)``).
Errors OmegaConf raises while a config is composed (an unknown key, a value of the wrong
type) are turned into paragraphs of the same kind by ``sim.config.explain``.

A check of a number's range also declares it: ``positive``, ``non_negative`` and
``share`` declare their own ``Bound``, and a group's own range rule declares its bound
beside the check and refuses with the bound's words (``allowed = declare(key,
at_least(1, "an integer >= 1"))``, then ``raise fail(key, value, allowed)``). While a
validation runs under ``declaring``, every declaration is recorded by key, so what a key
accepts is read from the checks themselves (``sim.config.bounds``) rather than from the
words of a refusal. A key whose check is skipped because it is null (an optional limit)
is declared all the same: the bound is what it would be held to. Rules between keys
("greater than start_s") declare nothing unless they bound the key by a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value is out of range or inconsistent; the message says which."""


@dataclass(frozen=True)
class Bound:
    """The numbers a key accepts: from ``minimum`` to ``maximum`` (None: no bound), each
    excluded when ``min_open`` / ``max_open``, whole numbers only when ``integer``;
    ``text`` is what the refusal says is allowed ("an integer >= 1")."""

    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    max_open: bool = False
    integer: bool = False
    text: str = ""

    def admits(self, v: float) -> bool:
        """Whether ``v`` lies in the range (whole or not)."""
        lo, hi = self.minimum, self.maximum
        return not ((lo is not None and (v < lo or (self.min_open and v <= lo)))
                    or (hi is not None and (v > hi or (self.max_open and v >= hi))))

    def meet(self, other: Bound) -> Bound:
        """The values both bounds accept (a key checked twice, as by ``non_negative``
        always and by ``positive`` where the kind needs it)."""
        lo, lo_open = self.minimum, self.min_open
        if other.minimum is not None and (lo is None or other.minimum > lo
                                          or (other.minimum == lo and other.min_open)):
            lo, lo_open = other.minimum, other.min_open
        hi, hi_open = self.maximum, self.max_open
        if other.maximum is not None and (hi is None or other.maximum < hi
                                          or (other.maximum == hi and other.max_open)):
            hi, hi_open = other.maximum, other.max_open
        texts = dict.fromkeys(t for t in (self.text, other.text) if t)
        return Bound(lo, hi, lo_open, hi_open, self.integer or other.integer,
                     "; ".join(texts))


POSITIVE = Bound(0.0, min_open=True, text="a positive finite number")
NON_NEGATIVE = Bound(0.0, text="a finite number >= 0")
SHARE = Bound(0.0, 1.0, text="a number in [0, 1]")


def at_least(least: float, text: str, integer: bool = True) -> Bound:
    """``least`` or more (a whole number unless ``integer`` is false)."""
    return Bound(float(least), integer=integer, text=text)


def between(lo: float, hi: float, text: str, *, lo_open: bool = False,
            hi_open: bool = False, integer: bool = False) -> Bound:
    """From ``lo`` to ``hi``, each end excluded where open."""
    return Bound(float(lo), float(hi), lo_open, hi_open, integer, text)


_declared: ContextVar[dict[str, Bound] | None] = ContextVar("sim_config_declared",
                                                           default=None)


def declare(key: str, bound: Bound) -> str:
    """Declare the range ``key`` is checked against (recorded under ``declaring``), and
    return its words for the refusal: ``allowed = declare(...)``, then the check, which
    raises ``fail(key, value, allowed)``."""
    found = _declared.get()
    if found is not None:
        found[key] = found[key].meet(bound) if key in found else bound
    return bound.text


def declaring(check: Callable[[], object]) -> dict[str, Bound]:
    """Run ``check`` (a validation) and return the bounds its checks declared, by key,
    up to the first refusal (a ``ConfigError`` ends it quietly)."""
    found: dict[str, Bound] = {}
    token = _declared.set(found)
    try:
        check()
    except ConfigError:
        pass
    finally:
        _declared.reset(token)
    return found


def fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"Invalid configuration: {key} = {value!r}; allowed: {allowed}.")


def positive(key: str, value: Any, *, optional: bool = False) -> None:
    """A positive finite number (``optional``: or null)."""
    declare(key, POSITIVE)
    if optional and value is None:
        return
    if value is None or not isinstance(value, int | float) or not (value > 0) \
            or not math.isfinite(value):
        raise fail(key, value, POSITIVE.text)


def non_negative(key: str, value: Any, *, optional: bool = False) -> None:
    """A finite number >= 0 (``optional``: or null)."""
    declare(key, NON_NEGATIVE)
    if optional and value is None:
        return
    if value is None or not isinstance(value, int | float) or not (value >= 0) \
            or not math.isfinite(value):
        raise fail(key, value, NON_NEGATIVE.text)


def share(key: str, value: Any, *, optional: bool = False) -> None:
    """A number in [0, 1] (``optional``: or null)."""
    declare(key, SHARE)
    if optional and value is None:
        return
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise fail(key, value, SHARE.text)


def choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise fail(key, value, "one of " + ", ".join(choices))


__all__ = ["NON_NEGATIVE", "POSITIVE", "SHARE", "Bound", "ConfigError", "at_least",
           "between", "choice", "declare", "declaring", "fail", "non_negative",
           "positive", "share"]

"""Beliefs about a scenario's inputs, written as distributions: ``uniform(100000,2e6)``.

A risk study (``hydra/sweeper=risk``) states what is believed about each uncertain
config key as one short string, parsed here into a ``Distribution``:

- ``uniform(lo,hi)``: any value between ``lo`` and ``hi`` equally likely;
- ``loguniform(lo,hi)``: every factor of ten between ``lo`` and ``hi`` equally likely
  (``0 < lo < hi``), for sizes known to an order of magnitude;
- ``normal(mu,sd)``: mean ``mu``, standard deviation ``sd > 0``;
- ``lognormal(median,sigma)``: the log is normal around ``log(median)`` with standard
  deviation ``sigma > 0`` (``median > 0``), for positive sizes with a long upper tail;
- ``triangular(lo,mode,hi)``: most likely ``mode``, never outside ``lo``..``hi``;
- ``choice(a,b,...)``: one of the listed values, equally likely (numbers or words).

A distribution maps a point ``u`` of the unit interval to a value (``value``, the
inverse of its cumulative distribution), so a design drawn on the unit cube (Latin
hypercube, Sobol') becomes a sample of the inputs. ``integer`` rounds a continuous
draw to a whole number (an instance count). Anything else is refused by ``parse`` with
``BadDistribution``: one paragraph naming the key, what was written and the forms
allowed. This module imports nothing of the simulator, so the sweeper, the report and
tests share it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

FORMS = ("uniform(lo,hi)", "loguniform(lo,hi)", "normal(mu,sd)", "lognormal(median,sigma)",
         "triangular(lo,mode,hi)", "choice(a,b,...)")
ARITY = {"uniform": 2, "loguniform": 2, "normal": 2, "lognormal": 2, "triangular": 3}
_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$", re.S)
# Keeps ppf finite at the edges of the unit interval (a design point exactly at 0 or 1).
EDGE = 1e-12


class BadDistribution(ValueError):
    """A distribution string that cannot be read; the message is one paragraph."""


@dataclass(frozen=True)
class Distribution:
    """One input's stated distribution: ``kind``, its ``params`` (or ``options``)."""

    key: str
    kind: str
    params: tuple[float, ...] = ()
    options: tuple[Any, ...] = ()
    integer: bool = False

    @property
    def text(self) -> str:
        """The distribution as it was stated (normalised): ``uniform(10, 20)``."""
        args = self.options if self.kind == "choice" else self.params
        return f"{self.kind}({', '.join(_show(a) for a in args)})"

    @property
    def numeric(self) -> bool:
        """Whether its values are numbers (a choice among words is not)."""
        return self.kind != "choice" or all(_is_number(o) for o in self.options)

    def value(self, u: np.ndarray) -> list[Any]:
        """The values at points ``u`` of the unit interval (the inverse CDF)."""
        u = np.clip(np.asarray(u, dtype=float), EDGE, 1 - EDGE)
        if self.kind == "choice":
            idx = np.minimum((u * len(self.options)).astype(int), len(self.options) - 1)
            return [self.options[i] for i in idx]
        x = self._ppf(u)
        if self.integer:
            return [round(float(v)) for v in x]
        return [float(v) for v in x]

    def _ppf(self, u: np.ndarray) -> np.ndarray:
        p = self.params
        if self.kind == "uniform":
            return p[0] + u * (p[1] - p[0])
        if self.kind == "loguniform":
            return np.exp(math.log(p[0]) + u * (math.log(p[1]) - math.log(p[0])))
        if self.kind == "normal":
            return np.asarray(stats.norm.ppf(u, loc=p[0], scale=p[1]))
        if self.kind == "lognormal":
            return np.asarray(p[0] * np.exp(p[1] * stats.norm.ppf(u)))
        lo, mode, hi = p
        c = (mode - lo) / (hi - lo)
        return np.asarray(stats.triang.ppf(u, c, loc=lo, scale=hi - lo))


def parse(key: str, text: Any, integer: bool = False) -> Distribution:
    """Read ``text`` (the belief about config key ``key``) into a ``Distribution``."""
    if not isinstance(text, str):
        raise _bad(key, text, "it is not a string")
    m = _CALL.match(text)
    if not m:
        raise _bad(key, text, "it is not of the form name(arguments)")
    kind, body = m[1].lower(), m[2]
    args = [a.strip() for a in body.split(",")] if body.strip() else []
    if kind == "choice":
        if not args or any(not a for a in args):
            raise _bad(key, text, "choice needs at least one value, separated by commas")
        return Distribution(key, kind, options=tuple(_scalar(a) for a in args))
    if kind not in ARITY:
        raise _bad(key, text, f"{kind!r} is not a known distribution")
    if len(args) != ARITY[kind]:
        raise _bad(key, text, f"{kind} takes {ARITY[kind]} numbers, got {len(args)}")
    params = []
    for a in args:
        x = _scalar(a)
        if not _is_number(x) or not math.isfinite(float(x)):
            raise _bad(key, text, f"{a!r} is not a finite number")
        params.append(float(x))
    _check_params(key, text, kind, params)
    return Distribution(key, kind, tuple(params), integer=integer)


def _check_params(key: str, text: str, kind: str, p: list[float]) -> None:
    if kind in ("uniform", "loguniform") and not p[0] < p[1]:
        raise _bad(key, text, "lo must be below hi")
    if kind == "loguniform" and not p[0] > 0:
        raise _bad(key, text, "loguniform needs 0 < lo")
    if kind == "normal" and not p[1] > 0:
        raise _bad(key, text, "the standard deviation must be positive")
    if kind == "lognormal" and not (p[0] > 0 and p[1] > 0):
        raise _bad(key, text, "lognormal needs a positive median and a positive sigma")
    if kind == "triangular" and not (p[0] <= p[1] <= p[2] and p[0] < p[2]):
        raise _bad(key, text, "triangular needs lo <= mode <= hi and lo < hi")


def parse_inputs(inputs: dict[str, Any], integers: set[str] | None = None
                 ) -> list[Distribution]:
    """Every input of a study, in the order given; ``integers`` names the keys whose
    values must be whole numbers. Raises ``BadDistribution`` at the first bad one."""
    integers = integers or set()
    return [parse(k, v, k in integers) for k, v in inputs.items()]


def _bad(key: str, text: Any, why: str) -> BadDistribution:
    return BadDistribution(
        f"Invalid configuration: hydra.sweeper.inputs.{key} = {text!r} ({why}); allowed: "
        f"a distribution written as one of {', '.join(FORMS)}, with numbers as arguments "
        f"(quote it on the command line: 'hydra.sweeper.inputs.{key}=\"uniform(1,2)\"').")


def _scalar(text: str) -> Any:
    """A number if ``text`` reads as one, else the text without quotes."""
    t = text.strip().strip("'\"")
    for cast in (int, float):
        try:
            return cast(t.replace("_", ""))
        except ValueError:
            continue
    return {"true": True, "false": False}.get(t.lower(), t)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _show(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


__all__ = ["FORMS", "BadDistribution", "Distribution", "parse", "parse_inputs"]

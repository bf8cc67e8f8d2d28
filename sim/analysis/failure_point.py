"""Failure-point search: the value of one parameter where the SLO starts to fail.

The search is a state machine that proposes probes and takes their verdicts; it runs no
simulation itself (the Hydra sweeper ``hydra/sweeper=failure_point`` launches the probes
through the configured launcher and feeds the verdicts back), so it can be tested alone.

Each replication (seed ``replication_seed(run.seed, i)``, the same for every compared
variant) is searched on its own, by bracketing then bisection:

1. Probe ``low`` and ``high``. The one that holds and the one that fails bracket the
   failure point. If both hold (or both fail) the range is widened in the direction of
   failure (``up``: failure at larger values, as for audience, peak rate, attack rate;
   ``down``: at smaller values, as for instances of a station; ``auto`` takes the
   direction the bracketed replications show, ``up`` when none does), doubling its width
   each time, at most ``max_expand`` times.
2. Bisect the bracket until it is narrower than ``rel_tol`` of its midpoint (or
   ``abs_tol``), at most ``max_probes`` probes. By default (``rel_tol`` None) that is
   1%; a whole number is bisected at least to adjacent values, so that below a hundred
   (a count of servers) its answer is exact: the smallest count that holds, next to the
   largest that fails. Above, it stops at 1% as a continuous one does (a write rate in
   the thousands need not be bisected to one write per second), and says where the
   smallest holding value lies.

The widening never leaves the values the config allows (``Allowed``, read from the
config's own validation by the sweeper: "an integer >= 1" for instances, "a number in
[0, 1]" for a share). It stops at the smallest (or largest) allowed value; a replication
that still holds there has no failure point in range, and the answer says so
(``limit``: "holds at the smallest allowed value 1: no failure point in range") instead
of probing a value the config refuses. An open bound ("a positive finite number") is
approached by halving the distance to it, never reached; a parameter whose validation
states no bound keeps above 0 when ``low`` is positive.

A replication's answer is its final bracket: ``holds_at``, the value nearest failure at
which the SLO held, and ``fails_at``, the value nearest holding at which it failed. For
a whole-number parameter both are named, because neither alone is the answer: with
servers that fail at 19 and hold at 20, "19" read alone looks like enough. Across
replications, ``holds_at`` is the value that held in every replication (of the
replications' own, the one furthest from failure) and ``fails_at`` the value nearest
holding that failed in some replication, so the bracket is the conservative one (taking
the response as monotone: a replication that held at a value holds at every value
further from failure).

``value`` follows the kind of parameter:

- a continuous one (a rate, an audience): the failure point, the mean of the brackets'
  midpoints (``midpoint``), with a Student t ``interval`` widened by the mean half-width
  of the final brackets (the bisection's own resolution);
- a whole-number one: the capacity a reviewer asks for, ``holds_at`` itself, the
  boundary value that held in every replication: for ``down`` (servers) the smallest
  count that holds, for ``up`` (a whole rate) the largest value that holds. The
  ``interval`` is the same Student t interval of the midpoints, rounded outwards to whole
  numbers, stretched to contain ``value`` and cut to the allowed range, so the bound the
  report judges on (the upper one for ``down``, the lower one for ``up``) is never on the
  failing side of what held; ``midpoint`` keeps the mean of the midpoints. With every
  replication alike (servers that fail at 19 and hold at 20 in each), ``value`` is 20
  and ``interval`` 19 to 20.

All replications of a round are probed in one batch, so a parallel launcher runs them
side by side.

A probe can also be unable to judge: its horizon ended before the arrival peak or an
attack's end, no legit client arrived, or no SLO window was judged
(``sim.analysis.coverage``). Its SLO held trivially, which says nothing about the
value probed. The search then stops at the end of that round: the answer names the
probe and why it could not judge, and gives no failure point, since any bracket drawn
past that probe would rest on a run that did not see its load.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..summary import SLO_MET
from .coverage import get_path, load_gaps
from .replications import t_interval

DIRECTIONS = ("auto", "up", "down")
DEFAULT_REL_TOL = 0.01  # rel_tol None: stop below 1% of the midpoint
THROUGHOUT = ("holds_throughout", "fails_throughout")


@dataclass(frozen=True)
class Allowed:
    """The values the config allows a parameter, as its validation states them.

    ``minimum`` and ``maximum`` (None: no bound), each excluded when ``min_open`` /
    ``max_open`` ("a positive finite number" is an open minimum of 0); ``text`` is the
    validation's own words ("an integer >= 1"), for messages.
    """

    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    max_open: bool = False
    text: str = ""

    def admits(self, v: float) -> bool:
        """Whether ``v`` lies in the range."""
        lo, hi = self.minimum, self.maximum
        return not ((lo is not None and (v < lo or (self.min_open and v <= lo)))
                    or (hi is not None and (v > hi or (self.max_open and v >= hi))))


_NUM = r"(-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][+-]?\d+)?)"


def parse_allowed(text: str) -> Allowed:
    """The range a config error's ``allowed:`` words state for a number.

    The config's range checks (``sim.config.errors``) and the groups' own rules state a
    bound in a few shapes: "an integer >= 1", "null (unlimited) or >= 0", "a positive
    finite number", "a number in [0, 1]" or "in (0, 1]", "an integer from 1 to 10,000".
    Anything else (a bound relative to another key: "an integer >= max(1,
    min_instances=2)", "greater than start_s") states none.
    """
    t = text.strip().rstrip(".")

    def num(x: str) -> float:
        return float(x.replace(",", ""))

    m = re.search(rf"\bin ([\[(])\s*{_NUM}\s*,\s*{_NUM}\s*([\])])", t)
    if m:
        return Allowed(num(m[2]), num(m[3]), m[1] == "(", m[4] == ")", t)
    m = re.search(rf"\bfrom {_NUM} to {_NUM}", t)
    if m:
        return Allowed(num(m[1]), num(m[2]), text=t)
    m = re.search(rf">=\s*{_NUM}(?![\w(.])", t)
    if m:
        return Allowed(num(m[1]), text=t)
    if re.search(r"\bpositive\b", t):
        return Allowed(0.0, min_open=True, text=t)
    return Allowed(text=t)


@dataclass
class _Replication:
    index: int
    seed: int
    passing: float | None = None
    failing: float | None = None
    probes: int = 0
    expansions: int = 0
    error: str | None = None
    done: bool = False
    seen: list[tuple[float, bool]] = field(default_factory=list)
    unjudged: tuple[float, list[str]] | None = None


@dataclass(frozen=True)
class Probe:
    """One simulation to run: replication ``replication`` at ``value``."""

    replication: int
    seed: int
    value: float


@dataclass(frozen=True)
class Judgement:
    """What one probe says: ``failed`` (True/False), or the reasons it could not judge."""

    failed: bool | None
    unjudged: list[str] = field(default_factory=list)


def judge(summary: Mapping[str, Any], config: Mapping[str, Any], metric: str = SLO_MET,
          fail_below: float | None = None, fail_above: float | None = None) -> Judgement:
    """Judge a probe from its summary and config, as the report would judge the run.

    A probe fails when ``metric`` says so: ``slo.met`` false (the default), or the
    metric below ``fail_below`` / above ``fail_above``. A breach is a breach even in a
    run that did not cover all of its load. A probe that held, or whose metric has no
    value, while its run did not cover its load (``coverage.load_gaps``: a horizon short
    of the peak or of an attack, no arrivals, no judged window) could not judge. A
    metric with no value in a run that covered its load (nobody joined) is a failure.
    """
    value = get_path(summary, *metric.split("."))
    default = metric == SLO_MET and fail_below is None and fail_above is None
    if default:
        failed: bool | None = value is False
    elif not isinstance(value, int | float) or isinstance(value, bool):
        failed = None
    else:
        failed = bool((fail_below is not None and value < fail_below)
                      or (fail_above is not None and value > fail_above))
    if failed:
        return Judgement(True)
    gaps = load_gaps(summary, config)
    if gaps:
        return Judgement(None, gaps)
    return Judgement(True if failed is None else failed)


class FailurePointSearch:
    """Bracketing then bisection per replication; ``next_probes``/``record`` alternate.

    ``allowed`` is the range the config allows the parameter (``Allowed``); without a
    minimum, ``positive`` keeps the search above 0 when ``low`` is (for a whole number:
    at 1 or more).
    """

    def __init__(self, low: float, high: float, seeds: list[int], *, direction: str = "auto",
                 integer: bool = False, rel_tol: float | None = None, abs_tol: float = 0.0,
                 max_probes: int = 20, max_expand: int = 6, confidence: float = 0.95,
                 positive: bool = True, allowed: Allowed | None = None) -> None:
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise ValueError(f"low must be less than high, got low={low}, high={high}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, "
                             f"got {direction!r}")
        if not seeds:
            raise ValueError("at least one replication seed is needed")
        if rel_tol is None:
            rel_tol = DEFAULT_REL_TOL
        if rel_tol < 0 or abs_tol < 0 or (rel_tol == 0 and abs_tol == 0 and not integer):
            raise ValueError("rel_tol or abs_tol must be positive")
        self.low, self.high = float(low), float(high)
        self.direction = direction
        self.integer = integer
        self.rel_tol, self.abs_tol = rel_tol, abs_tol
        self.max_probes, self.max_expand = max_probes, max_expand
        self.confidence = confidence
        self.allowed = allowed or Allowed()
        self._set_limits(positive and low > 0)
        for name, v in (("low", low), ("high", high)):
            if not self.allows(self._value(v)):
                raise ValueError(f"{name} = {v:g} is outside the values the parameter "
                                 f"allows, {self.range_text()}")
        self.reps = [_Replication(i, s) for i, s in enumerate(seeds)]
        self.rounds = 0
        self.history: list[dict[str, Any]] = []

    # -- the allowed range ----------------------------------------------------------------

    def _set_limits(self, positive: bool) -> None:
        """The smallest and largest values the search may probe (None: unbounded); a
        whole number's open bound becomes the nearest whole number inside it."""
        a = self.allowed
        lo, lo_open = a.minimum, a.min_open
        if lo is None and positive:
            lo, lo_open = 0.0, True
        hi, hi_open = a.maximum, a.max_open
        if self.integer and lo is not None:
            lo, lo_open = float(math.floor(lo) + 1 if lo_open else math.ceil(lo)), False
        if self.integer and hi is not None:
            hi, hi_open = float(math.ceil(hi) - 1 if hi_open else math.floor(hi)), False
        self.lowest, self.lowest_open = lo, lo_open
        self.highest, self.highest_open = hi, hi_open

    def allows(self, v: float) -> bool:
        """Whether the search may probe ``v``."""
        return Allowed(self.lowest, self.highest, self.lowest_open,
                       self.highest_open).admits(v)

    def range_text(self) -> str:
        """The values the search may probe, in the config's words ("an integer >= 1")
        when it has them, else as bounds ("a number > 0")."""
        if self.allowed.text:
            return self.allowed.text
        bounds = [f"{'>' if self.lowest_open else '>='} {_num(self.lowest)}"
                  if self.lowest is not None else "",
                  f"{'<' if self.highest_open else '<='} {_num(self.highest)}"
                  if self.highest is not None else ""]
        what = "a whole number" if self.integer else "a number"
        return f"{what} {' and '.join(b for b in bounds if b)}" if any(bounds) else \
            f"any {what[2:]}"

    def _clamp(self, v: float, lo: float, hi: float) -> float:
        """``v``, a widening of the probed range ``lo``..``hi``, kept in the allowed range:
        a closed bound is probed itself, an open one approached by halving the distance."""
        if self.lowest is not None and (v < self.lowest
                                        or (self.lowest_open and v <= self.lowest)):
            v = (lo + self.lowest) / 2 if self.lowest_open else self.lowest
        if self.highest is not None and (v > self.highest
                                         or (self.highest_open and v >= self.highest)):
            v = (hi + self.highest) / 2 if self.highest_open else self.highest
        return v

    def _limit(self, r: _Replication, status: str) -> str | None:
        """``minimum`` or ``maximum`` when a replication that held (or failed) throughout
        reached that closed bound of the allowed range while widening; else None."""
        if status not in THROUGHOUT or not r.seen:
            return None
        larger = (status == "holds_throughout") == (self._direction() == "up")
        seen = [v for v, _ in r.seen]
        if larger:
            at = self.highest is not None and not self.highest_open \
                and max(seen) >= self.highest
            return "maximum" if at else None
        at = self.lowest is not None and not self.lowest_open and min(seen) <= self.lowest
        return "minimum" if at else None

    # -- the loop -------------------------------------------------------------------------

    def _value(self, v: float) -> float:
        return float(round(v)) if self.integer else float(v)

    def _resolved(self, r: _Replication) -> bool:
        assert r.passing is not None and r.failing is not None
        width = abs(r.failing - r.passing)
        if self.integer and width <= 1:
            return True
        mid = abs(r.passing + r.failing) / 2
        return width <= max(self.abs_tol, self.rel_tol * mid)

    def _direction(self) -> str:
        if self.direction != "auto":
            return self.direction
        votes = [r.failing > r.passing for r in self.reps
                 if r.passing is not None and r.failing is not None]
        if votes and sum(votes) * 2 < len(votes):
            return "down"
        return "up"

    @property
    def unjudged(self) -> bool:
        """Whether some probe could not judge (the search stops at that round's end)."""
        return any(r.unjudged is not None for r in self.reps)

    def next_probes(self) -> list[Probe]:
        """The probes of the next round (empty when the search is over)."""
        if self.rounds == 0:
            return [Probe(r.index, r.seed, self._value(v))
                    for r in self.reps for v in (self.low, self.high)]
        if self.unjudged:
            for r in self.reps:
                r.done = True
            return []
        out = []
        direction = self._direction()
        for r in self.reps:
            if r.done:
                continue
            if r.passing is not None and r.failing is not None:
                v = self._bisect(r)
            elif r.expansions >= self.max_expand or not r.seen:
                v = None
            else:
                v = self._widen(r, direction)
            if v is None:
                r.done = True
                continue
            out.append(Probe(r.index, r.seed, v))
        return out

    def _bisect(self, r: _Replication) -> float | None:
        """The middle of a replication's bracket, or None once it is resolved."""
        assert r.passing is not None and r.failing is not None
        if self._resolved(r) or r.probes >= self.max_probes:
            return None
        mid = self._value((r.passing + r.failing) / 2)
        return None if mid in (r.passing, r.failing) else mid

    def _widen(self, r: _Replication, direction: str) -> float | None:
        """The next value of a replication not yet bracketed: the probed range doubled
        towards failure (both held) or towards holding (both failed), kept in the allowed
        range; None when it cannot widen further (it stands at the allowed bound)."""
        lo = min(v for v, _ in r.seen)
        hi = max(v for v, _ in r.seen)
        width = hi - lo
        towards_larger = (r.failing is None) == (direction == "up")
        v = self._value(self._clamp(hi + width if towards_larger else lo - width, lo, hi))
        if v in (lo, hi) or not self.allows(v):
            return None
        r.expansions += 1
        return v

    def record(self, probe: Probe, failed: bool | None, error: str | None = None, *,
               unjudged: Sequence[str] = ()) -> None:
        """The verdict of one probe: failed (True), held (False), an error (None), or,
        with ``unjudged`` reasons, a run that could not judge (``judge``)."""
        r = self.reps[probe.replication]
        entry: dict[str, Any] = {"replication": probe.replication, "seed": probe.seed,
                                 "value": probe.value, "failed": failed, "error": error}
        if unjudged:
            entry.update(failed=None, not_judged=list(unjudged))
            self.history.append(entry)
            if r.unjudged is None:
                r.unjudged = (probe.value, list(unjudged))
            r.done = True
            return
        self.history.append(entry)
        if failed is None:
            r.error, r.done = error or "probe failed", True
            return
        r.seen.append((probe.value, failed))
        if self.rounds > 0:
            r.probes += 1
        direction_up = self._direction() == "up"
        if failed:
            # keep the failing value closest to the holding side
            if r.failing is None or (probe.value < r.failing) == direction_up:
                r.failing = probe.value
        elif r.passing is None or (probe.value > r.passing) == direction_up:
            r.passing = probe.value

    def end_round(self) -> None:
        self.rounds += 1
        if self.rounds == 1:
            # After the first round the direction is known: re-derive each bracket from
            # what was seen, so a replication probed at low and high is consistent.
            up = self._direction() == "up"
            for r in self.reps:
                fails = [v for v, f in r.seen if f]
                passes = [v for v, f in r.seen if not f]
                r.failing = (min(fails) if up else max(fails)) if fails else None
                r.passing = (max(passes) if up else min(passes)) if passes else None

    @property
    def finished(self) -> bool:
        return all(r.done for r in self.reps)

    # -- the answer -----------------------------------------------------------------------

    def estimate(self, r: _Replication) -> float | None:
        """A replication's ``value`` (None without a bracket): the middle of its final
        bracket, or for a whole-number parameter the value that held (``holds_at``)."""
        if r.error or r.unjudged or r.passing is None or r.failing is None:
            return None
        return r.passing if self.integer else (r.passing + r.failing) / 2

    def _status(self, r: _Replication) -> str:
        if r.unjudged is not None:
            return "not_judged"
        if r.error:
            return "error"
        if self.unjudged:
            return "stopped"  # another replication's probe could not judge
        if r.passing is not None and r.failing is not None:
            return "found"
        if r.failing is None and r.passing is not None:
            return "holds_throughout"
        if r.passing is None and r.failing is not None:
            return "fails_throughout"
        return "stopped"

    def _replication(self, r: _Replication) -> dict[str, Any]:
        """One replication's part of the answer: its bracket only if it has one."""
        status = self._status(r)
        bracket = status == "found"
        holds = r.passing if bracket or status == "holds_throughout" else None
        fails = r.failing if bracket or status == "fails_throughout" else None
        return {"replication": r.index, "seed": r.seed, "status": status,
                "value": self.estimate(r) if bracket else None,
                "holds_at": holds, "fails_at": fails,
                "width": abs(r.failing - r.passing) if bracket else None,  # type: ignore[operator]
                "limit": self._limit(r, status),
                "probes": len(r.seen), "error": r.error,
                "not_judged": None if r.unjudged is None else
                {"value": r.unjudged[0], "reasons": r.unjudged[1]}}

    def answer(self) -> dict[str, Any]:
        """The failure point with its bracket and interval, and every replication's.

        ``holds_at`` held in every replication that bracketed the failure point (each
        held there or at a value further towards failure); ``fails_at`` failed in
        ``fails_in`` of them. ``limit`` names the allowed bound every replication
        reached without a failure point (None otherwise).
        """
        per = [self._replication(r) for r in self.reps]
        found = [p for p in per if p["status"] == "found"]
        direction = self._direction()
        out: dict[str, Any] = {
            "status": _overall_status(per), "integer": self.integer, "direction": direction,
            "larger_values": "fail" if direction == "up" else "hold",
            "holds_at": None, "fails_at": None, "width": None, "fails_in": None,
            "confidence": self.confidence, "replications": len(self.reps),
            "n": len(found), "value": None, "midpoint": None, "interval": None,
            "half_width": None, "resolution": None, "limit": self._overall_limit(per),
            "allowed": {"minimum": self.lowest, "minimum_excluded": self.lowest_open,
                        "maximum": self.highest, "maximum_excluded": self.highest_open,
                        "text": self.allowed.text or None},
            "not_judged": [
                {"replication": h["replication"], "seed": h["seed"], "value": h["value"],
                 "reasons": h["not_judged"]} for h in self.history if h.get("not_judged")],
            "per_replication": per, "probes": self.history}
        if found and out["status"] == "found":
            self._point(out, found, direction == "up")
        return out

    def _overall_limit(self, per: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The allowed bound reached, when every replication held (or failed) up to the
        same one: its side, its value and the config's words for the range."""
        sides = {p["limit"] for p in per}
        statuses = {p["status"] for p in per}
        if len(sides) != 1 or None in sides or len(statuses) != 1:
            return None
        side = sides.pop()
        return {"side": side, "value": self.lowest if side == "minimum" else self.highest,
                "holds": statuses.pop() == "holds_throughout", "allowed": self.range_text()}

    def _point(self, out: dict[str, Any], found: list[dict[str, Any]], up: bool) -> None:
        """Fill in the bracket, ``value`` and ``interval`` from the replications that
        bracketed the failure point (the module docstring says which value is which)."""
        holds = [float(p["holds_at"]) for p in found]
        fails = [float(p["fails_at"]) for p in found]
        out.update(holds_at=min(holds) if up else max(holds),
                   fails_at=min(fails) if up else max(fails))
        out["width"] = abs(out["fails_at"] - out["holds_at"])
        # Replications whose own failing end is at fails_at or beyond it on the failing
        # side: those known to fail there.
        out["fails_in"] = sum((f <= out["fails_at"]) if up else (f >= out["fails_at"])
                              for f in fails)
        iv = t_interval([(h + f) / 2 for h, f in zip(holds, fails, strict=True)],
                        self.confidence)
        resolution = float(np.mean([float(p["width"]) / 2 for p in found]))
        t_hw = None if math.isnan(iv.half_width) else iv.half_width
        hw = (t_hw or 0.0) + resolution
        value, lo, hi = iv.mean, iv.mean - hw, iv.mean + hw
        if self.integer:  # whole numbers that contain what held, inside the allowed range
            value = out["holds_at"]
            lo = float(math.floor(round(min(lo, value), 9)))
            hi = float(math.ceil(round(max(hi, value), 9)))
            lo = lo if self.lowest is None else max(lo, self.lowest)
            hi = hi if self.highest is None else min(hi, self.highest)
        out.update(value=value, midpoint=iv.mean, half_width=hw, interval=[lo, hi],
                   resolution=resolution, t_half_width=t_hw)


def _overall_status(per: list[dict[str, Any]]) -> str:
    """The search's status: not_judged if any probe could not judge, else found if some
    replication bracketed the failure point, else what all replications agree on."""
    statuses = {p["status"] for p in per}
    if "not_judged" in statuses:
        return "not_judged"
    if "found" in statuses:
        return "found"
    if len(statuses) == 1:
        return statuses.pop()
    return "error" if statuses == {"error"} else "none"


def answer_text(answer: Mapping[str, Any]) -> str:
    """The answer in one sentence (``param`` names the key), for the sweeper's last line
    and the ``text`` of failure_point.json."""
    key = answer.get("param") or "the parameter"
    status = answer.get("status")
    if status == "not_judged":
        first = (answer.get("not_judged") or [{}])[0]
        return (f"no failure point of {key}: the probe at {key} = "
                f"{_num(first.get('value'))} (seed {first.get('seed')}) could not judge the "
                f"SLO ({'; '.join(first.get('reasons') or [])})")
    limit = answer.get("limit")
    if isinstance(limit, Mapping) and status in THROUGHOUT:
        where = replications_text(int(answer.get("replications") or 0),
                                  int(answer.get("replications") or 0))
        end = "smallest" if limit.get("side") == "minimum" else "largest"
        return (f"{key}: the SLO {'holds' if limit.get('holds') else 'fails'} at the {end} "
                f"allowed value {_num(limit.get('value'))}{where}: no failure point in "
                f"range (allowed: {limit.get('allowed')})")
    if answer.get("holds_at") is None or answer.get("fails_at") is None:
        return f"no failure point of {key} found ({status}{_probed_text(answer)})"
    n = int(answer.get("n") or 0)
    interval = (f"{100 * float(answer.get('confidence') or 0):.0f}% interval "
                f"{_num((answer.get('interval') or [None])[0])} to "
                f"{_num((answer.get('interval') or [None, None])[1])}, {n} "
                f"replication{'' if n == 1 else 's'}")
    if answer.get("integer"):
        return f"{key}: {bracket_text(answer)}; {_whole_answer(answer)} ({interval})"
    return (f"{key}: {bracket_text(answer)}; the failure point is "
            f"{_num(answer.get('value'))} ({interval})")


def _whole_answer(answer: Mapping[str, Any]) -> str:
    """A whole number's answer: the boundary value that held, or, when the search stopped
    before adjacent values (``max_probes``, a ``rel_tol`` given), where it lies."""
    down = answer.get("direction") == "down"
    which = "smallest" if down else "largest"
    holds, fails = float(answer["holds_at"]), float(answer["fails_at"])
    if abs(holds - fails) <= 1:
        return (f"the answer is {_num(answer.get('value'))}, the {which} value that holds "
                f"in every replication")
    lo, hi = (fails + 1, holds) if down else (holds, fails - 1)
    return (f"the {which} value that holds lies from {_num(lo)} to {_num(hi)} (the search "
            f"stopped before adjacent values; {_num(holds)} held in every replication)")


def _probed_text(answer: Mapping[str, Any]) -> str:
    """", probed from 1 to 64": the range of values the search probed ("" if none)."""
    values = [p["value"] for p in answer.get("probes") or []
              if isinstance(p, Mapping) and isinstance(p.get("value"), int | float)]
    if not values:
        return ""
    return f", probed from {_num(min(values))} to {_num(max(values))}"


def bracket_text(answer: Mapping[str, Any]) -> str:
    """Where the SLO holds and where it fails, both named: "holds at 20 and above, fails
    at 19" for a whole-number parameter, the bracket and its width otherwise."""
    holds, fails = answer.get("holds_at"), answer.get("fails_at")
    up = answer.get("direction", "up") == "up"
    where = replications_text(int(answer.get("fails_in") or 0), int(answer.get("n") or 0))
    if answer.get("integer"):
        return (f"the SLO holds at {_num(holds)} and {'below' if up else 'above'} and fails "
                f"at {_num(fails)}{where}")
    return (f"the SLO holds at {_num(holds)} and fails at {_num(fails)}{where} (a bracket "
            f"{_num(answer.get('width'))} wide)")


def replications_text(fails_in: int, n: int) -> str:
    """" in 2 of 3 replications": how many replications are known to fail at the
    failing end of the bracket ("" for a single replication)."""
    if n < 2:
        return ""
    if fails_in >= n:
        return f" in all {n} replications"
    return f" in {fails_in} of {n} replications"


def _num(x: Any) -> str:
    if not isinstance(x, int | float) or isinstance(x, bool):
        return "n/a"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:.6g}"

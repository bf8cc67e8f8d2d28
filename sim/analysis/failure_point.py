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
   ``abs_tol``; for an integer parameter, adjacent integers), at most ``max_probes``
   probes.

A replication's answer is its final bracket: ``holds_at``, the value nearest failure at
which the SLO held, and ``fails_at``, the value nearest holding at which it failed. For
a whole-number parameter both are named, because neither alone is the answer: with
servers that fail at 19 and hold at 20, "19" read alone looks like enough. Across
replications, ``holds_at`` is the value that held in every replication (of the
replications' own, the one furthest from failure) and ``fails_at`` the value nearest
holding that failed in some replication, so the bracket is the conservative one (taking
the response as monotone: a replication that held at a value holds at every value
further from failure); ``value`` is the mean of the brackets' midpoints with a Student
t interval, widened by the mean half-width of the final brackets (the bisection's own
resolution). All replications of a round are probed in one batch, so a parallel
launcher runs them side by side.

A probe can also be unable to judge: its horizon ended before the arrival peak or an
attack's end, no legit client arrived, or no SLO window was judged
(``sim.analysis.coverage``). Its SLO held trivially, which says nothing about the
value probed. The search then stops at the end of that round: the answer names the
probe and why it could not judge, and gives no failure point, since any bracket drawn
past that probe would rest on a run that did not see its load.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..summary import SLO_MET
from .coverage import get_path, load_gaps
from .replications import t_interval

DIRECTIONS = ("auto", "up", "down")


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
    """Bracketing then bisection per replication; ``next_probes``/``record`` alternate."""

    def __init__(self, low: float, high: float, seeds: list[int], *, direction: str = "auto",
                 integer: bool = False, rel_tol: float = 0.01, abs_tol: float = 0.0,
                 max_probes: int = 20, max_expand: int = 6, confidence: float = 0.95,
                 positive: bool = True) -> None:
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise ValueError(f"low must be less than high, got low={low}, high={high}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, "
                             f"got {direction!r}")
        if not seeds:
            raise ValueError("at least one replication seed is needed")
        if rel_tol < 0 or abs_tol < 0 or (rel_tol == 0 and abs_tol == 0 and not integer):
            raise ValueError("rel_tol or abs_tol must be positive")
        self.low, self.high = float(low), float(high)
        self.direction = direction
        self.integer = integer
        self.rel_tol, self.abs_tol = rel_tol, abs_tol
        self.max_probes, self.max_expand = max_probes, max_expand
        self.confidence = confidence
        self.positive = positive
        self.reps = [_Replication(i, s) for i, s in enumerate(seeds)]
        self.rounds = 0
        self.history: list[dict[str, Any]] = []

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
                if self._resolved(r) or r.probes >= self.max_probes:
                    r.done = True
                    continue
                mid = self._value((r.passing + r.failing) / 2)
                if mid in (r.passing, r.failing):
                    r.done = True
                    continue
                out.append(Probe(r.index, r.seed, mid))
                continue
            if r.expansions >= self.max_expand or not r.seen:
                r.done = True
                continue
            # Not bracketed: widen towards failure (both held) or towards holding.
            lo = min(v for v, _ in r.seen)
            hi = max(v for v, _ in r.seen)
            width = hi - lo
            towards_larger = (r.failing is None) == (direction == "up")
            if towards_larger:
                v = hi + width
            else:
                v = lo - width
                if self.positive and v <= 0:
                    v = lo / 2
            v = self._value(v)
            if v in (lo, hi):
                r.done = True
                continue
            r.expansions += 1
            out.append(Probe(r.index, r.seed, v))
        return out

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
        """The middle of a replication's final bracket (None without one)."""
        if r.error or r.unjudged or r.passing is None or r.failing is None:
            return None
        return (r.passing + r.failing) / 2

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
                "probes": len(r.seen), "error": r.error,
                "not_judged": None if r.unjudged is None else
                {"value": r.unjudged[0], "reasons": r.unjudged[1]}}

    def answer(self) -> dict[str, Any]:
        """The failure point with its bracket and interval, and every replication's.

        ``holds_at`` held in every replication that bracketed the failure point (each
        held there or at a value further towards failure); ``fails_at`` failed in
        ``fails_in`` of them.
        """
        per = [self._replication(r) for r in self.reps]
        found = [p for p in per if p["status"] == "found"]
        direction = self._direction()
        out: dict[str, Any] = {
            "status": _overall_status(per), "integer": self.integer, "direction": direction,
            "larger_values": "fail" if direction == "up" else "hold",
            "holds_at": None, "fails_at": None, "width": None, "fails_in": None,
            "confidence": self.confidence, "replications": len(self.reps),
            "n": len(found), "value": None, "interval": None, "half_width": None,
            "resolution": None, "not_judged": [
                {"replication": h["replication"], "seed": h["seed"], "value": h["value"],
                 "reasons": h["not_judged"]} for h in self.history if h.get("not_judged")],
            "per_replication": per, "probes": self.history}
        if not found or out["status"] != "found":
            return out
        up = direction == "up"
        holds = [float(p["holds_at"]) for p in found]
        fails = [float(p["fails_at"]) for p in found]
        out.update(holds_at=min(holds) if up else max(holds),
                   fails_at=min(fails) if up else max(fails))
        out["width"] = abs(out["fails_at"] - out["holds_at"])
        # Replications whose own failing end is at fails_at or beyond it on the failing
        # side: those known to fail there.
        out["fails_in"] = sum((f <= out["fails_at"]) if up else (f >= out["fails_at"])
                              for f in fails)
        iv = t_interval([float(p["value"]) for p in found], self.confidence)
        resolution = float(np.mean([float(p["width"]) / 2 for p in found]))
        hw = (0.0 if math.isnan(iv.half_width) else iv.half_width) + resolution
        out.update(value=iv.mean, half_width=hw, interval=[iv.mean - hw, iv.mean + hw],
                   resolution=resolution,
                   t_half_width=None if math.isnan(iv.half_width) else iv.half_width)
        return out


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
    """The answer in one sentence (``param`` names the key), for the sweeper's last line."""
    key = answer.get("param") or "the parameter"
    if answer.get("status") == "not_judged":
        first = (answer.get("not_judged") or [{}])[0]
        return (f"no failure point of {key}: the probe at {key} = "
                f"{_num(first.get('value'))} (seed {first.get('seed')}) could not judge the "
                f"SLO ({'; '.join(first.get('reasons') or [])})")
    if answer.get("holds_at") is None or answer.get("fails_at") is None:
        return f"no failure point of {key} found ({answer.get('status')})"
    return (f"{key}: {bracket_text(answer)}; the failure point is "
            f"{_num(answer.get('value'))} ({100 * float(answer.get('confidence') or 0):.0f}% "
            f"interval {_num((answer.get('interval') or [None])[0])} to "
            f"{_num((answer.get('interval') or [None, None])[1])}, {answer.get('n')} "
            f"replications)")


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

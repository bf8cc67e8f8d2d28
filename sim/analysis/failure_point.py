"""Failure-point search: the value of one parameter where the SLO starts to fail.

The search is a state machine that proposes probes and takes their verdicts; it runs no
simulation itself (the Hydra sweeper ``hydra/sweeper=failure_point`` launches the probes
through the configured launcher and feeds the verdicts back), so it can be tested alone.

Each replication (seed ``replication_seed(run.seed, i)``, the same for every compared
variant) is searched on its own, by bracketing then bisection:

1. Probe ``low`` and ``high``. The one that passes and the one that fails bracket the
   failure point. If both pass (or both fail) the range is widened in the direction of
   failure (``up``: failure at larger values, as for audience, peak rate, attack rate;
   ``down``: at smaller values, as for instances of a station; ``auto`` takes the
   direction the bracketed replications show, ``up`` when none does), doubling its width
   each time, at most ``max_expand`` times.
2. Bisect the bracket until it is narrower than ``rel_tol`` of its midpoint (or
   ``abs_tol``; for an integer parameter, adjacent integers), at most ``max_probes``
   probes.

A replication's failure point is the midpoint of its final bracket (for an integer
parameter, the failing end: the first value at which the SLO fails). The answer is the
mean over replications with a Student t interval, widened by the mean half-width of the
final brackets (the bisection's own resolution). All replications of a round are probed
in one batch, so a parallel launcher runs them side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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


@dataclass(frozen=True)
class Probe:
    """One simulation to run: replication ``replication`` at ``value``."""

    replication: int
    seed: int
    value: float


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

    def next_probes(self) -> list[Probe]:
        """The probes of the next round (empty when the search is over)."""
        if self.rounds == 0:
            return [Probe(r.index, r.seed, self._value(v))
                    for r in self.reps for v in (self.low, self.high)]
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
            if r.expansions >= self.max_expand:
                r.done = True
                continue
            # Not bracketed: widen towards failure (both passed) or towards passing.
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

    def record(self, probe: Probe, failed: bool | None, error: str | None = None) -> None:
        """The verdict of one probe: failed (True), held (False), or an error (None)."""
        r = self.reps[probe.replication]
        self.history.append({"replication": probe.replication, "seed": probe.seed,
                             "value": probe.value, "failed": failed, "error": error})
        if failed is None:
            r.error, r.done = error or "probe failed", True
            return
        r.seen.append((probe.value, failed))
        if self.rounds > 0:
            r.probes += 1
        direction_up = self._direction() == "up"
        if failed:
            # keep the failing value closest to the passing side
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
        if r.error or r.passing is None or r.failing is None:
            return None
        if self.integer:
            return r.failing
        return (r.passing + r.failing) / 2

    def answer(self) -> dict[str, Any]:
        """The failure point with its interval, and every replication's bracket."""
        per: list[dict[str, Any]] = []
        for r in self.reps:
            est = self.estimate(r)
            status = ("error" if r.error else "found" if est is not None
                      else "holds_throughout" if r.failing is None else "fails_throughout")
            per.append({"replication": r.index, "seed": r.seed, "value": est,
                        "passing": r.passing, "failing": r.failing, "probes": len(r.seen),
                        "status": status, "error": r.error})
        found = [p for p in per if p["value"] is not None]
        out: dict[str, Any] = {"direction": self._direction(), "confidence": self.confidence,
                               "replications": len(self.reps), "n": len(found),
                               "value": None, "interval": None, "half_width": None,
                               "resolution": None, "per_replication": per,
                               "probes": self.history}
        if not found:
            return out
        iv = t_interval([float(p["value"]) for p in found], self.confidence)
        resolution = float(np.mean([abs(float(p["failing"]) - float(p["passing"])) / 2
                                    for p in found]))
        hw = (0.0 if math.isnan(iv.half_width) else iv.half_width) + resolution
        out.update(value=iv.mean, half_width=hw, interval=[iv.mean - hw, iv.mean + hw],
                   resolution=resolution,
                   t_half_width=None if math.isnan(iv.half_width) else iv.half_width)
        return out

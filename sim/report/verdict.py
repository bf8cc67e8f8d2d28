"""The launch verdict: GO or NO-GO against the SLO and the headroom requirement.

The rule (README, "Report"):

- A run whose SLO is breached is NO-GO; the reason names the bottleneck tier and the time
  of the first breach. With replications, a breach in any replication is a NO-GO.
- A sweep with a failure point is NO-GO when the failure point is below
  ``report.headroom`` × the expected peak (``report.expected_peak``, or the scenario's own
  value of the swept key). The failure point is judged on the lower confidence bound when
  the failure-point sweeper gave an interval, and on the last value that held when a grid
  sweep only brackets it; the reason says which, with both numbers. For a parameter where
  failure comes with smaller values (instances of a tier) the rule is mirrored: the
  scenario's value must be at least ``headroom`` × the failure point (its upper bound).
- GO only when both hold: the SLO holds at the scenario and the headroom is shown.
- One run that holds is "GO on this scenario; headroom not measured": a single run cannot
  say how far the cliff is.
- No verdict from a run that did not see its load (``coverage``): a horizon that ends
  before the arrival curve's peak or before an attack's end, no arrivals, or no SLO
  window judged; nor from a run directory that lacks what the verdict reads
  (``load.input_problems``). A breach seen before the horizon is still a NO-GO. Such a
  run counts as not judged in a sweep, never as one that held, and a failure-point
  search with such probes gives no GO (``study``).
- The reason tells the size of the failure: the share of clients who joined, how many
  gave up, and every tier that saturated, in order, with when and how (``saturation``).

Nothing here simulates or recomputes the SLO; it reads the summaries and the failure-point
sweeper's answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import summary as schema
from ..analysis.failure_point import replications_text
from ..summary import (
    ReplicatedInterval,
    Replications,
    Summary,
    recovered_s,
    worst_p99_s,
    worst_success_ratio,
)
from .coverage import horizon_s, load_gaps, required_horizon
from .describe import NA, fmt_num, fmt_pct, fmt_s, get
from .load import RunData, input_problems
from .saturation import saturation_text

GO = "GO"
NO_GO = "NO-GO"
GO_UNMEASURED = "GO on this scenario; headroom not measured"
NOT_JUDGED = "NO VERDICT"


@dataclass(frozen=True)
class LaunchVerdict:
    """``decision`` is one of the four headlines above; ``status`` its CSS class."""

    decision: str
    reason: str
    advice: str = ""

    @property
    def status(self) -> str:
        return {GO: "go", NO_GO: "no_go", GO_UNMEASURED: "go_unmeasured"}.get(
            self.decision, "not_judged")

    @property
    def headline(self) -> str:
        return f"{self.decision} — {self.advice}" if self.advice else self.decision


@dataclass(frozen=True)
class ReportSettings:
    """The ``report`` block of the config (headroom, expected peak, swept key)."""

    headroom: float = 1.5
    expected_peak: float | None = None
    sweep_key: str | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], **overrides: Any) -> ReportSettings:
        raw = cfg.get("report")
        block: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        values: dict[str, Any] = {k: block.get(k) for k in ("headroom", "expected_peak",
                                                            "sweep_key")
                                  if block.get(k) is not None}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# -- failure points -------------------------------------------------------------------------

@dataclass(frozen=True)
class FailurePoint:
    """Where the SLO starts to fail along ``key``, for one variant.

    ``kind`` is ``interval`` (the failure-point sweeper's confidence interval over
    replications), ``bracket`` (a grid sweep: between the last value that held and the
    first that failed) or ``none``; ``status`` is found, holds_throughout (no failure up
    to ``tested``), fails_throughout (failing already at ``tested``) or not_judged (a
    probe of the search could not judge; ``reason`` says which and why).
    ``holds_at`` and ``fails_at`` are the sweeper's bracket: the value nearest failure
    that held in every replication and the one nearest holding that failed; for a
    whole-number parameter (``integer``) they are the answer, both named, and ``value``
    is ``holds_at`` (the sweeper's convention: the capacity that held, not the middle of
    the step; ``value_name`` says which ``value`` is). ``limit`` is set when the search
    held (or failed) throughout up to the smallest or largest value the config allows
    (``tested``): no failure point in range.
    """

    key: str
    status: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    kind: str = "none"
    confidence: float | None = None
    direction: str = "up"
    n: int = 0
    tested: float | None = None
    failing_run: RunData | None = field(default=None, compare=False, repr=False)
    holds_at: float | None = None
    fails_at: float | None = None
    integer: bool = False
    fails_in: int = 0
    reason: str = ""
    limit: str | None = None

    @property
    def value_name(self) -> str:
        """What ``value`` is: the failure point, or for a whole-number parameter found by
        the sweeper the smallest (``down``) or largest (``up``) value that holds."""
        if self.integer and self.kind == "interval":
            return f"{'largest' if self.direction == 'up' else 'smallest'} value that holds"
        return "failure point"

    @property
    def bracket_text(self) -> str:
        """Where the SLO holds and where it fails, both named ("" without the bracket)."""
        if self.holds_at is None or self.fails_at is None:
            return ""
        where = replications_text(self.fails_in, self.n)
        if self.integer:
            side = "below" if self.direction == "up" else "above"
            return (f"the SLO holds at {fmt_num(self.holds_at)} and {side} and fails at "
                    f"{fmt_num(self.fails_at)}{where}")
        width = abs(self.fails_at - self.holds_at)
        scale = max(abs(self.holds_at), abs(self.fails_at))
        # enough digits that the two ends differ by the width shown
        digits = max(3, math.ceil(math.log10(scale / width)) + 2) if width > 0 < scale else 3
        return (f"the SLO holds at {fmt_num(self.holds_at, digits)} and fails at "
                f"{fmt_num(self.fails_at, digits)}{where}, a bracket {fmt_num(width)} wide")

    @property
    def interval_text(self) -> str:
        if self.low is None or self.high is None:
            return ""
        if self.kind == "interval":
            conf = f"{100 * self.confidence:.0f}% " if self.confidence else ""
            return f"{conf}interval {fmt_num(self.low)} to {fmt_num(self.high)}"
        held, failed = (self.low, self.high) if self.direction == "up" \
            else (self.high, self.low)
        return f"between {fmt_num(held)} (held) and {fmt_num(failed)} (failed)"

    @property
    def text(self) -> str:
        """The failure point in a few words, for tables."""
        at_limit = f" (the {self.limit} allowed)" if self.limit else ""
        if self.status == "holds_throughout":
            return (f"none up to {fmt_num(self.tested)}" if self.direction == "up"
                    else f"none down to {fmt_num(self.tested)}") + at_limit
        if self.status == "fails_throughout":
            return f"fails already at {fmt_num(self.tested)}{at_limit}"
        if self.status == "not_judged":
            return "not judged"
        if self.value is None:
            return NA
        if self.integer and self.bracket_text:
            return self.bracket_text[len("the SLO "):]
        return f"{fmt_num(self.value)} ({self.interval_text})"

    @property
    def conservative(self) -> float | None:
        """The bound the verdict is judged on: the side closer to failure."""
        if self.status != "found":
            return None
        return self.low if self.direction == "up" else self.high


def run_failed(run: RunData) -> bool | None:
    """Whether a job breached its SLO (in any replication); None when not judged.

    Not judged: the run crashed, its directory lacks what the verdict reads, or it held
    without covering its load (a horizon short of the peak or of an attack, no
    arrivals, no judged window).
    """
    if run.summary["status"] == "failed" or run.error or input_problems(run):
        return None
    reps = replicated_met(run.summary)
    if reps is not None and isinstance(reps["mean"], int | float):
        breached: bool | None = bool(reps["mean"] < 1.0)
    else:
        met = run.summary["slo"]["met"]
        breached = None if met is None else met is False
    if breached is False and load_gaps(run):
        return None
    return breached


def replicated_met(summary: Summary) -> ReplicatedInterval | None:
    """``slo.met`` over the replications (its mean: the share that met it), if any."""
    reps: Replications | None = summary.get("replications")
    return reps["metrics"].get(schema.SLO_MET) if isinstance(reps, Mapping) else None


def from_sweeper(answer: Mapping[str, Any], runs: list[RunData],
                 values: Mapping[int, float]) -> FailurePoint:
    """The failure-point sweeper's answer (failure_point.json)."""
    key = str(answer.get("param") or NA)
    direction = str(answer.get("direction") or "up")
    if answer.get("status") == "not_judged":
        return FailurePoint(key, "not_judged", direction=direction,
                            reason=not_judged_text(answer))
    per = [p for p in answer.get("per_replication") or [] if isinstance(p, Mapping)]
    probes = [float(p["value"]) for p in answer.get("probes") or []
              if isinstance(p, Mapping) and isinstance(p.get("value"), int | float)]
    failing = _first_failing(runs, values, direction)
    value = answer.get("value")
    interval = answer.get("interval")
    if isinstance(value, int | float) and isinstance(interval, list) and len(interval) == 2:
        holds, fails = answer.get("holds_at"), answer.get("fails_at")
        return FailurePoint(key, "found", float(value), float(interval[0]), float(interval[1]),
                            "interval", answer.get("confidence"), direction,
                            int(answer.get("n") or 0), failing_run=failing,
                            holds_at=float(holds) if isinstance(holds, int | float) else None,
                            fails_at=float(fails) if isinstance(fails, int | float) else None,
                            integer=bool(answer.get("integer")),
                            fails_in=int(answer.get("fails_in") or 0))
    statuses = {p.get("status") for p in per}
    limit = answer.get("limit")
    side = {"minimum": "smallest", "maximum": "largest"}.get(
        str(limit.get("side")) if isinstance(limit, Mapping) else "")
    if statuses == {"fails_throughout"}:
        tested = (min(probes) if direction == "up" else max(probes)) if probes else None
        return FailurePoint(key, "fails_throughout", direction=direction, tested=tested,
                            failing_run=failing, limit=side)
    tested = (max(probes) if direction == "up" else min(probes)) if probes else None
    return FailurePoint(key, "holds_throughout" if probes else "none", direction=direction,
                        tested=tested, limit=side if probes else None)


def not_judged_text(answer: Mapping[str, Any]) -> str:
    """Which probe of a failure-point search could not judge, and why."""
    key = str(answer.get("param") or NA)
    probes = [p for p in answer.get("not_judged") or [] if isinstance(p, Mapping)]
    if not probes:
        return f"A probe along {key} could not judge the SLO."
    first = probes[0]
    more = f" ({len(probes)} probes could not judge; the first is shown)" \
        if len(probes) > 1 else ""
    return (f"The failure-point search along {key} stopped: its probe at {key} = "
            f"{fmt_num(first.get('value'))} (replication {first.get('replication')}, seed "
            f"{first.get('seed')}) could not judge the SLO: "
            f"{'; '.join(str(r) for r in first.get('reasons') or [])}{more}. No failure "
            f"point is given, since a bracket past that probe would rest on a run that did "
            f"not see its load.")


def _first_failing(runs: list[RunData], values: Mapping[int, float],
                   direction: str) -> RunData | None:
    """The failing job closest to the passing side: the one to read the failure from."""
    failing = [(values[id(r)], i, r) for i, r in enumerate(runs)
               if id(r) in values and run_failed(r)]
    if not failing:
        return None
    pick = min(failing) if direction == "up" else max(failing)
    return pick[2]


def from_grid(key: str, runs: list[RunData], values: Mapping[int, float]) -> FailurePoint:
    """Bracket the failure point between the grid values that held and failed."""
    judged = [(values[id(r)], run_failed(r)) for r in runs if id(r) in values]
    judged = [(v, f) for v, f in judged if f is not None]
    if not judged:
        return FailurePoint(key, "none")
    passing = [v for v, f in judged if not f]
    failing = [v for v, f in judged if f]
    direction = ("down" if passing and failing
                 and sum(failing) / len(failing) < sum(passing) / len(passing) else "up")
    first = _first_failing(runs, values, direction)
    if not failing:
        tested = max(passing) if direction == "up" else min(passing)
        return FailurePoint(key, "holds_throughout", direction=direction, tested=tested,
                            n=len(judged))
    if direction == "up":
        f = min(failing)
        below = [v for v in passing if v < f]
        if not below:
            return FailurePoint(key, "fails_throughout", direction=direction, tested=f,
                                failing_run=first, n=len(judged))
        p = max(below)
    else:
        f = max(failing)
        above = [v for v in passing if v > f]
        if not above:
            return FailurePoint(key, "fails_throughout", direction=direction, tested=f,
                                failing_run=first, n=len(judged))
        p = min(above)
    lo, hi = min(p, f), max(p, f)
    return FailurePoint(key, "found", (p + f) / 2, lo, hi, "bracket", None, direction,
                        len(judged), failing_run=first)


# -- verdicts -------------------------------------------------------------------------------

def _breach_reason(run: RunData, where: str = "") -> str:
    slo = run.summary["slo"]
    first = slo["first_breach_s"]
    tier = slo["bottleneck"] or NA
    rec = recovered_s(slo)
    after = ("and did not recover by the horizon" if rec is None
             else f"and recovered at t = {fmt_num(rec)} s")
    reps = replicated_met(run.summary)
    if slo["met"] is not False and reps is not None:
        n = reps["n"] or 0
        met = round((reps["mean"] or 0.0) * n)
        return (f"The SLO is breached{where} in {n - met} of {n} replications "
                f"(replication 0 held; see the replication table).")
    return (f"The SLO is breached{where} at t = {fmt_num(first)} s with {tier} the "
            f"bottleneck tier, {after}.")


def size_text(run: RunData) -> str:
    """How many of the clients who came got in, and how many gave up, in one sentence."""
    legit = run.summary["legit"]
    arrived, joined = legit["arrived"], legit["joined"]
    if not isinstance(arrived, int | float) or not isinstance(joined, int | float) \
            or arrived <= 0:
        return ""
    reps: Replications | None = run.summary.get("replications")
    which = "In replication 0, " if isinstance(reps, Mapping) else ""
    if joined >= arrived:
        text = f"all {fmt_num(arrived)} clients who arrived joined."
    else:
        text = (f"{fmt_pct(joined / arrived)} of the {fmt_num(arrived)} clients who arrived "
                f"joined ({fmt_num(joined)}); {fmt_num(legit['abandoned'])} gave up and "
                f"{fmt_num(legit['in_flight'])} "
                f"{'was' if legit['in_flight'] == 1 else 'were'} still trying at the "
                f"horizon.")
    return which + text if which else text[0].upper() + text[1:]


def _with_size(run: RunData, text: str) -> str:
    """``text`` followed by the share that joined and the tiers that saturated."""
    return " ".join(part for part in (text, size_text(run), saturation_text(run)) if part)


def run_verdict(run: RunData) -> LaunchVerdict:
    """GO/NO-GO for one run: only the SLO can be judged, not the headroom."""
    s = run.summary
    if s["status"] == "failed" or run.error:
        return LaunchVerdict(NOT_JUDGED, "The simulation failed before the horizon, so "
                             "the launch cannot be judged from it (see error.txt).")
    problems = input_problems(run)
    if problems:
        return LaunchVerdict(NOT_JUDGED, "The run directory is incomplete, so the launch "
                             "cannot be judged from it: " + "; ".join(problems) + ".",
                             advice="rerun the scenario")
    failed = run_failed(run)
    gaps = load_gaps(run)
    if failed:
        reason = _breach_reason(run)
        if gaps:
            reason += (" The run did not even cover all of its load (" + "; ".join(gaps)
                       + "), so the failure may be larger than shown.")
        return LaunchVerdict(NO_GO, _with_size(run, reason))
    if gaps:
        return LaunchVerdict(NOT_JUDGED, _with_size(
            run, "The run did not cover the load it is meant to judge: " + "; ".join(gaps)
            + ". That the SLO held says nothing about the launch."),
            advice=_rerun_advice(run))
    if failed is None:
        return LaunchVerdict(NOT_JUDGED, "The SLO was not judged: no metrics ticks "
                             "had enough finished join attempts.")
    slo = s["slo"]
    horizon = s["horizon_s"]
    return LaunchVerdict(
        GO_UNMEASURED, _with_size(
            run, f"The SLO holds throughout the {fmt_s(horizon)} run (worst window: "
            f"{fmt_pct(worst_success_ratio(slo))} of join attempts succeeded, p99 "
            f"join latency {fmt_s(worst_p99_s(slo))}), but one run cannot show how "
            f"far the failure point is above the expected peak."),
        advice="run a failure-point sweep")


def _rerun_advice(run: RunData) -> str:
    """What to change to get a verdict: the horizon that covers the load, when known."""
    needed = required_horizon(run)
    horizon = horizon_s(run)
    if needed is not None and horizon is not None and horizon < needed:
        window = get(run.config, "slo", "window_s")
        extra = float(window) if isinstance(window, int | float) else 0.0
        return (f"rerun with run.horizon_s of at least {fmt_num(math.ceil(needed + extra))} "
                f"(the load plus one SLO window)")
    return "rerun with more load or a longer horizon"


def headroom_verdict(fp: FailurePoint, expected: float | None, settings: ReportSettings,
                     at_expected: RunData | None = None) -> LaunchVerdict:
    """GO/NO-GO for a variant with a failure point (or none found) along its key."""
    h = settings.headroom
    key = fp.key
    if at_expected is not None and run_failed(at_expected):
        return LaunchVerdict(NO_GO, _breach_reason(
            at_expected, f" at the expected {key} = {fmt_num(expected)}"))
    if expected is None or not math.isfinite(expected):
        return LaunchVerdict(NOT_JUDGED, f"No expected peak for {key}: set "
                             f"report.expected_peak (the scenario's value of {key} is "
                             f"not known).")
    if fp.status == "none":
        return LaunchVerdict(NOT_JUDGED, f"No job of the sweep judged the SLO along {key}.")
    if fp.status == "not_judged":
        return LaunchVerdict(NOT_JUDGED, fp.reason,
                             advice="rerun the search with a longer horizon or more load")
    up = fp.direction == "up"
    required = h * expected if up else None
    at_limit = f", the {fp.limit} value the config allows" if fp.limit else ""
    if fp.status == "fails_throughout":
        return LaunchVerdict(NO_GO, f"The SLO fails at every value of {key} tried, already "
                             f"at {fmt_num(fp.tested)}{at_limit}"
                             + (f" (the expected peak is {fmt_num(expected)})." if up
                                else f" (the scenario has {fmt_num(expected)})."))
    if fp.status == "holds_throughout":
        tested = fp.tested if fp.tested is not None else math.nan
        shown = tested >= h * expected if up else expected >= h * tested
        if up:
            text = (f"No failure point was found: the SLO holds up to {key} = "
                    f"{fmt_num(tested)}{at_limit}, {fmt_ratio(tested / expected)}× the "
                    f"expected peak of {fmt_num(expected)} (required: {fmt_ratio(h)}×, "
                    f"{fmt_num(h * expected)}).")
        else:
            text = (f"No failure point was found: the SLO holds down to {key} = "
                    f"{fmt_num(tested)}{at_limit} (the scenario has {fmt_num(expected)}, "
                    f"required: at least {fmt_ratio(h)}× the failure point).")
        return LaunchVerdict(GO if shown else NO_GO, text)
    bound = fp.conservative
    assert bound is not None and fp.value is not None
    on = ("the lower confidence bound" if up else "the upper confidence bound") \
        if fp.kind == "interval" else "the last value that held"
    interval = fp.interval_text
    bracket = fp.bracket_text
    if up:
        ratio = bound / expected
        ok = bound >= h * expected
        where = f"Along {key}, {bracket} ({interval})" if fp.integer and bracket else \
            (f"The failure point of {key} is {fmt_num(fp.value)} ({interval}"
             + (f"; {bracket})" if bracket else ")"))
        text = (f"{where}; judged on "
                f"{on}, {fmt_num(bound)}, it is {fmt_ratio(ratio)}× the expected peak of "
                f"{fmt_num(expected)}, {'meeting' if ok else 'short of'} the required "
                f"{fmt_ratio(h)}× ({fmt_num(required)}).")
    else:
        ratio = expected / bound if bound > 0 else math.inf
        ok = expected >= h * bound
        where = f"Along {key}, {bracket}" if bracket else \
            f"The SLO fails at {key} = {fmt_num(fp.value)} or below"
        text = (f"{where} ({interval}); "
                f"judged on {on}, {fmt_num(bound)}, the scenario's {fmt_num(expected)} is "
                f"{fmt_ratio(ratio)}× it, {'meeting' if ok else 'short of'} the required "
                f"{fmt_ratio(h)}× ({fmt_num(h * bound)}).")
    return LaunchVerdict(GO if ok else NO_GO, text)


def fmt_ratio(x: float) -> str:
    """A headroom ratio such as 1.5 or 1.33."""
    if not math.isfinite(x):
        return "∞"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x < 100 else f"{x:,.0f}"

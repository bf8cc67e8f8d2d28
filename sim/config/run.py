"""The run itself: ``run``, how long, how fine, how many times, with which seed.

``horizon_s`` of simulated time from a seed (one named random stream per component, so
the same seed gives the same numbers); waits and latencies count requests that arrive
after ``warmup_s``. ``resolution_s`` chooses the mode: 0 is exact mode (one request at a
time), a number is cohort mode at that tick (at most ``metrics_tick_s``), ``auto`` lets
sim/resolution.py choose (exact mode when its estimated wall time is within
``exact_budget_s``). ``replications`` repeats the scenario with derived seeds and
reports means with Student t intervals at ``confidence``; ``force`` runs a scenario the
guard estimates too long or too large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import at_least, between, declare, fail, non_negative, positive


@dataclass
class RunConfig:
    seed: int = 1
    horizon_s: float = 1800.0
    warmup_s: float = 0.0
    # 0: exact mode; a number: cohort mode at that tick; "auto": chosen by the tool
    # (sim/resolution.py): exact mode when its estimated wall time is within
    # exact_budget_s, otherwise cohort mode at the tick the scenario's time scales allow.
    resolution_s: Any = "auto"
    exact_budget_s: float = 10.0
    metrics_tick_s: float = 1.0
    progress: bool = True
    report: bool = True
    # Independent replications of the scenario (seeds derived from ``seed``, the same for
    # every compared variant: common random numbers); the summary gains a
    # ``replications`` block with means and Student t intervals.
    replications: int = 1
    confidence: float = 0.95
    # Runs estimated over an hour or half the machine's memory are refused before they
    # start (sim/resolution.py, ``guard``); true runs them anyway.
    force: bool = False


def validate_run(r: RunConfig) -> None:
    """Seed, horizon, ticks and replications; ``resolution_s`` is normalised (``auto``
    in lower case, or a float)."""
    allowed = declare("run.seed", at_least(0, "an integer >= 0"))
    if not isinstance(r.seed, int) or isinstance(r.seed, bool) or r.seed < 0:
        raise fail("run.seed", r.seed, allowed)
    positive("run.horizon_s", r.horizon_s)
    non_negative("run.warmup_s", r.warmup_s)
    if r.warmup_s >= r.horizon_s:
        raise fail("run.warmup_s", r.warmup_s, f"less than run.horizon_s ({r.horizon_s})")
    _validate_resolution(r)
    non_negative("run.exact_budget_s", r.exact_budget_s)
    positive("run.metrics_tick_s", r.metrics_tick_s)
    if r.metrics_tick_s >= r.horizon_s:
        raise fail("run.metrics_tick_s", r.metrics_tick_s,
                    f"a tick shorter than run.horizon_s ({r.horizon_s}), so the run has more "
                    f"than one sample")
    allowed = declare("run.replications",
                      between(1, 10_000, "an integer from 1 to 10,000", integer=True))
    if not isinstance(r.replications, int) or isinstance(r.replications, bool) \
            or not 1 <= r.replications <= 10_000:
        raise fail("run.replications", r.replications, allowed)
    allowed = declare("run.confidence", between(0.5, 1, "a number in [0.5, 1)", hi_open=True))
    if not isinstance(r.confidence, int | float) or not 0.5 <= r.confidence < 1.0:
        raise fail("run.confidence", r.confidence, allowed)
    if r.horizon_s / r.metrics_tick_s > 2_000_000:
        raise fail("run.metrics_tick_s", r.metrics_tick_s,
                    "at most 2,000,000 ticks per horizon (raise the tick)")
    if not isinstance(r.resolution_s, str) and r.resolution_s > 0:  # cohort mode
        if r.resolution_s > r.metrics_tick_s:
            raise fail("run.resolution_s", r.resolution_s,
                        f"auto, 0 (exact mode) or a tick no longer than run.metrics_tick_s "
                        f"({r.metrics_tick_s})")
        if r.horizon_s / r.resolution_s > 20_000_000:
            raise fail("run.resolution_s", r.resolution_s,
                        "auto, 0 (exact mode) or at most 20,000,000 ticks per horizon")


def _validate_resolution(r: RunConfig) -> None:
    """``run.resolution_s``: ``auto`` (any case), or a number >= 0 (0: exact mode)."""
    v = r.resolution_s
    if isinstance(v, str):
        if v.strip().lower() != "auto":
            raise fail("run.resolution_s", v, "auto (the tool chooses), 0 (exact mode) or "
                        "a cohort tick in seconds such as 0.1")
        r.resolution_s = "auto"
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise fail("run.resolution_s", v, "auto (the tool chooses), 0 (exact mode) or a "
                    "cohort tick in seconds such as 0.1")
    r.resolution_s = float(v)

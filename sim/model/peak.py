"""When the arrival curve peaks: the moment a run must reach to have seen its load.

An SLO that held is only an answer if the run lasted through the load, so the run
records in summary.json (``arrival_peak``) when the curve it drew from peaks, and the
coverage check (``sim.analysis.coverage``) compares that with the horizon without
rebuilding the curve. The peak is found on the same rate function the arrivals are
sampled from (``rate_function``), so it is the peak the run drew from.

The peak of a rate is the first time it reaches its maximum (a constant rate peaks at
the start, a ramp at its top end, a diurnal curve at its first crest), searched on a
grid finer than any metrics tick up to where the curve can still rise (``search_span``).
A batch arrives all at once at its ``t0_s`` and counts as a peak of its own: the latest
batch is the peak when it comes at or after the rate's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..config import ArrivalsConfig, component_config, read_trace
from ..summary import ArrivalPeak
from .arrivals import rate_function

GRID_POINTS = 200_001  # rate evaluations when looking for the peak
GRID_STEP_S = 0.05  # finer than any metrics tick
PEAK_TOLERANCE = 1e-6  # a rate within this share of its maximum is at the peak
REACTION_SPAN_SD = 4.0  # a flash crowd's reactions beyond this many log-sd are negligible


def arrival_peak(curve: ArrivalsConfig, key: str = "arrivals") -> ArrivalPeak:
    """When the validated arrival curve ``curve`` peaks, and whether the peak is a batch
    (its clients; None for the peak of the rate).

    Raises ``ValueError`` (a ``ConfigError`` from the schema, or a trace that cannot be
    read) when the curve cannot be built.
    """
    rate = rate_function(curve, key)
    t_rate = first_maximum(rate, search_span(curve, key))
    batches = list(getattr(rate, "batches", []))
    if batches:
        t_batch, count = max(batches)
        if t_batch >= t_rate:
            return {"t_s": float(t_batch), "batch": int(count)}
    return {"t_s": t_rate, "batch": None}


def search_span(a: ArrivalsConfig, key: str = "arrivals") -> float:
    """Up to when the curve ``a`` (a validated arrivals config) can still reach its peak."""
    kind = a.kind
    if kind == "ramp":
        return float(max(a.start_s, a.end_s))
    if kind == "diurnal":
        return float(a.period_s)
    if kind == "trace":
        times, _ = read_trace(f"{key}.path", a.path)
        return float(max(times, default=0.0))
    if kind == "flash_crowd":
        reaction = a.reaction_median_s * math.exp(REACTION_SPAN_SD * a.reaction_sigma)
        return float(a.t0_s + a.push_window_s + reaction)
    if kind == "sum":
        return max((search_span(component_config(f"{key}.components[{i}]", c),
                                f"{key}.components[{i}]")
                    for i, c in enumerate(a.components)), default=0.0)
    return 0.0  # constant and batch: nothing to search


def first_maximum(rate: Any, span: float) -> float:
    """The first time on [0, span] at which ``rate`` is within tolerance of its maximum."""
    if span <= 0:
        return 0.0
    n = int(min(GRID_POINTS, span / GRID_STEP_S + 1))
    t = np.linspace(0.0, span, max(n, 2))
    r = np.asarray(rate(t), dtype=float)
    top = float(np.nanmax(r)) if len(r) else 0.0
    if not top > 0:
        return 0.0
    return float(t[int(np.argmax(r >= top * (1.0 - PEAK_TOLERANCE)))])

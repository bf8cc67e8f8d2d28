"""Whether a run directory saw the load it is meant to judge (``sim.analysis.coverage``).

The logic lives in ``sim.analysis.coverage``, where the failure-point search reads it
too (a probe that did not cover its load could not judge); here it is applied to a run
directory as the report reads it: its summary, its config.yaml and its time series.

A run records when its arrival curve peaks in summary.json (``arrival_peak``). For a run
written before runs recorded it, ``summary`` rebuilds the peak from the run's
config.yaml with the model's own peak search (``sim.model.peak``), so the report of an
older run gets the answer it always had; the only place the report reaches the
model, and only for such runs. Where config.yaml no longer gives the curve (a trace
file since moved), the peak stays unknown and the run has no verdict.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping

from ..analysis import coverage
from ..analysis.coverage import arrival_peak, attack_windows
from ..summary import Summary
from .load import RunData

__all__ = ["arrival_peak", "attack_windows", "horizon_s", "judged_any", "load_gaps",
           "required_horizon", "summary"]


def summary(run: RunData) -> Summary:
    """The run's summary, with the arrival peak rebuilt from config.yaml where the run
    did not record it (left unknown when the curve cannot be rebuilt)."""
    s = run.summary
    arrivals = run.config.get("arrivals")
    if arrival_peak(s) is not None or not isinstance(arrivals, Mapping):
        return s
    from ..config import component_config
    from ..model.peak import arrival_peak as peak_of

    try:
        peak = peak_of(component_config("arrivals", dict(arrivals)))
    except (ValueError, TypeError):
        return s
    return typing.cast(Summary, {**s, "arrival_peak": peak})


def horizon_s(run: RunData) -> float | None:
    """The run's horizon: the summary's, else the config's."""
    return coverage.horizon_s(run.summary, run.config)


def load_gaps(run: RunData) -> list[str]:
    """What of its load the run did not cover, one clause each; empty when it covered it."""
    return coverage.load_gaps(summary(run), run.config, run.series)


def required_horizon(run: RunData) -> float | None:
    """The last moment of load of the run (its arrival peak or an attack's end)."""
    return coverage.required_horizon(summary(run), run.config)


def judged_any(run: RunData) -> bool:
    """Whether any SLO window of the run was judged."""
    return coverage.judged_any(run.summary, run.series)

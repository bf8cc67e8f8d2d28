"""Whether a run directory saw the load it is meant to judge (``sim.analysis.coverage``).

The logic lives in ``sim.analysis.coverage``, where the failure-point search reads it
too (a probe that did not cover its load could not judge); here it is applied to a run
directory as the report reads it: its summary, its config.yaml and its time series.
"""

from __future__ import annotations

from ..analysis import coverage
from ..analysis.coverage import arrival_peak, attack_windows, required_horizon
from .load import RunData

__all__ = ["arrival_peak", "attack_windows", "horizon_s", "judged_any", "load_gaps",
           "required_horizon"]


def horizon_s(run: RunData) -> float | None:
    """The run's horizon: the summary's, else the config's."""
    return coverage.horizon_s(run.summary, run.config)


def load_gaps(run: RunData) -> list[str]:
    """What of its load the run did not cover, one clause each; empty when it covered it."""
    return coverage.load_gaps(run.summary, run.config, run.series)


def judged_any(run: RunData) -> bool:
    """Whether any SLO window of the run was judged."""
    return coverage.judged_any(run.summary, run.series)

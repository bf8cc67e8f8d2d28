"""The service-level objective: ``slo``, what "the launch holds" means.

Judged over a sliding ``window_s`` at every metrics tick (sim/analysis/slo.py): the share
of finished join attempts that succeeded must be at least ``join_success_min``, and the
p99 join latency of the clients who joined in the window at most ``join_p99_max_s``;
windows with fewer than ``min_attempts`` finished attempts are not judged, nor windows
so small that one failed attempt alone would breach the ratio (fewer than
1 / (1 − ``join_success_min``): 100 at 99%).
``trigger_end_s`` is when the trigger of a failure ends (null: the last end of the
attacks and outages), from which recovery is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import at_least, declare, fail, non_negative, positive, share


@dataclass
class SloConfig:
    window_s: float = 60.0
    join_success_min: float = 0.99  # share of finished join attempts that succeed
    join_p99_max_s: float = 10.0  # p99 of first attempt -> joined, clients joined in window
    # windows with fewer finished attempts (or fewer than 1 / (1 - join_success_min))
    # are not judged
    min_attempts: int = 20
    trigger_end_s: float | None = None  # None: the last end of attacks and outages


def validate_slo(s: SloConfig) -> None:
    positive("slo.window_s", s.window_s)
    share("slo.join_success_min", s.join_success_min)
    positive("slo.join_p99_max_s", s.join_p99_max_s)
    allowed = declare("slo.min_attempts", at_least(0, "an integer >= 0"))
    if s.min_attempts < 0:
        raise fail("slo.min_attempts", s.min_attempts, allowed)
    non_negative("slo.trigger_end_s", s.trigger_end_s, optional=True)

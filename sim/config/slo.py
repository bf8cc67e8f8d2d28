"""The service-level objective: ``slo``, what "the launch holds" means.

Judged over a sliding ``window_s`` at every metrics tick (sim/analysis/slo.py): the share
of finished join attempts that succeeded must be at least ``join_success_min``, and the
p99 join latency of the clients who joined in the window at most ``join_p99_max_s``;
windows with fewer than ``min_attempts`` finished attempts are not judged, nor windows
so small that one failed attempt alone would breach the ratio (fewer than
1 / (1 − ``join_success_min``): 100 at 99%).
``success_test`` says how a window's share is judged against ``join_success_min``:
``ratio`` (the default) breaches when the share is below it; ``binomial`` breaches only
when the window's failures are more than the budget allows at ``success_confidence``
(a one-sided binomial test against a failure rate of 1 − ``join_success_min``), so two
failures among 150 attempts, which a healthy tier failing 0.2% of requests gives about
one window in 27, do not decide a breach, while a large window above the budget still
does. ``trigger_end_s`` is when the trigger of a failure ends (null: the last end of the
attacks and outages), from which recovery is measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import at_least, between, declare, fail, non_negative, positive, share


class SuccessTest(StrEnum):
    """How a window's success share is judged against ``join_success_min``."""

    ratio = "ratio"
    binomial = "binomial"


@dataclass
class SloConfig:
    window_s: float = 60.0
    join_success_min: float = 0.99  # share of finished join attempts that succeed
    join_p99_max_s: float = 10.0  # p99 of first attempt -> joined, clients joined in window
    # windows with fewer finished attempts (or fewer than 1 / (1 - join_success_min))
    # are not judged
    min_attempts: int = 20
    # ratio: breach when the window's share is below join_success_min; binomial: when
    # its failures are above the budget at success_confidence (one-sided test)
    success_test: SuccessTest = SuccessTest.ratio
    success_confidence: float = 0.95  # of the binomial test
    trigger_end_s: float | None = None  # None: the last end of attacks and outages


def validate_slo(s: SloConfig) -> None:
    positive("slo.window_s", s.window_s)
    share("slo.join_success_min", s.join_success_min)
    positive("slo.join_p99_max_s", s.join_p99_max_s)
    allowed = declare("slo.min_attempts", at_least(0, "an integer >= 0"))
    if s.min_attempts < 0:
        raise fail("slo.min_attempts", s.min_attempts, allowed)
    allowed = declare("slo.success_confidence",
                      between(0.0, 1.0, "a share strictly between 0 and 1", lo_open=True,
                              hi_open=True))
    if not isinstance(s.success_confidence, int | float) \
            or not 0.0 < s.success_confidence < 1.0:
        raise fail("slo.success_confidence", s.success_confidence, allowed)
    non_negative("slo.trigger_end_s", s.trigger_end_s, optional=True)

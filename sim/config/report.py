"""The launch verdict: ``report``, what the report of a failure-point sweep concludes.

GO needs the failure point (the load at which the SLO first breaks, sim/analysis/
failure_point.py) to be at least ``headroom`` times the expected peak: ``expected_peak``,
or by default the scenario's own value of the swept key (``sweep_key``, by default the
key the multirun swept).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import between, declare, fail, positive


@dataclass
class ReportConfig:
    """The launch verdict: GO needs the failure point >= headroom x the expected peak."""

    headroom: float = 1.5  # required failure point / expected peak
    expected_peak: float | None = None  # None: the scenario's own value of the swept key
    sweep_key: str | None = None  # None: the swept key of the multirun
    max_p_fail: float = 0.05  # a risk sweep: GO needs the upper bound of P(fail) below it


def validate_report(rep: ReportConfig) -> None:
    allowed = declare("report.headroom", between(1, 100, "a number from 1 to 100 (failure point "
                                           "÷ expected peak)"))
    if not isinstance(rep.headroom, int | float) or not 1.0 <= rep.headroom <= 100.0:
        raise fail("report.headroom", rep.headroom, allowed)
    positive("report.expected_peak", rep.expected_peak, optional=True)
    allowed = declare("report.max_p_fail", between(0, 1, "a probability in (0, 1)", lo_open=True,
                                         hi_open=True))
    if not isinstance(rep.max_p_fail, int | float) or not 0 < rep.max_p_fail < 1:
        raise fail("report.max_p_fail", rep.max_p_fail, allowed)
    if rep.sweep_key is not None and (not rep.sweep_key.strip() or " " in rep.sweep_key):
        raise fail("report.sweep_key", rep.sweep_key,
                    "null or a dotted config key such as arrivals.audience")

"""When the arrival curve peaks (``sim.model.peak``), as a run records it and the report reads it.

The run writes the peak into summary.json (``arrival_peak``) and the coverage check
compares it with the horizon without rebuilding the curve; a run directory written before
runs recorded it gets the peak rebuilt from its config.yaml by the report
(``sim.report.coverage.summary``), so its answer is the one it always had.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from sim.analysis import coverage
from sim.compose import compose
from sim.config import ArrivalsConfig, to_config
from sim.model.arrivals import rate_function
from sim.model.peak import arrival_peak
from sim.report import coverage as report_coverage
from sim.report.load import RunData


@pytest.mark.parametrize(("curve", "t_s", "batch"), [
    (ArrivalsConfig(kind="constant", rate=5.0), 0.0, None),
    (ArrivalsConfig(kind="ramp", start_s=10.0, end_s=70.0, rate_start=1.0, rate_end=9.0),
     70.0, None),
    (ArrivalsConfig(kind="ramp", start_s=10.0, end_s=70.0, rate_start=9.0, rate_end=1.0),
     10.0, None),
    (ArrivalsConfig(kind="batch", t0_s=42.0, count=1000), 42.0, 1000),
])
def test_the_peak_of_simple_curves(curve: ArrivalsConfig, t_s: float,
                                   batch: int | None) -> None:
    peak = arrival_peak(curve)
    assert peak["t_s"] == pytest.approx(t_s, abs=0.05) and peak["batch"] == batch


def test_the_peak_of_the_flash_crowd_is_the_first_maximum_of_its_rate() -> None:
    cfg = to_config(compose([]))
    t = np.arange(0.0, 3600.0, 0.01)
    rate = rate_function(cfg.arrivals)(t)
    peak = arrival_peak(cfg.arrivals)
    assert peak["batch"] is None
    assert peak["t_s"] == pytest.approx(float(t[int(np.argmax(rate))]), abs=0.05)


CROWD = ["arrivals.audience=3000"]


def _run(tmp_path: Path, horizon_s: float, peak: dict[str, object] | None) -> RunData:
    """A run directory of the crowd ``CROWD`` as read from disk, with ``peak`` recorded
    in its summary (None: written before runs recorded it)."""
    arrivals = OmegaConf.to_container(compose(CROWD).arrivals, resolve=True)
    config = {"arrivals": arrivals, "run": {"horizon_s": horizon_s}}
    summary: dict[str, object] = {"status": "ok", "horizon_s": horizon_s,
                                  "legit": {"arrived": 100}, "slo": {"met": None}}
    if peak is not None:
        summary["arrival_peak"] = peak
    return RunData(path=tmp_path, summary=summary, config=config)  # type: ignore[arg-type]


def test_an_older_run_gets_its_peak_from_its_config(tmp_path: Path) -> None:
    """A summary without the peak: the report rebuilds it; the analysis alone cannot."""
    recorded = arrival_peak(to_config(compose(CROWD)).arrivals)
    old, new = _run(tmp_path, 200.0, None), _run(tmp_path, 200.0, dict(recorded))
    assert report_coverage.summary(old)["arrival_peak"] == recorded
    assert round(recorded["t_s"]) == 361
    words = "the horizon of 200 s ends before the peak of the arrival curve at t = 361 s"
    assert words in report_coverage.load_gaps(old)[0]
    assert report_coverage.load_gaps(old) == report_coverage.load_gaps(new)
    assert report_coverage.required_horizon(old) == pytest.approx(recorded["t_s"])
    gaps = coverage.load_gaps(old.summary, old.config)
    assert gaps[0] == "summary.json does not record when the arrival curve peaks"
    assert coverage.required_horizon(old.summary, old.config) is None


def test_a_peak_behind_the_horizon_is_no_gap(tmp_path: Path) -> None:
    run = _run(tmp_path, 900.0, {"t_s": 361.0, "batch": None})
    assert not any("peak" in g for g in report_coverage.load_gaps(run))
    batch = _run(tmp_path, 30.0, {"t_s": 42.0, "batch": 1000})
    assert "ends before the batch of 1,000 clients at t = 42 s" in \
        report_coverage.load_gaps(batch)[0]

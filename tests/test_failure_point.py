"""Failure-point search: the state machine alone, then the Hydra sweeper end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.analysis.failure_point import FailurePointSearch


def drive(search: FailurePointSearch, fails) -> dict:  # type: ignore[no-untyped-def]
    while True:
        probes = search.next_probes()
        if not probes:
            break
        for p in probes:
            search.record(p, fails(p.seed, p.value))
        search.end_round()
    return search.answer()


@pytest.mark.parametrize(("low", "high"), [(50, 200), (10, 40), (150, 400)])
def test_bisection_finds_a_threshold_that_rises_with_load(low: float, high: float) -> None:
    rng = np.random.default_rng(0)
    truth = {s: 97.0 + rng.normal(0, 1.0) for s in (1, 2, 3, 4)}
    a = drive(FailurePointSearch(low, high, list(truth), rel_tol=0.001),
              lambda seed, v: v > truth[seed])
    assert a["direction"] == "up" and a["n"] == 4
    assert a["value"] == pytest.approx(np.mean(list(truth.values())), abs=0.2)
    lo, hi = a["interval"]
    assert lo < a["value"] < hi
    for rep in a["per_replication"]:
        assert rep["passing"] <= truth[rep["seed"]] <= rep["failing"]


def test_integer_parameter_that_fails_below_a_value() -> None:
    """Instances of a station: fails with 6 or fewer, holds with 7 or more."""
    for low, high, direction in [(2, 30, "auto"), (10, 30, "down")]:
        a = drive(FailurePointSearch(low, high, [1, 2], integer=True, direction=direction),
                  lambda seed, v: v <= 6)
        assert a["direction"] == "down"
        assert a["value"] == 6 and all(r["failing"] == 6 and r["passing"] == 7
                                       for r in a["per_replication"])


def test_never_failing_and_errors_are_reported() -> None:
    a = drive(FailurePointSearch(1, 2, [1], max_expand=3), lambda seed, v: False)
    assert a["value"] is None and a["per_replication"][0]["status"] == "holds_throughout"
    s = FailurePointSearch(1, 2, [1, 2])
    for p in s.next_probes():
        s.record(p, None if p.seed == 2 else p.value > 1.5, "boom" if p.seed == 2 else None)
    s.end_round()
    a = drive(s, lambda seed, v: v > 1.5)
    assert a["n"] == 1 and a["per_replication"][1]["status"] == "error"


def test_bad_search_arguments() -> None:
    with pytest.raises(ValueError, match="low must be less than high"):
        FailurePointSearch(5, 5, [1])
    with pytest.raises(ValueError, match="direction"):
        FailurePointSearch(1, 5, [1], direction="sideways")


def test_sweeper_finds_the_capacity_of_one_station(tmp_path: Path) -> None:
    """M/M/10 with 0.1 s service (capacity c·μ = 100/s), clients with a 2 s deadline that
    servers honour: the SLO (99% of attempts succeed in every minute) starts to fail
    within 5% of c·μ. Probes run through the default (joblib) launcher."""
    out = tmp_path / "fp"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "-m", "hydra/sweeper=failure_point",
         "hydra.sweeper.param=arrivals.rate", "hydra.sweeper.low=40",
         "hydra.sweeper.high=160", "hydra.sweeper.replications=2",
         "hydra.sweeper.rel_tol=0.02", "architecture=single_station", "arrivals=constant",
         "clients=patient", "clients.timeout_s=2",
         "architecture.stations.server.drop_expired=true", "run.horizon_s=200",
         "run.report=false", "run.progress=false", f"hydra.sweep.dir={out}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads((out / "failure_point.json").read_text())
    assert answer["param"] == "arrivals.rate" and answer["finished"]
    assert answer["value"] == pytest.approx(100.0, rel=0.05)
    lo, hi = answer["interval"]
    assert lo <= answer["value"] <= hi and hi - lo < 10
    assert answer["n"] == 2 and len(answer["probes"]) >= 8
    assert "the SLO starts to fail at" in proc.stderr
    table = json.loads((out / "sweep.json").read_text())
    assert table["jobs"] == len(answer["probes"]) and table["failed"] == 0


def test_sweeper_needs_its_settings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "-m", "hydra/sweeper=failure_point",
         "hydra.sweeper.low=1", "run.progress=false", f"hydra.sweep.dir={tmp_path / 'x'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode != 0
    assert "hydra.sweeper.param" in proc.stderr and "hydra.sweeper.high" in proc.stderr

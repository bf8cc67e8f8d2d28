"""Same config and seed, same result: in one process, across processes, and per stream.

A run owns one seed; every component draws from its own named stream. So the same seed
gives the same summary and time series (only ``perf``, the wall-clock cost, differs),
a different seed gives different numbers, and adding a component (an attack vector, a
different join path) leaves the arrival times of legit clients as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim

SMALL = [
    "arrivals.audience=2000", "arrivals.t0_s=20", "arrivals.early_window_s=20",
    "arrivals.tail_tau_s=30", "run.horizon_s=90", "run.report=false", "run.progress=false",
]
# The spaces join path cut down so that it saturates and retries at this audience.
TIGHT = [
    "architecture.stations.join.max_rate_rps=60", "architecture.stations.join.queue_limit=200",
    "architecture.stations.fanout.listener_slots_per_instance=80", "clients.timeout_s=2",
]
SIM = Path(sys.executable).with_name("sim")


def without_perf(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "perf"}


def assert_same_series(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for key, col in a.items():
        np.testing.assert_array_equal(col, b[key], err_msg=key)


@pytest.fixture(scope="module")
def seed1() -> sim.Result:
    return sim.run([*SMALL, *TIGHT, "run.seed=1"])


def test_same_seed_same_summary_and_series(seed1: sim.Result) -> None:
    again = sim.run([*SMALL, *TIGHT, "run.seed=1"])
    assert without_perf(again.summary) == without_perf(seed1.summary)
    assert_same_series(again.timeseries, seed1.timeseries)
    # The scenario is not trivial: clients were refused, retried and gave up.
    lg = seed1.summary["legit"]
    assert lg["retries"] > 0 and lg["joined"] > 0


def test_different_seeds_differ(seed1: sim.Result) -> None:
    other = sim.run([*SMALL, *TIGHT, "run.seed=2"])
    assert other.summary["legit"] != seed1.summary["legit"]
    assert not np.array_equal(other.timeseries["legit.arrivals"],
                              seed1.timeseries["legit.arrivals"])


def perf_free_text(path: Path) -> str:
    """summary.json as written, without the ``perf`` block (the only part that may vary)."""
    data = json.loads(path.read_text())
    data.pop("perf")
    return json.dumps(data, indent=2)


def test_two_processes_write_identical_files(tmp_path: Path) -> None:
    texts, series = [], []
    for i, hashseed in enumerate(["0", "12345"]):  # set iteration order must not matter
        out = tmp_path / f"run{i}"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run(
            [str(SIM), *SMALL, *TIGHT, "run.seed=7", f"hydra.run.dir={out}"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        raw = (out / "summary.json").read_text()
        assert '"perf"' in raw
        texts.append(perf_free_text(out / "summary.json"))
        series.append((out / "timeseries.csv").read_bytes())
        # Everything before the perf block is byte for byte what the other process wrote.
        texts.append(raw[:raw.index('"perf"')])
    assert texts[0] == texts[2]
    assert texts[1] == texts[3]
    assert series[0] == series[1]


def test_attack_does_not_move_legit_arrivals() -> None:
    # A fine metrics tick, so that equal counts per tick mean equal arrival times.
    fine = [*SMALL, "run.metrics_tick_s=0.05", "run.seed=3"]
    calm = sim.run(fine)
    attacked = sim.run([*fine, "attack=l7_join_flood", "attack.vectors.l7_join_flood.rate_rps=300",
                        "attack.vectors.l7_join_flood.start_s=10",
                        "attack.vectors.l7_join_flood.end_s=60"])
    assert attacked.summary["attack"]["offered"] > 1000
    np.testing.assert_array_equal(calm.timeseries["legit.arrivals"],
                                  attacked.timeseries["legit.arrivals"])
    # ... while what happens to them may differ (the attack costs the edge and auth).
    assert calm.summary["stations"]["edge"]["offered"] \
        < attacked.summary["stations"]["edge"]["offered"]


def test_architectures_see_the_same_arrivals() -> None:
    """Common random numbers: two join paths compared on one seed get the same crowd."""
    fine = [*SMALL, "run.metrics_tick_s=0.05", "run.seed=4"]
    spaces = sim.run(fine)
    single = sim.run([*fine, "architecture=single_station"])
    np.testing.assert_array_equal(spaces.timeseries["legit.arrivals"],
                                  single.timeseries["legit.arrivals"])

"""The benchmark script runs (at a tiny scale); it measures nothing here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_exact.py"


@pytest.mark.benchmark
def test_bench_exact_runs() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--customers", "3000", "--reps", "1"],
                         capture_output=True, text=True, check=True, timeout=300)
    for line in ("sim: median", "ciw: median", "simpy: median", "sim/ciw:", "sim/simpy:"):
        assert line in out.stdout, out.stdout


@pytest.mark.benchmark
def test_bench_cohort_runs() -> None:
    script = SCRIPT.with_name("bench_cohort.py")
    out = subprocess.run([sys.executable, str(script), "--quick", "--repeats", "1"],
                         capture_output=True, text=True, check=True, timeout=600)
    for line in ("ratio whole run", "ratio simulation", "mid-size scenario: exact",
                 "sim/ciw:", "sim/simpy:"):
        assert line in out.stdout, out.stdout

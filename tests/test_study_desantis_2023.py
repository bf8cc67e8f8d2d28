"""Smoke run of experiments/desantis_2023 at small scale (--smoke): outputs and their sense."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_desantis_smoke(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "experiments/desantis_2023/run.py"), "--smoke",
                    "--out", str(tmp_path)], check=True, cwd=ROOT, timeout=300)
    for name in ("results.csv", "capacity.csv", "baseline.png", "reference_timeseries.png",
                 "capacity.png", "run_time.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [int(r["audience"]) for r in rows] == [3000, 5000]
    # The small crowd holds; the larger one breaks at a named tier after the start.
    assert rows[0]["slo_met"] == "True"
    assert rows[1]["slo_met"] == "False"
    assert rows[1]["bottleneck"] in ("edge", "auth", "token_store", "join", "fanout")
    assert float(rows[1]["first_breach_s"]) > 100
    cap = list(csv.DictReader((tmp_path / "capacity.csv").open()))
    # The capacity search ends with a config that holds, above the baseline's knob.
    assert cap[1]["held"] == "True"
    assert float(cap[1]["join.max_rate_rps"]) > 25

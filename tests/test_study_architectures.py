"""Smoke run of experiments/architectures at small scale (--smoke): outputs and their sense."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_architectures_smoke(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "experiments/architectures/run.py"), "--smoke",
                    "--out", str(tmp_path)], check=True, cwd=ROOT, timeout=300)
    assert (tmp_path / "architectures.png").stat().st_size > 0
    rows = {r["variant"]: r for r in csv.DictReader((tmp_path / "results.csv").open())}
    assert set(rows) == {"sfu", "hls_cdn", "sfu_waiting_room"}
    for r in rows.values():
        assert float(r["join_ratio"]) > 0.99
        assert float(r["egress_gb"]) > 0
    # Same crowd (common random numbers): the same listeners, give or take sessions.
    sfu, hls = rows["sfu"], rows["hls_cdn"]
    assert abs(int(sfu["peak_listeners"]) - int(hls["peak_listeners"])) < 0.01 * int(
        sfu["peak_listeners"])
    assert hls["polls_failed_share"] == "0.0"
    assert rows["sfu_waiting_room"]["room_wait_mean_s"] != ""

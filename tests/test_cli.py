"""The installed commands, run as a user would: ``sim``, ``python -m sim`` and a multirun.

Each writes into a temporary Hydra run (or sweep) directory and must leave the files of
DESIGN.md's stable interface there: summary.json, timeseries.csv (``t_s`` first) and,
when the report module is installed, report.md, report.html and figures/.
"""

from __future__ import annotations

import csv
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

SIM = Path(sys.executable).with_name("sim")
SMALL = ["architecture=spaces", "arrivals.audience=1500", "arrivals.t0_s=20",
         "arrivals.early_window_s=20", "arrivals.tail_tau_s=30", "run.horizon_s=60",
         "slo.window_s=30",
         "run.progress=false"]


def has_report() -> bool:
    try:
        return hasattr(importlib.import_module("sim.report"), "build_report")
    except ImportError:
        return False


REPORT = has_report()
REPORT_FLAG = [] if REPORT else ["run.report=false"]


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300,
                          check=False)


def check_run_dir(out: Path, report: bool = REPORT) -> dict[str, object]:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == 1
    lg = summary["legit"]
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"] > 0
    with (out / "timeseries.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "t_s"
    assert len(rows) > 10 and all(len(r) == len(rows[0]) for r in rows)
    assert (out / "config.yaml").is_file()
    if report:
        assert (out / "report.md").stat().st_size > 0
        html = (out / "report.html").read_text()
        assert "<html" in html.lower()
        assert (out / "figures").is_dir() and any((out / "figures").iterdir())
    return summary


def test_console_script_writes_run_dir(tmp_path: Path) -> None:
    assert SIM.is_file(), f"console script not installed next to {sys.executable}"
    out = tmp_path / "run"
    proc = run([str(SIM), *SMALL, *REPORT_FLAG, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = check_run_dir(out)
    assert "clients joined" in proc.stdout and str(out) in proc.stdout
    assert summary["name"] == "default_launch"
    if not REPORT:
        pytest.skip("sim.report.build_report is not there yet: report files not checked")


def test_python_m_sim_writes_run_dir(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run([sys.executable, "-m", "sim", *SMALL, *REPORT_FLAG, "run.seed=5",
                f"hydra.run.dir={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = check_run_dir(out)
    assert summary["seed"] == 5


def test_multirun_makes_one_dir_per_job(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run([sys.executable, "-m", "sim", "-m", "run.seed=1,2", *SMALL, "run.report=false",
                f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = sorted(p.parent for p in sweep.glob("*/summary.json"))
    assert [p.name for p in runs] == ["0", "1"]
    seeds = [check_run_dir(p, report=False)["seed"] for p in runs]
    assert seeds == [1, 2]


def test_trace_preset_from_another_directory(tmp_path: Path) -> None:
    """The shipped trace is found wherever the command runs (relative-path rule)."""
    out = tmp_path / "run"
    proc = run([str(SIM), "arrivals=trace", "arrivals.scale=0.01", "run.horizon_s=300",
                "architecture=single_station", "run.progress=false", "run.report=false",
                f"hydra.run.dir={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_run_dir(out, report=False)
    recorded = (out / "config.yaml").read_text()
    assert "example_trace.csv" in recorded and str(tmp_path) not in recorded


def test_config_dir_adds_an_architecture(tmp_path: Path) -> None:
    own = tmp_path / "mine" / "architecture"
    own.mkdir(parents=True)
    (own / "two_tier.yaml").write_text(
        "name: two_tier\nentry: front\n"
        "stations:\n"
        "  front: {instances: 1, workers_per_instance: 8, service: {mean_s: 0.01}}\n"
        "  back: {instances: 1, workers_per_instance: 8, service: {mean_s: 0.02}}\n"
        "routes:\n  front: {back: 1.0}\n")
    out = tmp_path / "run"
    proc = run([str(SIM), "--config-dir", str(tmp_path / "mine"), "architecture=two_tier",
                *SMALL[1:], "run.report=false", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = check_run_dir(out, report=False)
    assert set(summary["stations"]) == {"front", "back"}  # type: ignore[arg-type]


def test_a_glob_sweeps_a_groups_options_and_is_refused_elsewhere(tmp_path: Path) -> None:
    """``glob()`` picks among a config group's options (shipped and ``--config-dir``);
    over a value key, or matching nothing, it is refused before anything runs."""
    from sim.cli import _jobs, check_command_line
    from sim.config import ConfigError

    assert _jobs(["arrivals=glob(flash*)", "run.seed=1,2"]) == [
        ["arrivals=flash_crowd", "run.seed=1"], ["arrivals=flash_crowd", "run.seed=2"],
        ["arrivals=flash_crowd_on_diurnal", "run.seed=1"],
        ["arrivals=flash_crowd_on_diurnal", "run.seed=2"]]
    (tmp_path / "arrivals").mkdir()
    (tmp_path / "arrivals" / "flash_mine.yaml").write_text("kind: constant\nrate: 5\n")
    assert [j[0] for j in _jobs(["arrivals=glob(flash*,exclude=*diurnal)"],
                                str(tmp_path))] == ["arrivals=flash_crowd",
                                                    "arrivals=flash_mine"]
    for bad, words in (("run.seed=glob(*)", "run.seed is not one"),
                       ("arrivals=glob(zzz*)", "matches no option of arrivals")):
        with pytest.raises(ConfigError, match=words):
            check_command_line(["-m", bad, "run.horizon_s=120", "slo.window_s=30"])

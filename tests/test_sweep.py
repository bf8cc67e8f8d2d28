"""Sweeps: the joblib launcher by default, the sweep table, failed jobs, restarts, progress."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sim.cli
from sim.sweep import write_sweep_table

TINY = ["architecture=single_station", "arrivals=constant", "clients=patient",
        "run.horizon_s=60", "slo.window_s=30", "run.report=false", "run.progress=false"]


def sweep(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", "-m", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, check=False)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_sweep_table_progress_and_restart(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = sweep(["run.seed=1,2", "arrivals.rate=50,80", *TINY, f"hydra.sweep.dir={out}"],
                 tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Joblib" in proc.stdout  # the default launcher
    assert "[sweep] 4 of 4 jobs done" in proc.stderr
    rows = read_csv(out / "sweep.csv")
    assert [r["job"] for r in rows] == ["0", "1", "2", "3"]
    assert {(r["run.seed"], r["arrivals.rate"]) for r in rows} == {
        ("1", "50"), ("1", "80"), ("2", "50"), ("2", "80")}
    assert all(r["status"] == "ok" and int(r["legit.arrived"]) > 0 for r in rows)
    table = json.loads((out / "sweep.json").read_text())
    assert table["jobs"] == 4 and table["failed"] == 0
    assert table["rows"][0]["overrides"][0] == "run.seed=1"
    assert table["rows"][0]["figures"]["slo.met"] is True
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}

    # Restarted with one more seed: the four finished jobs are skipped.
    proc = sweep(["run.seed=1,2,3", "arrivals.rate=50,80", *TINY,
                  f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("skipped") == 4, proc.stderr
    rows = read_csv(out / "sweep.csv")
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    assert "[sweep] 6 of 6 jobs done" in proc.stderr
    for p, t in before.items():
        assert p.stat().st_mtime_ns == t


def test_failed_job_is_recorded_and_the_sweep_goes_on(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process (basic launcher): the job with seed 2 raises; the others are kept."""
    real = sim.cli.simulate

    def flaky(cfg, outdir=None, progress=False):  # type: ignore[no-untyped-def]
        if cfg.run.seed == 2:
            raise RuntimeError("station exploded")
        return real(cfg, outdir=outdir, progress=progress)

    monkeypatch.setattr(sim.cli, "simulate", flaky)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sweep"
    with pytest.raises(SystemExit) as stop:  # the others finish, then the sweep fails
        sim.cli.main(["-m", "run.seed=1,2,3", *TINY, "hydra/launcher=basic",
                      f"hydra.sweep.dir={out}"])
    assert stop.value.code == 1
    rows = read_csv(out / "sweep.csv")
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "station exploded" in rows[1]["error"]
    assert "station exploded" in (out / "1" / "error.txt").read_text()
    assert rows[0]["legit.joined"] and rows[2]["legit.joined"]
    table = json.loads((out / "sweep.json").read_text())
    assert table["failed"] == 1


def test_table_rebuilds_from_a_directory(tmp_path: Path) -> None:
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- run.seed=4\n")
    (job / "error.txt").write_text("Traceback ...\nValueError: boom\n")
    csv_path, json_path = write_sweep_table(tmp_path)
    rows = read_csv(csv_path)
    assert rows[0]["status"] == "failed" and rows[0]["error"] == "ValueError: boom"
    assert rows[0]["run.seed"] == "4"
    assert json.loads(json_path.read_text())["failed"] == 1


def test_sweep_writes_its_launch_review(tmp_path: Path) -> None:
    """With reports on, the sweep directory gets its own report when the last job ends."""
    out = tmp_path / "sweep"
    args = [a for a in TINY if a != "run.report=false"]
    proc = sweep(["arrivals.rate=50,150", *args, f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"[sweep] report: {out / 'report.html'}" in proc.stderr
    md = (out / "report.md").read_text()
    assert "NO-GO" in md  # 150/s on the single station breaches its SLO
    assert (out / "0" / "report.html").is_file()


def test_a_sweep_that_mixes_modes_says_so(tmp_path: Path) -> None:
    """``auto`` decides per job: a small job runs exact, a large one in cohort mode. The
    table has each job's mode and tick, and the sweep warns with the tick to pin."""
    out = tmp_path / "sweep"
    proc = sweep(["arrivals.rate=10,3000", "run.exact_budget_s=0.5", *TINY,
                  f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["arrivals.rate"]: r for r in read_csv(out / "sweep.csv")}
    assert rows["10"]["mode"] == "exact" and float(rows["10"]["resolution.tick_s"]) == 0
    assert rows["3000"]["mode"] == "cohort"
    tick = float(rows["3000"]["resolution.tick_s"])
    assert tick > 0
    warning = [ln for ln in proc.stderr.splitlines() if "different modes" in ln]
    assert len(warning) == 1 and f"run.resolution_s={tick:g}" in warning[0], proc.stderr

    # Pinned, the same sweep runs one mode and says nothing.
    out2 = tmp_path / "pinned"
    proc = sweep(["arrivals.rate=10,3000", f"run.resolution_s={tick:g}", *TINY,
                  f"hydra.sweep.dir={out2}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {r["mode"] for r in read_csv(out2 / "sweep.csv")} == {"cohort"}
    assert "different modes" not in proc.stderr


def test_mixed_modes_names_each_mode_and_the_finest_tick() -> None:
    from sim.sweep import mixed_modes

    def row(mode: str, tick: float) -> dict:
        return {"figures": {"mode": mode, "resolution.tick_s": tick}}

    assert mixed_modes([row("cohort", 0.1), row("cohort", 0.1)]) is None
    assert mixed_modes([row("exact", 0.0)]) is None
    msg = mixed_modes([row("exact", 0.0), row("cohort", 0.1), row("cohort", 0.05)])
    assert msg is not None and "1 job exact" in msg and "run.resolution_s=0.05" in msg
    msg = mixed_modes([row("exact", 0.0), row("exact", 0.0), row("cohort", 0.25)])
    assert msg is not None and "2 jobs exact" in msg and "1 job cohort at 0.25 s" in msg

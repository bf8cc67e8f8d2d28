"""What a run leaves on disk: whole files or none, no earlier run's files beside the new
ones, a restart that reruns whatever is not complete, and a sweep table that cannot
mislead a spreadsheet."""

from __future__ import annotations

import csv
import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

import sim
from sim.cli import _finished_summary
from sim.compose import compose
from sim.config import to_config
from sim.run import (
    COMPLETE_FILE,
    OutputError,
    atomic_write,
    is_complete,
    mark_complete,
    prepare_outdir,
)
from sim.sweep import SweepTable, safe_cell, unique_names, write_sweep_table

TINY = ["architecture=single_station", "arrivals=constant", "clients=patient",
        "run.horizon_s=30", "slo.window_s=10", "run.report=false", "run.progress=false"]


def test_a_write_cut_short_leaves_the_old_file_or_none(tmp_path: Path) -> None:
    target = tmp_path / "timeseries.csv"

    def half_then_stop(fh) -> None:  # type: ignore[no-untyped-def]
        fh.write("t_s,x\n0,1\n")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_stop)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_stop)
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


def test_a_process_killed_mid_write_leaves_no_partial_file(tmp_path: Path) -> None:
    """The process dies (no cleanup at all) halfway through a file: the file's name
    never shows the partial content, and the next run removes the temporary."""
    code = ("import os, sys; from pathlib import Path; from sim.run import atomic_write\n"
            "def w(fh):\n"
            "    fh.write('t_s\\n' + '1\\n' * 1000); fh.flush(); os._exit(9)\n"
            "atomic_write(Path(sys.argv[1]) / 'timeseries.csv', w)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False,
                          capture_output=True, timeout=60)
    assert proc.returncode == 9
    assert not (tmp_path / "timeseries.csv").exists()
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and left[0].name.endswith(".tmp")
    prepare_outdir(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_summary_is_written_last_and_a_run_is_complete_only_when_marked(
        tmp_path: Path) -> None:
    cfg = to_config(compose(TINY))
    result = sim.simulate(cfg, outdir=tmp_path)
    assert result.summary["status"] == "ok"
    times = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert times["summary.json"] >= max(times.values())
    assert not is_complete(tmp_path)
    assert _finished_summary(cfg, tmp_path) is None  # no marker: a restart reruns it
    mark_complete(tmp_path)
    assert is_complete(tmp_path)
    assert _finished_summary(cfg, tmp_path) == result.summary
    # A time series lost after the fact: the marker no longer holds.
    (tmp_path / "timeseries.csv").unlink()
    assert not is_complete(tmp_path) and _finished_summary(cfg, tmp_path) is None


def test_a_run_made_by_other_code_is_not_taken_as_done(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A restarted sweep reuses a finished run only if the same code made it: after a
    fix to the engine, a failure-point search or a study rerun in the same folder must
    run its jobs again, not quote the runs of the code before it."""
    import sim.provenance

    cfg = to_config(compose(TINY))
    result = sim.simulate(cfg, outdir=tmp_path)
    mark_complete(tmp_path)
    assert _finished_summary(cfg, tmp_path) == result.summary
    digest = sim.provenance.code_digest()
    assert len(digest) == 16 and digest == sim.provenance.code_digest()
    monkeypatch.setattr(sys.modules["sim.run"], "code_digest", lambda: "0" * 16)
    assert is_complete(tmp_path) and _finished_summary(cfg, tmp_path) is None
    # A marker written before runs recorded their code is not this code's either.
    monkeypatch.undo()
    marker = json.loads((tmp_path / COMPLETE_FILE).read_text())
    del marker["code"]
    (tmp_path / COMPLETE_FILE).write_text(json.dumps(marker))
    assert _finished_summary(cfg, tmp_path) is None


def test_the_code_digest_follows_the_source(tmp_path: Path) -> None:
    """The digest is the package's source: a copy of it gives the same digest, one byte
    changed in any module another."""
    import shutil

    import sim.provenance

    def digest_of(root: Path) -> str:
        code = ("import sys; sys.path.insert(0, sys.argv[1]); import sim.provenance as p; "
                "print(p.code_digest())")
        return subprocess.run([sys.executable, "-c", code, str(root)], check=True,
                              capture_output=True, text=True, timeout=60).stdout.strip()

    shutil.copytree(sim.provenance.PACKAGE, tmp_path / "sim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert digest_of(tmp_path) == sim.provenance.code_digest()
    engine = tmp_path / "sim" / "engine" / "fluid.py"
    engine.write_text(engine.read_text() + "\n")
    assert digest_of(tmp_path) != sim.provenance.code_digest()


def test_a_full_disk_leaves_no_summary_that_says_ok(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def full(ts, path) -> None:  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sys.modules["sim.run"], "write_timeseries", full)
    with pytest.raises(OutputError, match="No space left on device"):
        sim.simulate(to_config(compose(TINY)), outdir=tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert "No space left" in (tmp_path / "error.txt").read_text()
    assert not (tmp_path / COMPLETE_FILE).exists()


def test_a_new_run_leaves_no_file_of_the_earlier_run(tmp_path: Path) -> None:
    earlier = {"summary.json": "{}", "timeseries.csv": "t_s\n", "error.txt": "boom",
               "report.html": "<html>", "report.md": "# old", COMPLETE_FILE: "{}",
               ".summary.json.123.tmp": "{"}
    for name, text in earlier.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "old.png").write_bytes(b"png")
    (tmp_path / "notes.txt").write_text("mine")  # not a run's file: kept
    sim.run(TINY, outdir=tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"config.yaml", "summary.json", "timeseries.csv", "notes.txt",
                     COMPLETE_FILE}
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "ok"


@pytest.mark.parametrize("make", ["file", "under_file", "proc"])
def test_an_output_directory_that_cannot_be_used_is_named(tmp_path: Path, make: str) -> None:
    (tmp_path / "f").write_text("x")
    out = {"file": tmp_path / "f", "under_file": tmp_path / "f" / "run",
           "proc": Path("/proc/sim-run-here")}[make]
    with pytest.raises(OutputError) as err:
        sim.run(TINY, outdir=out)
    assert str(out) in str(err.value)


def _job(sweep: Path, num: int, overrides: list[str], summary: dict[str, object] | None,
         error: str | None = None) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if summary is not None:
        (job / "summary.json").write_text(json.dumps(summary))
    if error is not None:
        (job / "error.txt").write_text(error)


def test_sweep_csv_cells_cannot_become_formulas_and_columns_are_unique(
        tmp_path: Path) -> None:
    evil = "=HYPERLINK(\"http://x\",\"y\")"
    _job(tmp_path, 0, [f"name={evil}", "arrivals.rate=-5"],
         {"name": evil, "status": "ok", "seed": 1, "legit": {"joined": -3, "arrived": 4}})
    _job(tmp_path, 1, ["name=@SUM(A1)", "arrivals.rate=+7"],
         {"name": "@SUM(A1)", "status": "ok", "seed": 2,
          "slo": {"bottleneck": "-cmd|' /C calc'!A0"}},
         error="Traceback\n=1+1\n")
    csv_path, _ = write_sweep_table(tmp_path)
    with csv_path.open(newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert len(header) == len(set(header))
    assert "name" in header and "summary.name" in header
    col = {h: i for i, h in enumerate(header)}
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@"):
                float(cell)  # only numbers may start so
    assert rows[0][col["name"]] == "'" + evil
    assert rows[0][col["summary.name"]] == "'" + evil
    assert rows[0][col["arrivals.rate"]] == "-5"
    assert rows[0][col["legit.joined"]] == "-3"
    assert rows[1][col["arrivals.rate"]] == "+7"
    assert rows[1][col["error"]] == "'=1+1"
    assert rows[1][col["slo.bottleneck"]].startswith("'-cmd")


def test_safe_cell_and_unique_names() -> None:
    assert safe_cell("-1.5e3") == "-1.5e3" and safe_cell(-2) == -2
    assert safe_cell("-x") == "'-x" and safe_cell("plain") == "plain"
    assert safe_cell("\tcmd") == "'\tcmd"
    assert unique_names(["a", "b", "a", "a"]) == ["a", "b", "a.2", "a.3"]


def test_progress_counts_jobs_finished_in_this_sweep_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Summaries an earlier attempt left are not jobs done; a job counts once it ends."""
    for num in range(3):
        _job(tmp_path, num, [f"run.seed={num}"], {"status": "ok"})
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)},
                                      "sweeper": {"_target_": "x.BasicSweeper",
                                                  "params": None},
                                      "overrides": {"task": ["run.seed=0,1,2,3"]}}})
    table = SweepTable()
    table.on_multirun_start(cfg)
    hydra_cfg = OmegaConf.create({"hydra": {"mode": RunMode.MULTIRUN,
                                            "sweep": {"dir": str(tmp_path)},
                                            "job": {"num": 2}}})
    previous = HydraConfig.instance().cfg
    HydraConfig.instance().cfg = hydra_cfg  # type: ignore[assignment]
    try:
        table.on_job_end(cfg, None)
        table.on_job_end(cfg, None)  # the same job twice is one job
    finally:
        HydraConfig.instance().cfg = previous
    err = capsys.readouterr().err
    assert "[sweep] 1 of 4 jobs done (job 2 finished)" in err, err


def test_report_files_are_replaced_whole_or_left_as_they_were(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report rebuilt over an earlier one and cut short (the HTML's rendering fails,
    a figure's writer dies halfway) leaves each file either as it was or whole, and no
    temporary beside them."""
    from matplotlib.figure import Figure

    from sim.report import build as report_build
    from sim.report.load import load_run

    out = tmp_path / "run"
    sim.run([*TINY, "run.report=true"], outdir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name.startswith("report.")}
    assert set(before) == {"report.md", "report.html"}
    render = report_build.render

    def fails_on_html(template: str, **context):  # type: ignore[no-untyped-def]
        if template.endswith(".html"):
            raise KeyboardInterrupt
        return render(template, **context)

    monkeypatch.setattr(report_build, "render", fails_on_html)
    with pytest.raises(KeyboardInterrupt):
        report_build.build_run_report(load_run(out))
    assert (out / "report.html").read_bytes() == before["report.html"]
    assert (out / "report.md").read_text(encoding="utf-8").startswith("#")
    monkeypatch.setattr(report_build, "render", render)

    def half_a_png(self, fname, **kwargs):  # type: ignore[no-untyped-def]
        Path(fname).write_bytes(b"\x89PNG\r\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half_a_png)
    with pytest.raises(OSError):
        report_build.build_run_report(load_run(out))
    left = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in left if p.name.endswith(".tmp")], left
    assert not [p for p in left if p.suffix == ".png"], left

"""Signals keep what was computed: a run or a sweep stopped by SIGINT, SIGTERM or SIGHUP
writes its partial results, says so in one line, exits 128 + n and leaves no worker
processes behind. Real subprocesses, real signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import sim
from sim.run import Interrupted

LONG = ["architecture=single_station", "arrivals=constant", "clients=patient",
        "run.horizon_s=20000", "run.resolution_s=0", "run.report=false"]


class Command:
    """A ``python -m sim`` subprocess whose stderr is read as it comes."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=cwd,
                                     text=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_until(self, ready: Callable[[], bool], timeout: float = 180) -> None:
        t0 = time.monotonic()
        while not ready():
            assert self.proc.poll() is None, "".join(self.lines)
            assert time.monotonic() - t0 < timeout, "the run did not start"
            time.sleep(0.1)

    def stop(self, signum: int) -> tuple[int, str]:
        self.proc.send_signal(signum)
        rc = self.proc.wait(timeout=120)
        self.reader.join(timeout=10)
        return rc, "".join(self.lines)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_run_keeps_its_results(signum: int, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = Command([*LONG, f"hydra.run.dir={out}"], tmp_path)
    cmd.wait_until(lambda: any(ln.startswith("[sim] t=") for ln in cmd.lines))
    rc, err = cmd.stop(signum)
    name = signal.Signals(signum).name
    assert rc == 128 + signum, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("sim:")]
    assert len(lines) == 1 and f"stopped by {name}" in lines[0] and str(out) in lines[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert 0 < summary["sim_time_s"] < 20000
    assert f"stopped by {name}" in (out / "error.txt").read_text()
    rows = (out / "timeseries.csv").read_text().splitlines()
    assert len(rows) > 2 and len({len(r.split(",")) for r in rows}) == 1  # whole rows
    assert (out / "config.yaml").is_file()
    assert not list(out.glob(".*.tmp"))


def test_interrupted_replications_keep_the_finished_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal during the third of five replications: two are kept, marked incomplete."""
    scenario = sys.modules["sim.run"].Scenario
    real = scenario.run
    calls = []

    def third_is_stopped(self, progress=False):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:
            raise Interrupted(signal.SIGTERM)
        return real(self, progress=progress)

    monkeypatch.setattr(scenario, "run", third_is_stopped)
    with pytest.raises(Interrupted):
        sim.run(["architecture=single_station", "arrivals=constant", "clients=patient",
                 "run.horizon_s=30", "run.replications=5", "run.report=false",
                 "run.progress=false"], outdir=tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    reps = summary["replications"]
    assert summary["status"] == "interrupted"
    assert reps["n"] == 2 and reps["complete"] is False and reps["requested"] == 5
    assert len(reps["seeds"]) == 2
    assert "SIGTERM" in (tmp_path / "error.txt").read_text()


def test_a_signalled_sweep_keeps_its_jobs_and_leaves_no_workers(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    cmd = Command(["-m", *LONG, "run.seed=1,2,3", "hydra.launcher.n_jobs=2",
                   f"hydra.sweep.dir={out}"], tmp_path)
    started = [out / "0" / "config.yaml", out / "1" / "config.yaml"]
    cmd.wait_until(lambda: all(p.exists() for p in started)
                   and sum(ln.startswith("[sim] t=") for ln in cmd.lines) >= 3)
    workers = [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(cmd.proc.pid), "-f", "popen_loky"], capture_output=True,
        text=True, check=False).stdout.split()]
    assert workers, "no worker processes found"
    rc, err = cmd.stop(signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert "stopped by SIGTERM" in err and "resume" in err
    t0 = time.monotonic()
    while any(alive(w) for w in workers) and time.monotonic() - t0 < 10:
        time.sleep(0.1)
    assert not any(alive(w) for w in workers), "worker processes outlived the sweep"
    statuses = []
    for job in ("0", "1"):
        assert "SIGTERM" in (out / job / "error.txt").read_text()
        assert not (out / job / ".sim_complete").exists()  # a restart reruns it
        if (out / job / "summary.json").exists():
            statuses.append(json.loads((out / job / "summary.json").read_text())["status"])
            assert (out / job / "timeseries.csv").is_file()
    assert statuses and set(statuses) == {"interrupted"}
    table = (out / "sweep.csv").read_text()
    assert table.count("interrupted") >= 2

"""The same sweeps on a real cluster: SLURM through submitit, and a two-node Ray cluster.

The fixtures (``cluster_fixtures``) start a one-node SLURM cluster on localhost (munged,
MariaDB, slurmdbd, slurmctld, slurmd; Debian's packages, installed when missing) and a
Ray cluster of a head and a second node, as separate processes; they stop them after.
Each sweep is a plain ``sim -m`` command with ``hydra/launcher=submitit_slurm`` or
``hydra/launcher=ray`` and the cluster's address, and its jobs' results must equal,
seed for seed, those of the same sweep on joblib (the default launcher): every figure of
every summary but the wall-clock ones (``perf``), and every time series.

Faults: the Ray node running a job killed mid-sweep, with Ray's retries (the job runs
again on the head; the sweep ends ok) and without (the job is lost), and a SLURM job
cancelled with ``scancel`` mid-sweep. A lost job is recorded (its error column), the
other jobs finish, the command exits 1 with one paragraph, and the same command run
again runs that job alone: the others are skipped untouched, and the table ends with one
row per job, all ok, equal to joblib's.

Skipped without the ``cluster`` extra (``pip install -e '.[test,cluster]'``), and the
SLURM tests where its packages are missing and cannot be installed (not root, no apt-get).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_fixtures import PARTITION, RayCluster, Slurm, ray_cluster, slurm
from cluster_probe import NODE_FILE

__all__ = ["ray_cluster", "slurm"]  # the fixtures, used by name

TINY = ["architecture=single_station", "arrivals=constant", "clients=patient",
        "run.horizon_s=60", "slo.window_s=30", "run.report=false", "run.progress=false"]
# Four jobs of a few seconds each (exact mode): long enough to be stopped mid-run.
SWEEP = ["run.seed=1,2,3,4", "architecture=single_station", "arrivals=constant",
         "clients=patient", "run.horizon_s=2000", "run.resolution_s=0", "slo.window_s=30",
         "run.report=false", "run.progress=false"]
SEEDS = ["1", "2", "3", "4"]
FAILURE_POINT = ["hydra/sweeper=failure_point", "hydra.sweeper.param=arrivals.rate",
                 "hydra.sweeper.low=40", "hydra.sweeper.high=160",
                 "hydra.sweeper.replications=2", "hydra.sweeper.max_probes=1",
                 "clients.timeout_s=2", "architecture.stations.server.drop_expired=true",
                 *TINY]
NOT_COMPARED = ("perf",)  # wall-clock time and speed: the only figures that may differ
TIMEOUT_S = 300


def sim(args: list[str], cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", "-m", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=TIMEOUT_S, check=False,
                          env={**os.environ, **(env or {})})


def start_sim(args: list[str], cwd: Path, env: dict[str, str] | None = None
              ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "sim", "-m", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "sweep.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def results(job: Path) -> dict[str, Any]:
    """What a job computed: its summary without the wall-clock figures, its time series."""
    summary = json.loads((job / "summary.json").read_text())
    for key in NOT_COMPARED:
        summary.pop(key, None)
    return {"summary": summary, "timeseries": (job / "timeseries.csv").read_text()}


def same_results(out: Path, reference: Path) -> None:
    """Every job of ``out`` computed what the job of the same overrides in ``reference``
    did; both sweeps have the same jobs."""
    def jobs(sweep: Path) -> dict[str, Path]:
        table = json.loads((sweep / "sweep.json").read_text())
        return {" ".join(r["overrides"]): sweep / r["job"] for r in table["rows"]}

    got, want = jobs(out), jobs(reference)
    assert sorted(got) == sorted(want)
    for overrides, job in got.items():
        assert results(job) == results(want[overrides]), overrides


def wait_until(what: str, ready: Any, proc: subprocess.Popen[str],
               timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate(timeout=60) if proc.poll() is not None else ("", "")
            raise AssertionError(f"never saw {what}\n{out[-3000:]}\n{err[-3000:]}")
        time.sleep(0.1)


def running(job: Path) -> bool:
    """The job's run has started (its config is written) and not ended (no summary)."""
    return (job / "config.yaml").is_file() and not (job / "summary.json").exists()


def snapshot(out: Path) -> dict[str, tuple[int, str]]:
    """Each job's summary.json: modification time and content."""
    return {p.parent.name: (p.stat().st_mtime_ns, p.read_text())
            for p in out.glob("*/summary.json")}


def one_paragraph(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "sim: 1 of 4 sweep jobs failed" in stderr, stderr


def job_messages(out: Path, stderr: str) -> str:
    """What the jobs said: the command's stderr (where Ray forwards its workers' output)
    and the logs of submitit's jobs."""
    logs = sorted((out / ".submitit").glob("*/*_log.err"))
    return "\n".join([stderr, *(p.read_text(errors="replace") for p in logs)])


def check_resumed(out: Path, before: dict[str, tuple[int, str]], lost_job: str,
                  stderr: str, reference: Path) -> None:
    """The rerun ran the lost job alone: the others were skipped and left untouched, and
    the table has each job once, all ok, with joblib's results."""
    finished = [j for j in ("0", "1", "2", "3") if j != lost_job]
    said = job_messages(out, stderr)
    for j in finished:
        assert f"job {j} already done in" in said, said
    assert f"job {lost_job} already done" not in said
    after = snapshot(out)
    assert {j: after[j] for j in finished} == {j: before[j] for j in finished}
    assert after[lost_job] != before.get(lost_job)
    table = rows(out)
    assert sorted(r["job"] for r in table) == ["0", "1", "2", "3"]
    assert [(r["run.seed"], r["status"], r["error"]) for r in table] == [
        (s, "ok", "") for s in SEEDS]
    same_results(out, reference)


# -- the reference: the same sweeps on joblib ----------------------------------------------

@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("joblib") / "sweep"
    proc = sim([*SWEEP, f"hydra.sweep.dir={out}"], out.parent)
    assert proc.returncode == 0, proc.stderr
    assert [(r["run.seed"], r["status"]) for r in rows(out)] == [(s, "ok") for s in SEEDS]
    return out


@pytest.fixture(scope="module")
def joblib_failure_point(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("joblib") / "fp"
    proc = sim([*FAILURE_POINT, f"hydra.sweep.dir={out}"], out.parent)
    assert proc.returncode == 0, proc.stderr
    return out


def same_failure_point(out: Path, reference: Path) -> None:
    """The same search: the same answer, the same probes, each with the same results."""
    answer = json.loads((out / "failure_point.json").read_text())
    assert answer == json.loads((reference / "failure_point.json").read_text())
    assert answer["status"] == "found" and answer["n"] == 2
    same_results(out, reference)


# -- SLURM ----------------------------------------------------------------------------------

def slurm_sweep(args: list[str], out: Path) -> list[str]:
    return [*args, "hydra/launcher=submitit_slurm", f"hydra.launcher.partition={PARTITION}",
            "hydra.launcher.timeout_min=10", f"hydra.sweep.dir={out}"]


def test_sweep_on_slurm_equals_joblib(slurm: Slurm, joblib_sweep: Path,
                                      tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = sim(slurm_sweep(SWEEP, out), tmp_path, slurm.env)
    assert proc.returncode == 0, proc.stderr
    assert "Submitit 'slurm'" in proc.stdout
    table = rows(out)
    assert [(r["run.seed"], r["status"]) for r in table] == [(s, "ok") for s in SEEDS]
    # Each job ran as a SLURM job (submitit gives the job its id), which the accounting
    # saw complete.
    ids = [yaml.safe_load((out / r["job"] / ".hydra" / "hydra.yaml").read_text())
           ["hydra"]["job"]["id"] for r in table]
    # The accounting records a job's end a moment after the job ends.
    deadline = time.monotonic() + 60
    while True:
        states = slurm.states()
        if all(states.get(i) == "COMPLETED" for i in ids) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert all(states.get(i) == "COMPLETED" for i in ids), (ids, states)
    same_results(out, joblib_sweep)


def test_failure_point_on_slurm_equals_joblib(slurm: Slurm, joblib_failure_point: Path,
                                              tmp_path: Path) -> None:
    out = tmp_path / "fp"
    proc = sim(slurm_sweep(FAILURE_POINT, out), tmp_path, slurm.env)
    assert proc.returncode == 0, proc.stderr
    assert "Submitit 'slurm'" in proc.stdout
    same_failure_point(out, joblib_failure_point)


def test_a_cancelled_slurm_job_is_recorded_and_rerun(slurm: Slurm, joblib_sweep: Path,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = slurm_sweep(SWEEP, out)
    proc = start_sim(args, tmp_path, slurm.env)
    # Job 1 of the sweep is task 1 of the job array submitit submits.
    # Just started, so seconds from its end: the cancel cannot come after it finished.
    wait_until("job 1 starting", lambda: running(out / "1") and time.time() - (
        out / "1" / "config.yaml").stat().st_mtime < 0.5, proc)
    task = next(i for i in slurm.queue() if i.endswith("_1"))
    slurm.run("scancel", task)
    _, stderr = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 1, stderr
    one_paragraph(stderr)
    table = {r["job"]: r for r in rows(out)}
    assert [table[j]["status"] for j in ("0", "2", "3")] == ["ok"] * 3
    assert table["1"]["status"] in ("interrupted", "failed")
    assert table["1"]["error"] == f"Lost: slurm job {task} ended CANCELLED by " \
        f"{os.getuid()} without a result"
    deadline = time.monotonic() + 60  # the accounting records the end a moment later
    while not slurm.states().get(task, "").startswith("CANCELLED") \
            and time.monotonic() < deadline:
        time.sleep(1)
    assert slurm.states()[task].startswith("CANCELLED")
    before = snapshot(out)
    again = sim(args, tmp_path, slurm.env)
    assert again.returncode == 0, again.stderr
    check_resumed(out, before, "1", again.stderr, joblib_sweep)


# -- Ray ------------------------------------------------------------------------------------

def ray_sweep(args: list[str], out: Path, cluster: RayCluster) -> list[str]:
    return [*args, "hydra/launcher=ray", f"hydra.launcher.ray.init.address={cluster.address}",
            # Ray refuses a memory size when it joins an existing cluster
            "+hydra.launcher.ray.init.object_store_memory=null",
            "+hydra.callbacks.where_ran._target_=cluster_probe.WhereRan",
            f"hydra.sweep.dir={out}"]


def nodes(out: Path) -> dict[str, str]:
    """The node each job ran on, as the probe wrote it (job: sim_head or sim_worker)."""
    return {p.parent.name: p.read_text().strip() for p in out.glob(f"*/{NODE_FILE}")}


def test_sweep_on_ray_cluster_runs_on_both_nodes(ray_cluster: RayCluster,
                                                 joblib_sweep: Path, tmp_path: Path) -> None:
    ray_cluster.ensure_worker()
    out = tmp_path / "sweep"
    proc = sim(ray_sweep(SWEEP, out, ray_cluster), tmp_path, ray_cluster.env)
    assert proc.returncode == 0, proc.stderr
    assert "Ray Launcher is launching 4 jobs" in proc.stdout
    assert "Connected to Ray cluster" in proc.stderr  # joined, not started its own
    table = rows(out)
    assert [(r["run.seed"], r["status"]) for r in table] == [(s, "ok") for s in SEEDS]
    ran = nodes(out)
    assert sorted(ran) == ["0", "1", "2", "3"]
    assert set(ran.values()) == {"sim_head", "sim_worker"}, ran
    same_results(out, joblib_sweep)


def test_failure_point_probes_go_through_ray(ray_cluster: RayCluster,
                                             joblib_failure_point: Path,
                                             tmp_path: Path) -> None:
    out = tmp_path / "fp"
    proc = sim(ray_sweep(FAILURE_POINT, out, ray_cluster), tmp_path, ray_cluster.env)
    assert proc.returncode == 0, proc.stderr
    assert "Ray Launcher" in proc.stdout
    assert set(nodes(out).values()) <= {"sim_head", "sim_worker"}
    same_failure_point(out, joblib_failure_point)


def job_on_worker(out: Path, fresh_s: float = 0.5) -> str | None:
    """A job that started on the worker node within the last ``fresh_s`` seconds and is
    running now, if there is one: killed then, it is seconds from its end, so the kill
    cannot come after it finished."""
    now = time.time()
    return next((j for j, n in nodes(out).items() if n == "sim_worker" and running(out / j)
                 and now - (out / j / "config.yaml").stat().st_mtime < fresh_s), None)


def test_ray_reruns_a_job_whose_node_died(ray_cluster: RayCluster, joblib_sweep: Path,
                                          tmp_path: Path) -> None:
    """Ray's own retries (three by default): the job runs again on the node left."""
    ray_cluster.ensure_worker()
    out = tmp_path / "sweep"
    proc = start_sim(ray_sweep(SWEEP, out, ray_cluster), tmp_path, ray_cluster.env)
    wait_until("a job running on the worker node", lambda: job_on_worker(out) is not None,
               proc)
    killed = job_on_worker(out, fresh_s=5.0)
    ray_cluster.kill_worker()
    _, stderr = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, stderr
    assert [(r["run.seed"], r["status"]) for r in rows(out)] == [(s, "ok") for s in SEEDS]
    assert killed is not None and nodes(out)[killed] == "sim_head"  # run again there
    same_results(out, joblib_sweep)


def test_a_job_lost_with_its_ray_node_is_recorded_and_rerun(
        ray_cluster: RayCluster, joblib_sweep: Path, tmp_path: Path) -> None:
    ray_cluster.ensure_worker()
    out = tmp_path / "sweep"
    args = [*ray_sweep(SWEEP, out, ray_cluster), "+hydra.launcher.ray.remote.max_retries=0"]
    proc = start_sim(args, tmp_path, ray_cluster.env)
    wait_until("a job running on the worker node", lambda: job_on_worker(out) is not None,
               proc)
    lost_job = job_on_worker(out, fresh_s=5.0)
    assert lost_job is not None
    ray_cluster.kill_worker()
    _, stderr = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 1, stderr
    one_paragraph(stderr)
    table = {r["job"]: r for r in rows(out)}
    assert sorted(table) == ["0", "1", "2", "3"]
    assert [table[j]["status"] for j in table if j != lost_job] == ["ok"] * 3
    assert table[lost_job]["status"] == "failed"
    assert table[lost_job]["error"].startswith("Lost: NodeDiedError: ")
    before = snapshot(out)
    again = sim(args, tmp_path, ray_cluster.env)  # the head alone is left
    assert again.returncode == 0, again.stderr
    assert set(nodes(out).values()) == {"sim_head"}
    check_resumed(out, before, lost_job, again.stderr, joblib_sweep)


# -- without a cluster ----------------------------------------------------------------------

def test_submitit_local_runs_a_sweep(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    out = tmp_path / "sweep"
    proc = sim(["run.seed=1,2", *TINY, "hydra/launcher=submitit_local",
                "hydra.launcher.timeout_min=5", f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Submitit 'local'" in proc.stdout
    table = rows(out)
    assert [(r["run.seed"], r["status"]) for r in table] == [("1", "ok"), ("2", "ok")]
    summary = json.loads((out / "0" / "summary.json").read_text())
    assert summary["legit"]["arrived"] == int(table[0]["legit.arrived"])


def test_slurm_launcher_is_a_config_switch() -> None:
    """The sweep composes with SLURM's launcher, and its settings are Hydra's."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    from sim.cli import CONFIG_DIR
    from sim.config import register

    register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", return_hydra_config=True,
                      overrides=["hydra/launcher=submitit_slurm",
                                 "hydra.launcher.partition=cpu"])
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.partition == "cpu"
    assert cfg.hydra.callbacks.sweep_table._target_ == "sim.sweep.SweepTable"

"""The same sweeps past one machine: Hydra's Ray launcher and submitit (``cluster`` extra).

Ray runs against a local instance started here (two CPUs, on the loopback address), as
it would against an existing cluster's address; submitit uses its local executor, the
stand-in for SLURM (``hydra/launcher=submitit_slurm`` differs only in where jobs run).
Skipped without the extra: ``pip install -e '.[test,cluster]'``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TINY = ["architecture=single_station", "arrivals=constant", "clients=patient",
        "run.horizon_s=60", "slo.window_s=30", "run.report=false", "run.progress=false"]
# Ray resolves 127.0.0.1 to the machine's network address unless told to stay local.
LOCAL_RAY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def sweep(args: list[str], cwd: Path, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", "-m", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, check=False,
                          env={**os.environ, **(env or {})})


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "sweep.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    ray = pytest.importorskip("ray")
    os.environ.update(LOCAL_RAY)
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                   _node_ip_address="127.0.0.1")
    try:
        yield ctx.address_info["gcs_address"]
    finally:
        ray.shutdown()


def test_ray_launcher_runs_a_sweep(ray_address: str, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = sweep(["run.seed=1,2", *TINY, "hydra/launcher=ray",
                  f"hydra.launcher.ray.init.address={ray_address}",
                  # Ray refuses a memory size when it joins an existing cluster
                  "+hydra.launcher.ray.init.object_store_memory=null",
                  f"hydra.sweep.dir={out}"], tmp_path, LOCAL_RAY)
    assert proc.returncode == 0, proc.stderr
    assert "Ray Launcher is launching 2 jobs" in proc.stdout
    table = rows(out)
    assert [(r["run.seed"], r["status"]) for r in table] == [("1", "ok"), ("2", "ok")]
    assert all(int(r["legit.joined"]) > 0 for r in table)


def test_failure_point_probes_go_through_ray(ray_address: str, tmp_path: Path) -> None:
    out = tmp_path / "fp"
    proc = sweep(["hydra/sweeper=failure_point", "hydra.sweeper.param=arrivals.rate",
                  "hydra.sweeper.low=40", "hydra.sweeper.high=160",
                  "hydra.sweeper.replications=2", "hydra.sweeper.rel_tol=0.2",
                  "clients.timeout_s=2", "architecture.stations.server.drop_expired=true",
                  *TINY, "hydra/launcher=ray",
                  f"hydra.launcher.ray.init.address={ray_address}",
                  "+hydra.launcher.ray.init.object_store_memory=null",
                  f"hydra.sweep.dir={out}"], tmp_path, LOCAL_RAY)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads((out / "failure_point.json").read_text())
    assert answer["n"] == 2 and 70 < answer["value"] < 130
    assert "Ray Launcher" in proc.stdout


def test_submitit_local_runs_a_sweep(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    out = tmp_path / "sweep"
    proc = sweep(["run.seed=1,2", *TINY, "hydra/launcher=submitit_local",
                  "hydra.launcher.timeout_min=5", f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Submitit 'local'" in proc.stdout
    table = rows(out)
    assert [(r["run.seed"], r["status"]) for r in table] == [("1", "ok"), ("2", "ok")]
    # Same seeds, same figures whichever launcher ran them.
    summary = json.loads((out / "0" / "summary.json").read_text())
    assert summary["legit"]["arrived"] == int(table[0]["legit.arrived"])


def test_slurm_launcher_is_a_config_switch() -> None:
    """No SLURM here: the sweep composes with it, and its settings are Hydra's."""
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

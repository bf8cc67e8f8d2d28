"""Hydra's cluster launchers, waiting for every job of a sweep even when one is lost.

Hydra's Ray and submitit launchers gather their jobs' results in order and raise at the
first job that ended without one: a SLURM job cancelled (``scancel``) or killed by the
scheduler, a Ray task whose worker or node died with no retry left. The sweep then stops
with a traceback, its table is not written, and the jobs still running are abandoned
(Ray ends a driver's tasks when the driver exits). The launchers here are the same
launchers with one difference: a lost job is recorded and the others are waited for.

Recorded means: a line ``Lost: <what the scheduler said>`` appended to the job's
``error.txt`` (its run directory, beside whatever the run wrote when it was stopped),
and a result ``{"status": "failed", "error": ...}`` in the job's place, the same as a job
that failed inside (``sim.cli``). The sweep table then shows the job as failed or
interrupted with that line in its error column, the command exits 1 once the other jobs
have finished, and the same command run again reruns only the jobs not complete.

``sim.sweep.SweepTable`` puts these classes in place of Hydra's at the start of a sweep
(``hydra/launcher=ray``, ``submitit_slurm``, ``submitit_local`` keep their names and
settings). Submitting is unchanged; the code of ``launch`` below follows the launchers'
own (hydra-ray-launcher 1.2, hydra-submitit-launcher 1.2) up to the gathering.
"""

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import open_dict

from sim.atomic import atomic_write_text

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"


def job_dir(launcher: Any, overrides: Sequence[str], idx: int) -> Path | None:
    """The run directory of job ``idx`` of the sweep (None if it cannot be worked out)."""
    from sim.compat.hydra import hydra_config

    try:
        cfg = launcher.hydra_context.config_loader.load_sweep_config(
            launcher.config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.num = idx
        with hydra_config(cfg):
            return Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
    except Exception:
        return None


def lost(launcher: Any, overrides: Sequence[str], idx: int, why: str) -> JobReturn:
    """Record job ``idx`` as lost (``why``: the scheduler's words) and stand in for its result.

    The line goes to the end of the job's error.txt, after anything the run wrote when a
    signal stopped it, so the table's error column (the last line) says why it was lost.
    """
    line = f"Lost: {why}"
    where = job_dir(launcher, overrides, idx)
    if where is not None:
        try:
            where.mkdir(parents=True, exist_ok=True)
            before = (where / ERROR_FILE).read_text() if (where / ERROR_FILE).is_file() else ""
            atomic_write_text(where / ERROR_FILE,
                              before + ("" if not before or before.endswith("\n") else "\n")
                              + line + "\n")
        except OSError:
            where = None
    print(f"[sweep] job {idx} lost ({why}); the others go on. Run the same command again "
          f"to run it{f' ({where})' if where else ''}.", file=sys.stderr, flush=True)
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED,
                     _return_value={"status": "failed", "error": line})


def first_line(exc: BaseException) -> str:
    """An exception in a few words: its type and the first sentence of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0].split('. ')[0]}" if text else type(exc).__name__


def last_line(exc: BaseException) -> str:
    """The last line of an exception's message (a job's traceback ends with its error)."""
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _launcher(module: str, name: str) -> Any:
    """One of Hydra's launcher classes, or None without the cluster extra."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        return None


if TYPE_CHECKING:
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher as _RayLauncher
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
        BaseSubmititLauncher as _SubmititLauncher,
    )
else:
    _RayLauncher = _launcher("hydra_plugins.hydra_ray_launcher.ray_launcher", "RayLauncher")
    _SubmititLauncher = _launcher("hydra_plugins.hydra_submitit_launcher.submitit_launcher",
                                  "BaseSubmititLauncher")


if _RayLauncher is not None:

    class RayLauncher(_RayLauncher):
        """``hydra/launcher=ray``; a task lost with its worker or node is recorded.

        Ray retries a task whose worker or node died (``max_retries`` of
        ``hydra.launcher.ray.remote``, 3 by default); a task is lost once no retry is left.
        """

        def launch(self, job_overrides: Sequence[Sequence[str]],
                   initial_job_idx: int) -> Sequence[JobReturn]:
            import ray
            from hydra.core.singleton import Singleton
            from hydra.core.utils import configure_log, filter_overrides, setup_globals
            from hydra_plugins.hydra_ray_launcher._launcher_util import (
                launch_job_on_ray,
                start_ray,
            )

            setup_globals()
            assert self.config is not None and self.hydra_context is not None
            assert self.task_function is not None
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            log.info(f"Ray Launcher is launching {len(job_overrides)} jobs, "
                     f"sweep output dir: {sweep_dir}")
            self.ray_cfg.init.setdefault("object_store_memory", 78643200)
            start_ray(self.ray_cfg.init)
            runs = []
            for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                sweep_config = self.hydra_context.config_loader.load_sweep_config(
                    self.config, list(overrides))
                with open_dict(sweep_config):
                    sweep_config.hydra.job.id = f"job_id_for_{idx}"
                    sweep_config.hydra.job.num = idx
                    runs.append(launch_job_on_ray(self.hydra_context, self.ray_cfg.remote,
                                                  sweep_config, self.task_function,
                                                  Singleton.get_state()))
            results = []
            for idx, (overrides, run) in enumerate(zip(job_overrides, runs, strict=True),
                                                   start=initial_job_idx):
                try:
                    results.append(ray.get(run))
                except ray.exceptions.RayError as exc:
                    results.append(lost(self, overrides, idx, first_line(exc)))
            return results


if _SubmititLauncher is not None:

    class _Gathering(_SubmititLauncher):
        """A submitit launcher whose cancelled or killed jobs are recorded, not raised."""

        def launch(self, job_overrides: Sequence[Sequence[str]],
                   initial_job_idx: int) -> Sequence[JobReturn]:
            import os

            import submitit
            from hydra.core.singleton import Singleton
            from hydra.core.utils import filter_overrides
            from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
            from omegaconf import OmegaConf

            assert self.config is not None and len(job_overrides) > 0
            init_keys = {"max_num_timeout", "submitit_folder"}
            init_params = {"folder": self.params["submitit_folder"]}
            init_params.update({f"{self._EXECUTOR}_{k}": v for k, v in self.params.items()
                                if k == "max_num_timeout"})
            executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
            base = set(OmegaConf.structured(BaseQueueConf).keys())
            executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v
                                          for k, v in self.params.items()
                                          if k not in init_keys})
            log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : "
                     f"{self.config.hydra.sweep.dir}")
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            if "mode" in self.config.hydra.sweep:
                os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
            job_params = []
            for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                job_params.append((list(overrides), "hydra.sweep.dir", idx,
                                   f"job_id_for_{idx}", Singleton.get_state()))
            jobs = executor.map_array(self, *zip(*job_params, strict=True))
            results = []
            for idx, (overrides, job) in enumerate(zip(job_overrides, jobs, strict=True),
                                                   start=initial_job_idx):
                try:
                    results.append(job.results()[0])
                except submitit.core.utils.UncompletedJobError:
                    results.append(lost(self, overrides, idx, f"{self._EXECUTOR} job "
                                        f"{job.job_id} ended {job.state} without a result"))
                except submitit.core.utils.FailedJobError as exc:
                    results.append(lost(self, overrides, idx, f"{self._EXECUTOR} job "
                                        f"{job.job_id} ended {job.state}: {last_line(exc)}"))
            return results

    class SlurmLauncher(_Gathering):
        """``hydra/launcher=submitit_slurm``; a cancelled or killed job is recorded."""

        _EXECUTOR = "slurm"

    class LocalLauncher(_Gathering):
        """``hydra/launcher=submitit_local``; a killed job is recorded."""

        _EXECUTOR = "local"


# The launcher each of Hydra's is replaced with (``sim.sweep.SweepTable``).
_HERE = "hydra_plugins.sim_failure_point.lost_jobs"
REPLACES = {
    "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher": f"{_HERE}.RayLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher":
        f"{_HERE}.SlurmLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher":
        f"{_HERE}.LocalLauncher",
}

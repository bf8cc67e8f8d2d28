"""Hydra sweeper ``hydra/sweeper=risk``: how likely is the launch to fail, and why?

    sim -m hydra/sweeper=risk hydra.sweeper.samples=200 \\
        'hydra.sweeper.inputs.arrivals.audience="loguniform(2e5,2e6)"' \\
        'hydra.sweeper.inputs.arrivals.reaction_median_s="lognormal(60,0.5)"' ...

draws ``samples`` points from the stated beliefs about the inputs (``inputs``: config
key -> distribution, ``sim.analysis.risk_inputs``) with a Latin hypercube, a Sobol'
sequence or a Saltelli design (``sampler``; ``sim.analysis.risk_design``), each on its
own seed derived from ``seed`` (by default ``run.seed``). The samples are cut into jobs
of ``batch`` samples, launched through ``self.launcher`` (joblib by default, Ray,
SLURM: whatever ``hydra/launcher`` names), a round of ``jobs_per_round`` jobs at a
time; each job runs its samples in-process (``hydra_plugins.sim_risk.batch``). An input
may also be a config group drawn with ``choice(none,waf)``: a job's samples then share
their choices, passed to the job as overrides (``hydra_plugins.sim_risk.settings``). A sample
fails as a probe of the failure-point sweeper fails (``metric``, ``fail_below``,
``fail_above``; ``slo.met`` by default).

After every round ``risk.json`` in the sweep directory is rewritten (atomically) with
the answer so far (``sim.analysis.risk``): ``p_fail`` with its Wilson interval, the
verdict and inputs of every sample, and the sensitivity of failure to each input. The
same command run again with the same ``hydra.sweep.dir`` keeps the verdicts found there
(same inputs, design and seed) and runs only the samples without one, in the same jobs
(a job itself skips the samples its directory already records).
"""

# No ``from __future__ import annotations`` here: Hydra imports plugin modules without
# registering them in sys.modules, and dataclasses then cannot resolve string annotations.
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.sim_failure_point.failure_point_sweeper import plain_overrides
from sim.atomic import atomic_write_text
from sim.summary import SLO_MET


@dataclass
class RiskSweeperConf:
    _target_: str = "hydra_plugins.sim_risk.risk_sweeper.RiskSweeper"
    inputs: dict[str, Any] = field(default_factory=dict)  # config key -> "uniform(lo,hi)"
    samples: int = 64               # jobs of the design (saltelli: N·(inputs+2) <= this)
    sampler: str = "lhs"            # lhs, sobol or saltelli (Sobol' indices)
    seed: int | None = None         # None: run.seed
    batch: int | None = None        # samples per launched job (None: chosen from samples)
    jobs_per_round: int | None = None  # jobs launched at once (None: twice the workers)
    confidence: float = 0.95        # of the Wilson interval of p_fail
    metric: str = SLO_MET           # summary path deciding failure, as failure_point
    fail_below: float | None = None
    fail_above: float | None = None


def _node() -> DictConfig:
    """The sweeper's config node, its ``inputs`` open to new keys, so that
    ``hydra.sweeper.inputs.arrivals.rate=...`` needs no ``+`` on the command line."""
    node = OmegaConf.structured(RiskSweeperConf)
    OmegaConf.set_struct(node.inputs, False)
    return node


ConfigStore.instance().store(group="hydra/sweeper", name="risk", node=_node(),
                             provider="sim")


class RiskSweeper(Sweeper):
    def __init__(self, inputs: Any = None, samples: int = 64, sampler: str = "lhs",
                 seed: int | None = None, batch: int | None = None,
                 jobs_per_round: int | None = None, confidence: float = 0.95,
                 metric: str = SLO_MET, fail_below: float | None = None,
                 fail_above: float | None = None) -> None:
        super().__init__()
        raw = OmegaConf.to_container(inputs, resolve=True) \
            if isinstance(inputs, DictConfig) else inputs
        self.settings: dict[str, Any] = {
            "inputs": raw if raw is not None else {}, "samples": samples,
            "sampler": sampler, "seed": seed, "batch": batch,
            "jobs_per_round": jobs_per_round, "confidence": confidence, "metric": metric,
            "fail_below": fail_below, "fail_above": fail_above}
        self.study: Any = None
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from hydra_plugins.sim_risk.batch import BatchTask
        from hydra_plugins.sim_risk.settings import plan_study
        from sim.config import ConfigError

        try:
            self.study = plan_study(config, self.settings, workers=_workers(config),
                                    groups=_groups(config, hydra_context))
        except ConfigError as exc:  # one paragraph and exit status 2, as the command's
            print(f"sim: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        self.config = config
        self.hydra_context = hydra_context
        task = BatchTask(self.study.plan, self.study.judging, self.study.groups)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from sim.analysis.risk import RESULT_FILE

        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None
        study = self.study
        base = plain_overrides(
            self.hydra_context, arguments, {*study.keys, "run.seed"},
            lambda line: f"hydra/sweeper=risk draws its samples from hydra.sweeper.inputs; "
                         f"{line} is a sweep")
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        records = study.resume(sweep_dir / RESULT_FILE)
        todo = [b for b, samples in study.plan.items()
                if any(s["sample"] not in records for s in samples)]
        rounds = [todo[i:i + study.jobs_per_round]
                  for i in range(0, len(todo), study.jobs_per_round)]
        returns = []
        self._write(sweep_dir, records)
        for n, jobs in enumerate(rounds, 1):
            print(f"[risk] round {n} of {len(rounds)}: jobs {jobs[0]}..{jobs[-1]} "
                  f"({sum(len(study.plan[b]) for b in jobs)} samples)", file=sys.stderr,
                  flush=True)
            for run in _contiguous(jobs):
                results = self.launcher.launch(
                    [[*base, *study.overrides.get(b, [])] for b in run],
                    initial_job_idx=run[0])
                returns.append(results)
                for b, job in zip(run, results, strict=True):
                    records.update(_records(job, study.plan[b]))
            answer = self._write(sweep_dir, records)
            print(f"[risk] {answer['text']}", file=sys.stderr, flush=True)
        answer = self._write(sweep_dir, records)
        print(f"[risk] {answer['text']}; wrote {sweep_dir / RESULT_FILE}", file=sys.stderr,
              flush=True)
        return returns

    def _write(self, sweep_dir: Path, records: dict[int, Any]) -> dict[str, Any]:
        from sim.analysis.risk import RESULT_FILE

        answer = self.study.answer(records)
        atomic_write_text(sweep_dir / RESULT_FILE, json.dumps(answer, indent=1) + "\n")
        return answer


def _workers(config: DictConfig) -> int:
    """How many jobs the launcher runs at once: joblib's ``n_jobs`` when positive, else
    the machine's cores."""
    n = OmegaConf.select(config, "hydra.launcher.n_jobs", default=None)
    if isinstance(n, int) and n > 0:
        return n
    return os.cpu_count() or 1


def _groups(config: DictConfig, hydra_context: HydraContext) -> dict[str, list[str]]:
    """The config groups of this run (``hydra.runtime.choices``, less Hydra's own), each
    with the options it could take: what an input may draw with ``choice``."""
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    loader = hydra_context.config_loader
    return {str(g): list(loader.get_group_options(str(g))) for g in choices
            if not str(g).startswith("hydra")}


def _contiguous(jobs: list[int]) -> list[list[int]]:
    """Job numbers grouped into runs of consecutive numbers (a launch numbers its jobs
    from its first one)."""
    runs: list[list[int]] = []
    for b in jobs:
        if runs and runs[-1][-1] == b - 1:
            runs[-1].append(b)
        else:
            runs.append([b])
    return runs


def _records(job: Any, samples: list[dict[str, Any]]) -> dict[int, Any]:
    """The records a job returned, or those its directory holds if it returned none (a
    job that raised, or was lost on a cluster)."""
    from hydra_plugins.sim_risk.batch import BATCH_FILE

    try:
        ret = job.return_value
    except Exception:
        ret = None
    if isinstance(ret, dict) and isinstance(ret.get("records"), list):
        return {int(r["sample"]): r for r in ret["records"]}
    out = OmegaConf.select(job.hydra_cfg, "hydra.runtime.output_dir") \
        if job.hydra_cfg is not None else None
    path = Path(out) / BATCH_FILE if out else None
    if path is None or not path.is_file():
        return {}
    wanted = {int(s["sample"]) for s in samples}
    try:
        loaded = json.loads(path.read_text())
    except ValueError:
        return {}
    return {int(r["sample"]): r for r in loaded if int(r.get("sample", -1)) in wanted}

"""One job of a risk study: several samples run one after the other in one process.

A sample is a scenario with a few config keys set to drawn values and its own seed.
Starting Python, composing the config with Hydra and loading matplotlib for every
sample would cost more than many of the simulations themselves, so the risk sweeper
launches jobs of ``batch`` samples each, and a job (``BatchTask``, the task function the
launcher runs in place of ``sim``'s own) runs its samples in-process: the config Hydra
composed for the job once, each sample's values set on a copy of it, then the same
steps as ``sim.api.run`` (``sim.config.to_config``, ``sim.run.simulate``) with no output
directory and no report, and the verdict as the failure-point sweeper gives it
(``sim.analysis.failure_point.judge``).

Each sample's record (its inputs, seed, verdict, metric, a few summary figures, or its
error) goes to ``risk_batch.json`` in the job's run directory, rewritten (atomically)
after every sample; a job run again skips the samples recorded there with the same
inputs and seed by the same code (``sim.provenance``). The job's ``summary.json`` says
how many samples it ran, so the sweep's table counts it as a job that finished.
"""

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BATCH_FILE = "risk_batch.json"
# Summary figures kept per sample (dotted paths of summary.json).
FIGURES = ("slo.met", "slo.first_breach_s", "slo.bottleneck", "slo.worst_success_ratio",
           "legit.join_ratio", "legit.arrived", "join_latency_s.p99", "mode")


class BatchTask:
    """The task function of a risk study's jobs; picklable, so any launcher can ship it.

    ``plan`` maps a job number to its samples (``sample``, ``seed``, ``inputs``);
    ``judging`` holds ``metric``, ``fail_below``, ``fail_above``; ``groups`` names the
    inputs that are config groups, which the job's own overrides chose (Hydra composed
    ``cfg`` with them), so they are not set again.
    """

    def __init__(self, plan: Mapping[int, list[dict[str, Any]]],
                 judging: Mapping[str, Any], groups: tuple[str, ...] = ()) -> None:
        self.plan = {int(k): list(v) for k, v in plan.items()}
        self.judging = dict(judging)
        self.groups = tuple(groups)

    def __call__(self, cfg: Any) -> dict[str, Any]:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        return run_batch(cfg, self.plan[int(hc.job.num)], Path(hc.runtime.output_dir),
                         self.judging, job=int(hc.job.num), groups=self.groups)


def run_batch(cfg: Any, samples: list[dict[str, Any]], outdir: Path,
              judging: Mapping[str, Any], job: int = 0,
              groups: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run ``samples`` on copies of ``cfg``, recording each in ``outdir``; return the
    records (``{"status": "ok", "records": [...]}``)."""
    from sim.atomic import atomic_write_text
    from sim.provenance import code_digest

    outdir.mkdir(parents=True, exist_ok=True)
    done = _recorded(outdir / BATCH_FILE)
    code = code_digest()
    records = []
    for s in samples:
        old = done.get(int(s["sample"]))
        if old is not None and old.get("seed") == s["seed"] and old.get("code") == code \
                and old.get("inputs") == s["inputs"] and not old.get("error"):
            records.append(old)
            continue
        records.append({**run_sample(cfg, s["inputs"], int(s["seed"]), judging, groups),
                        "sample": int(s["sample"]), "job": job, "code": code})
        atomic_write_text(outdir / BATCH_FILE, json.dumps(records, indent=1) + "\n")
    atomic_write_text(outdir / BATCH_FILE, json.dumps(records, indent=1) + "\n")
    failed = sum(bool(r.get("failed")) for r in records)
    summary = {"schema": 1, "name": "risk_batch", "status": "ok",
               "risk_batch": {"samples": len(records), "failed": failed,
                              "errors": sum(bool(r.get("error")) for r in records)}}
    atomic_write_text(outdir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return {"status": "ok", "records": records}


def run_sample(cfg: Any, inputs: Mapping[str, Any], seed: int,
               judging: Mapping[str, Any], groups: tuple[str, ...] = ()) -> dict[str, Any]:
    """One sample: ``cfg`` with ``inputs`` set and seeded ``seed``, simulated in-process
    and judged; its record (with ``error`` instead of a verdict if it could not run).
    The config groups among the inputs (``groups``) were chosen when ``cfg`` was composed,
    and are checked, not set."""
    from omegaconf import DictConfig, OmegaConf, open_dict, read_write

    from sim.analysis.failure_point import judge
    from sim.config import to_config
    from sim.run import simulate
    from sim.summary import SLO_MET, value

    metric = judging.get("metric", SLO_MET)
    record: dict[str, Any] = {"seed": seed, "inputs": dict(inputs), "failed": None,
                              "unjudged": None, "error": None}
    start = time.perf_counter()
    try:
        _check_choices(cfg, inputs, groups)
        c = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
        assert isinstance(c, DictConfig)
        with read_write(c), open_dict(c):
            c.pop("hydra", None)
            for key, v in inputs.items():
                if key not in groups:
                    OmegaConf.update(c, key, v, merge=True)
            OmegaConf.update(c, "run.seed", seed)
            OmegaConf.update(c, "run.report", False)
            OmegaConf.update(c, "run.progress", False)
        sim_cfg = to_config(c)
        summary = simulate(sim_cfg, outdir=None, progress=False).summary
        config = OmegaConf.to_container(OmegaConf.structured(sim_cfg))
        assert isinstance(config, dict)
        verdict = judge(summary, {str(k): v for k, v in config.items()}, metric,
                        judging.get("fail_below"), judging.get("fail_above"))
    except Exception as exc:  # a sample that cannot run is recorded, the others go on
        text = f"{type(exc).__name__}: {exc}".strip().splitlines()
        record["error"] = text[0] if text else type(exc).__name__
        print(f"sim: risk sample (seed {seed}) failed: {record['error']}", file=sys.stderr)
        return record
    record.update(failed=verdict.failed, unjudged=verdict.unjudged or None,
                  metric_value=value(summary, metric),
                  figures={k: value(summary, k) for k in FIGURES},
                  wall_s=round(time.perf_counter() - start, 3))
    return record


def _check_choices(cfg: Any, inputs: Mapping[str, Any], groups: tuple[str, ...]) -> None:
    """The job's config must have been composed with the sample's group choices (where
    it says what it was composed with)."""
    from omegaconf import OmegaConf

    choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None)
    if choices is None:
        return
    for g in groups:
        got = choices.get(g)
        if str(got) != str(inputs[g]):
            raise ValueError(f"the job was composed with {g}={got}, the sample drew "
                             f"{g}={inputs[g]}")


def _recorded(path: Path) -> dict[int, dict[str, Any]]:
    """The records of an earlier run of this job (sample -> record), if any."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {int(r["sample"]): r for r in loaded if isinstance(r, dict) and "sample" in r} \
        if isinstance(loaded, list) else {}

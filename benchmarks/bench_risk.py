"""Samples per second of a risk study: batched in-process against one process per sample.

    .venv/bin/python benchmarks/bench_risk.py                       # 16 samples, 3 reps
    .venv/bin/python benchmarks/bench_risk.py --samples 4 --reps 1  # smoke

The same samples (a Latin hypercube over the arrival rate of one station, the design
``hydra/sweeper=risk`` draws) run three ways, one worker each, interleaved, ``--reps``
times:

- **batched**: ``sim -m hydra/sweeper=risk`` with every sample in one job
  (``hydra.sweeper.batch`` = samples, ``hydra.launcher.n_jobs=1``): one Python start, one
  compose, samples run in-process; the time includes starting the command.
- **process per sample**: ``python -m sim`` once per sample with its inputs and seed,
  as a study without batching would run it (Python start, Hydra compose, the run's files
  and, with the command's default ``run.report=true``, its report with matplotlib).
- **process per sample, no report**: the same with ``run.report=false``.

It prints the median samples per second of each and the ratios in one run, so the ratio
is measured under the same load on this shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = ["architecture=single_station", "arrivals=constant", "clients=patient",
            "architecture.stations.server.queue_limit=0",
            "architecture.stations.server.workers_per_instance=5", "run.horizon_s=200",
            "run.progress=false"]
INPUT = "uniform(10,40)"


def batched(samples: int, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", "-m", "hydra/sweeper=risk",
                    f'hydra.sweeper.inputs.arrivals.rate="{INPUT}"',
                    f"hydra.sweeper.samples={samples}", f"hydra.sweeper.batch={samples}",
                    "hydra.launcher.n_jobs=1", *SCENARIO, "run.report=false",
                    f"hydra.sweep.dir={out}"], check=True, capture_output=True)
    return time.perf_counter() - start


def per_process(samples: int, out: Path, report: bool) -> float:
    from hydra_plugins.sim_risk.settings import plan_study
    from sim.compose import compose

    study = plan_study(compose(SCENARIO), {"inputs": {"arrivals.rate": INPUT},
                                           "samples": samples})
    start = time.perf_counter()
    for j, values in enumerate(study.design.values):
        args = [f"{k}={v:.10g}" for k, v in values.items()]
        subprocess.run([sys.executable, "-m", "sim", *SCENARIO, *args,
                        f"run.seed={study.design.seeds[j]}", f"run.report={str(report).lower()}",
                        f"hydra.run.dir={out / str(j)}"], check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    rates: dict[str, list[float]] = {"batched": [], "process per sample": [],
                                     "process per sample, no report": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            base = Path(tmp) / str(rep)
            rates["batched"].append(args.samples / batched(args.samples, base / "b"))
            rates["process per sample"].append(
                args.samples / per_process(args.samples, base / "p", report=True))
            rates["process per sample, no report"].append(
                args.samples / per_process(args.samples, base / "q", report=False))
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in rates.items():
        print(f"{k}: median {med[k]:.2f} samples/s (min {min(v):.2f}, max {max(v):.2f}, "
              f"{len(v)} reps of {args.samples} samples)")
    for k in ("process per sample", "process per sample, no report"):
        print(f"ratio batched / {k}: {med['batched'] / med[k]:.1f}x")


if __name__ == "__main__":
    main()

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

    .venv/bin/python benchmarks/bench_risk.py --flagship 40        # the launch-size case

``--flagship N`` measures instead the case a launch review runs: ``experiment=
x_spaces_2024`` at an audience of 1M over its two hours, with beliefs about the push
reaction, the push window and the flood (those of ``experiments/launch_risk``),
``sim -m hydra/sweeper=risk`` with ``N`` samples on every core (joblib), timed whole;
it prints samples per second and the minutes 500 samples would take at that rate.
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


FLAGSHIP = ["experiment=x_spaces_2024", "arrivals.audience=1e6", "run.report=false",
            "run.progress=false"]
FLAGSHIP_BELIEFS = {"arrivals.reaction_median_s": "lognormal(60,0.7)",
                    "arrivals.push_window_s": "uniform(60,600)",
                    "attack.vectors.l7_join_flood.rate_rps": "triangular(0,0,1e6)"}


def flagship(samples: int, out: Path) -> None:
    """The launch-size case on every core: samples per second and 500 samples' time."""
    import json
    import os

    workers = os.cpu_count() or 1
    inputs = [f'hydra.sweeper.inputs.{k}="{v}"' for k, v in FLAGSHIP_BELIEFS.items()]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", "-m", "hydra/sweeper=risk", *inputs,
                    f"hydra.sweeper.samples={samples}", f"hydra.launcher.n_jobs={workers}",
                    *FLAGSHIP, f"hydra.sweep.dir={out}"], check=True, capture_output=True)
    wall = time.perf_counter() - start
    risk = json.loads((out / "risk.json").read_text())
    per = [r["wall_s"] for f in out.glob("*/risk_batch.json")
           for r in json.loads(f.read_text()) if r.get("wall_s") is not None]
    rate = samples / wall
    print(f"x_spaces_2024 at 1M, {samples} samples on {workers} workers: {wall:.0f} s wall, "
          f"{rate:.3f} samples/s (a sample: median {statistics.median(per):.1f} s, "
          f"max {max(per):.1f} s in its job); 500 samples at this rate: "
          f"{500 / rate / 60:.1f} min; {risk['text']}")


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
    ap.add_argument("--flagship", type=int, default=None, metavar="N",
                    help="instead: N samples of x_spaces_2024 at 1M on every core")
    args = ap.parse_args(argv)
    if args.flagship:
        with tempfile.TemporaryDirectory() as tmp:
            flagship(args.flagship, Path(tmp) / "risk")
        return
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

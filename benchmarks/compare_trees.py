"""Time the exact-mode engine of two source trees against each other, interleaved.

An optimisation is worth what it buys on this machine, measured in one run next to the
code it replaces: this script runs each workload in a fresh subprocess with
``PYTHONPATH`` pointing at one tree and then the other, ``--reps`` times in turn
(A, B, A, B, ...), and prints the median wall time of ``Scenario.run`` for each, so that
other load on the machine hits both alike. It reports the process CPU time of the
run (less disturbed by other processes on a shared machine than wall time; the two agree
on a quiet one) and the wall time. It also checks that both trees produce the
same summary (perf excluded), since an optimisation must not change the numbers.

Workloads: ``mm10`` (M/M/10 at rho 0.9, 180k customers, the bench_exact queue) and
``default`` (the default scenario: the spaces join path under a 300k flash crowd).

Usage::

    cp -r sim /tmp/before                     # before the change (the package folder)
    ... edit ...
    python benchmarks/compare_trees.py /tmp/before .   # trees holding a sim/ folder
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKLOADS = {
    "mm10": ["architecture=single_station", "arrivals=constant", "clients=patient",
             "architecture.stations.server.workers_per_instance=10",
             "architecture.stations.server.service.mean_s=0.1", "arrivals.rate=90",
             "run.horizon_s=2000", "run.warmup_s=200"],
    "default": [],
}

CHILD = r"""
import json, sys, time
from sim.cli import compose
from sim.config import to_config
from sim.run import Scenario
cfg = to_config(compose(["run.report=false", "run.progress=false", *sys.argv[1:]]))
sc = Scenario(cfg)
t0, c0 = time.perf_counter(), time.process_time()
sc.run()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
s = sc.collect().summary
s.pop("perf")
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "events": sc.events, "summary": s},
                 default=str))
"""


def run_once(tree: Path, overrides: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    out = subprocess.run([sys.executable, "-c", CHILD, *overrides], env=env, check=True,
                         capture_output=True, text=True, cwd="/tmp")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", type=Path, help="tree with the sim package before the change")
    p.add_argument("after", type=Path, help="tree with the sim package after the change")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    args = p.parse_args(argv)
    for name in args.workload or list(WORKLOADS):
        walls: dict[str, list[float]] = {"before": [], "after": []}
        cpus: dict[str, list[float]] = {"before": [], "after": []}
        summaries: dict[str, dict] = {}
        events = {}
        for _ in range(args.reps):
            for label, tree in (("before", args.before), ("after", args.after)):
                res = run_once(tree, WORKLOADS[name])
                walls[label].append(res["wall_s"])
                cpus[label].append(res["cpu_s"])
                summaries[label] = res["summary"]
                events[label] = res["events"]
        same = "same summary" if summaries["before"] == summaries["after"] else \
            "SUMMARIES DIFFER"
        print(f"{name}: {same}; events {events['before']:,} -> {events['after']:,}")
        for kind, values in (("cpu", cpus), ("wall", walls)):
            b, a = statistics.median(values["before"]), statistics.median(values["after"])
            print(f"  {kind:>4}: before median {b:.3f} s, after median {a:.3f} s "
                  f"({b / a:.2f}x; {events['after'] / a / 1e3:,.0f}k events/s after)")
            print(f"        before: {', '.join(f'{w:.3f}' for w in values['before'])}")
            print(f"        after:  {', '.join(f'{w:.3f}' for w in values['after'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cohort-mode speed and memory, printed from one run on this machine.

1. ``experiment=x_spaces_2024`` (cohort mode at the tick ``auto`` picks, 2 h horizon,
   the 1M rps attack on) at audiences of 1M, 8M and 80M: wall time of the simulation and of the
   whole run (build, simulate, collect), and peak resident memory, each in a fresh
   process so the memory is that run's alone. Targets: 8M with the attack in at most
   30 s and 1.5 GB; 80M in at most 1.5 × the 8M time. Beside them, 80M with every
   capacity, queue limit and the attack ten times the preset's (``SCALED``): the same
   regime at ten times the scale. At 80M with the preset's sizes the path stays over its
   rate for most of the two hours (the SLO breached for ~5,700 s against ~660 s at 8M),
   and a cohort run's cost follows the simulated time spent in overload, not the
   audience; the scaled run shows what scale alone costs.
2. Cohort against exact mode on a mid-size scenario (100k audience over the join
   tier's capacity, with retries and abandonment), median of the repeats: the speed-up.
3. Exact mode against ciw and a minimal SimPy model on one M/M/c queue
   (``bench_exact.py``, run from here with as many repeats).

Usage: ``python benchmarks/bench_cohort.py [--repeats N] [--quick]``. ``--quick`` runs
tiny sizes only to check that the script works.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import sim
args = sys.argv[1:]
if args and args[0] == "--tick-by-tick":  # quiet periods' births tick by tick, no windows
    from sim.model.cohort_clients import CohortClients
    CohortClients.quiet_window_s = 0.0
    args = args[1:]
t0 = time.perf_counter()
res = sim.run(args)
total = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_SELF)
s = res.summary
print(json.dumps({"wall_s": s["perf"]["wall_s"], "total_s": total,
                  "cpu_s": u.ru_utime + u.ru_stime,
                  "events": s["perf"]["events"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "arrived": s["legit"]["arrived"], "joined": s["legit"]["joined"],
                  "breach": s["slo"]["first_breach_s"], "mode": s["mode"],
                  "breached_s": s["slo"]["breached_s"],
                  "tick_s": s["resolution"]["tick_s"]}))
"""

QUIET = ["run.report=false", "run.progress=false"]
# x_spaces_2024 with every capacity, queue limit, rate limit and the attack ten times
# the preset's (connections and slots are per instance, so ten times the instances).
SCALED = ["architecture.stations.edge.instances=400",
          "architecture.stations.edge.rate_limit_rps=4000000",
          "architecture.stations.edge.queue_limit=1000000",
          "architecture.stations.edge.link_gbps=1000",
          "architecture.stations.auth.instances=400",
          "architecture.stations.auth.queue_limit=50000",
          "architecture.stations.token_store.instances=80",
          "architecture.stations.token_store.queue_limit=20000",
          "architecture.stations.join.instances=200",
          "architecture.stations.join.max_rate_rps=50000",
          "architecture.stations.join.queue_limit=500000",
          "architecture.stations.fanout.instances=4000",
          "architecture.stations.fanout.queue_limit=50000",
          "attack.vectors.l7_join_flood.rate_rps=10000000"]
MID = ["arrivals.audience=100000", "run.horizon_s=900",
       "architecture.stations.join.max_rate_rps=700", *QUIET]


def child(overrides: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, *overrides], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    audiences = [1e4, 1e5] if args.quick else [1e6, 8e6, 8e7]
    horizon = ["run.horizon_s=1500"] if args.quick else []
    print(f"x_spaces_2024, the preset's mode (auto), {args.repeats} repeat(s), medians")
    print(f"{'audience':>10} {'sim wall s':>11} {'total s':>9} {'events':>10} "
          f"{'peak RSS MB':>12} {'joined':>12}")
    # Interleaved: each repeat runs every audience once, so drift in the machine's load
    # hits all of them alike; the ratio is also taken per repeat (paired) and its median
    # printed beside the ratio of medians.
    scaled = "scaled"
    scaled_aud = audiences[-1] if args.quick else 8e7
    scaled_name = f"{scaled_aud:,.0f} x10"
    runs: dict[float | str, list[dict[str, float]]] = {aud: [] for aud in audiences}
    runs[scaled] = []
    for _ in range(args.repeats):
        for aud in audiences:
            runs[aud].append(child(["experiment=x_spaces_2024", f"arrivals.audience={aud:g}",
                                    *horizon, *QUIET]))
        runs[scaled].append(child(["experiment=x_spaces_2024",
                                   f"arrivals.audience={scaled_aud:g}",
                                   *horizon, *QUIET, *SCALED]))
    print(f"{'':>10} {'':>11} {'':>9} {'':>10} {'':>12} {'':>12} SLO breached for")
    for aud, rows in runs.items():
        wall = statistics.median(r["wall_s"] for r in rows)
        total = statistics.median(r["total_s"] for r in rows)
        label = f"{aud:>10,.0f}" if aud != scaled else f"{scaled_name:>10}"
        print(f"{label} {wall:>11.2f} {total:>9.2f} {rows[0]['events']:>10,} "
              f"{max(r['rss_mb'] for r in rows):>12,.0f} {rows[0]['joined']:>12,} "
              f"{rows[0]['breached_s']:,.0f} s")
    mid = audiences[-2]
    for big in (audiences[-1], scaled):
        for what, key in (("whole run", "total_s"), ("simulation", "wall_s")):
            med = (statistics.median(r[key] for r in runs[big])
                   / statistics.median(r[key] for r in runs[mid]))
            paired = statistics.median(b[key] / m[key] for b, m in zip(runs[big], runs[mid],
                                                                         strict=True))
            name = f"{big:,.0f}" if big != scaled else scaled_name
            print(f"ratio {what} {name} / {mid:,.0f}: {med:.2f} (median of paired "
                  f"repeats {paired:.2f}; target for the whole run 1.5)")

    mid_ov = ["arrivals.audience=5000", "run.horizon_s=400", *QUIET] if args.quick else MID
    ex, co = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both
        ex.append(child([*mid_ov, "run.resolution_s=0"])["wall_s"])
        co.append(child([*mid_ov, "run.resolution_s=0.1"])["wall_s"])
    me, mc = statistics.median(ex), statistics.median(co)
    print(f"mid-size scenario: exact {me:.2f} s, cohort (0.1 s) {mc:.2f} s, "
          f"speed-up {me / mc:.1f}x")

    # 3. Exact mode against ciw and a minimal SimPy model (bench_exact.py, its own table).
    print("exact mode against ciw and SimPy (bench_exact.py):", flush=True)
    exact_args = ["--customers", "3000", "--reps", "1"] if args.quick else \
        ["--reps", str(args.repeats)]
    subprocess.run([sys.executable, str(Path(__file__).with_name("bench_exact.py")),
                    *exact_args], check=True)


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - t:.0f} s)")

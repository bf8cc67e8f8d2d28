"""The default mode (``run.resolution_s: auto``) at launch scale, printed from one run.

1. ``sim arrivals.audience=2e6`` with no mode key: the mode and tick auto chose, the
   whole-run wall time (target: at most 15 s here).
2. ``experiment=x_spaces_2024`` (8M listeners, a 1M rps flood) with no mode key: whole
   run and peak memory (targets: 10 s, 1 GB); then (2b) the same with quiet periods'
   births tick by tick (no quiet windows, ``sim.model.quiet``), interleaved.
3. The flagship's joined share against the tick: auto's tick, and ticks from 1 s down to
   a quarter of auto's (target: auto within 1 point of the run at a tick four times
   finer), with each run's wall time.
4. Then ``bench_cohort.py`` (audiences 1M, 8M and 80M of the flagship, the 80M / 8M
   ratio, cohort against exact mode, exact mode against ciw and SimPy).

Each run is a fresh process (``bench_cohort.child``), so memory is that run's alone;
medians of ``--repeats`` where a time is a target.

Usage: ``python benchmarks/bench_auto.py [--repeats N] [--quick]``; ``--quick`` runs
tiny sizes only, to check that the script works.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_cohort import QUIET, child


def timed(overrides: list[str], repeats: int) -> tuple[float, dict[str, float]]:
    rows = [child([*overrides, *QUIET]) for _ in range(repeats)]
    return statistics.median(r["total_s"] for r in rows), rows[0]


def quiet_windows(flagship: list[str], repeats: int) -> None:
    """The flagship with quiet periods' births gathered over windows (the default,
    ``sim.model.quiet``) and tick by tick, interleaved: process CPU time (the
    whole process, imports included), wall time of the simulation, events and joined
    share."""
    runs: dict[str, list[dict[str, float]]] = {"windows": [], "tick by tick": []}
    for _ in range(repeats):
        runs["windows"].append(child([*flagship, *QUIET]))
        runs["tick by tick"].append(child(["--tick-by-tick", *flagship, *QUIET]))
    print("2b. quiet windows (sim.model.quiet), medians of", repeats)
    for name, rows in runs.items():
        print(f"   {name:>12}: process CPU {statistics.median(r['cpu_s'] for r in rows):6.2f} s,"
              f" simulation wall {statistics.median(r['wall_s'] for r in rows):6.2f} s, "
              f"events {rows[0]['events']:,}, joined {rows[0]['joined'] / rows[0]['arrived']:.4f}")
    cpu = [b["cpu_s"] / a["cpu_s"] for a, b in zip(runs["windows"], runs["tick by tick"],
                                                   strict=True)]
    print(f"   tick by tick / windows, process CPU (paired median): {statistics.median(cpu):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    small = ["run.horizon_s=900"] if args.quick else []
    crowd = ["arrivals.audience=2e5" if args.quick else "arrivals.audience=2e6", *small]
    flagship = ["experiment=x_spaces_2024", *(["arrivals.audience=2e5"] if args.quick
                                              else []), *small]

    total, row = timed(crowd, args.repeats)
    print(f"1. {' '.join(crowd)}: {row['mode']} mode, tick {row['tick_s']:g} s, whole run "
          f"{total:.2f} s (median of {args.repeats}; target 15 s), joined "
          f"{row['joined'] / row['arrived']:.4f}")

    total, row = timed(flagship, args.repeats)
    auto_tick, auto_joined = row["tick_s"], row["joined"] / row["arrived"]
    print(f"2. {' '.join(flagship)}: {row['mode']} mode, tick {auto_tick:g} s, whole run "
          f"{total:.2f} s (target 10 s), peak RSS {row['rss_mb']:,.0f} MB (target 1,024)")

    quiet_windows(flagship, args.repeats)

    print("3. flagship joined share against the tick (one run each, seed 1):")
    ticks = sorted({1.0, 0.5, 0.25, auto_tick, auto_tick / 2, auto_tick / 4}, reverse=True)
    if auto_tick <= 0:
        ticks = [1.0, 0.5]
    shares = {}
    for tick in ticks:
        r = child([*flagship, f"run.resolution_s={tick:g}", *QUIET])
        shares[tick] = r["joined"] / r["arrived"]
        mark = "  <- auto" if tick == auto_tick else ""
        print(f"   tick {tick:>7g} s: joined {shares[tick]:.4f}, whole run "
              f"{r['total_s']:6.2f} s{mark}", flush=True)
    if auto_tick > 0:
        fine = shares[auto_tick / 4]
        print(f"   auto against a tick four times finer: {100 * (auto_joined - fine):+.2f} "
              f"points of arrivals (target within 1)")

    print("4. bench_cohort.py:", flush=True)
    subprocess.run([sys.executable, str(Path(__file__).with_name("bench_cohort.py")),
                    "--repeats", str(args.repeats), *(["--quick"] if args.quick else [])],
                   check=True)


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - t:.0f} s)")

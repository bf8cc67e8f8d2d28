"""How the two headline cells move with the assumptions no source gives.

    python experiments/x_spaces_2024/sensitivity.py            # 17 variants x 2 cells x 3 seeds
    python experiments/x_spaces_2024/sensitivity.py --smoke --out D   # small and fast, into D

The headline cells are the crowd alone and the crowd with the claimed flood
(``experiment=x_spaces_2024``, with ``attack.vectors.l7_join_flood.rate_rps=0`` for the
first). Each assumption is moved one at a time, to a value below and above the preset's:
the crowd's shape (the reaction to the push, ``arrivals.reaction_median_s``, 60 s, and
its spread, ``arrivals.reaction_sigma``, 1.2; how long the push takes to send,
``arrivals.push_window_s``, 300 s; the share arriving late, ``arrivals.tail_share``,
0.35, and how late, ``arrivals.tail_tau_s``, 30 min), the session
length (``clients.session.mean_s``, 30 min), the client timeout (``clients.timeout_s``,
5 s) and the SLO's p99 limit (``slo.join_p99_max_s``, 10 s). Every variant runs on the
same seeds as the preset (common random numbers), through ``run.py``'s ``one_run``.
Writes ``sensitivity.csv`` (one row per variant, cell and seed) and the README's
sensitivity block: per variant and cell, the joined share and the outage, mean [min-max]
over the seeds, and on how many seeds the SLO holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone
sys.path.insert(0, str(HERE))

from run import NO_ATTACK, SEEDS, _cell, _iv, _outage, one_run, overrides_of  # noqa: E402

from experiments.study import update_readme, write_csv  # noqa: E402

VARIANTS: list[tuple[str, list[str]]] = [
    ("the preset", []),
    ("push reaction median 20 s (preset 60 s)", ["arrivals.reaction_median_s=20"]),
    ("push reaction median 180 s", ["arrivals.reaction_median_s=180"]),
    ("push reaction spread σ 0.6 (preset 1.2)", ["arrivals.reaction_sigma=0.6"]),
    ("push reaction spread σ 1.8", ["arrivals.reaction_sigma=1.8"]),
    ("push sent over 60 s (preset 300 s)", ["arrivals.push_window_s=60"]),
    ("push sent over 900 s", ["arrivals.push_window_s=900"]),
    ("late tail 15% of the crowd (preset 35%)", ["arrivals.tail_share=0.15"]),
    ("late tail 60% of the crowd", ["arrivals.tail_share=0.6"]),
    ("late tail's time constant 10 min (preset 30 min)", ["arrivals.tail_tau_s=600"]),
    ("late tail's time constant 60 min", ["arrivals.tail_tau_s=3600"]),
    ("sessions 15 min (preset 30 min)", ["clients.session.mean_s=900"]),
    ("sessions 60 min", ["clients.session.mean_s=3600"]),
    ("client timeout 3 s (preset 5 s)", ["clients.timeout_s=3"]),
    ("client timeout 10 s", ["clients.timeout_s=10"]),
    ("SLO p99 limit 5 s (preset 10 s)", ["slo.join_p99_max_s=5"]),
    ("SLO p99 limit 20 s", ["slo.join_p99_max_s=20"]),
]
CELLS: list[tuple[str, list[str]]] = [("crowd alone", NO_ATTACK),
                                      ("crowd + claimed flood", [])]
SMOKE = ["arrivals.audience=80000",
         "architecture.stations.join.max_rate_rps=50", "run.horizon_s=1500",
         "run.resolution_s=1", "run.metrics_tick_s=10"]


def plan(seeds: list[int]) -> list[dict[str, Any]]:
    """Every (variant, cell, seed) run, the seed outermost."""
    return [{"variant": v, "cell": c, "seed": s,
             "overrides": overrides_of([*cov, *vov, f"run.seed={s}"])}
            for s in seeds for v, vov in VARIANTS for c, cov in CELLS]


def table(rows: list[dict[str, Any]]) -> str:
    """The README block: per variant, each cell's joined share and outage over the seeds,
    in the cells of ``run.py``'s tables (an outage still running at the horizon marked)."""
    seeds = sorted({r["seed"] for r in rows})
    head = ["variant", *(f"{c}: {k}" for c, _ in CELLS for k in ("joined", "outage (min)",
                                                                  "SLO holds"))]
    lines = [f"Seeds {', '.join(map(str, seeds))}; mean [min–max] over them.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v, _ in VARIANTS:
        cells = []
        for c, _ in CELLS:
            rs = [r for r in rows if r["variant"] == v and r["cell"] == c]
            cells += [_cell(_iv(rs, "join_ratio"), 0.01, ".1f", "%"), _outage(rs),
                      f"{sum(bool(r['slo_met']) for r in rs)}/{len(rs)}"]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="small audience, short horizon")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")][: 2 if a.smoke else None]
    smoke = SMOKE if a.smoke else []
    runs = plan(seeds)
    t0 = time.perf_counter()
    rows = []
    for i, r in enumerate(runs, 1):
        res = one_run((tuple(r["overrides"]), tuple(smoke), False))
        rows.append({k: r[k] for k in ("variant", "cell", "seed")} | res)
        print(f"[sensitivity] {i}/{len(runs)} ({time.perf_counter() - t0:,.0f} s)",
              file=sys.stderr, flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "sensitivity.csv", rows)
    update_readme(a.out / "README.md", table(rows), "sensitivity")
    print(table(rows))


if __name__ == "__main__":
    main()

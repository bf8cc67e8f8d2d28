"""Architectures side by side: failure point (audience where the SLO breaks) and cost.

    python experiments/architectures/run.py            # the study (about an hour)
    python experiments/architectures/run.py --smoke    # tiny audience, short horizon
    python experiments/architectures/run.py --tables   # the README's tables from the CSVs

Variants on `experiment=architectures` (`run.resolution_s=auto`: cohort mode at 0.1 s;
grid.csv says which mode and tick each run used; common random numbers: on one seed
every variant sees the same crowd): SFU fanout (`spaces`) against HLS over a CDN
(`spaces_hls`); a waiting room against none; the auth cache hit ratio 0.5 / 0.9 / 0.99;
deadline propagation (`drop_expired` on every station) on and off; an unsharded hot key.

Every variant runs over a grid of audiences on several seeds (`--seeds`, 1-3 by
default). A seed's failure point is bracketed by the last audience that holds and the
first that breaks; the study's bracket is the widest over the seeds: "holds up to" is the
largest audience below which every seed holds, "breaks by" the smallest from which every
seed has broken, and `seeds_agree` says whether the seeds bracket alike. Every figure at
the reference audience is the mean with the range over the seeds (min-max); the
bottleneck is the label most seeds name, with its count.

Two checks follow the table. Sensitivity: the three main variants (sfu, hls_cdn,
sfu_waiting_room) over a coarser grid with the crowd's reaction time, the session
length and the client timeout changed one at a time; the SLO's p99 bound re-judged from
the base runs (the SLO only judges a run, it does not change it; a few cells are rerun
with the bound set to show the two agree). Convergence: two cells at the reference
audience in exact mode (`run.resolution_s=0`) against the `auto` runs of the table.

Cost at the reference audience: instance cost from summary.json plus egress. Writes
grid.csv, results.csv, sensitivity.csv, slo_check.csv, convergence.csv, the figures and
run_time.txt into this folder, and the tables into README.md between its markers.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone

import sim  # noqa: E402
from experiments.study import update_readme, write_csv  # noqa: E402

STATIONS = ("edge", "auth", "token_store", "join")
# Egress price per GB, an assumption (no sourced figure): the same for both, so the
# difference in cost is the servers; egress GB are reported on their own.
USD_PER_GB = 0.02


def _auth(hit: float) -> list[str]:
    return [f"architecture.routes.auth.join={hit}",
            f"architecture.routes.auth.token_store={round(1 - hit, 6)}"]


def _drop(stations: tuple[str, ...]) -> list[str]:
    return [f"architecture.stations.{n}.drop_expired=true" for n in stations]


HOT_KEY = ["architecture.stations.join.max_rate_rps=2500",
           "architecture.stations.join.queue_limit=10000"]

VARIANTS: dict[str, list[str]] = {
    "sfu": ["architecture=spaces"],
    "hls_cdn": ["architecture=spaces_hls"],
    "sfu_waiting_room": ["architecture=spaces_waiting_room"],
    "hls_cdn_waiting_room": ["architecture=spaces_hls", "architecture.waiting_room.enabled=true"],
    "sfu_auth_hit_0.5": ["architecture=spaces", *_auth(0.5)],
    "sfu_auth_hit_0.99": ["architecture=spaces", *_auth(0.99)],
    "sfu_drop_expired": ["architecture=spaces", *_drop((*STATIONS, "fanout"))],
    # The same three policies against a rate limit instead of a slot limit: the room
    # key unsharded (2,500 writes/s, 10,000 queued, as in `spaces`).
    "sfu_hot_key": ["architecture=spaces", *HOT_KEY],
    "sfu_hot_key_waiting_room": ["architecture=spaces_waiting_room", *HOT_KEY],
    "sfu_hot_key_drop_expired": ["architecture=spaces", *HOT_KEY,
                                 *_drop((*STATIONS, "fanout"))],
}

REFERENCE = 500_000
GRID = [250_000, 350_000, 400_000, 450_000, 500_000, 700_000, 1_000_000]
# The sensitivity grid: the main grid without 700k (the budget), so that the base row
# of the sensitivity table is the main table's runs on these audiences.
SENS_GRID = [250_000, 350_000, 400_000, 450_000, 500_000, 1_000_000]
MAIN = ("sfu", "hls_cdn", "sfu_waiting_room")
# One assumption changed at a time (the preset: 30 s reaction median, 30 min sessions,
# 5 s client timeout, p99 join <= 10 s).
SETTINGS: dict[str, list[str]] = {
    "base": [],
    "reaction median 10 s": ["arrivals.reaction_median_s=10"],
    "reaction median 90 s": ["arrivals.reaction_median_s=90"],
    "sessions 15 min": ["clients.session.mean_s=900"],
    "sessions 60 min": ["clients.session.mean_s=3600"],
    "client timeout 3 s": ["clients.timeout_s=3"],
    "client timeout 10 s": ["clients.timeout_s=10"],
}
# The SLO's p99 bound, re-judged from the base runs (`rejudge`).
SLO_P99 = {"SLO p99 ≤ 5 s": 5.0, "SLO p99 ≤ 20 s": 20.0}
# Rerun with the bound set, to hold the re-judging to the engine's own verdict.
SLO_CHECK_AUDIENCE = 400_000
CONVERGENCE = ("sfu", "sfu_hot_key")
# Figures summarised over the seeds (mean, min, max).
FIGURES = ("join_ratio", "p99_join_s", "first_breach_s", "attempts_per_client",
           "peak_listeners", "instance_usd", "egress_gb", "egress_usd", "room_wait_mean_s",
           "polls_failed_share")


def failure_point(over: list[str], low: float, high: float, reps: int,
                  outdir: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "sim", "-m", "hydra/sweeper=failure_point",
           "hydra.sweeper.param=arrivals.audience", f"hydra.sweeper.low={low}",
           f"hydra.sweeper.high={high}", f"hydra.sweeper.replications={reps}",
           "hydra.sweeper.direction=up", "hydra.sweeper.rel_tol=0.05",
           "hydra.sweeper.max_expand=2", f"hydra.sweep.dir={outdir}", *over]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads((outdir / "failure_point.json").read_text())


def _point(over: list[str]) -> dict[str, Any]:
    """One run (in a worker process): the figures the study needs, and the SLO's worst
    windows, from which another p99 bound can be judged (`rejudge`)."""
    res = sim.run(over)
    s, ts = res.summary, res.timeseries
    listener_s = float(np.sum(ts["listeners"]))
    egress_gb = listener_s * s_bitrate(res) * 1e3 / 8 / 1e9
    return {"slo_met": s["slo"]["met"], "first_breach_s": s["slo"]["first_breach_s"],
            "bottleneck": s["slo"]["bottleneck"], "join_ratio": s["legit"]["join_ratio"],
            "p99_join_s": s["join_latency_s"]["p99"],
            "attempts_per_client": s["legit"]["attempts_per_client"],
            "peak_listeners": s["listeners"]["peak"], "instance_usd": s["cost"]["usd"],
            "egress_gb": egress_gb, "egress_usd": egress_gb * USD_PER_GB,
            "room_wait_mean_s": (s.get("waiting_room") or {}).get("wait_s", {}).get("mean"),
            "polls_failed_share": (s.get("polling") or {}).get("failed_share"),
            "worst_success_ratio": s["slo"].get("worst_success_ratio"),
            "worst_p99_s": s["slo"].get("worst_p99_s"),
            "join_success_min": s["slo"].get("join_success_min"),
            "mode": s["resolution"]["mode"], "tick_s": s["resolution"]["tick_s"],
            "wall_s": s["perf"]["wall_s"]}


def rejudge(p: dict[str, Any], p99_max_s: float) -> bool:
    """Whether a run meets the SLO with ``p99_max_s`` as its p99 bound. The engine
    (`sim.analysis.slo.evaluate`) breaches a judged window whose success ratio is under
    the target or whose p99 is over the bound, so the run holds when its worst judged
    window does on both (no window judged: nothing breached)."""
    ratio, p99 = p["worst_success_ratio"], p["worst_p99_s"]
    return (ratio is None or ratio >= p["join_success_min"]) and (p99 is None
                                                                 or p99 <= p99_max_s)


def run_all(pool: Executor, label: str, cells: list[dict[str, Any]],
            common: list[str]) -> list[dict[str, Any]]:
    """Run each cell (its ``over``, plus the audience and seed) in ``pool``; each cell
    comes back with its figures. Progress goes to stderr every tenth of the way."""
    t0 = time.perf_counter()
    overs = [[*common, *c["over"], f"arrivals.audience={c['audience']}",
              f"run.seed={c['seed']}"] for c in cells]
    out = []
    step = max(1, len(cells) // 10)
    for i, (c, p) in enumerate(zip(cells, pool.map(_point, overs), strict=True), 1):
        out.append({k: v for k, v in c.items() if k != "over"} | p)
        if i % step == 0 or i == len(cells):
            print(f"[architectures] {label}: {i}/{len(cells)} runs "
                  f"({time.perf_counter() - t0:,.0f} s)", file=sys.stderr, flush=True)
    return out


def bracket(points: Iterable[tuple[int, bool]]) -> tuple[int | None, int | None]:
    """One seed's failure bracket on the grid: the last audience that holds below the
    first that breaks, and that first (None where there is none)."""
    pts = sorted(points)
    first_fail = min((a for a, ok in pts if not ok), default=None)
    last_pass = max((a for a, ok in pts if ok and (first_fail is None or a < first_fail)),
                    default=None)
    return last_pass, first_fail


def seeds_bracket(by_seed: dict[int, list[tuple[int, bool]]]) -> dict[str, Any]:
    """The bracket over the seeds: holds up to the lowest of the seeds' last holding
    audiences (None if a seed holds nowhere), breaks by the highest of their first
    breaking ones (None if a seed breaks nowhere on the grid)."""
    per = {s: bracket(pts) for s, pts in sorted(by_seed.items())}
    lows = [lo for lo, _ in per.values()]
    highs = [hi for _, hi in per.values()]
    return {"fp_low": None if None in lows else min(lows),
            "fp_high": None if None in highs else max(highs),
            "seeds_agree": len(set(per.values())) == 1,
            "brackets_per_seed": ";".join(f"{s}:{_k(lo)}-{_k(hi)}"
                                          for s, (lo, hi) in per.items())}


def _k(a: float | None) -> str:
    """An audience as 400k or 1M ('' for None)."""
    if a is None:
        return ""
    return f"{a / 1e6:g}M" if a >= 1e6 else f"{a / 1e3:g}k"


def spread(vals: list[Any]) -> tuple[float | None, float | None, float | None]:
    """Mean, min and max of the figures that exist (None if none does)."""
    xs = [float(v) for v in vals if v is not None]
    if not xs:
        return None, None, None
    return float(np.mean(xs)), min(xs), max(xs)


def modal_bottleneck(labels: list[str | None]) -> tuple[str, str, str]:
    """The label most seeds name ('' for none: the SLO held), as ``(label, "k/n",
    every label with its count)``; a tie goes to the label named first in sort order."""
    counts = Counter(lab or "" for lab in labels)
    label, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    every = ";".join(f"{lab or '-'}:{c}" for lab, c in sorted(counts.items()))
    return label, f"{n}/{len(labels)}", every


def summarise(name: str, mine: list[dict[str, Any]], reference: int,
              judge: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """One row of results.csv: a variant's bracket over the seeds and its figures at the
    reference audience, mean and range over the seeds (``judge`` re-reads a run's SLO
    verdict; by default the run's own)."""
    ok = judge or (lambda r: bool(r["slo_met"]))
    by_seed: dict[int, list[tuple[int, bool]]] = {}
    for r in mine:
        by_seed.setdefault(r["seed"], []).append((r["audience"], ok(r)))
    ref = [r for r in mine if r["audience"] == reference]
    label, count, every = modal_bottleneck([r["bottleneck"] for r in ref])
    row: dict[str, Any] = {"variant": name, "audience": reference,
                           "seeds": ";".join(str(r["seed"]) for r in ref),
                           **seeds_bracket(by_seed),
                           "slo_met_at_reference": f"{sum(ok(r) for r in ref)}/{len(ref)}",
                           "bottleneck": label, "bottleneck_seeds": count,
                           "bottleneck_labels": every}
    for f in FIGURES:
        row[f], row[f"{f}_min"], row[f"{f}_max"] = spread([r[f] for r in ref])
    row["mode"] = ";".join(sorted({str(r["mode"]) for r in mine}))
    row["tick_s"] = ";".join(sorted({str(r["tick_s"]) for r in mine}))
    return row


def main_table(pool: Executor, common: list[str], variants: dict[str, list[str]],
               grid: list[int], seeds: list[int], reference: int
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every variant over the grid on every seed: grid.csv's rows and results.csv's."""
    cells = [{"variant": n, "audience": a, "seed": s, "over": variants[n]}
             for n in variants for a in grid for s in seeds]
    grid_rows = run_all(pool, "grid", cells, common)
    rows = [summarise(n, [r for r in grid_rows if r["variant"] == n], reference)
            for n in variants]
    return grid_rows, rows


def ranking(rows: list[dict[str, Any]]) -> str:
    """The variants from the one that holds longest: by the audience every seed holds up
    to, then by the one every seed breaks by; equal brackets are tied (=)."""
    def key(r: dict[str, Any]) -> tuple[float, float]:
        return (r["fp_low"] or 0.0, r["fp_high"] or float("inf"))
    order = sorted(rows, key=key, reverse=True)
    text = order[0]["variant"]
    for prev, r in pairwise(order):
        text += (" = " if key(prev) == key(r) else " > ") + r["variant"]
    return text


def sensitivity(pool: Executor, common: list[str], grid_rows: list[dict[str, Any]],
                seeds: list[int], reference: int, grid: list[int],
                settings: dict[str, list[str]]) -> tuple[list[dict[str, Any]], int]:
    """The main variants with one assumption changed at a time (the base is the main
    table's runs on the same audiences and seeds), and the SLO's p99 bound re-judged;
    the rows of sensitivity.csv and how many runs they took."""
    def base_runs(n: str) -> list[dict[str, Any]]:
        return [r for r in grid_rows if r["variant"] == n and r["audience"] in grid
                and r["seed"] in seeds]
    runs = {("base", n): base_runs(n) for n in MAIN}
    cells = [{"setting": k, "variant": n, "audience": a, "seed": s,
              "over": [*VARIANTS[n], *ov]}
             for k, ov in settings.items() if k != "base" for n in MAIN
             for a in grid for s in seeds]
    for r in run_all(pool, "sensitivity", cells, common):
        runs.setdefault((r["setting"], r["variant"]), []).append(r)
    rows = []
    for k in [*settings, *SLO_P99]:
        bound = SLO_P99.get(k)
        judge = None if bound is None else (lambda r, b=bound: rejudge(r, b))
        mine = [summarise(n, runs["base" if bound else k, n], reference, judge)
                for n in MAIN]
        order = ranking(mine)
        over = settings[k] if bound is None else [f"slo.join_p99_max_s={bound}"]
        rows += [{"setting": k, "overrides": " ".join(over), "ranking": order, **r}
                 for r in mine]
    return rows, len(cells)


def slo_check(pool: Executor, common: list[str], grid_rows: list[dict[str, Any]],
              seeds: list[int], audience: int) -> list[dict[str, Any]]:
    """The main variants rerun at ``audience`` with each p99 bound set, against the
    verdict re-judged from the base run of the same seed."""
    cells = [{"variant": n, "audience": audience, "seed": s, "p99_max_s": b,
              "over": [*VARIANTS[n], f"slo.join_p99_max_s={b}"]}
             for n in MAIN for b in SLO_P99.values() for s in seeds]
    out = []
    for r in run_all(pool, "SLO check", cells, common):
        base = next(g for g in grid_rows if g["variant"] == r["variant"]
                    and g["audience"] == audience and g["seed"] == r["seed"])
        out.append({"variant": r["variant"], "audience": audience, "seed": r["seed"],
                    "p99_max_s": r["p99_max_s"], "run_met": r["slo_met"],
                    "rejudged_met": rejudge(base, r["p99_max_s"]),
                    "worst_p99_s": r["worst_p99_s"], "base_worst_p99_s": base["worst_p99_s"]})
    return out


def convergence(pool: Executor, common: list[str], grid_rows: list[dict[str, Any]],
                seeds: list[int], reference: int) -> list[dict[str, Any]]:
    """The CONVERGENCE cells (those the table ran) at the reference audience in exact
    mode, beside the table's runs of the same seeds."""
    names = [n for n in CONVERGENCE if any(g["variant"] == n for g in grid_rows)]
    cells = [{"variant": n, "audience": reference, "seed": s,
              "over": [*VARIANTS[n], "run.resolution_s=0"]}
             for n in names for s in seeds]
    exact = run_all(pool, "convergence", cells, common)
    auto = [g for g in grid_rows if g["variant"] in names
            and g["audience"] == reference and g["seed"] in seeds]
    keep = ("variant", "audience", "seed", "mode", "tick_s", "slo_met", "first_breach_s",
            "bottleneck", "join_ratio", "p99_join_s", "attempts_per_client", "wall_s")
    return [{k: r[k] for k in keep} for r in sorted(
        auto + exact, key=lambda r: (r["variant"], r["mode"], r["seed"]))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny audience, short horizon")
    ap.add_argument("--sweeper", action="store_true",
                    help="bisect each failure point with the failure-point sweeper")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once")
    ap.add_argument("--seeds", default="1,2,3", help="seeds of every run, comma-separated")
    ap.add_argument("--sensitivity-seeds", default=None,
                    help="seeds of the sensitivity and convergence runs (default: --seeds)")
    ap.add_argument("--tables", action="store_true",
                    help="no runs: rewrite tables.md and the README's tables from the CSVs")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.tables:
        tables_from_files(out)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    sens_seeds = [int(s) for s in (args.sensitivity_seeds or args.seeds).split(",")]
    if not set(sens_seeds) <= set(seeds):
        ap.error("the sensitivity seeds are a subset of --seeds (their base is the table)")
    t_start = time.perf_counter()
    common = ["experiment=architectures", "run.report=false", "run.progress=false"]
    if args.smoke:
        common += ["run.horizon_s=500", "run.resolution_s=1", "arrivals.t0_s=100",
                   "arrivals.early_window_s=100"]
        reference, grid, sens_grid, check_at = 20_000, [10_000, 20_000], [10_000, 20_000], 20_000
        variants = {k: VARIANTS[k] for k in MAIN}
        settings = {k: SETTINGS[k] for k in ("base", "reaction median 10 s",
                                             "client timeout 3 s")}
    else:
        reference, grid, sens_grid, check_at = REFERENCE, GRID, SENS_GRID, SLO_CHECK_AUDIENCE
        variants, settings = VARIANTS, SETTINGS
    walls: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        t = time.perf_counter()
        grid_rows, rows = main_table(pool, common, variants, grid, seeds, reference)
        if args.sweeper:
            sweep(rows, common, variants, grid, out)
        write_csv(out / "grid.csv", grid_rows)
        write_csv(out / "results.csv", rows)
        _figure(out, rows, reference)
        _curves(out, grid_rows, variants)
        walls["table"] = time.perf_counter() - t
        t = time.perf_counter()
        conv = convergence(pool, common, grid_rows, sens_seeds, reference)
        write_csv(out / "convergence.csv", conv)
        walls["convergence"] = time.perf_counter() - t
        t = time.perf_counter()
        check = slo_check(pool, common, grid_rows, sens_seeds, check_at)
        write_csv(out / "slo_check.csv", check)
        sens, n_sens = sensitivity(pool, common, grid_rows, sens_seeds, reference,
                                   sens_grid, settings)
        write_csv(out / "sensitivity.csv", sens)
        walls["sensitivity"] = time.perf_counter() - t
    write_tables(out, rows, sens, conv, check, reference, grid[0], sens_grid[0])
    write_run_time(out, time.perf_counter() - t_start, walls, args, grid_rows, conv,
                   n_sens, check)


def sweep(rows: list[dict[str, Any]], common: list[str], variants: dict[str, list[str]],
          grid: list[int], out: Path) -> None:
    """``--sweeper``: bisect each variant's bracket with the failure-point sweeper."""
    for row in rows:
        name = row["variant"]
        fp = failure_point([*common, *variants[name]], row["fp_low"] or grid[0] / 2,
                           row["fp_high"] or grid[-1] * 2, 2, out / "sweeps" / name)
        interval = fp.get("interval") or [None, None]
        row.update({"sweeper_value": fp.get("value"), "sweeper_low": interval[0],
                    "sweeper_high": interval[1]})


def write_run_time(out: Path, wall: float, walls: dict[str, float], args: Any,
                   grid_rows: list[dict[str, Any]], conv: list[dict[str, Any]],
                   n_sens: int, check: list[dict[str, Any]]) -> None:
    """run_time.txt: the wall time of the study and of its parts, and the runs."""
    n_exact = sum(r["mode"] == "exact" for r in conv)
    cpu = sum(r["wall_s"] for r in grid_rows)
    (out / "run_time.txt").write_text(
        f"{wall:.0f} s wall, {args.jobs} at once{' (smoke)' if args.smoke else ''}: "
        f"table {walls['table']:.0f} s ({len(grid_rows)} runs, {cpu:.0f} s of simulation; "
        f"seeds {args.seeds}), convergence {walls['convergence']:.0f} s ({n_exact} exact "
        f"runs), SLO check and sensitivity {walls['sensitivity']:.0f} s ({len(check)} + "
        f"{n_sens} runs)\n")
    print(f"architectures: wrote {out} in {wall:.0f} s")


# -- the README's tables, from the rows just written --------------------------------------

def pct(x: float) -> str:
    """A share in percent, one decimal ("83.0", but "100"); the unit goes after the mean."""
    text = f"{100 * x:.1f}"
    return "100" if text == "100.0" else text


def secs(x: float) -> str:
    return f"{x:.2f}" if x < 1 else f"{x:.1f}" if x < 20 else f"{x:.0f}"


def with_range(r: dict[str, Any], f: str, fmt: Callable[[float], str], unit: str = "") -> str:
    """A figure as its mean over the seeds and [min–max] (the mean alone when the three
    print alike; '—' when no seed has it)."""
    mean, lo, hi = r[f], r[f"{f}_min"], r[f"{f}_max"]
    if mean is None or mean == "":
        return "—"
    m, a, b = fmt(float(mean)), fmt(float(lo)), fmt(float(hi))
    return f"{m}{unit}" if m == a == b else f"{m}{unit} [{a}–{b}]"


def holds_cell(r: dict[str, Any], grid_low: int) -> str:
    """"Holds up to": the audience, "≥" it where no seed broke on the grid, "<" the
    grid's first where a seed held nowhere."""
    if r["fp_low"] in (None, ""):
        return f"< {_k(grid_low)}"
    return ("≥ " if r["fp_high"] in (None, "") else "") + _k(float(r["fp_low"]))


def breaks_cell(r: dict[str, Any]) -> str:
    return "— (not in the grid)" if r["fp_high"] in (None, "") else _k(float(r["fp_high"]))


def seeds_cell(r: dict[str, Any]) -> str:
    n = len(str(r["seeds"]).split(";"))
    if str(r["seeds_agree"]) == "True":
        return f"agree ({n}/{n})"
    return "disagree: " + ", ".join(
        f"seed {b.split(':')[0]} {b.split(':')[1].replace('-', '–') or '—'}"
        for b in str(r["brackets_per_seed"]).split(";"))


def findings_table(rows: list[dict[str, Any]], reference: int, grid_low: int) -> str:
    """The findings table: one row per variant of results.csv."""
    lines = [f"| variant | SLO holds up to (every seed) | breaks by (every seed) | seeds | "
             f"at {_k(reference)}: joined | p99 join | bottleneck | instances $ | egress GB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| `{r['variant']}` | {holds_cell(r, grid_low)} | {breaks_cell(r)} | "
            f"{seeds_cell(r)} | {with_range(r, 'join_ratio', pct, '%')} | "
            f"{with_range(r, 'p99_join_s', secs, ' s')} | "
            f"{r['bottleneck'] or '—'} ({r['bottleneck_seeds']}) | "
            f"{with_range(r, 'instance_usd', lambda x: f'{x:.2f}')} | "
            f"{with_range(r, 'egress_gb', lambda x: f'{x:.0f}')} |")
    return "\n".join(lines) + "\n"


def sensitivity_table(sens: list[dict[str, Any]], grid_low: int) -> str:
    """One row per setting: each main variant's bracket over the seeds, the ranking, and
    what moved against the base row."""
    def cell(r: dict[str, Any]) -> str:
        lo, hi = holds_cell(r, grid_low), breaks_cell(r)
        text = lo if hi.startswith("—") else f"{lo}–{hi}"
        return text + ("" if str(r["seeds_agree"]) == "True" else " (seeds disagree)")
    by = {(r["setting"], r["variant"]): r for r in sens}
    settings = list(dict.fromkeys(r["setting"] for r in sens))
    lines = ["| setting | " + " | ".join(f"`{n}`" for n in MAIN) + " | ranking | against base |",
             "|---" * (len(MAIN) + 3) + "|"]
    for k in settings:
        cells = [cell(by[k, n]) for n in MAIN]
        moved = [n for n in MAIN if cell(by[k, n]) != cell(by["base", n])]
        rank = by[k, MAIN[0]]["ranking"]
        verdict = "—" if k == "base" else (
            ("ranking same" if rank == by["base", MAIN[0]]["ranking"] else "ranking moves")
            + ("; brackets same" if not moved else "; moved: " + ", ".join(moved)))
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {rank} | {verdict} |")
    return "\n".join(lines) + "\n"


def convergence_table(conv: list[dict[str, Any]]) -> str:
    """Per cell: exact mode against `auto` (mean [min–max] over the seeds)."""
    lines = ["| cell | mode | joined | p99 join | attempts per client | first breach | "
             "bottleneck | wall per run |", "|---|---|---|---|---|---|---|---|"]
    for n in dict.fromkeys(r["variant"] for r in conv):
        for mode in ("cohort", "exact"):
            mine = [r for r in conv if r["variant"] == n and r["mode"] == mode]
            if not mine:
                continue
            s: dict[str, Any] = {}
            for f in ("join_ratio", "p99_join_s", "attempts_per_client", "first_breach_s",
                      "wall_s"):
                s[f], s[f"{f}_min"], s[f"{f}_max"] = spread([r[f] for r in mine])
            label, count, _ = modal_bottleneck([r["bottleneck"] for r in mine])
            tick = f" {mine[0]['tick_s']} s" if mode == "cohort" else ""
            lines.append(
                f"| `{n}` at {_k(mine[0]['audience'])} | {mode}{tick} | "
                f"{with_range(s, 'join_ratio', pct, '%')} | "
                f"{with_range(s, 'p99_join_s', secs, ' s')}"
                f" | {with_range(s, 'attempts_per_client', lambda x: f'{x:.2f}')} | "
                f"{with_range(s, 'first_breach_s', lambda x: f'{x:.0f}', ' s')} | "
                f"{label or '—'} ({count}) | {with_range(s, 'wall_s', lambda x: f'{x:.0f}', ' s')}"
                " |")
    return "\n".join(lines) + "\n"


def write_tables(out: Path, rows: list[dict[str, Any]], sens: list[dict[str, Any]],
                 conv: list[dict[str, Any]], check: list[dict[str, Any]],
                 reference: int, grid_low: int, sens_low: int) -> None:
    """tables.md (every table) and, where out holds the README, its marked blocks."""
    agree = sum(c["run_met"] == c["rejudged_met"] for c in check)
    blocks = {"results": findings_table(rows, reference, grid_low),
              "sensitivity": sensitivity_table(sens, sens_low)
              + f"\n(SLO check: the re-judged verdict equals the engine's in {agree} of "
                f"{len(check)} reruns with the bound set, `slo_check.csv`.)\n",
              "convergence": convergence_table(conv)}
    (out / "tables.md").write_text("\n".join(blocks.values()))
    readme = out / "README.md"
    update_readme(readme, blocks["results"])
    for name in ("sensitivity", "convergence"):
        update_readme(readme, blocks[name], name)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """A CSV this study wrote, numbers as floats and empty cells as None."""
    def value(v: str) -> Any:
        if v == "":
            return None
        try:
            return float(v)
        except ValueError:
            return v
    with path.open(newline="") as fh:
        return [{k: value(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def tables_from_files(out: Path) -> None:
    """``--tables``: the tables again from the CSVs in ``out`` (the sensitivity grid
    starts where the table's does)."""
    rows = read_rows(out / "results.csv")
    low = int(min(r["audience"] for r in read_rows(out / "grid.csv")))
    write_tables(out, rows, read_rows(out / "sensitivity.csv"),
                 read_rows(out / "convergence.csv"), read_rows(out / "slo_check.csv"),
                 int(rows[0]["audience"]), low, low)


# -- figures --------------------------------------------------------------------------------

def _curves(out: Path, grid_rows: list[dict[str, Any]], variants: dict[str, Any]) -> None:
    """Joined share and p99 over the audience: the mean over the seeds, min-max shaded."""
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for name in variants:
        mine = [r for r in grid_rows if r["variant"] == name]
        aud = sorted({r["audience"] for r in mine})
        a = np.array(aud) / 1e3
        for k, (f, scale) in enumerate((("join_ratio", 100.0), ("p99_join_s", 1.0))):
            stats = np.array([spread([r[f] for r in mine if r["audience"] == x]) for x in aud],
                             dtype=float) * scale
            (line,) = ax[k].plot(a, stats[:, 0], "o-", label=name, ms=3)
            ax[k].fill_between(a, stats[:, 1], stats[:, 2], color=line.get_color(), alpha=0.2)
    ax[0].set(xlabel="audience (thousands)", ylabel="clients who joined (%)")
    ax[1].set(xlabel="audience (thousands)", ylabel="p99 join latency (s)", yscale="log")
    ax[1].axhline(10, color="k", lw=0.8, ls="--")
    ax[0].legend(fontsize=7)
    fig.suptitle("mean over seeds, min-max shaded", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)


def s_bitrate(res: sim.Result) -> float:
    return float(res.config.architecture.bitrate_kbps)


def _figure(out: Path, rows: list[dict[str, Any]], reference: int) -> None:
    """Bracket over the seeds, joined share and cost at the reference (min-max bars)."""
    names = [r["variant"] for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(1, 3, figsize=(13, 0.5 * len(rows) + 2), sharey=True)
    lo = np.array([r["fp_low"] or 0 for r in rows], dtype=float) / 1e3
    hi = np.array([r["fp_high"] or np.nan for r in rows], dtype=float) / 1e3
    ax[0].barh(y, lo, color="tab:blue", label="holds (every seed)")
    ax[0].barh(y, hi - lo, left=lo, color="tab:red", alpha=0.4,
               label="breaks between (by every seed)")
    ax[0].set(xlabel="audience (thousands)", title="failure point (SLO)")
    ax[0].legend(fontsize=8)
    jr = np.array([[r["join_ratio"], r["join_ratio_min"], r["join_ratio_max"]]
                   for r in rows], dtype=float) * 100
    ax[1].barh(y, jr[:, 0], color="tab:green", xerr=[jr[:, 0] - jr[:, 1], jr[:, 2] - jr[:, 0]])
    ax[1].set(xlabel=f"joined at {reference:,} (%, mean, min-max)", title="join ratio")
    inst = [r["instance_usd"] for r in rows]
    ax[2].barh(y, inst, color="tab:orange", label="instances")
    ax[2].barh(y, [r["egress_usd"] for r in rows], left=inst, color="tab:gray",
               label=f"egress at ${USD_PER_GB}/GB")
    ax[2].set(xlabel="USD for the run (mean over seeds)", title="cost")
    ax[2].legend(fontsize=8)
    ax[0].set_yticks(y, names)
    fig.tight_layout()
    fig.savefig(out / "architectures.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

"""Architectures side by side: failure point (audience where the SLO breaks) and cost.

    python experiments/architectures/run.py            # the study (minutes)
    python experiments/architectures/run.py --smoke    # tiny audience, short horizon

Variants on `experiment=architectures` (`run.resolution_s=auto`: cohort mode at 0.1 s;
grid.csv says which mode and tick each run used; common random numbers: every
variant sees the same crowd): SFU fanout (`spaces`) against HLS over a CDN
(`spaces_hls`); a waiting room against none; the auth cache hit ratio 0.5 / 0.9 / 0.99;
deadline propagation (`drop_expired` on every station) on and off. Each variant runs
over a grid of audiences; its failure point is bracketed by the last audience that
holds and the first that breaks (the bracket is the interval; `--sweeper` bisects it
with the failure-point sweeper over 2 replications instead, much slower). Cost at the
reference audience: instance cost from summary.json plus egress. Writes results.csv,
grid.csv and figures into this folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone

import sim  # noqa: E402
from experiments.study import write_csv  # noqa: E402

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
    """One run of the grid (in a worker process): the figures the study needs."""
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
            "mode": s["resolution"]["mode"], "tick_s": s["resolution"]["tick_s"],
            "wall_s": s["perf"]["wall_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny audience, short horizon")
    ap.add_argument("--sweeper", action="store_true",
                    help="bisect each failure point with the failure-point sweeper")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    common = ["experiment=architectures", "run.report=false", "run.progress=false"]
    if args.smoke:
        common += ["run.horizon_s=500", "run.resolution_s=1", "arrivals.t0_s=100",
                   "arrivals.early_window_s=100"]
        reference, grid = 20_000, [10_000, 20_000]
        variants = {k: VARIANTS[k] for k in ("sfu", "hls_cdn", "sfu_waiting_room")}
    else:
        reference, grid = 500_000, [250_000, 350_000, 400_000, 450_000, 500_000, 700_000,
                                     1_000_000]
        variants = VARIANTS
    jobs = [(name, a) for name in variants for a in grid]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        points = list(pool.map(_point, [[*common, *variants[n], f"arrivals.audience={a}"]
                                        for n, a in jobs]))
    grid_rows = [{"variant": n, "audience": a, **p}
                 for (n, a), p in zip(jobs, points, strict=True)]
    write_csv(out / "grid.csv", grid_rows)
    rows = []
    for name in variants:
        mine = [r for r in grid_rows if r["variant"] == name]
        ref = next(r for r in mine if r["audience"] == reference)
        passing = [r["audience"] for r in mine if r["slo_met"]]
        failing = [r["audience"] for r in mine if not r["slo_met"]]
        first_fail = min(failing) if failing else None
        last_pass = max([a for a in passing if first_fail is None or a < first_fail],
                        default=None)
        row: dict[str, Any] = {"variant": name, **{k: v for k, v in ref.items()
                                                   if k not in ("wall_s",)},
                               "fp_low": last_pass, "fp_high": first_fail,
                               "failure_point": (None if first_fail is None or last_pass is None
                                                 else (last_pass + first_fail) / 2)}
        if args.sweeper:
            fp = failure_point([*common, *variants[name]], last_pass or grid[0] / 2,
                               first_fail or grid[-1] * 2, 2, out / "sweeps" / name)
            interval = fp.get("interval") or [None, None]
            row.update({"failure_point": fp.get("value"), "fp_low": interval[0],
                        "fp_high": interval[1]})
        rows.append(row)
    write_csv(out / "results.csv", rows)
    _figure(out, rows, reference)
    _curves(out, grid_rows, variants)
    wall = time.perf_counter() - t_start
    cpu = sum(r["wall_s"] for r in grid_rows)
    (out / "run_time.txt").write_text(
        f"{wall:.0f} s wall, {cpu:.0f} s of simulation over {len(grid_rows)} runs, "
        f"{args.jobs} at once{' (smoke)' if args.smoke else ''}\n")
    print(f"architectures: wrote {out} in {wall:.0f} s")


def _curves(out: Path, grid_rows: list[dict[str, Any]], variants: dict[str, Any]) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for name in variants:
        mine = [r for r in grid_rows if r["variant"] == name]
        a = [r["audience"] / 1e3 for r in mine]
        ax[0].plot(a, [100 * r["join_ratio"] for r in mine], "o-", label=name)
        ax[1].plot(a, [r["p99_join_s"] for r in mine], "o-", label=name)
    ax[0].set(xlabel="audience (thousands)", ylabel="clients who joined (%)")
    ax[1].set(xlabel="audience (thousands)", ylabel="p99 join latency (s)", yscale="log")
    ax[1].axhline(10, color="k", lw=0.8, ls="--")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)


def s_bitrate(res: sim.Result) -> float:
    return float(res.config.architecture.bitrate_kbps)


def _figure(out: Path, rows: list[dict[str, Any]], reference: int) -> None:
    names = [r["variant"] for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(1, 3, figsize=(13, 0.5 * len(rows) + 2), sharey=True)
    lo = np.array([r["fp_low"] or 0 for r in rows], dtype=float) / 1e3
    hi = np.array([r["fp_high"] or np.nan for r in rows], dtype=float) / 1e3
    ax[0].barh(y, lo, color="tab:blue", label="holds")
    ax[0].barh(y, hi - lo, left=lo, color="tab:red", alpha=0.4, label="breaks between")
    ax[0].set(xlabel="audience (thousands)", title="failure point (SLO)")
    ax[0].legend(fontsize=8)
    ax[1].barh(y, [100 * r["join_ratio"] for r in rows], color="tab:green")
    ax[1].set(xlabel=f"joined at {reference:,} (%)", title="join ratio")
    ax[2].barh(y, [r["instance_usd"] for r in rows], color="tab:orange", label="instances")
    ax[2].barh(y, [r["egress_usd"] for r in rows], left=[r["instance_usd"] for r in rows],
               color="tab:gray", label=f"egress at ${USD_PER_GB}/GB")
    ax[2].set(xlabel="USD for the run", title="cost")
    ax[2].legend(fontsize=8)
    ax[0].set_yticks(y, names)
    fig.tight_layout()
    fig.savefig(out / "architectures.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

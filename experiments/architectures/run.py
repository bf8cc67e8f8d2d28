"""Architectures side by side: failure point (audience where the SLO breaks) and cost.

    python experiments/architectures/run.py            # the study (minutes)
    python experiments/architectures/run.py --smoke    # tiny audience, short horizon

Variants on `experiment=architectures` (cohort mode, common random numbers): SFU fanout
(`spaces`) against HLS over a CDN (`spaces_hls`); a waiting room against none; the auth
cache hit ratio 0.5 / 0.9 / 0.99; deadline propagation (`drop_expired` on every
station) on and off. Per variant: the failure-point sweeper over arrivals.audience
(2 replications), and one run at the reference audience for join ratio, p99, bottleneck,
instance cost and egress. Writes results.csv and figures into this folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import sim

HERE = Path(__file__).resolve().parent
STATIONS = ("edge", "auth", "token_store", "join")
# Egress price per GB, an assumption (no sourced figure): the same for both, so the
# difference in cost is the servers; egress GB are reported on their own.
USD_PER_GB = 0.02


def _auth(hit: float) -> list[str]:
    return [f"architecture.routes.auth.join={hit}",
            f"architecture.routes.auth.token_store={round(1 - hit, 6)}"]


def _drop(stations: tuple[str, ...]) -> list[str]:
    return [f"architecture.stations.{n}.drop_expired=true" for n in stations]


VARIANTS: dict[str, list[str]] = {
    "sfu": ["architecture=spaces"],
    "hls_cdn": ["architecture=spaces_hls"],
    "sfu_waiting_room": ["architecture=spaces_waiting_room"],
    "hls_cdn_waiting_room": ["architecture=spaces_hls", "architecture.waiting_room.enabled=true"],
    "sfu_auth_hit_0.5": ["architecture=spaces", *_auth(0.5)],
    "sfu_auth_hit_0.99": ["architecture=spaces", *_auth(0.99)],
    "sfu_drop_expired": ["architecture=spaces", *_drop((*STATIONS, "fanout"))],
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny audience, short horizon")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    common = ["experiment=architectures", "run.report=false", "run.progress=false"]
    if args.smoke:
        common += ["run.horizon_s=500", "run.resolution_s=1", "arrivals.t0_s=100",
                   "arrivals.early_window_s=100"]
        reference, variants = 20_000, {k: VARIANTS[k] for k in ("sfu", "hls_cdn",
                                                                "sfu_waiting_room")}
    else:
        reference, variants = 500_000, VARIANTS
    rows = []
    for name, over in variants.items():
        res = sim.run([*common, *over, f"arrivals.audience={reference}"])
        s, ts = res.summary, res.timeseries
        listener_s = float(np.sum(ts["listeners"]))
        egress_gb = listener_s * s_bitrate(res) * 1e3 / 8 / 1e9
        row: dict[str, Any] = {
            "variant": name, "audience": reference, "slo_met": s["slo"]["met"],
            "first_breach_s": s["slo"]["first_breach_s"], "bottleneck": s["slo"]["bottleneck"],
            "join_ratio": s["legit"]["join_ratio"], "p99_join_s": s["join_latency_s"]["p99"],
            "attempts_per_client": s["legit"]["attempts_per_client"],
            "peak_listeners": s["listeners"]["peak"],
            "instance_usd": s["cost"]["usd"], "egress_gb": egress_gb,
            "egress_usd": egress_gb * USD_PER_GB,
            "room_wait_mean_s": (s.get("waiting_room") or {}).get("wait_s", {}).get("mean"),
            "polls_failed_share": (s.get("polling") or {}).get("failed_share"),
        }
        if not args.smoke:
            fp = failure_point([*common, *over], 1e5, 1.6e6, 2, out / "sweeps" / name)
            interval = fp.get("interval") or [None, None]
            row.update({"failure_point": fp.get("value"), "fp_low": interval[0],
                        "fp_high": interval[1], "fp_statuses": ";".join(
                            str(r.get("status")) for r in fp.get("replications", []))})
        rows.append(row)
        print(f"[architectures] {name}: done", file=sys.stderr, flush=True)
    _write_csv(out / "results.csv", rows)
    _figure(out, rows, reference)
    wall = time.perf_counter() - t_start
    (out / "run_time.txt").write_text(f"{wall:.0f} s wall{' (smoke)' if args.smoke else ''}\n")
    print(f"architectures: wrote {out} in {wall:.0f} s")


def s_bitrate(res: sim.Result) -> float:
    return float(res.config.architecture.bitrate_kbps)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def _figure(out: Path, rows: list[dict[str, Any]], reference: int) -> None:
    names = [r["variant"] for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(1, 3, figsize=(13, 0.5 * len(rows) + 2), sharey=True)
    if "failure_point" in rows[0]:
        fp = np.array([r["failure_point"] or np.nan for r in rows], dtype=float) / 1e3
        lo = np.array([r["fp_low"] or np.nan for r in rows], dtype=float) / 1e3
        hi = np.array([r["fp_high"] or np.nan for r in rows], dtype=float) / 1e3
        ax[0].barh(y, fp, xerr=[fp - lo, hi - fp], color="tab:blue")
        ax[0].set(xlabel="failure point (audience, thousands)", title="where the SLO breaks")
    else:
        ax[0].barh(y, [100 * r["join_ratio"] for r in rows])
        ax[0].set(xlabel="joined (%)")
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

"""The May 2023 launch: which tier fails at ~0.5M, when, and what capacity would have held.

    python experiments/desantis_2023/run.py            # the study (a few minutes)
    python experiments/desantis_2023/run.py --smoke    # tiny audience, short horizon

Steps, all on `experiment=desantis_2023` (`run.resolution_s=auto`: cohort mode at the
scenario's tick, 0.1 s; results.csv says which mode and tick each run used):
1. baseline over the uncertain audience (0.3M-0.7M): SLO, first breach, bottleneck;
2. per audience, raise the capacity knob of the bottleneck tier ×1.5 until the SLO
   holds (the capacity that would have held);
3. at 0.5M, the failure-point sweeper lowers each raised knob of that capacity
   (direction down, 3 replications): the smallest value that holds, with an interval
   (skipped with --smoke).
Writes results.csv, capacity.csv, failure_points.csv and figures into this folder.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone

import sim  # noqa: E402
from experiments.study import write_csv  # noqa: E402
from sim.compose import compose  # noqa: E402

# The capacity knob of each tier: the figure that bounds its throughput in `spaces`.
KNOBS = {"edge": "rate_limit_rps", "auth": "instances", "token_store": "instances",
         "join": "max_rate_rps", "fanout": "instances"}


def knob_value(overrides: dict[str, Any], tier: str, base: dict[str, Any]) -> Any:
    key = f"architecture.stations.{tier}.{KNOBS[tier]}"
    return overrides.get(key, base[tier][KNOBS[tier]])


def run(common: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    over = [*common, *(f"{k}={v}" for k, v in extra.items())]
    return sim.run(over).summary


def hold(common: list[str], base: dict[str, Any], audience: float,
         max_steps: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Raise the bottleneck tier's knob ×1.5 until the SLO holds."""
    extra: dict[str, Any] = {"arrivals.audience": int(audience)}
    steps = []
    for _ in range(max_steps):
        s = run(common, extra)
        bottleneck = s["slo"]["bottleneck"]
        steps.append({"audience": int(audience), "met": s["slo"]["met"],
                      "bottleneck": bottleneck, "join_ratio": s["legit"]["join_ratio"],
                      **{k: v for k, v in extra.items() if k != "arrivals.audience"}})
        if s["slo"]["met"] or bottleneck not in KNOBS:
            break
        key = f"architecture.stations.{bottleneck}.{KNOBS[bottleneck]}"
        value = knob_value(extra, bottleneck, base) * 1.5
        extra[key] = math.ceil(value) if KNOBS[bottleneck] == "instances" else round(value)
    return extra, steps


def failure_point(common: list[str], extra: dict[str, Any], key: str, low: float,
                  high: float, reps: int, outdir: Path, jobs: int) -> dict[str, Any]:
    """The smallest value of ``key`` that holds (the sweeper, direction down)."""
    over = [f"{k}={v}" for k, v in extra.items() if k != key]
    cmd = [sys.executable, "-m", "sim", "-m", "hydra/sweeper=failure_point",
           f"hydra.launcher.n_jobs={jobs}",
           f"hydra.sweeper.param={key}", f"hydra.sweeper.low={low}",
           f"hydra.sweeper.high={high}", f"hydra.sweeper.replications={reps}",
           "hydra.sweeper.direction=down", "hydra.sweeper.rel_tol=0.03",
           f"hydra.sweep.dir={outdir}", *common, *over]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads((outdir / "failure_point.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny audience, short horizon")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--jobs", type=int, default=2,
                    help="processes the failure-point sweeper runs its probes on")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    common = ["experiment=desantis_2023", "run.report=false", "run.progress=false"]
    if args.smoke:
        # 1/100 of the crowd on 1/100 of the capacity, 10 minutes, coarse ticks.
        common += ["run.horizon_s=600", "run.resolution_s=1", "run.metrics_tick_s=5",
                   "arrivals.t0_s=120", "arrivals.early_window_s=120",
                   "architecture.stations.join.max_rate_rps=25",
                   "architecture.stations.fanout.listener_slots_per_instance=200",
                   "architecture.stations.fanout.egress_gbps_per_instance=0.0064",
                   "architecture.stations.edge.rate_limit_rps=400",
                   "architecture.stations.auth.workers_per_instance=1",
                   "architecture.stations.auth.service.mean_s=0.05"]
        audiences, reference, steps, reps = [3000, 5000], 5000, 6, 1
    else:
        audiences, reference, steps, reps = [300_000, 400_000, 500_000, 600_000,
                                             700_000], 500_000, 12, 3
    cfg = sim.to_config(compose(common))
    base = {n: {"instances": st.instances, "rate_limit_rps": st.rate_limit_rps,
                "max_rate_rps": st.max_rate_rps} for n, st in cfg.architecture.stations.items()}

    # 1. Baseline over the audience range, and the reference run's time series.
    rows = []
    for a in audiences:
        res = sim.run([*common, f"arrivals.audience={a}"])
        s = res.summary
        rows.append({"audience": a, "arrived": s["legit"]["arrived"],
                     "joined": s["legit"]["joined"], "join_ratio": s["legit"]["join_ratio"],
                     "attempts_per_client": s["legit"]["attempts_per_client"],
                     "slo_met": s["slo"]["met"], "first_breach_s": s["slo"]["first_breach_s"],
                     "bottleneck": s["slo"]["bottleneck"],
                     "p99_join_s": s["join_latency_s"]["p99"],
                     "recovered_s": s["slo"].get("recovered_s"),
                     "mode": s["resolution"]["mode"], "tick_s": s["resolution"]["tick_s"],
                     **{f"{n}.rejected": st["rejected"] for n, st in s["stations"].items()}})
        if a == reference:
            ref_ts, ref_summary = res.timeseries, s
    write_csv(out / "results.csv", rows)

    # 2. The capacity that would have held, per audience.
    cap_rows = []
    held_ref: dict[str, Any] = {}
    for a in audiences:
        extra, trail = hold(common, base, a, steps)
        if a == reference:
            held_ref = extra
        last = trail[-1]
        cap_rows.append({"audience": a, "held": last["met"], "steps": len(trail),
                         **{f"{t}.{KNOBS[t]}": knob_value(extra, t, base) for t in KNOBS}})
    write_csv(out / "capacity.csv", cap_rows)

    # 3. Failure points of each raised knob at the reference audience (3 replications).
    fp_rows = []
    sweep_root = out / "sweeps"
    for key, value in held_ref.items():
        if key == "arrivals.audience" or args.smoke:  # smoke: the sweeper is not rerun
            continue
        tier = key.split(".")[2]
        fp = failure_point(common, held_ref, key, base[tier][KNOBS[tier]], value, reps,
                           sweep_root / tier, args.jobs)
        fp_rows.append({"tier": tier, "knob": KNOBS[tier], "baseline": base[tier][KNOBS[tier]],
                        "held_by_step": value, "min_holding": fp.get("holds_at"),
                        "max_failing": fp.get("fails_at"),
                        "interval_low": (fp.get("interval") or [None, None])[0],
                        "interval_high": (fp.get("interval") or [None, None])[1],
                        "replications": fp.get("n")})
    write_csv(out / "failure_points.csv", fp_rows)

    _figures(out, rows, cap_rows, ref_ts, ref_summary, reference)
    wall = time.perf_counter() - t_start
    (out / "run_time.txt").write_text(f"{wall:.0f} s wall{' (smoke)' if args.smoke else ''}\n")
    print(f"desantis_2023: wrote {out} in {wall:.0f} s")


def _figures(out: Path, rows: list[dict[str, Any]], cap_rows: list[dict[str, Any]],
             ts: dict[str, Any], summary: dict[str, Any], reference: int) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    aud = [r["audience"] / 1e3 for r in rows]
    ax[0].plot(aud, [100 * r["join_ratio"] for r in rows], "o-")
    ax[0].set(xlabel="audience (thousands)", ylabel="clients who joined (%)",
              title="Baseline spaces: join ratio")
    ax[1].plot(aud, [r["first_breach_s"] if r["first_breach_s"] is not None else float("nan")
                     for r in rows], "o-")
    ax[1].set(xlabel="audience (thousands)", ylabel="first SLO breach (s into the run)",
              title="first breach (start at t0)")
    fig.tight_layout()
    fig.savefig(out / "baseline.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    t = ts["t_s"]
    for name in summary["stations"]:
        cap = ts[f"{name}.capacity"]
        util = ts[f"{name}.busy"] / cap.clip(min=1e-9)
        ax[0].plot(t, ts[f"{name}.rejected"] / (t[1] - t[0]), label=f"{name} rejected/s")
        ax[1].plot(t, util, label=name)
    ax[0].set(ylabel="rejections per second", yscale="symlog",
              title=f"{reference:,} audience: where requests are lost")
    ax[0].legend(fontsize=8)
    ax[1].set(xlabel="simulated time (s)", ylabel="utilization")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "reference_timeseries.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for tier, knob in KNOBS.items():
        vals = [r[f"{tier}.{knob}"] for r in cap_rows]
        if len(set(vals)) > 1 or vals[0] != vals[-1]:
            ax.plot([r["audience"] / 1e3 for r in cap_rows], vals, "o-", label=f"{tier}.{knob}")
    ax.set(xlabel="audience (thousands)", ylabel="value that held", yscale="log",
           title="capacity that would have held")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "capacity.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

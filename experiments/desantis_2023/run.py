"""The May 2023 launch: which tier fails at ~0.5M, when, and what capacity would have held.

    python experiments/desantis_2023/run.py --jobs 1   # the study (half an hour, 2 cores)
    python experiments/desantis_2023/run.py --smoke    # tiny audience, short horizon

Steps, all on `experiment=desantis_2023` (`run.resolution_s=auto`: cohort mode at the
scenario's tick, 0.1 s; results.csv says which mode and tick each run used), every
scenario on the same seeds (`SEEDS`, common random numbers):
1. baseline over the uncertain audience (0.3M-0.7M), one run per seed: SLO, first
   breach, bottleneck; summary.csv gives each figure's mean and 95% Student t interval
   over the seeds, and on how many seeds the SLO held;
2. per audience, raise the capacity knob of the bottleneck tier ×1.5 until the SLO
   holds on every seed (the capacity that would have held);
3. at 0.5M, one assumption at a time moved either side of its value (the push reaction,
   the crowd's shares early and in the tail, the session length, the client timeout, the
   SLO's p99 bound), and the same point in exact mode (`run.resolution_s=0`) against the
   tick `auto` picks: sensitivity.csv;
4. at 0.5M, the failure-point sweeper lowers each raised knob of that capacity
   (direction down, 3 replications): the smallest value that holds, with an interval
   (skipped with --smoke).
Writes results.csv, summary.csv, capacity.csv, capacity_steps.csv, sensitivity.csv,
sensitivity_summary.csv, failure_points.csv and figures into this folder, each CSV as
soon as its step is done.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone

import sim  # noqa: E402
from experiments.study import write_csv  # noqa: E402
from sim.analysis.replications import t_interval  # noqa: E402
from sim.compose import compose  # noqa: E402

# The capacity knob of each tier: the figure that bounds its throughput in `spaces`.
KNOBS = {"edge": "rate_limit_rps", "auth": "instances", "token_store": "instances",
         "join": "max_rate_rps", "fanout": "instances"}
SEEDS = (1, 2, 3, 4, 5)
# One assumption at a time, either side of the preset's value, at the reference audience:
# (variant, key, value). The last one is the convergence check, not an assumption.
VARIANTS = [("reaction_median_s=10", "arrivals.reaction_median_s", 10),
            ("reaction_median_s=90", "arrivals.reaction_median_s", 90),
            ("early_share=0.05", "arrivals.early_share", 0.05),
            ("early_share=0.3", "arrivals.early_share", 0.3),
            ("tail_share=0.15", "arrivals.tail_share", 0.15),
            ("tail_share=0.45", "arrivals.tail_share", 0.45),
            ("session_mean_s=900", "clients.session.mean_s", 900),
            ("session_mean_s=3600", "clients.session.mean_s", 3600),
            ("timeout_s=3", "clients.timeout_s", 3),
            ("timeout_s=10", "clients.timeout_s", 10),
            ("slo_p99_max_s=5", "slo.join_p99_max_s", 5.0),
            ("slo_p99_max_s=20", "slo.join_p99_max_s", 20.0),
            ("exact_mode", "run.resolution_s", 0)]
# Figures given as a mean with its interval over the seeds (first breach and recovery
# over the seeds that breached, or recovered).
METRICS = ("arrived", "join_ratio", "p99_join_s", "first_breach_s", "recovered_s",
           "attempts_per_client", "listeners_peak", "fanout.slots_refused")
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[desantis_2023 {time.perf_counter() - T0:,.0f} s] {msg}", file=sys.stderr,
          flush=True)


def args_of(over: dict[str, Any]) -> list[str]:
    return [f"{k}={v}" for k, v in over.items()]


def knob_value(overrides: dict[str, Any], tier: str, base: dict[str, Any]) -> Any:
    key = f"architecture.stations.{tier}.{KNOBS[tier]}"
    return overrides.get(key, base[tier][KNOBS[tier]])


def row_of(s: dict[str, Any], **ids: Any) -> dict[str, Any]:
    """One run's figures, after ``ids`` (audience, seed, variant)."""
    return {**ids, "arrived": s["legit"]["arrived"], "joined": s["legit"]["joined"],
            "join_ratio": s["legit"]["join_ratio"],
            "attempts_per_client": s["legit"]["attempts_per_client"],
            "slo_met": s["slo"]["met"], "first_breach_s": s["slo"]["first_breach_s"],
            "bottleneck": s["slo"]["bottleneck"], "p99_join_s": s["join_latency_s"]["p99"],
            "recovered_s": s["slo"].get("recovered_s"),
            "attempts_timed_out": s["legit"]["attempts_timed_out"],
            "listeners_peak": s["listeners"]["peak"],
            "mode": s["resolution"]["mode"], "tick_s": s["resolution"]["tick_s"],
            **{f"{n}.rejected": st["rejected"] for n, st in s["stations"].items()},
            # A full audio server refuses a listener's subscription without a rejection.
            **{f"{n}.slots_refused": st["slots"]["refused"] for n, st in s["stations"].items()
               if st.get("slots")}}


def interval(values: list[float]) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% Student t interval of the mean (no interval from fewer than 2)."""
    if not values:
        return None, None, None
    iv = t_interval(values)
    if math.isnan(iv.half_width):
        return iv.mean, None, None
    return iv.mean, iv.low, iv.high


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The seeds of one scenario in one row: each metric's mean, its 95% t interval
    (``_low``, ``_high``) and over how many seeds (``_n``), on how many seeds the SLO
    held, and which bottlenecks the seeds that breached named (``join 4, fanout 1``)."""
    out: dict[str, Any] = {"seeds": len(rows),
                           "slo_met_seeds": sum(bool(r["slo_met"]) for r in rows)}
    out["slo_met_share"] = out["slo_met_seeds"] / len(rows)
    for m in METRICS:
        vals = [float(r[m]) for r in rows if r.get(m) is not None]
        out[f"{m}_mean"], out[f"{m}_low"], out[f"{m}_high"] = interval(vals)
        out[f"{m}_n"] = len(vals)
    seen = Counter(r["bottleneck"] for r in rows if r["bottleneck"])
    out["bottlenecks"] = ", ".join(f"{b} {n}" for b, n in seen.most_common())
    out["modes"] = ", ".join(sorted({f"{r['mode']} {r['tick_s']}" for r in rows}))
    return out


def run_seeds(common: dict[str, Any], extra: dict[str, Any],
              seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """The summaries of one scenario, one run per seed."""
    return [dict(sim.run(args_of({**common, **extra, "run.seed": s})).summary) for s in seeds]


def baseline(common: dict[str, Any], audiences: list[int], seeds: tuple[int, ...],
             reference: int) -> tuple[list[dict[str, Any]], dict[int, list[Any]], Any]:
    """One run per (audience, seed): the rows of results.csv, the summaries per audience
    (the capacity search's first step) and the reference audience's first seed's run
    (its time series is drawn)."""
    rows: list[dict[str, Any]] = []
    summaries: dict[int, list[Any]] = {}
    ref = None
    for a in audiences:
        summaries[a] = []
        for seed in seeds:
            res = sim.run(args_of({**common, "arrivals.audience": a, "run.seed": seed}))
            summaries[a].append(res.summary)
            rows.append(row_of(dict(res.summary), audience=a, seed=seed))
            if a == reference and ref is None:
                ref = res
        log(f"baseline {a:,}: SLO held on {sum(s['slo']['met'] for s in summaries[a])}"
            f"/{len(seeds)} seeds")
    return rows, summaries, ref


def hold(common: dict[str, Any], base: dict[str, Any], audience: int,
         seeds: tuple[int, ...], max_steps: int,
         first: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Raise the bottleneck tier's knob ×1.5 until the SLO holds on every seed.

    ``first`` is the baseline's runs at this audience (the first step). At each step the
    tier raised is the bottleneck most of the failing seeds named; the trail says on how
    many seeds each step held."""
    extra: dict[str, Any] = {"arrivals.audience": audience}
    summaries, trail = first, []
    for step in range(1, max_steps + 1):
        if not summaries:
            summaries = run_seeds(common, extra, seeds)
        failing = Counter(s["slo"]["bottleneck"] for s in summaries if not s["slo"]["met"])
        trail.append({"audience": audience, "step": step, "seeds": len(seeds),
                      "seeds_met": len(seeds) - sum(failing.values()),
                      "join_ratio_mean": sum(s["legit"]["join_ratio"] for s in summaries)
                      / len(summaries),
                      "listeners_peak_mean": sum(s["listeners"]["peak"] for s in summaries)
                      / len(summaries),
                      "bottlenecks": ", ".join(f"{b} {n}" for b, n in failing.most_common()),
                      **{f"{t}.{KNOBS[t]}": knob_value(extra, t, base) for t in KNOBS}})
        tier = failing.most_common(1)[0][0] if failing else None
        if tier not in KNOBS:
            break
        key = f"architecture.stations.{tier}.{KNOBS[tier]}"
        value = knob_value(extra, tier, base) * 1.5
        extra[key] = math.ceil(value) if KNOBS[tier] == "instances" else round(value)
        summaries = []
    return extra, trail


def capacity(common: dict[str, Any], base: dict[str, Any], audiences: list[int],
             seeds: tuple[int, ...], max_steps: int, first: dict[int, list[Any]],
             reference: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                      dict[str, Any]]:
    """capacity.csv (per audience: the last step, held on every seed or not),
    capacity_steps.csv (every step) and the capacity that held at the reference."""
    cap_rows: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    held_ref: dict[str, Any] = {}
    for a in audiences:
        extra, trail = hold(common, base, a, seeds, max_steps, first[a])
        held_ref = extra if a == reference else held_ref
        last = trail[-1]
        cap_rows.append({"audience": a, "held": last["seeds_met"] == last["seeds"],
                         "seeds_met": last["seeds_met"], "seeds": last["seeds"],
                         "steps": len(trail),
                         **{f"{t}.{KNOBS[t]}": knob_value(extra, t, base) for t in KNOBS}})
        steps += trail
        log(f"capacity {a:,}: {len(trail)} steps, held on {last['seeds_met']}/{len(seeds)}")
    return cap_rows, steps, held_ref


def sensitivity(common: dict[str, Any], reference: int, seeds: tuple[int, ...],
                ref_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reference audience with one assumption moved at a time (``VARIANTS``), on the
    same seeds; the reference's own rows come first as variant ``reference``."""
    rows = [{"variant": "reference", "key": "", "value": "", **r} for r in ref_rows]
    for name, key, value in VARIANTS:
        extra = {"arrivals.audience": reference, key: value}
        for seed, s in zip(seeds, run_seeds(common, extra, seeds), strict=True):
            rows.append(row_of(s, variant=name, key=key, value=value, audience=reference,
                               seed=seed))
        log(f"sensitivity {name}: SLO held on "
            f"{sum(r['slo_met'] for r in rows if r['variant'] == name)}/{len(seeds)}")
    return rows


def failure_point(common: dict[str, Any], extra: dict[str, Any], key: str, low: float,
                  high: float, reps: int, outdir: Path, jobs: int) -> dict[str, Any]:
    """The smallest value of ``key`` that holds (the sweeper, direction down)."""
    over = {k: v for k, v in {**common, **extra}.items() if k != key}
    cmd = [sys.executable, "-m", "sim", "-m", "hydra/sweeper=failure_point",
           f"hydra.launcher.n_jobs={jobs}",
           f"hydra.sweeper.param={key}", f"hydra.sweeper.low={low}",
           f"hydra.sweeper.high={high}", f"hydra.sweeper.replications={reps}",
           "hydra.sweeper.direction=down", "hydra.sweeper.rel_tol=0.03",
           f"hydra.sweep.dir={outdir}", *args_of(over)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads((outdir / "failure_point.json").read_text())


def failure_points(common: dict[str, Any], base: dict[str, Any], held_ref: dict[str, Any],
                   reps: int, root: Path, jobs: int) -> list[dict[str, Any]]:
    """Each knob the capacity search raised at the reference, lowered by the sweeper."""
    fp_rows = []
    for key, value in held_ref.items():
        if key == "arrivals.audience":
            continue
        tier = key.split(".")[2]
        fp = failure_point(common, held_ref, key, base[tier][KNOBS[tier]], value, reps,
                           root / tier, jobs)
        fp_rows.append({"tier": tier, "knob": KNOBS[tier], "baseline": base[tier][KNOBS[tier]],
                        "held_by_step": value, "min_holding": fp.get("holds_at"),
                        "max_failing": fp.get("fails_at"),
                        "interval_low": (fp.get("interval") or [None, None])[0],
                        "interval_high": (fp.get("interval") or [None, None])[1],
                        "replications": fp.get("n")})
        log(f"failure point {tier}: holds at {fp.get('holds_at')}, "
            f"fails at {fp.get('fails_at')}")
    return fp_rows


def settings(smoke: bool) -> tuple[dict[str, Any], list[int], int, int, int,
                                   tuple[int, ...]]:
    """The overrides every run shares, the audiences, the reference, the capacity
    search's steps, the sweeper's replications and the seeds."""
    common: dict[str, Any] = {"experiment": "desantis_2023", "run.report": "false",
                              "run.progress": "false"}
    if not smoke:
        return common, [300_000, 400_000, 500_000, 600_000, 700_000], 500_000, 12, 3, SEEDS
    # 1/100 of the crowd on 1/100 of the capacity, 10 minutes, coarse ticks, two seeds.
    common |= {"run.horizon_s": 600, "run.resolution_s": 1, "run.metrics_tick_s": 5,
               "arrivals.t0_s": 120, "arrivals.early_window_s": 120,
               "architecture.stations.join.max_rate_rps": 25,
               "architecture.stations.fanout.listener_slots_per_instance": 200,
               "architecture.stations.fanout.egress_gbps_per_instance": 0.0064,
               "architecture.stations.edge.rate_limit_rps": 400,
               "architecture.stations.auth.workers_per_instance": 1,
               "architecture.stations.auth.service.mean_s": 0.05}
    return common, [3000, 5000], 5000, 6, 1, SEEDS[:2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny audience, short horizon")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--jobs", type=int, default=2,
                    help="processes the failure-point sweeper runs its probes on")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    common, audiences, reference, steps, reps, seeds = settings(args.smoke)
    cfg = sim.to_config(compose(args_of(common)))
    base = {n: {"instances": st.instances, "rate_limit_rps": st.rate_limit_rps,
                "max_rate_rps": st.max_rate_rps} for n, st in cfg.architecture.stations.items()}

    rows, first, ref = baseline(common, audiences, seeds, reference)
    write_csv(out / "results.csv", rows)
    summary = [{"audience": a, **summarize([r for r in rows if r["audience"] == a])}
               for a in audiences]
    write_csv(out / "summary.csv", summary)

    cap_rows, cap_steps, held_ref = capacity(common, base, audiences, seeds, steps, first,
                                             reference)
    write_csv(out / "capacity.csv", cap_rows)
    write_csv(out / "capacity_steps.csv", cap_steps)

    sens = sensitivity(common, reference, seeds,
                       [r for r in rows if r["audience"] == reference])
    write_csv(out / "sensitivity.csv", sens)
    variants = ["reference", *(v[0] for v in VARIANTS)]
    sens_summary = [{"variant": v, **summarize([r for r in sens if r["variant"] == v])}
                    for v in variants]
    write_csv(out / "sensitivity_summary.csv", sens_summary)

    # With --smoke the sweeper is not run and failure_points.csv is written empty.
    fp_rows = [] if args.smoke else failure_points(common, base, held_ref, reps,
                                                  out / "sweeps", args.jobs)
    write_csv(out / "failure_points.csv", fp_rows)

    _figures(out, summary, rows, cap_rows, ref, reference)
    _sensitivity_figure(out, sens_summary)
    wall = time.perf_counter() - T0
    (out / "run_time.txt").write_text(f"{wall:.0f} s wall{' (smoke)' if args.smoke else ''}\n")
    print(f"desantis_2023: wrote {out} in {wall:.0f} s")


def _err(summary: list[dict[str, Any]], m: str, scale: float = 1.0) -> tuple[list, list]:
    """Means and (below, above) error-bar lengths of metric ``m`` (nan when missing)."""
    nan = float("nan")
    mean = [scale * r[f"{m}_mean"] if r[f"{m}_mean"] is not None else nan for r in summary]
    lo = [scale * r[f"{m}_low"] if r[f"{m}_low"] is not None else nan for r in summary]
    hi = [scale * r[f"{m}_high"] if r[f"{m}_high"] is not None else nan for r in summary]
    return mean, [[m_ - lo_ for m_, lo_ in zip(mean, lo, strict=True)],
                  [hi_ - m_ for m_, hi_ in zip(mean, hi, strict=True)]]


def _baseline_figure(out: Path, summary: list[dict[str, Any]],
                     rows: list[dict[str, Any]]) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    aud = [r["audience"] / 1e3 for r in summary]
    for i, (m, scale) in enumerate((("join_ratio", 100.0), ("first_breach_s", 1.0))):
        mean, err = _err(summary, m, scale)
        ax[i].errorbar(aud, mean, yerr=err, fmt="o-", capsize=4, label="mean, 95% t interval")
        ax[i].plot([r["audience"] / 1e3 for r in rows],
                   [scale * r[m] if r[m] is not None else float("nan") for r in rows],
                   ".", color="grey", alpha=0.6, label="each seed")
        ax[i].legend(fontsize=8)
    ax[0].set(xlabel="audience (thousands)", ylabel="clients who joined (%)",
              title="Baseline spaces: join ratio")
    ax[1].set(xlabel="audience (thousands)", ylabel="first SLO breach (s into the run)",
              title="first breach (start at t0)")
    fig.tight_layout()
    fig.savefig(out / "baseline.png", dpi=110)
    plt.close(fig)


def _timeseries_figure(out: Path, res: Any, reference: int) -> None:
    ts, summary = res.timeseries, res.summary
    fig, ax = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    t = ts["t_s"]
    for name in summary["stations"]:
        cap = ts[f"{name}.capacity"]
        util = ts[f"{name}.busy"] / cap.clip(min=1e-9)
        ax[0].plot(t, ts[f"{name}.rejected"] / (t[1] - t[0]), label=f"{name} rejected/s")
        ax[1].plot(t, util, label=name)
    ax[0].set(ylabel="rejections per second", yscale="symlog",
              title=f"{reference:,} audience, seed {summary['seed']}: where requests are lost")
    ax[0].legend(fontsize=8)
    ax[1].set(xlabel="simulated time (s)", ylabel="utilization")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "reference_timeseries.png", dpi=110)
    plt.close(fig)


def _capacity_figure(out: Path, cap_rows: list[dict[str, Any]]) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for tier, knob in KNOBS.items():
        vals = [r[f"{tier}.{knob}"] for r in cap_rows]
        if len(set(vals)) > 1 or vals[0] != vals[-1]:
            ax.plot([r["audience"] / 1e3 for r in cap_rows], vals, "o-", label=f"{tier}.{knob}")
    ax.set(xlabel="audience (thousands)", ylabel="value that held on every seed",
           yscale="log", title="capacity that would have held")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "capacity.png", dpi=110)
    plt.close(fig)


def _figures(out: Path, summary: list[dict[str, Any]], rows: list[dict[str, Any]],
             cap_rows: list[dict[str, Any]], ref: Any, reference: int) -> None:
    _baseline_figure(out, summary, rows)
    _timeseries_figure(out, ref, reference)
    _capacity_figure(out, cap_rows)


def _sensitivity_figure(out: Path, sens_summary: list[dict[str, Any]]) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    y = list(range(len(sens_summary)))
    for i, (m, scale) in enumerate((("join_ratio", 100.0), ("first_breach_s", 1.0))):
        mean, err = _err(sens_summary, m, scale)
        ax[i].errorbar(mean, y, xerr=err, fmt="o", capsize=4)
    ax[0].set_yticks(y, [r["variant"] for r in sens_summary], fontsize=8)
    ax[0].invert_yaxis()
    ax[0].set(xlabel="clients who joined (%, mean and 95% t interval)",
              title="one assumption at a time")
    ax[1].set(xlabel="first SLO breach (s into the run)", title="at the reference audience")
    fig.tight_layout()
    fig.savefig(out / "sensitivity.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

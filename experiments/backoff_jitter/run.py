"""Rerun the backoff/jitter study: N contending writers on one optimistic-concurrency row.

    python experiments/backoff_jitter/run.py              # the full study (about 4 min)
    python experiments/backoff_jitter/run.py --quick      # a small smoke run
    python experiments/backoff_jitter/run.py --tables     # no runs: from results.csv

For each network-delay variant, retry policy, number of clients and seed, one run of the
``experiment=backoff_jitter`` preset through the Python API (the config is composed once
per variant and policy; clients and seed are set on the validated config). Writes, in
the output folder (this folder by default):

- ``results.csv``: one row per run (variant, policy, clients, seed, calls, time_ms);
- ``summary.csv``: mean and 95% half-width of calls and time per point;
- ``calls_time.png``: calls and completion time against clients for each policy at the
  published delay, with the points of the reference rerun of the post's simulator
  (``reference/aws_simulator_66cb169.csv``);
- ``sensitivity.png``: the same at 100 and 190 clients under every delay variant;
- ``findings.md``: the tables and the ordering checks; the same text replaces the block
  between the ``results`` markers in README.md when the output folder is this folder.

The published ordering is checked on the differences between the policies seed by
seed (every policy runs on the same seeds), with the 95% Student t interval of their
mean: it holds (✓), it does not (✗), or the seeds cannot tell (?).
``--tables`` rewrites ``summary.csv``, the figures and the findings from the
``results.csv`` in the output folder, without running anything.
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from a clone without installing

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from scipy import stats  # noqa: E402

from experiments.study import update_readme  # noqa: E402
from sim.cli import compose  # noqa: E402
from sim.config import ServiceConfig, SimConfig, to_config, validate  # noqa: E402
from sim.run import simulate  # noqa: E402

# (label, clients.retry.policy, clients.retry.base_s). The post's simulator sleeps
# min(cap, base·2^a) after the a-th failure, a = 1, 2, ... with base 5 ms; ours is
# base·2^(a-1), so the exponential family gets base 10 ms to draw the same sleeps.
# Decorrelated jitter starts from base (5 ms) in both.
POLICIES = [
    ("no jitter", "exponential", 0.010),
    ("decorrelated", "decorrelated_jitter", 0.005),
    ("equal", "equal_jitter", 0.010),
    ("full", "full_jitter", 0.010),
    ("no backoff", "immediate", 0.005),
]
CAP_S = 2.0

# Network delay per message, |N(mean, sd)| ms: the published value and the range swept.
VARIANTS = {
    "published": (10.0, 2.0),
    "fast": (5.0, 1.0),
    "slow": (20.0, 4.0),
    "tight": (10.0, 0.5),
    "loose": (10.0, 5.0),
}

# The rows marked "reference": the simulator published with the post
# (aws-samples/aws-arch-backoff-simulator, src/backoff_simulator.py at commit 66cb169),
# rerun by reference/rerun_aws_simulator.sh (ported to Python 3, only 50, 100 and 190
# clients, random seeded with 20150225; 100 trials per point), which writes
# reference/aws_simulator_66cb169.csv: clients, mean time in ms and mean calls, both
# truncated to whole numbers by the simulator's "%d", and its name for the policy.
REFERENCE = HERE / "reference" / "aws_simulator_66cb169.csv"
REFERENCE_NAMES = {"Exponential": "no jitter", "Decorr": "decorrelated",
                   "EqualJitter": "equal", "FullJitter": "full", "None": "no backoff"}


def load_reference(path: Path = REFERENCE) -> dict[int, dict[str, tuple[int, int]]]:
    """clients -> policy -> (mean calls, mean time in ms) of the simulator's rerun."""
    out: dict[int, dict[str, tuple[int, int]]] = {}
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(int(r["clients"]), {})[REFERENCE_NAMES[r["Algorithm"]]] = (
                int(r["calls"]), int(r["time"]))
    labels = {p[0] for p in POLICIES}
    for n, by in out.items():
        if set(by) != labels:
            raise ValueError(f"{path}: {n} clients has {sorted(by)}, not {sorted(labels)}")
    return dict(sorted(out.items()))


# clients -> policy -> (calls, ms): the reference rows (the name is the one the tests use).
PUBLISHED = load_reference()

CLIENTS = [10, 30, 50, 70, 100, 130, 160, 190]
SENSITIVITY_CLIENTS = [50, 100, 190]


@functools.cache
def preset() -> SimConfig:
    """The ``experiment=backoff_jitter`` preset, composed once."""
    return to_config(compose(["experiment=backoff_jitter", "run.report=false",
                              "run.progress=false"]))


def base_config(policy: str, base_s: float, mean_ms: float, sd_ms: float) -> SimConfig:
    """The preset with one policy and one network delay (two messages per station)."""
    cfg = preset()
    # A station stands for two messages: mean 2m, sd √2·s, so cv = s / (√2·m).
    service = ServiceConfig("normal", 2 * mean_ms / 1000, sd_ms / (math.sqrt(2) * mean_ms))
    arch = cfg.architecture
    stations = {name: replace(st, service=service) for name, st in arch.stations.items()}
    retry = replace(cfg.clients.retry, policy=policy, base_s=base_s, cap_s=CAP_S)
    cfg = replace(cfg, architecture=replace(arch, stations=stations),
                  clients=replace(cfg.clients, retry=retry))
    validate(cfg)
    return cfg


def one_run(cfg: SimConfig, clients: int, seed: int) -> tuple[int, float]:
    """Calls (write attempts) and completion time (ms) of one run."""
    cfg = replace(cfg, run=replace(cfg.run, seed=seed),
                  arrivals=replace(cfg.arrivals, count=clients))
    s = simulate(cfg).summary
    lg = s["legit"]
    if lg["joined"] != clients:
        raise RuntimeError(f"{lg['in_flight']} of {clients} clients still writing at the "
                           f"horizon ({cfg.run.horizon_s} s): raise run.horizon_s")
    # Every client starts at t0 = 0, so the largest join latency is when the last
    # client's write committed.
    return int(lg["attempts"]), 1000.0 * float(s["join_latency_s"]["max"])


def run_all(variants: dict[str, tuple[float, float]], clients_of: dict[str, list[int]],
            seeds: int) -> list[dict[str, object]]:
    """Every (variant, policy, clients, seed) run, as rows."""
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    for variant, (mean_ms, sd_ms) in variants.items():
        for label, policy, base_s in POLICIES:
            cfg = base_config(policy, base_s, mean_ms, sd_ms)
            for n in clients_of[variant]:
                for seed in range(seeds):  # the same seeds for every policy
                    calls, ms = one_run(cfg, n, seed)
                    rows.append({"variant": variant, "delay_mean_ms": mean_ms,
                                 "delay_sd_ms": sd_ms, "policy": label, "clients": n,
                                 "seed": seed, "calls": calls, "time_ms": round(ms, 3)})
            print(f"[backoff_jitter] {variant:9s} {label:12s} done "
                  f"({time.perf_counter() - t0:,.0f} s)", file=sys.stderr, flush=True)
    return rows


def summarize(rows: list[dict[str, object]]) -> dict[tuple[str, str, int], dict[str, float]]:
    """Mean and 95% Student t half-width of calls and time per (variant, policy, clients)."""
    groups: dict[tuple[str, str, int], list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        groups[(str(r["variant"]), str(r["policy"]), int(r["clients"]))].append(  # type: ignore[call-overload]
            (float(r["calls"]), float(r["time_ms"])))  # type: ignore[arg-type]
    out = {}
    for key, vals in groups.items():
        a = np.asarray(vals)
        n = len(a)
        t = stats.t.ppf(0.975, n - 1) if n > 1 else math.nan
        half = t * a.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else [math.nan, math.nan]
        out[key] = {"n": n, "calls": a[:, 0].mean(), "calls_hw": half[0],
                    "time_ms": a[:, 1].mean(), "time_hw": half[1]}
    return out


def write_summary(summ: dict[tuple[str, str, int], dict[str, float]], out: Path) -> None:
    with (out / "summary.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["variant", "policy", "clients", "n", "calls_mean", "calls_hw95",
                    "time_ms_mean", "time_ms_hw95"])
        for (v, p, n), s in sorted(summ.items()):
            w.writerow([v, p, n, s["n"], f"{s['calls']:.1f}", f"{s['calls_hw']:.1f}",
                        f"{s['time_ms']:.0f}", f"{s['time_hw']:.0f}"])


def plot_main(summ: dict[tuple[str, str, int], dict[str, float]], clients: list[int],
              out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip([p[0] for p in POLICIES], plt.rcParams["axes.prop_cycle"].by_key()["color"],
                      strict=False))
    for label, _, _ in POLICIES:
        pts = [summ[("published", label, n)] for n in clients if ("published", label, n) in summ]
        ns = [n for n in clients if ("published", label, n) in summ]
        for ax, key in zip(axes, ("calls", "time_ms"), strict=True):
            ys = [p[key] for p in pts]
            ax.plot(ns, ys, "-o", ms=3, color=colors[label], label=label)
            pub = [(n, PUBLISHED[n][label][0 if key == "calls" else 1]) for n in PUBLISHED]
            ax.plot([p[0] for p in pub], [p[1] for p in pub], "x", ms=8, mew=2,
                    color=colors[label])
    axes[0].set(title="Calls (write attempts) per trial", xlabel="contending clients",
                ylabel="calls")
    axes[1].set(title="Time until the last client's write commits", xlabel="contending clients",
                ylabel="ms (log scale)", yscale="log")
    axes[0].legend(title="lines: this model; x: AWS simulator 66cb169 (reference/)",
                   fontsize=8, title_fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "calls_time.png", dpi=110)
    plt.close(fig)


def plot_sensitivity(summ: dict[tuple[str, str, int], dict[str, float]],
                     variants: dict[str, tuple[float, float]], clients: list[int],
                     out: Path) -> None:
    shown = [n for n in (100, 190) if n in clients] or clients[-1:]
    fig, axes = plt.subplots(len(shown), 2, figsize=(11, 3.4 * len(shown)), squeeze=False)
    labels = [p[0] for p in POLICIES]
    width = 0.8 / len(variants)
    for row, n in enumerate(shown):
        for col, key in enumerate(("calls", "time_ms")):
            ax = axes[row][col]
            for i, (v, (m, s)) in enumerate(variants.items()):
                ys = [summ.get((v, lab, n), {}).get(key, math.nan) for lab in labels]
                ax.bar(np.arange(len(labels)) + i * width, ys, width,
                       label=f"{v}: |N({m:g}, {s:g})| ms")
            ax.set_xticks(np.arange(len(labels)) + width * (len(variants) - 1) / 2, labels)
            ax.set_title(f"{'calls' if key == 'calls' else 'time (ms, log)'} at {n} clients")
            if key == "time_ms":
                ax.set_yscale("log")
            ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=7, title="network delay per message", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sensitivity.png", dpi=110)
    plt.close(fig)


# The published ordering, each claim as a quantity per seed that is positive where the
# claim holds (``"pos"``), or a difference that lies within a band (``"band"``, with the
# band's own quantity): judged seed by seed (every policy runs on the same seeds), with
# the 95% Student t interval of the mean over the seeds.
CHECKS: dict[str, tuple[str, Any, Any]] = {
    "calls: full ≈ equal (within 10%)": (
        "band", lambda c, t: c["full"] - c["equal"], lambda c, t: 0.1 * c["equal"]),
    "calls: equal, full < decorrelated": (
        "pos", lambda c, t: c["decorrelated"] - max(c["full"], c["equal"]), None),
    "calls: decorrelated < no jitter": (
        "pos", lambda c, t: c["no jitter"] - c["decorrelated"], None),
    "calls: full < half of no jitter": (
        "pos", lambda c, t: 0.5 * c["no jitter"] - c["full"], None),
    "time: decorrelated ≤ full": ("pos", lambda c, t: t["full"] - t["decorrelated"], None),
    "time: full < equal": ("pos", lambda c, t: t["equal"] - t["full"], None),
    "time: equal ≪ no jitter (under a third)": (
        "pos", lambda c, t: t["no jitter"] / 3 - t["equal"], None),
}
MARKS = {True: "✓", False: "✗", None: "?"}


def by_seed(rows: list[dict[str, Any]]) -> dict[tuple[str, int], dict[int, dict[str, Any]]]:
    """Per (variant, clients), per seed: each policy's calls and time."""
    out: dict[tuple[str, int], dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        seed = out[(str(r["variant"]), int(r["clients"]))].setdefault(
            int(r["seed"]), {"calls": {}, "time_ms": {}})
        seed["calls"][str(r["policy"])] = float(r["calls"])
        seed["time_ms"][str(r["policy"])] = float(r["time_ms"])
    return out


def _interval(x: np.ndarray) -> tuple[float, float]:
    n = len(x)
    half = (stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return float(x.mean() - half), float(x.mean() + half)


def ordering(seeds: dict[int, dict[str, Any]]) -> dict[str, bool | None]:
    """The published ordering at one point: True where the seeds' 95% interval says it
    holds, False where it says it does not, None where the interval cannot tell."""
    full = [v for v in seeds.values() if len(v["calls"]) == len(POLICIES)]
    out: dict[str, bool | None] = {}
    for name, (kind, f, band) in CHECKS.items():
        lo, hi = _interval(np.array([f(v["calls"], v["time_ms"]) for v in full]))
        if kind == "pos":
            out[name] = True if lo > 0 else False if hi < 0 else None
        else:
            b = float(np.mean([band(v["calls"], v["time_ms"]) for v in full]))
            out[name] = (True if -b <= lo and hi <= b else False if hi < -b or lo > b
                         else None)
    return out


def findings(rows: list[dict[str, Any]], variants: dict[str, tuple[float, float]],
             clients: list[int], sens_clients: list[int], seeds: int, sens_seeds: int) -> str:
    summ = summarize(rows)
    points = by_seed(rows)
    labels = [p[0] for p in POLICIES]
    lines = [f"Means over {seeds} seeds per point (± the 95% half-width), network delay "
             f"|N(10 ms, 2 ms)| per message; reference: the simulator published with the "
             f"post (`src/backoff_simulator.py` at commit 66cb169) rerun with seed 20150225, "
             f"mean of 100 trials per point, truncated to whole numbers "
             f"(`reference/aws_simulator_66cb169.csv`).", "",
             "| clients | metric | " + " | ".join(labels) + " |",
             "|---|---|" + "---|" * len(labels)]
    for n in clients:
        for key, name in (("calls", "calls"), ("time_ms", "time ms")):
            cells = []
            for lab in labels:
                s = summ[("published", lab, n)]
                hw = s["calls_hw" if key == "calls" else "time_hw"]
                cells.append(f"{s[key]:,.0f} ± {hw:,.0f}")
            lines.append(f"| {n} | {name} | " + " | ".join(cells) + " |")
            if n in PUBLISHED:
                pub = [f"{PUBLISHED[n][lab][0 if key == 'calls' else 1]:,}" for lab in labels]
                lines.append(f"| {n} | {name}, reference | " + " | ".join(pub) + " |")
    lines += ["", "Ours ÷ reference (calls, time):", "",
              "| clients | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for n in PUBLISHED:
        if ("published", labels[0], n) not in summ:
            continue
        cells = []
        for lab in labels:
            s = summ[("published", lab, n)]
            pc, pt = PUBLISHED[n][lab]
            cells.append(f"{s['calls'] / pc:.2f}, {s['time_ms'] / pt:.2f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "The published ordering, checked at each point on the differences between "
              "the policies seed by seed (every policy runs on the same seeds), with the 95% "
              "interval of their mean: ✓ it holds, ✗ it does not, ? the seeds cannot tell:", ""]
    lines += ["| check | " + " | ".join(str(n) for n in clients) + " |",
              "|---|" + "---|" * len(clients)]
    marks = {n: ordering(points[("published", n)]) for n in clients}
    for chk in CHECKS:
        lines.append(f"| {chk} | " + " | ".join(MARKS[marks[n][chk]] for n in clients)
                     + " |")
    lines += ["", f"Sensitivity to the network delay ({sens_seeds} seeds per point): the "
              "same checks under each delay variant, and the ranking of the policies "
              "by calls and by time (best first).", "",
              "| delay per message | clients | checks that hold | calls, best first | "
              "time, best first |", "|---|---|---|---|---|"]
    for v, (m, s) in variants.items():
        for n in sens_clients:
            if (v, labels[0], n) not in summ:
                continue
            res = ordering(points[(v, n)])
            failed = [k for k, ok in res.items() if ok is False]
            untold = [k for k, ok in res.items() if ok is None]
            by_calls = sorted(labels, key=lambda lab: summ[(v, lab, n)]["calls"])
            by_time = sorted(labels, key=lambda lab: summ[(v, lab, n)]["time_ms"])
            held = f"{sum(ok is True for ok in res.values())}/{len(res)}"
            if failed:
                held += " (not: " + "; ".join(failed) + ")"
            if untold:
                held += " (cannot tell: " + "; ".join(untold) + ")"
            lines.append(f"| {v}: \\|N({m:g}, {s:g})\\| ms | {n} | {held} | "
                         f"{' < '.join(by_calls)} | {' < '.join(by_time)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=100, help="seeds per point (published delay)")
    ap.add_argument("--sensitivity-seeds", type=int, default=40,
                    help="seeds per point for the other delay variants")
    ap.add_argument("--clients", default=",".join(map(str, CLIENTS)))
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 4 and 8 clients, 2 seeds, two delay variants")
    ap.add_argument("--out", default=str(HERE), help="output folder (default: this folder)")
    ap.add_argument("--tables", action="store_true",
                    help="no runs: summary, figures and findings again from results.csv")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    clients = [int(x) for x in a.clients.split(",")]
    variants, seeds, sens_seeds, sens_clients = VARIANTS, a.seeds, a.sensitivity_seeds, \
        SENSITIVITY_CLIENTS
    if a.quick:
        clients, seeds, sens_seeds, sens_clients = [4, 8], 2, 2, [8]
        variants = {k: VARIANTS[k] for k in ("published", "slow")}
    clients_of = {v: (clients if v == "published" else sens_clients) for v in variants}
    if a.tables:
        with (out / "results.csv").open(newline="") as fh:
            rows: list[dict[str, Any]] = list(csv.DictReader(fh))
        done = {(r["variant"], int(r["clients"])) for r in rows}
        variants = {v: m for v, m in variants.items() if any(d[0] == v for d in done)}
        clients = [n for n in clients if ("published", n) in done]
        sens_clients = [n for n in sens_clients if any(d[1] == n and d[0] != "published"
                                                       for d in done)]
        seeds = max(1, len({r["seed"] for r in rows if r["variant"] == "published"}))
        sens_seeds = max(1, len({r["seed"] for r in rows if r["variant"] != "published"}))
    else:
        # The published delay at every clients count, the other delays at a few.
        rows = run_all({"published": variants["published"]}, clients_of, seeds)
        rows += run_all({k: v for k, v in variants.items() if k != "published"},
                        clients_of, sens_seeds)
        with (out / "results.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    summ = summarize(rows)
    write_summary(summ, out)
    plot_main(summ, clients, out)
    plot_sensitivity(summ, variants, sens_clients, out)
    text = findings(rows, variants, clients, sens_clients, seeds, sens_seeds)
    (out / "findings.md").write_text(text)
    if out.resolve() == HERE:
        update_readme(HERE / "README.md", text)
    print(text)


if __name__ == "__main__":
    main()

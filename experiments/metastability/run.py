"""Rerun the metastability study: which levers bring a retry-sustained failure back?

    python experiments/metastability/run.py                 # the full study (see README)
    python experiments/metastability/run.py --smoke --out D  # a small, fast version into D
    python experiments/metastability/run.py --tables         # no runs: the tables again
    python experiments/metastability/run.py --only netlong_offered,netlong_started
                                        # those groups only, the rest from results.json

The scenario is ``experiment=metastable_retry`` (Bronson et al., HotOS 2021): a database
fast below 300 QPS and ten times slower above, 280 QPS of normal load, a web tier that
retries once at once after a 1 s timeout, and a short outage of the database (the
trigger). Every figure comes from runs of that preset through the Python API
``sim.run`` (exact mode), in parallel processes, each point on the same seeds (common
random numbers). Groups of runs:

- counterfactuals (10 s trigger): no trigger, the trigger without retries, the trigger
  with the retries, and ``experiment=metastable_retry_recovers``;
- levers × trigger length: load shedding by queue age at the database and by rate at a
  front door (``experiment=metastability_front_door``), a retry budget, deadline
  propagation, jittered backoff (and backoff without jitter), client adaptive
  throttling (K = 2 over 120 s and over 10 s), a circuit breaker, a server-side retry
  ratio, jitter with a budget;
- the same levers with the database's slowdown counting only the requests it starts
  (``slowdown.counts=started``: work shed, dropped or refused does not slow it), where
  the preset counts every request offered to it;
- the levers under the trigger of Bronson et al.'s example, a 10 s network outage
  followed by the burst of held requests (``experiment=metastable_retry_network``; the
  levers that are presets of their own through their twins on that trigger), with the
  slowdown counted either way, and that burst spread over a few seconds (``spread_*``);
- the levers at a 10 s trigger over a 3,600 s horizon, so that "stays down" means 3,560 s
  after the trigger, not the 140 s the other groups leave, under the database's outage
  (``long_*``) and under the network trigger (``netlong_*``), and five of them at other
  sizes over the same horizon (``size_*``: the queue age that sheds, the front door's
  rate, the retry budget's tokens, throttling's K and the server's retry ratio);
- the uncertain inputs swept as ranges, without a lever: the normal load against the
  trigger length, the depth of the capacity drop (Huang et al.) against its length, and
  the window over which the database measures its load against the slowdown factor.
- the headline's assumptions, without a lever, at a 10 s outage: the clients' timeout
  (0.5-4 s), and how the SLO judges the windows (5, 10 or 30 s; 95%, 99% or 99.9% of
  attempts succeed), since "stays down" is read off them.

Writes, in the output folder (this folder by default): ``results.csv`` and
``results.json`` (one row per run), ``timeline.png``, ``levers.png``,
``sensitivity.png`` and ``findings.md``, which also replaces the block between the
``results`` markers in README.md when the output folder is this folder. ``--tables``
runs nothing: it reads ``results.json`` in the output folder and rewrites from it
``findings.md``, ``levers.png``, ``sensitivity.png`` and the README's block
(``timeline.png`` needs the time series, which ``results.json`` does not keep).
``--only`` runs the groups it names and takes every other run's figures from
``results.json`` (a whole run's), then writes everything but ``timeline.png``, and the
tables say which groups were rerun and when; a run the results do not hold is an
error, not a gap.

Every table cell that is a figure per seed is the mean over the seeds with its
[min–max]: ``32 s [30–35]``, ``277 [276–278]`` (a recovery time over the seeds that
recover, with the share that stays down beside it).

A run *stays down* when the SLO (10 s windows: 99% of attempts succeed, p99 under 10 s)
still breaches in the last judged window after the trigger (``metastability.stays_down``
of summary.json); *recovers* when the windows are good again after the trigger and stay
good to the horizon, at ``metastability.recovered_s``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import sim  # noqa: E402
from experiments.study import (  # noqa: E402
    execute,
    read_results,
    update_readme,
    write_results,
)
from sim.analysis.risk import wilson  # noqa: E402
from sim.cli import compose  # noqa: E402

PRESET = "experiment=metastable_retry"
NETWORK = "experiment=metastable_retry_network"  # Bronson et al.'s network trigger
COUNTS = {"offered": [], "started": ["architecture.stations.server.slowdown.counts=started"]}
# A lever that is a preset of its own, under the network trigger: its twin on that preset.
ON_NETWORK = {
    "experiment=metastability_front_door": "experiment=metastability_front_door_network",
    "experiment=metastable_retry_recovers": "experiment=metastable_retry_network_recovers"}
# The burst of retransmissions spread out: after healing, the link delivers at most this
# many requests a second for 10 s (a share of its 1M QPS), so the ~5,600 held requests
# reach the database over about 2 s or 8 s instead of at once (TCP's retransmission
# timers spread them over a few seconds).
SPREADS_QPS = [3000.0, 1000.0]
LONG_HORIZON_S = 3600.0  # "stays down" judged 3,560 s after a 10 s trigger: an hour
SMOKE_LONG_HORIZON_S = 300.0
QUIET = ["run.report=false", "run.progress=false"]
TRIGGER_START_S = 30.0  # the preset's outage starts here
LOAD_QPS = 280.0
SLOW_ABOVE_QPS = 300.0

# (lever, overrides): each alone on the preset.
LEVERS: list[tuple[str, list[str]]] = [
    ("none (retry once, at once)", []),
    ("load shedding: queue age > 0.5 s", ["architecture.stations.server.shed_queue_age_s=0.5"]),
    ("load shedding at a front door (290/s)", ["experiment=metastability_front_door"]),
    ("deadline propagation (drop expired)", ["architecture.stations.server.drop_expired=true"]),
    ("retry budget (AWS SDK quota, shared)", ["clients.retry_budget.enabled=true"]),
    ("backoff without jitter (1 s, then retry)", [
        "clients.retry.policy=exponential", "clients.retry.base_s=1", "clients.retry.cap_s=4"]),
    ("full-jitter backoff (base 1 s, cap 4 s)", [
        "clients.retry.policy=full_jitter", "clients.retry.base_s=1", "clients.retry.cap_s=4"]),
    ("adaptive throttling (K = 2)", ["clients.adaptive_throttling.enabled=true"]),
    ("adaptive throttling (K = 2, 10 s window)", [
        "clients.adaptive_throttling.enabled=true",
        "clients.adaptive_throttling.window_s=10"]),
    ("circuit breaker", ["clients.circuit_breaker.enabled=true"]),
    ("server retry ratio <= 10%", ["architecture.stations.server.retry_ratio_max=0.1"]),
    ("jitter + retry budget (the _recovers twin)", ["experiment=metastable_retry_recovers"]),
]

COUNTERFACTUALS: list[tuple[str, list[str]]] = [
    ("no trigger", ["architecture.stations.server.outages=[]"]),
    ("trigger, no retries", ["clients.retry.policy=none"]),
    ("trigger + retries (the preset)", []),
    ("trigger + retries, jitter and budget", ["experiment=metastable_retry_recovers"]),
]

TRIGGERS_S = [2.0, 5.0, 10.0, 30.0]
LOADS_QPS = [100.0, 140.0, 160.0, 200.0, 250.0, 280.0, 295.0]
LOAD_TRIGGERS_S = [5.0, 10.0, 30.0]
DEPTHS = [0.0, 0.2, 0.5, 0.6, 0.7, 0.8]  # capacity_share left during the trigger
DEPTH_TRIGGERS_S = [5.0, 10.0, 20.0]
WINDOWS_S = [1.0, 5.0, 10.0]  # slowdown.window_s: how the database measures its load
FACTORS = [3.0, 5.0, 10.0]  # slowdown.factor
# The headline's assumptions (no lever, a 10 s outage of the database): the clients'
# timeout, and how the SLO judges the windows ("stays down" is judged by it).
TIMEOUTS_S = [0.5, 1.0, 2.0, 4.0]
SLO_VARIANTS: list[tuple[str, list[str]]] = [
    ("10 s windows, 99% succeed (the preset)", []),
    ("5 s windows", ["slo.window_s=5"]),
    ("30 s windows", ["slo.window_s=30"]),
    ("95% succeed", ["slo.join_success_min=0.95"]),
    ("99.9% succeed", ["slo.join_success_min=0.999"]),
]

# (lever at another size, overrides): each lever's knob either side of the size in
# LEVERS, judged over the long horizon after a 10 s outage of the database.
LEVER_SIZES: list[tuple[str, list[str]]] = [
    ("load shedding: queue age > 0.25 s", ["architecture.stations.server.shed_queue_age_s=0.25"]),
    ("load shedding: queue age > 0.5 s (as above)",
     ["architecture.stations.server.shed_queue_age_s=0.5"]),
    ("load shedding: queue age > 2 s", ["architecture.stations.server.shed_queue_age_s=2"]),
    ("front door at 250/s", ["experiment=metastability_front_door",
                             "architecture.stations.proxy.rate_limit_rps=250"]),
    ("front door at 270/s", ["experiment=metastability_front_door",
                             "architecture.stations.proxy.rate_limit_rps=270"]),
    ("front door at 290/s (as above)", ["experiment=metastability_front_door"]),
    ("retry budget of 100 tokens", ["clients.retry_budget.enabled=true",
                                    "clients.retry_budget.capacity=100"]),
    ("retry budget of 500 tokens (as above)", ["clients.retry_budget.enabled=true"]),
    ("retry budget of 2,000 tokens", ["clients.retry_budget.enabled=true",
                                      "clients.retry_budget.capacity=2000"]),
    ("adaptive throttling, K = 1.5", ["clients.adaptive_throttling.enabled=true",
                                      "clients.adaptive_throttling.k=1.5"]),
    ("adaptive throttling, K = 2 (as above)", ["clients.adaptive_throttling.enabled=true"]),
    ("adaptive throttling, K = 3", ["clients.adaptive_throttling.enabled=true",
                                    "clients.adaptive_throttling.k=3"]),
    ("server retry ratio <= 5%", ["architecture.stations.server.retry_ratio_max=0.05"]),
    ("server retry ratio <= 10% (as above)", ["architecture.stations.server.retry_ratio_max=0.1"]),
    ("server retry ratio <= 20%", ["architecture.stations.server.retry_ratio_max=0.2"]),
]

SERIES = ["t_s", "legit.attempts", "legit.joined", "legit.amplification", "server.queue",
          "slo.success_ratio"]


def outages(station: str, spans: list[tuple[float, float, float]]) -> str:
    """The override of a station's outages: ``(start_s, end_s, capacity_share)`` each."""
    return (f"architecture.stations.{station}.outages=[" + ",".join(
        f"{{start_s:{a:g},end_s:{b:g},capacity_share:{c:g}}}" for a, b, c in spans) + "]")


def trigger(length_s: float, share: float = 0.0) -> str:
    return outages("server", [(TRIGGER_START_S, TRIGGER_START_S + length_s, share)])


def on_network(lever: list[str]) -> list[str]:
    """A lever's overrides under Bronson et al.'s network trigger."""
    exp = [ON_NETWORK[o] for o in lever if o.startswith("experiment=")]
    return (exp or [NETWORK]) + [o for o in lever if not o.startswith("experiment=")]


def spread_burst(qps: float) -> str:
    """The network's outage, then 10 s in which it delivers at most ``qps`` requests a
    second (its 1,000 workers of 1 ms: a share of them)."""
    heal = TRIGGER_START_S + 10.0
    return outages("network", [(TRIGGER_START_S, heal, 0.0), (heal, heal + 10.0, qps / 1e6)])


def overrides_of(extra: list[str]) -> list[str]:
    """The preset (or the one named in ``extra``), the quiet switches, then ``extra``."""
    exp = [o for o in extra if o.startswith("experiment=")] or [PRESET]
    return exp + QUIET + [o for o in extra if not o.startswith("experiment=")]


def one_run(job: tuple[tuple[str, ...], bool]) -> dict[str, Any]:
    overrides, keep_series = list(job[0]), job[1]
    res = sim.run(overrides)
    s, ts = res.summary, res.timeseries
    lg, ms = s["legit"], s.get("metastability") or {}
    t = np.asarray(ts["t_s"], dtype=float)
    dt = float(np.median(np.diff(t)))
    tail = t > t[-1] - 30.0  # the last 30 s: goodput once things have settled (or not)
    end = ms.get("trigger_end_s")
    row: dict[str, Any] = {
        "join_ratio": round(lg["join_ratio"], 4),
        "attempts_per_client": round(lg["attempts_per_client"], 3),
        "trigger_end_s": end,
        "recovered": ms.get("recovered") if ms else s["slo"]["met"],
        "stays_down": ms.get("stays_down") if ms else (not s["slo"]["met"]),
        "recovered_s": ms.get("recovered_s"),
        "recovery_after_s": (round(ms["recovered_s"] - end, 1)
                             if ms.get("recovered_s") is not None and end is not None else None),
        "amplification_peak": ms.get("amplification_peak"),
        "amplification_end": ms.get("amplification_end"),
        "goodput_end_qps": round(float(np.sum(ts["legit.joined"][tail])) / (tail.sum() * dt), 1),
        "offered_end_qps": round(float(np.sum(ts["legit.attempts"][tail])) / (tail.sum() * dt), 1),
        "first_breach_s": s["slo"]["first_breach_s"],
        "shed": s["stations"]["server"].get("shed"),
        "wasted": s["stations"]["server"].get("wasted"),
        "refused_locally": int(lg.get("retry_budget_denied", 0) + lg.get("throttled", 0)
                               + lg.get("breaker_rejected", 0)),
        "wall_s": s["perf"]["wall_s"],
    }
    if keep_series:
        row["series"] = {k: np.asarray(ts[k], dtype=float).tolist() for k in SERIES if k in ts}
    return row


def plan(smoke: bool, seeds: int) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    levers, triggers, loads, load_trig, depths, depth_trig, windows, factors = (
        LEVERS, TRIGGERS_S, LOADS_QPS, LOAD_TRIGGERS_S, DEPTHS, DEPTH_TRIGGERS_S, WINDOWS_S,
        FACTORS)
    timeouts, slos = TIMEOUTS_S, SLO_VARIANTS
    if smoke:
        levers = [lv for lv in LEVERS if lv[0].startswith(("none", "retry budget"))]
        triggers, loads, load_trig = [10.0], [140.0], [10.0]
        depths, depth_trig, windows, factors = [0.0], [10.0], [5.0], [10.0]
        timeouts, slos = [4.0], SLO_VARIANTS[2:3]

    def add(group: str, label: str, extra: list[str], series: bool = False,
            **params: float) -> None:
        for seed in range(seeds):
            runs.append({"group": group, "label": label, "seed": seed, "series": series
                         and seed == 0, **params,
                         "overrides": overrides_of([*extra, f"run.seed={seed}"])})

    for name, ov in COUNTERFACTUALS:
        add("counterfactual", name, ov, series=True, trigger_s=10.0)
    for name, ov in levers:
        for d in triggers:
            add("lever", name, [*ov, trigger(d)], series=(d == 10.0), trigger_s=d)
            add("lever_started", name, [*ov, *COUNTS["started"], trigger(d)], trigger_s=d)
    long_s = SMOKE_LONG_HORIZON_S if smoke else LONG_HORIZON_S
    for counts, extra in COUNTS.items():
        for name, ov in levers:
            add(f"long_{counts}", name, [*ov, *extra, trigger(10.0),
                                         f"run.horizon_s={long_s:g}"], trigger_s=10.0,
                horizon_s=long_s)
            net = on_network(ov)
            add(f"network_{counts}", name, [*net, *extra], trigger_s=10.0)
            add(f"netlong_{counts}", name, [*net, *extra, f"run.horizon_s={long_s:g}"],
                trigger_s=10.0, horizon_s=long_s)
        for name, ov in ([] if smoke else LEVER_SIZES):
            add(f"size_{counts}", name, [*ov, *extra, trigger(10.0),
                                         f"run.horizon_s={long_s:g}"], trigger_s=10.0,
                horizon_s=long_s)
        for q in ([] if smoke else SPREADS_QPS):
            add(f"spread_{counts}", f"burst at most {q:g}/s", [NETWORK, *extra, spread_burst(q)],
                trigger_s=10.0)
    for q in loads:
        for d in load_trig:
            add("load", f"{q:g} QPS", [f"arrivals.rate={q:g}", trigger(d)], load_qps=q,
                trigger_s=d)
    for share in depths:
        for d in depth_trig:
            add("depth", f"{share:g} left", [trigger(d, share)], capacity_share=share,
                trigger_s=d)
    for w in windows:
        for f in factors:
            add("slowdown", f"window {w:g} s, x{f:g}", [
                f"architecture.stations.server.slowdown.window_s={w:g}",
                f"architecture.stations.server.slowdown.factor={f:g}"], window_s=w, factor=f,
                trigger_s=10.0)
    for t in timeouts:
        add("timeout", f"{t:g} s", [f"clients.timeout_s={t:g}", trigger(10.0)], trigger_s=10.0)
    for name, ov in slos:
        add("slo", name, [*ov, trigger(10.0)], trigger_s=10.0)
    return runs


@functools.cache
def preset_restated() -> frozenset[str]:
    """Overrides that restate the preset's own values (its trigger, load and slowdown)."""
    cfg = sim.to_config(compose([PRESET]))
    server = cfg.architecture.stations["server"]
    (out,) = server.outages
    return frozenset({
        trigger(out.end_s - out.start_s, out.capacity_share) if out.start_s == TRIGGER_START_S
        else "", f"arrivals.rate={cfg.arrivals.rate:g}",
        f"architecture.stations.server.slowdown.window_s={server.slowdown.window_s:g}",
        f"architecture.stations.server.slowdown.factor={server.slowdown.factor:g}"})


def canonical(overrides: list[str]) -> tuple[str, ...]:
    """One key per distinct scenario: overrides that restate the preset are dropped."""
    return tuple(sorted(o for o in overrides if o not in preset_restated()))


PARAMS = ["trigger_s", "load_qps", "capacity_share", "window_s", "factor"]


def points(runs: list[dict[str, Any]], group: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Runs of a group by (label, params...), each a list over seeds."""
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        if r["group"] == group:
            out[(r["label"], *(r.get(p) for p in PARAMS))].append(r["result"])
    return out


def down_share(results: list[dict[str, Any]]) -> float:
    return float(np.mean([bool(x["stays_down"]) for x in results]))


def down_count(results: list[dict[str, Any]]) -> str:
    """The seeds that stay down of those run, and the 95% Wilson interval of the share
    they estimate: three seeds bound it only loosely (3 of 3: 44% to 100%)."""
    k, n = sum(bool(x["stays_down"]) for x in results), len(results)
    lo, hi = wilson(k, n)
    return f"{k}/{n} [{lo:.0%}–{hi:.0%}]"


def spread(results: list[dict[str, Any]], key: str) -> tuple[float, float, float] | None:
    """Mean, min and max of ``key`` over the seeds that have it (None when none has)."""
    vals = [float(x[key]) for x in results if x.get(key) is not None]
    return (float(np.mean(vals)), min(vals), max(vals)) if vals else None


def with_range(results: list[dict[str, Any]], key: str, fmt: str = ".0f", unit: str = "",
               scale: float = 1.0) -> str:
    """``key`` over the seeds as its mean and [min–max], ``32 s [30–35]``, ``1.82
    [1.80–1.84]``; '—' when no seed has it."""
    iv = spread(results, key)
    if iv is None:
        return "—"
    m, lo, hi = (format(v * scale, fmt) for v in iv)
    return f"{m}{unit} [{lo}–{hi}]"


def plot_timeline(runs: list[dict[str, Any]], out: Path) -> None:
    shown = [(r["label"], r["result"]["series"]) for r in runs
             if r["result"].get("series") and r["seed"] == 0
             and (r["group"] == "counterfactual" or (r["group"] == "lever"
                                                     and r["label"] != LEVERS[0][0]))]
    seen: set[str] = set()
    shown = [(lab, s) for lab, s in shown if not (lab in seen or seen.add(lab))]  # type: ignore[func-returns-value]
    cols = 4
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(15, 2.6 * rows), sharex=True, sharey=True,
                             squeeze=False)
    for ax, (label, s) in zip(axes.flat, shown, strict=False):
        t = np.asarray(s["t_s"])
        dt = float(np.median(np.diff(t)))
        ax.plot(t, np.asarray(s["legit.attempts"]) / dt, color="grey", lw=0.8,
                label="attempts/s")
        ax.plot(t, np.asarray(s["legit.joined"]) / dt, color="tab:blue", lw=1.2,
                label="goodput/s")
        if "no trigger" not in label:
            ax.axvspan(TRIGGER_START_S, TRIGGER_START_S + 10, color="red", alpha=0.1)
        ax.axhline(SLOW_ABOVE_QPS, color="tab:red", lw=0.6, ls=":")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("s")
    fig.suptitle("280 QPS, a 10 s outage of the database (shaded); dotted: 300 QPS, above "
                 "which it is 10x slower", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "timeline.png", dpi=90)
    plt.close(fig)


def _heat(ax: Any, grid: np.ndarray, xt: list[str], yt: list[str], title: str,
          text: list[list[str]] | None = None) -> None:
    ax.imshow(grid, origin="lower", cmap="RdYlGn_r", vmin=0, vmax=1, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, text[i][j] if text else f"{grid[i, j]:.0%}", ha="center",
                    va="center", fontsize=8)
    ax.set_xticks(range(len(xt)), xt)
    ax.set_yticks(range(len(yt)), yt, fontsize=8)
    ax.set_title(title, fontsize=10)


def _cell(res: list[dict[str, Any]], sep: str = " ") -> str:
    """``down`` when every seed stays down; else the time to recover after the trigger
    over the seeds that recover, mean [min–max], and the share that stays down."""
    share = down_share(res)
    if share == 1.0:
        return "down"
    if spread(res, "recovery_after_s") is None:
        return f"{down_count(res)} down"
    rec = with_range(res, "recovery_after_s", unit=" s")
    return rec + (f"{sep}({down_count(res)} down)" if share else "")


def plot_levers(runs: list[dict[str, Any]], out: Path) -> None:
    """Stays down per lever × trigger: the slowdown counting offered requests (the
    preset) beside counting the requests started."""
    groups = [(g, t) for g, t in (("lever", "slowdown counts offered (the preset)"),
                                  ("lever_started", "slowdown counts started"))
              if points(runs, g)]
    labels = list(dict.fromkeys(k[0] for k in points(runs, "lever")))
    fig, axes = plt.subplots(1, len(groups), figsize=(8 * len(groups),
                                                       0.45 * len(labels) + 1.8),
                             squeeze=False)
    for ax, (group, title) in zip(axes[0], groups, strict=True):
        pts = points(runs, group)
        trig = sorted({k[1] for k in pts})
        keys = [[(lab, d, None, None, None, None) for d in trig] for lab in labels]
        grid = np.array([[down_share(pts[k]) if k in pts else np.nan for k in row]
                         for row in keys])
        text = [[_cell(pts[k], "\n") if k in pts else "—" for k in row] for row in keys]
        _heat(ax, grid[::-1], [f"{d:g} s" for d in trig],
              labels[::-1] if ax is axes[0][0] else [""] * len(labels),
              f"Stays down, {title}", text[::-1])
        ax.set_xlabel("trigger: database outage length")
    fig.suptitle("Share of seeds that stay down; cell: time to recover after the trigger, "
                 "mean [min–max] over the seeds that recover", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "levers.png", dpi=100)
    plt.close(fig)


def plot_sensitivity(runs: list[dict[str, Any]], out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    lp = points(runs, "load")
    loads = sorted({k[2] for k in lp})
    trig = sorted({k[1] for k in lp})
    g = np.array([[down_share(lp[(f"{q:g} QPS", d, q, None, None, None)]) for d in trig]
                  for q in loads])
    _heat(axes[0], g, [f"{d:g} s" for d in trig], [f"{q:g}" for q in loads],
          "Stays down: normal load (QPS) x trigger")
    axes[0].set_xlabel("outage length")
    dp = points(runs, "depth")
    depths = sorted({k[3] for k in dp})
    trig = sorted({k[1] for k in dp})
    g = np.array([[down_share(dp[(f"{c:g} left", d, None, c, None, None)]) for d in trig]
                  for c in depths])
    _heat(axes[1], g, [f"{d:g} s" for d in trig], [f"{1 - c:.0%} drop" for c in depths],
          "Stays down: capacity drop x its length")
    axes[1].set_xlabel("drop length")
    sp = points(runs, "slowdown")
    wins = sorted({k[4] for k in sp})
    facs = sorted({k[5] for k in sp})
    g = np.array([[down_share(sp[(f"window {w:g} s, x{f:g}", 10.0, None, None, w, f)])
                   for f in facs] for w in wins])
    _heat(axes[2], g, [f"x{f:g}" for f in facs], [f"{w:g} s" for w in wins],
          "Stays down: load window x slowdown factor (10 s outage)")
    axes[2].set_xlabel("slowdown factor above 300 QPS")
    axes[2].set_ylabel("window over which load is measured")
    fig.tight_layout()
    fig.savefig(out / "sensitivity.png", dpi=100)
    plt.close(fig)


def _lever_table(lp: dict[tuple[Any, ...], list[dict[str, Any]]], title: str) -> list[str]:
    """Levers × trigger length: the cell of each, and the goodput at a 10 s trigger."""
    if not lp:
        return []
    trig = sorted({k[1] for k in lp})
    lines = ["", title, "",
             "| lever | " + " | ".join(f"{d:g} s" for d in trig) + " | goodput at the end, "
             "10 s trigger (QPS) |", "|---|" + "---|" * (len(trig) + 1)]
    for label in dict.fromkeys(k[0] for k in lp):
        cells = [_cell(lp[(label, d, None, None, None, None)])
                 if (label, d, None, None, None, None) in lp else "—" for d in trig]
        g10 = with_range(lp.get((label, 10.0, None, None, None, None)) or [],
                         "goodput_end_qps")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {g10} |")
    return lines


def _counts_table(runs: list[dict[str, Any]], group: str, title: str) -> list[str]:
    """Levers at one trigger, the slowdown counting offered or started requests."""
    by = {c: points(runs, f"{group}_{c}") for c in COUNTS}
    labels = list(dict.fromkeys(k[0] for pts in by.values() for k in pts))
    if not labels:
        return []
    lines = ["", title, "", "| lever | slowdown counts offered | goodput at the end (QPS) "
             "| slowdown counts started | goodput at the end (QPS) |",
             "|---|---|---|---|---|"]
    for label in labels:
        cells = []
        for c in COUNTS:
            res = by[c].get((label, 10.0, None, None, None, None)) or []
            cells += [_cell(res) if res else "—", with_range(res, "goodput_end_qps")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _assumption_table(runs: list[dict[str, Any]], group: str, title: str,
                      column: str) -> list[str]:
    """One row per value of an assumption: seeds that stay down, recovery, goodput."""
    pts = points(runs, group)
    if not pts:
        return []
    lines = ["", title, "", f"| {column} | stays down | recovery after the trigger | "
             "goodput at the end (QPS) |", "|---|---|---|---|"]
    for (label, *_), res in pts.items():
        lines.append(f"| {label} | {down_count(res)} | "
                     f"{with_range(res, 'recovery_after_s', unit=' s')} | "
                     f"{with_range(res, 'goodput_end_qps')} |")
    return lines


def findings(runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    n = meta["seeds"]
    runs_of = (f"`{meta['command']}` on {meta['date']} ({meta['runs']} runs, {n} seeds per "
               f"point, {meta['wall_min']:.1f} min wall on {meta['jobs']} processes)")
    head = (f"Tables rewritten by `{TABLES_COMMAND}` on {meta['tables_date']} from the "
            f"runs of {runs_of}, kept in results.json; nothing was rerun."
            if meta.get("tables_date") else f"Generated by {runs_of}.")
    if meta.get("rerun"):
        head += f" Of those runs, the groups named were run afterwards by {meta['rerun']}."
    lines = [f"{head} Every figure per seed is given as the mean over the seeds and "
             f"[min–max]. Stays down: the seeds whose last judged SLO window after the "
             f"trigger breaches, of the {n} run, and the 95% Wilson interval of the share "
             f"they estimate ({n} seeds bound it only loosely); "
             f"recovery: the time from the end of the trigger to the first good window "
             f"that stays good (windows of 10 s, so 10 s is the fastest possible), over "
             f"the seeds that recover, with the share that stays down beside it; goodput "
             f"and offered load: the last 30 s of the run.", ""]
    cf = points(runs, "counterfactual")
    lines += ["**Counterfactuals** (280 QPS, database down for 10 s at t = 30 s):", "",
              "| scenario | stays down | recovery after the trigger | amplification at the "
              "end | offered at the end (QPS) | goodput at the end (QPS) | joined |",
              "|---|---|---|---|---|---|---|"]
    for (label, *_), res in cf.items():
        lines.append(f"| {label} | {down_count(res)} | "
                     f"{with_range(res, 'recovery_after_s', unit=' s')} | "
                     f"{with_range(res, 'amplification_end', '.2f')} | "
                     f"{with_range(res, 'offered_end_qps')} | "
                     f"{with_range(res, 'goodput_end_qps')} | "
                     f"{with_range(res, 'join_ratio', '.1f', '%', 100.0)} |")
    every = down_count([{"stays_down": True}] * n)
    lines += _lever_table(points(runs, "lever"), "**Levers × trigger length** (each lever "
                          "alone; cell: time to recover after the trigger, or `down` when "
                          f"every seed stays down: {every} at 95%):")
    lines += _lever_table(points(runs, "lever_started"), "**The same, the database's "
                          "slowdown counting only the requests it starts** "
                          "(`slowdown.counts=started`: what it sheds, drops or refuses "
                          "does not slow it):")
    lines += _counts_table(runs, "network", "**Bronson et al.'s trigger**: the network to "
                           "the database down for 10 s, then every held request at once "
                           "(`experiment=metastable_retry_network`; the front door and the "
                           "jitter-and-budget twin on that trigger are "
                           "`experiment=metastability_front_door_network` and "
                           "`experiment=metastable_retry_network_recovers`); cell as above:")
    lines += _counts_table(runs, "spread", "**The burst spread out** (no lever): after the "
                           "network's 10 s outage, it delivers at most "
                           + " or ".join(f"{q:,.0f}" for q in SPREADS_QPS) + " "
                           "requests a second for 10 s, so the held requests reach the "
                           "database over about 2 s or 8 s, not at once; cell as above:")
    long_s = max((r.get("horizon_s") or 0.0 for r in runs), default=0.0)
    lines += _counts_table(runs, "long", f"**Stays down, judged over a {long_s:g} s "
                           f"horizon** ({long_s - TRIGGER_START_S - 10:g} s after a 10 s "
                           f"outage of the database; cell as above):")
    lines += _counts_table(runs, "netlong", f"**Bronson et al.'s trigger, judged over a "
                           f"{long_s:g} s horizon** ({long_s - TRIGGER_START_S - 10:g} s "
                           f"after the network's 10 s outage and its burst; cell as above):")
    lines += _counts_table(runs, "size", f"**Lever sizes, judged over a {long_s:g} s "
                           f"horizon** (10 s outage of the database; each lever's knob "
                           f"either side of its size above; the rows marked \"as above\" "
                           f"are the same scenarios as the table before; cell as above):")
    lines += _assumption_table(runs, "timeout", "**The clients' timeout** (no lever, 10 s "
                               "outage of the database; the preset's is 1 s):", "timeout")
    lines += _assumption_table(runs, "slo", "**How the SLO judges it** (no lever, 10 s "
                               "outage of the database; \"stays down\" and the recovery are "
                               "read off these windows):", "SLO")
    lo = points(runs, "load")
    if lo:
        trig = sorted({k[1] for k in lo})
        loads = sorted({k[2] for k in lo})
        lines += ["", "**Normal load × trigger length** (no lever; seeds that stay "
                  "down; Bronson et al.: stable below 150 QPS):", "",
                  "| load \\ trigger | " + " | ".join(f"{d:g} s" for d in trig) + " |",
                  "|---|" + "---|" * len(trig)]
        for q in loads:
            lines.append(f"| {q:g} QPS | " + " | ".join(
                down_count(lo[(f'{q:g} QPS', d, q, None, None, None)]) for d in trig)
                + " |")
    de = points(runs, "depth")
    if de:
        trig = sorted({k[1] for k in de})
        depths = sorted({k[3] for k in de})
        lines += ["", "**Capacity drop × its length** (no lever; seeds that stay "
                  "down; Huang et al.'s reproduction: an 80% drop for 10 s is metastable, "
                  "78% or 9 s recovers):", "",
                  "| drop \\ length | " + " | ".join(f"{d:g} s" for d in trig) + " |",
                  "|---|" + "---|" * len(trig)]
        for c in depths:
            lines.append(f"| {1 - c:.0%} | " + " | ".join(
                down_count(de[(f'{c:g} left', d, None, c, None, None)]) for d in trig)
                + " |")
    sl = points(runs, "slowdown")
    if sl:
        facs = sorted({k[5] for k in sl})
        wins = sorted({k[4] for k in sl})
        lines += ["", "**The database's slowdown** (no lever, 10 s outage; seeds "
                  "that stay down; rows: the window over which it measures its load, "
                  "columns: how much slower it is above 300 QPS):", "",
                  "| window \\ factor | " + " | ".join(f"×{f:g}" for f in facs) + " |",
                  "|---|" + "---|" * len(facs)]
        for w in wins:
            lines.append(f"| {w:g} s | " + " | ".join(
                down_count(sl[(f'window {w:g} s, x{f:g}', 10.0, None, None, w, f)])
                for f in facs) + " |")
    return "\n".join(lines) + "\n"


TABLES_COMMAND = "python experiments/metastability/run.py --tables"
RUN_COLS = ["group", "label", "seed", *PARAMS, "horizon_s"]


def partial(runs: list[dict[str, Any]], only: list[str], out: Path
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The runs of the groups in ``only`` (to run), after giving every other run its
    figures from the whole run's ``results.json``; and that run's ``meta``. A group not in
    the plan, or a run the results do not hold, is an error: the study is then run whole."""
    groups = {r["group"] for r in runs}
    unknown = [g for g in only if g not in groups]
    if unknown:
        raise SystemExit(f"--only: no group {', '.join(unknown)} in this study; the groups "
                         f"are {', '.join(sorted(groups))}.")
    path = out / "results.json"
    if not path.exists():
        raise SystemExit(f"--only needs the figures of a whole run in {path}; run the study "
                         "without --only first.")
    old, meta = read_results(path, RUN_COLS)
    have = {(r["group"], canonical(r["overrides"])): r["result"] for r in old}
    todo = []
    for r in runs:
        if r["group"] in only:
            todo.append(r)
            continue
        found = have.get((r["group"], canonical(r["overrides"])))
        if found is None:
            raise SystemExit(f"--only: {path} holds no run of group {r['group']} with "
                             f"overrides {' '.join(r['overrides'])}; run the study whole.")
        r["result"] = found
    return todo, meta


def write_tables(runs: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> str:
    """findings.md and, when ``out`` is this folder, the README's results block."""
    text = findings(runs, meta)
    (out / "findings.md").write_text(text)
    if out.resolve() == HERE:
        update_readme(HERE / "README.md", text)
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--smoke", action="store_true",
                    help="a small, fast version: one seed, two levers, one point per sweep")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per point")
    ap.add_argument("--out", default=str(HERE), help="output folder (default: this folder)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="parallel processes")
    ap.add_argument("--only", default="",
                    help="run only the groups named (comma-separated, e.g. netlong_offered,"
                         "netlong_started) and take every other run's figures from "
                         "results.json in the output folder, which a whole run wrote; the "
                         "timeline figure is kept")
    ap.add_argument("--tables", action="store_true",
                    help="no runs: rewrite findings.md, levers.png, sensitivity.png and the "
                         "README's results block from results.json in the output folder")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.tables:
        runs, meta = read_results(out / "results.json", RUN_COLS)
        meta = {**meta, "tables_date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        plot_levers(runs, out)
        plot_sensitivity(runs, out)
        text = write_tables(runs, meta, out)
        print(text)
        return {"runs": runs, "meta": meta}
    out.mkdir(parents=True, exist_ok=True)
    seeds = 1 if a.smoke else a.seeds
    t0 = time.perf_counter()
    runs = plan(a.smoke, seeds)
    only = [g for g in a.only.split(",") if g]
    todo = runs
    kept: dict[str, Any] = {}
    if only:
        todo, kept = partial(runs, only, out)
    execute("metastability", todo, lambda r: canonical(r["overrides"]),
            lambda rs: (tuple(rs[0]["overrides"]), any(r["series"] for r in rs)), one_run,
            a.jobs, every=20)
    command = "python experiments/metastability/run.py" + (" --smoke" if a.smoke else "")
    meta = {"command": command,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "runs": len({canonical(r["overrides"]) for r in runs}), "seeds": seeds,
            "jobs": a.jobs,
            "wall_min": (time.perf_counter() - t0) / 60}
    if only:
        # The whole run's figures, with the groups rerun named and when.
        kept.pop("tables_date", None)
        rerun = (f"`{command} --only {a.only}` on {meta['date']} "
                 f"({len({canonical(r['overrides']) for r in todo})} runs, "
                 f"{meta['wall_min']:.1f} min wall on {a.jobs} processes)")
        # Earlier partial reruns stay named, in order.
        meta = {**kept, "runs": meta["runs"],
                "rerun": f"{kept['rerun']}, then {rerun}" if kept.get("rerun") else rerun}
    write_results(runs, out, meta, RUN_COLS, lambda r: r["overrides"])
    if not only:
        plot_timeline(runs, out)
    plot_levers(runs, out)
    plot_sensitivity(runs, out)
    text = write_tables(runs, meta, out)
    print(text)
    return {"runs": runs, "meta": meta}


if __name__ == "__main__":
    main()

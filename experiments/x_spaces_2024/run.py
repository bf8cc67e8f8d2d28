"""Rerun the x_spaces_2024 study: does capacity for 8M listeners survive the 17:00 surge?

    python experiments/x_spaces_2024/run.py                 # the full study (see README)
    python experiments/x_spaces_2024/run.py --smoke --out D  # a small, fast version into D

Every figure comes from runs of ``experiment=x_spaces_2024`` (and its HLS variant
``experiment=x_spaces_2024_hls``) through the Python API ``sim.run``, in parallel
processes, all on the preset's seed (common random numbers: every variant sees the same
crowd). Four groups of runs:

- counterfactuals at the published inputs (8M audience, the claimed 1M rps flood): the
  crowd alone, the crowd with the attack, each with retries without jitter and with no
  retries at all;
- the uncertain inputs swept as ranges: audience 1.1M-16M × attack 0-1M rps;
- levers (pre-warming, waiting room, retry budget, HLS over a CDN, deadline propagation,
  load shedding, a queue no deeper than the timeout, a sharded room key, a WAF against
  the flood, and two combinations), each on the crowd alone and on the crowd with the
  attack;
- the hot room key's write rate (an assumption of the preset) against the audience;

plus ``sim-attribute`` on the published scenario (which of the attack, the retries and
the room key's write limit are needed for the failure). Writes, in the output folder
(this folder by default): ``results.csv`` and ``results.json`` (one row per run),
``timeline.png``, ``sweep.png``, ``levers.png``, ``hot_key.png``,
``attribution/attribution.{json,md}``, and
``findings.md``, which also replaces the block between the ``results`` markers in
README.md when the output folder is this folder.

"Outage" in the tool's terms: from the first breach of the SLO (60 s windows: 99% of
join attempts succeed, p99 join latency at most 10 s) to its recovery (the first good
window after the last breach); "not available": the minutes whose 60 s window saw most
join attempts fail (success ratio below 50%).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
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
from experiments.study import execute, update_readme, write_results  # noqa: E402

PRESET = "experiment=x_spaces_2024"
QUIET = ["run.report=false", "run.progress=false"]
NO_ATTACK = ["attack.vectors.l7_join_flood.rate_rps=0"]
NO_JITTER = ["clients.retry.policy=exponential"]
NO_RETRIES = ["clients.retry.policy=none", "clients.impatient_share=0"]
T0_S = 600.0  # arrivals.t0_s of the preset: 17:00 PT
CLAIMED_AUDIENCE = 8e6
CLAIMED_ATTACK = 1e6
HOT_KEY_RPS = 5000.0  # architecture.stations.join.max_rate_rps of the preset
TIMEOUT_S = 5.0  # clients.timeout_s
# sim-attribute's own factor for the room key: off lifts its write limit out of the way.
HOT_KEY_FACTOR = "hot_key=architecture.stations.join.max_rate_rps=1e6"
OUTAGE_RANGE_MIN = (30.0, 50.0)  # what "a ~40-minute outage" is taken to mean
UNAVAILABLE_BELOW = 0.5  # success ratio under which the Space is "not available"

AUDIENCES = [1.1e6, 2e6, 4e6, 8e6, 12e6, 16e6]
ATTACKS = [0.0, 1e5, 3e5, 1e6]
HOT_KEYS = [2500.0, 5000.0, 10000.0]
HOT_KEY_AUDIENCES = [2e6, 4e6, 8e6, 16e6]

COUNTERFACTUALS: list[tuple[str, list[str]]] = [
    ("crowd alone", NO_ATTACK),
    ("crowd + claimed attack", []),
    ("crowd, retries without jitter", NO_ATTACK + NO_JITTER),
    ("crowd + attack, retries without jitter", NO_JITTER),
    ("crowd, no retries", NO_ATTACK + NO_RETRIES),
    ("crowd + attack, no retries", NO_RETRIES),
]

# (lever, overrides): each applied to the crowd alone and to the crowd with the attack.
LEVERS: list[tuple[str, list[str]]] = [
    ("none (the preset)", []),
    ("pre-warming: 4x edge, auth, token store, join", [
        "architecture.stations.edge.instances=160", "architecture.stations.auth.instances=160",
        "architecture.stations.token_store.instances=32",
        "architecture.stations.join.instances=80"]),
    ("waiting room, 4,000 admitted/s", [
        "architecture.waiting_room.enabled=true", "architecture.waiting_room.admit_rps=4000",
        "architecture.waiting_room.burst=4000"]),
    ("retry budget (AWS SDK quota, shared)", ["clients.retry_budget.enabled=true"]),
    ("HLS over a CDN, no room-key write", ["experiment=x_spaces_2024_hls"]),
    ("deadline propagation (join drops expired)", [
        "architecture.stations.join.drop_expired=true"]),
    ("load shedding: join queue age > 4 s", ["architecture.stations.join.shed_queue_age_s=4"]),
    ("join queue <= timeout (20,000 = 4 s)", ["architecture.stations.join.queue_limit=20000"]),
    ("room key sharded 4x (20,000 writes/s)", ["architecture.stations.join.max_rate_rps=20000"]),
    ("WAF at the edge (mitigation=waf)", ["mitigation=waf"]),
    ("waiting room + WAF", [
        "architecture.waiting_room.enabled=true", "architecture.waiting_room.admit_rps=4000",
        "architecture.waiting_room.burst=4000", "mitigation=waf"]),
    ("HLS over a CDN + WAF", ["experiment=x_spaces_2024_hls", "mitigation=waf"]),
]

# Time series kept for the timeline figure (per metrics tick).
SERIES = ["t_s", "legit.arrivals", "legit.attempts", "legit.joined", "join.queue",
          "slo.success_ratio", "listeners", "fanout.slots", "edge.rejected", "auth.rejected",
          "join.rejected"]
# Runs drawn in timeline.png: name -> (group, label).
TIMELINE_RUNS = {
    "crowd alone": ("counterfactual", "crowd alone"),
    "crowd + claimed attack": ("counterfactual", "crowd + claimed attack"),
    "crowd + attack, retries without jitter": ("counterfactual",
                                               "crowd + attack, retries without jitter"),
    "crowd alone, audience 16M": ("sweep", "16M, 0k rps"),
}
TIMELINE = list(TIMELINE_RUNS)


def overrides_of(extra: list[str]) -> list[str]:
    """The full override list of one run: the preset (or the HLS preset), then ``extra``."""
    if any(o.startswith("experiment=") for o in extra):
        return [o for o in extra if o.startswith("experiment=")] + QUIET + [
            o for o in extra if not o.startswith("experiment=")]
    return [PRESET, *QUIET, *extra]


def cache_path(job: tuple[Any, ...]) -> Path:
    """Where ``cached_run`` keeps the figures of ``job`` (its folder is ``job[3]``)."""
    key = hashlib.sha1(json.dumps(list(job[:3])).encode()).hexdigest()[:16]
    return Path(job[3]) / f"{key}.json"


def cached_run(job: tuple[tuple[str, ...], tuple[str, ...], bool, str | None]) -> dict[str, Any]:
    """``one_run``, kept in the folder ``job[3]`` (if given) under a hash of the job, so a
    rerun of the study with ``--cache`` reuses the scenarios it already ran."""
    if job[3] is None:
        return one_run(job[:3])
    path = cache_path(job)
    if path.exists():
        return json.loads(path.read_text())["result"]
    res = one_run(job[:3])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"job": job[:3], "result": res}))
    return res


def one_run(job: tuple[tuple[str, ...], tuple[str, ...], bool]) -> dict[str, Any]:
    """Run one scenario; return its figures (and the time series if asked)."""
    overrides, smoke, keep_series = list(job[0]), list(job[1]), job[2]
    t0 = time.perf_counter()
    res = sim.run(overrides + smoke)
    s, ts = res.summary, res.timeseries
    lg, slo = s["legit"], s["slo"]
    t = np.asarray(ts["t_s"], dtype=float)
    dt = float(np.median(np.diff(t)))
    horizon = float(t[-1])
    ratio = np.asarray(ts["slo.success_ratio"], dtype=float)
    judged = np.asarray(ts["slo.judged"], dtype=float) > 0
    unavailable = judged & (np.nan_to_num(ratio, nan=1.0) < UNAVAILABLE_BELOW)
    breach, rec = slo["first_breach_s"], slo.get("recovered_s")
    if breach is None:
        outage = 0.0
    elif rec is None:  # still down at the horizon: a lower bound
        outage = horizon - breach
    else:
        outage = rec - breach
    peak_arrivals = float(np.max(ts["legit.arrivals"])) / dt
    slots = ts.get("fanout.slots")
    row: dict[str, Any] = {
        "arrived": lg["arrived"], "joined": lg["joined"], "abandoned": lg["abandoned"],
        "join_ratio": round(lg["join_ratio"], 4),
        "attempts_per_client": round(lg["attempts_per_client"], 3),
        "slo_met": slo["met"], "bottleneck": slo["bottleneck"],
        "first_breach_s": breach, "recovered_s": rec,
        "recovered": breach is None or rec is not None,
        "outage_min": round(outage / 60, 2),
        "late_start_min": round(max(0.0, (rec if rec is not None else horizon) - T0_S) / 60, 2)
        if breach is not None else 0.0,
        "breached_min": round(slo["breached_s"] / 60, 2),
        "unavailable_min": round(float(unavailable.sum()) * dt / 60, 2),
        "join_p99_s": round(s["join_latency_s"]["p99"], 2) if s["join_latency_s"]["p99"]
        is not None else None,
        "peak_arrivals_per_s": round(peak_arrivals),
        "peak_listeners": int(np.max(ts["listeners"])),
        "listener_slots": int(np.max(slots)) if slots is not None else None,
        "join_peak_queue": s["stations"]["join"]["peak_queue"],
        "join_wasted": s["stations"]["join"].get("wasted"),
        "attack_served": s["attack"]["served"],
        "mode": s["resolution"]["mode"], "tick_s": s["resolution"]["tick_s"],
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if keep_series:
        row["series"] = {k: np.asarray(ts[k], dtype=float).tolist() for k in SERIES if k in ts}
    return row


GROUPS = ("counterfactual", "sweep", "lever", "hot_key")


def plan(smoke: bool, groups: tuple[str, ...] = GROUPS) -> list[dict[str, Any]]:
    """Every run of the study (of ``groups``), as (group, label, parameters, overrides)."""
    runs: list[dict[str, Any]] = []
    audiences, attacks, levers, hot_keys, hk_aud = AUDIENCES, ATTACKS, LEVERS, HOT_KEYS, \
        HOT_KEY_AUDIENCES
    cfs = COUNTERFACTUALS
    if smoke:
        audiences, attacks, hot_keys, hk_aud = [8e6], [0.0, 1e6], [5000.0], [8e6]
        levers = [lv for lv in LEVERS if lv[0].startswith(("none", "HLS over a CDN, no"))]
        cfs = COUNTERFACTUALS[:2]
    for name, ov in cfs:
        runs.append({"group": "counterfactual", "label": name, "audience": CLAIMED_AUDIENCE,
                     "attack_rps": 0.0 if NO_ATTACK[0] in ov else CLAIMED_ATTACK,
                     "overrides": ov})
    for a in audiences:
        for r in attacks:
            runs.append({"group": "sweep", "label": f"{a / 1e6:g}M, {r / 1e3:g}k rps",
                         "audience": a, "attack_rps": r,
                         "overrides": [f"arrivals.audience={a:g}",
                                       f"attack.vectors.l7_join_flood.rate_rps={r:g}"]})
    for lever, ov in levers:
        for attack in (0.0, CLAIMED_ATTACK):
            runs.append({"group": "lever", "label": lever, "audience": CLAIMED_AUDIENCE,
                         "attack_rps": attack,
                         "overrides": ov + ([] if attack else NO_ATTACK)})
    for k in hot_keys:
        for a in hk_aud:
            runs.append({"group": "hot_key", "label": f"{k:g} writes/s, {a / 1e6:g}M",
                         "audience": a, "attack_rps": 0.0, "hot_key_rps": k,
                         "overrides": [f"arrivals.audience={a:g}", *NO_ATTACK,
                                       f"architecture.stations.join.max_rate_rps={k:g}"]})
    return [r for r in runs if r["group"] in groups]


def canonical(ov: list[str]) -> tuple[str, ...]:
    """One key per distinct scenario, so a scenario in two groups runs once."""
    full = overrides_of(ov)
    defaults = {f"arrivals.audience={CLAIMED_AUDIENCE:g}",
                f"attack.vectors.l7_join_flood.rate_rps={CLAIMED_ATTACK:g}",
                f"architecture.stations.join.max_rate_rps={HOT_KEY_RPS:g}"}
    return tuple(sorted(o for o in full if o not in defaults))


def attribution(out: Path, smoke_ov: list[str], jobs: int) -> dict[str, Any] | None:
    """``sim-attribute`` on the published scenario: are the attack and the retries needed?"""
    dest = out / "attribution"
    if dest.exists():
        shutil.rmtree(dest)
    cmd = [sys.executable, "-m", "sim.attribute", PRESET, *QUIET, *smoke_ov,
           "--factor", HOT_KEY_FACTOR, "--out", str(dest), "--jobs", str(jobs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    # Keep each variant's summary and config; the time series are the runs' bulk.
    for f in dest.glob("variants/**/*"):
        if f.is_file() and f.name not in ("summary.json", "config.yaml"):
            f.unlink()
    path = dest / "attribution.json"
    return json.loads(path.read_text()) if path.exists() else None


def find(runs: list[dict[str, Any]], group: str, label: str | None = None,
         **params: float) -> dict[str, Any] | None:
    for r in runs:
        if r["group"] != group or (label is not None and r["label"] != label):
            continue
        if all(math.isclose(float(r.get(k) or 0.0), v) for k, v in params.items()):
            return r["result"]
    return None


def plot_timeline(runs: list[dict[str, Any]], out: Path) -> None:
    fig, axes = plt.subplots(4, 1, figsize=(10, 12), sharex=True)
    styles = {TIMELINE[0]: ("tab:blue", 1.6), TIMELINE[1]: ("tab:red", 3.0),
              TIMELINE[2]: ("tab:orange", 1.2), TIMELINE[3]: ("tab:purple", 1.4)}
    for name, (group, label) in TIMELINE_RUNS.items():
        color, lw = styles[name]
        res = find(runs, group, label)
        if res is None or "series" not in res:
            continue
        s = {k: np.asarray(v) for k, v in res["series"].items()}
        m = (s["t_s"] - T0_S) / 60  # minutes after 17:00 PT
        dt = float(np.median(np.diff(s["t_s"])))
        if name == TIMELINE[0]:
            axes[0].plot(m, np.maximum(s["legit.arrivals"] / dt, 1), color="k", lw=1,
                         label="users arriving (8M)")
        axes[0].plot(m, np.maximum(s["legit.attempts"] / dt, 1), color=color, lw=0.8,
                     ls="--", label=f"join attempts: {name}")
        axes[0].plot(m, np.maximum(s["legit.joined"] / dt, 1), color=color, lw=lw,
                     label=f"joins: {name}")
        axes[1].plot(m, s["join.queue"] / HOT_KEY_RPS, color=color, lw=lw, label=name)
        axes[2].plot(m, s["slo.success_ratio"], color=color, lw=lw, label=name)
        axes[3].plot(m, s["listeners"] / 1e6, color=color, lw=lw, label=name)
        if name == TIMELINE[0] and "fanout.slots" in s:
            axes[3].plot(m, s["fanout.slots"] / 1e6, color="k", lw=1, ls=":",
                         label="listener slots (the 8M steady-state test)")
    axes[0].axhline(HOT_KEY_RPS, color="grey", lw=0.8, ls=":")
    axes[0].text(-9.5, HOT_KEY_RPS * 1.15, "room key: 5,000 writes/s", fontsize=8,
                 color="grey")
    axes[0].set(ylabel="per second (log; 0 drawn at 1)", yscale="log", ylim=(0.8, None),
                title="The 17:00 surge on a path sized for 8M listeners")
    axes[1].axhline(TIMEOUT_S, color="grey", lw=0.8, ls=":")
    axes[1].text(-9.5, TIMEOUT_S + 0.3, "client timeout 5 s", fontsize=8, color="grey")
    axes[1].set(ylabel="join queue (s of writes)")
    axes[2].axhline(0.99, color="grey", lw=0.8, ls=":")
    axes[2].set(ylabel="join success, 60 s window", ylim=(-0.02, 1.02))
    axes[3].set(ylabel="listeners (M)", xlabel="minutes after the scheduled start (17:00 PT)")
    axes[0].legend(fontsize=6.5, ncol=2, loc="lower right")
    axes[2].legend(fontsize=7, loc="lower right")
    axes[3].legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.axvspan(-1, 9, color="red", alpha=0.06)  # the claimed flood, 540-1140 s
    axes[3].text(-0.5, 0.2, "flood", fontsize=8, color="tab:red")
    axes[3].set_xlim(-10, 60)
    fig.tight_layout()
    fig.savefig(out / "timeline.png", dpi=100)
    plt.close(fig)


def plot_sweep(runs: list[dict[str, Any]], out: Path) -> None:
    sw = [r for r in runs if r["group"] == "sweep"]
    auds = sorted({r["audience"] for r in sw})
    atks = sorted({r["attack_rps"] for r in sw})
    grid = np.full((len(atks), len(auds)), np.nan)
    jr = np.full_like(grid, np.nan)
    for r in sw:
        i, j = atks.index(r["attack_rps"]), auds.index(r["audience"])
        grid[i, j] = r["result"]["outage_min"]
        jr[i, j] = r["result"]["join_ratio"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    im = axes[0].imshow(grid, origin="lower", cmap="Reds", aspect="auto", vmin=0)
    for i in range(len(atks)):
        for j in range(len(auds)):
            axes[0].text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=9)
    axes[0].set_xticks(range(len(auds)), [f"{a / 1e6:g}M" for a in auds])
    axes[0].set_yticks(range(len(atks)), [f"{a / 1e3:g}k" for a in atks])
    axes[0].set(xlabel="audience (clients over the event)", ylabel="attack (rps)",
                title="Outage: first SLO breach to recovery (min)")
    fig.colorbar(im, ax=axes[0])
    for i, atk in enumerate(atks):
        axes[1].plot([a / 1e6 for a in auds], jr[i], "-o", ms=3, label=f"attack {atk / 1e3:g}k rps")
    axes[1].set(xlabel="audience (M)", ylabel="share of users who got in",
                title="Join ratio", ylim=(0, 1.05))
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=100)
    plt.close(fig)


def plot_levers(runs: list[dict[str, Any]], out: Path) -> None:
    labels = list(dict.fromkeys(r["label"] for r in runs if r["group"] == "lever"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.5 * len(labels) + 1.8), sharey=True)
    y = np.arange(len(labels))
    for k, (attack, name) in enumerate(((0.0, "crowd alone"), (CLAIMED_ATTACK, "crowd + attack"))):
        res = [find(runs, "lever", lab, attack_rps=attack) for lab in labels]
        for ax, key in zip(axes, ("outage_min", "unavailable_min", "join_ratio"), strict=True):
            ax.barh(y + (0.2 if k == 0 else -0.2), [r[key] if r else np.nan for r in res],
                    0.4, label=name)
    axes[0].set(title="outage (min, SLO breach to recovery)")
    axes[1].set(title="not available (min, most attempts fail)")
    axes[2].set(title="share of users who got in", xlim=(0, 1.05))
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].invert_yaxis()
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(out / "levers.png", dpi=100)
    plt.close(fig)


def plot_hot_key(runs: list[dict[str, Any]], out: Path) -> None:
    hk = [r for r in runs if r["group"] == "hot_key"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k in sorted({r["hot_key_rps"] for r in hk}):
        pts = sorted((r["audience"], r["result"]["outage_min"]) for r in hk
                     if r["hot_key_rps"] == k)
        ax.plot([p[0] / 1e6 for p in pts], [p[1] for p in pts], "-o", ms=3,
                label=f"room key {k:,.0f} writes/s")
    ax.axhspan(*OUTAGE_RANGE_MIN, color="red", alpha=0.08, label="~40 min (30-50)")
    ax.set(xlabel="audience (M), crowd alone", ylabel="outage (min)",
           title="Outage against the room key's write rate")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "hot_key.png", dpi=100)
    plt.close(fig)


def _fmt(res: dict[str, Any]) -> str:
    rec = "not recovered" if not res["recovered"] else f"{res['outage_min']:.0f} min"
    return rec


def findings(runs: list[dict[str, Any]], attr: dict[str, Any] | None,
             meta: dict[str, Any]) -> str:
    lines = [f"Generated by `{meta['command']}` on {meta['date']} ({meta['runs']} distinct "
             f"runs, {meta['wall_min']:.1f} min wall on {meta['jobs']} processes, "
             f"{meta.get('run_min', 0.0):.0f} min of run time summed over the runs; "
             f"{', '.join(meta.get('modes') or [])} mode"
             f"{'' if meta['smoke_overrides'] else ', as picked by `run.resolution_s=auto`'}). "
             f"Outage = first SLO breach to recovery; not available = minutes whose "
             f"60 s window saw under {UNAVAILABLE_BELOW:.0%} of join attempts succeed; "
             f"late start = scheduled start (17:00 PT) to recovery.", ""]
    lines += ["**Counterfactuals** (audience 8M, the claimed flood 1M rps from 17:00 − 1 min "
              "for 10 min):", "",
              "| scenario | joined | attempts/user | first breach | recovered | outage | "
              "not available | late start | bottleneck |", "|---|---|---|---|---|---|---|---|---|"]
    for name, _ in COUNTERFACTUALS:
        res = find(runs, "counterfactual", name)
        if res is None:
            continue
        fb = "—" if res["first_breach_s"] is None else \
            f"17:00 {res['first_breach_s'] - T0_S:+.0f} s"
        rc = "—" if res["recovered_s"] is None else f"17:{(res['recovered_s'] - T0_S) / 60:02.0f}"
        if res["first_breach_s"] is not None and res["recovered_s"] is None:
            rc = "never"
        lines.append(f"| {name} | {res['join_ratio']:.1%} | {res['attempts_per_client']:.2f} | "
                     f"{fb} | {rc} | {_fmt(res)} | {res['unavailable_min']:.0f} min | "
                     f"{res['late_start_min']:.0f} min | {res['bottleneck'] or '—'} |")
    base = find(runs, "counterfactual", "crowd alone")
    if base is not None:
        lines += ["", f"Steady state against the surge (crowd alone): the fanout had "
                  f"{(base['listener_slots'] or 0) / 1e6:.1f}M listener slots and at most "
                  f"{base['peak_listeners'] / 1e6:.2f}M were ever used; the crowd arrived at up to "
                  f"{base['peak_arrivals_per_s']:,} users/s against a room key that takes "
                  f"{HOT_KEY_RPS:,.0f} writes/s, and the join queue peaked at "
                  f"{base['join_peak_queue']:,} requests "
                  f"({base['join_peak_queue'] / HOT_KEY_RPS:.0f} s "
                  f"of writes, against a {TIMEOUT_S:.0f} s client timeout); "
                  f"{base['join_wasted'] or 0:,} joins were written for clients that had "
                  f"already given up."]
    if attr is not None:
        nec = attr.get("necessary") or []
        suf = "; ".join("{" + ", ".join(s) + "}" if s else "{} (the crowd alone)"
                        for s in attr.get("sufficient") or []) or "none"
        lines += ["", f"`sim-attribute` on the published scenario (the flood, the retries "
                  f"and the room key's write limit switched off in every combination, same "
                  f"seed): necessary factors: "
                  f"{', '.join(nec) if nec else 'none'}; minimal "
                  f"sufficient sets: "
                  f"{suf} "
                  f"(attribution/attribution.md)."]
    sw = [r for r in runs if r["group"] == "sweep"]
    if sw:
        auds = sorted({r["audience"] for r in sw})
        atks = sorted({r["attack_rps"] for r in sw})
        lines += ["", "**Sensitivity: audience × attack** (outage in minutes; join ratio "
                  "in brackets; * = within 30–50 min, the ~40-minute outage; + = still "
                  "down at the horizon):", "",
                  "| attack \\ audience | " + " | ".join(f"{a / 1e6:g}M" for a in auds) + " |",
                  "|---|" + "---|" * len(auds)]
        for atk in atks:
            cells = []
            for a in auds:
                res = find(runs, "sweep", None, audience=a, attack_rps=atk)
                if res is None:
                    cells.append("")
                    continue
                star = "*" if OUTAGE_RANGE_MIN[0] <= res["outage_min"] <= OUTAGE_RANGE_MIN[1] \
                    else ""
                plus = "+" if not res["recovered"] else ""
                cells.append(f"{res['outage_min']:.0f}{plus}{star} ({res['join_ratio']:.0%})")
            lines.append(f"| {atk / 1e3:g}k rps | " + " | ".join(cells) + " |")
        forty = [(r["audience"], r["attack_rps"]) for r in sw
                 if OUTAGE_RANGE_MIN[0] <= r["result"]["outage_min"] <= OUTAGE_RANGE_MIN[1]]
        holds = [r["audience"] for r in sw if r["result"]["slo_met"]]
        lines += ["", "Points with a 30–50 min outage: " + (", ".join(
            f"{a / 1e6:g}M at {k / 1e3:g}k rps" for a, k in sorted(forty)) or "none") + "; "
            "points where the SLO holds throughout: " + (", ".join(
                sorted({f"{a / 1e6:g}M" for a in holds})) or "none") + "."]
    lv = [r for r in runs if r["group"] == "lever"]
    if lv:
        lines += ["", "**Levers** (audience 8M; each alone, on the crowd alone and on the "
                  "crowd with the claimed attack):", "",
                  "| lever | crowd alone: outage, not available, joined, p99 join | "
                  "crowd + attack: outage, not available, joined, p99 join |", "|---|---|---|"]
        for lab in dict.fromkeys(r["label"] for r in lv):
            cells = []
            for atk in (0.0, CLAIMED_ATTACK):
                res = find(runs, "lever", lab, attack_rps=atk)
                if res is None:
                    cells.append("")
                    continue
                p99 = "—" if res["join_p99_s"] is None else f"{res['join_p99_s']:,.0f} s"
                cells.append(f"{_fmt(res)}, {res['unavailable_min']:.0f} min, "
                             f"{res['join_ratio']:.0%}, {p99}")
            lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    hk = [r for r in runs if r["group"] == "hot_key"]
    if hk:
        auds = sorted({r["audience"] for r in hk})
        keys = sorted({r["hot_key_rps"] for r in hk})
        lines += ["", "**The room key's write rate** (an assumption of the preset; crowd "
                  "alone; outage in minutes, join ratio in brackets):", "",
                  "| writes/s \\ audience | " + " | ".join(f"{a / 1e6:g}M" for a in auds) + " |",
                  "|---|" + "---|" * len(auds)]
        for k in keys:
            cells = []
            for a in auds:
                res = find(runs, "hot_key", None, audience=a, hot_key_rps=k)
                cells.append("" if res is None else
                             f"{res['outage_min']:.0f}{'' if res['recovered'] else '+'} "
                             f"({res['join_ratio']:.0%})")
            lines.append(f"| {k:,.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--smoke", action="store_true",
                    help="a small, fast version: a 25-minute horizon at 1 s ticks, a few "
                         "runs; figures and tables as in the full study")
    ap.add_argument("--out", default=str(HERE), help="output folder (default: this folder)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="parallel processes")
    ap.add_argument("--no-attribution", action="store_true", help="skip sim-attribute")
    ap.add_argument("--cache", default=None,
                    help="folder that keeps each run's figures; a rerun with the same folder "
                         "reuses them (same code assumed)")
    ap.add_argument("--cached-only", action="store_true",
                    help="with --cache: leave out the runs not in the cache (a partial study)")
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help="comma-separated groups of runs to run (default: all of "
                         f"{', '.join(GROUPS)})")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    smoke_ov = ["run.horizon_s=1500", "run.resolution_s=1", "run.metrics_tick_s=10"] \
        if a.smoke else []
    t0 = time.perf_counter()
    groups = tuple(g.strip() for g in a.groups.split(",") if g.strip())
    unknown = set(groups) - set(GROUPS)
    if unknown:
        ap.error(f"unknown groups: {', '.join(sorted(unknown))}")
    runs = plan(a.smoke, groups)
    timeline = set(TIMELINE_RUNS.values())

    def job_of(rs: list[dict[str, Any]]) -> tuple[Any, ...]:
        return (tuple(overrides_of(rs[0]["overrides"])), tuple(smoke_ov),
                any((r["group"], r["label"]) in timeline for r in rs), a.cache)

    if a.cached_only and a.cache:
        same: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for r in runs:
            same.setdefault(canonical(r["overrides"]), []).append(r)
        runs = [r for r in runs if cache_path(job_of(same[canonical(r["overrides"])])).exists()]
    execute("x_spaces_2024", runs, lambda r: canonical(r["overrides"]), job_of, cached_run,
            a.jobs)
    attr = None if (a.smoke or a.no_attribution) else attribution(out, smoke_ov, a.jobs)
    meta = {"command": "python experiments/x_spaces_2024/run.py" + (" --smoke" if a.smoke else "")
            + ("" if groups == GROUPS else f" --groups {','.join(groups)}")
            + (" --no-attribution" if a.no_attribution else "")
            + (" --cache DIR" if a.cache else "") + (" --cached-only" if a.cached_only else ""),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "runs": len({canonical(r["overrides"]) for r in runs}), "jobs": a.jobs,
            "wall_min": (time.perf_counter() - t0) / 60, "smoke_overrides": smoke_ov,
            "groups": list(groups),
            "run_min": sum({canonical(r["overrides"]): r["result"]["wall_s"]
                            for r in runs}.values()) / 60,
            "modes": sorted({f"{r['result']['mode']} {r['result']['tick_s']:g} s"
                             for r in runs})}
    write_results(runs, out, meta, ["group", "label", "audience", "attack_rps", "hot_key_rps"],
                  lambda r: overrides_of(r["overrides"]))
    plot_timeline(runs, out)
    if "sweep" in groups:
        plot_sweep(runs, out)
    if "lever" in groups:
        plot_levers(runs, out)
    if "hot_key" in groups:
        plot_hot_key(runs, out)
    text = findings(runs, attr, meta)
    (out / "findings.md").write_text(text)
    if out.resolve() == HERE:
        update_readme(HERE / "README.md", text)
    print(text)
    return {"runs": runs, "attribution": attr, "meta": meta}


if __name__ == "__main__":
    main()

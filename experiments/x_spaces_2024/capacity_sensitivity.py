"""Does the capacity per tier hold under the assumptions no source gives?

    python experiments/x_spaces_2024/capacity_sensitivity.py                 # the check
    python experiments/x_spaces_2024/capacity_sensitivity.py --smoke --out D  # tiny, into D

``run.py``'s ``capacity`` group sizes each tier of the HLS base for the crowd at the top
of its range (2.4M users, the fitted three-hour sessions, no flood), one tier at a time
with the others as in the preset: the smallest size that holds, and that size ×1.5.
This script sizes every HLS tier at once, at its smallest size that holds and at the
size with the margin (``results.json``'s ``capacity`` rows: the edge's rate limit,
auth, the token store, the origin and the CDN), and runs both under the fitted crowd and
under each assumption about it moved either side: the push reaction (its median and
spread), how long the push takes, the late tail (its share and time constant), the
session length, the client timeout and the SLO's p99 bound; on seeds 1, 2 and 3. It
says on how many seeds the SLO holds and, where it breaks, which tier the seeds name.
Writes ``capacity_sensitivity.csv`` (one row per variant, level and seed) and the
README's ``capacity_sensitivity`` block.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone

from experiments.study import held_cell, summary_of, update_readme, write_csv  # noqa: E402

HLS = "experiment=x_spaces_2024_hls"
QUIET = ["run.report=false", "run.progress=false"]
NO_ATTACK = ["attack.vectors.l7_join_flood.rate_rps=0"]
SEEDS = [1, 2, 3]
MARGIN_LEVEL = "with the margin (×1.5)"
# The tiers of the HLS base the capacity group sizes (the room key and the SFU's slots
# are sized on other architectures: the key is not written on HLS, slots are SFU's).
HLS_TIERS = ("edge", "auth", "token_store", "origin", "cdn")
# (variant, overrides on top of the fitted crowd), one assumption at a time.
VARIANTS: list[tuple[str, list[str]]] = [
    ("the fitted crowd", []),
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
    ("sessions 1.5 h (fitted 3 h)", ["clients.session.mean_s=5400"]),
    ("sessions 6 h", ["clients.session.mean_s=21600"]),
    ("client timeout 3 s (preset 5 s)", ["clients.timeout_s=3"]),
    ("client timeout 10 s", ["clients.timeout_s=10"]),
    ("SLO p99 limit 5 s (preset 10 s)", ["slo.join_p99_max_s=5"]),
    ("SLO p99 limit 20 s", ["slo.join_p99_max_s=20"]),
]
SMOKE = ["arrivals.audience=24000", "run.horizon_s=1500", "run.resolution_s=1",
         "run.metrics_tick_s=10"]


def levels(capacity: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every HLS tier at its smallest size that holds, and at that size with the margin,
    from ``results.json``'s ``capacity`` rows (a tier that holds at the smallest size
    allowed takes that size)."""
    smallest: dict[str, Any] = {}
    margin: dict[str, Any] = {}
    for r in capacity:
        tier = r["key"].split(".")[2]
        if tier not in HLS_TIERS or not r["key"].startswith("architecture.stations."):
            continue
        least = r["floor"] if r.get("floor") is not None else r["holds_at"]
        integer = r["integer"]
        smallest[r["key"]] = int(least) if integer else least
        margin[r["key"]] = int(r["with_margin"]) if integer else r["with_margin"]
    return [("smallest that holds, each tier", smallest), (MARGIN_LEVEL, margin)]


def plan(fit: dict[str, Any], lv: list[tuple[str, dict[str, Any]]], seeds: list[int],
         smoke: bool, variants: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """Every (variant, level, seed) run on the HLS base, the fitted crowd at the top of
    its range, no flood."""
    crowd = [f"arrivals.audience={fit['top_audience']:g}",
             f"clients.session.mean_s={fit['session_mean_s']:g}"]
    runs = []
    for name, ov in variants:
        for lname, sizes in lv:
            for s in seeds:
                runs.append({"variant": name, "level": lname, "seed": s,
                             "overrides": [HLS, *QUIET, *crowd, *NO_ATTACK,
                                           *(f"{k}={v}" for k, v in sizes.items()), *ov,
                                           *(SMOKE if smoke else []), f"run.seed={s}"]})
    return runs


def row_of(run: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
    return {"variant": run["variant"], "level": run["level"], "seed": run["seed"],
            "slo_met": s["slo"]["met"], "bottleneck": s["slo"]["bottleneck"],
            "first_breach_s": s["slo"]["first_breach_s"],
            "recovered_s": s["slo"].get("recovered_s"),
            "join_ratio": s["legit"]["join_ratio"], "join_p99_s": s["join_latency_s"]["p99"],
            "listeners_peak": s["listeners"]["peak"],
            "polls_failed_share": (s.get("polling") or {}).get("failed_share"),
            "mode": s["resolution"]["mode"], "tick_s": s["resolution"]["tick_s"],
            "overrides": " ".join(run["overrides"])}


def table(rows: list[dict[str, Any]], lv: list[tuple[str, dict[str, Any]]]) -> str:
    """The README block: per variant and level, the seeds that hold, the tiers named
    where not, and the joined share (mean [min–max] over the seeds)."""
    seeds = sorted({r["seed"] for r in rows})
    sizes = "; ".join(f"{n}: " + ", ".join(f"`{k.removeprefix('architecture.stations.')}"
                                           f"={v:g}`" for k, v in s.items()) for n, s in lv)
    head = ["variant", *(f"{n}: SLO held on seeds (tiers named), joined" for n, _ in lv)]
    lines = [f"Seeds {', '.join(map(str, seeds))}; {sizes}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in dict.fromkeys(r["variant"] for r in rows):
        cells = []
        for n, _ in lv:
            rs = [r for r in rows if r["variant"] == v and r["level"] == n]
            if not rs:
                cells.append("—")
                continue
            jr = [100 * float(r["join_ratio"]) for r in rs]
            share = (f"{jr[0]:.1f}%" if max(jr) - min(jr) < 0.05 else
                     f"{sum(jr) / len(jr):.1f}% [{min(jr):.1f}–{max(jr):.1f}]")
            cells.append(f"{held_cell(rs)}, {share}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="a hundredth of the crowd, 25 minutes, 1 s ticks, one seed, 3 variants")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    a = ap.parse_args(argv)
    meta = json.loads((HERE / "results.json").read_text())["meta"]
    lv = levels(meta["capacity"])
    seeds = [int(s) for s in a.seeds.split(",")][: 1 if a.smoke else None]
    runs = plan(meta["fit"], lv, seeds, a.smoke, VARIANTS[:3] if a.smoke else VARIANTS)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=a.jobs) as ex:
        sums = list(ex.map(summary_of, [r["overrides"] for r in runs]))
    rows = [row_of(r, s) for r, s in zip(runs, sums, strict=True)]
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "capacity_sensitivity.csv", rows)
    text = table(rows, lv)
    update_readme(a.out / "README.md", text, "capacity_sensitivity")
    print(text)
    print(f"[capacity_sensitivity] {len(rows)} runs in {time.perf_counter() - t0:,.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()

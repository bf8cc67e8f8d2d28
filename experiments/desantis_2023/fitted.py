"""The May 2023 room held to its reported size: which join paths give a ~668k room.

    python experiments/desantis_2023/fitted.py           # 4 variants x 3 seeds (a minute)
    python experiments/desantis_2023/fitted.py --smoke --out D   # small and fast, into D

The reports put about 668,000 listeners in the room at its height (~668k after 21
minutes; also "nearly 700,000" and 650,000), more than the preset's audio servers can
hold (16 × 20,000 slots). This script fits the crowd to that count, then asks which join
paths give both reported facts: a room that was "melting the servers" soon after 18:00
(the SLO breaks within ``MELTING_WITHIN_S`` of the start) and a room whose height is the
reported count (within ``ROOM_BAND``).

The fit (an assumption, made explicit): keep ``experiment=desantis_2023``'s arrival shape
and its 30-minute sessions, and choose the audience whose room, if nobody were turned
away, peaks at the reported count over the run (to 18:20, when the owner's room ended):
the preset's arrival rate (``sim.model.arrivals.rate_function``) scaled to the audience,
each arrival staying for a lognormal session of the preset's mean and cv. Rounded to
10,000.

Each variant runs at the fitted audience on seeds 1-3 (common random numbers):

- ``the preset``: the hot room key (2,500 writes/s) and 320,000 slots;
- ``slots for the room``: 60 audio servers (1.2M slots, more than the room's peak), the
  key as in the preset;
- ``slots + room key sharded``: the same servers and the key at 20,000 writes/s;
- ``slots + key + edge, auth, token store ×4``: and four times the preset's edge (its
  instances and its rate limit), auth and token store, so that no tier in front fails.

Writes ``fitted.csv`` (one row per variant and seed) and the README's ``fitted`` block:
per variant, the listeners at 18:20 and at the peak, the first breach (minutes after
18:00) and the bottleneck, the joined share, and whether both reported facts hold.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone

import sim  # noqa: E402
from experiments.study import (  # noqa: E402
    expected_room,
    mean_min_max,
    range_cell,
    update_readme,
    write_csv,
)
from sim.compose import compose  # noqa: E402

REPORTED_ROOM = 668_000  # listeners at the room's height ([Fortune 2023]; README Inputs)
MELTING_WITHIN_S = 600.0  # "melting the servers": the SLO breaks within 10 min of 18:00
ROOM_BAND = (0.8, 1.2)  # the room's height agrees with the report within ±20%
SEEDS = (1, 2, 3)
SLOTS = ["architecture.stations.fanout.instances=60"]  # 1.2M slots: more than the peak
KEY = ["architecture.stations.join.max_rate_rps=20000"]  # the room key sharded 8 ways
FRONT = ["architecture.stations.edge.instances=16",  # edge, auth, token store ×4
         "architecture.stations.edge.rate_limit_rps=160000",
         "architecture.stations.auth.instances=16",
         "architecture.stations.token_store.instances=8"]
VARIANTS: list[tuple[str, list[str]]] = [
    ("the preset", []),
    ("slots for the room", SLOTS),
    ("slots + room key sharded", [*SLOTS, *KEY]),
    ("slots + key + edge, auth, token store ×4", [*SLOTS, *KEY, *FRONT]),
]
COMMON = ["experiment=desantis_2023", "run.report=false", "run.progress=false"]
SMOKE = ["run.horizon_s=600", "run.resolution_s=1", "run.metrics_tick_s=5",
         "arrivals.t0_s=120", "arrivals.early_window_s=120",
         "architecture.stations.join.max_rate_rps=25",
         "architecture.stations.fanout.listener_slots_per_instance=200",
         "architecture.stations.fanout.egress_gbps_per_instance=0.0064",
         "architecture.stations.edge.rate_limit_rps=400",
         "architecture.stations.auth.workers_per_instance=1",
         "architecture.stations.auth.service.mean_s=0.05"]
SMOKE_ROOM = 6_680  # the reported room at the smoke run's scale (1/100)


def fit_audience(base: list[str], room: float) -> dict[str, float]:
    """The audience whose expected room peaks at ``room`` over the run (rounded to
    10,000, or to 100 below 100,000), and when it peaks."""
    cfg = compose(base)
    end = float(cfg.run.horizon_s)
    grid = np.arange(10.0, end + 1.0, 10.0)
    per = expected_room(cfg, 1.0, float(cfg.clients.session.mean_s), grid.tolist())
    k = int(np.argmax(per))
    step = 10_000 if room >= 100_000 else 100
    audience = round(room / per[k] / step) * step
    return {"audience": float(audience), "expected_peak": per[k] * audience,
            "peak_share": per[k], "peak_s": float(grid[k]),
            "t0_s": float(cfg.arrivals.t0_s),
            "session_mean_s": float(cfg.clients.session.mean_s)}


def row_of(s: dict[str, Any], t0_s: float, **ids: Any) -> dict[str, Any]:
    breach = s["slo"]["first_breach_s"]
    return {**ids, "arrived": s["legit"]["arrived"], "join_ratio": s["legit"]["join_ratio"],
            "listeners_end": s["listeners"]["end"], "listeners_peak": s["listeners"]["peak"],
            "first_breach_s": breach,
            "breach_after_start_min": None if breach is None else (breach - t0_s) / 60,
            "bottleneck": s["slo"]["bottleneck"], "slo_met": s["slo"]["met"],
            "mode": s["resolution"]["mode"], "tick_s": s["resolution"]["tick_s"]}


def verdict(rows: list[dict[str, Any]], room: float) -> tuple[bool, bool]:
    """On every seed: did the SLO break within ``MELTING_WITHIN_S`` of the start, and did
    the room peak within ``ROOM_BAND`` of the reported size?"""
    melting = all(r["breach_after_start_min"] is not None
                  and 0 <= r["breach_after_start_min"] * 60 <= MELTING_WITHIN_S for r in rows)
    sized = all(ROOM_BAND[0] * room <= r["listeners_peak"] <= ROOM_BAND[1] * room
                for r in rows)
    return melting, sized


def _span(vals: list[float], scale: float = 1.0, fmt: str = ",.0f", unit: str = "") -> str:
    return range_cell(mean_min_max(vals), scale, fmt, unit)


def table(rows: list[dict[str, Any]], fit: dict[str, float], room: float) -> str:
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"Audience fitted to a room of {room:,.0f} at its height with "
             f"{fit['session_mean_s'] / 60:.0f}-minute sessions: **{fit['audience']:,.0f}** "
             f"users (if nobody were turned away, {fit['peak_share']:.1%} of them in the room "
             f"at its height, {(fit['peak_s'] - fit['t0_s']) / 60:.0f} minutes after the "
             f"start). Seeds {', '.join(map(str, seeds))}; mean [min–max] over them.", "",
             "| variant | peak listeners | listeners at the end (18:20) | first breach (min "
             "after 18:00) | bottleneck | joined | melting soon after 18:00 | room of the "
             "reported size |", "|---|---|---|---|---|---|---|---|"]
    for v, _ in VARIANTS:
        rs = [r for r in rows if r["variant"] == v]
        breaches = [r["breach_after_start_min"] for r in rs
                    if r["breach_after_start_min"] is not None]
        breach = (_span(breaches, fmt=".1f") if len(breaches) == len(rs)
                  else f"{len(breaches)}/{len(rs)} seeds breach")
        necks = sorted({str(r["bottleneck"]) for r in rs if r["bottleneck"]}) or ["—"]
        melting, sized = verdict(rs, room)
        lines.append(
            f"| {v} | {_span([r['listeners_peak'] for r in rs])} | "
            f"{_span([r['listeners_end'] for r in rs])} | {breach} | {', '.join(necks)} | "
            f"{_span([r['join_ratio'] for r in rs], 0.01, '.1f', '%')} | "
            f"{'yes' if melting else 'no'} | {'yes' if sized else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="1/100 of the crowd, short horizon")
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args(argv)
    base = COMMON + (SMOKE if a.smoke else [])
    room = SMOKE_ROOM if a.smoke else REPORTED_ROOM
    seeds = SEEDS[:2] if a.smoke else SEEDS
    fit = fit_audience(base, room)
    t0_s = float(compose(base).arrivals.t0_s)
    t_start = time.perf_counter()
    rows = []
    for s in seeds:
        for v, extra in VARIANTS:
            res = sim.run([*base, *extra, f"arrivals.audience={fit['audience']:g}",
                           f"run.seed={s}"])
            rows.append(row_of(dict(res.summary), t0_s, variant=v, seed=s,
                               audience=fit["audience"]))
            print(f"[fitted] {len(rows)}/{len(seeds) * len(VARIANTS)} "
                  f"({time.perf_counter() - t_start:,.0f} s)", file=sys.stderr, flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "fitted.csv", rows)
    text = table(rows, fit, room)
    update_readme(a.out / "README.md", text, "fitted")
    print(text)


if __name__ == "__main__":
    main()

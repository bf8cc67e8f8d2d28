"""Does the study converge in its tick? The cells that carry its answers, at a finer tick.

    python experiments/x_spaces_2024/convergence.py                  # seed 1, ~25 cells
    python experiments/x_spaces_2024/convergence.py --smoke --out D  # small and fast, into D

Every run of ``run.py`` is cohort mode at the 0.1 s tick that ``run.resolution_s=auto``
picks (50 ticks per 5 s client timeout). This script reruns, on seed 1, the cells the
study's answers rest on: the six counterfactuals, every run of the board's question
(``hypotheses``), the sweep's cells next to a threshold (the 12M boundary, the 100k rps
flood at the reported audience) and deadline propagation on the crowd alone, the lever
that moved most with the tick on earlier engines. Each reruns with the overrides that
``results.json`` records for it, at ``run.resolution_s`` four times finer (0.025 s),
through ``run.py``'s ``one_run``. It writes ``convergence.csv`` (each cell at both
ticks) and the README's convergence block: per cell the joined share, the first breach,
the recovery, the minutes "not available" at 17:00 and the listeners at the two
reported counts, at both ticks, and the verdicts (SLO met, bottleneck, "not available"
at 17:00) that differ. The hypotheses' verdicts are ``run.py``'s, judged per seed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone
sys.path.insert(0, str(HERE))

from run import one_run  # noqa: E402

from experiments.study import update_readme, write_csv  # noqa: E402

FINE_TICK_S = 0.025  # four times finer than the 0.1 s auto picks for every run here
SEED = 1
# (group, label) of the sweep and lever cells checked; every counterfactual and every
# hypotheses run of the seed is checked too.
CELLS = [("sweep", "12M, 300k rps"), ("sweep", "12M, 1000k rps"),
         ("sweep", "1.1M, 100k rps"), ("sweep", "2M, 100k rps"),
         ("lever", "deadline propagation (join drops expired)")]
WHOLE_GROUPS = ("counterfactual", "hypotheses")
# The figures compared, and the verdicts that must not differ.
FIGURES = ["join_ratio", "first_breach_s", "recovered_s", "unavailable_1700_min",
           "listeners_start", "listeners_later", "join_p99_s"]
VERDICTS = ["slo_met", "bottleneck", "unavailable_1700"]
SMOKE = ["arrivals.audience=80000", "architecture.stations.join.max_rate_rps=50",
         "run.horizon_s=1500", "run.metrics_tick_s=10"]
SMOKE_TICK_S = 0.5  # --smoke: the coarse tick it checks against 1 s


def chosen(runs: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The rows of ``results.json`` this check reruns, in the file's order, one per
    distinct scenario (a lever row can repeat a counterfactual's)."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for r in runs:
        if r.get("seed") != seed or not (r["group"] in WHOLE_GROUPS
                                         or (r["group"], r["label"]) in CELLS):
            continue
        key = tuple(r["overrides"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _fine(job: tuple[list[str], list[str], float]) -> dict[str, Any]:
    overrides, smoke, tick = job
    return one_run((tuple(overrides), (*smoke, f"run.resolution_s={tick:g}"), False))


def kept_fine(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finer tick's figures of ``rows`` as a ``convergence.csv`` recorded them (a cell
    it does not hold is an error)."""
    def keyed(items: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        """(group, label, n): the n-th cell of that label (a lever runs on two cells)."""
        seen: dict[tuple[str, str], int] = {}
        out = []
        for r in items:
            n = seen[(r["group"], r["label"])] = seen.get((r["group"], r["label"]), -1) + 1
            out.append((r["group"], r["label"], n))
        return out
    with path.open() as fh:
        recs = list(csv.DictReader(fh))
    kept = dict(zip(keyed(recs), recs, strict=True))
    out = []
    for key, r in zip(keyed(rows), rows, strict=True):
        k = kept.get(key)
        if k is None:
            raise SystemExit(f"--reuse-fine: {path} holds no cell {r['group']}: {r['label']}")
        out.append({"tick_s": float(k["tick_s_fine"]),
                    **{f: _parse(k[f"{f}_fine"]) for f in [*FIGURES, *VERDICTS]}})
    return out


def _parse(text: str) -> Any:
    """A CSV cell back to the value ``one_run`` gave (None, a bool, a number or text)."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def compare(rows: list[dict[str, Any]], fine: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per cell: its figures and verdicts at both ticks, and which differ."""
    out = []
    for r, f in zip(rows, fine, strict=True):
        rec: dict[str, Any] = {"group": r["group"], "label": r["label"], "seed": r["seed"],
                               "tick_s": r["tick_s"], "tick_s_fine": f["tick_s"]}
        for k in [*FIGURES, *VERDICTS]:
            rec[k], rec[f"{k}_fine"] = r.get(k), f.get(k)
        rec["verdicts_differ"] = ",".join(k for k in VERDICTS if r.get(k) != f.get(k))
        out.append(rec)
    return out


def _num(x: Any, fmt: str) -> str:
    return "—" if x is None else format(x, fmt)


def table(recs: list[dict[str, Any]]) -> str:
    """The README block: each cell at the study's tick and the finer one."""
    head = ["cell", "joined", "first breach (s)", "recovery (s)", "not available at 17:00 "
            "(min)", "listeners at 17:00 / 18:40", "verdicts that differ"]
    coarse, fine = recs[0]["tick_s"], recs[0]["tick_s_fine"]
    lines = [f"Seed {recs[0]['seed']}; each cell as `{coarse:g} s → {fine:g} s`.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in recs:
        def pair(k: str, fmt: str, scale: float = 1.0, rr: dict[str, Any] = r) -> str:
            a, b = rr[k], rr[f"{k}_fine"]
            return (f"{_num(None if a is None else a * scale, fmt)} → "
                    f"{_num(None if b is None else b * scale, fmt)}")
        counts = (f"{pair('listeners_start', ',.0f')} / "
                  f"{pair('listeners_later', '.2f', 1e-6)}M")
        lines.append(f"| {r['group']}: {r['label']} | {pair('join_ratio', '.2f', 100)}% | "
                     f"{pair('first_breach_s', '.0f')} | {pair('recovered_s', '.0f')} | "
                     f"{pair('unavailable_1700_min', '.1f')} | {counts} | "
                     f"{r['verdicts_differ'] or 'none'} |")
    worst = max(abs((r["join_ratio"] or 0) - (r["join_ratio_fine"] or 0)) for r in recs)
    flips = [r for r in recs if r["verdicts_differ"]]
    lines += ["", f"{len(recs)} cells; joined share within {worst * 100:.2f} points; "
              f"{len(flips)} with a verdict that differs."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="three cells at a small audience, 0.5 s against 1 s")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--reuse-fine", type=Path, default=None, metavar="CSV",
                    help="take the finer tick's figures from this convergence.csv (the same "
                         "cells) instead of running them: to compare a rerun's results.json")
    a = ap.parse_args(argv)
    runs = json.loads((HERE / "results.json").read_text())["runs"]
    rows = chosen(runs, SEED)
    smoke, tick = ([], FINE_TICK_S) if not a.smoke else (SMOKE, SMOKE_TICK_S)
    if a.smoke:  # the same cells, small: both ticks run here
        rows = [{**r, **one_run((tuple(r["overrides"]), (*smoke, "run.resolution_s=1"),
                                 False))} for r in rows[:3]]
    t0 = time.perf_counter()
    if a.reuse_fine is not None:
        fine = kept_fine(a.reuse_fine, rows)
    else:
        with ProcessPoolExecutor(max_workers=a.jobs) as ex:
            fine = list(ex.map(_fine, [(r["overrides"], smoke, tick) for r in rows]))
    recs = compare(rows, fine)
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "convergence.csv", recs)
    text = table(recs)
    update_readme(a.out / "README.md", text, "convergence")
    print(text)
    print(f"[convergence] {len(recs)} cells in {time.perf_counter() - t0:,.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()

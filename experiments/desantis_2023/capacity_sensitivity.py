"""Does the capacity answer hold under the assumptions no source gives?

    python experiments/desantis_2023/capacity_sensitivity.py               # the check
    python experiments/desantis_2023/capacity_sensitivity.py --smoke --out D  # tiny, into D

``run.py`` finds the capacity that would have held at the reference audience (0.5M) on
the assumed crowd, sessions, client timeout and SLO: the smallest value of each raised
knob that holds in every replication (``failure_points.csv``, ``min_holding``: the room
key's write rate and the fanout servers). This script runs that answer, both knobs
together, and the answer with a ×1.5 margin (each knob ×1.5, servers rounded up), under
each assumption of ``run.py``'s sensitivity step moved either side of its value (its
``VARIANTS``; the exact-mode row there is a convergence check, not an assumption, and is
left out), on the study's five seeds, and says on how many seeds the SLO holds and,
where it breaks, which tier the seeds name. Writes ``capacity_sensitivity.csv`` (one row
per variant, level and seed) and the README's ``capacity_sensitivity`` block.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for experiments.study, from a clone

from experiments.study import held_cell, summary_of, update_readme, write_csv  # noqa: E402

MARGIN = 1.5


def study() -> ModuleType:
    """``run.py`` of this study, under a name of its own."""
    spec = importlib.util.spec_from_file_location("desantis_2023_run", HERE / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def levels(fp_rows: list[dict[str, str]],
           base: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The answer and the answer with the margin, as overrides: each knob at the ratio
    of its ``min_holding`` to the study's baseline, applied to ``base`` (the baseline of
    the system run here: ``--smoke`` runs a scaled-down one), whole numbers rounded up."""
    answer: dict[str, Any] = {}
    margin: dict[str, Any] = {}
    for r in fp_rows:
        tier, knob = r["tier"], r["knob"]
        ratio = float(r["min_holding"]) / float(r["baseline"])
        value = float(base[tier][knob]) * ratio
        key = f"architecture.stations.{tier}.{knob}"
        whole = knob == "instances"
        answer[key] = math.ceil(value - 1e-9) if whole else round(value, 3)
        margin[key] = math.ceil(value * MARGIN - 1e-9) if whole else round(value * MARGIN, 3)
    return [("the answer", answer), (f"the answer ×{MARGIN:g}", margin)]


def table(rows: list[dict[str, Any]], level_names: list[str]) -> str:
    """The README block: per variant and level, the seeds that hold and the tiers named."""
    seeds = sorted({r["seed"] for r in rows})
    head = ["variant", *(f"{n}: SLO held on seeds (tiers named where not)"
                         for n in level_names)]
    lines = [f"Seeds {', '.join(map(str, seeds))}, audience {rows[0]['audience']:,}; "
             + "; ".join(f"{n}: " + ", ".join(f"`{k.split('.', 2)[2]}={v}`"
                                             for k, v in rows_level(rows, n).items())
                         for n in level_names) + ".", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in dict.fromkeys(r["variant"] for r in rows):
        cells = []
        for n in level_names:
            rs = [r for r in rows if r["variant"] == v and r["level"] == n]
            cells.append(held_cell(rs))
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def rows_level(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The knob overrides of level ``name`` as the rows record them."""
    r = next(r for r in rows if r["level"] == name)
    return {k[len("knob:"):]: v for k, v in r.items() if k.startswith("knob:")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="run.py's --smoke system, 2 seeds, 2 variants")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    mod = study()
    common, _, reference, _, _, seeds = mod.settings(a.smoke)
    cfg = mod.sim.to_config(mod.compose(mod.args_of(common)))
    base = {n: {"instances": st.instances, "max_rate_rps": st.max_rate_rps}
            for n, st in cfg.architecture.stations.items()}
    with (HERE / "failure_points.csv").open() as fh:
        fp_rows = list(csv.DictReader(fh))
    lv = levels(fp_rows, base)
    variants = [("reference", None, None),
                *((n, k, v) for n, k, v in mod.VARIANTS if k != "run.resolution_s")]
    if a.smoke:  # the reference and the first two variants
        variants = variants[:3]
    plan = [(name, key, value, lname, over, seed)
            for name, key, value in variants for lname, over in lv for seed in seeds]
    jobs = [mod.args_of({**common, "arrivals.audience": reference, **over,
                         **({key: value} if key else {}), "run.seed": seed})
            for _, key, value, _, over, seed in plan]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=a.jobs) as ex:
        sums = list(ex.map(summary_of, jobs))
    rows = [{**mod.row_of(s, variant=name, level=lname, audience=reference, seed=seed),
             **{f"knob:{k}": v for k, v in over.items()}}
            for (name, _, _, lname, over, seed), s in zip(plan, sums, strict=True)]
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "capacity_sensitivity.csv", rows)
    text = table(rows, [n for n, _ in lv])
    update_readme(a.out / "README.md", text, "capacity_sensitivity")
    print(text)
    print(f"[capacity_sensitivity] {len(rows)} runs in {time.perf_counter() - t0:,.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()

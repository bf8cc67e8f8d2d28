"""The launch_risk study: how likely is the X Spaces launch to fail, and what fixes it?

    python experiments/launch_risk/run.py                  # the full study (see README)
    python experiments/launch_risk/run.py --smoke --out D   # a small, fast version into D
    python experiments/launch_risk/run.py hydra/launcher=ray   # the same on Ray

``experiment=x_spaces_2024`` at the audience reported that evening, not the 8M of the
platform's test, under stated beliefs about what nobody knew before the start: how many
come, how fast they react to the push, and how large the attack is. Each variant (the
preset, then changes a review could make) is one risk study, ``sim -m
hydra/sweeper=risk`` with the same beliefs, design and seed (the same samples for every
variant: common random numbers), run through the configured launcher (joblib here;
extra arguments such as ``hydra/launcher=ray`` are passed on). Each study's directory
(``variants/<name>/``) holds its ``risk.json`` and its report; the study writes
``results.csv`` and ``results.json`` (one row per variant: P(fail), its interval, the
input that matters most, the verdict against a 5% limit) and ``findings.md``, which also
replaces the block between the ``results`` markers of README.md when the output folder
is this folder.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing

from experiments.study import update_readme, write_csv  # noqa: E402

MAX_P_FAIL = 0.05
# The beliefs (README, Inputs): config key -> distribution.
BELIEFS = {
    "arrivals.audience": "loguniform(1e5,1.5e6)",
    "arrivals.reaction_median_s": "lognormal(60,0.7)",
    "arrivals.push_window_s": "uniform(60,600)",
    "attack.vectors.l7_join_flood.rate_rps": "triangular(0,0,1e6)",
}
SMOKE_BELIEFS = {**BELIEFS, "arrivals.audience": "loguniform(1e4,4e4)",
                 "attack.vectors.l7_join_flood.rate_rps": "triangular(0,0,2e5)"}
# Ten samples a job: the jobs, and so a variant's fingerprint, do not depend on how many
# workers the launcher has, so a study stopped on one machine resumes on another.
BASE = ["experiment=x_spaces_2024", "run.horizon_s=2400", "run.progress=false",
        "hydra.sweeper.batch=10"]
SMOKE_BASE = ["experiment=x_spaces_2024", "run.horizon_s=1200", "run.progress=false"]
EDGE_FOR_FLOOD = ["architecture.stations.edge.instances=100",
                  "architecture.stations.edge.rate_limit_rps=1500000"]
BINOMIAL = ["slo.success_test=binomial", "slo.success_confidence=0.95"]
# (variant, overrides): the preset, then changes a launch review could make.
VARIANTS: list[tuple[str, list[str]]] = [
    ("the preset", []),
    ("WAF at the edge", ["mitigation=waf"]),
    ("room key sharded 4x + WAF", ["architecture.stations.join.max_rate_rps=20000",
                                   "mitigation=waf"]),
    ("waiting room + WAF", ["architecture.waiting_room.enabled=true",
                            "architecture.waiting_room.admit_rps=4000",
                            "architecture.waiting_room.burst=4000", "mitigation=waf"]),
    # The edge sized for the flood at the top of its belief: 1M rps at 4.5 ms of edge
    # work each (4 ms service + the WAF's 0.5 ms) keeps 4,500 workers busy, 70% of
    # 100 x 64; the rate limit above the flood plus the crowd's peak.
    ("edge sized for the flood + WAF", [*EDGE_FOR_FLOOD, "mitigation=waf"]),
    ("edge sized for the flood + room key sharded 4x + WAF",
     [*EDGE_FOR_FLOOD, "architecture.stations.join.max_rate_rps=20000", "mitigation=waf"]),
    # The same two, each SLO window's share judged by a binomial test (slo.success_test):
    # two failures among the lobby's 100-150 attempts are noise, not a failed launch.
    ("edge sized for the flood + WAF, binomial SLO test",
     [*EDGE_FOR_FLOOD, "mitigation=waf", *BINOMIAL]),
    ("edge sized for the flood + room key sharded 4x + WAF, binomial SLO test",
     [*EDGE_FOR_FLOOD, "architecture.stations.join.max_rate_rps=20000", "mitigation=waf",
      *BINOMIAL]),
]
SAMPLES, SMOKE_SAMPLES = 200, 4


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def command(variant: list[str], beliefs: dict[str, str], base: list[str], samples: int,
            out: Path, extra: list[str]) -> list[str]:
    """The ``sim -m hydra/sweeper=risk`` command of one variant."""
    inputs = [f'hydra.sweeper.inputs.{k}="{v}"' for k, v in beliefs.items()]
    return [sys.executable, "-m", "sim", "-m", "hydra/sweeper=risk", *inputs,
            f"hydra.sweeper.samples={samples}", "hydra.sweeper.seed=1", *base, *variant,
            f"hydra.sweep.dir={out}", *extra]


def run_variant(name: str, cmd: list[str]) -> dict[str, Any]:
    """Run one variant's risk study (resuming what its directory holds) and read it."""
    out = Path(next(a for a in cmd if a.startswith("hydra.sweep.dir=")).split("=", 1)[1])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 and not (out / "risk.json").is_file():
        raise SystemExit(f"[launch_risk] {name} failed:\n{proc.stderr[-2000:]}")
    risk = json.loads((out / "risk.json").read_text())
    lo, hi = risk["interval"]
    sens = risk["sensitivity"]
    decision = "NO VERDICT" if not risk["finished"] or risk["not_judged"] else (
        "GO" if hi < MAX_P_FAIL else "NO-GO")
    print(f"[launch_risk] {name}: {risk['text']} ({time.perf_counter() - t0:,.0f} s)",
          file=sys.stderr, flush=True)
    return {"variant": name, "p_fail": risk["p_fail"], "low": lo, "high": hi,
            "failed": risk["failed"], "judged": risk["judged"], "samples": risk["samples"],
            "not_judged": risk["not_judged"], "errors": risk["errors"],
            "driver": sens["ranking"][0] if sens["ranking"] and 0 < risk["failed"]
            < risk["judged"] else None,  # nothing to explain when failure never varies
            "ranking": " > ".join(sens["ranking"]), "measure": sens["method"],
            "decision": decision, "dir": str(out)}


def findings(rows: list[dict[str, Any]], beliefs: dict[str, str], samples: int) -> str:
    """The results as Markdown: one row per variant, then what brings P(fail) under 5%."""
    lines = [f"{samples} samples per variant (Latin hypercube, seed 1, the same samples for "
             "every variant), beliefs: " + ", ".join(f"`{k}` ~ `{v}`"
                                                   for k, v in beliefs.items()) + ".", "",
             "| variant | P(fail) | 95% interval | failed / judged | drives it most | verdict "
             f"(limit {MAX_P_FAIL:.0%}) |", "|---|---|---|---|---|---|"]
    for r in rows:
        p = "—" if r["p_fail"] is None else f"{r['p_fail']:.3f}"
        lines.append(f"| {r['variant']} | {p} | {r['low']:.3f} to {r['high']:.3f} | "
                     f"{r['failed']} / {r['judged']} | {r['driver'] or '—'} | "
                     f"{r['decision']} |")
    go = [r["variant"] for r in rows if r["decision"] == "GO"]
    lines += ["", "Under the 5% limit (upper bound of the interval): "
              + (", ".join(go) if go else "none of the variants") + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="4 samples per variant, two variants, 20-40k listeners, 1200 s")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--samples", type=int, default=None)
    args, extra = ap.parse_known_args(argv)
    beliefs = SMOKE_BELIEFS if args.smoke else BELIEFS
    base = SMOKE_BASE if args.smoke else BASE
    samples = args.samples or (SMOKE_SAMPLES if args.smoke else SAMPLES)
    variants = VARIANTS[:2] if args.smoke else VARIANTS
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows = [run_variant(name, command(ov, beliefs, base, samples,
                                      out / "variants" / slug(name), extra))
            for name, ov in variants]
    write_csv(out / "results.csv", rows)
    (out / "results.json").write_text(json.dumps(
        {"meta": {"beliefs": beliefs, "base": base, "samples": samples,
                  "max_p_fail": MAX_P_FAIL, "variants": dict(variants)}, "rows": rows},
        indent=1) + "\n")
    text = findings(rows, beliefs, samples)
    (out / "findings.md").write_text(text)
    if out == HERE:
        update_readme(HERE / "README.md", text)
    print(f"[launch_risk] wrote {out / 'findings.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()

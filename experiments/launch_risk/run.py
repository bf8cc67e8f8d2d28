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
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing

from experiments.study import summary_of, update_readme, write_csv  # noqa: E402
from sim.analysis.risk import wilson  # noqa: E402

MAX_P_FAIL = 0.05
# The beliefs (README, Inputs): config key -> distribution. The audience is a factor of
# two either way around the 2.0M that x_spaces_2024's fit to the two reported counts of
# listeners needs (2.4M for the reported peak).
BELIEFS = {
    "arrivals.audience": "loguniform(1e6,4e6)",
    "arrivals.reaction_median_s": "lognormal(60,0.7)",
    "arrivals.push_window_s": "uniform(60,600)",
    "attack.vectors.l7_join_flood.rate_rps": "triangular(0,0,1e6)",
}
SMOKE_BELIEFS = {**BELIEFS, "arrivals.audience": "loguniform(1e4,4e4)",
                 "attack.vectors.l7_join_flood.rate_rps": "triangular(0,0,2e5)"}
# The two architectures: listeners on HLS over a CDN (what the public traces say Spaces
# listeners get) and the SFU slots with a hot room key (x_spaces_2024's preset).
HLS, SFU = "experiment=x_spaces_2024_hls", "experiment=x_spaces_2024"
# The fit's sessions: three hours on average (x_spaces_2024, "Held to the reported counts").
SESSIONS = "clients.session.mean_s=10800"
# Ten samples a job: the jobs, and so a variant's fingerprint, do not depend on how many
# workers the launcher has, so a study stopped on one machine resumes on another.
BASE = [SESSIONS, "run.horizon_s=2400", "run.progress=false", "hydra.sweeper.batch=10"]
SMOKE_BASE = [SESSIONS, "run.horizon_s=1200", "run.progress=false"]
EDGE_FOR_FLOOD = ["architecture.stations.edge.instances=100",
                  "architecture.stations.edge.rate_limit_rps=1500000"]
SHARDED_KEY = "architecture.stations.join.max_rate_rps=20000"
BINOMIAL = ["slo.success_test=binomial", "slo.success_confidence=0.95"]
SUCCESS_MIN = 0.99  # slo.join_success_min of the presets
# (variant, overrides): the HLS base, then changes a launch review could make, then the
# previous study's best variant on SFU slots at this audience.
VARIANTS: list[tuple[str, list[str]]] = [
    ("HLS over a CDN", [HLS]),
    ("HLS + WAF at the edge", [HLS, "mitigation=waf"]),
    # The edge sized for the flood at the top of its belief: 1M rps at 4.5 ms of edge
    # work each (4 ms service + the WAF's 0.5 ms) keeps 4,500 workers busy, 70% of
    # 100 x 64; the rate limit above the flood plus the crowd's peak. Each SLO window's
    # share is judged by a binomial test (slo.success_test): two failures among the
    # lobby's 100-150 attempts are noise, not a failed launch. The same samples judged
    # as a ratio are read off these runs (ratio_judged).
    ("HLS + edge sized for the flood + WAF, binomial SLO test",
     [HLS, *EDGE_FOR_FLOOD, "mitigation=waf", *BINOMIAL]),
    ("SFU slots + edge sized for the flood + room key sharded 4x + WAF, binomial SLO test",
     [SFU, *EDGE_FOR_FLOOD, SHARDED_KEY, "mitigation=waf", *BINOMIAL]),
]
SMOKE_VARIANTS = [VARIANTS[0], VARIANTS[-1]]  # one of each architecture
SAMPLES, SMOKE_SAMPLES = 200, 4
# The convergence check: per variant, the samples nearest to flipping rerun at a tick four
# times finer than the 0.1 s that run.resolution_s=auto picks for them.
CHECK_TICK_S, CHECK_PER_VARIANT, SMOKE_CHECK = 0.025, 4, 1


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def command(variant: list[str], beliefs: dict[str, str], base: list[str], samples: int,
            out: Path, extra: list[str]) -> list[str]:
    """The ``sim -m hydra/sweeper=risk`` command of one variant."""
    inputs = [f'hydra.sweeper.inputs.{k}="{v}"' for k, v in beliefs.items()]
    return [sys.executable, "-m", "sim", "-m", "hydra/sweeper=risk", *inputs,
            f"hydra.sweeper.samples={samples}", "hydra.sweeper.seed=1", *base, *variant,
            f"hydra.sweep.dir={out}", *extra]


def judged_jobs(risk: dict[str, Any]) -> list[dict[str, Any]]:
    """The samples of a variant's ``risk.json`` that ran and were judged."""
    return [j for j in risk["jobs"] if j.get("figures") and j.get("error") is None
            and j.get("not_judged") is None]


def ratio_judged(risk: dict[str, Any], success_min: float = SUCCESS_MIN) -> tuple[int, int]:
    """(failed, judged) of a binomial-test variant's samples judged instead by the share
    itself: a sample fails if it failed, or if some judged window's success share is
    under ``success_min`` (the ratio test is the stricter, and the windows it judges and
    their shares are the same under either test)."""
    judged = judged_jobs(risk)
    failed = sum(bool(j["failed"]) or (j["figures"].get("slo.worst_success_ratio") is not None
                                       and j["figures"]["slo.worst_success_ratio"] < success_min)
                 for j in judged)
    return failed, len(judged)


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
    ratio: dict[str, Any] = {}
    if "slo.success_test=binomial" in cmd:
        f, n = ratio_judged(risk)
        lo_r, hi_r = wilson(f, n, risk["confidence"]) if n else (0.0, 1.0)
        ratio = {"ratio_failed": f, "ratio_low": lo_r, "ratio_high": hi_r}
    return {"variant": name, "p_fail": risk["p_fail"], "low": lo, "high": hi,
            "failed": risk["failed"], "judged": risk["judged"], "samples": risk["samples"],
            "not_judged": risk["not_judged"], "errors": risk["errors"],
            "driver": sens["ranking"][0] if sens["ranking"] and 0 < risk["failed"]
            < risk["judged"] else None,  # nothing to explain when failure never varies
            "ranking": " > ".join(sens["ranking"]), "measure": sens["method"],
            "decision": decision, "dir": str(out), **ratio}


def nearest_the_line(risk: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """The ``k`` judged samples of a variant whose verdict is nearest to flipping.

    Where some samples fail and some hold, "nearest" is along the input that drives the
    verdict most (the first of the sensitivity ranking): samples ordered by it, each
    scored by how many places away the nearest sample of the other verdict is, so the
    samples either side of each change of verdict come first. Ties, and a variant whose
    samples all fail or all hold, go by the worst SLO window's share of failed attempts
    nearest the 1% the SLO allows, as a ratio either way."""
    def margin(job: dict[str, Any]) -> float:
        ratio = job["figures"].get("slo.worst_success_ratio")
        return math.inf if ratio is None else abs(
            math.log(max(1.0 - ratio, 1e-6) / (1.0 - SUCCESS_MIN)))
    judged = judged_jobs(risk)
    ranking = (risk.get("sensitivity") or {}).get("ranking") or []
    gap = {j["sample"]: 0 for j in judged}
    if ranking and 0 < sum(bool(j["failed"]) for j in judged) < len(judged):
        order = sorted(judged, key=lambda j: (j["inputs"][ranking[0]], j["sample"]))
        for i, j in enumerate(order):
            other = [abs(i - m) for m, o in enumerate(order) if o["failed"] != j["failed"]]
            gap[j["sample"]] = min(other)
    return sorted(judged, key=lambda j: (gap[j["sample"]], margin(j), j["sample"]))[:k]


def tick_check(variants: list[tuple[str, list[str]]], rows: list[dict[str, Any]],
               base: list[str], k: int, jobs: int) -> list[dict[str, Any]]:
    """Rerun each variant's ``k`` samples nearest the line at ``CHECK_TICK_S``; one row
    per sample with its verdict at both ticks."""
    plan = []
    for (name, ov), row in zip(variants, rows, strict=True):
        risk = json.loads((Path(row["dir"]) / "risk.json").read_text())
        for job in nearest_the_line(risk, k):
            over = [o for o in base if not o.startswith("hydra.")] + ov + job["overrides"]
            plan.append((name, job, over))
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        finer = list(ex.map(summary_of, [[*over, f"run.resolution_s={CHECK_TICK_S}"]
                                         for _, _, over in plan]))
    return [{"variant": name, "sample": job["sample"], **job["inputs"],
             "failed": job["failed"], "failed_finer": not f["slo"]["met"],
             "worst_success_ratio": job["figures"]["slo.worst_success_ratio"],
             "worst_success_ratio_finer": f["slo"]["worst_success_ratio"],
             "join_ratio": job["figures"]["legit.join_ratio"],
             "join_ratio_finer": f["legit"]["join_ratio"],
             "tick_s_finer": f["resolution"]["tick_s"]}
            for (name, job, _), f in zip(plan, finer, strict=True)]


def check_text(checks: list[dict[str, Any]]) -> list[str]:
    """The convergence check as Markdown lines."""
    if not checks:
        return []
    flips = [c for c in checks if c["failed"] != c["failed_finer"]]
    worst = max(abs(c["join_ratio"] - c["join_ratio_finer"]) for c in checks)
    per = len(checks) // len({c["variant"] for c in checks})
    return ["", f"Convergence: the {per} samples of each variant nearest the line (either "
            "side of a change of verdict along the input that drives it, or the worst SLO "
            f"window's failed share nearest 1%) rerun at a {CHECK_TICK_S:g} s tick: "
            f"{len(flips)} of {len(checks)} verdicts flip"
            + ("" if not flips else " (" + "; ".join(
                f"{c['variant']}, sample {c['sample']}: "
                f"{'failed' if c['failed'] else 'held'} → "
                f"{'failed' if c['failed_finer'] else 'held'}" for c in flips) + ")")
            + f"; joined share within {worst * 100:.2f} points (`tick_check.csv`)."]


def findings(rows: list[dict[str, Any]], beliefs: dict[str, str], samples: int,
             checks: list[dict[str, Any]]) -> str:
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
    for r in rows:
        if r.get("ratio_failed") is not None:
            lines.append(f"\nJudged as a ratio instead (each window's share against 99%, "
                         f"the same runs): {r['variant']}: {r['ratio_failed']} / "
                         f"{r['judged']} fail, {r['ratio_failed'] / r['judged']:.3f} "
                         f"[{r['ratio_low']:.3f} to {r['ratio_high']:.3f}], "
                         + ("GO." if r["ratio_high"] < MAX_P_FAIL else "NO-GO."))
    lines += check_text(checks)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="4 samples per variant, two variants, 10-40k listeners, 1200 s")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--check", type=int, default=None,
                    help=f"samples per variant rerun at a {CHECK_TICK_S:g} s tick "
                         f"(default {CHECK_PER_VARIANT}; {SMOKE_CHECK} with --smoke)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="processes for the convergence check")
    args, extra = ap.parse_known_args(argv)
    beliefs = SMOKE_BELIEFS if args.smoke else BELIEFS
    base = SMOKE_BASE if args.smoke else BASE
    samples = args.samples or (SMOKE_SAMPLES if args.smoke else SAMPLES)
    variants = SMOKE_VARIANTS if args.smoke else VARIANTS
    check = args.check if args.check is not None else (
        SMOKE_CHECK if args.smoke else CHECK_PER_VARIANT)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows = [run_variant(name, command(ov, beliefs, base, samples,
                                      out / "variants" / slug(name), extra))
            for name, ov in variants]
    write_csv(out / "results.csv", rows)
    checks = tick_check(variants, rows, base, check, args.jobs) if check else []
    if checks:
        write_csv(out / "tick_check.csv", checks)
    (out / "results.json").write_text(json.dumps(
        {"meta": {"beliefs": beliefs, "base": base, "samples": samples,
                  "max_p_fail": MAX_P_FAIL, "variants": dict(variants),
                  "check_tick_s": CHECK_TICK_S}, "rows": rows, "tick_check": checks},
        indent=1) + "\n")
    text = findings(rows, beliefs, samples, checks)
    (out / "findings.md").write_text(text)
    if out == HERE:
        update_readme(HERE / "README.md", text)
    print(f"[launch_risk] wrote {out / 'findings.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()

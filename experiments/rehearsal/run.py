"""Rehearse a launch against a real service: calibrate, predict, then verify.

    python experiments/rehearsal/run.py            # the full rehearsal (about 30 min)
    python experiments/rehearsal/run.py --smoke    # short steps, a few probes, short crowds
    python experiments/rehearsal/run.py --smoke --no-crowd   # constant arrivals only (3 min)
    python experiments/rehearsal/run.py --tables   # no runs: tables again from results.json
    python experiments/rehearsal/run.py --extend rate:105.7:12   # 12 more runs of a step

Needs the ``rehearsal`` extra (Locust, Starlette, uvicorn). In order:

1. **Calibrate**: the testbed (``testbed/``) under a constant load of at most half of its
   nominal capacity; ``sim-calibrate service`` turns its timing log and Locust's CSVs into
   ``config/architecture/testbed.yaml``, beside the clients and the SLO of the rehearsal
   (``config/clients/rehearsal.yaml``, ``config/slo/rehearsal.yaml``: the same values the
   load generator's clients use).
2. **Predict**: the failure-point sweeper searches ``arrivals.rate`` on that preset
   (constant arrivals, each probe as long as a real step, replicated on seeds).
3. **Verify**: real steps of constant load around the prediction, each on a freshly
   started testbed (as every simulated run starts empty), judged by the same SLO
   (``judge``), then a few bisection steps between the last rate that held and the first
   that failed. The simulator is run at every step's rate for the predicted curve.
4. **The flash crowd** (unless ``--no-crowd``): the same for the audience of a flash
   crowd of the testbed's scale (``testbed.loadtest.CROWD``), and ``sim-calibrate
   arrivals`` on the largest crowd's first attempts, to see the curve fitted back.

Writes, in the output folder (this folder by default): ``results.json``
(``predicted_failure_rps`` and its interval, ``measured_failure_rps`` and its bracket,
every step predicted and measured), ``steps.csv``, ``rehearsal.png``, the calibration
(``calibration/``: timing log, Locust CSVs, ``calibration.json``), the sweep
(``predict/``) and each step's files (``steps/``); the summary replaces the block
between the ``results`` markers of README.md when the output folder is this folder.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from scipy import stats  # noqa: E402

from experiments.rehearsal.analyze import step_figures  # noqa: E402
from experiments.rehearsal.judge import judge, read_events  # noqa: E402
from experiments.study import update_readme, write_csv  # noqa: E402
from testbed.clients import DEFAULT_CLIENTS, flash_crowd_rate  # noqa: E402
from testbed.config import TestbedConfig  # noqa: E402
from testbed.config import load as load_testbed  # noqa: E402
from testbed.harness import Testbed, arrivals_per_second, run_locust  # noqa: E402
from testbed.loadtest import CROWD  # noqa: E402

SLO = {"window_s": 30, "join_success_min": 0.99, "join_p99_max_s": 2.0, "min_attempts": 20}
CALIBRATION_SHARE = 0.45  # calibration load, as a share of the nominal capacity
FULL = {"calibrate_s": 60, "step_s": 90, "steps": (0.6, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2),
        "bisect": 2, "replications": 5, "curve_seeds": 5, "rel_tol": 0.01,
        "crowd_s": 90, "crowd_steps": (0.8, 0.9, 1.0, 1.1, 1.25), "real_runs": 3}
CROWD_T0_S = 20.0  # the flash crowd's push, seconds into a step
FOLDERS = {"rate": "steps", "crowd": "crowd"}  # each part's real runs, under the output


def step_arrivals(part: str, value: float) -> dict[str, Any]:
    """The load generator's arrivals for a step of ``part``: constant arrivals at
    ``value`` per second, or the testbed's flash crowd of ``value`` listeners."""
    if part == "rate":
        return {"kind": "constant", "rate": value}
    return {**CROWD, "t0_s": CROWD_T0_S, "audience": value}
SMOKE = {"calibrate_s": 25, "step_s": 35, "steps": (0.5, 1.0, 1.4), "bisect": 0,
         "replications": 2, "curve_seeds": 1, "rel_tol": 0.05,
         "crowd_s": 45, "crowd_steps": (0.5, 1.5), "real_runs": 1}


def nominal_capacity(cfg: TestbedConfig) -> float:
    """Joins per second the testbed's configuration allows (its smallest tier)."""
    visits = {"token_store": 1.0 - cfg.cache_hit_ratio}
    caps = [t.workers / t.service.mean_s / max(visits.get(n, 1.0), 1e-9)
            for n, t in cfg.tiers.items()]
    return min([*caps, cfg.room_key_rps])


def calibrated_capacity(arch: dict[str, Any]) -> float:
    """The same for a calibrated architecture (visit shares from its routes)."""
    visits = {arch["entry"]: 1.0}
    for a, r in arch["routes"].items():  # routes are written in the order requests go
        for b, p in r.items():
            visits[b] = visits.get(b, 0.0) + visits.get(a, 0.0) * p
    caps = []
    for name, st in arch["stations"].items():
        v = max(visits.get(name, 1.0), 1e-9)
        caps.append(st["workers_per_instance"] * st["instances"] / st["service"]["mean_s"] / v)
        if st.get("max_rate_rps"):
            caps.append(st["max_rate_rps"] / v)
    return min(caps)


def sim_clients() -> dict[str, Any]:
    """The load generator's clients, as the simulator's ``clients`` preset."""
    c = json.loads(json.dumps(DEFAULT_CLIENTS))
    c["session"] = {"dist": "lognormal", **c["session"]}
    return {**c, "reconnect": True}


def real_step(arrivals: dict[str, Any], duration_s: float, seed: int, out: Path,
              keep_raw: bool = True) -> dict[str, Any]:
    """One run of real load on a fresh testbed: the SLO verdict, the CPU it took, the
    machine's load when it started, and the tiers' times and the arrivals' burstiness
    (``analyze.step_figures``). Without ``keep_raw`` the timing log is dropped once
    summarised and the clients' events and Locust's history are gzipped."""
    out.mkdir(parents=True, exist_ok=True)
    plan = {"arrivals": arrivals, "duration_s": duration_s, "seed": seed,
            "clients": DEFAULT_CLIENTS, "events": str(out / "events.csv")}
    load = os.getloadavg()[0]
    with Testbed(out / "timing.tsv") as tb:
        cpu0 = tb.cpu_s()
        locust_cpu = run_locust(plan, out, tb.host)
        tb_cpu = tb.cpu_s() - cpu0
    res = judge(read_events(out / "events.csv"), duration_s, SLO)
    res.update({"seed": seed, "testbed_cpu_share": tb_cpu / duration_s,
                "locust_cpu_share": locust_cpu / duration_s, "load_avg_1min": load,
                **{k: v for k, v in step_figures(out).items() if k != "step"}})
    if not keep_raw:
        shrink(out)
    what = ", ".join(f"{k} {v}" for k, v in arrivals.items() if k in ("rate", "audience"))
    print(f"[rehearsal] real {what} (seed {seed}): SLO "
          f"{'met' if res['slo_met'] else 'FAILED'}, join share {res['join_share']:.4f}, "
          f"p99 {res['p99_s']:.3f} s, arrivals' dispersion (20 ms) "
          f"{res['client_dispersion_20ms']}, CPU testbed {res['testbed_cpu_share']:.0%} "
          f"locust {res['locust_cpu_share']:.0%}, load {load:.2f}",
          file=sys.stderr, flush=True)
    return res


def shrink(out: Path) -> None:
    """A run's folder as kept: the timing log (summarised in the run's figures) dropped,
    the clients' events, Locust's history and its log gzipped."""
    (out / "timing.tsv").unlink(missing_ok=True)
    for name in ("events.csv", "locust_stats_history.csv", "locust.log"):
        f = out / name
        if f.exists():
            with f.open("rb") as src, gzip.open(f"{f}.gz", "wb", compresslevel=9) as dst:
                shutil.copyfileobj(src, dst)
            f.unlink()


MEANS = ("p99_s", "join_share", "worst_success_ratio", "worst_p99_s", "arrived", "joined",
         "attempts", "abandoned", "testbed_cpu_share", "locust_cpu_share", "load_avg_1min",
         "client_dispersion_20ms", "join_wait_ms", "join_service_ms")


def real_runs(arrivals: dict[str, Any], duration_s: float, seed: int, runs: int, out: Path,
              first: int = 0) -> dict[str, Any]:
    """``runs`` real runs of one step (the k-th on seed ``seed + 1000 k``, from k =
    ``first``), each on a fresh testbed in ``out/<k>``: ``aggregate`` of them."""
    return aggregate([real_step(arrivals, duration_s, seed + 1000 * k, out / str(k),
                                keep_raw=False) for k in range(first, first + runs)])


def aggregate(each: list[dict[str, Any]]) -> dict[str, Any]:
    """A step from its real runs: it fails where more than half of them fail the SLO (as
    the failure-point sweeper's replications do); its figures are the runs' means, with
    every run kept under ``runs``."""
    runs = len(each)
    failed = sum(not r["slo_met"] for r in each)
    step: dict[str, Any] = {"slo_met": failed <= runs / 2,
                            "slo_met_share": 1 - failed / runs, "real_runs": runs}
    for k in MEANS:
        vals = [r[k] for r in each if r.get(k) is not None]
        step[k] = float(np.mean(vals)) if vals else None
    p99s = [r["p99_s"] for r in each if r["p99_s"] is not None]
    step["p99_range_s"] = [min(p99s), max(p99s)] if p99s else None
    step["runs"] = each
    return step


def calibrate_step(p: dict[str, Any], cfg: TestbedConfig, out: Path) -> dict[str, Any]:
    """Moderate load on the testbed, then sim-calibrate: the scenario's config folder."""
    from sim.calibrate.__main__ import main as sim_calibrate

    rate = round(CALIBRATION_SHARE * nominal_capacity(cfg), 1)
    cal = out / "calibration"
    step = real_step({"kind": "constant", "rate": rate}, p["calibrate_s"], 101, cal)
    (cal / "locust.log").unlink(missing_ok=True)
    conf = out / "config"
    rc = sim_calibrate(["service", "--log", str(cal / "timing.tsv"), "--locust",
                        str(cal / "locust"), "--name", "testbed", "--out", str(conf)])
    if rc != 0:
        raise SystemExit("calibration failed (see the message above)")
    (conf / "calibration.json").replace(cal / "calibration.json")
    for group, body in (("clients", sim_clients()), ("slo", SLO)):
        (conf / group).mkdir(exist_ok=True)
        (conf / group / "rehearsal.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    arch = yaml.safe_load((conf / "architecture" / "testbed.yaml").read_text())
    return {"rate_rps": rate, "step": step, "capacity_rps": calibrated_capacity(arch),
            "nominal_capacity_rps": nominal_capacity(cfg)}


def scenario(horizon_s: float, crowd: bool = False) -> list[str]:
    """The simulator's overrides for a step: constant arrivals, or the testbed's crowd."""
    arrivals = ["arrivals=constant"]
    if crowd:
        arrivals = ["arrivals=flash_crowd", f"arrivals.t0_s={CROWD_T0_S}",
                    *(f"arrivals.{k}={v}" for k, v in CROWD.items() if k != "kind")]
    return ["architecture=testbed", "clients=rehearsal", "slo=rehearsal", *arrivals,
            f"run.horizon_s={horizon_s}", "run.resolution_s=0", "run.report=false",
            "run.progress=false"]


def predict(conf: Path, param: str, bounds: tuple[float, float], over: list[str],
            p: dict[str, Any], out: Path, jobs: int) -> dict[str, Any]:
    """The failure-point sweeper on ``param``: its ``failure_point.json``."""
    cmd = [sys.executable, "-m", "sim", "--config-dir", str(conf), "-m",
           "hydra/sweeper=failure_point", f"hydra.sweeper.param={param}",
           f"hydra.sweeper.low={bounds[0]:.1f}", f"hydra.sweeper.high={bounds[1]:.1f}",
           f"hydra.sweeper.replications={p['replications']}", "hydra.sweeper.direction=up",
           f"hydra.sweeper.rel_tol={p['rel_tol']}", f"hydra.sweep.dir={out}",
           f"hydra.launcher.n_jobs={jobs}", *over]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the failure-point sweep failed:\n{done.stderr[-2000:]}")
    fp: dict[str, Any] = json.loads((out / "failure_point.json").read_text())
    print(f"[rehearsal] predicted failure point of {param}: {fp.get('value')} "
          f"(interval {fp.get('interval')})", file=sys.stderr, flush=True)
    return fp


def sim_point(args: tuple[str, list[str], int]) -> dict[str, Any]:
    """One simulated run (in a worker process)."""
    import sim

    conf, over, seed = args
    s = sim.run([*over, f"run.seed={seed}"], config_dir=conf).summary
    return {"slo_met": bool(s["slo"]["met"]), "p99_s": s["join_latency_s"]["p99"],
            "join_share": s["legit"]["join_ratio"],
            "worst_success_ratio": s["slo"]["worst_success_ratio"],
            "worst_p99_s": s["slo"]["worst_p99_s"]}


def predicted_curve(conf: Path, points: dict[float, list[str]], p: dict[str, Any],
                    jobs: int) -> dict[float, dict[str, Any]]:
    """Per point (its overrides), the simulator's figures: means over ``curve_seeds``."""
    tasks = [(v, (str(conf), over, seed)) for v, over in points.items()
             for seed in range(1, p["curve_seeds"] + 1)]
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        results = list(ex.map(sim_point, [t[1] for t in tasks]))
    out: dict[float, dict[str, Any]] = {}
    for (v, _), res in zip(tasks, results, strict=True):
        out.setdefault(v, {"runs": []})["runs"].append(res)
    for d in out.values():
        runs = d["runs"]
        d["slo_met_share"] = float(np.mean([x["slo_met"] for x in runs]))
        for k in ("p99_s", "join_share", "worst_success_ratio", "worst_p99_s"):
            vals = [x[k] for x in runs if x[k] is not None]
            d[k] = float(np.mean(vals)) if vals else None
    return out


def bracket(steps: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    """The highest value that held below the lowest value that failed."""
    failed = [s["value"] for s in steps if not s["slo_met"]]
    fail = min(failed) if failed else None
    held = [s["value"] for s in steps if s["slo_met"] and (fail is None or s["value"] < fail)]
    return (max(held) if held else None), fail


def verify(values: list[float], arrivals: Any, duration_s: float, bisect: int, runs: int,
           out: Path) -> list[dict[str, Any]]:
    """Real steps at ``values`` (``arrivals(v)``: the plan's curve), ``runs`` real runs
    each, then ``bisect`` steps inside the bracket."""
    def step(v: float, seed: int) -> dict[str, Any]:
        return {"value": v, **real_runs(arrivals(v), duration_s, seed, runs, out / f"{v:g}")}

    steps = [step(v, 200 + i) for i, v in enumerate(values)]
    for i in range(bisect):
        held, fail = bracket(steps)
        if held is None or fail is None:
            break
        steps.append(step(round((held + fail) / 2, 1), 300 + i))
    return sorted(steps, key=lambda s: s["value"])


P99_TOLERANCE = 0.15  # the p99 below the knee, relative to the measured mean


def p99_verdict(predicted: float, runs: list[float]) -> bool | None:
    """Is the predicted p99 within ``P99_TOLERANCE`` of the real one? True where the real
    runs' mean is; False where the 95% Student t interval of that mean lies wholly
    outside the band of real values the prediction would be within tolerance of; None
    where the runs cannot tell (the interval reaches into the band, the mean does not)."""
    lo_ok, hi_ok = predicted / (1 + P99_TOLERANCE), predicted / (1 - P99_TOLERANCE)
    mean = float(np.mean(runs))
    if lo_ok <= mean <= hi_ok:
        return True
    if len(runs) < 2:
        return False
    half = float(stats.t.ppf(0.975, len(runs) - 1) * np.std(runs, ddof=1)
                 / math.sqrt(len(runs)))
    return None if mean - half <= hi_ok and mean + half >= lo_ok else False


def compare(fp: dict[str, Any], steps: list[dict[str, Any]],
            curve: dict[float, dict[str, Any]]) -> dict[str, Any]:
    """The agreement: failure points, and the p99 below the knee, which is where the real
    step held and the simulator met the SLO in every replication (at the knee itself a
    p99 jumps by seconds across a percent of load, so one side of it against the other
    says nothing of the model)."""
    held, fail = bracket(steps)
    measured = (held + fail) / 2 if held is not None and fail is not None else None
    predicted = fp.get("value")
    rel = (predicted - measured) / measured if predicted and measured else None
    below = [s for s in steps if s["slo_met"] and curve[s["value"]]["slo_met_share"] == 1.0
             and s["p99_s"] and curve[s["value"]]["p99_s"] is not None]
    p99_err = {s["value"]: (curve[s["value"]]["p99_s"] - s["p99_s"]) / s["p99_s"]
               for s in below}
    verdicts = {s["value"]: p99_verdict(curve[s["value"]]["p99_s"], [
        r["p99_s"] for r in s.get("runs", [s]) if r.get("p99_s") is not None])
        for s in below}
    within = (None if not verdicts else False if False in verdicts.values()
              else None if None in verdicts.values() else True)
    return {"predicted": predicted, "predicted_interval": fp.get("interval"),
            "measured": measured, "measured_bracket": [held, fail], "relative_error": rel,
            "within_10pct": None if rel is None else abs(rel) <= 0.10,
            "p99_relative_error_below_knee": p99_err,
            "p99_verdict_below_knee": verdicts, "p99_within_15pct": within}


def rate_part(cal: dict[str, Any], p: dict[str, Any], out: Path, jobs: int
              ) -> dict[str, Any]:
    """Predict the failure rate of constant arrivals, then step the real load through it."""
    conf, cap = out / "config", cal["capacity_rps"]
    fp = predict(conf, "arrivals.rate", (0.5 * cap, 1.3 * cap), scenario(p["step_s"]), p,
                 out / "predict", jobs)
    base = fp.get("value") or cap
    steps = verify([round(base * f, 1) for f in p["steps"]],
                   functools.partial(step_arrivals, "rate"), p["step_s"], p["bisect"],
                   p["real_runs"], out / FOLDERS["rate"])
    over = scenario(p["step_s"])
    curve = predicted_curve(conf, {s["value"]: [*over, f"arrivals.rate={s['value']}"]
                                   for s in steps}, p, jobs)
    for s in steps:
        s["predicted"] = {k: v for k, v in curve[s["value"]].items() if k != "runs"}
    return {"agreement": compare(fp, steps, curve), "steps": steps}


def crowd_part(cal: dict[str, Any], p: dict[str, Any], out: Path, jobs: int
               ) -> dict[str, Any]:
    """The same for the flash crowd's audience; and the crowd fitted back from its arrivals."""
    conf, horizon = out / "config", p["crowd_s"]
    per_listener = max(flash_crowd_rate(step_arrivals("crowd", 1.0))(t / 10)
                       for t in range(10 * horizon))
    guess = cal["capacity_rps"] / per_listener
    over = scenario(horizon, crowd=True)
    fp = predict(conf, "arrivals.audience", (0.5 * guess, 1.5 * guess), over, p,
                 out / "predict_crowd", jobs)
    base = fp.get("value") or guess
    steps = verify([float(round(base * f)) for f in p["crowd_steps"]],
                   functools.partial(step_arrivals, "crowd"), horizon, 0, p["real_runs"],
                   out / FOLDERS["crowd"])
    curve = predicted_curve(conf, {s["value"]: [*over, f"arrivals.audience={s['value']}"]
                                   for s in steps}, p, jobs)
    for s in steps:
        s["predicted"] = {k: v for k, v in curve[s["value"]].items() if k != "runs"}
    return {"agreement": compare(fp, steps, curve), "steps": steps,
            "arrivals_fit": fit_back(out / FOLDERS["crowd"] / f"{steps[-1]['value']:g}" / "0",
                                     step_arrivals("crowd", steps[-1]["value"]), horizon)}


def fit_back(step_dir: Path, arrivals: dict[str, Any], horizon: float
             ) -> dict[str, Any]:
    """``sim-calibrate arrivals`` on a real crowd's first attempts per second."""
    from sim.calibrate import CalibrationError, fit_flash_crowd

    counts = arrivals_per_second(step_dir / "events.csv.gz", horizon)
    t = np.array([c[0] for c in counts], dtype=float)
    y = np.array([c[1] for c in counts], dtype=float)
    planned = {k: v for k, v in arrivals.items() if k != "kind"}
    try:
        fit = fit_flash_crowd(t, y, str(step_dir / "events.csv.gz"))
    except CalibrationError as exc:
        return {"planned": planned, "error": str(exc)}
    return {"planned": planned, "fitted": fit.params, "deviance_per_dof": fit.dispersion,
            "max_cumulative_gap": fit.max_cumulative_gap}


def plot(parts: list[tuple[str, dict[str, Any]]], out: Path) -> None:
    fig, axes = plt.subplots(len(parts), 2, figsize=(11, 4.2 * len(parts)), squeeze=False)
    for row, (xlabel, part) in enumerate(parts):
        steps, agree = part["steps"], part["agreement"]
        xs = [s["value"] for s in steps]
        for ax, key, label in ((axes[row][0], "p99_s", "p99 join latency (s)"),
                               (axes[row][1], "join_share", "clients joined / arrived")):
            ax.plot(xs, [s["predicted"][key] for s in steps], "-o", ms=4, label="predicted (sim)")
            ax.plot(xs, [s[key] for s in steps], "-s", ms=4, label="measured (testbed, mean)")
            runs = [(s["value"], r[key]) for s in steps for r in s.get("runs", [])
                    if r.get(key) is not None]
            if runs:
                ax.plot(*zip(*runs, strict=True), "x", ms=4, color="C1", alpha=0.6,
                        label="measured (each run)")
            ax.set(xlabel=xlabel, ylabel=label)
            lo, hi = agree["predicted_interval"] or (None, None)
            if lo is not None and hi is not None:
                ax.axvspan(lo, hi, color="C0", alpha=0.15)
            for v, c, name in ((agree["predicted"], "C0", "predicted failure"),
                               (agree["measured"], "C1", "measured failure")):
                if v is not None:
                    ax.axvline(v, color=c, ls="--", lw=1, label=name)
            ax.grid(alpha=0.3)
        axes[row][0].axhline(SLO["join_p99_max_s"], color="grey", lw=0.8)
        axes[row][0].set_yscale("log")
        axes[row][0].legend(fontsize=8)
    fig.suptitle("Rehearsal: the calibrated simulator against the testbed")
    fig.tight_layout()
    fig.savefig(out / "rehearsal.png", dpi=110)
    plt.close(fig)


P99_WORDS = {True: "met", False: "not met", None: "the real runs cannot tell"}


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def part_text(part: dict[str, Any], unit: str) -> list[str]:
    a = part["agreement"]
    lo, hi = a["predicted_interval"] or (None, None)
    rel = a["relative_error"]
    lines = [
        f"- predicted failure point: **{_fmt(a['predicted'], '.1f')}** {unit} (95% interval "
        f"{_fmt(lo, '.1f')} to {_fmt(hi, '.1f')})",
        f"- measured failure point: **{_fmt(a['measured'], '.1f')}** {unit} (held at "
        f"{_fmt(a['measured_bracket'][0], '.1f')}, failed at "
        f"{_fmt(a['measured_bracket'][1], '.1f')})",
        f"- prediction error: {_fmt(None if rel is None else 100 * rel, '+.1f')}% (target "
        f"within 10%: {'met' if a['within_10pct'] else 'not met'}); p99 below the knee "
        f"within 15%: {P99_WORDS[a['p99_within_15pct']]}"
        + ("" if not a.get("p99_verdict_below_knee") else " (" + ", ".join(
            f"{v:g}: {100 * a['p99_relative_error_below_knee'][v]:+.0f}% "
            f"{P99_WORDS[ok]}" for v, ok in a["p99_verdict_below_knee"].items()) + ")"),
        "",
        f"| {unit} | SLO sim | SLO real | p99 sim (s) | p99 real (s) [runs' range] | "
        "joined sim | joined real | worst success sim | worst success real | "
        "dispersion | CPU testbed | CPU locust | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in part["steps"]:
        pr, n = s["predicted"], s.get("real_runs", 1)
        met = round(s.get("slo_met_share", float(s["slo_met"])) * n)
        spread = (f" [{_fmt(s['p99_range_s'][0])}–{_fmt(s['p99_range_s'][1])}]"
                  if n > 1 and s.get("p99_range_s") else "")
        lines.append(
            f"| {s['value']:g} | {pr['slo_met_share']:.0%} met | {met} of {n} met | "
            f"{_fmt(pr['p99_s'])} | {_fmt(s['p99_s'])}{spread} "
            f"| {_fmt(pr['join_share'], '.4f')} | {_fmt(s['join_share'], '.4f')} | "
            f"{_fmt(pr['worst_success_ratio'])} | {_fmt(s['worst_success_ratio'])} | "
            f"{_fmt(s.get('client_dispersion_20ms'), '.2f')} | "
            f"{s['testbed_cpu_share']:.0%} | {s['locust_cpu_share']:.0%} | "
            f"{_fmt(s.get('load_avg_1min'), '.2f')} |")
    return lines


def summary_text(res: dict[str, Any]) -> str:
    c = res["calibration"]
    lines = [f"Calibrated at {c['rate_rps']} joins/s ({c['rate_rps'] / c['capacity_rps']:.0%} "
             f"of the calibrated capacity, {c['capacity_rps']:.1f}/s). Steps of "
             f"{res['meta']['step_s']} s of constant arrivals:", "",
             *part_text(res["rate"], "joins/s")]
    crowd = res.get("crowd")
    if crowd:
        lines += ["", f"Flash crowds ({res['meta']['crowd_s']} s each), by audience:", "",
                  *part_text(crowd, "audience")]
        fit = crowd["arrivals_fit"]
        if "fitted" in fit:
            lines += ["", "The largest crowd's arrivals fitted back (`sim-calibrate arrivals`): "
                      + ", ".join(f"{k} {fit['fitted'][k]:.3g} (planned {v:g})"
                                  for k, v in fit["planned"].items())
                      + f"; deviance per degree of freedom {fit['deviance_per_dof']:.2f}."]
        else:
            lines += ["", f"The largest crowd's arrivals could not be fitted: {fit['error']}"]
    lines.append(f"\nWall time: {res['meta']['wall_s'] / 60:.1f} min.\n")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="short steps, few probes")
    ap.add_argument("--jobs", type=int, default=2, help="simulations at once")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--no-crowd", action="store_true", help="skip the flash-crowd part")
    ap.add_argument("--crowd-only", action="store_true",
                    help="only the flash-crowd part, on the calibration already in --out")
    ap.add_argument("--tables", action="store_true",
                    help="no runs: the agreement, tables and figure again from results.json")
    ap.add_argument("--extend", type=extend_arg, action="append", metavar="PART:VALUE:N",
                    help="N more real runs of one step of results.json (PART rate or crowd), "
                    "then the tables again; repeatable")
    ap.add_argument("--real-runs", type=int, default=None,
                    help="real runs per step (default: 3, or 1 with --smoke)")
    args = ap.parse_args()
    p = dict(SMOKE if args.smoke else FULL)
    if args.real_runs is not None:
        if args.real_runs < 1:
            ap.error(f"--real-runs must be a whole number of at least 1, not {args.real_runs}")
        p["real_runs"] = args.real_runs
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.tables or args.extend:
        res = json.loads((out / "results.json").read_text())
        for name, value, n in args.extend or []:
            extend(res, name, value, n, out)
        for name in ("rate", "crowd"):
            if name in res:
                part, a = res[name], res[name]["agreement"]
                part["agreement"] = compare(
                    {"value": a["predicted"], "interval": a["predicted_interval"]},
                    part["steps"], {s["value"]: s["predicted"] for s in part["steps"]})
        finish(res, out)
        return
    if args.crowd_only:
        res = json.loads((out / "results.json").read_text())
        t0 -= res["meta"]["wall_s"]
    else:
        cal = calibrate_step(p, load_testbed(), out)
        part = rate_part(cal, p, out, args.jobs)
        a = part["agreement"]
        res = {"meta": {"smoke": args.smoke, "step_s": p["step_s"], "slo": SLO,
                        "real_runs": p["real_runs"],
                        "clients": sim_clients()},
               "predicted_failure_rps": a["predicted"],
               "predicted_interval": a["predicted_interval"],
               "measured_failure_rps": a["measured"], "measured_bracket": a["measured_bracket"],
               "calibration": cal, "rate": part}
        res["meta"]["wall_s"] = time.perf_counter() - t0
        finish(res, out)  # kept even if the crowd part fails
    if not args.no_crowd:
        res["crowd"] = crowd_part(res["calibration"], p, out, args.jobs)
        res["meta"]["crowd_s"] = p["crowd_s"]
        res["meta"]["wall_s"] = time.perf_counter() - t0
        finish(res, out)


def extend_arg(text: str) -> tuple[str, float, int]:
    """``PART:VALUE:N`` of ``--extend``."""
    try:
        part, value, n = text.split(":")
        if part not in FOLDERS or int(n) < 1:
            raise ValueError
        return part, float(value), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--extend takes PART:VALUE:N (PART rate or crowd, VALUE a step of "
            f"results.json, N a whole number of at least 1), not {text!r}") from None


def extend(res: dict[str, Any], name: str, value: float, n: int, out: Path) -> None:
    """``n`` more real runs of the step at ``value`` of part ``name``, on the seeds that
    follow its own, added to its runs; the step's figures are those of all its runs."""
    steps = res.get(name, {}).get("steps", [])
    step = next((s for s in steps if math.isclose(s["value"], value)), None)
    if step is None:
        raise SystemExit(f"--extend: {name} has no step at {value:g}; its steps are "
                         + ", ".join(f"{s['value']:g}" for s in steps))
    duration = res["meta"]["step_s" if name == "rate" else "crowd_s"]
    have = step["runs"]
    more = real_runs(step_arrivals(name, step["value"]), duration, have[0]["seed"], n,
                     out / FOLDERS[name] / f"{step['value']:g}", first=len(have))
    step.update(aggregate(have + more["runs"]))


def finish(res: dict[str, Any], out: Path) -> None:
    """results.json, steps.csv, the figure, and the README's results block."""
    (out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    rows = [{"part": name, **{k: v for k, v in s.items() if k not in ("predicted", "runs")},
             **{f"sim_{k}": v for k, v in s["predicted"].items()}}
            for name in ("rate", "crowd") if name in res for s in res[name]["steps"]]
    write_csv(out / "steps.csv", rows)
    cal = res["calibration"]
    runs = [("calibration", cal["rate_rps"], 0, cal["step"])] + [
        (name, s["value"], k, r) for name in ("rate", "crowd") if name in res
        for s in res[name]["steps"] for k, r in enumerate(s.get("runs", []))]
    write_csv(out / "analysis.csv", [
        {"part": part, "value": v, "run": k, **{key: x for key, x in r.items()
                                                if key.endswith("_ms") or "_dispersion_" in key}}
        for part, v, k, r in runs])
    parts = [("offered joins per second", res["rate"])]
    if "crowd" in res:
        parts.append(("flash-crowd audience", res["crowd"]))
    plot(parts, out)
    text = summary_text(res)
    print(text)
    if out.resolve() == HERE:
        update_readme(HERE / "README.md", text)


if __name__ == "__main__":
    main()

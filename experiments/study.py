"""What the study scripts in experiments/ share."""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Hashable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any


def update_readme(readme: Path, text: str, block: str = "results") -> None:
    """Replace the block between ``<!-- block:begin -->`` and ``<!-- block:end -->`` of
    ``readme`` (the results markers by default) with ``text`` (nothing happens without
    the file or its markers)."""
    if not readme.exists():
        return
    begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
    body = readme.read_text()
    if begin in body and end in body:
        head, rest = body.split(begin, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{begin}\n{text}{end}{tail}")


Run = dict[str, Any]


def execute(name: str, runs: list[Run], key: Callable[[Run], Hashable],
            job: Callable[[list[Run]], Any], one_run: Callable[[Any], dict[str, Any]],
            jobs: int, every: int = 1) -> None:
    """Run each distinct scenario of ``runs`` once, ``jobs`` at a time, and give every run
    its scenario's ``result``. ``key`` names a run's scenario (runs with the same key are
    the same scenario, in several groups of the study); ``job`` turns the runs of one
    scenario into the argument of ``one_run``. Progress goes to stderr every ``every``
    scenarios."""
    groups: dict[Hashable, list[Run]] = {}
    for r in runs:
        groups.setdefault(key(r), []).append(r)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        futs = {k: ex.submit(one_run, job(rs)) for k, rs in groups.items()}
        for i, (k, rs) in enumerate(groups.items(), 1):
            res = futs[k].result()
            for r in rs:
                r["result"] = res
            if i % every == 0 or i == len(groups):
                print(f"[{name}] {i}/{len(groups)} runs ({time.perf_counter() - t0:,.0f} s)",
                      file=sys.stderr, flush=True)


def held_cell(rows: list[dict[str, Any]]) -> str:
    """On how many of ``rows`` (runs of one scenario) the SLO held, and the tiers the
    others named: ``1 of 3 (edge 2)``."""
    held = sum(bool(r["slo_met"]) for r in rows)
    named = Counter(r["bottleneck"] for r in rows if not r["slo_met"] and r["bottleneck"])
    return f"{held} of {len(rows)}" + (
        " (" + ", ".join(f"{b} {k}" for b, k in named.most_common()) + ")" if named else "")


def summary_of(overrides: list[str]) -> dict[str, Any]:
    """``summary.json`` of one run of ``overrides`` (importable, so a worker process can
    run it)."""
    import sim

    return sim.run(overrides).summary


def write_results(runs: list[Run], out: Path, meta: dict[str, Any], cols: list[str],
                  overrides: Callable[[Run], list[str]]) -> None:
    """``results.csv`` (one row per run: ``cols``, the metrics, the overrides) and
    ``results.json`` (``meta`` and the same rows)."""
    metric_cols = [k for k in runs[0]["result"] if k != "series"]
    with (out / "results.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols + metric_cols + ["overrides"])
        for r in runs:
            w.writerow([r.get(c, "") for c in cols] + [r["result"][k] for k in metric_cols]
                       + [" ".join(overrides(r))])
    rows = [{**{c: r.get(c) for c in cols}, "overrides": overrides(r),
             **{k: v for k, v in r["result"].items() if k != "series"}} for r in runs]
    (out / "results.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1) + "\n")


def read_results(path: Path, cols: list[str]) -> tuple[list[Run], dict[str, Any]]:
    """The runs and ``meta`` that ``write_results`` wrote to ``path`` (``results.json``):
    each run's ``cols`` and ``overrides`` as written, its metrics under ``result`` (without
    the time series, which is not kept)."""
    data = json.loads(path.read_text())
    keep = {*cols, "overrides"}
    runs: list[Run] = [{**{c: row.get(c) for c in cols}, "overrides": row.get("overrides"),
                        "result": {k: v for k, v in row.items() if k not in keep}}
                       for row in data.get("runs") or []]
    return runs, data.get("meta") or {}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` as CSV, the columns in the order they first appear."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def expected_room(cfg: Any, audience: float, session_mean_s: float,
                  times: list[float]) -> list[float]:
    """Listeners in the room at ``times`` if nobody is turned away: ``cfg``'s arrival
    rate (``sim.model.arrivals.rate_function``) scaled to ``audience``, each arrival
    staying for a lognormal session with ``cfg``'s cv and mean ``session_mean_s``."""
    import numpy as np
    from omegaconf import OmegaConf
    from scipy.special import ndtr

    from sim.config import ArrivalsConfig
    from sim.model.arrivals import rate_function

    arrivals = OmegaConf.to_object(cfg.arrivals)
    assert isinstance(arrivals, ArrivalsConfig)
    rate = rate_function(arrivals)
    cv = float(cfg.clients.session.cv)
    sigma = math.sqrt(math.log(1 + cv * cv))
    mu = math.log(session_mean_s) - sigma * sigma / 2
    dt = 1.0
    t = np.arange(0.0, max(times) + dt, dt)
    r = rate(t) * (audience / float(cfg.arrivals.audience))  # the shape, scaled
    out = []
    for x in times:
        m = t <= x
        age = np.maximum(x - t[m], 1e-9)
        out.append(float((r[m] * (1 - ndtr((np.log(age) - mu) / sigma))).sum() * dt))
    return out


def mean_min_max(vals: list[float]) -> tuple[float, float, float]:
    """The mean of ``vals`` over the seeds, and their min and max."""
    import numpy as np

    return float(np.mean(vals)), float(np.min(vals)), float(np.max(vals))


def range_cell(iv: tuple[float, float, float] | None, scale: float = 1.0,
               fmt: str = ",.0f", unit: str = "") -> str:
    """A table cell ``mean [min–max]`` of ``iv`` (``mean_min_max``), each divided by
    ``scale``, the unit after the mean; '—' for None."""
    if iv is None:
        return "—"
    m, lo, hi = iv
    return f"{m / scale:{fmt}}{unit} [{lo / scale:{fmt}}–{hi / scale:{fmt}}]"
